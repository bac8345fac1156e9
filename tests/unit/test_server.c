/* The transport-neutral server core, driven as a transport drives it: messages go in through
 * cx_server_submit() on a fake exchange (server_fixture.h), answers come back through reply().
 * What clients rely on here: JSON-RPC classification, the session life cycle and version
 * negotiation, batches only where the protocol has them, paging, per-token policy and
 * authentication. The tools/call path is in test_server_calls.c. */
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
	};

	cx_log_set_level(CX_LOG_OFF);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
