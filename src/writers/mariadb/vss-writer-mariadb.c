/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vss-writer-mariadb: a VSS writer for a MariaDB server (docs/writers/mariadb.md).
 *
 * MariaDB (10.4.1 and later) has a backup lock made for snapshot tools, in stages, held by
 * one connection (the "session") and released when that connection ends:
 *
 *   Identify            connect (bounded), SELECT @@datadir; declare it as a file-group
 *                       component. A server that is down still gets an answer, from the
 *                       data directory last seen.
 *   PrepareForBackup    open the session (a down server: VSS_E_WRITERERROR_RETRYABLE).
 *   PrepareForSnapshot  BACKUP STAGE START, FLUSH, BLOCK_DDL: the waits for running DDL and
 *                       non-transactional writes happen here, outside the freeze window.
 *   Freeze              BACKUP STAGE BLOCK_COMMIT within the lock budget (enforced by the
 *                       server through max_statement_time and lock_wait_timeout, and by us
 *                       on the socket); not in time: veto VSS_E_WRITERERROR_TIMEOUT.
 *                       From here until Thaw nobody commits.
 *   Thaw, Abort,        BACKUP STAGE END and close the session. A killed writer's session
 *   BackupShutdown      dies with it, which ends every stage at once.
 *
 * Every callback runs on libvss's callback thread, one at a time: no locking here.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "writers/common/writer-util.h"
#include "writers/mariadb/maria-query.h"

/* The writer's class id: fixed, so requesters recognise MariaDB in any instance. */
#define MARIA_WRITER_CLASS "b41d6e8a-3c27-4f90-8e15-6a9c0d2f7b43"
#define MARIA_WRITER_NAME "MariaDB Writer"
#define PROGRAM "vss-writer-mariadb"
#define COMPONENT_DATADIR "datadir"

#define FREEZE_TIMEOUT_DEFAULT_MS 20000U
#define LOCK_TIMEOUT_DEFAULT_MS 5000U
#define CONNECT_TIMEOUT_DEFAULT_MS 5000U
#define STAGE_TIMEOUT_DEFAULT_MS 60000U
#define TIMEOUT_MAX_MS (3600U * 1000U)
/* How long the writer waits for BACKUP STAGE END before it just closes the session. */
#define END_TIMEOUT_MS 2000U
/* The server is asked to stop waiting this much before our own deadline, so that its
 * answer (a clean timeout error) still reaches us in time. */
#define SERVER_MARGIN_MS 200U
#define PASSWORD_MAX 4096U

typedef enum Stage {
        STAGE_NONE,
        STAGE_BLOCK_DDL,     /* PrepareForSnapshot done */
        STAGE_BLOCK_COMMIT,  /* frozen */
} Stage;

typedef struct MariaWriter {
        MariaTarget target;
        uint32_t connect_timeout_ms;
        uint32_t stage_timeout_ms;
        uint32_t lock_budget_ms;       /* min(--lock-timeout, --freeze-timeout) */
        uint32_t freeze_timeout_ms;

        char *datadir;                 /* from the last Identify or PrepareForBackup that reached the server */

        bool selected;
        bool component_mode;
        MYSQL *session;                /* held from PrepareForBackup to Thaw/Abort/Shutdown */
        unsigned long connection_id;
        Stage stage;
        uint64_t stage_usec;           /* when BLOCK_DDL, then BLOCK_COMMIT, was granted */
} MariaWriter;

static uint64_t deadline_after(uint32_t ms) {
        return mono_usec() + (uint64_t) ms * USEC_PER_MSEC;
}

/* ------------------------------------------------------------------------------------------ */
/* Server                                                                                      */
/* ------------------------------------------------------------------------------------------ */

/* Reads @@datadir over m into *ret (malloc'd, without a trailing '/'). */
static int datadir_read(MYSQL *m, uint64_t deadline, const char *what, char **ret) {
        _cleanup_(mysql_free_resultp) MYSQL_RES *res = NULL;
        MYSQL_ROW row;
        char *d;
        size_t n;
        int r;

        r = maria_query(m, "SELECT @@datadir", deadline, what, &res);
        if (r < 0)
                return r;
        row = res ? mysql_fetch_row(res) : NULL;
        if (!row || !row[0] || row[0][0] != '/' || strlen(row[0]) >= PATH_MAX) {
                wlog(LOG_ERR, "%s: the server reported no usable data directory", what);
                return -EPROTO;
        }
        d = strdup(row[0]);
        if (!d)
                return -ENOMEM;
        n = strlen(d);
        while (n > 1 && d[n - 1] == '/')
                d[--n] = '\0';
        *ret = d;
        return 0;
}

/* Connects and refreshes w->datadir (kept as it was on failure). Hands the connection over
 * when ret is non-NULL, else closes it. */
static int server_check(MariaWriter *mw, const char *what, MYSQL **ret) {
        _cleanup_(mysql_closep) MYSQL *m = NULL;
        uint64_t deadline = deadline_after(mw->connect_timeout_ms);
        char *d = NULL;
        int r;

        r = maria_connect(&mw->target, deadline, what, &m);
        if (r < 0)
                return r;
        r = datadir_read(m, deadline, what, &d);
        if (r < 0)
                return r;
        free(mw->datadir);
        mw->datadir = d;
        if (ret)
                *ret = TAKE_PTR(m);
        return 0;
}

/*
 * Ends the session: BACKUP STAGE END first when a stage is held (bounded), then close. The
 * close alone would do, since the server ends the stages of a session that goes away; the
 * explicit END makes the release visible in the log before we report it.
 */
static void session_close(MariaWriter *mw, const char *event) {
        if (!mw->session)
                return;
        if (mw->stage != STAGE_NONE) {
                uint64_t now;
                int r;

                r = maria_query(mw->session, "BACKUP STAGE END", deadline_after(END_TIMEOUT_MS), event, NULL);
                now = mono_usec();
                /* The marker tests and operators use: when commits (and DDL) could go on again. */
                wlog(LOG_INFO, "%s: %s released after %.3f ms%s (monotonic %llu us)", event,
                     mw->stage == STAGE_BLOCK_COMMIT ? "commits" : "DDL",
                     (double) (now - mw->stage_usec) / 1e3,
                     r < 0 ? " (by closing the session)" : "", (unsigned long long) now);
        }
        mysql_close(mw->session);
        mw->session = NULL;
        mw->stage = STAGE_NONE;
        mw->connection_id = 0;
}

static void backup_forget(MariaWriter *mw, const char *event) {
        session_close(mw, event);
        mw->selected = false;
}

static bool fail(MariaWriter *mw, vss_writer *w, const char *event, vss_hr failure) {
        session_close(mw, event);
        (void) vss_writer_set_writer_failure(w, failure);
        return false;
}

/*
 * Runs one BACKUP STAGE statement with the server's own waits bounded to budget_ms (less a
 * margin for the answer to travel), and our socket wait to budget_ms.
 */
static int stage_run(MariaWriter *mw, const char *stage, uint32_t budget_ms, const char *what) {
        uint32_t server_ms = budget_ms > 2 * SERVER_MARGIN_MS ? budget_ms - SERVER_MARGIN_MS : budget_ms / 2 + 1;
        char sql[192];

        /* lock_wait_timeout is whole seconds (at least 1); max_statement_time takes
         * fractions and is the bound that counts. */
        (void) snprintf(sql, sizeof(sql),
                        "SET STATEMENT max_statement_time=%u.%03u, lock_wait_timeout=%u FOR BACKUP STAGE %s",
                        server_ms / 1000, server_ms % 1000, (server_ms + 999) / 1000, stage);
        return maria_query(mw->session, sql, deadline_after(budget_ms), what, NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* Writer callbacks                                                                            */
/* ------------------------------------------------------------------------------------------ */

static bool on_identify(vss_writer *w, vss_create_writer_metadata *md, void *userdata) {
        MariaWriter *mw = userdata;
        vss_hr hr;

        if (server_check(mw, "identify", NULL) < 0)
                wlog(LOG_WARNING, "identify: server not reachable; describing the data directory last seen%s",
                     mw->datadir ? "" : " (none yet)");

        hr = vss_create_writer_metadata_set_restore_method(md, VSS_RME_STOP_RESTORE_START, "mariadb.service", NULL,
                                                           VSS_WRE_NEVER, false);
        if (hr == S_OK && mw->datadir) {
                hr = vss_create_writer_metadata_add_component(md, VSS_CT_FILEGROUP, NULL, COMPONENT_DATADIR,
                                                              "MariaDB data directory", false, false, true, true, 0);
                if (hr == S_OK)
                        hr = vss_create_writer_metadata_add_files_to_file_group(
                                md, NULL, COMPONENT_DATADIR, mw->datadir, "*", true, NULL,
                                VSS_FSBT_ALL_BACKUP_REQUIRED | VSS_FSBT_ALL_SNAPSHOT_REQUIRED);
        }
        if (hr != S_OK) {
                wlog(LOG_ERR, "identify: cannot describe the server: %s", vss_hr_name(hr));
                return false;
        }
        wlog(LOG_INFO, "identify: data directory %s", strempty(mw->datadir));
        return true;
}

/* Whether the current backup includes the server: always outside component mode, else when
 * the requester selected the datadir component. */
static int backup_selects_us(MariaWriter *mw, vss_writer *w, vss_writer_components *c, bool *ret) {
        bool selected = false;
        unsigned n = 0;

        mw->component_mode = vss_writer_are_components_selected(w, &selected) == S_OK && selected && c;
        if (!mw->component_mode) {
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
                if (isempty(lp) && streq(name, COMPONENT_DATADIR))
                        *ret = true;
                else
                        wlog(LOG_WARNING, "prepare-backup: the requester selected unknown component %s\\%s",
                             strempty(lp), name);
        }
        return 0;
}

static bool on_prepare_backup(vss_writer *w, vss_writer_components *c, void *userdata) {
        MariaWriter *mw = userdata;

        backup_forget(mw, "prepare-backup");
        if (backup_selects_us(mw, w, c, &mw->selected) < 0) {
                wlog(LOG_ERR, "prepare-backup: cannot read the selected components");
                return fail(mw, w, "prepare-backup", VSS_E_WRITERERROR_RETRYABLE);
        }
        if (!mw->selected) {
                wlog(LOG_INFO, "prepare-backup: the server is not part of this backup");
                return true;
        }
        if (server_check(mw, "prepare-backup", &mw->session) < 0) {
                wlog(LOG_ERR, "prepare-backup: the server is not available; the backup may be retried");
                mw->selected = false;
                return fail(mw, w, "prepare-backup", VSS_E_WRITERERROR_RETRYABLE);
        }
        mw->connection_id = mysql_thread_id(mw->session);
        wlog(LOG_INFO, "prepare-backup: session open (connection %lu, data directory %s)", mw->connection_id,
             mw->datadir);
        return true;
}

static bool datadir_affected(vss_writer *w, const char *datadir) {
        _cleanup_free_ char *real = realpath(datadir, NULL);
        bool affected = false;

        return vss_writer_is_path_affected(w, real ?: datadir, &affected) == S_OK && affected;
}

static bool on_prepare_snapshot(vss_writer *w, void *userdata) {
        static const char *const stages[] = { "START", "FLUSH", "BLOCK_DDL" };
        MariaWriter *mw = userdata;
        uint64_t start = mono_usec(), deadline = deadline_after(mw->stage_timeout_ms);

        if (!mw->selected)
                return true;
        if (!datadir_affected(w, mw->datadir)) {
                if (mw->component_mode) {
                        wlog(LOG_ERR, "prepare-snapshot: the data directory %s is selected but on no volume of the set",
                             mw->datadir);
                        return fail(mw, w, "prepare-snapshot", VSS_E_WRITERERROR_INCONSISTENTSNAPSHOT);
                }
                wlog(LOG_INFO, "prepare-snapshot: the data directory %s is on no volume of the set; not involved",
                     mw->datadir);
                backup_forget(mw, "prepare-snapshot");
                return true;
        }

        for (size_t i = 0; i < ELEMENTSOF(stages); i++) {
                uint64_t now = mono_usec();
                int r;

                r = now >= deadline ? -ETIMEDOUT :
                                      stage_run(mw, stages[i], (uint32_t) ((deadline - now) / USEC_PER_MSEC),
                                                "prepare-snapshot");
                if (r < 0) {
                        wlog(LOG_ERR, "prepare-snapshot: BACKUP STAGE %s failed", stages[i]);
                        return fail(mw, w, "prepare-snapshot",
                                    r == -ETIMEDOUT ? VSS_E_WRITERERROR_TIMEOUT : VSS_E_WRITERERROR_RETRYABLE);
                }
                /* From START on, a stage is held: whatever happens next must END it. */
                if (mw->stage == STAGE_NONE) {
                        mw->stage = STAGE_BLOCK_DDL;
                        mw->stage_usec = mono_usec();
                }
        }
        mw->stage_usec = mono_usec();
        wlog(LOG_INFO, "prepare-snapshot: BACKUP STAGE BLOCK_DDL reached after %.3f ms (connection %lu)",
             (double) (mw->stage_usec - start) / 1e3, mw->connection_id);
        return true;
}

static bool on_freeze(vss_writer *w, void *userdata) {
        MariaWriter *mw = userdata;
        uint64_t start = mono_usec();
        int r;

        if (mw->stage != STAGE_BLOCK_DDL)
                return true;

        r = stage_run(mw, "BLOCK_COMMIT", mw->lock_budget_ms, "freeze");
        if (r == -ETIMEDOUT) {
                wlog(LOG_ERR, "freeze: could not block commits within %u ms; vetoing", mw->lock_budget_ms);
                return fail(mw, w, "freeze", VSS_E_WRITERERROR_TIMEOUT);
        }
        if (r < 0) {
                wlog(LOG_ERR, "freeze: the backup session (connection %lu) failed; vetoing", mw->connection_id);
                return fail(mw, w, "freeze", VSS_E_WRITERERROR_RETRYABLE);
        }
        mw->stage = STAGE_BLOCK_COMMIT;
        mw->stage_usec = mono_usec();
        /* The freeze marker: from here until "released", nobody commits. */
        wlog(LOG_INFO, "freeze: commits blocked (BACKUP STAGE BLOCK_COMMIT) after %.3f ms wait (monotonic %llu us)",
             (double) (mw->stage_usec - start) / 1e3, (unsigned long long) mw->stage_usec);
        return true;
}

static bool on_thaw(vss_writer *w, void *userdata) {
        backup_forget(userdata, "thaw");
        return true;
}

static bool on_abort(vss_writer *w, void *userdata) {
        backup_forget(userdata, "abort");
        wlog(LOG_INFO, "abort: nothing held any more");
        return true;
}

static bool on_backup_shutdown(vss_writer *w, const vss_id *set_id, void *userdata) {
        /* Normally nothing is left by now; a requester that gave up mid-way may leave the
         * session of PrepareForBackup. */
        backup_forget(userdata, "backup-shutdown");
        return true;
}

/* ------------------------------------------------------------------------------------------ */
/* Options                                                                                     */
/* ------------------------------------------------------------------------------------------ */

typedef struct Args {
        const char *socket_path;
        const char *instance;
        const char *password_file;
        bool config_seen;
        uint32_t freeze_timeout_ms;
        uint32_t lock_timeout_ms;
        vss_application_level level;
} Args;

enum {
        ARG_SOCKET_PATH = 0x100,
        ARG_HOST,
        ARG_PORT,
        ARG_USER,
        ARG_PASSWORD_FILE,
        ARG_CONFIG,
        ARG_FREEZE_TIMEOUT,
        ARG_LOCK_TIMEOUT,
        ARG_CONNECT_TIMEOUT,
        ARG_STAGE_TIMEOUT,
        ARG_LEVEL,
        ARG_INSTANCE,
};

static const struct option options[] = {
        { "socket-path", required_argument, NULL, ARG_SOCKET_PATH },
        { "host", required_argument, NULL, ARG_HOST },
        { "port", required_argument, NULL, ARG_PORT },
        { "user", required_argument, NULL, ARG_USER },
        { "password-file", required_argument, NULL, ARG_PASSWORD_FILE },
        { "config", required_argument, NULL, ARG_CONFIG },
        { "socket", required_argument, NULL, 's' },
        { "freeze-timeout", required_argument, NULL, ARG_FREEZE_TIMEOUT },
        { "lock-timeout", required_argument, NULL, ARG_LOCK_TIMEOUT },
        { "connect-timeout", required_argument, NULL, ARG_CONNECT_TIMEOUT },
        { "stage-timeout", required_argument, NULL, ARG_STAGE_TIMEOUT },
        { "level", required_argument, NULL, ARG_LEVEL },
        { "instance", required_argument, NULL, ARG_INSTANCE },
        { "help", no_argument, NULL, 'h' },
        WRITER_OPTION_VERSION,
        {}
};

static void help(void) {
        printf(PROGRAM " [--socket-path PATH | --host HOST [--port N]] [--user USER] [--password-file FILE] "
               "[OPTIONS]\n" PROGRAM " --config FILE [OPTIONS]\n\n"
               "VSS writer for a MariaDB server: BACKUP STAGE START/FLUSH/BLOCK_DDL at PrepareForSnapshot,\n"
               "BLOCK_COMMIT from Freeze to Thaw.\n\n"
               "     --socket-path=PATH      The server's Unix socket\n"
               "     --host=HOST             The server's host (instead of the socket)\n"
               "     --port=N                The server's TCP port (default 3306)\n"
               "     --user=USER             User name (default: the connector's, the login name)\n"
               "     --password-file=FILE    A file whose first line is the password\n"
               "     --config=FILE           \"key = value\" lines; keys are the long options\n"
               "  -s --socket=PATH           vssd's socket (default: $VSS_SOCKET, else built-in)\n"
               "     --freeze-timeout=MS     Freeze→Thaw bound (default %u)\n"
               "     --lock-timeout=MS       How long Freeze may wait for BLOCK_COMMIT (default %u)\n"
               "     --connect-timeout=MS    How long a connection may take (default %u)\n"
               "     --stage-timeout=MS      Bound on the stages of PrepareForSnapshot (default %u)\n"
               "     --level=LEVEL           front-end, back-end or system (default back-end)\n"
               "     --instance=NAME         Instance name (default: the socket or host)\n"
               "  -h --help                  Show this help\n",
               FREEZE_TIMEOUT_DEFAULT_MS, LOCK_TIMEOUT_DEFAULT_MS, CONNECT_TIMEOUT_DEFAULT_MS,
               STAGE_TIMEOUT_DEFAULT_MS);
}

/* The first line of file, without its newline; warns when others may read it. */
static int password_load(const char *file, char **ret) {
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t n;
        FILE *f;

        f = fopen(file, "re");
        if (!f) {
                wlog(LOG_ERR, "cannot open %s: %m", file);
                return -errno;
        }
        if (fstat(fileno(f), &st) == 0 && (st.st_mode & 0077))
                wlog(LOG_WARNING, "%s is readable by others; it should be mode 0600", file);
        buf = calloc(1, PASSWORD_MAX + 1);
        if (!buf) {
                fclose(f);
                return -ENOMEM;
        }
        n = fread(buf, 1, PASSWORD_MAX, f);
        fclose(f);
        buf[n] = '\0';
        buf[strcspn(buf, "\r\n")] = '\0';
        *ret = TAKE_PTR(buf);
        return 0;
}

/* The writer and its arguments, as the option callbacks see them. */
typedef struct OptionTarget {
        MariaWriter *mw;
        Args *a;
} OptionTarget;

static int config_load(const char *file, void *userdata);

static int option_apply(int opt, const char *name, const char *value, void *userdata) {
        MariaWriter *mw = ((OptionTarget *) userdata)->mw;
        Args *a = ((OptionTarget *) userdata)->a;
        uint32_t port;
        int r;

        switch (opt) {
        case ARG_SOCKET_PATH:
                mw->target.socket_path = value;
                return 0;
        case ARG_HOST:
                mw->target.host = value;
                return 0;
        case ARG_PORT:
                r = parse_ms(value, 1, 65535, &port);
                if (r < 0)
                        wlog(LOG_ERR, "invalid %s: %s", name, value);
                mw->target.port = port;
                return r;
        case ARG_USER:
                mw->target.user = value;
                return 0;
        case ARG_PASSWORD_FILE:
                a->password_file = value;
                return 0;
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
        case ARG_STAGE_TIMEOUT:
                r = parse_ms(value, 1, TIMEOUT_MAX_MS,
                             opt == ARG_FREEZE_TIMEOUT  ? &a->freeze_timeout_ms :
                             opt == ARG_LOCK_TIMEOUT    ? &a->lock_timeout_ms :
                             opt == ARG_CONNECT_TIMEOUT ? &mw->connect_timeout_ms :
                                                          &mw->stage_timeout_ms);
                if (r < 0)
                        wlog(LOG_ERR, "invalid %s: %s", name, value);
                return r;
        case ARG_LEVEL:
                r = parse_level(value, &a->level);
                if (r < 0)
                        wlog(LOG_ERR, "invalid %s: %s", name, value);
                return r;
        case ARG_INSTANCE:
                a->instance = value;
                return 0;
        default:
                return -EINVAL;
        }
}

static bool config_key_allowed(int val) {
        return val != ARG_CONFIG && val != 'h' && val != WRITER_OPT_VERSION;
}

/* A --config file: "key = value" lines, keys being the long option names (writer-util.h). */
static int config_load(const char *file, void *userdata) {
        return writer_config_load(file, options, config_key_allowed, option_apply, userdata);
}

/* Returns 1 to run, 0 to exit successfully (help), negative errno on bad usage. */
static int parse_argv(int argc, char **argv, MariaWriter *mw, Args *a) {
        OptionTarget target = { mw, a };
        int r;

        r = writer_parse_argv(argc, argv, "s:h", options, help, option_apply, &target);
        if (r <= 0)
                return r;
        if (mw->target.host && mw->target.socket_path) {
                wlog(LOG_ERR, "--host and --socket-path exclude each other");
                return -EINVAL;
        }
        return 1;
}

int main(int argc, char **argv) {
        static MariaWriter mw;
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
        _cleanup_free_ char *password = NULL;
        vss_writer *w = NULL;
        vss_hr hr;
        int status = -1, r;

        wlog_init(PROGRAM);
        mw.connect_timeout_ms = CONNECT_TIMEOUT_DEFAULT_MS;
        mw.stage_timeout_ms = STAGE_TIMEOUT_DEFAULT_MS;
        r = parse_argv(argc, argv, &mw, &a);
        if (r <= 0) {
                status = r < 0 ? WRITER_EXIT_USAGE : EXIT_SUCCESS;
                goto finish;
        }
        if (a.password_file) {
                r = password_load(a.password_file, &password);
                if (r < 0)
                        goto finish;
                mw.target.password = password;
        }
        mw.freeze_timeout_ms = a.freeze_timeout_ms;
        mw.lock_budget_ms = MIN(a.lock_timeout_ms, a.freeze_timeout_ms);
        if (a.lock_timeout_ms > a.freeze_timeout_ms)
                wlog(LOG_WARNING, "--lock-timeout %u ms exceeds --freeze-timeout; using %u ms", a.lock_timeout_ms,
                     mw.lock_budget_ms);

        if (mysql_library_init(0, NULL, NULL) != 0) {
                wlog(LOG_ERR, "cannot initialise the MariaDB connector");
                r = -EIO;
                goto finish;
        }
        r = writer_block_signals();
        if (r < 0)
                goto finish;

        (void) vss_id_parse(MARIA_WRITER_CLASS, &opts.writer_id);
        opts.writer_name = MARIA_WRITER_NAME;
        opts.instance_name = a.instance ?: mw.target.socket_path ?: mw.target.host ?: "default";
        opts.usage_type = VSS_UT_USERDATA;
        opts.source_type = VSS_ST_TRANSACTEDDB;
        opts.level = a.level;
        opts.freeze_timeout_ms = a.freeze_timeout_ms;
        opts.socket_path = a.socket_path;

        hr = vss_writer_new(&w, &opts, &cb, &mw);
        if (hr != S_OK) {
                wlog(LOG_ERR, "cannot create the writer: %s", vss_hr_name(hr));
                r = -EINVAL;
                goto finish;
        }
        if (server_check(&mw, "start", NULL) == 0)
                wlog(LOG_INFO, "server: data directory %s", mw.datadir);
        wlog(LOG_INFO, "lock budget %u ms, freeze timeout %u ms", mw.lock_budget_ms, mw.freeze_timeout_ms);

        r = writer_serve(w, VSS_SM_BACKUP_EVENTS_FLAG);
        vss_writer_free(w);

finish:
        /* The callback thread is gone: whatever it left open is ours to close. */
        session_close(&mw, "exit");
        free(mw.datadir);
        mysql_library_end();
        return status >= 0 ? status : writer_exit_status(r);
}
