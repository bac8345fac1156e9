/* The gateway's configuration: built-in defaults, then the file, then flags (a flag beats the
 * file, which beats the default). The environment names only the file ($CORTEX_CONFIG, when
 * there is no --config) and secrets ({"env": NAME} references); no setting is read from it. */
#ifndef CX_GW_CONFIG_H
#define CX_GW_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "../common/err.h"
#include "../common/secret.h"

struct cx_token {
	char *name;             /* shown in audit lines as the caller */
	unsigned char hash[32]; /* SHA-256 of the bearer token; the token itself is never kept */
	char **allow;           /* tool-name globs, NULL-terminated; NULL means "*" */
	bool read_only;         /* refuse tools without CX_READ_ONLY */
};

struct cx_gw_config {
	char *listen;          /* "127.0.0.1:8080"; NULL with --stdio only */
	bool insecure_no_auth; /* allow a non-loopback listener without tokens */

	/* http */
	long max_body_bytes; /* 413 past this */
	long max_connections;
	long http_threads;         /* HTTP threads, a daemon and a backend loop each */
	long connection_timeout_s; /* idle keep-alive connections closed after this */
	char **allowed_origins;    /* NULL-terminated; NULL = loopback origins only */
	char **allowed_hosts;      /* extra Host values beside loopback names; NULL-terminated */
	long session_ttl_s;        /* sealed sessions expire after this */
	long max_ended_sessions;   /* per token, listed until they would expire */
	char *ended_sessions_file; /* NULL: ended sessions are remembered in memory only */
	int ended_sessions_shared; /* -1: shared when tasks are in Redis (default); 0 no; 1 yes */
	char **ready_adapters;     /* NULL: every adapter's health counts for /readyz; else these */
	long max_connections_per_client; /* a token's (else a peer's) share of max_connections */
	long max_streams_per_client;     /* GET streams open at once per token (else peer) */
	long stream_max_lifetime_s;      /* a GET stream ends after this; the client resumes */
	bool console_enabled;            /* / and /console/ serve the console */
	struct cx_secret session_key; /* 32 bytes after derivation; generated if not configured */
	bool session_key_set;

	/* tool calls */
	long workers;
	long queue_max;
	long call_timeout_ms;
	long page_size;             /* tools/list page size */
	long max_output_bytes;      /* a tool result larger than this becomes an error */
	long drain_grace_ms;        /* the longest a shutdown waits for running calls */
	long max_per_adapter;       /* calls one adapter may run at once; 0: all but a quarter */
	long max_batch;             /* members of a 2025-03-26 JSON-RPC batch */
	long max_batch_reply_bytes; /* a batch's answers past this become errors */

	struct cx_token *tokens;
	size_t ntokens;

	char *audit_file; /* NULL: stderr; from the file: relative to config_dir */
	long audit_max_line_bytes;
	char *log_level;
	json_t *adapters; /* object: adapter name -> its config (new reference) */
	json_t *tasks;    /* the task store and tools: {"enabled"?, "store", ...} (new reference) */

	/* Where values came from, for messages ("config 'x' (from $CORTEX_CONFIG): 'listen'"). */
	char *config_file;     /* as given; NULL: no file, built-in defaults */
	char *config_dir;      /* absolute directory of config_file: relative paths in
				* the file (secrets, audit.file) are taken from here */
	bool config_from_env;  /* config_file came from $CORTEX_CONFIG */
	bool listen_from_flag; /* --listen or --stdio decided listen */
	bool audit_from_flag;  /* --audit-file */
};

void cx_gw_config_defaults(struct cx_gw_config *c);
/* Applies a JSON config object on top of the current values. Unknown keys fail. */
int cx_gw_config_apply(struct cx_gw_config *c, const json_t *obj, struct cx_err *err);
/* Loads path on top of c and records it as the config file (and its directory). Messages
 * start "config 'path': ", or "config 'path' (from $CORTEX_CONFIG): " when config_from_env
 * is set before the call. */
int cx_gw_config_load_file(struct cx_gw_config *c, const char *path, struct cx_err *err);
/* Where a key's value came from, for messages: flag when set_by_flag ("--listen"), else
 * "config 'path': 'key'" (with the $CORTEX_CONFIG note), else "built-in default 'key'". */
void cx_gw_config_where(const struct cx_gw_config *c, const char *key, bool set_by_flag,
			const char *flag, char *out, size_t outlen);
void cx_gw_config_release(struct cx_gw_config *c);
/* True when the task tools are on and their store is Redis ("tasks": {"store": "redis"}). */
bool cx_gw_config_tasks_in_redis(const struct cx_gw_config *c);
/* Whether ended sessions are shared with the other gateways (http.ended_sessions_shared, or
 * by default when tasks are in Redis). */
bool cx_gw_config_sessions_shared(const struct cx_gw_config *c);

/* The directive tables, read-only, for the test that checks docs/CONFIG.md against them:
 * "" the top level, "tokens[]" a token's object; NULL for another name. */
struct cx_conf_directive;
const struct cx_conf_directive *cx_gw_config_table(const char *which);

#endif
