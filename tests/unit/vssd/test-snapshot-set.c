/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-snapshot-set.c: the provider side of a snapshot set (src/vssd/snapshot-set.c) with the
 * test-copy provider: the phases in order, no partial commit when a provider fails on the
 * second volume, unexpected provider codes sanitized, the volume limit and duplicates, and the
 * catalog rows a set writes before its provider acts (intent → committing → created, or gone
 * on abort).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "providers/provider-registry.h"
#include "vss-bus.h"
#include "vssd/snapshot-set.h"

static char root[] = "/tmp/vssd-snapshot-set-XXXXXX";
static char state_dir[PATH_MAX], copies[PATH_MAX + 16];
static vss_id test_copy_id;

static const SnapshotPhase all_phases[] = {
        SNAPSHOT_PHASE_END_PREPARE,      SNAPSHOT_PHASE_PRE_COMMIT,       SNAPSHOT_PHASE_COMMIT,
        SNAPSHOT_PHASE_POST_COMMIT,      SNAPSHOT_PHASE_PRE_FINAL_COMMIT, SNAPSHOT_PHASE_POST_FINAL_COMMIT,
};

static void write_file(const char *dir, const char *name, const char *content) {
        char path[PATH_MAX];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        f = fopen(path, "we");
        assert_non_null(f);
        fputs(content, f);
        fclose(f);
}

static char *make_volume(const char *name) {
        char *path;

        assert_true(asprintf(&path, "%s/%s", root, name) > 0);
        assert_int_equal(mkdir(path, 0755), 0);
        write_file(path, "payload.txt", "payload\n");
        return path;
}

/* Number of snapshot copies the test-copy provider currently holds. */
static unsigned count_copies(void) {
        DIR *d = opendir(copies);
        struct dirent *de;
        unsigned n = 0;

        if (!d)
                return 0;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}

static int setup(void **state) {
        VssProvider *tc;
        ProviderConfig pc;

        if (!mkdtemp(root))
                return -1;
        snprintf(state_dir, sizeof(state_dir), "%s/state", root);
        snprintf(copies, sizeof(copies), "%s/test-copy", state_dir);
        if (mkdir(state_dir, 0755) < 0)
                return -1;

        pc = (ProviderConfig) { .state_dir = state_dir };
        (void) provider_registry_init(&pc, /* test_enabled= */ true);

        tc = provider_find_by_name("test-copy");
        if (!tc || vss_id_parse(tc->id, &test_copy_id) != S_OK)
                return -1;
        return 0;
}

static int teardown(void **state) {
        char cmd[sizeof(root) + 16];

        snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
        return system(cmd) == 0 ? 0 : -1;
}

static SnapshotSet *new_set(void) {
        SnapshotSet *s = NULL;
        vss_id id;

        vss_id_generate(&id);
        assert_int_equal(snapshot_set_new(&id, true, &s), 0);
        return s;
}

static vss_hr run_all(SnapshotSet *s) {
        for (size_t i = 0; i < ELEMENTSOF(all_phases); i++) {
                vss_hr hr = snapshot_set_run_phase(s, all_phases[i]);

                if (VSS_FAILED(hr))
                        return hr;
        }
        return S_OK;
}

static void test_good_set(void **state) {
        _cleanup_free_ char *v1 = make_volume("good1"), *v2 = make_volume("good2");
        SnapshotSet *s = new_set();
        SnapshotEntry *entries = NULL;
        vss_id a, b;
        size_t n = 0;
        char path[PATH_MAX];

        assert_int_equal(snapshot_set_add(s, v1, &test_copy_id, &a), S_OK);
        assert_int_equal(snapshot_set_add(s, v2, &test_copy_id, &b), S_OK);
        assert_false(vss_id_equal(&a, &b));
        assert_non_null(snapshot_set_find(s, &a));

        assert_int_equal(run_all(s), S_OK);
        assert_int_equal(count_copies(), 2);

        assert_int_equal(snapshot_set_take(s, &entries, &n), 0);
        assert_int_equal(n, 2);
        for (size_t i = 0; i < n; i++) {
                assert_int_equal(entries[i].snap->state, VSS_SS_CREATED);
                assert_non_null(entries[i].snap->device);
                snprintf(path, sizeof(path), "%s/payload.txt", entries[i].snap->device);
                assert_int_equal(access(path, R_OK), 0);
        }

        /* Taken out of the set: freeing the set leaves them alone. */
        snapshot_set_free(s);
        assert_int_equal(count_copies(), 2);

        for (size_t i = 0; i < n; i++) {
                assert_int_equal(entries[i].ops->delete_snapshot(entries[i].ops, entries[i].snap), S_OK);
                provider_snapshot_free(entries[i].snap);
        }
        free(entries);
        assert_int_equal(count_copies(), 0);
}

/* A veto at commit on the second volume leaves no snapshot of the first. */
static void test_commit_fault_no_partial_commit(void **state) {
        _cleanup_free_ char *v1 = make_volume("commit1"), *v2 = make_volume("commit2");
        SnapshotSet *s = new_set();
        vss_id id;

        assert_int_equal(snapshot_set_add(s, v1, &test_copy_id, &id), S_OK);
        assert_int_equal(snapshot_set_add(s, v2, &test_copy_id, &id), S_OK);
        write_file(v2, ".vss-test-provider", "commit=0x80042306\n");

        assert_int_equal(snapshot_set_run_phase(s, SNAPSHOT_PHASE_END_PREPARE), S_OK);
        assert_int_equal(snapshot_set_run_phase(s, SNAPSHOT_PHASE_PRE_COMMIT), S_OK);
        assert_int_equal(snapshot_set_run_phase(s, SNAPSHOT_PHASE_COMMIT), VSS_E_PROVIDER_VETO);

        snapshot_set_abort(s);
        assert_int_equal(s->n_entries, 0);
        assert_int_equal(count_copies(), 0);
        snapshot_set_free(s);
}

/* A failure after both volumes were copied: the abort removes both copies. */
static void test_post_commit_fault_aborts_committed(void **state) {
        _cleanup_free_ char *v1 = make_volume("post1"), *v2 = make_volume("post2");
        SnapshotSet *s = new_set();
        vss_id id;

        assert_int_equal(snapshot_set_add(s, v1, &test_copy_id, &id), S_OK);
        assert_int_equal(snapshot_set_add(s, v2, &test_copy_id, &id), S_OK);
        write_file(v2, ".vss-test-provider", "post_commit=0x80042306\n");

        assert_int_equal(run_all(s), VSS_E_PROVIDER_VETO);
        assert_int_equal(count_copies(), 2); /* committed, not yet aborted */

        snapshot_set_free(s);                /* frees abort what is left */
        assert_int_equal(count_copies(), 0);
}

/* E_FAIL is not a code providers may return: the coordinator turns it into
 * VSS_E_UNEXPECTED_PROVIDER_ERROR. */
static void test_unexpected_code_sanitized(void **state) {
        _cleanup_free_ char *v1 = make_volume("efail");
        SnapshotSet *s = new_set();
        vss_id id;

        assert_int_equal(snapshot_set_add(s, v1, &test_copy_id, &id), S_OK);
        write_file(v1, ".vss-test-provider", "end_prepare=0x80004005\n");
        assert_int_equal(snapshot_set_run_phase(s, SNAPSHOT_PHASE_END_PREPARE), VSS_E_UNEXPECTED_PROVIDER_ERROR);
        snapshot_set_free(s);
        assert_int_equal(count_copies(), 0);

        /* begin_prepare faults surface from AddToSnapshotSet, sanitized as well. */
        write_file(v1, ".vss-test-provider", "begin_prepare=0x8000FFFF\n");
        s = new_set();
        assert_int_equal(snapshot_set_add(s, v1, &test_copy_id, &id), VSS_E_UNEXPECTED_PROVIDER_ERROR);
        assert_int_equal(s->n_entries, 0);
        snapshot_set_free(s);
}

static void test_limits_and_duplicates(void **state) {
        _cleanup_free_ char *v = make_volume("many");
        SnapshotSet *s = new_set();
        char sub[PATH_MAX], dup[PATH_MAX];
        vss_id id;

        /* The same volume twice, also through another spelling of its path. */
        assert_int_equal(snapshot_set_add(s, v, &test_copy_id, &id), S_OK);
        snprintf(dup, sizeof(dup), "%s/../many", v);
        assert_int_equal(snapshot_set_add(s, dup, &test_copy_id, &id), VSS_E_OBJECT_ALREADY_EXISTS);
        assert_int_equal(snapshot_set_add(s, v, &test_copy_id, &id), VSS_E_OBJECT_ALREADY_EXISTS);

        /* Bad input loses nothing. */
        assert_int_equal(snapshot_set_add(s, "relative/path", &test_copy_id, &id), E_INVALIDARG);
        assert_int_equal(snapshot_set_add(s, v, &test_copy_id, NULL), E_INVALIDARG);
        assert_int_equal(s->n_entries, 1);

        for (unsigned i = 1; i < VSS_MAX_VOLUMES_PER_SET; i++) {
                snprintf(sub, sizeof(sub), "%s/d%u", v, i);
                assert_int_equal(mkdir(sub, 0755), 0);
                assert_int_equal(snapshot_set_add(s, sub, &test_copy_id, &id), S_OK);
        }
        assert_int_equal(s->n_entries, VSS_MAX_VOLUMES_PER_SET);

        snprintf(sub, sizeof(sub), "%s/one-too-many", v);
        assert_int_equal(mkdir(sub, 0755), 0);
        assert_int_equal(snapshot_set_add(s, sub, &test_copy_id, &id), VSS_E_MAXIMUM_NUMBER_OF_VOLUMES_REACHED);

        assert_int_equal(s->n_entries, VSS_MAX_VOLUMES_PER_SET);
        snapshot_set_free(s);
}

static void test_drop_one(void **state) {
        _cleanup_free_ char *v1 = make_volume("drop1"), *v2 = make_volume("drop2");
        SnapshotSet *s = new_set();
        vss_id a, b, unknown;

        assert_int_equal(snapshot_set_add(s, v1, &test_copy_id, &a), S_OK);
        assert_int_equal(snapshot_set_add(s, v2, &test_copy_id, &b), S_OK);

        vss_id_generate(&unknown);
        snapshot_set_drop(s, &unknown);
        assert_int_equal(s->n_entries, 2);

        snapshot_set_drop(s, &a);
        assert_int_equal(s->n_entries, 1);
        assert_null(snapshot_set_find(s, &a));
        assert_non_null(snapshot_set_find(s, &b));

        /* The volume can be added again once dropped. */
        assert_int_equal(snapshot_set_add(s, v1, &test_copy_id, &a), S_OK);
        assert_int_equal(run_all(s), S_OK);
        assert_int_equal(count_copies(), 2);
        snapshot_set_free(s);
        assert_int_equal(count_copies(), 0);
}

/* The state of snapshot id in the catalog's database, or -1 when it has no row. */
static int row_state(SnapshotCatalog *c, const vss_id *id, char **ret_device) {
        CatalogRow *rows = NULL;
        size_t n = 0;
        int state = -1;

        assert_int_equal(catalog_db_list(c->db, &rows, &n), 0);
        for (size_t i = 0; i < n; i++)
                if (vss_id_equal(&rows[i].snapshot_id, id)) {
                        state = (int) rows[i].state;
                        if (ret_device)
                                *ret_device = rows[i].device ? strdup(rows[i].device) : NULL;
                }
        catalog_rows_free(rows, n);
        return state;
}

static void test_catalog_intent(void **state) {
        _cleanup_free_ char *v1 = make_volume("intent1"), *device = NULL, *catalog_dir = NULL;
        SnapshotCatalog catalog = {};
        SnapshotEntry *entries = NULL;
        SnapshotSet *s;
        vss_id a, b, owner, set_id;
        size_t n = 0;

        assert_true(asprintf(&catalog_dir, "%s/catalog", root) > 0);
        assert_int_equal(mkdir(catalog_dir, 0755), 0);
        assert_int_equal(catalog_open(&catalog, catalog_dir, NULL, 0), 0);
        vss_id_generate(&owner);

        /* Added: a PREPARING row naming where the copy will be, before it exists. */
        s = new_set();
        snapshot_set_attach_catalog(s, &catalog, VSS_CTX_BACKUP, &owner);
        assert_int_equal(snapshot_set_add(s, v1, &test_copy_id, &a), S_OK);
        assert_int_equal(row_state(&catalog, &a, &device), CATALOG_PREPARING);
        assert_non_null(device);
        assert_int_equal(access(device, F_OK), -1);

        /* DoSnapshotSet writes nothing before its commit: the row stays PREPARING. */
        assert_int_equal(run_all(s), S_OK);
        assert_int_equal(row_state(&catalog, &a, NULL), CATALOG_PREPARING);
        assert_int_equal(access(device, F_OK), 0);

        /* Finished: CREATED, and a record the catalog serves. */
        assert_int_equal(snapshot_set_take(s, &entries, &n), 0);
        assert_int_equal(catalog_add_set(&catalog, entries, n, &s->intent, 77), S_OK);
        free(entries);
        set_id = s->id;
        snapshot_set_free(s);
        /* Auto-release: the row is marked after DoSnapshotSet has answered, lazily. */
        assert_int_equal(row_state(&catalog, &a, NULL), CATALOG_PREPARING);
        catalog_mark_created(&catalog, &set_id);
        assert_int_equal(row_state(&catalog, &a, NULL), CATALOG_CREATED);
        assert_non_null(catalog_find(&catalog, &a));
        assert_true(vss_id_equal(&catalog_find(&catalog, &a)->owner, &owner));

        /* Auto-release: the owner's release deletes copy and row. */
        assert_int_equal(catalog_delete_owned(&catalog, &owner), 1);
        assert_int_equal(row_state(&catalog, &a, NULL), -1);
        assert_int_equal(access(device, F_OK), -1);

        /* An aborted set leaves no row behind. */
        s = new_set();
        snapshot_set_attach_catalog(s, &catalog, VSS_CTX_NAS_ROLLBACK, NULL);
        assert_int_equal(snapshot_set_add(s, v1, &test_copy_id, &b), S_OK);
        assert_int_equal(row_state(&catalog, &b, NULL), CATALOG_PREPARING);
        assert_int_equal(run_all(s), S_OK);
        snapshot_set_free(s);
        assert_int_equal(row_state(&catalog, &b, NULL), -1);
        assert_int_equal(count_copies(), 0);

        catalog_done(&catalog);
}

static void test_missing_volume_and_provider(void **state) {
        SnapshotSet *s = new_set();
        vss_id id, bogus;

        assert_int_equal(snapshot_set_add(s, "/nonexistent/vssd-test-volume", &test_copy_id, &id),
                         VSS_E_OBJECT_NOT_FOUND);
        vss_id_generate(&bogus);
        assert_int_equal(snapshot_set_add(s, root, &bogus, &id), VSS_E_PROVIDER_NOT_REGISTERED);
        assert_int_equal(s->n_entries, 0);
        snapshot_set_free(s);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_good_set),
                cmocka_unit_test(test_commit_fault_no_partial_commit),
                cmocka_unit_test(test_post_commit_fault_aborts_committed),
                cmocka_unit_test(test_unexpected_code_sanitized),
                cmocka_unit_test(test_limits_and_duplicates),
                cmocka_unit_test(test_drop_one),
                cmocka_unit_test(test_missing_volume_and_provider),
                cmocka_unit_test(test_catalog_intent),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
