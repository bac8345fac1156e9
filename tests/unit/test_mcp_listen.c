/* cx_mcp_listen (the session's GET stream) against the real gateway (build/cortex-gateway-test
 * on a dir task store): the stream's opening is reported before anything else, a subscribed
 * task's changes made by another party (a worker on the store) arrive as
 * notifications/resources/updated, the callback stops the stream, cancellation from another
 * thread ends it at once, a deadline ends it, a wrong token is CX_MCP_E_AUTH, and a gateway
 * that is gone is CX_MCP_E_UNREACHABLE.
 *
 * The gateway binary is $CORTEX_GATEWAY_BIN, else cortex-gateway-test in the build directory
 * this test was built in (<O>/tests/unit/ -> <O>/). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../common/http_client.h"
#include "../../common/mcp_client.h"
#include "../../common/taskstore.h"
#include "../../common/util.h"

#define TOKEN "mcp-listen-test-token-0123456789abcdef"
#define TMPL  "/tmp/cortex-mcp-listen-XXXXXX"

static char gateway_bin[PATH_MAX];
static char dir[sizeof(TMPL)];
static char url[64];
static pid_t gw_pid;

static void find_gateway(void)
{
	const char *env = getenv("CORTEX_GATEWAY_BIN");
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (env && *env) {
		snprintf(gateway_bin, sizeof(gateway_bin), "%s", env);
		return;
	}
	snprintf(gateway_bin, sizeof(gateway_bin), "build/cortex-gateway-test");
	if (n > 0) {
		self[n] = '\0';
		snprintf(gateway_bin, sizeof(gateway_bin), "%s/cortex-gateway-test",
			 dirname(dirname(dirname(self))));
	}
}

/* The gateway with the task tools on dir/tasks and one token; waits for "listening on". */
static int gw_up(void **state)
{
	char conf[sizeof(dir) + 32], log[sizeof(dir) + 32], hash[65], text[1024];
	unsigned port = 0;
	FILE *f;

	find_gateway();
	memcpy(dir, TMPL, sizeof(TMPL));
	if (!mkdtemp(dir))
		return -1;
	snprintf(conf, sizeof(conf), "%s/gateway.json", dir);
	snprintf(log, sizeof(log), "%s/stderr", dir);
	cx_sha256_hex(TOKEN, strlen(TOKEN), hash);
	f = fopen(conf, "w");
	if (!f)
		return -1;
	fprintf(f,
		"{\"tasks\": {\"store\": \"dir\", \"dir\": \"%s/tasks\"}, \"tokens\": [{\"name\": "
		"\"ctl\", \"sha256\": \"%s\"}]}",
		dir, hash);
	fclose(f);
	gw_pid = fork();
	if (gw_pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, 2);
		execl(gateway_bin, gateway_bin, "--config", conf, "--listen", "127.0.0.1:0",
		      (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 750 && !port; i++) {
		size_t n = 0;
		const char *m;
		usleep(20000);
		f = fopen(log, "r");
		if (f) {
			n = fread(text, 1, sizeof(text) - 1, f);
			fclose(f);
		}
		text[n] = '\0';
		m = strstr(text, "listening on http://127.0.0.1:");
		if (m && sscanf(m, "listening on http://127.0.0.1:%u/mcp", &port) != 1)
			port = 0;
	}
	if (!port)
		return -1;
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/mcp", port);
	return cx_http_global_init();
}

static void gw_kill(void)
{
	int st;

	if (gw_pid > 0) {
		kill(gw_pid, SIGKILL);
		waitpid(gw_pid, &st, 0);
		gw_pid = 0;
	}
}

static int gw_down(void **state)
{
	char cmd[sizeof(dir) + 16];

	gw_kill();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct cx_mcp_client *client(const char *token)
{
	struct cx_mcp_client_opts o = { .url = url, .token = token };
	struct cx_err err = { 0 };
	struct cx_mcp_client *c = cx_mcp_client_new(&o, &err);

	if (!c)
		fail_msg("cx_mcp_client_new: %s", err.msg);
	return c;
}

static struct cx_task_store *store(void)
{
	char path[sizeof(dir) + 16];
	struct cx_err err = { 0 };
	json_t *conf;
	struct cx_task_store *s;

	snprintf(path, sizeof(path), "%s/tasks", dir);
	conf = json_pack("{s:s, s:s}", "store", "dir", "dir", path);
	s = cx_task_store_open(conf, &err);
	json_decref(conf);
	if (!s)
		fail_msg("cx_task_store_open: %s", err.msg);
	return s;
}

/* What the listening thread heard. */
struct heard {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct cx_mcp_client *c;
	struct cx_mcp_cancel *cancel;
	long timeout_ms;
	const char *uri; /* stop at the first update of it */
	int opened;      /* NULL messages */
	int updates;     /* notifications/resources/updated of uri */
	int before_open; /* messages before the opening (must stay 0) */
	bool done;
	int rc;
	struct cx_err err;
};

static bool on_message(void *ctx, const json_t *msg)
{
	struct heard *h = ctx;
	const char *method = json_string_value(json_object_get(msg, "method"));
	const char *uri = json_string_value(json_object_get(json_object_get(msg, "params"), "uri"));
	bool stop = false;

	pthread_mutex_lock(&h->mu);
	if (!msg) {
		h->opened++;
	} else if (!h->opened) {
		h->before_open++;
	} else if (method && !strcmp(method, "notifications/resources/updated") && uri && h->uri &&
		   !strcmp(uri, h->uri)) {
		h->updates++;
		stop = true;
	}
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
	return stop;
}

static void *listen_main(void *arg)
{
	struct heard *h = arg;
	struct cx_mcp_call_opts o = { .cancel = h->cancel, .timeout_ms = h->timeout_ms };
	int rc = cx_mcp_listen(h->c, on_message, h, &o, &h->err);

	pthread_mutex_lock(&h->mu);
	h->rc = rc;
	h->done = true;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

/* Waits up to ms for *field to become nonzero (or the listener to end). */
static void wait_for(struct heard *h, const int *count, const bool *flag, long ms)
{
	struct timespec ts;

	cx_deadline_ts(CLOCK_REALTIME, ms, &ts);
	pthread_mutex_lock(&h->mu);
	while (!(count ? *count : *flag) && !h->done &&
	       pthread_cond_timedwait(&h->cv, &h->mu, &ts) == 0)
		;
	pthread_mutex_unlock(&h->mu);
}

static void heard_init(struct heard *h, struct cx_mcp_client *c)
{
	memset(h, 0, sizeof(*h));
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	h->c = c;
	h->cancel = cx_mcp_cancel_new();
	assert_non_null(h->cancel);
}

static void heard_release(struct heard *h)
{
	cx_mcp_cancel_free(h->cancel);
	pthread_mutex_destroy(&h->mu);
	pthread_cond_destroy(&h->cv);
}

/* A queued task made through the gateway; its id copied into id. */
static void create_task(struct cx_mcp_client *c, char *id, size_t idlen)
{
	json_t *args = json_pack("{s:s, s:s}", "query", "listen test", "category", "cicd");
	json_t *res = NULL;
	struct cx_err err = { 0 };

	if (cx_mcp_call_tool(c, "cortex_create_task", args, NULL, &res, &err))
		fail_msg("cortex_create_task: %s", err.msg);
	snprintf(id, idlen, "%s",
		 json_string_value(
			 json_array_get(json_object_get(json_object_get(res, "structuredContent"),
							"ids"),
					0)));
	json_decref(args);
	json_decref(res);
}

static void test_opened_then_updates(void **state)
{
	struct cx_mcp_client *c = client(TOKEN);
	struct cx_task_store *s = store();
	struct cx_err err = { 0 };
	struct heard h;
	char id[64], uri[96];
	json_t *p, *res = NULL, *task = NULL;
	pthread_t th;

	create_task(c, id, sizeof(id));
	snprintf(uri, sizeof(uri), "cortex://tasks/%s", id);
	heard_init(&h, c);
	h.uri = uri;
	assert_int_equal(pthread_create(&th, NULL, listen_main, &h), 0);
	wait_for(&h, &h.opened, NULL, 10000);
	assert_int_equal(h.opened, 1);
	p = json_pack("{s:s}", "uri", uri);
	assert_int_equal(cx_mcp_request(c, "resources/subscribe", p, NULL, &res, &err), 0);
	json_decref(p);
	json_decref(res);

	/* A worker claims it on the store, outside the gateway: the stream hears of it, and
	 * the callback's true ends the listen with 0. */
	assert_int_equal(cx_task_claim(s, "cicd-1", NULL, 0, &task, &err), 0);
	assert_non_null(task);
	wait_for(&h, NULL, &h.done, 10000);
	assert_true(h.done);
	assert_int_equal(h.rc, 0);
	assert_int_equal(h.updates, 1);
	assert_int_equal(h.before_open, 0);
	pthread_join(th, NULL);

	/* The session still works after the stream ended. */
	assert_int_equal(cx_mcp_request(c, "ping", NULL, NULL, &res, &err), 0);
	json_decref(res);
	json_decref(task);
	heard_release(&h);
	cx_task_store_close(s);
	cx_mcp_client_free(c);
}

static void test_cancel_and_deadline(void **state)
{
	struct cx_mcp_client *c = client(TOKEN);
	struct heard h;
	int64_t t0;
	pthread_t th;

	heard_init(&h, c);
	assert_int_equal(pthread_create(&th, NULL, listen_main, &h), 0);
	wait_for(&h, &h.opened, NULL, 10000);
	assert_int_equal(h.opened, 1);
	t0 = cx_now_ms();
	cx_mcp_cancel(h.cancel, "done watching");
	wait_for(&h, NULL, &h.done, 5000);
	assert_true(h.done);
	assert_int_equal(h.rc, CX_MCP_E_CANCELLED);
	assert_true(cx_now_ms() - t0 < 3000);
	pthread_join(th, NULL);
	heard_release(&h);

	/* A deadline ends a quiet stream. */
	heard_init(&h, c);
	h.timeout_ms = 400;
	listen_main(&h);
	assert_int_equal(h.rc, CX_MCP_E_TIMEOUT);
	assert_int_equal(h.opened, 1);
	heard_release(&h);
	cx_mcp_client_free(c);
}

static void test_refused_and_unreachable(void **state)
{
	struct cx_mcp_client *c = client("not-the-token");
	struct heard h;

	heard_init(&h, c);
	listen_main(&h);
	assert_int_equal(h.rc, CX_MCP_E_AUTH);
	assert_int_equal(h.opened, 0);
	assert_null(strstr(h.err.msg, "not-the-token"));
	heard_release(&h);
	cx_mcp_client_free(c);

	/* A session, then the gateway gone: the GET cannot connect. */
	c = client(TOKEN);
	assert_int_equal(cx_mcp_client_connect(c, &h.err), 0);
	gw_kill();
	heard_init(&h, c);
	listen_main(&h);
	assert_int_equal(h.rc, CX_MCP_E_UNREACHABLE);
	assert_int_equal(h.opened, 0);
	heard_release(&h);
	cx_mcp_client_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_opened_then_updates),
		cmocka_unit_test(test_cancel_and_deadline),
		/* last: it stops the gateway */
		cmocka_unit_test(test_refused_and_unreachable),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, gw_up, gw_down);
}
