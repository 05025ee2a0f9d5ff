/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-alloc-util: greedy_realloc(), the growth of every array whose length is not known up
 * front. It must keep what the array held, grow by doubling (so n appends reallocate
 * O(log n) times), allocate nothing for nothing, and refuse a size that overflows with
 * -ENOMEM while leaving the caller's array and capacity exactly as they were.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "alloc-util.h"

typedef struct Item {
        uint64_t a, b, c;
} Item;

static void test_growth_keeps_contents(void **state) {
        _cleanup_free_ Item *items = NULL;
        size_t n = 0, allocated = 0, reallocs = 0;

        for (uint64_t i = 0; i < 10000; i++) {
                size_t before = allocated;

                assert_int_equal(GREEDY_REALLOC(items, allocated, n + 1), 0);
                assert_non_null(items);
                assert_true(allocated >= n + 1);
                if (allocated != before) {
                        /* Each growth at least doubles: never one element at a time. */
                        assert_true(allocated >= 2 * before);
                        reallocs++;
                }
                items[n++] = (Item) { .a = i, .b = ~i, .c = i * 7 };
        }
        for (uint64_t i = 0; i < n; i++) {
                assert_int_equal(items[i].a, i);
                assert_int_equal(items[i].b, ~i);
                assert_int_equal(items[i].c, i * 7);
        }
        /* 16, 32, ..., 16384: eleven allocations for ten thousand appends. */
        assert_int_equal(reallocs, 11);
        assert_int_equal(allocated, 16384);
}

static void test_first_and_large_steps(void **state) {
        _cleanup_free_ char *buf = NULL;
        size_t allocated = 0;

        /* The first allocation holds at least GREEDY_REALLOC_MIN elements. */
        assert_int_equal(GREEDY_REALLOC(buf, allocated, 1), 0);
        assert_non_null(buf);
        assert_int_equal(allocated, GREEDY_REALLOC_MIN);
        /* One past the capacity doubles it. */
        assert_int_equal(GREEDY_REALLOC(buf, allocated, GREEDY_REALLOC_MIN + 1), 0);
        assert_int_equal(allocated, 2 * GREEDY_REALLOC_MIN);
        /* A need beyond twice the capacity is met exactly, not rounded to a power of two. */
        assert_int_equal(GREEDY_REALLOC(buf, allocated, 1000), 0);
        assert_int_equal(allocated, 1000);
        memset(buf, 'x', 1000);
}

static void test_zero_and_enough(void **state) {
        _cleanup_free_ int *v = NULL;
        size_t allocated = 0;
        int *before;

        /* Nothing needed: nothing allocated, the NULL array stays NULL. */
        assert_int_equal(GREEDY_REALLOC(v, allocated, 0), 0);
        assert_null(v);
        assert_int_equal(allocated, 0);

        /* A first need above the minimum is met exactly. */
        assert_int_equal(GREEDY_REALLOC(v, allocated, 20), 0);
        assert_int_equal(allocated, 20);
        before = v;
        /* Room already there (including need == 0 and need == capacity): the same block. */
        assert_int_equal(GREEDY_REALLOC(v, allocated, 0), 0);
        assert_int_equal(GREEDY_REALLOC(v, allocated, 20), 0);
        assert_ptr_equal(v, before);
        assert_int_equal(allocated, 20);
}

static void test_overflow_leaves_array(void **state) {
        _cleanup_free_ Item *items = NULL;
        size_t allocated = 0;
        Item *before;

        assert_int_equal(GREEDY_REALLOC(items, allocated, 3), 0);
        for (uint64_t i = 0; i < 3; i++)
                items[i] = (Item) { .a = i + 100 };
        before = items;

        /* need × size wraps around SIZE_MAX: a short product must not pass for a large one. */
        assert_int_equal(GREEDY_REALLOC(items, allocated, SIZE_MAX / sizeof(Item) + 2), -ENOMEM);
        assert_int_equal(GREEDY_REALLOC(items, allocated, SIZE_MAX), -ENOMEM);
        /* need × size fits in size_t but is larger than any object may be. */
        assert_int_equal(GREEDY_REALLOC(items, allocated, (size_t) PTRDIFF_MAX / sizeof(Item) + 1), -ENOMEM);
        /* The same through the untyped call, one-byte elements just past PTRDIFF_MAX. */
        void *untyped = items;
        assert_int_equal(greedy_realloc(&untyped, &allocated, (size_t) PTRDIFF_MAX + 1, 1), -ENOMEM);
        assert_ptr_equal(untyped, before);

        /* The caller's array, its capacity and its contents are as they were. */
        assert_ptr_equal(items, before);
        assert_int_equal(allocated, GREEDY_REALLOC_MIN);
        for (uint64_t i = 0; i < 3; i++)
                assert_int_equal(items[i].a, i + 100);

        /* And it still grows normally afterwards. */
        assert_int_equal(GREEDY_REALLOC(items, allocated, allocated + 1), 0);
        assert_int_equal(allocated, 2 * GREEDY_REALLOC_MIN);
        assert_int_equal(items[2].a, 102);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_growth_keeps_contents),
                cmocka_unit_test(test_first_and_large_steps),
                cmocka_unit_test(test_zero_and_enough),
                cmocka_unit_test(test_overflow_leaves_array),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
