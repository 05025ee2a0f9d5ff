/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * provider-util.h: what several providers need and only providers need: finding the mount a
 * path is reached through (from /proc/self/mountinfo), exposing a snapshot directory as a
 * read-only bind mount, and walking a snapshot area for query (which names count as a
 * snapshot, and when one was made). One copy here, so the btrfs, image and test-copy
 * providers cannot drift apart on how they read mountinfo, how safely they mount, or which
 * files of their areas they claim as their own.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "vss/sys/provider.h"

/* One line of /proc/self/mountinfo, unescaped. All strings owned by the entry. */
typedef struct MountEntry {
        char *mnt;      /* mount point */
        char *root;     /* root of the mount within its filesystem */
        char *fstype;
        char *source;
} MountEntry;

/* mount_entry_done: frees the strings and zeroes the entry. Cannot fail. */
void mount_entry_done(MountEntry *e);


/*
 * mount_find: the mount path (absolute) is reached through: the longest mount point that is
 * a prefix of path; of equal ones the last listed (it is mounted on top). With fstype
 * non-NULL only mounts of that type count (btrfs subvolumes have their own st_dev, so walking
 * up by device would stop at the subvolume, not at the mount).
 * Returns 0, -ENOENT when no mount matches, -ENOMEM, or -errno from reading mountinfo.
 * *ret is filled only on success; the caller ends it with mount_entry_done().
 */
int mount_find(const char *path, const char *fstype, MountEntry *ret);

/* At most this many mounts are listed (a system with more is refused rather than listed in part). */
#define MOUNT_LIST_MAX 65536u

/*
 * mount_list: every mount of /proc/self/mountinfo, in its order (parents before what is
 * mounted on them). Returns 0 with *ret (free with mount_entries_free) and *ret_n, -ENOMEM,
 * -E2BIG (over MOUNT_LIST_MAX), or -errno from reading mountinfo.
 */
int mount_list(MountEntry **ret, size_t *ret_n);

/* mount_entries_free: ends every entry and frees the array. NULL ok. */
void mount_entries_free(MountEntry *entries, size_t n);

/*
 * Mounting snapshots: the ONE way vssd and its providers mount a snapshot read-only and take
 * such a mount away again. Every provider's expose op, and any tool-facing mount of a
 * snapshot, goes through provider_mount_ro(); every unmount of such a mount goes through
 * mount_locate() + mount_handle_unmount() (or the provider's unexpose op called with
 * mount_handle_target()). The contract, whoever calls:
 *
 *   - Targets are resolved without following a symlink or a magic link anywhere in the path
 *     (path_open_nofollow: openat2 RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS, Linux >= 5.6,
 *     older than the mount API this needs anyway) and mounted on through the descriptor
 *     (move_mount to the fd), so the directory checked is the directory mounted on, whatever
 *     is renamed meanwhile.
 *   - The mount is made detached with all its flags (read-only, nosuid, nodev, noexec,
 *     noatime) set before it is attached: it is never writable or set-id capable for an
 *     instant.
 *   - What is mounted is remembered by its kernel mount id (MountRef), not by its path. A path
 *     is where a mount was, not where it is: an unprivileged owner of any ancestor directory
 *     can rename it away and put something else, or a symlink, in its place.
 *   - An unmount first finds the mount by that id: at the recorded path if the mount there
 *     has the id, else wherever /proc/self/mountinfo says the id is now, and checks the id
 *     again on the descriptor of the directory holding it. It then unmounts
 *     "/proc/self/fd/<parent>/<name>", a path that cannot be redirected: the parent is pinned
 *     by the descriptor, and a mount point cannot be renamed or removed while mounted on, so
 *     <name> stays the mount that was checked. A mount that exists but cannot be reached that
 *     way is reported, never treated as gone.
 */

/* MountRef: the mount vssd made, as the kernel names it. */
typedef struct MountRef {
        uint64_t id;            /* mountinfo's id (statx STATX_MNT_ID): reused after an unmount; 0 unknown */
        uint64_t unique_id;     /* statx STATX_MNT_ID_UNIQUE (Linux >= 6.8), never reused in a boot; 0 unknown */
        char boot_id[40];       /* the boot both ids belong to (/proc/sys/kernel/random/boot_id); "" unknown */
} MountRef;

/* mount_ref_is_set: whether ref names a mount (its id is known). */
bool mount_ref_is_set(const MountRef *ref);

/*
 * mount_ref_read: the ids of the mount whose root is name in directory dirfd (name NULL or
 * "": dirfd itself), looked up without following a symlink, with the current boot id.
 * Returns 0, -EMEDIUMTYPE when name is not the root of a mount, or -errno.
 */
int mount_ref_read(int dirfd, const char *name, MountRef *ret);

/*
 * path_open_nofollow: open the absolute path (flags for the last component: O_PATH or
 * O_RDONLY, with O_DIRECTORY when wanted) without following a symlink or magic link anywhere
 * in it, and without "." or ".." components. Returns the fd or -ELOOP (a symlink on the way),
 * -EINVAL (not an absolute clean path), -ENOENT, -ENOTDIR, -errno.
 */
int path_open_nofollow(const char *path, int flags);

/*
 * path_open_parent_nofollow: the directory holding the absolute path (resolved as above) in
 * *ret_fd (O_PATH) and a copy of its last component in *ret_name. Errors as
 * path_open_nofollow; "/" itself has no parent (-EINVAL).
 */
int path_open_parent_nofollow(const char *path, int *ret_fd, char **ret_name);

/*
 * provider_mount_ro: mount source read-only, nosuid, nodev, noexec, noatime on the directory
 * target_fd (any descriptor of it, normally one from path_open_nofollow). fstype NULL: source
 * is a directory, bind-mounted (not recursively; its final component is not followed);
 * otherwise a new mount of fstype with source as its "source" parameter and options, a
 * comma-separated list of fsconfig flags and key=value pairs (NULL: none). The mount is built
 * detached with its flags set before it is attached (new mount API, Linux >= 5.12); with
 * ret non-NULL its ids are read on the detached mount and written to *ret before it is
 * attached. Returns 0 or -errno (-ENOSYS where the kernel lacks the API: never falls back to
 * mount(2) on a path).
 */
int provider_mount_ro(const char *source, const char *fstype, const char *options, int target_fd, MountRef *ret);

/*
 * provider_expose_bind: the expose op for providers whose snapshot (s->device) is a
 * directory: provider_mount_ro(s->device, NULL, NULL, target_fd).
 */
vss_hr provider_expose_bind(const ProviderSnapshot *s, int target_fd, const char *target_path);

/*
 * provider_unexpose_umount: the unexpose op matching provider_expose_bind (and any plain
 * mount): target is what vssd passes, mount_handle_target() of a located mount, and is
 * unmounted as it is (its last component not followed). VSS_E_VOLUME_IN_USE when busy, S_OK
 * when target is not (or no longer) a mount point.
 */
vss_hr provider_unexpose_umount(const ProviderSnapshot *s, const char *target);

/*
 * provider_umount_path: for a mount made with provider_mount_ro at a path a tool chose, with
 * no id recorded: unmount what is mounted at path, resolved without following a symlink
 * anywhere (nor in its last component), through its parent's descriptor. Returns 0 (also when
 * nothing is mounted there), -EBUSY when busy and not lazy, -ELOOP, or -errno. vssd's own
 * exposures never use this: they are found by id (mount_locate).
 */
int provider_umount_path(const char *path, bool lazy);

/* A mount found by mount_locate(): held through the directory it is mounted in. */
typedef struct MountHandle {
        int parent_fd;          /* O_PATH descriptor of the directory holding the mount point */
        char *name;             /* the mount point's name in it */
        char *path;             /* where the mount is now, absolute (for messages) */
        char *target;           /* "/proc/self/fd/<parent_fd>/<name>" (mount_handle_target) */
        bool moved;             /* not at the path it was looked for at */
} MountHandle;

#define MOUNT_HANDLE_NULL ((MountHandle) { .parent_fd = -EBADF })

/* mount_handle_done: closes and frees; the handle can be reused. Cannot fail. */
void mount_handle_done(MountHandle *h);

/*
 * mount_locate: find the mount ref names: first at path (absolute, resolved without
 * following symlinks), else wherever /proc/self/mountinfo lists its id, checking the ids on
 * the descriptor each time (a mount that reused the id is not it). Returns 1 with *ret filled
 * (ret->moved when not at path), 0 when the mount no longer exists (not in this namespace,
 * or ref is of an earlier boot), -EUCLEAN when it exists but could not be reached without
 * following a symlink or is covered by another mount (tried a few times against renames),
 * -EINVAL when ref is not set, or -errno.
 */
int mount_locate(const char *path, const MountRef *ref, MountHandle *ret);

/*
 * mount_adopt: for a mount recorded without ids (by an older vssd, or a crash between mount
 * and record): is the mount at path (resolved without symlinks) provably the bind mount of
 * the directory device, its root the same inode? Returns 1 with its ids in *ret, 0 when
 * nothing is mounted at path, -EPERM when something is but it cannot be shown to be
 * device's, -errno when path cannot be resolved.
 */
int mount_adopt(const char *path, const char *device, MountRef *ret);

/*
 * mount_handle_target: "/proc/self/fd/<parent>/<name>": the located mount's path for
 * umount2() or a provider's unexpose op, valid while h is. Not redirectable (see above).
 */
const char *mount_handle_target(const MountHandle *h);

/*
 * mount_handle_unmount: unmount the located mount (lazily: MNT_DETACH). Returns 0 (also when
 * it is already gone), -EBUSY when busy and not lazy, or -errno.
 */
int mount_handle_unmount(const MountHandle *h, bool lazy);

/*
 * mount_handle_remove_dir: remove the (now empty) mount point directory itself. 0 or -errno.
 */
int mount_handle_remove_dir(const MountHandle *h);

/*
 * provider_flush_volumes: syncfs every volume of snaps, for end_prepare: dirty data is written
 * while writers still run, so the commit inside the freeze window has little to flush.
 * Returns S_OK, VSS_E_INSUFFICIENT_STORAGE on ENOSPC/EDQUOT, VSS_E_PROVIDER_VETO on another
 * flush failure (logged under provider_name), or the mapped open() error.
 */
vss_hr provider_flush_volumes(const char *provider_name, ProviderSnapshot *const *snaps, size_t n);

/*
 * The flush-and-hold of providers whose commit needs the set's filesystems frozen (image: the
 * FICLONEs; ZFS: the lzc_snapshot of a zvol, which does not freeze the filesystem on it). One
 * copy, so every such provider starts, configures and drives vss-guardian the same way:
 *
 *   provider_hold_init      at construction: the guardian's path (ProviderConfig, else
 *                           $VSS_GUARDIAN, else the installed one) and the hold's deadline
 *   provider_hold_prepare   in end_prepare: starts the guardian (its fork+exec stays out of
 *                           the writers' freeze window) and freezes and thaws the volumes once
 *                           (prefreeze), so the journal checkpoint a first FIFREEZE does is not
 *                           paid inside the hold, and a volume that cannot be frozen is found
 *                           before any writer is asked to freeze
 *   provider_hold_begin     in commit: every volume of the set frozen, one deadline
 *   provider_hold_end       right after the point-in-time copies: thaw, and how long it held
 *
 * Between begin and end the caller makes its copies and nothing else: no logging, no file I/O,
 * no fork, no path allocation on the frozen filesystems (guardian-client.h says who thaws when
 * anyone dies).
 */
typedef struct Guardian Guardian;

typedef struct ProviderHold {
        const char *provider_name;   /* for log lines (static string) */
        char *guardian_exe;          /* checked executable at init */
        uint32_t deadline_ms;        /* the hold's deadline (ProviderConfig.hold_timeout_ms) */
        uint32_t test_delay_ms;      /* test only (ProviderConfig.test_hold_delay_ms), 0 in production */
        Guardian *guardian;          /* started on first use, kept until provider_hold_done */
        uint64_t begin_usec;         /* CLOCK_MONOTONIC at the last provider_hold_begin */
        uint64_t last_usec;          /* freeze to thaw of the last hold */
} ProviderHold;

/*
 * provider_hold_init: *h configured for provider_name from config (NULL: defaults). Returns
 * S_OK, VSS_E_PROVIDER_NOT_REGISTERED when the guardian is not executable (logged; *h is then
 * unusable, provider_hold_usable false), E_INVALIDARG when config's hold timeout is over
 * GUARDIAN_MAX_DEADLINE_MS, E_OUTOFMEMORY. *h is zeroed first in every case.
 */
vss_hr provider_hold_init(ProviderHold *h, const char *provider_name, const ProviderConfig *config);

/* provider_hold_usable: whether provider_hold_init succeeded on h. */
bool provider_hold_usable(const ProviderHold *h);

/*
 * provider_hold_prepare: the guardian started if it is not, and paths[0..n) frozen and thawed
 * once (see above). S_OK, VSS_E_PROVIDER_VETO when the guardian cannot start, or the freeze's
 * failure (guardian_freeze's codes), logged.
 */
vss_hr provider_hold_prepare(ProviderHold *h, char *const *paths, size_t n);

/*
 * provider_hold_begin: freezes paths[0..n) (mount points, n <= GUARDIAN_MAX_PATHS) through the
 * guardian, starting it first if needed, with h's deadline. S_OK: the hold is on until
 * provider_hold_end (or the deadline); otherwise guardian_freeze's failure, nothing frozen.
 * Logs nothing on success.
 */
vss_hr provider_hold_begin(ProviderHold *h, char *const *paths, size_t n);

/*
 * provider_hold_end: thaws what provider_hold_begin froze, after the test-only delay when
 * copies_made (a test acts inside the hold), and sets h->last_usec. S_OK when the hold lasted
 * to here; VSS_E_HOLD_WRITES_TIMEOUT when it broke first (guardian_thaw): the copies made
 * inside are then not a point in time and must be discarded. Every path is thawed on return.
 */
vss_hr provider_hold_end(ProviderHold *h, bool copies_made);

/* provider_hold_done: stops the guardian (thawing anything still held) and frees h's strings.
 * NULL-safe, idempotent. */
void provider_hold_done(ProviderHold *h);

/*
 * provider_area_visible: whether the directory holding device (a snapshot's absolute path) is
 * there to look into, on a filesystem of type fs_magic (statfs f_type; 0: any). get_properties
 * may call a copy "gone" only then: an unmounted filesystem hides its snapshots, it does not
 * delete them. Returns S_OK, or VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER (not visible),
 * E_INVALIDARG (not an absolute path), E_OUTOFMEMORY.
 */
vss_hr provider_area_visible(const char *device, uint32_t fs_magic);

/*
 * provider_birth_time: when the entry name of directory dirfd (not followed if a symlink)
 * was made, as a vss_timestamp: statx's birth time where the filesystem records one (btrfs,
 * XFS, ext4), else its modification time. Returns 0 or negative errno; *ret written only on
 * success.
 */
int provider_birth_time(int dirfd, const char *name, vss_timestamp *ret);

/*
 * provider_snapshot_name_parse: whether name is exactly "<snapshot id><suffix>" the way the
 * providers name their copies (the id as vss_id_to_str writes it: 36 lower-case characters),
 * and that id in *ret (written only when true). suffix NULL or "": the bare id. Anything else
 * in an area (a user's file, a temporary name) is not a snapshot.
 */
bool provider_snapshot_name_parse(const char *name, const char *suffix, vss_id *ret);

/*
 * ProviderAreaMatch: does the entry name (its full path: path) of the area open as area_fd,
 * already named like a snapshot (id), belong to the volume being queried? match_data is
 * provider_area_query's. Returns 1 with *ret_created set (a vss_timestamp, 0 if unknown), 0
 * when it is not this volume's snapshot, or negative errno when it cannot tell (the entry is
 * then logged and left out: never listed on a guess).
 */
typedef int (*ProviderAreaMatch)(int area_fd, const char *name, const char *path, const vss_id *id,
                                 void *match_data, vss_timestamp *ret_created);

/*
 * provider_area_query: the body of a query op for providers that keep one copy per entry of
 * a directory (area): every entry named "<id><suffix>" that match accepts is passed to cb
 * with its path "<area>/<name>". An area that does not exist holds nothing (S_OK, no call).
 * Returns S_OK, the first callback failure (the walk stops there), or the mapped error of
 * opening or reading the area (logged under provider_name).
 */
vss_hr provider_area_query(const char *provider_name, const char *area, const char *suffix, ProviderAreaMatch match,
                           void *match_data, ProviderQueryCallback cb, void *userdata);

/*
 * Objects a provider makes outside a snapshot area of its own (a logical volume, a ZFS
 * snapshot) are named "vss-<snapshot id>" in their namespace, and that name is how recovery
 * finds them: query lists exactly the objects so named (then checks their origin), and nothing
 * else is ever touched. One convention for every such provider, so an administrator can tell
 * vss-linux's objects apart from their own by name alone.
 */
#define PROVIDER_OBJECT_PREFIX "vss-"
#define PROVIDER_OBJECT_NAME_MAX (sizeof(PROVIDER_OBJECT_PREFIX) + 36)

/* provider_object_name: "vss-<id>" into ret (NUL-terminated). Cannot fail. */
void provider_object_name(const vss_id *id, char ret[static PROVIDER_OBJECT_NAME_MAX]);

/* provider_object_name_parse: whether name is exactly "vss-<id>" (the id as
 * provider_snapshot_name_parse accepts it), and that id in *ret (written only when true). */
bool provider_object_name_parse(const char *name, vss_id *ret);
