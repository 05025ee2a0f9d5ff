/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * list.h: intrusive doubly linked lists, the systemd way. An object that lives on a list has
 * LIST_FIELDS(Type, name) in its struct; the owner keeps a `Type *head`. Insert and remove are
 * O(1) and need no allocation, so cleanup paths cannot fail.
 */
#pragma once

#define LIST_FIELDS(t, name) t *name##_next, *name##_prev

#define LIST_PREPEND(name, head, item)                                 \
        do {                                                            \
                __typeof__(*(head)) **_head = &(head), *_item = (item); \
                if ((_item->name##_next = *_head))                      \
                        _item->name##_next->name##_prev = _item;        \
                _item->name##_prev = NULL;                              \
                *_head = _item;                                         \
        } while (0)

/* Appends at the tail: O(n), for the short lists that keep an order (oldest first). */
#define LIST_APPEND(name, head, item)                                  \
        do {                                                            \
                __typeof__(*(head)) **_head = &(head), *_item = (item), *_tail = *_head; \
                while (_tail && _tail->name##_next)                     \
                        _tail = _tail->name##_next;                     \
                _item->name##_next = NULL;                              \
                _item->name##_prev = _tail;                             \
                if (_tail)                                              \
                        _tail->name##_next = _item;                     \
                else                                                    \
                        *_head = _item;                                 \
        } while (0)

#define LIST_REMOVE(name, head, item)                                   \
        do {                                                            \
                __typeof__(*(head)) **_head = &(head), *_item = (item); \
                if (_item->name##_next)                                 \
                        _item->name##_next->name##_prev = _item->name##_prev; \
                if (_item->name##_prev)                                 \
                        _item->name##_prev->name##_next = _item->name##_next; \
                else                                                    \
                        *_head = _item->name##_next;                    \
                _item->name##_next = _item->name##_prev = NULL;         \
        } while (0)

#define LIST_FOREACH(name, i, head) \
        for (__typeof__(*(head)) *i = (head); i; i = i->name##_next)

/* Safe against removal of the current item. */
#define LIST_FOREACH_SAFE(name, i, n, head) \
        for (__typeof__(*(head)) *i = (head), *n = i ? i->name##_next : NULL; i; \
             i = n, n = i ? i->name##_next : NULL)
