/* Start-up's checks, in the order start-up would meet the failures, shared with
 * --check-config so that "config ok" means the gateway will start (the port aside). */
#include "preflight.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WHERE_MAX 384

int cx_preflight_appendable(const char *what, const char *path, struct cx_err *err)
{
	const char *slash;
	struct stat st;
	char *dir;
	int fd;

	/* O_NONBLOCK: a FIFO with no reader must not hang the check. */
	fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (errno != ENOENT)
		return cx_err_set(err, "could not open %s '%s': %s", what, path, strerror(errno));
	slash = strrchr(path, '/');
	dir = slash == path ? strdup("/")
	      : slash       ? strndup(path, (size_t)(slash - path))
			    : strdup(".");
	if (!dir)
		return cx_err_set(err, "out of memory");
	if (stat(dir, &st) || !S_ISDIR(st.st_mode)) {
		cx_err_set(err, "could not create %s '%s': directory '%s' does not exist", what,
			   path, dir);
		goto fail;
	}
	if (access(dir, W_OK | X_OK)) {
		cx_err_set(err, "could not create %s '%s' in '%s': %s", what, path, dir,
			   strerror(errno));
		goto fail;
	}
	free(dir);
	return 0;
fail:
	free(dir);
	return -1;
}

int cx_preflight(const struct cx_gw_config *c, struct cx_listen *la, struct cx_err *err)
{
	char where[WHERE_MAX];

	memset(la, 0, sizeof(*la));
	if (c->listen) {
		cx_gw_config_where(c, "listen", c->listen_from_flag, "--listen", where,
				   sizeof(where));
		if (cx_listen_parse(c->listen, la, err))
			return cx_err_prefix(err, "%s: ", where);
		if (!la->loopback && !c->ntokens && !c->insecure_no_auth)
			return cx_err_set(err,
					  "%s: refusing to listen on '%s' without tokens: "
					  "anyone who can reach it could call every tool; "
					  "configure \"tokens\" (see --hash-token) or pass "
					  "--insecure-no-auth on a trusted network",
					  where, c->listen);
	}
	if (c->audit_file) {
		cx_gw_config_where(c, "audit.file", c->audit_from_flag, "--audit-file", where,
				   sizeof(where));
		if (cx_preflight_appendable("audit file", c->audit_file, err))
			return cx_err_prefix(err, "%s: ", where);
	}
	if (c->ended_sessions_file &&
	    cx_preflight_appendable("ended-sessions file", c->ended_sessions_file, err))
		return cx_err_prefix(err, "http.ended_sessions_file: ");
	if (c->ended_sessions_shared == 1 && !cx_gw_config_tasks_in_redis(c))
		return cx_err_set(err,
				  "http.ended_sessions_shared: the gateways share ended sessions "
				  "through the Redis task store, and tasks.store is not "
				  "\"redis\" here (or tasks are disabled)");
	return 0;
}
