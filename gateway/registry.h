/* The tool registry: every adapter's tools.json paired with its handlers at start-up. */
#ifndef CX_REGISTRY_H
#define CX_REGISTRY_H

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>

#include "../common/adapter.h"
#include "../common/err.h"
#include "../common/schema.h"

struct cx_reg_tool {
	const char *name; /* borrowed from def */
	const struct cx_tool *tool;
	unsigned flags; /* the tool's flags as configured (cx_adapter.tool_flags), else tool's */
	const struct cx_adapter *adapter;
	void *state; /* the adapter's */
	struct cx_schema *input;
	struct cx_schema *output; /* NULL when the tool declares none */
	json_t *def;              /* published tools/list entry; never mutated */
	atomic_bool hidden;       /* withdrawn by its adapter for now */
};

/* A resource, resource template or prompt some adapter offers. */
struct cx_reg_entry {
	const char *key; /* uri, uriTemplate or prompt name (in def) */
	const struct cx_adapter *adapter;
	void *state;
	json_t *def;        /* published list entry; never mutated */
	atomic_bool hidden; /* withdrawn by its adapter for now */
};

struct cx_registry;

struct cx_registry *cx_registry_new(void);
/* Initialises the adapter with conf (borrowed; NULL means {}), pairs tools_json with the
 * handler table and compiles the schemas. Refuses a missing handler, a handler without a
 * description, a name without the adapter's prefix, a duplicate, a schema that is not an
 * object or does not compile, or annotations that contradict the flags. */
int cx_registry_add(struct cx_registry *r, const struct cx_adapter *a, const json_t *conf,
		    struct cx_err *err);
/* Adds an adapter whose state the gateway made itself (the built-in "gateway" adapter);
 * init and cleanup are not called. */
int cx_registry_add_state(struct cx_registry *r, const struct cx_adapter *a, void *state,
			  struct cx_err *err);

/* Adapter health is checked in the background (health() may reach a backend), so readers
 * such as gateway_status never block. Every interval_ms; the first check runs at once. */
int cx_registry_health_start(struct cx_registry *r, long interval_ms, struct cx_err *err);
void cx_registry_health_stop(struct cx_registry *r);
/* Last result for adapter i: 1 healthy, 0 unhealthy (msg says why), -1 not checked yet or
 * no health hook. msg may be NULL. */
int cx_registry_health(const struct cx_registry *r, size_t i, char *msg, size_t msglen);

/* Withdraws or restores a tool (its adapter found the backend feature gone or back). 1 when
 * that changed the list, 0 when it was already so, -1 for an unknown tool. Any thread. */
int cx_registry_set_available(struct cx_registry *r, const char *name, bool available);
/* False for a tool its adapter has withdrawn. */
bool cx_registry_available(const struct cx_reg_tool *rt);

/* Lookup by exact name among every tool, withdrawn ones too (pairing at start-up, withdrawing
 * and restoring); NULL when unknown. Safe from any thread after start-up. */
const struct cx_reg_tool *cx_registry_find(const struct cx_registry *r, const char *name);
/* The same among the tools a client may call: NULL for an unknown or withdrawn tool, like
 * cx_registry_find_prompt and cx_registry_resolve_uri. */
const struct cx_reg_tool *cx_registry_find_tool(const struct cx_registry *r, const char *name);
size_t cx_registry_count(const struct cx_registry *r);
const struct cx_reg_tool *cx_registry_at(const struct cx_registry *r, size_t i);

size_t cx_registry_adapter_count(const struct cx_registry *r);
const struct cx_adapter *cx_registry_adapter_at(const struct cx_registry *r, size_t i,
						void **state);

/* Resources, templates and prompts, in registration order. */
enum cx_reg_kind {
	CX_REG_RESOURCE,
	CX_REG_TEMPLATE,
	CX_REG_PROMPT
};
size_t cx_registry_entry_count(const struct cx_registry *r, enum cx_reg_kind kind);
const struct cx_reg_entry *cx_registry_entry_at(const struct cx_registry *r, enum cx_reg_kind kind,
						size_t i);
/* Available prompts only. */
const struct cx_reg_entry *cx_registry_find_prompt(const struct cx_registry *r, const char *name);
bool cx_registry_entry_available(const struct cx_reg_entry *e);
/* The entry serving uri: the resource with exactly that URI, else the first template that
 * matches it (RFC 6570 simple expansion: each {var} matches one or more characters other
 * than '/'). NULL when none does. */
const struct cx_reg_entry *cx_registry_resolve_uri(const struct cx_registry *r, const char *uri);
bool cx_uri_template_match(const char *tmpl, const char *uri);
/* Withdraws or restores a resource (by URI), template (by uriTemplate) or prompt (by name);
 * as cx_registry_set_available. Withdrawn entries are left out of lists and lookups. */
int cx_registry_set_entry_available(struct cx_registry *r, enum cx_reg_kind kind, const char *key,
				    bool available);

/* Calls every adapter's cleanup and frees everything. */
void cx_registry_free(struct cx_registry *r);

#endif
