#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cx_buf_init(struct cx_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

static int buf_grow(struct cx_buf *b, size_t need)
{
	size_t cap;
	char *p;

	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	if (cap > b->max + 1)
		cap = b->max + 1;
	p = realloc(b->data, cap);
	if (!p)
		return -1;
	b->data = p;
	b->cap = cap;
	return 0;
}

int cx_buf_reserve(struct cx_buf *b, size_t n)
{
	if (n > b->max - b->len)
		n = b->max - b->len;
	return buf_grow(b, b->len + n + 1);
}

int cx_buf_append(struct cx_buf *b, const void *p, size_t n)
{
	if (n > b->max - b->len)
		return -1;
	if (buf_grow(b, b->len + n + 1))
		return -1;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int cx_buf_puts(struct cx_buf *b, const char *s)
{
	return cx_buf_append(b, s, strlen(s));
}

int cx_buf_vprintf(struct cx_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0 || (size_t)n > b->max - b->len)
		return -1;
	if (buf_grow(b, b->len + (size_t)n + 1))
		return -1;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int cx_buf_printf(struct cx_buf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = cx_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

void cx_buf_reset(struct cx_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void cx_buf_release(struct cx_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

char *cx_buf_detach(struct cx_buf *b, size_t *len)
{
	char *p = b->data;

	if (!p) {
		p = calloc(1, 1);
		if (!p)
			return NULL;
	}
	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return p;
}
