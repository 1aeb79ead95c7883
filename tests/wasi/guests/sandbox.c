/* Tries to leave the sandbox.  Preopens: fd 3 "/sandbox" (writable, holds
 * inside.txt, a directory sub/ and link_etc -> /etc, and link_up -> ..)
 * and fd 4 "/ro" (read-only, holds file.txt).  The host keeps secret.txt
 * next to the sandbox directory.  Every escape must fail with ENOTCAPABLE;
 * every change under /ro too. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

#define E(x) __WASI_ERRNO_##x
#define SB 3
#define RO 4

static void escapes(void) {
  __wasi_fd_t fd;
  __wasi_filestat_t st;
  uint8_t buf[64];
  __wasi_size_t n;
  CHECK_EQ("dotdot", open_at(SB, "../secret.txt", 0, ALL_RIGHTS, &fd), E(NOTCAPABLE));
  CHECK_EQ("dotdot_deep", open_at(SB, "sub/../../secret.txt", 0, ALL_RIGHTS, &fd), E(NOTCAPABLE));
  CHECK_EQ("dotdot_dir", open_at(SB, "..", __WASI_OFLAGS_DIRECTORY, ALL_RIGHTS, &fd), E(NOTCAPABLE));
  CHECK_EQ("dotdot_inside_ok", open_at(SB, "sub/../inside.txt", 0, ALL_RIGHTS, &fd), 0);
  CHECK_EQ("close_inside", __wasi_fd_close(fd), 0);
  CHECK_EQ("absolute", open_at(SB, "/etc/passwd", 0, ALL_RIGHTS, &fd), E(NOTCAPABLE));
  CHECK_EQ("symlink_etc_file", open_at(SB, "link_etc/passwd", 0, ALL_RIGHTS, &fd), E(NOTCAPABLE));
  CHECK_EQ("symlink_etc_dir", open_at(SB, "link_etc", __WASI_OFLAGS_DIRECTORY, ALL_RIGHTS, &fd), E(NOTCAPABLE));
  CHECK_EQ("symlink_up", open_at(SB, "link_up/secret.txt", 0, ALL_RIGHTS, &fd), E(NOTCAPABLE));
  CHECK_EQ("stat_through_symlink", __wasi_path_filestat_get(SB, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW,
           "link_etc", &st), E(NOTCAPABLE));
  CHECK_EQ("lstat_symlink_ok", __wasi_path_filestat_get(SB, 0, "link_etc", &st) == 0 &&
           st.filetype == __WASI_FILETYPE_SYMBOLIC_LINK, 1);
  CHECK_EQ("stat_dotdot", __wasi_path_filestat_get(SB, 0, "..", &st), E(NOTCAPABLE));
  CHECK_EQ("rename_out", __wasi_path_rename(SB, "inside.txt", SB, "../moved.txt"), E(NOTCAPABLE));
  CHECK_EQ("rename_out_via_link", __wasi_path_rename(SB, "inside.txt", SB, "link_up/moved.txt"), E(NOTCAPABLE));
  CHECK_EQ("rename_in", __wasi_path_rename(SB, "../secret.txt", SB, "stolen.txt"), E(NOTCAPABLE));
  CHECK_EQ("mkdir_out", __wasi_path_create_directory(SB, "../newdir"), E(NOTCAPABLE));
  CHECK_EQ("unlink_out", __wasi_path_unlink_file(SB, "../secret.txt"), E(NOTCAPABLE));
  CHECK_EQ("unlink_via_link", __wasi_path_unlink_file(SB, "link_up/secret.txt"), E(NOTCAPABLE));
  CHECK_EQ("rmdir_out", __wasi_path_remove_directory(SB, "link_etc/ssl"), E(NOTCAPABLE));
  CHECK_EQ("symlink_absolute", __wasi_path_symlink("/etc/passwd", SB, "abs_link"), E(NOTCAPABLE));
  CHECK_EQ("symlink_placed_out", __wasi_path_symlink("x", SB, "../evil_link"), E(NOTCAPABLE));
  CHECK_EQ("hardlink_through_symlink", __wasi_path_link(SB, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW,
           "link_etc/passwd", SB, "stolen"), E(NOTCAPABLE));
  CHECK_EQ("hardlink_out", __wasi_path_link(SB, 0, "inside.txt", SB, "../linked.txt"), E(NOTCAPABLE));
  CHECK_EQ("readlink_out", __wasi_path_readlink(SB, "../x", buf, sizeof buf, &n), E(NOTCAPABLE));
  CHECK_EQ("set_times_through_symlink", __wasi_path_filestat_set_times(SB,
           __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, "link_etc/passwd", 0, 0,
           __WASI_FSTFLAGS_MTIM_NOW), E(NOTCAPABLE));
  CHECK_EQ("create_through_dangling", open_at(SB, "link_up/new.txt", __WASI_OFLAGS_CREAT, ALL_RIGHTS, &fd), E(NOTCAPABLE));
  /* wasi-libc refuses paths outside every preopen before asking the host */
  errno = 0;
  CHECK("libc_absolute", open("/etc/passwd", O_RDONLY) < 0 && errno == ENOTCAPABLE);
  errno = 0;
  CHECK("libc_dotdot", open("/sandbox/../secret.txt", O_RDONLY) < 0 && errno == ENOTCAPABLE);
  errno = 0;
  CHECK("libc_symlink", open("/sandbox/link_etc/passwd", O_RDONLY) < 0 && errno == ENOTCAPABLE);
}

static void read_only(void) {
  __wasi_fd_t fd;
  __wasi_size_t n;
  char text[32] = {0};
  __wasi_rights_t rd = __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_SEEK;
  CHECK_EQ("ro_open_read", open_at(RO, "file.txt", 0, rd, &fd), 0);
  __wasi_iovec_t iov = {(uint8_t *)text, sizeof text - 1};
  CHECK_EQ("ro_read", __wasi_fd_read(fd, &iov, 1, &n), 0);
  CHECK_STR("ro_read_data", text, "read only\n");
  __wasi_ciovec_t w = {(const uint8_t *)"x", 1};
  CHECK_EQ("ro_write_on_read_fd", __wasi_fd_write(fd, &w, 1, &n), E(NOTCAPABLE));
  CHECK_EQ("ro_truncate_on_read_fd", __wasi_fd_filestat_set_size(fd, 0), E(NOTCAPABLE));
  CHECK_EQ("ro_close", __wasi_fd_close(fd), 0);
  CHECK_EQ("ro_open_write", open_at(RO, "file.txt", 0, __WASI_RIGHTS_FD_WRITE, &fd), E(NOTCAPABLE));
  CHECK_EQ("ro_create", open_at(RO, "new.txt", __WASI_OFLAGS_CREAT, rd, &fd), E(NOTCAPABLE));
  CHECK_EQ("ro_trunc", open_at(RO, "file.txt", __WASI_OFLAGS_TRUNC, rd, &fd), E(NOTCAPABLE));
  CHECK_EQ("ro_mkdir", __wasi_path_create_directory(RO, "d"), E(NOTCAPABLE));
  CHECK_EQ("ro_unlink", __wasi_path_unlink_file(RO, "file.txt"), E(NOTCAPABLE));
  CHECK_EQ("ro_rename_from", __wasi_path_rename(RO, "file.txt", SB, "taken.txt"), E(NOTCAPABLE));
  CHECK_EQ("ro_rename_into", __wasi_path_rename(SB, "inside.txt", RO, "dropped.txt"), E(NOTCAPABLE));
  CHECK_EQ("ro_symlink", __wasi_path_symlink("file.txt", RO, "ln"), E(NOTCAPABLE));
  CHECK_EQ("ro_set_times", __wasi_path_filestat_set_times(RO, 0, "file.txt", 0, 0,
           __WASI_FSTFLAGS_MTIM_NOW), E(NOTCAPABLE));
  /* a directory opened below a read-only preopen stays read-only */
  __wasi_fdstat_t fs;
  CHECK_EQ("ro_fdstat", __wasi_fd_fdstat_get(RO, &fs), 0);
  CHECK_EQ("ro_no_write_rights", (fs.fs_rights_inheriting & __WASI_RIGHTS_FD_WRITE) == 0, 1);
  errno = 0;
  CHECK("libc_ro_fopen_w", fopen("/ro/file.txt", "w") == NULL && errno == ENOTCAPABLE);
  FILE *f = fopen("/ro/file.txt", "r");
  CHECK("libc_ro_fopen_r", f != NULL);
  if (f) fclose(f);
}

int main(void) {
  escapes();
  read_only();
  printf("done %d failures\n", failures);
  return failures;
}
