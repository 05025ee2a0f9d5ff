/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * wire.c: see wire.h. The layout is the D-Bus specification's: a 12-byte fixed header, the
 * serial, then an array of (byte code, variant) header fields, padded to 8, then the body.
 */
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "wire.h"

#define ALIGN8(n) (((n) + 7) & ~(size_t) 7)

typedef struct Buf {
        uint8_t *p;
        size_t n;
} Buf;

static void put(Buf *b, const void *data, size_t len) {
        memcpy(b->p + b->n, data, len);
        b->n += len;
}

static void put_u32(Buf *b, uint32_t v) {
        uint8_t le[4] = { (uint8_t) v, (uint8_t) (v >> 8), (uint8_t) (v >> 16), (uint8_t) (v >> 24) };

        put(b, le, 4);
}

static void pad8(Buf *b) {
        while (b->n % 8)
                b->p[b->n++] = 0;
}

/* One header field whose value is a string-like type 'o' or 's' (u32 length) or 'g' (u8 length). */
static void put_field(Buf *b, uint8_t code, char type, const char *value) {
        size_t len = strlen(value);
        uint8_t sig[3] = { 1, (uint8_t) type, 0 };

        pad8(b);
        put(b, &code, 1);
        put(b, sig, 3);
        if (type == 'g') {
                uint8_t l = (uint8_t) len;

                put(b, &l, 1);
        } else
                put_u32(b, (uint32_t) len);
        put(b, value, len + 1);
}

uint8_t *wire_method_call(uint32_t serial, const char *member, const char *signature, const uint8_t *body,
                          size_t body_len, size_t *ret_len) {
        /* Fields: path "/", member, signature: each padded to 8, with 8 bytes of field header. */
        size_t max = 16 + 3 * 24 + strlen(member) + strlen(signature ?: "") + 16 + body_len;
        Buf b = { .p = malloc(max) };
        size_t fields_start;

        if (!b.p)
                return NULL;
        put(&b, "l\1\1\1", 4);          /* little endian, METHOD_CALL, NO_REPLY_EXPECTED, version 1 */
        put_u32(&b, (uint32_t) body_len);
        put_u32(&b, serial);
        put_u32(&b, 0);                 /* fields array length, set below */
        fields_start = b.n;
        put_field(&b, 1, 'o', "/");
        put_field(&b, 3, 's', member);
        if (!isempty(signature))
                put_field(&b, 8, 'g', signature);
        {
                uint32_t fl = (uint32_t) (b.n - fields_start);
                uint8_t le[4] = { (uint8_t) fl, (uint8_t) (fl >> 8), (uint8_t) (fl >> 16), (uint8_t) (fl >> 24) };

                memcpy(b.p + 12, le, 4);
        }
        pad8(&b);
        if (body_len > 0)
                put(&b, body, body_len);
        *ret_len = b.n;
        return b.p;
}

static uint32_t get_u32(const uint8_t *p, int big) {
        return big ? (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3]
                   : (uint32_t) p[3] << 24 | (uint32_t) p[2] << 16 | (uint32_t) p[1] << 8 | p[0];
}

int wire_body(const uint8_t *msg, size_t len, size_t *ret_offset, size_t *ret_body_len) {
        size_t off, body;
        int big;

        if (len < 16 || (msg[0] != 'l' && msg[0] != 'B'))
                return -1;
        big = msg[0] == 'B';
        body = get_u32(msg + 4, big);
        off = ALIGN8(16 + (size_t) get_u32(msg + 12, big));
        if (off > len || body > len - off)
                return -1;
        *ret_offset = off;
        *ret_body_len = body;
        return 0;
}
