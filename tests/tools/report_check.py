#!/usr/bin/env python3
"""Checks for tests/e2e/test_report.sh (opra report).

  report_check.py modules
      exit 0 when jsonschema, regex and PIL import; otherwise print what is
      missing and exit 1.
  report_check.py oscal SCHEMA FILE
      validates FILE against the OSCAL JSON schema. The schema's patterns use
      \\p{L} / \\p{N} classes that Python's re module does not know, so the
      "pattern" keyword is re-implemented with the `regex` module (which
      does); everything else is jsonschema's Draft 7 validator. Prints the
      first errors and exits 1 when invalid.
  report_check.py png FILE WIDTH HEIGHT COLOR...
      checks that FILE is a WIDTHxHEIGHT PNG that is not blank (enough
      non-white pixels) and that each COLOR (rrggbb) appears in it.
"""
import json
import sys


def modules():
    missing = []
    for name in ("jsonschema", "regex", "PIL"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        print("missing python modules: " + ", ".join(missing) +
              " (Debian: python3-jsonschema python3-regex python3-pil)")
        return 1
    return 0


def oscal(schema_path, path):
    import jsonschema
    import regex
    from jsonschema import validators

    def pattern(validator, patrn, instance, schema):
        if validator.is_type(instance, "string") and not regex.search(patrn, instance):
            yield jsonschema.ValidationError(
                "%r does not match %r" % (instance, patrn))

    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    base = validators.validator_for(schema)
    Validator = validators.extend(base, {"pattern": pattern})
    errors = sorted(Validator(schema).iter_errors(doc), key=lambda e: list(e.absolute_path))
    for e in errors[:10]:
        print("invalid at /%s: %s" % ("/".join(str(p) for p in e.absolute_path), e.message[:300]))
    if errors:
        print("%d schema error(s) in %s" % (len(errors), path))
        return 1
    print("valid: %s (%s)" % (path, base.__name__))
    return 0


def png(path, width, height, colors):
    from PIL import Image

    img = Image.open(path).convert("RGB")
    if img.size != (int(width), int(height)):
        print("%s is %dx%d, expected %sx%s" % (path, img.size[0], img.size[1], width, height))
        return 1
    small = img.resize((img.size[0] // 2, img.size[1] // 2))
    px = list(small.getdata())
    dark = sum(1 for p in px if sum(p) < 600)
    share = dark / len(px)
    if share < 0.01:
        print("%s looks blank: %.4f of the pixels are not white" % (path, share))
        return 1
    found = set(img.getdata())
    bad = 0
    for c in colors:
        rgb = tuple(int(c[i:i + 2], 16) for i in (0, 2, 4))
        # anti-aliasing: accept a pixel within a small distance
        if rgb not in found and not any(
                sum(abs(a - b) for a, b in zip(rgb, p)) <= 12 for p in found):
            print("%s: colour #%s not found" % (path, c))
            bad = 1
    if not bad:
        print("png ok: %s, %.3f non-white, colours %s present" % (path, share, " ".join(colors)))
    return bad


def main(argv):
    if len(argv) >= 2 and argv[1] == "modules":
        return modules()
    if len(argv) == 4 and argv[1] == "oscal":
        return oscal(argv[2], argv[3])
    if len(argv) >= 5 and argv[1] == "png":
        return png(argv[2], argv[3], argv[4], argv[5:])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
