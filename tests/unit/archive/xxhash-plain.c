/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * xxhash-plain.c: XXH3-128 straight from <xxhash.h>, as every caller got it before
 * xxhash-util.h: the reference test-xxhash-util compares the dispatched digests with. A file
 * of its own, because xxhash-util.h renames the functions for the whole file including it.
 */
#include <xxhash.h>

#include "xxhash-plain.h"

void xxhash_plain_128(const void *data, size_t len, uint8_t ret[static 16]) {
        XXH128_canonical_t c;

        XXH128_canonicalFromHash(&c, XXH3_128bits(data, len));
        for (size_t i = 0; i < sizeof(c.digest); i++)
                ret[i] = c.digest[i];
}
