/* The Sandfly Security adapter: the hosts Sandfly watches, its scan results, and scans, through
 * the Sandfly server's API (/v4) with a username and password. */
#ifndef CX_SANDFLY_H
#define CX_SANDFLY_H

#include "../../common/adapter.h"

extern const struct cx_adapter cx_sandfly_adapter;

#endif
