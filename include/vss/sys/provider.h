/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vss/sys/provider.h: the provider ABI, VSS's provider phases as a C struct of operations.
 *
 * Kept apart from the application headers (as libgit2 keeps its backends under git2/sys/):
 * requesters and writers never need it; providers and vssd do. Providers are built into vssd
 * today and registered in one table (src/providers/provider-registry.c); the struct carries a
 * version so it can be loaded from elsewhere later without changing shape.
 *
 * A provider is an object, as a libgit2 backend is: its constructor (VssProviderNewFunc)
 * returns a VssProvider that the provider embeds first in its own struct, and every op gets
 * that object back as self. Everything a provider keeps between calls (its configuration, a
 * guardian it started) lives there, never in file-level statics, so two instances (a test's
 * and vssd's, or two configurations) cannot see each other's state. vssd frees it with
 * ->free at exit.
 *
 * Ownership: vssd owns every ProviderSnapshot and its strings; a provider owns only ->data.
 * The one rule for ->data: a provider that sets it sets ->data_free with it, and
 * provider_snapshot_free (whoever frees the snapshot, whenever) frees ->data through it. A
 * provider may free ->data earlier itself (abort, delete_snapshot) and then sets it to NULL.
 * Strings a provider returns through ret_* parameters are malloc'd and become vssd's.
 *
 * vssd drives every snapshot through these phases (vss-semantics.md §11):
 *
 *   is_volume_supported   AddToSnapshotSet / IsVolumeSupported: does this provider take it?
 *   begin_prepare         AddToSnapshotSet, once per volume, after selection
 *   end_prepare           DoSnapshotSet, before writers freeze: slow work goes here
 *                         (btrfs flushes the filesystem here, so the freeze window stays short)
 *   pre_commit            writers are frozen; get ready to commit at once
 *   commit                inside the hold: make the point-in-time copy of every volume
 *   post_commit           after all commits, before writers thaw
 *   pre_final_commit      after Thaw, before PostSnapshot
 *   post_final_commit     after PostSnapshot
 *   abort                 discard prepared or committed-but-unfinished snapshots of the set
 *   delete_snapshot       remove one finished snapshot (release, DeleteSnapshots)
 *   device_path           where commit will put the snapshot (recorded before it acts)
 *   expose / unexpose     mount a finished snapshot read-only at a directory, and undo it
 *   query                 the snapshots of a volume as the provider's own storage holds them
 *                         (IVssSoftwareSnapshotProvider::Query): vssd's start-up reconciliation
 *   get_properties        does one snapshot still exist there, since when, how large
 *                         (GetSnapshotProperties): the presence Admin ListShadows reports
 *
 * Providers are built in and listed in one table (provider-registry.c). Every op returns a
 * vss_hr from the set VSS permits providers (S_OK, E_OUTOFMEMORY, E_INVALIDARG,
 * E_ACCESSDENIED, VSS_E_BAD_STATE, VSS_E_OBJECT_NOT_FOUND, VSS_E_INSUFFICIENT_STORAGE,
 * VSS_E_VOLUME_NOT_SUPPORTED, VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER,
 * VSS_E_MAXIMUM_NUMBER_OF_SNAPSHOTS_REACHED, VSS_E_PROVIDER_VETO, VSS_E_NESTED_VOLUME_LIMIT),
 * plus, from a VSS_PROVIDER_NEEDS_HOLD provider's commit, VSS_E_FLUSH_WRITES_TIMEOUT and
 * VSS_E_HOLD_WRITES_TIMEOUT (in VSS the coordinator's flush-and-hold reports these; here the
 * guardian holding the freeze is that part of the coordinator);
 * vssd turns anything else into VSS_E_UNEXPECTED_PROVIDER_ERROR (provider_hr_sanitize).
 *
 * Ops are called from vssd's event loop and must not block for long. A provider that needs
 * to freeze a filesystem does it through the guardian, never in vssd's own process.
 */
#ifndef VSS_SYS_PROVIDER_H
#define VSS_SYS_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vss/vss-common.h"

#define VSS_PROVIDER_OPS_VERSION 1

/* Capability flags. */
#define VSS_PROVIDER_ATOMIC_SET  0x1u /* commits all volumes of a set at one instant by itself */
#define VSS_PROVIDER_NEEDS_HOLD  0x2u /* the coordinator must hold writes around commit */
#define VSS_PROVIDER_TEST_ONLY   0x4u /* registered only when vssd runs with --test-provider */

/* ProviderSnapshot.flags, set by vssd before end_prepare. */
#define VSS_PROVIDER_SNAPSHOT_NO_FREEZE 0x1u /* no writer freezes around this set's commit, so
                                              * a flush in end_prepare shortens no freeze */

typedef struct ProviderConfig {
        const char *state_dir;   /* vssd's state directory (absolute), for provider-owned files */
        /* The vss-guardian executable, for providers that freeze (image). NULL: $VSS_GUARDIAN,
         * else the installed one (VSS_LIBEXECDIR/vss-guardian). */
        const char *guardian_path;
        /* Test only: extra time the hold is kept, so tests can act inside it; 0 in production.
         * vssd sets it only with --test-provider. */
        uint32_t test_hold_delay_ms;
        /* The deadline of a hold (flush-and-hold): a provider's freeze that lasts longer is
         * thawed by the guardian and the set fails with VSS_E_HOLD_WRITES_TIMEOUT.
         * 0: the default, 10 s (GUARDIAN_DEFAULT_DEADLINE_MS). */
        uint32_t hold_timeout_ms;
        /* The LVM provider's policy (vssd.conf lvm-cow-percent, lvm-thin-pool-limit): a classic
         * snapshot's COW area in percent of its origin, and the fill (percent) of a thin pool
         * at which thin snapshots are refused. 0: the provider's default (20, 90). */
        unsigned lvm_cow_percent;
        unsigned lvm_thin_pool_limit;
} ProviderConfig;

/* One snapshot of one volume, from begin_prepare until deletion. Owned by vssd. */
typedef struct ProviderSnapshot {
        vss_id snapshot_id;
        vss_id snapshot_set_id;
        char *volume;            /* canonical original volume path (from is_volume_supported) */
        char *device;            /* set by commit: path of the read-only point-in-time copy */
        vss_snapshot_state state;
        void *data;              /* provider-private (see Ownership above) */
        void (*data_free)(void *data); /* set with ->data; provider_snapshot_free calls it */
        uint32_t flags;          /* VSS_PROVIDER_SNAPSHOT_*; read-only for the provider */
} ProviderSnapshot;

/*
 * ProviderQueryCallback: called by query once per snapshot found. snapshot_id and device_path
 * are borrowed for the duration of the call only (copy what you keep). creation_time is a
 * vss_timestamp from the provider's storage (0 when it cannot tell). Return S_OK to go on; any
 * other code stops the enumeration and query returns it unchanged.
 */
typedef vss_hr (*ProviderQueryCallback)(const vss_id *snapshot_id, const char *device_path,
                                        vss_timestamp creation_time, void *userdata);

/* What get_properties learns about one snapshot from the provider's storage. */
typedef struct ProviderSnapshotProperties {
        bool present;                /* the point-in-time copy exists where s->device says */
        vss_timestamp creation_time; /* when it was made, from the storage; 0: absent or unknown */
        uint64_t size;               /* bytes the copy presents (an image clone: its length); 0: unknown */
} ProviderSnapshotProperties;

typedef struct VssProvider VssProvider;

struct VssProvider {
        unsigned version;        /* VSS_PROVIDER_OPS_VERSION */
        const char *name;        /* short name: "btrfs", "test-copy" */
        const char *id;          /* provider id, 36-char UUID string, fixed forever */
        vss_provider_type type;
        const char *version_string;
        unsigned flags;          /* VSS_PROVIDER_* */

        /* Destroys the instance the constructor made (and whatever it holds, e.g. a guardian).
         * Required. Snapshots' ->data must have been released by then. */
        void (*free)(VssProvider *self);

        /*
         * Does this provider support volume (an absolute path as the requester gave it)?
         * S_OK with *ret_canonical (malloc'd, the canonical volume path) if so;
         * VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER if the path exists but is not ours;
         * VSS_E_OBJECT_NOT_FOUND if the path does not exist.
         */
        vss_hr (*is_volume_supported)(VssProvider *self, const char *volume, char **ret_canonical);

        vss_hr (*begin_prepare)(VssProvider *self, ProviderSnapshot *s);
        vss_hr (*end_prepare)(VssProvider *self, ProviderSnapshot *const *snaps, size_t n);
        vss_hr (*pre_commit)(VssProvider *self, ProviderSnapshot *const *snaps, size_t n);
        vss_hr (*commit)(VssProvider *self, ProviderSnapshot *const *snaps, size_t n);
        vss_hr (*post_commit)(VssProvider *self, ProviderSnapshot *const *snaps, size_t n);
        vss_hr (*pre_final_commit)(VssProvider *self, ProviderSnapshot *const *snaps, size_t n);
        vss_hr (*post_final_commit)(VssProvider *self, ProviderSnapshot *const *snaps, size_t n);
        /* Must succeed as far as it can; discards whatever each snapshot has become. */
        vss_hr (*abort)(VssProvider *self, ProviderSnapshot *const *snaps, size_t n);
        /* VSS_E_OBJECT_NOT_FOUND when the copy was already gone (deleted behind vssd's back):
         * ->data is freed all the same, as on S_OK. A snapshot never committed also gives
         * VSS_E_OBJECT_NOT_FOUND, ->data then left for abort. */
        vss_hr (*delete_snapshot)(VssProvider *self, ProviderSnapshot *s);

        /*
         * Appended for the persistent catalog and exposure; all three optional (NULL: not
         * supported). Still VSS_PROVIDER_OPS_VERSION 1: a table that ends before them reads them
         * as NULL.
         *
         * device_path: the path commit WILL give s->device, known from begin_prepare on.
         * vssd records it before the provider acts, so a crash between the provider's commit and
         * vssd's record leaves a catalog row naming the copy, and the next start deletes it with
         * delete_snapshot (s->device = that path, s->data = NULL). S_OK with *ret_path
         * (malloc'd), or a permitted provider code.
         */
        vss_hr (*device_path)(VssProvider *self, const ProviderSnapshot *s, char **ret_path);
        /*
         * expose: make the finished snapshot s (s->device set; s->data may be NULL for a
         * snapshot known only from the catalog) readable at the existing empty directory
         * target_fd (an O_PATH descriptor vssd opened and checked), whose path is target_path:
         * read-only, nosuid, nodev, noexec, noatime. Attach the mount through the descriptor
         * (move_mount(..., target_fd, "", MOVE_MOUNT_T_EMPTY_PATH)) so a path swapped meanwhile
         * cannot redirect it. Returns S_OK or a permitted provider code.
         */
        vss_hr (*expose)(VssProvider *self, const ProviderSnapshot *s, int target_fd, const char *target_path);
        /*
         * unexpose: remove the exposure at target, a path vssd resolved and checked to be this
         * exposure's mount ("/proc/self/fd/<dir>/<name>", provider-util.h): unmount exactly it
         * (UMOUNT_NOFOLLOW), never a path of one's own. May return VSS_E_VOLUME_IN_USE (the
         * mount is busy), which vssd passes through unsanitized; anything else as for other ops.
         */
        vss_hr (*unexpose)(VssProvider *self, const ProviderSnapshot *s, const char *target);

        /*
         * Appended for start-up reconciliation and presence reporting; both optional (NULL:
         * vssd skips the provider in reconciliation and reports its snapshots' presence as
         * unknown). Still VSS_PROVIDER_OPS_VERSION 1: a table that ends before them reads them
         * as NULL.
         *
         * query: enumerate, from the provider's OWN storage (never from vssd's catalog), every
         * finished snapshot it holds of volume (a canonical volume path, as is_volume_supported
         * returned it), calling cb once for each, in no particular order. Only snapshots the
         * provider can prove were made of this volume are listed (a sibling volume's, or a
         * copy whose origin is unknown, never are: vssd deletes what query lists and its catalog
         * does not know). Returns S_OK once every snapshot was reported (none: S_OK without a
         * call), the code a callback returned, or a failure when the provider cannot answer:
         * VSS_E_OBJECT_NOT_FOUND (volume does not exist), VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER
         * (no longer a volume of this provider, e.g. not mounted yet), VSS_E_BAD_STATE (not
         * initialised), or a mapped errno. After a failure vssd concludes nothing. Reads only;
         * may block briefly on the filesystem (called at start-up and from Admin calls).
         */
        vss_hr (*query)(VssProvider *self, const char *volume, ProviderQueryCallback cb, void *userdata);
        /*
         * get_properties: what the provider's storage says about the finished snapshot s
         * (s->device set; s->data may be NULL for a snapshot known only from the catalog).
         * S_OK with *ret filled: ret->present false only when the provider can see the storage
         * that would hold the copy and the copy is not there (deleted behind vssd's back).
         * When it cannot see that storage (filesystem not mounted, area gone), it returns a
         * failure (VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER, VSS_E_BAD_STATE, a mapped errno) and
         * vssd reports "unknown" rather than "missing": a row is never dropped on a guess.
         * *ret is untouched on failure. Reads only.
         */
        vss_hr (*get_properties)(VssProvider *self, const ProviderSnapshot *s, ProviderSnapshotProperties *ret);

        /*
         * Appended for vssadmin's list of volumes; optional (NULL: vssd says "not <name>").
         * why_unsupported: for a volume is_volume_supported refuses, what it lacks for this
         * provider, as a short phrase in an administrator's words, no trailing period: "not
         * btrfs", "not on a loop device", "image on ext4, which cannot share blocks (needs XFS
         * or btrfs)". Returns a malloc'd string (the caller frees it), or NULL when out of
         * memory. Reads only.
         */
        char *(*why_unsupported)(VssProvider *self, const char *volume);
};

/*
 * VssProviderNewFunc: a provider's constructor. Makes one instance configured by config
 * (copied as needed; config may be freed after the call): S_OK with *ret (owned by the caller,
 * freed with (*ret)->free(*ret)), or a failure (E_OUTOFMEMORY, VSS_E_PROVIDER_NOT_REGISTERED
 * when the provider cannot work on this system, e.g. its guardian is missing), after which
 * the provider stays unregistered. Must not block for long.
 */
typedef vss_hr (*VssProviderNewFunc)(const ProviderConfig *config, VssProvider **ret);

/*
 * provider_hr_sanitize: the code a provider may return passes through; anything else becomes
 * VSS_E_UNEXPECTED_PROVIDER_ERROR (vss-semantics §11). Cannot fail.
 */
vss_hr provider_hr_sanitize(vss_hr hr);

/* provider_snapshot_free: frees ->data through ->data_free (when both are set), the
 * volume/device strings and the struct. NULL ok. */
void provider_snapshot_free(ProviderSnapshot *s);

#endif /* VSS_SYS_PROVIDER_H */
