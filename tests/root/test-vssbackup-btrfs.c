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
 *   - reading for the backup leaves access times alone (the snapshot's and the live files').
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

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_chain_on_btrfs),
        };

        if (geteuid() != 0) {
                fprintf(stderr, "test-vssbackup-btrfs needs root (loop devices, mount); skipping\n");
                return 77;
        }
        (void) signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
