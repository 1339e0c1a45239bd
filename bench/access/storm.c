/* Open storm for bench/access: PROCS processes, each OPENS × open(O_RDONLY)+close of the files
   DIR/t0 … DIR/t(FILES-1) in turn. Prints total opens, seconds and opens/s on one line. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 5) return 2;
  int procs = atoi(argv[1]), opens = atoi(argv[2]), files = atoi(argv[4]);
  const char *dir = argv[3];
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (int p = 0; p < procs; p++) {
    if (fork() == 0) {
      char path[4096];
      for (int i = 0; i < opens; i++) {
        snprintf(path, sizeof path, "%s/t%d", dir, i % files);
        int fd = open(path, O_RDONLY);
        if (fd >= 0) close(fd);
      }
      _exit(0);
    }
  }
  while (wait(NULL) > 0) {}
  clock_gettime(CLOCK_MONOTONIC, &b);
  double s = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
  printf("%d %.6f %.0f\n", procs * opens, s, procs * opens / s);
  return 0;
}
