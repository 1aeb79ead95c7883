/* `tensor-wasm` without the network stack: what it hands over to
 * `tensor-wasm-net`, and the pieces it has in place of that stack.
 *
 * tensor-wasm-net is the whole CLI (the same main.c, plus serve.c,
 * client.c and the library's gateway, store and OTLP parts, with
 * libcurl, libmicrohttpd, SQLite, libnats and libcrypto).  It is looked
 * up beside this executable (/proc/self/exe, so a symlink to tensor-wasm
 * still finds it) and exec'd with the same arguments, so the command
 * keeps this process's id, descriptors, environment and signal
 * dispositions: a caller waiting for or signalling it sees no
 * difference.  Nothing has been printed or started when that happens. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "otlp/otlp_int.h"

#define NET_PROGRAM "tensor-wasm-net"

static char **g_argv; /* main()'s, NULL-terminated */

/* Mirrors tw_trace_init (src/otlp/trace_init.c): either variable,
 * non-empty, turns export on.  A malformed one too: tensor-wasm-net
 * reports it as it always did. */
static bool otlp_configured(void) {
  const char *a = getenv("TENSOR_WASM_OTLP_ENDPOINT");
  const char *b = getenv("OTEL_EXPORTER_OTLP_ENDPOINT");
  return (a && a[0]) || (b && b[0]);
}

static bool needs_net(int argc, char **argv) {
  if (otlp_configured()) return true;
  if (argc < 2) return false;
  const char *cmd = argv[1];
  if (strcmp(cmd, "serve") == 0 || cli_is_client_command(cmd)) return true;
  return strcmp(cmd, "snapshot") == 0 && argc > 2 &&
         (strcmp(argv[2], "save") == 0 || strcmp(argv[2], "restore") == 0);
}

/* Execs tensor-wasm-net; returns only on failure, with the exit status. */
static int hand_over(void) {
  char path[PATH_MAX], *slash = NULL;
  ssize_t n = readlink("/proc/self/exe", path, sizeof path);
  if (n > 0 && (size_t)n < sizeof path) slash = memrchr(path, '/', (size_t)n);
  if (!slash || (size_t)(slash + 1 - path) + sizeof NET_PROGRAM > sizeof path) {
    cli_fail("cannot find %s: /proc/self/exe does not name this program",
             NET_PROGRAM);
    return TW_EXIT_ERROR;
  }
  memcpy(slash + 1, NET_PROGRAM, sizeof NET_PROGRAM);
  execv(path, g_argv);
  cli_fail("cannot run %s, which has the network commands and OTLP "
           "export: %s", path, strerror(errno));
  return TW_EXIT_ERROR;
}

bool cli_handoff(int argc, char **argv, int *rc) {
  g_argv = argv;
  if (!needs_net(argc, argv)) return false;
  *rc = hand_over();
  return true;
}

/* dispatch() and snapshot.c name these; cli_handoff sends their command
 * lines over before dispatch runs, so they are reached only if its rules
 * miss one -- and then handing over is still the right thing. */
int tw_cli_serve(int argc, char **argv) {
  (void)argc, (void)argv;
  return hand_over();
}

int cli_cmd_client(int argc, char **argv) {
  (void)argc, (void)argv;
  return hand_over();
}

/* tw_trace_init's exporter (src/otlp/otlp_exporter.c is not linked in):
 * never started here, because an endpoint sends the run over first. */
tw_status tw__otlp_exporter_start(const tw__otlp_options *opt,
                                  tw__otlp_exporter **out, tw_error *err) {
  (void)opt;
  *out = NULL;
  return tw__error_set(err, TW_UNSUPPORTED, SIZE_MAX,
                       "OTLP export is in %s", NET_PROGRAM);
}

void tw__otlp_exporter_on_end(void *self, tw_span_t *span) {
  (void)self;
  tw__span_free(span);
}

void tw__otlp_exporter_stop(tw__otlp_exporter *e) { (void)e; }
