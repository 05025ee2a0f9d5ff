/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-wmd-xml: the Writer Metadata Document loader (writer_metadata_from_xml), which reads
 * documents a requester saved and, through vssd, whatever a writer peer sends. Beyond "no
 * crash, no leak, no undefined behaviour", every accepted input must obey wmd-xml.h's promise:
 * it saves, the saved bytes load again, and saving that gives the same bytes.
 */
#include <string.h>

#include "fuzz.h"
#include "wmd-xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *reason = NULL, *xml = NULL, *again = NULL, *reason2 = NULL;
        WriterMetadata *m = NULL, *back = NULL;
        vss_hr hr;

        hr = writer_metadata_from_xml((const char *) data, size, &m, &reason);
        if (hr != S_OK) {
                FUZZ_CHECK(!m);
                FUZZ_CHECK(hr == VSS_E_INVALID_XML_DOCUMENT || hr == E_OUTOFMEMORY);
                return 0;
        }
        FUZZ_CHECK(m && !reason);

        FUZZ_CHECK(writer_metadata_to_xml(m, &xml) == S_OK);
        hr = writer_metadata_from_xml(xml, strlen(xml), &back, &reason2);
        if (hr != S_OK)
                fprintf(stderr, "saved document does not load: %s\n%s\n", strempty(reason2), xml);
        FUZZ_CHECK(hr == S_OK);
        FUZZ_CHECK(writer_metadata_to_xml(back, &again) == S_OK);
        FUZZ_CHECK(streq(xml, again));

        writer_metadata_free(back);
        writer_metadata_free(m);
        return 0;
}
