/* The gateway's counters and the Prometheus text of a scrape (see metrics.h).
 *
 * A tool's slot is found from its registry entry's position (the registry keeps its tools in
 * one array that does not move after start-up), its adapter's histogram from a table made at
 * start-up: a call costs three relaxed atomic adds and no lookup. A scrape reads each counter
 * once; counters are only ever added to, so a scrape racing a call sees it or not, never a
 * torn value. A histogram's _count is the sum of its buckets as read, so le="+Inf" and _count
 * always agree. */
#include "metrics.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "../common/counters.h"
#include "../common/util.h"

#define NOUTCOMES 4 /* enum cx_audit_outcome */

const double cx_metrics_buckets_s[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
					1,     2.5,  5,     10,   30,  60,   120 };
const size_t cx_metrics_nbuckets = sizeof(cx_metrics_buckets_s) / sizeof(cx_metrics_buckets_s[0]);
#define NBUCKETS (sizeof(cx_metrics_buckets_s) / sizeof(cx_metrics_buckets_s[0]))

struct tool_slot {
	const struct cx_reg_tool *rt;
	size_t adapter;
	atomic_ulong outcomes[NOUTCOMES];
};

struct adapter_slot {
	const char *name;
	atomic_ulong buckets[NBUCKETS + 1]; /* not cumulative; the last is over every bound */
	atomic_ulong sum_ms;
};

struct cx_metrics {
	const struct cx_registry *reg;
	const struct cx_reg_tool *base; /* the registry's first tool */
	size_t ntools, nadapters;
	struct tool_slot *tools;
	struct adapter_slot *adapters;
	atomic_ulong sessions_started, sessions_ended;
};

struct cx_metrics *cx_metrics_new(const struct cx_registry *reg)
{
	struct cx_metrics *m = calloc(1, sizeof(*m));
	size_t nt = cx_registry_count(reg), na = cx_registry_adapter_count(reg);

	if (!m)
		return NULL;
	m->tools = calloc(nt ? nt : 1, sizeof(*m->tools));
	m->adapters = calloc(na ? na : 1, sizeof(*m->adapters));
	if (!m->tools || !m->adapters) {
		cx_metrics_free(m);
		return NULL;
	}
	m->reg = reg;
	m->base = cx_registry_at(reg, 0);
	m->ntools = nt;
	m->nadapters = na;
	for (size_t i = 0; i < na; i++)
		m->adapters[i].name = cx_registry_adapter_at(reg, i, NULL)->name;
	for (size_t i = 0; i < nt; i++) {
		m->tools[i].rt = cx_registry_at(reg, i);
		for (size_t a = 0; a < na; a++)
			if (cx_registry_adapter_at(reg, a, NULL) == m->tools[i].rt->adapter)
				m->tools[i].adapter = a;
	}
	return m;
}

void cx_metrics_free(struct cx_metrics *m)
{
	if (!m)
		return;
	free(m->tools);
	free(m->adapters);
	free(m);
}

static size_t bucket_of(int64_t ms)
{
	size_t b = 0;

	while (b < NBUCKETS && (double)ms > cx_metrics_buckets_s[b] * 1000.0)
		b++;
	return b;
}

void cx_metrics_tool_call(struct cx_metrics *m, const struct cx_reg_tool *rt,
			  enum cx_audit_outcome outcome, int64_t ms)
{
	struct tool_slot *t;
	struct adapter_slot *a;

	if (!m || !rt || rt < m->base || rt >= m->base + m->ntools ||
	    (unsigned)outcome >= NOUTCOMES)
		return;
	t = &m->tools[rt - m->base];
	a = &m->adapters[t->adapter];
	if (ms < 0)
		ms = 0;
	cx_counter_inc(&t->outcomes[outcome]);
	cx_counter_inc(&a->buckets[bucket_of(ms)]);
	atomic_fetch_add_explicit(&a->sum_ms, (unsigned long)ms, memory_order_relaxed);
}

void cx_metrics_session(struct cx_metrics *m, bool started)
{
	if (m)
		cx_counter_inc(started ? &m->sessions_started : &m->sessions_ended);
}

/* ---- the exposition ---- */

/* A label value as the text format wants it: backslash, double quote and newline escaped. */
static int put_label(struct cx_buf *b, const char *v)
{
	for (const char *p = v ? v : ""; *p; p++) {
		const char *e = *p == '\\'   ? "\\\\"
				: *p == '"'  ? "\\\""
				: *p == '\n' ? "\\n"
					     : NULL;

		if (e ? cx_buf_puts(b, e) : cx_buf_append(b, p, 1))
			return -1;
	}
	return 0;
}

static int head(struct cx_buf *b, const char *name, const char *type, const char *help)
{
	return cx_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int gauge(struct cx_buf *b, const char *name, const char *help, double v)
{
	return head(b, name, "gauge", help) || cx_buf_printf(b, "%s %.17g\n", name, v);
}

static int render_tools(const struct cx_metrics *m, struct cx_buf *b)
{
	int rc = head(b, "cortex_tool_calls_total", "counter",
		      "Tool calls answered (MCP tools/call and REST), by tool and outcome.");

	for (size_t i = 0; !rc && i < m->ntools; i++)
		for (int o = 0; !rc && o < NOUTCOMES; o++)
			rc = cx_buf_printf(
				b, "cortex_tool_calls_total{tool=\"%s\",outcome=\"%s\"} %lu\n",
				m->tools[i].rt->name,
				cx_audit_outcome_name((enum cx_audit_outcome)o),
				cx_counter_get(&m->tools[i].outcomes[o]));
	return rc;
}

static int render_latency(const struct cx_metrics *m, struct cx_buf *b)
{
	int rc = head(b, "cortex_tool_call_duration_seconds", "histogram",
		      "Time from a tool call's receipt to its answer, queue time included, by "
		      "adapter.");

	for (size_t i = 0; !rc && i < m->nadapters; i++) {
		const struct adapter_slot *a = &m->adapters[i];
		unsigned long cum = 0;

		for (size_t k = 0; !rc && k <= NBUCKETS; k++) {
			cum += cx_counter_get(&a->buckets[k]);
			if (k < NBUCKETS)
				rc = cx_buf_printf(
					b,
					"cortex_tool_call_duration_seconds_bucket{adapter="
					"\"%s\",le=\"%g\"} %lu\n",
					a->name, cx_metrics_buckets_s[k], cum);
			else
				rc = cx_buf_printf(
					b,
					"cortex_tool_call_duration_seconds_bucket{adapter="
					"\"%s\",le=\"+Inf\"} %lu\n",
					a->name, cum);
		}
		rc = rc ||
		     cx_buf_printf(b,
				   "cortex_tool_call_duration_seconds_sum{adapter=\"%s\"} %.3f\n"
				   "cortex_tool_call_duration_seconds_count{adapter=\"%s\"} %lu\n",
				   a->name, (double)cx_counter_get(&a->sum_ms) / 1000.0, a->name,
				   cum);
	}
	return rc;
}

static int render_backends(struct cx_buf *b)
{
	static const struct {
		const char *name, *help;
		size_t off;
	} rows[] = {
		{ "cortex_backend_requests_total",
		  "Requests adapters sent to their backend (one per request, retries included).",
		  offsetof(struct cx_backend_counters, requests) },
		{ "cortex_backend_retries_total",
		  "Attempts after the first (429, 502, 503, 504, connection failures).",
		  offsetof(struct cx_backend_counters, retries) },
		{ "cortex_backend_rate_limit_waits_total",
		  "Waits before a retry because the backend answered 429.",
		  offsetof(struct cx_backend_counters, rate_limit_waits) },
		{ "cortex_backend_failures_total",
		  "Requests that got no HTTP answer in the end (connection, TLS, deadline, cap).",
		  offsetof(struct cx_backend_counters, failures) },
	};
	size_t n;
	const struct cx_backend_counters *all = cx_backend_counters_all(&n);
	int rc = 0;

	for (size_t r = 0; !rc && r < sizeof(rows) / sizeof(rows[0]); r++) {
		rc = head(b, rows[r].name, "counter", rows[r].help);
		for (size_t i = 0; !rc && i < n; i++) {
			const atomic_ulong *c =
				(const atomic_ulong *)(const void *)((const char *)&all[i] +
								     rows[r].off);
			rc = cx_buf_printf(b, "%s{backend=\"%s\"} %lu\n", rows[r].name,
					   all[i].service, cx_counter_get(c));
		}
	}
	return rc;
}

/* One adapter's samples: {"name", "help", "labels", "value"}, one name's together. */
static int render_adapter_samples(const char *adapter, const json_t *samples, struct cx_buf *b)
{
	const char *last = "";
	const json_t *s;
	size_t i;
	int rc = 0;

	json_array_foreach(samples, i, s) {
		const char *name = json_string_value(json_object_get(s, "name"));
		const char *help = json_string_value(json_object_get(s, "help"));
		const json_t *labels = json_object_get(s, "labels"), *v;
		const char *k;

		if (!name || !json_is_number(json_object_get(s, "value")))
			continue;
		if (strcmp(name, last))
			rc = rc || head(b, name, "gauge", help ? help : adapter);
		last = name;
		rc = rc || cx_buf_printf(b, "%s{adapter=\"", name) || put_label(b, adapter) ||
		     cx_buf_puts(b, "\"");
		json_object_foreach((json_t *)labels, k, v) {
			rc = rc || cx_buf_printf(b, ",%s=\"", k) ||
			     put_label(b, json_string_value(v)) || cx_buf_puts(b, "\"");
		}
		rc = rc ||
		     cx_buf_printf(b, "} %.17g\n", json_number_value(json_object_get(s, "value")));
	}
	return rc;
}

static int render_health(const struct cx_metrics *m, struct cx_buf *b)
{
	int rc = head(b, "cortex_adapter_healthy", "gauge",
		      "1 when the adapter's last health check passed, 0 when it failed (absent "
		      "before the first check).");

	for (size_t i = 0; !rc && i < m->nadapters; i++) {
		int h = cx_registry_health(m->reg, i, NULL, 0);

		if (h >= 0)
			rc = cx_buf_printf(b, "cortex_adapter_healthy{adapter=\"%s\"} %d\n",
					   m->adapters[i].name, h);
	}
	return rc;
}

int cx_metrics_render(const struct cx_metrics *m, const struct cx_metrics_now *now,
		      struct cx_buf *out)
{
	const char *adapter;
	const json_t *samples;
	int rc = render_tools(m, out) || render_latency(m, out) || render_backends(out) ||
		 render_health(m, out);

	rc = rc ||
	     gauge(out, "cortex_calls_in_flight",
		   "Tool calls accepted and not yet answered (waiting or running).",
		   (double)now->in_flight) ||
	     gauge(out, "cortex_queue_depth", "Tool calls waiting for a worker.",
		   (double)now->queue_depth) ||
	     gauge(out, "cortex_workers", "Worker threads (calls.workers).", (double)now->workers);
	rc = rc ||
	     head(out, "cortex_sessions_started_total", "counter",
		  "MCP sessions started (initialize over HTTP).") ||
	     cx_buf_printf(out, "cortex_sessions_started_total %lu\n",
			   cx_counter_get(&m->sessions_started)) ||
	     head(out, "cortex_sessions_ended_total", "counter",
		  "MCP sessions ended by their client (DELETE /mcp).") ||
	     cx_buf_printf(out, "cortex_sessions_ended_total %lu\n",
			   cx_counter_get(&m->sessions_ended));
	rc = rc ||
	     head(out, "cortex_http_streams_open", "gauge",
		  "SSE streams with a connection open, by kind.") ||
	     cx_buf_printf(out,
			   "cortex_http_streams_open{kind=\"get\"} %zu\n"
			   "cortex_http_streams_open{kind=\"post\"} %zu\n"
			   "cortex_http_streams_open{kind=\"task_events\"} %zu\n"
			   "cortex_http_streams_open{kind=\"feed\"} %zu\n",
			   now->get_streams, now->post_streams, now->event_streams,
			   now->feed_streams);
	rc = rc ||
	     head(out, "cortex_http_refused_total", "counter",
		  "Requests answered 429 because their client held its share of connections or "
		  "GET streams.") ||
	     cx_buf_printf(out,
			   "cortex_http_refused_total{reason=\"connections\"} %lu\n"
			   "cortex_http_refused_total{reason=\"streams\"} %lu\n",
			   now->refused_conns, now->refused_streams);
	rc = rc ||
	     head(out, "cortex_audit_write_errors_total", "counter",
		  "Audit records that could not be written.") ||
	     cx_buf_printf(out, "cortex_audit_write_errors_total %lu\n",
			   cx_counter_get(&cx_audit_write_errors)) ||
	     gauge(out, "cortex_ready", "1 when /readyz answers 200.", now->ready ? 1 : 0);
	json_object_foreach((json_t *)now->adapter, adapter, samples) {
		rc = rc || render_adapter_samples(adapter, samples, out);
	}
	return rc ? -1 : 0;
}
