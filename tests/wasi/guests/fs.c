/* Exercises the fd_* and path_* functions on preopen fd 3 ("/sandbox", a
 * fresh empty directory) through the raw WASI calls, then the same ground
 * through wasi-libc.  Every step checks its own result (see check.h). */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

#define DIRFD 3
#define E(x) __WASI_ERRNO_##x

static __wasi_errno_t put(__wasi_fd_t fd, const char *s, __wasi_size_t *n) {
  __wasi_ciovec_t iov = {(const uint8_t *)s, strlen(s)};
  return __wasi_fd_write(fd, &iov, 1, n);
}

static __wasi_errno_t get(__wasi_fd_t fd, char *buf, size_t cap, __wasi_size_t *n) {
  __wasi_iovec_t iov = {(uint8_t *)buf, cap};
  __wasi_errno_t e = __wasi_fd_read(fd, &iov, 1, n);
  if (e == 0) buf[*n] = 0;
  return e;
}

static void prestat(void) {
  __wasi_prestat_t ps;
  char name[64] = {0};
  CHECK_EQ("prestat_get", __wasi_fd_prestat_get(DIRFD, &ps), 0);
  CHECK_EQ("prestat_tag", ps.tag, __WASI_PREOPENTYPE_DIR);
  CHECK_EQ("prestat_len", ps.u.dir.pr_name_len, strlen("/sandbox"));
  CHECK_EQ("prestat_dir_name", __wasi_fd_prestat_dir_name(DIRFD, (uint8_t *)name, ps.u.dir.pr_name_len), 0);
  CHECK_STR("prestat_name", name, "/sandbox");
  CHECK_EQ("prestat_dir_name_short", __wasi_fd_prestat_dir_name(DIRFD, (uint8_t *)name, 2), E(NAMETOOLONG));
  CHECK_EQ("prestat_not_preopen", __wasi_fd_prestat_get(1, &ps), E(BADF));
  CHECK_EQ("prestat_closed", __wasi_fd_prestat_get(99, &ps), E(BADF));
}

static void file_io(void) {
  __wasi_fd_t fd;
  __wasi_size_t n;
  __wasi_filesize_t pos;
  char buf[64];
  CHECK_EQ("open_create", open_at(DIRFD, "f.txt", __WASI_OFLAGS_CREAT | __WASI_OFLAGS_TRUNC, ALL_RIGHTS, &fd), 0);
  __wasi_fd_t other;
  CHECK_EQ("open_excl", open_at(DIRFD, "f.txt", __WASI_OFLAGS_CREAT | __WASI_OFLAGS_EXCL, ALL_RIGHTS, &other), E(EXIST));
  CHECK_EQ("write", put(fd, "hello world\n", &n), 0);
  CHECK_EQ("write_count", n, 12);
  CHECK_EQ("tell", __wasi_fd_tell(fd, &pos), 0);
  CHECK_EQ("tell_pos", pos, 12);
  CHECK_EQ("seek_set", __wasi_fd_seek(fd, 0, __WASI_WHENCE_SET, &pos), 0);
  CHECK_EQ("seek_set_pos", pos, 0);
  CHECK_EQ("read", get(fd, buf, 5, &n), 0);
  CHECK_STR("read_data", buf, "hello");
  CHECK_EQ("seek_end", __wasi_fd_seek(fd, -6, __WASI_WHENCE_END, &pos), 0);
  CHECK_EQ("seek_end_pos", pos, 6);
  CHECK_EQ("seek_cur", __wasi_fd_seek(fd, 1, __WASI_WHENCE_CUR, &pos), 0);
  CHECK_EQ("seek_cur_pos", pos, 7);
  CHECK_EQ("read2", get(fd, buf, sizeof buf - 1, &n), 0);
  CHECK_STR("read2_data", buf, "orld\n");
  CHECK_EQ("read_eof", get(fd, buf, sizeof buf - 1, &n), 0);
  CHECK_EQ("read_eof_n", n, 0);
  CHECK_EQ("seek_bad_whence", __wasi_fd_seek(fd, 0, 7, &pos), E(INVAL));
  CHECK_EQ("seek_negative", __wasi_fd_seek(fd, -100, __WASI_WHENCE_SET, &pos), E(INVAL));

  __wasi_ciovec_t w = {(const uint8_t *)"HELLO", 5};
  CHECK_EQ("pwrite", __wasi_fd_pwrite(fd, &w, 1, 0, &n), 0);
  __wasi_iovec_t r[2] = {{(uint8_t *)buf, 2}, {(uint8_t *)buf + 2, 3}};
  CHECK_EQ("pread", __wasi_fd_pread(fd, r, 2, 0, &n), 0);
  buf[n] = 0;
  CHECK_STR("pread_data", buf, "HELLO");
  CHECK_EQ("pread_keeps_pos", __wasi_fd_tell(fd, &pos) == 0 && pos == 12, 1);

  __wasi_filestat_t st;
  CHECK_EQ("filestat", __wasi_fd_filestat_get(fd, &st), 0);
  CHECK_EQ("filestat_type", st.filetype, __WASI_FILETYPE_REGULAR_FILE);
  CHECK_EQ("filestat_size", st.size, 12);
  CHECK_EQ("filestat_nlink", st.nlink, 1);
  CHECK_EQ("set_size", __wasi_fd_filestat_set_size(fd, 4), 0);
  CHECK_EQ("set_size_now", __wasi_fd_filestat_get(fd, &st) == 0 && st.size == 4, 1);
  CHECK_EQ("allocate", __wasi_fd_allocate(fd, 0, 100), 0);
  CHECK_EQ("allocate_size", __wasi_fd_filestat_get(fd, &st) == 0 && st.size == 100, 1);
  CHECK_EQ("advise", __wasi_fd_advise(fd, 0, 0, __WASI_ADVICE_SEQUENTIAL), 0);
  CHECK_EQ("advise_bad", __wasi_fd_advise(fd, 0, 0, 9), E(INVAL));
  CHECK_EQ("sync", __wasi_fd_sync(fd), 0);
  CHECK_EQ("datasync", __wasi_fd_datasync(fd), 0);

  CHECK_EQ("set_times", __wasi_fd_filestat_set_times(fd, 1000000000000ull, 2000000000123ull,
           __WASI_FSTFLAGS_ATIM | __WASI_FSTFLAGS_MTIM), 0);
  CHECK_EQ("set_times_read", __wasi_fd_filestat_get(fd, &st), 0);
  CHECK_EQ("set_times_atim", st.atim, 1000000000000ull);
  CHECK_EQ("set_times_mtim", st.mtim, 2000000000123ull);
  CHECK_EQ("set_times_conflict", __wasi_fd_filestat_set_times(fd, 0, 0,
           __WASI_FSTFLAGS_ATIM | __WASI_FSTFLAGS_ATIM_NOW), E(INVAL));

  __wasi_fdstat_t fs;
  CHECK_EQ("fdstat", __wasi_fd_fdstat_get(fd, &fs), 0);
  CHECK_EQ("fdstat_type", fs.fs_filetype, __WASI_FILETYPE_REGULAR_FILE);
  CHECK_EQ("fdstat_flags", fs.fs_flags, 0);
  CHECK_EQ("fdstat_rights", fs.fs_rights_base, ALL_RIGHTS);
  CHECK_EQ("set_flags_append", __wasi_fd_fdstat_set_flags(fd, __WASI_FDFLAGS_APPEND), 0);
  CHECK_EQ("fdstat_append", __wasi_fd_fdstat_get(fd, &fs) == 0 && fs.fs_flags == __WASI_FDFLAGS_APPEND, 1);
  CHECK_EQ("seek_start", __wasi_fd_seek(fd, 0, __WASI_WHENCE_SET, &pos), 0);
  CHECK_EQ("append_write", put(fd, "Z", &n), 0);
  CHECK_EQ("append_size", __wasi_fd_filestat_get(fd, &st) == 0 && st.size == 101, 1);
  CHECK_EQ("set_flags_sync", __wasi_fd_fdstat_set_flags(fd, __WASI_FDFLAGS_SYNC), E(NOTSUP));

  __wasi_fd_t fd2;
  CHECK_EQ("open_second", open_at(DIRFD, "g.txt", __WASI_OFLAGS_CREAT, ALL_RIGHTS, &fd2), 0);
  CHECK_EQ("renumber", __wasi_fd_renumber(fd, fd2), 0);
  CHECK_EQ("renumber_old_gone", __wasi_fd_close(fd), E(BADF));
  CHECK_EQ("renumber_new_is_f", __wasi_fd_filestat_get(fd2, &st) == 0 && st.size == 101, 1);
  CHECK_EQ("renumber_closed", __wasi_fd_renumber(fd, fd2), E(BADF));

  CHECK_EQ("drop_write_right", __wasi_fd_fdstat_set_rights(fd2, ALL_RIGHTS & ~__WASI_RIGHTS_FD_WRITE, ALL_RIGHTS), 0);
  CHECK_EQ("write_without_right", put(fd2, "x", &n), E(NOTCAPABLE));
  CHECK_EQ("regain_right", __wasi_fd_fdstat_set_rights(fd2, ALL_RIGHTS, ALL_RIGHTS), E(NOTCAPABLE));
  CHECK_EQ("readdir_on_file", __wasi_fd_readdir(fd2, (uint8_t *)buf, sizeof buf, 0, &n), E(NOTDIR));
  CHECK_EQ("close", __wasi_fd_close(fd2), 0);
  CHECK_EQ("close_again", __wasi_fd_close(fd2), E(BADF));
  CHECK_EQ("write_closed", put(fd2, "x", &n), E(BADF));
}

/* Reads every entry of dir fd `fd` with a buffer of `cap` bytes, resuming
 * from cookies, and returns the names seen as "name:type," in order. */
static void list_dir(__wasi_fd_t fd, size_t cap, char *out, size_t outcap) {
  static uint8_t buf[4096];
  __wasi_dircookie_t cookie = 0;
  out[0] = 0;
  for (int rounds = 0; rounds < 100; rounds++) {
    __wasi_size_t used;
    if (__wasi_fd_readdir(fd, buf, cap, cookie, &used) != 0) return;
    size_t off = 0;
    int complete = 0;
    while (off + sizeof(__wasi_dirent_t) <= used) {
      __wasi_dirent_t d;
      memcpy(&d, buf + off, sizeof d);
      if (off + sizeof d + d.d_namlen > used) break; /* cut: ask again */
      char ent[300];
      snprintf(ent, sizeof ent, "%.*s:%d,", (int)d.d_namlen,
               (const char *)buf + off + sizeof d, d.d_type);
      strncat(out, ent, outcap - strlen(out) - 1);
      off += sizeof d + d.d_namlen;
      cookie = d.d_next;
      complete++;
    }
    if (used < cap) return; /* the end */
    if (!complete) return;  /* buffer too small for one entry */
  }
}

static int has(const char *list, const char *item) { return strstr(list, item) != NULL; }

static void directories(void) {
  __wasi_fd_t d, f;
  __wasi_size_t n;
  char names[1024], names2[1024];
  CHECK_EQ("mkdir", __wasi_path_create_directory(DIRFD, "d"), 0);
  CHECK_EQ("mkdir_exists", __wasi_path_create_directory(DIRFD, "d"), E(EXIST));
  CHECK_EQ("create_a", open_at(DIRFD, "d/a", __WASI_OFLAGS_CREAT, ALL_RIGHTS, &f), 0);
  CHECK_EQ("write_a", put(f, "abc", &n), 0);
  CHECK_EQ("close_a", __wasi_fd_close(f), 0);
  CHECK_EQ("mkdir_sub", __wasi_path_create_directory(DIRFD, "d/sub"), 0);
  CHECK_EQ("open_dir", open_at(DIRFD, "d", __WASI_OFLAGS_DIRECTORY, ALL_RIGHTS, &d), 0);
  CHECK_EQ("open_file_as_dir", open_at(DIRFD, "d/a", __WASI_OFLAGS_DIRECTORY, ALL_RIGHTS, &f), E(NOTDIR));
  list_dir(d, 4096, names, sizeof names);
  CHECK("readdir_dot", has(names, ".:3,"));
  CHECK("readdir_dotdot", has(names, "..:3,"));
  CHECK("readdir_a", has(names, "a:4,"));
  CHECK("readdir_sub", has(names, "sub:3,"));
  list_dir(d, 40, names2, sizeof names2); /* one entry per call, by cookie */
  CHECK_STR("readdir_small_buffer_same", names2, names);
  CHECK_EQ("read_dir_fd", get(d, names2, 10, &n), E(ISDIR));
  CHECK_EQ("open_in_dir_fd", open_at(d, "a", 0, ALL_RIGHTS, &f), 0);
  CHECK_EQ("close_f", __wasi_fd_close(f), 0);
  CHECK_EQ("close_d", __wasi_fd_close(d), 0);

  __wasi_filestat_t st;
  CHECK_EQ("path_filestat", __wasi_path_filestat_get(DIRFD, 0, "d/a", &st), 0);
  CHECK_EQ("path_filestat_size", st.size, 3);
  CHECK_EQ("path_filestat_missing", __wasi_path_filestat_get(DIRFD, 0, "d/nope", &st), E(NOENT));
  CHECK_EQ("path_set_times", __wasi_path_filestat_set_times(DIRFD, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW,
           "d/a", 0, 5000000000ull, __WASI_FSTFLAGS_MTIM), 0);
  CHECK_EQ("path_set_times_read", __wasi_path_filestat_get(DIRFD, 0, "d/a", &st) == 0 && st.mtim == 5000000000ull, 1);

  CHECK_EQ("rename", __wasi_path_rename(DIRFD, "d/a", DIRFD, "d/c"), 0);
  CHECK_EQ("rename_old_gone", __wasi_path_filestat_get(DIRFD, 0, "d/a", &st), E(NOENT));
  CHECK_EQ("rename_new_there", __wasi_path_filestat_get(DIRFD, 0, "d/c", &st), 0);
  CHECK_EQ("rename_missing", __wasi_path_rename(DIRFD, "d/zz", DIRFD, "d/yy"), E(NOENT));

  CHECK_EQ("symlink", __wasi_path_symlink("c", DIRFD, "d/lnk"), 0);
  uint8_t link[64] = {0};
  CHECK_EQ("readlink", __wasi_path_readlink(DIRFD, "d/lnk", link, sizeof link, &n), 0);
  link[n] = 0;
  CHECK_STR("readlink_text", (char *)link, "c");
  CHECK_EQ("readlink_not_link", __wasi_path_readlink(DIRFD, "d/c", link, sizeof link, &n), E(INVAL));
  CHECK_EQ("lstat_link", __wasi_path_filestat_get(DIRFD, 0, "d/lnk", &st) == 0 &&
           st.filetype == __WASI_FILETYPE_SYMBOLIC_LINK, 1);
  CHECK_EQ("stat_through_link", __wasi_path_filestat_get(DIRFD, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW,
           "d/lnk", &st) == 0 && st.filetype == __WASI_FILETYPE_REGULAR_FILE && st.size == 3, 1);
  CHECK_EQ("open_through_link", open_at(DIRFD, "d/lnk", 0, ALL_RIGHTS, &f), 0);
  CHECK_EQ("close_link_fd", __wasi_fd_close(f), 0);
  CHECK_EQ("open_link_nofollow", __wasi_path_open(DIRFD, 0, "d/lnk", 0, ALL_RIGHTS, ALL_RIGHTS, 0, &f), E(LOOP));

  CHECK_EQ("link", __wasi_path_link(DIRFD, 0, "d/c", DIRFD, "d/hard"), 0);
  CHECK_EQ("link_nlink", __wasi_path_filestat_get(DIRFD, 0, "d/hard", &st) == 0 && st.nlink == 2, 1);
  CHECK_EQ("link_exists", __wasi_path_link(DIRFD, 0, "d/c", DIRFD, "d/hard"), E(EXIST));

  CHECK_EQ("rmdir_not_empty", __wasi_path_remove_directory(DIRFD, "d"), E(NOTEMPTY));
  CHECK_EQ("unlink_dir", __wasi_path_unlink_file(DIRFD, "d/sub"), E(ISDIR));
  CHECK_EQ("unlink_file_slash", __wasi_path_unlink_file(DIRFD, "d/c/"), E(NOTDIR));
  CHECK_EQ("rmdir_file", __wasi_path_remove_directory(DIRFD, "d/c"), E(NOTDIR));
  CHECK_EQ("unlink_hard", __wasi_path_unlink_file(DIRFD, "d/hard"), 0);
  CHECK_EQ("unlink_lnk", __wasi_path_unlink_file(DIRFD, "d/lnk"), 0);
  CHECK_EQ("unlink_c", __wasi_path_unlink_file(DIRFD, "d/c"), 0);
  CHECK_EQ("unlink_missing", __wasi_path_unlink_file(DIRFD, "d/c"), E(NOENT));
  CHECK_EQ("rmdir_sub", __wasi_path_remove_directory(DIRFD, "d/sub/"), 0);
  CHECK_EQ("rmdir", __wasi_path_remove_directory(DIRFD, "d"), 0);
  CHECK_EQ("rmdir_missing", __wasi_path_remove_directory(DIRFD, "d"), E(NOENT));
  CHECK_EQ("empty_path", __wasi_path_create_directory(DIRFD, ""), E(NOENT));
  CHECK_EQ("path_on_stdout", __wasi_path_create_directory(1, "x"), E(NOTCAPABLE));
}

/* The same kind of work through wasi-libc: what real programs do. */
static void libc_files(void) {
  char line[64] = {0};
  FILE *f = fopen("/sandbox/libc.txt", "w");
  CHECK("fopen_w", f != NULL);
  if (!f) return;
  fprintf(f, "line %d\n", 42);
  CHECK_EQ("fclose", fclose(f), 0);
  f = fopen("/sandbox/libc.txt", "r");
  CHECK("fopen_r", f != NULL);
  if (!f) return;
  CHECK("fgets", fgets(line, sizeof line, f) != NULL);
  CHECK_STR("fgets_data", line, "line 42\n");
  CHECK_EQ("fseek", fseek(f, 5, SEEK_SET), 0);
  CHECK_EQ("ftell", ftell(f), 5);
  fclose(f);
  struct stat st;
  CHECK_EQ("stat", stat("/sandbox/libc.txt", &st), 0);
  CHECK_EQ("stat_size", st.st_size, 8);
  CHECK_EQ("mkdir_libc", mkdir("/sandbox/ld", 0755), 0);
  CHECK_EQ("rename_libc", rename("/sandbox/libc.txt", "/sandbox/ld/moved.txt"), 0);
  DIR *dir = opendir("/sandbox/ld");
  CHECK("opendir", dir != NULL);
  int seen = 0;
  struct dirent *de;
  while (dir && (de = readdir(dir)))
    if (strcmp(de->d_name, "moved.txt") == 0) seen = 1;
  if (dir) closedir(dir);
  CHECK("readdir_libc", seen);
  CHECK_EQ("symlink_libc", symlink("moved.txt", "/sandbox/ld/ln"), 0);
  char target[64] = {0};
  CHECK_EQ("readlink_libc", readlink("/sandbox/ld/ln", target, sizeof target - 1), 9);
  CHECK_EQ("unlink_libc", unlink("/sandbox/ld/ln") | unlink("/sandbox/ld/moved.txt"), 0);
  CHECK_EQ("rmdir_libc", rmdir("/sandbox/ld"), 0);
  errno = 0;
  CHECK("fopen_missing", fopen("/sandbox/missing.txt", "r") == NULL && errno == ENOENT);
}

/* Pointers outside linear memory come back as EFAULT, never a crash. */
static void bad_pointers(void) {
  CHECK_EQ("efault_iovs", raw_fd_write(1, (int)0xFFFFFFF0, 1, 0), E(FAULT));
  CHECK_EQ("efault_result", raw_fd_write(1, 0, 0, (int)0xFFFFFFFE), E(FAULT));
  CHECK_EQ("efault_path", raw_path_open(DIRFD, 0, (int)0xFFFFFF00, 0x1000, 0, 0, 0, 0, 0), E(FAULT));
  CHECK_EQ("efault_random", raw_random_get((int)0xFFFFFFF0, 64), E(FAULT));
  __wasi_ciovec_t iov = {(const uint8_t *)0xFFFFFF00u, 0x1000};
  __wasi_size_t n;
  CHECK_EQ("efault_iov_buffer", __wasi_fd_write(1, &iov, 1, &n), E(FAULT));
}

int main(void) {
  prestat();
  file_io();
  directories();
  libc_files();
  bad_pointers();
  printf("done %d failures\n", failures);
  return failures;
}
