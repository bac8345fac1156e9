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

#include "schema_impl.h"

/* ---------------------------------------------------------------------------------------------
 * Compilation. */

static int fail(struct cx_err *err, const struct seg *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct cx_err *err, const struct seg *path, const char *fmt, ...)
{
	char where[CX_ERR_MSG_MAX / 2], what[CX_ERR_MSG_MAX / 2];
	struct out o;
	va_list ap;

	cx_sch_out_init(&o, where, sizeof(where));
	cx_sch_out_path(&o, path);
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

static int set_bound(struct bound *b, const json_t *v, const struct seg *path, struct cx_err *err)
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
	for (size_t i = 0; i < CX_SCH_NTYPES; i++)
		if (!strcmp(cx_sch_types[i].name, name))
			return (int)cx_sch_types[i].bit;
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

/* glibc's regcomp copies an operand's tree once for each repetition it spells out (X+ as
 * XX*, X{2,5} as five copies), so stacked or nested repetitions grow it exponentially: the
 * schema fuzz target found a 300-byte pattern that took 2 GB. This estimates the tree the same
 * way and refuses a pattern past PATTERN_NODES_MAX. */
#define PATTERN_NODES_MAX  20000
#define PATTERN_GROUPS_MAX 32

/* Past a bracket expression starting at p ('['); "[]a]", "[^]a]" and "[[:alpha:]]" included. */
static const char *skip_bracket(const char *p)
{
	p++;
	if (*p == '^')
		p++;
	if (*p == ']')
		p++;
	while (*p && *p != ']') {
		if (*p == '[' && (p[1] == ':' || p[1] == '=' || p[1] == '.')) {
			const char *end = strchr(p + 2, p[1]);

			p = end && end[1] == ']' ? end + 2 : p + 1;
		} else {
			p++;
		}
	}
	return *p ? p + 1 : p;
}

/* How many copies of its operand a repetition starting at *pp may cost ("{m,n}" n + 1, the
 * others two: an over-estimate for '*' and '?', on the safe side); moves *pp to its last
 * character. */
static size_t repeat_copies(const char **pp)
{
	const char *p = *pp;
	size_t m = 0, n = 0;

	if (*p != '{')
		return 2;
	for (p++; *p >= '0' && *p <= '9' && m < 100000; p++)
		m = m * 10 + (size_t)(*p - '0');
	n = m;
	if (*p == ',')
		for (n = 0, p++; *p >= '0' && *p <= '9' && n < 100000; p++)
			n = n * 10 + (size_t)(*p - '0');
	while (*p && *p != '}')
		p++;
	*pp = *p ? p : p - 1;
	return (n > m ? n : m) + 1;
}

/* Stacked repetitions ("a+*", "a{2}{3}") are refused outright: POSIX leaves them undefined,
 * and glibc's tree for them grows faster than the estimate. */
static bool pattern_too_big(const char *p)
{
	size_t stack[PATTERN_GROUPS_MAX], depth = 0, cur = 0, last = 0;
	bool repeated = false;

	for (; *p; p++) {
		if (*p == '*' || *p == '+' || *p == '?' || *p == '{') {
			size_t copies = repeat_copies(&p);

			if (repeated || (last && copies > PATTERN_NODES_MAX / last))
				return true;
			repeated = true;
			cur += last * (copies - 1) + 1;
			last = last * copies + 1;
		} else if (*p == '(') {
			if (depth == PATTERN_GROUPS_MAX)
				return true;
			stack[depth++] = cur;
			cur = last = 0;
			repeated = false;
		} else if (*p == ')' && depth) {
			last = cur + 1;
			cur = stack[--depth] + last;
			repeated = false;
		} else {
			repeated = false;
			if (*p == '[')
				p = skip_bracket(p) - 1;
			else if (*p == '\\' && p[1])
				p++;
			last = 1;
			cur++;
		}
		if (cur > PATTERN_NODES_MAX)
			return true;
	}
	return false;
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
	if (pattern_too_big(json_string_value(v)))
		return fail(err, path,
			    "regular expression '%.100s' repeats too much (stacked or nested "
			    "repetitions); simplify it",
			    json_string_value(v));
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
	cx_sch_out_init(&o, buf, sizeof(buf));
	json_array_foreach(v, i, e) {
		char *text = dump_value(e);

		if (!text)
			return oom(err);
		if (i > 0)
			cx_sch_out_puts(&o, ", ");
		cx_sch_out_puts(&o, text);
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
