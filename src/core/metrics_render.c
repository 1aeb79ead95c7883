/* Prometheus text exposition format 0.0.4 for a metrics registry.
 *
 * Output, per family in name order:
 *   # HELP <name> <help, with \ and newline escaped>
 *   # TYPE <name> counter|gauge|histogram
 *   <name>{l="v",...} <value>                      counters, gauges
 *   <name>_bucket{l="v",...,le="<bound>"} <n>      histograms: cumulative,
 *   <name>_bucket{l="v",...,le="+Inf"} <n>         ending with +Inf,
 *   <name>_sum{l="v",...} <sum>                    then sum
 *   <name>_count{l="v",...} <n>                    and count
 * Series come in label-value order.  A histogram's _count is the +Inf
 * bucket as read during this scrape, so the two always agree; its _sum is
 * read separately and may be one observation ahead or behind.
 *
 * The registry's mutex is held throughout: the family and series lists
 * and the gauge callbacks cannot change under the renderer. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/metrics_int.h"

/* Go's strconv.FormatFloat(v, 'g', -1, 64), which is what Prometheus's own
 * clients write: the fewest significant digits that read back exactly, in
 * exponent form only when the exponent is below -4 or at least 6. */
char *tw__metric_format_double(char buf[32], double v) {
  if (isnan(v)) return strcpy(buf, "NaN");
  if (isinf(v)) return strcpy(buf, v > 0 ? "+Inf" : "-Inf");
  /* Most values (bucket bounds, durations) need at most 6 digits, and then
   * %g prints exactly what the search below would: the same digits, the
   * same switch to exponent form, no trailing zeros.  One try instead of
   * several keeps registering the standard metrics cheap at start-up. */
  snprintf(buf, 32, "%g", v);
  if (strtod(buf, NULL) == v) return buf;
  int digits = 17;
  for (int p = 1; p <= 17; p++) {
    snprintf(buf, 32, "%.*e", p - 1, v);
    if (strtod(buf, NULL) == v) {
      digits = p;
      break;
    }
  }
  snprintf(buf, 32, "%.*e", digits - 1, v);
  int exp = atoi(strchr(buf, 'e') + 1);
  if (exp < -4 || exp >= 6) return buf; /* already shortest %e */
  snprintf(buf, 32, "%.*g", digits > exp + 1 ? digits : exp + 1, v);
  return buf;
}

void tw_metric_buf_free(tw_metric_buf *buf) {
  if (!buf) return;
  free(buf->data);
  buf->data = NULL;
  buf->len = buf->cap = 0;
}

/* Room for `extra` more bytes plus the NUL. */
static int buf_reserve(tw_metric_buf *b, size_t extra) {
  if (b->cap - b->len > extra && b->data) return 1;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap - b->len <= extra) cap *= 2;
  char *d = tw__metrics_realloc(b->data, cap);
  if (!d) return 0;
  b->data = d;
  b->cap = cap;
  return 1;
}

static int put(tw_metric_buf *b, const char *s, size_t n) {
  if (!buf_reserve(b, n)) return 0;
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
  return 1;
}

static int puts_(tw_metric_buf *b, const char *s) {
  return put(b, s, strlen(s));
}

/* Escapes backslash and newline, and double quote when `quote`. */
static int put_escaped(tw_metric_buf *b, const char *s, int quote) {
  for (const char *run = s;; s++) {
    const char *esc = NULL;
    if (*s == '\\') esc = "\\\\";
    else if (*s == '\n') esc = "\\n";
    else if (*s == '"' && quote) esc = "\\\"";
    else if (*s) continue;
    if (!put(b, run, (size_t)(s - run))) return 0;
    if (!esc) return 1;
    if (!puts_(b, esc)) return 0;
    run = s + 1;
  }
}

/* {name="value",...[,le="bound"]}; nothing at all when there are no labels
 * and no le. */
static int put_labels(tw_metric_buf *b, const tw_metric_family_t *f,
                      const tw__series *s, const char *le) {
  if (f->nlabels == 0 && !le) return 1;
  if (!puts_(b, "{")) return 0;
  for (size_t i = 0; i < f->nlabels; i++) {
    if (i && !puts_(b, ",")) return 0;
    if (!puts_(b, f->labels[i]) || !puts_(b, "=\"") ||
        !put_escaped(b, s->values[i], 1) || !puts_(b, "\""))
      return 0;
  }
  if (le) {
    if ((f->nlabels && !puts_(b, ",")) || !puts_(b, "le=\"") ||
        !puts_(b, le) || !puts_(b, "\""))
      return 0;
  }
  return puts_(b, "}");
}

/* <name><suffix>{labels} <value>\n */
static int put_sample(tw_metric_buf *b, const tw_metric_family_t *f,
                      const char *suffix, const tw__series *s, const char *le,
                      const char *value) {
  return puts_(b, f->name) && puts_(b, suffix) && put_labels(b, f, s, le) &&
         puts_(b, " ") && puts_(b, value) && puts_(b, "\n");
}

static int put_histogram(tw_metric_buf *b, const tw_metric_family_t *f,
                         const tw__series *s) {
  struct tw_histogram *h = s->metric;
  char num[32];
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= h->nbounds; i++) {
    cumulative += atomic_load_explicit(&h->counts[i], memory_order_relaxed);
    snprintf(num, sizeof num, "%" PRIu64, cumulative);
    if (!put_sample(b, f, "_bucket", s, i < h->nbounds ? f->le[i] : "+Inf",
                    num))
      return 0;
  }
  if (!put_sample(b, f, "_sum", s, NULL,
                  tw__metric_format_double(num, tw_histogram_sum(h))))
    return 0;
  snprintf(num, sizeof num, "%" PRIu64, cumulative);
  return put_sample(b, f, "_count", s, NULL, num);
}

static int put_series(tw_metric_buf *b, const tw_metric_family_t *f,
                      const tw__series *s) {
  char num[32];
  if (f->type == TW_METRIC_HISTOGRAM) return put_histogram(b, f, s);
  if (f->type == TW_METRIC_COUNTER) {
    snprintf(num, sizeof num, "%" PRIu64, tw_counter_value(s->metric));
  } else {
    const struct tw_gauge *g = s->metric;
    if (g->fn)
      tw__metric_format_double(num, g->fn(g->ctx));
    else
      snprintf(num, sizeof num, "%" PRId64, tw_gauge_value(g));
  }
  return put_sample(b, f, "", s, NULL, num);
}

static const char *type_name(tw_metric_type t) {
  switch (t) {
  case TW_METRIC_COUNTER: return "counter";
  case TW_METRIC_GAUGE: return "gauge";
  case TW_METRIC_HISTOGRAM: return "histogram";
  }
  return "untyped";
}

static int put_family(tw_metric_buf *b, const tw_metric_family_t *f) {
  if (!puts_(b, "# HELP ") || !puts_(b, f->name) || !puts_(b, " ") ||
      !put_escaped(b, f->help, 0) || !puts_(b, "\n# TYPE ") ||
      !puts_(b, f->name) || !puts_(b, " ") || !puts_(b, type_name(f->type)) ||
      !puts_(b, "\n"))
    return 0;
  for (const tw__series *s = f->sorted; s; s = s->sorted_next)
    if (!put_series(b, f, s)) return 0;
  return 1;
}

tw_status tw_metric_registry_render(tw_metric_registry_t *reg,
                                    tw_metric_buf *buf, tw_error *err) {
  if (!reg || !buf)
    return tw__error_set(err, TW_ARG, SIZE_MAX, "NULL argument");
  size_t start = buf->len;
  int ok = buf_reserve(buf, 0);
  pthread_mutex_lock(&reg->lock);
  for (const tw_metric_family_t *f = reg->families; ok && f; f = f->next)
    ok = put_family(buf, f);
  pthread_mutex_unlock(&reg->lock);
  if (ok) return TW_OK;
  buf->len = start;
  if (buf->data) buf->data[start] = '\0';
  return tw__error_set(err, TW_NOMEM, SIZE_MAX, "rendering metrics");
}
