/* The adapter interface: one struct per adapter, one table of tools (curl's vtls backends,
 * Redis's command table). See docs/ADAPTERS.md. */
#ifndef CX_ADAPTER_H
#define CX_ADAPTER_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "mcp.h"

/* Tool flags; annotations in tools/list follow them, and dispatch enforces policy on them. */
#define CX_READ_ONLY    (1u << 0)   /* readOnlyHint: changes nothing */
#define CX_DESTRUCTIVE  (1u << 1)   /* destructiveHint: may delete or overwrite */
#define CX_IDEMPOTENT   (1u << 2)   /* idempotentHint: repeating it changes nothing more */
#define CX_OPEN_WORLD   (1u << 3)   /* openWorldHint: reaches a system outside the gateway */
#define CX_NONBLOCKING  (1u << 4)   /* never blocks (no I/O, no locks held long): dispatch may
                                     * run it on the transport thread instead of a worker */

/* What a handler knows about the call it serves. Valid for the duration of the call. */
struct cx_call {
	const char *tool;               /* full tool name */
	const char *caller;             /* token name, "stdio" or "anonymous" */
	void *state;                    /* the adapter's state from init() */
	int64_t deadline_ms;            /* cx_now_ms() value after which the call is abandoned */
	atomic_bool *cancelled;         /* set when the deadline passes or the client cancels */
};

/* True once the call is cancelled or past its deadline: stop and return promptly. */
bool cx_call_cancelled(const struct cx_call *call);
/* Milliseconds left before the deadline (0 when past it). */
long cx_call_remaining_ms(const struct cx_call *call);

struct cx_tool {
	const char *name;       /* "proxmox_list_vms"; must start with the adapter's name + '_' */
	/* 0 with res filled (res->is_error for backend failures the model should read);
	 * -1 only for internal faults such as out of memory (becomes JSON-RPC -32603).
	 * args is borrowed and already valid against the input schema. */
	int (*call)(struct cx_call *call, const json_t *args, struct cx_result *res);
	unsigned flags;
};

struct cx_adapter {
	const char *name;               /* config key and tool-name prefix */
	const char *tools_json;         /* tools.json: [{name, description, inputSchema, ...}] */
	const struct cx_tool *tools;    /* ends with an entry whose name is NULL */
	/* conf is borrowed (the adapter's object from config, or an empty object). */
	int (*init)(const json_t *conf, void **state, struct cx_err *err);
	void (*cleanup)(void *state);                           /* optional */
	int (*health)(void *state, struct cx_err *err);         /* optional; 0 healthy */
};

#endif
