#!/usr/bin/env bash
# Bulk inventory through the real CLI: `opra inventory import` (CSV and
# JSON, idempotent re-import, --dry-run, bad files refused whole, who may
# import, a large file, oprad killed in the middle of an import) and
# `opra inventory export` (CSV and JSON that re-import unchanged, --all, -o
# written atomically).
. "$(dirname "$0")/lib.sh"

DATA="$(cd "$(dirname "$0")/../data/inventory" && pwd)"

# expect_out_json PYTHON-EXPR DESCRIPTION: EXPR sees the last run's stdout
# as `d`.
expect_out_json() {
	if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if ('"$1"') else 1)' "$E2E_TMP/out" 2>/dev/null; then
		pass "$2"
	else
		fail "$2: $1 is not true for: $(head -c 600 "$E2E_TMP/out")"
	fi
}

# expect_file_py FILE PYTHON-EXPR DESCRIPTION: EXPR sees the file's text as
# `t` (csv and json are imported).
expect_file_py() {
	if python3 -c 'import csv,io,json,sys; t=open(sys.argv[1], encoding="utf-8", newline="").read(); sys.exit(0 if ('"$2"') else 1)' "$1" 2>/dev/null; then
		pass "$3"
	else
		fail "$3: $2 is not true for: $(head -c 600 "$1")"
	fi
}

token_of() {
	python3 -c 'import json,sys; print(json.loads(sys.argv[1])["token"])' "$1"
}

# The counts of an import --json as "created/updated/unchanged" per kind.
UNCHANGED='all(d[k]["created"] == 0 and d[k]["updated"] == 0 for k in ("units", "services", "assets", "links"))'

start_oprad "$E2E_TMP/s"
MAIN_DB=${FRESH_DB:-}
export OPRA_TOKEN="$ADMIN_TOKEN"

# --- import: CSV, then the same file and its JSON twin -------------------------
expect_rc 0 "import typed.csv" opra inventory import "$DATA/typed.csv" --json
expect_out_json 'd["file"].endswith("typed.csv") and d["dry_run"] is False and d["records"] == 6 and d["units"] == {"created": 2, "updated": 0, "unchanged": 0} and d["services"]["created"] == 1 and d["assets"]["created"] == 2 and d["links"]["created"] == 1' "import counts what it created"
expect_rc 0 "the imported asset is there" opra asset show db-1 --json
expect_out_json 'd["unit"] == "HQ" and d["owner"] == "O'"'"'Brien" and d["description"] == "line one\nline two" and d["type"] == "technology"' "the asset's fields came through (quotes, embedded newline)"
expect_rc 0 "the unit with a comma in its name" opra unit show "Münster, DE" --json
expect_out_json 'd["parent"] == "HQ" and d["site"] == "Münster"' "UTF-8 names and a comma survive"
expect_rc 0 "the SQL-ish asset name is just a name" opra asset show "Robert'); DROP TABLE assets;--" --json
expect_rc 0 "import the same file again" opra inventory import "$DATA/typed.csv" --json
expect_out_json "$UNCHANGED and d['assets']['unchanged'] == 2 and d['units']['unchanged'] == 2" "re-importing the same file changes nothing"
expect_rc 0 "import the JSON twin" opra inventory import "$DATA/typed.json" --json
expect_out_json "$UNCHANGED and d['records'] == 6" "the JSON twin holds the same inventory"
expect_rc 0 "import (human)" opra inventory import "$DATA/typed.csv"
expect_in "$OUT" "imported $DATA/typed.csv: units 0 created, 0 updated, 2 unchanged; services" "human import summary"
[ "$(printf '%s\n' "$OUT" | wc -l)" -eq 1 ] && pass "human import prints one line" || fail "human import printed: $OUT"
printf '%s' "$ERR" | grep "records sent" >/dev/null && fail "progress without a terminal: $ERR" || pass "no progress line without a terminal"
expect_rc 0 "--quiet import" opra inventory import "$DATA/typed.csv" --quiet
[ -z "$OUT" ] && pass "--quiet import prints nothing" || fail "--quiet import printed: $OUT"
expect_rc 0 "a one-kind file (assets.csv) after its unit exists" opra inventory import "$DATA/assets.csv" --json
expect_out_json 'd["assets"]["created"] == 2 and d["records"] == 2' "a file named assets.csv holds assets"

# --- dry run ----------------------------------------------------------------------
sed 's/"O'"'"'Brien"/"Somebody Else"/' "$DATA/typed.csv" >"$E2E_TMP/changed.csv"
printf 'asset,dry-new,,,HQ,,,people,,,,,\n' >>"$E2E_TMP/changed.csv"
expect_rc 0 "--dry-run on a changed file" opra inventory import "$E2E_TMP/changed.csv" --dry-run --json
expect_out_json 'd["dry_run"] is True and d["assets"]["updated"] == 1 and d["assets"]["created"] == 1 and d["units"]["unchanged"] == 2' "--dry-run reports the update and the new asset"
expect_rc 0 "--dry-run (human)" opra inventory import "$E2E_TMP/changed.csv" --dry-run
expect_in "$OUT" "would import" "human dry run says would import"
expect_in "$OUT" "(dry run: nothing changed)" "human dry run says nothing changed"
expect_rc 0 "asset show after the dry run" opra asset show db-1 --json
expect_out_json 'd["owner"] == "O'"'"'Brien"' "--dry-run changed nothing"
expect_rc 3 "the dry run created nothing" opra asset show dry-new

# --- bad files: exit 6, file:line: field, nothing imported --------------------------
expect_rc 6 "bad asset type" opra inventory import "$DATA/bad-type.csv"
expect_in "$ERR" "bad-type.csv:2: field 'type'" "the message names file, line and field"
expect_rc 3 "nothing of the bad file was imported" opra asset show x
expect_rc 6 "wrong column count" opra inventory import "$DATA/bad-count.csv" --json
expect_out_json 'd["error"]["code"] == "INVALID_ARGUMENT" and "bad-count.csv:3" in d["error"]["message"]' "column count error JSON"
expect_rc 6 "bad criticality" opra inventory import "$DATA/bad-criticality.csv"
expect_in "$ERR" "bad-criticality.csv:2: field 'criticality'" "criticality message"
expect_rc 6 "unterminated quote" opra inventory import "$DATA/bad-quote.csv"
expect_rc 6 "bad JSON field" opra inventory import "$DATA/bad-type.json"
expect_in "$ERR" "assets[0]: field 'type'" "the JSON message names the record and field"
expect_rc 6 "unknown column" opra inventory import "$DATA/bad-column.csv"
# A bad record after the first batches: staged batches are aborted.
python3 - "$E2E_TMP/late.csv" <<'EOF'
import sys
with open(sys.argv[1], "w") as f:
    f.write("kind,name,type,unit\n")
    for i in range(4500):
        f.write(f"asset,late-{i},technology,HQ\n")
    f.write("asset,late-bad,spaceship,HQ\n")
EOF
expect_rc 6 "a bad record after two staged batches" opra inventory import "$E2E_TMP/late.csv"
expect_in "$ERR" "late.csv:4502: field 'type'" "the late error names its line"
expect_rc 3 "the staged batches were not applied" opra asset show late-1
expect_rc 3 "a missing file" opra inventory import "$E2E_TMP/no-such.csv"
expect_rc 2 "an unknown --format" opra inventory import "$DATA/typed.csv" --format xml

# --- export -------------------------------------------------------------------
expect_rc 0 "export CSV to a file" opra inventory export -o "$E2E_TMP/export.csv"
expect_in "$OUT" "wrote 2 units, 1 services, 4 assets, 1 links to $E2E_TMP/export.csv (CSV" "human export summary"
expect_file_py "$E2E_TMP/export.csv" 'next(csv.reader(io.StringIO(t))) == "kind,name,parent,site,unit,mission,criticality,type,owner,description,tags,service,asset".split(",")' "export CSV header"
expect_file_py "$E2E_TMP/export.csv" '"\"Münster, DE\"" in t and "\"line one\nline two\"" in t and ",prod;tier-1," in t' "export CSV quotes commas and newlines, joins tags with ;"
expect_file_py "$E2E_TMP/export.csv" '[r for r in csv.reader(io.StringIO(t)) if r[0] == "link"] == [["link"] + [""] * 10 + ["claims", "db-1"]]' "export CSV link row"
expect_rc 0 "export CSV to stdout" opra inventory export
cmp -s "$E2E_TMP/out" "$E2E_TMP/export.csv" && pass "stdout and -o hold the same export" || fail "stdout export differs from the file"
expect_rc 0 "re-import the CSV export" opra inventory import "$E2E_TMP/export.csv" --json
expect_out_json "$UNCHANGED and d['records'] == 8" "the CSV export re-imports unchanged"

expect_rc 0 "export JSON to stdout" opra inventory export --format json
expect_out_json 'set(d) == {"units", "services", "assets", "links"} and [u["name"] for u in d["units"]] == ["HQ", "Münster, DE"] and d["links"] == [{"service": "claims", "asset": "db-1"}] and [a for a in d["assets"] if a["name"] == "db-1"][0]["tags"] == ["prod", "tier-1"] and d["services"][0]["criticality"] == "high" and all("removed" not in a for a in d["assets"])' "export JSON shape"
cp "$E2E_TMP/out" "$E2E_TMP/export.json"
expect_rc 0 "--json export is the document itself" opra inventory export --json
expect_out_json 'set(d) == {"units", "services", "assets", "links"}' "--json export to stdout"
expect_rc 0 "re-import the JSON export" opra inventory import "$E2E_TMP/export.json" --json
expect_out_json "$UNCHANGED" "the JSON export re-imports unchanged"
expect_rc 0 "export JSON -o --json" opra inventory export --format json -o "$E2E_TMP/e2.json" --json
expect_out_json 'd["format"] == "json" and d["assets"] == 4 and d["links"] == 1 and d["bytes"] > 0' "export -o --json summary"
expect_rc 3 "export into a missing directory" opra inventory export -o "$E2E_TMP/nowhere/x.csv"
expect_in "$ERR" "does not exist" "the message says the directory is missing"
[ ! -e "$E2E_TMP/nowhere" ] && pass "no partial file" || fail "something was written"
expect_rc 2 "export -o a directory" opra inventory export -o "$E2E_TMP"
expect_rc 2 "export takes no arguments" opra inventory export extra

# --all: removed objects flagged; such a file is refused by import.
expect_rc 0 "remove an asset" opra asset remove laptops
expect_rc 0 "export --all" opra inventory export --all -o "$E2E_TMP/all.csv"
expect_file_py "$E2E_TMP/all.csv" 'next(csv.reader(io.StringIO(t)))[-1] == "removed" and [r[-1] for r in csv.reader(io.StringIO(t)) if r[1] == "laptops"] == ["true"] and [r[-1] for r in csv.reader(io.StringIO(t)) if r[1] == "db-1"] == ["false"]' "export --all flags removed objects"
expect_rc 0 "export without --all leaves it out" opra inventory export --format json
expect_out_json 'all(a["name"] != "laptops" for a in d["assets"])' "removed assets are not exported by default"
expect_rc 0 "export --all JSON" opra inventory export --all --format json
expect_out_json '[a["removed"] for a in d["assets"] if a["name"] == "laptops"] == [True] and all(u["removed"] is False for u in d["units"])' "export --all JSON has removed"
expect_rc 6 "an --all export is not importable" opra inventory import "$E2E_TMP/all.csv"
expect_in "$ERR" "removed" "the message names the removed column"

# --- who may import -------------------------------------------------------------
run opra user add carol --role user --json
CAROL=$(token_of "$OUT")
run opra user add robot --role automation --json
ROBOT=$(token_of "$OUT")
printf 'kind,name,site\nunit,carol-unit,x\n' >"$E2E_TMP/carol.csv"
expect_rc 4 "a user token may not import" opra --token "$CAROL" inventory import "$E2E_TMP/carol.csv"
expect_rc 3 "nothing imported for the user" opra unit show carol-unit
printf 'kind,name,site\nunit,robot-unit,y\n' >"$E2E_TMP/robot.csv"
expect_rc 0 "an automation token may import" opra --token "$ROBOT" inventory import "$E2E_TMP/robot.csv" --json
expect_out_json 'd["units"]["created"] == 1' "automation import created the unit"
expect_rc 4 "no token at all" env -u OPRA_TOKEN "$OPRA_BIN" --server "$OPRA_URL" inventory import "$DATA/typed.csv"

# --- a large file ------------------------------------------------------------------
python3 - "$E2E_TMP/big.csv" <<'EOF'
import sys
with open(sys.argv[1], "w") as f:
    f.write("kind,name,type,unit,owner,tags\n")
    for i in range(20000):
        f.write(f"asset,big-{i:05d},technology,HQ,team-{i % 7},\"a;b\"\n")
EOF
expect_rc 0 "import 20000 assets" opra inventory import "$E2E_TMP/big.csv"
expect_in "$OUT" "assets 20000 created" "all 20000 assets created"
[ "$(printf '%s\n' "$OUT" | wc -l)" -eq 1 ] && pass "only the summary on stdout" || fail "stdout: $(head -c 300 "$E2E_TMP/out")"
printf '%s' "$ERR" | grep "records sent" >/dev/null && fail "progress without a terminal: $ERR" || pass "no progress lines without a terminal"
expect_rc 0 "import it again" opra inventory import "$E2E_TMP/big.csv" --json
expect_out_json 'd["assets"]["unchanged"] == 20000 and d["records"] == 20000' "the large re-import is unchanged"
expect_rc 0 "export pages through every asset" opra inventory export --format json
expect_out_json 'len([a for a in d["assets"] if a["name"].startswith("big-")]) == 20000' "the export holds all 20000"

# --- oprad killed during an import ----------------------------------------------
# kill -9 oprad while `opra inventory import` sends a large file (once while
# it stages batches, once while the Commit runs) and start it again on the
# same database. The client resends every call it got no answer for under the
# same idempotency keys (had it given up, running the import again finishes
# it): every object is there once, with one event.
if [ -n "${OPRA_TEST_DB:-}" ]; then
	db_sql() { psql "$MAIN_DB" -qXAtc "$1"; }
	restart_oprad() { launch_oprad "$E2E_TMP/s" --state-dir "$E2E_TMP/s" --db "$MAIN_DB"; }
else
	db_sql() { psql "host=$E2E_TMP/s/run user=opra dbname=opra" -qXAtc "$1"; }
	restart_oprad() { launch_oprad "$E2E_TMP/s" --state-dir "$E2E_TMP/s"; }
fi

# kill_during PREFIX WHEN-SQL WHAT: imports 60000 assets named PREFIX-N and a
# link from service PREFIX-svc to each; kills oprad once WHEN-SQL counts more
# than 0, then checks the outcome.
kill_during() {
	local prefix=$1 when=$2 what=$3 n=60000 seen=0
	python3 - "$E2E_TMP/$prefix.csv" "$prefix" "$n" <<'EOF2'
import sys
path, prefix, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(path, "w") as f:
    f.write("kind,name,unit,type,service,asset\n")
    f.write(f"service,{prefix}-svc,HQ,,,\n")
    for i in range(n):
        f.write(f"asset,{prefix}-{i:05d},HQ,technology,,\n")
    for i in range(n):
        f.write(f"link,,,,{prefix}-svc,{prefix}-{i:05d}\n")
EOF2
	"$OPRA_BIN" --server "$OPRA_URL" inventory import "$E2E_TMP/$prefix.csv" --json \
		>"$E2E_TMP/$prefix.out" 2>"$E2E_TMP/$prefix.err" &
	local import_pid=$!
	for _ in $(seq 1 1500); do
		seen=$(db_sql "$when" 2>/dev/null || echo 0)
		[ "${seen:-0}" -gt 0 ] && break
		kill -0 "$import_pid" 2>/dev/null || break
		sleep 0.02
	done
	[ "${seen:-0}" -gt 0 ] && pass "caught the import $what" ||
		echo "note: the import ended before it was seen $what"
	kill -KILL "$OPRAD_PID"
	wait "$OPRAD_PID" 2>/dev/null || true
	restart_oprad
	local rc=0
	wait "$import_pid" || rc=$?
	if [ "$rc" -eq 0 ]; then
		pass "the import killed $what resumed by itself once oprad was back"
	else
		echo "the import killed $what gave up (exit $rc: $(head -c 300 "$E2E_TMP/$prefix.err")); running it again"
		expect_rc 0 "the import killed $what run again" opra inventory import "$E2E_TMP/$prefix.csv"
	fi
	local got
	got=$(db_sql "SELECT (SELECT count(*) FROM assets WHERE name LIKE '$prefix-%' AND removed_at IS NULL) || ' ' || (SELECT count(*) || '/' || count(DISTINCT object) FROM events WHERE object LIKE 'asset:$prefix-%') || ' ' || (SELECT count(*) FROM service_assets sa JOIN services v ON v.id = sa.service_id WHERE v.name = '$prefix-svc') || ' ' || (SELECT coalesce(sum(jsonb_array_length(after->'assets')), 0) FROM events WHERE object = 'link:$prefix-svc')")
	[ "$got" = "$n $n/$n $n $n" ] &&
		pass "killed $what: every asset and link there once, one event each" ||
		fail "killed $what: assets, asset events/distinct, links, linked in events: $got (want $n $n/$n $n $n)"
	expect_rc 0 "the file killed $what again" opra inventory import "$E2E_TMP/$prefix.csv" --json
	expect_out_json "$UNCHANGED and d['assets']['unchanged'] == $n and d['links']['unchanged'] == $n" "killed $what: the file is all in, importing it again changes nothing"
}
kill_during kills "SELECT count(*) FROM imports WHERE batches >= 2" "while staging"
kill_during killc "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY bulk_%' OR query LIKE 'WITH s AS MATERIALIZED%' OR query LIKE 'WITH l AS MATERIALIZED%'" "during the Commit"

# --- help --------------------------------------------------------------------------
for c in "inventory import" "inventory export"; do
	# shellcheck disable=SC2086
	run opra help $c
	[ "$RC" -eq 0 ] && printf '%s' "$OUT" | grep "^usage: opra $c" >/dev/null && pass "help $c" || fail "help $c: $OUT"
done
expect_rc 0 "server still answers" opra unit list --json
finish
