/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-btrfs-consistency: the whole VSS backup sequence against the real btrfs provider on a
 * loop-mounted btrfs, with a writer process that keeps appending records to a file in the
 * subvolume being snapshotted.
 *
 * What it proves: the snapshot is a read-only btrfs subvolume at
 * <mountpoint>/.vss-snapshots/<snapshot-id> holding exactly what the writer had made durable
 * at Freeze (complete records, ending at the sequence number the writer wrote down outside
 * the frozen volume, nothing after it), while the live file grew past that point once the
 * writer was thawed; the auto-release snapshot is gone once the requester is released. Also:
 * a path inside the subvolume resolves to the subvolume, and a path on a filesystem no
 * provider supports gets VSS_E_VOLUME_NOT_SUPPORTED.
 *
 * Needs root (loop devices, mount): exits 77 (skipped) otherwise. Environment: VSSD and
 * CONSISTENCY_WRITER name the programs (meson sets both).
 */
#include <errno.h>
#include <inttypes.h>
#include <linux/magic.h>
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
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <btrfsutil.h>

#include "async-wait.h"
#include "macro.h"
#include "requester-assert.h"
#include "root-harness.h"
#include "vss/vss.h"

#define CONSISTENCY_WRITER_CLASS "8e5d2f6a-3c41-4b7e-9f20-6a1d4c8b0e35"
#define RECORD_SIZE 15
#define IMAGE_SIZE (UINT64_C(1) << 30)
#define WAIT_MS 10000u

/* One backup's requester and what it created. */
typedef struct Backup {
        vss_requester *r;
        vss_id set_id;
        vss_id snapshot_id;
        vss_id writer_instance;
        vss_id writer_class;
        vss_snapshot_prop prop;
} Backup;

typedef struct Fixture {
        LoopBtrfs fs;
        char *subvol;      /* <mnt>/vol: the volume to snapshot */
        char *data_dir;    /* <mnt>/vol/data */
        char *data_file;   /* <mnt>/vol/data/records.log: the writer appends here */
        char *record_file; /* <dir>/freeze-seq: outside the frozen volume */
        char *plain;       /* <dir>/plain: a tmpfs, which no provider supports */
        bool plain_mounted;
        char *socket;
        char *state_dir;
        pid_t vssd;
        pid_t writer;
        Backup backup;     /* the current test's; released by backup_teardown even on failure */
} Fixture;

static void backup_done(Backup *b) {
        vss_snapshot_prop_free(&b->prop);
        vss_requester_release(b->r);
        *b = (Backup) {};
}

/* Per-test teardown: a failed assertion must not leave a requester (and its set) behind. */
static int backup_teardown(void **state) {
        Fixture *f = *state;

        backup_done(&f->backup);
        return 0;
}

static char *path_join(const char *a, const char *b) {
        char *p;

        assert_int_not_equal(asprintf(&p, "%s/%s", a, b), -1);
        return p;
}

static off_t file_size(const char *path) {
        struct stat st;

        assert_int_equal(stat(path, &st), 0);
        return st.st_size;
}

/* Waits until path is larger than size; false after WAIT_MS. Not a timing assertion: the
 * bound only keeps a broken writer from hanging the test. */
static bool wait_file_larger(const char *path, off_t size) {
        uint64_t deadline = now_usec() + WAIT_MS * USEC_PER_MSEC;

        while (now_usec() < deadline) {
                if (file_size(path) > size)
                        return true;
                (void) usleep(5000);
        }
        return false;
}

static bool process_alive(pid_t pid) {
        return pid > 0 && waitpid(pid, NULL, WNOHANG) == 0;
}

static int fixture_teardown(void **state) {
        Fixture *f = *state;
        int r = 0;

        if (!f)
                return 0;

        /* Writer first: it has the data file open, and the filesystem must become idle. */
        if (f->writer > 0 && process_stop(f->writer, 5000) < 0) {
                fprintf(stderr, "consistency-writer did not exit cleanly\n");
                r = -1;
        }
        if (f->vssd > 0 && process_stop(f->vssd, 5000) < 0) {
                fprintf(stderr, "vssd did not exit cleanly\n");
                r = -1;
        }
        if (f->plain_mounted && umount2(f->plain, MNT_DETACH) < 0)
                r = -1;
        if (loop_btrfs_teardown(&f->fs) < 0)
                r = -1;

        free(f->subvol);
        free(f->data_dir);
        free(f->data_file);
        free(f->record_file);
        free(f->plain);
        free(f->socket);
        free(f->state_dir);
        free(f);
        *state = NULL;
        return r;
}

static int start_daemons(Fixture *f) {
        char line[64];
        int out = -EBADF, r;

        r = process_spawn((char *const[]) { (char *) build_program("VSSD", "src/vssd/vssd"),
                                            (char *) "--socket", f->socket,
                                            (char *) "--state-dir", f->state_dir,
                                            (char *) "--event-timeout", (char *) "20000", NULL },
                          &f->vssd, NULL);
        if (r < 0)
                return r;
        r = unix_socket_wait(f->socket, f->vssd, WAIT_MS);
        if (r == -ESRCH)
                f->vssd = 0; /* already reaped */
        if (r < 0)
                return r;

        r = process_spawn((char *const[]) { (char *) build_program("CONSISTENCY_WRITER", "tests/root/consistency-writer"),
                                            (char *) "--socket", f->socket,
                                            (char *) "--data", f->data_file,
                                            (char *) "--freeze-record", f->record_file,
                                            (char *) "--name", (char *) "consistency-1", NULL },
                          &f->writer, &out);
        if (r < 0)
                return r;
        r = read_line_timeout(out, line, sizeof(line), WAIT_MS);
        (void) close(out);
        if (r < 0)
                return r;
        return streq(line, "READY") ? 0 : -EPROTO;
}

static int fixture_setup(void **state) {
        Fixture *f;
        int r;

        f = calloc(1, sizeof(*f));
        if (!f)
                return -1;
        f->fs.loop_fd = -EBADF;
        *state = f;

        r = loop_btrfs_setup("/var/tmp/vss-root-XXXXXX", IMAGE_SIZE, &f->fs);
        if (r < 0) {
                fprintf(stderr, "cannot set up a loop-mounted btrfs: %s\n", strerror(-r));
                goto fail;
        }

        f->subvol = path_join(f->fs.mnt, "vol");
        f->data_dir = path_join(f->subvol, "data");
        f->data_file = path_join(f->data_dir, "records.log");
        f->record_file = path_join(f->fs.dir, "freeze-seq");
        f->plain = path_join(f->fs.dir, "plain");
        f->socket = path_join(f->fs.dir, "vssd.sock");
        f->state_dir = path_join(f->fs.dir, "state");

        if (btrfs_util_create_subvolume(f->subvol, 0, NULL, NULL) != BTRFS_UTIL_OK ||
            mkdir(f->data_dir, 0755) < 0 || mkdir(f->state_dir, 0700) < 0 || mkdir(f->plain, 0755) < 0) {
                fprintf(stderr, "cannot prepare the volume: %m\n");
                goto fail;
        }
        if (mount("vss-test-plain", f->plain, "tmpfs", 0, "size=1m") < 0) {
                fprintf(stderr, "cannot mount tmpfs: %m\n");
                goto fail;
        }
        f->plain_mounted = true;

        r = start_daemons(f);
        if (r < 0) {
                fprintf(stderr, "cannot start vssd and the writer: %s\n", strerror(-r));
                goto fail;
        }
        return 0;

fail:
        /* cmocka does not call the group teardown when the group setup fails. */
        (void) fixture_teardown(state);
        return -1;
}

/* Gathers metadata and selects the consistency writer's component; exactly one such writer. */
static void select_writer(Backup *b) {
        vss_id class_id;
        unsigned n = 0, found = 0;

        assert_hr(vss_id_parse(CONSISTENCY_WRITER_CLASS, &class_id), S_OK, NULL);
        assert_hr(ASYNC(vss_requester_gather_writer_metadata, b->r), S_OK, b->r);
        assert_hr(vss_requester_get_writer_metadata_count(b->r, &n), S_OK, b->r);

        for (unsigned i = 0; i < n; i++) {
                vss_examine_writer_metadata *m;
                vss_id inst, wid;

                assert_hr(vss_requester_get_writer_metadata(b->r, i, &inst, &m), S_OK, b->r);
                assert_hr(vss_examine_writer_metadata_get_identity(m, &inst, &wid, NULL, NULL, NULL, NULL), S_OK,
                          b->r);
                if (!vss_id_equal(&wid, &class_id))
                        continue;
                found++;
                b->writer_instance = inst;
                b->writer_class = wid;
                assert_hr(vss_requester_add_component(b->r, &inst, &wid, VSS_CT_FILEGROUP, NULL, "records"), S_OK,
                          b->r);
        }
        assert_int_equal(found, 1);
}

/*
 * The good path up to GatherWriterStatus, snapshotting volume. Leaves b->r alive (the
 * auto-release snapshot lives until it is released) with the snapshot's properties.
 */
static void backup_run(const Fixture *f, const char *volume, Backup *b) {
        vss_requester_options opts = VSS_REQUESTER_OPTIONS_INIT;
        vss_writer_state ws = VSS_WS_UNKNOWN;
        vss_hr failure = E_FAIL;
        unsigned n = 0, ours = 0;

        opts.socket_path = f->socket;
        assert_hr(vss_requester_new(&b->r, &opts), S_OK, NULL);
        assert_hr(vss_requester_initialize_for_backup(b->r, NULL), S_OK, b->r);
        assert_hr(vss_requester_set_context(b->r, VSS_CTX_BACKUP), S_OK, b->r);
        assert_hr(vss_requester_set_backup_state(b->r, true, false, VSS_BT_FULL, false), S_OK, b->r);
        select_writer(b);
        assert_hr(vss_requester_start_snapshot_set(b->r, &b->set_id), S_OK, b->r);
        assert_hr(vss_requester_add_to_snapshot_set(b->r, volume, NULL, &b->snapshot_id), S_OK, b->r);
        assert_hr(ASYNC(vss_requester_prepare_for_backup, b->r), S_OK, b->r);
        assert_hr(ASYNC(vss_requester_do_snapshot_set, b->r), S_OK, b->r);
        assert_hr(vss_requester_get_snapshot_properties(b->r, &b->snapshot_id, &b->prop), S_OK, b->r);
        assert_hr(vss_requester_set_backup_succeeded(b->r, &b->writer_instance, &b->writer_class,
                                                     VSS_CT_FILEGROUP, NULL, "records", true),
                  S_OK, b->r);
        assert_hr(ASYNC(vss_requester_backup_complete, b->r), S_OK, b->r);
        assert_hr(ASYNC(vss_requester_gather_writer_status, b->r), S_OK, b->r);

        assert_hr(vss_requester_get_writer_status_count(b->r, &n), S_OK, b->r);
        for (unsigned i = 0; i < n; i++) {
                vss_id inst;

                assert_hr(vss_requester_get_writer_status(b->r, i, &inst, NULL, NULL, &ws, &failure), S_OK, b->r);
                if (!vss_id_equal(&inst, &b->writer_instance))
                        continue;
                ours++;
                assert_string_equal(vss_writer_state_to_string(ws), vss_writer_state_to_string(VSS_WS_STABLE));
                assert_hr(failure, S_OK, b->r);
        }
        assert_int_equal(ours, 1);
}

/* The snapshot's identity and shape: read-only subvolume at <mnt>/.vss-snapshots/<id>. */
static void check_snapshot_properties(const Fixture *f, const Backup *b) {
        _cleanup_free_ char *expected_device = NULL;
        char idbuf[VSS_ID_STRING_MAX];
        bool read_only = false;
        size_t len;

        assert_true(vss_id_equal(&b->prop.snapshot_id, &b->snapshot_id));
        assert_true(vss_id_equal(&b->prop.snapshot_set_id, &b->set_id));
        assert_non_null(b->prop.snapshot_device_object);
        assert_non_null(b->prop.original_volume_name);

        /* The volume is the subvolume itself, whatever path inside it was given. */
        len = strlen(b->prop.original_volume_name);
        if (len > 1 && b->prop.original_volume_name[len - 1] == '/')
                len--;
        assert_int_equal(len, strlen(f->subvol));
        assert_memory_equal(b->prop.original_volume_name, f->subvol, len);

        assert_int_not_equal(asprintf(&expected_device, "%s/.vss-snapshots/%s", f->fs.mnt,
                                      vss_id_format(&b->snapshot_id, idbuf)), -1);
        assert_string_equal(b->prop.snapshot_device_object, expected_device);

        assert_int_equal(btrfs_util_is_subvolume(b->prop.snapshot_device_object), BTRFS_UTIL_OK);
        assert_int_equal(btrfs_util_get_subvolume_read_only(b->prop.snapshot_device_object, &read_only),
                         BTRFS_UTIL_OK);
        assert_true(read_only);
}

static uint64_t read_freeze_record(const Fixture *f) {
        _cleanup_free_ char *text = NULL;
        char *end;
        uint64_t seq;

        assert_int_equal(read_file_full(f->record_file, &text, NULL), 0);
        errno = 0;
        seq = strtoull(text, &end, 10);
        assert_int_equal(errno, 0);
        assert_true(end != text && *end == '\n');
        return seq;
}

/* Every record of buf is complete and numbered 1, 2, … in order; returns how many. */
static uint64_t check_records(const char *buf, size_t size) {
        char expected[32];
        uint64_t n;

        assert_int_equal(size % RECORD_SIZE, 0);
        n = size / RECORD_SIZE;
        for (uint64_t i = 0; i < n; i++) {
                (void) snprintf(expected, sizeof(expected), "seq=%010" PRIu64 "\n", i + 1);
                if (memcmp(buf + i * RECORD_SIZE, expected, RECORD_SIZE) != 0) {
                        print_error("record %" PRIu64 " is \"%.*s\"\n", i + 1, RECORD_SIZE,
                                    buf + i * RECORD_SIZE);
                        fail();
                }
        }
        return n;
}

static void release_and_check_deleted(Backup *b) {
        _cleanup_free_ char *device = strdup(b->prop.snapshot_device_object);

        assert_non_null(device);
        backup_done(b);
        /* vssd deletes auto-release snapshots when it sees the requester's connection close. */
        assert_int_equal(path_wait_gone(device, WAIT_MS), 0);
}

static void test_snapshot_holds_state_at_freeze(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *snap_file = NULL, *snap_data = NULL, *live_data = NULL;
        Backup *b = &f->backup;
        size_t snap_size, live_size;
        uint64_t frozen_seq, snap_records;

        /* Let the writer get going, so the snapshot has something to be consistent about. */
        assert_true(wait_file_larger(f->data_file, 100 * RECORD_SIZE));

        backup_run(f, f->subvol, b);
        check_snapshot_properties(f, b);

        frozen_seq = read_freeze_record(f);
        assert_true(frozen_seq >= 100);

        snap_file = path_join(b->prop.snapshot_device_object, "data/records.log");
        assert_int_equal(read_file_full(snap_file, &snap_data, &snap_size), 0);
        snap_records = check_records(snap_data, snap_size);
        /* Exactly what was durable at Freeze: nothing lost, nothing written during the hold. */
        if (snap_records != frozen_seq) {
                print_error("the snapshot holds %" PRIu64 " records, the writer had %" PRIu64 " at Freeze\n",
                            snap_records, frozen_seq);
                fail();
        }

        /* The writer was thawed and kept writing; the live file still starts with the same records. */
        assert_true(wait_file_larger(f->data_file, (off_t) snap_size));
        assert_int_equal(read_file_full(f->data_file, &live_data, &live_size), 0);
        assert_true(live_size > snap_size);
        assert_memory_equal(live_data, snap_data, snap_size);

        /* The snapshot is read-only for real, not only flagged. */
        assert_int_equal(truncate(snap_file, 0), -1);
        assert_int_equal(errno, EROFS);

        assert_true(process_alive(f->writer));
        release_and_check_deleted(b);
}

static void test_path_inside_subvolume(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *snap_file = NULL;
        Backup *b = &f->backup;
        struct stat st;

        backup_run(f, f->data_dir, b);
        /* Resolved to the subvolume: same checks as for the subvolume's own path. */
        check_snapshot_properties(f, b);
        snap_file = path_join(b->prop.snapshot_device_object, "data/records.log");
        assert_int_equal(stat(snap_file, &st), 0);
        assert_int_equal(st.st_size % RECORD_SIZE, 0);
        assert_int_equal((uint64_t) st.st_size / RECORD_SIZE, read_freeze_record(f));

        assert_true(process_alive(f->writer));
        release_and_check_deleted(b);
}

static void test_unsupported_volumes(void **state) {
        Fixture *f = *state;
        vss_requester_options opts = VSS_REQUESTER_OPTIONS_INIT;
        _cleanup_free_ char *missing = NULL;
        vss_requester *r;
        vss_id set_id, snap_id;
        bool supported = true;
        struct statfs sfs;

        assert_int_equal(statfs(f->plain, &sfs), 0);
        assert_true((unsigned long) sfs.f_type != BTRFS_SUPER_MAGIC);
        missing = path_join(f->subvol, "no-such-dir");

        opts.socket_path = f->socket;
        assert_hr(vss_requester_new(&f->backup.r, &opts), S_OK, NULL);
        r = f->backup.r;
        assert_hr(vss_requester_initialize_for_backup(r, NULL), S_OK, r);

        assert_hr(vss_requester_is_volume_supported(r, NULL, f->plain, &supported), S_OK, r);
        assert_false(supported);
        assert_hr(vss_requester_is_volume_supported(r, NULL, f->subvol, &supported), S_OK, r);
        assert_true(supported);

        assert_hr(vss_requester_start_snapshot_set(r, &set_id), S_OK, r);
        assert_hr(vss_requester_add_to_snapshot_set(r, f->plain, NULL, &snap_id), VSS_E_VOLUME_NOT_SUPPORTED, r);
        assert_hr(vss_requester_add_to_snapshot_set(r, missing, NULL, &snap_id), VSS_E_OBJECT_NOT_FOUND, r);
        /* The refusals lost nothing: the set still takes the btrfs volume. */
        assert_hr(vss_requester_add_to_snapshot_set(r, f->subvol, NULL, &snap_id), S_OK, r);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_snapshot_holds_state_at_freeze, backup_teardown),
                cmocka_unit_test_teardown(test_path_inside_subvolume, backup_teardown),
                cmocka_unit_test_teardown(test_unsupported_volumes, backup_teardown),
        };

        if (geteuid() != 0) {
                fprintf(stderr, "test-btrfs-consistency needs root (loop devices, mount); skipping\n");
                return 77;
        }
        /* A dying vssd must not take the test with it through SIGPIPE on the socket. */
        (void) signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
