/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vss-writer-postgresql: a VSS writer for a PostgreSQL cluster (docs/writers/postgresql.md).
 *
 * PostgreSQL does not need to be stopped, nor its commits blocked, for a snapshot: what it
 * needs is to know that a backup is being taken, so that it writes full-page images and
 * tells us where recovery must start and end. That is a non-exclusive backup, which lives on
 * one connection (the "session") and ends when that connection ends:
 *
 *   Identify            connect (bounded), read the layout: data directory, WAL directory,
 *                       tablespaces; declare each as a file-group component. A server that
 *                       is down still gets an answer, from the last layout seen.
 *   PrepareForBackup    open the session (a down server: VSS_E_WRITERERROR_RETRYABLE).
 *   PrepareForSnapshot  reserve the WAL with a temporary replication slot, then
 *                       pg_backup_start(label, fast => true): the checkpoint, the slow part,
 *                       happens here, outside the freeze window.
 *   Freeze              one round trip on the session, within the lock budget: the backup
 *                       is still active (a dead session vetoes RETRYABLE, no answer in time
 *                       vetoes TIMEOUT). Commits go on: PostgreSQL is never blocked.
 *   PostSnapshot        pg_backup_stop(wait_for_archive => false); the returned backup label
 *                       and tablespace map, and the WAL from the backup's start to its end
 *                       record, go to <label-dir>/<snapshot-set-id>/ (pg-label.h), and to
 *                       the log. In component mode the label and map, and the label set's
 *                       name, also go into each component's backup metadata in the backup
 *                       components document.
 *   Abort, BackupShutdown, and dying: the session is closed; the server ends a non-exclusive
 *                       backup with its session, so nothing is left in backup mode.
 *
 *   PostRestore         for the data component, fully restored, no more restores to come:
 *                       write the document's label and map, and the label set's WAL, into the
 *                       restored data directory (the requester's new target, else the
 *                       original), so that PostgreSQL recovers from it on its next start.
 *
 * `vss-writer-postgresql --restore-label SET --datadir DIR` does the same from the label set
 * alone, for restores outside the VSS sequence.
 *
 * Every callback runs on libvss's callback thread, one at a time: no locking here.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "writers/common/writer-util.h"
#include "writers/postgresql/pg-label.h"
#include "writers/postgresql/pg-query.h"

/* The writer's class id: fixed, so requesters recognise PostgreSQL in any instance. */
#define PG_WRITER_CLASS "8e3f51c2-9b0d-4a7e-b6c4-1f2a7d9e0c35"
#define PG_WRITER_NAME "PostgreSQL Writer"
#define PROGRAM "vss-writer-postgresql"

#define COMPONENT_DATA "data"
#define COMPONENT_WAL "wal"
#define COMPONENT_TABLESPACE_PREFIX "tablespace-"

#define TABLESPACES_MAX 64U
#define WAL_SEGMENTS_MAX 256U
#define FREEZE_TIMEOUT_DEFAULT_MS 20000U
#define LOCK_TIMEOUT_DEFAULT_MS 5000U
#define CONNECT_TIMEOUT_DEFAULT_MS 5000U
#define CHECKPOINT_TIMEOUT_DEFAULT_MS 120000U
#define LABEL_KEEP_DEFAULT 8U
#define TIMEOUT_MAX_MS (3600U * 1000U)

typedef struct Tablespace {
        char *oid;
        char *name;
        char *location;
} Tablespace;

/* Where the cluster keeps its files, as the server reported them. */
typedef struct Layout {
        char *data_dir;
        char *wal_dir;         /* data_dir/pg_wal, or its target when that is a symbolic link */
        Tablespace tablespaces[TABLESPACES_MAX];
        size_t n_tablespaces;
        uint64_t wal_segment_size;
} Layout;

typedef struct PgWriter {
        /* Configuration */
        char *conninfo;
        char *label_dir;
        uint32_t connect_timeout_ms;
        uint32_t lock_budget_ms;       /* min(--lock-timeout, --freeze-timeout) */
        uint32_t checkpoint_timeout_ms;
        uint32_t freeze_timeout_ms;
        unsigned label_keep;

        Layout layout;                 /* from the last Identify or PrepareForBackup that reached the server */

        /* The current backup */
        bool selected;                 /* this cluster is part of it */
        bool component_mode;
        PGconn *session;               /* held from PrepareForBackup to PostSnapshot/Abort/Shutdown */
        int backend_pid;
        bool in_backup;                /* pg_backup_start succeeded and pg_backup_stop did not run */
        unsigned slot_serial;
        char set_id[VSS_ID_STRING_MAX];
        uint64_t frozen_usec;
} PgWriter;

static uint64_t deadline_after(uint32_t ms) {
        return mono_usec() + (uint64_t) ms * USEC_PER_MSEC;
}

/* ------------------------------------------------------------------------------------------ */
/* Layout                                                                                      */
/* ------------------------------------------------------------------------------------------ */

static void layout_done(Layout *l) {
        free(l->data_dir);
        free(l->wal_dir);
        for (size_t i = 0; i < l->n_tablespaces; i++) {
                free(l->tablespaces[i].oid);
                free(l->tablespaces[i].name);
                free(l->tablespaces[i].location);
        }
        *l = (Layout) {};
}

static bool server_path_ok(const char *p) {
        return p && p[0] == '/' && strlen(p) < PATH_MAX && !strchr(p, '\n');
}

/*
 * Reads the layout over conn. The WAL directory is the data directory's pg_wal; when that
 * is a symbolic link (initdb --waldir), its target is what must be snapshotted. We resolve
 * it on our side, which needs permission to look into the data directory; without it the
 * link itself is declared (and logged).
 */
static int layout_read(PGconn *conn, uint64_t deadline, const char *what, Layout *ret) {
        _cleanup_(PQclearp) PGresult *settings = NULL, *spc = NULL;
        _cleanup_free_ char *link = NULL;
        Layout l = {};
        const char *dd, *seg;
        int r;

        r = pg_query(conn,
                     "SELECT current_setting('data_directory'), "
                     "(SELECT setting FROM pg_catalog.pg_settings WHERE name = 'wal_segment_size')",
                     0, NULL, false, deadline, what, &settings);
        if (r < 0)
                return r;
        r = pg_query(conn,
                     "SELECT oid::text, spcname, pg_catalog.pg_tablespace_location(oid) FROM pg_catalog.pg_tablespace "
                     "WHERE pg_catalog.pg_tablespace_location(oid) <> '' ORDER BY oid",
                     0, NULL, false, deadline, what, &spc);
        if (r < 0)
                return r;

        dd = pg_value(settings, 0);
        seg = pg_value(settings, 1);
        if (!server_path_ok(dd) || !seg) {
                wlog(LOG_ERR, "%s: the server reported no usable data directory", what);
                return -EPROTO;
        }
        l.wal_segment_size = strtoull(seg, NULL, 10);
        if (l.wal_segment_size < 1024 * 1024 || (l.wal_segment_size & (l.wal_segment_size - 1)) != 0) {
                wlog(LOG_ERR, "%s: unexpected wal_segment_size %s", what, seg);
                return -EPROTO;
        }
        if (PQntuples(spc) > (int) TABLESPACES_MAX) {
                wlog(LOG_ERR, "%s: more than %u tablespaces", what, TABLESPACES_MAX);
                return -E2BIG;
        }

        l.data_dir = strdup(dd);
        if (asprintf(&link, "%s/pg_wal", dd) < 0 || !l.data_dir) {
                layout_done(&l);
                return -ENOMEM;
        }
        l.wal_dir = realpath(link, NULL);
        if (!l.wal_dir) {
                wlog(LOG_WARNING, "%s: cannot resolve %s (%m); declaring it as it is", what, link);
                l.wal_dir = TAKE_PTR(link);
        }

        for (int i = 0; i < PQntuples(spc); i++) {
                Tablespace *t = &l.tablespaces[l.n_tablespaces];
                const char *loc = PQgetvalue(spc, i, 2);

                if (!server_path_ok(loc)) {
                        wlog(LOG_WARNING, "%s: tablespace %s has an unusable location; skipped", what,
                             PQgetvalue(spc, i, 1));
                        continue;
                }
                t->oid = strdup(PQgetvalue(spc, i, 0));
                t->name = strdup(PQgetvalue(spc, i, 1));
                t->location = strdup(loc);
                l.n_tablespaces++;
                if (!t->oid || !t->name || !t->location) {
                        layout_done(&l);
                        return -ENOMEM;
                }
        }

        *ret = l;
        return 0;
}

/* Connects and reads the layout into p->layout (kept as it was on failure). Returns the
 * connection when ret_conn is non-NULL, else closes it. */
static int layout_refresh(PgWriter *p, const char *what, PGconn **ret_conn) {
        _cleanup_(PQfinishp) PGconn *conn = NULL;
        uint64_t deadline = deadline_after(p->connect_timeout_ms);
        Layout l;
        int r;

        r = pg_connect(p->conninfo, PROGRAM, deadline, what, &conn);
        if (r < 0)
                return r;
        r = layout_read(conn, deadline, what, &l);
        if (r < 0)
                return r;
        layout_done(&p->layout);
        p->layout = l;
        if (ret_conn)
                *ret_conn = TAKE_PTR(conn);
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The backup session                                                                          */
/* ------------------------------------------------------------------------------------------ */

/* Ends the session. If a backup was running on it, the server aborts it with the session. */
static void session_close(PgWriter *p, const char *event) {
        if (!p->session)
                return;
        PQfinish(p->session);
        p->session = NULL;
        if (p->in_backup)
                wlog(LOG_INFO, "%s: backup on backend %d ended with its session; nothing left in backup mode",
                     event, p->backend_pid);
        p->in_backup = false;
        p->backend_pid = 0;
}

static void backup_forget(PgWriter *p, const char *event) {
        session_close(p, event);
        p->selected = false;
        p->set_id[0] = '\0';
}

static bool fail(PgWriter *p, vss_writer *w, const char *event, vss_hr failure) {
        session_close(p, event);
        (void) vss_writer_set_writer_failure(w, failure);
        return false;
}

/* The VSS failure for a pg-query error: no answer in time is a timeout, anything else may
 * go away on a later attempt. */
static vss_hr failure_from(int r) {
        return r == -ETIMEDOUT ? VSS_E_WRITERERROR_TIMEOUT : VSS_E_WRITERERROR_RETRYABLE;
}

/* ------------------------------------------------------------------------------------------ */
/* Identify and PrepareForBackup                                                               */
/* ------------------------------------------------------------------------------------------ */

static vss_hr declare_component(vss_create_writer_metadata *md, const char *name, const char *caption,
                                const char *path) {
        vss_hr hr;

        hr = vss_create_writer_metadata_add_component(md, VSS_CT_FILEGROUP, NULL, name, caption, false, false, true,
                                                      true, 0);
        if (hr == S_OK)
                hr = vss_create_writer_metadata_add_files_to_file_group(md, NULL, name, path, "*", true, NULL,
                                                                        VSS_FSBT_ALL_BACKUP_REQUIRED |
                                                                                VSS_FSBT_ALL_SNAPSHOT_REQUIRED);
        return hr;
}

static bool on_identify(vss_writer *w, vss_create_writer_metadata *md, void *userdata) {
        PgWriter *p = userdata;
        const Layout *l = &p->layout;
        vss_hr hr;

        /* A down server is no reason to fail Identify: describe what we knew last, and let
         * PrepareForBackup report the failure, retryable, to the backup that needs us. */
        if (layout_refresh(p, "identify", NULL) < 0)
                wlog(LOG_WARNING, "identify: server not reachable; describing the layout last seen%s",
                     l->data_dir ? "" : " (none yet)");

        hr = vss_create_writer_metadata_set_restore_method(
                md, VSS_RME_STOP_RESTORE_START, "postgresql.service",
                "Stop the server, restore the files; PostRestore writes the backup label from the backup "
                "components document; start the server: it recovers from the backup label",
                VSS_WRE_ALWAYS, false);
        /* PostRestore prepares the data directory where the requester put it. */
        if (hr == S_OK)
                hr = vss_create_writer_metadata_set_backup_schema(md, VSS_BS_WRITER_SUPPORTS_NEW_TARGET);
        if (hr == S_OK && l->data_dir) {
                hr = declare_component(md, COMPONENT_DATA, "PostgreSQL data directory", l->data_dir);
                /* Stale files of the running server; a restore must not see them. */
                if (hr == S_OK)
                        hr = vss_create_writer_metadata_add_exclude_files(md, l->data_dir, "postmaster.pid", false);
                if (hr == S_OK)
                        hr = vss_create_writer_metadata_add_exclude_files(md, l->data_dir, "postmaster.opts", false);
                if (hr == S_OK)
                        hr = declare_component(md, COMPONENT_WAL, "PostgreSQL write-ahead log", l->wal_dir);
                for (size_t i = 0; hr == S_OK && i < l->n_tablespaces; i++) {
                        _cleanup_free_ char *name = NULL, *caption = NULL;

                        if (asprintf(&name, COMPONENT_TABLESPACE_PREFIX "%s", l->tablespaces[i].oid) < 0 ||
                            asprintf(&caption, "PostgreSQL tablespace %s", l->tablespaces[i].name) < 0)
                                return false;
                        hr = declare_component(md, name, caption, l->tablespaces[i].location);
                }
        }
        if (hr != S_OK) {
                wlog(LOG_ERR, "identify: cannot describe the cluster: %s", vss_hr_name(hr));
                return false;
        }
        wlog(LOG_INFO, "identify: data %s, WAL %s, %zu tablespace(s)", strempty(l->data_dir), strempty(l->wal_dir),
             l->n_tablespaces);
        return true;
}

static bool component_is_ours(const PgWriter *p, const char *lp, const char *name) {
        if (!isempty(lp))
                return false;
        if (streq(name, COMPONENT_DATA) || streq(name, COMPONENT_WAL))
                return true;
        for (size_t i = 0; i < p->layout.n_tablespaces; i++)
                if (strncmp(name, COMPONENT_TABLESPACE_PREFIX, strlen(COMPONENT_TABLESPACE_PREFIX)) == 0 &&
                    streq(name + strlen(COMPONENT_TABLESPACE_PREFIX), p->layout.tablespaces[i].oid))
                        return true;
        return false;
}

/* Whether the current backup includes this cluster: always outside component mode, else
 * when the requester selected any of our components (the cluster is backed up whole). */
static int backup_selects_us(PgWriter *p, vss_writer *w, vss_writer_components *c, bool *ret) {
        bool selected = false;
        unsigned n = 0;

        p->component_mode = vss_writer_are_components_selected(w, &selected) == S_OK && selected && c;
        if (!p->component_mode) {
                *ret = true;
                return 0;
        }
        if (vss_writer_components_get_count(c, &n) != S_OK)
                return -EIO;
        *ret = false;
        for (unsigned i = 0; i < n; i++) {
                const char *lp = NULL, *name = NULL;
                vss_component *comp;

                if (vss_writer_components_get_component(c, i, &comp) != S_OK ||
                    vss_component_get_logical_path(comp, &lp) != S_OK ||
                    vss_component_get_component_name(comp, &name) != S_OK)
                        return -EIO;
                if (component_is_ours(p, lp, name))
                        *ret = true;
                else
                        wlog(LOG_WARNING, "prepare-backup: the requester selected unknown component %s\\%s",
                             strempty(lp), name);
        }
        return 0;
}

static bool on_prepare_backup(vss_writer *w, vss_writer_components *c, void *userdata) {
        PgWriter *p = userdata;
        int r;

        backup_forget(p, "prepare-backup");
        r = backup_selects_us(p, w, c, &p->selected);
        if (r < 0) {
                wlog(LOG_ERR, "prepare-backup: cannot read the selected components");
                return fail(p, w, "prepare-backup", VSS_E_WRITERERROR_RETRYABLE);
        }
        if (!p->selected) {
                wlog(LOG_INFO, "prepare-backup: the cluster is not part of this backup");
                return true;
        }

        /* The connection check, and the session the backup will run on. */
        r = layout_refresh(p, "prepare-backup", &p->session);
        if (r < 0) {
                wlog(LOG_ERR, "prepare-backup: the server is not available; the backup may be retried");
                p->selected = false;
                return fail(p, w, "prepare-backup", VSS_E_WRITERERROR_RETRYABLE);
        }
        p->backend_pid = PQbackendPID(p->session);
        wlog(LOG_INFO, "prepare-backup: session open on backend %d (data %s)", p->backend_pid, p->layout.data_dir);
        return true;
}

/* ------------------------------------------------------------------------------------------ */
/* PrepareForSnapshot and Freeze                                                               */
/* ------------------------------------------------------------------------------------------ */

/* Whether path (resolved first: volumes are canonical paths) lies on a volume of the set. */
static bool path_affected(vss_writer *w, const char *path) {
        _cleanup_free_ char *real = realpath(path, NULL);
        bool affected = false;

        return vss_writer_is_path_affected(w, real ?: path, &affected) == S_OK && affected;
}

/*
 * The data directory decides whether the cluster is in the snapshot at all. Tablespaces
 * must be in it too (their files are nowhere else). The WAL need not be: the label set
 * carries every WAL segment from the backup's start to its end.
 */
static int check_volumes(PgWriter *p, vss_writer *w, bool *ret_in_set) {
        const Layout *l = &p->layout;

        if (!path_affected(w, l->data_dir)) {
                if (p->component_mode) {
                        wlog(LOG_ERR, "prepare-snapshot: the data directory %s is selected but on no volume of the set",
                             l->data_dir);
                        return -EXDEV;
                }
                *ret_in_set = false;
                return 0;
        }
        for (size_t i = 0; i < l->n_tablespaces; i++)
                if (!path_affected(w, l->tablespaces[i].location)) {
                        wlog(LOG_ERR, "prepare-snapshot: tablespace %s (%s) is on no volume of the set",
                             l->tablespaces[i].name, l->tablespaces[i].location);
                        return -EXDEV;
                }
        if (!path_affected(w, l->wal_dir))
                wlog(LOG_INFO, "prepare-snapshot: the WAL directory %s is not in the set; the label set carries the "
                     "backup's WAL", l->wal_dir);
        *ret_in_set = true;
        return 0;
}

/*
 * A temporary physical replication slot keeps the server from recycling the WAL segments
 * between the backup's start and PostSnapshot, where we copy them; it goes away with the
 * session. Without replication privileges or free slots we go on without it (logged): a
 * checkpoint would have to recycle a segment within the few seconds of the backup.
 */
static int slot_reserve(PgWriter *p, uint64_t deadline) {
        _cleanup_(PQclearp) PGresult *res = NULL;
        char name[64];
        const char *params[1] = { name };
        int r;

        (void) snprintf(name, sizeof(name), "vss_writer_%d_%u", (int) getpid(), ++p->slot_serial);
        r = pg_query(p->session, "SELECT pg_catalog.pg_create_physical_replication_slot($1, true, true)", 1, params,
                     false, deadline, "prepare-snapshot: WAL reservation", &res);
        if (r == -EREMOTEIO) {
                wlog(LOG_WARNING, "prepare-snapshot: going on without a WAL reservation");
                return 0;
        }
        if (r < 0)
                return r;
        wlog(LOG_INFO, "prepare-snapshot: WAL reserved by temporary slot %s", name);
        return 0;
}

static bool on_prepare_snapshot(vss_writer *w, void *userdata) {
        PgWriter *p = userdata;
        _cleanup_(PQclearp) PGresult *res = NULL;
        _cleanup_free_ char *label = NULL;
        const char *params[1];
        uint64_t start = mono_usec(), deadline = deadline_after(p->checkpoint_timeout_ms);
        vss_id set = VSS_ID_NULL;
        bool in_set = false;
        int r;

        if (!p->selected)
                return true;
        if (!p->session || PQstatus(p->session) != CONNECTION_OK) {
                wlog(LOG_ERR, "prepare-snapshot: the session of PrepareForBackup is gone");
                return fail(p, w, "prepare-snapshot", VSS_E_WRITERERROR_RETRYABLE);
        }
        if (check_volumes(p, w, &in_set) < 0)
                return fail(p, w, "prepare-snapshot", VSS_E_WRITERERROR_INCONSISTENTSNAPSHOT);
        if (!in_set) {
                wlog(LOG_INFO, "prepare-snapshot: the data directory %s is on no volume of the set; not involved",
                     p->layout.data_dir);
                backup_forget(p, "prepare-snapshot");
                return true;
        }

        (void) vss_writer_get_current_snapshot_set_id(w, &set);
        (void) vss_id_format(&set, p->set_id);
        if (asprintf(&label, "vss-linux snapshot set %s", p->set_id) < 0)
                return fail(p, w, "prepare-snapshot", VSS_E_WRITERERROR_OUTOFRESOURCES);

        r = slot_reserve(p, deadline);
        if (r < 0)
                return fail(p, w, "prepare-snapshot", failure_from(r));

        /* fast => true: an immediate checkpoint, so the wait is as short as the server can
         * make it, and it is over before Freeze. */
        params[0] = label;
        r = pg_query(p->session, "SELECT pg_catalog.pg_backup_start($1, true)::text", 1, params, false, deadline,
                     "prepare-snapshot: pg_backup_start", &res);
        if (r < 0)
                return fail(p, w, "prepare-snapshot", failure_from(r));
        p->in_backup = true;
        wlog(LOG_INFO, "prepare-snapshot: backup started on backend %d at WAL %s after %.3f ms (label \"%s\")",
             p->backend_pid, strempty(pg_value(res, 0)), (double) (mono_usec() - start) / 1e3, label);
        return true;
}

static bool on_freeze(vss_writer *w, void *userdata) {
        PgWriter *p = userdata;
        _cleanup_(PQclearp) PGresult *res = NULL;
        uint64_t start = mono_usec();
        int r;

        if (!p->in_backup)
                return true;

        /* The backup lives exactly as long as its session: a session that answers is a
         * backup still active. */
        r = pg_query(p->session, "SELECT pg_catalog.pg_current_wal_lsn()::text", 0, NULL, false,
                     deadline_after(p->lock_budget_ms), "freeze: backup check", &res);
        if (r == -ETIMEDOUT) {
                wlog(LOG_ERR, "freeze: backend %d did not answer within %u ms; vetoing", p->backend_pid,
                     p->lock_budget_ms);
                return fail(p, w, "freeze", VSS_E_WRITERERROR_TIMEOUT);
        }
        if (r < 0) {
                wlog(LOG_ERR, "freeze: the backup session on backend %d is gone; vetoing", p->backend_pid);
                return fail(p, w, "freeze", VSS_E_WRITERERROR_RETRYABLE);
        }
        p->frozen_usec = mono_usec();
        /* The freeze marker tests and operators use. */
        wlog(LOG_INFO, "freeze: backup active on backend %d, WAL at %s, checked in %.3f ms (monotonic %llu us)",
             p->backend_pid, strempty(pg_value(res, 0)), (double) (p->frozen_usec - start) / 1e3,
             (unsigned long long) p->frozen_usec);
        return true;
}

static bool on_thaw(vss_writer *w, void *userdata) {
        PgWriter *p = userdata;
        uint64_t now = mono_usec();

        if (p->in_backup)
                wlog(LOG_INFO, "thaw: freeze window %.3f ms, commits never blocked (monotonic %llu us)",
                     (double) (now - p->frozen_usec) / 1e3, (unsigned long long) now);
        return true;
}

/* ------------------------------------------------------------------------------------------ */
/* PostSnapshot                                                                                */
/* ------------------------------------------------------------------------------------------ */

static void log_text(const char *event, const char *title, const char *text) {
        const char *line = text;

        wlog(LOG_INFO, "%s: %s:", event, title);
        while (line && *line) {
                size_t n = strcspn(line, "\n");

                wlog(LOG_INFO, "%s:   %.*s", event, (int) n, line);
                line += n;
                if (*line == '\n')
                        line++;
        }
}

/* The WAL file the backup started in, from the label's "START WAL LOCATION: X/Y (file NAME)". */
static int label_start_file(const char *label, char ret[WAL_NAME_LEN + 1]) {
        const char *p = strstr(label, "START WAL LOCATION:");
        const char *file;

        if (!p)
                return -EINVAL;
        file = strstr(p, "(file ");
        if (!file || file > p + strcspn(p, "\n"))
                return -EINVAL;
        file += strlen("(file ");
        if (strspn(file, "0123456789ABCDEF") != WAL_NAME_LEN || file[WAL_NAME_LEN] != ')')
                return -EINVAL;
        memcpy(ret, file, WAL_NAME_LEN);
        ret[WAL_NAME_LEN] = '\0';
        return 0;
}

/*
 * Copies WAL segments first..last (file names, one timeline) from the server into the label
 * set. Read through the session with pg_read_binary_file, so the writer needs no access to
 * the server's files, only the privileges the backup functions need anyway.
 */
static int wal_capture(PgWriter *p, LabelSet *set, const char *first, const char *last, uint64_t deadline,
                       unsigned *ret_count) {
        uint64_t seg_size = p->layout.wal_segment_size, from, to;
        uint32_t tli, tli_last;
        unsigned n = 0;
        int r;

        if (wal_name_parse(first, seg_size, &tli, &from) < 0 || wal_name_parse(last, seg_size, &tli_last, &to) < 0 ||
            tli != tli_last || to < from) {
                wlog(LOG_ERR, "post-snapshot: unexpected WAL range %s..%s", first, last);
                return -EPROTO;
        }
        if (to - from + 1 > WAL_SEGMENTS_MAX) {
                wlog(LOG_ERR, "post-snapshot: the backup spans %" PRIu64 " WAL segments, more than %u", to - from + 1,
                     WAL_SEGMENTS_MAX);
                return -E2BIG;
        }

        for (uint64_t segno = from; segno <= to; segno++) {
                _cleanup_(PQclearp) PGresult *res = NULL;
                char name[WAL_NAME_LEN + 1], rel[sizeof(LABEL_WAL_DIR) + WAL_NAME_LEN + 1];
                const char *params[1] = { rel };

                wal_name_format(tli, segno, seg_size, name);
                (void) snprintf(rel, sizeof(rel), LABEL_WAL_DIR "/%s", name);
                r = pg_query(p->session, "SELECT pg_catalog.pg_read_binary_file($1)", 1, params, true, deadline,
                             "post-snapshot: reading WAL", &res);
                if (r < 0)
                        return r;
                if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0) || (uint64_t) PQgetlength(res, 0, 0) != seg_size) {
                        wlog(LOG_ERR, "post-snapshot: WAL segment %s: unexpected size", name);
                        return -EPROTO;
                }
                r = label_set_write(set, rel, PQgetvalue(res, 0, 0), (size_t) PQgetlength(res, 0, 0));
                if (r < 0) {
                        wlog(LOG_ERR, "post-snapshot: cannot store WAL segment %s: %s", name, strerror(-r));
                        return r;
                }
                n++;
        }
        *ret_count = n;
        return 0;
}

/* Stores label, map and WAL as the label set of the current snapshot set. */
static int label_set_store(PgWriter *p, const char *label, const char *map, const char *stop_file, uint64_t deadline,
                           char start_file[WAL_NAME_LEN + 1], char **ret_path, unsigned *ret_segments) {
        _cleanup_(label_set_done) LabelSet set = { .dir_fd = -EBADF };
        unsigned segments = 0;
        int r;

        r = label_start_file(label, start_file);
        if (r < 0) {
                wlog(LOG_ERR, "post-snapshot: the backup label names no start WAL file");
                return r;
        }
        r = label_set_begin(p->label_dir, p->set_id, &set);
        if (r < 0) {
                wlog(LOG_ERR, "post-snapshot: cannot create a label set in %s: %s", p->label_dir, strerror(-r));
                return r;
        }
        r = wal_capture(p, &set, start_file, stop_file, deadline, &segments);
        if (r < 0)
                return r;
        r = label_set_write(&set, TABLESPACE_MAP_FILE, map, strlen(map));
        if (r >= 0)
                r = label_set_write(&set, LABEL_FILE, label, strlen(label));
        if (r >= 0)
                r = label_set_commit(&set);
        if (r < 0) {
                wlog(LOG_ERR, "post-snapshot: cannot write the label set: %s", strerror(-r));
                return r;
        }
        *ret_path = TAKE_PTR(set.final);
        *ret_segments = segments;
        return 0;
}

/* Calls f on each of our components in c (none outside component mode); stops at f's error. */
static int components_foreach(vss_writer_components *c,
                              int (*f)(vss_component *comp, const char *name, void *userdata), void *userdata) {
        unsigned n = 0;

        if (!c)
                return 0;
        if (vss_writer_components_get_count(c, &n) != S_OK)
                return -EIO;
        for (unsigned i = 0; i < n; i++) {
                const char *lp = NULL, *name = NULL;
                vss_component *comp;
                int r;

                if (vss_writer_components_get_component(c, i, &comp) != S_OK ||
                    vss_component_get_logical_path(comp, &lp) != S_OK ||
                    vss_component_get_component_name(comp, &name) != S_OK)
                        return -EIO;
                if (!isempty(lp) || !(streq(name, COMPONENT_DATA) || streq(name, COMPONENT_WAL) ||
                                      strncmp(name, COMPONENT_TABLESPACE_PREFIX,
                                              strlen(COMPONENT_TABLESPACE_PREFIX)) == 0))
                        continue;
                r = f(comp, name, userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int metadata_set_one(vss_component *comp, const char *name, void *userdata) {
        vss_hr hr = vss_component_set_backup_metadata(comp, userdata);

        if (hr != S_OK) {
                wlog(LOG_ERR, "post-snapshot: cannot store the backup metadata of %s: %s", name, vss_hr_name(hr));
                return hr == E_INVALIDARG ? -E2BIG : -EIO;
        }
        return 0;
}

/*
 * Puts the backup's label and map, and what names its label set, into each of our
 * components' backup metadata, where PostRestore finds them. Outside component mode the
 * document holds no components: the label set alone then carries the label.
 */
static int metadata_store(PgWriter *p, vss_writer_components *c, const char *label, const char *map,
                          const char *start_file, const char *stop_file) {
        _cleanup_free_ char *text = NULL;
        PgMetadata m = {
                .set_id = p->set_id,
                .data_dir = p->layout.data_dir,
                .wal_first = (char *) start_file,
                .wal_last = (char *) stop_file,
                .label = (char *) label,
                .map = (char *) map,
        };
        int r;

        if (!p->component_mode) {
                wlog(LOG_INFO, "post-snapshot: not in component mode; the label set alone carries the label");
                return 0;
        }
        r = pg_metadata_format(&m, &text);
        if (r < 0) {
                wlog(LOG_ERR, "post-snapshot: the backup metadata does not fit the document (%s)", strerror(-r));
                return r;
        }
        r = components_foreach(c, metadata_set_one, text);
        if (r < 0)
                return r;
        wlog(LOG_INFO, "post-snapshot: label stored in the backup components document (%zu bytes)%s", strlen(text),
             strstr(text, "tablespace-map: label-set") ? "; tablespace map in the label set only" : "");
        return 0;
}

static bool on_post_snapshot(vss_writer *w, vss_writer_components *c, void *userdata) {
        PgWriter *p = userdata;
        _cleanup_(PQclearp) PGresult *res = NULL;
        _cleanup_free_ char *path = NULL;
        uint64_t deadline = deadline_after(p->checkpoint_timeout_ms), now;
        const char *lsn, *label, *map, *stop_file;
        char start_file[WAL_NAME_LEN + 1];
        unsigned segments = 0;
        int r;

        if (!p->in_backup)
                return true;

        r = pg_query(p->session,
                     "SELECT s.lsn::text, s.labelfile, s.spcmapfile, pg_catalog.pg_walfile_name(s.lsn) "
                     "FROM pg_catalog.pg_backup_stop(false) AS s",
                     0, NULL, false, deadline, "post-snapshot: pg_backup_stop", &res);
        if (r < 0)
                return fail(p, w, "post-snapshot", failure_from(r));
        p->in_backup = false;

        lsn = pg_value(res, 0);
        label = pg_value(res, 1);
        map = pg_value(res, 2) ?: "";
        stop_file = pg_value(res, 3);
        if (!lsn || !label || !stop_file) {
                wlog(LOG_ERR, "post-snapshot: pg_backup_stop returned no label");
                return fail(p, w, "post-snapshot", VSS_E_WRITERERROR_RETRYABLE);
        }
        now = mono_usec();
        /* The backup's end: a restore recovers to here, which is after Thaw. */
        wlog(LOG_INFO, "post-snapshot: backup stopped at WAL %s (file %s) (monotonic %llu us)", lsn, stop_file,
             (unsigned long long) now);
        log_text("post-snapshot", "backup label", label);
        if (map[0])
                log_text("post-snapshot", "tablespace map", map);

        r = label_set_store(p, label, map, stop_file, deadline, start_file, &path, &segments);
        if (r < 0)
                return fail(p, w, "post-snapshot", failure_from(r));
        wlog(LOG_INFO, "post-snapshot: label set %s written (%u WAL segment(s))", path, segments);
        (void) label_sets_prune(p->label_dir, p->label_keep);

        r = metadata_store(p, c, label, map, start_file, stop_file);
        if (r < 0)
                return fail(p, w, "post-snapshot", r == -E2BIG ? VSS_E_WRITERERROR_NONRETRYABLE :
                                                                 VSS_E_WRITERERROR_OUTOFRESOURCES);

        /* Done with the server: the slot goes with the session. */
        session_close(p, "post-snapshot");
        return true;
}

static bool on_abort(vss_writer *w, void *userdata) {
        PgWriter *p = userdata;

        backup_forget(p, "abort");
        wlog(LOG_INFO, "abort: nothing held any more");
        return true;
}

static bool on_backup_shutdown(vss_writer *w, const vss_id *set_id, void *userdata) {
        PgWriter *p = userdata;
        char id[VSS_ID_STRING_MAX];

        /* Every writer hears every backup's end, including while it takes part in another
         * (backups of other volumes run at the same time): once PrepareForSnapshot named
         * this backup's set, the end of any other set leaves its session alone. */
        if (p->set_id[0] && set_id && !vss_id_is_null(set_id) && !streq(vss_id_format(set_id, id), p->set_id))
                return true;
        /* Normally nothing is left by now; a requester that gave up mid-way may leave the
         * session of PrepareForBackup. */
        backup_forget(p, "backup-shutdown");
        return true;
}

/* ------------------------------------------------------------------------------------------ */
/* PostRestore                                                                                 */
/* ------------------------------------------------------------------------------------------ */

/* Where the requester put the data directory: the new target of its file set, else where it
 * was. *ret is borrowed from comp or m. */
static const char *restored_data_dir(vss_component *comp, const PgMetadata *m) {
        unsigned n = 0;

        if (vss_component_get_new_target_count(comp, &n) != S_OK)
                return m->data_dir;
        for (unsigned i = 0; i < n; i++) {
                const char *path = NULL, *alternate = NULL;

                if (vss_component_get_new_target(comp, i, &path, NULL, NULL, &alternate) == S_OK && path &&
                    alternate && streq(path, m->data_dir))
                        return alternate;
        }
        return m->data_dir;
}

/*
 * Prepares the restored data directory of comp (the data component) from its backup
 * metadata and the label set it names. Returns 0, or a negative errno with *ret_msg (static
 * text) saying what went wrong.
 */
static int data_restore(PgWriter *p, vss_component *comp, const char **ret_msg) {
        _cleanup_(pg_metadata_done) PgMetadata m = {};
        _cleanup_free_ char *set_dir = NULL;
        const char *text = NULL, *datadir;
        int r;

        if (vss_component_get_backup_metadata(comp, &text) != S_OK || !text) {
                *ret_msg = "the backup components document holds no PostgreSQL backup label for this component";
                return -ENOENT;
        }
        r = pg_metadata_parse(text, &m);
        if (r < 0) {
                *ret_msg = "the PostgreSQL backup metadata in the document is malformed";
                return r;
        }
        if (!p->label_dir || asprintf(&set_dir, "%s/%s", p->label_dir, m.set_id) < 0) {
                *ret_msg = "out of memory";
                return -ENOMEM;
        }
        datadir = restored_data_dir(comp, &m);
        wlog(LOG_INFO, "post-restore: preparing %s from the document's label (snapshot set %s, WAL %s..%s)", datadir,
             m.set_id, m.wal_first, m.wal_last);
        r = label_restore(set_dir, datadir, m.label, m.map);
        if (r < 0) {
                *ret_msg = r == -EBUSY   ? "a PostgreSQL server is running on the restored data directory" :
                           r == -ESTALE  ? "the label set in the label directory belongs to another backup" :
                           r == -ENOTDIR ? "the restored data directory is not a PostgreSQL data directory" :
                                           "cannot prepare the restored data directory (see the writer's log)";
                return r;
        }
        wlog(LOG_INFO, "post-restore: %s will recover from the backup label on its next start", datadir);
        return 0;
}

static bool on_post_restore(vss_writer *w, vss_writer_components *c, void *userdata) {
        PgWriter *p = userdata;
        unsigned n = 0;

        if (!c || vss_writer_components_get_count(c, &n) != S_OK)
                return true;
        for (unsigned i = 0; i < n; i++) {
                const char *lp = NULL, *name = NULL, *msg = NULL;
                vss_file_restore_status status = VSS_RS_UNDEFINED;
                bool selected = false, additional = false;
                vss_component *comp;

                if (vss_writer_components_get_component(c, i, &comp) != S_OK ||
                    vss_component_get_logical_path(comp, &lp) != S_OK ||
                    vss_component_get_component_name(comp, &name) != S_OK || !isempty(lp) ||
                    !streq(name, COMPONENT_DATA))
                        continue;
                if (vss_component_is_selected_for_restore(comp, &selected) != S_OK || !selected)
                        continue;
                (void) vss_component_get_file_restore_status(comp, &status);
                (void) vss_component_get_additional_restores(comp, &additional);
                if (status != VSS_RS_ALL) {
                        wlog(LOG_WARNING, "post-restore: file restore status %d, not all files restored; the data "
                             "directory is left as it is", (int) status);
                        continue;
                }
                if (additional) {
                        wlog(LOG_INFO, "post-restore: more restores follow; the label goes in with the last");
                        continue;
                }
                if (data_restore(p, comp, &msg) < 0) {
                        wlog(LOG_ERR, "post-restore: %s", msg);
                        (void) vss_component_set_post_restore_failure_msg(comp, msg);
                        (void) vss_writer_set_writer_failure(w, VSS_E_WRITERERROR_NONRETRYABLE);
                        return false;
                }
        }
        return true;
}

/* ------------------------------------------------------------------------------------------ */
/* Options                                                                                     */
/* ------------------------------------------------------------------------------------------ */

typedef struct Args {
        const char *socket_path;
        const char *instance;
        const char *restore_label;
        const char *datadir;
        bool config_seen;
        uint32_t freeze_timeout_ms;
        uint32_t lock_timeout_ms;
        vss_application_level level;
} Args;

enum {
        ARG_CONNINFO = 0x100,
        ARG_CONFIG,
        ARG_FREEZE_TIMEOUT,
        ARG_LOCK_TIMEOUT,
        ARG_CONNECT_TIMEOUT,
        ARG_CHECKPOINT_TIMEOUT,
        ARG_LABEL_DIR,
        ARG_LABEL_KEEP,
        ARG_LEVEL,
        ARG_INSTANCE,
        ARG_RESTORE_LABEL,
        ARG_DATADIR,
};

static const struct option options[] = {
        { "conninfo", required_argument, NULL, ARG_CONNINFO },
        { "config", required_argument, NULL, ARG_CONFIG },
        { "socket", required_argument, NULL, 's' },
        { "freeze-timeout", required_argument, NULL, ARG_FREEZE_TIMEOUT },
        { "lock-timeout", required_argument, NULL, ARG_LOCK_TIMEOUT },
        { "connect-timeout", required_argument, NULL, ARG_CONNECT_TIMEOUT },
        { "checkpoint-timeout", required_argument, NULL, ARG_CHECKPOINT_TIMEOUT },
        { "label-dir", required_argument, NULL, ARG_LABEL_DIR },
        { "label-keep", required_argument, NULL, ARG_LABEL_KEEP },
        { "level", required_argument, NULL, ARG_LEVEL },
        { "instance", required_argument, NULL, ARG_INSTANCE },
        { "restore-label", required_argument, NULL, ARG_RESTORE_LABEL },
        { "datadir", required_argument, NULL, ARG_DATADIR },
        { "help", no_argument, NULL, 'h' },
        WRITER_OPTION_VERSION,
        {}
};

static void help(void) {
        printf(PROGRAM " [--conninfo STR | --config FILE] --label-dir DIR [OPTIONS]\n"
               PROGRAM " --restore-label SET --datadir DIR\n\n"
               "VSS writer for a PostgreSQL cluster: a non-exclusive backup from PrepareForSnapshot to\n"
               "PostSnapshot; the backup label, tablespace map and WAL are kept in the label directory.\n\n"
               "     --conninfo=STR          libpq connection string or URI (default: libpq's defaults)\n"
               "     --config=FILE           \"key = value\" lines; keys are the long options below\n"
               "     --label-dir=DIR         Where label sets go, outside the snapshotted volumes\n"
               "     --label-keep=N          Label sets kept (default %u)\n"
               "  -s --socket=PATH           vssd's socket (default: $VSS_SOCKET, else built-in)\n"
               "     --freeze-timeout=MS     Freeze→Thaw bound (default %u)\n"
               "     --lock-timeout=MS       How long Freeze may wait for the server (default %u)\n"
               "     --connect-timeout=MS    How long a connection may take (default %u)\n"
               "     --checkpoint-timeout=MS Bound on pg_backup_start and pg_backup_stop (default %u)\n"
               "     --level=LEVEL           front-end, back-end or system (default back-end)\n"
               "     --instance=NAME         Instance name (default: the connection string)\n"
               "     --restore-label=SET     Prepare a restored data directory from label set SET...\n"
               "     --datadir=DIR           ...in DIR, then exit\n"
               "  -h --help                  Show this help\n",
               LABEL_KEEP_DEFAULT, FREEZE_TIMEOUT_DEFAULT_MS, LOCK_TIMEOUT_DEFAULT_MS, CONNECT_TIMEOUT_DEFAULT_MS,
               CHECKPOINT_TIMEOUT_DEFAULT_MS);
}

/* The writer and its arguments, as the option callbacks see them. */
typedef struct OptionTarget {
        PgWriter *p;
        Args *a;
} OptionTarget;

static int config_load(const char *file, void *userdata);

static int set_string(char **field, const char *value) {
        char *copy = strdup(value);

        if (!copy)
                return -ENOMEM;
        free(*field);
        *field = copy;
        return 0;
}

/* Applies one option (from the command line or a config file). */
static int option_apply(int opt, const char *name, const char *value, void *userdata) {
        PgWriter *p = ((OptionTarget *) userdata)->p;
        Args *a = ((OptionTarget *) userdata)->a;
        uint32_t keep;
        int r;

        switch (opt) {
        case ARG_CONNINFO:
                return set_string(&p->conninfo, value);
        case ARG_CONFIG:
                if (a->config_seen) {
                        wlog(LOG_ERR, "--config given twice (or inside a config file)");
                        return -EINVAL;
                }
                a->config_seen = true;
                return config_load(value, userdata);
        case 's':
                a->socket_path = value;
                return 0;
        case ARG_FREEZE_TIMEOUT:
        case ARG_LOCK_TIMEOUT:
        case ARG_CONNECT_TIMEOUT:
        case ARG_CHECKPOINT_TIMEOUT:
                r = parse_ms(value, 1, TIMEOUT_MAX_MS,
                             opt == ARG_FREEZE_TIMEOUT  ? &a->freeze_timeout_ms :
                             opt == ARG_LOCK_TIMEOUT    ? &a->lock_timeout_ms :
                             opt == ARG_CONNECT_TIMEOUT ? &p->connect_timeout_ms :
                                                          &p->checkpoint_timeout_ms);
                if (r < 0)
                        wlog(LOG_ERR, "invalid %s: %s", name, value);
                return r;
        case ARG_LABEL_DIR:
                r = path_normalize_absolute(value, &p->label_dir);
                if (r < 0)
                        wlog(LOG_ERR, "invalid %s: %s", name, value);
                return r;
        case ARG_LABEL_KEEP:
                r = parse_ms(value, 1, 10000, &keep);
                if (r < 0)
                        wlog(LOG_ERR, "invalid %s: %s", name, value);
                p->label_keep = keep;
                return r;
        case ARG_LEVEL:
                r = parse_level(value, &a->level);
                if (r < 0)
                        wlog(LOG_ERR, "invalid %s: %s", name, value);
                return r;
        case ARG_INSTANCE:
                a->instance = value;
                return 0;
        case ARG_RESTORE_LABEL:
                a->restore_label = value;
                return 0;
        case ARG_DATADIR:
                a->datadir = value;
                return 0;
        default:
                return -EINVAL;
        }
}

/* What a config file may set: not --config itself, not the restore-only options. */
static bool config_key_allowed(int val) {
        static const int allowed[] = { ARG_CONNINFO,       ARG_FREEZE_TIMEOUT, ARG_LOCK_TIMEOUT, ARG_CONNECT_TIMEOUT,
                                       ARG_CHECKPOINT_TIMEOUT, ARG_LABEL_DIR,  ARG_LABEL_KEEP,   ARG_LEVEL,
                                       ARG_INSTANCE,        's' };

        for (size_t i = 0; i < ELEMENTSOF(allowed); i++)
                if (allowed[i] == val)
                        return true;
        return false;
}

/* A --config file: "key = value" lines, keys being the long option names (writer-util.h). */
static int config_load(const char *file, void *userdata) {
        return writer_config_load(file, options, config_key_allowed, option_apply, userdata);
}

/* Returns 1 to run, 0 to exit successfully (help), negative errno on bad usage. */
static int parse_argv(int argc, char **argv, PgWriter *p, Args *a) {
        OptionTarget target = { p, a };
        int r;

        r = writer_parse_argv(argc, argv, "s:h", options, help, option_apply, &target);
        if (r <= 0)
                return r;
        if (!!a->restore_label != !!a->datadir) {
                wlog(LOG_ERR, "--restore-label and --datadir go together");
                return -EINVAL;
        }
        if (!a->restore_label && !p->label_dir) {
                wlog(LOG_ERR, "--label-dir is required: a backup is useless without its label");
                return -EINVAL;
        }
        return 1;
}

int main(int argc, char **argv) {
        static PgWriter p;
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
                .on_post_snapshot = on_post_snapshot,
                .on_abort = on_abort,
                .on_backup_shutdown = on_backup_shutdown,
                .on_post_restore = on_post_restore,
        };
        vss_writer *w = NULL;
        vss_hr hr;
        int status = -1, r;

        wlog_init(PROGRAM);
        p.connect_timeout_ms = CONNECT_TIMEOUT_DEFAULT_MS;
        p.checkpoint_timeout_ms = CHECKPOINT_TIMEOUT_DEFAULT_MS;
        p.label_keep = LABEL_KEEP_DEFAULT;
        r = parse_argv(argc, argv, &p, &a);
        if (r <= 0) {
                status = r < 0 ? WRITER_EXIT_USAGE : EXIT_SUCCESS;
                goto finish;
        }

        if (a.restore_label) {
                r = label_restore(a.restore_label, a.datadir, NULL, NULL);
                goto finish;
        }
        if (!p.conninfo) {
                r = set_string(&p.conninfo, "");
                if (r < 0)
                        goto finish;
        }
        p.freeze_timeout_ms = a.freeze_timeout_ms;
        p.lock_budget_ms = MIN(a.lock_timeout_ms, a.freeze_timeout_ms);
        if (a.lock_timeout_ms > a.freeze_timeout_ms)
                wlog(LOG_WARNING, "--lock-timeout %u ms exceeds --freeze-timeout; using %u ms", a.lock_timeout_ms,
                     p.lock_budget_ms);

        r = writer_block_signals();
        if (r < 0)
                goto finish;

        (void) vss_id_parse(PG_WRITER_CLASS, &opts.writer_id);
        opts.writer_name = PG_WRITER_NAME;
        opts.instance_name = a.instance ?: p.conninfo;
        opts.usage_type = VSS_UT_USERDATA;
        opts.source_type = VSS_ST_TRANSACTEDDB;
        opts.level = a.level;
        opts.freeze_timeout_ms = a.freeze_timeout_ms;
        opts.socket_path = a.socket_path;

        hr = vss_writer_new(&w, &opts, &cb, &p);
        if (hr != S_OK) {
                wlog(LOG_ERR, "cannot create the writer: %s", vss_hr_name(hr));
                r = -EINVAL;
                goto finish;
        }
        if (layout_refresh(&p, "start", NULL) == 0)
                wlog(LOG_INFO, "cluster: data %s, WAL %s", p.layout.data_dir, p.layout.wal_dir);
        wlog(LOG_INFO, "label sets in %s; lock budget %u ms, freeze timeout %u ms", p.label_dir, p.lock_budget_ms,
             p.freeze_timeout_ms);

        r = writer_serve(w, VSS_SM_BACKUP_EVENTS_FLAG | VSS_SM_RESTORE_EVENTS_FLAG);
        vss_writer_free(w);

finish:
        /* The callback thread is gone: whatever it left open is ours to close. */
        session_close(&p, "exit");
        layout_done(&p.layout);
        free(p.conninfo);
        free(p.label_dir);
        return status >= 0 ? status : writer_exit_status(r);
}
