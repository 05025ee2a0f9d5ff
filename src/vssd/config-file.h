/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * config-file.h: vssd's configuration file as command-line arguments (config-file.c,
 * vssd.conf(5)).
 */
#pragma once

#include <stdbool.h>

/*
 * config_argv_build: the arguments vssd parses: argv[0], then "--name=value" for every setting
 * of the configuration file and then of its drop-ins (<file>.d/NAME.conf, in lexical order of NAME), then
 * argv[1..] unchanged, so the command line comes last and wins. The file is the one named by
 * --config=PATH (or --config PATH) in argv, else default_path; --no-config reads none. A
 * missing default file is no error; a missing --config file is. allowed is the NULL-terminated
 * list of setting names (long option names) a file may use.
 * Returns 0, or a negative errno after logging the file, line and reason.
 * Ownership: *ret_argv (NULL-terminated, *ret_argc entries) is ended by config_argv_free().
 */
int config_argv_build(int argc, char **argv, const char *default_path, const char *const *allowed,
                      int *ret_argc, char ***ret_argv);

/* config_argv_free: frees what config_argv_build() made; NULL is fine. */
void config_argv_free(char **argv);
