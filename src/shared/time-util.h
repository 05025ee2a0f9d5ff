/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * time-util.h: the one monotonic clock reading the project's C code takes for deadlines and
 * durations. Header-only so the guardian, the providers, libvss and the tests share it
 * without a link dependency.
 */
#pragma once

#include <stdint.h>
#include <time.h>

#include "macro.h"

/* now_usec: CLOCK_MONOTONIC in microseconds. Cannot fail with a valid clock id. */
static inline uint64_t now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / NSEC_PER_USEC;
}
