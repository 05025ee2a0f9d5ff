/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * file-list.c: the files the writers' components need copied for this backup type, one list
 * per snapshot (VSHADOW_FILE_LIST_i, the selection of src/backup/file-select.c), and -bc (the
 * Backup Components Document saved for a later restore).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bcd-xml.h"
#include "file-select.h"
#include "xml-util.h"
#include "vshadow.h"

/* ------------------------------------------------------------------------------------------ */
/* The file list (-exec)                                                                       */
/* ------------------------------------------------------------------------------------------ */


typedef struct ListContext {
        Snapshot *snapshots;
        size_t n;
        uint64_t listed;
        uint64_t skipped;
} ListContext;

static int list_file(const FileSelectFile *f, void *userdata) {
        ListContext *ctx = userdata;
        size_t best = SIZE_MAX, best_len = 0;

        if (f->from_snapshot)
                for (size_t i = 0; i < ctx->n; i++) {
                        const char *top = ctx->snapshots[i].dir;
                        size_t n = strlen(top);

                        if (n > best_len && strncmp(f->source_path, top, n) == 0 && f->source_path[n] == '/') {
                                best = i;
                                best_len = n;
                        }
                }
        if (best == SIZE_MAX) {
                /* Read live (a file set that needs no snapshot for this type) or outside every
                 * snapshot: nothing a command working on the snapshots can use. */
                if (ctx->skipped++ == 0)
                        tool_note("file %s is not in a snapshot (read live); such files are left out of the file lists",
                                  f->original_path);
                return 0;
        }
        if (fputs(f->source_path + best_len + 1, ctx->snapshots[best].list) < 0 ||
            fputc('\0', ctx->snapshots[best].list) == EOF)
                return -errno ?: -EIO;
        ctx->listed++;
        return 0;
}

/* The Backup Components Document as it stands in vssd, with what the writers added to it up
 * to PostSnapshot (differenced and partial files), loaded for the file selection. */
static int bcd_fetch(vss_requester *req, BackupComponents **ret) {
        _cleanup_free_ char *xml = NULL, *reason = NULL;
        vss_hr hr;

        hr = vss_requester_save_as_xml(req, &xml);
        if (VSS_FAILED(hr))
                return -tool_step_failed(req, "SaveAsXML", hr);
        hr = backup_components_from_xml(xml, strlen(xml), ret, &reason);
        if (hr != S_OK)
                return -tool_vss_error(hr, "reading the backup components document%s%s", reason ? ": " : "",
                                       strempty(reason));
        return 0;
}

/* Writes VSHADOW_FILE_LIST_i for every snapshot into dir. */
int file_lists_write(vss_requester *req, Selection *sel, Snapshot *snaps, size_t n_snaps, const char *dir) {
        _cleanup_(backup_components_freep) BackupComponents *bcd = NULL;
        _cleanup_free_ const WriterMetadata **wmds = NULL;
        _cleanup_free_ FileSelectVolume *volumes = NULL;
        _cleanup_free_ char *reason = NULL;
        ListContext lc = { .snapshots = snaps, .n = n_snaps };
        FileSelectInput in = {};
        size_t n_wmds = 0;
        int r = 0;

        for (size_t i = 0; i < n_snaps; i++) {
                _cleanup_close_ int fd = -1;

                if (asprintf(&snaps[i].list_path, "%s/files-%zu", dir, i) < 0) {
                        snaps[i].list_path = NULL;
                        return -tool_vss_error(E_OUTOFMEMORY, NULL);
                }
                fd = open(snaps[i].list_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
                if (fd >= 0)
                        snaps[i].list = fdopen(fd, "we");
                if (!snaps[i].list)
                        return -tool_vss_error(vss_hr_from_errno(errno), "creating %s: %s", snaps[i].list_path,
                                               strerror(errno));
                TAKE_FD(fd);
        }

        r = bcd_fetch(req, &bcd);
        if (r < 0)
                return r;

        wmds = calloc(MAX(sel->n_writers, (size_t) 1), sizeof(*wmds));
        volumes = calloc(MAX(n_snaps, (size_t) 1), sizeof(*volumes));
        if (!wmds || !volumes)
                return -tool_vss_error(E_OUTOFMEMORY, NULL);
        for (size_t i = 0; i < sel->n_writers; i++)
                if (backup_components_find_writer(bcd, &sel->writers[i].id.instance_id)) {
                        if (!sel->writers[i].wmd) {
                                r = writer_metadata_load(&sel->writers[i]);
                                if (r < 0)
                                        return r;
                        }
                        wmds[n_wmds++] = sel->writers[i].wmd;
                }
        for (size_t i = 0; i < n_snaps; i++) {
                volumes[i].original = snaps[i].prop.original_volume_name;
                volumes[i].snapshot = snaps[i].dir;
        }

        in = (FileSelectInput) {
                .backup_type = arg.backup_type,
                .bcd = bcd,
                .writers = wmds,
                .n_writers = n_wmds,
                .volumes = volumes,
                .n_volumes = n_snaps,
        };
        if (n_wmds > 0) {
                r = file_select(&in, list_file, &lc, &reason);
                if (r < 0)
                        return -tool_vss_error(r == -ENOMEM ? E_OUTOFMEMORY : r == -EXDEV ? VSS_E_UNSELECTED_VOLUME :
                                               r == -EINVAL || r == -EBADMSG ? E_INVALIDARG : vss_hr_from_errno(-r),
                                               "selecting the files to copy: %s", reason ?: strerror(-r));
        }
        for (size_t i = 0; i < n_snaps; i++) {
                r = fclose(snaps[i].list);
                snaps[i].list = NULL;
                if (r != 0)
                        return -tool_vss_error(vss_hr_from_errno(errno), "writing %s: %s", snaps[i].list_path,
                                               strerror(errno));
        }
        tool_note("file list: %" PRIu64 " file%s the writers' components need for a %s backup", lc.listed,
                  lc.listed == 1 ? "" : "s", backup_type_name(arg.backup_type));
        return 0;
}

/* -bc: the Backup Components Document into path, replaced atomically (a reader never sees half
 * of one). Mode 0600: writers' private backup metadata travels in it. */
int bcd_save(vss_requester *req, const char *path) {
        _cleanup_free_ char *xml = NULL, *tmp = NULL;
        _cleanup_close_ int fd = -1;
        size_t len, done = 0;
        vss_hr hr;

        hr = vss_requester_save_as_xml(req, &xml);
        if (VSS_FAILED(hr))
                return -tool_step_failed(req, "SaveAsXML", hr);
        if (asprintf(&tmp, "%s.XXXXXX", path) < 0) {
                tmp = NULL;
                return -tool_vss_error(E_OUTOFMEMORY, NULL);
        }
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -tool_vss_error(vss_hr_from_errno(errno), "-bc=%s: %s", path, strerror(errno));
        len = strlen(xml);
        while (done < len) {
                ssize_t n = write(fd, xml + done, len - done);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        break;
                done += (size_t) n;
        }
        if (done < len || fsync(fd) < 0 || rename(tmp, path) < 0) {
                int err = errno;

                (void) unlink(tmp);
                return -tool_vss_error(vss_hr_from_errno(err), "-bc=%s: %s", path, strerror(err));
        }
        return 0;
}

