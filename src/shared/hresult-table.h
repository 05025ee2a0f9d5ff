/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * hresult-table.h: read access to the result-code table of hresult.c, so tests and tools can
 * walk every known code (round trips, listings) without a second copy of the list.
 */
#pragma once

#include <stddef.h>

#include "vss/vss-common.h"

/* vss_hr_table_size: the number of codes in the table. Cannot fail. */
size_t vss_hr_table_size(void);
/* vss_hr_table_value: the i-th code of the table; S_OK when i is out of range. */
vss_hr vss_hr_table_value(size_t i);
