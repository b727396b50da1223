#include "opra_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const status_names[OPRA_STATUS_MAX + 1] = {
	"OK",
	"CANCELLED",
	"UNKNOWN",
	"INVALID_ARGUMENT",
	"DEADLINE_EXCEEDED",
	"NOT_FOUND",
	"ALREADY_EXISTS",
	"PERMISSION_DENIED",
	"RESOURCE_EXHAUSTED",
	"FAILED_PRECONDITION",
	"ABORTED",
	"OUT_OF_RANGE",
	"UNIMPLEMENTED",
	"INTERNAL",
	"UNAVAILABLE",
	"DATA_LOSS",
	"UNAUTHENTICATED",
};

/* docs/cli.md, "Exit codes". */
static const int status_exit[OPRA_STATUS_MAX + 1] = {
	[OPRA_OK] = 0,
	[OPRA_CANCELLED] = 1,
	[OPRA_UNKNOWN] = 1,
	[OPRA_INVALID_ARGUMENT] = 6,
	[OPRA_DEADLINE_EXCEEDED] = 7,
	[OPRA_NOT_FOUND] = 3,
	[OPRA_ALREADY_EXISTS] = 5,
	[OPRA_PERMISSION_DENIED] = 4,
	[OPRA_RESOURCE_EXHAUSTED] = 7,
	[OPRA_FAILED_PRECONDITION] = 5,
	[OPRA_ABORTED] = 5,
	[OPRA_OUT_OF_RANGE] = 6,
	[OPRA_UNIMPLEMENTED] = 1,
	[OPRA_INTERNAL] = 1,
	[OPRA_UNAVAILABLE] = 7,
	[OPRA_DATA_LOSS] = 1,
	[OPRA_UNAUTHENTICATED] = 4,
};

static _Thread_local int err_code;
static _Thread_local char err_msg[OPRA_ERR_MSG_MAX];
static _Thread_local char err_details[OPRA_ERR_DETAILS_MAX];

const char *opra_status_name(int code)
{
	if (code < 0 || code > OPRA_STATUS_MAX)
		return "UNKNOWN";
	return status_names[code];
}

int opra_status_from_name(const char *name)
{
	if (name == NULL)
		return -1;
	for (int i = 0; i <= OPRA_STATUS_MAX; i++)
		if (strcmp(status_names[i], name) == 0)
			return i;
	return -1;
}

int opra_status_exit_code(int code)
{
	if (code < 0 || code > OPRA_STATUS_MAX)
		return 1;
	return status_exit[code];
}

int opra_err_set(int code, const char *fmt, ...)
{
	err_code = code;
	err_details[0] = '\0';
	if (code == OPRA_OK || fmt == NULL) {
		err_msg[0] = '\0';
		return code;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err_msg, sizeof(err_msg), fmt, ap);
	va_end(ap);
	return code;
}

void opra_err_set_details(const char *json)
{
	if (json == NULL) {
		err_details[0] = '\0';
		return;
	}
	snprintf(err_details, sizeof(err_details), "%s", json);
}

int opra_err_code(void)
{
	return err_code;
}

const char *opra_err_msg(void)
{
	return err_msg;
}

const char *opra_err_details(void)
{
	return err_details;
}

void opra_err_clear(void)
{
	err_code = OPRA_OK;
	err_msg[0] = '\0';
	err_details[0] = '\0';
}
