/* Configuration as a table of directives (nginx's ngx_command_t): a key, a type, an offset,
 * limits. Unknown keys fail, naming their full path. */
#ifndef CX_CONF_H
#define CX_CONF_H

#include <jansson.h>
#include <stddef.h>

#include "err.h"

enum cx_conf_type {
	CX_CONF_STRING, /* char * (strdup'd; caller frees with cx_conf_release) */
	CX_CONF_INT,    /* long, within [min, max] */
	CX_CONF_BOOL,   /* bool */
	CX_CONF_OBJECT, /* nested table `sub`, same base pointer */
	CX_CONF_JSON,   /* json_t * new reference, any type; for adapters' own tables */
	CX_CONF_CUSTOM  /* set() decides */
};

struct cx_conf_directive {
	const char *key;
	enum cx_conf_type type;
	size_t offset;                       /* into the struct being filled */
	long min, max;                       /* CX_CONF_INT */
	const struct cx_conf_directive *sub; /* CX_CONF_OBJECT */
	/* CX_CONF_CUSTOM: value is borrowed; path is "http.allowed_origins" for messages. */
	int (*set)(const json_t *value, void *field, const char *path, struct cx_err *err);
};

/* Table ends with a directive whose key is NULL. obj must be an object. path prefixes
 * messages ("" at the top). Values present are stored; absent ones are left as they were
 * (callers set defaults first, then apply). */
int cx_conf_apply(const struct cx_conf_directive *table, const json_t *obj, void *base,
		  const char *path, struct cx_err *err);

/* Frees the strings and JSON references a table stored. */
void cx_conf_release(const struct cx_conf_directive *table, void *base);

#endif
