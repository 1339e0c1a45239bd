/*
 * termios for the console receiver's tty sources: Node can read a tty but cannot set its baud
 * rate or framing. Four calls, nothing else:
 *   configure(fd, baud, dataBits, parity, stopBits) -> Buffer (the settings before, to restore)
 *     raw mode (cfmakeraw: no echo, no line editing, no signals, no CR/NL translation), the
 *     given speed in and out, CSIZE/PARENB/PARODD/CSTOPB as asked, CLOCAL (no modem control
 *     lines needed), CREAD, no hardware or software flow control; VMIN 1, VTIME 0.
 *   restore(fd, saved) puts the settings back (the line is left as it was found).
 *   current(fd) -> Buffer: the settings now, untouched (kept on disk before configure, so a
 *     receiver killed with the line configured can be undone by the next start).
 * Errors throw with `code` set to the errno name (ENOTTY, EBADF, EINVAL, EIO, ...).
 */
#include <node_api.h>
#include <termios.h>
#include <errno.h>
#include <string.h>
#include <stdio.h>

static napi_value throw_errno(napi_env env, const char *what, int err) {
  const char *code;
  switch (err) {
    case ENOTTY: code = "ENOTTY"; break;
    case EBADF: code = "EBADF"; break;
    case EINVAL: code = "EINVAL"; break;
    case EIO: code = "EIO"; break;
    case EINTR: code = "EINTR"; break;
    default: code = "EIO"; break;
  }
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, code, msg);
  return NULL;
}

static int speed_of(unsigned baud, speed_t *out) {
  static const struct { unsigned n; speed_t s; } table[] = {
    {50, B50}, {75, B75}, {110, B110}, {134, B134}, {150, B150}, {200, B200}, {300, B300},
    {600, B600}, {1200, B1200}, {1800, B1800}, {2400, B2400}, {4800, B4800}, {9600, B9600},
    {19200, B19200}, {38400, B38400}, {57600, B57600}, {115200, B115200}, {230400, B230400},
    {460800, B460800}, {500000, B500000}, {576000, B576000}, {921600, B921600},
    {1000000, B1000000}, {1152000, B1152000}, {1500000, B1500000}, {2000000, B2000000},
    {2500000, B2500000}, {3000000, B3000000}, {3500000, B3500000}, {4000000, B4000000},
  };
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (table[i].n == baud) { *out = table[i].s; return 0; }
  return -1;
}

static napi_value configure(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 5) { napi_throw_type_error(env, NULL, "configure(fd, baud, dataBits, parity, stopBits)"); return NULL; }
  int32_t fd, data_bits, stop_bits;
  uint32_t baud;
  char parity[8] = {0};
  size_t plen;
  napi_get_value_int32(env, argv[0], &fd);
  napi_get_value_uint32(env, argv[1], &baud);
  napi_get_value_int32(env, argv[2], &data_bits);
  napi_get_value_string_utf8(env, argv[3], parity, sizeof parity, &plen);
  napi_get_value_int32(env, argv[4], &stop_bits);
  speed_t speed;
  if (speed_of(baud, &speed) != 0) return throw_errno(env, "baud rate", EINVAL);

  struct termios before, t;
  memset(&before, 0, sizeof before); /* no stack bytes in the padding of what is handed out (and kept on disk) */
  if (tcgetattr(fd, &before) != 0) return throw_errno(env, "tcgetattr", errno);
  t = before;
  cfmakeraw(&t);
  t.c_cflag &= ~(CSIZE | PARENB | PARODD | CSTOPB | CRTSCTS);
  t.c_cflag |= CLOCAL | CREAD;
  t.c_cflag |= data_bits == 5 ? CS5 : data_bits == 6 ? CS6 : data_bits == 7 ? CS7 : CS8;
  if (strcmp(parity, "even") == 0) t.c_cflag |= PARENB;
  else if (strcmp(parity, "odd") == 0) t.c_cflag |= PARENB | PARODD;
  if (stop_bits == 2) t.c_cflag |= CSTOPB;
  t.c_iflag &= ~(IXON | IXOFF | IXANY);
  t.c_cc[VMIN] = 1;
  t.c_cc[VTIME] = 0;
  if (cfsetispeed(&t, speed) != 0 || cfsetospeed(&t, speed) != 0) return throw_errno(env, "cfsetspeed", errno);
  if (tcsetattr(fd, TCSANOW, &t) != 0) return throw_errno(env, "tcsetattr", errno);

  napi_value saved;
  void *data;
  napi_create_buffer_copy(env, sizeof before, &before, &data, &saved);
  return saved;
}

static napi_value restore(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2) { napi_throw_type_error(env, NULL, "restore(fd, saved)"); return NULL; }
  int32_t fd;
  napi_get_value_int32(env, argv[0], &fd);
  void *data;
  size_t len;
  if (napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok || len != sizeof(struct termios)) {
    napi_throw_type_error(env, NULL, "restore: saved settings of the wrong size");
    return NULL;
  }
  struct termios t;
  memcpy(&t, data, sizeof t);
  if (tcsetattr(fd, TCSANOW, &t) != 0) return throw_errno(env, "tcsetattr", errno);
  return NULL;
}

static napi_value current(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1) { napi_throw_type_error(env, NULL, "current(fd)"); return NULL; }
  int32_t fd;
  napi_get_value_int32(env, argv[0], &fd);
  struct termios t;
  memset(&t, 0, sizeof t);
  if (tcgetattr(fd, &t) != 0) return throw_errno(env, "tcgetattr", errno);
  napi_value out;
  void *data;
  napi_create_buffer_copy(env, sizeof t, &t, &data, &out);
  return out;
}

/* The speed and framing the line has now (for the start-up log and the tests). */
static napi_value query(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  napi_get_value_int32(env, argv[0], &fd);
  struct termios t;
  if (tcgetattr(fd, &t) != 0) return throw_errno(env, "tcgetattr", errno);
  speed_t s = cfgetispeed(&t);
  static const struct { speed_t s; unsigned n; } rates[] = {
    {B9600, 9600}, {B19200, 19200}, {B38400, 38400}, {B57600, 57600}, {B115200, 115200}, {B230400, 230400},
    {B460800, 460800}, {B921600, 921600}, {B1200, 1200}, {B2400, 2400}, {B4800, 4800}, {B300, 300},
  };
  unsigned baud = 0;
  for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++) if (rates[i].s == s) baud = rates[i].n;
  unsigned bits = (t.c_cflag & CSIZE) == CS5 ? 5 : (t.c_cflag & CSIZE) == CS6 ? 6 : (t.c_cflag & CSIZE) == CS7 ? 7 : 8;
  napi_value o, v;
  napi_create_object(env, &o);
  napi_create_uint32(env, baud, &v); napi_set_named_property(env, o, "baud", v);
  napi_create_uint32(env, bits, &v); napi_set_named_property(env, o, "dataBits", v);
  napi_create_string_utf8(env, (t.c_cflag & PARENB) ? ((t.c_cflag & PARODD) ? "odd" : "even") : "none", NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, o, "parity", v);
  napi_create_uint32(env, (t.c_cflag & CSTOPB) ? 2 : 1, &v); napi_set_named_property(env, o, "stopBits", v);
  napi_get_boolean(env, (t.c_lflag & (ICANON | ECHO)) == 0, &v); napi_set_named_property(env, o, "raw", v);
  return o;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"configure", NULL, configure, NULL, NULL, NULL, napi_default, NULL},
    {"restore", NULL, restore, NULL, NULL, NULL, napi_default, NULL},
    {"query", NULL, query, NULL, NULL, NULL, napi_default, NULL},
    {"current", NULL, current, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, 4, props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
