/* The simulator's HTTPS: a new self-signed certificate at every start, so tests pin what this
 * run printed rather than a key that lives in the tree. */
#include "sim.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *bio_text(BIO *bio)
{
	char *data, *out;
	long len = BIO_get_mem_data(bio, &data);

	if (len <= 0)
		return NULL;
	out = malloc((size_t)len + 1);
	if (out == NULL)
		return NULL;
	memcpy(out, data, (size_t)len);
	out[len] = '\0';
	return out;
}

static int add_ext(X509 *cert, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int rc;

	X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ext == NULL)
		return -1;
	rc = X509_add_ext(cert, ext, -1) == 1 ? 0 : -1;
	X509_EXTENSION_free(ext);
	return rc;
}

int sim_tls_make_cert(char **key_pem, char **cert_pem, char fingerprint[96], char *err,
		      size_t errlen)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *cert = X509_new();
	X509_NAME *name;
	BIO *kb = BIO_new(BIO_s_mem()), *cb = BIO_new(BIO_s_mem());
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	int rc = -1;

	*key_pem = *cert_pem = NULL;
	if (key == NULL || cert == NULL || kb == NULL || cb == NULL)
		goto out;
	name = X509_get_subject_name(cert);
	if (X509_set_version(cert, 2) != 1 ||
	    ASN1_INTEGER_set(X509_get_serialNumber(cert), (long)time(NULL)) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(cert), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(cert), 30L * 24 * 3600) == NULL ||
	    X509_set_pubkey(cert, key) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"cortex-sim",
				       -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"127.0.0.1",
				       -1, -1, 0) != 1 ||
	    X509_set_issuer_name(cert, name) != 1 ||
	    add_ext(cert, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost") != 0 ||
	    add_ext(cert, NID_key_usage, "critical,digitalSignature") != 0 ||
	    add_ext(cert, NID_ext_key_usage, "serverAuth") != 0 ||
	    X509_sign(cert, key, EVP_sha256()) == 0 ||
	    X509_digest(cert, EVP_sha256(), md, &mdlen) != 1 || mdlen != 32 ||
	    PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL) != 1 ||
	    PEM_write_bio_X509(cb, cert) != 1)
		goto out;
	*key_pem = bio_text(kb);
	*cert_pem = bio_text(cb);
	if (*key_pem == NULL || *cert_pem == NULL)
		goto out;
	for (i = 0; i < mdlen; i++)
		snprintf(fingerprint + i * 3, 4, i + 1 < mdlen ? "%02X:" : "%02X", md[i]);
	rc = 0;
out:
	if (rc != 0) {
		free(*key_pem);
		free(*cert_pem);
		*key_pem = *cert_pem = NULL;
		snprintf(err, errlen, "cannot make a self-signed certificate with OpenSSL");
	}
	BIO_free(kb);
	BIO_free(cb);
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}

char *sim_read_text(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;

	if (f == NULL)
		return NULL;
	buf = malloc(SIM_BODY_MAX + 1);
	n = buf ? fread(buf, 1, SIM_BODY_MAX, f) : 0;
	fclose(f);
	if (buf)
		buf[n] = '\0';
	else
		errno = ENOMEM;
	return buf;
}

bool sim_client_cert_cn(struct MHD_Connection *conn, char *cn, size_t cnlen)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	const gnutls_datum_t *peers;
	gnutls_x509_crt_t crt;
	unsigned int status = 1, n = 0;
	size_t len = cnlen;
	bool ok;

	if (ci == NULL || ci->tls_session == NULL ||
	    gnutls_certificate_verify_peers2(ci->tls_session, &status) != 0 || status != 0)
		return false;
	peers = gnutls_certificate_get_peers(ci->tls_session, &n);
	if (peers == NULL || n == 0 || gnutls_x509_crt_init(&crt) != 0)
		return false;
	ok = gnutls_x509_crt_import(crt, &peers[0], GNUTLS_X509_FMT_DER) == 0 &&
	     gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &len) == 0;
	gnutls_x509_crt_deinit(crt);
	return ok;
}
