/* `exit CODE` exits with CODE through proc_exit after printing a line;
 * `exit trap` traps (unreachable) inside a named function, so the trap's
 * backtrace has a frame to show; `exit sleep` sleeps for a minute (for
 * --timeout); `exit spin` loops forever. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

__attribute__((noinline)) static void crash_here(void) { __builtin_trap(); }

int main(int argc, char **argv) {
  if (argc < 2) return 0;
  if (strcmp(argv[1], "trap") == 0) {
    printf("about to trap\n");
    fflush(stdout);
    crash_here();
  }
  if (strcmp(argv[1], "sleep") == 0) {
    sleep(60);
    return 0;
  }
  if (strcmp(argv[1], "spin") == 0) {
    volatile unsigned long n = 0;
    for (;;) n++;
  }
  printf("exiting with %s\n", argv[1]);
  fflush(stdout);
  exit(atoi(argv[1]));
}
