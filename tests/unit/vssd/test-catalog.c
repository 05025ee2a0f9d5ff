/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-catalog.c: the SQLite snapshot catalog (catalog.c) and the start-up recovery built on
 * it (snapshot-catalog.c), without a daemon: the schema and its durability settings, every
 * lifecycle transition a row goes through, the refusals, and what recovery does with each
 * kind of leftover (using the test-copy provider, whose snapshots are plain directories).
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
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "macro.h"
#include "providers/provider-registry.h"
#include "vss-bus.h"
#include "vssd/catalog.h"
#include "vssd/snapshot-catalog.h"

#define TEST_COPY_ID "9e1d7a40-5b2c-4f3e-8a6d-0c4b3a2f1e5d"

static char dir[] = "/tmp/test-catalog-XXXXXX";
static char db_path[256];

static int setup(void **state) {
        if (!mkdtemp(dir))
                return -1;
        snprintf(db_path, sizeof(db_path), "%s/catalog.db", dir);
        /* As vssd does before opening its catalog: recovery acts through registered providers. */
        return provider_registry_init(&(ProviderConfig) { .state_dir = dir }, true) == S_OK ? 0 : -1;
}

static int teardown(void **state) {
        char cmd[512];

        provider_registry_done();
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        return system(cmd) == 0 ? 0 : -1;
}

/* Each test starts from an empty database. */
static void reset_db(void) {
        char p[300];

        (void) unlink(db_path);
        snprintf(p, sizeof(p), "%s-wal", db_path);
        (void) unlink(p);
        snprintf(p, sizeof(p), "%s-shm", db_path);
        (void) unlink(p);
}

static int64_t sql_int(const char *sql) {
        sqlite3 *db = NULL;
        sqlite3_stmt *s = NULL;
        int64_t v = -1;

        assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
        if (sqlite3_step(s) == SQLITE_ROW)
                v = sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
        sqlite3_close(db);
        return v;
}

static int sql_exec(const char *sql) {
        sqlite3 *db = NULL;
        int rc;

        assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
        sqlite3_close(db);
        return rc;
}

static CatalogRow row_new(const vss_id *set_id, const char *provider, const char *volume, const char *device,
                          uint32_t context, const vss_id *owner, CatalogState state) {
        CatalogRow row = {
                .set_id = *set_id,
                .volume = (char *) volume,
                .device = (char *) device,
                .context = context,
                .attributes = context,
                .owner = owner ? *owner : VSS_ID_NULL,
                .state = state,
        };

        vss_id_generate(&row.snapshot_id);
        assert_int_equal(vss_id_parse(provider, &row.provider_id), S_OK);
        return row;
}

static CatalogRow *find_row(CatalogRow *rows, size_t n, const vss_id *id) {
        for (size_t i = 0; i < n; i++)
                if (vss_id_equal(&rows[i].snapshot_id, id))
                        return &rows[i];
        return NULL;
}

static void test_schema(void **state) {
        CatalogDb *db = NULL;

        reset_db();
        assert_int_equal(catalog_db_open(db_path, &db), 0);

        assert_int_equal(sql_int("PRAGMA user_version"), 2);
        assert_int_equal(sql_int("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                                 "name IN ('snapshot_sets', 'snapshots')"), 2);
        /* WAL is a property of the file: any connection sees it. */
        {
                sqlite3 *raw = NULL;
                sqlite3_stmt *s = NULL;

                assert_int_equal(sqlite3_open(db_path, &raw), SQLITE_OK);
                assert_int_equal(sqlite3_prepare_v2(raw, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
                assert_int_equal(sqlite3_step(s), SQLITE_ROW);
                assert_string_equal((const char *) sqlite3_column_text(s, 0), "wal");
                sqlite3_finalize(s);
                sqlite3_close(raw);
        }
        /* The state column refuses values outside the lifecycle. */
        assert_int_equal(sql_exec("INSERT INTO snapshot_sets (set_id, context) VALUES ('s', 0);"
                                  "INSERT INTO snapshots (snapshot_id, set_id, provider_id, volume, attributes, state) "
                                  "VALUES ('x', 's', 'p', '/v', 0, 'bogus')"),
                         SQLITE_CONSTRAINT);
        catalog_db_close(db);

        /* Opening again keeps the schema (and does not fail on it). */
        assert_int_equal(catalog_db_open(db_path, &db), 0);
        catalog_db_close(db);
}

/* A catalog written by a vssd of schema version 1 (exposures recorded by path only) is
 * upgraded in place on open: rows kept, exposure ids and caller unknown. */
static void test_schema_upgrade_from_v1(void **state) {
        CatalogDb *db = NULL;
        CatalogRow *rows = NULL;
        size_t n = 0;

        reset_db();
        assert_int_equal(sql_exec("CREATE TABLE snapshot_sets (set_id TEXT PRIMARY KEY NOT NULL, context INTEGER NOT "
                                  "NULL, owner TEXT, created INTEGER NOT NULL DEFAULT 0, snapshot_count INTEGER NOT "
                                  "NULL DEFAULT 0);"
                                  "CREATE TABLE snapshots (seq INTEGER PRIMARY KEY AUTOINCREMENT, snapshot_id TEXT "
                                  "UNIQUE NOT NULL, set_id TEXT NOT NULL REFERENCES snapshot_sets(set_id), provider_id "
                                  "TEXT NOT NULL, volume TEXT NOT NULL, device TEXT, attributes INTEGER NOT NULL, state "
                                  "TEXT NOT NULL CHECK (state IN ('preparing', 'committing', 'created', 'deleting')), "
                                  "exposed_path TEXT);"
                                  "INSERT INTO snapshot_sets VALUES ('6f1c1a52-0d7e-4f51-9b1a-3c2d4e5f6a7b', 8, NULL, "
                                  "5, 1);"
                                  "INSERT INTO snapshots (snapshot_id, set_id, provider_id, volume, device, attributes, "
                                  "state, exposed_path) VALUES ('1a2b3c4d-5e6f-4a1b-8c2d-3e4f5a6b7c8d', "
                                  "'6f1c1a52-0d7e-4f51-9b1a-3c2d4e5f6a7b', '" TEST_COPY_ID "', '/vol', '/area/x', 8, "
                                  "'created', '/srv/exposed');"
                                  "PRAGMA user_version = 1;"),
                         SQLITE_OK);

        assert_int_equal(catalog_db_open(db_path, &db), 0);
        assert_int_equal(sql_int("PRAGMA user_version"), 2);
        assert_int_equal(catalog_db_list(db, &rows, &n), 0);
        assert_int_equal(n, 1);
        assert_string_equal(rows[0].exposure.path, "/srv/exposed");
        assert_true(rows[0].exposure.mount_id == 0);
        assert_true(rows[0].exposure.mount_unique_id == 0);
        assert_null(rows[0].exposure.boot_id);
        assert_int_equal(rows[0].exposure.uid, -1);
        assert_null(rows[0].exposure.gids);
        assert_string_equal(rows[0].device, "/area/x");
        catalog_rows_free(rows, n);
        catalog_db_close(db);

        /* Opening the upgraded file again changes nothing. */
        assert_int_equal(catalog_db_open(db_path, &db), 0);
        assert_int_equal(sql_int("PRAGMA user_version"), 2);
        catalog_db_close(db);
}

static void test_newer_schema_refused(void **state) {
        CatalogDb *db = NULL;

        reset_db();
        assert_int_equal(catalog_db_open(db_path, &db), 0);
        db = catalog_db_close(db);
        assert_int_equal(sql_exec("PRAGMA user_version = 99"), SQLITE_OK);
        assert_int_equal(catalog_db_open(db_path, &db), -EPROTONOSUPPORT);
        assert_null(db);
}

static void test_transitions(void **state) {
        CatalogDb *db = NULL;
        CatalogRow *rows = NULL, row;
        size_t n = 0;
        vss_id set_id, owner;
        char *devices[1] = { NULL };

        reset_db();
        assert_int_equal(catalog_db_open(db_path, &db), 0);
        vss_id_generate(&set_id);
        vss_id_generate(&owner);

        /* Intent: PREPARING, with the path the provider will use; the row makes the volume known
         * (what lets later intent rows on it be lazy, snapshot-catalog.c). */
        row = row_new(&set_id, TEST_COPY_ID, "/vol/a", "/area/one", VSS_CTX_BACKUP, &owner, CATALOG_PREPARING);
        assert_int_equal(catalog_db_volume_known(db, "/vol/a", &row.provider_id), 0);
        assert_int_equal(catalog_db_insert(db, &row, CATALOG_DURABLE), 0);
        assert_int_equal(catalog_db_volume_known(db, "/vol/a", &row.provider_id), 1);
        assert_int_equal(catalog_db_volume_known(db, "/vol/b", &row.provider_id), 0);
        assert_int_equal(catalog_db_list(db, &rows, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(rows[0].state, CATALOG_PREPARING);
        assert_string_equal(rows[0].device, "/area/one");
        assert_string_equal(rows[0].volume, "/vol/a");
        assert_true(vss_id_equal(&rows[0].owner, &owner));
        assert_true(vss_id_equal(&rows[0].set_id, &set_id));
        assert_int_equal(rows[0].set_count, 0);
        assert_null(rows[0].exposure.path);
        catalog_rows_free(rows, n);

        /* COMMITTING, as an older vssd wrote it before the writers froze: still read. */
        assert_int_equal(catalog_db_set_state(db, &row.snapshot_id, CATALOG_COMMITTING, CATALOG_LAZY), 0);
        assert_int_equal(catalog_db_list(db, &rows, &n), 0);
        assert_int_equal(rows[0].state, CATALOG_COMMITTING);
        catalog_rows_free(rows, n);

        /* DoSnapshotSet succeeded: CREATED, with the device the provider reported. */
        devices[0] = (char *) "/area/one-final";
        assert_int_equal(catalog_db_mark_created(db, &set_id, &row.snapshot_id, devices, 1, VSS_CTX_BACKUP, 4242, CATALOG_LAZY), 0);
        assert_int_equal(catalog_db_list(db, &rows, &n), 0);
        assert_int_equal(rows[0].state, CATALOG_CREATED);
        assert_int_equal(rows[0].set_count, 1);
        assert_int_equal(rows[0].created, 4242);
        assert_string_equal(rows[0].device, "/area/one-final");
        catalog_rows_free(rows, n);

        /* Exposure recorded with its mount's ids and caller (a unique id with the top bit set
         * survives SQLite's signed integers), and cleared. */
        {
                CatalogExposure e = {
                        .path = (char *) "/run/x",
                        .mount_id = 4711,
                        .mount_unique_id = UINT64_C(0x8000000000000123),
                        .boot_id = (char *) "0e5f6f6e-4b7a-4c39-9d55-0a1b2c3d4e5f",
                        .uid = 1234,
                        .gids = (char *) "34,100",
                };

                assert_int_equal(catalog_db_set_exposed(db, &row.snapshot_id, &e), 0);
        }
        assert_int_equal(catalog_db_list(db, &rows, &n), 0);
        assert_string_equal(rows[0].exposure.path, "/run/x");
        assert_true(rows[0].exposure.mount_id == 4711);
        assert_true(rows[0].exposure.mount_unique_id == UINT64_C(0x8000000000000123));
        assert_string_equal(rows[0].exposure.boot_id, "0e5f6f6e-4b7a-4c39-9d55-0a1b2c3d4e5f");
        assert_int_equal(rows[0].exposure.uid, 1234);
        assert_string_equal(rows[0].exposure.gids, "34,100");
        catalog_rows_free(rows, n);
        assert_int_equal(catalog_db_set_exposed(db, &row.snapshot_id, NULL), 0);
        assert_int_equal(catalog_db_list(db, &rows, &n), 0);
        assert_null(rows[0].exposure.path);
        assert_null(rows[0].exposure.boot_id);
        assert_null(rows[0].exposure.gids);
        assert_true(rows[0].exposure.mount_id == 0);
        assert_int_equal(rows[0].exposure.uid, -1);
        catalog_rows_free(rows, n);

        /* Deletion: DELETING, then gone, and the empty set with it. */
        assert_int_equal(catalog_db_set_state(db, &row.snapshot_id, CATALOG_DELETING, CATALOG_LAZY), 0);
        assert_int_equal(catalog_db_list(db, &rows, &n), 0);
        assert_int_equal(rows[0].state, CATALOG_DELETING);
        catalog_rows_free(rows, n);
        assert_int_equal(catalog_db_remove(db, &row.snapshot_id, CATALOG_DURABLE), 0);
        assert_int_equal(catalog_db_list(db, &rows, &n), 0);
        assert_int_equal(n, 0);
        catalog_rows_free(rows, n);
        catalog_db_close(db);
        assert_int_equal(sql_int("SELECT count(*) FROM snapshot_sets"), 0);
}

static void test_refusals(void **state) {
        CatalogDb *db = NULL;
        CatalogRow *rows = NULL, a, b, other;
        size_t n = 0;
        vss_id set_id, unknown, ids[2];

        reset_db();
        assert_int_equal(catalog_db_open(db_path, &db), 0);
        vss_id_generate(&set_id);
        vss_id_generate(&unknown);

        a = row_new(&set_id, TEST_COPY_ID, "/vol/a", "/area/a", VSS_CTX_NAS_ROLLBACK, NULL, CATALOG_PREPARING);
        assert_int_equal(catalog_db_insert(db, &a, CATALOG_LAZY), 0);
        assert_int_equal(catalog_db_insert(db, &a, CATALOG_LAZY), -EEXIST);

        /* A second snapshot of the same set must agree on the set's context and owner. */
        other = row_new(&set_id, TEST_COPY_ID, "/vol/b", "/area/b", VSS_CTX_BACKUP, NULL, CATALOG_PREPARING);
        assert_int_equal(catalog_db_insert(db, &other, CATALOG_LAZY), -EINVAL);
        b = row_new(&set_id, TEST_COPY_ID, "/vol/b", "/area/b", VSS_CTX_NAS_ROLLBACK, NULL, CATALOG_PREPARING);
        assert_int_equal(catalog_db_insert(db, &b, CATALOG_LAZY), 0);

        assert_int_equal(catalog_db_set_state(db, &unknown, CATALOG_CREATED, CATALOG_LAZY), -ENOENT);
        assert_int_equal(catalog_db_set_exposed(db, &unknown, &(CatalogExposure) { .path = (char *) "/x" }), -ENOENT);
        assert_int_equal(catalog_db_remove(db, &unknown, CATALOG_DURABLE), -ENOENT);

        /* mark_created is all or nothing: one unknown id and nothing changes. */
        ids[0] = a.snapshot_id;
        ids[1] = unknown;
        assert_int_equal(catalog_db_mark_created(db, &set_id, ids, NULL, 2, VSS_CTX_NAS_ROLLBACK, 1, CATALOG_DURABLE), -ENOENT);
        assert_int_equal(catalog_db_list(db, &rows, &n), 0);
        assert_int_equal(n, 2);
        assert_int_equal(find_row(rows, n, &a.snapshot_id)->state, CATALOG_PREPARING);
        assert_int_equal(find_row(rows, n, &a.snapshot_id)->set_count, 0);
        catalog_rows_free(rows, n);

        /* Removing one snapshot keeps the set while another one is in it. */
        assert_int_equal(catalog_db_remove(db, &a.snapshot_id, CATALOG_DURABLE), 0);
        catalog_db_close(db);
        assert_int_equal(sql_int("SELECT count(*) FROM snapshot_sets"), 1);
}

static bool path_exists_dir(const char *path) {
        struct stat st;

        return stat(path, &st) >= 0 && S_ISDIR(st.st_mode);
}

static char *make_dir(const char *name) {
        char *p = NULL;

        assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
        assert_int_equal(mkdir(p, 0755), 0);
        return p;
}

static void test_recovery(void **state) {
        _cleanup_free_ char *vol = NULL, *dev_p = NULL, *dev_a = NULL, *dev_r = NULL, *dev_d = NULL, *dev_c = NULL;
        SnapshotCatalog catalog = {};
        CatalogDb *db = NULL;
        CatalogRow *rows = NULL, p, a, r, c, d, u;
        vss_id set_p, set_a, set_r, owner;
        const char *detail = NULL;
        size_t n = 0;

        reset_db();
        vol = make_dir("volume");
        dev_p = make_dir("persistent");
        dev_a = make_dir("auto-release");
        dev_r = make_dir("preparing");
        dev_d = make_dir("deleting");
        assert_true(asprintf(&dev_c, "%s/never-made", dir) > 0);
        vss_id_generate(&set_p);
        vss_id_generate(&set_a);
        vss_id_generate(&set_r);
        vss_id_generate(&owner);

        assert_int_equal(catalog_db_open(db_path, &db), 0);
        p = row_new(&set_p, TEST_COPY_ID, vol, dev_p, VSS_CTX_NAS_ROLLBACK, NULL, CATALOG_PREPARING);
        assert_int_equal(catalog_db_insert(db, &p, CATALOG_LAZY), 0);
        assert_int_equal(catalog_db_mark_created(db, &set_p, &p.snapshot_id, NULL, 1, VSS_CTX_NAS_ROLLBACK, 100, CATALOG_DURABLE), 0);
        a = row_new(&set_a, TEST_COPY_ID, vol, dev_a, VSS_CTX_BACKUP, &owner, CATALOG_PREPARING);
        assert_int_equal(catalog_db_insert(db, &a, CATALOG_LAZY), 0);
        assert_int_equal(catalog_db_mark_created(db, &set_a, &a.snapshot_id, NULL, 1, VSS_CTX_BACKUP, 200, CATALOG_LAZY), 0);
        /* A crash after the provider's commit, before the record: the copy exists. */
        r = row_new(&set_r, TEST_COPY_ID, vol, dev_r, VSS_CTX_NAS_ROLLBACK, NULL, CATALOG_PREPARING);
        assert_int_equal(catalog_db_insert(db, &r, CATALOG_LAZY), 0);
        /* A crash before the commit: nothing on disk. */
        c = row_new(&set_r, TEST_COPY_ID, "/elsewhere", dev_c, VSS_CTX_NAS_ROLLBACK, NULL, CATALOG_COMMITTING);
        assert_int_equal(catalog_db_insert(db, &c, CATALOG_LAZY), 0);
        /* A crash in the middle of a deletion. */
        d = row_new(&set_p, TEST_COPY_ID, vol, dev_d, VSS_CTX_NAS_ROLLBACK, NULL, CATALOG_DELETING);
        assert_int_equal(catalog_db_insert(db, &d, CATALOG_LAZY), 0);
        /* A provider this vssd does not have: its row cannot be acted on and stays. */
        u = row_new(&set_r, "0badc0de-0000-4000-8000-000000000001", vol, "/nowhere", VSS_CTX_NAS_ROLLBACK, NULL,
                    CATALOG_PREPARING);
        assert_int_equal(catalog_db_insert(db, &u, CATALOG_LAZY), 0);
        catalog_db_close(db);

        assert_int_equal(catalog_open(&catalog, dir, NULL, 1), 0);

        /* Only the persistent snapshot is served; the leftovers are gone from disk. */
        assert_int_equal(catalog.n_records, 1);
        assert_non_null(catalog_find(&catalog, &p.snapshot_id));
        assert_null(catalog_find(&catalog, &a.snapshot_id));
        assert_int_equal(catalog_find(&catalog, &p.snapshot_id)->created, 100);
        assert_int_equal(catalog_find(&catalog, &p.snapshot_id)->snap->state, VSS_SS_CREATED);
        assert_true(path_exists_dir(dev_p));
        assert_false(path_exists_dir(dev_a));
        assert_false(path_exists_dir(dev_r));
        assert_false(path_exists_dir(dev_d));

        /* ... and from the catalog, except the row nobody can act on. */
        assert_int_equal(catalog_db_list(catalog.db, &rows, &n), 0);
        assert_int_equal(n, 2);
        assert_non_null(find_row(rows, n, &p.snapshot_id));
        assert_non_null(find_row(rows, n, &u.snapshot_id));
        catalog_rows_free(rows, n);

        /* The per-volume limit (1 here) counts the recovered snapshot. */
        assert_int_equal(catalog_check_limits(&catalog, vol, 0, &detail), VSS_E_MAXIMUM_NUMBER_OF_SNAPSHOTS_REACHED);
        assert_non_null(detail);
        assert_int_equal(catalog_check_limits(&catalog, "/other", 0, &detail), S_OK);

        /* A recovered snapshot is deletable like any other. */
        assert_int_equal(catalog_delete(&catalog, catalog_find(&catalog, &p.snapshot_id), false), S_OK);
        assert_false(path_exists_dir(dev_p));
        assert_int_equal(catalog.n_records, 0);
        catalog_done(&catalog);

        /* Nothing comes back on the next start. */
        assert_int_equal(catalog_open(&catalog, dir, NULL, 0), 0);
        assert_int_equal(catalog.n_records, 0);

        /* One vssd per state directory: a second one would recover the first one's live
         * snapshots away. */
        {
                SnapshotCatalog second = {};

                assert_int_equal(catalog_open(&second, dir, NULL, 0), -EBUSY);
                catalog_done(&second);
        }
        catalog_done(&catalog);

        /* Released again once the first is done. */
        assert_int_equal(catalog_open(&catalog, dir, NULL, 0), 0);
        catalog_done(&catalog);
}

/* vssd's own exposure directory is resolved once at start (it may be configured through a
 * symlink, /var/run for instance): exposures in it are opened without following symlinks. */
static void test_expose_dir_resolved(void **state) {
        _cleanup_free_ char *real = NULL, *link = NULL, *configured = NULL, *expected = NULL, *base = NULL;
        SnapshotCatalog catalog = {};

        reset_db();
        base = realpath(dir, NULL);
        assert_non_null(base);
        assert_true(asprintf(&real, "%s/real-run", base) > 0);
        assert_true(asprintf(&link, "%s/var-run", dir) > 0);
        assert_int_equal(mkdir(real, 0755), 0);
        assert_int_equal(symlink(real, link), 0);
        assert_true(asprintf(&configured, "%s/vss/exposed", link) > 0);
        assert_true(asprintf(&expected, "%s/vss/exposed", real) > 0);

        assert_int_equal(catalog_open(&catalog, dir, configured, 0), 0);
        assert_string_equal(catalog.expose_dir, expected);
        catalog_done(&catalog);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_schema),
                cmocka_unit_test(test_schema_upgrade_from_v1),
                cmocka_unit_test(test_newer_schema_refused),
                cmocka_unit_test(test_transitions),
                cmocka_unit_test(test_refusals),
                cmocka_unit_test(test_recovery),
                cmocka_unit_test(test_expose_dir_resolved),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
