/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-copy.c: how fast vssbackup backs up and restores a volume, against the floors and the
 * tools people would otherwise use, all in one run on the same data (issues 4 and 11). It
 * owns the whole comparison: a loop-mounted btrfs with three subvolumes (two large
 * incompressible files; 20 000 small files, half of them compressible text; 200 000 tiny
 * files for the incremental), a read-only snapshot of each for the baselines, a private vssd
 * with the real btrfs provider, and the markdown tables.
 *
 * For the large and the small data set, per run and round robin, every row cold (sync +
 * drop_caches right before):
 *   - plain read: every file of the snapshot opened O_NOATIME, read through a 1 MiB buffer
 *     (what any backup must at least do; the baseline of the backup rows);
 *   - `tar -C SNAP -I 'zstd -T0' -cf OUT .` and `sync OUT`;
 *   - `restic backup SNAP` into a fresh local repository (made untimed before);
 *   - `vssbackup backup --type full` (whole command: VSS, snapshot, listing, archive, fsyncs),
 *     and its copy phase from its last progress line;
 *   - plain copy: `cp -a SNAP/. DEST` and `sync -f DEST` (the baseline of the restore row);
 *   - `vssbackup restore` of that backup to an empty directory (ends with syncfs).
 * For the incremental: the tiny-file subvolume gets a full backup (untimed); then per run
 * `--changed` files are rewritten with 4–52 KiB each, and, cold, copying just those files out
 * of a snapshot (plus syncfs) is timed against `vssbackup backup --type incremental`.
 *
 * Backups go to up to three places, each with its own rows (--targets; default host,dev):
 * "host", a directory on the host filesystem that also holds the volume's image (backup and
 * source on one disk); "dev", an ext4 of its own on a loop device backed by /dev/shm, its
 * image allocated in full before the first row (a backup normally goes to another device than
 * the one it reads, whose blocks exist before they are written: dev_image_allocate); "tmpfs",
 * a target that costs the copy into memory and the allocation of fresh pages, so that what is
 * left is the reading side.
 *
 *   bench_copy [--runs N] [--small-files N] [--big-mib N] [--inc-files N] [--changed N]
 *              [--sets big,small,inc] [--targets host,dev,tmpfs] [--compare OTHER-VSSBACKUP]
 *
 * --compare runs another vssbackup (an older build) in the same runs, interleaved (it goes
 * first on every other run), with rows of its own: a before/after under the same load.
 *
 * Needs root (loop devices, mount, drop_caches); exits 77 otherwise. tar, zstd and restic are
 * taken from PATH; a tool that is missing gets a row saying so.
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
#include <sys/mount.h>
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
#define SMALL_FILE_MIN (4U * 1024U)    /* a small or changed file's size, at least */
#define SMALL_FILE_MAX (52U * 1024U)   /* and at most */
#define MAX_RUNS 50
#define MAX_CHANGED 10000
#define WAIT_MS 10000
#define MIB (1024.0 * 1024.0)

DEFINE_TRIVIAL_CLEANUP_FUNC(DIR *, closedir);
#define _cleanup_closedir_ _cleanup_(closedirp)

typedef struct Options {
        unsigned runs;
        unsigned small_files;
        unsigned big_mib;
        unsigned inc_files;
        unsigned changed;
        unsigned sets;          /* SET_* bits: which data sets run */
        unsigned targets;       /* bits of Target: where backups and the copy baselines' sources go */
        const char *vssd;
        const char *vssbackup;
        const char *compare;    /* another vssbackup (an older build): its rows in the same runs */
} Options;

/* Which data sets run (--sets). */
enum { SET_BIG = 1U << 0, SET_SMALL = 1U << 1, SET_INC = 1U << 2 };

/*
 * Where the archive, tar's file and restic's repository go (--targets). TARGET_HOST is the
 * directory on the host filesystem that also holds the volume's image: backup and source share
 * one disk. TARGET_DEV is an ext4 of its own on a loop device backed by /dev/shm, the way a
 * backup normally goes to another device than the one it reads; TARGET_TMPFS is a tmpfs, a
 * target that costs nothing but the copy into memory (no block layer, no loop thread, fsync
 * free), so that what remains is the reading side. Restores and copies always write to the
 * host filesystem; with another target they read from it (the copy baseline from a plain
 * copy of the tree placed there untimed).
 */
typedef enum Target { TARGET_HOST, TARGET_DEV, TARGET_TMPFS, _TARGET_MAX } Target;

typedef struct Samples {
        double v[MAX_RUNS];
        unsigned n;
} Samples;

/* One data set: its subvolume, the baselines' snapshot of it, and its samples (MiB/s). */
typedef struct DataSet {
        const char *name;
        char *subvol;
        char *snap;
        uint64_t bytes;
        uint64_t files;
        Samples read;
        Samples tar[_TARGET_MAX], restic[_TARGET_MAX], vb[_TARGET_MAX], vb_copy[_TARGET_MAX], copy[_TARGET_MAX],
                restore[_TARGET_MAX];
        Samples cmp_vb[_TARGET_MAX], cmp_restore[_TARGET_MAX];   /* --compare */
} DataSet;

/* The incremental: its subvolume, its own backup directory, and its samples (ms). */
typedef struct IncSet {
        char *subvol;
        char *snap;
        char *backups;
        uint64_t changed_bytes;
        Samples copy, inc, inc_copy;
} IncSet;

typedef struct Bench {
        const Options *opts;
        LoopBtrfs fs;
        char *socket;
        char *state_dir;
        char *vssd_log;
        char *log;
        char *archive;
        char *out;              /* scratch on the host filesystem: tar's file, copies, restores */
        char *restic_repo;
        BenchFs dev;            /* TARGET_DEV */
        uint64_t dev_size;      /* its image, all allocated (dev_image_size) */
        char *tmpfs;            /* TARGET_TMPFS: its mount point, NULL when not mounted */
        char *t_archive[_TARGET_MAX], *t_scratch[_TARGET_MAX], *t_restic[_TARGET_MAX];
        char *restic_cache;
        pid_t vssd;
        uint8_t *buf;
        bool have_tar, have_restic;
        uint64_t rng;
} Bench;

static uint64_t rng_next(Bench *b) {
        /* xorshift64*: fast enough to fill gigabytes, and zstd finds nothing to squeeze. */
        b->rng ^= b->rng >> 12;
        b->rng ^= b->rng << 25;
        b->rng ^= b->rng >> 27;
        return b->rng * 0x2545F4914F6CDD1DULL;
}

/* The size of one small file of data set (b), or of one changed file of (c). */
static size_t small_file_size(Bench *b) {
        return SMALL_FILE_MIN + (size_t) (rng_next(b) % (SMALL_FILE_MAX - SMALL_FILE_MIN + 1));
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
                size_t size = small_file_size(b);
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


static void samples_add(Samples *s, double v) {
        if (s->n < MAX_RUNS)
                s->v[s->n++] = v;
}

/* Runs argv to completion with its output in the bench log; its exit status must be 0. */
static int run_command(Bench *b, char *const argv[]) {
        pid_t pid;
        int status, r;

        if (truncate(b->log, 0) < 0 && errno != ENOENT)
                return -errno;
        r = spawn_logged(argv, b->log, &pid);
        if (r < 0)
                return r;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                _cleanup_free_ char *text = NULL;

                if (read_file_full(b->log, &text, NULL) >= 0)
                        fprintf(stderr, "%s failed:\n%s", argv[0], text);
                return -EPROTO;
        }
        return 0;
}

/* An empty directory at path (whatever was there removed first), and the removal on disk. */
static int fresh_dir(const char *path) {
        int r = rm_rf_physical(path);

        if (r < 0)
                return r;
        if (mkdir(path, 0700) < 0)
                return -errno;
        return syncfs_path(path);
}

/* The one backup in dir (vssbackup names it after the time): *ret is its path. */
static int only_backup(const char *dir, char **ret) {
        _cleanup_closedir_ DIR *d = opendir(dir);
        struct dirent *de;

        if (!d)
                return -errno;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.' && de->d_type == DT_DIR)
                        return asprintf(ret, "%s/%s", dir, de->d_name) < 0 ? -ENOMEM : 0;
        return -ENOENT;
}

static double mibs(const DataSet *d, uint64_t start) {
        return (double) d->bytes / MIB / ((double) (now_usec() - start) / 1e6);
}

static int measure_tar(Bench *b, DataSet *d, Target t) {
        _cleanup_free_ char *out = NULL;
        uint64_t start;
        int r;

        if (asprintf(&out, "%s/tar.tar.zst", b->t_scratch[t]) < 0)
                return -ENOMEM;
        r = drop_caches();
        if (r < 0)
                return r;
        start = now_usec();
        r = run_command(b, (char *const[]) { (char *) "tar", (char *) "-C", d->snap, (char *) "-I", (char *) "zstd -T0",
                                             (char *) "-cf", out, (char *) ".", NULL });
        if (r >= 0)
                r = run_command(b, (char *const[]) { (char *) "sync", out, NULL });
        if (r < 0)
                return r;
        samples_add(&d->tar[t], mibs(d, start));
        return fresh_dir(b->t_scratch[t]);
}

static int measure_restic(Bench *b, DataSet *d, Target t) {
        uint64_t start;
        int r;

        r = rm_rf_physical(b->t_restic[t]);
        if (r < 0)
                return r;
        r = run_command(b, (char *const[]) { (char *) "restic", (char *) "-r", b->t_restic[t], (char *) "--cache-dir",
                                             b->restic_cache, (char *) "-q", (char *) "init", NULL });
        if (r < 0)
                return r;
        r = drop_caches();
        if (r < 0)
                return r;
        start = now_usec();
        r = run_command(b, (char *const[]) { (char *) "restic", (char *) "-r", b->t_restic[t], (char *) "--cache-dir",
                                             b->restic_cache, (char *) "-q", (char *) "backup", d->snap, NULL });
        if (r < 0)
                return r;
        samples_add(&d->restic[t], mibs(d, start));
        r = rm_rf_physical(b->t_restic[t]);
        if (r >= 0)
                r = syncfs_path(b->fs.dir);
        if (r >= 0)
                r = syncfs_path(b->t_scratch[t]);
        return r;
}

/* `vssbackup backup --type full SUBVOL --to ARCHIVE`, timed as a whole; the backup stays
 * for the restore row. */
static int measure_vssbackup(Bench *b, DataSet *d, Target t, const char *vssbackup, Samples *vb, Samples *vb_copy) {
        uint64_t start;
        double copy;
        int r;

        r = fresh_dir(b->t_archive[t]);
        if (r >= 0)
                r = drop_caches();
        if (r < 0)
                return r;
        start = now_usec();
        r = run_command(b, (char *const[]) { (char *) vssbackup, (char *) "backup", (char *) "--type",
                                             (char *) "full", d->subvol, (char *) "--to", b->t_archive[t], (char *) "--socket",
                                             b->socket, NULL });
        if (r < 0)
                return r;
        samples_add(vb, mibs(d, start));
        r = parse_copy_rate(b->log, &copy);
        if (r > 0 && vb_copy)
                samples_add(vb_copy, copy);
        return r < 0 ? r : 0;
}

/* `cp -a` + `sync -f` into the host filesystem: from the snapshot (host target), or from a
 * plain copy of it put on the backup device untimed (dev target), so that the copy reads
 * where the restore reads. */
static int measure_copy(Bench *b, DataSet *d, Target t) {
        _cleanup_free_ char *src = NULL, *dst = NULL, *tree = NULL;
        uint64_t start;
        int r;

        if (asprintf(&dst, "%s/copy", b->out) < 0)
                return -ENOMEM;
        if (t != TARGET_HOST) {
                _cleanup_free_ char *snap = NULL;

                if (asprintf(&snap, "%s/.", d->snap) < 0 || asprintf(&tree, "%s/tree", b->t_scratch[t]) < 0)
                        return -ENOMEM;
                if (mkdir(tree, 0700) < 0)
                        return -errno;
                r = run_command(b, (char *const[]) { (char *) "cp", (char *) "-a", snap, tree, NULL });
                if (r < 0)
                        return r;
        }
        if (asprintf(&src, "%s/.", tree ?: d->snap) < 0)
                return -ENOMEM;
        if (mkdir(dst, 0700) < 0)
                return -errno;
        r = drop_caches();
        if (r < 0)
                return r;
        start = now_usec();
        r = run_command(b, (char *const[]) { (char *) "cp", (char *) "-a", src, dst, NULL });
        if (r >= 0)
                r = run_command(b, (char *const[]) { (char *) "sync", (char *) "-f", dst, NULL });
        if (r < 0)
                return r;
        samples_add(&d->copy[t], mibs(d, start));
        r = fresh_dir(b->out);
        if (r >= 0 && t != TARGET_HOST)
                r = fresh_dir(b->t_scratch[t]);
        return r;
}

/* Restores the backup measure_vssbackup left into the host filesystem, then removes both
 * (untimed). */
static int measure_restore(Bench *b, DataSet *d, Target t, const char *vssbackup, Samples *restore) {
        _cleanup_free_ char *backup = NULL, *dst = NULL;
        uint64_t start;
        int r;

        if (asprintf(&dst, "%s/restore", b->out) < 0)
                return -ENOMEM;
        r = only_backup(b->t_archive[t], &backup);
        if (r < 0)
                return r;
        if (mkdir(dst, 0700) < 0)
                return -errno;
        r = drop_caches();
        if (r < 0)
                return r;
        start = now_usec();
        r = run_command(b, (char *const[]) { (char *) vssbackup, (char *) "restore", backup, (char *) "--to", dst,
                                             (char *) "--no-writers", (char *) "--quiet", NULL });
        if (r < 0)
                return r;
        samples_add(restore, mibs(d, start));
        r = fresh_dir(b->out);
        if (r >= 0)
                r = fresh_dir(b->t_archive[t]);
        return r;
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

static const char *target_name(Target t) {
        return t == TARGET_DEV ? "backup device" : t == TARGET_TMPFS ? "tmpfs" : "same disk";
}

/* One run of every row, in a fixed order; each row starts cold. */
static int dataset_measure(Bench *b, DataSet *d) {
        for (unsigned i = 0; i < b->opts->runs; i++) {
                double read = 0;
                int r;

                r = drop_caches();
                if (r >= 0)
                        r = measure_read(b, d, &read);
                if (r < 0)
                        return r;
                samples_add(&d->read, read);
                for (Target t = 0; t < _TARGET_MAX; t++) {
                        if (!(b->opts->targets & (1U << t)))
                                continue;
                        if (r >= 0 && b->have_tar)
                                r = measure_tar(b, d, t);
                        if (r >= 0 && b->have_restic)
                                r = measure_restic(b, d, t);
                        /* --compare: the other build's backup and restore, first on every other run. */
                        if (r >= 0 && b->opts->compare && i % 2 == 1)
                                r = measure_vssbackup(b, d, t, b->opts->compare, &d->cmp_vb[t], NULL);
                        if (r >= 0 && b->opts->compare && i % 2 == 1)
                                r = measure_restore(b, d, t, b->opts->compare, &d->cmp_restore[t]);
                        if (r >= 0)
                                r = measure_vssbackup(b, d, t, b->opts->vssbackup, &d->vb[t], &d->vb_copy[t]);
                        if (r >= 0)
                                r = measure_copy(b, d, t);
                        if (r >= 0)
                                r = measure_restore(b, d, t, b->opts->vssbackup, &d->restore[t]);
                        if (r >= 0 && b->opts->compare && i % 2 == 0)
                                r = measure_vssbackup(b, d, t, b->opts->compare, &d->cmp_vb[t], NULL);
                        if (r >= 0 && b->opts->compare && i % 2 == 0)
                                r = measure_restore(b, d, t, b->opts->compare, &d->cmp_restore[t]);
                        if (r < 0)
                                return r;
                        fprintf(stderr,
                                "%s run %u, %s: read %.0f, tar %.0f, restic %.0f, vssbackup %.0f, copy %.0f, restore %.0f MiB/s\n",
                                d->name, i + 1, target_name(t), read, d->tar[t].n ? d->tar[t].v[d->tar[t].n - 1] : 0,
                                d->restic[t].n ? d->restic[t].v[d->restic[t].n - 1] : 0, d->vb[t].v[d->vb[t].n - 1],
                                d->copy[t].v[d->copy[t].n - 1], d->restore[t].v[d->restore[t].n - 1]);
                }
        }
        return 0;
}

/* The tiny-file subvolume, its snapshot path, and a full backup of it (untimed). */
static int inc_setup(Bench *b, IncSet *s) {
        int r;

        if (asprintf(&s->subvol, "%s/inc", b->fs.mnt) < 0 || asprintf(&s->snap, "%s/inc-snap", b->fs.mnt) < 0 ||
            asprintf(&s->backups, "%s/inc-backups", b->fs.dir) < 0)
                return -ENOMEM;
        if (btrfs_util_create_subvolume(s->subvol, 0, NULL, NULL) != BTRFS_UTIL_OK)
                return -EIO;
        r = populate_tree(s->subvol, b->opts->inc_files);
        if (r < 0)
                return r;
        r = fresh_dir(s->backups);
        if (r < 0)
                return r;
        return run_command(b, (char *const[]) { (char *) b->opts->vssbackup, (char *) "backup", (char *) "--type",
                                                (char *) "full", s->subvol, (char *) "--to", s->backups, (char *) "--socket",
                                                b->socket, NULL });
}

/* File number k of populate_tree's layout, relative to its top. */
static void inc_path(unsigned k, char buf[static 32]) {
        (void) snprintf(buf, 32, "d%04u/f%06u", k / 100, k);
}

static int inc_measure(Bench *b, IncSet *s) {
        unsigned n = MIN(b->opts->changed, b->opts->inc_files);
        _cleanup_free_ char *dst = NULL;

        if (asprintf(&dst, "%s/inc-copy", b->out) < 0)
                return -ENOMEM;

        for (unsigned run = 0; run < b->opts->runs; run++) {
                _cleanup_close_ int top = -EBADF, snap = -EBADF, out = -EBADF;
                uint64_t start, bytes = 0;
                double rate;
                char path[32];
                int r;

                /* Rewrite n files spread over the tree, different ones each run. */
                top = open(s->subvol, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (top < 0)
                        return -errno;
                for (unsigned i = 0; i < n; i++) {
                        unsigned k = (unsigned) (((uint64_t) i * b->opts->inc_files / n + run * 7 + 3) % b->opts->inc_files);
                        size_t size = small_file_size(b);
                        _cleanup_close_ int fd = -EBADF;

                        inc_path(k, path);
                        fd = openat(top, path, O_WRONLY | O_TRUNC | O_CLOEXEC);
                        if (fd < 0)
                                return -errno;
                        if (i % 2 == 0)
                                fill_text(b, b->buf, size);
                        else
                                fill_random(b, b->buf, size);
                        r = write_all(fd, b->buf, size);
                        if (r < 0)
                                return r;
                        bytes += size;
                }
                if (syncfs(top) < 0)
                        return -errno;
                s->changed_bytes = bytes;

                /* Baseline: the changed files copied out of a snapshot, cold, made durable. */
                if (btrfs_util_create_snapshot(s->subvol, s->snap, BTRFS_UTIL_CREATE_SNAPSHOT_READ_ONLY, NULL, NULL) !=
                    BTRFS_UTIL_OK)
                        return -EIO;
                r = fresh_dir(dst);
                if (r >= 0)
                        r = drop_caches();
                if (r < 0)
                        return r;
                start = now_usec();
                snap = open(s->snap, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                out = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (snap < 0 || out < 0)
                        return -errno;
                for (unsigned i = 0; i < n; i++) {
                        unsigned k = (unsigned) (((uint64_t) i * b->opts->inc_files / n + run * 7 + 3) % b->opts->inc_files);
                        _cleanup_close_ int from = -EBADF, to = -EBADF;
                        char name[16];
                        ssize_t got;

                        inc_path(k, path);
                        (void) snprintf(name, sizeof(name), "f%06u", k);
                        from = openat(snap, path, O_RDONLY | O_NOATIME | O_CLOEXEC);
                        to = openat(out, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
                        if (from < 0 || to < 0)
                                return -errno;
                        while ((got = read(from, b->buf, READ_BUF)) > 0) {
                                r = write_all(to, b->buf, (size_t) got);
                                if (r < 0)
                                        return r;
                        }
                        if (got < 0)
                                return -errno;
                }
                if (syncfs(out) < 0)
                        return -errno;
                samples_add(&s->copy, (double) (now_usec() - start) / 1e3);
                if (btrfs_util_delete_subvolume(s->snap, 0) != BTRFS_UTIL_OK)
                        return -EIO;

                r = drop_caches();
                if (r < 0)
                        return r;
                start = now_usec();
                r = run_command(b, (char *const[]) { (char *) b->opts->vssbackup, (char *) "backup", (char *) "--type",
                                                     (char *) "incremental", s->subvol, (char *) "--to", s->backups,
                                                     (char *) "--socket", b->socket, NULL });
                if (r < 0)
                        return r;
                samples_add(&s->inc, (double) (now_usec() - start) / 1e3);
                /* Its copy phase: the bytes it stored (the changed files, at least) over its rate. */
                r = parse_copy_rate(b->log, &rate);
                if (r < 0)
                        return r;
                if (r > 0 && rate > 0)
                        samples_add(&s->inc_copy, (double) bytes / MIB / rate * 1e3);
                fprintf(stderr, "incremental run %u: copy %.1f ms, vssbackup %.1f ms\n", run + 1, s->copy.v[s->copy.n - 1],
                        s->inc.v[s->inc.n - 1]);
        }
        return fresh_dir(b->out);
}

/* One row; ratio = median / base's median (higher is faster for rates), "baseline" without. */
static void print_row(const char *what, Samples *s, Samples *base, const char *base_name) {
        if (s->n == 0) {
                printf("| %s | 0 | – | – | – |\n", what);
                return;
        }
        stats_sort(s->v, s->n);
        if (!base) {
                printf("| %s | %u | %.0f | %.0f–%.0f | baseline |\n", what, s->n, stats_median(s->v, s->n), s->v[0],
                       s->v[s->n - 1]);
                return;
        }
        stats_sort(base->v, base->n);
        if (base->n == 0)
                printf("| %s | %u | %.0f | %.0f–%.0f | – |\n", what, s->n, stats_median(s->v, s->n), s->v[0], s->v[s->n - 1]);
        else
                printf("| %s | %u | %.0f | %.0f–%.0f | %.2f× %s |\n", what, s->n, stats_median(s->v, s->n), s->v[0],
                       s->v[s->n - 1], stats_median(s->v, s->n) / stats_median(base->v, base->n), base_name);
}

static void print_table(const Bench *b, DataSet *d) {
        printf("\n### %s: %" PRIu64 " files, %.1f MiB\n\n", d->name, d->files, (double) d->bytes / MIB);
        printf("| case (all cold) | runs | median MiB/s | min–max MiB/s | ratio |\n|---|---|---|---|---|\n");
        print_row("plain read (baseline of the backups)", &d->read, NULL, NULL);
        for (Target t = 0; t < _TARGET_MAX; t++) {
                const char *where = t == TARGET_DEV ? "to the backup device" : t == TARGET_TMPFS ? "to tmpfs" : "to the same disk";
                const char *from = t == TARGET_DEV ? "the backup device" : t == TARGET_TMPFS ? "tmpfs" : "the same disk";
                char what[160];

                if (!(b->opts->targets & (1U << t)))
                        continue;
                if (b->have_tar) {
                        (void) snprintf(what, sizeof(what), "`tar -I 'zstd -T0' -cf` + `sync`, %s", where);
                        print_row(what, &d->tar[t], &d->read, "of read");
                } else
                        printf("| `tar -I 'zstd -T0'` | 0 | tar or zstd not installed | – | – |\n");
                if (b->have_restic) {
                        (void) snprintf(what, sizeof(what), "`restic backup` (fresh local repository), %s", where);
                        print_row(what, &d->restic[t], &d->read, "of read");
                } else
                        printf("| `restic backup` | 0 | restic not installed | – | – |\n");
                (void) snprintf(what, sizeof(what), "`vssbackup backup --type full`, whole command, %s", where);
                print_row(what, &d->vb[t], &d->read, "of read");
                (void) snprintf(what, sizeof(what), "vssbackup full against tar zstd -T0, %s", where);
                print_row(what, &d->vb[t], &d->tar[t], "of tar");
                (void) snprintf(what, sizeof(what), "vssbackup full against restic, %s", where);
                print_row(what, &d->vb[t], &d->restic[t], "of restic");
                (void) snprintf(what, sizeof(what), "vssbackup copy phase (its progress line), %s", where);
                print_row(what, &d->vb_copy[t], &d->read, "of read");
                (void) snprintf(what, sizeof(what), "plain copy, `cp -a` + `sync -f` from %s (baseline of the restore)",
                                t == TARGET_HOST ? "the snapshot" : from);
                print_row(what, &d->copy[t], NULL, NULL);
                (void) snprintf(what, sizeof(what), "`vssbackup restore --no-writers` (ends with syncfs), from %s", from);
                print_row(what, &d->restore[t], &d->copy[t], "of copy");
                if (b->opts->compare) {
                        (void) snprintf(what, sizeof(what), "`--compare` build: full, whole command, %s", where);
                        print_row(what, &d->cmp_vb[t], &d->read, "of read");
                        (void) snprintf(what, sizeof(what), "`--compare` build: full against tar zstd -T0, %s", where);
                        print_row(what, &d->cmp_vb[t], &d->tar[t], "of tar");
                        (void) snprintf(what, sizeof(what), "`--compare` build: restore, from %s", from);
                        print_row(what, &d->cmp_restore[t], &d->copy[t], "of copy");
                }
        }
}

static void print_inc_table(const Bench *b, IncSet *s) {
        unsigned n = MIN(b->opts->changed, b->opts->inc_files);

        printf("\n### incremental: %u changed files (%.1f MiB in the last run) among %u\n\n", n,
               (double) s->changed_bytes / MIB, b->opts->inc_files);
        printf("| case (all cold) | runs | median ms | min–max ms | ratio (time) |\n|---|---|---|---|---|\n");
        print_row("copy of the changed files out of a snapshot + syncfs (baseline)", &s->copy, NULL, NULL);
        print_row("`vssbackup backup --type incremental`, whole command", &s->inc, &s->copy, "of copy");
        print_row("vssbackup incremental copy phase (changed bytes / its rate)", &s->inc_copy, &s->copy, "of copy");
}

static void print_loadavg(const char *when) {
        _cleanup_free_ char *text = NULL;
        float a, b, c;

        if (read_file_full("/proc/loadavg", &text, NULL) >= 0 && sscanf(text, "%f %f %f", &a, &b, &c) == 3)
                printf("Load average (1, 5, 15 min) %s: %.2f %.2f %.2f\n", when, a, b, c);
}

/* Whether argv runs and exits 0 (a tool's --version). */
static bool tool_works(Bench *b, char *const argv[]) {
        return run_command(b, argv) >= 0;
}

/*
 * The backup device's size: twice the larger data set (one row's tar file, restic repository
 * or archive is all it holds at a time, each deleted after its row) and room for ext4's own
 * metadata. It is all in RAM.
 */
static uint64_t dev_image_size(const Options *o) {
        uint64_t big = (o->sets & SET_BIG) ? 2ULL * o->big_mib * READ_BUF : 0;
        uint64_t small = (o->sets & SET_SMALL) ? (uint64_t) o->small_files * SMALL_FILE_MAX : 0;
        uint64_t size = 2 * MAX(big, small) + (512ULL << 20);

        return ROUND_UP(size, 1ULL << 20);
}

/*
 * Allocate every page of the backup device's image up front, as a disk has its blocks before
 * they are written. Otherwise each write to a block never written (or freed) makes the kernel
 * allocate and clear a page of shared memory, which on this kind of machine (virtio-balloon, a
 * DAMON reclaim daemon) most likely went back to the host when freed and faults when used
 * again: by hand, 1 GiB written into new tmpfs pages 0.46 s, into the same pages again 0.22 s.
 * A backup to a device does not pay that. Rows delete their files afterwards without
 * trimming, so the pages stay.
 */
static int dev_image_allocate(const char *image, uint64_t size) {
        _cleanup_close_ int fd = open(image, O_RDWR | O_CLOEXEC);

        if (fd < 0)
                return -errno;
        return fallocate(fd, 0, 0, (off_t) size) < 0 ? -errno : 0;
}

/* The backup device (TARGET_DEV: ext4 on a loop device backed by /dev/shm) and each target's
 * directories. */
static int targets_setup(Bench *b) {
        _cleanup_free_ char *image = NULL, *mnt = NULL;
        int r;

        b->t_archive[TARGET_HOST] = b->archive;
        b->t_scratch[TARGET_HOST] = b->out;
        b->t_restic[TARGET_HOST] = b->restic_repo;
        if (!(b->opts->sets & (SET_BIG | SET_SMALL)))
                return 0;       /* the incremental rows use the host filesystem only */
        if (b->opts->targets & (1U << TARGET_TMPFS)) {
                if (asprintf(&b->tmpfs, "%s/backup-tmpfs", b->fs.dir) < 0)
                        return -ENOMEM;
                if (mkdir(b->tmpfs, 0700) < 0)
                        return -errno;
                if (mount("tmpfs", b->tmpfs, "tmpfs", MS_NOSUID | MS_NODEV, "size=8g,mode=0700") < 0) {
                        r = -errno;
                        (void) rmdir(b->tmpfs);
                        free(b->tmpfs);
                        b->tmpfs = NULL;
                        return r;
                }
                if (asprintf(&b->t_archive[TARGET_TMPFS], "%s/archive", b->tmpfs) < 0 ||
                    asprintf(&b->t_scratch[TARGET_TMPFS], "%s/out", b->tmpfs) < 0 ||
                    asprintf(&b->t_restic[TARGET_TMPFS], "%s/restic-repo", b->tmpfs) < 0)
                        return -ENOMEM;
                if (mkdir(b->t_archive[TARGET_TMPFS], 0700) < 0 || mkdir(b->t_scratch[TARGET_TMPFS], 0700) < 0)
                        return -errno;
        }
        if (!(b->opts->targets & (1U << TARGET_DEV)))
                return 0;
        if (asprintf(&image, "/dev/shm/%s.img", strrchr(b->fs.dir, '/') + 1) < 0 ||
            asprintf(&mnt, "%s/backup-dev", b->fs.dir) < 0)
                return -ENOMEM;
        b->dev_size = dev_image_size(b->opts);
        r = bench_fs_make(image, b->dev_size, "ext4", (const char *const[]) { "-q", "-E", "nodiscard", NULL }, mnt,
                          &b->dev);
        if (r < 0)
                return r;
        r = dev_image_allocate(image, b->dev_size);
        if (r < 0)
                return r;
        if (asprintf(&b->t_archive[TARGET_DEV], "%s/archive", b->dev.mnt) < 0 ||
            asprintf(&b->t_scratch[TARGET_DEV], "%s/out", b->dev.mnt) < 0 ||
            asprintf(&b->t_restic[TARGET_DEV], "%s/restic-repo", b->dev.mnt) < 0)
                return -ENOMEM;
        if (mkdir(b->t_archive[TARGET_DEV], 0700) < 0 || mkdir(b->t_scratch[TARGET_DEV], 0700) < 0)
                return -errno;
        return 0;
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
            asprintf(&b->log, "%s/command.log", b->fs.dir) < 0 ||
            asprintf(&b->archive, "%s/archive", b->fs.dir) < 0 ||
            asprintf(&b->out, "%s/out", b->fs.dir) < 0 ||
            asprintf(&b->restic_repo, "%s/restic-repo", b->fs.dir) < 0 ||
            asprintf(&b->restic_cache, "%s/restic-cache", b->fs.dir) < 0)
                return -ENOMEM;
        if (mkdir(b->state_dir, 0700) < 0 || mkdir(b->archive, 0700) < 0 || mkdir(b->out, 0700) < 0)
                return -errno;
        r = targets_setup(b);
        if (r < 0)
                return r;
        /* restic reads its password from the environment; the repository is a throwaway. */
        if (setenv("RESTIC_PASSWORD", "bench-copy", 1) < 0)
                return -errno;
        b->have_tar = tool_works(b, (char *const[]) { (char *) "tar", (char *) "--version", NULL }) &&
                      tool_works(b, (char *const[]) { (char *) "zstd", (char *) "--version", NULL });
        b->have_restic = tool_works(b, (char *const[]) { (char *) "restic", (char *) "version", NULL });
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

static void bench_teardown(Bench *b, DataSet *sets, size_t n, IncSet *inc) {
        (void) process_stop(b->vssd, 5000);
        for (size_t i = 0; i < n; i++) {
                if (sets[i].snap)
                        (void) btrfs_util_delete_subvolume(sets[i].snap, 0);
                free(sets[i].subvol);
                free(sets[i].snap);
        }
        if (inc->snap)
                (void) btrfs_util_delete_subvolume(inc->snap, 0);
        free(inc->subvol);
        free(inc->snap);
        free(inc->backups);
        (void) bench_fs_destroy(&b->dev);
        if (b->tmpfs) {
                (void) umount2(b->tmpfs, MNT_DETACH);
                (void) rmdir(b->tmpfs);
                free(b->tmpfs);
        }
        for (Target t = TARGET_DEV; t < _TARGET_MAX; t++) {
                free(b->t_archive[t]);
                free(b->t_scratch[t]);
                free(b->t_restic[t]);
        }
        (void) loop_btrfs_teardown(&b->fs);
        free(b->socket);
        free(b->state_dir);
        free(b->vssd_log);
        free(b->log);
        free(b->archive);
        free(b->out);
        free(b->restic_repo);
        free(b->restic_cache);
        free(b->buf);
}

/* A comma-separated list of words: bit i for words[i]; 0 when a word is unknown. */
static unsigned parse_words(const char *s, const char *const words[]) {
        unsigned bits = 0;

        for (const char *p = s; *p;) {
                size_t l = strcspn(p, ",");
                unsigned i;

                for (i = 0; words[i]; i++)
                        if (strlen(words[i]) == l && strncmp(p, words[i], l) == 0)
                                break;
                if (!words[i])
                        return 0;
                bits |= 1U << i;
                p += l + (p[l] == ',');
        }
        return bits;
}

static int parse_options(int argc, char *argv[], Options *o) {
        static const struct option longopts[] = {
                { "runs", required_argument, NULL, 'r' },
                { "small-files", required_argument, NULL, 's' },
                { "big-mib", required_argument, NULL, 'm' },
                { "inc-files", required_argument, NULL, 'i' },
                { "changed", required_argument, NULL, 'c' },
                { "sets", required_argument, NULL, 'S' },
                { "targets", required_argument, NULL, 'T' },
                { "vssd", required_argument, NULL, 'd' },
                { "vssbackup", required_argument, NULL, 'b' },
                { "only", required_argument, NULL, 'o' },
                { "compare", required_argument, NULL, 'C' },
                {}
        };
        int c;

        while ((c = getopt_long(argc, argv, "", longopts, NULL)) >= 0) {
                unsigned long v = 0;

                if (c == 'r' || c == 's' || c == 'm' || c == 'i' || c == 'c') {
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
                case 'i':
                        o->inc_files = (unsigned) v;
                        break;
                case 'c':
                        if (v > MAX_CHANGED)
                                return -EINVAL;
                        o->changed = (unsigned) v;
                        break;
                case 'S':
                        o->sets = parse_words(optarg, (const char *const[]) { "big", "small", "inc", NULL });
                        if (o->sets == 0)
                                return -EINVAL;
                        break;
                case 'T':
                        o->targets = parse_words(optarg, (const char *const[]) { "host", "dev", "tmpfs", NULL });
                        if (o->targets == 0)
                                return -EINVAL;
                        break;
                case 'd':
                        o->vssd = optarg;
                        break;
                case 'b':
                        o->vssbackup = optarg;
                        break;
                case 'o':
                        if (strcmp(optarg, "inc") != 0)
                                return -EINVAL;
                        o->sets = SET_INC;      /* the same as --sets inc */
                        break;
                case 'C':
                        o->compare = optarg;
                        break;
                default:
                        return -EINVAL;
                }
        }
        return optind == argc ? 0 : -EINVAL;
}

int main(int argc, char *argv[]) {
        Options o = {
                .runs = 3,
                .small_files = 20000,
                .big_mib = 1024,
                .inc_files = 200000,
                .changed = 100,
                .sets = SET_BIG | SET_SMALL | SET_INC,
                .targets = 1U << TARGET_HOST | 1U << TARGET_DEV,
                .vssd = BENCH_VSSD_PATH,
                .vssbackup = BENCH_VSSBACKUP_PATH,
        };
        Bench b = { .opts = &o, .rng = 0x9E3779B97F4A7C15ULL };
        DataSet sets[2] = {};
        IncSet inc = {};
        struct utsname u;
        uint64_t start = now_usec();
        int r;

        if (parse_options(argc, argv, &o) < 0) {
                fprintf(stderr,
                        "usage: %s [--runs N] [--small-files N] [--big-mib N] [--inc-files N] [--changed N] "
                        "[--sets big,small,inc] [--targets host,dev,tmpfs] [--vssd PATH] [--vssbackup PATH] [--compare PATH] "
                        "[--only inc]\n",
                        argv[0]);
                return 2;
        }
        if (geteuid() != 0) {
                fprintf(stderr, "bench_copy needs root (loop devices, drop_caches); skipping\n");
                return 77;
        }

        (void) uname(&u);
        printf("Command: %s", argv[0]);
        for (int i = 1; i < argc; i++)
                printf(" %s", argv[i]);
        printf("\nKernel: %s %s %s, %ld CPUs\n", u.sysname, u.release, u.machine, sysconf(_SC_NPROCESSORS_ONLN));
        print_loadavg("at start");

        r = bench_setup(&b);
        if (r >= 0 && (o.sets & SET_BIG))
                r = dataset_setup(&b, &sets[0], "big", true);
        if (r >= 0 && (o.sets & SET_SMALL))
                r = dataset_setup(&b, &sets[1], "small", false);
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(sets); i++)
                if (sets[i].name)
                        r = dataset_measure(&b, &sets[i]);
        if (r >= 0 && (o.sets & SET_INC))
                r = inc_setup(&b, &inc);
        if (r >= 0 && (o.sets & SET_INC))
                r = inc_measure(&b, &inc);
        if (r < 0) {
                fprintf(stderr, "bench_copy: %s\n", strerror(-r));
                bench_teardown(&b, sets, ELEMENTSOF(sets), &inc);
                return 1;
        }

        printf("Volume: loop-mounted btrfs (%llu GiB sparse image), one subvolume per data set; the baselines, tar and "
               "restic read a read-only snapshot of it; vssbackup backs up the subvolume (its own snapshot through vssd, "
               "btrfs provider); \"same disk\": archives, tar's file and repositories go to a directory on the host "
               "filesystem that also holds the image; \"backup device\": to an ext4 of its own on a loop device backed by "
               "/dev/shm (%.1f GiB, allocated before the first row); copies and restores always write to the host filesystem; "
               "cold = sync + drop_caches=3 just before; %u runs per row, round robin\n",
               IMAGE_SIZE >> 30, (double) b.dev_size / (1ULL << 30), o.runs);
        for (size_t i = 0; i < ELEMENTSOF(sets); i++)
                if (sets[i].name)
                        print_table(&b, &sets[i]);
        if (o.sets & SET_INC)
                print_inc_table(&b, &inc);
        printf("\nWhole run %.0f s\n", (double) (now_usec() - start) / 1e6);
        print_loadavg("at end");

        bench_teardown(&b, sets, ELEMENTSOF(sets), &inc);
        return 0;
}
