/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * provider-registry.c: the table of built-in providers and the rules around it: which codes
 * a provider may return (everything else becomes VSS_E_UNEXPECTED_PROVIDER_ERROR, as VSS's
 * coordinator does), which provider is registered, and how one is chosen for a volume.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "macro.h"
#include "providers/provider-registry.h"
#include "vss-bus.h"

/* Automatic selection walks this table in order: real providers first. */
const VssProviderOps *const vss_builtin_providers[] = {
        &provider_btrfs_ops,
        &provider_image_ops,
        &provider_test_copy_ops,
        NULL,
};

/* Bit i set: vss_builtin_providers[i]'s init failed (or it was not wanted) at start-up. */
static unsigned unregistered_mask;

vss_hr provider_hr_sanitize(vss_hr hr) {
        switch (hr) {
        case S_OK:
        case E_OUTOFMEMORY:
        case E_INVALIDARG:
        case E_ACCESSDENIED:
        case VSS_E_BAD_STATE:
        case VSS_E_OBJECT_NOT_FOUND:
        case VSS_E_INSUFFICIENT_STORAGE:
        case VSS_E_VOLUME_NOT_SUPPORTED:
        case VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER:
        case VSS_E_MAXIMUM_NUMBER_OF_SNAPSHOTS_REACHED:
        case VSS_E_PROVIDER_VETO:
        case VSS_E_NESTED_VOLUME_LIMIT:
        case VSS_E_CANNOT_REVERT_DISKID:
        case VSS_E_UNSUPPORTED_CONTEXT:
        /* The flush-and-hold window's own failures (the guardian's, for NEEDS_HOLD providers). */
        case VSS_E_FLUSH_WRITES_TIMEOUT:
        case VSS_E_HOLD_WRITES_TIMEOUT:
                return hr;
        default:
                return VSS_E_UNEXPECTED_PROVIDER_ERROR;
        }
}

void provider_snapshot_free(ProviderSnapshot *s) {
        if (!s)
                return;
        free(s->volume);
        free(s->device);
        free(s);
}

void provider_log(const char *provider, const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "vssd: provider %s: ", strempty(provider));
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

static int provider_index(const VssProviderOps *p) {
        for (int i = 0; vss_builtin_providers[i]; i++)
                if (vss_builtin_providers[i] == p)
                        return i;
        return -1;
}

vss_hr provider_registry_init(const ProviderConfig *config, bool test_enabled) {
        unsigned mask = 0;
        bool any = false;

        for (int i = 0; vss_builtin_providers[i]; i++) {
                const VssProviderOps *p = vss_builtin_providers[i];

                if (p->version != VSS_PROVIDER_OPS_VERSION ||
                    ((p->flags & VSS_PROVIDER_TEST_ONLY) && !test_enabled)) {
                        mask |= 1u << i;
                        continue;
                }
                if (p->init) {
                        vss_hr hr = p->init(config);

                        if (VSS_FAILED(hr)) {
                                provider_log(p->name, "not registered: initialisation failed: %s",
                                             vss_hr_name(hr));
                                mask |= 1u << i;
                                continue;
                        }
                }
                any = true;
        }

        unregistered_mask = mask;
        return any ? S_OK : VSS_E_PROVIDER_NOT_REGISTERED;
}

bool provider_is_available(const VssProviderOps *p, bool test_enabled) {
        int i = provider_index(p);

        if (i < 0 || (unregistered_mask & (1u << i)))
                return false;
        return !(p->flags & VSS_PROVIDER_TEST_ONLY) || test_enabled;
}

const VssProviderOps *provider_find_by_id(const vss_id *id) {
        if (!id)
                return NULL;

        for (int i = 0; vss_builtin_providers[i]; i++) {
                vss_id pid;

                if (vss_id_parse(vss_builtin_providers[i]->id, &pid) == S_OK && vss_id_equal(&pid, id))
                        return vss_builtin_providers[i];
        }
        return NULL;
}

static vss_hr ask_provider(const VssProviderOps *p, const char *volume, char **ret_canonical) {
        _cleanup_free_ char *canonical = NULL;
        vss_hr hr;

        if (!p->is_volume_supported)
                return VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER;

        hr = provider_hr_sanitize(p->is_volume_supported(volume, &canonical));
        if (VSS_FAILED(hr))
                return hr;
        if (!canonical) {
                /* A provider that says yes but names no volume broke its contract. */
                provider_log(p->name, "accepted %s without a canonical path", volume);
                return VSS_E_UNEXPECTED_PROVIDER_ERROR;
        }

        *ret_canonical = TAKE_PTR(canonical);
        return S_OK;
}

vss_hr provider_select(const char *volume, const vss_id *provider_id, bool test_enabled,
                       const VssProviderOps **ret, char **ret_canonical) {
        _cleanup_free_ char *canonical = NULL;
        const VssProviderOps *chosen = NULL;
        struct stat st;
        vss_hr hr;

        if (isempty(volume) || volume[0] != '/' || strnlen(volume, VSS_MAX_STRING + 1) > VSS_MAX_STRING || !ret)
                return E_INVALIDARG;

        if (stat(volume, &st) < 0)
                return vss_hr_from_errno(errno);

        if (provider_id && !vss_id_is_null(provider_id)) {
                chosen = provider_find_by_id(provider_id);
                if (!chosen || !provider_is_available(chosen, test_enabled))
                        return VSS_E_PROVIDER_NOT_REGISTERED;

                hr = ask_provider(chosen, volume, &canonical);
                if (hr == VSS_E_VOLUME_NOT_SUPPORTED)
                        hr = VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER;
                if (VSS_FAILED(hr))
                        return hr;
        } else {
                for (int i = 0; vss_builtin_providers[i] && !chosen; i++) {
                        const VssProviderOps *p = vss_builtin_providers[i];

                        if (!provider_is_available(p, test_enabled))
                                continue;

                        hr = ask_provider(p, volume, &canonical);
                        if (hr == VSS_E_OBJECT_NOT_FOUND || hr == E_OUTOFMEMORY)
                                return hr;
                        if (VSS_SUCCEEDED(hr))
                                chosen = p;
                }
                if (!chosen)
                        return VSS_E_VOLUME_NOT_SUPPORTED;
        }

        *ret = chosen;
        if (ret_canonical)
                *ret_canonical = TAKE_PTR(canonical);
        return S_OK;
}
