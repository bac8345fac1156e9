/* The masters' registry: {"masters": [{name, categories, system_prompt, tools, models, workers,
 * limits, require_approval}]}; built in: manifests/examples/masters.json. */
#include "orch.h"

#include <stdlib.h>
#include <string.h>

#include "../common/json.h"
#include "../common/log.h"
#include "../common/util.h"

extern const char manifests_examples_masters_json[];

static int strings(const json_t *v, char **out, size_t max, size_t *n, const char *path,
		   struct cx_err *err)
{
	size_t i;
	json_t *s;

	if (v == NULL)
		return 0;
	if (!json_is_array(v) || json_array_size(v) > max)
		return cx_err_set(err, "'%s' must be an array of at most %zu strings", path, max);
	json_array_foreach(v, i, s) {
		if (!json_is_string(s) || !json_string_length(s))
			return cx_err_set(err, "'%s[%zu]' must be a non-empty string", path, i);
		out[(*n)++] = strdup(json_string_value(s));
	}
	return 0;
}

static int limit(const json_t *lim, const char *key, long *out, long min, long max,
		 const char *path, struct cx_err *err)
{
	json_t *v = json_object_get(lim, key);

	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return cx_err_set(err, "'%s.limits.%s' must be an integer from %ld to %ld", path,
				  key, min, max);
	*out = (long)json_integer_value(v);
	return 0;
}

static int parse_limits(struct orch_master *m, const json_t *lim, const char *path,
			struct cx_err *err)
{
	static const char *const keys[] = { "iterations", "tokens", "wall_clock_ms", "max_tokens",
					    NULL };
	const char *key;
	json_t *v;

	m->limits = (struct orch_limits){ 20, 400000, 600000, 4096 };
	if (lim == NULL)
		return 0;
	if (!json_is_object(lim))
		return cx_err_set(err, "'%s.limits' must be an object", path);
	json_object_foreach((json_t *)lim, key, v) {
		size_t i;

		for (i = 0; keys[i] && strcmp(keys[i], key); i++)
			;
		if (!keys[i])
			return cx_err_set(err, "'%s.limits' has an unknown key '%s'", path, key);
	}
	return limit(lim, "iterations", &m->limits.iterations, 1, 1000, path, err) ||
	       limit(lim, "tokens", &m->limits.tokens, 1, 100000000, path, err) ||
	       limit(lim, "wall_clock_ms", &m->limits.wall_clock_ms, 100, 86400000, path, err) ||
	       limit(lim, "max_tokens", &m->limits.max_tokens, 1, 1000000, path, err);
}

static int parse_model(struct orch_master *m, const json_t *v, const char *path, size_t i,
		       struct cx_err *err)
{
	struct cx_llm_model *md = &m->models[m->n_models++];
	const char *api = "anthropic";
	json_t *key = NULL;

	if (json_is_string(v)) {
		md->model = json_string_value(v);
		return 0;
	}
	if (!json_is_object(v) ||
	    json_unpack_ex((json_t *)v, NULL, JSON_STRICT, "{s?s, s:s, s?s, s?o, s?s, s?b}", "api",
			   &api, "model", &md->model, "base_url", &md->base_url, "api_key", &key,
			   "ca_file", &md->ca_file, "insecure_skip_verify",
			   &md->insecure_skip_verify))
		return cx_err_set(
			err,
			"'%s.models[%zu]' must be a model name or {api, model, base_url?, "
			"api_key?, ca_file?, insecure_skip_verify?}",
			path, i);
	if (!strcmp(api, "anthropic"))
		md->api = CX_LLM_ANTHROPIC;
	else if (!strcmp(api, "openai"))
		md->api = CX_LLM_OPENAI;
	else
		return cx_err_set(err, "'%s.models[%zu].api' must be \"anthropic\" or \"openai\"",
				  path, i);
	md->api_key = key;
	return 0;
}

static int parse_master(struct orch_master *m, json_t *v, const char *path, struct cx_err *err)
{
	const char *name = NULL, *prompt = "";
	json_t *cats = NULL, *tools = NULL, *models = NULL, *lim = NULL, *appr = NULL, *md;
	json_int_t workers = 3;
	size_t i, n = 0;
	char *catv[7] = { 0 };

	if (json_unpack_ex(v, NULL, JSON_STRICT, "{s:s, s?o, s?s, s?o, s?o, s?I, s?o, s?o}", "name",
			   &name, "categories", &cats, "system_prompt", &prompt, "tools", &tools,
			   "models", &models, "workers", &workers, "limits", &lim,
			   "require_approval", &appr))
		return cx_err_set(err,
				  "'%s' must be {name, categories?, system_prompt?, tools?, "
				  "models, workers?, limits?, require_approval?} (unknown keys are "
				  "refused)",
				  path);
	m->name = strdup(name);
	m->system_prompt = strdup(prompt);
	if (workers < 0 || workers > ORCH_WORKERS_MAX)
		return cx_err_set(err, "'%s.workers' must be from 0 to %d", path, ORCH_WORKERS_MAX);
	m->workers = (long)workers;
	if (strings(cats, catv, 6, &n, path, err))
		return -1;
	if (n == 0)
		catv[n++] = strdup(name);
	for (i = 0; i < n; i++)
		m->categories[i] = catv[i];
	if (strings(tools, m->tools, ORCH_PATTERNS, &m->n_tools, path, err) ||
	    strings(appr, m->approval, ORCH_PATTERNS, &m->n_approval, path, err) ||
	    parse_limits(m, lim, path, err))
		return -1;
	if (tools == NULL)
		m->tools[m->n_tools++] = strdup("*");
	if (!json_is_array(models) || !json_array_size(models) ||
	    json_array_size(models) > CX_LLM_MODELS_MAX)
		return cx_err_set(err, "'%s.models' must list 1 to %d models", path,
				  CX_LLM_MODELS_MAX);
	m->model_keys = json_incref(models);
	json_array_foreach(models, i, md) {
		if (parse_model(m, md, path, i, err))
			return -1;
	}
	return 0;
}

static int build_llm(struct orch_master *m, struct cx_err *err)
{
	struct cx_llm_opts lo = { .models = m->models,
				  .n_models = m->n_models,
				  .retries = -1,
				  .on_event = orch_llm_event,
				  .event_arg = m };

	m->llm = cx_llm_new(&lo, err);
	if (m->llm == NULL)
		return cx_err_prefix(err, "master '%s': ", m->name);
	return 0;
}

int orch_masters_load(struct orch *o, const char *path, struct cx_err *err)
{
	json_t *reg = path ? cx_json_load_file(path, ORCH_FILE_MAX, err)
			   : cx_json_parse(manifests_examples_masters_json,
					   strlen(manifests_examples_masters_json), err);
	json_t *list = json_object_get(reg, "masters"), *v;
	size_t i;
	char where[64];

	o->registry = NULL;
	if (reg == NULL)
		return cx_err_prefix(err, "masters registry%s: ", path ? "" : " (built in)");
	if (!json_is_array(list) || !json_array_size(list)) {
		json_decref(reg);
		return cx_err_set(err, "masters registry: \"masters\" must be a non-empty array");
	}
	o->n_masters = json_array_size(list);
	o->masters = calloc(o->n_masters, sizeof(*o->masters));
	json_array_foreach(list, i, v) {
		struct orch_master *m = &o->masters[i];

		pthread_mutex_init(&m->mu, NULL);
		cx_fmt(where, sizeof(where), "masters[%zu]", i);
		if (parse_master(m, v, where, err) || build_llm(m, err)) {
			o->registry = reg; /* freed by orch_masters_free */
			return -1;
		}
	}
	o->registry = reg; /* the models' names, URLs and keys borrow from it */
	return 0;
}

void orch_masters_free(struct orch *o)
{
	for (size_t i = 0; i < o->n_masters; i++) {
		struct orch_master *m = &o->masters[i];

		cx_llm_free(m->llm);
		free(m->name);
		free(m->system_prompt);
		for (size_t j = 0; m->categories[j]; j++)
			free((char *)m->categories[j]);
		for (size_t j = 0; j < m->n_tools; j++)
			free(m->tools[j]);
		for (size_t j = 0; j < m->n_approval; j++)
			free(m->approval[j]);
		json_decref(m->model_keys);
		json_decref(m->llm_tools);
		json_decref(m->annotations);
		pthread_mutex_destroy(&m->mu);
	}
	free(o->masters);
	json_decref(o->registry);
	o->masters = NULL;
	o->n_masters = 0;
}

struct orch_master *orch_master_for(struct orch *o, const char *category)
{
	struct orch_master *general = NULL;

	for (size_t i = 0; i < o->n_masters; i++) {
		struct orch_master *m = &o->masters[i];

		for (size_t j = 0; category && m->categories[j]; j++)
			if (!strcmp(m->categories[j], category))
				return m;
		if (!strcmp(m->name, "general"))
			general = m;
	}
	return general ? general : &o->masters[o->n_masters - 1];
}

bool orch_master_allows(const struct orch_master *m, const char *tool)
{
	bool ok = false;

	for (size_t i = 0; i < m->n_tools; i++) {
		const char *p = m->tools[i];

		if (p[0] == '!' && cx_glob_match(p + 1, tool))
			return false;
		if (p[0] != '!' && cx_glob_match(p, tool))
			ok = true;
	}
	return ok;
}

bool orch_master_needs_approval(const struct orch_master *m, const char *tool,
				const json_t *annotations)
{
	const json_t *a = json_object_get(annotations, tool);

	if (json_is_true(json_object_get(a, "destructiveHint")))
		return true;
	for (size_t i = 0; i < m->n_approval; i++)
		if (cx_glob_match(m->approval[i], tool))
			return true;
	return false;
}

/* The gateway's tools the master may use, in the Messages API's form. */
static int fetch_tools(struct orch *o, struct orch_master *m, struct cx_err *err)
{
	json_t *all = NULL, *t, *tools = json_array(), *ann = json_object();
	json_t *any = json_pack("{s:s}", "type", "object");
	size_t i;
	int rc = cx_mcp_list_tools(o->mcp, &all, err);

	if (rc) {
		json_decref(any);
		json_decref(tools);
		json_decref(ann);
		return cx_err_prefix(err, "the gateway's tools/list: ");
	}
	json_array_foreach(all, i, t) {
		const char *name = json_string_value(json_object_get(t, "name"));
		json_t *schema = json_object_get(t, "inputSchema");

		if (!name || !orch_master_allows(m, name))
			continue;
		cx_llm_add_tool(tools, name,
				json_string_value(json_object_get(t, "description")) ?: "",
				schema ? schema : any);
		if (json_is_object(json_object_get(t, "annotations")))
			json_object_set(ann, name, json_object_get(t, "annotations"));
	}
	json_decref(all);
	json_decref(any);
	json_decref(m->llm_tools);
	json_decref(m->annotations);
	m->llm_tools = tools;
	m->annotations = ann;
	m->tools_at = cx_now_ms();
	return 0;
}

int orch_master_tools(struct orch *o, struct orch_master *m, json_t **tools, json_t **annotations,
		      struct cx_err *err)
{
	unsigned long gen = atomic_load(&o->tools_gen); /* before the fetch: a change during it
							 * makes the next step list again */
	int rc = 0;

	pthread_mutex_lock(&m->mu);
	if (m->llm_tools == NULL || m->tools_gen != gen ||
	    cx_now_ms() - m->tools_at > o->tools_ttl_ms) {
		rc = fetch_tools(o, m, err);
		if (rc == 0)
			m->tools_gen = gen;
	}
	if (rc == 0) { /* copies: jansson values are not shared between threads */
		*tools = json_deep_copy(m->llm_tools);
		*annotations = json_deep_copy(m->annotations);
	}
	pthread_mutex_unlock(&m->mu);
	return rc;
}
