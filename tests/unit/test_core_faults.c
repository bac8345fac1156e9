/* The server core where it is easiest to get wrong: answers that must still go out when memory
 * runs out, an exchange that nobody may touch once another thread answered it, and the tool
 * dispatch entry point that needs no JSON-RPC (REST routes and a local command line use it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "../../common/audit.h"
#include "../../common/jsonrpc.h"
#include "../../common/mcp.h"
#include "../../common/util.h"
#include "../../gateway/adapters.h"
#include "../../gateway/config.h"
#include "../../gateway/dispatch.h"
#include "../../gateway/jobs.h"
#include "../../gateway/registry.h"
#include "../../gateway/server.h"
#include "../adapters/testkit.h"
#include "fake_exchange.h"

#define TOKEN_RO "tok-core-faults-read-only-0123"
#define POISON   FX_POISON

/* ---- fixture ---- */

struct fixture {
	struct cx_gw_config conf;
	struct cx_registry *reg;
	void *gw_state;
	struct cx_audit *audit;
	char audit_path[64];
	struct cx_server *s;
	struct cx_session sess; /* the one session the tests use */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct cx_err err = { 0 };
	char hash[65], conf[256];
	json_t *tokens;
	int fd;

	assert_non_null(f);
	alarm(30);
	cx_gw_config_defaults(&f->conf);
	cx_sha256_hex(TOKEN_RO, strlen(TOKEN_RO), hash);
	snprintf(conf, sizeof(conf),
		 "{\"tokens\": [{\"name\": \"reader\", \"sha256\": \"%s\", \"read_only\": true}]}",
		 hash);
	tokens = fx_parse(conf);
	if (cx_gw_config_apply(&f->conf, tokens, &err))
		fail_msg("config: %s", err.msg);
	json_decref(tokens);
	f->conf.workers = 2;
	f->conf.call_timeout_ms = 300;
	f->reg = cx_registry_new();
	f->gw_state = cx_gateway_adapter_state_new(f->reg);
	if (cx_registry_add_state(f->reg, &cx_gateway_adapter, f->gw_state, &err) ||
	    cx_registry_add(f->reg, &cx_testkit_adapter, NULL, &err))
		fail_msg("registry: %s", err.msg);
	snprintf(f->audit_path, sizeof(f->audit_path), "/tmp/cx-test-faults-XXXXXX");
	fd = mkstemp(f->audit_path);
	assert_true(fd >= 0);
	close(fd);
	f->audit = cx_audit_open(f->audit_path, &err);
	assert_non_null(f->audit);
	cx_session_init(&f->sess);
	f->s = cx_server_new(&f->conf, f->reg, f->audit, &err);
	if (!f->s || cx_server_start(f->s, &err))
		fail_msg("server: %s", err.msg);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	cx_jobs_after_run_hook = NULL;
	assert_int_equal(cx_server_drain(f->s), 0);
	cx_server_free(f->s);
	cx_audit_close(f->audit);
	cx_registry_free(f->reg);
	cx_gateway_adapter_state_free(f->gw_state);
	cx_gw_config_release(&f->conf);
	cx_session_release(&f->sess);
	unlink(f->audit_path);
	free(f);
	alarm(0);
	return 0;
}

/* ---- out of memory still answers ---- */

static atomic_bool fail_allocs;

static void *failing_malloc(size_t n)
{
	return atomic_load(&fail_allocs) ? NULL : malloc(n);
}

/* A request whose error answer cannot be built for want of memory is still answered: reply()
 * with NULL would mean "nothing to send" (HTTP 202, stdio silence) and the client would wait
 * forever. */
static void test_out_of_memory_still_answers(void **state)
{
	struct fixture *f = *state;
	struct fx_ex *e = fx_new(cx_server_stdio_principal(f->s), &f->sess);
	json_t *msg = fx_parse("{\"jsonrpc\":\"2.0\",\"id\":41,\"method\":\"no/such/method\"}");
	const json_t *error;

	snprintf(f->sess.version, sizeof(f->sess.version), "2025-11-25");
	json_set_alloc_funcs(failing_malloc, free);
	atomic_store(&fail_allocs, true);
	cx_server_submit(f->s, &e->x, msg);
	atomic_store(&fail_allocs, false);
	json_set_alloc_funcs(malloc, free);

	assert_int_equal(fx_replies(e), 1);
	assert_non_null(e->response);
	error = json_object_get(e->response, "error");
	assert_int_equal(json_integer_value(json_object_get(error, "code")), CX_RPC_INTERNAL_ERROR);
	assert_string_equal(json_string_value(json_object_get(error, "message")),
			    "internal error: out of memory");
	fx_free(e);
}

/* ---- nobody touches an answered exchange ---- */

/* An exchange of the stateless revision, as the HTTP transport makes one. */
static struct fx_ex *stateless_ask(struct fixture *f)
{
	struct fx_ex *e = fx_new(cx_server_stdio_principal(f->s), &f->sess);

	e->x.stateless = true;
	e->x.initialized = true;
	snprintf(f->sess.version, sizeof(f->sess.version), "%s", CX_MCP_STATELESS);
	return e;
}

/* testkit_ask asks the user (elicitation) from a request that did not declare it. */
static json_t *ask_without_elicitation(void)
{
	return fx_parse("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":"
			"{\"name\":\"testkit_ask\",\"arguments\":{\"question\":\"ok?\"},"
			"\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\","
			"\"io.modelcontextprotocol/clientCapabilities\":{}}}}");
}

static struct fx_ex *raced;

/* Between the handler's return and its answer, let the watchdog answer first (the deadline
 * passes here), as a slow worker on a busy machine would. */
static void let_watchdog_win(struct cx_job *j)
{
	for (int i = 0; i < 400 && !fx_replies(raced); i++) {
		struct timespec ts = { 0, 5 * 1000000 };
		nanosleep(&ts, NULL);
	}
}

/* A stateless call whose tool needs a capability the request lacks is answered with HTTP 400
 * -32021 — but only by whoever answers first. When the watchdog has answered (and the
 * transport may have freed the exchange), the worker must not write the status into it. */
static void test_answered_exchange_is_not_touched(void **state)
{
	struct fixture *f = *state;
	struct fx_ex *e = stateless_ask(f);

	raced = e;
	cx_jobs_after_run_hook = let_watchdog_win;
	cx_server_submit(f->s, &e->x, ask_without_elicitation());
	fx_wait(e);
	/* The worker is past the hook once the job's references are gone: drain proves it. */
	assert_int_equal(cx_server_drain(f->s), 0);
	assert_int_equal(fx_replies(e), 1);
	assert_int_equal(e->status_at_reply, 0);
	assert_int_equal(e->x.http_status, POISON);
	assert_true(
		json_is_true(json_object_get(json_object_get(e->response, "result"), "isError")));
	fx_free(e);
}

/* The same call answered by its worker gets the capability error with its HTTP status. */
static void test_missing_capability_status(void **state)
{
	struct fixture *f = *state;
	struct fx_ex *e = stateless_ask(f);

	cx_server_submit(f->s, &e->x, ask_without_elicitation());
	fx_wait(e);
	assert_int_equal(e->status_at_reply, 400);
	assert_int_equal(json_integer_value(
				 json_object_get(json_object_get(e->response, "error"), "code")),
			 CX_RPC_MISSING_CAPABILITY);
	fx_free(e);
}

/* ---- tool calls without JSON-RPC ---- */

struct done {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool called;
	json_t *result;
	int code;
	char msg[256];
};

static void on_done(void *ctx, const json_t *result, int code, const char *msg)
{
	struct done *d = ctx;

	pthread_mutex_lock(&d->lock);
	d->called = true;
	d->result = result ? json_deep_copy(result) : NULL;
	d->code = code;
	snprintf(d->msg, sizeof(d->msg), "%s", msg ? msg : "");
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

static void call_direct(struct fixture *f, const struct cx_principal *who, const char *name,
			const char *args, struct done *d)
{
	json_t *a = args ? fx_parse(args) : NULL;
	struct timespec ts;

	memset(d, 0, sizeof(*d));
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
	assert_int_equal(cx_dispatch_tool(cx_server_dispatch(f->s), who, name, a, on_done, d), 0);
	json_decref(a);
	cx_deadline_ts(CLOCK_REALTIME, 5000, &ts);
	pthread_mutex_lock(&d->lock);
	while (!d->called && !pthread_cond_timedwait(&d->cond, &d->lock, &ts))
		;
	pthread_mutex_unlock(&d->lock);
	assert_true(d->called);
}

static void done_release(struct done *d)
{
	json_decref(d->result);
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->cond);
}

static bool audit_has(struct fixture *f, const char *needle)
{
	char buf[65536];
	FILE *fp = fopen(f->audit_path, "r");
	size_t n = fp ? fread(buf, 1, sizeof(buf) - 1, fp) : 0;

	if (fp)
		fclose(fp);
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

static void test_dispatch_tool_without_jsonrpc(void **state)
{
	struct fixture *f = *state;
	const struct cx_principal *reader = cx_server_authenticate(f->s, TOKEN_RO);
	const struct cx_principal *anyone = cx_server_anonymous(f->s);
	struct done d;

	assert_non_null(reader);
	/* A worker tool: the result as a client would get it, and an audit line. */
	call_direct(f, anyone, "testkit_echo", "{\"text\": \"hello\", \"mode\": \"upper\"}", &d);
	assert_non_null(d.result);
	assert_string_equal(json_string_value(
				    json_object_get(json_object_get(d.result, "structuredContent"),
						    "text")),
			    "HELLO");
	assert_null(json_object_get(d.result, "isError"));
	done_release(&d);
	assert_true(audit_has(f, "\"tool\":\"testkit_echo\""));

	/* Inline tools and absent arguments. */
	call_direct(f, anyone, "gateway_status", NULL, &d);
	assert_non_null(json_object_get(d.result, "structuredContent"));
	done_release(&d);

	/* Policy and schema are enforced as for tools/call: isError results. */
	call_direct(f, reader, "testkit_delete", "{\"target\": \"vm-1\"}", &d);
	assert_true(json_is_true(json_object_get(d.result, "isError")));
	done_release(&d);
	assert_true(audit_has(f, "\"outcome\":\"refused\""));
	call_direct(f, anyone, "testkit_echo", "{\"text\": 5}", &d);
	assert_true(json_is_true(json_object_get(d.result, "isError")));
	done_release(&d);

	/* An unknown tool has no result: -32602 and a sentence. */
	call_direct(f, anyone, "no_such_tool", NULL, &d);
	assert_null(d.result);
	assert_int_equal(d.code, CX_RPC_INVALID_PARAMS);
	assert_non_null(strstr(d.msg, "unknown tool 'no_such_tool'"));
	done_release(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_out_of_memory_still_answers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_answered_exchange_is_not_touched, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_missing_capability_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dispatch_tool_without_jsonrpc, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
