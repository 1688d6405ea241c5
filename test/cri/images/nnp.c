/* nnp.c: the nonewprivs image's program: installed setuid root, prints its effective uid.
 * Built by build-images (gcc -static). */
#include <stdio.h>
#include <unistd.h>
int main(void) { printf("Effective uid: %d\n", (int)geteuid()); return 0; }
