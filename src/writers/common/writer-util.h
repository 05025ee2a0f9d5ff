/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * writer-util.h: what every writer program under src/writers shares: a log that goes to
 * stderr (and so to the journal when run as a service, with the journal's priority prefix),
 * the parsing of the options all writers take, path normalisation, a monotonic clock, and
 * the main loop that keeps a subscribed writer alive until SIGTERM/SIGINT.
 *
 * Internal style: functions return 0 or a negative errno; ret_* outputs are written only on
 * success.
 */
#pragma once

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

#include "macro.h"
#include "vss/vss.h"

/* Exit statuses of the writer programs: the tools' scheme (docs/exit-codes.md). */
#define WRITER_EXIT_USAGE 1             /* bad command line or configuration file */
#define WRITER_EXIT_FAILED 2            /* could not start, or failed while serving */
#define WRITER_EXIT_UNREACHABLE 3       /* vssd could not be reached */

/* writer_exit_status: main's exit status for writer_serve()'s (or a start-up step's) result r. */
int writer_exit_status(int r);

/* --version, as every writer takes it: put WRITER_OPTION_VERSION in the options given to
 * writer_parse_argv(), which prints "PROGRAM VERSION" and returns 0 for it. */
#define WRITER_OPT_VERSION 0x7fff0001
#define WRITER_OPTION_VERSION { "version", no_argument, NULL, WRITER_OPT_VERSION }

/* writer_version: prints "PROGRAM VERSION" on stdout, for a writer with its own option loop. */
void writer_version(void);

/*
 * wlog_init: name the program in every log line. Detects whether stderr is the journal
 * ($JOURNAL_STREAM names it), in which case lines carry the "<N>" priority prefix that
 * journald parses instead of the program name (the journal records that already).
 */
void wlog_init(const char *program);

/* wlog: one line at priority (LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG), written with a
 * single write(2) so lines from several threads never interleave. Keeps errno. */
void wlog(int priority, const char *fmt, ...) _printf_(2, 3);

/* mono_usec: CLOCK_MONOTONIC in microseconds; comparable across processes on one machine. */
uint64_t mono_usec(void);

/*
 * parse_ms: a decimal number of milliseconds in [min, max]. -EINVAL when s is not a plain
 * decimal number, -ERANGE when out of bounds.
 */
int parse_ms(const char *s, uint32_t min, uint32_t max, uint32_t *ret);

/* parse_level: "front-end"/"front", "back-end"/"back", "system" into a VSS application level. */
int parse_level(const char *s, vss_application_level *ret);

/*
 * path_normalize_absolute: path made absolute against the working directory, with "//",
 * "." and ".." resolved lexically (no symlinks followed) and no trailing '/'. *ret is
 * malloc'd. -EINVAL for an empty path, -ENAMETOOLONG beyond PATH_MAX.
 */
int path_normalize_absolute(const char *path, char **ret);

/*
 * writer_serve: subscribe w (event_flags: VSS_SM_*), tell systemd READY=1 when run as a
 * notify service, and wait for SIGTERM or SIGINT; then unsubscribe (libvss runs on_abort
 * first if a set is still frozen). The caller must have called writer_block_signals()
 * before creating w, so that libvss's threads inherit the blocked mask and the signal is
 * taken here. Returns 0, or when the subscription failed (logged): -ENOTCONN when vssd is not
 * there, -ECONNREFUSED when it refused.
 */
int writer_serve(vss_writer *w, uint32_t event_flags);

/* writer_block_signals: block SIGTERM and SIGINT in the calling thread (inherited
 * by threads created later) and ignore SIGPIPE. Call first thing in main(). */
int writer_block_signals(void);

/* A writer's option handler: apply option val (long name name) with value; 0 or -errno. */
typedef int (*writer_option_fn)(int val, const char *name, const char *value, void *userdata);

/*
 * writer_parse_argv: the getopt_long loop the writers share: every option goes to apply with
 * its long name; 'h' calls help instead, WRITER_OPT_VERSION prints the version. Returns 1 to run, 0 after help, -EINVAL on bad usage
 * (an unknown option, a stray argument) or apply's error. The caller checks combinations.
 */
int writer_parse_argv(int argc, char **argv, const char *shortopts, const struct option *options,
                      void (*help)(void), writer_option_fn apply, void *userdata);

/*
 * writer_config_load: apply a configuration file of "key = value" lines whose keys are long
 * option names of options; blank lines and '#' comments are ignored; accept(val) says which
 * options a file may set (never --config itself or --help). At most 64 KiB. The file's text is
 * kept for the program's lifetime, because applied values point into it.
 * Returns 0, or a negative errno after logging the file and line at fault.
 */
int writer_config_load(const char *file, const struct option *options, bool (*accept)(int val),
                       writer_option_fn apply, void *userdata);
