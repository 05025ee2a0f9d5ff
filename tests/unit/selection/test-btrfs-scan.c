/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-btrfs-scan (suite root): the O(changed) side of selection on a loop-mounted btrfs.
 * Between two read-only snapshots of a subvolume, change_scan_btrfs_changed reports exactly
 * the files written, created, truncated, chmod'ed, renamed or hard-linked, each name once,
 * and nothing deleted or living in a nested subvolume; file_select gives the same incremental
 * from the generation as from times, never reports a file twice when a walk and the scan
 * share a volume; and walks respect subvolume and mount boundaries. Exits 77 unless root.
 */
#include "selection-test.h"

#include <btrfsutil.h>
#include <dirent.h>
#include <sys/mount.h>

#include "change-scan.h"
#include "file-select.h"
#include "root-harness.h"

#define ORIG "/vsso"
#define INSTANCE_ID "a1b2c3d4-0000-4000-8000-0000000000b1"
#define WRITER_ID "a1b2c3d4-0000-4000-8000-0000000000b2"
#define M_FULL (VSS_FSBT_FULL_BACKUP_REQUIRED | VSS_FSBT_ALL_SNAPSHOT_REQUIRED)
#define M_ALL (VSS_FSBT_ALL_BACKUP_REQUIRED | VSS_FSBT_ALL_SNAPSHOT_REQUIRED)

/* What changes between snapshot A and snapshot B (paths relative to the subvolume). */
#define CHANGED                                                                                           \
        "d1/f011 d7/f170 d2/f102 d3/f103 d4/moved d5/f105 d5/link105 newdir/deeper/fresh d6/empty d0/sym@ " \
        "d8/f108"

typedef struct Fixture {
        LoopBtrfs fs;
        char *vol, *snap_a, *snap_b;
        uint64_t gen_a;
        vss_timestamp time_a;
} Fixture;

static char *path_in(const char *dir, const char *rel) {
        char *p;

        assert_true(asprintf(&p, "%s/%s", dir, rel) > 0);
        return p;
}

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(*f));
        struct timespec pause = { .tv_nsec = 30 * 1000 * 1000 };
        _cleanup_free_ char *inner = NULL;
        char *p, *q;
        char name[64];
        int r;

        assert_non_null(f);
        r = loop_btrfs_setup("/var/tmp/vss-selection-XXXXXX", 512ULL << 20, &f->fs);
        assert_int_equal(r, 0);
        f->vol = path_in(f->fs.mnt, "vol");
        f->snap_a = path_in(f->fs.mnt, "snap-a");
        f->snap_b = path_in(f->fs.mnt, "snap-b");
        assert_int_equal(btrfs_util_create_subvolume(f->vol, 0, NULL, NULL), BTRFS_UTIL_OK);

        /* 1000 files over 10 directories: enough to fill many leaves, so unchanged inodes
         * share blocks with changed ones and have to be told apart by their own transid. */
        for (unsigned i = 0; i < 1000; i++) {
                snprintf(name, sizeof(name), "d%u/f%03u", i % 10, i);
                make_file(f->vol, name, 0);
        }
        p = path_in(f->vol, "d0/sym");
        assert_int_equal(symlink("f000", p), 0);
        free(p);
        p = path_in(f->vol, "d0/oldsym");
        assert_int_equal(symlink("f010", p), 0);
        free(p);
        p = NULL;
        inner = path_in(f->vol, "inner");
        assert_int_equal(btrfs_util_create_subvolume(inner, 0, NULL, NULL), BTRFS_UTIL_OK);
        make_file(inner, "i1", 0);

        assert_int_equal(btrfs_util_create_snapshot(f->vol, f->snap_a, BTRFS_UTIL_CREATE_SNAPSHOT_READ_ONLY, NULL, NULL),
                         BTRFS_UTIL_OK);
        assert_int_equal(change_scan_btrfs_generation(f->snap_a, &f->gen_a), 0);
        assert_true(f->gen_a > 0);
        assert_int_equal(nanosleep(&pause, NULL), 0);
        f->time_a = now_filetime();
        assert_int_equal(nanosleep(&pause, NULL), 0);

        /* The changes. */
        make_file(f->vol, "d1/f011", 0);                               /* rewritten */
        make_file(f->vol, "d7/f170", 0);
        make_file(f->vol, "newdir/deeper/fresh", 0);                   /* created */
        make_file(f->vol, "d6/empty", 0);
        p = path_in(f->vol, "d6/empty");
        assert_int_equal(truncate(p, 0), 0);                           /* created empty: no extents */
        free(p);
        p = path_in(f->vol, "d2/f102");
        assert_int_equal(chmod(p, 0600), 0);                           /* metadata only */
        free(p);
        p = path_in(f->vol, "d3/f103");
        assert_int_equal(truncate(p, 1), 0);                           /* truncated */
        free(p);
        p = path_in(f->vol, "d4/f104");
        q = path_in(f->vol, "d4/moved");
        assert_int_equal(rename(p, q), 0);                             /* renamed */
        free(p);
        free(q);
        p = path_in(f->vol, "d5/f105");
        q = path_in(f->vol, "d5/link105");
        assert_int_equal(link(p, q), 0);                               /* a second name: both reported */
        free(p);
        free(q);
        p = path_in(f->vol, "d9/f109");
        assert_int_equal(unlink(p), 0);                                /* deleted: nothing to copy */
        free(p);
        p = path_in(f->vol, "d0/sym");
        assert_int_equal(unlink(p), 0);
        assert_int_equal(symlink("f020", p), 0);                       /* symlink replaced */
        free(p);
        p = path_in(f->vol, "d8/f108");
        {
                int fd = open(p, O_WRONLY | O_APPEND | O_CLOEXEC);

                assert_true(fd >= 0);
                assert_int_equal(write(fd, "+", 1), 1);                /* appended */
                close(fd);
        }
        free(p);
        make_file(inner, "i2", 0);                                     /* another subvolume */

        assert_int_equal(btrfs_util_create_snapshot(f->vol, f->snap_b, BTRFS_UTIL_CREATE_SNAPSHOT_READ_ONLY, NULL, NULL),
                         BTRFS_UTIL_OK);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;

        if (!f)
                return 0;
        (void) btrfs_util_delete_subvolume(f->snap_b, 0);
        (void) btrfs_util_delete_subvolume(f->snap_a, 0);
        (void) btrfs_util_delete_subvolume(f->vol, BTRFS_UTIL_DELETE_SUBVOLUME_RECURSIVE);
        (void) loop_btrfs_teardown(&f->fs);
        free(f->vol);
        free(f->snap_a);
        free(f->snap_b);
        free(f);
        return 0;
}

static int collect(const ChangeScanEntry *e, void *userdata) {
        StrList *l = userdata;

        assert_true(e->have_stat);
        strlist_addf(l, "%s%s", e->path, e->type == DT_LNK ? "@" : "");
        return 0;
}

static void test_generation_scan(void **state) {
        Fixture *f = *state;
        uint64_t gen_b, gen_vol;
        StrList l = {};

        assert_int_equal(change_scan_btrfs_changed(f->snap_b, f->gen_a, collect, &l), 0);
        strlist_expect(&l, "changed A..B", CHANGED);
        strlist_clear(&l);

        /* Nothing in A is newer than A. */
        assert_int_equal(change_scan_btrfs_changed(f->snap_a, f->gen_a, collect, &l), 0);
        assert_int_equal(l.n, 0);

        /* Generation 0: every file of A (1000 + two symlinks). */
        assert_int_equal(change_scan_btrfs_changed(f->snap_a, 0, collect, &l), 0);
        assert_int_equal(l.n, 1002);
        strlist_clear(&l);

        /* B's own generation is later than A's, and nothing of B is newer than B. */
        assert_int_equal(change_scan_btrfs_generation(f->snap_b, &gen_b), 0);
        assert_true(gen_b > f->gen_a);
        assert_int_equal(change_scan_btrfs_changed(f->snap_b, gen_b, collect, &l), 0);
        assert_int_equal(l.n, 0);

        /* The live subvolume (not a snapshot) has moved on at least to B. */
        assert_int_equal(change_scan_btrfs_generation(f->vol, &gen_vol), 0);
        assert_true(gen_vol >= gen_b);
}

static void test_probe_and_errors(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *sub = path_in(f->snap_b, "d1");
        StrList l = {};
        uint64_t g;

        assert_int_equal(change_scan_btrfs_probe(f->snap_b), 0);
        assert_int_equal(change_scan_btrfs_probe(sub), -EINVAL);        /* not a subvolume's top */
        assert_int_equal(change_scan_btrfs_changed(sub, f->gen_a, collect, &l), -EINVAL);
        assert_int_equal(change_scan_btrfs_probe("/proc"), -ENOTTY);
        assert_int_equal(change_scan_btrfs_generation("/proc", &g), -ENOTTY);
        assert_int_equal(change_scan_btrfs_changed(f->snap_b, f->gen_a, NULL, &l), -EINVAL);
        assert_int_equal(l.n, 0);
}

typedef struct Seen {
        StrList files;
        bool duplicate;
} Seen;

static int collect_selected(const FileSelectFile *file, void *userdata) {
        Seen *s = userdata;

        assert_true(file->from_snapshot);
        for (size_t i = 0; i < s->files.n; i++)
                if (streq(s->files.v[i], file->original_path + strlen(ORIG) + 1))
                        s->duplicate = true;
        strlist_addf(&s->files, "%s%s", file->original_path + strlen(ORIG) + 1, file->type == DT_LNK ? "@" : "");
        return 0;
}

static void select_incremental(Fixture *f, bool with_generation, bool whole_d2, Seen *seen) {
        vss_id iid, wid;
        WriterMetadata *m = writer_metadata_new();
        BackupComponents *bcd = backup_components_new();
        const WriterMetadata *writers[1] = { m };
        FileSelectVolume vol = {
                .original = ORIG,
                .snapshot = f->snap_b,
                .previous_generation = with_generation ? f->gen_a : 0,
        };
        FileSelectInput in = {
                .backup_type = VSS_BT_INCREMENTAL,
                .bcd = bcd,
                .writers = writers,
                .n_writers = 1,
                .previous_backup_time = f->time_a,
                .volumes = &vol,
                .n_volumes = 1,
        };
        _cleanup_free_ char *msg = NULL;

        assert_int_equal(vss_id_parse(INSTANCE_ID, &iid), S_OK);
        assert_int_equal(vss_id_parse(WRITER_ID, &wid), S_OK);
        assert_int_equal(writer_metadata_set_identity(m, &iid, &wid, "w", NULL, VSS_UT_USERDATA, VSS_ST_OTHER, 0), S_OK);
        assert_int_equal(writer_metadata_set_backup_schema(m, VSS_BS_INCREMENTAL), S_OK);
        assert_int_equal(writer_metadata_add_component(m, VSS_CT_FILEGROUP, "", "all", "", 0, 0, 1, 0, 0), S_OK);
        assert_int_equal(writer_metadata_add_fileset(m, FILESET_FILE_GROUP, "", "all", ORIG, "*", true, NULL, M_FULL),
                         S_OK);
        if (whole_d2)   /* a set the incremental needs whole: walked, while the rest comes from the scan */
                assert_int_equal(writer_metadata_add_fileset(m, FILESET_FILE_GROUP, "", "all", ORIG "/d2", "*", false,
                                                             NULL, M_ALL),
                                 S_OK);
        assert_int_equal(writer_metadata_add_exclude(m, ORIG "/d7", "*", false), S_OK);
        assert_int_equal(backup_components_set_backup_state(bcd, true, false, VSS_BT_INCREMENTAL, false), S_OK);
        assert_int_equal(backup_components_add_component(bcd, &iid, &wid, VSS_CT_FILEGROUP, "", "all", NULL), S_OK);

        assert_int_equal(file_select(&in, collect_selected, seen, &msg), 0);
        assert_null(msg);
        writer_metadata_free(m);
        backup_components_free(bcd);
}

#define CHANGED_NOT_EXCLUDED                                                                              \
        "d1/f011 d2/f102 d3/f103 d4/moved d5/f105 d5/link105 newdir/deeper/fresh d6/empty d0/sym@ d8/f108"

static void test_select_generation_equals_times(void **state) {
        Fixture *f = *state;
        Seen by_gen = {}, by_time = {};

        select_incremental(f, true, false, &by_gen);
        assert_false(by_gen.duplicate);
        strlist_expect(&by_gen.files, "incremental by generation", CHANGED_NOT_EXCLUDED);

        select_incremental(f, false, false, &by_time);
        assert_false(by_time.duplicate);
        strlist_expect(&by_time.files, "incremental by times", CHANGED_NOT_EXCLUDED);
        strlist_clear(&by_gen.files);
        strlist_clear(&by_time.files);
}

static void test_select_mixed_sources(void **state) {
        Fixture *f = *state;
        Seen seen = {};
        char all_d2[8192] = CHANGED_NOT_EXCLUDED;

        /* d2 whole (walked, 100 files) plus the scan's changes elsewhere; each file once. */
        for (unsigned i = 2; i < 1000; i += 10)
                if (i != 102) {
                        size_t n = strlen(all_d2);

                        snprintf(all_d2 + n, sizeof(all_d2) - n, " d2/f%03u", i);
                }
        select_incremental(f, true, true, &seen);
        assert_false(seen.duplicate);
        strlist_expect(&seen.files, "mixed sources", all_d2);
        strlist_clear(&seen.files);
}

static int collect_walk(const ChangeScanEntry *e, void *userdata) {
        StrList *l = userdata;

        if (strncmp(e->path, "inner", 5) == 0 || strncmp(e->path, "mnt", 3) == 0)
                strlist_add(l, e->path);
        return 0;
}

/* Walks stay in their subvolume unless asked, and never enter another mount. */
static void test_walk_boundaries(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *mnt = path_in(f->vol, "mnt");
        StrList l = {};

        assert_int_equal(mkdir(mnt, 0755), 0);
        assert_int_equal(mount("tmpfs", mnt, "tmpfs", 0, "size=1m"), 0);
        make_file(mnt, "t", 0);

        assert_int_equal(change_scan_walk(AT_FDCWD, f->vol, NULL, CHANGE_SCAN_RECURSIVE, 0, collect_walk, &l), 0);
        assert_int_equal(l.n, 0);
        assert_int_equal(change_scan_walk(AT_FDCWD, f->vol, NULL, CHANGE_SCAN_RECURSIVE | CHANGE_SCAN_CROSS_SUBVOLUMES,
                                          0, collect_walk, &l),
                         0);
        strlist_expect(&l, "crossing subvolumes", "inner/i1 inner/i2");
        strlist_clear(&l);

        assert_int_equal(umount2(mnt, 0), 0);
        assert_int_equal(rmdir(mnt), 0);
}

/* The files (and, with dirs, directories as "path/") the scan reports, "@" marking symlinks. */
static int collect_typed(const ChangeScanEntry *e, void *userdata) {
        StrList *l = userdata;

        assert_true(e->have_stat);
        strlist_addf(l, "%s%s", e->path, e->type == DT_LNK ? "@" : e->type == DT_DIR ? "/" : "");
        return 0;
}

static void expect_same_list(StrList *got, StrList *want, const char *what) {
        bool same = got->n == want->n;

        qsort(got->v, got->n, sizeof(char *), strlist_cmp);
        qsort(want->v, want->n, sizeof(char *), strlist_cmp);
        for (size_t i = 0; same && i < got->n; i++)
                same = streq(got->v[i], want->v[i]);
        if (!same) {
                size_t i = 0;

                while (i < got->n && i < want->n && streq(got->v[i], want->v[i]))
                        i++;
                print_error("%s: %zu reported, %zu expected; first difference at %zu: got %s, expected %s\n", what,
                            got->n, want->n, i, i < got->n ? got->v[i] : "(end)", i < want->n ? want->v[i] : "(end)");
        }
        assert_true(same);
}

static bool strlist_has(const StrList *l, const char *s) {
        for (size_t i = 0; i < l->n; i++)
                if (streq(l->v[i], s))
                        return true;
        return false;
}

#define MANY_DIRS 60U
#define MANY_PER_DIR 100U
#define MANY_LINKS 400U
#define DEEP 30U

static void link_rel(const char *top, const char *from, const char *to) {
        _cleanup_free_ char *a = path_in(top, from), *b = path_in(top, to);

        assert_int_equal(link(a, b), 0);
}

static void rename_rel(const char *top, const char *from, const char *to) {
        _cleanup_free_ char *a = path_in(top, from), *b = path_in(top, to);

        assert_int_equal(rename(a, b), 0);
}

static char *long_link_name(unsigned i) {
        char *p;

        /* Long names, so the names of one inode fill several leaves. */
        assert_true(asprintf(&p, "m%02u/%0200u-%03u", i % MANY_DIRS, 0u, i) > 0);
        return p;
}

/*
 * Many changes spread over many leaves: the names the changed-leaf pass gathers next to each
 * inode item are every name the inode has (several hard links, one with names filling leaves
 * of their own that stay unchanged), renamed files appear under their new name only, deep
 * paths and files in new directories resolve to their full path, and nothing appears twice.
 */
static void test_generation_scan_many_leaves(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *vol = path_in(f->fs.mnt, "many"), *sa = path_in(f->fs.mnt, "many-a"),
                            *sb = path_in(f->fs.mnt, "many-b");
        char deep[DEEP * 4 + 16], name[512];
        StrList want = {}, want_dirs = {}, got = {};
        uint64_t gen_a;
        size_t len = 0;

        assert_int_equal(btrfs_util_create_subvolume(vol, 0, NULL, NULL), BTRFS_UTIL_OK);
        for (unsigned d = 0; d < MANY_DIRS; d++)
                for (unsigned i = 0; i < MANY_PER_DIR; i++) {
                        snprintf(name, sizeof(name), "m%02u/g%04u", d, d * MANY_PER_DIR + i);
                        make_file(vol, name, 0);
                }
        len += (size_t) snprintf(deep + len, sizeof(deep) - len, "deep");
        for (unsigned i = 0; i < DEEP; i++)
                len += (size_t) snprintf(deep + len, sizeof(deep) - len, "/l%02u", i);
        snprintf(name, sizeof(name), "%s/old", deep);
        make_file(vol, name, 0);
        make_file(vol, "m00/multi", 0);
        for (unsigned i = 0; i < MANY_LINKS; i++) {
                _cleanup_free_ char *n = long_link_name(i);

                link_rel(vol, "m00/multi", n);
        }
        make_file(vol, "m01/three", 0);
        link_rel(vol, "m01/three", "m02/three-b");
        link_rel(vol, "m01/three", "m03/three-c");
        make_file(vol, "m04/grows", 0);
        assert_int_equal(btrfs_util_create_snapshot(vol, sa, BTRFS_UTIL_CREATE_SNAPSHOT_READ_ONLY, NULL, NULL),
                         BTRFS_UTIL_OK);
        assert_int_equal(change_scan_btrfs_generation(sa, &gen_a), 0);

        /* Every 13th file rewritten, across all directories (except the ones renamed below). */
        for (unsigned k = 0; k < MANY_DIRS * MANY_PER_DIR; k += 13) {
                if (k == 505 || k == 1300)
                        continue;
                snprintf(name, sizeof(name), "m%02u/g%04u", k / MANY_PER_DIR, k);
                make_file(vol, name, 0);
                strlist_add(&want, name);
        }
        /* Written through one name: every name reported, most from leaves not rewritten. */
        make_file(vol, "m00/multi", 0);
        strlist_add(&want, "m00/multi");
        for (unsigned i = 0; i < MANY_LINKS; i++) {
                _cleanup_free_ char *n = long_link_name(i);

                strlist_add(&want, n);
        }
        make_file(vol, "m01/three", 0);
        strlist_add(&want, "m01/three");
        strlist_add(&want, "m02/three-b");
        strlist_add(&want, "m03/three-c");
        /* A new name only: the inode changes (its link count), so all its names come back. */
        link_rel(vol, "m04/grows", "m05/grows-b");
        strlist_add(&want, "m04/grows");
        strlist_add(&want, "m05/grows-b");
        /* Renamed within and across directories: the new name only. */
        rename_rel(vol, "m05/g0505", "m05/renamed");
        strlist_add(&want, "m05/renamed");
        rename_rel(vol, "m13/g1300", "m14/moved-in");
        strlist_add(&want, "m14/moved-in");
        /* Deep paths, old and new, and files in new directories. */
        snprintf(name, sizeof(name), "%s/old", deep);
        make_file(vol, name, 0);
        strlist_add(&want, name);
        snprintf(name, sizeof(name), "%s/new", deep);
        make_file(vol, name, 0);
        strlist_add(&want, name);
        len = (size_t) snprintf(deep, sizeof(deep), "fresh");
        for (unsigned i = 0; i < DEEP; i++) {
                strlist_addf(&want_dirs, "%s/", deep);
                len += (size_t) snprintf(deep + len, sizeof(deep) - len, "/n%02u", i);
        }
        strlist_addf(&want_dirs, "%s/", deep);
        for (unsigned i = 0; i < 20; i++) {
                snprintf(name, sizeof(name), "%s/f%02u", deep, i);
                make_file(vol, name, 0);
                strlist_add(&want, name);
                snprintf(name, sizeof(name), "m%02u/sub/s%02u", 20 + i, i);
                make_file(vol, name, 0);
                strlist_add(&want, name);
                snprintf(name, sizeof(name), "m%02u/sub/", 20 + i);
                strlist_add(&want_dirs, name);
        }
        strlist_add(&want_dirs, "m05/");
        strlist_add(&want_dirs, "m13/");
        strlist_add(&want_dirs, "m14/");
        {
                _cleanup_free_ char *gone = path_in(vol, "m30/g3001");

                assert_int_equal(unlink(gone), 0);              /* deleted: not reported */
        }
        assert_int_equal(btrfs_util_create_snapshot(vol, sb, BTRFS_UTIL_CREATE_SNAPSHOT_READ_ONLY, NULL, NULL),
                         BTRFS_UTIL_OK);

        assert_int_equal(change_scan_btrfs_changed(sb, gen_a, collect_typed, &got), 0);
        expect_same_list(&got, &want, "many leaves, files");
        strlist_clear(&got);

        /* With directories: the same files, and every directory that gained or lost an entry. */
        assert_int_equal(change_scan_btrfs_changed_flags(sb, gen_a, CHANGE_SCAN_DIRS, collect_typed, &got), 0);
        for (size_t i = 0; i < want_dirs.n; i++)
                assert_true(strlist_has(&got, want_dirs.v[i]));
        {
                StrList files = {};

                for (size_t i = 0; i < got.n; i++)
                        if (got.v[i][strlen(got.v[i]) - 1] != '/')
                                strlist_add(&files, got.v[i]);
                expect_same_list(&files, &want, "many leaves, files among directories");
                strlist_clear(&files);
        }
        strlist_clear(&got);

        /* From generation 0 every name of every file, once: the walk's count. */
        assert_int_equal(change_scan_btrfs_changed(sa, 0, collect_typed, &got), 0);
        assert_int_equal(got.n, MANY_DIRS * MANY_PER_DIR + 1 + 1 + MANY_LINKS + 3 + 1);

        strlist_clear(&got);
        strlist_clear(&want);
        strlist_clear(&want_dirs);
        (void) btrfs_util_delete_subvolume(sb, 0);
        (void) btrfs_util_delete_subvolume(sa, 0);
        (void) btrfs_util_delete_subvolume(vol, BTRFS_UTIL_DELETE_SUBVOLUME_RECURSIVE);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_generation_scan),
                cmocka_unit_test(test_generation_scan_many_leaves),
                cmocka_unit_test(test_probe_and_errors),
                cmocka_unit_test(test_select_generation_equals_times),
                cmocka_unit_test(test_select_mixed_sources),
                cmocka_unit_test(test_walk_boundaries),
        };

        if (geteuid() != 0) {
                fprintf(stderr, "test-btrfs-scan needs root, skipping\n");
                return 77;
        }
        return cmocka_run_group_tests(tests, setup, teardown);
}
