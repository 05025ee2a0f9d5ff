/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * conf-text.h: the one reader of the project's "name = value" configuration files (vssd.conf,
 * the writers' --config files). Callers decide what a name means; this only splits lines.
 */
#pragma once

#include <stddef.h>

#define CONF_FILE_SIZE_MAX (64U * 1024U)

/* Called for each setting: its line number (from 1), name and value, both trimmed and
 * pointing into the text. A negative return stops the parse and is returned. */
typedef int (*conf_setting_fn)(unsigned line, const char *name, const char *value, void *userdata);

/*
 * conf_file_read: the whole of path as one NUL-terminated string of at most max bytes.
 * Returns 0, -ENOENT (no such file), -E2BIG (larger than max), -ENOMEM or another -errno.
 * Ownership: *ret_text is the caller's, ended by free().
 */
int conf_file_read(const char *path, size_t max, char **ret_text);

/*
 * conf_text_parse: hands every "name = value" line of text to fn, in order. Blank lines and
 * lines starting with '#' or ';' (after blanks) are skipped; blanks around name and value, and
 * a trailing CR, are trimmed. text is split in place: the strings fn gets stay valid as long
 * as text does. Returns 0; -EINVAL with *reterr_line (if not NULL) for a line without '=' or
 * with an empty name; or fn's first negative return, with *reterr_line its line.
 */
int conf_text_parse(char *text, conf_setting_fn fn, void *userdata, unsigned *reterr_line);
