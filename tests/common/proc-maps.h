/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * proc-maps.h: whether a shared library is mapped into the test's own process, for the tests
 * of the libraries libvss and the backup layer load on first use (libxml2, libarchive): they
 * check that nothing is mapped before the first use and that it is afterwards.
 */
#pragma once

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* library_mapped: whether a file whose name starts with soname is mapped (the SONAME is often a
 * link to "<soname>.<minor>"). Aborts the test if /proc/self/maps cannot be read: no answer
 * would be a false "not mapped". */
static inline bool library_mapped(const char *soname) {
        char *line = NULL, *needle;
        size_t size = 0;
        bool found = false;
        FILE *f;

        f = fopen("/proc/self/maps", "re");
        needle = malloc(strlen(soname) + 2);
        if (!f || !needle) {
                perror("library_mapped");
                abort();
        }
        needle[0] = '/';
        strcpy(needle + 1, soname);
        while (!found && getline(&line, &size, f) > 0)
                found = strstr(line, needle) != NULL;
        free(needle);
        free(line);
        fclose(f);
        return found;
}
