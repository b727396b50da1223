#!/usr/bin/env bash
# Loads the models shipped in sql/models/ into a running oprad. Idempotent:
# a model that is already loaded is left alone (opra exits 5 for it).
# Needs OPRA_SERVER and an admin OPRA_TOKEN (scripts/run.sh passes both);
# OPRA_BIN may name the opra binary (default: build/opra).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OPRA_BIN=${OPRA_BIN:-$ROOT/build/opra}
[ -n "${OPRA_TOKEN:-}" ] || { echo "load-models.sh: OPRA_TOKEN (an admin token) is not set" >&2; exit 2; }
status=0
for f in "$ROOT"/sql/models/*.yaml; do
	[ -e "$f" ] || continue
	set +e
	out=$("$OPRA_BIN" model import "$f" --quiet 2>&1)
	rc=$?
	set -e
	case $rc in
	0) echo "  loaded $(basename "$f")" ;;
	5) echo "  $(basename "$f"): already loaded" ;;
	*)
		echo "  $(basename "$f"): failed (exit $rc): $out" >&2
		status=1
		;;
	esac
done
exit $status
