/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-oom: the requester's asynchronous calls report E_OUTOFMEMORY, as seeds 000
 * (BackupComplete) and 001 (DoSnapshotSet) list, when the caller runs out of memory, and
 * lose nothing: no async handle leaks out, nothing reaches vssd, and the same requester works
 * again once memory is back.
 *
 * How: this executable replaces malloc, calloc and realloc (glibc supports replacing them;
 * libvss.so's calls and libc's own internal ones then come here). Allocations fail only on
 * the thread that armed the failure, so libvss's I/O thread and the fake vssd keep working,
 * exactly as when one thread of a real program meets an allocation failure.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "fake-vssd.h"
#include "vss/vss.h"

static _Thread_local bool fail_allocations;

#if !defined(__SANITIZE_ADDRESS__)
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);

/* Exported explicitly: the project builds with -fvisibility=hidden, and a hidden definition
 * would not interpose the one libvss.so and libc resolve. */
#define EXPORTED __attribute__((visibility("default")))

EXPORTED void *malloc(size_t size) {
        if (fail_allocations) {
                errno = ENOMEM;
                return NULL;
        }
        return __libc_malloc(size);
}

EXPORTED void *calloc(size_t n, size_t size) {
        if (fail_allocations) {
                errno = ENOMEM;
                return NULL;
        }
        return __libc_calloc(n, size);
}

EXPORTED void *realloc(void *p, size_t size) {
        if (fail_allocations) {
                errno = ENOMEM;
                return NULL;
        }
        return __libc_realloc(p, size);
}
#endif /* !__SANITIZE_ADDRESS__ */

typedef vss_hr (*async_call_t)(vss_requester *r, vss_async **ret_async);

typedef struct Fixture {
        FakeVssd *fake;
        vss_requester *requester;
} Fixture;

static int setup(void **state) {
        vss_requester_options opts = VSS_REQUESTER_OPTIONS_INIT;
        Fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        f->fake = fake_vssd_new();
        assert_non_null(f->fake);
        fake_vssd_set_deferred_mode(f->fake, FAKE_DEFERRED_ANSWER);
        opts.socket_path = fake_vssd_socket_path(f->fake);
        assert_int_equal(vss_requester_new(&f->requester, &opts), S_OK);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;

        vss_requester_release(f->requester);
        fake_vssd_free(f->fake);
        free(f);
        return 0;
}

/* Out of memory: E_OUTOFMEMORY, *ret_async untouched, no call sent; then it works again. */
static void check_async_call_oom(Fixture *f, async_call_t call) {
        vss_async *a = (vss_async *) 0x1;
        unsigned calls_before = fake_vssd_requester_calls(f->fake);
        vss_hr hr, result;

        fail_allocations = true;
        hr = call(f->requester, &a);
        fail_allocations = false;

        assert_int_equal(hr, E_OUTOFMEMORY);
        assert_ptr_equal(a, (vss_async *) 0x1);
        assert_int_equal(fake_vssd_requester_calls(f->fake), calls_before);

        a = NULL;
        assert_int_equal(call(f->requester, &a), S_OK);
        assert_non_null(a);
        assert_int_equal(vss_async_wait(a, VSS_INFINITE), S_OK);
        assert_int_equal(vss_async_query_status(a, &result), S_OK);
        assert_int_equal(result, VSS_S_ASYNC_FINISHED);
        vss_async_release(a);
}

static void test_do_snapshot_set_oom(void **state) {
        check_async_call_oom(*state, vss_requester_do_snapshot_set);
}

static void test_backup_complete_oom(void **state) {
        check_async_call_oom(*state, vss_requester_backup_complete);
}

static void test_prepare_for_backup_oom(void **state) {
        check_async_call_oom(*state, vss_requester_prepare_for_backup);
}

int main(void) {
#if defined(__SANITIZE_ADDRESS__)
        /* AddressSanitizer owns malloc; replacing it underneath is not possible there. The
         * regular build (the one CI runs) executes this test. */
        fprintf(stderr, "test-oom: replacing malloc is incompatible with AddressSanitizer\n");
        return 77;
#endif
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_do_snapshot_set_oom, setup, teardown),
                cmocka_unit_test_setup_teardown(test_backup_complete_oom, setup, teardown),
                cmocka_unit_test_setup_teardown(test_prepare_for_backup_oom, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
