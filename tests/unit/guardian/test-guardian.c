/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-guardian.c: vss-guardian and its client without freezing anything (suite unit):
 * command line, start-up failures, argument checks on both ends, the error codes of paths
 * that cannot be frozen (or suspended: Suspend of what is on no dm device), and the client noticing a dead guardian and starting a new one; the
 * guardian's warnings when it cannot lock its memory or opt out of the OOM killer, and that
 * vssd's unit grants what it needs for both.
 * The real freezes are in test-guardian-freeze.c (suite root).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "guardian-client.h"

/* AddressSanitizer turns mlockall into a no-op: memory locking cannot be seen in such a build. */
#if defined(__SANITIZE_ADDRESS__)
#  define MLOCK_WORKS 0
#elif defined(__has_feature)
#  if __has_feature(address_sanitizer)
#    define MLOCK_WORKS 0
#  endif
#endif
#ifndef MLOCK_WORKS
#  define MLOCK_WORKS 1
#endif
#include "loop-fs.h"
#include "macro.h"

static const char *guardian_exe(void) {
        const char *p = getenv("VSS_GUARDIAN");

        assert_non_null(p);
        return p;
}

static int run_guardian(char *const extra[], int stdin_fd) {
        char *argv[8] = { (char *) guardian_exe() };
        int status;
        pid_t pid;

        for (size_t i = 0; extra[i]; i++)
                argv[i + 1] = extra[i];

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int null_fd = open("/dev/null", O_WRONLY);

                if (stdin_fd >= 0)
                        (void) dup2(stdin_fd, STDIN_FILENO);
                (void) dup2(null_fd, STDOUT_FILENO);
                (void) dup2(null_fd, STDERR_FILENO);
                execv(argv[0], argv);
                _exit(127);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        return WEXITSTATUS(status);
}

static void test_command_line(void **state) {
        _cleanup_close_ int null_fd = open("/dev/null", O_RDONLY);

        assert_int_equal(run_guardian((char *[]) { (char *) "--help", NULL }, -1), 0);
        /* --fd is required, must be a number, and must be a socket. */
        assert_int_not_equal(run_guardian((char *[]) { NULL }, -1), 0);
        assert_int_not_equal(run_guardian((char *[]) { (char *) "--fd", (char *) "x3", NULL }, -1), 0);
        assert_int_not_equal(run_guardian((char *[]) { (char *) "--fd", (char *) "0", NULL }, null_fd), 0);
        assert_int_not_equal(run_guardian((char *[]) { (char *) "--bogus", NULL }, -1), 0);
}

static void test_spawn_failures(void **state) {
        Guardian *g = NULL;

        assert_int_equal(guardian_spawn(NULL, &g), -EINVAL);
        assert_int_equal(guardian_spawn(guardian_exe(), NULL), -EINVAL);
        assert_int_equal(guardian_spawn("/nonexistent/vss-guardian", &g), -ENOENT);
        /* Starts, but never answers the Ping: exits at once. */
        assert_int_equal(guardian_spawn("/bin/false", &g), -ECHILD);
        assert_null(g);
}

static void test_arguments(void **state) {
        char *paths[GUARDIAN_MAX_PATHS + 1];
        char *one[] = { (char *) "relative/path" };
        char *empty[] = { (char *) "" };
        Guardian *g = NULL;

        assert_int_equal(guardian_spawn(guardian_exe(), &g), 0);
        assert_true(guardian_pid(g) > 0);

        /* Nothing held: Thaw is a no-op that succeeds. */
        assert_int_equal(guardian_thaw(g), S_OK);

        for (size_t i = 0; i < ELEMENTSOF(paths); i++)
                paths[i] = (char *) "/nonexistent";
        assert_int_equal(guardian_freeze(g, paths, 0, 0), E_INVALIDARG);
        assert_int_equal(guardian_freeze(g, paths, GUARDIAN_MAX_PATHS + 1, 0), E_INVALIDARG);
        assert_int_equal(guardian_freeze(g, paths, 1, GUARDIAN_MAX_DEADLINE_MS + 1), E_INVALIDARG);
        assert_int_equal(guardian_freeze(g, empty, 1, 0), E_INVALIDARG);
        assert_int_equal(guardian_freeze(NULL, paths, 1, 0), E_INVALIDARG);
        assert_int_equal(guardian_thaw(NULL), E_INVALIDARG);

        /* Relative paths are refused before anything is opened. */
        assert_int_equal(guardian_freeze(g, one, 1, 0), E_INVALIDARG);

        /* Opening fails before anything is frozen: the errno's code. */
        assert_int_equal(guardian_freeze(g, paths, 1, 0), VSS_E_OBJECT_NOT_FOUND);

        /* procfs cannot be frozen: unsupported for root, refused for anyone else. */
        paths[0] = (char *) "/proc";
        assert_int_equal(guardian_freeze(g, paths, 1, 100),
                         geteuid() == 0 ? VSS_E_VOLUME_NOT_SUPPORTED : E_ACCESSDENIED);

        /* Still serving after all those refusals. */
        assert_int_equal(guardian_thaw(g), S_OK);
        g = guardian_free(g);
        assert_null(g);
}

/* Suspend (the dm hold) checks its arguments like Freeze and refuses what is not on a
 * device-mapper device before suspending anything (the real dm holds: tests/lab/test-lvm.c). */
static void test_suspend_refusals(void **state) {
        char *paths[] = { (char *) "/nonexistent" };
        char *rel[] = { (char *) "relative/path" };
        Guardian *g = NULL;
        vss_hr hr;

        assert_int_equal(guardian_spawn(guardian_exe(), &g), 0);
        assert_int_equal(guardian_suspend(g, paths, 0, 0), E_INVALIDARG);
        assert_int_equal(guardian_suspend(g, paths, 1, GUARDIAN_MAX_DEADLINE_MS + 1), E_INVALIDARG);
        assert_int_equal(guardian_suspend(g, rel, 1, 0), E_INVALIDARG);
        assert_int_equal(guardian_suspend(NULL, paths, 1, 0), E_INVALIDARG);
        assert_int_equal(guardian_suspend(g, paths, 1, 0), VSS_E_OBJECT_NOT_FOUND);

        /* procfs is on no dm device: refused as unsupported, or earlier for want of a dm
         * control node (no device-mapper here) or of the privilege to open it. */
        paths[0] = (char *) "/proc";
        hr = guardian_suspend(g, paths, 1, 100);
        if (hr != VSS_E_VOLUME_NOT_SUPPORTED && hr != VSS_E_OBJECT_NOT_FOUND && hr != E_ACCESSDENIED)
                fail_msg("Suspend of /proc: %s", vss_hr_name(hr));

        /* Nothing held, still serving: a Thaw is a no-op, and a Freeze goes on as before. */
        assert_int_equal(guardian_thaw(g), S_OK);
        paths[0] = (char *) "/nonexistent";
        assert_int_equal(guardian_freeze(g, paths, 1, 0), VSS_E_OBJECT_NOT_FOUND);
        g = guardian_free(g);
}

static void test_respawn_after_death(void **state) {
        char *paths[] = { (char *) "/nonexistent" };
        Guardian *g = NULL;
        pid_t first;

        assert_int_equal(guardian_spawn(guardian_exe(), &g), 0);
        first = guardian_pid(g);
        assert_true(first > 0);

        /* SIGTERM ends it cleanly; the client finds out on its next call. */
        assert_int_equal(kill(first, SIGTERM), 0);
        for (int i = 0; i < 500 && kill(first, 0) == 0; i++) {
                int status;

                if (waitpid(first, &status, WNOHANG) == first)
                        break;
                sleep_msec(10);
        }

        /* Nothing was held, so its death loses nothing. */
        assert_int_equal(guardian_thaw(g), S_OK);
        assert_int_equal(guardian_pid(g), 0);

        /* The next freeze starts a new guardian, which answers. */
        assert_int_equal(guardian_freeze(g, paths, 1, 0), VSS_E_OBJECT_NOT_FOUND);
        assert_true(guardian_pid(g) > 0);
        assert_int_not_equal(guardian_pid(g), first);

        g = guardian_free(g);
}

static void test_free_reaps(void **state) {
        Guardian *g = NULL;
        pid_t pid;

        assert_int_equal(guardian_spawn(guardian_exe(), &g), 0);
        pid = guardian_pid(g);
        g = guardian_free(g);

        /* Reaped: no such child any more. */
        assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
        assert_int_equal(errno, ECHILD);
        assert_null(guardian_free(NULL));
}

/* The whole (small) file, NUL-terminated, malloc'd. 0 or -errno. */
static int read_all(const char *path, char **ret) {
        char *buf = calloc(1, 65536);
        ssize_t n;
        int fd;

        if (!buf)
                return -ENOMEM;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                free(buf);
                return -errno;
        }
        n = read(fd, buf, 65535);
        close(fd);
        if (n < 0) {
                free(buf);
                return -EIO;
        }
        *ret = buf;
        return 0;
}

/*
 * Starts the guardian on a socketpair with the capability bounding set cut down to keep (a
 * bit mask; ~0: untouched) and RLIMIT_MEMLOCK at memlock (RLIM_INFINITY: untouched), as a
 * unit's CapabilityBoundingSet= and LimitMEMLOCK= would. Waits until it is serving (it
 * answers nothing, but it closes nothing either), reads its oom_score_adj and VmLck, closes
 * the socket, and returns what it wrote to stderr (malloc'd).
 */
static char *guardian_under(uint64_t keep, rlim_t memlock, int *ret_oom, long *ret_locked_kb) {
        char buf[4096] = {}, path[64];
        char *status = NULL;
        int sv[2], err[2], wstatus;
        size_t n = 0;
        pid_t pid;

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        assert_int_equal(pipe2(err, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                char fd_arg[16];

                for (int c = 0; c <= CAP_LAST_CAP && keep != ~(uint64_t) 0; c++)
                        if (!(keep & (UINT64_C(1) << c)))
                                (void) prctl(PR_CAPBSET_DROP, c, 0, 0, 0);
                if (memlock != RLIM_INFINITY)
                        (void) setrlimit(RLIMIT_MEMLOCK, &(struct rlimit) { memlock, memlock });
                if (dup2(err[1], STDERR_FILENO) < 0 || fcntl(sv[1], F_SETFD, 0) < 0)
                        _exit(127);
                snprintf(fd_arg, sizeof(fd_arg), "%d", sv[1]);
                execv(guardian_exe(), (char *[]) { (char *) guardian_exe(), (char *) "--fd", fd_arg, NULL });
                _exit(127);
        }
        close(sv[1]);
        close(err[1]);

        /* Started and set up: its mlockall shows in VmLck, or it has given up on it. */
        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        for (int i = 0; i < 200; i++) {
                struct timespec ts = { 0, 10 * 1000 * 1000 };
                char *p;

                free(status);
                status = NULL;
                if (read_all(path, &status) < 0)
                        break;
                p = strstr(status, "VmLck:");
                if (p && strtol(p + 6, NULL, 10) > 0)
                        break;
                (void) nanosleep(&ts, NULL);
        }
        *ret_locked_kb = 0;
        if (status && strstr(status, "VmLck:"))
                *ret_locked_kb = strtol(strstr(status, "VmLck:") + 6, NULL, 10);
        free(status);
        status = NULL;
        snprintf(path, sizeof(path), "/proc/%d/oom_score_adj", (int) pid);
        assert_int_equal(read_all(path, &status), 0);
        *ret_oom = atoi(status);
        free(status);

        close(sv[0]); /* it exits */
        for (ssize_t k; n < sizeof(buf) - 1 && (k = read(err[0], buf + n, sizeof(buf) - 1 - n)) > 0;)
                n += (size_t) k;
        close(err[0]);
        assert_int_equal(waitpid(pid, &wstatus, 0), pid);
        assert_true(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
        return strdup(buf);
}

/* Without CAP_SYS_RESOURCE and CAP_IPC_LOCK (and no memlock allowance), the guardian still
 * serves, and says what it could not do, as warnings. */
static void test_warns_without_privileges(void **state) {
        uint64_t all_but = ~((UINT64_C(1) << CAP_SYS_RESOURCE) | (UINT64_C(1) << CAP_IPC_LOCK));
        _cleanup_free_ char *err = NULL;
        long locked_kb;
        int oom;

        err = guardian_under(all_but, 0, &oom, &locked_kb);
        fprintf(stderr, "%s", err);
        assert_non_null(strstr(err, "vss-guardian: warning: cannot opt out of the OOM killer"));
        assert_int_not_equal(oom, -1000);
        assert_int_equal(locked_kb, 0);
        if (MLOCK_WORKS)
                assert_non_null(strstr(err, "vss-guardian: warning: cannot lock memory"));
}

/* The capabilities vssd's unit grants (CapabilityBoundingSet= of data/vssd.service.in). */
static uint64_t unit_capabilities(void) {
        static const struct { const char *name; int cap; } known[] = {
                { "CAP_SYS_ADMIN", CAP_SYS_ADMIN },       { "CAP_DAC_OVERRIDE", CAP_DAC_OVERRIDE },
                { "CAP_DAC_READ_SEARCH", CAP_DAC_READ_SEARCH }, { "CAP_FOWNER", CAP_FOWNER },
                { "CAP_SYS_RESOURCE", CAP_SYS_RESOURCE }, { "CAP_IPC_LOCK", CAP_IPC_LOCK },
        };
        _cleanup_free_ char *unit = NULL;
        const char *path = getenv("VSSD_SERVICE_IN");
        uint64_t caps = 0;
        char *line, *save = NULL;

        assert_non_null(path);
        assert_int_equal(read_all(path, &unit), 0);
        for (line = strtok_r(unit, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *tok, *save2 = NULL;

                if (strncmp(line, "CapabilityBoundingSet=", strlen("CapabilityBoundingSet=")) != 0)
                        continue;
                for (tok = strtok_r(line + strlen("CapabilityBoundingSet="), " ", &save2); tok;
                     tok = strtok_r(NULL, " ", &save2)) {
                        bool found = false;

                        for (size_t i = 0; i < ELEMENTSOF(known); i++)
                                if (streq(tok, known[i].name)) {
                                        caps |= UINT64_C(1) << known[i].cap;
                                        found = true;
                                }
                        if (!found)
                                fail_msg("the unit names %s, which this test does not know", tok);
                }
        }
        return caps;
}

/* Under the unit's bounding set the guardian opts out of the OOM killer and locks its memory,
 * without a warning. */
static void test_unit_grants_guardian(void **state) {
        uint64_t caps = unit_capabilities(), ours = 0;
        _cleanup_free_ char *err = NULL;
        char *status = NULL;
        long locked_kb;
        int oom;

        assert_true(caps & (UINT64_C(1) << CAP_SYS_RESOURCE));
        assert_true(caps & (UINT64_C(1) << CAP_IPC_LOCK));

        /* Only root, itself holding them all, can show the unit's set is enough. */
        assert_int_equal(read_all("/proc/self/status", &status), 0);
        if (strstr(status, "CapBnd:"))
                ours = strtoull(strstr(status, "CapBnd:") + 7, NULL, 16);
        free(status); /* skip() below leaves without running cleanups */
        if (!MLOCK_WORKS) {
                fprintf(stderr, "an AddressSanitizer build cannot lock memory: skipped\n");
                skip();
        }
        if (geteuid() != 0 || !(ours & (UINT64_C(1) << CAP_IPC_LOCK))) {
                fprintf(stderr, "not root with the unit's capabilities (bounding set %" PRIx64 "): skipped\n", ours);
                skip();
        }

        err = guardian_under(caps & ours, 64 * 1024, &oom, &locked_kb);
        fprintf(stderr, "%s", err);
        assert_null(strstr(err, "warning: cannot lock memory"));
        assert_true(locked_kb > 64);
        if (!(ours & (UINT64_C(1) << CAP_SYS_RESOURCE))) {
                /* A container without it: the memory lock is shown, the OOM opt-out cannot be. */
                fprintf(stderr, "no CAP_SYS_RESOURCE here (bounding set %" PRIx64 "): OOM opt-out not checked\n", ours);
                assert_non_null(strstr(err, "warning: cannot opt out of the OOM killer"));
                return;
        }
        assert_null(strstr(err, "warning"));
        assert_int_equal(oom, -1000);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_command_line),
                cmocka_unit_test(test_spawn_failures),
                cmocka_unit_test(test_arguments),
                cmocka_unit_test(test_suspend_refusals),
                cmocka_unit_test(test_respawn_after_death),
                cmocka_unit_test(test_free_reaps),
                cmocka_unit_test(test_warns_without_privileges),
                cmocka_unit_test(test_unit_grants_guardian),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
