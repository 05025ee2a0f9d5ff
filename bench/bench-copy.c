/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-copy.c: how fast `vssbackup backup --type full` copies a volume, against the plain
 * sequential read of the same data (issue 4's "backup copy throughput" benchmark). It owns the
 * whole comparison: a loop-mounted btrfs with two subvolumes (two 1 GiB incompressible files;
 * 20 000 small files, half of them compressible text), a read-only snapshot of each for the
 * baseline, a private vssd with the real btrfs provider, and the markdown table.
 *
 * The baseline is what any backup must at least do: open every file of the snapshot
 * O_NOATIME and read it through a 1 MiB buffer. Both sides run cold (page cache dropped right
 * before) and warm (right after a read of the same data), round robin, so background noise
 * falls on all rows alike. vssbackup is timed as a whole command (snapshot with vssd, listing,
 * selection, zstd archive, fsync, documents) and, from its last progress line, its copy phase.
 *
 *   bench_copy [--runs N] [--small-files N] [--big-mib N] [--keep-log]
 *
 * Needs root (loop devices, mount, drop_caches); exits 77 otherwise.
 */
#include <btrfsutil.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench-util.h"
#include "macro.h"
#include "root-harness.h"

#ifndef BENCH_VSSD_PATH
#define BENCH_VSSD_PATH "vssd"
#endif
#ifndef BENCH_VSSBACKUP_PATH
#define BENCH_VSSBACKUP_PATH "vssbackup"
#endif

#define IMAGE_SIZE (16ULL << 30)
#define READ_BUF (1U << 20)
#define MAX_RUNS 50
#define WAIT_MS 10000
#define MIB (1024.0 * 1024.0)

DEFINE_TRIVIAL_CLEANUP_FUNC(DIR *, closedir);
#define _cleanup_closedir_ _cleanup_(closedirp)

typedef struct Options {
        unsigned runs;
        unsigned small_files;
        unsigned big_mib;
        const char *vssd;
        const char *vssbackup;
} Options;

/* One data set: its subvolume, the baseline's snapshot of it, and its samples (MiB/s). */
typedef struct DataSet {
        const char *name;
        char *subvol;
        char *snap;
        uint64_t bytes;
        uint64_t files;
        double read_cold[MAX_RUNS], read_warm[MAX_RUNS];
        double vb_cold[MAX_RUNS], vb_warm[MAX_RUNS];
        double copy_cold[MAX_RUNS], copy_warm[MAX_RUNS];
        unsigned n_copy_cold, n_copy_warm;
} DataSet;

typedef struct Bench {
        const Options *opts;
        LoopBtrfs fs;
        char *socket;
        char *state_dir;
        char *vssd_log;
        char *vb_log;
        char *archive;
        pid_t vssd;
        uint8_t *buf;
        uint64_t rng;
} Bench;

static uint64_t rng_next(Bench *b) {
        /* xorshift64*: fast enough to fill gigabytes, and zstd finds nothing to squeeze. */
        b->rng ^= b->rng >> 12;
        b->rng ^= b->rng << 25;
        b->rng ^= b->rng >> 27;
        return b->rng * 0x2545F4914F6CDD1DULL;
}

static void fill_random(Bench *b, uint8_t *p, size_t n) {
        size_t i = 0;

        for (; i + 8 <= n; i += 8) {
                uint64_t v = rng_next(b);

                memcpy(p + i, &v, 8);
        }
        for (; i < n; i++)
                p[i] = (uint8_t) rng_next(b);
}

/* Text made of common words: compresses roughly 3–4× with zstd level 1, like logs or source. */
static void fill_text(Bench *b, uint8_t *p, size_t n) {
        static const char *const words[] = {
                "the", "volume", "shadow", "copy", "service", "writer", "backup", "restore", "snapshot",
                "component", "metadata", "file", "log", "database", "freeze", "thaw", "and", "of",
                "requester", "provider", "incremental", "differential", "stamp", "document",
        };
        size_t i = 0;

        while (i < n) {
                uint64_t r = rng_next(b);
                const char *w = words[r % ELEMENTSOF(words)];
                size_t l = strlen(w);

                for (size_t k = 0; k < l && i < n; k++)
                        p[i++] = (uint8_t) w[k];
                if (i < n)
                        p[i++] = (r >> 32) % 12 == 0 ? '\n' : ' ';
        }
}

static int write_all(int fd, const uint8_t *p, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, p, n);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

/* Data set (a): two files of big_mib MiB of random bytes. */
static int make_big_files(Bench *b, DataSet *d) {
        for (unsigned f = 0; f < 2; f++) {
                _cleanup_free_ char *path = NULL;
                _cleanup_close_ int fd = -EBADF;
                int r;

                if (asprintf(&path, "%s/big%u.bin", d->subvol, f) < 0)
                        return -ENOMEM;
                fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
                if (fd < 0)
                        return -errno;
                for (unsigned m = 0; m < b->opts->big_mib; m++) {
                        fill_random(b, b->buf, READ_BUF);
                        r = write_all(fd, b->buf, READ_BUF);
                        if (r < 0)
                                return r;
                }
                d->bytes += (uint64_t) b->opts->big_mib * READ_BUF;
                d->files++;
        }
        return syncfs_path(d->subvol);
}

/* Data set (b): small files of 4–52 KiB (≈ 28 KiB mean), 100 per directory, even ones text,
 * odd ones random. */
static int make_small_files(Bench *b, DataSet *d) {
        _cleanup_close_ int top = -EBADF, sub = -EBADF;
        char name[32];

        top = open(d->subvol, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (top < 0)
                return -errno;
        for (unsigned i = 0; i < b->opts->small_files; i++) {
                size_t size = 4096 + (size_t) (rng_next(b) % (48 * 1024 + 1));
                _cleanup_close_ int fd = -EBADF;
                int r;

                if (i % 100 == 0) {
                        (void) snprintf(name, sizeof(name), "d%04u", i / 100);
                        if (sub >= 0)
                                (void) close(sub);
                        if (mkdirat(top, name, 0755) < 0)
                                return -errno;
                        sub = openat(top, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        if (sub < 0)
                                return -errno;
                }
                (void) snprintf(name, sizeof(name), "f%06u", i);
                fd = openat(sub, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
                if (fd < 0)
                        return -errno;
                if (i % 2 == 0)
                        fill_text(b, b->buf, size);
                else
                        fill_random(b, b->buf, size);
                r = write_all(fd, b->buf, size);
                if (r < 0)
                        return r;
                d->bytes += size;
                d->files++;
        }
        return syncfs(top) < 0 ? -errno : 0;
}

/* The baseline: every regular file below dirfd read O_NOATIME through buf. Adds the bytes. */
static int read_tree(int dirfd, uint8_t *buf, uint64_t *bytes) {
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        int fd;

        fd = dup(dirfd);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                (void) close(fd);
                return -errno;
        }
        while ((errno = 0, de = readdir(d))) {
                _cleanup_close_ int child = -EBADF;
                int r;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (de->d_type == DT_DIR) {
                        child = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOATIME | O_CLOEXEC);
                        if (child < 0)
                                return -errno;
                        r = read_tree(child, buf, bytes);
                        if (r < 0)
                                return r;
                } else if (de->d_type == DT_REG) {
                        ssize_t k;

                        child = openat(dirfd, de->d_name, O_RDONLY | O_NOATIME | O_CLOEXEC);
                        if (child < 0)
                                return -errno;
                        while ((k = read(child, buf, READ_BUF)) > 0)
                                *bytes += (uint64_t) k;
                        if (k < 0)
                                return -errno;
                }
        }
        return errno > 0 ? -errno : 0;
}

static int drop_caches(void) {
        _cleanup_close_ int fd = -EBADF;

        sync();
        fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        return write(fd, "3\n", 2) == 2 ? 0 : -errno;
}

/* Reads the data set's snapshot; *ret_mibs its rate. The bytes read must be the data set's. */
static int measure_read(Bench *b, DataSet *d, double *ret_mibs) {
        _cleanup_close_ int top = -EBADF;
        uint64_t bytes = 0, start;
        double secs;
        int r;

        start = now_usec();
        top = open(d->snap, O_RDONLY | O_DIRECTORY | O_NOATIME | O_CLOEXEC);
        if (top < 0)
                return -errno;
        r = read_tree(top, b->buf, &bytes);
        if (r < 0)
                return r;
        secs = (double) (now_usec() - start) / 1e6;
        if (bytes != d->bytes)
                return -EIO;
        *ret_mibs = (double) bytes / MIB / secs;
        return 0;
}

/* The rate of vssbackup's last "backup: ... files, X UNIT/s, done" line in its log, in MiB/s.
 * Returns 1 when found, 0 when it printed none. */
static int parse_copy_rate(const char *log, double *ret_mibs) {
        _cleanup_free_ char *text = NULL;
        const char *p, *line = NULL;
        double v;
        char unit[8];
        int r;

        r = read_file_full(log, &text, NULL);
        if (r < 0)
                return r;
        for (p = strstr(text, "files, "); p; p = strstr(p + 1, "files, "))
                if (strncmp(strchrnul(p, '\n') - strlen(", done"), ", done", strlen(", done")) == 0)
                        line = p;
        if (!line || sscanf(line, "files, %lf %7[A-Za-z]/s", &v, unit) != 2)
                return 0;
        if (streq(unit, "B"))
                v /= MIB;
        else if (streq(unit, "KiB"))
                v /= 1024.0;
        else if (streq(unit, "GiB"))
                v *= 1024.0;
        else if (streq(unit, "TiB"))
                v *= 1024.0 * 1024.0;
        else if (!streq(unit, "MiB"))
                return 0;
        *ret_mibs = v;
        return 1;
}

/* One `vssbackup backup --type full SUBVOL --to ARCHIVE`, timed as a whole; the backup it made
 * is removed afterwards (untimed). *ret_copy is set (and 1 returned) when it printed its rate. */
static int measure_vssbackup(Bench *b, DataSet *d, double *ret_mibs, double *ret_copy) {
        char *argv[] = { (char *) b->opts->vssbackup, (char *) "backup", (char *) "--type", (char *) "full",
                         d->subvol, (char *) "--to", b->archive, (char *) "--socket", b->socket, NULL };
        uint64_t start;
        double secs;
        pid_t pid;
        int status, r, found;

        if (truncate(b->vb_log, 0) < 0 && errno != ENOENT)
                return -errno;
        start = now_usec();
        r = spawn_logged(argv, b->vb_log, &pid);
        if (r < 0)
                return r;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        secs = (double) (now_usec() - start) / 1e6;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                _cleanup_free_ char *text = NULL;

                if (read_file_full(b->vb_log, &text, NULL) >= 0)
                        fprintf(stderr, "vssbackup failed:\n%s", text);
                return -EPROTO;
        }
        found = parse_copy_rate(b->vb_log, ret_copy);
        if (found < 0)
                return found;

        /* Start the next run from an empty backup directory: a full builds on nothing anyway. */
        r = rm_rf_physical(b->archive);
        if (r < 0)
                return r;
        if (mkdir(b->archive, 0700) < 0)
                return -errno;
        r = syncfs_path(b->archive);
        if (r < 0)
                return r;
        *ret_mibs = (double) d->bytes / MIB / secs;
        return found;
}

static int dataset_setup(Bench *b, DataSet *d, const char *name, bool big) {
        int r;

        d->name = name;
        if (asprintf(&d->subvol, "%s/%s", b->fs.mnt, name) < 0 ||
            asprintf(&d->snap, "%s/%s-snap", b->fs.mnt, name) < 0)
                return -ENOMEM;
        if (btrfs_util_create_subvolume(d->subvol, 0, NULL, NULL) != BTRFS_UTIL_OK)
                return -EIO;
        r = big ? make_big_files(b, d) : make_small_files(b, d);
        if (r < 0)
                return r;
        if (btrfs_util_create_snapshot(d->subvol, d->snap, BTRFS_UTIL_CREATE_SNAPSHOT_READ_ONLY, NULL, NULL) !=
            BTRFS_UTIL_OK)
                return -EIO;
        return 0;
}

/* Round robin per run: read cold, vssbackup cold, (untimed read) read warm, vssbackup warm. */
static int dataset_measure(Bench *b, DataSet *d) {
        double ignored;
        int r;

        for (unsigned i = 0; i < b->opts->runs; i++) {
                double copy;

                r = drop_caches();
                if (r < 0)
                        return r;
                r = measure_read(b, d, &d->read_cold[i]);
                if (r < 0)
                        return r;

                r = drop_caches();
                if (r < 0)
                        return r;
                r = measure_vssbackup(b, d, &d->vb_cold[i], &copy);
                if (r < 0)
                        return r;
                if (r > 0)
                        d->copy_cold[d->n_copy_cold++] = copy;

                r = measure_read(b, d, &ignored);
                if (r < 0)
                        return r;
                r = measure_read(b, d, &d->read_warm[i]);
                if (r < 0)
                        return r;

                r = measure_vssbackup(b, d, &d->vb_warm[i], &copy);
                if (r < 0)
                        return r;
                if (r > 0)
                        d->copy_warm[d->n_copy_warm++] = copy;
                fprintf(stderr, "%s run %u: read %.0f/%.0f MiB/s, vssbackup %.0f/%.0f MiB/s (cold/warm)\n", d->name,
                        i + 1, d->read_cold[i], d->read_warm[i], d->vb_cold[i], d->vb_warm[i]);
        }
        return 0;
}

static void print_row(const char *what, double *v, unsigned n, double base) {
        if (n == 0) {
                printf("| %s | 0 | – | – | – |\n", what);
                return;
        }
        stats_sort(v, n);
        if (base > 0)
                printf("| %s | %u | %.0f | %.0f–%.0f | %.2f× |\n", what, n, stats_median(v, n), v[0], v[n - 1],
                       stats_median(v, n) / base);
        else
                printf("| %s | %u | %.0f | %.0f–%.0f | baseline |\n", what, n, stats_median(v, n), v[0], v[n - 1]);
}

static void print_table(const Bench *b, DataSet *d) {
        unsigned n = b->opts->runs;
        double cold, warm;

        printf("\n### %s: %" PRIu64 " files, %.1f MiB\n\n", d->name, d->files, (double) d->bytes / MIB);
        printf("| case | runs | median MiB/s | min–max MiB/s | ratio to read |\n|---|---|---|---|---|\n");
        print_row("plain read, cold (baseline)", d->read_cold, n, 0);
        cold = stats_median(d->read_cold, n);
        print_row("vssbackup backup --type full, whole command, cold", d->vb_cold, n, cold);
        print_row("vssbackup copy phase (its progress line), cold", d->copy_cold, d->n_copy_cold, cold);
        print_row("plain read, warm (baseline)", d->read_warm, n, 0);
        warm = stats_median(d->read_warm, n);
        print_row("vssbackup backup --type full, whole command, warm", d->vb_warm, n, warm);
        print_row("vssbackup copy phase (its progress line), warm", d->copy_warm, d->n_copy_warm, warm);
}

static void print_loadavg(const char *when) {
        _cleanup_free_ char *text = NULL;
        float a, b, c;

        if (read_file_full("/proc/loadavg", &text, NULL) >= 0 && sscanf(text, "%f %f %f", &a, &b, &c) == 3)
                printf("Load average (1, 5, 15 min) %s: %.2f %.2f %.2f\n", when, a, b, c);
}

static int bench_setup(Bench *b) {
        int r;

        b->buf = malloc(READ_BUF);
        if (!b->buf)
                return -ENOMEM;
        r = loop_btrfs_setup("/var/tmp/vss-bench-copy-XXXXXX", IMAGE_SIZE, &b->fs);
        if (r < 0)
                return r;
        if (asprintf(&b->socket, "%s/vssd.sock", b->fs.dir) < 0 ||
            asprintf(&b->state_dir, "%s/state", b->fs.dir) < 0 ||
            asprintf(&b->vssd_log, "%s/vssd.log", b->fs.dir) < 0 ||
            asprintf(&b->vb_log, "%s/vssbackup.log", b->fs.dir) < 0 ||
            asprintf(&b->archive, "%s/archive", b->fs.dir) < 0)
                return -ENOMEM;
        if (mkdir(b->state_dir, 0700) < 0 || mkdir(b->archive, 0700) < 0)
                return -errno;
        r = spawn_logged((char *const[]) { (char *) b->opts->vssd, (char *) "--socket", b->socket,
                                           (char *) "--state-dir", b->state_dir, NULL },
                         b->vssd_log, &b->vssd);
        if (r < 0)
                return r;
        r = unix_socket_wait(b->socket, b->vssd, WAIT_MS);
        if (r == -ESRCH)
                b->vssd = 0;
        return r;
}

static void bench_teardown(Bench *b, DataSet *sets, size_t n) {
        (void) process_stop(b->vssd, 5000);
        for (size_t i = 0; i < n; i++) {
                if (sets[i].snap)
                        (void) btrfs_util_delete_subvolume(sets[i].snap, 0);
                free(sets[i].subvol);
                free(sets[i].snap);
        }
        (void) loop_btrfs_teardown(&b->fs);
        free(b->socket);
        free(b->state_dir);
        free(b->vssd_log);
        free(b->vb_log);
        free(b->archive);
        free(b->buf);
}

static int parse_options(int argc, char *argv[], Options *o) {
        static const struct option longopts[] = {
                { "runs", required_argument, NULL, 'r' },
                { "small-files", required_argument, NULL, 's' },
                { "big-mib", required_argument, NULL, 'm' },
                { "vssd", required_argument, NULL, 'd' },
                { "vssbackup", required_argument, NULL, 'b' },
                {}
        };
        int c;

        while ((c = getopt_long(argc, argv, "", longopts, NULL)) >= 0) {
                unsigned long v = 0;

                if (c == 'r' || c == 's' || c == 'm') {
                        char *end;

                        errno = 0;
                        v = strtoul(optarg, &end, 10);
                        if (errno != 0 || *end || v == 0 || v > 1000000)
                                return -EINVAL;
                }
                switch (c) {
                case 'r':
                        if (v > MAX_RUNS)
                                return -EINVAL;
                        o->runs = (unsigned) v;
                        break;
                case 's':
                        o->small_files = (unsigned) v;
                        break;
                case 'm':
                        o->big_mib = (unsigned) v;
                        break;
                case 'd':
                        o->vssd = optarg;
                        break;
                case 'b':
                        o->vssbackup = optarg;
                        break;
                default:
                        return -EINVAL;
                }
        }
        return optind == argc ? 0 : -EINVAL;
}

int main(int argc, char *argv[]) {
        Options o = {
                .runs = 5,
                .small_files = 20000,
                .big_mib = 1024,
                .vssd = BENCH_VSSD_PATH,
                .vssbackup = BENCH_VSSBACKUP_PATH,
        };
        Bench b = { .opts = &o, .rng = 0x9E3779B97F4A7C15ULL };
        DataSet sets[2] = {};
        struct utsname u;
        uint64_t start = now_usec();
        int r;

        if (parse_options(argc, argv, &o) < 0) {
                fprintf(stderr, "usage: %s [--runs N] [--small-files N] [--big-mib N] [--vssd PATH] [--vssbackup PATH]\n",
                        argv[0]);
                return 2;
        }
        if (geteuid() != 0) {
                fprintf(stderr, "bench_copy needs root (loop devices, drop_caches); skipping\n");
                return 77;
        }

        (void) uname(&u);
        printf("Command: %s\nKernel: %s %s %s, %ld CPUs\n", argv[0], u.sysname, u.release, u.machine,
               sysconf(_SC_NPROCESSORS_ONLN));
        print_loadavg("at start");

        r = bench_setup(&b);
        if (r >= 0)
                r = dataset_setup(&b, &sets[0], "big", true);
        if (r >= 0)
                r = dataset_setup(&b, &sets[1], "small", false);
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(sets); i++)
                r = dataset_measure(&b, &sets[i]);
        if (r < 0) {
                fprintf(stderr, "bench_copy: %s\n", strerror(-r));
                bench_teardown(&b, sets, ELEMENTSOF(sets));
                return 1;
        }

        printf("Volume: loop-mounted btrfs (%llu GiB sparse image), one subvolume per data set; baseline reads a "
               "read-only snapshot of it, O_NOATIME, 1 MiB buffer; vssbackup backs up the subvolume (its own snapshot "
               "through vssd, btrfs provider) to a directory on the host filesystem; cold = sync + drop_caches=3 just "
               "before; %u runs per row, round robin\n",
               IMAGE_SIZE >> 30, o.runs);
        for (size_t i = 0; i < ELEMENTSOF(sets); i++)
                print_table(&b, &sets[i]);
        printf("\nWhole run %.0f s\n", (double) (now_usec() - start) / 1e6);
        print_loadavg("at end");

        bench_teardown(&b, sets, ELEMENTSOF(sets));
        return 0;
}
