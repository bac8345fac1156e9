/* cortex-gateway: one MCP endpoint in front of an operator's infrastructure. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/audit.h"
#include "../common/log.h"
#include "../common/mcp.h"
#include "../common/util.h"
#include "adapters.h"
#include "config.h"
#include "registry.h"
#include "server.h"
#include "transport.h"

static atomic_bool stop_requested;

static void usage(FILE *f)
{
	fprintf(f,
"usage: cortex-gateway [--listen HOST:PORT] [--stdio] [--config FILE] [options]\n"
"\n"
"Cortex puts Proxmox VE, UniFi, Sandfly, Cloudflare and Kubernetes behind one Model Context\n"
"Protocol endpoint. With no config it serves built-in defaults on 127.0.0.1:8080.\n"
"\n"
"  -l, --listen HOST:PORT   serve Streamable HTTP at http://HOST:PORT/mcp (default\n"
"                           127.0.0.1:8080; port 0 picks a free port)\n"
"  -s, --stdio              serve newline-delimited JSON-RPC on stdin/stdout, for desktop\n"
"                           clients that launch the gateway (no HTTP unless --listen)\n"
"  -c, --config FILE        JSON configuration (else $CORTEX_CONFIG); see\n"
"                           manifests/examples/gateway.json and docs/OPERATIONS.md\n"
"      --insecure-no-auth   allow listening on a non-loopback address without tokens\n"
"      --log-level LEVEL    debug, info, warn or error (default info)\n"
"      --audit-file FILE    append audit lines to FILE (default: stderr)\n"
"      --check-config       load the config and the adapters, report, and exit\n"
"      --hash-token         read a bearer token on stdin, print the SHA-256 to put in\n"
"                           the config's tokens[].sha256, and exit\n"
"  -h, --help               this text\n"
"  -V, --version            print the version\n"
"\n"
"Protocol versions: %s, %s, %s. Logs and audit lines go to stderr; in --stdio mode\n"
"stdout carries protocol messages only. SIGTERM or SIGINT: stop accepting, finish the\n"
"calls in flight, exit 0. SIGHUP: reopen the audit file (after log rotation).\n",
		cx_mcp_versions[0], cx_mcp_versions[1], cx_mcp_versions[2]);
}

static int hash_token(void)
{
	char buf[4096], hex[65];
	size_t n = fread(buf, 1, sizeof(buf), stdin);

	if (n == sizeof(buf)) {
		fprintf(stderr, "cortex-gateway: token longer than %zu bytes\n", sizeof(buf) - 1);
		return 2;
	}
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	if (!n) {
		fprintf(stderr, "cortex-gateway: no token on stdin\n");
		return 2;
	}
	cx_sha256_hex(buf, n, hex);
	memset(buf, 0, sizeof(buf));
	printf("%s\n", hex);
	return 0;
}

static int register_adapters(struct cx_registry *reg, const json_t *adapters, void **gw_state,
			     struct cx_err *err)
{
	const char *name;
	json_t *conf;

	*gw_state = cx_gateway_adapter_state_new(reg);
	if (!*gw_state)
		return cx_err_set(err, "out of memory");
	if (cx_registry_add_state(reg, &cx_gateway_adapter, *gw_state, err))
		return -1;
	json_object_foreach((json_t *)adapters, name, conf) {
		const struct cx_adapter *const *a;

		for (a = cx_adapters; *a; a++)
			if (!strcmp((*a)->name, name))
				break;
		if (!*a) {
			char have[256] = "";
			size_t used = 0;
			for (a = cx_adapters; *a && used < sizeof(have); a++) {
				int k = snprintf(have + used, sizeof(have) - used, "%s%s",
						 used ? ", " : "", (*a)->name);
				if (k < 0)
					break;
				used += (size_t)k;
			}
			return cx_err_set(err, "config 'adapters.%s': no such adapter in this build%s%s",
					  name, used ? " (it has: " : "", used ? have : "");
		}
		if (cx_registry_add(reg, *a, conf, err))
			return -1;
	}
	return 0;
}

struct signal_ctx {
	sigset_t set;
	struct cx_audit *audit;
};

/* SIGTERM and SIGINT stop the gateway; SIGHUP reopens the audit file after rotation. */
static void *signal_main(void *arg)
{
	struct signal_ctx *sc = arg;
	int sig;

	while (sigwait(&sc->set, &sig) == 0) {
		if (sig == SIGHUP) {
			struct cx_err err = { 0 };
			if (cx_audit_reopen(sc->audit, &err))
				cx_warn("%s", err.msg);
			else
				cx_info("received SIGHUP: audit file reopened");
			continue;
		}
		cx_info("received %s: stopping", strsignal(sig));
		atomic_store(&stop_requested, true);
		break;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "stdio", no_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "insecure-no-auth", no_argument, NULL, 'I' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "audit-file", required_argument, NULL, 'A' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "hash-token", no_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *listen = NULL, *config = NULL, *log_level = NULL, *audit_file = NULL;
	bool use_stdio = false, insecure = false, check_only = false;
	struct cx_gw_config conf;
	struct cx_registry *reg = NULL;
	struct cx_audit *audit = NULL;
	struct cx_server *server = NULL;
	struct cx_http *http = NULL;
	struct cx_err err = { 0 };
	void *gw_state = NULL;
	struct signal_ctx sigs;
	pthread_t sig_thread;
	int c, rc = 1;

	while ((c = getopt_long(argc, argv, "l:sc:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'l': listen = optarg; break;
		case 's': use_stdio = true; break;
		case 'c': config = optarg; break;
		case 'I': insecure = true; break;
		case 'L': log_level = optarg; break;
		case 'A': audit_file = optarg; break;
		case 'C': check_only = true; break;
		case 'H': return hash_token();
		case 'h': usage(stdout); return 0;
		case 'V': printf("cortex-gateway %s\n", CX_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "cortex-gateway: unexpected argument '%s' (see --help)\n",
			argv[optind]);
		return 2;
	}

	/* Default, then file, then environment, then flags. */
	cx_gw_config_defaults(&conf);
	if (!config)
		config = getenv("CORTEX_CONFIG");
	if (config && *config && cx_gw_config_load_file(&conf, config, &err)) {
		fprintf(stderr, "cortex-gateway: %s\n", err.msg);
		goto out;
	}
	if (listen) {
		free(conf.listen);
		conf.listen = strdup(listen);
	} else if (use_stdio) {
		free(conf.listen);
		conf.listen = NULL;
	}
	if (insecure)
		conf.insecure_no_auth = true;
	if (audit_file) {
		free(conf.audit_file);
		conf.audit_file = strdup(audit_file);
	}
	if (log_level) {
		free(conf.log_level);
		conf.log_level = strdup(log_level);
	}
	enum cx_log_level lvl;
	if (cx_log_parse_level(conf.log_level, &lvl)) {
		fprintf(stderr, "cortex-gateway: unknown log level '%s' (debug, info, warn, error)\n",
			conf.log_level);
		goto out;
	}
	cx_log_set_level(lvl);

	/* Signals are taken by one thread; every other thread starts with them blocked. */
	sigemptyset(&sigs.set);
	sigaddset(&sigs.set, SIGTERM);
	sigaddset(&sigs.set, SIGINT);
	sigaddset(&sigs.set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs.set, NULL);
	signal(SIGPIPE, SIG_IGN);

	reg = cx_registry_new();
	if (!reg || register_adapters(reg, conf.adapters, &gw_state, &err)) {
		fprintf(stderr, "cortex-gateway: %s\n", reg ? err.msg : "out of memory");
		goto out;
	}
	if (check_only) {
		printf("config ok: %zu adapter(s), %zu tool(s)\n", cx_registry_adapter_count(reg),
		       cx_registry_count(reg));
		rc = 0;
		goto out;
	}
	audit = sigs.audit = cx_audit_open(conf.audit_file, &err);
	if (!audit) {
		fprintf(stderr, "cortex-gateway: %s\n", err.msg);
		goto out;
	}
	server = cx_server_new(&conf, reg, audit, &err);
	if (!server || cx_server_start(server, &err)) {
		fprintf(stderr, "cortex-gateway: %s\n", err.msg);
		goto out;
	}
	if (cx_registry_health_start(reg, 15000, &err)) {
		fprintf(stderr, "cortex-gateway: %s\n", err.msg);
		goto out;
	}
	if (conf.listen && !conf.session_key_set)
		cx_info("no http.session_key configured: sessions are valid for this process "
			"only (configure one key for every replica behind a load balancer)");
	if (conf.listen) {
		http = cx_http_start(server, conf.listen, &err);
		if (!http) {
			fprintf(stderr, "cortex-gateway: %s\n", err.msg);
			goto out;
		}
	}
	if (http) {
		const char *colon = strrchr(conf.listen, ':');
		int hostlen = colon ? (int)(colon - conf.listen) : (int)strlen(conf.listen);
		cx_info("listening on http://%.*s:%u/mcp", hostlen, conf.listen,
			cx_http_port(http));
	}
	cx_info("cortex-gateway %s ready: %zu tool(s) from %zu adapter(s)%s", CX_VERSION,
		cx_registry_count(reg), cx_registry_adapter_count(reg),
		use_stdio ? ", serving stdio" : "");

	if (use_stdio) {
		if (pthread_create(&sig_thread, NULL, signal_main, &sigs)) {
			fprintf(stderr, "cortex-gateway: could not start the signal thread\n");
			goto out;
		}
		pthread_detach(sig_thread);
		rc = cx_stdio_run(server, STDIN_FILENO, STDOUT_FILENO, &stop_requested) ? 1 : 0;
	} else {
		signal_main(&sigs);
		rc = 0;
	}
	if (http)
		cx_http_quiesce(http);
	if (cx_server_drain(server)) {
		/* A handler is still running past its deadline: it may touch the server and its
		 * adapter, so nothing it can reach is freed. The process ends here. */
		cx_warn("exiting with a tool call still running past its deadline");
		cx_audit_close(audit);
		_exit(0);
	}
	cx_info("stopped cleanly");
out:
	if (http)
		cx_http_stop(http);
	cx_server_free(server);
	cx_registry_free(reg);
	cx_gateway_adapter_state_free(gw_state);
	cx_audit_close(audit);
	cx_gw_config_release(&conf);
	cx_session_cache_clear();
	return rc;
}
