/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vssd-fixture.h: what the daemon-level tests of the snapshot catalog, exposure and vssadmin
 * share: a private vssd (its own socket, state and exposure directories under one temporary
 * directory) that can be killed and started again on the same state, a btrfs on a loop device
 * (from tests/common/root-harness.h), a program runner that captures stdout, stderr and the exit
 * status, and a mountinfo reader.
 *
 * Internal style: functions return 0 or a negative errno; ret_* written only on success.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "vss/vss.h"

typedef struct VssdFixture {
        char *dir;          /* the fixture's temporary directory (owned) */
        char *socket_path;  /* <dir>/vssd.sock */
        char *state_dir;    /* <dir>/state */
        char *expose_dir;   /* <dir>/exposed */
        bool test_provider;
        unsigned max_per_volume; /* 0: vssd's default */
        pid_t pid;          /* 0 when not running */
} VssdFixture;

/*
 * vssd_fixture_init: make the temporary directory (template like "/tmp/vssd-test-XXXXXX") and
 * the paths; set VSS_SOCKET for this process. Does not start vssd.
 */
int vssd_fixture_init(VssdFixture *f, const char *dir_template, bool test_provider);

/* vssd_fixture_start: start $VSSD on the fixture's paths (with --guardian $VSS_GUARDIAN_PATH when set,
 * which the image provider needs) and wait until it accepts. */
int vssd_fixture_start(VssdFixture *f);

/* vssd_fixture_kill: SIGKILL and reap (a crash). */
int vssd_fixture_kill(VssdFixture *f);

/* vssd_fixture_stop: SIGTERM, wait, reap. 0 when it exited cleanly. */
int vssd_fixture_stop(VssdFixture *f);

/* vssd_fixture_done: stop vssd if running, unmount anything left under dir, remove dir. */
void vssd_fixture_done(VssdFixture *f);

/*
 * run_capture: run argv (argv[0] a path) to its end. *ret_out / *ret_err (either may be NULL)
 * get its stdout / stderr (malloc'd, NUL-terminated); *ret_status its exit status, or
 * 128 + signal.
 */
int run_capture(char *const argv[], char **ret_out, char **ret_err, int *ret_status);

/*
 * mountinfo_options: the per-mount options ("ro,nosuid,...") of the mount at mount_point, if
 * one is there. Returns 1 and fills buf, 0 when nothing is mounted there, negative errno.
 */
int mountinfo_options(const char *mount_point, char *buf, size_t size);

/* mount_option_has: true when the comma-separated list has option. */
bool mount_option_has(const char *options, const char *option);

/*
 * make_snapshot: one writer-less backup of volume in context (a persistent or writer-less
 * context) on requester r. Returns S_OK (and the ids) or the failing step's code.
 */
vss_hr make_snapshot(vss_requester *r, vss_snapshot_context context, const char *volume, vss_id *ret_set_id,
                     vss_id *ret_snapshot_id);

/* path_exists: lstat() succeeds. */
bool path_exists(const char *path);
