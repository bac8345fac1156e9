#include "registry.h"

#include <pthread.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "../common/json.h"
#include "../common/log.h"
#include "../common/util.h"

#define TOOLS_JSON_MAX (4u << 20)
#define TOOL_NAME_MAX  64

struct reg_adapter {
	const struct cx_adapter *adapter;
	void *state;
	bool owns_state; /* cleanup() is ours to call */
	/* health, written by the health thread under r->lock */
	int health; /* 1 ok, 0 failing, -1 unknown */
	char health_msg[CX_ERR_MSG_MAX];
};

struct cx_registry {
	struct reg_adapter *adapters;
	size_t nadapters;
	struct cx_reg_tool *tools;
	size_t ntools;
	struct cx_reg_entry *entries[3]; /* by enum cx_reg_kind */
	size_t nentries[3];

	pthread_mutex_t lock; /* health fields */
	pthread_cond_t wake;
	pthread_t health_thread;
	bool health_running;
	bool health_stop;
	long health_interval_ms;
};

struct cx_registry *cx_registry_new(void)
{
	struct cx_registry *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->wake, NULL);
	return r;
}

/* The keys a tools.json entry may carry (MCP Tool object). */
static const char *const tool_keys[] = { "name",        "title",        "description",
					 "inputSchema", "outputSchema", "annotations",
					 "_meta",       "icons",        NULL };

static const struct {
	const char *hint;
	unsigned flag;
} hints[] = {
	{ "readOnlyHint", CX_READ_ONLY },
	{ "destructiveHint", CX_DESTRUCTIVE },
	{ "idempotentHint", CX_IDEMPOTENT },
	{ "openWorldHint", CX_OPEN_WORLD },
};

static bool valid_tool_name(const char *name, const char *prefix)
{
	size_t plen = prefix ? strlen(prefix) : 0, n = strlen(name);

	if (n == 0 || n > TOOL_NAME_MAX)
		return false;
	if (prefix && (strncmp(name, prefix, plen) || name[plen] != '_' || !name[plen + 1]))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return true;
}

static int check_object_schema(const json_t *schema, const char *tool, const char *key, bool opaque,
			       struct cx_schema **out, struct cx_err *err)
{
	const json_t *type;
	json_t *any;

	if (!json_is_object(schema))
		return cx_err_set(err, "tool '%s': %s must be an object", tool, key);
	type = json_object_get(schema, "type");
	if (!json_is_string(type) || strcmp(json_string_value(type), "object"))
		return cx_err_set(err, "tool '%s': %s must have \"type\": \"object\"", tool, key);
	if (opaque) {
		/* Published as written; the gateway only checks that arguments are an object. */
		any = json_pack("{s:s}", "type", "object");
		*out = any ? cx_schema_compile(any, err) : NULL;
		json_decref(any);
		return *out ? 0 : cx_err_set(err, "out of memory");
	}
	*out = cx_schema_compile(schema, err);
	if (!*out)
		return cx_err_prefix(err, "tool '%s': %s: ", tool, key);
	return 0;
}

/* Checks annotations against the flags and fills in the hints the file left out, so that
 * tools/list always tells clients the truth the handler table encodes. */
static int merge_annotations(json_t *def, const struct cx_tool *t, unsigned flags,
			     struct cx_err *err)
{
	json_t *ann = json_object_get(def, "annotations");

	if (!ann) {
		ann = json_object();
		if (!ann || json_object_set_new(def, "annotations", ann))
			return cx_err_set(err, "out of memory");
	} else if (!json_is_object(ann)) {
		return cx_err_set(err, "tool '%s': annotations must be an object", t->name);
	}
	for (size_t i = 0; i < sizeof(hints) / sizeof(hints[0]); i++) {
		const json_t *v = json_object_get(ann, hints[i].hint);
		bool want = (flags & hints[i].flag) != 0;

		if (v && (!json_is_boolean(v) || json_is_true(v) != want))
			return cx_err_set(
				err, "tool '%s': annotation %s contradicts the handler's flags",
				t->name, hints[i].hint);
		if (json_object_set_new(ann, hints[i].hint, json_boolean(want)))
			return cx_err_set(err, "out of memory");
	}
	if ((flags & CX_READ_ONLY) && (flags & CX_DESTRUCTIVE))
		return cx_err_set(err, "tool '%s': read-only and destructive at once", t->name);
	return 0;
}

/* Frees what a paired tool owns (not the struct: it lives in r->tools). */
static void tool_release(struct cx_reg_tool *rt)
{
	cx_schema_free(rt->input);
	cx_schema_free(rt->output);
	json_decref(rt->def);
}

static int add_tool(struct cx_registry *r, const struct cx_adapter *a, void *state,
		    const json_t *src, struct cx_err *err)
{
	struct cx_reg_tool rt = { 0 };
	const struct cx_tool *t;
	const char *name, *key;
	const json_t *v, *desc;
	json_t *value;

	if (!json_is_object(src))
		return cx_err_set(err, "every entry must be an object");
	name = json_string_value(json_object_get(src, "name"));
	if (!name)
		return cx_err_set(err, "an entry has no \"name\"");
	json_object_foreach((json_t *)src, key, value) {
		size_t k = 0;
		while (tool_keys[k] && strcmp(tool_keys[k], key))
			k++;
		if (!tool_keys[k])
			return cx_err_set(err, "tool '%s': unknown key '%s'", name, key);
	}
	if (!valid_tool_name(name, a->free_tool_names ? NULL : a->name))
		return cx_err_set(
			err,
			"tool '%s': names are lowercase [a-z0-9_], at most %d characters, "
			"and start with '%s_'",
			name, TOOL_NAME_MAX, a->name);
	if (cx_registry_find(r, name))
		return cx_err_set(err, "tool '%s' is defined twice", name);
	for (t = a->tools; t->name; t++)
		if (!strcmp(t->name, name))
			break;
	if (!t->name)
		return cx_err_set(err, "tool '%s' is described but has no handler", name);
	desc = json_object_get(src, "description");
	if (!json_is_string(desc) || !json_string_length(desc))
		return cx_err_set(err, "tool '%s' has no description", name);
	v = json_object_get(src, "title");
	if (v && !json_is_string(v))
		return cx_err_set(err, "tool '%s': title must be a string", name);

	rt.def = json_deep_copy(src);
	if (!rt.def)
		return cx_err_set(err, "out of memory");
	if (check_object_schema(json_object_get(src, "inputSchema"), name, "inputSchema",
				(t->flags & CX_OPAQUE_SCHEMA) != 0, &rt.input, err))
		goto fail;
	v = json_object_get(src, "outputSchema");
	if (v && check_object_schema(v, name, "outputSchema", false, &rt.output, err))
		goto fail;
	rt.flags = t->flags;
	if (a->tool_flags) {
		const unsigned hinted =
			CX_READ_ONLY | CX_DESTRUCTIVE | CX_IDEMPOTENT | CX_OPEN_WORLD;
		rt.flags = (t->flags & ~hinted) | (a->tool_flags(state, name, t->flags) & hinted);
	}
	if (merge_annotations(rt.def, t, rt.flags, err))
		goto fail;

	struct cx_reg_tool *tools = realloc(r->tools, (r->ntools + 1) * sizeof(*tools));
	if (!tools) {
		cx_err_set(err, "out of memory");
		goto fail;
	}
	r->tools = tools;
	rt.name = json_string_value(json_object_get(rt.def, "name"));
	rt.tool = t;
	rt.adapter = a;
	rt.state = state;
	r->tools[r->ntools++] = rt;
	return 0;
fail:
	tool_release(&rt);
	return -1;
}

/* Removes the tools pair_tools just added for a (they are the last ones). */
static void unpair_tools(struct cx_registry *r, const struct cx_adapter *a)
{
	while (r->ntools && r->tools[r->ntools - 1].adapter == a)
		tool_release(&r->tools[--r->ntools]);
}

static int pair_tools(struct cx_registry *r, const struct cx_adapter *a, void *state,
		      struct cx_err *err)
{
	size_t first = r->ntools, i;
	json_t *list, *entry;
	int rc = -1;

	list = cx_json_loadb(a->tools_json, strlen(a->tools_json), TOOLS_JSON_MAX, err);
	if (!list)
		return cx_err_prefix(err, "tools.json: ");
	if (!json_is_array(list)) {
		cx_err_set(err, "tools.json must be an array of tools");
		goto out;
	}
	json_array_foreach(list, i, entry) {
		if (add_tool(r, a, state, entry, err))
			goto undo;
	}
	for (const struct cx_tool *t = a->tools; t->name; t++) {
		if (!t->call) {
			cx_err_set(err, "tool '%s' has no call function", t->name);
			goto undo;
		}
		if (!cx_registry_find(r, t->name)) {
			cx_err_set(err, "handler '%s' has no entry in tools.json", t->name);
			goto undo;
		}
	}
	rc = 0;
	goto out;
undo:
	while (r->ntools > first)
		tool_release(&r->tools[--r->ntools]);
out:
	json_decref(list);
	return rc;
}

static const char *const kind_keys[] = { "uri", "uriTemplate", "name" };
static const char *const kind_names[] = { "resource", "resource template", "prompt" };

static bool entry_available(const struct cx_reg_entry *e)
{
	return e && !atomic_load(&((struct cx_reg_entry *)e)->hidden);
}

static const struct cx_reg_entry *find_entry(const struct cx_registry *r, enum cx_reg_kind k,
					     const char *key)
{
	for (size_t i = 0; i < r->nentries[k]; i++)
		if (!strcmp(r->entries[k][i].key, key))
			return &r->entries[k][i];
	return NULL;
}

static int add_entry(struct cx_registry *r, enum cx_reg_kind k, const struct cx_adapter *a,
		     void *state, const json_t *src, struct cx_err *err)
{
	const char *key = json_string_value(json_object_get(src, kind_keys[k]));
	struct cx_reg_entry *e;
	json_t *def;

	if (!json_is_object(src) || !key || !*key)
		return cx_err_set(err, "every %s needs a \"%s\" string", kind_names[k],
				  kind_keys[k]);
	if (k != CX_REG_PROMPT && !json_is_string(json_object_get(src, "name")))
		return cx_err_set(err, "%s '%s' needs a \"name\"", kind_names[k], key);
	if (find_entry(r, k, key))
		return cx_err_set(err, "%s '%s' is defined twice", kind_names[k], key);
	if (k == CX_REG_PROMPT) {
		const json_t *args = json_object_get(src, "arguments"), *arg;
		size_t i;

		if (args && !json_is_array(args))
			return cx_err_set(err, "prompt '%s': arguments must be an array", key);
		json_array_foreach(args, i, arg)
			if (!json_is_string(json_object_get(arg, "name")))
				return cx_err_set(err, "prompt '%s': every argument needs a name",
						  key);
	}
	def = json_deep_copy(src);
	e = realloc(r->entries[k], (r->nentries[k] + 1) * sizeof(*e));
	if (!def || !e) {
		json_decref(def);
		if (e)
			r->entries[k] = e;
		return cx_err_set(err, "out of memory");
	}
	r->entries[k] = e;
	e += r->nentries[k]++;
	memset(e, 0, sizeof(*e));
	atomic_init(&e->hidden, false);
	e->key = json_string_value(json_object_get(def, kind_keys[k]));
	e->adapter = a;
	e->state = state;
	e->def = def;
	return 0;
}

static void drop_entries_of(struct cx_registry *r, const struct cx_adapter *a)
{
	for (int k = 0; k < 3; k++) {
		size_t keep = 0;
		for (size_t i = 0; i < r->nentries[k]; i++) {
			if (r->entries[k][i].adapter == a)
				json_decref(r->entries[k][i].def);
			else
				r->entries[k][keep++] = r->entries[k][i];
		}
		r->nentries[k] = keep;
	}
}

/* The adapter's resources and prompts, if it has any. */
static int pair_catalog(struct cx_registry *r, const struct cx_adapter *a, void *state,
			struct cx_err *err)
{
	json_t *doc = NULL, *list, *v;
	size_t i;
	int rc = -1;

	if (a->resources_json) {
		if (!a->read_resource)
			return cx_err_set(err, "resources without a read_resource function");
		doc = cx_json_loadb(a->resources_json, strlen(a->resources_json), TOOLS_JSON_MAX,
				    err);
		if (!json_is_object(doc)) {
			if (doc)
				cx_err_set(err, "resources must be an object");
			cx_err_prefix(err, "resources: ");
			goto out;
		}
		for (int k = CX_REG_RESOURCE; k <= CX_REG_TEMPLATE; k++) {
			list = json_object_get(doc, k == CX_REG_RESOURCE ? "resources"
									 : "resourceTemplates");
			if (list && !json_is_array(list)) {
				cx_err_set(err, "resources: lists must be arrays");
				goto out;
			}
			json_array_foreach(list, i, v)
				if (add_entry(r, (enum cx_reg_kind)k, a, state, v, err))
					goto out;
		}
		json_decref(doc);
		doc = NULL;
	}
	if (a->prompts_json) {
		if (!a->get_prompt)
			return cx_err_set(err, "prompts without a get_prompt function");
		doc = cx_json_loadb(a->prompts_json, strlen(a->prompts_json), TOOLS_JSON_MAX, err);
		if (!json_is_array(doc)) {
			if (doc)
				cx_err_set(err, "prompts must be an array");
			cx_err_prefix(err, "prompts: ");
			goto out;
		}
		json_array_foreach(doc, i, v)
			if (add_entry(r, CX_REG_PROMPT, a, state, v, err))
				goto out;
	}
	rc = 0;
out:
	json_decref(doc);
	if (rc)
		drop_entries_of(r, a);
	return rc;
}

size_t cx_registry_entry_count(const struct cx_registry *r, enum cx_reg_kind kind)
{
	return r->nentries[kind];
}

const struct cx_reg_entry *cx_registry_entry_at(const struct cx_registry *r, enum cx_reg_kind kind,
						size_t i)
{
	return i < r->nentries[kind] ? &r->entries[kind][i] : NULL;
}

bool cx_registry_entry_available(const struct cx_reg_entry *e)
{
	return entry_available(e);
}

const struct cx_reg_entry *cx_registry_find_prompt(const struct cx_registry *r, const char *name)
{
	const struct cx_reg_entry *e = find_entry(r, CX_REG_PROMPT, name);

	return entry_available(e) ? e : NULL;
}

int cx_registry_set_entry_available(struct cx_registry *r, enum cx_reg_kind kind, const char *key,
				    bool available)
{
	struct cx_reg_entry *e = (struct cx_reg_entry *)find_entry(r, kind, key);

	if (!e)
		return -1;
	return atomic_exchange(&e->hidden, !available) != !available;
}

bool cx_uri_template_match(const char *t, const char *u)
{
	while (*t) {
		if (*t == '{') {
			const char *close = strchr(t, '}');
			size_t n = 0;

			if (!close)
				return false;
			/* A variable takes one or more characters up to the next '/', trying
			 * each length so the rest of the template can match. */
			while (u[n] && u[n] != '/')
				n++;
			for (size_t k = n; k >= 1; k--)
				if (cx_uri_template_match(close + 1, u + k))
					return true;
			return false;
		}
		if (*t++ != *u++)
			return false;
	}
	return *u == '\0';
}

const struct cx_reg_entry *cx_registry_resolve_uri(const struct cx_registry *r, const char *uri)
{
	const struct cx_reg_entry *e = find_entry(r, CX_REG_RESOURCE, uri);

	if (e)
		return entry_available(e) ? e : NULL;
	for (size_t i = 0; i < r->nentries[CX_REG_TEMPLATE]; i++) {
		e = &r->entries[CX_REG_TEMPLATE][i];
		if (entry_available(e) && cx_uri_template_match(e->key, uri))
			return e;
	}
	return NULL;
}

static int add_adapter(struct cx_registry *r, const struct cx_adapter *a, void *state, bool owns,
		       struct cx_err *err)
{
	struct reg_adapter *ra;

	for (size_t i = 0; i < r->nadapters; i++)
		if (!strcmp(r->adapters[i].adapter->name, a->name))
			return cx_err_set(err, "adapter '%s' is registered twice", a->name);
	/* Room first: once the tools are paired nothing may fail, or they would point at
	 * state the caller is about to clean up. */
	ra = realloc(r->adapters, (r->nadapters + 1) * sizeof(*ra));
	if (!ra)
		return cx_err_set(err, "out of memory");
	r->adapters = ra;
	if (pair_tools(r, a, state, err))
		return cx_err_prefix(err, "adapter '%s': ", a->name);
	if (pair_catalog(r, a, state, err)) {
		unpair_tools(r, a);
		return cx_err_prefix(err, "adapter '%s': ", a->name);
	}
	ra = &r->adapters[r->nadapters++];
	memset(ra, 0, sizeof(*ra));
	ra->adapter = a;
	ra->state = state;
	ra->owns_state = owns;
	ra->health = -1;
	return 0;
}

int cx_registry_add(struct cx_registry *r, const struct cx_adapter *a, const json_t *conf,
		    struct cx_err *err)
{
	json_t *empty = NULL;
	void *state = NULL;
	int rc;

	if (!conf)
		conf = empty = json_object();
	rc = a->init ? a->init(conf, &state, err) : 0;
	json_decref(empty);
	if (rc)
		return cx_err_prefix(err, "adapter '%s': ", a->name);
	if (add_adapter(r, a, state, true, err)) {
		if (a->cleanup)
			a->cleanup(state);
		return -1;
	}
	return 0;
}

int cx_registry_add_state(struct cx_registry *r, const struct cx_adapter *a, void *state,
			  struct cx_err *err)
{
	return add_adapter(r, a, state, false, err);
}

const struct cx_reg_tool *cx_registry_find(const struct cx_registry *r, const char *name)
{
	/* A linear scan beats hashing for the few dozen tools a gateway carries; revisit past
	 * a few hundred. */
	for (size_t i = 0; i < r->ntools; i++)
		if (!strcmp(r->tools[i].name, name))
			return &r->tools[i];
	return NULL;
}

const struct cx_reg_tool *cx_registry_find_tool(const struct cx_registry *r, const char *name)
{
	const struct cx_reg_tool *rt = cx_registry_find(r, name);

	return rt && cx_registry_available(rt) ? rt : NULL;
}

int cx_registry_set_available(struct cx_registry *r, const char *name, bool available)
{
	struct cx_reg_tool *rt = (struct cx_reg_tool *)cx_registry_find(r, name);

	if (!rt)
		return -1;
	return atomic_exchange(&rt->hidden, !available) != !available;
}

bool cx_registry_available(const struct cx_reg_tool *rt)
{
	return !atomic_load(&((struct cx_reg_tool *)rt)->hidden);
}

size_t cx_registry_count(const struct cx_registry *r)
{
	return r->ntools;
}

const struct cx_reg_tool *cx_registry_at(const struct cx_registry *r, size_t i)
{
	return i < r->ntools ? &r->tools[i] : NULL;
}

size_t cx_registry_adapter_count(const struct cx_registry *r)
{
	return r->nadapters;
}

const struct cx_adapter *cx_registry_adapter_at(const struct cx_registry *r, size_t i, void **state)
{
	if (i >= r->nadapters)
		return NULL;
	if (state)
		*state = r->adapters[i].state;
	return r->adapters[i].adapter;
}

static void check_health_once(struct cx_registry *r)
{
	for (size_t i = 0; i < r->nadapters; i++) {
		struct reg_adapter *ra = &r->adapters[i];
		struct cx_err err = { 0 };
		int ok;

		if (!ra->adapter->health)
			continue;
		ok = ra->adapter->health(ra->state, &err) == 0;
		pthread_mutex_lock(&r->lock);
		if (ok != ra->health)
			cx_log(ok ? CX_LOG_INFO : CX_LOG_WARN, "adapter '%s' is %s%s%s",
			       ra->adapter->name, ok ? "healthy" : "unhealthy", ok ? "" : ": ",
			       ok ? "" : err.msg);
		ra->health = ok;
		snprintf(ra->health_msg, sizeof(ra->health_msg), "%s", ok ? "" : err.msg);
		pthread_mutex_unlock(&r->lock);
	}
}

static void *health_main(void *arg)
{
	struct cx_registry *r = arg;

	for (;;) {
		struct timespec ts;

		check_health_once(r);
		cx_deadline_ts(CLOCK_REALTIME, r->health_interval_ms, &ts);
		pthread_mutex_lock(&r->lock);
		while (!r->health_stop)
			if (pthread_cond_timedwait(&r->wake, &r->lock, &ts))
				break;
		bool stop = r->health_stop;
		pthread_mutex_unlock(&r->lock);
		if (stop)
			return NULL;
	}
}

int cx_registry_health_start(struct cx_registry *r, long interval_ms, struct cx_err *err)
{
	bool any = false;
	int rc;

	for (size_t i = 0; i < r->nadapters; i++)
		any |= r->adapters[i].adapter->health != NULL;
	if (!any)
		return 0;
	r->health_interval_ms = interval_ms;
	r->health_stop = false;
	rc = pthread_create(&r->health_thread, NULL, health_main, r);
	if (rc) /* pthread_create returns the error; errno is not set */
		return cx_err_set(err, "could not start the health thread: %s", strerror(rc));
	r->health_running = true;
	return 0;
}

void cx_registry_health_stop(struct cx_registry *r)
{
	if (!r->health_running)
		return;
	pthread_mutex_lock(&r->lock);
	r->health_stop = true;
	pthread_cond_broadcast(&r->wake);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->health_thread, NULL);
	r->health_running = false;
}

int cx_registry_health(const struct cx_registry *r, size_t i, char *msg, size_t msglen)
{
	struct cx_registry *m = (struct cx_registry *)r; /* the lock is not part of the value */
	int h;

	if (i >= r->nadapters)
		return -1;
	pthread_mutex_lock(&m->lock);
	h = r->adapters[i].health;
	if (msg && msglen)
		snprintf(msg, msglen, "%s", r->adapters[i].health_msg);
	pthread_mutex_unlock(&m->lock);
	return h;
}

void cx_registry_free(struct cx_registry *r)
{
	if (!r)
		return;
	cx_registry_health_stop(r);
	for (size_t i = 0; i < r->ntools; i++)
		tool_release(&r->tools[i]);
	for (int k = 0; k < 3; k++) {
		for (size_t i = 0; i < r->nentries[k]; i++)
			json_decref(r->entries[k][i].def);
		free(r->entries[k]);
	}
	for (size_t i = r->nadapters; i-- > 0;) {
		struct reg_adapter *ra = &r->adapters[i];
		if (ra->owns_state && ra->adapter->cleanup)
			ra->adapter->cleanup(ra->state);
	}
	free(r->tools);
	free(r->adapters);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->wake);
	free(r);
}
