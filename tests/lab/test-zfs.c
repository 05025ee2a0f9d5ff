/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-zfs: the ZFS provider end to end, inside the VM lab (tests/lab/lab-run --zfs, which
 * loads the ZFS modules built for the lab kernel). Two pools on the lab's two disks, datasets
 * vsstank/a, vsstank/b and vsstank2/c, a real vssd (the integration harness's) and real writer
 * processes: consistency-writer appending numbered records to a file in each dataset, and
 * vss-test-writer where a writer must veto or hang.
 *
 * What it proves:
 *   - the good path with writers, 20 times over: each snapshot is <mnt>/.zfs/snapshot/vss-<id>,
 *     read-only, held ("zfs destroy" by someone else fails while vssd serves it), and holds
 *     exactly the records the writer had made durable at Freeze, while the live file grew
 *     past them; it is destroyed when the requester releases it;
 *   - a set of three datasets in two pools: every snapshot ends at its own writer's Freeze
 *     record; the cross-pool skew vssd measures is printed;
 *   - a Freeze veto leaves no vss snapshot behind; a requester SIGKILLed while a writer is
 *     inside Freeze leaves none either, and every writer is aborted, none left frozen;
 *   - after a vssd crash and restart, a vss-named snapshot no catalog row knows (an orphan) is
 *     destroyed, a persistent snapshot is kept and served, a user's own snapshot untouched.
 *
 * Exits 77 outside the lab ($VSS_LAB unset, or no /dev/zfs). Environment: VSSD,
 * VSS_TEST_WRITER, CONSISTENCY_WRITER, VSS_LAB_DISKS (two disks).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "macro.h"

#define CONSISTENCY_WRITER_CLASS "8e5d2f6a-3c41-4b7e-9f20-6a1d4c8b0e35"
#define RECORD_SIZE 15
#define POOL1 "vsstank"
#define POOL2 "vsstank2"
#define MNT_ROOT "/tmp/vss-zfs-lab"
#define N_BACKUPS 20

typedef struct ConsistencyWriter {
        const char *dataset;
        char mnt[256];
        char data_file[300];
        char record_file[300];
        pid_t pid;
} ConsistencyWriter;

typedef struct Fixture {
        Harness *h;
        ConsistencyWriter w[3];   /* on vsstank/a, vsstank/b, vsstank2/c */
} Fixture;

static Fixture fx;

/* DoSnapshotSet to its end: S_OK, or the failure. */
static vss_hr do_snapshot_set(vss_requester *r) {
        vss_async *a = NULL;
        vss_hr hr = vss_requester_do_snapshot_set(r, &a);

        hr = async_finish(hr, &a);
        return hr == VSS_S_ASYNC_FINISHED ? S_OK : hr;
}

/* Runs a shell command line; its exit status (-1 when it could not run). */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...) {
        char cmd[2048];
        va_list ap;
        int r;

        va_start(ap, fmt);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        r = system(cmd);
        return r < 0 || !WIFEXITED(r) ? -1 : WEXITSTATUS(r);
}

/* How many snapshots whose name contains needle exist in both pools. */
static unsigned count_snapshots(const char *needle) {
        char cmd[512], line[512];
        unsigned n = 0;
        FILE *p;

        snprintf(cmd, sizeof(cmd), "zfs list -H -o name -t snapshot " POOL1 " " POOL2 " -r 2>/dev/null");
        p = popen(cmd, "re");
        assert_non_null(p);
        while (fgets(line, sizeof(line), p))
                if (strstr(line, needle))
                        n++;
        (void) pclose(p);
        return n;
}

static int writer_start(ConsistencyWriter *w, int idx) {
        const char *exe = getenv("CONSISTENCY_WRITER");
        char name[32], line[64];
        int pipefd[2];
        ssize_t k;
        pid_t pid;

        if (!exe)
                return -EINVAL;
        snprintf(name, sizeof(name), "consistency-%d", idx);
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (dup2(pipefd[1], STDOUT_FILENO) < 0)
                        _exit(127);
                execl(exe, exe, "--socket", fx.h->socket_path, "--data", w->data_file, "--freeze-record",
                      w->record_file, "--name", name, (char *) NULL);
                _exit(127);
        }
        close(pipefd[1]);
        w->pid = pid;
        k = read(pipefd[0], line, sizeof(line) - 1); /* "READY\n" once subscribed */
        close(pipefd[0]);
        if (k <= 0)
                return -EPROTO;
        line[k] = 0;
        return strncmp(line, "READY", 5) == 0 ? 0 : -EPROTO;
}

static void writer_stop(ConsistencyWriter *w) {
        if (w->pid <= 0)
                return;
        (void) kill(w->pid, SIGTERM);
        (void) waitpid(w->pid, NULL, 0);
        w->pid = 0;
}

static int setup(void **state) {
        static const char *const datasets[] = { POOL1 "/a", POOL1 "/b", POOL2 "/c" };
        const char *disks = getenv("VSS_LAB_DISKS");
        char d1[64], d2[64];

        if (!getenv("VSS_LAB") || access("/dev/zfs", F_OK) < 0) {
                fprintf(stderr, "test-zfs runs inside the VM lab with ZFS loaded (lab-run --zfs); skipping\n");
                exit(77);
        }
        if (!disks || sscanf(disks, "%63s %63s", d1, d2) != 2) {
                fprintf(stderr, "test-zfs needs two lab disks (VSS_LAB_DISKS='%s')\n", strempty(disks));
                return -1;
        }
        /* One partition per disk: on a whole disk zpool writes its own label and then waits
         * for udev, which the lab does not run, to show the partition. */
        if (sh("echo ',,' | sfdisk -q %s && echo ',,' | sfdisk -q %s && "
               "zpool create -f -m " MNT_ROOT "/" POOL1 " " POOL1 " %s1 && "
               "zpool create -f -m " MNT_ROOT "/" POOL2 " " POOL2 " %s1 && "
               "zfs create " POOL1 "/a && zfs create " POOL1 "/b && zfs create " POOL2 "/c",
               d1, d2, d1, d2) != 0)
                return -1;

        if (harness_new(NULL, &fx.h) < 0)
                return -1;
        for (int i = 0; i < 3; i++) {
                ConsistencyWriter *w = &fx.w[i];

                w->dataset = datasets[i];
                snprintf(w->mnt, sizeof(w->mnt), MNT_ROOT "/%s", datasets[i]);
                if (i == 2)
                        snprintf(w->mnt, sizeof(w->mnt), MNT_ROOT "/" POOL2 "/c");
                snprintf(w->data_file, sizeof(w->data_file), "%s/records.log", w->mnt);
                snprintf(w->record_file, sizeof(w->record_file), "%s/freeze-%d", fx.h->dir, i);
                if (writer_start(w, i) < 0) {
                        fprintf(stderr, "cannot start consistency-writer %d\n", i);
                        return -1;
                }
        }
        return 0;
}

static int teardown(void **state) {
        for (int i = 0; i < 3; i++)
                writer_stop(&fx.w[i]);
        harness_free(fx.h);
        (void) sh("zpool destroy -f " POOL1 "; zpool destroy -f " POOL2);
        return 0;
}

static char *read_file(const char *path, size_t *ret_size) {
        struct stat st;
        char *buf;
        int fd;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(fstat(fd, &st), 0);
        buf = malloc((size_t) st.st_size + 1);
        assert_non_null(buf);
        assert_int_equal(read(fd, buf, (size_t) st.st_size), st.st_size);
        buf[st.st_size] = 0;
        close(fd);
        *ret_size = (size_t) st.st_size;
        return buf;
}

static uint64_t freeze_record(const ConsistencyWriter *w) {
        size_t n;
        _cleanup_free_ char *text = read_file(w->record_file, &n);

        return strtoull(text, NULL, 10);
}

/* Every record complete and numbered 1, 2, ... in order; how many. */
static uint64_t check_records(const char *buf, size_t size) {
        char expected[32];
        uint64_t n;

        assert_int_equal(size % RECORD_SIZE, 0);
        n = size / RECORD_SIZE;
        for (uint64_t i = 0; i < n; i++) {
                snprintf(expected, sizeof(expected), "seq=%010" PRIu64 "\n", i + 1);
                if (memcmp(buf + i * RECORD_SIZE, expected, RECORD_SIZE) != 0) {
                        print_error("record %" PRIu64 " is \"%.*s\"\n", i + 1, RECORD_SIZE, buf + i * RECORD_SIZE);
                        fail();
                }
        }
        return n;
}

static off_t file_size(const char *path) {
        struct stat st;

        return stat(path, &st) == 0 ? st.st_size : -1;
}

/* The snapshot of writer w at device holds exactly its records up to the Freeze record. */
static void check_consistent(const ConsistencyWriter *w, const char *device) {
        _cleanup_free_ char *path = NULL, *data = NULL;
        uint64_t frozen, in_snapshot;
        size_t size;

        assert_true(asprintf(&path, "%s/records.log", device) > 0);
        data = read_file(path, &size);
        in_snapshot = check_records(data, size);
        frozen = freeze_record(w);
        if (in_snapshot != frozen) {
                print_error("%s: the snapshot holds %" PRIu64 " records, the writer froze at %" PRIu64 "\n",
                            w->dataset, in_snapshot, frozen);
                fail();
        }
        /* The writer went on after Thaw (not a timing assertion: bounded only against a hang). */
        for (int i = 0; i < 1000 && file_size(w->data_file) <= (off_t) size; i++)
                usleep(10000);
        assert_true(file_size(w->data_file) > (off_t) size);
}

/* One backup of the given volumes with every writer's components; snapshot ids in ret_ids. */
static void backup_volumes(vss_requester **ret_r, const char *const *volumes, size_t n, vss_id *ret_ids,
                           vss_hr expected) {
        vss_requester_options opts = VSS_REQUESTER_OPTIONS_INIT;
        BackupRun run = {};
        vss_requester *r = NULL;
        vss_hr hr;

        opts.socket_path = fx.h->socket_path;
        assert_int_equal(vss_requester_new(&r, &opts), S_OK);
        assert_int_equal(backup_run_steps(r, NULL, STEP_INITIALIZE, STEP_START_SET, &run), S_OK);
        for (size_t i = 0; i < n; i++)
                assert_int_equal(vss_requester_add_to_snapshot_set(r, volumes[i], NULL, &ret_ids[i]), S_OK);
        assert_int_equal(backup_run_steps(r, NULL, STEP_PREPARE, STEP_PREPARE, &run), S_OK);
        hr = do_snapshot_set(r);
        if (hr != expected) {
                print_error("DoSnapshotSet: %s, expected %s: %s\n", vss_hr_name(hr), vss_hr_name(expected),
                            vss_requester_get_error_message(r));
                fail();
        }
        *ret_r = r;
}

static char *device_of(vss_requester *r, const vss_id *id) {
        vss_snapshot_prop prop = {};
        char *device;

        assert_int_equal(vss_requester_get_snapshot_properties(r, id, &prop), S_OK);
        device = strdup(prop.snapshot_device_object);
        vss_snapshot_prop_free(&prop);
        assert_non_null(device);
        return device;
}

static void test_good_path_counter_consistency(void **state) {
        ConsistencyWriter *w = &fx.w[0];
        const char *volumes[] = { w->mnt };

        for (int round = 0; round < N_BACKUPS; round++) {
                _cleanup_free_ char *device = NULL, *expected = NULL, *name = NULL;
                char ids[VSS_ID_STRING_MAX];
                vss_requester *r;
                vss_id id;

                backup_volumes(&r, volumes, 1, &id, S_OK);
                device = device_of(r, &id);
                vss_id_format(&id, ids);
                assert_true(asprintf(&expected, "%s/.zfs/snapshot/vss-%s", w->mnt, ids) > 0);
                assert_string_equal(device, expected);
                check_consistent(w, device);

                /* Read-only, and held against a destroy by someone else while it is served. */
                assert_int_equal(sh("touch '%s/x' 2>/dev/null", device) == 0, false);
                assert_true(asprintf(&name, "%s@vss-%s", w->dataset, ids) > 0);
                assert_int_equal(sh("zfs holds -H '%s' | grep -qw vss", name), 0);
                assert_int_not_equal(sh("zfs destroy '%s' 2>/dev/null", name), 0);
                assert_int_equal(count_snapshots(ids), 1);

                vss_requester_release(r);
                /* The auto-release snapshot goes with the requester's connection. */
                for (int i = 0; i < 500 && count_snapshots(ids) > 0; i++)
                        usleep(10000);
                assert_int_equal(count_snapshots(ids), 0);
        }
        fprintf(stderr, "test-zfs: %d consistent backups of %s\n", N_BACKUPS, w->dataset);
}

static void test_set_across_datasets_and_pools(void **state) {
        const char *volumes[] = { fx.w[0].mnt, fx.w[1].mnt, fx.w[2].mnt };
        _cleanup_free_ char *log = NULL;
        vss_requester *r;
        vss_id ids[3];
        size_t n;
        char *skew;

        backup_volumes(&r, volumes, 3, ids, S_OK);
        for (int i = 0; i < 3; i++) {
                _cleanup_free_ char *device = device_of(r, &ids[i]);

                check_consistent(&fx.w[i], device);
        }
        vss_requester_release(r);

        log = read_file(fx.h->vssd_log, &n);
        skew = strstr(log, "pools snapshotted in parallel");
        assert_non_null(skew);
        fprintf(stderr, "test-zfs: vssd: 2 %.*s\n", (int) strcspn(skew, "\n"), skew);
}

static void test_freeze_veto_leaves_nothing(void **state) {
        const char *veto_args[] = { "--component", ":vetodb", "--veto", "freeze", NULL };
        const char *volumes[] = { fx.w[0].mnt, fx.w[2].mnt };
        TestWriter *veto;
        vss_requester *r;
        vss_id ids[2];

        assert_int_equal(harness_add_writer(fx.h, "veto", veto_args, &veto), 0);
        backup_volumes(&r, volumes, 2, ids, VSS_E_WRITERERROR_RETRYABLE);
        vss_requester_release(r);
        assert_int_equal(writer_kill(veto, SIGTERM), 0);

        assert_int_equal(count_snapshots("@vss-"), 0);
}

static int child_backup_in_freeze(int fd, void *userdata) {
        const char *volume = userdata;
        vss_requester *r = NULL;
        BackupRun run = {};
        vss_async *a = NULL;

        if (vss_requester_new(&r, NULL) != S_OK ||
            backup_run_steps(r, volume, STEP_INITIALIZE, STEP_PREPARE, &run) != S_OK ||
            vss_requester_do_snapshot_set(r, &a) != S_OK) {
                report(fd, "error");
                return 1;
        }
        report(fd, "ready");
        for (;;)
                pause();
}

static void test_requester_killed_in_freeze(void **state) {
        const char *hang_args[] = { "--component", ":hangdb", "--hang", "freeze:3000", "--freeze-timeout", "30000",
                                    NULL };
        TestWriter *hang;
        char line[256];
        pid_t pid;
        int fd;

        assert_int_equal(harness_add_writer(fx.h, "hang", hang_args, &hang), 0);
        assert_int_equal(child_start(child_backup_in_freeze, fx.w[0].mnt, &pid, &fd), 0);
        assert_int_equal(child_wait_report(fd, "ready", line, sizeof(line), HARNESS_WAIT_MS), 0);
        assert_int_equal(writer_log_wait(hang, "begin=Freeze", 1), 0);
        assert_int_equal(writer_log_count(hang, "event=Freeze"), 0); /* still inside it */

        assert_int_equal(kill(pid, SIGKILL), 0);
        assert_int_equal(child_reap(pid), 128 + SIGKILL);
        close(fd);

        assert_int_equal(writer_log_wait(hang, "event=Abort", 1), 0);
        assert_int_equal(writer_log_wait(hang, "event=BackupShutdown", 1), 0);
        assert_nothing_frozen(hang);
        assert_int_equal(writer_kill(hang, SIGTERM), 0);
        assert_int_equal(count_snapshots("@vss-"), 0);
}

/* A persistent, writer-less snapshot of volume: its id. */
static void persistent_snapshot(const char *volume, vss_id *ret) {
        vss_requester_options opts = VSS_REQUESTER_OPTIONS_INIT;
        vss_requester *r = NULL;
        vss_id set;

        opts.socket_path = fx.h->socket_path;
        assert_int_equal(vss_requester_new(&r, &opts), S_OK);
        assert_int_equal(vss_requester_initialize_for_backup(r, NULL), S_OK);
        assert_int_equal(vss_requester_set_context(r, VSS_CTX_NAS_ROLLBACK), S_OK);
        assert_int_equal(vss_requester_start_snapshot_set(r, &set), S_OK);
        assert_int_equal(vss_requester_add_to_snapshot_set(r, volume, NULL, ret), S_OK);
        assert_int_equal(do_snapshot_set(r), S_OK);
        vss_requester_release(r);
}

static void restart_vssd(void) {
        const char *vssd = getenv("VSSD");
        pid_t pid;

        assert_int_equal(kill(fx.h->vssd_pid, SIGKILL), 0);
        assert_int_equal(waitpid(fx.h->vssd_pid, NULL, 0), fx.h->vssd_pid);
        (void) unlink(fx.h->socket_path);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int logfd = open(fx.h->vssd_log, O_WRONLY | O_APPEND | O_CLOEXEC);

                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (logfd < 0 || dup2(logfd, STDERR_FILENO) < 0)
                        _exit(127);
                execl(vssd, vssd, "--socket", fx.h->socket_path, "--state-dir", fx.h->state_dir, "--test-provider",
                      "--event-timeout", "3000", (char *) NULL);
                _exit(127);
        }
        fx.h->vssd_pid = pid;
        for (int i = 0; i < 1000 && access(fx.h->socket_path, F_OK) < 0; i++)
                usleep(10000);
        assert_int_equal(access(fx.h->socket_path, F_OK), 0);
}

static void test_restart_recovery(void **state) {
        const ConsistencyWriter *w = &fx.w[1];
        char ids[VSS_ID_STRING_MAX], orphan_ids[VSS_ID_STRING_MAX];
        vss_id keep, orphan;

        persistent_snapshot(w->mnt, &keep);
        vss_id_format(&keep, ids);
        vss_id_generate(&orphan);
        vss_id_format(&orphan, orphan_ids);
        /* What a crash between the snapshot and the catalog's record leaves: a vss-named snapshot
         * vssd never recorded. And a user's own snapshot, which is none of vssd's business. */
        assert_int_equal(sh("zfs snapshot '%s@vss-%s' && zfs snapshot '%s@mine'", w->dataset, orphan_ids, w->dataset),
                         0);

        restart_vssd();

        assert_int_equal(count_snapshots(orphan_ids), 0);
        assert_int_equal(count_snapshots(ids), 1);
        assert_int_equal(count_snapshots("@mine"), 1);
        /* Still served and still held. */
        assert_int_equal(sh("zfs holds -H '%s@vss-%s' | grep -qw vss", w->dataset, ids), 0);
        {
                vss_requester_options opts = VSS_REQUESTER_OPTIONS_INIT;
                const vss_object_prop *op = NULL;
                vss_enum_object *e = NULL;
                vss_requester *r = NULL;
                int32_t deleted = 0;
                unsigned found = 0;
                vss_id failed;

                opts.socket_path = fx.h->socket_path;
                assert_int_equal(vss_requester_new(&r, &opts), S_OK);
                assert_int_equal(vss_requester_initialize_for_backup(r, NULL), S_OK);
                assert_int_equal(vss_requester_set_context(r, VSS_CTX_ALL), S_OK);
                assert_int_equal(vss_requester_query(r, NULL, VSS_OBJECT_NONE, VSS_OBJECT_SNAPSHOT, &e), S_OK);
                while (vss_enum_object_next(e, &op) == S_OK)
                        if (vss_id_equal(&op->obj.snap.snapshot_id, &keep)) {
                                assert_string_equal(op->obj.snap.original_volume_name, w->mnt);
                                found++;
                        }
                vss_enum_object_free(e);
                assert_int_equal(found, 1);
                assert_int_equal(vss_requester_delete_snapshots(r, &keep, VSS_OBJECT_SNAPSHOT, true, &deleted, &failed),
                                 S_OK);
                assert_int_equal(deleted, 1);
                vss_requester_release(r);
        }
        assert_int_equal(count_snapshots(ids), 0);
        assert_int_equal(sh("zfs destroy '%s@mine'", w->dataset), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_good_path_counter_consistency),
                cmocka_unit_test(test_set_across_datasets_and_pools),
                cmocka_unit_test(test_freeze_veto_leaves_nothing),
                cmocka_unit_test(test_requester_killed_in_freeze),
                cmocka_unit_test(test_restart_recovery),
        };

        /* TEST_ZFS_ONLY=test_name runs that case alone (while working on it). */
        if (getenv("TEST_ZFS_ONLY"))
                cmocka_set_test_filter(getenv("TEST_ZFS_ONLY"));
        return cmocka_run_group_tests(tests, setup, teardown);
}
