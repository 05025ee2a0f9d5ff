/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * writer-info.c: -ws (the writers' status after a metadata gathering) and -wm (their
 * metadata: components, file sets, restore method).
 */
#include <stdio.h>
#include <stdlib.h>

#include "vshadow.h"

/* ------------------------------------------------------------------------------------------ */
/* Writer status and metadata listings                                                         */
/* ------------------------------------------------------------------------------------------ */

static const char *usage_type_name(vss_usage_type t) {
        static const char *const names[] = { "undefined", "bootable system state", "system service", "user data",
                                             "other" };

        return (unsigned) t < ELEMENTSOF(names) ? names[t] : "unknown";
}

static const char *source_type_name(vss_source_type t) {
        static const char *const names[] = { "undefined", "transacted database", "non-transacted database",
                                             "other" };

        return (unsigned) t < ELEMENTSOF(names) ? names[t] : "unknown";
}

static const char *restore_method_name(vss_restore_method m) {
        static const char *const names[] = { "undefined", "restore if not there", "restore if can replace",
                                             "stop, restore, start", "restore to alternate location",
                                             "restore at reboot", "restore at reboot if cannot replace", "custom",
                                             "restore, stop, start" };

        return (unsigned) m < ELEMENTSOF(names) ? names[m] : "unknown";
}

static void print_filedesc(const char *kind, const vss_wm_filedesc *f) {
        printf("            - %s: path %s, filespec %s%s", kind, f->path, f->filespec,
               f->recursive ? ", recursive" : "");
        if (f->alternate_location)
                printf(", alternate location %s", f->alternate_location);
        printf(", backup type mask 0x%" PRIx32 "\n", f->backup_type_mask);
}

static void print_filedesc_json(const char *kind, const vss_wm_filedesc *f, bool first) {
        printf("%s{", first ? "" : ",");
        json_field_string("kind", kind, false);
        json_field_string("path", f->path, false);
        json_field_string("filespec", f->filespec, false);
        printf("\"recursive\":%s,", f->recursive ? "true" : "false");
        json_field_string("alternate_location", f->alternate_location, false);
        printf("\"backup_type_mask\":%" PRIu32 "}", f->backup_type_mask);
}

/* -wm -json: one writer's metadata as a JSON object. */
static int print_writer_metadata_json(vss_requester *req, unsigned index) {
        vss_examine_writer_metadata *m;
        const char *name, *instance_name, *service, *procedure;
        vss_id instance_id, writer_id;
        vss_usage_type usage;
        vss_source_type source;
        vss_restore_method method;
        uint32_t schema = 0;
        unsigned n_exclude, n_components;
        vss_hr hr;

        hr = vss_requester_get_writer_metadata(req, index, &instance_id, &m);
        if (VSS_SUCCEEDED(hr))
                hr = vss_examine_writer_metadata_get_identity(m, &instance_id, &writer_id, &name, &instance_name,
                                                              &usage, &source);
        if (VSS_SUCCEEDED(hr))
                hr = vss_examine_writer_metadata_get_file_counts(m, NULL, &n_exclude, &n_components);
        if (VSS_SUCCEEDED(hr))
                hr = vss_examine_writer_metadata_get_backup_schema(m, &schema);
        if (VSS_SUCCEEDED(hr))
                hr = vss_examine_writer_metadata_get_restore_method(m, &method, &service, &procedure, NULL, NULL);
        if (VSS_FAILED(hr))
                return -tool_step_failed(req, "GetWriterMetadata", hr);

        printf("%s{", index == 0 ? "" : ",");
        json_field_string("writer_id", vss_id_to_str(&writer_id).s, false);
        json_field_string("instance_id", vss_id_to_str(&instance_id).s, false);
        json_field_string("name", name, false);
        json_field_string("instance_name", instance_name, false);
        json_field_string("usage_type", usage_type_name(usage), false);
        json_field_string("source_type", source_type_name(source), false);
        printf("\"backup_schema\":%" PRIu32 ",", schema);
        json_field_string("restore_method", restore_method_name(method), false);
        json_field_string("restore_service", service, false);
        printf("\"excluded_files\":[");
        for (unsigned i = 0, k = 0; i < n_exclude; i++) {
                vss_wm_filedesc f;

                if (vss_examine_writer_metadata_get_exclude_file(m, i, &f) == S_OK)
                        print_filedesc_json("excluded", &f, k++ == 0);
        }
        printf("],\"components\":[");
        for (unsigned c = 0; c < n_components; c++) {
                vss_wm_component *comp;
                vss_component_info info;
                unsigned k = 0;

                hr = vss_examine_writer_metadata_get_component(m, c, &comp);
                if (VSS_SUCCEEDED(hr))
                        hr = vss_wm_component_get_info(comp, &info);
                if (VSS_FAILED(hr)) {
                        printf("]}]\n"); /* keep stdout valid JSON up to the error */
                        return -tool_step_failed(req, "GetComponent", hr);
                }
                printf("%s{", c == 0 ? "" : ",");
                json_field_string("logical_path", info.logical_path, false);
                json_field_string("name", info.component_name, false);
                json_field_string("type", vss_component_type_to_string(info.type), false);
                json_field_string("caption", info.caption, false);
                printf("\"selectable\":%s,\"selectable_for_restore\":%s,\"files\":[",
                       info.selectable ? "true" : "false", info.selectable_for_restore ? "true" : "false");
                for (unsigned i = 0; i < info.file_count; i++) {
                        vss_wm_filedesc f;

                        if (vss_wm_component_get_file(comp, i, &f) == S_OK)
                                print_filedesc_json("files", &f, k++ == 0);
                }
                for (unsigned i = 0; i < info.database_count; i++) {
                        vss_wm_filedesc f;

                        if (vss_wm_component_get_database_file(comp, i, &f) == S_OK)
                                print_filedesc_json("database", &f, k++ == 0);
                }
                for (unsigned i = 0; i < info.log_file_count; i++) {
                        vss_wm_filedesc f;

                        if (vss_wm_component_get_database_log_file(comp, i, &f) == S_OK)
                                print_filedesc_json("database_log", &f, k++ == 0);
                }
                printf("]}");
        }
        printf("]}");
        return 0;
}

static int print_writer_metadata(vss_requester *req, unsigned index) {
        vss_examine_writer_metadata *m;
        const char *name, *instance_name, *service, *procedure;
        vss_id instance_id, writer_id;
        vss_usage_type usage;
        vss_source_type source;
        vss_restore_method method;
        uint32_t schema = 0;
        unsigned n_exclude, n_components;
        vss_hr hr;

        hr = vss_requester_get_writer_metadata(req, index, &instance_id, &m);
        if (VSS_SUCCEEDED(hr))
                hr = vss_examine_writer_metadata_get_identity(m, &instance_id, &writer_id, &name, &instance_name,
                                                              &usage, &source);
        if (VSS_SUCCEEDED(hr))
                hr = vss_examine_writer_metadata_get_file_counts(m, NULL, &n_exclude, &n_components);
        if (VSS_SUCCEEDED(hr))
                hr = vss_examine_writer_metadata_get_backup_schema(m, &schema);
        if (VSS_SUCCEEDED(hr))
                hr = vss_examine_writer_metadata_get_restore_method(m, &method, &service, &procedure, NULL, NULL);
        if (VSS_FAILED(hr))
                return -tool_step_failed(req, "GetWriterMetadata", hr);

        printf("* WRITER \"%s\"\n", name);
        printf("    - WriterId   = {%s}\n", vss_id_to_str(&writer_id).s);
        printf("    - InstanceId = {%s}\n", vss_id_to_str(&instance_id).s);
        if (!isempty(instance_name))
                printf("    - Instance name: %s\n", instance_name);
        printf("    - Usage type: %s\n", usage_type_name(usage));
        printf("    - Source type: %s\n", source_type_name(source));
        printf("    - Backup schema: 0x%04" PRIx32 "\n", schema);
        printf("    - Restore method: %s%s%s\n", restore_method_name(method), isempty(service) ? "" : ", service ",
               strempty(service));
        for (unsigned i = 0; i < n_exclude; i++) {
                vss_wm_filedesc f;

                if (vss_examine_writer_metadata_get_exclude_file(m, i, &f) == S_OK)
                        printf("    - Excluded files: path %s, filespec %s%s\n", f.path, f.filespec,
                               f.recursive ? ", recursive" : "");
        }
        printf("    - Components: %u\n", n_components);
        for (unsigned c = 0; c < n_components; c++) {
                vss_wm_component *comp;
                vss_component_info info;

                hr = vss_examine_writer_metadata_get_component(m, c, &comp);
                if (VSS_SUCCEEDED(hr))
                        hr = vss_wm_component_get_info(comp, &info);
                if (VSS_FAILED(hr))
                        return -tool_step_failed(req, "GetComponent", hr);
                printf("        * Component \"%s%s%s\"\n", info.logical_path, isempty(info.logical_path) ? "" : "\\",
                       info.component_name);
                printf("            - Type: %s\n", vss_component_type_to_string(info.type));
                if (!isempty(info.caption))
                        printf("            - Caption: %s\n", info.caption);
                printf("            - Selectable: %s, selectable for restore: %s\n", info.selectable ? "yes" : "no",
                       info.selectable_for_restore ? "yes" : "no");
                for (unsigned i = 0; i < info.file_count; i++) {
                        vss_wm_filedesc f;

                        if (vss_wm_component_get_file(comp, i, &f) == S_OK)
                                print_filedesc("Files", &f);
                }
                for (unsigned i = 0; i < info.database_count; i++) {
                        vss_wm_filedesc f;

                        if (vss_wm_component_get_database_file(comp, i, &f) == S_OK)
                                print_filedesc("Database files", &f);
                }
                for (unsigned i = 0; i < info.log_file_count; i++) {
                        vss_wm_filedesc f;

                        if (vss_wm_component_get_database_log_file(comp, i, &f) == S_OK)
                                print_filedesc("Database log files", &f);
                }
        }
        printf("\n");
        return 0;
}

int writer_listing(void) {
        _cleanup_(requester_releasep) vss_requester *req = NULL;
        unsigned n = 0;
        vss_hr hr;
        int r;

        r = requester_open(VSS_CTX_BACKUP, &req);
        if (r < 0)
                return r;
        hr = vss_requester_set_backup_state(req, true, false, VSS_BT_FULL, false);
        if (VSS_FAILED(hr))
                return -tool_step_failed(req, "SetBackupState", hr);
        hr = TOOL_RUN_ASYNC(vss_requester_gather_writer_metadata, req);
        if (VSS_FAILED(hr))
                return -tool_step_failed(req, "GatherWriterMetadata", hr);

        if (arg.command == COMMAND_WRITER_METADATA) {
                hr = vss_requester_get_writer_metadata_count(req, &n);
                if (VSS_FAILED(hr))
                        return -tool_step_failed(req, "GetWriterMetadataCount", hr);
                if (arg.json)
                        putchar('[');
                for (unsigned i = 0; i < n; i++) {
                        r = arg.json ? print_writer_metadata_json(req, i) : print_writer_metadata(req, i);
                        if (r < 0)
                                return r;
                }
                if (arg.json)
                        printf("]\n");
                else
                        printf("%u writer%s answered Identify.\n", n, n == 1 ? "" : "s");
                return 0;
        }

        hr = TOOL_RUN_ASYNC(vss_requester_gather_writer_status, req);
        if (VSS_SUCCEEDED(hr))
                hr = vss_requester_get_writer_status_count(req, &n);
        if (VSS_FAILED(hr))
                return -tool_step_failed(req, "GatherWriterStatus", hr);
        if (arg.json)
                putchar('[');
        for (unsigned i = 0; i < n; i++) {
                const char *name;
                vss_id instance_id, writer_id;
                vss_writer_state state;
                vss_hr failure;

                hr = vss_requester_get_writer_status(req, i, &instance_id, &writer_id, &name, &state, &failure);
                if (VSS_FAILED(hr))
                        return -tool_step_failed(req, "GetWriterStatus", hr);
                if (arg.json) {
                        /* The fields of vssadmin list writers --json. */
                        printf("%s{", i == 0 ? "" : ",");
                        json_field_string("writer_id", vss_id_to_str(&writer_id).s, false);
                        json_field_string("instance_id", vss_id_to_str(&instance_id).s, false);
                        json_field_string("name", name, false);
                        printf("\"state\":%d,", (int) state);
                        json_field_string("state_name", vss_writer_state_to_string(state), false);
                        printf("\"last_error\":%" PRId32 ",", (int32_t) failure);
                        json_field_string("last_error_name", vss_hr_name(failure), true);
                        putchar('}');
                        continue;
                }
                printf("* WRITER \"%s\"\n", name);
                printf("   - Status: %d (%s)\n", (int) state, vss_writer_state_to_string(state));
                printf("   - Writer failure code: 0x%08" PRIx32 " (%s)\n", (uint32_t) failure, vss_hr_name(failure));
                printf("   - Writer ID: {%s}\n", vss_id_to_str(&writer_id).s);
                printf("   - Instance ID: {%s}\n\n", vss_id_to_str(&instance_id).s);
        }
        if (arg.json)
                printf("]\n");
        else
                printf("%u writer%s listed.\n", n, n == 1 ? "" : "s");
        return 0;
}

