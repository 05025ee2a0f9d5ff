/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * requester.c: IVssBackupComponents over vssd's Requester interface.
 *
 * Each public call checks its arguments before any I/O (a NULL out pointer or an over-long
 * string never reaches vssd), then makes one D-Bus call on the requester's own connection.
 * vssd owns the backup state machine, so a call that is out of sequence comes back as the
 * D-Bus error VSS_E_BAD_STATE and is mapped back here with vss_hr_from_bus_error(); the
 * error's text is kept for vss_requester_get_error_message(). The deferred operations return
 * a vss_async at once (async.c); what the Gather operations bring back is cached here and
 * served locally by the Get and Free calls.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bcd-xml.h"
#include "macro.h"
#include "requester-internal.h"
#include "vss-bus.h"
#include "xml-util.h"

/* ------------------------------------------------------------------------------------------ */
/* Helpers                                                                                     */
/* ------------------------------------------------------------------------------------------ */

static bool string_ok(const char *s) {
        return !s || strnlen(s, VSS_MAX_STRING + 1) <= VSS_MAX_STRING;
}

vss_hr requester_set_error_locked(vss_requester *r, vss_hr hr, const char *message) {
        char *copy;

        assert(r);

        copy = strdup(isempty(message) ? vss_hr_message(hr) : message);
        if (copy) {
                free(r->error_message);
                r->error_message = copy;
        }
        return hr;
}

static void metadata_cache_clear(vss_requester *r) {
        for (size_t i = 0; i < r->n_metadata; i++)
                examine_metadata_free(r->metadata[i]);
        free(r->metadata);
        r->metadata = NULL;
        r->n_metadata = 0;
}

static void status_cache_clear(vss_requester *r) {
        for (size_t i = 0; i < r->n_status; i++)
                free(r->status[i].writer_name);
        free(r->status);
        r->status = NULL;
        r->n_status = 0;
}

static void requester_on_disconnect(BusConn *c, void *userdata) {
        vss_requester *r = userdata;

        /* Pending calls have already been failed by sd-bus; later ones fail at once. */
        (void) requester_set_error_locked(r, VSS_E_WRITER_INFRASTRUCTURE, "The connection to vssd was lost.");
}

/* Lock held. A method call on the Requester interface. */
static vss_hr requester_new_call_locked(vss_requester *r, const char *member, sd_bus_message **ret) {
        int k;

        if (bus_conn_is_dead(r->conn))
                return requester_set_error_locked(r, VSS_E_WRITER_INFRASTRUCTURE,
                                                  "The connection to vssd is closed.");

        k = sd_bus_message_new_method_call(bus_conn_get_bus(r->conn), ret, NULL, VSS_BUS_PATH,
                                           VSS_BUS_IFACE_REQUESTER, member);
        if (k < 0)
                return requester_set_error_locked(r, vss_hr_from_errno(k), NULL);
        return S_OK;
}

/* Lock held. Send m and wait for the reply; failures become HRESULTs with their text kept. */
static vss_hr requester_send_locked(vss_requester *r, sd_bus_message *m, uint64_t timeout_usec,
                                    sd_bus_message **ret_reply) {
        _cleanup_(sd_bus_error_freep) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int k;

        k = bus_conn_call(r->conn, m, timeout_usec, &error, &reply);
        if (k < 0)
                return requester_set_error_locked(r, vss_hr_from_bus_error(&error, k), error.message);

        if (ret_reply)
                *ret_reply = TAKE_PTR(reply);
        return S_OK;
}

/* Lock held. A reply that does not have the documented shape. */
static vss_hr requester_bad_reply_locked(vss_requester *r, const char *member, int k) {
        char buf[128];

        (void) snprintf(buf, sizeof(buf), "vssd's reply to %s could not be read (%s).", member, strerror(-k));
        return requester_set_error_locked(r, k == -ENOMEM ? E_OUTOFMEMORY : VSS_E_UNEXPECTED, buf);
}

/* A call without a reply value: "types" and the arguments as for sd_bus_message_append. */
static vss_hr requester_call_simple(vss_requester *r, const char *member, uint64_t timeout_usec,
                                    const char *types, ...) {
        vss_hr hr;

        assert(r);

        bus_conn_lock(r->conn);
        {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;

                hr = requester_new_call_locked(r, member, &m);
                if (hr == S_OK && types) {
                        va_list ap;
                        int k;

                        va_start(ap, types);
                        k = sd_bus_message_appendv(m, types, ap);
                        va_end(ap);
                        if (k < 0)
                                hr = requester_set_error_locked(r, vss_hr_from_errno(k), NULL);
                }
                if (hr == S_OK)
                        hr = requester_send_locked(r, m, timeout_usec, NULL);
        }
        bus_conn_unlock(r->conn);
        return hr;
}

static int append_id_list(sd_bus_message *m, const vss_id *ids, unsigned count) {
        int k;

        k = sd_bus_message_open_container(m, 'a', "s");
        if (k < 0)
                return k;
        for (unsigned i = 0; i < count; i++) {
                k = sd_bus_message_append(m, "s", vss_id_to_str(&ids[i]).s);
                if (k < 0)
                        return k;
        }
        return sd_bus_message_close_container(m);
}

/* ------------------------------------------------------------------------------------------ */
/* Creation                                                                                    */
/* ------------------------------------------------------------------------------------------ */

vss_hr vss_requester_new(vss_requester **ret, const vss_requester_options *opts) {
        vss_requester *r;
        vss_hr hr;
        int k;

        if (!ret)
                return E_INVALIDARG;
        if (opts && opts->version != VSS_REQUESTER_OPTIONS_VERSION)
                return E_INVALIDARG;
        if (opts && !string_ok(opts->socket_path))
                return E_INVALIDARG;

        r = calloc(1, sizeof(*r));
        if (!r)
                return E_OUTOFMEMORY;

        hr = bus_conn_open(opts ? opts->socket_path : NULL, requester_on_disconnect, r, &r->conn);
        if (hr != S_OK) {
                free(r);
                return hr;
        }

        /* A requester's connection carries nothing vssd sends unasked: the thread waiting for
         * a reply may read it itself. */
        k = bus_conn_set_direct(r->conn);
        if (k >= 0)
                k = bus_conn_start(r->conn);
        if (k < 0) {
                bus_conn_unref(r->conn);
                free(r);
                return vss_hr_from_errno(k);
        }

        *ret = r;
        return S_OK;
}

void vss_requester_release(vss_requester *r) {
        if (!r)
                return;

        /* Detach the in-flight operation first: once the connection is closed no reply
         * callback can run, and the async reports VSS_E_UNEXPECTED on its own. */
        bus_conn_lock(r->conn);
        if (r->pending)
                r->pending->requester = NULL;
        bus_conn_unlock(r->conn);

        /* Closing the connection is the release vssd acts on (BackupShutdown). */
        bus_conn_close(r->conn);

        vss_async_release(r->pending);
        bcd_document_unref(r->components_doc);
        metadata_cache_clear(r);
        status_cache_clear(r);
        bus_conn_unref(r->conn);
        free(r->error_message);
        free(r);
}

const char *vss_requester_get_error_message(vss_requester *r) {
        const char *s;

        if (!r)
                return "Invalid requester handle.";

        bus_conn_lock(r->conn);
        s = r->error_message ? r->error_message : "";
        bus_conn_unlock(r->conn);
        return s;
}

/* ------------------------------------------------------------------------------------------ */
/* Plain calls                                                                                 */
/* ------------------------------------------------------------------------------------------ */

vss_hr vss_requester_initialize_for_backup(vss_requester *r, const char *bcd_xml) {
        /* A document may be long; vssd's hardened loader judges everything else about it. */
        if (!r || (bcd_xml && strnlen(bcd_xml, XML_MAX_DOCUMENT_SIZE + 1) > XML_MAX_DOCUMENT_SIZE))
                return E_INVALIDARG;
        return requester_call_simple(r, "InitializeForBackup", LIBVSS_CALL_TIMEOUT_USEC, "s", strempty(bcd_xml));
}

vss_hr vss_requester_set_context(vss_requester *r, vss_snapshot_context context) {
        if (!r)
                return E_INVALIDARG;
        return requester_call_simple(r, "SetContext", LIBVSS_CALL_TIMEOUT_USEC, "u", (uint32_t) context);
}

vss_hr vss_requester_set_backup_state(vss_requester *r, bool select_components, bool backup_bootable_system_state,
                                      vss_backup_type backup_type, bool partial_file_support) {
        if (!r)
                return E_INVALIDARG;
        if (backup_type < VSS_BT_UNDEFINED || backup_type > VSS_BT_OTHER)
                return E_INVALIDARG;
        return requester_call_simple(r, "SetBackupState", LIBVSS_CALL_TIMEOUT_USEC, "bbub",
                                     (int) select_components, (int) backup_bootable_system_state,
                                     (uint32_t) backup_type, (int) partial_file_support);
}

static bool component_args_ok(const vss_id *instance_id, const vss_id *writer_id, vss_component_type type,
                              const char *logical_path, const char *component_name) {
        return instance_id && writer_id &&
                (type == VSS_CT_DATABASE || type == VSS_CT_FILEGROUP) &&
                !isempty(component_name) && string_ok(component_name) && string_ok(logical_path);
}

vss_hr vss_requester_add_component(vss_requester *r, const vss_id *instance_id, const vss_id *writer_id,
                                   vss_component_type type, const char *logical_path, const char *component_name) {
        if (!r || !component_args_ok(instance_id, writer_id, type, logical_path, component_name))
                return E_INVALIDARG;
        return requester_call_simple(r, "AddComponent", LIBVSS_CALL_TIMEOUT_USEC, "ssuss",
                                     vss_id_to_str(instance_id).s, vss_id_to_str(writer_id).s, (uint32_t) type,
                                     strempty(logical_path), component_name);
}

static vss_hr requester_call_id_list(vss_requester *r, const char *member, const vss_id *ids, unsigned count) {
        vss_hr hr;

        if (!r || (!ids && count > 0) || count > VSS_MAX_ID_LIST)
                return E_INVALIDARG;

        bus_conn_lock(r->conn);
        {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
                int k;

                hr = requester_new_call_locked(r, member, &m);
                if (hr == S_OK) {
                        k = append_id_list(m, ids, count);
                        if (k < 0)
                                hr = requester_set_error_locked(r, vss_hr_from_errno(k), NULL);
                }
                if (hr == S_OK)
                        hr = requester_send_locked(r, m, LIBVSS_CALL_TIMEOUT_USEC, NULL);
        }
        bus_conn_unlock(r->conn);
        return hr;
}

vss_hr vss_requester_enable_writer_classes(vss_requester *r, const vss_id *class_ids, unsigned count) {
        return requester_call_id_list(r, "EnableWriterClasses", class_ids, count);
}

vss_hr vss_requester_disable_writer_classes(vss_requester *r, const vss_id *class_ids, unsigned count) {
        return requester_call_id_list(r, "DisableWriterClasses", class_ids, count);
}

vss_hr vss_requester_disable_writer_instances(vss_requester *r, const vss_id *instance_ids, unsigned count) {
        return requester_call_id_list(r, "DisableWriterInstances", instance_ids, count);
}

/* Lock held. Read one id string from reply into *ret. */
static vss_hr requester_read_id_locked(vss_requester *r, const char *member, sd_bus_message *reply, vss_id *ret) {
        const char *s;
        int k;

        k = sd_bus_message_read(reply, "s", &s);
        if (k < 0)
                return requester_bad_reply_locked(r, member, k);
        if (vss_id_from_bus(s, ret) != S_OK)
                return requester_bad_reply_locked(r, member, -EBADMSG);
        return S_OK;
}

vss_hr vss_requester_start_snapshot_set(vss_requester *r, vss_id *ret_snapshot_set_id) {
        vss_hr hr;

        if (!r || !ret_snapshot_set_id)
                return E_INVALIDARG;

        bus_conn_lock(r->conn);
        {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
                vss_id id;

                hr = requester_new_call_locked(r, "StartSnapshotSet", &m);
                if (hr == S_OK)
                        hr = requester_send_locked(r, m, LIBVSS_CALL_TIMEOUT_USEC, &reply);
                if (hr == S_OK)
                        hr = requester_read_id_locked(r, "StartSnapshotSet", reply, &id);
                if (hr == S_OK)
                        *ret_snapshot_set_id = id;
        }
        bus_conn_unlock(r->conn);
        return hr;
}

vss_hr vss_requester_add_to_snapshot_set(vss_requester *r, const char *volume, const vss_id *provider_id,
                                         vss_id *ret_snapshot_id) {
        vss_hr hr;

        if (!r || isempty(volume) || !string_ok(volume) || !ret_snapshot_id)
                return E_INVALIDARG;

        bus_conn_lock(r->conn);
        {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
                vss_id id;
                int k;

                hr = requester_new_call_locked(r, "AddToSnapshotSet", &m);
                if (hr == S_OK) {
                        k = sd_bus_message_append(m, "ss", volume,
                                                  vss_id_to_str(provider_id ? provider_id : &VSS_ID_NULL).s);
                        if (k < 0)
                                hr = requester_set_error_locked(r, vss_hr_from_errno(k), NULL);
                }
                if (hr == S_OK)
                        hr = requester_send_locked(r, m, LIBVSS_CALL_TIMEOUT_USEC, &reply);
                if (hr == S_OK)
                        hr = requester_read_id_locked(r, "AddToSnapshotSet", reply, &id);
                if (hr == S_OK)
                        *ret_snapshot_id = id;
        }
        bus_conn_unlock(r->conn);
        return hr;
}

vss_hr vss_requester_is_volume_supported(vss_requester *r, const vss_id *provider_id, const char *volume,
                                         bool *ret_supported) {
        vss_hr hr;

        if (!r || isempty(volume) || !string_ok(volume) || !ret_supported)
                return E_INVALIDARG;

        bus_conn_lock(r->conn);
        {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
                int supported, k;

                hr = requester_new_call_locked(r, "IsVolumeSupported", &m);
                if (hr == S_OK) {
                        k = sd_bus_message_append(m, "ss",
                                                  vss_id_to_str(provider_id ? provider_id : &VSS_ID_NULL).s, volume);
                        if (k < 0)
                                hr = requester_set_error_locked(r, vss_hr_from_errno(k), NULL);
                }
                if (hr == S_OK)
                        hr = requester_send_locked(r, m, LIBVSS_CALL_TIMEOUT_USEC, &reply);
                if (hr == S_OK) {
                        k = sd_bus_message_read(reply, "b", &supported);
                        if (k < 0)
                                hr = requester_bad_reply_locked(r, "IsVolumeSupported", k);
                        else
                                *ret_supported = supported;
                }
        }
        bus_conn_unlock(r->conn);
        return hr;
}

vss_hr vss_requester_get_snapshot_properties(vss_requester *r, const vss_id *snapshot_id, vss_snapshot_prop *ret_prop) {
        vss_hr hr;

        if (!r || !snapshot_id || !ret_prop)
                return E_INVALIDARG;

        bus_conn_lock(r->conn);
        {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
                vss_snapshot_prop prop;
                int k;

                hr = requester_new_call_locked(r, "GetSnapshotProperties", &m);
                if (hr == S_OK) {
                        k = sd_bus_message_append(m, "s", vss_id_to_str(snapshot_id).s);
                        if (k < 0)
                                hr = requester_set_error_locked(r, vss_hr_from_errno(k), NULL);
                }
                if (hr == S_OK)
                        hr = requester_send_locked(r, m, LIBVSS_CALL_TIMEOUT_USEC, &reply);
                if (hr == S_OK) {
                        k = snapshot_prop_read(reply, &prop);
                        if (k < 0)
                                hr = requester_bad_reply_locked(r, "GetSnapshotProperties", k);
                        else
                                *ret_prop = prop;
                }
        }
        bus_conn_unlock(r->conn);
        return hr;
}

vss_hr vss_requester_set_backup_succeeded(vss_requester *r, const vss_id *instance_id, const vss_id *writer_id,
                                          vss_component_type type, const char *logical_path,
                                          const char *component_name, bool succeeded) {
        if (!r || !component_args_ok(instance_id, writer_id, type, logical_path, component_name))
                return E_INVALIDARG;
        return requester_call_simple(r, "SetBackupSucceeded", LIBVSS_CALL_TIMEOUT_USEC, "ssussb",
                                     vss_id_to_str(instance_id).s, vss_id_to_str(writer_id).s, (uint32_t) type,
                                     strempty(logical_path), component_name, (int) succeeded);
}

static bool value_ok(const char *s) {
        return s && string_ok(s);
}

vss_hr vss_requester_set_backup_options(vss_requester *r, const vss_id *instance_id, const vss_id *writer_id,
                                        vss_component_type type, const char *logical_path,
                                        const char *component_name, const char *options) {
        if (!r || !component_args_ok(instance_id, writer_id, type, logical_path, component_name) || !value_ok(options))
                return E_INVALIDARG;
        return requester_call_simple(r, "SetBackupOptions", LIBVSS_CALL_TIMEOUT_USEC, "ssusss",
                                     vss_id_to_str(instance_id).s, vss_id_to_str(writer_id).s, (uint32_t) type,
                                     strempty(logical_path), component_name, options);
}

vss_hr vss_requester_set_previous_backup_stamp(vss_requester *r, const vss_id *instance_id, const vss_id *writer_id,
                                               vss_component_type type, const char *logical_path,
                                               const char *component_name, const char *previous_backup_stamp) {
        if (!r || !component_args_ok(instance_id, writer_id, type, logical_path, component_name) ||
            !value_ok(previous_backup_stamp))
                return E_INVALIDARG;
        return requester_call_simple(r, "SetPreviousBackupStamp", LIBVSS_CALL_TIMEOUT_USEC, "ssusss",
                                     vss_id_to_str(instance_id).s, vss_id_to_str(writer_id).s, (uint32_t) type,
                                     strempty(logical_path), component_name, previous_backup_stamp);
}

/* Lock held. Call member (no arguments) and copy its one string answer. */
static vss_hr requester_call_document_locked(vss_requester *r, const char *member, char **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        const char *xml;
        char *copy;
        vss_hr hr;
        int k;

        hr = requester_new_call_locked(r, member, &m);
        if (hr == S_OK)
                hr = requester_send_locked(r, m, LIBVSS_CALL_TIMEOUT_USEC, &reply);
        if (hr != S_OK)
                return hr;

        k = sd_bus_message_read(reply, "s", &xml);
        if (k < 0)
                return requester_bad_reply_locked(r, member, k);
        if (strnlen(xml, XML_MAX_DOCUMENT_SIZE + 1) > XML_MAX_DOCUMENT_SIZE)
                return requester_bad_reply_locked(r, member, -EBADMSG);
        copy = strdup(xml);
        if (!copy)
                return requester_set_error_locked(r, E_OUTOFMEMORY, NULL);
        *ret = copy;
        return S_OK;
}

vss_hr vss_requester_save_as_xml(vss_requester *r, char **ret_xml) {
        vss_hr hr;

        if (!r || !ret_xml)
                return E_INVALIDARG;

        bus_conn_lock(r->conn);
        hr = requester_call_document_locked(r, "SaveAsXML", ret_xml);
        bus_conn_unlock(r->conn);
        return hr;
}

/* Lock held. Fetch the document for the read views and make it r's current one. */
static vss_hr requester_fetch_components_locked(vss_requester *r) {
        _cleanup_free_ char *xml = NULL, *reason = NULL;
        BackupComponents *bcd = NULL;
        BcdDocument *doc;
        vss_hr hr;

        hr = requester_call_document_locked(r, "GetWriterComponents", &xml);
        if (hr != S_OK)
                return hr;

        /* vssd wrote it, but it is still input: the same hardened loader as any document. */
        hr = backup_components_from_xml(xml, strlen(xml), &bcd, &reason);
        if (hr != S_OK)
                return requester_set_error_locked(r, hr == E_OUTOFMEMORY ? hr : VSS_E_UNEXPECTED, reason);

        doc = bcd_document_new(bcd);
        if (!doc)
                return requester_set_error_locked(r, E_OUTOFMEMORY, NULL);
        bcd_document_unref(r->components_doc);
        r->components_doc = doc;
        return S_OK;
}

/* The writers of a document that have components (GetWriterComponentsCount counts these). */
static size_t document_writer_count(const BackupComponents *b) {
        size_t n = 0;

        for (size_t i = 0; i < b->n_writers; i++)
                if (b->writers[i].n_components > 0)
                        n++;
        return n;
}

vss_hr vss_requester_get_writer_components_count(vss_requester *r, unsigned *ret_count) {
        vss_hr hr;

        if (!r || !ret_count)
                return E_INVALIDARG;

        bus_conn_lock(r->conn);
        hr = requester_fetch_components_locked(r);
        if (hr == S_OK)
                *ret_count = (unsigned) document_writer_count(r->components_doc->bcd);
        bus_conn_unlock(r->conn);
        return hr;
}

vss_hr vss_requester_get_writer_components(vss_requester *r, unsigned index, vss_writer_components_ext **ret) {
        vss_hr hr = S_OK;

        if (!r || !ret)
                return E_INVALIDARG;

        bus_conn_lock(r->conn);
        if (!r->components_doc)
                hr = requester_fetch_components_locked(r);
        if (hr == S_OK) {
                hr = writer_components_ext_new(r->components_doc, index, ret);
                if (hr == VSS_E_OBJECT_NOT_FOUND)
                        (void) requester_set_error_locked(r, hr, "No writer with components has this index.");
        }
        bus_conn_unlock(r->conn);
        return hr;
}

/* ------------------------------------------------------------------------------------------ */
/* Restore calls                                                                               */
/* ------------------------------------------------------------------------------------------ */

vss_hr vss_requester_initialize_for_restore(vss_requester *r, const char *bcd_xml) {
        if (!r)
                return E_INVALIDARG;
        /* §3: the saved document is mandatory; vssd says the same, but without a round trip. */
        if (isempty(bcd_xml)) {
                bus_conn_lock(r->conn);
                (void) requester_set_error_locked(r, VSS_E_INVALID_XML_DOCUMENT,
                                                  "InitializeForRestore needs the backup components document saved at backup time.");
                bus_conn_unlock(r->conn);
                return VSS_E_INVALID_XML_DOCUMENT;
        }
        if (strnlen(bcd_xml, XML_MAX_DOCUMENT_SIZE + 1) > XML_MAX_DOCUMENT_SIZE)
                return E_INVALIDARG;
        return requester_call_simple(r, "InitializeForRestore", LIBVSS_CALL_TIMEOUT_USEC, "s", bcd_xml);
}

vss_hr vss_requester_set_restore_state(vss_requester *r, vss_restore_type restore_type) {
        if (!r || restore_type < VSS_RTYPE_UNDEFINED || restore_type > VSS_RTYPE_OTHER)
                return E_INVALIDARG;
        return requester_call_simple(r, "SetRestoreState", LIBVSS_CALL_TIMEOUT_USEC, "u", (uint32_t) restore_type);
}

/* A restore call's component: the instance id may be NULL or null (any instance of the class). */
static bool restore_component_args_ok(const vss_id *writer_id, vss_component_type type, const char *logical_path,
                                      const char *component_name) {
        return writer_id && !vss_id_is_null(writer_id) && (type == VSS_CT_DATABASE || type == VSS_CT_FILEGROUP) &&
                !isempty(component_name) && string_ok(component_name) && string_ok(logical_path);
}

#define RESTORE_COMPONENT_ARGS(instance_id, writer_id, type, logical_path, component_name) \
        vss_id_to_str(instance_id ?: &VSS_ID_NULL).s, vss_id_to_str(writer_id).s, (uint32_t) (type), \
                strempty(logical_path), component_name

vss_hr vss_requester_set_selected_for_restore(vss_requester *r, const vss_id *instance_id, const vss_id *writer_id,
                                              vss_component_type type, const char *logical_path,
                                              const char *component_name, bool selected) {
        if (!r || !restore_component_args_ok(writer_id, type, logical_path, component_name))
                return E_INVALIDARG;
        return requester_call_simple(r, "SetSelectedForRestore", LIBVSS_CALL_TIMEOUT_USEC, "ssussb",
                                     RESTORE_COMPONENT_ARGS(instance_id, writer_id, type, logical_path,
                                                            component_name),
                                     (int) selected);
}

vss_hr vss_requester_add_restore_subcomponent(vss_requester *r, const vss_id *instance_id, const vss_id *writer_id,
                                              vss_component_type type, const char *logical_path,
                                              const char *component_name, const char *sub_logical_path,
                                              const char *sub_name, bool repair) {
        if (!r || !restore_component_args_ok(writer_id, type, logical_path, component_name) ||
            isempty(sub_name) || !string_ok(sub_name) || !string_ok(sub_logical_path))
                return E_INVALIDARG;
        return requester_call_simple(r, "AddRestoreSubcomponent", LIBVSS_CALL_TIMEOUT_USEC, "ssussssb",
                                     RESTORE_COMPONENT_ARGS(instance_id, writer_id, type, logical_path,
                                                            component_name),
                                     strempty(sub_logical_path), sub_name, (int) repair);
}

vss_hr vss_requester_set_restore_options(vss_requester *r, const vss_id *instance_id, const vss_id *writer_id,
                                         vss_component_type type, const char *logical_path,
                                         const char *component_name, const char *options) {
        if (!r || !restore_component_args_ok(writer_id, type, logical_path, component_name) || !value_ok(options))
                return E_INVALIDARG;
        return requester_call_simple(r, "SetRestoreOptions", LIBVSS_CALL_TIMEOUT_USEC, "ssusss",
                                     RESTORE_COMPONENT_ARGS(instance_id, writer_id, type, logical_path,
                                                            component_name),
                                     options);
}

vss_hr vss_requester_set_additional_restores(vss_requester *r, const vss_id *instance_id, const vss_id *writer_id,
                                             vss_component_type type, const char *logical_path,
                                             const char *component_name, bool additional_restores) {
        if (!r || !restore_component_args_ok(writer_id, type, logical_path, component_name))
                return E_INVALIDARG;
        return requester_call_simple(r, "SetAdditionalRestores", LIBVSS_CALL_TIMEOUT_USEC, "ssussb",
                                     RESTORE_COMPONENT_ARGS(instance_id, writer_id, type, logical_path,
                                                            component_name),
                                     (int) additional_restores);
}

vss_hr vss_requester_add_new_target(vss_requester *r, const vss_id *instance_id, const vss_id *writer_id,
                                    vss_component_type type, const char *logical_path, const char *component_name,
                                    const char *path, const char *filespec, bool recursive,
                                    const char *alternate_path) {
        if (!r || !restore_component_args_ok(writer_id, type, logical_path, component_name) ||
            isempty(path) || !string_ok(path) || isempty(filespec) || !string_ok(filespec) ||
            isempty(alternate_path) || !string_ok(alternate_path))
                return E_INVALIDARG;
        return requester_call_simple(r, "AddNewTarget", LIBVSS_CALL_TIMEOUT_USEC, "ssussssbs",
                                     RESTORE_COMPONENT_ARGS(instance_id, writer_id, type, logical_path,
                                                            component_name),
                                     path, filespec, (int) recursive, alternate_path);
}

vss_hr vss_requester_set_file_restore_status(vss_requester *r, const vss_id *instance_id, const vss_id *writer_id,
                                             vss_component_type type, const char *logical_path,
                                             const char *component_name, vss_file_restore_status status) {
        if (!r || !restore_component_args_ok(writer_id, type, logical_path, component_name) ||
            status < VSS_RS_UNDEFINED || status > VSS_RS_FAILED)
                return E_INVALIDARG;
        return requester_call_simple(r, "SetFileRestoreStatus", LIBVSS_CALL_TIMEOUT_USEC, "ssussu",
                                     RESTORE_COMPONENT_ARGS(instance_id, writer_id, type, logical_path,
                                                            component_name),
                                     (uint32_t) status);
}

vss_hr vss_requester_abort_backup(vss_requester *r) {
        if (!r)
                return E_INVALIDARG;
        /* Deferred on vssd's side (it waits for every writer's OnAbort, each bounded by its
         * event timeout), so no client timeout of our own. */
        return requester_call_simple(r, "AbortBackup", UINT64_MAX, NULL);
}

vss_hr vss_requester_query(vss_requester *r, const vss_id *query_object, vss_object_type query_type,
                           vss_object_type returned_type, vss_enum_object **ret_enum) {
        const char *member;
        vss_hr hr;

        if (!r || !ret_enum)
                return E_INVALIDARG;
        if (query_object && !vss_id_is_null(query_object))
                return E_INVALIDARG;
        if (query_type != VSS_OBJECT_NONE)
                return E_INVALIDARG;
        if (returned_type == VSS_OBJECT_SNAPSHOT)
                member = "QuerySnapshots";
        else if (returned_type == VSS_OBJECT_PROVIDER)
                member = "QueryProviders";
        else
                return E_INVALIDARG;

        bus_conn_lock(r->conn);
        {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
                vss_enum_object *e;
                int k;

                hr = requester_new_call_locked(r, member, &m);
                if (hr == S_OK)
                        hr = requester_send_locked(r, m, LIBVSS_CALL_TIMEOUT_USEC, &reply);
                if (hr == S_OK) {
                        k = enum_object_read(reply, returned_type, &e);
                        if (k < 0)
                                hr = requester_bad_reply_locked(r, member, k);
                        else
                                *ret_enum = e;
                }
        }
        bus_conn_unlock(r->conn);
        return hr;
}

vss_hr vss_requester_delete_snapshots(vss_requester *r, const vss_id *source_id, vss_object_type source_type,
                                      bool force_delete, int32_t *ret_deleted, vss_id *ret_nondeleted_id) {
        vss_hr hr;

        if (!r || !source_id || !ret_deleted || !ret_nondeleted_id)
                return E_INVALIDARG;
        if (source_type != VSS_OBJECT_SNAPSHOT && source_type != VSS_OBJECT_SNAPSHOT_SET)
                return E_INVALIDARG;

        bus_conn_lock(r->conn);
        {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
                const char *nondeleted;
                int32_t deleted;
                vss_id id;
                int k;

                hr = requester_new_call_locked(r, "DeleteSnapshots", &m);
                if (hr == S_OK) {
                        k = sd_bus_message_append(m, "sub", vss_id_to_str(source_id).s, (uint32_t) source_type,
                                                  (int) force_delete);
                        if (k < 0)
                                hr = requester_set_error_locked(r, vss_hr_from_errno(k), NULL);
                }
                if (hr == S_OK)
                        hr = requester_send_locked(r, m, LIBVSS_CALL_TIMEOUT_USEC, &reply);
                if (hr == S_OK) {
                        k = sd_bus_message_read(reply, "is", &deleted, &nondeleted);
                        if (k < 0)
                                hr = requester_bad_reply_locked(r, "DeleteSnapshots", k);
                        else if (deleted < 0 || vss_id_from_bus(nondeleted, &id) != S_OK)
                                hr = requester_bad_reply_locked(r, "DeleteSnapshots", -EBADMSG);
                }
                if (hr == S_OK) {
                        *ret_deleted = deleted;
                        *ret_nondeleted_id = id;
                }
        }
        bus_conn_unlock(r->conn);
        return hr;
}

vss_hr vss_requester_expose_snapshot(vss_requester *r, const vss_id *snapshot_id, const char *path,
                                     char **ret_exposed_path) {
        vss_hr hr;

        if (!r || !snapshot_id || !ret_exposed_path)
                return E_INVALIDARG;
        if (path && (path[0] != '/' && path[0] != 0))
                return E_INVALIDARG;

        bus_conn_lock(r->conn);
        {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
                const char *exposed;
                int k;

                hr = requester_new_call_locked(r, "ExposeSnapshot", &m);
                if (hr == S_OK) {
                        k = sd_bus_message_append(m, "ss", vss_id_to_str(snapshot_id).s, strempty(path));
                        if (k < 0)
                                hr = requester_set_error_locked(r, vss_hr_from_errno(k), NULL);
                }
                if (hr == S_OK)
                        hr = requester_send_locked(r, m, LIBVSS_CALL_TIMEOUT_USEC, &reply);
                if (hr == S_OK) {
                        k = sd_bus_message_read(reply, "s", &exposed);
                        if (k < 0 || isempty(exposed))
                                hr = requester_bad_reply_locked(r, "ExposeSnapshot", k < 0 ? k : -EBADMSG);
                }
                if (hr == S_OK) {
                        char *copy = strdup(exposed);

                        if (!copy)
                                hr = requester_set_error_locked(r, E_OUTOFMEMORY, NULL);
                        else
                                *ret_exposed_path = copy;
                }
        }
        bus_conn_unlock(r->conn);
        return hr;
}

vss_hr vss_requester_unexpose_snapshot(vss_requester *r, const vss_id *snapshot_id) {
        if (!r || !snapshot_id)
                return E_INVALIDARG;
        return requester_call_simple(r, "UnexposeSnapshot", LIBVSS_CALL_TIMEOUT_USEC, "s",
                                     vss_id_to_str(snapshot_id).s);
}

/* ------------------------------------------------------------------------------------------ */
/* Deferred operations                                                                         */
/* ------------------------------------------------------------------------------------------ */

static const char *const async_member[_ASYNC_KIND_MAX] = {
        [ASYNC_GATHER_WRITER_METADATA] = "GatherWriterMetadata",
        [ASYNC_PREPARE_FOR_BACKUP] = "PrepareForBackup",
        [ASYNC_DO_SNAPSHOT_SET] = "DoSnapshotSet",
        [ASYNC_BACKUP_COMPLETE] = "BackupComplete",
        [ASYNC_GATHER_WRITER_STATUS] = "GatherWriterStatus",
        [ASYNC_PRE_RESTORE] = "PreRestore",
        [ASYNC_POST_RESTORE] = "PostRestore",
};

/* Lock held. Send the deferred call; on success a's slot holds the pending reply. */
static vss_hr requester_start_async_locked(vss_requester *r, vss_async *a) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        vss_hr hr;
        int k;

        /* vssd refuses a second deferred operation too; saying so here spares a round trip
         * and keeps the first operation's async the only one the reply can complete. */
        if (r->pending && !r->pending->ended)
                return requester_set_error_locked(r, VSS_E_BAD_STATE,
                                                  "Another asynchronous operation of this requester is still running.");

        hr = requester_new_call_locked(r, async_member[a->kind], &m);
        if (hr != S_OK)
                return hr;

        k = sd_bus_call_async(bus_conn_get_bus(r->conn), &a->slot, m, async_reply, a, UINT64_MAX);
        if (k < 0)
                return requester_set_error_locked(r, k == -ENOMEM ? E_OUTOFMEMORY : VSS_E_WRITER_INFRASTRUCTURE, NULL);
        /* Nobody waits for this reply in bus_conn_call(): the I/O thread must poll for it. */
        async_expect_locked(a);
        return S_OK;
}

static vss_hr requester_start_async(vss_requester *r, AsyncKind kind, vss_async **ret_async) {
        vss_async *a, *previous = NULL;
        vss_hr hr;

        if (!r || !ret_async)
                return E_INVALIDARG;

        a = async_new(r->conn, r, kind);
        if (!a)
                return E_OUTOFMEMORY;

        bus_conn_lock(r->conn);
        hr = requester_start_async_locked(r, a);
        if (hr == S_OK) {
                previous = r->pending;
                r->pending = async_ref(a);
        }
        bus_conn_unlock(r->conn);

        /* Outside the lock: releasing takes it. */
        vss_async_release(previous);
        if (hr != S_OK) {
                vss_async_release(a);
                return hr;
        }

        *ret_async = a;
        return S_OK;
}

vss_hr vss_requester_gather_writer_metadata(vss_requester *r, vss_async **ret_async) {
        return requester_start_async(r, ASYNC_GATHER_WRITER_METADATA, ret_async);
}

vss_hr vss_requester_prepare_for_backup(vss_requester *r, vss_async **ret_async) {
        return requester_start_async(r, ASYNC_PREPARE_FOR_BACKUP, ret_async);
}

vss_hr vss_requester_do_snapshot_set(vss_requester *r, vss_async **ret_async) {
        return requester_start_async(r, ASYNC_DO_SNAPSHOT_SET, ret_async);
}

vss_hr vss_requester_backup_complete(vss_requester *r, vss_async **ret_async) {
        return requester_start_async(r, ASYNC_BACKUP_COMPLETE, ret_async);
}

vss_hr vss_requester_gather_writer_status(vss_requester *r, vss_async **ret_async) {
        return requester_start_async(r, ASYNC_GATHER_WRITER_STATUS, ret_async);
}

vss_hr vss_requester_pre_restore(vss_requester *r, vss_async **ret_async) {
        return requester_start_async(r, ASYNC_PRE_RESTORE, ret_async);
}

vss_hr vss_requester_post_restore(vss_requester *r, vss_async **ret_async) {
        return requester_start_async(r, ASYNC_POST_RESTORE, ret_async);
}

/* Decode "a" WMD into a new array of views. */
static int metadata_read_all(sd_bus_message *reply, vss_examine_writer_metadata ***ret, size_t *ret_n) {
        vss_examine_writer_metadata **list = NULL;
        size_t n = 0;
        int k;

        k = sd_bus_message_enter_container(reply, 'a', VSS_BUS_SIG_WMD);
        if (k < 0)
                return k;

        for (;;) {
                WriterMetadata *md = NULL;
                vss_examine_writer_metadata **bigger;

                k = sd_bus_message_at_end(reply, false);
                if (k < 0)
                        goto fail;
                if (k > 0)
                        break;
                if (n >= LIBVSS_MAX_WRITERS) {
                        k = -E2BIG;
                        goto fail;
                }

                k = writer_metadata_read(reply, &md);
                if (k < 0)
                        goto fail;

                bigger = realloc(list, (n + 1) * sizeof(*list));
                if (!bigger) {
                        writer_metadata_free(md);
                        k = -ENOMEM;
                        goto fail;
                }
                list = bigger;
                list[n] = examine_metadata_new(md);
                if (!list[n]) {
                        k = -ENOMEM;
                        goto fail;
                }
                n++;
        }

        k = sd_bus_message_exit_container(reply);
        if (k < 0)
                goto fail;

        *ret = list;
        *ret_n = n;
        return 0;

fail:
        for (size_t i = 0; i < n; i++)
                examine_metadata_free(list[i]);
        free(list);
        return k;
}

/* Decode "a(sssui)" into a new status array. */
static int status_read_all(sd_bus_message *reply, WriterStatus **ret, size_t *ret_n) {
        WriterStatus *list = NULL;
        size_t n = 0;
        int k;

        k = sd_bus_message_enter_container(reply, 'a', VSS_BUS_SIG_STATUS);
        if (k < 0)
                return k;

        for (;;) {
                const char *instance, *writer, *name;
                uint32_t state;
                int32_t failure;
                WriterStatus *bigger, s = {};

                k = sd_bus_message_read(reply, VSS_BUS_SIG_STATUS, &instance, &writer, &name, &state, &failure);
                if (k < 0)
                        goto fail;
                if (k == 0)
                        break;
                if (n >= LIBVSS_MAX_WRITERS || !string_ok(name) ||
                    vss_id_from_bus(instance, &s.instance_id) != S_OK ||
                    vss_id_from_bus(writer, &s.writer_id) != S_OK) {
                        k = -EBADMSG;
                        goto fail;
                }
                s.state = state < VSS_WS_COUNT ? (vss_writer_state) state : VSS_WS_UNKNOWN;
                s.failure = failure;
                s.writer_name = strdup(name);
                if (!s.writer_name) {
                        k = -ENOMEM;
                        goto fail;
                }

                bigger = realloc(list, (n + 1) * sizeof(*list));
                if (!bigger) {
                        free(s.writer_name);
                        k = -ENOMEM;
                        goto fail;
                }
                list = bigger;
                list[n++] = s;
        }

        k = sd_bus_message_exit_container(reply);
        if (k < 0)
                goto fail;

        *ret = list;
        *ret_n = n;
        return 0;

fail:
        for (size_t i = 0; i < n; i++)
                free(list[i].writer_name);
        free(list);
        return k;
}

vss_hr requester_store_reply_locked(vss_requester *r, AsyncKind kind, sd_bus_message *reply) {
        int k;

        assert(r);
        assert(reply);

        if (kind == ASYNC_GATHER_WRITER_METADATA) {
                vss_examine_writer_metadata **list;
                size_t n;

                k = metadata_read_all(reply, &list, &n);
                if (k < 0)
                        return requester_bad_reply_locked(r, "GatherWriterMetadata", k);
                metadata_cache_clear(r);
                r->metadata = list;
                r->n_metadata = n;
                r->metadata_gathered = r->metadata_cached = true;

        } else if (kind == ASYNC_GATHER_WRITER_STATUS) {
                WriterStatus *list;
                size_t n;

                k = status_read_all(reply, &list, &n);
                if (k < 0)
                        return requester_bad_reply_locked(r, "GatherWriterStatus", k);
                status_cache_clear(r);
                r->status = list;
                r->n_status = n;
                r->status_gathered = r->status_cached = true;
        }

        return S_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Cached results                                                                              */
/* ------------------------------------------------------------------------------------------ */

vss_hr vss_requester_get_writer_metadata_count(vss_requester *r, unsigned *ret_count) {
        vss_hr hr = S_OK;

        if (!r || !ret_count)
                return E_INVALIDARG;

        bus_conn_lock(r->conn);
        if (!r->metadata_cached)
                hr = requester_set_error_locked(r, VSS_E_BAD_STATE, "No writer metadata: GatherWriterMetadata has not finished.");
        else
                *ret_count = (unsigned) r->n_metadata;
        bus_conn_unlock(r->conn);
        return hr;
}

vss_hr vss_requester_get_writer_metadata(vss_requester *r, unsigned index, vss_id *ret_instance_id,
                                         vss_examine_writer_metadata **ret_metadata) {
        vss_hr hr = S_OK;

        if (!r || !ret_instance_id || !ret_metadata)
                return E_INVALIDARG;

        bus_conn_lock(r->conn);
        if (!r->metadata_cached)
                hr = requester_set_error_locked(r, VSS_E_BAD_STATE, "No writer metadata: GatherWriterMetadata has not finished.");
        else if (index >= r->n_metadata)
                hr = requester_set_error_locked(r, VSS_E_OBJECT_NOT_FOUND, "The writer metadata index is out of range.");
        else {
                *ret_instance_id = r->metadata[index]->md->instance_id;
                *ret_metadata = r->metadata[index];
        }
        bus_conn_unlock(r->conn);
        return hr;
}

vss_hr vss_requester_free_writer_metadata(vss_requester *r) {
        vss_hr hr = S_OK;

        if (!r)
                return E_INVALIDARG;

        bus_conn_lock(r->conn);
        if (!r->metadata_gathered)
                hr = requester_set_error_locked(r, VSS_E_BAD_STATE, "GatherWriterMetadata has not finished.");
        else {
                metadata_cache_clear(r);
                r->metadata_cached = false;
        }
        bus_conn_unlock(r->conn);
        return hr;
}

vss_hr vss_requester_get_writer_status_count(vss_requester *r, unsigned *ret_count) {
        vss_hr hr = S_OK;

        if (!r || !ret_count)
                return E_INVALIDARG;

        bus_conn_lock(r->conn);
        if (!r->status_cached)
                hr = requester_set_error_locked(r, VSS_E_BAD_STATE, "No writer status: GatherWriterStatus has not finished.");
        else
                *ret_count = (unsigned) r->n_status;
        bus_conn_unlock(r->conn);
        return hr;
}

vss_hr vss_requester_get_writer_status(vss_requester *r, unsigned index, vss_id *ret_instance_id,
                                       vss_id *ret_writer_id, const char **ret_writer_name,
                                       vss_writer_state *ret_state, vss_hr *ret_failure) {
        vss_hr hr = S_OK;

        if (!r)
                return E_INVALIDARG;

        bus_conn_lock(r->conn);
        if (!r->status_cached)
                hr = requester_set_error_locked(r, VSS_E_BAD_STATE, "No writer status: GatherWriterStatus has not finished.");
        else if (index >= r->n_status)
                hr = requester_set_error_locked(r, VSS_E_OBJECT_NOT_FOUND, "The writer status index is out of range.");
        else {
                const WriterStatus *s = &r->status[index];

                if (ret_instance_id)
                        *ret_instance_id = s->instance_id;
                if (ret_writer_id)
                        *ret_writer_id = s->writer_id;
                if (ret_writer_name)
                        *ret_writer_name = s->writer_name;
                if (ret_state)
                        *ret_state = s->state;
                if (ret_failure)
                        *ret_failure = s->failure;
        }
        bus_conn_unlock(r->conn);
        return hr;
}

vss_hr vss_requester_free_writer_status(vss_requester *r) {
        vss_hr hr = S_OK;

        if (!r)
                return E_INVALIDARG;

        bus_conn_lock(r->conn);
        if (!r->status_gathered)
                hr = requester_set_error_locked(r, VSS_E_BAD_STATE, "GatherWriterStatus has not finished.");
        else {
                status_cache_clear(r);
                r->status_cached = false;
        }
        bus_conn_unlock(r->conn);
        return hr;
}
