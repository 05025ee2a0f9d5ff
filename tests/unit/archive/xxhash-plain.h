/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* xxhash-plain.h: the undispatched XXH3-128 of xxhash-plain.c, for test-xxhash-util. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* The canonical (big-endian) XXH3-128 digest of len bytes at data, into ret. */
void xxhash_plain_128(const void *data, size_t len, uint8_t ret[static 16]);
