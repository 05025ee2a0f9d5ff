/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * root-harness.c: the machinery under the root test and the benchmark. It owns the life of
 * a throw-away btrfs (sparse image, loop device, mount) and of the child processes run on
 * it. The loop device is attached by loop-fs.c's loop_attach_file() (LOOP_CONFIGURE,
 * LO_FLAGS_AUTOCLEAR), so even if we die between mount and teardown the kernel detaches it
 * once the last user goes; children get PR_SET_PDEATHSIG for the same reason. Teardown carries on past each failure, because
 * a test that failed half-way must still leave the machine as it found it.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/loop.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alloc-util.h"
#include "loop-fs.h"
#include "macro.h"
#include "root-harness.h"

static void *mfree(void *p) {
        free(p);
        return NULL;
}

static void sleep_ms(unsigned ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* Points fd at /dev/null; in the child only. */
static int null_fd(int fd) {
        int null = open("/dev/null", O_WRONLY);

        return null < 0 || dup2(null, fd) < 0 ? -1 : 0;
}

static int spawn_full(char *const argv[], unsigned flags, pid_t *ret_pid, int *ret_stdout_fd) {
        int pipefd[2] = { -EBADF, -EBADF };
        pid_t parent = getpid(), pid;

        if (!argv || !argv[0] || !ret_pid)
                return -EINVAL;
        if (ret_stdout_fd && pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;

        pid = fork();
        if (pid < 0) {
                int r = -errno;

                if (ret_stdout_fd) {
                        (void) close(pipefd[0]);
                        (void) close(pipefd[1]);
                }
                return r;
        }
        if (pid == 0) {
                /* Child: die with the parent, so no vssd or writer outlives a crashed test. */
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent)
                        _exit(127);
                if (ret_stdout_fd && dup2(pipefd[1], STDOUT_FILENO) < 0)
                        _exit(127);
                if ((flags & SPAWN_NULL_STDOUT) && null_fd(STDOUT_FILENO) < 0)
                        _exit(127);
                if ((flags & SPAWN_NULL_STDERR) && null_fd(STDERR_FILENO) < 0)
                        _exit(127);
                execvp(argv[0], argv);
                fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
                _exit(127);
        }

        if (ret_stdout_fd) {
                (void) close(pipefd[1]);
                *ret_stdout_fd = pipefd[0];
        }
        *ret_pid = pid;
        return 0;
}

int process_spawn(char *const argv[], pid_t *ret_pid, int *ret_stdout_fd) {
        return spawn_full(argv, 0, ret_pid, ret_stdout_fd);
}

int process_spawn_flags(char *const argv[], unsigned flags, pid_t *ret_pid) {
        return spawn_full(argv, flags, ret_pid, NULL);
}

/* Runs argv to its end, its stdout discarded; 0 only when it exited with status 0. */
static int process_run(char *const argv[]) {
        pid_t pid = -1;
        int r;

        r = spawn_full(argv, SPAWN_NULL_STDOUT, &pid, NULL);
        if (r < 0)
                return r;
        return process_wait_success(pid);
}

int process_stop(pid_t pid, unsigned timeout_ms) {
        uint64_t deadline;
        int status;
        pid_t w;

        if (pid <= 0)
                return 0;
        if (kill(pid, SIGTERM) < 0 && errno != ESRCH)
                return -errno;

        deadline = now_usec() + (uint64_t) timeout_ms * USEC_PER_MSEC;
        for (;;) {
                w = waitpid(pid, &status, WNOHANG);
                if (w < 0)
                        return errno == ECHILD ? -ECHILD : -errno;
                if (w == pid)
                        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EPROTO;
                if (now_usec() >= deadline)
                        break;
                sleep_ms(5);
        }

        (void) kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        break;
        return -EPROTO;
}

int read_line_timeout(int fd, char *buf, size_t size, unsigned timeout_ms) {
        uint64_t deadline = now_usec() + (uint64_t) timeout_ms * USEC_PER_MSEC;
        size_t n = 0;

        if (fd < 0 || !buf || size == 0)
                return -EINVAL;

        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                uint64_t now = now_usec();
                ssize_t k;
                char c;
                int r;

                if (now >= deadline)
                        return -ETIMEDOUT;
                r = poll(&p, 1, (int) ((deadline - now + 999) / 1000));
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (r == 0)
                        return -ETIMEDOUT;

                k = read(fd, &c, 1);
                if (k < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        return -EPIPE;
                if (c == '\n') {
                        buf[n] = '\0';
                        return 0;
                }
                if (n + 1 >= size)
                        return -ENOBUFS;
                buf[n++] = c;
        }
}

int unix_socket_wait(const char *path, pid_t server, unsigned timeout_ms) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        uint64_t deadline = now_usec() + (uint64_t) timeout_ms * USEC_PER_MSEC;

        if (!path || strlen(path) >= sizeof(sa.sun_path))
                return -EINVAL;
        strcpy(sa.sun_path, path);

        for (;;) {
                _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

                if (fd < 0)
                        return -errno;
                if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0)
                        return 0;
                /* A server that died (bad path, bad option) will never listen. */
                if (server > 0 && waitpid(server, NULL, WNOHANG) != 0)
                        return -ESRCH;
                if (now_usec() >= deadline)
                        return -ETIMEDOUT;
                sleep_ms(10);
        }
}

int path_wait_gone(const char *path, unsigned timeout_ms) {
        uint64_t deadline = now_usec() + (uint64_t) timeout_ms * USEC_PER_MSEC;
        struct stat st;

        for (;;) {
                if (lstat(path, &st) < 0)
                        return errno == ENOENT ? 0 : -errno;
                if (now_usec() >= deadline)
                        return -ETIMEDOUT;
                sleep_ms(10);
        }
}

int read_file_full(const char *path, char **ret, size_t *ret_size) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        size_t n = 0, allocated = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOATIME);
        if (fd < 0 && errno == EPERM)
                fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;

        for (;;) {
                ssize_t k;

                if (GREEDY_REALLOC(buf, allocated, n + 4096 + 1) < 0)
                        return -ENOMEM;
                k = read(fd, buf + n, allocated - n - 1);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        buf[n] = '\0';
        if (ret_size)
                *ret_size = n;
        *ret = TAKE_PTR(buf);
        return 0;
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        /* Keep going past failures; the caller sees the directory left behind. */
        (void) remove(path);
        return 0;
}

int rm_rf_physical(const char *path) {
        struct stat st;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0)
                return -errno;
        return lstat(path, &st) < 0 ? 0 : -ENOTEMPTY;
}

int loop_btrfs_setup(const char *dir_template, uint64_t size, LoopBtrfs *ret) {
        LoopBtrfs l = { .loop_fd = -EBADF };
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (!dir_template || !ret || size == 0)
                return -EINVAL;

        l.dir = strdup(dir_template);
        if (!l.dir)
                return -ENOMEM;
        if (!mkdtemp(l.dir)) {
                r = -errno;
                free(l.dir);
                return r;
        }
        if (asprintf(&l.image, "%s/btrfs.img", l.dir) < 0 || asprintf(&l.mnt, "%s/mnt", l.dir) < 0) {
                r = -ENOMEM;
                goto fail;
        }

        fd = open(l.image, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 || ftruncate(fd, (off_t) size) < 0) {
                r = -errno;
                goto fail;
        }
        if (close(TAKE_FD(fd)) < 0) {
                r = -errno;
                goto fail;
        }

        r = process_run((char *const[]) { (char *) "mkfs.btrfs", (char *) "-q", (char *) "-f", l.image, NULL });
        if (r < 0)
                goto fail;

        r = loop_attach_file(l.image, /* read_only= */ false, &l.loop_path, &l.loop_fd);
        if (r < 0)
                goto fail;

        if (mkdir(l.mnt, 0755) < 0 || mount(l.loop_path, l.mnt, "btrfs", 0, NULL) < 0) {
                r = -errno;
                goto fail;
        }
        l.mounted = true;

        *ret = l;
        return 0;

fail:
        (void) loop_btrfs_teardown(&l);
        return r;
}

int loop_btrfs_teardown(LoopBtrfs *l) {
        int r = 0;

        if (!l)
                return 0;

        if (l->mounted) {
                if (umount2(l->mnt, 0) < 0) {
                        /* Something still holds it open: detach lazily; the autoclear loop
                         * device goes away when the last holder does. */
                        r = -errno;
                        (void) umount2(l->mnt, MNT_DETACH);
                }
                l->mounted = false;
        }
        if (l->loop_fd >= 0) {
                if (ioctl(l->loop_fd, LOOP_CLR_FD) < 0 && errno != ENXIO && r == 0)
                        r = -errno;
                (void) close(l->loop_fd);
                l->loop_fd = -EBADF;
        }
        if (l->dir) {
                int k = rm_rf_physical(l->dir);

                if (k < 0 && r == 0)
                        r = k;
        }

        l->dir = mfree(l->dir);
        l->image = mfree(l->image);
        l->mnt = mfree(l->mnt);
        l->loop_path = mfree(l->loop_path);
        return r;
}

int process_wait_success(pid_t pid) {
        int status;

        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EPROTO;
}

int spawn_logged(char *const argv[], const char *log_path, pid_t *ret_pid) {
        return spawn_logged_setup(argv, log_path, NULL, NULL, ret_pid);
}

int spawn_logged_setup(char *const argv[], const char *log_path, SpawnSetupFn setup, void *userdata,
                       pid_t *ret_pid) {
        pid_t parent = getpid(), pid;

        if (!argv || !argv[0] || !log_path || !ret_pid)
                return -EINVAL;

        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                int in, out;

                /* Child: die with the benchmark, so no daemon outlives a crashed run. */
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent)
                        _exit(127);
                in = open("/dev/null", O_RDONLY);
                out = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
                if (in < 0 || out < 0 || dup2(in, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0 ||
                    dup2(out, STDERR_FILENO) < 0)
                        _exit(127);
                if (setup && setup(userdata) < 0)
                        _exit(126);
                execvp(argv[0], argv);
                fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
                _exit(127);
        }
        *ret_pid = pid;
        return 0;
}

int process_run_logged(char *const argv[], const char *log_path) {
        pid_t pid;
        int r;

        r = spawn_logged(argv, log_path, &pid);
        if (r < 0)
                return r;
        return process_wait_success(pid);
}

const char *build_program(const char *env_name, const char *build_rel) {
        const char *v = getenv(env_name), *builddir;
        static char buf[4][4096];
        static unsigned slot;

        if (!isempty(v))
                return v;
        builddir = getenv("VSS_TEST_BUILDDIR");
        slot = (slot + 1) % ELEMENTSOF(buf);
        (void) snprintf(buf[slot], sizeof(buf[slot]), "%s/%s", builddir ?: ".", build_rel);
        return buf[slot];
}
