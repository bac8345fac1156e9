/* The MCP client against the real gateway (build/cortex-gateway-test, the test kit adapter):
 * paging, JSON and SSE answers, progress, cancellation that frees the gateway's only worker,
 * deadlines, eight threads on one client, a wrong token, sessions that outlive a restart
 * (same session key) and sessions that do not (another key: re-initialized), an unreachable
 * gateway, JSON-RPC errors and isError results.
 *
 * The gateway binary is $CORTEX_GATEWAY_BIN, else cortex-gateway-test in the build directory
 * this test was built in (<O>/tests/unit/ -> <O>/), else build/cortex-gateway-test. */
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

#define TOKEN "mcp-client-test-token-0123456789abcdef"
#define KEY_A "session-key-A-0123456789abcdef0123456789abcdef0123456789"
#define KEY_B "session-key-B-fedcba9876543210fedcba9876543210fedcba9876"
#define TMPL  "/tmp/cortex-mcp-client-XXXXXX"

struct gw {
	pid_t pid;
	unsigned port;
	char url[64];
	char dir[sizeof(TMPL)];
	char log[sizeof(TMPL) + 16];
};

static char gateway_bin[PATH_MAX];
/* Every gateway still running, killed after each test even when it failed half-way. */
static pid_t running[8];

static void find_gateway(void)
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

static char *slurp(const char *path)
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

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Starts the gateway with the test kit on port (0: any free one) and waits for "listening
 * on". key: the session key's secret, or NULL for none (a random key per start); tokens: a
 * bearer token is required; extra: more top-level config ("" or ", \"tools\": {...}"). */
static void gw_start(struct gw *g, unsigned port, const char *key, bool tokens, const char *extra)
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

static void gw_stop(struct gw *g)
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
static void gw_done(struct gw *g)
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

static struct cx_mcp_client *client(const struct gw *g, const char *token)
{
	struct cx_mcp_client_opts o = { .url = g->url, .token = token ? token : "" };
	struct cx_err err = { 0 };
	struct cx_mcp_client *c = cx_mcp_client_new(&o, &err);

	if (!c)
		fail_msg("cx_mcp_client_new: %s", err.msg);
	return c;
}

static json_t *call_ok(struct cx_mcp_client *c, const char *name, json_t *args,
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

static const char *echoed(const json_t *res)
{
	return json_string_value(
		json_object_get(json_object_get(res, "structuredContent"), "text"));
}

/* ---- tools/list ---- */

static void test_list_paging(void **state)
{
	struct gw g = { 0 };
	struct cx_mcp_client *c;
	struct cx_err err = { 0 };
	json_t *tools = NULL, *page = NULL;
	size_t i, pages = 0, paged = 0;
	char *cursor = NULL;
	bool echo = false, progress = false;

	gw_start(&g, 0, NULL, false, ", \"tools\": {\"page_size\": 3}");
	c = client(&g, NULL);
	assert_int_equal(cx_mcp_list_tools(c, &tools, &err), 0);
	assert_true(json_array_size(tools) > 6);
	for (i = 0; i < json_array_size(tools); i++) {
		const char *n =
			json_string_value(json_object_get(json_array_get(tools, i), "name"));

		assert_non_null(n);
		assert_non_null(json_object_get(json_array_get(tools, i), "inputSchema"));
		echo |= !strcmp(n, "testkit_echo");
		progress |= !strcmp(n, "testkit_progress");
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(n, json_string_value(
							   json_object_get(json_array_get(tools, j),
									   "name")));
	}
	assert_true(echo && progress);
	/* Page by page: three at a time, the cursor followed to the end. */
	do {
		assert_int_equal(cx_mcp_list_tools_page(c, cursor, &page, &err), 0);
		assert_true(json_array_size(json_object_get(page, "tools")) <= 3);
		paged += json_array_size(json_object_get(page, "tools"));
		pages++;
		free(cursor);
		cursor = json_string_value(json_object_get(page, "nextCursor"))
				 ? strdup(json_string_value(json_object_get(page, "nextCursor")))
				 : NULL;
		json_decref(page);
	} while (cursor && pages < 100);
	assert_int_equal(paged, json_array_size(tools));
	assert_int_equal(pages, (json_array_size(tools) + 2) / 3);
	/* A cursor the gateway never gave is a JSON-RPC error with its code. */
	assert_int_equal(cx_mcp_list_tools_page(c, "not-a-cursor", &page, &err), CX_MCP_E_RPC);
	assert_int_equal(err.code, -32602);
	json_decref(tools);
	cx_mcp_client_free(c);
	gw_done(&g);
}

/* ---- tools/call ---- */

struct progress_log {
	int n;
	bool out_of_order;
	double last, total;
	char msg[64];
};

static void on_progress(void *ctx, double progress, double total, const char *message)
{
	struct progress_log *p = ctx;

	/* No cmocka assertion here: it may run on a thread of the test's own. */
	p->out_of_order |= progress <= p->last;
	p->n++;
	p->last = progress;
	p->total = total;
	snprintf(p->msg, sizeof(p->msg), "%s", message ? message : "");
}

static void test_call_json_sse_progress(void **state)
{
	struct gw g = { 0 };
	struct cx_mcp_client *c;
	struct progress_log p = { 0 };
	struct cx_mcp_call_opts o = { .progress = on_progress, .ctx = &p };
	struct cx_err err = { 0 };
	json_t *res;
	char sid[256];

	gw_start(&g, 0, NULL, false, "");
	c = client(&g, NULL);
	/* JSON: no progress token. The session starts with the first call. */
	res = call_ok(c, "testkit_echo", json_pack("{s:s}", "text", "plain"), NULL);
	assert_string_equal(echoed(res), "plain");
	assert_false(json_is_true(json_object_get(res, "isError")));
	json_decref(res);
	assert_true(cx_mcp_client_session_id(c, sid, sizeof(sid)));
	assert_true(strlen(sid) > 10);
	res = cx_mcp_client_server_info(c);
	assert_string_equal(json_string_value(json_object_get(res, "protocolVersion")),
			    "2025-11-25");
	json_decref(res);
	/* SSE with nothing but the answer. */
	res = call_ok(c, "testkit_echo", json_pack("{s:s}", "text", "streamed"), &o);
	assert_string_equal(echoed(res), "streamed");
	assert_int_equal(p.n, 0);
	json_decref(res);
	/* SSE with progress before the answer. */
	res = call_ok(c, "testkit_progress", json_pack("{s:i, s:i}", "steps", 5, "ms", 20), &o);
	assert_int_equal(p.n, 5);
	assert_false(p.out_of_order);
	assert_true(p.last == 5.0 && p.total == 5.0);
	assert_string_equal(p.msg, "step 5 of 5");
	assert_string_equal(json_string_value(
				    json_object_get(json_array_get(json_object_get(res, "content"),
								   0),
						    "text")),
			    "counted 5 steps");
	json_decref(res);
	/* A tool's failure is a result the model reads, not an error. */
	res = call_ok(c, "testkit_fail", NULL, NULL);
	assert_true(json_is_true(json_object_get(res, "isError")));
	json_decref(res);
	/* Protocol errors are errors, with their code and message. */
	res = NULL;
	assert_int_equal(cx_mcp_call_tool(c, "no_such_tool", NULL, NULL, &res, &err), CX_MCP_E_RPC);
	assert_int_equal(err.code, -32602);
	assert_non_null(strstr(err.msg, "unknown tool 'no_such_tool'"));
	assert_null(res);
	assert_int_equal(cx_mcp_request(c, "no/such/method", NULL, NULL, &res, &err), CX_MCP_E_RPC);
	assert_int_equal(err.code, -32601);
	assert_int_equal(cx_mcp_request(c, "ping", NULL, NULL, &res, &err), 0);
	json_decref(res);
	cx_mcp_client_free(c);
	gw_done(&g);
}

/* An answer over max_response_bytes, as JSON or as one SSE event, is refused, not read. */
static void test_response_cap(void **state)
{
	struct gw g = { 0 };
	struct cx_mcp_client_opts co = { .token = "", .max_response_bytes = 20000 };
	struct progress_log p = { 0 };
	struct cx_mcp_call_opts o = { .progress = on_progress, .ctx = &p };
	struct cx_mcp_client *c;
	struct cx_err err = { 0 };
	json_t *res = NULL, *big = json_pack("{s:i}", "bytes", 100000);

	gw_start(&g, 0, NULL, false, "");
	co.url = g.url;
	c = cx_mcp_client_new(&co, &err);
	assert_non_null(c);
	res = call_ok(c, "testkit_big", json_pack("{s:i}", "bytes", 5000), NULL);
	json_decref(res);
	res = NULL;
	assert_int_equal(cx_mcp_call_tool(c, "testkit_big", big, NULL, &res, &err),
			 CX_MCP_E_PROTOCOL);
	assert_non_null(strstr(err.msg, "larger than 20000 bytes"));
	assert_int_equal(cx_mcp_call_tool(c, "testkit_big", big, &o, &res, &err),
			 CX_MCP_E_PROTOCOL);
	assert_non_null(strstr(err.msg, "larger than 20000 bytes"));
	assert_null(res);
	/* The client goes on working. */
	res = call_ok(c, "testkit_echo", json_pack("{s:s}", "text", "small"), &o);
	assert_string_equal(echoed(res), "small");
	json_decref(res);
	json_decref(big);
	cx_mcp_client_free(c);
	gw_done(&g);
}

/* ---- cancellation and deadlines ---- */

struct slow {
	struct cx_mcp_client *c;
	struct cx_mcp_cancel *k;
	bool sse;
	int rc;
	int64_t ended;
	char msg[CX_ERR_MSG_MAX];
	struct progress_log p;
};

static void *slow_call(void *arg)
{
	struct slow *s = arg;
	struct cx_mcp_call_opts o = { .cancel = s->k };
	struct cx_err err = { 0 };
	json_t *res = NULL, *args;

	if (s->sse) {
		o.progress = on_progress;
		o.ctx = &s->p;
		args = json_pack("{s:i, s:i}", "steps", 100, "ms", 100);
		s->rc = cx_mcp_call_tool(s->c, "testkit_progress", args, &o, &res, &err);
	} else {
		args = json_pack("{s:i}", "ms", 20000);
		s->rc = cx_mcp_call_tool(s->c, "testkit_sleep", args, &o, &res, &err);
	}
	s->ended = cx_now_ms();
	if (s->rc) {
		snprintf(s->msg, sizeof(s->msg), "%s", err.msg);
	} else {
		char *text = json_dumps(res, 0);

		snprintf(s->msg, sizeof(s->msg), "%s", text ? text : "");
		free(text);
	}
	json_decref(args);
	json_decref(res);
	return NULL;
}

/* One cancelled call on a gateway with one worker: it returns at once, and the next call is
 * served at once (the worker was freed by notifications/cancelled). */
static void cancel_one(struct cx_mcp_client *c, bool sse)
{
	struct slow s = { .c = c, .k = cx_mcp_cancel_new(), .sse = sse };
	pthread_t t;
	int64_t t0;
	json_t *res;

	assert_int_equal(pthread_create(&t, NULL, slow_call, &s), 0);
	usleep(600000);
	t0 = cx_now_ms();
	cx_mcp_cancel(s.k, "the operator cancelled the task");
	pthread_join(t, NULL);
	if (s.rc != CX_MCP_E_CANCELLED)
		fail_msg("the cancelled call returned %d (%s): %s", s.rc, cx_mcp_status_name(s.rc),
			 s.msg);
	assert_non_null(strstr(s.msg, "cancelled"));
	if (s.ended - t0 > 1500)
		fail_msg("the cancelled call returned after %lld ms", (long long)(s.ended - t0));
	if (sse)
		assert_true(s.p.n > 0); /* it was running, and streaming */
	res = call_ok(c, "testkit_echo", json_pack("{s:s}", "text", "freed"), NULL);
	assert_string_equal(echoed(res), "freed");
	if (cx_now_ms() - t0 > 3000)
		fail_msg("the only worker was not freed: the next call took %lld ms",
			 (long long)(cx_now_ms() - t0));
	json_decref(res);
	cx_mcp_cancel_free(s.k);
}

static void test_cancel_and_deadline(void **state)
{
	struct gw g = { 0 };
	struct cx_mcp_client *c;
	struct cx_mcp_cancel *k = cx_mcp_cancel_new();
	struct cx_mcp_call_opts o = { .cancel = k };
	struct cx_err err = { 0 };
	json_t *res = NULL, *args = json_pack("{s:i}", "ms", 20000);
	int64_t t0;

	gw_start(&g, 0, NULL, false, ", \"calls\": {\"workers\": 1, \"timeout_ms\": 30000}");
	c = client(&g, NULL);
	cancel_one(c, false);
	cancel_one(c, true);
	/* Cancelled before it starts: never sent. */
	cx_mcp_cancel(k, NULL);
	assert_true(cx_mcp_cancelled(k));
	assert_int_equal(cx_mcp_call_tool(c, "testkit_echo", NULL, &o, &res, &err),
			 CX_MCP_E_CANCELLED);
	cx_mcp_cancel_reset(k);
	assert_false(cx_mcp_cancelled(k));
	/* A deadline: the call stops, the gateway is told, the worker comes back. */
	o.timeout_ms = 300;
	t0 = cx_now_ms();
	assert_int_equal(cx_mcp_call_tool(c, "testkit_sleep", args, &o, &res, &err),
			 CX_MCP_E_TIMEOUT);
	json_decref(args);
	assert_true(cx_now_ms() - t0 < 2000);
	assert_non_null(strstr(err.msg, "300 ms"));
	res = call_ok(c, "testkit_echo", json_pack("{s:s}", "text", "after"), NULL);
	assert_true(cx_now_ms() - t0 < 4000);
	json_decref(res);
	cx_mcp_cancel_free(k);
	cx_mcp_client_free(c);
	gw_done(&g);
}

/* ---- threads ---- */

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
static void run_workers(struct cx_mcp_client *c)
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

static void test_eight_threads(void **state)
{
	struct gw g = { 0 };
	struct cx_mcp_client *c;

	gw_start(&g, 0, NULL, false, "");
	c = client(&g, NULL); /* no session yet: the threads race to start it */
	run_workers(c);
	cx_mcp_client_free(c);
	gw_done(&g);
}

/* ---- credentials ---- */

static void test_tokens(void **state)
{
	struct gw g = { 0 };
	struct cx_mcp_client *c;
	struct cx_mcp_client_opts o = { 0 };
	struct cx_err err = { 0 };
	json_t *res = NULL;

	gw_start(&g, 0, NULL, true, "");
	c = client(&g, "wrong-" TOKEN);
	assert_int_equal(cx_mcp_call_tool(c, "testkit_echo", NULL, NULL, &res, &err),
			 CX_MCP_E_AUTH);
	assert_non_null(strstr(err.msg, "401"));
	assert_non_null(strstr(err.msg, "not valid"));
	assert_null(strstr(err.msg, TOKEN));
	cx_mcp_client_free(c);
	c = client(&g, NULL);
	assert_int_equal(cx_mcp_client_connect(c, &err), CX_MCP_E_AUTH);
	assert_non_null(strstr(err.msg, "Bearer"));
	cx_mcp_client_free(c);
	/* The URL and the token from the environment. */
	setenv("CORTEX_GATEWAY_URL", g.url, 1);
	setenv("CORTEX_TOKEN", TOKEN, 1);
	c = cx_mcp_client_new(&o, &err);
	assert_non_null(c);
	assert_string_equal(cx_mcp_client_url(c), g.url);
	res = call_ok(c, "testkit_echo", json_pack("{s:s}", "text", "let in"), NULL);
	assert_string_equal(echoed(res), "let in");
	json_decref(res);
	cx_mcp_client_free(c);
	unsetenv("CORTEX_GATEWAY_URL");
	unsetenv("CORTEX_TOKEN");
	c = cx_mcp_client_new(NULL, &err);
	assert_string_equal(cx_mcp_client_url(c), "http://127.0.0.1:8080/mcp");
	cx_mcp_client_free(c);
	o.url = "ftp://example.org/mcp";
	assert_null(cx_mcp_client_new(&o, &err));
	assert_non_null(strstr(err.msg, "http://"));
	o.url = g.url;
	o.token = "two words";
	assert_null(cx_mcp_client_new(&o, &err));
	assert_null(strstr(err.msg, "two words"));
	gw_done(&g);
}

/* ---- sessions across restarts ---- */

static void test_session_restart(void **state)
{
	struct gw g = { 0 };
	struct cx_mcp_client *c;
	char before[512], after[512];
	unsigned port;
	json_t *res;

	gw_start(&g, 0, KEY_A, true, "");
	port = g.port;
	c = client(&g, TOKEN);
	res = call_ok(c, "testkit_echo", json_pack("{s:s}", "text", "one"), NULL);
	json_decref(res);
	assert_true(cx_mcp_client_session_id(c, before, sizeof(before)));

	/* Same key: the sealed session id is still good after a restart. */
	gw_stop(&g);
	gw_start(&g, port, KEY_A, true, "");
	res = call_ok(c, "testkit_echo", json_pack("{s:s}", "text", "two"), NULL);
	assert_string_equal(echoed(res), "two");
	json_decref(res);
	assert_true(cx_mcp_client_session_id(c, after, sizeof(after)));
	assert_string_equal(before, after);

	/* Another key: 404, a new session, the call retried once and answered. */
	gw_stop(&g);
	gw_start(&g, port, KEY_B, true, "");
	res = call_ok(c, "testkit_echo", json_pack("{s:s}", "text", "three"), NULL);
	assert_string_equal(echoed(res), "three");
	json_decref(res);
	assert_true(cx_mcp_client_session_id(c, after, sizeof(after)));
	assert_string_not_equal(before, after);
	/* And with progress (SSE) after one more loss. */
	gw_stop(&g);
	gw_start(&g, port, NULL, true, "");
	{
		struct progress_log p = { 0 };
		struct cx_mcp_call_opts o = { .progress = on_progress, .ctx = &p };

		res = call_ok(c, "testkit_progress", json_pack("{s:i, s:i}", "steps", 2, "ms", 0),
			      &o);
		assert_int_equal(p.n, 2);
		json_decref(res);
	}
	/* Eight threads meet the lost session at once: one new session serves them all. */
	gw_stop(&g);
	gw_start(&g, port, KEY_A, true, "");
	run_workers(c);
	cx_mcp_client_free(c);
	gw_done(&g);
}

/* ---- no gateway ---- */

static unsigned free_port(void)
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

static void *kill_later(void *arg)
{
	usleep(800000); /* the call is running (and, with SSE, has reported progress) */
	kill(*(pid_t *)arg, SIGKILL);
	return NULL;
}

/* The gateway dies during a call: the error says the call may or may not have run. */
static void gateway_dies(bool sse, int want, const char *says)
{
	struct gw g = { 0 };
	struct cx_mcp_client *c;
	struct progress_log p = { 0 };
	struct cx_mcp_call_opts o = { .progress = on_progress, .ctx = &p };
	struct cx_err err = { 0 };
	json_t *res = NULL, *args;
	pthread_t t;
	int rc;

	gw_start(&g, 0, NULL, false, "");
	c = client(&g, NULL);
	assert_int_equal(cx_mcp_client_connect(c, &err), 0);
	assert_int_equal(pthread_create(&t, NULL, kill_later, &g.pid), 0);
	args = sse ? json_pack("{s:i, s:i}", "steps", 100, "ms", 100)
		   : json_pack("{s:i}", "ms", 20000);
	rc = cx_mcp_call_tool(c, sse ? "testkit_progress" : "testkit_sleep", args, sse ? &o : NULL,
			      &res, &err);
	pthread_join(t, NULL);
	json_decref(args);
	if (rc != want || !strstr(err.msg, says))
		fail_msg("got %d (%s), want %d with \"%s\"", rc, err.msg, want, says);
	if (sse)
		assert_true(p.n > 0);
	cx_mcp_client_free(c);
	gw_done(&g);
}

static void test_gateway_dies_mid_call(void **state)
{
	gateway_dies(false, CX_MCP_E_UNREACHABLE, "may or may not have been carried out");
	gateway_dies(true, CX_MCP_E_PROTOCOL, "ended before its answer");
}

static void test_unreachable(void **state)
{
	struct gw g = { 0 };
	struct cx_mcp_client *c;
	struct cx_err err = { 0 };
	json_t *res = NULL;
	int64_t t0 = cx_now_ms();

	snprintf(g.url, sizeof(g.url), "http://127.0.0.1:%u/mcp", free_port());
	c = client(&g, TOKEN);
	assert_int_equal(cx_mcp_call_tool(c, "testkit_echo", NULL, NULL, &res, &err),
			 CX_MCP_E_UNREACHABLE);
	assert_non_null(strstr(err.msg, "gateway unreachable at"));
	assert_non_null(strstr(err.msg, g.url));
	assert_non_null(strstr(err.msg, "check that cortex-gateway runs there"));
	assert_null(strstr(err.msg, TOKEN));
	assert_true(cx_now_ms() - t0 < 3000);
	assert_int_equal(cx_mcp_list_tools(c, &res, &err), CX_MCP_E_UNREACHABLE);
	cx_mcp_client_free(c);
	/* A path that is not the MCP endpoint: an HTTP error, not a hang or a crash. */
	gw_start(&g, 0, NULL, false, "");
	snprintf(g.url, sizeof(g.url), "http://127.0.0.1:%u/nope", g.port);
	c = client(&g, NULL);
	assert_int_equal(cx_mcp_client_connect(c, &err), CX_MCP_E_HTTP);
	assert_non_null(strstr(err.msg, "404"));
	cx_mcp_client_free(c);
	gw_done(&g);
}

static int kill_running(void **state)
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_list_paging, kill_running),
		cmocka_unit_test_teardown(test_call_json_sse_progress, kill_running),
		cmocka_unit_test_teardown(test_response_cap, kill_running),
		cmocka_unit_test_teardown(test_cancel_and_deadline, kill_running),
		cmocka_unit_test_teardown(test_eight_threads, kill_running),
		cmocka_unit_test_teardown(test_tokens, kill_running),
		cmocka_unit_test_teardown(test_session_restart, kill_running),
		cmocka_unit_test_teardown(test_unreachable, kill_running),
		cmocka_unit_test_teardown(test_gateway_dies_mid_call, kill_running),
	};

	signal(SIGPIPE, SIG_IGN);
	find_gateway();
	if (cx_http_global_init())
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
