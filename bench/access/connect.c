/* Connect storm for bench/access: PROCS processes (named "cstorm"), each CONNECTS × a UDP socket
   connect()ed to 127.0.0.1:PORT+k (k = i % PORTS) and closed. UDP connect needs no listener and
   never blocks, so the storm measures the tracing cost, not a server. Prints total connects,
   seconds and connects/s on one line. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 5) return 2;
  int procs = atoi(argv[1]), connects = atoi(argv[2]), port = atoi(argv[3]), ports = atoi(argv[4]);
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (int p = 0; p < procs; p++) {
    if (fork() == 0) {
      struct sockaddr_in sa = { .sin_family = AF_INET };
      inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
      for (int i = 0; i < connects; i++) {
        sa.sin_port = htons((unsigned short)(port + i % ports));
        int fd = socket(AF_INET, SOCK_DGRAM, 0);
        if (fd < 0) continue;
        connect(fd, (struct sockaddr *)&sa, sizeof sa);
        close(fd);
      }
      _exit(0);
    }
  }
  while (wait(NULL) > 0) {}
  clock_gettime(CLOCK_MONOTONIC, &b);
  double s = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
  long total = (long)procs * connects;
  printf("%ld %.3f %.0f\n", total, s, total / s);
  return 0;
}
