#!/usr/bin/env bash
# Hostile names through the CLI: SQL metacharacters, path traversal, shell
# and format metacharacters, overlong UTF-8, right-to-left overrides and
# NUL bytes as names of units, services, assets and appraisals, as
# evidence titles and texts, and as report/evidence -o paths. Each is either
# stored verbatim (read back byte for byte) or refused with a clear error
# (exit 2 or 6, a message on stderr) and nothing is created; nothing is ever
# interpreted (no table dropped, no file outside the asked path, no command
# run).
. "$(dirname "$0")/lib.sh"

start_oprad "$E2E_TMP/s"
export OPRA_TOKEN="$ADMIN_TOKEN"
small_appraisal
cd "$E2E_TMP" || exit 1
mkdir -p work/out
cd work || exit 1

sentinel="$E2E_TMP/pwned"
names=(
	"'; DROP TABLE users; --"
	"x' OR '1'='1"
	"\"; DELETE FROM units; --"
	"\$1); SELECT pg_sleep(5); --"
	"../../etc/passwd"
	"..\\..\\windows\\system32"
	"/etc/shadow"
	"\$(touch $sentinel)"
	"\`touch $sentinel\`"
	"%s%s%n%x"
	"<script>alert(1)</script>"
	$'evil\u202etxt.exe'
	$'\xc0\xaf\xc0\xae'
	$'\xed\xa0\x80'
	$'\xff\xfe'
	$'line\nbreak'
	$'tab\there'
	" leading-space"
	"$(printf 'n%.0s' $(seq 1 300))"
)

# check_name KIND NAME: add it, then it must read back verbatim or be refused.
stored=0 refused=0
check_name() {
	local kind=$1 name=$2 rc
	case "$kind" in
	unit) run opra unit add "$name" --json ;;
	service) run opra service add "$name" --unit hq --json ;;
	asset) run opra asset add "$name" --type technology --json ;;
	appraisal) run opra appraisal create "$name" --model cert-rmm-1.2 --pa ADM --json ;;
	esac
	rc=$RC
	local shown
	shown=$(printf '%q' "$name")
	if [ "$rc" -eq 0 ]; then
		run opra "$kind" show "$name" --json
		if [ "$RC" -eq 0 ] && python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
want = sys.argv[1].encode("utf-8", "surrogateescape").decode("utf-8")
sys.exit(0 if d.get("name") == want else 1)' "$name" <<<"$OUT"; then
			pass "$kind $shown stored verbatim"
			stored=$((stored + 1))
		else
			fail "$kind $shown: added but does not read back verbatim (exit $RC): $OUT"
		fi
	elif [ "$rc" -eq 6 ] || [ "$rc" -eq 2 ]; then
		if [ -n "$ERR" ]; then
			pass "$kind $shown refused (exit $rc): ${ERR%%$'\n'*}"
		else
			fail "$kind $shown refused without a message"
		fi
		run opra "$kind" show "$name"
		[ "$RC" -ne 0 ] && refused=$((refused + 1)) || fail "$kind $shown: refused but exists"
	else
		fail "$kind $shown: exit $rc (want 0, 2 or 6): $ERR"
	fi
}

for kind in unit service asset appraisal; do
	for name in "${names[@]}"; do
		check_name "$kind" "$name"
	done
done
echo "names: $stored stored verbatim, $refused refused"

# Evidence titles and texts are free text: stored verbatim, never run.
for t in "'; DROP TABLE evidence; --" "../../etc/passwd" $'rtl \u202e override' "\$(touch $sentinel)"; do
	run opra evidence submit ap1 --practice ADM:SG1.SP1 --instance claims --kind affirmation \
		--text "$t" --title "$t" --json
	if [ "$RC" -eq 0 ]; then
		id=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' "$OUT")
		run opra evidence get "$id"
		[ "$OUT" = "$t" ] && pass "evidence text $(printf '%q' "$t") stored verbatim" ||
			fail "evidence text changed: $(printf '%q' "$OUT")"
		run opra evidence list ap1 --json
		python3 -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if any(e.get("title")==sys.argv[2] for e in d) else 1)' "$OUT" "$t" &&
			pass "evidence title $(printf '%q' "$t") listed verbatim" ||
			fail "evidence title not verbatim in the list: $OUT"
	else
		[ "$RC" -eq 6 ] && [ -n "$ERR" ] && pass "evidence title refused: $ERR" || fail "evidence title: exit $RC $ERR"
	fi
done
run opra evidence submit ap1 --practice ADM:SG1.SP1 --instance claims --kind affirmation \
	--text x --title $'bad\xff'
[ "$RC" -eq 6 ] || [ "$RC" -eq 2 ] && pass "a title that is not UTF-8 is refused (exit $RC)" || fail "non-UTF-8 title: exit $RC"

# NUL bytes cannot be passed in argv; they arrive in files. An inventory
# file with a NUL inside a name is refused, nothing imported.
printf 'kind,name,parent\nunit,nul\0inside,\nunit,clean-unit,\n' >nul.csv
run opra inventory import nul.csv
[ "$RC" -eq 6 ] || [ "$RC" -eq 2 ] && pass "a NUL in an inventory file is refused (exit $RC)" || fail "NUL in inventory file: exit $RC $OUT $ERR"
run opra unit show clean-unit
[ "$RC" -eq 3 ] && pass "nothing of the refused file was imported" || fail "partial import after refusal"
run opra unit show nul
[ "$RC" -eq 3 ] && pass "the name was not cut at the NUL" || fail "unit 'nul' exists: the name was cut at the NUL"

# -o paths are the user's own, taken literally: no expansion, no traversal
# beyond what was written, a clear error for a missing directory.
weird='out/$(touch pwned) ; `id` %s.json'
run opra report ap1 --format json -o "$weird"
[ "$RC" -eq 0 ] && [ -s "$weird" ] && pass "report -o with metacharacters writes exactly that file" || fail "report -o weird: exit $RC $ERR"
run opra report ap1 --format json -o "out/../out/./r.json"
[ "$RC" -eq 0 ] && [ -s out/r.json ] && pass "report -o with .. resolves like any path the user types" || fail "report -o ..: exit $RC $ERR"
run opra report ap1 --format json -o "no/such/dir/r.json"
[ "$RC" -ne 0 ] && [ -n "$ERR" ] && [ ! -e no ] && pass "report -o into a missing directory: clear error (exit $RC), nothing created" || fail "report -o missing dir: exit $RC"
run opra evidence list ap1 --json
id=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])[0]["id"])' "$OUT")
run opra evidence get "$id" -o "out/\$(id).bin"
[ "$RC" -eq 0 ] && [ -f 'out/$(id).bin' ] && pass "evidence get -o with \$(...) writes that literal name" || fail "evidence get -o: exit $RC $ERR"
[ ! -e "$sentinel" ] && [ ! -e pwned ] && [ ! -e out/pwned ] && pass "no name, title or path ran a command" || fail "a command ran: $sentinel exists"
extra=()
for f in "$E2E_TMP"/* "$E2E_TMP"/work/*; do
	case "${f#"$E2E_TMP"/}" in
	s | work | out | err | config | state | work/out | work/nul.csv) ;;
	*) extra+=("$f") ;;
	esac
done
[ ${#extra[@]} -eq 0 ] && pass "no file appeared outside the asked paths" || fail "files appeared outside the asked paths: ${extra[*]}"

# Nothing was interpreted: every table still there, the admin still admin.
run opra user list --json
expect_json "$OUT" '[u["name"] for u in d] == ["admin", "alice"]' "users intact (no DROP, no new user)"
run opra unit show hq --json
expect_json "$OUT" 'd["name"] == "hq"' "unit hq intact"
run opra service list --json
expect_json "$OUT" 'any(s["name"] == "claims" for s in d)' "service claims intact"
kill -0 "$OPRAD_PID" && pass "oprad still running" || fail "oprad died"
finish
