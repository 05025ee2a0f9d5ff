/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * loop-fs.c: loop-mounted throw-away filesystems and freeze probes for the freeze tests
 * (see loop-fs.h). The probe for "frozen" is a FIFREEZE of our own: the kernel answers EBUSY
 * when the filesystem is already frozen, and otherwise we thaw it again at once. Unlike a
 * test write, that can never block on a frozen filesystem.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "loop-fs.h"
#include "macro.h"

void sleep_msec(unsigned ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

int run_command(char *const argv[], bool verbose) {
        int status;
        pid_t pid;

        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                if (!verbose) {
                        int null_fd = open("/dev/null", O_WRONLY);

                        if (null_fd >= 0) {
                                (void) dup2(null_fd, STDOUT_FILENO);
                                (void) dup2(null_fd, STDERR_FILENO);
                        }
                }
                execvp(argv[0], argv);
                _exit(127);
        }
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EPROTO;
}

int write_file_sync(const char *path, const char *data) {
        _cleanup_close_ int fd = -EBADF;
        size_t len = strlen(data);

        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        if (write(fd, data, len) != (ssize_t) len || fsync(fd) < 0)
                return errno > 0 ? -errno : -EIO;
        return 0;
}

int loop_attach_file(const char *file, bool read_only, char **ret_path, int *ret_fd) {
        _cleanup_close_ int control = -EBADF, file_fd = -EBADF;

        control = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
        if (control < 0)
                return -errno;
        file_fd = open(file, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
        if (file_fd < 0)
                return -errno;

        for (unsigned attempt = 0; attempt < 64; attempt++) {
                struct loop_config config = {
                        .fd = (uint32_t) file_fd,
                        .info.lo_flags = LO_FLAGS_AUTOCLEAR | (read_only ? LO_FLAGS_READ_ONLY : 0),
                };
                _cleanup_free_ char *path = NULL;
                _cleanup_close_ int fd = -EBADF;
                int nr;

                nr = ioctl(control, LOOP_CTL_GET_FREE);
                if (nr < 0)
                        return -errno;
                if (asprintf(&path, "/dev/loop%d", nr) < 0)
                        return -ENOMEM;
                fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
                if (fd < 0) {
                        if (errno == ENOENT) { /* the node appears a moment after allocation */
                                sleep_msec(10);
                                continue;
                        }
                        return -errno;
                }
                /* The name losetup and LOOP_GET_STATUS show, so a leftover device says whose it is. */
                strncpy((char *) config.info.lo_file_name, file, LO_NAME_SIZE - 1);
                if (ioctl(fd, LOOP_CONFIGURE, &config) < 0) {
                        if (errno == EBUSY) /* someone took it between GET_FREE and here */
                                continue;
                        return -errno;
                }
                *ret_path = TAKE_PTR(path);
                *ret_fd = TAKE_FD(fd);
                return 0;
        }
        return -EBUSY;
}

static int mkfs_run(const char *fstype, const char *image, const char *const *extra) {
        char *argv[32];
        size_t n = 0;

        if (streq(fstype, "ext4")) {
                argv[n++] = (char *) "mkfs.ext4";
                argv[n++] = (char *) "-q";
                argv[n++] = (char *) "-F";
        } else if (streq(fstype, "xfs")) {
                argv[n++] = (char *) "mkfs.xfs";
                argv[n++] = (char *) "-q";
                argv[n++] = (char *) "-f";
        } else if (streq(fstype, "btrfs")) {
                argv[n++] = (char *) "mkfs.btrfs";
                argv[n++] = (char *) "-q";
                argv[n++] = (char *) "-f";
        } else
                return -EOPNOTSUPP;

        for (size_t i = 0; extra && extra[i]; i++) {
                if (n >= ELEMENTSOF(argv) - 2)
                        return -E2BIG;
                argv[n++] = (char *) extra[i];
        }
        argv[n++] = (char *) image;
        argv[n] = NULL;
        return run_command(argv, false);
}

int loop_fs_make(const char *image, uint64_t size, const char *fstype, const char *const *mkfs_args,
                 const char *mnt, LoopFs *ret) {
        LoopFs l = {};
        _cleanup_free_ char *dev = NULL;
        _cleanup_close_ int fd = -EBADF, loop_fd = -EBADF;
        int r;

        if (!image || !fstype || !mnt || !ret || size == 0)
                return -EINVAL;

        l.image = strdup(image);
        l.mnt = strdup(mnt);
        l.fstype = strdup(fstype);
        if (!l.image || !l.mnt || !l.fstype) {
                r = -ENOMEM;
                goto fail;
        }

        fd = open(image, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
                free(l.image); /* not ours: never delete a file we did not create */
                l.image = NULL;
                r = -errno;
                goto fail;
        }
        if (ftruncate(fd, (off_t) size) < 0) {
                r = -errno;
                goto fail;
        }
        (void) close(TAKE_FD(fd));

        r = mkfs_run(fstype, image, mkfs_args);
        if (r < 0)
                goto fail;

        r = loop_attach_file(image, false, &dev, &loop_fd);
        if (r < 0)
                goto fail;
        if (mkdir(mnt, 0755) < 0 && errno != EEXIST) {
                r = -errno;
                goto fail;
        }
        if (mount(dev, mnt, fstype, 0, NULL) < 0) {
                r = -errno;
                goto fail;
        }
        l.mounted = true;

        *ret = l;
        return 0;

fail:
        (void) loop_fs_destroy(&l);
        return r;
}

int loop_fs_destroy(LoopFs *l) {
        int r = 0;

        if (!l)
                return 0;

        if (l->mounted) {
                (void) fs_thaw(l->mnt);
                if (umount2(l->mnt, 0) < 0) {
                        r = -errno;
                        (void) umount2(l->mnt, MNT_DETACH);
                }
                l->mounted = false;
        }
        if (l->mnt)
                (void) rmdir(l->mnt);
        if (l->image && unlink(l->image) < 0 && errno != ENOENT && r == 0)
                r = -errno;

        free(l->image);
        free(l->mnt);
        free(l->fstype);
        *l = (LoopFs) {};
        return r;
}

int fs_freeze(const char *path) {
        _cleanup_close_ int fd = -EBADF;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        return ioctl(fd, FIFREEZE, 0) < 0 ? -errno : 0;
}

int fs_thaw(const char *path) {
        _cleanup_close_ int fd = -EBADF;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        return ioctl(fd, FITHAW, 0) < 0 ? -errno : 0;
}

int fs_is_frozen(const char *path) {
        _cleanup_close_ int fd = -EBADF;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (ioctl(fd, FIFREEZE, 0) < 0)
                return errno == EBUSY ? 1 : -errno;
        if (ioctl(fd, FITHAW, 0) < 0)
                return -errno;
        return 0;
}

int fs_wait_thawed(const char *path, unsigned timeout_ms) {
        for (unsigned waited = 0;; waited += 10) {
                int r = fs_is_frozen(path);

                if (r <= 0)
                        return r;
                if (waited >= timeout_ms)
                        return -ETIMEDOUT;
                sleep_msec(10);
        }
}
