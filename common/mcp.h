/* MCP protocol versions and tool-result builders. */
#ifndef CX_MCP_H
#define CX_MCP_H

#include <jansson.h>
#include <stdbool.h>

#define CX_MCP_LATEST "2025-11-25"
/* The version a Streamable HTTP server assumes when MCP-Protocol-Version is absent. */
#define CX_MCP_HTTP_DEFAULT "2025-03-26"

/* The stateless revision: no initialize, no session; every request carries its version,
 * client info and capabilities in params._meta. */
#define CX_MCP_STATELESS   "2026-07-28"
#define CX_META_VERSION    "io.modelcontextprotocol/protocolVersion"
#define CX_META_CAPS       "io.modelcontextprotocol/clientCapabilities"
#define CX_META_INFO       "io.modelcontextprotocol/clientInfo"
#define CX_META_LOGLEVEL   "io.modelcontextprotocol/logLevel"
#define CX_META_SERVERINFO "io.modelcontextprotocol/serverInfo"
/* The tasks extension (SEP-2663), declared under capabilities.extensions. */
#define CX_TASKS_EXT "io.modelcontextprotocol/tasks"

/* Supported versions that use initialize, newest first, NULL-terminated. */
extern const char *const cx_mcp_versions[];

bool cx_mcp_version_supported(const char *v);
/* The version to answer initialize with: the client's if supported, else CX_MCP_LATEST. */
const char *cx_mcp_negotiate(const char *requested);
/* JSON-RPC batches were removed in 2025-06-18. */
bool cx_mcp_allows_batch(const char *version);

/* A tools/call result under construction; owned by the call. */
struct cx_result {
	json_t *content;    /* array of content blocks */
	json_t *structured; /* structuredContent or NULL */
	bool is_error;
	/* The text block cx_result_structured wrote for structured (a string in content,
	 * borrowed): the serialized reply reuses it instead of writing structured again. */
	const json_t *structured_text;
};

void cx_result_init(struct cx_result *r);
void cx_result_release(struct cx_result *r);
/* Appends a text block. 0 or -1 (out of memory). */
int cx_result_text(struct cx_result *r, const char *text);
/* Appends any content block (image, audio, resource, resource_link...). Steals block. */
int cx_result_content(struct cx_result *r, json_t *block);
/* Marks the result as an error the model can read and appends the sentence. */
int cx_result_errorf(struct cx_result *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Sets structuredContent and appends the same JSON as a text block. Steals value. */
int cx_result_structured(struct cx_result *r, json_t *value);
/* The CallToolResult object (new reference); the result is left empty. NULL on OOM. */
json_t *cx_result_take(struct cx_result *r);

#endif
