/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tool-interrupt.h: a backup tool's signals and waits (tool-interrupt.c): SIGINT and SIGTERM
 * abort the backup the VSS way instead of killing the process, and StartSnapshotSet waits its
 * turn behind another snapshot set.
 */
#pragma once

#include <stdbool.h>

#include "vss/vss.h"

/* Default bound of a tool's wait for its turn (vssbackup --wait, vshadow -waitturn): 15 minutes. */
#define TOOL_DEFAULT_WAIT_S 900U

/* tool_interrupt_install: SIGINT and SIGTERM set a flag (with SA_RESTART) instead of killing us. */
void tool_interrupt_install(void);
/* tool_interrupt_signal: the first signal received, 0 when none; tool_interrupt_name: "SIGINT", "SIGTERM". */
int tool_interrupt_signal(void);
const char *tool_interrupt_name(void);
/*
 * tool_interrupt_point: a named point of a long command. With $VSS_TEST_PAUSE_AT equal to name,
 * prints "PROG: paused at NAME" on stderr and waits (at most 60 s) for a signal, so a test can
 * interrupt at that exact point. Returns -EINTR when a signal has arrived, else 0.
 */
int tool_interrupt_point(const char *name);
/*
 * tool_interrupt_async_wait: wait for a libvss operation to end, checking for a signal every
 * 100 ms; on one, cancel the operation and wait for vssd to wind it down (within its own
 * deadlines). Does not release a. Returns the operation's result (S_OK when it finished).
 */
vss_hr tool_interrupt_async_wait(vss_async *a);
/* tool_interrupt_sleep_ms: sleep, cut short by a signal. -EINTR when one arrived, else 0. */
int tool_interrupt_sleep_ms(unsigned ms);
/*
 * tool_start_snapshot_set: StartSnapshotSet, retrying VSS_E_SNAPSHOT_SET_IN_PROGRESS with a
 * pause of 0.25 s doubling to 8 s for up to wait_s seconds (one note on stderr unless quiet).
 * Returns the last result: VSS_E_SNAPSHOT_SET_IN_PROGRESS when the wait ran out (or a signal
 * cut it short: check tool_interrupt_signal()).
 */
vss_hr tool_start_snapshot_set(vss_requester *r, unsigned wait_s, bool quiet, vss_id *ret_set_id);
