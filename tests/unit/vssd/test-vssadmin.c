/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-vssadmin.c: every vssadmin verb against a private vssd with the test-copy provider
 * (root suite: exposing mounts). Runs the real vssadmin binary ($VSSADMIN) and checks its
 * output (the --json output is validated as JSON and its fields read back), its error lines
 * ("vssadmin: <VSS_E_NAME>: ...") and its exit codes (0 ok, 1 usage, 2 VSS error, 3 vssd
 * unreachable). A writer in this process takes part in `create shadow` and shows up in
 * `list writers`, including the state and error of a backup it vetoed. `list shadows` tells a
 * present copy from one removed behind vssd's back ("missing"). `list volumes`, on a vssd
 * without the test provider, names btrfs for a loop-mounted btrfs and says why a tmpfs has none.
 *
 * Needs root (mount): exits 77 (skipped) otherwise. Environment: VSSD, VSSADMIN.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json-check.h"
#include "macro.h"
#include "root-harness.h"
#include "vssd-fixture.h"

static VssdFixture vssd;
static char volume[4096];
static char canonical_volume[4096];
static vss_writer *writer;
static atomic_bool writer_vetoes;

/* ------------------------------------------------------------------------------------------ */

typedef struct Run {
        char *out;
        char *err;
        int status;
} Run;

static void run_done(Run *r) {
        free(r->out);
        free(r->err);
        *r = (Run) {};
}

/* vssadmin with the fixture's socket and the given words (NULL-terminated). */
static Run vssadmin(const char *first, ...) {
        char *argv[32];
        size_t n = 0;
        va_list ap;
        Run r = {};

        argv[n++] = getenv("VSSADMIN");
        argv[n++] = (char *) "--socket";
        argv[n++] = vssd.socket_path;
        va_start(ap, first);
        for (const char *a = first; a && n < ELEMENTSOF(argv) - 1; a = va_arg(ap, const char *))
                argv[n++] = (char *) a;
        va_end(ap);
        argv[n] = NULL;

        assert_non_null(argv[0]);
        assert_int_equal(run_capture(argv, &r.out, &r.err, &r.status), 0);
        return r;
}

static void assert_error_line(const Run *r, int status, const char *name) {
        char prefix[128];

        snprintf(prefix, sizeof(prefix), "vssadmin: %s: ", name);
        if (r->status != status || strncmp(r->err, prefix, strlen(prefix)) != 0) {
                print_error("exit %d (expected %d), stderr: %s\n", r->status, status, r->err);
                fail();
        }
}

/* The id after "Shadow Copy ID: {" in create's output. */
static void created_id(const Run *r, char *buf, size_t size) {
        const char *p = strstr(r->out, "Shadow Copy ID: {");

        assert_non_null(p);
        p += strlen("Shadow Copy ID: {");
        assert_true(size > 36);
        memcpy(buf, p, 36);
        buf[36] = 0;
}

static bool on_freeze(vss_writer *w, void *userdata) {
        if (atomic_load(&writer_vetoes)) {
                (void) vss_writer_set_writer_failure(w, VSS_E_WRITERERROR_RETRYABLE);
                return false;
        }
        return true;
}

static int setup(void **state) {
        vss_writer_options opts = VSS_WRITER_OPTIONS_INIT;
        vss_writer_callbacks cb = { .version = VSS_WRITER_CALLBACKS_VERSION, .on_freeze = on_freeze };
        FILE *f;

        if (vssd_fixture_init(&vssd, "/tmp/vssd-vssadmin-XXXXXX", true) < 0)
                return -1;
        vssd.max_per_volume = 3;
        if (vssd_fixture_start(&vssd) < 0)
                return -1;

        snprintf(volume, sizeof(volume), "%s/volume", vssd.dir);
        if (mkdir(volume, 0755) < 0)
                return -1;
        if (!realpath(volume, canonical_volume))
                return -1;
        {
                char p[4200];

                snprintf(p, sizeof(p), "%s/file.txt", volume);
                f = fopen(p, "we");
                if (!f)
                        return -1;
                fputs("content\n", f);
                fclose(f);
        }

        vss_id_generate(&opts.writer_id);
        opts.writer_name = "vssadmin test writer";
        opts.instance_name = "instance one";
        opts.socket_path = vssd.socket_path;
        if (vss_writer_new(&writer, &opts, &cb, NULL) != S_OK || vss_writer_subscribe(writer, 0) != S_OK)
                return -1;
        return 0;
}

static int teardown(void **state) {
        vss_writer_free(writer);
        vssd_fixture_done(&vssd);
        return 0;
}

static void test_usage(void **state) {
        Run r;

        r = vssadmin("--help", NULL);
        assert_int_equal(r.status, 0);
        assert_non_null(strstr(r.out, "Exit status"));
        run_done(&r);

        r = vssadmin(NULL);
        assert_int_equal(r.status, 1);
        run_done(&r);
        r = vssadmin("list", "nothing", NULL);
        assert_int_equal(r.status, 1);
        run_done(&r);
        r = vssadmin("delete", "shadows", NULL);
        assert_int_equal(r.status, 1);
        run_done(&r);
        r = vssadmin("delete", "shadows", "--for", volume, NULL); /* --for needs --oldest */
        assert_int_equal(r.status, 1);
        run_done(&r);
        r = vssadmin("create", "shadow", "--for", volume, "--json", NULL);
        assert_int_equal(r.status, 1);
        run_done(&r);
        r = vssadmin("create", "shadow", NULL);
        assert_int_equal(r.status, 1);
        run_done(&r);
        r = vssadmin("expose", NULL);
        assert_int_equal(r.status, 1);
        run_done(&r);
        r = vssadmin("--bogus-option", "list", "writers", NULL);
        assert_int_equal(r.status, 1);
        run_done(&r);
}

static void test_list_providers_and_writers(void **state) {
        char buf[256];
        Run r;

        r = vssadmin("list", "providers", "--json", NULL);
        assert_int_equal(r.status, 0);
        assert_true(json_valid(r.out));
        assert_non_null(strstr(r.out, "\"name\":\"test-copy\""));
        assert_non_null(strstr(r.out, "\"name\":\"btrfs\""));
        run_done(&r);

        r = vssadmin("list", "providers", NULL);
        assert_int_equal(r.status, 0);
        assert_non_null(strstr(r.out, "Provider name: 'test-copy'"));
        run_done(&r);

        r = vssadmin("list", "writers", "--json", NULL);
        assert_int_equal(r.status, 0);
        assert_true(json_valid(r.out));
        assert_int_equal(json_array_length(r.out), 1);
        assert_true(json_get(r.out, 0, "name", buf, sizeof(buf)));
        assert_string_equal(buf, "vssadmin test writer");
        assert_true(json_get(r.out, 0, "instance_name", buf, sizeof(buf)));
        assert_string_equal(buf, "instance one");
        assert_true(json_get(r.out, 0, "state_name", buf, sizeof(buf)));
        assert_string_equal(buf, "stable");
        assert_true(json_get(r.out, 0, "last_error_name", buf, sizeof(buf)));
        assert_string_equal(buf, "S_OK");
        run_done(&r);

        r = vssadmin("list", "writers", NULL);
        assert_int_equal(r.status, 0);
        assert_non_null(strstr(r.out, "Writer name: 'vssadmin test writer'"));
        assert_non_null(strstr(r.out, "Last error: No error"));
        run_done(&r);
}

static void test_create_list_expose_delete(void **state) {
        char first[64], second[64], set[64], buf[4096], opts[1024];
        Run r;

        /* Default: a persistent client-accessible copy with writers, outliving vssadmin. */
        r = vssadmin("create", "shadow", "--for", volume, NULL);
        assert_int_equal(r.status, 0);
        created_id(&r, first, sizeof(first));
        run_done(&r);

        r = vssadmin("create", "shadow", "--for", volume, "--persistent", "--no-writers", "--provider", "test-copy",
                     NULL);
        assert_int_equal(r.status, 0);
        created_id(&r, second, sizeof(second));
        run_done(&r);

        r = vssadmin("list", "shadows", "--json", NULL);
        assert_int_equal(r.status, 0);
        assert_true(json_valid(r.out));
        assert_int_equal(json_array_length(r.out), 2);
        assert_true(json_get(r.out, 0, "shadow_id", buf, sizeof(buf)));
        assert_string_equal(buf, first);
        assert_true(json_get(r.out, 0, "type", buf, sizeof(buf)));
        assert_string_equal(buf, "ClientAccessibleWriters");
        assert_true(json_get(r.out, 0, "original_volume", buf, sizeof(buf)));
        assert_string_equal(buf, canonical_volume);
        assert_true(json_get(r.out, 1, "shadow_id", buf, sizeof(buf)));
        assert_string_equal(buf, second);
        assert_true(json_get(r.out, 1, "type", buf, sizeof(buf)));
        assert_string_equal(buf, "DataVolumeRollback");
        assert_true(json_get(r.out, 1, "set_id", set, sizeof(set)));
        assert_true(json_get(r.out, 1, "snapshot_state", buf, sizeof(buf)));
        assert_int_equal(atoi(buf), VSS_SS_CREATED);
        assert_true(json_get(r.out, 0, "state", buf, sizeof(buf)));
        assert_string_equal(buf, "present");
        assert_true(json_get(r.out, 1, "state", buf, sizeof(buf)));
        assert_string_equal(buf, "present");
        run_done(&r);
        r = vssadmin("list", "shadows", NULL);
        assert_int_equal(r.status, 0);
        assert_non_null(strstr(r.out, "State: present"));
        assert_null(strstr(r.out, "MISSING"));
        run_done(&r);

        /* --set filters. */
        r = vssadmin("list", "shadows", "--set", set, "--json", NULL);
        assert_int_equal(r.status, 0);
        assert_true(json_valid(r.out));
        assert_int_equal(json_array_length(r.out), 1);
        assert_non_null(strstr(r.out, second));
        run_done(&r);
        r = vssadmin("list", "shadows", "--set", "00000000-0000-4000-8000-000000000000", NULL);
        assert_int_equal(r.status, 0);
        assert_non_null(strstr(r.out, "No items found"));
        run_done(&r);

        /* Expose, see it listed and mounted read-only, unexpose. */
        r = vssadmin("expose", "--shadow", second, NULL);
        assert_int_equal(r.status, 0);
        {
                const char *at = strstr(r.out, " exposed at ");

                assert_non_null(at);
                snprintf(buf, sizeof(buf), "%s", at + strlen(" exposed at "));
                buf[strcspn(buf, "\n")] = 0;
        }
        run_done(&r);
        assert_int_equal(mountinfo_options(buf, opts, sizeof(opts)), 1);
        assert_true(mount_option_has(opts, "ro"));
        r = vssadmin("list", "shadows", NULL);
        assert_int_equal(r.status, 0);
        assert_non_null(strstr(r.out, "Exposed At: "));
        assert_non_null(strstr(r.out, "Exposed locally"));
        run_done(&r);
        r = vssadmin("unexpose", "--shadow", second, NULL);
        assert_int_equal(r.status, 0);
        run_done(&r);
        assert_int_equal(mountinfo_options(buf, opts, sizeof(opts)), 0);

        /* A bad target is a VSS error with its code. */
        r = vssadmin("expose", "--shadow", second, "--path", volume, NULL);
        assert_error_line(&r, 2, "E_INVALIDARG");
        run_done(&r);
        r = vssadmin("unexpose", "--shadow", second, NULL);
        assert_error_line(&r, 2, "VSS_E_BAD_STATE");
        run_done(&r);

        /* --oldest deletes the first one. */
        r = vssadmin("delete", "shadows", "--for", volume, "--oldest", NULL);
        assert_int_equal(r.status, 0);
        assert_non_null(strstr(r.out, "Successfully deleted 1 shadow copy"));
        run_done(&r);
        r = vssadmin("list", "shadows", "--json", NULL);
        assert_int_equal(json_array_length(r.out), 1);
        assert_null(strstr(r.out, first));
        run_done(&r);

        r = vssadmin("delete", "shadows", "--shadow", first, NULL);
        assert_error_line(&r, 2, "VSS_E_OBJECT_NOT_FOUND");
        run_done(&r);

        r = vssadmin("delete", "shadows", "--set", set, NULL);
        assert_int_equal(r.status, 0);
        run_done(&r);
        r = vssadmin("list", "shadows", NULL);
        assert_non_null(strstr(r.out, "No items found"));
        run_done(&r);
}

static void test_limit_and_writer_failure(void **state) {
        char buf[256];
        Run r;

        /* The per-volume limit (3 in this vssd). */
        for (int i = 0; i < 3; i++) {
                r = vssadmin("create", "shadow", "--for", volume, "--no-writers", NULL);
                assert_int_equal(r.status, 0);
                run_done(&r);
        }
        r = vssadmin("create", "shadow", "--for", volume, "--no-writers", NULL);
        assert_error_line(&r, 2, "VSS_E_MAXIMUM_NUMBER_OF_SNAPSHOTS_REACHED");
        run_done(&r);
        r = vssadmin("delete", "shadows", "--all", NULL);
        assert_int_equal(r.status, 0);
        assert_non_null(strstr(r.out, "Successfully deleted 3 shadow copies"));
        run_done(&r);

        /* A writer that vetoes Freeze: the creation fails, list writers shows why. */
        atomic_store(&writer_vetoes, true);
        r = vssadmin("create", "shadow", "--for", volume, NULL);
        assert_int_equal(r.status, 2);
        assert_int_equal(strncmp(r.err, "vssadmin: VSS_E_", strlen("vssadmin: VSS_E_")), 0);
        run_done(&r);
        atomic_store(&writer_vetoes, false);

        r = vssadmin("list", "writers", "--json", NULL);
        assert_int_equal(r.status, 0);
        assert_true(json_valid(r.out));
        assert_true(json_get(r.out, 0, "state_name", buf, sizeof(buf)));
        assert_string_equal(buf, "failed-at-freeze");
        assert_true(json_get(r.out, 0, "last_error_name", buf, sizeof(buf)));
        assert_string_equal(buf, "VSS_E_WRITERERROR_RETRYABLE");
        run_done(&r);

        r = vssadmin("list", "shadows", "--json", NULL);
        assert_string_equal(r.out, "[]\n");
        run_done(&r);
}

/* A shadow copy whose copy is removed while vssd runs is listed as missing, and deletable. */
static void test_missing_shadow(void **state) {
        char id[64], device[4096], cmd[4200], buf[64];
        Run r;

        r = vssadmin("create", "shadow", "--for", volume, "--no-writers", NULL);
        assert_int_equal(r.status, 0);
        created_id(&r, id, sizeof(id));
        run_done(&r);

        r = vssadmin("list", "shadows", "--json", NULL);
        assert_int_equal(r.status, 0);
        assert_int_equal(json_array_length(r.out), 1);
        assert_true(json_get(r.out, 0, "device", device, sizeof(device)));
        assert_true(json_get(r.out, 0, "state", buf, sizeof(buf)));
        assert_string_equal(buf, "present");
        run_done(&r);

        /* Removed behind vssd's back. */
        snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", device);
        assert_int_equal(system(cmd), 0);

        r = vssadmin("list", "shadows", "--json", NULL);
        assert_int_equal(r.status, 0);
        assert_true(json_valid(r.out));
        assert_true(json_get(r.out, 0, "shadow_id", buf, sizeof(buf)));
        assert_string_equal(buf, id);
        assert_true(json_get(r.out, 0, "state", buf, sizeof(buf)));
        assert_string_equal(buf, "missing");
        run_done(&r);
        r = vssadmin("list", "shadows", NULL);
        assert_int_equal(r.status, 0);
        assert_non_null(strstr(r.out, "State: MISSING"));
        run_done(&r);

        /* Deleting it just drops the entry, and what the provider kept of it (its origin). */
        r = vssadmin("delete", "shadows", "--shadow", id, NULL);
        assert_int_equal(r.status, 0);
        assert_non_null(strstr(r.out, "Successfully deleted 1 shadow copy"));
        run_done(&r);
        snprintf(cmd, sizeof(cmd), "%s/test-copy/.%s.origin", vssd.state_dir, id);
        assert_false(path_exists(cmd));
        r = vssadmin("list", "shadows", "--json", NULL);
        assert_string_equal(r.out, "[]\n");
        run_done(&r);
}

/* The index of the --json element whose mount_point is mnt, or -1. */
static int volume_index(const char *json, const char *mnt) {
        char buf[4096];

        for (int i = 0; i < (int) json_array_length(json); i++)
                if (json_get(json, (unsigned) i, "mount_point", buf, sizeof(buf)) && streq(buf, mnt))
                        return i;
        return -1;
}

/*
 * list volumes on a vssd without the test provider (which takes any directory): a btrfs on a
 * loop device is btrfs's, with its mount as the volume; a tmpfs is nobody's, and the reason
 * names what btrfs (and the image provider, when registered) lacks; proc is never listed.
 */
static void test_list_volumes(void **state) {
        _cleanup_free_ char *tmpfs = NULL;
        VssdFixture plain = {};
        LoopBtrfs btrfs = {};
        bool image_registered;
        char buf[4096];
        int i;
        Run r;

        assert_int_equal(loop_btrfs_setup("/var/tmp/vssadmin-volumes-XXXXXX", UINT64_C(256) << 20, &btrfs), 0);
        assert_int_equal(vssd_fixture_init(&plain, "/tmp/vssd-volumes-XXXXXX", false), 0);
        assert_int_equal(vssd_fixture_start(&plain), 0);
        assert_true(asprintf(&tmpfs, "%s/tmpfs", plain.dir) > 0);
        assert_int_equal(mkdir(tmpfs, 0755), 0);
        assert_int_equal(mount("tmpfs", tmpfs, "tmpfs", 0, "size=1m"), 0);

        r = vssadmin("--socket", plain.socket_path, "list", "providers", NULL);
        assert_int_equal(r.status, 0);
        assert_null(strstr(r.out, "'test-copy'"));
        image_registered = strstr(r.out, "'image'") != NULL;
        run_done(&r);

        r = vssadmin("--socket", plain.socket_path, "list", "volumes", "--json", NULL);
        assert_int_equal(r.status, 0);
        assert_true(json_valid(r.out));
        assert_null(strstr(r.out, "\"fstype\":\"proc\""));

        i = volume_index(r.out, btrfs.mnt);
        assert_true(i >= 0);
        assert_true(json_get(r.out, (unsigned) i, "fstype", buf, sizeof(buf)));
        assert_string_equal(buf, "btrfs");
        assert_true(json_get(r.out, (unsigned) i, "provider", buf, sizeof(buf)));
        assert_string_equal(buf, "btrfs");
        assert_true(json_get(r.out, (unsigned) i, "volume", buf, sizeof(buf)));
        assert_string_equal(buf, btrfs.mnt);
        assert_true(json_get(r.out, (unsigned) i, "why", buf, sizeof(buf)));
        assert_string_equal(buf, "null");

        i = volume_index(r.out, tmpfs);
        assert_true(i >= 0);
        assert_true(json_get(r.out, (unsigned) i, "fstype", buf, sizeof(buf)));
        assert_string_equal(buf, "tmpfs");
        assert_true(json_get(r.out, (unsigned) i, "provider", buf, sizeof(buf)));
        assert_string_equal(buf, "null");
        assert_true(json_get(r.out, (unsigned) i, "why", buf, sizeof(buf)));
        assert_non_null(strstr(buf, "not btrfs"));
        if (image_registered)
                assert_non_null(strstr(buf, "not on a loop device"));
        run_done(&r);

        r = vssadmin("--socket", plain.socket_path, "list", "volumes", NULL);
        assert_int_equal(r.status, 0);
        snprintf(buf, sizeof(buf), "Volume path: %s\n   Filesystem: tmpfs on tmpfs\n   Provider: none: not btrfs", tmpfs);
        assert_non_null(strstr(r.out, buf));
        snprintf(buf, sizeof(buf), "Volume path: %s\n   Filesystem: btrfs on %s\n   Provider: 'btrfs' {", btrfs.mnt,
                 btrfs.loop_path);
        assert_non_null(strstr(r.out, buf));
        run_done(&r);

        assert_int_equal(umount(tmpfs), 0);
        vssd_fixture_done(&plain);
        assert_int_equal(loop_btrfs_teardown(&btrfs), 0);
        /* vssd_fixture_init pointed VSS_SOCKET at the fixture just ended: back to the suite's. */
        assert_int_equal(setenv("VSS_SOCKET", vssd.socket_path, 1), 0);
}

static void test_unreachable(void **state) {
        Run r;

        assert_int_equal(vssd_fixture_stop(&vssd), 0);

        /* The tools' one wording for this condition, with its remedy (docs/exit-codes.md). */
        r = vssadmin("list", "shadows", NULL);
        assert_int_equal(r.status, 3);
        assert_non_null(strstr(r.err, "vssadmin: vssd is not running: start it with `systemctl start vssd.socket`"));
        assert_non_null(strstr(r.err, "VSS_E_WRITER_INFRASTRUCTURE"));
        run_done(&r);
        r = vssadmin("create", "shadow", "--for", volume, NULL);
        assert_int_equal(r.status, 3);
        assert_non_null(strstr(r.err, "vssadmin: vssd is not running: start it with `systemctl start vssd.socket`"));
        run_done(&r);

        assert_int_equal(vssd_fixture_start(&vssd), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_usage),
                cmocka_unit_test(test_list_providers_and_writers),
                cmocka_unit_test(test_list_volumes),
                cmocka_unit_test(test_create_list_expose_delete),
                cmocka_unit_test(test_limit_and_writer_failure),
                cmocka_unit_test(test_missing_shadow),
                cmocka_unit_test(test_unreachable),
        };

        if (geteuid() != 0) {
                fprintf(stderr, "test-vssadmin needs root (it exposes snapshots with mounts); skipping.\n");
                return 77;
        }
        if (!getenv("VSSADMIN") || !getenv("VSSD")) {
                fprintf(stderr, "VSSADMIN and VSSD must name the built programs.\n");
                return 77;
        }
        return cmocka_run_group_tests(tests, setup, teardown);
}
