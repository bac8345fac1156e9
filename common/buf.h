/* Growable byte buffers that are always created with a maximum (curl's dynbuf). */
#ifndef CX_BUF_H
#define CX_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct cx_buf {
	char *data; /* NUL-terminated whenever len > 0 or after any append */
	size_t len;
	size_t cap;
	size_t max; /* len never exceeds this */
};

#define CX_BUF_INIT(maxlen)                                                                        \
	{                                                                                          \
		NULL, 0, 0, (maxlen)                                                               \
	}

void cx_buf_init(struct cx_buf *b, size_t max);
/* 0, or -1 when the data would pass max or memory runs out (buffer unchanged). */
int cx_buf_append(struct cx_buf *b, const void *p, size_t n);
int cx_buf_puts(struct cx_buf *b, const char *s);
/* Makes room for n more bytes (or up to max) so the appends that follow do not reallocate. */
int cx_buf_reserve(struct cx_buf *b, size_t n);
int cx_buf_printf(struct cx_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cx_buf_vprintf(struct cx_buf *b, const char *fmt, va_list ap);
/* Empties the buffer, keeps its memory. */
void cx_buf_reset(struct cx_buf *b);
/* Frees the memory; the buffer can be used again. */
void cx_buf_release(struct cx_buf *b);
/* Hands the memory to the caller (caller frees; never NULL on success, "" when empty). */
char *cx_buf_detach(struct cx_buf *b, size_t *len);

#endif
