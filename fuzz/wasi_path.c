/* Fuzz target `wasi_path`: WASI path resolution and the preopen sandbox.
 *
 * The input is a program of WASI calls (path_open, path_create_directory,
 * path_remove_directory, path_unlink_file, path_rename, path_symlink,
 * path_readlink, path_link, path_filestat_get, path_filestat_set_times,
 * fd_close, fd_read, fd_write, fd_readdir, fd_prestat_*, fd_renumber,
 * fd_fdstat_set_rights) made straight on the host implementations
 * (tw__wasi_*), the way the import trampoline in src/wasi/wasi.c calls
 * them: a tw__wasi_call whose guest memory is a malloc'd buffer of
 * exactly MEM_SIZE bytes, so AddressSanitizer sees any access outside it
 * (a wasm memory would hide overruns in its guard region).  No engine is
 * involved; the engine's side of the boundary is the trampoline's three
 * lines.
 *
 * Paths are either raw fuzz bytes or built from tokens that matter to the
 * sandbox ("..", ".", "/", names of the fixture's symlinks that point
 * up, out and around); pointers and lengths are sometimes raw, to test
 * the bounds checks.
 *
 * Fixture, rebuilt for every input under one mkdtemp directory BASE (in
 * $TMPDIR; scripts/fuzz points that at /dev/shm: a tmpfs runs this target
 * several times faster than a disk):
 *   BASE/root/        the read-write preopen, guest fd 3 ("/sandbox")
 *     a.txt sub/b.txt sub/deeper/  and symlinks
 *     up -> ..  esc -> ../outside  escf -> ../outside/secret
 *     abs -> /  in -> sub  loop -> loop  dang -> nothing  tro -> ../ro
 *   BASE/ro/          a read-only preopen, guest fd 4 ("/ro"): r.txt, d/
 *   BASE/outside/     never reachable: secret, dir/
 *
 * Oracles besides the sanitizers:
 *  - no fd the guest gets refers to BASE, BASE/outside or anything in it
 *    (checked by device and inode after every call that can create one);
 *  - after the program, BASE holds exactly root, ro and outside, and
 *    every object under ro/ and outside/ is unchanged (type, mode, size,
 *    link count, mtime, ctime and link text);
 *  - no call returns an errno outside the WASI list. */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "tensorwasm/wasi.h"
#include "wasi/wasi_int.h"

#define MEM_SIZE 65536u
#define SCRATCH 0x8000u  /* where fixed-size outputs go */
#define MAX_OPS 64
#define MAX_SNAP 64

static char base[64], root[96], ro[96], outside[96];

/* ---- fixture ---------------------------------------------------------- */

typedef struct snap {
  char path[160];
  struct stat st;
  char link[64];
} snap;
static snap frozen[MAX_SNAP];
static size_t nfrozen;
static struct { dev_t dev; ino_t ino; } forbidden[MAX_SNAP];
static size_t nforbidden;

static void mkfile(const char *dir, const char *name, const char *text) {
  char p[192];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || write(fd, text, strlen(text)) < 0) abort();
  close(fd);
}

static void mkdirp(const char *dir, const char *name) {
  char p[192];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  if (mkdir(p, 0755) != 0) abort();
}

static void mklink(const char *dir, const char *name, const char *target) {
  char p[192];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  if (symlink(target, p) != 0) abort();
}

static void snap_one(const char *path) {
  if (nfrozen == MAX_SNAP) abort();
  snap *s = &frozen[nfrozen++];
  snprintf(s->path, sizeof s->path, "%s", path);
  if (lstat(path, &s->st) != 0) abort();
  s->link[0] = 0;
  if (S_ISLNK(s->st.st_mode)) {
    ssize_t n = readlink(path, s->link, sizeof s->link - 1);
    s->link[n > 0 ? n : 0] = 0;
  }
  forbidden[nforbidden].dev = s->st.st_dev;
  forbidden[nforbidden].ino = s->st.st_ino;
  nforbidden += strncmp(path, outside, strlen(outside)) == 0 ||
                strcmp(path, base) == 0;
}

static int rm_entry(const char *p, const struct stat *st, int flag,
                    struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  remove(p); /* never chmod here: through a symlink it would reach out */
  return 0;
}

static void root_build(void) {
  nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  if (mkdir(root, 0755) != 0) abort();
  mkfile(root, "a.txt", "inside a\n");
  mkdirp(root, "sub");
  mkfile(root, "sub/b.txt", "inside b\n");
  mkdirp(root, "sub/deeper");
  mklink(root, "up", "..");
  mklink(root, "esc", "../outside");
  mklink(root, "escf", "../outside/secret");
  mklink(root, "abs", "/");
  mklink(root, "in", "sub");
  mklink(root, "loop", "loop");
  mklink(root, "dang", "nothing");
  mklink(root, "tro", "../ro");
  mklink(root, "sub/upup", "../..");
}

static void cleanup(void) { nftw(base, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

static void setup(void) {
  const char *tmp = getenv("TMPDIR");
  snprintf(base, sizeof base, "%s/tw-fuzz-wasi-XXXXXX",
           tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(base)) abort();
  atexit(cleanup);
  snprintf(root, sizeof root, "%s/root", base);
  snprintf(ro, sizeof ro, "%s/ro", base);
  snprintf(outside, sizeof outside, "%s/outside", base);
  if (mkdir(ro, 0755) || mkdir(outside, 0755)) abort();
  mkfile(ro, "r.txt", "read only\n");
  mkdirp(ro, "d");
  mklink(ro, "out", "../outside");
  mkfile(outside, "secret", "OUTSIDE\n");
  mkdirp(outside, "dir");
  mkfile(outside, "dir/x", "OUTSIDE x\n");
  root_build();
  static const char *const names[] = {"", "/ro", "/ro/r.txt", "/ro/d",
                                      "/ro/out", "/outside", "/outside/secret",
                                      "/outside/dir", "/outside/dir/x"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    char p[160];
    snprintf(p, sizeof p, "%s%s", base, names[i]);
    snap_one(p);
  }
}

static void check_frozen(void) {
  for (size_t i = 0; i < nfrozen; i++) {
    const snap *s = &frozen[i];
    struct stat st;
    FUZZ_CHECK(lstat(s->path, &st) == 0, "%s is gone", s->path);
    if (strcmp(s->path, base) == 0) continue; /* only its entries matter */
    FUZZ_CHECK(st.st_ino == s->st.st_ino && st.st_mode == s->st.st_mode &&
                   st.st_size == s->st.st_size &&
                   st.st_nlink == s->st.st_nlink &&
                   st.st_mtim.tv_sec == s->st.st_mtim.tv_sec &&
                   st.st_mtim.tv_nsec == s->st.st_mtim.tv_nsec &&
                   st.st_ctim.tv_sec == s->st.st_ctim.tv_sec &&
                   st.st_ctim.tv_nsec == s->st.st_ctim.tv_nsec,
               "%s changed outside the sandbox (ino %lu/%lu mode %o/%o size "
               "%ld/%ld nlink %lu/%lu mtime %ld.%09ld/%ld.%09ld ctime "
               "%ld.%09ld/%ld.%09ld)",
               s->path, (unsigned long)s->st.st_ino, (unsigned long)st.st_ino,
               s->st.st_mode, st.st_mode, (long)s->st.st_size,
               (long)st.st_size, (unsigned long)s->st.st_nlink,
               (unsigned long)st.st_nlink, (long)s->st.st_mtim.tv_sec,
               s->st.st_mtim.tv_nsec, (long)st.st_mtim.tv_sec,
               st.st_mtim.tv_nsec, (long)s->st.st_ctim.tv_sec,
               s->st.st_ctim.tv_nsec, (long)st.st_ctim.tv_sec,
               st.st_ctim.tv_nsec);
    if (S_ISLNK(st.st_mode)) {
      char l[64];
      ssize_t n = readlink(s->path, l, sizeof l - 1);
      l[n > 0 ? n : 0] = 0;
      FUZZ_CHECK(strcmp(l, s->link) == 0, "link %s changed", s->path);
    }
  }
  DIR *d = opendir(base);
  if (!d) abort();
  struct dirent *e;
  while ((e = readdir(d))) {
    const char *n = e->d_name;
    FUZZ_CHECK(!strcmp(n, ".") || !strcmp(n, "..") || !strcmp(n, "root") ||
                   !strcmp(n, "ro") || !strcmp(n, "outside"),
               "'%s' appeared next to the preopens", n);
  }
  closedir(d);
}

/* ---- calls -------------------------------------------------------------- */

typedef struct prog {
  fuzz_in in;
  tw__wasi_call call;
  uint8_t *mem;
  uint32_t path_at; /* next free place for a path in memory */
  uint32_t last_fd;
} prog;

static const char *const tokens[] = {
    "..", ".", "", "a.txt", "sub", "up", "esc", "escf", "abs", "in",
    "loop", "dang", "tro", "new", "b.txt", "deeper", "upup", "secret",
    "outside", "root", "x", "r.txt", "d", "out"};
#define NTOKENS (sizeof tokens / sizeof tokens[0])

/* Writes a path into guest memory; *ptr and *len get where it is. */
static void path_arg(prog *g, uint32_t *ptr, uint32_t *len) {
  uint8_t mode = fuzz_u8(&g->in);
  if ((mode & 0xe0) == 0xe0) { /* raw pointer and length */
    *ptr = fuzz_u32(&g->in);
    *len = fuzz_u32(&g->in) & (mode & 1 ? 0xffffffffu : 0xffffu);
    return;
  }
  char buf[512];
  size_t n = 0;
  if (mode & 0x80) { /* raw bytes */
    n = mode & 0x7f;
    for (size_t i = 0; i < n; i++) buf[i] = (char)fuzz_u8(&g->in);
  } else { /* tokens joined by '/' (mode bit 6: leading '/') */
    size_t k = 1 + (mode & 7);
    if (mode & 0x40) buf[n++] = '/';
    for (size_t i = 0; i < k; i++) {
      const char *t = tokens[fuzz_u8(&g->in) % NTOKENS];
      size_t tl = strlen(t);
      if (i) buf[n++] = '/';
      memcpy(buf + n, t, tl);
      n += tl;
    }
    if (mode & 0x20) buf[n++] = '/';
  }
  if (g->path_at + n > SCRATCH) g->path_at = 0;
  memcpy(g->mem + g->path_at, buf, n);
  *ptr = g->path_at;
  *len = (uint32_t)n;
  g->path_at += (uint32_t)n;
}

static uint32_t fd_arg(prog *g) {
  uint8_t b = fuzz_u8(&g->in);
  switch (b & 3) {
  case 0: return 3;
  case 1: return 4;
  case 2: return g->last_fd;
  default: return b >> 2;
  }
}

/* An output pointer: usually the scratch area, sometimes raw. */
static uint32_t out_arg(prog *g, uint32_t size) {
  (void)size;
  uint8_t b = fuzz_u8(&g->in);
  if (b == 0xff) return fuzz_u32(&g->in);
  return SCRATCH + (uint32_t)(b % 64) * 64;
}

static void check_fd(prog *g, uint32_t fd) {
  tw__wasi_fd *e;
  if (tw__wasi_fd_get(g->call.wasi, fd, 0, &e) != 0 || e->host < 0) return;
  struct stat st;
  if (fstat(e->host, &st) != 0) return;
  for (size_t i = 0; i < nforbidden; i++)
    FUZZ_CHECK(st.st_dev != forbidden[i].dev || st.st_ino != forbidden[i].ino,
               "guest fd %u refers to an object outside its preopens", fd);
}

static void check_all_fds(prog *g) {
  for (uint32_t fd = 0; fd < g->call.wasi->nfds; fd++) check_fd(g, fd);
}

static void one_call(prog *g) {
  uint64_t a[9] = {0};
  uint32_t p = 0, l = 0, p2 = 0, l2 = 0;
  uint8_t op = fuzz_u8(&g->in) % 18;
  uint16_t r = 0;
  tw__wasi_call *c = &g->call;
  switch (op) {
  case 0: /* path_open */
    a[0] = fd_arg(g);
    a[1] = fuzz_u8(&g->in) & 1;
    path_arg(g, &p, &l), a[2] = p, a[3] = l;
    a[4] = fuzz_u8(&g->in) & 0x1f;
    a[5] = fuzz_u8(&g->in) & 1 ? TW_WASI_RIGHTS_ALL : fuzz_u64(&g->in);
    a[6] = fuzz_u8(&g->in) & 1 ? TW_WASI_RIGHTS_ALL : fuzz_u64(&g->in);
    a[7] = fuzz_u8(&g->in) & 0x3f;
    a[8] = out_arg(g, 4);
    r = tw__wasi_path_open(c, a);
    if (r == 0) {
      g->last_fd = tw__wasi_get_u32(g->mem + a[8]);
      check_fd(g, g->last_fd);
    }
    break;
  case 1:
  case 2:
  case 3:
    a[0] = fd_arg(g);
    path_arg(g, &p, &l), a[1] = p, a[2] = l;
    r = op == 1   ? tw__wasi_path_create_directory(c, a)
        : op == 2 ? tw__wasi_path_remove_directory(c, a)
                  : tw__wasi_path_unlink_file(c, a);
    break;
  case 4: /* path_rename */
    a[0] = fd_arg(g);
    path_arg(g, &p, &l), a[1] = p, a[2] = l;
    a[3] = fd_arg(g);
    path_arg(g, &p2, &l2), a[4] = p2, a[5] = l2;
    r = tw__wasi_path_rename(c, a);
    break;
  case 5: /* path_symlink */
    path_arg(g, &p, &l), a[0] = p, a[1] = l;
    a[2] = fd_arg(g);
    path_arg(g, &p2, &l2), a[3] = p2, a[4] = l2;
    r = tw__wasi_path_symlink(c, a);
    break;
  case 6: /* path_readlink */
    a[0] = fd_arg(g);
    path_arg(g, &p, &l), a[1] = p, a[2] = l;
    a[3] = out_arg(g, 64);
    a[4] = fuzz_u8(&g->in) == 0xff ? fuzz_u32(&g->in) : fuzz_u8(&g->in);
    a[5] = out_arg(g, 4);
    r = tw__wasi_path_readlink(c, a);
    break;
  case 7: /* path_link */
    a[0] = fd_arg(g);
    a[1] = fuzz_u8(&g->in) & 1;
    path_arg(g, &p, &l), a[2] = p, a[3] = l;
    a[4] = fd_arg(g);
    path_arg(g, &p2, &l2), a[5] = p2, a[6] = l2;
    r = tw__wasi_path_link(c, a);
    break;
  case 8: /* path_filestat_get */
    a[0] = fd_arg(g);
    a[1] = fuzz_u8(&g->in) & 1;
    path_arg(g, &p, &l), a[2] = p, a[3] = l;
    a[4] = out_arg(g, 64);
    r = tw__wasi_path_filestat_get(c, a);
    break;
  case 9: /* path_filestat_set_times */
    a[0] = fd_arg(g);
    a[1] = fuzz_u8(&g->in) & 1;
    path_arg(g, &p, &l), a[2] = p, a[3] = l;
    a[4] = fuzz_u32(&g->in);
    a[5] = fuzz_u32(&g->in);
    a[6] = fuzz_u8(&g->in) & 0x1f;
    r = tw__wasi_path_filestat_set_times(c, a);
    break;
  case 10: /* fd_close */
    a[0] = fd_arg(g);
    r = tw__wasi_fd_close(c, a);
    break;
  case 11:
  case 12: { /* fd_read / fd_write: one iovec in scratch */
    uint32_t iov = SCRATCH + 0x1000, buf = SCRATCH + 0x1100;
    uint32_t n = fuzz_u8(&g->in);
    tw__wasi_put_u32(g->mem + iov, fuzz_u8(&g->in) == 0xff ? fuzz_u32(&g->in) : buf);
    tw__wasi_put_u32(g->mem + iov + 4, n);
    a[0] = fd_arg(g);
    a[1] = iov;
    a[2] = 1 + (fuzz_u8(&g->in) == 0xff);
    a[3] = out_arg(g, 4);
    r = op == 11 ? tw__wasi_fd_read(c, a) : tw__wasi_fd_write(c, a);
    break;
  }
  case 13: /* fd_readdir */
    a[0] = fd_arg(g);
    a[1] = out_arg(g, 256);
    a[2] = fuzz_u8(&g->in) == 0xff ? fuzz_u32(&g->in) : fuzz_u8(&g->in);
    a[3] = fuzz_u8(&g->in) & 7;
    a[4] = out_arg(g, 4);
    r = tw__wasi_fd_readdir(c, a);
    break;
  case 14: /* fd_prestat_get + fd_prestat_dir_name */
    a[0] = fd_arg(g);
    a[1] = out_arg(g, 8);
    r = tw__wasi_fd_prestat_get(c, a);
    a[1] = out_arg(g, 64);
    a[2] = fuzz_u8(&g->in) == 0xff ? fuzz_u32(&g->in) : fuzz_u8(&g->in) & 15;
    r = tw__wasi_fd_prestat_dir_name(c, a);
    break;
  case 15: /* fd_renumber */
    a[0] = fd_arg(g);
    a[1] = fd_arg(g);
    r = tw__wasi_fd_renumber(c, a);
    break;
  case 16: /* fd_fdstat_set_rights */
    a[0] = fd_arg(g);
    a[1] = fuzz_u64(&g->in);
    a[2] = fuzz_u64(&g->in);
    r = tw__wasi_fd_fdstat_set_rights(c, a);
    break;
  default: /* fd_filestat_get */
    a[0] = fd_arg(g);
    a[1] = out_arg(g, 64);
    r = tw__wasi_fd_filestat_get(c, a);
    break;
  }
  if (getenv("FUZZ_TRACE")) { /* what each call did, for reading a finding */
    fprintf(stderr, "op %2u (", op);
    for (int i = 0; i < 9; i++) fprintf(stderr, "%s%#llx", i ? " " : "", (unsigned long long)a[i]);
    fprintf(stderr, ") -> %s\n", tw__wasi_errno_name(r));
  }
  FUZZ_CHECK(r <= TW_WASI_ENOTCAPABLE, "op %u returned errno %u", op, r);
  if (op == 0 || op == 15) check_all_fds(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static bool ready;
  if (!ready) {
    setup();
    ready = true;
  }
  tw_wasi_preopen pre[2] = {{root, "/sandbox", false}, {ro, "/ro", true}};
  tw_wasi_config cfg = {.preopens = pre, .npreopens = 2};
  tw_wasi_t *w;
  tw_error err;
  if (tw_wasi_new(&cfg, &w, &err) != TW_OK) abort();
  prog g = {.in = {data, data + size}, .last_fd = 3};
  g.mem = calloc(1, MEM_SIZE);
  if (!g.mem) abort();
  g.call = (tw__wasi_call){.wasi = w, .mem = g.mem, .mem_size = MEM_SIZE};
  for (int i = 0; i < MAX_OPS && fuzz_left(&g.in); i++) one_call(&g);
  check_all_fds(&g);
  tw_wasi_free(w);
  free(g.mem);
  check_frozen();
  root_build();
  return 0;
}
