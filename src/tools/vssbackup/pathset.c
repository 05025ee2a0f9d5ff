/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pathset.c: a set of paths with a type byte and a mark byte each, for what vssbackup must
 * know about a whole volume at once: the listing of the previous backup (which paths are new
 * in this one), the paths already selected (each stored once), and at restore time the
 * listing of the backup being restored (which entries of the chain to take, and which were
 * taken). Open addressing with linear probing over XXH3-64 hashes; one allocation per path,
 * the table doubles at 50% load, so 200k paths cost a few tens of MiB.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vssbackup.h"
#include "xxhash-util.h"

typedef struct PathSetSlot {
        char *path;             /* NULL: empty; allocated with the type and mark in front */
        uint64_t hash;
} PathSetSlot;

struct PathSet {
        PathSetSlot *slots;
        size_t n_slots;         /* a power of two */
        size_t n_items;
};

/* An item is one allocation: [type][mark][path...\0]; slot.path points at path. */
#define ITEM_HEADER 2

PathSet *pathset_new(void) {
        PathSet *s;

        s = calloc(1, sizeof(*s));
        if (!s)
                return NULL;
        s->n_slots = 1024;
        s->slots = calloc(s->n_slots, sizeof(PathSetSlot));
        if (!s->slots) {
                free(s);
                return NULL;
        }
        return s;
}

PathSet *pathset_free(PathSet *s) {
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n_slots; i++)
                if (s->slots[i].path)
                        free(s->slots[i].path - ITEM_HEADER);
        free(s->slots);
        free(s);
        return NULL;
}

static size_t probe(const PathSetSlot *slots, size_t n_slots, uint64_t hash, const char *path) {
        size_t i = (size_t) hash & (n_slots - 1);

        while (slots[i].path && (slots[i].hash != hash || !streq(slots[i].path, path)))
                i = (i + 1) & (n_slots - 1);
        return i;
}

static int grow(PathSet *s) {
        PathSetSlot *slots;
        size_t n;

        if (s->n_slots > SIZE_MAX / 2 / sizeof(PathSetSlot))
                return -ENOMEM;
        n = s->n_slots * 2;
        slots = calloc(n, sizeof(PathSetSlot));
        if (!slots)
                return -ENOMEM;
        for (size_t i = 0; i < s->n_slots; i++) {
                size_t j;

                if (!s->slots[i].path)
                        continue;
                j = (size_t) s->slots[i].hash & (n - 1);
                while (slots[j].path)
                        j = (j + 1) & (n - 1);
                slots[j] = s->slots[i];
        }
        free(s->slots);
        s->slots = slots;
        s->n_slots = n;
        return 0;
}

int pathset_put(PathSet *s, const char *path, char type) {
        uint64_t hash;
        size_t i, len;
        char *item;
        int r;

        assert(s && path);

        if ((s->n_items + 1) * 2 > s->n_slots) {
                r = grow(s);
                if (r < 0)
                        return r;
        }
        len = strlen(path);
        hash = XXH3_64bits(path, len);
        i = probe(s->slots, s->n_slots, hash, path);
        if (s->slots[i].path)
                return 0;

        item = malloc(ITEM_HEADER + len + 1);
        if (!item)
                return -ENOMEM;
        item[0] = type;
        item[1] = 0;
        memcpy(item + ITEM_HEADER, path, len + 1);
        s->slots[i] = (PathSetSlot) { .path = item + ITEM_HEADER, .hash = hash };
        s->n_items++;
        return 1;
}

char pathset_get(const PathSet *s, const char *path, uint8_t **ret_mark) {
        uint64_t hash;
        size_t i;

        assert(s && path);

        hash = XXH3_64bits(path, strlen(path));
        i = probe(s->slots, s->n_slots, hash, path);
        if (!s->slots[i].path)
                return 0;
        if (ret_mark)
                *ret_mark = (uint8_t *) s->slots[i].path - 1;
        return s->slots[i].path[-ITEM_HEADER];
}

size_t pathset_size(const PathSet *s) {
        return s ? s->n_items : 0;
}

int pathset_foreach(const PathSet *s, int (*fn)(const char *path, char type, uint8_t mark, void *userdata),
                    void *userdata) {
        assert(s && fn);

        for (size_t i = 0; i < s->n_slots; i++) {
                const char *p = s->slots[i].path;
                int r;

                if (!p)
                        continue;
                r = fn(p, p[-ITEM_HEADER], (uint8_t) p[-1], userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}
