/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * make-seeds: writes the seed corpora of tests/fuzz from documents the project's own writers
 * produce: writer_metadata_to_xml, backup_components_to_xml, writer_metadata_append as sd-bus
 * marshals it, manifest_write, and archive_writer (decompressed, so mutations hit the tar
 * headers rather than the zstd frame), plus a few hostile archives made with libarchive the
 * way an attacker would. Run by hand when a format changes:
 *     ninja -C build tests/fuzz/fuzz-make-seeds && build/tests/fuzz/fuzz-make-seeds tests/fuzz/corpus
 * Each seed is small on purpose: libFuzzer mutates faster, and the replay tests stay quick.
 */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup-archive.h"
#include "bcd-xml.h"
#include "fuzz.h"
#include "vss-bus.h"
#include "vssbackup.h"
#include "wire.h"
#include "wmd-xml.h"

#define WRITER_ID "5a5f0f3e-8a7b-4b57-9c1e-0c5d1a0f0001"
#define INSTANCE_ID "5a5f0f3e-8a7b-4b57-9c1e-0c5d1a0f0002"
#define OTHER_WRITER_ID "5a5f0f3e-8a7b-4b57-9c1e-0c5d1a0f0003"

static const char *outdir;

static vss_id id(const char *s) {
        vss_id r;

        FUZZ_CHECK(vss_id_parse(s, &r) == S_OK);
        return r;
}

static void put_seed(const char *corpus, const char *name, const void *data, size_t len) {
        _cleanup_free_ char *dir = NULL, *path = NULL;
        _cleanup_close_ int fd = -EBADF;

        FUZZ_CHECK(asprintf(&dir, "%s/%s", outdir, corpus) > 0 && asprintf(&path, "%s/%s", dir, name) > 0);
        FUZZ_CHECK(mkdir(dir, 0755) == 0 || errno == EEXIST);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        FUZZ_CHECK(fd >= 0 && write(fd, data, len) == (ssize_t) len);
        printf("%s (%zu bytes)\n", path, len);
}

/* ---- Writer metadata --------------------------------------------------------------------- */

static WriterMetadata *wmd_full(void) {
        WriterMetadata *m = writer_metadata_new();
        vss_id wid = id(WRITER_ID), iid = id(INSTANCE_ID), other = id(OTHER_WRITER_ID);

        FUZZ_CHECK(m);
        FUZZ_CHECK(writer_metadata_set_identity(m, &iid, &wid, "Db «ü» <&>", "inst\t1", VSS_UT_USERDATA,
                                                VSS_ST_TRANSACTEDDB, 6000) == S_OK);
        FUZZ_CHECK(writer_metadata_set_restore_method(m, VSS_RME_STOP_RESTORE_START, "db.service", "then this",
                                                      VSS_WRE_IF_REPLACE_FAILS, true) == S_OK);
        FUZZ_CHECK(writer_metadata_set_backup_schema(m, VSS_BS_DIFFERENTIAL | VSS_BS_INCREMENTAL) == S_OK);
        FUZZ_CHECK(writer_metadata_add_component(m, VSS_CT_DATABASE, "sql\\main", "db1", "Main", true, true, true,
                                                 false, VSS_CF_BACKUP_RECOVERY) == S_OK);
        FUZZ_CHECK(writer_metadata_add_component(m, VSS_CT_FILEGROUP, NULL, "conf", NULL, false, false, false, true,
                                                 0) == S_OK);
        FUZZ_CHECK(writer_metadata_add_fileset(m, FILESET_DATABASE, "sql\\main", "db1", "/var/lib/db", "main.db",
                                               false, NULL, VSS_FSBT_ALL_BACKUP_REQUIRED) == S_OK);
        FUZZ_CHECK(writer_metadata_add_fileset(m, FILESET_DATABASE_LOG, "sql\\main", "db1", "/var/lib/db", "*.wal",
                                               false, "", VSS_FSBT_LOG_BACKUP_REQUIRED) == S_OK);
        FUZZ_CHECK(writer_metadata_add_fileset(m, FILESET_FILE_GROUP, "", "conf", "$CONFDIR", "*", true,
                                               "/srv/restore", VSS_FSBT_FULL_BACKUP_REQUIRED) == S_OK);
        FUZZ_CHECK(writer_metadata_add_exclude(m, "/var/lib/db", "*.tmp", true) == S_OK);
        FUZZ_CHECK(writer_metadata_add_alternate_location_mapping(m, "$CONFDIR", "*", true, "/srv/alt") == S_OK);
        FUZZ_CHECK(writer_metadata_add_component_dependency(m, "sql\\main", "db1", &other, "\\\\host\\logs",
                                                            "journal") == S_OK);
        return m;
}

static WriterMetadata *wmd_minimal(void) {
        WriterMetadata *m = writer_metadata_new();
        vss_id wid = id(WRITER_ID);

        FUZZ_CHECK(m);
        FUZZ_CHECK(writer_metadata_set_identity(m, NULL, &wid, "w", NULL, VSS_UT_USERDATA, VSS_ST_OTHER, 0) ==
                   S_OK);
        FUZZ_CHECK(writer_metadata_add_component(m, VSS_CT_FILEGROUP, NULL, "c", NULL, false, false, true, true, 0) ==
                   S_OK);
        FUZZ_CHECK(writer_metadata_add_fileset(m, FILESET_FILE_GROUP, "", "c", "/d", "*", false, NULL, 0) == S_OK);
        return m;
}

static void wmd_xml_seed(const char *name, WriterMetadata *m) {
        _cleanup_free_ char *xml = NULL;

        FUZZ_CHECK(writer_metadata_to_xml(m, &xml) == S_OK);
        put_seed("wmd-xml", name, xml, strlen(xml));
}

/*
 * The body of m as sd-bus marshals it: a client connection sends it on a socketpair whose
 * other end plays the server's part of the handshake by hand and keeps the raw bytes.
 */
static void wmd_wire_seed(const char *name, WriterMetadata *m) {
        static const char ok[] = "DATA\r\nOK 0123456789abcdef0123456789abcdef\r\n";
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *client = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
        _cleanup_free_ uint8_t *buf = NULL;
        size_t len = 0, off, body_len;
        int fds[2], r;
        uint8_t *begin;

        FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
        FUZZ_CHECK(write(fds[1], ok, sizeof(ok) - 1) == (ssize_t) (sizeof(ok) - 1));
        FUZZ_CHECK(sd_bus_new(&client) >= 0);
        FUZZ_CHECK(sd_bus_negotiate_fds(client, false) >= 0);
        FUZZ_CHECK(sd_bus_set_fd(client, fds[0], fds[0]) >= 0);
        FUZZ_CHECK(sd_bus_start(client) >= 0);
        FUZZ_CHECK(sd_bus_message_new_method_call(client, &msg, NULL, "/", NULL, "M") >= 0);
        FUZZ_CHECK(writer_metadata_append(msg, m) >= 0);
        FUZZ_CHECK(sd_bus_send(client, msg, NULL) >= 0);
        r = sd_bus_flush(client);
        if (r < 0)
                fprintf(stderr, "flush: %s\n", strerror(-r));
        FUZZ_CHECK(r >= 0);
        client = sd_bus_flush_close_unref(client);

        buf = malloc(1 << 20);
        FUZZ_CHECK(buf);
        for (ssize_t n; (n = read(fds[1], buf + len, (1 << 20) - len)) > 0;)
                len += (size_t) n;
        close(fds[1]);
        begin = memmem(buf, len, "BEGIN\r\n", 7);
        FUZZ_CHECK(begin);
        begin += 7;
        FUZZ_CHECK(wire_body(begin, len - (size_t) (begin - buf), &off, &body_len) == 0);
        put_seed("writer-metadata-wire", name, begin + off, body_len);
}

/* ---- Backup components ------------------------------------------------------------------- */

static BackupComponents *bcd_full(void) {
        BackupComponents *b = backup_components_new();
        vss_id wid = id(WRITER_ID), iid = id(INSTANCE_ID);
        BcdComponent *c, *d;

        FUZZ_CHECK(b);
        FUZZ_CHECK(backup_components_set_backup_state(b, true, false, VSS_BT_INCREMENTAL, true) == S_OK);
        FUZZ_CHECK(backup_components_set_context(b, VSS_CTX_APP_ROLLBACK) == S_OK);
        FUZZ_CHECK(backup_components_set_restore_type(b, BCD_RESTORE_TYPE_BY_COPY) == S_OK);
        FUZZ_CHECK(backup_components_add_component(b, &iid, &wid, VSS_CT_DATABASE, "sql\\main", "db1", &c) == S_OK);
        FUZZ_CHECK(backup_components_add_component(b, &iid, &wid, VSS_CT_FILEGROUP, NULL, "conf", &d) == S_OK);
        FUZZ_CHECK(bcd_component_set_backup_succeeded(c, true) == S_OK);
        FUZZ_CHECK(bcd_component_set_selected_for_restore(c, true) == S_OK);
        FUZZ_CHECK(bcd_component_set_restore_target(c, BCD_RESTORE_TARGET_DIRECTED) == S_OK);
        FUZZ_CHECK(bcd_component_set_file_restore_status(c, BCD_FILE_RESTORE_ALL) == S_OK);
        FUZZ_CHECK(bcd_component_set_string(c, BCD_STRING_BACKUP_STAMP, "lsn 42 <&>") == S_OK);
        FUZZ_CHECK(bcd_component_set_string(c, BCD_STRING_BACKUP_METADATA, "k=v\nx") == S_OK);
        FUZZ_CHECK(bcd_component_set_failure(c, VSS_E_WRITERERROR_RETRYABLE, E_ACCESSDENIED, "no") == S_OK);
        FUZZ_CHECK(bcd_component_add_differenced_file(c, "/var/lib/db", "*.db", false, 132000000000000000LL) ==
                   S_OK);
        FUZZ_CHECK(bcd_component_add_partial_file(c, "/var/lib/db", "main.log", "0:4096,0x1000:0x200", "m") == S_OK);
        FUZZ_CHECK(bcd_component_add_directed_target(c, "/var/lib/db", "a.db", "0:10", "/restore", "b.db", "5:10") ==
                   S_OK);
        FUZZ_CHECK(bcd_component_add_new_target(c, "/var/lib/db", "*.db", false, "/new/place") == S_OK);
        FUZZ_CHECK(bcd_component_add_alternate_location_mapping(c, "/var/lib/db", "*", true, "/alt") == S_OK);
        FUZZ_CHECK(bcd_component_add_restore_subcomponent(c, "sql\\main\\db1", "part", true) == S_OK);
        FUZZ_CHECK(bcd_component_set_string(d, BCD_STRING_BACKUP_STAMP, "") == S_OK);
        return b;
}

static BackupComponents *bcd_minimal(void) {
        BackupComponents *b = backup_components_new();
        vss_id wid = id(WRITER_ID), iid = id(INSTANCE_ID);

        FUZZ_CHECK(b);
        FUZZ_CHECK(backup_components_set_backup_state(b, true, false, VSS_BT_FULL, false) == S_OK);
        FUZZ_CHECK(backup_components_add_component(b, &iid, &wid, VSS_CT_FILEGROUP, NULL, "c", NULL) == S_OK);
        return b;
}

static void bcd_xml_seed(const char *name, BackupComponents *b) {
        _cleanup_free_ char *xml = NULL;

        FUZZ_CHECK(backup_components_to_xml(b, &xml) == S_OK);
        put_seed("bcd-xml", name, xml, strlen(xml));
}

/* ---- Manifests ----------------------------------------------------------------------------- */

static void manifest_seed(const char *name, const Manifest *m) {
        _cleanup_free_ char *text = NULL;
        _cleanup_close_ int dirfd = -EBADF, fd = -EBADF;
        struct stat st;

        dirfd = open(fuzz_scratch_dir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        FUZZ_CHECK(dirfd >= 0);
        (void) unlinkat(dirfd, VB_MANIFEST_NAME, 0);
        FUZZ_CHECK(manifest_write(dirfd, m) == 0);
        fd = openat(dirfd, VB_MANIFEST_NAME, O_RDONLY | O_CLOEXEC);
        FUZZ_CHECK(fd >= 0 && fstat(fd, &st) == 0);
        text = malloc((size_t) st.st_size);
        FUZZ_CHECK(text && read(fd, text, (size_t) st.st_size) == st.st_size);
        put_seed("manifest", name, text, (size_t) st.st_size);
}

static void manifests(void) {
        static const char hex[] = "0123456789abcdef0123456789abcdef";
        ManifestVolume vols[2] = {
                { .path = (char *) "/srv/data", .generation = 812, .archive = (char *) "vol-0.tar.zst",
                  .archive_xxh128 = (char *) hex, .listing = (char *) "vol-0.list",
                  .listing_xxh128 = (char *) hex, .files = 12, .bytes = 40960 },
                { .path = (char *) "/var/lib/a\nb", .archive = (char *) "vol-1.tar.zst",
                  .listing = (char *) "vol-1.list", .listing_xxh128 = (char *) hex, .failed = 1 },
        };
        ManifestComponent comps[1] = {
                { .instance_id = id(INSTANCE_ID), .writer_id = id(WRITER_ID), .writer_name = (char *) "Db",
                  .type = VSS_CT_DATABASE, .logical_path = (char *) "sql\\main", .name = (char *) "db1",
                  .succeeded = true, .backup_stamp = (char *) "lsn\t42" },
        };
        ManifestDocument docs[2] = {
                { .kind = (char *) "bcd", .name = (char *) "bcd.xml", .xxh128 = (char *) hex },
                { .kind = (char *) "wmd", .name = (char *) "wmd-0.xml", .xxh128 = (char *) hex },
        };
        Manifest full = {
                .id = id(OTHER_WRITER_ID), .type = VSS_BT_INCREMENTAL, .created_ns = 1700000000123456789LL,
                .snapshot_time = 133000000000000000LL, .parent = (char *) "2026-12-01T00-00-00",
                .base = (char *) "2026-11-30T00-00-00", .chain_has_incremental = true, .with_writers = true,
                .complete = true, .bcd_source = (char *) "vssd", .other_archive = (char *) "other.tar.zst",
                .other_archive_xxh128 = (char *) hex, .other_files = 3, .volumes = vols, .n_volumes = 2,
                .components = comps, .n_components = 1, .documents = docs, .n_documents = 2,
        };
        Manifest minimal = {
                .id = id(WRITER_ID), .type = VSS_BT_FULL, .volumes = vols, .n_volumes = 1,
        };

        manifest_seed("incremental", &full);
        manifest_seed("full", &minimal);
}

/* ---- Archives ------------------------------------------------------------------------------ */

/* The tar inside a zstd archive, its trailing zero padding cut to the two end blocks. */
static void archive_seed(const char *name, uint8_t options, int dirfd, const char *archive_name) {
        struct archive *a = archive_read_new();
        struct archive_entry *e;
        _cleanup_free_ uint8_t *buf = NULL;
        size_t len = 1, cap = 1 << 20;
        la_ssize_t n;

        buf = malloc(cap);
        FUZZ_CHECK(a && buf);
        buf[0] = options;
        FUZZ_CHECK(archive_read_support_filter_all(a) == ARCHIVE_OK);
        FUZZ_CHECK(archive_read_support_format_raw(a) == ARCHIVE_OK);
        {
                _cleanup_close_ int fd = openat(dirfd, archive_name, O_RDONLY | O_CLOEXEC);

                FUZZ_CHECK(fd >= 0);
                FUZZ_CHECK(archive_read_open_fd(a, fd, 65536) == ARCHIVE_OK);
                FUZZ_CHECK(archive_read_next_header(a, &e) == ARCHIVE_OK);
                while ((n = archive_read_data(a, buf + len, cap - len)) > 0)
                        len += (size_t) n;
                FUZZ_CHECK(n == 0);
                archive_read_free(a);
        }
        while (len > 1 + 1024 && (len - 1) % 512 == 0) {
                bool zero = true;

                for (size_t i = len - 1024 - 512; i < len - 1024; i++)
                        zero = zero && buf[i] == 0;
                if (!zero)
                        break;
                len -= 512;
        }
        put_seed("archive-entry", name, buf, len);
}

static void write_at(int dirfd, const char *name, const char *text) {
        _cleanup_close_ int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);

        FUZZ_CHECK(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t) strlen(text));
}

static void real_archives(void) {
        _cleanup_(archive_writer_freep) ArchiveWriter *w = NULL;
        _cleanup_close_ int dirfd = -EBADF, srcfd = -EBADF;
        ArchiveRanges ranges = {};
        ArchiveWriterOptions opts = { .hardlinks = true, .xattrs = true };

        dirfd = open(fuzz_scratch_dir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        FUZZ_CHECK(dirfd >= 0);
        FUZZ_CHECK(mkdirat(dirfd, "src", 0755) == 0 && mkdirat(dirfd, "src/etc", 0750) == 0);
        srcfd = openat(dirfd, "src", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        FUZZ_CHECK(srcfd >= 0);
        write_at(srcfd, "etc/app.conf", "key = value\n");
        write_at(srcfd, "data.db", "0123456789abcdefghijklmnopqrstuvwxyz");
        FUZZ_CHECK(symlinkat("etc/app.conf", srcfd, "link") == 0);
        FUZZ_CHECK(linkat(srcfd, "data.db", srcfd, "data.db.hard", 0) == 0);

        FUZZ_CHECK(archive_writer_open_full(dirfd, "real.tar.zst", &opts, &w) == 0);
        FUZZ_CHECK(archive_writer_add_file(w, srcfd, "etc", "etc", NULL) == 0);
        FUZZ_CHECK(archive_writer_add_file(w, srcfd, "etc/app.conf", "etc/app.conf", NULL) == 0);
        FUZZ_CHECK(archive_writer_add_file(w, srcfd, "data.db", "data.db", NULL) == 0);
        FUZZ_CHECK(archive_writer_add_file(w, srcfd, "data.db.hard", "data.db.hard", NULL) == 0);
        FUZZ_CHECK(archive_writer_add_file(w, srcfd, "link", "link", NULL) == 0);
        FUZZ_CHECK(archive_writer_add_blob(w, "bcd.xml", "<x/>", 4) == 0);
        FUZZ_CHECK(archive_writer_close(w) == 0);
        w = archive_writer_free(w);
        archive_seed("real", 0x00, dirfd, "real.tar.zst");
        archive_seed("real-all-options", 0x1f, dirfd, "real.tar.zst");

        /* A partial file: two ranges of data.db and where they go. */
        FUZZ_CHECK(archive_ranges_parse("4:8,0x10:4", &ranges) == 0);
        FUZZ_CHECK(archive_writer_open(dirfd, "partial.tar.zst", &w) == 0);
        FUZZ_CHECK(archive_writer_add_file(w, srcfd, "data.db", "data.db", &ranges) == 0);
        FUZZ_CHECK(archive_writer_close(w) == 0);
        archive_ranges_done(&ranges);
        archive_seed("partial", 0x01, dirfd, "partial.tar.zst");
}

/* What an attacker would store: libarchive directly, paths and links aimed at box/outside. */
static void hostile_archive(const char *name, uint8_t options, void (*fill)(struct archive *a)) {
        struct archive *a = archive_write_new();
        _cleanup_free_ uint8_t *buf = malloc(1 << 16);
        size_t used = 0;

        FUZZ_CHECK(a && buf);
        buf[0] = options;
        FUZZ_CHECK(archive_write_set_format_pax(a) == ARCHIVE_OK);
        FUZZ_CHECK(archive_write_set_bytes_per_block(a, 512) == ARCHIVE_OK);
        FUZZ_CHECK(archive_write_open_memory(a, buf + 1, (1 << 16) - 1, &used) == ARCHIVE_OK);
        fill(a);
        FUZZ_CHECK(archive_write_close(a) == ARCHIVE_OK);
        archive_write_free(a);
        put_seed("archive-entry", name, buf, used + 1);
}

static void add(struct archive *a, const char *path, unsigned type, const char *symlink, const char *hardlink,
                const char *data) {
        struct archive_entry *e = archive_entry_new();
        size_t len = data ? strlen(data) : 0;

        archive_entry_copy_pathname(e, path);
        archive_entry_set_filetype(e, type);
        archive_entry_set_perm(e, type == AE_IFDIR ? 0755 : 04755);
        archive_entry_set_mtime(e, 1700000000, 0);
        archive_entry_set_size(e, (la_int64_t) len);
        if (symlink)
                archive_entry_copy_symlink(e, symlink);
        if (hardlink)
                archive_entry_copy_hardlink(e, hardlink);
        FUZZ_CHECK(archive_write_header(a, e) >= ARCHIVE_WARN);
        if (len > 0)
                FUZZ_CHECK(archive_write_data(a, data, len) == (la_ssize_t) len);
        archive_entry_free(e);
}

static void fill_dotdot(struct archive *a) {
        add(a, "../outside/escaped", AE_IFREG, NULL, NULL, "x");
        add(a, "/outside/absolute", AE_IFREG, NULL, NULL, "x");
        add(a, "ok/../../outside/x", AE_IFREG, NULL, NULL, "x");
}

static void fill_symlink(struct archive *a) {
        add(a, "up", AE_IFLNK, "../outside", NULL, NULL);
        add(a, "up/through", AE_IFREG, NULL, NULL, "x");
        add(a, "dir", AE_IFDIR, NULL, NULL, NULL);
        add(a, "dir/abs", AE_IFLNK, "/", NULL, NULL);
        add(a, "dir/abs/etc", AE_IFDIR, NULL, NULL, NULL);
}

static void fill_hardlink(struct archive *a) {
        add(a, "h", AE_IFREG, NULL, "../outside/x", NULL);
        add(a, "f", AE_IFREG, NULL, NULL, "content");
        add(a, "g", AE_IFREG, NULL, "f", NULL);
        add(a, "name\nwith newline", AE_IFREG, NULL, NULL, "x");
}

int main(int argc, char **argv) {
        WriterMetadata *full, *minimal;
        BackupComponents *bfull, *bminimal;

        if (argc != 2) {
                fprintf(stderr, "usage: %s CORPUS-DIR\n", argv[0]);
                return 2;
        }
        outdir = argv[1];

        full = wmd_full();
        minimal = wmd_minimal();
        wmd_xml_seed("full.xml", full);
        wmd_xml_seed("minimal.xml", minimal);
        wmd_wire_seed("full", full);
        wmd_wire_seed("minimal", minimal);

        bfull = bcd_full();
        bminimal = bcd_minimal();
        bcd_xml_seed("full.xml", bfull);
        bcd_xml_seed("minimal.xml", bminimal);

        manifests();

        real_archives();
        hostile_archive("hostile-dotdot", 0x01, fill_dotdot);
        hostile_archive("hostile-symlink", 0x1f, fill_symlink);
        hostile_archive("hostile-hardlink", 0x12, fill_hardlink);

        writer_metadata_free(full);
        writer_metadata_free(minimal);
        backup_components_free(bfull);
        backup_components_free(bminimal);
        return 0;
}
