/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-archive: time archive_writer_* over the regular files of one directory, to set the
 * backup copy throughput against a plain sequential read of the same data (run by hand; the
 * figures go to docs/benchmarks.md). Usage: bench-archive SRCDIR OUTDIR [LEVEL [THREADS]]
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backup-archive.h"

static double now(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
        ArchiveWriterOptions opts = {};
        ArchiveWriter *w = NULL;
        uint64_t bytes = 0, files = 0;
        struct dirent *de;
        double t0, t1;
        DIR *d;
        int src, out, r;

        if (argc < 3) {
                fprintf(stderr, "usage: %s SRCDIR OUTDIR [LEVEL [THREADS]]\n", argv[0]);
                return 2;
        }
        opts.compression_level = argc > 3 ? atoi(argv[3]) : 0;
        opts.threads = argc > 4 ? (unsigned) atoi(argv[4]) : 0;

        src = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        out = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (src < 0 || out < 0) {
                perror("open");
                return 1;
        }
        (void) unlinkat(out, "bench.tar.zst", 0);

        t0 = now();
        r = archive_writer_open_full(out, "bench.tar.zst", &opts, &w);
        if (r < 0) {
                fprintf(stderr, "open: %s\n", strerror(-r));
                return 1;
        }
        d = fdopendir(dup(src));
        while ((de = readdir(d))) {
                if (de->d_type != DT_REG)
                        continue;
                r = archive_writer_add_file(w, src, de->d_name, de->d_name, NULL);
                if (r < 0) {
                        fprintf(stderr, "%s: %s\n", de->d_name, strerror(-r));
                        return 1;
                }
        }
        closedir(d);
        r = archive_writer_close(w);
        if (r < 0) {
                fprintf(stderr, "close: %s\n", strerror(-r));
                return 1;
        }
        t1 = now();
        archive_writer_get_totals(w, &bytes, &files);
        archive_writer_free(w);

        printf("%" PRIu64 " files, %.1f MiB in %.3f s: %.0f MiB/s (level %d, threads %u)\n", files,
               (double) bytes / 1048576.0, t1 - t0, (double) bytes / 1048576.0 / (t1 - t0),
               opts.compression_level ? opts.compression_level : 3, opts.threads);
        return 0;
}
