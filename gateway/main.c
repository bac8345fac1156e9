/* cortex-gateway: one MCP endpoint in front of an operator's infrastructure. */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/audit.h"
#include "../common/http_client.h"
#include "../common/json.h"
#include "../common/log.h"
#include "../common/mcp.h"
#include "../common/util.h"
#include "adapters.h"
#include "config.h"
#include "hashtoken.h"
#include "hosts.h"
#include "listen.h"
#include "preflight.h"
#include "register.h"
#include "revoke.h"
#include "revoke_share.h"
#include "registry.h"
#include "server.h"
#include "transport.h"

#if defined(__clang__)
#define CX_COMPILER "clang " __clang_version__
#elif defined(__GNUC__)
#define CX_COMPILER "gcc " __VERSION__
#else
#define CX_COMPILER "an unknown compiler"
#endif

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
		"                           127.0.0.1:8080; HOST a literal address or localhost; port 0\n"
		"                           picks a free port)\n"
		"  -s, --stdio              serve newline-delimited JSON-RPC on stdin/stdout, for desktop\n"
		"                           clients that launch the gateway (no HTTP unless --listen)\n"
		"  -c, --config FILE        JSON configuration (else $CORTEX_CONFIG); see\n"
		"                           manifests/examples/gateway.json and docs/OPERATIONS.md\n"
		"      --insecure-no-auth   allow listening on a non-loopback address without tokens\n"
		"      --log-level LEVEL    debug, info, warn, error or off (default info)\n"
		"      --audit-file FILE    append audit lines to FILE (default: stderr)\n"
		"      --check-config       run every start-up check (config, secrets, listen address,\n"
		"                           tokens, audit file, adapters) except binding the port; exit\n"
		"      --hash-token         read a bearer token on stdin (prompted for, not echoed, on a\n"
		"                           terminal), print the SHA-256 for tokens[].sha256, and exit\n"
		"  -h, --help               this text\n"
		"  -V, --version            the version, the libraries' versions and the build's features\n"
		"\n"
		"Protocol versions: ");
	for (size_t i = 0; cx_mcp_versions[i]; i++)
		fprintf(f, "%s, ", cx_mcp_versions[i]);
	fprintf(f,
		"and %s (stateless, HTTP only).\n"
		"Exit status: 0 on a clean stop, 1 when the config or start-up fails, 2 for a usage error.\n"
		"Logs and audit lines go to stderr; in --stdio mode stdout carries protocol messages only.\n"
		"SIGTERM or SIGINT: stop accepting, finish the calls in flight, exit 0. SIGHUP: reopen the\n"
		"audit file (after log rotation).\n",
		CX_MCP_STATELESS);
}

static void version(void)
{
	const struct cx_adapter *const *a;

	printf("cortex-gateway %s\n", CX_VERSION);
	printf("libraries: libmicrohttpd %s, jansson %s, %s, libcurl %s\n", MHD_get_version(),
	       jansson_version_str(), OpenSSL_version(OPENSSL_VERSION),
	       curl_version_info(CURLVERSION_NOW)->version);
	printf("protocols: ");
	for (size_t i = 0; cx_mcp_versions[i]; i++)
		printf("%s, ", cx_mcp_versions[i]);
	printf("%s (stateless)\n", CX_MCP_STATELESS);
	printf("adapters: gateway (built in)");
	for (a = cx_adapters; *a; a++)
		printf(", %s", (*a)->name);
	printf("\nfeatures: stdio, http (epoll %s, IPv6 %s), bearer tokens, sealed sessions "
	       "(AES-256-GCM), TLS no (terminate it in front)\n",
	       MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES ? "yes" : "no",
	       MHD_is_feature_supported(MHD_FEATURE_IPv6) == MHD_YES ? "yes" : "no");
	printf("build: %s%s\n", CX_COMPILER,
#if defined(__SANITIZE_ADDRESS__)
	       ", AddressSanitizer"
#else
	       ""
#endif
	);
}

static int hash_token(void)
{
	char buf[CX_TOKEN_BUF], hex[65];
	struct cx_err err = { 0 };
	size_t n;

	if (cx_token_read(STDIN_FILENO, STDERR_FILENO, buf, sizeof(buf), &n, &err)) {
		memset(buf, 0, sizeof(buf));
		fprintf(stderr, "cortex-gateway: %s\n", err.msg);
		return err.code ? err.code : 1;
	}
	cx_sha256_hex(buf, n, hex);
	memset(buf, 0, sizeof(buf));
	printf("%s\n", hex);
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

/* The start-up line: what was loaded and who may call. */
static void describe_auth(const struct cx_gw_config *c, char *out, size_t outlen)
{
	if (c->ntokens)
		cx_fmt(out, outlen, "on, %zu bearer token(s)", c->ntokens);
	else if (c->insecure_no_auth)
		cx_fmt(out, outlen, "off (--insecure-no-auth: anyone who can connect may call)");
	else
		cx_fmt(out, outlen, "off (no tokens; anonymous access on loopback only)");
}

static void describe_config(const struct cx_gw_config *c, char *out, size_t outlen)
{
	if (c->config_file)
		cx_fmt(out, outlen, "'%s'%s", c->config_file,
		       c->config_from_env ? " (from $CORTEX_CONFIG)" : "");
	else
		cx_fmt(out, outlen, "none (built-in defaults)");
}

/* Replaces *field with a copy of value; false on out of memory. */
static bool set_str(char **field, const char *value)
{
	char *copy = value ? strdup(value) : NULL;

	if (value && !copy)
		return false;
	free(*field);
	*field = copy;
	return true;
}

/* What the command line asked for. */
struct flags {
	const char *listen, *config, *log_level, *audit_file;
	bool use_stdio, insecure, check_only;
};

/* Everything a running gateway holds, released by release() in reverse order. */
struct gateway {
	struct flags f;
	struct cx_gw_config conf;
	struct cx_listen la;
	struct cx_registry *reg;
	struct cx_audit *audit;
	struct cx_server *server;
	struct cx_http *http;
	void *gw_state;
	char **own; /* this machine's Host names (HTTP only) */
	char policy[1024], auth[96], cfg[320];
	struct signal_ctx sigs;
};

/* -1 to go on, else the exit status: 0 after --help, --version or --hash-token, 2 for a usage
 * error (a flag or its value), which is reported here. */
static int parse_flags(int argc, char **argv, struct flags *f)
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
	struct cx_err err = { 0 };
	struct cx_listen la;
	enum cx_log_level lvl;
	int c;

	while ((c = getopt_long(argc, argv, "l:sc:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			f->listen = optarg;
			break;
		case 's':
			f->use_stdio = true;
			break;
		case 'c':
			f->config = optarg;
			break;
		case 'I':
			f->insecure = true;
			break;
		case 'L':
			f->log_level = optarg;
			break;
		case 'A':
			f->audit_file = optarg;
			break;
		case 'C':
			f->check_only = true;
			break;
		case 'H':
			return hash_token();
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			version();
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "cortex-gateway: unexpected argument '%s' (see --help)\n",
			argv[optind]);
		return 2;
	}
	/* A flag's value is checked here, so that a mistyped flag is a usage error (2). */
	if (f->listen && cx_listen_parse(f->listen, &la, &err)) {
		fprintf(stderr, "cortex-gateway: --listen: %s\n", err.msg);
		return 2;
	}
	if (f->log_level && cx_log_parse_level(f->log_level, &lvl)) {
		fprintf(stderr,
			"cortex-gateway: --log-level: unknown level '%s' (debug, info, "
			"warn, error, off)\n",
			f->log_level);
		return 2;
	}
	if (f->audit_file && !*f->audit_file) {
		fprintf(stderr, "cortex-gateway: --audit-file: the path is empty\n");
		return 2;
	}
	return -1;
}

/* The built-in defaults, then the file (--config, else the one $CORTEX_CONFIG names), then the
 * flags; then every check start-up would make, before anything starts. 0, or -1 reported. */
static int configure(struct gateway *g)
{
	const struct flags *f = &g->f;
	const char *config = f->config;
	struct cx_gw_config *conf = &g->conf;
	struct cx_err err = { 0 };
	enum cx_log_level lvl;

	if (!config) {
		config = getenv("CORTEX_CONFIG");
		conf->config_from_env = config && *config;
	}
	if (config && *config && cx_gw_config_load_file(conf, config, &err))
		goto fail;
	/* --stdio alone turns HTTP off, whatever the file says. */
	if (f->listen || f->use_stdio) {
		conf->listen_from_flag = true;
		if (!set_str(&conf->listen, f->listen))
			goto out_of_memory;
	}
	if (f->insecure)
		conf->insecure_no_auth = true;
	if (f->audit_file) {
		conf->audit_from_flag = true;
		if (!set_str(&conf->audit_file, f->audit_file))
			goto out_of_memory;
	}
	if (f->log_level && !set_str(&conf->log_level, f->log_level))
		goto out_of_memory;
	if (cx_log_parse_level(conf->log_level, &lvl)) {
		cx_err_set(&err, "unknown log level '%s' (debug, info, warn, error, off)",
			   conf->log_level ? conf->log_level : "");
		goto fail;
	}
	cx_log_set_level(lvl);
	if (cx_preflight(conf, &g->la, &err))
		goto fail;
	if (conf->listen) {
		g->own = cx_hosts_own_now(&g->la);
		if (!g->own)
			goto out_of_memory;
		cx_hosts_describe(conf, g->own, g->policy, sizeof(g->policy));
		if (cx_hosts_extend(conf, g->own, &err))
			goto fail;
	}
	describe_auth(conf, g->auth, sizeof(g->auth));
	describe_config(conf, g->cfg, sizeof(g->cfg));
	return 0;
out_of_memory:
	cx_err_set(&err, "out of memory");
fail:
	fprintf(stderr, "cortex-gateway: %s\n", err.msg);
	return -1;
}

/* Where a browser finds the console on the listen address la (parsed by preflight). */
static void report_console(const struct cx_listen *la, bool enabled)
{
	if (!enabled)
		printf("console: off (console.enabled: false)\n");
	else if (la->wildcard)
		printf("console: http://HOST:%u/ for a HOST the http: line allows (sign in with a "
		       "token)\n",
		       la->port);
	else
		printf("console: http://%s%s%s:%u/ (sign in with a token)\n", la->v6 ? "[" : "",
		       la->host, la->v6 ? "]" : "", la->port);
}

/* --check-config's report, once every check has passed. */
static void report_config(const struct gateway *g)
{
	const struct cx_gw_config *conf = &g->conf;

	printf("config ok: %zu adapter(s), %zu tool(s)\n", cx_registry_adapter_count(g->reg),
	       cx_registry_count(g->reg));
	printf("config: %s\n", g->cfg);
	if (conf->listen) {
		printf("listen: %s (checked, not bound: --check-config does not bind the port)\n",
		       conf->listen);
		printf("http: %s\n", g->policy);
		report_console(&g->la, conf->console_enabled);
	} else {
		printf("listen: none (stdio only)\n");
	}
	printf("auth: %s\n", g->auth);
	printf("audit: %s\n", conf->audit_file ? conf->audit_file : "stderr");
}

/* http.ready_adapters names adapters this gateway has. 0, or -1 reported. */
static int check_ready_adapters(struct gateway *g)
{
	char have[512];
	size_t n = cx_registry_adapter_count(g->reg), len = 0;

	for (char **name = g->conf.ready_adapters; name && *name; name++) {
		bool found = false;

		for (size_t i = 0; i < n && !found; i++)
			found = !strcmp(cx_registry_adapter_at(g->reg, i, NULL)->name, *name);
		if (found)
			continue;
		have[0] = '\0';
		for (size_t i = 0; i < n && len < sizeof(have); i++)
			len += (size_t)snprintf(have + len, sizeof(have) - len, "%s%s",
						i ? ", " : "",
						cx_registry_adapter_at(g->reg, i, NULL)->name);
		fprintf(stderr,
			"cortex-gateway: http.ready_adapters: '%s' is not an adapter of this gateway "
			"(it has: %s)\n",
			*name, have);
		return -1;
	}
	return 0;
}

/* A session another gateway ended: its streams here end too. */
static void ended_elsewhere(const char *fp, void *ctx)
{
	cx_http_end_streams(((struct gateway *)ctx)->http, fp);
}

/* The audit log, the server, the health checks and the HTTP listener, in that order. 0, or
 * -1 reported. */
static int start(struct gateway *g)
{
	struct cx_gw_config *conf = &g->conf;
	struct cx_err err = { 0 };
	char where[384];

	g->audit = g->sigs.audit = cx_audit_open(conf->audit_file, &err);
	if (!g->audit)
		goto fail;
	cx_audit_set_max_line(g->audit, (size_t)conf->audit_max_line_bytes);
	g->server = cx_server_new(conf, g->reg, g->audit, &err);
	if (!g->server || cx_server_start(g->server, &err))
		goto fail;
	if (cx_registry_health_start(g->reg, 15000, &err))
		goto fail;
	if (conf->listen && conf->ended_sessions_file &&
	    cx_session_revoked_open(conf->ended_sessions_file, &err)) {
		fprintf(stderr, "cortex-gateway: http.ended_sessions_file: %s\n", err.msg);
		return -1;
	}
	if (conf->listen && cx_gw_config_sessions_shared(conf) &&
	    cx_revoke_share_start(conf->tasks, conf->session_ttl_s, &err)) {
		fprintf(stderr, "cortex-gateway: http.ended_sessions_shared: %s\n", err.msg);
		return -1;
	}
	if (conf->listen) {
		g->http = cx_http_start(g->server, conf->listen, &err);
		if (!g->http) {
			cx_gw_config_where(conf, "listen", conf->listen_from_flag, "--listen",
					   where, sizeof(where));
			fprintf(stderr, "cortex-gateway: %s: %s\n", where, err.msg);
			return -1;
		}
		cx_revoke_share_on_ended(ended_elsewhere, g);
		cx_info("listening on http://%s%s%s:%u/mcp", g->la.v6 ? "[" : "", g->la.host,
			g->la.v6 ? "]" : "", cx_http_port(g->http));
		if (conf->console_enabled)
			cx_info("console at http://%s%s%s:%u/", g->la.v6 ? "[" : "", g->la.host,
				g->la.v6 ? "]" : "", cx_http_port(g->http));
		cx_info("http: %s", g->policy);
		if (!conf->session_key_set)
			cx_info("no http.session_key configured: sessions are valid for this "
				"process only (configure one key for every replica behind a load "
				"balancer)");
	}
	cx_info("cortex-gateway %s ready: %zu tool(s) from %zu adapter(s)%s; config %s; auth %s",
		CX_VERSION, cx_registry_count(g->reg), cx_registry_adapter_count(g->reg),
		g->f.use_stdio ? ", serving stdio" : "", g->cfg, g->auth);
	return 0;
fail:
	fprintf(stderr, "cortex-gateway: %s\n", err.msg);
	return -1;
}

/* Serves until end of input (stdio) or a stop signal, then drains. The exit status. */
static int serve(struct gateway *g)
{
	pthread_t sig_thread;
	int rc, err;

	if (g->f.use_stdio) {
		err = pthread_create(&sig_thread, NULL, signal_main, &g->sigs);
		if (err) {
			fprintf(stderr, "cortex-gateway: could not start the signal thread: %s\n",
				strerror(err));
			return 1;
		}
		pthread_detach(sig_thread);
		rc = cx_stdio_run(g->server, STDIN_FILENO, STDOUT_FILENO, &stop_requested) ? 1 : 0;
	} else {
		signal_main(&g->sigs);
		rc = 0;
	}
	if (g->http)
		cx_http_quiesce(g->http);
	/* At a signal, calls not yet started are answered now; at the end of stdin they still
	 * run, since the client piped them in and waits for every answer. */
	if (atomic_load(&stop_requested))
		cx_server_shed(g->server);
	if (cx_server_drain(g->server)) {
		/* A handler is still running past its deadline: it may touch the server and its
		 * adapter, so nothing it can reach is freed. The process ends here. */
		cx_warn("exiting with a tool call still running past its deadline");
		cx_audit_close(g->audit);
		_exit(0);
	}
	cx_info("stopped cleanly");
	return rc;
}

static void release(struct gateway *g)
{
	cx_revoke_share_stop();
	if (g->http)
		cx_http_stop(g->http);
	cx_server_free(g->server);
	cx_registry_free(g->reg);
	cx_gateway_adapter_state_free(g->gw_state);
	cx_audit_close(g->audit);
	cx_hosts_free(g->own);
	cx_gw_config_release(&g->conf);
	cx_session_cache_clear();
	cx_session_revoked_clear();
}

int main(int argc, char **argv)
{
	static struct gateway g; /* static: the signal thread may outlive main's frame */
	struct cx_err err = { 0 };
	int rc;

	cx_json_alloc_init(); /* before any JSON value exists */
	rc = parse_flags(argc, argv, &g.f);
	if (rc >= 0)
		return rc;
	rc = 1;
	if (cx_http_global_init())
		goto out;
	cx_gw_config_defaults(&g.conf);
	if (configure(&g))
		goto out;

	/* Signals are taken by one thread; every other thread starts with them blocked. */
	sigemptyset(&g.sigs.set);
	sigaddset(&g.sigs.set, SIGTERM);
	sigaddset(&g.sigs.set, SIGINT);
	sigaddset(&g.sigs.set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &g.sigs.set, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* Adapters read relative paths (secrets, ca_file, ...) against the config file's folder. */
	if (cx_path_set_base(g.conf.config_dir)) {
		fprintf(stderr, "cortex-gateway: out of memory\n");
		goto out;
	}
	g.reg = cx_registry_new();
	if (!g.reg ||
	    cx_register_adapters(g.reg, g.conf.adapters, g.conf.tasks, &g.gw_state, &err)) {
		fprintf(stderr, "cortex-gateway: %s\n", g.reg ? err.msg : "out of memory");
		goto out;
	}
	if (check_ready_adapters(&g))
		goto out;
	if (g.f.check_only) {
		report_config(&g);
		rc = 0;
		goto out;
	}
	if (!start(&g))
		rc = serve(&g);
out:
	release(&g);
	return rc;
}
