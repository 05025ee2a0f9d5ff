/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-snapshot-set: what a whole DoSnapshotSet costs, per provider, against the physical
 * floor that provider builds on, measured in one run on the same volumes.
 *
 * One run sets up, under one /var/tmp/vss-bench-XXXXXX directory:
 *   - a loop-mounted btrfs with a subvolume of small files (and later one of many more);
 *   - a loop-mounted XFS host (reflink) holding an ext4 image and an XFS image, each
 *     loop-mounted and filled with small files: the image provider's volumes;
 * starts vssd (real providers, the real vss-guardian through VSS_GUARDIAN) and prints five
 * markdown tables:
 *   A. btrfs: raw libbtrfsutil btrfs_util_create_snapshot(READ_ONLY) against DoSnapshotSet
 *      with 0, 1, 10 and 100 writer processes, and the longest time any writer stayed frozen;
 *   B. image provider: raw FIFREEZE + FICLONE + FITHAW done by this process on the ext4 volume
 *      (cold and warm, see measure_image_raw) against DoSnapshotSet on it with the same writer
 *      counts; then both volumes (ext4 + XFS) in one set against raw freeze both + clone both +
 *      thaw both; with the longest writer freeze and the guardian hold vssd logs per commit;
 *   C. btrfs snapshot latency, raw and DoSnapshotSet with 0 writers, on the subvolume with
 *      the small tree against one with many more files (created once per run by a C loop);
 *   D. whole processes, as an administrator runs them: `btrfs subvolume snapshot -r` (the CLI,
 *      fork + exec to exit) against `vshadow -nw` of the same subvolume (create, then the
 *      auto-release delete as the tool exits) and `snapper create` of it through a snapperd
 *      on a private system bus the bench starts and stops (SnapperBus), round robin;
 *   E. the writers' Freeze and Thaw rounds of table A's DoSnapshotSet against the kernel's
 *      floor under two rounds to as many processes, measured in between (fanout.h).
 * DoSnapshotSet rows also give the providers' commit time vssd logs for each set, the
 * DoSnapshotSet time minus that commit (the coordination's own cost) and, with writers, how
 * much longer than that commit the longest writer freeze of the same run lasted.
 * DoSnapshotSet is timed from the call to the async finishing (PrepareForSnapshot, provider
 * end-prepare, Freeze, commit, Thaw, PostSnapshot); every run is a fresh requester doing the
 * whole good path, and the program waits until the auto-release snapshot is gone after each
 * release. Before each measured call, raw and VSS alike, every benchmark filesystem is
 * flushed (syncfs) and left at rest for --idle-ms (bench_settle). Table A runs the raw ioctl
 * and DoSnapshotSet without writers round robin, table C its four cases.
 * Each row: median, p10–p90, min–max over the runs and its ratio to the baseline row it names.
 *
 * Usage: bench_snapshot_set [--runs N] [--writers N,N,...] [--files N] [--big-files N] [--idle-ms N]
 *                           [--vssd PATH] [--writer PATH] [--guardian PATH] [--vshadow PATH]
 *                           [--tables ABCDE] [--verbose]
 * (--tables picks tables, --big-files 0 leaves C out; --verbose copies vssd's log to stderr
 * at the end.)
 * Needs root (exits 77 otherwise).
 * Build and run: ninja -C build bench/bench_snapshot_set && sudo ./build/bench/bench_snapshot_set
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <dirent.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <btrfsutil.h>

#include "async-wait.h"
#include "bench-util.h"
#include "fanout.h"
#include "macro.h"
#include "root-harness.h"
#include "vss/vss.h"

#define BTRFS_IMAGE_SIZE (UINT64_C(4) << 30)   /* sparse; 200k files need room for metadata */
#define HOST_IMAGE_SIZE (UINT64_C(4) << 30)    /* sparse XFS holding both volume images */
#define VOLUME_IMAGE_SIZE (UINT64_C(1) << 30)  /* each image-provider volume */
#define MAX_CASES 8
#define MAX_WRITERS 1000
#define MAX_RUNS 1000
#define MAX_ROWS 32  /* table E: 4 rows per writer count */
#define MAX_VOLUMES 2
#define WARMUP_RUNS 3
#define WAIT_MS 30000u
#define HOLD_MARKER "volume(s) frozen for "  /* provider-image.c logs "held N volume(s) frozen for X ms" */
#define COMMIT_MARKER "committed the snapshot set in "  /* backup.c, after post-commit */

typedef struct Options {
        unsigned runs;
        unsigned files;
        unsigned big_files;
        unsigned idle_ms;    /* the benchmark's volumes rest this long before each measured call */
        unsigned writer_counts[MAX_CASES];
        unsigned n_cases;
        const char *vssd;
        const char *writer;
        const char *guardian;
        const char *vshadow;
        const char *tables;  /* which tables to make: letters of "ABCDE" */
        bool verbose;
} Options;

typedef struct Bench {
        const Options *opts;
        LoopBtrfs fs;
        char *subvol;        /* <btrfs>/vol: opts->files small files */
        char *big_subvol;    /* <btrfs>/big: opts->big_files small files (table C) */
        BenchFs host;        /* XFS holding the images */
        BenchFs ext4;        /* <host>/ext4.img mounted at <dir>/ext4 */
        BenchFs xfs;         /* <host>/xfs.img mounted at <dir>/xfs */
        char image_error[160]; /* non-empty: the image volumes could not be made */
        char *socket;
        char *state_dir;
        char *vssd_log;
        size_t log_offset;   /* how far the vssd log has been read for holds */
        size_t commit_offset; /* ... and for commit times */
        pid_t vssd;
} Bench;

/* One row of a table. */
typedef struct Row {
        char id[8];
        char label[128];
        double samples_ms[MAX_RUNS];
        unsigned n;
        double hold_ms[MAX_RUNS];  /* the guardian hold vssd logged for each measured run */
        unsigned n_hold;
        double max_freeze_ms;      /* < 0: not applicable */
        double commit_ms[MAX_RUNS]; /* the providers' commit vssd logged for each measured run */
        unsigned n_commit;
        double excess_ms[MAX_RUNS]; /* per measured run: longest writer freeze minus that commit */
        unsigned n_excess;
        double overhead_ms[MAX_RUNS]; /* per measured run: DoSnapshotSet minus that commit */
        unsigned n_overhead;
        bool hold_is_time;         /* raw freeze+clone+thaw: the time is the hold */
        int base[2];               /* rows of the same table the ratios are against; -1: none */
        char error[160];           /* non-empty when the case could not be measured */
        bool not_applicable;       /* error says what is not installed here: not a failure */
} Row;

typedef struct Table {
        char letter;         /* row ids are letter + number: "B3" */
        const char *title;
        char caption[1024];
        bool show_hold;
        bool show_commit;
        Row rows[MAX_ROWS];
        unsigned n;
} Table;

static Table tables[5];

static double elapsed_ms(uint64_t t0, uint64_t t1) {
        return (double) (t1 - t0) / 1e3;
}

/* Appends a row; tables hold at most 4 × MAX_CASES rows (table E), MAX_ROWS by construction. */
_printf_(4, 5) static Row *row_add(Table *t, int base0, int base1, const char *fmt, ...) {
        Row *row = &t->rows[t->n];
        va_list ap;

        row->max_freeze_ms = -1;
        row->base[0] = base0;
        row->base[1] = base1;
        (void) snprintf(row->id, sizeof(row->id), "%c%u", t->letter, t->n + 1);
        va_start(ap, fmt);
        (void) vsnprintf(row->label, sizeof(row->label), fmt, ap);
        va_end(ap);
        t->n++;
        return row;
}

/* ------------------------------------------------------------------------------------------ */
/* Volumes and daemon                                                                         */
/* ------------------------------------------------------------------------------------------ */

/* The XFS host and the two image-provider volumes in it; failure is reported in table B. */
static int image_volumes_setup(Bench *b) {
        /* No lazy inode-table init: ext4lazyinit writing in the background would be noise. */
        static const char *const ext4_args[] = { "-q", "-E", "lazy_itable_init=0,lazy_journal_init=0", NULL };
        static const char *const xfs_args[] = { "-q", NULL };
        static const char *const host_args[] = { "-q", "-m", "reflink=1", NULL };
        char image[4096], mnt[4096];
        int r;

        (void) snprintf(image, sizeof(image), "%s/host.img", b->fs.dir);
        (void) snprintf(mnt, sizeof(mnt), "%s/host", b->fs.dir);
        r = bench_fs_make(image, HOST_IMAGE_SIZE, "xfs", host_args, mnt, &b->host);
        if (r < 0)
                return r;

        (void) snprintf(image, sizeof(image), "%s/ext4.img", b->host.mnt);
        (void) snprintf(mnt, sizeof(mnt), "%s/ext4", b->fs.dir);
        r = bench_fs_make(image, VOLUME_IMAGE_SIZE, "ext4", ext4_args, mnt, &b->ext4);
        if (r < 0)
                return r;

        (void) snprintf(image, sizeof(image), "%s/xfs.img", b->host.mnt);
        (void) snprintf(mnt, sizeof(mnt), "%s/xfs", b->fs.dir);
        r = bench_fs_make(image, VOLUME_IMAGE_SIZE, "xfs", xfs_args, mnt, &b->xfs);
        if (r < 0)
                return r;

        r = populate_tree(b->ext4.mnt, b->opts->files);
        if (r < 0)
                return r;
        return populate_tree(b->xfs.mnt, b->opts->files);
}

static int bench_setup(Bench *b) {
        int r;

        r = loop_btrfs_setup("/var/tmp/vss-bench-XXXXXX", BTRFS_IMAGE_SIZE, &b->fs);
        if (r < 0)
                return r;
        if (asprintf(&b->subvol, "%s/vol", b->fs.mnt) < 0 || asprintf(&b->big_subvol, "%s/big", b->fs.mnt) < 0 ||
            asprintf(&b->socket, "%s/vssd.sock", b->fs.dir) < 0 ||
            asprintf(&b->state_dir, "%s/state", b->fs.dir) < 0 || asprintf(&b->vssd_log, "%s/vssd.log", b->fs.dir) < 0)
                return -ENOMEM;
        if (btrfs_util_create_subvolume(b->subvol, 0, NULL, NULL) != BTRFS_UTIL_OK)
                return -EIO;
        if (mkdir(b->state_dir, 0700) < 0)
                return -errno;
        r = populate_tree(b->subvol, b->opts->files);
        if (r < 0)
                return r;

        r = image_volumes_setup(b);
        if (r < 0)
                (void) snprintf(b->image_error, sizeof(b->image_error),
                                "image volumes could not be made (mkfs.xfs, mkfs.ext4?): %s", strerror(-r));

        /* vssd finds the guardian through VSS_GUARDIAN; its log (with the holds) goes to a file. */
        if (setenv("VSS_GUARDIAN", b->opts->guardian, 1) < 0)
                return -errno;
        r = spawn_logged((char *const[]) { (char *) b->opts->vssd, (char *) "--socket", b->socket,
                                           (char *) "--state-dir", b->state_dir,
                                           (char *) "--event-timeout", (char *) "30000", NULL },
                         b->vssd_log, &b->vssd);
        if (r < 0)
                return r;
        r = unix_socket_wait(b->socket, b->vssd, WAIT_MS);
        if (r == -ESRCH)
                b->vssd = 0; /* already reaped */
        return r;
}

static void bench_teardown(Bench *b) {
        if (b->opts->verbose && b->vssd_log) {
                _cleanup_free_ char *text = NULL;

                if (read_file_full(b->vssd_log, &text, NULL) >= 0)
                        fprintf(stderr, "---- vssd log ----\n%s---- end of vssd log ----\n", text);
        }
        (void) process_stop(b->vssd, 5000);
        /* Inner filesystems first: their images live in the host. */
        (void) bench_fs_destroy(&b->ext4);
        (void) bench_fs_destroy(&b->xfs);
        (void) bench_fs_destroy(&b->host);
        (void) loop_btrfs_teardown(&b->fs);
        free(b->subvol);
        free(b->big_subvol);
        free(b->socket);
        free(b->state_dir);
        free(b->vssd_log);
}

/*
 * Before each measured call: flush every filesystem of the benchmark (syncfs: other
 * filesystems' dirty data is not ours to wait for), then leave them idle for opts->idle_ms,
 * so each call starts from clean volumes at rest, like a backup on a quiet machine and not
 * like the tenth of a tight loop. The rest matters: FIFREEZE costs ~1 ms right after another
 * freeze of the same filesystem and 30–45 ms once it has been idle for 20 ms or more.
 */
static void bench_settle(const Bench *b) {
        unsigned ms = b->opts->idle_ms;

        (void) syncfs_path(b->fs.mounted ? b->fs.mnt : NULL);
        (void) syncfs_path(b->host.mounted ? b->host.mnt : NULL);
        (void) syncfs_path(b->ext4.mounted ? b->ext4.mnt : NULL);
        (void) syncfs_path(b->xfs.mounted ? b->xfs.mnt : NULL);
        (void) nanosleep(&(struct timespec) { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L }, NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* Writers                                                                                    */
/* ------------------------------------------------------------------------------------------ */

typedef struct Writers {
        pid_t pids[MAX_WRITERS];
        unsigned n;
        char *log_prefix;
} Writers;

static int writers_start(const Bench *b, const char *tag, unsigned n, Writers *w) {
        int r;

        w->n = 0;
        if (asprintf(&w->log_prefix, "%s/freeze-%s-%u", b->fs.dir, tag, n) < 0)
                return -ENOMEM;

        for (unsigned i = 0; i < n; i++) {
                char log[4096], name[64], line[64];
                int out = -EBADF;

                (void) snprintf(log, sizeof(log), "%s-%u.log", w->log_prefix, i);
                (void) snprintf(name, sizeof(name), "bench-%s-%u-%u", tag, n, i);
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

/*
 * Stops the writers; returns the longest Freeze→Thaw any of them logged, in ms. When run_max
 * is non-NULL, run_max[i] (i < n_runs, zeroed by the caller) becomes the longest freeze of the
 * i-th set: every writer logs one line per freeze, in order.
 */
static double writers_stop(Writers *w, double *run_max, unsigned n_runs) {
        uint64_t max_us = 0;

        for (unsigned i = 0; i < w->n; i++) {
                _cleanup_free_ char *text = NULL;
                char log[4096];

                (void) process_stop(w->pids[i], 5000);
                (void) snprintf(log, sizeof(log), "%s-%u.log", w->log_prefix, i);
                if (read_file_full(log, &text, NULL) < 0)
                        continue;
                unsigned line = 0;

                for (char *p = text; *p; line++) {
                        char *end;
                        uint64_t v = strtoull(p, &end, 10);

                        if (end == p)
                                break;
                        max_us = MAX(max_us, v);
                        if (run_max && line < n_runs)
                                run_max[line] = MAX(run_max[line], (double) v / 1e3);
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
 * The whole good path with a fresh requester over volumes[0..n); *ret_ms is DoSnapshotSet
 * from the call to the async finishing. Waits for the auto-release snapshots to be deleted
 * after the release. On failure, *ret_step names the step.
 */
static vss_hr backup_once(const Bench *b, char *const *volumes, unsigned n, double *ret_ms, const char **ret_step) {
        vss_requester_options opts = VSS_REQUESTER_OPTIONS_INIT;
        vss_snapshot_prop props[MAX_VOLUMES] = {};
        vss_id snap_ids[MAX_VOLUMES];
        vss_requester *r = NULL;
        vss_async *a = NULL;
        vss_id set_id;
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
        for (unsigned i = 0; i < n; i++)
                STEP("AddToSnapshotSet", vss_requester_add_to_snapshot_set(r, volumes[i], NULL, &snap_ids[i]));
        STEP("PrepareForBackup", ASYNC(vss_requester_prepare_for_backup, r));

        bench_settle(b);
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

        for (unsigned i = 0; i < n; i++)
                STEP("GetSnapshotProperties", vss_requester_get_snapshot_properties(r, &snap_ids[i], &props[i]));
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
        for (unsigned i = 0; i < n; i++) {
                const char *dev = props[i].snapshot_device_object;

                if (dev && path_wait_gone(dev, WAIT_MS) < 0) {
                        fprintf(stderr, "bench: auto-release snapshot %s not deleted\n", dev);
                        *ret_step = "auto-release deletion";
                        hr = VSS_FAILED(hr) ? hr : E_UNEXPECTED;
                }
                vss_snapshot_prop_free(&props[i]);
        }
        return hr;
}

/* ------------------------------------------------------------------------------------------ */
/* Cases                                                                                      */
/* ------------------------------------------------------------------------------------------ */

/* One raw snapshot (then deleted, untimed); the sample goes into row when record. */
static bool btrfs_raw_once(const Bench *b, const char *subvol, Row *row, bool record) {
        enum btrfs_util_error e;
        char dest[4096];
        uint64_t t0, t1;

        (void) snprintf(dest, sizeof(dest), "%s/raw-snapshot", b->fs.mnt);
        bench_settle(b);
        t0 = now_usec();
        e = btrfs_util_create_snapshot(subvol, dest, BTRFS_UTIL_CREATE_SNAPSHOT_READ_ONLY, NULL, NULL);
        t1 = now_usec();
        if (e != BTRFS_UTIL_OK) {
                (void) snprintf(row->error, sizeof(row->error), "create snapshot: %s", btrfs_util_strerror(e));
                return false;
        }
        if (record)
                row->samples_ms[row->n++] = elapsed_ms(t0, t1);
        e = btrfs_util_delete_subvolume(dest, 0);
        if (e != BTRFS_UTIL_OK) {
                (void) snprintf(row->error, sizeof(row->error), "delete snapshot: %s", btrfs_util_strerror(e));
                return false;
        }
        return true;
}

static void measure_btrfs_raw(const Bench *b, const char *subvol, Row *row) {
        for (unsigned i = 0; i < WARMUP_RUNS + b->opts->runs; i++)
                if (!btrfs_raw_once(b, subvol, row, i >= WARMUP_RUNS))
                        return;
}

/* The open files of one raw freeze+clone+thaw: made before the freeze, like the provider. */
typedef struct RawFiles {
        int mnt[MAX_VOLUMES];
        int src[MAX_VOLUMES];
        int dst[MAX_VOLUMES];
        char clone[MAX_VOLUMES][4096];
        unsigned n;
} RawFiles;

static void raw_files_close(RawFiles *f) {
        for (unsigned i = 0; i < f->n; i++) {
                if (f->mnt[i] >= 0)
                        (void) close(f->mnt[i]);
                if (f->src[i] >= 0)
                        (void) close(f->src[i]);
                if (f->dst[i] >= 0) {
                        (void) close(f->dst[i]);
                        (void) unlink(f->clone[i]);
                }
        }
        f->n = 0;
}

static int raw_files_open(const Bench *b, const BenchFs *const *vols, unsigned n, RawFiles *f) {
        for (unsigned i = 0; i < n; i++) {
                f->mnt[i] = f->src[i] = f->dst[i] = -EBADF;
                f->n = i + 1;
                (void) snprintf(f->clone[i], sizeof(f->clone[i]), "%s/raw-clone-%u.img", b->host.mnt, i);
                f->mnt[i] = open(vols[i]->mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (f->mnt[i] < 0)
                        return -errno;
                f->src[i] = open(vols[i]->image, O_RDONLY | O_CLOEXEC);
                if (f->src[i] < 0)
                        return -errno;
                f->dst[i] = open(f->clone[i], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
                if (f->dst[i] < 0)
                        return -errno;
        }
        return 0;
}

/* Freeze all, clone all (when clone), thaw all in reverse; always thaws what it froze. */
static int raw_hold(RawFiles *f, bool clone) {
        unsigned frozen = 0;
        int r = 0;

        for (; frozen < f->n; frozen++)
                if (ioctl(f->mnt[frozen], FIFREEZE, 0) < 0) {
                        r = -errno;
                        break;
                }
        for (unsigned i = 0; clone && r == 0 && i < f->n; i++)
                if (ioctl(f->dst[i], FICLONE, f->src[i]) < 0)
                        r = -errno;
        while (frozen > 0)
                if (ioctl(f->mnt[--frozen], FITHAW, 0) < 0 && r == 0)
                        r = -errno;
        return r;
}

/*
 * The raw floor, in two flavours, because FIFREEZE's cost depends on what came just before
 * (measured here: ~1 ms when the same filesystem was thawed a few ms earlier, 30–45 ms once
 * it has been left alone for 20 ms or more, ext4 and XFS alike):
 *   cold: straight after bench_settle's rest, as for a one-off tool;
 *   warm: an untimed freeze+thaw of the volumes right before, as the provider's end-prepare
 *         "prefreeze" does before its hold, so this is the floor of the hold itself.
 */
static void measure_image_raw(const Bench *b, const BenchFs *const *vols, unsigned n, bool cold, Row *row) {
        row->hold_is_time = true;
        if (b->image_error[0]) {
                (void) snprintf(row->error, sizeof(row->error), "%s", b->image_error);
                return;
        }

        for (unsigned i = 0; i < WARMUP_RUNS + b->opts->runs; i++) {
                RawFiles f = {};
                uint64_t t0 = 0, t1 = 0;
                int r;

                r = raw_files_open(b, vols, n, &f);
                if (r >= 0) {
                        bench_settle(b);
                        if (!cold)
                                r = raw_hold(&f, false);
                }
                if (r >= 0) {
                        t0 = now_usec();
                        r = raw_hold(&f, true);
                        t1 = now_usec();
                }
                raw_files_close(&f);
                if (r < 0) {
                        (void) snprintf(row->error, sizeof(row->error), "freeze/clone/thaw: %s", strerror(-r));
                        return;
                }
                if (i >= WARMUP_RUNS)
                        row->samples_ms[row->n++] = elapsed_ms(t0, t1);
        }
}

/* Reads the hold vssd logged for the run just done; records it when want. */
static void hold_collect(Bench *b, Row *row, bool want) {
        double ms;

        if (log_find_last_ms(b->vssd_log, HOLD_MARKER, &b->log_offset, &ms) > 0 && want)
                row->hold_ms[row->n_hold++] = ms;
}

/* The providers' commit time vssd logged for the run just done, or -1. */
static double commit_collect(Bench *b) {
        double ms;

        if (log_find_last_ms(b->vssd_log, COMMIT_MARKER, &b->commit_offset, &ms) > 0)
                return ms;
        return -1;
}

/*
 * One whole backup; its DoSnapshotSet time (and hold, if logged) go into row when record.
 * *ret_commit_ms (may be NULL): the commit time vssd logged for it, or -1.
 */
static bool vss_once(Bench *b, char *const *volumes, unsigned n, Row *row, bool record, double *ret_commit_ms) {
        const char *step = "?";
        double ms = 0, commit;
        vss_hr hr;

        /* Skip whatever the daemon logged before this run. */
        hold_collect(b, row, false);
        (void) commit_collect(b);
        hr = backup_once(b, volumes, n, &ms, &step);
        if (VSS_FAILED(hr)) {
                (void) snprintf(row->error, sizeof(row->error), "%s failed: %s", step, vss_hr_name(hr));
                return false;
        }
        if (record)
                row->samples_ms[row->n++] = ms;
        hold_collect(b, row, record);
        commit = commit_collect(b);
        if (record && commit >= 0) {
                row->commit_ms[row->n_commit++] = commit;
                /* The coordination's own cost in this run, whatever the volume's commit cost:
                 * under load both halves move, their difference much less. */
                row->overhead_ms[row->n_overhead++] = ms - commit;
        }
        if (ret_commit_ms)
                *ret_commit_ms = commit;
        return true;
}

/* Runs after each DoSnapshotSet of measure_vss, with its writers still connected. */
typedef void (*run_hook_t)(Bench *b, bool record, void *userdata);

/* DoSnapshotSet of volumes with `writers` writer processes, into row; hook (may be NULL) after each. */
static void measure_vss(Bench *b, const char *tag, char *const *volumes, unsigned n, unsigned writers, Row *row,
                        run_hook_t hook, void *userdata) {
        static double commit[MAX_RUNS], run_max[MAX_RUNS];
        Writers w = {};
        double freeze_ms;
        unsigned done;
        int r;

        memset(run_max, 0, sizeof(run_max));

        r = writers_start(b, tag, writers, &w);
        if (r < 0) {
                (void) snprintf(row->error, sizeof(row->error), "starting writer %u failed: %s", w.n,
                                strerror(-r));
                (void) writers_stop(&w, NULL, 0);
                return;
        }

        for (done = 0; done < WARMUP_RUNS + b->opts->runs; done++) {
                if (!vss_once(b, volumes, n, row, done >= WARMUP_RUNS, &commit[done]))
                        break;
                if (hook)
                        hook(b, done >= WARMUP_RUNS, userdata);
        }

        /* Stopped with no writers too: writers_start allocated the log prefix all the same. */
        freeze_ms = writers_stop(&w, run_max, done);
        row->max_freeze_ms = writers > 0 ? freeze_ms : -1;
        for (unsigned i = WARMUP_RUNS; writers > 0 && i < done; i++)
                if (commit[i] >= 0 && run_max[i] > 0)
                        row->excess_ms[row->n_excess++] = run_max[i] - commit[i];
}

/* ------------------------------------------------------------------------------------------ */
/* Tables                                                                                     */
/* ------------------------------------------------------------------------------------------ */

static const char *plural(unsigned n) {
        return n == 1 ? "" : "s";
}

static void table_btrfs(Bench *b) {
        Table *t = &tables[0];
        char *vol[] = { b->subvol };

        t->letter = 'A';
        t->title = "btrfs provider: DoSnapshotSet against the raw snapshot ioctl";
        t->show_commit = true;
        (void) snprintf(t->caption, sizeof(t->caption),
                        "Volume: a subvolume with %u small files on a loop-mounted btrfs (%" PRIu64
                        " MiB sparse image).",
                        b->opts->files, BTRFS_IMAGE_SIZE >> 20);

        Row *raw, *rows[MAX_CASES], *zero = NULL;

        raw = row_add(t, -1, -1, "raw `btrfs_util_create_snapshot(READ_ONLY)`");
        for (unsigned i = 0; i < b->opts->n_cases; i++) {
                unsigned w = b->opts->writer_counts[i];

                rows[i] = row_add(t, 0, -1, "DoSnapshotSet, %u writer%s", w, plural(w));
                if (w == 0 && !zero)
                        zero = rows[i];
        }

        /* The raw ioctl and DoSnapshotSet without writers round robin. Run one row after the
         * other, the snapshot ioctl itself cost more kernel CPU in vssd's row than in the raw
         * row (thread CPU time around the call, median 2.30 against 1.98 ms), while the same
         * two calls alternated cost the same (2.81 against 2.94 ms): the volume's state drifts
         * over a run, and the later row paid for the drift as if it were vssd's. */
        if (zero)
                for (unsigned i = 0; i < WARMUP_RUNS + b->opts->runs; i++) {
                        bool record = i >= WARMUP_RUNS;

                        if (!raw->error[0])
                                (void) btrfs_raw_once(b, b->subvol, raw, record);
                        if (!zero->error[0])
                                (void) vss_once(b, vol, 1, zero, record, NULL);
                }
        else
                measure_btrfs_raw(b, b->subvol, raw);

        for (unsigned i = 0; i < b->opts->n_cases; i++)
                if (rows[i] != zero)
                        measure_vss(b, "btrfs", vol, 1, b->opts->writer_counts[i], rows[i], NULL, NULL);
}

static void table_image(Bench *b) {
        Table *t = &tables[1];
        const BenchFs *one[] = { &b->ext4 }, *two[] = { &b->ext4, &b->xfs };
        char *vol1[] = { b->ext4.mnt }, *vol2[] = { b->ext4.mnt, b->xfs.mnt };
        int base;

        t->letter = 'B';
        t->title = "image provider: DoSnapshotSet against raw FIFREEZE + FICLONE + FITHAW";
        t->show_hold = true;
        t->show_commit = true;
        (void) snprintf(t->caption, sizeof(t->caption),
                        "Volumes: an ext4 and an XFS filesystem, %" PRIu64 " MiB sparse images with %u small files each, "
                        "loop-mounted from a loop-mounted XFS host (reflink=1, %" PRIu64 " MiB sparse image). "
                        "Raw rows: this process opens the images and creates the clone files first (untimed, as the "
                        "provider does), then times FIFREEZE of each volume, FICLONE of each image, FITHAW in reverse; "
                        "cold: straight after the rest every measured call gets, warm: an untimed freeze+thaw "
                        "just before (what the provider's end-prepare does before its hold). "
                        "Guardian hold: what vssd logs for each commit, from its Freeze call to the guardian until "
                        "the Thaw's answer (median, max in brackets).",
                        VOLUME_IMAGE_SIZE >> 20, b->opts->files, HOST_IMAGE_SIZE >> 20);

        base = (int) t->n;
        measure_image_raw(b, one, 1, true, row_add(t, -1, -1, "raw freeze + clone + thaw, ext4, cold"));
        measure_image_raw(b, one, 1, false, row_add(t, base, -1, "raw freeze + clone + thaw, ext4, warm"));
        for (unsigned i = 0; i < b->opts->n_cases; i++) {
                unsigned w = b->opts->writer_counts[i];
                Row *row = row_add(t, base, base + 1, "DoSnapshotSet ext4, %u writer%s", w, plural(w));

                if (b->image_error[0])
                        (void) snprintf(row->error, sizeof(row->error), "%s", b->image_error);
                else
                        measure_vss(b, "image1", vol1, 1, w, row, NULL, NULL);
        }

        base = (int) t->n;
        measure_image_raw(b, two, 2, true,
                          row_add(t, -1, -1, "raw freeze both + clone both + thaw both, ext4 + XFS, cold"));
        measure_image_raw(b, two, 2, false,
                          row_add(t, base, -1, "raw freeze both + clone both + thaw both, ext4 + XFS, warm"));
        for (unsigned i = 0; i < 2; i++) {
                unsigned w = i == 0 ? 0 : 10;
                Row *row = row_add(t, base, base + 1, "DoSnapshotSet ext4 + XFS in one set, %u writer%s", w,
                                   plural(w));

                if (b->image_error[0])
                        (void) snprintf(row->error, sizeof(row->error), "%s", b->image_error);
                else
                        measure_vss(b, "image2", vol2, 2, w, row, NULL, NULL);
        }
}

static void table_files(Bench *b) {
        Table *t = &tables[2];
        char *small[] = { b->subvol }, *big[] = { b->big_subvol };
        Row *rows[4];
        uint64_t t0, t1;
        int r;

        t->letter = 'C';
        t->title = "btrfs snapshot latency against the number of files";

        t0 = now_usec();
        if (btrfs_util_create_subvolume(b->big_subvol, 0, NULL, NULL) != BTRFS_UTIL_OK)
                r = -EIO;
        else
                r = populate_tree(b->big_subvol, b->opts->big_files);
        t1 = now_usec();
        (void) snprintf(t->caption, sizeof(t->caption),
                        "Volumes: two subvolumes of the same btrfs as table A, %u and %u small files "
                        "(the second created in this run by a C loop in %.1f s, synced).",
                        b->opts->files, b->opts->big_files, elapsed_ms(t0, t1) / 1e3);

        rows[0] = row_add(t, -1, -1, "raw snapshot ioctl, %u files", b->opts->files);
        rows[1] = row_add(t, 0, -1, "raw snapshot ioctl, %u files", b->opts->big_files);
        rows[2] = row_add(t, 0, -1, "DoSnapshotSet, 0 writers, %u files", b->opts->files);
        rows[3] = row_add(t, 1, 2, "DoSnapshotSet, 0 writers, %u files", b->opts->big_files);
        if (r < 0) {
                for (unsigned k = 1; k < 4; k += 2)
                        (void) snprintf(rows[k]->error, sizeof(rows[k]->error), "creating the files failed: %s",
                                        strerror(-r));
        }

        /* Round robin over the four cases, so background work (the btrfs cleaner dropping
         * deleted snapshots every 30 s, writeback) falls on all of them alike. */
        for (unsigned i = 0; i < WARMUP_RUNS + b->opts->runs; i++) {
                bool record = i >= WARMUP_RUNS;

                if (!rows[0]->error[0])
                        (void) btrfs_raw_once(b, b->subvol, rows[0], record);
                if (!rows[1]->error[0])
                        (void) btrfs_raw_once(b, b->big_subvol, rows[1], record);
                if (!rows[2]->error[0])
                        (void) vss_once(b, small, 1, rows[2], record, NULL);
                if (!rows[3]->error[0])
                        (void) vss_once(b, big, 1, rows[3], record, NULL);
        }
}

/* Waits until the btrfs provider's snapshot directory holds nothing (the auto-release delete). */
static int snapshots_wait_gone(const Bench *b) {
        char dir[4096];
        uint64_t deadline = now_usec() + (uint64_t) WAIT_MS * 1000;

        (void) snprintf(dir, sizeof(dir), "%s/.vss-snapshots", b->fs.mnt);
        for (;;) {
                DIR *d = opendir(dir);
                struct dirent *de;
                bool empty = true;

                if (!d)
                        return errno == ENOENT ? 0 : -errno;
                while ((de = readdir(d)))
                        if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                                empty = false;
                (void) closedir(d);
                if (empty)
                        return 0;
                if (now_usec() >= deadline)
                        return -ETIMEDOUT;
                (void) nanosleep(&(struct timespec) { .tv_nsec = 2 * 1000 * 1000 }, NULL);
        }
}

/* Runs argv (argv[0] searched in PATH) to its end, output discarded; 0 when it exited 0. */
static int run_to_exit(char *const argv[], double *ret_ms) {
        uint64_t t0, t1;
        int status, r;
        pid_t pid;

        t0 = now_usec();
        r = process_spawn_flags(argv, SPAWN_NULL_STDOUT | SPAWN_NULL_STDERR, &pid);
        if (r < 0)
                return r;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        t1 = now_usec();
        *ret_ms = elapsed_ms(t0, t1);
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EPROTO;
}

/* ------------------------------------------------------------------------------------------ */
/* snapper through a private system bus (table D)                                             */
/* ------------------------------------------------------------------------------------------ */

/*
 * snapper talks to snapperd over the system bus, and snapperd reads its configurations from
 * /etc/snapper/configs and the list of them from /etc/default/snapper (paths built into
 * libsnapper 0.10.4; `create-config` writes both). The bench gives them a bus of their own:
 * a dbus-daemon of type system on a socket in the bench's directory, and a snapperd in a
 * mount namespace of its own where those two paths are bind mounts of the bench's copies, so
 * the configuration it creates lives and dies with the bench and the host's /etc is never
 * written. snapperd logs to a file there too (--stdout), not to /var/log/snapper.log; the
 * snapper client logs nothing. Both daemons die with the bench (PR_SET_PDEATHSIG).
 */
typedef struct SnapperBus {
        char dir[4096];        /* <bench dir>/snapper: bus.conf, bus.sock, configs/, sysconfig, logs */
        char config[32];       /* the configuration's name, unique to this run */
        char snapshots[4200];  /* <subvolume>/.snapshots, where snapper puts its snapshots */
        char *old_address;     /* DBUS_SYSTEM_BUS_ADDRESS before, restored at the end */
        bool had_address;
        bool address_set;      /* ours is in the environment */
        bool config_made;
        pid_t bus;
        pid_t snapperd;
} SnapperBus;

/* true when name is an executable file in one of $PATH's directories. */
static bool program_in_path(const char *name) {
        const char *path = getenv("PATH") ?: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

        for (const char *p = path; *p;) {
                size_t len = strcspn(p, ":");
                char file[4096];

                if (len > 0 && len < sizeof(file) - strlen(name) - 2) {
                        (void) snprintf(file, sizeof(file), "%.*s/%s", (int) len, p, name);
                        if (access(file, X_OK) == 0)
                                return true;
                }
                p += len;
                if (*p == ':')
                        p++;
        }
        return false;
}

static int file_write(const char *path, const char *text) {
        FILE *f = fopen(path, "we");

        if (!f)
                return -errno;
        if (fputs(text, f) < 0) {
                (void) fclose(f);
                return -EIO;
        }
        return fclose(f) == 0 ? 0 : -errno;
}

/* Runs `snapper <args...>` on the private bus to its end, output discarded. */
static int snapper_run(char *const argv[]) {
        double ms;

        return run_to_exit(argv, &ms);
}

/* In snapperd's child: a mount namespace of its own where the two paths snapper 0.10.4 builds
 * in are bind mounts of the bench's copies (see SnapperBus). */
static int snapperd_setup(void *userdata) {
        const SnapperBus *s = userdata;
        char configs[4200], sysconfig[4200];

        (void) snprintf(configs, sizeof(configs), "%s/configs", s->dir);
        (void) snprintf(sysconfig, sizeof(sysconfig), "%s/sysconfig", s->dir);
        /* Slave, not private: the bench's unmounts still reach this copy of the tree. */
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0 ||
            mount(configs, "/etc/snapper/configs", NULL, MS_BIND, NULL) < 0 ||
            mount(sysconfig, "/etc/default/snapper", NULL, MS_BIND, NULL) < 0) {
                fprintf(stderr, "cannot give snapperd a configuration of its own: %s\n", strerror(errno));
                return -errno;
        }
        return 0;
}

/*
 * Starts snapperd in its own mount namespace, its output appended to <dir>/snapperd.log. A
 * child that cannot make the bind mounts exits 126 before exec, so the host's configuration
 * is never the one it serves.
 */
static int snapperd_spawn(const SnapperBus *s, pid_t *ret_pid) {
        char log[4200];

        (void) snprintf(log, sizeof(log), "%s/snapperd.log", s->dir);
        return spawn_logged_setup((char *const[]) { (char *) "snapperd", (char *) "--stdout", NULL }, log,
                                  snapperd_setup, (void *) s, ret_pid);
}

/* Waits until snapperd answers on the bus (`snapper list-configs` succeeds). */
static int snapperd_wait(SnapperBus *s) {
        uint64_t deadline = now_usec() + (uint64_t) WAIT_MS * 1000;
        int status;

        for (;;) {
                if (snapper_run((char *const[]) { (char *) "snapper", (char *) "list-configs", NULL }) == 0)
                        return 0;
                if (waitpid(s->snapperd, &status, WNOHANG) == s->snapperd) {
                        s->snapperd = 0; /* reaped */
                        return -ESRCH;
                }
                if (now_usec() >= deadline)
                        return -ETIMEDOUT;
                (void) nanosleep(&(struct timespec) { .tv_nsec = 20 * 1000 * 1000 }, NULL);
        }
}

/*
 * snapper_bus_start: the private bus, snapperd and a configuration for subvol with every
 * automatic feature off (no number, timeline or empty-pair cleanup, no timeline snapshots, no
 * background comparison; QGROUP stays empty), so `snapper create` does only the snapshot and
 * its metadata. On failure row->error says why ("n/a ..." with row->not_applicable when
 * snapper or dbus-daemon is not installed); snapper_bus_stop() undoes what was made either way.
 */
static int snapper_bus_start(const Bench *b, SnapperBus *s, Row *row) {
        static const char *const programs[] = { "snapper", "snapperd", "dbus-daemon" };
        char path[4200], socket_path[4200], conf[8192], address[4300];
        const char *step;
        int r;

        for (size_t i = 0; i < ELEMENTSOF(programs); i++)
                if (!program_in_path(programs[i])) {
                        row->not_applicable = true;
                        (void) snprintf(row->error, sizeof(row->error), "n/a (%s not installed)",
                                        i < 2 ? "snapper" : "dbus-daemon");
                        return -ENOENT;
                }

        (void) snprintf(s->dir, sizeof(s->dir), "%s/snapper", b->fs.dir);
        (void) snprintf(s->config, sizeof(s->config), "vss-bench-%ld", (long) getpid());
        (void) snprintf(s->snapshots, sizeof(s->snapshots), "%s/.snapshots", b->subvol);
        (void) snprintf(socket_path, sizeof(socket_path), "%s/bus.sock", s->dir);
        (void) snprintf(address, sizeof(address), "unix:path=%s", socket_path);
        (void) snprintf(conf, sizeof(conf),
                        "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN\"\n"
                        " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
                        "<busconfig>\n"
                        "  <type>system</type>\n"
                        "  <listen>unix:path=%s</listen>\n"
                        "  <auth>EXTERNAL</auth>\n"
                        "  <policy context=\"default\">\n"
                        "    <allow user=\"*\"/>\n"
                        "    <allow own=\"*\"/>\n"
                        "    <allow send_destination=\"*\"/>\n"
                        "    <allow receive_sender=\"*\"/>\n"
                        "  </policy>\n"
                        "</busconfig>\n",
                        socket_path);

        step = "making its directory";
        r = mkdir(s->dir, 0700) < 0 ? -errno : 0;
        if (r >= 0) {
                (void) snprintf(path, sizeof(path), "%s/configs", s->dir);
                r = mkdir(path, 0755) < 0 ? -errno : 0;
        }
        if (r >= 0) {
                (void) snprintf(path, sizeof(path), "%s/sysconfig", s->dir);
                r = file_write(path, "SNAPPER_CONFIGS=\"\"\n");
        }
        if (r >= 0) {
                (void) snprintf(path, sizeof(path), "%s/bus.conf", s->dir);
                r = file_write(path, conf);
        }
        if (r < 0)
                goto fail;

        /* The clients (and snapperd) find the bus here; the old value comes back at the end. */
        s->had_address = getenv("DBUS_SYSTEM_BUS_ADDRESS") != NULL;
        if (s->had_address && !(s->old_address = strdup(getenv("DBUS_SYSTEM_BUS_ADDRESS"))))
                r = -ENOMEM;
        else if (setenv("DBUS_SYSTEM_BUS_ADDRESS", address, 1) < 0)
                r = -errno;
        if (r < 0)
                goto fail;
        s->address_set = true;

        step = "starting dbus-daemon";
        (void) snprintf(conf, sizeof(conf), "--config-file=%s", path);
        (void) snprintf(path, sizeof(path), "%s/dbus-daemon.log", s->dir);
        r = spawn_logged((char *const[]) { (char *) "dbus-daemon", conf, (char *) "--nofork", (char *) "--nopidfile",
                                           NULL },
                         path, &s->bus);
        if (r >= 0)
                r = unix_socket_wait(socket_path, s->bus, WAIT_MS);
        if (r == -ESRCH)
                s->bus = 0; /* already reaped */
        if (r < 0)
                goto fail;

        step = "starting snapperd";
        r = snapperd_spawn(s, &s->snapperd);
        if (r >= 0)
                r = snapperd_wait(s);
        if (r < 0)
                goto fail;

        step = "snapper create-config";
        r = snapper_run((char *const[]) { (char *) "snapper", (char *) "-c", s->config, (char *) "create-config",
                                          b->subvol, NULL });
        if (r < 0)
                goto fail;
        s->config_made = true;

        step = "snapper set-config";
        r = snapper_run((char *const[]) { (char *) "snapper", (char *) "-c", s->config, (char *) "set-config",
                                          (char *) "NUMBER_CLEANUP=no", (char *) "TIMELINE_CREATE=no",
                                          (char *) "TIMELINE_CLEANUP=no", (char *) "EMPTY_PRE_POST_CLEANUP=no",
                                          (char *) "BACKGROUND_COMPARISON=no", NULL });
        if (r >= 0)
                return 0;
fail:
        (void) snprintf(row->error, sizeof(row->error), "private bus for snapper, %s: %s", step, strerror(-r));
        return r;
}

/* Deletes, through snapper, every snapshot of the configuration (the one `create` made). */
static int snapper_delete_snapshots(const SnapperBus *s) {
        DIR *d = opendir(s->snapshots);
        char numbers[16][16];
        unsigned n = 0;
        struct dirent *de;
        int r = 0;

        if (!d)
                return -errno;
        while ((de = readdir(d)) && n < ELEMENTSOF(numbers))
                if (de->d_name[0] >= '1' && de->d_name[0] <= '9' && strlen(de->d_name) < sizeof(numbers[0]))
                        (void) snprintf(numbers[n++], sizeof(numbers[0]), "%s", de->d_name);
        (void) closedir(d);
        for (unsigned i = 0; i < n && r >= 0; i++)
                r = snapper_run((char *const[]) { (char *) "snapper", (char *) "-c", (char *) s->config,
                                                  (char *) "delete", numbers[i], NULL });
        return r;
}

/* snapper_bus_stop: deletes the configuration (and with it .snapshots), stops snapperd and the
 * bus, removes their directory and restores DBUS_SYSTEM_BUS_ADDRESS. Safe after any failure of
 * snapper_bus_start(), and on a zeroed SnapperBus. */
static void snapper_bus_stop(SnapperBus *s) {
        if (s->config_made && s->snapperd > 0)
                (void) snapper_run((char *const[]) { (char *) "snapper", (char *) "-c", s->config,
                                                     (char *) "delete-config", NULL });
        s->config_made = false;
        (void) process_stop(s->snapperd, 5000);
        (void) process_stop(s->bus, 5000);
        s->snapperd = s->bus = 0;
        if (s->dir[0])
                (void) rm_rf_physical(s->dir);
        if (s->address_set && s->had_address)
                (void) setenv("DBUS_SYSTEM_BUS_ADDRESS", s->old_address, 1);
        else if (s->address_set)
                (void) unsetenv("DBUS_SYSTEM_BUS_ADDRESS");
        s->address_set = false;
        free(s->old_address);
        s->old_address = NULL;
}

/*
 * Table D: what an administrator waits for. The btrfs CLI makes a read-only snapshot (deleted
 * untimed afterwards); `vshadow -nw` makes a non-persistent snapshot set of the same subvolume
 * and, as it exits, releases it, so vssd deletes the snapshot (waited for, untimed, before the
 * next call); `snapper create` asks snapperd, on the private bus, for a snapshot of the same
 * subvolume (deleted untimed through snapper afterwards). Round robin, each call after
 * bench_settle.
 */
static void table_tools(Bench *b) {
        Table *t = &tables[3];
        char dest[4096], sock[4200];
        SnapperBus sb = { .bus = 0 };
        Row *cli, *vsh, *snp;

        t->letter = 'D';
        t->title = "whole processes: `vshadow -nw` against the btrfs CLI and `snapper create`";
        (void) snprintf(t->caption, sizeof(t->caption),
                        "Volume: the subvolume of table A. Each row times one process from fork to its exit; "
                        "`vshadow -nw` includes connecting to vssd, the whole good path without writers, "
                        "DoSnapshotSet and the release that deletes the snapshot, as the tool exits. "
                        "`snapper create` asks snapperd over a private system bus (a dbus-daemon and snapperd "
                        "started by the bench, a configuration of its own with cleanup, timeline and background "
                        "comparison off); its subvolume .snapshots is inside the volume for all three rows. "
                        "D3's ratios: snapper ÷ vshadow (D2), snapper ÷ btrfs CLI (D1).");
        (void) snprintf(dest, sizeof(dest), "%s/cli-snapshot", b->fs.mnt);
        (void) snprintf(sock, sizeof(sock), "-socket=%s", b->socket);

        cli = row_add(t, -1, -1, "`btrfs subvolume snapshot -r` (CLI)");
        vsh = row_add(t, 0, -1, "`vshadow -nw` (create + auto-release delete)");
        snp = row_add(t, 1, 0, "`snapper create` (snapperd, private system bus)");
        (void) snapper_bus_start(b, &sb, snp);
        for (unsigned i = 0; i < WARMUP_RUNS + b->opts->runs; i++) {
                bool record = i >= WARMUP_RUNS;
                double ms;
                int r;

                if (!cli->error[0]) {
                        bench_settle(b);
                        r = run_to_exit((char *const[]) { (char *) "btrfs", (char *) "subvolume", (char *) "snapshot",
                                                          (char *) "-r", b->subvol, dest, NULL },
                                        &ms);
                        if (r < 0)
                                (void) snprintf(cli->error, sizeof(cli->error), "btrfs subvolume snapshot: %s",
                                                strerror(-r));
                        else if (record)
                                cli->samples_ms[cli->n++] = ms;
                        if (btrfs_util_delete_subvolume(dest, 0) != BTRFS_UTIL_OK && !cli->error[0])
                                (void) snprintf(cli->error, sizeof(cli->error), "delete snapshot failed");
                }
                if (!vsh->error[0]) {
                        bench_settle(b);
                        r = run_to_exit((char *const[]) { (char *) b->opts->vshadow, (char *) "-nw", sock, b->subvol,
                                                          NULL },
                                        &ms);
                        if (r >= 0)
                                r = snapshots_wait_gone(b);
                        if (r < 0)
                                (void) snprintf(vsh->error, sizeof(vsh->error), "vshadow -nw: %s", strerror(-r));
                        else if (record)
                                vsh->samples_ms[vsh->n++] = ms;
                }
                if (!snp->error[0]) {
                        bench_settle(b);
                        r = run_to_exit((char *const[]) { (char *) "snapper", (char *) "-c", sb.config,
                                                          (char *) "create", NULL },
                                        &ms);
                        if (r >= 0)
                                r = snapper_delete_snapshots(&sb);
                        if (r < 0)
                                (void) snprintf(snp->error, sizeof(snp->error), "snapper create: %s", strerror(-r));
                        else if (record)
                                snp->samples_ms[snp->n++] = ms;
                }
        }
        snapper_bus_stop(&sb);
}

/*
 * Table E: the writers' two event rounds inside a DoSnapshotSet (Freeze and Thaw; the bench's
 * writers have no PrepareForSnapshot or PostSnapshot callback, so they are not sent those)
 * against the kernel's floor under two rounds to as many processes (fanout.h), each floor
 * measured right after a DoSnapshotSet of the same run and after the same rest, so the hour's
 * load weighs on both alike.
 */
typedef struct FloorRun {
        Fanout *sockets, *futex;
        Row *sockets_row, *futex_row;
} FloorRun;

static void floor_once(Bench *b, Fanout *f, Row *row, bool record) {
        double ms;
        int r;

        if (row->error[0])
                return;
        bench_settle(b);
        r = fanout_rounds(f, 2, &ms);
        if (r < 0)
                (void) snprintf(row->error, sizeof(row->error), "fan-out round: %s", strerror(-r));
        else if (record)
                row->samples_ms[row->n++] = ms;
}

static void floor_hook(Bench *b, bool record, void *userdata) {
        FloorRun *fr = userdata;

        floor_once(b, fr->sockets, fr->sockets_row, record);
        floor_once(b, fr->futex, fr->futex_row, record);
}

/* Makes row's samples the per-run values v[0..n): the tables print and compare samples. */
static void row_samples_set(Row *row, const double *v, unsigned n) {
        memcpy(row->samples_ms, v, n * sizeof(double));
        row->n = n;
}

static void floor_case(Bench *b, unsigned writers) {
        Table *t = &tables[4];
        char *vol[] = { b->subvol };
        int first = (int) t->n;
        FloorRun fr = {};
        Row *overhead, *excess;
        int r;

        fr.sockets_row = row_add(t, -1, -1, "floor: 2 rounds to %u process%s over a Unix socket each", writers,
                                 writers == 1 ? "" : "es");
        fr.futex_row = row_add(t, first, -1, "floor: 2 rounds to %u process%s by one futex broadcast", writers,
                               writers == 1 ? "" : "es");
        overhead = row_add(t, first, first + 1, "DoSnapshotSet − commit, %u writer%s", writers, plural(writers));
        excess = row_add(t, first, first + 1, "longest writer freeze − commit, %u writer%s", writers, plural(writers));

        r = fanout_start(FANOUT_SOCKETS, writers, &fr.sockets);
        if (r < 0)
                (void) snprintf(fr.sockets_row->error, sizeof(fr.sockets_row->error), "fork: %s", strerror(-r));
        r = fanout_start(FANOUT_FUTEX, writers, &fr.futex);
        if (r < 0)
                (void) snprintf(fr.futex_row->error, sizeof(fr.futex_row->error), "fork: %s", strerror(-r));
        if (fr.sockets && fr.futex)
                measure_vss(b, "floor", vol, 1, writers, overhead, floor_hook, &fr);
        else
                (void) snprintf(overhead->error, sizeof(overhead->error), "the floor's processes did not start");
        fanout_stop(fr.sockets);
        fanout_stop(fr.futex);

        if (overhead->error[0]) {
                (void) snprintf(excess->error, sizeof(excess->error), "%s", overhead->error);
                return;
        }
        row_samples_set(overhead, overhead->overhead_ms, overhead->n_overhead);
        row_samples_set(excess, overhead->excess_ms, overhead->n_excess);
        overhead->n_overhead = overhead->n_commit = overhead->n_excess = 0;
}

static void table_floor(Bench *b) {
        Table *t = &tables[4];

        t->letter = 'E';
        t->title = "writers' event rounds against the kernel's floor";
        (void) snprintf(t->caption, sizeof(t->caption),
                        "Volume: the subvolume of table A. With N writers, DoSnapshotSet sends two event rounds "
                        "(Freeze, Thaw); its time less the commit vssd logs holds them, the provider's flush and "
                        "vssd's own steps. Floor rows: two rounds to N idle child processes of the bench, timed "
                        "right after each DoSnapshotSet and the same rest: one byte to and from each over a "
                        "Unix socket of its own, sent to all, then answers collected through epoll (the floor "
                        "of one connection per writer), and all woken by one FUTEX_WAKE, the last waking the "
                        "bench (the floor of any design on this machine). The longest writer freeze beyond "
                        "the commit is compared with the same two rounds: the first writer to freeze waits out "
                        "the rest of the Freeze round and its turn in the Thaw round.");
        for (unsigned i = 0; i < b->opts->n_cases; i++)
                if (b->opts->writer_counts[i] > 0)
                        floor_case(b, b->opts->writer_counts[i]);
}

static bool row_median(const Row *row, double *ret) {
        double sorted[MAX_RUNS];

        if (row->error[0] || row->n == 0)
                return false;
        memcpy(sorted, row->samples_ms, row->n * sizeof(double));
        stats_sort(sorted, row->n);
        *ret = stats_median(sorted, row->n);
        return true;
}

static void ratio_cell(const Table *t, const Row *row, double med, char *buf, size_t size) {
        size_t used = 0;

        buf[0] = 0;
        if (row->base[0] < 0 && row->base[1] < 0) {
                (void) snprintf(buf, size, "baseline");
                return;
        }
        for (unsigned k = 0; k < 2; k++) {
                const Row *base;
                double bm;

                if (row->base[k] < 0)
                        continue;
                base = &t->rows[row->base[k]];
                if (!row_median(base, &bm) || bm <= 0)
                        continue;
                used += (size_t) snprintf(buf + used, size - used, "%s%.*f× %s", used ? ", " : "",
                                          med / bm >= 10 ? 0 : med / bm >= 1 ? 1 : 2, med / bm, base->id);
                if (used >= size)
                        break;
        }
        if (!buf[0])
                (void) snprintf(buf, size, "–");
}

static void hold_cell(const Row *row, char *buf, size_t size) {
        double sorted[MAX_RUNS];

        if (row->hold_is_time) {
                (void) snprintf(buf, size, "= time");
                return;
        }
        if (row->n_hold == 0) {
                (void) snprintf(buf, size, "–");
                return;
        }
        memcpy(sorted, row->hold_ms, row->n_hold * sizeof(double));
        stats_sort(sorted, row->n_hold);
        if (row->n_hold == row->n)
                (void) snprintf(buf, size, "%.1f (%.1f)", stats_median(sorted, row->n_hold), sorted[row->n_hold - 1]);
        else /* a run whose log line was not found: say so rather than hide it */
                (void) snprintf(buf, size, "%.1f (%.1f), %u of %u runs", stats_median(sorted, row->n_hold),
                                sorted[row->n_hold - 1], row->n_hold, row->n);
}

/* "median (max)" of v[0..n), or "median (min)" when low; "–" when n is 0. */
static void median_cell(const double *v, unsigned n, bool low, char *buf, size_t size) {
        double sorted[MAX_RUNS];

        if (n == 0) {
                (void) snprintf(buf, size, "–");
                return;
        }
        memcpy(sorted, v, n * sizeof(double));
        stats_sort(sorted, n);
        (void) snprintf(buf, size, "%.1f (%.1f)", stats_median(sorted, n), low ? sorted[0] : sorted[n - 1]);
}

static void table_print(const Table *t) {
        printf("### %c. %s\n\n%s\n\n", t->letter, t->title, t->caption);
        printf("| id | case | runs | median ms | p10–p90 ms | min–max ms | ratio | longest writer freeze ms |%s%s\n",
               t->show_hold ? " guardian hold ms |" : "",
               t->show_commit ? " commit ms, median (max) | DoSnapshotSet − commit ms, median (min) |"
                                " freeze beyond commit ms, median (max) |" : "");
        printf("|---|---|---|---|---|---|---|---|%s%s\n", t->show_hold ? "---|" : "",
               t->show_commit ? "---|---|---|" : "");

        for (unsigned i = 0; i < t->n; i++) {
                const Row *row = &t->rows[i];
                double sorted[MAX_RUNS], med;
                char freeze[32] = "–", ratio[64], hold[48];

                if (!row_median(row, &med)) {
                        printf("| %s | %s | 0 | – | – | – | – | %s |%s%s\n", row->id, row->label,
                               row->error[0] ? row->error : "no samples", t->show_hold ? " – |" : "",
                               t->show_commit ? " – | – | – |" : "");
                        continue;
                }
                memcpy(sorted, row->samples_ms, row->n * sizeof(double));
                stats_sort(sorted, row->n);
                ratio_cell(t, row, med, ratio, sizeof(ratio));
                if (row->max_freeze_ms >= 0)
                        (void) snprintf(freeze, sizeof(freeze), "%.1f", row->max_freeze_ms);
                printf("| %s | %s | %u | %.1f | %.1f–%.1f | %.1f–%.1f | %s | %s |", row->id, row->label, row->n, med,
                       stats_percentile(sorted, row->n, 10), stats_percentile(sorted, row->n, 90), sorted[0],
                       sorted[row->n - 1], ratio, freeze);
                if (t->show_hold) {
                        hold_cell(row, hold, sizeof(hold));
                        printf(" %s |", hold);
                }
                if (t->show_commit) {
                        char commit[48], overhead[48], excess[48];

                        median_cell(row->commit_ms, row->n_commit, false, commit, sizeof(commit));
                        median_cell(row->overhead_ms, row->n_overhead, true, overhead, sizeof(overhead));
                        median_cell(row->excess_ms, row->n_excess, false, excess, sizeof(excess));
                        printf(" %s | %s | %s |", commit, overhead, excess);
                }
                printf("\n");
        }
        printf("\n");
}

/* ------------------------------------------------------------------------------------------ */
/* Main                                                                                       */
/* ------------------------------------------------------------------------------------------ */

/* The first three fields of /proc/loadavg, or buf left as it is. */
static void loadavg_read(char *buf, size_t size) {
        _cleanup_free_ char *text = NULL;
        char *p = NULL;

        if (read_file_full("/proc/loadavg", &text, NULL) < 0)
                return;
        for (unsigned k = 0; k < 3; k++) {
                p = strchr(p ? p + 1 : text, ' ');
                if (!p)
                        return;
        }
        *p = 0;
        (void) snprintf(buf, size, "%s", text);
}

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
                { "big-files", required_argument, NULL, 'F' },
                { "idle-ms", required_argument, NULL, 'I' },
                { "vssd", required_argument, NULL, 'V' },
                { "writer", required_argument, NULL, 'W' },
                { "guardian", required_argument, NULL, 'G' },
                { "vshadow", required_argument, NULL, 'S' },
                { "tables", required_argument, NULL, 'T' },
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
                case 'F':
                        o->big_files = (unsigned) strtoul(optarg, NULL, 10);
                        break;
                case 'I':
                        o->idle_ms = (unsigned) strtoul(optarg, NULL, 10);
                        if (o->idle_ms > 10000)
                                return -EINVAL;
                        break;
                case 'V':
                        o->vssd = optarg;
                        break;
                case 'W':
                        o->writer = optarg;
                        break;
                case 'G':
                        o->guardian = optarg;
                        break;
                case 'S':
                        o->vshadow = optarg;
                        break;
                case 'T':
                        if (isempty(optarg) || optarg[strspn(optarg, "ABCDE")] != 0)
                                return -EINVAL;
                        o->tables = optarg;
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
                .runs = 30,
                .files = 10000,
                .big_files = 200000,
                .idle_ms = 100,
                .writer_counts = { 0, 1, 10, 100 },
                .n_cases = 4,
                .vssd = getenv("VSSD") ?: BENCH_VSSD_PATH,
                .writer = getenv("CONSISTENCY_WRITER") ?: BENCH_WRITER_PATH,
                .guardian = getenv("VSS_GUARDIAN") ?: BENCH_GUARDIAN_PATH,
                .vshadow = getenv("VSHADOW") ?: BENCH_VSHADOW_PATH,
                .tables = "ABCDE",
        };
        Bench b = { .opts = &o, .fs.loop_fd = -EBADF };
        char load_start[64] = "?", load_end[64] = "?";
        struct utsname u;
        uint64_t start = now_usec();
        char date[32] = "";
        time_t now = time(NULL);
        int r;

        if (parse_args(argc, argv, &o) < 0) {
                fprintf(stderr,
                        "Usage: %s [--runs N] [--writers N,N,...] [--files N] [--big-files N] [--idle-ms N] [--vssd PATH] "
                        "[--writer PATH] [--guardian PATH] [--vshadow PATH] [--tables ABCDE] [--verbose]\n",
                        argv[0]);
                return EXIT_FAILURE;
        }
        if (geteuid() != 0) {
                fprintf(stderr, "%s needs root (loop devices, mount, FIFREEZE); skipping\n", argv[0]);
                return 77;
        }
        (void) signal(SIGPIPE, SIG_IGN);
        loadavg_read(load_start, sizeof(load_start));

        r = bench_setup(&b);
        if (r < 0) {
                fprintf(stderr, "bench: setup failed: %s\n", strerror(-r));
                bench_teardown(&b);
                return EXIT_FAILURE;
        }

        if (strchr(o.tables, 'A'))
                table_btrfs(&b);
        if (strchr(o.tables, 'B'))
                table_image(&b);
        if (strchr(o.tables, 'C') && o.big_files > 0)
                table_files(&b);
        if (strchr(o.tables, 'D'))
                table_tools(&b);
        if (strchr(o.tables, 'E'))
                table_floor(&b);

        bench_teardown(&b);
        loadavg_read(load_end, sizeof(load_end));

        (void) strftime(date, sizeof(date), "%Y-%m-%d", localtime(&now));
        printf("Command: ");
        for (int i = 0; i < argc; i++)
                printf("%s%s", i ? " " : "", argv[i]);
        printf("\n");
        if (uname(&u) == 0)
                printf("Kernel: %s %s %s, %ld CPUs; %s\n", u.sysname, u.release, u.machine,
                       sysconf(_SC_NPROCESSORS_ONLN), date);
        printf("%u measured runs per case after %u warm-up runs, each DoSnapshotSet run a fresh requester; "
               "before each measured call syncfs() of the benchmark's filesystems and %u ms at rest; "
               "whole run %.0f s\n",
               o.runs, WARMUP_RUNS, o.idle_ms, elapsed_ms(start, now_usec()) / 1e3);
        /* Others' load spreads the samples; say how busy the machine was. */
        printf("Load average (1, 5, 15 min) at start: %s; at end: %s\n\n", load_start, load_end);

        r = 0;
        for (unsigned k = 0; k < ELEMENTSOF(tables); k++) {
                if (tables[k].n == 0)
                        continue;
                table_print(&tables[k]);
                for (unsigned i = 0; i < tables[k].n; i++)
                        if (tables[k].rows[i].error[0] && !tables[k].rows[i].not_applicable)
                                r = -EIO;
        }
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
