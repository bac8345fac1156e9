/* The MCP client tests' fixture: mcp_client_fixture.h says what it offers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../common/http_client.h"
#include "../../common/mcp_client.h"
#include "../../common/util.h"

#include "mcp_client_fixture.h"

char gateway_bin[PATH_MAX];
pid_t running[8];

void find_gateway(void)
{
	const char *env = getenv("CORTEX_GATEWAY_BIN");
	char self[PATH_MAX];
	ssize_t n;

	if (env && *env) {
		snprintf(gateway_bin, sizeof(gateway_bin), "%s", env);
		return;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		/* <O>/tests/unit/test_mcp_client -> <O> */
		char *d = dirname(dirname(dirname(self)));
		if (snprintf(gateway_bin, sizeof(gateway_bin), "%s/cortex-gateway-test", d) <
			    (int)sizeof(gateway_bin) &&
		    access(gateway_bin, X_OK) == 0)
			return;
	}
	snprintf(gateway_bin, sizeof(gateway_bin), "build/cortex-gateway-test");
}

char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *s;
	long n;

	if (!f)
		return strdup("");
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	s = calloc(1, (size_t)n + 1);
	if (s && fread(s, 1, (size_t)n, f) != (size_t)n)
		s[0] = '\0';
	fclose(f);
	return s;
}

void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Starts the gateway with the test kit on port (0: any free one) and waits for "listening
 * on". key: the session key's secret, or NULL for none (a random key per start); tokens: a
 * bearer token is required; extra: more top-level config ("" or ", \"tools\": {...}"). */
void gw_start(struct gw *g, unsigned port, const char *key, bool tokens, const char *extra)
{
	char conf[2048], path[sizeof(g->dir) + 32], keyfile[sizeof(g->dir) + 32];
	char listen[32], hash[65], http[256] = "", tok[160] = "";
	int64_t until;

	if (!g->dir[0]) {
		memcpy(g->dir, TMPL, sizeof(TMPL));
		assert_non_null(mkdtemp(g->dir));
	}
	snprintf(path, sizeof(path), "%s/gateway.json", g->dir);
	snprintf(keyfile, sizeof(keyfile), "%s/session-key", g->dir);
	snprintf(g->log, sizeof(g->log), "%s/stderr", g->dir);
	if (key) {
		write_file(keyfile, key);
		chmod(keyfile, 0600);
		snprintf(http, sizeof(http), ", \"http\": {\"session_key\": {\"file\": \"%s\"}}",
			 keyfile);
	}
	if (tokens) {
		cx_sha256_hex(TOKEN, strlen(TOKEN), hash);
		snprintf(tok, sizeof(tok),
			 ", \"tokens\": [{\"name\": \"orch\", \"sha256\": \"%s\"}]", hash);
	}
	snprintf(conf, sizeof(conf), "{\"adapters\": {\"testkit\": {}}%s%s%s%s}",
		 strstr(extra, "\"calls\"") ? "" : ", \"calls\": {\"workers\": 8}", http, tok,
		 extra);
	write_file(path, conf);
	snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
	unlink(g->log); /* the last start's "listening on" must not be read for this one */

	g->pid = fork();
	assert_true(g->pid >= 0);
	if (g->pid == 0) {
		int fd = open(g->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int null = open("/dev/null", O_RDWR);

		if (fd >= 0)
			dup2(fd, 2);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
		}
		unsetenv("CORTEX_CONFIG");
		execl(gateway_bin, gateway_bin, "--config", path, "--listen", listen, (char *)NULL);
		_exit(127);
	}
	for (size_t i = 0; i < sizeof(running) / sizeof(running[0]); i++) {
		if (!running[i]) {
			running[i] = g->pid;
			break;
		}
	}
	until = cx_now_ms() + 15000;
	while (cx_now_ms() < until) {
		char *log = slurp(g->log);
		const char *m = strstr(log, "listening on http://127.0.0.1:");
		int st;

		if (m && sscanf(m, "listening on http://127.0.0.1:%u/mcp", &g->port) == 1) {
			free(log);
			snprintf(g->url, sizeof(g->url), "http://127.0.0.1:%u/mcp", g->port);
			return;
		}
		if (waitpid(g->pid, &st, WNOHANG) == g->pid)
			fail_msg("%s exited before listening: %s", gateway_bin, log);
		free(log);
		usleep(20000);
	}
	fail_msg("%s did not start listening within 15 s", gateway_bin);
}

void gw_stop(struct gw *g)
{
	int st;

	if (g->pid <= 0)
		return;
	kill(g->pid, SIGKILL);
	waitpid(g->pid, &st, 0);
	for (size_t i = 0; i < sizeof(running) / sizeof(running[0]); i++) {
		if (running[i] == g->pid)
			running[i] = 0;
	}
	g->pid = 0;
}

/* Stops it and checks that the token never reached its log. */
void gw_done(struct gw *g)
{
	char *log;

	gw_stop(g);
	log = slurp(g->log);
	if (strstr(log, TOKEN))
		fail_msg("the gateway's log holds the bearer token");
	free(log);
	if (g->dir[0]) {
		const char *names[] = { "gateway.json", "session-key", "stderr" };
		char path[sizeof(g->dir) + 32];

		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			snprintf(path, sizeof(path), "%s/%s", g->dir, names[i]);
			unlink(path);
		}
		rmdir(g->dir);
	}
}

struct cx_mcp_client *client(const struct gw *g, const char *token)
{
	struct cx_mcp_client_opts o = { .url = g->url, .token = token ? token : "" };
	struct cx_err err = { 0 };
	struct cx_mcp_client *c = cx_mcp_client_new(&o, &err);

	if (!c)
		fail_msg("cx_mcp_client_new: %s", err.msg);
	return c;
}

json_t *call_ok(struct cx_mcp_client *c, const char *name, json_t *args,
		const struct cx_mcp_call_opts *o)
{
	struct cx_err err = { 0 };
	json_t *res = NULL;
	int rc = cx_mcp_call_tool(c, name, args, o, &res, &err);

	json_decref(args);
	if (rc)
		fail_msg("%s: %s (%s)", name, cx_mcp_status_name(rc), err.msg);
	return res;
}

const char *echoed(const json_t *res)
{
	return json_string_value(
		json_object_get(json_object_get(res, "structuredContent"), "text"));
}

void on_progress(void *ctx, double progress, double total, const char *message)
{
	struct progress_log *p = ctx;

	/* No cmocka assertion here: it may run on a thread of the test's own. */
	p->out_of_order |= progress <= p->last;
	p->n++;
	p->last = progress;
	p->total = total;
	snprintf(p->msg, sizeof(p->msg), "%s", message ? message : "");
}

unsigned free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

int kill_running(void **state)
{
	int st;

	for (size_t i = 0; i < sizeof(running) / sizeof(running[0]); i++) {
		if (running[i]) {
			kill(running[i], SIGKILL);
			waitpid(running[i], &st, 0);
			running[i] = 0;
		}
	}
	return 0;
}

struct worker {
	struct cx_mcp_client *c;
	int n;
	int ok;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct progress_log p = { 0 };
	struct cx_mcp_call_opts o = { .progress = on_progress, .ctx = &p };
	struct cx_err err = { 0 };
	char text[32];

	for (int i = 0; i < 10; i++) {
		json_t *res = NULL, *args;
		int rc;

		snprintf(text, sizeof(text), "w%d-%d", w->n, i);
		if (i % 3 == 2) {
			memset(&p, 0, sizeof(p));
			args = json_pack("{s:i, s:i}", "steps", 3, "ms", 5);
			rc = cx_mcp_call_tool(w->c, "testkit_progress", args, &o, &res, &err);
			if (!rc && p.n == 3 && !p.out_of_order)
				w->ok++;
		} else {
			args = json_pack("{s:s}", "text", text);
			rc = cx_mcp_call_tool(w->c, "testkit_echo", args, i % 3 ? &o : NULL, &res,
					      &err);
			if (!rc && echoed(res) && !strcmp(echoed(res), text))
				w->ok++;
		}
		json_decref(args);
		json_decref(res);
	}
	return NULL;
}

/* Eight threads, ten calls each, on c at once; every answer must be the thread's own. */
void run_workers(struct cx_mcp_client *c)
{
	struct worker w[8];
	pthread_t t[8];

	for (int i = 0; i < 8; i++) {
		w[i] = (struct worker){ .c = c, .n = i };
		assert_int_equal(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
	}
	for (int i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 8; i++)
		assert_int_equal(w[i].ok, 10);
}
