/* The UniFi adapter's tool handlers (tools.c) and how they find what the model names
 * (resolve.c): a site by id, short name or display name; a device by id, MAC or name. */
#ifndef CX_UNIFI_TOOLS_H
#define CX_UNIFI_TOOLS_H

#include <stdbool.h>

#include "../../common/adapter.h"
#include "../../common/mcp.h"

struct un_site {
	char id[64];    /* UUID (integration) or _id (legacy); "" when not known */
	char ref[64];   /* the short name ("default"); "" when not known */
	char path[200]; /* the site in request paths: its id (integration), ref (legacy) */
	char label[64]; /* how answers name it: ref, else id */
};

/* The site args names ("site", else the adapter's default): 0, or 1 after an isError result
 * in res, -1 on an internal fault. */
int un_find_site(struct cx_call *call, const json_t *args, struct un_site *site,
		 struct cx_result *res);
/* The device want names on site: 0 with *dev the API's object for it (new reference), or 1
 * after an isError result, -1 on a fault. Integration: the device's details when want is a
 * UUID, else its entry in the list; legacy: its stat/device entry. */
int un_find_device(struct cx_call *call, const struct un_site *site, const char *want, json_t **dev,
		   struct cx_result *res);
/* "aa:bb:cc:dd:ee:ff" from a MAC written with ':', '-', '.' or nothing between the digits. */
bool un_norm_mac(const char *in, char out[18]);
bool un_is_uuid(const char *s);
/* The state in the Integration API's words ("ONLINE", "OFFLINE", "GETTING_READY"...), for
 * both APIs (the legacy one numbers them). */
const char *un_device_state(const json_t *dev, bool legacy);

int un_list_sites(struct cx_call *call, const json_t *args, struct cx_result *res);
int un_list_devices(struct cx_call *call, const json_t *args, struct cx_result *res);
int un_get_device_stats(struct cx_call *call, const json_t *args, struct cx_result *res);
int un_list_clients(struct cx_call *call, const json_t *args, struct cx_result *res);
int un_restart_device(struct cx_call *call, const json_t *args, struct cx_result *res);

#endif
