/* `tensor-wasm serve` as a program of its own for the crash test: the
 * arguments after argv[0] are serve's. */
int tw_cli_serve(int argc, char **argv);

int main(int argc, char **argv) { return tw_cli_serve(argc - 1, argv + 1); }
