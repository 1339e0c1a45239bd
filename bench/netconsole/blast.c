/* Loopback netconsole burst sender for bench/netconsole (compiled by run.mjs with gcc).
 * Usage: blast <dest-ip> <port> <file> <nsockets>
 * <file>: records of [u16 sender index, little-endian][u16 length][payload].
 * Each sender index gets its own UDP socket (own source port); each sender's datagrams
 * go out in file order, senders take turns in batches of 32 (sendmmsg), as fast as possible.
 * Prints: sent=<n> seconds=<s> rate=<datagrams/s> */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BATCH 32

int main(int argc, char **argv) {
  if (argc != 5) { fprintf(stderr, "usage: blast ip port file nsockets\n"); return 2; }
  int port = atoi(argv[2]), nsock = atoi(argv[4]);
  FILE *f = fopen(argv[3], "rb");
  if (!f) { perror(argv[3]); return 1; }
  struct stat st; fstat(fileno(f), &st);
  unsigned char *data = malloc(st.st_size);
  if (fread(data, 1, st.st_size, f) != (size_t)st.st_size) { perror("read"); return 1; }
  fclose(f);
  /* index records per sender */
  size_t n = 0, off = 0;
  while (off + 4 <= (size_t)st.st_size) { uint16_t len = data[off + 2] | (data[off + 3] << 8); off += 4 + len; n++; }
  size_t *cnt = calloc(nsock, sizeof(size_t)), **idx = calloc(nsock, sizeof(size_t *)), *pos = calloc(nsock, sizeof(size_t));
  off = 0;
  for (size_t i = 0; i < n; i++) { uint16_t s = data[off] | (data[off + 1] << 8); uint16_t len = data[off + 2] | (data[off + 3] << 8); cnt[s % nsock]++; off += 4 + len; }
  for (int s = 0; s < nsock; s++) idx[s] = malloc(sizeof(size_t) * (cnt[s] + 1));
  off = 0;
  for (size_t i = 0; i < n; i++) { uint16_t s = data[off] | (data[off + 1] << 8); uint16_t len = data[off + 2] | (data[off + 3] << 8); idx[s % nsock][pos[s % nsock]++] = off; off += 4 + len; }
  memset(pos, 0, sizeof(size_t) * nsock);
  int *fds = malloc(sizeof(int) * nsock);
  struct sockaddr_storage dst; socklen_t dlen;
  memset(&dst, 0, sizeof dst);
  int v6 = strchr(argv[1], ':') != NULL;
  if (v6) { struct sockaddr_in6 *a = (void *)&dst; a->sin6_family = AF_INET6; a->sin6_port = htons(port); inet_pton(AF_INET6, argv[1], &a->sin6_addr); dlen = sizeof *a; }
  else { struct sockaddr_in *a = (void *)&dst; a->sin_family = AF_INET; a->sin_port = htons(port); inet_pton(AF_INET, argv[1], &a->sin_addr); dlen = sizeof *a; }
  for (int s = 0; s < nsock; s++) {
    fds[s] = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
    if (fds[s] < 0) { perror("socket"); return 1; }
    int sb = 4 << 20; setsockopt(fds[s], SOL_SOCKET, SO_SNDBUF, &sb, sizeof sb);
    if (connect(fds[s], (struct sockaddr *)&dst, dlen) < 0) { perror("connect"); return 1; }
  }
  struct mmsghdr msgs[BATCH]; struct iovec iov[BATCH];
  struct timespec t0, t1; clock_gettime(CLOCK_MONOTONIC, &t0);
  size_t sent = 0, left = n;
  while (left > 0) {
    for (int s = 0; s < nsock; s++) {
      int k = 0;
      while (k < BATCH && pos[s] < cnt[s]) {
        size_t o = idx[s][pos[s]++];
        uint16_t len = data[o + 2] | (data[o + 3] << 8);
        iov[k].iov_base = data + o + 4; iov[k].iov_len = len;
        memset(&msgs[k].msg_hdr, 0, sizeof msgs[k].msg_hdr);
        msgs[k].msg_hdr.msg_iov = &iov[k]; msgs[k].msg_hdr.msg_iovlen = 1;
        k++;
      }
      int done = 0;
      while (done < k) {
        int r = sendmmsg(fds[s], msgs + done, k - done, 0);
        if (r < 0) { usleep(100); continue; } /* ENOBUFS on a full loopback queue: retry */
        done += r;
      }
      sent += k; left -= k;
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf("sent=%zu seconds=%.3f rate=%.0f\n", sent, secs, sent / secs);
  return 0;
}
