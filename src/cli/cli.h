/* Shared pieces of the `tensor-wasm` command line.
 *
 * Exit statuses (docs/CLI.md is the user-facing list):
 *   0    success
 *   1    a run-time failure: unreadable file, unresolved import, a host
 *        resource that could not be set up
 *   2    the input was checked here and rejected: bad usage, a module that
 *        does not decode or validate, unknown export, wrong arguments
 *        (the original's LOCAL_VALIDATION_FAILED)
 *   3    a command of the original that this build does not offer, or
 *        a server that answered 404 without a TensorWasm error envelope
 *        (the original's FEATURE_NOT_EXPOSED)
 *   134  the guest trapped (or ran past --timeout)
 *   N    a WASI command's proc_exit(N), 0 <= N <= 125; larger codes
 *        are reported and become 125 */
#ifndef TW_CLI_H
#define TW_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tensorwasm/wasm.h"

enum {
  TW_EXIT_OK = 0,
  TW_EXIT_ERROR = 1,
  TW_EXIT_INVALID = 2,
  TW_EXIT_NOT_EXPOSED = 3,
  TW_EXIT_GUEST_MAX = 125,
  TW_EXIT_TRAP = 134
};

/* Prints "tensor-wasm: " + message + newline on stderr. */
void cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Reads a whole file into a malloc'd buffer the caller frees; prints the
 * error and returns -1 on failure. */
int cli_read_file(const char *path, uint8_t **out, size_t *len);

/* Parses a command-line word as a value of type t (the --invoke form). */
int cli_parse_word(const char *s, tw_valtype t, tw_val *out);

/* Parses --args JSON (an array) against the function's parameter types.
 * On failure prints a one-line error and returns -1.  *out is malloc'd. */
int cli_parse_json_args(const char *json, const tw_valtype *types, size_t np,
                        const char *fn_name, tw_val **out, size_t *n);

/* Prints results as the original does: "ok" for none, the bare value for
 * one, a JSON array for several. */
void cli_print_results(FILE *out, const tw_val *v, size_t n);

/* "64MiB", "1G", "65536" -> bytes.  -1 when malformed. */
int cli_parse_size(const char *s, uint64_t *bytes);
/* "500ms", "2s", "1.5m", "3" (seconds) -> nanoseconds.  -1 when malformed. */
int cli_parse_duration(const char *s, uint64_t *ns);

int cli_cmd_run(int argc, char **argv);
/* `tensor-wasm snapshot create FILE -o OUT [--init EXPORT]` (snapshot.c). */
int cli_cmd_snapshot(int argc, char **argv);
/* The client commands deploy, invoke, metrics and bench (client.c):
 * true for those names and for a leading global --tenant.  Inline: both
 * binaries dispatch on it (handoff.c), only tensor-wasm-net has client.c. */
static inline bool cli_is_client_command(const char *cmd) {
  return strcmp(cmd, "deploy") == 0 || strcmp(cmd, "invoke") == 0 ||
         strcmp(cmd, "metrics") == 0 || strcmp(cmd, "bench") == 0 ||
         strcmp(cmd, "--tenant") == 0 || strncmp(cmd, "--tenant=", 9) == 0;
}
/* argv[0] is the command name (or the global --tenant before it). */
int cli_cmd_client(int argc, char **argv);
/* `tensor-wasm serve`: the HTTP gateway (serve.c). */
int tw_cli_serve(int argc, char **argv);

/* The CLI is two programs built from these files (CMakeLists.txt says
 * why): `tensor-wasm`, without the network stack, and `tensor-wasm-net`
 * beside it, with everything.  main() calls this first, with its own
 * arguments.  In tensor-wasm (handoff.c), a command line that needs the
 * network stack -- serve, the client commands, snapshot save|restore, or
 * any command while an OTLP endpoint is configured -- is run by
 * tensor-wasm-net instead (exec, same arguments): on success this does
 * not return; when that cannot be done it prints why, sets *rc and
 * returns true.  Otherwise, and always in tensor-wasm-net
 * (handoff_none.c), it returns false and main() carries on. */
bool cli_handoff(int argc, char **argv, int *rc);

#endif
