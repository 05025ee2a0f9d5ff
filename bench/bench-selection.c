/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-selection: what selecting the files of an incremental backup costs, against the tools
 * a backup script would use instead, on the same tree in the same run.
 *
 * Setup (once): a loop-mounted btrfs (noatime) with a subvolume of --files small files (100
 * per directory), read-only snapshot A, its generation (change_scan_btrfs_generation), a GNU
 * tar level-0 snapshot file of A, a reference file and time, then --changed files rewritten
 * spread over the tree, and read-only snapshot B. Every contender then finds the files of B
 * changed since A:
 *   - file_select, incremental, own records by times: change_scan_walk (getdents64 + statx)
 *     under the §9 selection;
 *   - file_select, incremental, own records by btrfs generation: change_scan_btrfs_changed;
 *   - the two scans alone, without the selection on top;
 *   - `find B -newer REF -type f` (stdout to /dev/null);
 *   - `tar --listed-incremental=COPY --no-check-device -C B -cf /dev/null .` with a fresh copy
 *     of the level-0 snapshot file each run (GNU tar does not read file data for /dev/null;
 *     --no-check-device because every btrfs snapshot has its own st_dev).
 * Each contender's result is checked once (exactly --changed files), then all run round robin,
 * warm cache, --runs times after one warm-up round. Prints a markdown table: median, p10–p90,
 * files found, and the ratio to find.
 *
 * Usage: bench_selection [--files N] [--changed N] [--runs N]
 * Needs root (exits 77 otherwise).
 * Build and run: ninja -C build bench/bench_selection && sudo ./build/bench/bench_selection
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <btrfsutil.h>

#include "backup-components.h"
#include "change-scan.h"
#include "file-select.h"
#include "macro.h"
#include "root-harness.h"
#include "writer-metadata.h"

#define IMAGE_SIZE (UINT64_C(4) << 30) /* sparse; room for the metadata of 200k files */
#define FILES_PER_DIR 100U
#define ORIGINAL "/srv/data"
#define MAX_RUNS 101U

typedef struct Bench {
        unsigned files, changed, runs;
        LoopBtrfs fs;
        char *vol, *snap_a, *snap_b, *ref, *snar0, *snar;
        uint64_t gen_a;
        vss_timestamp time_a;
        WriterMetadata *wmd;
        BackupComponents *bcd;
} Bench;

typedef int (*ContenderFn)(Bench *b, unsigned *ret_found);

typedef struct Contender {
        const char *name;
        ContenderFn run;
        double ms[MAX_RUNS];
        unsigned found;
} Contender;

static vss_timestamp now_filetime(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_REALTIME, &ts);
        return vss_timestamp_from_unix_ns((int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec);
}

static void sleep_ms(unsigned ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* --files files, 100 per directory, 64 bytes each, written through directory fds. */
static int populate(const char *root, unsigned files) {
        _cleanup_close_ int root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        char name[32], data[64];

        if (root_fd < 0)
                return -errno;
        memset(data, 'x', sizeof(data));
        for (unsigned d = 0; d * FILES_PER_DIR < files; d++) {
                _cleanup_close_ int dir_fd = -EBADF;

                snprintf(name, sizeof(name), "d%05u", d);
                if (mkdirat(root_fd, name, 0755) < 0)
                        return -errno;
                dir_fd = openat(root_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dir_fd < 0)
                        return -errno;
                for (unsigned f = d * FILES_PER_DIR; f < files && f < (d + 1) * FILES_PER_DIR; f++) {
                        int fd;

                        snprintf(name, sizeof(name), "f%07u", f);
                        fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
                        if (fd < 0)
                                return -errno;
                        if (write(fd, data, sizeof(data)) != (ssize_t) sizeof(data)) {
                                (void) close(fd);
                                return -EIO;
                        }
                        (void) close(fd);
                }
        }
        return syncfs(root_fd) < 0 ? -errno : 0;
}

/* Rewrite n files spread evenly over the tree. */
static int change_files(const char *root, unsigned files, unsigned n) {
        char path[4096];

        for (unsigned i = 0; i < n; i++) {
                unsigned f = (unsigned) ((uint64_t) i * files / n + (files / n) / 2);
                int fd;

                snprintf(path, sizeof(path), "%s/d%05u/f%07u", root, f / FILES_PER_DIR, f);
                fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
                if (fd < 0)
                        return -errno;
                if (write(fd, "changed\n", 8) != 8) {
                        (void) close(fd);
                        return -EIO;
                }
                (void) close(fd);
        }
        return 0;
}

static int wait_child(pid_t pid) {
        int status;

        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EPROTO;
}

/* Run argv; with ret_lines, count its output lines for which keep() holds. */
static int run_tool(char *const argv[], bool (*keep)(const char *line), unsigned *ret_lines) {
        pid_t pid;
        int r;

        if (!ret_lines) {
                r = process_spawn_flags(argv, SPAWN_NULL_STDOUT, &pid);
                return r < 0 ? r : wait_child(pid);
        } else {
                _cleanup_close_ int fd = -EBADF;
                FILE *f;
                char *line = NULL;
                size_t size = 0;
                unsigned n = 0;

                r = process_spawn(argv, &pid, &fd);
                if (r < 0)
                        return r;
                f = fdopen(TAKE_FD(fd), "r");
                if (!f)
                        return -errno;
                while (getline(&line, &size, f) > 0)
                        if (keep(line))
                                n++;
                free(line);
                fclose(f);
                *ret_lines = n;
                return wait_child(pid);
        }
}

static bool any_line(const char *line) {
        return true;
}

/* tar -v lists directories too ("./d00001/"); only files count. */
static bool file_line(const char *line) {
        size_t n = strlen(line);

        return n >= 2 && line[n - 2] != '/';
}

static int copy_file(const char *from, const char *to) {
        _cleanup_free_ char *data = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t size;
        int r;

        r = read_file_full(from, &data, &size);
        if (r < 0)
                return r;
        fd = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        if (write(fd, data, size) != (ssize_t) size)
                return -EIO;
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Contenders                                                                                  */
/* ------------------------------------------------------------------------------------------ */

static int count_selected(const FileSelectFile *f, void *userdata) {
        (*(unsigned *) userdata)++;
        return 0;
}

static int count_entry(const ChangeScanEntry *e, void *userdata) {
        (*(unsigned *) userdata)++;
        return 0;
}

static int select_with(Bench *b, uint64_t generation, unsigned *ret_found) {
        const WriterMetadata *writers[] = { b->wmd };
        FileSelectVolume vol = { .original = ORIGINAL, .snapshot = b->snap_b, .previous_generation = generation };
        FileSelectInput in = {
                .backup_type = VSS_BT_INCREMENTAL,
                .bcd = b->bcd,
                .writers = writers,
                .n_writers = 1,
                .previous_backup_time = b->time_a,
                .volumes = &vol,
                .n_volumes = 1,
        };

        *ret_found = 0;
        return file_select(&in, count_selected, ret_found, NULL);
}

static int run_select_walk(Bench *b, unsigned *ret_found) {
        return select_with(b, 0, ret_found);
}

static int run_select_generation(Bench *b, unsigned *ret_found) {
        return select_with(b, b->gen_a, ret_found);
}

static int run_walk(Bench *b, unsigned *ret_found) {
        *ret_found = 0;
        return change_scan_walk(AT_FDCWD, b->snap_b, NULL, CHANGE_SCAN_RECURSIVE, b->time_a, count_entry, ret_found);
}

static int run_generation(Bench *b, unsigned *ret_found) {
        *ret_found = 0;
        return change_scan_btrfs_changed(b->snap_b, b->gen_a, count_entry, ret_found);
}

static int run_find(Bench *b, unsigned *ret_found) {
        char *argv[] = { (char *) "find", b->snap_b, (char *) "-newer", b->ref, (char *) "-type", (char *) "f", NULL };

        return run_tool(argv, any_line, ret_found);
}

static int run_tar(Bench *b, unsigned *ret_found) {
        _cleanup_free_ char *listed = NULL;
        char *argv[] = { (char *) "tar", NULL, (char *) "--no-check-device", (char *) "-C", b->snap_b,
                         (char *) "-cf", (char *) "/dev/null", (char *) ".", NULL, NULL };
        int r;

        /* tar rewrites the snapshot file: each run starts from the level-0 one. */
        r = copy_file(b->snar0, b->snar);
        if (r < 0)
                return r;
        if (asprintf(&listed, "--listed-incremental=%s", b->snar) < 0)
                return -ENOMEM;
        argv[1] = listed;
        if (ret_found)
                argv[8] = (char *) "-v";
        return run_tool(argv, file_line, ret_found);
}

/* ------------------------------------------------------------------------------------------ */
/* Setup                                                                                       */
/* ------------------------------------------------------------------------------------------ */

static int make_documents(Bench *b) {
        vss_id iid, wid;

        vss_id_generate(&iid);
        vss_id_generate(&wid);
        b->wmd = writer_metadata_new();
        b->bcd = backup_components_new();
        if (!b->wmd || !b->bcd)
                return -ENOMEM;
        /* One writer, one component, the whole tree; changes by the requester's own records. */
        if (VSS_FAILED(writer_metadata_set_identity(b->wmd, &iid, &wid, "bench", NULL, VSS_UT_USERDATA, VSS_ST_OTHER,
                                                    0)) ||
            VSS_FAILED(writer_metadata_set_backup_schema(b->wmd, VSS_BS_INCREMENTAL | VSS_BS_DIFFERENTIAL)) ||
            VSS_FAILED(writer_metadata_add_component(b->wmd, VSS_CT_FILEGROUP, "", "tree", "", false, false, true,
                                                     false, 0)) ||
            VSS_FAILED(writer_metadata_add_fileset(b->wmd, FILESET_FILE_GROUP, "", "tree", ORIGINAL, "*", true, NULL,
                                                   VSS_FSBT_FULL_BACKUP_REQUIRED | VSS_FSBT_ALL_SNAPSHOT_REQUIRED)) ||
            VSS_FAILED(backup_components_set_backup_state(b->bcd, true, false, VSS_BT_INCREMENTAL, false)) ||
            VSS_FAILED(backup_components_add_component(b->bcd, &iid, &wid, VSS_CT_FILEGROUP, "", "tree", NULL)))
                return -EINVAL;
        return 0;
}

static int setup(Bench *b) {
        char *tar_argv[] = { (char *) "tar", NULL, (char *) "-C", NULL, (char *) "-cf", (char *) "/dev/null",
                             (char *) ".", NULL };
        _cleanup_free_ char *listed = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        r = loop_btrfs_setup("/var/tmp/vss-bench-sel-XXXXXX", IMAGE_SIZE, &b->fs);
        if (r < 0)
                return r;
        /* Nobody's reads may dirty metadata here (atime on snapshotted subvolumes). */
        if (mount(NULL, b->fs.mnt, NULL, MS_REMOUNT | MS_NOATIME, NULL) < 0)
                return -errno;
        if (asprintf(&b->vol, "%s/vol", b->fs.mnt) < 0 || asprintf(&b->snap_a, "%s/snap-a", b->fs.mnt) < 0 ||
            asprintf(&b->snap_b, "%s/snap-b", b->fs.mnt) < 0 || asprintf(&b->ref, "%s/reference", b->fs.dir) < 0 ||
            asprintf(&b->snar0, "%s/level0.snar", b->fs.dir) < 0 || asprintf(&b->snar, "%s/run.snar", b->fs.dir) < 0)
                return -ENOMEM;

        if (btrfs_util_create_subvolume(b->vol, 0, NULL, NULL) != BTRFS_UTIL_OK)
                return -EIO;
        fprintf(stderr, "populating %u files...\n", b->files);
        r = populate(b->vol, b->files);
        if (r < 0)
                return r;
        if (btrfs_util_create_snapshot(b->vol, b->snap_a, BTRFS_UTIL_CREATE_SNAPSHOT_READ_ONLY, NULL, NULL) !=
            BTRFS_UTIL_OK)
                return -EIO;
        r = change_scan_btrfs_generation(b->snap_a, &b->gen_a);
        if (r < 0)
                return r;

        /* tar's level 0 of A, then the reference point for find and for own records. */
        if (asprintf(&listed, "--listed-incremental=%s", b->snar0) < 0)
                return -ENOMEM;
        tar_argv[1] = listed;
        tar_argv[3] = b->snap_a;
        r = run_tool(tar_argv, NULL, NULL);
        if (r < 0)
                return r;
        sleep_ms(1100);
        fd = open(b->ref, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        b->time_a = now_filetime();
        sleep_ms(1100);

        r = change_files(b->vol, b->files, b->changed);
        if (r < 0)
                return r;
        if (btrfs_util_create_snapshot(b->vol, b->snap_b, BTRFS_UTIL_CREATE_SNAPSHOT_READ_ONLY, NULL, NULL) !=
            BTRFS_UTIL_OK)
                return -EIO;
        return make_documents(b);
}

static void bench_done(Bench *b) {
        if (b->snap_b)
                (void) btrfs_util_delete_subvolume(b->snap_b, 0);
        if (b->snap_a)
                (void) btrfs_util_delete_subvolume(b->snap_a, 0);
        if (b->vol)
                (void) btrfs_util_delete_subvolume(b->vol, 0);
        (void) loop_btrfs_teardown(&b->fs);
        free(b->vol);
        free(b->snap_a);
        free(b->snap_b);
        free(b->ref);
        free(b->snar0);
        free(b->snar);
        writer_metadata_free(b->wmd);
        backup_components_free(b->bcd);
}

static int double_cmp(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return x < y ? -1 : x > y;
}

static double percentile(const double *sorted, unsigned n, unsigned pct) {
        unsigned rank = (pct * n + 99) / 100;

        return sorted[rank == 0 ? 0 : rank - 1];
}

static int parse_unsigned(const char *s, unsigned min, unsigned max, unsigned *ret) {
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || end == s || *end || v < min || v > max)
                return -EINVAL;
        *ret = (unsigned) v;
        return 0;
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "files", required_argument, NULL, 'f' },
                { "changed", required_argument, NULL, 'c' },
                { "runs", required_argument, NULL, 'r' },
                {},
        };
        Contender contenders[] = {
                { "file_select, incremental, by times (change_scan_walk)", run_select_walk },
                { "file_select, incremental, by btrfs generation", run_select_generation },
                { "change_scan_walk alone (getdents64 + statx, since)", run_walk },
                { "change_scan_btrfs_changed alone", run_generation },
                { "`find SNAP -newer REF -type f`", run_find },
                { "GNU tar `--listed-incremental` (level 1, -cf /dev/null)", run_tar },
        };
        const unsigned baseline = 4;
        Bench b = { .files = 200000, .changed = 100, .runs = 9 };
        struct utsname u;
        int c, r;

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 'f':
                        if (parse_unsigned(optarg, 1000, 10000000, &b.files) < 0)
                                return 2;
                        break;
                case 'c':
                        if (parse_unsigned(optarg, 1, 100000, &b.changed) < 0)
                                return 2;
                        break;
                case 'r':
                        if (parse_unsigned(optarg, 3, MAX_RUNS, &b.runs) < 0)
                                return 2;
                        break;
                default:
                        fprintf(stderr, "usage: %s [--files N] [--changed N] [--runs N]\n", argv[0]);
                        return 2;
                }
        if (b.changed > b.files / 2)
                return 2;
        if (geteuid() != 0) {
                fprintf(stderr, "bench_selection needs root\n");
                return 77;
        }

        r = setup(&b);
        if (r < 0) {
                fprintf(stderr, "setup: %s\n", strerror(-r));
                bench_done(&b);
                return 1;
        }

        /* Every contender must find exactly the changed files before it is timed. */
        for (size_t i = 0; i < ELEMENTSOF(contenders); i++) {
                r = contenders[i].run(&b, &contenders[i].found);
                if (r < 0 || contenders[i].found != b.changed) {
                        fprintf(stderr, "%s: %s, found %u files, expected %u\n", contenders[i].name,
                                r < 0 ? strerror(-r) : "ok", contenders[i].found, b.changed);
                        bench_done(&b);
                        return 1;
                }
        }

        /* One warm-up round, then round robin. */
        for (unsigned run = 0; run <= b.runs; run++)
                for (size_t i = 0; i < ELEMENTSOF(contenders); i++) {
                        Contender *ct = &contenders[i];
                        unsigned found = 0;
                        uint64_t t0 = now_usec();

                        r = ct->run(&b, ct->run == run_find || ct->run == run_tar ? NULL : &found);
                        if (r < 0) {
                                fprintf(stderr, "%s: %s\n", ct->name, strerror(-r));
                                bench_done(&b);
                                return 1;
                        }
                        if (run > 0)
                                ct->ms[run - 1] = (double) (now_usec() - t0) / 1000.0;
                }

        (void) uname(&u);
        printf("Incremental selection, %u files (%u per directory) with %u changed after the reference, "
               "btrfs on loop (noatime), warm cache, %u runs round robin after one warm-up; kernel %s, %ld CPUs.\n\n",
               b.files, FILES_PER_DIR, b.changed, b.runs, u.release, sysconf(_SC_NPROCESSORS_ONLN));
        printf("| contender | median | p10–p90 | files found | vs find |\n");
        printf("|---|---|---|---|---|\n");
        qsort(contenders[baseline].ms, b.runs, sizeof(double), double_cmp);
        for (size_t i = 0; i < ELEMENTSOF(contenders); i++) {
                Contender *ct = &contenders[i];
                double med;

                if (i != baseline)
                        qsort(ct->ms, b.runs, sizeof(double), double_cmp);
                med = percentile(ct->ms, b.runs, 50);
                printf("| %s | %.1f ms | %.1f–%.1f ms | %u | %.2fx |\n", ct->name, med, percentile(ct->ms, b.runs, 10),
                       percentile(ct->ms, b.runs, 90), ct->found,
                       percentile(contenders[baseline].ms, b.runs, 50) / med);
        }
        printf("\n\"vs find\" is find's median divided by the row's (above 1: faster than find).\n");
        bench_done(&b);
        return 0;
}
