#include "stateless.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/jsonrpc.h"
#include "../common/mcp.h"
#include "../common/util.h"
#include "reply.h"
#include "session.h"
#include "tasks.h"

bool cx_stateless_refuse(const struct cx_method *m, struct cx_exchange *x, const char *method,
			 json_t *id, const json_t *params)
{
	const json_t *meta = json_object_get(params, "_meta");
	const json_t *pv = json_object_get(meta, CX_META_VERSION);
	const json_t *caps = json_object_get(meta, CX_META_CAPS);
	const char *v;
	char msg[300];

	if (m && !(m->revisions & CX_IN_STATELESS)) {
		cx_fmt(msg, sizeof(msg),
		       "method not found: '%s' does not exist in protocol "
		       "version %s (there are no sessions)",
		       method, CX_MCP_STATELESS);
		cx_reply_error_full(x, id, 404, CX_RPC_METHOD_NOT_FOUND, msg, NULL);
		return true;
	}
	if (!json_is_string(pv) || !json_is_object(caps)) {
		cx_fmt(msg, sizeof(msg), "invalid params: missing _meta keys:%s%s",
		       json_is_string(pv) ? "" : " " CX_META_VERSION,
		       json_is_object(caps) ? "" : " " CX_META_CAPS);
		cx_reply_error_full(x, id, 400, CX_RPC_INVALID_PARAMS, msg, NULL);
		return true;
	}
	v = json_string_value(pv);
	/* The header (session->version) and _meta must agree; when they do, the version must be
	 * one this gateway serves statelessly. */
	if (strcmp(v, x->session->version)) {
		cx_reply_error_full(x, id, 400, CX_RPC_HEADER_MISMATCH,
				    "MCP-Protocol-Version header does not match _meta "
				    "protocolVersion",
				    NULL);
		return true;
	}
	if (strcmp(v, CX_MCP_STATELESS)) {
		cx_reply_error_full(x, id, 400, CX_RPC_UNSUPPORTED_VERSION,
				    "Unsupported protocol version",
				    json_pack("{s:[s], s:s}", "supported", CX_MCP_STATELESS,
					      "requested", v));
		return true;
	}
	if (!m) {
		cx_fmt(msg, sizeof(msg), "method not found: '%.100s'", method);
		cx_reply_error_full(x, id, 404, CX_RPC_METHOD_NOT_FOUND, msg, NULL);
		return true;
	}
	return false;
}

void cx_stateless_discover(struct cx_server *s, struct cx_exchange *x, json_t *id, json_t *params)
{
	json_t *versions = json_array(), *result;

	json_array_append_new(versions, json_string(CX_MCP_STATELESS));
	for (size_t i = 0; cx_mcp_versions[i]; i++)
		json_array_append_new(versions, json_string(cx_mcp_versions[i]));
	result = json_pack("{s:o, s:{s:{}, s:{}, s:{}, s:{}, s:{}, s:{s:{}}}, s:s,"
			   " s:{s:{s:s, s:s, s:s}}}",
			   "supportedVersions", versions, "capabilities", "tools", "resources",
			   "prompts", "completions", "logging", "extensions", CX_TASKS_EXT,
			   "instructions", CX_SERVER_INSTRUCTIONS, "_meta", CX_META_SERVERINFO,
			   "name", CX_SERVER_NAME, "title", CX_SERVER_TITLE, "version", CX_VERSION);
	cx_reply_result(x, id, cx_cacheable(x->stateless, result));
}

json_t *cx_cacheable(bool stateless, json_t *result)
{
	if (stateless && json_is_object(result)) {
		json_object_set_new(result, "ttlMs", json_integer(0));
		json_object_set_new(result, "cacheScope", json_string("private"));
	}
	return result;
}

/* SHA-256 of a request's arguments in canonical form (sorted keys). */
static void request_digest(const json_t *params, char hex[65])
{
	const json_t *args = json_object_get(params, "arguments");
	char *text =
		args ? json_dumps(args, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;

	cx_sha256_hex(text ? text : "", text ? strlen(text) : 0, hex);
	free(text);
}

/* True when the opened state was issued for this request and has not expired. */
static bool state_matches(const json_t *doc, const json_t *params, enum cx_job_kind kind,
			  const char *name)
{
	const char *dk = json_string_value(json_object_get(doc, "kind"));
	const char *dn = json_string_value(json_object_get(doc, "name"));
	const char *da = json_string_value(json_object_get(doc, "args"));
	char digest[65];

	if (!dk || !dn || !da || strcmp(dk, cx_job_kinds[kind]) || strcmp(dn, name))
		return false;
	request_digest(params, digest);
	return !strcmp(da, digest) &&
	       json_integer_value(json_object_get(doc, "exp")) >= (json_int_t)time(NULL);
}

int cx_stateless_inputs(const unsigned char *key, struct cx_exchange *x, json_t *id,
			const json_t *params, enum cx_job_kind kind, const char *name, json_t **out)
{
	const json_t *rs = json_object_get(params, "requestState");
	const json_t *ir = json_object_get(params, "inputResponses");
	json_t *responses = NULL, *doc;

	*out = NULL;
	if (rs && !json_is_null(rs)) {
		doc = json_is_string(rs) ? cx_unseal_json(key, "r1", json_string_value(rs)) : NULL;
		if (!doc || !state_matches(doc, params, kind, name)) {
			json_decref(doc);
			cx_reply_error(
				x, id, CX_RPC_INVALID_PARAMS,
				"invalid params: requestState was not issued by this gateway "
				"for this request (altered, or from another call); start the "
				"call again without it");
			return -1;
		}
		responses = json_deep_copy(json_object_get(doc, "responses"));
		json_decref(doc);
	}
	if (!json_is_object(responses)) {
		json_decref(responses);
		responses = json_object();
	}
	if (json_is_object(ir))
		json_object_update(responses, (json_t *)ir);
	*out = responses;
	return 0;
}

bool cx_stateless_finish(struct cx_job *j, const unsigned char *key, long state_ttl_s, bool failed)
{
	struct cx_call_channel *ch = &j->chan;
	json_t *state, *result;
	char *sealed;
	char digest[65];

	if (!j->has_chan || !ch->stateless)
		return false;
	/* A handler that found a way without the capability keeps its answer. */
	if (ch->missing_cap[0] && failed) {
		char msg[200];
		cx_fmt(msg, sizeof(msg),
		       "'%s' needs the client capability '%s', which this request "
		       "did not declare",
		       j->name, ch->missing_cap);
		cx_job_finish(j, NULL,
			      &(struct cx_job_error){
				      .code = CX_RPC_MISSING_CAPABILITY,
				      .message = msg,
				      .data = json_pack("{s:{s:{}}}", "requiredCapabilities",
							ch->missing_cap),
				      .http_status = 400,
			      },
			      CX_AUDIT_REFUSED, "missing client capability");
		return true;
	}
	/* Completions have no input-required form: what could not be asked stays unasked. */
	if (!json_object_size(ch->input_requests) || j->kind == CX_JOB_COMPLETE)
		return false;
	/* The state binds the request it was issued for (kind, name, arguments) and expires:
	 * answers given for one question never answer another. */
	request_digest(j->params, digest);
	state = json_pack("{s:s, s:s, s:s, s:I, s:O}", "kind", cx_job_kinds[j->kind], "name",
			  j->name, "args", digest, "exp", (json_int_t)(time(NULL) + state_ttl_s),
			  "responses", ch->input_responses ? ch->input_responses : json_null());
	sealed = state ? cx_seal_json(key, "r1", state) : NULL;
	json_decref(state);
	result = sealed ? json_pack("{s:s, s:O, s:s}", "resultType", "input_required",
				    "inputRequests", ch->input_requests, "requestState", sealed)
			: NULL;
	free(sealed);
	cx_job_finish(j, result, NULL, CX_AUDIT_OK, "input required");
	return true;
}
