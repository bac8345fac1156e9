/* Who may call what. Enforced once, in dispatch, for every tool (Redis's processCommand):
 * never inside a tool. */
#ifndef CX_POLICY_H
#define CX_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "registry.h"
#include "exchange.h"

/* True when p may call rt; otherwise why says so in a sentence for the model and the audit. */
bool cx_policy_allows(const struct cx_principal *p, const struct cx_reg_tool *rt, char *why,
		      size_t whylen);

/* A token sees an adapter's resources and prompts when it may call at least one of that
 * adapter's tools (an adapter without tools: only tokens without allow-patterns). */
bool cx_policy_sees_adapter(const struct cx_principal *p, const struct cx_registry *reg,
			    const struct cx_adapter *a);

#endif
