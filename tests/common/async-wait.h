/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * async-wait.h: one asynchronous requester call run to its end, for the tests and benchmarks
 * that drive libvss directly (root, writers and lab tests, bench/). Header-only (a static
 * function and a macro), so a program that links root-harness.c without libvss is unaffected.
 * The integration suite has its own async_finish() (tests/integration/harness.h), which keeps
 * the handle's address for its cancel tests; this one takes the handle and releases it.
 */
#pragma once

#include <vss/vss.h>

/* async_wait_release: call_hr if the call that made a failed (a is then NULL or unused),
 * else how the operation ended (vss_async_wait_result: S_OK when it finished). Releases a
 * either way. */
static inline vss_hr async_wait_release(vss_hr call_hr, vss_async *a) {
        if (VSS_SUCCEEDED(call_hr))
                call_hr = vss_async_wait_result(a);
        vss_async_release(a);
        return call_hr;
}

/* ASYNC(vss_requester_do_snapshot_set, r): the call made, waited for and released; its result.
 * A statement expression, so the call is sequenced before _a is read. */
#define ASYNC(call, r) ({ vss_async *_a = NULL; vss_hr _hr = call((r), &_a); async_wait_release(_hr, _a); })
