/* JSON-RPC batches, which only protocol 2025-03-26 has: each member is submitted as a message
 * of its own on a member exchange, and the batch answers once, with an array of the members'
 * answers (nothing at all when every member was a notification or response).
 *
 * What one request may cost is bounded: at most calls.max_batch members (counted before the
 * text is parsed, so an 18,000-member batch is refused without building 18,000 objects), and
 * answers that would take the reply past calls.max_batch_reply_bytes are replaced, as they
 * come, by a short error saying so (the work was done; only the answer is dropped). Room for
 * that error is kept for every member not yet answered, so the reply with its errors stays
 * within the cap (unless the members' ids alone pass it). */
#include "server_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/json.h"
#include "../common/jsonrpc.h"
#include "../common/log.h"
#include "../common/mcp.h"
#include "reply.h"

struct batch {
	struct cx_exchange *parent;
	pthread_mutex_t lock;
	json_t *responses;
	size_t pending; /* members not yet answered, plus one for the loop */
	size_t bytes;   /* the answers so far, serialized (an upper bound) */
	size_t reserve; /* the over-cap errors of the members not yet answered, serialized */
	size_t cap;     /* calls.max_batch_reply_bytes */
	bool deferred;
};

struct batch_member {
	struct cx_exchange x; /* first: the exchange callbacks recover the member */
	struct batch *b;
	size_t err_size; /* its over-cap error's size, held in b->reserve until it answers */
};

static void batch_finish(struct batch *b)
{
	struct cx_exchange *parent = b->parent;
	json_t *r = b->responses;

	pthread_mutex_destroy(&b->lock);
	free(b);
	if (json_array_size(r) == 0) {
		json_decref(r);
		r = NULL;
	}
	parent->reply(parent, r);
}

static void batch_defer(struct cx_exchange *x)
{
	struct batch *b = ((struct batch_member *)x)->b;

	/* Members are submitted on the parent's thread, so this needs no lock. */
	if (!b->deferred && b->parent->defer)
		b->parent->defer(b->parent);
	b->deferred = true;
}

/* The error that stands in for an answer the reply has no room for. */
static json_t *over_cap(const json_t *response, size_t cap)
{
	char msg[300];

	snprintf(msg, sizeof(msg),
		 "the batch's answers passed %zu bytes (calls.max_batch_reply_bytes), so this "
		 "member's answer was dropped; the request itself was carried out — send it on "
		 "its own to read its answer",
		 cap);
	return cx_rpc_error_always(json_object_get(response, "id"), CX_RPC_INTERNAL_ERROR, msg,
				   NULL);
}

/* The answer's size as it will be sent (batches are rare enough to serialize twice). */
static size_t answer_size(const json_t *response)
{
	size_t len = 0;
	char *text;

	if (!response)
		return 0;
	text = cx_json_dumps(response, &len);
	free(text);
	return text ? len + 1 : cx_json_size_bound(response);
}

/* A member's over-cap error's size, its id being id. */
static size_t err_size_for(const json_t *id, size_t cap)
{
	json_t *stand_in = json_pack("{s:O?}", "id", id);
	json_t *e = stand_in ? over_cap(stand_in, cap) : NULL;
	size_t n = answer_size(e);

	json_decref(e);
	json_decref(stand_in);
	return n;
}

/* One member answered (response stolen, NULL: nothing to add); the last answer sends all.
 * held: what the member had in b->reserve. */
static void batch_add(struct batch *b, json_t *response, size_t held)
{
	size_t size = answer_size(response);
	bool last;

	pthread_mutex_lock(&b->lock);
	CX_ASSERT(b->pending > 0);
	b->reserve -= held < b->reserve ? held : b->reserve;
	if (response && b->bytes + size + b->reserve > b->cap) {
		json_t *err = over_cap(response, b->cap);
		json_decref(response); /* frees the big answer now */
		response = err;
		size = answer_size(response);
	}
	b->bytes += size;
	if (response) /* steals even when growing the array fails */
		json_array_append_new(b->responses, response);
	last = --b->pending == 0;
	pthread_mutex_unlock(&b->lock);
	if (last)
		batch_finish(b);
}

static void batch_reply(struct cx_exchange *x, json_t *response)
{
	struct batch_member *bm = (struct batch_member *)x;
	struct batch *b = bm->b;
	size_t held = bm->err_size;

	free(bm);
	batch_add(b, response, held);
}

/* Messages a member's call sends before its reply go out on the batch's own stream. */
static int batch_send(struct cx_exchange *x, json_t *msg)
{
	struct cx_exchange *parent = ((struct batch_member *)x)->b->parent;

	if (!parent->send) {
		json_decref(msg);
		return -1;
	}
	return parent->send(parent, msg);
}

static void too_long_msg(long max, char *msg, size_t msglen)
{
	snprintf(msg, msglen,
		 "invalid request: a batch of more than %ld messages (calls.max_batch); send "
		 "fewer at a time",
		 max);
}

/* The batch itself is refused (one error, id null): no batches in this revision, empty, or
 * longer than calls.max_batch. */
static bool refuse_batch(struct cx_exchange *x, size_t n, long max)
{
	const char *version = cx_server_initialized(x) ? x->session->version : NULL;
	char msg[200];

	if (!version || !cx_mcp_allows_batch(version)) {
		snprintf(msg, sizeof(msg),
			 "invalid request: JSON-RPC batches are not supported in protocol version "
			 "%s; send one message at a time",
			 version ? version : "(not initialized)");
		cx_reply_error(x, NULL, CX_RPC_INVALID_REQUEST, msg);
		return true;
	}
	if (n == 0) {
		cx_reply_error(x, NULL, CX_RPC_INVALID_REQUEST, "invalid request: empty batch");
		return true;
	}
	if (n > (size_t)max) {
		too_long_msg(max, msg, sizeof(msg));
		cx_reply_error(x, NULL, CX_RPC_INVALID_REQUEST, msg);
		return true;
	}
	return false;
}

int cx_server_batch_check(const struct cx_server *s, size_t members, char *msg, size_t msglen)
{
	if (members <= (size_t)s->conf->max_batch)
		return 0;
	too_long_msg(s->conf->max_batch, msg, msglen);
	return -1;
}

void cx_server_submit_batch(struct cx_server *s, struct cx_exchange *x, json_t *arr)
{
	size_t i, n = json_array_size(arr);
	struct batch *b;
	json_t *m;

	if (refuse_batch(x, n, s->conf->max_batch))
		return;
	b = calloc(1, sizeof(*b));
	if (!b || !(b->responses = json_array())) {
		free(b);
		cx_reply_error(x, NULL, CX_RPC_INTERNAL_ERROR, "internal error: out of memory");
		return;
	}
	pthread_mutex_init(&b->lock, NULL);
	b->parent = x;
	b->cap = (size_t)s->conf->max_batch_reply_bytes;
	b->pending = n + 1;
	json_array_foreach(arr, i, m)
		b->reserve += err_size_for(json_object_get(m, "id"), b->cap);
	json_array_foreach(arr, i, m) {
		struct batch_member *bm = calloc(1, sizeof(*bm));
		const char *method = json_string_value(json_object_get(m, "method"));

		if (!bm) {
			batch_add(b,
				  cx_rpc_error_always(json_object_get(m, "id"),
						      CX_RPC_INTERNAL_ERROR,
						      "internal error: out of memory", NULL),
				  err_size_for(json_object_get(m, "id"), b->cap));
			continue;
		}
		bm->b = b;
		bm->err_size = err_size_for(json_object_get(m, "id"), b->cap);
		bm->x.who = x->who;
		bm->x.session = x->session;
		bm->x.initialized = x->initialized;
		bm->x.defer = batch_defer;
		bm->x.reply = batch_reply;
		bm->x.send = batch_send;
		if (method && !strcmp(method, "initialize")) {
			cx_reply_error(&bm->x, json_object_get(m, "id"), CX_RPC_INVALID_REQUEST,
				       "invalid request: initialize must not be part of a batch");
			continue;
		}
		cx_server_submit_one(s, &bm->x, m);
	}
	batch_add(b, NULL, 0); /* the loop's own count */
}
