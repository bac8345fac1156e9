/* Process-wide counters that code under common/ bumps and the gateway's /metrics reads:
 * requests the adapters' HTTP client makes, by backend service, and audit writes that
 * failed. Bumping is one relaxed atomic add, no lock; a backend's counters are found once,
 * when its client is made. */
#ifndef CX_COUNTERS_H
#define CX_COUNTERS_H

#include <stdatomic.h>
#include <stddef.h>

#define CX_BACKENDS_MAX     32 /* distinct backend services counted; more share none */
#define CX_BACKEND_NAME_MAX 32

struct cx_backend_counters {
	char service[CX_BACKEND_NAME_MAX]; /* "proxmox", "kubernetes": the client's service */
	atomic_ulong requests;             /* cx_http_do calls (one request, all its attempts) */
	atomic_ulong retries;              /* attempts after the first */
	atomic_ulong rate_limit_waits;     /* waits before a retry because the backend said 429 */
	atomic_ulong failures;             /* requests that got no HTTP answer in the end */
};

/* The counters of service, made on first use; the same pointer for every client of one
 * service. NULL when the table is full or service is NULL or empty (then nothing is counted). */
struct cx_backend_counters *cx_backend_counters(const char *service);
/* The backends counted so far, in the order they were first seen: [0, *n). */
const struct cx_backend_counters *cx_backend_counters_all(size_t *n);

static inline void cx_counter_inc(atomic_ulong *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static inline unsigned long cx_counter_get(const atomic_ulong *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* Audit records that could not be formatted or written (common/audit.c). */
extern atomic_ulong cx_audit_write_errors;

#endif
