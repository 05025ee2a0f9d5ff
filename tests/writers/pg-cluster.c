/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pg-cluster.c: private PostgreSQL clusters for the writer test (pg-cluster.h).
 *
 * Children run as postgres: the server refuses root. The parent-death signal is set after
 * the uid change (changing credentials clears it), so a test that dies takes its
 * postmaster with it, and the postmaster's own children follow it.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
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
#include "pg-cluster.h"
#include "root-harness.h"

#define START_WAIT_MS 30000U
#define STOP_WAIT_MS 20000U

static const char settings[] =
        "\n# vss-linux writer test\n"
        "listen_addresses = ''\n"
        "shared_buffers = 32MB\n"
        "max_wal_size = 256MB\n"
        "min_wal_size = 64MB\n"
        "max_connections = 40\n"
        "log_min_messages = info\n";

char *pg_program(const char *name) {
        const char *dir = getenv("PG_BINDIR");
        char *p;

        if (!dir || asprintf(&p, "%s/%s", dir, name) < 0)
                return NULL;
        if (access(p, X_OK) < 0) {
                free(p);
                return NULL;
        }
        return p;
}

static int postgres_ids(uid_t *ret_uid, gid_t *ret_gid) {
        struct passwd *pw = getpwnam("postgres");

        if (!pw)
                return -ENOENT;
        *ret_uid = pw->pw_uid;
        *ret_gid = pw->pw_gid;
        return 0;
}

int pg_chown_postgres(const char *path, mode_t mode) {
        uid_t uid;
        gid_t gid;
        int r;

        r = postgres_ids(&uid, &gid);
        if (r < 0)
                return r;
        if (chown(path, uid, gid) < 0 || chmod(path, mode) < 0)
                return -errno;
        return 0;
}

/* Forks argv as postgres with stdout/stderr appended to log. */
static int spawn_postgres(char *const argv[], const char *log, pid_t *ret_pid) {
        pid_t parent = getpid(), pid;
        uid_t uid;
        gid_t gid;
        int fd, r;

        r = postgres_ids(&uid, &gid);
        if (r < 0)
                return r;
        fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;

        pid = fork();
        if (pid < 0) {
                r = -errno;
                (void) close(fd);
                return r;
        }
        if (pid == 0) {
                if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
                        _exit(126);
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent)
                        _exit(127);
                if (dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0 || chdir("/") < 0)
                        _exit(127);
                (void) setenv("LC_ALL", "C", 1);
                execv(argv[0], argv);
                fprintf(stderr, "exec %s: %m\n", argv[0]);
                _exit(127);
        }
        (void) close(fd);
        *ret_pid = pid;
        return 0;
}

int pg_run_as_postgres(char *const argv[], const char *log) {
        pid_t pid;
        int r;

        r = spawn_postgres(argv, log, &pid);
        if (r < 0)
                return r;
        return process_wait_success(pid);
}

int pg_cluster_describe(const char *data, const char *sock_dir, unsigned port, const char *log, PgCluster *c) {
        *c = (PgCluster) { .port = port };
        c->data = strdup(data);
        c->sock_dir = strdup(sock_dir);
        c->log = strdup(log);
        if (!c->data || !c->sock_dir || !c->log ||
            asprintf(&c->conninfo, "host=%s port=%u user=postgres dbname=postgres connect_timeout=10", sock_dir,
                     port) < 0) {
                pg_cluster_done(c);
                return -ENOMEM;
        }
        return 0;
}

int pg_cluster_init(PgCluster *c) {
        _cleanup_free_ char *initdb = pg_program("initdb"), *conf = NULL;
        FILE *f;
        int r;

        if (!initdb)
                return -ENOENT;
        if (mkdir(c->data, 0700) < 0 && errno != EEXIST)
                return -errno;
        r = pg_chown_postgres(c->data, 0700);
        if (r < 0)
                return r;
        r = pg_run_as_postgres((char *const[]) { initdb, (char *) "-D", c->data, (char *) "-U", (char *) "postgres",
                                                 (char *) "--auth=trust", (char *) "-E", (char *) "UTF8",
                                                 (char *) "--locale=C", (char *) "--no-sync", NULL },
                               c->log);
        if (r < 0)
                return r;

        if (asprintf(&conf, "%s/postgresql.conf", c->data) < 0)
                return -ENOMEM;
        f = fopen(conf, "ae");
        if (!f)
                return -errno;
        (void) fputs(settings, f);
        return fclose(f) == 0 ? 0 : -EIO;
}

int pg_cluster_start(PgCluster *c) {
        _cleanup_free_ char *postgres = pg_program("postgres");
        char port[16];
        uint64_t deadline = now_usec() + START_WAIT_MS * USEC_PER_MSEC;
        int r;

        if (!postgres)
                return -ENOENT;
        (void) snprintf(port, sizeof(port), "%u", c->port);
        r = spawn_postgres((char *const[]) { postgres, (char *) "-D", c->data, (char *) "-p", port, (char *) "-k",
                                             c->sock_dir, NULL },
                           c->log, &c->pid);
        if (r < 0)
                return r;

        for (;;) {
                int status;

                if (PQping(c->conninfo) == PQPING_OK)
                        return 0;
                if (waitpid(c->pid, &status, WNOHANG) == c->pid) {
                        fprintf(stderr, "postgres exited during start-up; see %s\n", c->log);
                        c->pid = 0;
                        return -ESRCH;
                }
                if (now_usec() >= deadline) {
                        fprintf(stderr, "postgres did not come up; see %s\n", c->log);
                        return -ETIMEDOUT;
                }
                (void) usleep(20000);
        }
}

int pg_cluster_stop(PgCluster *c) {
        uint64_t deadline = now_usec() + STOP_WAIT_MS * USEC_PER_MSEC;
        int status;

        if (c->pid <= 0)
                return 0;
        (void) kill(c->pid, SIGCONT);
        (void) kill(c->pid, SIGINT);
        for (;;) {
                pid_t w = waitpid(c->pid, &status, WNOHANG);

                if (w == c->pid || (w < 0 && errno != EINTR))
                        break;
                if (now_usec() >= deadline) {
                        (void) kill(c->pid, SIGKILL);
                        (void) waitpid(c->pid, &status, 0);
                        break;
                }
                (void) usleep(10000);
        }
        c->pid = 0;
        return 0;
}

void pg_cluster_done(PgCluster *c) {
        (void) pg_cluster_stop(c);
        free(c->data);
        free(c->sock_dir);
        free(c->log);
        free(c->conninfo);
        *c = (PgCluster) {};
}

int pg_sql(const char *conninfo, const char *sql, char **ret_value) {
        PGconn *conn = PQconnectdb(conninfo);
        PGresult *res;
        int r = 0;

        if (PQstatus(conn) != CONNECTION_OK) {
                fprintf(stderr, "pg_sql: connect: %s", PQerrorMessage(conn));
                PQfinish(conn);
                return -ECONNREFUSED;
        }
        res = PQexec(conn, sql);
        if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK) {
                fprintf(stderr, "pg_sql: %s: %s", sql, PQerrorMessage(conn));
                r = -EIO;
        } else if (ret_value) {
                const char *v = PQntuples(res) > 0 && PQnfields(res) > 0 && !PQgetisnull(res, 0, 0) ?
                                        PQgetvalue(res, 0, 0) : "";

                *ret_value = strdup(v);
                if (!*ret_value)
                        r = -ENOMEM;
        }
        PQclear(res);
        PQfinish(conn);
        return r;
}

int pg_sql_i64(const char *conninfo, const char *sql, long long *ret) {
        _cleanup_free_ char *v = NULL;
        long long n;
        char *end;
        int r;

        r = pg_sql(conninfo, sql, &v);
        if (r < 0)
                return r;
        errno = 0;
        n = strtoll(v, &end, 10);
        if (end == v || *end || errno)
                return -EINVAL;
        *ret = n;
        return 0;
}
