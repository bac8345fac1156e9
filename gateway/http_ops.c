/* GET /metrics and GET /readyz (see http_ops.h and docs/OPERATIONS.md).
 *
 * /metrics is admitted like /mcp (Host, Origin, bearer token when tokens are configured). A
 * scrape runs on a thread of its own, because an adapter's gauges may read its backend (the
 * task counts read the task store) and nothing may block an HTTP thread; at most
 * SCRAPES_MAX run at once. /readyz is not admitted (probes carry no token) and reads only
 * state kept in memory: it names adapters and states, never a health message, which may
 * name a backend's address. */
#include "http_ops.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../common/json.h"
#include "../common/log.h"
#include "http_async.h"
#include "http_stream.h"
#include "metrics.h"

#define SCRAPES_MAX      4
#define SCRAPE_MAX_BYTES ((size_t)16 << 20)
#define CT_PROMETHEUS    "text/plain; version=0.0.4; charset=utf-8"

static atomic_int scrapes;

/* ---- /readyz ---- */

/* Whether the adapter's health decides readiness (http.ready_adapters; all when not set). */
static bool counts_for_ready(const struct cx_http *h, const char *name)
{
	if (!h->conf->ready_adapters)
		return true;
	for (char **n = h->conf->ready_adapters; *n; n++)
		if (!strcmp(*n, name))
			return true;
	return false;
}

bool cx_http_ready(struct cx_http *h, json_t **body)
{
	struct cx_registry *reg = cx_server_registry(h->srv);
	json_t *adapters = json_object();
	const char *store = "disabled", *why = NULL;
	bool starting = false, failing = false;
	bool draining = atomic_load(&h->draining) || atomic_load(&h->stopping);

	for (size_t i = 0; adapters && i < cx_registry_adapter_count(reg); i++) {
		const struct cx_adapter *ad = cx_registry_adapter_at(reg, i, NULL);
		int hl = ad->health ? cx_registry_health(reg, i, NULL, 0) : 1;
		const char *st = hl > 0 ? "ok" : hl == 0 ? "unhealthy" : "starting";

		if (counts_for_ready(h, ad->name)) {
			starting |= hl < 0;
			failing |= hl == 0;
		}
		json_object_set_new(adapters, ad->name, json_string(st));
		if (!strcmp(ad->name, "cortex"))
			store = hl > 0 ? "ok" : hl == 0 ? "unreachable" : "starting";
	}
	if (draining)
		why = "draining: the gateway is shutting down";
	else if (starting)
		why = "starting: the first health checks have not finished";
	else if (failing)
		why = "an adapter's health check fails (gateway_status says why)";
	*body = json_pack("{s:b, s:s, s:s, s:o*}", "ready", !why, "status",
			  draining   ? "draining"
			  : starting ? "starting"
			  : failing  ? "not_ready"
				     : "ready",
			  "task_store", store, "adapters", adapters);
	if (*body && why)
		json_object_set_new(*body, "reason", json_string(why));
	return !why;
}

static void readyz_start(struct cx_http_async *a)
{
	json_t *body = NULL;
	bool ready = cx_http_ready(a->h, &body);

	cx_http_async_answer_json(a, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, body);
}

/* Answered from the second access-handler call, as every request with a context is: one
 * answered at the first call gets Connection: close from libmicrohttpd, and a probe or a
 * load balancer keeping its connection open must be told when the gateway drains. */
enum MHD_Result cx_http_readyz(struct cx_http *h, struct MHD_Connection *conn, const char *url,
			       const char *method, const struct cx_principal *who, void **con_cls)
{
	return cx_http_async_new(h, conn, who, readyz_start, con_cls) ? MHD_YES : MHD_NO;
}

/* ---- /metrics ---- */

/* Open streams by kind; task-events streams have keys starting with 't'. */
static void count_streams(struct cx_http *h, struct cx_metrics_now *now)
{
	pthread_mutex_lock(&h->lock);
	for (struct sse_stream *ch = h->streams; ch; ch = ch->next) {
		bool open;

		if (!ch->att || ch->fp[0] == 't')
			continue;
		pthread_mutex_lock(&ch->mu); /* the tap's gone is the stream's */
		open = ch->att && !ch->att->gone;
		pthread_mutex_unlock(&ch->mu);
		if (open && ch->get)
			now->get_streams++;
		else if (open)
			now->post_streams++;
	}
	pthread_mutex_unlock(&h->lock);
	now->event_streams = cx_http_events_count(h);
	now->feed_streams = cx_http_feed_count(h);
}

/* {"adapter": [samples]} from every adapter's metrics hook. */
static json_t *adapter_samples(struct cx_registry *reg)
{
	json_t *all = json_object();

	for (size_t i = 0; all && i < cx_registry_adapter_count(reg); i++) {
		void *state = NULL;
		const struct cx_adapter *ad = cx_registry_adapter_at(reg, i, &state);
		json_t *s = ad->metrics ? ad->metrics(state) : NULL;

		if (json_is_array(s))
			json_object_set_new(all, ad->name, s);
		else
			json_decref(s);
	}
	return all;
}

static void *scrape_main(void *arg)
{
	struct cx_http_async *a = arg;
	struct cx_http *h = a->h;
	struct cx_metrics_now now = { .workers = (size_t)h->conf->workers };
	struct cx_buf out = CX_BUF_INIT(SCRAPE_MAX_BYTES);
	json_t *ready = NULL, *samples;
	size_t len = 0;
	char *text;

	cx_server_stats(h->srv, &now.in_flight, &now.queue_depth);
	count_streams(h, &now);
	now.refused_conns = cx_http_clients_refused(h->clients, false);
	now.refused_streams = cx_http_clients_refused(h->clients, true);
	now.ready = cx_http_ready(h, &ready);
	json_decref(ready);
	samples = adapter_samples(cx_server_registry(h->srv));
	now.adapter = samples;
	if (cx_metrics_render(cx_server_metrics(h->srv), &now, &out)) {
		cx_buf_release(&out);
		json_decref(samples);
		atomic_fetch_sub(&scrapes, 1);
		cx_http_async_error(a, MHD_HTTP_INTERNAL_SERVER_ERROR,
				    "internal error: the metrics did not fit in memory");
		return NULL;
	}
	json_decref(samples);
	text = cx_buf_detach(&out, &len);
	atomic_fetch_sub(&scrapes, 1);
	/* The last thing this thread does with anything the transport owns. */
	cx_http_async_answer(a, MHD_HTTP_OK, text, len, CT_PROMETHEUS);
	return NULL;
}

static void scrape_start(struct cx_http_async *a)
{
	pthread_attr_t attr;
	pthread_t t;
	int rc;

	if (atomic_fetch_add(&scrapes, 1) >= SCRAPES_MAX) {
		atomic_fetch_sub(&scrapes, 1);
		cx_http_async_error(
			a, MHD_HTTP_SERVICE_UNAVAILABLE,
			"service unavailable: %d scrapes already run; scrape less often",
			SCRAPES_MAX);
		return;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &attr, scrape_main, a);
	pthread_attr_destroy(&attr);
	if (rc) {
		atomic_fetch_sub(&scrapes, 1);
		cx_http_async_error(a, MHD_HTTP_SERVICE_UNAVAILABLE,
				    "service unavailable: could not start a scrape thread (%s)",
				    strerror(rc));
	}
}

enum MHD_Result cx_http_metrics(struct cx_http *h, struct MHD_Connection *conn, const char *url,
				const char *method, const struct cx_principal *who, void **con_cls)
{
	return cx_http_async_new(h, conn, who, scrape_start, con_cls) ? MHD_YES : MHD_NO;
}
