/* docs/CONFIG.md against the gateway's configuration tables (gateway/config.c): every key of
 * the tables has a row, every row of the gateway's own keys names a key of the tables, and
 * each row's type, default (from cx_gw_config_defaults) and limits are the table's. Each
 * row's example is applied through cx_gw_config_apply and must be accepted. A missing row is
 * printed as the tables give it, to paste into the file. The adapters', the task store's and
 * the orchestrator's keys have no tables: tests/integration/config-doc.test.mjs asks the
 * binaries about those. Run from the source tree's root (make test does), or set
 * CX_SRCDIR. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/conf.h"
#include "../../gateway/config.h"

#define ROWS_MAX 256

struct row {
	char key[128], type[64], def[256], limits[256], example[512];
	bool seen;
};

static struct row rows[ROWS_MAX];
static size_t nrows;

/* The cell after *p (which points at a '|'), trimmed, into out; *p moves to the next '|'. */
static bool cell(const char **p, char *out, size_t outlen)
{
	const char *s = *p + 1, *e = strchr(s, '|');
	size_t n;

	if (!e)
		return false;
	while (s < e && *s == ' ')
		s++;
	n = (size_t)(e - s);
	while (n && s[n - 1] == ' ')
		n--;
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, s, n);
	out[n] = '\0';
	*p = e;
	return true;
}

static void strip_ticks(char *s)
{
	size_t n = strlen(s);

	if (n >= 2 && s[0] == '`' && s[n - 1] == '`') {
		memmove(s, s + 1, n - 2);
		s[n - 2] = '\0';
	}
}

static void load_rows(void)
{
	const char *dir = getenv("CX_SRCDIR");
	char path[1024], line[4096], meaning[2048];
	FILE *f;

	snprintf(path, sizeof(path), "%s/docs/CONFIG.md", dir && *dir ? dir : ".");
	f = fopen(path, "r");
	if (!f)
		fail_msg("cannot open %s: run from the source tree's root or set CX_SRCDIR", path);
	nrows = 0;
	while (fgets(line, sizeof(line), f)) {
		const char *p = line;
		struct row *r = &rows[nrows];

		if (strncmp(line, "| `", 3))
			continue;
		assert_true(nrows < ROWS_MAX);
		if (!cell(&p, r->key, sizeof(r->key)) || !cell(&p, r->type, sizeof(r->type)) ||
		    !cell(&p, r->def, sizeof(r->def)) || !cell(&p, r->limits, sizeof(r->limits)) ||
		    !cell(&p, meaning, sizeof(meaning)) ||
		    !cell(&p, r->example, sizeof(r->example)))
			continue; /* another table (environment variables) */
		strip_ticks(r->key);
		strip_ticks(r->example);
		r->seen = false;
		nrows++;
	}
	fclose(f);
	assert_true(nrows > 20);
}

static struct row *find_row(const char *key)
{
	for (size_t i = 0; i < nrows; i++)
		if (!strcmp(rows[i].key, key))
			return &rows[i];
	return NULL;
}

static const char *type_word(enum cx_conf_type t)
{
	switch (t) {
	case CX_CONF_STRING:
		return "string";
	case CX_CONF_INT:
		return "integer";
	case CX_CONF_BOOL:
		return "boolean";
	case CX_CONF_OBJECT:
		return "object";
	default:
		return NULL; /* custom: the setter decides; the row says what it takes */
	}
}

/* The default the table's field holds after cx_gw_config_defaults, as the file writes it. */
static void default_text(const struct cx_conf_directive *d, const void *base, char *out,
			 size_t outlen)
{
	const char *field = (const char *)base + d->offset;

	out[0] = '\0';
	if (d->type == CX_CONF_INT)
		snprintf(out, outlen, "`%ld`", *(const long *)(const void *)field);
	else if (d->type == CX_CONF_BOOL)
		snprintf(out, outlen, "`%s`",
			 *(const bool *)(const void *)field ? "true" : "false");
	else if (d->type == CX_CONF_STRING && *(char *const *)(const void *)field)
		snprintf(out, outlen, "`\"%s\"`", *(char *const *)(const void *)field);
}

static void check_directive(const struct cx_conf_directive *d, const char *path, const void *base,
			    int *bad)
{
	struct row *r = find_row(path);
	char def[256], lim[64] = "";
	const char *type = type_word(d->type);

	default_text(d, base, def, sizeof(def));
	if (d->type == CX_CONF_INT)
		snprintf(lim, sizeof(lim), "%ld – %ld", d->min, d->max);
	if (!r) {
		print_error(
			"docs/CONFIG.md has no row for '%s'; the table gives:\n| `%s` | %s | %s | "
			"%s | (meaning) | (example) |\n",
			path, path, type ? type : "(type)", *def ? def : "—", lim);
		(*bad)++;
		return;
	}
	r->seen = true;
	if (type && strcmp(r->type, type)) {
		print_error("'%s': the row says type '%s', the table '%s'\n", path, r->type, type);
		(*bad)++;
	}
	if (*def && strncmp(r->def, def, strlen(def))) {
		print_error("'%s': the row says default '%s', the code %s\n", path, r->def, def);
		(*bad)++;
	}
	if (*lim && strcmp(r->limits, lim)) {
		print_error("'%s': the row says limits '%s', the table '%s'\n", path, r->limits,
			    lim);
		(*bad)++;
	}
}

static void walk(const struct cx_conf_directive *t, const char *prefix, const void *base, int *bad)
{
	for (; t->key; t++) {
		char path[256];

		snprintf(path, sizeof(path), "%s%s", prefix, t->key);
		check_directive(t, path, base, bad);
		if (t->type == CX_CONF_OBJECT) {
			snprintf(path, sizeof(path), "%s%s.", prefix, t->key);
			walk(t->sub, path, base, bad);
		}
	}
}

/* The gateway's own keys: not an adapter's, the task store's, the orchestrator's or the
 * masters' registry's (those rows are checked against the binaries). */
static bool gateway_row(const struct row *r)
{
	return strncmp(r->key, "adapters.", 9) && strncmp(r->key, "tasks.", 6) &&
	       strncmp(r->key, "orchestrator.", 13) && strncmp(r->key, "masters[]", 9);
}

static void test_every_key_has_its_row(void **state)
{
	struct cx_gw_config c;
	struct cx_token tok = { 0 };
	int bad = 0;

	(void)state;
	load_rows();
	cx_gw_config_defaults(&c);
	walk(cx_gw_config_table(""), "", &c, &bad);
	walk(cx_gw_config_table("tokens[]"), "tokens[].", &tok, &bad);
	for (size_t i = 0; i < nrows; i++) {
		if (gateway_row(&rows[i]) && !rows[i].seen) {
			print_error("docs/CONFIG.md documents '%s', which the gateway's tables do "
				    "not have\n",
				    rows[i].key);
			bad++;
		}
	}
	cx_gw_config_release(&c);
	assert_int_equal(bad, 0);
}

/* {"a": {"b": example}} for "a.b"; a token's key goes into a token that is valid without it. */
static json_t *wrap(const char *key, json_t *example)
{
	const char *dot = strrchr(key, '.');
	json_t *obj;

	if (!strncmp(key, "tokens[].", 9)) {
		json_t *tok = json_pack(
			"{s:s, s:s}", "name", "doc", "sha256",
			"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");

		json_object_set_new(tok, key + 9, example);
		return json_pack("{s:[o]}", "tokens", tok);
	}
	if (!dot) {
		obj = json_object();
		json_object_set_new(obj, key, example);
		return obj;
	}
	{
		char parent[128];

		snprintf(parent, sizeof(parent), "%.*s", (int)(dot - key), key);
		obj = json_object();
		json_object_set_new(obj, dot + 1, example);
		return wrap(parent, obj);
	}
}

static void test_every_example_is_accepted(void **state)
{
	int bad = 0;

	(void)state;
	load_rows();
	for (size_t i = 0; i < nrows; i++) {
		struct row *r = &rows[i];
		struct cx_gw_config c;
		struct cx_err err = { 0 };
		json_error_t je;
		json_t *ex, *doc;

		/* A secret's example names a file that is not here. */
		if (!gateway_row(r) || !strcmp(r->type, "secret"))
			continue;
		ex = json_loads(r->example, JSON_DECODE_ANY, &je);
		if (!ex) {
			print_error("'%s': the example `%s` is not JSON: %s\n", r->key, r->example,
				    je.text);
			bad++;
			continue;
		}
		doc = wrap(r->key, ex);
		cx_gw_config_defaults(&c);
		if (cx_gw_config_apply(&c, doc, &err)) {
			print_error("'%s': the example `%s` is refused: %s\n", r->key, r->example,
				    err.msg);
			bad++;
		}
		cx_gw_config_release(&c);
		json_decref(doc);
	}
	assert_int_equal(bad, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_key_has_its_row),
		cmocka_unit_test(test_every_example_is_accepted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
