/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * maria-query.c: MariaDB connections and statements bounded by a deadline (maria-query.h).
 *
 * The connector's blocking calls take their timeouts in whole seconds and apply them per
 * network read, not per statement. The non-blocking API hands us the socket and the events
 * it waits for after each step instead, so one poll loop here enforces the caller's
 * deadline across the whole statement.
 */
#include <errno.h>
#include <errmsg.h>
#include <mysqld_error.h>
#include <poll.h>
#include <string.h>

#include "writers/common/writer-util.h"
#include "writers/mariadb/maria-query.h"

/*
 * Waits for the events status asks for, or its own timeout, or our deadline. Returns the
 * events that happened (for the connector's *_cont call), or 0 when the deadline passed.
 */
static int wait_events(MYSQL *m, int status, uint64_t deadline) {
        for (;;) {
                struct pollfd p = { .fd = mysql_get_socket(m) };
                uint64_t now = mono_usec(), left_ms;
                int timeout, n, ready = 0;

                if (now >= deadline)
                        return 0;
                left_ms = (deadline - now + USEC_PER_MSEC - 1) / USEC_PER_MSEC;
                timeout = (int) MIN(left_ms, (uint64_t) INT32_MAX);
                if (status & MYSQL_WAIT_TIMEOUT)
                        timeout = (int) MIN((unsigned) timeout, mysql_get_timeout_value_ms(m));
                if (status & MYSQL_WAIT_READ)
                        p.events |= POLLIN;
                if (status & MYSQL_WAIT_WRITE)
                        p.events |= POLLOUT;
                if (status & MYSQL_WAIT_EXCEPT)
                        p.events |= POLLPRI;

                n = poll(&p, p.events ? 1 : 0, timeout);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return 0;
                if (n == 0) {
                        if ((status & MYSQL_WAIT_TIMEOUT) && mono_usec() < deadline)
                                return MYSQL_WAIT_TIMEOUT;
                        if (mono_usec() >= deadline)
                                return 0;
                        continue;
                }
                if (p.revents & (POLLIN | POLLERR | POLLHUP))
                        ready |= MYSQL_WAIT_READ;
                if (p.revents & (POLLOUT | POLLERR | POLLHUP))
                        ready |= MYSQL_WAIT_WRITE;
                if (p.revents & POLLPRI)
                        ready |= MYSQL_WAIT_EXCEPT;
                return ready & (status | MYSQL_WAIT_READ | MYSQL_WAIT_WRITE);
        }
}

static int error_from(MYSQL *m, const char *what) {
        unsigned e = mysql_errno(m);

        wlog(LOG_ERR, "%s: %s (error %u)", what, mysql_error(m), e);
        if (e == ER_LOCK_WAIT_TIMEOUT || e == ER_STATEMENT_TIMEOUT)
                return -ETIMEDOUT;
        /* The connector's own errors (CR_*: lost, gone, cannot connect) are about the link. */
        if (e >= CR_MIN_ERROR && e <= CR_MAX_ERROR)
                return -ECONNRESET;
        return -EREMOTEIO;
}

int maria_connect(const MariaTarget *t, uint64_t deadline, const char *what, MYSQL **ret) {
        _cleanup_(mysql_closep) MYSQL *m = NULL;
        MYSQL *connected = NULL;
        int status;

        m = mysql_init(NULL);
        if (!m)
                return -ENOMEM;
        if (mysql_options(m, MYSQL_OPT_NONBLOCK, 0) != 0) {
                wlog(LOG_ERR, "%s: the connector has no non-blocking mode", what);
                return -EOPNOTSUPP;
        }
        /* No option files: the writer's configuration is its own. */
        status = mysql_real_connect_start(&connected, m, t->host, t->user, t->password, NULL, t->port,
                                          t->socket_path, 0);
        while (status) {
                int ready = wait_events(m, status, deadline);

                if (ready == 0) {
                        wlog(LOG_ERR, "%s: the server did not complete the connection in time", what);
                        return -ETIMEDOUT;
                }
                status = mysql_real_connect_cont(&connected, m, ready);
        }
        if (!connected) {
                wlog(LOG_ERR, "%s: cannot connect: %s", what, mysql_error(m));
                return -ECONNRESET;
        }
        *ret = TAKE_PTR(m);
        return 0;
}

int maria_query(MYSQL *m, const char *sql, uint64_t deadline, const char *what, MYSQL_RES **ret) {
        MYSQL_RES *res = NULL;
        int status, err = 0;

        if (!m)
                return -ECONNRESET;
        status = mysql_real_query_start(&err, m, sql, strlen(sql));
        while (status) {
                int ready = wait_events(m, status, deadline);

                if (ready == 0) {
                        wlog(LOG_ERR, "%s: no answer from the server in time", what);
                        return -ETIMEDOUT;
                }
                status = mysql_real_query_cont(&err, m, ready);
        }
        if (err)
                return error_from(m, what);

        if (mysql_field_count(m) > 0) {
                status = mysql_store_result_start(&res, m);
                while (status) {
                        int ready = wait_events(m, status, deadline);

                        if (ready == 0) {
                                wlog(LOG_ERR, "%s: no answer from the server in time", what);
                                return -ETIMEDOUT;
                        }
                        status = mysql_store_result_cont(&res, m, ready);
                }
                if (!res)
                        return error_from(m, what);
        }
        if (ret)
                *ret = res;
        else if (res)
                mysql_free_result(res);
        return 0;
}
