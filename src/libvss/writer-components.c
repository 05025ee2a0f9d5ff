/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * writer-components.c: IVssWriterComponents and IVssComponent, the writer's read view of the
 * components the requester explicitly added for it.
 *
 * vssd sends them in the event context of PrepareForBackup, PostSnapshot and BackupComplete;
 * the views borrow that context and live only while the callback runs. GetBackupSucceeded is
 * the one accessor with a window of its own (OnBackupComplete only, where the requester's
 * SetBackupSucceeded is final).
 */
#include <stdlib.h>

#include "macro.h"
#include "writer-internal.h"

int writer_components_new(const EventContext *ctx, vss_writer_components **ret) {
        vss_writer_components *c;

        assert(ctx);
        assert(ret);

        /* Not component mode: VSS hands the callback NULL. */
        if (!ctx->has_select_components || !ctx->select_components) {
                *ret = NULL;
                return 0;
        }

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;

        if (ctx->n_components > 0) {
                c->items = calloc(ctx->n_components, sizeof(*c->items));
                if (!c->items) {
                        free(c);
                        return -ENOMEM;
                }
        }
        for (size_t i = 0; i < ctx->n_components; i++)
                c->items[i] = (vss_component) { .owner = c, .ec = &ctx->components[i] };
        c->n_items = ctx->n_components;

        *ret = c;
        return 0;
}

void writer_components_free(vss_writer_components *c) {
        if (!c)
                return;
        free(c->items);
        free(c);
}

vss_hr vss_writer_components_get_count(vss_writer_components *c, unsigned *ret_count) {
        if (!c || !ret_count)
                return E_INVALIDARG;

        *ret_count = (unsigned) c->n_items;
        return S_OK;
}

vss_hr vss_writer_components_get_component(vss_writer_components *c, unsigned index, vss_component **ret_component) {
        if (!c || !ret_component)
                return E_INVALIDARG;
        if (index >= c->n_items)
                return VSS_E_OBJECT_NOT_FOUND;

        *ret_component = &c->items[index];
        return S_OK;
}

vss_hr vss_component_get_logical_path(vss_component *c, const char **ret) {
        if (!c || !ret)
                return E_INVALIDARG;

        *ret = strempty(c->ec->logical_path);
        return S_OK;
}

vss_hr vss_component_get_component_name(vss_component *c, const char **ret) {
        if (!c || !ret)
                return E_INVALIDARG;

        *ret = c->ec->name;
        return S_OK;
}

vss_hr vss_component_get_component_type(vss_component *c, vss_component_type *ret) {
        if (!c || !ret)
                return E_INVALIDARG;

        *ret = c->ec->type;
        return S_OK;
}

vss_hr vss_component_get_backup_succeeded(vss_component *c, bool *ret) {
        const CallbackFrame *frame = writer_current_frame;

        if (!c || !ret)
                return E_INVALIDARG;
        if (!frame || frame->event->type != EVENT_BACKUP_COMPLETE || frame->components != c->owner)
                return VSS_E_BAD_STATE;

        *ret = c->ec->backup_succeeded;
        return S_OK;
}
