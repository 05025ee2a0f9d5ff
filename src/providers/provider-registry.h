/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * provider-registry.h: how vssd finds and chooses a provider for a volume.
 *
 * The built-in table (vss_builtin_providers, provider.h) is fixed at build time; this layer
 * adds what the coordinator needs on top: one-time initialisation (a provider whose init
 * fails stays unregistered), lookup by id, and VSS's selection rule for AddToSnapshotSet and
 * IsVolumeSupported (an explicit provider id overrides; the null id means "first built-in
 * provider, in table order, that takes the volume"). Test-only providers are only visible
 * when vssd runs with its test provider enabled.
 */
#pragma once

#include <stdbool.h>

#include "vss/sys/provider.h"

/* The built-in providers' tables, also reachable through vss_builtin_providers. */
extern const VssProviderOps provider_btrfs_ops;
extern const VssProviderOps provider_image_ops;
extern const VssProviderOps provider_test_copy_ops;

/*
 * provider_registry_init: calls every built-in provider's init with config; those whose init
 * fails (or test-only ones when !test_enabled) are left out of lookups and selection from
 * then on. Returns S_OK when at least one provider is usable, VSS_E_PROVIDER_NOT_REGISTERED
 * otherwise. Optional: without it every provider counts as registered.
 */
vss_hr provider_registry_init(const ProviderConfig *config, bool test_enabled);

/* provider_is_available: registered (init did not fail) and, if test-only, test_enabled. */
bool provider_is_available(const VssProviderOps *p, bool test_enabled);

/* provider_find_by_id: the built-in provider with this id, or NULL. Ignores availability. */
const VssProviderOps *provider_find_by_id(const vss_id *id);

/*
 * provider_select: the provider for volume (an absolute path).
 * provider_id NULL or the null id: automatic choice, in table order (btrfs, image, test-copy).
 * Returns S_OK with *ret (borrowed, static) and *ret_canonical (malloc'd, owned by the
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
                       const VssProviderOps **ret, char **ret_canonical);

/*
 * provider_log: one line on stderr (the journal, under systemd) naming the provider. Used to
 * explain a VSS_E_PROVIDER_VETO, as VSS requires. Never call it while volumes are frozen.
 */
void provider_log(const char *provider, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
