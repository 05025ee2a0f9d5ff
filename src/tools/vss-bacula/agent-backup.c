/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * agent-backup.c: the VSS side of one Bacula job, run by its agent: one snapshot set of every
 * volume the File Daemon asked about, with the writers in component mode, and the outcome
 * the writers hear at the end.
 *
 * Which components: the File Daemon never shows its FileSet to the snapshot backend, only the
 * volumes the FileSet touches (it asks "support" for exactly those). So the agent selects the
 * components whose every file lies on one of those volumes: a writer whose database is on a
 * snapshotted volume is frozen for it and hears the outcome; one elsewhere is not involved
 * (docs/bacula.md, "Which writers take part").
 *
 * The document: saved beside the jobs, STATE_DIR/<job>.xml (0600), after DoSnapshotSet and
 * again after SetBackupSucceeded, so a restore hands the writers what they wrote.
 *
 * Previous stamps: an Incremental or Differential hands each writer the stamp it set in the
 * backup this one builds on (SetPreviousBackupStamp). The kept documents already say what is
 * needed: their backup type is the job's level, and a job counts as successful when every
 * component of it was marked succeeded at job-end (a failed job, or one whose job-end never
 * came, leaves them unmarked). Incremental builds on the newest successful document of the
 * job name, Differential on the newest successful Full. Components match by writer class, so
 * a writer restarted since (a new instance id) still gets its stamp.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alloc-util.h"
#include "backup-components.h"
#include "bcd-xml.h"
#include "path-util.h"
#include "tool-interrupt.h"
#include "vss-bacula.h"
#include "vss-bus.h"

vss_backup_type job_type_from_level(const char *level) {
        if (!level)
                return VSS_BT_COPY;
        if (strcasecmp(level, "Full") == 0 || strcasecmp(level, "F") == 0)
                return VSS_BT_FULL;
        if (strcasecmp(level, "Incremental") == 0 || strcasecmp(level, "I") == 0)
                return VSS_BT_INCREMENTAL;
        if (strcasecmp(level, "Differential") == 0 || strcasecmp(level, "D") == 0)
                return VSS_BT_DIFFERENTIAL;
        /* Base, Virtual Full, ...: nothing a writer may count as its own backup history. */
        return VSS_BT_COPY;
}

static int requester_ensure(Job *j, char **ret_error) {
        vss_requester_options o = VSS_REQUESTER_OPTIONS_INIT;
        vss_hr hr;

        if (j->req)
                return 0;
        o.socket_path = opt.socket;
        hr = vss_requester_new(&j->req, &o);
        if (VSS_FAILED(hr)) {
                if (asprintf(ret_error, "%s: vssd cannot be reached at %s: start it with `systemctl start vssd.socket`",
                             vss_hr_name(hr), vss_socket_path(opt.socket)) < 0)
                        *ret_error = NULL;
                return -EIO;
        }
        hr = vss_requester_initialize_for_backup(j->req, NULL);
        if (VSS_FAILED(hr)) {
                *ret_error = tool_step_message(j->req, "InitializeForBackup", hr);
                return -EIO;
        }
        return 0;
}

int job_supports(Job *j, const char *mountpoint, char **ret_reason) {
        bool supported = false;
        vss_hr hr;
        int r;

        r = requester_ensure(j, ret_reason);
        if (r < 0)
                return -ENOTCONN;
        hr = vss_requester_is_volume_supported(j->req, NULL, mountpoint, &supported);
        if (VSS_FAILED(hr) || !supported) {
                const char *detail = vss_requester_get_error_message(j->req);

                if (asprintf(ret_reason, "%s: %s: no provider can snapshot it%s%s",
                             vss_hr_name(VSS_FAILED(hr) ? hr : VSS_E_VOLUME_NOT_SUPPORTED), mountpoint,
                             isempty(detail) ? "" : ": ", strempty(detail)) < 0)
                        *ret_reason = NULL;
                return -EOPNOTSUPP;
        }
        return 0;
}

/* Does every file of the component lie on one of the job's volumes (and has it any)? */
static bool component_on_volumes(const Job *j, vss_wm_component *comp, const vss_component_info *info) {
        unsigned total = info->file_count + info->database_count + info->log_file_count;

        if (total == 0)
                return false;
        for (ToolFileKind k = 0; k < _TOOL_FILE_KIND_MAX; k++) {
                unsigned count = tool_component_file_count(info, k);

                for (unsigned i = 0; i < count; i++) {
                        _cleanup_free_ char *path = NULL, *real = NULL;
                        vss_wm_filedesc f;
                        bool inside = false;
                        vss_hr hr;

                        hr = tool_component_get_file(comp, k, i, &f);
                        if (hr != S_OK || bcd_path_expand(f.path, &path) != S_OK)
                                return false;
                        real = realpath(path, NULL);
                        for (size_t v = 0; v < j->n_volumes && !inside; v++)
                                inside = j->volumes[v].created &&
                                         path_is_under(real ?: path, j->volumes[v].mountpoint);
                        if (!inside)
                                return false;
                }
        }
        return true;
}

static char *component_full_path(const char *logical_path, const char *name) {
        char *s = NULL;

        if (isempty(logical_path))
                return strdup(name);
        if (asprintf(&s, "%s\\%s", logical_path, name) < 0)
                return NULL;
        return s;
}

/* A subcomponent of one already added comes with it: adding it too would be an error. */
static bool covered_by_added(const Job *j, const vss_id *instance_id, const char *logical_path) {
        if (isempty(logical_path))
                return false;
        for (size_t i = 0; i < j->n_components; i++) {
                const AddedComponent *c = &j->components[i];
                _cleanup_free_ char *full = NULL;
                size_t n;

                if (!vss_id_equal(&c->instance_id, instance_id))
                        continue;
                full = component_full_path(c->logical_path, c->name);
                if (!full)
                        continue;
                n = strlen(full);
                if (strncmp(logical_path, full, n) == 0 && (logical_path[n] == '\0' || logical_path[n] == '\\'))
                        return true;
        }
        return false;
}

static int select_components(Job *j, char **ret_error) {
        unsigned n_writers = 0;
        vss_hr hr;

        hr = vss_requester_get_writer_metadata_count(j->req, &n_writers);
        if (VSS_FAILED(hr)) {
                *ret_error = tool_step_message(j->req, "GetWriterMetadataCount", hr);
                return -EIO;
        }
        for (unsigned w = 0; w < n_writers; w++) {
                vss_examine_writer_metadata *m = NULL;
                vss_id instance_id, writer_id;
                unsigned n_include, n_exclude, n_comp;

                hr = vss_requester_get_writer_metadata(j->req, w, &instance_id, &m);
                if (VSS_SUCCEEDED(hr))
                        hr = vss_examine_writer_metadata_get_identity(m, NULL, &writer_id, NULL, NULL, NULL, NULL);
                if (VSS_SUCCEEDED(hr))
                        hr = vss_examine_writer_metadata_get_file_counts(m, &n_include, &n_exclude, &n_comp);
                if (VSS_FAILED(hr)) {
                        *ret_error = tool_step_message(j->req, "GetWriterMetadata", hr);
                        return -EIO;
                }
                for (unsigned c = 0; c < n_comp; c++) {
                        vss_wm_component *comp = NULL;
                        vss_component_info info;
                        AddedComponent *a;

                        if (vss_examine_writer_metadata_get_component(m, c, &comp) != S_OK ||
                            vss_wm_component_get_info(comp, &info) != S_OK)
                                continue;
                        if (!component_on_volumes(j, comp, &info) ||
                            covered_by_added(j, &instance_id, info.logical_path))
                                continue;
                        hr = vss_requester_add_component(j->req, &instance_id, &writer_id, info.type,
                                                         info.logical_path, info.component_name);
                        if (VSS_FAILED(hr)) {
                                *ret_error = tool_step_message(j->req, "AddComponent", hr);
                                return -EIO;
                        }
                        a = reallocarray(j->components, j->n_components + 1, sizeof(*a));
                        if (!a)
                                return -ENOMEM;
                        j->components = a;
                        a = &j->components[j->n_components];
                        *a = (AddedComponent) {
                                .instance_id = instance_id,
                                .writer_id = writer_id,
                                .type = info.type,
                                .logical_path = strdup(strempty(info.logical_path)),
                                .name = strdup(info.component_name),
                        };
                        j->n_components++;
                        if (!a->logical_path || !a->name)
                                return -ENOMEM;
                        tool_note("job %s: component \"%s\" of writer instance %s selected", j->name,
                                  info.component_name, vss_id_to_str(&instance_id).s);
                }
        }
        return 0;
}

static int bcd_save(Job *j) {
        _cleanup_free_ char *xml = NULL, *tmp = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t len;

        if (vss_requester_save_as_xml(j->req, &xml) != S_OK || !j->bcd_path)
                return -EIO;
        if (asprintf(&tmp, "%s.tmp", j->bcd_path) < 0)
                return -ENOMEM;
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        len = strlen(xml);
        for (size_t off = 0; off < len;) {
                ssize_t n = write(fd, xml + off, len - off);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        (void) unlink(tmp);
                        return -errno;
                }
                off += (size_t) n;
        }
        if (fsync(fd) < 0 || rename(tmp, j->bcd_path) < 0) {
                int err = errno;

                (void) unlink(tmp);
                return -err;
        }
        return 0;
}

/* Bacula's job name within the first len bytes of its unique name "NAME.YYYY-MM-DD_HH.MM.SS_NN"
 * (what %n gives). */
static size_t job_base_len(const char *job, size_t len) {
        size_t n = len;

        for (int dots = 0; n > 0 && dots < 3; n--)
                if (job[n - 1] == '.' && ++dots == 3)
                        return n - 1;
        return len;
}

typedef struct Doc {
        char *name;
        struct timespec mtime;
} Doc;

static int doc_newer_first(const void *a, const void *b) {
        const Doc *x = a, *y = b;

        if (x->mtime.tv_sec != y->mtime.tv_sec)
                return x->mtime.tv_sec < y->mtime.tv_sec ? 1 : -1;
        return x->mtime.tv_nsec < y->mtime.tv_nsec ? 1 : x->mtime.tv_nsec > y->mtime.tv_nsec ? -1 : 0;
}

static void docs_free(Doc *docs, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(docs[i].name);
        free(docs);
}

/* The kept documents of this job's name in the open state directory d, newest first. */
static size_t list_documents(const Job *j, DIR *d, Doc **ret) {
        size_t base = job_base_len(j->name, strlen(j->name)), n = 0, cap = 0;
        Doc *docs = NULL;
        struct dirent *de;

        while ((de = readdir(d))) {
                size_t len = strlen(de->d_name);
                struct stat st;

                if (len < 5 || !streq(de->d_name + len - 4, ".xml") || strncmp(de->d_name, j->name, base) != 0 ||
                    de->d_name[base] != '.' || job_base_len(de->d_name, len - 4) != base ||
                    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                        continue;
                if (GREEDY_REALLOC(docs, cap, n + 1) < 0)
                        break;
                docs[n].name = strdup(de->d_name);
                docs[n].mtime = st.st_mtim;
                if (docs[n].name)
                        n++;
        }
        if (docs)
                qsort(docs, n, sizeof(*docs), doc_newer_first);
        *ret = docs;
        return n;
}

/*
 * The documents of this job's name beyond the newest opt.keep_documents are removed: one is
 * written per job, and the state directory must not grow without end.
 */
static void prune_documents(const Job *j) {
        DIR *d = opendir(opt.state_dir);
        Doc *docs = NULL;
        size_t n;

        if (!d)
                return;
        n = list_documents(j, d, &docs);
        for (size_t i = opt.keep_documents; i < n; i++)
                (void) unlinkat(dirfd(d), docs[i].name, 0);
        docs_free(docs, n);
        closedir(d);
}

/* A successful job's document: it has components and every one was marked succeeded. */
static bool document_succeeded(const BackupComponents *b) {
        if (b->n_components == 0)
                return false;
        for (size_t w = 0; w < b->n_writers; w++)
                for (size_t c = 0; c < b->writers[w].n_components; c++)
                        if (!b->writers[w].components[c]->backup_succeeded)
                                return false;
        return true;
}

/* The newest kept, successful document this job builds on (of type want, or of any level
 * but a copy when want is VSS_BT_UNDEFINED), with its file name; NULL when there is none. */
static BackupComponents *previous_document(const Job *j, vss_backup_type want, char **ret_name) {
        DIR *d = opendir(opt.state_dir);
        BackupComponents *found = NULL;
        Doc *docs = NULL;
        size_t n;

        if (!d)
                return NULL;
        n = list_documents(j, d, &docs);
        for (size_t i = 0; i < n && !found; i++) {
                _cleanup_free_ char *path = NULL, *xml = NULL, *error = NULL, *reason = NULL;
                BackupComponents *b = NULL;

                if (asprintf(&path, "%s/%s", opt.state_dir, docs[i].name) < 0)
                        break;
                if (read_document(path, &xml, &error) < 0 ||
                    backup_components_from_xml(xml, strlen(xml), &b, &reason) != S_OK)
                        continue;
                if ((want == VSS_BT_UNDEFINED ? b->backup_type != VSS_BT_COPY : b->backup_type == want) &&
                    document_succeeded(b)) {
                        found = b;
                        *ret_name = TAKE_PTR(docs[i].name);
                } else
                        backup_components_free(b);
        }
        docs_free(docs, n);
        closedir(d);
        return found;
}

/* Incremental, Differential: each selected component gets the stamp its writer set in the
 * backup this one builds on. None found: no previous stamp, as on Windows. */
static int set_previous_stamps(Job *j, char **ret_error) {
        _cleanup_free_ char *name = NULL;
        BackupComponents *b;
        unsigned n_set = 0;

        if (j->backup_type != VSS_BT_INCREMENTAL && j->backup_type != VSS_BT_DIFFERENTIAL)
                return 0;
        b = previous_document(j, j->backup_type == VSS_BT_DIFFERENTIAL ? VSS_BT_FULL : VSS_BT_UNDEFINED, &name);
        if (!b) {
                tool_note("job %s: no successful %s of this job is kept in %s: the writers get no previous backup stamp",
                          j->name, j->backup_type == VSS_BT_DIFFERENTIAL ? "Full" : "job", opt.state_dir);
                return 0;
        }
        for (size_t i = 0; i < j->n_components; i++) {
                const AddedComponent *a = &j->components[i];

                for (size_t w = 0; w < b->n_writers; w++) {
                        const BcdWriter *bw = &b->writers[w];

                        if (!vss_id_equal(&bw->writer_id, &a->writer_id))
                                continue;
                        for (size_t c = 0; c < bw->n_components; c++) {
                                const BcdComponent *bc = bw->components[c];
                                const char *stamp = bcd_component_get_string(bc, BCD_STRING_BACKUP_STAMP);
                                vss_hr hr;

                                if (!stamp || bc->type != a->type || !streq(bc->logical_path, a->logical_path) ||
                                    !streq(bc->name, a->name))
                                        continue;
                                hr = vss_requester_set_previous_backup_stamp(j->req, &a->instance_id, &a->writer_id,
                                                                             a->type, a->logical_path, a->name, stamp);
                                if (VSS_FAILED(hr)) {
                                        *ret_error = tool_step_message(j->req, "SetPreviousBackupStamp", hr);
                                        backup_components_free(b);
                                        return -EIO;
                                }
                                n_set++;
                        }
                }
        }
        tool_note("job %s: builds on %s: %u previous backup stamp(s) handed on", j->name, name, n_set);
        backup_components_free(b);
        return 0;
}

static char *job_bcd_path(const char *job) {
        char *p = NULL;

        if (mkdir_private(opt.state_dir) < 0)
                return NULL;
        if (asprintf(&p, "%s/%s.xml", opt.state_dir, job) < 0)
                return NULL;
        return p;
}

int job_take_set(Job *j, char **ret_error) {
        bool prepared = false;
        vss_hr hr;
        int r;

        r = requester_ensure(j, ret_error);
        if (r < 0)
                return r;
        hr = vss_requester_set_backup_state(j->req, true, false, j->backup_type, false);
        if (VSS_FAILED(hr)) {
                *ret_error = tool_step_message(j->req, "SetBackupState", hr);
                return -EIO;
        }
        hr = TOOL_RUN_ASYNC(vss_requester_gather_writer_metadata, j->req);
        if (VSS_FAILED(hr)) {
                *ret_error = tool_step_message(j->req, "GatherWriterMetadata", hr);
                return -EIO;
        }
        r = select_components(j, ret_error);
        if (r < 0)
                return r;
        r = set_previous_stamps(j, ret_error);
        if (r < 0)
                return r;

        /* Another job of this host may be taking its set: wait our turn, bounded. */
        hr = tool_start_snapshot_set(j->req, opt.wait_set_s, false, &j->set_id);
        if (hr == VSS_E_SNAPSHOT_SET_IN_PROGRESS) {
                if (asprintf(ret_error, "%s: another snapshot set was still being created after %us: "
                             "give the agent a longer --wait-set", vss_hr_name(hr), opt.wait_set_s) < 0)
                        *ret_error = NULL;
                return -EBUSY;
        }
        if (VSS_FAILED(hr)) {
                *ret_error = tool_step_message(j->req, "StartSnapshotSet", hr);
                return -EIO;
        }
        for (size_t i = 0; i < j->n_volumes; i++) {
                if (!j->volumes[i].created)
                        continue;
                hr = vss_requester_add_to_snapshot_set(j->req, j->volumes[i].mountpoint, NULL,
                                                       &j->volumes[i].snapshot_id);
                if (VSS_FAILED(hr)) {
                        _cleanup_free_ char *step = NULL;

                        if (asprintf(&step, "AddToSnapshotSet(%s)", j->volumes[i].mountpoint) >= 0)
                                *ret_error = tool_step_message(j->req, step, hr);
                        return -EIO;
                }
        }

        hr = TOOL_RUN_ASYNC(vss_requester_prepare_for_backup, j->req);
        if (VSS_SUCCEEDED(hr)) {
                prepared = true;
                hr = TOOL_RUN_ASYNC(vss_requester_do_snapshot_set, j->req);
                if (VSS_FAILED(hr))
                        *ret_error = tool_step_message(j->req, "DoSnapshotSet", hr);
        } else
                *ret_error = tool_step_message(j->req, "PrepareForBackup", hr);
        if (VSS_FAILED(hr)) {
                /* After PrepareForBackup the writers must hear Abort (vss-semantics §13). */
                if (prepared)
                        (void) vss_requester_abort_backup(j->req);
                return -EIO;
        }
        j->set_taken = true;

        for (size_t i = 0; i < j->n_volumes; i++) {
                vss_snapshot_prop p = {};

                if (!j->volumes[i].created)
                        continue;
                hr = vss_requester_get_snapshot_properties(j->req, &j->volumes[i].snapshot_id, &p);
                if (VSS_SUCCEEDED(hr)) {
                        /* tool_snapshot_dir prints its failure; the agent's stderr is its log. */
                        r = tool_snapshot_dir(j->req, &p, &j->volumes[i].snapshot_dir);
                        if (r < 0)
                                hr = VSS_E_UNEXPECTED;
                }
                vss_snapshot_prop_free(&p);
                if (VSS_FAILED(hr)) {
                        *ret_error = tool_step_message(j->req, "GetSnapshotProperties", hr);
                        (void) vss_requester_abort_backup(j->req);
                        j->set_taken = false;
                        return -EIO;
                }
        }

        j->bcd_path = job_bcd_path(j->name);
        r = bcd_save(j);
        if (r < 0)
                tool_note("job %s: the Backup Components Document could not be saved in %s: %s", j->name,
                          opt.state_dir, strerror(-r));
        tool_note("job %s: snapshot set {%s} taken, %zu component(s), backup type %d", j->name,
                  vss_id_to_str(&j->set_id).s, j->n_components, (int) j->backup_type);
        return 0;
}

void job_finish(Job *j, bool succeeded) {
        vss_hr hr;

        if (!j->req)
                return;
        if (j->set_taken) {
                for (size_t i = 0; i < j->n_components; i++) {
                        AddedComponent *c = &j->components[i];

                        hr = vss_requester_set_backup_succeeded(j->req, &c->instance_id, &c->writer_id, c->type,
                                                                c->logical_path, c->name, succeeded);
                        if (VSS_FAILED(hr))
                                tool_note("job %s: SetBackupSucceeded(%s) failed: %s", j->name, c->name,
                                          vss_hr_name(hr));
                }
                if (bcd_save(j) < 0)
                        tool_note("job %s: the Backup Components Document could not be saved again", j->name);
                prune_documents(j);
                hr = TOOL_RUN_ASYNC(vss_requester_backup_complete, j->req);
                if (VSS_FAILED(hr))
                        tool_note("job %s: BackupComplete failed: %s", j->name, vss_hr_name(hr));
                tool_note("job %s: the writers heard the outcome: %s", j->name, succeeded ? "succeeded" : "failed");
        }
        /* The release: BackupShutdown to the writers, the auto-release snapshots deleted. */
        vss_requester_release(j->req);
        j->req = NULL;
}

void job_done(Job *j) {
        if (j->req) {
                vss_requester_release(j->req);
                j->req = NULL;
        }
        for (size_t i = 0; i < j->n_volumes; i++) {
                free(j->volumes[i].device);
                free(j->volumes[i].mountpoint);
                free(j->volumes[i].snapshot_dir);
        }
        j->n_volumes = 0;
        for (size_t i = 0; i < j->n_components; i++) {
                free(j->components[i].logical_path);
                free(j->components[i].name);
        }
        free(j->components);
        j->components = NULL;
        j->n_components = 0;
        free(j->set_error);
        free(j->bcd_path);
        free(j->name);
        j->name = NULL;
}
