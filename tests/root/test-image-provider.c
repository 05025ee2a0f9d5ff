/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-image-provider.c: the image provider on real loop-mounted images (suite root).
 *
 * Layout, all under one /var/tmp/vss-image-XXXXXX directory:
 *   host    XFS (reflink) on a loop device; it holds
 *     a.img   ext4, loop-mounted at a/      } the two volumes of the set
 *     b.img   XFS,  loop-mounted at b/      }
 *   noref   XFS made with reflink=0, holding c.img (ext4, at c/): clones impossible
 *   full    a small XFS holding d.img (ext4, at d/), filled up: ENOSPC
 *   plain.img ext4 straight on /var/tmp (not a reflink filesystem), at plain/
 *
 * The point-in-time test runs a writer-less process that writes, in this order, forever:
 *   A/one = i, B/one = i, B/two = i, A/two = i      (i = 1, 2, 3, ...)
 * Each write is one pwrite of a fixed-size record at offset 0, so a freeze sees it whole or
 * not at all. A set of clones is "one point in time" exactly when the four files show the
 * state after some prefix of that write sequence; with i = A/one that is one of
 *   (A/one, B/one, B/two, A/two) = (i, i-1, i-1, i-1), (i, i, i-1, i-1), (i, i, i, i-1), (i, i, i, i).
 * Anything else is torn: B from later than A (freezing or cloning one volume after the other
 * let the writer run on), or from earlier. The writer starts both directions across volumes
 * (A before B, and B before A), so neither freeze order can hide a tear.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "loop-fs.h"
#include "provider-test-util.h"
#include "macro.h"
#include "providers/provider-image.h"
#include "providers/provider-registry.h"
#include "vss-bus.h"

#define RECORD_SIZE 21 /* "%020" PRIu64 "\n" */
#define COMMITS 6

typedef struct Fixture {
        char dir[64];
        LoopFs host, a, b, noref, c, full, d, plain;
        char a_mnt[PATH_MAX], b_mnt[PATH_MAX], c_mnt[PATH_MAX], d_mnt[PATH_MAX], plain_mnt[PATH_MAX];
        char host_mnt[PATH_MAX], full_mnt[PATH_MAX];
        char clone_mnt_a[PATH_MAX], clone_mnt_b[PATH_MAX];
} Fixture;

static Fixture fx;
static VssProvider *img; /* the registry's instance, from setup */

static void path_join(char *buf, const char *a, const char *b) {
        snprintf(buf, PATH_MAX, "%s/%s", a, b);
}

static int make_fs(LoopFs *l, const char *parent, const char *name, uint64_t size, const char *fstype,
                   const char *const *args, char *ret_mnt) {
        char image[PATH_MAX];
        int r;

        snprintf(image, sizeof(image), "%s/%s.img", parent, name);
        path_join(ret_mnt, fx.dir, name);
        r = loop_fs_make(image, size, fstype, args, ret_mnt, l);
        if (r < 0)
                fprintf(stderr, "cannot make %s (%s) at %s: %s\n", image, fstype, ret_mnt, strerror(-r));
        return r;
}

/* Fills the filesystem at mnt until not even one block fits. */
static int fill_up(const char *mnt) {
        char path[PATH_MAX];
        _cleanup_close_ int fd = -EBADF;
        struct statvfs sv;
        off_t off = 0;
        uint64_t chunk;

        path_join(path, mnt, "filler");
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || fstatvfs(fd, &sv) < 0)
                return -errno;
        for (chunk = (uint64_t) sv.f_bavail * sv.f_bsize; chunk >= 4096;) {
                if (fallocate(fd, 0, off, (off_t) chunk) == 0)
                        off += (off_t) chunk;
                else if (errno == ENOSPC)
                        chunk /= 2;
                else
                        return -errno;
        }
        return fsync(fd) < 0 ? -errno : 0;
}

static int group_setup(void **state) {
        static const char *const noreflink[] = { "-m", "reflink=0", NULL };

        if (run_command((char *[]) { (char *) "mkfs.xfs", (char *) "-V", NULL }, false) < 0 ||
            run_command((char *[]) { (char *) "mkfs.ext4", (char *) "-V", NULL }, false) < 0) {
                fprintf(stderr, "mkfs.xfs and mkfs.ext4 are needed (scripts/install-deps.sh)\n");
                return -1;
        }

        snprintf(fx.dir, sizeof(fx.dir), "/var/tmp/vss-image-XXXXXX");
        if (!mkdtemp(fx.dir))
                return -1;
        path_join(fx.clone_mnt_a, fx.dir, "clone-a");
        path_join(fx.clone_mnt_b, fx.dir, "clone-b");
        if (mkdir(fx.clone_mnt_a, 0755) < 0 || mkdir(fx.clone_mnt_b, 0755) < 0)
                return -1;

        if (make_fs(&fx.host, fx.dir, "host", 2ULL << 30, "xfs", NULL, fx.host_mnt) < 0 ||
            make_fs(&fx.a, fx.host_mnt, "a", 64 << 20, "ext4", NULL, fx.a_mnt) < 0 ||
            make_fs(&fx.b, fx.host_mnt, "b", 320 << 20, "xfs", NULL, fx.b_mnt) < 0 ||
            make_fs(&fx.noref, fx.dir, "noref", 320 << 20, "xfs", noreflink, fx.c_mnt) < 0)
                return -1;
        /* c lives inside noref: reuse c_mnt's buffer for noref's mount point first. */
        {
                char noref_mnt[PATH_MAX];

                memcpy(noref_mnt, fx.c_mnt, sizeof(noref_mnt));
                if (make_fs(&fx.c, noref_mnt, "c", 32 << 20, "ext4", NULL, fx.c_mnt) < 0)
                        return -1;
        }
        if (make_fs(&fx.full, fx.dir, "full", 320 << 20, "xfs", NULL, fx.full_mnt) < 0 ||
            make_fs(&fx.d, fx.full_mnt, "d", 32 << 20, "ext4", NULL, fx.d_mnt) < 0 ||
            make_fs(&fx.plain, fx.dir, "plain", 32 << 20, "ext4", NULL, fx.plain_mnt) < 0)
                return -1;

        /* The guardian: built next to us, passed in by meson. */
        if (!getenv("VSS_GUARDIAN") ||
            provider_registry_init(&(ProviderConfig) { .state_dir = fx.dir, .guardian_path = getenv("VSS_GUARDIAN") },
                                   false) != S_OK ||
            !(img = provider_find_by_name("image")))
                return -1;
        return 0;
}

static int group_teardown(void **state) {
        provider_registry_done();
        /* Inner filesystems first: their images live in the outer ones. */
        (void) image_clone_umount(fx.clone_mnt_a);
        (void) image_clone_umount(fx.clone_mnt_b);
        (void) loop_fs_destroy(&fx.a);
        (void) loop_fs_destroy(&fx.b);
        (void) loop_fs_destroy(&fx.c);
        (void) loop_fs_destroy(&fx.d);
        (void) loop_fs_destroy(&fx.plain);
        (void) loop_fs_destroy(&fx.host);
        (void) loop_fs_destroy(&fx.noref);
        (void) loop_fs_destroy(&fx.full);
        (void) rmdir(fx.clone_mnt_a);
        (void) rmdir(fx.clone_mnt_b);
        (void) rmdir(fx.dir);
        return 0;
}

static ProviderSnapshot *snap_new(const char *volume, const vss_id *set) {
        ProviderSnapshot *s = calloc(1, sizeof(*s));

        assert_non_null(s);
        vss_id_generate(&s->snapshot_id);
        s->snapshot_set_id = *set;
        s->volume = strdup(volume);
        assert_non_null(s->volume);
        return s;
}

/* Runs end_prepare through post_final_commit (provider-test-util.h); the first failure's
 * code (its phase in *ret_phase if given), or S_OK. */
static vss_hr run_phases_at(ProviderSnapshot **snaps, size_t n, const char **ret_phase) {
        return run_set_phases(img, snaps, n, ret_phase);
}

static vss_hr run_phases(ProviderSnapshot **snaps, size_t n) {
        return run_phases_at(snaps, n, NULL);
}

static char *mfree_str(char *p) {
        free(p);
        return NULL;
}

static bool file_exists(const char *path) {
        struct stat st;

        return lstat(path, &st) == 0;
}

static uint64_t read_counter(const char *dir, const char *name) {
        char path[PATH_MAX], buf[64] = {};
        _cleanup_close_ int fd = -EBADF;

        path_join(path, dir, name);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return 0; /* not written yet */
        assert_true(read(fd, buf, sizeof(buf) - 1) >= 0);
        return strtoull(buf, NULL, 10);
}

static void test_supported(void **state) {
        char sub[PATH_MAX], *canonical = NULL;

        assert_int_equal(img->is_volume_supported(img, fx.a_mnt, &canonical), S_OK);
        assert_string_equal(canonical, fx.a_mnt);
        canonical = mfree_str(canonical);

        /* Any path inside names the whole filesystem. */
        path_join(sub, fx.b_mnt, "sub");
        assert_int_equal(mkdir(sub, 0755), 0);
        assert_int_equal(img->is_volume_supported(img, sub, &canonical), S_OK);
        assert_string_equal(canonical, fx.b_mnt);
        canonical = mfree_str(canonical);
        assert_int_equal(rmdir(sub), 0);

        /* Image on ext4: no reflink, not ours. Root filesystem, a loop-mounted XFS whose image
         * is on ext4: not ours either. Missing: not found. */
        assert_int_equal(img->is_volume_supported(img, fx.plain_mnt, &canonical), VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER);
        assert_int_equal(img->is_volume_supported(img, fx.host_mnt, &canonical), VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER);
        assert_int_equal(img->is_volume_supported(img, "/proc", &canonical), VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER);
        path_join(sub, fx.a_mnt, "no/such/dir");
        assert_int_equal(img->is_volume_supported(img, sub, &canonical), VSS_E_OBJECT_NOT_FOUND);
        assert_int_equal(img->is_volume_supported(img, "relative", &canonical), E_INVALIDARG);
        assert_null(canonical);

        /* Automatic selection: btrfs does not take it, the image provider does. */
        {
                VssProvider *chosen = NULL;

                assert_int_equal(provider_select(fx.a_mnt, NULL, false, &chosen, NULL), S_OK);
                assert_ptr_equal(chosen, img);
        }
}

static void test_no_reflink_backing(void **state) {
        vss_id set;
        ProviderSnapshot *s;

        /* XFS with reflink=0 passes the filesystem check; the reflink probe refuses it. */
        vss_id_generate(&set);
        s = snap_new(fx.c_mnt, &set);
        assert_int_equal(img->begin_prepare(img, s), VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER);
        assert_null(s->data);
        provider_snapshot_free(s);
}

/* The writer-less process: see the header comment. Never returns. */
_Noreturn static void writer_run(void) {
        const char *files[4][2] = { { fx.a_mnt, "one" }, { fx.b_mnt, "one" }, { fx.b_mnt, "two" }, { fx.a_mnt, "two" } };
        int fds[4];

        for (size_t k = 0; k < 4; k++) {
                char path[PATH_MAX];

                path_join(path, files[k][0], files[k][1]);
                fds[k] = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                if (fds[k] < 0)
                        _exit(EXIT_FAILURE);
        }
        for (uint64_t i = 1;; i++)
                for (size_t k = 0; k < 4; k++) {
                        char rec[RECORD_SIZE + 1];

                        snprintf(rec, sizeof(rec), "%020" PRIu64 "\n", i);
                        if (pwrite(fds[k], rec, RECORD_SIZE, 0) != RECORD_SIZE)
                                _exit(EXIT_FAILURE);
                }
}

static void assert_one_instant(uint64_t a1, uint64_t b1, uint64_t b2, uint64_t a2) {
        uint64_t i = a1;
        bool ok = i >= 1 && ((b1 == i - 1 && b2 == i - 1 && a2 == i - 1) || (b1 == i && b2 == i - 1 && a2 == i - 1) ||
                             (b1 == i && b2 == i && a2 == i - 1) || (b1 == i && b2 == i && a2 == i));

        if (!ok)
                fail_msg("torn set: A/one=%" PRIu64 " B/one=%" PRIu64 " B/two=%" PRIu64 " A/two=%" PRIu64, a1, b1,
                         b2, a2);
}

static void write_marker(const char *mnt, const char *text) {
        char path[PATH_MAX];

        path_join(path, mnt, "marker");
        assert_int_equal(write_file_sync(path, text), 0);
}

static void assert_marker(const char *mnt, const char *text) {
        char path[PATH_MAX], buf[64] = {};
        _cleanup_close_ int fd = -EBADF;

        path_join(path, mnt, "marker");
        fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_true(read(fd, buf, sizeof(buf) - 1) > 0);
        assert_string_equal(buf, text);
}

static void one_set(unsigned round, uint64_t *max_hold) {
        ProviderSnapshot *s[2];
        char expected_clone[PATH_MAX];
        uint64_t a1, b1, b2, a2;
        vss_id set;

        vss_id_generate(&set);
        s[0] = snap_new(fx.a_mnt, &set);
        s[1] = snap_new(fx.b_mnt, &set);
        assert_int_equal(img->begin_prepare(img, s[0]), S_OK);
        assert_int_equal(img->begin_prepare(img, s[1]), S_OK);
        assert_int_equal(run_phases(s, 2), S_OK);
        *max_hold = MAX(*max_hold, provider_image_last_hold_usec(img));
        fprintf(stderr, "set %u: hold %.3f ms\n", round, (double) provider_image_last_hold_usec(img) / 1000.0);

        /* The clone sits next to its image, named after the snapshot. */
        snprintf(expected_clone, sizeof(expected_clone), "%s/.vss-snapshots/%s.img", fx.host_mnt,
                 vss_id_to_str(&s[0]->snapshot_id).s);
        assert_string_equal(s[0]->device, expected_clone);
        assert_true(file_exists(s[1]->device));

        if (round == 0) {
                /* Live volumes move on; the clones keep what was there at commit. */
                write_marker(fx.a_mnt, "after\n");
                write_marker(fx.b_mnt, "after\n");
        }

        assert_int_equal(image_clone_mount_ro(s[0]->device, "ext4", fx.clone_mnt_a), 0);
        assert_int_equal(image_clone_mount_ro(s[1]->device, NULL, fx.clone_mnt_b), 0);
        if (round == 0) {
                assert_marker(fx.clone_mnt_a, "before\n");
                assert_marker(fx.clone_mnt_b, "before\n");
        }
        a1 = read_counter(fx.clone_mnt_a, "one");
        b1 = read_counter(fx.clone_mnt_b, "one");
        b2 = read_counter(fx.clone_mnt_b, "two");
        a2 = read_counter(fx.clone_mnt_a, "two");
        fprintf(stderr, "set %u: clone counters %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", round, a1, b1,
                b2, a2);
        assert_one_instant(a1, b1, b2, a2);

        /* The clone is read-only. */
        {
                char path[PATH_MAX];

                path_join(path, fx.clone_mnt_a, "new");
                assert_int_equal(open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644), -1);
                assert_int_equal(errno, EROFS);
        }
        assert_int_equal(image_clone_umount(fx.clone_mnt_a), 0);
        assert_int_equal(image_clone_umount(fx.clone_mnt_b), 0);

        /* The writer went on after the thaw. */
        for (int i = 0; i < 500 && read_counter(fx.a_mnt, "one") <= a1; i++)
                sleep_msec(10);
        assert_true(read_counter(fx.a_mnt, "one") > a1);

        for (size_t k = 0; k < 2; k++) {
                char clone[PATH_MAX];

                snprintf(clone, sizeof(clone), "%s", s[k]->device);
                assert_int_equal(img->delete_snapshot(img, s[k]), S_OK);
                assert_null(s[k]->data);
                assert_false(file_exists(clone));
                assert_int_equal(img->delete_snapshot(img, s[k]), VSS_E_OBJECT_NOT_FOUND);
                provider_snapshot_free(s[k]);
        }
}

static void test_two_volume_set_is_one_instant(void **state) {
        uint64_t max_hold = 0;
        pid_t writer;
        int status;

        write_marker(fx.a_mnt, "before\n");
        write_marker(fx.b_mnt, "before\n");

        writer = fork();
        assert_true(writer >= 0);
        if (writer == 0)
                writer_run();

        for (int i = 0; i < 500 && read_counter(fx.a_mnt, "two") < 10; i++)
                sleep_msec(10);
        assert_true(read_counter(fx.a_mnt, "two") >= 10);

        for (unsigned round = 0; round < COMMITS; round++)
                one_set(round, &max_hold);

        assert_int_equal(kill(writer, SIGKILL), 0);
        assert_int_equal(waitpid(writer, &status, 0), writer);
        assert_true(WIFSIGNALED(status)); /* it never failed a write */
        fprintf(stderr, "longest hold over %d two-volume sets: %.3f ms\n", COMMITS, (double) max_hold / 1000.0);
}

static void test_idle_set(void **state) {
        /* Nothing writing: the hold is just two FIFREEZEs, two FICLONEs and two FITHAWs. */
        ProviderSnapshot *s[2];
        vss_id set;

        vss_id_generate(&set);
        s[0] = snap_new(fx.a_mnt, &set);
        s[1] = snap_new(fx.b_mnt, &set);
        assert_int_equal(img->begin_prepare(img, s[0]), S_OK);
        assert_int_equal(img->begin_prepare(img, s[1]), S_OK);
        assert_int_equal(run_phases(s, 2), S_OK);
        fprintf(stderr, "idle two-volume set: hold %.3f ms\n", (double) provider_image_last_hold_usec(img) / 1000.0);
        for (size_t k = 0; k < 2; k++) {
                assert_int_equal(img->delete_snapshot(img, s[k]), S_OK);
                provider_snapshot_free(s[k]);
        }
}

static void test_abort_and_records(void **state) {
        ProviderSnapshot *s[1], *orphan;
        char clone[PATH_MAX], *path = NULL;
        int target_fd;
        vss_id set;

        vss_id_generate(&set);
        s[0] = snap_new(fx.a_mnt, &set);
        assert_int_equal(img->begin_prepare(img, s[0]), S_OK);
        assert_int_equal(img->begin_prepare(img, s[0]), VSS_E_BAD_STATE);

        /* device_path names the clone before commit makes it. */
        assert_int_equal(img->device_path(img, s[0], &path), S_OK);
        assert_false(file_exists(path));

        /* Not committed: not deletable; abort leaves nothing. */
        assert_int_equal(img->delete_snapshot(img, s[0]), VSS_E_OBJECT_NOT_FOUND);
        assert_int_equal(run_phases(s, 1), S_OK);
        assert_string_equal(s[0]->device, path);
        assert_true(file_exists(path));
        assert_int_equal(img->abort(img, s, 1), S_OK);
        assert_null(s[0]->data);
        assert_null(s[0]->device);
        assert_false(file_exists(path));
        provider_snapshot_free(s[0]);

        /* A snapshot known only from the catalog (device set, no data) is deleted by path, and
         * exposed by path, with the filesystem found by trying. */
        s[0] = snap_new(fx.a_mnt, &set);
        assert_int_equal(img->begin_prepare(img, s[0]), S_OK);
        assert_int_equal(run_phases(s, 1), S_OK);
        snprintf(clone, sizeof(clone), "%s", s[0]->device);

        orphan = snap_new(fx.a_mnt, &set);
        orphan->device = strdup(clone);
        target_fd = open(fx.clone_mnt_a, O_PATH | O_DIRECTORY | O_CLOEXEC);
        assert_true(target_fd >= 0);
        assert_int_equal(img->expose(img, orphan, target_fd, fx.clone_mnt_a), S_OK);
        (void) close(target_fd);
        assert_true(file_exists(fx.clone_mnt_a) && read_counter(fx.clone_mnt_a, "one") > 0);
        assert_int_equal(img->unexpose(img, orphan, fx.clone_mnt_a), S_OK);
        assert_int_equal(img->unexpose(img, orphan, fx.clone_mnt_a), S_OK); /* already gone: fine */
        assert_int_equal(img->delete_snapshot(img, orphan), S_OK);
        assert_false(file_exists(clone));
        provider_snapshot_free(orphan);
        assert_int_equal(img->abort(img, s, 1), S_OK); /* its file is gone already: still succeeds */
        provider_snapshot_free(s[0]);

        /* A damaged record cannot make it delete anything outside a snapshot area. */
        orphan = snap_new(fx.a_mnt, &set);
        orphan->device = strdup("/etc/passwd");
        assert_int_equal(img->delete_snapshot(img, orphan), E_INVALIDARG);
        free(orphan->device);
        snprintf(clone, sizeof(clone), "%s/.vss-snapshots/../a.img", fx.host_mnt);
        orphan->device = strdup(clone);
        assert_int_equal(img->delete_snapshot(img, orphan), E_INVALIDARG);
        assert_true(file_exists(fx.a.image));
        provider_snapshot_free(orphan);
        free(path);
}

static void test_image_host_in_set(void **state) {
        char e_mnt[PATH_MAX];
        ProviderSnapshot *s[2];
        LoopFs e = {};
        vss_id set;

        /* e's image lives on b: both are volumes, but not of one set, as cloning e's image
         * into a frozen b would wait for the thaw, which waits for the clone. */
        assert_int_equal(make_fs(&e, fx.b_mnt, "e", 32 << 20, "ext4", NULL, e_mnt), 0);
        vss_id_generate(&set);
        s[0] = snap_new(fx.b_mnt, &set);
        s[1] = snap_new(e_mnt, &set);
        assert_int_equal(img->begin_prepare(img, s[0]), S_OK);
        assert_int_equal(img->begin_prepare(img, s[1]), S_OK);
        assert_int_equal(img->end_prepare(img, s, 2), VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER);
        assert_int_equal(img->abort(img, s, 2), S_OK);
        for (size_t k = 0; k < 2; k++)
                provider_snapshot_free(s[k]);

        /* Alone, e is fine. */
        s[0] = snap_new(e_mnt, &set);
        assert_int_equal(img->begin_prepare(img, s[0]), S_OK);
        assert_int_equal(run_phases(s, 1), S_OK);
        assert_int_equal(img->delete_snapshot(img, s[0]), S_OK);
        provider_snapshot_free(s[0]);
        assert_int_equal(loop_fs_destroy(&e), 0);
}

static void test_same_volume_twice(void **state) {
        /* The guardian freezes a filesystem named twice once; both clones are made. */
        ProviderSnapshot *s[2];
        vss_id set;

        vss_id_generate(&set);
        s[0] = snap_new(fx.a_mnt, &set);
        s[1] = snap_new(fx.a_mnt, &set);
        assert_int_equal(img->begin_prepare(img, s[0]), S_OK);
        assert_int_equal(img->begin_prepare(img, s[1]), S_OK);
        assert_int_equal(run_phases(s, 2), S_OK);
        assert_true(file_exists(s[0]->device) && file_exists(s[1]->device));
        for (size_t k = 0; k < 2; k++) {
                assert_int_equal(img->delete_snapshot(img, s[k]), S_OK);
                provider_snapshot_free(s[k]);
        }
}

static void test_enospc(void **state) {
        const char *phase = "?";
        ProviderSnapshot *s[1];
        char area[PATH_MAX];
        vss_id set;
        vss_hr hr;

        /* Prepared while there was room; the host fills up before the commit. */
        vss_id_generate(&set);
        s[0] = snap_new(fx.d_mnt, &set);
        assert_int_equal(img->begin_prepare(img, s[0]), S_OK);
        assert_int_equal(fill_up(fx.full_mnt), 0);
        hr = run_phases_at(s, 1, &phase);
        fprintf(stderr, "host filled after prepare: %s failed with %08x\n", phase, (unsigned) hr);
        assert_int_equal(hr, VSS_E_INSUFFICIENT_STORAGE);
        assert_string_equal(phase, "commit");
        assert_int_equal(img->abort(img, s, 1), S_OK);
        assert_null(s[0]->device);
        provider_snapshot_free(s[0]);

        /* Nothing left in the snapshot area. */
        snprintf(area, sizeof(area), "%s/.vss-snapshots", fx.full_mnt);
        assert_int_equal(rmdir(area), 0);

        /* Full from the start: refused while preparing. */
        s[0] = snap_new(fx.d_mnt, &set);
        hr = img->begin_prepare(img, s[0]);
        assert_int_equal(hr, VSS_E_INSUFFICIENT_STORAGE);
        assert_null(s[0]->data);
        provider_snapshot_free(s[0]);

        /* And the volume itself was never left frozen. */
        assert_int_equal(fs_is_frozen(fx.d_mnt), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_supported),
                cmocka_unit_test(test_no_reflink_backing),
                cmocka_unit_test(test_two_volume_set_is_one_instant),
                cmocka_unit_test(test_idle_set),
                cmocka_unit_test(test_abort_and_records),
                cmocka_unit_test(test_image_host_in_set),
                cmocka_unit_test(test_same_volume_twice),
                cmocka_unit_test(test_enospc),
        };

        if (geteuid() != 0) {
                fprintf(stderr, "test-image-provider needs root (loop devices, mounts, FIFREEZE): skipped\n");
                return 77;
        }
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
