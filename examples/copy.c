/* A file copier: `copy SRC DST` copies SRC to DST in 64 KiB chunks and
 * prints the byte count.  Paths are seen through the guest's preopened
 * directories:
 *   tensor-wasm run copy.wasm --dir data::/data -- /data/in.txt /data/out.txt
 * Exit status: 0 copied, 1 bad usage, 2 cannot open or read SRC, 3 cannot
 * create or write DST. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
  static char buf[65536];
  if (argc != 3) {
    fprintf(stderr, "usage: copy SRC DST\n");
    return 1;
  }
  FILE *in = fopen(argv[1], "rb");
  if (!in) {
    fprintf(stderr, "copy: %s: %s\n", argv[1], strerror(errno));
    return 2;
  }
  FILE *out = fopen(argv[2], "wb");
  if (!out) {
    fprintf(stderr, "copy: %s: %s\n", argv[2], strerror(errno));
    fclose(in);
    return 3;
  }
  unsigned long long total = 0;
  size_t n;
  int rc = 0;
  while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
    if (fwrite(buf, 1, n, out) != n) {
      fprintf(stderr, "copy: %s: %s\n", argv[2], strerror(errno));
      rc = 3;
      break;
    }
    total += n;
  }
  if (rc == 0 && ferror(in)) {
    fprintf(stderr, "copy: %s: read error\n", argv[1]);
    rc = 2;
  }
  fclose(in);
  if (fclose(out) != 0 && rc == 0) {
    fprintf(stderr, "copy: %s: %s\n", argv[2], strerror(errno));
    rc = 3;
  }
  if (rc == 0) printf("copied %llu bytes\n", total);
  return rc;
}
