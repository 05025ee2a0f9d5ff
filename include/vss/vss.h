/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vss.h: umbrella header of libvss. Include this one; it pulls in the common vocabulary,
 * the requester API and the writer API. Link with `pkg-config --libs libvss`.
 */
#ifndef VSS_H
#define VSS_H

#include "vss-common.h"
#include "vss-requester.h"
#include "vss-writer.h"

#endif /* VSS_H */
