/* The JSON parser behind cx_json_loadb: every document from outside (client requests, backend
 * answers, config files) comes through here. It builds the same jansson values json_loadb
 * (JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL) builds and refuses what it refuses — an array or
 * object at the top, strict RFC 8259 grammar, valid UTF-8 only, no duplicate keys, no NUL in
 * keys, integers that fit json_int_t, finite reals, depth at most 2048 — but reads the buffer
 * in place instead of through jansson's byte-at-a-time stream, which made parsing a backend's
 * answer the largest single cost of a tool call (about four fifths of jansson's time went to
 * the lexer, not to building values). tests/unit/test_json_parse.c holds it to jansson's
 * answers on valid, invalid and randomly mutated documents. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"
#include "util.h"

#define PARSE_DEPTH_MAX 2048
#define NUMBER_MAX      1024 /* longer numbers are refused, as no real needs them */

struct parser {
	const char *start, *p, *end;
	int depth;
	const struct cx_json_pick *pick; /* NULL: every key is built */
	struct cx_buf scratch;           /* decoded strings with escapes or multi-byte characters */
	const char *why;                 /* the first error, at p */
};

static int fail(struct parser *ps, const char *why)
{
	if (!ps->why)
		ps->why = why;
	return -1;
}

static void skip_ws(struct parser *ps)
{
	const char *p = ps->p;

	while (p < ps->end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++;
	ps->p = p;
}

/* Bytes that end the fast scan of a string: '"', '\\', control characters, and every byte of
 * a multi-byte UTF-8 sequence (checked on the slow path). */
static const unsigned char string_stop[256] = {
	[0x00 ... 0x1f] = 1,
	['"'] = 1,
	['\\'] = 1,
	[0x80 ... 0xff] = 1,
};

static int hex4(const char *p, unsigned *out)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++) {
		char c = p[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static int put_utf8(struct cx_buf *b, unsigned cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return cx_buf_append(b, u, n);
}

/* One \u escape at p (just past the backslash and 'u'), a surrogate pair taken whole. */
static int unicode_escape(struct parser *ps, const char **pp)
{
	const char *p = *pp;
	unsigned cp, lo;

	if (ps->end - p < 4 || hex4(p, &cp))
		return fail(ps, "invalid escape");
	p += 4;
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return fail(ps, "invalid Unicode escape (a lone low surrogate)");
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (ps->end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, &lo) ||
		    lo < 0xdc00 || lo > 0xdfff)
			return fail(ps,
				    "invalid Unicode escape (a high surrogate without its pair)");
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		p += 6;
	}
	*pp = p;
	return put_utf8(&ps->scratch, cp) ? fail(ps, "out of memory") : 0;
}

/* The slow path of a string, from p (after the fast run already in scratch) to its closing
 * quote; ps->p is left past it. */
static int string_slow(struct parser *ps, const char *p)
{
	static const char simple[256] = {
		['"'] = '"',  ['\\'] = '\\', ['/'] = '/',  ['b'] = '\b',
		['f'] = '\f', ['n'] = '\n',  ['r'] = '\r', ['t'] = '\t',
	};
	const char *run = p;

	for (;;) {
		unsigned char c;
		if (p >= ps->end) {
			ps->p = p;
			return fail(ps, "premature end of input in a string");
		}
		c = (unsigned char)*p;
		if (!string_stop[c]) {
			p++;
			continue;
		}
		if (cx_buf_append(&ps->scratch, run, (size_t)(p - run)))
			return fail(ps, "out of memory");
		if (c == '"') {
			ps->p = p + 1;
			return 0;
		}
		if (c >= 0x80) {
			size_t n = cx_utf8_seq_len((const unsigned char *)p, (size_t)(ps->end - p));
			if (!n) {
				ps->p = p;
				return fail(ps, "invalid UTF-8 in a string");
			}
			run = p;
			p += n;
			continue;
		}
		if (c < 0x20) {
			ps->p = p;
			return fail(ps, "control character in a string");
		}
		/* a backslash */
		if (p + 1 >= ps->end) {
			ps->p = p;
			return fail(ps, "premature end of input in a string");
		}
		if (p[1] == 'u') {
			p += 2;
			if (unicode_escape(ps, &p)) {
				ps->p = p;
				return -1;
			}
		} else if (simple[(unsigned char)p[1]]) {
			if (cx_buf_append(&ps->scratch, &simple[(unsigned char)p[1]], 1))
				return fail(ps, "out of memory");
			p += 2;
		} else {
			ps->p = p;
			return fail(ps, "invalid escape");
		}
		run = p;
	}
}

/* A string at ps->p (its opening quote): *s and *len point either into the input (no escapes,
 * ASCII) or into ps->scratch, valid until the next string. */
static int string_span(struct parser *ps, const char **s, size_t *len)
{
	const char *p = ps->p + 1, *begin = p;

	while (p < ps->end && !string_stop[(unsigned char)*p])
		p++;
	if (p < ps->end && *p == '"') {
		*s = begin;
		*len = (size_t)(p - begin);
		ps->p = p + 1;
		return 0;
	}
	cx_buf_reset(&ps->scratch);
	if (cx_buf_append(&ps->scratch, begin, (size_t)(p - begin)) || string_slow(ps, p))
		return fail(ps, "out of memory");
	*s = ps->scratch.data ? ps->scratch.data : "";
	*len = ps->scratch.len;
	return 0;
}

/* A number at ps->p, checked as jansson checks it; ps->p is left past it. build: a new
 * reference in *out (NULL when only checking). -1 with ps->why set when refused. */
static int scan_number(struct parser *ps, bool build, json_t **out)
{
	const char *p = ps->p, *begin = p;
	bool real = false, neg = false;
	char tmp[NUMBER_MAX + 1];
	json_t *v = NULL;

	if (*p == '-') {
		neg = true;
		p++;
	}
	if (p < ps->end && *p == '0') {
		p++;
	} else if (p < ps->end && *p >= '1' && *p <= '9') {
		while (p < ps->end && *p >= '0' && *p <= '9')
			p++;
	} else {
		return fail(ps, "invalid number");
	}
	if (p < ps->end && *p == '.') {
		real = true;
		if (++p >= ps->end || *p < '0' || *p > '9') {
			ps->p = p;
			return fail(ps, "invalid number: a digit must follow '.'");
		}
		while (p < ps->end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < ps->end && (*p == 'e' || *p == 'E')) {
		real = true;
		if (++p < ps->end && (*p == '+' || *p == '-'))
			p++;
		if (p >= ps->end || *p < '0' || *p > '9') {
			ps->p = p;
			return fail(ps, "invalid number: a digit must follow the exponent");
		}
		while (p < ps->end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < ps->end && *p >= '0' && *p <= '9')
		return fail(ps, "invalid number: a leading zero");
	if (!real) {
		uint64_t u = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
		for (const char *d = begin + neg; d < p; d++) {
			unsigned dig = (unsigned)(*d - '0');
			if (u > (lim - dig) / 10)
				return fail(ps,
					    neg ? "too big negative integer" : "too big integer");
			u = u * 10 + dig;
		}
		if (build && !(v = json_integer(neg ? (json_int_t)(0 - u) : (json_int_t)u)))
			return fail(ps, "out of memory");
	} else {
		double d;
		if (p - begin > NUMBER_MAX)
			return fail(ps, "number too long");
		memcpy(tmp, begin, (size_t)(p - begin));
		tmp[p - begin] = '\0';
		errno = 0;
		d = strtod(tmp, NULL);
		if (errno == ERANGE && (d > 1.0 || d < -1.0))
			return fail(ps, "real number overflow");
		if (build && !(v = json_real(d)))
			return fail(ps, "out of memory");
	}
	ps->p = p;
	if (build)
		*out = v;
	return 0;
}

static json_t *parse_number(struct parser *ps)
{
	json_t *v = NULL;

	return scan_number(ps, true, &v) ? NULL : v;
}

static json_t *parse_value(struct parser *ps);

/* The keys a picked object dropped, kept to refuse duplicates among them as well: spans of
 * the input for the first few, a set (key to null) for the rest and for keys decoded from
 * escapes. A kept key is never dropped and a dropped one never kept, so a key can only
 * repeat within its own kind. */
#define SKIPPED_SPANS 32

struct skipped {
	struct {
		const char *p;
		size_t len;
	} span[SKIPPED_SPANS];
	size_t n;
	json_t *more;
	uint64_t kept; /* bit i: pick->keys[i] was seen (for the first 64 keys) */
};

/* The index of key in pick->keys, or -1 when it is not kept. */
static int pick_index(const struct cx_json_pick *pick, const char *key, size_t klen)
{
	for (int i = 0; pick->keys[i]; i++) {
		const char *k = pick->keys[i];
		if ((!klen || k[0] == key[0]) && !strncmp(k, key, klen) && k[klen] == '\0')
			return i;
	}
	return -1;
}

/* Records the dropped key; -1 (ps->why set) when it was dropped before in this object. */
static int skip_key(struct parser *ps, struct skipped *sk, const char *key, size_t klen,
		    bool in_place)
{
	for (size_t i = 0; i < sk->n; i++) {
		if (sk->span[i].len == klen && !memcmp(sk->span[i].p, key, klen))
			return fail(ps, "duplicate object key");
	}
	if (sk->more && json_object_getn(sk->more, key, klen))
		return fail(ps, "duplicate object key");
	if (in_place && sk->n < SKIPPED_SPANS) {
		sk->span[sk->n].p = key;
		sk->span[sk->n++].len = klen;
		return 0;
	}
	if ((!sk->more && !(sk->more = json_object())) ||
	    json_object_setn_new_nocheck(sk->more, key, klen, json_null()))
		return fail(ps, "out of memory");
	return 0;
}

/* A dropped value: read and checked as if it were built, then let go. */
static int skip_value(struct parser *ps)
{
	const char *s;
	size_t len;
	json_t *v;

	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == '"')
		return string_span(ps, &s, &len);
	if (ps->p < ps->end && (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9')))
		return scan_number(ps, false, NULL);
	v = parse_value(ps);
	json_decref(v);
	return v ? 0 : -1;
}

/* One member of a picked object: kept (built into obj) or dropped. 1 when dropped; 2 when
 * kept and known to be new (a bit of sk->kept says so); 0 when kept (obj checks). */
static int pick_member(struct parser *ps, struct skipped *sk, const char *key, size_t klen)
{
	bool in_place = key >= ps->start && key < ps->end;
	int i = pick_index(ps->pick, key, klen);

	if (i >= 64)
		return 0;
	if (i >= 0) {
		if (sk->kept & (1ULL << i))
			return fail(ps, "duplicate object key");
		sk->kept |= 1ULL << i;
		return 2;
	}
	if (skip_key(ps, sk, key, klen, in_place))
		return -1;
	skip_ws(ps);
	if (ps->p >= ps->end || *ps->p != ':')
		return fail(ps, "':' expected");
	ps->p++;
	return skip_value(ps) ? -1 : 1;
}

static int parse_members_of(struct parser *ps, json_t *obj, struct skipped *sk);

static int parse_members(struct parser *ps, json_t *obj)
{
	struct skipped sk = { .n = 0, .more = NULL, .kept = 0 };
	bool picking = ps->pick && ps->depth == ps->pick->depth;
	int rc = parse_members_of(ps, obj, picking ? &sk : NULL);

	json_decref(sk.more);
	return rc;
}

/* sk: the dropped keys, when this object is picked; else NULL. */
static int parse_members_of(struct parser *ps, json_t *obj, struct skipped *sk)
{
	for (;;) {
		const char *key;
		size_t klen;
		json_t *v;
		char small[128], *k = small;
		bool checked;
		int rc;

		skip_ws(ps);
		if (ps->p >= ps->end || *ps->p != '"')
			return fail(ps, "string or '}' expected");
		if (string_span(ps, &key, &klen))
			return -1;
		if (memchr(key, '\0', klen))
			return fail(ps, "NUL byte in object key not supported");
		rc = sk ? pick_member(ps, sk, key, klen) : 0;
		if (rc < 0)
			return -1;
		if (rc == 1)
			goto next;
		checked = rc == 2;
		/* A key decoded into scratch is copied out: the value's strings reuse scratch. */
		if (key >= ps->start && key < ps->end) {
			k = (char *)key;
		} else {
			if (klen >= sizeof(small) && !(k = malloc(klen + 1)))
				return fail(ps, "out of memory");
			memcpy(k, key, klen);
		}
		rc = !checked && json_object_getn(obj, k, klen) ? fail(ps, "duplicate object key")
								: 0;
		skip_ws(ps);
		if (!rc && (ps->p >= ps->end || *ps->p != ':'))
			rc = fail(ps, "':' expected");
		if (!rc) {
			ps->p++;
			v = parse_value(ps);
			rc = !v || json_object_setn_new_nocheck(obj, k, klen, v) ? -1 : 0;
			if (rc && v)
				fail(ps, "out of memory");
		}
		if (k != small && k != key)
			free(k);
		if (rc)
			return -1;
	next:
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == '}') {
			ps->p++;
			return 0;
		}
		return fail(ps, "',' or '}' expected");
	}
}

static int parse_items(struct parser *ps, json_t *arr)
{
	for (;;) {
		json_t *v = parse_value(ps);
		if (!v)
			return -1;
		if (json_array_append_new(arr, v))
			return fail(ps, "out of memory");
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == ']') {
			ps->p++;
			return 0;
		}
		return fail(ps, "',' or ']' expected");
	}
}

static json_t *parse_container(struct parser *ps, char open)
{
	json_t *v = open == '{' ? json_object() : json_array();
	int rc;

	if (!v) {
		fail(ps, "out of memory");
		return NULL;
	}
	if (++ps->depth > PARSE_DEPTH_MAX) {
		json_decref(v);
		fail(ps, "maximum parsing depth reached");
		return NULL;
	}
	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == (open == '{' ? '}' : ']')) {
		ps->p++;
		rc = 0;
	} else {
		rc = open == '{' ? parse_members(ps, v) : parse_items(ps, v);
	}
	ps->depth--;
	if (rc) {
		json_decref(v);
		return NULL;
	}
	return v;
}

static json_t *parse_literal(struct parser *ps, const char *word, size_t n, json_t *v)
{
	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n)) {
		fail(ps, "invalid token");
		return NULL;
	}
	ps->p += n;
	return v;
}

static json_t *parse_value(struct parser *ps)
{
	const char *s;
	size_t len;
	json_t *v;

	skip_ws(ps);
	if (ps->p >= ps->end) {
		fail(ps, "premature end of input");
		return NULL;
	}
	switch (*ps->p) {
	case '{':
	case '[':
		return parse_container(ps, *ps->p);
	case '"':
		if (string_span(ps, &s, &len))
			return NULL;
		if (!(v = json_stringn_nocheck(s, len)))
			fail(ps, "out of memory");
		return v;
	case 't':
		return parse_literal(ps, "true", 4, json_true());
	case 'f':
		return parse_literal(ps, "false", 5, json_false());
	case 'n':
		return parse_literal(ps, "null", 4, json_null());
	default:
		if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9'))
			return parse_number(ps);
		fail(ps, "invalid token");
		return NULL;
	}
}

static void locate(const struct parser *ps, int *line, int *column)
{
	*line = 1;
	*column = 1;
	for (const char *q = ps->start; q < ps->p && q < ps->end; q++) {
		if (*q == '\n') {
			(*line)++;
			*column = 1;
		} else if (((unsigned char)*q & 0xc0) != 0x80) {
			(*column)++;
		}
	}
}

json_t *cx_json_parse(const char *buf, size_t len, struct cx_err *err)
{
	return cx_json_parse_pick(buf, len, NULL, err);
}

json_t *cx_json_parse_pick(const char *buf, size_t len, const struct cx_json_pick *pick,
			   struct cx_err *err)
{
	struct parser ps = { .start = buf, .p = buf, .end = buf + len, .pick = pick };
	json_t *v = NULL;
	int line, column;

	ps.scratch = (struct cx_buf)CX_BUF_INIT(SIZE_MAX - 1);
	skip_ws(&ps);
	if (ps.p >= ps.end || (*ps.p != '{' && *ps.p != '['))
		fail(&ps, "'[' or '{' expected");
	else if ((v = parse_value(&ps)) != NULL) {
		skip_ws(&ps);
		if (ps.p < ps.end) {
			fail(&ps, "end of input expected");
			json_decref(v);
			v = NULL;
		}
	}
	cx_buf_release(&ps.scratch);
	if (!v) {
		locate(&ps, &line, &column);
		cx_err_set(err, "line %d column %d: %s", line, column, ps.why);
	}
	return v;
}
