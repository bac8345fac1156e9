/* common/llm against the simulator's scripted LLM: both providers' request and reply mapping,
 * parallel tool use through a whole loop, stop reasons, malformed replies as clear errors, the
 * key refused and never shown, and the simulator's own checks of requests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../common/llm.h"
#include "http_test_server.h"
#include "llm_sim.h"

static json_t *schema(void)
{
	return json_pack("{s:s,s:{s:{s:s}},s:[s]}", "type", "object", "properties", "node", "type",
			 "string", "required", "node");
}

/* Sends conv with the one tools list these tests use; 0 or -1 as cx_llm_send. */
static int ask(struct cx_llm *l, json_t *conv, struct cx_llm_reply *r, struct cx_err *err)
{
	json_t *tools = json_array(), *s = schema();
	struct cx_llm_request req = { "You are a test.", conv, tools, 1024 };
	int rc;

	cx_llm_add_tool(tools, "proxmox_list_vms", "List the VMs of a node.", s);
	json_decref(s);
	rc = cx_llm_send(l, NULL, 10000, &req, r, err);
	json_decref(tools);
	return rc;
}

static const char two_turns[] =
	"{\"conversations\":[{\"match\":\"MARK-1\",\"turns\":["
	"{\"text\":\"Looking.\",\"tool_use\":[{\"name\":\"proxmox_list_vms\",\"input\":{\"node\":"
	"\"pve1\"}},{\"name\":\"proxmox_list_vms\",\"input\":{\"node\":\"pve2\"}}]},"
	"{\"text\":\"pve1 runs web01.\",\"usage\":{\"input_tokens\":321,\"output_tokens\":7}}]}]}";

/* A whole loop: parallel tool_use, both results sent back (one is_error), end_turn. */
static void run_loop(enum cx_llm_api api, const char *id_prefix)
{
	struct cx_llm_model m = llm_sim_model(api, "sim-model");
	struct cx_llm *l = llm_sim_client(&m, 1, 0);
	json_t *conv = json_array();
	struct cx_llm_reply r;
	struct cx_err err;
	char id0[64], id1[64];

	llm_sim_script(two_turns);
	cx_llm_add_user_text(conv, "MARK-1 What VMs run on pve1?");
	assert_int_equal(ask(l, conv, &r, &err), 0);
	assert_int_equal(r.stop, CX_LLM_STOP_TOOL_USE);
	assert_int_equal(r.n_blocks, 3);
	assert_int_equal(r.n_tool_use, 2);
	assert_int_equal(r.blocks[0].kind, CX_LLM_TEXT);
	assert_string_equal(r.blocks[0].text, "Looking.");
	assert_int_equal(r.blocks[1].kind, CX_LLM_TOOL_USE);
	assert_string_equal(r.blocks[1].name, "proxmox_list_vms");
	assert_string_equal(json_string_value(json_object_get(r.blocks[2].input, "node")), "pve2");
	snprintf(id0, sizeof(id0), "%s_sim_0_0_0", id_prefix);
	snprintf(id1, sizeof(id1), "%s_sim_0_0_1", id_prefix);
	assert_string_equal(r.blocks[1].id, id0);
	assert_string_equal(r.blocks[2].id, id1);
	assert_true(r.input_tokens > 0);
	assert_int_equal(r.output_tokens, 16);
	assert_int_equal(r.attempts, 1);
	assert_int_equal(r.model_index, 0);
	assert_int_equal(cx_llm_add_reply(conv, &r), 0);
	cx_llm_add_tool_result(conv, id0, "[{\"vmid\":100,\"name\":\"web01\"}]", false);
	cx_llm_add_tool_result(conv, id1, "node 'pve2' not found", true);
	cx_llm_reply_release(&r);
	/* both results in one user message, as the API wants them */
	assert_int_equal(json_array_size(conv), 3);
	assert_int_equal(ask(l, conv, &r, &err), 0);
	assert_int_equal(r.stop, CX_LLM_STOP_END_TURN);
	assert_int_equal(r.n_tool_use, 0);
	assert_string_equal(r.blocks[0].text, "pve1 runs web01.");
	assert_int_equal(r.input_tokens, 321);
	assert_int_equal(r.output_tokens, 7);
	cx_llm_reply_release(&r);
	json_decref(conv);
	cx_llm_free(l);
}

static void anthropic_parallel_tool_use_loop(void **state)
{
	json_t *keep, *got, *msgs, *res;

	run_loop(CX_LLM_ANTHROPIC, "toolu");
	got = llm_sim_received(0, &keep);
	assert_int_equal(json_array_size(got), 2);
	got = json_object_get(json_array_get(got, 1), "body");
	assert_string_equal(json_string_value(json_object_get(got, "model")), "sim-model");
	assert_int_equal(json_integer_value(json_object_get(got, "max_tokens")), 1024);
	assert_string_equal(json_string_value(json_object_get(got, "system")), "You are a test.");
	assert_string_equal(json_string_value(
				    json_object_get(json_array_get(json_object_get(got, "tools"),
								   0),
						    "name")),
			    "proxmox_list_vms");
	msgs = json_object_get(got, "messages");
	res = json_object_get(json_array_get(msgs, 2), "content");
	assert_int_equal(json_array_size(res), 2);
	assert_string_equal(json_string_value(
				    json_object_get(json_array_get(res, 1), "tool_use_id")),
			    "toolu_sim_0_0_1");
	assert_true(json_is_true(json_object_get(json_array_get(res, 1), "is_error")));
	assert_true(json_is_false(json_object_get(json_array_get(res, 0), "is_error")));
	json_decref(keep);
}

static void openai_parallel_tool_use_loop(void **state)
{
	json_t *keep, *got, *msgs, *m;

	run_loop(CX_LLM_OPENAI, "call");
	got = llm_sim_received(0, &keep);
	got = json_object_get(json_array_get(got, 1), "body");
	msgs = json_object_get(got, "messages");
	/* system, user, assistant with tool_calls, two tool messages */
	assert_int_equal(json_array_size(msgs), 5);
	assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 0), "role")),
			    "system");
	m = json_array_get(msgs, 2);
	assert_string_equal(json_string_value(json_object_get(m, "content")), "Looking.");
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(json_array_get(json_object_get(m, "tool_calls"),
								   1),
						    "function"),
				    "arguments")),
			    "{\"node\":\"pve2\"}");
	m = json_array_get(msgs, 4);
	assert_string_equal(json_string_value(json_object_get(m, "role")), "tool");
	assert_string_equal(json_string_value(json_object_get(m, "tool_call_id")),
			    "call_sim_0_0_1");
	assert_string_equal(json_string_value(json_object_get(m, "content")),
			    "Error: node 'pve2' not found");
	m = json_array_get(json_object_get(got, "tools"), 0);
	assert_string_equal(json_string_value(json_object_get(m, "type")), "function");
	assert_non_null(json_object_get(json_object_get(m, "function"), "parameters"));
	json_decref(keep);
}

/* The reply's stop reason, for a one-turn script. */
static enum cx_llm_stop stop_for(enum cx_llm_api api, const char *turn_json, char *raw)
{
	struct cx_llm_model m = llm_sim_model(api, "sim-model");
	struct cx_llm *l = llm_sim_client(&m, 1, 0);
	json_t *conv = json_array();
	struct cx_llm_reply r;
	struct cx_err err;
	enum cx_llm_stop stop;
	char script[512];

	snprintf(script, sizeof(script), "{\"conversations\":[{\"match\":\"S\",\"turns\":[%s]}]}",
		 turn_json);
	llm_sim_script(script);
	cx_llm_add_user_text(conv, "S");
	if (ask(l, conv, &r, &err) != 0)
		fail_msg("%s", err.msg);
	stop = r.stop;
	strcpy(raw, r.stop_raw);
	cx_llm_reply_release(&r);
	json_decref(conv);
	cx_llm_free(l);
	return stop;
}

static void stop_reasons(void **state)
{
	char raw[32];

	assert_int_equal(stop_for(CX_LLM_ANTHROPIC, "{\"text\":\"a\",\"stop\":\"max_tokens\"}",
				  raw),
			 CX_LLM_STOP_MAX_TOKENS);
	assert_int_equal(stop_for(CX_LLM_ANTHROPIC, "{\"text\":\"a\",\"stop\":\"pause_turn\"}",
				  raw),
			 CX_LLM_STOP_PAUSE_TURN);
	assert_int_equal(stop_for(CX_LLM_ANTHROPIC, "{\"text\":\"no\",\"stop\":\"refusal\"}", raw),
			 CX_LLM_STOP_REFUSAL);
	assert_int_equal(stop_for(CX_LLM_ANTHROPIC, "{\"text\":\"a\",\"stop\":\"stop_sequence\"}",
				  raw),
			 CX_LLM_STOP_STOP_SEQUENCE);
	assert_int_equal(stop_for(CX_LLM_ANTHROPIC,
				  "{\"text\":\"a\",\"stop\":\"model_context_window_exceeded\"}",
				  raw),
			 CX_LLM_STOP_OTHER);
	assert_string_equal(raw, "model_context_window_exceeded");
	assert_int_equal(stop_for(CX_LLM_OPENAI, "{\"text\":\"a\",\"stop\":\"max_tokens\"}", raw),
			 CX_LLM_STOP_MAX_TOKENS);
	assert_string_equal(raw, "length");
	assert_int_equal(stop_for(CX_LLM_OPENAI, "{\"text\":\"no\",\"stop\":\"refusal\"}", raw),
			 CX_LLM_STOP_REFUSAL);
	assert_int_equal(stop_for(CX_LLM_OPENAI, "{\"text\":\"a\"}", raw), CX_LLM_STOP_END_TURN);
	assert_string_equal(raw, "stop");
}

/* A one-turn script whose first answer is fault_json; the error of sending to it. */
static int send_faulty(enum cx_llm_api api, const char *fault_json, int retries,
		       struct cx_llm_reply *r, struct cx_err *err)
{
	struct cx_llm_model m = llm_sim_model(api, "sim-model");
	struct cx_llm *l = llm_sim_client(&m, 1, retries);
	json_t *conv = json_array();
	char script[1024];
	int rc;

	snprintf(script, sizeof(script),
		 "{\"conversations\":[{\"match\":\"F\",\"turns\":[{\"text\":\"ok\",\"faults\":[%s]}"
		 "]}]}",
		 fault_json);
	llm_sim_script(script);
	cx_llm_add_user_text(conv, "F");
	rc = ask(l, conv, r, err);
	json_decref(conv);
	cx_llm_free(l);
	return rc;
}

static void malformed_replies(void **state)
{
	struct cx_llm_reply r;
	struct cx_err err;

	/* 200s are not retried whatever their body: malformed is an answer, not a failure */
	assert_int_equal(send_faulty(CX_LLM_ANTHROPIC, "{\"raw_text\":\"<html>oops\"}", 3, &r,
				     &err),
			 -1);
	assert_int_equal(err.code, CX_LLM_E_MALFORMED);
	hts_assert_contains(err.msg, "not JSON");
	hts_assert_contains(err.msg, "model 'sim-model'");
	assert_int_equal(r.attempts, 1);
	assert_int_equal(send_faulty(CX_LLM_ANTHROPIC,
				     "{\"raw\":{\"type\":\"message\",\"content\":\"x\","
				     "\"stop_reason\":\"end_turn\"}}",
				     3, &r, &err),
			 -1);
	assert_int_equal(err.code, CX_LLM_E_MALFORMED);
	hts_assert_contains(err.msg, "'content' is not an array");
	assert_int_equal(send_faulty(CX_LLM_ANTHROPIC,
				     "{\"raw\":{\"type\":\"message\",\"content\":[{\"type\":"
				     "\"tool_use\",\"id\":\"t\",\"name\":\"x\"}],\"stop_reason\":"
				     "\"tool_use\"}}",
				     3, &r, &err),
			 -1);
	hts_assert_contains(err.msg, "tool_use block 0");
	assert_int_equal(
		send_faulty(CX_LLM_OPENAI,
			    "{\"raw\":{\"choices\":[{\"message\":{\"role\":\"assistant\","
			    "\"tool_calls\":[{\"id\":\"c\",\"type\":\"function\",\"function\":"
			    "{\"name\":\"f\",\"arguments\":\"{not json\"}}]},"
			    "\"finish_reason\":\"tool_calls\"}]}}",
			    3, &r, &err),
		-1);
	assert_int_equal(err.code, CX_LLM_E_MALFORMED);
	hts_assert_contains(err.msg, "arguments of tool call 0");
	assert_int_equal(send_faulty(CX_LLM_OPENAI, "{\"raw\":{\"choices\":[]}}", 3, &r, &err), -1);
	hts_assert_contains(err.msg, "choices[0].message");
	/* a JSON object that is not a message */
	assert_int_equal(send_faulty(CX_LLM_ANTHROPIC, "{\"status\":200,\"raw\":{}}", 0, &r, &err),
			 -1);
	hts_assert_contains(err.msg, "not a message");
}

/* The key refused: a sentence saying so, and never the key, in the error or the events. */
static void key_refused_never_shown(void **state)
{
	static const char secret[] = "sk-ant-WRONG-0123456789-secret";
	struct cx_llm_model m[2] = { llm_sim_model(CX_LLM_ANTHROPIC, "a"),
				     llm_sim_model(CX_LLM_OPENAI, "b") };
	json_t *ref = json_pack("{s:s}", "env", "LLM_TEST_WRONG_KEY"), *conv = json_array();
	struct cx_llm *l;
	struct cx_llm_reply r;
	struct cx_err err;
	int i;

	/* whatever this process writes to stderr meanwhile is kept, to look for the key */
	char logpath[] = "/tmp/test_llm_stderr.XXXXXX", logtext[65536];
	int logfd = mkstemp(logpath), saved = dup(2);
	ssize_t n;

	assert_true(logfd >= 0 && saved >= 0);
	fflush(stderr);
	dup2(logfd, 2);
	setenv("LLM_TEST_WRONG_KEY", secret, 1);
	m[0].api_key = ref;
	m[1].api_key = ref;
	l = llm_sim_client(m, 2, 3);
	llm_sim_script("{\"openai_api_key\":\"sk-openai-right-0123456789\",\"conversations\":[]}");
	cx_llm_add_user_text(conv, "K");
	assert_int_equal(ask(l, conv, &r, &err), -1);
	assert_int_equal(err.code, CX_LLM_E_AUTH);
	hts_assert_contains(err.msg, "API key was refused");
	hts_assert_contains(err.msg, "401");
	assert_null(strstr(err.msg, secret));
	assert_null(strstr(err.msg, "0123456789-secret"));
	/* not retried, but the next model is tried: one fallback event, two attempts */
	assert_int_equal(r.attempts, 2);
	assert_int_equal(llm_n_events, 1);
	for (i = 0; i < llm_n_events; i++)
		assert_null(strstr(llm_events[i].reason, secret));
	cx_llm_free(l);
	/* a server that echoes the key in another error: the key is cut out of the sentence */
	l = llm_sim_client(&m[0], 1, 0);
	llm_sim_script("{\"api_key\":\"sk-ant-WRONG-0123456789-secret\",\"conversations\":[{"
		       "\"match\":\"K\",\"turns\":[{\"faults\":[{\"status\":400,\"message\":"
		       "\"key sk-ant-WRONG-0123456789-secret is not allowed here\"}]}]}]}");
	assert_int_equal(ask(l, conv, &r, &err), -1);
	assert_int_equal(err.code, CX_LLM_E_REQUEST);
	hts_assert_contains(err.msg, "key [redacted] is not allowed here");
	assert_null(strstr(err.msg, secret));
	/* ... also where the sentence is cut short in the middle of the key */
	{
		char script[1400], pad[145]; /* the key cut after 15 bytes (at 160) */

		memset(pad, 'x', sizeof(pad) - 1);
		pad[sizeof(pad) - 1] = '\0';
		snprintf(script, sizeof(script),
			 "{\"api_key\":\"%s\",\"conversations\":[{\"match\":\"K\",\"turns\":[{"
			 "\"faults\":[{\"status\":400,\"message\":\"%s %s\"}]}]}]}",
			 secret, pad, secret);
		llm_sim_script(script);
		assert_int_equal(ask(l, conv, &r, &err), -1);
		hts_assert_contains(err.msg, "xxxx");
		assert_null(strstr(err.msg, "sk-ant-W"));
	}
	cx_llm_free(l);
	/* the right Bearer key is accepted */
	llm_sim_script("{\"openai_api_key\":\"sk-openai-right-0123456789\",\"conversations\":[]}");
	setenv("LLM_TEST_WRONG_KEY", "sk-openai-right-0123456789", 1);
	l = llm_sim_client(&m[1], 1, 0);
	assert_int_equal(ask(l, conv, &r, &err), 0);
	hts_assert_contains(r.blocks[0].text, "no scripted conversation");
	cx_llm_reply_release(&r);
	cx_llm_free(l);
	json_decref(conv);
	json_decref(ref);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	n = pread(logfd, logtext, sizeof(logtext) - 1, 0);
	logtext[n > 0 ? n : 0] = '\0';
	close(logfd);
	unlink(logpath);
	assert_null(strstr(logtext, "WRONG-0123456789"));
	assert_null(strstr(logtext, "sk-openai-right"));
}

static void missing_key_fails_at_start(void **state)
{
	struct cx_llm_model m = { CX_LLM_ANTHROPIC, "a", "http://127.0.0.1:1" };
	struct cx_llm_opts o = { &m, 1, -1 };
	struct cx_err err;
	char *saved = getenv("ANTHROPIC_API_KEY") ? strdup(getenv("ANTHROPIC_API_KEY")) : NULL;

	unsetenv("ANTHROPIC_API_KEY");
	assert_null(cx_llm_new(&o, &err));
	hts_assert_contains(err.msg, "ANTHROPIC_API_KEY");
	/* from the environment, with ANTHROPIC_BASE_URL honoured */
	setenv("ANTHROPIC_API_KEY", LLM_SIM_KEY, 1);
	setenv("ANTHROPIC_BASE_URL", llm_sim_url, 1);
	m.base_url = NULL;
	{
		struct cx_llm *l = cx_llm_new(&o, &err);
		json_t *conv = json_array();
		struct cx_llm_reply r;

		assert_non_null(l);
		cx_llm_add_user_text(conv, "E");
		llm_sim_script(
			"{\"conversations\":[{\"match\":\"E\",\"turns\":[{\"text\":\"env\"}]}]}");
		assert_int_equal(ask(l, conv, &r, &err), 0);
		assert_string_equal(r.blocks[0].text, "env");
		cx_llm_reply_release(&r);
		json_decref(conv);
		cx_llm_free(l);
	}
	unsetenv("ANTHROPIC_BASE_URL");
	if (saved)
		setenv("ANTHROPIC_API_KEY", saved, 1);
	else
		unsetenv("ANTHROPIC_API_KEY");
	free(saved);
}

/* The simulator refuses what the real API refuses, in its error shapes. */
static void simulator_checks_requests(void **state)
{
	const char *const key[] = { "x-api-key: " LLM_SIM_KEY, NULL };
	const char *const both[] = { "x-api-key: " LLM_SIM_KEY, "anthropic-version: 2023-06-01",
				     NULL };
	long status;
	json_t *v;

	llm_sim_script("{\"conversations\":[]}");
	v = llm_sim_http("POST", "/v1/messages", "{}", NULL, &status);
	assert_int_equal(status, 401);
	assert_string_equal(json_string_value(json_object_get(json_object_get(v, "error"), "type")),
			    "authentication_error");
	json_decref(v);
	v = llm_sim_http("POST", "/v1/messages", "{}", key, &status);
	assert_int_equal(status, 400);
	hts_assert_contains(json_string_value(
				    json_object_get(json_object_get(v, "error"), "message")),
			    "anthropic-version");
	json_decref(v);
	v = llm_sim_http("POST", "/v1/messages",
			 "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
			 both, &status);
	assert_int_equal(status, 400);
	assert_string_equal(json_string_value(
				    json_object_get(json_object_get(v, "error"), "message")),
			    "max_tokens: Field required");
	json_decref(v);
	v = llm_sim_http(
		"POST", "/v1/messages",
		"{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\","
		"\"content\":\"x\"},{\"role\":\"assistant\",\"content\":[{\"type\":"
		"\"tool_use\",\"id\":\"t1\",\"name\":\"n\",\"input\":{}}]},{\"role\":"
		"\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"t2\"}]}]}",
		both, &status);
	assert_int_equal(status, 400);
	hts_assert_contains(json_string_value(
				    json_object_get(json_object_get(v, "error"), "message")),
			    "unexpected `tool_use_id`");
	json_decref(v);
	v = llm_sim_http("POST", "/v1/chat/completions",
			 "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"},"
			 "{\"role\":\"tool\",\"tool_call_id\":\"c\",\"content\":\"r\"}]}",
			 NULL, &status);
	assert_int_equal(status, 400);
	hts_assert_contains(json_string_value(
				    json_object_get(json_object_get(v, "error"), "message")),
			    "must be a response to a preceeding message with 'tool_calls'");
	json_decref(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(anthropic_parallel_tool_use_loop),
		cmocka_unit_test(openai_parallel_tool_use_loop),
		cmocka_unit_test(stop_reasons),
		cmocka_unit_test(malformed_replies),
		cmocka_unit_test(key_refused_never_shown),
		cmocka_unit_test(missing_key_fails_at_start),
		cmocka_unit_test(simulator_checks_requests),
	};

	return cmocka_run_group_tests(tests, llm_sim_up, llm_sim_down);
}
