/* A collector that is down or hung costs spans, never the run: the traced
 * work finishes, shutdown returns, and the dropped counters say what was
 * lost.  Also: configuration errors, and the retry classification.
 * No receiver process is needed. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "otlp/otlp_int.h"
#include "test.h"

/* A loopback port with nothing listening: bind, read the port, close. */
static int dead_port(void) {
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  int fd = socket(AF_INET, SOCK_STREAM, 0), port;
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
      getsockname(fd, (struct sockaddr *)&a, &len) != 0)
    abort();
  port = ntohs(a.sin_port);
  close(fd);
  return port;
}

/* A listening socket that never accepts or answers: connections complete
 * in the backlog and every request hangs. */
static int hung_listener(int *port) {
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
      listen(fd, 16) != 0 || getsockname(fd, (struct sockaddr *)&a, &len) != 0)
    abort();
  *port = ntohs(a.sin_port);
  return fd;
}

static FILE *quiet(void) {
  static FILE *f;
  if (!f) f = fopen("/dev/null", "w");
  return f;
}

/* One traced "run": a parent and n-1 children. */
static void traced_run(int n) {
  tw_span_t *root = tw_span_begin("tensor_wasm_exec::executor::spawn_instance",
                                  "tensor-wasm-exec", TW_LEVEL_INFO);
  tw_span_attr_str(root, "tenant", "t");
  for (int i = 1; i < n; i++) {
    tw_span_t *c = tw_span_begin(
        "tensor_wasm_exec::executor::call_export_with_args",
        "tensor-wasm-exec", TW_LEVEL_INFO);
    tw_span_attr_int(c, "args_len", i);
    tw_span_end(c);
  }
  tw_span_end(root);
}

static void unset_env(void) {
  unsetenv("TENSOR_WASM_OTLP_ENDPOINT");
  unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT");
  unsetenv("OTEL_EXPORTER_OTLP_PROTOCOL");
  unsetenv("OTEL_SERVICE_NAME");
}

TEST(collector_down_counts_dropped) {
  static const char *const protocols[] = {"grpc", "http/protobuf"};
  for (int p = 0; p < 2; p++) {
    tw_trace_config cfg;
    tw_trace_stats st;
    tw_error err;
    char endpoint[64];
    unset_env();
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", dead_port());
    tw_trace_config_default(&cfg);
    cfg.filter = "info";
    cfg.fmt_out = quiet();
    cfg.otlp_endpoint = endpoint;
    cfg.otlp_protocol = protocols[p];
    cfg.max_retries = 2;
    ASSERT_EQ_INT(tw_trace_init(&cfg, &err), TW_OK);
    traced_run(10);
    tw_trace_shutdown();
    tw_trace_stats_get(&st);
    ASSERT_EQ_INT(st.spans_ended, 10);
    ASSERT_EQ_INT(st.spans_exported, 0);
    ASSERT_EQ_INT(st.spans_dropped, 10);
    ASSERT_EQ_INT(st.dropped_export_failed, 10);
    ASSERT(st.export_requests >= 1);
  }
}

TEST(hung_collector_fills_queue_and_shutdown_is_bounded) {
  tw_trace_config cfg;
  tw_trace_stats st;
  tw_error err;
  char endpoint[64];
  int port, fd = hung_listener(&port);
  unset_env();
  snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", port);
  tw_trace_config_default(&cfg);
  cfg.filter = "info";
  cfg.fmt_out = quiet();
  cfg.otlp_endpoint = endpoint;
  cfg.queue_capacity = 4;
  cfg.batch_size = 2;
  cfg.export_timeout_ms = 60 * 1000; /* the shutdown bound must cut it */
  cfg.shutdown_timeout_ms = 200;
  ASSERT_EQ_INT(tw_trace_init(&cfg, &err), TW_OK);
  traced_run(50);
  tw_trace_stats_get(&st);
  /* The thread holds at most one batch, the ring at most 4. */
  ASSERT(st.dropped_queue_full >= 50 - 4 - 2);
  ASSERT_EQ_INT(st.spans_queued + st.dropped_queue_full, 50);
  tw_trace_shutdown();
  tw_trace_stats_get(&st);
  ASSERT_EQ_INT(st.spans_exported, 0);
  ASSERT_EQ_INT(st.spans_dropped, 50);
  ASSERT_EQ_INT(st.dropped_export_failed, st.spans_queued);
  close(fd);
}

TEST(bad_explicit_config_is_an_error) {
  tw_trace_config cfg;
  tw_error err;
  unset_env();
  tw_trace_config_default(&cfg);
  cfg.fmt_out = quiet();
  cfg.otlp_endpoint = "localhost:4317";
  ASSERT_EQ_INT(tw_trace_init(&cfg, &err), TW_ARG);
  ASSERT_CONTAINS(err.message, "not an http:// or https:// URL");
  cfg.otlp_endpoint = "http://127.0.0.1:4317";
  cfg.otlp_protocol = "http/json";
  ASSERT_EQ_INT(tw_trace_init(&cfg, &err), TW_ARG);
  ASSERT_CONTAINS(err.message, "http/json");
  /* Nothing was installed by the failed calls. */
  ASSERT(!tw_trace_enabled(TW_LEVEL_ERROR, "x"));
}

TEST(bad_environment_is_ignored) {
  tw_trace_config cfg;
  tw_trace_stats st;
  tw_error err;
  unset_env();
  setenv("TENSOR_WASM_OTLP_ENDPOINT", "not a url", 1);
  setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon", 1);
  tw_trace_config_default(&cfg);
  cfg.fmt_out = quiet();
  ASSERT_EQ_INT(tw_trace_init(&cfg, &err), TW_OK);
  traced_run(3);
  tw_trace_shutdown();
  tw_trace_stats_get(&st);
  ASSERT_EQ_INT(st.spans_ended, 3);
  ASSERT_EQ_INT(st.spans_queued, 0); /* no exporter */
  /* An empty explicit endpoint turns export off despite the environment. */
  setenv("TENSOR_WASM_OTLP_ENDPOINT", "http://127.0.0.1:9", 1);
  cfg.otlp_endpoint = "";
  ASSERT_EQ_INT(tw_trace_init(&cfg, &err), TW_OK);
  traced_run(2);
  tw_trace_shutdown();
  tw_trace_stats_get(&st);
  ASSERT_EQ_INT(st.spans_queued, 0);
  unset_env();
}

TEST(retry_classification) {
  ASSERT_EQ_INT(tw__otlp_classify_grpc(0), TW__SEND_OK);
  ASSERT_EQ_INT(tw__otlp_classify_grpc(14), TW__SEND_RETRY); /* UNAVAILABLE */
  ASSERT_EQ_INT(tw__otlp_classify_grpc(4), TW__SEND_RETRY);
  ASSERT_EQ_INT(tw__otlp_classify_grpc(1), TW__SEND_RETRY);
  ASSERT_EQ_INT(tw__otlp_classify_grpc(10), TW__SEND_RETRY);
  ASSERT_EQ_INT(tw__otlp_classify_grpc(11), TW__SEND_RETRY);
  ASSERT_EQ_INT(tw__otlp_classify_grpc(15), TW__SEND_RETRY);
  ASSERT_EQ_INT(tw__otlp_classify_grpc(3), TW__SEND_FAIL);  /* INVALID_ARG */
  ASSERT_EQ_INT(tw__otlp_classify_grpc(12), TW__SEND_FAIL); /* UNIMPLEMENTED */
  ASSERT_EQ_INT(tw__otlp_classify_grpc(16), TW__SEND_FAIL);
  ASSERT_EQ_INT(tw__otlp_classify_http(200), TW__SEND_OK);
  ASSERT_EQ_INT(tw__otlp_classify_http(204), TW__SEND_OK);
  ASSERT_EQ_INT(tw__otlp_classify_http(429), TW__SEND_RETRY);
  ASSERT_EQ_INT(tw__otlp_classify_http(502), TW__SEND_RETRY);
  ASSERT_EQ_INT(tw__otlp_classify_http(503), TW__SEND_RETRY);
  ASSERT_EQ_INT(tw__otlp_classify_http(504), TW__SEND_RETRY);
  ASSERT_EQ_INT(tw__otlp_classify_http(400), TW__SEND_FAIL);
  ASSERT_EQ_INT(tw__otlp_classify_http(404), TW__SEND_FAIL);
  ASSERT_EQ_INT(tw__otlp_classify_http(500), TW__SEND_FAIL);
}

/* The protobuf writer: varints, nested lengths past one byte. */
TEST(protobuf_writer) {
  tw__pb pb;
  tw__pb_init(&pb);
  tw__pb_varint_field(&pb, 1, 300);
  ASSERT_EQ_INT(pb.len, 3);
  ASSERT_EQ_INT(pb.buf[0], 0x08);
  ASSERT_EQ_INT(pb.buf[1], 0xac);
  ASSERT_EQ_INT(pb.buf[2], 0x02);
  pb.len = 0;
  tw__pb_varint_field(&pb, 3, (uint64_t)(int64_t)-1); /* int64 -1: 10 bytes */
  ASSERT_EQ_INT(pb.len, 11);
  ASSERT_EQ_INT(pb.buf[10], 0x01);
  pb.len = 0;
  tw__pb_fixed64_field(&pb, 7, 0x0102030405060708ull);
  ASSERT_EQ_INT(pb.buf[0], (7 << 3) | 1);
  ASSERT_EQ_INT(pb.buf[1], 0x08);
  ASSERT_EQ_INT(pb.buf[8], 0x01);
  pb.len = 0;
  tw__pb_begin(&pb, 2);
  for (int i = 0; i < 200; i++) tw__pb_varint_field(&pb, 1, 1);
  tw__pb_end(&pb);
  /* tag, then 400 as a two-byte varint, then the body */
  ASSERT_EQ_INT(pb.len, 1 + 2 + 400);
  ASSERT_EQ_INT(pb.buf[0], 0x12);
  ASSERT_EQ_INT(pb.buf[1], 0x90);
  ASSERT_EQ_INT(pb.buf[2], 0x03);
  ASSERT_EQ_INT(pb.buf[3], 0x08);
  ASSERT(!pb.oom);
  tw__pb_free(&pb);
}

TEST_MAIN()
