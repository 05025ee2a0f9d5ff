/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-vssbackup-btrfs.c: vssbackup on real btrfs snapshots (a loop-mounted btrfs, the btrfs
 * provider, vssd as root), where what the integration suite cannot check holds:
 *
 *   - times: a full, two incrementals and a differential each restore to the source tree as it
 *     was, byte for byte with modes and mtimes (files, symlinks, directories);
 *   - the incremental copies exactly the changed files: content, chmod, a new mtime, a new file,
 *     and a file whose directory was renamed (found through the listing, since its inode did
 *     not change); not the unchanged files, not the deleted one. Selection runs by the btrfs
 *     generation of the previous snapshot, which the manifest records;
 *   - reading for the backup leaves access times alone (the snapshot's and the live files');
 *   - an incremental lists by changed directories only: the count of directories it read (its
 *     --json) is what changed (none for rewritten files; the top, the directories whose
 *     entries changed and the new ones for renames, deletions and new directories), never the
 *     tree; a chain of such incrementals restores exactly (content, modes, times, deletions),
 *     `ls` and `verify` see the whole tree;
 *   - backups written in the previous format (manifest "vssbackup-1", whole listings) still
 *     restore, and a format this vssbackup does not know is refused with its name.
 *
 * Needs root (loop devices, mount): exits 77 (skipped) otherwise. Environment: VSSD, VSSBACKUP.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <btrfsutil.h>
#include <xxhash.h>

#include "macro.h"
#include "root-harness.h"

#define IMAGE_SIZE (UINT64_C(512) * 1024 * 1024)
#define WAIT_MS 20000U

typedef struct Fixture {
        LoopBtrfs fs;
        char *volume;           /* a subvolume of the btrfs */
        char *backups;
        char *socket;
        char *state_dir;
        pid_t vssd;
        unsigned n_runs;
} Fixture;

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

static void write_at(const Fixture *f, const char *rel, const char *text) {
        int fd = open(pathf("%s/%s", f->volume, rel), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
        assert_int_equal(close(fd), 0);
}

static void set_mtime(const Fixture *f, const char *rel, time_t sec) {
        struct timespec ts[2] = { { .tv_sec = sec }, { .tv_sec = sec } };

        assert_int_equal(utimensat(AT_FDCWD, pathf("%s/%s", f->volume, rel), ts, AT_SYMLINK_NOFOLLOW), 0);
}

/*
 * A symlink cannot be read with O_NOATIME: a readlink updates its atime (relatime: while the
 * atime is not past mtime and ctime), an inode change a btrfs generation scan rightly reports.
 * Give it an atime in the future, so the tree captures later do not make it look changed.
 */
static void make_symlink(const Fixture *f, const char *target, const char *rel) {
        struct timespec ts[2] = { { .tv_sec = time(NULL) + 3600 }, { .tv_nsec = UTIME_OMIT } };

        assert_int_equal(symlink(target, pathf("%s/%s", f->volume, rel)), 0);
        assert_int_equal(utimensat(AT_FDCWD, pathf("%s/%s", f->volume, rel), ts, AT_SYMLINK_NOFOLLOW), 0);
}

static int run_vssbackup(Fixture *f, char **ret_out, const char *const *args) {
        const char *out = pathf("%s/vssbackup-%u.out", f->fs.dir, f->n_runs);
        const char *err = pathf("%s/vssbackup-%u.err", f->fs.dir, f->n_runs);
        const char *exe = getenv("VSSBACKUP");
        char *argv[32], buf[65536];
        size_t n = 0;
        ssize_t len;
        int status, fd;
        pid_t pid;

        f->n_runs++;
        assert_non_null(exe);
        argv[n++] = (char *) exe;
        for (size_t i = 0; args[i]; i++)
                argv[n++] = (char *) args[i];
        argv[n] = NULL;

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int o = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                int e = open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

                if (o < 0 || e < 0 || dup2(o, STDOUT_FILENO) < 0 || dup2(e, STDERR_FILENO) < 0)
                        _exit(127);
                setenv("VSS_SOCKET", f->socket, 1);
                execv(exe, argv);
                _exit(127);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        if (WEXITSTATUS(status) != 0) {
                fd = open(err, O_RDONLY | O_CLOEXEC);
                len = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
                buf[len > 0 ? len : 0] = 0;
                if (fd >= 0)
                        close(fd);
                print_message("vssbackup %s exited %d:\n%s\n", args[0], WEXITSTATUS(status), buf);
        }
        if (ret_out) {
                fd = open(out, O_RDONLY | O_CLOEXEC);
                assert_true(fd >= 0);
                len = read(fd, buf, sizeof(buf) - 1);
                assert_true(len >= 0);
                buf[len] = 0;
                close(fd);
                *ret_out = pathf("%s", buf);
        }
        return WEXITSTATUS(status);
}

static char *backup(Fixture *f, const char *type) {
        char *out = NULL, *p, *nl;

        assert_int_equal(run_vssbackup(f, &out, (const char *const[]) { "backup", "--type", type, f->volume,
                                                                         "--to", f->backups, "--quiet", NULL }),
                         0);
        /* --quiet still prints nothing on success: find the newest backup directory instead. */
        assert_int_equal(run_vssbackup(f, &out, (const char *const[]) { "list", "--to", f->backups, NULL }), 0);
        p = strrchr(out, '\n');
        assert_non_null(p);
        *p = 0;
        p = strrchr(out, '\n');
        assert_non_null(p);
        nl = strchr(p + 1, ' ');
        assert_non_null(nl);
        *nl = 0;
        return pathf("%s/%s", f->backups, p + 1);
}

/* ------------------------------------------------------------------------------------------ */
/* Trees, read with O_NOATIME so reading the source does not change it                        */
/* ------------------------------------------------------------------------------------------ */

typedef struct TreeEntry {
        char *path;
        struct stat st;
        char *content;
        size_t size;
} TreeEntry;

typedef struct Tree {
        TreeEntry *items;
        size_t n;
} Tree;

static void tree_add_dir(Tree *t, int dirfd, const char *prefix) {
        struct dirent *de;
        DIR *d;
        int fd = dup(dirfd);

        assert_true(fd >= 0);
        d = fdopendir(fd);
        assert_non_null(d);
        while ((de = readdir(d))) {
                TreeEntry *e;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                t->items = realloc(t->items, (t->n + 1) * sizeof(TreeEntry));
                assert_non_null(t->items);
                e = &t->items[t->n++];
                *e = (TreeEntry) { .path = isempty(prefix) ? pathf("%s", de->d_name) : pathf("%s/%s", prefix, de->d_name) };
                assert_int_equal(fstatat(dirfd, de->d_name, &e->st, AT_SYMLINK_NOFOLLOW), 0);
                if (S_ISREG(e->st.st_mode)) {
                        int ffd = openat(dirfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_NOATIME | O_CLOEXEC);

                        assert_true(ffd >= 0);
                        e->content = malloc((size_t) e->st.st_size + 1);
                        assert_non_null(e->content);
                        assert_int_equal(read(ffd, e->content, (size_t) e->st.st_size + 1), e->st.st_size);
                        e->size = (size_t) e->st.st_size;
                        close(ffd);
                } else if (S_ISLNK(e->st.st_mode)) {
                        char buf[4096];
                        ssize_t n = readlinkat(dirfd, de->d_name, buf, sizeof(buf));

                        assert_true(n >= 0);
                        e->content = strndup(buf, (size_t) n);
                        e->size = (size_t) n;
                } else if (S_ISDIR(e->st.st_mode)) {
                        int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NOATIME | O_CLOEXEC);

                        assert_true(sub >= 0);
                        tree_add_dir(t, sub, e->path);
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
        int fd = open(root, O_RDONLY | O_DIRECTORY | O_NOATIME | O_CLOEXEC);

        assert_true(fd >= 0);
        tree_add_dir(&t, fd, "");
        close(fd);
        if (t.n > 1)
                qsort(t.items, t.n, sizeof(TreeEntry), tree_entry_compare);
        return t;
}

static void tree_done(Tree *t) {
        for (size_t i = 0; i < t->n; i++)
                free(t->items[i].content);
        free(t->items);
        *t = (Tree) {};
}

static void assert_trees_equal(const Tree *a, const Tree *b) {
        bool ok = a->n == b->n;

        if (!ok)
                print_error("%zu entries in the source, %zu restored\n", a->n, b->n);
        for (size_t i = 0; ok && i < a->n; i++) {
                const TreeEntry *x = &a->items[i], *y = &b->items[i];

                if (!streq(x->path, y->path)) {
                        print_error("entry %zu: %s in the source, %s restored\n", i, x->path, y->path);
                        ok = false;
                        break;
                }
                if (x->st.st_mode != y->st.st_mode || x->size != y->size ||
                    (x->content && memcmp(x->content, y->content, x->size) != 0)) {
                        print_error("%s: mode or contents differ (%o, %o)\n", x->path, x->st.st_mode, y->st.st_mode);
                        ok = false;
                }
                if (x->st.st_mtim.tv_sec != y->st.st_mtim.tv_sec || x->st.st_mtim.tv_nsec != y->st.st_mtim.tv_nsec) {
                        print_error("%s: mtime %lld.%09ld, restored %lld.%09ld\n", x->path,
                                    (long long) x->st.st_mtim.tv_sec, x->st.st_mtim.tv_nsec,
                                    (long long) y->st.st_mtim.tv_sec, y->st.st_mtim.tv_nsec);
                        ok = false;
                }
        }
        if (!ok)
                fail();
}

static void assert_restore_equals(Fixture *f, const char *backup_path, const Tree *expected) {
        const char *target = pathf("%s/restore-%u", f->fs.dir, f->n_runs);
        Tree got;

        assert_int_equal(run_vssbackup(f, NULL, (const char *const[]) { "restore", backup_path, "--to", target,
                                                                         "--quiet", NULL }),
                         0);
        got = tree_capture(target);
        assert_trees_equal(expected, &got);
        tree_done(&got);
}

/* The regular files and symlinks an archive holds, sorted, as one "a,b,c" string. */
static char *archive_files(const char *path) {
        struct archive *a = archive_read_new();
        struct archive_entry *e;
        char *names[256];
        size_t n = 0, len = 1;
        char *s;

        assert_int_equal(archive_read_support_filter_zstd(a), ARCHIVE_OK);
        assert_int_equal(archive_read_support_format_tar(a), ARCHIVE_OK);
        assert_int_equal(archive_read_open_filename(a, path, 65536), ARCHIVE_OK);
        while (archive_read_next_header(a, &e) == ARCHIVE_OK)
                if (archive_entry_filetype(e) != AE_IFDIR) {
                        assert_true(n < ELEMENTSOF(names));
                        names[n] = strdup(archive_entry_pathname(e));
                        len += strlen(names[n++]) + 1;
                }
        archive_read_free(a);
        for (size_t i = 1; i < n; i++)
                for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
                        char *t = names[j];

                        names[j] = names[j - 1];
                        names[j - 1] = t;
                }
        s = calloc(1, len);
        assert_non_null(s);
        for (size_t i = 0; i < n; i++) {
                if (i > 0)
                        strcat(s, ",");
                strcat(s, names[i]);
                free(names[i]);
        }
        n_garbage++;
        garbage = realloc(garbage, n_garbage * sizeof(char *));
        garbage[n_garbage - 1] = s;
        return s;
}

/* ------------------------------------------------------------------------------------------ */
/* Fixture                                                                                    */
/* ------------------------------------------------------------------------------------------ */

static int fixture_teardown(void **state) {
        Fixture *f = *state;
        int r = 0;

        if (!f)
                return 0;
        if (f->vssd > 0 && process_stop(f->vssd, 5000) < 0)
                r = -1;
        if (loop_btrfs_teardown(&f->fs) < 0)
                r = -1;
        free(f);
        for (size_t i = 0; i < n_garbage; i++)
                free(garbage[i]);
        free(garbage);
        garbage = NULL;
        n_garbage = 0;
        *state = NULL;
        return r;
}

static int fixture_setup(void **state) {
        Fixture *f = calloc(1, sizeof(*f));
        int r;

        if (!f)
                return -1;
        f->fs.loop_fd = -EBADF;
        *state = f;
        r = loop_btrfs_setup("/var/tmp/vss-root-XXXXXX", IMAGE_SIZE, &f->fs);
        if (r < 0) {
                fprintf(stderr, "cannot set up a loop-mounted btrfs: %s\n", strerror(-r));
                goto fail;
        }
        f->volume = pathf("%s/vol", f->fs.mnt);
        f->backups = pathf("%s/backups", f->fs.dir);
        f->socket = pathf("%s/vssd.sock", f->fs.dir);
        f->state_dir = pathf("%s/state", f->fs.dir);
        if (btrfs_util_create_subvolume(f->volume, 0, NULL, NULL) != BTRFS_UTIL_OK || mkdir(f->state_dir, 0700) < 0)
                goto fail;

        r = process_spawn((char *const[]) { (char *) getenv("VSSD"), (char *) "--socket", f->socket,
                                            (char *) "--state-dir", f->state_dir, NULL },
                          &f->vssd, NULL);
        if (r < 0)
                goto fail;
        r = unix_socket_wait(f->socket, f->vssd, WAIT_MS);
        if (r == -ESRCH)
                f->vssd = 0;
        if (r < 0)
                goto fail;
        return 0;

fail:
        (void) fixture_teardown(state);
        return -1;
}

/* ------------------------------------------------------------------------------------------ */
/* The test                                                                                   */
/* ------------------------------------------------------------------------------------------ */

static void test_chain_on_btrfs(void **state) {
        Fixture *f = *state;
        const char *full, *inc1, *inc2, *diff;
        char *manifest_text = NULL;
        Tree at_full, at_inc1, at_inc2;
        struct stat before, after;

        assert_int_equal(mkdir(pathf("%s/docs", f->volume), 0755), 0);
        assert_int_equal(mkdir(pathf("%s/docs/deep", f->volume), 0700), 0);
        assert_int_equal(mkdir(pathf("%s/gone", f->volume), 0755), 0);
        assert_int_equal(mkdir(pathf("%s/moveme", f->volume), 0755), 0);
        write_at(f, "a.txt", "alpha\n");
        write_at(f, "unchanged.txt", "never touched\n");
        write_at(f, "docs/b.txt", "bravo\n");
        write_at(f, "docs/deep/c.txt", "charlie\n");
        write_at(f, "gone/x.txt", "to be deleted\n");
        write_at(f, "moveme/keep.txt", "renamed with its directory\n");
        set_mtime(f, "moveme/keep.txt", 1000000000);
        make_symlink(f, "a.txt", "link");
        sync();
        assert_int_equal(stat(pathf("%s/unchanged.txt", f->volume), &before), 0);

        full = backup(f, "full");
        at_full = tree_capture(f->volume);
        /* The snapshot's generation is recorded for the next incremental. */
        assert_int_equal(run_vssbackup(f, &manifest_text, (const char *const[]) { "list", "--to", f->backups,
                                                                                   "--json", NULL }),
                         0);
        assert_null(strstr(manifest_text, "\"generation\": 0"));
        /* Reading for the backup left the live file's access time alone. */
        assert_int_equal(stat(pathf("%s/unchanged.txt", f->volume), &after), 0);
        assert_int_equal(after.st_atim.tv_sec, before.st_atim.tv_sec);
        assert_int_equal(after.st_atim.tv_nsec, before.st_atim.tv_nsec);

        /* Changes of every kind. */
        write_at(f, "a.txt", "alpha, second version\n");
        write_at(f, "docs/new.txt", "new file\n");
        assert_int_equal(unlink(pathf("%s/gone/x.txt", f->volume)), 0);
        assert_int_equal(rmdir(pathf("%s/gone", f->volume)), 0);
        assert_int_equal(chmod(pathf("%s/docs/b.txt", f->volume), 0600), 0);
        set_mtime(f, "docs/deep/c.txt", 1100000000);
        assert_int_equal(rename(pathf("%s/moveme", f->volume), pathf("%s/moved", f->volume)), 0);
        sync();

        inc1 = backup(f, "incremental");
        at_inc1 = tree_capture(f->volume);
        /* Exactly the changed files; the renamed directory's file through the listing. */
        assert_string_equal(archive_files(pathf("%s/vol-0.tar.zst", inc1)),
                            "a.txt,docs/b.txt,docs/deep/c.txt,docs/new.txt,moved/keep.txt");

        write_at(f, "docs/deep/d.txt", "delta\n");
        assert_int_equal(unlink(pathf("%s/link", f->volume)), 0);
        make_symlink(f, "docs/new.txt", "link");
        assert_int_equal(chmod(pathf("%s/docs/deep", f->volume), 0750), 0);
        sync();

        inc2 = backup(f, "incremental");
        at_inc2 = tree_capture(f->volume);
        assert_string_equal(archive_files(pathf("%s/vol-0.tar.zst", inc2)), "docs/deep/d.txt,link");

        /* The differential holds every change since the full. */
        diff = backup(f, "differential");
        assert_string_equal(archive_files(pathf("%s/vol-0.tar.zst", diff)),
                            "a.txt,docs/b.txt,docs/deep/c.txt,docs/deep/d.txt,docs/new.txt,link,moved/keep.txt");

        /* Each backup restores to the tree it saw, times included. */
        assert_restore_equals(f, full, &at_full);
        assert_restore_equals(f, inc1, &at_inc1);
        assert_restore_equals(f, inc2, &at_inc2);
        assert_restore_equals(f, diff, &at_inc2);

        tree_done(&at_full);
        tree_done(&at_inc1);
        tree_done(&at_inc2);
}

/* ------------------------------------------------------------------------------------------ */
/* Listing by changed directories                                                             */
/* ------------------------------------------------------------------------------------------ */

#define WIDE_DIRS 40U
#define WIDE_FILES 10U

/* One JSON number or string field of the first volume of a `backup --json` result. */
static const char *json_field(const char *json, const char *key) {
        const char *p = strstr(json, pathf("\"%s\": ", key));

        assert_non_null(p);
        return p + strlen(key) + 4;
}

static char *backup_json(Fixture *f, const char *type, unsigned *ret_dirs_read, char **ret_listing) {
        char *out = NULL, *path, *end;
        const char *p;

        assert_int_equal(run_vssbackup(f, &out, (const char *const[]) { "backup", "--type", type, f->volume,
                                                                         "--to", f->backups, "--quiet", "--json",
                                                                         NULL }),
                         0);
        *ret_dirs_read = (unsigned) strtoul(json_field(out, "directories_read"), NULL, 10);
        p = json_field(out, "listing");
        assert_true(*p == '"');
        *ret_listing = pathf("%.*s", (int) strcspn(p + 1, "\""), p + 1);
        p = json_field(out, "backup");
        assert_true(*p == '"');
        path = pathf("%s", p + 1);
        end = strchr(path, '"');
        assert_non_null(end);
        *end = 0;
        return path;
}

static void make_wide_tree(Fixture *f) {
        for (unsigned d = 0; d < WIDE_DIRS; d++) {
                assert_int_equal(mkdir(pathf("%s/d%02u", f->volume, d), 0755), 0);
                for (unsigned i = 0; i < WIDE_FILES; i++)
                        write_at(f, pathf("d%02u/f%u", d, i), pathf("file %u of directory %u\n", i, d));
        }
}

static void test_changed_directories_only(void **state) {
        Fixture *f = *state;
        const char *full, *inc1, *inc2, *inc3;
        char *listing, *out = NULL;
        unsigned dirs;
        Tree at_inc1, at_inc2, at_inc3;

        make_wide_tree(f);
        sync();
        full = backup_json(f, "full", &dirs, &listing);
        assert_string_equal(listing, "walk");
        assert_int_equal(dirs, WIDE_DIRS + 1);       /* the top and every directory */

        /* Files rewritten in place: no directory's entries changed, none is read. */
        write_at(f, "d03/f1", "rewritten\n");
        write_at(f, "d17/f9", "rewritten too\n");
        write_at(f, "d31/f0", "and this one\n");
        sync();
        inc1 = backup_json(f, "incremental", &dirs, &listing);
        at_inc1 = tree_capture(f->volume);
        assert_string_equal(listing, "changed");
        assert_int_equal(dirs, 0);
        assert_string_equal(archive_files(pathf("%s/vol-0.tar.zst", inc1)), "d03/f1,d17/f9,d31/f0");

        /* Renames, deletions, a new directory tree: the top, the two directories whose entries
         * changed, and the three new directories (the renamed one is new by its path). */
        assert_int_equal(unlink(pathf("%s/d05/f3", f->volume)), 0);
        assert_int_equal(rename(pathf("%s/d11/f1", f->volume), pathf("%s/d11/f1b", f->volume)), 0);
        assert_int_equal(rename(pathf("%s/d07", f->volume), pathf("%s/d07-renamed", f->volume)), 0);
        for (unsigned i = 0; i < WIDE_FILES; i++)
                assert_int_equal(unlink(pathf("%s/d09/f%u", f->volume, i)), 0);
        assert_int_equal(rmdir(pathf("%s/d09", f->volume)), 0);
        assert_int_equal(mkdir(pathf("%s/new", f->volume), 0750), 0);
        assert_int_equal(mkdir(pathf("%s/new/sub", f->volume), 0700), 0);
        write_at(f, "new/sub/deep.txt", "in a new directory\n");
        make_symlink(f, "../d00/f0", "new/link");
        set_mtime(f, "d11/f1b", 1000000000);
        sync();
        inc2 = backup_json(f, "incremental", &dirs, &listing);
        at_inc2 = tree_capture(f->volume);
        assert_string_equal(listing, "changed");
        assert_int_equal(dirs, 6);
        /* The renamed file (old times) and everything below new paths, found through the listing. */
        assert_string_equal(archive_files(pathf("%s/vol-0.tar.zst", inc2)),
                            pathf("d07-renamed/f0,d07-renamed/f1,d07-renamed/f2,d07-renamed/f3,d07-renamed/f4,"
                                  "d07-renamed/f5,d07-renamed/f6,d07-renamed/f7,d07-renamed/f8,d07-renamed/f9,"
                                  "d11/f1b,new/link,new/sub/deep.txt"));

        /* A directory replaced by a file of the same name, and a directory's mode. */
        assert_int_equal(unlink(pathf("%s/d13/f0", f->volume)), 0);
        for (unsigned i = 1; i < WIDE_FILES; i++)
                assert_int_equal(unlink(pathf("%s/d13/f%u", f->volume, i)), 0);
        assert_int_equal(rmdir(pathf("%s/d13", f->volume)), 0);
        write_at(f, "d13", "now a file\n");
        assert_int_equal(chmod(pathf("%s/d20", f->volume), 0700), 0);
        sync();
        inc3 = backup_json(f, "incremental", &dirs, &listing);
        at_inc3 = tree_capture(f->volume);
        assert_string_equal(listing, "changed");
        assert_int_equal(dirs, 2);                   /* the top and d20 */
        assert_string_equal(archive_files(pathf("%s/vol-0.tar.zst", inc3)), "d13");

        /* Each restores to the tree it saw, deletions included, and ls sees the whole tree. */
        assert_restore_equals(f, inc1, &at_inc1);
        assert_restore_equals(f, inc2, &at_inc2);
        assert_restore_equals(f, inc3, &at_inc3);
        assert_restore_equals(f, inc2, &at_inc2);
        assert_int_equal(run_vssbackup(f, &out, (const char *const[]) { "ls", inc3, NULL }), 0);
        assert_non_null(strstr(out, pathf("f %s/d13\n", f->volume)));
        assert_non_null(strstr(out, pathf("f %s/d39/f9\n", f->volume)));
        assert_non_null(strstr(out, pathf("l %s/new/link\n", f->volume)));
        assert_null(strstr(out, pathf("%s/d09/", f->volume)));
        assert_null(strstr(out, pathf("%s/d07/", f->volume)));
        assert_null(strstr(out, pathf("%s/d13/", f->volume)));
        assert_int_equal(run_vssbackup(f, NULL, (const char *const[]) { "verify", inc3, "--quiet", NULL }), 0);
        (void) full;

        tree_done(&at_inc1);
        tree_done(&at_inc2);
        tree_done(&at_inc3);
}

/* A path named inside the volume: only the directories of that path, and the way to it, are read. */
static void test_named_path_changed_directories(void **state) {
        Fixture *f = *state;
        const char *named = pathf("%s/keep/data", f->volume);
        const char *inc, *target = pathf("%s/restore-named", f->fs.dir);
        char *out = NULL;
        unsigned dirs;
        Tree expected, got;
        const char *p;

        assert_int_equal(mkdir(pathf("%s/keep", f->volume), 0755), 0);
        assert_int_equal(mkdir(named, 0755), 0);
        assert_int_equal(mkdir(pathf("%s/other", f->volume), 0755), 0);
        for (unsigned i = 0; i < 5; i++) {
                write_at(f, pathf("keep/data/f%u", i), "kept\n");
                write_at(f, pathf("other/f%u", i), "not named\n");
        }
        sync();
        assert_int_equal(run_vssbackup(f, &out, (const char *const[]) { "backup", "--type", "full", named, "--to",
                                                                         f->backups, "--quiet", "--json", NULL }),
                         0);
        assert_non_null(strstr(out, "\"listing\": \"walk\""));

        /* Outside the path named (a new sibling at the top, a change in other/), and inside it. */
        write_at(f, "other/new", "not named either\n");
        assert_int_equal(mkdir(pathf("%s/newtop", f->volume), 0755), 0);
        assert_int_equal(rename(pathf("%s/f0", named), pathf("%s/f0-renamed", named)), 0);
        assert_int_equal(mkdir(pathf("%s/sub", named), 0700), 0);
        write_at(f, "keep/data/sub/g", "new\n");
        sync();
        assert_int_equal(run_vssbackup(f, &out, (const char *const[]) { "backup", "--type", "incremental", named,
                                                                         "--to", f->backups, "--quiet", "--json",
                                                                         NULL }),
                         0);
        assert_true(strncmp(json_field(out, "listing"), "\"changed\"", 9) == 0);
        /* The top (a directory above the path named), keep/data and its new sub; never other/. */
        dirs = (unsigned) strtoul(json_field(out, "directories_read"), NULL, 10);
        assert_int_equal(dirs, 3);
        p = json_field(out, "backup");
        inc = pathf("%.*s", (int) strcspn(p + 1, "\""), p + 1);
        assert_string_equal(archive_files(pathf("%s/vol-0.tar.zst", inc)), "keep/data/f0-renamed,keep/data/sub/g");

        assert_int_equal(run_vssbackup(f, NULL, (const char *const[]) { "restore", inc, "--to", target, "--quiet",
                                                                         NULL }),
                         0);
        expected = tree_capture(named);
        got = tree_capture(pathf("%s/keep/data", target));
        assert_trees_equal(&expected, &got);
        tree_done(&expected);
        tree_done(&got);
        assert_int_equal(access(pathf("%s/other", target), F_OK), -1);
        assert_int_equal(access(pathf("%s/newtop", target), F_OK), -1);
}

static char *read_text(const char *path) {
        char buf[65536];
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        assert_true(fd >= 0);
        n = read(fd, buf, sizeof(buf) - 1);
        assert_true(n >= 0);
        buf[n] = 0;
        close(fd);
        return pathf("%s", buf);
}

/* A damaged group of the previous listing is found by its own checksum: no backup built on it. */
static void test_damaged_group_refused(void **state) {
        Fixture *f = *state;
        const char *full;
        char *listing, *text, *list;
        unsigned dirs;
        int fd;

        make_wide_tree(f);
        sync();
        full = backup_json(f, "full", &dirs, &listing);
        /* The file starts with the top's group ("D", then its entries "dd00", ...): flip a name. */
        list = pathf("%s/vol-0.list", full);
        fd = open(list, O_RDWR | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(pwrite(fd, "X", 1, 4), 1);
        assert_int_equal(close(fd), 0);

        assert_int_equal(mkdir(pathf("%s/added", f->volume), 0755), 0);
        sync();
        assert_int_equal(run_vssbackup(f, NULL, (const char *const[]) { "backup", "--type", "incremental", f->volume,
                                                                         "--to", f->backups, "--quiet", NULL }),
                         2);
        text = read_text(pathf("%s/vssbackup-%u.err", f->fs.dir, f->n_runs - 1));
        assert_non_null(strstr(text, "is damaged (directory /); run a full backup"));
        /* verify names the listing too. */
        assert_int_equal(run_vssbackup(f, NULL, (const char *const[]) { "verify", full, NULL }), 2);
}

/* Rewrites one line "key=..." of a manifest (NULL value: drops it). */
static char *manifest_edit(char *text, const char *key, const char *value) {
        char *p = strstr(text, pathf("\n%s=", key)), *end;

        assert_non_null(p);
        end = strchr(p + 1, '\n');
        assert_non_null(end);
        return pathf("%.*s%s%s", (int) (p - text), text, value ? pathf("\n%s=%s", key, value) : "", end);
}


static void write_bytes(const char *path, const void *data, size_t len) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, len), (ssize_t) len);
        assert_int_equal(close(fd), 0);
}

/*
 * Turns a backup into what the previous vssbackup wrote: manifest "vssbackup-1" without the
 * listing's format-2 keys, and a whole format 1 listing (every path, "<type><path>\0"), made
 * from what `ls` says the backup holds.
 */
/* The XXH3-128 of a whole file, as the manifests before "vssbackup-3" record an archive's. */
static char *whole_file_xxh128(const char *path) {
        _cleanup_free_ char *data = NULL;
        XXH128_canonical_t c;
        char hex[33];
        size_t len;

        assert_int_equal(read_file_full(path, &data, &len), 0);
        XXH128_canonicalFromHash(&c, XXH3_128bits(data, len));
        for (size_t i = 0; i < sizeof(c.digest); i++)
                snprintf(hex + 2 * i, 3, "%02x", c.digest[i]);
        return pathf("%s", hex);
}

/* A "vssbackup-3" manifest of one volume rewritten as `format` with its archive's checksum in
 * that format's terms (over the whole file); returns the text. */
static char *manifest_as(const char *backup_path, const char *format) {
        char *text = read_text(pathf("%s/manifest", backup_path));

        assert_true(strncmp(text, "format=vssbackup-3\n", 19) == 0);
        text = pathf("format=%s\n%s", format, text + 19);
        return manifest_edit(text, "volume.0.archive_xxh128", whole_file_xxh128(pathf("%s/vol-0.tar.zst", backup_path)));
}

static void to_format_1(Fixture *f, const char *backup_path) {
        char *out = NULL, *text, *list, *w, *line;
        size_t prefix = strlen(f->volume) + 1, len = 0;
        XXH128_canonical_t c;
        char hex[33];

        assert_int_equal(run_vssbackup(f, &out, (const char *const[]) { "ls", backup_path, NULL }), 0);
        list = w = pathf("%*s", (int) strlen(out), "");
        for (line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
                size_t l;

                assert_true(strlen(line) > 2 + prefix);
                l = strlen(line + 2 + prefix);
                if (line[0] == 'd' && line[2 + prefix + l - 1] == '/')
                        l--;
                *w++ = line[0];
                memcpy(w, line + 2 + prefix, l);
                w += l;
                *w++ = 0;
        }
        len = (size_t) (w - list);
        write_bytes(pathf("%s/vol-0.list", backup_path), list, len);
        XXH128_canonicalFromHash(&c, XXH3_128bits(list, len));
        for (size_t i = 0; i < sizeof(c.digest); i++)
                snprintf(hex + 2 * i, 3, "%02x", c.digest[i]);

        text = manifest_as(backup_path, "vssbackup-1");
        text = manifest_edit(text, "volume.0.listing_delta", NULL);
        text = manifest_edit(text, "volume.0.listing_filter", NULL);
        text = manifest_edit(text, "volume.0.listing_xxh128", hex);
        write_bytes(pathf("%s/manifest", backup_path), text, strlen(text));
}

static void test_old_format(void **state) {
        Fixture *f = *state;
        const char *full, *inc1, *inc2;
        char *listing, *text, *old, *out = NULL;
        unsigned dirs;
        Tree at_inc1, at_inc2;

        make_wide_tree(f);
        sync();
        full = backup_json(f, "full", &dirs, &listing);
        write_at(f, "d01/f1", "changed\n");
        assert_int_equal(rename(pathf("%s/d02", f->volume), pathf("%s/d02-moved", f->volume)), 0);
        sync();
        inc1 = backup_json(f, "incremental", &dirs, &listing);
        at_inc1 = tree_capture(f->volume);
        assert_string_equal(listing, "changed");

        /* The chain as the previous format wrote it (whole listings) restores the same tree. */
        to_format_1(f, inc1);
        to_format_1(f, full);
        assert_restore_equals(f, inc1, &at_inc1);
        assert_int_equal(run_vssbackup(f, NULL, (const char *const[]) { "verify", inc1, "--quiet", NULL }), 0);

        /* An incremental on top of it walks (no listing to compare directories with) and restores too. */
        write_at(f, "d03/f3", "changed again\n");
        sync();
        inc2 = backup_json(f, "incremental", &dirs, &listing);
        at_inc2 = tree_capture(f->volume);
        assert_string_equal(listing, "walk");
        assert_restore_equals(f, inc2, &at_inc2);

        /* The current format checks an archive over 1 MiB blocks, "vssbackup-2" over the whole
         * file: each verifies in its own terms, and the other's checksum is a mismatch. */
        assert_int_equal(run_vssbackup(f, NULL, (const char *const[]) { "verify", inc2, "--quiet", NULL }), 0);
        text = read_text(pathf("%s/manifest", inc2));
        old = pathf("format=vssbackup-2\n%s", text + 19);
        write_bytes(pathf("%s/manifest", inc2), old, strlen(old));
        assert_int_not_equal(run_vssbackup(f, NULL, (const char *const[]) { "verify", inc2, "--quiet", NULL }), 0);
        write_bytes(pathf("%s/manifest", inc2), text, strlen(text));
        old = manifest_as(inc2, "vssbackup-2");
        write_bytes(pathf("%s/manifest", inc2), old, strlen(old));
        assert_int_equal(run_vssbackup(f, NULL, (const char *const[]) { "verify", inc2, "--quiet", NULL }), 0);

        /* A format this vssbackup does not know: refused, naming it. */
        text = read_text(pathf("%s/manifest", inc2));
        text = pathf("format=vssbackup-4\n%s", strchr(text, '\n') + 1);
        write_bytes(pathf("%s/manifest", inc2), text, strlen(text));
        assert_int_equal(run_vssbackup(f, &out, (const char *const[]) { "restore", inc2, "--to",
                                                                         pathf("%s/refused", f->fs.dir), NULL }),
                         2);
        text = read_text(pathf("%s/vssbackup-%u.err", f->fs.dir, f->n_runs - 1));
        assert_non_null(strstr(text, "unknown format"));
        assert_non_null(strstr(text, "vssbackup-4"));

        tree_done(&at_inc1);
        tree_done(&at_inc2);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_chain_on_btrfs, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_changed_directories_only, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_old_format, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_named_path_changed_directories, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_damaged_group_refused, fixture_setup, fixture_teardown),
        };

        if (geteuid() != 0) {
                fprintf(stderr, "test-vssbackup-btrfs needs root (loop devices, mount); skipping\n");
                return 77;
        }
        (void) signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
