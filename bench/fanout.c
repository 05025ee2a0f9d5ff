/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fanout.c: the kernel's floor under an event round (fanout.h).
 *
 * The socket round is shaped like vssd's: every child is written to first, then the answers
 * are collected as epoll reports them, so the children on the other CPU run while the parent
 * is still sending. The futex round is the least a round can cost here: one system call
 * wakes every child, each child only bumps a shared counter, and the last one wakes the
 * parent, so what remains is the wake-ups and the scheduler.
 *
 * The children are stopped by SIGKILL, not by end of file: each one inherits the parent's
 * ends of the sockets forked before it, so none would ever see its peer close.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fanout.h"
#include "macro.h"
#include "time-util.h"

#define EPOLL_BATCH 64

/* What the futex children share with the parent (one anonymous shared page). */
typedef struct FutexPage {
        _Atomic uint32_t round;    /* the parent bumps it and wakes everyone */
        _Atomic uint32_t answered; /* children of the current round that have run */
        _Atomic uint32_t done;     /* the last child stores the round here and wakes the parent */
} FutexPage;

struct Fanout {
        FanoutKind kind;
        unsigned n;
        pid_t *pids;
        int *fds;        /* FANOUT_SOCKETS: the parent's end per child */
        int epoll_fd;    /* FANOUT_SOCKETS */
        FutexPage *page; /* FANOUT_FUTEX */
};

/* FUTEX_WAIT (timeout NULL: none) or FUTEX_WAKE on word; shared, not private: across processes. */
static long futex(_Atomic uint32_t *word, int op, uint32_t val, const struct timespec *timeout) {
        return syscall(SYS_futex, (uint32_t *) word, op, val, timeout, NULL, 0);
}

_Noreturn static void child_socket(int fd) {
        char c;

        while (read(fd, &c, 1) == 1)
                if (write(fd, &c, 1) != 1)
                        break;
        _exit(0);
}

_Noreturn static void child_futex(FutexPage *p, unsigned n) {
        uint32_t seen = 0; /* a fresh page: no round yet, whenever this child first runs */

        for (;;) {
                uint32_t round;

                while ((round = atomic_load(&p->round)) == seen)
                        (void) futex(&p->round, FUTEX_WAIT, seen, NULL);
                seen = round;
                if (atomic_fetch_add(&p->answered, 1) + 1 == n) {
                        atomic_store(&p->done, round);
                        (void) futex(&p->done, FUTEX_WAKE, 1, NULL);
                }
        }
}

/* Forks child i; the socket kind gets its end of a new socketpair. */
static int child_fork(Fanout *f, unsigned i) {
        int sv[2] = { -EBADF, -EBADF };
        pid_t pid;

        if (f->kind == FANOUT_SOCKETS && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                int r = -errno;

                closep(&sv[0]);
                closep(&sv[1]);
                return r;
        }
        if (pid == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (f->kind == FANOUT_SOCKETS)
                        child_socket(sv[1]);
                child_futex(f->page, f->n);
        }
        f->pids[i] = pid;
        if (f->kind == FANOUT_SOCKETS) {
                struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };

                closep(&sv[1]);
                f->fds[i] = sv[0];
                if (epoll_ctl(f->epoll_fd, EPOLL_CTL_ADD, sv[0], &ev) < 0)
                        return -errno;
        }
        return 0;
}

void fanout_stop(Fanout *f) {
        if (!f)
                return;
        for (unsigned i = 0; i < f->n; i++)
                if (f->pids[i] > 0) {
                        (void) kill(f->pids[i], SIGKILL);
                        (void) waitpid(f->pids[i], NULL, 0);
                }
        for (unsigned i = 0; f->fds && i < f->n; i++)
                closep(&f->fds[i]);
        closep(&f->epoll_fd);
        if (f->page)
                (void) munmap(f->page, sizeof(FutexPage));
        free(f->pids);
        free(f->fds);
        free(f);
}

int fanout_start(FanoutKind kind, unsigned n, Fanout **ret) {
        Fanout *f;
        int r = 0;

        if (n == 0 || n > FANOUT_MAX || !ret)
                return -EINVAL;
        f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        f->kind = kind;
        f->n = n;
        f->epoll_fd = -EBADF;
        f->pids = calloc(n, sizeof(*f->pids));
        f->fds = calloc(n, sizeof(*f->fds));
        if (!f->pids || !f->fds) {
                fanout_stop(f);
                return -ENOMEM;
        }
        for (unsigned i = 0; i < n; i++)
                f->fds[i] = -EBADF;

        if (kind == FANOUT_SOCKETS) {
                f->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
                if (f->epoll_fd < 0)
                        r = -errno;
        } else {
                void *p = mmap(NULL, sizeof(FutexPage), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

                if (p == MAP_FAILED)
                        r = -errno;
                else
                        f->page = p;
        }
        for (unsigned i = 0; r >= 0 && i < n; i++)
                r = child_fork(f, i);
        if (r < 0) {
                fanout_stop(f);
                return r;
        }
        *ret = f;
        return 0;
}

static int round_sockets(Fanout *f) {
        struct epoll_event ev[EPOLL_BATCH];
        unsigned answered = 0;
        char c = 'e';

        for (unsigned i = 0; i < f->n; i++)
                if (write(f->fds[i], &c, 1) != 1)
                        return -EPIPE;
        while (answered < f->n) {
                int k = epoll_wait(f->epoll_fd, ev, EPOLL_BATCH, -1);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                for (int j = 0; j < k; j++) {
                        if (read(f->fds[ev[j].data.u32], &c, 1) != 1)
                                return -EPIPE;
                        answered++;
                }
        }
        return 0;
}

/* A child that died would leave the round unanswered forever: check for one between waits. */
static bool children_alive(const Fanout *f) {
        for (unsigned i = 0; i < f->n; i++)
                if (waitpid(f->pids[i], NULL, WNOHANG) != 0)
                        return false;
        return true;
}

static int round_futex(Fanout *f) {
        const struct timespec tick = { .tv_sec = 1 };
        FutexPage *p = f->page;
        uint32_t round;

        atomic_store(&p->answered, 0);
        round = atomic_fetch_add(&p->round, 1) + 1;
        (void) futex(&p->round, FUTEX_WAKE, INT_MAX, NULL);
        for (uint32_t done; (done = atomic_load(&p->done)) != round;) {
                if (futex(&p->done, FUTEX_WAIT, done, &tick) < 0 && errno == ETIMEDOUT && !children_alive(f))
                        return -EPIPE;
        }
        return 0;
}

int fanout_rounds(Fanout *f, unsigned rounds, double *ret_ms) {
        uint64_t t0, t1;
        int r = 0;

        if (!f || !ret_ms)
                return -EINVAL;
        t0 = now_usec();
        for (unsigned k = 0; r >= 0 && k < rounds; k++)
                r = f->kind == FANOUT_SOCKETS ? round_sockets(f) : round_futex(f);
        t1 = now_usec();
        if (r < 0)
                return r;
        *ret_ms = (double) (t1 - t0) / 1e3;
        return 0;
}
