/* A redis-server of the test's own for the Redis task store's tests: a free loopback port, a
 * temporary directory, append-only with fsync always; stopped (SIGKILL) and started again on
 * the same port and data by the outage tests. */
#ifndef CX_REDIS_TEST_SERVER_H
#define CX_REDIS_TEST_SERVER_H

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <sys/types.h>

#include "../../common/taskstore.h"

struct rts {
	char bin[256];
	char dir[64];
	int port;
	pid_t pid;
};
extern struct rts rts;

/* cmocka group setup / teardown: finds redis-server ($REDIS_SERVER, /usr/bin, ...) and starts
 * it; without one, says how to install it and fails. */
int rts_setup(void **state);
int rts_teardown(void **state);
/* Starts the server again on the same port and data, waits until it answers: 0 or -1. */
int rts_start(void);
/* SIGKILL, as a crash would. */
void rts_kill(void);
/* A plain connection to the server, for the test's own commands. */
redisContext *rts_admin(void);

/* A store on the server under prefix (NULL: a new one of the test's own, so every test
 * starts empty; rts_prefix() names it, for other processes to open the same store). */
struct cx_task_store *rts_open_store(long lease_ms, long max_attempts, const char *prefix);
const char *rts_prefix(void);
/* n tasks of category (NULL: general) and priority, created in one call; NULL on failure. */
json_t *rts_create_n(struct cx_task_store *s, size_t n, const char *category, int prio);
const char *rts_id(const json_t *task);
/* The stored task's status, "(missing)" when there is none (a static buffer). */
const char *rts_status(struct cx_task_store *s, const char *id);
/* metadata.key of task as an integer. */
json_int_t rts_meta_int(const json_t *task, const char *key);

#endif
