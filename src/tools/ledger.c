/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ledger.c: reading and formatting the sample application's ledger (see ledger.h for why
 * the format is built to be breakable between two writes).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ledger.h"
#include "macro.h"

void ledger_format_record(const Ledger *l, unsigned i, char buf[LEDGER_RECORD_SIZE]) {
        char tmp[LEDGER_RECORD_SIZE + 16];
        int n;

        if (i < LEDGER_ACCOUNTS)
                n = snprintf(tmp, sizeof(tmp), "acct=%02u balance=%014" PRId64, i, l->balance[i]);
        else
                n = snprintf(tmp, sizeof(tmp), "transfers=%020" PRIu64, l->transfers);

        /* Pad with spaces to the fixed width so every record is rewritten in place. */
        memset(buf, ' ', LEDGER_RECORD_SIZE);
        memcpy(buf, tmp, MIN((size_t) n, (size_t) LEDGER_RECORD_SIZE - 1));
        buf[LEDGER_RECORD_SIZE - 1] = '\n';
}

static int parse_record(const char *rec, unsigned i, Ledger *l) {
        char tmp[LEDGER_RECORD_SIZE + 1];
        unsigned acct;

        memcpy(tmp, rec, LEDGER_RECORD_SIZE);
        tmp[LEDGER_RECORD_SIZE] = '\0';

        if (i == LEDGER_ACCOUNTS)
                return sscanf(tmp, "transfers=%" SCNu64, &l->transfers) == 1 ? 0 : -EBADMSG;

        if (sscanf(tmp, "acct=%u balance=%" SCNd64, &acct, &l->balance[i]) != 2 || acct != i)
                return -EBADMSG;
        return 0;
}

int ledger_read(const char *path, Ledger *ret) {
        _cleanup_close_ int fd = -EBADF;
        char buf[LEDGER_FILE_SIZE];
        Ledger l = {};
        ssize_t n;
        int r;

        /* O_NOATIME: reading a snapshot must not dirty its metadata (baselines.md). */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOATIME);
        if (fd < 0 && errno == EPERM)
                fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;

        n = pread(fd, buf, sizeof(buf), 0);
        if (n < 0)
                return -errno;
        if ((size_t) n != sizeof(buf))
                return -EBADMSG;

        for (unsigned i = 0; i <= LEDGER_ACCOUNTS; i++) {
                r = parse_record(buf + (size_t) i * LEDGER_RECORD_SIZE, i, &l);
                if (r < 0)
                        return r;
        }

        *ret = l;
        return 0;
}

int64_t ledger_sum(const Ledger *l) {
        int64_t sum = 0;

        for (unsigned i = 0; i < LEDGER_ACCOUNTS; i++)
                sum += l->balance[i];
        return sum;
}
