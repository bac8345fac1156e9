/* The console: the files under console/ (compiled in by tools/embed --files, gateway/embedded.h)
 * served at GET/HEAD / (index.html) and /console/<file>.
 *
 * They need no credentials, since a browser's navigation carries no bearer token: the page
 * signs in itself and sends the token with each API call. The route table still checks Host
 * first, so a page on another site that rebinds its DNS name to this machine cannot read them
 * through its own origin (it would send its own name as Host). Every answer carries a strict
 * Content-Security-Policy (scripts and styles from this origin only, nothing inline), frame
 * denial and nosniff (the API answers carry the last two as well: cx_http_resp_new), and an
 * ETag from the file's bytes: the browser asks again each time (no-cache) and gets a 304 while
 * the gateway serves the same build. */
#include "http_ops.h"

#include <string.h>
#include <strings.h>

#include "embedded.h"

#define CONSOLE_PREFIX "/console/"
#define CONSOLE_INDEX  "index.html"

#define CONSOLE_CSP                                                                                \
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "          \
	"connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; "              \
	"form-action 'none'; frame-ancestors 'none'"

static const struct {
	const char *name;
	const char *value;
} console_headers[] = {
	{ "Content-Security-Policy", CONSOLE_CSP },
	{ "Cross-Origin-Opener-Policy", "same-origin" },
	{ MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache" },
};

const struct cx_embedded_file *cx_console_find(const char *name)
{
	for (const struct cx_embedded_file *f = cx_console_files; f->name; f++) {
		if (!strcmp(f->name, name))
			return f;
	}
	return NULL;
}

int cx_http_console_headers(struct MHD_Response *r)
{
	for (size_t i = 0; i < sizeof(console_headers) / sizeof(console_headers[0]); i++) {
		if (MHD_add_response_header(r, console_headers[i].name, console_headers[i].value) ==
		    MHD_NO)
			return -1;
	}
	return 0;
}

/* A 404 that carries the console's headers. */
static enum MHD_Result send_not_found(struct MHD_Connection *conn)
{
	static const char body[] = "{\"error\":\"not found\"}";
	struct MHD_Response *r = cx_http_resp_new((char *)body, sizeof(body) - 1, false, CT_JSON);

	if (r && cx_http_console_headers(r)) {
		MHD_destroy_response(r);
		r = NULL;
	}
	return cx_http_queue(conn, MHD_HTTP_NOT_FOUND, r);
}

static enum MHD_Result send_file(struct MHD_Connection *conn, const struct cx_embedded_file *f)
{
	bool fresh =
		cx_http_etag_matches(cx_http_header(conn, MHD_HTTP_HEADER_IF_NONE_MATCH), f->etag);
	struct MHD_Response *r;

	/* A 304 has no body and no Content-Type; the file's bytes are never copied. */
	r = fresh ? cx_http_resp_new("", 0, false, NULL)
		  : cx_http_resp_new((char *)f->data, f->len, false, f->type);
	if (r && (cx_http_console_headers(r) ||
		  MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, f->etag) == MHD_NO)) {
		MHD_destroy_response(r);
		r = NULL;
	}
	return cx_http_queue(conn, fresh ? MHD_HTTP_NOT_MODIFIED : MHD_HTTP_OK, r);
}

enum MHD_Result cx_http_console(struct cx_http *h, struct MHD_Connection *conn, const char *url,
				const char *method, const struct cx_principal *who, void **con_cls)
{
	const struct cx_embedded_file *f;

	if (!strcmp(url, "/"))
		f = cx_console_find(CONSOLE_INDEX);
	else if (!strncmp(url, CONSOLE_PREFIX, strlen(CONSOLE_PREFIX)))
		f = cx_console_find(url + strlen(CONSOLE_PREFIX));
	else
		f = NULL;
	return f ? send_file(conn, f) : send_not_found(conn);
}
