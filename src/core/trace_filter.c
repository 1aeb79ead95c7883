/* The log and span filter: `target[=level],...,level` directives.
 *
 * A directive with a target applies to every target that starts with it
 * ('-' and '_' compare equal, so `tensor_wasm_exec` names the
 * "tensor-wasm-exec" target); a bare target means every level; a bare
 * level sets the default, which is otherwise `off` here (the caller puts
 * "info" in front of the user's directives to default to info).  When
 * several directives match, the longest target wins; among equal targets
 * the later directive wins.  A malformed directive is reported and
 * skipped, never fatal.
 *
 * Span-name and field filters of the EnvFilter syntax (`[span{f=v}]`) are
 * not supported; such a directive is reported as malformed. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/trace_int.h"

typedef struct directive {
  char *target; /* not terminated in comparisons; len below */
  size_t len;
  int threshold;
} directive;

struct tw__filter {
  int default_threshold;
  int min_threshold;
  size_t count;
  directive *dirs;
};

static const char *const level_names[] = {"trace", "debug", "info", "warn",
                                          "error", "off"};

int tw__level_parse(const char *s, size_t len) {
  for (int i = 0; i <= TW__LEVEL_OFF; i++) {
    if (strlen(level_names[i]) != len) continue;
    if (strncasecmp(s, level_names[i], len) == 0) return i;
  }
  /* EnvFilter also spells "warning" out in places; accept it. */
  if (len == 7 && strncasecmp(s, "warning", 7) == 0) return TW_LEVEL_WARN;
  return -1;
}

static bool target_char_ok(char c) {
  return isalnum((unsigned char)c) || c == '_' || c == '-' || c == ':' ||
         c == '.';
}

static char norm(char c) { return c == '-' ? '_' : c; }

/* Returns NULL when the directive is well formed (and fills *out), else
 * the reason.  `d` is trimmed and non-empty. */
static const char *parse_directive(const char *d, size_t len, directive *out,
                                   bool *is_default) {
  const char *eq = memchr(d, '=', len);
  size_t tlen = eq ? (size_t)(eq - d) : len;
  *is_default = false;
  while (tlen > 0 && isspace((unsigned char)d[tlen - 1])) tlen--;
  if (memchr(d, '[', len) || memchr(d, '{', len))
    return "span and field filters are not supported";
  if (!eq) {
    int lvl = tw__level_parse(d, len);
    if (lvl >= 0) {
      *is_default = true;
      out->threshold = lvl;
      return NULL;
    }
    out->threshold = TW_LEVEL_TRACE;
  } else {
    const char *lv = eq + 1;
    size_t lvlen = len - (size_t)(lv - d);
    while (lvlen > 0 && isspace((unsigned char)*lv)) lv++, lvlen--;
    if (memchr(lv, '=', lvlen)) return "more than one '='";
    out->threshold = tw__level_parse(lv, lvlen);
    if (out->threshold < 0) return "unknown level";
  }
  if (tlen == 0) return "empty target";
  for (size_t i = 0; i < tlen; i++)
    if (!target_char_ok(d[i])) return "bad character in target";
  out->target = malloc(tlen + 1);
  if (!out->target) return "out of memory";
  for (size_t i = 0; i < tlen; i++) out->target[i] = norm(d[i]);
  out->target[tlen] = '\0';
  out->len = tlen;
  return NULL;
}

static void trim(const char **s, size_t *len) {
  while (*len > 0 && isspace((unsigned char)(*s)[0])) (*s)++, (*len)--;
  while (*len > 0 && isspace((unsigned char)(*s)[*len - 1])) (*len)--;
}

tw__filter *tw__filter_parse(const char *spec, tw__filter_report_fn report,
                             void *user, unsigned *bad) {
  tw__filter *f = calloc(1, sizeof *f);
  size_t ndirs = 1;
  const char *p;
  if (bad) *bad = 0;
  if (!f) return NULL;
  f->default_threshold = TW__LEVEL_OFF;
  if (!spec) spec = "";
  for (p = spec; *p; p++) ndirs += *p == ',';
  f->dirs = calloc(ndirs, sizeof *f->dirs);
  if (!f->dirs) goto fail;

  for (p = spec;;) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    const char *d = p;
    trim(&d, &len);
    if (len > 0) {
      directive dir = {0};
      bool is_default;
      const char *why = parse_directive(d, len, &dir, &is_default);
      if (why) {
        if (bad) (*bad)++;
        if (report) report(user, d, len, why);
      } else if (is_default) {
        f->default_threshold = dir.threshold;
      } else {
        f->dirs[f->count++] = dir;
      }
    }
    if (!end) break;
    p = end + 1;
  }

  f->min_threshold = f->default_threshold;
  for (size_t i = 0; i < f->count; i++)
    if (f->dirs[i].threshold < f->min_threshold)
      f->min_threshold = f->dirs[i].threshold;
  return f;

fail:
  tw__filter_free(f);
  return NULL;
}

void tw__filter_free(tw__filter *f) {
  if (!f) return;
  for (size_t i = 0; i < f->count; i++) free(f->dirs[i].target);
  free(f->dirs);
  free(f);
}

static bool prefix_match(const directive *d, const char *target) {
  for (size_t i = 0; i < d->len; i++)
    if (!target[i] || norm(target[i]) != d->target[i]) return false;
  return true;
}

int tw__filter_threshold(const tw__filter *f, const char *target) {
  int threshold = f->default_threshold;
  size_t best = 0;
  bool found = false;
  if (!target) target = "";
  for (size_t i = 0; i < f->count; i++) {
    const directive *d = &f->dirs[i];
    if ((!found || d->len >= best) && prefix_match(d, target)) {
      found = true;
      best = d->len;
      threshold = d->threshold;
    }
  }
  return threshold;
}

bool tw__filter_enabled(const tw__filter *f, tw_level level,
                        const char *target) {
  if ((int)level < f->min_threshold) return false;
  return (int)level >= tw__filter_threshold(f, target);
}

int tw__filter_min_threshold(const tw__filter *f) { return f->min_threshold; }
