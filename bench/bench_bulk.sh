#!/usr/bin/env bash
# Bulk inventory import vs PostgreSQL COPY of the same rows into the same
# tables, in the same run. Called by bench/run.sh with a running oprad.
#   bench_bulk.sh BUILD_DIR SERVER_URL ADMIN_TOKEN PG_SOCKET_DIR [ASSETS SERVICES LINKS]
set -euo pipefail
build=$1 url=$2 token=$3 sock=$4
assets=${5:-100000} services=${6:-10000} links=${7:-200000}
units=10
work=$(mktemp -d /tmp/opra-bench-bulk.XXXXXX)
trap 'rm -rf "$work"; psql "host=$sock user=opra dbname=opra" -qXc "DROP DATABASE IF EXISTS bench_copy" >/dev/null 2>&1 || true' EXIT

# The same rows twice: a typed CSV for opra, per-table CSVs (with ids) for COPY.
awk -v U=$units -v S=$services -v A=$assets -v L=$links -v dir="$work" 'BEGIN {
	f = dir "/inventory.csv"
	print "kind,name,parent,site,unit,mission,criticality,type,owner,description,tags,service,asset" > f
	for (i = 1; i <= U; i++) {
		printf "unit,unit-%d,,site %d,,,,,,,,,\n", i, i > f
		printf "%d,unit-%d,site %d\n", i, i, i > (dir "/units.copy")
	}
	split("high medium low", crit, " ")
	for (i = 1; i <= S; i++) {
		u = (i % U) + 1
		printf "service,svc-%d,,,unit-%d,\"Mission of service %d, in words\",%s,,,,,,\n", i, u, i, crit[i % 3 + 1] > f
		printf "%d,svc-%d,%d,Mission of service %d in words,%s\n", i, i, u, i, crit[i % 3 + 1] > (dir "/services.copy")
	}
	split("people information technology facilities", type, " ")
	for (i = 1; i <= A; i++) {
		u = (i % U) + 1
		printf "asset,asset-%d,,,unit-%d,,,%s,owner %d,,bench;t%d,,\n", i, u, type[i % 4 + 1], i % 97, i % 7 > f
		printf "%d,asset-%d,%s,%d,owner %d,\"[\"\"bench\"\", \"\"t%d\"\"]\"\n", i, i, type[i % 4 + 1], u, i % 97, i % 7 > (dir "/assets.copy")
	}
	for (k = 0; k < L; k++) {
		s = (k % S) + 1
		a = (int(k / S) * 7919 + k) % A + 1
		printf "link,,,,,,,,,,,svc-%d,asset-%d\n", s, a > f
		printf "%d,%d\n", s, a > (dir "/links.copy")
	}
}'
# Links may repeat a (service, asset) pair: keep the distinct ones in both.
sort -u "$work/links.copy" -o "$work/links.copy"
head -1 "$work/inventory.csv" > "$work/inv.csv"
grep -v '^link,' "$work/inventory.csv" | tail -n +2 >> "$work/inv.csv"
grep '^link,' "$work/inventory.csv" | sort -u >> "$work/inv.csv"
rows=$(( $(wc -l < "$work/inv.csv") - 1 ))

# Baseline: COPY into the same tables of a fresh database with opra's schema.
psql "host=$sock user=opra dbname=opra" -qXc "DROP DATABASE IF EXISTS bench_copy" -c "CREATE DATABASE bench_copy" >/dev/null
"$build/oprad" migrate --db "host=$sock user=opra dbname=bench_copy" >/dev/null
t0=$EPOCHREALTIME
psql "host=$sock user=opra dbname=bench_copy" -qX -v ON_ERROR_STOP=1 <<SQL >/dev/null
BEGIN;
\copy units (id, name, site) FROM '$work/units.copy' WITH (FORMAT csv)
\copy services (id, name, unit_id, mission, criticality) FROM '$work/services.copy' WITH (FORMAT csv)
\copy assets (id, name, type, unit_id, owner, tags) FROM '$work/assets.copy' WITH (FORMAT csv)
\copy service_assets (service_id, asset_id) FROM '$work/links.copy' WITH (FORMAT csv)
COMMIT;
SQL
t1=$EPOCHREALTIME
# Each side starts from a clean buffer pool: COPY right after CREATE
# DATABASE's checkpoint, the import after this one (otherwise it would pay
# for writing out the pages COPY left dirty). Not timed.
psql "host=$sock user=opra dbname=opra" -qXc "CHECKPOINT" >/dev/null
t1=$EPOCHREALTIME
OPRA_SERVER=$url OPRA_TOKEN=$token "$build/opra" --timeout 600 inventory import "$work/inv.csv" --quiet >/dev/null
t2=$EPOCHREALTIME
awk -v r=$rows -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN {
	copy = b - a; imp = c - b
	printf "Bulk inventory import: %d rows (%s)\n\n", r, "units, services, assets, links"
	printf "  %-40s %8.2f s  (%9.0f rows/s)\n", "PostgreSQL COPY (baseline)", copy, r / copy
	printf "  %-40s %8.2f s  (%9.0f rows/s)\n", "opra inventory import (end to end)", imp, r / imp
	printf "  ratio: %.2fx COPY'"'"'s rows/s (goal: >= 0.5x)\n", copy / imp
	if (ENVIRON["OPRA_BENCH_SUMMARY"] != "")
		printf "bulk inventory import, %d rows, rows/s\t%.0f rows/s\t%.0f rows/s COPY\t%.2fx\t>= 0.5x\t%s\n", \
			r, r / imp, r / copy, copy / imp, (copy / imp >= 0.5 ? "met" : "NOT MET") >> ENVIRON["OPRA_BENCH_SUMMARY"]
}'
