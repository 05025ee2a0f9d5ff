/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fanout.h: the kernel's floor under a writers' event round, measured on the machine the
 * benchmark runs on.
 *
 * An event round is vssd telling N writer processes something and waiting until each has
 * answered. Whatever the protocol, it cannot cost less than the same round with nothing in
 * it: one byte to each process and one byte back over a Unix socket of its own (what one
 * connection per writer costs: a write, a wake-up, a read and a write in the child, a read
 * in the parent), or, below that, every process woken by one futex broadcast and the last
 * one waking the parent (what no design with a socket per writer can reach). Both are
 * measured with N child processes of this process, with no work in them; the tables put the
 * writers' rounds beside them, in the same run, so a ratio says how far above the machine's
 * own floor the protocol is, whatever the machine's load that hour.
 *
 * Functions return 0 or a negative errno; ret_* outputs are written only on success. The
 * children are forked from the caller (they run only read, write, futex and _exit, so a
 * threaded caller is fine) and die with it (PR_SET_PDEATHSIG).
 */
#pragma once

typedef enum FanoutKind {
        FANOUT_SOCKETS, /* a SOCK_STREAM socketpair per child, answered through epoll */
        FANOUT_FUTEX,   /* one shared word, one FUTEX_WAKE for all, the last child wakes us */
} FanoutKind;

typedef struct Fanout Fanout;

/*
 * fanout_start: fork n (1..FANOUT_MAX) idle children of the given kind.
 * Ownership: *ret is ended by fanout_stop(), which kills and reaps the children.
 */
#define FANOUT_MAX 1000u
int fanout_start(FanoutKind kind, unsigned n, Fanout **ret);

/*
 * fanout_rounds: time `rounds` rounds back to back (each: every child told, every child
 * answered) and return the total in *ret_ms. A child that died makes it fail (-EPIPE).
 */
int fanout_rounds(Fanout *f, unsigned rounds, double *ret_ms);

/* fanout_stop: kill and reap the children, free f. NULL is a no-op. */
void fanout_stop(Fanout *f);
