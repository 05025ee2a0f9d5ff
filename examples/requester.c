/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * requester.c: a complete VSS requester in one file, the shape every backup program has.
 *
 *   vss-example-requester VOLUME FILE DEST
 *
 * Makes an application-consistent snapshot of VOLUME with every writer taking part, copies
 * FILE (a path below VOLUME) out of the snapshot to DEST, and tells the writers the backup
 * succeeded. Releasing the requester ends the backup; the snapshot, auto-release, goes with
 * it. Every call is checked: a backup program must never report success it did not have.
 *
 * Build:  cc requester.c -o vss-example-requester $(pkg-config --cflags --libs libvss)
 * Run as root or as a member of group "backup", with vssd running.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vss/vss.h>

/* Prints what failed and why; returns hr so a caller can `return fail(...)`. */
static vss_hr fail(vss_requester *r, const char *step, vss_hr hr) {
        fprintf(stderr, "%s: %s (0x%08x): %s\n", step, vss_hr_name(hr), (unsigned) hr,
                r ? vss_requester_get_error_message(r) : vss_hr_message(hr));
        return hr;
}

/* Runs an asynchronous step to its end: the step's own result, the handle released. */
static vss_hr finish(vss_requester *r, const char *step, vss_hr hr, vss_async *a) {
        if (hr == S_OK) {
                hr = vss_async_wait_result(a);
                vss_async_release(a);
        }
        return hr == S_OK ? S_OK : fail(r, step, hr);
}

/* Component mode: select every component of every writer (a real program lets the user
 * choose, following the selectability rules of the writers' metadata). */
static vss_hr select_all_components(vss_requester *r) {
        unsigned n_writers = 0;
        vss_hr hr;

        hr = vss_requester_get_writer_metadata_count(r, &n_writers);
        if (hr != S_OK)
                return fail(r, "GetWriterMetadataCount", hr);
        for (unsigned i = 0; i < n_writers; i++) {
                vss_examine_writer_metadata *m;
                unsigned n_include, n_exclude, n_components;
                vss_id instance, writer;

                hr = vss_requester_get_writer_metadata(r, i, &instance, &m);
                if (hr == S_OK)
                        hr = vss_examine_writer_metadata_get_identity(m, NULL, &writer, NULL, NULL, NULL, NULL);
                if (hr == S_OK)
                        hr = vss_examine_writer_metadata_get_file_counts(m, &n_include, &n_exclude, &n_components);
                if (hr != S_OK)
                        return fail(r, "GetWriterMetadata", hr);
                for (unsigned k = 0; k < n_components; k++) {
                        vss_wm_component *c;
                        vss_component_info info;

                        hr = vss_examine_writer_metadata_get_component(m, k, &c);
                        if (hr == S_OK)
                                hr = vss_wm_component_get_info(c, &info);
                        if (hr != S_OK)
                                return fail(r, "GetComponent", hr);
                        hr = vss_requester_add_component(r, &instance, &writer, info.type, info.logical_path,
                                                         info.component_name);
                        if (hr != S_OK)
                                return fail(r, "AddComponent", hr);
                }
        }
        return S_OK;
}

/* Tells every selected component's writer whether its data was backed up. */
static vss_hr report_outcome(vss_requester *r, bool succeeded) {
        unsigned n = 0;
        vss_hr hr;

        hr = vss_requester_get_writer_components_count(r, &n);
        if (hr != S_OK)
                return fail(r, "GetWriterComponentsCount", hr);
        for (unsigned i = 0; i < n; i++) {
                vss_writer_components_ext *e;
                unsigned count = 0;
                vss_id instance, writer;

                hr = vss_requester_get_writer_components(r, i, &e);
                if (hr == S_OK)
                        hr = vss_writer_components_ext_get_writer_info(e, &instance, &writer);
                if (hr == S_OK)
                        hr = vss_writer_components_ext_get_count(e, &count);
                for (unsigned k = 0; hr == S_OK && k < count; k++) {
                        const char *logical_path = NULL, *name = NULL;
                        vss_component_type type = VSS_CT_FILEGROUP;
                        vss_component *c;

                        hr = vss_writer_components_ext_get_component(e, k, &c);
                        if (hr == S_OK)
                                hr = vss_component_get_logical_path(c, &logical_path);
                        if (hr == S_OK)
                                hr = vss_component_get_component_name(c, &name);
                        if (hr == S_OK)
                                hr = vss_component_get_component_type(c, &type);
                        if (hr == S_OK)
                                hr = vss_requester_set_backup_succeeded(r, &instance, &writer, type, logical_path,
                                                                        name, succeeded);
                }
                vss_writer_components_ext_free(e);
                if (hr != S_OK)
                        return fail(r, "SetBackupSucceeded", hr);
        }
        return S_OK;
}

/* Copies src to dst; 0 or a negative errno. */
static int copy_file(const char *src, const char *dst) {
        char buf[65536];
        size_t n;
        FILE *in, *out;
        int r = 0;

        in = fopen(src, "rbe");
        if (!in)
                return -errno;
        out = fopen(dst, "wbe");
        if (!out) {
                r = -errno;
                fclose(in);
                return r;
        }
        while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
                if (fwrite(buf, 1, n, out) != n) {
                        r = -EIO;
                        break;
                }
        if (ferror(in))
                r = -EIO;
        fclose(in);
        if (fclose(out) != 0 && r == 0)
                r = -errno;
        return r;
}

/* The backup itself: everything between creating the requester and releasing it. */
static vss_hr backup(vss_requester *r, const char *volume, const char *file, const char *dest) {
        vss_snapshot_prop prop = { 0 };
        char *source = NULL;
        vss_id set, snapshot;
        vss_async *a = NULL;
        bool copied;
        vss_hr hr;
        int e;

        hr = vss_requester_initialize_for_backup(r, NULL);
        if (hr != S_OK)
                return fail(r, "InitializeForBackup", hr);
        hr = vss_requester_set_context(r, VSS_CTX_BACKUP);
        if (hr != S_OK)
                return fail(r, "SetContext", hr);
        hr = vss_requester_set_backup_state(r, true, false, VSS_BT_FULL, false);
        if (hr != S_OK)
                return fail(r, "SetBackupState", hr);

        hr = vss_requester_gather_writer_metadata(r, &a);
        if (finish(r, "GatherWriterMetadata", hr, a) != S_OK)
                return VSS_E_UNEXPECTED;
        hr = select_all_components(r);
        if (hr != S_OK)
                return hr;

        hr = vss_requester_start_snapshot_set(r, &set);
        if (hr != S_OK)
                return fail(r, "StartSnapshotSet", hr);
        hr = vss_requester_add_to_snapshot_set(r, volume, NULL, &snapshot);
        if (hr != S_OK)
                return fail(r, "AddToSnapshotSet", hr);

        hr = vss_requester_prepare_for_backup(r, &a);
        if (finish(r, "PrepareForBackup", hr, a) != S_OK)
                return VSS_E_UNEXPECTED;
        /* The writers freeze and thaw inside this call; the snapshot exists when it ends. */
        hr = vss_requester_do_snapshot_set(r, &a);
        if (finish(r, "DoSnapshotSet", hr, a) != S_OK)
                return VSS_E_UNEXPECTED;

        hr = vss_requester_get_snapshot_properties(r, &snapshot, &prop);
        if (hr != S_OK)
                return fail(r, "GetSnapshotProperties", hr);
        if (asprintf(&source, "%s/%s", prop.snapshot_device_object, file) < 0) {
                vss_snapshot_prop_free(&prop);
                return E_OUTOFMEMORY;
        }
        printf("snapshot of %s at %s\n", volume, prop.snapshot_device_object);
        vss_snapshot_prop_free(&prop);

        e = copy_file(source, dest);
        copied = e == 0;
        if (!copied)
                fprintf(stderr, "copying %s: %s\n", source, strerror(-e));
        free(source);

        /* The writers hear the truth either way, then BackupComplete. */
        hr = report_outcome(r, copied);
        if (hr != S_OK)
                return hr;
        hr = vss_requester_backup_complete(r, &a);
        if (finish(r, "BackupComplete", hr, a) != S_OK)
                return VSS_E_UNEXPECTED;
        return copied ? S_OK : E_FAIL;
}

int main(int argc, char **argv) {
        vss_requester *r = NULL;
        vss_hr hr;

        if (argc != 4) {
                fprintf(stderr, "usage: %s VOLUME FILE DEST\n", argv[0]);
                return 1;
        }

        hr = vss_requester_new(&r, NULL);
        if (hr != S_OK) {
                fail(NULL, "CreateVssBackupComponents", hr);
                return 2;
        }
        hr = backup(r, argv[1], argv[2], argv[3]);
        /* Release is BackupShutdown: the writers are told, the snapshot goes. Always call it,
         * after a failure too (an unfinished backup is aborted for the writers). */
        vss_requester_release(r);
        return hr == S_OK ? 0 : 2;
}
