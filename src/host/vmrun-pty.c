/*
 * vmrun-pty: gives the command it runs a new terminal and sends the terminal's master to a
 * runc caller's --console-socket, as runc does (SCM_RIGHTS, the terminal's name as the data).
 * Node can neither open a pty nor pass an fd, which is why this small piece is C.
 *
 *   vmrun-pty [--size ROWSxCOLS] SOCKET COMMAND [ARG...]
 *
 * --size is process.consoleSize, set on the terminal before its master is sent, as runc does.
 * The command gets the terminal (raw: the guest's pty does the line discipline) as stdin,
 * stdout, stderr and controlling terminal, in a session of its own, so that a resize of the
 * master reaches it as SIGWINCH. A failure is reported as vmrun's ready message on fd 3,
 * {"ok":false,...}, when fd 3 is open, else on stderr.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

static void fail(const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (fcntl(3, F_GETFD) >= 0) {
    dprintf(3, "{\"ok\":false,\"error\":{\"code\":\"InvalidArgument\",\"message\":\"");
    for (const char *c = msg; *c; c++) dprintf(3, (*c == '"' || *c == '\\') ? "\\%c" : "%c", *c);
    dprintf(3, "\"}}\n");
  } else {
    fprintf(stderr, "vmrun: %s\n", msg);
  }
  exit(1);
}

static void send_master(const char *path, int master, const char *name) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof addr.sun_path) fail("--console-socket %s: path too long", path);
  strcpy(addr.sun_path, path);
  int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock < 0 || connect(sock, (struct sockaddr *)&addr, sizeof addr) < 0)
    fail("--console-socket %s: %s", path, strerror(errno));
  char control[CMSG_SPACE(sizeof(int))] = {0};
  struct iovec iov = {.iov_base = (void *)name, .iov_len = strlen(name)};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &master, sizeof(int));
  if (sendmsg(sock, &msg, 0) < 0) fail("--console-socket %s: send the terminal: %s", path, strerror(errno));
  close(sock);
}

int main(int argc, char **argv) {
  struct winsize ws = {0};
  if (argc > 2 && strcmp(argv[1], "--size") == 0) {
    unsigned rows, cols;
    char end;
    if (sscanf(argv[2], "%ux%u%c", &rows, &cols, &end) != 2 || rows == 0 || cols == 0 || rows > 65535 || cols > 65535)
      fail("--size %s: not ROWSxCOLS", argv[2]);
    ws.ws_row = rows;
    ws.ws_col = cols;
    argv += 2;
    argc -= 2;
  }
  if (argc < 3) fail("usage: vmrun-pty [--size ROWSxCOLS] SOCKET COMMAND [ARG...]");
  int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0) fail("open a pty: %s", strerror(errno));
  const char *name = ptsname(master);
  int peer = name ? open(name, O_RDWR | O_NOCTTY) : -1;
  if (peer < 0) fail("open the pty's peer: %s", strerror(errno));
  struct termios t;
  if (tcgetattr(peer, &t) < 0) fail("tcgetattr: %s", strerror(errno));
  cfmakeraw(&t);
  if (tcsetattr(peer, TCSANOW, &t) < 0) fail("tcsetattr: %s", strerror(errno));
  if (ws.ws_row && ioctl(master, TIOCSWINSZ, &ws) < 0) fail("set the terminal's size: %s", strerror(errno));
  send_master(argv[1], master, name);
  close(master);
  if (setsid() < 0 && errno != EPERM) fail("setsid: %s", strerror(errno));
  if (ioctl(peer, TIOCSCTTY, 0) < 0) fail("make the pty the controlling terminal: %s", strerror(errno));
  for (int fd = 0; fd < 3; fd++)
    if (dup2(peer, fd) < 0) fail("dup2: %s", strerror(errno));
  if (peer > 2) close(peer);
  execvp(argv[2], argv + 2);
  fail("exec %s: %s", argv[2], strerror(errno));
}
