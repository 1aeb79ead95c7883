/* Metrics registry: families, series (label sets) and their updates.
 *
 * A family keeps its series twice: in a fixed array of hash chains, which
 * lookups walk without a lock (series are never removed, see
 * metrics_int.h), and in a list sorted by label values, which the renderer
 * walks under the registry's mutex.  Creating a series or a family takes
 * that mutex; updating one is a relaxed atomic operation.  Rendering lives
 * in metrics_render.c, the catalogue in metrics_catalog.c. */
#include <math.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/metrics_int.h"

/* ---- allocation (with the test hook) ------------------------------------ */

static _Atomic long fail_countdown = -1;

void tw__metrics_fail_alloc(long n) { atomic_store(&fail_countdown, n); }

/* True when the test hook says this allocation fails. */
static bool alloc_should_fail(void) {
  if (atomic_load_explicit(&fail_countdown, memory_order_relaxed) < 0)
    return false;
  return atomic_fetch_sub(&fail_countdown, 1) == 0;
}

static size_t round_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

void *tw__metrics_alloc(size_t align, size_t size) {
  if (alloc_should_fail()) return NULL;
  if (align <= alignof(max_align_t)) return malloc(size ? size : 1);
  return aligned_alloc(align, round_up(size ? size : 1, align));
}

void *tw__metrics_realloc(void *p, size_t size) {
  if (alloc_should_fail()) return NULL;
  return realloc(p, size ? size : 1);
}

static char *str_dup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = tw__metrics_alloc(1, n);
  if (d) memcpy(d, s, n);
  return d;
}

/* ---- registries ----------------------------------------------------------- */

static tw_metric_registry_t default_registry = {
    .lock = PTHREAD_MUTEX_INITIALIZER, .families = NULL, .is_default = 1};

tw_metric_registry_t *tw_metric_registry_default(void) {
  return &default_registry;
}

tw_status tw_metric_registry_new(tw_metric_registry_t **out, tw_error *err) {
  if (!out) return tw__error_set(err, TW_ARG, SIZE_MAX, "out is NULL");
  *out = NULL;
  tw_metric_registry_t *reg = tw__metrics_alloc(1, sizeof *reg);
  if (!reg)
    return tw__error_set(err, TW_NOMEM, SIZE_MAX, "metric registry");
  memset(reg, 0, sizeof *reg);
  if (pthread_mutex_init(&reg->lock, NULL) != 0) {
    free(reg);
    return tw__error_set(err, TW_NOMEM, SIZE_MAX, "metric registry mutex");
  }
  *out = reg;
  return TW_OK;
}

static void family_free(tw_metric_family_t *f) {
  if (!f) return;
  for (tw__series *s = f->sorted, *next; s; s = next) {
    next = s->sorted_next;
    free(s);
  }
  for (size_t i = 0; i < f->nlabels; i++) free(f->labels[i]);
  free(f->name);
  free(f->help);
  free(f->bounds);
  free(f->le);
  free(f);
}

void tw_metric_registry_free(tw_metric_registry_t *reg) {
  if (!reg || reg->is_default) return;
  for (tw_metric_family_t *f = reg->families, *next; f; f = next) {
    next = f->next;
    family_free(f);
  }
  pthread_mutex_destroy(&reg->lock);
  free(reg);
}

/* ---- validation ------------------------------------------------------------ */

static bool is_alpha_(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* [a-zA-Z_:][a-zA-Z0-9_:]* */
static bool valid_metric_name(const char *s) {
  if (!s || !(is_alpha_(*s) || *s == ':')) return false;
  for (s++; *s; s++)
    if (!(is_alpha_(*s) || is_digit(*s) || *s == ':')) return false;
  return true;
}

/* [a-zA-Z_][a-zA-Z0-9_]*, not starting with the reserved "__". */
static bool valid_label_name(const char *s) {
  if (!s || !is_alpha_(*s) || strncmp(s, "__", 2) == 0) return false;
  for (s++; *s; s++)
    if (!(is_alpha_(*s) || is_digit(*s))) return false;
  return true;
}

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

static size_t count_strings(const char *const *v) {
  size_t n = 0;
  if (v)
    while (v[n]) n++;
  return n;
}

static tw_status check_desc(const tw_metric_desc *d, tw_error *err) {
  if (d->type != TW_METRIC_COUNTER && d->type != TW_METRIC_GAUGE &&
      d->type != TW_METRIC_HISTOGRAM)
    return tw__error_set(err, TW_ARG, SIZE_MAX, "unknown metric type %d",
                         (int)d->type);
  if (!valid_metric_name(d->name))
    return tw__error_set(err, TW_ARG, SIZE_MAX, "invalid metric name \"%s\"",
                         d->name ? d->name : "(null)");
  if (!d->help || !d->help[0])
    return tw__error_set(err, TW_ARG, SIZE_MAX, "metric %s has no help",
                         d->name);
  size_t nl = count_strings(d->labels);
  if (nl > TW_METRIC_LABELS_MAX)
    return tw__error_set(err, TW_ARG, SIZE_MAX, "metric %s: %zu labels > %d",
                         d->name, nl, TW_METRIC_LABELS_MAX);
  for (size_t i = 0; i < nl; i++) {
    if (!valid_label_name(d->labels[i]) ||
        (d->type == TW_METRIC_HISTOGRAM && strcmp(d->labels[i], "le") == 0))
      return tw__error_set(err, TW_ARG, SIZE_MAX,
                           "metric %s: invalid label name \"%s\"", d->name,
                           d->labels[i]);
    for (size_t j = 0; j < i; j++)
      if (strcmp(d->labels[i], d->labels[j]) == 0)
        return tw__error_set(err, TW_ARG, SIZE_MAX,
                             "metric %s: label \"%s\" twice", d->name,
                             d->labels[i]);
  }
  if (d->type != TW_METRIC_HISTOGRAM) return TW_OK;
  if (d->nbuckets > TW_METRIC_BUCKETS_MAX || (d->nbuckets && !d->buckets))
    return tw__error_set(err, TW_ARG, SIZE_MAX, "metric %s: bad bucket list",
                         d->name);
  for (size_t i = 0; i < d->nbuckets; i++)
    if (!isfinite(d->buckets[i]) || (i && d->buckets[i] <= d->buckets[i - 1]))
      return tw__error_set(err, TW_ARG, SIZE_MAX,
                           "metric %s: buckets must be finite and strictly "
                           "increasing (bucket %zu)",
                           d->name, i);
  return TW_OK;
}

/* ---- families ---------------------------------------------------------------- */

/* The exposed name: counters always end in _total. */
static char *exposed_name(const tw_metric_desc *d) {
  if (d->type != TW_METRIC_COUNTER || ends_with(d->name, "_total"))
    return str_dup(d->name);
  size_t n = strlen(d->name);
  char *s = tw__metrics_alloc(1, n + sizeof "_total");
  if (s) {
    memcpy(s, d->name, n);
    memcpy(s + n, "_total", sizeof "_total");
  }
  return s;
}

static bool same_shape(const tw_metric_family_t *f, const tw_metric_desc *d) {
  if (f->type != d->type || f->nlabels != count_strings(d->labels))
    return false;
  for (size_t i = 0; i < f->nlabels; i++)
    if (strcmp(f->labels[i], d->labels[i]) != 0) return false;
  if (d->type != TW_METRIC_HISTOGRAM) return true;
  if (f->nbounds != d->nbuckets) return false;
  for (size_t i = 0; i < f->nbounds; i++)
    if (f->bounds[i] != d->buckets[i]) return false;
  return true;
}

/* A family built from a checked desc, not yet linked; NULL when out of
 * memory.  `name` is taken over (freed on failure). */
static tw_metric_family_t *family_build(tw_metric_registry_t *reg,
                                        const tw_metric_desc *d, char *name) {
  tw_metric_family_t *f = tw__metrics_alloc(1, sizeof *f);
  if (!f) {
    free(name);
    return NULL;
  }
  memset(f, 0, sizeof *f);
  f->reg = reg;
  f->type = d->type;
  f->name = name;
  for (size_t i = 0; i < TW__METRIC_CHAINS; i++)
    atomic_init(&f->chains[i], NULL);
  if (!(f->help = str_dup(d->help))) goto fail;
  for (; d->labels && d->labels[f->nlabels]; f->nlabels++)
    if (!(f->labels[f->nlabels] = str_dup(d->labels[f->nlabels]))) goto fail;
  if (d->type == TW_METRIC_HISTOGRAM) {
    f->nbounds = d->nbuckets;
    f->bounds = tw__metrics_alloc(1, d->nbuckets * sizeof *f->bounds);
    f->le = tw__metrics_alloc(1, d->nbuckets * sizeof *f->le);
    if (!f->bounds || !f->le) goto fail;
    for (size_t i = 0; i < d->nbuckets; i++) {
      f->bounds[i] = d->buckets[i];
      tw__metric_format_double(f->le[i], d->buckets[i]);
    }
  }
  return f;
fail:
  family_free(f);
  return NULL;
}

static tw_status series_create(tw_metric_family_t *f,
                               const char *const *values, uint64_t hash,
                               tw__series **out, tw_error *err);
static uint64_t hash_values(const char *const *values, size_t n);

tw_status tw_metric_register(tw_metric_registry_t *reg,
                             const tw_metric_desc *desc,
                             tw_metric_family_t **out, tw_error *err) {
  if (!reg || !desc || !out)
    return tw__error_set(err, TW_ARG, SIZE_MAX, "NULL argument");
  *out = NULL;
  tw_status st = check_desc(desc, err);
  if (st != TW_OK) return st;
  char *name = exposed_name(desc);
  if (!name) return tw__error_set(err, TW_NOMEM, SIZE_MAX, "metric name");

  pthread_mutex_lock(&reg->lock);
  tw_metric_family_t **link = &reg->families;
  while (*link && strcmp((*link)->name, name) < 0) link = &(*link)->next;
  if (*link && strcmp((*link)->name, name) == 0) {
    tw_metric_family_t *found = *link;
    free(name);
    pthread_mutex_unlock(&reg->lock);
    if (!same_shape(found, desc))
      return tw__error_set(err, TW_ARG, SIZE_MAX,
                           "metric %s already registered with another type, "
                           "labels or buckets",
                           found->name);
    *out = found;
    return TW_OK;
  }
  tw_metric_family_t *f = family_build(reg, desc, name);
  if (!f) {
    pthread_mutex_unlock(&reg->lock);
    return tw__error_set(err, TW_NOMEM, SIZE_MAX, "metric %s", desc->name);
  }
  if (f->nlabels == 0) { /* its one series exists from the start */
    tw__series *s;
    static const char *const none[] = {NULL};
    st = series_create(f, none, hash_values(none, 0), &s, err);
    if (st != TW_OK) {
      family_free(f);
      pthread_mutex_unlock(&reg->lock);
      return st;
    }
  }
  f->next = *link;
  *link = f;
  pthread_mutex_unlock(&reg->lock);
  *out = f;
  return TW_OK;
}

/* ---- series ------------------------------------------------------------------ */

/* FNV-1a over the values, each followed by a 0xff separator (a byte no
 * UTF-8 text contains), so ("ab","c") and ("a","bc") differ. */
static uint64_t hash_values(const char *const *values, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) {
    for (const unsigned char *p = (const unsigned char *)values[i]; *p; p++)
      h = (h ^ *p) * 1099511628211ull;
    h = (h ^ 0xffu) * 1099511628211ull;
  }
  return h;
}

static bool values_equal(const tw__series *s, const char *const *values,
                         size_t n) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(s->values[i], values[i]) != 0) return false;
  return true;
}

static int values_cmp(const tw__series *a, const tw__series *b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    int c = strcmp(a->values[i], b->values[i]);
    if (c) return c;
  }
  return 0;
}

/* Lock-free: chains only grow at their head, by release stores. */
static tw__series *series_find(tw_metric_family_t *f,
                               const char *const *values, uint64_t hash) {
  tw__series *s = atomic_load_explicit(
      &f->chains[hash & (TW__METRIC_CHAINS - 1)], memory_order_acquire);
  for (; s; s = s->hash_next)
    if (s->hash == hash && values_equal(s, values, f->nlabels)) return s;
  return NULL;
}

static size_t metric_size(const tw_metric_family_t *f) {
  switch (f->type) {
  case TW_METRIC_COUNTER: return sizeof(struct tw_counter);
  case TW_METRIC_GAUGE: return sizeof(struct tw_gauge);
  case TW_METRIC_HISTOGRAM:
    return sizeof(struct tw_histogram) + (f->nbounds + 1) * sizeof(uint64_t);
  }
  return 0;
}

static void metric_init(tw_metric_family_t *f, void *m) {
  if (f->type == TW_METRIC_COUNTER) {
    atomic_init(&((struct tw_counter *)m)->value, 0);
  } else if (f->type == TW_METRIC_GAUGE) {
    struct tw_gauge *g = m;
    atomic_init(&g->value, 0);
    g->fn = NULL;
    g->ctx = NULL;
    g->reg = f->reg;
  } else {
    struct tw_histogram *h = m;
    h->bounds = f->bounds;
    h->nbounds = f->nbounds;
    atomic_init(&h->sum_bits, 0); /* the bits of +0.0 */
    for (size_t i = 0; i <= f->nbounds; i++) atomic_init(&h->counts[i], 0);
  }
}

/* Builds a series, publishes it and links it in sorted order.  Caller holds
 * f->reg->lock and has checked it does not exist. */
static tw_status series_create(tw_metric_family_t *f,
                               const char *const *values, uint64_t hash,
                               tw__series **out, tw_error *err) {
  size_t metric_off = round_up(sizeof(tw__series), TW__CACHE_LINE);
  size_t values_off =
      round_up(metric_off + metric_size(f), alignof(const char *));
  size_t strings_off = values_off + f->nlabels * sizeof(const char *);
  size_t total = strings_off;
  for (size_t i = 0; i < f->nlabels; i++) total += strlen(values[i]) + 1;

  char *block = tw__metrics_alloc(TW__CACHE_LINE, total);
  if (!block)
    return tw__error_set(err, TW_NOMEM, SIZE_MAX, "series of %s", f->name);
  tw__series *s = (tw__series *)block;
  memset(s, 0, sizeof *s);
  s->hash = hash;
  s->metric = block + metric_off;
  s->values = (const char **)(block + values_off);
  char *p = block + strings_off;
  for (size_t i = 0; i < f->nlabels; i++) {
    size_t n = strlen(values[i]) + 1;
    memcpy(p, values[i], n);
    s->values[i] = p;
    p += n;
  }
  metric_init(f, s->metric);

  tw__series **link = &f->sorted;
  while (*link && values_cmp(*link, s, f->nlabels) < 0)
    link = &(*link)->sorted_next;
  s->sorted_next = *link;
  *link = s;

  _Atomic(tw__series *) *chain = &f->chains[hash & (TW__METRIC_CHAINS - 1)];
  s->hash_next = atomic_load_explicit(chain, memory_order_relaxed);
  atomic_store_explicit(chain, s, memory_order_release);
  *out = s;
  return TW_OK;
}

/* The metric of the series in *metric (NULL on failure). */
static tw_status series_get(tw_metric_family_t *f, tw_metric_type type,
                            const char *const *values, void **metric,
                            tw_error *err) {
  static const char *const none[] = {NULL};
  *metric = NULL;
  if (!f) return tw__error_set(err, TW_ARG, SIZE_MAX, "family is NULL");
  if (f->type != type)
    return tw__error_set(err, TW_ARG, SIZE_MAX, "metric %s has another type",
                         f->name);
  if (!values) values = none;
  size_t n = count_strings(values);
  if (n != f->nlabels)
    return tw__error_set(err, TW_ARG, SIZE_MAX,
                         "metric %s takes %zu label values, got %zu", f->name,
                         f->nlabels, n);
  uint64_t hash = hash_values(values, n);
  tw__series *s = series_find(f, values, hash);
  if (!s) {
    pthread_mutex_lock(&f->reg->lock);
    s = series_find(f, values, hash); /* another thread may have won */
    tw_status st = s ? TW_OK : series_create(f, values, hash, &s, err);
    pthread_mutex_unlock(&f->reg->lock);
    if (st != TW_OK) return st;
  }
  *metric = s->metric;
  return TW_OK;
}

tw_status tw_metric_counter_get(tw_metric_family_t *f,
                                const char *const *values,
                                tw_counter_t **out, tw_error *err) {
  if (!out) return tw__error_set(err, TW_ARG, SIZE_MAX, "out is NULL");
  void *m;
  tw_status st = series_get(f, TW_METRIC_COUNTER, values, &m, err);
  *out = m;
  return st;
}

tw_status tw_metric_gauge_get(tw_metric_family_t *f,
                              const char *const *values, tw_gauge_t **out,
                              tw_error *err) {
  if (!out) return tw__error_set(err, TW_ARG, SIZE_MAX, "out is NULL");
  void *m;
  tw_status st = series_get(f, TW_METRIC_GAUGE, values, &m, err);
  *out = m;
  return st;
}

tw_status tw_metric_histogram_get(tw_metric_family_t *f,
                                  const char *const *values,
                                  tw_histogram_t **out, tw_error *err) {
  if (!out) return tw__error_set(err, TW_ARG, SIZE_MAX, "out is NULL");
  void *m;
  tw_status st = series_get(f, TW_METRIC_HISTOGRAM, values, &m, err);
  *out = m;
  return st;
}

tw_counter_t *tw__metric_counter_with(tw_metric_family_t *f,
                                      const char *const *values) {
  void *m;
  series_get(f, TW_METRIC_COUNTER, values, &m, NULL);
  return m;
}

tw_gauge_t *tw__metric_gauge_with(tw_metric_family_t *f,
                                  const char *const *values) {
  void *m;
  series_get(f, TW_METRIC_GAUGE, values, &m, NULL);
  return m;
}

tw_histogram_t *tw__metric_histogram_with(tw_metric_family_t *f,
                                          const char *const *values) {
  void *m;
  series_get(f, TW_METRIC_HISTOGRAM, values, &m, NULL);
  return m;
}

/* ---- updates (the hot path) ------------------------------------------------------ */

void tw_counter_inc(tw_counter_t *c) {
  if (c) atomic_fetch_add_explicit(&c->value, 1, memory_order_relaxed);
}

void tw_counter_add(tw_counter_t *c, uint64_t n) {
  if (c) atomic_fetch_add_explicit(&c->value, n, memory_order_relaxed);
}

uint64_t tw_counter_value(const tw_counter_t *c) {
  return c ? atomic_load_explicit(&((tw_counter_t *)c)->value,
                                  memory_order_relaxed)
           : 0;
}

void tw_gauge_set(tw_gauge_t *g, int64_t v) {
  if (g) atomic_store_explicit(&g->value, v, memory_order_relaxed);
}

void tw_gauge_add(tw_gauge_t *g, int64_t delta) {
  if (g) atomic_fetch_add_explicit(&g->value, delta, memory_order_relaxed);
}

void tw_gauge_sub(tw_gauge_t *g, int64_t delta) {
  if (g) atomic_fetch_sub_explicit(&g->value, delta, memory_order_relaxed);
}

int64_t tw_gauge_value(const tw_gauge_t *g) {
  return g ? atomic_load_explicit(&((tw_gauge_t *)g)->value,
                                  memory_order_relaxed)
           : 0;
}

static uint64_t double_bits(double d) {
  uint64_t u;
  memcpy(&u, &d, sizeof u);
  return u;
}

static double bits_double(uint64_t u) {
  double d;
  memcpy(&d, &u, sizeof d);
  return d;
}

void tw_histogram_observe(tw_histogram_t *h, double v) {
  if (!h || isnan(v)) return;
  /* Linear scan: at most 16 bounds in the catalogue, and a predictable
   * short loop beats a binary search at that size. */
  size_t i = 0;
  while (i < h->nbounds && v > h->bounds[i]) i++;
  atomic_fetch_add_explicit(&h->counts[i], 1, memory_order_relaxed);
  uint64_t old = atomic_load_explicit(&h->sum_bits, memory_order_relaxed);
  while (!atomic_compare_exchange_weak_explicit(
      &h->sum_bits, &old, double_bits(bits_double(old) + v),
      memory_order_relaxed, memory_order_relaxed)) {
  }
}

uint64_t tw_histogram_count(const tw_histogram_t *h) {
  if (!h) return 0;
  tw_histogram_t *m = (tw_histogram_t *)h;
  uint64_t n = 0;
  for (size_t i = 0; i <= m->nbounds; i++)
    n += atomic_load_explicit(&m->counts[i], memory_order_relaxed);
  return n;
}

double tw_histogram_sum(const tw_histogram_t *h) {
  if (!h) return 0;
  return bits_double(atomic_load_explicit(&((tw_histogram_t *)h)->sum_bits,
                                          memory_order_relaxed));
}

tw_status tw_gauge_bind(tw_gauge_t *g, tw_metric_gauge_fn fn, void *ctx,
                        tw_error *err) {
  if (!g) return tw__error_set(err, TW_ARG, SIZE_MAX, "gauge is NULL");
  pthread_mutex_lock(&g->reg->lock);
  g->fn = fn;
  g->ctx = fn ? ctx : NULL;
  pthread_mutex_unlock(&g->reg->lock);
  return TW_OK;
}
