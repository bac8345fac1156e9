/* Files compiled into the gateway by tools/embed --files (the console's pages, styles, scripts
 * and images): a table ended by a row whose name is NULL. */
#ifndef CX_EMBEDDED_H
#define CX_EMBEDDED_H

#include <stddef.h>

struct cx_embedded_file {
	const char *name;          /* its path under the embedded folder: "index.html" */
	const unsigned char *data; /* len bytes, then a NUL */
	size_t len;
	const char *type; /* the Content-Type it is served with, from its extension */
	const char *etag; /* a quoted hash of its bytes: "\"0123456789abcdef\"" */
};

/* Every file under console/ (the Makefile's CONSOLE_FILES). */
extern const struct cx_embedded_file cx_console_files[];

#endif
