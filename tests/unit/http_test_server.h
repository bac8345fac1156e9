/* The scripted HTTP(S) servers the HTTP client's tests talk to (test_http_client.c,
 * test_http_client_tls.c): libmicrohttpd on 127.0.0.1, plain and with a certificate made at
 * start, and the helpers both test files use. */
#ifndef CX_TEST_HTTP_TEST_SERVER_H
#define CX_TEST_HTTP_TEST_SERVER_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "../../common/adapter.h"
#include "../../common/http_client.h"
#include "../../common/http_pin.h"

#define SECRET_HEADER "Authorization: PVEAPIToken=x!y=SECRET123"

struct srv {
	struct MHD_Daemon *d;
	int port;
	atomic_int started;  /* connections accepted */
	atomic_int aborted;  /* requests whose client left before the answer ended */
	atomic_int requests; /* requests that reached the handler */
	atomic_int auth_seen;
	atomic_int hits; /* of /flaky and /limited, reset by each test */
	pthread_mutex_t lock;
	char headers[2048]; /* the last request's headers, "name: value\n" each */
};

/* Routes: /json, /flaky (503 twice, then 200), /limited (429 with Retry-After), /slow, /big,
 * /bigchunked, /badjson, /unauthorized; anything else 404. */
extern struct srv hts_plain, hts_secure;
extern char *hts_key_pem, *hts_cert_pem, hts_cert_file[64];
extern char hts_cert_fp[CX_HTTP_PIN_TEXT];

struct test_call {
	struct cx_call call;
	atomic_bool cancelled;
};

void hts_sleep_ms(long ms);
/* cmocka group set-up and tear-down (both servers, the certificate), and a per-test reset. */
int hts_servers_up(void **state);
int hts_servers_down(void **state);
int hts_reset_both(void **state);
/* A call with ms to its deadline and its own cancelled flag. */
void hts_call_init(struct test_call *tc, long ms);
/* A client of s (hts_plain or hts_secure); fails the test when it cannot be made. */
struct cx_http_client *hts_client(const struct srv *s, int retries, const char *ca_file,
				  const char *fingerprint, bool insecure);
/* GET path with SECRET_HEADER, 5 s at most. */
int hts_get(struct cx_http_client *c, const struct cx_call *call, const char *path,
	    struct cx_http_resp *resp, struct cx_err *err);
void hts_assert_contains(const char *haystack, const char *needle);

#endif
