/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * backup-dbus.c: the org.vsslinux.VSS1.Requester interface (docs/dbus-api.md): argument
 * parsing and validation, the access and role check, the legality table, then backup.c for
 * the work; plus the snapshot management calls (QuerySnapshots, QueryProviders,
 * DeleteSnapshots, GetSnapshotProperties, ExposeSnapshot, UnexposeSnapshot) over the
 * Manager's catalog. Management calls see the snapshots of the caller's context only, all of
 * them under VSS_CTX_ALL (vss-semantics §10).
 *
 * Order of checks in every method: arguments readable (sd-bus) → access (E_ACCESSDENIED) →
 * role (VSS_E_BAD_STATE) → state table (VSS_E_BAD_STATE) → argument values (E_INVALIDARG,
 * oversized strings included) → the operation's own codes.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "providers/provider-registry.h"
#include "vss-bus.h"
#include "vssd/backup.h"
#include "vssd/client.h"
#include "vssd/log.h"

static bool string_ok(const char *s, bool allow_empty) {
        return s && (allow_empty || s[0]) && strnlen(s, VSS_MAX_STRING + 1) <= VSS_MAX_STRING;
}

/* Access, role and the state table: 0 with *ret, or the error return. */
static int requester_check(Client *c, BackupMethod method, sd_bus_error *error, Backup **ret) {
        Backup *b;
        vss_hr hr;
        int r;

        *ret = NULL;    /* every caller's b is set, whatever the optimizer proves of r */
        r = client_check_requester(c, error, &b);
        if (r < 0)
                return r;

        hr = backup_state_check(b->state, method, &b->flags);
        if (VSS_FAILED(hr))
                return vss_hr_to_bus_error(error, hr, "%s is not allowed now (backup state %s%s%s)",
                                           backup_method_to_string(method), backup_state_to_string(b->state),
                                           b->flags.in_flight ? ", operation in flight: " : "",
                                           b->flags.in_flight ? backup_method_to_string(b->op) : "");
        *ret = b;
        return 0;
}

static int reply_hr(sd_bus_message *m, sd_bus_error *error, vss_hr hr, const char *detail) {
        if (VSS_FAILED(hr))
                return vss_hr_to_bus_error(error, hr, "%s", detail ?: vss_hr_message(hr));
        return sd_bus_reply_method_return(m, NULL);
}

/* reply_hr, plus the loader's reason (which line, which element) when a document was refused. */
static int reply_hr_reason(sd_bus_message *m, sd_bus_error *error, vss_hr hr, const char *detail,
                           const char *reason) {
        if (VSS_FAILED(hr) && reason)
                return vss_hr_to_bus_error(error, hr, "%s: %s", detail ?: vss_hr_message(hr), reason);
        return reply_hr(m, error, hr, detail);
}

static int parse_id(const char *s, vss_id *ret, bool allow_null) {
        if (!s || vss_id_parse(s, ret) != S_OK) {
                if (allow_null && isempty(s)) {
                        *ret = VSS_ID_NULL;
                        return 0;
                }
                return -EINVAL;
        }
        return 0;
}

/* ------------------------------------------------------------------------------------------ */

static int method_initialize_for_backup(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *reason = NULL;
        const char *xml, *detail = NULL;
        Backup *b;
        vss_hr hr;
        int r;

        r = sd_bus_message_read(m, "s", &xml);
        if (r < 0)
                return r;
        r = requester_check(userdata, BACKUP_METHOD_INITIALIZE_FOR_BACKUP, error, &b);
        if (r < 0)
                return r;
        hr = backup_initialize(b, xml, &detail, &reason);
        return reply_hr_reason(m, error, hr, detail, reason);
}

static int method_set_context(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *detail = NULL;
        uint32_t context;
        Backup *b;
        int r;

        r = sd_bus_message_read(m, "u", &context);
        if (r < 0)
                return r;
        r = requester_check(userdata, BACKUP_METHOD_SET_CONTEXT, error, &b);
        if (r < 0)
                return r;
        return reply_hr(m, error, backup_set_context(b, context, &detail), detail);
}

static int method_set_backup_state(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        int select_components, bootable, partial;
        const char *detail = NULL;
        uint32_t type;
        Backup *b;
        int r;

        r = sd_bus_message_read(m, "bbub", &select_components, &bootable, &type, &partial);
        if (r < 0)
                return r;
        r = requester_check(userdata, BACKUP_METHOD_SET_BACKUP_STATE, error, &b);
        if (r < 0)
                return r;
        return reply_hr(m, error, backup_set_backup_state(b, select_components, bootable, type, partial, &detail),
                        detail);
}

static int read_component(sd_bus_message *m, vss_id *ret_instance, vss_id *ret_writer, uint32_t *ret_type,
                          const char **ret_lp, const char **ret_name, sd_bus_error *error, bool *ret_valid) {
        const char *instance, *writer;
        int r;

        r = sd_bus_message_read(m, "ssuss", &instance, &writer, ret_type, ret_lp, ret_name);
        if (r < 0)
                return r;
        *ret_valid = parse_id(instance, ret_instance, false) >= 0 && parse_id(writer, ret_writer, false) >= 0 &&
                string_ok(*ret_lp, true) && string_ok(*ret_name, false);
        return 0;
}

static int method_add_component(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *lp, *name, *detail = NULL;
        vss_id instance, writer;
        uint32_t type;
        bool valid;
        Backup *b;
        int r;

        r = read_component(m, &instance, &writer, &type, &lp, &name, error, &valid);
        if (r < 0)
                return r;
        r = requester_check(userdata, BACKUP_METHOD_ADD_COMPONENT, error, &b);
        if (r < 0)
                return r;
        if (!valid)
                return vss_hr_to_bus_error(error, E_INVALIDARG,
                                           "ids must be valid, the name non-empty, strings at most %u bytes",
                                           VSS_MAX_STRING);
        return reply_hr(m, error, backup_add_component(b, &instance, &writer, type, lp, name, &detail), detail);
}

static int method_set_backup_succeeded(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *lp, *name, *detail = NULL;
        vss_id instance, writer;
        uint32_t type;
        int succeeded;
        bool valid;
        Backup *b;
        int r;

        r = read_component(m, &instance, &writer, &type, &lp, &name, error, &valid);
        if (r < 0)
                return r;
        r = sd_bus_message_read(m, "b", &succeeded);
        if (r < 0)
                return r;
        r = requester_check(userdata, BACKUP_METHOD_SET_BACKUP_SUCCEEDED, error, &b);
        if (r < 0)
                return r;
        if (!valid)
                return vss_hr_to_bus_error(error, E_INVALIDARG,
                                           "ids must be valid, the name non-empty, strings at most %u bytes",
                                           VSS_MAX_STRING);
        return reply_hr(m, error,
                        backup_set_backup_succeeded(b, &instance, &writer, type, lp, name, succeeded, &detail),
                        detail);
}

/* SetBackupOptions / SetPreviousBackupStamp: a component and one string for it. */
static int component_string(sd_bus_message *m, void *userdata, sd_bus_error *error, BackupMethod method,
                            BcdString which) {
        const char *lp, *name, *value, *detail = NULL;
        vss_id instance, writer;
        uint32_t type;
        bool valid;
        Backup *b;
        int r;

        r = read_component(m, &instance, &writer, &type, &lp, &name, error, &valid);
        if (r < 0)
                return r;
        r = sd_bus_message_read(m, "s", &value);
        if (r < 0)
                return r;
        r = requester_check(userdata, method, error, &b);
        if (r < 0)
                return r;
        if (!valid || !string_ok(value, true))
                return vss_hr_to_bus_error(error, E_INVALIDARG,
                                           "ids must be valid, the name non-empty, strings at most %u bytes",
                                           VSS_MAX_STRING);
        return reply_hr(m, error,
                        backup_set_component_string(b, &instance, &writer, type, lp, name, which, value, &detail),
                        detail);
}

static int method_set_backup_options(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return component_string(m, userdata, error, BACKUP_METHOD_SET_BACKUP_OPTIONS, BCD_STRING_BACKUP_OPTIONS);
}

static int method_set_previous_backup_stamp(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return component_string(m, userdata, error, BACKUP_METHOD_SET_PREVIOUS_BACKUP_STAMP,
                                BCD_STRING_PREVIOUS_BACKUP_STAMP);
}

/* SaveAsXML and GetWriterComponents: the whole document (the requester sees every writer). */
static int document_reply(sd_bus_message *m, void *userdata, sd_bus_error *error, BackupMethod method) {
        _cleanup_free_ char *xml = NULL;
        const char *detail = NULL;
        Backup *b;
        vss_hr hr;
        int r;

        r = requester_check(userdata, method, error, &b);
        if (r < 0)
                return r;
        hr = backup_save_as_xml(b, &xml, &detail);
        if (VSS_FAILED(hr))
                return reply_hr(m, error, hr, detail);
        return sd_bus_reply_method_return(m, "s", xml);
}

static int method_save_as_xml(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return document_reply(m, userdata, error, BACKUP_METHOD_SAVE_AS_XML);
}

static int method_get_writer_components(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return document_reply(m, userdata, error, BACKUP_METHOD_GET_WRITER_COMPONENTS);
}

/* ------------------------------------------------------------------------------------------ */
/* Restore                                                                                     */
/* ------------------------------------------------------------------------------------------ */

static int method_initialize_for_restore(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *reason = NULL;
        const char *xml, *detail = NULL;
        Backup *b;
        vss_hr hr;
        int r;

        r = sd_bus_message_read(m, "s", &xml);
        if (r < 0)
                return r;
        r = requester_check(userdata, BACKUP_METHOD_INITIALIZE_FOR_RESTORE, error, &b);
        if (r < 0)
                return r;
        hr = backup_initialize_for_restore(b, xml, &detail, &reason);
        return reply_hr_reason(m, error, hr, detail, reason);
}

static int method_set_restore_state(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *detail = NULL;
        uint32_t type;
        Backup *b;
        int r;

        r = sd_bus_message_read(m, "u", &type);
        if (r < 0)
                return r;
        r = requester_check(userdata, BACKUP_METHOD_SET_RESTORE_STATE, error, &b);
        if (r < 0)
                return r;
        return reply_hr(m, error, backup_set_restore_state(b, type, &detail), detail);
}

/* A component named by a restore call: the instance id may be "" or the null id (any instance
 * of the class the document holds). */
typedef struct RestoreComponent {
        vss_id instance;
        vss_id writer;
        uint32_t type;
        const char *lp;
        const char *name;
        bool valid;
} RestoreComponent;

static int read_restore_component(sd_bus_message *m, RestoreComponent *ret) {
        const char *instance, *writer;
        int r;

        r = sd_bus_message_read(m, "ssuss", &instance, &writer, &ret->type, &ret->lp, &ret->name);
        if (r < 0)
                return r;
        ret->valid = parse_id(instance, &ret->instance, true) >= 0 && parse_id(writer, &ret->writer, false) >= 0 &&
                !vss_id_is_null(&ret->writer) && string_ok(ret->lp, true) && string_ok(ret->name, false);
        return 0;
}

static int restore_bad_args(sd_bus_error *error) {
        return vss_hr_to_bus_error(error, E_INVALIDARG,
                                   "ids must be valid (the instance id may be empty), names non-empty, strings at most %u bytes",
                                   VSS_MAX_STRING);
}

/* SetSelectedForRestore and SetAdditionalRestores: a component and one boolean. */
static int restore_component_bool(sd_bus_message *m, void *userdata, sd_bus_error *error, BackupMethod method) {
        const char *detail = NULL;
        RestoreComponent c;
        Backup *b;
        vss_hr hr;
        int value, r;

        r = read_restore_component(m, &c);
        if (r < 0)
                return r;
        r = sd_bus_message_read(m, "b", &value);
        if (r < 0)
                return r;
        r = requester_check(userdata, method, error, &b);
        if (r < 0)
                return r;
        if (!c.valid)
                return restore_bad_args(error);

        if (method == BACKUP_METHOD_SET_SELECTED_FOR_RESTORE)
                hr = backup_set_selected_for_restore(b, &c.instance, &c.writer, c.type, c.lp, c.name, value, &detail);
        else
                hr = backup_set_additional_restores(b, &c.instance, &c.writer, c.type, c.lp, c.name, value, &detail);
        return reply_hr(m, error, hr, detail);
}

static int method_set_selected_for_restore(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return restore_component_bool(m, userdata, error, BACKUP_METHOD_SET_SELECTED_FOR_RESTORE);
}

static int method_set_additional_restores(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return restore_component_bool(m, userdata, error, BACKUP_METHOD_SET_ADDITIONAL_RESTORES);
}

static int method_add_restore_subcomponent(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *sub_lp, *sub_name, *detail = NULL;
        RestoreComponent c;
        int repair, r;
        Backup *b;

        r = read_restore_component(m, &c);
        if (r < 0)
                return r;
        r = sd_bus_message_read(m, "ssb", &sub_lp, &sub_name, &repair);
        if (r < 0)
                return r;
        r = requester_check(userdata, BACKUP_METHOD_ADD_RESTORE_SUBCOMPONENT, error, &b);
        if (r < 0)
                return r;
        if (!c.valid || !string_ok(sub_lp, true) || !string_ok(sub_name, false))
                return restore_bad_args(error);
        return reply_hr(m, error,
                        backup_add_restore_subcomponent(b, &c.instance, &c.writer, c.type, c.lp, c.name, sub_lp,
                                                        sub_name, repair, &detail),
                        detail);
}

static int method_set_restore_options(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *options, *detail = NULL;
        RestoreComponent c;
        Backup *b;
        int r;

        r = read_restore_component(m, &c);
        if (r < 0)
                return r;
        r = sd_bus_message_read(m, "s", &options);
        if (r < 0)
                return r;
        r = requester_check(userdata, BACKUP_METHOD_SET_RESTORE_OPTIONS, error, &b);
        if (r < 0)
                return r;
        if (!c.valid || !string_ok(options, true))
                return restore_bad_args(error);
        return reply_hr(m, error,
                        backup_set_restore_options(b, &c.instance, &c.writer, c.type, c.lp, c.name, options, &detail),
                        detail);
}

static int method_add_new_target(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *path, *filespec, *alternate, *detail = NULL;
        RestoreComponent c;
        int recursive, r;
        Backup *b;

        r = read_restore_component(m, &c);
        if (r < 0)
                return r;
        r = sd_bus_message_read(m, "ssbs", &path, &filespec, &recursive, &alternate);
        if (r < 0)
                return r;
        r = requester_check(userdata, BACKUP_METHOD_ADD_NEW_TARGET, error, &b);
        if (r < 0)
                return r;
        if (!c.valid || !string_ok(path, false) || !string_ok(filespec, false) || !string_ok(alternate, false))
                return restore_bad_args(error);
        return reply_hr(m, error,
                        backup_add_new_target(b, &c.instance, &c.writer, c.type, c.lp, c.name, path, filespec,
                                              recursive, alternate, &detail),
                        detail);
}

static int method_set_file_restore_status(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *detail = NULL;
        RestoreComponent c;
        uint32_t status;
        Backup *b;
        int r;

        r = read_restore_component(m, &c);
        if (r < 0)
                return r;
        r = sd_bus_message_read(m, "u", &status);
        if (r < 0)
                return r;
        r = requester_check(userdata, BACKUP_METHOD_SET_FILE_RESTORE_STATUS, error, &b);
        if (r < 0)
                return r;
        if (!c.valid)
                return restore_bad_args(error);
        return reply_hr(m, error,
                        backup_set_file_restore_status(b, &c.instance, &c.writer, c.type, c.lp, c.name, status,
                                                       &detail),
                        detail);
}

static int writer_filter(sd_bus_message *m, void *userdata, sd_bus_error *error, BackupMethod method) {
        _cleanup_free_ vss_id *ids = NULL;
        const char *detail = NULL, *s;
        size_t n = 0;
        bool valid = true;
        Backup *b;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "s");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(m, "s", &s)) > 0) {
                vss_id *l;

                if (n >= VSS_MAX_ID_LIST) {
                        valid = false;
                        continue; /* keep reading: the message must be consumed; the list is refused */
                }
                l = realloc(ids, (n + 1) * sizeof(*l));
                if (!l)
                        return -ENOMEM;
                ids = l;
                if (parse_id(s, &ids[n], false) < 0 || vss_id_is_null(&ids[n]))
                        valid = false;
                n++;
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;

        r = requester_check(userdata, method, error, &b);
        if (r < 0)
                return r;
        if (!valid)
                return vss_hr_to_bus_error(error, E_INVALIDARG, "ids must be valid non-null ids, at most %u",
                                           VSS_MAX_ID_LIST);
        return reply_hr(m, error, backup_set_writer_filter(b, method, ids, n, &detail), detail);
}

static int method_enable_writer_classes(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return writer_filter(m, userdata, error, BACKUP_METHOD_ENABLE_WRITER_CLASSES);
}

static int method_disable_writer_classes(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return writer_filter(m, userdata, error, BACKUP_METHOD_DISABLE_WRITER_CLASSES);
}

static int method_disable_writer_instances(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return writer_filter(m, userdata, error, BACKUP_METHOD_DISABLE_WRITER_INSTANCES);
}

static int method_start_snapshot_set(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *detail = NULL;
        vss_id id;
        Backup *b;
        vss_hr hr;
        int r;

        r = requester_check(userdata, BACKUP_METHOD_START_SNAPSHOT_SET, error, &b);
        if (r < 0)
                return r;
        hr = backup_start_snapshot_set(b, &id, &detail);
        if (VSS_FAILED(hr))
                return reply_hr(m, error, hr, detail);
        return sd_bus_reply_method_return(m, "s", vss_id_to_str(&id).s);
}

static int method_add_to_snapshot_set(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *volume, *provider, *detail = NULL;
        vss_id provider_id, snapshot_id;
        Backup *b;
        vss_hr hr;
        int r;

        r = sd_bus_message_read(m, "ss", &volume, &provider);
        if (r < 0)
                return r;
        r = requester_check(userdata, BACKUP_METHOD_ADD_TO_SNAPSHOT_SET, error, &b);
        if (r < 0)
                return r;
        if (!string_ok(volume, false) || parse_id(provider, &provider_id, true) < 0)
                return vss_hr_to_bus_error(error, E_INVALIDARG,
                                           "volume must be an absolute path of at most %u bytes, provider a valid id",
                                           VSS_MAX_STRING);

        hr = backup_add_to_snapshot_set(b, volume, &provider_id, &snapshot_id, &detail);
        if (VSS_FAILED(hr))
                return vss_hr_to_bus_error(error, hr, "%s: %s", volume, detail ?: vss_hr_message(hr));
        return sd_bus_reply_method_return(m, "s", vss_id_to_str(&snapshot_id).s);
}

static int method_is_volume_supported(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *volume, *provider;
        VssProvider *ops;
        vss_id provider_id;
        Backup *b;
        vss_hr hr;
        int r;

        r = sd_bus_message_read(m, "ss", &provider, &volume);
        if (r < 0)
                return r;
        r = requester_check(userdata, BACKUP_METHOD_IS_VOLUME_SUPPORTED, error, &b);
        if (r < 0)
                return r;
        if (!string_ok(volume, false) || parse_id(provider, &provider_id, true) < 0)
                return vss_hr_to_bus_error(error, E_INVALIDARG,
                                           "volume must be an absolute path of at most %u bytes, provider a valid id",
                                           VSS_MAX_STRING);

        hr = provider_select(volume, &provider_id, b->manager->config.test_provider, &ops, NULL);
        if (hr == VSS_E_VOLUME_NOT_SUPPORTED || hr == VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER)
                return sd_bus_reply_method_return(m, "b", false);
        if (VSS_FAILED(hr))
                return vss_hr_to_bus_error(error, hr, "%s: %s", volume, vss_hr_message(hr));
        return sd_bus_reply_method_return(m, "b", true);
}

static int deferred(sd_bus_message *m, void *userdata, sd_bus_error *error, BackupMethod method) {
        Backup *b;
        int r;

        r = requester_check(userdata, method, error, &b);
        if (r < 0)
                return r;
        if (method == BACKUP_METHOD_DO_SNAPSHOT_SET && !b->set)
                return vss_hr_to_bus_error(error, VSS_E_BAD_STATE, "the snapshot set is no longer in creation");

        r = backup_begin(b, method, m);
        if (r < 0)
                return vss_hr_to_bus_error(error, r == -ENOMEM ? E_OUTOFMEMORY : VSS_E_UNEXPECTED,
                                           "%s could not be started: %s", backup_method_to_string(method),
                                           strerror(-r));
        return 1; /* answered when the operation ends */
}

static int method_gather_writer_metadata(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return deferred(m, userdata, error, BACKUP_METHOD_GATHER_WRITER_METADATA);
}

static int method_prepare_for_backup(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return deferred(m, userdata, error, BACKUP_METHOD_PREPARE_FOR_BACKUP);
}

static int method_do_snapshot_set(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return deferred(m, userdata, error, BACKUP_METHOD_DO_SNAPSHOT_SET);
}

static int method_backup_complete(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return deferred(m, userdata, error, BACKUP_METHOD_BACKUP_COMPLETE);
}

static int method_abort_backup(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return deferred(m, userdata, error, BACKUP_METHOD_ABORT_BACKUP);
}

static int method_pre_restore(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return deferred(m, userdata, error, BACKUP_METHOD_PRE_RESTORE);
}

static int method_post_restore(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return deferred(m, userdata, error, BACKUP_METHOD_POST_RESTORE);
}

static int method_gather_writer_status(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Backup *b;
        int r;

        r = requester_check(userdata, BACKUP_METHOD_GATHER_WRITER_STATUS, error, &b);
        if (r < 0)
                return r;

        /* vssd keeps every writer's session state itself: the status is at hand. */
        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', VSS_BUS_SIG_STATUS);
        if (r < 0)
                return r;
        for (size_t i = 0; i < b->n_sessions; i++) {
                const WriterSession *s = &b->sessions[i];

                r = sd_bus_message_append(reply, VSS_BUS_SIG_STATUS, vss_id_to_str(&s->writer->instance_id).s,
                                          vss_id_to_str(&s->writer->class_id).s, s->writer->name,
                                          (uint32_t) s->state, s->failure);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_cancel(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Backup *b;
        int r;

        r = requester_check(userdata, BACKUP_METHOD_CANCEL, error, &b);
        if (r < 0)
                return r;
        backup_cancel(b);
        return sd_bus_reply_method_return(m, NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* Snapshots and providers                                                                     */
/* ------------------------------------------------------------------------------------------ */

int snapshot_record_append(sd_bus_message *reply, const SnapshotRecord *rec) {
        char host[256] = "";
        const ProviderSnapshot *s = rec->snap;

        (void) gethostname(host, sizeof(host) - 1);
        /* A local exposure is a mount folder: it is both the exposed name and the path. */
        return sd_bus_message_append(reply, VSS_BUS_SIG_SNAPPROP, vss_id_to_str(&s->snapshot_id).s,
                                     vss_id_to_str(&s->snapshot_set_id).s, rec->set_count, strempty(s->device),
                                     s->volume, host, host, strempty(rec->exposed_path),
                                     strempty(rec->exposed_path), vss_id_to_str(&rec->provider_id).s,
                                     catalog_record_attributes(rec), (int64_t) rec->created, (uint32_t) s->state);
}

static bool context_sees(uint32_t caller_context, const SnapshotRecord *rec) {
        return caller_context == VSS_CTX_ALL || rec->context == caller_context;
}

static int method_get_snapshot_properties(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const SnapshotRecord *rec;
        const char *id_string;
        vss_id id;
        Backup *b;
        int r;

        r = sd_bus_message_read(m, "s", &id_string);
        if (r < 0)
                return r;
        r = requester_check(userdata, BACKUP_METHOD_GET_SNAPSHOT_PROPERTIES, error, &b);
        if (r < 0)
                return r;
        if (parse_id(id_string, &id, false) < 0)
                return vss_hr_to_bus_error(error, E_INVALIDARG, "snapshot id is not a valid id");

        rec = catalog_find(&b->manager->catalog, &id);
        if (!rec)
                return vss_hr_to_bus_error(error, VSS_E_OBJECT_NOT_FOUND, "no snapshot %s", id_string);

        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        r = snapshot_record_append(reply, rec);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_query_snapshots(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Backup *b;
        int r;

        r = requester_check(userdata, BACKUP_METHOD_QUERY_SNAPSHOTS, error, &b);
        if (r < 0)
                return r;

        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', VSS_BUS_SIG_SNAPPROP);
        if (r < 0)
                return r;
        LIST_FOREACH(records, rec, b->manager->catalog.records) {
                if (!context_sees(b->context, rec))
                        continue;
                r = snapshot_record_append(reply, rec);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_query_providers(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Backup *b;
        int r;

        r = requester_check(userdata, BACKUP_METHOD_QUERY_PROVIDERS, error, &b);
        if (r < 0)
                return r;

        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', VSS_BUS_SIG_PROVIDER);
        if (r < 0)
                return r;
        for (VssProvider *const *i = provider_registry_list(); *i; i++) {
                VssProvider *p = *i;

                if (!provider_is_available(p, b->manager->config.test_provider))
                        continue;
                r = sd_bus_message_append(reply, VSS_BUS_SIG_PROVIDER, p->id, p->name, (uint32_t) p->type,
                                          strempty(p->version_string));
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_delete_snapshots(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *id_string;
        uint32_t type;
        int force;
        int32_t deleted = 0;
        vss_id id, failed;
        Backup *b;
        vss_hr hr;
        int r;

        r = sd_bus_message_read(m, "sub", &id_string, &type, &force);
        if (r < 0)
                return r;
        r = requester_check(userdata, BACKUP_METHOD_DELETE_SNAPSHOTS, error, &b);
        if (r < 0)
                return r;
        if (parse_id(id_string, &id, false) < 0 || vss_id_is_null(&id))
                return vss_hr_to_bus_error(error, E_INVALIDARG, "source id is not a valid non-null id");
        if (type != VSS_OBJECT_SNAPSHOT && type != VSS_OBJECT_SNAPSHOT_SET)
                return vss_hr_to_bus_error(error, E_INVALIDARG,
                                           "source type must be VSS_OBJECT_SNAPSHOT or VSS_OBJECT_SNAPSHOT_SET");

        /* force only matters to providers that refuse to delete a snapshot in use; none of the
         * built-in ones do, so it is accepted and has no effect. */
        hr = catalog_delete_matching(&b->manager->catalog, &id, type == VSS_OBJECT_SNAPSHOT_SET, b->context, &deleted,
                                     &failed);
        if (hr == VSS_E_OBJECT_NOT_FOUND)
                return vss_hr_to_bus_error(error, hr, "no snapshot%s %s in this context",
                                           type == VSS_OBJECT_SNAPSHOT ? "" : " in set", id_string);
        if (VSS_FAILED(hr))
                return vss_hr_to_bus_error(error, hr, "snapshot %s could not be deleted (%d deleted before it)",
                                           vss_id_to_str(&failed).s, deleted);
        return sd_bus_reply_method_return(m, "is", deleted, vss_id_to_str(&VSS_ID_NULL).s);
}

static int method_expose_snapshot(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *id_string, *path, *exposed = NULL, *detail = NULL;
        SnapshotRecord *rec;
        vss_id id;
        Backup *b;
        vss_hr hr;
        int r;

        r = sd_bus_message_read(m, "ss", &id_string, &path);
        if (r < 0)
                return r;
        r = requester_check(userdata, BACKUP_METHOD_EXPOSE_SNAPSHOT, error, &b);
        if (r < 0)
                return r;
        if (parse_id(id_string, &id, false) < 0 || !string_ok(path, true))
                return vss_hr_to_bus_error(error, E_INVALIDARG, "snapshot id must be valid, the path at most %u bytes",
                                           VSS_MAX_STRING);

        rec = catalog_find(&b->manager->catalog, &id);
        if (!rec || !context_sees(b->context, rec))
                return vss_hr_to_bus_error(error, VSS_E_OBJECT_NOT_FOUND, "no snapshot %s in this context", id_string);

        {
                const Client *cl = userdata;
                ExposeCaller caller = { cl->ucred.uid, cl->ucred.gid, cl->groups, cl->n_groups };

                hr = catalog_expose(&b->manager->catalog, rec, path, &caller, &exposed, &detail);
        }
        if (VSS_FAILED(hr))
                return vss_hr_to_bus_error(error, hr, "%s%s%s", isempty(path) ? "" : path, isempty(path) ? "" : ": ",
                                           detail ?: vss_hr_message(hr));
        return sd_bus_reply_method_return(m, "s", exposed);
}

static int method_unexpose_snapshot(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *id_string, *detail = NULL;
        SnapshotRecord *rec;
        vss_id id;
        Backup *b;
        vss_hr hr;
        int r;

        r = sd_bus_message_read(m, "s", &id_string);
        if (r < 0)
                return r;
        r = requester_check(userdata, BACKUP_METHOD_UNEXPOSE_SNAPSHOT, error, &b);
        if (r < 0)
                return r;
        if (parse_id(id_string, &id, false) < 0)
                return vss_hr_to_bus_error(error, E_INVALIDARG, "snapshot id is not a valid id");

        rec = catalog_find(&b->manager->catalog, &id);
        if (!rec || !context_sees(b->context, rec))
                return vss_hr_to_bus_error(error, VSS_E_OBJECT_NOT_FOUND, "no snapshot %s in this context", id_string);

        hr = catalog_unexpose(&b->manager->catalog, rec, &detail);
        if (VSS_FAILED(hr))
                return vss_hr_to_bus_error(error, hr, "%s", detail ?: vss_hr_message(hr));
        return sd_bus_reply_method_return(m, NULL);
}

/* ------------------------------------------------------------------------------------------ */

int backup_send_reply(Backup *b, sd_bus_message *m, BackupMethod op, vss_hr hr) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_freep) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        if (hr != S_OK) {
                (void) vss_hr_to_bus_error(&error, hr, "%s", b->op_detail ?: vss_hr_message(hr));
                r = sd_bus_reply_method_error(m, &error);
                goto finish;
        }

        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                goto finish;

        if (op == BACKUP_METHOD_GATHER_WRITER_METADATA) {
                r = sd_bus_message_open_container(reply, 'a', VSS_BUS_SIG_WMD);
                for (size_t i = 0; r >= 0 && i < b->n_sessions; i++)
                        r = writer_metadata_append(reply, b->sessions[i].metadata);
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
                if (r < 0)
                        goto finish;
        }
        r = sd_bus_send(NULL, reply, NULL);

finish:
        if (r < 0)
                log_warning_errno(r, "Failed to answer %s of backup %s: %m", backup_method_to_string(op),
                                  vss_id_to_str(&b->id).s);
        return r;
}

#define SNAPPROP VSS_BUS_SIG_SNAPPROP

const sd_bus_vtable backup_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("InitializeForBackup", SD_BUS_ARGS("s", bcd_xml), SD_BUS_NO_RESULT,
                                method_initialize_for_backup, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SetContext", SD_BUS_ARGS("u", context), SD_BUS_NO_RESULT, method_set_context,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SetBackupState",
                                SD_BUS_ARGS("b", select_components, "b", bootable_system_state, "u", backup_type,
                                            "b", partial_file_support),
                                SD_BUS_NO_RESULT, method_set_backup_state, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GatherWriterMetadata", SD_BUS_NO_ARGS, SD_BUS_RESULT("a" VSS_BUS_SIG_WMD, metadata),
                                method_gather_writer_metadata, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("AddComponent",
                                SD_BUS_ARGS("s", instance_id, "s", writer_id, "u", type, "s", logical_path, "s",
                                            name),
                                SD_BUS_NO_RESULT, method_add_component, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("EnableWriterClasses", SD_BUS_ARGS("as", class_ids), SD_BUS_NO_RESULT,
                                method_enable_writer_classes, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("DisableWriterClasses", SD_BUS_ARGS("as", class_ids), SD_BUS_NO_RESULT,
                                method_disable_writer_classes, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("DisableWriterInstances", SD_BUS_ARGS("as", instance_ids), SD_BUS_NO_RESULT,
                                method_disable_writer_instances, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("StartSnapshotSet", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", set_id),
                                method_start_snapshot_set, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("AddToSnapshotSet", SD_BUS_ARGS("s", volume, "s", provider_id),
                                SD_BUS_RESULT("s", snapshot_id), method_add_to_snapshot_set,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("IsVolumeSupported", SD_BUS_ARGS("s", provider_id, "s", volume),
                                SD_BUS_RESULT("b", supported), method_is_volume_supported,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("PrepareForBackup", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_prepare_for_backup,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("DoSnapshotSet", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_do_snapshot_set,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetSnapshotProperties", SD_BUS_ARGS("s", snapshot_id),
                                SD_BUS_RESULT(SNAPPROP, properties), method_get_snapshot_properties,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SetBackupSucceeded",
                                SD_BUS_ARGS("s", instance_id, "s", writer_id, "u", type, "s", logical_path, "s",
                                            name, "b", succeeded),
                                SD_BUS_NO_RESULT, method_set_backup_succeeded, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("BackupComplete", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_backup_complete,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GatherWriterStatus", SD_BUS_NO_ARGS, SD_BUS_RESULT("a" VSS_BUS_SIG_STATUS, status),
                                method_gather_writer_status, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("AbortBackup", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_abort_backup,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Cancel", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_cancel,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("QuerySnapshots", SD_BUS_NO_ARGS, SD_BUS_RESULT("a" SNAPPROP, snapshots),
                                method_query_snapshots, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("QueryProviders", SD_BUS_NO_ARGS, SD_BUS_RESULT("a" VSS_BUS_SIG_PROVIDER, providers),
                                method_query_providers, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("DeleteSnapshots", SD_BUS_ARGS("s", source_id, "u", source_type, "b", force),
                                SD_BUS_RESULT("i", deleted, "s", nondeleted_id), method_delete_snapshots,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ExposeSnapshot", SD_BUS_ARGS("s", snapshot_id, "s", path),
                                SD_BUS_RESULT("s", exposed_path), method_expose_snapshot, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("UnexposeSnapshot", SD_BUS_ARGS("s", snapshot_id), SD_BUS_NO_RESULT,
                                method_unexpose_snapshot, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SetBackupOptions",
                                SD_BUS_ARGS("s", instance_id, "s", writer_id, "u", type, "s", logical_path, "s",
                                            name, "s", options),
                                SD_BUS_NO_RESULT, method_set_backup_options, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SetPreviousBackupStamp",
                                SD_BUS_ARGS("s", instance_id, "s", writer_id, "u", type, "s", logical_path, "s",
                                            name, "s", previous_backup_stamp),
                                SD_BUS_NO_RESULT, method_set_previous_backup_stamp, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SaveAsXML", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", bcd_xml), method_save_as_xml,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetWriterComponents", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", bcd_xml),
                                method_get_writer_components, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("InitializeForRestore", SD_BUS_ARGS("s", bcd_xml), SD_BUS_NO_RESULT,
                                method_initialize_for_restore, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SetRestoreState", SD_BUS_ARGS("u", restore_type), SD_BUS_NO_RESULT,
                                method_set_restore_state, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SetSelectedForRestore",
                                SD_BUS_ARGS("s", instance_id, "s", writer_id, "u", type, "s", logical_path, "s",
                                            name, "b", selected),
                                SD_BUS_NO_RESULT, method_set_selected_for_restore, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("AddRestoreSubcomponent",
                                SD_BUS_ARGS("s", instance_id, "s", writer_id, "u", type, "s", logical_path, "s",
                                            name, "s", sub_logical_path, "s", sub_name, "b", repair),
                                SD_BUS_NO_RESULT, method_add_restore_subcomponent, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SetRestoreOptions",
                                SD_BUS_ARGS("s", instance_id, "s", writer_id, "u", type, "s", logical_path, "s",
                                            name, "s", options),
                                SD_BUS_NO_RESULT, method_set_restore_options, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SetAdditionalRestores",
                                SD_BUS_ARGS("s", instance_id, "s", writer_id, "u", type, "s", logical_path, "s",
                                            name, "b", additional),
                                SD_BUS_NO_RESULT, method_set_additional_restores, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("AddNewTarget",
                                SD_BUS_ARGS("s", instance_id, "s", writer_id, "u", type, "s", logical_path, "s",
                                            name, "s", path, "s", filespec, "b", recursive, "s", alternate_path),
                                SD_BUS_NO_RESULT, method_add_new_target, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("PreRestore", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_pre_restore,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SetFileRestoreStatus",
                                SD_BUS_ARGS("s", instance_id, "s", writer_id, "u", type, "s", logical_path, "s",
                                            name, "u", status),
                                SD_BUS_NO_RESULT, method_set_file_restore_status, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("PostRestore", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_post_restore,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};
