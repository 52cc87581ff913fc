/* LD_PRELOAD shim for the durability test: logs the path of every fsync/fdatasync and
 * sync_file_range to $FSYNC_LOG, then does the real call. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void note(const char *what, int fd) {
    const char *log = getenv("FSYNC_LOG");
    if (!log) return;
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n < 0) return;
    path[n] = 0;
    FILE *f = fopen(log, "a");
    if (!f) return;
    fprintf(f, "%s %s\n", what, path);
    fclose(f);
}

int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = dlsym(RTLD_NEXT, "fsync");
    note("fsync", fd);
    return real(fd);
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = dlsym(RTLD_NEXT, "fdatasync");
    note("fdatasync", fd);
    return real(fd);
}

int sync_file_range(int fd, off64_t off, off64_t n, unsigned int flags) {
    static int (*real)(int, off64_t, off64_t, unsigned int);
    if (!real) real = dlsym(RTLD_NEXT, "sync_file_range");
    note("sync_file_range", fd);
    return real(fd, off, n, flags);
}
