/*
 * The stat storm: fstatat(AT_FDCWD, PATH, &st, 0) COUNT times (the newfstatat system call on
 * x86-64 and arm64), then prints "calls cpu_seconds" (its own utime+stime, which other users of a
 * shared machine barely move).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>

int main(int argc, char **argv) {
  struct stat st;
  struct rusage ru;
  long n, i;
  if (argc != 3) return 2;
  n = atol(argv[2]);
  for (i = 0; i < n; i++) fstatat(AT_FDCWD, argv[1], &st, 0);
  getrusage(RUSAGE_SELF, &ru);
  printf("%ld %.6f\n", n, ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
  return 0;
}
