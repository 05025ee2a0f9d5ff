/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sqlite-load: the application under test for vss-writer-sqlite: a process that commits
 * transactions into a SQLite database as fast as it can and writes down each commit
 * acknowledgement in a file outside the volume being snapshotted.
 *
 * Transaction k inserts ROWS rows (txn = k, part = 0..ROWS-1) and commits. Its ack line,
 * written with one write(2) after COMMIT returned, is
 *
 *         <k> <monotonic µs before BEGIN> <monotonic µs after COMMIT>
 *
 * so the test can place every commit in time against the writer's own freeze marker: the
 * commit of k happened somewhere inside [begin, ack]. k starts at 1 + the largest txn
 * already in the database, so a restarted load continues the sequence.
 *
 * Usage: sqlite-load --db PATH --acks FILE [--journal wal|delete] [--busy-timeout MS]
 *                    [--think-us N]   (pause between transactions; default 0: back to back)
 * Prints "READY" on stdout once the schema exists and the first commit is acknowledged.
 * Stops at SIGTERM/SIGINT (exit 0); exit 1 on any SQLite error (printed on stderr).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ROWS 3

static volatile sig_atomic_t quit;

static void on_signal(int sig) {
        quit = 1;
}

static uint64_t mono_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

static int exec_or_die(sqlite3 *db, const char *sql) {
        char *err = NULL;

        if (sqlite3_exec(db, sql, NULL, NULL, &err) == SQLITE_OK)
                return 0;
        fprintf(stderr, "sqlite-load: %s: %s\n", sql, err ? err : sqlite3_errmsg(db));
        sqlite3_free(err);
        return -1;
}

static int64_t last_txn(sqlite3 *db) {
        sqlite3_stmt *st = NULL;
        int64_t v = -1;

        if (sqlite3_prepare_v2(db, "SELECT coalesce(max(txn), 0) FROM t", -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
                v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        return v;
}

/* One transaction; 0 or -1 (error printed). */
static int commit_one(sqlite3 *db, sqlite3_stmt *ins, int64_t k) {
        if (exec_or_die(db, "BEGIN IMMEDIATE") < 0)
                return -1;
        for (int part = 0; part < ROWS; part++) {
                sqlite3_reset(ins);
                sqlite3_bind_int64(ins, 1, k);
                sqlite3_bind_int(ins, 2, part);
                sqlite3_bind_int64(ins, 3, k * 1000 + part);
                if (sqlite3_step(ins) != SQLITE_DONE) {
                        fprintf(stderr, "sqlite-load: insert: %s\n", sqlite3_errmsg(db));
                        return -1;
                }
        }
        return exec_or_die(db, "COMMIT");
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "db", required_argument, NULL, 'd' },
                { "acks", required_argument, NULL, 'a' },
                { "journal", required_argument, NULL, 'j' },
                { "busy-timeout", required_argument, NULL, 'b' },
                { "think-us", required_argument, NULL, 't' },
                {}
        };
        const char *path = NULL, *acks = NULL, *journal = "wal";
        int busy_ms = 60000, think_us = 0, c, fd;
        sqlite3_stmt *ins = NULL;
        sqlite3 *db = NULL;
        char pragma[64];
        int64_t k;

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 'd':
                        path = optarg;
                        break;
                case 'a':
                        acks = optarg;
                        break;
                case 'j':
                        journal = optarg;
                        break;
                case 'b':
                        busy_ms = atoi(optarg);
                        break;
                case 't':
                        think_us = atoi(optarg);
                        break;
                default:
                        return 2;
                }
        if (!path || !acks || (strcmp(journal, "wal") != 0 && strcmp(journal, "delete") != 0)) {
                fprintf(stderr, "usage: sqlite-load --db PATH --acks FILE [--journal wal|delete] [--busy-timeout MS]\n");
                return 2;
        }

        fd = open(acks, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0) {
                fprintf(stderr, "sqlite-load: %s: %s\n", acks, strerror(errno));
                return 1;
        }
        (void) signal(SIGTERM, on_signal);
        (void) signal(SIGINT, on_signal);

        if (sqlite3_open(path, &db) != SQLITE_OK) {
                fprintf(stderr, "sqlite-load: open %s: %s\n", path, sqlite3_errmsg(db));
                return 1;
        }
        sqlite3_busy_timeout(db, busy_ms);
        (void) snprintf(pragma, sizeof(pragma), "PRAGMA journal_mode=%s", journal);
        /* synchronous=FULL: an acknowledged commit is durable, as an application expects. */
        if (exec_or_die(db, pragma) < 0 || exec_or_die(db, "PRAGMA synchronous=FULL") < 0 ||
            exec_or_die(db, "CREATE TABLE IF NOT EXISTS t (txn INTEGER NOT NULL, part INTEGER NOT NULL, "
                            "payload INTEGER NOT NULL, PRIMARY KEY (txn, part))") < 0)
                return 1;
        if (sqlite3_prepare_v2(db, "INSERT INTO t (txn, part, payload) VALUES (?, ?, ?)", -1, &ins, NULL) != SQLITE_OK) {
                fprintf(stderr, "sqlite-load: prepare: %s\n", sqlite3_errmsg(db));
                return 1;
        }
        k = last_txn(db);
        if (k < 0)
                return 1;

        for (bool ready = false; !quit;) {
                char line[96];
                uint64_t begin, ack;
                int n;

                k++;
                begin = mono_usec();
                if (commit_one(db, ins, k) < 0) {
                        if (quit)
                                break;
                        return 1;
                }
                ack = mono_usec();
                n = snprintf(line, sizeof(line), "%" PRId64 " %" PRIu64 " %" PRIu64 "\n", k, begin, ack);
                if (write(fd, line, (size_t) n) != n) {
                        fprintf(stderr, "sqlite-load: ack write: %s\n", strerror(errno));
                        return 1;
                }
                if (!ready) {
                        printf("READY\n");
                        fflush(stdout);
                        ready = true;
                }
                if (think_us > 0)
                        (void) usleep((useconds_t) think_us);
        }

        sqlite3_finalize(ins);
        sqlite3_close(db);
        close(fd);
        return 0;
}
