/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pg-query.h: libpq with a deadline. A VSS writer must answer every event within its
 * budget whatever the server does (down, overloaded, a backend stopped), so the writer never
 * calls libpq's blocking entry points: connections and queries here run on libpq's
 * asynchronous API and give up at a CLOCK_MONOTONIC deadline (mono_usec() units).
 *
 * Internal style: functions return 0 or a negative errno; ret_* outputs are written only on
 * success. Error codes:
 *   -ETIMEDOUT    the deadline passed (a query in flight was cancelled: the caller should
 *                 close the connection, whose state is then unknown)
 *   -ECONNRESET   the connection is broken or could not be made
 *   -EREMOTEIO    the server answered with an SQL error (logged with its message)
 */
#pragma once

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(PGconn *, PQfinish);
DEFINE_TRIVIAL_CLEANUP_FUNC(PGresult *, PQclear);

/*
 * pg_connect: open a connection from a libpq connection string (or URI), failing at
 * deadline. application_name defaults to program (the conninfo may set its own). Logs why a
 * connection failed, prefixed by what. *ret is owned by the caller (PQfinish).
 */
int pg_connect(const char *conninfo, const char *program, uint64_t deadline, const char *what, PGconn **ret);

/*
 * pg_query: run one SQL statement with text parameters (params may be NULL when n_params is
 * 0) and wait for its result until deadline. binary: ask for results in binary format.
 * On success *ret holds a PGRES_TUPLES_OK or PGRES_COMMAND_OK result, owned by the caller.
 * Logs failures prefixed by what.
 */
int pg_query(PGconn *conn, const char *sql, int n_params, const char *const *params, bool binary,
             uint64_t deadline, const char *what, PGresult **ret);

/* pg_value: the text of row 0, column col of res, or NULL when there is no such cell or it
 * is NULL. Borrowed from res. */
const char *pg_value(const PGresult *res, int col);

/* pg_lsn_parse: "X/Y" (hex) into a 64-bit LSN. -EINVAL when malformed. */
int pg_lsn_parse(const char *s, uint64_t *ret);
