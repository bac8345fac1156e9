/* The retry rules of the official Anthropic SDKs (anthropic-sdk-python, _base_client.py:
 * _should_retry, _parse_retry_after_header, _calculate_retry_timeout), and the waits. */
#include "llm.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/random.h>

#include "llm_impl.h"
#include "util.h"

#define INITIAL_RETRY_MS 500.0
#define MAX_RETRY_MS     8000.0
#define MAX_HEADER_WAIT  60.0 /* seconds: a longer retry-after is not waited for */

bool cx_llm_should_retry(long status, const char *x_should_retry, bool spend_limit)
{
	/* The spend limit comes first: retrying cannot help until someone raises it. */
	if (spend_limit && status == 429)
		return false;
	if (x_should_retry != NULL && strcmp(x_should_retry, "true") == 0)
		return true;
	if (x_should_retry != NULL && strcmp(x_should_retry, "false") == 0)
		return false;
	return status == 0 || status == 408 || status == 409 || status == 429 || status >= 500;
}

/* A whole string as a finite double (Python's float() takes surrounding blanks). */
static bool parse_seconds(const char *s, double *out)
{
	char *end;
	double v;

	if (s == NULL)
		return false;
	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno != 0 || !isfinite(v))
		return false;
	while (*end == ' ' || *end == '\t')
		end++;
	if (*end != '\0')
		return false;
	*out = v;
	return true;
}

/* An HTTP date (IMF-fixdate, "Wed, 21 Oct 2015 07:28:00 GMT") as seconds from now. */
static bool parse_http_date(const char *s, double *out)
{
	struct tm tm = { 0 };
	const char *end;

	if (s == NULL)
		return false;
	end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (end == NULL || *end != '\0')
		return false;
	*out = (double)timegm(&tm) - (double)time(NULL);
	return true;
}

long cx_llm_retry_wait_ms(int n, const char *retry_after_ms, const char *retry_after, double rnd,
			  const char **basis)
{
	double s, ms;
	const char *b = NULL;

	/* retry-after-ms when it is a number, else retry-after as seconds, else as a date. */
	if (parse_seconds(retry_after_ms, &s)) {
		s /= 1000.0;
		b = "retry-after-ms";
	} else if (parse_seconds(retry_after, &s) || parse_http_date(retry_after, &s)) {
		b = "retry-after";
	}
	if (b != NULL && s > 0 && s <= MAX_HEADER_WAIT) {
		if (basis)
			*basis = b;
		ms = s * 1000.0;
		return (long)ms + ((double)(long)ms < ms ? 1 : 0);
	}
	if (n < 0)
		n = 0;
	/* min(0.5 * 2^n, 8) s; no libm, and 2^5 already passes the cap */
	ms = INITIAL_RETRY_MS * (double)(1L << (n > 5 ? 5 : n));
	if (ms > MAX_RETRY_MS)
		ms = MAX_RETRY_MS;
	if (basis)
		*basis = "backoff";
	return (long)(ms * (1.0 - 0.25 * rnd));
}

bool cx_llm_says_spend_limit(const char *code, const char *message)
{
	static const char *const codes[] = { "spend_limit",    "usage_limit",   "quota",
					     "credit_balance", "billing_limit", NULL };
	static const char *const words[] = { "spend limit",  "spending limit", "usage limit",
					     "usage limits", "quota",          NULL };
	size_t i;

	for (i = 0; code && codes[i]; i++)
		if (strcasestr(code, codes[i]))
			return true;
	for (i = 0; message && words[i]; i++)
		if (strcasestr(message, words[i]))
			return true;
	return false;
}

double cx_llm_random(void)
{
	uint32_t u;

	if (getrandom(&u, sizeof(u), 0) != sizeof(u))
		u = (uint32_t)cx_now_ms() * 2654435761u;
	return (double)u / 4294967296.0;
}

int cx_llm_sleep(const struct cx_call *call, long ms)
{
	int64_t end = cx_now_ms() + ms;

	for (;;) {
		int64_t left = end - cx_now_ms();
		struct timespec ts;

		if (call != NULL && cx_call_cancelled(call))
			return -1;
		if (left <= 0)
			return 0;
		if (left > 10)
			left = 10;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)left * 1000000L;
		nanosleep(&ts, NULL);
	}
}
