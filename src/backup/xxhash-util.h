/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * xxhash-util.h: xxHash as vss-linux uses it; include this, not <xxhash.h>.
 *
 * Why: Debian builds libxxhash for the baseline x86-64 (SSE2), so XXH3 runs at about half of
 * what an AVX2 or AVX-512 core gives, and a full backup hashes every byte of content twice
 * (each file's checksum, and the archive's block checksum as it is written). The library
 * also exports XXH3's x86 dispatch functions, which pick the widest vector unit at run time;
 * <xxh_x86dispatch.h> points the usual names (XXH3_128bits_update, ...) at them. The digests
 * are the same. On this project's machines, 1 MiB blocks: 14 GB/s plain, 24 GB/s dispatched.
 * meson defines VSS_XXH_DISPATCH only when the library has them.
 */
#pragma once

#include <xxhash.h>

#ifndef VSS_XXH_DISPATCH
#define VSS_XXH_DISPATCH 0
#endif
#if VSS_XXH_DISPATCH
#include <xxh_x86dispatch.h>
#endif
