/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * guardian-client.h: the freeze guardian's protocol names and vssd's side of it.
 *
 * Filesystem freezes (FIFREEZE) belong to no file descriptor: a freezer that dies leaves the
 * filesystem frozen. So vssd never freezes anything itself; a small dedicated process,
 * vss-guardian (src/guardian), holds the freezes and thaws them at its deadline, when vssd's
 * end of their socketpair closes (vssd died), on SIGTERM/SIGINT/SIGHUP and at exit. Should the
 * guardian itself die, stop or hang mid-hold, vssd thaws (guardian_freeze).
 *
 * The two talk D-Bus peer to peer over a socketpair (the guardian is the server):
 *
 *   object    /org/vsslinux/VSS1/Guardian
 *   interface org.vsslinux.VSS1.Guardian
 *     Freeze(as mount_paths, u deadline_ms) -> ()
 *         freezes every filesystem in the given order and holds them for at most deadline_ms
 *         (0: GUARDIAN_DEFAULT_DEADLINE_MS). On any failure those already frozen are thawed
 *         again, in reverse order. Errors (VSS names, vss-bus.h scheme): VSS_E_BAD_STATE (a
 *         hold is already active), E_INVALIDARG (no path, more than GUARDIAN_MAX_PATHS,
 *         relative or over-long path, deadline over GUARDIAN_MAX_DEADLINE_MS),
 *         VSS_E_FLUSH_WRITES_TIMEOUT (FIFREEZE failed or freezing outran the deadline),
 *         otherwise the errno of opening a path or of FIFREEZE via vss_hr_from_errno
 *         (E_ACCESSDENIED, VSS_E_OBJECT_NOT_FOUND, VSS_E_VOLUME_NOT_SUPPORTED).
 *     Suspend(as mount_paths, u deadline_ms) -> ()
 *         the same hold made with device-mapper: suspends the dm device under each filesystem
 *         (lockfs: the kernel freezes the filesystem through freeze_bdev) instead of
 *         FIFREEZE, for the LVM provider, whose lvcreate refuses a FIFREEZE'd origin on Linux
 *         6.1 (docs/providers.md). Errors as Freeze's, and VSS_E_VOLUME_NOT_SUPPORTED (a path
 *         not on a dm device), VSS_E_FLUSH_WRITES_TIMEOUT (a device someone else suspended:
 *         it is never ours to resume, or the suspend failed).
 *     Thaw() -> (b all_thawed_in_time)
 *         thaws everything this guardian froze, in reverse order. true: every filesystem was
 *         still frozen by us and is thawed now (or nothing was held); false: someone else
 *         thawed one meanwhile, so the hold was broken. Fails with VSS_E_HOLD_WRITES_TIMEOUT
 *         when the deadline fired first (the guardian had thawed by itself). A dm hold is
 *         resumed device by device where still suspended: an lvcreate of the hold resumes
 *         its own origin, which is no broken hold, so only a failed resume answers false.
 *     signal HoldExpired()
 *         sent when the deadline fires and the guardian thaws by itself.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vss/vss-common.h"

#define GUARDIAN_BUS_PATH              "/org/vsslinux/VSS1/Guardian"
#define GUARDIAN_BUS_IFACE             "org.vsslinux.VSS1.Guardian"

#define GUARDIAN_DEFAULT_DEADLINE_MS   10000U  /* VSS's flush-and-hold limit (vss-semantics §11) */
#define GUARDIAN_MAX_DEADLINE_MS       60000U  /* writers' Freeze->Thaw budget; no hold is longer */
#define GUARDIAN_MAX_PATHS             64U     /* == VSS_MAX_VOLUMES_PER_SET */

typedef struct Guardian Guardian;

/*
 * guardian_spawn: fork+exec exe_path ("--fd 3", one end of a new socketpair as fd 3, stdin
 * and stdout on /dev/null, stderr inherited, dies with us via PR_SET_PDEATHSIG) and wait
 * until it answers a Ping. Returns 0 and *ret (free with guardian_free), or a negative errno:
 * -EINVAL (bad arguments), -ENOENT/-EACCES (exe_path not executable), -ECHILD (it exited
 * before answering), -ETIMEDOUT. *ret untouched on failure; no child is left behind.
 */
int guardian_spawn(const char *exe_path, Guardian **ret);

/*
 * guardian_freeze: Freeze(paths[0..n), deadline_ms) through the guardian, respawning it first
 * when it died or is stopped since the last call. Returns S_OK (the hold is active until
 * guardian_thaw or the deadline), the guardian's error (see above), E_INVALIDARG for bad
 * arguments (an empty or relative path among them), the errno's code when a path cannot be
 * opened, VSS_E_FLUSH_WRITES_TIMEOUT when the guardian did not answer in time (it is then let
 * go: it thaws whatever it froze as soon as its FIFREEZE returns), or VSS_E_UNEXPECTED when it
 * could not be (re)started or died during the call.
 *
 * Every hold is watched from this call to the end of guardian_thaw by a thread of the
 * caller's, which holds its own descriptors of paths: when the guardian is killed by a signal
 * or is stopped (it is then SIGKILLed), or when deadline_ms plus a grace of 250 ms has passed
 * without a thaw, that thread FITHAWs every path itself, at once. (A guardian that exits by
 * itself has thawed first.) Whoever of the two is alive thaws.
 */
vss_hr guardian_freeze(Guardian *g, char *const *paths, size_t n, uint32_t deadline_ms);

/*
 * guardian_suspend: the same as guardian_freeze with Suspend: the dm devices under paths are
 * suspended (their filesystems frozen by the kernel) until guardian_thaw. The hold's watch
 * resumes each device still suspended, through its own /dev/mapper/control, when the
 * guardian is killed, stopped, or misses vssd's deadline. Returns what guardian_freeze does,
 * and VSS_E_VOLUME_NOT_SUPPORTED for a path on no dm device.
 */
vss_hr guardian_suspend(Guardian *g, char *const *paths, size_t n, uint32_t deadline_ms);

/*
 * guardian_thaw: Thaw() through the guardian, and the end of the hold's watch. S_OK when
 * every filesystem was held until now; VSS_E_HOLD_WRITES_TIMEOUT when the deadline (the
 * guardian's or the caller's own) fired first, someone else thawed a filesystem meanwhile, or
 * the guardian died, was stopped or did not answer while holding (then the caller thawed
 * every path itself). S_OK when nothing was held and the guardian is gone.
 * VSS_E_UNEXPECTED on other bus failures. Every path is thawed when this returns.
 */
vss_hr guardian_thaw(Guardian *g);

/* guardian_pid: the running guardian's pid, or 0 when there is none (tests, diagnostics). */
pid_t guardian_pid(const Guardian *g);

/*
 * guardian_free: closes the socket (the guardian thaws anything still held and exits), then
 * reaps the child, waiting up to a few seconds (SIGTERM after the first; SIGKILL at once for
 * a stopped one), and thaws a hold still open itself. Returns NULL. NULL ok.
 */
Guardian *guardian_free(Guardian *g);
