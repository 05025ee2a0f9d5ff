/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * documents.c: the requester's side of the two XML documents that is not a D-Bus call:
 * IVssWriterComponentsExt (read views over a Backup Components Document fetched from vssd)
 * and IVssExamineWriterMetadata::SaveAsXML / CreateVssExamineWriterMetadata.
 *
 * A fetched document is immutable and reference counted: each read view holds a reference,
 * so a view stays valid after the requester fetches a newer document or is released, and
 * several views share one parsed copy. The component accessors themselves are the
 * IVssComponent calls of writer-components.c, which treat these views as read-only.
 */
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "requester-internal.h"
#include "wmd-xml.h"

/* ------------------------------------------------------------------------------------------ */
/* Shared documents                                                                            */
/* ------------------------------------------------------------------------------------------ */

BcdDocument *bcd_document_new(BackupComponents *bcd) {
        BcdDocument *d;

        assert(bcd);

        d = calloc(1, sizeof(*d));
        if (!d) {
                backup_components_free(bcd);
                return NULL;
        }
        d->n_ref = 1;
        d->bcd = bcd;
        return d;
}

BcdDocument *bcd_document_ref(BcdDocument *d) {
        if (d)
                __atomic_add_fetch(&d->n_ref, 1, __ATOMIC_RELAXED);
        return d;
}

BcdDocument *bcd_document_unref(BcdDocument *d) {
        if (!d)
                return NULL;
        if (__atomic_sub_fetch(&d->n_ref, 1, __ATOMIC_ACQ_REL) > 0)
                return NULL;
        backup_components_free(d->bcd);
        free(d);
        return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* IVssWriterComponentsExt                                                                     */
/* ------------------------------------------------------------------------------------------ */

vss_hr writer_components_ext_new(BcdDocument *doc, unsigned index, vss_writer_components_ext **ret) {
        const BcdWriter *w = NULL;
        vss_writer_components_ext *e;
        size_t seen = 0;

        assert(doc);
        assert(ret);

        /* Writers without components are not listed (they are not in the count either). */
        for (size_t i = 0; i < doc->bcd->n_writers; i++) {
                if (doc->bcd->writers[i].n_components == 0)
                        continue;
                if (seen++ == index) {
                        w = &doc->bcd->writers[i];
                        break;
                }
        }
        if (!w)
                return VSS_E_OBJECT_NOT_FOUND;

        e = calloc(1, sizeof(*e));
        if (!e)
                return E_OUTOFMEMORY;
        e->items = calloc(w->n_components, sizeof(*e->items));
        if (!e->items) {
                free(e);
                return E_OUTOFMEMORY;
        }
        for (size_t i = 0; i < w->n_components; i++)
                e->items[i] = (vss_component) { .bcd = w->components[i], .owner = NULL };
        e->n_items = w->n_components;
        e->instance_id = w->instance_id;
        e->writer_id = w->writer_id;
        e->doc = bcd_document_ref(doc);

        *ret = e;
        return S_OK;
}

vss_hr vss_writer_components_ext_get_writer_info(vss_writer_components_ext *e, vss_id *ret_instance_id,
                                                 vss_id *ret_writer_id) {
        if (!e)
                return E_INVALIDARG;

        if (ret_instance_id)
                *ret_instance_id = e->instance_id;
        if (ret_writer_id)
                *ret_writer_id = e->writer_id;
        return S_OK;
}

vss_hr vss_writer_components_ext_get_count(vss_writer_components_ext *e, unsigned *ret_count) {
        if (!e || !ret_count)
                return E_INVALIDARG;

        *ret_count = (unsigned) e->n_items;
        return S_OK;
}

vss_hr vss_writer_components_ext_get_component(vss_writer_components_ext *e, unsigned index,
                                               vss_component **ret_component) {
        if (!e || !ret_component)
                return E_INVALIDARG;
        if (index >= e->n_items)
                return VSS_E_OBJECT_NOT_FOUND;

        *ret_component = &e->items[index];
        return S_OK;
}

void vss_writer_components_ext_free(vss_writer_components_ext *e) {
        if (!e)
                return;
        free(e->items);
        bcd_document_unref(e->doc);
        free(e);
}

/* ------------------------------------------------------------------------------------------ */
/* IVssExamineWriterMetadata as XML                                                            */
/* ------------------------------------------------------------------------------------------ */

vss_hr vss_examine_writer_metadata_save_as_xml(vss_examine_writer_metadata *m, char **ret_xml) {
        if (!m || !ret_xml)
                return E_INVALIDARG;
        return writer_metadata_to_xml(m->md, ret_xml);
}

vss_hr vss_examine_writer_metadata_new_from_xml(const char *xml, vss_examine_writer_metadata **ret,
                                                char **ret_reason) {
        vss_examine_writer_metadata *e;
        WriterMetadata *md = NULL;
        vss_hr hr;

        if (ret_reason)
                *ret_reason = NULL;
        if (!xml || !ret)
                return E_INVALIDARG;

        hr = writer_metadata_from_xml(xml, strlen(xml), &md, ret_reason);
        if (hr != S_OK)
                return hr;

        e = examine_metadata_new(md); /* takes md, also on failure */
        if (!e)
                return E_OUTOFMEMORY;
        e->owned = true;
        *ret = e;
        return S_OK;
}

void vss_examine_writer_metadata_free(vss_examine_writer_metadata *m) {
        /* A view borrowed from a requester belongs to it; only ours are freed here. */
        if (!m || !m->owned)
                return;
        (void) examine_metadata_free(m);
}
