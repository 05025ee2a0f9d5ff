/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-provider-mounts.c: the one way snapshots are mounted and unmounted
 * (provider-util.h), on tmpfs and bind mounts, without vssd (suite root: it mounts).
 *
 * What the contract promises and this checks: paths are resolved without following a symlink
 * anywhere and without "." / ".." components; a mount is read-only, nosuid, nodev, noexec and
 * noatime the moment it appears, and its ids are known before it is attached; a mount is
 * found by its ids at its path or wherever a rename moved it, never confused with another
 * mount at the path its symlinked ancestor now leads to, nor with a later mount that reused
 * its id, nor with anything after a reboot (another boot id); a busy mount is refused, not
 * detached, unless asked; a mount recorded without ids is adopted only when provably the
 * bind mount of the directory it should be.
 *
 * Needs root: exits 77 (skipped) otherwise.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "macro.h"
#include "providers/provider-util.h"

static char dir[] = "/tmp/test-provider-mounts-XXXXXX";

static char *path_of(const char *name) {
        char *p = NULL;

        assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
        return p;
}

static char *make_dir(const char *name) {
        char *p = path_of(name);

        assert_int_equal(mkdir(p, 0755), 0);
        return p;
}

static void write_file(const char *d, const char *name) {
        _cleanup_free_ char *p = NULL;
        FILE *f;

        assert_true(asprintf(&p, "%s/%s", d, name) > 0);
        f = fopen(p, "we");
        assert_non_null(f);
        fputs("x\n", f);
        assert_int_equal(fclose(f), 0);
}

static bool is_mount_root(const char *path) {
        struct statx sx;

        if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_BASIC_STATS, &sx) < 0)
                return false;
        return (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) && (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

/* Mounts source (a directory; fstype NULL) or a new fstype on the directory at target. */
static void mount_at(const char *source, const char *fstype, const char *target, MountRef *ret) {
        _cleanup_close_ int fd = path_open_nofollow(target, O_PATH | O_DIRECTORY);

        assert_true(fd >= 0);
        assert_int_equal(provider_mount_ro(source, fstype, NULL, fd, ret), 0);
}

/* Lazily unmounts everything below dir (what a failed case left). */
static void unmount_all_below(void) {
        for (int pass = 0; pass < 16; pass++) {
                char line[8192], mp[4096], best[4096] = "";
                FILE *f = fopen("/proc/self/mountinfo", "re");

                if (!f)
                        return;
                while (fgets(line, sizeof(line), f))
                        if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1 && strncmp(mp, dir, strlen(dir)) == 0 &&
                            strlen(mp) > strlen(best))
                                snprintf(best, sizeof(best), "%s", mp);
                fclose(f);
                if (!best[0])
                        return;
                (void) umount2(best, MNT_DETACH);
        }
}

static int setup(void **state) {
        return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
        char cmd[256];

        unmount_all_below();
        snprintf(cmd, sizeof(cmd), "rm -rf --one-file-system '%s'", dir);
        return system(cmd) == 0 ? 0 : -1;
}

static void test_resolution(void **state) {
        _cleanup_free_ char *real = make_dir("real"), *link = path_of("link"), *through = NULL, *dots = NULL,
                            *slashes = NULL;
        int fd;

        assert_int_equal(symlink(real, link), 0);
        assert_true(asprintf(&through, "%s/sub", link) > 0);
        assert_true(asprintf(&dots, "%s/../real", link) > 0);
        assert_true(asprintf(&slashes, "%s//real", dir) > 0);
        assert_int_equal(mkdir(through, 0755), 0); /* real/sub */

        fd = path_open_nofollow(real, O_PATH | O_DIRECTORY);
        assert_true(fd >= 0);
        close(fd);
        assert_int_equal(path_open_nofollow(link, O_PATH | O_DIRECTORY), -ELOOP);
        assert_int_equal(path_open_nofollow(through, O_PATH | O_DIRECTORY), -ELOOP); /* not only the last one */
        assert_int_equal(path_open_nofollow(dots, O_PATH | O_DIRECTORY), -EINVAL);
        assert_int_equal(path_open_nofollow(slashes, O_PATH | O_DIRECTORY), -EINVAL);
        assert_int_equal(path_open_nofollow("relative", O_PATH | O_DIRECTORY), -EINVAL);
        assert_int_equal(path_open_nofollow("/proc/self/cwd", O_PATH | O_DIRECTORY), -ELOOP); /* a magic link */
}

static void test_mount_flags_and_ids(void **state) {
        _cleanup_free_ char *src = make_dir("src"), *t1 = make_dir("t1"), *t2 = make_dir("t2"), *p = NULL;
        MountRef ref = {}, seen;
        struct statvfs sv;
        int fd;

        write_file(src, "file");
        mount_at(src, NULL, t1, &ref);
        assert_true(mount_ref_is_set(&ref));
        assert_true(ref.boot_id[0] != 0);
        assert_int_equal(statvfs(t1, &sv), 0);
        assert_true(sv.f_flag & ST_RDONLY);
        assert_true(sv.f_flag & ST_NOSUID);
        assert_true(sv.f_flag & ST_NODEV);
        assert_true(sv.f_flag & ST_NOEXEC);
        assert_true(sv.f_flag & ST_NOATIME);
        assert_true(asprintf(&p, "%s/new", t1) > 0);
        fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        assert_int_equal(fd, -1);
        assert_int_equal(errno, EROFS);

        /* The ids read on the detached mount are the attached mount's. */
        {
                _cleanup_close_ int parent = -EBADF;
                _cleanup_free_ char *name = NULL;

                assert_int_equal(path_open_parent_nofollow(t1, &parent, &name), 0);
                assert_int_equal(mount_ref_read(parent, name, &seen), 0);
                assert_true(seen.id == ref.id);
                assert_true(seen.unique_id == ref.unique_id);
                assert_string_equal(seen.boot_id, ref.boot_id);
                /* A plain directory is not a mount root. */
                assert_int_equal(mount_ref_read(parent, "src", &seen), -EMEDIUMTYPE);
        }

        /* A new filesystem gets the same flags. */
        mount_at("vss-test", "tmpfs", t2, NULL);
        assert_int_equal(statvfs(t2, &sv), 0);
        assert_true((sv.f_flag & (ST_RDONLY | ST_NOSUID | ST_NODEV | ST_NOEXEC)) ==
                    (ST_RDONLY | ST_NOSUID | ST_NODEV | ST_NOEXEC));
        assert_int_equal(provider_umount_path(t2, false), 0);
        assert_int_equal(provider_umount_path(t1, false), 0);
        assert_false(is_mount_root(t1));
        assert_false(is_mount_root(t2));
        assert_int_equal(provider_umount_path(t1, false), 0); /* nothing there: fine */
}

/* The attack: the mount's parent renamed away and replaced by a symlink to a directory with a
 * mount of its own at the same name. */
static void test_locate_after_swap(void **state) {
        _cleanup_free_ char *src = make_dir("src2"), *a = make_dir("a"), *boot = NULL, *victim = make_dir("victim"),
                            *victim_boot = NULL, *old = path_of("a.old"), *old_boot = NULL;
        MountHandle h = MOUNT_HANDLE_NULL;
        MountRef ref = {};

        assert_true(asprintf(&boot, "%s/boot", a) > 0);
        assert_true(asprintf(&victim_boot, "%s/boot", victim) > 0);
        assert_true(asprintf(&old_boot, "%s/boot", old) > 0);
        assert_int_equal(mkdir(boot, 0755), 0);
        assert_int_equal(mkdir(victim_boot, 0755), 0);
        assert_int_equal(mount("victim", victim_boot, "tmpfs", 0, "size=1m"), 0);
        mount_at(src, NULL, boot, &ref);

        /* Found where it was made. */
        assert_int_equal(mount_locate(boot, &ref, &h), 1);
        assert_false(h.moved);
        assert_string_equal(h.path, boot);
        mount_handle_done(&h);

        /* A mount point cannot be renamed; its parent can. */
        assert_int_equal(rename(boot, victim_boot), -1);
        assert_int_equal(rename(a, old), 0);
        assert_int_equal(symlink(victim, a), 0);

        /* The path by symlink would unmount the victim; the tool-facing helper refuses it. */
        assert_int_equal(provider_umount_path(boot, false), -ELOOP);
        assert_true(is_mount_root(victim_boot));

        assert_int_equal(mount_locate(boot, &ref, &h), 1);
        assert_true(h.moved);
        assert_string_equal(h.path, old_boot);
        assert_int_equal(mount_handle_unmount(&h, false), 0);
        mount_handle_done(&h);
        assert_false(is_mount_root(old_boot));
        assert_true(is_mount_root(victim_boot));

        /* Gone now, and said so. */
        assert_int_equal(mount_locate(boot, &ref, &h), 0);
        assert_int_equal(umount2(victim_boot, 0), 0);
}

static void test_busy_and_lazy(void **state) {
        _cleanup_free_ char *src = make_dir("src3"), *t = make_dir("t3"), *p = NULL;
        MountHandle h = MOUNT_HANDLE_NULL;
        MountRef ref = {};
        int fd;

        write_file(src, "file");
        mount_at(src, NULL, t, &ref);
        assert_true(asprintf(&p, "%s/file", t) > 0);
        fd = open(p, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);

        assert_int_equal(mount_locate(t, &ref, &h), 1);
        assert_int_equal(mount_handle_unmount(&h, false), -EBUSY);
        assert_true(is_mount_root(t));
        /* The handle itself does not keep the mount busy: only the open file does. */
        assert_int_equal(provider_unexpose_umount(NULL, mount_handle_target(&h)), VSS_E_VOLUME_IN_USE);
        assert_int_equal(mount_handle_unmount(&h, true), 0);
        mount_handle_done(&h);
        assert_false(is_mount_root(t));
        close(fd);
}

/* An id reused by a later mount, and ids of another boot, do not name the mount. */
static void test_reused_id_and_other_boot(void **state) {
        _cleanup_free_ char *src = make_dir("src4"), *t = make_dir("t4");
        MountHandle h = MOUNT_HANDLE_NULL;
        MountRef first = {}, second = {}, other_boot;

        mount_at(src, NULL, t, &first);
        assert_int_equal(provider_umount_path(t, false), 0);
        mount_at(src, NULL, t, &second);

        if (first.unique_id == 0)
                print_message("no STATX_MNT_ID_UNIQUE on this kernel: reuse cannot be told apart\n");
        else {
                MountRef stale = second;

                /* The same reusable id with another unique id is another mount. */
                stale.unique_id = first.unique_id;
                assert_true(first.unique_id != second.unique_id);
                assert_int_equal(mount_locate(t, &stale, &h), 0);
        }
        other_boot = second;
        snprintf(other_boot.boot_id, sizeof(other_boot.boot_id), "00000000-0000-4000-8000-000000000000");
        assert_int_equal(mount_locate(t, &other_boot, &h), 0);
        assert_true(is_mount_root(t)); /* untouched */

        assert_int_equal(mount_locate(t, &second, &h), 1);
        assert_int_equal(mount_handle_unmount(&h, false), 0);
        mount_handle_done(&h);
}

/* A mount recorded without ids is adopted only when it is the bind mount of that directory. */
static void test_adopt(void **state) {
        _cleanup_free_ char *src = make_dir("src5"), *other = make_dir("other5"), *t = make_dir("t5");
        MountRef ref = {}, adopted;

        assert_int_equal(mount_adopt(t, src, &adopted), 0); /* nothing mounted */
        mount_at(src, NULL, t, &ref);
        assert_int_equal(mount_adopt(t, other, &adopted), -EPERM);
        assert_int_equal(mount_adopt(t, src, &adopted), 1);
        assert_true(adopted.id == ref.id);
        assert_true(adopted.unique_id == ref.unique_id);
        assert_int_equal(provider_umount_path(t, false), 0);

        mount_at("vss-test", "tmpfs", t, NULL);
        assert_int_equal(mount_adopt(t, src, &adopted), -EPERM);
        assert_int_equal(provider_umount_path(t, false), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_resolution),
                cmocka_unit_test(test_mount_flags_and_ids),
                cmocka_unit_test(test_locate_after_swap),
                cmocka_unit_test(test_busy_and_lazy),
                cmocka_unit_test(test_reused_id_and_other_boot),
                cmocka_unit_test(test_adopt),
        };

        if (geteuid() != 0) {
                fprintf(stderr, "test-provider-mounts needs root (it mounts); skipping.\n");
                return 77;
        }
        return cmocka_run_group_tests(tests, setup, teardown);
}
