#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# md2man.sh NAME SECTION DESCRIPTION IN.md OUT: a manual page from one of the project's
# Markdown documents, so each page is written once (docs/) and read both ways. A document
# that opens with "# NAME(SECTION)" is laid out as a manual page already; any other gets a
# NAME section from DESCRIPTION. Headings move up one level (the document's "##" sections
# are the page's sections); code blocks are left as they are. lowdown does the rest; the page
# is set ragged right, and its headings and NAME line are put the way man-db's whatis parser
# (lexgrog) reads them: ".SH NAME" on one line, "name \(em description" (a dash it knows).
set -eu
name=$1 section=$2 description=$3 in=$4 out=$5

{
        printf 'title: %s\nsection: %s\nsource: vss-linux\n\n' "$name" "$section"
        awk -v name="$name" -v section="$section" -v desc="$description" '
                NR == 1 {
                        if ($0 != "# " name "(" section ")")
                                printf "# NAME\n\n%s — %s\n\n# DESCRIPTION\n\n", name, desc
                        next
                }
                /^```/ { fence = !fence }
                !fence && /^##+ / { sub(/^#/, "") }
                { print }
        ' "$in"
} | lowdown -s -Tman | sed -e '/^\.SH$/{N;s/\n/ /}' -e '/^\.SH NAME$/,/^\.SH [^N]/s/ — / \\(em /' -e '/^\.TH /a\
.\\" Ragged right and no hyphenation, as systemd'"'"'s pages: table cells of identifiers\
.\\" cannot be justified, and troff would warn at every one.\
.ad l\
.nh' > "$out"
