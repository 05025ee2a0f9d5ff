/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-archive-entry: the archive reader and its entry checks (backup-archive.c with
 * safe-path.c): everything vssbackup restore and verify do with an archive that may have been
 * made by someone else. The first input byte picks the extract options (bit 0 overwrite, 1
 * keep set-id bits, 2 restore owners, 3 restore xattrs, 4 allow control characters; device
 * nodes and FIFOs are never allowed here), the rest is the archive (zstd or plain tar). Every
 * entry is extracted into box/target, then the archive is verified.
 * Oracles: nothing appears in box besides target and the empty directory box/outside, which
 * hostile paths and links aim at ("../outside/..."); every outcome is one of the four; an
 * entry whose path safe_path_check refuses is never restored.
 */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup-archive.h"
#include "fuzz.h"
#include "safe-path.h"

static int scratch_fd = -EBADF;

/* box holds exactly target (anything inside) and outside (empty); anything else escaped. */
static void check_box(int boxfd) {
        _cleanup_close_ int outfd = -EBADF;
        DIR *d;
        int n = 0;

        outfd = openat(boxfd, "outside", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        FUZZ_CHECK(outfd >= 0);
        d = fdopendir(TAKE_FD(outfd));
        FUZZ_CHECK(d);
        for (struct dirent *de; (de = readdir(d));)
                if (!streq(de->d_name, ".") && !streq(de->d_name, "..")) {
                        fprintf(stderr, "escaped into outside/: %s\n", de->d_name);
                        FUZZ_CHECK(!"an entry escaped the target");
                }
        closedir(d);

        d = fdopendir(fcntl(boxfd, F_DUPFD_CLOEXEC, 3));
        FUZZ_CHECK(d);
        rewinddir(d);
        for (struct dirent *de; (de = readdir(d));) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (!streq(de->d_name, "target") && !streq(de->d_name, "outside")) {
                        fprintf(stderr, "escaped into box/: %s\n", de->d_name);
                        FUZZ_CHECK(!"an entry escaped the target");
                }
                n++;
        }
        closedir(d);
        FUZZ_CHECK(n == 2);
}

static void check_status(const ArchiveEntry *e, const ArchiveExtractOptions *opts, const ArchiveFileStatus *st) {
        FUZZ_CHECK(st->outcome == ARCHIVE_FILE_RESTORED || st->outcome == ARCHIVE_FILE_SKIPPED_EXISTS ||
                   st->outcome == ARCHIVE_FILE_REFUSED_UNSAFE || st->outcome == ARCHIVE_FILE_FAILED);
        if (st->outcome == ARCHIVE_FILE_RESTORED) {
                FUZZ_CHECK(e->path && safe_path_check(e->path, opts->allow_control_chars, NULL) == 0);
                FUZZ_CHECK(e->type != ARCHIVE_ENTRY_CHAR_DEVICE && e->type != ARCHIVE_ENTRY_BLOCK_DEVICE &&
                           e->type != ARCHIVE_ENTRY_FIFO && e->type != ARCHIVE_ENTRY_OTHER);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(archive_reader_freep) ArchiveReader *r = NULL;
        _cleanup_close_ int fd = -EBADF, boxfd = -EBADF, targetfd = -EBADF;
        ArchiveExtractOptions opts = {};
        ArchiveVerifyStats stats = {};
        ArchiveEntry e;
        int k;

        if (size < 1)
                return 0;
        opts.overwrite = data[0] & 1;
        opts.keep_setid = data[0] & 2;
        opts.restore_owner = data[0] & 4;
        opts.restore_xattrs = data[0] & 8;
        opts.allow_control_chars = data[0] & 16;
        data++;
        size--;

        if (scratch_fd < 0) {
                scratch_fd = open(fuzz_scratch_dir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                FUZZ_CHECK(scratch_fd >= 0);
        }
        fd = openat(scratch_fd, "input", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        FUZZ_CHECK(fd >= 0);
        FUZZ_CHECK(size == 0 || write(fd, data, size) == (ssize_t) size);
        close(TAKE_FD(fd));

        FUZZ_CHECK(fuzz_rm_rf_at(scratch_fd, "box") == 0);
        FUZZ_CHECK(mkdirat(scratch_fd, "box", 0700) == 0);
        boxfd = openat(scratch_fd, "box", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        FUZZ_CHECK(boxfd >= 0);
        FUZZ_CHECK(mkdirat(boxfd, "target", 0700) == 0 && mkdirat(boxfd, "outside", 0700) == 0);
        targetfd = openat(boxfd, "target", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        FUZZ_CHECK(targetfd >= 0);

        if (archive_reader_open(scratch_fd, "input", NULL, NULL, &r) == 0) {
                while ((k = archive_reader_next(r, &e)) > 0) {
                        ArchiveFileStatus st = {};

                        if (archive_extract_entry(r, targetfd, &opts, &st) < 0)
                                break;
                        check_status(&e, &opts, &st);
                }
                (void) archive_extract_finish(r, targetfd);
                r = archive_reader_free(r);
        }
        check_box(boxfd);

        /* Verify reads the same bytes another way: every entry's size and checksum. */
        (void) archive_verify(scratch_fd, "input", NULL, NULL, &stats);
        return 0;
}
