/* Values on the command line: parsing arguments (words and the --args JSON
 * rule), printing results, sizes and durations.
 *
 * The JSON rule is the original's: an integer in i32 range is an i32, a
 * larger integer an i64, anything else an f64.  We then check that value
 * against the export's declared parameter type and convert only where no
 * information is lost (an integer into a wider integer or a float), so a
 * mismatch is a clear error rather than a silent reinterpretation. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

void cli_fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("tensor-wasm: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

int cli_read_file(const char *path, uint8_t **out, size_t *len) {
  FILE *f = fopen(path, "rb");
  uint8_t *buf = NULL;
  size_t cap = 0, n = 0;
  if (!f) {
    cli_fail("%s: %s", path, strerror(errno));
    return -1;
  }
  for (;;) {
    if (n == cap) {
      size_t ncap = cap ? cap * 2 : 65536;
      uint8_t *nbuf = realloc(buf, ncap);
      if (!nbuf) {
        cli_fail("%s: out of memory", path);
        goto fail;
      }
      buf = nbuf;
      cap = ncap;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0) break;
  }
  if (ferror(f)) {
    cli_fail("%s: %s", path, strerror(errno ? errno : EIO));
    goto fail;
  }
  fclose(f);
  *out = buf;
  *len = n;
  return 0;
fail:
  free(buf);
  fclose(f);
  return -1;
}

int cli_parse_word(const char *s, tw_valtype t, tw_val *out) {
  char *end = NULL;
  errno = 0;
  out->type = t;
  switch (t) {
  case TW_I32: {
    long long v = strtoll(s, &end, 10);
    if (errno || *end || end == s || v < INT32_MIN || v > (long long)UINT32_MAX) return -1;
    out->of.i32 = (int32_t)(uint32_t)v;
    return 0;
  }
  case TW_I64: {
    long long v = strtoll(s, &end, 10);
    if (errno == ERANGE && s[0] != '-') { /* the unsigned upper half */
      errno = 0;
      unsigned long long u = strtoull(s, &end, 10);
      if (errno || *end || end == s) return -1;
      out->of.i64 = (int64_t)u;
      return 0;
    }
    if (errno || *end || end == s) return -1;
    out->of.i64 = v;
    return 0;
  }
  case TW_F32: {
    float v = strtof(s, &end);
    if (*end || end == s) return -1;
    *out = tw_val_f32(v);
    return 0;
  }
  case TW_F64: {
    double v = strtod(s, &end);
    if (*end || end == s) return -1;
    *out = tw_val_f64(v);
    return 0;
  }
  case TW_FUNCREF:
  case TW_EXTERNREF:
    if (strcmp(s, "null") != 0) return -1;
    out->of.externref = NULL;
    return 0;
  default:
    return -1;
  }
}

/* One JSON argument into parameter type t; NULL on success, else why not. */
static const char *json_to_val(const json_t *j, tw_valtype t, tw_val *out) {
  out->type = t;
  if (json_is_integer(j)) {
    json_int_t v = json_integer_value(j); /* i32 or i64 by the JSON rule */
    switch (t) {
    case TW_I32:
      if (v < INT32_MIN || v > INT32_MAX) return "integer out of i32 range";
      out->of.i32 = (int32_t)v;
      return NULL;
    case TW_I64: out->of.i64 = (int64_t)v; return NULL;
    case TW_F32: *out = tw_val_f32((float)v); return NULL;
    case TW_F64: *out = tw_val_f64((double)v); return NULL;
    default: return "a number cannot be passed as a reference";
    }
  }
  if (json_is_real(j)) {
    double v = json_real_value(j);
    if (t == TW_F64) { *out = tw_val_f64(v); return NULL; }
    if (t == TW_F32) { *out = tw_val_f32((float)v); return NULL; }
    if (t == TW_I32 || t == TW_I64) return "not an integer";
    return "a number cannot be passed as a reference";
  }
  if (json_is_null(j) && (t == TW_FUNCREF || t == TW_EXTERNREF)) {
    out->of.externref = NULL;
    return NULL;
  }
  return "not a number";
}

int cli_parse_json_args(const char *text, const tw_valtype *types, size_t np,
                        const char *fn_name, tw_val **out, size_t *n) {
  json_error_t jerr;
  tw_val *vals = NULL;
  int rc = -1;
  json_t *root = json_loads(text, JSON_DECODE_ANY, &jerr);
  if (!root) {
    cli_fail("--args: not valid JSON at column %d: %s", jerr.column, jerr.text);
    return -1;
  }
  if (!json_is_array(root)) {
    cli_fail("--args: expected a JSON array such as [1, 2.5], got %s",
             json_is_object(root) ? "an object" : "a single value");
    goto done;
  }
  size_t count = json_array_size(root);
  if (count != np) {
    cli_fail("%s takes %zu argument%s, --args gives %zu", fn_name, np,
             np == 1 ? "" : "s", count);
    goto done;
  }
  vals = calloc(count + 1, sizeof *vals);
  if (!vals) {
    cli_fail("out of memory");
    goto done;
  }
  for (size_t i = 0; i < count; i++) {
    tw_valtype t = types[i];
    json_t *j = json_array_get(root, i);
    const char *why = json_to_val(j, t, &vals[i]);
    if (why) {
      char *shown = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
      cli_fail("--args[%zu] = %s: %s parameter %zu is %s: %s", i,
               shown ? shown : "?", fn_name, i, tw_valtype_name(t), why);
      free(shown);
      goto done;
    }
  }
  *out = vals;
  *n = count;
  vals = NULL;
  rc = 0;
done:
  free(vals);
  json_decref(root);
  return rc;
}

/* Shortest digits that read back to the same float. */
static void print_float(FILE *out, double v, int is_f32, bool in_json) {
  if (isnan(v) || isinf(v)) {
    const char *s = isnan(v) ? (signbit(v) ? "-nan" : "nan") : (v < 0 ? "-inf" : "inf");
    fprintf(out, in_json ? "\"%s\"" : "%s", s); /* JSON has no NaN */
    return;
  }
  char buf[64];
  for (int digits = 1; digits <= 17; digits++) {
    snprintf(buf, sizeof buf, "%.*g", digits, v);
    if (is_f32 ? strtof(buf, NULL) == (float)v : strtod(buf, NULL) == v) break;
  }
  fputs(buf, out);
}

static void print_val(FILE *out, tw_val v, bool in_json) {
  switch (v.type) {
  case TW_I32: fprintf(out, "%" PRId32, v.of.i32); break;
  case TW_I64: fprintf(out, "%" PRId64, v.of.i64); break;
  case TW_F32: print_float(out, tw_val_as_f32(v), 1, in_json); break;
  case TW_F64: print_float(out, tw_val_as_f64(v), 0, in_json); break;
  case TW_FUNCREF:
  case TW_EXTERNREF:
    if (v.of.externref) fprintf(out, in_json ? "\"%s\"" : "%s", tw_valtype_name(v.type));
    else fputs("null", out);
    break;
  default: fprintf(out, in_json ? "\"%s\"" : "%s", tw_valtype_name(v.type)); break;
  }
}

void cli_print_results(FILE *out, const tw_val *v, size_t n) {
  if (n == 0) {
    fputs("ok\n", out);
    return;
  }
  if (n == 1) {
    print_val(out, v[0], false);
    fputc('\n', out);
    return;
  }
  fputc('[', out);
  for (size_t i = 0; i < n; i++) {
    if (i) fputc(',', out);
    print_val(out, v[i], true);
  }
  fputs("]\n", out);
}

/* Number followed by a unit from `units` (name, multiplier). */
typedef struct unit {
  const char *name;
  double mult;
} unit;

static int parse_with_units(const char *s, const unit *units, size_t nunits,
                            double *out) {
  char *end = NULL;
  errno = 0;
  if (!s || !*s || *s == '-' || *s == '+') return -1;
  double v = strtod(s, &end);
  if (errno || end == s || !isfinite(v) || v < 0) return -1;
  for (size_t i = 0; i < nunits; i++) {
    if (strcmp(end, units[i].name) == 0) {
      *out = v * units[i].mult;
      return 0;
    }
  }
  return -1;
}

int cli_parse_size(const char *s, uint64_t *bytes) {
  static const unit units[] = {
      {"", 1}, {"B", 1}, {"K", 1024.0}, {"KB", 1024.0}, {"KiB", 1024.0},
      {"M", 1048576.0}, {"MB", 1048576.0}, {"MiB", 1048576.0},
      {"G", 1073741824.0}, {"GB", 1073741824.0}, {"GiB", 1073741824.0}};
  double v;
  if (parse_with_units(s, units, sizeof units / sizeof units[0], &v) != 0) return -1;
  if (v > 1e18) return -1;
  *bytes = (uint64_t)v;
  return 0;
}

int cli_parse_duration(const char *s, uint64_t *ns) {
  static const unit units[] = {{"", 1e9},   {"s", 1e9},  {"ms", 1e6}, {"us", 1e3},
                               {"ns", 1},   {"m", 60e9}, {"h", 3600e9}};
  double v;
  if (parse_with_units(s, units, sizeof units / sizeof units[0], &v) != 0) return -1;
  if (v < 1 || v > 1e18) return -1;
  *ns = (uint64_t)v;
  return 0;
}
