/* Secrets come from files or the environment, never from argv, and never reach a log. */
#ifndef CX_SECRET_H
#define CX_SECRET_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "err.h"

struct cx_secret {
	unsigned char *data; /* NUL-terminated for convenience; len excludes it */
	size_t len;
};

/* ref is {"file": "/run/secrets/x"} or {"env": "NAME"}; one trailing newline of a file is
 * dropped. An empty secret is an error. path names the config key in messages; the secret
 * value never appears in err. */
int cx_secret_load(const json_t *ref, struct cx_secret *out, const char *path, struct cx_err *err);
/* The same, with a relative {"file": ...} taken relative to base_dir (the directory of the
 * config file that holds the reference) rather than the working directory. */
int cx_secret_load_at(const json_t *ref, const char *base_dir, struct cx_secret *out,
		      const char *path, struct cx_err *err);
/* Wipes and frees. */
void cx_secret_release(struct cx_secret *s);
/* Replaces s with a formatted secret (wiping the old one): a header or a login body built
 * around a secret. 0, or -1 on out of memory (s unchanged). */
int cx_secret_printf(struct cx_secret *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
