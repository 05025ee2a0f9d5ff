/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-writer-script: vss-writer-script driven through real backups (a private vssd with the
 * test-copy provider, a plain directory as the volume).
 *
 * What it proves:
 *   - freeze and thaw reach every hook, the other events only the hooks whose
 *     "# vss-events:" line asks for them ("all", or a list), in the documented order: lexical
 *     for the events that build up, reverse for thaw, abort and backup-shutdown; a hook
 *     without the line is started for freeze and thaw only, twice a backup; the argument and
 *     VSS_EVENT agree, and freeze/thaw carry the snapshot set id; non-hooks (hidden,
 *     *.sample, not executable) never run; the hooks' stdout and stderr land in the writer's log;
 *   - a hook failing freeze vetoes: DoSnapshotSet fails with the writer's
 *     VSS_E_WRITERERROR_RETRYABLE, later hooks get no freeze, the ones that got freeze (the
 *     failed one included) get thaw in reverse, then every hook that asks for it gets abort;
 *   - a hook that hangs is killed at --timeout together with its process group, and the
 *     backup fails with VSS_E_WRITERERROR_TIMEOUT;
 *   - a qemu-guest-agent fsfreeze-hook.d style script (case "$1" in freeze|thaw) works
 *     unchanged: what it did at freeze is in the snapshot, what it did at thaw is not;
 *   - a hook directory inside a snapshotted volume is refused at PrepareForSnapshot with
 *     VSS_E_WRITERERROR_NONRETRYABLE.
 *
 * Runs as root (requesters need it): exits 77 otherwise. VSSD and VSS_WRITER_SCRIPT name
 * the programs (meson sets both).
 */
#include <errno.h>
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
#include "root-harness.h"
#include "writers-harness.h"

typedef struct Fixture {
        char *dir;          /* temporary directory: everything below lives here */
        char *volume;       /* <dir>/vol: what is snapshotted */
        char *hooks;        /* <dir>/hooks-N: the current test's hook directory */
        char *events;       /* <dir>/events-N.log: one line per hook run, written by the hooks */
        char *writer_log;   /* <dir>/writer-N.log: the writer's stdout+stderr */
        unsigned serial;
        Vssd vssd;
        pid_t writer;
        WhBackup backup;
} Fixture;

static const char *const script_class[] = { SCRIPT_WRITER_CLASS };

#define assert_ok(expr)                                                                            \
        do {                                                                                       \
                int _r = (expr);                                                                   \
                if (_r < 0) {                                                                      \
                        print_error("%s:%d: %s: %s\n", __FILE__, __LINE__, #expr, strerror(-_r)); \
                        fail();                                                                    \
                }                                                                                  \
        } while (0)

#define assert_hr(expr, expected)                                                                   \
        do {                                                                                        \
                vss_hr _a = (expr), _e = (expected);                                                \
                if (_a != _e) {                                                                     \
                        print_error("%s:%d: %s = %s, expected %s\n", __FILE__, __LINE__, #expr,     \
                                    vss_hr_name(_a), vss_hr_name(_e));                              \
                        fail();                                                                     \
                }                                                                                   \
        } while (0)

static int group_setup(void **state) {
        char tmpl[] = "/tmp/vss-writer-script-XXXXXX";
        _cleanup_free_ char *payload = NULL;
        Fixture *f = calloc(1, sizeof(*f));

        if (!f || !mkdtemp(tmpl))
                return -1;
        f->dir = strdup(tmpl);
        f->volume = path_join(f->dir, "vol");
        payload = path_join(f->volume, "payload.txt");
        if (mkdir(f->volume, 0755) < 0 || write_file(payload, "application data\n", 0644) < 0)
                return -1;
        if (vssd_start(f->dir, true, 10000, &f->vssd) < 0)
                return -1;
        *state = f;
        return 0;
}

static int group_teardown(void **state) {
        Fixture *f = *state;

        if (!f)
                return 0;
        vssd_stop(&f->vssd);
        if (!getenv("VSS_TEST_KEEP"))
                (void) rm_rf_physical(f->dir);
        else
                fprintf(stderr, "kept %s\n", f->dir);
        free(f->volume);
        free(f->dir);
        free(f);
        return 0;
}

/* A fresh hook directory and event log for each test. */
static int test_setup(void **state) {
        Fixture *f = *state;
        char name[64];

        f->serial++;
        (void) snprintf(name, sizeof(name), "hooks-%u", f->serial);
        f->hooks = path_join(f->dir, name);
        (void) snprintf(name, sizeof(name), "events-%u.log", f->serial);
        f->events = path_join(f->dir, name);
        (void) snprintf(name, sizeof(name), "writer-%u.log", f->serial);
        f->writer_log = path_join(f->dir, name);
        return mkdir(f->hooks, 0755) < 0 ? -1 : 0;
}

static int test_teardown(void **state) {
        Fixture *f = *state;

        wh_backup_release(&f->backup);
        if (f->writer > 0)
                (void) process_stop(f->writer, 10000);
        f->writer = 0;
        free(f->hooks);
        free(f->events);
        free(f->writer_log);
        f->hooks = f->events = f->writer_log = NULL;
        return 0;
}

/*
 * A hook that appends "<name> <arg> <VSS_EVENT> <VSS_SNAPSHOT_SET_ID>" to the event log,
 * says something on stdout and stderr, and then runs extra (shell code, may be ""). events is
 * its "# vss-events:" list, or NULL for none (freeze and thaw only).
 */
static void add_hook_events(Fixture *f, const char *name, const char *events, const char *extra, mode_t mode) {
        _cleanup_free_ char *path = path_join(f->hooks, name), *text = NULL;

        assert_int_not_equal(asprintf(&text,
                                      "#!/bin/sh\n"
                                      "%s%s%s"
                                      "echo \"%s $1 $VSS_EVENT ${VSS_SNAPSHOT_SET_ID:--}\" >> '%s'\n"
                                      "echo \"stdout of %s $1\"\n"
                                      "echo \"stderr of %s $1\" >&2\n"
                                      "%s\n"
                                      "exit 0\n",
                                      events ? "# vss-events: " : "", strempty(events), events ? "\n" : "",
                                      name, f->events, name, name, extra),
                             -1);
        assert_ok(write_file(path, text, mode));
}

/* A hook that takes every event. */
static void add_hook(Fixture *f, const char *name, const char *extra, mode_t mode) {
        add_hook_events(f, name, "all", extra, mode);
}

static void start_writer(Fixture *f, const char *dir, const char *timeout_ms) {
        char *const argv[] = {
                (char *) getenv("VSS_WRITER_SCRIPT"), (char *) "--dir", (char *) dir, (char *) "--socket",
                f->vssd.socket, (char *) "--timeout", (char *) timeout_ms, (char *) "--freeze-timeout",
                (char *) "20000", NULL,
        };

        assert_non_null(argv[0]);
        assert_ok(spawn_logged(argv, f->writer_log, &f->writer));
        assert_ok(log_wait(f->writer_log, "subscribed", 1, WH_WAIT_MS));
}

/* The event log's lines for event, as "name name name" in the order they ran. */
static char *hooks_for(const Fixture *f, const char *event) {
        _cleanup_free_ char *text = NULL;
        char *out = calloc(1, 4096), *p, *nl;

        assert_non_null(out);
        if (read_file_full(f->events, &text, NULL) < 0)
                return out;
        for (p = text; (nl = strchr(p, '\n')); p = nl + 1) {
                char name[64], arg[64], env[64], set[64];

                *nl = '\0';
                assert_int_equal(sscanf(p, "%63s %63s %63s %63s", name, arg, env, set), 4);
                /* The argument and VSS_EVENT always agree. */
                assert_string_equal(arg, env);
                if (!streq(arg, event))
                        continue;
                if (*out)
                        strcat(out, " ");
                strcat(out, name);
        }
        return out;
}

/* The set id the hooks saw for event (the first such line). */
static char *set_id_seen(const Fixture *f, const char *event) {
        _cleanup_free_ char *needle = NULL, *line = NULL;
        char name[64], arg[64], env[64], set[64];

        assert_int_not_equal(asprintf(&needle, " %s %s ", event, event), -1);
        line = log_line(f->events, needle, 0);
        assert_non_null(line);
        assert_int_equal(sscanf(line, "%63s %63s %63s %63s", name, arg, env, set), 4);
        return strdup(set);
}

#define assert_hooks(f, event, expected)                                \
        do {                                                            \
                _cleanup_free_ char *_got = hooks_for((f), (event));    \
                assert_string_equal(_got, (expected));                  \
        } while (0)

static void test_events_in_order(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *set_freeze = NULL, *set_thaw = NULL;
        _cleanup_free_ char *hidden = path_join(f->hooks, ".hidden"), *noexec = path_join(f->hooks, "25-noexec");
        char idbuf[VSS_ID_STRING_MAX];
        vss_writer_state ws;
        vss_hr failure;
        vss_id set_id;

        add_hook(f, "20-b", "", 0755);
        add_hook(f, "10-a", "", 0755);
        add_hook(f, "30-c", "", 0755);
        add_hook_events(f, "15-plain", NULL, "", 0755);
        add_hook_events(f, "25-some", "prepare-snapshot, post-snapshot bogus", "", 0755);
        add_hook(f, "40-d.sample", "", 0755);
        add_hook(f, "50-e~", "", 0755);
        assert_ok(write_file(hidden, "#!/bin/sh\necho hidden >> /dev/null\n", 0755));
        assert_ok(write_file(noexec, "#!/bin/sh\nexit 1\n", 0644));
        start_writer(f, f->hooks, "10000");

        assert_hr(wh_backup_prepare(&f->backup, f->vssd.socket, f->volume, script_class, 1), S_OK);
        assert_int_equal(f->backup.n_components, 1);
        assert_hr(wh_backup_snapshot(&f->backup), S_OK);
        assert_hr(wh_backup_complete(&f->backup), S_OK);
        assert_hr(wh_backup_writer_status(&f->backup, SCRIPT_WRITER_CLASS, &ws, &failure), S_OK);
        assert_int_equal(ws, VSS_WS_STABLE);
        assert_hr(failure, S_OK);
        set_id = f->backup.set_id;
        wh_backup_release(&f->backup);
        assert_ok(log_wait(f->events, "backup-shutdown", 3, WH_WAIT_MS));

        assert_hooks(f, "identify", "10-a 20-b 30-c");
        assert_hooks(f, "prepare-backup", "10-a 20-b 30-c");
        assert_hooks(f, "prepare-snapshot", "10-a 20-b 25-some 30-c");
        assert_hooks(f, "freeze", "10-a 15-plain 20-b 25-some 30-c");
        assert_hooks(f, "thaw", "30-c 25-some 20-b 15-plain 10-a");
        assert_hooks(f, "post-snapshot", "10-a 20-b 25-some 30-c");
        assert_hooks(f, "backup-complete", "10-a 20-b 30-c");
        assert_hooks(f, "backup-shutdown", "30-c 20-b 10-a");
        assert_hooks(f, "abort", "");
        /* A hook with no "# vss-events:" line was started twice in the whole backup. */
        assert_int_equal(log_count(f->events, "15-plain "), 2);
        assert_int_equal(log_count(f->writer_log, "unknown event \"bogus\""), 1);

        /* freeze and thaw name the set being snapshotted. */
        set_freeze = set_id_seen(f, "freeze");
        set_thaw = set_id_seen(f, "thaw");
        assert_string_equal(set_freeze, vss_id_format(&set_id, idbuf));
        assert_string_equal(set_thaw, set_freeze);

        /* The hooks' output went to the writer's log, stdout and stderr alike. */
        assert_int_equal(log_count(f->writer_log, "stdout of 20-b freeze"), 1);
        assert_int_equal(log_count(f->writer_log, "stderr of 20-b freeze"), 1);
        assert_int_equal(log_count(f->writer_log, "hidden"), 0);
}

static void test_freeze_failure_vetoes(void **state) {
        Fixture *f = *state;
        vss_writer_state ws;
        vss_hr failure;

        add_hook(f, "10-a", "", 0755);
        add_hook(f, "20-b", "[ \"$1\" = freeze ] && { echo 'cannot quiesce' >&2; exit 3; }", 0755);
        add_hook(f, "30-c", "", 0755);
        add_hook_events(f, "40-plain", NULL, "", 0755);
        start_writer(f, f->hooks, "10000");

        assert_hr(wh_backup_prepare(&f->backup, f->vssd.socket, f->volume, script_class, 1), S_OK);
        assert_hr(wh_backup_snapshot(&f->backup), VSS_E_WRITERERROR_RETRYABLE);
        assert_hr(wh_backup_writer_status(&f->backup, SCRIPT_WRITER_CLASS, &ws, &failure), S_OK);
        assert_int_equal(ws, VSS_WS_FAILED_AT_FREEZE);
        assert_hr(failure, VSS_E_WRITERERROR_RETRYABLE);
        assert_ok(log_wait(f->events, " abort abort ", 3, WH_WAIT_MS));

        /* 30-c never froze, so it gets no thaw; 20-b failed mid-freeze and does. 40-plain
         * froze neither, and takes no abort. */
        assert_hooks(f, "freeze", "10-a 20-b");
        assert_hooks(f, "thaw", "20-b 10-a");
        assert_hooks(f, "abort", "30-c 20-b 10-a");
        assert_int_equal(log_count(f->events, "40-plain "), 0);
        assert_int_equal(log_count(f->writer_log, "cannot quiesce"), 1);
        assert_int_equal(log_count(f->writer_log, "20-b freeze: exited 3"), 1);
}

/* Whether pid has exited: no longer in /proc, or a zombie waiting for init to reap it. */
static bool process_gone_now(pid_t pid) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        const char *p;

        assert_int_not_equal(asprintf(&path, "/proc/%d/stat", (int) pid), -1);
        if (read_file_full(path, &text, NULL) < 0)
                return true;
        p = strrchr(text, ')');
        return p && (p[2] == 'Z' || p[2] == 'X');
}

/* A SIGKILLed process still has to be scheduled to exit: on a busy machine that can come
 * after the writer's next events, so wait for it (bounded) instead of looking once. */
static bool process_gone(pid_t pid) {
        for (unsigned waited = 0; waited < WH_WAIT_MS; waited += 10) {
                if (process_gone_now(pid))
                        return true;
                (void) usleep(10 * 1000);
        }
        return process_gone_now(pid);
}

static void test_hanging_hook_killed(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *pidfile = path_join(f->dir, "background.pid"), *extra = NULL, *pidtext = NULL;
        vss_writer_state ws;
        vss_hr failure;
        pid_t background;

        /* The hook starts a child and waits for it: both must die at the timeout. */
        assert_int_not_equal(asprintf(&extra, "[ \"$1\" = freeze ] && { sleep 600 & echo $! > '%s'; wait; }",
                                      pidfile),
                             -1);
        add_hook(f, "10-a", "", 0755);
        add_hook(f, "20-hang", extra, 0755);
        start_writer(f, f->hooks, "1000");

        assert_hr(wh_backup_prepare(&f->backup, f->vssd.socket, f->volume, script_class, 1), S_OK);
        assert_hr(wh_backup_snapshot(&f->backup), VSS_E_WRITERERROR_TIMEOUT);
        assert_hr(wh_backup_writer_status(&f->backup, SCRIPT_WRITER_CLASS, &ws, &failure), S_OK);
        assert_int_equal(ws, VSS_WS_FAILED_AT_FREEZE);
        assert_hr(failure, VSS_E_WRITERERROR_TIMEOUT);

        assert_int_equal(log_count(f->writer_log, "20-hang freeze: timed out"), 1);
        assert_ok(log_wait(f->events, " abort abort ", 2, WH_WAIT_MS));
        assert_hooks(f, "thaw", "20-hang 10-a");

        /* The background child was in the hook's process group: killed with it. */
        assert_ok(read_file_full(pidfile, &pidtext, NULL));
        background = (pid_t) atoi(pidtext);
        assert_true(background > 1);
        assert_true(process_gone(background));
}

static void test_qemu_fsfreeze_hook_unchanged(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *hook = path_join(f->hooks, "mysql-flush.sh"), *text = NULL;
        _cleanup_free_ char *marker = path_join(f->volume, "app-quiesced"), *snap_marker = NULL;
        struct stat st;

        /* The shape of qemu's fsfreeze-hook.d samples: only freeze and thaw are handled;
         * other arguments fall through to exit 0. */
        assert_int_not_equal(asprintf(&text,
                                      "#!/bin/sh\n"
                                      "case \"$1\" in\n"
                                      "    freeze)\n"
                                      "        echo \"quiesced\" > '%s'\n"
                                      "        echo \"application quiesced\"\n"
                                      "        ;;\n"
                                      "    thaw)\n"
                                      "        rm -f '%s'\n"
                                      "        echo \"application resumed\"\n"
                                      "        ;;\n"
                                      "esac\n",
                                      marker, marker),
                             -1);
        assert_ok(write_file(hook, text, 0755));
        start_writer(f, f->hooks, "10000");

        assert_hr(wh_backup_prepare(&f->backup, f->vssd.socket, f->volume, script_class, 1), S_OK);
        assert_hr(wh_backup_snapshot(&f->backup), S_OK);

        /* Frozen before the snapshot, thawed after it. */
        snap_marker = path_join(f->backup.snapshot_path, "app-quiesced");
        assert_int_equal(stat(snap_marker, &st), 0);
        assert_int_equal(stat(marker, &st), -1);
        assert_int_equal(log_count(f->writer_log, "mysql-flush.sh["), 2);
        assert_int_equal(log_count(f->writer_log, "freeze: application quiesced"), 1);
        assert_int_equal(log_count(f->writer_log, "thaw: application resumed"), 1);
        assert_hr(wh_backup_complete(&f->backup), S_OK);
}

static void test_hook_dir_inside_volume_refused(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *inside = path_join(f->volume, "hooks");
        vss_writer_state ws;
        vss_hr failure;

        assert_int_equal(mkdir(inside, 0755), 0);
        free(f->hooks);
        f->hooks = TAKE_PTR(inside);
        add_hook(f, "10-a", "", 0755);
        start_writer(f, f->hooks, "10000");

        assert_hr(wh_backup_prepare(&f->backup, f->vssd.socket, f->volume, script_class, 1), S_OK);
        assert_hr(wh_backup_snapshot(&f->backup), VSS_E_WRITERERROR_NONRETRYABLE);
        assert_hr(wh_backup_writer_status(&f->backup, SCRIPT_WRITER_CLASS, &ws, &failure), S_OK);
        assert_int_equal(ws, VSS_WS_FAILED_AT_PREPARE_SNAPSHOT);
        assert_int_equal(log_count(f->writer_log, "refusing to run hooks"), 1);
        /* Nothing ran from the refused directory after the check. */
        assert_hooks(f, "prepare-snapshot", "");
        assert_hooks(f, "freeze", "");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_events_in_order, test_setup, test_teardown),
                cmocka_unit_test_setup_teardown(test_freeze_failure_vetoes, test_setup, test_teardown),
                cmocka_unit_test_setup_teardown(test_hanging_hook_killed, test_setup, test_teardown),
                cmocka_unit_test_setup_teardown(test_qemu_fsfreeze_hook_unchanged, test_setup, test_teardown),
                cmocka_unit_test_setup_teardown(test_hook_dir_inside_volume_refused, test_setup, test_teardown),
        };

        if (geteuid() != 0) {
                fprintf(stderr, "test-writer-script needs root (requester rights); skipping\n");
                return 77;
        }
        (void) signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
