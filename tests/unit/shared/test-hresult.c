/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-hresult: the result-code table. Every name round-trips, the values are the ones
 * Microsoft documents, messages exist, and errno maps as vss-bus.h promises.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hresult-table.h"
#include "macro.h"
#include "vss-bus.h"

static void test_every_name_round_trips(void **state) {
        size_t n = vss_hr_table_size();

        assert_true(n > 0);
        for (size_t i = 0; i < n; i++) {
                vss_hr hr = vss_hr_table_value(i);
                const char *name = vss_hr_name(hr);
                bool ok = false;

                assert_string_not_equal(name, "UNKNOWN_HRESULT");
                assert_int_equal(vss_hr_from_name(name, &ok), hr);
                assert_true(ok);
                assert_true(strlen(vss_hr_message(hr)) > 10);

                /* No value appears twice: the reverse lookup would be ambiguous. */
                for (size_t j = i + 1; j < n; j++)
                        assert_int_not_equal(vss_hr_table_value(j), hr);
        }
}

/*
 * Walks include/vss/vss-common.h: every code the public header defines must be in the table
 * under the macro's own name and value, and the table holds nothing the header lacks.
 */
static void test_header_matches_table(void **state) {
        const char *srcdir = getenv("VSS_TEST_SRCDIR");
        char path[4096], line[512];
        size_t seen = 0;
        FILE *f;

        if (!srcdir) {
                /* CI runs as root with every package installed: a skip there hides a gap. */
                if (getenv("CI") && strcmp(getenv("CI"), "true") == 0)
                        fail_msg("this case must run under CI=true");
                skip();
        }
        snprintf(path, sizeof(path), "%s/include/vss/vss-common.h", srcdir);
        f = fopen(path, "re");
        assert_non_null(f);

        while (fgets(line, sizeof(line), f)) {
                char name[128];
                unsigned value;
                bool ok = false;

                if (sscanf(line, " #define %127s VSS_HRESULT(0x%xu)", name, &value) != 2)
                        continue;
                print_message("%s = 0x%08X\n", name, value);
                assert_int_equal((uint32_t) vss_hr_from_name(name, &ok), value);
                assert_true(ok);
                seen++;
        }
        fclose(f);

        assert_int_equal(seen, vss_hr_table_size());
}

static void test_documented_values(void **state) {
        static const struct {
                const char *name;
                uint32_t value;
        } expected[] = {
                { "S_OK", 0x00000000u },
                { "S_FALSE", 0x00000001u },
                { "E_ACCESSDENIED", 0x80070005u },
                { "E_OUTOFMEMORY", 0x8007000Eu },
                { "E_INVALIDARG", 0x80070057u },
                { "E_UNEXPECTED", 0x8000FFFFu },
                { "VSS_S_ASYNC_PENDING", 0x00042309u },
                { "VSS_S_ASYNC_FINISHED", 0x0004230Au },
                { "VSS_S_ASYNC_CANCELLED", 0x0004230Bu },
                { "VSS_S_SOME_SNAPSHOTS_NOT_IMPORTED", 0x00042321u },
                { "VSS_E_BAD_STATE", 0x80042301u },
                { "VSS_E_UNEXPECTED", 0x80042302u },
                { "VSS_E_PROVIDER_VETO", 0x80042306u },
                { "VSS_E_OBJECT_NOT_FOUND", 0x80042308u },
                { "VSS_E_VOLUME_NOT_SUPPORTED", 0x8004230Cu },
                { "VSS_E_OBJECT_ALREADY_EXISTS", 0x8004230Du },
                { "VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER", 0x8004230Eu },
                { "VSS_E_UNEXPECTED_PROVIDER_ERROR", 0x8004230Fu },
                { "VSS_E_MAXIMUM_NUMBER_OF_VOLUMES_REACHED", 0x80042312u },
                { "VSS_E_FLUSH_WRITES_TIMEOUT", 0x80042313u },
                { "VSS_E_HOLD_WRITES_TIMEOUT", 0x80042314u },
                { "VSS_E_UNEXPECTED_WRITER_ERROR", 0x80042315u },
                { "VSS_E_SNAPSHOT_SET_IN_PROGRESS", 0x80042316u },
                { "VSS_E_MAXIMUM_NUMBER_OF_SNAPSHOTS_REACHED", 0x80042317u },
                { "VSS_E_WRITER_INFRASTRUCTURE", 0x80042318u },
                { "VSS_E_WRITER_NOT_RESPONDING", 0x80042319u },
                { "VSS_E_WRITER_ALREADY_SUBSCRIBED", 0x8004231Au },
                { "VSS_E_UNSUPPORTED_CONTEXT", 0x8004231Bu },
                { "VSS_E_INSUFFICIENT_STORAGE", 0x8004231Fu },
                { "VSS_E_SOME_SNAPSHOTS_NOT_IMPORTED", 0x80042321u },
                { "VSS_E_REBOOT_REQUIRED", 0x80042327u },
                { "VSS_E_NOT_SUPPORTED", 0x8004232Fu },
                { "VSS_E_WRITERERROR_PARTIAL_FAILURE", 0x80042336u },
                { "VSS_E_WRITERERROR_INCONSISTENTSNAPSHOT", 0x800423F0u },
                { "VSS_E_WRITERERROR_OUTOFRESOURCES", 0x800423F1u },
                { "VSS_E_WRITERERROR_TIMEOUT", 0x800423F2u },
                { "VSS_E_WRITERERROR_RETRYABLE", 0x800423F3u },
                { "VSS_E_WRITERERROR_NONRETRYABLE", 0x800423F4u },
                { "VSS_E_WRITERERROR_RECOVERY_FAILED", 0x800423F5u },
                { "VSS_E_CANNOT_REVERT_DISKID", 0x800423FEu },
                { "VSS_E_CLUSTER_ERROR", 0x80042400u },
                { "VSS_E_WRITER_STATUS_NOT_AVAILABLE", 0x80042409u },
        };

        for (size_t i = 0; i < ELEMENTSOF(expected); i++) {
                bool ok = false;

                assert_int_equal((uint32_t) vss_hr_from_name(expected[i].name, &ok), expected[i].value);
                assert_true(ok);
                assert_string_equal(vss_hr_name(VSS_HRESULT(expected[i].value)), expected[i].name);
        }
}

static void test_unknown_codes(void **state) {
        bool ok = true;

        assert_string_equal(vss_hr_name(VSS_HRESULT(0x8004DEADu)), "UNKNOWN_HRESULT");
        assert_non_null(strstr(vss_hr_message(VSS_HRESULT(0x8004DEADu)), "unknown"));
        assert_int_equal(vss_hr_from_name("VSS_E_NO_SUCH_THING", &ok), S_OK);
        assert_false(ok);
        ok = true;
        assert_int_equal(vss_hr_from_name(NULL, &ok), S_OK);
        assert_false(ok);
}

static void test_retry_advice(void **state) {
        /* vss-semantics §11: these codes carry "wait and retry" advice. */
        assert_non_null(strstr(vss_hr_message(VSS_E_PROVIDER_VETO), "retry"));
        assert_non_null(strstr(vss_hr_message(VSS_E_FLUSH_WRITES_TIMEOUT), "retry"));
        assert_non_null(strstr(vss_hr_message(VSS_E_WRITERERROR_RETRYABLE), "retry"));
        assert_non_null(strstr(vss_hr_message(VSS_E_INSUFFICIENT_STORAGE), "delete"));
        assert_non_null(strstr(vss_hr_message(VSS_E_SNAPSHOT_SET_IN_PROGRESS), "retry"));
        assert_non_null(strstr(vss_hr_message(VSS_E_REBOOT_REQUIRED), "not retry"));
}

static void test_from_errno(void **state) {
        static const struct {
                int err;
                vss_hr hr;
        } map[] = {
                { 0, S_OK },
                { ENOMEM, E_OUTOFMEMORY },
                { EACCES, E_ACCESSDENIED },
                { EPERM, E_ACCESSDENIED },
                { EINVAL, E_INVALIDARG },
                { ENOENT, VSS_E_OBJECT_NOT_FOUND },
                { ENODEV, VSS_E_OBJECT_NOT_FOUND },
                { ENOSPC, VSS_E_INSUFFICIENT_STORAGE },
                { EDQUOT, VSS_E_INSUFFICIENT_STORAGE },
                { ENOTSUP, VSS_E_VOLUME_NOT_SUPPORTED },
                { EOPNOTSUPP, VSS_E_VOLUME_NOT_SUPPORTED },
                { ENOTTY, VSS_E_VOLUME_NOT_SUPPORTED },
                { EBUSY, VSS_E_VOLUME_IN_USE },
                { EIO, VSS_E_UNEXPECTED },
                { ECONNRESET, VSS_E_UNEXPECTED },
        };

        for (size_t i = 0; i < ELEMENTSOF(map); i++) {
                assert_int_equal(vss_hr_from_errno(map[i].err), map[i].hr);
                assert_int_equal(vss_hr_from_errno(-map[i].err), map[i].hr);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_every_name_round_trips),
                cmocka_unit_test(test_header_matches_table),
                cmocka_unit_test(test_documented_values),
                cmocka_unit_test(test_unknown_codes),
                cmocka_unit_test(test_retry_advice),
                cmocka_unit_test(test_from_errno),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
