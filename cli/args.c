/* The arguments of `cortexctl call`: --args JSON|@FILE|- as the base object, then each
 * key=value word set on it (a value that parses as JSON is that JSON: 3, true, null,
 * {"a":1}, "quoted"; anything else is the string as typed). */
#include "cortexctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/buf.h"
#include "../common/json.h"

#define ARGS_MAX (16u << 20)

/* All of stdin, at most ARGS_MAX bytes. NULL printed. */
static char *read_stdin(size_t *len)
{
	struct cx_buf b;
	char chunk[65536];
	ssize_t n;

	cx_buf_init(&b, ARGS_MAX);
	while ((n = read(STDIN_FILENO, chunk, sizeof(chunk))) > 0) {
		if (cx_buf_append(&b, chunk, (size_t)n)) {
			cx_buf_release(&b);
			ctl_fail(CTL_USAGE, "--args -: more than %u bytes on stdin", ARGS_MAX);
			return NULL;
		}
	}
	if (n < 0 || !b.data) {
		cx_buf_release(&b);
		ctl_fail(CTL_USAGE, "--args -: nothing could be read from stdin");
		return NULL;
	}
	return cx_buf_detach(&b, len);
}

/* --args's object, or NULL printed. */
static json_t *base_args(const char *opt)
{
	struct cx_err err = { 0 };
	json_t *v;
	char *text;
	size_t len;

	if (!strcmp(opt, "-")) {
		if (!(text = read_stdin(&len)))
			return NULL;
		v = cx_json_loadb(text, len, ARGS_MAX, &err);
		free(text);
	} else if (opt[0] == '@') {
		v = cx_json_load_file(opt + 1, ARGS_MAX, &err);
	} else {
		v = cx_json_loadb(opt, strlen(opt), ARGS_MAX, &err);
	}
	if (!v) {
		ctl_fail(CTL_USAGE, "--args %.60s: not JSON: %s", opt, err.msg);
		return NULL;
	}
	if (!json_is_object(v)) {
		json_decref(v);
		ctl_fail(CTL_USAGE, "--args %.60s: the arguments must be a JSON object", opt);
		return NULL;
	}
	return v;
}

/* A key=value word's value: JSON when it is JSON, else the string. A new reference. */
static json_t *word_value(const char *s)
{
	json_t *v = json_loads(s, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);

	return v ? v : json_string(s);
}

json_t *ctl_build_args(const char *args_opt, char **words, int nwords)
{
	json_t *args = args_opt ? base_args(args_opt) : json_object();

	if (!args)
		return NULL;
	for (int i = 0; i < nwords; i++) {
		const char *eq = strchr(words[i], '=');
		char *key;
		json_t *v;

		if (!eq || eq == words[i]) {
			json_decref(args);
			ctl_fail(CTL_USAGE,
				 "'%s' is not key=value (see cortexctl call --help; JSON arguments "
				 "go in --args)",
				 words[i]);
			return NULL;
		}
		key = strndup(words[i], (size_t)(eq - words[i]));
		v = word_value(eq + 1);
		if (!key || !v || json_object_set_new(args, key, v)) {
			if (!key)
				json_decref(v);
			free(key);
			json_decref(args);
			ctl_fail(CTL_USAGE, "'%s' is not a usable argument (a key must be UTF-8)",
				 words[i]);
			return NULL;
		}
		free(key);
	}
	return args;
}
