/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * requester-assert.h: assert_hr(call, expected, r) for cmocka tests that drive libvss
 * directly (root and lab tests): on a mismatch it prints both HRESULT names and the
 * requester's last error message, then fails the test. Header-only; include it after
 * <cmocka.h>. The integration suite has its own two-argument assert_hr (harness.h).
 */
#pragma once

#include <inttypes.h>

#include <vss/vss.h>

static inline void check_hr(const char *what, vss_hr got, vss_hr expected, vss_requester *r,
                            const char *file, int line) {
        if (got == expected)
                return;
        print_error("%s:%d: %s returned %s (0x%08" PRIx32 "), expected %s; %s\n", file, line, what,
                    vss_hr_name(got), (uint32_t) got, vss_hr_name(expected),
                    r ? vss_requester_get_error_message(r) : "");
        fail();
}
#define assert_hr(call, expected, r) check_hr(#call, (call), (expected), (r), __FILE__, __LINE__)
