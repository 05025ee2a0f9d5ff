/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * catalog.c: the SQLite side of vssd's snapshot catalog (catalog.h), and the only file that
 * speaks SQL.
 *
 * Durability choices: WAL journal with synchronous=FULL, so a row is on disk when the call
 * returns (the point of an intent row is that it survives the crash that follows). An intent
 * row on a volume the catalog already knows and the CREATED mark of a set that is not
 * persistent may be CATALOG_LAZY (catalog.h, snapshot-catalog.c says when): committed with
 * synchronous=NORMAL, which in WAL mode appends without fsync; the WAL keeps commit order, so
 * a lazy change is never on disk without the durable ones before it. A busy
 * timeout covers an administrator reading the file with the sqlite3 shell. Ids are stored as
 * their 36-character strings so the file is readable by hand. Every multi-row change runs in
 * one transaction. Statements are prepared once and kept (prepare()).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "vss-bus.h"
#include "vssd/catalog.h"
#include "vssd/log.h"

#define CATALOG_SCHEMA_VERSION 2
#define CATALOG_BUSY_TIMEOUT_MS 5000

/* Room for every statement this file prepares (17 call sites and 4 fixed ones today). */
#define CATALOG_MAX_STATEMENTS 32

struct CatalogDb {
        sqlite3 *db;
        /* Prepared once, kept for the connection's life (see prepare()). */
        struct {
                const char *sql;
                sqlite3_stmt *stmt;
        } statements[CATALOG_MAX_STATEMENTS];
        size_t n_statements;
};

static const char *const state_names[_CATALOG_STATE_MAX] = {
        [CATALOG_PREPARING] = "preparing",
        [CATALOG_COMMITTING] = "committing",
        [CATALOG_CREATED] = "created",
        [CATALOG_DELETING] = "deleting",
};

const char *catalog_state_to_string(CatalogState s) {
        if (s < 0 || s >= _CATALOG_STATE_MAX)
                return NULL;
        return state_names[s];
}

int catalog_state_from_string(const char *s) {
        if (!s)
                return -EINVAL;
        for (int i = 0; i < _CATALOG_STATE_MAX; i++)
                if (streq(state_names[i], s))
                        return i;
        return -EINVAL;
}

static const char schema_sql[] =
        "CREATE TABLE IF NOT EXISTS snapshot_sets ("
        "  set_id TEXT PRIMARY KEY NOT NULL,"
        "  context INTEGER NOT NULL,"
        "  owner TEXT,"                       /* backup id of an auto-release set, else NULL */
        "  created INTEGER NOT NULL DEFAULT 0,"
        "  snapshot_count INTEGER NOT NULL DEFAULT 0"
        ");"
        "CREATE TABLE IF NOT EXISTS snapshots ("
        "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        "  snapshot_id TEXT UNIQUE NOT NULL,"
        "  set_id TEXT NOT NULL REFERENCES snapshot_sets(set_id),"
        "  provider_id TEXT NOT NULL,"
        "  volume TEXT NOT NULL,"
        "  device TEXT,"
        "  attributes INTEGER NOT NULL,"
        "  state TEXT NOT NULL CHECK (state IN ('preparing', 'committing', 'created', 'deleting')),"
        "  exposed_path TEXT"
        ");"
        "CREATE INDEX IF NOT EXISTS snapshots_by_set ON snapshots(set_id);";

/* Version 1 -> 2: exposures carry their mount's ids and their caller (catalog.h). Rows of an
 * older vssd keep NULLs there: mount not provable, caller unknown (snapshot-catalog.c). */
static const char schema_v2_sql[] =
        "ALTER TABLE snapshots ADD COLUMN exposed_mount_id INTEGER;"
        "ALTER TABLE snapshots ADD COLUMN exposed_mount_unique_id INTEGER;"
        "ALTER TABLE snapshots ADD COLUMN exposed_boot_id TEXT;"
        "ALTER TABLE snapshots ADD COLUMN exposed_uid INTEGER;"
        "ALTER TABLE snapshots ADD COLUMN exposed_gids TEXT;";

/* Additive, run on every open: the volumes table (catalog.h), filled from the snapshot rows of
 * a catalog written before it existed. */
static const char volumes_sql[] =
        "CREATE TABLE IF NOT EXISTS volumes ("
        "  volume TEXT NOT NULL,"
        "  provider_id TEXT NOT NULL,"
        "  last_used INTEGER NOT NULL DEFAULT 0," /* a counter: larger is more recent */
        "  PRIMARY KEY (volume, provider_id)"
        ");"
        "INSERT OR IGNORE INTO volumes (volume, provider_id) SELECT DISTINCT volume, provider_id FROM snapshots;";

/* Logs SQLite's message for rc and returns the errno we report it as. */
static int sql_error(CatalogDb *c, int rc, const char *what) {
        rc &= 0xff; /* extended result codes are on: compare the primary code */
        if (rc == SQLITE_NOMEM)
                return log_oom();
        log_error("Catalog: %s failed: %s", what, c && c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        if (rc == SQLITE_FULL)
                return -ENOSPC;
        if (rc == SQLITE_READONLY || rc == SQLITE_PERM || rc == SQLITE_AUTH)
                return -EACCES;
        if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
                return -EBUSY;
        return -EIO;
}

static int exec(CatalogDb *c, const char *sql) {
        int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);

        return rc == SQLITE_OK ? 0 : sql_error(c, rc, sql);
}

/* Hands a statement from prepare() back: reset, bindings cleared, kept for the next use. */
static void releasep(sqlite3_stmt **s) {
        if (*s) {
                (void) sqlite3_reset(*s);
                (void) sqlite3_clear_bindings(*s);
        }
}

/*
 * The statement for sql, prepared on its first use and kept: parsing the same dozen statements
 * again for every snapshot was half of vssd's own CPU in a `vshadow -nw` session (perf:
 * sqlite3Parser first). Keyed by the address of the SQL text, as every caller passes a string
 * literal. The caller releases it with _cleanup_(releasep) and never finalizes it.
 */
static int prepare(CatalogDb *c, const char *sql, sqlite3_stmt **ret) {
        sqlite3_stmt *s;
        int rc;

        for (size_t i = 0; i < c->n_statements; i++)
                if (c->statements[i].sql == sql) {
                        *ret = c->statements[i].stmt;
                        return 0;
                }
        if (c->n_statements >= CATALOG_MAX_STATEMENTS) {
                log_error("Catalog: more than %u distinct statements; raise CATALOG_MAX_STATEMENTS.",
                          CATALOG_MAX_STATEMENTS);
                return -E2BIG;
        }

        rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL);
        if (rc != SQLITE_OK)
                return sql_error(c, rc, "prepare");
        c->statements[c->n_statements].sql = sql;
        c->statements[c->n_statements++].stmt = s;
        *ret = s;
        return 0;
}

/* One statement without result rows through prepare(): for the ones run per snapshot. */
static int run(CatalogDb *c, const char *sql) {
        _cleanup_(releasep) sqlite3_stmt *s = NULL;
        int r, rc;

        r = prepare(c, sql, &s);
        if (r < 0)
                return r;
        rc = sqlite3_step(s);
        return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : sql_error(c, rc, sql);
}

static int bind_id(sqlite3_stmt *s, int i, const vss_id *id) {
        vss_id_str str = vss_id_to_str(id);

        return sqlite3_bind_text(s, i, str.s, -1, SQLITE_TRANSIENT);
}

static int bind_text_or_null(sqlite3_stmt *s, int i, const char *t) {
        return t ? sqlite3_bind_text(s, i, t, -1, SQLITE_STATIC) : sqlite3_bind_null(s, i);
}

/* Runs a statement that returns no rows; returns the rows changed or negative errno. */
static int step_done(CatalogDb *c, sqlite3_stmt *s, const char *what) {
        int rc = sqlite3_step(s);

        if ((rc & 0xff) == SQLITE_CONSTRAINT)
                return rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY ? -EEXIST : -EINVAL;
        if (rc != SQLITE_DONE)
                return sql_error(c, rc, what);
        return sqlite3_changes(c->db);
}

static int begin(CatalogDb *c) {
        return run(c, "BEGIN IMMEDIATE");
}

static int commit_or_rollback(CatalogDb *c, int r) {
        if (r < 0) {
                (void) sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
                return r;
        }
        return run(c, "COMMIT");
}

/* Outside a transaction only: the setting applies to the commits that follow. */
static int sync_set(CatalogDb *c, CatalogSync sync) {
        return run(c, sync == CATALOG_LAZY ? "PRAGMA synchronous = NORMAL" : "PRAGMA synchronous = FULL");
}

/* Back to durable after a lazy change, whatever its result; a failure to restore is the
 * result then, as later writes must not silently lose their durability. */
static int sync_restore(CatalogDb *c, CatalogSync sync, int r) {
        int k;

        if (sync != CATALOG_LAZY)
                return r;
        k = sync_set(c, CATALOG_DURABLE);
        return r < 0 ? r : k < 0 ? k : r;
}

static int check_schema(CatalogDb *c) {
        _cleanup_(releasep) sqlite3_stmt *s = NULL;
        int version, r;

        r = prepare(c, "PRAGMA user_version", &s);
        if (r < 0)
                return r;
        if (sqlite3_step(s) != SQLITE_ROW)
                return sql_error(c, sqlite3_errcode(c->db), "reading the schema version");
        version = sqlite3_column_int(s, 0);

        if (version > CATALOG_SCHEMA_VERSION) {
                log_error("Catalog has schema version %d; this vssd knows %d only.", version,
                          CATALOG_SCHEMA_VERSION);
                return -EPROTONOSUPPORT;
        }
        if (version == CATALOG_SCHEMA_VERSION)
                return 0;

        r = begin(c);
        if (r < 0)
                return r;
        if (version < 1)
                r = exec(c, schema_sql);
        if (r >= 0 && version < 2) {
                if (version == 1)
                        log_info("Catalog: upgrading schema version 1 to 2 (exposures record their mount ids).");
                r = exec(c, schema_v2_sql);
        }
        if (r >= 0)
                r = exec(c, "PRAGMA user_version = 2");
        return commit_or_rollback(c, r);
}

int catalog_db_open(const char *path, CatalogDb **ret) {
        _cleanup_(catalog_db_closep) CatalogDb *c = NULL;
        int rc, r;

        assert(path);
        assert(ret);

        c = calloc(1, sizeof(*c));
        if (!c)
                return log_oom();

        rc = sqlite3_open_v2(path, &c->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
        if (rc != SQLITE_OK)
                return sql_error(c, rc, path);

        (void) sqlite3_busy_timeout(c->db, CATALOG_BUSY_TIMEOUT_MS);
        (void) sqlite3_extended_result_codes(c->db, 1);

        r = exec(c, "PRAGMA journal_mode = WAL");
        if (r < 0)
                return r;
        r = exec(c, "PRAGMA synchronous = FULL");
        if (r < 0)
                return r;
        r = exec(c, "PRAGMA foreign_keys = ON");
        if (r < 0)
                return r;
        r = check_schema(c);
        if (r < 0)
                return r;
        r = begin(c);
        if (r < 0)
                return r;
        r = commit_or_rollback(c, exec(c, volumes_sql));
        if (r < 0)
                return r;

        *ret = TAKE_PTR(c);
        return 0;
}

CatalogDb *catalog_db_close(CatalogDb *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_statements; i++)
                sqlite3_finalize(c->statements[i].stmt);
        (void) sqlite3_close(c->db);
        free(c);
        return NULL;
}

static int insert_set(CatalogDb *c, const CatalogRow *row) {
        _cleanup_(releasep) sqlite3_stmt *s = NULL, *q = NULL;
        int r, rc;

        r = prepare(c, "SELECT context, owner FROM snapshot_sets WHERE set_id = ?", &q);
        if (r < 0)
                return r;
        bind_id(q, 1, &row->set_id);
        rc = sqlite3_step(q);
        if (rc == SQLITE_ROW) {
                const char *owner = (const char *) sqlite3_column_text(q, 1);
                vss_id o = VSS_ID_NULL;

                if (owner && vss_id_from_bus(owner, &o) != S_OK)
                        return -EINVAL;
                if ((uint32_t) sqlite3_column_int64(q, 0) != row->context || !vss_id_equal(&o, &row->owner))
                        return -EINVAL;
                return 0;
        }
        if (rc != SQLITE_DONE)
                return sql_error(c, rc, "looking up a snapshot set");

        r = prepare(c, "INSERT INTO snapshot_sets (set_id, context, owner, created, snapshot_count) "
                       "VALUES (?, ?, ?, ?, ?)", &s);
        if (r < 0)
                return r;
        bind_id(s, 1, &row->set_id);
        sqlite3_bind_int64(s, 2, row->context);
        if (vss_id_is_null(&row->owner))
                sqlite3_bind_null(s, 3);
        else
                bind_id(s, 3, &row->owner);
        sqlite3_bind_int64(s, 4, row->created);
        sqlite3_bind_int(s, 5, row->set_count);
        r = step_done(c, s, "inserting a snapshot set");
        return r < 0 ? r : 0;
}

/* Marks (volume, provider) most recently used, and forgets the least recently used volumes
 * without snapshot rows beyond CATALOG_MAX_VOLUMES. */
static int volume_touch(CatalogDb *c, const char *volume, const vss_id *provider_id) {
        _cleanup_(releasep) sqlite3_stmt *s = NULL, *p = NULL;
        int r;

        r = prepare(c, "INSERT INTO volumes (volume, provider_id, last_used) "
                       "VALUES (?1, ?2, (SELECT COALESCE(MAX(last_used), 0) + 1 FROM volumes)) "
                       "ON CONFLICT (volume, provider_id) DO UPDATE SET last_used = excluded.last_used", &s);
        if (r < 0)
                return r;
        sqlite3_bind_text(s, 1, volume, -1, SQLITE_STATIC);
        bind_id(s, 2, provider_id);
        r = step_done(c, s, "remembering a volume");
        if (r < 0)
                return r;

        r = prepare(c, "DELETE FROM volumes WHERE rowid IN ("
                       "  SELECT v.rowid FROM volumes v WHERE NOT EXISTS ("
                       "    SELECT 1 FROM snapshots s WHERE s.volume = v.volume AND s.provider_id = v.provider_id)"
                       "  ORDER BY v.last_used DESC LIMIT -1 OFFSET ?)", &p);
        if (r < 0)
                return r;
        sqlite3_bind_int(p, 1, CATALOG_MAX_VOLUMES);
        r = step_done(c, p, "forgetting old volumes");
        return r < 0 ? r : 0;
}

int catalog_db_volume_known(CatalogDb *c, const char *volume, const vss_id *provider_id) {
        _cleanup_(releasep) sqlite3_stmt *s = NULL;
        int r, rc;

        assert(c);
        assert(volume);
        assert(provider_id);

        r = prepare(c, "SELECT 1 FROM volumes WHERE volume = ?1 AND provider_id = ?2", &s);
        if (r < 0)
                return r;
        sqlite3_bind_text(s, 1, volume, -1, SQLITE_STATIC);
        bind_id(s, 2, provider_id);
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW)
                return 1;
        if (rc != SQLITE_DONE)
                return sql_error(c, rc, "looking up a volume");
        return 0;
}

int catalog_db_insert(CatalogDb *c, const CatalogRow *row, CatalogSync sync) {
        _cleanup_(releasep) sqlite3_stmt *s = NULL;
        int r;

        assert(c);
        assert(row);

        if (!catalog_state_to_string(row->state) || isempty(row->volume))
                return -EINVAL;

        r = sync_set(c, sync);
        if (r < 0)
                return sync_restore(c, sync, r);
        r = begin(c);
        if (r < 0)
                return sync_restore(c, sync, r);

        r = insert_set(c, row);
        if (r >= 0)
                r = prepare(c, "INSERT INTO snapshots (snapshot_id, set_id, provider_id, volume, device, attributes, "
                               "state, exposed_path) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", &s);
        if (r >= 0) {
                bind_id(s, 1, &row->snapshot_id);
                bind_id(s, 2, &row->set_id);
                bind_id(s, 3, &row->provider_id);
                sqlite3_bind_text(s, 4, row->volume, -1, SQLITE_STATIC);
                bind_text_or_null(s, 5, row->device);
                sqlite3_bind_int64(s, 6, row->attributes);
                sqlite3_bind_text(s, 7, catalog_state_to_string(row->state), -1, SQLITE_STATIC);
                bind_text_or_null(s, 8, row->exposure.path);
                r = step_done(c, s, "inserting a snapshot");
        }
        if (r >= 0)
                r = volume_touch(c, row->volume, &row->provider_id);
        return sync_restore(c, sync, commit_or_rollback(c, r));
}

int catalog_db_set_state(CatalogDb *c, const vss_id *snapshot_id, CatalogState state, CatalogSync sync) {
        _cleanup_(releasep) sqlite3_stmt *s = NULL;
        int r;

        assert(c);
        assert(snapshot_id);

        if (!catalog_state_to_string(state))
                return -EINVAL;
        r = prepare(c, "UPDATE snapshots SET state = ? WHERE snapshot_id = ?", &s);
        if (r < 0)
                return r;
        sqlite3_bind_text(s, 1, catalog_state_to_string(state), -1, SQLITE_STATIC);
        bind_id(s, 2, snapshot_id);
        r = sync_set(c, sync);
        if (r >= 0)
                r = step_done(c, s, "updating a snapshot's state");
        r = sync_restore(c, sync, r);
        if (r < 0)
                return r;
        return r == 0 ? -ENOENT : 0;
}

int catalog_db_mark_created(CatalogDb *c, const vss_id *set_id, const vss_id *ids, char *const *devices,
                            size_t n, uint32_t attributes, int64_t created, CatalogSync sync) {
        int r;

        assert(c);
        assert(set_id);
        assert(ids || n == 0);

        r = sync_set(c, sync);
        if (r >= 0)
                r = begin(c);
        if (r < 0)
                return sync_restore(c, sync, r);

        for (size_t i = 0; r >= 0 && i < n; i++) {
                _cleanup_(releasep) sqlite3_stmt *s = NULL;

                r = prepare(c, "UPDATE snapshots SET state = 'created', attributes = ?, device = COALESCE(?, device) "
                               "WHERE snapshot_id = ? AND set_id = ?", &s);
                if (r < 0)
                        break;
                sqlite3_bind_int64(s, 1, attributes);
                bind_text_or_null(s, 2, devices ? devices[i] : NULL);
                bind_id(s, 3, &ids[i]);
                bind_id(s, 4, set_id);
                r = step_done(c, s, "marking a snapshot created");
                if (r == 0)
                        r = -ENOENT;
        }
        if (r >= 0) {
                _cleanup_(releasep) sqlite3_stmt *s = NULL;

                r = prepare(c, "UPDATE snapshot_sets SET created = ?, snapshot_count = ? WHERE set_id = ?", &s);
                if (r >= 0) {
                        sqlite3_bind_int64(s, 1, created);
                        sqlite3_bind_int64(s, 2, (int64_t) n);
                        bind_id(s, 3, set_id);
                        r = step_done(c, s, "finishing a snapshot set");
                        if (r == 0)
                                r = -ENOENT;
                }
        }
        return sync_restore(c, sync, commit_or_rollback(c, r));
}

int catalog_db_set_exposed(CatalogDb *c, const vss_id *snapshot_id, const CatalogExposure *e) {
        _cleanup_(releasep) sqlite3_stmt *s = NULL;
        bool set = e && e->path;
        int r;

        assert(c);
        assert(snapshot_id);

        r = prepare(c, "UPDATE snapshots SET exposed_path = ?1, exposed_mount_id = ?2, exposed_mount_unique_id = ?3, "
                       "exposed_boot_id = ?4, exposed_uid = ?5, exposed_gids = ?6 WHERE snapshot_id = ?7", &s);
        if (r < 0)
                return r;
        bind_text_or_null(s, 1, set ? e->path : NULL);
        /* Ids are stored as SQLite's signed 64 bits; the unique id may use the top bit. */
        if (set && e->mount_id != 0)
                sqlite3_bind_int64(s, 2, (sqlite3_int64) e->mount_id);
        else
                sqlite3_bind_null(s, 2);
        if (set && e->mount_unique_id != 0)
                sqlite3_bind_int64(s, 3, (sqlite3_int64) e->mount_unique_id);
        else
                sqlite3_bind_null(s, 3);
        bind_text_or_null(s, 4, set ? e->boot_id : NULL);
        if (set && e->uid >= 0)
                sqlite3_bind_int64(s, 5, e->uid);
        else
                sqlite3_bind_null(s, 5);
        bind_text_or_null(s, 6, set ? e->gids : NULL);
        bind_id(s, 7, snapshot_id);
        r = step_done(c, s, "recording an exposure");
        if (r < 0)
                return r;
        return r == 0 ? -ENOENT : 0;
}

int catalog_db_remove(CatalogDb *c, const vss_id *snapshot_id, CatalogSync sync) {
        _cleanup_(releasep) sqlite3_stmt *q = NULL, *d = NULL, *e = NULL;
        const char *set;
        vss_id set_id;
        int r, rc;

        assert(c);
        assert(snapshot_id);

        r = sync_set(c, sync);
        if (r < 0)
                return sync_restore(c, sync, r);
        r = begin(c);
        if (r < 0)
                return sync_restore(c, sync, r);

        r = prepare(c, "SELECT set_id FROM snapshots WHERE snapshot_id = ?", &q);
        if (r >= 0) {
                bind_id(q, 1, snapshot_id);
                rc = sqlite3_step(q);
                if (rc == SQLITE_DONE)
                        r = -ENOENT;
                else if (rc != SQLITE_ROW)
                        r = sql_error(c, rc, "looking up a snapshot");
                else {
                        set = (const char *) sqlite3_column_text(q, 0);
                        if (!set || vss_id_from_bus(set, &set_id) != S_OK)
                                r = -EINVAL;
                }
        }
        if (r >= 0)
                r = prepare(c, "DELETE FROM snapshots WHERE snapshot_id = ?", &d);
        if (r >= 0) {
                bind_id(d, 1, snapshot_id);
                r = step_done(c, d, "removing a snapshot");
        }
        if (r >= 0)
                r = prepare(c, "DELETE FROM snapshot_sets WHERE set_id = ?1 AND "
                               "NOT EXISTS (SELECT 1 FROM snapshots WHERE set_id = ?1)", &e);
        if (r >= 0) {
                bind_id(e, 1, &set_id);
                r = step_done(c, e, "removing an empty snapshot set");
        }
        return sync_restore(c, sync, commit_or_rollback(c, r));
}

static int column_strdup(sqlite3_stmt *s, int i, char **ret) {
        const char *t = (const char *) sqlite3_column_text(s, i);

        if (!t) {
                *ret = NULL;
                return 0;
        }
        *ret = strdup(t);
        return *ret ? 0 : -ENOMEM;
}

static int column_id(sqlite3_stmt *s, int i, vss_id *ret) {
        const char *t = (const char *) sqlite3_column_text(s, i);

        if (!t) {
                *ret = VSS_ID_NULL;
                return 0;
        }
        return vss_id_from_bus(t, ret) == S_OK ? 0 : -EINVAL;
}

static int row_read(sqlite3_stmt *s, CatalogRow *row) {
        int state, r;

        *row = (CatalogRow) {};
        r = column_id(s, 0, &row->snapshot_id);
        if (r >= 0)
                r = column_id(s, 1, &row->set_id);
        if (r >= 0)
                r = column_id(s, 2, &row->provider_id);
        if (r >= 0)
                r = column_strdup(s, 3, &row->volume);
        if (r >= 0)
                r = column_strdup(s, 4, &row->device);
        if (r >= 0)
                r = column_strdup(s, 7, &row->exposure.path);
        if (r >= 0)
                r = column_id(s, 9, &row->owner);
        if (r >= 0)
                r = column_strdup(s, 14, &row->exposure.boot_id);
        if (r >= 0)
                r = column_strdup(s, 16, &row->exposure.gids);
        if (r < 0 || !row->volume) {
                catalog_row_done(row);
                return r < 0 ? r : -EINVAL;
        }

        row->attributes = (uint32_t) sqlite3_column_int64(s, 5);
        state = catalog_state_from_string((const char *) sqlite3_column_text(s, 6));
        row->state = state < 0 ? CATALOG_DELETING : (CatalogState) state;
        row->context = (uint32_t) sqlite3_column_int64(s, 8);
        row->created = sqlite3_column_int64(s, 10);
        row->set_count = (int32_t) sqlite3_column_int64(s, 11);
        row->exposure.mount_id = (uint64_t) sqlite3_column_int64(s, 12);
        row->exposure.mount_unique_id = (uint64_t) sqlite3_column_int64(s, 13);
        row->exposure.uid = sqlite3_column_type(s, 15) == SQLITE_NULL ? -1 : sqlite3_column_int64(s, 15);
        return 0;
}

int catalog_db_list(CatalogDb *c, CatalogRow **ret, size_t *ret_n) {
        _cleanup_(releasep) sqlite3_stmt *s = NULL;
        CatalogRow *rows = NULL;
        size_t n = 0;
        int r, rc;

        assert(c);
        assert(ret);
        assert(ret_n);

        r = prepare(c, "SELECT s.snapshot_id, s.set_id, s.provider_id, s.volume, s.device, s.attributes, s.state, "
                       "s.exposed_path, t.context, t.owner, t.created, t.snapshot_count, s.exposed_mount_id, "
                       "s.exposed_mount_unique_id, s.exposed_boot_id, s.exposed_uid, s.exposed_gids "
                       "FROM snapshots s JOIN snapshot_sets t ON s.set_id = t.set_id "
                       "ORDER BY t.created, s.seq", &s);
        if (r < 0)
                return r;

        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
                CatalogRow *l;

                l = realloc(rows, (n + 1) * sizeof(*l));
                if (!l) {
                        r = log_oom();
                        break;
                }
                rows = l;
                r = row_read(s, &rows[n]);
                if (r == -EINVAL) {
                        /* A row edited by hand into nonsense is skipped, not fatal. */
                        log_warning("Catalog: skipping an unreadable snapshot row.");
                        r = 0;
                        continue;
                }
                if (r < 0)
                        break;
                n++;
        }
        if (r >= 0 && rc != SQLITE_DONE)
                r = sql_error(c, rc, "listing snapshots");
        if (r < 0) {
                catalog_rows_free(rows, n);
                return r;
        }

        *ret = rows;
        *ret_n = n;
        return 0;
}

int catalog_db_list_volumes(CatalogDb *c, CatalogVolume **ret, size_t *ret_n) {
        _cleanup_(releasep) sqlite3_stmt *s = NULL;
        CatalogVolume *v = NULL;
        size_t n = 0;
        int r, rc;

        assert(c);
        assert(ret);
        assert(ret_n);

        r = prepare(c, "SELECT volume, provider_id FROM volumes ORDER BY last_used DESC", &s);
        if (r < 0)
                return r;

        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
                CatalogVolume *l;
                vss_id pid;

                if (column_id(s, 1, &pid) < 0 || !sqlite3_column_text(s, 0)) {
                        log_warning("Catalog: skipping an unreadable volume row.");
                        continue;
                }
                l = realloc(v, (n + 1) * sizeof(*l));
                if (!l) {
                        r = log_oom();
                        break;
                }
                v = l;
                r = column_strdup(s, 0, &v[n].volume);
                if (r < 0) {
                        r = log_oom();
                        break;
                }
                v[n++].provider_id = pid;
        }
        if (r >= 0 && rc != SQLITE_DONE)
                r = sql_error(c, rc, "listing volumes");
        if (r < 0) {
                catalog_volumes_free(v, n);
                return r;
        }

        *ret = v;
        *ret_n = n;
        return 0;
}

int catalog_db_forget_volume(CatalogDb *c, const char *volume, const vss_id *provider_id) {
        _cleanup_(releasep) sqlite3_stmt *s = NULL;
        int r;

        assert(c);
        assert(volume);
        assert(provider_id);

        r = prepare(c, "DELETE FROM volumes WHERE volume = ?1 AND provider_id = ?2 AND NOT EXISTS ("
                       "SELECT 1 FROM snapshots WHERE volume = ?1 AND provider_id = ?2)", &s);
        if (r < 0)
                return r;
        sqlite3_bind_text(s, 1, volume, -1, SQLITE_STATIC);
        bind_id(s, 2, provider_id);
        r = step_done(c, s, "forgetting a volume");
        return r < 0 ? r : r > 0;
}

void catalog_volumes_free(CatalogVolume *volumes, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(volumes[i].volume);
        free(volumes);
}

void catalog_row_done(CatalogRow *r) {
        if (!r)
                return;
        free(r->volume);
        free(r->device);
        free(r->exposure.path);
        free(r->exposure.boot_id);
        free(r->exposure.gids);
        r->volume = r->device = NULL;
        r->exposure = (CatalogExposure) { .uid = -1 };
}

void catalog_rows_free(CatalogRow *rows, size_t n) {
        for (size_t i = 0; i < n; i++)
                catalog_row_done(&rows[i]);
        free(rows);
}
