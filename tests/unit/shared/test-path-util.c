/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-path-util: path_is_under(), the requesters' "is this file on that volume" and the
 * providers' "is this path reached through that mount": whole components only, the directory
 * itself included, "/" holding every absolute path.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "path-util.h"

static void test_path_is_under(void **state) {
        assert_true(path_is_under("/srv/db", "/srv/db"));
        assert_true(path_is_under("/srv/db/a/b", "/srv/db"));
        assert_true(path_is_under("/srv/db/", "/srv/db"));
        assert_false(path_is_under("/srv/dbx", "/srv/db"));
        assert_false(path_is_under("/srv/d", "/srv/db"));
        assert_false(path_is_under("/srv", "/srv/db"));
        assert_false(path_is_under("/other/srv/db", "/srv/db"));
        assert_true(path_is_under("/", "/"));
        assert_true(path_is_under("/anything/at/all", "/"));
        assert_false(path_is_under("relative", "/"));
        /* Relative with relative: how the btrfs provider tells its snapshot area's subvolumes. */
        assert_true(path_is_under(".vss-snapshots/1234", ".vss-snapshots"));
        assert_false(path_is_under(".vss-snapshots-old/1234", ".vss-snapshots"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_path_is_under),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
