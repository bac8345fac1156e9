/* The transport-neutral server core, driven as a transport drives it: messages go in through
 * cx_server_submit() on a fake exchange, answers come back through reply() (from this thread or
 * a worker). What clients rely on: JSON-RPC classification, the session life cycle and version
 * negotiation, batches only where the protocol has them, paging, per-token policy, every
 * tools/call failure as a readable isError, deadlines, back-pressure, draining, and one audit
 * line per call with secrets redacted. */
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

#define TOKEN_GW       "tok-gateway-only-0123456789"
#define TOKEN_RO       "tok-read-only-0123456789"
#define DEADLINE_CALLS 8 /* concurrent calls in test_deadline */

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

static atomic_int spin_count_runs;

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

struct fixture {
	struct cx_gw_config conf;
	struct cx_registry *reg;
	void *gw_state;
	struct cx_audit *audit;
	char audit_path[64];
	struct cx_server *s;
	const struct cx_principal *who; /* stdio unless a test says otherwise */
};

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

static int setup(void **state)
{
	return fixture_new(state, &(struct opts){ 0 });
}

static int setup_paged(void **state)
{
	return fixture_new(state, &(struct opts){ .page_size = 2 });
}

static int setup_deadline(void **state)
{
	return fixture_new(state,
			   &(struct opts){ .call_timeout_ms = 200, .workers = DEADLINE_CALLS });
}

static int setup_single(void **state)
{
	return fixture_new(state, &(struct opts){ .call_timeout_ms = 200, .workers = 1 });
}

static int setup_narrow(void **state)
{
	return fixture_new(state, &(struct opts){ .workers = 1, .queue_max = 1 });
}

static int teardown(void **state)
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
static json_t *roundtrip_as(struct fixture *f, const struct cx_principal *who,
			    struct cx_session *sess, json_t *msg)
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

static json_t *roundtrip(struct fixture *f, struct cx_session *sess, const char *text)
{
	return roundtrip_as(f, f->who, sess, fx_parse(text));
}

static void initialize(struct fixture *f, struct cx_session *sess, const char *version)
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

static json_t *tool_call_as(struct fixture *f, const struct cx_principal *who,
			    struct cx_session *sess, const char *tool, const char *args)
{
	return roundtrip_as(f, who, sess,
			    fx_packf("{\"jsonrpc\":\"2.0\",\"id\":\"call-1\","
				     "\"method\":\"tools/call\","
				     "\"params\":{\"name\":\"%s\",\"arguments\":%s}}",
				     tool, args));
}

static long error_code(const json_t *r)
{
	return (long)json_integer_value(json_object_get(json_object_get(r, "error"), "code"));
}

static const json_t *result_of(const json_t *r)
{
	const json_t *res = json_object_get(r, "result");

	if (!json_is_object(res))
		fail_msg("not a result: %s", json_dumps(r, JSON_COMPACT));
	return res;
}

static bool is_error_result(const json_t *r)
{
	return json_is_true(json_object_get(result_of(r), "isError"));
}

static const char *result_text(const json_t *r)
{
	const char *t = json_string_value(
		json_object_get(json_array_get(json_object_get(result_of(r), "content"), 0),
				"text"));

	assert_non_null(t);
	return t;
}

static void assert_contains(const char *hay, const char *needle)
{
	if (!hay || !strstr(hay, needle))
		fail_msg("'%s' does not contain '%s'", hay ? hay : "(null)", needle);
}

/* An isError result whose text contains needle. */
static void assert_is_error(const json_t *r, const char *needle)
{
	if (!is_error_result(r))
		fail_msg("expected isError: %s", json_dumps(r, JSON_COMPACT));
	assert_contains(result_text(r), needle);
}

/* ---- audit ---- */

/* The audit lines so far, as an array (new reference). */
static json_t *audit_lines(struct fixture *f)
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
static json_t *audit_last(struct fixture *f, const char *tool)
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

static size_t audit_count(struct fixture *f)
{
	json_t *lines = audit_lines(f);
	size_t n = json_array_size(lines);

	json_decref(lines);
	return n;
}

static void assert_audit(struct fixture *f, const char *tool, const char *outcome,
			 const char *caller, const char *detail_needle)
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

static void test_invalid_jsonrpc_version(void **state)
{
	struct fixture *f = *state;
	struct cx_session sess;
	json_t *r;

	cx_session_init(&sess);
	r = roundtrip(f, &sess, "{\"jsonrpc\":\"1.0\",\"id\":7,\"method\":\"ping\"}");
	assert_int_equal(error_code(r), CX_RPC_INVALID_REQUEST);
	assert_int_equal(json_integer_value(json_object_get(r, "id")), 7);
	assert_string_equal(json_string_value(json_object_get(r, "jsonrpc")), "2.0");
	json_decref(r);

	r = roundtrip(f, &sess, "{\"id\":8,\"method\":\"ping\"}");
	assert_int_equal(error_code(r), CX_RPC_INVALID_REQUEST);
	json_decref(r);

	/* Not an object at all: answered under a null id. */
	r = roundtrip(f, &sess, "\"ping\"");
	assert_int_equal(error_code(r), CX_RPC_INVALID_REQUEST);
	assert_true(json_is_null(json_object_get(r, "id")));
	json_decref(r);
	cx_session_release(&sess);
}

static void test_ids_echoed_unchanged(void **state)
{
	static const char *const ids[] = { "\"abc\"",          "\"\"", "42", "0", "-5",
					   "9007199254740993", "\"1\"" };
	struct fixture *f = *state;
	struct cx_session sess;

	cx_session_init(&sess);
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		json_t *want = json_loads(ids[i], JSON_DECODE_ANY, NULL);
		json_t *r = roundtrip_as(f, f->who, &sess,
					 fx_packf("{\"jsonrpc\":\"2.0\",\"id\":%s,"
						  "\"method\":\"ping\"}",
						  ids[i]));

		assert_non_null(want);
		if (!json_equal(json_object_get(r, "id"), want) ||
		    json_typeof(json_object_get(r, "id")) != json_typeof(want))
			fail_msg("id %s came back as %s", ids[i], json_dumps(r, JSON_COMPACT));
		assert_true(json_is_object(json_object_get(r, "result")));
		json_decref(r);
		json_decref(want);
	}
	cx_session_release(&sess);
}

static void test_unknown_method(void **state)
{
	struct fixture *f = *state;
	struct cx_session sess;
	json_t *r;

	cx_session_init(&sess);
	initialize(f, &sess, "2025-06-18");
	r = roundtrip(f, &sess, "{\"jsonrpc\":\"2.0\",\"id\":\"m\",\"method\":\"no/such/method\"}");
	assert_int_equal(error_code(r), CX_RPC_METHOD_NOT_FOUND);
	assert_string_equal(json_string_value(json_object_get(r, "id")), "m");
	json_decref(r);
	cx_session_release(&sess);
}

static void test_notifications_and_responses_get_no_answer(void **state)
{
	struct fixture *f = *state;
	struct cx_session sess;
	size_t before;

	cx_session_init(&sess);
	initialize(f, &sess, "2025-11-25");
	before = audit_count(f);
	assert_null(roundtrip(f, &sess,
			      "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}"));
	assert_null(roundtrip(f, &sess, "{\"jsonrpc\":\"2.0\",\"method\":\"ping\"}"));
	/* A tools/call without an id is a notification: never answered, never run. */
	assert_null(roundtrip(f, &sess,
			      "{\"jsonrpc\":\"2.0\",\"method\":\"tools/call\","
			      "\"params\":{\"name\":\"testkit_echo\","
			      "\"arguments\":{\"text\":\"x\"}}}"));
	assert_null(roundtrip(f, &sess, "{\"jsonrpc\":\"2.0\",\"method\":\"no/such\"}"));
	/* Responses to server requests. */
	assert_null(roundtrip(f, &sess, "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{}}"));
	assert_null(roundtrip(f, &sess,
			      "{\"jsonrpc\":\"2.0\",\"id\":6,"
			      "\"error\":{\"code\":-1,\"message\":\"no\"}}"));
	assert_int_equal(audit_count(f), before);
	cx_session_release(&sess);
}

/* ---- session life cycle ---- */

static void test_requests_before_initialize(void **state)
{
	static const char *const reqs[] = {
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
		"\"params\":{\"name\":\"gateway_status\"}}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"no/such\"}",
	};
	struct fixture *f = *state;
	struct cx_session sess;
	json_t *r;

	cx_session_init(&sess);
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		r = roundtrip(f, &sess, reqs[i]);
		assert_int_equal(error_code(r), CX_RPC_INVALID_REQUEST);
		assert_contains(json_string_value(
					json_object_get(json_object_get(r, "error"), "message")),
				"initialize");
		json_decref(r);
	}
	r = roundtrip(f, &sess, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}");
	assert_true(json_is_object(json_object_get(r, "result")));
	assert_int_equal(json_object_size(json_object_get(r, "result")), 0);
	json_decref(r);
	assert_int_equal(audit_count(f), 0);

	/* initialized (set by a transport that restored the session) counts as initialized */
	{
		struct fx_ex *e;
		e = fx_new(f->who, &sess);
		e->x.initialized = true;
		cx_server_submit(
			f->s, &e->x,
			fx_parse("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/list\"}"));
		assert_true(json_is_array(
			json_object_get(json_object_get(fx_wait(e), "result"), "tools")));
		fx_free(e);
	}
	cx_session_release(&sess);
}

static void test_initialize_negotiation(void **state)
{
	struct fixture *f = *state;
	json_t *r;

	for (size_t i = 0; cx_mcp_versions[i]; i++) {
		struct cx_session sess;
		const json_t *res;

		cx_session_init(&sess);
		r = roundtrip_as(f, f->who, &sess,
				 fx_packf("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\","
					  "\"params\":{\"protocolVersion\":\"%s\"}}",
					  cx_mcp_versions[i]));
		res = result_of(r);
		assert_string_equal(json_string_value(json_object_get(res, "protocolVersion")),
				    cx_mcp_versions[i]);
		assert_true(json_is_object(
			json_object_get(json_object_get(res, "capabilities"), "tools")));
		assert_string_equal(json_string_value(
					    json_object_get(json_object_get(res, "serverInfo"),
							    "name")),
				    "cortex-gateway");
		assert_string_equal(sess.version, cx_mcp_versions[i]);
		json_decref(r);
		cx_session_release(&sess);
	}

	/* An unknown version is answered with the latest. */
	{
		struct cx_session sess;

		cx_session_init(&sess);
		r = roundtrip(f, &sess,
			      "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\","
			      "\"params\":{\"protocolVersion\":\"2024-11-05\"}}");
		assert_string_equal(json_string_value(
					    json_object_get(result_of(r), "protocolVersion")),
				    "2025-11-25");
		assert_string_equal(sess.version, "2025-11-25");
		json_decref(r);

		/* A second initialize on the same session is refused, and changes nothing. */
		r = roundtrip(f, &sess,
			      "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"initialize\","
			      "\"params\":{\"protocolVersion\":\"2025-03-26\"}}");
		assert_true(json_is_object(json_object_get(r, "error")));
		assert_int_equal(error_code(r), CX_RPC_INVALID_REQUEST);
		assert_int_equal(json_integer_value(json_object_get(r, "id")), 2);
		assert_string_equal(sess.version, "2025-11-25");
		json_decref(r);
		cx_session_release(&sess);
	}

	/* Missing or mistyped protocolVersion. */
	{
		static const char *const bad[] = {
			"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{}}",
			"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\"}",
			"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\","
			"\"params\":{\"protocolVersion\":20250618}}",
			"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\","
			"\"params\":{\"protocolVersion\":\"2025-06-18\",\"capabilities\":[]}}",
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			struct cx_session sess;

			cx_session_init(&sess);
			r = roundtrip(f, &sess, bad[i]);
			assert_int_equal(error_code(r), CX_RPC_INVALID_PARAMS);
			/* still not initialized */
			assert_string_equal(sess.version, "");
			json_decref(r);
			r = roundtrip(f, &sess,
				      "{\"jsonrpc\":\"2.0\",\"id\":2,"
				      "\"method\":\"tools/list\"}");
			assert_int_equal(error_code(r), CX_RPC_INVALID_REQUEST);
			json_decref(r);
			cx_session_release(&sess);
		}
	}
}

static void test_sealed_session_id(void **state)
{
	struct fixture *f = *state;
	struct cx_session sess, opened;
	struct fx_ex *e;
	json_t *r, *l;

	cx_session_init(&sess);
	e = fx_new(f->who, &sess);
	e->x.want_session_id = true;
	cx_server_submit(
		f->s, &e->x,
		fx_parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\","
			 "\"params\":{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},"
			 "\"clientInfo\":{\"name\":\"probe\",\"version\":\"9\"}}}"));
	r = fx_wait(e);
	assert_string_equal(json_string_value(json_object_get(result_of(r), "protocolVersion")),
			    "2025-06-18");
	assert_non_null(e->x.new_session_id);
	assert_int_equal(cx_session_open(cx_server_session_key(f->s), e->x.new_session_id, 3600,
					 &opened),
			 CX_SESSION_OK);
	assert_string_equal(opened.version, "2025-06-18");
	assert_string_equal(json_string_value(json_object_get(opened.client_info, "name")),
			    "probe");
	assert_string_equal(opened.fp, sess.fp);
	assert_true(sess.fp[0] != '\0');
	/* bound to the principal that initialized it */
	assert_string_equal(opened.subject, "stdio");
	fx_free(e);

	/* The opened session serves requests, and the audit line carries its fingerprint. */
	r = tool_call_as(f, f->who, &opened, "testkit_echo", "{\"text\":\"hi\"}");
	assert_false(is_error_result(r));
	json_decref(r);
	l = audit_last(f, "testkit_echo");
	assert_non_null(l);
	assert_string_equal(json_string_value(json_object_get(l, "session")), opened.fp);
	json_decref(l);
	cx_session_release(&opened);
	cx_session_release(&sess);

	/* A token's session names the token. */
	cx_session_init(&sess);
	e = fx_new(cx_server_authenticate(f->s, TOKEN_RO), &sess);
	e->x.want_session_id = true;
	cx_server_submit(f->s, &e->x,
			 fx_parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\","
				  "\"params\":{\"protocolVersion\":\"2025-03-26\"}}"));
	fx_wait(e);
	assert_non_null(e->x.new_session_id);
	assert_int_equal(cx_session_open(cx_server_session_key(f->s), e->x.new_session_id, 3600,
					 &opened),
			 CX_SESSION_OK);
	assert_string_equal(opened.subject, "reader");
	assert_string_equal(opened.version, "2025-03-26");
	cx_session_release(&opened);
	fx_free(e);
	cx_session_release(&sess);

	/* Without want_session_id nothing is sealed. */
	cx_session_init(&sess);
	e = fx_new(f->who, &sess);
	cx_server_submit(f->s, &e->x,
			 fx_parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\","
				  "\"params\":{\"protocolVersion\":\"2025-06-18\"}}"));
	fx_wait(e);
	assert_null(e->x.new_session_id);
	fx_free(e);
	cx_session_release(&sess);
}

/* ---- batches ---- */

static void test_batch_refused_after_2025_03_26(void **state)
{
	static const char *const versions[] = { "2025-06-18", "2025-11-25" };
	struct fixture *f = *state;

	for (size_t i = 0; i < 2; i++) {
		struct cx_session sess;
		json_t *r;

		cx_session_init(&sess);
		initialize(f, &sess, versions[i]);
		r = roundtrip(f, &sess,
			      "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"},"
			      "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\","
			      "\"params\":{\"name\":\"testkit_echo\","
			      "\"arguments\":{\"text\":\"x\"}}}]");
		assert_true(json_is_object(r));
		assert_int_equal(error_code(r), CX_RPC_INVALID_REQUEST);
		assert_true(json_is_null(json_object_get(r, "id")));
		json_decref(r);
		cx_session_release(&sess);
	}
	/* nothing in them ran */
	assert_int_equal(audit_count(f), 0);

	/* Before initialize there is no version that allows them either. */
	{
		struct cx_session sess;
		json_t *r;

		cx_session_init(&sess);
		r = roundtrip(f, &sess, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]");
		assert_int_equal(error_code(r), CX_RPC_INVALID_REQUEST);
		json_decref(r);
		cx_session_release(&sess);
	}
}

/* The response in arr whose id equals id (borrowed), or NULL. */
static const json_t *by_id(const json_t *arr, const json_t *id)
{
	size_t i;
	json_t *r;

	json_array_foreach(arr, i, r)
		if (json_equal(json_object_get(r, "id"), id))
			return r;
	return NULL;
}

static void test_batch_2025_03_26(void **state)
{
	struct fixture *f = *state;
	struct cx_session sess;
	struct fx_ex *e;
	json_t *r, *id;

	cx_session_init(&sess);
	initialize(f, &sess, "2025-03-26");
	e = fx_new(f->who, &sess);
	cx_server_submit(f->s, &e->x,
			 fx_parse("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"},"
				  "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"},"
				  "{\"jsonrpc\":\"2.0\",\"id\":\"s\",\"method\":\"tools/call\","
				  "\"params\":{\"name\":\"gateway_status\"}},"
				  "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"no/such\"},"
				  "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"initialize\","
				  "\"params\":{\"protocolVersion\":\"2025-03-26\"}},"
				  "{\"jsonrpc\":\"1.0\",\"id\":5,\"method\":\"ping\"}]"));
	/* Nothing asynchronous in it: answered before submit returns. */
	assert_int_equal(fx_replies(e), 1);
	assert_int_equal(fx_defers(e), 0);
	r = e->response;
	assert_true(json_is_array(r));
	assert_int_equal(json_array_size(r), 5); /* the notification gets none */

	id = json_integer(1);
	assert_true(json_is_object(json_object_get(by_id(r, id), "result")));
	json_decref(id);
	id = json_string("s");
	assert_false(is_error_result(by_id(r, id)));
	json_decref(id);
	id = json_integer(3);
	assert_int_equal(error_code(by_id(r, id)), CX_RPC_METHOD_NOT_FOUND);
	json_decref(id);
	id = json_integer(4);
	assert_int_equal(error_code(by_id(r, id)), CX_RPC_INVALID_REQUEST);
	assert_contains(json_string_value(
				json_object_get(json_object_get(by_id(r, id), "error"), "message")),
			"batch");
	json_decref(id);
	id = json_integer(5);
	assert_int_equal(error_code(by_id(r, id)), CX_RPC_INVALID_REQUEST);
	json_decref(id);
	/* The initialize inside did not touch the session. */
	assert_string_equal(sess.version, "2025-03-26");
	fx_free(e);

	/* Only notifications: nothing to send. */
	assert_null(roundtrip(f, &sess,
			      "[{\"jsonrpc\":\"2.0\",\"method\":\"a\"},"
			      "{\"jsonrpc\":\"2.0\",\"method\":\"b\"}]"));
	/* An empty batch is invalid. */
	r = roundtrip(f, &sess, "[]");
	assert_int_equal(error_code(r), CX_RPC_INVALID_REQUEST);
	json_decref(r);
	cx_session_release(&sess);
}

static void test_batch_with_async_calls(void **state)
{
	struct fixture *f = *state;
	struct cx_session sess;
	struct fx_ex *e;
	json_t *r, *id;

	cx_session_init(&sess);
	initialize(f, &sess, "2025-03-26");
	e = fx_new(f->who, &sess);
	cx_server_submit(
		f->s, &e->x,
		fx_parse("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
			 "\"params\":{\"name\":\"testkit_sleep\",\"arguments\":{\"ms\":50}}},"
			 "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"},"
			 "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\","
			 "\"params\":{\"name\":\"testkit_echo\","
			 "\"arguments\":{\"text\":\"b\"}}}]"));
	/* Deferred once for the whole batch, however many members went to workers. */
	assert_int_equal(fx_defers(e), 1);
	r = fx_wait(e);
	assert_true(json_is_array(r));
	assert_int_equal(json_array_size(r), 3);
	id = json_integer(1);
	assert_string_equal(result_text(by_id(r, id)), "slept");
	json_decref(id);
	id = json_integer(2);
	assert_true(json_is_object(json_object_get(by_id(r, id), "result")));
	json_decref(id);
	id = json_integer(3);
	assert_false(is_error_result(by_id(r, id)));
	json_decref(id);
	assert_int_equal(cx_server_drain(f->s), 0);
	assert_int_equal(fx_replies(e), 1);
	fx_free(e);
	cx_session_release(&sess);
}

/* ---- tools/list ---- */

static void test_tools_list_pages(void **state)
{
	struct fixture *f = *state;
	size_t n = cx_registry_count(f->reg), pages = 0;
	struct cx_session sess;
	int *seen = calloc(n, sizeof(*seen));
	char *cursor = NULL;
	json_t *r;

	assert_non_null(seen);
	assert_true(n > 4);
	cx_session_init(&sess);
	initialize(f, &sess, "2025-06-18");
	for (;;) {
		const json_t *res, *tools, *next;
		size_t i;
		json_t *t;

		if (cursor)
			r = roundtrip_as(f, f->who, &sess,
					 fx_packf("{\"jsonrpc\":\"2.0\",\"id\":1,"
						  "\"method\":\"tools/list\","
						  "\"params\":{\"cursor\":\"%s\"}}",
						  cursor));
		else
			r = roundtrip(f, &sess,
				      "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}");
		res = result_of(r);
		tools = json_object_get(res, "tools");
		assert_true(json_array_size(tools) >= 1 && json_array_size(tools) <= 2);
		json_array_foreach(tools, i, t) {
			const char *name = json_string_value(json_object_get(t, "name"));
			const struct cx_reg_tool *rt = cx_registry_find(f->reg, name);

			assert_non_null(rt);
			seen[rt - cx_registry_at(f->reg, 0)]++;
			assert_true(json_equal(t, rt->def));
		}
		pages++;
		free(cursor);
		cursor = NULL;
		next = json_object_get(res, "nextCursor");
		if (next) {
			assert_true(json_is_string(next));
			cursor = strdup(json_string_value(next));
		}
		json_decref(r);
		if (!cursor)
			break;
		assert_true(pages < 20);
	}
	for (size_t i = 0; i < n; i++)
		if (seen[i] != 1)
			fail_msg("'%s' listed %d times", cx_registry_at(f->reg, i)->name, seen[i]);
	assert_int_equal(pages, (n + 1) / 2);
	free(seen);

	/* Cursors the server did not make. */
	{
		static const char *const bad[] = { "\"garbage!\"", "\"\"", "42", "{}",
						   "\"Yzk5OTk5OTk5OTk5OQ\"" /* c999999999999 */ };
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			r = roundtrip_as(f, f->who, &sess,
					 fx_packf("{\"jsonrpc\":\"2.0\",\"id\":9,"
						  "\"method\":\"tools/list\","
						  "\"params\":{\"cursor\":%s}}",
						  bad[i]));
			if (error_code(r) != CX_RPC_INVALID_PARAMS)
				fail_msg("cursor %s: %s", bad[i], json_dumps(r, JSON_COMPACT));
			json_decref(r);
		}
	}
	cx_session_release(&sess);
}

/* ---- principals ---- */

static json_t *list_names_as(struct fixture *f, const struct cx_principal *who,
			     struct cx_session *sess)
{
	json_t *r =
		roundtrip_as(f, who, sess,
			     fx_parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}"));
	json_t *names = json_array();
	size_t i;
	json_t *t;

	json_array_foreach(json_object_get(result_of(r), "tools"), i, t)
		json_array_append(names, json_object_get(t, "name"));
	assert_null(json_object_get(result_of(r), "nextCursor"));
	json_decref(r);
	return names;
}

static bool names_have(const json_t *names, const char *name)
{
	size_t i;
	json_t *n;

	json_array_foreach(names, i, n)
		if (!strcmp(json_string_value(n), name))
			return true;
	return false;
}

static void test_allow_globs(void **state)
{
	struct fixture *f = *state;
	const struct cx_principal *gw = cx_server_authenticate(f->s, TOKEN_GW);
	struct cx_session sess;
	json_t *names, *r;

	assert_non_null(gw);
	cx_session_init(&sess);
	initialize(f, &sess, "2025-11-25");
	names = list_names_as(f, gw, &sess);
	assert_int_equal(json_array_size(names), 1);
	assert_true(names_have(names, "gateway_status"));
	json_decref(names);

	r = tool_call_as(f, gw, &sess, "testkit_echo", "{\"text\":\"hi\"}");
	assert_is_error(r, "refused");
	assert_string_equal(json_string_value(json_object_get(r, "id")), "call-1");
	json_decref(r);
	assert_audit(f, "testkit_echo", "refused", "gw-only", "refused");

	r = tool_call_as(f, gw, &sess, "gateway_status", "{}");
	assert_false(is_error_result(r));
	json_decref(r);
	assert_audit(f, "gateway_status", "ok", "gw-only", NULL);
	cx_session_release(&sess);
}

static void test_read_only_token(void **state)
{
	struct fixture *f = *state;
	const struct cx_principal *ro = cx_server_authenticate(f->s, TOKEN_RO);
	struct cx_session sess;
	json_t *names, *r;

	assert_non_null(ro);
	assert_true(ro->read_only);
	cx_session_init(&sess);
	initialize(f, &sess, "2025-11-25");
	names = list_names_as(f, ro, &sess);
	assert_false(names_have(names, "testkit_delete"));
	assert_true(names_have(names, "testkit_echo"));
	assert_true(names_have(names, "gateway_status"));
	json_decref(names);

	r = tool_call_as(f, ro, &sess, "testkit_delete", "{\"target\":\"vm-100\"}");
	assert_is_error(r, "refused");
	assert_contains(result_text(r), "read-only");
	json_decref(r);
	assert_audit(f, "testkit_delete", "refused", "reader", "read-only");

	/* The same call with full rights goes through: the refusal was the token's. */
	r = tool_call_as(f, f->who, &sess, "testkit_delete", "{\"target\":\"vm-100\"}");
	assert_false(is_error_result(r));
	assert_contains(result_text(r), "vm-100");
	json_decref(r);
	assert_audit(f, "testkit_delete", "ok", "stdio", NULL);
	cx_session_release(&sess);
}

static void test_authenticate(void **state)
{
	struct fixture *f = *state;
	const struct cx_principal *p;

	assert_true(cx_server_auth_required(f->s));
	p = cx_server_authenticate(f->s, TOKEN_GW);
	assert_non_null(p);
	assert_string_equal(p->name, "gw-only");
	assert_non_null(p->allow);
	assert_string_equal(p->allow[0], "gateway_*");
	assert_null(p->allow[1]);
	assert_false(p->read_only);
	p = cx_server_authenticate(f->s, TOKEN_RO);
	assert_non_null(p);
	assert_string_equal(p->name, "reader");
	assert_null(p->allow);
	assert_true(p->read_only);

	assert_null(cx_server_authenticate(f->s, "wrong"));
	assert_null(cx_server_authenticate(f->s, ""));
	assert_null(cx_server_authenticate(f->s, NULL));
	assert_null(cx_server_authenticate(f->s, TOKEN_GW "x"));
	assert_null(cx_server_authenticate(f->s, "tok-gateway-only-012345678"));
	/* the configured hash is not itself a token */
	{
		char hex[65];
		cx_sha256_hex(TOKEN_GW, strlen(TOKEN_GW), hex);
		assert_null(cx_server_authenticate(f->s, hex));
	}
	assert_string_equal(cx_server_anonymous(f->s)->name, "anonymous");
	assert_null(cx_server_anonymous(f->s)->allow);
	assert_string_equal(cx_server_stdio_principal(f->s)->name, "stdio");
	assert_ptr_equal(cx_server_config(f->s), &f->conf);
}

/* No tokens configured: authentication is not required and no token matches. */
static void test_authenticate_without_tokens(void **state)
{
	struct cx_gw_config conf;
	struct cx_registry *reg = cx_registry_new();
	struct cx_err err = { 0 };
	struct cx_server *s;

	cx_gw_config_defaults(&conf);
	s = cx_server_new(&conf, reg, NULL, &err);
	assert_non_null(s);
	assert_false(cx_server_auth_required(s));
	assert_null(cx_server_authenticate(s, "anything"));
	cx_server_free(s);
	cx_registry_free(reg);
	cx_gw_config_release(&conf);
}

/* ---- tools/call ---- */

static void test_call_param_errors(void **state)
{
	struct fixture *f = *state;
	struct cx_session sess;
	static const char *const bad[] = {
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
		"\"params\":{\"name\":\"nope_tool\"}}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
		"\"params\":{\"name\":\"testkit_echo\",\"arguments\":[\"hi\"]}}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
		"\"params\":{\"name\":\"testkit_echo\",\"arguments\":\"text=hi\"}}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
		"\"params\":{\"name\":\"testkit_echo\",\"arguments\":3}}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{}}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
		"\"params\":{\"name\":7}}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\"}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":[\"x\"]}",
	};

	cx_session_init(&sess);
	initialize(f, &sess, "2025-06-18");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *r = roundtrip(f, &sess, bad[i]);
		if (error_code(r) != CX_RPC_INVALID_PARAMS)
			fail_msg("%s answered %s", bad[i], json_dumps(r, JSON_COMPACT));
		json_decref(r);
	}
	{
		json_t *r = roundtrip(f, &sess, bad[0]);
		assert_contains(json_string_value(
					json_object_get(json_object_get(r, "error"), "message")),
				"'nope_tool'");
		json_decref(r);
	}
	cx_session_release(&sess);
}

static void test_call_schema_violation(void **state)
{
	struct fixture *f = *state;
	struct cx_session sess;
	json_t *r;

	cx_session_init(&sess);
	initialize(f, &sess, "2025-06-18");
	r = tool_call_as(f, f->who, &sess, "testkit_echo", "{\"text\":\"hi\",\"count\":9}");
	assert_is_error(r, "arguments.count");
	json_decref(r);
	assert_audit(f, "testkit_echo", "isError", "stdio", "arguments.count");

	r = tool_call_as(f, f->who, &sess, "testkit_echo", "{}");
	assert_is_error(r, "text");
	json_decref(r);
	r = tool_call_as(f, f->who, &sess, "testkit_echo", "{\"text\":\"hi\",\"extra\":1}");
	assert_is_error(r, "extra");
	json_decref(r);
	/* null arguments are no arguments: the schema still applies */
	r = roundtrip(f, &sess,
		      "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
		      "\"params\":{\"name\":\"testkit_sleep\",\"arguments\":null}}");
	assert_is_error(r, "ms");
	json_decref(r);
	cx_session_release(&sess);
}

static void test_call_failures_are_results(void **state)
{
	struct fixture *f = *state;
	struct cx_session sess;
	json_t *r;

	cx_session_init(&sess);
	initialize(f, &sess, "2025-06-18");

	r = tool_call_as(f, f->who, &sess, "testkit_fail", "{}");
	assert_is_error(r, "always fails");
	json_decref(r);
	assert_audit(f, "testkit_fail", "isError", NULL, NULL);

	r = tool_call_as(f, f->who, &sess, "testkit_badoutput", "{}");
	assert_is_error(r, "outputSchema");
	assert_null(json_object_get(result_of(r), "structuredContent"));
	json_decref(r);
	assert_audit(f, "testkit_badoutput", "isError", NULL, "output schema");

	/* max_output_bytes is 4096 in this fixture */
	r = tool_call_as(f, f->who, &sess, "testkit_big", "{\"bytes\":10000}");
	assert_is_error(r, "limit");
	assert_true(strlen(result_text(r)) < 1000);
	json_decref(r);
	assert_audit(f, "testkit_big", "isError", NULL, "over the limit");
	r = tool_call_as(f, f->who, &sess, "testkit_big", "{\"bytes\":100}");
	assert_false(is_error_result(r));
	assert_int_equal(strlen(result_text(r)), 100);
	json_decref(r);
	assert_audit(f, "testkit_big", "ok", NULL, NULL);
	cx_session_release(&sess);
}

static void test_nonblocking_tool_is_synchronous(void **state)
{
	struct fixture *f = *state;
	struct cx_session sess;
	const json_t *sc, *a;
	struct fx_ex *e;
	json_t *r, *text;
	size_t i;
	bool has_testkit = false;

	cx_session_init(&sess);
	initialize(f, &sess, "2025-11-25");
	e = fx_new(f->who, &sess);
	cx_server_submit(f->s, &e->x,
			 fx_parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
				  "\"params\":{\"name\":\"gateway_status\"}}"));
	assert_int_equal(fx_replies(e), 1);
	assert_int_equal(fx_defers(e), 0);
	assert_true(pthread_equal(e->reply_thread, pthread_self()));
	r = e->response;
	assert_false(is_error_result(r));
	sc = json_object_get(result_of(r), "structuredContent");
	assert_string_equal(json_string_value(json_object_get(sc, "version")), CX_VERSION);
	json_array_foreach(json_object_get(sc, "adapters"), i, a)
		if (!strcmp(json_string_value(json_object_get(a, "name")), "testkit")) {
			has_testkit = true;
			assert_int_equal(json_integer_value(json_object_get(a, "tools")), 12);
		}
	assert_true(has_testkit);
	/* the same JSON as text */
	text = fx_parse(result_text(r));
	assert_true(json_equal(text, sc));
	json_decref(text);
	fx_free(e);
	assert_audit(f, "gateway_status", "ok", "stdio", NULL);
	cx_session_release(&sess);
}

static void test_blocking_tool_runs_on_worker(void **state)
{
	struct fixture *f = *state;
	struct cx_session sess;
	struct fx_ex *e;
	json_t *r, *text;

	cx_session_init(&sess);
	initialize(f, &sess, "2025-11-25");
	e = fx_new(f->who, &sess);
	cx_server_submit(
		f->s, &e->x,
		fx_parse("{\"jsonrpc\":\"2.0\",\"id\":\"e\",\"method\":\"tools/call\","
			 "\"params\":{\"name\":\"testkit_echo\","
			 "\"arguments\":{\"text\":\"hi\",\"mode\":\"upper\",\"count\":2}}}"));
	assert_int_equal(fx_defers(e), 1);
	r = fx_wait(e);
	assert_false(pthread_equal(e->reply_thread, pthread_self()));
	assert_string_equal(json_string_value(json_object_get(r, "id")), "e");
	assert_false(is_error_result(r));
	assert_string_equal(json_string_value(json_object_get(json_object_get(result_of(r),
									      "structuredContent"),
							      "text")),
			    "HIHI");
	text = fx_parse(result_text(r));
	assert_string_equal(json_string_value(json_object_get(text, "text")), "HIHI");
	json_decref(text);
	assert_int_equal(cx_server_drain(f->s), 0);
	assert_int_equal(fx_replies(e), 1);
	assert_int_equal(fx_defers(e), 1);
	fx_free(e);
	assert_audit(f, "testkit_echo", "ok", "stdio", NULL);
	cx_session_release(&sess);
}

static void test_secrets_redacted_in_audit(void **state)
{
	struct fixture *f = *state;
	struct cx_session sess;
	json_t *r, *l;
	FILE *fp;
	char buf[65536];
	size_t n;

	cx_session_init(&sess);
	initialize(f, &sess, "2025-11-25");
	r = tool_call_as(f, f->who, &sess, "testkit_echo",
			 "{\"text\":\"visible\",\"password\":\"hunter2-s3cret\"}");
	assert_false(is_error_result(r));
	json_decref(r);
	l = audit_last(f, "testkit_echo");
	assert_non_null(l);
	assert_string_equal(json_string_value(
				    json_object_get(json_object_get(l, "arguments"), "password")),
			    "[redacted]");
	assert_string_equal(json_string_value(
				    json_object_get(json_object_get(l, "arguments"), "text")),
			    "visible");
	json_decref(l);

	/* Also when the call is refused before it runs. */
	r = tool_call_as(f, f->who, &sess, "testkit_echo",
			 "{\"text\":\"visible\",\"password\":\"hunter2-s3cret\",\"count\":99}");
	assert_true(is_error_result(r));
	json_decref(r);

	fp = fopen(f->audit_path, "r");
	assert_non_null(fp);
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	assert_null(strstr(buf, "hunter2"));
	cx_session_release(&sess);
}

/* ---- deadlines, back-pressure, drain ---- */

/* Several calls at once: each handler notices the deadline by itself (cx_call_cancelled() is
 * true once it passes) and races the watchdog; whoever wins, the client must be told that
 * the deadline passed, and the audit line must say so. Half are testkit_sleep (polls every
 * 5 ms, usually loses the race), half spin_until_cancelled (usually wins it). */
static void test_deadline(void **state)
{
	struct fixture *f = *state;
	struct cx_session sess;
	struct fx_ex *e[DEADLINE_CALLS];
	int64_t t0, took;
	json_t *lines, *l;
	size_t i;

	cx_session_init(&sess);
	initialize(f, &sess, "2025-11-25");
	t0 = cx_now_ms();
	for (i = 0; i < DEADLINE_CALLS; i++) {
		e[i] = fx_new(f->who, &sess);
		cx_server_submit(
			f->s, &e[i]->x,
			i % 2 ? fx_parse("{\"jsonrpc\":\"2.0\",\"id\":1,"
					 "\"method\":\"tools/call\","
					 "\"params\":{\"name\":\"testkit_sleep\","
					 "\"arguments\":{\"ms\":5000}}}")
			      : fx_parse("{\"jsonrpc\":\"2.0\",\"id\":1,"
					 "\"method\":\"tools/call\","
					 "\"params\":{\"name\":\"spin_until_cancelled\"}}"));
	}
	for (i = 0; i < DEADLINE_CALLS; i++) {
		json_t *r = fx_wait(e[i]);

		assert_is_error(r, "did not finish within");
		assert_contains(result_text(r), "200 ms");
	}
	took = cx_now_ms() - t0;
	if (took < 190 || took > 2000)
		fail_msg("deadline replies after %lld ms", (long long)took);
	/* The handlers stopped; their late answers are dropped. */
	t0 = cx_now_ms();
	assert_int_equal(cx_server_drain(f->s), 0);
	assert_true(cx_now_ms() - t0 < 2000);
	for (i = 0; i < DEADLINE_CALLS; i++) {
		assert_int_equal(fx_replies(e[i]), 1);
		fx_free(e[i]);
	}
	/* One audit line per call, each saying the deadline passed. */
	lines = audit_lines(f);
	assert_int_equal(json_array_size(lines), DEADLINE_CALLS);
	json_array_foreach(lines, i, l) {
		assert_string_equal(json_string_value(json_object_get(l, "outcome")), "isError");
		assert_contains(json_string_value(json_object_get(l, "detail")), "deadline");
	}
	json_decref(lines);
	cx_session_release(&sess);
}

/* A call whose deadline passes while it waits in the queue is answered at its deadline and
 * never run afterwards: the client was already told it was abandoned. */
static void test_deadline_in_queue(void **state)
{
	struct fixture *f = *state;
	struct cx_session sess;
	struct fx_ex *busy, *queued;
	int64_t t0;

	cx_session_init(&sess);
	initialize(f, &sess, "2025-11-25");
	atomic_store(&spin_count_runs, 0);
	busy = fx_new(f->who, &sess);
	queued = fx_new(f->who, &sess);
	t0 = cx_now_ms();
	cx_server_submit(f->s, &busy->x,
			 fx_parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
				  "\"params\":{\"name\":\"spin_stubborn\"}}"));
	cx_server_submit(f->s, &queued->x,
			 fx_parse("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\","
				  "\"params\":{\"name\":\"spin_count\"}}"));
	assert_is_error(fx_wait(queued), "did not finish within");
	assert_true(cx_now_ms() - t0 < 380); /* at its deadline, not when the worker frees */
	assert_is_error(fx_wait(busy), "did not finish within");
	assert_int_equal(cx_server_drain(f->s), 0);
	assert_int_equal(atomic_load(&spin_count_runs), 0);
	assert_int_equal(fx_replies(busy), 1);
	assert_int_equal(fx_replies(queued), 1);
	fx_free(busy);
	fx_free(queued);
	cx_session_release(&sess);
}

static void test_queue_full(void **state)
{
	struct fixture *f = *state;
	struct cx_session sess;
	struct fx_ex *e[3];
	int immediate = 0, slept = 0;

	cx_session_init(&sess);
	initialize(f, &sess, "2025-11-25");
	for (int i = 0; i < 3; i++) {
		e[i] = fx_new(f->who, &sess);
		cx_server_submit(f->s, &e[i]->x,
				 fx_parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
					  "\"params\":{\"name\":\"testkit_sleep\","
					  "\"arguments\":{\"ms\":300}}}"));
		if (fx_replies(e[i]) == 1) {
			assert_is_error(e[i]->response, "saturated");
			immediate++;
		}
	}
	assert_true(immediate >= 1);
	assert_true(immediate <= 2);
	for (int i = 0; i < 3; i++) {
		json_t *r = fx_wait(e[i]);
		if (!is_error_result(r)) {
			assert_string_equal(result_text(r), "slept");
			slept++;
		}
	}
	assert_int_equal(slept, 3 - immediate);
	assert_int_equal(cx_server_drain(f->s), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(fx_replies(e[i]), 1);
		fx_free(e[i]);
	}
	assert_audit(f, "testkit_sleep", "ok", NULL, NULL);
	{
		json_t *lines = audit_lines(f);
		size_t i, refused = 0;
		json_t *l;
		json_array_foreach(lines, i, l)
			refused += !strcmp(json_string_value(json_object_get(l, "outcome")),
					   "refused");
		assert_int_equal(refused, (size_t)immediate);
		json_decref(lines);
	}
	cx_session_release(&sess);
}

struct drain_arg {
	struct cx_server *s;
	struct fx_ex *inflight;
	int replies_when_drained;
	int64_t drained_ms;
	size_t abandoned;
};

static void *drain_main(void *p)
{
	struct drain_arg *d = p;

	d->abandoned = cx_server_drain(d->s);
	d->drained_ms = cx_now_ms();
	d->replies_when_drained = fx_replies(d->inflight);
	return NULL;
}

static void test_drain(void **state)
{
	struct fixture *f = *state;
	struct cx_session sess;
	struct fx_ex *sleeper, *late;
	struct drain_arg d = { .s = f->s, .inflight = NULL };
	pthread_t th;
	int64_t t0, until;
	bool refused = false;

	cx_session_init(&sess);
	initialize(f, &sess, "2025-11-25");
	sleeper = fx_new(f->who, &sess);
	d.inflight = sleeper;
	t0 = cx_now_ms();
	cx_server_submit(f->s, &sleeper->x,
			 fx_parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
				  "\"params\":{\"name\":\"testkit_sleep\","
				  "\"arguments\":{\"ms\":600}}}"));
	assert_int_equal(pthread_create(&th, NULL, drain_main, &d), 0);

	/* Until drain has begun, calls are still taken (and answered); then they are refused.
	 * Polled, since nothing else shows that drain has started. */
	until = cx_now_ms() + 3000;
	while (!refused && cx_now_ms() < until) {
		json_t *r = tool_call_as(f, f->who, &sess, "testkit_echo", "{\"text\":\"x\"}");
		if (is_error_result(r)) {
			assert_contains(result_text(r), "shutting down");
			refused = true;
		} else {
			struct timespec ts = { 0, 2 * 1000000 };
			nanosleep(&ts, NULL);
		}
		json_decref(r);
	}
	assert_true(refused);
	/* the in-flight call was still running when the refusal came */
	assert_int_equal(fx_replies(sleeper), 0);
	assert_audit(f, "testkit_echo", "refused", "stdio", "shutting down");

	assert_int_equal(pthread_join(th, NULL), 0);
	/* drain returned only after the in-flight call was answered, and it finished */
	assert_int_equal(d.replies_when_drained, 1);
	assert_int_equal(d.abandoned, 0);
	assert_true(d.drained_ms - t0 >= 590);
	assert_string_equal(result_text(sleeper->response), "slept");
	assert_false(is_error_result(sleeper->response));
	fx_free(sleeper);

	/* and after drain, still refused */
	late = fx_new(f->who, &sess);
	cx_server_submit(f->s, &late->x,
			 fx_parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
				  "\"params\":{\"name\":\"testkit_echo\","
				  "\"arguments\":{\"text\":\"x\"}}}"));
	assert_int_equal(fx_replies(late), 1);
	assert_is_error(late->response, "shutting down");
	fx_free(late);
	cx_session_release(&sess);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_invalid_jsonrpc_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ids_echoed_unchanged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_method, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notifications_and_responses_get_no_answer,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_requests_before_initialize, setup, teardown),
		cmocka_unit_test_setup_teardown(test_initialize_negotiation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sealed_session_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_refused_after_2025_03_26, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_batch_2025_03_26, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_with_async_calls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tools_list_pages, setup_paged, teardown),
		cmocka_unit_test_setup_teardown(test_allow_globs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_only_token, setup, teardown),
		cmocka_unit_test_setup_teardown(test_authenticate, setup, teardown),
		cmocka_unit_test(test_authenticate_without_tokens),
		cmocka_unit_test_setup_teardown(test_call_param_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_call_schema_violation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_call_failures_are_results, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nonblocking_tool_is_synchronous, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_blocking_tool_runs_on_worker, setup, teardown),
		cmocka_unit_test_setup_teardown(test_secrets_redacted_in_audit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deadline, setup_deadline, teardown),
		cmocka_unit_test_setup_teardown(test_deadline_in_queue, setup_single, teardown),
		cmocka_unit_test_setup_teardown(test_queue_full, setup_narrow, teardown),
		cmocka_unit_test_setup_teardown(test_drain, setup, teardown),
	};

	cx_log_set_level(CX_LOG_OFF);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
