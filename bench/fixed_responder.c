/* fixed-responder: the benchmark's baseline, "the same load against a minimal fixed-response
 * HTTP server on the same machine". It runs libmicrohttpd the way the gateway does (internal
 * polling thread, epoll, suspend/resume allowed, a thread pool of two) and answers every POST with
 * one fixed 200 application/json body after reading and discarding the request body, so the
 * difference between it and the gateway is what the gateway does per call, not the HTTP library.
 *
 * Usage: fixed-responder PORT [BODY_FILE]
 *   PORT       loopback port to listen on; 0 picks a free one
 *   BODY_FILE  the body to answer with (bench/run.sh passes the gateway's own tools/call
 *              answer so both send the same bytes); without it, a copy of that answer
 * Prints "listening on http://127.0.0.1:PORT/" on stderr once ready; stops on SIGINT/SIGTERM. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define BODY_MAX (1024 * 1024)

/* The gateway's answer to tools/call gateway_status with the default config (0.1.0). */
static const char default_body[] =
	"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[{\"type\":\"text\",\"text\":"
	"\"{\\\"version\\\":\\\"0.1.0\\\",\\\"uptime_s\\\":0,\\\"adapters\\\":[{\\\"name\\\":"
	"\\\"gateway\\\",\\\"tools\\\":1,\\\"health\\\":\\\"ok\\\"}]}\"}],"
	"\"structuredContent\":{\"version\":\"0.1.0\",\"uptime_s\":0,\"adapters\":[{\"name\":"
	"\"gateway\",\"tools\":1,\"health\":\"ok\"}]}}}";

static struct MHD_Response *ok_response;
static struct MHD_Response *not_allowed_response;

/* A marker for "this request has started"; MHD needs a non-NULL *con_cls to tell the first
 * call (headers only) from the ones that carry the body. */
static int request_started;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	if (*con_cls == NULL) {
		*con_cls = &request_started;
		return MHD_YES;
	}
	if (*upload_data_size != 0) {
		*upload_data_size = 0; /* read and discarded */
		return MHD_YES;
	}
	if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
		return MHD_queue_response(conn, MHD_HTTP_METHOD_NOT_ALLOWED, not_allowed_response);
	return MHD_queue_response(conn, MHD_HTTP_OK, ok_response);
}

static int parse_port(const char *s, unsigned short *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 0 || v > 65535)
		return -1;
	*out = (unsigned short)v;
	return 0;
}

/* Reads the whole file into a new buffer (caller frees); NULL on error or past BODY_MAX. */
static char *read_body(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n;

	if (f == NULL) {
		fprintf(stderr, "fixed-responder: cannot open '%s': %s\n", path, strerror(errno));
		return NULL;
	}
	buf = malloc(BODY_MAX + 1);
	if (buf == NULL)
		goto out;
	n = fread(buf, 1, BODY_MAX + 1, f);
	if (ferror(f) || n > BODY_MAX || n == 0) {
		fprintf(stderr,
			"fixed-responder: '%s' is unreadable, empty or larger than %d bytes\n",
			path, BODY_MAX);
		free(buf);
		buf = NULL;
		goto out;
	}
	*len = n;
out:
	fclose(f);
	return buf;
}

int main(int argc, char **argv)
{
	struct MHD_Daemon *d = NULL;
	const union MHD_DaemonInfo *info;
	struct sockaddr_in sa = { 0 };
	unsigned short port;
	char *file_body = NULL;
	size_t body_len = sizeof(default_body) - 1;
	sigset_t sigs;
	int sig;
	int rc = 1;

	if (argc < 2 || argc > 3 || parse_port(argv[1], &port) != 0) {
		fprintf(stderr, "usage: fixed-responder PORT [BODY_FILE]\n");
		return 2;
	}
	if (argc == 3) {
		file_body = read_body(argv[2], &body_len);
		if (file_body == NULL)
			return 1;
	}

	/* Blocked before MHD starts its threads, so they inherit the mask and main gets them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	ok_response = MHD_create_response_from_buffer(body_len,
						      file_body != NULL ? file_body
									: (void *)default_body,
						      MHD_RESPMEM_PERSISTENT);
	not_allowed_response =
		MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (ok_response == NULL || not_allowed_response == NULL) {
		fprintf(stderr, "fixed-responder: out of memory\n");
		goto out;
	}
	if (MHD_add_response_header(ok_response, MHD_HTTP_HEADER_CONTENT_TYPE,
				    "application/json") != MHD_YES ||
	    MHD_add_response_header(not_allowed_response, MHD_HTTP_HEADER_ALLOW, "POST") !=
		    MHD_YES) {
		fprintf(stderr, "fixed-responder: cannot set response headers\n");
		goto out;
	}

	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* The gateway's flags and defaults (gateway/transport_http.c, http.threads = 2,
	 * max_connections = 1024), so that only the work per request differs. */
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
				     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC | MHD_USE_ERROR_LOG,
			     port, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR,
			     (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)2,
			     MHD_OPTION_CONNECTION_LIMIT, (unsigned int)1024,
			     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)60, MHD_OPTION_END);
	if (d == NULL) {
		fprintf(stderr, "fixed-responder: cannot listen on '127.0.0.1:%u'\n", port);
		goto out;
	}
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	if (info == NULL || info->port == 0) {
		fprintf(stderr, "fixed-responder: cannot learn the bound port\n");
		goto out;
	}
	fprintf(stderr, "fixed-responder: listening on http://127.0.0.1:%u/ (%zu-byte body)\n",
		info->port, body_len);

	while (sigwait(&sigs, &sig) == 0 && sig != SIGINT && sig != SIGTERM)
		;
	rc = 0;
out:
	if (d != NULL)
		MHD_stop_daemon(d);
	if (ok_response != NULL)
		MHD_destroy_response(ok_response);
	if (not_allowed_response != NULL)
		MHD_destroy_response(not_allowed_response);
	free(file_body);
	return rc;
}
