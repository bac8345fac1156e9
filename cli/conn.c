/* How cortexctl reaches the tools: a gateway over MCP (common/mcp_client), or with --local
 * the adapters in this process (local.c). Errors become exit statuses here, once. */
#include "cortexctl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/http_client.h"
#include "local.h"

#define TOKEN_FILE_MAX 4096

struct ctl {
	struct cx_mcp_client *mcp; /* remote */
	struct ctl_local *local;   /* --local */
	long timeout_ms;
};

int ctl_fail(int code, const char *fmt, ...)
{
	va_list ap;

	fputs("cortexctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

const char *ctl_str(const json_t *obj, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s ? s : dflt;
}

int ctl_print_json(json_t *v)
{
	char *s = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);

	json_decref(v);
	if (!s)
		return ctl_fail(CTL_CONN, "out of memory");
	puts(s);
	free(s);
	return CTL_OK;
}

/* The token in path: its first line, without the line's end. 0, or -1 printed. */
static int read_token(const char *path, char *out, size_t outlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	ssize_t n;
	size_t len;

	if (fd < 0)
		return ctl_fail(-1, "--token-file '%s': %s", path, strerror(errno));
	/* As ssh does for keys: a token others can read is no longer only yours. */
	if (!fstat(fd, &st) && (st.st_mode & 077))
		ctl_fail(0,
			 "warning: --token-file '%s' can be read by other users (mode %04o); "
			 "chmod 600 it",
			 path, (unsigned)(st.st_mode & 07777));
	n = read(fd, out, outlen - 1);
	close(fd);
	if (n < 0)
		return ctl_fail(-1, "--token-file '%s': %s", path, strerror(errno));
	out[n] = '\0';
	len = strcspn(out, "\r\n");
	out[len] = '\0';
	if (!len)
		return ctl_fail(-1, "--token-file '%s' holds no token on its first line", path);
	return 0;
}

static struct ctl *open_remote(struct ctl *c, const struct ctl_opts *o, int *code)
{
	char token[TOKEN_FILE_MAX];
	struct cx_mcp_client_opts mo = { .url = o->url, .client_name = "cortexctl" };
	struct cx_err err = { 0 };

	if (o->token_file) {
		if (read_token(o->token_file, token, sizeof(token))) {
			*code = CTL_USAGE;
			return NULL;
		}
		mo.token = token;
	}
	mo.timeout_ms = c->timeout_ms;
	if (cx_http_global_init()) {
		*code = ctl_fail(CTL_CONN, "could not initialise libcurl");
		return NULL;
	}
	c->mcp = cx_mcp_client_new(&mo, &err);
	explicit_bzero(token, sizeof(token));
	if (!c->mcp) {
		*code = ctl_fail(CTL_USAGE, "%s", err.msg);
		return NULL;
	}
	return c;
}

struct ctl *ctl_open(const struct ctl_opts *o, int *code)
{
	struct ctl *c = calloc(1, sizeof(*c));
	struct cx_err err = { 0 };

	if (!c) {
		*code = ctl_fail(CTL_CONN, "out of memory");
		return NULL;
	}
	c->timeout_ms = o->timeout_s * 1000;
	if (!o->local) {
		if (open_remote(c, o, code))
			return c;
		free(c);
		return NULL;
	}
	c->local = ctl_local_open(o->config, o->verbose, &err);
	if (!c->local) {
		*code = ctl_fail(CTL_CONN, "--local: %s", err.msg);
		free(c);
		return NULL;
	}
	return c;
}

void ctl_close(struct ctl *c)
{
	if (!c)
		return;
	cx_mcp_client_free(c->mcp);
	ctl_local_close(c->local);
	free(c);
}

bool ctl_is_local(const struct ctl *c)
{
	return c->local != NULL;
}

struct cx_mcp_client *ctl_client(struct ctl *c)
{
	return c->mcp;
}

/* A failed MCP request as an exit status: the gateway said the request was bad (unknown tool,
 * bad params) is the user's to fix; the rest is the connection's. */
static int mcp_code(int rc, const struct cx_err *err)
{
	if (rc == CX_MCP_E_RPC && err->code == -32602)
		return ctl_fail(CTL_USAGE, "%s", err->msg);
	return ctl_fail(CTL_CONN, "%s", err->msg);
}

int ctl_list_tools(struct ctl *c, json_t **tools)
{
	struct cx_err err = { 0 };
	int rc;

	if (c->local) {
		*tools = ctl_local_tools(c->local);
		return *tools ? CTL_OK : ctl_fail(CTL_CONN, "out of memory");
	}
	rc = cx_mcp_list_tools(c->mcp, tools, &err);
	return rc ? mcp_code(rc, &err) : CTL_OK;
}

int ctl_call(struct ctl *c, const char *name, json_t *args, json_t **result)
{
	struct cx_mcp_call_opts co = { .timeout_ms = c->timeout_ms };
	struct cx_err err = { 0 };
	int rc;

	if (c->local) {
		rc = ctl_local_call(c->local, name, args, result, &err);
		if (rc == -32602)
			return ctl_fail(CTL_USAGE, "%s", err.msg);
		return rc ? ctl_fail(CTL_CONN, "%s", err.msg) : CTL_OK;
	}
	rc = cx_mcp_call_tool(c->mcp, name, args, &co, result, &err);
	return rc ? mcp_code(rc, &err) : CTL_OK;
}

char *ctl_result_text(const json_t *result)
{
	const json_t *item;
	size_t i, len = 0;
	char *out = calloc(1, 1), *grown;

	json_array_foreach(json_object_get(result, "content"), i, item) {
		const char *t = json_string_value(json_object_get(item, "text"));
		size_t n = t ? strlen(t) : 0;
		if (!t || !out)
			continue;
		grown = realloc(out, len + n + 2);
		if (!grown)
			break;
		out = grown;
		if (len)
			out[len++] = '\n';
		memcpy(out + len, t, n + 1);
		len += n;
	}
	return out;
}

const json_t *ctl_structured(const json_t *result, int *code)
{
	const json_t *sc = json_object_get(result, "structuredContent");
	char *text;

	if (json_is_true(json_object_get(result, "isError"))) {
		text = ctl_result_text(result);
		*code = ctl_fail(CTL_TOOL_ERROR, "%s", text && *text ? text : "the tool failed");
		free(text);
		return NULL;
	}
	if (!json_is_object(sc)) {
		*code = ctl_fail(CTL_CONN, "the tool's result holds no structuredContent");
		return NULL;
	}
	*code = CTL_OK;
	return sc;
}
