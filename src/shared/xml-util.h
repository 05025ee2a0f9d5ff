/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * xml-util.h: the one hardened way vss-linux reads XML, and the one deterministic way it writes
 * it. Both documents (writer metadata, backup components) go through here, so the hardening
 * (no DOCTYPE, no entities, no network, size/depth/count limits, strict UTF-8) is written once.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libxml/tree.h>

#include "vss/vss-common.h"

/* Hard limits on a document we are asked to load. */
#define XML_MAX_DOCUMENT_SIZE   (16U * 1024U * 1024U) /* bytes of input */
#define XML_MAX_DEPTH           32U                   /* nesting of elements */
#define XML_MAX_ELEMENTS        200000U               /* elements in one document */
#define XML_MAX_ATTRIBUTES      64U                   /* attributes on one element */

/*
 * xml_string_ok: s is strict UTF-8 made only of characters XML 1.0 can carry (tab, LF, CR,
 * U+0020..U+D7FF, U+E000..U+FFFD, U+10000..U+10FFFF) and at most max_len bytes. NULL is false.
 */
bool xml_string_ok(const char *s, size_t max_len);

/*
 * libxml2 is loaded on first use (xml-util.c), so documents are freed and walked into through
 * these, never through libxml2's functions directly. xml_doc_free: NULL is a no-op.
 * xml_doc_root: the root element of a document xml_parse returned (NULL: NULL).
 */
void xml_doc_free(xmlDoc *doc);
xmlNode *xml_doc_root(xmlDoc *doc);

/* xml_doc_freep: _cleanup_ helper for an xmlDoc *. */
static inline void xml_doc_freep(xmlDoc **p) {
        xml_doc_free(*p);
}

/*
 * xml_parse: parse size bytes at data into a tree, refusing before or while parsing anything
 * outside the small XML subset our documents use: input over XML_MAX_DOCUMENT_SIZE, invalid
 * UTF-8 or NUL bytes, an encoding other than UTF-8, any DOCTYPE (and with it every entity
 * declaration: billion laughs, XXE), namespaces, more than XML_MAX_DEPTH levels,
 * XML_MAX_ELEMENTS elements or XML_MAX_ATTRIBUTES attributes on one element, a root element
 * not named root_name. Nothing is fetched from the network or the file system, and libxml2
 * prints nothing (its errors become the reason).
 * Returns S_OK with *ret_doc (free with xml_doc_free); VSS_E_INVALID_XML_DOCUMENT with
 * *ret_reason (malloc'd sentence, caller frees; ret_reason may be NULL); E_INVALIDARG for
 * NULL arguments; E_OUTOFMEMORY; VSS_E_UNEXPECTED when libxml2 cannot be loaded (the reason
 * says why).
 */
vss_hr xml_parse(const char *data, size_t size, const char *root_name, xmlDoc **ret_doc, char **ret_reason);

/*
 * Reading helpers over a tree xml_parse returned. Each returns S_OK or
 * VSS_E_INVALID_XML_DOCUMENT with *reason set to a sentence naming the line and element
 * (reason must point to NULL on entry; the first failure wins), or E_OUTOFMEMORY.
 */

/*
 * xml_check_element: n carries only attributes from allowed (NULL-terminated) and only
 * element children (comments and whitespace are ignored; text, CDATA, PIs are refused).
 */
vss_hr xml_check_element(xmlNode *n, const char *const *allowed, char **reason);
/* First / next element child of a checked element, NULL at the end. */
xmlNode *xml_first_element(xmlNode *parent);
xmlNode *xml_next_element(xmlNode *n);
/* xml_is: n is an element named name. */
bool xml_is(const xmlNode *n, const char *name);
/* xml_fail: set *reason (if still NULL) to "line L: <NAME>: message"; returns VSS_E_INVALID_XML_DOCUMENT. */
vss_hr xml_fail(const xmlNode *n, char **reason, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * xml_get_string: attribute name of n, at most VSS_MAX_STRING bytes. Absent: *ret = NULL when
 * !required, else a failure. *ret is malloc'd (free()).
 */
vss_hr xml_get_string(xmlNode *n, const char *name, bool required, char **ret, char **reason);
/* xml_get_bool: "yes" / "no"; absent gives def when !required. */
vss_hr xml_get_bool(xmlNode *n, const char *name, bool required, bool def, bool *ret, char **reason);
/*
 * xml_number_prefix: the documents' one number syntax, unsigned decimal or 0x-hex, read at *p:
 * at least one digit, at most max. Advances *p past it and gives the value; false (nothing
 * moved) otherwise. A whole attribute is a number when *p is then at its end.
 */
bool xml_number_prefix(const char **p, uint64_t max, uint64_t *ret);
/* xml_get_u32: decimal or 0x-hex, whole string, in range; absent gives def when !required. */
vss_hr xml_get_u32(xmlNode *n, const char *name, bool required, uint32_t def, uint32_t *ret, char **reason);
/* xml_get_i64: signed decimal, whole string, in range; absent gives def when !required. */
vss_hr xml_get_i64(xmlNode *n, const char *name, bool required, int64_t def, int64_t *ret, char **reason);
/* xml_get_id: a vss_id in its 36-character form; absent gives the null id when !required. */
vss_hr xml_get_id(xmlNode *n, const char *name, bool required, vss_id *ret, char **reason);
/*
 * xml_get_enum: one of names[0..n_names) (NULL entries are holes), *ret = its index; absent
 * gives def when !required.
 */
vss_hr xml_get_enum(xmlNode *n, const char *name, const char *const *names, size_t n_names, bool required,
                    unsigned def, unsigned *ret, char **reason);

/*
 * XmlWriter: builds a document in memory with a sticky error: after the first failure every
 * call is a no-op and xml_writer_finish reports it. Output is deterministic: attributes in call
 * order, two-space indentation, no timestamps, always UTF-8 with an XML declaration.
 */
typedef struct XmlWriter XmlWriter;

/* xml_writer_new: NULL on OOM. Free with xml_writer_free (NULL-safe, returns NULL). */
XmlWriter *xml_writer_new(void);
XmlWriter *xml_writer_free(XmlWriter *w);

/* Open an element (its attributes follow) / close the innermost open one. */
void xml_writer_start(XmlWriter *w, const char *element);
void xml_writer_end(XmlWriter *w);
/* String attribute; a string XML cannot carry (xml_string_ok) fails the document. NULL is skipped. */
void xml_writer_attr(XmlWriter *w, const char *name, const char *value);
/*
 * Typed attributes, each in the one form the matching xml_get_* reads back: "yes"/"no",
 * "0x%08x", decimal, signed decimal, the 36-character id.
 */
void xml_writer_attr_bool(XmlWriter *w, const char *name, bool value);
void xml_writer_attr_hex(XmlWriter *w, const char *name, uint32_t value);
void xml_writer_attr_u32(XmlWriter *w, const char *name, uint32_t value);
void xml_writer_attr_i64(XmlWriter *w, const char *name, int64_t value);
void xml_writer_attr_id(XmlWriter *w, const char *name, const vss_id *value);
/* names[value] must exist; anything else fails the document. */
void xml_writer_attr_enum(XmlWriter *w, const char *name, const char *const *names, size_t n_names,
                          unsigned value);

/*
 * xml_writer_finish: end the document and hand out the text. Returns S_OK with *ret_xml
 * (malloc'd, NUL-terminated; caller frees); VSS_E_INVALID_XML_DOCUMENT with *ret_reason when a
 * value could not be written (ret_reason may be NULL); E_OUTOFMEMORY; VSS_E_UNEXPECTED with
 * *ret_reason when libxml2 could not be loaded. w is spent either way.
 */
vss_hr xml_writer_finish(XmlWriter *w, char **ret_xml, char **ret_reason);
