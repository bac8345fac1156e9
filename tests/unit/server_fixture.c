/* The shared server-core fixture (server_fixture.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
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
#include "../../common/log.h"
#include "../../common/mcp.h"
#include "../../common/util.h"
#include "../../gateway/adapters.h"
#include "../../gateway/config.h"
#include "../../gateway/registry.h"
#include "../../gateway/server.h"
#include "../../gateway/session.h"
#include "../adapters/testkit.h"
#include "fake_exchange.h"
#include "server_fixture.h"

/* ---- fixture adapter "spin": a handler that notices its deadline at once ---- */

/* Spins on cx_call_cancelled(), which turns true by the clock the moment the deadline passes,
 * so this handler returns ahead of the watchdog's wake-up: the case where the worker, not
 * the watchdog, is first to answer a call that ran out of time. */
static int spin_until_cancelled(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	while (!cx_call_cancelled(call))
		;
	return cx_result_errorf(res, "gave up when cancelled");
}

/* Holds its worker for 400 ms whatever the deadline says: a handler that does not cooperate. */
static int spin_stubborn(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	struct timespec ts = { 0, 400 * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
	return cx_result_text(res, "finished late");
}

atomic_int spin_count_runs;

static int spin_count(struct cx_call *call, const json_t *args, struct cx_result *res)
{
	atomic_fetch_add(&spin_count_runs, 1);
	return cx_result_text(res, "counted");
}

static const struct cx_tool spin_tools[] = {
	{ "spin_until_cancelled", spin_until_cancelled, CX_READ_ONLY },
	{ "spin_stubborn", spin_stubborn, CX_READ_ONLY },
	{ "spin_count", spin_count, 0 },
	{ NULL, NULL, 0 },
};

static const struct cx_adapter spin_adapter = {
	.name = "spin",
	.tools_json = "[{\"name\":\"spin_until_cancelled\",\"description\":\"Busy-waits until "
		      "the call is cancelled.\",\"inputSchema\":{\"type\":\"object\"}},"
		      "{\"name\":\"spin_stubborn\",\"description\":\"Sleeps 400 ms, ignoring "
		      "cancellation.\",\"inputSchema\":{\"type\":\"object\"}},"
		      "{\"name\":\"spin_count\",\"description\":\"Counts its runs.\","
		      "\"inputSchema\":{\"type\":\"object\"}}]",
	.tools = spin_tools,
};

/* ---- fixture ---- */

struct opts {
	long page_size, call_timeout_ms, workers, queue_max, max_output_bytes;
};

static int fixture_new(void **state, const struct opts *o)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct cx_err err = { 0 };
	char gw_hash[65], ro_hash[65];
	json_t *tokens;
	int fd;

	assert_non_null(f);
	/* After a failed assertion, calls may be left that teardown's drain waits for; a hang
	 * would stall the whole test run (scripts/run-tests.sh has no timeout), so it becomes a
	 * crash that names this binary instead. Disarmed in teardown. */
	alarm(30);
	cx_gw_config_defaults(&f->conf);
	cx_sha256_hex(TOKEN_GW, strlen(TOKEN_GW), gw_hash);
	cx_sha256_hex(TOKEN_RO, strlen(TOKEN_RO), ro_hash);
	tokens = fx_packf("{\"tokens\": ["
			  "{\"name\": \"gw-only\", \"sha256\": \"%s\", \"allow\": [\"gateway_*\"]},"
			  "{\"name\": \"reader\", \"sha256\": \"%s\", \"read_only\": true}]}",
			  gw_hash, ro_hash);
	if (cx_gw_config_apply(&f->conf, tokens, &err))
		fail_msg("config: %s", err.msg);
	json_decref(tokens);
	f->conf.workers = o->workers ? o->workers : 2;
	f->conf.queue_max = o->queue_max ? o->queue_max : 64;
	f->conf.call_timeout_ms = o->call_timeout_ms ? o->call_timeout_ms : 3000;
	f->conf.page_size = o->page_size ? o->page_size : 100;
	f->conf.max_output_bytes = o->max_output_bytes ? o->max_output_bytes : 4096;

	f->reg = cx_registry_new();
	assert_non_null(f->reg);
	f->gw_state = cx_gateway_adapter_state_new(f->reg);
	if (cx_registry_add_state(f->reg, &cx_gateway_adapter, f->gw_state, &err) ||
	    cx_registry_add(f->reg, &cx_testkit_adapter, NULL, &err) ||
	    cx_registry_add(f->reg, &spin_adapter, NULL, &err))
		fail_msg("registry: %s", err.msg);

	snprintf(f->audit_path, sizeof(f->audit_path), "/tmp/cx-test-server-XXXXXX");
	fd = mkstemp(f->audit_path);
	assert_true(fd >= 0);
	close(fd);
	f->audit = cx_audit_open(f->audit_path, &err);
	if (!f->audit)
		fail_msg("audit: %s", err.msg);

	f->s = cx_server_new(&f->conf, f->reg, f->audit, &err);
	if (!f->s)
		fail_msg("server: %s", err.msg);
	if (cx_server_start(f->s, &err))
		fail_msg("server start: %s", err.msg);
	f->who = cx_server_stdio_principal(f->s);
	*state = f;
	return 0;
}

int setup(void **state)
{
	return fixture_new(state, &(struct opts){ 0 });
}

int setup_paged(void **state)
{
	return fixture_new(state, &(struct opts){ .page_size = 2 });
}

int setup_deadline(void **state)
{
	return fixture_new(state,
			   &(struct opts){ .call_timeout_ms = 200, .workers = DEADLINE_CALLS });
}

int setup_single(void **state)
{
	return fixture_new(state, &(struct opts){ .call_timeout_ms = 200, .workers = 1 });
}

int setup_narrow(void **state)
{
	return fixture_new(state, &(struct opts){ .workers = 1, .queue_max = 1 });
}

int teardown(void **state)
{
	struct fixture *f = *state;

	/* Every handler here stops by its deadline: no worker is left behind. */
	assert_int_equal(cx_server_drain(f->s), 0);
	cx_server_free(f->s);
	cx_audit_close(f->audit);
	cx_registry_free(f->reg);
	cx_gateway_adapter_state_free(f->gw_state);
	cx_gw_config_release(&f->conf);
	unlink(f->audit_path);
	free(f);
	alarm(0);
	return 0;
}

/* ---- conversation helpers ---- */

/* Submits text on a fresh exchange and waits for the answer; returns the response (new
 * reference, NULL when the server answered with nothing). Exactly one reply is asserted. */
json_t *roundtrip_as(struct fixture *f, const struct cx_principal *who, struct cx_session *sess,
		     json_t *msg)
{
	struct fx_ex *e;
	json_t *r;

	e = fx_new(who, sess);
	cx_server_submit(f->s, &e->x, msg);
	r = json_incref(fx_wait(e));
	assert_int_equal(fx_replies(e), 1);
	fx_free(e);
	return r;
}

json_t *roundtrip(struct fixture *f, struct cx_session *sess, const char *text)
{
	return roundtrip_as(f, f->who, sess, fx_parse(text));
}

void initialize(struct fixture *f, struct cx_session *sess, const char *version)
{
	json_t *r =
		roundtrip_as(f, f->who, sess,
			     fx_packf("{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\","
				      "\"params\":{\"protocolVersion\":\"%s\",\"capabilities\":{},"
				      "\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}",
				      version));
	const char *got =
		json_string_value(json_object_get(json_object_get(r, "result"), "protocolVersion"));

	if (!got)
		fail_msg("initialize failed: %s", json_dumps(r, 0));
	assert_string_equal(got, version);
	assert_string_equal(sess->version, version);
	json_decref(r);
}

json_t *tool_call_as(struct fixture *f, const struct cx_principal *who, struct cx_session *sess,
		     const char *tool, const char *args)
{
	return roundtrip_as(f, who, sess,
			    fx_packf("{\"jsonrpc\":\"2.0\",\"id\":\"call-1\","
				     "\"method\":\"tools/call\","
				     "\"params\":{\"name\":\"%s\",\"arguments\":%s}}",
				     tool, args));
}

long error_code(const json_t *r)
{
	return (long)json_integer_value(json_object_get(json_object_get(r, "error"), "code"));
}

const json_t *result_of(const json_t *r)
{
	const json_t *res = json_object_get(r, "result");

	if (!json_is_object(res))
		fail_msg("not a result: %s", json_dumps(r, JSON_COMPACT));
	return res;
}

bool is_error_result(const json_t *r)
{
	return json_is_true(json_object_get(result_of(r), "isError"));
}

const char *result_text(const json_t *r)
{
	const char *t = json_string_value(
		json_object_get(json_array_get(json_object_get(result_of(r), "content"), 0),
				"text"));

	assert_non_null(t);
	return t;
}

void assert_contains(const char *hay, const char *needle)
{
	if (!hay || !strstr(hay, needle))
		fail_msg("'%s' does not contain '%s'", hay ? hay : "(null)", needle);
}

/* An isError result whose text contains needle. */
void assert_is_error(const json_t *r, const char *needle)
{
	if (!is_error_result(r))
		fail_msg("expected isError: %s", json_dumps(r, JSON_COMPACT));
	assert_contains(result_text(r), needle);
}

/* ---- audit ---- */

/* The audit lines so far, as an array (new reference). */
json_t *audit_lines(struct fixture *f)
{
	FILE *fp = fopen(f->audit_path, "r");
	json_t *arr = json_array();
	char line[65536];

	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp)) {
		json_error_t je;
		json_t *v = json_loads(line, 0, &je);
		if (!v)
			fail_msg("audit line is not JSON: %s", line);
		json_array_append_new(arr, v);
	}
	fclose(fp);
	return arr;
}

/* The last audit line for tool (new reference), or NULL. */
json_t *audit_last(struct fixture *f, const char *tool)
{
	json_t *lines = audit_lines(f), *found = NULL;
	size_t i;
	json_t *l;

	json_array_foreach(lines, i, l)
		if (!strcmp(json_string_value(json_object_get(l, "tool")), tool))
			found = l;
	json_incref(found);
	json_decref(lines);
	return found;
}

size_t audit_count(struct fixture *f)
{
	json_t *lines = audit_lines(f);
	size_t n = json_array_size(lines);

	json_decref(lines);
	return n;
}

void assert_audit(struct fixture *f, const char *tool, const char *outcome, const char *caller,
		  const char *detail_needle)
{
	json_t *l = audit_last(f, tool);

	if (!l)
		fail_msg("no audit line for '%s'", tool);
	assert_string_equal(json_string_value(json_object_get(l, "outcome")), outcome);
	if (caller)
		assert_string_equal(json_string_value(json_object_get(l, "caller")), caller);
	if (detail_needle)
		assert_contains(json_string_value(json_object_get(l, "detail")), detail_needle);
	assert_true(json_is_integer(json_object_get(l, "duration_ms")));
	json_decref(l);
}

/* ---- JSON-RPC classification ---- */