/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * maria-server.c: private MariaDB servers for the writer test (maria-server.h).
 *
 * mariadbd is started as root with --user=mysql and drops privileges itself; the binary log
 * is named relative to the data directory (--log-bin=mysql-bin), so that its index holds
 * relative names and a copy of the data directory started elsewhere uses its own binary
 * logs, never the original's.
 */
#include <errno.h>
#include <fcntl.h>
#include <mysql.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "maria-server.h"
#include "root-harness.h"
#include "writers-harness.h"

#define START_WAIT_MS 60000U
#define STOP_WAIT_MS 30000U

int maria_chown_mysql(const char *path, mode_t mode) {
        struct passwd *pw = getpwnam("mysql");

        if (!pw)
                return -ENOENT;
        if (chown(path, pw->pw_uid, pw->pw_gid) < 0 || chmod(path, mode) < 0)
                return -errno;
        return 0;
}

int maria_server_describe(const char *datadir, const char *run_dir, const char *name, MariaServer *s) {
        *s = (MariaServer) {};
        s->datadir = strdup(datadir);
        if (!s->datadir || asprintf(&s->socket, "%s/%s.sock", run_dir, name) < 0 ||
            asprintf(&s->pid_file, "%s/%s.pid", run_dir, name) < 0 || asprintf(&s->log, "%s/%s.err", run_dir, name) < 0) {
                maria_server_done(s);
                return -ENOMEM;
        }
        return 0;
}

int maria_server_init(MariaServer *s) {
        _cleanup_free_ char *datadir_opt = NULL, *log = NULL;
        const char *install = getenv("MARIADB_INSTALL_DB");

        if (!install)
                return -ENOENT;
        /* Not s->log: that one mariadbd opens as mysql, so it must not exist as root's. */
        if (asprintf(&datadir_opt, "--datadir=%s", s->datadir) < 0 || asprintf(&log, "%s.install", s->log) < 0)
                return -ENOMEM;
        return process_run_logged((char *const[]) { (char *) install, (char *) "--no-defaults", (char *) "--user=mysql",
                                                    datadir_opt, (char *) "--auth-root-authentication-method=normal",
                                                    (char *) "--skip-test-db", NULL },
                                  log);
}

static int try_connect(const char *socket) {
        unsigned timeout = 2;
        MYSQL *m = mysql_init(NULL);
        int r;

        if (!m)
                return -ENOMEM;
        (void) mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
        r = mysql_real_connect(m, NULL, "root", NULL, NULL, 0, socket, 0) ? 0 : -ECONNREFUSED;
        mysql_close(m);
        return r;
}

int maria_server_start(MariaServer *s) {
        _cleanup_free_ char *datadir = NULL, *sock = NULL, *pid = NULL, *log = NULL;
        const char *exe = getenv("MARIADBD");
        uint64_t deadline = now_usec() + START_WAIT_MS * USEC_PER_MSEC;

        if (!exe)
                return -ENOENT;
        if (asprintf(&datadir, "--datadir=%s", s->datadir) < 0 || asprintf(&sock, "--socket=%s", s->socket) < 0 ||
            asprintf(&pid, "--pid-file=%s", s->pid_file) < 0 || asprintf(&log, "--log-error=%s", s->log) < 0)
                return -ENOMEM;
        if (process_spawn_flags((char *const[]) { (char *) exe, (char *) "--no-defaults", (char *) "--user=mysql",
                                                  datadir, sock, pid, log, (char *) "--skip-networking",
                                                  (char *) "--log-bin=mysql-bin", (char *) "--server-id=1",
                                                  (char *) "--innodb-buffer-pool-size=64M",
                                                  (char *) "--innodb-log-file-size=48M", NULL },
                                SPAWN_NULL_STDOUT, &s->pid) < 0)
                return -ECHILD;

        for (;;) {
                int status;

                if (try_connect(s->socket) == 0)
                        return 0;
                if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
                        fprintf(stderr, "mariadbd exited during start-up; see %s\n", s->log);
                        s->pid = 0;
                        return -ESRCH;
                }
                if (now_usec() >= deadline) {
                        fprintf(stderr, "mariadbd did not come up; see %s\n", s->log);
                        return -ETIMEDOUT;
                }
                (void) usleep(50000);
        }
}

void maria_server_done(MariaServer *s) {
        if (s->pid > 0) {
                (void) kill(s->pid, SIGCONT);
                (void) process_stop(s->pid, STOP_WAIT_MS);
        }
        free(s->datadir);
        free(s->socket);
        free(s->pid_file);
        free(s->log);
        *s = (MariaServer) {};
}

int maria_sql(const char *socket, const char *sql, char **ret_value) {
        unsigned timeout = 10;
        MYSQL_RES *res = NULL;
        MYSQL *m = mysql_init(NULL);
        int r = 0;

        if (!m)
                return -ENOMEM;
        (void) mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
        if (!mysql_real_connect(m, NULL, "root", NULL, NULL, 0, socket, 0)) {
                fprintf(stderr, "maria_sql: connect: %s\n", mysql_error(m));
                mysql_close(m);
                return -ECONNREFUSED;
        }
        if (mysql_query(m, sql) != 0) {
                r = (int) mysql_errno(m);
                fprintf(stderr, "maria_sql: %s: %s (%d)\n", sql, mysql_error(m), r);
        } else if (mysql_field_count(m) > 0) {
                res = mysql_store_result(m);
                if (ret_value) {
                        MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;

                        *ret_value = strdup(row && row[0] ? row[0] : "");
                        if (!*ret_value)
                                r = -ENOMEM;
                }
                mysql_free_result(res);
        } else if (ret_value) {
                *ret_value = strdup("");
                if (!*ret_value)
                        r = -ENOMEM;
        }
        mysql_close(m);
        return r;
}

int maria_sql_i64(const char *socket, const char *sql, long long *ret) {
        _cleanup_free_ char *v = NULL;
        long long n;
        char *end;
        int r;

        r = maria_sql(socket, sql, &v);
        if (r != 0)
                return r;
        errno = 0;
        n = strtoll(v, &end, 10);
        if (end == v || *end || errno)
                return -EINVAL;
        *ret = n;
        return 0;
}

int maria_check_table(const char *socket, const char *table) {
        _cleanup_free_ char *sql = NULL;
        unsigned timeout = 10;
        MYSQL_RES *res;
        MYSQL_ROW row;
        MYSQL *m;
        int r = -EBADMSG;

        if (asprintf(&sql, "CHECK TABLE %s EXTENDED", table) < 0)
                return -ENOMEM;
        m = mysql_init(NULL);
        if (!m)
                return -ENOMEM;
        (void) mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
        if (!mysql_real_connect(m, NULL, "root", NULL, NULL, 0, socket, 0) || mysql_query(m, sql) != 0 ||
            !(res = mysql_store_result(m))) {
                fprintf(stderr, "maria_check_table: %s: %s\n", sql, mysql_error(m));
                mysql_close(m);
                return -EIO;
        }
        /* Rows: Table, Op, Msg_type, Msg_text; the verdict is the "status" row. */
        while ((row = mysql_fetch_row(res))) {
                if (row[2] && row[3] && streq(row[2], "status"))
                        r = streq(row[3], "OK") ? 0 : -EBADMSG;
                if (row[2] && row[3] && !streq(row[2], "status"))
                        fprintf(stderr, "CHECK TABLE %s: %s: %s\n", table, row[2], row[3]);
        }
        mysql_free_result(res);
        mysql_close(m);
        return r;
}
