/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * restore.c: `vssbackup restore BACKUP --to TARGET`, the state of the volumes at BACKUP's
 * snapshot, rebuilt from the chain BACKUP needs (the full, the incrementals up to BACKUP, or
 * the full and one differential).
 *
 * The listing of BACKUP decides what TARGET gets: every path it names, and nothing else. The
 * chain is read newest first, and each path is taken from the first archive that holds it,
 * so each file is written once, in its latest version, and a file deleted before BACKUP is
 * never written at all (it is in older archives but not in the listing). Every backup stores
 * every directory, so BACKUP's own archive creates them all with their modes and times, which
 * are applied at the very end, after the files of older archives went in.
 *
 * Safety is the archive layer's (docs/archive-format.md): nothing is written outside TARGET, no
 * symlink is followed, an existing file is left alone without --overwrite, contents are checked
 * before they get their name. Every file's outcome is reported: restored, skipped (it existed),
 * refused (unsafe entry) or failed (including "in the listing but in no archive of the chain").
 *
 * Writers take part unless told not to (--no-writers) or they cannot: the saved backup
 * components document goes to InitializeForRestore, every component the backup holds is
 * selected for restore (the running writer of its class), its file sets become new targets when
 * they land elsewhere than they were, PreRestore runs before the first file is written, each
 * component's file restore status (from its files' outcomes) and PostRestore after the last.
 * A writer that is not running, or a vssd that cannot be reached, leaves its files restored as
 * plain files, and the command says so.
 *
 * Each running writer's restore method (its metadata from GatherWriterMetadata) is obeyed per
 * component, after PreRestore and before the first file: RESTORE_IF_NOT_THERE keeps a component
 * whose files exist in TARGET as it is, RESTORE_IF_CAN_REPLACE does the same without
 * --overwrite, both sending the files an alternate location mapping matches there instead; the
 * stop/start methods stop and start the writer's service with systemctl ($VSSBACKUP_SYSTEMCTL)
 * when the files land at their original paths (TARGET is "/") and say why not otherwise; the
 * methods vssbackup cannot carry out (at reboot, custom) and a declared VSS_RME_UNDEFINED (a
 * writer error) leave the component's files unwritten. Such a component's writer hears
 * VSS_RS_NONE. RESTORE_TO_ALTERNATE_LOCATION and the restore target VSS_RT_ALTERNATE send each
 * file to the writer's alternate location mapping that matches it (under TARGET, through a
 * staging directory so the archive layer's checks apply); a file none matches is not written
 * (a writer error).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backup-archive.h"
#include "change-scan.h"
#include "safe-path.h"
#include "tool.h"
#include "vssbackup.h"

/* The directory under TARGET for writer files that lived outside every snapshotted volume. */
#define OTHER_DIR_NAME "outside-volumes"

/* One alternate location mapping of a writer, as paths in the report's namespace (relative to TARGET). */
typedef struct AltMapping {
        char *from;             /* the mapped file set's directory */
        char *to;               /* where its files go instead */
        char *filespec;
        bool recursive;
} AltMapping;

/* A writer declares at most this many mappings that vssbackup looks at. */
#define ALT_MAPPINGS_MAX 1024U

/* One component of the backup, as the restore deals with it. Strings borrowed from the manifest. */
typedef struct RestoreComponent {
        vss_id writer_id;
        vss_component_type type;
        const char *logical_path;
        const char *name;
        const char *writer_name;
        bool with_writer;       /* selected for restore: its writer hears PreRestore and PostRestore */
        const char *refused;    /* why its files are not written (a writer's refusal), or NULL */
        const char *refused_as; /* the report status of its files then: "failed" or "skipped" */
        vss_restore_method method;      /* its running writer's restore method */
        bool method_declared;   /* the writer declared one (UNDEFINED with nothing else is "none") */
        const char *service;    /* the stop/start methods' service; borrowed from the requester */
        bool service_stopped;   /* we stopped it: it must be started again */
        char **keys;            /* its file sets, as paths in the report's namespace ("" = everything) */
        size_t n_keys;
        AltMapping *maps;       /* its writer's alternate location mappings */
        size_t n_maps;
        bool alternate;         /* files a mapping matches go to their alternate location; refused covers the rest */
        uint64_t n_ok, n_bad;   /* its entries restored / not restored */
} RestoreComponent;

typedef struct WriterRestore {
        vss_requester *r;
        RestoreComponent *comps;
        size_t n;
        size_t n_selected;
        bool active;            /* PreRestore happened: PostRestore must follow */
} WriterRestore;

typedef struct RestoreRun {
        const RestoreOptions *o;
        WriterRestore wr;
        char *target_abs;       /* TARGET, canonical */
        bool writer_failed;
        bool service_failed;            /* a service could not be stopped or started */
        FILE *report;                   /* every file's status, or NULL */
        bool report_is_stdout;
        uint64_t restored, skipped, refused, failed;
        Progress progress;
        int targetfd;                   /* TARGET while the files are restored (borrowed), else -EBADF */
        int stagefd;                    /* STAGE_DIR_NAME in TARGET once created, else -EBADF */
        const char *volume;             /* the volume being restored (--include matching); NULL: outside-volumes */
} RestoreRun;

/* Where entries bound for an alternate location are extracted before they are renamed there. */
#define STAGE_DIR_NAME ".vssbackup-alternate-stage"

/* ------------------------------------------------------------------------------------------ */
/* Writers: InitializeForRestore ... PreRestore, then the files, then PostRestore             */
/* ------------------------------------------------------------------------------------------ */

/* The saved BCD can be at most this big (vssd's own limit on a document is lower). */
#define BCD_MAX_BYTES (64U * 1024U * 1024U)

/* A VSS step's result: false after the tools' one error line for it (tool.h). */
static bool wr_check(RestoreRun *run, const char *what, vss_hr hr) {
        if (VSS_SUCCEEDED(hr))
                return true;
        (void) tool_step_failed(run->wr.r, what, hr);
        return false;
}

static void writer_components_ext_freep(vss_writer_components_ext **e) {
        vss_writer_components_ext_free(*e);
}

static void restore_component_done(RestoreComponent *c) {
        for (size_t i = 0; i < c->n_keys; i++)
                free(c->keys[i]);
        free(c->keys);
        for (size_t i = 0; i < c->n_maps; i++) {
                free(c->maps[i].from);
                free(c->maps[i].to);
                free(c->maps[i].filespec);
        }
        free(c->maps);
}

static void writer_restore_done(WriterRestore *wr) {
        for (size_t i = 0; i < wr->n; i++)
                restore_component_done(&wr->comps[i]);
        free(wr->comps);
        vss_requester_release(wr->r);
        *wr = (WriterRestore) {};
}

/* Reads the BCD saved in backup m (checked against its manifest checksum) into *ret (malloc'd). */
static int read_saved_bcd(int dirfd, const Manifest *m, char **ret) {
        _cleanup_close_ int bfd = -EBADF, fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        const ManifestDocument *d = NULL;
        struct stat st;
        char hex[33];
        ssize_t n;
        int r;

        for (size_t i = 0; i < m->n_documents && !d; i++)
                if (streq(m->documents[i].kind, "bcd"))
                        d = &m->documents[i];
        if (!d || !m->bcd_source || !streq(m->bcd_source, "vssd"))
                return -ENOENT;
        bfd = openat(dirfd, m->dir_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (bfd < 0)
                return -errno;
        r = file_xxh128(bfd, d->name, hex);
        if (r < 0)
                return r;
        if (!streq(hex, d->xxh128))
                return -EBADMSG;
        fd = openat(bfd, d->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || st.st_size <= 0 || (uint64_t) st.st_size > BCD_MAX_BYTES)
                return -EBADMSG;
        buf = malloc((size_t) st.st_size + 1);
        if (!buf)
                return -ENOMEM;
        n = pread(fd, buf, (size_t) st.st_size, 0);
        if (n < 0)
                return -errno;
        if (n != st.st_size)
                return -EBADMSG;
        buf[n] = 0;
        *ret = TAKE_PTR(buf);
        return 0;
}

/*
 * Where a file set path of the original system lands in the restore, as a path in the report's
 * namespace (relative to TARGET): the part below the volume with one volume, the absolute path
 * without its '/' with several, OTHER_DIR_NAME + path outside every volume. Returns NULL on OOM
 * or a relative path.
 */
static char *report_key(const Manifest *m, const char *path) {
        _cleanup_free_ char *p = strdup(path);
        size_t len;
        char *key = NULL;

        if (!p || p[0] != '/')
                return NULL;
        len = strlen(p);
        while (len > 1 && p[len - 1] == '/')
                p[--len] = 0;
        for (size_t v = 0; v < m->n_volumes; v++) {
                const char *vp = m->volumes[v].path;
                size_t vl = strlen(vp);

                if (streq(vp, "/"))
                        vl = 0;
                if (strncmp(p, vp, vl) != 0 || (p[vl] != 0 && p[vl] != '/'))
                        continue;
                if (m->n_volumes == 1)
                        return strdup(p[vl] == '/' ? p + vl + 1 : "");
                return strdup(p + 1);
        }
        if (asprintf(&key, OTHER_DIR_NAME "%s", p) < 0)
                return NULL;
        return key;
}

/* The component whose file set holds report path prefix/path, or NULL. */
static RestoreComponent *component_of(RestoreRun *run, const char *prefix, const char *path) {
        _cleanup_free_ char *full = NULL;
        const char *p = path;

        if (!run->wr.active)
                return NULL;
        if (!isempty(prefix)) {
                if (asprintf(&full, "%s/%s", prefix, path) < 0)
                        return NULL;
                p = full;
        }
        for (size_t i = 0; i < run->wr.n; i++) {
                RestoreComponent *c = &run->wr.comps[i];

                for (size_t k = 0; k < c->n_keys; k++) {
                        size_t kl = strlen(c->keys[k]);

                        if (kl == 0 || (strncmp(p, c->keys[k], kl) == 0 && (p[kl] == 0 || p[kl] == '/')))
                                return c;
                }
        }
        return NULL;
}

static int component_add_key(RestoreComponent *c, char *key) {
        char **grown;

        if (!key)
                return -ENOMEM;
        grown = realloc(c->keys, (c->n_keys + 1) * sizeof(char *));
        if (!grown) {
                free(key);
                return -ENOMEM;
        }
        c->keys = grown;
        c->keys[c->n_keys++] = key;
        return 0;
}

/* The running writer's metadata for class writer_id, or NULL. Borrowed from the requester. */
static vss_examine_writer_metadata *running_writer(vss_requester *r, const vss_id *writer_id, uint32_t *ret_schema) {
        unsigned n = 0;

        if (vss_requester_get_writer_metadata_count(r, &n) != S_OK)
                return NULL;
        for (unsigned i = 0; i < n; i++) {
                vss_examine_writer_metadata *em = NULL;
                vss_id instance, wid;

                if (vss_requester_get_writer_metadata(r, i, &instance, &em) != S_OK)
                        continue;
                if (vss_examine_writer_metadata_get_identity(em, NULL, &wid, NULL, NULL, NULL, NULL) != S_OK ||
                    !vss_id_equal(&wid, writer_id))
                        continue;
                if (vss_examine_writer_metadata_get_backup_schema(em, ret_schema) != S_OK)
                        *ret_schema = 0;
                return em;
        }
        return NULL;
}

/* The destination of a file set path under TARGET (absolute), for AddNewTarget. */
static char *alternate_of(const RestoreRun *run, const char *key) {
        char *alt = NULL;

        if (asprintf(&alt, "%s%s%s", run->target_abs, isempty(key) ? "" : "/", key) < 0)
                return NULL;
        return alt;
}

typedef vss_hr (*FiledescGetter)(vss_wm_component *c, unsigned index, vss_wm_filedesc *ret);

/*
 * Records the file sets of c (from the running writer's metadata) as report keys and, when the
 * files land somewhere else than where they were and the writer takes new targets, tells vssd
 * with AddNewTarget.
 */
static int component_file_sets(RestoreRun *run, const Manifest *m, RestoreComponent *c, vss_wm_component *wc,
                               bool new_targets) {
        static const FiledescGetter getters[] = {
                vss_wm_component_get_file,
                vss_wm_component_get_database_file,
                vss_wm_component_get_database_log_file,
        };
        vss_component_info info;
        int r;

        if (vss_wm_component_get_info(wc, &info) != S_OK)
                return -EIO;
        for (size_t g = 0; g < ELEMENTSOF(getters); g++) {
                unsigned count = g == 0 ? info.file_count : g == 1 ? info.database_count : info.log_file_count;

                for (unsigned i = 0; i < count; i++) {
                        _cleanup_free_ char *alt = NULL;
                        vss_wm_filedesc fd;
                        char *key;
                        vss_hr hr;

                        if (getters[g](wc, i, &fd) != S_OK || !fd.path)
                                continue;
                        key = report_key(m, fd.path);
                        if (!key)
                                continue;       /* a path we cannot place (relative, variables): no key */
                        r = component_add_key(c, key);
                        if (r < 0)
                                return r;
                        if (!new_targets)
                                continue;
                        alt = alternate_of(run, key);
                        if (!alt)
                                return -ENOMEM;
                        if (streq(alt, fd.path))
                                continue;       /* restored in place: not a new target */
                        hr = vss_requester_add_new_target(run->wr.r, NULL, &c->writer_id, c->type, c->logical_path,
                                                          c->name, fd.path, fd.filespec, fd.recursive, alt);
                        if (hr == VSS_E_OBJECT_ALREADY_EXISTS)
                                continue;
                        if (!wr_check(run, "AddNewTarget", hr))
                                fprintf(stderr, "vssbackup: component %s\\%s: %s is restored to %s without the "
                                        "writer being told\n", c->logical_path, c->name, fd.path, alt);
                }
        }
        return 0;
}

/*
 * Copies the running writer's alternate location mappings into c, as paths in the report's
 * namespace (report_key), so they can be matched against the entries and placed under TARGET.
 * A mapping whose path or destination cannot be placed is left out. Returns 0 or -ENOMEM.
 */
static int component_alt_mappings(const Manifest *m, RestoreComponent *c, vss_examine_writer_metadata *em) {
        unsigned n = 0;

        if (vss_examine_writer_metadata_get_alternate_location_mapping_count(em, &n) != S_OK || n == 0)
                return 0;
        n = MIN(n, ALT_MAPPINGS_MAX);
        c->maps = calloc(n, sizeof(AltMapping));
        if (!c->maps)
                return -ENOMEM;
        for (unsigned i = 0; i < n; i++) {
                _cleanup_free_ char *from = NULL, *to = NULL, *spec = NULL;
                vss_wm_filedesc fd;

                if (vss_examine_writer_metadata_get_alternate_location_mapping(em, i, &fd) != S_OK || !fd.path ||
                    isempty(fd.alternate_location))
                        continue;
                from = report_key(m, fd.path);
                to = report_key(m, fd.alternate_location);
                if (!from || !to)
                        continue;       /* relative or unplaceable: no mapping */
                spec = strdup(isempty(fd.filespec) ? "*" : fd.filespec);
                if (!spec)
                        return -ENOMEM;
                c->maps[c->n_maps++] = (AltMapping) {
                        .from = TAKE_PTR(from),
                        .to = TAKE_PTR(to),
                        .filespec = TAKE_PTR(spec),
                        .recursive = fd.recursive,
                };
        }
        return 0;
}

/* The running writer's declaration of the component, or NULL. */
static vss_wm_component *declared_component(vss_examine_writer_metadata *em, const RestoreComponent *c) {
        unsigned n = 0;

        if (!em || vss_examine_writer_metadata_get_file_counts(em, NULL, NULL, &n) != S_OK)
                return NULL;
        for (unsigned i = 0; i < n; i++) {
                vss_wm_component *wc = NULL;
                vss_component_info info;

                if (vss_examine_writer_metadata_get_component(em, i, &wc) != S_OK ||
                    vss_wm_component_get_info(wc, &info) != S_OK)
                        continue;
                if (info.type == c->type && streq(strempty(info.logical_path), c->logical_path) &&
                    streq(strempty(info.component_name), c->name))
                        return wc;
        }
        return NULL;
}

/* SetSelectedForRestore for one component of the backup, then its file sets and new targets. */
static int select_component(RestoreRun *run, const Manifest *m, const ManifestComponent *mc) {
        RestoreComponent *c = &run->wr.comps[run->wr.n++];
        vss_examine_writer_metadata *em;
        vss_wm_component *wc;
        uint32_t schema = 0;
        vss_hr hr;

        *c = (RestoreComponent) {
                .writer_id = mc->writer_id,
                .type = mc->type,
                .logical_path = strempty(mc->logical_path),
                .name = strempty(mc->name),
                .writer_name = strempty(mc->writer_name),
        };
        hr = vss_requester_set_selected_for_restore(run->wr.r, NULL, &mc->writer_id, mc->type, c->logical_path,
                                                    c->name, true);
        if (hr == VSS_E_OBJECT_NOT_FOUND) {
                fprintf(stderr, "vssbackup: writer \"%s\" is not running: component %s\\%s is restored without it\n",
                        c->writer_name, c->logical_path, c->name);
                return 0;
        }
        if (!wr_check(run, "SetSelectedForRestore", hr))
                return 0;
        c->with_writer = true;
        run->wr.n_selected++;

        /* The restore applies the whole chain in one pass: no further restores follow. */
        hr = vss_requester_set_additional_restores(run->wr.r, NULL, &mc->writer_id, mc->type, c->logical_path,
                                                   c->name, false);
        (void) wr_check(run, "SetAdditionalRestores", hr);

        em = running_writer(run->wr.r, &mc->writer_id, &schema);
        if (em) {
                const char *service = NULL, *procedure = NULL;
                vss_writer_restore wre = VSS_WRE_UNDEFINED;

                if (vss_examine_writer_metadata_get_restore_method(em, &c->method, &service, &procedure, &wre,
                                                                   NULL) == S_OK) {
                        c->service = service;
                        c->method_declared = c->method != VSS_RME_UNDEFINED || wre != VSS_WRE_UNDEFINED ||
                                             !isempty(service) || !isempty(procedure);
                }
        }
        if (em) {
                int r = component_alt_mappings(m, c, em);

                if (r < 0)
                        return r;
        }
        wc = declared_component(em, c);
        if (!wc)
                return 0;
        return component_file_sets(run, m, c, wc, (schema & VSS_BS_WRITER_SUPPORTS_NEW_TARGET) != 0);
}

/* After PreRestore: each component's restore target, and the writers' failure messages. */
static int read_restore_targets(RestoreRun *run, bool post) {
        unsigned n = 0;
        vss_hr hr;

        hr = vss_requester_get_writer_components_count(run->wr.r, &n);
        if (!wr_check(run, "GetWriterComponentsCount", hr))
                return -EIO;
        for (unsigned i = 0; i < n; i++) {
                _cleanup_(writer_components_ext_freep) vss_writer_components_ext *e = NULL;
                unsigned count = 0;
                vss_id wid;

                if (vss_requester_get_writer_components(run->wr.r, i, &e) != S_OK ||
                    vss_writer_components_ext_get_writer_info(e, NULL, &wid) != S_OK ||
                    vss_writer_components_ext_get_count(e, &count) != S_OK)
                        continue;
                for (unsigned j = 0; j < count; j++) {
                        const char *lp = NULL, *name = NULL, *msg = NULL;
                        vss_restore_target target = VSS_RT_UNDEFINED;
                        vss_component_type type;
                        vss_component *comp = NULL;
                        RestoreComponent *c = NULL;

                        if (vss_writer_components_ext_get_component(e, j, &comp) != S_OK ||
                            vss_component_get_logical_path(comp, &lp) != S_OK ||
                            vss_component_get_component_name(comp, &name) != S_OK ||
                            vss_component_get_component_type(comp, &type) != S_OK)
                                continue;
                        for (size_t k = 0; k < run->wr.n && !c; k++)
                                if (run->wr.comps[k].with_writer && vss_id_equal(&run->wr.comps[k].writer_id, &wid) &&
                                    run->wr.comps[k].type == type && streq(run->wr.comps[k].logical_path, strempty(lp)) &&
                                    streq(run->wr.comps[k].name, strempty(name)))
                                        c = &run->wr.comps[k];
                        if (!c)
                                continue;
                        if (post) {
                                if (vss_component_get_post_restore_failure_msg(comp, &msg) == S_OK && !isempty(msg))
                                        fprintf(stderr, "vssbackup: writer \"%s\", component %s\\%s after the "
                                                "restore: %s\n", c->writer_name, c->logical_path, c->name, msg);
                                continue;
                        }
                        if (vss_component_get_pre_restore_failure_msg(comp, &msg) == S_OK && !isempty(msg))
                                fprintf(stderr, "vssbackup: writer \"%s\", component %s\\%s before the restore: %s\n",
                                        c->writer_name, c->logical_path, c->name, msg);
                        if (vss_component_get_restore_target(comp, &target) == S_OK && target == VSS_RT_ALTERNATE &&
                            !c->refused) {
                                /* A file no mapping matches has nowhere to go: a writer error. */
                                c->refused = "its writer asked for an alternate location without a mapping "
                                             "for this file";
                                c->alternate = c->n_maps > 0;
                                fprintf(stderr, "vssbackup: writer \"%s\" asks for component %s\\%s to go to its "
                                        "alternate location: %s\n", c->writer_name, c->logical_path, c->name,
                                        c->alternate ? "files its mappings match are restored there, the others "
                                                       "are not restored (a writer error)" :
                                                       "the writer declared no alternate location mapping: its "
                                                       "files are not restored (a writer error)");
                        } else if (target == VSS_RT_DIRECTED)
                                fprintf(stderr, "vssbackup: writer \"%s\" asks for a directed restore of %s\\%s: "
                                        "its files are restored whole under %s\n", c->writer_name,
                                        c->logical_path, c->name, run->o->to);
                }
        }
        return 0;
}

/*
 * A writer that failed PreRestore is not ready for its files: they are not written (and it
 * hears PostRestore with VSS_RS_NONE if vssd sends it one).
 */
static void refuse_failed_writers(RestoreRun *run) {
        unsigned n = 0;
        vss_hr hr;

        hr = TOOL_RUN_ASYNC(vss_requester_gather_writer_status, run->wr.r);
        if (wr_check(run, "GatherWriterStatus", hr))
                hr = vss_requester_get_writer_status_count(run->wr.r, &n);
        if (!wr_check(run, "GetWriterStatusCount", hr))
                return;
        for (unsigned i = 0; i < n; i++) {
                const char *name = NULL;
                vss_writer_state state;
                vss_hr failure;
                vss_id wid;

                if (vss_requester_get_writer_status(run->wr.r, i, NULL, &wid, &name, &state, &failure) != S_OK)
                        continue;
                if (failure == S_OK && state != VSS_WS_FAILED_AT_PRE_RESTORE)
                        continue;
                fprintf(stderr, "vssbackup: writer \"%s\" failed PreRestore (%s, %s): its files are not restored\n",
                        strempty(name), vss_writer_state_to_string(state), vss_hr_name(failure));
                run->writer_failed = true;
                for (size_t k = 0; k < run->wr.n; k++)
                        if (run->wr.comps[k].with_writer && vss_id_equal(&run->wr.comps[k].writer_id, &wid))
                                run->wr.comps[k].refused = "its writer failed PreRestore";
        }
        (void) vss_requester_free_writer_status(run->wr.r);
}

static const char *restore_method_name(vss_restore_method m) {
        static const char *const names[] = {
                [VSS_RME_UNDEFINED] = "UNDEFINED",
                [VSS_RME_RESTORE_IF_NOT_THERE] = "RESTORE_IF_NOT_THERE",
                [VSS_RME_RESTORE_IF_CAN_REPLACE] = "RESTORE_IF_CAN_REPLACE",
                [VSS_RME_STOP_RESTORE_START] = "STOP_RESTORE_START",
                [VSS_RME_RESTORE_TO_ALTERNATE_LOCATION] = "RESTORE_TO_ALTERNATE_LOCATION",
                [VSS_RME_RESTORE_AT_REBOOT] = "RESTORE_AT_REBOOT",
                [VSS_RME_RESTORE_AT_REBOOT_IF_CANNOT_REPLACE] = "RESTORE_AT_REBOOT_IF_CANNOT_REPLACE",
                [VSS_RME_CUSTOM] = "CUSTOM",
                [VSS_RME_RESTORE_STOP_START] = "RESTORE_STOP_START",
        };

        return (unsigned) m < ELEMENTSOF(names) ? names[m] : "unknown";
}

/* How deep below a file set's path the existence check looks (a hostile tree cannot make it recurse further). */
#define EXIST_MAX_DEPTH 64

/* Whether anything but directories is at or below name (beneath parentfd, symlinks not followed). */
static bool tree_has_file(int parentfd, const char *name, unsigned depth) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        DIR *d;
        bool found = false;

        if (fstatat(parentfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno != ENOENT;         /* cannot tell: assume it is there (the safe answer) */
        if (!S_ISDIR(st.st_mode))
                return true;
        if (depth >= EXIST_MAX_DEPTH)
                return true;
        fd = openat(parentfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return true;
        d = fdopendir(fd);
        if (!d)
                return true;
        TAKE_FD(fd);
        for (struct dirent *de; !found && (de = readdir(d));) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                found = tree_has_file(dirfd(d), de->d_name, depth + 1);
        }
        closedir(d);
        return found;
}

/* Whether any file of the component's file sets is in TARGET already. */
static bool component_files_exist(const RestoreComponent *c, int targetfd) {
        for (size_t k = 0; k < c->n_keys; k++)
                if (tree_has_file(targetfd, isempty(c->keys[k]) ? "." : c->keys[k], 0))
                        return true;
        return false;
}

/* A service name as systemctl takes it: not empty, not an option, printable, bounded. */
static bool service_name_ok(const char *s) {
        if (isempty(s) || s[0] == '-' || strlen(s) > 256)
                return false;
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                if (*p <= 0x20 || *p == 0x7f)
                        return false;
        return true;
}

/*
 * `systemctl VERB -- SERVICE` ($VSSBACKUP_SYSTEMCTL instead of systemctl when set, so tests can
 * watch), its output on stderr (stdout may carry the report). Returns 0 when it exited 0, -EIO
 * when it did not, -EINVAL for a service name systemctl could mistake for an option.
 */
static int run_systemctl(const char *verb, const char *service) {
        const char *exe = secure_getenv("VSSBACKUP_SYSTEMCTL");
        int status;
        pid_t pid;

        if (!service_name_ok(service))
                return -EINVAL;
        if (isempty(exe))
                exe = "systemctl";
        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                if (dup2(STDERR_FILENO, STDOUT_FILENO) < 0)
                        _exit(127);
                execlp(exe, exe, verb, "--", service, (char *) NULL);
                _exit(127);
        }
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

/* The first selected component of its writer (the one that carries the writer-wide service steps). */
static bool first_of_writer(const RestoreRun *run, size_t i) {
        const vss_id *id = &run->wr.comps[i].writer_id;

        for (size_t j = 0; j < i; j++)
                if (run->wr.comps[j].with_writer && vss_id_equal(&run->wr.comps[j].writer_id, id))
                        return false;
        return true;
}

static void refuse_writer(RestoreRun *run, const vss_id *writer_id, const char *why) {
        for (size_t k = 0; k < run->wr.n; k++)
                if (run->wr.comps[k].with_writer && !run->wr.comps[k].refused &&
                    vss_id_equal(&run->wr.comps[k].writer_id, writer_id))
                        run->wr.comps[k].refused = why;
}

/* STOP_RESTORE_START before the files: stop the writer's service, or keep its files out. */
static void stop_service_before(RestoreRun *run, size_t i) {
        RestoreComponent *c = &run->wr.comps[i];
        int r;

        if (!first_of_writer(run, i))
                return;
        if (!streq(run->target_abs, "/")) {
                fprintf(stderr, "vssbackup: writer \"%s\" (restore method STOP_RESTORE_START) asks for service %s "
                        "to be stopped during the restore: the files do not land at their original paths (TARGET "
                        "is not /), so the service is left alone\n", c->writer_name, strempty(c->service));
                return;
        }
        r = run_systemctl("stop", c->service);
        if (r < 0) {
                fprintf(stderr, "vssbackup: writer \"%s\": cannot stop service %s (%s): its files are not restored\n",
                        c->writer_name, strempty(c->service), r == -EIO ? "systemctl failed" : strerror(-r));
                run->service_failed = true;
                refuse_writer(run, &c->writer_id, "its writer's service could not be stopped (restore method "
                              "STOP_RESTORE_START)");
                return;
        }
        c->service_stopped = true;
}

/*
 * After PreRestore, before the first file: each selected component's restore method decides
 * whether its files are written (c->refused says why not) and stops services that must be.
 */
static void apply_restore_methods(RestoreRun *run) {
        _cleanup_close_ int targetfd = -EBADF;

        targetfd = open(run->target_abs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        for (size_t i = 0; i < run->wr.n; i++) {
                RestoreComponent *c = &run->wr.comps[i];

                if (!c->with_writer || c->refused)
                        continue;
                switch (c->method) {
                case VSS_RME_UNDEFINED:
                        if (c->method_declared)
                                c->refused = "its writer declared restore method UNDEFINED (a writer error)";
                        break;
                case VSS_RME_RESTORE_IF_NOT_THERE:
                        if (targetfd < 0 || component_files_exist(c, targetfd)) {
                                c->refused = "restore method RESTORE_IF_NOT_THERE, files of the component exist "
                                             "in the target and no alternate location mapping matches this one";
                                c->refused_as = "skipped";
                                c->alternate = c->n_maps > 0;
                        }
                        break;
                case VSS_RME_RESTORE_IF_CAN_REPLACE:
                        if (!run->o->overwrite && (targetfd < 0 || component_files_exist(c, targetfd))) {
                                c->refused = "restore method RESTORE_IF_CAN_REPLACE, files of the component exist "
                                             "in the target (not replaced without --overwrite) and no alternate "
                                             "location mapping matches this one";
                                c->refused_as = "skipped";
                                c->alternate = c->n_maps > 0;
                        }
                        break;
                case VSS_RME_STOP_RESTORE_START:
                        stop_service_before(run, i);
                        break;
                case VSS_RME_RESTORE_STOP_START:
                        if (first_of_writer(run, i) && !streq(run->target_abs, "/"))
                                fprintf(stderr, "vssbackup: writer \"%s\" (restore method RESTORE_STOP_START) asks "
                                        "for service %s to be restarted after the restore: the files do not land "
                                        "at their original paths (TARGET is not /), so the service is left alone\n",
                                        c->writer_name, strempty(c->service));
                        break;
                case VSS_RME_RESTORE_TO_ALTERNATE_LOCATION:
                        c->refused = "restore method RESTORE_TO_ALTERNATE_LOCATION and no alternate location "
                                     "mapping matches this file (a writer error)";
                        c->alternate = c->n_maps > 0;
                        break;
                case VSS_RME_RESTORE_AT_REBOOT:
                case VSS_RME_RESTORE_AT_REBOOT_IF_CANNOT_REPLACE:
                        c->refused = "restore method RESTORE_AT_REBOOT*, which vssbackup does not carry out";
                        break;
                case VSS_RME_CUSTOM:
                        c->refused = "restore method CUSTOM: the writer's own procedure restores it, not vssbackup";
                        break;
                default:
                        c->refused = "an unknown restore method";
                        break;
                }
                if (c->refused && c->alternate)
                        fprintf(stderr, "vssbackup: writer \"%s\", component %s\\%s (restore method %s): its files "
                                "go to their alternate location mappings; a file none matches is not restored\n",
                                c->writer_name, c->logical_path, c->name, restore_method_name(c->method));
                else if (c->refused)
                        fprintf(stderr, "vssbackup: writer \"%s\", component %s\\%s (restore method %s): its files "
                                "are not restored: %s\n", c->writer_name, c->logical_path, c->name,
                                restore_method_name(c->method), c->refused);
        }
}

/* After the files: start what STOP_RESTORE_START stopped, stop and start for RESTORE_STOP_START. */
static void restart_services_after(RestoreRun *run) {
        for (size_t i = 0; i < run->wr.n; i++) {
                RestoreComponent *c = &run->wr.comps[i];
                bool restart = false;
                int r = 0;

                if (!c->with_writer || !first_of_writer(run, i))
                        continue;
                if (c->method == VSS_RME_STOP_RESTORE_START && c->service_stopped)
                        restart = true;
                else if (c->method == VSS_RME_RESTORE_STOP_START && streq(run->target_abs, "/") && !c->refused) {
                        r = run_systemctl("stop", c->service);
                        restart = r >= 0;
                }
                if (restart)
                        r = run_systemctl("start", c->service);
                if (r < 0) {
                        fprintf(stderr, "vssbackup: writer \"%s\": cannot %s service %s after the restore (%s)\n",
                                c->writer_name, restart ? "start" : "stop", strempty(c->service),
                                r == -EIO ? "systemctl failed" : strerror(-r));
                        run->service_failed = true;
                }
        }
}

/*
 * Before any file is written: InitializeForRestore with the saved BCD, GatherWriterMetadata,
 * SetSelectedForRestore (+ SetAdditionalRestores(false), AddNewTarget) for every component of
 * the backup, PreRestore, and the restore targets the writers chose. When the writers cannot
 * take part (no document, vssd unreachable) this says why and returns 0 with wr.active false:
 * the files are restored as files. Returns < 0 only on OOM.
 */
static int writers_begin(RestoreRun *run, int dirfd, const Manifest *m) {
        _cleanup_free_ char *xml = NULL;
        vss_hr hr;
        int r;

        /* A part of a component is not a component restore: --include restores files only. */
        if (run->o->no_writers || run->o->n_includes > 0 || !m->with_writers || m->n_components == 0) {
                if (!run->o->quiet)
                        fprintf(stderr, "vssbackup: files only: no writer takes part%s\n",
                                run->o->no_writers ? " (--no-writers)" : run->o->n_includes > 0 ? " (--include)" :
                                " (the backup names no writer component)");
                return 0;
        }
        r = read_saved_bcd(dirfd, m, &xml);
        if (r < 0) {
                fprintf(stderr, "vssbackup: the backup components document of %s cannot be used (%s): files only, "
                        "no writer takes part\n", m->dir_name, r == -EBADMSG ? "damaged" : strerror(-r));
                return 0;
        }
        /* The tools' line for an unreachable vssd, then what it means here. */
        if (tool_requester_new(run->o->socket_path, &run->wr.r) < 0) {
                fprintf(stderr, "vssbackup: files only, no writer takes part\n");
                run->wr.r = NULL;
                return 0;
        }
        hr = vss_requester_initialize_for_restore(run->wr.r, xml);
        if (wr_check(run, "InitializeForRestore", hr))
                hr = TOOL_RUN_ASYNC(vss_requester_gather_writer_metadata, run->wr.r);
        if (!wr_check(run, "GatherWriterMetadata", hr)) {
                fprintf(stderr, "vssbackup: files only, no writer takes part\n");
                run->writer_failed = true;
                writer_restore_done(&run->wr);
                return 0;
        }
        run->wr.comps = calloc(m->n_components, sizeof(RestoreComponent));
        if (!run->wr.comps)
                return -ENOMEM;
        for (size_t i = 0; i < m->n_components; i++) {
                r = select_component(run, m, &m->components[i]);
                if (r < 0)
                        return r;
        }
        if (run->wr.n_selected == 0) {
                fprintf(stderr, "vssbackup: no writer of this backup is running: files only\n");
                writer_restore_done(&run->wr);
                return 0;
        }
        hr = TOOL_RUN_ASYNC(vss_requester_pre_restore, run->wr.r);
        if (!wr_check(run, "PreRestore", hr)) {
                fprintf(stderr, "vssbackup: files only, no writer takes part\n");
                run->writer_failed = true;
                writer_restore_done(&run->wr);
                return 0;
        }
        run->wr.active = true;
        refuse_failed_writers(run);
        if (!run->o->quiet)
                fprintf(stderr, "vssbackup: PreRestore done for %zu component(s)\n", run->wr.n_selected);
        (void) read_restore_targets(run, false);
        apply_restore_methods(run);
        return 0;
}

/*
 * From the outcomes of the component's entries: all restored, none, or some. A damaged chain
 * (an archive or listing that could not be read) may have held more of its files, so it never
 * gets "all" then.
 */
static vss_file_restore_status component_status(const RestoreComponent *c, bool damaged) {
        if ((c->refused && !c->alternate) || (c->n_ok == 0 && (c->n_bad > 0 || damaged)))
                return VSS_RS_NONE;
        if (c->n_bad > 0 || damaged)
                return VSS_RS_FAILED;
        return VSS_RS_ALL;
}

static const char *file_restore_status_name(vss_file_restore_status s) {
        switch (s) {
        case VSS_RS_ALL:
                return "all";
        case VSS_RS_FAILED:
                return "failed";
        case VSS_RS_NONE:
                return "none";
        default:
                return "undefined";
        }
}

/* After the files: SetFileRestoreStatus per component, PostRestore, every writer's outcome. */
static void writers_end(RestoreRun *run, bool damaged) {
        unsigned n = 0;
        vss_hr hr;

        if (!run->wr.active)
                return;
        restart_services_after(run);
        for (size_t i = 0; i < run->wr.n; i++) {
                RestoreComponent *c = &run->wr.comps[i];
                vss_file_restore_status st = component_status(c, damaged);

                if (!c->with_writer)
                        continue;
                if (!run->o->quiet)
                        fprintf(stderr, "vssbackup: component %s\\%s of writer \"%s\": files restored: %s\n",
                                c->logical_path, c->name, c->writer_name, file_restore_status_name(st));
                hr = vss_requester_set_file_restore_status(run->wr.r, NULL, &c->writer_id, c->type, c->logical_path,
                                                           c->name, st);
                if (!wr_check(run, "SetFileRestoreStatus", hr))
                        run->writer_failed = true;
        }
        hr = TOOL_RUN_ASYNC(vss_requester_post_restore, run->wr.r);
        if (!wr_check(run, "PostRestore", hr))
                run->writer_failed = true;
        else
                (void) read_restore_targets(run, true);

        hr = TOOL_RUN_ASYNC(vss_requester_gather_writer_status, run->wr.r);
        if (wr_check(run, "GatherWriterStatus", hr))
                hr = vss_requester_get_writer_status_count(run->wr.r, &n);
        if (!wr_check(run, "GetWriterStatusCount", hr)) {
                run->writer_failed = true;
                return;
        }
        for (unsigned i = 0; i < n; i++) {
                const char *name = NULL;
                vss_writer_state state;
                vss_hr failure;

                if (!wr_check(run, "GetWriterStatus",
                              vss_requester_get_writer_status(run->wr.r, i, NULL, NULL, &name, &state, &failure))) {
                        run->writer_failed = true;
                        continue;
                }
                /* Outcomes go with the summary when stdout carries the report. */
                fprintf(run->report_is_stdout || run->o->json ? stderr : stdout, "writer \"%s\": %s%s%s\n", strempty(name),
                        vss_writer_state_to_string(state),
                        failure == S_OK ? "" : ", ", failure == S_OK ? "" : vss_hr_name(failure));
                if (failure != S_OK || state == VSS_WS_UNKNOWN || state >= VSS_WS_FAILED_AT_IDENTIFY)
                        run->writer_failed = true;
        }
        (void) vss_requester_free_writer_status(run->wr.r);
}

static void put_path(FILE *f, const char *prefix, const char *path) {
        if (!isempty(prefix)) {
                fputs(prefix, f);
                fputc('/', f);
        }
        for (const unsigned char *p = (const unsigned char *) path; *p; p++)
                if (*p == '\\')
                        fputs("\\\\", f);
                else if (*p < 0x20 || *p == 0x7f)
                        fprintf(f, "\\x%02x", *p);
                else
                        fputc(*p, f);
}

static void report_line(FILE *f, const char *status, const char *prefix, const char *path, const char *reason) {
        fprintf(f, "%s\t", status);
        put_path(f, prefix, path);
        if (reason)
                fprintf(f, "\t%s", reason);
        fputc('\n', f);
}

static void report(RestoreRun *run, const char *status, const char *prefix, const char *path, const char *reason) {
        bool restored = streq(status, "restored");

        if (run->report)
                report_line(run->report, status, prefix, path, reason);
        /* On stdout (unless the report or --json goes there): what did not go as asked, or everything with -v. */
        if (!run->report_is_stdout && (!restored || run->o->verbose)) {
                if (run->progress.tty && run->progress.drawn)
                        fputc('\n', stderr);
                report_line(run->o->json ? stderr : stdout, status, prefix, path, reason);
        }
        if (run->wr.active) {
                RestoreComponent *c = component_of(run, prefix, path);

                if (c && restored)
                        c->n_ok++;
                else if (c)
                        c->n_bad++;
        }
        if (restored)
                run->restored++;
        else if (streq(status, "skipped"))
                run->skipped++;
        else if (streq(status, "refused"))
                run->refused++;
        else
                run->failed++;
}

static void report_outcome(RestoreRun *run, const char *prefix, const char *path, const ArchiveFileStatus *st) {
        switch (st->outcome) {
        case ARCHIVE_FILE_RESTORED:
                report(run, "restored", prefix, path, st->reason);
                break;
        case ARCHIVE_FILE_SKIPPED_EXISTS:
                report(run, "skipped", prefix, path, "exists (use --overwrite to replace it)");
                break;
        case ARCHIVE_FILE_REFUSED_UNSAFE:
                report(run, "refused", prefix, path, st->reason ?: strerror(st->error));
                break;
        case ARCHIVE_FILE_FAILED:
                report(run, "failed", prefix, path, st->reason ?: strerror(st->error));
                break;
        }
}

/* Bytes from the archive layer; files are ours: every entry given a status so far. */
static void restore_progress_cb(uint64_t bytes, uint64_t files, void *userdata) {
        RestoreRun *run = userdata;

        progress_update(&run->progress, bytes, run->restored + run->skipped + run->refused + run->failed);
}

static char entry_listing_type(ArchiveEntryType t) {
        switch (t) {
        case ARCHIVE_ENTRY_FILE:
        case ARCHIVE_ENTRY_HARDLINK:
                return LISTING_FILE;
        case ARCHIVE_ENTRY_DIRECTORY:
                return LISTING_DIR;
        case ARCHIVE_ENTRY_SYMLINK:
                return LISTING_SYMLINK;
        default:
                return 0;
        }
}

/*
 * Where entry full (a path in the report's namespace) goes per c's alternate location mappings:
 * a mapping matches a directory that is its path or (recursive) below it, and a file whose
 * directory is so and whose name matches its filespec. The entry lands at the mapping's
 * destination plus the part of full below the mapping's path. Returns 1 and the path (report
 * namespace, malloc'd) in *ret, 0 when no mapping matches, -ENOMEM.
 */
static int alternate_path(const RestoreComponent *c, const char *full, bool is_dir, char **ret) {
        const char *slash = strrchr(full, '/');
        const char *name = slash ? slash + 1 : full;

        for (size_t i = 0; i < c->n_maps; i++) {
                const AltMapping *am = &c->maps[i];
                size_t fl = strlen(am->from);
                const char *rest;
                char *alt = NULL;

                if (fl > 0 && (strncmp(full, am->from, fl) != 0 || (full[fl] != 0 && full[fl] != '/')))
                        continue;
                rest = full + fl + (fl > 0 && full[fl] == '/');
                if (is_dir) {
                        if (!isempty(rest) && !am->recursive)
                                continue;
                } else {
                        if (isempty(rest) || (!am->recursive && strchr(rest, '/')) ||
                            !change_scan_filespec_match(am->filespec, name))
                                continue;
                }
                if (isempty(rest))
                        alt = strdup(am->to);
                else if (asprintf(&alt, "%s%s%s", am->to, isempty(am->to) ? "" : "/", rest) < 0)
                        alt = NULL;
                if (!alt)
                        return -ENOMEM;
                *ret = alt;
                return 1;
        }
        return 0;
}

/* Removes what is left of path in the staging directory, and its parents that are now empty. */
static void stage_clean(int stagefd, const char *path) {
        _cleanup_free_ char *p = strdup(path);
        char *slash;

        if (!p)
                return;
        (void) unlinkat(stagefd, p, 0);
        while ((slash = strrchr(p, '/'))) {
                *slash = 0;
                if (unlinkat(stagefd, p, AT_REMOVEDIR) < 0)
                        break;
        }
}

/*
 * Restores the current entry e at alt (relative to TARGET) instead of its own path: a directory
 * is created there; anything else is extracted into the staging directory under its own path
 * (the archive layer's checks all apply) and renamed to alt, which an existing entry blocks
 * without --overwrite. The outcome is reported under the entry's own path, naming alt. Returns
 * 0, or < 0 when the archive itself failed.
 */
static int restore_alternate(RestoreRun *run, ArchiveReader *reader, const ArchiveEntry *e, const char *prefix,
                             const char *alt, const ArchiveExtractOptions *opts) {
        _cleanup_close_ int pfd = -EBADF, sfd = -EBADF;
        _cleanup_free_ char *why = NULL;
        ArchiveFileStatus st = {};
        const char *name = NULL, *reason = NULL;
        int r;

        if (isempty(alt) && e->type == ARCHIVE_ENTRY_DIRECTORY && run->targetfd >= 0) {
                report(run, "restored", prefix, e->path, "at its alternate location (TARGET itself)");
                return 0;
        }
        if (run->targetfd < 0 || safe_path_check(alt, false, &reason) < 0) {
                report(run, "refused", prefix, e->path, reason ?: "its alternate location cannot be placed in TARGET");
                return 0;
        }
        if (e->type == ARCHIVE_ENTRY_DIRECTORY) {
                r = safe_path_open_dir(run->targetfd, alt, /* create= */ true, 0755, &pfd);
                if (r < 0) {
                        report(run, "failed", prefix, e->path, strerror(-r));
                        return 0;
                }
                if (asprintf(&why, "at its alternate location %s", alt) < 0)
                        why = NULL;
                report(run, "restored", prefix, e->path, why);
                return 0;
        }
        if (run->stagefd < 0) {
                if (mkdirat(run->targetfd, STAGE_DIR_NAME, 0700) < 0 && errno != EEXIST) {
                        report(run, "failed", prefix, e->path, strerror(errno));
                        return 0;
                }
                run->stagefd = openat(run->targetfd, STAGE_DIR_NAME, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (run->stagefd < 0) {
                        report(run, "failed", prefix, e->path, strerror(errno));
                        return 0;
                }
        }
        if (safe_path_check(e->path, false, &reason) < 0) {
                report(run, "refused", prefix, e->path, reason);
                return 0;
        }
        r = safe_path_open_parent(run->stagefd, e->path, /* create= */ true, 0700, &sfd, &name);
        if (r < 0) {
                report(run, "failed", prefix, e->path, strerror(-r));
                return 0;
        }
        r = archive_extract_entry(reader, run->stagefd, opts, &st);
        if (r < 0 || st.outcome != ARCHIVE_FILE_RESTORED) {
                report_outcome(run, prefix, e->path, &st);
                stage_clean(run->stagefd, e->path);
                return r < 0 ? r : 0;
        }
        r = safe_path_open_parent(run->targetfd, alt, /* create= */ true, 0755, &pfd, &name);
        if (r >= 0 && renameat2(run->stagefd, e->path, pfd, name, opts->overwrite ? 0 : RENAME_NOREPLACE) < 0)
                r = -errno;
        stage_clean(run->stagefd, e->path);
        if (r == -EEXIST) {
                report(run, "skipped", prefix, e->path,
                       "exists at its alternate location (use --overwrite to replace it)");
                return 0;
        }
        if (r < 0) {
                report(run, "failed", prefix, e->path, strerror(-r));
                return 0;
        }
        if (asprintf(&why, "at its alternate location %s", alt) < 0)
                why = NULL;
        report(run, "restored", prefix, e->path, why);
        return 0;
}

/*
 * May this archive restore set-uid/set-gid bits? Only root's restores keep them at all (the
 * files become root's own, or their recorded owner's), and by default only from a backup
 * directory and archive that root owns: whoever else could write them could have put a
 * set-uid-root program there. --restore-setid (o->restore_setid) lifts the ownership
 * condition, for backups copied in by another account on purpose.
 */
static bool setid_allowed(const RestoreRun *run, int bfd, const char *archive) {
        struct stat dir, file;

        if (geteuid() != 0)
                return false;
        if (run->o->restore_setid)
                return true;
        if (fstat(bfd, &dir) < 0 || fstatat(bfd, archive, &file, AT_SYMLINK_NOFOLLOW) < 0)
                return false;
        return dir.st_uid == geteuid() && file.st_uid == geteuid();
}

/* Marks of the listing's entries during a restore. */
#define MARK_TAKEN 1U           /* restored from an archive (or refused, or failed): done */
#define MARK_EXISTED 2U         /* a directory that was in TARGET before the restore began */

/*
 * Restores from one archive the entries wanted (listed in want, not yet marked), marking them.
 * keep_reader: hand the reader back instead of finishing it (the newest archive's directory
 * metadata must be applied last). Returns 0, or < 0 when the archive could not be opened or read.
 */
/* --include: the absolute original path of an entry (relative to run->volume, or to / outside them). */
static bool entry_included(const RestoreRun *run, const char *path) {
        _cleanup_free_ char *full = NULL;
        const char *v = run->volume && !streq(run->volume, "/") ? run->volume : "";

        if (asprintf(&full, "%s/%s", v, path) < 0)
                return false;
        return path_patterns_match(run->o->includes, run->o->n_includes, full);
}

static int restore_archive(RestoreRun *run, int bfd, const char *archive, int destfd, const char *prefix,
                           PathSet *want, bool listing, ArchiveReader **keep_reader) {
        _cleanup_(archive_reader_freep) ArchiveReader *reader = NULL;
        ArchiveExtractOptions opts = {
                .overwrite = run->o->overwrite,
                .restore_owner = geteuid() == 0,
                .keep_setid = setid_allowed(run, bfd, archive),
                .restore_xattrs = true,
        };
        ArchiveEntry e;
        int r;

        r = archive_reader_open(bfd, archive, restore_progress_cb, run, &reader);
        if (r < 0) {
                fprintf(stderr, "vssbackup: cannot open %s: %s\n", archive, strerror(-r));
                return r;
        }
        while ((r = archive_reader_next(reader, &e)) > 0) {
                ArchiveFileStatus st = {};
                uint8_t *mark = NULL;
                char t = entry_listing_type(e.type);

                if (listing) {
                        /* Not in the listing (deleted, or another kind of file then), or already taken. */
                        if (t == 0 || pathset_get(want, e.path, &mark) != t || (*mark & MARK_TAKEN))
                                continue;
                } else {
                        int k;

                        if (run->o->n_includes > 0 && !entry_included(run, e.path))
                                continue;
                        k = pathset_put(want, e.path, t ?: 'o');

                        if (k < 0)
                                return k;
                        if (k == 0)
                                continue;
                        (void) pathset_get(want, e.path, &mark);
                }
                *mark |= MARK_TAKEN;

                if (run->wr.active) {
                        const RestoreComponent *c = component_of(run, prefix, e.path);

                        if (c && c->refused && c->alternate) {
                                _cleanup_free_ char *full = NULL, *alt = NULL;
                                int k;

                                if (asprintf(&full, "%s%s%s", strempty(prefix), isempty(prefix) ? "" : "/",
                                             e.path) < 0)
                                        return -ENOMEM;
                                k = alternate_path(c, full, e.type == ARCHIVE_ENTRY_DIRECTORY, &alt);
                                if (k < 0)
                                        return k;
                                if (k > 0) {
                                        r = restore_alternate(run, reader, &e, prefix, alt, &opts);
                                        if (r < 0) {
                                                fprintf(stderr, "vssbackup: %s is damaged: %s\n", archive,
                                                        strerror(-r));
                                                break;
                                        }
                                        continue;
                                }
                        }
                        if (c && c->refused) {
                                report(run, c->refused_as ?: "failed", prefix, e.path, c->refused);
                                continue;
                        }
                }
                if (listing && e.type == ARCHIVE_ENTRY_DIRECTORY && !(*mark & MARK_EXISTED)) {
                        /* Not in TARGET before this restore: made since, as the parent of a
                         * file of a newer archive; the directory's own entry still applies. */
                        ArchiveExtractOptions dir_opts = opts;

                        dir_opts.overwrite = true;
                        r = archive_extract_entry(reader, destfd, &dir_opts, &st);
                } else
                        r = archive_extract_entry(reader, destfd, &opts, &st);
                report_outcome(run, prefix, e.path, &st);
                if (r < 0) {
                        fprintf(stderr, "vssbackup: %s is damaged: %s\n", archive, strerror(-r));
                        break;
                }
        }
        if (r < 0) {
                if (r != -EBADMSG)
                        fprintf(stderr, "vssbackup: reading %s: %s\n", archive, strerror(-r));
                (void) archive_extract_finish(reader, destfd);
                progress_next_archive(&run->progress);
                return r;
        }
        progress_next_archive(&run->progress);
        if (keep_reader) {
                *keep_reader = TAKE_PTR(reader);
                return 0;
        }
        return archive_extract_finish(reader, destfd);
}

typedef struct IncludeState {
        const RestoreRun *run;
        PathSet *out;
        int error;
} IncludeState;

/* Keeps a listed path the patterns match, and the directories above it (created with their modes). */
static int include_one(const char *path, char type, uint8_t mark, void *userdata) {
        IncludeState *st = userdata;
        _cleanup_free_ char *copy = NULL;
        int r;

        (void) mark;
        if (!entry_included(st->run, path))
                return 0;
        r = pathset_put(st->out, path, type);
        if (r < 0)
                return (st->error = r);
        copy = strdup(path);
        if (!copy)
                return (st->error = -ENOMEM);
        for (char *slash = strrchr(copy, '/'); slash; slash = strrchr(copy, '/')) {
                *slash = 0;
                r = pathset_put(st->out, copy, LISTING_DIR);
                if (r < 0)
                        return (st->error = r);
        }
        return 0;
}

static int filter_included(const RestoreRun *run, PathSet **want) {
        IncludeState st = { .run = run, .out = pathset_new() };

        if (!st.out)
                return -ENOMEM;
        (void) pathset_foreach(*want, include_one, &st);
        if (st.error < 0) {
                pathset_free(st.out);
                return st.error;
        }
        pathset_free(*want);
        *want = st.out;
        return 0;
}

typedef struct MissingState {
        RestoreRun *run;
        const char *prefix;
} MissingState;

static int report_missing(const char *path, char type, uint8_t mark, void *userdata) {
        MissingState *ms = userdata;

        if (!(mark & MARK_TAKEN))
                report(ms->run, "failed", ms->prefix, path,
                       type == LISTING_DIR ? "directory missing from the backup" :
                                             "missing from every backup of the chain");
        return 0;
}

static int open_dest(int targetfd, const char *rel, bool single, int *ret_fd) {
        int fd;

        if (single || isempty(rel)) {
                fd = fcntl(targetfd, F_DUPFD_CLOEXEC, 3);
                if (fd < 0)
                        return -errno;
                *ret_fd = fd;
                return 0;
        }
        if (safe_path_check(rel, false, NULL) < 0)
                return -EINVAL;
        return safe_path_open_dir(targetfd, rel, /* create= */ true, 0755, ret_fd);
}

typedef struct MarkState {
        PathSet *want;
        int destfd;
} MarkState;

/* Which listed directories TARGET already holds: only those may be "skipped, it existed". */
static int mark_existing(const char *path, char type, uint8_t mark, void *userdata) {
        MarkState *ms = userdata;
        uint8_t *m = NULL;
        struct stat st;

        (void) mark;
        if (type != LISTING_DIR || fstatat(ms->destfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return 0;
        if (pathset_get(ms->want, path, &m))
                *m |= MARK_EXISTED;
        return 0;
}

static int restore_volume(RestoreRun *run, int dirfd, const Manifest *const *chain, size_t n_chain, size_t vi,
                          int targetfd) {
        const Manifest *m = chain[0];
        const ManifestVolume *v = &m->volumes[vi];
        _cleanup_(archive_reader_freep) ArchiveReader *newest = NULL;
        _cleanup_(pathset_freep) PathSet *want = NULL;
        _cleanup_close_ int destfd = -EBADF;
        const char *prefix = m->n_volumes > 1 ? v->path + 1 : "";
        bool listing = m->type != VSS_BT_LOG;
        bool damaged = false;
        int r;

        run->volume = v->path;
        r = open_dest(targetfd, prefix, m->n_volumes == 1, &destfd);
        if (r < 0) {
                fprintf(stderr, "vssbackup: cannot open %s/%s: %s\n", run->o->to, prefix, strerror(-r));
                return r;
        }

        if (listing) {
                const char *bad = NULL;

                /* BACKUP's own listing, or assembled from the chain's when BACKUP's holds only changes. */
                r = listing_load_chain(dirfd, chain, n_chain, v->path, &want, &bad);
                if (r < 0) {
                        fprintf(stderr, "vssbackup: the listing of %s in %s is %s\n", v->path, bad ?: m->dir_name,
                                r == -EBADMSG ? "damaged (checksum or format)" : strerror(-r));
                        return r;
                }
                run->volume = v->path;
                if (run->o->n_includes > 0) {
                        r = filter_included(run, &want);
                        if (r < 0)
                                return r;
                }
                r = pathset_foreach(want, mark_existing, &(MarkState) { .want = want, .destfd = destfd });
                if (r < 0)
                        return r;
        } else {
                want = pathset_new();
                if (!want)
                        return -ENOMEM;
        }

        for (size_t c = 0; c < n_chain; c++) {
                const ManifestVolume *cv = manifest_find_volume(chain[c], v->path);
                _cleanup_(archive_reader_freep) ArchiveReader *older = NULL;
                _cleanup_close_ int bfd = -EBADF;

                if (!cv)
                        continue;
                bfd = openat(dirfd, chain[c]->dir_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (bfd < 0) {
                        fprintf(stderr, "vssbackup: %s: %s\n", chain[c]->dir_name, strerror(errno));
                        damaged = true;
                        continue;
                }
                r = restore_archive(run, bfd, cv->archive, destfd, prefix, want, listing,
                                    c == 0 ? &newest : &older);
                if (r < 0)
                        damaged = true;
                /* A directory of an older archive gets its times after every archive's files. */
                if (older) {
                        r = newest ? archive_extract_defer_to(older, newest, destfd) :
                                     archive_extract_finish(older, destfd);
                        if (r < 0)
                                fprintf(stderr, "vssbackup: setting directory modes and times under %s: %s\n",
                                        run->o->to, strerror(-r));
                        older = archive_reader_free(older);
                }
        }

        if (listing) {
                MissingState ms = { .run = run, .prefix = prefix };

                (void) pathset_foreach(want, report_missing, &ms);
        }
        /* Directory modes and times last: the files of the older archives went into them. */
        if (newest) {
                r = archive_extract_finish(newest, destfd);
                if (r < 0)
                        fprintf(stderr, "vssbackup: setting directory modes and times under %s: %s\n",
                                run->o->to, strerror(-r));
        }
        return damaged ? -EBADMSG : 0;
}

/* Writer files read live from outside the volumes: the newest version of each, under OTHER_DIR_NAME. */
static int restore_other(RestoreRun *run, int dirfd, const Manifest *const *chain, size_t n_chain, int targetfd) {
        _cleanup_(pathset_freep) PathSet *done = NULL;
        _cleanup_close_ int destfd = -EBADF;
        bool any = false;
        int r, ret = 0;

        for (size_t c = 0; c < n_chain; c++)
                any = any || chain[c]->other_archive;
        if (!any)
                return 0;
        done = pathset_new();
        if (!done)
                return -ENOMEM;
        run->volume = NULL;
        r = safe_path_open_dir(targetfd, OTHER_DIR_NAME, /* create= */ true, 0700, &destfd);
        if (r < 0)
                return r;
        for (size_t c = 0; c < n_chain; c++) {
                _cleanup_close_ int bfd = -EBADF;

                if (!chain[c]->other_archive)
                        continue;
                bfd = openat(dirfd, chain[c]->dir_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (bfd < 0)
                        return -errno;
                r = restore_archive(run, bfd, chain[c]->other_archive, destfd, OTHER_DIR_NAME, done, false, NULL);
                if (r < 0)
                        ret = r;
        }
        return ret;
}

static void run_done(RestoreRun *run) {
        writer_restore_done(&run->wr);
        free(run->target_abs);
        run->target_abs = NULL;
}

static int load_backup(const char *path, int *ret_dirfd, Catalog *catalog, const Manifest **ret) {
        _cleanup_free_ char *name = NULL, *reason = NULL;
        _cleanup_close_ int dirfd = -EBADF, bfd = -EBADF;
        Manifest *tmp = NULL;
        int r;

        r = split_backup_path(path, &dirfd, &name);
        if (r < 0) {
                fprintf(stderr, "vssbackup: %s: not a backup directory path\n", path);
                return r;
        }
        /* Read it directly first: the catalog skips unreadable manifests, this says why. */
        bfd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (bfd < 0) {
                r = -errno;
                fprintf(stderr, "vssbackup: %s: %s\n", path, strerror(-r));
                return r;
        }
        r = manifest_read(bfd, &tmp, &reason);
        if (r < 0) {
                fprintf(stderr, "vssbackup: %s: %s\n", path,
                        r == -ENOENT ? "no manifest (not a backup, or an unfinished one)" : reason ?: strerror(-r));
                return r;
        }
        manifest_free(tmp);

        r = catalog_load(dirfd, catalog);
        if (r < 0)
                return r;
        *ret = catalog_find(catalog, name);
        if (!*ret)
                return -ENOENT;
        *ret_dirfd = TAKE_FD(dirfd);
        return 0;
}

int vb_restore(const RestoreOptions *o) {
        _cleanup_free_ const Manifest **chain = NULL;
        _cleanup_free_ char *why = NULL;
        _cleanup_close_ int dirfd = -EBADF, targetfd = -EBADF;
        RestoreRun run = { .o = o, .targetfd = -EBADF, .stagefd = -EBADF };
        const Manifest *m = NULL;
        Catalog catalog = {};
        bool damaged = false;
        int n, r, ret;

        r = load_backup(o->backup, &dirfd, &catalog, &m);
        if (r < 0) {
                catalog_done(&catalog);
                return VB_EXIT_FAILED;
        }
        n = catalog_chain(&catalog, m, &chain, &why);
        if (n < 0) {
                fprintf(stderr, "vssbackup: cannot restore %s: %s\n", o->backup, why ?: strerror(-n));
                catalog_done(&catalog);
                return VB_EXIT_FAILED;
        }

        if (mkdir(o->to, 0755) < 0 && errno != EEXIST) {
                fprintf(stderr, "vssbackup: cannot create %s: %s\n", o->to, strerror(errno));
                catalog_done(&catalog);
                return VB_EXIT_FAILED;
        }
        targetfd = open(o->to, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (targetfd < 0) {
                fprintf(stderr, "vssbackup: %s: %s\n", o->to, strerror(errno));
                catalog_done(&catalog);
                return VB_EXIT_FAILED;
        }

        if (o->report) {
                run.report_is_stdout = streq(o->report, "-");
                run.report = run.report_is_stdout ? stdout : fopen(o->report, "we");
                if (!run.report) {
                        fprintf(stderr, "vssbackup: %s: %s\n", o->report, strerror(errno));
                        catalog_done(&catalog);
                        return VB_EXIT_FAILED;
                }
        }

        if (!o->quiet) {
                fprintf(stderr, "vssbackup: restoring %s (%s", m->dir_name, backup_type_name(m->type));
                for (int i = 1; i < n; i++)
                        fprintf(stderr, "%s%s", i == 1 ? ", built on " : " <- ", chain[i]->dir_name);
                fprintf(stderr, ") to %s\n", o->to);
        }
        for (int i = 0; i < n; i++)
                if (!chain[i]->complete)
                        fprintf(stderr, "vssbackup: warning: %s is incomplete (some files could not be copied "
                                "when it was made)\n", chain[i]->dir_name);

        run.target_abs = realpath(o->to, NULL);
        if (!run.target_abs) {
                fprintf(stderr, "vssbackup: %s: %s\n", o->to, strerror(errno));
                catalog_done(&catalog);
                return VB_EXIT_FAILED;
        }
        r = writers_begin(&run, dirfd, m);
        if (r < 0) {
                fprintf(stderr, "vssbackup: %s\n", strerror(-r));
                run_done(&run);
                catalog_done(&catalog);
                return VB_EXIT_FAILED;
        }

        run.targetfd = targetfd;
        progress_init(&run.progress, "restore", o->quiet, 0, 0);
        run.progress.files_absolute = true;
        for (size_t v = 0; v < m->n_volumes; v++)
                if (restore_volume(&run, dirfd, chain, (size_t) n, v, targetfd) < 0)
                        damaged = true;
        if (restore_other(&run, dirfd, chain, (size_t) n, targetfd) < 0)
                damaged = true;
        if (run.stagefd >= 0) {
                (void) close(run.stagefd);
                run.stagefd = -EBADF;
                (void) unlinkat(targetfd, STAGE_DIR_NAME, AT_REMOVEDIR);
        }
        run.targetfd = -EBADF;
        run.progress.files = run.restored + run.skipped + run.refused + run.failed;
        progress_finish(&run.progress);

        /* Restored files are not synced one by one (docs/archive-format.md): once, here. */
        if (syncfs(targetfd) < 0)
                fprintf(stderr, "vssbackup: syncfs %s: %s\n", o->to, strerror(errno));

        writers_end(&run, damaged);

        if (run.report && !run.report_is_stdout && fclose(run.report) != 0) {
                fprintf(stderr, "vssbackup: writing %s: %s\n", o->report, strerror(errno));
                damaged = true;
        }
        fprintf(stderr, "vssbackup: %" PRIu64 " restored, %" PRIu64 " skipped, %" PRIu64 " refused, %" PRIu64
                " failed%s\n", run.restored, run.skipped, run.refused, run.failed,
                damaged ? "; a backup of the chain is damaged" : "");
        if (o->n_includes > 0 && run.restored + run.skipped + run.refused + run.failed == 0)
                fprintf(stderr, "vssbackup: no path of the backup matches --include\n");

        if (run.writer_failed)
                fprintf(stderr, "vssbackup: a writer did not restore its components successfully (see above)\n");
        if (run.service_failed)
                fprintf(stderr, "vssbackup: a writer's service could not be stopped or started (see above)\n");
        if (run.failed > 0 || run.refused > 0 || damaged || run.writer_failed || run.service_failed)
                ret = VB_EXIT_FAILED;
        else if (run.skipped > 0)
                ret = VB_EXIT_SKIPPED;
        else
                ret = VB_EXIT_OK;
        if (o->json) {
                printf("{\"backup\": ");
                json_string(o->backup);
                printf(", \"target\": ");
                json_string(o->to);
                printf(", \"exit_status\": %d, \"restored\": %" PRIu64 ", \"skipped\": %" PRIu64 ", \"refused\": %" PRIu64
                       ", \"failed\": %" PRIu64 ", \"damaged\": %s, \"writer_failed\": %s}\n", ret, run.restored,
                       run.skipped, run.refused, run.failed, damaged ? "true" : "false",
                       run.writer_failed ? "true" : "false");
        }
        run_done(&run);
        catalog_done(&catalog);
        return ret;
}
