#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

int cx_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (!s || !*s || *s == ' ' || *s == '\t' || *s == '+')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int64_t cx_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cx_deadline_ts(clockid_t clock, int64_t ms, struct timespec *ts)
{
	if (ms < 0)
		ms = 0;
	clock_gettime(clock, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

void cx_wall_iso8601(char *out, size_t outlen)
{
	/* Every audit line carries a timestamp: format the seconds once per second and
	 * thread, and only the milliseconds each time. */
	static _Thread_local time_t cached_sec = -1;
	static _Thread_local char cached[24];
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != cached_sec) {
		struct tm tm;

		gmtime_r(&ts.tv_sec, &tm);
		strftime(cached, sizeof(cached), "%Y-%m-%dT%H:%M:%S", &tm);
		cached_sec = ts.tv_sec;
	}
	if (outlen < 25) {
		if (outlen)
			out[0] = '\0';
		return;
	}
	unsigned ms = (unsigned)(ts.tv_nsec / 1000000);
	size_t n = strlen(cached);
	memcpy(out, cached, n);
	out[n] = '.';
	out[n + 1] = (char)('0' + ms / 100);
	out[n + 2] = (char)('0' + ms / 10 % 10);
	out[n + 3] = (char)('0' + ms % 10);
	out[n + 4] = 'Z';
	out[n + 5] = '\0';
}

void cx_sha256_hex(const void *data, size_t len, char hex[65])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256(data, len, md);
	for (size_t i = 0; i < sizeof(md); i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[64] = '\0';
}

bool cx_ct_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t cx_b64url_encode(const unsigned char *in, size_t len, char *out)
{
	size_t o = 0, i = 0;

	for (; i + 2 < len; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64url[v >> 18 & 63];
		out[o++] = b64url[v >> 12 & 63];
		out[o++] = b64url[v >> 6 & 63];
		out[o++] = b64url[v & 63];
	}
	if (len - i == 1) {
		unsigned v = (unsigned)in[i] << 16;
		out[o++] = b64url[v >> 18 & 63];
		out[o++] = b64url[v >> 12 & 63];
	} else if (len - i == 2) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
		out[o++] = b64url[v >> 18 & 63];
		out[o++] = b64url[v >> 12 & 63];
		out[o++] = b64url[v >> 6 & 63];
	}
	out[o] = '\0';
	return o;
}

static int b64url_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

long cx_b64url_decode(const char *in, size_t len, unsigned char *out, size_t outmax)
{
	size_t o = 0;
	unsigned acc = 0;
	int bits = 0;

	if (len % 4 == 1)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int v = b64url_value(in[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= outmax)
				return -1;
			out[o++] = (unsigned char)(acc >> bits & 0xff);
		}
	}
	/* Leftover bits must be zero, so each id has exactly one encoding. */
	if (bits && (acc & ((1u << bits) - 1)))
		return -1;
	return (long)o;
}

static bool b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

bool cx_url_escape(const char *in, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		bool plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			     (*p >= '0' && *p <= '9') || strchr("._~-", *p);
		if (n + (plain ? 1 : 3) >= outlen)
			return false;
		if (plain) {
			out[n++] = (char)*p;
		} else {
			out[n++] = '%';
			out[n++] = hex[*p >> 4];
			out[n++] = hex[*p & 15];
		}
	}
	if (n >= outlen)
		return false;
	out[n] = '\0';
	return true;
}

long cx_b64_decode(const char *in, size_t len, unsigned char *out, size_t outmax)
{
	size_t pad = 0;
	int n;

	if (len % 4 || len > INT_MAX || outmax < len / 4 * 3)
		return -1;
	if (!len)
		return 0;
	if (in[len - 1] == '=')
		pad = in[len - 2] == '=' ? 2 : 1;
	for (size_t i = 0; i < len - pad; i++) {
		if (!b64_char(in[i]))
			return -1;
	}
	/* EVP_DecodeBlock by itself takes missing padding and blanks, and counts the padding
	 * as zero bytes: the checks above and the subtraction below are the contract. */
	n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
	if (n < 0 || (size_t)n < pad)
		return -1;
	return n - (long)pad;
}

int cx_random_hex(char *out, size_t outlen, size_t nbytes)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char rnd[64];
	size_t done = 0, k;

	if (!outlen)
		return -1;
	out[0] = '\0';
	if (nbytes > (outlen - 1) / 2)
		return -1;
	while (done < nbytes) {
		k = nbytes - done < sizeof(rnd) ? nbytes - done : sizeof(rnd);
		if (RAND_bytes(rnd, (int)k) != 1) {
			out[0] = '\0';
			return -1;
		}
		for (size_t i = 0; i < k; i++) {
			out[2 * (done + i)] = digits[rnd[i] >> 4];
			out[2 * (done + i) + 1] = digits[rnd[i] & 15];
		}
		done += k;
	}
	out[2 * nbytes] = '\0';
	OPENSSL_cleanse(rnd, sizeof(rnd));
	return 0;
}

bool cx_glob_match(const char *pattern, const char *name)
{
	return fnmatch(pattern, name, 0) == 0;
}

static char *path_base;

int cx_path_set_base(const char *dir)
{
	char *copy = dir ? strdup(dir) : NULL;

	if (dir && !copy)
		return -1;
	free(path_base);
	path_base = copy;
	return 0;
}

const char *cx_path_base(void)
{
	return path_base;
}

char *cx_path_resolve(const char *base_dir, const char *path)
{
	size_t blen, plen;
	char *out;

	if (path[0] == '/' || !base_dir || !*base_dir)
		return strdup(path);
	blen = strlen(base_dir);
	plen = strlen(path);
	while (blen > 1 && base_dir[blen - 1] == '/')
		blen--;
	out = malloc(blen + 1 + plen + 1);
	if (!out)
		return NULL;
	memcpy(out, base_dir, blen);
	out[blen] = '/';
	memcpy(out + blen + 1, path, plen + 1);
	return out;
}

bool cx_fmt(char *out, size_t outlen, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!outlen)
		return false;
	va_start(ap, fmt);
	n = vsnprintf(out, outlen, fmt, ap);
	va_end(ap);
	return n >= 0 && (size_t)n < outlen;
}

bool cx_has_ctl(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return true;
	return false;
}

size_t cx_utf8_seq_len(const unsigned char *s, size_t n)
{
	size_t len;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}
