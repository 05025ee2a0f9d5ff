/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bcd-xml.h: the Backup Components Document as XML (IVssBackupComponents::SaveAsXML,
 * InitializeForBackup(xml), InitializeForRestore(xml)). The schema is described in
 * docs/documents.md.
 */
#pragma once

#include <stddef.h>

#include "backup-components.h"
#include "vss/vss-common.h"

/*
 * backup_components_to_xml: b as a UTF-8 XML document; the same model always gives the same
 * bytes, and loading them and saving again gives them again. Returns S_OK with *ret (malloc'd,
 * NUL-terminated; caller frees); E_INVALIDARG for NULL arguments; VSS_E_INVALID_XML_DOCUMENT
 * if a value cannot be written (the setters make that impossible); E_OUTOFMEMORY.
 */
vss_hr backup_components_to_xml(const BackupComponents *b, char **ret);

/*
 * backup_components_from_xml: load a saved document. Parsing is hardened (xml-util.h) and the
 * model is rebuilt through the backup_components_* / bcd_component_* setters, so a loaded
 * document obeys every rule and limit a built one does. The writer-metadata rules of differenced
 * files (seed 003) need the writer's metadata and are not re-checked here; the document-level
 * ones (syntax, repeats, differenced vs partial) are. Returns S_OK with *ret
 * (backup_components_free); VSS_E_INVALID_XML_DOCUMENT with *ret_reason (malloc'd sentence
 * naming line and element; caller frees; may be NULL); E_INVALIDARG for NULL arguments;
 * E_OUTOFMEMORY. Nothing is returned on failure.
 */
vss_hr backup_components_from_xml(const char *xml, size_t len, BackupComponents **ret, char **ret_reason);

/*
 * bcd_string_attr_name: the XML attribute a component's free-form string which is saved as
 * ("backupStamp", ...), the name its field goes by in messages too; NULL when which is out of
 * range.
 */
const char *bcd_string_attr_name(BcdString which);
