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
 * Writers take no part: the restore half of the VSS API (PreRestore/PostRestore) is not in
 * vssd yet, so files are restored as files. The command says so when it starts.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup-archive.h"
#include "safe-path.h"
#include "vssbackup.h"

/* The directory under TARGET for writer files that lived outside every snapshotted volume. */
#define OTHER_DIR_NAME "outside-volumes"

typedef struct RestoreRun {
        const RestoreOptions *o;
        FILE *report;                   /* every file's status, or NULL */
        bool report_is_stdout;
        uint64_t restored, skipped, refused, failed;
        Progress progress;
} RestoreRun;

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
        /* On stdout (unless the report goes there): what did not go as asked, or everything with -v. */
        if (!run->report_is_stdout && (!restored || run->o->verbose)) {
                if (run->progress.tty && run->progress.drawn)
                        fputc('\n', stderr);
                report_line(stdout, status, prefix, path, reason);
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
 * Restores from one archive the entries wanted (listed in want, not yet marked), marking them.
 * keep_reader: hand the reader back instead of finishing it (the newest archive's directory
 * metadata must be applied last). Returns 0, or < 0 when the archive could not be opened or read.
 */
static int restore_archive(RestoreRun *run, int bfd, const char *archive, int destfd, const char *prefix,
                           PathSet *want, bool listing, ArchiveReader **keep_reader) {
        _cleanup_(archive_reader_freep) ArchiveReader *reader = NULL;
        ArchiveExtractOptions opts = {
                .overwrite = run->o->overwrite,
                .restore_owner = geteuid() == 0,
                .keep_setid = geteuid() == 0,   /* root restoring root's files: setuid programs stay so */
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
                        if (t == 0 || pathset_get(want, e.path, &mark) != t || *mark)
                                continue;
                } else {
                        int k = pathset_put(want, e.path, t ?: 'o');

                        if (k < 0)
                                return k;
                        if (k == 0)
                                continue;
                        (void) pathset_get(want, e.path, &mark);
                }
                *mark = 1;

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

typedef struct MissingState {
        RestoreRun *run;
        const char *prefix;
} MissingState;

static int report_missing(const char *path, char type, uint8_t mark, void *userdata) {
        MissingState *ms = userdata;

        if (!mark)
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

        r = open_dest(targetfd, prefix, m->n_volumes == 1, &destfd);
        if (r < 0) {
                fprintf(stderr, "vssbackup: cannot open %s/%s: %s\n", run->o->to, prefix, strerror(-r));
                return r;
        }

        if (listing) {
                _cleanup_close_ int bfd = openat(dirfd, m->dir_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

                if (bfd < 0)
                        return -errno;
                r = listing_load(bfd, v->listing, v->listing_xxh128, &want);
                if (r < 0) {
                        fprintf(stderr, "vssbackup: the listing of %s in %s is %s\n", v->path, m->dir_name,
                                r == -EBADMSG ? "damaged (checksum or format)" : strerror(-r));
                        return r;
                }
        } else {
                want = pathset_new();
                if (!want)
                        return -ENOMEM;
        }

        for (size_t c = 0; c < n_chain; c++) {
                const ManifestVolume *cv = manifest_find_volume(chain[c], v->path);
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
                                    c == 0 ? &newest : NULL);
                if (r < 0)
                        damaged = true;
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
        RestoreRun run = { .o = o };
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
                fprintf(stderr, "vssbackup: files only: writers are not involved (no PreRestore/PostRestore; "
                        "the VSS restore sequence is not available in vssd yet)\n");
        }
        for (int i = 0; i < n; i++)
                if (!chain[i]->complete)
                        fprintf(stderr, "vssbackup: warning: %s is incomplete (some files could not be copied "
                                "when it was made)\n", chain[i]->dir_name);

        progress_init(&run.progress, "restore", o->quiet, 0, 0);
        run.progress.files_absolute = true;
        for (size_t v = 0; v < m->n_volumes; v++)
                if (restore_volume(&run, dirfd, chain, (size_t) n, v, targetfd) < 0)
                        damaged = true;
        if (restore_other(&run, dirfd, chain, (size_t) n, targetfd) < 0)
                damaged = true;
        run.progress.files = run.restored + run.skipped + run.refused + run.failed;
        progress_finish(&run.progress);

        /* Restored files are not synced one by one (docs/archive-format.md): once, here. */
        if (syncfs(targetfd) < 0)
                fprintf(stderr, "vssbackup: syncfs %s: %s\n", o->to, strerror(errno));

        if (run.report && !run.report_is_stdout && fclose(run.report) != 0) {
                fprintf(stderr, "vssbackup: writing %s: %s\n", o->report, strerror(errno));
                damaged = true;
        }
        fprintf(stderr, "vssbackup: %" PRIu64 " restored, %" PRIu64 " skipped, %" PRIu64 " refused, %" PRIu64
                " failed%s\n", run.restored, run.skipped, run.refused, run.failed,
                damaged ? "; a backup of the chain is damaged" : "");

        if (run.failed > 0 || run.refused > 0 || damaged)
                ret = VB_EXIT_FAILED;
        else if (run.skipped > 0)
                ret = VB_EXIT_SKIPPED;
        else
                ret = VB_EXIT_OK;
        catalog_done(&catalog);
        return ret;
}
