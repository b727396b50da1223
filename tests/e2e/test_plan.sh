#!/usr/bin/env bash
# Issue 8 items 4 and 6, end to end with real oprad and opra processes on the
# program-office fixture (tests/e2e/lib_program.sh): the improvement plan of
# the finalised ovig-2025 (add, list, update with --expect-version, bad
# input, who may), its seal and hash chain left intact, `opra plan show
# ovig-2026 --since ovig-2025` relating the spending to the level changes,
# and the dashboard numbers of `opra appraisal show`.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_program.sh"

start_oprad "$E2E_TMP/state"
program_fixture || { fail "program fixture"; finish; }

as() {
	local tok=$1
	shift
	OPRA_TOKEN=$tok run opra "$@"
}

# ---- plans are made after the appraisal is finalised ----
as "$PROG_LENA" appraisal finalize ovig-2025
[ "$RC" -eq 0 ] || fail "finalize ovig-2025: $ERR"
as "$PROG_LENA" audit ovig-2025 --verify --json
CHAIN_BEFORE=$OUT
expect_json "$CHAIN_BEFORE" 'd["valid"] and d["sealed"]' "ovig-2025 is sealed with a valid chain"

as "$PROG_LENA" plan add ovig-2025 --title "Fix the RRM records" --goal RRM:SG1 \
	--practice rrm:sg1.sp2 --owner "ops team" --due 2025-09-30 --estimated-cost 12000 \
	--currency EUR --json
[ "$RC" -eq 0 ] || fail "plan add on a sealed appraisal: $ERR"
expect_json "$OUT" 'd["number"] == 1 and d["result"] == "added" and d["version"] == 1 and
	d["estimated_cost"] == "12000.00" and d["estimated_cost_minor"] == 1200000 and
	d["currency"] == "EUR" and d["status"] == "planned" and d["due"] == "2025-09-30" and
	[t["id"] for t in d["targets"]] == ["RRM:SG1", "RRM:SG1.SP2"] and
	d["targets"][1]["kind"] == "practice"' "the lead adds action 1 to a sealed appraisal's plan"

as "$PROG_PO" plan add ovig-2025 --title "Institutionalise OPD" --goal OPD:GG2 \
	--estimated-cost 8000.5 --status in-progress --quiet
[ "$RC" -eq 0 ] && [ "$OUT" = 2 ] && pass "program-office adds action 2 (--quiet prints 2)" ||
	fail "po plan add: rc $RC out $OUT err $ERR"

# ---- bad input: clear errors, nothing added ----
expect_rc 4 "an appraiser may not plan" env OPRA_TOKEN="$PROG_ALICE" "$OPRA_BIN" \
	--server "$OPRA_URL" plan add ovig-2025 --title x --goal RRM:SG1
expect_rc 6 "a date that does not exist" env OPRA_TOKEN="$PROG_LENA" "$OPRA_BIN" \
	--server "$OPRA_URL" plan add ovig-2025 --title x --goal RRM:SG1 --due 2025-02-30
expect_in "$ERR" "YYYY-MM-DD" "the date error says how to write it"
expect_rc 2 "a negative cost" env OPRA_TOKEN="$PROG_LENA" "$OPRA_BIN" \
	--server "$OPRA_URL" plan add ovig-2025 --title x --goal RRM:SG1 --estimated-cost -5
expect_rc 2 "three decimals" env OPRA_TOKEN="$PROG_LENA" "$OPRA_BIN" \
	--server "$OPRA_URL" plan add ovig-2025 --title x --goal RRM:SG1 --actual-cost 1.234
expect_rc 2 "no goal or practice" env OPRA_TOKEN="$PROG_LENA" "$OPRA_BIN" \
	--server "$OPRA_URL" plan add ovig-2025 --title x
expect_rc 3 "an unknown goal" env OPRA_TOKEN="$PROG_LENA" "$OPRA_BIN" \
	--server "$OPRA_URL" plan add ovig-2025 --title x --goal RRM:SG9
expect_rc 6 "a goal out of scope" env OPRA_TOKEN="$PROG_LENA" "$OPRA_BIN" \
	--server "$OPRA_URL" plan add ovig-2025 --title x --goal ADM:SG1
expect_in "$ERR" "not in the scope" "the scope error says so"
expect_rc 6 "another currency" env OPRA_TOKEN="$PROG_LENA" "$OPRA_BIN" \
	--server "$OPRA_URL" plan add ovig-2025 --title x --goal RRM:SG1 --currency USD
expect_rc 6 "a hostile title" env OPRA_TOKEN="$PROG_LENA" "$OPRA_BIN" \
	--server "$OPRA_URL" plan add ovig-2025 --title $'\e[2J\e[Hpwned' --goal RRM:SG1
expect_rc 2 "an unknown status" env OPRA_TOKEN="$PROG_LENA" "$OPRA_BIN" \
	--server "$OPRA_URL" plan add ovig-2025 --title x --goal RRM:SG1 --status finished
as "$PROG_VIC" plan list ovig-2025 --json
expect_json "$OUT" 'len(d["actions"]) == 2 and d["sealed"] and d["currency"] == "EUR"' \
	"bad input added nothing; a viewer lists the plan"

# ---- updates with optimistic concurrency ----
as "$PROG_LENA" plan update ovig-2025 1 --status done --actual-cost 11000 --expect-version 1 --json
expect_json "$OUT" 'd["version"] == 2 and d["result"] == "changed" and d["status"] == "done" and
	d["actual_cost"] == "11000.00" and d["estimated_cost"] == "12000.00"' "update to version 2"
as "$PROG_PO" plan update ovig-2025 1 --status dropped --expect-version 1 --json
[ "$RC" -eq 5 ] && pass "a stale --expect-version exits 5" || fail "stale update: rc $RC $ERR"
expect_json "$OUT" 'd["error"]["details"]["current_version"] == 2' \
	"the conflict carries the current version"
as "$PROG_LENA" plan update ovig-2025 2 --status dropped --actual-cost 500
[ "$RC" -eq 0 ] || fail "update 2: $ERR"
expect_rc 3 "no such action" env OPRA_TOKEN="$PROG_LENA" "$OPRA_BIN" \
	--server "$OPRA_URL" plan update ovig-2025 9 --status done
expect_rc 2 "nothing to change" env OPRA_TOKEN="$PROG_LENA" "$OPRA_BIN" \
	--server "$OPRA_URL" plan update ovig-2025 1

as "$PROG_VIC" plan list ovig-2025
expect_in "$OUT" "Fix the RRM records" "human list shows the title"
expect_in "$OUT" "estimated 20000.50, actual 11500.00 EUR" "human list shows the totals"

# ---- the seal and the chain are untouched ----
as "$PROG_LENA" audit ovig-2025 --verify --json
expect_json "$OUT" 'd["valid"] and d["sealed"] and d["events"] == '"$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["events"])' "$CHAIN_BEFORE")"' and d["head"] == '"$(python3 -c 'import json,sys; print(repr(json.loads(sys.argv[1])["head"]))' "$CHAIN_BEFORE")" \
	"plan changes left the sealed chain as it was"

# ---- what did we get for the money ----
as "$PROG_PO" plan show ovig-2026 --since ovig-2025 --json
SHOW=$OUT
[ "$RC" -eq 0 ] || fail "plan show: $ERR"
expect_json "$SHOW" 'd["appraisal"] == "ovig-2026" and d["since"] == "ovig-2025" and
	d["plan_of"] == "ovig-2025" and d["currency"] == "EUR"' "plan show names both appraisals"
expect_json "$SHOW" '[p for p in d["process_areas"] if p["id"] == "RRM"][0] == dict(
	[p for p in d["process_areas"] if p["id"] == "RRM"][0], level_before=0, level_after=1,
	change=1, actions=[1], actual_cost="11000.00", estimated_cost="12000.00",
	cost_per_level="11000.00")' "RRM went from CL0 to CL1 for 11000.00"
expect_json "$SHOW" '[p for p in d["process_areas"] if p["id"] == "OPD"][0]["change"] == 0 and
	[p for p in d["process_areas"] if p["id"] == "OPD"][0]["actions"] == [2] and
	[p for p in d["process_areas"] if p["id"] == "OPD"][0]["cost_per_level"] is None and
	[p for p in d["process_areas"] if p["id"] == "OPD"][0]["target_level"] == 2' \
	"OPD stayed at CL1 (target 2)"
expect_json "$SHOW" '[p for p in d["process_areas"] if p["id"] == "SC"][0]["level_after"] is None and
	[p for p in d["process_areas"] if p["id"] == "SC"][0]["change"] is None' \
	"SC is not rated: no level, no change"
expect_json "$SHOW" 'd["totals"] == {"actions": 2, "done": 1, "estimated_cost": "20000.50",
	"actual_cost": "11500.00", "levels_gained": 1, "levels_lost": 0,
	"cost_per_level": "11500.00"}' "totals: 11500.00 EUR for one level"
as "$PROG_PO" plan show ovig-2026 --since ovig-2025
expect_in "$OUT" "levels gained: 1, lost: 0; 11500.00 EUR per level gained" "human plan show"
as "$PROG_LENA" plan show ovig-2025 --json
expect_json "$OUT" 'd["since"] is None and all(p["level_before"] is None and p["change"] is None
	for p in d["process_areas"]) and d["totals"]["cost_per_level"] is None' \
	"without --since: the plan beside the current levels"
expect_rc 3 "plan show of an unknown appraisal" env OPRA_TOKEN="$PROG_PO" "$OPRA_BIN" \
	--server "$OPRA_URL" plan show ovig-2026 --since nope

# ---- dashboard numbers in appraisal show ----
# ovig-2025: OPD (4 SPs) and RRM (5 SPs) have accepted evidence and labels at
# both instances, RRM:SG1.SP2 PI twice; SC (target 1: SGs and GG1) nothing.
as "$PROG_VIC" appraisal show ovig-2025 --json
expect_json "$OUT" 'd["dashboard"]["with_artifact"] == 18 and
	d["dashboard"]["with_affirmation"] == 18 and
	d["dashboard"]["labels"]["fi"] == 16 and d["dashboard"]["labels"]["pi"] == 2 and
	d["dashboard"]["labels"]["li"] == 0 and
	d["dashboard"]["labels"]["uncharacterised"] == d["dashboard"]["practice_instances"] - 18 and
	d["dashboard"]["practice_instances"] == 2 * d["dashboard"]["practices"] and
	d["dashboard"]["open_judgements"] == 0 and d["dashboard"]["proposed_evidence"] == 0 and
	abs(d["dashboard"]["with_artifact_percent"] - round(1800.0 / d["dashboard"]["practice_instances"], 1)) < 0.051 and
	d["sealed"] and "head" in d and "members" in d' "ovig-2025 dashboard numbers"
# sites-2026: the judgements were made; a fresh disagreement opens one.
as "$PROG_ALICE" characterize sites-2026 --practice RRM:SG1.SP4 --instance billing --value NI
as "$PROG_PO" appraisal show sites-2026 --json
expect_json "$OUT" 'd["dashboard"]["open_judgements"] == 1 and d["dashboard"]["labels"]["ni"] == 1' \
	"an FI/NI disagreement is an open judgement"
as "$PROG_PO" appraisal show sites-2026
expect_in "$OUT" "1 open (practices waiting for a lead's judgement)" "human dashboard: judgements"
expect_in "$OUT" "with an accepted artifact" "human dashboard: coverage"

finish
