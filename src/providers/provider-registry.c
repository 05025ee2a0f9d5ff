/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * provider-registry.c: the table of built-in providers and the rules around it: which codes
 * a provider may return (everything else becomes VSS_E_UNEXPECTED_PROVIDER_ERROR, as VSS's
 * coordinator does), which provider is registered, and how one is chosen for a volume.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "macro.h"
#include "providers/provider-registry.h"
#include "providers/provider-util.h"
#include "vss-bus.h"

/*
 * The built-in providers. Automatic selection walks this table in order, most specific first:
 * a btrfs subvolume is btrfs's even when it sits on an image, a ZFS dataset is ZFS's, a
 * filesystem on an LVM LV is LVM's; the
 * image provider takes what is left on loop devices; test-copy (which takes any directory)
 * comes last.
 */
static const struct {
        const char *name;     /* for the log line when its constructor fails */
        bool test_only;       /* made only with test_enabled (VSS_PROVIDER_TEST_ONLY) */
        VssProviderNewFunc new;
} builtin_providers[] = {
        { "btrfs",     false, provider_btrfs_new },
#if HAVE_ZFS
        { "zfs",       false, provider_zfs_new },
#endif
        { "lvm",       false, provider_lvm_new },
        { "image",     false, provider_image_new },
        { "test-copy", true,  provider_test_copy_new },
};

/* The instances provider_registry_init made, NULL-terminated (unregistered ones left out). */
static VssProvider *registered[ELEMENTSOF(builtin_providers) + 1];

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
        if (s->data && s->data_free)
                s->data_free(s->data);
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

VssProvider *provider_free(VssProvider *p) {
        if (p)
                p->free(p);
        return NULL;
}

void provider_registry_done(void) {
        for (size_t i = 0; registered[i]; i++)
                registered[i] = provider_free(registered[i]);
}

vss_hr provider_registry_init(const ProviderConfig *config, bool test_enabled) {
        size_t n = 0;

        provider_registry_done();

        for (size_t i = 0; i < ELEMENTSOF(builtin_providers); i++) {
                VssProvider *p = NULL;
                vss_hr hr;

                if (builtin_providers[i].test_only && !test_enabled)
                        continue;
                hr = builtin_providers[i].new(config, &p);
                if (VSS_FAILED(hr)) {
                        provider_log(builtin_providers[i].name, "not registered: initialisation failed: %s",
                                     vss_hr_name(hr));
                        continue;
                }
                if (p->version != VSS_PROVIDER_OPS_VERSION || !p->free) {
                        provider_log(builtin_providers[i].name, "not registered: ops version %u, want %u",
                                     p->version, VSS_PROVIDER_OPS_VERSION);
                        if (p->free)
                                p->free(p);
                        continue;
                }
                registered[n++] = p;
        }

        return n > 0 ? S_OK : VSS_E_PROVIDER_NOT_REGISTERED;
}

VssProvider *const *provider_registry_list(void) {
        return registered;
}

bool provider_is_available(const VssProvider *p, bool test_enabled) {
        if (!p)
                return false;
        for (size_t i = 0; registered[i]; i++)
                if (registered[i] == p)
                        return !(p->flags & VSS_PROVIDER_TEST_ONLY) || test_enabled;
        return false;
}

VssProvider *provider_find_by_id(const vss_id *id) {
        if (!id)
                return NULL;

        for (size_t i = 0; registered[i]; i++) {
                vss_id pid;

                if (vss_id_parse(registered[i]->id, &pid) == S_OK && vss_id_equal(&pid, id))
                        return registered[i];
        }
        return NULL;
}

VssProvider *provider_find_by_name(const char *name) {
        for (size_t i = 0; name && registered[i]; i++)
                if (streq(registered[i]->name, name))
                        return registered[i];
        return NULL;
}

static vss_hr ask_provider(VssProvider *p, const char *volume, char **ret_canonical) {
        _cleanup_free_ char *canonical = NULL;
        vss_hr hr;

        if (!p->is_volume_supported)
                return VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER;

        hr = provider_hr_sanitize(p->is_volume_supported(p, volume, &canonical));
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
                       VssProvider **ret, char **ret_canonical) {
        _cleanup_free_ char *canonical = NULL;
        VssProvider *chosen = NULL;
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
                for (size_t i = 0; registered[i] && !chosen; i++) {
                        VssProvider *p = registered[i];

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

void provider_volumes_free(ProviderVolume *v, size_t n) {
        for (size_t i = 0; v && i < n; i++) {
                free(v[i].mount_point);
                free(v[i].fstype);
                free(v[i].source);
                free(v[i].volume);
                free(v[i].why);
        }
        free(v);
}

/* Kernel interfaces, not storage: never listed as volumes. */
static bool fstype_is_interface(const char *fstype) {
        static const char *const interfaces[] = {
                "proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "mqueue", "debugfs", "tracefs",
                "securityfs", "pstore", "bpf", "configfs", "fusectl", "hugetlbfs", "autofs", "binfmt_misc",
                "efivarfs", "rpc_pipefs", "nsfs", "selinuxfs", "ramfs",
        };

        for (size_t i = 0; i < ELEMENTSOF(interfaces); i++)
                if (streq(fstype, interfaces[i]))
                        return true;
        return false;
}

/* Filesystems served by another machine or process: stat() on them may hang. */
static bool fstype_is_remote(const char *fstype) {
        static const char *const prefixes[] = { "nfs", "cifs", "smb", "9p", "fuse", "ceph", "glusterfs", "afs" };

        for (size_t i = 0; i < ELEMENTSOF(prefixes); i++)
                if (strncmp(fstype, prefixes[i], strlen(prefixes[i])) == 0)
                        return true;
        return false;
}

/* Each registered provider's reason for refusing mnt, "; "-separated. NULL: out of memory. */
static char *why_none(const char *mnt, bool test_enabled) {
        _cleanup_free_ char *why = NULL;

        for (size_t i = 0; registered[i]; i++) {
                VssProvider *p = registered[i];
                _cleanup_free_ char *one = NULL;
                char *joined;

                if (!provider_is_available(p, test_enabled))
                        continue;
                one = p->why_unsupported ? p->why_unsupported(p, mnt) : NULL;
                if (!one && asprintf(&one, "not %s", p->name) < 0)
                        return NULL;
                if (asprintf(&joined, "%s%s%s", strempty(why), why ? "; " : "", one) < 0)
                        return NULL;
                free(why);
                why = joined;
        }
        return why ? TAKE_PTR(why) : strdup("no provider is registered");
}

vss_hr provider_list_volumes(bool test_enabled, ProviderVolume **ret, size_t *ret_n) {
        MountEntry *mounts = NULL;
        ProviderVolume *v;
        size_t n_mounts = 0, n = 0;
        int r;

        if (!ret || !ret_n)
                return E_INVALIDARG;
        r = mount_list(&mounts, &n_mounts);
        if (r < 0)
                return vss_hr_from_errno(r);

        v = calloc(MAX(n_mounts, (size_t) 1), sizeof(*v));
        if (!v) {
                mount_entries_free(mounts, n_mounts);
                return E_OUTOFMEMORY;
        }

        for (size_t i = 0; i < n_mounts; i++) {
                MountEntry *e = &mounts[i];
                ProviderVolume *pv;
                vss_hr hr;

                if (fstype_is_interface(e->fstype))
                        continue;
                pv = &v[n++];
                pv->mount_point = TAKE_PTR(e->mnt);
                pv->fstype = TAKE_PTR(e->fstype);
                pv->source = TAKE_PTR(e->source);

                if (fstype_is_remote(pv->fstype)) {
                        pv->why = strdup("a network or FUSE filesystem: no provider snapshots those");
                        hr = pv->why ? S_OK : E_OUTOFMEMORY;
                } else {
                        hr = provider_select(pv->mount_point, NULL, test_enabled, &pv->provider, &pv->volume);
                        if (VSS_FAILED(hr)) {
                                pv->provider = NULL;
                                /* Refused by all, or gone since mountinfo was read: say which. */
                                pv->why = hr == VSS_E_VOLUME_NOT_SUPPORTED ? why_none(pv->mount_point, test_enabled)
                                                                           : strdup(vss_hr_message(hr));
                                hr = pv->why ? S_OK : E_OUTOFMEMORY;
                        }
                }
                if (hr == E_OUTOFMEMORY) {
                        mount_entries_free(mounts, n_mounts);
                        provider_volumes_free(v, n);
                        return E_OUTOFMEMORY;
                }
        }
        mount_entries_free(mounts, n_mounts);

        *ret = v;
        *ret_n = n;
        return S_OK;
}

const char *provider_unsupported_detail(const char *volume, bool test_enabled) {
        static char buf[2048];
        _cleanup_free_ char *real = NULL;
        MountEntry e = {};
        size_t n;

        real = realpath(volume, NULL);
        if (real && mount_find(real, NULL, &e) >= 0)
                n = (size_t) snprintf(buf, sizeof(buf), "its filesystem is %s (%s mounted at %s); providers:",
                                      e.fstype, e.source, e.mnt);
        else
                n = (size_t) snprintf(buf, sizeof(buf), "providers:");
        mount_entry_done(&e);

        for (size_t i = 0; registered[i] && n < sizeof(buf); i++) {
                VssProvider *p = registered[i];
                _cleanup_free_ char *why = NULL;

                if (!provider_is_available(p, test_enabled))
                        continue;
                why = p->why_unsupported ? p->why_unsupported(p, real ?: volume) : NULL;
                n += (size_t) snprintf(buf + n, sizeof(buf) - n, " %s: %s;", p->name, why ?: "does not take it");
        }
        if (n < sizeof(buf) && buf[n - 1] == ';')
                buf[n - 1] = '\0';
        return buf;
}
