/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * maria-query.h: MariaDB Connector/C with a deadline. As for PostgreSQL (pg-query.h), a
 * writer must answer every event within its budget whatever the server does, so
 * connections and statements run on the connector's non-blocking API and give up at a
 * CLOCK_MONOTONIC deadline (mono_usec() units).
 *
 * Internal style: functions return 0 or a negative errno; ret_* outputs are written only on
 * success. Error codes:
 *   -ETIMEDOUT    the deadline passed (the caller closes the connection, whose state is
 *                 then unknown), or the server gave up waiting for a lock
 *                 (ER_LOCK_WAIT_TIMEOUT, ER_STATEMENT_TIMEOUT)
 *   -ECONNRESET   the connection is broken or could not be made
 *   -EREMOTEIO    any other server error (logged with its message)
 */
#pragma once

#include <mysql.h>
#include <stdbool.h>
#include <stdint.h>

#include "macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(MYSQL *, mysql_close);
DEFINE_TRIVIAL_CLEANUP_FUNC(MYSQL_RES *, mysql_free_result);

/* Where and as whom to connect. host NULL with socket_path NULL means the default socket. */
typedef struct MariaTarget {
        const char *host;
        unsigned port;
        const char *socket_path;
        const char *user;
        const char *password;
} MariaTarget;

/* maria_connect: connect to t before deadline. Logs failures prefixed by what. *ret is owned
 * by the caller (mysql_close). */
int maria_connect(const MariaTarget *t, uint64_t deadline, const char *what, MYSQL **ret);

/*
 * maria_query: run one statement, waiting until deadline. When it returns rows they are
 * stored; *ret (if ret is non-NULL) gets them, owned by the caller (mysql_free_result), or
 * NULL for a statement without rows. Logs failures prefixed by what.
 */
int maria_query(MYSQL *m, const char *sql, uint64_t deadline, const char *what, MYSQL_RES **ret);
