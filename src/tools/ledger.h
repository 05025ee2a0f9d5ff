/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ledger.h: the sample application's data format, shared by the sample writer (which keeps
 * it) and the demo requester (which checks it inside a snapshot).
 *
 * The ledger is one file of LEDGER_ACCOUNTS fixed-width text records, one per account, and
 * a trailer record with the number of transfers done. A transfer debits one record and
 * credits another with two separate writes, so between them the sum of all balances is
 * wrong: the invariant (sum == LEDGER_TOTAL) is one only the application can break, and a
 * snapshot taken at an arbitrary instant (crash-consistent) may catch it broken. A snapshot
 * taken while the writer holds the application quiet at Freeze never does.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define LEDGER_ACCOUNTS 16
#define LEDGER_START_BALANCE 1000000LL
#define LEDGER_TOTAL (LEDGER_ACCOUNTS * LEDGER_START_BALANCE)
#define LEDGER_RECORD_SIZE 32 /* "acct=NN balance=NNNNNNNNNNNNNN\n" padded */
#define LEDGER_FILE_SIZE ((LEDGER_ACCOUNTS + 1) * LEDGER_RECORD_SIZE)
#define LEDGER_FILE_NAME "ledger"

typedef struct Ledger {
        int64_t balance[LEDGER_ACCOUNTS];
        uint64_t transfers;
} Ledger;

/* ledger_format_record: account record i (or the trailer for i == LEDGER_ACCOUNTS) into buf. */
void ledger_format_record(const Ledger *l, unsigned i, char buf[LEDGER_RECORD_SIZE]);

/*
 * ledger_read: parse a whole ledger file at path into *ret.
 * Returns 0, -errno on I/O failure, -EBADMSG when a record does not parse.
 */
int ledger_read(const char *path, Ledger *ret);

/* ledger_sum: the sum of all balances; the invariant holds when it equals LEDGER_TOTAL. */
int64_t ledger_sum(const Ledger *l);
