#include "fake_exchange.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void fx_reply(struct cx_exchange *x, json_t *response)
{
	struct fx_ex *e = (struct fx_ex *)x;

	pthread_mutex_lock(&e->lock);
	if (e->replies++ == 0) {
		e->response = response;
		e->reply_thread = pthread_self();
		e->status_at_reply = x->http_status;
		x->http_status = FX_POISON;
	} else {
		json_decref(response);
	}
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
}

static void fx_defer(struct cx_exchange *x)
{
	struct fx_ex *e = (struct fx_ex *)x;

	pthread_mutex_lock(&e->lock);
	e->defers++;
	pthread_mutex_unlock(&e->lock);
}

struct fx_ex *fx_new(const struct cx_principal *who, struct cx_session *sess)
{
	struct fx_ex *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->cond, NULL);
	e->x.who = who;
	e->x.session = sess;
	e->x.defer = fx_defer;
	e->x.reply = fx_reply;
	return e;
}

void fx_free(struct fx_ex *e)
{
	json_decref(e->response);
	free(e->x.new_session_id);
	pthread_mutex_destroy(&e->lock);
	pthread_cond_destroy(&e->cond);
	free(e);
}

int fx_replies(struct fx_ex *e)
{
	int n;

	pthread_mutex_lock(&e->lock);
	n = e->replies;
	pthread_mutex_unlock(&e->lock);
	return n;
}

int fx_defers(struct fx_ex *e)
{
	int n;

	pthread_mutex_lock(&e->lock);
	n = e->defers;
	pthread_mutex_unlock(&e->lock);
	return n;
}

json_t *fx_wait(struct fx_ex *e)
{
	struct timespec ts;
	json_t *r;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += FX_WAIT_MS / 1000;
	pthread_mutex_lock(&e->lock);
	while (!e->replies) {
		if (pthread_cond_timedwait(&e->cond, &e->lock, &ts) == ETIMEDOUT)
			break;
	}
	if (!e->replies) {
		pthread_mutex_unlock(&e->lock);
		fail_msg("no reply within %d ms", FX_WAIT_MS);
	}
	r = e->response;
	pthread_mutex_unlock(&e->lock);
	return r;
}

json_t *fx_parse(const char *text)
{
	json_error_t je;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &je);

	if (!v)
		fail_msg("bad test JSON '%s': %s", text, je.text);
	return v;
}

json_t *fx_packf(const char *fmt, ...)
{
	char buf[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return fx_parse(buf);
}
