/* YAML to JSON with libyaml's event parser (see yaml.h). */
#include "yaml.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#define CX_YAML_DEPTH   64
#define CX_YAML_ALIASES 1000

struct cx_yaml {
	yaml_parser_t parser;
	json_t *anchors; /* anchor name -> value */
	struct cx_err *err;
	int aliases; /* followed so far: bounded, against exponential "billion laughs" */
};

static bool one_of(const char *s, const char *const *words)
{
	for (size_t i = 0; words[i]; i++)
		if (!strcmp(s, words[i]))
			return true;
	return false;
}

/* An integer as go-yaml v2 reads one: optional sign, decimal, 0x, 0o, 0 (octal), 0b; '_'
 * allowed between digits. */
static bool parse_int(const char *s, json_int_t *out)
{
	char buf[80], *end;
	size_t n = 0;
	int base = 10;
	const char *p = s;
	bool neg = false;
	long long v;

	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	if (!*p)
		return false;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
		base = 16, p += 2;
	else if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O'))
		base = 8, p += 2;
	else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B'))
		base = 2, p += 2;
	else if (p[0] == '0' && p[1])
		base = 8, p += 1;
	for (; *p; p++) {
		if (*p == '_')
			continue;
		if (n + 1 >= sizeof(buf))
			return false;
		buf[n++] = *p;
	}
	if (!n)
		return false;
	buf[n] = '\0';
	errno = 0;
	v = strtoll(buf, &end, base);
	if (errno || *end || buf[0] == '-' || buf[0] == '+')
		return false;
	*out = neg ? -v : v;
	return true;
}

static bool parse_real(const char *s, double *out)
{
	const char *p = s;
	char *end;
	bool digits = false;

	if (*p == '-' || *p == '+')
		p++;
	for (; *p; p++) {
		if (*p >= '0' && *p <= '9')
			digits = true;
		else if (*p != '.' && *p != 'e' && *p != 'E' && *p != '-' && *p != '+')
			return false;
	}
	if (!digits)
		return false;
	errno = 0;
	*out = strtod(s, &end);
	return !errno && !*end && isfinite(*out);
}

static json_t *scalar(const yaml_event_t *ev)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL", NULL };
	static const char *const yes[] = { "true", "True", "TRUE", "yes", "Yes", "YES",
					   "on",   "On",   "ON",   "y",   "Y",   NULL };
	static const char *const no[] = { "false", "False", "FALSE", "no", "No", "NO",
					  "off",   "Off",   "OFF",   "n",  "N",  NULL };
	const char *s = (const char *)ev->data.scalar.value;
	const char *tag = (const char *)ev->data.scalar.tag;
	size_t len = ev->data.scalar.length;
	json_int_t i;
	double d;

	if (tag && !strcmp(tag, YAML_STR_TAG))
		return json_stringn(s, len);
	if (!ev->data.scalar.plain_implicit && !tag)
		return json_stringn(s, len);
	if (strlen(s) != len) /* an embedded NUL: keep it a string */
		return json_stringn(s, len);
	if (one_of(s, nulls))
		return json_null();
	if (one_of(s, yes))
		return json_true();
	if (one_of(s, no))
		return json_false();
	if (parse_int(s, &i))
		return json_integer(i);
	if (parse_real(s, &d))
		return json_real(d);
	return json_stringn(s, len);
}

static int fail(struct cx_yaml *y, const yaml_event_t *ev, const char *what)
{
	return cx_err_set(y->err, "line %zu column %zu: %s", ev->start_mark.line + 1,
			  ev->start_mark.column + 1, what);
}

static int next_event(struct cx_yaml *y, yaml_event_t *ev)
{
	if (yaml_parser_parse(&y->parser, ev))
		return 0;
	return cx_err_set(y->err, "line %zu column %zu: %s", y->parser.problem_mark.line + 1,
			  y->parser.problem_mark.column + 1,
			  y->parser.problem ? y->parser.problem : "invalid YAML");
}

static int node(struct cx_yaml *y, yaml_event_t *ev, int depth, json_t **out);

/* Reads the items of a sequence or mapping whose start event was just read, until its end. */
static int collection(struct cx_yaml *y, bool map, int depth, json_t *c)
{
	yaml_event_t ev, kev;
	json_t *k = NULL, *v = NULL;
	int rc = -1;

	for (;;) {
		if (next_event(y, &ev))
			return -1;
		if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&ev);
			return 0;
		}
		if (!map) {
			rc = node(y, &ev, depth + 1, &v);
			yaml_event_delete(&ev);
			if (rc || json_array_append_new(c, v))
				return -1;
			continue;
		}
		kev = ev;
		rc = node(y, &kev, depth + 1, &k);
		if (!rc && !json_is_string(k)) {
			/* sigs.k8s.io/yaml turns scalar keys into their text */
			json_decref(k);
			k = kev.type == YAML_SCALAR_EVENT
				    ? json_stringn((const char *)kev.data.scalar.value,
						   kev.data.scalar.length)
				    : NULL;
			if (!k)
				rc = fail(y, &kev, "a mapping key must be a scalar");
		}
		yaml_event_delete(&kev);
		if (rc)
			return -1;
		if (next_event(y, &ev)) {
			json_decref(k);
			return -1;
		}
		rc = node(y, &ev, depth + 1, &v);
		yaml_event_delete(&ev);
		if (!rc)
			rc = json_object_set_new(c, json_string_value(k), v) ? -1 : 0;
		json_decref(k);
		if (rc)
			return -1;
	}
}

static int remember(struct cx_yaml *y, const yaml_char_t *anchor, json_t *v)
{
	if (!anchor)
		return 0;
	return json_object_set(y->anchors, (const char *)anchor, v);
}

/* The value that starts with ev (borrowed; the caller deletes it). */
static int node(struct cx_yaml *y, yaml_event_t *ev, int depth, json_t **out)
{
	bool map = ev->type == YAML_MAPPING_START_EVENT;
	json_t *v;

	*out = NULL;
	if (depth > CX_YAML_DEPTH)
		return fail(y, ev, "nested deeper than 64 levels");
	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		v = json_object_get(y->anchors, (const char *)ev->data.alias.anchor);
		if (!v)
			return fail(y, ev, "an alias names an unknown anchor");
		if (++y->aliases > CX_YAML_ALIASES)
			return fail(y, ev, "more than 1000 aliases");
		*out = json_incref(v);
		return 0;
	case YAML_SCALAR_EVENT:
		*out = scalar(ev);
		if (!*out)
			return cx_err_set(y->err, "out of memory, or a string that is not UTF-8");
		return remember(y, ev->data.scalar.anchor, *out);
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		v = map ? json_object() : json_array();
		if (!v)
			return cx_err_set(y->err, "out of memory");
		if (collection(y, map, depth, v)) {
			json_decref(v);
			return -1;
		}
		*out = v;
		return remember(y,
				map ? ev->data.mapping_start.anchor
				    : ev->data.sequence_start.anchor,
				v);
	default:
		return fail(y, ev, "unexpected YAML event");
	}
}

/* Reads the next document into docs; *done at the end of the stream. */
static int document(struct cx_yaml *y, json_t *docs, bool *done)
{
	yaml_event_t ev;
	json_t *v = NULL;
	int rc;

	do {
		if (next_event(y, &ev))
			return -1;
		*done = ev.type == YAML_STREAM_END_EVENT;
		if (ev.type == YAML_DOCUMENT_START_EVENT || *done)
			break;
		yaml_event_delete(&ev);
	} while (1);
	yaml_event_delete(&ev);
	if (*done)
		return 0;
	json_object_clear(y->anchors);
	if (next_event(y, &ev))
		return -1;
	rc = node(y, &ev, 0, &v);
	yaml_event_delete(&ev);
	if (rc)
		return -1;
	if (next_event(y, &ev)) {
		json_decref(v);
		return -1;
	}
	yaml_event_delete(&ev); /* DOCUMENT_END */
	if (json_is_null(v)) {
		json_decref(v);
		return 0;
	}
	return json_array_append_new(docs, v) ? cx_err_set(y->err, "out of memory") : 0;
}

json_t *cx_yaml_load_all(const char *text, size_t len, struct cx_err *err)
{
	struct cx_yaml y = { .err = err };
	json_t *docs = json_array();
	bool done = false;

	y.anchors = json_object();
	if (!docs || !y.anchors || !yaml_parser_initialize(&y.parser)) {
		cx_err_set(err, "out of memory");
		json_decref(docs);
		json_decref(y.anchors);
		return NULL;
	}
	yaml_parser_set_input_string(&y.parser, (const unsigned char *)text, len);
	while (!done) {
		if (document(&y, docs, &done)) {
			json_decref(docs);
			docs = NULL;
			break;
		}
	}
	yaml_parser_delete(&y.parser);
	json_decref(y.anchors);
	return docs;
}

json_t *cx_yaml_load_one(const char *text, size_t len, struct cx_err *err)
{
	json_t *docs = cx_yaml_load_all(text, len, err), *v;

	if (!docs)
		return NULL;
	if (json_array_size(docs) != 1) {
		cx_err_set(err, "expected one YAML document, found %zu", json_array_size(docs));
		json_decref(docs);
		return NULL;
	}
	v = json_incref(json_array_get(docs, 0));
	json_decref(docs);
	return v;
}
