#!/usr/bin/env bash
# The enterprise inventory through the real CLI: units, services and assets
# (add, list, show, update, remove), links, the dependency tree in both
# directions, versions, the unit-cycle check, hostile names, soft removal
# and who may write where.
. "$(dirname "$0")/lib.sh"

# expect_out_json PYTHON-EXPR DESCRIPTION: like expect_json on the stdout of
# the last run, read from its file; os is imported (names travel through the
# environment so that no quoting stands between the test and the server).
expect_out_json() {
	if python3 -c 'import json,os,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if ('"$1"') else 1)' "$E2E_TMP/out" 2>/dev/null; then
		pass "$2"
	else
		fail "$2: $1 is not true for: $(head -c 600 "$E2E_TMP/out")"
	fi
}

# expect_fail DESCRIPTION CMD...: the command must fail (any non-zero exit).
expect_fail() {
	local what=$1
	shift
	run "$@"
	if [ "$RC" -ne 0 ]; then
		pass "$what (exit $RC)"
	else
		fail "$what: expected a failure, got exit 0; stdout: $OUT"
	fi
}

# token_of JSON: the token of a `user add --json` document.
token_of() {
	python3 -c 'import json,sys; print(json.loads(sys.argv[1])["token"])' "$1"
}

start_oprad "$E2E_TMP/s"
export OPRA_TOKEN="$ADMIN_TOKEN"

# --- units: a tree ----------------------------------------------------------
expect_rc 0 "unit add emea" opra unit add emea --site dublin --json
expect_out_json 'd["name"] == "emea" and d["parent"] is None and d["site"] == "dublin" and d["version"] == 1 and d["removed"] is False and d["removed_at"] is None and d["created_at"].endswith("Z") and d["updated_at"].endswith("Z")' "unit add JSON shape"
expect_rc 0 "unit add under a parent (human)" opra unit add emea-fin --parent emea
expect_in "$OUT" "added unit emea-fin" "human unit add says what it added"
expect_rc 0 "unit add emea-ops" opra unit add emea-ops --parent emea --site cork
expect_rc 0 "unit add us" opra unit add us
expect_rc 0 "unit add us-east" opra unit add us-east --parent us --json
expect_out_json 'd["parent"] == "us" and d["site"] is None' "a unit without site has site null"
expect_rc 0 "unit add --quiet" opra unit add scratch --quiet
[ -z "$OUT" ] && pass "unit add --quiet prints nothing" || fail "unit add --quiet printed: $OUT"
expect_rc 5 "a duplicate unit is a conflict" opra unit add emea
expect_rc 3 "a missing parent is not found" opra unit add orphan --parent nowhere
expect_in "$ERR" "nowhere" "the message names the missing parent"

expect_rc 0 "unit show" opra unit show emea --json
expect_out_json 'd["name"] == "emea" and sorted(d["children"]) == ["emea-fin", "emea-ops"]' "unit show lists the children"
expect_rc 0 "unit show (human)" opra unit show emea-ops
expect_in "$OUT" "cork" "human unit show prints the site"
expect_in "$OUT" "parent" "human unit show labels the fields"
expect_rc 3 "unit show of a missing unit" opra unit show nowhere --json
expect_out_json 'd["error"]["code"] == "NOT_FOUND"' "missing unit JSON error"

expect_rc 0 "unit list" opra unit list --json
expect_out_json '{u["name"] for u in d} == {"emea", "emea-fin", "emea-ops", "us", "us-east", "scratch"} and all("version" in u and "children" not in u for u in d)' "unit list JSON"
expect_rc 0 "unit list --unit (subtree)" opra unit list --unit emea --json
expect_out_json '{u["name"] for u in d} == {"emea", "emea-fin", "emea-ops"}' "unit list --unit is the subtree"
expect_rc 0 "unit list (human)" opra unit list
expect_in "$OUT" "NAME" "human unit list has a header"
expect_in "$OUT" "emea-fin" "human unit list names the units"

# --- services ---------------------------------------------------------------
expect_rc 0 "service add" opra service add claims --unit emea --criticality high --mission "Pay valid claims within 10 days" --json
expect_out_json 'd["name"] == "claims" and d["unit"] == "emea" and d["criticality"] == "high" and d["mission"] == "Pay valid claims within 10 days" and d["version"] == 1 and d["assets"] == 0 and d["removed"] is False' "service add JSON shape"
expect_rc 0 "service add with the default criticality" opra service add billing --unit us --json
expect_out_json 'd["criticality"] == "medium" and d["mission"] is None' "criticality defaults to medium"
expect_rc 0 "service add (human)" opra service add payroll --unit emea-fin --criticality low
expect_in "$OUT" "added service payroll" "human service add"
expect_rc 3 "service add in a missing unit" opra service add ghost --unit nowhere
expect_rc 2 "service add without --unit" opra service add ghost
expect_rc 2 "unknown criticality is a usage error" opra service add ghost --unit emea --criticality extreme --json
expect_out_json 'd["error"]["code"] == "USAGE"' "usage error JSON"
expect_rc 5 "a duplicate service is a conflict" opra service add claims --unit us

expect_rc 0 "service list --unit" opra service list --unit emea --json
expect_out_json '[s["name"] for s in d] == ["claims"]' "service list --unit emea holds only emea's services"
expect_rc 0 "service list (human)" opra service list
expect_in "$OUT" "CRITICALITY" "human service list header"
expect_in "$OUT" "payroll" "human service list rows"

# --- assets -----------------------------------------------------------------
expect_rc 0 "asset add with tags" opra asset add db-cluster-1 --type technology --unit emea --owner dba-team --description "primary claims database" --tag pci --tag prod --json
expect_out_json 'd["name"] == "db-cluster-1" and d["type"] == "technology" and d["unit"] == "emea" and d["owner"] == "dba-team" and d["description"] == "primary claims database" and d["tags"] == ["pci", "prod"] and d["services"] == 0 and d["version"] == 1 and d["removed"] is False' "asset add JSON shape"
expect_rc 0 "asset add people" opra asset add claims-team --type people --owner alice
expect_rc 0 "asset add information" opra asset add claims-data --type information --unit emea --json
expect_out_json 'd["unit"] == "emea" and d["owner"] is None and d["tags"] == []' "an asset without owner or tags"
expect_rc 0 "asset add facilities" opra asset add dublin-dc --type facilities --unit emea-ops
expect_rc 2 "unknown asset type is a usage error" opra asset add thing --type gadget
expect_in "$ERR" "people, information, technology, facilities" "the message lists the types"
expect_rc 2 "asset add without --type" opra asset add thing
expect_rc 2 "an empty tag is a usage error" opra asset add thing --type people --tag ""
expect_rc 3 "asset add in a missing unit" opra asset add thing --type people --unit nowhere

expect_rc 0 "asset list --type" opra asset list --type technology --json
expect_out_json '[a["name"] for a in d] == ["db-cluster-1"]' "asset list --type filters"
expect_rc 0 "asset list --unit" opra asset list --unit emea --json
expect_out_json '{a["name"] for a in d} == {"db-cluster-1", "claims-data"}' "asset list --unit filters"
expect_rc 2 "asset list with an unknown type" opra asset list --type gadget
expect_rc 0 "asset list (human)" opra asset list
expect_in "$OUT" "pci, prod" "human asset list shows the tags"
expect_rc 0 "asset show (human)" opra asset show db-cluster-1
expect_in "$OUT" "primary claims database" "human asset show prints the description"

# --- links ------------------------------------------------------------------
expect_rc 0 "link three assets" opra service link claims db-cluster-1 claims-team claims-data --json
expect_out_json 'd == {"service": "claims", "changed": 3, "unchanged": 0}' "link JSON"
expect_rc 0 "linking again is not an error" opra service link claims db-cluster-1 --json
expect_out_json 'd["changed"] == 0 and d["unchanged"] == 1' "an existing link is unchanged"
expect_rc 0 "link (human)" opra service link billing db-cluster-1
expect_in "$OUT" "linked 1 asset" "human link"
expect_rc 3 "link to a missing asset" opra service link billing dublin-dc no-such-asset --json
expect_out_json 'd["error"]["code"] == "NOT_FOUND" and "no-such-asset" in d["error"]["message"]' "the error names the missing asset"
expect_rc 0 "billing after the failed link" opra inventory show billing --json
expect_out_json '[a["name"] for a in d["assets"]] == ["db-cluster-1"]' "a failed link links nothing"
expect_rc 3 "link to a missing service" opra service link nosuch db-cluster-1
expect_rc 2 "link without assets" opra service link claims

expect_rc 0 "service show counts the assets" opra service show claims --json
expect_out_json 'd["assets"] == 3' "service show: 3 assets"
expect_rc 0 "asset show counts the services" opra asset show db-cluster-1 --json
expect_out_json 'd["services"] == 2' "asset show: 2 services"

# --- the dependency tree ------------------------------------------------------
expect_rc 0 "inventory show SERVICE" opra inventory show claims --json
expect_out_json 'd["service"]["name"] == "claims" and d["service"]["criticality"] == "high" and sorted(a["name"] for a in d["assets"]) == ["claims-data", "claims-team", "db-cluster-1"] and all("type" in a for a in d["assets"])' "service -> assets JSON"
expect_rc 0 "inventory show SERVICE (human)" opra inventory show claims
expect_in "$OUT" "service claims" "the tree starts with the service"
expect_in "$OUT" "├─ people" "tree branch"
expect_in "$OUT" "db-cluster-1 (dba-team)" "the tree shows the owner"
expect_in "$OUT" "└─ technology" "the last branch closes the tree"
people_line=$(printf '%s\n' "$OUT" | grep -n "people" | head -1 | cut -d: -f1)
tech_line=$(printf '%s\n' "$OUT" | grep -n "technology" | head -1 | cut -d: -f1)
[ -n "$people_line" ] && [ -n "$tech_line" ] && [ "$people_line" -lt "$tech_line" ] &&
	pass "assets are grouped by type" || fail "assets not grouped by type: $OUT"

expect_rc 0 "inventory show --asset" opra inventory show --asset db-cluster-1 --json
expect_out_json 'd["asset"]["name"] == "db-cluster-1" and sorted(s["name"] for s in d["services"]) == ["billing", "claims"]' "asset -> services JSON (what breaks if it fails)"
expect_rc 0 "inventory show --asset (human)" opra inventory show --asset db-cluster-1
expect_in "$OUT" "if it fails, 2 services are affected" "human asset tree"
expect_in "$OUT" "high" "human asset tree shows criticality"
expect_rc 0 "inventory show --asset of an unlinked asset" opra inventory show --asset dublin-dc --json
expect_out_json 'd["services"] == []' "an unlinked asset supports nothing"

expect_rc 0 "inventory show (every service)" opra inventory show --json
expect_out_json 'isinstance(d, list) and {t["service"]["name"] for t in d} == {"claims", "billing", "payroll"} and all(set(t) == {"service", "assets"} for t in d)' "every service JSON"
expect_rc 0 "inventory show (every service, human)" opra inventory show
expect_in "$OUT" "service payroll" "human: every service"
expect_in "$OUT" "no assets" "human: a service without assets says so"
expect_rc 3 "inventory show of a missing service" opra inventory show nosuch
expect_rc 3 "inventory show of a missing asset" opra inventory show --asset nosuch
expect_rc 2 "inventory show SERVICE --asset" opra inventory show claims --asset db-cluster-1

expect_rc 0 "unlink" opra service unlink claims claims-data --json
expect_out_json 'd == {"service": "claims", "changed": 1, "unchanged": 0}' "unlink JSON"
expect_rc 0 "unlink again" opra service unlink claims claims-data --json
expect_out_json 'd["changed"] == 0 and d["unchanged"] == 1' "unlinking a missing link is unchanged"
expect_rc 3 "unlink a missing asset" opra service unlink claims no-such-asset db-cluster-1
expect_rc 0 "claims after the failed unlink" opra inventory show claims --json
expect_out_json 'sorted(a["name"] for a in d["assets"]) == ["claims-team", "db-cluster-1"]' "a failed unlink unlinks nothing"

# --- updates: only the flags given change --------------------------------------
expect_rc 0 "unit update --site" opra unit update emea --site cork --json
expect_out_json 'd["site"] == "cork" and d["parent"] is None and d["version"] == 2' "unit update changes only the site"
expect_rc 0 "service update --criticality" opra service update claims --criticality medium --json
expect_out_json 'd["criticality"] == "medium" and d["mission"] == "Pay valid claims within 10 days" and d["unit"] == "emea" and d["version"] == 2' "service update keeps the mission"
expect_rc 0 "service update --mission \"\" clears it" opra service update claims --mission "" --json
expect_out_json 'd["mission"] is None and d["criticality"] == "medium"' "the mission is cleared"
expect_rc 0 "asset update --owner" opra asset update db-cluster-1 --owner ops --json
expect_out_json 'd["owner"] == "ops" and d["tags"] == ["pci", "prod"] and d["type"] == "technology" and d["unit"] == "emea" and d["description"] == "primary claims database" and d["version"] == 2' "asset update keeps the other fields"
expect_rc 0 "asset update --tag replaces the tags" opra asset update db-cluster-1 --tag gold --tag dr --json
expect_out_json 'd["tags"] == ["gold", "dr"] and d["owner"] == "ops"' "tags replaced"
expect_rc 0 "asset update --no-tags" opra asset update db-cluster-1 --no-tags --json
expect_out_json 'd["tags"] == []' "tags cleared"
expect_rc 0 "asset update --no-unit" opra asset update claims-data --no-unit --json
expect_out_json 'd["unit"] is None and d["type"] == "information"' "unit cleared"
expect_rc 0 "asset update --type" opra asset update claims-data --type technology --json
expect_out_json 'd["type"] == "technology"' "type changed"
expect_rc 0 "asset update (human)" opra asset update claims-data --owner records
expect_in "$OUT" "updated asset claims-data (version" "human update"
expect_rc 2 "an update without changes is a usage error" opra asset update claims-data
expect_rc 2 "--unit and --no-unit together" opra asset update claims-data --unit emea --no-unit
expect_rc 2 "--parent \"\" is a usage error (use --no-parent)" opra unit update emea-ops --parent ""
expect_in "$ERR" "--no-parent" "the message points to --no-parent"
expect_rc 2 "update with an unknown criticality" opra service update claims --criticality extreme
expect_rc 2 "update with an unknown type" opra asset update claims-data --type gadget
expect_rc 2 "a non-numeric --expect-version" opra asset update claims-data --owner x --expect-version two
expect_rc 3 "update of a missing asset" opra asset update nosuch --owner x

expect_rc 0 "rename a service" opra service update billing --name billing-2 --json
expect_out_json 'd["name"] == "billing-2" and d["unit"] == "us"' "renamed"
expect_rc 3 "the old name is gone" opra service show billing
expect_rc 0 "links follow the rename" opra inventory show billing-2 --json
expect_out_json '[a["name"] for a in d["assets"]] == ["db-cluster-1"]' "renamed service keeps its assets"
expect_rc 0 "move a service to another unit" opra service update billing-2 --unit us-east --json
expect_out_json 'd["unit"] == "us-east"' "service moved"

# Optimistic concurrency: a stale version exits 5 with current_version.
run opra asset show db-cluster-1 --json
ver=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["version"])' "$OUT")
expect_rc 5 "a stale --expect-version is a conflict" opra asset update db-cluster-1 --owner late --expect-version 1 --json
expect_out_json "d['error']['code'] == 'ABORTED' and d['error']['details']['current_version'] == $ver" "the JSON error carries current_version"
expect_rc 0 "asset unchanged after the stale update" opra asset show db-cluster-1 --json
expect_out_json "d['owner'] == 'ops' and d['version'] == $ver" "the stale update changed nothing"
expect_rc 0 "the current --expect-version works" opra asset update db-cluster-1 --owner late --expect-version "$ver" --json
expect_out_json "d['owner'] == 'late' and d['version'] == $ver + 1" "update with the current version"
expect_rc 5 "stale unit version" opra unit update emea --site x --expect-version 1 --json
expect_out_json 'd["error"]["details"]["current_version"] == 2' "unit: current_version in details"

# --- the unit tree stays a tree ------------------------------------------------
expect_fail "a unit cannot move under its own child" opra unit update emea --parent emea-fin
if [ "$RC" -eq 5 ] || [ "$RC" -eq 6 ]; then
	pass "cycle refused as a conflict or invalid input (exit $RC)"
else
	fail "cycle: exit $RC"
fi
expect_in "$ERR" "emea" "the cycle message names the unit"
expect_in "$ERR" "emea-fin" "the cycle message names the new parent"
expect_fail "a unit cannot be its own parent" opra unit update emea --parent emea
expect_fail "a deeper cycle is refused" opra unit update us --parent us-east
expect_rc 0 "the tree after the refused moves" opra unit list --json
expect_out_json '{u["name"]: u["parent"] for u in d} == {"emea": None, "emea-fin": "emea", "emea-ops": "emea", "us": None, "us-east": "us", "scratch": None}' "the tree is unchanged"
expect_rc 0 "a legitimate move" opra unit update us-east --parent emea-ops --json
expect_out_json 'd["parent"] == "emea-ops"' "unit moved"
expect_rc 0 "--no-parent makes a root" opra unit update us-east --no-parent --json
expect_out_json 'd["parent"] is None' "unit is a root again"
expect_rc 0 "rename a unit" opra unit update scratch --name sandbox --site lab --json
expect_out_json 'd["name"] == "sandbox" and d["site"] == "lab"' "unit renamed"

# --- names that are hard to carry ------------------------------------------------
export N_UTF8='Zürich Büro — 東京 ✓'
export N_QUOTE="it's a \"quoted\" name"
export N_SQL="x'); DROP TABLE units; --"
# shellcheck disable=SC2016 # the name must reach the server unexpanded
export N_SHELL='$(touch /tmp/opra-pwned) `id` ; rm -rf / | & > < *'
for var in N_UTF8 N_QUOTE N_SQL N_SHELL; do
	name=${!var}
	expect_rc 0 "unit add $var" opra unit add "$name" --parent emea --site "$name" --json
	expect_out_json "d['name'] == os.environ['$var'] and d['site'] == os.environ['$var']" "$var unit round-trips"
	expect_rc 0 "asset add $var" opra asset add "$name" --type information --unit "$name" --owner "$name" --tag "$name" --json
	expect_out_json "d['name'] == os.environ['$var'] and d['unit'] == os.environ['$var'] and d['tags'] == [os.environ['$var']]" "$var asset round-trips"
	expect_rc 0 "service add $var" opra service add "$name" --unit "$name" --mission "$name" --json
	expect_rc 0 "link $var" opra service link "$name" "$name" --json
	expect_rc 0 "inventory show $var" opra inventory show "$name" --json
	expect_out_json "d['service']['name'] == os.environ['$var'] and [a['name'] for a in d['assets']] == [os.environ['$var']]" "$var tree round-trips"
	expect_rc 0 "asset show $var" opra asset show "$name"
	expect_in "$OUT" "$name" "$var in human output"
done
[ ! -e /tmp/opra-pwned ] && pass "no shell ran a name" || fail "a name was run by a shell"
expect_rc 0 "units still there after the SQL name" opra unit list --json
expect_out_json 'os.environ["N_SQL"] in [u["name"] for u in d] and "emea" in [u["name"] for u in d]' "the SQL name is just a name"
expect_rc 0 "inventory show of everything with odd names" opra inventory show
expect_rc 0 "human lists with odd names" opra asset list

# --- soft removal ------------------------------------------------------------------
expect_rc 0 "asset remove" opra asset remove dublin-dc --json
expect_out_json 'd["name"] == "dublin-dc" and d["removed_at"].endswith("Z")' "remove JSON"
expect_rc 0 "asset list after remove" opra asset list --json
expect_out_json '"dublin-dc" not in [a["name"] for a in d]' "a removed asset vanishes from the list"
expect_rc 0 "asset list --all" opra asset list --all --json
expect_out_json 'any(a["name"] == "dublin-dc" and a["removed"] is True and a["removed_at"].endswith("Z") for a in d)' "--all shows it as removed"
expect_rc 0 "asset list --all (human)" opra asset list --all
expect_in "$OUT" "STATE" "human --all has a state column"
expect_in "$(printf '%s\n' "$OUT" | grep dublin-dc)" "removed" "human --all marks it removed"
expect_rc 3 "removing it again" opra asset remove dublin-dc
expect_rc 0 "the name is free again" opra asset add dublin-dc --type facilities
expect_rc 3 "remove a missing asset" opra asset remove nosuch

expect_rc 0 "service remove (human)" opra service remove payroll
expect_in "$OUT" "removed service payroll" "human remove"
expect_rc 0 "service list after remove" opra service list --json
expect_out_json '"payroll" not in [s["name"] for s in d]' "a removed service vanishes"
expect_rc 0 "service list --all" opra service list --all --json
expect_out_json 'any(s["name"] == "payroll" and s["removed"] for s in d)' "service --all shows it"
expect_rc 0 "inventory show without the removed service" opra inventory show --json
expect_out_json '"payroll" not in [t["service"]["name"] for t in d]' "a removed service leaves the tree"

expect_rc 5 "a unit that still holds objects is not removed" opra unit remove emea
expect_in "$ERR" "emea-fin" "the refusal lists what the unit holds"
expect_rc 0 "unit remove" opra unit remove sandbox --json
expect_out_json 'd["name"] == "sandbox"' "unit remove JSON"
expect_rc 0 "unit list after remove" opra unit list --json
expect_out_json '"sandbox" not in [u["name"] for u in d]' "a removed unit vanishes"
expect_rc 0 "unit list --all" opra unit list --all --json
expect_out_json 'any(u["name"] == "sandbox" and u["removed"] for u in d)' "unit --all shows it"

# --- who may write where -------------------------------------------------------------
expect_rc 0 "a user scoped to emea" opra user add bob --role user --unit emea --json
expect_out_json 'd["name"] == "bob" and d["unit"] == "emea" and d["token"].startswith("opra_")' "user add --unit JSON"
BOB=$(token_of "$OUT")
expect_rc 3 "scoping to a missing unit" opra user add eve --role user --unit nowhere
expect_rc 0 "user list shows the unit" opra user list --json
expect_out_json 'any(u["name"] == "bob" and u["unit"] == "emea" for u in d) and any(u["name"] == "admin" and u["unit"] is None for u in d)' "user list JSON has unit"
expect_rc 0 "user list (human)" opra user list
expect_in "$OUT" "UNIT" "human user list has a unit column"
expect_in "$(printf '%s\n' "$OUT" | grep bob)" "emea" "human user list shows bob's unit"

expect_rc 0 "bob adds a service in emea's subtree" opra --token "$BOB" service add bob-svc --unit emea-fin --json
expect_out_json 'd["unit"] == "emea-fin"' "bob's service"
expect_rc 0 "bob adds an asset in emea" opra --token "$BOB" asset add bob-asset --type technology --unit emea
expect_rc 0 "bob links in emea" opra --token "$BOB" service link bob-svc bob-asset
expect_rc 0 "bob adds a unit under emea" opra --token "$BOB" unit add emea-new --parent emea
expect_rc 4 "bob cannot add a service outside emea" opra --token "$BOB" service add bob-us --unit us --json
expect_out_json 'd["error"]["code"] == "PERMISSION_DENIED"' "permission JSON error"
expect_rc 4 "bob cannot add a unit outside emea" opra --token "$BOB" unit add bob-unit --parent us
expect_rc 4 "bob cannot add a root unit" opra --token "$BOB" unit add bob-root
expect_rc 4 "bob cannot move a service out of emea" opra --token "$BOB" service update bob-svc --unit us
expect_rc 4 "bob cannot change a service of us" opra --token "$BOB" service update billing-2 --mission mine
expect_rc 4 "bob cannot remove a unit outside emea" opra --token "$BOB" unit remove us-east
expect_rc 0 "bob reads everything" opra --token "$BOB" service list --json
expect_out_json '"billing-2" in [s["name"] for s in d]' "bob sees services outside his unit"
expect_rc 3 "a read of a missing service is still not found for bob" opra --token "$BOB" service show bob-us

run opra user add po --role program-office --json
PO=$(token_of "$OUT")
expect_rc 0 "program office adds a root unit" opra --token "$PO" unit add apac
expect_rc 0 "program office adds a service anywhere" opra --token "$PO" service add po-svc --unit us --json
expect_rc 0 "program office updates anywhere" opra --token "$PO" service update claims --mission "po was here" --json

run opra user add robot --role automation --json
ROBOT=$(token_of "$OUT")
expect_rc 4 "automation cannot add a service" opra --token "$ROBOT" service add robot-svc --unit emea
expect_rc 4 "automation cannot add an asset" opra --token "$ROBOT" asset add robot-asset --type technology
expect_rc 0 "automation reads" opra --token "$ROBOT" asset list --json

run opra user add carol --role user --json
CAROL=$(token_of "$OUT")
expect_rc 4 "an unscoped user cannot write" opra --token "$CAROL" unit add carol-unit
expect_rc 0 "an unscoped user reads" opra --token "$CAROL" inventory show claims --json
expect_rc 4 "no token at all" env -u OPRA_TOKEN "$OPRA_BIN" --server "$OPRA_URL" unit list

# --- help and the server's health ------------------------------------------------------
for c in "unit add" "unit list" "unit show" "unit update" "unit remove" "service add" \
	"service list" "service show" "service update" "service remove" "service link" \
	"service unlink" "asset add" "asset list" "asset show" "asset update" "asset remove" \
	"inventory show"; do
	# shellcheck disable=SC2086
	run opra help $c
	[ "$RC" -eq 0 ] && printf '%s' "$OUT" | grep "^usage: opra $c" >/dev/null &&
		printf '%s' "$OUT" | grep "Exit " >/dev/null && pass "help $c" || fail "help $c: $OUT"
done
expect_rc 0 "server still answers" opra unit list --json
finish
