/* Proxmox VE under /api2/json, as ../shared/specs/proxmox-pve-subset-api2json.json describes it:
 * the {"data": ...} envelope, API tokens and tickets (CSRFPreventionToken on writes), nodes,
 * QEMU and LXC guests, and power actions that return a UPID and change the guest only when
 * their task finishes. Tasks finish lazily: every request first applies those whose time has
 * come, which a client cannot tell from a timer. Errors carry the messages Proxmox sends. */
#include "sim.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../common/util.h"
#include "proxmox.h"

static const char defaults[] =
	"{\"cluster_name\":\"sim\",\"task_ms\":300,\"ticket_lifetime_s\":7200,"
	"\"tokens\":{\"root@pam!cortex\":\"5e1f3c9a-2b7d-4e8f-9a61-0c3d5b7e9f12\"},"
	"\"users\":{\"root@pam\":\"sim-password\"},"
	"\"nodes\":[{\"node\":\"pve1\",\"maxcpu\":8,\"maxmem\":34359738368},"
	"{\"node\":\"pve2\",\"maxcpu\":4,\"maxmem\":17179869184}],"
	"\"guests\":["
	"{\"vmid\":100,\"node\":\"pve1\",\"type\":\"qemu\",\"name\":\"web01\",\"status\":\"running\","
	"\"cpus\":2,\"maxmem\":4294967296,\"tags\":\"prod;web\"},"
	"{\"vmid\":101,\"node\":\"pve1\",\"type\":\"qemu\",\"name\":\"db01\",\"status\":\"stopped\","
	"\"cpus\":4,\"maxmem\":8589934592,\"tags\":\"prod;db\"},"
	"{\"vmid\":102,\"node\":\"pve2\",\"type\":\"qemu\",\"name\":\"build01\",\"status\":\"paused\","
	"\"cpus\":2,\"maxmem\":2147483648},"
	"{\"vmid\":103,\"node\":\"pve2\",\"type\":\"qemu\",\"name\":\"debian12-tmpl\","
	"\"status\":\"stopped\",\"cpus\":1,\"maxmem\":1073741824,\"template\":true},"
	"{\"vmid\":200,\"node\":\"pve1\",\"type\":\"lxc\",\"name\":\"dns01\",\"status\":\"running\","
	"\"cpus\":1,\"maxmem\":536870912,\"tags\":\"infra\"},"
	"{\"vmid\":201,\"node\":\"pve2\",\"type\":\"lxc\",\"name\":\"proxy01\",\"status\":\"stopped\","
	"\"cpus\":1,\"maxmem\":1073741824}]}";

struct pve_state pve;

static json_t *error_body(unsigned int status, const char *message)
{
	return json_pack("{s:n,s:s+}", "data", "message", message, "\n");
}

static void fail(struct sim_response *resp, unsigned int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fail(struct sim_response *resp, unsigned int status, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sim_reply(resp, status, error_body(status, msg));
}

/* 400 "Parameter verification failed." naming one parameter, as PVE::JSONSchema does. */
static void param_fail(struct sim_response *resp, const char *param, const char *why)
{
	sim_reply(resp, 400,
		  json_pack("{s:n,s:s,s:{s:s}}", "data", "message",
			    "Parameter verification failed.\n", "errors", param, why));
}

static void ok(struct sim_response *resp, json_t *data)
{
	sim_reply(resp, 200, json_pack("{s:o}", "data", data ? data : json_null()));
}

/* --- state from config ------------------------------------------------------------------ */

static void release(void)
{
	size_t i;

	for (i = 0; i < pve.n_guests; i++)
		json_decref(pve.guests[i].config);
	json_decref(pve.tokens);
	json_decref(pve.users);
	memset(&pve, 0, sizeof(pve));
}

static int find_node(const char *name)
{
	size_t i;

	for (i = 0; i < pve.n_nodes; i++)
		if (strcmp(pve.nodes[i].name, name) == 0)
			return (int)i;
	return -1;
}

static json_t *default_config(const struct guest *g)
{
	long mib = (long)(g->maxmem / (1024 * 1024));
	char disk[96], net[96];

	if (g->lxc) {
		snprintf(disk, sizeof(disk), "local-lvm:vm-%ld-disk-0,size=8G", g->vmid);
		snprintf(net, sizeof(net),
			 "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:%02lX:%02lX:00,ip=dhcp,type=veth",
			 (g->vmid >> 8) & 0xff, g->vmid & 0xff);
		return json_pack("{s:s,s:i,s:i,s:i,s:s,s:s,s:s,s:s,s:i}", "hostname", g->name,
				 "cores", (json_int_t)g->cpus, "memory", (json_int_t)mib, "swap",
				 512, "ostype", "debian", "arch", "amd64", "rootfs", disk, "net0",
				 net, "unprivileged", 1);
	}
	snprintf(disk, sizeof(disk), "local-lvm:vm-%ld-disk-0,iothread=1,size=32G", g->vmid);
	snprintf(net, sizeof(net), "virtio=BC:24:11:%02lX:%02lX:01,bridge=vmbr0,firewall=1",
		 (g->vmid >> 8) & 0xff, g->vmid & 0xff);
	return json_pack("{s:s,s:i,s:i,s:i,s:s,s:s,s:s,s:s,s:s}", "name", g->name, "cores",
			 (json_int_t)g->cpus, "sockets", 1, "memory", (json_int_t)mib, "ostype",
			 "l26", "boot", "order=scsi0;net0", "scsihw", "virtio-scsi-single", "scsi0",
			 disk, "net0", net);
}

static int load_guest(json_t *v, size_t idx, char *err, size_t errlen)
{
	static const char *const keys[] = { "vmid",     "node",   "type",   "name",
					    "status",   "cpus",   "maxmem", "tags",
					    "template", "config", NULL };
	struct guest *g = &pve.guests[idx];
	const char *node = NULL, *type = "qemu", *name = NULL, *status = "stopped", *tags = "";
	json_t *config = NULL;
	json_int_t vmid = 0, cpus = 1, maxmem = 1073741824;
	int template_ = 0;
	char where[64];
	size_t i;

	snprintf(where, sizeof(where), "proxmox.guests[%zu]", idx);
	if (sim_check_keys(v, where, keys, err, errlen) != 0)
		return -1;
	if (json_unpack(v, "{s:I,s:s,s?s,s:s,s?s,s?I,s?I,s?s,s?b,s?o}", "vmid", &vmid, "node",
			&node, "type", &type, "name", &name, "status", &status, "cpus", &cpus,
			"maxmem", &maxmem, "tags", &tags, "template", &template_, "config",
			&config) != 0 ||
	    vmid < 100 || vmid > 999999999 || cpus < 1 || maxmem < 1 || strlen(name) >= 64 ||
	    strlen(tags) >= 128 || (config != NULL && !json_is_object(config))) {
		snprintf(err, errlen,
			 "'%s' needs vmid (100-999999999), node and name; cpus, "
			 "maxmem, tags, template, config are optional",
			 where);
		return -1;
	}
	for (i = 0; i < idx; i++)
		if (pve.guests[i].vmid == vmid) {
			snprintf(err, errlen, "'%s': vmid %" JSON_INTEGER_FORMAT " twice", where,
				 vmid);
			return -1;
		}
	g->vmid = (long)vmid;
	g->node = find_node(node);
	g->lxc = strcmp(type, "lxc") == 0;
	if (g->node < 0 || (!g->lxc && strcmp(type, "qemu") != 0)) {
		snprintf(err, errlen, "'%s': unknown node '%s' or type '%s' (qemu, lxc)", where,
			 node, type);
		return -1;
	}
	if (strcmp(status, "running") == 0)
		g->state = ST_RUNNING;
	else if (strcmp(status, "paused") == 0 && !g->lxc)
		g->state = ST_PAUSED;
	else if (strcmp(status, "stopped") == 0)
		g->state = ST_STOPPED;
	else {
		snprintf(err, errlen, "'%s': status '%s' is not running, stopped or paused (qemu)",
			 where, status);
		return -1;
	}
	g->started_ms = cx_now_ms() - 3600 * 1000 - g->vmid * 1000;
	g->template_ = template_;
	g->cpus = (long)cpus;
	g->maxmem = maxmem;
	snprintf(g->name, sizeof(g->name), "%s", name);
	snprintf(g->tags, sizeof(g->tags), "%s", tags);
	g->config = config ? json_deep_copy(config) : default_config(g);
	return g->config ? 0 : -1;
}

static int load(const json_t *conf, char *err, size_t errlen)
{
	static const char *const keys[] = { "cluster_name", "task_ms", "ticket_lifetime_s",
					    "tokens",       "users",   "nodes",
					    "guests",       NULL };
	json_t *cfg = json_loads(defaults, 0, NULL), *nodes, *guests, *v;
	const char *cluster;
	json_int_t task_ms;
	double lifetime;
	size_t i;
	int rc = -1;

	release();
	if (cfg == NULL)
		return -1;
	if (conf != NULL && (sim_check_keys(conf, "proxmox", keys, err, errlen) != 0 ||
			     json_object_update(cfg, (json_t *)conf) != 0))
		goto out;
	if (json_unpack(cfg, "{s:s,s:I,s:F,s:O,s:O,s:o,s:o}", "cluster_name", &cluster, "task_ms",
			&task_ms, "ticket_lifetime_s", &lifetime, "tokens", &pve.tokens, "users",
			&pve.users, "nodes", &nodes, "guests", &guests) != 0 ||
	    task_ms < 0 || task_ms > 600000 || lifetime <= 0 || !json_is_object(pve.tokens) ||
	    !json_is_object(pve.users) || !json_is_array(nodes) || !json_is_array(guests) ||
	    json_array_size(nodes) > MAX_NODES || json_array_size(guests) > MAX_GUESTS) {
		snprintf(err, errlen,
			 "'proxmox': cluster_name, task_ms (0-600000), "
			 "ticket_lifetime_s (> 0), tokens {}, users {}, nodes [] and "
			 "guests [] have the wrong type or size");
		goto out;
	}
	snprintf(pve.cluster, sizeof(pve.cluster), "%s", cluster);
	pve.task_ms = (long)task_ms;
	pve.ticket_lifetime_s = lifetime;
	json_array_foreach(nodes, i, v) {
		struct node *n = &pve.nodes[i];
		const char *name;
		json_int_t maxcpu = 4, maxmem = 17179869184;

		if (json_unpack(v, "{s:s,s?I,s?I!}", "node", &name, "maxcpu", &maxcpu, "maxmem",
				&maxmem) != 0 ||
		    strlen(name) >= sizeof(n->name) || find_node(name) >= 0) {
			snprintf(err, errlen,
				 "'proxmox.nodes[%zu]' needs a unique node name; maxcpu "
				 "and maxmem are optional",
				 i);
			goto out;
		}
		snprintf(n->name, sizeof(n->name), "%s", name);
		n->maxcpu = (long)maxcpu;
		n->maxmem = maxmem;
		pve.n_nodes++;
	}
	json_array_foreach(guests, i, v) {
		if (load_guest(v, i, err, errlen) != 0)
			goto out;
		pve.n_guests++;
	}
	pve.next_pid = 0x1a2b0;
	rc = 0;
out:
	json_decref(cfg);
	return rc;
}

/* --- authentication ---------------------------------------------------------------------- */

static int64_t lifetime_ms(void)
{
	return (int64_t)(pve.ticket_lifetime_s * 1000.0);
}

static struct ticket *find_ticket(const char *value)
{
	size_t i, n = pve.n_tickets < MAX_TICKETS ? pve.n_tickets : MAX_TICKETS;

	for (i = 0; i < n; i++)
		if (strcmp(pve.tickets[i].ticket, value) == 0 &&
		    cx_now_ms() - pve.tickets[i].issued_ms < lifetime_ms())
			return &pve.tickets[i];
	return NULL;
}

static bool secret_equal(const char *a, const char *b)
{
	size_t la = strlen(a);

	return la == strlen(b) && cx_ct_equal(a, b, la);
}

/* The ticket of a Cookie header's PVEAuthCookie (percent-decoded, as pveproxy does), into out. */
static bool cookie_ticket(const char *cookie, char *out, size_t outlen)
{
	const char *p = strstr(cookie, "PVEAuthCookie=");
	size_t len;
	char *dec;

	if (p == NULL)
		return false;
	p += strlen("PVEAuthCookie=");
	len = strcspn(p, ";");
	dec = sim_pct_decode(p, len, false);
	if (dec == NULL)
		return false;
	snprintf(out, outlen, "%s", dec);
	free(dec);
	return true;
}

/* The user a request acts as, into user; false with the 401 in resp when there is none. */
static bool authenticate(const struct sim_request *req, struct sim_response *resp, char *user,
			 size_t userlen)
{
	const char *auth = sim_header(req, MHD_HTTP_HEADER_AUTHORIZATION);
	const char *cookie = sim_header(req, MHD_HTTP_HEADER_COOKIE);
	char value[256];
	struct ticket *t;

	if (auth != NULL && strncmp(auth, "PVEAPIToken=", 12) == 0) {
		const char *id = auth + 12, *eq = strchr(id, '=');
		const char *secret;
		char tokenid[96];

		if (eq == NULL || (size_t)(eq - id) >= sizeof(tokenid) || strchr(id, '!') == NULL ||
		    strchr(id, '!') > eq) {
			fail(resp, 401, "invalid token value!");
			return false;
		}
		memcpy(tokenid, id, (size_t)(eq - id));
		tokenid[eq - id] = '\0';
		secret = json_string_value(json_object_get(pve.tokens, tokenid));
		if (secret == NULL || !secret_equal(secret, eq + 1)) {
			fail(resp, 401, "invalid token value!");
			return false;
		}
		snprintf(user, userlen, "%s", tokenid);
		return true;
	}
	if (cookie == NULL || !cookie_ticket(cookie, value, sizeof(value))) {
		fail(resp, 401, "No ticket");
		return false;
	}
	t = find_ticket(value);
	if (t == NULL) {
		fail(resp, 401, "permission denied - invalid PVE ticket");
		return false;
	}
	if (strcmp(req->method, "GET") != 0) {
		const char *csrf = sim_header(req, "CSRFPreventionToken");

		if (csrf == NULL || !secret_equal(t->csrf, csrf)) {
			fail(resp, 401, "Permission denied - invalid csrf token");
			return false;
		}
	}
	snprintf(user, userlen, "%s", t->user);
	return true;
}

/* POST /access/ticket: username (with @realm, or realm given apart) and password, or a valid
 * ticket as the password to renew it. */
static void create_ticket(const struct sim_request *req, struct sim_response *resp)
{
	json_t *p = sim_body_params(req);
	const char *username, *password, *realm, *want;
	unsigned char sig[48];
	char user[96], sigb64[80], rnd[33];
	struct ticket *t;
	time_t now = time(NULL);

	username = json_string_value(json_object_get(p, "username"));
	password = json_string_value(json_object_get(p, "password"));
	realm = json_string_value(json_object_get(p, "realm"));
	if (username == NULL || password == NULL) {
		param_fail(resp, username == NULL ? "username" : "password",
			   "property is missing and it is not optional");
		goto out;
	}
	snprintf(user, sizeof(user), "%s%s%s", username, realm && !strchr(username, '@') ? "@" : "",
		 realm && !strchr(username, '@') ? realm : "");
	want = json_string_value(json_object_get(pve.users, user));
	t = find_ticket(password);
	if (!(want != NULL && secret_equal(want, password)) &&
	    !(t != NULL && strcmp(t->user, user) == 0)) {
		fail(resp, 401, "authentication failure");
		goto out;
	}
	t = &pve.tickets[pve.n_tickets++ % MAX_TICKETS];
	if (RAND_bytes(sig, sizeof(sig)) != 1)
		goto out;
	EVP_EncodeBlock((unsigned char *)sigb64, sig, sizeof(sig));
	snprintf(t->ticket, sizeof(t->ticket), "PVE:%.40s:%08llX::%.64s", user, (long long)now,
		 sigb64);
	if (cx_random_hex(rnd, sizeof(rnd), 16) != 0)
		goto out;
	snprintf(t->csrf, sizeof(t->csrf), "%08llX:%s", (long long)now, rnd);
	snprintf(t->user, sizeof(t->user), "%s", user);
	t->issued_ms = cx_now_ms();
	ok(resp, json_pack("{s:s,s:s,s:s,s:s}", "username", user, "ticket", t->ticket,
			   "CSRFPreventionToken", t->csrf, "clustername", pve.cluster));
out:
	json_decref(p);
	if (resp->body == NULL)
		fail(resp, 500, "ticket creation failed");
}

/* --- tasks --------------------------------------------------------------------------------- */

static struct guest *find_guest(long vmid)
{
	size_t i;

	for (i = 0; i < pve.n_guests; i++)
		if (pve.guests[i].vmid == vmid)
			return &pve.guests[i];
	return NULL;
}

/* What a finished task does to its guest, decided on the state at that moment as the worker
 * would; an error becomes the task's exit status. */
static void finish(struct task *t)
{
	struct guest *g = find_guest(t->vmid);
	const char *kind = g && g->lxc ? "CT" : "VM";
	const char *a = t->action;

	t->done = true;
	snprintf(t->exitstatus, sizeof(t->exitstatus), "OK");
	if (g == NULL)
		return;
	if (strcmp(a, "start") == 0) {
		if (g->state != ST_STOPPED) {
			snprintf(t->exitstatus, sizeof(t->exitstatus), "%s %ld already running",
				 kind, g->vmid);
			return;
		}
		g->state = ST_RUNNING;
		g->started_ms = cx_now_ms();
	} else if (strcmp(a, "stop") == 0 || strcmp(a, "shutdown") == 0) {
		g->state = ST_STOPPED;
	} else if (g->state == ST_STOPPED) {
		/* reboot, reset, suspend, resume talk to a process that is gone */
		snprintf(t->exitstatus, sizeof(t->exitstatus), "%s %ld not running", kind, g->vmid);
	} else if (strcmp(a, "suspend") == 0) {
		g->state = ST_PAUSED;
	} else {
		if (strcmp(a, "resume") != 0)
			g->started_ms = cx_now_ms();
		g->state = ST_RUNNING;
	}
}

static void tick(void)
{
	size_t first = pve.n_tasks > MAX_TASKS ? pve.n_tasks - MAX_TASKS : 0, i;
	int64_t now = cx_now_ms();

	for (i = first; i < pve.n_tasks; i++) {
		struct task *t = &pve.tasks[i % MAX_TASKS];

		if (!t->done && t->end_ms <= now)
			finish(t);
	}
}

static struct task *start_task(struct guest *g, const char *action, const char *user)
{
	struct task *t = &pve.tasks[pve.n_tasks % MAX_TASKS];
	char type[16], node[64];

	memcpy(node, pve.nodes[g->node].name, sizeof(node));
	if (pve.n_tasks >= MAX_TASKS && !t->done)
		finish(t); /* the oldest is long over; keep its effect */
	pve.n_tasks++;
	memset(t, 0, sizeof(*t));
	snprintf(t->action, sizeof(t->action), "%s", action);
	snprintf(type, sizeof(type), "%s%s", g->lxc ? "vz" : "qm", action);
	memcpy(t->type, type, sizeof(type));
	snprintf(t->user, sizeof(t->user), "%s", user);
	t->vmid = g->vmid;
	t->node = g->node;
	t->pid = pve.next_pid++;
	t->pstart = (unsigned int)(cx_now_ms() / 10 & 0xffffffff);
	t->starttime = time(NULL);
	t->end_ms = cx_now_ms() + pve.task_ms;
	snprintf(t->upid, sizeof(t->upid), "UPID:%s:%08X:%08X:%08llX:%s:%ld:%s:", node, t->pid,
		 t->pstart, (long long)t->starttime, type, g->vmid, user);
	if (pve.task_ms == 0)
		finish(t);
	return t;
}

static struct task *find_task(const char *upid)
{
	size_t first = pve.n_tasks > MAX_TASKS ? pve.n_tasks - MAX_TASKS : 0, i;

	for (i = first; i < pve.n_tasks; i++)
		if (strcmp(pve.tasks[i % MAX_TASKS].upid, upid) == 0)
			return &pve.tasks[i % MAX_TASKS];
	return NULL;
}

static void task_status(int node, const char *upid, struct sim_response *resp)
{
	struct task *t = find_task(upid);
	char id[24];
	json_t *v;

	if (strncmp(upid, "UPID:", 5) != 0) {
		param_fail(resp, "upid", "unable to parse worker upid");
		return;
	}
	if (t == NULL || t->node != node) {
		param_fail(resp, "upid", "no such task");
		return;
	}
	snprintf(id, sizeof(id), "%ld", t->vmid);
	v = json_pack("{s:s,s:s,s:i,s:i,s:I,s:s,s:s,s:s,s:s}", "upid", t->upid, "node",
		      pve.nodes[t->node].name, "pid", (json_int_t)t->pid, "pstart",
		      (json_int_t)t->pstart, "starttime", (json_int_t)t->starttime, "type", t->type,
		      "id", id, "user", t->user, "status", t->done ? "stopped" : "running");
	if (v != NULL && t->done)
		json_object_set_new(v, "exitstatus", json_string(t->exitstatus));
	ok(resp, v);
}

/* The checks Proxmox makes before it forks the worker: a 500 right away, no task. */
static bool refuse_now(const struct guest *g, const char *a, struct sim_response *resp)
{
	if (!g->lxc && strcmp(a, "start") == 0 && g->template_)
		fail(resp, 500, "you can't start a vm if it's a template");
	else if (!g->lxc && (strcmp(a, "reboot") == 0 || strcmp(a, "resume") == 0) &&
		 g->state == ST_STOPPED)
		fail(resp, 500, "VM %ld not running", g->vmid);
	else if (g->lxc && strcmp(a, "start") == 0 && g->state != ST_STOPPED)
		fail(resp, 500, "CT %ld already running", g->vmid);
	else if (g->lxc && strcmp(a, "start") != 0 && g->state == ST_STOPPED)
		fail(resp, 500, "CT %ld not running", g->vmid);
	else
		return false;
	return true;
}

static void cluster_resources(const struct sim_request *req, struct sim_response *resp)
{
	const char *type = sim_query(req, "type");
	json_t *arr;
	size_t i;

	if (type != NULL && strcmp(type, "vm") != 0 && strcmp(type, "node") != 0 &&
	    strcmp(type, "storage") != 0 && strcmp(type, "sdn") != 0) {
		char why[160];

		snprintf(
			why, sizeof(why),
			"value '%.64s' does not have a value in the enumeration 'vm, storage, node, "
			"sdn'",
			type);
		param_fail(resp, "type", why);
		return;
	}
	arr = type == NULL || strcmp(type, "vm") == 0 ? pve_list_guests(-1, -1, false)
						      : json_array();
	for (i = 0; arr != NULL && i < pve.n_nodes; i++) {
		if (type == NULL || strcmp(type, "node") == 0)
			json_array_append_new(arr, pve_node_json(&pve.nodes[i], true));
		if (type == NULL || strcmp(type, "storage") == 0)
			json_array_append_new(arr, pve_storage_json(&pve.nodes[i]));
	}
	ok(resp, arr);
}

/* --- routing --------------------------------------------------------------------------------- */

#define MAX_SEGS 8

static size_t split(const char *path, char segs[MAX_SEGS][160])
{
	size_t n = 0;

	while (*path == '/')
		path++;
	while (*path != '\0') {
		size_t len = strcspn(path, "/");

		if (n == MAX_SEGS || len >= 160)
			return MAX_SEGS + 1;
		memcpy(segs[n], path, len);
		segs[n++][len] = '\0';
		path += len;
		while (*path == '/')
			path++;
	}
	return n;
}

static bool is_action(bool lxc, const char *a)
{
	static const char *const qemu[] = { "start", "stop",    "shutdown", "reboot",
					    "reset", "suspend", "resume",   NULL };
	static const char *const ct[] = { "start", "stop", "shutdown", "reboot", NULL };
	const char *const *list = lxc ? ct : qemu;
	size_t i;

	for (i = 0; list[i] != NULL; i++)
		if (strcmp(list[i], a) == 0)
			return true;
	return false;
}

/* /nodes/{node}/{qemu|lxc}/{vmid}/...: seg[3] is the vmid. */
static void guest_route(const struct sim_request *req, char segs[MAX_SEGS][160], size_t n, int node,
			const char *user, struct sim_response *resp)
{
	bool lxc = strcmp(segs[2], "lxc") == 0, get = strcmp(req->method, "GET") == 0;
	struct guest *g;
	long vmid;

	if (cx_parse_long(segs[3], 100, 999999999, &vmid) != 0) {
		long any;

		param_fail(resp, "vmid",
			   cx_parse_long(segs[3], -999999999, 999999999, &any) == 0
				   ? "value must have a minimum value of 100"
				   : "type check ('integer') failed");
		return;
	}
	g = find_guest(vmid);
	if (g == NULL || g->node != node || g->lxc != lxc) {
		fail(resp, 500, "Configuration file 'nodes/%s/%s/%ld.conf' does not exist",
		     pve.nodes[node].name, lxc ? "lxc" : "qemu-server", vmid);
		return;
	}
	if (n == 5 && get && strcmp(segs[4], "config") == 0) {
		ok(resp, pve_guest_config(g));
	} else if (n == 6 && get && strcmp(segs[4], "status") == 0 &&
		   strcmp(segs[5], "current") == 0) {
		json_t *v = pve_guest_json(g, true);

		json_object_set_new(v, "ha", json_pack("{s:i}", "managed", 0));
		ok(resp, v);
	} else if (n == 6 && strcmp(req->method, "POST") == 0 && strcmp(segs[4], "status") == 0 &&
		   is_action(lxc, segs[5])) {
		if (!refuse_now(g, segs[5], resp))
			ok(resp, json_string(start_task(g, segs[5], user)->upid));
	} else {
		fail(resp, 501, "Method '%s %s' not implemented", req->method, req->path);
	}
}

static void handle(const struct sim_request *req, struct sim_response *resp)
{
	char segs[MAX_SEGS][160], user[96];
	size_t n = split(req->path, segs);
	bool get = strcmp(req->method, "GET") == 0;
	int node = -1;

	tick();
	if (n == 2 && strcmp(segs[0], "access") == 0 && strcmp(segs[1], "ticket") == 0) {
		if (strcmp(req->method, "POST") == 0)
			create_ticket(req, resp);
		else
			ok(resp, NULL);
		return;
	}
	if (!authenticate(req, resp, user, sizeof(user)))
		return;
	if (n >= 2 && strcmp(segs[0], "nodes") == 0) {
		node = find_node(segs[1]);
		if (node < 0) {
			fail(resp, 500,
			     "hostname lookup '%s' failed - failed to get address info for: %s: Name "
			     "or service not known",
			     segs[1], segs[1]);
			return;
		}
	}
	if (n == 1 && get && strcmp(segs[0], "version") == 0)
		ok(resp, json_pack("{s:s,s:s,s:s,s:s}", "version", "8.2.4", "release", "8.2",
				   "repoid", "faa83925c9641325", "console", "html5"));
	else if (n == 1 && get && strcmp(segs[0], "nodes") == 0) {
		json_t *arr = json_array();
		size_t i;

		for (i = 0; i < pve.n_nodes; i++)
			json_array_append_new(arr, pve_node_json(&pve.nodes[i], false));
		ok(resp, arr);
	} else if (n == 2 && get && strcmp(segs[0], "cluster") == 0 &&
		   strcmp(segs[1], "resources") == 0)
		cluster_resources(req, resp);
	else if (n == 2 && get && strcmp(segs[0], "cluster") == 0 && strcmp(segs[1], "status") == 0)
		ok(resp, pve_cluster_status());
	else if (n == 3 && get && node >= 0 && strcmp(segs[2], "status") == 0)
		ok(resp, pve_node_status(&pve.nodes[node]));
	else if (n == 3 && get && node >= 0 &&
		 (strcmp(segs[2], "qemu") == 0 || strcmp(segs[2], "lxc") == 0)) {
		const char *full = sim_query(req, "full");

		ok(resp, pve_list_guests(node, strcmp(segs[2], "lxc") == 0,
					 full != NULL && strcmp(full, "1") == 0));
	} else if (n >= 5 && node >= 0 &&
		   (strcmp(segs[2], "qemu") == 0 || strcmp(segs[2], "lxc") == 0))
		guest_route(req, segs, n, node, user, resp);
	else if (n == 5 && get && node >= 0 && strcmp(segs[2], "tasks") == 0 &&
		 strcmp(segs[4], "status") == 0)
		task_status(node, segs[3], resp);
	else
		fail(resp, 501, "Method '%s %s' not implemented", req->method, req->path);
}

const struct sim_backend sim_proxmox = {
	.name = "proxmox",
	.prefix = "/api2/json",
	.load = load,
	.handle = handle,
	.error_body = error_body,
	.release = release,
	.help = "  Proxmox VE under /api2/json\n"
		"    API token: Authorization: PVEAPIToken=root@pam!cortex="
		"5e1f3c9a-2b7d-4e8f-9a61-0c3d5b7e9f12\n"
		"    ticket:    POST /api2/json/access/ticket username=root@pam "
		"password=sim-password\n"
		"               then Cookie: PVEAuthCookie=TICKET (+ CSRFPreventionToken on writes;\n"
		"               tickets last ticket_lifetime_s, 7200)\n"
		"    state:     nodes pve1, pve2; qemu 100 web01 (running), 101 db01 (stopped),\n"
		"               102 build01 (paused), 103 debian12-tmpl (template); lxc 200 dns01\n"
		"               (running), 201 proxy01 (stopped); tasks take task_ms (300)\n",
};
