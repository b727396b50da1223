# Program-office fixtures for the end-to-end tests (issue 8): two appraisals
# of the same scope a year apart, an appraisal spanning two sites where one
# site is weak, and a CMMI-SVC appraisal for cross-model comparisons.
# Source it after lib.sh, start oprad (start_oprad), then call
# program_fixture (about 300 opra calls; a few seconds).
#
# What program_fixture creates (all names are fixed, so tests may assert them):
#
#   models     cert-rmm-1.2 and cmmi-svc-1.3 (the shipped files)
#   units      corp (root); east (parent corp, site Columbus) and
#              west (parent corp, site Pittsburgh)
#   services   claims (unit east) and billing (unit west)
#   users      lena (role user; creates and so leads every appraisal),
#              alice (appraiser in every appraisal), vic (viewer in every
#              appraisal), po (global role program-office: sees all)
#              Tokens: PROG_LENA, PROG_ALICE, PROG_VIC, PROG_PO (admin:
#              ADMIN_TOKEN from lib.sh).
#   appraisals (every practice listed below has an accepted artifact and an
#              accepted affirmation at every instance, so coverage holds in
#              every unit's view too; affirmation coverage 50 %; labels are
#              set by alice)
#
#   ovig-2025  cert-rmm-1.2, PAs OPD RRM SC, target level 1 each,
#              instances claims + billing.
#              OPD:SG1.SP1-4 FI everywhere          -> OPD CL1 (gap 0)
#              RRM:SG1.SP1-5 FI, but RRM:SG1.SP2 PI at both instances
#                                                   -> RRM CL0, SG1 unsatisfied,
#                                                      gap 1, blocked by RRM:SG1.SP2
#              SC nothing at all                    -> SC not-rated
#   ovig-2026  same models, PAs and instances ("a year later"); OPD target 2.
#              OPD:SG1.SP1-4 FI, OPD:GG2.GP1-10 FI except OPD:GG2.GP3 PI
#                                                   -> OPD CL1, GG2 unsatisfied,
#                                                      gap 1, blocked by OPD:GG2.GP3
#              RRM:SG1.SP1-5 FI everywhere          -> RRM CL1 (gap 0): SG1 and GG1
#                                                      went unsatisfied -> satisfied
#              SC nothing                           -> SC not-rated
#   sites-2026 cert-rmm-1.2, PA RRM target 1, instances claims (east) and
#              billing (west). claims: all FI. billing: RRM:SG1.SP2 and
#              RRM:SG1.SP3 PI, the rest FI. The organisational labels of SP2
#              and SP3 need judgement (FI + PI); lena judges both LI ->
#              organisation CL1; by unit (rating show --by-unit, compare --by
#              unit): corp (both instances; the judgements apply) CL1, east
#              CL1, west CL0 with gap 1, blocked by RRM:SG1.SP2 and SP3 (the
#              weak site).
#   svc-2026   cmmi-svc-1.3, PAs SCON IRP, target 1, instance claims, nothing
#              characterised (both not-rated). SCON maps to CERT-RMM SC and IRP
#              to CERT-RMM IMC through the shipped (unconfirmed) crosswalk.
#
# PROG_APPRAISALS lists the four names. prog_evidence and prog_labels are
# reusable for more appraisals.

PROG_MODELS="${OPRA_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/sql/models"
PROG_APPRAISALS="ovig-2025 ovig-2026 sites-2026 svc-2026"

# prog_do TOKEN ARGS...: runs opra as TOKEN; on failure says what failed on
# stderr and returns 1.
prog_do() {
	local tok=$1
	shift
	if ! OPRA_TOKEN=$tok opra "$@" >"$E2E_TMP/prog.out" 2>"$E2E_TMP/prog.err"; then
		echo "program fixture: opra $* failed: $(cat "$E2E_TMP/prog.err")" >&2
		return 1
	fi
}

# prog_evidence APPRAISAL "INSTANCE..." PRACTICE...: an accepted artifact
# and an affirmation (submitted by alice) at every instance, so coverage
# also holds in every unit's view.
prog_evidence() {
	local ap=$1 insts=$2 p i
	shift 2
	for p in "$@"; do
		for i in $insts; do
			prog_do "$PROG_ALICE" evidence submit "$ap" --practice "$p" --instance "$i" \
				--kind artifact --text "artifact for $p at $i ($ap)" --quiet || return 1
			prog_do "$PROG_ALICE" evidence submit "$ap" --practice "$p" --instance "$i" \
				--kind affirmation --text "interview about $p at $i ($ap)" --quiet ||
				return 1
		done
	done
}

# prog_labels APPRAISAL "INSTANCE..." "PRACTICE/INSTANCE=VALUE..." PRACTICE...:
# alice labels every (practice, instance) FI except the listed exceptions.
prog_labels() {
	local ap=$1 insts=$2 except=" $3 " p i v e
	shift 3
	for p in "$@"; do
		for i in $insts; do
			v=FI
			for e in $except; do
				[ "${e%%=*}" = "$p/$i" ] && v=${e#*=}
			done
			prog_do "$PROG_ALICE" characterize "$ap" --practice "$p" --instance "$i" \
				--value "$v" --quiet || return 1
		done
	done
}

# prog_appraisal NAME MODELS PAS TARGET INSTANCE...: lena creates it, scopes
# the services, and adds alice (appraiser) and vic (viewer).
prog_appraisal() {
	local name=$1 models=$2 pas=$3 target=$4 i
	shift 4
	prog_do "$PROG_LENA" appraisal create "$name" --model "$models" --pa "$pas" \
		--target-level "$target" --affirmation-coverage 50 || return 1
	for i in "$@"; do
		prog_do "$PROG_LENA" appraisal scope add "$name" --service "$i" || return 1
	done
	prog_do "$PROG_LENA" appraisal member add "$name" alice --role appraiser || return 1
	prog_do "$PROG_LENA" appraisal member add "$name" vic --role viewer || return 1
}

program_fixture() {
	local a=$ADMIN_TOKEN u
	prog_do "$a" model import "$PROG_MODELS/cert-rmm-1.2.yaml" || return 1
	prog_do "$a" model import "$PROG_MODELS/cmmi-svc-1.3.yaml" || return 1
	prog_do "$a" unit add corp || return 1
	prog_do "$a" unit add east --parent corp --site Columbus || return 1
	prog_do "$a" unit add west --parent corp --site Pittsburgh || return 1
	prog_do "$a" service add claims --unit east || return 1
	prog_do "$a" service add billing --unit west || return 1
	for u in lena alice vic; do
		prog_do "$a" user add "$u" --role user --quiet || return 1
		printf -v "PROG_${u^^}" '%s' "$(cat "$E2E_TMP/prog.out")"
	done
	prog_do "$a" user add po --role program-office --quiet || return 1
	PROG_PO=$(cat "$E2E_TMP/prog.out")

	local opd="OPD:SG1.SP1 OPD:SG1.SP2 OPD:SG1.SP3 OPD:SG1.SP4"
	local rrm="RRM:SG1.SP1 RRM:SG1.SP2 RRM:SG1.SP3 RRM:SG1.SP4 RRM:SG1.SP5"
	local gg2="" n
	for n in 1 2 3 4 5 6 7 8 9 10; do gg2="$gg2 OPD:GG2.GP$n"; done

	# ovig-2025
	prog_appraisal ovig-2025 cert-rmm-1.2 OPD,RRM,SC 1 claims billing || return 1
	prog_evidence ovig-2025 "claims billing" $opd $rrm || return 1
	prog_labels ovig-2025 "claims billing" "RRM:SG1.SP2/claims=PI RRM:SG1.SP2/billing=PI" \
		$opd $rrm || return 1

	# ovig-2026: a year later, OPD's target raised to 2
	prog_appraisal ovig-2026 cert-rmm-1.2 OPD,RRM,SC 1 claims billing || return 1
	prog_do "$PROG_LENA" appraisal target ovig-2026 --pa OPD --level 2 || return 1
	prog_evidence ovig-2026 "claims billing" $opd $gg2 $rrm || return 1
	prog_labels ovig-2026 "claims billing" "OPD:GG2.GP3/claims=PI OPD:GG2.GP3/billing=PI" \
		$opd $gg2 $rrm || return 1

	# sites-2026: east strong, west weak
	prog_appraisal sites-2026 cert-rmm-1.2 RRM 1 claims billing || return 1
	prog_evidence sites-2026 "claims billing" $rrm || return 1
	prog_labels sites-2026 "claims billing" "RRM:SG1.SP2/billing=PI RRM:SG1.SP3/billing=PI" \
		$rrm || return 1
	prog_do "$PROG_LENA" judge sites-2026 --practice RRM:SG1.SP2 --value LI \
		--rationale "billing's gap is a missing sign-off; the practice is performed" || return 1
	prog_do "$PROG_LENA" judge sites-2026 --practice RRM:SG1.SP3 --value LI \
		--rationale "billing's gap is limited to one quarter's records" || return 1

	# svc-2026: another model
	prog_appraisal svc-2026 cmmi-svc-1.3 SCON,IRP 1 claims || return 1
}
