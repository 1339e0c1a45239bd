/* A fleet of netconsole senders on loopback for bench/fleet (compiled by run.mjs with gcc).
 * Usage: fleet <port> <senders> <background-lines> <burst-senders> <burst-lines>
 * Each sender has its own source address, 127.1.X.Y (all of 127/8 is loopback), so the receiver
 * sees <senders> distinct hosts, as a real fleet. Phase 1, background: every sender sends
 * <background-lines> extended records, one per sender per round. Phase 2, a synchronized burst
 * (a SysRq-T on many hosts at once): <burst-senders> senders each send <burst-lines> records,
 * 32 per sendmmsg, taking turns. As fast as the kernel takes them.
 * Prints: sent=<datagrams> seconds=<s> rate=<datagrams/s> */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 32

int main(int argc, char **argv) {
  if (argc != 6) { fprintf(stderr, "usage: fleet port senders background-lines burst-senders burst-lines\n"); return 2; }
  int port = atoi(argv[1]), n = atoi(argv[2]), bg = atoi(argv[3]), bs = atoi(argv[4]), bl = atoi(argv[5]);
  if (n < 1 || n > 60000 || bs > n) { fprintf(stderr, "bad counts\n"); return 2; }
  int *fds = malloc(sizeof(int) * n);
  unsigned *seq = calloc(n, sizeof(unsigned));
  struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(port) };
  inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
  for (int i = 0; i < n; i++) {
    fds[i] = socket(AF_INET, SOCK_DGRAM, 0);
    if (fds[i] < 0) { perror("socket (raise the open-file limit)"); return 1; }
    struct sockaddr_in src = { .sin_family = AF_INET, .sin_port = 0 };
    src.sin_addr.s_addr = htonl((127u << 24) | (1u << 16) | ((unsigned)(i / 250) << 8) | (unsigned)(i % 250 + 1));
    if (bind(fds[i], (struct sockaddr *)&src, sizeof src) < 0) { perror("bind"); return 1; }
    int sb = 1 << 20; setsockopt(fds[i], SOL_SOCKET, SO_SNDBUF, &sb, sizeof sb);
    if (connect(fds[i], (struct sockaddr *)&dst, sizeof dst) < 0) { perror("connect"); return 1; }
  }
  char buf[BATCH][200];
  struct mmsghdr msgs[BATCH]; struct iovec iov[BATCH];
  memset(msgs, 0, sizeof msgs);
  struct timespec t0, t1; clock_gettime(CLOCK_MONOTONIC, &t0);
  size_t sent = 0;
  for (int r = 0; r < bg; r++)
    for (int i = 0; i < n; i++) {
      int len = snprintf(buf[0], sizeof buf[0], "6,%u,%u,-;e1000e: eth0 NIC Link is Up 1000 Mbps Full Duplex, round %d\n", seq[i], seq[i] * 1000u, r);
      seq[i]++;
      while (send(fds[i], buf[0], len, 0) < 0) usleep(50);
      sent++;
    }
  for (int left = bl; left > 0; left -= BATCH) {
    int k = left < BATCH ? left : BATCH;
    for (int i = 0; i < bs; i++) {
      for (int j = 0; j < k; j++) {
        int len = snprintf(buf[j], sizeof buf[j], "6,%u,%u,-;task:kworker/%d:%u state:D stack:0 pid:%u ppid:2 flags:0x00004000\n", seq[i], seq[i] * 1000u, i % 64, seq[i], 1000 + seq[i]);
        seq[i]++;
        iov[j].iov_base = buf[j]; iov[j].iov_len = len;
        msgs[j].msg_hdr.msg_iov = &iov[j]; msgs[j].msg_hdr.msg_iovlen = 1;
      }
      int done = 0;
      while (done < k) { int m = sendmmsg(fds[i], msgs + done, k - done, 0); if (m < 0) { usleep(50); continue; } done += m; }
      sent += k;
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf("sent=%zu seconds=%.3f rate=%.0f\n", sent, s, sent / s);
  return 0;
}
