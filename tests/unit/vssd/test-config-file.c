/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-config-file: vssd's configuration file (src/vssd/config-file.c, vssd.conf(5)) turned
 * into arguments, and the real vssd started with one.
 *
 * What it proves:
 *   - settings become "--name=value" before the command line's arguments, the file's before
 *     its drop-ins', drop-ins in lexical order, only *.conf; comments, blank lines and
 *     spaces around '=' are fine; values keep inner spaces;
 *   - a missing default file is no error, a missing --config file is; --no-config reads
 *     nothing; --config PATH and --config=PATH both work;
 *   - an unknown setting, a line without '=', a setting not on the allowed list (a test-only
 *     flag) refuse with an error;
 *   - the shipped example (data/vssd.conf), uncommented, names only real settings;
 *   - the real vssd listens on the socket its file names, and the command line overrides
 *     the file;
 *   - the LVM provider's policy settings (lvm-cow-percent, lvm-thin-pool-limit) take a
 *     percentage, 1-100; anything else keeps vssd from starting, with the setting named.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "vssd/config-file.h"

static const char *const allowed[] = { "socket",          "state-dir",  "event-timeout",   "allow-writer-uid",
                                       "max-connections", "max-snapshots-per-volume", "expose-dir",
                                       "hold-timeout-ms", "log-level", "guardian",
                                       "max-connections-per-uid", "max-root-connections", "max-message-size",
                                       "max-pending-per-uid", "max-pending", "max-queued", "read-timeout-ms",
                                       "lvm-cow-percent", "lvm-thin-pool-limit",
                                       NULL };

static char dir[] = "/tmp/vss-config-test-XXXXXX";

static void put(const char *name, const char *text) {
        _cleanup_free_ char *path = NULL;
        FILE *f;

        assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
        f = fopen(path, "we");
        assert_non_null(f);
        fputs(text, f);
        assert_int_equal(fclose(f), 0);
}

static char *at(const char *name) {
        char *path;

        assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
        return path;
}

/* Builds the arguments for argv (NULL-terminated) and returns them joined by '|'. */
static int build(char **argv, const char *default_name, char **ret_joined) {
        _cleanup_free_ char *def = at(default_name);
        char **out = NULL, *joined;
        int argc = 0, n = 0, r;
        size_t len = 1;

        while (argv[argc])
                argc++;
        r = config_argv_build(argc, argv, def, allowed, &n, &out);
        if (r < 0)
                return r;
        for (int i = 0; i < n; i++)
                len += strlen(out[i]) + 1;
        joined = calloc(1, len);
        assert_non_null(joined);
        for (int i = 0; i < n; i++) {
                if (i > 0)
                        strcat(joined, "|");
                strcat(joined, out[i]);
        }
        assert_null(out[n]);
        config_argv_free(out);
        *ret_joined = joined;
        return 0;
}

static int setup(void **state) {
        return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
        char *argv[] = { (char *) "rm", (char *) "-rf", dir, NULL };
        pid_t pid = fork();

        if (pid == 0) {
                execvp(argv[0], argv);
                _exit(127);
        }
        (void) waitpid(pid, NULL, 0);
        return 0;
}

static void test_order_and_format(void **state) {
        _cleanup_free_ char *got = NULL, *sub = at("main.conf.d");
        char *argv[] = { (char *) "vssd", (char *) "--event-timeout=7", NULL };

        put("main.conf", "# a comment\n\n; another\n  socket =  /run/x y.sock  \nevent-timeout=5\n"
                         "allow-writer-uid = 1000\n");
        assert_int_equal(mkdir(sub, 0755), 0);
        put("main.conf.d/20-b.conf", "allow-writer-uid = 1002\n");
        put("main.conf.d/10-a.conf", "allow-writer-uid = 1001\n");
        put("main.conf.d/30-ignored.txt", "this is not read\n");
        put("main.conf.d/.40-hidden.conf", "bogus\n");

        assert_int_equal(build(argv, "main.conf", &got), 0);
        assert_string_equal(got, "vssd|--socket=/run/x y.sock|--event-timeout=5|--allow-writer-uid=1000|"
                                 "--allow-writer-uid=1001|--allow-writer-uid=1002|--event-timeout=7");
}

static void test_which_file(void **state) {
        _cleanup_free_ char *got = NULL, *other = at("other.conf"), *opt = NULL, *missing = at("missing.conf"),
                            *expected = NULL;
        char *argv_default[] = { (char *) "vssd", NULL };
        char *argv_none[] = { (char *) "vssd", (char *) "--no-config", NULL };
        char *argv_other[] = { (char *) "vssd", (char *) "--config", other, NULL };
        char *argv_missing[] = { (char *) "vssd", NULL, NULL };

        /* No default file: nothing but argv. */
        assert_int_equal(build(argv_default, "nothing-here.conf", &got), 0);
        assert_string_equal(got, "vssd");
        free(got);

        put("other.conf", "state-dir = /var/lib/other\n");
        put("default.conf", "state-dir = /var/lib/default\n");
        assert_int_equal(build(argv_none, "default.conf", &got), 0);
        assert_string_equal(got, "vssd|--no-config");
        free(got);

        assert_int_equal(build(argv_other, "default.conf", &got), 0);
        assert_true(asprintf(&expected, "vssd|--state-dir=/var/lib/other|--config|%s", other) > 0);
        assert_string_equal(got, expected);
        free(got);
        got = NULL;

        assert_true(asprintf(&opt, "--config=%s", missing) > 0);
        argv_missing[1] = opt;
        assert_int_equal(build(argv_missing, "default.conf", &got), -ENOENT);
}

static void test_refused(void **state) {
        static const struct {
                const char *text;
                int error;
        } cases[] = {
                { "bogus = 1\n", -EINVAL },            /* unknown */
                { "socket /x\n", -EINVAL },            /* no '=' */
                { "test-provider = yes\n", -EINVAL },  /* not on the allowed list */
                { "= 3\n", -EINVAL },                  /* no name */
        };
        char *argv[] = { (char *) "vssd", NULL };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char *got = NULL;

                put("bad.conf", cases[i].text);
                assert_int_equal(build(argv, "bad.conf", &got), cases[i].error);
                assert_null(got);
        }
}

/* Waits up to 10 s for path to exist. */
static bool appears(const char *path) {
        for (int i = 0; i < 1000; i++) {
                if (access(path, F_OK) == 0)
                        return true;
                usleep(10000);
        }
        return false;
}

static void test_real_vssd(void **state) {
        _cleanup_free_ char *conf = at("vssd.conf"), *text = NULL, *from_file = at("from-file.sock"),
                            *from_cli = at("from-cli.sock"), *state_dir = at("state");
        const char *vssd = getenv("VSSD");
        pid_t pid;
        int status;

        assert_non_null(vssd);
        if (geteuid() != 0) {
                /* vssd refuses to run unprivileged; the parser cases above still ran. */
                skip();
        }
        assert_int_equal(mkdir(state_dir, 0700), 0);
        assert_true(asprintf(&text, "socket = %s\nstate-dir = %s\n", from_file, state_dir) > 0);
        put("vssd.conf", text);

        /* The file alone. */
        pid = fork();
        if (pid == 0) {
                execl(vssd, vssd, "--config", conf, (char *) NULL);
                _exit(127);
        }
        assert_true(appears(from_file));
        assert_int_equal(kill(pid, SIGTERM), 0);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

        /* The command line wins. */
        pid = fork();
        if (pid == 0) {
                execl(vssd, vssd, "--config", conf, "--socket", from_cli, (char *) NULL);
                _exit(127);
        }
        assert_true(appears(from_cli));
        assert_int_equal(kill(pid, SIGTERM), 0);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

        /* A typo keeps vssd from starting at all. */
        put("vssd.conf", "max-conections = 3\n");
        pid = fork();
        if (pid == 0) {
                execl(vssd, vssd, "--config", conf, (char *) NULL);
                _exit(127);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
}

/* vssd --config <file with text> --version: its exit status, and its stderr in *ret_err. */
static int vssd_with_file(const char *text, char **ret_err) {
        _cleanup_free_ char *conf = at("lvm.conf");
        const char *vssd = getenv("VSSD");
        char buf[4096];
        size_t len = 0;
        ssize_t k;
        int pipefd[2], status;
        pid_t pid;

        assert_non_null(vssd);
        put("lvm.conf", text);
        assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                if (dup2(pipefd[1], STDERR_FILENO) < 0)
                        _exit(127);
                execl(vssd, vssd, "--config", conf, "--version", (char *) NULL);
                _exit(127);
        }
        close(pipefd[1]);
        while (len < sizeof(buf) - 1 && (k = read(pipefd[0], buf + len, sizeof(buf) - 1 - len)) > 0)
                len += (size_t) k;
        buf[len] = 0;
        close(pipefd[0]);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        *ret_err = strdup(buf);
        assert_non_null(*ret_err);
        return WEXITSTATUS(status);
}

static void test_lvm_settings(void **state) {
        static const char *const bad[] = {
                "lvm-cow-percent = 0\n",         "lvm-cow-percent = 101\n",   "lvm-cow-percent = 20%\n",
                "lvm-cow-percent = -5\n",        "lvm-thin-pool-limit = 0\n", "lvm-thin-pool-limit = 1000\n",
                "lvm-thin-pool-limit = ninety\n", "lvm-cow-percent =\n",
        };

        /* In range: accepted (--version after the file exits 0 once every setting parsed). */
        {
                _cleanup_free_ char *err = NULL;

                assert_int_equal(vssd_with_file("lvm-cow-percent = 1\nlvm-thin-pool-limit = 100\n", &err), 0);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_free_ char *err = NULL;
                char name[32];

                (void) sscanf(bad[i], "%31[a-z-]", name);
                assert_int_equal(vssd_with_file(bad[i], &err), 1);
                /* The message names the setting and the range. */
                if (!strstr(err, name) || !strstr(err, "1-100")) {
                        print_error("%s -> %s\n", bad[i], err);
                        fail();
                }
        }
}

/* The shipped data/vssd.conf, every setting uncommented, is a configuration vssd accepts. */
static void test_shipped_example(void **state) {
        _cleanup_free_ char *example = NULL, *text = NULL, *got = NULL;
        const char *srcdir = getenv("VSS_TEST_SRCDIR");
        char *argv[] = { (char *) "vssd", NULL };
        char *line = NULL, *save = NULL;
        unsigned settings = 0;
        size_t size = 0;
        FILE *in;

        assert_non_null(srcdir);
        assert_true(asprintf(&example, "%s/data/vssd.conf", srcdir) > 0);
        in = fopen(example, "re");
        assert_non_null(in);
        text = calloc(1, 65536);
        assert_non_null(text);
        while (getline(&line, &size, in) > 0)
                /* "#name = value" lines are settings; "# words" lines are prose. */
                if (line[0] == '#' && line[1] >= 'a' && line[1] <= 'z' && strstr(line, " = ")) {
                        strcat(text, line + 1);
                        settings++;
                }
        free(line);
        fclose(in);
        assert_true(settings >= 8);
        put("example.conf", text);
        assert_int_equal(build(argv, "example.conf", &got), 0);
        for (char *tok = strtok_r(got, "|", &save); tok; tok = strtok_r(NULL, "|", &save))
                settings -= strncmp(tok, "--", 2) == 0;
        assert_int_equal(settings, 0);

        /* And the real vssd takes every name and value: --version comes after the file's
         * settings, so it exits 0 only when all of them parsed. */
        {
                _cleanup_free_ char *path = at("example.conf");
                const char *vssd = getenv("VSSD");
                int status;
                pid_t pid;

                assert_non_null(vssd);
                pid = fork();
                if (pid == 0) {
                        execl(vssd, vssd, "--config", path, "--version", (char *) NULL);
                        _exit(127);
                }
                assert_int_equal(waitpid(pid, &status, 0), pid);
                assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_order_and_format),
                cmocka_unit_test(test_which_file),
                cmocka_unit_test(test_refused),
                cmocka_unit_test(test_shipped_example),
                cmocka_unit_test(test_real_vssd),
                cmocka_unit_test(test_lvm_settings),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
