/* The HTTP threads: each runs one libmicrohttpd daemon (external epoll mode) as the hook of a
 * backend I/O loop (common/http_async.h). A fast-path tool call is read, sent to its backend,
 * awaited and answered on one thread: the answer resumes the connection on the thread that runs
 * its daemon, and that thread sends it in the same turn. No other thread is woken for it.
 *
 * The daemons share one listening socket (the first binds it, the others get it through
 * MHD_OPTION_LISTEN_SOCKET): whichever thread is free accepts, as in libmicrohttpd's own thread
 * pool, and http.max_connections is split among them the way that pool splits it. Only a
 * daemon's own thread runs it: MHD_run, and MHD_quiesce_daemon when the transport drains (it
 * asks through h->draining and a wake-up). Other threads only resume connections.
 *
 * libmicrohttpd has no wake-up of its own in this mode (it drops MHD_USE_ITC), and
 * MHD_get_timeout does not count resumed connections: cx_http_resume is how every file of the
 * transport resumes one. From another thread it wakes the daemon's thread; on that thread it
 * asks for another MHD_run before the loop waits again (the one after the current turn's
 * requests sends their answers). */
#include "http_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/http_async.h"
#include "../common/log.h"
#include "../common/util.h"

#define OPTS_MAX        16   /* options of one daemon, MHD_OPTION_END included */
#define QUIESCE_WAIT_MS 2000 /* how long quiesce waits for the threads to stop accepting */

struct cx_http_loop {
	struct cx_http *h;
	struct MHD_Daemon *d;
	struct cx_io_loop *io;
	pthread_t thread;
	bool running;
	atomic_bool quiesced;
	MHD_socket listen_fd; /* what MHD_quiesce_daemon gave back */
	bool again;           /* a connection was resumed on this thread: MHD_run soon */
};

/* The HTTP thread this is, if it is one. */
static __thread struct cx_http_loop *cur_http;

/* The loop's hook: a drain asked for, then the daemon's own turn. */
static void loop_turn(void *arg)
{
	struct cx_http_loop *lp = arg;

	if (atomic_load(&lp->h->draining) && !atomic_load(&lp->quiesced)) {
		lp->listen_fd = MHD_quiesce_daemon(lp->d);
		atomic_store(&lp->quiesced, true);
	}
	lp->again = false;
	MHD_run(lp->d);
}

/* No longer than the daemon allows: its connection timeouts, or 0 with work left over. */
static long loop_timeout(void *arg)
{
	struct cx_http_loop *lp = arg;
	MHD_UNSIGNED_LONG_LONG ms;

	if (lp->again)
		return 0;
	if (MHD_get_timeout(lp->d, &ms) != MHD_YES)
		return -1;
	return ms > LONG_MAX ? LONG_MAX : (long)ms;
}

static void *loop_main(void *arg)
{
	cur_http = arg;
	cx_io_loop_run(cur_http->io);
	return NULL;
}

void cx_http_resume(struct cx_http *h, struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_DAEMON);
	struct MHD_Daemon *d = ci ? ci->daemon : NULL;

	MHD_resume_connection(conn);
	if (cur_http && cur_http->d == d) {
		cur_http->again = true;
		return;
	}
	for (unsigned i = 0; i < h->nloops; i++)
		if (h->loops[i].d == d) {
			cx_io_loop_wake(h->loops[i].io);
			return;
		}
}

/* opts with its listening address replaced by fd (for every daemon but the first) and its
 * connection limit by limit, into out (as long as opts). */
static void options_for(const struct MHD_OptionItem *opts, MHD_socket fd, unsigned limit,
			struct MHD_OptionItem *out)
{
	unsigned i = 0;

	do {
		out[i] = opts[i];
		if (out[i].option == MHD_OPTION_SOCK_ADDR && fd != MHD_INVALID_SOCKET)
			out[i] = (struct MHD_OptionItem){ MHD_OPTION_LISTEN_SOCKET, fd, NULL };
		else if (out[i].option == MHD_OPTION_CONNECTION_LIMIT)
			out[i].value = (intptr_t)limit;
	} while (opts[i++].option != MHD_OPTION_END);
}

/* Stops what runs of h's loops, then their daemons: the first closes the listening socket
 * unless it was quiesced; the others must not (it is the first's), so they give it back first. */
static void loops_end(struct cx_http *h)
{
	for (unsigned i = 0; i < h->nloops; i++)
		if (h->loops[i].running)
			cx_io_loop_stop(h->loops[i].io);
	for (unsigned i = 0; i < h->nloops; i++) {
		struct cx_http_loop *lp = &h->loops[i];

		if (lp->running)
			pthread_join(lp->thread, NULL);
		lp->running = false;
	}
	for (unsigned i = h->nloops; i-- > 0;) {
		struct cx_http_loop *lp = &h->loops[i];

		if (lp->d && i > 0 && !atomic_load(&lp->quiesced))
			MHD_quiesce_daemon(lp->d);
		if (lp->d)
			MHD_stop_daemon(lp->d);
		cx_io_loop_free(lp->io);
	}
	free(h->loops);
	h->loops = NULL;
	h->nloops = 0;
}

/* Daemon i of h, listening on fd (MHD_INVALID_SOCKET: binding opts' address), and its loop. */
static int loop_open(struct cx_http *h, unsigned i, unsigned flags, uint16_t port,
		     const struct MHD_OptionItem *opts, MHD_socket fd, unsigned limit,
		     MHD_AccessHandlerCallback on_request, struct cx_err *err)
{
	struct cx_http_loop *lp = &h->loops[i];
	struct MHD_OptionItem mine[OPTS_MAX];
	const union MHD_DaemonInfo *info;
	struct cx_io_hook hook = { .run = loop_turn, .timeout_ms = loop_timeout, .arg = lp };

	lp->h = h;
	lp->listen_fd = MHD_INVALID_SOCKET;
	atomic_init(&lp->quiesced, false);
	options_for(opts, fd, limit, mine);
	errno = 0;
	lp->d = MHD_start_daemon(flags, port, NULL, NULL, on_request, h, MHD_OPTION_ARRAY, mine,
				 MHD_OPTION_END);
	if (!lp->d)
		return cx_err_set(err, "%s",
				  errno ? strerror(errno) : "libmicrohttpd refused to start");
	info = MHD_get_daemon_info(lp->d, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info)
		return cx_err_set(err, "libmicrohttpd has no epoll set");
	hook.fd = info->epoll_fd;
	lp->io = cx_io_loop_new(&hook, err);
	return lp->io ? 0 : -1;
}

int cx_http_loops_start(struct cx_http *h, unsigned flags, uint16_t port,
			const struct MHD_OptionItem *opts, unsigned threads,
			MHD_AccessHandlerCallback on_request, struct cx_err *err)
{
	unsigned nopts = 0, limit = 0, n;
	MHD_socket fd = MHD_INVALID_SOCKET;

	while (opts[nopts].option != MHD_OPTION_END) {
		if (opts[nopts].option == MHD_OPTION_CONNECTION_LIMIT)
			limit = (unsigned)opts[nopts].value;
		nopts++;
	}
	if (++nopts > OPTS_MAX)
		return cx_err_set(err, "too many libmicrohttpd options");
	/* Every daemon takes one connection at least. */
	n = threads < 1 ? 1 : threads;
	if (limit && n > limit)
		n = limit;
	h->loops = calloc(n, sizeof(*h->loops));
	if (!h->loops)
		return cx_err_set(err, "out of memory");
	h->nloops = n;
	for (unsigned i = 0; i < n; i++) {
		const union MHD_DaemonInfo *info;
		/* libmicrohttpd's pool: the quotient each, one more for the first remainder. */
		unsigned share = limit / n + (i < limit % n ? 1 : 0);

		if (loop_open(h, i, flags, port, opts, fd, share, on_request, err))
			goto fail;
		if (i == 0) {
			info = MHD_get_daemon_info(h->loops[0].d, MHD_DAEMON_INFO_LISTEN_FD);
			if (!info) {
				cx_err_set(err, "libmicrohttpd has no listening socket");
				goto fail;
			}
			fd = info->listen_fd;
			info = MHD_get_daemon_info(h->loops[0].d, MHD_DAEMON_INFO_BIND_PORT);
			h->port = info ? info->port : 0;
		}
	}
	for (unsigned i = 0; i < n; i++) {
		struct cx_http_loop *lp = &h->loops[i];
		char name[16];
		int rc = pthread_create(&lp->thread, NULL, loop_main, lp);

		if (rc) {
			cx_err_set(err, "could not start an HTTP thread: %s", strerror(rc));
			goto fail;
		}
		lp->running = true;
		snprintf(name, sizeof(name), "cx-http-%u", i % 100);
		pthread_setname_np(lp->thread, name); /* top -H, perf */
	}
	return 0;
fail:
	loops_end(h);
	return -1;
}

MHD_socket cx_http_loops_quiesce(struct cx_http *h)
{
	int64_t deadline = cx_now_ms() + QUIESCE_WAIT_MS;
	unsigned i;

	/* h->draining is set: each thread quiesces its daemon in its next turn. */
	for (i = 0; i < h->nloops; i++)
		cx_io_loop_wake(h->loops[i].io);
	for (i = 0; i < h->nloops && cx_now_ms() < deadline;) {
		struct timespec ts = { 0, 1000 * 1000 };

		if (atomic_load(&h->loops[i].quiesced))
			i++;
		else
			nanosleep(&ts, NULL);
	}
	if (i < h->nloops)
		cx_warn("http: an HTTP thread did not stop accepting connections in %d ms",
			QUIESCE_WAIT_MS);
	return h->nloops && atomic_load(&h->loops[0].quiesced) ? h->loops[0].listen_fd
							       : MHD_INVALID_SOCKET;
}

void cx_http_loops_stop(struct cx_http *h)
{
	loops_end(h);
}
