/* Prints its arguments and environment, one per line:
 *   tensor-wasm run echo.wasm --env GREETING=hi -- one two
 * prints "argc=3", "argv[0]=echo.wasm", ..., "env GREETING=hi".
 * The exit status is the number of arguments after argv[0], so the exit
 * code path can be seen from the shell. */
#include <stdio.h>

extern char **environ;

int main(int argc, char **argv) {
  printf("argc=%d\n", argc);
  for (int i = 0; i < argc; i++) printf("argv[%d]=%s\n", i, argv[i]);
  for (char **e = environ; e && *e; e++) printf("env %s\n", *e);
  return argc - 1;
}
