#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

json_t *cx_json_loadb(const char *buf, size_t len, size_t max, struct cx_err *err)
{
	if (len > max) {
		cx_err_set(err, "document of %zu bytes is larger than the %zu allowed", len, max);
		return NULL;
	}
	return cx_json_parse(buf, len, err);
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

/* A compact serialiser for the reply path. jansson's json_dumps guards every object and
 * array against reference cycles with a formatted pointer in a hash table, which made it the
 * largest single cost of a tools/call. Values built by the gateway are trees, so this
 * writes the same compact text as json_dumps(JSON_COMPACT | JSON_ENCODE_ANY) without that
 * guard; a depth limit stands in for it. */
#define DUMP_DEPTH_MAX 2048

/* Bytes JSON strings must escape: control characters, '"' and '\\'. */
static const unsigned char needs_escape[256] = {
	[0x00 ... 0x1f] = 1,
	['"'] = 1,
	['\\'] = 1,
};

static const char hex_digits[] = "0123456789ABCDEF";

/* Writes s escaped straight into b's memory, room for the worst case (every byte as \u00XX)
 * made first: one bounds check for the whole string instead of one per escape. -1 when that
 * room is past b's maximum or memory runs out; b is unchanged then. */
static int dump_string_direct(struct cx_buf *b, const char *s, size_t len)
{
	static const char short_esc
		[32] = { ['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't' };
	char *o;

	if (len > (SIZE_MAX / 8) || 6 * len + 2 > b->max - b->len || cx_buf_reserve(b, 6 * len + 2))
		return -1;
	o = b->data + b->len;
	*o++ = '"';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!needs_escape[c]) {
			*o++ = (char)c;
		} else if (c == '"' || c == '\\') {
			*o++ = '\\';
			*o++ = (char)c;
		} else if (short_esc[c]) {
			*o++ = '\\';
			*o++ = short_esc[c];
		} else {
			memcpy(o, "\\u00", 4);
			o[4] = hex_digits[c >> 4];
			o[5] = hex_digits[c & 15];
			o += 6;
		}
	}
	*o++ = '"';
	b->len = (size_t)(o - b->data);
	b->data[b->len] = '\0';
	return 0;
}

static int dump_string(struct cx_buf *b, const char *s, size_t len)
{
	static const char *const hex = hex_digits;
	size_t run = 0;

	if (!dump_string_direct(b, s, len))
		return 0;

	if (cx_buf_append(b, "\"", 1))
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[6];
		size_t n = 2;

		if (!needs_escape[c])
			continue;
		if (cx_buf_append(b, s + run, i - run))
			return -1;
		run = i + 1;
		esc[0] = '\\';
		switch (c) {
		case '"':
			esc[1] = '"';
			break;
		case '\\':
			esc[1] = '\\';
			break;
		case '\b':
			esc[1] = 'b';
			break;
		case '\f':
			esc[1] = 'f';
			break;
		case '\n':
			esc[1] = 'n';
			break;
		case '\r':
			esc[1] = 'r';
			break;
		case '\t':
			esc[1] = 't';
			break;
		default:
			esc[1] = 'u';
			esc[2] = '0';
			esc[3] = '0';
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			n = 6;
		}
		if (cx_buf_append(b, esc, n))
			return -1;
	}
	if (cx_buf_append(b, s + run, len - run))
		return -1;
	return cx_buf_append(b, "\"", 1);
}

static int dump_integer(struct cx_buf *b, json_int_t v)
{
	char tmp[24];
	size_t i = sizeof(tmp);
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

	do {
		tmp[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		tmp[--i] = '-';
	return cx_buf_append(b, tmp + i, sizeof(tmp) - i);
}

static int dump_real(struct cx_buf *b, double v)
{
	char tmp[40];
	int n;

	if (!isfinite(v))
		return -1; /* JSON has no infinities or NaN; jansson refuses them too */
	/* A whole number of at most 16 digits: "%.17g" writes its digits, jansson adds ".0". */
	if (v > -1e16 && v < 1e16 && v == (double)(long long)v && (v != 0 || !signbit(v)))
		return dump_integer(b, (json_int_t)v) || cx_buf_append(b, ".0", 2);
	n = snprintf(tmp, sizeof(tmp), "%.17g", v);

	if (n < 0 || (size_t)n >= sizeof(tmp) - 2)
		return -1;
	/* As jansson: a real always reads back as a real. */
	/* jansson writes exponents without '+' or leading zeros: 1e300, 1e-07 -> 1e-7. */
	char *e = strchr(tmp, 'e');
	if (e) {
		char *d = e + 1, *src;
		if (*d == '-')
			d++;
		src = d;
		if (*src == '+')
			src++;
		while (*src == '0' && src[1])
			src++;
		memmove(d, src, strlen(src) + 1);
		n = (int)strlen(tmp);
	}
	if (strspn(tmp, "0123456789-") == (size_t)n) {
		tmp[n++] = '.';
		tmp[n++] = '0';
	}
	return cx_buf_append(b, tmp, (size_t)n);
}

/* A value written as given text instead of being serialized (cx_json_dumps_splice). */
struct splice {
	const json_t *at;
	const char *text;
	size_t len;
};

static int dump_value(struct cx_buf *b, const json_t *v, int depth, const struct splice *sp)
{
	const char *key;
	json_t *item;
	size_t i;
	bool first = true;

	if (depth > DUMP_DEPTH_MAX)
		return -1;
	if (sp && v == sp->at)
		return cx_buf_append(b, sp->text, sp->len);
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		if (cx_buf_append(b, "{", 1))
			return -1;
		json_object_foreach((json_t *)v, key, item) {
			if ((!first && cx_buf_append(b, ",", 1)) ||
			    dump_string(b, key, strlen(key)) || cx_buf_append(b, ":", 1) ||
			    dump_value(b, item, depth + 1, sp))
				return -1;
			first = false;
		}
		return cx_buf_append(b, "}", 1);
	case JSON_ARRAY:
		if (cx_buf_append(b, "[", 1))
			return -1;
		json_array_foreach(v, i, item) {
			if ((i && cx_buf_append(b, ",", 1)) || dump_value(b, item, depth + 1, sp))
				return -1;
		}
		return cx_buf_append(b, "]", 1);
	case JSON_STRING:
		return dump_string(b, json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		return dump_integer(b, json_integer_value(v));
	case JSON_REAL:
		return dump_real(b, json_real_value(v));
	case JSON_TRUE:
		return cx_buf_append(b, "true", 4);
	case JSON_FALSE:
		return cx_buf_append(b, "false", 5);
	case JSON_NULL:
		return cx_buf_append(b, "null", 4);
	}
	return -1;
}

int cx_json_dump_str(struct cx_buf *b, const char *s, size_t len)
{
	size_t mark = b->len;

	if (dump_string(b, s, len)) {
		b->len = mark;
		if (b->data)
			b->data[mark] = '\0';
		return -1;
	}
	return 0;
}

static int dump_buf(const json_t *v, struct cx_buf *b, const struct splice *sp)
{
	size_t mark = b->len;

	if (!v || dump_value(b, v, 0, sp)) {
		b->len = mark;
		if (b->data)
			b->data[mark] = '\0';
		return -1;
	}
	return 0;
}

int cx_json_dump_buf(const json_t *v, struct cx_buf *b)
{
	return dump_buf(v, b, NULL);
}

static char *dumps(const json_t *v, const struct splice *sp, size_t *len)
{
	struct cx_buf b = CX_BUF_INIT(SIZE_MAX - 1);

	/* Most replies are a few hundred bytes: one allocation instead of several. */
	if (cx_buf_reserve(&b, sp ? 2 * sp->len + 1024 : 1024) || dump_buf(v, &b, sp)) {
		cx_buf_release(&b);
		return NULL;
	}
	return cx_buf_detach(&b, len);
}

char *cx_json_dumps(const json_t *v, size_t *len)
{
	return dumps(v, NULL, len);
}

char *cx_json_dumps_splice(const json_t *v, const json_t *at, const char *text, size_t text_len,
			   size_t *len)
{
	const struct splice sp = { at, text, text_len };

	return dumps(v, at && text ? &sp : NULL, len);
}

/* Every byte dump_value could write for v: strings as if each byte took a \u00XX escape,
 * numbers at their widest. A cheap walk with no formatting. */
size_t cx_json_size_bound(const json_t *v)
{
	const char *key;
	json_t *item;
	size_t i, n;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		n = 2;
		json_object_foreach((json_t *)v, key, item)
			n += 6 * strlen(key) + 4 + cx_json_size_bound(item);
		return n;
	case JSON_ARRAY:
		n = 2;
		json_array_foreach(v, i, item)
			n += 1 + cx_json_size_bound(item);
		return n;
	case JSON_STRING:
		return 6 * json_string_length(v) + 2;
	case JSON_INTEGER:
		return 20;
	case JSON_REAL:
		return 40;
	default:
		return 5;
	}
}
