/* The fixture the MCP client's unit tests share (test_mcp_client.c, test_mcp_client_failures.c):
 * the real gateway (build/cortex-gateway-test with the test kit adapter) started and stopped
 * as a child, a client of it, and helpers for calls and progress.
 *
 * The gateway binary is $CORTEX_GATEWAY_BIN, else cortex-gateway-test in the build directory
 * the test was built in (<O>/tests/unit/ -> <O>/), else build/cortex-gateway-test. */
#ifndef CX_TEST_MCP_CLIENT_FIXTURE_H
#define CX_TEST_MCP_CLIENT_FIXTURE_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include <jansson.h>

#include "../../common/mcp_client.h"

#define TOKEN "mcp-client-test-token-0123456789abcdef"
#define KEY_A "session-key-A-0123456789abcdef0123456789abcdef0123456789"
#define KEY_B "session-key-B-fedcba9876543210fedcba9876543210fedcba9876"
#define TMPL  "/tmp/cortex-mcp-client-XXXXXX" /* mkdtemp(3) fills in the Xs */

struct gw {
	pid_t pid;
	unsigned port;
	char url[64];
	char dir[sizeof(TMPL)];
	char log[sizeof(TMPL) + 16];
};

struct progress_log {
	int n;
	bool out_of_order;
	double last, total;
	char msg[64];
};

extern char gateway_bin[PATH_MAX];
/* Every gateway still running, killed after each test even when it failed half-way. */
extern pid_t running[8];

void find_gateway(void);
char *slurp(const char *path);
void write_file(const char *path, const char *text);
/* Starts the gateway with the test kit on port (0: any free one) and waits for "listening
 * on". key: the session key's secret, or NULL for none (a random key per start); tokens: a
 * bearer token is required; extra: more top-level config ("" or ", \"tools\": {...}"). */
void gw_start(struct gw *g, unsigned port, const char *key, bool tokens, const char *extra);
void gw_stop(struct gw *g);
/* Stops it and checks that the token never reached its log. */
void gw_done(struct gw *g);
struct cx_mcp_client *client(const struct gw *g, const char *token);
json_t *call_ok(struct cx_mcp_client *c, const char *name, json_t *args,
		const struct cx_mcp_call_opts *o);
const char *echoed(const json_t *res);
void on_progress(void *ctx, double progress, double total, const char *message);
unsigned free_port(void);
/* Eight threads, ten calls each, on c at once; every answer must be the thread's own. */
void run_workers(struct cx_mcp_client *c);
/* A cmocka teardown: kills every gateway a test left running. */
int kill_running(void **state);

#endif
