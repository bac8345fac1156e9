/* cortex-sim for the LLM client's tests. */
#include "llm_sim.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <signal.h>
#include <errno.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "../../common/http_client.h"
#include "../../common/util.h"

char llm_sim_url[64];
struct llm_event_copy llm_events[LLM_EVENTS_MAX];
int llm_n_events;

static pid_t sim_pid;
static struct cx_http_client *ctl;

/* build/tests/unit/test_llm -> build/cortex-sim */
static void sim_path(char *out, size_t outlen)
{
	char self[PATH_MAX];
	ssize_t n;
	int i;

	if (getenv("CORTEX_SIM_BIN") && *getenv("CORTEX_SIM_BIN")) {
		snprintf(out, outlen, "%s", getenv("CORTEX_SIM_BIN"));
		return;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	assert_true(n > 0);
	self[n] = '\0';
	for (i = 0; i < 3; i++)
		*strrchr(self, '/') = '\0';
	if (!cx_fmt(out, outlen, "%s/cortex-sim", self))
		fail_msg("path too long");
}

int llm_sim_up(void **state)
{
	char bin[PATH_MAX], line[256];
	char *argv[] = { bin, "--listen", "127.0.0.1:0", NULL };
	struct cx_http_client_opts o = { .service = "cortex-sim" };
	pid_t parent = getpid();
	struct cx_err err;
	unsigned port = 0;
	int fds[2];
	FILE *f;

	cx_http_global_init();
	sim_path(bin, sizeof(bin));
	assert_int_equal(pipe(fds), 0);
	sim_pid = fork();
	if (sim_pid < 0)
		fail_msg("cannot start %s: %s", bin, strerror(errno));
	if (sim_pid == 0) {
		/* The simulator dies with this test, however the test ends: left behind, it would
		 * hold the test's stderr (and a pipe reading it) open for ever. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execv(bin, argv);
		_exit(127);
	}
	close(fds[1]);
	f = fdopen(fds[0], "r");
	while (port == 0 && fgets(line, sizeof(line), f))
		sscanf(line, "cortex-sim listening on http://127.0.0.1:%u", &port);
	fclose(f);
	if (port == 0)
		fail_msg("%s did not say where it listens", bin);
	snprintf(llm_sim_url, sizeof(llm_sim_url), "http://127.0.0.1:%u", port);
	o.base_url = llm_sim_url;
	ctl = cx_http_client_new(&o, &err);
	assert_non_null(ctl);
	return 0;
}

int llm_sim_down(void **state)
{
	int st;

	cx_http_client_free(ctl);
	if (sim_pid > 0) {
		kill(sim_pid, SIGTERM);
		/* It stops within a second or two; one that does not is killed. */
		for (int i = 0; i < 100 && waitpid(sim_pid, &st, WNOHANG) == 0; i++)
			usleep(50000);
		if (waitpid(sim_pid, &st, WNOHANG) == 0) {
			kill(sim_pid, SIGKILL);
			waitpid(sim_pid, &st, 0);
		}
		sim_pid = 0;
	}
	return 0;
}

json_t *llm_sim_http(const char *method, const char *path, const char *body,
		     const char *const *headers, long *status)
{
	struct cx_http_req req = { .method = method,
				   .path = path,
				   .headers = headers,
				   .body = body,
				   .body_len = body ? strlen(body) : 0 };
	struct cx_http_resp resp = { 0 };
	struct cx_err err;
	json_t *v;

	if (cx_http_do(ctl, NULL, 5000, &req, &resp, &err) != 0)
		fail_msg("%s %s: %s", method, path, err.msg);
	if (status)
		*status = resp.status;
	v = json_incref(resp.json);
	cx_http_resp_release(&resp);
	return v;
}

static void expect_ok(const char *method, const char *path, const char *body)
{
	long status;
	json_t *v = llm_sim_http(method, path, body, NULL, &status);

	if (status != 200)
		fail_msg("%s %s answered %ld", method, path, status);
	json_decref(v);
}

void llm_sim_script(const char *script_json)
{
	expect_ok("PUT", "/v1/_sim/llm", script_json);
	expect_ok("DELETE", "/_sim/faults", NULL);
	expect_ok("DELETE", "/_sim/requests", NULL);
	llm_n_events = 0;
}

void llm_sim_fault(const char *fault_json)
{
	expect_ok("POST", "/_sim/faults", fault_json);
}

json_t *llm_sim_received(size_t c, json_t **keep)
{
	*keep = llm_sim_http("GET", "/v1/_sim/llm", NULL, NULL, NULL);
	return json_object_get(json_array_get(json_object_get(json_object_get(*keep, "script"),
							      "conversations"),
					      c),
			       "requests");
}

size_t llm_sim_arrivals(const char *path, long long *out, size_t max)
{
	json_t *log = llm_sim_http("GET", "/_sim/requests", NULL, NULL, NULL), *r;
	size_t i, n = 0;

	json_array_foreach(json_object_get(log, "requests"), i, r)
		if (n < max && strcmp(json_string_value(json_object_get(r, "path")), path) == 0)
			out[n++] = json_integer_value(json_object_get(r, "at_ms"));
	json_decref(log);
	return n;
}

static void collect(void *arg, const struct cx_llm_event *ev)
{
	struct llm_event_copy *c;

	if (llm_n_events >= LLM_EVENTS_MAX)
		return;
	c = &llm_events[llm_n_events++];
	c->kind = ev->kind;
	c->model_index = ev->model_index;
	c->status = ev->status;
	c->wait_ms = ev->wait_ms;
	snprintf(c->basis, sizeof(c->basis), "%s", ev->basis ? ev->basis : "");
	snprintf(c->reason, sizeof(c->reason), "%s", ev->reason ? ev->reason : "");
}

struct cx_llm *llm_sim_client(const struct cx_llm_model *models, size_t n, int retries)
{
	struct cx_llm_opts o = { .models = models,
				 .n_models = n,
				 .retries = retries,
				 .on_event = collect };
	struct cx_err err;
	struct cx_llm *l = cx_llm_new(&o, &err);

	if (l == NULL)
		fail_msg("cx_llm_new: %s", err.msg);
	llm_n_events = 0;
	return l;
}

struct cx_llm_model llm_sim_model(enum cx_llm_api api, const char *model)
{
	static json_t *key;
	struct cx_llm_model m = { .api = api, .model = model, .base_url = llm_sim_url };

	if (key == NULL)
		key = json_pack("{s:s}", "env", "LLM_SIM_TEST_KEY");
	setenv("LLM_SIM_TEST_KEY", LLM_SIM_KEY, 1);
	if (api == CX_LLM_ANTHROPIC)
		m.api_key = key;
	return m;
}
