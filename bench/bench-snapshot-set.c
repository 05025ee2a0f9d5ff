/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-snapshot-set: what a whole DoSnapshotSet costs on btrfs, against the physical floor.
 *
 * One run of this program sets up a loop-mounted btrfs with a subvolume of small files,
 * starts vssd (real btrfs provider) and measures, in the same run and on the same volume:
 *   - the raw libbtrfsutil btrfs_util_create_snapshot(READ_ONLY) call: the baseline, what any
 *     btrfs snapshot tool pays at least;
 *   - DoSnapshotSet from the call to the async finishing (PrepareForSnapshot, provider
 *     end-prepare, Freeze, commit, Thaw, PostSnapshot) with 0, 1, 10 and 100 writer
 *     processes, each run a fresh requester instance doing the full good path, so the
 *     auto-release snapshot is deleted on release before the next run;
 *   - the longest time any writer stayed frozen (writers log each Freeze→Thaw).
 * The filesystem is synced before every measured call, so each starts from a clean volume.
 * It prints the command line, the kernel and a markdown table with ratios to the baseline.
 *
 * Usage: bench_snapshot_set [--runs N] [--writers N,N,...] [--files N]
 *                           [--vssd PATH] [--writer PATH] [--verbose]
 * (--verbose keeps vssd's log on stderr.)
 * Needs root. Build and run: ninja -C build bench/bench_snapshot_set && sudo ./build/bench/bench_snapshot_set
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <btrfsutil.h>

#include "macro.h"
#include "root-harness.h"
#include "vss/vss.h"

#define IMAGE_SIZE (UINT64_C(2) << 30)
#define MAX_CASES 8
#define MAX_WRITERS 1000
#define MAX_RUNS 1000
#define WARMUP_RUNS 2
#define WAIT_MS 30000u

typedef struct Options {
        unsigned runs;
        unsigned files;
        unsigned writer_counts[MAX_CASES];
        unsigned n_cases;
        const char *vssd;
        const char *writer;
        bool verbose;
} Options;

typedef struct Bench {
        const Options *opts;
        LoopBtrfs fs;
        char *subvol;
        char *socket;
        char *state_dir;
        pid_t vssd;
} Bench;

/* One row of the table. */
typedef struct Row {
        char label[96];
        double samples_ms[MAX_RUNS];
        unsigned n;
        double max_freeze_ms; /* < 0: not applicable */
        char error[160];      /* non-empty when the case could not be measured */
} Row;

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array. */
static double percentile(const double *sorted, unsigned n, unsigned pct) {
        unsigned rank = (pct * n + 99) / 100;

        return sorted[rank == 0 ? 0 : rank - 1];
}

static double median(const double *sorted, unsigned n) {
        return n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

static double elapsed_ms(uint64_t t0, uint64_t t1) {
        return (double) (t1 - t0) / 1e3;
}

/* ------------------------------------------------------------------------------------------ */
/* Volume and daemon                                                                          */
/* ------------------------------------------------------------------------------------------ */

/* files small files in 100-file directories, like a tree of configuration or source. */
static int populate(const char *subvol, unsigned files) {
        char path[4096], content[160];

        for (unsigned i = 0; i < files; i++) {
                _cleanup_close_ int fd = -EBADF;
                int n;

                if (i % 100 == 0) {
                        (void) snprintf(path, sizeof(path), "%s/d%04u", subvol, i / 100);
                        if (mkdir(path, 0755) < 0)
                                return -errno;
                }
                (void) snprintf(path, sizeof(path), "%s/d%04u/f%06u", subvol, i / 100, i);
                fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
                if (fd < 0)
                        return -errno;
                n = snprintf(content, sizeof(content), "file %u: %.*s\n", i, (int) (40 + i % 80),
                             "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghij");
                if (write(fd, content, (size_t) n) != n)
                        return errno > 0 ? -errno : -EIO;
        }
        sync();
        return 0;
}

static int bench_setup(Bench *b) {
        int r;

        r = loop_btrfs_setup("/var/tmp/vss-bench-XXXXXX", IMAGE_SIZE, &b->fs);
        if (r < 0)
                return r;
        if (asprintf(&b->subvol, "%s/vol", b->fs.mnt) < 0 || asprintf(&b->socket, "%s/vssd.sock", b->fs.dir) < 0 ||
            asprintf(&b->state_dir, "%s/state", b->fs.dir) < 0)
                return -ENOMEM;
        if (btrfs_util_create_subvolume(b->subvol, 0, NULL, NULL) != BTRFS_UTIL_OK)
                return -EIO;
        if (mkdir(b->state_dir, 0700) < 0)
                return -errno;
        r = populate(b->subvol, b->opts->files);
        if (r < 0)
                return r;

        /* vssd logs every step; that would bury the table unless asked for. */
        r = process_spawn_flags((char *const[]) { (char *) b->opts->vssd, (char *) "--socket", b->socket,
                                                  (char *) "--state-dir", b->state_dir,
                                                  (char *) "--event-timeout", (char *) "30000", NULL },
                                b->opts->verbose ? 0 : SPAWN_NULL_STDOUT | SPAWN_NULL_STDERR, &b->vssd);
        if (r < 0)
                return r;
        r = unix_socket_wait(b->socket, b->vssd, WAIT_MS);
        if (r == -ESRCH)
                b->vssd = 0; /* already reaped */
        return r;
}

static void bench_teardown(Bench *b) {
        (void) process_stop(b->vssd, 5000);
        (void) loop_btrfs_teardown(&b->fs);
        free(b->subvol);
        free(b->socket);
        free(b->state_dir);
}

/* ------------------------------------------------------------------------------------------ */
/* Writers                                                                                    */
/* ------------------------------------------------------------------------------------------ */

typedef struct Writers {
        pid_t pids[MAX_WRITERS];
        unsigned n;
        char *log_prefix;
} Writers;

static int writers_start(const Bench *b, unsigned n, Writers *w) {
        int r;

        w->n = 0;
        if (asprintf(&w->log_prefix, "%s/freeze-%u", b->fs.dir, n) < 0)
                return -ENOMEM;

        for (unsigned i = 0; i < n; i++) {
                char log[4096], name[64], line[64];
                int out = -EBADF;

                (void) snprintf(log, sizeof(log), "%s-%u.log", w->log_prefix, i);
                (void) snprintf(name, sizeof(name), "bench-%u-%u", n, i);
                r = process_spawn((char *const[]) { (char *) b->opts->writer, (char *) "--socket", b->socket,
                                                    (char *) "--no-write", (char *) "--freeze-log", log,
                                                    (char *) "--name", name, NULL },
                                  &w->pids[i], &out);
                if (r < 0)
                        return r;
                w->n++;
                r = read_line_timeout(out, line, sizeof(line), WAIT_MS);
                (void) close(out);
                if (r < 0)
                        return r;
                if (!streq(line, "READY"))
                        return -EPROTO;
        }
        return 0;
}

/* Stops the writers; returns the longest Freeze→Thaw any of them logged, in ms. */
static double writers_stop(Writers *w) {
        uint64_t max_us = 0;

        for (unsigned i = 0; i < w->n; i++) {
                _cleanup_free_ char *text = NULL;
                char log[4096];

                (void) process_stop(w->pids[i], 5000);
                (void) snprintf(log, sizeof(log), "%s-%u.log", w->log_prefix, i);
                if (read_file_full(log, &text, NULL) < 0)
                        continue;
                for (char *p = text; *p; ) {
                        char *end;
                        uint64_t v = strtoull(p, &end, 10);

                        if (end == p)
                                break;
                        max_us = MAX(max_us, v);
                        p = end + (*end == '\n');
                }
        }
        w->n = 0;
        free(w->log_prefix);
        w->log_prefix = NULL;
        return (double) max_us / 1e3;
}

/* ------------------------------------------------------------------------------------------ */
/* One backup                                                                                 */
/* ------------------------------------------------------------------------------------------ */

static vss_hr async_finish(vss_hr hr, vss_async *a) {
        vss_hr result = hr;

        if (VSS_SUCCEEDED(hr)) {
                hr = vss_async_wait(a, VSS_INFINITE);
                if (hr == S_OK)
                        hr = vss_async_query_status(a, &result);
                if (VSS_FAILED(hr))
                        result = hr;
                else if (result == VSS_S_ASYNC_FINISHED)
                        result = S_OK;
        }
        vss_async_release(a);
        return result;
}
/* The call must be sequenced before _a is read: function arguments have no order in C. */
#define ASYNC(call, r) ({ vss_async *_a = NULL; vss_hr _hr = call((r), &_a); async_finish(_hr, _a); })

/* Selects every component of every writer (select = true) or marks each one backed up. */
static vss_hr components_walk(vss_requester *r, bool select) {
        unsigned n = 0;
        vss_hr hr;

        hr = vss_requester_get_writer_metadata_count(r, &n);
        for (unsigned i = 0; VSS_SUCCEEDED(hr) && i < n; i++) {
                vss_examine_writer_metadata *m;
                unsigned nincl, nexcl, ncomp = 0;
                vss_id inst, wid;

                hr = vss_requester_get_writer_metadata(r, i, &inst, &m);
                if (VSS_SUCCEEDED(hr))
                        hr = vss_examine_writer_metadata_get_identity(m, &inst, &wid, NULL, NULL, NULL, NULL);
                if (VSS_SUCCEEDED(hr))
                        hr = vss_examine_writer_metadata_get_file_counts(m, &nincl, &nexcl, &ncomp);
                for (unsigned c = 0; VSS_SUCCEEDED(hr) && c < ncomp; c++) {
                        vss_wm_component *comp;
                        vss_component_info info;

                        hr = vss_examine_writer_metadata_get_component(m, c, &comp);
                        if (VSS_SUCCEEDED(hr))
                                hr = vss_wm_component_get_info(comp, &info);
                        if (VSS_FAILED(hr))
                                break;
                        hr = select ? vss_requester_add_component(r, &inst, &wid, info.type, info.logical_path,
                                                                  info.component_name)
                                    : vss_requester_set_backup_succeeded(r, &inst, &wid, info.type,
                                                                         info.logical_path, info.component_name,
                                                                         true);
                }
        }
        return hr;
}

/*
 * The whole good path with a fresh requester; *ret_ms is DoSnapshotSet from the call to the
 * async finishing. Waits for the auto-release snapshot to be deleted after the release.
 * On failure, *ret_step names the step.
 */
static vss_hr backup_once(const Bench *b, double *ret_ms, const char **ret_step) {
        vss_requester_options opts = VSS_REQUESTER_OPTIONS_INIT;
        vss_snapshot_prop prop = {};
        vss_requester *r = NULL;
        vss_async *a = NULL;
        vss_id set_id, snap_id;
        const char *step;
        uint64_t t0, t1;
        vss_hr hr, result = E_FAIL;

        opts.socket_path = b->socket;
        step = "CreateVssBackupComponents";
        hr = vss_requester_new(&r, &opts);
        if (VSS_FAILED(hr))
                goto finish;

#define STEP(name, call) do { step = (name); hr = (call); if (VSS_FAILED(hr)) goto finish; } while (0)
        STEP("InitializeForBackup", vss_requester_initialize_for_backup(r, NULL));
        STEP("SetContext", vss_requester_set_context(r, VSS_CTX_BACKUP));
        STEP("SetBackupState", vss_requester_set_backup_state(r, true, false, VSS_BT_FULL, false));
        STEP("GatherWriterMetadata", ASYNC(vss_requester_gather_writer_metadata, r));
        STEP("AddComponent", components_walk(r, true));
        STEP("StartSnapshotSet", vss_requester_start_snapshot_set(r, &set_id));
        STEP("AddToSnapshotSet", vss_requester_add_to_snapshot_set(r, b->subvol, NULL, &snap_id));
        STEP("PrepareForBackup", ASYNC(vss_requester_prepare_for_backup, r));

        sync();
        step = "DoSnapshotSet";
        t0 = now_usec();
        hr = vss_requester_do_snapshot_set(r, &a);
        if (VSS_SUCCEEDED(hr))
                hr = vss_async_wait(a, VSS_INFINITE);
        t1 = now_usec();
        if (VSS_SUCCEEDED(hr))
                hr = vss_async_query_status(a, &result);
        vss_async_release(a);
        if (VSS_SUCCEEDED(hr) && result != VSS_S_ASYNC_FINISHED)
                hr = VSS_FAILED(result) ? result : E_UNEXPECTED;
        if (VSS_FAILED(hr))
                goto finish;

        STEP("GetSnapshotProperties", vss_requester_get_snapshot_properties(r, &snap_id, &prop));
        STEP("SetBackupSucceeded", components_walk(r, false));
        STEP("BackupComplete", ASYNC(vss_requester_backup_complete, r));
        STEP("GatherWriterStatus", ASYNC(vss_requester_gather_writer_status, r));
#undef STEP
        *ret_ms = elapsed_ms(t0, t1);
        hr = S_OK;

finish:
        if (VSS_FAILED(hr)) {
                fprintf(stderr, "bench: %s: %s: %s\n", step, vss_hr_name(hr),
                        r ? vss_requester_get_error_message(r) : "");
                *ret_step = step;
        }
        vss_requester_release(r);
        if (prop.snapshot_device_object && path_wait_gone(prop.snapshot_device_object, WAIT_MS) < 0) {
                fprintf(stderr, "bench: auto-release snapshot %s not deleted\n", prop.snapshot_device_object);
                *ret_step = "auto-release deletion";
                hr = VSS_FAILED(hr) ? hr : E_UNEXPECTED;
        }
        vss_snapshot_prop_free(&prop);
        return hr;
}

/* ------------------------------------------------------------------------------------------ */
/* Cases                                                                                      */
/* ------------------------------------------------------------------------------------------ */

static void measure_raw(const Bench *b, Row *row) {
        char dest[4096];

        (void) snprintf(row->label, sizeof(row->label), "raw `btrfs_util_create_snapshot(READ_ONLY)` (baseline)");
        row->max_freeze_ms = -1;
        (void) snprintf(dest, sizeof(dest), "%s/raw-snapshot", b->fs.mnt);

        for (unsigned i = 0; i < WARMUP_RUNS + b->opts->runs; i++) {
                enum btrfs_util_error e;
                uint64_t t0, t1;

                sync();
                t0 = now_usec();
                e = btrfs_util_create_snapshot(b->subvol, dest, BTRFS_UTIL_CREATE_SNAPSHOT_READ_ONLY, NULL, NULL);
                t1 = now_usec();
                if (e != BTRFS_UTIL_OK) {
                        (void) snprintf(row->error, sizeof(row->error), "create snapshot: %s",
                                        btrfs_util_strerror(e));
                        return;
                }
                if (i >= WARMUP_RUNS)
                        row->samples_ms[row->n++] = elapsed_ms(t0, t1);
                e = btrfs_util_delete_subvolume(dest, 0);
                if (e != BTRFS_UTIL_OK) {
                        (void) snprintf(row->error, sizeof(row->error), "delete snapshot: %s",
                                        btrfs_util_strerror(e));
                        return;
                }
        }
}

static void measure_vss(const Bench *b, unsigned writers, Row *row) {
        Writers w = {};
        int r;

        (void) snprintf(row->label, sizeof(row->label), "DoSnapshotSet, %u writer%s", writers,
                        writers == 1 ? "" : "s");
        row->max_freeze_ms = -1;

        r = writers_start(b, writers, &w);
        if (r < 0) {
                (void) snprintf(row->error, sizeof(row->error), "starting writer %u failed: %s", w.n,
                                strerror(-r));
                (void) writers_stop(&w);
                return;
        }

        for (unsigned i = 0; i < WARMUP_RUNS + b->opts->runs; i++) {
                const char *step = "?";
                double ms = 0;
                vss_hr hr;

                hr = backup_once(b, &ms, &step);
                if (VSS_FAILED(hr)) {
                        (void) snprintf(row->error, sizeof(row->error), "%s failed: %s", step, vss_hr_name(hr));
                        break;
                }
                if (i >= WARMUP_RUNS)
                        row->samples_ms[row->n++] = ms;
        }

        row->max_freeze_ms = writers > 0 ? writers_stop(&w) : -1;
}

static void print_table(const Row *rows, unsigned n) {
        double raw_median = 0;

        printf("| case | runs | median ms | p10–p90 ms | min–max ms | ratio to raw | longest writer freeze ms |\n");
        printf("|---|---|---|---|---|---|---|\n");
        for (unsigned i = 0; i < n; i++) {
                double sorted[MAX_RUNS], med;
                char freeze[32] = "–", ratio[32];

                if (rows[i].error[0] || rows[i].n == 0) {
                        printf("| %s | 0 | – | – | – | – | %s |\n", rows[i].label,
                               rows[i].error[0] ? rows[i].error : "no samples");
                        continue;
                }
                memcpy(sorted, rows[i].samples_ms, rows[i].n * sizeof(double));
                qsort(sorted, rows[i].n, sizeof(double), cmp_double);
                med = median(sorted, rows[i].n);
                if (i == 0)
                        raw_median = med;
                if (raw_median > 0)
                        (void) snprintf(ratio, sizeof(ratio), "%.1f×", med / raw_median);
                else
                        (void) snprintf(ratio, sizeof(ratio), "–");
                if (rows[i].max_freeze_ms >= 0)
                        (void) snprintf(freeze, sizeof(freeze), "%.1f", rows[i].max_freeze_ms);
                printf("| %s | %u | %.1f | %.1f–%.1f | %.1f–%.1f | %s | %s |\n", rows[i].label, rows[i].n, med,
                       percentile(sorted, rows[i].n, 10), percentile(sorted, rows[i].n, 90), sorted[0],
                       sorted[rows[i].n - 1], ratio, freeze);
        }
}

/* ------------------------------------------------------------------------------------------ */
/* Main                                                                                       */
/* ------------------------------------------------------------------------------------------ */

static int parse_writer_counts(const char *s, Options *o) {
        o->n_cases = 0;
        while (*s) {
                char *end;
                unsigned long v = strtoul(s, &end, 10);

                if (end == s || v > MAX_WRITERS || o->n_cases >= MAX_CASES)
                        return -EINVAL;
                o->writer_counts[o->n_cases++] = (unsigned) v;
                s = *end == ',' ? end + 1 : end;
                if (*end && *end != ',')
                        return -EINVAL;
        }
        return o->n_cases > 0 ? 0 : -EINVAL;
}

static int parse_args(int argc, char **argv, Options *o) {
        static const struct option options[] = {
                { "runs", required_argument, NULL, 'r' },
                { "writers", required_argument, NULL, 'w' },
                { "files", required_argument, NULL, 'f' },
                { "vssd", required_argument, NULL, 'V' },
                { "writer", required_argument, NULL, 'W' },
                { "verbose", no_argument, NULL, 'v' },
                {}
        };
        int c;

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 'r':
                        o->runs = (unsigned) strtoul(optarg, NULL, 10);
                        if (o->runs == 0 || o->runs + WARMUP_RUNS > MAX_RUNS)
                                return -EINVAL;
                        break;
                case 'w':
                        if (parse_writer_counts(optarg, o) < 0)
                                return -EINVAL;
                        break;
                case 'f':
                        o->files = (unsigned) strtoul(optarg, NULL, 10);
                        break;
                case 'V':
                        o->vssd = optarg;
                        break;
                case 'W':
                        o->writer = optarg;
                        break;
                case 'v':
                        o->verbose = true;
                        break;
                default:
                        return -EINVAL;
                }
        return optind == argc ? 0 : -EINVAL;
}

int main(int argc, char **argv) {
        Options o = {
                .runs = 15,
                .files = 10000,
                .writer_counts = { 0, 1, 10, 100 },
                .n_cases = 4,
                .vssd = getenv("VSSD") ?: BENCH_VSSD_PATH,
                .writer = getenv("CONSISTENCY_WRITER") ?: BENCH_WRITER_PATH,
        };
        Bench b = { .opts = &o, .fs.loop_fd = -EBADF };
        Row *rows;
        struct utsname u;
        unsigned n_rows = 0;
        int r;

        if (parse_args(argc, argv, &o) < 0) {
                fprintf(stderr, "Usage: %s [--runs N] [--writers N,N,...] [--files N] [--vssd PATH] [--writer PATH] [--verbose]\n",
                        argv[0]);
                return EXIT_FAILURE;
        }
        if (geteuid() != 0) {
                fprintf(stderr, "%s needs root (loop devices, mount)\n", argv[0]);
                return EXIT_FAILURE;
        }
        (void) signal(SIGPIPE, SIG_IGN);

        rows = calloc(1 + o.n_cases, sizeof(Row));
        if (!rows)
                return EXIT_FAILURE;

        r = bench_setup(&b);
        if (r < 0) {
                fprintf(stderr, "bench: setup failed: %s\n", strerror(-r));
                bench_teardown(&b);
                free(rows);
                return EXIT_FAILURE;
        }

        measure_raw(&b, &rows[n_rows++]);
        for (unsigned i = 0; i < o.n_cases; i++)
                measure_vss(&b, o.writer_counts[i], &rows[n_rows++]);

        bench_teardown(&b);

        printf("Command: ");
        for (int i = 0; i < argc; i++)
                printf("%s%s", i ? " " : "", argv[i]);
        printf("\n");
        if (uname(&u) == 0)
                printf("Kernel: %s %s %s, %ld CPUs\n", u.sysname, u.release, u.machine, sysconf(_SC_NPROCESSORS_ONLN));
        printf("Volume: loop-mounted btrfs (%" PRIu64 " MiB sparse image), one subvolume, %u small files; "
               "%u measured runs per case after %u warm-up runs; fs synced before each measured call\n\n",
               IMAGE_SIZE >> 20, o.files, o.runs, WARMUP_RUNS);
        print_table(rows, n_rows);

        for (unsigned i = 0; i < n_rows; i++)
                if (rows[i].error[0])
                        r = -EIO;
        free(rows);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
