/* Exercises args, environ, clocks, random_get, poll_oneoff, sched_yield,
 * proc_raise, the sock_* answers and stdin.  The host runs it as
 * `misc alpha beta` with K1=v1 and K2=v2 and stdin "line one\nline two\n";
 * it then echoes stdin to stdout after its checks. */
#include <stdlib.h>
#include <time.h>

#include "check.h"

#define E(x) __WASI_ERRNO_##x

extern char **environ;

static void args_env(int argc, char **argv) {
  CHECK_EQ("argc", argc, 3);
  CHECK_STR("argv0", argv[0], "misc");
  CHECK_STR("argv1", argv[1], "alpha");
  CHECK_STR("argv2", argv[2], "beta");
  CHECK_STR("getenv_k1", getenv("K1") ? getenv("K1") : "(null)", "v1");
  CHECK_STR("getenv_k2", getenv("K2") ? getenv("K2") : "(null)", "v2");
  int n = 0;
  for (char **e = environ; *e; e++) n++;
  CHECK_EQ("environ_count", n, 2);
  __wasi_size_t count, size;
  CHECK_EQ("args_sizes", __wasi_args_sizes_get(&count, &size), 0);
  CHECK_EQ("args_count", count, 3);
  CHECK_EQ("args_bytes", size, strlen("misc") + strlen("alpha") + strlen("beta") + 3);
  CHECK_EQ("environ_sizes", __wasi_environ_sizes_get(&count, &size), 0);
  CHECK_EQ("environ_bytes", size, 12);
  CHECK_EQ("args_sizes_efault", raw_args_sizes_get((int)0xFFFFFFFF, 0), E(FAULT));
}

static void clocks(void) {
  __wasi_timestamp_t res, t1, t2;
  for (int id = 0; id < 4; id++) {
    char name[32];
    snprintf(name, sizeof name, "clock_res_%d", id);
    CHECK_EQ(name, __wasi_clock_res_get((__wasi_clockid_t)id, &res) == 0 && res > 0, 1);
    snprintf(name, sizeof name, "clock_time_%d", id);
    CHECK_EQ(name, __wasi_clock_time_get((__wasi_clockid_t)id, 1, &t1), 0);
  }
  CHECK_EQ("clock_bad_id", __wasi_clock_time_get(9, 1, &t1), E(INVAL));
  CHECK_EQ("clock_res_bad_id", __wasi_clock_res_get(9, &res), E(INVAL));
  CHECK_EQ("realtime_after_2020", __wasi_clock_time_get(0, 1, &t1) == 0 &&
           t1 > 1577836800ull * 1000000000ull, 1);
  CHECK_EQ("monotonic_1", __wasi_clock_time_get(1, 1, &t1), 0);
  volatile double x = 0; /* burn a little CPU time */
  for (int i = 0; i < 200000; i++) x += i * 0.5;
  CHECK("cpu_burned", x > 0);
  CHECK_EQ("monotonic_2", __wasi_clock_time_get(1, 1, &t2), 0);
  CHECK("monotonic_order", t2 >= t1);
  CHECK_EQ("process_cputime", __wasi_clock_time_get(2, 1, &t2) == 0 && t2 > 0, 1);
  struct timespec ts;
  CHECK_EQ("libc_clock_gettime", clock_gettime(CLOCK_MONOTONIC, &ts), 0);
}

static void randomness(void) {
  uint8_t a[64] = {0}, b[64] = {0};
  CHECK_EQ("random_get", __wasi_random_get(a, sizeof a), 0);
  CHECK_EQ("random_get2", __wasi_random_get(b, sizeof b), 0);
  CHECK("random_differs", memcmp(a, b, sizeof a) != 0);
  int nonzero = 0;
  for (size_t i = 0; i < sizeof a; i++) nonzero |= a[i];
  CHECK("random_not_zero", nonzero);
  CHECK_EQ("random_empty", __wasi_random_get(a, 0), 0);
}

static void polling(void) {
  __wasi_subscription_t sub[3];
  __wasi_event_t ev[3];
  __wasi_size_t n;
  __wasi_timestamp_t t1, t2;
  memset(sub, 0, sizeof sub);
  /* a relative clock: the wait must last at least the timeout */
  sub[0].userdata = 7;
  sub[0].u.tag = __WASI_EVENTTYPE_CLOCK;
  sub[0].u.u.clock.id = __WASI_CLOCKID_MONOTONIC;
  sub[0].u.u.clock.timeout = 20000000; /* 20 ms */
  CHECK_EQ("poll_clock_start", __wasi_clock_time_get(1, 1, &t1), 0);
  CHECK_EQ("poll_clock", __wasi_poll_oneoff(sub, ev, 1, &n), 0);
  CHECK_EQ("poll_clock_time", __wasi_clock_time_get(1, 1, &t2), 0);
  CHECK_EQ("poll_clock_n", n, 1);
  CHECK_EQ("poll_clock_userdata", ev[0].userdata, 7);
  CHECK_EQ("poll_clock_type", ev[0].type, __WASI_EVENTTYPE_CLOCK);
  CHECK_EQ("poll_clock_error", ev[0].error, 0);
  CHECK("poll_clock_waited", t2 - t1 >= 20000000);
  /* an absolute deadline already past fires at once */
  sub[0].u.u.clock.timeout = 1;
  sub[0].u.u.clock.flags = __WASI_SUBCLOCKFLAGS_SUBSCRIPTION_CLOCK_ABSTIME;
  CHECK_EQ("poll_abstime", __wasi_poll_oneoff(sub, ev, 1, &n) == 0 && n == 1, 1);
  /* stdin (a memory buffer) is readable now; stdout writable; fd 42 bad */
  memset(sub, 0, sizeof sub);
  sub[0].userdata = 1;
  sub[0].u.tag = __WASI_EVENTTYPE_FD_READ;
  sub[0].u.u.fd_read.file_descriptor = 0;
  sub[1].userdata = 2;
  sub[1].u.tag = __WASI_EVENTTYPE_FD_WRITE;
  sub[1].u.u.fd_write.file_descriptor = 1;
  sub[2].userdata = 3;
  sub[2].u.tag = __WASI_EVENTTYPE_FD_READ;
  sub[2].u.u.fd_read.file_descriptor = 42;
  CHECK_EQ("poll_fds", __wasi_poll_oneoff(sub, ev, 3, &n), 0);
  CHECK_EQ("poll_fds_n", n, 3);
  CHECK_EQ("poll_stdin_ready", ev[0].userdata == 1 && ev[0].error == 0 &&
           ev[0].type == __WASI_EVENTTYPE_FD_READ, 1);
  CHECK_EQ("poll_stdin_nbytes", ev[0].fd_readwrite.nbytes, 18);
  CHECK_EQ("poll_stdout_ready", ev[1].userdata == 2 && ev[1].error == 0, 1);
  CHECK_EQ("poll_bad_fd", ev[2].userdata == 3 && ev[2].error == E(BADF), 1);
  CHECK_EQ("poll_none", __wasi_poll_oneoff(sub, ev, 0, &n), E(INVAL));
  sub[0].u.tag = 9;
  CHECK_EQ("poll_bad_tag", __wasi_poll_oneoff(sub, ev, 1, &n), E(INVAL));
}

static void process(void) {
  CHECK_EQ("sched_yield", __wasi_sched_yield(), 0);
  CHECK_EQ("proc_raise", raw_proc_raise(6), E(NOSYS));
  __wasi_fd_t fd;
  __wasi_size_t n;
  __wasi_roflags_t ro;
  __wasi_iovec_t iov = {NULL, 0};
  __wasi_ciovec_t ciov = {NULL, 0};
  CHECK_EQ("sock_accept_notsock", __wasi_sock_accept(1, 0, &fd), E(NOTSOCK));
  CHECK_EQ("sock_accept_badf", __wasi_sock_accept(77, 0, &fd), E(BADF));
  CHECK_EQ("sock_recv", __wasi_sock_recv(0, &iov, 1, 0, &n, &ro), E(NOTSOCK));
  CHECK_EQ("sock_send", __wasi_sock_send(1, &ciov, 1, 0, &n), E(NOTSOCK));
  CHECK_EQ("sock_shutdown", __wasi_sock_shutdown(2, __WASI_SDFLAGS_RD), E(NOTSOCK));
  __wasi_fdstat_t st;
  CHECK_EQ("stdin_fdstat", __wasi_fd_fdstat_get(0, &st), 0);
  CHECK_EQ("stdin_chardev", st.fs_filetype, __WASI_FILETYPE_CHARACTER_DEVICE);
  CHECK_EQ("stdin_seek_refused", __wasi_fd_seek(0, 0, __WASI_WHENCE_SET, NULL), E(NOTCAPABLE));
}

int main(int argc, char **argv) {
  args_env(argc, argv);
  clocks();
  randomness();
  polling();
  process();
  printf("done %d failures\n", failures);
  /* then copy stdin to stdout through stdio */
  int c;
  while ((c = getchar()) != EOF) putchar(c);
  return failures;
}
