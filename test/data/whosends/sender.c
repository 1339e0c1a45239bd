/*
 * A short-lived sender for the who-sends tests: one way of sending per run, then exit at once.
 * usage: sender MODE ADDR PORT [OTHERPORT]
 *   sendto | send | write | sendmsg | sendmmsg   UDP (IPv4 or IPv6 by ADDR); with OTHERPORT it
 *                                                also sends to that port first (must not be reported)
 *   tcp                                          connect + write on TCP
 * Prints its pid on stdout before sending.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static socklen_t addr(const char *a, int port, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof *ss);
  if (strchr(a, ':')) {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(port);
    if (inet_pton(AF_INET6, a, &s6->sin6_addr) != 1) exit(2);
    return sizeof *s6;
  }
  struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
  s4->sin_family = AF_INET;
  s4->sin_port = htons(port);
  if (inet_pton(AF_INET, a, &s4->sin_addr) != 1) exit(2);
  return sizeof *s4;
}

int main(int argc, char **argv) {
  if (argc < 4) return 2;
  const char *mode = argv[1];
  struct sockaddr_storage ss, other;
  socklen_t len = addr(argv[2], atoi(argv[3]), &ss);
  printf("%d\n", getpid());
  fflush(stdout);
  int tcp = strcmp(mode, "tcp") == 0;
  int fd = socket(ss.ss_family, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
  if (fd < 0) return 3;
  if (argc > 4) {
    socklen_t olen = addr(argv[2], atoi(argv[4]), &other);
    sendto(fd, "o", 1, 0, (struct sockaddr *)&other, olen);
  }
  char msg[] = "lantern";
  struct iovec iov = {msg, sizeof msg - 1};
  if (!strcmp(mode, "sendto")) {
    if (sendto(fd, msg, 7, 0, (struct sockaddr *)&ss, len) != 7) return 4;
  } else if (!strcmp(mode, "send")) {
    if (connect(fd, (struct sockaddr *)&ss, len) || send(fd, msg, 7, 0) != 7) return 4;
  } else if (!strcmp(mode, "write") || tcp) {
    if (connect(fd, (struct sockaddr *)&ss, len) || write(fd, msg, 7) != 7) return 4;
  } else if (!strcmp(mode, "sendmsg")) {
    struct msghdr m = {.msg_name = &ss, .msg_namelen = len, .msg_iov = &iov, .msg_iovlen = 1};
    if (sendmsg(fd, &m, 0) != 7) return 4;
  } else if (!strcmp(mode, "sendmmsg")) {
    /* Three messages: the target, another port, the target again. */
    struct sockaddr_storage o2;
    socklen_t l2 = addr(argv[2], atoi(argv[3]) + 2, &o2);
    struct mmsghdr mm[3];
    memset(mm, 0, sizeof mm);
    struct sockaddr_storage *names[3] = {&ss, &o2, &ss};
    socklen_t lens[3] = {len, l2, len};
    for (int i = 0; i < 3; i++) {
      mm[i].msg_hdr.msg_name = names[i];
      mm[i].msg_hdr.msg_namelen = lens[i];
      mm[i].msg_hdr.msg_iov = &iov;
      mm[i].msg_hdr.msg_iovlen = 1;
    }
    if (sendmmsg(fd, mm, 3, 0) != 3) return 4;
  } else
    return 2;
  close(fd);
  return 0;
}
