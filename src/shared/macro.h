/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * macro.h: the small set of macros every internal file uses: _cleanup_ ownership in the
 * systemd style (a variable's cleanup runs when it goes out of scope; TAKE_PTR/TAKE_FD hand
 * ownership on and disarm it), ELEMENTSOF, and the assertion helpers. No dependencies.
 */
#pragma once

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _pure_ __attribute__((pure))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _likely_(x) (__builtin_expect(!!(x), 1))
#define _unlikely_(x) (__builtin_expect(!!(x), 0))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

/* Hand a pointer on: returns it and sets the variable to NULL so its cleanup does nothing. */
#define TAKE_PTR(p)                              \
        ({                                       \
                __typeof__(p) *_pp_ = &(p);      \
                __typeof__(p) _ptr_ = *_pp_;     \
                *_pp_ = NULL;                    \
                _ptr_;                           \
        })

#define TAKE_FD(fd)                              \
        ({                                       \
                int *_pfd_ = &(fd);              \
                int _fd_ = *_pfd_;               \
                *_pfd_ = -EBADF;                 \
                _fd_;                            \
        })

/* Defines funcp(type *p) calling func(*p) when *p is not NULL, for use with _cleanup_. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)          \
        _unused_ static inline void func##p(type *p) {   \
                if (*p)                                  \
                        func(*p);                        \
        }

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                (void) close(*fd);
                errno = saved;
        }
}
#define _cleanup_close_ _cleanup_(closep)

static inline int negative_errno(void) {
        /* For the rare syscall wrapper that does not set errno: never return 0 as an error. */
        return errno > 0 ? -errno : -EIO;
}

#define streq(a, b) (strcmp((a), (b)) == 0)
#define strempty(s) ((s) ? (s) : "")
#define isempty(s) (!(s) || !(s)[0])

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
/* x rounded up to a multiple of a (a > 0; no overflow check). */
#define ROUND_UP(x, a) (((x) + (a) - 1) / (a) * (a))

#define USEC_PER_MSEC 1000ULL
#define USEC_PER_SEC 1000000ULL
#define NSEC_PER_USEC 1000ULL
