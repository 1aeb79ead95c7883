/* What the snapshot folder shares: the file layout, the restore plan and
 * small helpers.  docs/SNAPSHOTS.md describes the format for readers.
 *
 * File layout (little-endian; offsets in bytes):
 *
 *   header   TW__SNAP_HEADER_SIZE bytes at 0 (fields at the offsets below)
 *   meta     at header_size: globals, tables, segments, device buffer
 *            index, initialiser name (in that order, consumed exactly)
 *   device   device buffer bytes, each entry an (offset, len) inside it
 *   padding  zeros up to the memory image
 *   memory   memory_pages * 64 KiB at a multiple of TW__SNAP_ALIGN, so
 *            any host page size up to 64 KiB can map it
 *   sha256   32 bytes: SHA-256 of everything before it
 *
 * The regions follow each other in this order without overlapping, and
 * the memory image ends where the checksum begins.  The reader checks
 * all of that before it uses a single offset. */
#ifndef TW_SNAPSHOT_INT_H
#define TW_SNAPSHOT_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "tensorwasm/snapshot.h"

#define TW__SNAP_MAGIC "TWSNAP\r\n"
#define TW__SNAP_VERSION 1u
#define TW__SNAP_HEADER_SIZE 192u
#define TW__SNAP_SUM_SIZE 32u
#define TW__SNAP_ALIGN 65536u
#define TW__SNAP_PAGE 65536u
#define TW__SNAP_ENGINE_LEN 32u
#define TW__SNAP_NAME_MAX 255u

/* Header field offsets. */
enum {
  TW__SH_MAGIC = 0,           /* u8[8] */
  TW__SH_VERSION = 8,         /* u32 */
  TW__SH_HEADER_SIZE = 12,    /* u32 */
  TW__SH_FILE_SIZE = 16,      /* u64 */
  TW__SH_MODULE_HASH = 24,    /* u8[32] */
  TW__SH_ENGINE = 56,         /* char[32], NUL padded */
  TW__SH_CREATED_MS = 88,     /* u64 */
  TW__SH_MEMORY_PAGES = 96,   /* u32 */
  TW__SH_FLAGS = 100,         /* u32: TW__SNAP_HAS_MEMORY */
  TW__SH_NGLOBALS = 104,      /* u32 */
  TW__SH_NTABLES = 108,       /* u32 */
  TW__SH_NDATA = 112,         /* u32 */
  TW__SH_NELEM = 116,         /* u32 */
  TW__SH_NDEVICE = 120,       /* u32 */
  TW__SH_NAME_LEN = 124,      /* u32 */
  TW__SH_META_OFF = 128,      /* u64 */
  TW__SH_META_LEN = 136,      /* u64 */
  TW__SH_DEVICE_OFF = 144,    /* u64 */
  TW__SH_DEVICE_LEN = 152,    /* u64 */
  TW__SH_MEMORY_OFF = 160,    /* u64 */
  TW__SH_MEMORY_LEN = 168,    /* u64 */
  TW__SH_RESERVED = 176       /* 16 bytes, zero */
};

#define TW__SNAP_HAS_MEMORY 1u

/* Meta records. */
#define TW__SNAP_GLOBAL_REC 16u  /* u32 index, u8 type, u8[3] 0, u64 value */
#define TW__SNAP_TABLE_REC 16u   /* u32 index, u8 elem, u8[3] 0, u32 size,
                                    u32 nentries; then nentries x
                                    (u32 slot, u32 func) */
#define TW__SNAP_ENTRY_REC 8u
#define TW__SNAP_DEVICE_REC 32u  /* u32 device, u32 0, u64 handle,
                                    u64 offset in device region, u64 len */
#define TW__SNAP_NULL_REF UINT64_MAX /* a null funcref/externref value */

/* ---- the restore plan ------------------------------------------------------ */

typedef struct tw__snap_global {
  uint32_t index;     /* in the instance's global index space */
  uint8_t type;       /* tw_valtype */
  uint64_t value;     /* bits; funcref: function index or NULL_REF */
} tw__snap_global;

typedef struct tw__snap_table {
  uint32_t index;     /* in the table index space */
  uint8_t elem;       /* TW_FUNCREF or TW_EXTERNREF */
  uint32_t size;
  uint32_t first;     /* its entries: entries[first .. first + count) */
  uint32_t count;
} tw__snap_table;

typedef struct tw__snap_entry {
  uint32_t slot;
  uint32_t func;      /* function index in the instance */
} tw__snap_entry;

struct tw_snapshot {
  tw_module_t *module;          /* borrowed, outlives the snapshot */
  int fd;                       /* holds the memory image; -1 when none */
  uint64_t mem_offset;          /* of the image in fd */
  uint32_t mem_pages;
  bool has_memory;
  uint64_t input_len;           /* the snapshot's size in bytes */
  uint64_t created_ms;
  uint8_t module_hash[32];
  char init_name[TW__SNAP_NAME_MAX + 1];
  uint32_t nglobals;
  tw__snap_global *globals;
  uint32_t ntables;
  tw__snap_table *tables;
  uint32_t nentries;
  tw__snap_entry *entries;
  uint32_t ndata, nelem;
  uint8_t *data_dropped;        /* ndata flags, then nelem flags */
  uint8_t *elem_dropped;
  uint32_t ndevice;
  tw_snapshot_device_buffer *devices; /* data points into device_data */
  uint8_t *device_data;
  /* Set by the first restore that found the plan fits the instance; the
   * module is fixed, so one check covers every later restore. */
  atomic_bool shape_checked;
};

/* ---- helpers ------------------------------------------------------------- */

/* Fills err (may be NULL) with kind, its status and a printf message;
 * returns the status. */
tw_status tw__snap_fail(tw_snapshot_error *err, tw_snapshot_error_kind kind,
                        const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same keeping an engine error (status, trap, backtrace) and prefixing
 * its message. */
tw_status tw__snap_fail_engine(tw_snapshot_error *err,
                               tw_snapshot_error_kind kind,
                               const tw_error *cause, const char *what);

/* The engine version written into and required of every snapshot. */
const char *tw__snap_engine_version(void);

/* Builds the plan from a whole snapshot in memory (borrowed); the memory
 * image stays in `buf` at plan->mem_offset and plan->fd is -1. */
tw_status tw__snap_parse(const uint8_t *buf, uint64_t len,
                         tw_module_t *module, tw_snapshot_t **out,
                         tw_snapshot_error *err);

static inline uint32_t tw__rd32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}
static inline uint64_t tw__rd64(const uint8_t *p) {
  return (uint64_t)tw__rd32(p) | (uint64_t)tw__rd32(p + 4) << 32;
}
static inline void tw__wr32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void tw__wr64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

#endif
