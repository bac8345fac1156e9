/* cortex-sim: one HTTP server that plays the backends the adapters call (Proxmox VE, Cloudflare)
 * from their published APIs, with state that changes and faults that can be scripted. What the
 * backends, the fault table and the daemon share. */
#ifndef SIM_H
#define SIM_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

/* Bodies a client sends, and configuration files, are refused past these. */
#define SIM_BODY_MAX   (1024 * 1024)
#define SIM_CONFIG_MAX (16 * 1024 * 1024)

struct sim_request {
	struct MHD_Connection *conn;
	const char *method;
	const char *path; /* below the backend's prefix: "/nodes/pve1/qemu" */
	const char *body; /* NUL-terminated; "" when there is none */
	size_t body_len;
};

struct sim_response {
	unsigned int status;
	char *body; /* malloc'd, owned by the response */
	size_t len;
	/* Extra headers, {"Name": "value" or ["value", ...]}, owned; NULL for none. */
	json_t *headers;
};

/* A query-string argument or a request header (borrowed from MHD), NULL when absent. */
const char *sim_query(const struct sim_request *req, const char *name);
const char *sim_header(const struct sim_request *req, const char *name);
/* The request's parameters as an object of strings: form fields
 * (application/x-www-form-urlencoded) or a JSON object, as Proxmox takes both. New reference;
 * NULL when the body is neither. */
json_t *sim_body_params(const struct sim_request *req);

/* Percent-decodes s[0..len) into a new string (caller frees); with plus_is_space, as a form
 * field. NULL on a bad escape or out of memory. */
char *sim_pct_decode(const char *s, size_t len, bool plus_is_space);

/* Serialises v as the response body. Steals v on every path. */
void sim_reply(struct sim_response *resp, unsigned int status, json_t *v);

/* Every key of obj must be in keys (NULL-terminated); -1 and a message naming the first one
 * that is not, so a typo in a config file fails at start instead of being ignored. */
int sim_check_keys(const json_t *obj, const char *where, const char *const *keys, char *err,
		   size_t errlen);

/* One backend, as curl's vtls has one struct per TLS library. The daemon holds one lock while
 * it calls any slot, so a backend keeps its state in plain statics. */
struct sim_backend {
	const char *name;   /* the config file's key: "proxmox" */
	const char *prefix; /* every path it serves starts so: "/api2/json" */
	/* (Re)builds the initial state: the built-in defaults, each key of conf (borrowed; NULL
	 * for none) replacing the default's. 0, or -1 with a message in err. */
	int (*load)(const json_t *conf, char *err, size_t errlen);
	/* Answers one request; req->path is below prefix. Always fills resp. */
	void (*handle)(const struct sim_request *req, struct sim_response *resp);
	/* The body an injected error status carries, in the backend's error envelope. New
	 * reference. */
	json_t *(*error_body)(unsigned int status, const char *message);
	/* Frees the state (at exit, and before load on reset). */
	void (*release)(void);
	/* Lines for --help: default credentials and what the state holds. */
	const char *help;
};

extern const struct sim_backend sim_proxmox;
extern const struct sim_backend sim_cloudflare;
extern const struct sim_backend sim_sandfly;
extern const struct sim_backend sim_unifi;
extern const struct sim_backend sim_kubernetes, sim_kubernetes_apis, sim_kubernetes_version;
extern const struct sim_backend sim_llm;

/* Faults (faults.c). A fault matches a method and a path glob; the first that matches a request
 * is taken (its count, if any, goes down by one) and copied out for the daemon to apply. */
enum sim_fault_kind {
	SIM_FAULT_LATENCY,  /* only the delay; the backend answers */
	SIM_FAULT_STATUS,   /* an error status in the backend's envelope (429 + Retry-After) */
	SIM_FAULT_DROP,     /* headers and part of the body, then the connection is closed */
	SIM_FAULT_TRUNCATE, /* the backend's answer cut short, Content-Length to match */
	SIM_FAULT_INVALID,  /* a body that is not JSON, as application/json */
	SIM_FAULT_OVERSIZE, /* a valid JSON body of size_mib MiB */
	SIM_FAULT_TRICKLE,  /* the backend's answer at bytes_per_sec */
};

struct sim_fault {
	enum sim_fault_kind kind;
	unsigned int status; /* SIM_FAULT_STATUS */
	long retry_after;    /* seconds for Retry-After; -1 for none */
	long latency_ms;     /* before anything is sent; any kind */
	long after_bytes;    /* DROP, TRUNCATE: bytes of the body sent; -1 for half */
	long size_mib;       /* OVERSIZE */
	long bytes_per_sec;  /* TRICKLE */
};

/* Replaces the table with the faults of arr (borrowed; NULL empties it). -1 with a message when
 * an entry is bad, and the table is then unchanged. */
int sim_faults_set(const json_t *arr, char *err, size_t errlen);
/* Appends one fault object, or each of an array. Same contract as sim_faults_set. */
int sim_faults_add(const json_t *v, char *err, size_t errlen);
/* The table as the control endpoint shows it. New reference. */
json_t *sim_faults_list(void);
/* true and *out filled when a fault applies to this request (a count goes down). */
bool sim_faults_take(const char *method, const char *path, struct sim_fault *out);
void sim_faults_release(void);
/* The daemon's answer for a request a fault was taken for: resp (the backend's answer, whose
 * body it takes) changed as the fault says, or streamed (drop, trickle, oversize). Sets
 * resp->status to the status to queue with. NULL on out of memory. */
struct MHD_Response *sim_fault_respond(const struct sim_fault *f, const struct sim_backend *b,
				       struct sim_response *resp);

/* Set on SIGTERM: sleeps and streams end early so the daemon can stop. */
extern atomic_bool sim_stopping;
/* Sleeps ms milliseconds, or less once sim_stopping is set. */
void sim_sleep_ms(long ms);

/* TLS (tls.c): a fresh self-signed certificate for 127.0.0.1 and localhost. Fills the PEM
 * texts (caller frees both) and the SHA-256 fingerprint as Proxmox shows it ("AB:CD:...",
 * 96 characters and a NUL). 0, or -1 with a message in err. */
int sim_tls_make_cert(char **key_pem, char **cert_pem, char fingerprint[96], char *err,
		      size_t errlen);
/* A whole (small) text file, NUL-terminated; caller frees. NULL with errno. */
char *sim_read_text(const char *path);
/* The common name of the client certificate the connection presented, if --client-ca's CA
 * signed it (GnuTLS verified it): true with cn filled. */
bool sim_client_cert_cn(struct MHD_Connection *conn, char *cn, size_t cnlen);

#endif
