/* cortexctl --local (local.h): the gateway's config -> registry -> server -> dispatch, in
 * this process. */
#include "local.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "../common/audit.h"
#include "../common/http_client.h"
#include "../common/log.h"
#include "../common/util.h"
#include "../gateway/adapters.h"
#include "../gateway/config.h"
#include "../gateway/dispatch.h"
#include "../gateway/register.h"
#include "../gateway/server.h"

struct ctl_local {
	struct cx_gw_config conf;
	struct cx_registry *reg;
	struct cx_audit *audit;
	struct cx_server *server;
	void *gw_state;
};

/* One call waited for: the dispatcher answers from a worker (or this thread). */
struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	json_t *result;
	int code;
	char msg[256];
};

static void on_done(void *ctx, const json_t *result, int code, const char *msg)
{
	struct waiter *w = ctx;

	pthread_mutex_lock(&w->mu);
	w->result = result ? json_deep_copy(result) : NULL;
	w->code = result && !w->result ? -32603 : code;
	cx_fmt(w->msg, sizeof(w->msg), "%s",
	       result && !w->result ? "out of memory"
	       : msg                ? msg
				    : "");
	w->done = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* The config file, the log level and the base of relative paths. */
static int configure(struct ctl_local *l, const char *config, bool verbose, struct cx_err *err)
{
	enum cx_log_level lvl = CX_LOG_WARN;

	cx_gw_config_defaults(&l->conf);
	if (cx_gw_config_load_file(&l->conf, config, err))
		return -1;
	if (verbose && cx_log_parse_level(l->conf.log_level, &lvl))
		lvl = CX_LOG_INFO;
	cx_log_set_level(lvl);
	if (cx_path_set_base(l->conf.config_dir))
		return cx_err_set(err, "out of memory");
	return 0;
}

struct ctl_local *ctl_local_open(const char *config, bool verbose, struct cx_err *err)
{
	struct ctl_local *l = calloc(1, sizeof(*l));

	if (!l) {
		cx_err_set(err, "out of memory");
		return NULL;
	}
	signal(SIGPIPE, SIG_IGN);
	if (cx_http_global_init()) {
		cx_err_set(err, "could not initialise libcurl");
		goto fail;
	}
	if (configure(l, config, verbose, err))
		goto fail;
	l->reg = cx_registry_new();
	if (!l->reg) {
		cx_err_set(err, "out of memory");
		goto fail;
	}
	if (cx_register_adapters(l->reg, l->conf.adapters, l->conf.tasks, &l->gw_state, err))
		goto fail;
	l->audit = cx_audit_open(l->conf.audit_file ? l->conf.audit_file : "/dev/null", err);
	if (!l->audit)
		goto fail;
	l->server = cx_server_new(&l->conf, l->reg, l->audit, err);
	if (!l->server || cx_server_start(l->server, err))
		goto fail;
	return l;
fail:
	ctl_local_close(l);
	return NULL;
}

void ctl_local_close(struct ctl_local *l)
{
	if (!l)
		return;
	/* A handler still running past its deadline may touch what it was given: then nothing
	 * is freed, and the process is about to end anyway. */
	if (l->server && cx_server_drain(l->server))
		return;
	cx_server_free(l->server);
	cx_registry_free(l->reg);
	cx_gateway_adapter_state_free(l->gw_state);
	cx_audit_close(l->audit);
	cx_gw_config_release(&l->conf);
	free(l);
}

json_t *ctl_local_tools(struct ctl_local *l)
{
	json_t *tools = json_array();

	for (size_t i = 0; tools && i < cx_registry_count(l->reg); i++) {
		const struct cx_reg_tool *rt = cx_registry_at(l->reg, i);
		if (cx_registry_available(rt) && json_array_append(tools, rt->def)) {
			json_decref(tools);
			return NULL;
		}
	}
	return tools;
}

int ctl_local_call(struct ctl_local *l, const char *name, const json_t *args, json_t **result,
		   struct cx_err *err)
{
	struct waiter w = { .done = false };
	int rc;

	*result = NULL;
	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
	if (cx_dispatch_tool(cx_server_dispatch(l->server), cx_server_stdio_principal(l->server),
			     name, args, on_done, &w)) {
		rc = -32603;
		cx_err_set(err, "out of memory");
		goto out;
	}
	pthread_mutex_lock(&w.mu);
	while (!w.done)
		pthread_cond_wait(&w.cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	rc = w.result ? 0 : (w.code ? w.code : -32603);
	*result = w.result;
	if (rc)
		cx_err_set(err, "%s", w.msg[0] ? w.msg : "internal error");
out:
	pthread_mutex_destroy(&w.mu);
	pthread_cond_destroy(&w.cv);
	return rc;
}
