/* Validation against a compiled schema (see schema.c): reads the tree only, renders the path
 * and the sentence into the caller's buffer, so any number of threads may share a schema. */
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
 * Validation. */

/* Starts the message with the path; the caller appends the sentence. Returns -1. */
static int report(struct out *o, const struct seg *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int report(struct out *o, const struct seg *path, const char *fmt, ...)
{
	char tmp[CX_ERR_MSG_MAX];
	va_list ap;
	int n;

	cx_sch_out_path(o, path);
	cx_sch_out_puts(o, ": ");
	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n >= 0)
		cx_sch_out_putn(o, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
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

	for (size_t i = 0; i < CX_SCH_NTYPES; i++)
		n += (types & cx_sch_types[i].bit) != 0;
	report(o, path, "must be ");
	for (size_t i = 0; i < CX_SCH_NTYPES; i++) {
		if (!(types & cx_sch_types[i].bit))
			continue;
		if (seen > 0)
			cx_sch_out_puts(o, seen + 1 == n ? " or " : ", ");
		cx_sch_out_puts(o, cx_sch_types[i].article);
		cx_sch_out_puts(o, cx_sch_types[i].name);
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
		return report(o, path, "must be at most %" JSON_INTEGER_FORMAT " %s", s->max_length,
			      plural(s->max_length, "character", "characters"));
	if (s->has_pattern) {
		/* REG_STARTEND makes the whole string the subject: "abc\u0000; rm" must not pass
		 * ^[a-z]+$ by hiding its tail behind a NUL. */
		regmatch_t range = { .rm_so = 0, .rm_eo = (regoff_t)len };

		if (len > INT_MAX || regexec(&s->pattern, str, 1, &range, REG_STARTEND) != 0) {
			report(o, path, "must match pattern '");
			cx_sch_out_puts(o, s->pattern_src);
			cx_sch_out_puts(o, "'");
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
			cx_sch_out_name(o, s->required[i], false);
			cx_sch_out_puts(o, "'");
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
			cx_sch_out_name(o, key, false);
			cx_sch_out_puts(o, "'");
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
			cx_sch_out_puts(o, s->enum_text);
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
	cx_sch_out_init(&o, msg, msglen);
	if (!instance)
		return report(&o, &top, "is missing");
	return validate_node(s, instance, &top, &o) < 0 ? -1 : 0;
}
