#!/usr/bin/env bash
# Characterisation and rating through the real CLI: a small appraisal run
# to known capability levels from evidence submitted with `opra evidence
# submit --text` and labels set with `opra characterize`:
#   AM    target 2: everything FI, one weakness that is not significant -> CL2
#   CTRL  target 2: one GG2 practice PI at every instance -> CL1 (rated)
#   OPD   target 1: one instance without an accepted artifact -> not rated
#   RRM   target 1: instance labels FI and PI -> needs-judgement, not rated;
#         a lead's judgement (LI) makes it CL1
# plus a two-writer conflict on --expect-version, bad input that changes
# nothing (checked against the audit chain's event count and the ratings),
# and a finalised appraisal refusing changes. Reads --json with python3.
. "$(dirname "$0")/lib.sh"

: "${OPRA_SOURCE_DIR:?run through ctest (OPRA_SOURCE_DIR is not set)}"
MODELS="$OPRA_SOURCE_DIR/sql/models"

start_oprad "$E2E_TMP/s"
export OPRA_TOKEN="$ADMIN_TOKEN"

as() {
	local tok=$1
	shift
	OPRA_TOKEN=$tok opra "$@"
}

# quiet CMD...: runs it, failing the test (with its stderr) when it fails.
quiet() {
	run "$@"
	[ "$RC" -eq 0 ] || fail "$*: exit $RC: $ERR"
}

# --- setup: model, two services, users, the appraisal -----------------------
quiet opra model import "$MODELS/cert-rmm-1.2.yaml" --quiet
quiet opra unit add hq
quiet opra service add claims --unit hq
quiet opra service add billing --unit hq
for u in lena alice bob vic; do
	run opra user add "$u" --role user --quiet
	printf -v "TOK_$u" '%s' "$OUT"
done
LENA=$TOK_lena ALICE=$TOK_alice BOB=$TOK_bob VIC=$TOK_vic
[ -n "$LENA" ] && [ -n "$ALICE" ] && [ -n "$BOB" ] && [ -n "$VIC" ] || fail "users not created"

AP=ap
quiet as "$LENA" appraisal create $AP --model cert-rmm-1.2 --pa AM,CTRL,OPD,RRM --target-level 2 \
	--affirmation-coverage 50
quiet as "$LENA" appraisal scope add $AP --service claims --service billing
quiet as "$LENA" appraisal target $AP --pa OPD --level 1
quiet as "$LENA" appraisal target $AP --pa RRM --level 1
quiet as "$LENA" appraisal member add $AP alice --role appraiser
quiet as "$LENA" appraisal member add $AP bob --role appraiser
quiet as "$LENA" appraisal member add $AP vic --role viewer

GG2="GG2.GP1 GG2.GP2 GG2.GP3 GG2.GP4 GG2.GP5 GG2.GP6 GG2.GP7 GG2.GP8 GG2.GP9 GG2.GP10"
AM_P="AM:SG1.SP1 AM:SG1.SP2 AM:SG1.SP3 AM:SG1.SP4 $(for g in $GG2; do printf 'AM:%s ' $g; done)"
CTRL_P="CTRL:SG1.SP1 CTRL:SG2.SP1 CTRL:SG3.SP1 CTRL:SG4.SP1 $(for g in $GG2; do printf 'CTRL:%s ' $g; done)"
OPD_P="OPD:SG1.SP1 OPD:SG1.SP2 OPD:SG1.SP3 OPD:SG1.SP4"
RRM_P="RRM:SG1.SP1 RRM:SG1.SP2 RRM:SG1.SP3 RRM:SG1.SP4 RRM:SG1.SP5"

# Evidence: an accepted artifact at both instances and an affirmation at
# claims (coverage 50% of 2 instances), except OPD:SG1.SP4 at billing,
# which gets no artifact (coverage fails there).
t0=$(date +%s)
for p in $AM_P $CTRL_P $OPD_P $RRM_P; do
	for i in claims billing; do
		[ "$p/$i" = OPD:SG1.SP4/billing ] && continue
		quiet as "$ALICE" evidence submit $AP --practice "$p" --instance $i --kind artifact \
			--text "artifact for $p at $i" --quiet
	done
	quiet as "$ALICE" evidence submit $AP --practice "$p" --instance claims --kind affirmation \
		--text "interview about $p" --quiet
done

# Labels: everything FI, except the PI cells that make the known levels.
for p in $AM_P $CTRL_P $OPD_P $RRM_P; do
	for i in claims billing; do
		v=FI
		[ "$p" = CTRL:GG2.GP3 ] && v=PI
		[ "$p/$i" = RRM:SG1.SP2/billing ] && v=PI
		quiet as "$ALICE" characterize $AP --practice "$p" --instance $i --value $v
	done
done
echo "setup: $(($(date +%s) - t0)) s for the evidence and labels"

expect_rc 0 "a weakness that is not significant" as "$BOB" weakness add $AP \
	--practice AM:SG1.SP1 --instance claims --text "register not reviewed since March" --json
expect_json "$OUT" 'd["id"] > 0 and d["practice"] == "AM:SG1.SP1" and d["instance"] == "claims" and d["significant"] is False' \
	"weakness JSON: id, practice, instance, significant"

# --- the ratings --------------------------------------------------------------
show() {
	run as "${1:-$VIC}" rating show $AP --json
	[ "$RC" -eq 0 ] || fail "rating show: exit $RC: $ERR"
	RATING=$OUT
}
# pa PA EXPR DESCRIPTION: EXPR sees the process area as `p`.
pa() {
	expect_json "$RATING" 'any(('"$2"') for p in d["process_areas"] if p["id"] == "'"$1"'")' "$3"
}
# practice ID EXPR DESCRIPTION: EXPR sees the practice as `x`.
practice() {
	expect_json "$RATING" 'any(('"$2"') for p in d["process_areas"] for g in p["goals"] for x in g["practices"] if x["id"] == "'"$1"'")' "$3"
}

show
expect_json "$RATING" 'd["appraisal"] == "ap" and d["sealed"] is False and len(d["process_areas"]) == 4' \
	"rating show: appraisal, sealed, four process areas"
pa AM 'p["status"] == "rated" and p["capability_level"] == 2 and p["target_level"] == 2' \
	"AM reaches CL2"
pa AM 'all(g["rating"] == "satisfied" for g in p["goals"] if g["id"] in ("SG1", "GG1", "GG2"))' \
	"AM: SG1, GG1 and GG2 satisfied"
practice AM:SG1.SP1 'x["org_value"] == "fi" and x["instances"] == {"claims": "fi", "billing": "fi"}' \
	"AM:SG1.SP1: org_value and instance labels"
practice AM:SG1.SP1 'x["weaknesses"] == 1 and x["significant_weaknesses"] == 0 and x["suggested"].get("claims") == "li" and "billing" not in x["suggested"]' \
	"AM:SG1.SP1: the weakness counts and lowers the suggestion (FI -> LI); no affirmation at billing, no suggestion there"
pa CTRL 'p["status"] == "rated" and p["capability_level"] == 1' "CTRL is stopped at CL1"
pa CTRL 'any(g["id"] == "GG2" and g["rating"] == "unsatisfied" for g in p["goals"])' \
	"CTRL: GG2 unsatisfied"
practice CTRL:GG2.GP3 'x["org_value"] == "pi"' "CTRL:GG2.GP3 is PI"
pa OPD 'p["status"] == "not-rated" and p["capability_level"] is None and p["level_reached"] == 0' \
	"OPD is not rated (coverage): capability_level null, level_reached 0"
pa OPD 'any(g["id"] == "SG1" and g["rating"] == "not-rated" for g in p["goals"])' \
	"OPD: SG1 not rated"
pa RRM 'p["status"] == "not-rated" and p["capability_level"] is None' \
	"RRM is not rated before the judgement"
practice RRM:SG1.SP2 'x["org_value"] == "needs-judgement" and x["instances"] == {"claims": "fi", "billing": "pi"}' \
	"RRM:SG1.SP2 needs judgement"

run as "$VIC" rating show $AP --pa OPD --explain
expect_in "$OUT" "OPD" "human --explain names the process area"
expect_in "$OUT" "billing" "human --explain names the instance without an artifact"
expect_in "$OUT" "  SG1  not-rated" "human --explain lists the goal ratings"
run as "$VIC" rating show $AP --explain --json
expect_json "$OUT" 'all(p["explanation"] and all(g["explanation"] for g in p["goals"]) for p in d["process_areas"])' \
	"--explain --json: every process area and goal has an explanation"
run as "$VIC" rating show $AP
expect_in "$OUT" "AM    CL2  target 2  rated" "human profile line for AM"
expect_in "$OUT" "CTRL  CL1  target 2  rated" "human profile line for CTRL"
expect_in "$OUT" "OPD   -    target 1  not-rated" "human profile line for OPD"

# --- judgement ------------------------------------------------------------------
events() {
	run as "$LENA" audit $AP --verify --json
	expect_json "$OUT" 'd["valid"] is True' "audit chain valid"
	EVENTS=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["events"])' "$OUT")
}
events
before=$EVENTS
expect_rc 4 "judge by an appraiser (not a lead)" as "$ALICE" judge $AP --practice RRM:SG1.SP2 \
	--value LI --rationale "looks fine"
expect_rc 2 "judge with an empty rationale" as "$LENA" judge $AP --practice RRM:SG1.SP2 \
	--value LI --rationale ""
expect_rc 2 "judge without --rationale" as "$LENA" judge $AP --practice RRM:SG1.SP2 --value LI
expect_rc 2 "judge NY is not a judgement" as "$LENA" judge $AP --practice RRM:SG1.SP2 \
	--value NY --rationale "x"
expect_rc 2 "characterise with an unknown value" as "$ALICE" characterize $AP \
	--practice AM:SG1.SP1 --instance claims --value XI
expect_rc 2 "characterise with a bad --expect-version" as "$ALICE" characterize $AP \
	--practice AM:SG1.SP1 --instance claims --value FI --expect-version two
expect_rc 6 "characterise a practice outside the scope" as "$ALICE" characterize $AP \
	--practice SC:SG1.SP1 --instance claims --value FI
expect_rc 3 "characterise at an instance that is not one of the appraisal's" as "$ALICE" characterize $AP \
	--practice AM:SG1.SP1 --instance payroll --value FI
expect_rc 4 "a viewer cannot characterise" as "$VIC" characterize $AP \
	--practice AM:SG1.SP1 --instance claims --value PI
expect_rc 6 "a weakness outside the scope" as "$ALICE" weakness add $AP \
	--practice SC:SG1.SP1 --instance claims --text "x"
events
[ "$EVENTS" -eq "$before" ] && pass "refused calls appended no event ($EVENTS)" ||
	fail "refused calls changed the event count: $before -> $EVENTS"
old=$RATING
show
[ "$RATING" = "$old" ] && pass "refused calls changed no rating" || fail "ratings changed"

expect_rc 0 "the lead judges RRM:SG1.SP2 LI" as "$LENA" judge $AP --practice RRM:SG1.SP2 \
	--value LI --rationale "billing's gap is paperwork only" --json
expect_json "$OUT" 'd["practice"] == "RRM:SG1.SP2" and d["value"] == "li" and d["status"] == "used"' \
	"judge JSON: practice, value, status used"
show
practice RRM:SG1.SP2 'x["org_value"] == "li" and x["judgement"] == "li" and x["judgement_status"] == "used"' \
	"RRM:SG1.SP2 is LI by judgement"
pa RRM 'p["status"] == "rated" and p["capability_level"] == 1' "RRM reaches CL1 after the judgement"

# --- two writers, one (practice, instance) ------------------------------------
run as "$ALICE" characterize $AP --practice AM:SG1.SP2 --instance claims --value FI --json
expect_json "$OUT" 'd["value"] == "fi" and d["result"] == "unchanged"' "same label again: unchanged"
V=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["version"])' "$OUT")
run as "$ALICE" characterize $AP --practice AM:SG1.SP2 --instance claims --value LI \
	--expect-version "$V" --json
if [ "$RC" -eq 0 ]; then pass "first writer wins"; else fail "first writer: exit $RC: $ERR"; fi
expect_json "$OUT" 'd["practice"] == "AM:SG1.SP2" and d["instance"] == "claims" and d["value"] == "li" and d["version"] == '"$((V + 1))"' and d["previous_value"] == "fi"' \
	"characterize JSON: practice, instance, value, version, previous_value"
events
before=$EVENTS
expect_rc 5 "second writer with the same --expect-version" as "$BOB" characterize $AP \
	--practice AM:SG1.SP2 --instance claims --value PI --expect-version "$V" --json
expect_json "$OUT" 'd["error"]["details"]["current_version"] == '"$((V + 1))"' and d["error"]["details"]["current_value"] == "li"' \
	"the conflict carries current_version and current_value in details"
events
[ "$EVENTS" -eq "$before" ] && pass "the refused write appended no event" || fail "events $before -> $EVENTS"
show
practice AM:SG1.SP2 'x["instances"]["claims"] == "li" and x["versions"]["claims"] == '"$((V + 1))" \
	"the second writer did not overwrite"
run as "$BOB" characterize $AP --practice AM:SG1.SP2 --instance claims --value FI \
	--expect-version "$((V + 1))"
expect_in "$OUT" "AM:SG1.SP2 on claims: FI (version $((V + 2)); was LI)" \
	"retry with the current version applies (human line)"
expect_rc 0 "without --expect-version the write applies" as "$ALICE" characterize $AP \
	--practice AM:SG1.SP3 --instance billing --value FI --note "re-checked"
show
pa AM 'p["capability_level"] == 2' "AM is back at CL2"

# --- evidence reused through the crosswalk --------------------------------------
# A practice of a small model that maps to AM:SG1.SP1 (practice level).
cat >"$E2E_TMP/mini.yaml" <<'YAML'
opra_model: 1
id: mini-1.0
name: Crosswalk demo
version: "1.0"
process_areas:
  - id: XA
    name: Crosswalk Area
    category: engineering
    specific_goals:
      - id: SG1
        title: Assets are known
        practices:
          - id: SP1
            title: Know the assets
            references:
              - model: cert-rmm-1.2
                practice: AM:SG1.SP1
                confirmed: false
YAML
quiet opra model import "$E2E_TMP/mini.yaml"
quiet as "$LENA" appraisal create ap2 --model cert-rmm-1.2,mini-1.0 --pa AM,XA
quiet as "$LENA" appraisal scope add ap2 --service claims
quiet as "$LENA" appraisal member add ap2 alice --role appraiser
run as "$ALICE" evidence submit ap2 --practice AM:SG1.SP1 --instance claims --kind artifact \
	--text "access register" --quiet
E=$OUT
expect_rc 0 "evidence list --candidates" as "$ALICE" evidence list ap2 --candidates --json
expect_json "$OUT" 'any(c["evidence_id"] == "'"$E"'" and c["from_practice"] == "AM:SG1.SP1" and c["practice"] == "XA:SG1.SP1" and c["instance"] == "claims" and c["kind"] == "artifact" and c["status"] == "accepted" and c["confirmed"] is False and len(c["sha256"]) == 64 and c["size"] == 15 for c in d)' \
	"the AM:SG1.SP1 artifact is a candidate for XA:SG1.SP1"
run as "$ALICE" evidence list ap2 --candidates
expect_in "$OUT" "XA:SG1.SP1" "candidates table names the mapped practice"
expect_rc 0 "link it" as "$ALICE" evidence link "$E" --practice xa:sg1.sp1 --json
expect_json "$OUT" 'd["id"] == "'"$E"'" and d["practice"] == "XA:SG1.SP1" and d["instance"] == "claims" and d["result"] == "linked"' \
	"link JSON: canonical practice, own instance, linked"
run as "$ALICE" evidence link "$E" --practice XA:SG1.SP1
expect_in "$OUT" "already linked" "linking again changes nothing"
expect_rc 0 "candidates after the link" as "$ALICE" evidence list ap2 --candidates --json
expect_json "$OUT" 'not any(c["evidence_id"] == "'"$E"'" for c in d)' "a linked item is no longer a candidate"
expect_rc 4 "a non-member cannot link" as "$BOB" evidence link "$E" --practice XA:SG1.SP1
expect_rc 3 "link an unknown item" as "$ALICE" evidence link 999999 --practice XA:SG1.SP1

# --- finalised: nothing changes -------------------------------------------------
quiet as "$LENA" appraisal finalize $AP
events
before=$EVENTS
old=$RATING
expect_rc 5 "characterise a finalised appraisal" as "$ALICE" characterize $AP \
	--practice AM:SG1.SP1 --instance claims --value PI
expect_rc 5 "judge in a finalised appraisal" as "$LENA" judge $AP --practice RRM:SG1.SP2 \
	--value PI --rationale "late change"
expect_rc 5 "weakness in a finalised appraisal" as "$ALICE" weakness add $AP \
	--practice AM:SG1.SP1 --instance claims --text "late" --significant
events
[ "$EVENTS" -eq "$before" ] && pass "a sealed appraisal took no event" || fail "events $before -> $EVENTS"
show
expect_json "$RATING" 'd["sealed"] is True' "rating show says sealed"
python3 -c 'import json,sys; a=json.loads(sys.argv[1]); b=json.loads(sys.argv[2]); sys.exit(0 if a["process_areas"] == b["process_areas"] else 1)' "$RATING" "$old" &&
	pass "ratings unchanged after the refused changes" || fail "ratings changed after sealing"

finish
