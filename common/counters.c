/* Process-wide counters (counters.h). The backend table only grows: a slot, once published
 * by the count's release store, is never moved or freed, so readers take no lock. */
#include "counters.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

atomic_ulong cx_audit_write_errors;

static struct cx_backend_counters backends[CX_BACKENDS_MAX];
static atomic_size_t nbackends;
static pthread_mutex_t backends_lock = PTHREAD_MUTEX_INITIALIZER;

struct cx_backend_counters *cx_backend_counters(const char *service)
{
	struct cx_backend_counters *found = NULL;
	size_t n;

	if (!service || !*service)
		return NULL;
	pthread_mutex_lock(&backends_lock);
	n = atomic_load(&nbackends);
	for (size_t i = 0; i < n && !found; i++)
		if (!strcmp(backends[i].service, service))
			found = &backends[i];
	if (!found && n < CX_BACKENDS_MAX) {
		found = &backends[n];
		snprintf(found->service, sizeof(found->service), "%s", service);
		atomic_store_explicit(&nbackends, n + 1, memory_order_release);
	}
	pthread_mutex_unlock(&backends_lock);
	return found;
}

const struct cx_backend_counters *cx_backend_counters_all(size_t *n)
{
	*n = atomic_load_explicit(&nbackends, memory_order_acquire);
	return backends;
}
