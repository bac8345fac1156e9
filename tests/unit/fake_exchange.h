/* A fake exchange for driving the server core as a transport does: messages go in through
 * cx_server_submit(), answers come back through reply() (from the test's thread or a worker)
 * and are kept for the test to look at. Shared by the unit tests of the core. */
#ifndef CX_TEST_FAKE_EXCHANGE_H
#define CX_TEST_FAKE_EXCHANGE_H

#include <jansson.h>
#include <pthread.h>

#include "../../gateway/exchange.h"

#define FX_WAIT_MS 5000 /* upper bound for any answer a test waits for */
#define FX_POISON  777  /* http_status once replied: a later write by the core shows */

struct fx_ex {
	struct cx_exchange x; /* first: the callbacks recover the struct */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	json_t *response; /* the first reply's response */
	int replies;
	int defers;
	int status_at_reply; /* x.http_status when reply() came */
	pthread_t reply_thread;
};

/* On the heap: when a test fails half-way, a worker may still answer into it during teardown,
 * so it must not live in the failed test's stack frame (it is leaked instead). */
struct fx_ex *fx_new(const struct cx_principal *who, struct cx_session *sess);
void fx_free(struct fx_ex *e);
int fx_replies(struct fx_ex *e);
int fx_defers(struct fx_ex *e);
/* Waits for the reply; returns the response (borrowed, may be NULL). Fails the test when
 * nothing comes within FX_WAIT_MS. */
json_t *fx_wait(struct fx_ex *e);

/* JSON from test text; fails the test on bad JSON. */
json_t *fx_parse(const char *text);
json_t *fx_packf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
