/* The gateway's edge: the Host allowlist, CORS origins, the peers whose
 * X-Forwarded-Client-Cert is believed, and reading the environment into a
 * config (tw_api_config_from_env).
 *
 * Every list is parsed once at start into an api_edge that is read-only
 * afterwards (only the set of peers already warned about changes, under
 * its own lock), so the checks on the I/O threads take no lock. */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api_int.h"

#define XFCC_SUBJECT_MAX 256

/* ---- lists -------------------------------------------------------------------- */

static char *trim(char *s) {
  while (*s == ' ' || *s == '\t') s++;
  size_t n = strlen(s);
  while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = '\0';
  return s;
}

/* Splits `text` on commas into trimmed, non-empty strdup'd items. */
static tw_status split_list(const char *text, bool lower, char ***out, size_t *n) {
  *out = NULL;
  *n = 0;
  if (!text || !*text) return TW_OK;
  char *copy = strdup(text);
  if (!copy) return TW_NOMEM;
  tw_status st = TW_OK;
  for (char *save = NULL, *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
    char *item = trim(p);
    if (!*item) continue;
    char **grown = realloc(*out, (*n + 1) * sizeof *grown);
    char *dup = strdup(item);
    if (!grown || !dup) {
      if (grown) *out = grown;
      free(dup);
      st = TW_NOMEM;
      break;
    }
    if (lower)
      for (char *c = dup; *c; c++) *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
    *out = grown;
    (*out)[(*n)++] = dup;
  }
  free(copy);
  return st;
}

static void free_list(char **items, size_t n) {
  for (size_t i = 0; i < n; i++) free(items[i]);
  free(items);
}

bool api_cidr_parse(const char *text, api_cidr *out) {
  char buf[INET6_ADDRSTRLEN + 8];
  if (!text || strlen(text) >= sizeof buf) return false;
  snprintf(buf, sizeof buf, "%s", text);
  char *slash = strchr(buf, '/');
  long prefix = -1;
  if (slash) {
    char *end;
    *slash = '\0';
    errno = 0;
    prefix = strtol(slash + 1, &end, 10);
    if (errno || end == slash + 1 || *end || prefix < 0) return false;
  }
  memset(out, 0, sizeof *out);
  if (inet_pton(AF_INET, buf, out->addr) == 1) {
    out->family = AF_INET;
    if (prefix > 32) return false;
    out->prefix = prefix < 0 ? 32 : (unsigned)prefix;
    return true;
  }
  if (inet_pton(AF_INET6, buf, out->addr) == 1) {
    out->family = AF_INET6;
    if (prefix > 128) return false;
    out->prefix = prefix < 0 ? 128 : (unsigned)prefix;
    return true;
  }
  return false;
}

static tw_status parse_proxies(api_edge *e, const char *text) {
  char **items;
  size_t n;
  tw_status st = split_list(text, false, &items, &n);
  if (st != TW_OK) return st;
  e->proxies = calloc(n ? n : 1, sizeof *e->proxies);
  if (!e->proxies) {
    free_list(items, n);
    return TW_NOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    if (api_cidr_parse(items[i], &e->proxies[e->nproxies])) {
      e->nproxies++;
    } else {
      tw_event(TW_LEVEL_WARN, TW_API_TARGET,
               "TENSOR_WASM_API_TRUSTED_XFCC_PROXIES: ignoring \"%s\" (not an IP address or "
               "CIDR range)",
               items[i]);
    }
  }
  if (n > 0 && e->nproxies == 0)
    tw_event(TW_LEVEL_WARN, TW_API_TARGET,
             "TENSOR_WASM_API_TRUSTED_XFCC_PROXIES has no valid entry: no peer's "
             "X-Forwarded-Client-Cert is trusted");
  free_list(items, n);
  return TW_OK;
}

tw_status api_edge_init(api_edge *e, const tw_api_config *cfg, tw_error *err) {
  tw_status st;
  memset(e, 0, sizeof *e);
  pthread_mutex_init(&e->warn_lock, NULL);
  e->ready = true;
  if ((st = split_list(cfg->trusted_hosts, true, &e->hosts, &e->nhosts)) != TW_OK ||
      (st = split_list(cfg->cors_allowed_origins, false, &e->origins, &e->norigins)) != TW_OK ||
      (st = parse_proxies(e, cfg->trusted_xfcc_proxies)) != TW_OK) {
    if (err) {
      err->status = st;
      snprintf(err->message, sizeof err->message, "out of memory (edge lists)");
    }
    return st;
  }
  for (size_t i = 0; i < e->nhosts; i++)
    if (strchr(e->hosts[i], ':')) e->hosts_have_port = true;
  return TW_OK;
}

void api_edge_free(api_edge *e) {
  if (!e->ready) return;
  free_list(e->hosts, e->nhosts);
  free_list(e->origins, e->norigins);
  free(e->proxies);
  pthread_mutex_destroy(&e->warn_lock);
  memset(e, 0, sizeof *e);
}

/* ---- Host ---------------------------------------------------------------------- */

static bool host_listed(const api_edge *e, const char *h, size_t n) {
  for (size_t i = 0; i < e->nhosts; i++)
    if (strlen(e->hosts[i]) == n && strncasecmp(e->hosts[i], h, n) == 0) return true;
  return false;
}

bool api_edge_host_ok(const api_edge *e, const char *host, unsigned count) {
  if (e->nhosts == 0) return true;
  if (!host || count != 1) return false;
  while (*host == ' ' || *host == '\t') host++;
  size_t n = strlen(host);
  while (n > 0 && (host[n - 1] == ' ' || host[n - 1] == '\t')) n--;
  if (n == 0) return false;
  if (host_listed(e, host, n)) return true;
  /* Bare names admit the default ports, unless the operator listed ports. */
  if (e->hosts_have_port) return false;
  if (n > 4 && strncmp(host + n - 4, ":443", 4) == 0) return host_listed(e, host, n - 4);
  if (n > 3 && strncmp(host + n - 3, ":80", 3) == 0) return host_listed(e, host, n - 3);
  return false;
}

/* ---- CORS ---------------------------------------------------------------------- */

bool api_edge_origin_ok(const api_edge *e, const char *origin) {
  if (!origin) return false;
  for (size_t i = 0; i < e->norigins; i++)
    if (strcmp(e->origins[i], origin) == 0) return true;
  return false;
}

/* ---- peers and XFCC --------------------------------------------------------------- */

/* The peer as 16 address bytes and a family; IPv4-mapped IPv6 counts as
 * IPv4. */
static bool peer_bytes(const struct sockaddr *sa, int *family, uint8_t out[16]) {
  memset(out, 0, 16);
  if (!sa) return false;
  if (sa->sa_family == AF_INET) {
    memcpy(out, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    *family = AF_INET;
    return true;
  }
  if (sa->sa_family == AF_INET6) {
    const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a)) {
      memcpy(out, a->s6_addr + 12, 4);
      *family = AF_INET;
    } else {
      memcpy(out, a->s6_addr, 16);
      *family = AF_INET6;
    }
    return true;
  }
  return false;
}

static bool prefix_match(const uint8_t *a, const uint8_t *b, unsigned bits) {
  unsigned whole = bits / 8, rest = bits % 8;
  if (memcmp(a, b, whole) != 0) return false;
  if (rest == 0) return true;
  uint8_t mask = (uint8_t)(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

bool api_edge_peer_trusted(const api_edge *e, const struct sockaddr *sa) {
  int family;
  uint8_t addr[16];
  if (e->nproxies == 0 || !peer_bytes(sa, &family, addr)) return false;
  for (size_t i = 0; i < e->nproxies; i++)
    if (e->proxies[i].family == family && prefix_match(addr, e->proxies[i].addr, e->proxies[i].prefix))
      return true;
  return false;
}

void api_edge_warn_untrusted(api_edge *e, const struct sockaddr *sa) {
  int family;
  uint8_t addr[16];
  char text[64];
  bool warn = false;
  if (!peer_bytes(sa, &family, addr)) return;
  pthread_mutex_lock(&e->warn_lock);
  bool seen = false;
  for (size_t i = 0; i < e->nwarned && !seen; i++) seen = memcmp(e->warned[i], addr, 16) == 0;
  if (!seen && e->nwarned < API_WARNED_PEERS) {
    memcpy(e->warned[e->nwarned++], addr, 16);
    warn = true;
  }
  pthread_mutex_unlock(&e->warn_lock);
  if (!warn) return;
  api_sockaddr_format(sa, text, sizeof text);
  tw_event(TW_LEVEL_WARN, TW_API_TARGET,
           "ignoring X-Forwarded-Client-Cert from %s: the peer is not in "
           "TENSOR_WASM_API_TRUSTED_XFCC_PROXIES",
           text);
}

bool api_xfcc_subject(const char *xfcc, char *out, size_t cap) {
  if (!xfcc || cap == 0) return false;
  const char *p = xfcc;
  while (*p) {
    const char *end = strchr(p, ';');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    const char *eq = memchr(p, '=', len);
    if (!eq) return false; /* a component without '=': not XFCC */
    const char *k = p, *ke = eq;
    while (k < ke && (*k == ' ' || *k == '\t')) k++;
    while (ke > k && (ke[-1] == ' ' || ke[-1] == '\t')) ke--;
    if ((size_t)(ke - k) == 7 && strncasecmp(k, "Subject", 7) == 0) {
      const char *v = eq + 1, *ve = p + len;
      while (v < ve && (*v == ' ' || *v == '\t')) v++;
      while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
      if (ve - v >= 2 && *v == '"' && ve[-1] == '"') v++, ve--;
      size_t o = 0, max = cap - 1 < XFCC_SUBJECT_MAX ? cap - 1 : XFCC_SUBJECT_MAX;
      for (const char *c = v; c < ve && o < max; c++) {
        if (c[0] == '\\' && c + 1 < ve && c[1] == '"') continue; /* \" -> " */
        if ((unsigned char)*c >= 0x20 && (unsigned char)*c <= 0x7e) out[o++] = *c;
      }
      out[o] = '\0';
      return true;
    }
    if (!end) break;
    p = end + 1;
  }
  return false;
}

void api_sockaddr_format(const struct sockaddr *sa, char *out, size_t cap) {
  char ip[INET6_ADDRSTRLEN];
  out[0] = '\0';
  if (!sa) return;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
    if (inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip))
      snprintf(out, cap, "%s:%u", ip, (unsigned)ntohs(a->sin_port));
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
    if (inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip))
      snprintf(out, cap, "[%s]:%u", ip, (unsigned)ntohs(a->sin6_port));
  }
}

/* ---- the environment ------------------------------------------------------------ */

/* A whole number >= 0 (burst) or a number >= 0 (qps); false when
 * malformed. */
static bool parse_number(const char *s, bool whole, double *out) {
  char *end;
  while (*s == ' ' || *s == '\t') s++;
  if (!*s || *s == '-' || *s == '+') return false;
  errno = 0;
  double v = whole ? (double)strtoull(s, &end, 10) : strtod(s, &end);
  while (*end == ' ' || *end == '\t') end++;
  if (errno || *end || !isfinite(v) || v < 0 || (whole && v > UINT32_MAX)) return false;
  *out = v;
  return true;
}

/* The per-token layer, as the original's from_env. */
static void token_rate_from_env(tw_api_rate *r) {
  const char *q = getenv("TENSOR_WASM_API_RATE_LIMIT_QPS");
  const char *b = getenv("TENSOR_WASM_API_RATE_LIMIT_BURST");
  double qps = 100, burst = 200;
  memset(r, 0, sizeof *r);
  if (!q && !b) return;
  if ((q && !parse_number(q, false, &qps)) || (b && !parse_number(b, true, &burst)) ||
      qps == 0 || burst == 0) {
    tw_event(TW_LEVEL_WARN, TW_API_TARGET,
             "TENSOR_WASM_API_RATE_LIMIT_QPS / _BURST is 0 or malformed: the per-token rate "
             "limit is off (the per-tenant one still applies)");
    return;
  }
  r->qps = qps;
  r->burst = (uint32_t)burst;
}

/* The per-(token, tenant) layer: 10 qps / burst 20 unless set (ours). */
static void tenant_rate_from_env(tw_api_rate *r) {
  const char *q = getenv("TENSOR_WASM_API_TENANT_RATE_LIMIT_QPS");
  const char *b = getenv("TENSOR_WASM_API_TENANT_RATE_LIMIT_BURST");
  double qps = 10, burst = 20;
  if ((q && *q && !parse_number(q, false, &qps)) || (b && *b && !parse_number(b, true, &burst))) {
    tw_event(TW_LEVEL_WARN, TW_API_TARGET,
             "TENSOR_WASM_API_TENANT_RATE_LIMIT_QPS / _BURST is malformed: using 10 qps, "
             "burst 20");
    qps = 10, burst = 20;
  }
  r->qps = qps;
  r->burst = (uint32_t)burst;
}

static bool env_flag(const char *name) {
  const char *v = getenv(name);
  return v && (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0);
}

void tw_api_config_from_env(tw_api_config *cfg) {
  const char *audit = getenv("TENSOR_WASM_API_AUDIT_LOG");
  cfg->require_tenant = cfg->require_tenant || env_flag("TENSOR_WASM_API_REQUIRE_TENANT");
  token_rate_from_env(&cfg->token_rate);
  tenant_rate_from_env(&cfg->tenant_rate);
  cfg->audit_log = audit && *audit ? audit : "stdout";
  cfg->trusted_hosts = getenv("TENSOR_WASM_API_TRUSTED_HOSTS");
  cfg->trusted_xfcc_proxies = getenv("TENSOR_WASM_API_TRUSTED_XFCC_PROXIES");
  cfg->cors_allowed_origins = getenv("TENSOR_WASM_API_CORS_ALLOWED_ORIGINS");
}
