/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * maria-load: the witness client for the MariaDB writer test: it commits small InnoDB
 * transactions one after the other (autocommit; innodb_flush_log_at_trx_commit=1, so a
 * returned commit is durable) and writes down each commit acknowledgement in a file
 * outside the volume being snapshotted. Transaction k inserts row k into w.acks_t; its ack
 * line, written with one write(2) after the commit returned, is
 *
 *         <k> <monotonic µs before the INSERT was sent> <monotonic µs after it committed>
 *
 * k continues from the largest row already there.
 *
 * Usage: maria-load --socket PATH --acks FILE [--seconds N]   (default 120: it always stops)
 * Prints "READY" on stdout after the first acknowledged commit. Stops at SIGTERM/SIGINT
 * (exit 0); exit 1 on any error (printed on stderr).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <mysql.h>
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

static int run(MYSQL *m, const char *sql) {
        if (mysql_query(m, sql) == 0) {
                MYSQL_RES *res = mysql_store_result(m);

                mysql_free_result(res);
                return 0;
        }
        if (!quit)
                fprintf(stderr, "maria-load: %s: %s\n", sql, mysql_error(m));
        return -1;
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "socket", required_argument, NULL, 's' },
                { "acks", required_argument, NULL, 'a' },
                { "seconds", required_argument, NULL, 'n' },
                {}
        };
        const char *socket_path = NULL, *acks = NULL;
        unsigned seconds = 120;
        MYSQL_RES *res;
        MYSQL_ROW row;
        uint64_t end;
        int64_t k = 0;
        MYSQL *m;
        int fd, opt;
        bool ready = false;

        while ((opt = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (opt) {
                case 's':
                        socket_path = optarg;
                        break;
                case 'a':
                        acks = optarg;
                        break;
                case 'n':
                        seconds = (unsigned) strtoul(optarg, NULL, 10);
                        break;
                default:
                        return 2;
                }
        if (!socket_path || !acks) {
                fprintf(stderr, "usage: maria-load --socket PATH --acks FILE [--seconds N]\n");
                return 2;
        }
        (void) signal(SIGTERM, on_signal);
        (void) signal(SIGINT, on_signal);

        m = mysql_init(NULL);
        if (!m || !mysql_real_connect(m, NULL, "root", NULL, NULL, 0, socket_path, 0)) {
                fprintf(stderr, "maria-load: connect: %s\n", m ? mysql_error(m) : "out of memory");
                return 1;
        }
        fd = open(acks, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0) {
                fprintf(stderr, "maria-load: %s: %m\n", acks);
                return 1;
        }
        if (run(m, "CREATE DATABASE IF NOT EXISTS w") < 0 ||
            run(m, "CREATE TABLE IF NOT EXISTS w.acks_t (k BIGINT PRIMARY KEY, payload BIGINT NOT NULL) ENGINE=InnoDB") < 0)
                return 1;
        if (mysql_query(m, "SELECT coalesce(max(k), 0) FROM w.acks_t") != 0 || !(res = mysql_store_result(m))) {
                fprintf(stderr, "maria-load: %s\n", mysql_error(m));
                return 1;
        }
        row = mysql_fetch_row(res);
        if (row && row[0])
                k = strtoll(row[0], NULL, 10);
        mysql_free_result(res);

        end = mono_usec() + (uint64_t) seconds * 1000000ULL;
        while (!quit && mono_usec() < end) {
                char sql[128], line[96];
                uint64_t begin, ack;
                int n;

                k++;
                (void) snprintf(sql, sizeof(sql), "INSERT INTO w.acks_t VALUES (%" PRId64 ", %" PRId64 ")", k, k * 7);
                begin = mono_usec();
                if (run(m, sql) < 0)
                        return quit ? 0 : 1;
                ack = mono_usec();
                n = snprintf(line, sizeof(line), "%" PRId64 " %" PRIu64 " %" PRIu64 "\n", k, begin, ack);
                if (write(fd, line, (size_t) n) != n) {
                        fprintf(stderr, "maria-load: write: %m\n");
                        return 1;
                }
                if (!ready) {
                        printf("READY\n");
                        fflush(stdout);
                        ready = true;
                }
        }
        mysql_close(m);
        close(fd);
        return 0;
}
