#!/usr/bin/env bash
# Appraisals through the real CLI: create (with the shipped models, where MA
# is in two of them), usage errors, scope, members, targets, who sees what,
# the inventory and model rules that depend on open appraisals, and
# finalisation sealing everything. Reads --json with python3.
. "$(dirname "$0")/lib.sh"

: "${OPRA_SOURCE_DIR:?run through ctest (OPRA_SOURCE_DIR is not set)}"
MODELS="$OPRA_SOURCE_DIR/sql/models"

start_oprad "$E2E_TMP/s"
export OPRA_TOKEN="$ADMIN_TOKEN"

for m in cert-rmm-1.2 cmmi-svc-1.3; do
	expect_rc 0 "import $m" opra model import "$MODELS/$m.yaml" --quiet
done
run opra user add alice --role user --quiet
ALICE=$OUT
run opra user add bob --role user --quiet
BOB=$OUT
run opra user add dave --role user --quiet
DAVE=$OUT
run opra user add bot --role automation --quiet
BOT=$OUT
[ -n "$ALICE" ] && [ -n "$BOB" ] && [ -n "$DAVE" ] && [ -n "$BOT" ] || fail "users not created"
expect_rc 0 "unit add" opra unit add columbus
expect_rc 0 "service add claims" opra service add claims --unit columbus
expect_rc 0 "service add billing" opra service add billing --unit columbus

as() {
	local tok=$1
	shift
	OPRA_TOKEN=$tok opra "$@"
}

# --- create ------------------------------------------------------------------
expect_rc 6 "MA is ambiguous between the two models" \
	as "$ALICE" appraisal create ovig-2026 --model cert-rmm-1.2,cmmi-svc-1.3 --pa SC,IMC,MA
expect_in "$ERR" "cert-rmm-1.2/MA or cmmi-svc-1.3/MA" "the error lists the qualified choices"
expect_rc 3 "unknown model" as "$ALICE" appraisal create x --model nope-1 --all
expect_in "$ERR" "cert-rmm-1.2, cmmi-svc-1.3" "the error lists the available models"
expect_rc 3 "unknown process area" as "$ALICE" appraisal create x --model cert-rmm-1.2 --pa ZZZ
expect_in "$ERR" "ZZZ" "the error names the process area"
expect_rc 2 "neither --pa nor --all" as "$ALICE" appraisal create x --model cert-rmm-1.2
expect_rc 2 "both --pa and --all" as "$ALICE" appraisal create x --model cert-rmm-1.2 --pa SC --all
expect_rc 2 "target level out of range" \
	as "$ALICE" appraisal create x --model cert-rmm-1.2 --all --target-level 4
expect_rc 2 "coverage not a number" \
	as "$ALICE" appraisal create x --model cert-rmm-1.2 --all --affirmation-coverage lots
expect_rc 2 "--model is required" as "$ALICE" appraisal create x --all
expect_rc 2 "empty --pa element" as "$ALICE" appraisal create x --model cert-rmm-1.2 --pa SC,,IMC
expect_rc 2 "usage error with --json" \
	as "$ALICE" appraisal create x --model cert-rmm-1.2 --json
expect_json "$OUT" 'd["error"]["code"] == "USAGE"' "usage error as a JSON document"

expect_rc 0 "create ovig-2026" as "$ALICE" appraisal create ovig-2026 \
	--model cert-rmm-1.2,cmmi-svc-1.3 --pa SC,IMC --pa cmmi-svc-1.3/MA --affirmation-coverage 60 --json
expect_json "$OUT" 'd["name"] == "ovig-2026" and d["result"] == "created" and d["models"] == ["cert-rmm-1.2", "cmmi-svc-1.3"]' "create JSON: name, result, models"
expect_json "$OUT" 'sorted((p["model"], p["id"]) for p in d["process_areas"]) == [("cert-rmm-1.2", "IMC"), ("cert-rmm-1.2", "SC"), ("cmmi-svc-1.3", "MA")]' "create JSON: the process areas in scope"
expect_json "$OUT" 'd["target_level"] == 1 and d["affirmation_coverage"] == 60 and all(p["target_level"] == 1 for p in d["process_areas"])' "create JSON: target level and coverage"
expect_json "$OUT" 'd["members"] == [{"user": "alice", "role": "lead"}] and d["my_role"] == "lead" and d["sealed"] is False and d["events"] == 1 and len(d["head"]) == 64' "create JSON: lead, open, first event"
OVIG_ID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' "$OUT")
expect_rc 5 "the name is taken" as "$BOB" appraisal create ovig-2026 --model cert-rmm-1.2 --all
expect_rc 4 "automation may not create" as "$BOT" appraisal create bot-made --model cert-rmm-1.2 --all
run as "$ALICE" appraisal create second --model cert-rmm-1.2 --all --target-level 2
if [ "$RC" -eq 0 ]; then pass "create --all (human)"; else fail "create --all: $ERR"; fi
expect_in "$OUT" "26 process areas" "human output counts the process areas"

# --- scope -------------------------------------------------------------------
expect_rc 0 "scope add" as "$ALICE" appraisal scope add ovig-2026 --service claims --unit columbus --json
expect_json "$OUT" 'd["result"] == "added 2 instances" and sorted((i["name"], i["kind"]) for i in d["instances"]) == [("claims", "service"), ("columbus", "unit")]' "scope JSON: instances"
run as "$ALICE" appraisal scope add ovig-2026 --service claims
expect_in "$OUT" "unchanged" "adding an instance again is unchanged"
expect_rc 3 "scope add of a missing service" as "$ALICE" appraisal scope add ovig-2026 --service nope
expect_in "$ERR" "'nope'" "the error names the missing service"
expect_rc 2 "scope without add" as "$ALICE" appraisal scope ovig-2026 --service claims
expect_rc 2 "scope add without services or units" as "$ALICE" appraisal scope add ovig-2026
expect_rc 2 "scope add without the appraisal" as "$ALICE" appraisal scope add --service claims

# --- members -----------------------------------------------------------------
expect_rc 0 "member add bob" as "$ALICE" appraisal member add ovig-2026 bob --role appraiser --json
expect_json "$OUT" '{"user": "bob", "role": "appraiser"} in d["members"] and d["result"] == "added bob as appraiser"' "member JSON"
expect_rc 0 "member add bot" as "$ALICE" appraisal member add ovig-2026 bot --role automation
expect_rc 6 "automation user as viewer" as "$ALICE" appraisal member add ovig-2026 bot --role viewer
expect_in "$ERR" "automation" "the error explains the automation rule"
expect_rc 2 "unknown member role" as "$ALICE" appraisal member add ovig-2026 bob --role boss
expect_rc 3 "unknown user" as "$ALICE" appraisal member add ovig-2026 nobody --role viewer
expect_rc 4 "an appraiser may not add members" as "$BOB" appraisal member add ovig-2026 dave --role viewer

# --- targets -----------------------------------------------------------------
expect_rc 0 "target SC 3" as "$ALICE" appraisal target ovig-2026 --pa sc --level 3 --json
expect_json "$OUT" '[p["target_level"] for p in d["process_areas"] if p["id"] == "SC"] == [3] and [p["target_level"] for p in d["process_areas"] if p["id"] == "IMC"] == [1]' "target JSON: SC at 3, IMC unchanged"
expect_rc 2 "target level out of range" as "$ALICE" appraisal target ovig-2026 --pa SC --level 9
expect_rc 6 "target of a PA out of scope" as "$ALICE" appraisal target ovig-2026 --pa ADM --level 2

# --- who sees what -----------------------------------------------------------
expect_rc 4 "a non-member may not show it" as "$DAVE" appraisal show ovig-2026
expect_rc 0 "list as a non-member" as "$DAVE" appraisal list --json
expect_json "$OUT" 'd == []' "a non-member lists nothing"
expect_rc 0 "list as bob" as "$BOB" appraisal list --json
expect_json "$OUT" '[(a["name"], a["my_role"]) for a in d] == [("ovig-2026", "appraiser")]' "bob lists his appraisal with his role"
expect_rc 0 "list as admin" opra appraisal list --json
expect_json "$OUT" 'sorted(a["name"] for a in d) == ["ovig-2026", "second"] and all(a["my_role"] is None for a in d)' "admin lists all, as a non-member"
expect_rc 0 "show by id" as "$BOB" appraisal show "$OVIG_ID" --json
expect_json "$OUT" 'd["name"] == "ovig-2026" and d["my_role"] == "appraiser" and len(d["members"]) == 3 and d["evidence"] == 0' "show JSON"
EVENTS_BEFORE=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["events"])' "$OUT")
expect_rc 3 "show of a missing appraisal" opra appraisal show nope

# --- rules that depend on open appraisals --------------------------------------
expect_rc 5 "removing a scoped service" opra service remove claims
expect_in "$ERR" "ovig-2026" "the error names the open appraisal"
expect_rc 5 "replacing a model in use" opra model import "$MODELS/cmmi-svc-1.3.yaml" --replace
expect_in "$ERR" "used by an appraisal" "the error says the model is in use"

# --- finalize ----------------------------------------------------------------
expect_rc 4 "an appraiser may not finalise" as "$BOB" appraisal finalize ovig-2026
expect_rc 4 "admin may not finalise" opra appraisal finalize ovig-2026
expect_rc 0 "the lead finalises" as "$ALICE" appraisal finalize ovig-2026 --json
expect_json "$OUT" 'd["sealed"] is True and d["sealed_by"] == "alice" and d["sealed_at"].endswith("Z") and d["events"] == '"$EVENTS_BEFORE"' + 1 and len(d["head"]) == 64 and d["result"] == "finalised"' "finalize JSON"
HEAD=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["head"])' "$OUT")
expect_rc 5 "scope add after finalising" as "$ALICE" appraisal scope add ovig-2026 --service billing
expect_in "$ERR" "finalised" "the error says it was finalised"
expect_rc 5 "member add after finalising" as "$ALICE" appraisal member add ovig-2026 dave --role viewer
expect_rc 5 "target after finalising" opra appraisal target ovig-2026 --pa SC --level 1
expect_rc 5 "finalising twice" as "$ALICE" appraisal finalize ovig-2026 --json
expect_json "$OUT" 'd["error"]["code"] == "FAILED_PRECONDITION" and "finalised" in d["error"]["message"]' "the JSON error of a sealed appraisal"
expect_rc 0 "show after finalising" as "$ALICE" appraisal show ovig-2026
expect_in "$OUT" "finalised at" "human show says it is finalised"
expect_in "$OUT" "$HEAD" "human show prints the sealed chain head"
expect_rc 0 "the service can go once the appraisal is sealed" opra service remove claims

# --- help ----------------------------------------------------------------------
expect_rc 0 "help appraisal" opra help appraisal
expect_in "$OUT" "opra appraisal scope add APPRAISAL" "noun help shows the scope add usage"
expect_rc 0 "scope add --help" opra appraisal scope add --help
expect_in "$OUT" "--service S" "command help lists --service"
expect_rc 0 "help appraisal scope add" opra help appraisal scope add
expect_in "$OUT" "opra appraisal scope add APPRAISAL" "three-word help shows the usage"
expect_rc 2 "help with a wrong third word" opra help appraisal scope remove

finish
