/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-id: VSS_ID parse/format (with and without braces), the bus helpers for ids, FILETIME
 * conversion and the enum names.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "vss-bus.h"

static void test_generate_format_parse(void **state) {
        char buf[VSS_ID_STRING_MAX];
        vss_id a, b, c;

        vss_id_generate(&a);
        vss_id_generate(&b);
        assert_false(vss_id_is_null(&a));
        assert_false(vss_id_equal(&a, &b));

        vss_id_format(&a, buf);
        assert_int_equal(strlen(buf), 36);
        assert_int_equal(vss_id_parse(buf, &c), S_OK);
        assert_true(vss_id_equal(&a, &c));
}

static void test_parse_forms(void **state) {
        char buf[VSS_ID_STRING_MAX];
        vss_id id, id2;

        assert_int_equal(vss_id_parse("6BA7B810-9DAD-11D1-80B4-00C04FD430C8", &id), S_OK);
        assert_string_equal(vss_id_format(&id, buf), "6ba7b810-9dad-11d1-80b4-00c04fd430c8");
        assert_int_equal(id.bytes[0], 0x6b);
        assert_int_equal(id.bytes[15], 0xc8);

        assert_int_equal(vss_id_parse("{6ba7b810-9dad-11d1-80b4-00c04fd430c8}", &id2), S_OK);
        assert_true(vss_id_equal(&id, &id2));

        id2 = VSS_ID_NULL;
        assert_int_equal(vss_id_parse(NULL, &id2), E_INVALIDARG);
        assert_int_equal(vss_id_parse("", &id2), E_INVALIDARG);
        assert_int_equal(vss_id_parse("{6ba7b810-9dad-11d1-80b4-00c04fd430c8", &id2), E_INVALIDARG);
        assert_int_equal(vss_id_parse("6ba7b810-9dad-11d1-80b4-00c04fd430cX", &id2), E_INVALIDARG);
        assert_int_equal(vss_id_parse("6ba7b810-9dad-11d1-80b4-00c04fd430c8 ", &id2), E_INVALIDARG);
        assert_int_equal(vss_id_parse("6ba7b810-9dad-11d1-80b4-00c04fd430c8", NULL), E_INVALIDARG);
        /* ret untouched on failure */
        assert_true(vss_id_is_null(&id2));
}

static void test_bus_helpers(void **state) {
        vss_id id, back;
        vss_id_str s;

        vss_id_generate(&id);
        s = vss_id_to_str(&id);
        assert_int_equal(vss_id_from_bus(s.s, &back), S_OK);
        assert_true(vss_id_equal(&id, &back));

        assert_int_equal(vss_id_from_bus("", &back), S_OK);
        assert_true(vss_id_is_null(&back));
        assert_int_equal(vss_id_from_bus(NULL, &back), S_OK);
        assert_true(vss_id_is_null(&back));
        assert_int_equal(vss_id_from_bus("garbage", &back), E_INVALIDARG);

        s = vss_id_to_str(&VSS_ID_NULL);
        assert_string_equal(s.s, "00000000-0000-0000-0000-000000000000");
}

static void test_timestamp(void **state) {
        /* 1970-01-01 is 116444736000000000 ticks after 1601-01-01. */
        assert_int_equal(vss_timestamp_from_unix_ns(0), 116444736000000000LL);
        assert_int_equal(vss_timestamp_to_unix_ns(116444736000000000LL), 0);
        /* 2001-09-09T01:46:40Z = 1e9 s */
        assert_int_equal(vss_timestamp_from_unix_ns(1000000000LL * 1000000000LL),
                         116444736000000000LL + 10000000000000000LL);
        assert_int_equal(vss_timestamp_to_unix_ns(vss_timestamp_from_unix_ns(1234567800)), 1234567800);
        /* Sub-tick precision is truncated towards the past. */
        assert_int_equal(vss_timestamp_from_unix_ns(199), 116444736000000001LL);
        assert_int_equal(vss_timestamp_from_unix_ns(-1), 116444735999999999LL);
}

static void test_enum_strings(void **state) {
        assert_string_equal(vss_writer_state_to_string(VSS_WS_STABLE), "stable");
        assert_string_equal(vss_writer_state_to_string(VSS_WS_WAITING_FOR_FREEZE), "waiting-for-freeze");
        assert_string_equal(vss_writer_state_to_string(VSS_WS_FAILED_AT_FREEZE), "failed-at-freeze");
        assert_string_equal(vss_writer_state_to_string(VSS_WS_FAILED_AT_BACKUPSHUTDOWN), "failed-at-backup-shutdown");
        assert_string_equal(vss_writer_state_to_string(VSS_WS_COUNT), "unknown");
        assert_string_equal(vss_writer_state_to_string((vss_writer_state) -3), "unknown");
        for (int s = VSS_WS_STABLE; s < VSS_WS_COUNT; s++)
                assert_string_not_equal(vss_writer_state_to_string((vss_writer_state) s), "unknown");

        assert_string_equal(vss_backup_type_to_string(VSS_BT_FULL), "full");
        assert_string_equal(vss_backup_type_to_string(VSS_BT_OTHER), "other");
        assert_string_equal(vss_backup_type_to_string((vss_backup_type) 7), "unknown");
        assert_string_equal(vss_component_type_to_string(VSS_CT_DATABASE), "database");
        assert_string_equal(vss_component_type_to_string(VSS_CT_FILEGROUP), "filegroup");
        assert_string_equal(vss_component_type_to_string((vss_component_type) 3), "unknown");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_generate_format_parse),
                cmocka_unit_test(test_parse_forms),
                cmocka_unit_test(test_bus_helpers),
                cmocka_unit_test(test_timestamp),
                cmocka_unit_test(test_enum_strings),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
