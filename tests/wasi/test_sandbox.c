/* The sandbox: a compiled guest tries `..`, absolute paths, symlinks to
 * /etc and to the parent, renames and links out of its preopen, and every
 * change under a read-only preopen; each attempt must fail with
 * ENOTCAPABLE (the guest checks each errno).  Afterwards the host checks
 * that nothing outside moved. */
#include <errno.h>

#include "test.h"
#include "wasi_util.h"

typedef struct layout {
  char *root;
  char sandbox[512], ro[512], secret[512];
} layout;

static int path_of(char *out, size_t cap, const char *root, const char *rel) {
  return snprintf(out, cap, "%s/%s", root, rel) < (int)cap ? 0 : -1;
}

static int make_layout(layout *l) {
  char p[600];
  l->root = temp_dir();
  if (!l->root) return -1;
  path_of(l->sandbox, sizeof l->sandbox, l->root, "sandbox");
  path_of(l->ro, sizeof l->ro, l->root, "ro");
  path_of(l->secret, sizeof l->secret, l->root, "secret.txt");
  if (mkdir(l->sandbox, 0755) || mkdir(l->ro, 0755)) return -1;
  if (write_text(l->secret, "secret\n")) return -1;
  path_of(p, sizeof p, l->sandbox, "inside.txt");
  if (write_text(p, "inside\n")) return -1;
  path_of(p, sizeof p, l->sandbox, "sub");
  if (mkdir(p, 0755)) return -1;
  path_of(p, sizeof p, l->sandbox, "link_etc");
  if (symlink("/etc", p)) return -1;
  path_of(p, sizeof p, l->sandbox, "link_up");
  if (symlink("..", p)) return -1;
  path_of(p, sizeof p, l->ro, "file.txt");
  return write_text(p, "read only\n");
}

static int exists(const char *root, const char *rel) {
  char p[600];
  struct stat st;
  path_of(p, sizeof p, root, rel);
  return lstat(p, &st) == 0;
}

TEST(every_escape_is_refused) {
  layout l;
  ASSERT_EQ_INT(make_layout(&l), 0);
  tw_wasi_preopen pre[2] = {{l.sandbox, "/sandbox", false}, {l.ro, "/ro", true}};
  const char *args[] = {"sandbox"};
  tw_wasi_config cfg = {.args = args, .nargs = 1, .preopens = pre, .npreopens = 2};
  guest_run r;
  ASSERT_EQ_INT(guest_run_file(GUEST("sandbox"), cfg, &r), 0);
  const char *p = r.out;
  while ((p = strstr(p, "FAIL "))) { /* name the failed attempts */
    const char *e = strchr(p, '\n');
    fprintf(stderr, "  guest: %.*s\n", (int)(e ? e - p : 40), p);
    p += 5;
  }
  static const char *const attempts[] = {
      "dotdot", "dotdot_deep", "absolute", "symlink_etc_file", "symlink_up",
      "rename_out", "rename_out_via_link", "rename_in", "unlink_out",
      "hardlink_through_symlink", "symlink_absolute", "libc_absolute",
      "libc_symlink", "ro_create", "ro_unlink", "ro_rename_into"};
  for (size_t i = 0; i < sizeof attempts / sizeof attempts[0]; i++) {
    char line[80];
    snprintf(line, sizeof line, "ok %s\n", attempts[i]);
    ASSERT_CONTAINS(r.out, line);
  }
  ASSERT_CONTAINS(r.out, "done 0 failures\n");
  ASSERT_EQ_INT(r.status, TW_OK);

  /* Nothing outside the sandbox changed or appeared. */
  char *secret = slurp(l.secret, NULL);
  ASSERT(secret);
  ASSERT_EQ_STR(secret, "secret\n");
  free(secret);
  static const char *const never[] = {"moved.txt", "newdir", "evil_link",
                                      "linked.txt", "sandbox/stolen.txt",
                                      "sandbox/stolen", "sandbox/abs_link",
                                      "ro/new.txt", "ro/d", "ro/ln",
                                      "ro/dropped.txt", "sandbox/taken.txt"};
  for (size_t i = 0; i < sizeof never / sizeof never[0]; i++) {
    if (exists(l.root, never[i])) TW__FAIL("%s appeared", never[i]);
  }
  ASSERT(exists(l.root, "sandbox/inside.txt"));
  char ro_file[600];
  path_of(ro_file, sizeof ro_file, l.ro, "file.txt");
  char *ro = slurp(ro_file, NULL);
  ASSERT(ro);
  ASSERT_EQ_STR(ro, "read only\n");
  free(ro);
  guest_run_free(&r);
  rm_tree(l.root);
}

TEST_MAIN()
