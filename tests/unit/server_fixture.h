/* The server-core fixture the test_server*.c unit tests share: a gateway config with two
 * tokens, the test adapters plus "spin" (handlers that notice their deadline), an audit file,
 * and helpers to talk to the core through a fake exchange and read the audit lines back. */
#ifndef CX_TEST_SERVER_FIXTURE_H
#define CX_TEST_SERVER_FIXTURE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "../../common/audit.h"
#include "../../gateway/config.h"
#include "../../gateway/registry.h"
#include "../../gateway/server.h"
#include "../../gateway/session.h"

#define TOKEN_GW       "tok-gateway-only-0123456789"
#define TOKEN_RO       "tok-read-only-0123456789"
#define DEADLINE_CALLS 8 /* concurrent calls in test_deadline */

struct fixture {
	struct cx_gw_config conf;
	struct cx_registry *reg;
	void *gw_state;
	struct cx_audit *audit;
	char audit_path[64];
	struct cx_server *s;
	const struct cx_principal *who; /* stdio unless a test says otherwise */
};

/* Runs of spin_count since the last setup. */
extern atomic_int spin_count_runs;

/* cmocka setups: default, tools/list pages of 2, 300 ms deadline, one worker, a narrow queue. */
int setup(void **state);
int setup_paged(void **state);
int setup_deadline(void **state);
int setup_single(void **state);
int setup_narrow(void **state);
int teardown(void **state);
json_t *roundtrip_as(struct fixture *f, const struct cx_principal *who, struct cx_session *sess,
		     json_t *msg);
json_t *roundtrip(struct fixture *f, struct cx_session *sess, const char *text);
void initialize(struct fixture *f, struct cx_session *sess, const char *version);
json_t *tool_call_as(struct fixture *f, const struct cx_principal *who, struct cx_session *sess,
		     const char *tool, const char *args);
long error_code(const json_t *r);
const json_t *result_of(const json_t *r);
bool is_error_result(const json_t *r);
const char *result_text(const json_t *r);
void assert_contains(const char *hay, const char *needle);
void assert_is_error(const json_t *r, const char *needle);
json_t *audit_lines(struct fixture *f);
json_t *audit_last(struct fixture *f, const char *tool);
size_t audit_count(struct fixture *f);
void assert_audit(struct fixture *f, const char *tool, const char *outcome, const char *caller,
		  const char *detail_needle);

#endif
