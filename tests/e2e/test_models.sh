#!/usr/bin/env bash
# Models through the real CLI: import the shipped models and OSCAL catalogs,
# list, show (with the unconfirmed marks), map, export round trip, conflicts,
# permissions, bad files, the size limit and a hostile client.
. "$(dirname "$0")/lib.sh"

: "${OPRA_SOURCE_DIR:?run through ctest (OPRA_SOURCE_DIR is not set)}"
MODELS="$OPRA_SOURCE_DIR/sql/models"
OSCAL="$OPRA_SOURCE_DIR/../shared/external/oscal/content"
PUSH="$OPRA_BUILD_DIR/tests/opra-model-push"
W="$E2E_TMP/work"
mkdir -p "$W"

# expect_out_json PYTHON-EXPR DESCRIPTION: like expect_json, on the stdout
# of the last run read from its file (a whole model is larger than one
# command-line argument may be).
expect_out_json() {
	if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if ('"$1"') else 1)' "$E2E_TMP/out" 2>/dev/null; then
		pass "$2"
	else
		fail "$2: $1 is not true for: $(head -c 300 "$E2E_TMP/out")"
	fi
}

start_oprad "$E2E_TMP/s"
export OPRA_TOKEN="$ADMIN_TOKEN"

# --- import the shipped models ---------------------------------------------
for m in cert-rmm-1.2 cmmi-svc-1.3 security-management; do
	expect_rc 0 "import $m" opra model import "$MODELS/$m.yaml" --json
	expect_out_json "d['id'] == '$m' and d['replaced'] is False and d['process_areas'] >= 1 and d['practices'] > 0" "import $m JSON"
done
expect_out_json 'd["process_areas"] == 1 and d["source_format"] == "opra"' "security-management has one process area"

expect_rc 0 "model list --json" opra model list --json
expect_out_json 'any(m["id"] == "cert-rmm-1.2" and m["process_areas"] == 26 and m["version"] == "1.2" and m["name"] for m in d)' "cert-rmm-1.2 listed with 26 process areas"
expect_out_json 'any(m["id"] == "cmmi-svc-1.3" and m["process_areas"] >= 1 for m in d)' "CMMI-SVC listed"
expect_out_json 'any(m["id"] == "security-management" and m["process_areas"] == 1 for m in d)' "security-management listed"
expect_out_json 'all(set(m) >= {"id", "name", "version", "process_areas", "short_name", "practices", "unconfirmed", "imported_at", "imported_by"} for m in d)' "list entries carry every field"
expect_out_json 'all(m["imported_by"] == "admin" and m["imported_at"].endswith("Z") for m in d)' "list records who imported and when"
LIST_BEFORE="$OUT"
expect_rc 0 "model list (human)" opra model list
expect_in "$OUT" "UNCONFIRMED" "human list has the UNCONFIRMED column"
expect_in "$OUT" "cert-rmm-1.2" "human list shows cert-rmm-1.2"

# --- show ----------------------------------------------------------------------
expect_rc 0 "model show cert-rmm-1.2 --json" opra model show cert-rmm-1.2 --json
SHOW_JSON="$OUT"
expect_out_json 'd["id"] == "cert-rmm-1.2" and len(d["process_areas"]) == 26' "show has 26 process areas"
expect_out_json 'all(pa["category"] in ("engineering", "enterprise-management", "operations-management", "process-management") for pa in d["process_areas"])' "every category is one of the four"
expect_out_json 'set(pa["category"] for pa in d["process_areas"]) == {"engineering", "enterprise-management", "operations-management", "process-management"}' "all four categories are used"
expect_out_json 'any(pa["id"] == "ADM" and pa["name"] == "Asset Definition and Management" for pa in d["process_areas"])' "ADM is Asset Definition and Management"
expect_out_json 'all(pa["goals"] and all(__import__("re").fullmatch(pa["id"] + r":SG\d+\.SP\d+(\.\d+)?", p["id"]) and p["name"] for g in pa["goals"] for p in g["practices"]) for pa in d["process_areas"])' "specific practice ids look like PA:SGn.SPm"
expect_out_json 'all(g["id"].startswith("SG") for pa in d["process_areas"] for g in pa["goals"])' "goals holds only specific goals"
expect_out_json 'all(pa["generic_goals"] and all(__import__("re").fullmatch(r"GG\d", g["id"]) and all(__import__("re").fullmatch(pa["id"] + r":GG\d\.GP\d+", p["id"]) for p in g["practices"]) for g in pa["generic_goals"]) for pa in d["process_areas"])' "generic goals hold PA:GGn.GPm practices"
expect_out_json 'any(p["id"] == "SC:GG2.GP6" for pa in d["process_areas"] for g in pa["generic_goals"] for p in g["practices"])' "SC:GG2.GP6 exists"
expect_out_json 'any(not p["confirmed"] for pa in d["process_areas"] for g in pa["goals"] for p in g["practices"]) and any(p["confirmed"] for pa in d["process_areas"] for g in pa["goals"] for p in g["practices"])' "show JSON carries confirmed and unconfirmed practices"
expect_out_json 'all(set(p) >= {"id", "name", "local_id", "statement", "subpractices", "typical_work_products", "references", "confirmed", "sources", "note"} for pa in d["process_areas"] for g in pa["goals"] for p in g["practices"])' "practices carry every field"

expect_rc 0 "model show --pa SC --json" opra model show cert-rmm-1.2 --pa SC --json
expect_out_json 'len(d["process_areas"]) == 1 and d["process_areas"][0]["id"] == "SC"' "--pa SC returns one process area"
expect_rc 0 "--pa is case-insensitive" opra model show cert-rmm-1.2 --pa sc --json
expect_out_json 'len(d["process_areas"]) == 1 and d["process_areas"][0]["id"] == "SC"' "--pa sc returns SC"
expect_rc 0 "model show --pa SC (human)" opra model show cert-rmm-1.2 --pa SC
expect_in "$OUT" "SC — Service Continuity [engineering]" "human show prints 'PA — name [category]'"
expect_in "$OUT" "SC:SG1.SP1" "human show prints full practice ids"
expect_in "$OUT" "SC:GG2.GP6" "human show prints generic practices"
expect_in "$OUT" "(unconfirmed)" "human show marks unconfirmed elements"
expect_in "$(printf '%s' "$OUT" | tail -1)" "not yet confirmed in a source" "the legend explains the mark"
expect_in "$(printf '%s' "$OUT" | tail -1)" "are unconfirmed" "the legend counts unconfirmed elements"
expect_rc 0 "model show (human, whole model)" opra model show cert-rmm-1.2
UNC=$(printf '%s' "$OUT" | grep -c '(unconfirmed)$' || true)
[ "$UNC" -gt 100 ] && pass "whole-model tree marks $UNC unconfirmed lines" || fail "only $UNC unconfirmed marks"
want=$(python3 -c 'import json,sys; print([m["unconfirmed"] for m in json.loads(sys.argv[1]) if m["id"] == "cert-rmm-1.2"][0])' "$LIST_BEFORE")
expect_in "$(printf '%s' "$OUT" | tail -1)" "; $want of the" "the legend's count matches 'model list'"
expect_rc 0 "security-management shows SM:ESG1.ESP1.2" opra model show security-management
expect_in "$OUT" "SM:ESG1.ESP1.2" "SM practice id in the tree"

expect_rc 3 "unknown model" opra model show no-such-model
expect_in "$ERR" "no model 'no-such-model'" "unknown model message"
expect_rc 3 "unknown model (JSON error)" opra model show no-such-model --json
expect_out_json 'd["error"]["code"] == "NOT_FOUND"' "unknown model JSON error"
expect_rc 3 "unknown process area" opra model show cert-rmm-1.2 --pa NOPE
expect_rc 3 "export of an unknown model" opra model export no-such-model
expect_rc 2 "show without a model is a usage error" opra model show
expect_rc 2 "bad --format is a usage error" opra model export cert-rmm-1.2 --format xml
expect_rc 4 "model list needs a token" env -u OPRA_TOKEN "$OPRA_BIN" --server "$OPRA_URL" model list
expect_rc 0 "help for model show" opra model show --help
expect_in "$OUT" "generic_goals" "show help documents the JSON fields"

# --- map -----------------------------------------------------------------------
# The shipped models carry no practice-level references, so a small model
# with a crosswalk to CERT-RMM and to a code of practice is imported first.
cat >"$W/crosswalk.yaml" <<'EOF'
opra_model: 1
id: crosswalk-test
name: Crosswalk Test
version: '1'
process_areas:
- id: XIR
  name: Crosswalk Incident Resolution
  category: service-establishment-and-delivery
  specific_goals:
  - id: SG2
    title: Address Incidents
    practices:
    - id: SP2.1
      title: Identify and Record Incidents
      references:
      - model: cert-rmm-1.2
        practice: IMC:SG2.SP1
        note: detection and reporting
      - code: ISO 27001
        ref: A.16.1.2
      - model: cert-rmm-1.2
        practice: IMC:SG9.SP9
EOF
expect_rc 0 "import the crosswalk model" opra model import "$W/crosswalk.yaml"
expect_rc 0 "map a practice with references" opra model map xir:sg2.sp2.1 --json
expect_out_json 'd["practice"] == "xir:sg2.sp2.1" and len(d["results"]) == 1 and d["results"][0]["model"] == "crosswalk-test" and d["results"][0]["practice"] == "XIR:SG2.SP2.1"' "map JSON names the practice (case-insensitive match)"
expect_out_json 'any(e.get("model") == "cert-rmm-1.2" and e.get("practice") == "IMC:SG2.SP1" and e["title"] and e["resolved"] and e["note"] == "detection and reporting" for e in d["results"][0]["maps_to"])' "maps_to shows the CERT-RMM practice with its title"
expect_out_json 'any(e.get("code") == "ISO 27001" and e.get("ref") == "A.16.1.2" and "model" not in e for e in d["results"][0]["maps_to"])' "maps_to shows the code of practice"
expect_out_json 'any(e.get("practice") == "IMC:SG9.SP9" and e["resolved"] is False for e in d["results"][0]["maps_to"])' "an unknown target is unresolved"
expect_out_json 'd["results"][0]["mapped_from"] == []' "nothing maps to it"
expect_rc 0 "map (human)" opra model map XIR:SG2.SP2.1
expect_in "$OUT" "crosswalk-test XIR:SG2.SP2.1 — Identify and Record Incidents" "human map heading"
expect_in "$OUT" "  → cert-rmm-1.2 IMC:SG2.SP1  " "human map shows → CERT-RMM practice"
expect_in "$OUT" "  → ISO 27001 A.16.1.2" "human map shows → code of practice"
expect_in "$OUT" "not on this server" "human map flags an unresolved target"
expect_rc 0 "map from the CERT-RMM side" opra model map IMC:SG2.SP1 --model cert-rmm-1.2 --json
expect_out_json 'd["results"][0]["model"] == "cert-rmm-1.2" and any(e["model"] == "crosswalk-test" and e["practice"] == "XIR:SG2.SP2.1" for e in d["results"][0]["mapped_from"])' "mapped_from shows the referencing practice"
expect_rc 0 "map from the CERT-RMM side (human)" opra model map imc:sg2.sp1
expect_in "$OUT" "  ← crosswalk-test XIR:SG2.SP2.1  Identify and Record Incidents" "human map shows ← entries"
# The shipped CMMI-SVC -> CERT-RMM crosswalk is at process-area level, unconfirmed.
expect_rc 0 "map a CMMI process area" opra model map IRP --model cmmi-svc-1.3 --json
expect_out_json 'any(e.get("process_area") == "IMC" and e["model"] == "cert-rmm-1.2" and e["confirmed"] is False and e["resolved"] for e in d["results"][0]["maps_to"])' "IRP maps to CERT-RMM IMC, marked unconfirmed"
expect_out_json 'any(e.get("process_area") == "VAR" for e in d["results"][0]["maps_to"])' "IRP maps to CERT-RMM VAR"
expect_rc 0 "map a CMMI practice" opra model map IRP:SG1.SP1.1
expect_in "$OUT" "through the process area" "a practice shows its process area's mapping"
expect_in "$OUT" "(unconfirmed)" "unconfirmed mappings are marked"
expect_rc 0 "map a CERT-RMM practice from the other side" opra model map SC:SG1.SP1 --model cert-rmm-1.2 --json
expect_out_json 'any(e["model"] == "cmmi-svc-1.3" and e.get("process_area") == "SCON" and e["via"] == "process area" for e in d["results"][0]["mapped_from"])' "SC practices are mapped from CMMI SCON"
expect_rc 3 "map of an unknown practice" opra model map XYZ:SG1.SP1
expect_rc 3 "map restricted to a model without the practice" opra model map IMC:SG2.SP1 --model cmmi-svc-1.3

# --- conflicts, replace, permissions ------------------------------------------
expect_rc 5 "importing again is a conflict" opra model import "$MODELS/cert-rmm-1.2.yaml"
expect_in "$ERR" "already exists" "conflict message"
expect_in "$ERR" "--replace" "conflict message suggests --replace"
expect_rc 0 "--replace" opra model import "$MODELS/cert-rmm-1.2.yaml" --replace --json
expect_out_json 'd["replaced"] is True and d["process_areas"] == 26' "replace JSON"
expect_rc 0 "add a user" opra user add alice --role user --json
ALICE=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["token"])' "$OUT")
expect_rc 4 "a non-admin cannot import" opra --token "$ALICE" model import "$MODELS/security-management.yaml" --replace
expect_in "$ERR" "not allowed" "permission message"
expect_rc 0 "a non-admin can list" opra --token "$ALICE" model list --json
expect_rc 0 "a non-admin can show" opra --token "$ALICE" model show security-management --json

# --- bad files -----------------------------------------------------------------
expect_rc 0 "model list before the bad imports" opra model list --json
LIST_BEFORE=$(python3 -c 'import json,sys; print(json.dumps([(m["id"], m["imported_at"], m["practices"]) for m in json.loads(sys.argv[1])]))' "$OUT")
cat >"$W/bad.yaml" <<'EOF'
opra_model: 1
id: bad-model
name: Bad Model
version: '1'
process_areas:
- id: ABC
  name: A Process Area
  category: engineering
  specific_goals:
  - id: SG1
    title: A Goal
    practices:
    - id: SP1
      title: A Practice
    - id: SP1
      title: The Same Practice Again
EOF
expect_rc 6 "a model with a duplicate practice is invalid" opra model import "$W/bad.yaml"
expect_in "$ERR" "bad.yaml:15" "the message names file:line"
expect_in "$ERR" "process area ABC, goal SG1" "the message names the element"
expect_rc 6 "invalid model (JSON error)" opra model import "$W/bad.yaml" --json
expect_out_json 'd["error"]["code"] == "INVALID_ARGUMENT" and "bad.yaml:" in d["error"]["message"]' "invalid model JSON error"
printf 'opra_model: 1\nid: broken\nname: [unclosed\n' >"$W/syntax.yaml"
expect_rc 6 "a YAML syntax error is invalid input" opra model import "$W/syntax.yaml"
expect_in "$ERR" "syntax.yaml:" "syntax error names the file and line"
expect_rc 3 "a missing file is not found" opra model import "$W/no-such-file.yaml"
expect_rc 6 "an opra file read as an OSCAL catalog" opra model import "$MODELS/security-management.yaml" --format oscal-catalog
expect_rc 2 "unknown import format" opra model import "$W/bad.yaml" --format csv
expect_rc 0 "model list after the bad imports" opra model list --json
LIST_AFTER=$(python3 -c 'import json,sys; print(json.dumps([(m["id"], m["imported_at"], m["practices"]) for m in json.loads(sys.argv[1])]))' "$OUT")
[ "$LIST_BEFORE" = "$LIST_AFTER" ] && pass "bad imports leave the model list unchanged" || fail "model list changed: $LIST_BEFORE -> $LIST_AFTER"

# --- a hostile client that skips local validation ------------------------------
for c in dangling-ref dup-pa bad-category bad-id generic-first empty-title no-model; do
	run "$PUSH" "$OPRA_URL" "$c"
	if [ "$RC" -eq 0 ] && printf '%s' "$OUT" | grep '^INVALID_ARGUMENT ' >/dev/null; then
		pass "server refuses an invalid model ($c)"
	else
		fail "server did not refuse $c: rc $RC: $OUT $ERR"
	fi
done
run env OPRA_TOKEN="$ALICE" "$PUSH" "$OPRA_URL" valid
expect_in "$OUT" "PERMISSION_DENIED" "non-admin push is PERMISSION_DENIED"
expect_rc 0 "model list after the hostile imports" opra model list --json
LIST_AFTER=$(python3 -c 'import json,sys; print(json.dumps([(m["id"], m["imported_at"], m["practices"]) for m in json.loads(sys.argv[1])]))' "$OUT")
[ "$LIST_BEFORE" = "$LIST_AFTER" ] && pass "hostile imports leave the model list unchanged" || fail "model list changed: $LIST_BEFORE -> $LIST_AFTER"
run "$PUSH" "$OPRA_URL" valid
expect_in "$OUT" "OK" "the control model is accepted"

# --- OSCAL catalogs ------------------------------------------------------------
MODERATE="$OSCAL/NIST_SP-800-53_rev5_MODERATE-baseline-resolved-profile_catalog.json"
FULL="$OSCAL/oscal-content-2021-06-a849dbc/NIST_SP-800-53_rev5_catalog.json"
if [ -f "$MODERATE" ]; then
	expect_rc 0 "import the 800-53 MODERATE baseline as an OSCAL catalog" opra model import "$MODERATE" --format oscal-catalog --json
	expect_out_json 'd["source_format"] == "oscal-catalog" and d["process_areas"] > 10 and d["practices"] > 100' "MODERATE import JSON"
	MOD_ID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' "$OUT")
	expect_rc 0 "show the MODERATE catalog" opra model show "$MOD_ID" --json
	expect_out_json 'any(pa["id"] == "AC" and pa["name"] == "Access Control" for pa in d["process_areas"]) and any(pa["id"] == "SC" for pa in d["process_areas"])' "OSCAL groups are listed as process areas"
	expect_out_json 'any(p["name"] == "Account Management" for pa in d["process_areas"] for g in pa["goals"] for p in g["practices"])' "OSCAL controls are practices"
	expect_rc 0 "show the MODERATE catalog (human)" opra model show "$MOD_ID" --pa AC
	expect_in "$OUT" "AC — Access Control" "human tree of the catalog"
else
	fail "OSCAL MODERATE catalog missing: $MODERATE"
fi
if [ -f "$FULL" ]; then
	expect_rc 0 "import the full 800-53 catalog (format guessed)" opra model import "$FULL" --json
	expect_out_json 'd["source_format"] == "oscal-catalog" and d["process_areas"] >= 18' "full catalog import JSON"
else
	fail "OSCAL catalog missing: $FULL"
fi

# --- export: round trip, atomic -o ---------------------------------------------
expect_rc 0 "export cert-rmm-1.2 to a file" opra model export cert-rmm-1.2 -o "$W/a.yaml"
expect_in "$OUT" "wrote model cert-rmm-1.2" "export says what it wrote"
[ -s "$W/a.yaml" ] && pass "export wrote a.yaml" || fail "a.yaml missing or empty"
expect_rc 0 "show before the round trip" opra model show cert-rmm-1.2 --json
SHOW_BEFORE="$OUT"
expect_rc 0 "import the export with --replace" opra model import "$W/a.yaml" --replace --json
expect_out_json 'd["replaced"] is True and d["process_areas"] == 26' "re-import JSON"
expect_rc 0 "export again" opra model export cert-rmm-1.2 -o "$W/b.yaml"
cmp -s "$W/a.yaml" "$W/b.yaml" && pass "export, import, export: files identical" || fail "round trip changed the YAML: $(diff "$W/a.yaml" "$W/b.yaml" | head -5)"
expect_rc 0 "show after the round trip" opra model show cert-rmm-1.2 --json
[ "$OUT" = "$SHOW_BEFORE" ] && pass "show JSON identical after the round trip" || fail "show JSON changed after the round trip"
expect_rc 0 "export to stdout" opra model export cert-rmm-1.2
[ "$OUT" = "$(cat "$W/a.yaml")" ] && pass "stdout export equals the file export" || fail "stdout export differs"
expect_rc 0 "export --json prints the model as JSON" opra model export cert-rmm-1.2 --json
expect_out_json 'd["id"] == "cert-rmm-1.2" and len(d["process_areas"]) == 26' "export --json is the model document"
expect_rc 0 "export --format json -o" opra model export cert-rmm-1.2 --format json -o "$W/a.json" --json
expect_out_json 'd["id"] == "cert-rmm-1.2" and d["format"] == "json" and d["bytes"] > 1000' "export -o --json summary"
expect_rc 0 "the JSON export imports again" opra model import "$W/a.json" --replace
expect_rc 0 "show after the JSON round trip" opra model show cert-rmm-1.2 --json
[ "$OUT" = "$SHOW_BEFORE" ] && pass "show JSON identical after the JSON round trip" || fail "show JSON changed after the JSON round trip"
expect_rc 3 "export into a missing directory" opra model export cert-rmm-1.2 -o "$W/missing/dir/x.yaml"
expect_in "$ERR" "does not exist" "missing directory message"
[ ! -e "$W/missing" ] && pass "no file or directory was created" || fail "export created $W/missing"
expect_rc 2 "-o naming a directory is a usage error" opra model export cert-rmm-1.2 -o "$W"
expect_in "$ERR" "-o needs a file name" "directory message"
LEFT=$(find "$W" -name '.*' -type f | wc -l)
[ "$LEFT" -eq 0 ] && pass "no temporary files left behind" || fail "$LEFT temporary files left in $W"
chmod 555 "$W" && if [ "$(id -u)" -ne 0 ]; then
	expect_rc 4 "export into a read-only directory" opra model export cert-rmm-1.2 -o "$W/ro.yaml"
	[ ! -e "$W/ro.yaml" ] && pass "no partial file in a read-only directory" || fail "ro.yaml exists"
fi
chmod 755 "$W"
echo "old content" >"$W/keep.yaml"
expect_rc 3 "a failed export leaves an existing file alone" opra model export no-such-model -o "$W/keep.yaml"
[ "$(cat "$W/keep.yaml")" = "old content" ] && pass "existing file untouched" || fail "keep.yaml was changed"

# --- the server's size limit -----------------------------------------------------
stop_oprad
start_oprad "$E2E_TMP/small" --max-message-size 65536
export OPRA_TOKEN="$ADMIN_TOKEN"
expect_rc 0 "a small model fits a 64 KiB server" opra model import "$MODELS/security-management.yaml"
expect_rc 6 "a model over the server's limit is refused before sending" opra model import "$MODELS/cert-rmm-1.2.yaml"
expect_in "$ERR" "65536" "the message names the server's limit"
expect_in "$ERR" "--max-message-size" "the message suggests --max-message-size"
expect_rc 0 "the server still answers" opra model list --json
expect_out_json '[m["id"] for m in d] == ["security-management"]' "only the small model is there"
finish
