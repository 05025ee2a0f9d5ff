/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-xml-load: libxml2 is loaded when the first document is parsed or written, not when a
 * program starts (xml-util.c), and a libxml2 that cannot be loaded is a clear failure of that
 * call, not a crash. Built twice: as is, and as test-xml-load-absent with xml-util.c compiled
 * for a library name that does not exist (XML_LOAD_ABSENT).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "vss-bus.h"
#include "xml-util.h"
#include "proc-maps.h"

#define DOC "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ROOT a=\"1\"/>\n"

/* Writes <ROOT a="1"/>; returns what xml_writer_finish returned. */
static vss_hr write_doc(char **ret_xml, char **ret_reason) {
        XmlWriter *w = xml_writer_new();

        assert_non_null(w);
        xml_writer_start(w, "ROOT");
        xml_writer_attr_u32(w, "a", 1);
        xml_writer_end(w);
        return xml_writer_finish(w, ret_xml, ret_reason);
}

#ifndef XML_LOAD_ABSENT

static void test_loaded_on_first_document(void **state) {
        _cleanup_free_ char *xml = NULL, *reason = NULL;
        _cleanup_(xml_doc_freep) xmlDoc *doc = NULL;
        uint32_t a = 0;

        /* Nothing in this program has touched a document yet. */
        assert_false(library_mapped(LIBXML2_SONAME));

        assert_int_equal(write_doc(&xml, &reason), S_OK);
        assert_true(library_mapped(LIBXML2_SONAME));
        assert_string_equal(xml, DOC);

        assert_int_equal(xml_parse(xml, strlen(xml), "ROOT", &doc, &reason), S_OK);
        assert_int_equal(xml_get_u32(xml_doc_root(doc), "a", true, 0, &a, &reason), S_OK);
        assert_int_equal(a, 1);
}

#else

static void test_absent_library_fails_clearly(void **state) {
        _cleanup_free_ char *xml = NULL, *reason = NULL, *reason2 = NULL;
        xmlDoc *doc = NULL;

        assert_int_equal(xml_parse(DOC, strlen(DOC), "ROOT", &doc, &reason), VSS_E_UNEXPECTED);
        assert_null(doc);
        assert_non_null(reason);
        assert_non_null(strstr(reason, LIBXML2_SONAME));
        assert_non_null(strstr(reason, "could not be loaded"));

        /* Input refused before any parsing still gets its own reason. */
        free(reason);
        reason = NULL;
        assert_int_equal(xml_parse("", 0, "ROOT", &doc, &reason), VSS_E_INVALID_XML_DOCUMENT);

        assert_int_equal(write_doc(&xml, &reason2), VSS_E_UNEXPECTED);
        assert_null(xml);
        assert_non_null(reason2);
        assert_non_null(strstr(reason2, LIBXML2_SONAME));
        assert_false(library_mapped(LIBXML2_SONAME));
        xml_doc_free(NULL);
}

#endif

int main(void) {
        const struct CMUnitTest tests[] = {
#ifndef XML_LOAD_ABSENT
                cmocka_unit_test(test_loaded_on_first_document),
#else
                cmocka_unit_test(test_absent_library_fails_clearly),
#endif
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
