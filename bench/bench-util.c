/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-util.c: the benchmark's own machinery on top of root-harness: throw-away filesystems
 * of any type (ext4 and XFS volumes inside an XFS host, for the image provider), filling a
 * volume with many small files quickly, starting vssd with its log kept in a file (the image
 * provider logs how long each hold lasted, and that is the only place it can be seen from
 * outside), and the statistics of the tables.
 *
 * Loop devices are attached by loop_attach_file() (tests/common/loop-fs.c, LO_FLAGS_AUTOCLEAR)
 * and the fd closed once mounted, so the device disappears with the mount even if the
 * benchmark dies; children die with us.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench-util.h"
#include "loop-fs.h"
#include "root-harness.h"
#include "macro.h"

#define MKFS_ARGS_MAX 16

/* Closes fd if open; returns -EBADF to assign back. */
static int safe_close(int fd) {
        if (fd >= 0)
                (void) close(fd);
        return -EBADF;
}

/* Runs argv to its end, its output discarded; 0 only when it exited with status 0. */
static int run_quiet(char *const argv[]) {
        int status, r;
        pid_t pid;

        r = spawn_logged(argv, "/dev/null", &pid);
        if (r < 0)
                return r;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EPROTO;
}

int bench_fs_make(const char *image, uint64_t size, const char *fstype, const char *const *mkfs_args,
                  const char *mnt, BenchFs *ret) {
        BenchFs fs = {};
        _cleanup_free_ char *mkfs = NULL, *loop = NULL;
        _cleanup_close_ int fd = -EBADF, loop_fd = -EBADF;
        char *argv[MKFS_ARGS_MAX + 4];
        size_t n = 0;
        int r;

        if (!image || size == 0 || !fstype || !mnt || !ret)
                return -EINVAL;

        if (asprintf(&mkfs, "mkfs.%s", fstype) < 0)
                return -ENOMEM;
        argv[n++] = mkfs;
        argv[n++] = (char *) (streq(fstype, "xfs") ? "-f" : "-F");
        for (size_t i = 0; mkfs_args && mkfs_args[i]; i++) {
                if (n >= MKFS_ARGS_MAX + 2)
                        return -E2BIG;
                argv[n++] = (char *) mkfs_args[i];
        }
        argv[n++] = (char *) image;
        argv[n] = NULL;

        fd = open(image, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        fs.image = strdup(image);
        if (!fs.image) {
                (void) unlink(image);
                return -ENOMEM;
        }
        if (ftruncate(fd, (off_t) size) < 0) {
                r = -errno;
                goto fail;
        }
        fd = safe_close(fd);

        r = run_quiet(argv);
        if (r < 0)
                goto fail;

        if (mkdir(mnt, 0755) < 0) {
                r = -errno;
                goto fail;
        }
        fs.mnt = strdup(mnt);
        if (!fs.mnt) {
                (void) rmdir(mnt);
                r = -ENOMEM;
                goto fail;
        }

        r = loop_attach_file(image, /* read_only= */ false, &loop, &loop_fd);
        if (r < 0)
                goto fail;
        if (mount(loop, mnt, fstype, 0, NULL) < 0) {
                r = -errno;
                goto fail;
        }
        fs.mounted = true;

        /* loop_fd closes on return: from now on the mount alone keeps the device. */
        *ret = fs;
        return 0;

fail:
        (void) bench_fs_destroy(&fs);
        return r;
}

int bench_fs_destroy(BenchFs *fs) {
        int r = 0;

        if (!fs)
                return 0;

        if (fs->mounted) {
                _cleanup_close_ int fd = open(fs->mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

                /* EINVAL: it was not frozen, the normal case. */
                if (fd >= 0)
                        (void) ioctl(fd, FITHAW, 0);
                fd = safe_close(fd);
                if (umount2(fs->mnt, 0) < 0) {
                        r = -errno;
                        (void) umount2(fs->mnt, MNT_DETACH);
                }
                fs->mounted = false;
        }
        if (fs->mnt) {
                if (rmdir(fs->mnt) < 0 && errno != ENOENT && r == 0)
                        r = -errno;
                free(fs->mnt);
                fs->mnt = NULL;
        }
        if (fs->image) {
                if (unlink(fs->image) < 0 && errno != ENOENT && r == 0)
                        r = -errno;
                free(fs->image);
                fs->image = NULL;
        }
        return r;
}

int populate_tree(const char *dir, unsigned files) {
        static const char filler[] = "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghij";
        _cleanup_close_ int top = -EBADF, sub = -EBADF;
        char name[32], content[160];

        top = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (top < 0)
                return -errno;

        for (unsigned i = 0; i < files; i++) {
                int fd, n;

                if (i % 100 == 0) {
                        (void) snprintf(name, sizeof(name), "d%04u", i / 100);
                        sub = safe_close(sub);
                        if (mkdirat(top, name, 0755) < 0)
                                return -errno;
                        sub = openat(top, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        if (sub < 0)
                                return -errno;
                }
                (void) snprintf(name, sizeof(name), "f%06u", i);
                fd = openat(sub, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
                if (fd < 0)
                        return -errno;
                n = snprintf(content, sizeof(content), "file %u: %.*s\n", i, (int) (40 + i % 80), filler);
                if (write(fd, content, (size_t) n) != n) {
                        int e = errno > 0 ? -errno : -EIO;

                        (void) close(fd);
                        return e;
                }
                if (close(fd) < 0)
                        return -errno;
        }
        return syncfs(top) < 0 ? -errno : 0;
}

int syncfs_path(const char *path) {
        _cleanup_close_ int fd = -EBADF;

        if (!path)
                return 0;
        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        return syncfs(fd) < 0 ? -errno : 0;
}

int log_find_last_ms(const char *path, const char *marker, size_t *offset, double *ret_ms) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t size, got = 0;
        char *found = NULL;

        if (!path || !marker || !offset || !ret_ms)
                return -EINVAL;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0)
                return -errno;
        if ((uint64_t) st.st_size <= *offset) {
                *offset = (size_t) st.st_size;
                return 0;
        }
        size = (size_t) st.st_size - *offset;
        buf = malloc(size + 1);
        if (!buf)
                return -ENOMEM;
        while (got < size) {
                ssize_t k = pread(fd, buf + got, size - got, (off_t) (*offset + got));

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                got += (size_t) k;
        }
        buf[got] = 0;
        *offset += got;

        for (char *p = strstr(buf, marker); p; p = strstr(p + 1, marker))
                found = p;
        if (!found)
                return 0;

        errno = 0;
        *ret_ms = strtod(found + strlen(marker), NULL);
        return errno == 0 ? 1 : -errno;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return (x > y) - (x < y);
}

void stats_sort(double *v, unsigned n) {
        qsort(v, n, sizeof(double), cmp_double);
}

double stats_median(const double *sorted, unsigned n) {
        return n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

double stats_percentile(const double *sorted, unsigned n, unsigned pct) {
        unsigned rank = (pct * n + 99) / 100;

        return sorted[rank == 0 ? 0 : rank - 1];
}
