/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * log.h: vssd's logging, in the systemd manner: one line per message on stderr, with a
 * "<N>" syslog priority prefix when stderr is connected to the journal ($JOURNAL_STREAM), so
 * journald files each line at the right level. Never a file of our own. The *_errno variants
 * take a negative errno, expand %m to its text, and return it, so a caller can write
 * `return log_error_errno(r, "...: %m");`.
 */
#pragma once

#include <syslog.h>

#include "macro.h"

/* log_set_max_level: messages above this priority (LOG_DEBUG..LOG_ERR) are dropped. */
void log_set_max_level(int level);
int log_get_max_level(void);

/* log_level_from_string: "debug", "info", "warning", "error" -> LOG_*; -EINVAL otherwise. */
int log_level_from_string(const char *s);

/*
 * log_internal: format and write one line at level; error (a negative or positive errno, or 0)
 * is what %m expands to. Returns -abs(error) (or 0 when error is 0), for the macros below.
 */
int log_internal(int level, int error, const char *fmt, ...) _printf_(3, 4);

#define log_debug(...)   ((void) log_internal(LOG_DEBUG, 0, __VA_ARGS__))
#define log_info(...)    ((void) log_internal(LOG_INFO, 0, __VA_ARGS__))
#define log_notice(...)  ((void) log_internal(LOG_NOTICE, 0, __VA_ARGS__))
#define log_warning(...) ((void) log_internal(LOG_WARNING, 0, __VA_ARGS__))
#define log_error(...)   ((void) log_internal(LOG_ERR, 0, __VA_ARGS__))

#define log_debug_errno(e, ...)   log_internal(LOG_DEBUG, (e), __VA_ARGS__)
#define log_info_errno(e, ...)    log_internal(LOG_INFO, (e), __VA_ARGS__)
#define log_warning_errno(e, ...) log_internal(LOG_WARNING, (e), __VA_ARGS__)
#define log_error_errno(e, ...)   log_internal(LOG_ERR, (e), __VA_ARGS__)

/* log_oom: the one message for allocation failures; returns -ENOMEM. */
#define log_oom() log_internal(LOG_ERR, -ENOMEM, "Out of memory.")
