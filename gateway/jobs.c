/* The job queue, its workers and the deadline watchdog (see jobs.h).
 *
 * One lock guards the run queue and the deadline list: the critical sections are a few
 * pointer moves, and two cores do not reward finer locks. It is never held while a handler
 * runs or while anyone is answered, and a busy call takes it twice: once to queue, once in
 * the worker (the previous job off the deadline list and the next one off the queue in one
 * go). The unanswered count is atomic, so answering takes no lock; the watchdog is woken only
 * when a job's deadline comes before the time it would look again anyway.
 *
 * A queued job holds two references: the worker side (dropped after it ran, or when it was
 * refused) and the deadline-list side (dropped by whoever takes it off the list: the worker
 * after the run, or the watchdog at the deadline). */
#include "jobs.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/jsonrpc.h"
#include "../common/log.h"
#include "../common/util.h"
#include "metrics.h"
#include "reply.h"

#define DRAIN_GRACE_S 2
/* An idle watchdog looks again this often, so queueing a call with a longer timeout (every
 * call, by default) never has to wake it. */
#define WATCH_IDLE_MS 1000

const char *const cx_job_kinds[] = { "tool", "read", "prompt", "complete" };

void (*cx_jobs_after_run_hook)(struct cx_job *j);

struct cx_jobs {
	const struct cx_gw_config *conf;
	struct cx_audit *audit;
	struct cx_hub *hub;

	pthread_mutex_t lock;
	pthread_cond_t work; /* workers wait for jobs */
	pthread_cond_t tick; /* the watchdog waits for the earliest deadline */
	pthread_cond_t idle; /* drain waits for unanswered jobs to reach zero */
	struct cx_job *qhead, *qtail;
	size_t qlen;
	struct cx_job *dhead, *dtail;
	int64_t watch_until;      /* the watchdog looks again by then at the latest */
	atomic_size_t unanswered; /* queued jobs not answered yet */
	atomic_bool draining;     /* answering the last one wakes drain */
	bool stopping;            /* workers and watchdog exit */
	atomic_bool refusing;     /* new jobs are refused */
	atomic_ulong next_key;    /* unique keys for jobs no other request may name */
	struct cx_metrics *metrics;
	/* Calls running per adapter (under lock), each at most per_adapter: a backend that hangs
	 * holds only its share of the workers, and the others' calls still find one. */
	struct adapter_load {
		const struct cx_adapter *adapter;
		long running;
	} * load;
	size_t nload, capload;
	long per_adapter;
	long async_running; /* fast-path jobs between async_begin and async_end (under lock) */

	pthread_t *workers;
	size_t nworkers;
	pthread_t watchdog;
	bool watchdog_running;
};

/* ---- one job ---- */

static void job_unref(struct cx_job *j)
{
	int was = atomic_fetch_sub(&j->refs, 1);

	CX_ASSERT(was > 0);
	if (was != 1)
		return;
	cx_job_release(j);
	free(j);
}

void cx_job_release(struct cx_job *j)
{
	if (j->has_chan)
		cx_channel_release(&j->chan);
	json_decref(j->id);
	json_decref(j->args);
	json_decref(j->params);
	free(j->name_buf);
}

/* What every job copies from its exchange: after this the worker never reads x. */
static void job_copy_request(struct cx_job *j, struct cx_jobs *p, struct cx_exchange *x, json_t *id,
			     int64_t start_ms)
{
	const char *fp = cx_exchange_fp(x);

	j->pool = p;
	j->x = x;
	j->who = x->who;
	j->stateless = x->stateless;
	j->via = x->via;
	j->id = json_incref(id);
	j->start_ms = start_ms;
	j->deadline_ms = start_ms + p->conf->call_timeout_ms;
	snprintf(j->session, sizeof(j->session), "%s", fp);
	if (x->stateless)
		/* No session: no other request may name this one (cancellation is closing the
		 * connection). 's' is not a hex digit, so no session key looks like this. */
		snprintf(j->cancel_key, sizeof(j->cancel_key), "s%lx",
			 (unsigned long)atomic_fetch_add(&p->next_key, 1));
	else
		snprintf(j->cancel_key, sizeof(j->cancel_key), "%s", fp);
	atomic_init(&j->cancelled, false);
	atomic_init(&j->replied, false);
}

struct cx_job *cx_job_new(struct cx_jobs *p, struct cx_exchange *x, enum cx_job_kind kind,
			  const char *name, json_t *id, json_t *params, int64_t start_ms)
{
	struct cx_job *j = calloc(1, sizeof(*j));

	if (!j || !(j->name_buf = strdup(name))) {
		free(j);
		return NULL;
	}
	j->name = j->name_buf;
	j->kind = kind;
	j->params = json_incref(params);
	job_copy_request(j, p, x, id, start_ms);
	atomic_init(&j->refs, 2);
	cx_channel_init(&j->chan, p->hub, x, params, &j->cancelled, j->deadline_ms);
	j->has_chan = true;
	return j;
}

void cx_job_init_inline(struct cx_job *j, struct cx_jobs *p, struct cx_exchange *x,
			const char *name, json_t *id, int64_t start_ms)
{
	memset(j, 0, sizeof(*j));
	j->kind = CX_JOB_TOOL;
	j->name = name;
	job_copy_request(j, p, x, id, start_ms);
	atomic_init(&j->refs, 1);
}

static void audit_job(struct cx_job *j, enum cx_audit_outcome outcome, const char *detail)
{
	json_t *shown = j->rt && j->rt->adapter->audit_args && j->args
				? j->rt->adapter->audit_args(j->name, j->args)
				: NULL;
	struct cx_audit_rec rec = {
		.caller = j->who->name,
		.session = j->session[0] ? j->session : NULL,
		.tool = j->name,
		.args = shown ? shown : j->args,
		.outcome = outcome,
		.duration_ms = (long)(cx_now_ms() - j->start_ms),
		.detail = detail && detail[0] ? detail : NULL,
		.via = j->via,
	};

	cx_audit_write(j->pool->audit, &rec);
	json_decref(shown);
}

void cx_job_finish(struct cx_job *j, json_t *result, struct cx_job_error *e,
		   enum cx_audit_outcome outcome, const char *detail)
{
	struct cx_jobs *p = j->pool;
	struct cx_exchange *x = j->x;

	if (atomic_exchange(&j->replied, true)) {
		json_decref(result);
		if (e)
			json_decref(e->data);
		return;
	}
	/* From here on this thread alone answers, and x is valid until its reply(). */
	if (j->has_chan)
		cx_channel_close(&j->chan);
	if (j->kind == CX_JOB_TOOL) {
		audit_job(j, outcome, detail);
		cx_metrics_tool_call(p->metrics, j->rt, outcome, cx_now_ms() - j->start_ms);
	}
	if (result)
		cx_reply_result(x, j->id, result);
	else if (e && e->cancelled)
		x->reply(x, NULL);
	else
		cx_reply_error_full(x, j->id, e ? e->http_status : 0,
				    e && e->code ? e->code : CX_RPC_INTERNAL_ERROR,
				    e && e->message ? e->message
						    : "internal error in the gateway; the call "
						      "may be retried",
				    e ? e->data : NULL);
	if (!j->queued)
		return;
	size_t was = atomic_fetch_sub(&p->unanswered, 1);
	CX_ASSERT(was > 0);
	/* drain sets draining before it reads the count, under the lock it waits with. */
	if (was == 1 && atomic_load(&p->draining)) {
		pthread_mutex_lock(&p->lock);
		pthread_cond_broadcast(&p->idle);
		pthread_mutex_unlock(&p->lock);
	}
}

bool cx_job_overdue(const struct cx_job *j)
{
	return cx_now_ms() >= j->deadline_ms || atomic_load(&j->cancelled);
}

/* The one answer for a job that ran out of time, whether the watchdog noticed first or the
 * handler gave up on its own deadline: the client sees the same sentence either way. */
void cx_job_answer_deadline(struct cx_job *j)
{
	long ms = (long)(j->deadline_ms - j->start_ms);
	char detail[64], msg[512];

	if (atomic_load(&j->replied))
		return;
	snprintf(detail, sizeof(detail), "deadline of %ld ms passed", ms);
	if (j->kind == CX_JOB_TOOL) {
		cx_job_finish(
			j,
			cx_error_result("'%s' did not finish within %ld ms and was abandoned; "
					"the backend may be slow or unreachable — check "
					"gateway_status, then retry or narrow the request",
					j->name, ms),
			NULL, CX_AUDIT_IS_ERROR, detail);
		return;
	}
	cx_fmt(msg, sizeof(msg), "'%s' did not finish within %ld ms and was abandoned", j->name,
	       ms);
	cx_job_finish(j, NULL, &(struct cx_job_error){ .message = msg }, CX_AUDIT_ERROR, detail);
}

/* ---- the deadline list (under p->lock) ---- */

static void dlist_remove_locked(struct cx_jobs *p, struct cx_job *j)
{
	if (!j->on_dlist)
		return;
	if (j->dprev)
		j->dprev->dnext = j->dnext;
	else
		p->dhead = j->dnext;
	if (j->dnext)
		j->dnext->dprev = j->dprev;
	else
		p->dtail = j->dprev;
	j->dprev = j->dnext = NULL;
	j->on_dlist = false;
}

/* Keeps the list sorted; with one timeout for all calls, insertion is at the tail. */
static void dlist_insert_locked(struct cx_jobs *p, struct cx_job *j)
{
	struct cx_job *after = p->dtail;

	while (after && after->deadline_ms > j->deadline_ms)
		after = after->dprev;
	j->dprev = after;
	j->dnext = after ? after->dnext : p->dhead;
	if (j->dnext)
		j->dnext->dprev = j;
	else
		p->dtail = j;
	if (after)
		after->dnext = j;
	else
		p->dhead = j;
	j->on_dlist = true;
}

/* ---- threads ---- */

/* The running count of adapter a (added at 0), or NULL out of memory (then a is not held
 * to its share). */
static long *running_locked(struct cx_jobs *p, const struct cx_adapter *a)
{
	for (size_t i = 0; i < p->nload; i++)
		if (p->load[i].adapter == a)
			return &p->load[i].running;
	if (p->nload == p->capload) {
		size_t cap = p->capload ? p->capload * 2 : 8;
		struct adapter_load *v = realloc(p->load, cap * sizeof(*v));
		if (!v)
			return NULL;
		p->load = v;
		p->capload = cap;
	}
	p->load[p->nload] = (struct adapter_load){ a, 0 };
	return &p->load[p->nload++].running;
}

/* The adapter a job runs in: its hooks', or its tool's. */
static const struct cx_adapter *adapter_of(const struct cx_job *j)
{
	return j->adapter ? j->adapter : j->rt ? j->rt->adapter : NULL;
}

/* The first queued job a worker may run: in order, skipping the jobs of adapters that have
 * their share of the workers running (a job answered already is taken whatever its adapter,
 * as it will not run). NULL when there is none. */
static struct cx_job *take_locked(struct cx_jobs *p)
{
	struct cx_job *j, *prev = NULL;
	long *running = NULL;

	for (j = p->qhead; j; prev = j, j = j->qnext) {
		running = adapter_of(j) && !atomic_load(&j->replied)
				  ? running_locked(p, adapter_of(j))
				  : NULL;
		if (!running || *running < p->per_adapter)
			break;
	}
	if (!j)
		return NULL;
	if (prev)
		prev->qnext = j->qnext;
	else
		p->qhead = j->qnext;
	if (p->qtail == j)
		p->qtail = prev;
	p->qlen--;
	if (running) {
		(*running)++;
		j->counted = true;
	}
	return j;
}

/* A counted job has run: its adapter's share has room again. */
static void ran_locked(struct cx_jobs *p, struct cx_job *j)
{
	long *running = j->counted ? running_locked(p, adapter_of(j)) : NULL;

	if (running)
		(*running)--;
	j->counted = false;
}

static void *worker_main(void *arg)
{
	struct cx_jobs *p = arg;
	struct cx_job *done = NULL;

	for (;;) {
		struct cx_job *j;
		bool listed = false, wake;

		/* The job that just ran leaves the deadline list as the next one is taken. */
		pthread_mutex_lock(&p->lock);
		if (done) {
			listed = done->on_dlist;
			dlist_remove_locked(p, done);
			ran_locked(p, done);
		}
		j = take_locked(p);
		/* Its adapter's share has room: an idle worker may run one of its queued jobs. */
		wake = done && adapter_of(done) && p->qhead;
		pthread_mutex_unlock(&p->lock);
		if (wake)
			pthread_cond_signal(&p->work);
		if (done) {
			if (listed)
				job_unref(done);
			job_unref(done);
			done = NULL;
		}
		if (!j) {
			/* Woken by a new job, or by a job of an adapter at its share ending. */
			pthread_mutex_lock(&p->lock);
			while (!(j = take_locked(p)) && !p->stopping)
				pthread_cond_wait(&p->work, &p->lock);
			pthread_mutex_unlock(&p->lock);
			if (!j)
				return NULL;
		}

		if (!atomic_load(&j->replied)) { /* else timed out or cancelled queued */
			struct cx_call call = {
				.tool = j->name,
				.caller = j->who->name,
				.state = j->state,
				.deadline_ms = j->deadline_ms,
				.cancelled = &j->cancelled,
				.chan = &j->chan,
			};
			j->run(j, &call);
		}
		done = j;
	}
}

static void *watchdog_main(void *arg)
{
	struct cx_jobs *p = arg;

	pthread_mutex_lock(&p->lock);
	while (!p->stopping) {
		struct cx_job *j = p->dhead;
		int64_t now = cx_now_ms();

		if (!j || j->deadline_ms > now) {
			/* The condition variable was created with CLOCK_MONOTONIC. */
			struct timespec ts;
			p->watch_until = j ? j->deadline_ms : now + WATCH_IDLE_MS;
			cx_deadline_ts(CLOCK_MONOTONIC, p->watch_until - now, &ts);
			pthread_cond_timedwait(&p->tick, &p->lock, &ts);
			continue;
		}
		dlist_remove_locked(p, j);
		pthread_mutex_unlock(&p->lock);

		/* Answering never waits for a client (transports' send and reply do not block),
		 * so one stuck client cannot hold up every other deadline. */
		atomic_store(&j->cancelled, true);
		cx_job_answer_deadline(j);
		job_unref(j);
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* ---- the pool ---- */

#define SHUTTING_DOWN "the gateway is shutting down; retry against another replica or in a moment"

/* A call that was never started: the client may send it again elsewhere. */
static void refuse_job(struct cx_job *j, const char *busy)
{
	if (j->kind == CX_JOB_TOOL)
		cx_job_finish(j, cx_error_result("'%s' was not run: %s", j->name, busy), NULL,
			      CX_AUDIT_REFUSED, busy);
	else
		cx_job_finish(j, NULL, &(struct cx_job_error){ .message = busy }, CX_AUDIT_ERROR,
			      NULL);
}

/* Under lock: j is counted among the unanswered and on the deadline list. True when the
 * watchdog must be woken for its deadline. */
static bool admit_locked(struct cx_jobs *p, struct cx_job *j)
{
	bool wake_watchdog;

	j->queued = true;
	atomic_fetch_add(&p->unanswered, 1);
	dlist_insert_locked(p, j);
	wake_watchdog = j->deadline_ms < p->watch_until;
	if (wake_watchdog)
		p->watch_until = j->deadline_ms;
	return wake_watchdog;
}

/* Under lock: j at the end of the run queue. */
static void append_locked(struct cx_jobs *p, struct cx_job *j)
{
	j->qnext = NULL;
	if (p->qtail)
		p->qtail->qnext = j;
	else
		p->qhead = j;
	p->qtail = j;
	p->qlen++;
}

/* A job that was never admitted: answered as refused, and gone. */
static void drop_refused(struct cx_job *j, const char *busy)
{
	refuse_job(j, busy);
	atomic_store(&j->refs, 1);
	job_unref(j);
}

void cx_jobs_enqueue(struct cx_jobs *p, struct cx_job *j)
{
	struct cx_exchange *x = j->x;
	const char *busy = NULL;
	bool wake_watchdog = false;

	if (!j->run || !j->has_chan)
		CX_BUG("job '%s' queued without a runner or a channel", j->name);
	if (x->defer)
		x->defer(x);
	pthread_mutex_lock(&p->lock);
	if (atomic_load(&p->refusing))
		busy = SHUTTING_DOWN;
	else if (p->qlen >= (size_t)p->conf->queue_max)
		busy = "the gateway is saturated (call queue full); retry in a moment";
	if (!busy) {
		append_locked(p, j);
		wake_watchdog = admit_locked(p, j);
	}
	pthread_mutex_unlock(&p->lock);
	/* Signalled after the unlock, so a woken worker does not block on the lock at once. */
	if (!busy) {
		if (wake_watchdog)
			pthread_cond_signal(&p->tick);
		pthread_cond_signal(&p->work);
		return;
	}
	drop_refused(j, busy);
}

/* ---- fast-path jobs: answered and deadline-bound as queued ones, run by no worker ---- */

bool cx_jobs_async_begin(struct cx_jobs *p, struct cx_job *j)
{
	struct cx_exchange *x = j->x;
	bool refused, wake_watchdog = false;

	if (x->defer)
		x->defer(x);
	pthread_mutex_lock(&p->lock);
	refused = atomic_load(&p->refusing);
	if (!refused) {
		wake_watchdog = admit_locked(p, j);
		p->async_running++;
	}
	pthread_mutex_unlock(&p->lock);
	if (refused) {
		drop_refused(j, SHUTTING_DOWN);
		return false;
	}
	if (wake_watchdog)
		pthread_cond_signal(&p->tick);
	return true;
}

/* Under lock: one fast-path job fewer; drain waits for none to be left. */
static void async_gone_locked(struct cx_jobs *p)
{
	if (--p->async_running == 0 && atomic_load(&p->draining))
		pthread_cond_broadcast(&p->idle);
}

void cx_jobs_async_end(struct cx_jobs *p, struct cx_job *j)
{
	bool listed;

	pthread_mutex_lock(&p->lock);
	listed = j->on_dlist;
	dlist_remove_locked(p, j);
	async_gone_locked(p);
	pthread_mutex_unlock(&p->lock);
	if (listed)
		job_unref(j);
	job_unref(j);
}

void cx_jobs_async_requeue(struct cx_jobs *p, struct cx_job *j)
{
	pthread_mutex_lock(&p->lock);
	async_gone_locked(p);
	/* Admitted already; past the queue's limit too, as it was accepted. */
	append_locked(p, j);
	pthread_mutex_unlock(&p->lock);
	pthread_cond_signal(&p->work);
}

bool cx_jobs_cancel(struct cx_jobs *p, bool (*match)(const struct cx_job *j, const void *key),
		    const void *key, const char *detail)
{
	struct cx_job *found = NULL;

	pthread_mutex_lock(&p->lock);
	for (struct cx_job *j = p->dhead; j; j = j->dnext) {
		if (!atomic_load(&j->replied) && match(j, key)) {
			found = j;
			atomic_fetch_add(&found->refs, 1);
			break;
		}
	}
	pthread_mutex_unlock(&p->lock);
	if (!found)
		return false; /* finished already, or never the caller's: nothing to do */
	atomic_store(&found->cancelled, true);
	cx_debug("call cancelled: '%s' (%s)", found->name, detail);
	cx_job_finish(found, NULL, &(struct cx_job_error){ .cancelled = true }, CX_AUDIT_IS_ERROR,
		      detail);
	job_unref(found);
	return true;
}

struct cx_jobs *cx_jobs_new(const struct cx_gw_config *conf, struct cx_audit *audit,
			    struct cx_hub *hub)
{
	struct cx_jobs *p = calloc(1, sizeof(*p));
	pthread_condattr_t ca;

	if (!p)
		return NULL;
	p->conf = conf;
	p->audit = audit;
	p->hub = hub;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->idle, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->tick, &ca);
	pthread_condattr_destroy(&ca);
	atomic_init(&p->refusing, false);
	atomic_init(&p->unanswered, 0);
	atomic_init(&p->draining, false);
	atomic_init(&p->next_key, 1);
	return p;
}

int cx_jobs_start(struct cx_jobs *p, struct cx_err *err)
{
	int rc;

	/* Unless configured, an adapter may have all but a quarter of the workers (rounded down:
	 * a pool of three or fewer keeps none back). */
	p->per_adapter = p->conf->max_per_adapter > 0 ? p->conf->max_per_adapter
						      : p->conf->workers - p->conf->workers / 4;
	p->workers = calloc((size_t)p->conf->workers, sizeof(*p->workers));
	if (!p->workers)
		return cx_err_set(err, "out of memory");
	for (long i = 0; i < p->conf->workers; i++) {
		/* pthread_create returns the error; it does not set errno. */
		rc = pthread_create(&p->workers[i], NULL, worker_main, p);
		if (rc)
			return cx_err_set(err, "could not start worker %ld: %s", i, strerror(rc));
		p->nworkers++;
	}
	rc = pthread_create(&p->watchdog, NULL, watchdog_main, p);
	if (rc)
		return cx_err_set(err, "could not start the deadline watchdog: %s", strerror(rc));
	p->watchdog_running = true;
	return 0;
}

void cx_jobs_set_metrics(struct cx_jobs *p, struct cx_metrics *m)
{
	p->metrics = m;
}

void cx_jobs_stats(struct cx_jobs *p, size_t *unanswered, size_t *queued)
{
	pthread_mutex_lock(&p->lock);
	*queued = p->qlen;
	pthread_mutex_unlock(&p->lock);
	*unanswered = atomic_load(&p->unanswered);
}

void cx_jobs_refuse(struct cx_jobs *p)
{
	atomic_store(&p->refusing, true);
}

size_t cx_jobs_shed(struct cx_jobs *p)
{
	struct cx_job *q, *j;
	size_t n = 0;

	cx_jobs_refuse(p);
	pthread_mutex_lock(&p->lock);
	q = p->qhead;
	p->qhead = p->qtail = NULL;
	p->qlen = 0;
	for (j = q; j; j = j->qnext) {
		if (!j->on_dlist)
			continue;
		/* The list's reference; ours (the worker side) keeps the job alive. */
		dlist_remove_locked(p, j);
		int was = atomic_fetch_sub(&j->refs, 1);
		CX_ASSERT(was > 1);
	}
	pthread_mutex_unlock(&p->lock);
	while (q) {
		j = q;
		q = j->qnext;
		if (!atomic_load(&j->replied))
			n++;
		refuse_job(j, SHUTTING_DOWN);
		job_unref(j);
	}
	if (n)
		cx_info("draining: answered %zu queued call(s) as shutting down", n);
	return n;
}

/* Past calls.drain_grace_ms every call still running is answered (and told to stop): the
 * client learns the gateway went away mid-call rather than waiting for its deadline. */
static void abandon_running(struct cx_jobs *p)
{
	for (;;) {
		struct cx_job *found = NULL;

		pthread_mutex_lock(&p->lock);
		for (struct cx_job *j = p->dhead; j && !found; j = j->dnext) {
			if (!atomic_load(&j->replied)) {
				found = j;
				atomic_fetch_add(&found->refs, 1);
			}
		}
		pthread_mutex_unlock(&p->lock);
		if (!found)
			return;
		atomic_store(&found->cancelled, true);
		if (found->kind == CX_JOB_TOOL)
			cx_job_finish(found,
				      cx_error_result("'%s' was abandoned: the gateway is shutting "
						      "down; it may or may not have taken effect, "
						      "so check before retrying",
						      found->name),
				      NULL, CX_AUDIT_IS_ERROR, "abandoned at shutdown");
		else
			cx_job_finish(found, NULL,
				      &(struct cx_job_error){ .message = SHUTTING_DOWN },
				      CX_AUDIT_ERROR, NULL);
		job_unref(found);
	}
}

size_t cx_jobs_drain(struct cx_jobs *p)
{
	size_t abandoned = 0;
	struct timespec grace, until;
	bool waited_out = false;

	cx_jobs_refuse(p);
	cx_deadline_ts(CLOCK_REALTIME, p->conf->drain_grace_ms, &until);
	pthread_mutex_lock(&p->lock);
	atomic_store(&p->draining, true);
	if (atomic_load(&p->unanswered))
		cx_info("draining: waiting up to %ld ms for %zu call(s) in flight",
			p->conf->drain_grace_ms, (size_t)atomic_load(&p->unanswered));
	/* Bounded by the grace, and by the watchdog, which answers every job by its deadline. */
	while (atomic_load(&p->unanswered)) {
		if (!waited_out &&
		    pthread_cond_timedwait(&p->idle, &p->lock, &until) == ETIMEDOUT) {
			waited_out = true;
			pthread_mutex_unlock(&p->lock);
			cx_warn("draining: calls.drain_grace_ms passed; answering %zu call(s) "
				"still running as shutting down",
				(size_t)atomic_load(&p->unanswered));
			abandon_running(p);
			pthread_mutex_lock(&p->lock);
		} else if (waited_out) {
			pthread_cond_wait(&p->idle, &p->lock);
		}
	}
	/* Answered, fast-path jobs end within moments: their requests are cancelled with them. */
	cx_deadline_ts(CLOCK_REALTIME, DRAIN_GRACE_S * 1000, &grace);
	while (p->async_running && pthread_cond_timedwait(&p->idle, &p->lock, &grace) != ETIMEDOUT)
		;
	p->stopping = true;
	pthread_cond_broadcast(&p->work);
	pthread_cond_broadcast(&p->tick);
	pthread_mutex_unlock(&p->lock);

	/* A handler still running past its deadline (answered already) gets one short grace
	 * for all workers together; then the process exits without it. */
	cx_deadline_ts(CLOCK_REALTIME, DRAIN_GRACE_S * 1000, &grace);
	for (size_t i = 0; i < p->nworkers; i++) {
		if (pthread_timedjoin_np(p->workers[i], NULL, &grace)) {
			cx_warn("a worker is still inside a tool past its deadline; leaving it");
			pthread_detach(p->workers[i]);
			abandoned++;
		}
	}
	p->nworkers = 0;
	if (p->watchdog_running) {
		pthread_join(p->watchdog, NULL);
		p->watchdog_running = false;
	}
	return abandoned;
}

void cx_jobs_free(struct cx_jobs *p)
{
	if (!p)
		return;
	if (p->nworkers || p->watchdog_running)
		cx_jobs_drain(p);
	free(p->workers);
	free(p->load);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->tick);
	pthread_cond_destroy(&p->idle);
	free(p);
}
