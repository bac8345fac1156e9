/* cortex-orchestrator: flags, the config file, signals, start and stop (orch.h). */
#include "orch.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/http_client.h"
#include "../common/json.h"
#include "../common/log.h"
#include "../common/secret.h"
#include "../common/util.h"

struct settings {
	const char *config;  /* -c, else $CORTEX_CONFIG */
	const char *masters; /* -m, else the config's orchestrator.masters */
	json_t *conf;        /* the whole file */
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cortex-orchestrator [options]\n"
		"Claims the task store's queued tasks and runs each as an LLM tool-use loop\n"
		"whose tools are the Cortex gateway's.\n\n"
		"  -c, --config FILE   JSON configuration (else $CORTEX_CONFIG): \"tasks\" (the\n"
		"                      task store, the same object as the gateway's) and\n"
		"                      \"orchestrator\": {\"masters\": FILE, \"gateway_url\",\n"
		"                      \"gateway_token\" (a file or env secret reference),\n"
		"                      \"grace_ms\", \"heartbeat_ms\", \"tools_ttl_ms\",\n"
		"                      \"approval_timeout_ms\" (default a day)}; the other\n"
		"                      top-level keys are the gateway's and are ignored, so\n"
		"                      one file serves both\n"
		"  -m, --masters FILE  the masters' registry (default: built in, the same as\n"
		"                      manifests/examples/masters.json)\n"
		"  -l, --log-level L   debug, info (default), warn, error, off\n"
		"  -h, --help          this text\n"
		"  -V, --version       the version\n\n"
		"Environment: CORTEX_GATEWAY_URL (default %s; orchestrator.gateway_url\n"
		"wins), CORTEX_TOKEN (the gateway's bearer token; orchestrator.gateway_token\n"
		"wins), ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL, OPENAI_API_KEY,\n"
		"OPENAI_BASE_URL, CORTEX_TASKS_DIR (the default dir store).\n"
		"SIGTERM or SIGINT: no more claims; running steps finish within grace_ms (default\n"
		"10000), then their calls are cancelled and the tasks given back with their state.\n",
		CX_MCP_CLIENT_URL_DEFAULT);
}

static long opt_long(const json_t *orch, const char *key, long def, long min, long max,
		     struct cx_err *err)
{
	json_t *v = json_object_get(orch, key);

	if (v == NULL)
		return def;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		cx_err_set(err, "'orchestrator.%s' must be an integer from %ld to %ld", key, min,
			   max);
		return -1;
	}
	return (long)json_integer_value(v);
}

static int read_orch(struct orch *o, struct settings *s, const json_t *orch, struct cx_err *err)
{
	static const char *const keys[] = {
		"masters",      "gateway_url",  "gateway_token",       "grace_ms",
		"heartbeat_ms", "tools_ttl_ms", "approval_timeout_ms", NULL
	};
	const char *key;
	json_t *v;

	if (orch && !json_is_object(orch))
		return cx_err_set(err, "'orchestrator' must be an object");
	json_object_foreach((json_t *)orch, key, v) {
		size_t i;

		for (i = 0; keys[i] && strcmp(keys[i], key); i++)
			;
		if (!keys[i])
			return cx_err_set(err, "'orchestrator' has an unknown key '%s'", key);
	}
	if (json_object_get(orch, "gateway_url") &&
	    !json_string_length(json_object_get(orch, "gateway_url")))
		return cx_err_set(err, "'orchestrator.gateway_url' must be a URL (a string)");
	if (!s->masters)
		s->masters = json_string_value(json_object_get(orch, "masters"));
	err->msg[0] = '\0';
	o->grace_ms = opt_long(orch, "grace_ms", 10000, 0, 3600000, err);
	o->heartbeat_ms = opt_long(orch, "heartbeat_ms", 1000, 50, 60000, err);
	o->tools_ttl_ms = opt_long(orch, "tools_ttl_ms", 60000, 0, 86400000, err);
	o->approval_timeout_ms =
		opt_long(orch, "approval_timeout_ms", 86400000, 0, 30L * 86400000, err);
	return err->msg[0] ? -1 : 0;
}

static int load_config(struct settings *s, struct cx_err *err)
{
	char *dir, *slash;

	if (s->config == NULL)
		s->config = getenv("CORTEX_CONFIG");
	if (s->config == NULL || !*s->config) {
		s->conf = json_object();
		return 0;
	}
	/* As the gateway reads it (one file serves both): duplicate keys refused, 1 MiB at most */
	s->conf = cx_json_load_file(s->config, ORCH_FILE_MAX, err);
	if (!s->conf)
		return cx_err_prefix(err, "config: "); /* the message names the file */
	if (!json_is_object(s->conf))
		return cx_err_set(err, "config '%s': must be a JSON object", s->config);
	dir = strdup(s->config);
	slash = dir ? strrchr(dir, '/') : NULL;
	if (slash) {
		*slash = '\0';
		cx_path_set_base(*dir ? dir : "/");
	}
	free(dir);
	return 0;
}

/* orchestrator.gateway_token ({"file"} or {"env"}) when given, else $CORTEX_TOKEN (the MCP
 * client's default): 0, the secret in *tok (len 0 when none), or -1. */
static int gateway_token(const json_t *orch, struct cx_secret *tok, struct cx_err *err)
{
	const json_t *ref = json_object_get(orch, "gateway_token");

	*tok = (struct cx_secret){ 0 };
	if (ref == NULL)
		return 0;
	if (!json_is_object(ref))
		return cx_err_set(err, "'orchestrator.gateway_token' must be {\"file\": PATH} or "
				       "{\"env\": NAME}, never the token itself");
	return cx_secret_load_at(ref, cx_path_base(), tok, "orchestrator.gateway_token", err);
}

static int open_all(struct orch *o, struct settings *s, struct cx_err *err)
{
	json_t *tasks = json_deep_copy(json_object_get(s->conf, "tasks"));
	const json_t *orch = json_object_get(s->conf, "orchestrator");
	json_int_t lease;
	struct cx_secret tok = { 0 };
	struct cx_mcp_client_opts mo = {
		.url = json_string_value(json_object_get(orch, "gateway_url")),
		.client_name = "cortex-orchestrator",
	};

	if (read_orch(o, s, orch, err) || gateway_token(orch, &tok, err))
		goto fail;
	if (tok.len)
		mo.token = (const char *)tok.data; /* copied by the client */
	if (tasks)
		json_object_del(tasks, "enabled"); /* the gateway's switch */
	lease = json_integer_value(json_object_get(tasks, "lease_ms"));
	o->agents_every_ms = lease > 0 && lease < 10000 ? (long)lease / 2 : 5000;
	o->store = cx_task_store_open(tasks, err);
	if (o->store == NULL)
		goto fail;
	o->mcp = cx_mcp_client_new(&mo, err);
	cx_secret_release(&tok);
	if (o->mcp == NULL || orch_masters_load(o, s->masters, err))
		goto fail;
	json_decref(tasks);
	return 0;
fail:
	cx_secret_release(&tok);
	json_decref(tasks);
	return -1;
}

/* "HOST-PID" in the characters a worker's name may hold ([A-Za-z0-9._:-]), so each process's
 * workers have names of their own. */
static void host_name(char *out, size_t outlen)
{
	char h[64] = "localhost";

	if (gethostname(h, sizeof(h) - 1))
		cx_fmt(h, sizeof(h), "localhost");
	h[24] = '\0';
	for (char *c = h; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '.' || *c == '-'))
			*c = '-';
	cx_fmt(out, outlen, "%s-%d", h, (int)getpid());
}

static int run(struct orch *o)
{
	sigset_t set;
	struct cx_err err = { 0 };
	int sig = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (orch_listen_start(o, &err) || orch_workers_start(o, &err)) {
		fprintf(stderr, "cortex-orchestrator: %s\n", err.msg);
		atomic_store(&o->stopping, true);
		orch_workers_stop(o);
		orch_listen_stop(o);
		return 1;
	}
	cx_info("cortex-orchestrator %s: %zu masters, %zu workers; tasks in %s; gateway %s",
		CX_VERSION, o->n_masters, o->n_workers, cx_task_store_describe(o->store),
		cx_mcp_client_url(o->mcp));
	sigwait(&set, &sig);
	cx_info("signal %d: no more claims; running steps get %ld ms to finish", sig, o->grace_ms);
	atomic_store(&o->stopping, true);
	orch_workers_stop(o);
	orch_listen_stop(o);
	cx_info("stopped");
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = { { "config", required_argument, NULL, 'c' },
						  { "masters", required_argument, NULL, 'm' },
						  { "log-level", required_argument, NULL, 'l' },
						  { "help", no_argument, NULL, 'h' },
						  { "version", no_argument, NULL, 'V' },
						  { NULL, 0, NULL, 0 } };
	struct settings s = { 0 };
	struct orch o = { 0 };
	struct cx_err err = { 0 };
	enum cx_log_level lvl;
	sigset_t stop_signals;
	int c, rc = 1;

	cx_json_alloc_init(); /* before any JSON value exists: its per-thread block cache */
	while ((c = getopt_long(argc, argv, "c:m:l:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			s.config = optarg;
			break;
		case 'm':
			s.masters = optarg;
			break;
		case 'l':
			if (cx_log_parse_level(optarg, &lvl)) {
				fprintf(stderr, "cortex-orchestrator: unknown log level '%s'\n",
					optarg);
				return 2;
			}
			cx_log_set_level(lvl);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("cortex-orchestrator %s\n", CX_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	cx_http_global_init();
	pthread_mutex_init(&o.mu, NULL);
	pthread_cond_init(&o.cond, NULL);
	host_name(o.host, sizeof(o.host));
	/* Before any thread starts (the task store's, in open_all): every thread inherits
	 * SIGTERM and SIGINT blocked, so only run()'s sigwait takes them, even once it returned. */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	if (load_config(&s, &err) || open_all(&o, &s, &err))
		fprintf(stderr, "cortex-orchestrator: %s\n", err.msg);
	else
		rc = run(&o);
	orch_masters_free(&o);
	if (o.mcp)
		cx_mcp_client_free(o.mcp);
	if (o.store)
		cx_task_store_close(o.store);
	json_decref(s.conf);
	return rc;
}
