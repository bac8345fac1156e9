#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"

json_t *cx_json_loadb(const char *buf, size_t len, size_t max, struct cx_err *err)
{
	json_error_t jerr;
	json_t *v;

	if (len > max) {
		cx_err_set(err, "document of %zu bytes is larger than the %zu allowed", len, max);
		return NULL;
	}
	v = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	if (!v)
		cx_err_set(err, "line %d column %d: %s", jerr.line, jerr.column, jerr.text);
	return v;
}

json_t *cx_json_load_file(const char *path, size_t max, struct cx_err *err)
{
	struct cx_buf b = CX_BUF_INIT(max);
	char chunk[8192];
	json_t *v = NULL;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		cx_err_set(err, "could not open '%s': %s", path, strerror(errno));
		return NULL;
	}
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			cx_err_set(err, "could not read '%s': %s", path, strerror(errno));
			goto out;
		}
		if (cx_buf_append(&b, chunk, (size_t)n)) {
			cx_err_set(err, "'%s' is larger than %zu bytes", path, max);
			goto out;
		}
	}
	v = cx_json_loadb(b.data ? b.data : "", b.len, max, err);
	if (!v)
		cx_err_prefix(err, "'%s': ", path);
out:
	close(fd);
	cx_buf_release(&b);
	return v;
}

char *cx_json_dumps(const json_t *v, size_t *len)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	if (s && len)
		*len = strlen(s);
	return s;
}
