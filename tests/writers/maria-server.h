/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * maria-server.h: a private MariaDB server for the writer test: mariadb-install-db and
 * mariadbd with no option files (--no-defaults), running as the "mysql" user, on a Unix
 * socket in a directory of the test's only (--skip-networking), with the binary log on (so
 * the test can make a commit linger in group commit). $MARIADBD and $MARIADB_INSTALL_DB name
 * the programs (meson sets them).
 *
 * Internal style: functions return 0 or a negative errno; ret_* outputs are written only on
 * success.
 */
#pragma once

#include <sys/types.h>

typedef struct MariaServer {
        char *datadir;
        char *socket;     /* the server's Unix socket */
        char *pid_file;
        char *log;        /* its error log (owned by mysql) */
        pid_t pid;        /* mariadbd, while running */
} MariaServer;

/* maria_server_describe: fill s for datadir (not created), its socket, pid file and log in
 * run_dir (which the mysql user must be able to write). Ended by maria_server_done(). */
int maria_server_describe(const char *datadir, const char *run_dir, const char *name, MariaServer *s);

/* maria_server_init: mariadb-install-db into s->datadir (its parent must exist). */
int maria_server_init(MariaServer *s);

/* maria_server_start: start mariadbd and wait until it accepts connections. */
int maria_server_start(MariaServer *s);

/* maria_server_done: SIGTERM (SIGKILL after a while), reap, free. Safe on a zeroed s. */
void maria_server_done(MariaServer *s);

/*
 * maria_sql: run sql as root on a new connection to socket. When ret_value is non-NULL, the
 * text of row 0 column 0 (malloc'd; "" for NULL or no row). Returns 0, or the server's
 * error number (positive) for an SQL error, or -errno when it cannot connect.
 */
int maria_sql(const char *socket, const char *sql, char **ret_value);

/* maria_sql_i64: maria_sql whose single value is an integer; errors as maria_sql. */
int maria_sql_i64(const char *socket, const char *sql, long long *ret);

/* maria_check_table: CHECK TABLE table EXTENDED; 0 when the server says OK, -EBADMSG when
 * it reports anything else (printed), or an error as maria_sql. */
int maria_check_table(const char *socket, const char *table);

/* maria_chown_mysql: give path to the mysql user, with mode. */
int maria_chown_mysql(const char *path, mode_t mode);
