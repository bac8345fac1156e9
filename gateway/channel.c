/* Calls that talk to their client: progress, log messages and server-to-client requests.
 *
 * A request to the client (sampling/createMessage, elicitation/create, roots/list) is sent
 * on the call's own stream with an id of ours; the client answers with a JSON-RPC response
 * that arrives like any other message (a POST, or a line on stdin) and cx_server_submit hands
 * it to cx_hub_deliver, which wakes the waiting worker. The table of waiting requests is per
 * process: behind a load balancer the answer must reach the replica that asked. */
#include "channel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/jsonrpc.h"
#include "../common/log.h"
#include "../common/util.h"

#define WAIT_SLICE_MS 50   /* how often a waiting call looks at its cancel flag */
#define LEVELS_MAX    4096 /* sessions with a log level remembered */

static const char *const levels[] = {
	"debug", "info", "notice", "warning", "error", "critical", "alert", "emergency",
};
#define DEFAULT_LEVEL 1 /* info, until the client says otherwise */

struct pending {
	struct pending *next;
	char id[40];        /* random: not guessable by another client */
	char fp[17];        /* only this session may answer... */
	const char *caller; /* ...with the same token */
	json_t *answer;     /* the client's response, new reference */
	bool done;
};

struct session_level {
	char fp[17];
	int level;
};

struct subscription {
	char fp[17];
	char *uri;
	bool prefix; /* uri is a prefix: every URI that starts with it */
	int64_t at;  /* cx_now_ms() when made */
};

#define SUBSCRIPTIONS_MAX 10000

struct cx_hub {
	struct subscription *subs;
	size_t nsubs;
	int64_t max_age_ms; /* a session is dead by then: its subscriptions go */
	pthread_mutex_t lock;
	pthread_cond_t answered;
	struct pending *pending;
	struct session_level *levels;
	size_t nlevels;
};

struct cx_hub *cx_hub_new(long session_ttl_s)
{
	struct cx_hub *h = calloc(1, sizeof(*h));
	pthread_condattr_t ca;

	if (!h)
		return NULL;
	h->max_age_ms = session_ttl_s > 0 ? (int64_t)session_ttl_s * 1000 : INT64_MAX;
	pthread_mutex_init(&h->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->answered, &ca);
	pthread_condattr_destroy(&ca);
	return h;
}

void cx_hub_free(struct cx_hub *h)
{
	if (!h)
		return;
	/* Every waiter removed its entry before returning; none can be left. */
	pthread_mutex_destroy(&h->lock);
	pthread_cond_destroy(&h->answered);
	free(h->levels);
	for (size_t i = 0; i < h->nsubs; i++)
		free(h->subs[i].uri);
	free(h->subs);
	free(h);
}

static int subscribe(struct cx_hub *h, const char *fp, const char *uri, bool prefix)
{
	int rc = 0;

	pthread_mutex_lock(&h->lock);
	for (size_t i = 0; i < h->nsubs; i++)
		if (!strcmp(h->subs[i].fp, fp) && !strcmp(h->subs[i].uri, uri) &&
		    h->subs[i].prefix == prefix)
			goto out; /* subscribing twice is subscribing once */
	if (h->nsubs == SUBSCRIPTIONS_MAX) {
		/* Sessions end without telling us (they expire); their subscriptions go first. */
		int64_t now = cx_now_ms();
		size_t keep = 0;
		for (size_t i = 0; i < h->nsubs; i++) {
			if (now - h->subs[i].at > h->max_age_ms)
				free(h->subs[i].uri);
			else
				h->subs[keep++] = h->subs[i];
		}
		h->nsubs = keep;
	}
	if (h->nsubs == SUBSCRIPTIONS_MAX) {
		rc = -1;
		goto out;
	}
	struct subscription *n = realloc(h->subs, (h->nsubs + 1) * sizeof(*n));
	char *copy = strdup(uri);
	if (n)
		h->subs = n;
	if (!n || !copy) {
		free(copy);
		rc = -1;
		goto out;
	}
	snprintf(h->subs[h->nsubs].fp, sizeof(h->subs[h->nsubs].fp), "%s", fp);
	h->subs[h->nsubs].at = cx_now_ms();
	h->subs[h->nsubs].prefix = prefix;
	h->subs[h->nsubs++].uri = copy;
out:
	pthread_mutex_unlock(&h->lock);
	return rc;
}

int cx_hub_subscribe(struct cx_hub *h, const char *fp, const char *uri)
{
	return subscribe(h, fp, uri, false);
}

int cx_hub_subscribe_prefix(struct cx_hub *h, const char *fp, const char *prefix)
{
	return subscribe(h, fp, prefix, true);
}

static void drop_subs(struct cx_hub *h, const char *fp, const char *uri)
{
	size_t keep = 0;

	for (size_t i = 0; i < h->nsubs; i++) {
		if (!strcmp(h->subs[i].fp, fp) && (!uri || !strcmp(h->subs[i].uri, uri)))
			free(h->subs[i].uri);
		else
			h->subs[keep++] = h->subs[i];
	}
	h->nsubs = keep;
}

void cx_hub_unsubscribe(struct cx_hub *h, const char *fp, const char *uri)
{
	pthread_mutex_lock(&h->lock);
	drop_subs(h, fp, uri);
	pthread_mutex_unlock(&h->lock);
}

void cx_hub_each_subscriber(struct cx_hub *h, const char *uri,
			    void (*fn)(void *ctx, const char *fp), void *ctx)
{
	char(*keys)[17] = NULL;
	size_t n = 0;

	/* Collected first: fn pushes to transports, which must not run under the hub lock. */
	pthread_mutex_lock(&h->lock);
	keys = calloc(h->nsubs ? h->nsubs : 1, sizeof(*keys));
	for (size_t i = 0; keys && i < h->nsubs; i++)
		if (h->subs[i].prefix ? !strncmp(uri, h->subs[i].uri, strlen(h->subs[i].uri))
				      : !strcmp(h->subs[i].uri, uri))
			memcpy(keys[n++], h->subs[i].fp, sizeof(keys[0]));
	pthread_mutex_unlock(&h->lock);
	for (size_t i = 0; i < n; i++)
		fn(ctx, keys[i]);
	free(keys);
}

int cx_log_level_index(const char *name)
{
	for (size_t i = 0; name && i < sizeof(levels) / sizeof(levels[0]); i++)
		if (!strcmp(levels[i], name))
			return (int)i;
	return -1;
}

int cx_hub_set_level(struct cx_hub *h, const char *fp, const char *level)
{
	int lvl = cx_log_level_index(level);
	size_t i;

	if (lvl < 0)
		return -1;
	pthread_mutex_lock(&h->lock);
	for (i = 0; i < h->nlevels; i++)
		if (!strcmp(h->levels[i].fp, fp))
			break;
	if (i == h->nlevels) {
		if (h->nlevels == LEVELS_MAX) {
			/* Oldest first out: a forgotten session falls back to the default. */
			memmove(h->levels, h->levels + 1, (LEVELS_MAX - 1) * sizeof(*h->levels));
			i = --h->nlevels;
		} else {
			struct session_level *n = realloc(h->levels, (h->nlevels + 1) * sizeof(*n));
			if (!n) {
				pthread_mutex_unlock(&h->lock);
				return 0; /* best effort: the default level stays */
			}
			h->levels = n;
		}
		h->nlevels++;
		snprintf(h->levels[i].fp, sizeof(h->levels[i].fp), "%s", fp);
	}
	h->levels[i].level = lvl;
	pthread_mutex_unlock(&h->lock);
	return 0;
}

static int session_level(struct cx_hub *h, const char *fp)
{
	int lvl = DEFAULT_LEVEL;

	pthread_mutex_lock(&h->lock);
	for (size_t i = 0; i < h->nlevels; i++)
		if (!strcmp(h->levels[i].fp, fp))
			lvl = h->levels[i].level;
	pthread_mutex_unlock(&h->lock);
	return lvl;
}

void cx_hub_forget(struct cx_hub *h, const char *fp)
{
	pthread_mutex_lock(&h->lock);
	drop_subs(h, fp, NULL);
	for (size_t i = 0; i < h->nlevels; i++) {
		if (!strcmp(h->levels[i].fp, fp)) {
			memmove(h->levels + i, h->levels + i + 1,
				(h->nlevels - i - 1) * sizeof(*h->levels));
			h->nlevels--;
			break;
		}
	}
	pthread_mutex_unlock(&h->lock);
}

bool cx_hub_deliver(struct cx_hub *h, const char *fp, const char *caller, const json_t *response)
{
	const char *id = json_string_value(json_object_get(response, "id"));
	bool found = false;

	if (!id)
		return false; /* our ids are strings */
	pthread_mutex_lock(&h->lock);
	for (struct pending *p = h->pending; p; p = p->next) {
		/* The answer must come from the session and token that were asked: a client
		 * that learns an id cannot answer another user's question. */
		if (!p->done && !strcmp(p->id, id) && !strcmp(p->fp, fp) && p->caller == caller) {
			p->answer = json_incref((json_t *)response);
			p->done = true;
			found = true;
			pthread_cond_broadcast(&h->answered);
			break;
		}
	}
	pthread_mutex_unlock(&h->lock);
	return found;
}

void cx_channel_init(struct cx_call_channel *ch, struct cx_hub *hub, struct cx_exchange *x,
		     const json_t *params, atomic_bool *cancelled, int64_t deadline_ms)
{
	const json_t *token = json_object_get(json_object_get(params, "_meta"), "progressToken");

	memset(ch, 0, sizeof(*ch));
	pthread_mutex_init(&ch->lock, NULL);
	ch->hub = hub;
	ch->x = x;
	ch->caller = x->who ? x->who->name : NULL;
	if (token && (json_is_string(token) || json_is_integer(token)))
		ch->progress_token = json_incref((json_t *)token);
	if (x->session) {
		ch->client_caps =
			x->session->client_caps ? json_incref(x->session->client_caps) : NULL;
		snprintf(ch->fp, sizeof(ch->fp), "%s", x->session->fp);
	}
	ch->cancelled = cancelled;
	ch->deadline_ms = deadline_ms;
	ch->last_progress = -1;
	ch->level = -1;
	ch->stateless = x->stateless;
	if (x->stateless) {
		/* Per request: its own capabilities, and log messages only when asked for. */
		const json_t *meta = json_object_get(params, "_meta");
		const char *lvl = json_string_value(json_object_get(meta, CX_META_LOGLEVEL));
		const json_t *caps = json_object_get(meta, CX_META_CAPS);

		json_decref(ch->client_caps);
		ch->client_caps = json_is_object(caps) ? json_incref((json_t *)caps) : NULL;
		ch->level = lvl && cx_log_level_index(lvl) >= 0 ? cx_log_level_index(lvl) : 8;
	}
}

void cx_channel_set_responses(struct cx_call_channel *ch, json_t *responses)
{
	json_decref(ch->input_responses);
	ch->input_responses = responses;
}

void cx_channel_close(struct cx_call_channel *ch)
{
	pthread_mutex_lock(&ch->lock);
	ch->x = NULL;
	pthread_mutex_unlock(&ch->lock);
}

void cx_channel_release(struct cx_call_channel *ch)
{
	json_decref(ch->progress_token);
	json_decref(ch->client_caps);
	json_decref(ch->input_responses);
	json_decref(ch->input_requests);
	pthread_mutex_destroy(&ch->lock);
}

/* Sends msg (stolen) on the call's stream while the call is unanswered. */
static int channel_send(struct cx_call_channel *ch, json_t *msg)
{
	int rc = -1;

	if (!msg)
		return -1;
	pthread_mutex_lock(&ch->lock);
	if (ch->x && ch->x->send) {
		rc = ch->x->send(ch->x, msg);
		msg = NULL;
	}
	pthread_mutex_unlock(&ch->lock);
	json_decref(msg);
	return rc;
}

int cx_call_progress(struct cx_call *call, double progress, double total, const char *message)
{
	struct cx_call_channel *ch = call->chan;
	json_t *params;

	if (!ch || !ch->progress_token)
		return 0;
	/* The specification wants progress to increase with every notification. */
	if (progress <= ch->last_progress)
		return 0;
	ch->last_progress = progress;
	params = json_pack("{s:O, s:f}", "progressToken", ch->progress_token, "progress", progress);
	if (!params)
		return -1;
	if (total > 0)
		json_object_set_new(params, "total", json_real(total));
	if (message)
		json_object_set_new(params, "message", json_string(message));
	channel_send(ch, cx_rpc_notification("notifications/progress", params));
	return 0;
}

int cx_call_log(struct cx_call *call, const char *level, const char *logger, json_t *data)
{
	struct cx_call_channel *ch = call->chan;
	int lvl = cx_log_level_index(level);
	json_t *params;

	if (!data)
		return -1;
	if (lvl < 0) {
		json_decref(data);
		return -1;
	}
	if (!ch || lvl < (ch->level >= 0 ? ch->level : session_level(ch->hub, ch->fp))) {
		json_decref(data);
		return 0;
	}
	params = json_pack("{s:s, s:o}", "level", levels[lvl], "data", data);
	if (!params)
		return -1;
	if (logger)
		json_object_set_new(params, "logger", json_string(logger));
	channel_send(ch, cx_rpc_notification("notifications/message", params));
	return 0;
}

bool cx_call_client_can(const struct cx_call *call, const char *capability)
{
	return call->chan && json_object_get(call->chan->client_caps, capability) != NULL;
}

/* An answer of the right shape for method, or NULL (an answer of the wrong shape counts as
 * none: the call asks again). */
static json_t *valid_answer(const char *method, json_t *answer)
{
	if (!json_is_object(answer))
		return NULL;
	if (!strcmp(method, "elicitation/create"))
		return json_is_string(json_object_get(answer, "action")) ? answer : NULL;
	if (!strncmp(method, "sampling/", 9))
		return json_is_object(json_object_get(answer, "content")) ? answer : NULL;
	if (!strcmp(method, "roots/list"))
		return json_is_array(json_object_get(answer, "roots")) ? answer : NULL;
	return answer;
}

/* The stateless revision has no way to ask the client in the middle of a call: the request
 * is recorded, and the call ends with an input-required result naming it; the client asks
 * again with the answer under the same key. */
static int ask_stateless(struct cx_call_channel *ch, const char *key, const char *method,
			 json_t *params, json_t **result, struct cx_err *err)
{
	json_t *answer = valid_answer(method, json_object_get(ch->input_responses, key));

	if (answer) {
		json_decref(params);
		*result = json_incref(answer);
		return 0;
	}
	if (!ch->input_requests)
		ch->input_requests = json_object();
	if (!ch->input_requests ||
	    json_object_set_new(ch->input_requests, key,
				json_pack("{s:s, s:o}", "method", method, "params",
					  params ? params : json_object()))) {
		return cx_err_set(err, "out of memory");
	}
	return cx_err_set(err, "'%s' needs an answer from the client first (input required)",
			  method);
}

int cx_call_request(struct cx_call *call, const char *method, json_t *params, json_t **result,
		    struct cx_err *err)
{
	return cx_call_ask(call, NULL, method, params, result, err);
}

/* Waits for the client's answer to p (registered in the hub), bounded by the call's cancel
 * flag and deadline. True when it came. */
static bool wait_answer(struct cx_hub *h, struct cx_call *call, struct pending *p)
{
	pthread_mutex_lock(&h->lock);
	while (!p->done) {
		struct timespec ts;

		if ((call->cancelled && atomic_load(call->cancelled)) ||
		    (call->deadline_ms > 0 && cx_now_ms() >= call->deadline_ms))
			break;
		cx_deadline_ts(CLOCK_MONOTONIC, WAIT_SLICE_MS, &ts);
		pthread_cond_timedwait(&h->answered, &h->lock, &ts);
	}
	pthread_mutex_unlock(&h->lock);
	return p->done;
}

/* The revisions with sessions: the request goes out on the call's own stream under a random
 * id, and the worker waits for the answer that cx_hub_deliver hands over. */
static int ask_client(struct cx_call *call, const char *method, json_t *params, json_t **result,
		      struct cx_err *err)
{
	struct cx_call_channel *ch = call->chan;
	struct cx_hub *h = ch->hub;
	struct pending p = { 0 }, **pp;
	json_t *msg, *error;
	int rc = -1;

	memcpy(p.id, "cortex-", 7);
	if (cx_random_hex(p.id + 7, sizeof(p.id) - 7, 12)) {
		json_decref(params);
		return cx_err_set(err, "could not make a request id");
	}
	snprintf(p.fp, sizeof(p.fp), "%s", ch->fp);
	p.caller = ch->caller;
	pthread_mutex_lock(&h->lock);
	p.next = h->pending;
	h->pending = &p;
	pthread_mutex_unlock(&h->lock);

	msg = json_pack("{s:s, s:s, s:s, s:o}", "jsonrpc", "2.0", "id", p.id, "method", method,
			"params", params ? params : json_object());
	if (channel_send(ch, msg)) {
		cx_err_set(err, "could not send '%s' to the client", method);
		goto out;
	}
	if (!wait_answer(h, call, &p)) {
		cx_err_set(err, "the client did not answer '%s' before the call %s", method,
			   call->cancelled && atomic_load(call->cancelled) ? "was cancelled"
									   : "timed out");
		goto out;
	}
	error = json_object_get(p.answer, "error");
	if (error) {
		const char *why = json_string_value(json_object_get(error, "message"));
		cx_err_set(err, "the client refused '%s': %s (%lld)", method,
			   why ? why : "no message",
			   (long long)json_integer_value(json_object_get(error, "code")));
		goto out;
	}
	*result = json_incref(json_object_get(p.answer, "result"));
	rc = *result ? 0 : cx_err_set(err, "the client's answer to '%s' has no result", method);
out:
	pthread_mutex_lock(&h->lock);
	for (pp = &h->pending; *pp; pp = &(*pp)->next) {
		if (*pp == &p) {
			*pp = p.next;
			break;
		}
	}
	pthread_mutex_unlock(&h->lock);
	json_decref(p.answer);
	return rc;
}

int cx_call_ask(struct cx_call *call, const char *key, const char *method, json_t *params,
		json_t **result, struct cx_err *err)
{
	struct cx_call_channel *ch = call->chan;
	const char *cap = !strncmp(method, "sampling/", 9)       ? "sampling"
			  : !strncmp(method, "elicitation/", 12) ? "elicitation"
			  : !strncmp(method, "roots/", 6)        ? "roots"
								 : NULL;
	char auto_key[16];

	*result = NULL;
	if (!ch) {
		json_decref(params);
		return cx_err_set(err, "this call has no channel to its client");
	}
	if (cap && !cx_call_client_can(call, cap)) {
		json_decref(params);
		if (!ch->missing_cap[0])
			snprintf(ch->missing_cap, sizeof(ch->missing_cap), "%s", cap);
		return cx_err_set(err, "the client did not declare the '%s' capability", cap);
	}
	if (!ch->stateless)
		return ask_client(call, method, params, result, err);
	if (!key) {
		snprintf(auto_key, sizeof(auto_key), "r%u", ++ch->next_key);
		key = auto_key;
	}
	return ask_stateless(ch, key, method, params, result, err);
}
