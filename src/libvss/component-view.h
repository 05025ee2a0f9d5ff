/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * component-view.h: IVssComponent over one component of a Backup Components Document, as
 * both sides of libvss hand it out: a writer inside on_prepare_backup, on_post_snapshot and
 * on_backup_complete (owner set: the callback's vss_writer_components, which decides the
 * window), and a requester through vss_writer_components_ext (owner NULL: a read view, on
 * which every writer-only call is VSS_E_BAD_STATE). The accessors are in
 * writer-components.c; the requester's views in documents.c.
 */
#pragma once

#include <stddef.h>

#include "backup-components.h"
#include "vss/vss-requester.h"
#include "vss/vss-writer.h"

struct vss_component {
        BcdComponent *bcd;                      /* borrowed from the owner's document */
        vss_writer_components *owner;           /* writer side; NULL on a requester's read view */
};

/*
 * A document fetched by a requester, shared by the read views made from it. Never changed
 * after it is made; the count is atomic because views may be freed from any thread.
 */
typedef struct BcdDocument {
        unsigned n_ref;
        BackupComponents *bcd;
} BcdDocument;

struct vss_writer_components_ext {
        BcdDocument *doc;                       /* owned reference */
        vss_id instance_id;
        vss_id writer_id;
        vss_component *items;
        size_t n_items;
};

/* bcd_document_new: takes bcd (freed on failure too). NULL on OOM. */
BcdDocument *bcd_document_new(BackupComponents *bcd);
BcdDocument *bcd_document_ref(BcdDocument *d);
/* bcd_document_unref: drops a reference; frees on the last. NULL ok. Returns NULL. */
BcdDocument *bcd_document_unref(BcdDocument *d);
