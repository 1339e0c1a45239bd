/*
 * A child for the I/O detector's live test (src/record/io/io.test.ts): does known disk I/O in
 * its dir and prints, just before each thread ends, that thread's /proc/self/task/<tid>/io:
 *   io tid=<tid> tgid=<pid> ms=<thread life> read_bytes=<n> write_bytes=<n> cancelled_write_bytes=<n>
 * Modes:
 *   direct <dir> <KiB>    O_DIRECT write of KiB to a file, then O_DIRECT read of it back
 *   buffered <dir> <KiB>  buffered write + fsync; plus 256 KiB written and truncated before writeback (cancelled)
 *   threads <dir> <n>     n threads, thread i writes (i+1) * 512 KiB with O_DIRECT; thread 0 lives < 100 ms;
 *                         the main thread then writes 128 KiB buffered + fsync
 *   storm <dir> <n> [k]   n children (batches of 50 at a time); every k-th (default 2) writes 4 KiB with O_DIRECT,
 *                         the others none; prints `storm <n> cpu=<s>` (its own and its children's CPU)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *dir;

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void die(const char *what) {
  fprintf(stderr, "io-child: %s: %s\n", what, strerror(errno));
  exit(2);
}

/* The thread's own accounting, printed in one write (threads print concurrently). */
static void report(double start) {
  pid_t tid = (pid_t)syscall(SYS_gettid);
  char path[64], buf[1024], line[512];
  snprintf(path, sizeof path, "/proc/self/task/%d/io", tid);
  int fd = open(path, O_RDONLY);
  if (fd < 0) die("open io");
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) die("read io");
  buf[n] = 0;
  unsigned long long rb = 0, wb = 0, cb = 0;
  char *p;
  if ((p = strstr(buf, "\nread_bytes: "))) rb = strtoull(p + 13, NULL, 10);
  if ((p = strstr(buf, "\nwrite_bytes: "))) wb = strtoull(p + 14, NULL, 10);
  if ((p = strstr(buf, "\ncancelled_write_bytes: "))) cb = strtoull(p + 24, NULL, 10);
  int len = snprintf(line, sizeof line, "io tid=%d tgid=%d ms=%.1f read_bytes=%llu write_bytes=%llu cancelled_write_bytes=%llu\n", tid, getpid(), now_ms() - start, rb, wb, cb);
  if (write(1, line, (size_t)len) != len) die("write report");
}

static void direct_write(const char *name, size_t bytes, int read_back) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  int fd = open(path, O_CREAT | O_TRUNC | O_RDWR | O_DIRECT, 0600);
  if (fd < 0) die("open O_DIRECT");
  void *buf;
  if (posix_memalign(&buf, 4096, 65536)) die("posix_memalign");
  memset(buf, 'x', 65536);
  for (size_t done = 0; done < bytes;) {
    size_t chunk = bytes - done < 65536 ? bytes - done : 65536;
    if (pwrite(fd, buf, chunk, (off_t)done) != (ssize_t)chunk) die("pwrite O_DIRECT");
    done += chunk;
  }
  if (read_back)
    for (size_t done = 0; done < bytes;) {
      size_t chunk = bytes - done < 65536 ? bytes - done : 65536;
      if (pread(fd, buf, chunk, (off_t)done) != (ssize_t)chunk) die("pread O_DIRECT");
      done += chunk;
    }
  free(buf);
  close(fd);
  unlink(path);
}

static void buffered_write(const char *name, size_t bytes, int do_fsync) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
  if (fd < 0) die("open");
  char buf[65536];
  memset(buf, 'y', sizeof buf);
  for (size_t done = 0; done < bytes; done += sizeof buf)
    if (write(fd, buf, bytes - done < sizeof buf ? bytes - done : sizeof buf) < 0) die("write");
  if (do_fsync && fsync(fd) != 0) die("fsync");
  if (!do_fsync && ftruncate(fd, 0) != 0) die("ftruncate"); /* dirty pages dropped: cancelled_write_bytes */
  close(fd);
  unlink(path);
}

static void *thread_main(void *arg) {
  long i = (long)arg;
  double start = now_ms();
  char name[64];
  snprintf(name, sizeof name, "t%ld.%d", i, getpid());
  direct_write(name, (size_t)(i + 1) * 512 * 1024, 0);
  if (i > 0) usleep(200 * 1000); /* the others outlive thread 0 by far */
  report(start);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: io-child direct|buffered|threads|storm DIR N\n");
    return 64;
  }
  dir = argv[2];
  long n = atol(argv[3]);
  double start = now_ms();
  char name[64];
  snprintf(name, sizeof name, "m.%d", getpid());
  if (!strcmp(argv[1], "direct")) {
    direct_write(name, (size_t)n * 1024, 1);
  } else if (!strcmp(argv[1], "buffered")) {
    buffered_write(name, (size_t)n * 1024, 1);
    snprintf(name, sizeof name, "c.%d", getpid());
    buffered_write(name, 256 * 1024, 0);
  } else if (!strcmp(argv[1], "threads")) {
    pthread_t t[64];
    if (n < 1 || n > 64) return 64;
    for (long i = 0; i < n; i++) {
      if (pthread_create(&t[i], NULL, thread_main, (void *)i)) die("pthread_create");
      if (i == 0) pthread_join(t[0], NULL); /* thread 0 is gone before the next starts */
    }
    for (long i = 1; i < n; i++) pthread_join(t[i], NULL);
    buffered_write(name, 128 * 1024, 1);
  } else if (!strcmp(argv[1], "storm")) {
    long every = argc > 4 ? atol(argv[4]) : 2;
    if (every < 1) every = 1;
    for (long i = 0; i < n;) {
      long batch = 0;
      for (; batch < 50 && i < n; batch++, i++) {
        pid_t p = fork();
        if (p < 0) die("fork");
        if (p == 0) {
          if (i % every == 0) {
            snprintf(name, sizeof name, "s.%d", getpid());
            direct_write(name, 4096, 0);
          }
          _exit(0);
        }
      }
      while (batch-- > 0) wait(NULL);
    }
    struct rusage self, kids;
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &kids);
    double cpu = self.ru_utime.tv_sec + self.ru_stime.tv_sec + kids.ru_utime.tv_sec + kids.ru_stime.tv_sec +
                 (self.ru_utime.tv_usec + self.ru_stime.tv_usec + kids.ru_utime.tv_usec + kids.ru_stime.tv_usec) / 1e6;
    printf("storm %ld cpu=%.3f\n", n, cpu);
    return 0;
  } else {
    return 64;
  }
  report(start);
  return 0;
}
