/* opra user add | list | revoke: users and their tokens (admin only). */
#include "cli.h"

#include "opra_err.h"

#include "opra/v1/user.pb-c.h"

#include <string.h>

/* {"name", "role", "unit", "token"}, leaving out role, unit and token when
 * NULL; an empty unit (not scoped) is null. NULL when memory runs out. */
static json_t *user_json(const char *name, const char *role, const char *unit, const char *token)
{
	json_t *doc = json_object();

	if (doc == NULL || json_object_set_new(doc, "name", out_jstr(name, false)) ||
	    (role && json_object_set_new(doc, "role", out_jstr(role, false))) ||
	    (unit && json_object_set_new(doc, "unit", out_jstr(unit, true))) ||
	    (token && json_object_set_new(doc, "token", out_jstr(token, false)))) {
		json_decref(doc);
		return NULL;
	}
	return doc;
}

int cmd_user_add(cli_ctx *ctx, const cli_args *args)
{
	Opra__V1__UserAddRequest req = OPRA__V1__USER_ADD_REQUEST__INIT;
	Opra__V1__UserAddResponse *resp = NULL;
	const char *name = args->argv[0];
	const char *role = cli_opt(args, "--role");
	const char *unit = cli_opt(args, "--unit");
	char key[33];
	int code = 0;

	/* The dispatcher has checked --role against the table's choices. */
	if (name[0] == '\0') {
		code = cli_usage(ctx, "the user name must not be empty");
		goto done;
	}
	if (unit && unit[0] == '\0') {
		code = cli_usage(ctx, "--unit needs a unit name");
		goto done;
	}
	req.name = (char *)name;
	req.role = (char *)role;
	req.unit = (char *)(unit ? unit : "");
	/* A fresh key per invocation: a retry inside rpc (or a resend of this
	 * very request) cannot create the user twice. */
	rpc_new_key(key);
	if ((code = cli_call(ctx, "opra.v1.User/Add", &req.base,
			     &opra__v1__user_add_response__descriptor, (ProtobufCMessage **)&resp,
			     key)) != 0)
		goto done;
	if (ctx->out->json) {
		code = cli_emit_json(ctx,
				     user_json(resp->name, resp->role, resp->unit, resp->token));
		goto done;
	}
	if (ctx->out->quiet) {
		/* Just the token, for TOKEN=$(opra user add ... --quiet). */
		out_put_safe(ctx->out->out, resp->token);
		fputc('\n', ctx->out->out);
		goto done;
	}
	FILE *f = ctx->out->out;
	fputs("created user ", f);
	out_put_safe(f, resp->name);
	fputs(" (role ", f);
	out_put_safe(f, resp->role);
	if (resp->unit[0]) {
		fputs(", unit ", f);
		out_put_safe(f, resp->unit);
	}
	fputs(")\ntoken: ", f);
	out_put_safe(f, resp->token);
	fputs("\nThis token is shown only once: the server keeps only a hash of it.\n"
	      "Give it to the user now; they can put it in OPRA_TOKEN or in their config\n"
	      "file (token = ..., mode 0600).\n",
	      f);
done:
	if (resp)
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	return code;
}

int cmd_user_list(cli_ctx *ctx, const cli_args *args)
{
	static const char *const headers[] = {"NAME",  "ROLE",	  "UNIT",
					      "STATE", "CREATED", "REVOKED"};
	Opra__V1__UserListRequest req = OPRA__V1__USER_LIST_REQUEST__INIT;
	Opra__V1__UserListResponse *resp = NULL;
	out_table table;
	json_t *arr = NULL;
	int code = 0;

	(void)args;
	out_table_init(&table, 6, headers);
	if ((code = cli_call(ctx, "opra.v1.User/List", &req.base,
			     &opra__v1__user_list_response__descriptor, (ProtobufCMessage **)&resp,
			     NULL)) != 0)
		goto done;
	if (ctx->out->json) {
		if ((arr = json_array()) == NULL)
			goto oom;
		for (size_t i = 0; i < resp->n_users; i++) {
			const Opra__V1__UserInfo *u = resp->users[i];
			json_t *o = user_json(u->name, u->role, u->unit, NULL);
			if (o == NULL || json_array_append_new(arr, o) ||
			    json_object_set_new(o, "revoked", json_boolean(u->revoked)) ||
			    json_object_set_new(o, "created_at", out_jstr(u->created_at, true)) ||
			    json_object_set_new(o, "revoked_at", out_jstr(u->revoked_at, true)))
				goto oom;
		}
		code = cli_emit_json(ctx, arr);
		arr = NULL;
		goto done;
	}
	for (size_t i = 0; i < resp->n_users; i++) {
		const Opra__V1__UserInfo *u = resp->users[i];
		const char *row[6] = {u->name,
				      u->role,
				      u->unit[0] ? u->unit : NULL,
				      u->revoked ? "revoked" : "active",
				      u->created_at[0] ? u->created_at : NULL,
				      u->revoked_at[0] ? u->revoked_at : NULL};
		if (out_table_add(&table, row) != OPRA_OK)
			goto oom;
	}
	if (resp->n_users == 0)
		out_note(ctx->out, "no users\n");
	else
		out_table_print(ctx->out, &table);
	goto done;
oom:
	code = out_error(ctx->out, OPRA_RESOURCE_EXHAUSTED, "out of memory", NULL);
done:
	json_decref(arr);
	out_table_free(&table);
	if (resp)
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	return code;
}

int cmd_user_revoke(cli_ctx *ctx, const cli_args *args)
{
	Opra__V1__UserRevokeRequest req = OPRA__V1__USER_REVOKE_REQUEST__INIT;
	Opra__V1__UserRevokeResponse *resp = NULL;
	const char *name = args->argv[0];
	char key[33];
	int code = 0;

	if (name[0] == '\0') {
		code = cli_usage(ctx, "the user name must not be empty");
		goto done;
	}
	req.name = (char *)name;
	rpc_new_key(key);
	if ((code = cli_call(ctx, "opra.v1.User/Revoke", &req.base,
			     &opra__v1__user_revoke_response__descriptor,
			     (ProtobufCMessage **)&resp, key)) != 0)
		goto done;
	if (ctx->out->json) {
		json_t *doc = user_json(resp->name, NULL, NULL, NULL);
		if (doc &&
		    json_object_set_new(doc, "revoked_at", out_jstr(resp->revoked_at, true)) == 0) {
			code = cli_emit_json(ctx, doc);
		} else {
			json_decref(doc);
			code = out_error(ctx->out, OPRA_RESOURCE_EXHAUSTED, "out of memory", NULL);
		}
		goto done;
	}
	if (!ctx->out->quiet) {
		FILE *f = ctx->out->out;
		fputs("revoked user ", f);
		out_put_safe(f, resp->name);
		if (resp->revoked_at[0]) {
			fputs(" at ", f);
			out_put_safe(f, resp->revoked_at);
		}
		fputc('\n', f);
	}
done:
	if (resp)
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	return code;
}
