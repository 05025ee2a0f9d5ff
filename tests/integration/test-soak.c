/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-soak.c: 1000 backup cycles with three writers leave vssd where they found it.
 *
 * Each cycle is a whole component-mode FULL backup on a new requester connection
 * (InitializeForBackup → GatherWriterMetadata → AddComponent → StartSnapshotSet →
 * AddToSnapshotSet → PrepareForBackup → DoSnapshotSet → BackupComplete → release), with the
 * test-copy provider and three vss-test-writer processes, one per application level. Every
 * SAMPLE_EVERY cycles the test samples vssd's open descriptors (/proc/PID/fd), its resident
 * memory (VmRSS) and the size of its catalog (catalog.db and its journal files). After the
 * first sample (caches warm) every later one must stay within a small bound of it: a leak of
 * one descriptor per cycle, or of a few kilobytes of memory or catalog per cycle, fails.
 *
 * VSS_SOAK_CYCLES overrides the number of cycles (for a longer run by hand).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "macro.h"

#define DEFAULT_CYCLES 1000U
#define SAMPLE_EVERY 100U
/* Growth allowed after the first sample, over the remaining cycles. */
#define FD_SLACK 2U
#define RSS_SLACK_KB 2048UL
#define CATALOG_SLACK_BYTES (128UL * 1024UL)

typedef struct Sample {
        unsigned cycle;
        unsigned fds;
        unsigned long rss_kb;
        unsigned long catalog_bytes;
} Sample;

static unsigned count_fds(pid_t pid) {
        char path[64];
        unsigned n = 0;
        struct dirent *de;
        DIR *d;

        snprintf(path, sizeof path, "/proc/%d/fd", (int) pid);
        d = opendir(path);
        assert_non_null(d);
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}

static unsigned long rss_kb(pid_t pid) {
        char path[64], line[256];
        unsigned long kb = 0;
        FILE *f;

        snprintf(path, sizeof path, "/proc/%d/status", (int) pid);
        f = fopen(path, "re");
        assert_non_null(f);
        while (fgets(line, sizeof line, f))
                if (sscanf(line, "VmRSS: %lu kB", &kb) == 1)
                        break;
        fclose(f);
        return kb;
}

/* catalog.db plus its -wal and -journal files, when present. */
static unsigned long catalog_bytes(const Harness *h) {
        static const char *const suffixes[] = { "", "-wal", "-journal", "-shm" };
        unsigned long total = 0;

        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
                char path[4096];
                struct stat st;

                snprintf(path, sizeof path, "%s/catalog.db%s", h->state_dir, suffixes[i]);
                if (stat(path, &st) == 0)
                        total += (unsigned long) st.st_size;
        }
        return total;
}

static double now_s(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_soak(void **state) {
        const char *levels[] = { "front", "back", "system" };
        const char *env = getenv("VSS_SOAK_CYCLES");
        unsigned cycles = env ? (unsigned) strtoul(env, NULL, 10) : DEFAULT_CYCLES;
        _cleanup_free_ char *volume = NULL;
        Sample samples[64];
        size_t n_samples = 0;
        double t0;
        Harness *h;

        assert_true(cycles >= 2 * SAMPLE_EVERY && cycles / SAMPLE_EVERY <= ELEMENTSOF(samples));
        assert_ok0(harness_new(NULL, &h));
        assert_ok0(harness_make_volume(h, "vol", &volume));
        for (size_t i = 0; i < ELEMENTSOF(levels); i++) {
                const char *args[] = { "--level", levels[i], NULL };
                char name[32];
                TestWriter *w;

                snprintf(name, sizeof name, "soak-%s", levels[i]);
                assert_ok0(harness_add_writer(h, name, args, &w));
        }

        t0 = now_s();
        for (unsigned c = 1; c <= cycles; c++) {
                BackupRun run = {};
                vss_requester *r = requester_new_checked();

                assert_non_null(r);
                assert_hr(backup_run_steps(r, volume, STEP_INITIALIZE, STEP_BACKUP_COMPLETE, &run), S_OK);
                assert_int_equal(run.n_writers, ELEMENTSOF(levels));
                vss_requester_release(r);

                if (c % SAMPLE_EVERY == 0) {
                        Sample *s = &samples[n_samples++];

                        /* The release is asynchronous (BackupShutdown, auto-release deletion):
                         * let it finish, so every sample sees the same idle state. */
                        (void) usleep(100 * 1000);
                        *s = (Sample) { .cycle = c, .fds = count_fds(h->vssd_pid), .rss_kb = rss_kb(h->vssd_pid),
                                        .catalog_bytes = catalog_bytes(h) };
                        print_message("cycle %4u: %u fds, VmRSS %lu kB, catalog %lu bytes, %.1f s\n", s->cycle,
                                      s->fds, s->rss_kb, s->catalog_bytes, now_s() - t0);
                }
        }
        print_message("%u cycles in %.1f s\n", cycles, now_s() - t0);

        for (size_t i = 1; i < n_samples; i++) {
                assert_true(samples[i].fds <= samples[0].fds + FD_SLACK);
                assert_rss_bound(samples[i].rss_kb <= samples[0].rss_kb + RSS_SLACK_KB);
                assert_true(samples[i].catalog_bytes <= samples[0].catalog_bytes + CATALOG_SLACK_BYTES);
        }
        assert_true(harness_vssd_alive(h));
        harness_free(h);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_soak),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
