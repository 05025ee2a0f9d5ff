/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * writer-metadata.h: the in-memory Writer Metadata Document and its one D-Bus encoding.
 *
 * The writer side builds a WriterMetadata inside OnIdentify (through the public
 * vss_create_writer_metadata_* calls, which are thin wrappers over the functions here), libvss
 * sends it to vssd in the Identify reply, vssd validates it and hands it to requesters, whose
 * libvss decodes it into the same struct behind vss_examine_writer_metadata. Keeping model,
 * validation and wire format in this one file means the three parties cannot drift.
 * The XML form of the document (wmd-xml.[ch]) is built on top of this model and loads through
 * the same builder calls.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "vss/vss-common.h"

typedef enum FileSetKind {
        FILESET_FILE_GROUP = 0,
        FILESET_DATABASE = 1,
        FILESET_DATABASE_LOG = 2,
        _FILESET_KIND_MAX,
} FileSetKind;

typedef struct WmFileSet {
        FileSetKind kind;
        char *logical_path;     /* of the owning component, "" for root */
        char *component_name;
        char *path;
        char *filespec;
        bool recursive;
        char *alternate_location; /* NULL when none */
        uint32_t backup_type_mask;
} WmFileSet;

typedef struct WmComponent {
        vss_component_type type;
        char *logical_path;     /* "" for root, never NULL */
        char *name;
        char *caption;          /* "" when none, never NULL */
        bool restore_metadata;
        bool notify_on_backup_complete;
        bool selectable;
        bool selectable_for_restore;
        uint32_t flags;
} WmComponent;

typedef struct WmExclude {
        char *path;
        char *filespec;
        bool recursive;
} WmExclude;

/* AddAlternateLocationMapping: where a file set goes at restore time when it cannot go home. */
typedef struct WmAlternateMapping {
        char *path;
        char *filespec;
        bool recursive;
        char *destination;
} WmAlternateMapping;

/* AddComponentDependency: component (for_logical_path, for_name) needs a component of another writer. */
typedef struct WmDependency {
        char *for_logical_path; /* "" for root, never NULL */
        char *for_name;
        vss_id on_writer_id;
        char *on_logical_path;  /* "" for root; may start with "\\Host\" for a remote writer */
        char *on_name;
} WmDependency;

typedef struct WriterMetadata {
        vss_id instance_id;
        vss_id writer_id;
        char *writer_name;
        char *instance_name;    /* "" when none */
        vss_usage_type usage_type;
        vss_source_type source_type;
        uint32_t freeze_timeout_ms;

        vss_restore_method restore_method;
        char *restore_service;          /* "" when none */
        char *restore_user_procedure;   /* "" when none */
        vss_writer_restore writer_restore;
        bool reboot_required;
        uint32_t backup_schema;

        WmComponent *components;
        size_t n_components;
        WmFileSet *filesets;
        size_t n_filesets;
        WmExclude *excludes;
        size_t n_excludes;

        /*
         * Additions after the first contract. They travel at the end of VSS_BUS_SIG_WMD
         * (a(sssb) mappings, a(sssss) dependencies) and in the XML form.
         */
        WmAlternateMapping *alternate_mappings;
        size_t n_alternate_mappings;
        WmDependency *dependencies;
        size_t n_dependencies;
} WriterMetadata;

/* writer_metadata_new: an empty document (restore method undefined). NULL on OOM. */
WriterMetadata *writer_metadata_new(void);
/* writer_metadata_free: frees everything; NULL is a no-op; returns NULL. */
WriterMetadata *writer_metadata_free(WriterMetadata *m);

/*
 * The builder calls behind IVssCreateWriterMetadata. Each validates its arguments and the
 * limits in vss-bus.h, and returns S_OK or the code the public header documents
 * (E_INVALIDARG, E_OUTOFMEMORY, VSS_E_OBJECT_ALREADY_EXISTS, VSS_E_OBJECT_NOT_FOUND).
 * More than VSS_MAX_COMPONENTS components, or VSS_MAX_FILESETS file sets or excludes, is
 * E_INVALIDARG. The full rule list heads writer-metadata.c. On failure m is unchanged.
 */
vss_hr writer_metadata_add_component(WriterMetadata *m, vss_component_type type, const char *logical_path,
                                     const char *name, const char *caption, bool restore_metadata,
                                     bool notify_on_backup_complete, bool selectable,
                                     bool selectable_for_restore, uint32_t flags);
vss_hr writer_metadata_add_fileset(WriterMetadata *m, FileSetKind kind, const char *logical_path,
                                   const char *component_name, const char *path, const char *filespec,
                                   bool recursive, const char *alternate_location, uint32_t backup_type_mask);
vss_hr writer_metadata_add_exclude(WriterMetadata *m, const char *path, const char *filespec, bool recursive);
vss_hr writer_metadata_set_restore_method(WriterMetadata *m, vss_restore_method method, const char *service,
                                          const char *user_procedure, vss_writer_restore writer_restore,
                                          bool reboot_required);
vss_hr writer_metadata_set_backup_schema(WriterMetadata *m, uint32_t schema);

/*
 * writer_metadata_set_identity: the writer's identity fields (addition to the first contract).
 * writer_id must be non-null and writer_name non-empty; instance_id NULL means the null id;
 * usage/source in their enum ranges. S_OK, E_INVALIDARG or E_OUTOFMEMORY; m untouched on failure.
 * writer_metadata_read applies the same rules to a received document.
 */
vss_hr writer_metadata_set_identity(WriterMetadata *m, const vss_id *instance_id, const vss_id *writer_id,
                                    const char *writer_name, const char *instance_name, vss_usage_type usage_type,
                                    vss_source_type source_type, uint32_t freeze_timeout_ms);

/*
 * writer_metadata_add_alternate_location_mapping: AddAlternateLocationMapping. (path, filespec,
 * recursive) must equal a declared file set exactly (VSS_E_OBJECT_NOT_FOUND otherwise) and be
 * mapped once (VSS_E_OBJECT_ALREADY_EXISTS); destination is a path like a file set's. At most
 * VSS_MAX_FILESETS mappings. S_OK, E_INVALIDARG, E_OUTOFMEMORY; m untouched on failure.
 */
vss_hr writer_metadata_add_alternate_location_mapping(WriterMetadata *m, const char *path, const char *filespec,
                                                      bool recursive, const char *destination);

/*
 * writer_metadata_add_component_dependency: AddComponentDependency. The "for" component must
 * exist (VSS_E_OBJECT_NOT_FOUND); on_writer_id is non-null and, once the identity is set, not
 * this writer's own class (same-writer relations are expressed by logical paths, E_INVALIDARG);
 * on_name is a component name (non-empty, no '\'). A repeated dependency is
 * VSS_E_OBJECT_ALREADY_EXISTS. At most VSS_MAX_FILESETS dependencies. m untouched on failure.
 */
vss_hr writer_metadata_add_component_dependency(WriterMetadata *m, const char *for_logical_path,
                                                const char *for_name, const vss_id *on_writer_id,
                                                const char *on_logical_path, const char *on_name);

/* writer_metadata_find_component: by (logical_path, name); logical_path NULL == "". */
const WmComponent *writer_metadata_find_component(const WriterMetadata *m, const char *logical_path,
                                                  const char *name);

/* Counts of file sets of a component by kind (for VSS_COMPONENTINFO). */
unsigned writer_metadata_count_filesets(const WriterMetadata *m, const WmComponent *c, FileSetKind kind);
/* The index-th file set of kind of component c, or NULL. */
const WmFileSet *writer_metadata_get_fileset(const WriterMetadata *m, const WmComponent *c, FileSetKind kind,
                                             unsigned index);

/*
 * writer_metadata_append: append m as one VSS_BUS_SIG_WMD struct to a message being built.
 * Returns 0 or negative errno from sd-bus.
 */
int writer_metadata_append(sd_bus_message *msg, const WriterMetadata *m);

/*
 * writer_metadata_read: read one VSS_BUS_SIG_WMD struct from msg into a new document,
 * enforcing every limit and rule the builder enforces (a hostile peer cannot get past it).
 * Returns 0, -EBADMSG for a document that breaks a rule (with no partial result), or the
 * negative errno from sd-bus. *ret owned by the caller (writer_metadata_free).
 */
int writer_metadata_read(sd_bus_message *msg, WriterMetadata **ret);
