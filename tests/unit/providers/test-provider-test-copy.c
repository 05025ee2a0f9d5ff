/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-provider-test-copy: the test-only copy provider and the registry's selection rules.
 * The copy holds the point-in-time content after the source changes; injected faults come
 * back unsanitized and provider_hr_sanitize maps them as vssd must; abort removes copies;
 * the size limits refuse a tree with VSS_E_INSUFFICIENT_STORAGE and leave nothing behind;
 * query lists exactly one volume's copies (not a sibling volume's, not a stray directory of the
 * area) and get_properties sees a copy present, then absent once deleted.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <dirent.h>
#include <linux/magic.h>
#include <sys/statfs.h>

#include "provider-test-util.h"
#include "providers/provider-util.h"
#include "vss-bus.h"

static char state_dir[] = "/tmp/test-provider-state-XXXXXX";
static char volume_dir[] = "/tmp/test-provider-volume-XXXXXX";
static char sibling_dir[] = "/tmp/test-provider-sibling-XXXXXX";

static int rm_rf_cmd(const char *path) {
        char cmd[4200];

        snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", path);
        return system(cmd);
}

static int setup(void **state) {
        ProviderConfig config = {};

        if (!mkdtemp(state_dir) || !mkdtemp(volume_dir) || !mkdtemp(sibling_dir))
                return -1;
        config.state_dir = state_dir;
        return provider_registry_init(&config, true) == S_OK ? 0 : -1;
}

static int teardown(void **state) {
        provider_registry_done();
        (void) rm_rf_cmd(state_dir);
        (void) rm_rf_cmd(volume_dir);
        (void) rm_rf_cmd(sibling_dir);
        return 0;
}

/* A fresh volume tree with a file, a subdirectory and a symlink. */
static void fill_volume(void) {
        char path[4096];

        (void) unlink(strcat(strcpy(path, volume_dir), "/.vss-test-provider"));
        assert_int_equal(write_text(volume_dir, "a.txt", "old content\n"), 0);
        snprintf(path, sizeof(path), "%s/sub", volume_dir);
        (void) mkdir(path, 0750);
        assert_int_equal(write_text(volume_dir, "sub/b.txt", "bee\n"), 0);
        snprintf(path, sizeof(path), "%s/link", volume_dir);
        (void) unlink(path);
        assert_int_equal(symlink("sub/b.txt", path), 0);
}

static ProviderSnapshot *prepare_on(const char *volume) {
        VssProvider *p = provider_find_by_name("test-copy");
        _cleanup_free_ char *canonical = NULL;
        ProviderSnapshot *s;
        vss_id set_id;

        assert_int_equal(p->is_volume_supported(p, volume, &canonical), S_OK);
        vss_id_generate(&set_id);
        s = snapshot_new(canonical, &set_id);
        assert_non_null(s);
        assert_int_equal(p->begin_prepare(p, s), S_OK);
        return s;
}

static ProviderSnapshot *prepare_one(void) {
        return prepare_on(volume_dir);
}

static void test_point_in_time_copy(void **state) {
        VssProvider *p = provider_find_by_name("test-copy");
        ProviderSnapshot *s;
        char buf[256], target[256];
        const char *phase = NULL;
        struct stat st;
        ssize_t n;

        fill_volume();
        s = prepare_one();
        assert_int_equal(run_set_phases(p, &s, 1, &phase), S_OK);
        assert_non_null(s->device);
        assert_non_null(strstr(s->device, state_dir));

        /* The source moves on; the copy must not. */
        assert_int_equal(write_text(volume_dir, "a.txt", "new content\n"), 0);
        assert_int_equal(write_text(volume_dir, "c.txt", "later\n"), 0);

        assert_string_equal(read_text(s->device, "a.txt", buf, sizeof(buf)), "old content\n");
        assert_string_equal(read_text(s->device, "sub/b.txt", buf, sizeof(buf)), "bee\n");
        assert_false(path_exists(s->device, "c.txt"));
        snprintf(buf, sizeof(buf), "%s/link", s->device);
        n = readlink(buf, target, sizeof(target) - 1);
        assert_true(n > 0);
        target[n] = 0;
        assert_string_equal(target, "sub/b.txt");
        snprintf(buf, sizeof(buf), "%s/sub", s->device);
        assert_int_equal(stat(buf, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0750);

        assert_int_equal(p->delete_snapshot(p, s), S_OK);
        assert_int_equal(stat(s->device, &st), -1);
        assert_int_equal(p->delete_snapshot(p, s), VSS_E_OBJECT_NOT_FOUND);
        provider_snapshot_free(s);
}

static void test_fault_injection(void **state) {
        VssProvider *p = provider_find_by_name("test-copy");
        _cleanup_free_ char *canonical = NULL;
        const char *phase = NULL;
        ProviderSnapshot *s;
        vss_hr hr;

        fill_volume();
        assert_int_equal(write_text(volume_dir, ".vss-test-provider", "# comment\ncommit=0x80004005\n"), 0);
        s = prepare_one();
        hr = run_set_phases(p, &s, 1, &phase);
        assert_int_equal(hr, E_FAIL);
        assert_string_equal(phase, "commit");
        assert_null(s->device);
        assert_int_equal(provider_hr_sanitize(hr), VSS_E_UNEXPECTED_PROVIDER_ERROR);
        assert_int_equal(p->abort(p, &s, 1), S_OK);
        assert_null(s->data);
        provider_snapshot_free(s);

        assert_int_equal(write_text(volume_dir, ".vss-test-provider", "end_prepare=0x80042306\n"), 0);
        s = prepare_one();
        hr = run_set_phases(p, &s, 1, &phase);
        assert_int_equal(hr, VSS_E_PROVIDER_VETO);
        assert_string_equal(phase, "end_prepare");
        assert_int_equal(provider_hr_sanitize(hr), VSS_E_PROVIDER_VETO);
        assert_int_equal(p->abort(p, &s, 1), S_OK);
        provider_snapshot_free(s);

        assert_int_equal(write_text(volume_dir, ".vss-test-provider", "is_volume_supported=0x8004230E\n"), 0);
        assert_int_equal(p->is_volume_supported(p, volume_dir, &canonical), VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER);
        assert_null(canonical);

        /* post_commit fails after the copy exists: abort must remove it. */
        assert_int_equal(write_text(volume_dir, ".vss-test-provider", "post_commit=0x8000FFFF\n"), 0);
        s = prepare_one();
        hr = run_set_phases(p, &s, 1, &phase);
        assert_int_equal(hr, E_UNEXPECTED);
        assert_string_equal(phase, "post_commit");
        assert_int_equal(provider_hr_sanitize(hr), VSS_E_UNEXPECTED_PROVIDER_ERROR);
        assert_non_null(s->device);
        canonical = strdup(s->device);
        assert_true(path_exists(canonical, "a.txt"));
        assert_int_equal(p->abort(p, &s, 1), S_OK);
        assert_false(path_exists(canonical, ""));
        assert_null(s->device);
        /* repeated abort is harmless */
        assert_int_equal(p->abort(p, &s, 1), S_OK);
        provider_snapshot_free(s);

        assert_int_equal(write_text(volume_dir, ".vss-test-provider", "delete_snapshot=0x80042308\n"), 0);
        s = prepare_one();
        assert_int_equal(run_set_phases(p, &s, 1, NULL), S_OK);
        assert_int_equal(p->delete_snapshot(p, s), VSS_E_OBJECT_NOT_FOUND);
        assert_true(path_exists(s->device, "a.txt"));
        assert_int_equal(p->abort(p, &s, 1), S_OK);
        provider_snapshot_free(s);
}

static void test_abort_removes_set(void **state) {
        VssProvider *p = provider_find_by_name("test-copy");
        ProviderSnapshot *snaps[2];
        char dev0[4096], dev1[4096];

        fill_volume();
        snaps[0] = prepare_one();
        snaps[1] = prepare_one();
        assert_int_equal(run_set_phases(p, snaps, 2, NULL), S_OK);
        assert_string_not_equal(snaps[0]->device, snaps[1]->device);
        strcpy(dev0, snaps[0]->device);
        strcpy(dev1, snaps[1]->device);
        assert_true(path_exists(dev0, "a.txt"));
        assert_true(path_exists(dev1, "sub/b.txt"));

        assert_int_equal(p->abort(p, snaps, 2), S_OK);
        assert_false(path_exists(dev0, ""));
        assert_false(path_exists(dev1, ""));
        provider_snapshot_free(snaps[0]);
        provider_snapshot_free(snaps[1]);
}

static void test_out_of_sequence(void **state) {
        VssProvider *p = provider_find_by_name("test-copy");
        ProviderSnapshot *s;

        fill_volume();
        s = prepare_one();
        /* begin_prepare twice, and the phases after commit before commit */
        assert_int_equal(p->begin_prepare(p, s), VSS_E_BAD_STATE);
        assert_int_equal(p->post_commit(p, &s, 1), VSS_E_BAD_STATE);
        assert_int_equal(p->abort(p, &s, 1), S_OK);
        assert_int_equal(p->commit(p, &s, 1), VSS_E_BAD_STATE);
        provider_snapshot_free(s);
}

static void test_size_limits(void **state) {
        VssProvider *p = provider_find_by_name("test-copy");
        char path[4096], dest[4096];
        ProviderSnapshot *s;
        int fd;

        fill_volume();
        /* One sparse file just over 64 MiB: cheap to make, counted by the bytes copied. */
        snprintf(path, sizeof(path), "%s/big", volume_dir);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, 64 * 1024 * 1024 + 1), 0);
        close(fd);

        s = prepare_one();
        assert_int_equal(run_set_phases(p, &s, 1, NULL), VSS_E_INSUFFICIENT_STORAGE);
        snprintf(dest, sizeof(dest), "%s/test-copy/%s", state_dir, vss_id_to_str(&s->snapshot_id).s);
        assert_false(path_exists(dest, ""));
        assert_int_equal(p->abort(p, &s, 1), S_OK);
        provider_snapshot_free(s);
        assert_int_equal(unlink(path), 0);

        /* More than 10000 entries. */
        snprintf(path, sizeof(path), "%s/many", volume_dir);
        assert_int_equal(mkdir(path, 0700), 0);
        for (int i = 0; i < 10001; i++) {
                char name[32];

                snprintf(name, sizeof(name), "many/%d", i);
                assert_int_equal(write_text(volume_dir, name, ""), 0);
        }
        s = prepare_one();
        assert_int_equal(run_set_phases(p, &s, 1, NULL), VSS_E_INSUFFICIENT_STORAGE);
        snprintf(dest, sizeof(dest), "%s/test-copy/%s", state_dir, vss_id_to_str(&s->snapshot_id).s);
        assert_false(path_exists(dest, ""));
        assert_int_equal(p->abort(p, &s, 1), S_OK);
        provider_snapshot_free(s);
        assert_int_equal(rm_rf_cmd(path), 0);
}

static void test_volume_checks(void **state) {
        VssProvider *p = provider_find_by_name("test-copy");
        _cleanup_free_ char *canonical = NULL;
        char path[4096];

        fill_volume();
        snprintf(path, sizeof(path), "%s/a.txt", volume_dir);
        assert_int_equal(p->is_volume_supported(p, path, &canonical), VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER);
        snprintf(path, sizeof(path), "%s/missing", volume_dir);
        assert_int_equal(p->is_volume_supported(p, path, &canonical), VSS_E_OBJECT_NOT_FOUND);
        assert_int_equal(p->is_volume_supported(p, "relative/dir", &canonical), E_INVALIDARG);
        /* canonical form: trailing slash and ".." resolved */
        snprintf(path, sizeof(path), "%s/sub/../", volume_dir);
        assert_int_equal(p->is_volume_supported(p, path, &canonical), S_OK);
        assert_string_equal(canonical, volume_dir);
}

static bool dir_is_btrfs(const char *path) {
        struct statfs sfs;

        return statfs(path, &sfs) == 0 && (uint32_t) sfs.f_type == (uint32_t) BTRFS_SUPER_MAGIC;
}

static void test_registry_select(void **state) {
        VssProvider *chosen = NULL;
        _cleanup_free_ char *canonical = NULL;
        vss_id id, unknown;
        char path[4096];

        fill_volume();
        {
                /* Auto-selection order: btrfs, ZFS (where built), LVM (registered where the lvm
                 * command is), image (registered only when its guardian is there), and the
                 * test-only provider last. */
                static const char *const order[] = { "btrfs", "zfs", "lvm", "image", "test-copy" };
                VssProvider *const *list = provider_registry_list();
                size_t n = 0, k = 0;

                while (list[n])
                        n++;
                assert_true(n >= 2);
                assert_string_equal(list[0]->name, "btrfs");
                assert_string_equal(list[n - 1]->name, "test-copy");
                for (size_t i = 0; i < n; i++) {
                        while (k < ELEMENTSOF(order) && !streq(order[k], list[i]->name))
                                k++;
                        assert_true(k < ELEMENTSOF(order)); /* known, and in order */
                }
        }

        assert_int_equal(vss_id_parse(provider_find_by_name("test-copy")->id, &id), S_OK);
        assert_ptr_equal(provider_find_by_id(&id), provider_find_by_name("test-copy"));
        vss_id_generate(&unknown);
        assert_null(provider_find_by_id(&unknown));

        assert_true(provider_is_available(provider_find_by_name("test-copy"), true));
        assert_false(provider_is_available(provider_find_by_name("test-copy"), false));

        /* explicit id */
        assert_int_equal(provider_select(volume_dir, &id, true, &chosen, &canonical), S_OK);
        assert_ptr_equal(chosen, provider_find_by_name("test-copy"));
        assert_string_equal(canonical, volume_dir);
        canonical = mfree_ptr(canonical);
        assert_int_equal(provider_select(volume_dir, &id, false, &chosen, &canonical), VSS_E_PROVIDER_NOT_REGISTERED);
        assert_int_equal(provider_select(volume_dir, &unknown, true, &chosen, &canonical),
                         VSS_E_PROVIDER_NOT_REGISTERED);

        snprintf(path, sizeof(path), "%s/nope", volume_dir);
        assert_int_equal(provider_select(path, NULL, true, &chosen, &canonical), VSS_E_OBJECT_NOT_FOUND);
        assert_int_equal(provider_select("rel", NULL, true, &chosen, &canonical), E_INVALIDARG);
        assert_int_equal(provider_select(NULL, NULL, true, &chosen, &canonical), E_INVALIDARG);

        if (dir_is_btrfs(volume_dir)) {
                print_message("%s is on btrfs: skipping the non-btrfs selection checks\n", volume_dir);
                return;
        }

        /* automatic choice: btrfs refuses, test-copy takes it only when enabled */
        chosen = NULL;
        assert_int_equal(provider_select(volume_dir, &VSS_ID_NULL, true, &chosen, &canonical), S_OK);
        assert_ptr_equal(chosen, provider_find_by_name("test-copy"));
        canonical = mfree_ptr(canonical);
        assert_int_equal(provider_select(volume_dir, NULL, false, &chosen, &canonical), VSS_E_VOLUME_NOT_SUPPORTED);

        /* the named btrfs provider refuses a non-btrfs directory */
        assert_int_equal(vss_id_parse(provider_find_by_name("btrfs")->id, &id), S_OK);
        assert_int_equal(provider_select(volume_dir, &id, false, &chosen, &canonical),
                         VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER);
        assert_null(canonical);
}

static void test_query_and_properties(void **state) {
        VssProvider *p = provider_find_by_name("test-copy");
        ProviderSnapshot *a[2], *b, *rec;
        ProviderSnapshotProperties props = { .present = true };
        QueryResult q = {};
        char path[4096], stray[64];
        vss_timestamp now;
        vss_id stray_id;
        int i;

        fill_volume();
        assert_int_equal(write_text(sibling_dir, "s.txt", "sibling\n"), 0);
        a[0] = prepare_one();
        a[1] = prepare_one();
        b = prepare_on(sibling_dir);
        assert_int_equal(run_set_phases(p, a, 2, NULL), S_OK);
        assert_int_equal(run_set_phases(p, &b, 1, NULL), S_OK);
        now = timestamp_now();

        /* Strays in the area are never claimed: an id-named directory without an origin, a
         * file named like an id, anything else. */
        vss_id_generate(&stray_id);
        snprintf(stray, sizeof(stray), "%s", vss_id_to_str(&stray_id).s);
        snprintf(path, sizeof(path), "%s/test-copy/%s", state_dir, stray);
        assert_int_equal(mkdir(path, 0700), 0);
        snprintf(path, sizeof(path), "%s/test-copy", state_dir);
        assert_int_equal(write_text(path, "not-a-snapshot", "x"), 0);

        /* Exactly the volume's two copies, with their paths and a creation time. */
        assert_int_equal(p->query(p, volume_dir, query_collect, &q), S_OK);
        assert_int_equal(q.n, 2);
        for (size_t k = 0; k < 2; k++) {
                i = query_find(&q, &a[k]->snapshot_id);
                assert_true(i >= 0);
                assert_string_equal(q.devices[i], a[k]->device);
                assert_true(q.created[i] > 0);
                assert_true(q.created[i] <= now);
        }
        assert_int_equal(query_find(&q, &b->snapshot_id), -1);

        /* The sibling's one copy, and nothing of a volume never snapshotted. */
        q = (QueryResult) {};
        assert_int_equal(p->query(p, sibling_dir, query_collect, &q), S_OK);
        assert_int_equal(q.n, 1);
        assert_true(vss_id_equal(&q.ids[0], &b->snapshot_id));
        q = (QueryResult) {};
        assert_int_equal(p->query(p, state_dir, query_collect, &q), S_OK);
        assert_int_equal(q.n, 0);

        /* A callback's failure stops the walk and comes back as is. */
        q = (QueryResult) { .stop_after = 1 };
        assert_int_equal(p->query(p, volume_dir, query_collect, &q), VSS_E_PROVIDER_VETO);
        assert_int_equal(q.n, 1);

        /* A volume that does not exist, or a bad call: no answer. */
        snprintf(path, sizeof(path), "%s/gone", volume_dir);
        assert_int_equal(p->query(p, path, query_collect, &q), VSS_E_OBJECT_NOT_FOUND);
        assert_int_equal(p->query(p, "relative", query_collect, &q), E_INVALIDARG);
        assert_int_equal(p->query(p, volume_dir, NULL, NULL), E_INVALIDARG);

        /* Present, from the provider's own data and from a catalog-only record alike. */
        assert_int_equal(p->get_properties(p, a[0], &props), S_OK);
        assert_true(props.present);
        assert_true(props.creation_time > 0 && props.creation_time <= now);
        rec = snapshot_from_record(a[0]);
        assert_non_null(rec);
        props = (ProviderSnapshotProperties) {};
        assert_int_equal(p->get_properties(p, rec, &props), S_OK);
        assert_true(props.present);

        /* Deleted (through the other handle): absent, and no longer listed. */
        assert_int_equal(p->delete_snapshot(p, a[0]), S_OK);
        assert_int_equal(p->get_properties(p, rec, &props), S_OK);
        assert_false(props.present);
        assert_int_equal(props.creation_time, 0);
        q = (QueryResult) {};
        assert_int_equal(p->query(p, volume_dir, query_collect, &q), S_OK);
        assert_int_equal(q.n, 1);
        assert_true(vss_id_equal(&q.ids[0], &a[1]->snapshot_id));

        /* Where the storage itself is not there, it cannot tell: a failure, not "absent". */
        free(rec->device);
        snprintf(path, sizeof(path), "%s/no-such-area/%s", state_dir, stray);
        rec->device = strdup(path);
        props = (ProviderSnapshotProperties) { .present = true, .creation_time = 42 };
        assert_true(VSS_FAILED(p->get_properties(p, rec, &props)));
        assert_true(props.present); /* untouched on failure */
        assert_int_equal(props.creation_time, 42);
        assert_int_equal(p->get_properties(p, NULL, &props), E_INVALIDARG);
        provider_snapshot_free(rec);

        /* A copy removed behind the provider's back (its origin left over) is gone too. */
        snprintf(path, sizeof(path), "rm -rf -- '%s'", a[1]->device);
        assert_int_equal(system(path), 0);
        assert_int_equal(p->get_properties(p, a[1], &props), S_OK);
        assert_false(props.present);
        q = (QueryResult) {};
        assert_int_equal(p->query(p, volume_dir, query_collect, &q), S_OK);
        assert_int_equal(q.n, 0);

        /* A deleted snapshot leaves nothing of its own in the area (its origin file goes). */
        assert_int_equal(p->delete_snapshot(p, b), S_OK);
        snprintf(path, sizeof(path), "%s/test-copy/.%s.origin", state_dir, vss_id_to_str(&b->snapshot_id).s);
        assert_false(path_exists(path, ""));
        snprintf(path, sizeof(path), "%s/test-copy/.%s.origin", state_dir, vss_id_to_str(&a[0]->snapshot_id).s);
        assert_false(path_exists(path, ""));

        assert_int_equal(p->abort(p, a, 2), S_OK);
        provider_snapshot_free(a[0]);
        provider_snapshot_free(a[1]);
        provider_snapshot_free(b);
        snprintf(path, sizeof(path), "%s/test-copy/%s", state_dir, stray);
        assert_int_equal(rmdir(path), 0);
}

/* The one naming rule recovery goes by for objects outside a snapshot area (provider-util.h). */
static void test_object_names(void **state) {
        char name[PROVIDER_OBJECT_NAME_MAX], bad[PROVIDER_OBJECT_NAME_MAX + 8];
        vss_id id, back;

        vss_id_generate(&id);
        provider_object_name(&id, name);
        assert_int_equal(strlen(name), 4 + 36);
        assert_true(provider_object_name_parse(name, &back));
        assert_true(vss_id_equal(&id, &back));

        snprintf(bad, sizeof(bad), "%sx", name); /* anything after the id */
        assert_false(provider_object_name_parse(bad, &back));
        snprintf(bad, sizeof(bad), "x%s", name); /* anything before the prefix */
        assert_false(provider_object_name_parse(bad, &back));
        assert_false(provider_object_name_parse(name + 4, &back)); /* the bare id is not ours */
        snprintf(bad, sizeof(bad), "%s", name);
        for (char *c = bad; *c; c++) /* upper case: not how we write ids */
                *c = (char) toupper((unsigned char) *c);
        bad[0] = 'v', bad[1] = 's', bad[2] = 's';
        assert_false(provider_object_name_parse(bad, &back));
        assert_false(provider_object_name_parse(NULL, &back));
        assert_false(provider_object_name_parse("vss-", &back));
}

static void test_sanitize(void **state) {
        static const vss_hr passed[] = {
                S_OK, E_OUTOFMEMORY, E_INVALIDARG, E_ACCESSDENIED, VSS_E_BAD_STATE, VSS_E_OBJECT_NOT_FOUND,
                VSS_E_INSUFFICIENT_STORAGE, VSS_E_VOLUME_NOT_SUPPORTED, VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER,
                VSS_E_MAXIMUM_NUMBER_OF_SNAPSHOTS_REACHED, VSS_E_PROVIDER_VETO, VSS_E_NESTED_VOLUME_LIMIT,
        };
        static const vss_hr mapped[] = {
                S_FALSE, E_FAIL, E_UNEXPECTED, E_ABORT, E_NOTIMPL, VSS_E_UNEXPECTED, VSS_E_WRITERERROR_TIMEOUT,
                VSS_HRESULT(0x8004DEADu),
        };

        for (size_t i = 0; i < ELEMENTSOF(passed); i++)
                assert_int_equal(provider_hr_sanitize(passed[i]), passed[i]);
        for (size_t i = 0; i < ELEMENTSOF(mapped); i++)
                assert_int_equal(provider_hr_sanitize(mapped[i]), VSS_E_UNEXPECTED_PROVIDER_ERROR);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_point_in_time_copy),
                cmocka_unit_test(test_fault_injection),
                cmocka_unit_test(test_abort_removes_set),
                cmocka_unit_test(test_out_of_sequence),
                cmocka_unit_test(test_size_limits),
                cmocka_unit_test(test_volume_checks),
                cmocka_unit_test(test_registry_select),
                cmocka_unit_test(test_object_names),
                cmocka_unit_test(test_query_and_properties),
                cmocka_unit_test(test_sanitize),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
