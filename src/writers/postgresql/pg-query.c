/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pg-query.c: libpq connections and queries bounded by a deadline (pg-query.h).
 *
 * libpq's blocking calls wait as long as the server likes (PQconnectdb has connect_timeout,
 * in whole seconds and at least 2, but a query has nothing): a writer that used them would
 * hang in Identify on a server that accepts connections and never answers, or in Freeze on
 * a stopped backend. So both connecting and querying poll the connection's socket here with
 * the caller's deadline, and a query that runs out of time is cancelled on the server
 * before we give up on it.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "writers/common/writer-util.h"
#include "writers/postgresql/pg-query.h"

/* Waits until the socket is readable (or writable) or the deadline passes: 1, 0 (timeout), -errno. */
static int socket_wait(int fd, bool for_write, uint64_t deadline) {
        for (;;) {
                struct pollfd p = { .fd = fd, .events = for_write ? POLLOUT : POLLIN };
                uint64_t now = mono_usec();
                int n;

                if (now >= deadline)
                        return 0;
                n = poll(&p, 1, (int) MIN((deadline - now + USEC_PER_MSEC - 1) / USEC_PER_MSEC, (uint64_t) INT32_MAX));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n > 0)
                        return 1;
        }
}

/* Strips the trailing newline libpq puts on its messages, for one-line logs. */
static const char *message_trim(const char *msg, char *buf, size_t size) {
        size_t n;

        (void) snprintf(buf, size, "%s", msg ?: "(no message)");
        n = strlen(buf);
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
                buf[--n] = '\0';
        return buf;
}

static void notice_log(void *userdata, const char *message) {
        char buf[512];

        wlog(LOG_INFO, "server: %s", message_trim(message, buf, sizeof(buf)));
}

int pg_connect(const char *conninfo, const char *program, uint64_t deadline, const char *what, PGconn **ret) {
        const char *const keys[] = { "dbname", "fallback_application_name", NULL };
        const char *const values[] = { conninfo, program, NULL };
        _cleanup_(PQfinishp) PGconn *conn = NULL;
        PostgresPollingStatusType st = PGRES_POLLING_WRITING;
        char buf[512];

        /* expand_dbname: the first value is a whole connection string, as psql takes it. */
        conn = PQconnectStartParams(keys, values, 1);
        if (!conn)
                return -ENOMEM;
        if (PQstatus(conn) == CONNECTION_BAD) {
                wlog(LOG_ERR, "%s: cannot connect: %s", what, message_trim(PQerrorMessage(conn), buf, sizeof(buf)));
                return -ECONNRESET;
        }

        while (st != PGRES_POLLING_OK) {
                int r;

                if (st == PGRES_POLLING_FAILED) {
                        wlog(LOG_ERR, "%s: cannot connect: %s", what,
                             message_trim(PQerrorMessage(conn), buf, sizeof(buf)));
                        return -ECONNRESET;
                }
                r = socket_wait(PQsocket(conn), st == PGRES_POLLING_WRITING, deadline);
                if (r < 0) {
                        wlog(LOG_ERR, "%s: cannot connect: poll: %s", what, strerror(-r));
                        return -ECONNRESET;
                }
                if (r == 0) {
                        wlog(LOG_ERR, "%s: the server did not complete the connection in time", what);
                        return -ETIMEDOUT;
                }
                st = PQconnectPoll(conn);
        }

        (void) PQsetNoticeProcessor(conn, notice_log, NULL);
        *ret = TAKE_PTR(conn);
        return 0;
}

/* Asks the server to cancel the statement in flight. Best effort: the caller closes anyway. */
static void query_cancel(PGconn *conn, const char *what) {
        PGcancel *cancel = PQgetCancel(conn);
        char err[256];

        if (!cancel)
                return;
        if (!PQcancel(cancel, err, sizeof(err)))
                wlog(LOG_WARNING, "%s: cancel request failed: %s", what, err);
        PQfreeCancel(cancel);
}

int pg_query(PGconn *conn, const char *sql, int n_params, const char *const *params, bool binary,
             uint64_t deadline, const char *what, PGresult **ret) {
        _cleanup_(PQclearp) PGresult *result = NULL;
        char buf[512];
        int r = 0;

        if (!conn || PQstatus(conn) != CONNECTION_OK) {
                wlog(LOG_ERR, "%s: the connection is gone", what);
                return -ECONNRESET;
        }
        if (!PQsendQueryParams(conn, sql, n_params, NULL, params, NULL, NULL, binary ? 1 : 0)) {
                wlog(LOG_ERR, "%s: cannot send the query: %s", what, message_trim(PQerrorMessage(conn), buf, sizeof(buf)));
                return -ECONNRESET;
        }

        for (;;) {
                PGresult *res;

                while (PQisBusy(conn)) {
                        int w = socket_wait(PQsocket(conn), false, deadline);

                        if (w == 0) {
                                wlog(LOG_ERR, "%s: no answer from the server in time; cancelling", what);
                                query_cancel(conn, what);
                                return -ETIMEDOUT;
                        }
                        if (w < 0 || !PQconsumeInput(conn)) {
                                wlog(LOG_ERR, "%s: connection lost: %s", what,
                                     message_trim(PQerrorMessage(conn), buf, sizeof(buf)));
                                return -ECONNRESET;
                        }
                }
                res = PQgetResult(conn);
                if (!res)
                        break;
                /* One statement gives one result; keep the first error if several come. */
                if (r == 0 && PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK) {
                        wlog(LOG_ERR, "%s: %s", what, message_trim(PQresultErrorMessage(res), buf, sizeof(buf)));
                        r = PQstatus(conn) == CONNECTION_BAD ? -ECONNRESET : -EREMOTEIO;
                }
                if (!result)
                        result = res;
                else
                        PQclear(res);
        }
        if (r == 0 && PQstatus(conn) == CONNECTION_BAD)
                r = -ECONNRESET;
        if (r == 0 && !result)
                r = -EPROTO;
        if (r < 0)
                return r;
        *ret = TAKE_PTR(result);
        return 0;
}

const char *pg_value(const PGresult *res, int col) {
        if (!res || PQntuples(res) < 1 || col >= PQnfields(res) || PQgetisnull(res, 0, col))
                return NULL;
        return PQgetvalue(res, 0, col);
}

int pg_lsn_parse(const char *s, uint64_t *ret) {
        unsigned hi, lo;
        int n = 0;

        if (!s || sscanf(s, "%X/%X%n", &hi, &lo, &n) != 2 || s[n] != '\0')
                return -EINVAL;
        *ret = ((uint64_t) hi << 32) | lo;
        return 0;
}
