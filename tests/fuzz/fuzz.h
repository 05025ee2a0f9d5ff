/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz.h: what every harness in tests/fuzz shares. A harness is one LLVMFuzzerTestOneInput;
 * built with -Dfuzz=true it links libFuzzer, otherwise replay.c drives it over the checked-in
 * corpus so every normal test run exercises the same inputs. A harness reports a finding by
 * aborting (FUZZ_CHECK), which both drivers turn into a failure with the input named.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An oracle: a property every accepted input must have. Aborts so the input is kept. */
#define FUZZ_CHECK(cond)                                                                      \
        do {                                                                                  \
                if (!(cond)) {                                                                \
                        fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #cond); \
                        abort();                                                              \
                }                                                                             \
        } while (0)

/*
 * fuzz_scratch_dir: a private directory, made once per process on a tmpfs when there is one
 * (/dev/shm; $TMPDIR or /tmp otherwise) and removed at exit, for harnesses whose target reads
 * files. Returns its path; aborts when none can be made (the harness cannot run at all).
 */
const char *fuzz_scratch_dir(void);

/*
 * fuzz_rm_rf_at: remove everything beneath parentfd/name and name itself, never following a
 * symlink, making directories writable and searchable first (an archive may store mode 000).
 * Returns 0 or the first negative errno.
 */
int fuzz_rm_rf_at(int parentfd, const char *name);
