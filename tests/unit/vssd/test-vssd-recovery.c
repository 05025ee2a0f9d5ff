/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-vssd-recovery.c: vssd killed with SIGKILL and started again on the same state
 * (root suite, real btrfs). Before the kill: a persistent snapshot (exposed), an auto-release
 * snapshot whose requester is still connected (exposed too), and, planted in the catalog, a
 * PREPARING row whose provider had already made the subvolume (a crash between commit and
 * record). After the restart: the auto-release snapshot and the planted one are gone from
 * disk and catalog and the auto-release exposure is unmounted; the persistent snapshot is
 * listed with its exposure still in place, and is deletable.
 *
 * Reconciliation with the provider's storage: a snapshot made of a known volume directly in
 * the provider's area (not through vssd) is deleted as an orphan at the next start, while a
 * sibling volume's, which the catalog never knew, is left alone (also once no row names the
 * volume any more: the catalog remembers its volumes); a snapshot deleted behind
 * vssd's back (`btrfs subvolume delete`) shows as "missing" in vssadmin while vssd runs, and
 * is gone from catalog and list after the restart.
 *
 * Exposures recorded without mount ids (an older vssd's catalog, or a crash between mount and
 * record): the mount at the path is kept only when it is provably the snapshot's bind mount
 * (and its ids recorded then); something else mounted there is left alone and the exposure
 * dropped.
 *
 * Needs root (loop device, mount): exits 77 (skipped) otherwise. Environment: VSSD, VSSADMIN.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <btrfsutil.h>
#include <sqlite3.h>

#include "macro.h"
#include "root-harness.h"
#include "vss-bus.h"
#include "vssd-fixture.h"

#define IMAGE_SIZE (UINT64_C(256) * 1024 * 1024)
#define BTRFS_PROVIDER_ID "5c0f6a0e-3b8d-4d2a-9f71-b7e2c4a90d13"

static LoopBtrfs fs;
static VssdFixture vssd;
static char vol[4096];

static int setup(void **state) {
        FILE *f;

        if (loop_btrfs_setup("/var/tmp/vss-recovery-XXXXXX", IMAGE_SIZE, &fs) < 0)
                return -1;
        snprintf(vol, sizeof(vol), "%s/vol", fs.mnt);
        if (btrfs_util_create_subvolume(vol, 0, NULL, NULL) != BTRFS_UTIL_OK)
                return -1;
        {
                char p[4200];

                snprintf(p, sizeof(p), "%s/data.txt", vol);
                f = fopen(p, "we");
                if (!f)
                        return -1;
                fputs("data\n", f);
                fclose(f);
        }
        if (vssd_fixture_init(&vssd, "/tmp/vssd-recovery-XXXXXX", false) < 0)
                return -1;
        return 0;
}

static int teardown(void **state) {
        vssd_fixture_done(&vssd);
        return loop_btrfs_teardown(&fs) < 0 ? -1 : 0;
}

static void snapshot_device(vss_requester *r, const vss_id *id, char *buf, size_t size) {
        vss_snapshot_prop prop = {};

        assert_int_equal(vss_requester_get_snapshot_properties(r, id, &prop), S_OK);
        assert_non_null(prop.snapshot_device_object);
        snprintf(buf, size, "%s", prop.snapshot_device_object);
        vss_snapshot_prop_free(&prop);
}

/* What a vssd killed between the provider's commit and its CREATED record leaves: a
 * PREPARING row naming a snapshot that exists. */
static void plant_preparing_row(char *ret_device, size_t size) {
        char db_path[4096], sql[16384];
        vss_id id, set_id;
        sqlite3 *db = NULL;

        vss_id_generate(&id);
        vss_id_generate(&set_id);
        snprintf(ret_device, size, "%s/.vss-snapshots/%s", fs.mnt, vss_id_to_str(&id).s);
        assert_int_equal(btrfs_util_create_snapshot(vol, ret_device, BTRFS_UTIL_CREATE_SNAPSHOT_READ_ONLY, NULL, NULL),
                         BTRFS_UTIL_OK);

        snprintf(db_path, sizeof(db_path), "%s/catalog.db", vssd.state_dir);
        snprintf(sql, sizeof(sql),
                 "INSERT INTO snapshot_sets (set_id, context) VALUES ('%s', %u);"
                 "INSERT INTO snapshots (snapshot_id, set_id, provider_id, volume, device, attributes, state) "
                 "VALUES ('%s', '%s', '%s', '%s', '%s', %u, 'preparing');",
                 vss_id_to_str(&set_id).s, VSS_CTX_NAS_ROLLBACK, vss_id_to_str(&id).s, vss_id_to_str(&set_id).s,
                 BTRFS_PROVIDER_ID, vol, ret_device, VSS_CTX_NAS_ROLLBACK);
        assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
}

static int64_t catalog_rows(void) {
        char db_path[4096];
        sqlite3 *db = NULL;
        sqlite3_stmt *s = NULL;
        int64_t n = -1;

        snprintf(db_path, sizeof(db_path), "%s/catalog.db", vssd.state_dir);
        assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM snapshots", -1, &s, NULL), SQLITE_OK);
        if (sqlite3_step(s) == SQLITE_ROW)
                n = sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
        sqlite3_close(db);
        return n;
}

static void test_recovery_after_sigkill(void **state) {
        char dev_p[4096], dev_a[4096], dev_planted[4096], mine[4096], opts[1024];
        vss_requester *r1 = NULL, *r2 = NULL, *r3 = NULL;
        vss_enum_object *e = NULL;
        const vss_object_prop *op;
        char *exp_p = NULL, *exp_a = NULL;
        vss_id set_id, persistent, auto_release, nondeleted;
        int32_t deleted = 0;
        unsigned n = 0;

        assert_int_equal(vssd_fixture_start(&vssd), 0);

        /* A persistent snapshot, exposed at a directory vssd picks; its requester leaves. */
        assert_int_equal(vss_requester_new(&r1, NULL), S_OK);
        assert_int_equal(make_snapshot(r1, VSS_CTX_NAS_ROLLBACK, vol, &set_id, &persistent), S_OK);
        snapshot_device(r1, &persistent, dev_p, sizeof(dev_p));
        assert_int_equal(vss_requester_expose_snapshot(r1, &persistent, NULL, &exp_p), S_OK);
        vss_requester_release(r1);
        assert_true(path_exists(dev_p));

        /* An auto-release snapshot whose requester is still connected when vssd dies. */
        assert_int_equal(vss_requester_new(&r2, NULL), S_OK);
        assert_int_equal(make_snapshot(r2, VSS_CTX_FILE_SHARE_BACKUP, vol, &set_id, &auto_release), S_OK);
        snapshot_device(r2, &auto_release, dev_a, sizeof(dev_a));
        snprintf(mine, sizeof(mine), "%s/mine", vssd.dir);
        assert_int_equal(mkdir(mine, 0755), 0);
        assert_int_equal(vss_requester_expose_snapshot(r2, &auto_release, mine, &exp_a), S_OK);
        assert_int_equal(mountinfo_options(mine, opts, sizeof(opts)), 1);

        assert_int_equal(vssd_fixture_kill(&vssd), 0);
        vss_requester_release(r2);
        /* Nobody cleaned up: both snapshots and both exposures are still there. */
        assert_true(path_exists(dev_a));
        assert_int_equal(mountinfo_options(mine, opts, sizeof(opts)), 1);
        assert_int_equal(mountinfo_options(exp_p, opts, sizeof(opts)), 1);

        plant_preparing_row(dev_planted, sizeof(dev_planted));
        assert_int_equal(catalog_rows(), 3);

        assert_int_equal(vssd_fixture_start(&vssd), 0);

        /* Auto-release and unfinished snapshots: gone from disk and catalog. */
        assert_false(path_exists(dev_a));
        assert_false(path_exists(dev_planted));
        assert_int_equal(mountinfo_options(mine, opts, sizeof(opts)), 0);
        assert_int_equal(catalog_rows(), 1);

        /* The persistent one is served again, its exposure kept. */
        assert_true(path_exists(dev_p));
        assert_int_equal(mountinfo_options(exp_p, opts, sizeof(opts)), 1);
        assert_true(mount_option_has(opts, "ro"));
        assert_int_equal(vss_requester_new(&r3, NULL), S_OK);
        assert_int_equal(vss_requester_initialize_for_backup(r3, NULL), S_OK);
        assert_int_equal(vss_requester_set_context(r3, VSS_CTX_ALL), S_OK);
        assert_int_equal(vss_requester_query(r3, NULL, VSS_OBJECT_NONE, VSS_OBJECT_SNAPSHOT, &e), S_OK);
        while (vss_enum_object_next(e, &op) == S_OK) {
                n++;
                assert_true(vss_id_equal(&op->obj.snap.snapshot_id, &persistent));
                assert_string_equal(op->obj.snap.snapshot_device_object, dev_p);
                assert_string_equal(op->obj.snap.original_volume_name, vol);
                assert_non_null(op->obj.snap.exposed_path);
                assert_string_equal(op->obj.snap.exposed_path, exp_p);
                assert_int_equal(op->obj.snap.status, VSS_SS_CREATED);
        }
        vss_enum_object_free(e);
        assert_int_equal(n, 1);

        /* ... and deletable: snapshot, exposure and row go. */
        assert_int_equal(vss_requester_delete_snapshots(r3, &persistent, VSS_OBJECT_SNAPSHOT, false, &deleted,
                                                        &nondeleted),
                         S_OK);
        assert_int_equal(deleted, 1);
        assert_false(path_exists(dev_p));
        assert_int_equal(mountinfo_options(exp_p, opts, sizeof(opts)), 0);
        assert_false(path_exists(exp_p));
        assert_int_equal(catalog_rows(), 0);
        vss_requester_release(r3);

        assert_int_equal(vssd_fixture_stop(&vssd), 0);
        free(exp_p);
        free(exp_a);
}

static void test_clean_restart_keeps_persistent(void **state) {
        vss_requester *r = NULL;
        vss_id set_id, snap, nondeleted;
        char dev[4096];
        int32_t deleted = 0;

        assert_int_equal(vssd_fixture_start(&vssd), 0);
        assert_int_equal(vss_requester_new(&r, NULL), S_OK);
        assert_int_equal(make_snapshot(r, VSS_CTX_NAS_ROLLBACK, vol, &set_id, &snap), S_OK);
        snapshot_device(r, &snap, dev, sizeof(dev));
        vss_requester_release(r);

        /* An orderly stop releases requesters but keeps persistent snapshots. */
        assert_int_equal(vssd_fixture_stop(&vssd), 0);
        assert_int_equal(vssd_fixture_start(&vssd), 0);
        assert_true(path_exists(dev));

        assert_int_equal(vss_requester_new(&r, NULL), S_OK);
        assert_int_equal(vss_requester_initialize_for_backup(r, NULL), S_OK);
        assert_int_equal(vss_requester_set_context(r, VSS_CTX_NAS_ROLLBACK), S_OK);
        assert_int_equal(vss_requester_delete_snapshots(r, &set_id, VSS_OBJECT_SNAPSHOT_SET, false, &deleted,
                                                        &nondeleted),
                         S_OK);
        assert_int_equal(deleted, 1);
        assert_false(path_exists(dev));
        /* Deleting it again: nothing left to find. */
        assert_int_equal(vss_requester_delete_snapshots(r, &set_id, VSS_OBJECT_SNAPSHOT_SET, false, &deleted,
                                                        &nondeleted),
                         VSS_E_OBJECT_NOT_FOUND);
        vss_requester_release(r);
        assert_int_equal(vssd_fixture_stop(&vssd), 0);
}

static char *mfree_str(char *s) {
        free(s);
        return NULL;
}

/* vssadmin list shadows --json against the fixture's vssd; the output (malloc'd). */
static char *list_shadows_json(void) {
        char *argv[] = { getenv("VSSADMIN"), (char *) "--socket", vssd.socket_path, (char *) "list",
                         (char *) "shadows", (char *) "--json", NULL };
        char *out = NULL;
        int status = -1;

        assert_non_null(argv[0]);
        assert_int_equal(run_capture(argv, &out, NULL, &status), 0);
        assert_int_equal(status, 0);
        return out;
}

/* The "state" vssadmin reports for shadow id in json, copied into buf; false if not listed. */
static bool shadow_state(const char *json, const vss_id *id, char *buf, size_t size) {
        char needle[128];
        const char *p, *end, *st;
        size_t n;

        snprintf(needle, sizeof(needle), "\"shadow_id\":\"%s\"", vss_id_to_str(id).s);
        p = strstr(json, needle);
        if (!p)
                return false;
        end = strchr(p, '}');
        st = strstr(p, "\"state\":\"");
        assert_non_null(end);
        assert_true(st && st < end);
        st += strlen("\"state\":\"");
        n = strcspn(st, "\"");
        assert_true(n < size);
        memcpy(buf, st, n);
        buf[n] = 0;
        return true;
}

/* A read-only snapshot of volume made the way the btrfs provider makes them, without vssd. */
static void snapshot_behind_vssd(const char *volume, vss_id *ret_id, char *ret_path, size_t size) {
        vss_id_generate(ret_id);
        snprintf(ret_path, size, "%s/.vss-snapshots/%s", fs.mnt, vss_id_to_str(ret_id).s);
        assert_int_equal(btrfs_util_create_snapshot(volume, ret_path, BTRFS_UTIL_CREATE_SNAPSHOT_READ_ONLY, NULL,
                                                    NULL),
                         BTRFS_UTIL_OK);
}

static void test_reconcile_with_provider(void **state) {
        char dev_kept[4096], dev_gone[4096], orphan[4096], foreign[4096], sibling[4096], buf[64];
        vss_id set_id, kept, gone, orphan_id, foreign_id, nondeleted;
        vss_requester *r = NULL;
        _cleanup_free_ char *json = NULL;
        int32_t deleted = 0;

        snprintf(sibling, sizeof(sibling), "%s/sibling", fs.mnt);
        assert_int_equal(btrfs_util_create_subvolume(sibling, 0, NULL, NULL), BTRFS_UTIL_OK);

        /* Two persistent snapshots of vol through vssd: the catalog knows vol from now on. */
        assert_int_equal(vssd_fixture_start(&vssd), 0);
        assert_int_equal(vss_requester_new(&r, NULL), S_OK);
        assert_int_equal(make_snapshot(r, VSS_CTX_NAS_ROLLBACK, vol, &set_id, &kept), S_OK);
        snapshot_device(r, &kept, dev_kept, sizeof(dev_kept));
        vss_requester_release(r);
        assert_int_equal(vss_requester_new(&r, NULL), S_OK);
        assert_int_equal(make_snapshot(r, VSS_CTX_NAS_ROLLBACK, vol, &set_id, &gone), S_OK);
        snapshot_device(r, &gone, dev_gone, sizeof(dev_gone));
        vss_requester_release(r);

        json = list_shadows_json();
        assert_true(shadow_state(json, &kept, buf, sizeof(buf)));
        assert_string_equal(buf, "present");
        assert_true(shadow_state(json, &gone, buf, sizeof(buf)));
        assert_string_equal(buf, "present");
        json = mfree_str(json);

        /* Deleted behind vssd's back while it runs: listed, but "missing". */
        assert_int_equal(btrfs_util_delete_subvolume(dev_gone, 0), BTRFS_UTIL_OK);
        json = list_shadows_json();
        assert_true(shadow_state(json, &gone, buf, sizeof(buf)));
        assert_string_equal(buf, "missing");
        assert_true(shadow_state(json, &kept, buf, sizeof(buf)));
        assert_string_equal(buf, "present");
        json = mfree_str(json);

        /* An orphan of vol, and a snapshot of a volume the catalog never knew, both made with
         * the provider's layout but not through vssd. */
        snapshot_behind_vssd(vol, &orphan_id, orphan, sizeof(orphan));
        snapshot_behind_vssd(sibling, &foreign_id, foreign, sizeof(foreign));

        assert_int_equal(vssd_fixture_stop(&vssd), 0);
        assert_int_equal(catalog_rows(), 2);
        assert_int_equal(vssd_fixture_start(&vssd), 0);

        /* The orphan is deleted; what belongs to an unknown volume is not vssd's to touch. */
        assert_false(path_exists(orphan));
        assert_true(path_exists(foreign));
        /* The missing snapshot's row is dropped; the present one stays, listed as present. */
        assert_int_equal(catalog_rows(), 1);
        assert_true(path_exists(dev_kept));
        json = list_shadows_json();
        assert_false(shadow_state(json, &gone, buf, sizeof(buf)));
        assert_true(shadow_state(json, &kept, buf, sizeof(buf)));
        assert_string_equal(buf, "present");
        json = mfree_str(json);

        /* The kept one is still an ordinary snapshot: deletable. */
        assert_int_equal(vss_requester_new(&r, NULL), S_OK);
        assert_int_equal(vss_requester_initialize_for_backup(r, NULL), S_OK);
        assert_int_equal(vss_requester_set_context(r, VSS_CTX_ALL), S_OK);
        assert_int_equal(vss_requester_delete_snapshots(r, &kept, VSS_OBJECT_SNAPSHOT, false, &deleted, &nondeleted),
                         S_OK);
        assert_int_equal(deleted, 1);
        assert_false(path_exists(dev_kept));
        vss_requester_release(r);
        assert_int_equal(vssd_fixture_stop(&vssd), 0);

        /* No row names vol any more, yet the catalog still knows the volume: an orphan made
         * now is found and deleted at the next start all the same. */
        assert_int_equal(catalog_rows(), 0);
        snapshot_behind_vssd(vol, &orphan_id, orphan, sizeof(orphan));
        assert_int_equal(vssd_fixture_start(&vssd), 0);
        assert_false(path_exists(orphan));
        assert_true(path_exists(foreign));
        assert_int_equal(catalog_rows(), 0);
        assert_int_equal(vssd_fixture_stop(&vssd), 0);

        assert_int_equal(btrfs_util_delete_subvolume(foreign, 0), BTRFS_UTIL_OK);
        assert_int_equal(btrfs_util_delete_subvolume(sibling, 0), BTRFS_UTIL_OK);
}

static int64_t sql_int(const char *sql) {
        char db_path[4096];
        sqlite3 *db = NULL;
        sqlite3_stmt *s = NULL;
        int64_t n = -1;

        snprintf(db_path, sizeof(db_path), "%s/catalog.db", vssd.state_dir);
        assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
        if (sqlite3_step(s) == SQLITE_ROW)
                n = sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
        sqlite3_close(db);
        return n;
}

/* What an older vssd wrote: the exposure's path only. */
static void forget_mount_ids(void) {
        char db_path[4096];
        sqlite3 *db = NULL;

        snprintf(db_path, sizeof(db_path), "%s/catalog.db", vssd.state_dir);
        assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db,
                                      "UPDATE snapshots SET exposed_mount_id = NULL, exposed_mount_unique_id = NULL, "
                                      "exposed_boot_id = NULL, exposed_uid = NULL, exposed_gids = NULL",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
        sqlite3_close(db);
}

static void test_exposure_without_mount_ids(void **state) {
        char other[4096], opts[1024];
        vss_requester *r = NULL;
        vss_id set_id, mine, theirs, nondeleted;
        char *exp_mine = NULL, *exp_theirs = NULL;
        int32_t deleted = 0;

        snprintf(other, sizeof(other), "%s/other", vssd.dir);
        assert_int_equal(mkdir(other, 0755), 0);

        assert_int_equal(vssd_fixture_start(&vssd), 0);
        assert_int_equal(vss_requester_new(&r, NULL), S_OK);
        assert_int_equal(make_snapshot(r, VSS_CTX_NAS_ROLLBACK, vol, &set_id, &mine), S_OK);
        assert_int_equal(vss_requester_expose_snapshot(r, &mine, NULL, &exp_mine), S_OK);
        vss_requester_release(r);
        assert_int_equal(vss_requester_new(&r, NULL), S_OK);
        assert_int_equal(make_snapshot(r, VSS_CTX_NAS_ROLLBACK, vol, &set_id, &theirs), S_OK);
        assert_int_equal(vss_requester_expose_snapshot(r, &theirs, other, &exp_theirs), S_OK);
        vss_requester_release(r);
        assert_int_equal(sql_int("SELECT count(*) FROM snapshots WHERE exposed_mount_id > 0 AND exposed_uid = 0"), 2);
        assert_int_equal(vssd_fixture_stop(&vssd), 0);

        /* The second mount is replaced by something that is not vssd's. */
        forget_mount_ids();
        assert_int_equal(umount2(other, 0), 0);
        assert_int_equal(mount("other", other, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m"), 0);

        assert_int_equal(vssd_fixture_start(&vssd), 0);
        /* Provably the snapshot's: kept, and its ids recorded now. */
        assert_int_equal(mountinfo_options(exp_mine, opts, sizeof(opts)), 1);
        assert_int_equal(sql_int("SELECT count(*) FROM snapshots WHERE exposed_mount_id > 0"), 1);
        /* Not provably it: left mounted, and the exposure dropped. */
        assert_int_equal(mountinfo_options(other, opts, sizeof(opts)), 1);
        assert_int_equal(sql_int("SELECT count(*) FROM snapshots WHERE exposed_path IS NOT NULL"), 1);

        /* Both deletable; the tmpfs survives. */
        assert_int_equal(vss_requester_new(&r, NULL), S_OK);
        assert_int_equal(vss_requester_initialize_for_backup(r, NULL), S_OK);
        assert_int_equal(vss_requester_set_context(r, VSS_CTX_ALL), S_OK);
        assert_int_equal(vss_requester_delete_snapshots(r, &mine, VSS_OBJECT_SNAPSHOT, false, &deleted, &nondeleted),
                         S_OK);
        assert_int_equal(vss_requester_delete_snapshots(r, &theirs, VSS_OBJECT_SNAPSHOT, false, &deleted, &nondeleted),
                         S_OK);
        vss_requester_release(r);
        assert_int_equal(mountinfo_options(exp_mine, opts, sizeof(opts)), 0);
        assert_int_equal(mountinfo_options(other, opts, sizeof(opts)), 1);
        assert_int_equal(umount2(other, 0), 0);
        assert_int_equal(vssd_fixture_stop(&vssd), 0);
        free(exp_mine);
        free(exp_theirs);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_recovery_after_sigkill),
                cmocka_unit_test(test_clean_restart_keeps_persistent),
                cmocka_unit_test(test_reconcile_with_provider),
                cmocka_unit_test(test_exposure_without_mount_ids),
        };

        if (geteuid() != 0) {
                fprintf(stderr, "test-vssd-recovery needs root (loop devices, mount); skipping.\n");
                return 77;
        }
        if (!getenv("VSSADMIN")) {
                fprintf(stderr, "VSSADMIN must name the built vssadmin; skipping.\n");
                return 77;
        }
        return cmocka_run_group_tests(tests, setup, teardown);
}
