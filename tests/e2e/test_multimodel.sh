#!/usr/bin/env bash
# A multi-model appraisal through the real CLI (issue 7 item 6): CERT-RMM's
# AM, CMMI-SVC's MA (a code CERT-RMM also has, so it must be qualified) and
# the Security Management pseudo process area SM in one appraisal. Every
# specific practice gets an accepted artifact and affirmation and FI at the
# one instance; each PA must then be rated CL1 in its own model's structure
# (SM's goals are ESG1/ESG2, MA's SG1/SG2), and the JSON must say which
# model each PA comes from.
. "$(dirname "$0")/lib.sh"

: "${OPRA_SOURCE_DIR:?run through ctest (OPRA_SOURCE_DIR is not set)}"
MODELS="$OPRA_SOURCE_DIR/sql/models"

start_oprad "$E2E_TMP/s"
export OPRA_TOKEN="$ADMIN_TOKEN"

for m in cert-rmm-1.2 cmmi-svc-1.3 security-management; do
	run opra model import "$MODELS/$m.yaml" --quiet
	[ "$RC" -eq 0 ] || fail "import $m: exit $RC: $ERR"
done
opra unit add hq >/dev/null
opra service add claims --unit hq >/dev/null

# MA is in two of the models: unqualified, the error lists both choices.
expect_rc 6 "ambiguous MA is refused" opra appraisal create mix \
	--model cert-rmm-1.2,cmmi-svc-1.3,security-management --pa AM,MA,SM --target-level 1
expect_in "$ERR" "cmmi-svc-1.3/MA" "the error names the qualified choice"

expect_rc 0 "mixed appraisal" opra appraisal create mix \
	--model cert-rmm-1.2,cmmi-svc-1.3,security-management --pa AM,cmmi-svc-1.3/MA,SM \
	--target-level 1
expect_rc 0 "scope" opra appraisal scope add mix --service claims

# The specific practices of each PA, from the model itself.
practices() { # MODEL PA
	opra model show "$1" --pa "$2" --json | python3 -c '
import json, sys
doc = json.load(sys.stdin)
for pa in doc["process_areas"]:
    for g in pa["goals"]:
        for p in g["practices"]:
            print(p["id"])'
}
n=0
for spec in cert-rmm-1.2:AM cmmi-svc-1.3:MA security-management:SM; do
	model=${spec%%:*} pa=${spec#*:}
	for p in $(practices "$model" "$pa"); do
		# MA:... exists in two models of this appraisal, but only the
		# CMMI-SVC one is in scope, so the plain id is enough.
		for kind in artifact affirmation; do
			run opra evidence submit mix --practice "$p" --instance claims --kind $kind \
				--text "$kind for $p"
			[ "$RC" -eq 0 ] || fail "submit $p $kind: exit $RC: $ERR"
		done
		run opra characterize mix --practice "$p" --instance claims --value FI
		[ "$RC" -eq 0 ] || fail "characterize $p: exit $RC: $ERR"
		n=$((n + 1))
	done
done
[ "$n" -gt 10 ] || fail "only $n practices found in the three process areas"

run opra rating show mix --json
[ "$RC" -eq 0 ] || fail "rating show: exit $RC: $ERR"
echo "$OUT" | python3 -c '
import json, sys
doc = json.load(sys.stdin)
pas = {pa["id"]: pa for pa in doc["process_areas"]}
want = {"AM": "cert-rmm-1.2", "MA": "cmmi-svc-1.3", "SM": "security-management"}
assert set(pas) == set(want), sorted(pas)
for pid, model in want.items():
    pa = pas[pid]
    assert pa.get("model") == model, (pid, pa.get("model"))
    assert pa["status"] == "rated", (pid, pa["status"])
    assert pa["capability_level"] == 1, (pid, pa["capability_level"])
    sgs = [g["id"] for g in pa["goals"] if not g["id"].startswith("GG")]
    assert sgs, pid
    for g in pa["goals"]:
        if g["id"] in sgs:
            assert g["rating"] == "satisfied", (pid, g["id"], g["rating"])
            for p in g["practices"]:
                assert p["org_value"] == "fi", (p["id"], p["org_value"])
                assert p["id"].startswith(pid + ":"), p["id"]
assert all(g.startswith("ESG") for g in [g["id"] for g in pas["SM"]["goals"] if not g["id"].startswith("GG")]), pas["SM"]["goals"]
' && pass "each PA is rated CL1 in its own model's structure" || fail "multi-model ratings: $OUT"

# One model's PA on its own: --pa with the qualified name.
expect_rc 0 "rating show --pa cmmi-svc-1.3/MA" opra rating show mix --pa cmmi-svc-1.3/MA --json
expect_in "$OUT" '"cmmi-svc-1.3"' "the filtered PA is CMMI-SVC's"

finish
