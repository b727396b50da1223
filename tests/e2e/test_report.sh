#!/usr/bin/env bash
# opra report through the real CLI on the program-office fixture
# (lib_program.sh: ovig-2025, ovig-2026, sites-2026, svc-2026) plus a small
# appraisal with hostile names and texts:
#   html   written with -o, rendered by headless Chromium to a PNG (not blank,
#          the chart's colours present) and to a DOM (SVG bars with the right
#          levels and targets, the tables, hostile text as text)
#   csv    parsed with python's csv module: one row per cell, formula guard
#   json   its process areas equal `opra rating show --json --explain`; the
#          evidence, weaknesses, judgements and seal are all there
#   oscal  validated against the official OSCAL 1.1.3 schema (with the
#          `regex` module for the schema's \p{L} patterns:
#          tests/tools/report_check.py), UUIDs stable across exports
# and the failure cases: unwritable or missing -o directories leave nothing
# behind and keep an existing file, bad flags, not allowed, not found.
#
# Needs chromium and python3 with jsonschema, regex and PIL
# (scripts/install-deps.sh installs them). Without them the test fails
# when CI is set, and otherwise says what is missing and skips those checks.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_program.sh"

: "${OPRA_SOURCE_DIR:?run through ctest (OPRA_SOURCE_DIR is not set)}"
CHECK="$OPRA_SOURCE_DIR/tests/tools/report_check.py"
SCHEMA="$OPRA_SOURCE_DIR/../shared/external/oscal/schema/1.1.3/oscal_assessment-results_schema.json"
T=$E2E_TMP/reports
mkdir -p "$T"

# --- tools ----------------------------------------------------------------
# A python3 with jsonschema, regex and PIL (Debian's first: install-deps.sh
# installs the python3-* packages there).
PY=""
for p in /usr/bin/python3 python3; do
	if command -v "$p" >/dev/null && "$p" "$CHECK" modules >/dev/null 2>&1; then
		PY=$p
		break
	fi
done
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
missing() {
	if [ -n "${CI:-}" ]; then
		fail "$1 (CI: scripts/install-deps.sh must install it)"
	else
		echo "SKIPPED: $1; install it (scripts/install-deps.sh) to run these checks" >&2
	fi
}
[ -n "$PY" ] || missing "no python3 with jsonschema, regex and PIL ($(python3 "$CHECK" modules))"
[ -n "$CHROMIUM" ] || missing "chromium is not installed"
[ -f "$SCHEMA" ] || missing "the OSCAL schema is not at $SCHEMA"

start_oprad "$E2E_TMP/s"
program_fixture || { fail "program fixture"; finish; }

as() {
	local tok=$1
	shift
	OPRA_TOKEN=$tok opra "$@"
}
quiet() {
	run "$@"
	[ "$RC" -eq 0 ] || fail "$*: exit $RC: $ERR"
}

# --- hostile names and texts --------------------------------------------------
HOSTILE_W='<script>alert("w")</script> & "quotes" '"'"'single'"'"' =HYPERLINK("http://evil")'
# (on SC, which is not rated anyway, so the levels stay as the fixture says)
quiet as "$PROG_ALICE" weakness add ovig-2026 --practice SC:SG1.SP1 --instance claims \
	--text "$HOSTILE_W" --significant
quiet as "$PROG_ALICE" evidence submit ovig-2026 --practice RRM:SG1.SP1 --instance claims \
	--kind artifact --title '<img src=x onerror=alert(1)>' --text "hostile title" --quiet
quiet as "$ADMIN_TOKEN" service add '=cmd|'"'"' /C calc'"'"'!A0' --unit east
quiet as "$ADMIN_TOKEN" service add '+2+3' --unit west
quiet as "$PROG_LENA" appraisal create 'hostile<b>&"x"' --model cert-rmm-1.2 --pa AM \
	--description '</title><script>alert(2)</script>'
quiet as "$PROG_LENA" appraisal scope add 'hostile<b>&"x"' --service '=cmd|'"'"' /C calc'"'"'!A0' \
	--service '+2+3'
quiet as "$PROG_LENA" characterize 'hostile<b>&"x"' --practice AM:SG1.SP1 \
	--instance '=cmd|'"'"' /C calc'"'"'!A0' --value FI
quiet as "$PROG_LENA" evidence submit 'hostile<b>&"x"' --practice AM:SG1.SP1 \
	--instance '+2+3' --kind affirmation --title '@SUM(A1:A9)' --text "x" --quiet
# ovig-2025 is finalised: its report carries the seal
quiet as "$PROG_LENA" appraisal finalize ovig-2025
quiet as "$ADMIN_TOKEN" user add outsider --role user --quiet
OUTSIDER=$OUT

run as "$PROG_LENA" audit ovig-2026 --verify --json
HEAD26=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["head"])' "$OUT")
run as "$PROG_LENA" audit ovig-2025 --verify --json
HEAD25=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["head"])' "$OUT")

# --- html -----------------------------------------------------------------------
expect_rc 0 "html report of ovig-2026 by a viewer" as "$PROG_VIC" report ovig-2026 --format html \
	-o "$T/ovig-2026.html"
expect_in "$OUT" "wrote the html report of ovig-2026" "html: the summary line"
H=$(cat "$T/ovig-2026.html")
expect_in "$H" '<svg id="profile"' "html: an inline SVG capability profile"
expect_in "$H" "$HEAD26" "html: the chain head (as opra audit --verify reports it)"
expect_in "$H" '&lt;script&gt;alert(&quot;w&quot;)&lt;/script&gt; &amp; &quot;quotes&quot; &#39;single&#39;' \
	"html: the hostile weakness is escaped"
expect_in "$H" '&lt;img src=x onerror=alert(1)&gt;' "html: the hostile evidence title is escaped"
# self-contained: no scripts, no element that loads anything, references
# only inside the page (#hatch)
python3 - "$T/ovig-2026.html" >"$T/sc.log" 2>&1 <<'EOF' && pass "html: $(cat "$T/sc.log")" || fail "html: $(cat "$T/sc.log")"
import re, sys
from html.parser import HTMLParser
bad = []
class P(HTMLParser):
    def handle_starttag(self, tag, attrs):
        if tag in ("script", "img", "link", "iframe", "object", "embed", "image", "use",
                   "audio", "video", "source", "base", "form"):
            bad.append(tag)
        for k, v in attrs:
            v = v or ""
            if k in ("src", "srcset", "xlink:href", "action") or k.startswith("on"):
                bad.append(k)
            if k == "href" and not v.startswith("#"):
                bad.append("href=" + v)
            if "url(" in v and "url(#" not in v:
                bad.append(k + "=" + v)
text = open(sys.argv[1], encoding="utf-8").read()
P().feed(text)
style = "".join(re.findall(r"<style>(.*?)</style>", text, re.S))
if "@import" in style or re.search(r"url\((?!#)", style):
    bad.append("css url")
assert not bad, bad
print("self-contained: no script, no external reference")
EOF
expect_rc 0 "html report of the sealed ovig-2025 by program-office" as "$PROG_PO" report ovig-2025 \
	--format html -o "$T/ovig-2025.html"
expect_in "$(cat "$T/ovig-2025.html")" "finalised and sealed" "html: the seal status of a finalised appraisal"
expect_in "$(cat "$T/ovig-2025.html")" "$HEAD25" "html: the sealed appraisal's head"
expect_in "$(cat "$T/ovig-2025.html")" 'data-pa="RRM" data-status="rated" data-level="0" data-target="1"' \
	"html: RRM at level 0 in ovig-2025 (rated, not 'not rated')"
expect_in "$(cat "$T/ovig-2025.html")" 'class="bar zero"' "html: level 0 drawn as a stub on the axis"
expect_rc 0 "html report of an appraisal with nothing rated" as "$PROG_VIC" report svc-2026 \
	--format html -o "$T/svc-2026.html"
expect_in "$(cat "$T/svc-2026.html")" 'data-status="not-rated"' "html: not-rated process areas drawn as such"
expect_in "$ERR" "is rated yet" "nothing rated: a warning on stderr"
expect_in "$(cat "$T/svc-2026.html")" 'id="nothing-rated"' "html: nothing rated is said in the page"
expect_rc 0 "html report of the hostile appraisal" as "$PROG_LENA" report 'hostile<b>&"x"' \
	--format html -o "$T/hostile.html"
expect_in "$(cat "$T/hostile.html")" '<title>Appraisal report: hostile&lt;b&gt;&amp;&quot;x&quot;</title>' \
	"html: the hostile appraisal name is escaped in the title"
expect_in "$(cat "$T/hostile.html")" '&lt;/title&gt;&lt;script&gt;' "html: the hostile description is escaped"

if [ -n "$CHROMIUM" ]; then
	chrome() {
		timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
			--disable-background-networking --disable-component-update --disable-sync \
			--hide-scrollbars --user-data-dir="$(mktemp -d "$E2E_TMP/chrome.XXXXXX")" "$@"
	}
	chrome --screenshot="$T/ovig-2026.png" --window-size=1280,2000 "file://$T/ovig-2026.html" \
		>"$T/chrome.log" 2>&1 || true
	chrome --dump-dom "file://$T/ovig-2026.html" >"$T/ovig-2026.dom" 2>>"$T/chrome.log" || true
	chrome --dump-dom "file://$T/hostile.html" >"$T/hostile.dom" 2>>"$T/chrome.log" || true
	if [ -s "$T/ovig-2026.png" ] && [ -n "$PY" ]; then
		# green bars (target met), the blue bar (below target), the target
		# markers, the hatched not-rated bar's outline
		if "$PY" "$CHECK" png "$T/ovig-2026.png" 1280 2000 2e7d32 1565c0 d81b60 c79a00 \
			>"$T/png.log" 2>&1; then
			pass "chromium renders the html report: $(cat "$T/png.log")"
		else
			fail "the rendered page: $(cat "$T/png.log")"
		fi
	else
		fail "chromium made no screenshot: $(tail -5 "$T/chrome.log")"
	fi
	DOM=$(cat "$T/ovig-2026.dom")
	expect_in "$DOM" '<svg id="profile"' "DOM: the SVG chart is in the rendered page"
	# ovig-2026: OPD CL1 target 2, RRM CL1 target 1, SC not rated
	expect_in "$DOM" 'data-pa="OPD" data-status="rated" data-level="1" data-target="2"' \
		"DOM: OPD's bar at level 1 against target 2"
	expect_in "$DOM" 'data-pa="RRM" data-status="rated" data-level="1" data-target="1"' \
		"DOM: RRM's bar at level 1 against target 1"
	expect_in "$DOM" 'data-pa="SC" data-status="not-rated" data-level="-1"' \
		"DOM: SC not rated (not level 0)"
	expect_in "$DOM" 'class="bar not-rated"' "DOM: the not-rated bar is drawn hatched"
	for id in goals judgements weaknesses evidence levels; do
		expect_in "$DOM" "id=\"$id\"" "DOM: the $id section"
	done
	run as "$PROG_VIC" evidence list ovig-2026 --json
	n_ev=$(python3 -c 'import json,sys; print(len(json.loads(sys.argv[1])))' "$OUT")
	expect_json "{\"ev\": $n_ev}" "d['ev'] > 50" "the fixture has evidence ($n_ev items)"
	ev_rows=$(python3 -c '
import re,sys
dom=open(sys.argv[1]).read()
m=re.search(r"<table id=\"evidence\">.*?</table>", dom, re.S)
print(len(re.findall(r"<tr>", m.group(0))) - 1 if m else -1)' "$T/ovig-2026.dom")
	[ "$ev_rows" = "$n_ev" ] && pass "DOM: the evidence index has a row per item ($ev_rows)" ||
		fail "DOM: evidence rows $ev_rows, evidence list $n_ev"
	expect_in "$DOM" '&lt;script&gt;alert("w")&lt;/script&gt;' "DOM: the hostile weakness renders as text"
	if grep -q '<script' "$T/ovig-2026.dom" "$T/hostile.dom"; then
		fail "DOM: a script element appeared"
	else
		pass "DOM: no script element in either page"
	fi
	expect_in "$(cat "$T/hostile.dom")" '<title>Appraisal report: hostile&lt;b&gt;&amp;"x"</title>' \
		"DOM: the hostile appraisal name is the title's text"
fi

# --- csv -------------------------------------------------------------------------
expect_rc 0 "csv report of ovig-2026 to stdout" as "$PROG_VIC" report ovig-2026 --format csv
printf '%s' "$OUT" >"$T/ovig-2026.csv"
run as "$PROG_VIC" rating show ovig-2026 --json --explain
RATING=$OUT
printf '%s' "$RATING" >"$T/rating.json"
python3 - "$T/ovig-2026.csv" "$T/rating.json" >"$T/csv.log" 2>&1 <<'EOF' && pass "csv: $(cat "$T/csv.log")" || fail "csv: $(cat "$T/csv.log")"
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="", encoding="utf-8")))
r = json.load(open(sys.argv[2]))
cells = {(p["id"], g["id"], x["id"], i): v for p in r["process_areas"] for g in p["goals"]
         for x in g["practices"] for i, v in x["instances"].items()}
got = {(c["process_area"], c["goal"], c["practice"], c["instance"]): c["value"] for c in rows}
assert got == cells, "rows differ from rating show: %d vs %d" % (len(got), len(cells))
assert len(rows) == len(cells), "duplicate rows"
byp = {p["id"]: p for p in r["process_areas"]}
for c in rows:
    p = byp[c["process_area"]]
    want = str(p["capability_level"]) if p["status"] == "rated" else ""
    assert c["capability_level"] == want, (c, want)
w = [c for c in rows if c["practice"] == "SC:SG1.SP1" and c["instance"] == "claims"][0]
assert w["weaknesses"] == "1" and w["significant_weaknesses"] == "1", w
e = [c for c in rows if c["practice"] == "RRM:SG1.SP1" and c["instance"] == "claims"][0]
assert int(e["accepted_artifacts"]) == 2 and int(e["accepted_affirmations"]) == 1, e
print("%d rows = rating show's cells; levels, weakness and evidence counts agree" % len(rows))
EOF
head -1 "$T/ovig-2026.csv" | grep -q '^appraisal,model,process_area,' && pass "csv: header row" ||
	fail "csv: header: $(head -1 "$T/ovig-2026.csv")"
expect_rc 0 "csv report of the hostile appraisal" as "$PROG_LENA" report 'hostile<b>&"x"' --format csv \
	-o "$T/hostile.csv"
python3 - "$T/hostile.csv" >"$T/csv2.log" 2>&1 <<'EOF' && pass "csv: $(cat "$T/csv2.log")" || fail "csv: $(cat "$T/csv2.log")"
import csv, sys
raw = open(sys.argv[1], newline="", encoding="utf-8").read()
assert "\r\n" in raw, "lines must end with CRLF (RFC 4180)"
rows = list(csv.DictReader(raw.splitlines(True)))
insts = {c["instance"] for c in rows}
assert insts == {"'=cmd|' /C calc'!A0", "'+2+3"}, insts
assert all(c["appraisal"] == 'hostile<b>&"x"' for c in rows)
assert not any(v and v[0] in "=+-@" for c in rows for v in c.values()), "a cell starts a formula"
print("%d rows; formula cells guarded with a leading apostrophe, quotes round-trip" % len(rows))
EOF

# --- json ------------------------------------------------------------------------
expect_rc 0 "json report of ovig-2026 (stdout, --json)" as "$PROG_PO" report ovig-2026 --format json --json
printf '%s' "$OUT" >"$T/ovig-2026.json"
run as "$PROG_VIC" evidence list ovig-2026 --json
printf '%s' "$OUT" >"$T/evidence.json"
python3 - "$T/ovig-2026.json" "$T/rating.json" "$T/evidence.json" "$HOSTILE_W" >"$T/json.log" 2>&1 <<'EOF' && pass "json: $(cat "$T/json.log")" || fail "json: $(cat "$T/json.log")"
import json, sys
d = json.load(open(sys.argv[1]))
r = json.load(open(sys.argv[2]))
ev = json.load(open(sys.argv[3]))
for k in ("appraisal", "sealed", "head", "events", "characterisations"):
    assert d[k] == r[k], (k, d[k], r[k])
def strip(pas):
    # rating show --json has exactly these; the report may add more
    return [{k: p[k] for k in r["process_areas"][0]} | {"goals": [{k: g[k] for k in r["process_areas"][0]["goals"][0]} | {"practices": [{k: x[k] for k in r["process_areas"][0]["goals"][0]["practices"][0]} for x in g["practices"]]} for g in p["goals"]]} for p in pas]
assert strip(d["process_areas"]) == strip(r["process_areas"]), "process areas differ from rating show"
assert {(e["id"], e["sha256"]) for e in ev} == {(str(e["id"]), e["sha256"]) for e in d["evidence"]}, "evidence index differs"
assert any(w["text"] == sys.argv[4] and w["significant"] for w in d["weaknesses"]), "hostile weakness"
assert d["seal"]["sealed"] is False and d["chain"]["head"] == d["head"] and d["report"]["format_version"] == 1
assert d["appraisal_info"]["name"] == "ovig-2026" and len(d["appraisal_info"]["instances"]) == 2
print("rating document = rating show --json --explain; %d evidence items with hashes, %d weaknesses" % (len(d["evidence"]), len(d["weaknesses"])))
EOF
expect_rc 0 "json report of sites-2026 (judgements)" as "$PROG_VIC" report sites-2026 --format json
expect_json "$OUT" 'sorted(j["practice"] for j in d["judgements"]) == ["RRM:SG1.SP2", "RRM:SG1.SP3"] and all(j["rationale"] and j["value"] == "li" for j in d["judgements"])' \
	"json: the judgements with their rationale"
expect_rc 0 "json report of the sealed ovig-2025" as "$PROG_VIC" report ovig-2025 --format json
expect_json "$OUT" 'd["sealed"] is True and d["seal"]["sealed"] is True and d["seal"]["seal_intact"] is True and d["seal"]["sealed_head"] == d["head"] == "'"$HEAD25"'" and d["seal"]["sealed_by"] == "lena"' \
	"json: seal status, sealed head and who sealed"

# --- oscal -----------------------------------------------------------------------
expect_rc 0 "oscal report of ovig-2026" as "$PROG_VIC" report ovig-2026 --format oscal -o "$T/ovig-2026.oscal.json"
expect_rc 0 "oscal report of ovig-2026 again" as "$PROG_PO" report ovig-2026 --format oscal -o "$T/again.oscal.json"
expect_rc 0 "oscal report of the sealed ovig-2025" as "$PROG_VIC" report ovig-2025 --format oscal -o "$T/ovig-2025.oscal.json"
expect_rc 0 "oscal report of svc-2026 (nothing rated)" as "$PROG_VIC" report svc-2026 --format oscal -o "$T/svc-2026.oscal.json"
expect_rc 0 "oscal report of the hostile appraisal" as "$PROG_LENA" report 'hostile<b>&"x"' --format oscal -o "$T/hostile.oscal.json"
if [ -n "$PY" ] && [ -f "$SCHEMA" ]; then
	# the validator itself: the NIST example passes, a broken copy fails
	EXAMPLE="$OPRA_SOURCE_DIR/../shared/external/oscal/content/ifa_assessment-results-example.json"
	if [ -f "$EXAMPLE" ]; then
		"$PY" "$CHECK" oscal "$SCHEMA" "$EXAMPLE" >"$T/v.log" 2>&1 &&
			pass "validator accepts NIST's example assessment results" || fail "validator: $(cat "$T/v.log")"
	fi
	python3 -c '
import json,sys
d=json.load(open(sys.argv[1]))
d["assessment-results"]["results"][0]["findings"][0]["target"]["target-id"]="ADM:SG1"
d["assessment-results"]["uuid"]="not-a-uuid"
json.dump(d,open(sys.argv[2],"w"))' "$T/ovig-2026.oscal.json" "$T/broken.json"
	if "$PY" "$CHECK" oscal "$SCHEMA" "$T/broken.json" >"$T/v.log" 2>&1; then
		fail "validator accepted a document with a bad token and UUID"
	else
		pass "validator rejects a bad token (':') and a bad UUID"
	fi
	for f in ovig-2026 ovig-2025 svc-2026 hostile; do
		if "$PY" "$CHECK" oscal "$SCHEMA" "$T/$f.oscal.json" >"$T/v.log" 2>&1; then
			pass "oscal $f validates against the OSCAL 1.1.3 assessment-results schema"
		else
			fail "oscal $f: $(cat "$T/v.log")"
		fi
	done
fi
python3 - "$T/ovig-2026.oscal.json" "$T/again.oscal.json" "$T/evidence.json" "$T/rating.json" >"$T/oscal.log" 2>&1 <<'EOF' && pass "oscal: $(cat "$T/oscal.log")" || fail "oscal: $(cat "$T/oscal.log")"
import json, re, sys
a = json.load(open(sys.argv[1]))["assessment-results"]
b = json.load(open(sys.argv[2]))["assessment-results"]
ev = json.load(open(sys.argv[3]))
r = json.load(open(sys.argv[4]))
res = a["results"][0]
uuids = lambda d: re.findall(r'"uuid": "([0-9a-f-]{36})"', json.dumps(d))
assert uuids(a) == uuids(b) and len(uuids(a)) > 100, "UUIDs differ between two exports"
assert len(set(uuids(a))) == len(uuids(a)), "UUIDs are not unique"
obs = res["observations"]
assert len(obs) == len(ev), (len(obs), len(ev))
hashes = {x["uuid"]: [h["value"] for l in x["rlinks"] for h in l["hashes"] if h["algorithm"] == "SHA-256"]
          for x in a["back-matter"]["resources"] if "rlinks" in x}
got = set()
for o in obs:
    href = o["relevant-evidence"][0]["href"][1:]
    got.add(hashes[href][0])
assert got == {e["sha256"] for e in ev}, "observation hashes differ from the evidence list"
goals = {(p["id"], g["id"]): g["rating"] for p in r["process_areas"] for g in p["goals"]}
f = res["findings"]
assert len(f) == len(goals)
state = {x["target"]["target-id"]: x["target"]["status"]["state"] for x in f}
for (pa, g), rating in goals.items():
    want = "satisfied" if rating == "satisfied" else "not-satisfied"
    assert state[(pa + "_" + g).lower()] == want, (pa, g, rating)
ctl = [c["control-id"] for c in res["reviewed-controls"]["control-selections"][0]["include-controls"]]
assert ctl == ["opd", "rrm", "sc"], ctl
subj = sorted(c["title"] for c in res["local-definitions"]["components"])
assert subj == ["billing", "claims"], subj
print("%d observations with the evidence's SHA-256, %d goal findings, scope %s on %s; UUIDs stable" % (len(obs), len(f), ctl, subj))
EOF

# --- -o and bad input ----------------------------------------------------------
echo "an earlier report" >"$T/keep.html"
expect_rc 3 "a missing -o directory" as "$PROG_VIC" report ovig-2026 --format html -o "$T/no/such/dir/r.html"
expect_in "$ERR" "does not exist" "the message says the directory does not exist"
[ ! -e "$T/no" ] && pass "nothing created for a missing directory" || fail "something was created: $(ls -R "$T/no")"
expect_rc 2 "-o names a directory" as "$PROG_VIC" report ovig-2026 --format html -o "$T"
run as "$PROG_VIC" report ovig-2026 --format html -o /proc/opra-report.html
[ "$RC" -ne 0 ] && pass "-o where nothing can be written (/proc): exit $RC" ||
	fail "-o /proc/opra-report.html succeeded"
expect_in "$ERR" "/proc/opra-report.html" "the message names the path"
[ -z "$(ls -a /proc | grep opra-report || true)" ] && pass "no partial file in /proc" || fail "left in /proc"
expect_rc 3 "no such appraisal" as "$PROG_VIC" report nope --format html -o "$T/keep.html"
[ "$(cat "$T/keep.html")" = "an earlier report" ] && pass "a failed report keeps the existing file" ||
	fail "the existing file changed"
[ -z "$(find "$T" -name '.keep.html.*')" ] && pass "no temporary file left" || fail "temporary file left: $(find "$T" -name '.keep*')"
expect_rc 4 "a user who is not a member" as "$OUTSIDER" report ovig-2026 --format html -o "$T/keep.html"
[ "$(cat "$T/keep.html")" = "an earlier report" ] && pass "refused: the existing file is kept" || fail "file changed"
expect_rc 2 "no --format" as "$PROG_VIC" report ovig-2026
expect_rc 2 "an unknown --format" as "$PROG_VIC" report ovig-2026 --format pdf
expect_rc 2 "html to stdout with --json" as "$PROG_VIC" report ovig-2026 --format html --json
expect_json "$OUT" 'd["error"]["code"] == "USAGE"' "usage error as JSON"
expect_rc 0 "--json with -o prints a summary" as "$PROG_VIC" report ovig-2026 --format csv -o "$T/s.csv" --json
expect_json "$OUT" 'd["format"] == "csv" and d["path"].endswith("s.csv") and d["bytes"] > 0 and d["evidence"] > 50 and d["head"] == "'"$HEAD26"'" and d["sealed"] is False' \
	"summary JSON: format, path, bytes, evidence, head, sealed"
expect_rc 0 "help for report" opra help report
expect_in "$OUT" "--format FORMAT" "help lists --format"

finish
