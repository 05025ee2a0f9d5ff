/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * wmd-xml.h: the Writer Metadata Document as XML (SaveAsXML / LoadFromXML of
 * IVssExamineWriterMetadata). The schema is described in docs/documents.md.
 */
#pragma once

#include <stddef.h>

#include "vss/vss-common.h"
#include "writer-metadata.h"

/*
 * writer_metadata_to_xml: m as a UTF-8 XML document. The same model always gives the same
 * bytes, and writer_metadata_from_xml of the result followed by writer_metadata_to_xml gives
 * them again. Returns S_OK with *ret (malloc'd, NUL-terminated; caller frees);
 * VSS_E_INVALID_XML_DOCUMENT when m has no writer identity or holds a string XML cannot carry
 * (a control character); E_INVALIDARG for NULL arguments; E_OUTOFMEMORY.
 */
vss_hr writer_metadata_to_xml(const WriterMetadata *m, char **ret);

/*
 * writer_metadata_from_xml: load a document written by writer_metadata_to_xml (or by hand to
 * the same schema). Parsing is hardened (xml-util.h) and the model is rebuilt through the
 * writer_metadata_* builder calls, so every rule a writer obeys in OnIdentify holds for a
 * loaded document too. Returns S_OK with *ret (writer_metadata_free); VSS_E_INVALID_XML_DOCUMENT
 * with *ret_reason (malloc'd sentence naming line and element; caller frees; ret_reason may be
 * NULL) for anything malformed or breaking a rule; E_INVALIDARG for NULL arguments;
 * E_OUTOFMEMORY. Nothing is returned on failure.
 */
vss_hr writer_metadata_from_xml(const char *xml, size_t len, WriterMetadata **ret, char **ret_reason);
