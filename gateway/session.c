/* Sealed sessions: id = "c1." + base64url(nonce || AES-256-GCM(json) || tag), AAD "c1".
 * The plaintext is {"v": version, "iat": unix seconds, "sub": principal, "caps": {...},
 * "info": {...}}; any
 * replica holding the key opens it, so no session store is shared between processes. */
#include "session.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "../common/err.h"
#include "../common/json.h"
#include "../common/mcp.h"
#include "../common/util.h"

#define ID_PREFIX      "c1."
#define ID_PREFIX_LEN  3
#define ID_AAD         "c1" /* the format version, authenticated with the state */
#define ID_AAD_LEN     2
#define NONCE_LEN      12
#define TAG_LEN        16
#define PT_MIN         2   /* "{}" */
#define FUTURE_SKEW_S  300 /* clocks of replicas may disagree this much */
#define INFO_CHARS_MAX 128 /* code points kept of clientInfo strings when trimming */

/* Length of the id for a plaintext of ptlen bytes (base64url without padding). */
static size_t id_len_for(size_t ptlen)
{
	size_t n = NONCE_LEN + ptlen + TAG_LEN;

	return ID_PREFIX_LEN + n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

void cx_session_init(struct cx_session *s)
{
	memset(s, 0, sizeof(*s));
}

void cx_session_release(struct cx_session *s)
{
	json_decref(s->client_caps);
	json_decref(s->client_info);
	cx_session_init(s);
}

/* The first max_chars code points of a JSON string (jansson strings are valid UTF-8, so
 * cutting before a continuation byte never is). New reference or NULL on out of memory. */
static json_t *string_prefix(const json_t *v, size_t max_chars)
{
	const char *p = json_string_value(v);
	size_t len = json_string_length(v);
	size_t i = 0, chars = 0;

	while (i < len && chars < max_chars) {
		i++;
		while (i < len && ((unsigned char)p[i] & 0xC0) == 0x80)
			i++;
		chars++;
	}
	return json_stringn(p, i);
}

/* clientInfo reduced to what logs and audit lines need: name and version, shortened. */
static json_t *trim_info(const json_t *info)
{
	static const char *const keep[] = { "name", "version" };
	json_t *out = json_object();
	size_t i;

	if (!out)
		return NULL;
	for (i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		const json_t *v = json_object_get(info, keep[i]);

		if (!json_is_string(v))
			continue;
		if (json_object_set_new(out, keep[i], string_prefix(v, INFO_CHARS_MAX)) < 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

/* Capabilities reduced to their top-level names, which is what feature checks look at. */
static json_t *trim_caps(const json_t *caps)
{
	json_t *out = json_object();
	const char *key;
	json_t *v;

	if (!out)
		return NULL;
	json_object_foreach((json_t *)caps, key, v) {
		if (json_object_set_new(out, key, json_object()) < 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

/* Compact plaintext; caller frees. NULL on out of memory. */
static char *encode_state(const char *version, int64_t iat, const char *subject, json_t *caps,
			  json_t *info, size_t *len)
{
	json_t *doc = json_pack("{s:s, s:I}", "v", version, "iat", (json_int_t)iat);
	char *s = NULL;

	if (!doc)
		return NULL;
	if (subject[0] && json_object_set_new(doc, "sub", json_string(subject)) < 0)
		goto out;
	if (caps && json_object_set(doc, "caps", caps) < 0)
		goto out;
	if (info && json_object_set(doc, "info", info) < 0)
		goto out;
	s = cx_json_dumps(doc, len);
out:
	json_decref(doc);
	return s;
}

/* kind is a two-character format name ("c1" sessions, "r1" request state): the AAD and,
 * with a dot, the prefix of the text, so one kind of sealed text never opens as another. */
static char *seal_kind(const unsigned char *key, const char *kind, const char *pt, size_t ptlen)
{
	size_t rawlen = NONCE_LEN + ptlen + TAG_LEN;
	unsigned char *raw = malloc(rawlen);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	char *id = NULL;
	int n, fin;
	size_t b64len;

	if (!raw || !ctx)
		goto out;
	if (RAND_bytes(raw, NONCE_LEN) != 1)
		goto out;
	if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
	    EVP_EncryptInit_ex(ctx, NULL, NULL, key, raw) != 1 ||
	    EVP_EncryptUpdate(ctx, NULL, &n, (const unsigned char *)kind, ID_AAD_LEN) != 1 ||
	    EVP_EncryptUpdate(ctx, raw + NONCE_LEN, &n, (const unsigned char *)pt, (int)ptlen) !=
		    1 ||
	    EVP_EncryptFinal_ex(ctx, raw + NONCE_LEN + n, &fin) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, raw + NONCE_LEN + ptlen) != 1)
		goto out;
	id = malloc(ID_PREFIX_LEN + 4 * ((rawlen + 2) / 3) + 1);
	if (!id)
		goto out;
	memcpy(id, kind, ID_AAD_LEN);
	id[ID_AAD_LEN] = '.';
	b64len = cx_b64url_encode(raw, rawlen, id + ID_PREFIX_LEN);
	id[ID_PREFIX_LEN + b64len] = '\0';
out:
	EVP_CIPHER_CTX_free(ctx);
	free(raw);
	return id;
}

static void set_fp(struct cx_session *s, const char *id)
{
	char hex[65];

	cx_sha256_hex(id, strlen(id), hex);
	memcpy(s->fp, hex, sizeof(s->fp) - 1);
	s->fp[sizeof(s->fp) - 1] = '\0';
}

/* issued_s <= 0 is taken as "now" and written back, so the caller's state matches the id.
 * A version that cx_session_open would refuse, or caps/info that are not objects, give NULL:
 * an id that can never be opened is worse than none. The caller's caps and info are left as
 * they are even when the sealed copy had to be trimmed. */
char *cx_session_seal(const unsigned char key[CX_SESSION_KEY_LEN], struct cx_session *s)
{
	json_t *caps = NULL, *info = NULL, *trimmed;
	char *pt = NULL, *id = NULL;
	size_t ptlen = 0;
	int stage;

	if (strnlen(s->version, sizeof(s->version)) == sizeof(s->version) ||
	    !cx_mcp_version_supported(s->version))
		return NULL;
	if ((s->client_caps && !json_is_object(s->client_caps)) ||
	    (s->client_info && !json_is_object(s->client_info)))
		return NULL;
	if (s->issued_s <= 0)
		s->issued_s = now_s();
	caps = json_incref(s->client_caps);
	info = json_incref(s->client_info);

	/* Stage 0 seals everything; 1 trims clientInfo; 2 also reduces capabilities. */
	for (stage = 0; stage < 3; stage++) {
		if (stage == 1 && info) {
			trimmed = trim_info(info);
			if (!trimmed)
				goto out;
			json_decref(info);
			info = trimmed;
		} else if (stage == 2 && caps) {
			trimmed = trim_caps(caps);
			if (!trimmed)
				goto out;
			json_decref(caps);
			caps = trimmed;
		}
		pt = encode_state(s->version, s->issued_s, s->subject, caps, info, &ptlen);
		if (!pt)
			goto out;
		if (id_len_for(ptlen) <= CX_SESSION_ID_MAX)
			break;
		free(pt);
		pt = NULL;
	}
	if (!pt)
		goto out;
	id = seal_kind(key, ID_AAD, pt, ptlen);
	if (id)
		set_fp(s, id);
out:
	free(pt);
	json_decref(caps);
	json_decref(info);
	return id;
}

/* Authenticates and decrypts raw (nonce || ciphertext || tag) into pt; plaintext length or
 * -1 when the tag does not verify under key. */
static long open_kind(const unsigned char *key, const char *kind, unsigned char *raw, size_t rawlen,
		      unsigned char *pt)
{
	size_t ctlen = rawlen - NONCE_LEN - TAG_LEN;
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	long ret = -1;
	int n, fin;

	if (!ctx)
		return -1;
	if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
	    EVP_DecryptInit_ex(ctx, NULL, NULL, key, raw) != 1 ||
	    EVP_DecryptUpdate(ctx, NULL, &n, (const unsigned char *)kind, ID_AAD_LEN) != 1 ||
	    EVP_DecryptUpdate(ctx, pt, &n, raw + NONCE_LEN, (int)ctlen) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, raw + NONCE_LEN + ctlen) != 1 ||
	    EVP_DecryptFinal_ex(ctx, pt + n, &fin) != 1)
		goto out;
	ret = (long)ctlen;
out:
	EVP_CIPHER_CTX_free(ctx);
	return ret;
}

/* out is initialised on every path and holds state only when the result is CX_SESSION_OK.
 * Out of memory while opening reads as CX_SESSION_INVALID: the client starts over. */
static enum cx_session_status session_open(const unsigned char key[CX_SESSION_KEY_LEN],
					   const char *id, long ttl_s, struct cx_session *out)
{
	/* An id of CX_SESSION_ID_MAX characters decodes to less than that many bytes. */
	unsigned char raw[CX_SESSION_ID_MAX];
	unsigned char pt[CX_SESSION_ID_MAX];
	char canon[CX_SESSION_ID_MAX + 4];
	enum cx_session_status st = CX_SESSION_INVALID;
	json_t *doc = NULL, *v, *iat, *caps, *info, *sub;
	struct cx_err err;
	size_t idlen, b64len;
	long rawlen, ptlen;
	int64_t issued, now;

	cx_session_init(out);
	if (!id)
		return CX_SESSION_INVALID;
	idlen = strnlen(id, CX_SESSION_ID_MAX + 1);
	if (idlen > CX_SESSION_ID_MAX || idlen < ID_PREFIX_LEN ||
	    memcmp(id, ID_PREFIX, ID_PREFIX_LEN) != 0)
		return CX_SESSION_INVALID;
	b64len = idlen - ID_PREFIX_LEN;
	rawlen = cx_b64url_decode(id + ID_PREFIX_LEN, b64len, raw, sizeof(raw));
	if (rawlen < NONCE_LEN + PT_MIN + TAG_LEN)
		return CX_SESSION_INVALID;
	/* Only the canonical spelling is accepted: otherwise the unused low bits of the last
	 * character would give one session several ids, and several fingerprints to revoke. */
	if (cx_b64url_encode(raw, (size_t)rawlen, canon) != b64len ||
	    memcmp(canon, id + ID_PREFIX_LEN, b64len) != 0)
		return CX_SESSION_INVALID;
	ptlen = open_kind(key, ID_AAD, raw, (size_t)rawlen, pt);
	if (ptlen < PT_MIN)
		goto out;

	doc = cx_json_loadb((const char *)pt, (size_t)ptlen, (size_t)ptlen, &err);
	if (!json_is_object(doc))
		goto out;
	v = json_object_get(doc, "v");
	iat = json_object_get(doc, "iat");
	caps = json_object_get(doc, "caps");
	info = json_object_get(doc, "info");
	sub = json_object_get(doc, "sub");
	if (sub && (!json_is_string(sub) || json_string_length(sub) >= sizeof(out->subject) ||
		    strlen(json_string_value(sub)) != json_string_length(sub)))
		goto out;
	if (!json_is_string(v) || json_string_length(v) >= sizeof(out->version) ||
	    strlen(json_string_value(v)) != json_string_length(v) ||
	    !cx_mcp_version_supported(json_string_value(v)))
		goto out;
	if (!json_is_integer(iat) || (caps && !json_is_object(caps)) ||
	    (info && !json_is_object(info)))
		goto out;
	issued = (int64_t)json_integer_value(iat);
	now = now_s();
	if (issued <= 0 || issued > now + FUTURE_SKEW_S)
		goto out;
	if (ttl_s > 0 && now - issued > ttl_s) {
		st = CX_SESSION_EXPIRED;
		goto out;
	}

	memcpy(out->version, json_string_value(v), json_string_length(v) + 1);
	out->issued_s = issued;
	if (sub)
		memcpy(out->subject, json_string_value(sub), json_string_length(sub) + 1);
	out->client_caps = json_incref(caps);
	out->client_info = json_incref(info);
	set_fp(out, id);
	st = CX_SESSION_OK;
out:
	json_decref(doc);
	OPENSSL_cleanse(pt, sizeof(pt));
	return st;
}

/* Every request of a session carries the same id, and opening it costs an AES-GCM
 * decryption and a JSON parse. A few recently opened ids are remembered with what they
 * decoded to: the same bytes under the same key always open to the same state, so a hit is
 * exactly as trustworthy as a fresh open. Expiry is checked again on every hit. */
#define CACHE_SLOTS 8

struct cache_entry {
	char *id; /* NULL: empty */
	unsigned char key[CX_SESSION_KEY_LEN];
	struct cx_session s;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cache_entry cache[CACHE_SLOTS];
static unsigned cache_next;

static void session_copy(struct cx_session *dst, const struct cx_session *src)
{
	*dst = *src;
	json_incref(dst->client_caps);
	json_incref(dst->client_info);
}

enum cx_session_status cx_session_open(const unsigned char key[CX_SESSION_KEY_LEN], const char *id,
				       long ttl_s, struct cx_session *out)
{
	enum cx_session_status st;
	struct cache_entry *e;

	if (id) {
		pthread_mutex_lock(&cache_lock);
		for (unsigned i = 0; i < CACHE_SLOTS; i++) {
			e = &cache[i];
			if (!e->id || strcmp(e->id, id) ||
			    !cx_ct_equal(e->key, key, sizeof(e->key)))
				continue;
			if (ttl_s > 0 && now_s() - e->s.issued_s > ttl_s)
				break;
			session_copy(out, &e->s);
			pthread_mutex_unlock(&cache_lock);
			return CX_SESSION_OK;
		}
		pthread_mutex_unlock(&cache_lock);
	}
	st = session_open(key, id, ttl_s, out);
	if (st != CX_SESSION_OK)
		return st;
	char *copy = strdup(id);
	if (!copy)
		return st; /* not cached; the answer stands */
	pthread_mutex_lock(&cache_lock);
	e = &cache[cache_next++ % CACHE_SLOTS];
	free(e->id);
	cx_session_release(&e->s);
	e->id = copy;
	memcpy(e->key, key, sizeof(e->key));
	session_copy(&e->s, out);
	pthread_mutex_unlock(&cache_lock);
	return st;
}

void cx_session_cache_clear(void)
{
	pthread_mutex_lock(&cache_lock);
	for (unsigned i = 0; i < CACHE_SLOTS; i++) {
		free(cache[i].id);
		cache[i].id = NULL;
		OPENSSL_cleanse(cache[i].key, sizeof(cache[i].key));
		cx_session_release(&cache[i].s);
	}
	pthread_mutex_unlock(&cache_lock);
}

char *cx_seal_json(const unsigned char key[CX_SESSION_KEY_LEN], const char *kind, const json_t *doc)
{
	size_t len;
	char *pt = cx_json_dumps(doc, &len);
	char *out;

	if (!pt || strlen(kind) != ID_AAD_LEN || len > CX_SEALED_MAX / 2) {
		free(pt);
		return NULL;
	}
	out = seal_kind(key, kind, pt, len);
	OPENSSL_cleanse(pt, len);
	free(pt);
	return out;
}

json_t *cx_unseal_json(const unsigned char key[CX_SESSION_KEY_LEN], const char *kind,
		       const char *text)
{
	size_t len = text ? strnlen(text, CX_SEALED_MAX + 1) : 0;
	unsigned char *raw = NULL, *pt = NULL;
	json_t *doc = NULL;
	struct cx_err err;
	long rawlen, ptlen;

	if (strlen(kind) != ID_AAD_LEN || len > CX_SEALED_MAX || len < ID_PREFIX_LEN ||
	    memcmp(text, kind, ID_AAD_LEN) || text[ID_AAD_LEN] != '.')
		return NULL;
	raw = malloc(len);
	pt = malloc(len);
	if (!raw || !pt)
		goto out;
	rawlen = cx_b64url_decode(text + ID_PREFIX_LEN, len - ID_PREFIX_LEN, raw, len);
	if (rawlen < NONCE_LEN + TAG_LEN + 2)
		goto out;
	ptlen = open_kind(key, kind, raw, (size_t)rawlen, pt);
	if (ptlen > 0)
		doc = cx_json_loadb((const char *)pt, (size_t)ptlen, (size_t)ptlen, &err);
	OPENSSL_cleanse(pt, len);
out:
	free(raw);
	free(pt);
	return doc;
}
