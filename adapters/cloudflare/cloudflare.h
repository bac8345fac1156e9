/* The Cloudflare adapter: zones and DNS records through the Cloudflare API v4 with an API
 * token. */
#ifndef CX_CLOUDFLARE_H
#define CX_CLOUDFLARE_H

#include "../../common/adapter.h"

extern const struct cx_adapter cx_cloudflare_adapter;

#endif
