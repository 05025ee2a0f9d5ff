/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * log.c: the implementation of log.h. A message is formatted into one buffer and written with
 * one write(2), so lines from vssd never interleave with each other mid-line. Logging must
 * not change errno for the caller, and must never fail loudly: a full stderr just loses lines.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vssd/log.h"

static int max_level = LOG_INFO;

void log_set_max_level(int level) {
        max_level = level;
}

int log_get_max_level(void) {
        return max_level;
}

int log_level_from_string(const char *s) {
        static const struct {
                const char *name;
                int level;
        } table[] = {
                { "debug", LOG_DEBUG },
                { "info", LOG_INFO },
                { "notice", LOG_NOTICE },
                { "warning", LOG_WARNING },
                { "error", LOG_ERR },
        };

        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (streq(s, table[i].name))
                        return table[i].level;
        return -EINVAL;
}

int log_internal(int level, int error, const char *fmt, ...) {
        char buf[2048];
        int saved_errno = errno, k, n = 0;
        va_list ap;

        if (error < 0)
                error = -error;

        if (level > max_level)
                goto finish;

        /* Under systemd stderr is a journal stream; the prefix carries the priority. */
        if (getenv("JOURNAL_STREAM"))
                n = snprintf(buf, sizeof(buf), "<%d>", level);
        else
                n = snprintf(buf, sizeof(buf), "vssd: ");
        if (n < 0)
                n = 0;

        /* %m in fmt must print the error we were given, not whatever errno is now. */
        errno = error;
        va_start(ap, fmt);
        k = vsnprintf(buf + n, sizeof(buf) - (size_t) n, fmt, ap);
        va_end(ap);
        if (k < 0)
                k = 0;
        n += k;
        if ((size_t) n >= sizeof(buf) - 1)
                n = sizeof(buf) - 2;
        buf[n++] = '\n';
        (void) !write(STDERR_FILENO, buf, (size_t) n);

finish:
        errno = saved_errno;
        return error == 0 ? 0 : -error;
}
