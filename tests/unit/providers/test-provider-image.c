/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-provider-image (suite root): the image provider's query and get_properties on real
 * loop-mounted images. An XFS (reflink) on a loop device holds two ext4 images, a.img and
 * b.img, loop-mounted as the volumes a/ and b/: their clones share one snapshot area
 * (<host>/.vss-snapshots), so only the origin each clone records can tell them apart.
 *
 * Checks: query lists exactly a volume's clones (not the sibling image's, not a file named
 * like a clone without an origin or with another image's), with their creation time;
 * get_properties sees a clone present (with its size), then absent after delete_snapshot and
 * after an `rm` behind the provider's back, and cannot tell (fails) where the area is not
 * there. The freezes go through the real vss-guardian ($VSS_GUARDIAN).
 *
 * Exits 77 (skip) when not root or without mkfs.xfs / mkfs.ext4.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <sys/xattr.h>

#include "loop-fs.h"
#include "provider-test-util.h"
#include "vss-bus.h"

#define IMAGE_SIZE (UINT64_C(32) << 20)

static char work_dir[] = "/var/tmp/test-provider-image-XXXXXX";
static LoopFs host, vol_a, vol_b;
static char host_mnt[PATH_MAX], mnt_a[PATH_MAX], mnt_b[PATH_MAX];
static VssProvider *img; /* the registry's instance, from setup */

static int make_fs(LoopFs *l, const char *parent, const char *name, uint64_t size, const char *fstype,
                   char *ret_mnt) {
        char image[PATH_MAX];
        int r;

        snprintf(image, sizeof(image), "%s/%s.img", parent, name);
        snprintf(ret_mnt, PATH_MAX, "%s/%s", work_dir, name);
        r = loop_fs_make(image, size, fstype, NULL, ret_mnt, l);
        if (r < 0)
                fprintf(stderr, "cannot make %s (%s) at %s: %s\n", image, fstype, ret_mnt, strerror(-r));
        return r;
}

static int setup(void **state) {
        if (!mkdtemp(work_dir))
                return -1;
        if (make_fs(&host, work_dir, "host", UINT64_C(512) << 20, "xfs", host_mnt) < 0 ||
            make_fs(&vol_a, host_mnt, "a", IMAGE_SIZE, "ext4", mnt_a) < 0 ||
            make_fs(&vol_b, host_mnt, "b", IMAGE_SIZE, "ext4", mnt_b) < 0)
                return -1;
        if (write_text(mnt_a, "a.txt", "a\n") < 0 || write_text(mnt_b, "b.txt", "b\n") < 0)
                return -1;
        if (provider_registry_init(&(ProviderConfig) { .state_dir = work_dir, .guardian_path = getenv("VSS_GUARDIAN") },
                                   false) != S_OK)
                return -1;
        img = provider_find_by_name("image");
        return img ? 0 : -1;
}

static int teardown(void **state) {
        provider_registry_done();
        /* The volumes first: their images live on the host. */
        (void) loop_fs_destroy(&vol_a);
        (void) loop_fs_destroy(&vol_b);
        (void) loop_fs_destroy(&host);
        (void) rmdir(work_dir);
        return 0;
}

static ProviderSnapshot *prepare(const char *volume) {
        _cleanup_free_ char *canonical = NULL;
        ProviderSnapshot *s;
        vss_id set_id;

        assert_int_equal(img->is_volume_supported(img, volume, &canonical), S_OK);
        vss_id_generate(&set_id);
        s = snapshot_new(canonical, &set_id);
        assert_non_null(s);
        assert_int_equal(img->begin_prepare(img, s), S_OK);
        return s;
}

/* A file in the area named like a clone, with origin as its user.vss.origin (NULL: none). */
static void plant_clone(char *ret_path, const char *origin) {
        vss_id id;
        int fd;

        vss_id_generate(&id);
        snprintf(ret_path, PATH_MAX, "%s/.vss-snapshots/%s.img", host_mnt, vss_id_to_str(&id).s);
        fd = open(ret_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        if (origin)
                assert_int_equal(fsetxattr(fd, "user.vss.origin", origin, strlen(origin), 0), 0);
        close(fd);
}

static void test_query_and_properties(void **state) {
        char image_a[PATH_MAX], stray[PATH_MAX], foreign[PATH_MAX], origin[PATH_MAX], path[PATH_MAX];
        ProviderSnapshotProperties props = {};
        ProviderSnapshot *set1[2], *a2, *rec;
        QueryResult q = {};
        vss_timestamp now;
        ssize_t n;
        int i;

        /* One set of both volumes (one hold), then a second snapshot of a alone. */
        set1[0] = prepare(mnt_a);
        set1[1] = prepare(mnt_b);
        assert_int_equal(run_set_phases(img, set1, 2, NULL), S_OK);
        a2 = prepare(mnt_a);
        assert_int_equal(run_set_phases(img, &a2, 1, NULL), S_OK);
        now = timestamp_now();

        /* Each clone names its image. */
        snprintf(image_a, sizeof(image_a), "%s/a.img", host_mnt);
        n = getxattr(a2->device, "user.vss.origin", origin, sizeof(origin) - 1);
        assert_true(n > 0);
        origin[n] = 0;
        assert_string_equal(origin, image_a);

        /* Strays named like clones: no origin, or another image's. */
        plant_clone(stray, NULL);
        plant_clone(foreign, "/somewhere/else.img");

        assert_int_equal(img->query(img, mnt_a, query_collect, &q), S_OK);
        assert_int_equal(q.n, 2);
        i = query_find(&q, &set1[0]->snapshot_id);
        assert_true(i >= 0);
        assert_string_equal(q.devices[i], set1[0]->device);
        assert_true(q.created[i] > 0 && q.created[i] <= now);
        i = query_find(&q, &a2->snapshot_id);
        assert_true(i >= 0);
        assert_string_equal(q.devices[i], a2->device);

        q = (QueryResult) {};
        assert_int_equal(img->query(img, mnt_b, query_collect, &q), S_OK);
        assert_int_equal(q.n, 1);
        assert_true(vss_id_equal(&q.ids[0], &set1[1]->snapshot_id));

        /* The host is not a loop-mounted image: no answer. */
        assert_int_equal(img->query(img, work_dir, query_collect, &q), VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER);

        /* Present, with the clone's size, from the provider's data and from a record alike. */
        assert_int_equal(img->get_properties(img, a2, &props), S_OK);
        assert_true(props.present);
        assert_int_equal(props.size, IMAGE_SIZE);
        assert_true(props.creation_time > 0 && props.creation_time <= now);
        rec = snapshot_from_record(set1[0]);
        assert_non_null(rec);
        props = (ProviderSnapshotProperties) {};
        assert_int_equal(img->get_properties(img, rec, &props), S_OK);
        assert_true(props.present);

        /* Deleted by the provider, or removed behind its back: absent, and not listed. */
        assert_int_equal(img->delete_snapshot(img, a2), S_OK);
        assert_int_equal(img->get_properties(img, a2, &props), S_OK);
        assert_false(props.present);
        assert_int_equal(unlink(rec->device), 0);
        assert_int_equal(img->get_properties(img, rec, &props), S_OK);
        assert_false(props.present);
        q = (QueryResult) {};
        assert_int_equal(img->query(img, mnt_a, query_collect, &q), S_OK);
        assert_int_equal(q.n, 0);

        /* An area that is not there: it cannot tell. A path that is no clone: refused. */
        free(rec->device);
        snprintf(path, sizeof(path), "%s/nowhere/.vss-snapshots/%s.img", work_dir,
                 vss_id_to_str(&rec->snapshot_id).s);
        rec->device = strdup(path);
        props = (ProviderSnapshotProperties) { .present = true };
        assert_true(VSS_FAILED(img->get_properties(img, rec, &props)));
        assert_true(props.present);
        free(rec->device);
        rec->device = strdup(image_a);
        assert_int_equal(img->get_properties(img, rec, &props), E_INVALIDARG);
        provider_snapshot_free(rec);

        assert_int_equal(img->delete_snapshot(img, set1[1]), S_OK);
        assert_int_equal(img->abort(img, set1, 2), S_OK);
        assert_int_equal(img->abort(img, &a2, 1), S_OK);
        provider_snapshot_free(set1[0]);
        provider_snapshot_free(set1[1]);
        provider_snapshot_free(a2);
        assert_int_equal(unlink(stray), 0);
        assert_int_equal(unlink(foreign), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_query_and_properties),
        };

        if (geteuid() != 0) {
                fprintf(stderr, "test-provider-image needs root (loop devices, mounts, FIFREEZE): skipped\n");
                return 77;
        }
        if (system("command -v mkfs.xfs >/dev/null 2>&1 && command -v mkfs.ext4 >/dev/null 2>&1") != 0) {
                fprintf(stderr, "mkfs.xfs and mkfs.ext4 are needed (scripts/install-deps.sh): skipped\n");
                return 77;
        }
        if (!getenv("VSS_GUARDIAN")) {
                fprintf(stderr, "VSS_GUARDIAN must name the built vss-guardian: skipped\n");
                return 77;
        }
        return cmocka_run_group_tests(tests, setup, teardown);
}
