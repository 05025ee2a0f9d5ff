/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vss-id.c: VSS_ID (GUID) and VSS_TIMESTAMP helpers of the public API.
 *
 * Ids are libuuid's uuid_t in RFC 4122 byte order; the text form is the lowercase
 * 36-character one, and parsing also accepts the braced form Windows tools print
 * ("{6ba7b810-...}") so ids copied from their output work unchanged. Timestamps are
 * FILETIME values (100 ns since 1601-01-01 UTC) so they keep their meaning in documents that
 * travel between Windows and Linux.
 */
#include <string.h>
#include <uuid/uuid.h>

#include "macro.h"
#include "vss/vss-common.h"

/* Seconds from 1601-01-01 to 1970-01-01, in 100 ns units. */
#define FILETIME_UNIX_EPOCH_100NS 116444736000000000LL

VSS_EXTERN void vss_id_generate(vss_id *ret) {
        if (!ret)
                return;
        uuid_generate_random(ret->bytes);
}

VSS_EXTERN vss_hr vss_id_parse(const char *s, vss_id *ret) {
        char buf[VSS_ID_STRING_MAX];
        uuid_t u;
        size_t n;

        if (!s || !ret)
                return E_INVALIDARG;

        n = strlen(s);
        if (n == 38 && s[0] == '{' && s[37] == '}') {
                memcpy(buf, s + 1, 36);
                buf[36] = 0;
        } else if (n == 36) {
                memcpy(buf, s, 37);
        } else
                return E_INVALIDARG;

        if (uuid_parse(buf, u) < 0)
                return E_INVALIDARG;

        memcpy(ret->bytes, u, sizeof(ret->bytes));
        return S_OK;
}

VSS_EXTERN char *vss_id_format(const vss_id *id, char *buf) {
        if (!buf)
                return NULL;
        if (!id) {
                buf[0] = 0;
                return buf;
        }
        uuid_unparse_lower(id->bytes, buf);
        return buf;
}

VSS_EXTERN bool vss_id_is_null(const vss_id *id) {
        return !id || uuid_is_null(id->bytes);
}

VSS_EXTERN bool vss_id_equal(const vss_id *a, const vss_id *b) {
        if (!a || !b)
                return a == b;
        return memcmp(a->bytes, b->bytes, sizeof(a->bytes)) == 0;
}

VSS_EXTERN vss_timestamp vss_timestamp_from_unix_ns(int64_t unix_ns) {
        /* Floor division, so instants before 1970 round towards the past like FILETIME does. */
        int64_t ticks = unix_ns / 100;

        if (unix_ns % 100 < 0)
                ticks--;
        return ticks + FILETIME_UNIX_EPOCH_100NS;
}

VSS_EXTERN int64_t vss_timestamp_to_unix_ns(vss_timestamp ts) {
        return (ts - FILETIME_UNIX_EPOCH_100NS) * 100;
}
