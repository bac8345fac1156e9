/* Small helpers every module needs: number parsing, clocks, hashing, encodings. */
#ifndef CX_UTIL_H
#define CX_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Whole string must be a base-10 integer within [min, max]; 0 or -1. */
int cx_parse_long(const char *s, long min, long max, long *out);

/* Monotonic milliseconds, for deadlines and durations. */
int64_t cx_now_ms(void);
/* Wall clock as "2026-11-29T04:05:35.123Z" into out (>= 25 bytes). */
void cx_wall_iso8601(char *out, size_t outlen);

/* SHA-256 of data as 64 lowercase hex digits and a NUL into hex[65]. */
void cx_sha256_hex(const void *data, size_t len, char hex[65]);
/* Constant-time comparison of equal-length byte strings. */
bool cx_ct_equal(const void *a, const void *b, size_t len);

/* base64url without padding. Encode: out needs 4*ceil(len/3)+1 bytes; returns length.
 * Decode: returns decoded length, or -1 on a character outside the alphabet or bad length. */
size_t cx_b64url_encode(const unsigned char *in, size_t len, char *out);
long cx_b64url_decode(const char *in, size_t len, unsigned char *out, size_t outmax);
/* Standard Base64 with padding (RFC 4648 section 4). The decoded length, or -1 unless len is
 * a multiple of 4, the text is the alphabet followed by at most two '=', and outmax is at
 * least len / 4 * 3 (the padding is written as zero bytes past the returned length). No
 * blanks, no missing padding. Unused bits of the last group are not checked. */
long cx_b64_decode(const char *in, size_t len, unsigned char *out, size_t outmax);

/* in percent-encoded for a URL path segment or query value: everything but the unreserved
 * characters [A-Za-z0-9._~-] becomes %XX. false when it does not fit in out (outlen bytes). */
bool cx_url_escape(const char *in, char *out, size_t outlen);

/* The moment ms milliseconds from now on clock, as pthread_cond_timedwait and
 * pthread_timedjoin_np want it (a condition variable waits on CLOCK_REALTIME unless it was
 * created with pthread_condattr_setclock). ms < 0 counts as 0. */
void cx_deadline_ts(clockid_t clock, int64_t ms, struct timespec *ts);

/* nbytes random bytes (RAND_bytes) as 2 * nbytes lowercase hex digits and a NUL. 0, or -1
 * when out has fewer than 2 * nbytes + 1 bytes or the generator fails (out is then ""). */
int cx_random_hex(char *out, size_t outlen, size_t nbytes);

/* snprintf for messages where cutting is acceptable: always terminated; false if cut. */
bool cx_fmt(char *out, size_t outlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* path as it is when absolute or when base_dir is NULL or empty, else base_dir/path: a new
 * string the caller frees; NULL on out of memory. */
char *cx_path_resolve(const char *base_dir, const char *path);
/* Length of the valid UTF-8 sequence at s (at most n bytes, n > 0): 1 for ASCII, 2 to 4, or 0
 * when it is not one (no overlong forms, no surrogates, nothing past U+10FFFF). */
size_t cx_utf8_seq_len(const unsigned char *s, size_t n);
/* True when s (len bytes) holds a control character: below U+0020 (NUL, tab, newline
 * included) or DEL. Names (methods, tools, URIs, argument keys) and tokens must have none. */
bool cx_has_ctl(const char *s, size_t len);
/* The directory relative paths in the configuration are read against: the config file's own,
 * set once at start before any adapter is configured (NULL: the working directory). Secret
 * references ({"file": ...}), ca_file and every path an adapter takes resolve against it. */
int cx_path_set_base(const char *dir);
const char *cx_path_base(void);

/* fnmatch-style glob on tool names ('*', '?'). */
bool cx_glob_match(const char *pattern, const char *name);

#endif
