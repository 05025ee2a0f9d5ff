/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vss-writer-sqlite: a VSS writer for SQLite databases (docs/writers/sqlite.md).
 *
 * SQLite has no server to ask for a backup mode: every process that opens the database file
 * is its own "server", and the only thing they share is the file locks. So the writer
 * quiesces a database the way one more SQLite client would: it holds a lock that keeps every
 * commit out for the Freeze→Thaw window. While we hold it no other connection can commit, so the
 * snapshot holds exactly the transactions committed before Freeze, and nothing half-written.
 *
 *   PrepareForSnapshot  open a connection per database in the backup and run
 *                       PRAGMA wal_checkpoint(TRUNCATE): the slow part, outside the window,
 *                       so the -wal file the snapshot carries is short.
 *   Freeze              on each connection, within the lock budget (--lock-timeout, never
 *                       beyond the freeze timeout): in WAL mode BEGIN IMMEDIATE, which takes
 *                       the WAL write lock; in rollback-journal mode a read transaction, whose
 *                       SHARED lock keeps every commit out (a commit needs EXCLUSIVE). Either
 *                       way no other connection can commit while readers keep reading (in
 *                       rollback mode until a writer queues up for its commit). Not
 *                       EXCLUSIVE: that would wait for every reader, then stop them all.
 *   Thaw / Abort        ROLLBACK and close. Idempotent.
 *
 * SQLite's locks are POSIX record locks owned by this process, so they vanish when the
 * process dies: a killed writer never leaves the application locked. The same property is a
 * trap: closing *any* file descriptor of the database file in this process drops every lock
 * the process holds on it, so this program never opens the database files itself; only
 * SQLite does.
 *
 * Usage: vss-writer-sqlite (--db PATH)... | --config FILE  [--socket PATH]
 *        [--freeze-timeout MS] [--lock-timeout MS] [--level LEVEL] [--instance NAME]
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "writers/common/writer-util.h"

/* The writer's class id: fixed, so requesters recognise SQLite databases in any instance. */
#define SQLITE_WRITER_CLASS "c5b7e0d2-6f1a-4e83-9a4c-2d8b1f0e7a64"
#define SQLITE_WRITER_NAME "SQLite Writer"
#define LOGICAL_PATH "sqlite"

#define DATABASES_MAX 256U
#define CONFIG_SIZE_MAX (1024U * 1024U)
#define FREEZE_TIMEOUT_DEFAULT_MS 20000U
#define LOCK_TIMEOUT_DEFAULT_MS 5000U
#define TIMEOUT_MAX_MS (3600U * 1000U)
/* Identify may come at any moment; a database busy for longer than this still "opens". */
#define PROBE_BUSY_MS 200
#define LOCK_POLL_USEC 100
/* How long PrepareForSnapshot tries to truncate the WAL under load. */
#define CHECKPOINT_BUDGET_MS 250U

typedef struct Database {
        char *path;            /* absolute, normalized: also the component name */
        char *dir;             /* its directory */
        char *base;            /* its file name */
        sqlite3 *conn;         /* open from PrepareForSnapshot to Thaw/Abort */
        bool selected;         /* part of the current backup (PrepareForBackup) */
        bool wal;              /* journal_mode=WAL, as last read */
        bool locked;           /* holds the freeze lock (Freeze) */
        uint64_t locked_usec;  /* mono_usec() when the lock was taken */
} Database;

typedef struct SqliteWriter {
        Database dbs[DATABASES_MAX];
        size_t n_dbs;
        uint32_t freeze_timeout_ms;
        uint32_t lock_budget_ms;       /* min(--lock-timeout, --freeze-timeout) */
        bool component_mode;           /* the current backup selects components */
        vss_id set_id;                 /* the snapshot set PrepareForSnapshot prepared for */
        bool have_set;
} SqliteWriter;

/* ------------------------------------------------------------------------------------------ */
/* Databases                                                                                   */
/* ------------------------------------------------------------------------------------------ */

static void database_close(Database *d) {
        int rc;

        if (!d->conn)
                return;
        /* sqlite3_close_v2 releases every lock the connection holds, rolled back or not. */
        rc = sqlite3_close_v2(d->conn);
        if (rc != SQLITE_OK)
                wlog(LOG_WARNING, "%s: close: %s", d->path, sqlite3_errstr(rc));
        d->conn = NULL;
        d->locked = false;
}

static void database_done(Database *d) {
        database_close(d);
        free(d->path);
        free(d->dir);
        free(d->base);
        *d = (Database) {};
}

/*
 * Opens the database without creating it and reads its schema page, which is what tells a
 * database from a missing, unreadable or foreign file. A database that is busy right now
 * exists and opens: it counts as good. Returns 0 with *ret open, or -errno with *ret_error
 * a static description.
 */
static int database_open(const Database *d, int busy_ms, sqlite3 **ret, const char **ret_error) {
        sqlite3 *conn = NULL;
        int rc;

        rc = sqlite3_open_v2(d->path, &conn, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
        if (rc != SQLITE_OK) {
                /* Not sqlite3_errmsg(): it belongs to conn, which is closed here. */
                *ret_error = sqlite3_errstr(rc);
                (void) sqlite3_close_v2(conn);
                return -ENOENT;
        }
        (void) sqlite3_extended_result_codes(conn, 1);
        (void) sqlite3_busy_timeout(conn, busy_ms);

        rc = sqlite3_exec(conn, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL);
        if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED) {
                *ret_error = sqlite3_errstr(rc);
                (void) sqlite3_close_v2(conn);
                return -EIO;
        }
        if (sqlite3_db_readonly(conn, "main") == 1) {
                *ret_error = "opened read-only: the writer cannot take its write lock";
                (void) sqlite3_close_v2(conn);
                return -EROFS;
        }

        *ret = conn;
        return 0;
}

/* Checks that d opens; logs why not. */
static int database_probe(const Database *d, const char *event) {
        const char *error = NULL;
        sqlite3 *conn = NULL;
        int r;

        r = database_open(d, PROBE_BUSY_MS, &conn, &error);
        if (r < 0) {
                wlog(LOG_ERR, "%s: %s: cannot open the database: %s", event, d->path, error);
                return r;
        }
        (void) sqlite3_close_v2(conn);
        return 0;
}

/* One attempt at the hold for the journal mode we believe d is in. SQLite result code. */
static int database_try_hold(Database *d) {
        int rc;

        if (d->wal)
                return sqlite3_exec(d->conn, "BEGIN IMMEDIATE", NULL, NULL, NULL);

        /* Rollback journal: a read transaction's SHARED lock. A commit needs EXCLUSIVE,
         * which cannot be had while any SHARED lock is held, so nobody commits; a writer
         * may still prepare its transaction (RESERVED) and then waits in its own busy
         * handler. RESERVED (BEGIN IMMEDIATE) would not stop more than this, and is
         * starved by back-to-back writers: between two of their transactions it is free
         * for microseconds, while SHARED is free for all but their commit. */
        rc = sqlite3_exec(d->conn, "BEGIN DEFERRED", NULL, NULL, NULL);
        if (rc != SQLITE_OK)
                return rc;
        rc = sqlite3_exec(d->conn, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL);
        if (rc != SQLITE_OK)
                (void) sqlite3_exec(d->conn, "ROLLBACK", NULL, NULL, NULL);
        return rc;
}

static int journal_mode_callback(void *userdata, int n, char **values, char **names) {
        bool *wal = userdata;

        *wal = n > 0 && values[0] && strcasecmp(values[0], "wal") == 0;
        return 0;
}

/* Reads d's journal mode into d->wal. SQLite result code. */
static int database_read_mode(Database *d) {
        return sqlite3_exec(d->conn, "PRAGMA journal_mode", journal_mode_callback, &d->wal, NULL);
}

/*
 * Holds d so that no other connection can commit, before deadline (mono_usec): in WAL mode
 * the WAL write lock (BEGIN IMMEDIATE), in rollback-journal mode a SHARED lock (see
 * database_try_hold). We poll every LOCK_POLL_USEC ourselves instead of relying on SQLite's
 * busy handler: that one backs off to 100 ms sleeps, and POSIX locks have no queue, so a
 * slow poller loses every race to an application that commits back to back. Once held, the
 * journal mode is read again under the lock: if it changed since PrepareForSnapshot, the
 * other kind of hold is taken instead.
 * Returns 0, -ETIMEDOUT, or -EIO (error logged).
 */
static int database_lock(Database *d, uint64_t deadline) {
        (void) sqlite3_busy_timeout(d->conn, 0);

        for (;;) {
                bool was_wal = d->wal;
                int rc;

                rc = database_try_hold(d);
                if (rc == SQLITE_OK) {
                        rc = database_read_mode(d);
                        if (rc == SQLITE_OK && d->wal == was_wal) {
                                d->locked = true;
                                d->locked_usec = mono_usec();
                                return 0;
                        }
                        (void) sqlite3_exec(d->conn, "ROLLBACK", NULL, NULL, NULL);
                        if (rc == SQLITE_OK)
                                continue; /* the mode changed: retry with the right hold at once */
                }
                if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED) {
                        wlog(LOG_ERR, "freeze: %s: cannot take the lock: %s", d->path, sqlite3_errmsg(d->conn));
                        return -EIO;
                }
                if (mono_usec() >= deadline)
                        return -ETIMEDOUT;
                (void) nanosleep(&(struct timespec) { .tv_nsec = LOCK_POLL_USEC * 1000 }, NULL);
        }
}

/*
 * Copies the WAL into the main file and empties it, so that the snapshot carries a short
 * -wal. Truncating needs a moment with no writer and every reader on the latest snapshot;
 * under steady load SQLite's busy handler (100 ms back-off) rarely sees one, so we retry
 * without it every LOCK_POLL_USEC for at most CHECKPOINT_BUDGET_MS. Still busy after that is
 * fine: every frame that could be copied was, and only the hold at Freeze decides
 * consistency. Returns the SQLite result code of the last attempt.
 */
static int database_checkpoint(Database *d, int *ret_frames, int *ret_checkpointed) {
        uint64_t deadline = mono_usec() + CHECKPOINT_BUDGET_MS * USEC_PER_MSEC;
        int rc;

        (void) sqlite3_busy_timeout(d->conn, 0);
        for (;;) {
                rc = sqlite3_wal_checkpoint_v2(d->conn, NULL, SQLITE_CHECKPOINT_TRUNCATE, ret_frames,
                                               ret_checkpointed);
                if (((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED) || mono_usec() >= deadline)
                        return rc;
                (void) nanosleep(&(struct timespec) { .tv_nsec = LOCK_POLL_USEC * 1000 }, NULL);
        }
}

/* Ends the hold on d (if any) and closes its connection. */
static void database_release(Database *d, const char *event) {
        if (d->locked) {
                uint64_t now = mono_usec();
                int rc;

                /* The marker tests and operators use: when the application could commit again. */
                wlog(LOG_INFO, "%s: %s: lock released after %.3f ms (monotonic %llu us)", event, d->path,
                     (double) (now - d->locked_usec) / 1e3, (unsigned long long) now);
                rc = sqlite3_exec(d->conn, "ROLLBACK", NULL, NULL, NULL);
                if (rc != SQLITE_OK)
                        wlog(LOG_WARNING, "%s: %s: ROLLBACK: %s; closing the connection releases the lock",
                             event, d->path, sqlite3_errmsg(d->conn));
                d->locked = false;
        }
        database_close(d);
}

static void release_all(SqliteWriter *s, const char *event) {
        for (size_t i = 0; i < s->n_dbs; i++)
                database_release(&s->dbs[i], event);
}

static Database *database_find(SqliteWriter *s, const char *path) {
        for (size_t i = 0; i < s->n_dbs; i++)
                if (streq(s->dbs[i].path, path))
                        return &s->dbs[i];
        return NULL;
}

static int database_add(SqliteWriter *s, const char *path) {
        _cleanup_free_ char *p = NULL;
        Database *d;
        char *slash;
        int r;

        r = path_normalize_absolute(path, &p);
        if (r < 0) {
                wlog(LOG_ERR, "invalid database path \"%s\": %s", path, strerror(-r));
                return r;
        }
        if (streq(p, "/") || strchr(p, '\\')) {
                wlog(LOG_ERR, "invalid database path \"%s\"", path);
                return -EINVAL;
        }
        if (database_find(s, p)) {
                wlog(LOG_ERR, "database %s given twice", p);
                return -EEXIST;
        }
        if (s->n_dbs >= DATABASES_MAX) {
                wlog(LOG_ERR, "too many databases (at most %u)", DATABASES_MAX);
                return -E2BIG;
        }

        d = &s->dbs[s->n_dbs];
        slash = strrchr(p, '/');
        d->base = strdup(slash + 1);
        d->dir = slash == p ? strdup("/") : strndup(p, (size_t) (slash - p));
        if (!d->base || !d->dir) {
                database_done(d);
                return -ENOMEM;
        }
        d->path = TAKE_PTR(p);
        s->n_dbs++;
        return 0;
}

/* One database path per line; blank lines and lines starting with '#' are ignored. */
static int config_load(SqliteWriter *s, const char *file) {
        _cleanup_free_ char *line = NULL;
        size_t allocated = 0, total = 0;
        unsigned lineno = 0;
        FILE *f;
        ssize_t n;
        int r = 0;

        f = fopen(file, "re");
        if (!f) {
                wlog(LOG_ERR, "cannot open %s: %m", file);
                return -errno;
        }
        while ((n = getline(&line, &allocated, f)) >= 0) {
                char *p = line, *end;

                lineno++;
                total += (size_t) n;
                if (total > CONFIG_SIZE_MAX || n >= PATH_MAX) {
                        wlog(LOG_ERR, "%s:%u: file or line too long", file, lineno);
                        r = -E2BIG;
                        break;
                }
                p += strspn(p, " \t");
                end = p + strlen(p);
                while (end > p && strchr(" \t\r\n", end[-1]))
                        *--end = '\0';
                if (*p == '\0' || *p == '#')
                        continue;
                r = database_add(s, p);
                if (r < 0) {
                        wlog(LOG_ERR, "%s:%u: rejected", file, lineno);
                        break;
                }
        }
        if (r == 0 && ferror(f))
                r = -EIO;
        fclose(f);
        return r;
}

/* ------------------------------------------------------------------------------------------ */
/* Writer callbacks                                                                            */
/* ------------------------------------------------------------------------------------------ */

static vss_hr database_declare(vss_create_writer_metadata *md, const Database *d) {
        _cleanup_free_ char *wal = NULL, *journal = NULL, *shm = NULL;
        vss_hr hr;

        if (asprintf(&wal, "%s-wal", d->base) < 0 || asprintf(&journal, "%s-journal", d->base) < 0 ||
            asprintf(&shm, "%s-shm", d->base) < 0)
                return E_OUTOFMEMORY;

        hr = vss_create_writer_metadata_add_component(md, VSS_CT_DATABASE, LOGICAL_PATH, d->path, d->base,
                                                      false, false, true, true, 0);
        if (hr == S_OK)
                hr = vss_create_writer_metadata_add_database_files(md, LOGICAL_PATH, d->path, d->dir, d->base,
                                                                   VSS_FSBT_ALL_BACKUP_REQUIRED |
                                                                           VSS_FSBT_ALL_SNAPSHOT_REQUIRED);
        /* The -wal holds committed transactions not yet in the main file; a -journal left by
         * a crashed writer is needed to roll the main file back. Both belong to the copy. */
        if (hr == S_OK)
                hr = vss_create_writer_metadata_add_database_log_files(md, LOGICAL_PATH, d->path, d->dir, wal,
                                                                       VSS_FSBT_ALL_BACKUP_REQUIRED |
                                                                               VSS_FSBT_ALL_SNAPSHOT_REQUIRED);
        if (hr == S_OK)
                hr = vss_create_writer_metadata_add_database_log_files(md, LOGICAL_PATH, d->path, d->dir, journal,
                                                                       VSS_FSBT_ALL_BACKUP_REQUIRED |
                                                                               VSS_FSBT_ALL_SNAPSHOT_REQUIRED);
        /* The -shm index is rebuilt from the -wal on the first open after a restore; a stale
         * copy is never useful. */
        if (hr == S_OK)
                hr = vss_create_writer_metadata_add_exclude_files(md, d->dir, shm, false);
        return hr;
}

static bool on_identify(vss_writer *w, vss_create_writer_metadata *md, void *userdata) {
        SqliteWriter *s = userdata;
        vss_hr hr;

        hr = vss_create_writer_metadata_set_restore_method(md, VSS_RME_RESTORE_IF_CAN_REPLACE, NULL, NULL,
                                                           VSS_WRE_NEVER, false);
        for (size_t i = 0; hr == S_OK && i < s->n_dbs; i++) {
                hr = database_declare(md, &s->dbs[i]);
                /* A database that does not open is still declared: Identify describes, the
                 * backup that selects it fails (retryably) at PrepareForBackup. */
                if (hr == S_OK)
                        (void) database_probe(&s->dbs[i], "identify");
        }
        if (hr != S_OK) {
                wlog(LOG_ERR, "identify: cannot describe the databases: %s", vss_hr_name(hr));
                return false;
        }
        return true;
}

/* Marks the databases this backup covers: the selected components, or all of them. */
static int select_databases(SqliteWriter *s, vss_writer *w, vss_writer_components *c) {
        bool selected = false;
        unsigned n = 0;

        for (size_t i = 0; i < s->n_dbs; i++)
                s->dbs[i].selected = false;

        s->component_mode = vss_writer_are_components_selected(w, &selected) == S_OK && selected && c;
        if (!s->component_mode) {
                for (size_t i = 0; i < s->n_dbs; i++)
                        s->dbs[i].selected = true;
                return 0;
        }

        if (vss_writer_components_get_count(c, &n) != S_OK)
                return -EIO;
        for (unsigned i = 0; i < n; i++) {
                const char *lp = NULL, *name = NULL;
                vss_component *comp;
                Database *d;

                if (vss_writer_components_get_component(c, i, &comp) != S_OK ||
                    vss_component_get_logical_path(comp, &lp) != S_OK ||
                    vss_component_get_component_name(comp, &name) != S_OK)
                        return -EIO;
                if (!streq(lp, LOGICAL_PATH))
                        continue;
                d = database_find(s, name);
                if (d)
                        d->selected = true;
                else
                        wlog(LOG_WARNING, "prepare-backup: the requester selected unknown component %s\\%s", lp,
                             name);
        }
        return 0;
}

static bool on_prepare_backup(vss_writer *w, vss_writer_components *c, void *userdata) {
        SqliteWriter *s = userdata;
        unsigned n = 0;

        release_all(s, "prepare-backup");
        if (select_databases(s, w, c) < 0) {
                wlog(LOG_ERR, "prepare-backup: cannot read the selected components");
                (void) vss_writer_set_writer_failure(w, VSS_E_WRITERERROR_RETRYABLE);
                return false;
        }
        for (size_t i = 0; i < s->n_dbs; i++) {
                if (!s->dbs[i].selected)
                        continue;
                /* The application is "down" when its database does not open: retry later. */
                if (database_probe(&s->dbs[i], "prepare-backup") < 0) {
                        (void) vss_writer_set_writer_failure(w, VSS_E_WRITERERROR_RETRYABLE);
                        return false;
                }
                n++;
        }
        wlog(LOG_INFO, "prepare-backup: %u of %zu database(s) in this backup", n, s->n_dbs);
        return true;
}

/*
 * Whether d lives on a volume of the snapshot set. The volumes are canonical paths, so the
 * directory is resolved first; a directory that cannot be resolved is on no volume.
 */
static bool database_affected(vss_writer *w, const Database *d) {
        _cleanup_free_ char *real = realpath(d->dir, NULL);
        bool affected = false;

        return real && vss_writer_is_path_affected(w, real, &affected) == S_OK && affected;
}

static bool prepare_fail(SqliteWriter *s, vss_writer *w, vss_hr failure) {
        release_all(s, "prepare-snapshot");
        (void) vss_writer_set_writer_failure(w, failure);
        return false;
}

static bool on_prepare_snapshot(vss_writer *w, void *userdata) {
        SqliteWriter *s = userdata;

        for (size_t i = 0; i < s->n_dbs; i++) {
                Database *d = &s->dbs[i];
                const char *error = NULL;
                int rc, wal_frames = -1, checkpointed = -1;

                if (!d->selected)
                        continue;
                if (!database_affected(w, d)) {
                        if (s->component_mode) {
                                /* Selected, yet its files will not be in the snapshot: the
                                 * copy would be taken live. Tell the requester to add it. */
                                wlog(LOG_ERR, "prepare-snapshot: %s is selected but on no volume of the set", d->path);
                                return prepare_fail(s, w, VSS_E_WRITERERROR_INCONSISTENTSNAPSHOT);
                        }
                        d->selected = false;
                        continue;
                }

                if (database_open(d, (int) s->lock_budget_ms, &d->conn, &error) < 0) {
                        wlog(LOG_ERR, "prepare-snapshot: %s: cannot open the database: %s", d->path, error);
                        return prepare_fail(s, w, VSS_E_WRITERERROR_RETRYABLE);
                }

                rc = database_checkpoint(d, &wal_frames, &checkpointed);
                if (rc == SQLITE_OK)
                        wlog(LOG_INFO, "prepare-snapshot: %s: checkpointed, WAL truncated", d->path);
                else if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
                        wlog(LOG_INFO, "prepare-snapshot: %s: checkpointed %d of %d WAL frames; not truncated (busy)",
                             d->path, checkpointed, wal_frames);
                else {
                        wlog(LOG_ERR, "prepare-snapshot: %s: checkpoint: %s", d->path, sqlite3_errmsg(d->conn));
                        return prepare_fail(s, w, VSS_E_WRITERERROR_RETRYABLE);
                }
                /* Which hold Freeze takes; read again under the lock there. A busy answer
                 * leaves the guess at WAL, the common case. */
                d->wal = true;
                (void) database_read_mode(d);
        }
        s->have_set = vss_writer_get_current_snapshot_set_id(w, &s->set_id) == S_OK;
        return true;
}

static bool on_freeze(vss_writer *w, void *userdata) {
        SqliteWriter *s = userdata;
        uint64_t start = mono_usec(), deadline = start + (uint64_t) s->lock_budget_ms * USEC_PER_MSEC;

        for (size_t i = 0; i < s->n_dbs; i++) {
                Database *d = &s->dbs[i];
                int r;

                if (!d->conn)
                        continue;
                r = database_lock(d, deadline);
                if (r == -ETIMEDOUT) {
                        wlog(LOG_ERR, "freeze: %s: could not take the lock within %u ms; vetoing", d->path,
                             s->lock_budget_ms);
                        release_all(s, "freeze");
                        (void) vss_writer_set_writer_failure(w, VSS_E_WRITERERROR_TIMEOUT);
                        return false;
                }
                if (r < 0) {
                        release_all(s, "freeze");
                        (void) vss_writer_set_writer_failure(w, VSS_E_WRITERERROR_RETRYABLE);
                        return false;
                }
                /* The freeze marker: from here until "released", nobody else commits. */
                wlog(LOG_INFO, "freeze: %s: %s lock held after %.3f ms wait (monotonic %llu us)", d->path,
                     d->wal ? "write" : "commit", (double) (d->locked_usec - start) / 1e3,
                     (unsigned long long) d->locked_usec);
        }
        return true;
}

static bool on_thaw(vss_writer *w, void *userdata) {
        release_all(userdata, "thaw");
        return true;
}

static bool on_abort(vss_writer *w, void *userdata) {
        SqliteWriter *s = userdata;

        release_all(s, "abort");
        for (size_t i = 0; i < s->n_dbs; i++)
                s->dbs[i].selected = false;
        wlog(LOG_INFO, "abort: nothing held any more");
        return true;
}

static bool on_backup_shutdown(vss_writer *w, const vss_id *set_id, void *userdata) {
        SqliteWriter *s = userdata;

        /* Every writer hears every backup's end, including while it prepares another set
         * (backups of other volumes run at the same time): only the end of the set it
         * prepared for may release what that set holds. The selection is left alone: the
         * next PrepareForBackup makes it again. */
        if (s->have_set && set_id && !vss_id_is_null(set_id) && !vss_id_equal(set_id, &s->set_id))
                return true;
        /* Normally nothing is left by now; a requester that died mid-way may leave a
         * connection from PrepareForSnapshot. */
        release_all(s, "backup-shutdown");
        s->have_set = false;
        return true;
}

/* ------------------------------------------------------------------------------------------ */
/* Program                                                                                     */
/* ------------------------------------------------------------------------------------------ */

typedef struct Args {
        const char *socket_path;
        const char *config;
        const char *instance;
        uint32_t freeze_timeout_ms;
        uint32_t lock_timeout_ms;
        vss_application_level level;
} Args;

static void help(void) {
        printf("vss-writer-sqlite --db PATH [--db PATH]... | --config FILE [OPTIONS]\n\n"
               "VSS writer for SQLite databases: checkpoints at PrepareForSnapshot and holds each\n"
               "database's write lock from Freeze to Thaw.\n\n"
               "  -d --db=PATH             A database file (repeatable)\n"
               "  -c --config=FILE         A file with one database path per line\n"
               "  -s --socket=PATH         vssd's socket (default: $VSS_SOCKET, else built-in)\n"
               "     --freeze-timeout=MS   Freeze→Thaw bound (default %u)\n"
               "     --lock-timeout=MS     How long Freeze may wait for a write lock (default %u)\n"
               "     --level=LEVEL         front-end, back-end or system (default back-end)\n"
               "     --instance=NAME       Instance name (default: the config file or first database)\n"
               "  -h --help                Show this help\n",
               FREEZE_TIMEOUT_DEFAULT_MS, LOCK_TIMEOUT_DEFAULT_MS);
}

enum { ARG_FREEZE_TIMEOUT = 0x100, ARG_LOCK_TIMEOUT, ARG_LEVEL, ARG_INSTANCE };

static const struct option options[] = {
        { "db", required_argument, NULL, 'd' },
        { "config", required_argument, NULL, 'c' },
        { "socket", required_argument, NULL, 's' },
        { "freeze-timeout", required_argument, NULL, ARG_FREEZE_TIMEOUT },
        { "lock-timeout", required_argument, NULL, ARG_LOCK_TIMEOUT },
        { "level", required_argument, NULL, ARG_LEVEL },
        { "instance", required_argument, NULL, ARG_INSTANCE },
        { "help", no_argument, NULL, 'h' },
        WRITER_OPTION_VERSION,
        {}
};

/* What the options set: the writer's databases, and the rest of the arguments. */
typedef struct OptionTarget {
        SqliteWriter *s;
        Args *a;
} OptionTarget;

/* One option of the command line (writer_parse_argv). */
static int option_apply(int val, const char *name, const char *value, void *userdata) {
        OptionTarget *t = userdata;
        Args *a = t->a;
        int r;

        switch (val) {
        case 'd':
                return database_add(t->s, value);
        case 'c':
                if (a->config) {
                        wlog(LOG_ERR, "--config given twice");
                        return -EINVAL;
                }
                a->config = value;
                return config_load(t->s, value);
        case 's':
                a->socket_path = value;
                return 0;
        case ARG_FREEZE_TIMEOUT:
        case ARG_LOCK_TIMEOUT:
                r = parse_ms(value, 1, TIMEOUT_MAX_MS,
                             val == ARG_FREEZE_TIMEOUT ? &a->freeze_timeout_ms : &a->lock_timeout_ms);
                if (r < 0)
                        wlog(LOG_ERR, "invalid %s: %s", name, value);
                return r;
        case ARG_LEVEL:
                if (parse_level(value, &a->level) < 0) {
                        wlog(LOG_ERR, "invalid --level: %s", value);
                        return -EINVAL;
                }
                return 0;
        case ARG_INSTANCE:
                a->instance = value;
                return 0;
        default:
                return -EINVAL;
        }
}

/* Returns 1 to run, 0 to exit successfully (help), negative errno on bad usage. */
static int parse_argv(int argc, char **argv, SqliteWriter *s, Args *a) {
        OptionTarget target = { s, a };
        int r;

        r = writer_parse_argv(argc, argv, "d:c:s:h", options, help, option_apply, &target);
        if (r <= 0)
                return r;
        if (s->n_dbs == 0) {
                wlog(LOG_ERR, "no database given (--db or --config)");
                return -EINVAL;
        }
        return 1;
}

int main(int argc, char **argv) {
        static SqliteWriter s; /* large (the database table): not on the stack */
        Args a = {
                .freeze_timeout_ms = FREEZE_TIMEOUT_DEFAULT_MS,
                .lock_timeout_ms = LOCK_TIMEOUT_DEFAULT_MS,
                .level = VSS_APP_BACK_END,
        };
        vss_writer_options opts = VSS_WRITER_OPTIONS_INIT;
        vss_writer_callbacks cb = {
                .version = VSS_WRITER_CALLBACKS_VERSION,
                .on_identify = on_identify,
                .on_prepare_backup = on_prepare_backup,
                .on_prepare_snapshot = on_prepare_snapshot,
                .on_freeze = on_freeze,
                .on_thaw = on_thaw,
                .on_abort = on_abort,
                .on_backup_shutdown = on_backup_shutdown,
        };
        vss_writer *w = NULL;
        vss_hr hr;
        int status = -1, r;

        wlog_init("vss-writer-sqlite");
        r = parse_argv(argc, argv, &s, &a);
        if (r <= 0) {
                status = r < 0 ? WRITER_EXIT_USAGE : EXIT_SUCCESS;
                goto finish;
        }

        s.freeze_timeout_ms = a.freeze_timeout_ms;
        s.lock_budget_ms = MIN(a.lock_timeout_ms, a.freeze_timeout_ms);
        if (a.lock_timeout_ms > a.freeze_timeout_ms)
                wlog(LOG_WARNING, "--lock-timeout %u ms exceeds --freeze-timeout; using %u ms", a.lock_timeout_ms,
                     s.lock_budget_ms);

        r = writer_block_signals();
        if (r < 0)
                goto finish;

        (void) vss_id_parse(SQLITE_WRITER_CLASS, &opts.writer_id);
        opts.writer_name = SQLITE_WRITER_NAME;
        opts.instance_name = a.instance ?: a.config ?: s.dbs[0].path;
        opts.usage_type = VSS_UT_USERDATA;
        opts.source_type = VSS_ST_TRANSACTEDDB;
        opts.level = a.level;
        opts.freeze_timeout_ms = a.freeze_timeout_ms;
        opts.socket_path = a.socket_path;

        hr = vss_writer_new(&w, &opts, &cb, &s);
        if (hr != S_OK) {
                wlog(LOG_ERR, "cannot create the writer: %s", vss_hr_name(hr));
                r = -EINVAL;
                goto finish;
        }
        for (size_t i = 0; i < s.n_dbs; i++) {
                wlog(LOG_INFO, "database %s", s.dbs[i].path);
                (void) database_probe(&s.dbs[i], "start");
        }
        wlog(LOG_INFO, "lock budget %u ms, freeze timeout %u ms", s.lock_budget_ms, s.freeze_timeout_ms);

        r = writer_serve(w, VSS_SM_BACKUP_EVENTS_FLAG);
        vss_writer_free(w);

finish:
        /* The callback thread is gone: whatever it left open is ours to close. */
        for (size_t i = 0; i < s.n_dbs; i++)
                database_done(&s.dbs[i]);
        return status >= 0 ? status : writer_exit_status(r);
}
