/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * progress.c: what a long backup or restore shows while it runs, on stderr. On a terminal a
 * bar redrawn in place ten times a second at most; otherwise (a log, a pipe, a test) one plain
 * line every five seconds and one at the end, so a journal is not flooded. Both show bytes,
 * files and the rate; the bar also the share done when the total is known.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vssbackup.h"

#define TTY_INTERVAL_NS (100LL * 1000000LL)
#define PLAIN_INTERVAL_NS (5LL * 1000000000LL)
#define BAR_WIDTH 30

const char *format_bytes(uint64_t bytes, char buf[static 32]) {
        static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
        double v = (double) bytes;
        size_t u = 0;

        while (v >= 1024.0 && u + 1 < ELEMENTSOF(units)) {
                v /= 1024.0;
                u++;
        }
        if (u == 0)
                snprintf(buf, 32, "%" PRIu64 " B", bytes);
        else
                snprintf(buf, 32, "%.1f %s", v, units[u]);
        return buf;
}

static int64_t elapsed_ns(const struct timespec *from, const struct timespec *to) {
        return (int64_t) (to->tv_sec - from->tv_sec) * 1000000000LL + (to->tv_nsec - from->tv_nsec);
}

void progress_init(Progress *p, const char *verb, bool quiet, uint64_t total_bytes, uint64_t total_files) {
        *p = (Progress) {
                .verb = verb,
                .tty = isatty(STDERR_FILENO),
                .quiet = quiet,
                .total_bytes = total_bytes,
                .total_files = total_files,
        };
        clock_gettime(CLOCK_MONOTONIC, &p->start);
        p->last = p->start;
}

static void draw(Progress *p, const struct timespec *now, bool final) {
        uint64_t bytes = p->base_bytes + p->bytes, files = p->base_files + p->files;
        double secs = (double) elapsed_ns(&p->start, now) / 1e9;
        char done[32], total[32], rate[32];

        format_bytes(secs > 0.001 ? (uint64_t) ((double) bytes / secs) : 0, rate);
        format_bytes(bytes, done);

        if (p->tty) {
                char bar[BAR_WIDTH + 1];
                double share = p->total_bytes > 0 ? (double) bytes / (double) p->total_bytes : 0.0;
                size_t filled;

                if (share > 1.0)
                        share = 1.0;
                filled = p->total_bytes > 0 ? (size_t) (share * BAR_WIDTH) : 0;
                memset(bar, '#', filled);
                memset(bar + filled, '-', BAR_WIDTH - filled);
                bar[BAR_WIDTH] = 0;
                if (p->total_bytes > 0)
                        fprintf(stderr, "\r%s [%s] %3.0f%% %s of %s, %" PRIu64 " of %" PRIu64 " files, %s/s \033[K",
                                p->verb, bar, share * 100.0, done, format_bytes(p->total_bytes, total), files,
                                p->total_files, rate);
                else
                        fprintf(stderr, "\r%s: %s, %" PRIu64 " files, %s/s \033[K", p->verb, done, files, rate);
                if (final)
                        fputc('\n', stderr);
                p->drawn = true;
        } else if (p->total_bytes > 0)
                fprintf(stderr, "%s: %s of %s, %" PRIu64 " of %" PRIu64 " files, %s/s%s\n", p->verb, done,
                        format_bytes(p->total_bytes, total), files, p->total_files, rate, final ? ", done" : "");
        else
                fprintf(stderr, "%s: %s, %" PRIu64 " files, %s/s%s\n", p->verb, done, files, rate,
                        final ? ", done" : "");
        fflush(stderr);
}

void progress_update(Progress *p, uint64_t bytes, uint64_t files) {
        struct timespec now;

        p->bytes = bytes;
        p->files = files;
        if (p->quiet)
                return;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (elapsed_ns(&p->last, &now) < (p->tty ? TTY_INTERVAL_NS : PLAIN_INTERVAL_NS))
                return;
        p->last = now;
        draw(p, &now, false);
}

void progress_next_archive(Progress *p) {
        p->base_bytes += p->bytes;
        p->bytes = 0;
        if (!p->files_absolute) {
                p->base_files += p->files;
                p->files = 0;
        }
}

void progress_finish(Progress *p) {
        struct timespec now;

        if (p->quiet)
                return;
        clock_gettime(CLOCK_MONOTONIC, &now);
        draw(p, &now, true);
}

void progress_archive_cb(uint64_t bytes, uint64_t files, void *userdata) {
        progress_update(userdata, bytes, files);
}
