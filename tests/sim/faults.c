/* The fault table of the simulator and what each fault puts on the wire. A fault is
 *   {"method": "GET", "path": "/client/v4/zones*", "kind": "status", "status": 503, "count": 2}
 * method defaults to "*", path is an fnmatch glob ('*' crosses '/'), count (optional) is how
 * many requests it applies to before it is spent; the first live fault that matches is taken.
 * The table has its own lock: the daemon reads it outside the backends' lock, and sleeps
 * (latency, trickle) hold neither. */
#include "sim.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../common/util.h"

#define MAX_FAULTS 64

struct entry {
	char method[16];
	char path[256];
	long count; /* -1: every request */
	long hits;
	struct sim_fault f;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry table[MAX_FAULTS];
static size_t n_table;

atomic_bool sim_stopping;

static const char *const kind_names[] = {
	[SIM_FAULT_LATENCY] = "latency",
	[SIM_FAULT_STATUS] = "status",
	[SIM_FAULT_DROP] = "drop",
	[SIM_FAULT_TRUNCATE] = "truncate",
	[SIM_FAULT_INVALID] = "invalid_json",
	[SIM_FAULT_OVERSIZE] = "oversize",
	[SIM_FAULT_TRICKLE] = "trickle",
};

void sim_sleep_ms(long ms)
{
	int64_t end = cx_now_ms() + ms;

	while (!atomic_load(&sim_stopping)) {
		int64_t left = end - cx_now_ms();
		struct timespec ts;

		if (left <= 0)
			return;
		if (left > 20)
			left = 20;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)left * 1000000L;
		nanosleep(&ts, NULL);
	}
}

static int parse(const json_t *v, struct entry *e, char *err, size_t errlen)
{
	static const char *const keys[] = { "method",      "path",        "kind",
					    "status",      "retry_after", "latency_ms",
					    "after_bytes", "size_mib",    "bytes_per_sec",
					    "count",       NULL };
	const char *method = "*", *path = NULL, *kind = NULL;
	json_int_t status = 0, retry = -1, latency = 0, after = -1, mib = 4, bps = 0, count = -1;
	size_t k;

	if (sim_check_keys(v, "fault", keys, err, errlen) != 0)
		return -1;
	if (json_unpack((json_t *)v, "{s?s,s:s,s:s,s?I,s?I,s?I,s?I,s?I,s?I,s?I}", "method", &method,
			"path", &path, "kind", &kind, "status", &status, "retry_after", &retry,
			"latency_ms", &latency, "after_bytes", &after, "size_mib", &mib,
			"bytes_per_sec", &bps, "count", &count) != 0 ||
	    strlen(method) >= sizeof(e->method) || strlen(path) >= sizeof(e->path)) {
		snprintf(err, errlen,
			 "a fault needs path and kind (strings); method is a string, "
			 "the other fields integers");
		return -1;
	}
	memset(e, 0, sizeof(*e));
	for (k = 0; k < sizeof(kind_names) / sizeof(kind_names[0]); k++)
		if (strcmp(kind_names[k], kind) == 0)
			break;
	if (k == sizeof(kind_names) / sizeof(kind_names[0])) {
		snprintf(err, errlen,
			 "unknown fault kind '%s' (latency, status, drop, truncate, "
			 "invalid_json, oversize, trickle)",
			 kind);
		return -1;
	}
	if (latency < 0 || latency > 600000 || (k == SIM_FAULT_LATENCY && latency == 0) ||
	    (k == SIM_FAULT_STATUS && (status < 400 || status > 599)) ||
	    (k == SIM_FAULT_OVERSIZE && (mib < 1 || mib > 1024)) ||
	    (k == SIM_FAULT_TRICKLE && (bps < 1 || bps > 1 << 30)) || count == 0 || count < -1 ||
	    after < -1 || retry < -1) {
		snprintf(err, errlen,
			 "fault '%s': latency needs latency_ms > 0, status a status "
			 "400-599, oversize size_mib 1-1024, trickle bytes_per_sec > 0; "
			 "count is at least 1",
			 kind);
		return -1;
	}
	snprintf(e->method, sizeof(e->method), "%s", method);
	snprintf(e->path, sizeof(e->path), "%s", path);
	e->count = (long)count;
	e->f.kind = (enum sim_fault_kind)k;
	e->f.status = (unsigned int)status;
	e->f.retry_after = (long)(retry < 0 && status == 429 ? 1 : retry);
	e->f.latency_ms = (long)latency;
	e->f.after_bytes = (long)after;
	e->f.size_mib = (long)mib;
	e->f.bytes_per_sec = (long)bps;
	return 0;
}

/* Parses every entry of v (one fault, an array, or {"faults": [...]}) into out. */
static int parse_all(const json_t *v, struct entry *out, size_t room, size_t *n, char *err,
		     size_t errlen)
{
	const json_t *arr = json_is_object(v) && json_object_get(v, "faults") != NULL
				    ? json_object_get(v, "faults")
				    : v;
	size_t i;
	json_t *one;

	*n = 0;
	if (json_is_object(arr))
		return room < 1 ? -1 : (*n = 1, parse(arr, out, err, errlen));
	if (!json_is_array(arr)) {
		snprintf(err, errlen, "faults must be an object or an array of objects");
		return -1;
	}
	if (json_array_size(arr) > room) {
		snprintf(err, errlen, "at most %d faults", MAX_FAULTS);
		return -1;
	}
	json_array_foreach(arr, i, one) {
		if (parse(one, &out[i], err, errlen) != 0)
			return -1;
		*n = i + 1;
	}
	return 0;
}

int sim_faults_set(const json_t *arr, char *err, size_t errlen)
{
	struct entry parsed[MAX_FAULTS];
	size_t n = 0;

	if (arr != NULL && parse_all(arr, parsed, MAX_FAULTS, &n, err, errlen) != 0)
		return -1;
	pthread_mutex_lock(&lock);
	memcpy(table, parsed, n * sizeof(parsed[0]));
	n_table = n;
	pthread_mutex_unlock(&lock);
	return 0;
}

int sim_faults_add(const json_t *v, char *err, size_t errlen)
{
	struct entry parsed[MAX_FAULTS];
	size_t n;
	int rc = 0;

	if (parse_all(v, parsed, MAX_FAULTS, &n, err, errlen) != 0)
		return -1;
	pthread_mutex_lock(&lock);
	if (n_table + n > MAX_FAULTS) {
		snprintf(err, errlen, "at most %d faults", MAX_FAULTS);
		rc = -1;
	} else {
		memcpy(&table[n_table], parsed, n * sizeof(parsed[0]));
		n_table += n;
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

json_t *sim_faults_list(void)
{
	json_t *arr = json_array();
	size_t i;

	pthread_mutex_lock(&lock);
	for (i = 0; arr != NULL && i < n_table; i++) {
		const struct entry *e = &table[i];
		json_t *v = json_pack("{s:s,s:s,s:s,s:I,s:I}", "method", e->method, "path", e->path,
				      "kind", kind_names[e->f.kind], "hits", (json_int_t)e->hits,
				      "latency_ms", (json_int_t)e->f.latency_ms);

		if (v == NULL)
			continue;
		if (e->count >= 0)
			json_object_set_new(v, "remaining", json_integer(e->count));
		if (e->f.kind == SIM_FAULT_STATUS)
			json_object_set_new(v, "status", json_integer(e->f.status));
		if (e->f.retry_after >= 0)
			json_object_set_new(v, "retry_after", json_integer(e->f.retry_after));
		if (e->f.kind == SIM_FAULT_OVERSIZE)
			json_object_set_new(v, "size_mib", json_integer(e->f.size_mib));
		if (e->f.kind == SIM_FAULT_TRICKLE)
			json_object_set_new(v, "bytes_per_sec", json_integer(e->f.bytes_per_sec));
		if (e->f.after_bytes >= 0)
			json_object_set_new(v, "after_bytes", json_integer(e->f.after_bytes));
		json_array_append_new(arr, v);
	}
	pthread_mutex_unlock(&lock);
	return arr;
}

bool sim_faults_take(const char *method, const char *path, struct sim_fault *out)
{
	bool found = false;
	size_t i;

	pthread_mutex_lock(&lock);
	for (i = 0; i < n_table && !found; i++) {
		struct entry *e = &table[i];

		if (e->count == 0 ||
		    (strcmp(e->method, "*") != 0 && strcmp(e->method, method) != 0) ||
		    !cx_glob_match(e->path, path))
			continue;
		if (e->count > 0)
			e->count--;
		e->hits++;
		*out = e->f;
		found = true;
	}
	pthread_mutex_unlock(&lock);
	return found;
}

void sim_faults_release(void)
{
	sim_faults_set(NULL, NULL, 0);
}

/* --- on the wire --------------------------------------------------------------------------- */

struct stream {
	char *body; /* owned */
	size_t len;
	long bps;   /* trickle: bytes per second; 0 for none */
	size_t cut; /* drop: bytes sent before the connection is closed */
	bool drop;
	size_t pad; /* oversize: bytes of padding */
};

static const char oversize_head[] = "{\"data\":\"";
static const char oversize_tail[] = "\"}";

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *s = cls;
	size_t n;

	if (atomic_load(&sim_stopping))
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (s->pad > 0) { /* oversize: head, padding, tail, without holding it all */
		size_t head = sizeof(oversize_head) - 1, total = head + s->pad + 2;

		for (n = 0; n < max && pos + n < total; n++) {
			uint64_t p = pos + n;

			buf[n] = p < head            ? oversize_head[p]
				 : p < head + s->pad ? 'x'
						     : oversize_tail[p - head - s->pad];
		}
		return n > 0 ? (ssize_t)n : MHD_CONTENT_READER_END_OF_STREAM;
	}
	if (s->drop && pos >= s->cut) {
		sim_sleep_ms(50); /* let what was written reach the client first */
		return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	n = s->len - (size_t)pos;
	if (s->drop && n > s->cut - pos)
		n = s->cut - (size_t)pos;
	if (s->bps > 0) {
		size_t chunk = (size_t)(s->bps / 10 > 0 ? s->bps / 10 : 1);

		if (n > chunk)
			n = chunk;
		sim_sleep_ms((long)(n * 1000 / (size_t)s->bps));
	}
	if (n > max)
		n = max;
	memcpy(buf, s->body + pos, n);
	return (ssize_t)n;
}

static void stream_free(void *cls)
{
	struct stream *s = cls;

	free(s->body);
	free(s);
}

static struct MHD_Response *from_stream(struct sim_response *resp, struct stream *s, uint64_t size)
{
	struct MHD_Response *r;

	if (s == NULL)
		return NULL;
	s->body = resp->body;
	s->len = resp->len;
	resp->body = NULL;
	r = MHD_create_response_from_callback(size, 16 * 1024, stream_read, s, stream_free);
	if (r == NULL)
		stream_free(s);
	return r;
}

struct MHD_Response *sim_fault_respond(const struct sim_fault *f, const struct sim_backend *b,
				       struct sim_response *resp)
{
	static const char invalid[] = "{\"data\": NaN, \"errors\": [}";
	struct stream *s = NULL;
	size_t cut = f->after_bytes >= 0 && (size_t)f->after_bytes < resp->len
			     ? (size_t)f->after_bytes
			     : resp->len / 2;
	char retry[24];
	struct MHD_Response *r = NULL;

	switch (f->kind) {
	case SIM_FAULT_LATENCY:
		break;
	case SIM_FAULT_STATUS:
		free(resp->body);
		sim_reply(resp, f->status,
			  b->error_body(f->status, MHD_get_reason_phrase_for(f->status)));
		resp->status = f->status;
		break;
	case SIM_FAULT_TRUNCATE:
		resp->len = cut;
		break;
	case SIM_FAULT_INVALID:
		free(resp->body);
		resp->body = strdup(invalid);
		resp->len = resp->body ? sizeof(invalid) - 1 : 0;
		resp->status = 200;
		break;
	case SIM_FAULT_DROP:
		s = calloc(1, sizeof(*s));
		if (s != NULL) {
			s->drop = true;
			s->cut = cut;
		}
		r = from_stream(resp, s, resp->len);
		break;
	case SIM_FAULT_TRICKLE:
		s = calloc(1, sizeof(*s));
		if (s != NULL)
			s->bps = f->bytes_per_sec;
		r = from_stream(resp, s, resp->len);
		break;
	case SIM_FAULT_OVERSIZE:
		s = calloc(1, sizeof(*s));
		if (s != NULL)
			s->pad = (size_t)f->size_mib * 1024 * 1024;
		resp->status = 200;
		r = from_stream(resp, s,
				sizeof(oversize_head) - 1 + (size_t)f->size_mib * 1048576 + 2);
		break;
	}
	if (r == NULL && s == NULL)
		r = MHD_create_response_from_buffer(resp->len, resp->body ? resp->body : (void *)"",
						    MHD_RESPMEM_MUST_COPY);
	if (r != NULL && f->retry_after >= 0 && f->kind == SIM_FAULT_STATUS) {
		snprintf(retry, sizeof(retry), "%ld", f->retry_after);
		MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, retry);
	}
	return r;
}
