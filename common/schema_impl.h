/* The schema compiler's and validator's shared view (common/schema.c, schema_validate.c,
 * schema_path.c): the compiled tree, and the bounded writer that renders paths and messages.
 * Nothing outside the schema module includes this. */
#ifndef CX_SCHEMA_IMPL_H
#define CX_SCHEMA_IMPL_H

#include <jansson.h>
#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

#include "schema.h"

/* Schemas nest only as deep as a tool's arguments do; this bounds the recursion of both
 * compilation and validation (validation descends only where the schema does). */
#define SCHEMA_MAX_DEPTH 32

enum {
	T_OBJECT = 1u << 0,
	T_ARRAY = 1u << 1,
	T_STRING = 1u << 2,
	T_NUMBER = 1u << 3,
	T_INTEGER = 1u << 4,
	T_BOOLEAN = 1u << 5,
	T_NULL = 1u << 6,
};

struct cx_sch_type {
	const char *name;
	const char *article; /* for "must be an integer" */
	unsigned bit;
};
extern const struct cx_sch_type cx_sch_types[];

#define CX_SCH_NTYPES 7

/* A numeric bound keeps the JSON integer exact: a vmid limit of 999999999999 must not round. */
struct bound {
	bool set;
	bool is_int;
	json_int_t i;
	double d;
	char text[32]; /* as written in messages: shortest form that reads back the same */
};

struct prop {
	char *name;
	struct cx_schema *schema;
};

enum additional {
	ADD_ANY,
	ADD_NONE,
	ADD_SCHEMA
};

struct cx_schema {
	unsigned types; /* 0: any type */
	struct bound minimum, maximum, xminimum, xmaximum;
	json_int_t min_length, max_length; /* -1: unset */
	bool has_pattern;
	regex_t pattern;
	char *pattern_src;
	json_int_t min_items, max_items; /* -1: unset */
	struct cx_schema *items;
	char **required;
	size_t nrequired;
	struct prop *props; /* in the schema's order, so errors come in that order */
	size_t nprops;
	enum additional additional;
	struct cx_schema *additional_schema;
	json_t *enum_values; /* own deep copy, never mutated */
	char *enum_text;     /* "\"fast\", \"slow\"", rendered at compile time */
	json_t *const_value;
	char *const_text;
};

/* ---------------------------------------------------------------------------------------------
 * Paths: a chain of segments on the stack, rendered only when there is something to report. */

struct seg {
	const struct seg *parent; /* NULL for the root */
	const char *key;          /* root name or property name; NULL for an array index */
	size_t index;
};

/* A bounded writer into the caller's buffer: always NUL-terminated, never splits a UTF-8
 * sequence when it has to cut. */
struct out {
	char *p;
	size_t cap;
	size_t len;
	bool full;
};

void cx_sch_out_init(struct out *o, char *p, size_t cap);
void cx_sch_out_putn(struct out *o, const char *s, size_t n);
void cx_sch_out_puts(struct out *o, const char *s);
void cx_sch_out_printf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A property name, with '"' escaped when escape_quotes. */
void cx_sch_out_name(struct out *o, const char *s, bool escape_quotes);
/* "arguments.disks[2].size" or "arguments[\"odd key\"]". */
void cx_sch_out_path(struct out *o, const struct seg *s);

#endif
