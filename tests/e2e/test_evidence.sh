#!/usr/bin/env bash
# Evidence through the real CLI: text and file evidence (a multi-MiB file,
# chunked), list --json fields, get -o verified with cmp, deduplication,
# exactly-once by idempotency key, automation's proposed evidence accepted,
# reject with a reason, who may do what, and the exit codes for bad input
# (unknown appraisal, practice or instance not in scope, non-member,
# sealed appraisal).
. "$(dirname "$0")/lib.sh"

MODELS="${OPRA_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/sql/models"

# expect_out_json PYTHON-EXPR DESCRIPTION: EXPR sees the last stdout as `d`.
expect_out_json() {
	if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if ('"$1"') else 1)' "$E2E_TMP/out" 2>/dev/null; then
		pass "$2"
	else
		fail "$2: $1 is not true for: $(head -c 800 "$E2E_TMP/out")"
	fi
}
out_field() {
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$E2E_TMP/out" "$1"
}
sha_of() { sha256sum "$1" | cut -d' ' -f1; }

start_oprad "$E2E_TMP/s"
export OPRA_TOKEN="$ADMIN_TOKEN"

# --- an appraisal with one instance, and its members ----------------------------
expect_rc 0 "import CERT-RMM" opra model import "$MODELS/cert-rmm-1.2.yaml"
expect_rc 0 "unit" opra unit add hq --site columbus
expect_rc 0 "service in scope" opra service add claims --unit hq
expect_rc 0 "service out of scope" opra service add billing --unit hq
expect_rc 0 "create the appraisal" opra appraisal create ap1 --model cert-rmm-1.2 --pa ADM,SC
expect_rc 0 "scope" opra appraisal scope add ap1 --service claims
ALICE=$(opra user add alice --role user --quiet)
BOT=$(opra user add bot --role automation --quiet)
VIC=$(opra user add vic --role user --quiet)
EVE=$(opra user add eve --role user --quiet)
expect_rc 0 "alice appraiser" opra appraisal member add ap1 alice --role appraiser
expect_rc 0 "bot automation" opra appraisal member add ap1 bot --role automation
expect_rc 0 "vic viewer" opra appraisal member add ap1 vic --role viewer
A=(--practice ADM:SG1.SP1 --instance claims)

# --- text evidence ----------------------------------------------------------------
TEXT="The asset register is reviewed every quarter by the owners."
expect_rc 0 "alice submits an affirmation as text" \
	opra --token "$ALICE" --site münster evidence submit ap1 "${A[@]}" --kind affirmation --text "$TEXT" --title "interview" --json
TEXT_SHA=$(printf '%s' "$TEXT" | sha256sum | cut -d' ' -f1)
expect_out_json "d['status'] == 'accepted' and d['deduplicated'] is False and d['size'] == ${#TEXT} and d['sha256'] == '$TEXT_SHA' and len(d['id']) > 0 and d['kind'] == 'affirmation'" "text evidence: accepted, size and SHA-256 of the text"
TEXT_ID=$(out_field id)
expect_rc 0 "get the text back" opra --token "$ALICE" evidence get "$TEXT_ID"
[ "$OUT" = "$TEXT" ] && pass "get returns the text" || fail "get returned: $OUT"

# --- file evidence: several chunks ----------------------------------------------------
head -c $((5 * 1024 * 1024 + 12345)) /dev/urandom >"$E2E_TMP/big.bin"
BIG_SHA=$(sha_of "$E2E_TMP/big.bin")
expect_rc 0 "alice submits a 5 MiB artifact" \
	opra --token "$ALICE" evidence submit ap1 "${A[@]}" --kind artifact --file "$E2E_TMP/big.bin" --json --idempotency-key big-1
expect_out_json "d['sha256'] == '$BIG_SHA' and d['size'] == $((5 * 1024 * 1024 + 12345)) and d['status'] == 'accepted' and d['deduplicated'] is False and d['file_name'] == 'big.bin'" "file evidence: SHA-256, size, status, not deduplicated"
BIG_ID=$(out_field id)
printf '%s' "$ERR" | grep "uploading" >/dev/null && fail "progress without a terminal: $ERR" || pass "no progress line without a terminal"

expect_rc 0 "get -o" opra --token "$ALICE" evidence get "$BIG_ID" -o "$E2E_TMP/got.bin"
cmp -s "$E2E_TMP/big.bin" "$E2E_TMP/got.bin" && pass "get -o returns the same bytes" || fail "get -o differs"
ls -A "$E2E_TMP" | grep '^\.got\.bin' >/dev/null && fail "a temporary file was left" || pass "no temporary file left"
expect_rc 0 "get -o --json" opra --token "$VIC" evidence get "$BIG_ID" -o "$E2E_TMP/got2.bin" --json
expect_out_json "d['sha256'] == '$BIG_SHA' and d['size'] == $((5 * 1024 * 1024 + 12345)) and d['path'].endswith('got2.bin')" "get --json summary (a viewer may read)"
expect_rc 0 "get to stdout" opra --token "$ALICE" evidence get "$BIG_ID"
cmp -s "$E2E_TMP/big.bin" "$E2E_TMP/out" && pass "get to stdout streams the same bytes" || fail "stdout bytes differ"
expect_rc 2 "get --json without -o" opra --token "$ALICE" evidence get "$BIG_ID" --json
expect_rc 3 "get into a missing directory" opra --token "$ALICE" evidence get "$BIG_ID" -o "$E2E_TMP/nowhere/x"
expect_rc 3 "get an unknown id" opra --token "$ALICE" evidence get 999999 -o "$E2E_TMP/x"
[ -e "$E2E_TMP/x" ] && fail "a failed get left a file" || pass "a failed get leaves no file"

# --- the same operation again, and the same bytes again -------------------------------
expect_rc 0 "the same key again" \
	opra --token "$ALICE" evidence submit ap1 "${A[@]}" --kind artifact --file "$E2E_TMP/big.bin" --json --idempotency-key big-1
expect_out_json "d['id'] == '$BIG_ID'" "re-running with the same key reports the first item (no duplicate)"
expect_rc 0 "the same file under another practice" \
	opra --token "$ALICE" evidence submit ap1 --practice ADM:SG1.SP2 --instance claims --kind artifact --file "$E2E_TMP/big.bin" --json
expect_out_json "d['deduplicated'] is True and d['sha256'] == '$BIG_SHA' and d['id'] != '$BIG_ID'" "a second submit of the same bytes is deduplicated (no bytes sent)"
expect_rc 0 "human submit" opra --token "$ALICE" evidence submit ap1 "${A[@]}" --kind artifact --file "$E2E_TMP/big.bin"
expect_in "$OUT" "already stored: no bytes sent" "the human line says so"
expect_rc 0 "--quiet prints the id" opra --token "$ALICE" evidence submit ap1 "${A[@]}" --kind affirmation --text "quiet one" --quiet
[ -n "$OUT" ] && [ "$(printf '%s\n' "$OUT" | wc -l)" -eq 1 ] && pass "--quiet: one line" || fail "--quiet printed: $OUT"

# --- automation: proposed until accepted; reject with a reason -------------------------
expect_rc 0 "automation submits" opra --token "$BOT" evidence submit ap1 "${A[@]}" --kind artifact --text "scanner: 312 hosts inventoried" --json
expect_out_json "d['status'] == 'proposed'" "automation's evidence starts proposed"
BOT_ID=$(out_field id)
expect_rc 4 "automation may not accept" opra --token "$BOT" evidence accept "$BOT_ID"
expect_rc 4 "a viewer may not accept" opra --token "$VIC" evidence accept "$BOT_ID"
expect_rc 0 "alice accepts" opra --token "$ALICE" evidence accept "$BOT_ID" --json
expect_out_json "d['status'] == 'accepted' and d['decided_by'] == 'alice'" "accepted by alice"
expect_rc 0 "another proposal" opra --token "$BOT" evidence submit ap1 "${A[@]}" --kind artifact --text "scanner: stale data" --json
REJ_ID=$(out_field id)
expect_rc 0 "alice rejects with a reason" opra --token "$ALICE" evidence reject "$REJ_ID" --reason "data older than 90 days"
expect_in "$OUT" "rejected evidence $REJ_ID" "human reject line"

# --- list --------------------------------------------------------------------------
expect_rc 0 "list --json" opra --token "$VIC" evidence list ap1 --json
expect_out_json "len(d) == 7 and all(set(['id','practice','instance','kind','status','sha256','size','submitted_by','submitted_at','site']) <= set(e) for e in d)" "list --json has every CLI.md field"
expect_out_json "[e for e in d if e['id'] == '$TEXT_ID'][0]['site'] == 'münster' and [e for e in d if e['id'] == '$TEXT_ID'][0]['submitted_by'] == 'alice' and [e for e in d if e['id'] == '$TEXT_ID'][0]['practice'] == 'ADM:SG1.SP1' and [e for e in d if e['id'] == '$TEXT_ID'][0]['instance'] == 'claims'" "who, from where, for what"
expect_out_json "[e for e in d if e['id'] == '$REJ_ID'][0]['status'] == 'rejected' and [e for e in d if e['id'] == '$REJ_ID'][0]['reason'] == 'data older than 90 days'" "the rejection and its reason are listed"
expect_out_json "all(e['submitted_at'].endswith('Z') and len(e['sha256']) == 64 for e in d)" "times are RFC 3339 UTC, hashes 64 hex"
expect_rc 0 "list --practice" opra --token "$ALICE" evidence list ap1 --practice ADM:SG1.SP2 --json
expect_out_json "len(d) == 1 and d[0]['practice'] == 'ADM:SG1.SP2'" "--practice narrows the list"
expect_rc 0 "list --status proposed" opra --token "$ALICE" evidence list ap1 --status rejected --json
expect_out_json "[e['id'] for e in d] == ['$REJ_ID']" "--status narrows the list"
expect_rc 0 "human list" opra --token "$ALICE" evidence list ap1
expect_in "$OUT" "PRACTICE" "human list has a header"
expect_in "$OUT" "$BIG_ID" "human list shows the file evidence"

# --- who may do what ------------------------------------------------------------------
expect_rc 4 "a viewer may not submit" opra --token "$VIC" evidence submit ap1 "${A[@]}" --kind affirmation --text x --no-spool
expect_rc 4 "a non-member may not submit" opra --token "$EVE" evidence submit ap1 "${A[@]}" --kind affirmation --text x --no-spool
expect_rc 4 "a non-member may not list" opra --token "$EVE" evidence list ap1
expect_rc 4 "a non-member may not get" opra --token "$EVE" evidence get "$BIG_ID" -o "$E2E_TMP/eve.bin"
[ -e "$E2E_TMP/eve.bin" ] && fail "a refused get left a file" || pass "a refused get leaves no file"

# --- bad input ----------------------------------------------------------------------
expect_rc 3 "unknown appraisal" opra --token "$ALICE" evidence submit nope "${A[@]}" --kind affirmation --text x
expect_rc 6 "practice not in scope" opra --token "$ALICE" evidence submit ap1 --practice IMC:SG1.SP1 --instance claims --kind affirmation --text x
expect_in "$ERR" "not in the scope" "the message says the practice is out of scope"
expect_rc 3 "instance not in scope" opra --token "$ALICE" evidence submit ap1 --practice ADM:SG1.SP1 --instance billing --kind affirmation --text x
expect_in "$ERR" "not an instance of appraisal" "the message names the instances"
expect_rc 3 "missing file" opra --token "$ALICE" evidence submit ap1 "${A[@]}" --kind artifact --file "$E2E_TMP/none.bin"
expect_rc 2 "both --file and --text" opra --token "$ALICE" evidence submit ap1 "${A[@]}" --kind artifact --file "$E2E_TMP/big.bin" --text x
expect_rc 2 "neither --file nor --text" opra --token "$ALICE" evidence submit ap1 "${A[@]}" --kind artifact
expect_rc 2 "bad --kind" opra --token "$ALICE" evidence submit ap1 "${A[@]}" --kind rumour --text x
expect_rc 2 "a key with spaces" opra --token "$ALICE" evidence submit ap1 "${A[@]}" --kind affirmation --text x --idempotency-key "a b"
LONG=$(head -c 70000 /dev/zero | tr '\0' 'x')
expect_rc 2 "text over 64 KiB" opra --token "$ALICE" evidence submit ap1 "${A[@]}" --kind affirmation --text "$LONG"
expect_in "$ERR" "use --file" "the message says what to do"
expect_rc 6 "the same key for a different operation" opra --token "$ALICE" evidence submit ap1 "${A[@]}" --kind affirmation --text "other" --idempotency-key big-1
expect_rc 0 "nothing of the bad input was stored" opra --token "$ALICE" evidence list ap1 --json
expect_out_json "len(d) == 7" "still 7 items"

# --- a sealed appraisal refuses changes -----------------------------------------------
expect_rc 0 "finalize" opra appraisal finalize ap1
expect_rc 5 "submit to a sealed appraisal" opra --token "$ALICE" evidence submit ap1 "${A[@]}" --kind affirmation --text late
expect_rc 5 "file to a sealed appraisal" opra --token "$ALICE" evidence submit ap1 "${A[@]}" --kind artifact --file "$E2E_TMP/big.bin"
expect_rc 5 "accept in a sealed appraisal" opra --token "$ALICE" evidence accept "$REJ_ID"
expect_rc 0 "a sealed appraisal is still readable" opra --token "$VIC" evidence get "$BIG_ID" -o "$E2E_TMP/got3.bin"
cmp -s "$E2E_TMP/big.bin" "$E2E_TMP/got3.bin" && pass "sealed evidence reads back intact" || fail "sealed get differs"
[ -z "$(ls -A "$XDG_STATE_HOME/opra/spool" 2>/dev/null | grep '\.rec$')" ] && pass "refused submits were not spooled" || fail "something was spooled: $(ls "$XDG_STATE_HOME/opra/spool")"

finish
