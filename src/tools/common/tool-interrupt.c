/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tool-interrupt.c: Ctrl-C and SIGTERM during a backup, the VSS way, and waiting one's turn,
 * for every tool that runs a backup (vssbackup, vshadow).
 *
 * Dying on the signal would leave the writers waiting for BackupComplete until vssd notices
 * the closed connection, and a temporary directory behind. Instead the first SIGINT or SIGTERM
 * only sets a flag; the command looks at it at its named points (between VSS steps, per file
 * copied, per directory entry walked) and while it waits for vssd (every 100 ms, then it
 * cancels the operation and lets vssd wind it down within its own deadlines), and unwinds:
 * AbortBackup (the writers hear Abort), the temporary directory removed, one line saying so,
 * exit 128 + the signal. One signal is enough; more change nothing.
 *
 * The handler only stores the signal number: it may run on any thread (libvss's I/O threads
 * do not block signals), and SA_RESTART keeps the archive layer's reads and writes from seeing
 * EINTR.
 *
 * $VSS_TEST_PAUSE_AT=NAME makes tool_interrupt_point(NAME) stop and wait for a signal, which
 * is how the tests interrupt a backup at each of its points without guessing at timings.
 *
 * tool_async_result() (tool-requester.c) waits through tool_interrupt_async_wait(), so every
 * asynchronous step of every tool is cut short by a signal once tool_interrupt_install() ran;
 * without it the flag never rises and the wait is an ordinary one.
 *
 * Waiting its turn: vssd creates one snapshot set at a time; tool_start_snapshot_set() retries
 * VSS_E_SNAPSHOT_SET_IN_PROGRESS with a growing pause up to a bound, so a scheduled backup
 * that meets another one does not fail.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <stdint.h>

#include "tool-interrupt.h"
#include "tool.h"

static volatile sig_atomic_t received;

static void on_signal(int sig) {
        if (received == 0)
                received = sig;
}

void tool_interrupt_install(void) {
        struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };

        sigemptyset(&sa.sa_mask);
        (void) sigaction(SIGINT, &sa, NULL);
        (void) sigaction(SIGTERM, &sa, NULL);
}

int tool_interrupt_signal(void) {
        return received;
}

const char *tool_interrupt_name(void) {
        return received == SIGINT ? "SIGINT" : received == SIGTERM ? "SIGTERM" : "a signal";
}

int tool_interrupt_sleep_ms(unsigned ms) {
        while (ms > 0 && !received) {
                unsigned step = MIN(ms, 20U);
                struct timespec ts = { .tv_nsec = (long) step * 1000000L };

                (void) nanosleep(&ts, NULL);
                ms -= step;
        }
        return received ? -EINTR : 0;
}

int tool_interrupt_point(const char *name) {
        const char *pause_at = getenv("VSS_TEST_PAUSE_AT");

        if (!received && pause_at && streq(pause_at, name)) {
                fprintf(stderr, "%s: paused at %s\n", program_invocation_short_name, name);
                fflush(stderr);
                (void) tool_interrupt_sleep_ms(60000);
        }
        return received ? -EINTR : 0;
}

vss_hr tool_interrupt_async_wait(vss_async *a) {
        vss_hr hr, result;
        bool cancelled = false;

        for (;;) {
                hr = vss_async_wait(a, 100);
                if (hr != VSS_S_ASYNC_PENDING)
                        break;
                if (received && !cancelled) {
                        (void) vss_async_cancel(a);
                        cancelled = true;
                }
        }
        if (VSS_FAILED(hr))
                return hr;
        hr = vss_async_query_status(a, &result);
        if (VSS_FAILED(hr))
                return hr;
        return result == VSS_S_ASYNC_FINISHED ? S_OK : result;
}

static int64_t mono_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

vss_hr tool_start_snapshot_set(vss_requester *r, unsigned wait_s, bool quiet, vss_id *ret_set_id) {
        int64_t deadline = mono_ns() + (int64_t) wait_s * 1000000000LL;
        unsigned pause_ms = 250;
        bool said = false;
        vss_hr hr;

        for (;;) {
                hr = vss_requester_start_snapshot_set(r, ret_set_id);
                if (hr != VSS_E_SNAPSHOT_SET_IN_PROGRESS || mono_ns() >= deadline)
                        return hr;
                if (!said && !quiet)
                        tool_note("another snapshot set is being created: waiting up to %us for it", wait_s);
                said = true;
                if (tool_interrupt_sleep_ms(pause_ms) < 0)
                        return hr;
                pause_ms = MIN(pause_ms * 2, 8000U);
        }
}
