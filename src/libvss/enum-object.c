/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * enum-object.c: VSS_SNAPSHOT_PROP decoding and IVssEnumObject.
 *
 * GetSnapshotProperties and Query both receive snapshot properties in the SNAPPROP wire form
 * of docs/dbus-api.md; this file is the one place that turns it into the public struct
 * (strings copied, "" meaning "none" turned into NULL for the exposure fields) and frees it.
 * A vss_enum_object is a private copy of one Query answer, walked with next/reset.
 */
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "requester-internal.h"
#include "vss-bus.h"

struct vss_enum_object {
        vss_object_prop *items;
        size_t n_items;
        size_t position;
};

static int dup_checked(const char *s, bool empty_is_null, char **ret) {
        if (strnlen(s, VSS_MAX_STRING + 1) > VSS_MAX_STRING)
                return -EBADMSG;
        if (empty_is_null && isempty(s)) {
                *ret = NULL;
                return 0;
        }
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

void vss_snapshot_prop_free(vss_snapshot_prop *prop) {
        if (!prop)
                return;
        free(prop->snapshot_device_object);
        free(prop->original_volume_name);
        free(prop->originating_machine);
        free(prop->service_machine);
        free(prop->exposed_name);
        free(prop->exposed_path);
        *prop = (vss_snapshot_prop) {};
}

int snapshot_prop_read(sd_bus_message *m, vss_snapshot_prop *ret) {
        const char *snapshot_id, *set_id, *device, *original, *originating, *service, *exposed_name,
                *exposed_path, *provider_id;
        vss_snapshot_prop p = {};
        int32_t count;
        uint32_t attributes, status;
        int64_t created;
        int k;

        assert(m);
        assert(ret);

        k = sd_bus_message_read(m, VSS_BUS_SIG_SNAPPROP, &snapshot_id, &set_id, &count, &device, &original,
                                &originating, &service, &exposed_name, &exposed_path, &provider_id, &attributes,
                                &created, &status);
        if (k < 0)
                return k;
        if (k == 0)
                return -EBADMSG;

        if (vss_id_from_bus(snapshot_id, &p.snapshot_id) != S_OK ||
            vss_id_from_bus(set_id, &p.snapshot_set_id) != S_OK ||
            vss_id_from_bus(provider_id, &p.provider_id) != S_OK)
                return -EBADMSG;

        p.snapshots_count = count;
        p.snapshot_attributes = attributes;
        p.creation_timestamp = created;
        p.status = (vss_snapshot_state) status;

        k = dup_checked(device, false, &p.snapshot_device_object);
        if (k >= 0)
                k = dup_checked(original, false, &p.original_volume_name);
        if (k >= 0)
                k = dup_checked(originating, false, &p.originating_machine);
        if (k >= 0)
                k = dup_checked(service, false, &p.service_machine);
        if (k >= 0)
                k = dup_checked(exposed_name, true, &p.exposed_name);
        if (k >= 0)
                k = dup_checked(exposed_path, true, &p.exposed_path);
        if (k < 0) {
                vss_snapshot_prop_free(&p);
                return k;
        }

        *ret = p;
        return 0;
}

static void object_prop_done(vss_object_prop *o) {
        if (o->type == VSS_OBJECT_SNAPSHOT)
                vss_snapshot_prop_free(&o->obj.snap);
        else if (o->type == VSS_OBJECT_PROVIDER) {
                free(o->obj.prov.provider_name);
                free(o->obj.prov.provider_version);
        }
}

void vss_enum_object_free(vss_enum_object *e) {
        if (!e)
                return;
        for (size_t i = 0; i < e->n_items; i++)
                object_prop_done(&e->items[i]);
        free(e->items);
        free(e);
}

static int provider_prop_read(sd_bus_message *m, vss_provider_prop *ret) {
        const char *id, *name, *version;
        vss_provider_prop p = {};
        uint32_t type;
        int k;

        k = sd_bus_message_read(m, VSS_BUS_SIG_PROVIDER, &id, &name, &type, &version);
        if (k < 0)
                return k;
        if (k == 0 || vss_id_from_bus(id, &p.provider_id) != S_OK)
                return -EBADMSG;
        p.provider_type = (vss_provider_type) type;

        k = dup_checked(name, false, &p.provider_name);
        if (k >= 0)
                k = dup_checked(version, false, &p.provider_version);
        if (k < 0) {
                free(p.provider_name);
                free(p.provider_version);
                return k;
        }

        *ret = p;
        return 0;
}

int enum_object_read(sd_bus_message *m, vss_object_type type, vss_enum_object **ret) {
        vss_enum_object *e;
        int k;

        assert(m);
        assert(type == VSS_OBJECT_SNAPSHOT || type == VSS_OBJECT_PROVIDER);
        assert(ret);

        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;

        k = sd_bus_message_enter_container(m, 'a', type == VSS_OBJECT_SNAPSHOT ? VSS_BUS_SIG_SNAPPROP
                                                                                : VSS_BUS_SIG_PROVIDER);
        if (k < 0)
                goto fail;

        for (;;) {
                vss_object_prop o = { .type = type };
                vss_object_prop *bigger;

                k = sd_bus_message_at_end(m, false);
                if (k < 0)
                        goto fail;
                if (k > 0)
                        break;
                if (e->n_items >= LIBVSS_MAX_QUERY_OBJECTS) {
                        k = -E2BIG;
                        goto fail;
                }

                if (type == VSS_OBJECT_SNAPSHOT)
                        k = snapshot_prop_read(m, &o.obj.snap);
                else
                        k = provider_prop_read(m, &o.obj.prov);
                if (k < 0)
                        goto fail;

                bigger = realloc(e->items, (e->n_items + 1) * sizeof(*e->items));
                if (!bigger) {
                        object_prop_done(&o);
                        k = -ENOMEM;
                        goto fail;
                }
                e->items = bigger;
                e->items[e->n_items++] = o;
        }

        k = sd_bus_message_exit_container(m);
        if (k < 0)
                goto fail;

        *ret = e;
        return 0;

fail:
        vss_enum_object_free(e);
        return k;
}

vss_hr vss_enum_object_next(vss_enum_object *e, const vss_object_prop **ret_prop) {
        if (!e || !ret_prop)
                return E_INVALIDARG;
        if (e->position >= e->n_items)
                return S_FALSE;

        *ret_prop = &e->items[e->position++];
        return S_OK;
}

void vss_enum_object_reset(vss_enum_object *e) {
        if (e)
                e->position = 0;
}
