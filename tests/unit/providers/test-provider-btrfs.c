/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-provider-btrfs (suite root): the btrfs provider on a real btrfs. A 512 MiB image is
 * made with mkfs.btrfs in a temporary directory and loop-mounted; a tmpfs next to it is the
 * "not btrfs" case. Checks: path -> nearest enclosing subvolume (also nested ones), the full
 * phase sequence, a read-only snapshot holding the old content after the source changed,
 * delete and abort removing it; query listing exactly a volume's snapshots (not a sibling
 * subvolume's from the same snapshot area, not a writable or plain entry named like one) and
 * get_properties seeing one present, then absent after a delete (ours or `btrfs subvolume
 * delete`'s); provider_snapshot_free alone freeing the provider's data (run it in an ASan
 * build for LeakSanitizer's word). Everything is unmounted and removed even when a check fails.
 * Exits 77 (skip) when not root.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <btrfsutil.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/statfs.h>

#include "provider-test-util.h"
#include "vss-bus.h"

static char work_dir[] = "/var/tmp/test-provider-btrfs-XXXXXX";
static char mnt[256], tmpfs_dir[256], vol[512], nested[512], sibling[512];
static bool mounted, tmpfs_mounted;
static VssProvider *btrfs; /* the registry's instance, from setup */

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...) {
        char cmd[8192];
        va_list ap;
        int r;

        va_start(ap, fmt);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        r = system(cmd);
        return r == 0 ? 0 : -1;
}

static void cleanup_all(void) {
        provider_registry_done();
        btrfs = NULL;
        if (tmpfs_mounted && umount2(tmpfs_dir, MNT_DETACH) == 0)
                tmpfs_mounted = false;
        if (mounted) {
                /* Unmounting releases the loop device (mount -o loop sets autoclear). */
                if (umount(mnt) < 0)
                        (void) umount2(mnt, MNT_DETACH);
                mounted = false;
        }
        if (work_dir[strlen(work_dir) - 1] != 'X')
                (void) run("rm -rf --one-file-system -- '%s'", work_dir);
}

static int setup(void **state) {
        if (!mkdtemp(work_dir))
                return -1;
        atexit(cleanup_all);
        if (provider_registry_init(&(ProviderConfig) { .state_dir = work_dir }, false) != S_OK ||
            !(btrfs = provider_find_by_name("btrfs")))
                return -1;

        snprintf(mnt, sizeof(mnt), "%s/mnt", work_dir);
        snprintf(tmpfs_dir, sizeof(tmpfs_dir), "%s/tmpfs", work_dir);
        if (mkdir(mnt, 0755) < 0 || mkdir(tmpfs_dir, 0755) < 0)
                return -1;

        if (run("truncate -s 512M '%s/btrfs.img' && mkfs.btrfs -q -f '%s/btrfs.img' >/dev/null", work_dir,
                work_dir) < 0)
                return -1;
        if (run("mount -o loop '%s/btrfs.img' '%s'", work_dir, mnt) < 0)
                return -1;
        mounted = true;
        if (mount("tmpfs", tmpfs_dir, "tmpfs", 0, "size=4m") < 0)
                return -1;
        tmpfs_mounted = true;

        snprintf(vol, sizeof(vol), "%s/vol", mnt);
        snprintf(nested, sizeof(nested), "%s/vol/nested", mnt);
        snprintf(sibling, sizeof(sibling), "%s/sibling", mnt);
        if (btrfs_util_create_subvolume(vol, 0, NULL, NULL) != BTRFS_UTIL_OK ||
            btrfs_util_create_subvolume(nested, 0, NULL, NULL) != BTRFS_UTIL_OK)
                return -1;
        if (run("mkdir -p '%s/dir/deeper'", vol) < 0 || write_text(vol, "dir/deeper/file", "x") < 0 ||
            write_text(nested, "inner.txt", "inner\n") < 0)
                return -1;
        return 0;
}

static int teardown(void **state) {
        cleanup_all();
        return 0;
}

static void expect_volume(const char *path, const char *expected) {
        _cleanup_free_ char *canonical = NULL;

        assert_int_equal(btrfs->is_volume_supported(btrfs, path, &canonical), S_OK);
        assert_string_equal(canonical, expected);
}

static void test_resolve(void **state) {
        _cleanup_free_ char *canonical = NULL;
        char path[4096];

        expect_volume(vol, vol);
        snprintf(path, sizeof(path), "%s/dir/deeper", vol);
        expect_volume(path, vol);
        snprintf(path, sizeof(path), "%s/dir/deeper/file", vol);
        expect_volume(path, vol);
        snprintf(path, sizeof(path), "%s/dir/../dir/", vol);
        expect_volume(path, vol);

        /* nested subvolume: the nearest enclosing one wins */
        expect_volume(nested, nested);
        snprintf(path, sizeof(path), "%s/inner.txt", nested);
        expect_volume(path, nested);

        /* the mount root is the top-level subvolume */
        expect_volume(mnt, mnt);

        assert_int_equal(btrfs->is_volume_supported(btrfs, tmpfs_dir, &canonical),
                         VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER);
        snprintf(path, sizeof(path), "%s/missing", vol);
        assert_int_equal(btrfs->is_volume_supported(btrfs, path, &canonical), VSS_E_OBJECT_NOT_FOUND);
        assert_null(canonical);
}

static ProviderSnapshot *prepare(const char *path) {
        _cleanup_free_ char *canonical = NULL;
        ProviderSnapshot *s;
        vss_id set_id;

        assert_int_equal(btrfs->is_volume_supported(btrfs, path, &canonical), S_OK);
        vss_id_generate(&set_id);
        s = snapshot_new(canonical, &set_id);
        assert_non_null(s);
        assert_int_equal(btrfs->begin_prepare(btrfs, s), S_OK);
        return s;
}

static void test_snapshot(void **state) {
        VssProvider *p = btrfs;
        char path[4096], buf[256], area[4096];
        const char *phase = "";
        ProviderSnapshot *s;
        bool read_only = false;
        struct stat st;

        assert_int_equal(write_text(vol, "data.txt", "old\n"), 0);
        s = prepare(vol);

        snprintf(area, sizeof(area), "%s/.vss-snapshots", mnt);
        assert_int_equal(stat(area, &st), 0);
        assert_true(S_ISDIR(st.st_mode));

        assert_int_equal(run_set_phases(p, &s, 1, &phase), S_OK);
        assert_non_null(s->device);
        snprintf(path, sizeof(path), "%s/%s", area, vss_id_to_str(&s->snapshot_id).s);
        assert_string_equal(s->device, path);

        assert_int_equal(btrfs_util_is_subvolume(s->device), BTRFS_UTIL_OK);
        assert_int_equal(btrfs_util_get_subvolume_read_only(s->device, &read_only), BTRFS_UTIL_OK);
        assert_true(read_only);

        /* The source changes; the snapshot keeps the point in time. */
        assert_int_equal(write_text(vol, "data.txt", "new\n"), 0);
        assert_int_equal(write_text(vol, "later.txt", "later\n"), 0);
        assert_string_equal(read_text(s->device, "data.txt", buf, sizeof(buf)), "old\n");
        assert_true(path_exists(s->device, "dir/deeper/file"));
        assert_false(path_exists(s->device, "later.txt"));
        /* A nested subvolume is not part of its parent's snapshot. */
        assert_false(path_exists(s->device, "nested/inner.txt"));
        /* Read-only for real. */
        assert_int_equal(write_text(s->device, "data.txt", "tamper\n"), -EROFS);

        assert_int_equal(p->delete_snapshot(p, s), S_OK);
        assert_int_equal(stat(path, &st), -1);
        assert_int_equal(errno, ENOENT);
        assert_int_equal(p->delete_snapshot(p, s), VSS_E_OBJECT_NOT_FOUND);
        provider_snapshot_free(s);
}

static void test_nested_snapshot_and_abort(void **state) {
        VssProvider *p = btrfs;
        ProviderSnapshot *snaps[2];
        char dev0[4096], dev1[4096], buf[64];
        struct stat st;

        snaps[0] = prepare(vol);
        snaps[1] = prepare(nested);
        assert_int_equal(run_set_phases(p, snaps, 2, NULL), S_OK);
        strcpy(dev0, snaps[0]->device);
        strcpy(dev1, snaps[1]->device);
        assert_string_equal(read_text(dev1, "inner.txt", buf, sizeof(buf)), "inner\n");

        /* A failure later in DoSnapshotSet: abort discards both snapshots. */
        assert_int_equal(p->abort(p, snaps, 2), S_OK);
        assert_int_equal(stat(dev0, &st), -1);
        assert_int_equal(stat(dev1, &st), -1);
        assert_null(snaps[0]->data);
        assert_null(snaps[0]->device);
        assert_int_equal(p->abort(p, snaps, 2), S_OK);
        provider_snapshot_free(snaps[0]);
        provider_snapshot_free(snaps[1]);
}

/* Runs begin_prepare on path with stderr captured into buf (the provider's log goes there). */
static ProviderSnapshot *prepare_capturing_log(const char *path, char *buf, size_t size) {
        char log_path[600];
        ProviderSnapshot *s;
        int saved, fd;
        ssize_t n;

        snprintf(log_path, sizeof(log_path), "%s/stderr.log", work_dir);
        fd = open(log_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        fflush(stderr);
        saved = dup(STDERR_FILENO);
        assert_true(saved >= 0);
        assert_true(dup2(fd, STDERR_FILENO) >= 0);

        s = prepare(path);

        fflush(stderr);
        assert_true(dup2(saved, STDERR_FILENO) >= 0);
        close(saved);
        n = pread(fd, buf, size - 1, 0);
        close(fd);
        buf[n > 0 ? n : 0] = 0;
        return s;
}

/* The issue: nested subvolumes are reported, not silently missed by the volume's snapshot. */
static void test_nested_subvolumes_reported(void **state) {
        char log[4096];
        ProviderSnapshot *s;

        /* vol holds the subvolume "nested": its snapshot will not include it, and says so. */
        s = prepare_capturing_log(vol, log, sizeof(log));
        assert_non_null(strstr(log, "contains 1 nested subvolume(s)"));
        assert_non_null(strstr(log, ": nested "));
        assert_int_equal(btrfs->abort(btrfs, &s, 1), S_OK);
        provider_snapshot_free(s);

        /* The innermost subvolume has none: nothing reported. */
        s = prepare_capturing_log(nested, log, sizeof(log));
        assert_null(strstr(log, "nested subvolume"));
        assert_int_equal(btrfs->abort(btrfs, &s, 1), S_OK);
        provider_snapshot_free(s);

        /* The mount's root holds vol and vol/nested, and our own snapshot area, which is not
         * user data and must not be reported. */
        s = prepare_capturing_log(mnt, log, sizeof(log));
        assert_non_null(strstr(log, "contains 2 nested subvolume(s)"));
        assert_null(strstr(log, ".vss-snapshots"));
        assert_int_equal(btrfs->abort(btrfs, &s, 1), S_OK);
        provider_snapshot_free(s);
}

static void test_sequence_rules(void **state) {
        VssProvider *p = btrfs;
        ProviderSnapshot *s = prepare(vol);

        assert_int_equal(p->begin_prepare(p, s), VSS_E_BAD_STATE);
        assert_int_equal(p->post_commit(p, &s, 1), VSS_E_BAD_STATE);
        assert_int_equal(p->delete_snapshot(p, s), VSS_E_OBJECT_NOT_FOUND);
        assert_int_equal(p->abort(p, &s, 1), S_OK);
        assert_int_equal(p->commit(p, &s, 1), VSS_E_BAD_STATE);
        provider_snapshot_free(s);
}

static void test_registry_picks_btrfs(void **state) {
        VssProvider *chosen = NULL;
        _cleanup_free_ char *canonical = NULL;
        char path[4096];

        snprintf(path, sizeof(path), "%s/dir", vol);
        assert_int_equal(provider_select(path, NULL, true, &chosen, &canonical), S_OK);
        assert_ptr_equal(chosen, btrfs);
        assert_string_equal(canonical, vol);
}

static void test_query_and_properties(void **state) {
        VssProvider *p = btrfs;
        ProviderSnapshotProperties props = {};
        ProviderSnapshot *a[2], *b, *rec;
        char path[4096], writable[4096], plain[4096], link[4096];
        QueryResult q = {};
        vss_timestamp now;
        vss_id id;
        int i;

        /* A sibling of vol on the same mount (made here: other tests count the subvolumes). */
        assert_int_equal(btrfs_util_create_subvolume(sibling, 0, NULL, NULL), BTRFS_UTIL_OK);
        a[0] = prepare(vol);
        a[1] = prepare(vol);
        b = prepare(sibling);
        assert_int_equal(run_set_phases(p, a, 2, NULL), S_OK);
        assert_int_equal(run_set_phases(p, &b, 1, NULL), S_OK);
        now = timestamp_now();

        /* In the same area: a writable snapshot of vol and a plain directory, both named like
         * snapshot ids. None of these is something commit makes, so none is listed. */
        vss_id_generate(&id);
        snprintf(writable, sizeof(writable), "%s/.vss-snapshots/%s", mnt, vss_id_to_str(&id).s);
        assert_int_equal(btrfs_util_create_snapshot(vol, writable, 0, NULL, NULL), BTRFS_UTIL_OK);
        vss_id_generate(&id);
        snprintf(plain, sizeof(plain), "%s/.vss-snapshots/%s", mnt, vss_id_to_str(&id).s);
        assert_int_equal(mkdir(plain, 0700), 0);
        /* ... and a symlink, named like one, to a real snapshot of vol. */
        vss_id_generate(&id);
        snprintf(link, sizeof(link), "%s/.vss-snapshots/%s", mnt, vss_id_to_str(&id).s);
        assert_int_equal(symlink(a[0]->device, link), 0);

        assert_int_equal(p->query(p, vol, query_collect, &q), S_OK);
        assert_int_equal(q.n, 2);
        for (size_t k = 0; k < 2; k++) {
                i = query_find(&q, &a[k]->snapshot_id);
                assert_true(i >= 0);
                assert_string_equal(q.devices[i], a[k]->device);
                assert_true(q.created[i] > 0);
                assert_true(q.created[i] <= now);
        }

        /* The sibling subvolume shares the area, not the snapshots. */
        q = (QueryResult) {};
        assert_int_equal(p->query(p, sibling, query_collect, &q), S_OK);
        assert_int_equal(q.n, 1);
        assert_true(vss_id_equal(&q.ids[0], &b->snapshot_id));
        q = (QueryResult) {};
        assert_int_equal(p->query(p, nested, query_collect, &q), S_OK);
        assert_int_equal(q.n, 0);

        /* Not a btrfs volume, or not there: no answer, not an empty one. */
        assert_int_equal(p->query(p, tmpfs_dir, query_collect, &q), VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER);
        snprintf(path, sizeof(path), "%s/missing", mnt);
        assert_int_equal(p->query(p, path, query_collect, &q), VSS_E_OBJECT_NOT_FOUND);

        /* Present, from the provider's data and from a catalog-only record alike. */
        assert_int_equal(p->get_properties(p, a[0], &props), S_OK);
        assert_true(props.present);
        assert_true(props.creation_time > 0 && props.creation_time <= now);
        rec = snapshot_from_record(a[1]);
        assert_non_null(rec);
        props = (ProviderSnapshotProperties) {};
        assert_int_equal(p->get_properties(p, rec, &props), S_OK);
        assert_true(props.present);

        /* Deleted by the provider: absent, and no longer listed. */
        assert_int_equal(p->delete_snapshot(p, a[0]), S_OK);
        assert_int_equal(p->get_properties(p, a[0], &props), S_OK);
        assert_false(props.present);

        /* Deleted behind its back (`btrfs subvolume delete`): absent too. */
        assert_int_equal(btrfs_util_delete_subvolume(a[1]->device, 0), BTRFS_UTIL_OK);
        assert_int_equal(p->get_properties(p, rec, &props), S_OK);
        assert_false(props.present);
        q = (QueryResult) {};
        assert_int_equal(p->query(p, vol, query_collect, &q), S_OK);
        assert_int_equal(q.n, 0);

        /* Where the area is not visible (here: not a btrfs), it cannot tell. */
        free(rec->device);
        snprintf(path, sizeof(path), "%s/%s", tmpfs_dir, vss_id_to_str(&rec->snapshot_id).s);
        rec->device = strdup(path);
        props = (ProviderSnapshotProperties) { .present = true };
        assert_true(VSS_FAILED(p->get_properties(p, rec, &props)));
        assert_true(props.present);
        provider_snapshot_free(rec);

        assert_int_equal(p->delete_snapshot(p, b), S_OK);
        assert_int_equal(p->abort(p, a, 2), S_OK);
        provider_snapshot_free(a[0]);
        provider_snapshot_free(a[1]);
        provider_snapshot_free(b);
        assert_int_equal(btrfs_util_delete_subvolume(writable, 0), BTRFS_UTIL_OK);
        assert_int_equal(rmdir(plain), 0);
        assert_int_equal(unlink(link), 0);
        assert_int_equal(btrfs_util_delete_subvolume(sibling, 0), BTRFS_UTIL_OK);
}

/*
 * vssd frees a finished snapshot it keeps (a persistent one, at exit) and one only prepared
 * (a set that never got to commit) with provider_snapshot_free alone: the provider's data goes
 * with it (ProviderSnapshot.data_free; LeakSanitizer sees any leak in an ASan build), and the
 * snapshot itself stays where it is.
 */
static void test_free_takes_provider_data(void **state) {
        VssProvider *p = btrfs;
        ProviderSnapshot *kept, *prepared, *rec;

        kept = prepare(vol);
        assert_int_equal(run_set_phases(p, &kept, 1, NULL), S_OK);
        assert_non_null(kept->data);
        assert_non_null(kept->data_free);
        rec = snapshot_from_record(kept);
        assert_non_null(rec);
        provider_snapshot_free(kept);
        assert_int_equal(btrfs_util_is_subvolume(rec->device), BTRFS_UTIL_OK);

        prepared = prepare(vol);
        assert_non_null(prepared->data);
        provider_snapshot_free(prepared);

        /* The next vssd deletes it from its record. */
        assert_int_equal(p->delete_snapshot(p, rec), S_OK);
        provider_snapshot_free(rec);
}

/*
 * Without a writer to freeze (VSS_PROVIDER_SNAPSHOT_NO_FREEZE) end_prepare does not flush:
 * the snapshot must still hold what was written just before and is not on disk yet (the
 * snapshot ioctl flushes the subvolume's dirty data itself). 8 MiB written without fsync stay
 * dirty in the page cache for the ~30 s writeback delay, far longer than this takes.
 */
static void test_no_freeze_keeps_unflushed_data(void **state) {
        static char block[1 << 20];
        VssProvider *p = btrfs;
        ProviderSnapshot *s;
        char path[4096];
        struct stat st;
        int fd;

        memset(block, 'v', sizeof(block));
        snprintf(path, sizeof(path), "%s/dirty.bin", vol);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        for (unsigned i = 0; i < 8; i++)
                assert_int_equal(write(fd, block, sizeof(block)), (ssize_t) sizeof(block));
        assert_int_equal(close(fd), 0);

        s = prepare(vol);
        s->flags |= VSS_PROVIDER_SNAPSHOT_NO_FREEZE;
        assert_int_equal(run_set_phases(p, &s, 1, NULL), S_OK);

        snprintf(path, sizeof(path), "%s/dirty.bin", s->device);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_size, 8 << 20);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        for (unsigned i = 0; i < 8; i++) {
                static char got[1 << 20];

                assert_int_equal(read(fd, got, sizeof(got)), (ssize_t) sizeof(got));
                assert_memory_equal(got, block, sizeof(got));
        }
        assert_int_equal(close(fd), 0);

        assert_int_equal(p->delete_snapshot(p, s), S_OK);
        provider_snapshot_free(s);
        snprintf(path, sizeof(path), "%s/dirty.bin", vol);
        assert_int_equal(unlink(path), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_resolve),
                cmocka_unit_test(test_snapshot),
                cmocka_unit_test(test_nested_snapshot_and_abort),
                cmocka_unit_test(test_nested_subvolumes_reported),
                cmocka_unit_test(test_sequence_rules),
                cmocka_unit_test(test_registry_picks_btrfs),
                cmocka_unit_test(test_query_and_properties),
                cmocka_unit_test(test_free_takes_provider_data),
                cmocka_unit_test(test_no_freeze_keeps_unflushed_data),
        };

        if (geteuid() != 0) {
                fprintf(stderr, "test-provider-btrfs needs root, skipping\n");
                return 77;
        }
        if (system("command -v mkfs.btrfs >/dev/null 2>&1") != 0) {
                fprintf(stderr, "mkfs.btrfs not installed, skipping\n");
                return 77;
        }

        return cmocka_run_group_tests(tests, setup, teardown);
}
