/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * alloc-util.h: the one way an array grows when its final length is not known up front.
 * greedy_realloc() makes room for a number of elements by at least doubling the capacity, so
 * appending n elements copies O(n) bytes in all, and it refuses a size that would overflow
 * instead of wrapping around to a short buffer. A failure leaves the array as it was, so the
 * caller still owns and frees what it had built. Header-only, like time-util.h, so the tests
 * and benchmarks that link only the public libvss use the same code as the daemon and tools.
 */
#pragma once

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "macro.h"

/* The smallest capacity greedy_realloc() allocates, in elements: a short list is allocated once. */
#define GREEDY_REALLOC_MIN ((size_t) 16)

/*
 * greedy_realloc: makes *p hold at least `need` elements of `size` bytes each.
 *   p          the array (a malloc'd block or NULL), owned by the caller before and after;
 *   allocated  its capacity in elements (0 for NULL), updated when the array grows;
 *   need       the number of elements the caller is about to use (its count plus what it adds);
 *   size       bytes per element, > 0.
 * When need fits in *allocated nothing changes. Otherwise *p is reallocated to
 * max(need, 2 × *allocated, GREEDY_REALLOC_MIN) elements, capped at the largest object size
 * (PTRDIFF_MAX bytes); the elements it held keep their values and the new ones are
 * uninitialised. need == 0 never allocates.
 * Returns 0, or -ENOMEM when need × size exceeds PTRDIFF_MAX or the allocator fails; then *p
 * and *allocated are untouched.
 */
static inline int greedy_realloc(void **p, size_t *allocated, size_t need, size_t size) {
        size_t max, n;
        void *q;

        assert(p);
        assert(allocated);
        assert(size > 0);

        if (need <= *allocated)
                return 0;
        max = (size_t) PTRDIFF_MAX / size;
        if (need > max)
                return -ENOMEM;
        n = *allocated > max / 2 ? max : *allocated * 2;
        n = MIN(MAX(MAX(n, need), GREEDY_REALLOC_MIN), max);

        q = realloc(*p, n * size);
        if (!q)
                return -ENOMEM;
        *p = q;
        *allocated = n;
        return 0;
}

/* GREEDY_REALLOC(array, allocated, need): greedy_realloc() for a typed array lvalue (T *)
 * and its size_t capacity lvalue; the element size comes from the array's type. Evaluates
 * to 0 or -ENOMEM, with array and allocated untouched on failure. */
#define GREEDY_REALLOC(array, allocated, need)                                                  \
        ({                                                                                      \
                void *_ga_p_ = (array);                                                         \
                int _ga_r_ = greedy_realloc(&_ga_p_, &(allocated), (need), sizeof(*(array)));  \
                if (_ga_r_ >= 0)                                                                \
                        (array) = _ga_p_;                                                       \
                _ga_r_;                                                                         \
        })
