/* Secrets from files or the environment. Every buffer that held a secret is wiped before it is
 * freed, and no message ever quotes a secret: only the config key, the file or the variable. */
#include "secret.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/* A key, a token or a certificate fits; anything larger is a mistake, not a secret. */
#define SECRET_FILE_MAX (64 * 1024)

static int bad_form(const char *path, struct cx_err *err)
{
	return cx_err_set(err,
			  "'%s' must be {\"file\": PATH} or {\"env\": NAME}; secrets are "
			  "never written inline",
			  path);
}

/* Copies n bytes into a fresh NUL-terminated buffer in out. */
static int store(struct cx_secret *out, const void *p, size_t n, const char *path,
		 struct cx_err *err)
{
	unsigned char *data = malloc(n + 1);

	if (!data)
		return cx_err_set(err, "'%s': out of memory", path);
	memcpy(data, p, n);
	data[n] = '\0';
	out->data = data;
	out->len = n;
	return 0;
}

static int load_file(const char *file, struct cx_secret *out, const char *path, struct cx_err *err)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	struct stat st;
	int fd, rc = -1;

	fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return cx_err_set(err, "'%s': could not open '%s': %s", path, file,
				  strerror(errno));
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & (S_IRGRP | S_IROTH)))
		cx_warn("'%s': secret file '%s' is readable by group or others (mode %04o)", path,
			file, (unsigned)(st.st_mode & 07777));
	/* One byte more than allowed, to tell "exactly the limit" from "larger". */
	buf = malloc(SECRET_FILE_MAX + 1);
	if (!buf) {
		cx_err_set(err, "'%s': out of memory", path);
		goto out;
	}
	while (len < SECRET_FILE_MAX + 1) {
		ssize_t n = read(fd, buf + len, SECRET_FILE_MAX + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			cx_err_set(err, "'%s': could not read '%s': %s", path, file,
				   strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > SECRET_FILE_MAX) {
		cx_err_set(err, "'%s': file '%s' is larger than %d KiB", path, file,
			   SECRET_FILE_MAX / 1024);
		goto out;
	}
	/* Editors and `echo` add one newline; the secret is what comes before it. */
	if (len > 0 && buf[len - 1] == '\n') {
		len--;
		if (len > 0 && buf[len - 1] == '\r')
			len--;
	}
	if (len == 0) {
		cx_err_set(err, "'%s': file '%s' is empty", path, file);
		goto out;
	}
	rc = store(out, buf, len, path, err);
out:
	if (buf) {
		OPENSSL_cleanse(buf, SECRET_FILE_MAX + 1);
		free(buf);
	}
	close(fd);
	return rc;
}

static int load_env(const char *name, struct cx_secret *out, const char *path, struct cx_err *err)
{
	const char *v;

	if (!*name)
		return cx_err_set(err, "'%s': the environment variable name is empty", path);
	v = getenv(name);
	if (!v)
		return cx_err_set(err, "'%s': environment variable '%s' is not set", path, name);
	if (!*v)
		return cx_err_set(err, "'%s': environment variable '%s' is empty", path, name);
	return store(out, v, strlen(v), path, err);
}

int cx_secret_load(const json_t *ref, struct cx_secret *out, const char *path, struct cx_err *err)
{
	return cx_secret_load_at(ref, cx_path_base(), out, path, err);
}

int cx_secret_load_at(const json_t *ref, const char *base_dir, struct cx_secret *out,
		      const char *path, struct cx_err *err)
{
	const json_t *file, *env;

	out->data = NULL;
	out->len = 0;
	if (!path || !*path)
		path = "secret";
	if (!json_is_object(ref) || json_object_size(ref) != 1)
		return bad_form(path, err);
	file = json_object_get(ref, "file");
	env = json_object_get(ref, "env");
	if (file && json_is_string(file) && json_string_length(file) > 0 &&
	    strlen(json_string_value(file)) == json_string_length(file)) {
		char *full = cx_path_resolve(base_dir, json_string_value(file));
		int rc;

		if (!full)
			return cx_err_set(err, "'%s': out of memory", path);
		rc = load_file(full, out, path, err);
		free(full);
		return rc;
	}
	if (env && json_is_string(env) && strlen(json_string_value(env)) == json_string_length(env))
		return load_env(json_string_value(env), out, path, err);
	return bad_form(path, err);
}

void cx_secret_release(struct cx_secret *s)
{
	if (s->data) {
		OPENSSL_cleanse(s->data, s->len + 1);
		free(s->data);
	}
	s->data = NULL;
	s->len = 0;
}

int cx_secret_printf(struct cx_secret *s, const char *fmt, ...)
{
	va_list ap;
	char *buf;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !(buf = malloc((size_t)n + 1)))
		return -1;
	va_start(ap, fmt);
	vsnprintf(buf, (size_t)n + 1, fmt, ap);
	va_end(ap);
	cx_secret_release(s);
	s->data = (unsigned char *)buf;
	s->len = (size_t)n;
	return 0;
}
