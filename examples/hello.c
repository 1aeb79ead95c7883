/* The smallest WASI command: one line on stdout, exit status 0.
 *   tensor-wasm run hello.wasm */
#include <stdio.h>

int main(void) {
  printf("Hello from WebAssembly!\n");
  return 0;
}
