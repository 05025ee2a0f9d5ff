/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * restore.c: -r and -rs, a restore with the writers from a saved -bc document: PreRestore,
 * the -exec command that copies the files back, PostRestore. A restore cannot be aborted
 * (vss-semantics.md §13), so every failure after PreRestore still goes through PostRestore.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xml-util.h"
#include "vshadow.h"

/* ------------------------------------------------------------------------------------------ */
/* Restore with writers (-r, -rs)                                                              */
/* ------------------------------------------------------------------------------------------ */

/* One component of the saved document that this restore selects. */
typedef struct RestoreItem {
        vss_id writer_id;               /* the writer class: its running instance takes part */
        vss_id instance_id;             /* the live instance vssd bound the document's writer to */
        vss_component_type type;
        char *logical_path;
        char *name;
        char *full_path;                /* "LP\NAME" or "NAME" */
        const char *writer_name;        /* borrowed from the gathered metadata */
} RestoreItem;

typedef struct Restore {
        vss_requester *req;
        Selection sel;                  /* the running writers' identities, for -wi/-wx */
        RestoreItem *items;
        size_t n_items;
        Env env;
} Restore;

static void restore_done(Restore *x) {
        for (size_t i = 0; i < x->n_items; i++) {
                free(x->items[i].logical_path);
                free(x->items[i].name);
                free(x->items[i].full_path);
        }
        free(x->items);
        env_done(&x->env);
        selection_done(&x->sel);
        vss_requester_release(x->req);
}

static bool restore_writer_selected_cb(const void *userdata, const vss_id *instance_id) {
        const Restore *x = userdata;

        for (size_t i = 0; i < x->n_items; i++)
                if (vss_id_equal(&x->items[i].instance_id, instance_id))
                        return true;
        return false;
}

/* The document FILE, whole, NUL-terminated, at most XML_MAX_DOCUMENT_SIZE bytes. Returns 0 or
 * minus an exit code. */
static int document_read(const char *path, char **ret) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *buf = NULL;
        size_t n = 0;
        struct stat st;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0 || fstat(fd, &st) < 0)
                return -tool_vss_error(vss_hr_from_errno(errno), "-%s=%s: %s", arg.command_option, path,
                                       strerror(errno));
        if (!S_ISREG(st.st_mode) || (uint64_t) st.st_size > XML_MAX_DOCUMENT_SIZE)
                return -tool_vss_error(VSS_E_INVALID_XML_DOCUMENT, "-%s=%s: not a regular file of at most %u bytes",
                                       arg.command_option, path, XML_MAX_DOCUMENT_SIZE);
        buf = malloc((size_t) st.st_size + 1);
        if (!buf)
                return -tool_vss_error(E_OUTOFMEMORY, NULL);
        while (n < (size_t) st.st_size) {
                ssize_t k = read(fd, buf + n, (size_t) st.st_size - n);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -tool_vss_error(vss_hr_from_errno(errno), "-%s=%s: %s", arg.command_option, path,
                                               strerror(errno));
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        buf[n] = '\0';
        *ret = TAKE_PTR(buf);
        return 0;
}

/* The running writer bound to the document's writer (by instance, else by class), or NULL. */
static Writer *restore_find_writer(Selection *sel, const vss_id *instance_id, const vss_id *writer_id) {
        for (size_t i = 0; i < sel->n_writers; i++)
                if (vss_id_equal(&sel->writers[i].id.instance_id, instance_id))
                        return &sel->writers[i];
        for (size_t i = 0; i < sel->n_writers; i++)
                if (vss_id_equal(&sel->writers[i].id.writer_id, writer_id))
                        return &sel->writers[i];
        return NULL;
}

/* Does -wi/-wx leave component full_path of writer w in this restore (1, else 0)? Records
 * which selectors matched. Returns minus an exit code on failure. */
static int restore_component_wanted(Restore *x, Writer *w, const char *full_path) {
        _cleanup_free_ WriterIdentity *all = calloc(MAX(x->sel.n_writers, (size_t) 1), sizeof(*all));
        Component c = { .full_path = (char *) full_path };
        bool included = arg.n_include == 0, excluded = false, whole;

        if (!all)
                return -tool_vss_error(E_OUTOFMEMORY, NULL);
        for (size_t i = 0; i < x->sel.n_writers; i++)
                all[i] = x->sel.writers[i].id;
        for (size_t i = 0; i < arg.n_include; i++)
                if (selector_covers(arg.include[i], w, &c, all, x->sel.n_writers, &whole)) {
                        included = true;
                        x->sel.include_matched[i] = true;
                }
        for (size_t i = 0; i < arg.n_exclude; i++)
                if (selector_covers(arg.exclude[i], w, &c, all, x->sel.n_writers, &whole)) {
                        excluded = true;
                        x->sel.exclude_matched[i] = true;
                }
        return included && !excluded;
}

static int restore_add_item(Restore *x, Writer *w, const vss_id *instance_id, const vss_id *writer_id,
                            vss_component_type type, const char *lp, const char *name, char *full_path) {
        RestoreItem *l, *it;

        l = realloc(x->items, (x->n_items + 1) * sizeof(*l));
        if (!l) {
                free(full_path);
                return -tool_vss_error(E_OUTOFMEMORY, NULL);
        }
        x->items = l;
        it = &x->items[x->n_items];
        *it = (RestoreItem) {
                .writer_id = *writer_id,
                .instance_id = *instance_id,
                .type = type,
                .logical_path = strdup(lp),
                .name = strdup(name),
                .full_path = full_path,
                .writer_name = w->id.name,
        };
        x->n_items++;
        if (!it->logical_path || !it->name)
                return -tool_vss_error(E_OUTOFMEMORY, NULL);
        return 0;
}

/* One writer of the document: each of its components that -wi/-wx leave in becomes an item. */
static int restore_collect_writer(Restore *x, vss_writer_components_ext *ext) {
        vss_id instance_id, writer_id;
        unsigned n = 0;
        Writer *w;
        vss_hr hr;
        int r;

        hr = vss_writer_components_ext_get_writer_info(ext, &instance_id, &writer_id);
        if (VSS_SUCCEEDED(hr))
                hr = vss_writer_components_ext_get_count(ext, &n);
        if (VSS_FAILED(hr))
                return -tool_step_failed(x->req, "GetWriterComponents", hr);
        w = restore_find_writer(&x->sel, &instance_id, &writer_id);
        if (!w) {
                tool_note("writer {%s} of the document is not running: its %u component%s cannot be restored with it "
                          "(restore its files without writer participation)", vss_id_to_str(&writer_id).s, n,
                          n == 1 ? "" : "s");
                return 0;
        }
        for (unsigned c = 0; c < n; c++) {
                const char *lp = NULL, *name = NULL;
                vss_component_type type;
                char *full;

                hr = tool_component_identity(ext, c, &lp, &name, &type);
                if (VSS_FAILED(hr))
                        return -tool_step_failed(x->req, "GetComponent", hr);
                if (asprintf(&full, "%s%s%s", strempty(lp), isempty(lp) ? "" : "\\", name) < 0)
                        return -tool_vss_error(E_OUTOFMEMORY, NULL);
                r = restore_component_wanted(x, w, full);
                if (r <= 0) {
                        free(full);
                        if (r < 0)
                                return r;
                        continue;
                }
                r = restore_add_item(x, w, &instance_id, &writer_id, type, strempty(lp), name, full);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Every component of the saved document that -wi/-wx leave in, with its running writer. */
static int restore_collect(Restore *x) {
        unsigned n = 0;
        vss_hr hr;
        int r;

        hr = vss_requester_get_writer_components_count(x->req, &n);
        if (VSS_FAILED(hr))
                return -tool_step_failed(x->req, "GetWriterComponentsCount", hr);
        for (unsigned i = 0; i < n; i++) {
                vss_writer_components_ext *ext = NULL;

                hr = vss_requester_get_writer_components(x->req, i, &ext);
                if (VSS_FAILED(hr))
                        return -tool_step_failed(x->req, "GetWriterComponents", hr);
                r = restore_collect_writer(x, ext);
                vss_writer_components_ext_free(ext);
                if (r < 0)
                        return r;
        }

        for (size_t i = 0; i < arg.n_include; i++)
                if (!x->sel.include_matched[i])
                        return -tool_vss_error(VSS_E_OBJECT_NOT_FOUND,
                                               "-wi=%s names no component of the document whose writer is running",
                                               arg.include[i]);
        for (size_t i = 0; i < arg.n_exclude; i++)
                if (!x->sel.exclude_matched[i])
                        tool_note("-wx=%s matches no component of the document; nothing excluded for it",
                                  arg.exclude[i]);
        return 0;
}

static int restore_select(Restore *x) {
        for (size_t i = 0; i < x->n_items; i++) {
                RestoreItem *it = &x->items[i];
                vss_hr hr;

                /* No instance: "the document's writer of this class", bound to its live instance. */
                hr = vss_requester_set_selected_for_restore(x->req, NULL, &it->writer_id, it->type, it->logical_path,
                                                            it->name, true);
                if (VSS_FAILED(hr)) {
                        const char *detail = vss_requester_get_error_message(x->req);

                        return -tool_vss_error(hr, "SetSelectedForRestore(writer \"%s\", component \"%s\") failed%s%s",
                                               it->writer_name, it->full_path, isempty(detail) ? "" : ": ",
                                               strempty(detail));
                }
                tool_note("writer \"%s\": component \"%s\" selected for restore", it->writer_name, it->full_path);
        }
        if (x->n_items == 0)
                tool_note("no component of the document is selected: no writer takes part in this restore");
        return 0;
}

static int restore_env_build(Restore *x, const char *bcd_path) {
        char count[32];
        int r;

        snprintf(count, sizeof(count), "%zu", x->n_items);
        r = env_add(&x->env, "1", "VSHADOW_RESTORE");
        if (r >= 0)
                r = env_add(&x->env, bcd_path, "VSHADOW_BCD");
        if (r >= 0)
                r = env_add(&x->env, count, "VSHADOW_COMPONENT_COUNT");
        for (size_t i = 0; r >= 0 && i < x->n_items; i++) {
                const RestoreItem *it = &x->items[i];

                r = env_add(&x->env, it->full_path, "VSHADOW_COMPONENT_%zu", i);
                if (r >= 0)
                        r = env_add(&x->env, it->logical_path, "VSHADOW_COMPONENT_LOGICAL_PATH_%zu", i);
                if (r >= 0)
                        r = env_add(&x->env, it->name, "VSHADOW_COMPONENT_NAME_%zu", i);
                if (r >= 0)
                        r = env_add(&x->env, vss_id_to_str(&it->writer_id).s, "VSHADOW_COMPONENT_WRITER_ID_%zu", i);
                if (r >= 0)
                        r = env_add(&x->env, it->writer_name, "VSHADOW_COMPONENT_WRITER_%zu", i);
        }
        return r < 0 ? -tool_vss_error(E_OUTOFMEMORY, NULL) : 0;
}

static const char *file_restore_status_name(vss_file_restore_status s) {
        switch (s) {
        case VSS_RS_NONE:
                return "VSS_RS_NONE";
        case VSS_RS_ALL:
                return "VSS_RS_ALL";
        case VSS_RS_FAILED:
                return "VSS_RS_FAILED";
        default:
                return "VSS_RS_UNDEFINED";
        }
}

static int restore_set_status(Restore *x, vss_file_restore_status status) {
        int r = 0;

        for (size_t i = 0; i < x->n_items; i++) {
                RestoreItem *it = &x->items[i];
                vss_hr hr;

                hr = vss_requester_set_file_restore_status(x->req, NULL, &it->writer_id, it->type, it->logical_path,
                                                           it->name, status);
                /* Go on with the others: every writer must still hear PostRestore. */
                if (VSS_FAILED(hr) && r == 0)
                        r = -tool_step_failed(x->req, "SetFileRestoreStatus", hr);
        }
        if (x->n_items > 0)
                tool_note("file restore status %s for %zu component%s", file_restore_status_name(status), x->n_items,
                          x->n_items == 1 ? "" : "s");
        return r;
}

/*
 * -r / -rs: InitializeForRestore from the saved document, GatherWriterMetadata,
 * SetSelectedForRestore for its components (-wi/-wx), PreRestore, the command (-r), then
 * SetFileRestoreStatus and PostRestore, GatherWriterStatus. A restore cannot be aborted
 * (vss-semantics.md §13): once PreRestore went out, every later failure still goes through
 * PostRestore so the writers resume.
 */
int restore(void) {
        _cleanup_(restore_done) Restore x = {};
        _cleanup_free_ char *xml = NULL;
        vss_requester_options opts = VSS_REQUESTER_OPTIONS_INIT;
        vss_file_restore_status status;
        int r, command_status = 0, failure = 0;
        vss_hr hr;

        r = document_read(arg.command_arg, &xml);
        if (r < 0)
                return r;

        opts.socket_path = arg.socket;
        hr = vss_requester_new(&x.req, &opts);
        if (VSS_FAILED(hr))
                return -tool_vss_error(hr, "%s vssd at %s",
                                       hr == VSS_E_WRITER_INFRASTRUCTURE ? "cannot reach" : "cannot connect to",
                                       vss_socket_path(arg.socket));
        hr = vss_requester_initialize_for_restore(x.req, xml);
        if (VSS_FAILED(hr))
                return -tool_step_failed(x.req, "InitializeForRestore", hr);
        r = selection_init(&x.sel);
        if (r < 0)
                return r;
        hr = TOOL_RUN_ASYNC(vss_requester_gather_writer_metadata, x.req);
        if (VSS_FAILED(hr))
                return -tool_step_failed(x.req, "GatherWriterMetadata", hr);
        r = selection_load(x.req, &x.sel);
        if (r >= 0)
                r = restore_collect(&x);
        if (r >= 0)
                r = restore_select(&x);
        if (r < 0)
                return r;

        /* A writer that failed PreRestore is not ready for its files: copy nothing, but the
         * others still need PostRestore to resume. */
        hr = TOOL_RUN_ASYNC(vss_requester_pre_restore, x.req);
        if (VSS_FAILED(hr))
                failure = -tool_step_failed(x.req, "PreRestore", hr);
        else
                failure = writer_status_check(x.req, restore_writer_selected_cb, &x, "PreRestore");

        if (arg.command == COMMAND_SIMULATE_RESTORE || failure < 0)
                status = VSS_RS_NONE;
        else {
                r = restore_env_build(&x, arg.command_arg);
                if (r < 0)
                        failure = r;
                else if (arg.exec_cmd) {
                        tool_note("running: %s", arg.exec_cmd);
                        command_status = command_run(&x.env);
                        if (command_status < 0) {
                                failure = command_status;
                                command_status = 0;
                        } else if (command_status != 0)
                                tool_note("the command failed with exit status %d; the restore is marked as failed",
                                          command_status);
                } else
                        /* You copy the files back by hand between PreRestore and PostRestore. */
                        wait_for_enter();
                status = failure < 0 ? VSS_RS_NONE : command_status == 0 ? VSS_RS_ALL : VSS_RS_FAILED;
        }

        r = restore_set_status(&x, status);
        if (r < 0 && failure == 0)
                failure = r;
        hr = TOOL_RUN_ASYNC(vss_requester_post_restore, x.req);
        if (VSS_FAILED(hr)) {
                r = -tool_step_failed(x.req, "PostRestore", hr);
                if (failure == 0)
                        failure = r;
        } else if (failure == 0)
                /* Only when all went well so far: a writer that failed PreRestore keeps that state. */
                failure = writer_status_check(x.req, restore_writer_selected_cb, &x, "PostRestore");

        if (command_status != 0)
                return -command_status;
        if (failure < 0)
                return failure;
        tool_note("%s from %s finished", arg.command == COMMAND_SIMULATE_RESTORE ? "simulated restore" : "restore",
                  arg.command_arg);
        return 0;
}

