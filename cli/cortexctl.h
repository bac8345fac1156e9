/* cortexctl: Cortex from a shell. main.c reads the command line and picks the command;
 * conn.c reaches the tools (a gateway over MCP, or with --local the adapters in-process,
 * local.c); commands.c and task.c are the commands; watch.c follows a task until it ends;
 * args.c turns key=value words and --args into a tool's arguments; table.c prints for people.
 *
 * Exit status, for every command: 0 ok, 1 the tool answered isError (or a followed task
 * failed or was cancelled), 2 a usage error, 3 the gateway could not be reached or used
 * (connection, authentication, protocol, timeout; with --local: the config or an adapter
 * would not start). */
#ifndef CX_CORTEXCTL_H
#define CX_CORTEXCTL_H

#include <jansson.h>
#include <stdbool.h>

#include "../common/mcp_client.h"

enum ctl_exit {
	CTL_OK = 0,
	CTL_TOOL_ERROR = 1,
	CTL_USAGE = 2,
	CTL_CONN = 3,
};

/* Everything the command line said; strings borrowed from argv. */
struct ctl_opts {
	const char *url, *token_file, *config;
	bool local, json, help, verbose;
	long timeout_s; /* a call's deadline; 0: the default */
	/* call */
	const char *args;
	/* task create, task list */
	const char *category, *title, *status;
	long priority, limit; /* 0: not given */
	bool wait;
	/* approve */
	bool deny;
	const char *reason;
	/* the words after the command's own name(s) */
	char **pos;
	int npos;
};

struct ctl;

/* Connects (or starts the adapters in-process): NULL after printing why, *code then set. */
struct ctl *ctl_open(const struct ctl_opts *o, int *code);
void ctl_close(struct ctl *c);
bool ctl_is_local(const struct ctl *c);
/* The MCP client of a remote ctl, NULL with --local. */
struct cx_mcp_client *ctl_client(struct ctl *c);

/* Every tool the caller may call (*tools a new array). CTL_OK, or an exit status printed. */
int ctl_list_tools(struct ctl *c, json_t **tools);
/* tools/call: CTL_OK with *result the CallToolResult (isError included; a new reference), or
 * an exit status printed (unknown tool: CTL_USAGE; the gateway: CTL_CONN). args borrowed. */
int ctl_call(struct ctl *c, const char *name, json_t *args, json_t **result);
/* A tool's structuredContent (borrowed), or NULL after printing the error text of an isError
 * result (*code CTL_TOOL_ERROR) or a result without it (*code CTL_CONN). */
const json_t *ctl_structured(const json_t *result, int *code);
/* The text of result's content items, joined by newlines (malloc'd, "" when none). */
char *ctl_result_text(const json_t *result);

/* obj's string member key, else dflt. */
const char *ctl_str(const json_t *obj, const char *key, const char *dflt);
/* cortexctl: MESSAGE on stderr. Returns code. */
int ctl_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* v on stdout, indented (--json output); steals v. CTL_OK. */
int ctl_print_json(json_t *v);

/* args.c: the arguments of `call`: --args (JSON, @FILE or - for stdin) merged under key=value
 * words (a value is JSON when it parses as JSON, else a string). NULL after printing why. */
json_t *ctl_build_args(const char *args_opt, char **words, int nwords);

/* The commands, each returning an exit status. */
int ctl_cmd_tools(struct ctl *c, const struct ctl_opts *o);
int ctl_cmd_call(struct ctl *c, const struct ctl_opts *o);
int ctl_cmd_status(struct ctl *c, const struct ctl_opts *o);
int ctl_cmd_approve(struct ctl *c, const struct ctl_opts *o);
int ctl_cmd_task_create(struct ctl *c, const struct ctl_opts *o);
int ctl_cmd_task_list(struct ctl *c, const struct ctl_opts *o);
int ctl_cmd_task_show(struct ctl *c, const struct ctl_opts *o);
int ctl_cmd_task_watch(struct ctl *c, const struct ctl_opts *o);

/* watch.c: follows task id until it ends, printing each change (one line, or one JSON object
 * a line with json). CTL_OK when it completed, CTL_TOOL_ERROR when it failed or was
 * cancelled; quiet prints only the final state. */
int ctl_follow_task(struct ctl *c, const char *id, bool json, bool quiet);
/* One line about a task (cortex_get_task_status's structuredContent) for people. */
void ctl_print_task_line(const json_t *task);
bool ctl_task_ended(const json_t *task);

#endif
