/* OTLP transports over libcurl.
 *
 * gRPC: POST of a length-prefixed message (1 byte "compressed" = 0, 4
 * bytes big-endian length) to /opentelemetry.proto.collector.trace.v1.
 * TraceService/Export with content-type application/grpc and te:
 * trailers, over HTTP/2: prior knowledge on http:// (cleartext h2c), ALPN
 * on https://.  Success is HTTP 200 and grpc-status 0, which arrives in
 * the trailers (or in the headers of a trailers-only reply); libcurl
 * hands both to the header callback.
 *
 * http/protobuf: POST of the bare message with content-type
 * application/x-protobuf to <endpoint>/v1/traces; success is any 2xx.
 *
 * Retryable per the OTLP spec: gRPC CANCELLED, DEADLINE_EXCEEDED,
 * ABORTED, OUT_OF_RANGE, UNAVAILABLE, DATA_LOSS; HTTP 429, 502, 503, 504;
 * and transport failures (refused, reset, timed out).  One easy handle is
 * reused so that the connection to the collector stays open. */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "otlp/otlp_int.h"

struct tw__otlp_transport {
  CURL *curl;
  struct curl_slist *headers;
  tw__otlp_protocol protocol;
  tw__pb frame; /* gRPC framed body, reused */
  /* Per request. */
  long grpc_status; /* -1: not seen */
  char grpc_message[128];
  uint64_t abort_at_ns;
};

uint64_t tw__monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static size_t on_header(char *buf, size_t size, size_t n, void *user) {
  tw__otlp_transport *t = user;
  size_t len = size * n;
  if (len > 12 && strncasecmp(buf, "grpc-status:", 12) == 0) {
    t->grpc_status = strtol(buf + 12, NULL, 10);
  } else if (len > 13 && strncasecmp(buf, "grpc-message:", 13) == 0) {
    size_t m = len - 13;
    const char *p = buf + 13;
    while (m > 0 && *p == ' ') p++, m--;
    while (m > 0 && (p[m - 1] == '\r' || p[m - 1] == '\n')) m--;
    if (m >= sizeof t->grpc_message) m = sizeof t->grpc_message - 1;
    memcpy(t->grpc_message, p, m);
    t->grpc_message[m] = '\0';
  }
  return len;
}

/* The reply body (an ExportTraceServiceResponse) is not needed. */
static size_t on_body(char *buf, size_t size, size_t n, void *user) {
  (void)buf;
  (void)user;
  return size * n;
}

static int on_progress(void *user, curl_off_t dt, curl_off_t dn, curl_off_t ut,
                       curl_off_t un) {
  tw__otlp_transport *t = user;
  (void)dt, (void)dn, (void)ut, (void)un;
  return t->abort_at_ns && tw__monotonic_ns() > t->abort_at_ns;
}

tw__otlp_transport *tw__otlp_transport_new(const char *url,
                                           tw__otlp_protocol protocol,
                                           uint32_t timeout_ms) {
  tw__otlp_transport *t = calloc(1, sizeof *t);
  bool https = strncasecmp(url, "https://", 8) == 0;
  struct curl_slist *h = NULL;
  if (!t) return NULL;
  tw__pb_init(&t->frame);
  t->protocol = protocol;
  if (!(t->curl = curl_easy_init())) goto fail;
  if (protocol == TW__OTLP_GRPC) {
    h = curl_slist_append(NULL, "content-type: application/grpc");
    if (h) h = curl_slist_append(h, "te: trailers");
    if (h) h = curl_slist_append(h, "grpc-accept-encoding: identity");
  } else {
    h = curl_slist_append(NULL, "content-type: application/x-protobuf");
  }
  if (h) h = curl_slist_append(h, "user-agent: tensorwasm-otlp/0.1");
  /* libcurl would otherwise send "Expect: 100-continue" on big bodies. */
  if (h) h = curl_slist_append(h, "Expect:");
  if (!h) goto fail;
  t->headers = h;

  CURL *c = t->curl;
  if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK) goto fail;
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, t->headers);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, t);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, t);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  if (protocol == TW__OTLP_GRPC)
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION,
                     https ? (long)CURL_HTTP_VERSION_2TLS
                           : (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
  /* libcurl before 8.0.0 fails every request after the first on a reused
   * prior-knowledge HTTP/2 connection ("Error in the HTTP2 framing
   * layer", curl/curl#10634, fixed by #10643).  There, one connection per
   * request: a connect per batch, not per span. */
  if (protocol == TW__OTLP_GRPC && !https &&
      curl_version_info(CURLVERSION_NOW)->version_num < 0x080000)
    curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
  return t;

fail:
  tw__otlp_transport_free(t);
  return NULL;
}

void tw__otlp_transport_free(tw__otlp_transport *t) {
  if (!t) return;
  if (t->curl) curl_easy_cleanup(t->curl);
  curl_slist_free_all(t->headers);
  tw__pb_free(&t->frame);
  free(t);
}

tw__send_result tw__otlp_classify_grpc(long code) {
  switch (code) {
  case 0:
    return TW__SEND_OK;
  case 1:  /* CANCELLED */
  case 4:  /* DEADLINE_EXCEEDED */
  case 10: /* ABORTED */
  case 11: /* OUT_OF_RANGE */
  case 14: /* UNAVAILABLE */
  case 15: /* DATA_LOSS */
    return TW__SEND_RETRY;
  default:
    return TW__SEND_FAIL;
  }
}

tw__send_result tw__otlp_classify_http(long status) {
  if (status >= 200 && status < 300) return TW__SEND_OK;
  if (status == 429 || status == 502 || status == 503 || status == 504)
    return TW__SEND_RETRY;
  return TW__SEND_FAIL;
}

static tw__send_result classify_curl(CURLcode rc) {
  switch (rc) {
  case CURLE_COULDNT_CONNECT:
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_OPERATION_TIMEDOUT:
  case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR:
  case CURLE_GOT_NOTHING:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
  case CURLE_PARTIAL_FILE:
    return TW__SEND_RETRY;
  default: /* aborted at shutdown, bad URL, TLS setup, ... */
    return TW__SEND_FAIL;
  }
}

tw__send_result tw__otlp_send(tw__otlp_transport *t, const uint8_t *body,
                              size_t len, uint64_t abort_at_ns, char *why,
                              size_t why_cap) {
  const uint8_t *payload = body;
  size_t payload_len = len;
  long http = 0;
  CURLcode rc;
  tw__send_result r;

  why[0] = '\0';
  if (t->protocol == TW__OTLP_GRPC) {
    uint8_t hdr[5] = {0, (uint8_t)(len >> 24), (uint8_t)(len >> 16),
                      (uint8_t)(len >> 8), (uint8_t)len};
    t->frame.len = 0;
    tw__pb_raw(&t->frame, hdr, sizeof hdr);
    tw__pb_raw(&t->frame, body, len);
    if (t->frame.oom) {
      snprintf(why, why_cap, "out of memory");
      return TW__SEND_FAIL;
    }
    payload = t->frame.buf;
    payload_len = t->frame.len;
  }
  t->grpc_status = -1;
  t->grpc_message[0] = '\0';
  t->abort_at_ns = abort_at_ns;
  curl_easy_setopt(t->curl, CURLOPT_POSTFIELDS, (const char *)payload);
  curl_easy_setopt(t->curl, CURLOPT_POSTFIELDSIZE_LARGE,
                   (curl_off_t)payload_len);
  rc = curl_easy_perform(t->curl);
  if (rc != CURLE_OK) {
    snprintf(why, why_cap, "%s", curl_easy_strerror(rc));
    return classify_curl(rc);
  }
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &http);
  r = tw__otlp_classify_http(http);
  if (r != TW__SEND_OK) {
    snprintf(why, why_cap, "HTTP status %ld", http);
    return r;
  }
  if (t->protocol != TW__OTLP_GRPC) return TW__SEND_OK;
  if (t->grpc_status < 0) {
    snprintf(why, why_cap, "reply without grpc-status");
    return TW__SEND_FAIL;
  }
  r = tw__otlp_classify_grpc(t->grpc_status);
  if (r != TW__SEND_OK)
    snprintf(why, why_cap, "grpc-status %ld%s%s", t->grpc_status,
             t->grpc_message[0] ? ": " : "", t->grpc_message);
  return r;
}
