/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-change-scan: the directory walk under file selection: file specs (and that they mean
 * what the writer side's bcd_filespec_match means), recursion, the time filter, directory
 * pruning, symlinks never followed (in the start path or below), trees deeper than PATH_MAX
 * and deeper than the limit, callback errors, and directory atimes left alone. Then the
 * parallel walk against CHANGE_SCAN_SERIAL: the same callbacks in the same order (hostile
 * names, symlinks, skipped directories, callback errors, an unreadable directory, a mount
 * point), on more than one thread, and every stable file exactly once while another thread
 * changes the tree.
 */
#include "selection-test.h"

#include <dirent.h>
#include <grp.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include "backup-components.h"
#include "change-scan.h"

static int collect(const ChangeScanEntry *e, void *userdata) {
        StrList *l = userdata;

        assert_non_null(e->name);
        assert_true(e->name >= e->path);
        assert_string_equal(e->name, strrchr(e->path, '/') ? strrchr(e->path, '/') + 1 : e->path);
        strlist_addf(l, "%s%s", e->path, e->type == DT_LNK ? "@" : e->type == DT_DIR ? "/" : "");
        return 0;
}

static void test_filespec(void **state) {
        static const struct {
                const char *spec, *name;
                bool match;
        } t[] = {
                { "*", "anything", true },        { "*", ".hidden", true },     { "*.db", "a.db", true },
                { "*.db", "a.db.old", false },    { "a?c", "abc", true },       { "a?c", "ac", false },
                { "a?c", "aéc", true },           { "*x*y", "axxxy", true },    { "*x*y", "axyx", false },
                { "??", "é", false },             { "?", "é", true },           { "*.*", "noext", false },
                { "a*b*c", "abbbc", true },       { "A.DB", "a.db", false },    { "[ab]", "a", false },
                { "[ab]", "[ab]", true },         { "a\\b", "a\\b", true },     { "**", "", true },
                { "*?", "", false },              { "é*", "éte", true },
        };

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                if (change_scan_filespec_match(t[i].spec, t[i].name) != t[i].match)
                        fail_msg("\"%s\" vs \"%s\"", t[i].spec, t[i].name);
                /* Both sides of the protocol agree on valid UTF-8. */
                assert_int_equal(bcd_filespec_match(t[i].spec, t[i].name), t[i].match);
        }
        /* Bytes that are not UTF-8 still count as characters here. */
        assert_true(change_scan_filespec_match("*", "\xff\xfe"));
        assert_true(change_scan_filespec_match("??", "\xff\xfe"));
        assert_false(change_scan_filespec_match("?", "\xff\xfe"));
        assert_true(change_scan_filespec_match("a*", "a\xff"));
        assert_true(change_scan_filespec_match(NULL, "x"));
        assert_false(change_scan_filespec_match("*", NULL));
}

static void test_walk_basics(void **state) {
        _cleanup_free_ char *d = make_scratch(), *p = NULL;
        StrList l = {};

        make_file(d, "a.db", 0);
        make_file(d, "b.txt", 0);
        make_file(d, "s/c.db", 0);
        make_file(d, "s/t/d.db", 0);
        make_file(d, "u/e.txt", 0);
        assert_true(asprintf(&p, "%s/s/link.db", d) > 0);
        assert_int_equal(symlink("/etc/passwd", p), 0);
        free(p);
        assert_true(asprintf(&p, "%s/s/loop", d) > 0);
        assert_int_equal(symlink("..", p), 0);

        assert_int_equal(change_scan_walk(AT_FDCWD, d, "*.db", 0, 0, collect, &l), 0);
        strlist_expect(&l, "flat", "a.db");
        strlist_clear(&l);

        assert_int_equal(change_scan_walk(AT_FDCWD, d, "*.db", CHANGE_SCAN_RECURSIVE, 0, collect, &l), 0);
        strlist_expect(&l, "recursive", "a.db s/c.db s/t/d.db s/link.db@");
        strlist_clear(&l);

        assert_int_equal(change_scan_walk(AT_FDCWD, d, NULL, CHANGE_SCAN_RECURSIVE, 0, collect, &l), 0);
        strlist_expect(&l, "all", "a.db b.txt s/c.db s/t/d.db s/link.db@ s/loop@ u/e.txt");
        strlist_clear(&l);

        /* Relative to a directory fd. */
        {
                _cleanup_close_ int fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

                assert_true(fd >= 0);
                assert_int_equal(change_scan_walk(fd, "s", "*", CHANGE_SCAN_RECURSIVE, 0, collect, &l), 0);
                strlist_expect(&l, "relative", "c.db t/d.db link.db@ loop@");
                strlist_clear(&l);
        }

        assert_int_equal(change_scan_walk(AT_FDCWD, d, "a/b", 0, 0, collect, &l), -EINVAL);
        assert_int_equal(change_scan_walk(AT_FDCWD, d, "", 0, 0, collect, &l), -EINVAL);
        assert_int_equal(change_scan_walk(AT_FDCWD, "", NULL, 0, 0, collect, &l), -EINVAL);
        assert_int_equal(change_scan_walk(AT_FDCWD, d, NULL, 0, 0, NULL, &l), -EINVAL);
        free(p);
        assert_true(asprintf(&p, "%s/missing", d) > 0);
        assert_int_equal(change_scan_walk(AT_FDCWD, p, NULL, 0, 0, collect, &l), -ENOENT);
        free(p);
        assert_true(asprintf(&p, "%s/a.db", d) > 0);
        assert_int_equal(change_scan_walk(AT_FDCWD, p, NULL, 0, 0, collect, &l), -ENOTDIR);
        /* A symlink anywhere in the start path is never followed. */
        free(p);
        assert_true(asprintf(&p, "%s/s/loop/u", d) > 0);
        assert_int_equal(change_scan_walk(AT_FDCWD, p, NULL, 0, 0, collect, &l), -ELOOP);
        free(p);
        assert_true(asprintf(&p, "%s/s/loop", d) > 0);
        assert_int_equal(change_scan_walk(AT_FDCWD, p, NULL, 0, 0, collect, &l), -ELOOP);
        assert_int_equal(l.n, 0);
        remove_tree(d);
}

static void test_walk_since(void **state) {
        _cleanup_free_ char *d = make_scratch();
        vss_timestamp future = now_filetime() + 3600 * FT_SECOND;
        StrList l = {};

        make_file(d, "old", 0);
        make_file(d, "x/new", future + 10 * FT_SECOND);
        make_file(d, "x/edge", future);
        make_file(d, "x/y/older", future - 10 * FT_SECOND);

        /* Only mtime or ctime at or after since; ctime is now, so only the future mtimes count. */
        assert_int_equal(change_scan_walk(AT_FDCWD, d, NULL, CHANGE_SCAN_RECURSIVE, future, collect, &l), 0);
        strlist_expect(&l, "since", "x/new x/edge");
        strlist_clear(&l);

        /* ctime counts too: everything was changed after an hour ago. */
        assert_int_equal(change_scan_walk(AT_FDCWD, d, NULL, CHANGE_SCAN_RECURSIVE, now_filetime() - 3600 * FT_SECOND,
                                          collect, &l),
                         0);
        assert_int_equal(l.n, 4);
        strlist_clear(&l);
        remove_tree(d);
}

static int stat_check(const ChangeScanEntry *e, void *userdata) {
        struct stat st;

        assert_true(e->have_stat);
        assert_true(e->dir_fd >= 0);
        assert_int_equal(fstatat(e->dir_fd, e->name, &st, AT_SYMLINK_NOFOLLOW), 0);
        assert_int_equal(e->ino, st.st_ino);
        assert_int_equal(e->size, (uint64_t) st.st_size);
        assert_int_equal(e->mtime, vss_timestamp_from_unix_ns((int64_t) st.st_mtim.tv_sec * 1000000000 +
                                                              st.st_mtim.tv_nsec));
        (*(unsigned *) userdata)++;
        return 0;
}

static int prune(const ChangeScanEntry *e, void *userdata) {
        if (e->type == DT_DIR)
                return streq(e->name, "skip") ? CHANGE_SCAN_SKIP : 0;
        return collect(e, userdata);
}

static int stop_at_two(const ChangeScanEntry *e, void *userdata) {
        return ++*(unsigned *) userdata == 2 ? -ECANCELED : 0;
}

static void test_walk_stat_prune_stop(void **state) {
        _cleanup_free_ char *d = make_scratch();
        StrList l = {};
        unsigned n = 0;

        make_file(d, "a", 0);
        make_file(d, "skip/b", 0);
        make_file(d, "keep/c", 0);
        make_file(d, "keep/skip/d", 0);

        assert_int_equal(change_scan_walk(AT_FDCWD, d, NULL, CHANGE_SCAN_RECURSIVE | CHANGE_SCAN_STAT, 0, stat_check,
                                          &n),
                         0);
        assert_int_equal(n, 4);

        assert_int_equal(change_scan_walk(AT_FDCWD, d, NULL, CHANGE_SCAN_RECURSIVE | CHANGE_SCAN_DIRS, 0, prune, &l), 0);
        strlist_expect(&l, "pruned", "a keep/c");
        strlist_clear(&l);

        n = 0;
        assert_int_equal(change_scan_walk(AT_FDCWD, d, NULL, CHANGE_SCAN_RECURSIVE, 0, stop_at_two, &n), -ECANCELED);
        assert_int_equal(n, 2);
        remove_tree(d);
}

/* Build depth levels of 200-character directory names below d, a file at the bottom. */
static void make_deep(const char *d, unsigned depth) {
        char name[201];
        int fd, nfd;

        memset(name, 'n', 200);
        name[200] = 0;
        fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);
        for (unsigned i = 0; i < depth; i++) {
                assert_int_equal(mkdirat(fd, name, 0755), 0);
                nfd = openat(fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                assert_true(nfd >= 0);
                close(fd);
                fd = nfd;
        }
        nfd = openat(fd, "bottom", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        assert_true(nfd >= 0);
        close(nfd);
        close(fd);
}

static int deep_entry(const ChangeScanEntry *e, void *userdata) {
        assert_string_equal(e->name, "bottom");
        *(size_t *) userdata = strlen(e->path);
        return 0;
}

/* Deleting a tree deeper than PATH_MAX needs fds too. */
static void remove_deep(int parent, const char *name) {
        int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        DIR *dir;
        struct dirent *de;

        if (fd < 0) {
                (void) unlinkat(parent, name, 0);
                return;
        }
        dir = fdopendir(fd);
        assert_non_null(dir);
        while ((de = readdir(dir)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        remove_deep(dirfd(dir), de->d_name);
        closedir(dir);
        (void) unlinkat(parent, name, AT_REMOVEDIR);
}

static void test_walk_deep(void **state) {
        _cleanup_free_ char *d = make_scratch(), *a = NULL, *b = NULL;
        size_t len = 0;

        assert_true(asprintf(&a, "%s/a", d) > 0 && asprintf(&b, "%s/b", d) > 0);
        assert_int_equal(mkdir(a, 0755), 0);
        assert_int_equal(mkdir(b, 0755), 0);

        /* 100 levels: a 20 kB relative path, five times PATH_MAX. */
        make_deep(a, 100);
        assert_int_equal(change_scan_walk(AT_FDCWD, a, NULL, CHANGE_SCAN_RECURSIVE, 0, deep_entry, &len), 0);
        assert_int_equal(len, 100 * 201 + strlen("bottom"));

        /* Past the depth limit: an error, never a silent partial result. */
        make_deep(b, CHANGE_SCAN_MAX_DEPTH + 1);
        len = 0;
        assert_int_equal(change_scan_walk(AT_FDCWD, b, NULL, CHANGE_SCAN_RECURSIVE, 0, deep_entry, &len), -ELOOP);
        assert_int_equal(len, 0);

        remove_deep(AT_FDCWD, d);
}

static int count(const ChangeScanEntry *e, void *userdata) {
        (*(unsigned *) userdata)++;
        return 0;
}

/* Reading directories for a backup must not dirty their atimes (relatime would here). */
static void test_walk_noatime(void **state) {
        _cleanup_free_ char *d = make_scratch(), *sub = NULL;
        struct timespec ts[2] = { { .tv_sec = 1000000000 }, { .tv_nsec = UTIME_OMIT } };
        struct stat st;
        unsigned n = 0;

        make_file(d, "sub/f", 0);
        assert_true(asprintf(&sub, "%s/sub", d) > 0);
        assert_int_equal(utimensat(AT_FDCWD, sub, ts, 0), 0);
        assert_int_equal(utimensat(AT_FDCWD, d, ts, 0), 0);
        assert_int_equal(change_scan_walk(AT_FDCWD, d, NULL, CHANGE_SCAN_RECURSIVE, 0, count, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(stat(sub, &st), 0);
        assert_int_equal(st.st_atim.tv_sec, 1000000000);
        assert_int_equal(stat(d, &st), 0);
        assert_int_equal(st.st_atim.tv_sec, 1000000000);
        remove_tree(d);
}

/* ------------------------------------------------------------------------------------------ */
/* The parallel walk reports what the serial one reports, in the same order                    */
/* ------------------------------------------------------------------------------------------ */

typedef struct Trace {
        StrList l;
        unsigned stop_after;    /* > 0: fail with -ECANCELED at that entry */
        bool skip_dirs;         /* CHANGE_SCAN_SKIP for directories named "skip*" */
        unsigned threads_before;        /* threads in the process before the walk */
        bool saw_threads;       /* more threads than that during a callback */
} Trace;

static unsigned thread_count(void) {
        DIR *d = opendir("/proc/self/task");
        struct dirent *de;
        unsigned n = 0;

        if (!d)
                return 0;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}

/* Everything a callback can see of an entry, one line per call, in call order. */
static int trace(const ChangeScanEntry *e, void *userdata) {
        Trace *t = userdata;

        assert_true(e->dir_fd >= 0);
        if (e->have_stat) {
                struct stat st;

                /* dir_fd is the entry's own directory. */
                assert_int_equal(fstatat(e->dir_fd, e->name, &st, AT_SYMLINK_NOFOLLOW), 0);
                assert_int_equal(e->ino, st.st_ino);
        }
        strlist_addf(&t->l, "%s|%u|%d|%" PRIu64 "|%" PRId64 "|%" PRId64 "|%" PRIu64, e->path, e->type, e->have_stat,
                     e->ino, e->have_stat ? e->mtime : 0, e->have_stat ? e->ctime : 0, e->have_stat ? e->size : 0);
        if (t->l.n % 256 == 0 && thread_count() > t->threads_before)
                t->saw_threads = true;
        if (t->stop_after && t->l.n == t->stop_after)
                return -ECANCELED;
        if (e->type == DT_DIR && t->skip_dirs && strncmp(e->name, "skip", 4) == 0)
                return CHANGE_SCAN_SKIP;
        return 0;
}

static void expect_same_order(const StrList *serial, const StrList *parallel, const char *what) {
        size_t n = MIN(serial->n, parallel->n);

        for (size_t i = 0; i < n; i++)
                if (!streq(serial->v[i], parallel->v[i]))
                        fail_msg("%s: entry %zu differs: serial \"%s\", parallel \"%s\"", what, i, serial->v[i],
                                 parallel->v[i]);
        if (serial->n != parallel->n)
                fail_msg("%s: serial reported %zu entries, parallel %zu", what, serial->n, parallel->n);
}

/* Walk d serially and in parallel with the same arguments; same calls, same order, same result. */
static int walk_both(const char *d, const char *filespec, ChangeScanFlags flags, vss_timestamp since, Trace *proto,
                     const char *what, bool *ret_threads) {
        Trace s = *proto, p = *proto;
        int rs, rp;

        s.threads_before = p.threads_before = thread_count();

        rs = change_scan_walk(AT_FDCWD, d, filespec, flags | CHANGE_SCAN_SERIAL, since, trace, &s);
        rp = change_scan_walk(AT_FDCWD, d, filespec, flags, since, trace, &p);
        if (rs != rp)
                fail_msg("%s: serial returned %d, parallel %d", what, rs, rp);
        expect_same_order(&s.l, &p.l, what);
        assert_false(s.saw_threads);
        if (ret_threads)
                *ret_threads = p.saw_threads;
        strlist_clear(&s.l);
        strlist_clear(&p.l);
        return rs;
}

static const char *const hostile[] = {
        "new\nline", " lead", "trail ", "-dash", "\xff\xfe latin1 \xe9", "*?[glob]", "back\\slash", "...",
        ".hidden", "tab\there", "é unicode",
};

/*
 * A tree big enough for the helpers to start: 40 directories of 100 files below "t", some of
 * them nested five deep, "skip*" directories with subtrees, an empty directory, hostile
 * names, symlinks (to "..", dangling, absolute), a FIFO and a hard link; one file in three
 * with an old mtime.
 */
static void make_wide_tree(const char *d) {
        char rel[512], longname[256];
        vss_timestamp old = now_filetime() - 3650 * 24 * 3600 * FT_SECOND;
        unsigned k = 0;

        memset(longname, 'L', 255);
        longname[255] = 0;
        for (unsigned i = 0; i < 40; i++) {
                const char *top = i % 10 == 3 ? "skip" : "dir";

                for (unsigned f = 0; f < 100; f++, k++) {
                        if (i % 8 == 5)
                                snprintf(rel, sizeof(rel), "t/%s%02u/a/b/c/d/f%03u.%s", top, i, f, f % 2 ? "db" : "log");
                        else if (f % 25 == 7)
                                snprintf(rel, sizeof(rel), "t/%s%02u/sub%u/f%03u.db", top, i, f, f);
                        else
                                snprintf(rel, sizeof(rel), "t/%s%02u/f%03u.%s", top, i, f, f % 2 ? "db" : "log");
                        make_file(d, rel, k % 3 == 0 ? old : 0);
                }
        }
        for (size_t i = 0; i < ELEMENTSOF(hostile); i++) {
                snprintf(rel, sizeof(rel), "t/dir0%zu/%s.db", i % 3, hostile[i]);
                make_file(d, rel, 0);
                snprintf(rel, sizeof(rel), "t/%s/f.db", hostile[i]);
                make_file(d, rel, 0);
        }
        snprintf(rel, sizeof(rel), "t/dir01/%s", longname);
        make_file(d, rel, 0);
        snprintf(rel, sizeof(rel), "%s/t/empty", d);
        assert_int_equal(mkdir(rel, 0755), 0);
        snprintf(rel, sizeof(rel), "%s/t/dir02/up", d);
        assert_int_equal(symlink("..", rel), 0);
        snprintf(rel, sizeof(rel), "%s/t/dir02/dangling.db", d);
        assert_int_equal(symlink("nowhere", rel), 0);
        snprintf(rel, sizeof(rel), "%s/t/dir04/etc", d);
        assert_int_equal(symlink("/etc", rel), 0);
        snprintf(rel, sizeof(rel), "%s/t/dir04/fifo", d);
        assert_int_equal(mkfifo(rel, 0644), 0);
        {
                _cleanup_free_ char *from = NULL, *to = NULL;

                assert_true(asprintf(&from, "%s/t/dir00/f000.log", d) > 0);
                assert_true(asprintf(&to, "%s/t/dir06/hardlink.db", d) > 0);
                assert_int_equal(link(from, to), 0);
        }
}

static void test_parallel_same_as_serial(void **state) {
        _cleanup_free_ char *d = make_scratch(), *t = NULL;
        vss_timestamp mid = now_filetime() - 365 * 24 * 3600 * FT_SECOND;
        Trace plain = {}, skipping = { .skip_dirs = true };
        bool threads = false, any_threads = false;
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        Trace stop;

        make_wide_tree(d);
        assert_true(asprintf(&t, "%s/t", d) > 0);

        assert_int_equal(walk_both(t, NULL, CHANGE_SCAN_RECURSIVE, 0, &plain, "all, no stat", NULL), 0);
        assert_int_equal(walk_both(t, NULL, CHANGE_SCAN_RECURSIVE | CHANGE_SCAN_STAT, 0, &plain, "stat", &threads), 0);
        any_threads |= threads;
        assert_int_equal(walk_both(t, NULL, CHANGE_SCAN_RECURSIVE, mid, &plain, "since", &threads), 0);
        any_threads |= threads;
        assert_int_equal(walk_both(t, "*.db", CHANGE_SCAN_RECURSIVE, mid, &plain, "filespec + since", NULL), 0);
        {
                _cleanup_free_ char *one = NULL;

                assert_true(asprintf(&one, "%s/dir01", t) > 0);
                assert_int_equal(walk_both(one, "*.db", 0, mid, &plain, "one level", NULL), 0);
        }
        assert_int_equal(walk_both(t, NULL, CHANGE_SCAN_RECURSIVE | CHANGE_SCAN_DIRS | CHANGE_SCAN_STAT, 0, &skipping,
                                   "dirs, skipping", &threads),
                         0);
        any_threads |= threads;
        assert_int_equal(walk_both(t, NULL, CHANGE_SCAN_RECURSIVE | CHANGE_SCAN_DIRS, mid, &skipping,
                                   "dirs, skipping, since", NULL),
                         0);
        /* A callback's error stops both at the same entry. */
        for (unsigned n = 1; n < 4000; n = n * 3 + 1) {
                stop = (Trace) { .stop_after = n };
                assert_int_equal(walk_both(t, NULL, CHANGE_SCAN_RECURSIVE | CHANGE_SCAN_STAT, 0, &stop, "stopped", NULL),
                                 -ECANCELED);
        }
        /* The parallel walk did run on more than one thread (it is meant to use every core). */
        if (cpus > 1)
                assert_true(any_threads);
        remove_tree(d);
}

/* Run fn in a child without CAP_DAC_OVERRIDE (as nobody when root); its exit code is the result. */
static int run_unprivileged(int (*fn)(const char *), const char *arg) {
        pid_t pid = fork();
        int status;

        assert_true(pid >= 0);
        if (pid == 0) {
                if (geteuid() == 0 && (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
                                       setresuid(65534, 65534, 65534) < 0))
                        _exit(90);
                _exit(fn(arg));
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        return WEXITSTATUS(status);
}

static int count_all(const ChangeScanEntry *e, void *userdata) {
        (*(unsigned *) userdata)++;
        return 0;
}

/* In the child: both walks end alike after the same number of calls; 2 when they succeed,
 * 3 when both stop with EACCES. */
static int unreadable_child(const char *t) {
        unsigned serial = 0, parallel = 0;
        int rs, rp;

        rs = change_scan_walk(AT_FDCWD, t, NULL, CHANGE_SCAN_RECURSIVE | CHANGE_SCAN_STAT | CHANGE_SCAN_SERIAL, 0,
                              count_all, &serial);
        rp = change_scan_walk(AT_FDCWD, t, NULL, CHANGE_SCAN_RECURSIVE | CHANGE_SCAN_STAT, 0, count_all, &parallel);
        if (rs != rp || serial != parallel || serial == 0)
                return 1;
        return rs == 0 ? 2 : rs == -EACCES ? 3 : 4;
}

static void test_parallel_unreadable_dir(void **state) {
        _cleanup_free_ char *d = make_scratch(), *t = NULL, *locked = NULL;

        make_wide_tree(d);
        assert_int_equal(chmod(d, 0755), 0);
        assert_true(asprintf(&t, "%s/t", d) > 0);
        assert_true(asprintf(&locked, "%s/t/dir07", d) > 0);
        /* The child reads the whole tree; then one directory in the middle is unreadable. */
        assert_int_equal(run_unprivileged(unreadable_child, t), 2);
        assert_int_equal(chmod(locked, 0), 0);
        assert_int_equal(run_unprivileged(unreadable_child, t), 3);
        assert_int_equal(chmod(locked, 0755), 0);
        remove_tree(d);
}

/* Unmounts the tmpfs of test_parallel_mount_boundary, whether it passed or not. */
static int mount_teardown(void **state) {
        char *mnt = *state;

        if (mnt) {
                (void) umount2(mnt, MNT_DETACH);
                free(mnt);
        }
        return 0;
}

static void test_parallel_mount_boundary(void **state) {
        _cleanup_free_ char *d = make_scratch(), *t = NULL;
        Trace all = {};
        char *mnt = NULL;

        if (geteuid() != 0)
                skip();
        make_wide_tree(d);
        assert_true(asprintf(&t, "%s/t", d) > 0);
        assert_true(asprintf(&mnt, "%s/t/dir04/mnt", d) > 0);
        *state = mnt;
        assert_int_equal(mkdir(mnt, 0755), 0);
        assert_int_equal(mount("tmpfs", mnt, "tmpfs", 0, "size=1m"), 0);
        make_file(mnt, "inside.db", 0);
        make_file(mnt, "deeper/inside.db", 0);

        assert_int_equal(walk_both(t, NULL, CHANGE_SCAN_RECURSIVE | CHANGE_SCAN_DIRS | CHANGE_SCAN_STAT, 0, &all,
                                   "mount boundary", NULL),
                         0);
        /* The mount point is reported as a directory, nothing below it. */
        all = (Trace) {};
        assert_int_equal(change_scan_walk(AT_FDCWD, t, NULL, CHANGE_SCAN_RECURSIVE | CHANGE_SCAN_DIRS | CHANGE_SCAN_STAT,
                                          0, trace, &all),
                         0);
        {
                bool mount_point = false;

                for (size_t i = 0; i < all.l.n; i++) {
                        assert_true(strncmp(all.l.v[i], "dir04/mnt/", 10) != 0);
                        mount_point |= strncmp(all.l.v[i], "dir04/mnt|", 10) == 0;
                }
                assert_true(mount_point);
        }
        strlist_clear(&all.l);
        assert_int_equal(umount2(mnt, MNT_DETACH), 0);
        *state = NULL;
        free(mnt);
        remove_tree(d);
}

typedef struct Churn {
        const char *dir;
        atomic_bool stop;
} Churn;

/* Create, rename, delete and replace entries of one directory until told to stop. */
static void *churn(void *userdata) {
        Churn *c = userdata;
        char a[4096], b[4096];

        for (unsigned i = 0; !atomic_load(&c->stop); i++) {
                snprintf(a, sizeof(a), "%s/c%u", c->dir, i % 50);
                snprintf(b, sizeof(b), "%s/r%u", c->dir, i % 50);
                switch (i % 4) {
                case 0:
                        (void) close(open(a, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
                        break;
                case 1:
                        (void) rename(a, b);
                        break;
                case 2:
                        (void) unlink(b);
                        (void) mkdir(a, 0755);
                        break;
                default:
                        (void) rmdir(a);
                        (void) unlink(a);
                        break;
                }
        }
        return NULL;
}

static int trace_paths(const ChangeScanEntry *e, void *userdata) {
        strlist_add(userdata, e->path);
        return 0;
}

static void test_parallel_concurrent_changes(void **state) {
        _cleanup_free_ char *d = make_scratch(), *t = NULL, *churn_dir = NULL;
        StrList stable = {};
        pthread_t th;
        Churn c;

        make_wide_tree(d);
        assert_true(asprintf(&t, "%s/t", d) > 0);
        assert_int_equal(change_scan_walk(AT_FDCWD, t, NULL, CHANGE_SCAN_RECURSIVE | CHANGE_SCAN_SERIAL, 0, trace_paths,
                                          &stable),
                         0);
        qsort(stable.v, stable.n, sizeof(char *), strlist_cmp);
        assert_true(asprintf(&churn_dir, "%s/t/dir05/a/b", d) > 0);
        c = (Churn) { .dir = churn_dir };
        assert_int_equal(pthread_create(&th, NULL, churn, &c), 0);

        /* Whatever comes and goes meanwhile, every file that stays is reported exactly once. */
        for (unsigned run = 0; run < 20; run++) {
                StrList got = {};
                size_t j = 0;

                assert_int_equal(change_scan_walk(AT_FDCWD, t, NULL,
                                                  CHANGE_SCAN_RECURSIVE | CHANGE_SCAN_STAT |
                                                  (run % 2 ? CHANGE_SCAN_SERIAL : 0),
                                                  0, trace_paths, &got),
                                 0);
                qsort(got.v, got.n, sizeof(char *), strlist_cmp);
                for (size_t i = 1; i < got.n; i++)
                        if (streq(got.v[i - 1], got.v[i]))
                                fail_msg("run %u: \"%s\" reported twice", run, got.v[i]);
                for (size_t i = 0; i < stable.n; i++) {
                        while (j < got.n && strcmp(got.v[j], stable.v[i]) < 0)
                                j++;
                        if (j == got.n || !streq(got.v[j], stable.v[i]))
                                fail_msg("run %u: \"%s\" missing", run, stable.v[i]);
                }
                strlist_clear(&got);
        }
        atomic_store(&c.stop, true);
        assert_int_equal(pthread_join(th, NULL), 0);
        strlist_clear(&stable);
        remove_tree(d);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_filespec),
                cmocka_unit_test(test_walk_basics),
                cmocka_unit_test(test_walk_since),
                cmocka_unit_test(test_walk_stat_prune_stop),
                cmocka_unit_test(test_walk_deep),
                cmocka_unit_test(test_walk_noatime),
                cmocka_unit_test(test_parallel_same_as_serial),
                cmocka_unit_test(test_parallel_unreadable_dir),
                cmocka_unit_test_teardown(test_parallel_mount_boundary, mount_teardown),
                cmocka_unit_test(test_parallel_concurrent_changes),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
