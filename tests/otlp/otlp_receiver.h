/* Test helper: drives the OTLP receiver (tests/otlp/receiver: Node with
 * @grpc/grpc-js and OpenTelemetry's published protobuf decoders) from C.
 * The receiver listens on free loopback ports, prints "READY grpc=N
 * http=M", writes each span it decodes as a JSON line to a file, and exits
 * when its stdin closes.  Needs the otlp/receiver_setup fixture (npm ci). */
#ifndef TW_TEST_OTLP_RECEIVER_H
#define TW_TEST_OTLP_RECEIVER_H

#include <jansson.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

typedef struct receiver {
  pid_t pid;
  int stdin_fd;
  int grpc_port, http_port;
  char out[256];
} receiver;

static inline const char *receiver_dir(void) {
  const char *d = getenv("TW_OTLP_RECEIVER_DIR");
  return d && d[0] ? d : TW_BUILD_DIR "/otlp-receiver";
}

/* Starts node receiver.js; false (with a message) when it cannot. */
static inline bool receiver_start(receiver *r, int unavailable) {
  int in[2], out[2];
  char script[512], unavail[16], line[256];
  const char *node = getenv("TW_NODE");
  posix_spawn_file_actions_t fa;
  size_t n = 0;
  static int seq;

  if (!node || !node[0] || strstr(node, "NOTFOUND")) node = "node";
  snprintf(script, sizeof script, "%s/receiver.js", receiver_dir());
  if (access(script, R_OK) != 0) {
    fprintf(stderr, "  receiver not set up at %s (run the otlp/receiver_setup "
            "test first)\n", script);
    return false;
  }
  snprintf(r->out, sizeof r->out, "%s/spans-%d-%d.jsonl", TW_BUILD_DIR,
           (int)getpid(), seq++);
  unlink(r->out);
  snprintf(unavail, sizeof unavail, "%d", unavailable);
  char *argv[] = {(char *)node, script, "--out", r->out, "--unavailable",
                  unavail, NULL};
  if (pipe(in) != 0 || pipe(out) != 0) return false;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_addclose(&fa, in[1]);
  posix_spawn_file_actions_addclose(&fa, out[0]);
  int rc = posix_spawnp(&r->pid, node, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(in[0]);
  close(out[1]);
  if (rc != 0) {
    fprintf(stderr, "  cannot start %s: %s\n", node, strerror(rc));
    close(in[1]);
    close(out[0]);
    return false;
  }
  r->stdin_fd = in[1];
  /* Read "READY grpc=N http=M\n"; EOF means the receiver died. */
  while (n + 1 < sizeof line) {
    ssize_t got = read(out[0], line + n, 1);
    if (got <= 0) break;
    if (line[n] == '\n') break;
    n++;
  }
  line[n] = '\0';
  close(out[0]);
  if (sscanf(line, "READY grpc=%d http=%d", &r->grpc_port, &r->http_port) != 2) {
    fprintf(stderr, "  receiver did not start (said \"%s\")\n", line);
    close(r->stdin_fd);
    waitpid(r->pid, NULL, 0);
    return false;
  }
  return true;
}

static inline void receiver_stop(receiver *r) {
  close(r->stdin_fd); /* the receiver exits when its stdin closes */
  waitpid(r->pid, NULL, 0);
  unlink(r->out);
}

/* The received spans, one JSON object each (caller decrefs). */
static inline json_t *receiver_spans(const receiver *r) {
  json_t *all = json_array();
  FILE *f = fopen(r->out, "r");
  char *line = NULL;
  size_t cap = 0;
  if (!f) return all;
  while (getline(&line, &cap, f) > 0) {
    json_error_t jerr;
    json_t *span = json_loads(line, 0, &jerr);
    if (span) json_array_append_new(all, span);
  }
  free(line);
  fclose(f);
  return all;
}

static inline json_t *span_named(json_t *spans, const char *name) {
  size_t i;
  json_t *s;
  json_array_foreach(spans, i, s) {
    if (strcmp(json_string_value(json_object_get(s, "name")), name) == 0)
      return s;
  }
  return NULL;
}

static inline const char *str(json_t *obj, const char *key) {
  const char *v = json_string_value(json_object_get(obj, key));
  return v ? v : "(missing)";
}

static inline const char *attr_str(json_t *span, const char *key) {
  return str(json_object_get(span, "attributes"), key);
}

static inline const char *attr_int(json_t *span, const char *key) {
  json_t *v = json_object_get(json_object_get(span, "attributes"), key);
  return str(v, "int");
}

#endif
