/* nginx.c: an "nginx" stand-in for critest's nginx:1.14-2 and hostnet-nginx images, on busybox.
 * Like nginx's master it is named nginx (pidof nginx finds it), shows "nginx: master process ..."
 * in /proc/PID/cmdline, writes /var/run/nginx.pid, and serves /usr/share/nginx/html on
 * $NGINX_PORT (default 80) through a busybox httpd child. TERM/INT/QUIT stop it (exit 0).
 * Built by build-images (gcc -static). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
static pid_t child = -1;
static void stop(int s) { (void)s; if (child > 0) kill(child, SIGTERM); _exit(0); }
int main(int argc, char **argv) {
  (void)argc;
  if (strncmp(argv[0], "nginx:", 6) != 0) {
    char *nargv[] = {"nginx: master process nginx -g daemon off;", NULL};
    char self[4096]; ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) { perror("nginx: readlink /proc/self/exe"); return 1; }
    self[n] = 0; execv(self, nargv); /* the real path, so that comm stays "nginx" */
    perror("nginx: re-exec"); return 1;
  }
  const char *port = getenv("NGINX_PORT"); if (!port || !*port) port = "80";
  struct sigaction a = {0}; a.sa_handler = stop;
  sigaction(SIGTERM, &a, NULL); sigaction(SIGINT, &a, NULL); sigaction(SIGQUIT, &a, NULL);
  mkdir("/var/run", 0755);
  FILE *f = fopen("/var/run/nginx.pid", "w");
  if (f) { fprintf(f, "%d\n", (int)getpid()); fclose(f); }
  child = fork();
  if (child == 0) {
    execl("/bin/busybox", "httpd", "-f", "-p", port, "-h", "/usr/share/nginx/html", (char *)NULL);
    perror("nginx: exec busybox httpd"); _exit(127);
  }
  fprintf(stderr, "nginx stand-in: master %d, busybox httpd %d on port %s\n", (int)getpid(), (int)child, port);
  for (;;) {
    int st; pid_t p = wait(&st);
    if (p == child) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (p < 0) pause();
  }
}
