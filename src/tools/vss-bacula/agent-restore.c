/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * agent-restore.c: the VSS side of a Bacula restore back into place, run by the restore job's
 * agent between the RunScript before the job (restore-begin: PreRestore) and the one after it
 * (restore-end: PostRestore). The File Daemon writes the files in between; the agent holds the
 * requester so the writers see one restore from PreRestore to PostRestore.
 *
 * The document is the backup job's, kept by its agent (agent-backup.c); every component in it
 * whose writer runs now is selected (SetSelectedForRestore binds the document's writer class to
 * its live instance). A restore cannot be aborted (vss-semantics §13): once PreRestore went out,
 * whatever happens (a failed job, the File Daemon gone, the deadline) the writers hear
 * PostRestore, with the file restore status ALL, FAILED, or NONE when no file was written.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vss-bacula.h"
#include "vss-bus.h"

int read_document(const char *path, char **ret, char **ret_error) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t len = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 || fstat(fd, &st) < 0) {
                if (asprintf(ret_error, "VSS_E_OBJECT_NOT_FOUND: the Backup Components Document %s cannot be read: %s",
                             path, strerror(errno)) < 0)
                        *ret_error = NULL;
                return -errno;
        }
        if (!S_ISREG(st.st_mode) || st.st_size <= 0 || (uint64_t) st.st_size > BCD_MAX_BYTES) {
                if (asprintf(ret_error, "E_INVALIDARG: %s is not a Backup Components Document (a regular file of at "
                             "most %u bytes)", path, BCD_MAX_BYTES) < 0)
                        *ret_error = NULL;
                return -EINVAL;
        }
        buf = malloc((size_t) st.st_size + 1);
        if (!buf)
                return -ENOMEM;
        while (len < (size_t) st.st_size) {
                ssize_t n = read(fd, buf + len, (size_t) st.st_size - len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                len += (size_t) n;
        }
        buf[len] = '\0';
        *ret = TAKE_PTR(buf);
        return 0;
}

/* Every component of the document whose writer runs: selected, and remembered for the status. */
static int select_all(Job *j, char **ret_error) {
        unsigned n = 0;
        vss_hr hr;

        hr = vss_requester_get_writer_components_count(j->req, &n);
        if (VSS_FAILED(hr)) {
                *ret_error = tool_step_message(j->req, "GetWriterComponentsCount", hr);
                return -EIO;
        }
        for (unsigned i = 0; i < n; i++) {
                vss_writer_components_ext *ext = NULL;
                vss_id instance_id, writer_id;
                unsigned count = 0;

                hr = vss_requester_get_writer_components(j->req, i, &ext);
                if (VSS_SUCCEEDED(hr))
                        hr = vss_writer_components_ext_get_writer_info(ext, &instance_id, &writer_id);
                if (VSS_SUCCEEDED(hr))
                        hr = vss_writer_components_ext_get_count(ext, &count);
                for (unsigned c = 0; VSS_SUCCEEDED(hr) && c < count; c++) {
                        const char *lp = NULL, *name = NULL;
                        vss_component_type type;
                        AddedComponent *a;

                        hr = tool_component_identity(ext, c, &lp, &name, &type);
                        if (VSS_FAILED(hr))
                                break;
                        /* No instance: the document's writer of this class, bound to the one running now. */
                        hr = vss_requester_set_selected_for_restore(j->req, NULL, &writer_id, type, lp, name, true);
                        if (VSS_FAILED(hr)) {
                                tool_note("job %s: component \"%s\" of writer class %s is not restored with its writer: "
                                          "%s", j->name, name, vss_id_to_str(&writer_id).s, vss_hr_name(hr));
                                hr = S_OK;
                                continue;
                        }
                        a = reallocarray(j->components, j->n_components + 1, sizeof(*a));
                        if (!a) {
                                vss_writer_components_ext_free(ext);
                                return -ENOMEM;
                        }
                        j->components = a;
                        a = &j->components[j->n_components++];
                        *a = (AddedComponent) { .instance_id = instance_id, .writer_id = writer_id, .type = type,
                                                .logical_path = strdup(strempty(lp)), .name = strdup(name) };
                        if (!a->logical_path || !a->name) {
                                vss_writer_components_ext_free(ext);
                                return -ENOMEM;
                        }
                        tool_note("job %s: component \"%s\" selected for restore", j->name, name);
                }
                vss_writer_components_ext_free(ext);
                if (VSS_FAILED(hr)) {
                        *ret_error = tool_step_message(j->req, "GetWriterComponents", hr);
                        return -EIO;
                }
        }
        return 0;
}

int job_restore_begin(Job *j, const char *bcd_path, char **ret_error) {
        vss_requester_options o = VSS_REQUESTER_OPTIONS_INIT;
        _cleanup_free_ char *xml = NULL;
        vss_hr hr;
        int r;

        r = read_document(bcd_path, &xml, ret_error);
        if (r < 0)
                return r;
        o.socket_path = opt.socket;
        hr = vss_requester_new(&j->req, &o);
        if (VSS_FAILED(hr)) {
                if (asprintf(ret_error, "%s: vssd cannot be reached at %s: start it with `systemctl start vssd.socket`",
                             vss_hr_name(hr), vss_socket_path(opt.socket)) < 0)
                        *ret_error = NULL;
                return -EIO;
        }
        hr = vss_requester_initialize_for_restore(j->req, xml);
        if (VSS_SUCCEEDED(hr))
                hr = vss_requester_set_restore_state(j->req, VSS_RTYPE_BY_COPY);
        if (VSS_FAILED(hr)) {
                *ret_error = tool_step_message(j->req, "InitializeForRestore", hr);
                return -EIO;
        }
        hr = TOOL_RUN_ASYNC(vss_requester_gather_writer_metadata, j->req);
        if (VSS_FAILED(hr)) {
                *ret_error = tool_step_message(j->req, "GatherWriterMetadata", hr);
                return -EIO;
        }
        r = select_all(j, ret_error);
        if (r < 0)
                return r;

        j->restore_begun = true;
        hr = TOOL_RUN_ASYNC(vss_requester_pre_restore, j->req);
        if (VSS_FAILED(hr)) {
                /* The writers are not ready for their files: the job must not write them. */
                *ret_error = tool_step_message(j->req, "PreRestore", hr);
                return -EIO;
        }
        tool_note("job %s: PreRestore done for %zu component(s) of %s", j->name, j->n_components, bcd_path);
        return 0;
}

void job_restore_end(Job *j, vss_file_restore_status status) {
        vss_hr hr;

        if (!j->req)
                return;
        if (j->restore_begun) {
                for (size_t i = 0; i < j->n_components; i++) {
                        AddedComponent *c = &j->components[i];

                        /* Each writer must still hear PostRestore: go on past a failure. */
                        hr = vss_requester_set_file_restore_status(j->req, NULL, &c->writer_id, c->type,
                                                                   c->logical_path, c->name, status);
                        if (VSS_FAILED(hr))
                                tool_note("job %s: SetFileRestoreStatus(%s) failed: %s", j->name, c->name,
                                          vss_hr_name(hr));
                }
                hr = TOOL_RUN_ASYNC(vss_requester_post_restore, j->req);
                tool_note("job %s: PostRestore (file restore status %d): %s", j->name, (int) status, vss_hr_name(hr));
        }
        vss_requester_release(j->req);
        j->req = NULL;
}
