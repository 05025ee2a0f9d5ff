/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-selection: what selecting the files of an incremental backup costs, against the tools
 * a backup script would use instead, on the same trees in the same run.
 *
 * Setup (once): a loop-mounted btrfs (noatime) with a subvolume of --files small files (100
 * per directory), read-only snapshot A, its generation (change_scan_btrfs_generation), a GNU
 * tar level-0 snapshot file of A, a reference file and time, then --changed files rewritten
 * spread over the tree, and read-only snapshot B. With --fs also naming ext4 and/or xfs, a
 * loop-mounted volume of that type (image beside the btrfs one) gets the same tree, its own
 * reference file and time, and the same changes: what LVM volumes without btrfs generations
 * offer a backup. --fs tmpfs adds the same tree (empty files) on a tmpfs: nothing there can
 * be dropped from a cache, so it shows the walk's CPU cost even while other programs on the
 * machine drop caches. Every contender then finds the changed files:
 *   btrfs (table A), in snapshot B:
 *   - file_select, incremental, own records by times: change_scan_walk (getdents64 + statx on
 *     every core) under the §9 selection;
 *   - file_select, incremental, own records by btrfs generation: change_scan_btrfs_changed;
 *   - the scans alone, without the selection on top, the walk also on one thread
 *     (CHANGE_SCAN_SERIAL: the walk as it was before it used every core);
 *   - `find B -newer REF -type f` (stdout to /dev/null);
 *   - `tar --listed-incremental=COPY --no-check-device -C B -cf /dev/null .` with a fresh copy
 *     of the level-0 snapshot file each run (GNU tar does not read file data for /dev/null;
 *     --no-check-device because every btrfs snapshot has its own st_dev).
 *   ext4, XFS (table B), in the volume's tree, remounted read-only once the changes are made
 *   (as a backup reads a snapshot): file_select by times, the walk alone on every core and on
 *   one thread (where the file system allows, both narrow the files to statx with a bulk
 *   inode scan: XFS's inode btrees and chunks read from the device, ext4's inode tables),
 *   on XFS also the walk with bulkstat's candidates instead, the walk that statx-es every file
 *   (CHANGE_SCAN_NO_BULK: the walk before the bulk scans), and `find TREE -newer REF -type f`.
 * Each contender's result is checked once (exactly --changed files), then all run round robin
 * (each round starting one contender later), warm cache (nothing is dropped; every tree was
 * just read) or, with --cold, each timed run after sync + drop_caches=3, --runs times after
 * one warm-up round. Prints markdown tables: median, p10–p90, files found, the ratio to find
 * on the same volume and, for the generation rows, their time as a share of the full scan by
 * times.
 *
 * Usage: bench_selection [--files N] [--changed N] [--runs N] [--fs btrfs[,ext4][,xfs][,tmpfs]] [--cold]
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
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <btrfsutil.h>

#include "backup-components.h"
#include "bench-util.h"
#include "change-scan.h"
#include "change-scan-bulk.h"
#include "file-select.h"
#include "macro.h"
#include "root-harness.h"
#include "writer-metadata.h"

#define IMAGE_SIZE (UINT64_C(4) << 30) /* sparse; room for the metadata of 200k files */
#define TIMES_IMAGE_SIZE (UINT64_C(2) << 30)
#define FILES_PER_DIR 100U
#define ORIGINAL "/srv/data"
#define MAX_RUNS 101U
#define MAX_TIMES_FS 3U

/* An ext4, XFS or tmpfs volume with the same tree, scanned by times only. */
typedef struct TimesFs {
        const char *type;
        BenchFs fs;
        char *tmpfs;            /* tmpfs: its mount point (mounted while set) */
        char *tree, *ref;
        vss_timestamp since;
} TimesFs;

typedef struct Bench {
        unsigned files, changed, runs;
        bool cold;
        LoopBtrfs fs;
        char *vol, *snap_a, *snap_b, *ref, *snar0, *snar;
        uint64_t gen_a;
        vss_timestamp time_a;
        WriterMetadata *wmd;
        BackupComponents *bcd;
        TimesFs times[MAX_TIMES_FS];
        unsigned n_times;
} Bench;

/* What a contender scans: a tree (snapshot B or a volume's tree) and the reference of it. */
typedef struct Target {
        const char *tree, *ref;
        vss_timestamp since;
} Target;

typedef int (*ContenderFn)(Bench *b, const Target *t, unsigned *ret_found);

typedef enum Role {
        ROLE_OTHER,
        ROLE_FULL_SCAN, /* the full scan by times the generation rows are a share of */
        ROLE_GENERATION,
        ROLE_FIND,      /* the baseline of its table */
} Role;

typedef struct Contender {
        char name[96];
        ContenderFn run;
        Target target;
        unsigned table;         /* 0: btrfs, 1 + i: times[i] */
        Role role;
        double ms[MAX_RUNS];
        unsigned found;
} Contender;

#define MAX_CONTENDERS (8U + 5U * MAX_TIMES_FS)

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
static int populate(const char *root, unsigned files, bool with_data) {
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
                        if (with_data && write(fd, data, sizeof(data)) != (ssize_t) sizeof(data)) {
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

static int select_with(Bench *b, const Target *t, uint64_t generation, unsigned *ret_found) {
        const WriterMetadata *writers[] = { b->wmd };
        FileSelectVolume vol = { .original = ORIGINAL, .snapshot = t->tree, .previous_generation = generation };
        FileSelectInput in = {
                .backup_type = VSS_BT_INCREMENTAL,
                .bcd = b->bcd,
                .writers = writers,
                .n_writers = 1,
                .previous_backup_time = t->since,
                .volumes = &vol,
                .n_volumes = 1,
        };

        *ret_found = 0;
        return file_select(&in, count_selected, ret_found, NULL);
}

static int run_select_walk(Bench *b, const Target *t, unsigned *ret_found) {
        return select_with(b, t, 0, ret_found);
}

static int run_select_generation(Bench *b, const Target *t, unsigned *ret_found) {
        return select_with(b, t, b->gen_a, ret_found);
}

static int run_walk(Bench *b, const Target *t, unsigned *ret_found) {
        *ret_found = 0;
        return change_scan_walk(AT_FDCWD, t->tree, NULL, CHANGE_SCAN_RECURSIVE, t->since, count_entry, ret_found);
}

static int run_walk_serial(Bench *b, const Target *t, unsigned *ret_found) {
        *ret_found = 0;
        return change_scan_walk(AT_FDCWD, t->tree, NULL, CHANGE_SCAN_RECURSIVE | CHANGE_SCAN_SERIAL, t->since,
                                count_entry, ret_found);
}

static int run_walk_no_bulk(Bench *b, const Target *t, unsigned *ret_found) {
        *ret_found = 0;
        return change_scan_walk(AT_FDCWD, t->tree, NULL, CHANGE_SCAN_RECURSIVE | CHANGE_SCAN_NO_BULK, t->since,
                                count_entry, ret_found);
}

/* XFS: the walk with bulkstat's candidates, as before the device reader. */
static int run_walk_bulkstat(Bench *b, const Target *t, unsigned *ret_found) {
        int r;

        change_scan_xfs_dev_enabled = false;
        r = run_walk(b, t, ret_found);
        change_scan_xfs_dev_enabled = true;
        return r;
}

static int run_generation(Bench *b, const Target *t, unsigned *ret_found) {
        *ret_found = 0;
        return change_scan_btrfs_changed(t->tree, b->gen_a, count_entry, ret_found);
}

static int run_find(Bench *b, const Target *t, unsigned *ret_found) {
        char *argv[] = { (char *) "find", (char *) t->tree, (char *) "-newer", (char *) t->ref, (char *) "-type",
                         (char *) "f", NULL };

        return run_tool(argv, any_line, ret_found);
}

static int run_tar(Bench *b, const Target *t, unsigned *ret_found) {
        _cleanup_free_ char *listed = NULL;
        char *argv[] = { (char *) "tar", NULL, (char *) "--no-check-device", (char *) "-C", (char *) t->tree,
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

/* --cold: what a scan costs when nothing of the tree is cached (all filesystems' caches, as
 * bench_copy's cold rows do): write back, then drop page cache, dentries and inodes. */
static int drop_caches(void) {
        _cleanup_close_ int fd = -EBADF;

        sync();
        fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        return write(fd, "3\n", 2) == 2 ? 0 : -errno;
}

static bool is_tool(ContenderFn fn) {
        return fn == run_find || fn == run_tar;
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

/* The reference point: a file whose mtime is now and the time itself, a second clear of the
 * files written before and of the changes after. */
static int make_reference(const char *ref, vss_timestamp *ret_time) {
        _cleanup_close_ int fd = -EBADF;

        sleep_ms(1100);
        fd = open(ref, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        *ret_time = now_filetime();
        sleep_ms(1100);
        return 0;
}

static int setup_times_fs(Bench *b, TimesFs *t) {
        _cleanup_free_ char *image = NULL, *mnt = NULL, *inodes = NULL;
        const char *ext4_args[] = { "-q", "-N", NULL, "-E", "lazy_itable_init=0,lazy_journal_init=0", NULL };
        const char *xfs_args[] = { "-q", NULL };
        int r;

        if (asprintf(&image, "%s/%s.img", b->fs.dir, t->type) < 0 || asprintf(&mnt, "%s/%s", b->fs.dir, t->type) < 0 ||
            asprintf(&inodes, "%u", b->files + b->files / FILES_PER_DIR + 1024) < 0)
                return -ENOMEM;
        ext4_args[2] = inodes;
        if (streq(t->type, "tmpfs")) {
                /* Nothing on it can be dropped from a cache: the walk's CPU cost alone, immune
                 * to other programs' drop_caches on a shared machine. */
                if (mkdir(mnt, 0755) < 0)
                        return -errno;
                if (mount("tmpfs", mnt, "tmpfs", MS_NOATIME, "size=512m") < 0) {
                        r = -errno;
                        (void) rmdir(mnt);
                        return r;
                }
                t->tmpfs = TAKE_PTR(mnt);
        } else {
                r = bench_fs_make(image, TIMES_IMAGE_SIZE, t->type, streq(t->type, "ext4") ? ext4_args : xfs_args,
                                  mnt, &t->fs);
                if (r < 0)
                        return r;
                if (mount(NULL, mnt, NULL, MS_REMOUNT | MS_NOATIME, NULL) < 0)
                        return -errno;
        }
        if (asprintf(&t->tree, "%s/tree", t->tmpfs ? t->tmpfs : mnt) < 0 || asprintf(&t->ref, "%s/%s.reference", b->fs.dir, t->type) < 0)
                return -ENOMEM;
        if (mkdir(t->tree, 0755) < 0)
                return -errno;
        fprintf(stderr, "populating %u files on %s...\n", b->files, t->type);
        /* Empty files on tmpfs: 64 bytes would cost a page of memory each. */
        r = populate(t->tree, b->files, !t->tmpfs);
        if (r < 0)
                return r;
        r = make_reference(t->ref, &t->since);
        if (r < 0)
                return r;
        r = change_files(t->tree, b->files, b->changed);
        if (r < 0)
                return r;
        r = syncfs_path(t->tree);
        if (r < 0 || t->tmpfs)
                return r;
        /* Read as a backup reads it: a snapshot, mounted read-only. */
        if (mount(NULL, mnt, NULL, MS_REMOUNT | MS_RDONLY | MS_NOATIME, NULL) < 0)
                return -errno;
        return 0;
}

static int setup(Bench *b) {
        char *tar_argv[] = { (char *) "tar", NULL, (char *) "-C", NULL, (char *) "-cf", (char *) "/dev/null",
                             (char *) ".", NULL };
        _cleanup_free_ char *listed = NULL;
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
        fprintf(stderr, "populating %u files on btrfs...\n", b->files);
        r = populate(b->vol, b->files, true);
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
        r = make_reference(b->ref, &b->time_a);
        if (r < 0)
                return r;

        r = change_files(b->vol, b->files, b->changed);
        if (r < 0)
                return r;
        if (btrfs_util_create_snapshot(b->vol, b->snap_b, BTRFS_UTIL_CREATE_SNAPSHOT_READ_ONLY, NULL, NULL) !=
            BTRFS_UTIL_OK)
                return -EIO;

        for (unsigned i = 0; i < b->n_times; i++) {
                r = setup_times_fs(b, &b->times[i]);
                if (r < 0) {
                        fprintf(stderr, "setup of %s: %s\n", b->times[i].type, strerror(-r));
                        return r;
                }
        }
        return make_documents(b);
}

static void bench_done(Bench *b) {
        for (unsigned i = 0; i < b->n_times; i++) {
                (void) bench_fs_destroy(&b->times[i].fs);
                if (b->times[i].tmpfs) {
                        (void) umount2(b->times[i].tmpfs, MNT_DETACH);
                        (void) rmdir(b->times[i].tmpfs);
                        free(b->times[i].tmpfs);
                }
                free(b->times[i].tree);
                free(b->times[i].ref);
        }
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

/* --fs: btrfs always (table A), then ext4, xfs and tmpfs in the order named. */
static int parse_fs(const char *s, Bench *b) {
        _cleanup_free_ char *copy = strdup(s);
        char *save = NULL;

        if (!copy)
                return -ENOMEM;
        b->n_times = 0;
        for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                if (streq(tok, "btrfs"))
                        continue;
                if ((!streq(tok, "ext4") && !streq(tok, "xfs") && !streq(tok, "tmpfs")) || b->n_times >= MAX_TIMES_FS)
                        return -EINVAL;
                b->times[b->n_times++].type = streq(tok, "ext4") ? "ext4" : streq(tok, "xfs") ? "xfs" : "tmpfs";
        }
        return 0;
}

static void add(Contender *c, unsigned *n, unsigned table, Role role, ContenderFn run, const Target *t,
                const char *name) {
        Contender *ct = &c[(*n)++];

        *ct = (Contender) { .run = run, .target = *t, .table = table, .role = role };
        snprintf(ct->name, sizeof(ct->name), "%s", name);
}

static double median_of(Contender *c, unsigned n, unsigned table, Role role, unsigned runs) {
        for (unsigned i = 0; i < n; i++)
                if (c[i].table == table && c[i].role == role)
                        return stats_median(c[i].ms, runs);
        return 0;
}

static void print_table(Contender *c, unsigned n, unsigned table, unsigned runs) {
        double find = median_of(c, n, table, ROLE_FIND, runs), full = median_of(c, n, table, ROLE_FULL_SCAN, runs);

        printf("| contender | median | p10–p90 | files found | vs find |%s\n", table == 0 ? " share of full scan |" : "");
        printf("|---|---|---|---|---|%s\n", table == 0 ? "---|" : "");
        for (unsigned i = 0; i < n; i++) {
                Contender *ct = &c[i];
                double med;

                if (ct->table != table)
                        continue;
                med = stats_median(ct->ms, runs);
                printf("| %s | %.1f ms | %.1f–%.1f ms | %u | %.2fx |", ct->name, med, stats_percentile(ct->ms, runs, 10),
                       stats_percentile(ct->ms, runs, 90), ct->found, find / med);
                if (table == 0) {
                        if (ct->role == ROLE_GENERATION)
                                printf(" %.1f %% |", 100.0 * med / full);
                        else
                                printf(" %s |", ct->role == ROLE_FULL_SCAN ? "100 % (full scan)" : "–");
                }
                printf("\n");
        }
}

static void print_loadavg(const char *when) {
        double l[3];

        if (getloadavg(l, 3) == 3)
                printf("Load average (1, 5, 15 min) %s: %.2f %.2f %.2f\n", when, l[0], l[1], l[2]);
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "files", required_argument, NULL, 'f' },
                { "changed", required_argument, NULL, 'c' },
                { "runs", required_argument, NULL, 'r' },
                { "fs", required_argument, NULL, 's' },
                { "cold", no_argument, NULL, 'C' },
                {},
        };
        Contender contenders[MAX_CONTENDERS];
        Bench b = { .files = 200000, .changed = 100, .runs = 9, .n_times = 2, .times = { { .type = "ext4" }, { .type = "xfs" } } };
        const char *cache_state;
        unsigned n = 0;
        struct utsname u;
        Target bt;
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
                case 's':
                        if (parse_fs(optarg, &b) < 0)
                                return 2;
                        break;
                case 'C':
                        b.cold = true;
                        break;
                default:
                        fprintf(stderr, "usage: %s [--files N] [--changed N] [--runs N] [--fs btrfs[,ext4][,xfs][,tmpfs]] [--cold]\n",
                                argv[0]);
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

        bt = (Target) { .tree = b.snap_b, .ref = b.ref, .since = b.time_a };
        add(contenders, &n, 0, ROLE_FULL_SCAN, run_select_walk, &bt, "file_select, incremental, by times (change_scan_walk)");
        add(contenders, &n, 0, ROLE_GENERATION, run_select_generation, &bt, "file_select, incremental, by btrfs generation");
        add(contenders, &n, 0, ROLE_OTHER, run_walk, &bt, "change_scan_walk alone (getdents64 + statx, since)");
        add(contenders, &n, 0, ROLE_OTHER, run_walk_serial, &bt, "change_scan_walk alone, one thread (CHANGE_SCAN_SERIAL)");
        add(contenders, &n, 0, ROLE_GENERATION, run_generation, &bt, "change_scan_btrfs_changed alone");
        add(contenders, &n, 0, ROLE_FIND, run_find, &bt, "`find SNAP -newer REF -type f`");
        add(contenders, &n, 0, ROLE_OTHER, run_tar, &bt, "GNU tar `--listed-incremental` (level 1, -cf /dev/null)");
        for (unsigned i = 0; i < b.n_times; i++) {
                Target t = { .tree = b.times[i].tree, .ref = b.times[i].ref, .since = b.times[i].since };
                char name[96];

                snprintf(name, sizeof(name), "%s: file_select, incremental, by times", b.times[i].type);
                add(contenders, &n, 1 + i, ROLE_FULL_SCAN, run_select_walk, &t, name);
                snprintf(name, sizeof(name), "%s: change_scan_walk alone", b.times[i].type);
                add(contenders, &n, 1 + i, ROLE_OTHER, run_walk, &t, name);
                snprintf(name, sizeof(name), "%s: change_scan_walk alone, one thread", b.times[i].type);
                add(contenders, &n, 1 + i, ROLE_OTHER, run_walk_serial, &t, name);
                if (streq(b.times[i].type, "xfs"))
                        add(contenders, &n, 1 + i, ROLE_OTHER, run_walk_bulkstat, &t,
                            "xfs: change_scan_walk alone, bulkstat (not the device)");
                snprintf(name, sizeof(name), "%s: change_scan_walk, statx every file (CHANGE_SCAN_NO_BULK)",
                         b.times[i].type);
                add(contenders, &n, 1 + i, ROLE_OTHER, run_walk_no_bulk, &t, name);
                snprintf(name, sizeof(name), "%s: `find TREE -newer REF -type f`", b.times[i].type);
                add(contenders, &n, 1 + i, ROLE_FIND, run_find, &t, name);
        }

        /* Every contender must find exactly the changed files before it is timed. */
        for (unsigned i = 0; i < n; i++) {
                r = contenders[i].run(&b, &contenders[i].target, &contenders[i].found);
                if (r < 0 || contenders[i].found != b.changed) {
                        fprintf(stderr, "%s: %s, found %u files, expected %u\n", contenders[i].name,
                                r < 0 ? strerror(-r) : "ok", contenders[i].found, b.changed);
                        bench_done(&b);
                        return 1;
                }
        }

        (void) uname(&u);
        printf("Command:");
        for (int i = 0; i < argc; i++)
                printf(" %s", argv[i]);
        printf("\nKernel: %s, %d CPUs (%d online)\n", u.release, get_nprocs_conf(), get_nprocs());
        print_loadavg("at start");

        /* One warm-up round, then round robin, each round starting one contender later: what
         * happens to the machine between rounds (another program dropping caches) falls on
         * every contender alike, not always on the first. */
        for (unsigned run = 0; run <= b.runs; run++)
                for (unsigned k = 0; k < n; k++) {
                        Contender *ct = &contenders[(run + k) % n];
                        unsigned found = 0;
                        uint64_t t0;

                        if (b.cold) {
                                r = drop_caches();
                                if (r < 0) {
                                        fprintf(stderr, "drop_caches: %s\n", strerror(-r));
                                        bench_done(&b);
                                        return 1;
                                }
                        }
                        t0 = now_usec();
                        r = ct->run(&b, &ct->target, is_tool(ct->run) ? NULL : &found);
                        if (r < 0) {
                                fprintf(stderr, "%s: %s\n", ct->name, strerror(-r));
                                bench_done(&b);
                                return 1;
                        }
                        if (run > 0)
                                ct->ms[run - 1] = (double) (now_usec() - t0) / 1000.0;
                }
        print_loadavg("at end");
        cache_state = b.cold ? "cold cache (sync + drop_caches=3 before every timed run)"
                             : "warm cache (nothing dropped by the benchmark)";
        for (unsigned i = 0; i < n; i++)
                stats_sort(contenders[i].ms, b.runs);

        printf("\nA. Incremental selection, %u files (%u per directory) with %u changed after the reference, "
               "btrfs on loop (noatime), snapshot B; %s, %u runs round robin after one warm-up.\n\n",
               b.files, FILES_PER_DIR, b.changed, cache_state, b.runs);
        print_table(contenders, n, 0, b.runs);
        printf("\n\"vs find\" is find's median divided by the row's (above 1: faster than find); \"share of full "
               "scan\" is the row's median over the full scan by times (file_select by times).\n");
        for (unsigned i = 0; i < b.n_times; i++) {
                printf("\nB%u. The same tree and changes on %s (%s, noatime, no snapshot): change detection by times "
                       "only; %s, same rounds.\n\n",
                       i + 1, b.times[i].type,
                       b.times[i].tmpfs ? "in memory, empty files" : "loop, remounted read-only as a snapshot is",
                       cache_state);
                print_table(contenders, n, 1 + i, b.runs);
        }
        bench_done(&b);
        return 0;
}
