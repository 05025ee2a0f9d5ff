/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-xxhash-util: the XXH3 that xxhash-util.h gives (the library's run-time dispatch to
 * AVX2/AVX-512 where meson found it, VSS_XXH_DISPATCH) makes the same digests as the plain
 * library functions every archive and manifest was checksummed with: one-shot and streamed in
 * uneven pieces, for the lengths where XXH3 changes its way (0, 1-3, 4-8, 9-16, 17-128,
 * 129-240, then the striped loop, its 1 KiB stripes and its 64-byte tail).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "xxhash-plain.h"
#include "xxhash-util.h"

#define DATA_SIZE ((3U << 20) + 5U)

static uint8_t *data;

static int setup(void **state) {
        uint64_t x = 0x9e3779b97f4a7c15ULL;

        data = malloc(DATA_SIZE);
        if (!data)
                return -1;
        for (size_t i = 0; i < DATA_SIZE; i++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                data[i] = (uint8_t) x;
        }
        return 0;
}

static int teardown(void **state) {
        free(data);
        return 0;
}

static void canonical(XXH128_hash_t h, uint8_t ret[static 16]) {
        XXH128_canonical_t c;

        XXH128_canonicalFromHash(&c, h);
        memcpy(ret, c.digest, sizeof(c.digest));
}

static const size_t lengths[] = { 0, 1, 3, 4, 8, 9, 16, 17, 128, 129, 240, 241, 1024, 1025, 4096 + 7,
                                  64 * 1024 + 63, 1U << 20, DATA_SIZE };

static void test_one_shot(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(lengths); i++) {
                uint8_t want[16], got[16];

                xxhash_plain_128(data, lengths[i], want);
                canonical(XXH3_128bits(data, lengths[i]), got);
                assert_memory_equal(got, want, sizeof(want));
        }
}

/* Fed in pieces of 1, 63, 4097 bytes and the rest, as writes and reads come. */
static void test_streamed(void **state) {
        static const size_t pieces[] = { 1, 63, 4097 };
        XXH3_state_t *st = XXH3_createState();

        assert_non_null(st);
        for (size_t i = 0; i < ELEMENTSOF(lengths); i++) {
                uint8_t want[16], got[16];
                size_t off = 0;

                assert_int_equal(XXH3_128bits_reset(st), XXH_OK);
                for (size_t p = 0; off < lengths[i]; p++) {
                        size_t k = p < ELEMENTSOF(pieces) ? pieces[p] : lengths[i] - off;

                        if (k > lengths[i] - off)
                                k = lengths[i] - off;
                        assert_int_equal(XXH3_128bits_update(st, data + off, k), XXH_OK);
                        off += k;
                }
                xxhash_plain_128(data, lengths[i], want);
                canonical(XXH3_128bits_digest(st), got);
                assert_memory_equal(got, want, sizeof(want));
        }
        XXH3_freeState(st);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_one_shot),
                cmocka_unit_test(test_streamed),
        };

        printf("# XXH3 %s\n", VSS_XXH_DISPATCH ? "dispatched at run time (VSS_XXH_DISPATCH)" : "plain");
        return cmocka_run_group_tests(tests, setup, teardown);
}
