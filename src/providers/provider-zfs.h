/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * provider-zfs.h: what the ZFS provider offers beyond its ops table (provider_zfs_new,
 * provider-registry.h): the skew of the last commit across pools, which the tests and the
 * benchmark report.
 */
#pragma once

#include <stdint.h>

#include "vss/sys/provider.h"

/* provider_zfs_last_skew_usec: for the last commit of instance self that spanned more than one
 * pool, how far apart the pools' snapshot calls started, in microseconds (the calls run in
 * parallel; each pool's point in time is the start of the sync its call triggers); 0 when the
 * last commit touched one pool (one atomic call: no skew) or before the first. */
uint64_t provider_zfs_last_skew_usec(VssProvider *self);
