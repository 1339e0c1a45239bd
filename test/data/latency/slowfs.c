/*
 * A FUSE file system whose getattr of /slow sleeps SLOWFS_MS milliseconds (default 600), and of
 * /stuck four times as long: a reliable slow stat() for the latency detector's tests. Attributes are never cached, so every
 * stat reaches getattr. Build: gcc slowfs.c $(pkg-config fuse3 --cflags --libs); run:
 * SLOWFS_MS=600 ./slowfs -f -s MOUNTPOINT; unmount with fusermount3 -u MOUNTPOINT.
 */
#define FUSE_USE_VERSION 31
#include <fuse.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static long slow_ms = 600;

static void *sf_init(struct fuse_conn_info *conn, struct fuse_config *cfg) {
  (void)conn;
  cfg->attr_timeout = 0;
  cfg->entry_timeout = 0;
  cfg->negative_timeout = 0;
  return NULL;
}

static int sf_getattr(const char *path, struct stat *st, struct fuse_file_info *fi) {
  (void)fi;
  memset(st, 0, sizeof *st);
  if (strcmp(path, "/") == 0) {
    st->st_mode = S_IFDIR | 0755;
    st->st_nlink = 2;
    return 0;
  }
  if (strcmp(path, "/slow") == 0 || strcmp(path, "/stuck") == 0) {
    long ms = strcmp(path, "/stuck") == 0 ? 4 * slow_ms : slow_ms;
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
    st->st_mode = S_IFREG | 0644;
    st->st_nlink = 1;
    return 0;
  }
  return -ENOENT;
}

static int sf_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off, struct fuse_file_info *fi, enum fuse_readdir_flags fl) {
  (void)off; (void)fi; (void)fl;
  if (strcmp(path, "/") != 0) return -ENOENT;
  fill(buf, ".", NULL, 0, 0);
  fill(buf, "..", NULL, 0, 0);
  fill(buf, "slow", NULL, 0, 0);
  fill(buf, "stuck", NULL, 0, 0);
  return 0;
}

static const struct fuse_operations ops = { .init = sf_init, .getattr = sf_getattr, .readdir = sf_readdir };

int main(int argc, char *argv[]) {
  const char *ms = getenv("SLOWFS_MS");
  if (ms) slow_ms = atol(ms);
  return fuse_main(argc, argv, &ops, NULL);
}
