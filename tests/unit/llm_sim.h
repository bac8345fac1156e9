/* cortex-sim started for the LLM client's tests (test_llm*.c): the binary from
 * $CORTEX_SIM_BIN or next to the test's build directory, on a free port, with helpers for its
 * control endpoints. */
#ifndef CX_TEST_LLM_SIM_H
#define CX_TEST_LLM_SIM_H

#include <jansson.h>

#include "../../common/llm.h"

#define LLM_SIM_KEY "sk-ant-sim-0123456789abcdef" /* the simulator's default x-api-key */

extern char llm_sim_url[64]; /* "http://127.0.0.1:PORT" */

/* cmocka group set-up and tear-down. */
int llm_sim_up(void **state);
int llm_sim_down(void **state);
/* A control request; the answer parsed (new reference), or NULL when not JSON. *status gets the
 * status (may be NULL). headers: NULL-terminated "Name: value" lines, or NULL. */
json_t *llm_sim_http(const char *method, const char *path, const char *body,
		     const char *const *headers, long *status);
/* A fresh start: the script (JSON text), no faults, an empty request log. */
void llm_sim_script(const char *script_json);
/* Adds a fault (JSON text) to /_sim/faults. */
void llm_sim_fault(const char *fault_json);
/* The bodies conversation c received (borrowed from *keep, which the caller releases). */
json_t *llm_sim_received(size_t c, json_t **keep);
/* The arrival times (ms) of the requests to path, oldest first, in out[max]; returns how many. */
size_t llm_sim_arrivals(const char *path, long long *out, size_t max);

/* A client of models[] with retries; on_event collects into llm_events. */
struct cx_llm *llm_sim_client(const struct cx_llm_model *models, size_t n, int retries);
/* One model of api on the simulator. */
struct cx_llm_model llm_sim_model(enum cx_llm_api api, const char *model);

#define LLM_EVENTS_MAX 16
struct llm_event_copy {
	enum cx_llm_event_kind kind;
	size_t model_index;
	long status, wait_ms;
	char basis[24];
	char reason[512];
};
extern struct llm_event_copy llm_events[LLM_EVENTS_MAX];
extern int llm_n_events;

#endif
