/* The gateway's counters for /metrics: tool calls by tool and outcome, a latency histogram per
 * adapter, sessions started and ended; and the Prometheus text (format 0.0.4) of a scrape.
 * Counting is a few relaxed atomic adds on memory laid out at start-up (one slot per
 * registered tool, one histogram per adapter): no lock, no allocation, no lookup by name.
 * The names, types and labels of every metric are listed in docs/OPERATIONS.md. */
#ifndef CX_METRICS_H
#define CX_METRICS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/audit.h"
#include "../common/buf.h"
#include "registry.h"

struct cx_metrics;

/* Slots for every tool and adapter reg holds now (reg is borrowed and must outlive m; tools
 * registered later are not counted). NULL on out of memory. */
struct cx_metrics *cx_metrics_new(const struct cx_registry *reg);
void cx_metrics_free(struct cx_metrics *m);

/* One tools/call (or REST call) of rt answered with outcome after ms milliseconds. Any thread;
 * m may be NULL. */
void cx_metrics_tool_call(struct cx_metrics *m, const struct cx_reg_tool *rt,
			  enum cx_audit_outcome outcome, int64_t ms);
/* A session was started (initialize over HTTP) or ended by its client (DELETE). */
void cx_metrics_session(struct cx_metrics *m, bool started);

/* What a scrape reads from elsewhere at that moment. */
struct cx_metrics_now {
	size_t in_flight;              /* calls accepted and not yet answered (queued or running) */
	size_t queue_depth;            /* calls waiting for a worker */
	size_t workers;                /* calls.workers */
	size_t get_streams;            /* GET /mcp streams with a connection open */
	size_t post_streams;           /* POST /mcp answers being streamed */
	size_t event_streams;          /* GET /v1/tasks/{id}/events streams open */
	size_t feed_streams;           /* GET /v1/events streams open */
	unsigned long refused_conns;   /* 429s: a client over http.max_connections_per_client */
	unsigned long refused_streams; /* 429s: a client over http.max_streams_per_client */
	bool ready;                    /* what /readyz would answer */
	const json_t *adapter; /* per adapter: {"name": [samples]} from cx_adapter.metrics */
};

/* Appends the whole exposition to out. 0, or -1 when out is full or memory ran out. */
int cx_metrics_render(const struct cx_metrics *m, const struct cx_metrics_now *now,
		      struct cx_buf *out);

/* The latency histogram's bucket bounds in seconds (le), for tests and docs. */
extern const double cx_metrics_buckets_s[];
extern const size_t cx_metrics_nbuckets;

#endif
