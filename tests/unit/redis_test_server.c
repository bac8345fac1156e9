/* The Redis task store tests' own redis-server (redis_test_server.h). */
#include "redis_test_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

struct rts rts = { .dir = "/tmp/cx-test-redis-XXXXXX" };

static int prefix_seq;

static bool find_redis(void)
{
	const char *env = getenv("REDIS_SERVER");
	const char *cands[] = { env, "/usr/bin/redis-server", "/usr/local/bin/redis-server",
				"/usr/sbin/redis-server" };
	size_t i;

	for (i = 0; i < sizeof(cands) / sizeof(cands[0]); i++) {
		if (cands[i] && access(cands[i], X_OK) == 0) {
			snprintf(rts.bin, sizeof(rts.bin), "%s", cands[i]);
			return true;
		}
	}
	return false;
}

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(fd, (struct sockaddr *)&a, &len))
		return -1;
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

redisContext *rts_admin(void)
{
	struct timeval tv = { 1, 0 };

	return redisConnectWithTimeout("127.0.0.1", rts.port, tv);
}

int rts_start(void)
{
	char port[16], log[128];
	int i, fd;

	snprintf(port, sizeof(port), "%d", rts.port);
	snprintf(log, sizeof(log), "%s/redis.log", rts.dir);
	rts.pid = fork();
	if (rts.pid < 0)
		return -1;
	if (rts.pid == 0) {
		fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		dup2(fd, 1);
		dup2(fd, 2);
		execl(rts.bin, rts.bin, "--port", port, "--bind", "127.0.0.1", "--save", "",
		      "--appendonly", "yes", "--appendfsync", "always", "--dir", rts.dir,
		      "--daemonize", "no", "--protected-mode", "no", (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 200; i++) {
		redisContext *c = rts_admin();
		redisReply *r = c && !c->err ? redisCommand(c, "PING") : NULL;
		bool up = r && r->type == REDIS_REPLY_STATUS;

		if (r)
			freeReplyObject(r);
		if (c)
			redisFree(c);
		if (up)
			return 0;
		usleep(25 * 1000);
	}
	return -1;
}

void rts_kill(void)
{
	if (rts.pid > 0) {
		kill(rts.pid, SIGKILL);
		waitpid(rts.pid, NULL, 0);
		rts.pid = 0;
	}
}

int rts_setup(void **state)
{
	if (!find_redis()) {
		fprintf(stderr, "redis test server: redis-server not found (looked at "
				"$REDIS_SERVER, /usr/bin, /usr/local/bin): install it with "
				"scripts/deps.sh test (Debian: apt-get install redis-server)\n");
		return -1;
	}
	if (!mkdtemp(rts.dir) || (rts.port = free_port()) < 0 || rts_start() != 0) {
		char log[128], line[256];
		FILE *f;

		fprintf(stderr, "redis test server: could not start %s on 127.0.0.1:%d; its log:\n",
			rts.bin, rts.port);
		snprintf(log, sizeof(log), "%s/redis.log", rts.dir);
		f = fopen(log, "r");
		while (f && fgets(line, sizeof(line), f))
			fprintf(stderr, "  %s", line);
		if (f)
			fclose(f);
		rts_teardown(state);
		return -1;
	}
	return 0;
}

int rts_teardown(void **state)
{
	char cmd[128];

	rts_kill();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", rts.dir);
	return system(cmd) == 0 ? 0 : -1;
}

struct cx_task_store *rts_open_store(long lease_ms, long max_attempts, const char *prefix)
{
	char url[64], pfx[32];
	struct cx_err err = { 0 };
	json_t *conf;
	struct cx_task_store *s;

	if (!prefix) {
		snprintf(pfx, sizeof(pfx), "t%d-%d:", (int)getpid(), ++prefix_seq);
		prefix = pfx;
	}
	snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", rts.port);
	conf = json_pack("{s:s, s:s, s:s, s:I, s:I}", "store", "redis", "url", url, "prefix",
			 prefix, "lease_ms", (json_int_t)lease_ms, "max_attempts",
			 (json_int_t)max_attempts);
	s = cx_task_store_open(conf, &err);
	json_decref(conf);
	if (!s)
		fprintf(stderr, "open: %s\n", err.msg);
	return s;
}

const char *rts_prefix(void)
{
	static char p[32];

	snprintf(p, sizeof(p), "t%d-%d:", (int)getpid(), prefix_seq);
	return p;
}

json_t *rts_create_n(struct cx_task_store *s, size_t n, const char *category, int prio)
{
	json_t *specs = json_array(), *created = NULL;
	struct cx_err err = { 0 };
	size_t i;
	char q[64];

	for (i = 0; i < n; i++) {
		snprintf(q, sizeof(q), "query %zu", i);
		json_array_append_new(specs,
				      json_pack("{s:s, s:s, s:i}", "query", q, "category",
						category ? category : "general", "priority", prio));
	}
	if (cx_task_create(s, specs, &created, &err) != 0)
		fprintf(stderr, "create: %s\n", err.msg);
	json_decref(specs);
	return created;
}

const char *rts_id(const json_t *t)
{
	return json_string_value(json_object_get(t, "id"));
}

const char *rts_status(struct cx_task_store *s, const char *id)
{
	static char st[32];
	json_t *t = NULL;
	struct cx_err err = { 0 };

	if (cx_task_get(s, id, &t, &err) != 0)
		return "(missing)";
	snprintf(st, sizeof(st), "%s", json_string_value(json_object_get(t, "status")));
	json_decref(t);
	return st;
}

json_int_t rts_meta_int(const json_t *t, const char *key)
{
	return json_integer_value(json_object_get(json_object_get(t, "metadata"), key));
}
