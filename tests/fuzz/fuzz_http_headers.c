/* The HTTP transport's header parsing (gateway/http_headers.c, gateway/http_stateless.c,
 * gateway/http_stream.c): Host, Origin (and Origin against Host), If-None-Match, Accept,
 * Content-Type, Allow, the protocol version, Last-Event-ID, the Mcp-* mirrored headers with
 * their Base64 wrapping, and the stateless checks of a request against its headers.
 * Input: "Name: value" lines, a blank line, then a JSON-RPC body. Every value goes through
 * every single-value parser; the table and the body through the mirrored-header and stateless
 * checks, with the testkit tools published (some carry x-mcp-header annotations). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "../../common/json.h"
#include "../../gateway/http_headers.h"
#include "../../gateway/http_stateless.h"
#include "../../gateway/http_stream.h"
#include "support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_HEADERS 32

struct table {
	char *name[MAX_HEADERS], *value[MAX_HEADERS];
	int n;
};

static const char *table_get(void *ctx, const char *name)
{
	const struct table *t = ctx;

	for (int i = 0; i < t->n; i++) {
		if (!strcasecmp(t->name[i], name))
			return t->value[i];
	}
	return NULL;
}

static void one_value(const char *v)
{
	static char *const allowed[] = { "mcp.example.com", "[::1]:8443", "https://app.example",
					 NULL };
	char name[256], *buf = NULL;
	const char *out;
	size_t hostlen, outlen;
	uint64_t a, b;
	long port;
	bool j, s;

	cx_http_is_loopback(v);
	cx_http_split_hostport(v, name, sizeof(name), &hostlen, &port);
	cx_http_host_allowed(v, allowed);
	cx_http_host_allowed(v, NULL);
	cx_http_origin_allowed(v, allowed);
	cx_http_origin_is_host(v, "mcp.example.com:8080");
	cx_http_origin_is_host("http://mcp.example.com:8080", v);
	cx_http_etag_matches(v, "\"0123456789abcdef\"");
	cx_http_parse_accept(v, &j, &s);
	cx_http_content_type_is_json(v);
	cx_http_method_listed(v, "POST");
	cx_http_header_token(v);
	cx_http_is_stateless(v, NULL, false);
	cx_http_is_stateless("2026-07-28", v, true);
	cx_http_stateless_stream_request(v, "");
	cx_http_version_resumable(v);
	cx_http_parse_event_id(v, &a, &b);
	if (cx_http_header_value_decode(v, strlen(v), &buf, &out, &outlen) == 0 &&
	    outlen > strlen(v) + 1) {
		fprintf(stderr, "fuzz_http_headers: decoded past the value\n");
		abort();
	}
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fz_strndup(data, size), *p = text, *body = NULL;
	struct cx_http_hdrs hd;
	struct cx_http_refusal no;
	struct table t = { .n = 0 };
	json_t *m;

	if (size > 64 * 1024)
		goto out;
	while (p && *p) {
		char *eol = strchr(p, '\n'), *colon;

		if (eol)
			*eol = '\0';
		if (!*p || (*p == '\r' && !p[1])) {
			body = eol ? eol + 1 : NULL;
			break;
		}
		colon = strchr(p, ':');
		if (colon && t.n < MAX_HEADERS) {
			*colon = '\0';
			t.name[t.n] = p;
			t.value[t.n] = colon + 1 + (colon[1] == ' ');
			one_value(t.value[t.n++]);
		} else {
			one_value(p);
		}
		p = eol ? eol + 1 : NULL;
	}
	if (!body)
		goto out;
	m = cx_json_loadb(body, strlen(body), 1u << 20, NULL);
	if (json_is_object(m)) {
		const char *v = table_get(&t, "MCP-Protocol-Version");

		hd.get = table_get;
		hd.ctx = &t;
		memset(&no, 0, sizeof(no));
		if (cx_http_stateless_check(m, v ? v : "2026-07-28", 16, fz_server(), &hd, &no))
			json_decref(no.data);
	}
	json_decref(m);
out:
	free(text);
	return 0;
}
