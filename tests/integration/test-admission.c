/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-admission.c: no local user can starve vssd (docs/security.md "Admission and resource
 * limits"). The attacks run in child processes that drop to nobody (65534), either as an
 * outsider (no group) or as a member of group "backup", and speak raw bytes on vssd's socket,
 * as an attacker would; while they hold what they took, root's calls must still be answered
 * and vssd's resident memory (VmRSS in /proc/PID/status) must stay within the stated bound.
 *
 *  - an outsider holding 300 connections: each is refused at the door (D-Bus "REJECTED") and
 *    closed, vssd holds no descriptor for it;
 *  - an outsider sending six 120 MiB calls without their last byte, and pipelining calls it
 *    never reads the answers to: nothing reaches memory;
 *  - a backup-group member: past --max-connections-per-uid it is closed at the door while
 *    root still gets in; a message announcing more than --max-message-size is closed at its
 *    header; messages under it are held against --max-pending-per-uid, the one that would go
 *    past is closed, and --read-timeout-ms closes the ones that never finish, after which the
 *    memory goes back; pipelined calls whose answers it never reads stop being read after
 *    --max-queued answers; a handshake that claims another uid is closed, and one that never
 *    comes is closed at --read-timeout-ms;
 *  - a message header in pieces: answered once whole, costing no CPU meanwhile; closed at
 *    --read-timeout-ms when the rest never comes.
 *
 * Latency is measured as the slowest of several root calls (a new connection and
 * InitializeForBackup, the call root makes first) and printed; the assertion is a generous
 * correctness bound (ROOT_CALL_BOUND_MS), not a speed target. Changing uid needs root: the
 * test exits 77 (skip) otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "macro.h"

#define NOBODY 65534
#define MiB (1024ULL * 1024ULL)

/* The target is 100 ms; on a shared 2-core CI machine assert ten times that, which
 * still fails the attacks as they were (root's calls failed outright). */
#define ROOT_CALL_BOUND_MS 1000.0
/* What vssd may grow by while an outsider attacks: nothing of the attack is held, so only
 * noise (sd-bus, SQLite and glibc caches). */
#define OUTSIDER_RSS_BOUND_KB (16U * 1024U)
/* vssd's defaults (src/vssd/manager.h), which docs/security.md states. */
#define DEFAULT_MAX_PENDING_PER_UID (48ULL * MiB)
#define DEFAULT_MAX_MESSAGE_SIZE (17ULL * MiB)
#define DEFAULT_MAX_CONNECTIONS_PER_UID 32U
/* --read-timeout-ms for the tests that wait for it. Under AddressSanitizer sd-bus's habit of
 * reallocating a message's whole buffer at every read copies it each time, and a 15 MiB
 * message takes seconds to arrive. */
#ifdef HARNESS_UNDER_ASAN
#define SHORT_READ_TIMEOUT "20000"
#else
#define SHORT_READ_TIMEOUT "2000"
#endif
#define SHORT_READ_TIMEOUT_MS ((unsigned) atoi(SHORT_READ_TIMEOUT))
/* test_member_pending's budget and calls. Built plain, vssd's defaults and 15 MiB calls, so the
 * VmRSS bound checked is the one docs/security.md states. Under AddressSanitizer VmRSS is not
 * asserted, and three 15 MiB calls in a row can take longer than the read deadline on a busy
 * host: the first one's deadline then frees its share of the budget before the fourth call's
 * header, and the fourth is taken. The same budget logic runs there with an eighth of the
 * sizes, which arrive in well under a second. */
#ifdef HARNESS_UNDER_ASAN
#define PENDING_BUDGET (6ULL * MiB)
#define PENDING_BODY ((uint32_t) (1900 * 1024))
#define PENDING_ARGS "--max-pending-per-uid=6291456", "--max-message-size=2228224",
#else
#define PENDING_BUDGET DEFAULT_MAX_PENDING_PER_UID
#define PENDING_BODY ((uint32_t) (15 * MiB))
#define PENDING_ARGS
#endif

typedef struct Fixture {
        Harness *h;
        gid_t backup_gid;
} Fixture;

/* ------------------------------------------------------------------------------------------ */
/* Measuring vssd                                                                              */
/* ------------------------------------------------------------------------------------------ */

static unsigned long vssd_rss_kb(const Harness *h) {
        char path[64], line[256];
        unsigned long kb = 0;
        FILE *f;

        snprintf(path, sizeof path, "/proc/%d/status", (int) h->vssd_pid);
        f = fopen(path, "re");
        assert_non_null(f);
        while (fgets(line, sizeof line, f))
                if (sscanf(line, "VmRSS: %lu kB", &kb) == 1)
                        break;
        fclose(f);
        assert_true(kb > 0);
        return kb;
}

static unsigned vssd_fd_count(const Harness *h) {
        char cmd[96], buf[32] = "";
        FILE *p;

        snprintf(cmd, sizeof cmd, "ls /proc/%d/fd | wc -l", (int) h->vssd_pid);
        p = popen(cmd, "re");
        assert_non_null(p);
        assert_non_null(fgets(buf, sizeof buf, p));
        pclose(p);
        return (unsigned) strtoul(buf, NULL, 10);
}

static double now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The slowest of n root calls: connect, handshake, InitializeForBackup, release. Each must
 * succeed. */
static double root_call_worst_ms(unsigned n) {
        double worst = 0;

        for (unsigned i = 0; i < n; i++) {
                vss_requester *r = NULL;
                double t0 = now_ms(), dt;

                assert_hr(vss_requester_new(&r, NULL), S_OK);
                assert_hr(vss_requester_initialize_for_backup(r, NULL), S_OK);
                dt = now_ms() - t0;
                vss_requester_release(r);
                if (dt > worst)
                        worst = dt;
        }
        return worst;
}

static void assert_root_answers(const char *during) {
        double worst = root_call_worst_ms(10);

        print_message("root's slowest call during %s: %.1f ms\n", during, worst);
        assert_true(worst < ROOT_CALL_BOUND_MS);
}

/* ------------------------------------------------------------------------------------------ */
/* Raw D-Bus, as an attacker writes it                                                         */
/* ------------------------------------------------------------------------------------------ */

static const char handshake[] = "\0AUTH EXTERNAL\r\nDATA\r\nNEGOTIATE_UNIX_FD\r\nBEGIN\r\n";

static int raw_connect(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
        if (connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
                int r = -errno;

                close(fd);
                return r;
        }
        return fd;
}

/* Send the handshake sd-bus clients send, read vssd's answer: 1 accepted ("OK"), 0 refused
 * ("REJECTED"), -ECONNRESET closed without a word. */
static int raw_handshake(int fd) {
        char buf[256];
        size_t len = 0;

        if (send(fd, handshake, sizeof handshake - 1, MSG_NOSIGNAL) < 0 && errno != EPIPE && errno != ECONNRESET)
                return -errno;
        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                ssize_t k;

                if (poll(&p, 1, 5000) <= 0)
                        return -ETIMEDOUT;
                k = recv(fd, buf + len, sizeof buf - 1 - len, 0);
                if (k <= 0)
                        break;
                len += (size_t) k;
                buf[len] = 0;
                if (strstr(buf, "REJECTED"))
                        return 0;
                if (strstr(buf, "\r\nOK ") && strstr(strstr(buf, "\r\nOK ") + 2, "\r\n") &&
                    strstr(strstr(strstr(buf, "\r\nOK ") + 2, "\r\n") + 2, "\r\n"))
                        return 1;
        }
        buf[len] = 0;
        return strstr(buf, "REJECTED") ? 0 : -ECONNRESET;
}

static size_t put_u32(uint8_t *b, size_t o, uint32_t v) {
        b[o] = v & 0xff;
        b[o + 1] = (v >> 8) & 0xff;
        b[o + 2] = (v >> 16) & 0xff;
        b[o + 3] = (v >> 24) & 0xff;
        return o + 4;
}

static size_t pad8(uint8_t *b, size_t o) {
        while (o % 8)
                b[o++] = 0;
        return o;
}

static size_t field_string(uint8_t *b, size_t o, uint8_t code, char type, const char *s) {
        size_t n = strlen(s);

        o = pad8(b, o);
        b[o++] = code;
        b[o++] = 1;
        b[o++] = (uint8_t) type;
        b[o++] = 0;
        o = put_u32(b, o, (uint32_t) n);
        memcpy(b + o, s, n + 1);
        return o + n + 1;
}

static size_t field_signature(uint8_t *b, size_t o, const char *sig) {
        size_t n = strlen(sig);

        o = pad8(b, o);
        b[o++] = 8;
        b[o++] = 1;
        b[o++] = 'g';
        b[o++] = 0;
        b[o++] = (uint8_t) n;
        memcpy(b + o, sig, n + 1);
        return o + n + 1;
}

/* A little-endian method call header announcing body_len bytes of body with signature sig
 * (NULL: none). Returns the header's length; b must hold 256 bytes. */
static size_t build_call(uint8_t *b, uint32_t serial, const char *path, const char *iface, const char *member,
                         const char *sig, uint32_t body_len) {
        size_t o;

        b[0] = 'l';
        b[1] = 1;       /* METHOD_CALL */
        b[2] = 0;
        b[3] = 1;
        put_u32(b, 4, body_len);
        put_u32(b, 8, serial);
        o = field_string(b, 16, 1, 'o', path);
        o = field_string(b, o, 2, 's', iface);
        o = field_string(b, o, 3, 's', member);
        if (sig)
                o = field_signature(b, o, sig);
        put_u32(b, 12, (uint32_t) (o - 16));
        return pad8(b, o);
}

/* Send a call whose body is a byte array of body_len - 4 bytes, all but the last byte of it.
 * Returns the bytes vssd took, or -errno when it closed the connection before all of them. */
static long long send_partial_call(int fd, uint32_t body_len) {
        static uint8_t chunk[1 << 16];
        uint8_t hdr[256];
        size_t n = build_call(hdr, 1, "/org/vsslinux/VSS1", "org.vsslinux.VSS1.Requester", "AddToSnapshotSet", "ay",
                              body_len);
        long long sent = 0, total = (long long) n + body_len - 1;

        put_u32(chunk, 0, body_len - 4);
        memcpy(hdr + n, chunk, 4);  /* the array length starts the body */
        if (send(fd, hdr, n, MSG_NOSIGNAL) != (ssize_t) n)
                return -errno;
        sent = (long long) n;
        while (sent < total) {
                size_t want = (size_t) MIN((long long) sizeof chunk, total - sent);
                ssize_t k = send(fd, chunk, want, MSG_NOSIGNAL);

                if (k < 0)
                        return -errno;
                sent += k;
        }
        return sent;
}

/* Pipeline Introspect calls (each answer is kilobytes of XML) without reading any answer,
 * until vssd stops reading (the socket stays full for 200 ms) or it closes. Returns the
 * number of calls written, or -errno on a close. */
static long pipeline_calls(int fd, long max_calls) {
        uint8_t msg[256];
        long n = 0;

        (void) fcntl(fd, F_SETFL, O_NONBLOCK);
        while (n < max_calls) {
                size_t len = build_call(msg, (uint32_t) n + 2, "/org/vsslinux/VSS1",
                                        "org.freedesktop.DBus.Introspectable", "Introspect", NULL, 0);
                ssize_t k = send(fd, msg, len, MSG_NOSIGNAL);

                if (k < 0 && errno == EAGAIN) {
                        struct pollfd p = { .fd = fd, .events = POLLOUT };

                        if (poll(&p, 1, 200) == 0)
                                break;          /* vssd stopped reading us */
                        continue;
                }
                if (k < 0)
                        return -errno;
                if ((size_t) k != len) {
                        /* Finish this one message so the stream stays well-formed. */
                        size_t done = (size_t) k;

                        while (done < len) {
                                struct pollfd p = { .fd = fd, .events = POLLOUT };

                                if (poll(&p, 1, 1000) == 0)
                                        return n;
                                k = send(fd, msg + done, len - done, MSG_NOSIGNAL);
                                if (k < 0 && errno != EAGAIN)
                                        return -errno;
                                if (k > 0)
                                        done += (size_t) k;
                        }
                }
                n++;
        }
        return n;
}

/* ------------------------------------------------------------------------------------------ */
/* Attacker processes                                                                          */
/* ------------------------------------------------------------------------------------------ */

typedef enum Attack {
        ATTACK_HOLD_CONNECTIONS,
        ATTACK_PARTIAL_CALLS,
        ATTACK_PIPELINE,
} Attack;

typedef struct Attacker {
        Attack attack;
        bool member;            /* in group backup */
        gid_t backup_gid;
        const char *socket_path;
        unsigned n;             /* connections / calls */
        uint32_t body_len;      /* ATTACK_PARTIAL_CALLS */
} Attacker;

static int drop_to_nobody(const Attacker *a) {
        gid_t groups[1] = { a->backup_gid };

        if (setgroups(a->member ? 1 : 0, groups) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
                return -errno;
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        return 0;
}

/* The child: attack, report one "done ..." line, then keep everything open until killed. */
static int attacker_main(int report_fd, void *userdata) {
        const Attacker *a = userdata;
        unsigned accepted = 0, refused = 0, closed = 0;
        long long held = 0;
        int *fds;

        if (drop_to_nobody(a) < 0) {
                report(report_fd, "done error=setuid");
                return 2;
        }
        fds = calloc(a->n, sizeof *fds);
        if (!fds)
                return 2;

        for (unsigned i = 0; i < a->n; i++) {
                int r;

                fds[i] = raw_connect(a->socket_path);
                if (fds[i] < 0) {
                        closed++;
                        continue;
                }
                r = raw_handshake(fds[i]);
                if (r > 0)
                        accepted++;
                else if (r == 0)
                        refused++;
                else
                        closed++;
                if (r <= 0)
                        continue;

                if (a->attack == ATTACK_PARTIAL_CALLS) {
                        long long k = send_partial_call(fds[i], a->body_len);

                        if (k > 0)
                                held += k;
                        else
                                closed++;
                } else if (a->attack == ATTACK_PIPELINE) {
                        long k = pipeline_calls(fds[i], 1000000);

                        if (k < 0)
                                closed++;
                }
        }

        report(report_fd, "done accepted=%u refused=%u closed=%u held=%lld", accepted, refused, closed, held);
        for (;;)
                pause();
}

typedef struct Running {
        pid_t pid;
        int fd;
        unsigned accepted, refused, closed;
        long long held;
} Running;

static void attacker_start(const Attacker *a, Running *ret) {
        char line[256], buf[32];

        assert_ok0(child_start(attacker_main, (void *) a, &ret->pid, &ret->fd));
        assert_ok0(child_wait_report(ret->fd, "done ", line, sizeof line, 120000));
        assert_null(strstr(line, "error="));
        assert_ok0(line_field(line, "accepted", buf, sizeof buf));
        ret->accepted = (unsigned) strtoul(buf, NULL, 10);
        assert_ok0(line_field(line, "refused", buf, sizeof buf));
        ret->refused = (unsigned) strtoul(buf, NULL, 10);
        assert_ok0(line_field(line, "closed", buf, sizeof buf));
        ret->closed = (unsigned) strtoul(buf, NULL, 10);
        assert_ok0(line_field(line, "held", buf, sizeof buf));
        ret->held = strtoll(buf, NULL, 10);
        print_message("attacker: %s\n", line);
}

static void attacker_stop(Running *r) {
        kill(r->pid, SIGKILL);
        (void) child_reap(r->pid);
        close(r->fd);
}

/* ------------------------------------------------------------------------------------------ */
/* Fixture                                                                                     */
/* ------------------------------------------------------------------------------------------ */

static int setup_with(void **state, const char *const *extra_args) {
        Fixture *f = calloc(1, sizeof *f);
        HarnessOptions opts = { .allow_writer_uid = -1, .extra_args = extra_args };
        struct group *g;

        assert_non_null(f);
        assert_ok0(harness_new(&opts, &f->h));
        assert_ok0(harness_make_socket_public(f->h));
        g = getgrnam("backup");
        assert_non_null(g);
        f->backup_gid = g->gr_gid;
        (void) root_call_worst_ms(2); /* warm up: the first call opens the catalog's pages */
        *state = f;
        return 0;
}

static int setup(void **state) {
        return setup_with(state, NULL);
}

static int setup_short_timeout(void **state) {
        return setup_with(state, (const char *const[]) { "--read-timeout-ms=" SHORT_READ_TIMEOUT, NULL });
}

static int setup_pending(void **state) {
        return setup_with(state, (const char *const[]) { PENDING_ARGS "--read-timeout-ms=" SHORT_READ_TIMEOUT, NULL });
}

static int teardown(void **state) {
        Fixture *f = *state;

        if (f) {
                harness_free(f->h);
                free(f);
        }
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Outsider                                                                                    */
/* ------------------------------------------------------------------------------------------ */

static void test_outsider_connections(void **state) {
        Fixture *f = *state;
        Attacker a = { .attack = ATTACK_HOLD_CONNECTIONS, .socket_path = f->h->socket_path, .n = 300 };
        unsigned fds_before = vssd_fd_count(f->h), fds_during;
        Running run;

        attacker_start(&a, &run);
        /* Every one of them was refused at the door, in the D-Bus protocol's own words. */
        assert_int_equal(run.refused, a.n);
        assert_int_equal(run.accepted, 0);

        fds_during = vssd_fd_count(f->h);
        print_message("vssd descriptors: %u before, %u while the outsider holds %u connections\n", fds_before,
                      fds_during, a.n);
        assert_true(fds_during <= fds_before + 2);
        assert_root_answers("300 outsider connections");

        attacker_stop(&run);
        assert_true(harness_vssd_alive(f->h));
}

static void test_outsider_memory(void **state) {
        Fixture *f = *state;
        Attacker partial = { .attack = ATTACK_PARTIAL_CALLS, .socket_path = f->h->socket_path, .n = 6,
                             .body_len = 120 * MiB };
        Attacker pipeline = { .attack = ATTACK_PIPELINE, .socket_path = f->h->socket_path, .n = 1 };
        unsigned long before = vssd_rss_kb(f->h), during;
        Running r1, r2;

        attacker_start(&partial, &r1);
        assert_int_equal(r1.accepted, 0);
        attacker_start(&pipeline, &r2);
        assert_int_equal(r2.accepted, 0);

        during = vssd_rss_kb(f->h);
        print_message("vssd VmRSS: %lu kB before, %lu kB during the outsider's memory attacks\n", before, during);
        assert_rss_bound(during <= before + OUTSIDER_RSS_BOUND_KB);
        assert_root_answers("the outsider's memory attacks");

        attacker_stop(&r1);
        attacker_stop(&r2);
}

/* ------------------------------------------------------------------------------------------ */
/* Backup-group member                                                                         */
/* ------------------------------------------------------------------------------------------ */

static void test_member_connections(void **state) {
        Fixture *f = *state;
        Attacker a = { .attack = ATTACK_HOLD_CONNECTIONS, .member = true, .backup_gid = f->backup_gid,
                       .socket_path = f->h->socket_path, .n = 300 };
        Running run;

        attacker_start(&a, &run);
        /* Its own limit and no more; the rest are closed without an answer. */
        assert_int_equal(run.accepted, DEFAULT_MAX_CONNECTIONS_PER_UID);
        assert_int_equal(run.refused, 0);
        assert_int_equal(run.closed, a.n - DEFAULT_MAX_CONNECTIONS_PER_UID);
        assert_root_answers("a backup user's connections at its limit");

        attacker_stop(&run);
        assert_true(harness_vssd_alive(f->h));
}

static void test_member_oversized(void **state) {
        Fixture *f = *state;
        Attacker a = { .attack = ATTACK_PARTIAL_CALLS, .member = true, .backup_gid = f->backup_gid,
                       .socket_path = f->h->socket_path, .n = 6, .body_len = 120 * MiB };
        unsigned long before = vssd_rss_kb(f->h), during;
        Running run;

        attacker_start(&a, &run);
        /* Admitted, then closed at the header of a message above --max-message-size. */
        assert_int_equal(run.accepted, a.n);
        assert_int_equal(run.closed, a.n);
        during = vssd_rss_kb(f->h);
        print_message("vssd VmRSS: %lu kB before, %lu kB after six 120 MiB calls\n", before, during);
        assert_rss_bound(during <= before + OUTSIDER_RSS_BOUND_KB);
        assert_root_answers("a backup user's oversized calls");
        attacker_stop(&run);
        assert_int_equal(log_count(f->h->vssd_log, "above --max-message-size"), a.n);
}

/* Messages just under the size limit, all but one byte each: the uid's budget holds three;
 * the fourth is closed; the read deadline closes the rest and the memory goes back. */
static void test_member_pending(void **state) {
        Fixture *f = *state;
        uint32_t body = PENDING_BODY;
        Attacker a = { .attack = ATTACK_PARTIAL_CALLS, .member = true, .backup_gid = f->backup_gid,
                       .socket_path = f->h->socket_path, .n = 6, .body_len = body };
        unsigned long before = vssd_rss_kb(f->h), during, after = 0;
        unsigned fits = (unsigned) (PENDING_BUDGET / (body + 256));
        Running run;

        assert_true(body < DEFAULT_MAX_MESSAGE_SIZE);
        assert_int_equal(fits, 3);
        attacker_start(&a, &run);
        assert_int_equal(run.accepted, a.n);
        assert_true(run.held >= (long long) fits * body);
        during = vssd_rss_kb(f->h);
        print_message("vssd VmRSS: %lu kB before, %lu kB while a backup user holds %u partial %u KiB calls\n",
                      before, during, fits, (unsigned) (body / 1024));
        /* The bound docs/security.md states: --max-pending-per-uid, plus noise. */
        assert_rss_bound(during <= before + PENDING_BUDGET / 1024 + OUTSIDER_RSS_BOUND_KB);
        assert_int_equal(log_count(f->h->vssd_log, "above --max-pending-per-uid"), a.n - fits);
        assert_root_answers("a backup user's partial calls at its budget");

        /* --read-timeout-ms: the held calls are closed, and the memory given back. */
        assert_ok0(log_wait(f->h->vssd_log, "did not arrive within --read-timeout-ms", fits,
                            SHORT_READ_TIMEOUT_MS + 10000));
        for (unsigned i = 0; i < 50; i++) {
                after = vssd_rss_kb(f->h);
                if (after <= before + OUTSIDER_RSS_BOUND_KB)
                        break;
                (void) usleep(100 * 1000);
        }
        print_message("vssd VmRSS: %lu kB after the read deadline closed them\n", after);
        assert_rss_bound(after <= before + OUTSIDER_RSS_BOUND_KB);
        attacker_stop(&run);
}

static void test_member_pipeline(void **state) {
        Fixture *f = *state;
        Attacker a = { .attack = ATTACK_PIPELINE, .member = true, .backup_gid = f->backup_gid,
                       .socket_path = f->h->socket_path, .n = DEFAULT_MAX_CONNECTIONS_PER_UID };
        unsigned long before = vssd_rss_kb(f->h), during;
        Running run;

        attacker_start(&a, &run);
        assert_int_equal(run.accepted, a.n);
        assert_int_equal(run.closed, 0);
        during = vssd_rss_kb(f->h);
        print_message("vssd VmRSS: %lu kB before, %lu kB with %u connections pipelining unread calls\n", before,
                      during, a.n);
        /* --max-queued answers of ~10 kB each per connection, for every connection of the uid. */
        assert_rss_bound(during <= before + OUTSIDER_RSS_BOUND_KB);
        assert_root_answers("a backup user's connections pipelining unread calls");
        attacker_stop(&run);
}

/* Child: as a backup member, claim root's uid in the handshake on one connection and say
 * nothing on another; report how each ended. */
static int handshake_main(int report_fd, void *userdata) {
        static const char forged[] = "\0AUTH EXTERNAL 30\r\nNEGOTIATE_UNIX_FD\r\nBEGIN\r\n";   /* "0" */
        const Attacker *a = userdata;
        struct pollfd p;
        char buf[256];
        double t0;
        int fd, silent;
        ssize_t k;

        if (drop_to_nobody(a) < 0) {
                report(report_fd, "done error=setuid");
                return 2;
        }
        fd = raw_connect(a->socket_path);
        silent = raw_connect(a->socket_path);
        if (fd < 0 || silent < 0) {
                report(report_fd, "done error=connect");
                return 2;
        }

        (void) send(fd, forged, sizeof forged - 1, MSG_NOSIGNAL);
        p = (struct pollfd) { .fd = fd, .events = POLLIN };
        k = poll(&p, 1, 5000) > 0 ? recv(fd, buf, sizeof buf, 0) : -1;
        report(report_fd, "forged answer=%zd", k);

        t0 = now_ms();
        p = (struct pollfd) { .fd = silent, .events = POLLIN };
        k = poll(&p, 1, 8 * SHORT_READ_TIMEOUT_MS) > 0 ? recv(silent, buf, sizeof buf, 0) : -1;
        report(report_fd, "done silent=%zd after_ms=%.0f", k, now_ms() - t0);
        for (;;)
                pause();
}

static void test_member_handshake(void **state) {
        Fixture *f = *state;
        Attacker a = { .member = true, .backup_gid = f->backup_gid, .socket_path = f->h->socket_path };
        char line[256], buf[32];
        pid_t pid;
        int fd;

        assert_ok0(child_start(handshake_main, &a, &pid, &fd));
        /* Claiming another uid is closed without an answer (0 bytes: end of stream). */
        assert_ok0(child_wait_report(fd, "forged ", line, sizeof line, HARNESS_WAIT_MS));
        assert_ok0(line_field(line, "answer", buf, sizeof buf));
        assert_string_equal(buf, "0");
        /* Saying nothing is closed at --read-timeout-ms. */
        assert_ok0(child_wait_report(fd, "done ", line, sizeof line, 8 * SHORT_READ_TIMEOUT_MS + HARNESS_WAIT_MS));
        print_message("silent connection: %s\n", line);
        assert_ok0(line_field(line, "silent", buf, sizeof buf));
        assert_string_equal(buf, "0");
        assert_ok0(line_field(line, "after_ms", buf, sizeof buf));
        assert_true(strtol(buf, NULL, 10) >= SHORT_READ_TIMEOUT_MS / 2 && strtol(buf, NULL, 10) < 4 * SHORT_READ_TIMEOUT_MS);
        assert_int_equal(log_count(f->h->vssd_log, "a handshake other than AUTH EXTERNAL with its own uid"), 1);
        assert_int_equal(log_count(f->h->vssd_log, "its handshake did not arrive within --read-timeout-ms"), 1);
        kill(pid, SIGKILL);
        (void) child_reap(pid);
        close(fd);
        assert_root_answers("a backup user's bad handshakes");
}

/* vssd's CPU time so far, in ms (utime + stime of /proc/PID/stat). */
static double vssd_cpu_ms(const Harness *h) {
        char path[64], buf[1024], *p;
        unsigned long long ut = 0, st = 0;
        FILE *f;

        snprintf(path, sizeof path, "/proc/%d/stat", (int) h->vssd_pid);
        f = fopen(path, "re");
        assert_non_null(f);
        assert_non_null(fgets(buf, sizeof buf, f));
        fclose(f);
        p = strrchr(buf, ')');
        assert_non_null(p);
        /* After "(comm)": state, then fields 4..13, then utime and stime (fields 14 and 15). */
        assert_int_equal(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st), 2);
        return (double) (ut + st) * 1000.0 / (double) sysconf(_SC_CLK_TCK);
}

/* A message header that arrives in pieces: the gate looks at a whole header before it moves a
 * byte, and a part of one must neither keep vssd busy while the rest is on its way (left
 * unread in the socket, it would keep the socket ready) nor be held past --read-timeout-ms. */
static void test_split_header(void **state) {
        Fixture *f = *state;
        uint8_t msg[256];
        size_t len = build_call(msg, 2, "/org/vsslinux/VSS1", "org.freedesktop.DBus.Introspectable", "Introspect",
                                NULL, 0);
        struct pollfd p;
        char buf[64];
        double cpu0, cpu, t0;
        ssize_t k;
        int fd;

        /* Half a header, a pause, the rest: answered, and the pause cost vssd no CPU to speak of. */
        fd = raw_connect(f->h->socket_path);
        assert_true(fd >= 0);
        assert_int_equal(raw_handshake(fd), 1);
        assert_int_equal(send(fd, msg, 8, MSG_NOSIGNAL), 8);
        cpu0 = vssd_cpu_ms(f->h);
        (void) usleep(500 * 1000);
        cpu = vssd_cpu_ms(f->h) - cpu0;
        print_message("vssd CPU while half a header waited 500 ms: %.0f ms\n", cpu);
        assert_true(cpu < 100.0);
        assert_int_equal(send(fd, msg + 8, len - 8, MSG_NOSIGNAL), (ssize_t) (len - 8));
        p = (struct pollfd) { .fd = fd, .events = POLLIN };
        assert_int_equal(poll(&p, 1, HARNESS_WAIT_MS), 1);
        k = recv(fd, buf, sizeof buf, 0);
        assert_true(k > 0);
        assert_int_equal(buf[1], 2);    /* METHOD_RETURN */
        close(fd);

        /* Half a header and silence: closed at --read-timeout-ms. */
        fd = raw_connect(f->h->socket_path);
        assert_true(fd >= 0);
        assert_int_equal(raw_handshake(fd), 1);
        assert_int_equal(send(fd, msg, 8, MSG_NOSIGNAL), 8);
        t0 = now_ms();
        p = (struct pollfd) { .fd = fd, .events = POLLIN };
        assert_int_equal(poll(&p, 1, 8 * SHORT_READ_TIMEOUT_MS), 1);
        assert_int_equal(recv(fd, buf, sizeof buf, 0), 0);
        print_message("half a header closed after %.0f ms\n", now_ms() - t0);
        assert_true(now_ms() - t0 >= SHORT_READ_TIMEOUT_MS / 2);
        assert_int_equal(log_count(f->h->vssd_log, "its message did not arrive within --read-timeout-ms"), 1);
        close(fd);
        assert_root_answers("a header in pieces");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_outsider_connections, setup, teardown),
                cmocka_unit_test_setup_teardown(test_outsider_memory, setup, teardown),
                cmocka_unit_test_setup_teardown(test_member_connections, setup, teardown),
                cmocka_unit_test_setup_teardown(test_member_oversized, setup, teardown),
                cmocka_unit_test_setup_teardown(test_member_pending, setup_pending, teardown),
                cmocka_unit_test_setup_teardown(test_member_pipeline, setup, teardown),
                cmocka_unit_test_setup_teardown(test_member_handshake, setup_short_timeout, teardown),
                cmocka_unit_test_setup_teardown(test_split_header, setup_short_timeout, teardown),
        };

        if (geteuid() != 0) {
                fprintf(stderr, "test-admission needs root to change uid; skipping\n");
                return 77;
        }
        if (!getgrnam("backup")) {
                /* CI has it (scripts/install-deps.sh): a skip there would hide a gap. */
                fprintf(stderr, "test-admission needs the group \"backup\"; skipping\n");
                return getenv("CI") && streq(getenv("CI"), "true") ? 1 : 77;
        }
        return cmocka_run_group_tests(tests, NULL, NULL);
}
