/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * provider-registry.h: how vssd finds and chooses a provider for a volume.
 *
 * The built-in table (provider-registry.c: each provider's constructor) is fixed at build
 * time; this layer adds what the coordinator needs on top: one instance of each provider,
 * made at start-up (a provider whose constructor fails stays unregistered), lookup by id, and
 * VSS's selection rule for AddToSnapshotSet and IsVolumeSupported (an explicit provider id
 * overrides; the null id means "the most specific provider that takes the volume", which
 * the table's order encodes: btrfs, then ZFS, then image, then test-copy). Test-only
 * providers are only registered when vssd runs with its test provider enabled.
 */
#pragma once

#include <stdbool.h>

#include "macro.h"
#include "vss/sys/provider.h"

/* The built-in providers' constructors (VssProviderNewFunc, provider.h). Tests may make their
 * own instances with them, independent of the registry's. */
vss_hr provider_btrfs_new(const ProviderConfig *config, VssProvider **ret);
vss_hr provider_lvm_new(const ProviderConfig *config, VssProvider **ret);
vss_hr provider_image_new(const ProviderConfig *config, VssProvider **ret);
vss_hr provider_test_copy_new(const ProviderConfig *config, VssProvider **ret);
#if HAVE_ZFS
vss_hr provider_zfs_new(const ProviderConfig *config, VssProvider **ret); /* built with libzfs_core */
#endif

/* provider_unref-style destructor for _cleanup_: frees p (NULL ok), returns NULL. */
VssProvider *provider_free(VssProvider *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(VssProvider *, provider_free);

/*
 * provider_registry_init: makes one instance of every built-in provider with config; those
 * whose constructor fails (or test-only ones when !test_enabled) stay unregistered. Calling it
 * again first frees the instances of the previous call. Returns S_OK when at least one
 * provider is usable, VSS_E_PROVIDER_NOT_REGISTERED otherwise. Until it is called no provider
 * is registered.
 */
vss_hr provider_registry_init(const ProviderConfig *config, bool test_enabled);

/* provider_registry_done: frees every registered instance. Safe to call twice. */
void provider_registry_done(void);

/*
 * provider_registry_list: the registered providers, in selection order, NULL-terminated.
 * Borrowed: valid until provider_registry_done or the next provider_registry_init.
 */
VssProvider *const *provider_registry_list(void);

/* provider_find_by_name: the registered provider whose short name (->name) is name, or NULL.
 * Borrowed as provider_registry_list's. */
VssProvider *provider_find_by_name(const char *name);

/* provider_is_available: registered and, if test-only, test_enabled. */
bool provider_is_available(const VssProvider *p, bool test_enabled);

/* provider_find_by_id: the registered provider with this id, or NULL (unknown, or its
 * constructor failed). Borrowed as provider_registry_list's. */
VssProvider *provider_find_by_id(const vss_id *id);

/*
 * provider_select: the provider for volume (an absolute path).
 * provider_id NULL or the null id: automatic choice, in table order (btrfs, image, test-copy).
 * Returns S_OK with *ret (borrowed from the registry) and *ret_canonical (malloc'd, owned by the
 * caller; ret_canonical may be NULL), or:
 *   E_INVALIDARG                           volume NULL, empty or relative
 *   VSS_E_OBJECT_NOT_FOUND                 the path does not exist
 *   VSS_E_PROVIDER_NOT_REGISTERED          provider_id names no available provider
 *   VSS_E_VOLUME_NOT_SUPPORTED             automatic choice: no provider takes the volume
 *   VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER the named provider does not take it
 * or another code a provider is permitted to return (already sanitized). Outputs untouched
 * on failure.
 */
vss_hr provider_select(const char *volume, const vss_id *provider_id, bool test_enabled,
                       VssProvider **ret, char **ret_canonical);

/* One mounted filesystem as automatic selection sees it (provider_list_volumes). */
typedef struct ProviderVolume {
        char *mount_point;
        char *fstype;
        char *source;           /* the mount's source: a device, a dataset, "tmpfs" */
        VssProvider *provider;  /* what automatic selection picks (borrowed); NULL: none */
        char *volume;           /* provider set: its canonical volume (AddToSnapshotSet's name) */
        char *why;              /* provider NULL: why none takes it, each provider's reason */
} ProviderVolume;

/*
 * provider_list_volumes: every mounted filesystem that holds data (kernel interfaces such as
 * proc, sysfs or cgroup2 are left out), in mount order, each with the provider automatic
 * selection would pick for its mount point or, when none takes it, why: "not btrfs; not on a
 * loop device" (each registered provider's why_unsupported, in selection order). Network and
 * FUSE filesystems are not asked about (a hung server would block the caller); their reason
 * says so. Returns S_OK with *ret (free with provider_volumes_free) and *ret_n, E_OUTOFMEMORY,
 * or the mapped error of reading the mount table.
 */
vss_hr provider_list_volumes(bool test_enabled, ProviderVolume **ret, size_t *ret_n);

/* provider_volumes_free: frees the array and its strings. NULL ok. */
void provider_volumes_free(ProviderVolume *v, size_t n);

/*
 * provider_unsupported_detail: why no provider takes volume, for the VSS_E_VOLUME_NOT_SUPPORTED
 * message: its filesystem type and mount, then each available provider by name with what it
 * lacks (its why_unsupported). The text lives in a static buffer valid until the next call
 * (vssd runs providers from one thread). Cannot fail: a shorter text when out of memory.
 */
const char *provider_unsupported_detail(const char *volume, bool test_enabled);

/*
 * provider_log: one line on stderr (the journal, under systemd) naming the provider. Used to
 * explain a VSS_E_PROVIDER_VETO, as VSS requires. Never call it while volumes are frozen.
 */
void provider_log(const char *provider, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
