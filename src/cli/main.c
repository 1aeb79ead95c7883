/* The `tensor-wasm` command line: dispatch, `version` and `validate`.
 * `run` lives in run.c; exit statuses are listed in cli.h and docs/CLI.md.
 * Results go to stdout; diagnostics go to stderr, one line each. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tensorwasm/trace.h"
#include "tensorwasm/error.h"
#include "tensorwasm/wasm.h"

#ifndef TW_VERSION
#define TW_VERSION "unknown"
#endif

static void usage(FILE *out) {
  fputs("usage: tensor-wasm COMMAND [OPTIONS]\n"
        "\n"
        "commands:\n"
        "  run FILE [OPTIONS] [-- ARGS...]  run a module (WASI preview1)\n"
        "  serve [OPTIONS]                  the HTTP gateway (functions, invoke, jobs)\n"
        "  validate FILE                    check that FILE is a valid module\n"
        "  snapshot create FILE -o OUT      pre-initialise a module into a snapshot\n"
        "  snapshot save|restore --server URL  move a function's live state\n"
        "  deploy FILE --server URL         upload a module to a server\n"
        "  invoke ID --server URL           call a deployed function\n"
        "  metrics --server URL             print a server's metrics\n"
        "  bench FILE --export NAME [--n N] latency of spawn + call + terminate\n"
        "  version                          print the version\n"
        "\n"
        "`tensor-wasm COMMAND --help` describes each command.\n",
        out);
}

static bool is_help(const char *s) {
  return strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0;
}

static int cmd_version(int argc, char **argv) {
  if (argc == 1 && is_help(argv[0])) {
    puts("usage: tensor-wasm version\n\nPrints \"tensor-wasm VERSION\".");
    return TW_EXIT_OK;
  }
  if (argc != 0) {
    cli_fail("version takes no arguments");
    return TW_EXIT_INVALID;
  }
  printf("tensor-wasm %s\n", TW_VERSION);
  return TW_EXIT_OK;
}

static int cmd_validate(int argc, char **argv) {
  if (argc == 1 && is_help(argv[0])) {
    puts("usage: tensor-wasm validate FILE\n\n"
         "Decodes and validates FILE.  Prints \"ok\" and exits 0 when it is a\n"
         "valid module; otherwise prints why and exits 2 (1 if FILE cannot\n"
         "be read).");
    return TW_EXIT_OK;
  }
  if (argc != 1) {
    cli_fail("validate takes exactly one FILE (see tensor-wasm validate --help)");
    return TW_EXIT_INVALID;
  }
  uint8_t *bytes = NULL;
  size_t len = 0;
  tw_engine_t *engine = NULL;
  tw_error err;
  int rc = TW_EXIT_ERROR;
  tw_error_clear(&err);
  if (cli_read_file(argv[0], &bytes, &len) != 0) return TW_EXIT_ERROR;
  if (tw_engine_new(NULL, &engine, &err) != TW_OK) {
    cli_fail("engine: %s", err.message);
    goto done;
  }
  if (tw_module_validate(engine, bytes, len, &err) != TW_OK) {
    char buf[512];
    tw_error_format(&err, buf, sizeof buf);
    if (err.offset != SIZE_MAX)
      cli_fail("%s: %s (at byte offset %zu)", argv[0], buf, err.offset);
    else
      cli_fail("%s: %s", argv[0], buf);
    rc = err.status == TW_NOMEM ? TW_EXIT_ERROR : TW_EXIT_INVALID;
    goto done;
  }
  printf("ok\n");
  rc = TW_EXIT_OK;
done:
  if (engine) tw_engine_free(engine);
  free(bytes);
  return rc;
}

/* Commands of the original that talk to a server or generate files; they
 * are not part of this build yet. */
static bool not_exposed(const char *cmd) {
  static const char *const names[] = {"kernel", "observe", "completions",
                                      "man", "compile"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp(cmd, names[i]) == 0) return true;
  return false;
}

static int dispatch(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return TW_EXIT_INVALID;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0 ||
      strcmp(cmd, "-V") == 0)
    return cmd_version(argc - 2, argv + 2);
  if (strcmp(cmd, "validate") == 0) return cmd_validate(argc - 2, argv + 2);
  if (strcmp(cmd, "run") == 0) return cli_cmd_run(argc - 2, argv + 2);
  if (strcmp(cmd, "snapshot") == 0) return cli_cmd_snapshot(argc - 2, argv + 2);
  if (strcmp(cmd, "serve") == 0) return tw_cli_serve(argc - 2, argv + 2);
  if (cli_is_client_command(cmd)) return cli_cmd_client(argc - 1, argv + 1);
  if (strcmp(cmd, "help") == 0 || is_help(cmd)) {
    usage(stdout);
    return TW_EXIT_OK;
  }
  if (not_exposed(cmd)) {
    cli_fail("the \"%s\" command is not available in this build", cmd);
    return TW_EXIT_NOT_EXPOSED;
  }
  cli_fail("unknown command \"%s\" (see tensor-wasm --help)", cmd);
  return TW_EXIT_INVALID;
}

/* First the hand-over to tensor-wasm-net (cli.h), before anything here
 * prints or starts.  Tracing is set up for every command: TENSOR_WASM_LOG
 * filters the lines on stderr (default warn, as the original CLI) and
 * TENSOR_WASM_OTLP_ENDPOINT turns on export; spans still queued are
 * flushed before exit.  `serve` does it itself, after blocking the
 * signals it waits for, so that the exporter thread inherits that mask
 * too. */
int main(int argc, char **argv) {
  int rc;
  if (cli_handoff(argc, argv, &rc)) return rc;
  bool traced = argc < 2 || strcmp(argv[1], "serve") != 0;
  if (traced) {
    tw_trace_config cfg;
    tw_trace_config_default(&cfg);
    cfg.default_filter = "warn";
    tw_error err;
    if (tw_trace_init(&cfg, &err) != TW_OK)
      fprintf(stderr, "tensor-wasm: tracing disabled: %s\n", err.message);
  }
  rc = dispatch(argc, argv);
  if (traced) tw_trace_shutdown();
  return rc;
}
