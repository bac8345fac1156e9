/* Configuration directives applied from a JSON object (nginx's ngx_command_t).
 *
 * Contracts for the struct being filled:
 * - CX_CONF_STRING fields hold heap strings or NULL, never string literals: applying a value
 *   frees the old one and cx_conf_release() frees whatever is there. Defaults are strdup'd.
 * - CX_CONF_JSON fields hold a reference of their own or NULL; the old one is released.
 * - CX_CONF_INT with min == max == 0 means "any long"; otherwise [min, max] is enforced.
 * - CX_CONF_CUSTOM fields are the setter's business, including freeing them.
 * A failed apply leaves earlier keys of the same object applied: callers stop at the error and
 * release the whole struct. */
#include "conf.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Dotted paths longer than this are refused rather than quoted cut short. */
#define PATH_MAX_LEN 256
/* Keys longer than this get no "did you mean" suggestion. */
#define SUGGEST_KEY_MAX 64

static const struct cx_conf_directive *find(const struct cx_conf_directive *table, const char *key)
{
	for (; table->key; table++) {
		if (!strcmp(table->key, key))
			return table;
	}
	return NULL;
}

/* Levenshtein distance of two short keys, capped: keys are at most a few dozen characters. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[SUGGEST_KEY_MAX + 1], i, j;

	if (la > SUGGEST_KEY_MAX || lb > SUGGEST_KEY_MAX)
		return SIZE_MAX;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diag = up;
			row[j] = best;
		}
	}
	return row[lb];
}

/* The known key an unknown one was most likely meant to be: a few typing mistakes away, or
 * the start of it ("max_body" for "max_body_bytes"). NULL when nothing is close. */
static const char *closest_key(const struct cx_conf_directive *table, const char *key)
{
	const char *best = NULL;
	size_t best_d = SIZE_MAX, klen = strlen(key);

	for (; table->key; table++) {
		size_t d = edit_distance(key, table->key), tlen = strlen(table->key);
		size_t limit = (tlen + 2) / 3;

		if (klen >= 3 && (!strncmp(table->key, key, klen) ||
				  (tlen >= 4 && !strncmp(key, table->key, tlen))))
			d = d < limit ? d : limit;
		if (d <= limit && d < best_d) {
			best = table->key;
			best_d = d;
		}
	}
	return best;
}

static int set_one(const struct cx_conf_directive *d, const json_t *value, void *base,
		   const char *path, struct cx_err *err)
{
	void *field = (char *)base + d->offset;

	switch (d->type) {
	case CX_CONF_STRING: {
		char **sp = field;
		char *s;

		if (!json_is_string(value))
			return cx_err_set(err, "'%s' must be a string", path);
		if (strlen(json_string_value(value)) != json_string_length(value))
			return cx_err_set(err, "'%s' must not contain NUL characters", path);
		s = strdup(json_string_value(value));
		if (!s)
			return cx_err_set(err, "'%s': out of memory", path);
		free(*sp);
		*sp = s;
		return 0;
	}
	case CX_CONF_INT: {
		json_int_t v;

		if (!json_is_integer(value))
			return cx_err_set(err, "'%s' must be an integer", path);
		v = json_integer_value(value);
		if (d->min == 0 && d->max == 0) {
			if (v < LONG_MIN || v > LONG_MAX)
				return cx_err_set(err, "'%s' is out of range", path);
		} else if (v < d->min || v > d->max) {
			return cx_err_set(err, "'%s' must be between %ld and %ld", path, d->min,
					  d->max);
		}
		*(long *)field = (long)v;
		return 0;
	}
	case CX_CONF_BOOL:
		if (!json_is_boolean(value))
			return cx_err_set(err, "'%s' must be true or false", path);
		*(bool *)field = json_is_true(value);
		return 0;
	case CX_CONF_OBJECT:
		if (!json_is_object(value))
			return cx_err_set(err, "'%s' must be an object", path);
		return cx_conf_apply(d->sub, value, base, path, err);
	case CX_CONF_JSON: {
		json_t **jp = field;

		json_decref(*jp);
		*jp = json_incref((json_t *)value);
		return 0;
	}
	case CX_CONF_CUSTOM:
		if (!d->set)
			return cx_err_set(err, "'%s': directive has no setter", path);
		if (d->set(value, field, path, err))
			return -1;
		return 0;
	}
	return cx_err_set(err, "'%s': directive has an unknown type %d", path, (int)d->type);
}

int cx_conf_apply(const struct cx_conf_directive *table, const json_t *obj, void *base,
		  const char *path, struct cx_err *err)
{
	const char *key;
	json_t *value;

	if (!path)
		path = "";
	if (!json_is_object(obj)) {
		if (!*path)
			return cx_err_set(err, "configuration must be a JSON object");
		return cx_err_set(err, "'%s' must be an object", path);
	}
	json_object_foreach((json_t *)obj, key, value) {
		const struct cx_conf_directive *d = find(table, key);
		char full[PATH_MAX_LEN];
		int n;

		n = *path ? snprintf(full, sizeof(full), "%s.%s", path, key)
			  : snprintf(full, sizeof(full), "%s", key);
		if (n < 0 || (size_t)n >= sizeof(full))
			return cx_err_set(err, "key '%.64s...' is too long", *path ? path : key);
		if (!d) {
			const char *near = closest_key(table, key);

			if (near)
				return cx_err_set(err, "unknown key '%s'; did you mean '%s%s%s'?",
						  full, path, *path ? "." : "", near);
			return cx_err_set(err, "unknown key '%s'", full);
		}
		if (set_one(d, value, base, full, err))
			return -1;
	}
	return 0;
}

void cx_conf_release(const struct cx_conf_directive *table, void *base)
{
	for (; table->key; table++) {
		void *field = (char *)base + table->offset;

		switch (table->type) {
		case CX_CONF_STRING:
			free(*(char **)field);
			*(char **)field = NULL;
			break;
		case CX_CONF_JSON:
			json_decref(*(json_t **)field);
			*(json_t **)field = NULL;
			break;
		case CX_CONF_OBJECT:
			cx_conf_release(table->sub, base);
			break;
		case CX_CONF_INT:
		case CX_CONF_BOOL:
		case CX_CONF_CUSTOM:
			break;
		}
	}
}
