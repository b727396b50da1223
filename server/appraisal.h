/* What every appraisal-scoped handler shares (svc_appraisal.c,
 * svc_evidence.c, svc_events.c, and the rating services later): finding an
 * appraisal by name or id, checking the caller's per-appraisal role,
 * resolving practices and instances within its scope, and appending events
 * to its hash chain.
 *
 * Authorisation is two-level: the method row's global roles
 * (method_impl.roles), then the member role checked here. Admin and
 * program-office callers read every appraisal without being members; they
 * write only where the method allows it (APPR_STAFF_WRITES). Non-members get
 * PERMISSION_DENIED naming the appraisal and what role would be needed. */
#ifndef OPRA_APPRAISAL_H
#define OPRA_APPRAISAL_H

#include "method.h"

/* Member roles as bits, so a check can allow several. */
enum {
	MEMBER_LEAD = 1u << 0,
	MEMBER_APPRAISER = 1u << 1,
	MEMBER_VIEWER = 1u << 2,
	MEMBER_AUTOMATION = 1u << 3,
};
#define MEMBERS_READ   (MEMBER_LEAD | MEMBER_APPRAISER | MEMBER_VIEWER)
#define MEMBERS_SUBMIT (MEMBER_LEAD | MEMBER_APPRAISER | MEMBER_AUTOMATION)
#define MEMBERS_DECIDE (MEMBER_LEAD | MEMBER_APPRAISER)

/* "lead" -> MEMBER_LEAD; 0 when not a member role name. */
unsigned member_role_from_name(const char *name);
/* MEMBER_LEAD -> "lead"; "" for 0. */
const char *member_role_name(unsigned role);

/* appraisal_open flags */
#define APPR_WRITE	  0x1u /* the call changes the appraisal: refused once sealed */
#define APPR_STAFF_READS  0x2u /* admin and program-office pass without membership */
#define APPR_STAFF_WRITES 0x4u /* ... also for this change (scope, members, targets) */
#define APPR_LOCK	  0x8u /* SELECT ... FOR UPDATE the appraisal row */

#define APPRAISAL_NAME_MAX 128

typedef struct {
	long long id;
	char name[APPRAISAL_NAME_MAX + 1];
	int sealed;
	unsigned my_role; /* the caller's MEMBER_* bit, 0 when not a member */
	int target_level;
	int affirmation_coverage;
} appraisal_ref;

/* Finds the appraisal (name, or decimal id) and checks that the caller's
 * member role is one of `need` (MEMBER_* bits) or that the caller is staff
 * (admin, program-office) and flags allow staff. Errors: NOT_FOUND (no
 * such appraisal), PERMISSION_DENIED (not a member / wrong role, naming the
 * roles that may), FAILED_PRECONDITION (APPR_WRITE on a sealed appraisal:
 * "appraisal 'X' was finalised at T; it cannot change"). */
int appraisal_open(call *c, const char *name_or_id, unsigned need, unsigned flags,
		   appraisal_ref *out);

/* A practice of the appraisal's scope: "ADM:SG1.SP1" (case-insensitive),
 * or "MODEL/ADM:SG1.SP1" when the code exists in more than one model in
 * scope. Fills the practice id and its canonical full id ("ADM:SG1.SP1").
 * Errors: NOT_FOUND (no such practice in the appraisal's models),
 * INVALID_ARGUMENT (its process area is not in scope, listing how to add
 * it; or ambiguous, listing the qualified choices). */
#define PRACTICE_ID_MAX 160
int appraisal_practice(call *c, const appraisal_ref *a, const char *practice, long long *id,
		       char canonical[PRACTICE_ID_MAX + 1]);

/* An instance (service or unit scoped into the appraisal) by its name.
 * Errors: NOT_FOUND naming the appraisal's instances (or saying there are
 * none and how to add them). */
#define INSTANCE_NAME_MAX 128
int appraisal_instance(call *c, const appraisal_ref *a, const char *instance, long long *id);

/* Appends an event to the appraisal's hash chain in the current transaction
 * (SQL append_event: locks the appraisal row until commit; FAILED_PRECONDITION
 * when sealed unless `sealing`). object names what changed ("evidence 12",
 * "member alice"); before/after are JSON texts or NULL. seq may be NULL. */
int appraisal_event(call *c, const appraisal_ref *a, const char *object, const char *before_json,
		    const char *after_json, int sealing, long long *seq);

/* Open (unsealed) appraisals whose instances include this service
 * (kind "service") or unit (kind "unit"): their names, comma separated, in
 * out (truncated with ", ..."); "" when none. For the inventory's removal
 * rule. */
int appraisals_scoping(call *c, const char *kind, long long id, char *out, size_t size);

/* Checks an appraisal reference in a request before authentication: not
 * empty, a valid name of at most APPRAISAL_NAME_MAX bytes. INVALID_ARGUMENT
 * with a message that says what to give. */
int appraisal_check_name(const char *s);

#endif
