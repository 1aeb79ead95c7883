/* Compiled-module blobs: what the module cache stores on disk.
 *
 * A blob is the module's original bytes plus each function's compiled
 * code, with handler words replaced by op numbers (handler addresses change
 * with every process), under a SHA-256 checksum and an engine build id.
 * Loading decodes the bytes again (a linear pass that rebuilds the index
 * spaces) but skips validation and compilation, which dominate load time.
 *
 * Layout (little-endian):
 *   "TWMC" | u32 format | u32 build id | u8[32] sha256(payload) | payload
 *   payload = u8[32] module hash | u64 nbytes | bytes | u32 nbodies |
 *             per body: u32 nwords nparams nresults nlocals frame_size |
 *                       u32 words[nwords]
 * The reader checks sizes against the blob, every op number, instruction
 * boundaries, the body count and signatures against the decoded module,
 * and the module's structure (every index outside function bodies) as the
 * validator does.  Operands inside compiled code are trusted: blobs come
 * from storage the runtime alone writes (the SHA-256 catches corruption,
 * not a forger). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/sha256.h"
#include "wasm/code.h"

#define BLOB_MAGIC "TWMC"
#define BLOB_FORMAT 1u
#define BLOB_HEADER (4 + 4 + 4 + 32)

/* Changes whenever the internal code changes shape. */
static uint32_t build_id(void) {
  return 0x54570000u ^ ((uint32_t)TW_IOP_COUNT << 4) ^ 3u;
}

/* ---- instruction lengths -------------------------------------------------*/

#define TW__N2(id, n) [TW_IOP_##id] = n,
#define TW__NUM_NONE 2
#define TW__NUM_I32 3
#define TW__NUM_I64 3
#define TW__NUM_F32 3
#define TW__NUM_F64 3
#define TW__NW_NUM(b) TW__NUM_##b
#define TW__NW_LOAD(b) 3
#define TW__NW_STORE(b) 3
#define TW__NW_CTRL(b) 0
#define TW__NW(byte, id, text, kind, a, b, r, al)                            \
  TW__NWI_##kind(id, TW__NW_##kind(b))
#define TW__NWI_NUM(id, n) [TW_IOP_##id] = n,
#define TW__NWI_LOAD(id, n) [TW_IOP_##id] = n,
#define TW__NWI_STORE(id, n) [TW_IOP_##id] = n,
#define TW__NWI_CTRL(id, n)
#define TW__NC(id, t, op, inv, swp)                                          \
  [TW_IOP_br_##id] = 3, [TW_IOP_br_##id##_imm] = 3, [TW_IOP_##id##_imm] = 3,   \
  [TW_IOP_br_##id##_step] = 6, [TW_IOP_br_##id##_imm_step] = 6,
#define TW__NA(id, t, expr, comm) [TW_IOP_##id##_imm] = 3,
#define TW__NK1(id) [TW_IOP_##id] = 2,
#define TW__NK(byte, id, text, kind, a, b, r, al) TW__IOPK_IF_##kind(TW__NK1, id)
#define TW__NP1(id) [TW_IOP_##id] = 4,
#define TW__NP(byte, id, text, kind, a, b, r, al) TW__IOPPA_IF_##kind(TW__NP1, id)
static const int8_t operand_words[TW_IOP_COUNT] = {
    TW_IOPS_CONTROL(TW__N2) TW_WASM_OPS(TW__NW) TW_WASM_FC_OPS(TW__NW)
        TW_FUSE_CMPS(TW__NC) TW_FUSE_ARITH(TW__NA) TW_WASM_OPS(TW__NK)
            TW_WASM_OPS(TW__NP)};

uint32_t tw__iop_length(tw__iop op, const uint32_t *pc) {
  int n = operand_words[op];
  if (n < 0) return 2 + 2 + pc[3] + 1; /* br_table: idx n off[0..n] */
  return 2 + (uint32_t)n;
}

/* The same for untrusted words: 0 when the instruction does not fit in
 * the `avail` words left. */
static uint64_t checked_length(uint32_t op, const uint32_t *pc,
                               uint64_t avail) {
  if (op >= TW_IOP_COUNT || avail < 2) return 0;
  uint64_t len = 2 + (uint64_t)(operand_words[op] < 0 ? 0 : operand_words[op]);
  if (operand_words[op] < 0) {
    if (avail < 4) return 0;
    len = 2 + 2 + (uint64_t)pc[3] + 1;
  }
  return len <= avail ? len : 0;
}

/* ---- handler ↔ op --------------------------------------------------------*/

typedef struct handler_op {
  uint64_t h;
  uint16_t op;
} handler_op;
static handler_op by_handler[TW_IOP_COUNT];
static pthread_once_t by_handler_once = PTHREAD_ONCE_INIT;

static int cmp_handler(const void *a, const void *b) {
  uint64_t x = ((const handler_op *)a)->h, y = ((const handler_op *)b)->h;
  return x < y ? -1 : x > y;
}

static void by_handler_init(void) {
  for (int op = 0; op < TW_IOP_COUNT; op++)
    by_handler[op] = (handler_op){tw__interp_handler((tw__iop)op),
                                  (uint16_t)op};
  qsort(by_handler, TW_IOP_COUNT, sizeof *by_handler, cmp_handler);
}

/* Ops whose bodies the C compiler merged share a handler; any of them has
 * the same length and meaning, so any match will do. */
static tw__iop op_of(uint64_t h) {
  pthread_once(&by_handler_once, by_handler_init);
  size_t lo = 0, hi = TW_IOP_COUNT;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (by_handler[mid].h < h)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < TW_IOP_COUNT && by_handler[lo].h == h
             ? (tw__iop)by_handler[lo].op
             : TW_IOP_COUNT;
}

/* ---- writer ------------------------------------------------------------- */

typedef struct buf {
  uint8_t *p;
  size_t n, cap;
  bool oom;
} buf;

static void put(buf *b, const void *src, size_t n) {
  if (b->oom) return;
  if (b->n + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + n) cap *= 2;
    uint8_t *q = realloc(b->p, cap);
    if (!q) {
      b->oom = true;
      return;
    }
    b->p = q;
    b->cap = cap;
  }
  memcpy(b->p + b->n, src, n);
  b->n += n;
}

static void put32(buf *b, uint32_t v) {
  uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
                  (uint8_t)(v >> 24)};
  put(b, x, 4);
}

static void put_code(buf *b, const tw__code *code) {
  put32(b, (uint32_t)code->nwords);
  put32(b, code->nparams);
  put32(b, code->nresults);
  put32(b, code->nlocals);
  put32(b, code->frame_size);
  for (size_t i = 0; i < code->nwords;) {
    uint64_t h;
    memcpy(&h, code->words + i, 8);
    tw__iop op = op_of(h);
    uint32_t len = tw__iop_length(op, code->words + i);
    put32(b, (uint32_t)op);
    put32(b, 0);
    for (uint32_t k = 2; k < len; k++) put32(b, code->words[i + k]);
    i += len;
  }
}

tw_status tw_module_serialize(const tw_module_t *mod, uint8_t **out,
                              size_t *len, tw_error *err) {
  if (!mod || !out || !len)
    return tw__error_set(err, TW_ARG, SIZE_MAX,
                         "tw_module_serialize: NULL argument");
  const tw__module *m = &mod->m;
  buf b = {0};
  uint8_t header[BLOB_HEADER] = {0};
  put(&b, header, sizeof header);
  put(&b, mod->hash, 32); /* checked below by the checksum: not recomputed */
  put32(&b, (uint32_t)m->len);
  put32(&b, (uint32_t)((uint64_t)m->len >> 32));
  put(&b, m->bytes, m->len);
  uint32_t nbodies = m->nfuncs - m->nfunc_imports;
  put32(&b, nbodies);
  for (uint32_t i = 0; i < nbodies; i++) put_code(&b, m->bodies[i].compiled);
  if (b.oom) {
    free(b.p);
    return tw__error_set(err, TW_NOMEM, SIZE_MAX,
                         "out of memory serialising a module");
  }
  memcpy(b.p, BLOB_MAGIC, 4);
  uint32_t hdr[2] = {BLOB_FORMAT, build_id()};
  for (int i = 0; i < 2; i++)
    for (int k = 0; k < 4; k++) b.p[4 + 4 * i + k] = (uint8_t)(hdr[i] >> (8 * k));
  tw__sha256(b.p + BLOB_HEADER, b.n - BLOB_HEADER, b.p + 12);
  *out = b.p;
  *len = b.n;
  return TW_OK;
}

/* ---- reader ------------------------------------------------------------- */

typedef struct rd {
  const uint8_t *p, *end;
} rd;

static bool get32(rd *r, uint32_t *v) {
  if (r->end - r->p < 4) return false;
  *v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
       (uint32_t)r->p[3] << 24;
  r->p += 4;
  return true;
}

static tw_status bad(tw_error *err, const char *why) {
  return tw__error_set(err, TW_MALFORMED, SIZE_MAX,
                       "corrupt compiled-module blob: %s", why);
}

/* Reads one body's code, translating op numbers back to handlers and
 * checking that instructions tile the body exactly. */
static tw_status get_code(rd *r, tw__code **out, tw_error *err) {
  uint32_t hdr[5];
  for (int i = 0; i < 5; i++)
    if (!get32(r, &hdr[i])) return bad(err, "truncated function header");
  uint32_t nwords = hdr[0];
  if ((size_t)(r->end - r->p) / 4 < nwords) return bad(err, "truncated code");
  if (hdr[3] < hdr[1] || hdr[4] < hdr[3] || hdr[4] < hdr[2])
    return bad(err, "inconsistent frame layout");
  tw__code *code = calloc(1, sizeof *code);
  uint32_t *words = malloc((nwords ? nwords : 1) * sizeof *words);
  if (!code || !words) {
    free(code);
    free(words);
    return tw__error_set(err, TW_NOMEM, SIZE_MAX, "out of memory");
  }
  for (uint32_t i = 0; i < nwords; i++) get32(r, &words[i]);
  for (uint32_t i = 0; i < nwords;) {
    uint32_t op = words[i];
    uint64_t len = checked_length(op, words + i, nwords - i);
    if (len == 0 || words[i + 1] != 0) {
      free(code);
      free(words);
      return bad(err, "invalid instruction");
    }
    uint64_t h = tw__interp_handler((tw__iop)op);
    memcpy(words + i, &h, 8);
    i += (uint32_t)len;
  }
  code->words = words;
  code->nwords = nwords;
  code->nparams = hdr[1];
  code->nresults = hdr[2];
  code->nlocals = hdr[3];
  code->frame_size = hdr[4];
  *out = code;
  return TW_OK;
}

static tw_status check_header(const uint8_t *blob, size_t len, tw_error *err) {
  if (len < BLOB_HEADER + 8 || memcmp(blob, BLOB_MAGIC, 4) != 0)
    return bad(err, "not a TensorWasm compiled-module blob");
  rd r = {blob + 4, blob + len};
  uint32_t format = 0, id = 0;
  get32(&r, &format);
  get32(&r, &id);
  if (format != BLOB_FORMAT || id != build_id())
    return tw__error_set(err, TW_UNSUPPORTED, SIZE_MAX,
                         "compiled-module blob from another engine build "
                         "(format %u, build %08x; this is %u, %08x)",
                         format, id, BLOB_FORMAT, build_id());
  uint8_t sum[32];
  tw__sha256(blob + BLOB_HEADER, len - BLOB_HEADER, sum);
  if (memcmp(sum, blob + 12, 32) != 0) return bad(err, "checksum mismatch");
  return TW_OK;
}

tw_status tw_module_deserialize(tw_engine_t *engine, const uint8_t *blob,
                                size_t len, tw_module_t **out, tw_error *err) {
  if (!engine || !blob || !out)
    return tw__error_set(err, TW_ARG, SIZE_MAX,
                         "tw_module_deserialize: NULL argument");
  *out = NULL;
  tw_status st = check_header(blob, len, err);
  if (st != TW_OK) return st;
  rd r = {blob + BLOB_HEADER, blob + len};
  uint32_t lo = 0, hi = 0, nbodies = 0;
  if (r.end - r.p < 32) return bad(err, "truncated module hash");
  const uint8_t *hash = r.p;
  r.p += 32;
  get32(&r, &lo);
  get32(&r, &hi);
  uint64_t nbytes = (uint64_t)hi << 32 | lo;
  if ((uint64_t)(r.end - r.p) < nbytes) return bad(err, "truncated module");
  tw_module_t *mod;
  st = tw__module_begin(engine, r.p, (size_t)nbytes, &mod, err);
  if (st != TW_OK) return st;
  r.p += nbytes;
  tw__module *m = &mod->m;
  /* The checksum says the blob is what was written, not that the writer
   * was honest: the structure the runtime walks is checked again (cheap;
   * bodies are not re-validated — their compiled code is the blob's). */
  if ((st = tw__module_validate_structure(m, err)) != TW_OK) goto fail;
  if (!get32(&r, &nbodies) || nbodies != m->nfuncs - m->nfunc_imports) {
    st = bad(err, "function count does not match the module");
    goto fail;
  }
  for (uint32_t i = 0; i < nbodies; i++) {
    st = get_code(&r, &m->bodies[i].compiled, err);
    if (st != TW_OK) goto fail;
    const tw__functype *t = &m->types[m->func_types[m->nfunc_imports + i]];
    const tw__code *c = m->bodies[i].compiled;
    if (c->nparams != t->nparams || c->nresults != t->nresults ||
        c->nlocals != t->nparams + m->bodies[i].nlocals) {
      st = bad(err, "function signature does not match the module");
      goto fail;
    }
  }
  if (r.p != r.end) {
    st = bad(err, "trailing bytes");
    goto fail;
  }
  st = tw__intern_types(mod, err);
  if (st != TW_OK) goto fail;
  memcpy(mod->hash, hash, 32);
  *out = mod;
  return TW_OK;
fail:
  tw__module_abort(mod);
  return st;
}

void tw_module_hash(const tw_module_t *mod, uint8_t out[32]) {
  memcpy(out, mod->hash, 32);
}

uint32_t tw_module_min_memory_pages(const tw_module_t *mod) {
  return mod && mod->m.nmems ? mod->m.mems[0].min : 0;
}

/* ---- debugging ---------------------------------------------------------- */

#include <stdio.h>

#include "wasm/op_names.h"

void tw__code_dump(FILE *out, const tw__code *code) {
  fprintf(out, "  params %u results %u locals %u frame %u\n", code->nparams,
          code->nresults, code->nlocals, code->frame_size);
  for (size_t i = 0; i < code->nwords;) {
    uint64_t h;
    memcpy(&h, code->words + i, 8);
    tw__iop op = op_of(h);
    uint32_t len = tw__iop_length(op, code->words + i);
    fprintf(out, "  %5zu  %-22s", i, tw__iop_name(op));
    for (uint32_t k = 2; k < len; k++) fprintf(out, " %d", (int32_t)code->words[i + k]);
    fputc('\n', out);
    i += len;
  }
}
