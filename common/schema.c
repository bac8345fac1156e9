/* A JSON Schema subset for tool arguments: compiled once into a tree, validated many times.
 *
 * Compilation is table-driven: every keyword of a schema object is looked up in one table of
 * handlers, and a keyword that is not there fails, so no part of a tool's schema is silently
 * ignored. The compiled tree is immutable; validation only reads it, renders paths and messages
 * into the caller's buffer and calls regexec, so any number of threads may share one schema. */
#include "schema.h"

#include <limits.h>
#include <regex.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Schemas nest only as deep as a tool's arguments do; this bounds the recursion of both
 * compilation and validation (validation descends only where the schema does). */
#define SCHEMA_MAX_DEPTH 32

enum {
	T_OBJECT = 1u << 0,
	T_ARRAY = 1u << 1,
	T_STRING = 1u << 2,
	T_NUMBER = 1u << 3,
	T_INTEGER = 1u << 4,
	T_BOOLEAN = 1u << 5,
	T_NULL = 1u << 6,
};

static const struct {
	const char *name;
	const char *article;    /* for "must be an integer" */
	unsigned bit;
} type_names[] = {
	{ "object", "an ", T_OBJECT },
	{ "array", "an ", T_ARRAY },
	{ "string", "a ", T_STRING },
	{ "number", "a ", T_NUMBER },
	{ "integer", "an ", T_INTEGER },
	{ "boolean", "a ", T_BOOLEAN },
	{ "null", "", T_NULL },
};

#define NTYPES (sizeof(type_names) / sizeof(type_names[0]))

/* A numeric bound keeps the JSON integer exact: a vmid limit of 999999999999 must not round. */
struct bound {
	bool set;
	bool is_int;
	json_int_t i;
	double d;
	char text[32];  /* as written in messages: shortest form that reads back the same */
};

struct prop {
	char *name;
	struct cx_schema *schema;
};

enum additional { ADD_ANY, ADD_NONE, ADD_SCHEMA };

struct cx_schema {
	unsigned types;                 /* 0: any type */
	struct bound minimum, maximum, xminimum, xmaximum;
	json_int_t min_length, max_length;      /* -1: unset */
	bool has_pattern;
	regex_t pattern;
	char *pattern_src;
	json_int_t min_items, max_items;        /* -1: unset */
	struct cx_schema *items;
	char **required;
	size_t nrequired;
	struct prop *props;             /* in the schema's order, so errors come in that order */
	size_t nprops;
	enum additional additional;
	struct cx_schema *additional_schema;
	json_t *enum_values;            /* own deep copy, never mutated */
	char *enum_text;                /* "\"fast\", \"slow\"", rendered at compile time */
	json_t *const_value;
	char *const_text;
};

/* ---------------------------------------------------------------------------------------------
 * Paths: a chain of segments on the stack, rendered only when there is something to report. */

struct seg {
	const struct seg *parent;       /* NULL for the root */
	const char *key;                /* root name or property name; NULL for an array index */
	size_t index;
};

/* A bounded writer into the caller's buffer: always NUL-terminated, never splits a UTF-8
 * sequence when it has to cut. */
struct out {
	char *p;
	size_t cap;
	size_t len;
	bool full;
};

static void out_init(struct out *o, char *p, size_t cap)
{
	o->p = p;
	o->cap = cap;
	o->len = 0;
	o->full = cap == 0;
	if (cap > 0)
		p[0] = '\0';
}

static void out_putn(struct out *o, const char *s, size_t n)
{
	size_t room;

	if (o->full)
		return;
	room = o->cap - 1 - o->len;
	if (n > room) {
		n = room;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
		o->full = true;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

static void out_puts(struct out *o, const char *s)
{
	out_putn(o, s, strlen(s));
}

static void out_printf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void out_printf(struct out *o, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	out_putn(o, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* Names come from clients; control characters would forge log lines, so they become '?'.
 * Safe bytes go out in runs so that a cut never lands inside a UTF-8 sequence. */
static void out_name(struct out *o, const char *s, bool escape_quotes)
{
	const char *run = s;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		bool ctl = c < 0x20 || c == 0x7f;

		if (!ctl && !(escape_quotes && (c == '"' || c == '\\')))
			continue;
		out_putn(o, run, (size_t)(s - run));
		out_puts(o, ctl ? "?" : c == '"' ? "\\\"" : "\\\\");
		run = s + 1;
	}
	out_putn(o, run, (size_t)(s - run));
}

static bool plain_key(const char *k)
{
	if (!*k)
		return false;
	for (; *k; k++) {
		unsigned char c = (unsigned char)*k;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '$'))
			return false;
	}
	return true;
}

/* root, root.key, root["odd key"], root[3] */
static void out_path(struct out *o, const struct seg *s)
{
	if (!s)
		return;
	out_path(o, s->parent);
	if (!s->parent) {
		out_name(o, s->key, false);
	} else if (!s->key) {
		out_printf(o, "[%zu]", s->index);
	} else if (plain_key(s->key)) {
		out_putn(o, ".", 1);
		out_puts(o, s->key);
	} else {
		out_putn(o, "[\"", 2);
		out_name(o, s->key, true);
		out_putn(o, "\"]", 2);
	}
}

/* ---------------------------------------------------------------------------------------------
 * Compilation. */

static int fail(struct cx_err *err, const struct seg *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct cx_err *err, const struct seg *path, const char *fmt, ...)
{
	char where[CX_ERR_MSG_MAX / 2], what[CX_ERR_MSG_MAX / 2];
	struct out o;
	va_list ap;

	out_init(&o, where, sizeof(where));
	out_path(&o, path);
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return cx_err_set(err, "%s: %s", where, what);
}

static int oom(struct cx_err *err)
{
	return cx_err_set(err, "out of memory");
}

static struct cx_schema *compile_node(const json_t *j, const struct seg *path, int depth,
				      struct cx_err *err);

static void format_double(double d, char *out, size_t outlen)
{
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(out, outlen, "%.*g", prec, d);
		if (strtod(out, NULL) == d)
			return;
	}
}

static int set_bound(struct bound *b, const json_t *v, const struct seg *path,
		     struct cx_err *err)
{
	if (!json_is_number(v))
		return fail(err, path, "must be a number");
	b->set = true;
	b->is_int = json_is_integer(v);
	if (b->is_int) {
		b->i = json_integer_value(v);
		b->d = (double)b->i;
		snprintf(b->text, sizeof(b->text), "%" JSON_INTEGER_FORMAT, b->i);
	} else {
		b->d = json_real_value(v);
		format_double(b->d, b->text, sizeof(b->text));
	}
	return 0;
}

static int set_count(json_int_t *n, const json_t *v, const struct seg *path, struct cx_err *err)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return fail(err, path, "must be a non-negative integer");
	*n = json_integer_value(v);
	return 0;
}

static int type_bit(const char *name)
{
	for (size_t i = 0; i < NTYPES; i++)
		if (!strcmp(type_names[i].name, name))
			return (int)type_names[i].bit;
	return 0;
}

static int kw_type(struct cx_schema *s, const json_t *v, const struct seg *path, int depth,
		   struct cx_err *err)
{
	size_t i;
	json_t *t;
	int bit;

	if (json_is_string(v)) {
		bit = type_bit(json_string_value(v));
		if (!bit)
			return fail(err, path, "unknown type '%s'", json_string_value(v));
		s->types = (unsigned)bit;
		return 0;
	}
	if (!json_is_array(v) || json_array_size(v) == 0)
		return fail(err, path, "must be a type name or a non-empty array of type names");
	json_array_foreach(v, i, t) {
		struct seg at = { path, NULL, i };

		if (!json_is_string(t))
			return fail(err, &at, "must be a string");
		bit = type_bit(json_string_value(t));
		if (!bit)
			return fail(err, &at, "unknown type '%s'", json_string_value(t));
		s->types |= (unsigned)bit;
	}
	return 0;
}

static int kw_minimum(struct cx_schema *s, const json_t *v, const struct seg *path, int depth,
		      struct cx_err *err)
{
	return set_bound(&s->minimum, v, path, err);
}

static int kw_maximum(struct cx_schema *s, const json_t *v, const struct seg *path, int depth,
		      struct cx_err *err)
{
	return set_bound(&s->maximum, v, path, err);
}

static int kw_xminimum(struct cx_schema *s, const json_t *v, const struct seg *path, int depth,
		       struct cx_err *err)
{
	return set_bound(&s->xminimum, v, path, err);
}

static int kw_xmaximum(struct cx_schema *s, const json_t *v, const struct seg *path, int depth,
		       struct cx_err *err)
{
	return set_bound(&s->xmaximum, v, path, err);
}

static int kw_min_length(struct cx_schema *s, const json_t *v, const struct seg *path, int depth,
			 struct cx_err *err)
{
	return set_count(&s->min_length, v, path, err);
}

static int kw_max_length(struct cx_schema *s, const json_t *v, const struct seg *path, int depth,
			 struct cx_err *err)
{
	return set_count(&s->max_length, v, path, err);
}

static int kw_min_items(struct cx_schema *s, const json_t *v, const struct seg *path, int depth,
			struct cx_err *err)
{
	return set_count(&s->min_items, v, path, err);
}

static int kw_max_items(struct cx_schema *s, const json_t *v, const struct seg *path, int depth,
			struct cx_err *err)
{
	return set_count(&s->max_items, v, path, err);
}

static int kw_pattern(struct cx_schema *s, const json_t *v, const struct seg *path, int depth,
		      struct cx_err *err)
{
	char why[128];
	int rc;

	if (!json_is_string(v))
		return fail(err, path, "must be a string");
	if (strlen(json_string_value(v)) != json_string_length(v))
		return fail(err, path, "must not contain NUL characters");
	rc = regcomp(&s->pattern, json_string_value(v), REG_EXTENDED | REG_NOSUB);
	if (rc != 0) {
		regerror(rc, &s->pattern, why, sizeof(why));
		return fail(err, path, "invalid regular expression '%s': %s", json_string_value(v),
			    why);
	}
	s->has_pattern = true;
	s->pattern_src = strdup(json_string_value(v));
	if (!s->pattern_src)
		return oom(err);
	return 0;
}

static int kw_items(struct cx_schema *s, const json_t *v, const struct seg *path, int depth,
		    struct cx_err *err)
{
	s->items = compile_node(v, path, depth + 1, err);
	return s->items ? 0 : -1;
}

static int kw_required(struct cx_schema *s, const json_t *v, const struct seg *path, int depth,
		       struct cx_err *err)
{
	size_t i;
	json_t *name;

	if (!json_is_array(v))
		return fail(err, path, "must be an array of property names");
	s->required = calloc(json_array_size(v) + 1, sizeof(*s->required));
	if (!s->required)
		return oom(err);
	json_array_foreach(v, i, name) {
		struct seg at = { path, NULL, i };

		if (!json_is_string(name))
			return fail(err, &at, "must be a string");
		s->required[i] = strdup(json_string_value(name));
		if (!s->required[i])
			return oom(err);
		s->nrequired = i + 1;
	}
	return 0;
}

static int kw_properties(struct cx_schema *s, const json_t *v, const struct seg *path, int depth,
			 struct cx_err *err)
{
	const char *name;
	json_t *sub;

	if (!json_is_object(v))
		return fail(err, path, "must be an object");
	s->props = calloc(json_object_size(v) + 1, sizeof(*s->props));
	if (!s->props)
		return oom(err);
	json_object_foreach((json_t *)v, name, sub) {
		struct seg at = { path, name, 0 };
		struct prop *p = &s->props[s->nprops];

		p->name = strdup(name);
		if (!p->name)
			return oom(err);
		s->nprops++;
		p->schema = compile_node(sub, &at, depth + 1, err);
		if (!p->schema)
			return -1;
	}
	return 0;
}

static int kw_additional(struct cx_schema *s, const json_t *v, const struct seg *path, int depth,
			 struct cx_err *err)
{
	if (json_is_boolean(v)) {
		s->additional = json_is_true(v) ? ADD_ANY : ADD_NONE;
		return 0;
	}
	if (!json_is_object(v))
		return fail(err, path, "must be a boolean or a schema object");
	s->additional = ADD_SCHEMA;
	s->additional_schema = compile_node(v, path, depth + 1, err);
	return s->additional_schema ? 0 : -1;
}

/* Caller frees; NULL on out of memory. */
static char *dump_value(const json_t *v)
{
	return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
}

static int kw_enum(struct cx_schema *s, const json_t *v, const struct seg *path, int depth,
		   struct cx_err *err)
{
	char buf[CX_ERR_MSG_MAX];
	struct out o;
	size_t i;
	json_t *e;

	if (!json_is_array(v) || json_array_size(v) == 0)
		return fail(err, path, "must be a non-empty array");
	s->enum_values = json_deep_copy(v);
	if (!s->enum_values)
		return oom(err);
	/* Rendered now, once: messages are bounded anyway and validation then never allocates. */
	out_init(&o, buf, sizeof(buf));
	json_array_foreach(v, i, e) {
		char *text = dump_value(e);

		if (!text)
			return oom(err);
		if (i > 0)
			out_puts(&o, ", ");
		out_puts(&o, text);
		free(text);
	}
	s->enum_text = strdup(buf);
	return s->enum_text ? 0 : oom(err);
}

static int kw_const(struct cx_schema *s, const json_t *v, const struct seg *path, int depth,
		    struct cx_err *err)
{
	s->const_value = json_deep_copy(v);
	if (!s->const_value)
		return oom(err);
	s->const_text = dump_value(v);
	return s->const_text ? 0 : oom(err);
}

static const struct keyword {
	const char *name;
	/* NULL: an annotation, accepted and ignored whatever its value */
	int (*compile)(struct cx_schema *s, const json_t *v, const struct seg *path, int depth,
		       struct cx_err *err);
} keywords[] = {
	{ "type", kw_type },
	{ "required", kw_required },
	{ "properties", kw_properties },
	{ "additionalProperties", kw_additional },
	{ "enum", kw_enum },
	{ "const", kw_const },
	{ "minimum", kw_minimum },
	{ "maximum", kw_maximum },
	{ "exclusiveMinimum", kw_xminimum },
	{ "exclusiveMaximum", kw_xmaximum },
	{ "minLength", kw_min_length },
	{ "maxLength", kw_max_length },
	{ "pattern", kw_pattern },
	{ "items", kw_items },
	{ "minItems", kw_min_items },
	{ "maxItems", kw_max_items },
	{ "title", NULL },
	{ "description", NULL },
	{ "default", NULL },
	{ "examples", NULL },
	{ "format", NULL },
	{ "$schema", NULL },
	{ "$id", NULL },
	{ "$comment", NULL },
	{ "deprecated", NULL },
	{ "readOnly", NULL },
	{ "writeOnly", NULL },
};

static const struct keyword *find_keyword(const char *name)
{
	for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
		if (!strcmp(keywords[i].name, name))
			return &keywords[i];
	return NULL;
}

static struct cx_schema *compile_node(const json_t *j, const struct seg *path, int depth,
				      struct cx_err *err)
{
	struct cx_schema *s;
	const char *key;
	json_t *v;

	if (!json_is_object(j)) {
		fail(err, path, "must be an object");
		return NULL;
	}
	if (depth > SCHEMA_MAX_DEPTH) {
		fail(err, path, "nested more than %d levels deep", SCHEMA_MAX_DEPTH);
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		oom(err);
		return NULL;
	}
	s->min_length = s->max_length = s->min_items = s->max_items = -1;
	json_object_foreach((json_t *)j, key, v) {
		const struct keyword *kw = find_keyword(key);
		struct seg at = { path, key, 0 };

		/* "x-" keywords are extensions that annotate, never constrain (MCP's
		 * x-mcp-header names the HTTP header that mirrors an argument). */
		if (!kw && !strncmp(key, "x-", 2))
			continue;
		if (!kw) {
			fail(err, path, "unsupported keyword '%s'", key);
			goto fail;
		}
		if (kw->compile && kw->compile(s, v, &at, depth, err) < 0)
			goto fail;
	}
	return s;
fail:
	cx_schema_free(s);
	return NULL;
}

struct cx_schema *cx_schema_compile(const json_t *schema, struct cx_err *err)
{
	struct seg root = { NULL, "schema", 0 };

	return compile_node(schema, &root, 0, err);
}

void cx_schema_free(struct cx_schema *s)
{
	if (!s)
		return;
	if (s->has_pattern)
		regfree(&s->pattern);
	free(s->pattern_src);
	cx_schema_free(s->items);
	for (size_t i = 0; i < s->nrequired; i++)
		free(s->required[i]);
	free(s->required);
	for (size_t i = 0; i < s->nprops; i++) {
		free(s->props[i].name);
		cx_schema_free(s->props[i].schema);
	}
	free(s->props);
	cx_schema_free(s->additional_schema);
	json_decref(s->enum_values);
	free(s->enum_text);
	json_decref(s->const_value);
	free(s->const_text);
	free(s);
}

/* ---------------------------------------------------------------------------------------------
 * Validation. */

/* Starts the message with the path; the caller appends the sentence. Returns -1. */
static int report(struct out *o, const struct seg *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int report(struct out *o, const struct seg *path, const char *fmt, ...)
{
	char tmp[CX_ERR_MSG_MAX];
	va_list ap;
	int n;

	out_path(o, path);
	out_puts(o, ": ");
	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n >= 0)
		out_putn(o, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
	return -1;
}

static bool is_integral(const json_t *v)
{
	double d;

	if (json_is_integer(v))
		return true;
	if (!json_is_real(v))
		return false;
	/* Beyond 2^52 every double is a whole number; below it the cast is exact and defined.
	 * No floor(): libcortex does not link libm. */
	d = json_real_value(v);
	if (d >= 4503599627370496.0 || d <= -4503599627370496.0)
		return true;
	return (double)(int64_t)d == d;
}

static bool type_matches(unsigned types, const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return types & T_OBJECT;
	case JSON_ARRAY:
		return types & T_ARRAY;
	case JSON_STRING:
		return types & T_STRING;
	case JSON_INTEGER:
		return types & (T_NUMBER | T_INTEGER);
	case JSON_REAL:
		return (types & T_NUMBER) || ((types & T_INTEGER) && is_integral(v));
	case JSON_TRUE:
	case JSON_FALSE:
		return types & T_BOOLEAN;
	case JSON_NULL:
		return types & T_NULL;
	}
	return false;
}

/* "must be a string", "must be a string or null", "must be an object, an array or null" */
static int report_type(struct out *o, const struct seg *path, unsigned types)
{
	size_t n = 0, seen = 0;

	for (size_t i = 0; i < NTYPES; i++)
		n += (types & type_names[i].bit) != 0;
	report(o, path, "must be ");
	for (size_t i = 0; i < NTYPES; i++) {
		if (!(types & type_names[i].bit))
			continue;
		if (seen > 0)
			out_puts(o, seen + 1 == n ? " or " : ", ");
		out_puts(o, type_names[i].article);
		out_puts(o, type_names[i].name);
		seen++;
	}
	return -1;
}

/* <0, 0, >0 as v is below, at or above the bound; integers compare exactly. */
static int compare(const json_t *v, const struct bound *b)
{
	long double x, y;

	if (json_is_integer(v) && b->is_int) {
		json_int_t i = json_integer_value(v);

		return (i > b->i) - (i < b->i);
	}
	x = json_is_integer(v) ? (long double)json_integer_value(v) : json_real_value(v);
	y = b->is_int ? (long double)b->i : b->d;
	return (x > y) - (x < y);
}

static int check_number(const struct cx_schema *s, const json_t *v, const struct seg *path,
			struct out *o)
{
	if (s->minimum.set && compare(v, &s->minimum) < 0)
		return report(o, path, "must be at least %s", s->minimum.text);
	if (s->maximum.set && compare(v, &s->maximum) > 0)
		return report(o, path, "must be at most %s", s->maximum.text);
	if (s->xminimum.set && compare(v, &s->xminimum) <= 0)
		return report(o, path, "must be greater than %s", s->xminimum.text);
	if (s->xmaximum.set && compare(v, &s->xmaximum) >= 0)
		return report(o, path, "must be less than %s", s->xmaximum.text);
	return 0;
}

static size_t utf8_length(const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xC0) != 0x80;
	return n;
}

static const char *plural(json_int_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

static int check_string(const struct cx_schema *s, const json_t *v, const struct seg *path,
			struct out *o)
{
	const char *str = json_string_value(v);
	size_t len = json_string_length(v);
	size_t chars = utf8_length(str, len);

	if (s->min_length >= 0 && chars < (size_t)s->min_length)
		return report(o, path, "must be at least %" JSON_INTEGER_FORMAT " %s",
			      s->min_length, plural(s->min_length, "character", "characters"));
	if (s->max_length >= 0 && chars > (size_t)s->max_length)
		return report(o, path, "must be at most %" JSON_INTEGER_FORMAT " %s",
			      s->max_length, plural(s->max_length, "character", "characters"));
	if (s->has_pattern) {
		/* REG_STARTEND makes the whole string the subject: "abc\u0000; rm" must not pass
		 * ^[a-z]+$ by hiding its tail behind a NUL. */
		regmatch_t range = { .rm_so = 0, .rm_eo = (regoff_t)len };

		if (len > INT_MAX || regexec(&s->pattern, str, 1, &range, REG_STARTEND) != 0) {
			report(o, path, "must match pattern '");
			out_puts(o, s->pattern_src);
			out_puts(o, "'");
			return -1;
		}
	}
	return 0;
}

static int validate_node(const struct cx_schema *s, const json_t *v, const struct seg *path,
			 struct out *o);

static int check_array(const struct cx_schema *s, const json_t *v, const struct seg *path,
		       struct out *o)
{
	size_t n = json_array_size(v);

	if (s->min_items >= 0 && n < (size_t)s->min_items)
		return report(o, path, "must have at least %" JSON_INTEGER_FORMAT " %s",
			      s->min_items, plural(s->min_items, "item", "items"));
	if (s->max_items >= 0 && n > (size_t)s->max_items)
		return report(o, path, "must have at most %" JSON_INTEGER_FORMAT " %s",
			      s->max_items, plural(s->max_items, "item", "items"));
	if (s->items) {
		for (size_t i = 0; i < n; i++) {
			struct seg at = { path, NULL, i };

			if (validate_node(s->items, json_array_get(v, i), &at, o) < 0)
				return -1;
		}
	}
	return 0;
}

static const struct cx_schema *find_prop(const struct cx_schema *s, const char *name)
{
	for (size_t i = 0; i < s->nprops; i++)
		if (!strcmp(s->props[i].name, name))
			return s->props[i].schema;
	return NULL;
}

static int check_object(const struct cx_schema *s, const json_t *v, const struct seg *path,
			struct out *o)
{
	const char *key;
	json_t *val;

	for (size_t i = 0; i < s->nrequired; i++) {
		if (!json_object_get(v, s->required[i])) {
			report(o, path, "missing required property '");
			out_name(o, s->required[i], false);
			out_puts(o, "'");
			return -1;
		}
	}
	for (size_t i = 0; i < s->nprops; i++) {
		const json_t *pv = json_object_get(v, s->props[i].name);
		struct seg at = { path, s->props[i].name, 0 };

		if (pv && validate_node(s->props[i].schema, pv, &at, o) < 0)
			return -1;
	}
	if (s->additional == ADD_ANY)
		return 0;
	json_object_foreach((json_t *)v, key, val) {
		struct seg at = { path, key, 0 };

		if (find_prop(s, key))
			continue;
		if (s->additional == ADD_NONE) {
			report(o, path, "unexpected property '");
			out_name(o, key, false);
			out_puts(o, "'");
			return -1;
		}
		if (validate_node(s->additional_schema, val, &at, o) < 0)
			return -1;
	}
	return 0;
}

/* JSON Schema equality for enum and const: like json_equal, except that numbers compare by
 * value, so 1 and 1.0 are the same instance. */
static bool values_equal(const json_t *a, const json_t *b)
{
	if (json_is_number(a) && json_is_number(b)) {
		const json_t *r;
		double d;

		if (json_is_integer(a) && json_is_integer(b))
			return json_integer_value(a) == json_integer_value(b);
		if (json_is_real(a) && json_is_real(b))
			return json_real_value(a) == json_real_value(b);
		/* One of each: exact, so 2^53 + 1 is not 2^53 */
		r = json_is_real(a) ? a : b;
		d = json_real_value(r);
		if (!is_integral(r) || d < -9223372036854775808.0 || d >= 9223372036854775808.0)
			return false;
		return (json_int_t)d == json_integer_value(r == a ? b : a);
	}
	if (json_typeof(a) != json_typeof(b))
		return false;
	if (json_is_array(a)) {
		if (json_array_size(a) != json_array_size(b))
			return false;
		for (size_t i = 0; i < json_array_size(a); i++)
			if (!values_equal(json_array_get(a, i), json_array_get(b, i)))
				return false;
		return true;
	}
	if (json_is_object(a)) {
		const char *key;
		json_t *av;

		if (json_object_size(a) != json_object_size(b))
			return false;
		json_object_foreach((json_t *)a, key, av) {
			const json_t *bv = json_object_get(b, key);

			if (!bv || !values_equal(av, bv))
				return false;
		}
		return true;
	}
	return json_equal(a, b);
}

static int validate_node(const struct cx_schema *s, const json_t *v, const struct seg *path,
			 struct out *o)
{
	if (s->types && !type_matches(s->types, v))
		return report_type(o, path, s->types);
	if (s->const_value && !values_equal(s->const_value, v))
		return report(o, path, "must be equal to %s", s->const_text);
	if (s->enum_values) {
		size_t i;
		json_t *e;
		bool found = false;

		json_array_foreach(s->enum_values, i, e) {
			if (values_equal(e, v)) {
				found = true;
				break;
			}
		}
		if (!found) {
			report(o, path, "must be one of ");
			out_puts(o, s->enum_text);
			return -1;
		}
	}
	switch (json_typeof(v)) {
	case JSON_INTEGER:
	case JSON_REAL:
		return check_number(s, v, path, o);
	case JSON_STRING:
		return check_string(s, v, path, o);
	case JSON_ARRAY:
		return check_array(s, v, path, o);
	case JSON_OBJECT:
		return check_object(s, v, path, o);
	default:
		return 0;
	}
}

int cx_schema_validate(const struct cx_schema *s, const json_t *instance, const char *root,
		       char *msg, size_t msglen)
{
	struct seg top = { NULL, root ? root : "value", 0 };
	char dummy[1];
	struct out o;

	/* With nowhere to write, the verdict still counts. */
	if (!msg) {
		msg = dummy;
		msglen = sizeof(dummy);
	}
	out_init(&o, msg, msglen);
	if (!instance)
		return report(&o, &top, "is missing");
	return validate_node(s, instance, &top, &o) < 0 ? -1 : 0;
}
