/* cortex-sim: the backends the adapters call, on one loopback port, for tests. Flags, the
 * daemon, routing to a backend by path prefix, the request log, the control endpoints under
 * /_sim/ and the faults on the way out. One thread per connection, so a fault that sleeps
 * (latency, trickle) delays only its own connection; the backends run under one lock. */
#include "sim.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>

#include "../../common/buf.h"
#include "../../common/err.h"
#include "../../common/json.h"
#include "../../common/util.h"

#define LOG_MAX     10000 /* --log-max: the default, and the largest is LOG_MAX_MAX */
#define LOG_MAX_MAX 1000000

static const struct sim_backend *const backends[] = {
	&sim_proxmox,         &sim_cloudflare,         &sim_sandfly, &sim_unifi, &sim_kubernetes,
	&sim_kubernetes_apis, &sim_kubernetes_version, &sim_llm,
};
#define N_BACKENDS (sizeof(backends) / sizeof(backends[0]))

static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static json_t *config; /* the --config file, or {}; reset loads it again */
/* The request log, under state_lock: a ring of the last log_cap entries (--log-max), oldest at
 * log_head, so a busy simulator replaces its oldest entry without moving the others. */
static json_t **log_ring;
static size_t log_cap = LOG_MAX, log_head, log_len;

static const char usage[] =
	"usage: cortex-sim [--listen 127.0.0.1:PORT] [--config FILE] [--tls [--cert-out FILE]\n"
	"                  [--client-ca FILE]] [--log-max N]\n"
	"\n"
	"Plays the backends Cortex's adapters call, for tests: their published APIs (paths,\n"
	"envelopes, paging, auth, errors), state that changes, and faults scripted per route.\n"
	"Prints one line once ready, \"cortex-sim listening on http://127.0.0.1:PORT\" (https with\n"
	"--tls, after a line \"cortex-sim certificate sha256 AB:CD:...\"); stops on SIGTERM.\n"
	"\n"
	"  --listen ADDR:PORT  a loopback address (127.0.0.0/8 or localhost); port 0 picks one\n"
	"                      (default 127.0.0.1:0)\n"
	"  --config FILE       JSON: {\"proxmox\": {...}, \"cloudflare\": {...}, \"unifi\": {...},\n"
	"                      \"faults\": [...]};\n"
	"                      each key of a backend's object replaces that default\n"
	"  --tls               HTTPS with a self-signed certificate made at start (EC P-256, CN and\n"
	"                      SAN 127.0.0.1, SAN localhost)\n"
	"  --cert-out FILE     write that certificate (PEM) to FILE\n"
	"  --client-ca FILE    ask clients for a certificate and trust those this CA (PEM) signed\n"
	"                      (Kubernetes accepts them as credentials)\n"
	"  --log-max N         how many requests /_sim/requests keeps, the newest (1-1000000;\n"
	"                      default 10000)\n"
	"\n"
	"Backends and default credentials:\n"
	"%s%s%s%s%s%s"
	"\n"
	"Control endpoints (no auth):\n"
	"  GET    /_sim/requests  {\"requests\": [{method, path, query, headers (names only),\n"
	"                         authorization (present or not), at_ms (when it arrived, ms\n"
	"                         since the epoch), client_closed_at_ms (when the client hung\n"
	"                         up during a fault's delay)}]}, oldest first\n"
	"  DELETE /_sim/requests  empties the log\n"
	"  GET    /_sim/faults    the fault table, with hits and what remains of each count\n"
	"  POST   /_sim/faults    adds a fault, an array of them, or {\"faults\": [...]}\n"
	"  DELETE /_sim/faults    removes every fault\n"
	"  POST   /_sim/reset     the initial state again: backends, faults of --config, empty log\n"
	"\n"
	"A fault (the first live one whose method and path match is taken):\n"
	"  {\"method\": \"GET\" (default \"*\"), \"path\": \"/api2/json/nodes*\" (fnmatch glob),\n"
	"   \"kind\": \"latency\" | \"status\" | \"drop\" | \"truncate\" | \"invalid_json\" |\n"
	"           \"oversize\" | \"trickle\",\n"
	"   \"count\": N          only the next N matching requests (default: all),\n"
	"   \"latency_ms\": N     a delay before the answer (any kind; the whole of \"latency\"),\n"
	"   \"status\": 503       \"status\": 400-599 in the backend's error envelope,\n"
	"   \"retry_after\": S    Retry-After seconds (429 defaults to 1),\n"
	"   \"after_bytes\": N    \"drop\": body bytes sent before the connection closes,\n"
	"                       \"truncate\": bytes kept (both default to half the body),\n"
	"   \"size_mib\": N       \"oversize\": a valid JSON body of N MiB (default 4),\n"
	"   \"bytes_per_sec\": N  \"trickle\": the real answer at N bytes a second}\n";

struct conn_ctx {
	struct cx_buf body;
	bool too_big;
};

static enum MHD_Result collect_name(void *cls, enum MHD_ValueKind kind, const char *key,
				    const char *value)
{
	json_array_append_new(cls, json_string(key));
	return MHD_YES;
}

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *value)
{
	json_object_set_new(cls, key, value ? json_string(value) : json_null());
	return MHD_YES;
}

static int64_t epoch_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Appends the request to the log; returns its entry (a new reference, NULL on out of memory)
 * so what happens later to the request can be added to it. */
static json_t *log_request(struct MHD_Connection *conn, const char *method, const char *url)
{
	json_t *headers = json_array(), *query = json_object();
	bool auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						MHD_HTTP_HEADER_AUTHORIZATION) != NULL;
	json_t *entry;

	MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_name, headers);
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg, query);
	entry = json_pack("{s:s,s:s,s:o,s:o,s:b,s:I}", "method", method, "path", url, "query",
			  query, "headers", headers, "authorization", auth, "at_ms",
			  (json_int_t)epoch_ms());
	if (!entry)
		return NULL;
	pthread_mutex_lock(&state_lock);
	if (log_len == log_cap) {
		json_decref(log_ring[log_head]);
		log_ring[log_head] = json_incref(entry);
		log_head = (log_head + 1) % log_cap;
	} else {
		log_ring[(log_head + log_len++) % log_cap] = json_incref(entry);
	}
	pthread_mutex_unlock(&state_lock);
	return entry;
}

/* Empties the request log; the caller holds state_lock. */
static void log_clear_locked(void)
{
	for (; log_len > 0; log_len--, log_head = (log_head + 1) % log_cap)
		json_decref(log_ring[log_head]);
	log_head = 0;
}

/* A copy of the request log, oldest first (NULL on out of memory); the caller holds
 * state_lock. A copy: other connections' threads append to the log and add to its entries
 * while the answer is written. */
static json_t *log_copy_locked(void)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a != NULL && i < log_len; i++) {
		if (json_array_append_new(a, json_deep_copy(log_ring[(log_head + i) % log_cap]))) {
			json_decref(a);
			a = NULL;
		}
	}
	return a;
}

/* A fault's delay, watching the client: when it hangs up first, the log entry says when
 * (client_closed_at_ms), so tests can tell how fast a cancelled call reaches the backend. */
static void delay_watching(struct MHD_Connection *conn, long ms, json_t *entry)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	int64_t end = cx_now_ms() + ms;
	struct pollfd p = { .fd = ci ? ci->connect_fd : -1, .events = POLLRDHUP };

	while (!atomic_load(&sim_stopping)) {
		int64_t left = end - cx_now_ms();
		if (left <= 0)
			return;
		if (p.fd < 0) {
			sim_sleep_ms(left);
			return;
		}
		if (poll(&p, 1, left > 20 ? 20 : (int)left) > 0 &&
		    (p.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
			pthread_mutex_lock(&state_lock);
			json_object_set_new(entry, "client_closed_at_ms", json_integer(epoch_ms()));
			pthread_mutex_unlock(&state_lock);
			return;
		}
	}
}

static json_t *control_error(const char *msg)
{
	return json_pack("{s:s}", "error", msg);
}

/* (Re)loads every backend from config; under state_lock or before the daemon starts. */
static int load_backends(char *err, size_t errlen)
{
	size_t i;

	for (i = 0; i < N_BACKENDS; i++)
		if (backends[i]->load(json_object_get(config, backends[i]->name), err, errlen) != 0)
			return -1;
	return sim_faults_set(json_object_get(config, "faults"), err, errlen);
}

static void control(const char *method, const char *url, const char *body, size_t len,
		    struct sim_response *resp)
{
	char err[512] = "";
	struct cx_err jerr;
	json_t *v;

	if (strcmp(url, "/_sim/requests") == 0 && strcmp(method, "GET") == 0) {
		pthread_mutex_lock(&state_lock);
		v = json_pack("{s:o}", "requests", log_copy_locked());
		pthread_mutex_unlock(&state_lock);
		sim_reply(resp, 200, v);
	} else if (strcmp(url, "/_sim/requests") == 0 && strcmp(method, "DELETE") == 0) {
		pthread_mutex_lock(&state_lock);
		log_clear_locked();
		pthread_mutex_unlock(&state_lock);
		sim_reply(resp, 200, json_pack("{s:[]}", "requests"));
	} else if (strcmp(url, "/_sim/faults") == 0 && strcmp(method, "GET") == 0) {
		sim_reply(resp, 200, json_pack("{s:o}", "faults", sim_faults_list()));
	} else if (strcmp(url, "/_sim/faults") == 0 && strcmp(method, "DELETE") == 0) {
		sim_faults_set(NULL, NULL, 0);
		sim_reply(resp, 200, json_pack("{s:[]}", "faults"));
	} else if (strcmp(url, "/_sim/faults") == 0 && strcmp(method, "POST") == 0) {
		v = cx_json_loadb(body, len, SIM_BODY_MAX, &jerr);
		if (v == NULL)
			sim_reply(resp, 400, control_error(jerr.msg));
		else if (sim_faults_add(v, err, sizeof(err)) != 0)
			sim_reply(resp, 400, control_error(err));
		else
			sim_reply(resp, 200, json_pack("{s:o}", "faults", sim_faults_list()));
		json_decref(v);
	} else if (strcmp(url, "/_sim/reset") == 0 && strcmp(method, "POST") == 0) {
		int rc;

		pthread_mutex_lock(&state_lock);
		rc = load_backends(err, sizeof(err));
		log_clear_locked();
		pthread_mutex_unlock(&state_lock);
		sim_reply(resp, rc == 0 ? 200 : 500,
			  rc == 0 ? json_pack("{s:b}", "reset", 1) : control_error(err));
	} else {
		sim_reply(resp, 404, control_error("no such control endpoint; --help lists them"));
	}
}

static void add_headers(struct MHD_Response *r, const json_t *headers)
{
	const char *name;
	json_t *v, *one;
	size_t i;

	json_object_foreach((json_t *)headers, name, v) {
		if (json_is_string(v))
			MHD_add_response_header(r, name, json_string_value(v));
		json_array_foreach(v, i, one)
			MHD_add_response_header(r, name, json_string_value(one));
	}
}

static const struct sim_backend *backend_for(const char *url, size_t *plen)
{
	size_t i;

	for (i = 0; i < N_BACKENDS; i++) {
		*plen = strlen(backends[i]->prefix);
		if (strncmp(url, backends[i]->prefix, *plen) == 0 &&
		    (url[*plen] == '/' || url[*plen] == '\0'))
			return backends[i];
	}
	return NULL;
}

static enum MHD_Result answer(struct MHD_Connection *conn, const char *url, const char *method,
			      struct conn_ctx *ctx)
{
	struct sim_response resp = { 0 };
	struct sim_fault fault;
	const struct sim_backend *b = NULL;
	struct MHD_Response *r;
	json_t *entry = NULL;
	bool faulty = false;
	size_t plen = 0;
	enum MHD_Result rc;

	if (ctx->too_big) {
		sim_reply(&resp, 413, control_error("request body too large"));
	} else if (strncmp(url, "/_sim/", 6) == 0) {
		control(method, url, ctx->body.data ? ctx->body.data : "", ctx->body.len, &resp);
	} else {
		entry = log_request(conn, method, url);
		faulty = sim_faults_take(method, url, &fault);
		if (faulty && fault.latency_ms > 0)
			delay_watching(conn, fault.latency_ms, entry);
		json_decref(entry);
		b = backend_for(url, &plen);
	}
	if (b != NULL) {
		struct sim_request req = { conn, method, url + plen,
					   ctx->body.data ? ctx->body.data : "", ctx->body.len };

		pthread_mutex_lock(&state_lock);
		b->handle(&req, &resp);
		pthread_mutex_unlock(&state_lock);
	} else if (resp.status == 0) {
		sim_reply(&resp, 404, control_error("no backend serves this path"));
	}
	if (faulty && b != NULL)
		r = sim_fault_respond(&fault, b, &resp);
	else
		r = MHD_create_response_from_buffer(resp.len, resp.body ? resp.body : (void *)"",
						    MHD_RESPMEM_MUST_COPY);
	free(resp.body);
	if (r != NULL)
		add_headers(r, resp.headers);
	json_decref(resp.headers);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	rc = MHD_queue_response(conn, resp.status ? resp.status : 500, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct conn_ctx *ctx = *con_cls;

	if (ctx == NULL) {
		ctx = calloc(1, sizeof(*ctx));
		if (ctx == NULL)
			return MHD_NO;
		cx_buf_init(&ctx->body, SIM_BODY_MAX);
		*con_cls = ctx;
		return MHD_YES;
	}
	if (*upload_data_size != 0) {
		if (!ctx->too_big && cx_buf_append(&ctx->body, upload_data, *upload_data_size) != 0)
			ctx->too_big = true;
		*upload_data_size = 0;
		return MHD_YES;
	}
	return answer(conn, url, method, ctx);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct conn_ctx *ctx = *con_cls;

	if (ctx == NULL)
		return;
	cx_buf_release(&ctx->body);
	free(ctx);
	*con_cls = NULL;
}

/* --listen: an IPv4 loopback address (or localhost) and a port; anything else is refused, since
 * the simulator accepts well-known credentials. */
static int parse_listen(const char *s, struct sockaddr_in *sa)
{
	const char *colon = strrchr(s, ':');
	char host[64];
	long port;

	if (colon == NULL || (size_t)(colon - s) >= sizeof(host) ||
	    cx_parse_long(colon + 1, 0, 65535, &port) != 0)
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	if (strcmp(host, "localhost") == 0)
		sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else if (inet_pton(AF_INET, host, &sa->sin_addr) != 1 ||
		 (ntohl(sa->sin_addr.s_addr) >> 24) != 127)
		return -1;
	return 0;
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	int rc;

	if (f == NULL)
		return -1;
	rc = fputs(text, f) < 0 ? -1 : 0;
	if (fclose(f) != 0)
		rc = -1;
	return rc;
}

struct options {
	const char *listen, *config, *cert_out, *client_ca;
	bool tls;
	long log_max;
};

static int parse_args(int argc, char **argv, struct options *o)
{
	int i;

	o->listen = "127.0.0.1:0";
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			printf(usage, sim_proxmox.help, sim_cloudflare.help, sim_sandfly.help,
			       sim_unifi.help, sim_kubernetes.help, sim_llm.help);
			exit(0);
		} else if (strcmp(a, "--tls") == 0) {
			o->tls = true;
		} else if (i + 1 < argc && strcmp(a, "--listen") == 0) {
			o->listen = argv[++i];
		} else if (i + 1 < argc && strcmp(a, "--config") == 0) {
			o->config = argv[++i];
		} else if (i + 1 < argc && strcmp(a, "--cert-out") == 0) {
			o->cert_out = argv[++i];
		} else if (i + 1 < argc && strcmp(a, "--client-ca") == 0) {
			o->client_ca = argv[++i];
		} else if (i + 1 < argc && strcmp(a, "--log-max") == 0) {
			char *end;

			o->log_max = strtol(argv[++i], &end, 10);
			if (*argv[i] == '\0' || *end != '\0' || o->log_max < 1 ||
			    o->log_max > LOG_MAX_MAX) {
				fprintf(stderr,
					"cortex-sim: --log-max '%s' is not a number from 1 to %d\n",
					argv[i], LOG_MAX_MAX);
				return -1;
			}
		} else {
			fprintf(stderr,
				"cortex-sim: unknown or incomplete option '%s'; see --help\n", a);
			return -1;
		}
	}
	if ((o->cert_out != NULL || o->client_ca != NULL) && !o->tls) {
		fprintf(stderr, "cortex-sim: --cert-out and --client-ca need --tls\n");
		return -1;
	}
	return 0;
}

static int load_config(const char *path)
{
	static const char *const keys[] = { "proxmox",    "cloudflare", "sandfly", "unifi",
					    "kubernetes", "faults",     "llm",     NULL };
	char err[512];
	struct cx_err jerr;

	config = path ? cx_json_load_file(path, SIM_CONFIG_MAX, &jerr) : json_object();
	if (config == NULL) {
		fprintf(stderr, "cortex-sim: config '%s': %s\n", path, jerr.msg);
		return -1;
	}
	if (sim_check_keys(config, "config", keys, err, sizeof(err)) != 0 ||
	    load_backends(err, sizeof(err)) != 0) {
		fprintf(stderr, "cortex-sim: config '%s': %s\n", path ? path : "(defaults)", err);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	struct MHD_Daemon *d = NULL;
	const union MHD_DaemonInfo *info;
	struct sockaddr_in sa;
	char *key_pem = NULL, *cert_pem = NULL, *trust_pem = NULL, fp[96], err[256];
	unsigned int flags =
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
	sigset_t sigs;
	size_t i;
	int sig, rc = 1;

	if (parse_args(argc, argv, &o) != 0)
		return 2;
	if (parse_listen(o.listen, &sa) != 0) {
		fprintf(stderr,
			"cortex-sim: --listen '%s' is not 127.x.y.z:PORT or localhost:PORT "
			"(the simulator answers on loopback only)\n",
			o.listen);
		return 2;
	}
	if (o.log_max > 0)
		log_cap = (size_t)o.log_max;
	log_ring = calloc(log_cap, sizeof(*log_ring));
	if (log_ring == NULL || load_config(o.config) != 0)
		goto out;
	if (o.tls) {
		if (sim_tls_make_cert(&key_pem, &cert_pem, fp, err, sizeof(err)) != 0) {
			fprintf(stderr, "cortex-sim: %s\n", err);
			goto out;
		}
		if (o.cert_out != NULL && write_file(o.cert_out, cert_pem) != 0) {
			fprintf(stderr, "cortex-sim: cannot write '%s': %s\n", o.cert_out,
				strerror(errno));
			goto out;
		}
		flags |= MHD_USE_TLS;
	}
	if (o.client_ca != NULL && (trust_pem = sim_read_text(o.client_ca)) == NULL) {
		fprintf(stderr, "cortex-sim: cannot read '%s': %s\n", o.client_ca, strerror(errno));
		goto out;
	}

	/* Blocked before MHD starts its threads, so they inherit the mask and main gets them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct MHD_OptionItem opts[] = {
		{ MHD_OPTION_SOCK_ADDR, 0, &sa },
		{ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, NULL },
		{ MHD_OPTION_CONNECTION_TIMEOUT, 30, NULL },
		{ o.tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, key_pem },
		{ o.tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, cert_pem },
		{ trust_pem ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END, 0, trust_pem },
		{ MHD_OPTION_END, 0, NULL },
	};
	d = MHD_start_daemon(flags, ntohs(sa.sin_port), NULL, NULL, on_request, NULL,
			     MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	info = d ? MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT) : NULL;
	if (info == NULL || info->port == 0) {
		fprintf(stderr, "cortex-sim: cannot listen on '%s'\n", o.listen);
		goto out;
	}
	if (o.tls)
		printf("cortex-sim certificate sha256 %s\n", fp);
	inet_ntop(AF_INET, &sa.sin_addr, err, sizeof(err));
	printf("cortex-sim listening on %s://%s:%u\n", o.tls ? "https" : "http", err, info->port);
	fflush(stdout);

	while (sigwait(&sigs, &sig) == 0 && sig != SIGINT && sig != SIGTERM)
		;
	atomic_store(&sim_stopping, true);
	rc = 0;
out:
	if (d != NULL)
		MHD_stop_daemon(d);
	for (i = 0; i < N_BACKENDS; i++)
		backends[i]->release();
	sim_faults_release();
	if (log_ring != NULL)
		log_clear_locked();
	free(log_ring);
	json_decref(config);
	free(key_pem);
	free(cert_pem);
	free(trust_pem);
	return rc;
}
