/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-vssbackup-scope.c: what vssbackup takes from a real btrfs volume, and what it does when
 * the destination fills up (suite root: loop-mounted btrfs, the btrfs provider, vssd as root).
 *
 *   - a backup of <mnt>/a, on the volume <mnt> that also holds <mnt>/b, snapshots the volume
 *     but stores no file of b (checked in the archive itself, with libarchive, and by ls), and
 *     restores a alone;
 *   - a backup of the whole volume never stores the providers' snapshot area (.vss-snapshots,
 *     which the volume's own snapshot holds as empty directories);
 *   - vshadow <mnt>/a gives the -exec command VSHADOW_PATH_0, the named directory inside the
 *     snapshot (a tar of it holds no file of b), beside VSHADOW_SNAPSHOT_0, the volume's root;
 *   - a destination that fills up (a 128 MiB loop-mounted btrfs, 160 MiB of incompressible
 *     data to back up) stops the copy at the first ENOSPC with one "destination full: N bytes
 *     needed, M free" line and no cascade of I/O errors; nothing is left in the destination.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "root-harness.h"
#include "vb-harness.h"

#define IMAGE_SIZE (UINT64_C(512) * 1024 * 1024)
#define SMALL_SIZE (UINT64_C(128) * 1024 * 1024)
#define BIG_FILE_MIB 160U
#define WAIT_MS 20000U

typedef struct Fixture {
        LoopBtrfs fs;
        LoopBtrfs dest;
        char socket[4096];
        char state_dir[4096];
        char backups[4096];
        pid_t vssd;
        unsigned serial;
} Fixture;

static void write_file(const char *dir, const char *rel, const char *text) {
        char path[8192];
        int fd;

        snprintf(path, sizeof(path), "%s/%s", dir, rel);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
        assert_int_equal(close(fd), 0);
}

static void make_dir(const char *dir, const char *rel) {
        char path[8192];

        snprintf(path, sizeof(path), "%s/%s", dir, rel);
        assert_int_equal(mkdir(path, 0755), 0);
}

static int fixture_teardown(void **state) {
        Fixture *f = *state;
        int r = 0;

        if (!f)
                return 0;
        if (f->vssd > 0 && process_stop(f->vssd, 5000) < 0)
                r = -1;
        if (loop_btrfs_teardown(&f->dest) < 0)
                r = -1;
        if (loop_btrfs_teardown(&f->fs) < 0)
                r = -1;
        free(f);
        *state = NULL;
        return r;
}

static int fixture_setup(void **state) {
        Fixture *f = calloc(1, sizeof(*f));
        int r;

        if (!f)
                return -1;
        f->fs.loop_fd = f->dest.loop_fd = -EBADF;
        *state = f;
        if (geteuid() != 0) {
                fprintf(stderr, "not root\n");
                goto fail;
        }
        r = loop_btrfs_setup("/var/tmp/vss-root-XXXXXX", IMAGE_SIZE, &f->fs);
        if (r < 0) {
                fprintf(stderr, "cannot set up a loop-mounted btrfs: %s\n", strerror(-r));
                goto fail;
        }
        snprintf(f->socket, sizeof(f->socket), "%s/vssd.sock", f->fs.dir);
        snprintf(f->state_dir, sizeof(f->state_dir), "%s/state", f->fs.dir);
        snprintf(f->backups, sizeof(f->backups), "%s/backups", f->fs.dir);
        if (mkdir(f->state_dir, 0700) < 0)
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

        /* <mnt>/a and <mnt>/b on the one volume <mnt>. */
        make_dir(f->fs.mnt, "a");
        make_dir(f->fs.mnt, "a/sub");
        make_dir(f->fs.mnt, "b");
        write_file(f->fs.mnt, "a/one.txt", "one\n");
        write_file(f->fs.mnt, "a/sub/two.txt", "two\n");
        write_file(f->fs.mnt, "b/secret.txt", "not part of a\n");
        write_file(f->fs.mnt, "top.txt", "top\n");
        return 0;

fail:
        (void) fixture_teardown(state);
        return -1;
}

static void run(Fixture *f, const char *const *args, VbRun *ret) {
        assert_int_equal(vb_run(f->socket, f->fs.dir, f->serial++, args, ret), 0);
}

/* Every entry name of a backup's vol-0.tar.zst, each on its own line after a newline. */
static char *archive_names(const char *backup) {
        struct archive *a = archive_read_new();
        struct archive_entry *e;
        char path[8192], *names = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&names, &len);

        assert_non_null(a);
        assert_non_null(m);
        archive_read_support_format_all(a);
        archive_read_support_filter_all(a);
        snprintf(path, sizeof(path), "%s/vol-0.tar.zst", backup);
        assert_int_equal(archive_read_open_filename(a, path, 65536), ARCHIVE_OK);
        fputc('\n', m);
        while (archive_read_next_header(a, &e) == ARCHIVE_OK)
                fprintf(m, "%s\n", archive_entry_pathname(e));
        archive_read_free(a);
        fclose(m);
        return names;
}

static char *backup_ok(Fixture *f, const char *path, VbRun *r) {
        char *b = NULL;

        run(f, (const char *const[]) { "backup", "--type", "full", path, "--to", f->backups, NULL }, r);
        if (r->exit_status != 0)
                fail_msg("backup exited %d:\n%s", r->exit_status, r->err);
        assert_int_equal(vb_run_backup_path(r, &b), 0);
        return b;
}

static void test_named_path_only(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *b = NULL, *names = NULL;
        char named[8192], target[8192], probe[8192];
        struct stat st;
        VbRun r = {};

        snprintf(named, sizeof(named), "%s/a", f->fs.mnt);
        b = backup_ok(f, named, &r);
        assert_non_null(strstr(r.err, "backing up a of it"));
        vb_run_done(&r);

        names = archive_names(b);
        assert_non_null(strstr(names, "\na/one.txt\n"));
        assert_non_null(strstr(names, "\na/sub/two.txt\n"));
        assert_null(strstr(names, "\nb/"));
        assert_null(strstr(names, "\nb\n"));
        assert_null(strstr(names, "secret"));
        assert_null(strstr(names, "top.txt"));
        assert_null(strstr(names, ".vss-snapshots"));

        run(f, (const char *const[]) { "ls", b, NULL }, &r);
        assert_int_equal(r.exit_status, 0);
        assert_null(strstr(r.out, "/b/"));
        assert_non_null(strstr(r.out, "/a/sub/two.txt\n"));
        vb_run_done(&r);

        snprintf(target, sizeof(target), "%s/restore-a", f->fs.dir);
        run(f, (const char *const[]) { "restore", b, "--to", target, NULL }, &r);
        assert_int_equal(r.exit_status, 0);
        vb_run_done(&r);
        snprintf(probe, sizeof(probe), "%s/a/sub/two.txt", target);
        assert_int_equal(stat(probe, &st), 0);
        snprintf(probe, sizeof(probe), "%s/b", target);
        assert_int_not_equal(stat(probe, &st), 0);
}

static void test_whole_volume_no_snapshot_area(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *first = NULL, *b = NULL, *names = NULL;
        char area[8192];
        struct stat st;
        VbRun r = {};

        /* A first backup leaves the snapshot area in place (its snapshot goes, the directory stays). */
        first = backup_ok(f, f->fs.mnt, &r);
        vb_run_done(&r);
        snprintf(area, sizeof(area), "%s/.vss-snapshots", f->fs.mnt);
        assert_int_equal(stat(area, &st), 0);

        b = backup_ok(f, f->fs.mnt, &r);
        vb_run_done(&r);
        names = archive_names(b);
        assert_non_null(strstr(names, "\nb/secret.txt\n"));
        assert_non_null(strstr(names, "top.txt\n"));
        assert_null(strstr(names, ".vss-snapshots"));
}

static void test_destination_full(void **state) {
        Fixture *f = *state;
        char big[8192], dest[8192];
        VbRun r = {};
        int in, out;

        assert_int_equal(loop_btrfs_setup("/var/tmp/vss-dest-XXXXXX", SMALL_SIZE, &f->dest), 0);
        make_dir(f->fs.mnt, "big");
        snprintf(big, sizeof(big), "%s/big/random.bin", f->fs.mnt);
        in = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        out = open(big, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(in >= 0 && out >= 0);
        for (unsigned i = 0; i < BIG_FILE_MIB * 16; i++) {
                char buf[65536];

                assert_int_equal(read(in, buf, sizeof(buf)), (ssize_t) sizeof(buf));
                assert_int_equal(write(out, buf, sizeof(buf)), (ssize_t) sizeof(buf));
        }
        close(in);
        close(out);
        /* A few more files after it, each of which would fail too once the disk is full. */
        for (int i = 0; i < 20; i++) {
                char name[64];

                snprintf(name, sizeof(name), "big/z%02d.txt", i);
                write_file(f->fs.mnt, name, "after the big one\n");
        }

        snprintf(big, sizeof(big), "%s/big", f->fs.mnt);
        snprintf(dest, sizeof(dest), "%s/backups", f->dest.mnt);
        run(f, (const char *const[]) { "backup", "--type", "full", big, "--to", dest, "--quiet", NULL }, &r);
        assert_int_equal(r.exit_status, 2);     /* docs/exit-codes.md: a step failed */
        /* One line, with both numbers, and no cascade. */
        {
                const char *p = strstr(r.err, "destination full: ");
                unsigned long long need = 0, avail = 0;

                if (!p)
                        fail_msg("no \"destination full\" line:\n%s", r.err);
                assert_int_equal(sscanf(p, "destination full: %llu bytes needed, %llu free", &need, &avail), 2);
                assert_true(need >= (unsigned long long) BIG_FILE_MIB * 1024 * 1024);
                assert_true(avail < need);
                assert_null(strstr(p + 1, "destination full"));
        }
        assert_null(strstr(r.err, "Input/output error"));
        assert_null(strstr(r.err, "No space left on device"));
        assert_null(strstr(r.err, "cannot copy"));
        vb_run_done(&r);

        /* Nothing left behind but the lock: no temporary directory, no half backup. */
        {
                DIR *d = opendir(dest);
                struct dirent *de;
                unsigned n = 0;

                assert_non_null(d);
                while ((de = readdir(d)))
                        if (!streq(de->d_name, ".") && !streq(de->d_name, "..") && !streq(de->d_name, ".lock"))
                                n++;
                closedir(d);
                assert_int_equal(n, 0);
        }
}

static void test_vshadow_named_path(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *listing = NULL;
        char named[8192], out[8192], cmd[16384];

        snprintf(named, sizeof(named), "%s/a", f->fs.mnt);
        snprintf(out, sizeof(out), "%s/vshadow-tar.txt", f->fs.dir);
        /* The command archives the named path only, and checks the volume root is there too. */
        snprintf(cmd, sizeof(cmd),
                 "-exec=tar -C \"$VSHADOW_PATH_0\" -cf - . | tar -tf - > %s && "
                 "test -f \"$VSHADOW_SNAPSHOT_0/b/secret.txt\" && test \"$VSHADOW_PATH_0\" = \"$VSHADOW_SNAPSHOT_0/a\"",
                 out);
        {
                const char *args[] = { "-nw", cmd, named, NULL };
                pid_t pid;
                int status;

                pid = fork();
                assert_true(pid >= 0);
                if (pid == 0) {
                        const char *argv[] = { getenv("VSHADOW"), args[0], args[1], args[2], NULL };

                        setenv("VSS_SOCKET", f->socket, 1);
                        execv(argv[0], (char *const *) argv);
                        _exit(127);
                }
                assert_int_equal(waitpid(pid, &status, 0), pid);
                assert_true(WIFEXITED(status));
                assert_int_equal(WEXITSTATUS(status), 0);
        }
        assert_int_equal(read_file_full(out, &listing, NULL), 0);
        assert_non_null(strstr(listing, "./one.txt\n"));
        assert_non_null(strstr(listing, "./sub/two.txt\n"));
        assert_null(strstr(listing, "secret"));
        assert_null(strstr(listing, "top.txt"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_named_path_only, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_whole_volume_no_snapshot_area, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_vshadow_named_path, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_destination_full, fixture_setup, fixture_teardown),
        };

        if (geteuid() != 0) {
                if (getenv("CI"))
                        return 1;
                fprintf(stderr, "needs root: skipped\n");
                return 77;
        }
        return cmocka_run_group_tests(tests, NULL, NULL);
}
