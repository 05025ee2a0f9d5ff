/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-bulk-scan (suite root): a walk by times that takes its candidates from a file
 * system's bulk inode scan (XFS bulkstat, ext4 inode tables) reports exactly what the walk
 * that statx-es every file reports (CHANGE_SCAN_NO_BULK), the same calls in the same order,
 * on loop-mounted XFS and ext4: files written, created, in new directories, renamed,
 * chmod'ed, hard-linked (every name), symlinks and FIFOs, files dated in the future, an
 * inode freed and reused, with a tmpfs mounted inside, with a file bind-mounted over another,
 * and with a directory the walker may not read. And that the bulk scan is used only where it
 * sees what statx sees and may run: not on a writable ext4, not without privilege, not on
 * tmpfs, not for a small share of the file system, not with a file mount inside. Exits 77
 * unless root.
 */
/* xfs.h brings its own MIN and MAX: first, so that macro.h's replace them. */
#include <xfs/xfs.h>
#undef MIN
#undef MAX

#include "selection-test.h"

#include <dirent.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <grp.h>

#include "change-scan.h"
#include "change-scan-bulk.h"
#include "loop-fs.h"
#include <sys/ioctl.h>
#include <sys/sysmacros.h>

#define OLD_FILES_DIRS 30U
#define OLD_FILES_PER_DIR 60U

typedef struct Fixture {
        char *dir;              /* scratch: images and mount points */
        LoopFs fs;
        char *tree;             /* mnt/t */
        vss_timestamp since;
        unsigned changed_inodes;        /* inodes changed after since (a lower bound of the candidates) */
} Fixture;

static char *join(const char *a, const char *b) {
        char *p;

        assert_true(asprintf(&p, "%s/%s", a, b) > 0);
        return p;
}

static void sleep_past_slack(void) {
        /* The bulk scans keep inodes up to 2 s older than since as candidates: old files are
         * made more than that before since, so the filter visibly filters. */
        sleep_msec(2300);
}

/*
 * The tree below mnt/t: OLD_FILES_DIRS × OLD_FILES_PER_DIR old files (some with an mtime
 * ten years back, one dated a year ahead), then since, then the changes.
 */
static void make_tree(Fixture *f) {
        vss_timestamp ancient = now_filetime() - 3650 * 24 * 3600 * FT_SECOND;
        vss_timestamp future = now_filetime() + 365 * 24 * 3600 * FT_SECOND;
        char rel[256];
        _cleanup_free_ char *p = NULL, *q = NULL;

        for (unsigned d = 0; d < OLD_FILES_DIRS; d++)
                for (unsigned i = 0; i < OLD_FILES_PER_DIR; i++) {
                        snprintf(rel, sizeof(rel), "d%02u/f%03u.%s", d, i, i % 2 ? "txt" : "bin");
                        make_file(f->tree, rel, i % 3 == 0 ? ancient : 0);
                }
        make_file(f->tree, "d00/future.txt", future);
        make_file(f->tree, "d01/to-delete.txt", 0);
        make_file(f->tree, "d02/to-rename.txt", 0);
        make_file(f->tree, "d03/to-chmod.txt", 0);
        make_file(f->tree, "d04/to-link.txt", 0);
        make_file(f->tree, "d05/under-mount.txt", 0);
        make_file(f->tree, "locked/secret.txt", 0);
        make_file(f->tree, "moved-dir/inside.txt", 0);
        p = join(f->tree, "d06/old-fifo");
        assert_int_equal(mkfifo(p, 0644), 0);
        free(TAKE_PTR(p));
        p = join(f->tree, "d06/old-link");
        assert_int_equal(symlink("f000.bin", p), 0);
        free(TAKE_PTR(p));
        q = join(f->tree, "d05/mnt");
        assert_int_equal(mkdir(q, 0755), 0);
        free(TAKE_PTR(q));
        sync();

        sleep_past_slack();
        f->since = now_filetime();
        sleep_msec(20);

        /* After since. */
        make_file(f->tree, "d07/f001.txt", 0);                  /* rewritten */
        make_file(f->tree, "d08/new.txt", 0);                   /* new in an old directory */
        make_file(f->tree, "newdir/deeper/fresh.bin", 0);       /* in new directories */
        make_file(f->tree, "locked/changed.txt", 0);
        p = join(f->tree, "d02/to-rename.txt");
        q = join(f->tree, "d09/renamed.txt");
        assert_int_equal(rename(p, q), 0);                      /* rename: ctime */
        free(TAKE_PTR(p));
        free(TAKE_PTR(q));
        p = join(f->tree, "d03/to-chmod.txt");
        assert_int_equal(chmod(p, 0600), 0);                    /* chmod: ctime */
        free(TAKE_PTR(p));
        p = join(f->tree, "d04/to-link.txt");
        q = join(f->tree, "d10/hardlink.txt");
        assert_int_equal(link(p, q), 0);                        /* link: ctime, both names */
        free(TAKE_PTR(p));
        free(TAKE_PTR(q));
        p = join(f->tree, "d01/to-delete.txt");
        assert_int_equal(unlink(p), 0);                         /* freed, and likely reused: */
        free(TAKE_PTR(p));
        make_file(f->tree, "d11/reuses-inode.txt", 0);
        p = join(f->tree, "d12/new-link");
        assert_int_equal(symlink("f000.bin", p), 0);
        free(TAKE_PTR(p));
        p = join(f->tree, "d12/new-fifo");
        assert_int_equal(mkfifo(p, 0644), 0);
        free(TAKE_PTR(p));
        p = join(f->tree, "moved-dir");
        q = join(f->tree, "d13/moved-dir");
        assert_int_equal(rename(p, q), 0);                      /* the directory's ctime only */
        free(TAKE_PTR(p));
        free(TAKE_PTR(q));
        p = join(f->tree, "locked");
        assert_int_equal(chmod(p, 0), 0);                       /* only CAP_DAC_* may read it */
        free(TAKE_PTR(p));
        f->changed_inodes = 10;
        sync();
}

static int setup_fs_args(void **state, const char *fstype, const char *const *mkfs_args) {
        Fixture *f = calloc(1, sizeof(*f));
        _cleanup_free_ char *image = NULL, *mnt = NULL;
        int r;

        assert_non_null(f);
        f->dir = strdup("/var/tmp/vss-bulk-scan-XXXXXX");
        assert_non_null(f->dir);
        assert_non_null(mkdtemp(f->dir));
        image = join(f->dir, "fs.img");
        mnt = join(f->dir, "mnt");
        /* XFS needs 300 MiB at least; the image is sparse. */
        r = loop_fs_make(image, streq(fstype, "xfs") ? 320ULL << 20 : 64ULL << 20, fstype, mkfs_args, mnt, &f->fs);
        if (r < 0) {
                fprintf(stderr, "cannot make %s: %s\n", fstype, strerror(-r));
                (void) rmdir(f->dir);
                free(f->dir);
                free(f);
                return -1;
        }
        f->tree = join(mnt, "t");
        assert_int_equal(mkdir(f->tree, 0755), 0);
        make_tree(f);
        *state = f;
        return 0;
}

static int setup_xfs(void **state) {
        return setup_fs_args(state, "xfs", NULL);
}

/* The XFS of mkfs.xfs before sparse inodes and big timestamps were its defaults. */
static int setup_xfs_old_format(void **state) {
        const char *const args[] = { "-m", "bigtime=0", "-i", "sparse=0", NULL };

        return setup_fs_args(state, "xfs", args);
}

static int setup_ext4(void **state) {
        return setup_fs_args(state, "ext4", NULL);
}

static int teardown_fs(void **state) {
        Fixture *f = *state;

        if (!f)
                return 0;
        (void) loop_fs_destroy(&f->fs);
        (void) rmdir(f->dir);
        free(f->dir);
        free(f->tree);
        free(f);
        return 0;
}

/* ------------------------------------------------------------------------------------------ */

/* Everything a callback sees, one line per call. */
static int trace(const ChangeScanEntry *e, void *userdata) {
        StrList *l = userdata;

        strlist_addf(l, "%s|%u|%d|%" PRIu64 "|%" PRId64 "|%" PRId64 "|%" PRIu64 "|%d", e->path, e->type, e->have_stat,
                     e->ino, e->have_stat ? e->mtime : 0, e->have_stat ? e->ctime : 0, e->have_stat ? e->size : 0,
                     e->dir_fd >= 0);
        return 0;
}

/* The walk as it chooses (bulk where it can) against CHANGE_SCAN_NO_BULK: same calls, same order. */
static int walk_both(const char *tree, const char *filespec, ChangeScanFlags flags, vss_timestamp since,
                     const char *what, size_t *ret_n) {
        StrList bulk = {}, statx_all = {};
        int rb, rs;

        rs = change_scan_walk(AT_FDCWD, tree, filespec, flags | CHANGE_SCAN_NO_BULK, since, trace, &statx_all);
        rb = change_scan_walk(AT_FDCWD, tree, filespec, flags, since, trace, &bulk);
        if (rb != rs)
                fail_msg("%s: bulk walk returned %d, statx walk %d", what, rb, rs);
        for (size_t i = 0; i < MIN(bulk.n, statx_all.n); i++)
                if (!streq(bulk.v[i], statx_all.v[i]))
                        fail_msg("%s: entry %zu differs: bulk \"%s\", statx \"%s\"", what, i, bulk.v[i],
                                 statx_all.v[i]);
        if (bulk.n != statx_all.n)
                fail_msg("%s: bulk walk reported %zu entries, statx walk %zu", what, bulk.n, statx_all.n);
        if (ret_n)
                *ret_n = bulk.n;
        strlist_clear(&bulk);
        strlist_clear(&statx_all);
        return rb;
}

static int collect_path(const ChangeScanEntry *e, void *userdata) {
        strlist_addf(userdata, "%s%s", e->path, e->type == DT_LNK ? "@" : e->type == DT_FIFO ? "|" : "");
        return 0;
}

#define EXPECTED                                                                                              \
        "d00/future.txt d07/f001.txt d08/new.txt newdir/deeper/fresh.bin locked/changed.txt d09/renamed.txt " \
        "d03/to-chmod.txt d04/to-link.txt d10/hardlink.txt d11/reuses-inode.txt d12/new-link@ d12/new-fifo|"

/* All the ways a backup walks by times give the same calls with and without the bulk scan;
 * n_all files changed in all, n_txt of them named *.txt. */
static void expect_same_walks(Fixture *f, const char *what, size_t n_all, size_t n_txt) {
        char label[128];
        size_t n = 0;

        snprintf(label, sizeof(label), "%s: recursive", what);
        assert_int_equal(walk_both(f->tree, NULL, CHANGE_SCAN_RECURSIVE, f->since, label, &n), 0);
        assert_int_equal(n, n_all);
        snprintf(label, sizeof(label), "%s: stat", what);
        assert_int_equal(walk_both(f->tree, NULL, CHANGE_SCAN_RECURSIVE | CHANGE_SCAN_STAT, f->since, label, NULL), 0);
        snprintf(label, sizeof(label), "%s: dirs", what);
        assert_int_equal(walk_both(f->tree, NULL, CHANGE_SCAN_RECURSIVE | CHANGE_SCAN_DIRS, f->since, label, NULL), 0);
        snprintf(label, sizeof(label), "%s: filespec", what);
        assert_int_equal(walk_both(f->tree, "*.txt", CHANGE_SCAN_RECURSIVE, f->since, label, &n), 0);
        assert_int_equal(n, n_txt);
        snprintf(label, sizeof(label), "%s: serial", what);
        assert_int_equal(walk_both(f->tree, NULL, CHANGE_SCAN_RECURSIVE | CHANGE_SCAN_SERIAL, f->since, label, NULL),
                         0);
        /* Future-dated old files count as changed; an early since makes everything a candidate. */
        snprintf(label, sizeof(label), "%s: early since", what);
        assert_int_equal(walk_both(f->tree, NULL, CHANGE_SCAN_RECURSIVE, f->since - 3600 * FT_SECOND, label, &n), 0);
        assert_true(n > OLD_FILES_DIRS * OLD_FILES_PER_DIR / 2);
}

static void expect_changed_set(Fixture *f) {
        StrList l = {};

        assert_int_equal(change_scan_walk(AT_FDCWD, f->tree, NULL, CHANGE_SCAN_RECURSIVE, f->since, collect_path, &l),
                         0);
        strlist_expect(&l, "changed", EXPECTED);
        strlist_clear(&l);
}

/* The bulk scan runs and filters: at least the changed inodes, far fewer than all files. */
static void expect_bulk_used(Fixture *f) {
        size_t candidates = 0;

        assert_int_equal(change_scan_bulk_probe(AT_FDCWD, f->tree, f->since, &candidates), 0);
        assert_true(candidates >= f->changed_inodes);
        assert_true(candidates < OLD_FILES_DIRS * OLD_FILES_PER_DIR / 4);
}

/* ---- without privilege ---- */

static int count_entry(const ChangeScanEntry *e, void *userdata) {
        (*(unsigned *) userdata)++;
        return 0;
}

static int run_child(int (*fn)(Fixture *), Fixture *f) {
        pid_t pid = fork();
        int status;

        assert_true(pid >= 0);
        if (pid == 0)
                _exit(fn(f));
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        return WEXITSTATUS(status);
}

/* Both walks stop at the unreadable directory alike (the same callbacks before it). */
static int both_stop_at_locked(Fixture *f) {
        unsigned nb = 0, ns = 0;
        int rb, rs;

        rs = change_scan_walk(AT_FDCWD, f->tree, NULL, CHANGE_SCAN_RECURSIVE | CHANGE_SCAN_NO_BULK, f->since,
                              count_entry, &ns);
        rb = change_scan_walk(AT_FDCWD, f->tree, NULL, CHANGE_SCAN_RECURSIVE, f->since, count_entry, &nb);
        if (rs != -EACCES)
                return 10;
        return rb == rs && nb == ns ? 0 : 11;
}

/* As nobody: neither bulkstat (CAP_SYS_ADMIN) nor the device (root:disk 0660) is allowed. */
static int nobody_child(Fixture *f) {
        size_t candidates = 0;
        int r;

        if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
                return 90;
        r = change_scan_bulk_probe(AT_FDCWD, f->tree, f->since, &candidates);
        if (r != -EPERM && r != -EACCES)
                return 91;
        return both_stop_at_locked(f);
}

/* Root without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH but with CAP_SYS_ADMIN: the bulk
 * scan runs, and "locked" (mode 0) cannot be read. */
static int undac_child(Fixture *f) {
        struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct data[2] = {};
        size_t candidates = 0;

        if (syscall(SYS_capget, &hdr, data) < 0)
                return 90;
        data[0].effective &= ~((1u << CAP_DAC_OVERRIDE) | (1u << CAP_DAC_READ_SEARCH));
        data[0].permitted = data[0].effective;
        data[0].inheritable = 0;
        if (syscall(SYS_capset, &hdr, data) < 0)
                return 91;
        if (change_scan_bulk_probe(AT_FDCWD, f->tree, f->since, &candidates) < 0)
                return 92;
        return both_stop_at_locked(f);
}

/* ------------------------------------------------------------------------------------------ */

static void test_xfs_live(void **state) {
        Fixture *f = *state;

        /* XFS bulkstat reports the in-memory inodes: valid on a writable mount too. */
        expect_bulk_used(f);
        expect_changed_set(f);
        expect_same_walks(f, "xfs rw", 12, 9);
}

static void test_ext4_needs_readonly(void **state) {
        Fixture *f = *state;
        size_t candidates = 0;

        /* Writable: the inode tables on the device may change under the scan. */
        assert_int_equal(change_scan_bulk_probe(AT_FDCWD, f->tree, f->since, &candidates), -EROFS);
        expect_same_walks(f, "ext4 rw (no bulk scan)", 12, 9);
        /* Read-only, as a backup's snapshot is mounted. */
        assert_int_equal(mount(NULL, f->fs.mnt, NULL, MS_REMOUNT | MS_RDONLY, NULL), 0);
        expect_bulk_used(f);
        expect_changed_set(f);
        expect_same_walks(f, "ext4 ro", 12, 9);
}

static void test_boundaries(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *tmpfs = join(f->tree, "d05/mnt"), *target = join(f->tree, "d14/f001.txt"),
                           *source = join(f->tree, "d07/f001.txt");
        size_t candidates = 0;

        /* A tmpfs with a new file inside the tree: neither walk enters it. */
        assert_int_equal(mount("tmpfs", tmpfs, "tmpfs", 0, "size=1m"), 0);
        make_file(tmpfs, "new-on-tmpfs.txt", 0);
        expect_bulk_used(f);
        expect_same_walks(f, "tmpfs inside", 12, 9);
        expect_changed_set(f);
        /* The tmpfs itself: no bulk scan there, and the walk finds its file. */
        assert_int_equal(change_scan_bulk_probe(AT_FDCWD, tmpfs, f->since, &candidates), -EOPNOTSUPP);

        /* A changed file bind-mounted over an old one: statx sees the mounted file's times, the
         * directory's inode number is the old file's. No bulk scan then, and the same walk. */
        assert_int_equal(mount(source, target, NULL, MS_BIND, NULL), 0);
        assert_int_equal(change_scan_bulk_probe(AT_FDCWD, f->tree, f->since, &candidates), -EXDEV);
        expect_same_walks(f, "file mount", 13, 10);
        assert_int_equal(umount2(target, 0), 0);
        assert_int_equal(umount2(tmpfs, MNT_DETACH), 0);
        expect_bulk_used(f);
}

static void test_small_share(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *one = join(f->tree, "d07");
        size_t candidates = 0;

        /* One directory of 60 files among 1 800: a scan of every inode does not pay. */
        assert_int_equal(change_scan_bulk_probe(AT_FDCWD, one, f->since, &candidates), -EFBIG);
        assert_int_equal(walk_both(one, NULL, CHANGE_SCAN_RECURSIVE, f->since, "one directory", NULL), 0);
}

static void test_privileges(void **state) {
        Fixture *f = *state;

        assert_int_equal(run_child(nobody_child, f), 0);
        assert_int_equal(run_child(undac_child, f), 0);
}

/* ---- XFS read-only: the device read directly ---- */

/* The block device under path, from sysfs (no udev needed). */
static char *device_of(const char *path) {
        char uevent[64], line[256];
        struct stat st;
        char *dev = NULL;
        FILE *in;

        assert_int_equal(stat(path, &st), 0);
        snprintf(uevent, sizeof(uevent), "/sys/dev/block/%u:%u/uevent", major(st.st_dev), minor(st.st_dev));
        in = fopen(uevent, "re");
        assert_non_null(in);
        while (!dev && fgets(line, sizeof(line), in))
                if (strncmp(line, "DEVNAME=", 8) == 0) {
                        line[strcspn(line, "\n")] = 0;
                        assert_true(asprintf(&dev, "/dev/%s", line + 8) > 0);
                }
        fclose(in);
        assert_non_null(dev);
        return dev;
}

static uint64_t ino_of(Fixture *f, const char *rel) {
        _cleanup_free_ char *p = join(f->tree, rel);
        struct stat st;

        assert_int_equal(lstat(p, &st), 0);
        return st.st_ino;
}

static void xfs_geometry(Fixture *f, struct xfs_fsop_geom *ret) {
        _cleanup_close_ int fd = open(f->tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        assert_true(fd >= 0);
        *ret = (struct xfs_fsop_geom) {};
        assert_int_equal(ioctl(fd, XFS_IOC_FSGEOMETRY, ret), 0);
}

static unsigned log2_ceil(uint64_t v) {
        unsigned l = 0;

        while ((UINT64_C(1) << l) < v)
                l++;
        return l;
}

/* The allocation group of an inode number. */
static uint32_t xfs_ag_of(const struct xfs_fsop_geom *geo, uint64_t ino) {
        return (uint32_t) (ino >> (log2_ceil(geo->agblocks) + log2_ceil(geo->blocksize / geo->inodesize)));
}

/*
 * The device reader alone, group by group: every changed inode is in its set, old files and
 * directories are not, and it filters (far fewer candidates than files). bad_ag: a group
 * whose AGI was damaged, which must fail with -EUCLEAN (UINT32_MAX: none).
 */
static void expect_dev_scan(Fixture *f, uint32_t bad_ag) {
        static const char *const changed[] = { "d00/future.txt", "d07/f001.txt", "d08/new.txt",
                                               "newdir/deeper/fresh.bin", "d09/renamed.txt", "d03/to-chmod.txt",
                                               "d10/hardlink.txt", "d11/reuses-inode.txt", "d12/new-link",
                                               "d12/new-fifo" };
        static const char *const old[] = { "d20/f001.txt", "d21/f002.bin", "d06/old-fifo", "d06/old-link",
                                           "d13" };
        _cleanup_free_ char *dev = device_of(f->tree);
        _cleanup_(change_set_freep) ChangeSet *set = change_set_new();
        _cleanup_(change_scan_xfs_dev_freep) XfsDev *d = NULL;
        _Atomic bool cancel = false;
        struct xfs_fsop_geom geo;

        assert_non_null(set);
        xfs_geometry(f, &geo);
        assert_int_equal(change_scan_xfs_dev_open(dev, &geo, &d), 0);
        assert_int_equal(change_scan_xfs_dev_agcount(d), geo.agcount);
        for (uint32_t ag = 0; ag < geo.agcount; ag++)
                assert_int_equal(change_scan_xfs_dev_scan_ag(d, ag, f->since, set, &cancel), ag == bad_ag ? -EUCLEAN : 0);
        for (size_t i = 0; i < ELEMENTSOF(changed); i++) {
                uint64_t ino = ino_of(f, changed[i]);

                if (xfs_ag_of(&geo, ino) != bad_ag && !change_set_contains(set, ino))
                        fail_msg("device scan misses changed %s (inode %" PRIu64 ")", changed[i], ino);
        }
        for (size_t i = 0; i < ELEMENTSOF(old); i++)
                if (change_set_contains(set, ino_of(f, old[i])))
                        fail_msg("device scan keeps old %s", old[i]);
        assert_true(change_set_size(set) < OLD_FILES_DIRS * OLD_FILES_PER_DIR / 4);
        /* A time before everything: every file is a candidate, none of the directories. */
        change_set_free(TAKE_PTR(set));
        set = change_set_new();
        assert_non_null(set);
        for (uint32_t ag = 0; ag < geo.agcount; ag++)
                if (ag != bad_ag)
                        assert_int_equal(change_scan_xfs_dev_scan_ag(d, ag, f->since - 3650 * 48 * 3600 * FT_SECOND,
                                                                     set, &cancel),
                                         0);
        if (bad_ag == UINT32_MAX) {
                assert_true(change_set_size(set) >= OLD_FILES_DIRS * OLD_FILES_PER_DIR);
                assert_false(change_set_contains(set, ino_of(f, "d13")));
        }
}

static void test_xfs_readonly(void **state) {
        Fixture *f = *state;

        assert_int_equal(mount(NULL, f->fs.mnt, NULL, MS_REMOUNT | MS_RDONLY, NULL), 0);
        expect_dev_scan(f, UINT32_MAX);
        expect_bulk_used(f);
        expect_changed_set(f);
        expect_same_walks(f, "xfs ro", 12, 9);
}

/* The device differs from what XFS holds in memory (its AGI buffer, cached since the walks
 * above): the device reader refuses that group, bulkstat reads it, and the walk is the same.
 * Last of its group: the device stays damaged until the fixture goes. */
static void test_xfs_damaged_agi(void **state) {
        Fixture *f = *state;
        struct xfs_fsop_geom geo;
        _cleanup_close_ int fd = -EBADF;
        uint32_t ag;
        uint8_t magic[4];
        uint64_t off;

        xfs_geometry(f, &geo);
        ag = xfs_ag_of(&geo, ino_of(f, "d07/f001.txt"));        /* a group holding a changed file */
        off = (uint64_t) ag * geo.agblocks * geo.blocksize + 2 * geo.sectsize;
        fd = open(f->fs.image, O_RDWR | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(pread(fd, magic, sizeof(magic), (off_t) off), (ssize_t) sizeof(magic));
        assert_memory_equal(magic, "XAGI", 4);
        magic[0] ^= 0x01;
        assert_int_equal(pwrite(fd, magic, sizeof(magic), (off_t) off), (ssize_t) sizeof(magic));
        assert_int_equal(fsync(fd), 0);

        expect_dev_scan(f, ag);
        expect_bulk_used(f);
        expect_changed_set(f);
        expect_same_walks(f, "xfs ro, damaged AGI", 12, 9);
}

int main(void) {
        const struct CMUnitTest xfs[] = {
                cmocka_unit_test(test_xfs_live),
                cmocka_unit_test(test_boundaries),
                cmocka_unit_test(test_small_share),
                cmocka_unit_test(test_privileges),
        };
        const struct CMUnitTest xfs_ro[] = {
                cmocka_unit_test(test_xfs_readonly),
                cmocka_unit_test(test_boundaries),
                cmocka_unit_test(test_small_share),
                cmocka_unit_test(test_xfs_damaged_agi),
        };
        const struct CMUnitTest xfs_ro_old[] = {
                cmocka_unit_test(test_xfs_readonly),
        };
        const struct CMUnitTest ext4[] = {
                cmocka_unit_test(test_ext4_needs_readonly),
                cmocka_unit_test(test_boundaries),
                cmocka_unit_test(test_small_share),
                cmocka_unit_test(test_privileges),
        };
        int r;

        if (geteuid() != 0) {
                fprintf(stderr, "test-bulk-scan needs root\n");
                return 77;
        }
        r = cmocka_run_group_tests_name("xfs", xfs, setup_xfs, teardown_fs);
        r += cmocka_run_group_tests_name("xfs read-only", xfs_ro, setup_xfs, teardown_fs);
        r += cmocka_run_group_tests_name("xfs read-only, bigtime=0 sparse=0", xfs_ro_old, setup_xfs_old_format,
                                         teardown_fs);
        r += cmocka_run_group_tests_name("ext4", ext4, setup_ext4, teardown_fs);
        return r;
}
