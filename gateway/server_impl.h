/* The server core's own view of struct cx_server, shared by the files that make up the core
 * (server.c, methods.c, batch.c, notify.c). Nothing outside them includes this. */
#ifndef CX_SERVER_IMPL_H
#define CX_SERVER_IMPL_H

#include <pthread.h>

#include "channel.h"
#include "dispatch.h"
#include "jobs.h"
#include "server.h"
#include "tasks.h"

struct token_principal {
	struct cx_principal p;
	unsigned char hash[32];
};

struct cx_server {
	const struct cx_gw_config *conf;
	struct cx_registry *reg;
	struct cx_audit *audit;
	unsigned char key[CX_SESSION_KEY_LEN];

	struct token_principal *tokens;
	size_t ntokens;
	struct cx_principal anonymous;
	struct cx_principal stdio;

	/* Built in this order, each on the ones before it. */
	struct cx_hub *hub;           /* requests to clients, log levels, subscriptions */
	struct cx_jobs *jobs;         /* the queue, workers and watchdog */
	struct cx_dispatch *dispatch; /* tools and hooks */
	struct cx_tasks *tasks;       /* the tasks extension's table */
	struct cx_metrics *metrics;   /* counted by jobs; read by /metrics */

	struct {
		cx_push_fn fn;
		void *ctx;
	} push[4];
	size_t npush;
	pthread_mutex_t push_lock;
};

/* Handles one message that is not a batch; reply() is called exactly once. */
void cx_server_submit_one(struct cx_server *s, struct cx_exchange *x, json_t *msg);
/* A JSON-RPC batch (protocol 2025-03-26 only), gateway/batch.c. */
void cx_server_submit_batch(struct cx_server *s, struct cx_exchange *x, json_t *arr);
/* The process's server for the adapter-facing notifications (notify.c). */
void cx_notify_attach(struct cx_server *s);
void cx_notify_detach(struct cx_server *s);
/* Whether initialize has completed for x's session. */
bool cx_server_initialized(const struct cx_exchange *x);

#endif
