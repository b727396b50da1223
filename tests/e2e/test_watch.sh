#!/usr/bin/env bash
# The live feed and the audit chain through the real CLI: `opra watch
# APPRAISAL --json` runs in the background while four clients submit
# evidence; its JSON Lines are parsed and checked; it is killed halfway and
# restarted with --after the last id it printed: together the two runs hold
# every event exactly once, in chain order. Then `opra audit --verify`
# (valid, then broken by tampering with the database: exit 1).
. "$(dirname "$0")/lib.sh"

MODELS="${OPRA_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/sql/models"

start_oprad "$E2E_TMP/s"
export OPRA_TOKEN="$ADMIN_TOKEN"

expect_rc 0 "import CERT-RMM" opra model import "$MODELS/cert-rmm-1.2.yaml"
expect_rc 0 "unit" opra unit add hq --site columbus
expect_rc 0 "service" opra service add claims --unit hq
expect_rc 0 "create the appraisal" opra appraisal create ap1 --model cert-rmm-1.2 --pa ADM
expect_rc 0 "scope" opra appraisal scope add ap1 --service claims
VIC=$(opra user add vic --role user --quiet)
EVE=$(opra user add eve --role user --quiet)
expect_rc 0 "vic viewer" opra appraisal member add ap1 vic --role viewer

# wait_lines FILE N: until FILE has N complete lines (at most 30 s).
wait_lines() {
	local i
	for i in $(seq 1 300); do
		[ "$(grep -c '' "$1" 2>/dev/null || echo 0)" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

# produce TAG N: 4 clients submitting N affirmations each, concurrently.
produce() {
	local tag=$1 n=$2 w pids=()
	for w in 1 2 3 4; do
		(
			for i in $(seq 1 "$n"); do
				opra --site "site-$w" evidence submit ap1 --practice ADM:SG1.SP1 \
					--instance claims --kind affirmation \
					--text "$tag worker $w item $i" >/dev/null
			done
		) &
		pids+=($!)
	done
	wait "${pids[@]}"
}

BEFORE=$(opra audit ap1 --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')

# --- first watcher: from now ------------------------------------------------------
"$OPRA_BIN" --server "$OPRA_URL" --token "$VIC" watch ap1 --json >"$E2E_TMP/w1.jsonl" 2>"$E2E_TMP/w1.err" &
WATCH_PID=$!
E2E_PIDS+=("$WATCH_PID")
sleep 1 # its first call fixes the cursor
produce first 10
wait_lines "$E2E_TMP/w1.jsonl" 40 && pass "the watcher printed 40 events" ||
	fail "the watcher printed $(grep -c '' "$E2E_TMP/w1.jsonl") of 40 events: $(cat "$E2E_TMP/w1.err")"
kill -TERM "$WATCH_PID"
set +e
wait "$WATCH_PID"
WRC=$?
set -e
[ "$WRC" -eq 0 ] && pass "SIGTERM ends opra watch with exit 0" || fail "opra watch exited $WRC"

python3 - "$E2E_TMP/w1.jsonl" <<'PY' && pass "JSON Lines: one object per event with every field, JSON values for before/after" || fail "bad JSON Lines: $(head -c 600 "$E2E_TMP/w1.jsonl")"
import json, re, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == 40, len(lines)
for l in lines:
    e = json.loads(l)
    for k in ("id", "seq", "appraisal", "at", "actor", "site", "method", "object", "before", "after", "hash"):
        assert k in e, k
    assert e["appraisal"] == "ap1"
    assert e["actor"] == "admin"
    assert e["method"] == "opra.v1.Evidence/Submit"
    assert re.fullmatch(r"[0-9a-f]{64}", e["hash"])
    assert isinstance(e["after"], dict)
    assert e["before"] is None or isinstance(e["before"], (dict, list))
    assert re.fullmatch(r"site-[1-4]", e["site"])
seqs = [json.loads(l)["seq"] for l in lines]
assert seqs == list(range(seqs[0], seqs[0] + 40)), seqs
PY
LAST_ID=$(tail -n 1 "$E2E_TMP/w1.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')

# --- events while nobody watches, then a second watcher resuming ---------------------
produce gap 3
"$OPRA_BIN" --server "$OPRA_URL" --token "$VIC" watch ap1 --json --after "$LAST_ID" >"$E2E_TMP/w2.jsonl" 2>"$E2E_TMP/w2.err" &
WATCH_PID=$!
E2E_PIDS+=("$WATCH_PID")
produce second 5
wait_lines "$E2E_TMP/w2.jsonl" 32 && pass "the resumed watcher caught up" ||
	fail "the resumed watcher printed $(grep -c '' "$E2E_TMP/w2.jsonl") of 32 events: $(cat "$E2E_TMP/w2.err")"
kill -TERM "$WATCH_PID"
wait "$WATCH_PID" || true

opra audit ap1 --json >"$E2E_TMP/audit.json"
python3 - "$E2E_TMP/w1.jsonl" "$E2E_TMP/w2.jsonl" "$E2E_TMP/audit.json" "$BEFORE" <<'PY' && pass "both runs together: every event once, in chain order, none missed" || fail "watch runs and audit disagree"
import json, sys
seen = [json.loads(l) for f in sys.argv[1:3] for l in open(f).read().splitlines()]
audit = json.load(open(sys.argv[3]))
before = int(sys.argv[4])
want = [e for e in audit if e["seq"] > before]
assert len(want) == 72, len(want)
assert [e["id"] for e in seen] == [e["id"] for e in want], ([e["seq"] for e in seen], len(want))
assert [e["hash"] for e in seen] == [e["hash"] for e in want]
PY

# --- --once, --after 0, and who may watch -------------------------------------------------
expect_rc 0 "watch --after 0 --once replays the log and exits" opra watch ap1 --after 0 --once --json
N_ONCE=$(printf '%s\n' "$OUT" | grep -c '^{')
[ "$N_ONCE" -eq "$((BEFORE + 72))" ] && pass "--once printed the whole log ($N_ONCE events)" || fail "--once printed $N_ONCE events"
expect_rc 0 "watch of every appraisal --once" opra watch --after 0 --once
expect_in "$OUT" "ap1#1  admin" "human lines name appraisal#seq and actor"
expect_rc 4 "a non-member may not watch" opra --token "$EVE" watch ap1 --once
expect_rc 3 "watching an unknown appraisal" opra watch nope --once
expect_rc 2 "a bad --after is a usage error" opra watch ap1 --after x
expect_rc 6 "an --after id of another appraisal" opra watch ap1 --after 999999 --once

# --- audit --verify ---------------------------------------------------------------------
expect_rc 0 "audit --verify" opra audit ap1 --verify --json
expect_json "$OUT" "d['valid'] is True and d['events'] == $((BEFORE + 72)) and len(d['head']) == 64" "verify: valid, event count and head"
expect_rc 0 "a viewer may audit" opra --token "$VIC" audit ap1
expect_in "$OUT" "opra.v1.Evidence/Submit" "audit lists the events"
expect_rc 4 "a non-member may not audit" opra --token "$EVE" audit ap1 --verify
if [ -n "${OPRA_TEST_DB:-}" ]; then
	psql "$FRESH_DB" -qXc "UPDATE events SET object = 'forged' WHERE seq = 5 AND appraisal_id = (SELECT id FROM appraisals WHERE name = 'ap1')" >/dev/null
	expect_rc 1 "a tampered chain fails verification with exit 1" opra audit ap1 --verify --json
	expect_json "$OUT" "d['valid'] is False and d['first_bad_seq'] == 5 and 'hash' in d['problem']" "verify names the first bad event"
	expect_in "$ERR" "broken at event 5" "and says so on stderr"
fi

stop_oprad
finish
