/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pg-cluster.h: a private PostgreSQL cluster for the writer test: initdb and the postmaster
 * run as the "postgres" user (the server refuses to run as root), listen on a Unix socket
 * in a directory of the test's only (no TCP at all), and log to a file. $PG_BINDIR names
 * the server's programs (meson sets it from pg_config --bindir).
 *
 * Internal style: functions return 0 or a negative errno; ret_* outputs are written only on
 * success.
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

typedef struct PgCluster {
        char *data;       /* the data directory */
        char *sock_dir;   /* where the postmaster's socket lives */
        char *log;        /* the postmaster's stderr */
        unsigned port;
        char *conninfo;   /* libpq connection string: host, port, user postgres, dbname postgres */
        pid_t pid;        /* the postmaster, while running */
} PgCluster;

/* pg_program: $PG_BINDIR/name, malloc'd; NULL when PG_BINDIR is unset or name is missing. */
char *pg_program(const char *name);

/* pg_chown_postgres: give path (not recursively) to the postgres user, with mode. */
int pg_chown_postgres(const char *path, mode_t mode);

/*
 * pg_run_as_postgres: run argv to its end as the postgres user, stdout and stderr appended
 * to log. Returns 0 when it exited with status 0, -EPROTO otherwise.
 */
int pg_run_as_postgres(char *const argv[], const char *log);

/*
 * pg_cluster_describe: fill c for a data directory data (not created), serving on sock_dir
 * with port. Owns copies of its strings; ended by pg_cluster_done().
 */
int pg_cluster_describe(const char *data, const char *sock_dir, unsigned port, const char *log, PgCluster *c);

/* pg_cluster_init: initdb c->data (its parent must exist) and append the test settings. */
int pg_cluster_init(PgCluster *c);

/* pg_cluster_start: start the postmaster and wait until it accepts connections. */
int pg_cluster_start(PgCluster *c);

/* pg_cluster_stop: fast shutdown (SIGINT), SIGKILL after a while; no-op when not running. */
int pg_cluster_stop(PgCluster *c);

/* pg_cluster_done: stop and free. Safe on a zeroed PgCluster. */
void pg_cluster_done(PgCluster *c);

/*
 * pg_sql: run sql (one statement) on a new connection to conninfo. When ret_value is
 * non-NULL, the text of row 0 column 0 (malloc'd; "" when NULL or no row). Prints the
 * server's error on failure and returns -EIO; -ECONNREFUSED when it cannot connect.
 */
int pg_sql(const char *conninfo, const char *sql, char **ret_value);

/* pg_sql_i64: pg_sql whose single value is an integer. */
int pg_sql_i64(const char *conninfo, const char *sql, long long *ret);
