/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * admin-dbus.c: the org.vsslinux.VSS1.Admin interface (docs/dbus-api.md), what vssadmin
 * speaks: the writers with the state of their latest backup session, the providers, and the
 * snapshot catalog across every context (list, delete, expose). IVssAdmin and vssadmin's
 * view of the system, as opposed to one requester instance's.
 *
 * Any connection may call it (no Backup object is created, so an Admin call never turns a
 * connection into a requester); access is uid 0 or group "backup", as for requesters.
 *
 * ListVolumes answers, for every mounted filesystem, which provider automatic selection picks
 * for it or why none does (provider_list_volumes): the question a new administrator asks first.
 *
 * ListShadows adds to each snapshot's properties whether its copy is still where the provider
 * put it ("present", "missing" when it was deleted behind vssd's back, "unknown" when the
 * provider cannot tell): the catalog says what vssd made, only the provider what still exists.
 */
#include <stdlib.h>
#include <string.h>

#include "providers/provider-registry.h"
#include "vss-bus.h"
#include "vssd/backup.h"
#include "vssd/client.h"
#include "vssd/log.h"
#include "vssd/snapshot-catalog.h"
#include "vssd/writer-registry.h"

/* One ListShadows element: SNAPPROP and the presence word (docs/dbus-api.md). */
#define ADMIN_SIG_SHADOW "(" VSS_BUS_SIG_SNAPPROP "s)"
/* One ListVolumes element: mount point, fstype, source, provider id, provider name, volume, why. */
#define ADMIN_SIG_VOLUME "(sssssss)"

static int admin_check(Client *c, sd_bus_error *error) {
        if (!client_may_request(c))
                return vss_hr_to_bus_error(error, E_ACCESSDENIED, "uid %u is neither root nor in group \"backup\"",
                                           (unsigned) c->ucred.uid);
        return 0;
}

static int parse_snapshot_id(const char *s, vss_id *ret, sd_bus_error *error) {
        if (!s || vss_id_parse(s, ret) != S_OK || vss_id_is_null(ret))
                return vss_hr_to_bus_error(error, E_INVALIDARG, "\"%.64s\" is not a valid non-null id", strempty(s));
        return 0;
}

/* The writer's state as its most recent backup session sees it: a backup still alive (the
 * newest first on the manager's list) wins over the outcome noted when one finished. */
static void writer_latest_state(Manager *m, const Writer *w, vss_writer_state *ret_state, vss_hr *ret_failure) {
        LIST_FOREACH(backups, b, m->backups)
                for (size_t i = 0; i < b->n_sessions; i++)
                        if (b->sessions[i].writer == w) {
                                *ret_state = b->sessions[i].state;
                                *ret_failure = b->sessions[i].failure;
                                return;
                        }
        *ret_state = w->last_state;
        *ret_failure = w->last_failure;
}

static int method_list_writers(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Client *c = userdata;
        int r;

        r = admin_check(c, error);
        if (r < 0)
                return r;

        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', VSS_BUS_SIG_WRITER_INFO);
        if (r < 0)
                return r;
        LIST_FOREACH(writers, w, c->manager->writers) {
                vss_writer_state state;
                vss_hr failure;

                writer_latest_state(c->manager, w, &state, &failure);
                r = sd_bus_message_append(reply, VSS_BUS_SIG_WRITER_INFO, vss_id_to_str(&w->class_id).s,
                                          vss_id_to_str(&w->instance_id).s, w->name, (uint32_t) state, failure,
                                          w->instance_name);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_list_providers(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Client *c = userdata;
        int r;

        r = admin_check(c, error);
        if (r < 0)
                return r;

        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', VSS_BUS_SIG_PROVIDER);
        if (r < 0)
                return r;
        for (VssProvider *const *i = provider_registry_list(); *i; i++) {
                VssProvider *p = *i;

                if (!provider_is_available(p, c->manager->config.test_provider))
                        continue;
                r = sd_bus_message_append(reply, VSS_BUS_SIG_PROVIDER, p->id, p->name, (uint32_t) p->type,
                                          strempty(p->version_string));
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_list_shadows(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Client *c = userdata;
        const char *set_string;
        vss_id set_id = VSS_ID_NULL;
        int r;

        r = sd_bus_message_read(m, "s", &set_string);
        if (r < 0)
                return r;
        r = admin_check(c, error);
        if (r < 0)
                return r;
        if (!isempty(set_string)) {
                r = parse_snapshot_id(set_string, &set_id, error);
                if (r < 0)
                        return r;
        }

        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', ADMIN_SIG_SHADOW);
        if (r < 0)
                return r;
        LIST_FOREACH(records, rec, c->manager->catalog.records) {
                if (!vss_id_is_null(&set_id) && !vss_id_equal(&rec->snap->snapshot_set_id, &set_id))
                        continue;
                r = sd_bus_message_open_container(reply, 'r', VSS_BUS_SIG_SNAPPROP "s");
                if (r < 0)
                        return r;
                r = snapshot_record_append(reply, rec);
                if (r < 0)
                        return r;
                r = sd_bus_message_append(reply, "s", snapshot_presence_to_string(catalog_record_presence(rec)));
                if (r < 0)
                        return r;
                r = sd_bus_message_close_container(reply);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

/* The catalog's name for the volume path an administrator typed. */
static char *volume_canonical(Manager *m, const char *path) {
        VssProvider *ops;
        char *canonical = NULL;

        if (VSS_SUCCEEDED(provider_select(path, NULL, m->config.test_provider, &ops, &canonical)) && canonical)
                return canonical;
        canonical = realpath(path, NULL);
        return canonical ?: strdup(path);
}

static vss_hr delete_all(SnapshotCatalog *catalog, int32_t *ret_deleted, vss_id *ret_failed) {
        int32_t deleted = 0;

        LIST_FOREACH_SAFE(records, rec, next, catalog->records) {
                vss_id id = rec->snap->snapshot_id;
                vss_hr hr = catalog_delete(catalog, rec, false);

                if (VSS_FAILED(hr)) {
                        *ret_deleted = deleted;
                        *ret_failed = id;
                        return hr;
                }
                deleted++;
        }
        *ret_deleted = deleted;
        return S_OK;
}

static int method_delete_shadows(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Client *c = userdata;
        SnapshotCatalog *catalog = &c->manager->catalog;
        const char *mode, *arg;
        int32_t deleted = 0;
        vss_id id, failed = VSS_ID_NULL;
        vss_hr hr;
        int r;

        r = sd_bus_message_read(m, "ss", &mode, &arg);
        if (r < 0)
                return r;
        r = admin_check(c, error);
        if (r < 0)
                return r;
        if (strnlen(arg, VSS_MAX_STRING + 1) > VSS_MAX_STRING)
                return vss_hr_to_bus_error(error, E_INVALIDARG, "the argument is longer than %u bytes", VSS_MAX_STRING);

        if (streq(mode, "shadow") || streq(mode, "set")) {
                r = parse_snapshot_id(arg, &id, error);
                if (r < 0)
                        return r;
                hr = catalog_delete_matching(catalog, &id, streq(mode, "set"), CATALOG_ANY_CONTEXT, &deleted, &failed);
                if (hr == VSS_E_OBJECT_NOT_FOUND)
                        return vss_hr_to_bus_error(error, hr, "no shadow copy %s%s", streq(mode, "set") ? "set " : "",
                                                   arg);
        } else if (streq(mode, "oldest-for")) {
                _cleanup_free_ char *volume = NULL;
                SnapshotRecord *rec;

                if (isempty(arg) || arg[0] != '/')
                        return vss_hr_to_bus_error(error, E_INVALIDARG, "oldest-for needs an absolute volume path");
                volume = volume_canonical(c->manager, arg);
                if (!volume)
                        return vss_hr_to_bus_error(error, E_OUTOFMEMORY, "out of memory");
                rec = catalog_find_oldest_for(catalog, volume);
                if (!rec)
                        return vss_hr_to_bus_error(error, VSS_E_OBJECT_NOT_FOUND, "no shadow copy of %s", volume);
                failed = rec->snap->snapshot_id;
                hr = catalog_delete(catalog, rec, false);
                if (VSS_SUCCEEDED(hr)) {
                        deleted = 1;
                        failed = VSS_ID_NULL;
                }
        } else if (streq(mode, "all")) {
                if (!isempty(arg))
                        return vss_hr_to_bus_error(error, E_INVALIDARG, "mode \"all\" takes no argument");
                hr = delete_all(catalog, &deleted, &failed);
        } else
                return vss_hr_to_bus_error(error, E_INVALIDARG,
                                           "mode must be one of shadow, set, oldest-for, all (got \"%.32s\")", mode);

        if (VSS_FAILED(hr))
                return vss_hr_to_bus_error(error, hr, "shadow copy %s could not be deleted (%d deleted before it)",
                                           vss_id_to_str(&failed).s, deleted);
        return sd_bus_reply_method_return(m, "i", deleted);
}

static int method_expose_shadow(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Client *c = userdata;
        const char *id_string, *path, *exposed = NULL, *detail = NULL;
        ExposeCaller caller;
        SnapshotRecord *rec;
        vss_id id;
        vss_hr hr;
        int r;

        r = sd_bus_message_read(m, "ss", &id_string, &path);
        if (r < 0)
                return r;
        r = admin_check(c, error);
        if (r < 0)
                return r;
        r = parse_snapshot_id(id_string, &id, error);
        if (r < 0)
                return r;
        if (strnlen(path, VSS_MAX_STRING + 1) > VSS_MAX_STRING)
                return vss_hr_to_bus_error(error, E_INVALIDARG, "the path is longer than %u bytes", VSS_MAX_STRING);

        rec = catalog_find(&c->manager->catalog, &id);
        if (!rec)
                return vss_hr_to_bus_error(error, VSS_E_OBJECT_NOT_FOUND, "no shadow copy %s", id_string);

        caller = (ExposeCaller) { c->ucred.uid, c->ucred.gid, c->groups, c->n_groups };
        hr = catalog_expose(&c->manager->catalog, rec, path, &caller, &exposed, &detail);
        if (VSS_FAILED(hr))
                return vss_hr_to_bus_error(error, hr, "%s%s%s", path, isempty(path) ? "" : ": ",
                                           detail ?: vss_hr_message(hr));
        return sd_bus_reply_method_return(m, "s", exposed);
}

static int method_unexpose_shadow(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Client *c = userdata;
        const char *id_string, *detail = NULL;
        SnapshotRecord *rec;
        vss_id id;
        vss_hr hr;
        int r;

        r = sd_bus_message_read(m, "s", &id_string);
        if (r < 0)
                return r;
        r = admin_check(c, error);
        if (r < 0)
                return r;
        r = parse_snapshot_id(id_string, &id, error);
        if (r < 0)
                return r;

        rec = catalog_find(&c->manager->catalog, &id);
        if (!rec)
                return vss_hr_to_bus_error(error, VSS_E_OBJECT_NOT_FOUND, "no shadow copy %s", id_string);

        hr = catalog_unexpose(&c->manager->catalog, rec, &detail);
        if (VSS_FAILED(hr))
                return vss_hr_to_bus_error(error, hr, "%s", detail ?: vss_hr_message(hr));
        return sd_bus_reply_method_return(m, NULL);
}

/* Every mounted filesystem with the provider automatic selection picks, or why none does. */
static int method_list_volumes(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        ProviderVolume *v = NULL;
        Client *c = userdata;
        size_t n = 0;
        vss_hr hr;
        int r;

        r = admin_check(c, error);
        if (r < 0)
                return r;
        hr = provider_list_volumes(c->manager->config.test_provider, &v, &n);
        if (VSS_FAILED(hr))
                return vss_hr_to_bus_error(error, hr, "cannot list the mounted filesystems: %s", vss_hr_message(hr));

        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', ADMIN_SIG_VOLUME);
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = sd_bus_message_append(reply, ADMIN_SIG_VOLUME, v[i].mount_point, v[i].fstype, v[i].source,
                                          v[i].provider ? v[i].provider->id : "",
                                          v[i].provider ? v[i].provider->name : "", strempty(v[i].volume),
                                          strempty(v[i].why));
        provider_volumes_free(v, n);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

const sd_bus_vtable admin_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("ListWriters", SD_BUS_NO_ARGS, SD_BUS_RESULT("a" VSS_BUS_SIG_WRITER_INFO, writers),
                                method_list_writers, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListProviders", SD_BUS_NO_ARGS, SD_BUS_RESULT("a" VSS_BUS_SIG_PROVIDER, providers),
                                method_list_providers, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListShadows", SD_BUS_ARGS("s", set_id),
                                SD_BUS_RESULT("a" ADMIN_SIG_SHADOW, shadows), method_list_shadows,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("DeleteShadows", SD_BUS_ARGS("s", mode, "s", argument), SD_BUS_RESULT("i", deleted),
                                method_delete_shadows, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ExposeShadow", SD_BUS_ARGS("s", shadow_id, "s", path),
                                SD_BUS_RESULT("s", exposed_path), method_expose_shadow, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("UnexposeShadow", SD_BUS_ARGS("s", shadow_id), SD_BUS_NO_RESULT,
                                method_unexpose_shadow, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListVolumes", SD_BUS_NO_ARGS, SD_BUS_RESULT("a" ADMIN_SIG_VOLUME, volumes),
                                method_list_volumes, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};
