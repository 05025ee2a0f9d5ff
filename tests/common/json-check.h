/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * json-check.h: reading back the tools' --json output in tests (vssadmin, vshadow).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* json_valid: s is exactly one JSON value (surrounding white space allowed). */
bool json_valid(const char *s);

/* json_array_length: the number of objects in the top-level array s. */
unsigned json_array_length(const char *s);

/* json_get: the value of "key" in the index-th object (0-based) of s, copied into buf
 * (strings without their quotes). False when absent or too long. */
bool json_get(const char *s, unsigned index, const char *key, char *buf, size_t size);
