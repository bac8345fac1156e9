/* Workers claim their master's tasks (woken by the store's notification) and run them; one
 * heartbeat thread keeps the leases alive, reports the agents, carries cancellation to the
 * worker and its calls in flight, and finishes parents whose children are done. */
#include "orch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/util.h"

#define CLAIM_WAIT_MS   1000 /* a claim's wait; the stop flag is read between them */
#define AGENTS_EVERY_MS 5000

struct orch_waiting {
	struct orch_waiting *next;
	char id[CX_TASK_ID_MAX];
	char worker[96];
	json_t *result;
};

/* ms since the epoch of the store's "2026-11-29T04:05:35.123Z"; -1 when it is not that. */
static int64_t epoch_ms(const char *s)
{
	struct tm tm = { 0 };
	int ms = 0, n = 0;

	if (s == NULL ||
	    sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms, &n) != 7 ||
	    s[n] != '\0')
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm) * 1000 + ms;
}

/* Approvals nobody answered within approval_timeout_ms are denied by "approval-timeout"; the
 * worker that picks the task up fails it, saying so. */
static void expire_approvals(struct orch *o)
{
	struct cx_task_filter f = { .status = "awaiting_approval", .limit = 500 };
	json_t *tasks = NULL, *t;
	char *next = NULL; /* the first 500 are enough: the rest on the next round */
	struct timespec now;
	char why[128];
	size_t i;

	if (o->approval_timeout_ms <= 0 || cx_task_list(o->store, &f, &tasks, &next, NULL))
		return;
	free(next);
	clock_gettime(CLOCK_REALTIME, &now);
	cx_fmt(why, sizeof(why), "no decision within %ld ms (approval_timeout_ms)",
	       o->approval_timeout_ms);
	json_array_foreach(tasks, i, t) {
		json_t *a = json_object_get(json_object_get(t, "metadata"), "approval");
		int64_t at = epoch_ms(json_string_value(json_object_get(a, "requested_at")));
		int64_t age = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 - at;

		if (at >= 0 && age >= o->approval_timeout_ms)
			cx_task_approve(o->store, json_string_value(json_object_get(t, "id")),
					false, ORCH_APPROVAL_TIMEOUT, why, NULL);
	}
	json_decref(tasks);
}

void orch_worker_defer(struct orch_worker *w, json_t *progress, json_t *state)
{
	pthread_mutex_lock(&w->mu);
	json_decref(w->pend_progress);
	w->pend_progress = progress;
	if (state) {
		json_decref(w->pend_state);
		w->pend_state = state;
	}
	pthread_mutex_unlock(&w->mu);
}

void orch_worker_discard(struct orch_worker *w)
{
	json_t *p, *st;

	pthread_mutex_lock(&w->flush_mu);
	pthread_mutex_lock(&w->mu);
	p = w->pend_progress;
	st = w->pend_state;
	w->pend_progress = w->pend_state = NULL;
	pthread_mutex_unlock(&w->mu);
	pthread_mutex_unlock(&w->flush_mu);
	json_decref(p);
	json_decref(st);
}

void orch_worker_set_call(struct orch_worker *w, size_t i, struct cx_mcp_cancel *k)
{
	pthread_mutex_lock(&w->mu);
	w->calls[i] = k;
	pthread_mutex_unlock(&w->mu);
}

/* state NULL: busy or idle as the worker is (stopping once the orchestrator is). */
static void agent_put(struct orch *o, struct orch_worker *w, const char *state)
{
	struct cx_err err = { 0 };
	json_t *a;

	pthread_mutex_lock(&w->mu);
	if (state == NULL)
		state = w->busy ? "busy" : atomic_load(&o->stopping) ? "stopping" : "idle";
	a = json_pack("{s:s, s:s, s:s, s:s, s:s?}", "id", w->id, "kind", "worker", "master",
		      w->m->name, "state", state, "task_id", w->busy ? w->task_id : NULL);
	pthread_mutex_unlock(&w->mu);
	if (a && cx_agent_put(o->store, a, &err))
		cx_warn("agent '%s' not recorded: %s", w->id, err.msg);
	json_decref(a);
}

static void masters_put(struct orch *o)
{
	for (size_t i = 0; i < o->n_masters; i++) {
		struct orch_master *m = &o->masters[i];
		char id[128];
		json_t *a;

		cx_fmt(id, sizeof(id), "%s.%s", m->name, o->host);
		a = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s?}", "id", id, "kind", "master",
			      "master", m->name, "state",
			      atomic_load(&o->stopping) ? "stopping" : "idle", "workers",
			      (int)m->workers, "model", m->n_models ? m->models[0].model : NULL);
		if (a)
			cx_agent_put(o->store, a, NULL);
		json_decref(a);
	}
}

/* The task was cancelled, lost, or the grace is over: stop the loop and its calls now. */
static void stop_worker_task(struct orch_worker *w)
{
	atomic_store(&w->stop_task, true);
	pthread_mutex_lock(&w->mu);
	for (size_t i = 0; i < ORCH_CALLS_MAX; i++)
		if (w->calls[i])
			cx_mcp_cancel(w->calls[i], atomic_load(&w->cancelled)
							   ? "the task was cancelled"
							   : "the orchestrator is stopping");
	pthread_mutex_unlock(&w->mu);
}

/* Renews the lease of the worker's task, writing the progress it left since the last beat in
 * the same write; carries a cancellation or a lost lease to the worker. */
static void heartbeat_worker(struct orch *o, struct orch_worker *w)
{
	char id[CX_TASK_ID_MAX];
	bool busy, cancel = false;
	struct cx_err err = { 0 };
	json_t *p, *st;
	unsigned long gen;
	int rc;

	pthread_mutex_lock(&w->flush_mu);
	pthread_mutex_lock(&w->mu);
	busy = w->busy;
	gen = w->gen;
	memcpy(id, w->task_id, sizeof(id));
	p = w->pend_progress;
	st = w->pend_state;
	w->pend_progress = w->pend_state = NULL;
	pthread_mutex_unlock(&w->mu);
	if (!busy || atomic_load(&o->aborting)) {
		pthread_mutex_unlock(&w->flush_mu);
		json_decref(p);
		json_decref(st);
		if (busy)
			stop_worker_task(w);
		return;
	}
	rc = cx_task_heartbeat_with(o->store, id, w->id, p, st, &cancel, &err);
	pthread_mutex_unlock(&w->flush_mu);
	json_decref(p);
	json_decref(st);
	if (rc < 0)
		cx_warn("task '%s': heartbeat failed: %s", id, err.msg);
	pthread_mutex_lock(&w->mu);
	busy = w->busy && w->gen == gen; /* still that task */
	pthread_mutex_unlock(&w->mu);
	if (rc != 1 || !busy)
		return;
	if (cancel)
		atomic_store(&w->cancelled, true);
	else
		atomic_store(&w->lease_lost, true);
	stop_worker_task(w);
}

/* Parents waiting for their children: kept alive, finished when the children are. */
static void heartbeat_parents(struct orch *o)
{
	struct orch_waiting **pp = &o->waiting, *p;

	while ((p = *pp) != NULL) {
		bool cancel = false, done = false;
		int rc = cx_task_heartbeat(o->store, p->id, p->worker, &cancel, NULL);
		json_t *kids = rc == 0 ? orch_children(o, p->id, &done) : NULL;

		if (rc == 0 && done) {
			json_object_set(p->result, "children", kids);
			cx_task_finish(o->store, p->id, p->worker, "completed", p->result, NULL);
			cx_info("task '%s' completed after its %zu subtasks", p->id,
				json_array_size(kids));
		} else if (rc == 1 && cancel) {
			cx_task_finish(o->store, p->id, p->worker, "cancelled", p->result, NULL);
		}
		json_decref(kids);
		if (rc == 1 || (rc == 0 && done)) {
			*pp = p->next;
			json_decref(p->result);
			free(p);
		} else {
			pp = &p->next;
		}
	}
}

void orch_wait_children(struct orch *o, const char *task_id, const char *worker, json_t *result)
{
	struct orch_waiting *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return; /* its lease runs out and another worker picks it up */
	cx_fmt(p->id, sizeof(p->id), "%s", task_id);
	cx_fmt(p->worker, sizeof(p->worker), "%s", worker);
	p->result = json_is_object(result) ? json_deep_copy(result) : json_object();
	pthread_mutex_lock(&o->mu);
	p->next = o->waiting;
	o->waiting = p;
	pthread_mutex_unlock(&o->mu);
}

/* The workers whose busy/idle state changed since the last beat (a worker does not write its
 * agent per task: the heartbeat reports it, at most heartbeat_ms late). */
static void agents_changed(struct orch *o)
{
	for (size_t i = 0; i < o->n_workers; i++) {
		struct orch_worker *w = &o->workers[i];
		bool dirty;

		pthread_mutex_lock(&w->mu);
		dirty = w->agent_dirty;
		w->agent_dirty = false;
		pthread_mutex_unlock(&w->mu);
		if (dirty)
			agent_put(o, w, NULL);
	}
}

static void *heartbeat_main(void *arg)
{
	struct orch *o = arg;
	int64_t agents_at = 0, approvals_at = 0;
	long approvals_every = o->approval_timeout_ms / 4;
	struct timespec ts;

	if (approvals_every > AGENTS_EVERY_MS)
		approvals_every = AGENTS_EVERY_MS;

	pthread_mutex_lock(&o->mu);
	while (!o->hb_quit) {
		cx_deadline_ts(CLOCK_REALTIME, o->heartbeat_ms, &ts);
		pthread_cond_timedwait(&o->cond, &o->mu, &ts);
		if (o->hb_quit)
			break;
		pthread_mutex_unlock(&o->mu);
		for (size_t i = 0; i < o->n_workers; i++)
			heartbeat_worker(o, &o->workers[i]);
		if (cx_now_ms() - approvals_at >= approvals_every) {
			approvals_at = cx_now_ms();
			expire_approvals(o);
		}
		if (cx_now_ms() - agents_at >= o->agents_every_ms) {
			agents_at = cx_now_ms();
			masters_put(o);
			for (size_t i = 0; i < o->n_workers; i++)
				agent_put(o, &o->workers[i], NULL);
		} else {
			agents_changed(o);
		}
		pthread_mutex_lock(&o->mu);
		heartbeat_parents(o);
	}
	pthread_mutex_unlock(&o->mu);
	return NULL;
}

static void take(struct orch_worker *w, const json_t *task)
{
	pthread_mutex_lock(&w->mu);
	cx_fmt(w->task_id, sizeof(w->task_id), "%s",
	       json_string_value(json_object_get(task, "id")) ?: "");
	w->busy = true;
	w->gen++;
	w->agent_dirty = true;
	atomic_store(&w->stop_task, false);
	atomic_store(&w->lease_lost, false);
	atomic_store(&w->cancelled, false);
	w->waits = json_array();
	pthread_mutex_unlock(&w->mu);
}

static void drop(struct orch_worker *w)
{
	pthread_mutex_lock(&w->mu);
	w->busy = false;
	w->agent_dirty = true;
	w->task_id[0] = '\0';
	json_decref(w->waits);
	w->waits = NULL;
	pthread_mutex_unlock(&w->mu);
	orch_worker_discard(w); /* a task that ended without its last progress written */
}

static void *worker_main(void *arg)
{
	struct orch_worker *w = arg;
	struct orch *o = w->o;

	agent_put(o, w, "idle");
	while (!atomic_load(&o->stopping)) {
		json_t *task = NULL;
		struct cx_err err = { 0 };

		if (cx_task_claim(o->store, w->id, w->m->categories, CLAIM_WAIT_MS, &task, &err)) {
			cx_warn("%s: claim failed: %s", w->id, err.msg);
			sleep(1); /* the store is down: do not spin on it */
			continue;
		}
		if (task == NULL)
			continue;
		take(w, task);
		if (atomic_load(&o->stopping))
			cx_task_release(o->store, w->task_id, w->id, NULL);
		else
			orch_run_task(w, task);
		drop(w);
		json_decref(task);
	}
	return NULL;
}

/* The general master also takes every category no master names. */
static void spread_categories(struct orch *o)
{
	struct orch_master *g = orch_master_for(o, NULL);
	size_t n = 0;

	while (g->categories[n])
		n++;
	for (size_t i = 0; cx_task_categories[i] && n + 1 < 8; i++) {
		struct orch_master *m = orch_master_for(o, cx_task_categories[i]);

		if (m == g && strcmp(g->name, cx_task_categories[i])) {
			bool have = false;

			for (size_t j = 0; j < n; j++)
				have = have || !strcmp(g->categories[j], cx_task_categories[i]);
			if (!have)
				g->categories[n++] = strdup(cx_task_categories[i]);
		}
	}
}

int orch_workers_start(struct orch *o, struct cx_err *err)
{
	size_t n = 0, k = 0;

	spread_categories(o);
	for (size_t i = 0; i < o->n_masters; i++)
		n += (size_t)o->masters[i].workers;
	o->workers = calloc(n ? n : 1, sizeof(*o->workers));
	if (o->workers == NULL)
		return cx_err_set(err, "out of memory");
	for (size_t i = 0; i < o->n_masters; i++) {
		for (long j = 0; j < o->masters[i].workers; j++, k++) {
			struct orch_worker *w = &o->workers[k];

			w->o = o;
			w->m = &o->masters[i];
			pthread_mutex_init(&w->mu, NULL);
			pthread_mutex_init(&w->flush_mu, NULL);
			cx_fmt(w->id, sizeof(w->id), "%s-%ld.%s", w->m->name, j + 1, o->host);
		}
	}
	o->n_workers = n;
	masters_put(o);
	for (size_t i = 0; i < n; i++)
		if (pthread_create(&o->workers[i].thread, NULL, worker_main, &o->workers[i]))
			return cx_err_set(err, "could not start worker %zu", i);
	if (pthread_create(&o->heartbeat, NULL, heartbeat_main, o))
		return cx_err_set(err, "could not start the heartbeat thread");
	return 0;
}

static bool join_all(struct orch *o, int64_t until)
{
	bool all = true;

	for (size_t i = 0; i < o->n_workers; i++) {
		struct orch_worker *w = &o->workers[i];
		struct timespec ts;

		if (!w->thread)
			continue;
		cx_deadline_ts(CLOCK_REALTIME, until - cx_now_ms(), &ts);
		if (until > 0 ? pthread_timedjoin_np(w->thread, NULL, &ts)
			      : pthread_join(w->thread, NULL)) {
			all = false;
			continue;
		}
		w->thread = 0;
	}
	return all;
}

void orch_workers_stop(struct orch *o)
{
	struct orch_waiting *p;

	/* running steps finish within the grace; then the calls in flight are cancelled */
	if (!join_all(o, cx_now_ms() + o->grace_ms)) {
		cx_warn("steps still running after the grace of %ld ms: cancelled, tasks given "
			"back",
			o->grace_ms);
		atomic_store(&o->aborting, true);
		for (size_t i = 0; i < o->n_workers; i++)
			stop_worker_task(&o->workers[i]);
		join_all(o, 0);
	}
	pthread_mutex_lock(&o->mu);
	o->hb_quit = true;
	pthread_cond_broadcast(&o->cond);
	pthread_mutex_unlock(&o->mu);
	pthread_join(o->heartbeat, NULL);
	while ((p = o->waiting) != NULL) { /* their state says to wait again when reclaimed */
		o->waiting = p->next;
		cx_task_release(o->store, p->id, p->worker, NULL);
		json_decref(p->result);
		free(p);
	}
	for (size_t i = 0; i < o->n_workers; i++) {
		agent_put(o, &o->workers[i], "stopping");
		pthread_mutex_destroy(&o->workers[i].mu);
		pthread_mutex_destroy(&o->workers[i].flush_mu);
	}
	free(o->workers);
	o->workers = NULL;
}
