/* jansson's allocator for the gateway: small blocks kept per thread for reuse.
 *
 * A tool call builds and frees a few hundred small jansson values at once (a backend's answer,
 * the result, the reply). glibc's per-thread cache holds 7 blocks of a size, so most of them
 * took malloc's slow path and its arena lock, a fifth of a call's instructions. Here each
 * thread keeps up to KEEP freed blocks of each small size class.
 *
 * The blocks are ordinary malloc blocks, their class read back with malloc_usable_size: a value
 * allocated here may be freed with free() (json_dumps' strings are), and one from plain malloc
 * may come back here. Under AddressSanitizer nothing is installed, so it still sees every
 * allocation. */
#include "json.h"

#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#if defined(__SANITIZE_ADDRESS__)
#define CX_NO_JSON_CACHE 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CX_NO_JSON_CACHE 1
#endif
#endif

#define CLASSES  16  /* usable sizes 24, 40, ..., 264: glibc chunks of 32 to 272 bytes */
#define KEEP     256 /* blocks kept per class and thread */
#define CHUNK    16  /* glibc's chunk alignment */
#define OVERHEAD 8   /* a heap chunk's usable size is its size less this */

struct cache {
	void *head[CLASSES];
	unsigned n[CLASSES];
	bool registered;
};

static _Thread_local struct cache tc;
static pthread_key_t exit_key;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* The smallest class whose blocks hold n bytes, or -1. */
static int class_for(size_t n)
{
	size_t c = n <= 24 ? 0 : (n - 24 + CHUNK - 1) / CHUNK;

	return c < CLASSES ? (int)c : -1;
}

static size_t usable_of(int c)
{
	return 24 + (size_t)c * CHUNK;
}

/* The class of a block from its usable size, or -1 (mmapped or large blocks). */
static int class_of_block(void *p)
{
	size_t chunk = malloc_usable_size(p) + OVERHEAD;

	if (chunk % CHUNK || chunk < 32)
		return -1;
	chunk = (chunk - 32) / CHUNK;
	return chunk < CLASSES ? (int)chunk : -1;
}

static void drain(void *arg)
{
	struct cache *c = arg;

	for (int i = 0; i < CLASSES; i++) {
		while (c->head[i]) {
			void *p = c->head[i];
			c->head[i] = *(void **)p;
			free(p);
		}
		c->n[i] = 0;
	}
}

static void make_key(void)
{
	(void)pthread_key_create(&exit_key, drain);
}

static void *cached_malloc(size_t n)
{
	int c = class_for(n);
	void *p;

	if (c < 0)
		return malloc(n);
	p = tc.head[c];
	if (p) {
		tc.head[c] = *(void **)p;
		tc.n[c]--;
		return p;
	}
	/* The whole class, so the block can serve any request of it later. */
	return malloc(usable_of(c));
}

static void cached_free(void *p)
{
	int c;

	if (!p)
		return;
	c = class_of_block(p);
	if (c < 0 || tc.n[c] >= KEEP) {
		free(p);
		return;
	}
	if (!tc.registered) {
		/* The thread's blocks are freed when it exits. */
		pthread_once(&once, make_key);
		if (pthread_setspecific(exit_key, &tc)) {
			free(p);
			return;
		}
		tc.registered = true;
	}
	*(void **)p = tc.head[c];
	tc.head[c] = p;
	tc.n[c]++;
}

void cx_json_alloc_init(void)
{
#ifndef CX_NO_JSON_CACHE
	json_set_alloc_funcs(cached_malloc, cached_free);
#else
	(void)cached_malloc;
	(void)cached_free;
#endif
}
