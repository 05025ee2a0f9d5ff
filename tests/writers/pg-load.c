/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pg-load: the witness client for the PostgreSQL writer test: it commits small
 * transactions one after the other (synchronous_commit on: a returned COMMIT is durable)
 * and writes down each commit acknowledgement in a file outside the volume being
 * snapshotted. Transaction k inserts row k into acks_t; its ack line, written with one
 * write(2) after the commit returned, is
 *
 *         <k> <monotonic µs before the INSERT was sent> <monotonic µs after it committed>
 *
 * so the test can place every commit in time against the writer's markers. k continues
 * from the largest row already there.
 *
 * Usage: pg-load --conninfo STR --acks FILE [--seconds N]   (default 120: it always stops)
 * Prints "READY" on stdout after the first acknowledged commit. Stops at SIGTERM/SIGINT
 * (exit 0); exit 1 on any error (printed on stderr).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t quit;

static void on_signal(int sig) {
        quit = 1;
}

static uint64_t mono_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

/* Runs sql; returns its result on success (caller clears), NULL after printing the error. */
static PGresult *run(PGconn *c, const char *sql) {
        PGresult *res = PQexec(c, sql);

        if (PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK)
                return res;
        fprintf(stderr, "pg-load: %s: %s", sql, PQerrorMessage(c));
        PQclear(res);
        return NULL;
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "conninfo", required_argument, NULL, 'c' },
                { "acks", required_argument, NULL, 'a' },
                { "seconds", required_argument, NULL, 's' },
                {}
        };
        const char *conninfo = NULL, *acks = NULL;
        unsigned seconds = 120;
        uint64_t end;
        int64_t k;
        PGresult *res;
        PGconn *c;
        int fd, opt;
        bool ready = false;

        while ((opt = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (opt) {
                case 'c':
                        conninfo = optarg;
                        break;
                case 'a':
                        acks = optarg;
                        break;
                case 's':
                        seconds = (unsigned) strtoul(optarg, NULL, 10);
                        break;
                default:
                        return 2;
                }
        if (!conninfo || !acks) {
                fprintf(stderr, "usage: pg-load --conninfo STR --acks FILE [--seconds N]\n");
                return 2;
        }
        (void) signal(SIGTERM, on_signal);
        (void) signal(SIGINT, on_signal);

        c = PQconnectdb(conninfo);
        if (PQstatus(c) != CONNECTION_OK) {
                fprintf(stderr, "pg-load: connect: %s", PQerrorMessage(c));
                return 1;
        }
        fd = open(acks, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0) {
                fprintf(stderr, "pg-load: %s: %m\n", acks);
                return 1;
        }
        res = run(c, "CREATE TABLE IF NOT EXISTS acks_t (k bigint PRIMARY KEY, payload bigint NOT NULL)");
        if (!res)
                return 1;
        PQclear(res);
        res = run(c, "SELECT coalesce(max(k), 0) FROM acks_t");
        if (!res)
                return 1;
        k = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);

        end = mono_usec() + (uint64_t) seconds * 1000000ULL;
        while (!quit && mono_usec() < end) {
                char sql[128], line[96];
                uint64_t begin, ack;
                int n;

                k++;
                (void) snprintf(sql, sizeof(sql), "INSERT INTO acks_t VALUES (%" PRId64 ", %" PRId64 ")", k, k * 7);
                begin = mono_usec();
                res = run(c, sql);
                if (!res)
                        return quit ? 0 : 1;
                ack = mono_usec();
                PQclear(res);
                n = snprintf(line, sizeof(line), "%" PRId64 " %" PRIu64 " %" PRIu64 "\n", k, begin, ack);
                if (write(fd, line, (size_t) n) != n) {
                        fprintf(stderr, "pg-load: write: %m\n");
                        return 1;
                }
                if (!ready) {
                        printf("READY\n");
                        fflush(stdout);
                        ready = true;
                }
        }
        PQfinish(c);
        close(fd);
        return 0;
}
