/* cortexctl tools, call, status and approve. */
#include "cortexctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"

/* The first sentence of a description, for a table cell. */
static void first_sentence(const char *s, char *out, size_t outlen)
{
	const char *end = s;

	while (*end && !(end[0] == '.' && (end[1] == ' ' || !end[1])))
		end++;
	snprintf(out, outlen, "%.*s", (int)(end - s), s);
}

/* What a tool may do, from its annotations: read, write or destructive. */
static const char *tool_kind(const json_t *tool)
{
	const json_t *a = json_object_get(tool, "annotations");

	if (json_is_true(json_object_get(a, "readOnlyHint")))
		return "read";
	if (json_is_false(json_object_get(a, "destructiveHint")))
		return "write";
	return "destructive";
}

int ctl_cmd_tools(struct ctl *c, const struct ctl_opts *o)
{
	static const char *const titles[] = { "NAME", "KIND", "DESCRIPTION" };
	static const size_t max[] = { 48, 11, 100 };
	struct ctl_table *t;
	json_t *tools, *tool;
	char desc[512];
	size_t i;
	int rc;

	if (o->npos)
		return ctl_fail(CTL_USAGE, "tools takes no arguments (see cortexctl tools --help)");
	if ((rc = ctl_list_tools(c, &tools)))
		return rc;
	if (o->json)
		return ctl_print_json(tools);
	t = ctl_table_new(3, titles, max);
	json_array_foreach(tools, i, tool) {
		const char *d = json_string_value(json_object_get(tool, "description"));
		const char *row[3] = { json_string_value(json_object_get(tool, "name")),
				       tool_kind(tool), desc };
		first_sentence(d ? d : "", desc, sizeof(desc));
		if (t && ctl_table_add(t, row)) {
			ctl_table_free(t);
			t = NULL;
		}
	}
	json_decref(tools);
	if (!t)
		return ctl_fail(CTL_CONN, "out of memory");
	ctl_table_print(t, stdout);
	return CTL_OK;
}

int ctl_cmd_call(struct ctl *c, const struct ctl_opts *o)
{
	json_t *args, *result = NULL;
	const json_t *sc;
	char *text;
	int rc;

	if (o->npos < 1)
		return ctl_fail(CTL_USAGE, "call needs a tool's name (see cortexctl call --help)");
	if (!(args = ctl_build_args(o->args, o->pos + 1, o->npos - 1)))
		return CTL_USAGE;
	rc = ctl_call(c, o->pos[0], args, &result);
	json_decref(args);
	if (rc)
		return rc;
	rc = json_is_true(json_object_get(result, "isError")) ? CTL_TOOL_ERROR : CTL_OK;
	if (o->json) {
		ctl_print_json(result);
		return rc;
	}
	sc = json_object_get(result, "structuredContent");
	if (!rc && sc) {
		ctl_print_json(json_incref((json_t *)sc));
	} else {
		text = ctl_result_text(result);
		fprintf(rc ? stderr : stdout, "%s%s\n", rc ? "cortexctl: " : "", text ? text : "");
		free(text);
	}
	json_decref(result);
	return rc;
}

static int print_status(const json_t *st)
{
	static const char *const titles[] = { "ADAPTER", "TOOLS", "HEALTH", "TLS", "DETAIL" };
	static const size_t max[] = { 20, 6, 8, 40, 80 };
	struct ctl_table *t = ctl_table_new(5, titles, max);
	const json_t *a, *w;
	size_t i, j;
	char n[24];

	printf("cortex-gateway %s, up %llds\n", ctl_str(st, "version", "?"),
	       (long long)json_integer_value(json_object_get(st, "uptime_s")));
	json_array_foreach(json_object_get(st, "adapters"), i, a) {
		const char *row[5] = { json_string_value(json_object_get(a, "name")), n,
				       json_string_value(json_object_get(a, "health")),
				       json_string_value(json_object_get(a, "tls")),
				       json_string_value(json_object_get(a, "detail")) };
		snprintf(n, sizeof(n), "%lld",
			 (long long)json_integer_value(json_object_get(a, "tools")));
		if (t && ctl_table_add(t, row)) {
			ctl_table_free(t);
			t = NULL;
		}
	}
	if (!t)
		return ctl_fail(CTL_CONN, "out of memory");
	ctl_table_print(t, stdout);
	json_array_foreach(json_object_get(st, "adapters"), i, a) {
		json_array_foreach(json_object_get(a, "warnings"), j, w)
			printf("warning: %s: %s\n", ctl_str(a, "name", "?"),
			       json_is_string(w) ? json_string_value(w) : "");
	}
	return CTL_OK;
}

int ctl_cmd_status(struct ctl *c, const struct ctl_opts *o)
{
	json_t *result = NULL;
	const json_t *st;
	int rc;

	if (o->npos)
		return ctl_fail(CTL_USAGE,
				"status takes no arguments (see cortexctl status --help)");
	if ((rc = ctl_call(c, "gateway_status", NULL, &result)))
		return rc;
	st = ctl_structured(result, &rc);
	if (st)
		rc = o->json ? ctl_print_json(json_incref((json_t *)st)) : print_status(st);
	json_decref(result);
	return rc;
}

int ctl_cmd_approve(struct ctl *c, const struct ctl_opts *o)
{
	json_t *args, *result = NULL;
	const json_t *r;
	int rc;

	if (o->npos != 1)
		return ctl_fail(CTL_USAGE,
				"approve takes one task id (see cortexctl approve --help)");
	if (o->deny && (!o->reason || !*o->reason))
		return ctl_fail(CTL_USAGE, "--deny needs --reason TEXT: the worker is told why");
	args = json_pack("{s:s, s:s}", "id", o->pos[0], "decision", o->deny ? "deny" : "approve");
	if (args && o->reason && json_object_set_new(args, "reason", json_string(o->reason))) {
		json_decref(args);
		args = NULL;
	}
	if (!args)
		return ctl_fail(CTL_USAGE, "the task id and --reason must be UTF-8");
	rc = ctl_call(c, "cortex_approve_task", args, &result);
	json_decref(args);
	if (rc)
		return rc;
	r = ctl_structured(result, &rc);
	if (r && o->json)
		rc = ctl_print_json(json_incref((json_t *)r));
	else if (r)
		printf("%s %s; status now %s\n", ctl_str(r, "id", "?"),
		       o->deny ? "denied" : "approved", ctl_str(r, "status", "?"));
	json_decref(result);
	return rc;
}
