/* Messages that belong to sessions rather than to a request: an adapter withdrawing or
 * restoring a tool, resource or prompt (notifications/.../list_changed to every session with
 * a stream open), a resource changing (notifications/resources/updated to its subscribers),
 * and the push sinks the transports register to deliver them. Adapters hold no server handle,
 * so the functions of common/adapter.h find the process's server here. */
#include "server_impl.h"

#include <pthread.h>

#include "../common/jsonrpc.h"
#include "../common/log.h"

/* The server adapters reach; held for reading for as long as a notification uses it, so that
 * cx_server_free (detach, write lock) never frees it under an adapter's watcher thread. */
static pthread_rwlock_t notify_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct cx_server *notify_server;

static struct cx_server *notify_hold(void)
{
	pthread_rwlock_rdlock(&notify_lock);
	return notify_server;
}

static void notify_release(void)
{
	pthread_rwlock_unlock(&notify_lock);
}

void cx_notify_attach(struct cx_server *s)
{
	pthread_rwlock_wrlock(&notify_lock);
	notify_server = s;
	pthread_rwlock_unlock(&notify_lock);
}

void cx_notify_detach(struct cx_server *s)
{
	pthread_rwlock_wrlock(&notify_lock);
	if (notify_server == s)
		notify_server = NULL;
	pthread_rwlock_unlock(&notify_lock);
}

int cx_tool_set_available(const char *tool, bool available)
{
	struct cx_server *s = notify_hold();
	int changed = -1;

	if (s && tool)
		changed = cx_registry_set_available(s->reg, tool, available);
	if (changed > 0) {
		cx_info("tool '%s' %s", tool, available ? "is available again" : "was withdrawn");
		/* Every session with a stream open hears it ("*"); others see it next list. */
		cx_server_push(s, "*",
			       cx_rpc_notification("notifications/tools/list_changed", NULL));
	}
	notify_release();
	return changed < 0 ? -1 : 0;
}

/* Withdraws or restores a catalog entry; tells every session when that changed a list. */
static int set_entry_available(enum cx_reg_kind kind, const char *key, bool available)
{
	static const char *const notes[] = { "notifications/resources/list_changed",
					     "notifications/resources/list_changed",
					     "notifications/prompts/list_changed" };
	struct cx_server *s = notify_hold();
	int changed = -1;

	if (s && key)
		changed = cx_registry_set_entry_available(s->reg, kind, key, available);
	if (changed > 0)
		cx_server_push(s, "*", cx_rpc_notification(notes[kind], NULL));
	notify_release();
	return changed < 0 ? -1 : 0;
}

int cx_resource_set_available(const char *uri, bool available)
{
	/* A URI names a resource; failing that, a template. */
	if (!set_entry_available(CX_REG_RESOURCE, uri, available))
		return 0;
	return set_entry_available(CX_REG_TEMPLATE, uri, available);
}

int cx_prompt_set_available(const char *name, bool available)
{
	return set_entry_available(CX_REG_PROMPT, name, available);
}

struct updated_ctx {
	struct cx_server *s;
	const char *uri;
};

static void push_updated(void *ctx, const char *fp)
{
	struct updated_ctx *u = ctx;

	cx_server_push(u->s, fp,
		       cx_rpc_notification("notifications/resources/updated",
					   json_pack("{s:s}", "uri", u->uri)));
}

void cx_resource_updated(const char *uri)
{
	struct cx_server *s = notify_hold();
	struct updated_ctx u = { s, uri };

	if (s && uri)
		cx_hub_each_subscriber(s->hub, uri, push_updated, &u);
	notify_release();
}

int cx_server_add_push(struct cx_server *s, cx_push_fn fn, void *ctx)
{
	int rc = -1;

	pthread_mutex_lock(&s->push_lock);
	if (s->npush < sizeof(s->push) / sizeof(s->push[0])) {
		s->push[s->npush].fn = fn;
		s->push[s->npush].ctx = ctx;
		s->npush++;
		rc = 0;
	}
	pthread_mutex_unlock(&s->push_lock);
	return rc;
}

void cx_server_remove_push(struct cx_server *s, cx_push_fn fn, void *ctx)
{
	pthread_mutex_lock(&s->push_lock);
	for (size_t i = 0; i < s->npush; i++) {
		if (s->push[i].fn == fn && s->push[i].ctx == ctx) {
			s->push[i] = s->push[--s->npush];
			break;
		}
	}
	pthread_mutex_unlock(&s->push_lock);
}

int cx_server_push(struct cx_server *s, const char *fp, json_t *msg)
{
	int delivered = 0;

	pthread_mutex_lock(&s->push_lock);
	for (size_t i = 0; msg && i < s->npush; i++)
		delivered += s->push[i].fn(s->push[i].ctx, fp, json_incref(msg));
	pthread_mutex_unlock(&s->push_lock);
	json_decref(msg);
	return delivered;
}
