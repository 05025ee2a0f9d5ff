/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-vshadow.c: the vshadow program end to end, against a private vssd with the test-copy
 * provider and vss-test-writer processes: -exec's environment and what the command sees (the
 * snapshot, not later live changes), SetBackupSucceeded following the command's exit status,
 * -nw, -wx and -wi, -bc, -script, persistent sets with -q/-qx/-s/-ds/-dx, a tar round trip
 * and a restic backup and restore through -exec, restore with writers from a -bc document
 * (-r with its command between PreRestore and PostRestore, -rs), and usage errors.
 *
 * vshadow runs as a child process (path in $VSHADOW, set by meson) with its stdout and stderr
 * in files of the harness directory; the tests read those and the writers' logs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc-util.h"
#include "harness.h"
#include "json-check.h"
#include "macro.h"

#define W1_CLASS "5e7a0c1e-0000-4000-8000-00000000a001"

typedef struct Fixture {
        Harness *h;
        char *volume;
        TestWriter *w1;         /* component "data" with the volume as its file group */
        TestWriter *w2;         /* components "a" and "x\b", no files */
        unsigned runs;
} Fixture;

typedef struct Run {
        int status;
        char *out;
        char *err;
} Run;

static void run_done(Run *r) {
        free(r->out);
        free(r->err);
        *r = (Run) {};
}

static char *read_all(const char *path) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        char *buf = NULL;
        size_t n = 0, size = 0;

        if (fd < 0)
                return strdup("");
        for (;;) {
                ssize_t k;

                if (GREEDY_REALLOC(buf, size, n + 4096) < 0) {
                        free(buf);
                        return NULL;
                }
                k = read(fd, buf + n, size - n - 1);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                n += (size_t) k;
        }
        buf[n] = '\0';
        return buf;
}

static int write_text(const char *path, const char *text) {
        FILE *f = fopen(path, "we");

        if (!f)
                return -errno;
        fputs(text, f);
        return fclose(f) == 0 ? 0 : -errno;
}

/* Runs vshadow with args (NULL-terminated), stdin from /dev/null; fills *ret. */
static void vshadow_run(Fixture *f, const char *const *args, Run *ret) {
        _cleanup_free_ char *out = NULL, *err = NULL;
        const char *argv[32];
        size_t n = 0;
        int status;
        pid_t pid;

        assert_non_null(getenv("VSHADOW"));
        argv[n++] = getenv("VSHADOW");
        for (size_t i = 0; args[i]; i++) {
                assert_true(n < ELEMENTSOF(argv) - 1);
                argv[n++] = args[i];
        }
        argv[n] = NULL;

        f->runs++;
        assert_true(asprintf(&out, "%s/vshadow-%u.out", f->h->dir, f->runs) > 0);
        assert_true(asprintf(&err, "%s/vshadow-%u.err", f->h->dir, f->runs) > 0);

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int in = open("/dev/null", O_RDONLY), o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644),
                    e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);

                if (in < 0 || o < 0 || e < 0 || dup2(in, 0) < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
                        _exit(126);
                execv(argv[0], (char *const *) argv);
                _exit(127);
        }
        assert_true(waitpid(pid, &status, 0) == pid);
        assert_true(WIFEXITED(status));
        ret->status = WEXITSTATUS(status);
        ret->out = read_all(out);
        ret->err = read_all(err);
        assert_non_null(ret->out);
        assert_non_null(ret->err);
        if (getenv("VSS_TEST_VERBOSE"))
                fprintf(stderr, "vshadow exit %d\n--- stdout\n%s--- stderr\n%s", ret->status, ret->out, ret->err);
}

#define assert_exit(run, expected)                                                                  \
        do {                                                                                        \
                if ((run).status != (expected)) {                                                   \
                        print_error("vshadow exited %d, expected %d\nstdout:\n%s\nstderr:\n%s\n",  \
                                    (run).status, (expected), (run).out, (run).err);                \
                        fail();                                                                     \
                }                                                                                   \
        } while (0)

static char *path_in(Fixture *f, const char *name) {
        char *p;

        assert_true(asprintf(&p, "%s/%s", f->h->dir, name) > 0);
        return p;
}

/* "NAME=value" line of an env dump; the value copied, or NULL. */
static char *env_value(const char *dump, const char *name) {
        size_t n = strlen(name);

        for (const char *l = dump; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
                if (strncmp(l, name, n) == 0 && l[n] == '=') {
                        const char *end = strchrnul(l + n + 1, '\n');

                        return strndup(l + n + 1, (size_t) (end - l - n - 1));
                }
        return NULL;
}

static void assert_env(const char *dump, const char *name, const char *expected) {
        _cleanup_free_ char *v = env_value(dump, name);

        if (!v || !streq(v, expected)) {
                print_error("%s is \"%s\", expected \"%s\"\n", name, strempty(v), expected);
                fail();
        }
}

static void assert_env_id(const char *dump, const char *name) {
        _cleanup_free_ char *v = env_value(dump, name);
        vss_id id;

        assert_non_null(v);
        assert_hr(vss_id_parse(v, &id), S_OK);
}

/* The components= field of the writer's BackupComplete line ("-" when it never came). */
static void backup_complete_components(TestWriter *w, char *buf, size_t size) {
        _cleanup_free_ char *line = NULL;

        (void) writer_log_wait(w, "event=BackupComplete", 1);
        line = writer_event_line(w, "BackupComplete", 0);
        if (!line || line_field(line, "components", buf, size) < 0)
                snprintf(buf, size, "-");
}

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof *f);
        _cleanup_free_ char *sub = NULL, *file = NULL;

        assert_non_null(f);
        assert_ok0(harness_new(NULL, &f->h));
        assert_ok0(harness_make_volume(f->h, "vol", &f->volume));
        assert_true(asprintf(&sub, "%s/sub", f->volume) > 0);
        assert_int_equal(mkdir(sub, 0750), 0);
        assert_true(asprintf(&file, "%s/deep.bin", sub) > 0);
        assert_ok0(write_text(file, "binary\001\002\003 and text\n"));

        {
                const char *args[] = { "--class", W1_CLASS, "--component", ":data", "--file", f->volume, NULL };

                assert_ok0(harness_add_writer(f->h, "w1", args, &f->w1));
        }
        {
                const char *args[] = { "--component", ":a", "--component", "x:b", NULL };

                assert_ok0(harness_add_writer(f->h, "w2", args, &f->w2));
        }
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;

        if (f) {
                harness_free(f->h);
                free(f->volume);
                free(f);
        }
        return 0;
}

/* -exec sees the documented variables and the snapshot as it was, not later live changes;
 * exit 0 marks every selected component succeeded. -bc and -script write their files. */
static void test_exec_environment(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *envf = path_in(f, "env.txt"), *seen = path_in(f, "seen.txt"),
                            *list = path_in(f, "list.txt"), *bcd = path_in(f, "bcd.xml"),
                            *bcd_during = path_in(f, "bcd-during.xml"), *script = path_in(f, "vars.sh"),
                            *exec = NULL, *exec_arg = NULL, *bc_arg = NULL, *script_arg = NULL;
        _cleanup_free_ char *dump = NULL, *text = NULL, *saved = NULL, *vars = NULL, *snap = NULL, *vol = NULL,
                            *real = NULL, *list0 = NULL;
        char comps[512];
        Run run = {};

        /* Change the live volume first, then read the snapshot: it must not see the change. */
        assert_true(asprintf(&exec,
                             "env > '%s' && echo changed > \"$VSHADOW_VOLUME_0/payload.txt\" && "
                             "cat \"$VSHADOW_SNAPSHOT_0/payload.txt\" > '%s' && "
                             "tr '\\0' '\\n' < \"$VSHADOW_FILE_LIST\" | sort > '%s' && cp \"$VSHADOW_BCD\" '%s'",
                             envf, seen, list, bcd_during) > 0);
        assert_true(asprintf(&exec_arg, "-exec=%s", exec) > 0);
        assert_true(asprintf(&bc_arg, "-bc=%s", bcd) > 0);
        assert_true(asprintf(&script_arg, "-script=%s", script) > 0);
        vshadow_run(f, (const char *[]) { bc_arg, script_arg, exec_arg, f->volume, NULL }, &run);
        assert_exit(run, 0);

        dump = read_all(envf);
        real = realpath(f->volume, NULL);
        assert_non_null(real);
        vol = env_value(dump, "VSHADOW_VOLUME_0");
        snap = env_value(dump, "VSHADOW_SNAPSHOT_0");
        assert_non_null(vol);
        assert_non_null(snap);
        assert_string_equal(vol, real);
        assert_string_not_equal(snap, real);
        assert_env(dump, "VSHADOW_SNAPSHOT_COUNT", "1");
        assert_env(dump, "VSHADOW_BACKUP_TYPE", "full");
        assert_env(dump, "VSHADOW_BCD", bcd);
        assert_env_id(dump, "VSHADOW_SET_ID");
        assert_env_id(dump, "VSHADOW_SNAPSHOT_ID_0");
        list0 = env_value(dump, "VSHADOW_FILE_LIST_0");
        assert_non_null(list0);
        assert_env(dump, "VSHADOW_FILE_LIST", list0);
        /* The list lives only while the command runs. */
        assert_int_equal(access(list0, F_OK), -1);

        text = read_all(seen);
        assert_string_equal(text, "payload of vol\n");
        free(text);
        /* w1's file group is the whole volume: the list names every file, relative. */
        text = read_all(list);
        assert_string_equal(text, "payload.txt\nsub/deep.bin\n");

        saved = read_all(bcd);
        assert_non_null(strstr(saved, "data"));
        free(text);
        text = read_all(bcd_during);
        assert_true(strlen(text) > 0);
        vars = read_all(script);
        assert_non_null(strstr(vars, "export VSHADOW_SET_ID='"));
        assert_non_null(strstr(vars, "export VSHADOW_SNAPSHOT_0='"));

        backup_complete_components(f->w1, comps, sizeof comps);
        assert_string_equal(comps, "data:1");
        backup_complete_components(f->w2, comps, sizeof comps);
        assert_string_equal(comps, "a:1,x/b:1");
        run_done(&run);
}

/* A failing command: every component is marked failed and vshadow exits with its status. */
static void test_exec_failure(void **state) {
        Fixture *f = *state;
        char comps[512];
        Run run = {};

        vshadow_run(f, (const char *[]) { "-exec=exit 7", f->volume, NULL }, &run);
        assert_exit(run, 7);
        backup_complete_components(f->w1, comps, sizeof comps);
        assert_string_equal(comps, "data:0");
        backup_complete_components(f->w2, comps, sizeof comps);
        assert_string_equal(comps, "a:0,x/b:0");
        run_done(&run);
}

/* -nw: no writer hears anything; the snapshot is still made and the command runs. */
static void test_no_writers(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *seen = path_in(f, "nw.txt"), *exec = NULL, *text = NULL;
        char **events = NULL;
        Run run = {};

        assert_true(asprintf(&exec, "-exec=cat \"$VSHADOW_SNAPSHOT_0/payload.txt\" > '%s'", seen) > 0);
        vshadow_run(f, (const char *[]) { "-nw", exec, f->volume, NULL }, &run);
        assert_exit(run, 0);
        text = read_all(seen);
        assert_string_equal(text, "payload of vol\n");
        assert_ok0(writer_events(f->w1, &events));
        assert_int_equal(strv_length(events), 0);
        strv_free(events);
        assert_ok0(writer_events(f->w2, &events));
        assert_int_equal(strv_length(events), 0);
        strv_free(events);
        run_done(&run);
}

/* -wx=w2 keeps w2 out of the backup entirely; -wx=w1:... would drop components; -bt reaches
 * the writers. */
static void test_exclude_writer(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *line = NULL;
        char comps[512], type[32];
        Run run = {};

        vshadow_run(f, (const char *[]) { "-wx=w2", "-bt=copy", "-exec=true", f->volume, NULL }, &run);
        assert_exit(run, 0);
        assert_null(strstr(run.err, "matches no writer"));
        backup_complete_components(f->w1, comps, sizeof comps);
        assert_string_equal(comps, "data:1");
        line = writer_event_line(f->w1, "PrepareForBackup", 0);
        assert_non_null(line);
        assert_ok0(line_field(line, "backup_type", type, sizeof type));
        assert_string_equal(type, "5");
        assert_int_equal(writer_log_count(f->w2, "event=PrepareForBackup"), 0);
        assert_int_equal(writer_log_count(f->w2, "event=Identify"), 0);
        run_done(&run);
}

/* -wx on a component (by WRITER:PATH and by class id) leaves the others selected. */
static void test_exclude_component(void **state) {
        Fixture *f = *state;
        char comps[512];
        Run run = {};

        vshadow_run(f, (const char *[]) { "-wx=w2:x/b", "-wx=" W1_CLASS, "-exec=true", f->volume, NULL }, &run);
        assert_exit(run, 0);
        backup_complete_components(f->w2, comps, sizeof comps);
        assert_string_equal(comps, "a:1");
        assert_int_equal(writer_log_count(f->w1, "event=PrepareForBackup"), 0);
        run_done(&run);
}

/* -wi: only what it names takes part; a -wi naming nothing fails before any snapshot. */
static void test_include(void **state) {
        Fixture *f = *state;
        char comps[512];
        Run run = {};

        vshadow_run(f, (const char *[]) { "-wi=nosuch", "-exec=touch /nonexistent-dir/x", f->volume, NULL }, &run);
        assert_exit(run, 2);
        assert_non_null(strstr(run.err, "VSS_E_OBJECT_NOT_FOUND"));
        assert_non_null(strstr(run.err, "-wi=nosuch"));
        assert_int_equal(writer_log_count(f->w1, "event=PrepareForBackup"), 0);
        assert_int_equal(writer_log_count(f->w1, "event=PrepareForSnapshot"), 0);
        run_done(&run);

        vshadow_run(f, (const char *[]) { "-wi=w2", "-exec=true", f->volume, NULL }, &run);
        assert_exit(run, 0);
        backup_complete_components(f->w2, comps, sizeof comps);
        assert_string_equal(comps, "a:1,x/b:1");
        assert_int_equal(writer_log_count(f->w1, "event=PrepareForBackup"), 0);
        run_done(&run);
}

/* A writer that vetoes Freeze, or reports a failure in PostSnapshot: exit 2 naming its code,
 * the command never runs, the writers hear Abort. */
static void writer_trouble(Fixture *f, const char *script) {
        _cleanup_free_ char *marker = path_in(f, "marker"), *exec = NULL;
        TestWriter *bad = NULL;
        Run run = {};

        assert_ok0(harness_add_writer(f->h, "bad", (const char *[]) { "--component", ":c", script, NULL }, &bad));
        assert_true(asprintf(&exec, "-exec=touch '%s'", marker) > 0);
        vshadow_run(f, (const char *[]) { exec, f->volume, NULL }, &run);
        assert_exit(run, 2);
        assert_non_null(strstr(run.err, "VSS_E_WRITERERROR_RETRYABLE"));
        assert_non_null(strstr(run.err, "\"bad\""));
        assert_int_equal(access(marker, F_OK), -1);
        assert_ok0(writer_log_wait(f->w1, "event=Abort", 1));
        assert_ok0(writer_log_wait(bad, "event=BackupShutdown", 1));
        assert_int_equal(writer_log_count(f->w1, "event=BackupComplete"), 0);
        run_done(&run);
}

static void test_writer_veto(void **state) {
        writer_trouble(*state, "--veto=freeze");
}

static void test_writer_failure(void **state) {
        writer_trouble(*state, "--fail=post-snapshot");
}

static char *script_value(Fixture *f, const char *script, const char *name) {
        _cleanup_free_ char *text = read_all(script), *key = NULL;
        const char *p;
        size_t n;

        assert_non_null(text);
        assert_true(asprintf(&key, "export %s='", name) > 0);
        p = strstr(text, key);
        assert_non_null(p);
        p += strlen(key);
        n = strcspn(p, "'");
        return strndup(p, n);
}

/* -p keeps the set after vshadow exits; -q, -qx and -s list it; -ds and -dx delete. */
static void test_persistent(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *script = path_in(f, "p.sh"), *script_arg = NULL, *set = NULL, *snap = NULL,
                            *dir = NULL, *qx = NULL, *s = NULL, *ds = NULL, *dx = NULL;
        char buf[256];
        struct stat st;
        Run run = {};

        assert_true(asprintf(&script_arg, "-script=%s", script) > 0);
        vshadow_run(f, (const char *[]) { "-p", script_arg, f->volume, NULL }, &run);
        assert_exit(run, 0);
        run_done(&run);
        set = script_value(f, script, "VSHADOW_SET_ID");
        snap = script_value(f, script, "VSHADOW_SNAPSHOT_ID_0");
        dir = script_value(f, script, "VSHADOW_SNAPSHOT_0");
        assert_int_equal(stat(dir, &st), 0);

        vshadow_run(f, (const char *[]) { "-q", NULL }, &run);
        assert_exit(run, 0);
        assert_non_null(strstr(run.out, snap));
        assert_non_null(strstr(run.out, set));
        assert_non_null(strstr(run.out, "Persistent"));
        run_done(&run);

        /* The same listing as JSON, with vssadmin's field names (docs/exit-codes.md). */
        vshadow_run(f, (const char *[]) { "-q", "-json", NULL }, &run);
        assert_exit(run, 0);
        assert_true(json_valid(run.out));
        assert_int_equal(json_array_length(run.out), 1);
        assert_true(json_get(run.out, 0, "shadow_id", buf, sizeof(buf)));
        assert_string_equal(buf, snap);
        assert_true(json_get(run.out, 0, "set_id", buf, sizeof(buf)));
        assert_string_equal(buf, set);
        assert_non_null(strstr(run.out, "\"Persistent\""));
        run_done(&run);

        assert_true(asprintf(&qx, "-qx=%s", set) > 0);
        vshadow_run(f, (const char *[]) { qx, NULL }, &run);
        assert_exit(run, 0);
        assert_non_null(strstr(run.out, snap));
        run_done(&run);

        assert_true(asprintf(&s, "-s=%s", snap) > 0);
        vshadow_run(f, (const char *[]) { s, NULL }, &run);
        assert_exit(run, 0);
        assert_non_null(strstr(run.out, dir));
        run_done(&run);

        assert_true(asprintf(&ds, "-ds=%s", snap) > 0);
        vshadow_run(f, (const char *[]) { ds, NULL }, &run);
        assert_exit(run, 0);
        run_done(&run);
        vshadow_run(f, (const char *[]) { qx, NULL }, &run);
        assert_exit(run, 2);
        assert_non_null(strstr(run.err, "VSS_E_OBJECT_NOT_FOUND"));
        run_done(&run);
        assert_int_equal(stat(dir, &st), -1);

        /* A second set, deleted by set id. */
        vshadow_run(f, (const char *[]) { "-p", "-nw", script_arg, f->volume, NULL }, &run);
        assert_exit(run, 0);
        run_done(&run);
        free(set);
        set = script_value(f, script, "VSHADOW_SET_ID");
        assert_true(asprintf(&dx, "-dx=%s", set) > 0);
        vshadow_run(f, (const char *[]) { dx, NULL }, &run);
        assert_exit(run, 0);
        assert_non_null(strstr(run.out, "Deleted 1 shadow copy"));
        run_done(&run);
        vshadow_run(f, (const char *[]) { "-q", NULL }, &run);
        assert_exit(run, 0);
        assert_null(strstr(run.out, set));
        run_done(&run);
}

static int run_sh(const char *fmt, ...) _printf_(1, 2);
static int run_sh(const char *fmt, ...) {
        _cleanup_free_ char *cmd = NULL;
        va_list ap;
        int k, status;

        va_start(ap, fmt);
        k = vasprintf(&cmd, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        status = system(cmd);
        if (status < 0 || !WIFEXITED(status))
                return -ECHILD;
        return WEXITSTATUS(status);
}

/* tar the snapshot through -exec (while the live tree changes), untar elsewhere: identical to
 * the tree at snapshot time. */
static void test_tar_round_trip(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *ref = path_in(f, "ref"), *tarball = path_in(f, "data.tar"), *out = path_in(f, "untar"),
                            *exec = NULL;
        Run run = {};

        assert_int_equal(run_sh("cp -a '%s' '%s'", f->volume, ref), 0);
        assert_true(asprintf(&exec,
                             "-exec=echo live > \"$VSHADOW_VOLUME_0/new-file\" && "
                             "tar -C \"$VSHADOW_SNAPSHOT_0\" -cf '%s' .", tarball) > 0);
        vshadow_run(f, (const char *[]) { exec, f->volume, NULL }, &run);
        assert_exit(run, 0);
        run_done(&run);

        assert_int_equal(mkdir(out, 0755), 0);
        assert_int_equal(run_sh("tar -C '%s' -xf '%s'", out, tarball), 0);
        assert_int_equal(run_sh("diff -r '%s' '%s'", ref, out), 0);
}

/* restic backup of the snapshot through -exec, restored and compared. */
static void test_restic(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *ref = path_in(f, "rref"), *repo = path_in(f, "repo"), *out = path_in(f, "restored"),
                            *where = path_in(f, "where.txt"), *exec = NULL, *snap = NULL, *restored = NULL;
        Run run = {};

        if (run_sh("command -v restic >/dev/null 2>&1") != 0) {
                print_message("restic is not installed; skipping\n");
                /* CI runs as root with every package installed: a skip there hides a gap. */
                if (getenv("CI") && strcmp(getenv("CI"), "true") == 0)
                        fail_msg("this case must run under CI=true");
                skip();
        }
        assert_int_equal(setenv("RESTIC_PASSWORD", "vshadow-test", 1), 0);
        assert_int_equal(run_sh("restic -q --no-cache -r '%s' init >/dev/null", repo), 0);
        assert_int_equal(run_sh("cp -a '%s' '%s'", f->volume, ref), 0);

        assert_true(asprintf(&exec,
                             "-exec=echo changed > \"$VSHADOW_VOLUME_0/payload.txt\" && "
                             "printf %%s \"$VSHADOW_SNAPSHOT_0\" > '%s' && "
                             "restic -q --no-cache -r '%s' backup \"$VSHADOW_SNAPSHOT_0\"", where, repo) > 0);
        vshadow_run(f, (const char *[]) { exec, f->volume, NULL }, &run);
        assert_exit(run, 0);
        run_done(&run);

        /* restic 0.14 keeps the absolute path it was given: the snapshot's. */
        snap = read_all(where);
        assert_true(snap && snap[0] == '/');
        assert_int_equal(run_sh("restic -q --no-cache -r '%s' restore latest --target '%s'", repo, out), 0);
        assert_true(asprintf(&restored, "%s%s", out, snap) > 0);
        assert_int_equal(run_sh("diff -r '%s' '%s'", ref, restored), 0);
}

/* The README's stable-path form: the snapshot bind-mounted over the volume in a private mount
 * namespace, so restic records the volume's own path (root only). */
static void test_restic_stable_path(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *ref = path_in(f, "sref"), *repo = path_in(f, "srepo"), *out = path_in(f, "srestored"),
                            *exec = NULL, *restored = NULL, *real = NULL;
        Run run = {};

        if (run_sh("command -v restic >/dev/null 2>&1 && command -v unshare >/dev/null 2>&1") != 0 || geteuid() != 0) {
                print_message("needs restic, unshare and root; skipping\n");
                /* CI runs as root with every package installed: a skip there hides a gap. */
                if (getenv("CI") && strcmp(getenv("CI"), "true") == 0)
                        fail_msg("this case must run under CI=true");
                skip();
        }
        assert_int_equal(setenv("RESTIC_PASSWORD", "vshadow-test", 1), 0);
        assert_int_equal(run_sh("restic -q --no-cache -r '%s' init >/dev/null", repo), 0);
        assert_int_equal(run_sh("cp -a '%s' '%s'", f->volume, ref), 0);

        assert_true(asprintf(&exec,
                             "-exec=echo changed > \"$VSHADOW_VOLUME_0/payload.txt\" && "
                             "unshare --mount sh -c "
                             "'mount --bind -o ro \"$VSHADOW_SNAPSHOT_0\" \"$VSHADOW_VOLUME_0\" && "
                             "restic -q --no-cache -r %s backup \"$VSHADOW_VOLUME_0\"'", repo) > 0);
        vshadow_run(f, (const char *[]) { exec, f->volume, NULL }, &run);
        assert_exit(run, 0);
        run_done(&run);

        real = realpath(f->volume, NULL);
        assert_non_null(real);
        assert_int_equal(run_sh("restic -q --no-cache -r '%s' restore latest --target '%s'", repo, out), 0);
        assert_true(asprintf(&restored, "%s%s", out, real) > 0);
        assert_int_equal(run_sh("diff -r '%s' '%s'", ref, restored), 0);
}

/* The "status=" of the writer's "restore in=<event>" line number index (0-based), or "-". */
static void restore_status(TestWriter *w, const char *event, unsigned index, char *buf, size_t size) {
        _cleanup_free_ char *needle = NULL;
        char **lines = NULL;
        ssize_t at = -1;

        assert_true(asprintf(&needle, "restore in=%s ", event) > 0);
        (void) writer_log_wait(w, needle, index + 1);
        assert_ok0(log_read_lines(w->log_path, &lines));
        for (unsigned i = 0; i <= index; i++) {
                at = log_find(lines, (size_t) (at + 1), needle);
                if (at < 0)
                        break;
        }
        if (at < 0 || line_field(lines[at], "status", buf, size) < 0)
                snprintf(buf, size, "-");
        strv_free(lines);
}

/* Index of the first line of w's log containing needle, at or after from; fails if none. */
static size_t log_index(TestWriter *w, const char *needle, size_t from) {
        char **lines = NULL;
        ssize_t at;

        assert_ok0(log_read_lines(w->log_path, &lines));
        at = log_find(lines, from, needle);
        strv_free(lines);
        if (at < 0) {
                print_error("writer %s never logged \"%s\" (from line %zu)\n", w->name, needle, from);
                fail();
        }
        return (size_t) at;
}

/* -r from a -bc document: PreRestore, the command (it appends to w1's own log, so the order is
 * the log's), SetFileRestoreStatus ALL, PostRestore; the command's environment. A failing
 * command: RS_FAILED and its exit status; -wx keeps a writer out. -rs: NONE, no command. */
static void test_restore(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *bcd = path_in(f, "restore.xml"), *envf = path_in(f, "renv.txt"), *bc_arg = NULL,
                            *r_arg = NULL, *rs_arg = NULL, *exec = NULL, *fail_exec = NULL, *dump = NULL,
                            *real_bcd = NULL;
        char status[32];
        size_t pre, cmd, post;
        bool seen_data = false, seen_xb = false;
        Run run = {};

        assert_true(asprintf(&bc_arg, "-bc=%s", bcd) > 0);
        vshadow_run(f, (const char *[]) { bc_arg, "-exec=true", f->volume, NULL }, &run);
        assert_exit(run, 0);
        run_done(&run);
        assert_ok0(writer_log_wait(f->w1, "event=BackupShutdown", 1));

        assert_true(asprintf(&r_arg, "-r=%s", bcd) > 0);
        assert_true(asprintf(&exec, "-exec=echo restore-command-ran >> '%s' && env > '%s'", f->w1->log_path,
                             envf) > 0);
        vshadow_run(f, (const char *[]) { r_arg, exec, NULL }, &run);
        assert_exit(run, 0);
        run_done(&run);
        pre = log_index(f->w1, "event=PreRestore", 0);
        cmd = log_index(f->w1, "restore-command-ran", 0);
        post = log_index(f->w1, "event=PostRestore", 0);
        assert_true(pre < cmd);
        assert_true(cmd < post);
        restore_status(f->w1, "PreRestore", 0, status, sizeof status);
        assert_string_equal(status, "0");
        restore_status(f->w1, "PostRestore", 0, status, sizeof status);
        assert_string_equal(status, "2"); /* VSS_RS_ALL */
        restore_status(f->w2, "PostRestore", 0, status, sizeof status);
        assert_string_equal(status, "2");

        dump = read_all(envf);
        assert_env(dump, "VSHADOW_RESTORE", "1");
        assert_env(dump, "VSHADOW_BCD", bcd);
        assert_env(dump, "VSHADOW_COMPONENT_COUNT", "3");
        /* The document's order of writers is vssd's; find w1's component among the three. */
        for (unsigned i = 0; i < 3; i++) {
                _cleanup_free_ char *name = NULL, *value = NULL;

                assert_true(asprintf(&name, "VSHADOW_COMPONENT_%u", i) > 0);
                value = env_value(dump, name);
                assert_non_null(value);
                if (streq(value, "x\\b")) {
                        free(name);
                        assert_true(asprintf(&name, "VSHADOW_COMPONENT_LOGICAL_PATH_%u", i) > 0);
                        assert_env(dump, name, "x");
                        seen_xb = true;
                }
                if (!streq(value, "data"))
                        continue;
                free(name);
                assert_true(asprintf(&name, "VSHADOW_COMPONENT_NAME_%u", i) > 0);
                assert_env(dump, name, "data");
                free(name);
                assert_true(asprintf(&name, "VSHADOW_COMPONENT_WRITER_%u", i) > 0);
                assert_env(dump, name, "w1");
                free(name);
                assert_true(asprintf(&name, "VSHADOW_COMPONENT_WRITER_ID_%u", i) > 0);
                assert_env(dump, name, W1_CLASS);
                seen_data = true;
        }
        assert_true(seen_data && seen_xb);

        /* A failing command: VSS_RS_FAILED, vshadow exits with its status; -wx=w2 keeps w2 out. */
        assert_true(asprintf(&fail_exec, "-exec=echo failing-command >> '%s'; exit 5", f->w1->log_path) > 0);
        vshadow_run(f, (const char *[]) { r_arg, "-wx=w2", fail_exec, NULL }, &run);
        assert_exit(run, 5);
        assert_non_null(strstr(run.err, "exit status 5"));
        run_done(&run);
        restore_status(f->w1, "PostRestore", 1, status, sizeof status);
        assert_string_equal(status, "3"); /* VSS_RS_FAILED */
        cmd = log_index(f->w1, "failing-command", 0);
        assert_true(cmd < log_index(f->w1, "event=PostRestore", post + 1));
        assert_int_equal(writer_log_count(f->w2, "event=PreRestore"), 1);

        /* -rs: PreRestore and PostRestore with VSS_RS_NONE, no command allowed. */
        assert_true(asprintf(&rs_arg, "-rs=%s", bcd) > 0);
        vshadow_run(f, (const char *[]) { rs_arg, NULL }, &run);
        assert_exit(run, 0);
        run_done(&run);
        restore_status(f->w1, "PostRestore", 2, status, sizeof status);
        assert_string_equal(status, "1"); /* VSS_RS_NONE */
        restore_status(f->w2, "PostRestore", 1, status, sizeof status);
        assert_string_equal(status, "1");
        vshadow_run(f, (const char *[]) { rs_arg, "-exec=true", NULL }, &run);
        assert_exit(run, 1);
        run_done(&run);
        vshadow_run(f, (const char *[]) { r_arg, "-p", NULL }, &run);
        assert_exit(run, 1);
        run_done(&run);

        /* -wi naming nothing of the document: refused before PreRestore. */
        vshadow_run(f, (const char *[]) { r_arg, "-wi=nosuch", "-exec=true", NULL }, &run);
        assert_exit(run, 2);
        assert_non_null(strstr(run.err, "VSS_E_OBJECT_NOT_FOUND"));
        run_done(&run);
        assert_int_equal(writer_log_count(f->w1, "event=PreRestore"), 3);

        /* Not a document. */
        real_bcd = path_in(f, "bad.xml");
        assert_ok0(write_text(real_bcd, "<nonsense/>"));
        free(r_arg);
        assert_true(asprintf(&r_arg, "-r=%s", real_bcd) > 0);
        vshadow_run(f, (const char *[]) { r_arg, "-exec=true", NULL }, &run);
        assert_exit(run, 2);
        assert_non_null(strstr(run.err, "VSS_E_INVALID_XML_DOCUMENT"));
        run_done(&run);
}

/* A writer vetoing PreRestore: the command never runs, the others hear PostRestore with
 * VSS_RS_NONE, vshadow exits 2 naming the writer. With everything excluded, no writer hears
 * anything and the command still runs. */
static void test_restore_veto(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *bcd = path_in(f, "veto.xml"), *marker = path_in(f, "restored-marker"), *bc_arg = NULL,
                            *r_arg = NULL, *exec = NULL;
        TestWriter *bad = NULL;
        char status[32];
        Run run = {};

        assert_ok0(harness_add_writer(f->h, "bad", (const char *[]) { "--component", ":c", "--veto=pre-restore",
                                                                      NULL }, &bad));
        assert_true(asprintf(&bc_arg, "-bc=%s", bcd) > 0);
        vshadow_run(f, (const char *[]) { bc_arg, "-exec=true", f->volume, NULL }, &run);
        assert_exit(run, 0);
        run_done(&run);

        assert_true(asprintf(&r_arg, "-r=%s", bcd) > 0);
        assert_true(asprintf(&exec, "-exec=touch '%s'", marker) > 0);
        vshadow_run(f, (const char *[]) { r_arg, exec, NULL }, &run);
        assert_exit(run, 2);
        assert_non_null(strstr(run.err, "\"bad\""));
        run_done(&run);
        assert_int_equal(access(marker, F_OK), -1);
        restore_status(f->w1, "PostRestore", 0, status, sizeof status);
        assert_string_equal(status, "1"); /* VSS_RS_NONE */
        assert_int_equal(writer_log_count(bad, "event=PostRestore"), 0);

        vshadow_run(f, (const char *[]) { r_arg, "-wx=w1", "-wx=w2", "-wx=bad", exec, NULL }, &run);
        assert_exit(run, 0);
        run_done(&run);
        assert_int_equal(access(marker, F_OK), 0);
        assert_int_equal(writer_log_count(f->w1, "event=PreRestore"), 1);
}

/* Bad usage: exit 1 with a message, nothing created, no writer event. */
static void test_usage(void **state) {
        Fixture *f = *state;
        const char *const *cases[] = {
                (const char *[]) { NULL },
                (const char *[]) { "-nosuch", "/tmp", NULL },
                (const char *[]) { "-nw", "-wi=w1", "/tmp", NULL },
                (const char *[]) { "-bt=weekly", "/tmp", NULL },
                (const char *[]) { "-q", "/tmp", NULL },
                (const char *[]) { "-q", "-da", NULL },
                (const char *[]) { "-exec", "/tmp", NULL },
                (const char *[]) { "-p=yes", "/tmp", NULL },
                (const char *[]) { "-ds=not-an-id", NULL },
                (const char *[]) { "-q", "-p", NULL },
                (const char *[]) { "-el=0b6f7b4e-0000-4000-8000-000000000000", NULL },
        };
        Run run = {};

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                vshadow_run(f, cases[i], &run);
                assert_exit(run, 1);
                assert_non_null(strstr(run.err, "vshadow: "));
                assert_non_null(strstr(run.err, "Try 'vshadow --help'"));
                run_done(&run);
        }
        assert_int_equal(writer_log_count(f->w1, "event="), 0);

        /* Not available on Linux (-er): a VSS error naming why. */
        vshadow_run(f, (const char *[]) { "-er=x,share", NULL }, &run);
        assert_exit(run, 2);
        assert_non_null(strstr(run.err, "VSS_E_NOT_SUPPORTED"));
        run_done(&run);
        /* -r of a document that does not exist: a VSS error naming the file. */
        vshadow_run(f, (const char *[]) { "-r=/nonexistent/backup.xml", NULL }, &run);
        assert_exit(run, 2);
        assert_non_null(strstr(run.err, "/nonexistent/backup.xml"));
        run_done(&run);

        vshadow_run(f, (const char *[]) { "-h", NULL }, &run);
        assert_exit(run, 0);
        assert_non_null(strstr(run.out, "VSHADOW_SNAPSHOT_i"));
        run_done(&run);
}

/* -ws and -wm as JSON: one array, one object per writer, the fields vssadmin uses. */
static void test_listings_json(void **state) {
        Fixture *f = *state;
        char buf[256];
        Run run = {};

        vshadow_run(f, (const char *[]) { "-ws", "-json", NULL }, &run);
        assert_exit(run, 0);
        assert_true(json_valid(run.out));
        assert_int_equal(json_array_length(run.out), 2);
        assert_true(json_get(run.out, 0, "state_name", buf, sizeof(buf)));
        assert_true(json_get(run.out, 1, "last_error_name", buf, sizeof(buf)));
        assert_string_equal(buf, "S_OK");
        run_done(&run);

        vshadow_run(f, (const char *[]) { "-wm", "-json", NULL }, &run);
        assert_exit(run, 0);
        assert_true(json_valid(run.out));
        assert_non_null(strstr(run.out, "\"components\":[{"));
        assert_non_null(strstr(run.out, "\"files\":[{"));
        assert_true(json_get(run.out, 0, "writer_id", buf, sizeof(buf)));
        run_done(&run);

        /* -json belongs to listings only. */
        vshadow_run(f, (const char *[]) { "-json", "-nw", f->volume, NULL }, &run);
        assert_exit(run, 1);
        run_done(&run);
}

/* vssd gone: exit 3. */
static void test_unreachable(void **state) {
        Fixture *f = *state;
        Run run = {};

        vshadow_run(f, (const char *[]) { "-socket=/nonexistent/vssd.sock", "-q", NULL }, &run);
        assert_exit(run, 3);
        assert_non_null(strstr(run.err, "VSS_E_WRITER_INFRASTRUCTURE"));
        run_done(&run);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_exec_environment, setup, teardown),
                cmocka_unit_test_setup_teardown(test_exec_failure, setup, teardown),
                cmocka_unit_test_setup_teardown(test_no_writers, setup, teardown),
                cmocka_unit_test_setup_teardown(test_exclude_writer, setup, teardown),
                cmocka_unit_test_setup_teardown(test_exclude_component, setup, teardown),
                cmocka_unit_test_setup_teardown(test_include, setup, teardown),
                cmocka_unit_test_setup_teardown(test_writer_veto, setup, teardown),
                cmocka_unit_test_setup_teardown(test_writer_failure, setup, teardown),
                cmocka_unit_test_setup_teardown(test_persistent, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tar_round_trip, setup, teardown),
                cmocka_unit_test_setup_teardown(test_restic, setup, teardown),
                cmocka_unit_test_setup_teardown(test_restic_stable_path, setup, teardown),
                cmocka_unit_test_setup_teardown(test_restore, setup, teardown),
                cmocka_unit_test_setup_teardown(test_restore_veto, setup, teardown),
                cmocka_unit_test_setup_teardown(test_usage, setup, teardown),
                cmocka_unit_test_setup_teardown(test_listings_json, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unreachable, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
