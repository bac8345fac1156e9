#include "policy.h"

#include <stdio.h>

#include "../common/util.h"

bool cx_policy_allows(const struct cx_principal *p, const struct cx_reg_tool *rt, char *why,
		      size_t whylen)
{
	if (p->read_only && !(rt->flags & CX_READ_ONLY)) {
		if (why)
			snprintf(
				why, whylen,
				"refused: token '%s' is read-only and '%s' is not a read-only tool",
				p->name, rt->name);
		return false;
	}
	if (!p->allow)
		return true;
	for (const char *const *g = p->allow; *g; g++)
		if (cx_glob_match(*g, rt->name))
			return true;
	if (why)
		snprintf(why, whylen, "refused: token '%s' is not allowed to call '%s'", p->name,
			 rt->name);
	return false;
}

bool cx_policy_sees_adapter(const struct cx_principal *p, const struct cx_registry *reg,
			    const struct cx_adapter *a)
{
	if (!p->allow)
		return true;
	for (size_t i = 0; i < cx_registry_count(reg); i++) {
		const struct cx_reg_tool *rt = cx_registry_at(reg, i);
		if (rt->adapter == a && cx_policy_allows(p, rt, NULL, 0))
			return true;
	}
	return false;
}
