/* Proxmox VE simulator: the state proxmox.c keeps and routes, and the views of it that
 * proxmox_views.c renders as the API's JSON. Private to the two. */
#ifndef SIM_PROXMOX_H
#define SIM_PROXMOX_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define MAX_NODES   16
#define MAX_GUESTS  256
#define MAX_TASKS   1024
#define MAX_TICKETS 256

enum run_state {
	ST_STOPPED,
	ST_RUNNING,
	ST_PAUSED
};

struct node {
	char name[64];
	long maxcpu;
	json_int_t maxmem;
};

struct guest {
	long vmid;
	int node; /* index into nodes */
	bool lxc;
	bool template_;
	enum run_state state;
	int64_t started_ms; /* monotonic; for uptime */
	char name[64];
	char tags[128];
	long cpus;
	json_int_t maxmem;
	json_t *config; /* as configured, or built from the fields above */
};

struct task {
	char upid[256];
	char action[16];
	char type[16];
	long vmid;
	char user[96];
	int node;
	int64_t end_ms;
	time_t starttime;
	unsigned int pid, pstart;
	bool done;
	char exitstatus[128];
};

struct ticket {
	char ticket[128];
	char csrf[64];
	char user[96];
	int64_t issued_ms;
};

struct pve_state {
	char cluster[64];
	long task_ms;
	double ticket_lifetime_s;
	json_t *tokens; /* "user@realm!id" -> secret */
	json_t *users;  /* "user@realm" -> password */
	struct node nodes[MAX_NODES];
	size_t n_nodes;
	struct guest guests[MAX_GUESTS];
	size_t n_guests;
	struct task tasks[MAX_TASKS];
	size_t n_tasks; /* total ever made; slot is n % MAX_TASKS */
	struct ticket tickets[MAX_TICKETS];
	size_t n_tickets;
	unsigned int next_pid;
};

extern struct pve_state pve;

/* Views: new references (NULL on out of memory). resource: as /cluster/resources lists it. */
json_t *pve_node_json(const struct node *n, bool resource);
json_t *pve_node_status(const struct node *n);
/* The guests of node (-1: all, as cluster resources) of one type (lxc 0 or 1; -1: both). */
json_t *pve_list_guests(int node, int lxc, bool full);
json_t *pve_guest_json(const struct guest *g, bool full);
json_t *pve_guest_config(const struct guest *g);
json_t *pve_cluster_status(void);
json_t *pve_storage_json(const struct node *n);

#endif
