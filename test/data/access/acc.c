/* A known program for the access-list tests (built static by the test, so it also runs in a
   chroot without libraries). Each mode does a fixed set of file operations and exits 0, or 1
   with a message when an operation that must succeed failed.

   acc ops DIR        in DIR (chdir, relative paths): create+write+truncate rel, read rel,
                      append to DIR/app (absolute), stat rel, chmod rel 0600, rename rel ren, truncate ren,
                      unlink ren, mkdir sub 0750
   acc chroot DIR     chroot(DIR), chdir("/"): create /inroot (absolute inside), write ./rel2
   acc eacces PATH    open(PATH, O_RDONLY) must fail (run as nobody on a mode-000 file)
   acc etxtbsy PATH   keep PATH open for writing, fork a child that execs it (ETXTBSY)
   acc flood DIR N    create and write N files DIR/f0..f(N-1)
   Every mode then waits 300 ms, so /proc/<pid>/cwd is still there when the tracer's line is read;
   with a last argument `hold` it waits instead until its standard input closes (the test closes it
   once the recorder has read every line that needed the cwd: on a busy machine 300 ms is not enough). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int die(const char *what) {
  fprintf(stderr, "acc: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void put(const char *path, int flags, const char *text) {
  int fd = open(path, flags, 0640);
  if (fd < 0) die(path);
  if (write(fd, text, strlen(text)) < 0) die("write");
  close(fd);
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  const char *mode = argv[1], *arg = argv[2];
  char buf[4096];
  if (!strcmp(mode, "ops")) {
    if (chdir(arg)) die("chdir");
    put("rel", O_CREAT | O_WRONLY | O_TRUNC, "a\n");
    usleep(100000); /* the create is read with the mode the file has then */
    int fd = open("rel", O_RDONLY);
    if (fd < 0 || read(fd, buf, sizeof buf) < 0) die("read rel");
    close(fd);
    snprintf(buf, sizeof buf, "%s/app", arg);
    put(buf, O_CREAT | O_WRONLY | O_APPEND, "b\n");
    struct stat st;
    if (stat("rel", &st)) die("stat"); /* file getattr, when it is recorded */
    if (chmod("rel", 0600)) die("chmod");
    if (rename("rel", "ren")) die("rename");
    if (truncate("ren", 0)) die("truncate");
    if (unlink("ren")) die("unlink");
    if (mkdir("sub", 0750)) die("mkdir");
  } else if (!strcmp(mode, "chroot")) {
    if (chroot(arg) || chdir("/")) die("chroot");
    put("/inroot", O_CREAT | O_WRONLY, "c\n");
    put("rel2", O_CREAT | O_WRONLY, "d\n");
  } else if (!strcmp(mode, "eacces")) {
    if (open(arg, O_RDONLY) >= 0 || errno != EACCES) die("open of a mode-000 file did not fail with EACCES");
  } else if (!strcmp(mode, "etxtbsy")) {
    int fd = open(arg, O_WRONLY);
    if (fd < 0) die("open for writing");
    pid_t c = fork();
    if (c == 0) {
      char *av[] = {(char *)arg, NULL};
      execv(arg, av);
      _exit(errno == ETXTBSY ? 0 : 3);
    }
    int st;
    waitpid(c, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      fprintf(stderr, "acc: exec did not fail with ETXTBSY\n");
      return 1;
    }
    close(fd);
  } else if (!strcmp(mode, "flood")) {
    int n = atoi(argv[3]);
    for (int i = 0; i < n; i++) {
      snprintf(buf, sizeof buf, "%s/f%d", arg, i);
      put(buf, O_CREAT | O_WRONLY, "e\n");
    }
  } else {
    return 2;
  }
  if (!strcmp(argv[argc - 1], "hold")) {
    while (read(0, buf, sizeof buf) > 0) {
    }
  } else {
    usleep(300000);
  }
  return 0;
}
