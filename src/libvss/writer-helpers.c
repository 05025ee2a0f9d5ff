/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * writer-helpers.c: the CVssWriter protected query helpers and SetWriterFailure.
 *
 * Each helper answers from the context of the event whose callback is running on the calling
 * thread, and only inside the window vss-semantics §6 gives it (table below). Outside a
 * callback, on another thread, or in an event outside its window it returns VSS_E_BAD_STATE:
 * a writer may be in several backups at once, so "the current snapshot set" only means
 * something inside the handler of one of that set's events (seed 002: not in
 * OnBackupShutdown, not after OnPostSnapshot returned).
 */
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "vss-bus.h"
#include "writer-internal.h"

#define WINDOW_SNAPSHOT                                                               \
        (EVENT_BIT(EVENT_PREPARE_FOR_SNAPSHOT) | EVENT_BIT(EVENT_FREEZE) |            \
         EVENT_BIT(EVENT_THAW) | EVENT_BIT(EVENT_POST_SNAPSHOT))
#define WINDOW_PATH_AFFECTED (EVENT_BIT(EVENT_PREPARE_FOR_BACKUP) | WINDOW_SNAPSHOT)
#define WINDOW_BACKUP_STATE                                                           \
        (WINDOW_PATH_AFFECTED | EVENT_BIT(EVENT_ABORT) | EVENT_BIT(EVENT_BACKUP_COMPLETE))
#define WINDOW_FAILURE (((1U << _EVENT_TYPE_MAX) - 1U) & ~EVENT_BIT(EVENT_IDENTIFY))
#define WINDOW_ANY ((1U << _EVENT_TYPE_MAX) - 1U)

/* The running callback's frame if w's callback is running on this thread inside window. */
static CallbackFrame *frame_in_window(vss_writer *w, unsigned window) {
        CallbackFrame *frame = writer_current_frame;

        if (!frame || frame->writer != w)
                return NULL;
        if (!(window & EVENT_BIT(frame->event->type)))
                return NULL;
        return frame;
}

vss_hr vss_writer_set_writer_failure(vss_writer *w, vss_hr hr) {
        CallbackFrame *frame;

        if (!w || (VSS_SUCCEEDED(hr) && hr != S_OK))
                return E_INVALIDARG;
        frame = frame_in_window(w, WINDOW_FAILURE);
        if (!frame)
                return VSS_E_BAD_STATE;

        frame->failure = hr;
        return S_OK;
}

vss_hr vss_writer_get_current_snapshot_set_id(vss_writer *w, vss_id *ret) {
        const CallbackFrame *frame;

        if (!w || !ret)
                return E_INVALIDARG;
        frame = frame_in_window(w, WINDOW_SNAPSHOT);
        if (!frame)
                return VSS_E_BAD_STATE;

        *ret = frame->event->ctx.has_snapshot_set_id ? frame->event->ctx.snapshot_set_id : VSS_ID_NULL;
        return S_OK;
}

vss_hr vss_writer_get_current_volume_array(vss_writer *w, unsigned *ret_count, const char *const **ret_volumes) {
        static const char *const no_volumes[] = { NULL };
        const CallbackFrame *frame;
        const EventContext *ctx;

        if (!w || !ret_count || !ret_volumes)
                return E_INVALIDARG;
        frame = frame_in_window(w, WINDOW_SNAPSHOT);
        if (!frame)
                return VSS_E_BAD_STATE;

        ctx = &frame->event->ctx;
        if (ctx->volumes) {
                *ret_count = (unsigned) ctx->n_volumes;
                *ret_volumes = (const char *const *) ctx->volumes;
        } else {
                *ret_count = 0;
                *ret_volumes = no_volumes;
        }
        return S_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* IsPathAffected                                                                               */
/* ------------------------------------------------------------------------------------------ */

typedef struct PathBuf {
        char s[VSS_MAX_STRING + 1];
        size_t len;
} PathBuf;

static int pathbuf_append(PathBuf *b, const char *s, size_t n) {
        if (b->len + n > VSS_MAX_STRING)
                return -E2BIG;
        memcpy(b->s + b->len, s, n);
        b->len += n;
        b->s[b->len] = 0;
        return 0;
}

static bool is_var_char(char c, bool first) {
        return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (!first && c >= '0' && c <= '9');
}

/* Expand $VAR and ${VAR}. An unset variable or a lone '$' is an error (-EINVAL). */
static int expand_variables(const char *path, PathBuf *ret) {
        *ret = (PathBuf) {};

        for (const char *p = path; *p;) {
                const char *name, *value;
                char var[256];
                size_t n;
                int k;

                if (*p != '$') {
                        k = pathbuf_append(ret, p, 1);
                        if (k < 0)
                                return k;
                        p++;
                        continue;
                }

                p++;
                if (*p == '{') {
                        name = ++p;
                        n = strcspn(name, "}");
                        if (name[n] != '}')
                                return -EINVAL;
                        p = name + n + 1;
                } else {
                        name = p;
                        for (n = 0; is_var_char(name[n], n == 0); n++)
                                ;
                        p = name + n;
                }
                if (n == 0 || n >= sizeof(var) || !is_var_char(name[0], true))
                        return -EINVAL;
                for (size_t i = 1; i < n; i++)
                        if (!is_var_char(name[i], false))
                                return -EINVAL;

                memcpy(var, name, n);
                var[n] = 0;
                value = getenv(var);
                if (!value)
                        return -EINVAL;
                k = pathbuf_append(ret, value, strlen(value));
                if (k < 0)
                        return k;
        }
        return 0;
}

/*
 * Lexically normalise an absolute path in place: collapse "//", drop "." and trailing '/',
 * resolve "..". "/" stays "/".
 */
static int normalize_path(char *s) {
        char *out = s;
        const char *p = s;

        if (*p != '/')
                return -EINVAL;

        while (*p) {
                const char *seg;
                size_t n;

                while (*p == '/')
                        p++;
                if (!*p)
                        break;
                seg = p;
                n = strcspn(seg, "/");
                p = seg + n;

                if (n == 1 && seg[0] == '.')
                        continue;
                if (n == 2 && seg[0] == '.' && seg[1] == '.') {
                        while (out > s && *(out - 1) != '/')
                                out--;
                        if (out > s)
                                out--;
                        continue;
                }
                *out++ = '/';
                memmove(out, seg, n);
                out += n;
        }
        if (out == s)
                *out++ = '/';
        *out = 0;
        return 0;
}

/* Does volume (normalised) contain path (normalised), comparing whole components? */
static bool path_under(const char *path, const char *volume) {
        size_t n = strlen(volume);

        if (streq(volume, "/"))
                return true;
        return strncmp(path, volume, n) == 0 && (path[n] == 0 || path[n] == '/');
}

vss_hr vss_writer_is_path_affected(vss_writer *w, const char *path, bool *ret_affected) {
        const CallbackFrame *frame;
        const EventContext *ctx;
        PathBuf expanded;
        bool affected = false;

        if (!w || !path || !ret_affected || strnlen(path, VSS_MAX_STRING + 1) > VSS_MAX_STRING)
                return E_INVALIDARG;
        frame = frame_in_window(w, WINDOW_PATH_AFFECTED);
        if (!frame)
                return VSS_E_BAD_STATE;

        if (expand_variables(path, &expanded) < 0)
                return E_INVALIDARG;
        /* IsPathAffected takes no wildcards. */
        if (strpbrk(expanded.s, "*?[") || normalize_path(expanded.s) < 0)
                return E_INVALIDARG;

        ctx = &frame->event->ctx;
        for (size_t i = 0; i < ctx->n_volumes && !affected; i++) {
                PathBuf volume = {};

                if (pathbuf_append(&volume, ctx->volumes[i], strlen(ctx->volumes[i])) < 0 ||
                    normalize_path(volume.s) < 0)
                        continue;
                affected = path_under(expanded.s, volume.s);
        }

        *ret_affected = affected;
        return S_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Backup state                                                                                 */
/* ------------------------------------------------------------------------------------------ */

vss_hr vss_writer_get_backup_type(vss_writer *w, vss_backup_type *ret) {
        const CallbackFrame *frame;

        if (!w || !ret)
                return E_INVALIDARG;
        frame = frame_in_window(w, WINDOW_BACKUP_STATE);
        if (!frame || !frame->event->ctx.has_backup_type)
                return VSS_E_BAD_STATE;

        *ret = frame->event->ctx.backup_type;
        return S_OK;
}

vss_hr vss_writer_are_components_selected(vss_writer *w, bool *ret) {
        const CallbackFrame *frame;

        if (!w || !ret)
                return E_INVALIDARG;
        frame = frame_in_window(w, WINDOW_BACKUP_STATE);
        if (!frame || !frame->event->ctx.has_select_components)
                return VSS_E_BAD_STATE;

        *ret = frame->event->ctx.select_components;
        return S_OK;
}

vss_hr vss_writer_get_context(vss_writer *w, vss_snapshot_context *ret) {
        const CallbackFrame *frame;

        if (!w || !ret)
                return E_INVALIDARG;
        frame = frame_in_window(w, WINDOW_ANY);
        if (!frame)
                return VSS_E_BAD_STATE;

        *ret = frame->event->ctx.has_context ? frame->event->ctx.context : VSS_CTX_BACKUP;
        return S_OK;
}

vss_hr vss_writer_get_restore_type(vss_writer *w, vss_restore_type *ret) {
        const CallbackFrame *frame;

        if (!w || !ret)
                return E_INVALIDARG;
        frame = frame_in_window(w, EVENT_BIT(EVENT_PRE_RESTORE) | EVENT_BIT(EVENT_POST_RESTORE));
        if (!frame)
                return VSS_E_BAD_STATE;

        /* The restore type is a document-wide field of the slice the event carried. */
        *ret = frame->components && frame->components->bcd ? (vss_restore_type) frame->components->bcd->restore_type
                                                           : VSS_RTYPE_UNDEFINED;
        return S_OK;
}
