/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-expose-redirect.c: exposures cannot be redirected (root suite, real btrfs, real vssd,
 * a real unprivileged caller: uid nobody with group "backup").
 *
 * The attack: a backup user exposes a snapshot at ~/a/boot, renames ~/a to ~/a.old and puts a
 * symlink ~/a -> /VICTIM in its place. A vssd that unmounts by path then unmounts whatever is
 * mounted at /VICTIM/boot (unexpose, DeleteShadows, release, start-up recovery) and records its
 * own mount as gone while it stays at ~/a.old/boot; one that re-exposes by path at start-up
 * mounts the user's snapshot over the root-owned /VICTIM/boot. Here /VICTIM is a root-owned
 * directory of the fixture: victim/boot carries a tmpfs with a file ("a foreign mount"),
 * victim2/boot is an empty root-owned directory.
 *
 * For each way vssd unmounts (unexpose, delete, release, recovery of a persistent exposure
 * and of a crashed auto-release one) the foreign mount is untouched and vssd's own mount is
 * gone from wherever it was moved; an exposure through a symlink is refused with
 * E_INVALIDARG; recovery re-exposes only with the original caller's rights (never through a
 * symlink, never onto a directory that is no longer the caller's) and otherwise drops the
 * exposure, while root's own exposure is made again after a "reboot". The image provider's
 * exposures (a mount of a clone on a loop device) are found and unmounted the same way.
 *
 * Needs root (loop device, mount): exits 77 (skipped) otherwise. Environment: VSSD, VSSADMIN,
 * VSS_GUARDIAN_PATH (the image provider's case).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include <btrfsutil.h>

#include "loop-fs.h"
#include "macro.h"
#include "root-harness.h"
#include "vss-bus.h"
#include "vssd-fixture.h"

#define IMAGE_SIZE (UINT64_C(256) * 1024 * 1024)
#define USER_UID 65534
#define USER_GID 65534

static LoopBtrfs fs;
static VssdFixture vssd;
static char vol[1024], home[1024], victim[1024], victim_boot[1024], victim2[1024], victim2_boot[1024];
static gid_t backup_gid;
static bool made_backup_group;
/* The image provider's case: an XFS host holding the ext4 volume image (teardown undoes them,
 * whatever state a failed case left). */
static LoopFs img_host, img_vol;
static char img_dir[64];

/* ------------------------------------------------------------------------------------------ */
/* The unprivileged caller                                                                     */
/* ------------------------------------------------------------------------------------------ */

/* In a child: become uid/gid nobody with the supplementary group "backup". */
static void become_user(void) {
        if (setgroups(1, &backup_gid) < 0 || setgid(USER_GID) < 0 || setuid(USER_UID) < 0)
                _exit(120);
}

/* Runs vssadmin as the user; its exit status, its stderr in *ret_err (may be NULL). */
static int vssadmin_as_user(char **ret_err, const char *a1, const char *a2, const char *a3, const char *a4,
                            const char *a5, const char *a6) {
        const char *vssadmin = getenv("VSSADMIN");
        FILE *err = tmpfile();
        int status;
        pid_t pid;

        assert_non_null(vssadmin);
        assert_non_null(err);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (null < 0 || dup2(null, STDOUT_FILENO) < 0 || dup2(fileno(err), STDERR_FILENO) < 0)
                        _exit(126);
                become_user();
                execl(vssadmin, vssadmin, "--socket", vssd.socket_path, a1, a2, a3, a4, a5, a6, (char *) NULL);
                _exit(127);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (ret_err) {
                char buf[4096];
                size_t n;

                rewind(err);
                n = fread(buf, 1, sizeof(buf) - 1, err);
                buf[n] = 0;
                *ret_err = strdup(buf);
        }
        fclose(err);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int user_expose(const vss_id *id, const char *path, char **ret_err) {
        return vssadmin_as_user(ret_err, "expose", "--shadow", vss_id_to_str(id).s, "--path", path, NULL);
}

/* What the user does to a directory of theirs once the exposure is in it: rename it away and
 * put a symlink to target in its place. */
static void user_swap(const char *dir, const char *target) {
        char old[4200];
        int status;
        pid_t pid;

        snprintf(old, sizeof(old), "%s.old", dir);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                become_user();
                _exit(rename(dir, old) < 0 || symlink(target, dir) < 0 ? 1 : 0);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* <home>/<name>/boot, made by the user: the exposure target. */
static void user_dirs(const char *name, char *ret_dir, char *ret_boot, size_t size) {
        snprintf(ret_dir, size, "%s/%s", home, name);
        snprintf(ret_boot, size, "%s/%s/boot", home, name);
        assert_int_equal(mkdir(ret_dir, 0755), 0);
        assert_int_equal(mkdir(ret_boot, 0755), 0);
        assert_int_equal(lchown(ret_dir, USER_UID, USER_GID), 0);
        assert_int_equal(lchown(ret_boot, USER_UID, USER_GID), 0);
}

/* ------------------------------------------------------------------------------------------ */
/* What must hold                                                                              */
/* ------------------------------------------------------------------------------------------ */

static bool is_mounted(const char *path) {
        char opts[1024];

        return mountinfo_options(path, opts, sizeof(opts)) == 1;
}

/* The foreign mount is still there, with its content. */
static void assert_victim_intact(void) {
        char p[4200];

        assert_true(is_mounted(victim_boot));
        snprintf(p, sizeof(p), "%s/precious", victim_boot);
        assert_true(path_exists(p));
        /* ... and the root-owned directory has nothing mounted on it. */
        assert_false(is_mounted(victim2_boot));
}

/* The exposed path vssd reports for id ("" when not exposed); false when id is unknown. */
static bool exposed_path_of(const vss_id *id, char *buf, size_t size) {
        vss_enum_object *e = NULL;
        const vss_object_prop *op;
        vss_requester *r = NULL;
        bool found = false;

        assert_int_equal(vss_requester_new(&r, NULL), S_OK);
        assert_int_equal(vss_requester_initialize_for_backup(r, NULL), S_OK);
        assert_int_equal(vss_requester_set_context(r, VSS_CTX_ALL), S_OK);
        assert_int_equal(vss_requester_query(r, NULL, VSS_OBJECT_NONE, VSS_OBJECT_SNAPSHOT, &e), S_OK);
        while (vss_enum_object_next(e, &op) == S_OK)
                if (vss_id_equal(&op->obj.snap.snapshot_id, id)) {
                        snprintf(buf, size, "%s", strempty(op->obj.snap.exposed_path));
                        found = true;
                }
        vss_enum_object_free(e);
        vss_requester_release(r);
        return found;
}

static void persistent_snapshot(vss_id *ret) {
        vss_requester *r = NULL;
        vss_id set_id;

        assert_int_equal(vss_requester_new(&r, NULL), S_OK);
        assert_int_equal(make_snapshot(r, VSS_CTX_NAS_ROLLBACK, vol, &set_id, ret), S_OK);
        vss_requester_release(r);
}

/* ------------------------------------------------------------------------------------------ */
/* Set-up                                                                                      */
/* ------------------------------------------------------------------------------------------ */

static int setup(void **state) {
        char p[4200];
        struct group *g;
        FILE *f;

        g = getgrnam("backup");
        if (!g) {
                /* A fresh machine without the group: make it, and remove it again at the end. */
                if (system("groupadd --system backup") != 0 || !(g = getgrnam("backup")))
                        return -1;
                made_backup_group = true;
        }
        backup_gid = g->gr_gid;

        if (loop_btrfs_setup("/var/tmp/vss-redirect-XXXXXX", IMAGE_SIZE, &fs) < 0)
                return -1;
        snprintf(vol, sizeof(vol), "%s/vol", fs.mnt);
        if (btrfs_util_create_subvolume(vol, 0, NULL, NULL) != BTRFS_UTIL_OK)
                return -1;
        snprintf(p, sizeof(p), "%s/data.txt", vol);
        f = fopen(p, "we");
        if (!f)
                return -1;
        fputs("snapshot content\n", f);
        fclose(f);

        if (vssd_fixture_init(&vssd, "/tmp/vssd-redirect-XXXXXX", false) < 0)
                return -1;
        /* The user must reach the socket and their home below the fixture directory. */
        if (chmod(vssd.dir, 0755) < 0)
                return -1;

        snprintf(home, sizeof(home), "%s/home", vssd.dir);
        snprintf(victim, sizeof(victim), "%s/victim", vssd.dir);
        snprintf(victim_boot, sizeof(victim_boot), "%s/victim/boot", vssd.dir);
        snprintf(victim2, sizeof(victim2), "%s/victim2", vssd.dir);
        snprintf(victim2_boot, sizeof(victim2_boot), "%s/victim2/boot", vssd.dir);
        if (mkdir(home, 0755) < 0 || chown(home, USER_UID, USER_GID) < 0 || mkdir(victim, 0755) < 0 ||
            mkdir(victim_boot, 0755) < 0 || mkdir(victim2, 0755) < 0 || mkdir(victim2_boot, 0755) < 0)
                return -1;

        /* The foreign mount: root's, with content that must survive. */
        if (mount("victim", victim_boot, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755") < 0)
                return -1;
        snprintf(p, sizeof(p), "%s/precious", victim_boot);
        f = fopen(p, "we");
        if (!f)
                return -1;
        fputs("not vssd's\n", f);
        fclose(f);

        return vssd_fixture_start(&vssd) < 0 ? -1 : 0;
}

static int teardown(void **state) {
        (void) loop_fs_destroy(&img_vol);
        (void) loop_fs_destroy(&img_host);
        if (img_dir[0])
                (void) rmdir(img_dir);
        (void) umount2(victim_boot, MNT_DETACH);
        vssd_fixture_done(&vssd);
        if (made_backup_group)
                (void) system("groupdel backup");
        return loop_btrfs_teardown(&fs) < 0 ? -1 : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Cases                                                                                       */
/* ------------------------------------------------------------------------------------------ */

static void test_user_may_expose_in_own_directory(void **state) {
        char dir[4096], boot[4096], buf[4096], p[4200];
        vss_id snap;
        FILE *f;

        persistent_snapshot(&snap);
        user_dirs("plain", dir, boot, sizeof(dir));
        assert_int_equal(user_expose(&snap, boot, NULL), 0);
        assert_true(is_mounted(boot));
        snprintf(p, sizeof(p), "%s/data.txt", boot);
        f = fopen(p, "re");
        assert_non_null(f);
        assert_non_null(fgets(buf, sizeof(buf), f));
        fclose(f);
        assert_string_equal(buf, "snapshot content\n");

        assert_int_equal(vssadmin_as_user(NULL, "unexpose", "--shadow", vss_id_to_str(&snap).s, NULL, NULL, NULL), 0);
        assert_false(is_mounted(boot));
        assert_true(exposed_path_of(&snap, buf, sizeof(buf)));
        assert_string_equal(buf, "");
}

/* The user's exposure at ~/<name>/boot, with ~/<name> then swapped for a symlink to target;
 * *ret_moved is where the mount is now (~/<name>.old/boot). */
static void expose_and_swap(const vss_id *snap, const char *name, const char *target, char *ret_moved, size_t size) {
        char dir[4096], boot[4096];

        user_dirs(name, dir, boot, sizeof(dir));
        assert_int_equal(user_expose(snap, boot, NULL), 0);
        assert_true(is_mounted(boot));
        user_swap(dir, target);
        snprintf(ret_moved, size, "%s.old/boot", dir);
        assert_true(is_mounted(ret_moved));
}

static void test_unexpose_after_swap(void **state) {
        char moved[4200], buf[4096];
        vss_id snap;

        persistent_snapshot(&snap);
        expose_and_swap(&snap, "a", victim, moved, sizeof(moved));

        assert_int_equal(vssadmin_as_user(NULL, "unexpose", "--shadow", vss_id_to_str(&snap).s, NULL, NULL, NULL), 0);
        assert_victim_intact();
        /* vssd's own mount went from where it was moved to, and only then is it recorded gone. */
        assert_false(is_mounted(moved));
        assert_true(exposed_path_of(&snap, buf, sizeof(buf)));
        assert_string_equal(buf, "");
}

static void test_delete_after_swap(void **state) {
        char moved[4200], buf[4096];
        vss_id snap;

        persistent_snapshot(&snap);
        expose_and_swap(&snap, "b", victim, moved, sizeof(moved));

        assert_int_equal(vssadmin_as_user(NULL, "delete", "shadows", "--shadow", vss_id_to_str(&snap).s, "--quiet",
                                          NULL),
                         0);
        assert_victim_intact();
        assert_false(is_mounted(moved));
        assert_false(exposed_path_of(&snap, buf, sizeof(buf)));
}

static void test_release_after_swap(void **state) {
        char moved[4200], device[4096];
        vss_snapshot_prop prop = {};
        vss_requester *r = NULL;
        vss_id set_id, snap;

        /* Auto-release: deleted, exposure and all, when its requester goes. */
        assert_int_equal(vss_requester_new(&r, NULL), S_OK);
        assert_int_equal(make_snapshot(r, VSS_CTX_FILE_SHARE_BACKUP, vol, &set_id, &snap), S_OK);
        assert_int_equal(vss_requester_get_snapshot_properties(r, &snap, &prop), S_OK);
        snprintf(device, sizeof(device), "%s", prop.snapshot_device_object);
        vss_snapshot_prop_free(&prop);

        expose_and_swap(&snap, "c", victim, moved, sizeof(moved));
        /* Busy, so the release has to detach it: still only vssd's own mount. */
        {
                char p[4300];
                int fd;

                snprintf(p, sizeof(p), "%s/data.txt", moved);
                fd = open(p, O_RDONLY | O_CLOEXEC);
                assert_true(fd >= 0);
                vss_requester_release(r);
                assert_int_equal(path_wait_gone(device, 20000), 0);
                close(fd);
        }
        assert_victim_intact();
        assert_false(is_mounted(moved));
}

static void test_expose_through_symlink_refused(void **state) {
        char dir[4096], boot[4096], through[4200];
        _cleanup_free_ char *err = NULL;
        vss_requester *r = NULL;
        char *path = NULL;
        vss_id snap;

        persistent_snapshot(&snap);
        user_dirs("d", dir, boot, sizeof(dir));
        user_swap(dir, victim2);
        /* ~/d/boot is victim2/boot now, a root-owned empty directory. */
        assert_int_not_equal(user_expose(&snap, boot, &err), 0);
        assert_non_null(strstr(err, "symlink"));
        assert_false(is_mounted(victim2_boot));

        /* Not even root's exposure goes through a symlink. */
        assert_int_equal(vss_requester_new(&r, NULL), S_OK);
        assert_int_equal(vss_requester_initialize_for_backup(r, NULL), S_OK);
        assert_int_equal(vss_requester_set_context(r, VSS_CTX_ALL), S_OK);
        assert_int_equal(vss_requester_expose_snapshot(r, &snap, boot, &path), E_INVALIDARG);
        assert_null(path);
        snprintf(through, sizeof(through), "%s/../victim2/boot", home);
        assert_int_equal(vss_requester_expose_snapshot(r, &snap, through, &path), E_INVALIDARG);
        vss_requester_release(r);
        assert_false(is_mounted(victim2_boot));
        assert_victim_intact();
}

/* vssd restarted (a clean stop) after the user swapped the exposure's parent: the moved mount
 * is taken away, nothing is mounted over the root-owned directory, the exposure is dropped. */
static void test_recovery_after_swap(void **state) {
        char moved[4200], buf[4096];
        vss_id snap;

        persistent_snapshot(&snap);
        expose_and_swap(&snap, "e", victim2, moved, sizeof(moved));

        assert_int_equal(vssd_fixture_stop(&vssd), 0);
        assert_true(is_mounted(moved)); /* a stop keeps persistent exposures */
        assert_int_equal(vssd_fixture_start(&vssd), 0);

        assert_false(is_mounted(victim2_boot));
        assert_false(is_mounted(moved));
        assert_victim_intact();
        assert_true(exposed_path_of(&snap, buf, sizeof(buf)));
        assert_string_equal(buf, "");
}

/* The same after a "reboot" (the mount is gone when vssd starts): re-exposing as the caller
 * through the symlink is refused, so the exposure is dropped. */
static void test_recovery_after_reboot_and_swap(void **state) {
        char dir[4096], boot[4096], buf[4096];
        vss_id snap;

        persistent_snapshot(&snap);
        user_dirs("f", dir, boot, sizeof(dir));
        assert_int_equal(user_expose(&snap, boot, NULL), 0);
        assert_int_equal(vssd_fixture_stop(&vssd), 0);
        assert_int_equal(umount2(boot, 0), 0);
        user_swap(dir, victim2);

        assert_int_equal(vssd_fixture_start(&vssd), 0);
        assert_false(is_mounted(victim2_boot));
        assert_victim_intact();
        assert_true(exposed_path_of(&snap, buf, sizeof(buf)));
        assert_string_equal(buf, "");
}

/* Recovery re-applies the caller's rights: a directory that is no longer the caller's is not
 * mounted on, while root's own exposure is made again (so the refusal is the rights, not a
 * recovery that never re-exposes). */
static void test_recovery_applies_caller_rights(void **state) {
        char dir[4096], boot[4096], roots[4200], buf[4096];
        vss_id theirs, root_snap;
        vss_requester *r = NULL;
        char *path = NULL;

        persistent_snapshot(&theirs);
        persistent_snapshot(&root_snap);
        user_dirs("g", dir, boot, sizeof(dir));
        assert_int_equal(user_expose(&theirs, boot, NULL), 0);
        snprintf(roots, sizeof(roots), "%s/roots", vssd.dir);
        assert_int_equal(mkdir(roots, 0755), 0);
        assert_int_equal(vss_requester_new(&r, NULL), S_OK);
        assert_int_equal(vss_requester_initialize_for_backup(r, NULL), S_OK);
        assert_int_equal(vss_requester_set_context(r, VSS_CTX_ALL), S_OK);
        assert_int_equal(vss_requester_expose_snapshot(r, &root_snap, roots, &path), S_OK);
        vss_requester_release(r);
        free(path);

        assert_int_equal(vssd_fixture_stop(&vssd), 0);
        assert_int_equal(umount2(boot, 0), 0);
        assert_int_equal(umount2(roots, 0), 0);
        /* The user's directory passes to root meanwhile. */
        assert_int_equal(chown(boot, 0, 0), 0);
        assert_int_equal(vssd_fixture_start(&vssd), 0);

        assert_false(is_mounted(boot));
        assert_true(exposed_path_of(&theirs, buf, sizeof(buf)));
        assert_string_equal(buf, "");
        assert_true(is_mounted(roots));
        assert_true(exposed_path_of(&root_snap, buf, sizeof(buf)));
        assert_string_equal(buf, roots);
        assert_int_equal(vssadmin_as_user(NULL, "unexpose", "--shadow", vss_id_to_str(&root_snap).s, NULL, NULL, NULL),
                         0);
        assert_false(is_mounted(roots));
}

/* vssd killed while an auto-release snapshot is exposed; the user swaps; the next start
 * removes the leftover, unmounting its mount where it was moved to, not the victim. */
static void test_recovery_of_leftover_after_swap(void **state) {
        char moved[4200], device[4096];
        vss_snapshot_prop prop = {};
        vss_requester *r = NULL;
        vss_id set_id, snap;

        assert_int_equal(vss_requester_new(&r, NULL), S_OK);
        assert_int_equal(make_snapshot(r, VSS_CTX_FILE_SHARE_BACKUP, vol, &set_id, &snap), S_OK);
        assert_int_equal(vss_requester_get_snapshot_properties(r, &snap, &prop), S_OK);
        snprintf(device, sizeof(device), "%s", prop.snapshot_device_object);
        vss_snapshot_prop_free(&prop);
        expose_and_swap(&snap, "h", victim, moved, sizeof(moved));

        assert_int_equal(vssd_fixture_kill(&vssd), 0);
        vss_requester_release(r);
        assert_true(is_mounted(moved));
        assert_int_equal(vssd_fixture_start(&vssd), 0);

        assert_false(path_exists(device));
        assert_false(is_mounted(moved));
        assert_victim_intact();
}

/* A mount vssd cannot reach (here: covered by another mount) is reported and stays recorded:
 * never "gone" while it exists, and never the cover unmounted in its place. */
static void test_unreachable_stays_recorded(void **state) {
        char dir[4096], boot[4096], buf[4096];
        _cleanup_free_ char *err = NULL;
        vss_id snap;

        persistent_snapshot(&snap);
        user_dirs("k", dir, boot, sizeof(dir));
        assert_int_equal(user_expose(&snap, boot, NULL), 0);
        assert_int_equal(mount("cover", boot, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m"), 0);

        assert_int_not_equal(vssadmin_as_user(&err, "unexpose", "--shadow", vss_id_to_str(&snap).s, NULL, NULL, NULL), 0);
        assert_non_null(strstr(err, "VSS_E_BAD_STATE"));
        assert_true(exposed_path_of(&snap, buf, sizeof(buf)));
        assert_string_equal(buf, boot);
        assert_true(is_mounted(boot)); /* the cover is still there */

        /* Once uncovered, the exposure goes as usual. */
        assert_int_equal(umount2(boot, 0), 0);
        assert_true(is_mounted(boot));
        assert_int_equal(vssadmin_as_user(NULL, "unexpose", "--shadow", vss_id_to_str(&snap).s, NULL, NULL, NULL), 0);
        assert_false(is_mounted(boot));
        assert_true(exposed_path_of(&snap, buf, sizeof(buf)));
        assert_string_equal(buf, "");
}

/* The image provider's exposure (a new read-only mount of the clone on a loop device, not a
 * bind mount) is found and unmounted the same way: an ext4 volume image inside an XFS host. */
static void test_image_exposure_after_swap(void **state) {
        char host_img[256], host_mnt[256], vol_img[256], vol_mnt[256], moved[1100], p[1200];
        vss_requester *r = NULL;
        vss_id set_id, snap, nondeleted;
        int32_t deleted = 0;

        if (!getenv("VSS_GUARDIAN_PATH")) {
                print_message("no $VSS_GUARDIAN_PATH: the image provider is not available\n");
                if (getenv("CI") && streq(getenv("CI"), "true"))
                        fail_msg("this case must run under CI=true");
                skip();
        }
        snprintf(img_dir, sizeof(img_dir), "/var/tmp/vss-redirect-img-XXXXXX");
        assert_non_null(mkdtemp(img_dir));
        snprintf(host_img, sizeof(host_img), "%s/host.img", img_dir);
        snprintf(host_mnt, sizeof(host_mnt), "%s/host", img_dir);
        snprintf(vol_img, sizeof(vol_img), "%s/host/vol.img", img_dir);
        snprintf(vol_mnt, sizeof(vol_mnt), "%s/vol", img_dir);
        assert_int_equal(loop_fs_make(host_img, 512 << 20, "xfs", NULL, host_mnt, &img_host), 0);
        assert_int_equal(loop_fs_make(vol_img, 64 << 20, "ext4", NULL, vol_mnt, &img_vol), 0);
        snprintf(p, sizeof(p), "%s/data.txt", vol_mnt);
        assert_int_equal(write_file_sync(p, "image content\n"), 0);

        assert_int_equal(vss_requester_new(&r, NULL), S_OK);
        assert_int_equal(make_snapshot(r, VSS_CTX_NAS_ROLLBACK, vol_mnt, &set_id, &snap), S_OK);
        vss_requester_release(r);

        expose_and_swap(&snap, "i", victim, moved, sizeof(moved));
        snprintf(p, sizeof(p), "%s/data.txt", moved);
        assert_true(path_exists(p));
        assert_int_equal(vssadmin_as_user(NULL, "unexpose", "--shadow", vss_id_to_str(&snap).s, NULL, NULL, NULL), 0);
        assert_victim_intact();
        assert_false(is_mounted(moved));

        assert_int_equal(vss_requester_new(&r, NULL), S_OK);
        assert_int_equal(vss_requester_initialize_for_backup(r, NULL), S_OK);
        assert_int_equal(vss_requester_set_context(r, VSS_CTX_ALL), S_OK);
        assert_int_equal(vss_requester_delete_snapshots(r, &snap, VSS_OBJECT_SNAPSHOT, false, &deleted, &nondeleted),
                         S_OK);
        vss_requester_release(r);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_user_may_expose_in_own_directory),
                cmocka_unit_test(test_unexpose_after_swap),
                cmocka_unit_test(test_delete_after_swap),
                cmocka_unit_test(test_release_after_swap),
                cmocka_unit_test(test_expose_through_symlink_refused),
                cmocka_unit_test(test_recovery_after_swap),
                cmocka_unit_test(test_recovery_after_reboot_and_swap),
                cmocka_unit_test(test_recovery_applies_caller_rights),
                cmocka_unit_test(test_recovery_of_leftover_after_swap),
                cmocka_unit_test(test_unreachable_stays_recorded),
                cmocka_unit_test(test_image_exposure_after_swap),
        };

        if (geteuid() != 0) {
                fprintf(stderr, "test-expose-redirect needs root (loop devices, mount); skipping.\n");
                return 77;
        }
        if (!getenv("VSSADMIN")) {
                fprintf(stderr, "VSSADMIN must name the built vssadmin; skipping.\n");
                return 77;
        }
        return cmocka_run_group_tests(tests, setup, teardown);
}
