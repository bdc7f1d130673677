/*
 * tgt_webhook.c - the webhook target: HTTP(S) POST of MinIO's envelope
 * {"EventName","Key","Records":[...]} with libcurl.
 *
 * One CURL easy handle per target, reused for every request, so the
 * connection stays open (keep-alive) and TLS sessions are reused; HTTP/2
 * is used when an https server offers it (ALPN).  Redirects are never
 * followed.  Headers:
 *   Content-Type: application/json
 *   Authorization: Bearer TOKEN   (or TOKEN verbatim when it has two
 *                                  words, "Basic xyz": MinIO's rule)
 *   X-Bucketfs-Event-Id: SEQ      (first record; stable across retries)
 *   X-Bucketfs-Event-Ids: S1,S2   (batches: every record's seq)
 *   X-Bucketfs-Signature: sha256=HEX  (HMAC-SHA256 of the body, secret=)
 * Result classes: 2xx delivered; 4xx other than 408/429 permanent (the
 * events become dead letters); everything else retried.  A failure before
 * the request could reach the server (connect refused, name lookup, TLS
 * handshake or certificate) says nothing about the events, so they are
 * left UNSENT and the worker backs off without counting attempts.
 */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_buf.h"
#include "ntf_limits.h"
#include "ntf_record.h"
#include "ntf_target.h"

enum {
	O_ENDPOINT,
	O_AUTH_TOKEN,
	O_SECRET,
	O_CLIENT_CERT,
	O_CLIENT_KEY,
	O_TLS_CA,
	O_TLS_SKIP_VERIFY,
	O_CONNECT_TIMEOUT,
	O_TIMEOUT,
	O_N
};

static const char *check_url(const char *v)
{
	if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0)
		return "must be an http:// or https:// URL";
	const char *host = strstr(v, "//") + 2;
	if (!*host || *host == '/')
		return "must name a host";
	for (const char *p = v; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return "must not contain spaces or control characters";
	return NULL;
}

static const struct ntf_target_opt webhook_opts[] = {
	[O_ENDPOINT] = {"endpoint", NTF_OPT_STRING, true, NULL, 0, 0, check_url,
			"http:// or https:// URL to POST to"},
	[O_AUTH_TOKEN] = {"auth_token", NTF_OPT_SECRET, false, NULL, 0, 0, NULL,
			  "sent as \"Authorization: Bearer TOKEN\" (verbatim "
			  "when it is two words)"},
	[O_SECRET] = {"secret", NTF_OPT_SECRET, false, NULL, 0, 0, NULL,
		      "HMAC-SHA256 key: X-Bucketfs-Signature: sha256=HEX"},
	[O_CLIENT_CERT] = {"client_cert", NTF_OPT_PATH, false, NULL, 0, 0, NULL,
			   "PEM client certificate (mutual TLS)"},
	[O_CLIENT_KEY] = {"client_key", NTF_OPT_PATH, false, NULL, 0, 0, NULL,
			  "PEM key of client_cert"},
	[O_TLS_CA] = {"tls_ca", NTF_OPT_PATH, false, NULL, 0, 0, NULL,
		      "PEM CA bundle to verify the server with"},
	[O_TLS_SKIP_VERIFY] = {"tls_skip_verify", NTF_OPT_BOOL, false, "off", 0,
			       1, NULL, "do not verify the server certificate"},
	[O_CONNECT_TIMEOUT] = {"connect_timeout", NTF_OPT_DURATION, false, "5s",
			       10, 300 * 1000, NULL,
			       "TCP + TLS connect timeout"},
	[O_TIMEOUT] = {"timeout", NTF_OPT_DURATION, false, "30s", 10,
		       3600 * 1000, NULL, "whole-request timeout"},
	[O_N] = {NULL, 0, false, NULL, 0, 0, NULL, NULL},
};

struct webhook {
	CURL *curl;
	struct curl_slist *base; /* constant headers */
	char *endpoint;
	char *secret; /* HMAC key or NULL */
	struct cmn_buf body;
	long connect_ms;
	char curl_err[CURL_ERROR_SIZE];
};

static int webhook_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

static void webhook_global_cleanup(void)
{
	curl_global_cleanup();
}

/* The response body is not needed: discard it (keep-alive needs it read). */
static size_t discard(char *p, size_t size, size_t n, void *arg)
{
	return size * n;
}

/* "Authorization: ..." as MinIO builds it. */
static struct curl_slist *add_auth(struct curl_slist *h, const char *token)
{
	const char *sp = strpbrk(token, " \t");
	bool two_words = sp && sp > token && sp[strspn(sp, " \t")] != '\0' &&
			 !strpbrk(sp + strspn(sp, " \t"), " \t");
	struct cmn_buf b;
	cmn_buf_init(&b, NTF_LIMIT_CONFIG_VALUE + 64);
	int rc = two_words ? cmn_buf_printf(&b, "Authorization: %s", token)
			   : cmn_buf_printf(&b, "Authorization: Bearer %s",
					    token);
	struct curl_slist *n = rc == 0 ? curl_slist_append(h, b.data) : NULL;
	/* The header held the secret: wipe our copy. */
	if (b.data)
		memset(b.data, 0, b.len);
	cmn_buf_free(&b);
	if (!n)
		curl_slist_free_all(h);
	return n;
}

static int set_tls(struct webhook *w, const struct ntf_target_val *v, char *err,
		   size_t errlen)
{
	CURL *c = w->curl;
	if ((v[O_CLIENT_CERT].s == NULL) != (v[O_CLIENT_KEY].s == NULL)) {
		snprintf(err, errlen, "client_cert and client_key go together");
		return -EINVAL;
	}
	static const int keys[] = {O_CLIENT_CERT, O_CLIENT_KEY, O_TLS_CA};
	for (size_t i = 0; i < 3; i++) {
		const char *p = v[keys[i]].s;
		FILE *f = p ? fopen(p, "r") : NULL;
		if (p && !f) {
			snprintf(err, errlen, "%s: %s: %s",
				 webhook_opts[keys[i]].name, p,
				 strerror(errno));
			return -EINVAL;
		}
		if (f)
			fclose(f);
	}
	if (v[O_CLIENT_CERT].s) {
		curl_easy_setopt(c, CURLOPT_SSLCERT, v[O_CLIENT_CERT].s);
		curl_easy_setopt(c, CURLOPT_SSLKEY, v[O_CLIENT_KEY].s);
	}
	if (v[O_TLS_CA].s)
		curl_easy_setopt(c, CURLOPT_CAINFO, v[O_TLS_CA].s);
	long verify = v[O_TLS_SKIP_VERIFY].u ? 0L : 1L;
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, verify);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
	return 0;
}

/* Options that never change between requests. */
static void set_constant(struct webhook *w, const struct ntf_target_val *v)
{
	CURL *c = w->curl;
	curl_easy_setopt(c, CURLOPT_URL, w->endpoint);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)v[O_CONNECT_TIMEOUT].u);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)v[O_TIMEOUT].u);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, w->curl_err);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "bucketfs/" BUCKETFS_VERSION);
	w->connect_ms = (long)v[O_CONNECT_TIMEOUT].u;
}

static void webhook_close(void *priv)
{
	struct webhook *w = priv;
	if (w->curl)
		curl_easy_cleanup(w->curl);
	curl_slist_free_all(w->base);
	if (w->secret) {
		memset(w->secret, 0, strlen(w->secret));
		free(w->secret);
	}
	free(w->endpoint);
	cmn_buf_free(&w->body);
	memset(w, 0, sizeof(*w));
}

static int webhook_open(void *priv, const struct ntf_target_val *v, char *err,
			size_t errlen)
{
	struct webhook *w = priv;
	cmn_buf_init(&w->body, NTF_LIMIT_RECORD_BYTES *
				       (size_t)(NTF_LIMIT_DELIVER_BATCH + 1));
	w->curl = curl_easy_init();
	w->endpoint = strdup(v[O_ENDPOINT].s);
	w->secret = v[O_SECRET].s ? strdup(v[O_SECRET].s) : NULL;
	w->base = curl_slist_append(NULL, "Content-Type: application/json");
	if (w->base) { /* no 100-continue round trip before large bodies */
		struct curl_slist *h = curl_slist_append(w->base, "Expect:");
		if (!h)
			curl_slist_free_all(w->base);
		w->base = h;
	}
	if (w->base && v[O_AUTH_TOKEN].s)
		w->base = add_auth(w->base, v[O_AUTH_TOKEN].s);
	if (!w->curl || !w->endpoint || !w->base ||
	    (v[O_SECRET].s && !w->secret)) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	set_constant(w, v);
	return set_tls(w, v, err, errlen);
}

/* Build the message of ev[0..n) into w->body. */
static int build_body(struct webhook *w, const struct ntf_target_event *ev,
		      size_t n)
{
	cmn_buf_reset(&w->body);
	if (ev[0].raw)
		return cmn_buf_add(&w->body, ev[0].body, ev[0].body_len);
	struct ntf_record_ref refs[NTF_LIMIT_DELIVER_BATCH];
	for (size_t i = 0; i < n; i++)
		refs[i] = (struct ntf_record_ref){ev[i].body, ev[i].body_len};
	return ntf_record_envelope(ev[0].event_name, ev[0].bucket, ev[0].key,
				   refs, n, &w->body);
}

static int add_header(struct curl_slist **h, struct cmn_buf *tmp)
{
	struct curl_slist *n = curl_slist_append(*h, tmp->data);
	cmn_buf_reset(tmp);
	if (!n)
		return -ENOMEM;
	*h = n;
	return 0;
}

/* The per-request headers: event ids and the signature. */
static int request_headers(struct webhook *w, const struct ntf_target_event *ev,
			   size_t n, struct curl_slist **out)
{
	struct cmn_buf t;
	cmn_buf_init(&t, 32 * (NTF_LIMIT_DELIVER_BATCH + 4));
	struct curl_slist *h = NULL;
	int rc = cmn_buf_printf(&t, "X-Bucketfs-Event-Id: %" PRIu64, ev[0].id);
	if (rc == 0)
		rc = add_header(&h, &t);
	if (rc == 0 && n > 1) {
		rc = cmn_buf_adds(&t, "X-Bucketfs-Event-Ids: ");
		for (size_t i = 0; rc == 0 && i < n; i++)
			rc = cmn_buf_printf(&t, "%s%" PRIu64, i ? "," : "",
					    ev[i].id);
		if (rc == 0)
			rc = add_header(&h, &t);
	}
	if (rc == 0 && w->secret) {
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned mdlen = 0;
		if (!HMAC(EVP_sha256(), w->secret, (int)strlen(w->secret),
			  (const unsigned char *)w->body.data, w->body.len, md,
			  &mdlen))
			rc = -EIO;
		if (rc == 0)
			rc = cmn_buf_adds(&t, "X-Bucketfs-Signature: sha256=");
		for (unsigned i = 0; rc == 0 && i < mdlen; i++)
			rc = cmn_buf_printf(&t, "%02x", md[i]);
		if (rc == 0)
			rc = add_header(&h, &t);
	}
	for (struct curl_slist *b = w->base; rc == 0 && b; b = b->next) {
		struct curl_slist *nh = curl_slist_append(h, b->data);
		rc = nh ? 0 : -ENOMEM;
		h = nh ? nh : h;
	}
	cmn_buf_free(&t);
	if (rc < 0) {
		curl_slist_free_all(h);
		return rc;
	}
	*out = h;
	return 0;
}

/* True when curl failed before a request could reach the server. */
static bool never_sent(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return true;
	default:
		return false;
	}
}

static int curl_errno(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
		return -ECONNRESET;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	default:
		return never_sent(cc) ? -EPROTO : -EIO;
	}
}

/* HTTP status -> 0 or -errno (see the file comment). */
static int status_errno(long code)
{
	if (code >= 200 && code < 300)
		return 0;
	if (code == 408 || code == 429)
		return -EAGAIN;
	if (code == 401 || code == 403)
		return -EACCES;
	if (code == 413)
		return -EMSGSIZE;
	if (code >= 400 && code < 500)
		return -EINVAL;
	return -EAGAIN;
}

/* POST ev[0..n) as one message; returns 0 or -errno, *sent says whether
 * the request may have reached the server. */
static int post(struct webhook *w, struct ntf_target_event *ev, size_t n,
		bool *sent, char *err, size_t errlen)
{
	struct curl_slist *h = NULL;
	*sent = false;
	int rc = build_body(w, ev, n);
	if (rc == -E2BIG) {
		*sent = true; /* no retry can make it fit */
		snprintf(err, errlen, "message too large");
		return -EMSGSIZE;
	}
	if (rc == 0)
		rc = request_headers(w, ev, n, &h);
	if (rc < 0) {
		snprintf(err, errlen, "%s", strerror(-rc));
		return rc;
	}
	curl_easy_setopt(w->curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(w->curl, CURLOPT_POSTFIELDS, w->body.data);
	curl_easy_setopt(w->curl, CURLOPT_POSTFIELDSIZE_LARGE,
			 (curl_off_t)w->body.len);
	w->curl_err[0] = '\0';
	CURLcode cc = curl_easy_perform(w->curl);
	curl_easy_setopt(w->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(h);
	if (cc != CURLE_OK) {
		/* A timeout may come before or after the request went out
		 * (a blackholed host, a stalled TLS handshake: before); the
		 * bytes curl sent tell. */
		long req = 0;
		curl_easy_getinfo(w->curl, CURLINFO_REQUEST_SIZE, &req);
		*sent = !never_sent(cc) && req > 0;
		snprintf(err, errlen, "%s",
			 w->curl_err[0] ? w->curl_err : curl_easy_strerror(cc));
		return curl_errno(cc);
	}
	long code = 0;
	curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &code);
	*sent = true;
	rc = status_errno(code);
	if (rc < 0)
		snprintf(err, errlen, "HTTP %ld%s", code,
			 code == 401 || code == 403 ? " (check auth_token)"
						    : "");
	return rc;
}

static int webhook_send(void *priv, struct ntf_target_event *ev, size_t n,
			char *err, size_t errlen)
{
	struct webhook *w = priv;
	size_t per = ev[0].raw ? 1 : n; /* one message, or one per event */
	for (size_t i = 0; i < n; i++)
		ev[i].status = NTF_TARGET_UNSENT;
	size_t step = per == n ? n : 1;
	for (size_t i = 0; i < n; i += step) {
		bool sent;
		int rc = post(w, ev + i, step, &sent, err, errlen);
		for (size_t j = i; j < i + step; j++)
			ev[j].status = rc == 0 || sent ? rc : NTF_TARGET_UNSENT;
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int webhook_probe(void *priv, char *err, size_t errlen)
{
	struct webhook *w = priv;
	CURL *c = curl_easy_duphandle(w->curl);
	if (!c)
		return -ENOMEM;
	curl_easy_setopt(c, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
	CURLcode cc = curl_easy_perform(c);
	curl_easy_cleanup(c);
	if (cc == CURLE_OK)
		return 0;
	snprintf(err, errlen, "%s", curl_easy_strerror(cc));
	return curl_errno(cc);
}

const struct ntf_target_type tgt_webhook = {
	.name = "webhook",
	.caps = NTF_TARGET_CAP_BATCH,
	.priv_size = sizeof(struct webhook),
	.opts = webhook_opts,
	.global_init = webhook_global_init,
	.global_cleanup = webhook_global_cleanup,
	.open = webhook_open,
	.close = webhook_close,
	.send = webhook_send,
	.probe = webhook_probe,
};
