/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-vssbackup.c: the vssbackup program end to end, as a user runs it, against a private
 * vssd with the test-copy provider and a writer process:
 *
 *   - full, then changes (content, new file, deleted file and directory, chmod, an old mtime,
 *     a renamed directory), an incremental, more changes, another incremental: restoring each
 *     incremental gives the source tree as it was at that backup, byte for byte with modes
 *     (and times, where the provider's snapshots keep them: see times_preserved);
 *   - full, differential, differential: the last differential restores the same way and
 *     chains on the full, not on the first differential;
 *   - restore never replaces an existing file without --overwrite (exit 4, file untouched),
 *     and does with it;
 *   - a hostile archive placed in a backup directory (crafted here with libarchive: "..",
 *     absolute paths, a symlink to outside then a file through it, a hard link to outside)
 *     is refused entry by entry and nothing appears outside the target;
 *   - verify passes on a sound backup and fails on one flipped byte of the archive or of the
 *     listing;
 *   - the writer takes part: PrepareForBackup ... BackupComplete with its component marked
 *     succeeded, and vssbackup's manifest records the same;
 *   - a restore with writers: PreRestore before the files and PostRestore after, the component
 *     selected with its new target and a file restore status of "all"; --no-writers sends none;
 *     a writer asking for an alternate location without a mapping gets its files refused, with
 *     one its files land at the mapping's destination; RESTORE_IF_NOT_THERE with the files
 *     present sends them to a matching mapping and leaves the present ones untouched;
 *   - set-uid/set-gid bits (as root) come back from root's own backup, are dropped (and
 *     reported) from one whose directory or archive another user owns, and come back from it
 *     with --restore-setid.
 *
 * vssbackup's path comes from $VSSBACKUP.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#include "harness.h"
#include "macro.h"

typedef struct Fixture {
        Harness *h;
        char *volume;
        char *backups;
        TestWriter *w;
        unsigned n_runs;
} Fixture;

/* ------------------------------------------------------------------------------------------ */
/* Helpers                                                                                     */
/* ------------------------------------------------------------------------------------------ */

/* Strings made by pathf live until the test's teardown, so they can be used inline. */
static char **garbage;
static size_t n_garbage;

static char *pathf(const char *fmt, ...) _printf_(1, 2);
static char *pathf(const char *fmt, ...) {
        va_list ap;
        char *p = NULL, **grown;
        int n;

        va_start(ap, fmt);
        n = vasprintf(&p, fmt, ap);
        va_end(ap);
        assert_true(n >= 0);
        grown = realloc(garbage, (n_garbage + 1) * sizeof(char *));
        assert_non_null(grown);
        garbage = grown;
        garbage[n_garbage++] = p;
        return p;
}

static void garbage_collect(void) {
        for (size_t i = 0; i < n_garbage; i++)
                free(garbage[i]);
        free(garbage);
        garbage = NULL;
        n_garbage = 0;
}

static void write_text(const char *path, const char *text) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
        assert_int_equal(close(fd), 0);
}

static void write_at(const Fixture *f, const char *rel, const char *text) {
        char *p = pathf("%s/%s", f->volume, rel);

        write_text(p, text);
}

static char *read_text(const char *path) {
        char buf[65536];
        ssize_t n;
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return NULL;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n < 0)
                return NULL;
        buf[n] = 0;
        return strdup(buf);
}

/*
 * Runs vssbackup with args (NULL-terminated); its stdout and stderr go to files in the
 * harness directory, and stdout is returned in *ret_out (may be NULL). Returns the exit status.
 */
static int run_vssbackup(Fixture *f, char **ret_out, const char *const *args) {
        char *out = pathf("%s/vssbackup-%u.out", f->h->dir, f->n_runs);
        char *err = pathf("%s/vssbackup-%u.err", f->h->dir, f->n_runs);
        const char *exe = getenv("VSSBACKUP");
        char *argv[32];
        size_t n = 0;
        int status;
        pid_t pid;

        f->n_runs++;
        assert_non_null(exe);
        argv[n++] = (char *) exe;
        for (size_t i = 0; args[i]; i++) {
                assert_true(n < ELEMENTSOF(argv) - 1);
                argv[n++] = (char *) args[i];
        }
        argv[n] = NULL;

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int o = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                int e = open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

                if (o < 0 || e < 0 || dup2(o, STDOUT_FILENO) < 0 || dup2(e, STDERR_FILENO) < 0)
                        _exit(127);
                execv(exe, argv);
                _exit(127);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));

        if (WEXITSTATUS(status) != 0) {
                _cleanup_free_ char *e = read_text(err);

                print_message("vssbackup %s exited %d; stderr:\n%s\n", args[0], WEXITSTATUS(status), strempty(e));
        }
        if (ret_out)
                *ret_out = read_text(out);
        return WEXITSTATUS(status);
}

/* Runs vssbackup backup with args, which must succeed; returns the backup's path (malloc'd). */
static char *backup_with(Fixture *f, const char *const *args) {
        _cleanup_free_ char *out = NULL;
        const char *p, *nl;
        char *path;

        assert_int_equal(run_vssbackup(f, &out, args), 0);
        assert_non_null(out);
        /* "<type> backup <DIR>/<NAME>" */
        p = strstr(out, " backup ");
        assert_non_null(p);
        p += strlen(" backup ");
        nl = strchr(p, '\n');
        assert_non_null(nl);
        path = strndup(p, (size_t) (nl - p));
        assert_non_null(path);
        return path;
}

static char *backup(Fixture *f, const char *type) {
        return backup_with(f, (const char *const[]) { "backup", "--type", type, f->volume, "--to", f->backups, NULL });
}

static int restore(Fixture *f, const char *backup_path, const char *target, bool overwrite, char **ret_report) {
        char *report = pathf("%s/report-%u.tsv", f->h->dir, f->n_runs);
        int r;

        if (overwrite)
                r = run_vssbackup(f, NULL, (const char *const[]) { "restore", backup_path, "--to", target,
                                                                   "--report", report, "--overwrite", NULL });
        else
                r = run_vssbackup(f, NULL, (const char *const[]) { "restore", backup_path, "--to", target,
                                                                   "--report", report, NULL });
        if (ret_report)
                *ret_report = read_text(report);
        return r;
}

/* ------------------------------------------------------------------------------------------ */
/* Trees: what a restore must reproduce                                                       */
/* ------------------------------------------------------------------------------------------ */

typedef struct TreeEntry {
        char *path;
        mode_t mode;            /* type and permission bits */
        struct timespec mtime;
        char *content;          /* file contents or symlink target */
        size_t size;
} TreeEntry;

typedef struct Tree {
        TreeEntry *items;
        size_t n;
} Tree;

static void tree_add_dir(Tree *t, int dirfd, const char *prefix) {
        DIR *d;
        struct dirent *de;
        int fd = dup(dirfd);

        assert_true(fd >= 0);
        d = fdopendir(fd);
        assert_non_null(d);
        while ((de = readdir(d))) {
                TreeEntry *e;
                struct stat st;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                assert_int_equal(fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW), 0);
                t->items = realloc(t->items, (t->n + 1) * sizeof(TreeEntry));
                assert_non_null(t->items);
                e = &t->items[t->n++];
                *e = (TreeEntry) {
                        .mode = st.st_mode,
                        .mtime = st.st_mtim,
                };
                if (isempty(prefix))
                        e->path = strdup(de->d_name);
                else
                        assert_true(asprintf(&e->path, "%s/%s", prefix, de->d_name) >= 0);
                assert_non_null(e->path);
                if (S_ISREG(st.st_mode)) {
                        int ffd = openat(dirfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

                        assert_true(ffd >= 0);
                        e->content = malloc((size_t) st.st_size + 1);
                        assert_non_null(e->content);
                        assert_int_equal(read(ffd, e->content, (size_t) st.st_size + 1), st.st_size);
                        e->size = (size_t) st.st_size;
                        close(ffd);
                } else if (S_ISLNK(st.st_mode)) {
                        char buf[4096];
                        ssize_t n = readlinkat(dirfd, de->d_name, buf, sizeof(buf));

                        assert_true(n >= 0);
                        e->content = strndup(buf, (size_t) n);
                        e->size = (size_t) n;
                } else if (S_ISDIR(st.st_mode)) {
                        int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        _cleanup_free_ char *p = strdup(e->path);

                        assert_true(sub >= 0);
                        tree_add_dir(t, sub, p);
                        close(sub);
                }
        }
        closedir(d);
}

static int tree_entry_compare(const void *a, const void *b) {
        return strcmp(((const TreeEntry *) a)->path, ((const TreeEntry *) b)->path);
}

static Tree tree_capture(const char *root) {
        Tree t = {};
        int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        assert_true(fd >= 0);
        tree_add_dir(&t, fd, "");
        close(fd);
        if (t.n > 1)
                qsort(t.items, t.n, sizeof(TreeEntry), tree_entry_compare);
        return t;
}

static void tree_done(Tree *t) {
        for (size_t i = 0; i < t->n; i++) {
                free(t->items[i].path);
                free(t->items[i].content);
        }
        free(t->items);
        *t = (Tree) {};
}

/* a must equal b: paths, types, modes, contents, and mtimes when with_times. */
static void assert_trees_equal(const Tree *a, const Tree *b, bool with_times) {
        size_t i = 0, j = 0;
        bool ok = true;

        while (i < a->n || j < b->n) {
                int c = i >= a->n ? 1 : j >= b->n ? -1 : strcmp(a->items[i].path, b->items[j].path);

                if (c < 0) {
                        print_error("only in the source: %s\n", a->items[i++].path);
                        ok = false;
                        continue;
                }
                if (c > 0) {
                        print_error("only in the restore: %s\n", b->items[j++].path);
                        ok = false;
                        continue;
                }
                const TreeEntry *x = &a->items[i++], *y = &b->items[j++];

                if (x->mode != y->mode) {
                        print_error("%s: mode %o, restored %o\n", x->path, x->mode, y->mode);
                        ok = false;
                }
                if (x->size != y->size || (x->content && memcmp(x->content, y->content, x->size) != 0)) {
                        print_error("%s: contents differ\n", x->path);
                        ok = false;
                }
                if (with_times && (x->mtime.tv_sec != y->mtime.tv_sec || x->mtime.tv_nsec != y->mtime.tv_nsec)) {
                        print_error("%s: mtime %lld.%09ld, restored %lld.%09ld\n", x->path,
                                    (long long) x->mtime.tv_sec, x->mtime.tv_nsec, (long long) y->mtime.tv_sec,
                                    y->mtime.tv_nsec);
                        ok = false;
                }
        }
        if (!ok)
                fail();
}

/*
 * The snapshots keep file times (a real snapshot does, and the test-copy provider copies them),
 * so restores are compared with times. Checked once per test with a file of a known old mtime,
 * so a provider that stopped keeping them fails here rather than weakening every comparison.
 */
static bool times_preserved(Fixture *f, const char *full_backup) {
        char *target = pathf("%s/probe-restore", f->h->dir);
        char *probe = pathf("%s/probe-restore/old.txt", f->h->dir);
        struct stat st;

        assert_int_equal(restore(f, full_backup, target, false, NULL), 0);
        assert_int_equal(stat(probe, &st), 0);
        assert_int_equal(st.st_mtim.tv_sec, 1000000000);
        return true;
}

static void set_mtime(const Fixture *f, const char *rel, time_t sec) {
        struct timespec ts[2] = { { .tv_sec = sec }, { .tv_sec = sec } };

        assert_int_equal(utimensat(AT_FDCWD, pathf("%s/%s", f->volume, rel), ts, AT_SYMLINK_NOFOLLOW), 0);
}

static void sub_mkdir(const Fixture *f, const char *rel, mode_t mode) {
        char *p = pathf("%s/%s", f->volume, rel);

        assert_int_equal(mkdir(p, mode), 0);
        assert_int_equal(chmod(p, mode), 0);
}

/* The starting tree: files, a symlink, nested directories, an old mtime, a 1 MiB+ file. */
static void populate(Fixture *f) {
        _cleanup_free_ char *big = NULL;
        char *link = pathf("%s/link-to-a", f->volume);
        size_t big_len = 1536 * 1024;

        sub_mkdir(f, "docs", 0755);
        sub_mkdir(f, "docs/deep", 0700);
        sub_mkdir(f, "db", 0755);
        sub_mkdir(f, "gone", 0755);
        sub_mkdir(f, "moveme", 0755);
        write_at(f, "a.txt", "alpha\n");
        write_at(f, "docs/b.txt", "bravo\n");
        write_at(f, "docs/deep/c.txt", "charlie\n");
        write_at(f, "db/data.db", "database pages v1\n");
        write_at(f, "gone/x.txt", "to be deleted\n");
        write_at(f, "moveme/keep.txt", "renamed with its directory\n");
        write_at(f, "old.txt", "old file\n");
        set_mtime(f, "old.txt", 1000000000);
        assert_int_equal(symlink("a.txt", link), 0);

        big = malloc(big_len + 1);
        assert_non_null(big);
        for (size_t i = 0; i < big_len; i++)
                big[i] = (char) ('a' + (i * 7919) % 26);
        big[big_len] = 0;
        write_at(f, "big.bin", big);
}

/* ------------------------------------------------------------------------------------------ */
/* Fixture                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/*
 * The fixture, the writer given one more option (opt NULL: none) and its argument, and, with
 * alt_rel, an alternate location mapping of its file set to <volume>/alt_rel.
 */
static int setup_writer_options(void **state, const char *opt, const char *arg, const char *alt_rel) {
        Fixture *f = calloc(1, sizeof *f);
        char *db;

        assert_non_null(f);
        assert_ok0(harness_new(NULL, &f->h));
        assert_ok0(harness_make_volume(f->h, "vol", &f->volume));
        f->backups = pathf("%s/backups", f->h->dir);
        populate(f);
        db = pathf("%s/db", f->volume);
        {
                /* The writer sets a backup stamp in PostSnapshot (vss-test-writer's default edit event). */
                const char *args[] = { "--component", ":data", "--file", db, "--stamp", "lsn-4711",
                                       opt, arg, NULL, NULL, NULL };
                size_t n = opt ? 8 : 6;

                if (alt_rel) {
                        args[n++] = "--alternate-location";
                        args[n++] = pathf("%s/%s", f->volume, alt_rel);
                }

                assert_ok0(harness_add_writer(f->h, "dbwriter", args, &f->w));
        }
        *state = f;
        return 0;
}

static int setup_writer_option(void **state, const char *opt, const char *arg) {
        return setup_writer_options(state, opt, arg, NULL);
}

static int setup(void **state) {
        return setup_writer_option(state, NULL, NULL);
}

/* VSS_BS_WRITER_SUPPORTS_NEW_TARGET: the writer accepts AddNewTarget. */
static int setup_new_target(void **state) {
        return setup_writer_option(state, "--schema", "0x100");
}

/* The writer asks, in PreRestore, for its component to go to its alternate location (VSS_RT_ALTERNATE). */
static int setup_alternate_target(void **state) {
        return setup_writer_option(state, "--restore-target", "2");
}

/* VSS_RT_ALTERNATE with the db file set mapped to <volume>/db-alt. */
static int setup_alternate_mapped(void **state) {
        return setup_writer_options(state, "--restore-target", "2", "db-alt");
}

/* RESTORE_IF_NOT_THERE with the db file set mapped to <volume>/db-alt. */
static int setup_if_not_there_mapped(void **state) {
        return setup_writer_options(state, "--restore-method", "1", "db-alt");
}

static int teardown(void **state) {
        Fixture *f = *state;

        if (f) {
                harness_free(f->h);
                free(f->volume);
                free(f);
        }
        garbage_collect();
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Tests                                                                                      */
/* ------------------------------------------------------------------------------------------ */

static void modify_first(Fixture *f) {
        char *gone_x = pathf("%s/gone/x.txt", f->volume), *gone = pathf("%s/gone", f->volume);
        char *from = pathf("%s/moveme", f->volume), *to = pathf("%s/moved", f->volume);

        write_at(f, "a.txt", "alpha, second version\n");          /* changed */
        write_at(f, "docs/new.txt", "new file\n");                 /* added */
        assert_int_equal(unlink(gone_x), 0);                       /* deleted, with its directory */
        assert_int_equal(rmdir(gone), 0);
        assert_int_equal(chmod(pathf("%s/docs/b.txt", f->volume), 0600), 0); /* chmod only */
        set_mtime(f, "docs/deep/c.txt", 1100000000);               /* mtime only */
        assert_int_equal(rename(from, to), 0);                     /* renamed directory, old times inside */
        write_at(f, "db/data.db", "database pages v2\n");
}

static void modify_second(Fixture *f) {
        char *a = pathf("%s/a.txt", f->volume), *link = pathf("%s/link-to-a", f->volume);

        assert_int_equal(unlink(a), 0);                            /* a symlink's target goes */
        assert_int_equal(unlink(link), 0);
        assert_int_equal(symlink("docs/new.txt", link), 0);        /* the symlink now points elsewhere */
        write_at(f, "docs/deep/d.txt", "delta\n");
        assert_int_equal(chmod(pathf("%s/docs/deep", f->volume), 0750), 0);
        write_at(f, "db/data.db", "database pages v3\n");
}

static void test_incremental_chain(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *full = NULL, *inc1 = NULL, *inc2 = NULL, *json = NULL;
        char *t1 = pathf("%s/restore-inc1", f->h->dir), *t2 = pathf("%s/restore-inc2", f->h->dir);
        Tree at_inc1, at_inc2, got;
        bool times;

        full = backup(f, "full");
        times = times_preserved(f, full);

        modify_first(f);
        inc1 = backup(f, "incremental");
        at_inc1 = tree_capture(f->volume);

        modify_second(f);
        inc2 = backup(f, "incremental");
        at_inc2 = tree_capture(f->volume);

        /* Each incremental restores the tree as it was when it was taken. */
        assert_int_equal(restore(f, inc2, t2, false, NULL), 0);
        got = tree_capture(t2);
        assert_trees_equal(&at_inc2, &got, times);
        tree_done(&got);

        assert_int_equal(restore(f, inc1, t1, false, NULL), 0);
        got = tree_capture(t1);
        assert_trees_equal(&at_inc1, &got, times);
        tree_done(&got);

        /* The chain as list shows it: inc2 builds on inc1, which builds on the full. */
        assert_int_equal(run_vssbackup(f, &json, (const char *const[]) { "list", "--to", f->backups, "--json",
                                                                         NULL }),
                         0);
        assert_non_null(json);
        assert_non_null(strstr(json, pathf("\"parent\": \"%s\"", strrchr(full, '/') + 1)));
        assert_non_null(strstr(json, pathf("\"parent\": \"%s\"", strrchr(inc1, '/') + 1)));

        tree_done(&at_inc1);
        tree_done(&at_inc2);
}

static void test_differential_chain(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *full = NULL, *diff1 = NULL, *diff2 = NULL, *manifest = NULL;
        char *target = pathf("%s/restore-diff2", f->h->dir);
        Tree expected, got;
        bool times;

        full = backup(f, "full");
        times = times_preserved(f, full);
        modify_first(f);
        diff1 = backup(f, "differential");
        modify_second(f);
        diff2 = backup(f, "differential");
        expected = tree_capture(f->volume);

        /* A differential builds on the full, never on the differential before it. */
        manifest = read_text(pathf("%s/manifest", diff2));
        assert_non_null(manifest);
        assert_non_null(strstr(manifest, pathf("parent=%s\n", strrchr(full, '/') + 1)));
        assert_null(strstr(manifest, strrchr(diff1, '/') + 1));

        assert_int_equal(restore(f, diff2, target, false, NULL), 0);
        got = tree_capture(target);
        assert_trees_equal(&expected, &got, times);
        tree_done(&got);
        tree_done(&expected);
}

static void test_restore_overwrite(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *full = NULL, *report = NULL, *content = NULL;
        char *target = pathf("%s/restore-overwrite", f->h->dir);
        char *existing = pathf("%s/a.txt", target);
        Tree expected, got;

        full = backup(f, "full");
        expected = tree_capture(f->volume);

        assert_int_equal(mkdir(target, 0755), 0);
        write_text(existing, "local edit that must survive\n");

        /* Without --overwrite: everything else restored, the existing file kept, exit 4. */
        assert_int_equal(restore(f, full, target, false, &report), 4);
        assert_non_null(report);
        assert_non_null(strstr(report, "skipped\ta.txt\t"));
        assert_non_null(strstr(report, "restored\tdocs/b.txt"));
        content = read_text(existing);
        assert_string_equal(content, "local edit that must survive\n");

        /* With it: the restore equals the source. */
        assert_int_equal(restore(f, full, target, true, NULL), 0);
        got = tree_capture(target);
        assert_trees_equal(&expected, &got, false);
        tree_done(&got);
        tree_done(&expected);
}

/* A crafted archive: entries a restore must refuse, and one it may restore. */
static void write_hostile_archive(const char *path, const char *outside) {
        struct archive *a = archive_write_new();
        struct archive_entry *e = archive_entry_new();
        static const char ok[] = "harmless\n";
        static const char evil[] = "pwned\n";
        const struct { const char *path; int type; const char *link; const char *hardlink; } items[] = {
                { "../escape.txt", AE_IFREG, NULL, NULL },
                { "/tmp/vssbackup-absolute.txt", AE_IFREG, NULL, NULL },
                { "link", AE_IFLNK, outside, NULL },
                { "link/through.txt", AE_IFREG, NULL, NULL },
                { "hard", 0, NULL, "../../../../etc/hostname" },
                { "ok.txt", AE_IFREG, NULL, NULL },
        };

        assert_non_null(a);
        assert_int_equal(archive_write_set_format_pax(a), ARCHIVE_OK);
        assert_int_equal(archive_write_add_filter_zstd(a), ARCHIVE_OK);
        assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
        for (size_t i = 0; i < ELEMENTSOF(items); i++) {
                const char *data = streq(items[i].path, "ok.txt") ? ok : evil;

                archive_entry_clear(e);
                archive_entry_set_pathname(e, items[i].path);
                archive_entry_set_perm(e, 0644);
                archive_entry_set_mtime(e, 1000000000, 0);
                if (items[i].hardlink) {
                        archive_entry_set_filetype(e, AE_IFREG);
                        archive_entry_set_hardlink(e, items[i].hardlink);
                        archive_entry_set_size(e, 0);
                } else if (items[i].type == AE_IFLNK) {
                        archive_entry_set_filetype(e, AE_IFLNK);
                        archive_entry_set_symlink(e, items[i].link);
                        archive_entry_set_size(e, 0);
                } else {
                        archive_entry_set_filetype(e, AE_IFREG);
                        archive_entry_set_size(e, (la_int64_t) strlen(data));
                }
                assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
                if (items[i].type == AE_IFREG && !items[i].hardlink)
                        assert_int_equal(archive_write_data(a, data, strlen(data)), (la_ssize_t) strlen(data));
        }
        archive_entry_free(e);
        assert_int_equal(archive_write_close(a), ARCHIVE_OK);
        archive_write_free(a);
}

/* The listing naming every hostile path (so the restore does try them) and its checksum. */
static void write_listing(const char *path, char hex[static 33]) {
        static const char *const records[] = {
                "f../escape.txt", "f/tmp/vssbackup-absolute.txt", "llink", "flink/through.txt", "fhard", "fok.txt",
        };
        XXH128_canonical_t c;
        XXH3_state_t *st = XXH3_createState();
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

        assert_true(fd >= 0);
        assert_non_null(st);
        XXH3_128bits_reset(st);
        for (size_t i = 0; i < ELEMENTSOF(records); i++) {
                size_t len = strlen(records[i]) + 1;

                assert_int_equal(write(fd, records[i], len), (ssize_t) len);
                XXH3_128bits_update(st, records[i], len);
        }
        close(fd);
        XXH128_canonicalFromHash(&c, XXH3_128bits_digest(st));
        for (size_t i = 0; i < sizeof(c.digest); i++)
                snprintf(hex + 2 * i, 3, "%02x", c.digest[i]);
        XXH3_freeState(st);
}

static bool dir_is_empty(const char *path) {
        DIR *d = opendir(path);
        struct dirent *de;
        bool empty = true;

        assert_non_null(d);
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        empty = false;
        closedir(d);
        return empty;
}

static void test_hostile_archive(void **state) {
        Fixture *f = *state;
        char *area = pathf("%s/hostile", f->h->dir);
        char *bdir = pathf("%s/hostile/20000101T000000Z-full-deadbeef", f->h->dir);
        char *outside = pathf("%s/hostile/outside", f->h->dir);
        char *target = pathf("%s/hostile/target/inner", f->h->dir);
        _cleanup_free_ char *report = NULL;
        char *manifest;
        char *escape = pathf("%s/hostile/target/escape.txt", f->h->dir);
        char hex[33];
        struct stat st;

        assert_int_equal(mkdir(area, 0755), 0);
        assert_int_equal(mkdir(bdir, 0755), 0);
        assert_int_equal(mkdir(outside, 0755), 0);
        assert_int_equal(mkdir(pathf("%s/hostile/target", f->h->dir), 0755), 0);

        write_hostile_archive(pathf("%s/vol-0.tar.zst", bdir), outside);
        write_listing(pathf("%s/vol-0.list", bdir), hex);
        manifest = pathf("format=vssbackup-1\n"
                         "id=6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f\n"
                         "type=full\n"
                         "created_ns=946684800000000000\n"
                         "snapshot_time=0\n"
                         "complete=1\n"
                         "volume.0.path=/srv/data\n"
                         "volume.0.archive=vol-0.tar.zst\n"
                         "volume.0.listing=vol-0.list\n"
                         "volume.0.listing_xxh128=%s\n",
                         hex);
        write_text(pathf("%s/manifest", bdir), manifest);

        /* Refused entry by entry, reported, exit 2; the harmless entry is restored. */
        assert_int_equal(restore(f, bdir, target, false, &report), 2);
        assert_non_null(report);
        assert_non_null(strstr(report, "refused\t../escape.txt"));
        assert_non_null(strstr(report, "refused\t/tmp/vssbackup-absolute.txt"));
        assert_non_null(strstr(report, "refused\tlink/through.txt"));
        assert_non_null(strstr(report, "refused\thard"));
        assert_non_null(strstr(report, "restored\tok.txt"));

        /* Nothing outside the target. */
        assert_true(dir_is_empty(outside));
        assert_int_equal(stat(escape, &st), -1);
        assert_int_equal(stat("/tmp/vssbackup-absolute.txt", &st), -1);
        assert_int_equal(lstat(pathf("%s/link", target), &st), 0);
        assert_true(S_ISLNK(st.st_mode));       /* the link itself is data; what lies beyond it is not */
}

static void flip_byte(const char *path) {
        struct stat st;
        unsigned char b;
        int fd = open(path, O_RDWR | O_CLOEXEC);

        assert_true(fd >= 0);
        assert_int_equal(fstat(fd, &st), 0);
        assert_true(st.st_size > 64);
        assert_int_equal(pread(fd, &b, 1, st.st_size / 2), 1);
        b ^= 0x10;
        assert_int_equal(pwrite(fd, &b, 1, st.st_size / 2), 1);
        close(fd);
}

static void test_verify(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *full = NULL, *out = NULL, *second = NULL;

        full = backup(f, "full");
        assert_int_equal(run_vssbackup(f, &out, (const char *const[]) { "verify", full, NULL }), 0);
        assert_non_null(strstr(out, "Verify: OK"));
        free(out);

        flip_byte(pathf("%s/vol-0.tar.zst", full));
        assert_int_equal(run_vssbackup(f, &out, (const char *const[]) { "verify", full, NULL }), 2);
        assert_non_null(strstr(out, "Verify: FAILED"));
        free(out);

        /* A damaged listing is caught too, by verify and before a restore believes it. */
        write_at(f, "a.txt", "changed for a second backup\n");
        second = backup(f, "full");
        flip_byte(pathf("%s/vol-0.list", second));
        assert_int_equal(run_vssbackup(f, &out, (const char *const[]) { "verify", second, NULL }), 2);
        assert_non_null(strstr(out, "vol-0.list: checksum MISMATCH"));
        assert_int_equal(restore(f, second, pathf("%s/restore-damaged", f->h->dir), false, NULL), 2);
}

static void test_writers_take_part(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *full = NULL, *inc = NULL, *line = NULL, *manifest = NULL;

        full = backup(f, "full");
        /* BackupShutdown follows the requester's exit: wait for it to be logged. */
        assert_int_equal(writer_log_wait(f->w, "event=BackupShutdown", 1), 0);
        assert_events(f->w, "Identify", "PrepareForBackup", "PrepareForSnapshot", "Freeze", "Thaw", "PostSnapshot",
                      "BackupComplete", "BackupShutdown");
        line = writer_event_line(f->w, "BackupComplete", 0);
        assert_non_null(line);
        assert_non_null(strstr(line, "backup_type=1"));
        assert_non_null(strstr(line, "components=data:1"));
        free(line);

        manifest = read_text(pathf("%s/manifest", full));
        assert_non_null(strstr(manifest, "component.0.name=data\n"));
        assert_non_null(strstr(manifest, "component.0.succeeded=1\n"));
        assert_non_null(strstr(manifest, "component.0.backup_stamp=lsn-4711\n"));
        assert_non_null(strstr(manifest, "document.0.kind=bcd\n"));
        assert_non_null(strstr(manifest, "kind=wmd\n"));

        /* An incremental tells the writer its type and the stamp of the backup it builds on
         * (SetPreviousBackupStamp), and again succeeds for its component. */
        write_at(f, "db/data.db", "database pages v2\n");
        inc = backup(f, "incremental");
        assert_int_equal(writer_log_wait(f->w, "doc in=PrepareForBackup prev=lsn-4711 ", 1), 0);
        line = writer_event_line(f->w, "BackupComplete", 1);
        assert_non_null(line);
        assert_non_null(strstr(line, "backup_type=2"));
        assert_non_null(strstr(line, "components=data:1"));
}

/* The index of the first event named event in the writer's log, or -1. */
static ssize_t event_index(const Fixture *f, const char *event) {
        char **events = NULL;
        ssize_t idx = -1;

        assert_int_equal(writer_events(f->w, &events), 0);
        for (size_t i = 0; events[i] && idx < 0; i++)
                if (streq(events[i], event))
                        idx = (ssize_t) i;
        strv_free(events);
        return idx;
}

static void test_restore_with_writers(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *full = NULL, *out = NULL, *real = NULL;
        char *target = pathf("%s/restore-writers", f->h->dir);
        char *plain = pathf("%s/restore-no-writers", f->h->dir);
        Tree expected, got;
        ssize_t pre, post;

        full = backup(f, "full");
        assert_int_equal(writer_log_wait(f->w, "event=BackupShutdown", 1), 0);
        expected = tree_capture(f->volume);
        assert_int_equal(mkdir(target, 0755), 0);
        real = realpath(target, NULL);
        assert_non_null(real);

        /* PreRestore, the files, PostRestore; every writer's outcome on stdout. */
        assert_int_equal(run_vssbackup(f, &out, (const char *const[]) { "restore", full, "--to", target, NULL }), 0);
        assert_non_null(out);
        assert_non_null(strstr(out, "writer \"dbwriter\": "));
        assert_int_equal(writer_log_count(f->w, "event=PreRestore"), 1);
        assert_int_equal(writer_log_count(f->w, "event=PostRestore"), 1);
        pre = event_index(f, "PreRestore");
        post = event_index(f, "PostRestore");
        assert_true(pre > event_index(f, "BackupShutdown"));
        assert_true(post > pre);

        /* In PreRestore: selected, one pass (no additional restores), and the file set's new target
         * (the writer's db directory lands under TARGET). In PostRestore: every file restored. */
        assert_int_equal(writer_log_count(f->w, "restore in=PreRestore selected=1 options=- additional=0 "), 1);
        assert_int_equal(writer_log_count(f->w, pathf("new_targets=%s/db:*:1:%s/db", f->volume, real)), 2);
        assert_int_equal(writer_log_count(f->w, pathf("restore in=PostRestore selected=1 options=- additional=0 "
                                                      "status=%d ", (int) VSS_RS_ALL)),
                         1);

        got = tree_capture(target);
        assert_trees_equal(&expected, &got, true);
        tree_done(&got);

        /* --no-writers: the same files, and the writer hears nothing. */
        assert_int_equal(run_vssbackup(f, NULL, (const char *const[]) { "restore", full, "--to", plain, "--no-writers",
                                                                          NULL }),
                         0);
        assert_int_equal(writer_log_count(f->w, "event=PreRestore"), 1);
        assert_int_equal(writer_log_count(f->w, "event=PostRestore"), 1);
        got = tree_capture(plain);
        assert_trees_equal(&expected, &got, true);
        tree_done(&got);
        tree_done(&expected);
}

static void test_restore_alternate_refused(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *full = NULL, *report = NULL, *a = NULL;
        char *target = pathf("%s/restore-alternate", f->h->dir);
        struct stat st;

        full = backup(f, "full");
        assert_int_equal(writer_log_wait(f->w, "event=BackupShutdown", 1), 0);

        /* No alternate location mapping to apply: the component fails, its files are not written,
         * the writer hears VSS_RS_NONE; the rest of the volume is restored. */
        assert_int_equal(restore(f, full, target, false, &report), 2);
        assert_non_null(report);
        assert_non_null(strstr(report, "failed\tdb/data.db\tits writer asked for an alternate location"));
        assert_int_equal(stat(pathf("%s/db/data.db", target), &st), -1);
        a = read_text(pathf("%s/a.txt", target));
        assert_string_equal(a, "alpha\n");
        assert_int_equal(writer_log_count(f->w, "edit in=PreRestore op=restore-target arg=2 hr=S_OK"), 1);
        assert_int_equal(writer_log_count(f->w, pathf("restore in=PostRestore selected=1 options=- additional=0 "
                                                      "status=%d target=2 ", (int) VSS_RS_NONE)),
                         1);
}

static void test_restore_alternate_mapped(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *full = NULL, *report = NULL, *db = NULL, *a = NULL;
        char *target = pathf("%s/restore-alternate-mapped", f->h->dir);
        struct stat st;

        full = backup(f, "full");
        assert_int_equal(writer_log_wait(f->w, "event=BackupShutdown", 1), 0);

        /* The mapping db -> db-alt matches the file: it lands at TARGET/db-alt, not at TARGET/db,
         * the writer hears VSS_RS_ALL, and no staging directory is left behind. */
        assert_int_equal(restore(f, full, target, false, &report), 0);
        assert_non_null(report);
        assert_non_null(strstr(report, "restored\tdb/data.db\tat its alternate location db-alt/data.db"));
        db = read_text(pathf("%s/db-alt/data.db", target));
        assert_string_equal(db, "database pages v1\n");
        assert_int_equal(stat(pathf("%s/db/data.db", target), &st), -1);
        assert_int_equal(stat(pathf("%s/.vssbackup-alternate-stage", target), &st), -1);
        a = read_text(pathf("%s/a.txt", target));
        assert_string_equal(a, "alpha\n");
        assert_int_equal(writer_log_count(f->w, pathf("restore in=PostRestore selected=1 options=- additional=0 "
                                                      "status=%d target=2 ", (int) VSS_RS_ALL)),
                         1);
}

/* The writer declares a restore method (VSS_RME_*, with a service for the stop/start methods). */
static int setup_if_not_there(void **state) {
        return setup_writer_option(state, "--restore-method", "1");
}

static int setup_if_can_replace(void **state) {
        return setup_writer_option(state, "--restore-method", "2");
}

static int setup_stop_restore_start(void **state) {
        return setup_writer_option(state, "--restore-method", "3:vss-test-db.service");
}

static int setup_custom(void **state) {
        return setup_writer_option(state, "--restore-method", "7");
}

/* The writer's PostRestore log lines saying it heard file restore status st. */
static int post_restore_status_count(Fixture *f, vss_file_restore_status st) {
        return writer_log_count(f->w, pathf("restore in=PostRestore selected=1 options=- additional=0 status=%d ",
                                            (int) st));
}

static void test_restore_if_not_there(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *full = NULL, *report = NULL, *db = NULL, *a = NULL;
        char *target = pathf("%s/restore-if-not-there", f->h->dir);

        full = backup(f, "full");
        assert_int_equal(writer_log_wait(f->w, "event=BackupShutdown", 1), 0);

        /* Nothing there yet: the component is restored. */
        assert_int_equal(restore(f, full, target, false, NULL), 0);
        assert_int_equal(post_restore_status_count(f, VSS_RS_ALL), 1);

        /* Its file exists: kept as it is even with --overwrite (which the other files obey), the
         * writer hears VSS_RS_NONE, and the files count as skipped. */
        write_text(pathf("%s/db/data.db", target), "local pages\n");
        write_text(pathf("%s/a.txt", target), "changed\n");
        assert_int_equal(restore(f, full, target, true, &report), 4);   /* skipped */
        assert_non_null(report);
        assert_non_null(strstr(report, "skipped\tdb/data.db\trestore method RESTORE_IF_NOT_THERE"));
        db = read_text(pathf("%s/db/data.db", target));
        assert_string_equal(db, "local pages\n");
        a = read_text(pathf("%s/a.txt", target));
        assert_string_equal(a, "alpha\n");
        assert_int_equal(post_restore_status_count(f, VSS_RS_NONE), 1);
        assert_int_equal(post_restore_status_count(f, VSS_RS_ALL), 1);
}

static void test_restore_if_not_there_mapped(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *full = NULL, *db = NULL, *alt = NULL;
        char *target = pathf("%s/restore-if-not-there-mapped", f->h->dir);

        full = backup(f, "full");
        assert_int_equal(writer_log_wait(f->w, "event=BackupShutdown", 1), 0);
        assert_int_equal(restore(f, full, target, false, NULL), 0);
        assert_int_equal(post_restore_status_count(f, VSS_RS_ALL), 1);

        /* Its file exists and a mapping matches: the present file is left untouched, the backed-up
         * one goes to the alternate location, and the writer hears VSS_RS_ALL. */
        write_text(pathf("%s/db/data.db", target), "local pages\n");
        assert_int_equal(restore(f, full, target, true, NULL), 0);
        db = read_text(pathf("%s/db/data.db", target));
        assert_string_equal(db, "local pages\n");
        alt = read_text(pathf("%s/db-alt/data.db", target));
        assert_string_equal(alt, "database pages v1\n");
        assert_int_equal(post_restore_status_count(f, VSS_RS_ALL), 2);
}

static void test_restore_if_can_replace(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *full = NULL, *report = NULL, *db = NULL, *db2 = NULL;
        char *target = pathf("%s/restore-if-can-replace", f->h->dir);

        full = backup(f, "full");
        assert_int_equal(writer_log_wait(f->w, "event=BackupShutdown", 1), 0);
        assert_int_equal(restore(f, full, target, false, NULL), 0);
        assert_int_equal(post_restore_status_count(f, VSS_RS_ALL), 1);
        write_text(pathf("%s/db/data.db", target), "local pages\n");

        /* Without --overwrite the existing file cannot be replaced: the component is not restored. */
        assert_int_equal(restore(f, full, target, false, &report), 4);  /* skipped */
        assert_non_null(report);
        assert_non_null(strstr(report, "skipped\tdb/data.db\trestore method RESTORE_IF_CAN_REPLACE"));
        db = read_text(pathf("%s/db/data.db", target));
        assert_string_equal(db, "local pages\n");
        assert_int_equal(post_restore_status_count(f, VSS_RS_NONE), 1);

        /* With --overwrite it can: restored, and the writer hears VSS_RS_ALL. */
        assert_int_equal(restore(f, full, target, true, NULL), 0);
        db2 = read_text(pathf("%s/db/data.db", target));
        assert_string_equal(db2, "database pages v1\n");
        assert_int_equal(post_restore_status_count(f, VSS_RS_ALL), 2);
}

/*
 * STOP_RESTORE_START restoring elsewhere than the original paths: the service is left alone
 * (systemctl never runs) and the restore says so. The in-place case (TARGET "/") is not tested:
 * it would overwrite the test machine's files.
 */
static void test_restore_stop_start_elsewhere(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *full = NULL, *err = NULL;
        char *target = pathf("%s/restore-stop-start", f->h->dir);
        char *script = pathf("%s/systemctl.sh", f->h->dir);
        char *log = pathf("%s/systemctl.log", f->h->dir);
        struct stat st;
        int r;

        write_text(script, pathf("#!/bin/sh\necho \"$@\" >>%s\n", log));
        assert_int_equal(chmod(script, 0755), 0);
        full = backup(f, "full");
        assert_int_equal(writer_log_wait(f->w, "event=BackupShutdown", 1), 0);

        assert_int_equal(setenv("VSSBACKUP_SYSTEMCTL", script, 1), 0);
        r = restore(f, full, target, false, NULL);
        assert_int_equal(unsetenv("VSSBACKUP_SYSTEMCTL"), 0);
        assert_int_equal(r, 0);
        err = read_text(pathf("%s/vssbackup-%u.err", f->h->dir, f->n_runs - 1));
        assert_non_null(err);
        assert_non_null(strstr(err, "service vss-test-db.service to be stopped"));
        assert_non_null(strstr(err, "TARGET is not /), so the service is left alone"));
        assert_int_equal(stat(log, &st), -1);
        assert_int_equal(errno, ENOENT);
        assert_int_equal(post_restore_status_count(f, VSS_RS_ALL), 1);
}

static void test_restore_custom_refused(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *full = NULL, *report = NULL, *a = NULL;
        char *target = pathf("%s/restore-custom", f->h->dir);
        struct stat st;

        full = backup(f, "full");
        assert_int_equal(writer_log_wait(f->w, "event=BackupShutdown", 1), 0);

        /* The writer's own procedure restores a CUSTOM component: its files are not written, the
         * writer hears VSS_RS_NONE, the rest of the volume is restored. */
        assert_int_equal(restore(f, full, target, false, &report), 2);
        assert_non_null(report);
        assert_non_null(strstr(report, "failed\tdb/data.db\trestore method CUSTOM"));
        assert_int_equal(stat(pathf("%s/db/data.db", target), &st), -1);
        a = read_text(pathf("%s/a.txt", target));
        assert_string_equal(a, "alpha\n");
        assert_int_equal(post_restore_status_count(f, VSS_RS_NONE), 1);
}

static void test_no_writers(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *path = NULL, *manifest = NULL;

        /* A file-share backup context: no writer hears anything, the volume is still backed up. */
        path = backup_with(f, (const char *const[]) { "backup", "--type", "full", "--no-writers", f->volume, "--to",
                                                      f->backups, NULL });
        assert_int_equal(writer_log_count(f->w, "event="), 0);
        manifest = read_text(pathf("%s/manifest", path));
        assert_non_null(manifest);
        assert_non_null(strstr(manifest, "with_writers=0\n"));
        assert_null(strstr(manifest, "component.0."));
        assert_non_null(strstr(manifest, "volume.0.files="));
}

static void test_copy_and_log(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *full = NULL, *copy = NULL, *inc = NULL, *log = NULL, *manifest = NULL;
        char *target = pathf("%s/restore-log", f->h->dir);
        Tree got;

        full = backup(f, "full");
        copy = backup(f, "copy");
        write_at(f, "a.txt", "after the copy\n");
        inc = backup(f, "incremental");

        /* A copy backup is outside the chain: the incremental builds on the full. */
        manifest = read_text(pathf("%s/manifest", inc));
        assert_non_null(strstr(manifest, pathf("parent=%s\n", strrchr(full, '/') + 1)));

        /* A log backup holds the writers' log file sets only: the writer's "db" set (all types). */
        log = backup(f, "log");
        assert_int_equal(restore(f, log, target, false, NULL), 0);
        got = tree_capture(target);
        assert_int_equal(got.n, 2);
        assert_string_equal(got.items[0].path, "db");
        assert_string_equal(got.items[1].path, "db/data.db");
        tree_done(&got);
}

/* Gives every file directly in dir (and dir itself, when with_dir) to uid. */
static void chown_backup(const char *dir, uid_t uid, bool with_dir) {
        DIR *d = opendir(dir);
        struct dirent *de;

        assert_non_null(d);
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        assert_int_equal(fchownat(dirfd(d), de->d_name, uid, (gid_t) -1, AT_SYMLINK_NOFOLLOW), 0);
        closedir(d);
        if (with_dir)
                assert_int_equal(chown(dir, uid, (gid_t) -1), 0);
}

/* The restored file's permission bits, with its set-id bits. */
static mode_t restored_mode(const char *target, const char *rel) {
        struct stat st;

        assert_int_equal(stat(pathf("%s/%s", target, rel), &st), 0);
        return st.st_mode & 07777;
}

static void test_restore_setid(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *full = NULL, *report = NULL;
        const uid_t other = 65534; /* nobody: anyone but root */
        char *t;

        if (geteuid() != 0) {
                print_message("set-id bits are restored only by root: skipped\n");
                skip();
        }

        assert_int_equal(chmod(pathf("%s/a.txt", f->volume), 04755), 0);
        assert_int_equal(chmod(pathf("%s/docs", f->volume), 02755), 0);
        full = backup(f, "full");

        /* root's own backup: the bits come back. */
        t = pathf("%s/setid-own", f->h->dir);
        assert_int_equal(restore(f, full, t, false, NULL), 0);
        assert_int_equal(restored_mode(t, "a.txt"), 04755);
        assert_int_equal(restored_mode(t, "docs"), 02755);

        /* Its archive belongs to someone else, who could have written it: dropped, and said. */
        chown_backup(full, other, false);
        t = pathf("%s/setid-foreign-archive", f->h->dir);
        assert_int_equal(restore(f, full, t, false, &report), 0);
        assert_int_equal(restored_mode(t, "a.txt"), 0755);
        assert_int_equal(restored_mode(t, "docs"), 0755);
        assert_non_null(strstr(report, "restored\ta.txt\tsetuid/setgid bits dropped"));
        free(report);
        report = NULL;

        /* The directory too. */
        chown_backup(full, other, true);
        t = pathf("%s/setid-foreign-dir", f->h->dir);
        assert_int_equal(restore(f, full, t, false, NULL), 0);
        assert_int_equal(restored_mode(t, "a.txt"), 0755);
        assert_int_equal(restored_mode(t, "docs"), 0755);

        /* --restore-setid: asked for, restored. */
        t = pathf("%s/setid-asked", f->h->dir);
        assert_int_equal(run_vssbackup(f, NULL, (const char *const[]) { "restore", full, "--to", t, "--restore-setid",
                                                                          NULL }),
                         0);
        assert_int_equal(restored_mode(t, "a.txt"), 04755);
        assert_int_equal(restored_mode(t, "docs"), 02755);

        /* The option is restore's alone. */
        assert_int_equal(run_vssbackup(f, NULL, (const char *const[]) { "verify", full, "--restore-setid", NULL }), 1);
        chown_backup(full, 0, true);
}

static void test_usage_errors(void **state) {
        Fixture *f = *state;

        /* No full to build on: refused, nothing stored. */
        assert_int_equal(run_vssbackup(f, NULL, (const char *const[]) { "backup", "--type", "incremental", f->volume,
                                                                          "--to", f->backups, NULL }),
                         2);
        assert_int_equal(run_vssbackup(f, NULL, (const char *const[]) { "backup", "--type", "weekly", f->volume,
                                                                          "--to", f->backups, NULL }),
                         1);
        assert_int_equal(run_vssbackup(f, NULL, (const char *const[]) { "restore", "--to", f->backups, NULL }), 1);
        assert_int_equal(run_vssbackup(f, NULL, (const char *const[]) { "list", "--overwrite", "--to", f->backups,
                                                                          NULL }),
                         1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_incremental_chain, setup, teardown),
                cmocka_unit_test_setup_teardown(test_differential_chain, setup, teardown),
                cmocka_unit_test_setup_teardown(test_restore_overwrite, setup, teardown),
                cmocka_unit_test_setup_teardown(test_hostile_archive, setup, teardown),
                cmocka_unit_test_setup_teardown(test_verify, setup, teardown),
                cmocka_unit_test_setup_teardown(test_writers_take_part, setup, teardown),
                cmocka_unit_test_setup_teardown(test_restore_with_writers, setup_new_target, teardown),
                cmocka_unit_test_setup_teardown(test_restore_alternate_refused, setup_alternate_target, teardown),
                cmocka_unit_test_setup_teardown(test_restore_alternate_mapped, setup_alternate_mapped, teardown),
                cmocka_unit_test_setup_teardown(test_restore_if_not_there, setup_if_not_there, teardown),
                cmocka_unit_test_setup_teardown(test_restore_if_not_there_mapped, setup_if_not_there_mapped, teardown),
                cmocka_unit_test_setup_teardown(test_restore_if_can_replace, setup_if_can_replace, teardown),
                cmocka_unit_test_setup_teardown(test_restore_stop_start_elsewhere, setup_stop_restore_start, teardown),
                cmocka_unit_test_setup_teardown(test_restore_custom_refused, setup_custom, teardown),
                cmocka_unit_test_setup_teardown(test_no_writers, setup, teardown),
                cmocka_unit_test_setup_teardown(test_copy_and_log, setup, teardown),
                cmocka_unit_test_setup_teardown(test_restore_setid, setup, teardown),
                cmocka_unit_test_setup_teardown(test_usage_errors, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
