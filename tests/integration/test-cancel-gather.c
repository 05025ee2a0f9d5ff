/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-cancel-gather.c: IVssAsync::Cancel of a pending GatherWriterMetadata (vss-semantics
 * §5). One writer sits in OnIdentify for 5 s. Cancelling while it does so succeeds (S_OK),
 * the operation then reports VSS_S_ASYNC_CANCELLED, and it does so without waiting for that
 * writer: when the cancelled operation has ended the writer is still inside OnIdentify.
 * A second cancel says VSS_S_ASYNC_CANCELLED. Cancelling an operation that already finished
 * returns VSS_S_ASYNC_FINISHED and leaves its result intact.
 */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "macro.h"

typedef struct Fixture {
        Harness *h;
        TestWriter *hung, *fine;
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof *f);
        const char *hung_args[] = { "--hang", "identify:5000", NULL };

        assert_non_null(f);
        assert_ok0(harness_new(NULL, &f->h));
        assert_ok0(harness_add_writer(f->h, "hung", hung_args, &f->hung));
        assert_ok0(harness_add_writer(f->h, "fine", NULL, &f->fine));
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;

        if (f) {
                harness_free(f->h);
                free(f);
        }
        return 0;
}

static void test_cancel_pending_gather(void **state) {
        Fixture *f = *state;
        vss_hr result = S_OK;
        vss_async *a = NULL;
        vss_requester *r;

        r = requester_new_checked();
        assert_non_null(r);
        assert_hr(vss_requester_initialize_for_backup(r, NULL), S_OK);
        assert_hr(vss_requester_gather_writer_metadata(r, &a), S_OK);
        assert_non_null(a);

        assert_ok0(writer_log_wait(f->hung, "begin=Identify", 1));
        assert_hr(vss_async_query_status(a, &result), S_OK);
        assert_hr(result, VSS_S_ASYNC_PENDING);

        assert_hr(vss_async_cancel(a), S_OK);
        assert_hr(vss_async_wait(a, VSS_INFINITE), S_OK);
        assert_hr(vss_async_query_status(a, &result), S_OK);
        assert_hr(result, VSS_S_ASYNC_CANCELLED);
        /* The operation ended while the hung writer was still in OnIdentify. */
        assert_int_equal(writer_log_count(f->hung, "event=Identify"), 0);

        assert_hr(vss_async_cancel(a), VSS_S_ASYNC_CANCELLED);
        vss_async_release(a);
        vss_requester_release(r);
        assert_true(harness_vssd_alive(f->h));
}

static void test_cancel_after_finish(void **state) {
        Fixture *f = *state;
        unsigned count = 0;
        vss_hr result = S_OK;
        vss_async *a = NULL;
        vss_requester *r;
        vss_examine_writer_metadata *m = NULL;
        vss_id instance_id;

        r = requester_new_checked();
        assert_non_null(r);
        assert_hr(vss_requester_initialize_for_backup(r, NULL), S_OK);
        /* Leave the slow writer out, so this gather finishes at once. */
        assert_hr(vss_requester_disable_writer_instances(r, &f->hung->instance_id, 1), S_OK);
        assert_hr(vss_requester_gather_writer_metadata(r, &a), S_OK);
        assert_hr(vss_async_wait(a, VSS_INFINITE), S_OK);
        assert_hr(vss_async_query_status(a, &result), S_OK);
        assert_hr(result, VSS_S_ASYNC_FINISHED);

        assert_hr(vss_async_cancel(a), VSS_S_ASYNC_FINISHED);
        assert_hr(vss_async_query_status(a, &result), S_OK);
        assert_hr(result, VSS_S_ASYNC_FINISHED);
        vss_async_release(a);

        assert_hr(vss_requester_get_writer_metadata_count(r, &count), S_OK);
        assert_int_equal(count, 1);
        assert_hr(vss_requester_get_writer_metadata(r, 0, &instance_id, &m), S_OK);
        assert_true(vss_id_equal(&instance_id, &f->fine->instance_id));
        vss_requester_release(r);
        assert_true(harness_vssd_alive(f->h));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_cancel_pending_gather, setup, teardown),
                cmocka_unit_test_setup_teardown(test_cancel_after_finish, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
