/*
 * UDP send storm for bench/who-sends: WORKERS processes each sendto() COUNT datagrams to
 * 127.0.0.1:PORT from an unconnected socket. The parent binds PORT first and never reads (the
 * kernel drops what does not fit its buffer: no ICMP, no receiver cost). Prints the total
 * sends and the wall time from the first fork to the last exit.
 * usage: storm PORT WORKERS COUNT
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 4) return 2;
  int port = atoi(argv[1]), workers = atoi(argv[2]);
  long count = atol(argv[3]);
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  int rx = socket(AF_INET, SOCK_DGRAM, 0);
  if (bind(rx, (struct sockaddr *)&to, sizeof to)) return 3;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int w = 0; w < workers; w++) {
    if (fork() == 0) {
      int fd = socket(AF_INET, SOCK_DGRAM, 0);
      long ok = 0;
      for (long i = 0; i < count; i++) ok += sendto(fd, "x", 1, 0, (struct sockaddr *)&to, sizeof to) == 1;
      _exit(ok == count ? 0 : 1);
    }
  }
  int failed = 0, st;
  while (wait(&st) > 0) failed += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf("%ld %.6f %d\n", (long)workers * count, s, failed);
  return 0;
}
