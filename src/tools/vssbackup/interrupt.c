/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * interrupt.c: Ctrl-C and SIGTERM during a backup, the VSS way.
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
 * $VSSBACKUP_TEST_PAUSE_AT=NAME makes interrupt_point(NAME) stop and wait for a signal, which
 * is how the tests interrupt a backup at each of its points without guessing at timings.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vssbackup.h"

static volatile sig_atomic_t received;

static void on_signal(int sig) {
        if (received == 0)
                received = sig;
}

void interrupt_install(void) {
        struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };

        sigemptyset(&sa.sa_mask);
        (void) sigaction(SIGINT, &sa, NULL);
        (void) sigaction(SIGTERM, &sa, NULL);
}

int interrupt_signal(void) {
        return received;
}

const char *interrupt_name(void) {
        return received == SIGINT ? "SIGINT" : received == SIGTERM ? "SIGTERM" : "a signal";
}

int interrupt_sleep_ms(unsigned ms) {
        while (ms > 0 && !received) {
                unsigned step = MIN(ms, 20U);
                struct timespec ts = { .tv_nsec = (long) step * 1000000L };

                (void) nanosleep(&ts, NULL);
                ms -= step;
        }
        return received ? -EINTR : 0;
}

int interrupt_point(const char *name) {
        const char *pause_at = getenv("VSSBACKUP_TEST_PAUSE_AT");

        if (!received && pause_at && streq(pause_at, name)) {
                fprintf(stderr, "vssbackup: paused at %s\n", name);
                fflush(stderr);
                (void) interrupt_sleep_ms(60000);
        }
        return received ? -EINTR : 0;
}

vss_hr interrupt_async_wait(vss_async *a) {
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
