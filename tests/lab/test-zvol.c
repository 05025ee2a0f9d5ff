/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-zvol: filesystems on ZFS zvols as volumes of the ZFS provider, end to end inside the
 * VM lab (tests/lab/lab-run --zfs, which loads the ZFS modules built for the lab kernel).
 *
 * One pool on the first lab disk holds a zvol with ext4 (TOP/ext), a zvol with XFS (TOP/xfs)
 * and a dataset (TOP/pool/ds); a real vssd (which starts the real vss-guardian) and
 * consistency-writer processes appending numbered records to a file on each. What it proves:
 *   - vssadmin list volumes picks the ZFS provider for the filesystem on a zvol by itself;
 *   - the good path with writers on ext4-on-zvol, several times over, and on XFS-on-zvol: the
 *     snapshot is mounted read-only at <state dir>/zfs/<id> (its device path), holds exactly
 *     the records the writer had made durable at Freeze (the writer's counter), is held
 *     against "zfs destroy" by someone else while vssd serves it, and is unmounted and
 *     destroyed when the requester releases it; vssd's log says the zvol filesystem was held
 *     frozen around the snapshot;
 *   - a set of the dataset and both zvol filesystems of the same pool is one atomic
 *     lzc_snapshot inside one hold of the two filesystems: every snapshot has the same
 *     creation transaction group, and each is consistent;
 *   - a Freeze veto leaves nothing frozen and no snapshot or mount;
 *   - a requester SIGKILLed while a writer is inside Freeze leaves nothing frozen (the zvol
 *     filesystem takes writes, the writers go on) and no snapshot;
 *   - vssd SIGKILLed inside the hold (vssd runs with --test-hold-delay-ms for that case): a
 *     write to the zvol filesystem, blocked by the freeze, completes within 1 s; the next vssd
 *     removes the snapshot the dead one left;
 *   - a vssd restart removes a vss-named zvol snapshot no catalog row knows, keeps a persistent
 *     one (still mounted, readable and held; exposable), and leaves a user's snapshot alone;
 *     a persistent snapshot whose mount is gone (as after a reboot) is mounted again by expose.
 *
 * Runs only inside the lab (VSS_LAB=1, as root): exits 77 elsewhere. Environment (meson):
 * VSSD, VSS_GUARDIAN, CONSISTENCY_WRITER, VSS_TEST_WRITER, VSSADMIN.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "async-wait.h"
#include "macro.h"
#include "requester-assert.h"
#include "root-harness.h"
#include "vss/vss.h"

#define CONSISTENCY_WRITER_CLASS "8e5d2f6a-3c41-4b7e-9f20-6a1d4c8b0e35"
#define HANG_WRITER_CLASS "2f9c1d7e-5a3b-4c8d-9e6f-1a2b3c4d5e6f"
#define RECORD_SIZE 15
#define WAIT_MS 20000u
#define START_WAIT_MS 300000u
#define POOL "vsszv"
#define TOP "/run/vss-zvol-test"
#define EXT_BACKUPS 8
#define XFS_BACKUPS 2
#define HOLD_DELAY_MS "5000"
#define STALL_USEC (1000 * USEC_PER_MSEC) /* the probe blocked this long: the hold is on */
#define THAW_LIMIT_USEC (1 * USEC_PER_SEC)

typedef struct Volume {
        const char *name;      /* the zvol or dataset, under POOL */
        const char *mnt;       /* where its filesystem is mounted */
        char data[256];        /* <mnt>/records.log */
        char record[256];      /* TOP/<name>.freeze-seq: outside every volume */
        pid_t writer;
} Volume;

static Volume ext = { .name = "ext", .mnt = TOP "/ext" };
static Volume xfs = { .name = "xfs", .mnt = TOP "/xfs" };
static Volume ds = { .name = "ds", .mnt = TOP "/pool/ds" };

static pid_t vssd_pid;
static const char *socket_path = TOP "/vssd.sock";
static const char *state_dir = TOP "/state";
static const char *vssd_log = TOP "/vssd.log";

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...) {
        _cleanup_free_ char *cmd = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&cmd, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        r = system(cmd);
        if (r != 0)
                fprintf(stderr, "test-zvol: \"%s\" exited %d\n", cmd, WIFEXITED(r) ? WEXITSTATUS(r) : -1);
        return r == 0 ? 0 : -EIO;
}

/* The first line a shell command prints, without its newline ("" when none). */
static void sh_line(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void sh_line(char *buf, size_t size, const char *fmt, ...) {
        _cleanup_free_ char *cmd = NULL;
        va_list ap;
        FILE *p;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&cmd, fmt, ap);
        va_end(ap);
        assert_true(r >= 0);
        buf[0] = 0;
        p = popen(cmd, "r");
        assert_non_null(p);
        if (!fgets(buf, (int) size, p))
                buf[0] = 0;
        buf[strcspn(buf, "\n")] = 0;
        (void) pclose(p);
}

/* How many snapshots named vss-* the pool holds; wait_snapshot_count waits (the bound only keeps a
 * broken vssd from hanging the test) until it is expected: an auto-release snapshot goes
 * asynchronously after its requester's release. */
static int vss_snapshot_count(void) {
        FILE *p = popen("zfs list -H -o name -t snapshot -r " POOL " 2>/dev/null", "r");
        char line[512];
        int n = 0;

        if (!p)
                return -1;
        while (fgets(line, sizeof(line), p))
                if (strstr(line, "@vss-"))
                        n++;
        pclose(p);
        return n;
}

static int wait_snapshot_count(int expected) {
        uint64_t deadline = now_usec() + WAIT_MS * USEC_PER_MSEC;
        int n;

        while ((n = vss_snapshot_count()) != expected && now_usec() < deadline)
                (void) usleep(100000);
        return n;
}

/* vssd, its stderr appended to vssd_log; hold_delay_ms non-NULL: the test-only delay inside
 * the hold (which needs --test-provider). */
static int start_vssd(const char *hold_delay_ms) {
        char *argv[16];
        size_t n = 0;
        int r;

        argv[n++] = (char *) build_program("VSSD", "src/vssd/vssd");
        argv[n++] = (char *) "--socket";
        argv[n++] = (char *) socket_path;
        argv[n++] = (char *) "--state-dir";
        argv[n++] = (char *) state_dir;
        argv[n++] = (char *) "--event-timeout";
        argv[n++] = (char *) "60000";
        if (hold_delay_ms) {
                argv[n++] = (char *) "--test-provider";
                argv[n++] = (char *) "--test-hold-delay-ms";
                argv[n++] = (char *) hold_delay_ms;
        }
        argv[n] = NULL;
        (void) unlink(socket_path);
        r = spawn_logged(argv, vssd_log, &vssd_pid);
        if (r < 0)
                return r;
        r = unix_socket_wait(socket_path, vssd_pid, START_WAIT_MS);
        if (r == -ESRCH)
                vssd_pid = 0;
        return r;
}

static void stop_vssd(void) {
        if (vssd_pid > 0)
                (void) process_stop(vssd_pid, 10000);
        vssd_pid = 0;
}

static int start_writer(Volume *v) {
        char line[64];
        int out = -EBADF, r;

        snprintf(v->data, sizeof(v->data), "%s/records.log", v->mnt);
        snprintf(v->record, sizeof(v->record), TOP "/%s.freeze-seq", v->name);
        r = process_spawn((char *const[]) { (char *) build_program("CONSISTENCY_WRITER", "tests/root/consistency-writer"),
                                            (char *) "--socket", (char *) socket_path,
                                            (char *) "--data", v->data,
                                            (char *) "--freeze-record", v->record,
                                            (char *) "--name", (char *) v->name, NULL },
                          &v->writer, &out);
        if (r < 0)
                return r;
        r = read_line_timeout(out, line, sizeof(line), WAIT_MS);
        (void) close(out);
        if (r < 0)
                return r;
        return streq(line, "READY") ? 0 : -EPROTO;
}

static int group_teardown(void **state) {
        Volume *vols[] = { &ext, &xfs, &ds };

        for (size_t i = 0; i < ELEMENTSOF(vols); i++)
                if (vols[i]->writer > 0)
                        (void) process_stop(vols[i]->writer, 5000);
        stop_vssd();
        (void) sh("umount -l " TOP "/state/zfs/* " TOP "/exposed 2>/dev/null; umount " TOP "/ext " TOP "/xfs "
                  "2>/dev/null; zpool destroy -f " POOL " 2>/dev/null; true");
        return 0;
}

static int group_setup(void **state) {
        const char *disks = getenv("VSS_LAB_DISKS");
        char disk[64];

        if (isempty(disks) || sscanf(disks, "%63s", disk) != 1)
                return -1;
        /* A partition, not the whole disk: zpool would label a whole disk and wait for udev. */
        if (sh("modprobe ext4 && modprobe xfs && mkdir -p " TOP "/state " TOP "/ext " TOP "/xfs " TOP "/exposed && "
               "echo ',,' | sfdisk -q %s && zpool create -f -m " TOP "/pool " POOL " %s1 && "
               "zfs create " POOL "/ds && zfs create -V 256M " POOL "/ext && zfs create -V 512M " POOL "/xfs",
               disk, disk) < 0)
                goto fail;
        /* No udev here: the zvols' devices are found by name, as the provider does it. */
        if (sh("for d in /sys/block/zd*; do n=$(/usr/lib/udev/zvol_id /dev/${d##*/}); "
               "[ \"$n\" = " POOL "/ext ] && mkfs.ext4 -q /dev/${d##*/} && mount /dev/${d##*/} " TOP "/ext; "
               "[ \"$n\" = " POOL "/xfs ] && mkfs.xfs -q /dev/${d##*/} && mount /dev/${d##*/} " TOP "/xfs; "
               "done; mountpoint -q " TOP "/ext && mountpoint -q " TOP "/xfs") < 0)
                goto fail;
        if (start_vssd(NULL) < 0 || start_writer(&ext) < 0 || start_writer(&xfs) < 0 || start_writer(&ds) < 0)
                goto fail;
        return 0;
fail:
        (void) group_teardown(state);
        return -1;
}

/* One backup: the requester and the snapshots it made. */
typedef struct Backup {
        vss_requester *r;
        vss_id set_id;
        vss_id snap[3];
        vss_snapshot_prop prop[3];
        size_t n;
} Backup;

static void backup_done(Backup *b) {
        for (size_t i = 0; i < b->n; i++)
                vss_snapshot_prop_free(&b->prop[i]);
        vss_requester_release(b->r);
        *b = (Backup) {};
}

/* Selects the component of every consistency writer. */
static void select_writers(vss_requester *r) {
        vss_id class_id;
        unsigned n = 0;

        assert_hr(vss_id_parse(CONSISTENCY_WRITER_CLASS, &class_id), S_OK, NULL);
        assert_hr(ASYNC(vss_requester_gather_writer_metadata, r), S_OK, r);
        assert_hr(vss_requester_get_writer_metadata_count(r, &n), S_OK, r);
        for (unsigned i = 0; i < n; i++) {
                vss_examine_writer_metadata *m;
                vss_id inst, wid;

                assert_hr(vss_requester_get_writer_metadata(r, i, &inst, &m), S_OK, r);
                assert_hr(vss_examine_writer_metadata_get_identity(m, &inst, &wid, NULL, NULL, NULL, NULL), S_OK, r);
                if (vss_id_equal(&wid, &class_id))
                        assert_hr(vss_requester_add_component(r, &inst, &wid, VSS_CT_FILEGROUP, NULL, "records"), S_OK, r);
        }
}

static void backup_run(Backup *b, const Volume *const *vols, size_t n, vss_snapshot_context ctx) {
        vss_requester_options opts = VSS_REQUESTER_OPTIONS_INIT;

        opts.socket_path = socket_path;
        assert_hr(vss_requester_new(&b->r, &opts), S_OK, NULL);
        assert_hr(vss_requester_initialize_for_backup(b->r, NULL), S_OK, b->r);
        assert_hr(vss_requester_set_context(b->r, ctx), S_OK, b->r);
        assert_hr(vss_requester_set_backup_state(b->r, true, false, VSS_BT_FULL, false), S_OK, b->r);
        select_writers(b->r);
        assert_hr(vss_requester_start_snapshot_set(b->r, &b->set_id), S_OK, b->r);
        for (size_t i = 0; i < n; i++)
                assert_hr(vss_requester_add_to_snapshot_set(b->r, vols[i]->mnt, NULL, &b->snap[i]), S_OK, b->r);
        b->n = n;
        assert_hr(ASYNC(vss_requester_prepare_for_backup, b->r), S_OK, b->r);
        assert_hr(ASYNC(vss_requester_do_snapshot_set, b->r), S_OK, b->r);
        for (size_t i = 0; i < n; i++)
                assert_hr(vss_requester_get_snapshot_properties(b->r, &b->snap[i], &b->prop[i]), S_OK, b->r);
}

static uint64_t read_seq(const char *path) {
        _cleanup_free_ char *text = NULL;

        assert_int_equal(read_file_full(path, &text, NULL), 0);
        return strtoull(text, NULL, 10);
}

/* The snapshot of v (read at device) ends exactly at v's freeze record, and is read-only. */
static void check_consistent(const Volume *v, const char *device) {
        _cleanup_free_ char *path = NULL, *buf = NULL;
        char expected[32];
        size_t size = 0;
        uint64_t frozen = read_seq(v->record), n;
        struct statvfs svfs;

        assert_int_not_equal(asprintf(&path, "%s/records.log", device), -1);
        assert_int_equal(read_file_full(path, &buf, &size), 0);
        assert_int_equal(size % RECORD_SIZE, 0);
        n = size / RECORD_SIZE;
        for (uint64_t i = 0; i < n; i++) {
                (void) snprintf(expected, sizeof(expected), "seq=%010" PRIu64 "\n", i + 1);
                if (memcmp(buf + i * RECORD_SIZE, expected, RECORD_SIZE) != 0) {
                        print_error("%s: record %" PRIu64 " is \"%.*s\"\n", v->name, i + 1, RECORD_SIZE, buf + i * RECORD_SIZE);
                        fail();
                }
        }
        if (n != frozen)
                print_error("%s: snapshot holds %" PRIu64 " records, the writer froze at %" PRIu64 "\n", v->name, n,
                            frozen);
        assert_int_equal(n, frozen);
        assert_true(n > 0);
        assert_int_equal(statvfs(device, &svfs), 0);
        assert_true(svfs.f_flag & ST_RDONLY);
}

/* The snapshot's ZFS name, "<POOL>/<v->name>@vss-<id>". */
static void snapshot_name(const Volume *v, const vss_id *id, char *buf, size_t size) {
        char ids[VSS_ID_STRING_MAX];

        vss_id_format(id, ids);
        snprintf(buf, size, POOL "/%s@vss-%s", v->name, ids);
}

/* A zvol snapshot as vssd serves it: mounted at <state dir>/zfs/<id>, held by "vss". */
static void check_served_zvol(const Volume *v, const vss_id *id, const char *device) {
        char ids[VSS_ID_STRING_MAX], expected[512], name[512];

        vss_id_format(id, ids);
        snprintf(expected, sizeof(expected), "%s/zfs/%s", state_dir, ids);
        assert_string_equal(device, expected);
        assert_int_equal(sh("mountpoint -q %s", device), 0);
        snapshot_name(v, id, name, sizeof(name));
        assert_int_equal(sh("zfs holds -H '%s' | grep -w vss >/dev/null", name), 0);
        assert_int_equal(sh("! zfs destroy '%s' 2>/dev/null", name), 0);
}

static void release_and_check_gone(Backup *b) {
        char devices[ELEMENTSOF(b->prop)][512];
        size_t n = MIN(b->n, ELEMENTSOF(devices));

        for (size_t i = 0; i < n; i++)
                snprintf(devices[i], sizeof(devices[i]), "%s", b->prop[i].snapshot_device_object);
        backup_done(b);
        assert_int_equal(wait_snapshot_count(0), 0);
        for (size_t i = 0; i < n; i++)
                if (strstr(devices[i], "/.zfs/") == NULL)
                        assert_int_equal(path_wait_gone(devices[i], WAIT_MS), 0);
}

static void wait_records(const Volume *v) {
        uint64_t deadline = now_usec() + WAIT_MS * USEC_PER_MSEC;
        struct stat st;

        while (now_usec() < deadline) {
                if (stat(v->data, &st) == 0 && st.st_size > 50 * RECORD_SIZE)
                        return;
                (void) usleep(10000);
        }
        fail_msg("%s: the writer wrote nothing", v->name);
}

static void backups_of(Volume *v, unsigned count) {
        const Volume *vols[] = { v };

        wait_records(v);
        for (unsigned i = 0; i < count; i++) {
                Backup b = {};

                backup_run(&b, vols, 1, VSS_CTX_BACKUP);
                check_served_zvol(v, &b.snap[0], b.prop[0].snapshot_device_object);
                check_consistent(v, b.prop[0].snapshot_device_object);
                release_and_check_gone(&b);
        }
        fprintf(stderr, "test-zvol: %u consistent backups of %s (%s on a zvol)\n", count, v->mnt, v->name);
}

static void test_list_volumes(void **state) {
        char line[4096];

        /* One volume an object: its mount point, then (same object) the provider picked. */
        sh_line(line, sizeof(line), "%s --socket %s list volumes --json | tr -d '\\n ' | "
                "grep -o '\"mount_point\":\"%s\"[^}]*' | grep -o '\"provider\":\"[a-z]*\"'",
                build_program("VSSADMIN", "src/tools/vssadmin"), socket_path, ext.mnt);
        assert_string_equal(line, "\"provider\":\"zfs\"");
        sh_line(line, sizeof(line), "%s --socket %s list volumes --json | tr -d '\\n ' | "
                "grep -o '\"mount_point\":\"%s\"[^}]*' | grep -o '\"provider\":\"[a-z]*\"'",
                build_program("VSSADMIN", "src/tools/vssadmin"), socket_path, xfs.mnt);
        assert_string_equal(line, "\"provider\":\"zfs\"");
}

static void test_ext4_zvol_consistent(void **state) {
        _cleanup_free_ char *log = NULL;

        backups_of(&ext, EXT_BACKUPS);
        assert_int_equal(read_file_full(vssd_log, &log, NULL), 0);
        assert_non_null(strstr(log, "held 1 zvol filesystem(s) frozen for"));
}

static void test_xfs_zvol_consistent(void **state) {
        backups_of(&xfs, XFS_BACKUPS);
}

/* A set of the dataset and both zvol filesystems of the pool: one hold of the two zvol
 * filesystems around one lzc_snapshot of all three. */
static void test_dataset_and_zvol_one_call(void **state) {
        const Volume *vols[] = { &ds, &ext, &xfs };
        char name[ELEMENTSOF(vols)][512], txg[ELEMENTSOF(vols)][64];
        _cleanup_free_ char *log = NULL;
        Backup b = {};

        wait_records(&ds);
        backup_run(&b, vols, ELEMENTSOF(vols), VSS_CTX_BACKUP);
        for (size_t i = 0; i < ELEMENTSOF(vols); i++) {
                if (vols[i] != &ds)
                        check_served_zvol(vols[i], &b.snap[i], b.prop[i].snapshot_device_object);
                check_consistent(vols[i], b.prop[i].snapshot_device_object);
                snapshot_name(vols[i], &b.snap[i], name[i], sizeof(name[i]));
                sh_line(txg[i], sizeof(txg[i]), "zfs get -Hp -o value createtxg '%s'", name[i]);
        }
        /* One lzc_snapshot: every snapshot is of the same transaction group. */
        fprintf(stderr, "test-zvol: dataset, ext4 and XFS zvol snapshots of createtxg %s, %s and %s\n", txg[0],
                txg[1], txg[2]);
        assert_true(txg[0][0] != 0);
        assert_string_equal(txg[0], txg[1]);
        assert_string_equal(txg[0], txg[2]);
        assert_int_equal(read_file_full(vssd_log, &log, NULL), 0);
        assert_non_null(strstr(log, "held 2 zvol filesystem(s) frozen for"));
        release_and_check_gone(&b);
}

/* Whether the log at path (absent: no) has a line starting with prefix. */
static bool log_has_line(const char *path, const char *prefix) {
        _cleanup_free_ char *text = NULL;
        size_t n = strlen(prefix);

        if (read_file_full(path, &text, NULL) < 0)
                return false;
        for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
                if (strncmp(l, prefix, n) == 0)
                        return true;
        return false;
}

/* Starts vss-test-writer with extra arguments and waits until it has subscribed. */
static pid_t start_test_writer(const char *name, const char *log, char *const extra[]) {
        char *argv[32] = { (char *) build_program("VSS_TEST_WRITER", "tests/integration/vss-test-writer"),
                           (char *) "--name", (char *) name, (char *) "--class", (char *) HANG_WRITER_CLASS,
                           (char *) "--component", (char *) ":hung", (char *) "--log", (char *) log };
        size_t k = 9;
        uint64_t deadline;
        pid_t pid = 0;

        for (size_t i = 0; extra[i] && k < ELEMENTSOF(argv) - 1; i++)
                argv[k++] = extra[i];
        argv[k] = NULL;
        assert_int_equal(process_spawn(argv, &pid, NULL), 0);
        deadline = now_usec() + WAIT_MS * USEC_PER_MSEC;
        while (!log_has_line(log, "subscribed") && now_usec() < deadline)
                (void) usleep(20000);
        return pid;
}

/* A write and fsync on the volume at mnt: it returns once the filesystem is not frozen. */
static void probe_write(const char *mnt) {
        _cleanup_free_ char *path = NULL;
        int fd;

        assert_int_not_equal(asprintf(&path, "%s/probe", mnt), -1);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "x", 1), 1);
        assert_int_equal(fsync(fd), 0);
        close(fd);
}

static bool wait_file_grows(const char *path) {
        uint64_t deadline = now_usec() + WAIT_MS * USEC_PER_MSEC;
        struct stat st;
        off_t size;

        if (stat(path, &st) < 0)
                return false;
        size = st.st_size;
        while (now_usec() < deadline) {
                if (stat(path, &st) == 0 && st.st_size > size)
                        return true;
                (void) usleep(20000);
        }
        return false;
}

/* A requester of one writer-less or writer-ful backup of v, in a child that does not look
 * back (no cmocka there): exits 0 when DoSnapshotSet succeeded, 7 when it failed, 2-6 when a
 * step before it did. */
static pid_t requester_child(const Volume *v, bool writers) {
        pid_t child = fork();

        assert_true(child >= 0);
        if (child == 0) {
                vss_requester_options opts = VSS_REQUESTER_OPTIONS_INIT;
                vss_requester *r = NULL;
                vss_async *a = NULL;
                vss_id set, id;

                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                opts.socket_path = socket_path;
                if (vss_requester_new(&r, &opts) != S_OK || vss_requester_initialize_for_backup(r, NULL) != S_OK ||
                    vss_requester_set_context(r, writers ? VSS_CTX_BACKUP : VSS_CTX_NAS_ROLLBACK) != S_OK)
                        _exit(2);
                if (writers) {
                        if (vss_requester_set_backup_state(r, false, false, VSS_BT_FULL, false) != S_OK ||
                            vss_requester_gather_writer_metadata(r, &a) != S_OK || vss_async_wait(a, VSS_INFINITE) != S_OK)
                                _exit(3);
                        vss_async_release(a);
                }
                if (vss_requester_start_snapshot_set(r, &set) != S_OK ||
                    vss_requester_add_to_snapshot_set(r, v->mnt, NULL, &id) != S_OK)
                        _exit(4);
                if (writers) {
                        if (vss_requester_prepare_for_backup(r, &a) != S_OK || vss_async_wait(a, VSS_INFINITE) != S_OK)
                                _exit(5);
                        vss_async_release(a);
                }
                if (vss_requester_do_snapshot_set(r, &a) != S_OK)
                        _exit(6);
                _exit(async_wait_release(S_OK, a) == S_OK ? 0 : 7);
        }
        return child;
}

/* A writer vetoes Freeze: the set fails, after the end-prepare prefreeze, leaving nothing frozen
 * and no snapshot or mount. */
static void test_freeze_veto_leaves_nothing(void **state) {
        pid_t veto, child;
        int status;

        veto = start_test_writer("vetoer", TOP "/veto.log", (char *const[]) { (char *) "--veto", (char *) "freeze", NULL });
        child = requester_child(&ext, true);
        assert_int_equal(waitpid(child, &status, 0), child);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 7);
        assert_true(log_has_line(TOP "/veto.log", "event=Freeze"));
        (void) process_stop(veto, 10000);

        probe_write(ext.mnt);
        assert_true(wait_file_grows(ext.data));
        assert_int_equal(vss_snapshot_count(), 0);
        assert_int_equal(sh("! grep ' " TOP "/state/zfs/' /proc/mounts"), 0);
}

/* The requester dies (SIGKILL) while a writer is inside Freeze. */
static void test_requester_killed_in_freeze(void **state) {
        uint64_t deadline;
        pid_t slow, child;
        int status;

        slow = start_test_writer("slowfreezer", TOP "/slow.log",
                                 (char *const[]) { (char *) "--hang", (char *) "freeze:4000", NULL });
        child = requester_child(&ext, true);

        deadline = now_usec() + WAIT_MS * USEC_PER_MSEC;
        while (!log_has_line(TOP "/slow.log", "begin=Freeze") && now_usec() < deadline)
                (void) usleep(20000);
        assert_true(log_has_line(TOP "/slow.log", "begin=Freeze"));
        assert_int_equal(kill(child, SIGKILL), 0);
        assert_int_equal(waitpid(child, &status, 0), child);

        /* Nothing frozen: the zvol filesystem takes writes, the writers go on; no snapshot. */
        probe_write(ext.mnt);
        assert_true(wait_file_grows(ext.data));
        assert_true(wait_file_grows(xfs.data));
        (void) process_stop(slow, 10000);
        assert_int_equal(wait_snapshot_count(0), 0);
        assert_int_equal(sh("! grep ' " TOP "/state/zfs/' /proc/mounts"), 0);
}

/*
 * A child that writes and fsyncs TOP/ext/probe over and over, reporting on its pipe the
 * CLOCK_MONOTONIC time each write completed: on a frozen filesystem the write blocks, so the
 * reports stop, and the first one after the thaw tells when writes were accepted again.
 */
static pid_t prober_start(int *ret_fd) {
        int p[2];
        pid_t pid;

        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int fd = open(TOP "/ext/probe", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (fd < 0)
                        _exit(1);
                for (uint64_t i = 0;; i++) {
                        uint64_t t;

                        if (pwrite(fd, &i, sizeof(i), 0) != sizeof(i) || fsync(fd) < 0)
                                _exit(1);
                        t = now_usec();
                        if (write(p[1], &t, sizeof(t)) != sizeof(t))
                                _exit(0);
                        (void) usleep(5000);
                }
        }
        close(p[1]);
        *ret_fd = p[0];
        return pid;
}

/* The next report of the prober within timeout_ms: its time, or 0 when none came. */
static uint64_t prober_next(int fd, unsigned timeout_ms) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        uint64_t t = 0;

        if (poll(&pfd, 1, (int) timeout_ms) <= 0)
                return 0;
        return read(fd, &t, sizeof(t)) == sizeof(t) ? t : 0;
}

/* vssd dies (SIGKILL) inside the hold of the zvol filesystem: the guardian thaws it. */
static void test_vssd_killed_in_hold(void **state) {
        uint64_t last = 0, t, killed_at, deadline;
        pid_t prober, child;
        int fd, status;

        stop_vssd();
        assert_int_equal(start_vssd(HOLD_DELAY_MS), 0);
        prober = prober_start(&fd);
        assert_true(prober_next(fd, WAIT_MS) > 0);
        child = requester_child(&ext, false);

        /* The hold is on once the prober has been blocked for STALL_USEC. */
        deadline = now_usec() + 60 * USEC_PER_SEC;
        for (;;) {
                t = prober_next(fd, 100);
                if (t > 0)
                        last = t;
                else if (last > 0 && now_usec() - last > STALL_USEC)
                        break;
                assert_true(now_usec() < deadline);
        }
        assert_int_equal(kill(vssd_pid, SIGKILL), 0);
        killed_at = now_usec();
        assert_int_equal(waitpid(vssd_pid, &status, 0), vssd_pid);
        vssd_pid = 0;

        t = prober_next(fd, 10000);
        assert_true(t > 0);
        fprintf(stderr, "test-zvol: the zvol filesystem took writes again %.1f ms after vssd was killed inside "
                "the hold (blocked %.1f ms in all)\n", (double) (t > killed_at ? t - killed_at : 0) / 1000.0,
                (double) (t - last) / 1000.0);
        assert_true(t < killed_at + THAW_LIMIT_USEC);
        (void) kill(prober, SIGKILL);
        (void) waitpid(prober, NULL, 0);
        close(fd);
        (void) waitpid(child, &status, 0);
        assert_true(WIFEXITED(status));

        /* The dead vssd's snapshot (its lzc_snapshot ran before the test delay) goes at the next start. */
        assert_int_equal(start_vssd(NULL), 0);
        assert_int_equal(wait_snapshot_count(0), 0);
        assert_int_equal(sh("! grep ' " TOP "/state/zfs/' /proc/mounts"), 0);
}

static void test_restart_recovery(void **state) {
        const Volume *vols[] = { &ext };
        char keep_name[512], orphan[512], ids[VSS_ID_STRING_MAX], device[512];
        Backup b = {};
        vss_id keep, orphan_id;

        wait_records(&ext);
        backup_run(&b, vols, 1, VSS_CTX_APP_ROLLBACK);
        keep = b.snap[0];
        snprintf(device, sizeof(device), "%s", b.prop[0].snapshot_device_object);
        check_served_zvol(&ext, &keep, device);
        check_consistent(&ext, device);
        backup_done(&b);
        /* Persistent: it outlives its requester. */
        assert_int_equal(vss_snapshot_count(), 1);

        /* An orphan: a vss-named snapshot no catalog row knows (as a crash between the snapshot
         * and the catalog's record would leave), and a user's own snapshot. */
        vss_id_generate(&orphan_id);
        snapshot_name(&ext, &orphan_id, orphan, sizeof(orphan));
        assert_int_equal(sh("zfs snapshot '%s' && zfs snapshot " POOL "/ext@mine", orphan), 0);
        assert_int_equal(vss_snapshot_count(), 2);

        stop_vssd();
        assert_int_equal(start_vssd(NULL), 0);
        assert_int_equal(wait_snapshot_count(1), 1);
        snapshot_name(&ext, &keep, keep_name, sizeof(keep_name));
        assert_int_equal(sh("zfs list -H -o name '%s' >/dev/null", keep_name), 0);
        assert_int_equal(sh("zfs list -H -o name " POOL "/ext@mine >/dev/null"), 0);
        /* Still served: mounted, readable, held; and exposable where a tool wants it. */
        check_served_zvol(&ext, &keep, device);
        check_consistent(&ext, device);
        vss_id_format(&keep, ids);
        assert_int_equal(sh("%s --socket %s expose --shadow %s --path " TOP "/exposed >/dev/null && "
                            "cmp %s/records.log " TOP "/exposed/records.log && "
                            "%s --socket %s unexpose --shadow %s >/dev/null",
                            build_program("VSSADMIN", "src/tools/vssadmin"), socket_path, ids, device,
                            build_program("VSSADMIN", "src/tools/vssadmin"), socket_path, ids), 0);

        /* As a reboot leaves it: the snapshot's mount gone. vssd still knows it present, and
         * expose mounts it again at its device path first. */
        stop_vssd();
        assert_int_equal(sh("umount %s && rmdir %s", device, device), 0);
        assert_int_equal(start_vssd(NULL), 0);
        assert_int_equal(vss_snapshot_count(), 1);
        assert_int_equal(sh("%s --socket %s expose --shadow %s --path " TOP "/exposed >/dev/null && "
                            "cmp %s/records.log " TOP "/exposed/records.log && "
                            "%s --socket %s unexpose --shadow %s >/dev/null",
                            build_program("VSSADMIN", "src/tools/vssadmin"), socket_path, ids, device,
                            build_program("VSSADMIN", "src/tools/vssadmin"), socket_path, ids), 0);
        check_served_zvol(&ext, &keep, device);
        check_consistent(&ext, device);

        assert_int_equal(sh("%s --socket %s delete shadows --all >/dev/null", build_program("VSSADMIN", "src/tools/vssadmin"),
                            socket_path), 0);
        assert_int_equal(wait_snapshot_count(0), 0);
        assert_int_equal(path_wait_gone(device, WAIT_MS), 0);
        assert_int_equal(sh("zfs destroy " POOL "/ext@mine"), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_list_volumes),
                cmocka_unit_test(test_ext4_zvol_consistent),
                cmocka_unit_test(test_xfs_zvol_consistent),
                cmocka_unit_test(test_dataset_and_zvol_one_call),
                cmocka_unit_test(test_freeze_veto_leaves_nothing),
                cmocka_unit_test(test_requester_killed_in_freeze),
                cmocka_unit_test(test_restart_recovery),
                cmocka_unit_test(test_vssd_killed_in_hold),
        };

        if (getenv("VSS_LAB") == NULL || !streq(getenv("VSS_LAB"), "1") || geteuid() != 0 ||
            access("/dev/zfs", F_OK) < 0) {
                fprintf(stderr, "test-zvol: runs inside the VM lab with ZFS loaded only (lab-run --zfs); skipping\n");
                return 77;
        }
        setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 1);
        /* For vss-test-writer, which takes vssd's socket from the environment. */
        setenv("VSS_SOCKET", socket_path, 1);
        /* TEST_ZVOL_FILTER: run only the tests matching this pattern (while working on one). */
        if (getenv("TEST_ZVOL_FILTER"))
                cmocka_set_test_filter(getenv("TEST_ZVOL_FILTER"));
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
