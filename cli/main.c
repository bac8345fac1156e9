/* cortexctl: Cortex from a shell. The command line read here, once (options may come before
 * or after the command's words); each command is a row of the table below with its help. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/util.h"
#include "cortexctl.h"

extern const char cli_cortexctl_bash[];

/* The options only some commands take. */
enum {
	O_ARGS = 1 << 0,
	O_CATEGORY = 1 << 1,
	O_PRIORITY = 1 << 2,
	O_TITLE = 1 << 3,
	O_STATUS = 1 << 4,
	O_LIMIT = 1 << 5,
	O_WAIT = 1 << 6,
	O_DENY = 1 << 7,
	O_REASON = 1 << 8,
};

struct command {
	const char *group, *name; /* "task", "create"; group NULL for a top-level command */
	int (*run)(struct ctl *c, const struct ctl_opts *o);
	unsigned takes; /* O_* */
	const char *help;
};

static const struct command commands[] = {
	{ NULL, "tools", ctl_cmd_tools, 0,
	  "usage: cortexctl tools [--json]\n\n"
	  "Lists the tools you may call: name, kind (read, write or destructive, from the\n"
	  "tool's annotations) and the first sentence of its description. --json prints the\n"
	  "full tools/list entries (schemas and annotations included).\n\n"
	  "example: cortexctl tools | grep proxmox\n" },
	{ NULL, "call", ctl_cmd_call, O_ARGS,
	  "usage: cortexctl call TOOL [key=value ...] [--args JSON|@FILE|-] [--json]\n\n"
	  "Calls one tool and prints its structured result (as JSON), or its text.\n"
	  "key=value: the value is JSON when it parses as JSON (vmid=101, force=true,\n"
	  "labels='{\"a\":1}', name='\"101\"' for a string of digits), else the string as typed.\n"
	  "--args gives the whole arguments object as JSON, from a file with @FILE or from\n"
	  "stdin with -; key=value words are set on top of it. --json prints the whole MCP\n"
	  "result (content, structuredContent, isError). A tool that fails exits 1 with its\n"
	  "error on stderr.\n\n"
	  "examples: cortexctl call proxmox_list_vms node=pve1\n"
	  "          cortexctl call cortex_get_tasks --args '{\"status\": \"queued\", \"limit\": 5}'\n" },
	{ NULL, "status", ctl_cmd_status, 0,
	  "usage: cortexctl status [--json]\n\n"
	  "The gateway's version, uptime and adapters (the gateway_status tool): tools per\n"
	  "adapter, last health check, how each backend's TLS is checked, and warnings.\n"
	  "With --local no health check has run yet: health shows unknown.\n\n"
	  "example: cortexctl status\n" },
	{ NULL, "approve", ctl_cmd_approve, O_DENY | O_REASON,
	  "usage: cortexctl approve ID [--deny --reason TEXT] [--reason TEXT] [--json]\n\n"
	  "Decides a task in status awaiting_approval (cortexctl task show ID shows the held\n"
	  "action): approving lets the worker run it; --deny refuses it and needs --reason,\n"
	  "which the worker is told. The task is queued again either way.\n\n"
	  "examples: cortexctl approve task-mcp-1733130000-0001ab\n"
	  "          cortexctl approve task-mcp-1733130000-0001ab --deny --reason 'not in prod'\n" },
	{ "task", "create", ctl_cmd_task_create, O_CATEGORY | O_PRIORITY | O_TITLE | O_WAIT,
	  "usage: cortexctl task create QUERY [--category C] [--priority P] [--title T]\n"
	  "                             [--wait] [--json]\n\n"
	  "Queues one task for Cortex's workers and prints its id. --category picks the master\n"
	  "(development, security, infrastructure, inventory, cicd, general: the default);\n"
	  "--priority 1 (most urgent) to 5, default 3. --wait then follows it live until it\n"
	  "ends, as task watch does, and exits 1 when it failed or was cancelled (--json\n"
	  "--wait prints only the finished task).\n\n"
	  "example: cortexctl task create 'List the VMs on pve1 that are stopped' "
	  "--category inventory --wait\n" },
	{ "task", "list", ctl_cmd_task_list, O_STATUS | O_CATEGORY | O_LIMIT,
	  "usage: cortexctl task list [--status S] [--category C] [--limit N] [--json]\n\n"
	  "Lists tasks, newest first (at most --limit, default 50, up to 500). --status is one\n"
	  "of queued, in_progress, awaiting_approval, completed, failed, cancelled.\n\n"
	  "example: cortexctl task list --status awaiting_approval\n" },
	{ "task", "show", ctl_cmd_task_show, 0,
	  "usage: cortexctl task show ID [--json]\n\n"
	  "One task in full: query, status, times, worker, progress, a held action awaiting\n"
	  "approval, the result or error, and its subtasks.\n\n"
	  "example: cortexctl task show task-mcp-1733130000-0001ab\n" },
	{ "task", "watch", ctl_cmd_task_watch, 0,
	  "usage: cortexctl task watch ID [--json]\n\n"
	  "Follows a task until it ends, one line per change (status, worker, step, what it\n"
	  "is doing, a held action, the result); --json prints each change as one JSON object\n"
	  "a line. Against a gateway the changes arrive live (the task's resource\n"
	  "cortex://tasks/ID is subscribed); with --local the task is read every second.\n"
	  "Exits 0 when the task completed, 1 when it failed or was cancelled, 130 when\n"
	  "Ctrl-C stopped the watching (the task goes on).\n\n"
	  "example: cortexctl task watch task-mcp-1733130000-0001ab\n" },
};

static const char usage_text[] =
	"usage: cortexctl [options] COMMAND [arguments]\n\n"
	"Cortex from a shell: the tools of a Cortex gateway, and the tasks its workers run.\n\n"
	"commands:\n"
	"  tools                      the tools you may call\n"
	"  call TOOL [key=value ...]  call one tool\n"
	"  task create QUERY          queue a task (--wait to follow it)\n"
	"  task list                  list tasks\n"
	"  task show ID               one task in full\n"
	"  task watch ID              follow a task live until it ends\n"
	"  approve ID                 approve (or --deny) a task's held action\n"
	"  status                     the gateway's adapters and their health\n"
	"  completion bash            print the bash completion script\n"
	"  help [COMMAND]             this text, or a command's\n\n"
	"options (before or after the command):\n"
	"  --url URL          the gateway's MCP endpoint (else $CORTEX_GATEWAY_URL, else\n"
	"                     " CX_MCP_CLIENT_URL_DEFAULT ")\n"
	"  --token-file FILE  read the bearer token from FILE's first line (else $CORTEX_TOKEN);\n"
	"                     never give a token on the command line: others can read it\n"
	"  --local            no gateway: run the adapters of --config FILE in this process\n"
	"  --config FILE      the gateway config for --local\n"
	"  --json             JSON output for scripts\n"
	"  --timeout SECONDS  a call's deadline (default 300; with --local the config's\n"
	"                     calls.timeout_ms)\n"
	"  --verbose          with --local, the adapters' log lines on stderr\n"
	"  -h, --help         help (also after a command: cortexctl task create --help)\n"
	"  -V, --version      the version\n\n"
	"exit status: 0 ok; 1 the tool returned an error, or a followed task failed; 2 a usage\n"
	"error; 3 the gateway could not be reached or refused the token (with --local: the\n"
	"config or an adapter did not start); 130 Ctrl-C stopped task watch or --wait (the task\n"
	"goes on).\n\n"
	"example: CORTEX_TOKEN=$(cat ~/.cortex-token) cortexctl --url http://gw:8080/mcp status\n";

static const char task_usage[] =
	"usage: cortexctl task create|list|show|watch ...\n\n"
	"  task create QUERY [--category C] [--priority P] [--title T] [--wait]\n"
	"  task list [--status S] [--category C] [--limit N]\n"
	"  task show ID\n"
	"  task watch ID\n\n"
	"cortexctl task SUBCOMMAND --help says more about each.\n\n"
	"example: cortexctl task list --status in_progress\n";

static const char completion_help[] =
	"usage: cortexctl completion bash\n\n"
	"Prints the bash completion script (also installed by make install).\n\n"
	"example: source <(cortexctl completion bash)\n";

/* The option's name for messages. */
static const char *opt_name(unsigned bit)
{
	static const char *const names[] = { "--args",  "--category", "--priority",
					     "--title", "--status",   "--limit",
					     "--wait",  "--deny",     "--reason" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (bit == 1u << i)
			return names[i];
	return "?";
}

/* A number option's value, or -1 printed. */
static int number(const char *flag, const char *s, long min, long max, long *out)
{
	if (cx_parse_long(s, min, max, out))
		return ctl_fail(-1, "%s: '%s' is not a number from %ld to %ld", flag, s, min, max);
	return 0;
}

enum {
	OPT_URL = 256,
	OPT_TOKEN_FILE,
	OPT_TOKEN,
	OPT_LOCAL,
	OPT_CONFIG,
	OPT_JSON,
	OPT_TIMEOUT,
	OPT_VERBOSE,
	OPT_ARGS,
	OPT_CATEGORY,
	OPT_PRIORITY,
	OPT_TITLE,
	OPT_STATUS,
	OPT_LIMIT,
	OPT_WAIT,
	OPT_DENY,
	OPT_REASON
};

static const struct option long_opts[] = {
	{ "url", required_argument, NULL, OPT_URL },
	{ "token-file", required_argument, NULL, OPT_TOKEN_FILE },
	{ "token", required_argument, NULL, OPT_TOKEN },
	{ "local", no_argument, NULL, OPT_LOCAL },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "verbose", no_argument, NULL, OPT_VERBOSE },
	{ "args", required_argument, NULL, OPT_ARGS },
	{ "category", required_argument, NULL, OPT_CATEGORY },
	{ "priority", required_argument, NULL, OPT_PRIORITY },
	{ "title", required_argument, NULL, OPT_TITLE },
	{ "status", required_argument, NULL, OPT_STATUS },
	{ "limit", required_argument, NULL, OPT_LIMIT },
	{ "wait", no_argument, NULL, OPT_WAIT },
	{ "deny", no_argument, NULL, OPT_DENY },
	{ "reason", required_argument, NULL, OPT_REASON },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/* One option into o (*used collects the O_* bits). 0, 1 for --version (printed), or -1. */
static int take_option(int c, struct ctl_opts *o, unsigned *used)
{
	switch (c) {
	case OPT_URL:
		o->url = optarg;
		return 0;
	case OPT_TOKEN_FILE:
		o->token_file = optarg;
		return 0;
	case OPT_TOKEN:
		return ctl_fail(-1, "--token is not accepted: a token on the command line is seen "
				    "by every user of this machine; set $CORTEX_TOKEN or use "
				    "--token-file FILE");
	case OPT_LOCAL:
		o->local = true;
		return 0;
	case OPT_CONFIG:
		o->config = optarg;
		return 0;
	case OPT_JSON:
		o->json = true;
		return 0;
	case OPT_TIMEOUT:
		return number("--timeout", optarg, 1, 86400, &o->timeout_s);
	case OPT_VERBOSE:
		o->verbose = true;
		return 0;
	case 'h':
		o->help = true;
		return 0;
	case 'V':
		printf("cortexctl %s\n", CX_VERSION);
		return 1;
	}
	return -2; /* a command's own option: take_command_option */
}

static int take_command_option(int c, struct ctl_opts *o, unsigned *used)
{
	switch (c) {
	case OPT_ARGS:
		*used |= O_ARGS;
		o->args = optarg;
		return 0;
	case OPT_CATEGORY:
		*used |= O_CATEGORY;
		o->category = optarg;
		return 0;
	case OPT_PRIORITY:
		*used |= O_PRIORITY;
		return number("--priority", optarg, 1, 5, &o->priority);
	case OPT_TITLE:
		*used |= O_TITLE;
		o->title = optarg;
		return 0;
	case OPT_STATUS:
		*used |= O_STATUS;
		o->status = optarg;
		return 0;
	case OPT_LIMIT:
		*used |= O_LIMIT;
		return number("--limit", optarg, 1, 500, &o->limit);
	case OPT_WAIT:
		*used |= O_WAIT;
		o->wait = true;
		return 0;
	case OPT_DENY:
		*used |= O_DENY;
		o->deny = true;
		return 0;
	case OPT_REASON:
		*used |= O_REASON;
		o->reason = optarg;
		return 0;
	}
	return ctl_fail(-1, "see cortexctl --help");
}

/* Reads every option; o->pos and o->npos are the other words. 0, 1 (done, exit 0), or -1. */
static int parse(int argc, char **argv, struct ctl_opts *o, unsigned *used)
{
	int c, rc;

	opterr = 1;
	while ((c = getopt_long(argc, argv, "hV", long_opts, NULL)) != -1) {
		rc = take_option(c, o, used);
		if (rc == -2)
			rc = take_command_option(c, o, used);
		if (rc)
			return rc;
	}
	o->pos = argv + optind;
	o->npos = argc - optind;
	if (o->config && !o->local)
		return ctl_fail(-1, "--config is the gateway config for --local; give --local too");
	if (o->local && !o->config)
		return ctl_fail(-1, "--local needs --config FILE (the gateway's config)");
	if (o->local && (o->url || o->token_file))
		return ctl_fail(-1, "--local runs the adapters here: --url and --token-file do "
				    "not apply");
	return 0;
}

/* The command the words name; *words is how many of them name it. NULL when none does. */
static const struct command *find_command(const struct ctl_opts *o, int *words)
{
	const char *g = o->npos > 0 ? o->pos[0] : NULL, *n = o->npos > 1 ? o->pos[1] : NULL;

	for (size_t i = 0; g && i < sizeof(commands) / sizeof(commands[0]); i++) {
		const struct command *cmd = &commands[i];
		if (!cmd->group && !strcmp(cmd->name, g)) {
			*words = 1;
			return cmd;
		}
		if (cmd->group && !strcmp(cmd->group, g) && n && !strcmp(cmd->name, n)) {
			*words = 2;
			return cmd;
		}
	}
	return NULL;
}

/* cortexctl help [WORDS...], or --help anywhere. */
static int help(struct ctl_opts *o)
{
	const struct command *cmd;
	int words;

	if (o->npos && !strcmp(o->pos[0], "help")) {
		o->pos++;
		o->npos--;
	}
	cmd = find_command(o, &words);
	if (cmd)
		fputs(cmd->help, stdout);
	else if (o->npos && !strcmp(o->pos[0], "task"))
		fputs(task_usage, stdout);
	else if (o->npos && !strcmp(o->pos[0], "completion"))
		fputs(completion_help, stdout);
	else if (o->npos)
		return ctl_fail(CTL_USAGE, "no command '%s' (see cortexctl --help)", o->pos[0]);
	else
		fputs(usage_text, stdout);
	return CTL_OK;
}

static int completion(const struct ctl_opts *o)
{
	if (o->npos != 2 || strcmp(o->pos[1], "bash"))
		return ctl_fail(CTL_USAGE, "completion knows bash only: cortexctl completion bash");
	fputs(cli_cortexctl_bash, stdout);
	return CTL_OK;
}

static int run(struct ctl_opts *o, unsigned used)
{
	const struct command *cmd;
	struct ctl *c;
	int words, code;

	if (o->help || (o->npos && !strcmp(o->pos[0], "help")))
		return help(o);
	if (!o->npos) {
		fputs(usage_text, stderr);
		return CTL_USAGE;
	}
	if (!strcmp(o->pos[0], "completion"))
		return completion(o);
	cmd = find_command(o, &words);
	if (!cmd) {
		if (!strcmp(o->pos[0], "task"))
			return ctl_fail(CTL_USAGE,
					"task %s: no such subcommand (create, list, "
					"show, watch)",
					o->npos > 1 ? o->pos[1] : "needs a subcommand;");
		return ctl_fail(CTL_USAGE, "no command '%s' (see cortexctl --help)", o->pos[0]);
	}
	if (used & ~cmd->takes) {
		unsigned bad = used & ~cmd->takes;
		return ctl_fail(CTL_USAGE,
				"%s is not an option of '%s%s%s' (see cortexctl %s%s%s "
				"--help)",
				opt_name(bad & -bad), cmd->group ? cmd->group : "",
				cmd->group ? " " : "", cmd->name, cmd->group ? cmd->group : "",
				cmd->group ? " " : "", cmd->name);
	}
	o->pos += words;
	o->npos -= words;
	c = ctl_open(o, &code);
	if (!c)
		return code;
	code = cmd->run(c, o);
	ctl_close(c);
	return code;
}

int main(int argc, char **argv)
{
	struct ctl_opts o = { 0 };
	unsigned used = 0;
	int rc = parse(argc, argv, &o, &used);

	if (rc > 0)
		return CTL_OK;
	if (rc < 0)
		return CTL_USAGE;
	return run(&o, used);
}
