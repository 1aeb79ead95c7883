/* Rate limits: two layers of lazily refilled token buckets, as the
 * original's limiter (docs/API.md "Rate limits").
 *
 *  - per token: one bucket per configured token plus one for dev mode,
 *    so the table is as large as the token list and never grows;
 *  - per (token, tenant): a set-associative table of fixed size.  A key
 *    hashes (with a per-process random seed, so a caller cannot aim at
 *    one set) to a set of API_RL_WAYS entries; a new key takes a free
 *    entry, else one whose bucket has refilled to its burst (which is the
 *    same as no entry), else the least recently used one.  So memory is
 *    bounded whatever tenant ids callers send, and the only cost of the
 *    bound is that a key evicted while its bucket was not full starts
 *    again with a full one; that needs API_RL_WAYS keys active in one
 *    set at once.
 *
 * A request is admitted only when every layer that is on has a permit;
 * then one is taken from each.  A refused request takes none, and its
 * Retry-After is the ceiling of (1 - tokens) / qps of the layer that
 * refused (the smaller of the two when both did, as the original), at
 * least 1 s; a layer that never refills (qps 0) suggests 3600 s.
 *
 * One mutex guards both layers: a decision is a few multiplications and
 * at most API_RL_WAYS comparisons, far below the cost of the request
 * around it. */
#include <math.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_int.h"

#define API_RL_SETS 1024u /* power of two */
#define API_RL_WAYS 8u
#define API_RL_NO_REFILL_RETRY_S 3600u

typedef struct rl_bucket {
  double tokens;
  uint64_t last_ns;
} rl_bucket;

typedef struct rl_entry {
  bool used;
  uint64_t token_id, tenant;
  rl_bucket b;
} rl_entry;

struct api_limiter {
  pthread_mutex_t lock;
  tw_api_rate token, tenant;
  uint64_t (*clock)(void *);
  void *clock_ctx;
  rl_bucket *per_token;  /* ntokens + 1; NULL when that layer is off */
  bool *per_token_used;
  size_t ntokens;
  rl_entry *table;       /* API_RL_SETS * API_RL_WAYS; NULL when off */
  uint64_t seed[2];
};

static uint64_t mono_ns(void *ctx) {
  (void)ctx;
  return api_mono_ns();
}

static bool layer_on(const tw_api_rate *r) { return r && r->burst > 0; }

tw_status api_limiter_new(const tw_api_rate *token, const tw_api_rate *tenant, size_t ntokens,
                          uint64_t (*clock)(void *), void *clock_ctx, api_limiter **out,
                          tw_error *err) {
  *out = NULL;
  if (!layer_on(token) && !layer_on(tenant)) return TW_OK;
  api_limiter *l = calloc(1, sizeof *l);
  if (!l) goto nomem;
  pthread_mutex_init(&l->lock, NULL);
  l->clock = clock ? clock : mono_ns;
  l->clock_ctx = clock_ctx;
  l->ntokens = ntokens;
  if (layer_on(token)) {
    l->token = *token;
    l->per_token = calloc(ntokens + 1, sizeof *l->per_token);
    l->per_token_used = calloc(ntokens + 1, sizeof *l->per_token_used);
    if (!l->per_token || !l->per_token_used) goto nomem;
  }
  if (layer_on(tenant)) {
    l->tenant = *tenant;
    l->table = calloc((size_t)API_RL_SETS * API_RL_WAYS, sizeof *l->table);
    if (!l->table) goto nomem;
  }
  /* Without randomness the table still works; only its spread is
   * predictable. */
  if (RAND_bytes((unsigned char *)l->seed, sizeof l->seed) != 1)
    l->seed[0] = 0x9e3779b97f4a7c15u, l->seed[1] = (uint64_t)time(NULL);
  *out = l;
  return TW_OK;
nomem:
  api_limiter_free(l);
  if (err) {
    err->status = TW_NOMEM;
    snprintf(err->message, sizeof err->message, "out of memory (rate limiter)");
  }
  return TW_NOMEM;
}

void api_limiter_free(api_limiter *l) {
  if (!l) return;
  pthread_mutex_destroy(&l->lock);
  free(l->per_token);
  free(l->per_token_used);
  free(l->table);
  free(l);
}

/* Refills `b` up to now; returns 0 when it holds a permit, else the wait
 * in seconds (not rounded). */
static double refill(rl_bucket *b, const tw_api_rate *rate, uint64_t now) {
  if (now > b->last_ns && rate->qps > 0) {
    b->tokens += (double)(now - b->last_ns) / 1e9 * rate->qps;
  }
  if (b->tokens > rate->burst) b->tokens = rate->burst;
  if (now > b->last_ns) b->last_ns = now;
  if (b->tokens >= 1.0) return 0;
  return rate->qps > 0 ? (1.0 - b->tokens) / rate->qps : API_RL_NO_REFILL_RETRY_S;
}

static uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9u;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebu;
  x ^= x >> 31;
  return x;
}

/* The (token, tenant) entry, taking one in its set when it has none. */
static rl_bucket *tenant_bucket(api_limiter *l, uint64_t token_id, uint64_t tenant,
                                uint64_t now) {
  uint64_t h = mix(mix(token_id ^ l->seed[0]) ^ tenant ^ l->seed[1]);
  rl_entry *set = &l->table[(h & (API_RL_SETS - 1)) * API_RL_WAYS];
  rl_entry *victim = NULL;
  for (unsigned i = 0; i < API_RL_WAYS; i++) {
    rl_entry *e = &set[i];
    if (e->used && e->token_id == token_id && e->tenant == tenant) return &e->b;
  }
  for (unsigned i = 0; i < API_RL_WAYS && !victim; i++)
    if (!set[i].used) victim = &set[i];
  for (unsigned i = 0; i < API_RL_WAYS && !victim; i++) {
    rl_bucket probe = set[i].b; /* refilled to its burst: as good as absent */
    if (refill(&probe, &l->tenant, now) == 0 && probe.tokens >= l->tenant.burst)
      victim = &set[i];
  }
  if (!victim) {
    victim = &set[0];
    for (unsigned i = 1; i < API_RL_WAYS; i++)
      if (set[i].b.last_ns < victim->b.last_ns) victim = &set[i];
  }
  victim->used = true;
  victim->token_id = token_id;
  victim->tenant = tenant;
  victim->b.tokens = l->tenant.burst;
  victim->b.last_ns = now;
  return &victim->b;
}

uint32_t api_limiter_admit(api_limiter *l, size_t token_index, uint64_t token_id,
                           uint64_t tenant) {
  if (!l) return 0;
  pthread_mutex_lock(&l->lock);
  uint64_t now = l->clock(l->clock_ctx);
  rl_bucket *tb = NULL, *kb = NULL;
  double wait_t = 0, wait_k = 0;
  if (l->table) {
    tb = tenant_bucket(l, token_id, tenant, now);
    wait_t = refill(tb, &l->tenant, now);
  }
  if (l->per_token) {
    size_t i = token_index <= l->ntokens ? token_index : l->ntokens;
    kb = &l->per_token[i];
    if (!l->per_token_used[i]) {
      l->per_token_used[i] = true;
      kb->tokens = l->token.burst;
      kb->last_ns = now;
    }
    wait_k = refill(kb, &l->token, now);
  }
  uint32_t retry = 0;
  if (wait_t == 0 && wait_k == 0) {
    if (tb) tb->tokens -= 1.0;
    if (kb) kb->tokens -= 1.0;
  } else {
    double w = wait_t == 0 ? wait_k : wait_k == 0 ? wait_t : fmin(wait_t, wait_k);
    double c = ceil(w);
    retry = c < 1 ? 1 : c > UINT32_MAX ? UINT32_MAX : (uint32_t)c;
  }
  pthread_mutex_unlock(&l->lock);
  return retry;
}
