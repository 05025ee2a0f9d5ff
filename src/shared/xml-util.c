/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * xml-util.c: hardened XML input and deterministic XML output over libxml2.
 *
 * The documents a requester hands us (InitializeForBackup/Restore, stored writer metadata) are
 * hostile until proven otherwise, so the parser is boxed in before it sees a byte: the input
 * is size-checked and must be strict UTF-8 made of XML characters; a scan of the raw bytes
 * refuses any declaration (a document of ours never has a DOCTYPE, and every entity attack
 * needs one) and start tags with more attributes than libxml2 checks in reasonable time;
 * libxml2 runs without network access, DTD loading, validation or entity substitution; and
 * SAX hooks stop the parse if a DOCTYPE gets past the scan anyway, an element opens too deep,
 * the element count passes its limit, or a namespace shows up. libxml2's own messages are captured into the reason instead of reaching stderr:
 * its error handlers are thread-local, so they are swapped in for the duration of each call
 * and restored after, leaving any other libxml2 user in the process undisturbed.
 *
 * Output goes through xmlTextWriter with fixed indentation and attributes in the order the
 * caller writes them, so the same model always gives the same bytes.
 *
 * libxml2 is loaded with dlopen() when the first document is parsed or written, not linked:
 * it drags in ICU and libstdc++, seven libraries that cost a short-lived tool such as
 * `vshadow -nw` about 1.3 ms of CPU in the dynamic loader although no document crosses its
 * path. Every libxml2 function this file calls is in one table (XML_SYMBOLS), resolved at
 * once; a missing library or symbol is a clear failure of that one call (its reason names
 * the library), never a crash. Only this file touches libxml2's functions; the other
 * document files use its types and the helpers below.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlversion.h>
#include <libxml/xmlwriter.h>

#include "dl-util.h"
#include "macro.h"
#include "vss-bus.h"
#include "xml-util.h"

#if LIBXML_VERSION >= 21200
#define XML_ERROR_CONST const
#else
#define XML_ERROR_CONST
#endif

/* printf into a new string; NULL when out of memory. */
static char *format_string(const char *fmt, ...) _printf_(1, 2);
static char *format_string(const char *fmt, ...) {
        char *s;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        return r < 0 ? NULL : s;
}

/* ------------------------------------------------------------------------------------------ */
/* libxml2, loaded on first use                                                                */
/* ------------------------------------------------------------------------------------------ */

/* Its error handlers are per thread only with thread support; error_scope_enter relies on it. */
#if !defined(LIBXML_THREAD_ENABLED) || defined(LIBXML_THREAD_ALLOC_ENABLED)
#error "libxml2 must be built with thread support and without per-thread allocators"
#endif

/* Every libxml2 function called here. The error-handler globals are, with thread support,
 * functions returning the calling thread's slot (libxml2's own macros expand to them). */
#define XML_SYMBOLS(X)                                                                        \
        X(xmlInitParser)                                                                      \
        X(__xmlGenericError)                                                                  \
        X(__xmlGenericErrorContext)                                                           \
        X(__xmlStructuredError)                                                               \
        X(__xmlStructuredErrorContext)                                                        \
        X(xmlSetGenericErrorFunc)                                                             \
        X(xmlSetStructuredErrorFunc)                                                          \
        X(xmlCreateMemoryParserCtxt)                                                          \
        X(xmlCtxtUseOptions)                                                                  \
        X(xmlParseDocument)                                                                   \
        X(xmlStopParser)                                                                      \
        X(xmlFreeParserCtxt)                                                                  \
        X(xmlSAX2GetLineNumber)                                                               \
        X(xmlSAX2StartElementNs)                                                              \
        X(xmlSAX2EndElementNs)                                                                \
        X(xmlFreeDoc)                                                                         \
        X(xmlDocGetRootElement)                                                               \
        X(xmlHasNsProp)                                                                       \
        X(xmlNodeListGetString)                                                               \
        X(xmlIsBlankNode)                                                                     \
        X(xmlBufferCreate)                                                                    \
        X(xmlBufferFree)                                                                      \
        X(xmlBufferContent)                                                                   \
        X(xmlBufferLength)                                                                    \
        X(xmlNewTextWriterMemory)                                                             \
        X(xmlFreeTextWriter)                                                                  \
        X(xmlTextWriterSetIndent)                                                             \
        X(xmlTextWriterSetIndentString)                                                       \
        X(xmlTextWriterStartDocument)                                                         \
        X(xmlTextWriterEndDocument)                                                           \
        X(xmlTextWriterStartElement)                                                          \
        X(xmlTextWriterEndElement)                                                            \
        X(xmlTextWriterWriteAttribute)                                                        \
        X(xmlTextWriterFlush)

#define XML_SYMBOL_POINTER(name) static typeof(name) *sym_##name;
XML_SYMBOLS(XML_SYMBOL_POINTER)
#undef XML_SYMBOL_POINTER

/* libxml2's deallocator is a variable (xmlMemSetup may change it): its address. */
static xmlFreeFunc *sym_xmlFree;

static pthread_once_t xml_load_once = PTHREAD_ONCE_INIT;
static char *xml_load_error;    /* why libxml2 could not be loaded; NULL once it is */

static void xml_load(void) {
        static const DlSymbol table[] = {
#define XML_SYMBOL_ENTRY(name) { #name, (void **) &sym_##name },
                XML_SYMBOLS(XML_SYMBOL_ENTRY)
#undef XML_SYMBOL_ENTRY
                { "xmlFree", (void **) &sym_xmlFree },
        };

        if (dlopen_symbols("libxml2", LIBXML2_SONAME, table, ELEMENTSOF(table), &xml_load_error) < 0)
                return;
        sym_xmlInitParser();
}

/*
 * Loads libxml2 on the first call, in any thread. S_OK, or VSS_E_UNEXPECTED with *ret_reason
 * (malloc'd; ret_reason may be NULL) naming the library and what failed.
 */
static vss_hr xml_library_load(char **ret_reason) {
        (void) pthread_once(&xml_load_once, xml_load);
        if (!sym_xmlFree || xml_load_error) {
                if (ret_reason)
                        *ret_reason = strdup(xml_load_error ?: "libxml2 could not be loaded");
                return VSS_E_UNEXPECTED;
        }
        return S_OK;
}

void xml_doc_free(xmlDoc *doc) {
        /* A document exists only once libxml2 is loaded. */
        if (doc)
                sym_xmlFreeDoc(doc);
}

xmlNode *xml_doc_root(xmlDoc *doc) {
        return doc ? sym_xmlDocGetRootElement(doc) : NULL;
}

/* Decode one UTF-8 sequence strictly; returns its length, or 0 when malformed. */
static size_t utf8_decode(const unsigned char *p, size_t left, uint32_t *ret_cp) {
        uint32_t cp;
        size_t n;

        if (p[0] < 0x80) {
                *ret_cp = p[0];
                return 1;
        } else if ((p[0] & 0xE0) == 0xC0) {
                cp = p[0] & 0x1F;
                n = 2;
        } else if ((p[0] & 0xF0) == 0xE0) {
                cp = p[0] & 0x0F;
                n = 3;
        } else if ((p[0] & 0xF8) == 0xF0) {
                cp = p[0] & 0x07;
                n = 4;
        } else
                return 0;

        if (n > left)
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((p[i] & 0xC0) != 0x80)
                        return 0;
                cp = (cp << 6) | (p[i] & 0x3F);
        }
        /* Overlong forms, surrogates and values past U+10FFFF are not UTF-8. */
        if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
                return 0;

        *ret_cp = cp;
        return n;
}

static bool xml_char(uint32_t cp) {
        return cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) ||
               (cp >= 0xE000 && cp <= 0xFFFD) || (cp >= 0x10000 && cp <= 0x10FFFF);
}

/* Returns the byte offset of the first bad character, or size when all are good. */
static size_t xml_text_check(const char *s, size_t size) {
        const unsigned char *p = (const unsigned char *) s;
        size_t i = 0;

        while (i < size) {
                uint32_t cp;
                size_t n;

                n = utf8_decode(p + i, size - i, &cp);
                if (n == 0 || !xml_char(cp))
                        return i;
                i += n;
        }
        return size;
}

/* The length of s, or max + 1 when it is longer. A loop rather than strnlen(): GCC 12 inlines
 * callers that pass short literals and then rejects the bound as larger than the literal
 * (-Wstringop-overread in release builds), although strnlen stops at the terminator. */
static size_t length_upto(const char *s, size_t max) {
        size_t n = 0;

        while (n <= max && s[n] != '\0')
                n++;
        return n;
}

bool xml_string_ok(const char *s, size_t max_len) {
        size_t len;

        if (!s)
                return false;
        len = length_upto(s, max_len);
        if (len > max_len)
                return false;
        return xml_text_check(s, len) == len;
}

/* ------------------------------------------------------------------------------------------ */
/* libxml2's error channels, swapped for the duration of one call                              */
/* ------------------------------------------------------------------------------------------ */

typedef struct XmlErrorScope {
        xmlGenericErrorFunc generic;
        void *generic_ctx;
        xmlStructuredErrorFunc structured;
        void *structured_ctx;
} XmlErrorScope;

static void discard_generic(void *ctx, const char *msg, ...) {
}

/* Keeps libxml2's first error message as the reason (ctx: char **, may be NULL). */
static void capture_structured(void *ctx, XML_ERROR_CONST xmlError *error) {
        char **reason = ctx;
        size_t len;

        if (!reason || *reason || !error || error->level < XML_ERR_ERROR)
                return;

        len = error->message ? strlen(error->message) : 0;
        while (len > 0 && (error->message[len - 1] == '\n' || error->message[len - 1] == ' '))
                len--;
        *reason = format_string("line %d: %.*s", error->line, (int) len, error->message ? error->message : "error");
}

static XmlErrorScope error_scope_enter(char **reason) {
        XmlErrorScope s = {
                .generic = *sym___xmlGenericError(),
                .generic_ctx = *sym___xmlGenericErrorContext(),
                .structured = *sym___xmlStructuredError(),
                .structured_ctx = *sym___xmlStructuredErrorContext(),
        };

        sym_xmlSetGenericErrorFunc(NULL, discard_generic);
        sym_xmlSetStructuredErrorFunc(reason, capture_structured);
        return s;
}

static void error_scope_leave(XmlErrorScope *s) {
        sym_xmlSetGenericErrorFunc(s->generic_ctx, s->generic);
        sym_xmlSetStructuredErrorFunc(s->structured_ctx, s->structured);
}

/* ------------------------------------------------------------------------------------------ */
/* Parsing                                                                                     */
/* ------------------------------------------------------------------------------------------ */

typedef struct ParseState {
        unsigned n_elements;
        unsigned depth;
        bool refused;
        char **reason;
} ParseState;

static void refuse(xmlParserCtxt *ctxt, const char *what) {
        ParseState *s = ctxt->_private;

        if (!s->refused && !*s->reason)
                *s->reason = format_string("line %d: %s", sym_xmlSAX2GetLineNumber(ctxt), what);
        s->refused = true;
        sym_xmlStopParser(ctxt);
}

static void refuse_internal_subset(void *ctx, const xmlChar *name, const xmlChar *external_id,
                                   const xmlChar *system_id) {
        refuse(ctx, "a DOCTYPE is not allowed (no DTDs, no entity declarations)");
}

static void refuse_external_subset(void *ctx, const xmlChar *name, const xmlChar *external_id,
                                   const xmlChar *system_id) {
        refuse(ctx, "an external DTD subset is not allowed");
}

static void refuse_entity_decl(void *ctx, const xmlChar *name, int type, const xmlChar *public_id,
                               const xmlChar *system_id, xmlChar *content) {
        refuse(ctx, "entity declarations are not allowed");
}

static xmlParserInput *refuse_resolve_entity(void *ctx, const xmlChar *public_id, const xmlChar *system_id) {
        refuse(ctx, "external entities are not allowed");
        return NULL;
}

static void start_element(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri,
                          int nb_namespaces, const xmlChar **namespaces, int nb_attributes, int nb_defaulted,
                          const xmlChar **attributes) {
        xmlParserCtxt *ctxt = ctx;
        ParseState *s = ctxt->_private;

        if (s->refused)
                return;
        if (++s->n_elements > XML_MAX_ELEMENTS)
                return refuse(ctxt, "too many elements");
        if (++s->depth > XML_MAX_DEPTH)
                return refuse(ctxt, "elements nested too deep");
        if (prefix || uri || nb_namespaces > 0)
                return refuse(ctxt, "namespaces are not used in this document");
        for (int i = 0; i < nb_attributes; i++)
                if (attributes[i * 5 + 1])
                        return refuse(ctxt, "namespaced attributes are not used in this document");

        sym_xmlSAX2StartElementNs(ctx, localname, prefix, uri, nb_namespaces, namespaces, nb_attributes, nb_defaulted,
                              attributes);
}

static void end_element(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri) {
        xmlParserCtxt *ctxt = ctx;
        ParseState *s = ctxt->_private;

        if (s->refused)
                return;
        if (s->depth > 0)
                s->depth--;
        sym_xmlSAX2EndElementNs(ctx, localname, prefix, uri);
}

static void free_parser_ctxt(xmlParserCtxt **p) {
        if (*p) {
                xml_doc_free((*p)->myDoc);
                (*p)->myDoc = NULL;
                sym_xmlFreeParserCtxt(*p);
        }
}

typedef enum ScanState {
        SCAN_TEXT,
        SCAN_TAG,
        SCAN_QUOTE,
        SCAN_COMMENT,
        SCAN_PI,
        SCAN_CDATA,
} ScanState;

/*
 * A pass over the raw bytes before libxml2 sees them, for what its parser would only notice too
 * late or too slowly: libxml2 2.9 checks a start tag's attributes for duplicates pairwise, so
 * one tag with a million attributes takes hours; and a declaration (<!DOCTYPE, <!ENTITY) is
 * refused here already, before any of it is parsed. The scan only needs to be exact on
 * well-formed input; anything it misreads libxml2 refuses anyway.
 */
static char *prescan(const char *data, size_t size) {
        ScanState st = SCAN_TEXT;
        unsigned attributes = 0, line = 1;
        char quote = 0;

        for (size_t i = 0; i < size; i++) {
                const char *p = data + i;
                size_t left = size - i;

                if (*p == '\n')
                        line++;

                switch (st) {
                case SCAN_TEXT:
                        if (*p != '<')
                                break;
                        if (left >= 4 && memcmp(p, "<!--", 4) == 0) {
                                st = SCAN_COMMENT;
                                i += 3;
                        } else if (left >= 9 && memcmp(p, "<![CDATA[", 9) == 0) {
                                st = SCAN_CDATA;
                                i += 8;
                        } else if (left >= 2 && p[1] == '?') {
                                st = SCAN_PI;
                                i += 1;
                        } else if (left >= 2 && p[1] == '!')
                                return format_string("line %u: a DOCTYPE or declaration is not allowed "
                                                     "(no DTDs, no entity declarations)", line);
                        else {
                                st = SCAN_TAG;
                                attributes = 0;
                        }
                        break;
                case SCAN_TAG:
                        if (*p == '"' || *p == '\'') {
                                quote = *p;
                                st = SCAN_QUOTE;
                        } else if (*p == '=') {
                                if (++attributes > XML_MAX_ATTRIBUTES)
                                        return format_string("line %u: more than %u attributes on one element", line,
                                                             XML_MAX_ATTRIBUTES);
                        } else if (*p == '>')
                                st = SCAN_TEXT;
                        break;
                case SCAN_QUOTE:
                        if (*p == quote)
                                st = SCAN_TAG;
                        break;
                case SCAN_COMMENT:
                        if (left >= 3 && memcmp(p, "-->", 3) == 0) {
                                st = SCAN_TEXT;
                                i += 2;
                        }
                        break;
                case SCAN_PI:
                        if (left >= 2 && memcmp(p, "?>", 2) == 0) {
                                st = SCAN_TEXT;
                                i += 1;
                        }
                        break;
                case SCAN_CDATA:
                        if (left >= 3 && memcmp(p, "]]>", 3) == 0) {
                                st = SCAN_TEXT;
                                i += 2;
                        }
                        break;
                }
        }
        return NULL;
}

static vss_hr parse_fail(char **reason, char **ret_reason, const char *fallback) {
        if (ret_reason) {
                *ret_reason = *reason ? TAKE_PTR(*reason) : strdup(fallback);
        }
        free(*reason);
        *reason = NULL;
        return VSS_E_INVALID_XML_DOCUMENT;
}

vss_hr xml_parse(const char *data, size_t size, const char *root_name, xmlDoc **ret_doc, char **ret_reason) {
        _cleanup_(free_parser_ctxt) xmlParserCtxt *ctxt = NULL;
        _cleanup_(xml_doc_freep) xmlDoc *doc = NULL;
        _cleanup_free_ char *reason = NULL;
        ParseState state = { .reason = &reason };
        xmlNode *root;
        size_t bad;
        vss_hr hr;

        if (!data || !root_name || !ret_doc)
                return E_INVALIDARG;

        if (size == 0)
                return parse_fail(&reason, ret_reason, "the document is empty");
        if (size > XML_MAX_DOCUMENT_SIZE) {
                reason = format_string("the document is larger than %u bytes", XML_MAX_DOCUMENT_SIZE);
                return parse_fail(&reason, ret_reason, "the document is too large");
        }
        bad = xml_text_check(data, size);
        if (bad < size) {
                reason = format_string("byte %zu: not UTF-8 or not an XML character", bad);
                return parse_fail(&reason, ret_reason, "the document is not UTF-8");
        }
        reason = prescan(data, size);
        if (reason)
                return parse_fail(&reason, ret_reason, "the document uses markup that is not allowed");
        hr = xml_library_load(&reason);
        if (VSS_FAILED(hr)) {
                if (ret_reason)
                        *ret_reason = TAKE_PTR(reason);
                return hr;
        }

        {
                _cleanup_(error_scope_leave) _unused_ XmlErrorScope scope = error_scope_enter(&reason);

                ctxt = sym_xmlCreateMemoryParserCtxt(data, (int) size);
                if (!ctxt)
                        return E_OUTOFMEMORY;

                (void) sym_xmlCtxtUseOptions(ctxt, XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOCDATA);
                ctxt->_private = &state;
                ctxt->sax->internalSubset = refuse_internal_subset;
                ctxt->sax->externalSubset = refuse_external_subset;
                ctxt->sax->entityDecl = refuse_entity_decl;
                ctxt->sax->resolveEntity = refuse_resolve_entity;
                ctxt->sax->startElementNs = start_element;
                ctxt->sax->endElementNs = end_element;
                ctxt->sax->serror = NULL;

                (void) sym_xmlParseDocument(ctxt);

                doc = TAKE_PTR(ctxt->myDoc);
                if (state.refused || !ctxt->wellFormed || !doc)
                        return parse_fail(&reason, ret_reason, "the document is not well-formed XML");
        }

        if (doc->encoding && strcasecmp((const char *) doc->encoding, "UTF-8") != 0) {
                free(reason);
                reason = format_string("encoding \"%s\" is not UTF-8", (const char *) doc->encoding);
                return parse_fail(&reason, ret_reason, "the document is not UTF-8");
        }

        root = sym_xmlDocGetRootElement(doc);
        if (!root || !xml_is(root, root_name)) {
                free(reason);
                reason = format_string("the root element is not <%s>", root_name);
                return parse_fail(&reason, ret_reason, "wrong root element");
        }

        *ret_doc = TAKE_PTR(doc);
        return S_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Reading helpers                                                                             */
/* ------------------------------------------------------------------------------------------ */

vss_hr xml_fail(const xmlNode *n, char **reason, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        int r;

        if (!reason || *reason)
                return VSS_E_INVALID_XML_DOCUMENT;

        va_start(ap, fmt);
        r = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (r < 0) {
                msg = NULL;
                return VSS_E_INVALID_XML_DOCUMENT;
        }

        if (n && n->name)
                *reason = format_string("line %d: <%s>: %s", n->line, (const char *) n->name, msg);
        else
                *reason = TAKE_PTR(msg);
        return VSS_E_INVALID_XML_DOCUMENT;
}

bool xml_is(const xmlNode *n, const char *name) {
        return n && n->type == XML_ELEMENT_NODE && !n->ns && streq((const char *) n->name, name);
}

static bool name_allowed(const xmlChar *name, const char *const *allowed) {
        for (size_t i = 0; allowed && allowed[i]; i++)
                if (streq((const char *) name, allowed[i]))
                        return true;
        return false;
}

vss_hr xml_check_element(xmlNode *n, const char *const *allowed, char **reason) {
        if (!n || n->type != XML_ELEMENT_NODE)
                return xml_fail(n, reason, "expected an element");

        for (xmlAttr *a = n->properties; a; a = a->next)
                if (a->ns || !name_allowed(a->name, allowed))
                        return xml_fail(n, reason, "unknown attribute \"%s\"", (const char *) a->name);

        for (xmlNode *c = n->children; c; c = c->next)
                switch (c->type) {
                case XML_ELEMENT_NODE:
                        if (c->ns)
                                return xml_fail(c, reason, "namespaces are not used in this document");
                        break;
                case XML_COMMENT_NODE:
                        break;
                case XML_TEXT_NODE:
                        if (!sym_xmlIsBlankNode(c))
                                return xml_fail(n, reason, "unexpected text content");
                        break;
                default:
                        return xml_fail(n, reason, "unexpected content (node type %d)", (int) c->type);
                }

        return S_OK;
}

static xmlNode *skip_to_element(xmlNode *n) {
        while (n && n->type != XML_ELEMENT_NODE)
                n = n->next;
        return n;
}

xmlNode *xml_first_element(xmlNode *parent) {
        return parent ? skip_to_element(parent->children) : NULL;
}

xmlNode *xml_next_element(xmlNode *n) {
        return n ? skip_to_element(n->next) : NULL;
}

vss_hr xml_get_string(xmlNode *n, const char *name, bool required, char **ret, char **reason) {
        xmlAttr *a;
        xmlChar *v;
        char *copy;

        a = sym_xmlHasNsProp(n, BAD_CAST name, NULL);
        if (!a) {
                if (required)
                        return xml_fail(n, reason, "attribute \"%s\" is missing", name);
                *ret = NULL;
                return S_OK;
        }

        if (!a->children)
                copy = strdup("");
        else {
                v = sym_xmlNodeListGetString(n->doc, a->children, 1);
                if (!v)
                        return E_OUTOFMEMORY;
                if (!xml_string_ok((const char *) v, VSS_MAX_STRING)) {
                        (*sym_xmlFree)(v);
                        return xml_fail(n, reason, "attribute \"%s\" is longer than %u bytes", name, VSS_MAX_STRING);
                }
                copy = strdup((const char *) v);
                (*sym_xmlFree)(v);
        }
        if (!copy)
                return E_OUTOFMEMORY;

        *ret = copy;
        return S_OK;
}

vss_hr xml_get_bool(xmlNode *n, const char *name, bool required, bool def, bool *ret, char **reason) {
        _cleanup_free_ char *v = NULL;
        vss_hr hr;

        hr = xml_get_string(n, name, required, &v, reason);
        if (VSS_FAILED(hr))
                return hr;
        if (!v)
                *ret = def;
        else if (streq(v, "yes"))
                *ret = true;
        else if (streq(v, "no"))
                *ret = false;
        else
                return xml_fail(n, reason, "attribute \"%s\" must be \"yes\" or \"no\"", name);
        return S_OK;
}

bool xml_number_prefix(const char **p, uint64_t max, uint64_t *ret) {
        const char *s = *p;
        unsigned base = 10;
        uint64_t v = 0;
        bool any = false;

        if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
                base = 16;
                s += 2;
        }
        for (;; s++) {
                unsigned d;

                if (*s >= '0' && *s <= '9')
                        d = *s - '0';
                else if (base == 16 && *s >= 'a' && *s <= 'f')
                        d = *s - 'a' + 10;
                else if (base == 16 && *s >= 'A' && *s <= 'F')
                        d = *s - 'A' + 10;
                else
                        break;
                if (v > (max - d) / base)
                        return false;
                v = v * base + d;
                any = true;
        }
        if (!any)
                return false;
        *p = s;
        *ret = v;
        return true;
}

/* Whole-string unsigned number, decimal or 0x-hex, no sign, no spaces. */
static bool parse_u64(const char *s, uint64_t max, uint64_t *ret) {
        uint64_t v;

        if (!xml_number_prefix(&s, max, &v) || *s != '\0')
                return false;
        *ret = v;
        return true;
}

vss_hr xml_get_u32(xmlNode *n, const char *name, bool required, uint32_t def, uint32_t *ret, char **reason) {
        _cleanup_free_ char *v = NULL;
        uint64_t u;
        vss_hr hr;

        hr = xml_get_string(n, name, required, &v, reason);
        if (VSS_FAILED(hr))
                return hr;
        if (!v) {
                *ret = def;
                return S_OK;
        }
        if (!parse_u64(v, UINT32_MAX, &u))
                return xml_fail(n, reason, "attribute \"%s\" is not a 32-bit unsigned number", name);
        *ret = (uint32_t) u;
        return S_OK;
}

vss_hr xml_get_i64(xmlNode *n, const char *name, bool required, int64_t def, int64_t *ret, char **reason) {
        _cleanup_free_ char *v = NULL;
        bool negative;
        const char *digits;
        uint64_t u;
        vss_hr hr;

        hr = xml_get_string(n, name, required, &v, reason);
        if (VSS_FAILED(hr))
                return hr;
        if (!v) {
                *ret = def;
                return S_OK;
        }

        negative = v[0] == '-';
        digits = negative ? v + 1 : v;
        /* Decimal only: a leading "0x" after a sign would be ambiguous. */
        if (!digits[0] || digits[0] == '+' || (digits[0] == '0' && digits[1] && (digits[1] == 'x' || digits[1] == 'X')) ||
            !parse_u64(digits, negative ? (uint64_t) INT64_MAX + 1 : (uint64_t) INT64_MAX, &u))
                return xml_fail(n, reason, "attribute \"%s\" is not a 64-bit number", name);

        *ret = negative ? (int64_t) (0 - u) : (int64_t) u;
        return S_OK;
}

vss_hr xml_get_id(xmlNode *n, const char *name, bool required, vss_id *ret, char **reason) {
        _cleanup_free_ char *v = NULL;
        vss_id id;
        vss_hr hr;

        hr = xml_get_string(n, name, required, &v, reason);
        if (VSS_FAILED(hr))
                return hr;
        if (!v) {
                *ret = VSS_ID_NULL;
                return S_OK;
        }
        if (vss_id_parse(v, &id) != S_OK)
                return xml_fail(n, reason, "attribute \"%s\" is not an id", name);
        *ret = id;
        return S_OK;
}

vss_hr xml_get_enum(xmlNode *n, const char *name, const char *const *names, size_t n_names, bool required,
                    unsigned def, unsigned *ret, char **reason) {
        _cleanup_free_ char *v = NULL;
        vss_hr hr;

        hr = xml_get_string(n, name, required, &v, reason);
        if (VSS_FAILED(hr))
                return hr;
        if (!v) {
                *ret = def;
                return S_OK;
        }
        for (size_t i = 0; i < n_names; i++)
                if (names[i] && streq(names[i], v)) {
                        *ret = (unsigned) i;
                        return S_OK;
                }
        return xml_fail(n, reason, "attribute \"%s\" has an unknown value", name);
}

/* ------------------------------------------------------------------------------------------ */
/* Writing                                                                                     */
/* ------------------------------------------------------------------------------------------ */

struct XmlWriter {
        xmlBuffer *buf;
        xmlTextWriter *tw;
        vss_hr error;
        char *reason;
};

XmlWriter *xml_writer_new(void) {
        _cleanup_free_ XmlWriter *w = NULL;
        XmlErrorScope scope;

        w = calloc(1, sizeof(*w));
        if (!w)
                return NULL;

        /* Without libxml2 the writer carries the failure, which xml_writer_finish reports. */
        w->error = xml_library_load(&w->reason);
        if (VSS_FAILED(w->error))
                return TAKE_PTR(w);

        scope = error_scope_enter(NULL);
        w->buf = sym_xmlBufferCreate();
        if (w->buf)
                w->tw = sym_xmlNewTextWriterMemory(w->buf, 0);
        if (w->tw && (sym_xmlTextWriterSetIndent(w->tw, 1) < 0 ||
                      sym_xmlTextWriterSetIndentString(w->tw, BAD_CAST "  ") < 0 ||
                      sym_xmlTextWriterStartDocument(w->tw, "1.0", "UTF-8", NULL) < 0)) {
                sym_xmlFreeTextWriter(w->tw);
                w->tw = NULL;
        }
        error_scope_leave(&scope);

        if (!w->tw) {
                if (w->buf)
                        sym_xmlBufferFree(w->buf);
                return NULL;
        }
        return TAKE_PTR(w);
}

XmlWriter *xml_writer_free(XmlWriter *w) {
        XmlErrorScope scope;

        if (!w)
                return NULL;

        if (w->tw || w->buf) {
                scope = error_scope_enter(NULL);
                if (w->tw)
                        sym_xmlFreeTextWriter(w->tw);
                if (w->buf)
                        sym_xmlBufferFree(w->buf);
                error_scope_leave(&scope);
        }

        free(w->reason);
        free(w);
        return NULL;
}

static void writer_error(XmlWriter *w, vss_hr hr, const char *fmt, ...) _printf_(3, 4);
static void writer_error(XmlWriter *w, vss_hr hr, const char *fmt, ...) {
        va_list ap;

        if (VSS_FAILED(w->error))
                return;
        w->error = hr;
        va_start(ap, fmt);
        if (vasprintf(&w->reason, fmt, ap) < 0)
                w->reason = NULL;
        va_end(ap);
}

/* Runs one libxml2 writer call with its error channels silenced; a failure is OOM. */
#define WRITER_CALL(w, call)                                                                  \
        do {                                                                                  \
                _cleanup_(error_scope_leave) _unused_ XmlErrorScope _scope_ = error_scope_enter(NULL); \
                if ((call) < 0)                                                               \
                        writer_error((w), E_OUTOFMEMORY, "libxml2 could not write the document"); \
        } while (0)

void xml_writer_start(XmlWriter *w, const char *element) {
        if (!w || VSS_FAILED(w->error))
                return;
        WRITER_CALL(w, sym_xmlTextWriterStartElement(w->tw, BAD_CAST element));
}

void xml_writer_end(XmlWriter *w) {
        if (!w || VSS_FAILED(w->error))
                return;
        WRITER_CALL(w, sym_xmlTextWriterEndElement(w->tw));
}

void xml_writer_attr(XmlWriter *w, const char *name, const char *value) {
        if (!w || VSS_FAILED(w->error) || !value)
                return;
        if (!xml_string_ok(value, VSS_MAX_STRING)) {
                writer_error(w, VSS_E_INVALID_XML_DOCUMENT,
                             "the value of \"%s\" is too long or holds characters XML cannot carry", name);
                return;
        }
        WRITER_CALL(w, sym_xmlTextWriterWriteAttribute(w->tw, BAD_CAST name, BAD_CAST value));
}

void xml_writer_attr_bool(XmlWriter *w, const char *name, bool value) {
        xml_writer_attr(w, name, value ? "yes" : "no");
}

void xml_writer_attr_hex(XmlWriter *w, const char *name, uint32_t value) {
        char buf[sizeof("0x") + 8];

        (void) snprintf(buf, sizeof(buf), "0x%08x", value);
        xml_writer_attr(w, name, buf);
}

void xml_writer_attr_u32(XmlWriter *w, const char *name, uint32_t value) {
        char buf[16];

        (void) snprintf(buf, sizeof(buf), "%u", value);
        xml_writer_attr(w, name, buf);
}

void xml_writer_attr_i64(XmlWriter *w, const char *name, int64_t value) {
        char buf[24];

        (void) snprintf(buf, sizeof(buf), "%lld", (long long) value);
        xml_writer_attr(w, name, buf);
}

void xml_writer_attr_id(XmlWriter *w, const char *name, const vss_id *value) {
        char buf[VSS_ID_STRING_MAX];

        xml_writer_attr(w, name, vss_id_format(value, buf));
}

void xml_writer_attr_enum(XmlWriter *w, const char *name, const char *const *names, size_t n_names,
                          unsigned value) {
        if (!w || VSS_FAILED(w->error))
                return;
        if (value >= n_names || !names[value]) {
                writer_error(w, VSS_E_INVALID_XML_DOCUMENT, "the value %u of \"%s\" has no name", value, name);
                return;
        }
        xml_writer_attr(w, name, names[value]);
}

vss_hr xml_writer_finish(XmlWriter *w, char **ret_xml, char **ret_reason) {
        char *text = NULL;
        vss_hr hr;

        if (!w || !ret_xml) {
                xml_writer_free(w);
                return E_INVALIDARG;
        }

        if (VSS_SUCCEEDED(w->error)) {
                WRITER_CALL(w, sym_xmlTextWriterEndDocument(w->tw));
                WRITER_CALL(w, sym_xmlTextWriterFlush(w->tw));
        }
        if (VSS_SUCCEEDED(w->error)) {
                text = strndup((const char *) sym_xmlBufferContent(w->buf), (size_t) sym_xmlBufferLength(w->buf));
                if (!text)
                        writer_error(w, E_OUTOFMEMORY, "out of memory");
        }

        hr = w->error;
        if (VSS_FAILED(hr)) {
                if (ret_reason)
                        *ret_reason = TAKE_PTR(w->reason);
                xml_writer_free(w);
                return hr;
        }

        xml_writer_free(w);
        *ret_xml = text;
        return S_OK;
}
