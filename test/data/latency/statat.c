/*
 * fstatat(AT_FDCWD, argv[1]) once, then lives on for 300 ms as a server would (the recorder reads
 * its cwd to resolve the relative path). glibc's fstatat is the newfstatat system call on x86-64 and arm64.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

int main(int argc, char **argv) {
  struct stat st;
  struct timespec ts = { 0, 300000000L };
  if (argc != 2) return 2;
  if (fstatat(AT_FDCWD, argv[1], &st, 0) != 0) { perror("fstatat"); return 1; }
  nanosleep(&ts, NULL);
  return 0;
}
