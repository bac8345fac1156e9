#include "adapter.h"

#include "util.h"

bool cx_call_cancelled(const struct cx_call *call)
{
	if (call->cancelled && atomic_load(call->cancelled))
		return true;
	return call->deadline_ms > 0 && cx_now_ms() >= call->deadline_ms;
}

long cx_call_remaining_ms(const struct cx_call *call)
{
	int64_t left;

	if (call->deadline_ms <= 0)
		return 0;
	left = call->deadline_ms - cx_now_ms();
	return left > 0 ? (long)left : 0;
}
