/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * wire.h: raw D-Bus messages for the wire harness and the seed maker. The harness writes a
 * message with a fuzzed body straight onto a socket whose other end is a real sd-bus peer, so
 * the decoder sees exactly what a hostile peer could make sd-bus hand it; the seed maker does
 * the reverse and takes the body of a message sd-bus marshalled.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/*
 * wire_method_call: a little-endian METHOD_CALL (NO_REPLY_EXPECTED) to path "/" and member
 * (at most 32 bytes), with the given body signature (NULL or "" for none) and body bytes, as it
 * travels on the socket. Returns the malloc'd message and its length in *ret_len, or NULL on OOM.
 */
uint8_t *wire_method_call(uint32_t serial, const char *member, const char *signature, const uint8_t *body,
                          size_t body_len, size_t *ret_len);

/* wire_body: where the body of the marshalled message msg (len bytes) starts, and its length. -1 if malformed. */
int wire_body(const uint8_t *msg, size_t len, size_t *ret_offset, size_t *ret_body_len);
