/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-lvm: the LVM provider through the whole VSS backup sequence, inside the VM lab
 * (tests/lab/lab-run boots Debian's kernel, which has device-mapper; this machine's does not).
 *
 * On the lab's disks it makes one volume group with a thin pool and a thin LV (ext4), a
 * classic LV with XFS, a second classic LV (ext4), a small thin pool, and a small classic LV;
 * then runs the real vssd with consistency-writer processes appending numbered records to a
 * file on the LVs. What it proves:
 *   - thin and classic snapshots hold exactly what each writer made durable at Freeze (the
 *     sequence number the writer wrote down outside the volume), over 20 backups of the thin
 *     LV and several of the XFS one, read from the snapshot mounted read-only at its device
 *     path; released snapshots leave no LV and no mount behind;
 *   - one set over two LVs (thin + classic) is consistent for both writers;
 *   - one set over two classic LVs is one point in time even for an application without a
 *     writer (a counter appended to both volumes in lockstep: the two snapshots end at one
 *     step of it), over several backups: the guardian's dm hold (docs/providers.md); vssd
 *     or the guardian SIGKILLed inside that hold leaves both devices resumed (the time until
 *     they are, and until a write is accepted, is printed), and an lvcreate failing inside
 *     it, or SIGKILLed there, resumes both and leaves no LV of ours (and someone else's LV
 *     of that name alone);
 *   - the vssd.conf settings lvm-cow-percent and lvm-thin-pool-limit take effect (the COW
 *     area's size, the pool refusal below);
 *   - a thin pool at or above the limit refuses with VSS_E_INSUFFICIENT_STORAGE before the
 *     pool can fill, and a VG without room for a classic snapshot's COW area does too;
 *   - a classic snapshot that overflows is reported "missing" by vssd (ListShadows), and its
 *     mount is gone, instead of being served broken;
 *   - a Freeze veto leaves no snapshot LV; a requester SIGKILLed while writers are inside
 *     Freeze leaves nothing frozen and no LV; vssd SIGKILLed while an lvcreate of its commit
 *     runs leaves the volume writable (the time until a write is accepted is printed) and
 *     the next vssd removes the LV;
 *   - a snapshot whose LV someone else removed is deleted all the same (found gone), and a
 *     vssd restart removes a vss-tagged LV its catalog does not know and keeps a persistent
 *     snapshot, which stays readable.
 *
 * Runs only inside the lab (VSS_LAB=1, as root): exits 77 elsewhere. Environment: VSSD,
 * VSS_GUARDIAN, CONSISTENCY_WRITER, VSS_TEST_WRITER, VSSADMIN name the programs (meson sets
 * them).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "async-wait.h"
#include "macro.h"
#include "requester-assert.h"
#include "root-harness.h"
#include "vss/vss.h"

#define CONSISTENCY_WRITER_CLASS "8e5d2f6a-3c41-4b7e-9f20-6a1d4c8b0e35"
#define VETO_WRITER_CLASS "2f9c1d7e-5a3b-4c8d-9e6f-1a2b3c4d5e6f"
#define RECORD_SIZE 15
#define WAIT_MS 20000u
#define START_WAIT_MS 300000u
#define VG "vsslab"
#define TOP "/run/vss-lvm-test"
#define THIN_BACKUPS 20
#define XFS_BACKUPS 3
#define ONE_INSTANT_BACKUPS 4
/* vssd's configuration file in the lab: the policy under test. A thin pool half full is
 * refused (the small pool reaches it); a classic snapshot's COW area is 30 % of its origin. */
#define CONF_PATH TOP "/vssd.conf"
#define CONF_TEXT "lvm-thin-pool-limit = 50\nlvm-cow-percent = 30\n"

typedef struct Volume {
        const char *lv;        /* LV name in VG */
        const char *mnt;       /* where it is mounted */
        char data[256];        /* <mnt>/records.log */
        char record[256];      /* TOP/<lv>.freeze-seq: outside every LV */
        pid_t writer;
} Volume;

static Volume thin = { .lv = "thin", .mnt = TOP "/thin" };
static Volume xfs = { .lv = "plain", .mnt = TOP "/plain" };
static Volume ext = { .lv = "plain2", .mnt = TOP "/plain2" };

static pid_t vssd_pid;
static const char *socket_path = TOP "/vssd.sock";
static const char *state_dir = TOP "/state";

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
                fprintf(stderr, "test-lvm: \"%s\" exited %d\n", cmd, WIFEXITED(r) ? WEXITSTATUS(r) : -1);
        return r == 0 ? 0 : -EIO;
}

/* How many vss-made LVs (name vss-*) the VG holds; wait_lv_count waits (the bound only
 * keeps a broken vssd from hanging the test) until it is expected, as deletion of an
 * auto-release snapshot follows the requester's release asynchronously. */
static int vss_lv_count(void) {
        FILE *p = popen("lvm lvs --noheadings -o lv_name " VG " 2>/dev/null | grep -c ' vss-'", "r");
        int n = -1;

        if (!p)
                return -1;
        if (fscanf(p, "%d", &n) != 1)
                n = -1;
        pclose(p);
        return n;
}

static int wait_lv_count(int expected) {
        uint64_t deadline = now_usec() + WAIT_MS * USEC_PER_MSEC;
        int n;

        while ((n = vss_lv_count()) != expected && now_usec() < deadline)
                (void) usleep(500000);
        return n;
}

static int start_vssd(void) {
        uint64_t t0;
        int r;

        /* The hold deadline at its most: an lvcreate takes seconds under TCG. */
        r = process_spawn((char *const[]) { (char *) build_program("VSSD", "src/vssd/vssd"),
                                            (char *) "--config", (char *) CONF_PATH,
                                            (char *) "--socket", (char *) socket_path,
                                            (char *) "--state-dir", (char *) state_dir,
                                            (char *) "--guardian", (char *) build_program("VSS_GUARDIAN", "src/guardian/vss-guardian"),
                                            (char *) "--hold-timeout-ms", (char *) "60000",
                                            (char *) "--event-timeout", (char *) "60000", NULL },
                          &vssd_pid, NULL);
        if (r < 0)
                return r;
        /* Start-up reconciles the catalog with the VG (an lvs per volume, slow under TCG). */
        t0 = now_usec();
        r = unix_socket_wait(socket_path, vssd_pid, START_WAIT_MS);
        if (r >= 0)
                fprintf(stderr, "test-lvm: vssd answered %.1f s after it was started\n", (double) (now_usec() - t0) / 1e6);
        if (r == -ESRCH)
                vssd_pid = 0;
        return r;
}

static int start_writer(Volume *v) {
        char line[64];
        int out = -EBADF, r;

        snprintf(v->data, sizeof(v->data), "%s/records.log", v->mnt);
        snprintf(v->record, sizeof(v->record), TOP "/%s.freeze-seq", v->lv);
        r = process_spawn((char *const[]) { (char *) build_program("CONSISTENCY_WRITER", "tests/root/consistency-writer"),
                                            (char *) "--socket", (char *) socket_path,
                                            (char *) "--data", v->data,
                                            (char *) "--freeze-record", v->record,
                                            (char *) "--name", (char *) v->lv, NULL },
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
        Volume *vols[] = { &thin, &xfs, &ext };

        for (size_t i = 0; i < ELEMENTSOF(vols); i++)
                if (vols[i]->writer > 0)
                        (void) process_stop(vols[i]->writer, 5000);
        if (vssd_pid > 0)
                (void) process_stop(vssd_pid, 5000);
        (void) sh("umount -R " TOP "/state/lvm/* 2>/dev/null; umount " TOP "/thin " TOP "/plain " TOP "/plain2 "
                  TOP "/full " TOP "/small 2>/dev/null; vgremove -f -y " VG " >/dev/null 2>&1; true");
        return 0;
}

static int group_setup(void **state) {
        const char *disks = getenv("VSS_LAB_DISKS");

        if (!isempty(disks) && sh("modprobe dm-thin-pool && modprobe dm-snapshot && modprobe xfs && modprobe ext4 && "
                                  "mkdir -p " TOP "/state " TOP "/thin " TOP "/plain " TOP "/plain2 " TOP "/full " TOP "/small && "
                                  "pvcreate -q %s && vgcreate -q " VG " %s && "
                                  "lvcreate -q -L 1G -T " VG "/pool && lvcreate -q -V 512M -T " VG "/pool -n thin && "
                                  "lvcreate -q -L 400M -n plain " VG " && lvcreate -q -L 128M -n plain2 " VG " && "
                                  "lvcreate -q -L 64M -T " VG "/smallpool && lvcreate -q -V 256M -T " VG "/smallpool -n full && "
                                  "lvcreate -q -L 64M -n small " VG " && "
                                  "mkfs.ext4 -q /dev/" VG "/thin && mkfs.xfs -q /dev/" VG "/plain && "
                                  "mkfs.ext4 -q /dev/" VG "/plain2 && mkfs.ext4 -q /dev/" VG "/full && "
                                  "mkfs.ext4 -q /dev/" VG "/small && "
                                  "mount /dev/" VG "/thin " TOP "/thin && mount /dev/" VG "/plain " TOP "/plain && "
                                  "mount /dev/" VG "/plain2 " TOP "/plain2 && mount /dev/" VG "/full " TOP "/full && "
                                  "mount /dev/" VG "/small " TOP "/small",
                                  disks, disks) < 0)
                goto fail;
        if (isempty(disks))
                goto fail;
        if (sh("printf '" CONF_TEXT "' >" CONF_PATH) < 0)
                goto fail;
        if (start_vssd() < 0 || start_writer(&thin) < 0 || start_writer(&xfs) < 0 || start_writer(&ext) < 0)
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
        vss_id snap[2];
        vss_snapshot_prop prop[2];
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

static void backup_begin(Backup *b, vss_snapshot_context ctx) {
        vss_requester_options opts = VSS_REQUESTER_OPTIONS_INIT;

        opts.socket_path = socket_path;
        assert_hr(vss_requester_new(&b->r, &opts), S_OK, NULL);
        assert_hr(vss_requester_initialize_for_backup(b->r, NULL), S_OK, b->r);
        assert_hr(vss_requester_set_context(b->r, ctx), S_OK, b->r);
        assert_hr(vss_requester_set_backup_state(b->r, true, false, VSS_BT_FULL, false), S_OK, b->r);
        select_writers(b->r);
        assert_hr(vss_requester_start_snapshot_set(b->r, &b->set_id), S_OK, b->r);
}

/* The good path on volumes; b->r stays alive with the snapshots' properties. */
static void backup_run(Backup *b, const Volume *const *vols, size_t n, vss_snapshot_context ctx) {
        backup_begin(b, ctx);
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

/* The snapshot of v (mounted read-only at device) ends exactly at v's freeze record. */
static void check_consistent(const Volume *v, const char *device) {
        _cleanup_free_ char *path = NULL, *buf = NULL;
        char expected[32];
        size_t size = 0;
        uint64_t frozen = read_seq(v->record), n;
        struct stat st;

        assert_int_not_equal(asprintf(&path, "%s/records.log", device), -1);
        assert_int_equal(read_file_full(path, &buf, &size), 0);
        assert_int_equal(size % RECORD_SIZE, 0);
        n = size / RECORD_SIZE;
        for (uint64_t i = 0; i < n; i++) {
                (void) snprintf(expected, sizeof(expected), "seq=%010" PRIu64 "\n", i + 1);
                if (memcmp(buf + i * RECORD_SIZE, expected, RECORD_SIZE) != 0) {
                        print_error("%s: record %" PRIu64 " is \"%.*s\"\n", v->lv, i + 1, RECORD_SIZE, buf + i * RECORD_SIZE);
                        fail();
                }
        }
        if (n != frozen)
                print_error("%s: snapshot holds %" PRIu64 " records, the writer froze at %" PRIu64 "\n", v->lv, n, frozen);
        assert_int_equal(n, frozen);
        assert_true(n > 0);
        /* Read-only: nobody writes into a snapshot. */
        assert_int_equal(stat(device, &st), 0);
        assert_int_equal(access(path, W_OK), -1);
}

static void release_and_check_gone(Backup *b) {
        char devices[2][512];
        size_t n = b->n;

        for (size_t i = 0; i < n; i++)
                snprintf(devices[i], sizeof(devices[i]), "%s", b->prop[i].snapshot_device_object);
        backup_done(b);
        for (size_t i = 0; i < n; i++)
                assert_int_equal(path_wait_gone(devices[i], WAIT_MS), 0);
        assert_int_equal(wait_lv_count(0), 0);
}

static void wait_records(const Volume *v) {
        struct stat st;
        uint64_t deadline = now_usec() + WAIT_MS * USEC_PER_MSEC;

        while (now_usec() < deadline) {
                if (stat(v->data, &st) == 0 && st.st_size > 50 * RECORD_SIZE)
                        return;
                (void) usleep(10000);
        }
        fail_msg("%s: the writer wrote nothing", v->lv);
}

static void backups_of(Volume *v, unsigned count) {
        const Volume *vols[] = { v };

        wait_records(v);
        for (unsigned i = 0; i < count; i++) {
                Backup b = {};

                backup_run(&b, vols, 1, VSS_CTX_BACKUP);
                check_consistent(v, b.prop[0].snapshot_device_object);
                release_and_check_gone(&b);
        }
}

static void test_thin_consistent(void **state) {
        backups_of(&thin, THIN_BACKUPS);
}

static void test_classic_xfs_consistent(void **state) {
        backups_of(&xfs, XFS_BACKUPS);
}

static void test_two_lv_set(void **state) {
        const Volume *vols[] = { &thin, &ext };
        Backup b = {};

        wait_records(&ext);
        backup_run(&b, vols, 2, VSS_CTX_BACKUP);
        check_consistent(&thin, b.prop[0].snapshot_device_object);
        check_consistent(&ext, b.prop[1].snapshot_device_object);
        assert_int_equal(vss_lv_count(), 2);
        release_and_check_gone(&b);
}

static void test_thin_pool_near_full(void **state) {
        Backup b = {};
        vss_id id;

        /* 40 of the pool's 64 MiB: above the 50 % limit this test gives vssd. */
        assert_int_equal(sh("dd if=/dev/urandom of=" TOP "/full/fill bs=1M count=40 status=none && sync"), 0);
        backup_begin(&b, VSS_CTX_BACKUP);
        assert_hr(vss_requester_add_to_snapshot_set(b.r, TOP "/full", NULL, &id), VSS_E_INSUFFICIENT_STORAGE, b.r);
        backup_done(&b);
        assert_int_equal(vss_lv_count(), 0);
}

static void test_vg_without_room(void **state) {
        Backup b = {};
        vss_id id;

        /* Take every free extent: a classic snapshot then has nowhere for its COW area. */
        assert_int_equal(sh("lvcreate -q -l 100%%FREE -n hog " VG), 0);
        backup_begin(&b, VSS_CTX_BACKUP);
        assert_hr(vss_requester_add_to_snapshot_set(b.r, TOP "/small", NULL, &id), VSS_E_INSUFFICIENT_STORAGE, b.r);
        backup_done(&b);
        assert_int_equal(sh("lvremove -q -f " VG "/hog"), 0);
        assert_int_equal(vss_lv_count(), 0);
}

/* Whether vssadmin list shadows shows snapshot id with state word. */
static bool shadow_state_is(const vss_id *id, const char *word) {
        char idbuf[VSS_ID_STRING_MAX];
        _cleanup_free_ char *cmd = NULL;
        char line[1024];
        bool seen = false, match = false;
        FILE *p;

        assert_int_not_equal(asprintf(&cmd, "%s --socket %s list shadows --json", build_program("VSSADMIN", "src/tools/vssadmin"),
                                      socket_path), -1);
        p = popen(cmd, "r");
        assert_non_null(p);
        vss_id_format(id, idbuf);
        /* One field a line is not promised: look for the id, then the next state field. */
        while (fgets(line, sizeof(line), p)) {
                char *s = line;

                while (s && *s) {
                        char *at_id = strstr(s, idbuf), *at_state = strstr(s, "\"state\"");

                        if (!seen && at_id) {
                                seen = true;
                                s = at_id + strlen(idbuf);
                                continue;
                        }
                        if (seen && at_state) {
                                match = strstr(at_state, word) == at_state + strlen("\"state\"") + 2 ||
                                        strstr(at_state, word) == at_state + strlen("\"state\"") + 1;
                                seen = false;
                                s = NULL;
                                break;
                        }
                        break;
                }
                if (match)
                        break;
        }
        pclose(p);
        return match;
}

static void test_classic_overflow(void **state) {
        Volume small = { .lv = "small", .mnt = TOP "/small" };
        const Volume *vols[] = { &small };
        Backup b = {};
        char device[512];

        backup_begin(&b, VSS_CTX_BACKUP);
        assert_hr(vss_requester_add_to_snapshot_set(b.r, small.mnt, NULL, &b.snap[0]), S_OK, b.r);
        b.n = 1;
        assert_hr(ASYNC(vss_requester_prepare_for_backup, b.r), S_OK, b.r);
        assert_hr(ASYNC(vss_requester_do_snapshot_set, b.r), S_OK, b.r);
        assert_hr(vss_requester_get_snapshot_properties(b.r, &b.snap[0], &b.prop[0]), S_OK, b.r);
        snprintf(device, sizeof(device), "%s", b.prop[0].snapshot_device_object);
        (void) vols;
        assert_true(shadow_state_is(&b.snap[0], "present"));

        /* 40 MiB of new data through a 20 MiB COW area (lvm-cow-percent = 30 of 64 MiB): it
         * overflows. */
        assert_int_equal(sh("dd if=/dev/urandom of=" TOP "/small/big bs=1M count=40 status=none conv=fsync"), 0);
        assert_int_equal(sh("lvm lvs --noheadings -o lv_attr " VG " | grep -q '^  s.*I'"), 0);
        assert_true(shadow_state_is(&b.snap[0], "missing"));
        /* Nobody reads the broken copy: its mount is gone. */
        assert_int_equal(path_wait_gone(device, WAIT_MS), 0);
        backup_done(&b);
        assert_int_equal(wait_lv_count(0), 0);
        assert_int_equal(sh("rm -f " TOP "/small/big"), 0);
}

static void test_freeze_veto_leaves_nothing(void **state) {
        Backup b = {};
        pid_t veto = 0;
        uint64_t deadline;

        assert_int_equal(process_spawn((char *const[]) { (char *) build_program("VSS_TEST_WRITER", "tests/integration/vss-test-writer"),
                                                         (char *) "--name", (char *) "vetoer",
                                                         (char *) "--class", (char *) VETO_WRITER_CLASS,
                                                         (char *) "--component", (char *) ":vetoed",
                                                         (char *) "--veto", (char *) "freeze",
                                                         (char *) "--log", (char *) TOP "/veto.log", NULL },
                                       &veto, NULL), 0);
        /* It says it subscribed in its log. */
        deadline = now_usec() + WAIT_MS * USEC_PER_MSEC;
        while (sh("grep -q '^subscribed' " TOP "/veto.log 2>/dev/null") != 0 && now_usec() < deadline)
                (void) usleep(20000);

        backup_begin(&b, VSS_CTX_BACKUP);
        {
                vss_id cls, inst;
                unsigned n = 0;

                assert_hr(vss_id_parse(VETO_WRITER_CLASS, &cls), S_OK, NULL);
                assert_hr(vss_requester_get_writer_metadata_count(b.r, &n), S_OK, b.r);
                for (unsigned i = 0; i < n; i++) {
                        vss_examine_writer_metadata *m;
                        vss_id wid;

                        assert_hr(vss_requester_get_writer_metadata(b.r, i, &inst, &m), S_OK, b.r);
                        assert_hr(vss_examine_writer_metadata_get_identity(m, &inst, &wid, NULL, NULL, NULL, NULL), S_OK, b.r);
                        if (vss_id_equal(&wid, &cls))
                                assert_hr(vss_requester_add_component(b.r, &inst, &wid, VSS_CT_FILEGROUP, NULL, "vetoed"),
                                          S_OK, b.r);
                }
        }
        assert_hr(vss_requester_add_to_snapshot_set(b.r, thin.mnt, NULL, &b.snap[0]), S_OK, b.r);
        assert_hr(vss_requester_add_to_snapshot_set(b.r, xfs.mnt, NULL, &b.snap[1]), S_OK, b.r);
        assert_hr(ASYNC(vss_requester_prepare_for_backup, b.r), S_OK, b.r);
        assert_true(VSS_FAILED(ASYNC(vss_requester_do_snapshot_set, b.r)));
        assert_int_equal(vss_lv_count(), 0);
        backup_done(&b);
        (void) process_stop(veto, 5000);
        assert_int_equal(wait_lv_count(0), 0);
}

/* Starts vss-test-writer with extra arguments and waits until it has subscribed. */
static pid_t start_test_writer(const char *name, const char *log, char *const extra[]) {
        char *argv[32] = { (char *) build_program("VSS_TEST_WRITER", "tests/integration/vss-test-writer"),
                           (char *) "--name", (char *) name, (char *) "--class", (char *) VETO_WRITER_CLASS,
                           (char *) "--component", (char *) ":vetoed", (char *) "--log", (char *) log };
        size_t k = 9;
        uint64_t deadline;
        pid_t pid = 0;

        for (size_t i = 0; extra[i] && k < ELEMENTSOF(argv) - 1; i++)
                argv[k++] = extra[i];
        argv[k] = NULL;
        assert_int_equal(process_spawn(argv, &pid, NULL), 0);
        deadline = now_usec() + WAIT_MS * USEC_PER_MSEC;
        while (sh("grep -q '^subscribed' %s 2>/dev/null", log) != 0 && now_usec() < deadline)
                (void) usleep(20000);
        return pid;
}

/* A write and fsync on the volume at mnt, in microseconds (the volume is not frozen). */
static uint64_t timed_write(const char *mnt) {
        _cleanup_free_ char *path = NULL;
        uint64_t start = now_usec();
        int fd;

        assert_int_not_equal(asprintf(&path, "%s/probe", mnt), -1);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "x", 1), 1);
        assert_int_equal(fsync(fd), 0);
        close(fd);
        return now_usec() - start;
}

static bool wait_file_grows(const char *path) {
        struct stat st;
        off_t size;
        uint64_t deadline = now_usec() + WAIT_MS * USEC_PER_MSEC;

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

/* The requester dies (SIGKILL) while the writers are inside Freeze. */
static void test_requester_killed_in_freeze(void **state) {
        pid_t slow, child;
        uint64_t deadline;
        int status;

        slow = start_test_writer("slowfreezer", TOP "/slow.log",
                                 (char *const[]) { (char *) "--hang", (char *) "freeze:4000", NULL });
        child = fork();
        assert_true(child >= 0);
        if (child == 0) {
                /* A requester that does not look back: no cmocka here. */
                vss_requester_options opts = VSS_REQUESTER_OPTIONS_INIT;
                vss_requester *r = NULL;
                vss_async *a = NULL;
                vss_id set, id;

                opts.socket_path = socket_path;
                if (vss_requester_new(&r, &opts) != S_OK || vss_requester_initialize_for_backup(r, NULL) != S_OK ||
                    vss_requester_set_backup_state(r, false, false, VSS_BT_FULL, false) != S_OK)
                        _exit(2);
                if (vss_requester_gather_writer_metadata(r, &a) != S_OK || vss_async_wait(a, VSS_INFINITE) != S_OK)
                        _exit(3);
                vss_async_release(a);
                if (vss_requester_start_snapshot_set(r, &set) != S_OK ||
                    vss_requester_add_to_snapshot_set(r, thin.mnt, NULL, &id) != S_OK ||
                    vss_requester_add_to_snapshot_set(r, xfs.mnt, NULL, &id) != S_OK)
                        _exit(4);
                if (vss_requester_prepare_for_backup(r, &a) != S_OK || vss_async_wait(a, VSS_INFINITE) != S_OK)
                        _exit(5);
                vss_async_release(a);
                if (vss_requester_do_snapshot_set(r, &a) != S_OK)
                        _exit(6);
                (void) vss_async_wait(a, VSS_INFINITE);
                _exit(0);
        }

        /* Kill it once the slow writer is inside its Freeze callback. */
        deadline = now_usec() + WAIT_MS * USEC_PER_MSEC;
        while (sh("grep -q '^begin=Freeze' " TOP "/slow.log 2>/dev/null") != 0 && now_usec() < deadline)
                (void) usleep(20000);
        assert_int_equal(sh("grep -q '^begin=Freeze' " TOP "/slow.log"), 0);
        assert_int_equal(kill(child, SIGKILL), 0);
        assert_int_equal(waitpid(child, &status, 0), child);

        /* Nothing frozen: the volumes take writes, the writers go on appending; no LV left. */
        (void) timed_write(thin.mnt);
        (void) timed_write(xfs.mnt);
        assert_true(wait_file_grows(thin.data));
        assert_true(wait_file_grows(xfs.data));
        assert_int_equal(wait_lv_count(0), 0);
        (void) process_stop(slow, 10000);
}

/* vssd dies (SIGKILL) while an lvcreate of its commit runs: the lvcreate finishes its own
 * suspend/resume, the volume takes writes again, and the next vssd removes the LV. */
static void test_vssd_killed_in_commit(void **state) {
        pid_t child;
        uint64_t deadline, killed_at = 0, write_us;
        bool seen = false;
        int status;

        child = fork();
        assert_true(child >= 0);
        if (child == 0) {
                vss_requester_options opts = VSS_REQUESTER_OPTIONS_INIT;
                vss_requester *r = NULL;
                vss_async *a = NULL;
                vss_id set, id;

                opts.socket_path = socket_path;
                if (vss_requester_new(&r, &opts) != S_OK || vss_requester_initialize_for_backup(r, NULL) != S_OK ||
                    vss_requester_set_context(r, VSS_CTX_APP_ROLLBACK) != S_OK ||
                    vss_requester_set_backup_state(r, false, false, VSS_BT_FULL, false) != S_OK)
                        _exit(2);
                if (vss_requester_gather_writer_metadata(r, &a) != S_OK || vss_async_wait(a, VSS_INFINITE) != S_OK)
                        _exit(3);
                vss_async_release(a);
                if (vss_requester_start_snapshot_set(r, &set) != S_OK ||
                    vss_requester_add_to_snapshot_set(r, thin.mnt, NULL, &id) != S_OK)
                        _exit(4);
                if (vss_requester_prepare_for_backup(r, &a) != S_OK || vss_async_wait(a, VSS_INFINITE) != S_OK)
                        _exit(5);
                vss_async_release(a);
                if (vss_requester_do_snapshot_set(r, &a) != S_OK)
                        _exit(6);
                (void) vss_async_wait(a, VSS_INFINITE);
                _exit(0);
        }

        /* The moment an lvcreate runs, vssd is killed. */
        deadline = now_usec() + 60 * USEC_PER_SEC;
        while (!seen && now_usec() < deadline) {
                seen = sh("grep -qs lvcreate /proc/[0-9]*/cmdline") == 0;
                if (!seen)
                        (void) usleep(2000);
        }
        assert_true(seen);
        assert_int_equal(kill(vssd_pid, SIGKILL), 0);
        killed_at = now_usec();
        assert_int_equal(waitpid(vssd_pid, &status, 0), vssd_pid);
        vssd_pid = 0;

        write_us = timed_write(thin.mnt);
        fprintf(stderr, "test-lvm: writes accepted again %.1f ms after vssd was killed inside lvcreate "
                "(the write itself took %.1f ms)\n", (double) (now_usec() - killed_at) / 1000.0, (double) write_us / 1000.0);
        (void) waitpid(child, &status, 0);

        /* Let the orphaned lvcreate finish, then a new vssd cleans up after the old. */
        deadline = now_usec() + WAIT_MS * USEC_PER_MSEC;
        while (sh("grep -qs lvcreate /proc/[0-9]*/cmdline") == 0 && now_usec() < deadline)
                (void) usleep(50000);
        assert_int_equal(start_vssd(), 0);
        assert_int_equal(wait_lv_count(0), 0);
        assert_int_equal(sh("lvm lvs " VG "/thin >/dev/null && ! grep -q ' /run/vss-lvm-test/state/lvm/' /proc/mounts"), 0);
}

/* ---- One instant for the classic LVs of a set (the guardian's dm hold) --------------------- */

/* The dm device under the filesystem mounted at mnt: its sysfs "suspended" file. */
static void dm_suspended_path(const char *mnt, char *buf, size_t size) {
        struct stat st;

        assert_int_equal(stat(mnt, &st), 0);
        (void) snprintf(buf, size, "/sys/dev/block/%u:%u/dm/suspended", major(st.st_dev), minor(st.st_dev));
}

/* Whether that device is suspended now (sysfs: never the suspended filesystem itself). */
static bool dm_is_suspended(const char *path) {
        char c = '0';
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return false;
        if (read(fd, &c, 1) != 1)
                c = '0';
        close(fd);
        return c == '1';
}

/* Waits until both classic origins (xfs, ext) are suspended at once; false after timeout_ms. */
static bool wait_both_suspended(unsigned timeout_ms) {
        char a[128], b[128];
        uint64_t deadline = now_usec() + (uint64_t) timeout_ms * USEC_PER_MSEC;

        dm_suspended_path(xfs.mnt, a, sizeof(a));
        dm_suspended_path(ext.mnt, b, sizeof(b));
        while (now_usec() < deadline) {
                if (dm_is_suspended(a) && dm_is_suspended(b))
                        return true;
                (void) usleep(1000);
        }
        return false;
}

/* Microseconds since since until neither origin is suspended (fails after WAIT_MS). */
static uint64_t wait_both_resumed(uint64_t since) {
        char a[128], b[128];
        uint64_t deadline = now_usec() + WAIT_MS * USEC_PER_MSEC;

        dm_suspended_path(xfs.mnt, a, sizeof(a));
        dm_suspended_path(ext.mnt, b, sizeof(b));
        while (dm_is_suspended(a) || dm_is_suspended(b)) {
                if (now_usec() >= deadline)
                        fail_msg("a classic origin stayed suspended");
                (void) usleep(1000);
        }
        return now_usec() - since;
}

/*
 * The application without a writer: appends record k to <xfs>/counter.log and then to
 * <ext>/counter.log, k = 1, 2, ..., each write waiting for the one before. Every state of the
 * two files it ever leaves is (k, k) or (k, k-1): a set of both volumes taken at one instant
 * holds one of those.
 */
static pid_t start_counter(void) {
        pid_t pid = fork();

        assert_true(pid >= 0);
        if (pid == 0) {
                int a = open(TOP "/plain/counter.log", O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
                int b = open(TOP "/plain2/counter.log", O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
                char rec[RECORD_SIZE + 1];

                if (a < 0 || b < 0)
                        _exit(2);
                for (uint64_t k = 1;; k++) {
                        (void) snprintf(rec, sizeof(rec), "seq=%010" PRIu64 "\n", k);
                        if (write(a, rec, RECORD_SIZE) != RECORD_SIZE || write(b, rec, RECORD_SIZE) != RECORD_SIZE)
                                _exit(3);
                        (void) usleep(500);
                }
        }
        return pid;
}

/* The counter's records in the snapshot mounted at device, checked one by one. */
static uint64_t counter_records(const char *device) {
        _cleanup_free_ char *path = NULL, *buf = NULL;
        char expected[32];
        size_t size = 0;
        uint64_t n;

        assert_int_not_equal(asprintf(&path, "%s/counter.log", device), -1);
        assert_int_equal(read_file_full(path, &buf, &size), 0);
        assert_int_equal(size % RECORD_SIZE, 0);
        n = size / RECORD_SIZE;
        for (uint64_t i = 0; i < n; i++) {
                (void) snprintf(expected, sizeof(expected), "seq=%010" PRIu64 "\n", i + 1);
                assert_memory_equal(buf + i * RECORD_SIZE, expected, RECORD_SIZE);
        }
        return n;
}

static void wait_counter(void) {
        struct stat st;
        uint64_t deadline = now_usec() + WAIT_MS * USEC_PER_MSEC;

        while (now_usec() < deadline) {
                if (stat(TOP "/plain2/counter.log", &st) == 0 && st.st_size > 100 * RECORD_SIZE)
                        return;
                (void) usleep(10000);
        }
        fail_msg("the counter wrote nothing");
}

/* Two classic LVs, several backups: both snapshots end at one step of the counter, and each
 * writer's snapshot at its Freeze. Before the dm hold they lay one lvcreate apart (hundreds
 * of steps under TCG). */
static void test_one_instant_classic(void **state) {
        const Volume *vols[] = { &xfs, &ext };
        pid_t counter = start_counter();

        wait_counter();
        wait_records(&xfs);
        wait_records(&ext);
        for (unsigned i = 0; i < ONE_INSTANT_BACKUPS; i++) {
                Backup b = {};
                uint64_t first, second;

                backup_run(&b, vols, 2, VSS_CTX_BACKUP);
                first = counter_records(b.prop[0].snapshot_device_object);
                second = counter_records(b.prop[1].snapshot_device_object);
                fprintf(stderr, "test-lvm: backup %u of two classic LVs: the counter at %" PRIu64 " and %" PRIu64
                        " (skew %" PRId64 " steps)\n", i + 1, first, second, (int64_t) first - (int64_t) second);
                assert_true(first > 0);
                assert_true(first == second || first == second + 1);
                check_consistent(&xfs, b.prop[0].snapshot_device_object);
                check_consistent(&ext, b.prop[1].snapshot_device_object);
                release_and_check_gone(&b);
        }
        /* It dies of the SIGTERM: that is its only way out. */
        (void) process_stop(counter, 5000);
}

/* The second lvcreate of the hold fails (its name is taken by an LV that is not ours): both
 * origins are resumed, the first snapshot is removed, the other LV is left alone. */
static void test_one_instant_lvcreate_fails(void **state) {
        char name[64], idbuf[VSS_ID_STRING_MAX], a[128], b_path[128];
        Backup b = {};
        uint64_t write_us;

        backup_begin(&b, VSS_CTX_BACKUP);
        assert_hr(vss_requester_add_to_snapshot_set(b.r, xfs.mnt, NULL, &b.snap[0]), S_OK, b.r);
        assert_hr(vss_requester_add_to_snapshot_set(b.r, ext.mnt, NULL, &b.snap[1]), S_OK, b.r);
        (void) snprintf(name, sizeof(name), "vss-%s", vss_id_format(&b.snap[1], idbuf));
        assert_int_equal(sh("lvcreate -q -L 8M -n %s " VG, name), 0);
        assert_hr(ASYNC(vss_requester_prepare_for_backup, b.r), S_OK, b.r);
        assert_true(VSS_FAILED(ASYNC(vss_requester_do_snapshot_set, b.r)));

        dm_suspended_path(xfs.mnt, a, sizeof(a));
        dm_suspended_path(ext.mnt, b_path, sizeof(b_path));
        assert_false(dm_is_suspended(a));
        assert_false(dm_is_suspended(b_path));
        write_us = timed_write(xfs.mnt) + timed_write(ext.mnt);
        fprintf(stderr, "test-lvm: after an lvcreate failed inside the hold, a write on each volume took %.1f ms\n",
                (double) write_us / 1000.0);
        backup_done(&b);
        /* Only the stranger's LV: ours is gone, theirs untouched. */
        assert_int_equal(wait_lv_count(1), 1);
        assert_int_equal(sh("lvm lvs " VG "/%s >/dev/null", name), 0);
        assert_int_equal(sh("lvremove -q -f " VG "/%s", name), 0);
        assert_int_equal(vss_lv_count(), 0);
}

/* The pid of vssd's guardian (a child of vssd named vss-guardian), or 0. */
static pid_t guardian_of_vssd(void) {
        _cleanup_free_ char *cmd = NULL;
        FILE *p;
        int pid = 0;

        assert_int_not_equal(asprintf(&cmd, "for f in /proc/[0-9]*/stat; do read -r l <$f 2>/dev/null || continue; "
                                            "case \"$l\" in *'(vss-guardian) '[A-Z]' %d '*) echo ${l%%%% *};; esac; done",
                                      (int) vssd_pid), -1);
        p = popen(cmd, "r");
        assert_non_null(p);
        if (fscanf(p, "%d", &pid) != 1)
                pid = 0;
        pclose(p);
        return pid;
}

/* Starts a backup of both classic LVs and returns once both origins are suspended (inside
 * the hold); *ret_async runs on. */
static void backup_into_hold(Backup *b, vss_async **ret_async) {
        backup_begin(b, VSS_CTX_BACKUP);
        assert_hr(vss_requester_add_to_snapshot_set(b->r, xfs.mnt, NULL, &b->snap[0]), S_OK, b->r);
        assert_hr(vss_requester_add_to_snapshot_set(b->r, ext.mnt, NULL, &b->snap[1]), S_OK, b->r);
        assert_hr(ASYNC(vss_requester_prepare_for_backup, b->r), S_OK, b->r);
        assert_hr(vss_requester_do_snapshot_set(b->r, ret_async), S_OK, b->r);
        assert_true(wait_both_suspended(60000));
}

/* The guardian is SIGKILLed inside the hold: vssd's watch resumes both origins, the set
 * fails and leaves no LV. */
static void test_one_instant_guardian_killed(void **state) {
        Backup b = {};
        vss_async *a = NULL;
        vss_hr result = S_OK;
        uint64_t killed_at, resumed_us, write_us;
        pid_t guardian;

        backup_into_hold(&b, &a);
        guardian = guardian_of_vssd();
        assert_true(guardian > 0);
        assert_int_equal(kill(guardian, SIGKILL), 0);
        killed_at = now_usec();
        resumed_us = wait_both_resumed(killed_at);
        write_us = timed_write(xfs.mnt);
        write_us += timed_write(ext.mnt);
        fprintf(stderr, "test-lvm: guardian killed inside the dm hold: both origins resumed %.1f ms after, writes "
                "accepted %.1f ms after (the two writes took %.1f ms)\n", (double) resumed_us / 1000.0,
                (double) (now_usec() - killed_at) / 1000.0, (double) write_us / 1000.0);
        assert_true(resumed_us < USEC_PER_SEC);

        assert_hr(vss_async_wait(a, VSS_INFINITE), S_OK, b.r);
        assert_hr(vss_async_query_status(a, &result), S_OK, b.r);
        vss_async_release(a);
        assert_true(VSS_FAILED(result));
        backup_done(&b);
        assert_int_equal(wait_lv_count(0), 0);
}

/* vssd is SIGKILLed inside the hold: the guardian resumes both origins; the next vssd
 * removes whatever LV the orphaned lvcreate made. */
static void test_one_instant_vssd_killed(void **state) {
        Backup b = {};
        vss_async *a = NULL;
        uint64_t killed_at, resumed_us, write_us, deadline;
        int status;

        backup_into_hold(&b, &a);
        assert_int_equal(kill(vssd_pid, SIGKILL), 0);
        killed_at = now_usec();
        resumed_us = wait_both_resumed(killed_at);
        write_us = timed_write(xfs.mnt);
        write_us += timed_write(ext.mnt);
        fprintf(stderr, "test-lvm: vssd killed inside the dm hold: both origins resumed %.1f ms after, writes "
                "accepted %.1f ms after (the two writes took %.1f ms)\n", (double) resumed_us / 1000.0,
                (double) (now_usec() - killed_at) / 1000.0, (double) write_us / 1000.0);
        assert_true(resumed_us < USEC_PER_SEC);
        assert_int_equal(waitpid(vssd_pid, &status, 0), vssd_pid);
        vssd_pid = 0;
        (void) vss_async_wait(a, VSS_INFINITE);
        vss_async_release(a);
        backup_done(&b);

        deadline = now_usec() + WAIT_MS * USEC_PER_MSEC;
        while (sh("grep -qs lvcreate /proc/[0-9]*/cmdline") == 0 && now_usec() < deadline)
                (void) usleep(50000);
        assert_int_equal(start_vssd(), 0);
        assert_int_equal(wait_lv_count(0), 0);
}

/* The pid of a running `lvm lvcreate` of ours (its arguments name a vss- LV), or 0. Read in
 * C, not by a shell loop: an lvcreate lasts about a second under TCG. */
static pid_t lvcreate_pid(void) {
        DIR *d = opendir("/proc");
        struct dirent *de;
        pid_t found = 0;

        assert_non_null(d);
        while (!found && (de = readdir(d))) {
                char path[300], buf[4096];
                ssize_t k;
                int fd;

                if (de->d_name[0] < '0' || de->d_name[0] > '9')
                        continue;
                (void) snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
                fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        continue;
                k = read(fd, buf, sizeof(buf) - 1);
                close(fd);
                if (k <= 0)
                        continue;
                buf[k] = 0;
                /* argv is NUL-separated: "lvm", "lvcreate", ..., "-n", "vss-<id>", ... */
                if (!streq(buf, "lvm") || (size_t) k < sizeof("lvm") + 8 || !streq(buf + 4, "lvcreate"))
                        continue;
                for (ssize_t i = 0; i < k; i++)
                        if (buf[i] == 0 && strncmp(buf + i + 1, "vss-", 4) == 0)
                                found = (pid_t) atoi(de->d_name);
        }
        closedir(d);
        return found;
}

/* An lvcreate SIGKILLed inside the hold: the hold is still the guardian's, resumed at once
 * when vssd sees the lvcreate gone; the set fails and leaves no LV of ours. */
static void test_one_instant_lvcreate_killed(void **state) {
        Backup b = {};
        vss_async *a = NULL;
        vss_hr result = S_OK;
        uint64_t deadline, killed_at, resumed_us;
        pid_t pid = 0;

        backup_into_hold(&b, &a);
        deadline = now_usec() + 60 * USEC_PER_SEC;
        while ((pid = lvcreate_pid()) <= 0 && now_usec() < deadline)
                (void) usleep(1000);
        assert_true(pid > 0);
        assert_int_equal(kill(pid, SIGKILL), 0);
        killed_at = now_usec();
        resumed_us = wait_both_resumed(killed_at);
        fprintf(stderr, "test-lvm: an lvcreate killed inside the dm hold: both origins resumed %.1f ms after\n",
                (double) resumed_us / 1000.0);
        assert_true(resumed_us < USEC_PER_SEC);
        (void) timed_write(xfs.mnt);
        (void) timed_write(ext.mnt);

        assert_hr(vss_async_wait(a, VSS_INFINITE), S_OK, b.r);
        assert_hr(vss_async_query_status(a, &result), S_OK, b.r);
        vss_async_release(a);
        assert_true(VSS_FAILED(result));
        backup_done(&b);
        assert_int_equal(wait_lv_count(0), 0);
}

/* lvm-cow-percent = 30 (the lab's vssd.conf): the snapshot of the 128 MiB classic LV has a
 * COW area of 30 % of it, 38.4 MiB, whole MiB, then LVM's 4 MiB extents: 40 MiB, where the
 * default 20 % would give 28 MiB. */
static void test_conf_cow_percent(void **state) {
        const Volume *vols[] = { &ext };
        Backup b = {};
        _cleanup_free_ char *cmd = NULL;
        char idbuf[VSS_ID_STRING_MAX];
        unsigned long long size = 0;
        FILE *p;

        wait_records(&ext);
        backup_run(&b, vols, 1, VSS_CTX_BACKUP);
        assert_int_not_equal(asprintf(&cmd, "lvm lvs --noheadings --units b --nosuffix -o lv_size " VG "/vss-%s",
                                      vss_id_format(&b.snap[0], idbuf)), -1);
        p = popen(cmd, "r");
        assert_non_null(p);
        assert_int_equal(fscanf(p, "%llu", &size), 1);
        pclose(p);
        fprintf(stderr, "test-lvm: COW area of the 128 MiB LV's snapshot at lvm-cow-percent = 30: %llu bytes\n", size);
        assert_int_equal(size, 40ULL << 20);
        release_and_check_gone(&b);
}

/* A snapshot this vssd made whose LV someone else removed: its delete finds it gone from
 * lvremove's own answer (no lvs first), counts it deleted, and leaves no LV behind. */
static void test_snapshot_removed_behind_vssd(void **state) {
        const Volume *vols[] = { &thin };
        char idbuf[VSS_ID_STRING_MAX];
        int32_t deleted = -1;
        vss_id failed;
        Backup b = {};

        wait_records(&thin);
        backup_run(&b, vols, 1, VSS_CTX_APP_ROLLBACK);
        assert_int_equal(sh("umount '%s' && lvremove -q -f " VG "/vss-%s", b.prop[0].snapshot_device_object,
                            vss_id_format(&b.snap[0], idbuf)), 0);
        assert_hr(vss_requester_delete_snapshots(b.r, &b.snap[0], VSS_OBJECT_SNAPSHOT, false, &deleted, &failed),
                  S_OK, b.r);
        assert_int_equal(deleted, 1);
        backup_done(&b);
        assert_int_equal(vss_lv_count(), 0);
}

static void test_restart_recovery(void **state) {
        const Volume *vols[] = { &thin };
        Backup b = {};
        char device[512];

        wait_records(&thin);
        backup_run(&b, vols, 1, VSS_CTX_APP_ROLLBACK);
        snprintf(device, sizeof(device), "%s", b.prop[0].snapshot_device_object);
        check_consistent(&thin, device);
        backup_done(&b);
        /* Persistent: it outlives its requester. */
        assert_int_equal(vss_lv_count(), 1);

        /* An orphan: a vss-tagged LV vssd's catalog never heard of (as a crash between
         * lvcreate and the catalog's record would leave). */
        assert_int_equal(sh("lvcreate -q -s -kn -n vss-00000000-0000-4000-8000-000000000001 "
                            "--addtag vss:00000000-0000-4000-8000-0000000000ff " VG "/thin"), 0);
        /* And a snapshot nobody tagged: never ours to touch. */
        assert_int_equal(sh("lvcreate -q -s -kn -n usersnap " VG "/thin"), 0);
        assert_int_equal(vss_lv_count(), 2);

        /* However it ends (SIGTERM, or SIGKILL when slow): recovery must cope with either. */
        (void) process_stop(vssd_pid, 10000);
        vssd_pid = 0;
        assert_int_equal(start_vssd(), 0);
        assert_int_equal(wait_lv_count(1), 1);
        assert_int_equal(sh("lvm lvs " VG "/usersnap >/dev/null"), 0);
        check_consistent(&thin, device);

        assert_int_equal(sh("%s --socket %s delete shadows --all >/dev/null", build_program("VSSADMIN", "src/tools/vssadmin"),
                            socket_path), 0);
        assert_int_equal(wait_lv_count(0), 0);
        assert_int_equal(sh("lvremove -q -f " VG "/usersnap"), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_thin_consistent),
                cmocka_unit_test(test_classic_xfs_consistent),
                cmocka_unit_test(test_two_lv_set),
                cmocka_unit_test(test_one_instant_classic),
                cmocka_unit_test(test_one_instant_lvcreate_fails),
                cmocka_unit_test(test_one_instant_guardian_killed),
                cmocka_unit_test(test_conf_cow_percent),
                cmocka_unit_test(test_freeze_veto_leaves_nothing),
                cmocka_unit_test(test_thin_pool_near_full),
                cmocka_unit_test(test_classic_overflow),
                cmocka_unit_test(test_vg_without_room),
                cmocka_unit_test(test_requester_killed_in_freeze),
                cmocka_unit_test(test_snapshot_removed_behind_vssd),
                cmocka_unit_test(test_restart_recovery),
                cmocka_unit_test(test_one_instant_vssd_killed),
                cmocka_unit_test(test_one_instant_lvcreate_killed),
                cmocka_unit_test(test_vssd_killed_in_commit),
        };

        if (getenv("VSS_LAB") == NULL || !streq(getenv("VSS_LAB"), "1") || geteuid() != 0) {
                fprintf(stderr, "test-lvm: runs inside the VM lab only (tests/lab/lab-run); skipping\n");
                return 77;
        }
        setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 1);
        /* For vss-test-writer, which takes vssd's socket from the environment. */
        setenv("VSS_SOCKET", socket_path, 1);
        /* TEST_LVM_FILTER: run only the tests matching this pattern (while working on one). */
        if (getenv("TEST_LVM_FILTER"))
                cmocka_set_test_filter(getenv("TEST_LVM_FILTER"));
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
