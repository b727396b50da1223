#!/usr/bin/env python3
"""Generates the shipped model files (sql/models/*.yaml) from the research
reference (../shared/reference by default).

A developer tool, run by hand; the generated files are committed and nothing
runs this at build or run time:

    python3 scripts/gen-models.py [REFERENCE_DIR] [--out DIR]

REFERENCE_DIR defaults to ../shared/reference relative to the repository
root, --out to sql/models. The output follows the opra model file format
(docs/models.md). Every "unconfirmed: true" in the reference becomes
"confirmed: false"; nothing is made up: where the reference has no text the
element says so in its note.

The CMMI-SVC -> CERT-RMM crosswalk, which the reference gives at process
area level only, becomes process-area references on the CMMI-SVC process
areas (model: cert-rmm-1.2, process_area: ...): the seed presentation's
mapping (confirmed: false while the reference says it is not verified) and,
as separate references, the researcher's name-level observations
(confirmed: false, "name-level observation, not from a source").
"""

import argparse
import os
import re
import sys

import yaml

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CERT_RMM_FILE = "cert-rmm-v1.2.yaml"
CMMI_SVC_FILE = "cmmi-svc-related.yaml"

# The CERT-RMM category assignment (the reference's "categories" section
# carries the same lists; the generator checks that they agree).
RMM_CATEGORIES = {
    "engineering": ["ADM", "CTRL", "RRD", "RRM", "RTSE", "SC"],
    "enterprise-management": ["COMM", "COMP", "EF", "FRM", "HRM", "OTA", "RISK"],
    "operations-management": ["AM", "EC", "EXD", "ID", "IMC", "KIM", "PM", "TM", "VAR"],
    "process-management": ["MA", "MON", "OPD", "OPF"],
}

# CMMI v1.3 generic goals and practices. The reference does not list them
# (cmmi-svc-related.yaml has only a generic_goals_note), so every one is
# unconfirmed; the note says where the title comes from.
CMMI_GENERIC_NOTE = (
    "CMMI v1.3 generic goal/practice title recalled from the CMMI v1.3 text; "
    "not seen in a source in ../shared/reference (cmmi-svc-related.yaml generic_goals_note)"
)
CMMI_GENERIC_GOALS = [
    ("GG1", "Achieve Specific Goals", [("GP1.1", "Perform Specific Practices")]),
    ("GG2", "Institutionalize a Managed Process", [
        ("GP2.1", "Establish an Organizational Policy"),
        ("GP2.2", "Plan the Work"),
        ("GP2.3", "Provide Resources"),
        ("GP2.4", "Assign Responsibility"),
        ("GP2.5", "Train People"),
        ("GP2.6", "Control Work Products"),
        ("GP2.7", "Identify and Involve Relevant Stakeholders"),
        ("GP2.8", "Monitor and Control the Work"),
        ("GP2.9", "Objectively Evaluate Adherence"),
        ("GP2.10", "Review Status with Higher Level Management"),
    ]),
    ("GG3", "Institutionalize a Defined Process", [
        ("GP3.1", "Establish a Defined Process"),
        ("GP3.2", "Collect Process Related Experiences"),
    ]),
]

# The researcher's name-level observations (mapping_to_cert_rmm.
# researcher_observations), read by hand from the prose: (CMMI-SVC PA,
# CERT-RMM PA, qualifier or None, text that must appear in the observations).
# The generator refuses to run when a text is missing or when the
# observations name an "X->Y" pair that is neither here nor in the seed
# mapping, so this table cannot drift from the reference.
CMMI_NAME_LEVEL = [
    ("RSKM", "RISK", "by name and purpose", "by name and purpose RSKM corresponds most directly to RISK"),
    ("MA", "MA", "CERT-RMM MA is structurally adapted from CMMI MA",
     "Measurement and Analysis PA (MA), structurally adapted from CMMI MA"),
    ("OT", "OTA", None, "OT->OTA"),
    ("OPD", "OPD", None, "OPD->OPD"),
    ("OPF", "OPF", None, "OPF->OPF"),
    ("CAM", "TM", "TM SG5 availability/capacity", "CAM->TM (SG5 availability/capacity)"),
    ("SST", "TM", "TM SG4 change/release", "SST->TM (SG4 change/release)"),
    ("IRP", "IMC", None, "IRP->IMC"),
]
NAME_LEVEL_NOTE = "name-level observation, not from a source"
RMM_MODEL_ID = "cert-rmm-1.2"

# The Security Management pseudo process area, as the project brief (issue
# #4) gives it. None of it is in ../shared/reference.
SM_SOURCE = "project brief (issue #4 'Model catalog')"
SM_NOTE = "title from the project brief; not found in ../shared/reference"
SM_GOALS = [
    ("ESG1", "Establish a Security Management System", [
        ("ESP1.1", "Establish Security Objectives"),
        ("ESP1.2", "Establish an Approach to Threat Assessment"),
        ("ESP1.3", "Identify Security Threats"),
        ("ESP1.4", "Evaluate and Prioritize Security Threats"),
        ("ESP1.5", "Establish a Security Management Plan"),
        ("ESP1.6", "Obtain Commitment to the Security Management Plan"),
    ]),
    ("ESG2", "Provide Security", [
        ("ESP2.1", "Operate the Security Management System"),
        ("ESP2.2", "Monitor the Security Management System"),
    ]),
]
# Practices the brief says have subpractices whose text we do not have.
SM_SUBPRACTICES_MISSING = {"ESP1.2": 3}

# Patterns and limits of the model format (docs/models.md).
RE_MODEL_ID = re.compile(r"[a-z0-9][a-z0-9.-]*\Z")
RE_PA_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]*\Z")
RE_GOAL_ID = re.compile(r"[A-Za-z][A-Za-z0-9._-]*\Z")
RE_PRACTICE_ID = re.compile(r"[A-Za-z][A-Za-z0-9._()-]*\Z")
RE_CATEGORY = re.compile(r"[a-z0-9][a-z0-9-]*\Z")
RE_FULL_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]*:[A-Za-z][A-Za-z0-9._-]*\.[A-Za-z][A-Za-z0-9._()-]*\Z")
NAME_MAX = 256
TEXT_MAX = 16384


class GenError(Exception):
    pass


def die(msg):
    raise GenError(msg)


def slug(text):
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def as_list(value):
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


def join(parts, sep="; "):
    parts = [str(p).strip() for p in parts if p and str(p).strip()]
    if sep == "; ":
        parts = [p[:-1] if p.endswith(".") and not p.endswith("..") else p for p in parts]
    return sep.join(parts) if parts else None


def provenance(elem, confirmed, sources=None, notes=None, note_sep="; "):
    """Adds confirmed/sources/note to an output element (confirmed: true is
    the default and left out)."""
    if not confirmed:
        elem["confirmed"] = False
    s = join(sources or [])
    if s:
        elem["sources"] = s
    n = join(notes or [], note_sep)
    if n:
        elem["note"] = n
    return elem


def ref_confirmed(entry, where):
    """confirmed per the reference's legend: 'unconfirmed: true' is the only
    mark of an unconfirmed entry; an entry with neither mark nor sources is
    refused so a gap in the reference cannot become a silent 'confirmed'."""
    if entry.get("unconfirmed"):
        return False
    if not entry.get("sources"):
        die(f"{where}: neither 'unconfirmed: true' nor sources in the reference")
    return True


# --- CERT-RMM -----------------------------------------------------------------

def rmm_generic_goals(ref):
    out = []
    for g in ref["generic_goals"]:
        gid = g["id"]
        goal = {"id": gid, "title": g["title"]}
        provenance(goal, not g.get("unconfirmed"), as_list(g.get("sources")),
                   as_list(g.get("evidence")))
        practices = []
        for p in g["practices"]:
            m = re.fullmatch(re.escape(gid) + r"\.(GP\d+)", p["id"])
            if not m:
                die(f"generic goal {gid}: practice id {p['id']!r} is not {gid}.GPn")
            prac = {"id": m.group(1), "title": p["title"]}
            notes = as_list(p.get("evidence"))
            if p.get("cmmi_style_id"):
                notes.append(f"CMMI-style id {p['cmmi_style_id']}")
            provenance(prac, ref_confirmed(p, f"{gid}.{m.group(1)}"), as_list(p.get("sources")), notes)
            practices.append(prac)
        goal["practices"] = practices
        out.append(goal)
    return out


def rmm_category(pa):
    code = pa["code"]
    key = slug(pa["category"])
    if code not in RMM_CATEGORIES.get(key, []):
        die(f"process area {code}: category {pa['category']!r} disagrees with the seed list")
    return key


def rmm_process_area(pa):
    code = pa["code"]
    out = {"id": code, "name": pa["name"], "category": rmm_category(pa)}
    sources = as_list(pa.get("name_sources"))
    sources += ["category: " + s for s in as_list(pa.get("category_sources"))]
    notes = []
    if pa.get("category_unconfirmed"):
        notes.append(f"category '{pa['category']}' not seen in a source for this process area "
                     "(researcher's recollection, matches the project's seed list)")
    notes += as_list(pa.get("notes"))
    if not pa.get("name_sources"):
        die(f"process area {code}: no name_sources")
    provenance(out, True, sources, notes)
    goals = []
    for g in pa["specific_goals"]:
        gid = g["id"]
        goal = {"id": gid, "title": g["title"]}
        provenance(goal, ref_confirmed(g, f"{code}:{gid}"), as_list(g.get("sources")),
                   as_list(g.get("evidence")))
        practices = []
        for p in g["practices"]:
            m = re.fullmatch(re.escape(gid) + r"\.(SP\d+)", p["id"])
            if not m:
                die(f"{code}:{gid}: practice id {p['id']!r} is not {gid}.SPn")
            prac = {"id": m.group(1), "title": p["title"]}
            provenance(prac, ref_confirmed(p, f"{code}:{gid}.{m.group(1)}"),
                       as_list(p.get("sources")), as_list(p.get("evidence")))
            practices.append(prac)
        goal["practices"] = practices
        goals.append(goal)
    out["specific_goals"] = goals
    return out


def rmm_model(ref):
    meta = ref["model"]
    pas = [rmm_process_area(pa) for pa in ref["process_areas"]]
    cc = meta["confirmed_counts"]
    counts = count_confirmed(pas, rmm_generic_goals(ref))
    # The reference states its own confirmation counts; a mismatch means the
    # generator lost or invented a mark.
    expect = (cc["specific_practices_confirmed"], cc["specific_practices_total"],
              cc["specific_goals_confirmed"], cc["specific_goals_total"],
              cc["generic_practices_confirmed"], cc["generic_practices_total"])
    got = (counts["sp_ok"], counts["sp"], counts["sg_ok"], counts["sg"], counts["gp_ok"], counts["gp"])
    if expect != got:
        die(f"cert-rmm: confirmation counts {got} differ from the reference's {expect}")
    cat_ok = sum(1 for pa in ref["process_areas"] if not pa.get("category_unconfirmed"))
    if cat_ok != cc["pa_categories_confirmed"]:
        die(f"cert-rmm: {cat_ok} confirmed categories, reference says {cc['pa_categories_confirmed']}")
    notes = [
        f"Generated from ../shared/reference/{CERT_RMM_FILE}. Confirmed in a source (ID and title seen together): "
        f"{got[0]} of {got[1]} specific practices, {got[2]} of {got[3]} specific goals, "
        f"{got[4]} of {got[5]} generic practices, {cat_ok} of {len(pas)} process area categories; "
        "every other title is the researcher's recollection of the v1.1 book and is marked confirmed: false "
        "until checked against the SEI v1.2 process area documents",
        "by source: " + cc["note"],
        "v1.2 vs v1.1: " + meta["v12_vs_v11_caveat"],
        "counts: " + meta["counts_caveat"],
        "categories: " + ref["categories_note"],
    ]
    sources = as_list(meta.get("source_addresses"))
    sources += [f"{k}: {v}" for k, v in ref["sources"].items()]
    m = {
        "opra_model": 1,
        "id": "cert-rmm-1.2",
        "name": meta["name"],
        "short_name": meta["short_name"],
        "version": str(meta["version"]),
        "publisher": meta["publisher"],
        "description": (f"{meta['name']} v{meta['version']} ({meta['release_date']}): "
                        f"{len(pas)} process areas in four categories, specific goals and practices, "
                        "generic goals GG1-GG3 (capability levels 0-3). Practice ids: PA:SGn.SPm, PA:GGn.GPm."),
    }
    provenance(m, True, sources, notes, note_sep="\n")
    m["generic_goals"] = rmm_generic_goals(ref)
    m["process_areas"] = pas
    return m


def count_confirmed(pas, generic_goals):
    c = {"sp": 0, "sp_ok": 0, "sg": 0, "sg_ok": 0, "gp": 0, "gp_ok": 0}
    for pa in pas:
        for g in pa["specific_goals"]:
            c["sg"] += 1
            c["sg_ok"] += g.get("confirmed", True)
            for p in g["practices"]:
                c["sp"] += 1
                c["sp_ok"] += p.get("confirmed", True)
    for g in generic_goals:
        for p in g["practices"]:
            c["gp"] += 1
            c["gp_ok"] += p.get("confirmed", True)
    return c


# --- CMMI-SVC -----------------------------------------------------------------

def cmmi_generic_goals():
    out = []
    for gid, title, practices in CMMI_GENERIC_GOALS:
        goal = provenance({"id": gid, "title": title}, False, [], [CMMI_GENERIC_NOTE])
        goal["practices"] = [provenance({"id": pid, "title": pt}, False, [], [CMMI_GENERIC_NOTE])
                             for pid, pt in practices]
        out.append(goal)
    return out


def cmmi_mapping_notes(ref):
    section = ref["mapping_to_cert_rmm"]
    how = f"{section['source'].replace('_', ' ')}, {'verified' if section.get('verified') else 'unconfirmed'}"
    notes = {}
    for entry in section["mappings"]:
        targets = ", ".join(as_list(entry["cert_rmm"]))
        notes[entry["cmmi_svc"]] = f"maps to CERT-RMM {targets} at process area level ({how})"
    return notes


def cmmi_mapping_refs(ref, rmm_pa_ids):
    """The reference's CMMI-SVC -> CERT-RMM mapping (the seed presentation)
    as process-area references, by CMMI-SVC process area in the reference's
    order, and the set of its (CMMI-SVC, CERT-RMM) pairs. Also checks
    CMMI_NAME_LEVEL against the researcher's observations."""
    section = ref["mapping_to_cert_rmm"]
    source = section["source"]
    if source not in ref["sources"]:
        die(f"mapping_to_cert_rmm: source {source!r} is not in the reference's sources")
    source_note = f"{source.replace('_', ' ')}: {ref['sources'][source]}"
    refs = {}
    seed_pairs = set()
    for entry in section["mappings"]:
        cmmi = entry["cmmi_svc"]
        # Confirmed only when the section says verified and the entry has no
        # unconfirmed mark of its own.
        confirmed = bool(section.get("verified")) and not entry.get("unconfirmed")
        for target in as_list(entry["cert_rmm"]):
            if target not in rmm_pa_ids:
                die(f"mapping {cmmi}->{target}: {target} is not a CERT-RMM process area in the reference")
            r = {"model": RMM_MODEL_ID, "process_area": target}
            if not confirmed:
                r["confirmed"] = False
            r["note"] = source_note
            refs.setdefault(cmmi, []).append(r)
            seed_pairs.add((cmmi, target))
    observations = " ".join(as_list(section.get("researcher_observations")))
    table_pairs = set()
    for cmmi, target, qualifier, evidence in CMMI_NAME_LEVEL:
        if evidence not in observations:
            die(f"name-level observation {cmmi}->{target}: {evidence!r} not in researcher_observations")
        if target not in rmm_pa_ids:
            die(f"name-level observation {cmmi}->{target}: {target} is not a CERT-RMM process area")
        table_pairs.add((cmmi, target))
    for cmmi, target in re.findall(r"\b([A-Z]+)->([A-Z]+)\b", observations):
        if (cmmi, target) not in table_pairs and (cmmi, target) not in seed_pairs:
            die(f"researcher_observations name {cmmi}->{target}, which the generator does not know: "
                "add it to CMMI_NAME_LEVEL or to the seed mapping")
    return refs, seed_pairs


def cmmi_name_level_refs(pa_ids):
    """The name-level observations whose CMMI-SVC process area is in the
    model, by PA, and the pairs left out (PA not in the model)."""
    refs, left_out = {}, []
    for cmmi, target, qualifier, _ in CMMI_NAME_LEVEL:
        if cmmi not in pa_ids:
            left_out.append(f"{cmmi}->{target}")
            continue
        note = f"{NAME_LEVEL_NOTE} (researcher's note in ../shared/reference/{CMMI_SVC_FILE})"
        if qualifier:
            note += f"; {qualifier}"
        refs.setdefault(cmmi, []).append(
            {"model": RMM_MODEL_ID, "process_area": target, "confirmed": False, "note": note})
    return refs, left_out


def cmmi_process_area(pa, mapping, pa_refs):
    code = pa["code"]
    out = {"id": code, "name": pa["name"], "category": slug(pa["category"])}
    notes = [f"{pa['category']} process area at maturity level {pa['maturity_level']}"]
    if code in mapping:
        notes.append(mapping[code])
    notes += as_list(pa.get("notes"))
    provenance(out, ref_confirmed(pa, code), as_list(pa.get("sources")), notes)
    # The opra writer puts a process area's references before its goals.
    if pa_refs.get(code):
        out["references"] = pa_refs[code]
    goals = []
    for g in pa["specific_goals"]:
        gid = g["id"]
        goal = {"id": gid, "title": g["title"]}
        provenance(goal, ref_confirmed(g, f"{code}:{gid}"), as_list(g.get("sources")),
                   as_list(g.get("evidence")))
        practices = []
        for p in g["practices"]:
            pid = p["id"]
            if not re.fullmatch(r"SP" + re.escape(gid[2:]) + r"\.\d+", pid):
                die(f"{code}:{gid}: practice id {pid!r} is not SP{gid[2:]}.n")
            prac = {"id": pid, "title": p["title"]}
            provenance(prac, ref_confirmed(p, f"{code}:{gid}.{pid}"), as_list(p.get("sources")),
                       as_list(p.get("evidence")))
            # The reference maps at process area level only; practice-level
            # references and codes of practice are emitted only if it has them.
            refs = cmmi_practice_refs(p)
            if refs:
                prac["references"] = refs
            practices.append(prac)
        goal["practices"] = practices
        goals.append(goal)
    out["specific_goals"] = goals
    return out


def cmmi_practice_refs(p):
    refs = []
    for r in p.get("cert_rmm", []) or []:
        refs.append({"model": "cert-rmm-1.2", "practice": str(r)})
    for r in p.get("codes_of_practice", []) or []:
        refs.append({"code": str(r["code"]), "ref": str(r["ref"])})
    return refs


def cmmi_model(ref, rmm_pa_ids):
    meta = ref["model"]
    mapping = cmmi_mapping_notes(ref)
    pa_ids = [pa["code"] for pa in ref["process_areas"]]
    missing = set(mapping) - set(pa_ids)
    if missing:
        die(f"cmmi-svc: mapping names process areas not in the reference: {sorted(missing)}")
    seed_refs, _ = cmmi_mapping_refs(ref, rmm_pa_ids)
    name_refs, left_out = cmmi_name_level_refs(pa_ids)
    pa_refs = {code: seed_refs.get(code, []) + name_refs.get(code, []) for code in pa_ids}
    pas = [cmmi_process_area(pa, mapping, pa_refs) for pa in ref["process_areas"]]
    c = count_confirmed(pas, [])
    section = ref["mapping_to_cert_rmm"]
    n_seed = sum(len(v) for v in seed_refs.values())
    n_name = sum(len(v) for v in name_refs.values())
    notes = [
        f"Generated from ../shared/reference/{CMMI_SVC_FILE}. {meta['note']}",
        f"Confirmed in a source: {c['sp_ok']} of {c['sp']} specific practices, "
        f"{c['sg_ok']} of {c['sg']} specific goals; the generic goals GG1-GG3 are CMMI v1.3 titles "
        "not checked against a source (confirmed: false)",
        "published: " + str(meta["published"]),
        "representations: " + str(meta["representations"]),
        "generic goals: " + ref["generic_goals_note"],
        "CERT-RMM mapping: process area level only, as process-area references (model cert-rmm-1.2, "
        f"process_area) on each process area: {n_seed} from source {section['source']} "
        f"(verified: {str(bool(section.get('verified'))).lower()}"
        f"{'' if section.get('verified') else ', so confirmed: false'}) and {n_name} name-level observations "
        "(confirmed: false). Name-level observations for process areas not in this model, kept in this note only: "
        + (", ".join(left_out) if left_out else "none") + ". Researcher observations: "
        + " ".join(as_list(section.get("researcher_observations"))),
    ]
    m = {
        "opra_model": 1,
        "id": "cmmi-svc-1.3",
        "name": meta["name"],
        "short_name": meta["short_name"],
        "version": str(meta["version"]),
        "description": (f"{meta['name']} v{meta['version']}: the process areas related to CERT-RMM "
                        f"({', '.join(pa['id'] for pa in pas)}), with CMMI generic goals GG1-GG3. "
                        "Practice ids: PA:SGn.SPn.m, PA:GGn.GPn.m."),
    }
    provenance(m, True, [f"{k}: {v}" for k, v in ref["sources"].items()], notes, note_sep="\n")
    m["generic_goals"] = cmmi_generic_goals()
    m["process_areas"] = pas
    return m


# --- Security Management ------------------------------------------------------

def sm_model(ref_dir):
    # The reference files do not describe the pseudo process area; say so
    # rather than guess (checked here so a future reference that adds it is
    # noticed).
    for name in (CERT_RMM_FILE, CMMI_SVC_FILE):
        with open(os.path.join(ref_dir, name), encoding="utf-8") as f:
            text = f.read()
        if re.search(r"\bESG\d|\bESP\d|Security Management", text):
            die(f"{name} now mentions Security Management / ESG: update the generator to use it")
    goals = []
    for gid, title, practices in SM_GOALS:
        goal = provenance({"id": gid, "title": title}, False, [SM_SOURCE], [SM_NOTE])
        goal["practices"] = []
        for pid, pt in practices:
            notes = [SM_NOTE]
            if pid in SM_SUBPRACTICES_MISSING:
                notes.append(f"the brief gives this practice {SM_SUBPRACTICES_MISSING[pid]} subpractices; "
                             "subpractices not available in the reference")
            goal["practices"].append(provenance({"id": pid, "title": pt}, False, [SM_SOURCE], notes))
        goals.append(goal)
    pa = provenance({"id": "SM", "name": "Security Management", "category": "security-management"},
                    False, [SM_SOURCE], ["pseudo process area used next to the CMMI-SVC process areas; " + SM_NOTE])
    pa["specific_goals"] = goals
    m = {
        "opra_model": 1,
        "id": "security-management",
        "name": "Security Management",
        "short_name": "SM",
        "version": "1.0",
        "description": ("The Security Management pseudo process area (SM), appraised next to the CMMI-SVC "
                        "process areas with the CMMI generic goals GG1-GG3. Practice ids: SM:ESGn.ESPn.m, "
                        "SM:GGn.GPn.m."),
    }
    provenance(m, False, [SM_SOURCE],
               ["Not in ../shared/reference: every title comes from the project brief and is marked "
                "confirmed: false until checked against the brief's source; the generic goals are the CMMI v1.3 "
                "ones (unconfirmed, as in cmmi-svc-1.3); version 1.0 is this project's numbering"])
    m["generic_goals"] = cmmi_generic_goals()
    m["process_areas"] = [pa]
    return m


# --- checks and output --------------------------------------------------------

def check_text(where, key, value, limit):
    if not isinstance(value, str) or not value:
        die(f"{where}: {key} must be a non-empty string")
    if len(value.encode("utf-8")) > limit:
        die(f"{where}: {key} longer than {limit} bytes")
    if re.search(r"[\x00-\x08\x0b-\x1f\x7f]", value):
        die(f"{where}: {key} has a control character")


def check_prov(where, elem):
    for key in ("sources", "note"):
        if key in elem:
            check_text(where, key, elem[key], TEXT_MAX)


def check_goals(where, goals, pa_ids_practices, pa_id):
    seen = set()
    for g in goals:
        w = f"{where}, goal {g['id']}"
        if not RE_GOAL_ID.match(g["id"]) or len(g["id"]) > 32:
            die(f"{w}: bad goal id")
        if g["id"] in seen:
            die(f"{w}: duplicate goal id")
        seen.add(g["id"])
        check_text(w, "title", g["title"], NAME_MAX)
        check_prov(w, g)
        pseen = set()
        for p in g["practices"]:
            pw = f"{w}, practice {p['id']}"
            if not RE_PRACTICE_ID.match(p["id"]) or len(p["id"]) > 32:
                die(f"{pw}: bad practice id")
            if p["id"] in pseen:
                die(f"{pw}: duplicate practice id")
            pseen.add(p["id"])
            check_text(pw, "title", p["title"], NAME_MAX)
            check_prov(pw, p)
            if pa_id is not None:
                pa_ids_practices.add(f"{pa_id}:{g['id']}.{p['id']}")
            check_refs(pw, p.get("references", []))


def check_refs(where, refs):
    """Each reference is exactly one of model+practice, model+process_area,
    code+ref (docs/models.md); same-model targets are checked by
    check_model once every id is known."""
    if len(refs) > 500:
        die(f"{where}: more than 500 references")
    for i, r in enumerate(refs, 1):
        w = f"{where}, reference {i}"
        kinds = [k for k in (("model", "practice"), ("model", "process_area"), ("code", "ref"))
                 if all(key in r for key in k)]
        keys = set(r) - {"note", "confirmed"}
        if len(kinds) != 1 or keys != set(kinds[0]):
            die(f"{w}: not exactly one of model+practice, model+process_area, code+ref: {sorted(r)}")
        if "confirmed" in r and not isinstance(r["confirmed"], bool):
            die(f"{w}: confirmed must be true or false")
        if "note" in r:
            check_text(w, "note", r["note"], TEXT_MAX)
        if "model" in r and not RE_MODEL_ID.match(r["model"]):
            die(f"{w}: bad model id {r['model']!r}")
        if "practice" in r and not RE_FULL_ID.match(r["practice"]):
            die(f"{w}: reference {r['practice']!r} is not PA:GOAL.PRACTICE")
        if "process_area" in r and (not RE_PA_ID.match(r["process_area"]) or len(r["process_area"]) > 32):
            die(f"{w}: bad process area id {r['process_area']!r}")


def all_refs(m):
    for pa in m["process_areas"]:
        for r in pa.get("references", []):
            yield f"{m['id']}, process area {pa['id']}", r
        for g in pa["specific_goals"]:
            for p in g["practices"]:
                for r in p.get("references", []):
                    yield f"{m['id']}, {pa['id']}:{g['id']}.{p['id']}", r


def check_model(m):
    where = m["id"]
    if not RE_MODEL_ID.match(m["id"]) or len(m["id"]) > 64:
        die(f"{where}: bad model id")
    for key in ("name", "version"):
        check_text(where, key, m[key], NAME_MAX)
    check_prov(where, m)
    full_ids = set()
    check_goals(f"{where}, generic goals", m.get("generic_goals", []), full_ids, None)
    seen = set()
    for pa in m["process_areas"]:
        w = f"{where}, process area {pa['id']}"
        if not RE_PA_ID.match(pa["id"]) or len(pa["id"]) > 32:
            die(f"{w}: bad process area id")
        if pa["id"] in seen:
            die(f"{w}: duplicate process area id")
        seen.add(pa["id"])
        if not RE_CATEGORY.match(pa["category"]):
            die(f"{w}: bad category {pa['category']!r}")
        check_text(w, "name", pa["name"], NAME_MAX)
        check_prov(w, pa)
        check_refs(w, pa.get("references", []))
        check_goals(w, pa["specific_goals"], full_ids, pa["id"])
        for g in m.get("generic_goals", []):
            for p in g["practices"]:
                full_ids.add(f"{pa['id']}:{g['id']}.{p['id']}")
    for where_ref, r in all_refs(m):
        if r.get("model") != m["id"]:
            continue
        if "practice" in r and r["practice"] not in full_ids:
            die(f"{where_ref}: dangling reference to practice {r['practice']}")
        if "process_area" in r and r["process_area"] not in seen:
            die(f"{where_ref}: dangling reference to process area {r['process_area']}")
    return full_ids


class Dumper(yaml.SafeDumper):
    pass


def _str_presenter(dumper, data):
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


Dumper.add_representer(str, _str_presenter)


def write_model(m, out_dir, name, origin):
    full_ids = check_model(m)
    path = os.path.join(out_dir, name)
    header = (f"# {m['name']} ({m['id']}): opra model file, format version 1 (docs/models.md).\n"
              f"# GENERATED by scripts/gen-models.py from {origin}; do not edit by hand.\n"
              "# confirmed: false marks titles the reference has not seen in a source and\n"
              "# mappings (references) that no source confirms.\n")
    body = yaml.dump(m, Dumper=Dumper, sort_keys=False, allow_unicode=True, width=100,
                     default_flow_style=False)
    if yaml.safe_load(body) != m:
        die(f"{name}: YAML round trip changed the model")
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(header)
        f.write(body)
    os.replace(tmp, path)
    pas = m["process_areas"]
    n_goals = sum(len(pa["specific_goals"]) for pa in pas)
    n_sp = sum(len(g["practices"]) for pa in pas for g in pa["specific_goals"])
    n_gp = sum(len(g["practices"]) for g in m.get("generic_goals", []))
    refs = [r for _, r in all_refs(m)]
    n_pa_refs = sum(len(pa.get("references", [])) for pa in pas)
    n_unconfirmed = sum(1 for r in refs if r.get("confirmed") is False)
    print(f"{path}: {len(pas)} process areas, {n_goals} specific goals, {n_sp} specific practices, "
          f"{len(m.get('generic_goals', []))} generic goals with {n_gp} generic practices "
          f"({len(full_ids)} practice ids after instantiation); {len(refs)} references "
          f"({n_pa_refs} on process areas, {n_unconfirmed} unconfirmed)")


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("reference_dir", nargs="?",
                    default=os.path.join(REPO_ROOT, "..", "shared", "reference"))
    ap.add_argument("--out", default=os.path.join(REPO_ROOT, "sql", "models"))
    args = ap.parse_args(argv)
    try:
        with open(os.path.join(args.reference_dir, CERT_RMM_FILE), encoding="utf-8") as f:
            rmm = yaml.safe_load(f)
        with open(os.path.join(args.reference_dir, CMMI_SVC_FILE), encoding="utf-8") as f:
            svc = yaml.safe_load(f)
        os.makedirs(args.out, exist_ok=True)
        write_model(rmm_model(rmm), args.out, "cert-rmm-1.2.yaml", "../shared/reference/" + CERT_RMM_FILE)
        rmm_pa_ids = {pa["code"] for pa in rmm["process_areas"]}
        write_model(cmmi_model(svc, rmm_pa_ids), args.out, "cmmi-svc-1.3.yaml", "../shared/reference/" + CMMI_SVC_FILE)
        write_model(sm_model(args.reference_dir), args.out, "security-management.yaml",
                    "the project brief (issue #4);\n# ../shared/reference has no Security Management content")
    except (OSError, KeyError, TypeError, yaml.YAMLError, GenError) as e:
        print(f"gen-models: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
