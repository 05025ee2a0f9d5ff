/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-tool-voice.c: every program speaks with one voice (docs/exit-codes.md).
 *
 *   - every program the build installs (read from meson's intro-installed.json, so a program
 *     added later is covered without editing this file) answers --version with status 0 and
 *     one line "NAME VERSION", --help with status 0 and some text, and an unknown option with
 *     status 1 (a usage error is 1 everywhere);
 *   - every program that talks to vssd (vssadmin, vshadow, vssbackup, vss-demo, and the
 *     writer programs that need no database) exits 3 when nothing listens on the socket, with
 *     the one wording "vssd is not running: start it with `systemctl start vssd.socket`";
 *   - vssd started without privileges refuses with one clear line and status 2 (as root the
 *     test drops to nobody for it).
 *
 * Environment (meson): VSS_TEST_BUILDDIR, the build directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "macro.h"

#define MAX_PROGRAMS 64
#define UNREACHABLE_LINE "vssd is not running: start it with `systemctl start vssd.socket`"

typedef struct Program {
        char *path;     /* in the build tree */
        char *name;     /* basename */
} Program;

static Program programs[MAX_PROGRAMS];
static size_t n_programs;
static char tmpdir[] = "/tmp/test-tool-voice-XXXXXX";

typedef struct Run {
        int status;     /* exit status, or 128 + signal */
        char *out;
        char *err;
} Run;

static void run_done(Run *r) {
        free(r->out);
        free(r->err);
        *r = (Run) {};
}

static char *read_all(const char *path) {
        FILE *f = fopen(path, "re");
        char *buf = NULL;
        size_t n = 0;

        assert_non_null(f);
        buf = malloc(1);
        assert_non_null(buf);
        for (;;) {
                char chunk[4096];
                size_t k = fread(chunk, 1, sizeof(chunk), f);

                if (k == 0)
                        break;
                buf = realloc(buf, n + k + 1);
                assert_non_null(buf);
                memcpy(buf + n, chunk, k);
                n += k;
        }
        buf[n] = '\0';
        fclose(f);
        return buf;
}

/*
 * Runs argv (argv[0] a path) with VSS_SOCKET set to socket (NULL: unset), as uid/gid when
 * drop_to >= 0, stdin from /dev/null, and collects its output.
 */
static Run run_as(char *const argv[], const char *socket, int drop_to) {
        char out[PATH_MAX], err[PATH_MAX];
        Run r = {};
        int status;
        pid_t pid;

        snprintf(out, sizeof(out), "%s/out", tmpdir);
        snprintf(err, sizeof(err), "%s/err", tmpdir);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int o = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                int e = open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                int in = open("/dev/null", O_RDONLY | O_CLOEXEC);

                if (o < 0 || e < 0 || in < 0 || dup2(in, STDIN_FILENO) < 0 || dup2(o, STDOUT_FILENO) < 0 ||
                    dup2(e, STDERR_FILENO) < 0)
                        _exit(127);
                if (socket)
                        setenv("VSS_SOCKET", socket, 1);
                else
                        unsetenv("VSS_SOCKET");
                unsetenv("JOURNAL_STREAM");
                if (drop_to >= 0 && (setgroups(0, NULL) < 0 || setresgid((gid_t) drop_to, (gid_t) drop_to,
                                                                          (gid_t) drop_to) < 0 ||
                                     setresuid((uid_t) drop_to, (uid_t) drop_to, (uid_t) drop_to) < 0))
                        _exit(126);
                execv(argv[0], argv);
                _exit(127);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        r.out = read_all(out);
        r.err = read_all(err);
        return r;
}

static Run run(char *const argv[], const char *socket) {
        return run_as(argv, socket, -1);
}

static const Program *program(const char *name) {
        for (size_t i = 0; i < n_programs; i++)
                if (streq(programs[i].name, name))
                        return &programs[i];
        return NULL;
}

/*
 * Every "BUILD_PATH": "INSTALL_PATH" pair of intro-installed.json whose target is a program
 * directory (bin, sbin, libexec). The file is meson's own, flat, one object: reading the
 * quoted strings in order is enough.
 */
static void load_programs(void) {
        char path[PATH_MAX];
        const char *builddir = getenv("VSS_TEST_BUILDDIR");
        _cleanup_free_ char *json = NULL;
        char *p, *strings[2];
        size_t k = 0;

        assert_non_null(builddir);
        snprintf(path, sizeof(path), "%s/meson-info/intro-installed.json", builddir);
        json = read_all(path);

        for (p = json; (p = strchr(p, '"')); ) {
                char *end = strchr(p + 1, '"');

                assert_non_null(end);
                *end = '\0';
                strings[k++] = p + 1;
                p = end + 1;
                if (k < 2)
                        continue;
                k = 0;
                if (strstr(strings[1], "/bin/") || strstr(strings[1], "/sbin/") || strstr(strings[1], "/libexec/")) {
                        struct stat st;

                        if (stat(strings[0], &st) < 0 || !S_ISREG(st.st_mode) || !(st.st_mode & S_IXUSR))
                                continue;
                        assert_true(n_programs < MAX_PROGRAMS);
                        programs[n_programs].path = strdup(strings[0]);
                        programs[n_programs].name = strdup(strrchr(strings[0], '/') + 1);
                        assert_non_null(programs[n_programs].path);
                        assert_non_null(programs[n_programs].name);
                        n_programs++;
                }
        }
}

static int setup(void **state) {
        if (!mkdtemp(tmpdir))
                return -1;
        load_programs();
        return 0;
}

static int teardown(void **state) {
        char cmd[PATH_MAX + 16];

        for (size_t i = 0; i < n_programs; i++) {
                free(programs[i].path);
                free(programs[i].name);
        }
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        return system(cmd) == 0 ? 0 : -1;
}

/* The programs this project is known to install are all there: the list is not empty by accident. */
static void test_programs_found(void **state) {
        static const char *const expected[] = { "vssd", "vss-guardian", "vssadmin", "vshadow", "vssbackup",
                                                "vss-demo", "vss-sample-writer", "vss-writer-script" };

        for (size_t i = 0; i < ELEMENTSOF(expected); i++)
                if (!program(expected[i]))
                        fail_msg("%s is not among the installed programs", expected[i]);
}

static void test_version(void **state) {
        for (size_t i = 0; i < n_programs; i++) {
                char expected[256];
                Run r;

                r = run((char *[]) { programs[i].path, (char *) "--version", NULL }, NULL);
                snprintf(expected, sizeof(expected), "%s %s\n", programs[i].name, VSS_VERSION);
                if (r.status != 0 || !streq(r.out, expected))
                        fail_msg("%s --version: status %d, stdout \"%s\" (expected \"%s\"), stderr %s",
                                 programs[i].name, r.status, r.out, expected, r.err);
                run_done(&r);
        }
}

static void test_help(void **state) {
        for (size_t i = 0; i < n_programs; i++) {
                Run r;

                r = run((char *[]) { programs[i].path, (char *) "--help", NULL }, NULL);
                if (r.status != 0 || strlen(r.out) < 20)
                        fail_msg("%s --help: status %d, stdout \"%s\", stderr %s", programs[i].name, r.status,
                                 r.out, r.err);
                run_done(&r);
        }
}

static void test_usage_error(void **state) {
        for (size_t i = 0; i < n_programs; i++) {
                Run r;

                /* vssbackup takes a command first; any program must refuse an unknown option. */
                if (streq(programs[i].name, "vssbackup"))
                        r = run((char *[]) { programs[i].path, (char *) "list", (char *) "--no-such-option", NULL },
                                NULL);
                else
                        r = run((char *[]) { programs[i].path, (char *) "--no-such-option", NULL }, NULL);
                if (r.status != 1)
                        fail_msg("%s --no-such-option: status %d (expected 1), stderr %s", programs[i].name,
                                 r.status, r.err);
                run_done(&r);
        }
}

static void assert_unreachable(const char *name, char *const argv[], const char *socket) {
        char prefix[64];
        Run r;

        /* "NAME: " starts the line; a writer's log puts its priority ("error: ") between. */
        r = run(argv, socket);
        snprintf(prefix, sizeof(prefix), "%s: ", name);
        if (r.status != 3 || !strstr(r.err, prefix) || !strstr(r.err, UNREACHABLE_LINE) ||
            !strstr(r.err, "VSS_E_WRITER_INFRASTRUCTURE"))
                fail_msg("%s with vssd gone: status %d (expected 3), stderr: %s", name, r.status, r.err);
        /* One line for one condition: no second wording of it. */
        if (strstr(r.err, "not reachable"))
                fail_msg("%s says it twice: %s", name, r.err);
        run_done(&r);
}

static void test_unreachable(void **state) {
        char socket[PATH_MAX], vol[PATH_MAX], to[PATH_MAX], hooks[PATH_MAX];
        const Program *p;

        snprintf(socket, sizeof(socket), "%s/nobody-listens.sock", tmpdir);
        snprintf(vol, sizeof(vol), "%s/vol", tmpdir);
        snprintf(to, sizeof(to), "%s/backups", tmpdir);
        snprintf(hooks, sizeof(hooks), "%s/hooks", tmpdir);
        assert_int_equal(mkdir(vol, 0755), 0);
        assert_int_equal(mkdir(to, 0700), 0);
        assert_int_equal(mkdir(hooks, 0755), 0);

        p = program("vssadmin");
        assert_non_null(p);
        assert_unreachable("vssadmin", (char *[]) { p->path, (char *) "list", (char *) "shadows", NULL }, socket);
        assert_unreachable("vssadmin", (char *[]) { p->path, (char *) "create", (char *) "shadow", (char *) "--for",
                                                    vol, NULL }, socket);
        p = program("vshadow");
        assert_non_null(p);
        assert_unreachable("vshadow", (char *[]) { p->path, (char *) "-q", NULL }, socket);
        assert_unreachable("vshadow", (char *[]) { p->path, (char *) "-nw", (char *) "-exec=true", vol, NULL },
                           socket);
        p = program("vssbackup");
        assert_non_null(p);
        assert_unreachable("vssbackup", (char *[]) { p->path, (char *) "backup", (char *) "--type", (char *) "full",
                                                     vol, (char *) "--to", to, NULL }, socket);
        p = program("vss-demo");
        assert_non_null(p);
        assert_unreachable("vss-demo", (char *[]) { p->path, (char *) "--volume", vol, NULL }, socket);
        p = program("vss-sample-writer");
        assert_non_null(p);
        assert_unreachable("vss-sample-writer", (char *[]) { p->path, (char *) "--dir", vol, NULL }, socket);
        p = program("vss-writer-script");
        assert_non_null(p);
        assert_unreachable("vss-writer-script", (char *[]) { p->path, (char *) "--dir", hooks, NULL }, socket);
}

/* vssd without privileges: one clear line and status 2, instead of E_ACCESSDENIED later. */
static void test_vssd_unprivileged(void **state) {
        char socket[PATH_MAX], statedir[PATH_MAX];
        const Program *p = program("vssd");
        struct stat st;
        Run r;

        assert_non_null(p);
        snprintf(socket, sizeof(socket), "%s/vssd.sock", tmpdir);
        snprintf(statedir, sizeof(statedir), "%s/state", tmpdir);
        r = run_as((char *[]) { p->path, (char *) "--socket", socket, (char *) "--state-dir", statedir, NULL }, NULL,
                   geteuid() == 0 ? 65534 : -1);
        if (r.status != 2 || !strstr(r.err, "Refusing to start without root (CAP_SYS_ADMIN)") ||
            !strstr(r.err, "systemctl start vssd.socket"))
                fail_msg("unprivileged vssd: status %d (expected 2), stderr: %s", r.status, r.err);
        /* It refused before making anything. */
        assert_int_equal(stat(socket, &st), -1);
        assert_int_equal(stat(statedir, &st), -1);
        run_done(&r);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_programs_found),
                cmocka_unit_test(test_version),
                cmocka_unit_test(test_help),
                cmocka_unit_test(test_usage_error),
                cmocka_unit_test(test_unreachable),
                cmocka_unit_test(test_vssd_unprivileged),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
