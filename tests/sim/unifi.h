/* UniFi Network simulator: the state unifi.c keeps (sites, devices, clients, sessions) and
 * the two APIs over it, the Integration API (unifi_integration.c) and the legacy one
 * (unifi_legacy.c). Private to the three. */
#ifndef SIM_UNIFI_H
#define SIM_UNIFI_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "sim.h"

#define UF_MAX_SITES    8
#define UF_MAX_DEVICES  64
#define UF_MAX_CLIENTS  2048
#define UF_MAX_SESSIONS 256

enum uf_dev_state {
	UF_ONLINE,
	UF_OFFLINE,
	UF_RESTARTING /* GETTING_READY (legacy state 5) until restart_until_ms */
};

struct uf_site {
	char id[37];        /* UUID (Integration API) */
	char legacy_id[25]; /* _id (legacy API) */
	char name[32];      /* internalReference / legacy name: "default" */
	char desc[64];      /* display name: "Default" */
};

struct uf_device {
	int site;
	char id[37];
	char legacy_id[25];
	char mac[18];
	char name[64];
	char model[24];
	char type[8]; /* legacy: uap, usw, ugw, udm */
	char ip[16];
	char firmware[24];
	enum uf_dev_state state;
	int64_t boot_ms;          /* monotonic: uptime counts from here */
	int64_t restart_until_ms; /* UF_RESTARTING until then */
	double cpu, mem, load1, load5, load15;
	long tx_bps, rx_bps;
};

struct uf_client {
	int site;
	char id[37];
	char legacy_id[25];
	char mac[18];
	char name[64];
	char ip[40];
	bool wired;
	int uplink; /* device index */
	int64_t connected_ms;
};

struct uf_session {
	char token[65];
	char csrf[37];
	bool classic; /* unifises (classic controller) rather than TOKEN (UniFi OS) */
	int64_t issued_ms;
};

struct uf_state {
	char api_key[128];
	json_t *users; /* username -> password */
	double session_lifetime_s;
	long restart_ms;
	struct uf_site sites[UF_MAX_SITES];
	size_t n_sites;
	struct uf_device devices[UF_MAX_DEVICES];
	size_t n_devices;
	struct uf_client clients[UF_MAX_CLIENTS];
	size_t n_clients;
	struct uf_session sessions[UF_MAX_SESSIONS];
	size_t n_sessions; /* total ever made; slot is n % UF_MAX_SESSIONS */
};

extern struct uf_state uf;

/* A client is listed while its uplink device is up. */
bool uf_client_visible(const struct uf_client *c);
int uf_find_site_by_id(const char *id);
int uf_find_site_by_name(const char *name);
/* Seconds the device has been up (0 when it is not). */
long uf_uptime_s(const struct uf_device *d);
/* Starts a restart of device i. */
void uf_restart(size_t i);

/* The Integration API below its base ("/sites/..."), with X-API-KEY. */
void uf_integration(const struct sim_request *req, const char *path, struct sim_response *resp);
/* An Integration API error body ({statusCode, statusName, code, message, ...}). */
json_t *uf_integration_error(unsigned int status, const char *code, const char *message,
			     const char *path);
/* The legacy API below /api ("/self/sites", "/s/default/stat/device"), once authenticated. */
void uf_legacy(const struct sim_request *req, const char *path, bool classic,
	       struct sim_response *resp);
/* {"meta": {"rc": "error", "msg": msg}, "data": []} with status. */
void uf_legacy_fail(struct sim_response *resp, unsigned int status, const char *msg);

#endif
