#!/usr/bin/env bash
# Program office through the real CLI (issue 8 items 1-3), on the fixture of
# lib_program.sh: two appraisals of the same scope a year apart
# (ovig-2025, ovig-2026), an appraisal spanning two sites where west is
# weak (sites-2026), and a CMMI-SVC appraisal (svc-2026).
#   - opra rating show: gap, next_level and blocking goals/practices;
#     --unit and --by-unit (the per-unit view next to the organisation's)
#   - opra compare --by pa: levels, differences to target, level changes,
#     changed goals, cross-model overlap through the crosswalk, "not
#     compared", "nothing rated"
#   - opra compare --by unit: the weak site is named
#   - bad input: usage errors, unknown appraisal/unit, someone who may not
#     see an appraisal
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_program.sh"

start_oprad "$E2E_TMP/s"
t0=$(date +%s)
if ! program_fixture; then
	fail "program_fixture"
	finish
	exit 1
fi
echo "fixture: $(($(date +%s) - t0)) s"
export OPRA_TOKEN="$PROG_PO"

# pa JSON PA EXPR DESCRIPTION: EXPR sees the process area as `p`.
pa() {
	expect_json "$1" 'any(('"$3"') for p in d["process_areas"] if p["id"] == "'"$2"'")' "$4"
}

# --- rating show: gaps and blocking --------------------------------------------
expect_rc 0 "rating show ovig-2025 --json (program office)" opra rating show ovig-2025 --json
R25=$OUT
pa "$R25" RRM 'p["capability_level"] == 0 and p["target_level"] == 1 and p["gap"] == 1 and p["next_level"] == 1' \
	"2025 RRM: CL0, target 1, gap 1, next level 1"
pa "$R25" RRM '[b["goal"] for b in p["blocking"]] == ["SG1"] and p["blocking"][0]["rating"] == "unsatisfied" and p["blocking"][0]["reasons"] == ["partial"]' \
	"2025 RRM: blocked by SG1 (unsatisfied, partial)"
pa "$R25" RRM '[(x["id"], x["org_value"], x["instances"]) for x in p["blocking"][0]["practices"]] == [("RRM:SG1.SP2", "pi", ["billing", "claims"])]' \
	"2025 RRM: the blocking practice is RRM:SG1.SP2 (PI at both instances)"
pa "$R25" OPD 'p["capability_level"] == 1 and p["gap"] == 0 and p["next_level"] is None and p["blocking"] == []' \
	"2025 OPD: target met, gap 0, nothing blocks"
pa "$R25" SC 'p["status"] == "not-rated" and p["gap"] is None and p["next_level"] == 1 and len(p["blocking"]) == 7 and all(b["rating"] == "not-rated" and "uncharacterised" in b["reasons"] for b in p["blocking"])' \
	"2025 SC: not rated, gap null, seven specific goals block CL1 (uncharacterised)"
pa "$R25" RRM 'all("practices" in g and "rating" in g for g in p["goals"]) and p["goals"][0]["practices"][0]["instances"] == {"billing": "fi", "claims": "fi"}' \
	"the existing fields of rating show are all still there"

expect_rc 0 "rating show ovig-2026 --json" opra rating show ovig-2026 --json
R26=$OUT
pa "$R26" OPD 'p["capability_level"] == 1 and p["target_level"] == 2 and p["gap"] == 1 and p["next_level"] == 2' \
	"2026 OPD: CL1 against the raised target 2, gap 1"
pa "$R26" OPD '[b["goal"] for b in p["blocking"]] == ["GG2"] and [x["id"] for x in p["blocking"][0]["practices"]] == ["OPD:GG2.GP3"] and p["blocking"][0]["practices"][0]["reasons"] == ["partial"]' \
	"2026 OPD: GG2 blocks CL2 through OPD:GG2.GP3"
pa "$R26" RRM 'p["capability_level"] == 1 and p["gap"] == 0' "2026 RRM: CL1, gap 0"

run opra rating show ovig-2025
expect_in "$OUT" "RRM  CL0  target 1  rated  gap 1" "human profile line carries the gap"
expect_in "$OUT" "    CL1 blocked by SG1 unsatisfied: RRM:SG1.SP2 PI (partial) at billing, claims" \
	"human profile names the blocking goal, practice and instances"
expect_in "$OUT" "CL1 blocked by 7 goals: SG1 SG2 SG3 SG4 SG5 SG6 SG7" \
	"a PA with many blocking goals takes one line in the profile"
run opra rating show ovig-2025 --pa SC
expect_in "$OUT" "    CL1 blocked by SG3 not-rated: SC:SG3.SP1 none (uncharacterised, no-artifact, low-affirmation)" \
	"--pa lists every blocking goal with its reasons"

# --- rating show: units ----------------------------------------------------------
expect_rc 0 "rating show sites-2026 --by-unit --json" opra rating show sites-2026 --by-unit --json
RU=$OUT
pa "$RU" RRM 'p["capability_level"] == 1' "sites-2026: the organisation is CL1 (by judgement)"
expect_json "$RU" '[(u["unit"], u["parent"], u["site"], u["instances"]) for u in d["units"]] == [("corp", None, None, ["billing", "claims"]), ("east", "corp", "Columbus", ["claims"]), ("west", "corp", "Pittsburgh", ["billing"])]' \
	"units in tree order, with parent, site and the instances that belong to them"
expect_json "$RU" '[(u["unit"], u["process_areas"][0]["capability_level"], u["process_areas"][0]["gap"]) for u in d["units"]] == [("corp", 1, 0), ("east", 1, 0), ("west", 0, 1)]' \
	"per unit: corp CL1, east CL1, west CL0 with gap 1"
expect_json "$RU" '[x["id"] for x in d["units"][2]["process_areas"][0]["blocking"][0]["practices"]] == ["RRM:SG1.SP2", "RRM:SG1.SP3"] and d["units"][2]["process_areas"][0]["blocking"][0]["practices"][0]["instances"] == ["billing"]' \
	"west: blocked by RRM:SG1.SP2 and SP3 at billing"
expect_json "$RU" 'd["units"][0]["process_areas"][0]["goals"][0]["practices"] == []' \
	"unit views are summaries (no practice cells)"
run opra rating show sites-2026 --by-unit
expect_in "$OUT" "(organisation)              2          CL1" "human --by-unit: the organisation row"
expect_in "$OUT" "west            Pittsburgh  1          CL0 (gap 1)" "human --by-unit: west is CL0 with gap 1"

expect_rc 0 "rating show --unit west" opra rating show sites-2026 --unit west --json
expect_json "$OUT" 'd["unit"] == "west" and d["unit_instances"] == ["billing"] and d["process_areas"][0]["capability_level"] == 0 and list(d["process_areas"][0]["goals"][0]["practices"][1]["instances"]) == ["billing"]' \
	"--unit west rates billing only (CL0), with the practice cells of billing"
expect_rc 0 "rating show --unit corp (the root holds both)" opra rating show sites-2026 --unit corp --json
expect_json "$OUT" 'd["unit_instances"] == ["billing", "claims"] and d["process_areas"][0]["capability_level"] == 1' \
	"--unit corp: both instances, CL1 like the organisation"
expect_rc 3 "rating show --unit for a unit that does not exist" opra rating show sites-2026 --unit nowhere
expect_in "$ERR" "no unit named 'nowhere'" "unknown unit: says which"
quiet_unit() { OPRA_TOKEN=$ADMIN_TOKEN opra unit add "$@" >/dev/null; }
quiet_unit empty-site
expect_rc 6 "rating show --unit for a unit that holds no instance" opra rating show sites-2026 --unit empty-site
expect_in "$ERR" "holds none of the instances" "a unit without instances: says so"
expect_rc 2 "rating show --unit ''" opra rating show sites-2026 --unit ""
expect_rc 6 "rating show --unit with a control character" opra rating show sites-2026 --unit $'we\x01st'

# --- compare --by pa: a year apart ----------------------------------------------
expect_rc 0 "compare ovig-2025 ovig-2026 --json" opra compare ovig-2025 ovig-2026 --json
C=$OUT
expect_json "$C" 'd["by"] == "pa" and [a["appraisal"] for a in d["appraisals"]] == ["ovig-2025", "ovig-2026"] and d["same_scope"] is True' \
	"compare: both appraisals, same scope"
expect_json "$C" '[r["id"] for r in d["process_areas"]] == ["OPD", "RRM", "SC"] and all(r["compared"] for r in d["process_areas"]) and d["not_compared"] == []' \
	"compare: OPD, RRM and SC lined up, nothing left out"
row() { expect_json "$C" 'any(('"$2"') for r in d["process_areas"] if r["id"] == "'"$1"'")' "$3"; }
row RRM '[(a["capability_level"], a["target_level"], a["difference"]) for a in r["appraisals"]] == [(0, 1, -1), (1, 1, 0)] and r["level_change"] == 1' \
	"RRM: CL0 (-1 to target) -> CL1 (0), level change +1"
row OPD '[(a["capability_level"], a["target_level"], a["difference"], a["gap"]) for a in r["appraisals"]] == [(1, 1, 0, 0), (1, 2, -1, 1)] and r["level_change"] == 0' \
	"OPD: same level, but 2026's target is 2 (difference -1, gap 1)"
row SC 'all(a["status"] == "not-rated" and a["capability_level"] is None and a["difference"] is None for a in r["appraisals"]) and r["level_change"] is None' \
	"SC: not rated in both (no level, no difference)"
expect_json "$C" 'sorted((c["process_area"], c["goal"], c["from"], c["to"]) for c in d["goal_changes"]) == [("OPD", "GG2", "above-target", "unsatisfied"), ("RRM", "GG1", "unsatisfied", "satisfied"), ("RRM", "SG1", "unsatisfied", "satisfied")]' \
	"goal changes: RRM SG1 and GG1 unsatisfied -> satisfied, OPD GG2 now counted and unsatisfied"
run opra compare ovig-2025 ovig-2026
expect_in "$OUT" "RRM  cert-rmm-1.2  CL0/1 (-1)  CL1/1 (+0)  +1" "human compare row for RRM"
expect_in "$OUT" "OPD  cert-rmm-1.2  CL1/1 (+0)  CL1/2 (-1)  +0" "human compare row for OPD"
expect_in "$OUT" "  RRM SG1  unsatisfied -> satisfied" "human compare lists the changed goals"

# --- compare: other models, nothing rated ----------------------------------------
expect_rc 0 "compare ovig-2026 svc-2026 --json (two models)" opra compare ovig-2026 svc-2026 --json
X=$OUT
expect_json "$X" 'any(r["id"] == "SC" and r["compared"] and r["appraisals"][1]["match"] == "crosswalk" and r["appraisals"][1]["id"] == "SCON" and r["appraisals"][1]["model"] == "cmmi-svc-1.3" and r["appraisals"][1]["confirmed"] is False for r in d["process_areas"])' \
	"CERT-RMM SC is compared with CMMI-SVC SCON through the (unconfirmed) crosswalk"
expect_json "$X" 'sorted((n["id"], n["missing_in"]) for n in d["not_compared"]) == [("IRP", "ovig-2026"), ("OPD", "svc-2026"), ("RRM", "svc-2026")]' \
	"what does not overlap is listed as not compared"
expect_json "$X" 'any("svc-2026 has nothing rated yet" in n for n in d["notes"])' \
	"an appraisal with nothing rated is named in the notes"
expect_in "$ERR" "svc-2026 has nothing rated yet" "with --json the note also goes to stderr"
run opra compare ovig-2026 svc-2026
expect_in "$OUT" "SCON~? -/1" "human: the crosswalk match is marked unconfirmed"
expect_in "$OUT" "not compared: svc-2026 has no OPD (cert-rmm-1.2) and no process area mapped to it through the crosswalk" \
	"human: says plainly what does not overlap"
expect_rc 0 "compare svc-2026 alone" opra compare svc-2026 --json
expect_json "$OUT" 'any("nothing is rated in any" in n for n in d["notes"]) and d["appraisals"][0]["rated"] == 0' \
	"nothing rated at all: said so"
expect_rc 0 "compare sites-2026 svc-2026: no overlap at all" opra compare sites-2026 svc-2026 --json
expect_json "$OUT" 'any("nothing to compare" in n for n in d["notes"])' "no shared process area: nothing to compare"

# --- compare --by unit -------------------------------------------------------------
expect_rc 0 "compare --by unit --json" opra compare sites-2026 ovig-2025 --by unit --json
U=$OUT
expect_json "$U" 'd["by"] == "unit" and [a["appraisal"] for a in d["appraisals"]] == ["sites-2026", "ovig-2025"]' \
	"--by unit: one entry per appraisal"
expect_json "$U" 'd["appraisals"][0]["organisation"][0]["capability_level"] == 1 and d["appraisals"][0]["below_organisation"] == ["west"]' \
	"sites-2026: west is the unit below the organisation"
expect_json "$U" '[(u["unit"], u["process_areas"][0]["capability_level"], u["process_areas"][0]["below_organisation"]) for u in d["appraisals"][0]["units"]] == [("corp", 1, False), ("east", 1, False), ("west", 0, True)]' \
	"sites-2026 per unit: corp 1, east 1, west 0 (below)"
run opra compare sites-2026 --by unit
expect_in "$OUT" "below the organisation: west: RRM CL0 < CL1" "human --by unit names the weak site"

# --- bad input -----------------------------------------------------------------------
expect_rc 2 "compare without an appraisal" opra compare
expect_rc 2 "compare --by site" opra compare ovig-2025 --by site
expect_rc 2 "compare the same appraisal twice" opra compare ovig-2025 ovig-2025
expect_rc 2 "compare more than 16" opra compare a1 a2 a3 a4 a5 a6 a7 a8 a9 a10 a11 a12 a13 a14 a15 a16 a17
expect_rc 3 "compare an unknown appraisal" opra compare ovig-2025 nope-2030
expect_rc 3 "compare an unknown appraisal (--json)" opra compare ovig-2025 nope-2030 --json
expect_json "$OUT" 'd["error"]["code"] == "NOT_FOUND"' "--json error document"
OUTSIDER=$(OPRA_TOKEN=$ADMIN_TOKEN opra user add outsider --role user --quiet)
expect_rc 4 "a user who is no member may not compare" env OPRA_TOKEN="$OUTSIDER" "$OPRA_BIN" \
	--server "$OPRA_URL" compare ovig-2025 ovig-2026
expect_rc 0 "a viewer of both may compare" env OPRA_TOKEN="$PROG_VIC" "$OPRA_BIN" \
	--server "$OPRA_URL" compare ovig-2025 ovig-2026 --quiet

finish
