/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * backup-archive.c: the archives vssbackup writes and restores (pax tar + zstd, libarchive).
 *
 * Writing copies from a snapshot, so it must not disturb it: files are opened O_NOATIME and
 * O_NOFOLLOW (an atime update on a snapshotted btrfs subvolume unshares metadata and has filled
 * filesystems here) and read once, in bounded chunks, hashed while read. Three threads share
 * a large file's copy: one reads its chunks ahead (chunk-reader.c, O_DIRECT where possible),
 * the caller's hashes them and hands them over, and one writes the archive (write-queue.c);
 * zstd's workers compress what compresses. Each regular file
 * carries a checksum of its stored bytes in its own header, so a restore can check a file
 * before renaming it into place. Tar headers precede the data, so a file bigger than one chunk
 * gets its headers afterwards: libarchive makes the tar bytes, we compress them (zstd, on
 * worker threads) into a sequence of frames, and such a file's headers go into a raw frame
 * whose room was left in front of its content (writer_store_streaming). The archive is
 * written to a hidden temporary file and only linked under its name when complete.
 *
 * libarchive has no API for pax keywords of our own, so our metadata (checksum, partial file
 * ranges) travels as extended attributes named "vss-linux.*", which libarchive writes as pax
 * records LIBARCHIVE.xattr.vss-linux.* / SCHILY.xattr.vss-linux.* and reads back. No Linux
 * filesystem accepts such a name, so they can never collide with a real attribute; the reader
 * takes them out of the attribute list. docs/archive-format.md has the details.
 *
 * Reading treats the archive as hostile: every path goes through safe-path (relative, no '..',
 * no symlink followed), links and special files are restricted, and each entry's outcome is
 * reported instead of stopping the restore.
 *
 * libarchive is not linked but loaded by the first writer or reader opened (archive-dl.h), so a
 * tool that never touches an archive does not pay for its libraries; its functions are called
 * through the table's sym_ pointers.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "archive-dl.h"
#include "backup-archive.h"
#include "chunk-reader.h"
#include "io-util.h"
#include "macro.h"
#include "safe-path.h"
#include "write-queue.h"
#include "xxhash-util.h"
#include "zstd-reader.h"

#define CHUNK_SIZE (1024U * 1024U)
#define OUT_SIZE CHUNK_SIZE                  /* compressed bytes gathered per write(2): one queue buffer */
#define QUEUE_BUFFERS 12U                    /* the write queue's bound: 12 MiB read ahead or in flight */
#define PROBE_SIZE (32U * 1024U)             /* bytes of a chunk compressed to judge the chunk */
#define READ_AHEAD_CHUNKS 4U                 /* chunks of a large file read ahead of the hashing */
#define WRITE_BEHIND (8U * 1024U * 1024U)    /* written bytes after which their writeback is started */
#define HEADER_MAX (4U * 1024U * 1024U)      /* one entry's tar headers: paths, xattrs (twice, base64) */
_Static_assert(ARCHIVE_CHECKSUM_SIZE == WRITE_QUEUE_CHECKSUM_SIZE, "one checksum size");
#define ZSTD_MAGIC 0xFD2FB528U
#define ZSTD_RAW_BLOCK_MAX (128U * 1024U)
#define RAW_FRAME_BLOCKS_MAX (HEADER_MAX / ZSTD_RAW_BLOCK_MAX + 1U)  /* the largest raw frame we make: headers */
#define HARDLINKS_MAX (1024U * 1024U)
#define TMP_PREFIX ".vss-tmp-"
#define TMP_NAME_SIZE (sizeof(TMP_PREFIX) + 16)
#define TMP_ATTEMPTS 64
#define XATTR_VALUE_MAX (64U * 1024U)   /* the kernel's XATTR_SIZE_MAX */

/* ----------------------------------------------------------------------------------------- */
/* Ranges                                                                                    */

static int parse_u64(const char *s, const char **ret_end, uint64_t *ret) {
        uint64_t v = 0;
        unsigned base = 10;
        const char *p = s;

        if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
                base = 16;
                p += 2;
        }
        if (!((base == 10 && *p >= '0' && *p <= '9') || (base == 16 && isxdigit((unsigned char) *p))))
                return -EINVAL;

        for (;; p++) {
                unsigned d;

                if (*p >= '0' && *p <= '9')
                        d = (unsigned) (*p - '0');
                else if (base == 16 && *p >= 'a' && *p <= 'f')
                        d = (unsigned) (*p - 'a' + 10);
                else if (base == 16 && *p >= 'A' && *p <= 'F')
                        d = (unsigned) (*p - 'A' + 10);
                else
                        break;
                if (v > (UINT64_MAX - d) / base)
                        return -EINVAL;
                v = v * base + d;
        }

        *ret_end = p;
        *ret = v;
        return 0;
}

int archive_ranges_parse(const char *s, ArchiveRanges *ret) {
        _cleanup_free_ ArchiveRange *items = NULL;
        size_t n = 0, alloc = 0;
        const char *p = s;
        int r;

        assert(ret);

        if (isempty(s))
                return -EINVAL;

        for (;;) {
                uint64_t off, len;

                r = parse_u64(p, &p, &off);
                if (r < 0)
                        return r;
                if (*p++ != ':')
                        return -EINVAL;
                r = parse_u64(p, &p, &len);
                if (r < 0)
                        return r;
                if (len == 0 || off > UINT64_MAX - len)
                        return -EINVAL;

                if (n >= ARCHIVE_RANGES_MAX)
                        return -E2BIG;
                if (n == alloc) {
                        size_t na = alloc ? alloc * 2 : 8;
                        ArchiveRange *ni = reallocarray(items, na, sizeof(ArchiveRange));
                        if (!ni)
                                return -ENOMEM;
                        items = ni;
                        alloc = na;
                }
                items[n++] = (ArchiveRange) { .offset = off, .length = len };

                if (*p == 0)
                        break;
                if (*p++ != ',')
                        return -EINVAL;
        }

        *ret = (ArchiveRanges) { .items = TAKE_PTR(items), .n = n };
        return 0;
}

char *archive_ranges_format(const ArchiveRanges *r) {
        char *buf, *p;
        size_t size;

        assert(r);

        /* "%llu:%llu," is at most 20 + 1 + 20 + 1 bytes. */
        size = r->n * 42 + 1;
        buf = malloc(size);
        if (!buf)
                return NULL;
        p = buf;
        *p = 0;
        for (size_t i = 0; i < r->n; i++)
                p += snprintf(p, size - (size_t) (p - buf), "%s%" PRIu64 ":%" PRIu64, i > 0 ? "," : "",
                              r->items[i].offset, r->items[i].length);
        return buf;
}

void archive_ranges_done(ArchiveRanges *r) {
        if (!r)
                return;
        free(r->items);
        *r = (ArchiveRanges) {};
}

/* Sum of the lengths and the end of the furthest range; -EOVERFLOW if the sum wraps. */
static int ranges_measure(const ArchiveRanges *r, uint64_t *ret_total, uint64_t *ret_end) {
        uint64_t total = 0, end = 0;

        for (size_t i = 0; i < r->n; i++) {
                if (total > UINT64_MAX - r->items[i].length)
                        return -EOVERFLOW;
                total += r->items[i].length;
                end = MAX(end, r->items[i].offset + r->items[i].length);
        }
        *ret_total = total;
        *ret_end = end;
        return 0;
}

/* ----------------------------------------------------------------------------------------- */
/* Small helpers                                                                             */

static void checksum_to_hex(const uint8_t c[ARCHIVE_CHECKSUM_SIZE], char hex[ARCHIVE_CHECKSUM_SIZE * 2 + 1]) {
        static const char digits[] = "0123456789abcdef";

        for (size_t i = 0; i < ARCHIVE_CHECKSUM_SIZE; i++) {
                hex[2 * i] = digits[c[i] >> 4];
                hex[2 * i + 1] = digits[c[i] & 15];
        }
        hex[ARCHIVE_CHECKSUM_SIZE * 2] = 0;
}

static int unhex(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1;
}

static int checksum_from_hex(const char *s, size_t len, uint8_t ret[ARCHIVE_CHECKSUM_SIZE]) {
        uint8_t c[ARCHIVE_CHECKSUM_SIZE];

        if (len != ARCHIVE_CHECKSUM_SIZE * 2)
                return -EINVAL;
        for (size_t i = 0; i < ARCHIVE_CHECKSUM_SIZE; i++) {
                int hi = unhex(s[2 * i]), lo = unhex(s[2 * i + 1]);
                if (hi < 0 || lo < 0)
                        return -EINVAL;
                c[i] = (uint8_t) (hi << 4 | lo);
        }
        memcpy(ret, c, sizeof(c));
        return 0;
}

static void checksum_digest(XXH3_state_t *st, uint8_t ret[ARCHIVE_CHECKSUM_SIZE]) {
        XXH128_canonical_t canon;

        XXH128_canonicalFromHash(&canon, XXH3_128bits_digest(st));
        memcpy(ret, canon.digest, ARCHIVE_CHECKSUM_SIZE);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(XXH3_state_t *, XXH3_freeState);

/*
 * Start the writeback of what was written to fd since *synced, once that is WRITE_BEHIND or
 * more (sync_file_range without waiting). Otherwise a large file's pages stay dirty until the
 * final fsync or syncfs, and the disk writes them only after all the reading is done, instead
 * of while it goes on. Durability still comes from that fsync or syncfs alone.
 */
static void write_behind(int fd, uint64_t *synced, uint64_t written) {
        if (written < *synced + WRITE_BEHIND)
                return;
        (void) sync_file_range(fd, (off_t) *synced, (off_t) (written - *synced), SYNC_FILE_RANGE_WRITE);
        *synced = written;
}

/*
 * Create something under a fresh hidden name in dirfd: make() gets the name and returns an
 * fd (>= 0), 0 for "made, no fd", or a negative errno; -EEXIST makes us try another name.
 */
typedef int (*TempMakeFn)(int dirfd, const char *name, void *userdata);

static int temp_make(int dirfd, TempMakeFn make, void *userdata, char ret_name[static TMP_NAME_SIZE]) {
        for (unsigned attempt = 0; attempt < TMP_ATTEMPTS; attempt++) {
                char name[TMP_NAME_SIZE];
                uint64_t rnd;
                int r;

                if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
                        return negative_errno();
                snprintf(name, sizeof(name), TMP_PREFIX "%016" PRIx64, rnd);

                r = make(dirfd, name, userdata);
                if (r == -EEXIST)
                        continue;
                if (r < 0)
                        return r;
                memcpy(ret_name, name, TMP_NAME_SIZE);
                return r;
        }
        return -EEXIST;
}

static int make_regular(int dirfd, const char *name, void *userdata) {
        int fd = openat(dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        return fd < 0 ? -errno : fd;
}

/*
 * Give tmp its final name in dirfd. Without replace an existing name is never touched:
 * renameat2(RENAME_NOREPLACE), or link + unlink where the filesystem lacks it.
 */
static int temp_commit(int dirfd, const char *tmp, const char *name, bool replace) {
        if (replace)
                return renameat(dirfd, tmp, dirfd, name) < 0 ? -errno : 0;

        if (renameat2(dirfd, tmp, dirfd, name, RENAME_NOREPLACE) >= 0)
                return 0;
        if (errno != EINVAL && errno != ENOSYS)
                return -errno;
        if (linkat(dirfd, tmp, dirfd, name, 0) < 0)
                return -errno;
        (void) unlinkat(dirfd, tmp, 0);
        return 0;
}

/* ----------------------------------------------------------------------------------------- */
/* Writer                                                                                    */

typedef struct LinkKey {
        dev_t dev;
        ino_t ino;
        char path[];
} LinkKey;

struct ArchiveWriter {
        struct archive *a;      /* pax, unfiltered and unblocked: every byte it makes comes to writer_sink */
        struct archive_entry *e;
        int dirfd;
        int fd;
        char *name;
        char tmpname[TMP_NAME_SIZE];
        ArchiveWriterOptions opts;
        uint8_t *buf;
        XXH3_state_t *xxh;
        void *links;            /* tsearch tree of LinkKey */
        size_t n_links;
        uint64_t bytes;
        uint64_t files;

        /* The compressed stream: zstd frames, written with pwrite at out_pos so that a hole
         * reserved for a header can be filled in once its checksum is known. */
        ZSTD_CCtx *zc;
        WriteQueue *queue;      /* every write of the stream goes through it (write-queue.h) */
        uint8_t *out;           /* a held queue buffer of OUT_SIZE */
        size_t out_len;
        uint64_t out_pos;
        uint8_t *chunk;         /* the held queue buffer a large file's chunk was read into */
        int sink_error;         /* the sink's first error; libarchive then fails the call */
        bool in_frame;          /* bytes went into the current zstd frame since it began */

        /* Content of a large file that does not compress is stored in raw frames of our own
         * instead (chunk_store_raw): no CPU spent on a compression that cannot win. */
        bool raw;               /* the sink writes raw frames while set */
        ZSTD_CCtx *probe;       /* level 1, single thread: compresses a chunk's first bytes */
        uint8_t *probe_out;

        /* While capture is set, the headers libarchive makes are held here instead. */
        bool capture;
        uint8_t *hdr;
        size_t hdr_len;
        size_t hdr_alloc;
        char placeholder[ARCHIVE_CHECKSUM_SIZE * 2 + 1];

        bool broken;
        bool closed;
        bool have_sum;          /* file_sum is the finished file's */
        uint8_t file_sum[ARCHIVE_CHECKSUM_SIZE];
};

static int link_key_compare(const void *a, const void *b) {
        const LinkKey *x = a, *y = b;

        if (x->dev != y->dev)
                return x->dev < y->dev ? -1 : 1;
        if (x->ino != y->ino)
                return x->ino < y->ino ? -1 : 1;
        return 0;
}

static int archive_result_to_errno(struct archive *a) {
        int e = sym_archive_errno(a);
        return e > 0 ? -e : -EIO;
}

static void put_le32(uint8_t *p, uint32_t v) {
        p[0] = (uint8_t) v;
        p[1] = (uint8_t) (v >> 8);
        p[2] = (uint8_t) (v >> 16);
        p[3] = (uint8_t) (v >> 24);
}

/* Size of a zstd frame that stores n bytes as raw blocks: magic, descriptor, 4-byte content
 * size, a 3-byte header per block of at most 128 KiB. */
static size_t raw_frame_size(size_t n) {
        size_t blocks = MAX((n + ZSTD_RAW_BLOCK_MAX - 1) / ZSTD_RAW_BLOCK_MAX, (size_t) 1);

        return 4 + 1 + 4 + blocks * 3 + n;
}

/* The bytes of a raw frame's headers, and where they go between the data's pieces. */
typedef struct RawFrame {
        uint8_t head[9 + 3 * RAW_FRAME_BLOCKS_MAX];
        struct iovec iov[1 + 2 * RAW_FRAME_BLOCKS_MAX];
        int n_iov;
} RawFrame;

/*
 * Lay out a zstd frame (RFC 8878) that stores n bytes (at most HEADER_MAX) as raw blocks:
 * single segment, so the window is the content size; no checksum. The iovecs point into f's
 * headers and into data, so the frame is written without copying the data.
 */
static void raw_frame_layout(const uint8_t *data, size_t n, RawFrame *f) {
        uint8_t *p = f->head;
        size_t done = 0;

        assert(n <= HEADER_MAX);
        put_le32(p, ZSTD_MAGIC);
        p[4] = 2U << 6 | 1U << 5;       /* Frame_Header_Descriptor: FCS 4 bytes, Single_Segment */
        put_le32(p + 5, (uint32_t) n);
        f->iov[0] = (struct iovec) { p, 9 };
        f->n_iov = 1;
        p += 9;
        do {
                size_t k = MIN(n - done, (size_t) ZSTD_RAW_BLOCK_MAX);
                uint32_t bh = (uint32_t) k << 3 | (done + k == n ? 1U : 0U);   /* Raw_Block, Last_Block */

                p[0] = (uint8_t) bh;
                p[1] = (uint8_t) (bh >> 8);
                p[2] = (uint8_t) (bh >> 16);
                f->iov[f->n_iov++] = (struct iovec) { p, 3 };
                if (k > 0)
                        f->iov[f->n_iov++] = (struct iovec) { (uint8_t *) data + done, k };
                p += 3;
                done += k;
        } while (done < n);
}

/* Such a frame, gathered into ret (raw_frame_size(n) bytes). */
static void raw_frame_build(const uint8_t *data, size_t n, uint8_t *ret) {
        RawFrame f;

        raw_frame_layout(data, n, &f);
        for (int i = 0; i < f.n_iov; i++) {
                memcpy(ret, f.iov[i].iov_base, f.iov[i].iov_len);
                ret += f.iov[i].iov_len;
        }
}

/* Hand the compressed bytes gathered so far to the write queue, and gather into a new buffer. */
static int out_flush(ArchiveWriter *w) {
        struct iovec iov;
        int r;

        if (w->out_len == 0)
                return 0;
        iov = (struct iovec) { w->out, w->out_len };
        r = write_queue_put(w->queue, w->out, &iov, 1, w->out_pos);
        if (r < 0)
                return r;
        w->out_pos += w->out_len;
        w->out_len = 0;
        write_queue_release(w->queue, w->out);
        w->out = write_queue_get(w->queue);
        return 0;
}

/*
 * Give n bytes to zstd (ZSTD_e_continue), or end the current frame and write everything out
 * (ZSTD_e_end, n = 0). With worker threads zstd copies the input into a fixed table of jobs
 * and blocks here when all are busy: that table is the bounded queue between this thread
 * (reading, hashing) and the compressing ones.
 */
static int zstd_feed(ArchiveWriter *w, const void *data, size_t n, ZSTD_EndDirective mode) {
        ZSTD_inBuffer in = { data, n, 0 };

        if (mode == ZSTD_e_end && !w->in_frame)
                return out_flush(w);
        w->in_frame = mode != ZSTD_e_end;
        for (;;) {
                ZSTD_outBuffer out = { w->out, OUT_SIZE, w->out_len };
                size_t left;
                int r;

                left = ZSTD_compressStream2(w->zc, &out, &in, mode);
                if (ZSTD_isError(left))
                        return ZSTD_getErrorCode(left) == ZSTD_error_memory_allocation ? -ENOMEM : -EIO;
                w->out_len = out.pos;
                if (w->out_len == OUT_SIZE) {
                        r = out_flush(w);
                        if (r < 0)
                                return r;
                }
                if (mode == ZSTD_e_end ? left == 0 : in.pos == in.size)
                        break;
        }
        return mode == ZSTD_e_end ? out_flush(w) : 0;
}

/* Whether data[0..n) lies in the chunk buffer w holds. */
static bool in_chunk(const ArchiveWriter *w, const uint8_t *data, size_t n) {
        uintptr_t p = (uintptr_t) data, c = (uintptr_t) w->chunk;

        return w->chunk && p >= c && n <= CHUNK_SIZE && p - c <= CHUNK_SIZE - n;
}

/* Store n bytes as raw frames (raw_frame_layout), at most one chunk per frame, behind what
 * was gathered: zstd does not see them; any zstd reader reads them. Content read into the
 * chunk buffer is queued from there, without a copy in user space; anything else (the tar
 * padding libarchive adds) is first copied into a buffer of the queue's own. */
static int raw_feed(ArchiveWriter *w, const uint8_t *data, size_t n) {
        int r;

        r = out_flush(w);
        if (r < 0)
                return r;
        while (n > 0) {
                size_t k = MIN(n, (size_t) CHUNK_SIZE);
                uint8_t *buf = in_chunk(w, data, k) ? w->chunk : write_queue_get(w->queue);
                RawFrame f;

                if (buf != w->chunk)
                        memcpy(buf, data, k);
                raw_frame_layout(buf == w->chunk ? data : buf, k, &f);
                r = write_queue_put(w->queue, buf, f.iov, f.n_iov, w->out_pos);
                if (buf != w->chunk)
                        write_queue_release(w->queue, buf);
                if (r < 0)
                        return r;
                w->out_pos += raw_frame_size(k);
                data += k;
                n -= k;
        }
        return 0;
}

/* libarchive's write callback: headers are held while capturing, everything else compressed
 * (or stored raw while w->raw). */
static la_ssize_t writer_sink(struct archive *a, void *userdata, const void *buf, size_t n) {
        ArchiveWriter *w = userdata;
        int r;

        if (w->sink_error)
                r = w->sink_error;
        else if (w->capture) {
                if (n > HEADER_MAX - w->hdr_len)
                        r = -EFBIG;
                else {
                        if (w->hdr_len + n > w->hdr_alloc) {
                                size_t na = MAX(w->hdr_alloc * 2, w->hdr_len + n);
                                uint8_t *nh = realloc(w->hdr, na);

                                if (!nh) {
                                        r = -ENOMEM;
                                        goto fail;
                                }
                                w->hdr = nh;
                                w->hdr_alloc = na;
                        }
                        memcpy(w->hdr + w->hdr_len, buf, n);
                        w->hdr_len += n;
                        return (la_ssize_t) n;
                }
        } else {
                r = w->raw ? raw_feed(w, buf, n) : zstd_feed(w, buf, n, ZSTD_e_continue);
                if (r == 0)
                        return (la_ssize_t) n;
        }
fail:
        w->sink_error = r;
        sym_archive_set_error(a, -r, "%s", strerror(-r));
        return -1;
}

/* Standard base64 of n bytes without padding, as libarchive writes LIBARCHIVE.xattr values. */
static size_t base64_plain(const uint8_t *s, size_t n, char *ret) {
        static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        size_t o = 0, i = 0;

        for (; i + 3 <= n; i += 3) {
                uint32_t v = (uint32_t) s[i] << 16 | (uint32_t) s[i + 1] << 8 | s[i + 2];

                ret[o++] = digits[v >> 18 & 63];
                ret[o++] = digits[v >> 12 & 63];
                ret[o++] = digits[v >> 6 & 63];
                ret[o++] = digits[v & 63];
        }
        if (n - i == 1) {
                ret[o++] = digits[s[i] >> 2];
                ret[o++] = digits[(s[i] & 3) << 4];
        } else if (n - i == 2) {
                ret[o++] = digits[s[i] >> 2];
                ret[o++] = digits[(s[i] & 3) << 4 | s[i + 1] >> 4];
                ret[o++] = digits[(s[i + 1] & 15) << 2];
        }
        return o;
}

/* Replace every occurrence of what (n bytes) in buf with with; returns how many. */
static size_t replace_all(uint8_t *buf, size_t len, const char *what, const char *with, size_t n) {
        size_t count = 0;

        for (uint8_t *p = buf; (p = memmem(p, len - (size_t) (p - buf), what, n)); p += n) {
                memcpy(p, with, n);
                count++;
        }
        return count;
}

/*
 * Put the real checksum (hex) where the placeholder is in the held headers, in both records
 * libarchive writes (SCHILY.xattr: the text; LIBARCHIVE.xattr: its base64). The lengths do
 * not change, and tar's header checksum covers only the 512-byte ustar blocks, which hold the
 * records' length, never their text. The placeholder is random per archive, so a path or
 * attribute that happens to contain it is a 2^-128 chance.
 */
static int header_patch_checksum(ArchiveWriter *w, const char hex[static ARCHIVE_CHECKSUM_SIZE * 2 + 1]) {
        char ph64[64], hex64[64];
        size_t n64, found;

        found = replace_all(w->hdr, w->hdr_len, w->placeholder, hex, ARCHIVE_CHECKSUM_SIZE * 2);
        n64 = base64_plain((const uint8_t *) w->placeholder, ARCHIVE_CHECKSUM_SIZE * 2, ph64);
        (void) base64_plain((const uint8_t *) hex, ARCHIVE_CHECKSUM_SIZE * 2, hex64);
        /* Unpadded: a writer that pads has the same '=' after both. */
        found += replace_all(w->hdr, w->hdr_len, ph64, hex64, n64);
        return found > 0 ? 0 : -EIO;
}

/*
 * Loads libarchive before the first archive is made or read. A library that cannot be loaded
 * is -ELIBACC; the reason names it, which no errno can, so it goes to stderr.
 */
static int archive_library_load(void) {
        _cleanup_free_ char *reason = NULL;

        if (archive_dl_load(&reason) == S_OK)
                return 0;
        fprintf(stderr, "%s: %s\n", program_invocation_short_name, reason ?: "libarchive could not be loaded");
        return -ELIBACC;
}

int archive_writer_open(int dirfd, const char *name, ArchiveWriter **ret) {
        return archive_writer_open_full(dirfd, name, NULL, ret);
}

int archive_writer_open_full(int dirfd, const char *name, const ArchiveWriterOptions *opts, ArchiveWriter **ret) {
        _cleanup_(archive_writer_freep) ArchiveWriter *w = NULL;
        uint8_t rnd[ARCHIVE_CHECKSUM_SIZE];
        struct stat st;
        size_t z;
        int fd, k;

        assert(ret);

        if (isempty(name) || strchr(name, '/') || streq(name, ".") || streq(name, "..") ||
            strlen(name) > SAFE_NAME_MAX)
                return -EINVAL;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) >= 0)
                return -EEXIST;
        if (errno != ENOENT)
                return -errno;
        k = archive_library_load();
        if (k < 0)
                return k;

        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->fd = -EBADF;
        w->dirfd = -EBADF;
        if (opts)
                w->opts = *opts;
        else
                w->opts.xattrs = true;

        if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
                return negative_errno();
        checksum_to_hex(rnd, w->placeholder);

        w->name = strdup(name);
        w->buf = malloc(CHUNK_SIZE);
        w->xxh = XXH3_createState();
        w->zc = ZSTD_createCCtx();
        w->probe = ZSTD_createCCtx();
        w->probe_out = malloc(PROBE_SIZE);
        if (!w->name || !w->buf || !w->xxh || !w->zc || !w->probe || !w->probe_out)
                return -ENOMEM;

        z = ZSTD_CCtx_setParameter(w->zc, ZSTD_c_compressionLevel,
                                   w->opts.compression_level > 0 ? w->opts.compression_level : 3);
        if (ZSTD_isError(z))
                return -EINVAL;
        /* A libzstd built without threads refuses: single-threaded is still correct. */
        if (w->opts.threads > 0)
                (void) ZSTD_CCtx_setParameter(w->zc, ZSTD_c_nbWorkers, (int) MIN(w->opts.threads, 256U));

        w->dirfd = dirfd == AT_FDCWD ? open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
        if (w->dirfd < 0)
                return -errno;

        fd = temp_make(w->dirfd, make_regular, NULL, w->tmpname);
        if (fd < 0)
                return fd;
        w->fd = fd;
        k = write_queue_new(w->fd, QUEUE_BUFFERS, CHUNK_SIZE, WRITE_BEHIND, &w->queue);
        if (k < 0)
                return k;
        w->out = write_queue_get(w->queue);

        w->a = sym_archive_write_new();
        w->e = sym_archive_entry_new();
        if (!w->a || !w->e)
                return -ENOMEM;

        /* Full pax (nanosecond times, xattrs); names as raw bytes, the way Linux stores them.
         * No filter and no blocking: libarchive makes the tar bytes, we compress them. */
        if (sym_archive_write_set_format_pax(w->a) != ARCHIVE_OK ||
            sym_archive_write_set_format_option(w->a, "pax", "hdrcharset", "BINARY") != ARCHIVE_OK ||
            sym_archive_write_set_bytes_per_block(w->a, 0) != ARCHIVE_OK)
                return archive_result_to_errno(w->a);
        /* No padding of the last block: the file ends where the compressed stream ends. */
        (void) sym_archive_write_set_bytes_in_last_block(w->a, 1);

        if (sym_archive_write_open2(w->a, w, NULL, writer_sink, NULL, NULL) != ARCHIVE_OK)
                return archive_result_to_errno(w->a);

        *ret = TAKE_PTR(w);
        return 0;
}

static void writer_progress(ArchiveWriter *w) {
        if (w->opts.progress)
                w->opts.progress(w->bytes, w->files, w->opts.userdata);
}

/* Write the header; ARCHIVE_FAILED concerns this entry only, anything worse the stream. */
static int writer_header(ArchiveWriter *w) {
        int r = sym_archive_write_header(w->a, w->e);

        if (r == ARCHIVE_OK || r == ARCHIVE_WARN)
                return 0;
        if (r == ARCHIVE_FAILED)
                return -EINVAL;
        w->broken = true;
        return archive_result_to_errno(w->a);
}

static int writer_data(ArchiveWriter *w, const void *buf, size_t n) {
        la_ssize_t k = sym_archive_write_data(w->a, buf, n);

        if (k < 0 || (size_t) k != n) {
                w->broken = true;
                return k < 0 ? archive_result_to_errno(w->a) : -EIO;
        }
        w->bytes += n;
        writer_progress(w);
        return 0;
}

static int writer_finish_entry(ArchiveWriter *w) {
        int k = sym_archive_write_finish_entry(w->a);

        if (k != ARCHIVE_OK && k != ARCHIVE_WARN) {
                w->broken = true;
                return archive_result_to_errno(w->a);
        }
        w->files++;
        writer_progress(w);
        return 0;
}

/* Common header fields from a stat; the path is set by the caller. */
static void entry_fill_stat(struct archive_entry *e, const struct stat *st) {
        sym_archive_entry_set_filetype(e, st->st_mode & S_IFMT);
        sym_archive_entry_set_perm(e, st->st_mode & 07777);
        sym_archive_entry_set_uid(e, st->st_uid);
        sym_archive_entry_set_gid(e, st->st_gid);
        sym_archive_entry_set_mtime(e, st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
        sym_archive_entry_set_size(e, 0);
}

/* Record fd's extended attributes on the entry, within the limits. */
static int entry_add_xattrs(struct archive_entry *e, int fd) {
        _cleanup_free_ char *list = NULL;
        _cleanup_free_ void *value = NULL;
        size_t total = 0, count = 0;
        ssize_t n;

        n = flistxattr(fd, NULL, 0);
        if (n < 0)
                return errno == ENOTSUP ? 0 : -errno;
        if (n == 0)
                return 0;
        if ((size_t) n > ARCHIVE_XATTRS_BYTES_MAX)
                return -EFBIG;

        list = malloc((size_t) n);
        value = malloc(XATTR_VALUE_MAX);
        if (!list || !value)
                return -ENOMEM;
        n = flistxattr(fd, list, (size_t) n);
        if (n < 0)
                return errno == ERANGE ? -ESTALE : -errno;

        for (const char *p = list; p < list + n; p += strlen(p) + 1) {
                ssize_t v;

                if (strncmp(p, ARCHIVE_META_PREFIX, strlen(ARCHIVE_META_PREFIX)) == 0)
                        continue;
                v = fgetxattr(fd, p, value, XATTR_VALUE_MAX);
                if (v < 0) {
                        if (errno == ENODATA)   /* removed meanwhile */
                                continue;
                        return -errno;
                }
                total += strlen(p) + (size_t) v;
                if (++count > ARCHIVE_XATTRS_MAX || total > ARCHIVE_XATTRS_BYTES_MAX)
                        return -EFBIG;
                sym_archive_entry_xattr_add_entry(e, p, value, (size_t) v);
        }
        return 0;
}

/*
 * Whether a chunk of content is better stored raw: its first PROBE_SIZE bytes, compressed at
 * level 1 into a buffer 1/32 smaller than they are, do not fit (zstd gives up at the first
 * block that does not). Random, encrypted and already compressed data fail this after about
 * 10 µs, where compressing the whole chunk would cost milliseconds for nothing: zstd's own
 * level 1 runs at a few hundred MB/s on such data and stores it raw anyway. A chunk that
 * compresses elsewhere than its start is misjudged; it is then stored raw, as zstd stores
 * what it cannot squeeze, and the archive is merely larger than it might be.
 */
static bool chunk_store_raw(ArchiveWriter *w, const uint8_t *buf, size_t n) {
        size_t k = MIN(n, (size_t) PROBE_SIZE), z;

        if (k < PROBE_SIZE)
                return false;   /* too short to judge, and cheap to compress */
        z = ZSTD_compressCCtx(w->probe, w->probe_out, k - k / 32, buf, k, 1);
        return ZSTD_isError(z);
}

/* Switch the content stream between compressed and raw frames. Raw frames cannot go inside a
 * zstd frame, so going raw ends the current one first; going back needs nothing (the next
 * compressed bytes open a new frame). */
static int writer_set_raw(ArchiveWriter *w, bool raw) {
        int r;

        if (raw == w->raw)
                return 0;
        if (raw) {
                r = zstd_feed(w, NULL, 0, ZSTD_e_end);
                if (r < 0) {
                        w->broken = true;
                        return r;
                }
        }
        w->raw = raw;
        return 0;
}

/* Read a file that fits one chunk (n_segs == 1, at most CHUNK_SIZE) into w->buf and hash it. */
static int writer_hash_small(ArchiveWriter *w, int fd, const Segment *seg) {
        int r;

        XXH3_128bits_reset(w->xxh);
        r = pread_full(fd, w->buf, (size_t) seg->length, seg->offset);
        if (r < 0)
                return r;
        XXH3_128bits_update(w->xxh, w->buf, (size_t) seg->length);
        return 0;
}

/*
 * Read the segments once, in chunks (chunk-reader.h: read ahead on a thread of its own, into
 * the write queue's buffers, O_DIRECT where possible), hashing them and handing them to
 * libarchive; a chunk stored raw goes from that buffer to the write queue without a copy
 * (raw_feed). A short source returns -ESTALE; nothing more is written then (libarchive pads
 * the entry on finish), so the stream stays well-formed.
 */
static int writer_pass(ArchiveWriter *w, int fd, const Segment *segs, size_t n_segs) {
        _cleanup_(chunk_reader_freep) ChunkReader *reader = NULL;
        size_t n;
        int r;

        XXH3_128bits_reset(w->xxh);
        r = chunk_reader_new(w->queue, fd, segs, n_segs, READ_AHEAD_CHUNKS, &reader);
        if (r < 0)
                return r;
        while ((r = chunk_reader_next(reader, &w->chunk, &n)) > 0) {
                XXH3_128bits_update(w->xxh, w->chunk, n);
                r = writer_set_raw(w, chunk_store_raw(w, w->chunk, n));
                if (r >= 0)
                        r = writer_data(w, w->chunk, n);
                write_queue_release(w->queue, w->chunk);
                w->chunk = NULL;
                if (r < 0)
                        return r;
        }
        return r;
}

/*
 * Store a file larger than one chunk (or a partial one) reading it once. Its headers are made
 * with a placeholder checksum and held back; the current zstd frame is ended and room for
 * one raw (uncompressed) zstd frame of exactly the headers' size is left in the file; the
 * content streams into the frames after it while being hashed; then the headers get the real
 * checksum and go into their room. Decompressed, the stream is the same tar as if the
 * headers had come first, and any zstd reader reads concatenated frames.
 */
static int writer_store_streaming(ArchiveWriter *w, int fd, const Segment *segs, size_t n_segs, uint64_t stored) {
        _cleanup_free_ uint8_t *frame = NULL;
        uint8_t sum[ARCHIVE_CHECKSUM_SIZE];
        char hex[ARCHIVE_CHECKSUM_SIZE * 2 + 1];
        uint64_t hole;
        size_t hole_len;
        int r, k;

        sym_archive_entry_xattr_add_entry(w->e, ARCHIVE_META_CHECKSUM, w->placeholder, strlen(w->placeholder));
        sym_archive_entry_set_size(w->e, (la_int64_t) stored);

        r = zstd_feed(w, NULL, 0, ZSTD_e_end);
        if (r < 0) {
                w->broken = true;
                return r;
        }
        w->capture = true;
        w->hdr_len = 0;
        r = writer_header(w);
        w->capture = false;
        if (r < 0)
                return r;
        hole = w->out_pos;
        hole_len = raw_frame_size(w->hdr_len);
        w->out_pos += hole_len;

        r = writer_pass(w, fd, segs, n_segs);
        if (r < 0 && w->broken)
                return r;
        /* On a source error, libarchive pads the entry here and the checksum of what was read
         * will not match the stored bytes: verify and restore report it. */
        k = writer_finish_entry(w);
        w->raw = false;         /* the padding went as the content did; headers compress again */
        if (k < 0)
                return k;

        checksum_digest(w->xxh, sum);
        checksum_to_hex(sum, hex);
        frame = malloc(hole_len);
        k = frame ? header_patch_checksum(w, hex) : -ENOMEM;
        if (k >= 0) {
                raw_frame_build(w->hdr, w->hdr_len, frame);
                k = write_queue_put_copy(w->queue, frame, hole_len, hole);
        }
        if (k < 0) {
                w->broken = true;
                return k;
        }
        return r;
}

static int open_noatime(int dirfd, const char *path, int flags) {
        int fd;

        fd = openat(dirfd, path, flags | O_NOATIME | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && errno == EPERM)   /* O_NOATIME needs ownership or CAP_FOWNER */
                fd = openat(dirfd, path, flags | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

/* A further name of a file already stored: store it as a hard link. *ret_done says whether
 * it was one. */
static int writer_try_hardlink(ArchiveWriter *w, const struct stat *st, bool *ret_done) {
        LinkKey probe = { .dev = st->st_dev, .ino = st->st_ino };
        const LinkKey *k;
        void **found;
        int r;

        *ret_done = false;
        found = tfind(&probe, &w->links, link_key_compare);
        if (!found)
                return 0;
        k = *found;

        sym_archive_entry_set_filetype(w->e, AE_IFREG);
        sym_archive_entry_copy_hardlink(w->e, k->path);
        sym_archive_entry_set_size(w->e, 0);
        r = writer_header(w);
        if (r < 0)
                return r;
        r = writer_finish_entry(w);
        if (r < 0)
                return r;
        *ret_done = true;
        return 0;
}

/* Remember a multiply linked file once it is in the archive. */
static int writer_remember_link(ArchiveWriter *w, const struct stat *st, const char *archive_path) {
        _cleanup_free_ LinkKey *key = NULL;

        if (w->n_links >= HARDLINKS_MAX)
                return 0;       /* past the limit further names are stored as copies */

        key = malloc(sizeof(LinkKey) + strlen(archive_path) + 1);
        if (!key)
                return -ENOMEM;
        key->dev = st->st_dev;
        key->ino = st->st_ino;
        strcpy(key->path, archive_path);
        if (!tsearch(key, &w->links, link_key_compare))
                return -ENOMEM;
        TAKE_PTR(key);
        w->n_links++;
        return 0;
}

static int writer_add_regular(ArchiveWriter *w, int src_dirfd, const char *relpath, const char *archive_path,
                              const ArchiveRanges *ranges) {
        _cleanup_free_ Segment *segs = NULL;
        _cleanup_close_ int fd = -EBADF;
        uint8_t sum[ARCHIVE_CHECKSUM_SIZE];
        char hex[ARCHIVE_CHECKSUM_SIZE * 2 + 1];
        uint64_t stored = 0;
        size_t n_segs;
        struct stat st;
        bool done, single, link;
        int r;

        fd = open_noatime(src_dirfd, relpath, O_RDONLY | O_NONBLOCK);
        if (fd < 0)
                return fd;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -ESTALE;         /* replaced between stat and open */
        /* A larger read-ahead window; a file read in one pread has no use for it. */
        if ((uint64_t) st.st_size > CHUNK_SIZE)
                (void) posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);

        entry_fill_stat(w->e, &st);

        link = w->opts.hardlinks && st.st_nlink > 1 && !ranges;
        if (link) {
                r = writer_try_hardlink(w, &st, &done);
                if (r < 0 || done)
                        return r;
        }

        if (ranges) {
                _cleanup_free_ char *text = NULL;
                uint64_t end;
                char size[32];

                r = ranges_measure(ranges, &stored, &end);
                if (r < 0 || ranges->n == 0 || end > (uint64_t) st.st_size)
                        return -EINVAL;
                segs = calloc(ranges->n, sizeof(Segment));
                text = archive_ranges_format(ranges);
                if (!segs || !text)
                        return -ENOMEM;
                for (size_t i = 0; i < ranges->n; i++)
                        segs[i] = (Segment) { ranges->items[i].offset, ranges->items[i].length };
                n_segs = ranges->n;

                snprintf(size, sizeof(size), "%" PRIu64, (uint64_t) st.st_size);
                sym_archive_entry_xattr_add_entry(w->e, ARCHIVE_META_RANGES, text, strlen(text));
                sym_archive_entry_xattr_add_entry(w->e, ARCHIVE_META_FILE_SIZE, size, strlen(size));
        } else {
                segs = calloc(1, sizeof(Segment));
                if (!segs)
                        return -ENOMEM;
                segs[0] = (Segment) { 0, (uint64_t) st.st_size };
                n_segs = 1;
                stored = (uint64_t) st.st_size;
        }

        if (w->opts.xattrs) {
                r = entry_add_xattrs(w->e, fd);
                if (r < 0)
                        return r;
        }

        /* A file that fits one chunk is read into the buffer, hashed, and stored from there
         * behind a header that carries its checksum. Anything larger is read once while it
         * is stored, its header filled in afterwards (writer_store_streaming). */
        single = n_segs == 1 && stored <= CHUNK_SIZE;
        if (!single) {
                r = writer_store_streaming(w, fd, segs, n_segs, stored);
                if (r < 0)
                        return r;
                return link ? writer_remember_link(w, &st, archive_path) : 0;
        }

        r = writer_hash_small(w, fd, &segs[0]);
        if (r < 0)
                return r;
        checksum_digest(w->xxh, sum);
        checksum_to_hex(sum, hex);
        sym_archive_entry_xattr_add_entry(w->e, ARCHIVE_META_CHECKSUM, hex, strlen(hex));
        sym_archive_entry_set_size(w->e, (la_int64_t) stored);

        r = writer_header(w);
        if (r < 0)
                return r;
        if (stored > 0) {
                r = writer_data(w, w->buf, (size_t) stored);
                if (r < 0)
                        return r;
        }

        r = writer_finish_entry(w);
        if (r < 0)
                return r;
        /* Only now: a later name must never point at an entry that did not make it in. */
        return link ? writer_remember_link(w, &st, archive_path) : 0;
}

static int writer_add_metadata_only(ArchiveWriter *w, int src_dirfd, const char *relpath, const struct stat *st) {
        int r;

        entry_fill_stat(w->e, st);

        if (S_ISLNK(st->st_mode)) {
                char target[SAFE_PATH_MAX + 1];
                ssize_t n;

                n = readlinkat(src_dirfd, relpath, target, sizeof(target));
                if (n < 0)
                        return -errno;
                if ((size_t) n >= sizeof(target))
                        return -EFBIG;
                target[n] = 0;
                sym_archive_entry_copy_symlink(w->e, target);
        } else if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
                sym_archive_entry_set_rdev(w->e, st->st_rdev);
        else if (S_ISDIR(st->st_mode) && w->opts.xattrs) {
                _cleanup_close_ int fd = -EBADF;

                fd = open_noatime(src_dirfd, relpath, O_RDONLY | O_DIRECTORY);
                if (fd < 0)
                        return fd;
                r = entry_add_xattrs(w->e, fd);
                if (r < 0)
                        return r;
        }

        r = writer_header(w);
        if (r < 0)
                return r;
        return writer_finish_entry(w);
}

int archive_writer_add_file(ArchiveWriter *w, int src_dirfd, const char *relpath, const char *archive_path,
                            const ArchiveRanges *ranges) {
        struct stat st;
        int r;

        if (!w || isempty(relpath))
                return -EINVAL;
        if (w->broken || w->closed)
                return -EIO;
        r = safe_path_check(archive_path, /* allow_control_chars= */ true, NULL);
        if (r < 0)
                return r;

        if (fstatat(src_dirfd, relpath, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        if (S_ISSOCK(st.st_mode))
                return -EOPNOTSUPP;
        if (ranges && !S_ISREG(st.st_mode))
                return -EINVAL;

        sym_archive_entry_clear(w->e);
        sym_archive_entry_copy_pathname(w->e, archive_path);

        if (S_ISREG(st.st_mode))
                return writer_add_regular(w, src_dirfd, relpath, archive_path, ranges);
        return writer_add_metadata_only(w, src_dirfd, relpath, &st);
}

int archive_writer_prefetch(int src_dirfd, const char *relpath) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        if (isempty(relpath))
                return -EINVAL;
        /* stat first: opening a device node or FIFO can have effects of its own. */
        if (fstatat(src_dirfd, relpath, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        /* Larger files are read ahead by the writer itself (chunk-reader.h), and where they are
         * read O_DIRECT, cached pages would be read for nothing. */
        if (!S_ISREG(st.st_mode) || st.st_size == 0 || (uint64_t) st.st_size > CHUNK_SIZE)
                return 0;
        fd = open_noatime(src_dirfd, relpath, O_RDONLY | O_NONBLOCK);
        if (fd < 0)
                return fd;
        return -posix_fadvise(fd, 0, st.st_size, POSIX_FADV_WILLNEED);
}

int archive_writer_add_blob(ArchiveWriter *w, const char *archive_path, const void *data, size_t len) {
        uint8_t sum[ARCHIVE_CHECKSUM_SIZE];
        char hex[ARCHIVE_CHECKSUM_SIZE * 2 + 1];
        struct timespec now;
        int r;

        if (!w || (!data && len > 0))
                return -EINVAL;
        if (w->broken || w->closed)
                return -EIO;
        r = safe_path_check(archive_path, /* allow_control_chars= */ true, NULL);
        if (r < 0)
                return r;

        (void) clock_gettime(CLOCK_REALTIME, &now);
        XXH3_128bits_reset(w->xxh);
        XXH3_128bits_update(w->xxh, data, len);
        checksum_digest(w->xxh, sum);
        checksum_to_hex(sum, hex);

        sym_archive_entry_clear(w->e);
        sym_archive_entry_copy_pathname(w->e, archive_path);
        sym_archive_entry_set_filetype(w->e, AE_IFREG);
        sym_archive_entry_set_perm(w->e, 0600);
        sym_archive_entry_set_uid(w->e, geteuid());
        sym_archive_entry_set_gid(w->e, getegid());
        sym_archive_entry_set_mtime(w->e, now.tv_sec, now.tv_nsec);
        sym_archive_entry_set_size(w->e, (la_int64_t) len);
        sym_archive_entry_xattr_add_entry(w->e, ARCHIVE_META_CHECKSUM, hex, strlen(hex));

        r = writer_header(w);
        if (r < 0)
                return r;
        for (size_t done = 0; done < len;) {
                size_t n = MIN((size_t) CHUNK_SIZE, len - done);

                r = writer_data(w, (const uint8_t *) data + done, n);
                if (r < 0)
                        return r;
                done += n;
        }
        return writer_finish_entry(w);
}

int archive_writer_close(ArchiveWriter *w) {
        int r;

        if (!w)
                return -EINVAL;
        if (w->closed)
                return -EALREADY;
        if (w->broken)
                return -EIO;

        w->closed = true;
        r = sym_archive_write_close(w->a);
        if (r != ARCHIVE_OK)
                return archive_result_to_errno(w->a);
        r = zstd_feed(w, NULL, 0, ZSTD_e_end);
        if (r < 0)
                return r;
        /* The manifest's checksum of the whole file (block-sum.h), made as it was written. */
        r = write_queue_checksum(w->queue, w->file_sum);
        if (r < 0)
                return r;
        if (fsync(w->fd) < 0)
                return -errno;

        r = temp_commit(w->dirfd, w->tmpname, w->name, /* replace= */ false);
        if (r < 0)
                return r;
        w->tmpname[0] = 0;

        if (fsync(w->dirfd) < 0)
                return -errno;
        w->have_sum = true;
        return 0;
}

int archive_writer_get_checksum(const ArchiveWriter *w, char ret[static ARCHIVE_CHECKSUM_SIZE * 2 + 1]) {
        if (!w || !ret)
                return -EINVAL;
        if (!w->have_sum)
                return -EBUSY;
        checksum_to_hex(w->file_sum, ret);
        return 0;
}

void archive_writer_get_totals(const ArchiveWriter *w, uint64_t *ret_bytes, uint64_t *ret_files) {
        assert(w);

        if (ret_bytes)
                *ret_bytes = w->bytes;
        if (ret_files)
                *ret_files = w->files;
}

ArchiveWriter *archive_writer_free(ArchiveWriter *w) {
        if (!w)
                return NULL;

        /* Even when abandoned, let libarchive close the stream: after archive_write_fail()
         * archive_write_free() skips the close callbacks that release the filters' buffers, and
         * leaks them. The few bytes it writes go to the temporary file, unlinked below. */
        /* Whatever libarchive still writes while closing goes nowhere. */
        w->capture = false;
        if (w->sink_error == 0)
                w->sink_error = -ECANCELED;
        if (w->a)
                (void) sym_archive_write_free(w->a);
        sym_archive_entry_free(w->e);
        ZSTD_freeCCtx(w->zc);
        ZSTD_freeCCtx(w->probe);
        free(w->probe_out);
        /* Before the fd closes: what is still queued is dropped, the thread stopped. */
        w->queue = write_queue_free(w->queue);
        free(w->hdr);
        if (w->tmpname[0] && w->dirfd >= 0)
                (void) unlinkat(w->dirfd, w->tmpname, 0);
        closep(&w->fd);
        closep(&w->dirfd);
        tdestroy(w->links, free);
        XXH3_freeState(w->xxh);
        free(w->buf);
        free(w->name);
        free(w);
        return NULL;
}

/* ----------------------------------------------------------------------------------------- */
/* Reader                                                                                    */

typedef struct DeferredDir {
        char *path;
        mode_t mode;
        uid_t uid;
        gid_t gid;
        struct timespec mtime;
} DeferredDir;

struct ArchiveReader {
        struct archive *a;
        int fd;
        ZstdReader *zr;         /* libarchive's data source: decompressed on a thread of its own */
        ArchiveProgressFn progress;
        void *userdata;

        /* The current entry. */
        struct archive_entry *e;
        ArchiveEntry cur;
        char *path;
        ArchiveRanges ranges;
        const char *malformed;  /* why our metadata of this entry does not parse, or NULL */
        bool have_cur;
        bool consumed;
        bool broken;

        uint8_t *buf;
        XXH3_state_t *xxh;
        uint64_t bytes;
        uint64_t files;

        DeferredDir *dirs;
        size_t n_dirs;
        size_t alloc_dirs;
};

static void deferred_dirs_clear(ArchiveReader *r) {
        for (size_t i = 0; i < r->n_dirs; i++)
                free(r->dirs[i].path);
        r->n_dirs = 0;
}

/* libarchive's read callback: the next piece of decompressed archive. */
static la_ssize_t reader_source(struct archive *a, void *userdata, const void **buf) {
        ArchiveReader *r = userdata;
        ssize_t n = zstd_reader_next(r->zr, buf);

        if (n < 0) {
                sym_archive_set_error(a, (int) -n, "%s", strerror((int) -n));
                return -1;
        }
        return n;
}

int archive_reader_open(int dirfd, const char *name, ArchiveProgressFn progress, void *userdata, ArchiveReader **ret) {
        _cleanup_(archive_reader_freep) ArchiveReader *r = NULL;
        int k;

        assert(ret);

        if (isempty(name))
                return -EINVAL;
        k = archive_library_load();
        if (k < 0)
                return k;

        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->fd = -EBADF;
        r->progress = progress;
        r->userdata = userdata;

        r->fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (r->fd < 0)
                return -errno;

        r->buf = malloc(CHUNK_SIZE);
        r->xxh = XXH3_createState();
        r->a = sym_archive_read_new();
        if (!r->buf || !r->xxh || !r->a)
                return -ENOMEM;

        /* zstd is undone by zstd_reader, not by a libarchive filter: on its own thread. */
        if (sym_archive_read_support_format_tar(r->a) != ARCHIVE_OK)
                return archive_result_to_errno(r->a);
        /* The archive is read front to back: a larger kernel read-ahead. */
        (void) posix_fadvise(r->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        k = zstd_reader_new(r->fd, &r->zr);
        if (k < 0)
                return k;
        if (sym_archive_read_open(r->a, r, NULL, reader_source, NULL) != ARCHIVE_OK)
                return sym_archive_errno(r->a) > 0 ? -sym_archive_errno(r->a) : -EBADMSG;

        *ret = TAKE_PTR(r);
        return 0;
}

static int reader_fail(ArchiveReader *r) {
        r->broken = true;
        return -EBADMSG;
}

/* Take our vss-linux.* records out of the entry's attributes into cur. */
static void reader_parse_meta(ArchiveReader *r) {
        const char *name;
        const void *value;
        size_t size;
        bool have_ranges = false, have_size = false;
        uint64_t file_size = 0;

        sym_archive_entry_xattr_reset(r->e);
        while (sym_archive_entry_xattr_next(r->e, &name, &value, &size) == ARCHIVE_OK) {
                char text[64];

                if (!name || strncmp(name, ARCHIVE_META_PREFIX, strlen(ARCHIVE_META_PREFIX)) != 0)
                        continue;

                if (streq(name, ARCHIVE_META_CHECKSUM)) {
                        if (checksum_from_hex(value, size, r->cur.checksum) < 0)
                                r->malformed = "malformed checksum record";
                        else
                                r->cur.has_checksum = true;
                } else if (streq(name, ARCHIVE_META_RANGES)) {
                        _cleanup_free_ char *s = strndup(value, size);

                        archive_ranges_done(&r->ranges);
                        if (!s || strlen(s) != size || archive_ranges_parse(s, &r->ranges) < 0)
                                r->malformed = "malformed ranges record";
                        else
                                have_ranges = true;
                } else if (streq(name, ARCHIVE_META_FILE_SIZE)) {
                        const char *end;

                        if (size == 0 || size >= sizeof(text)) {
                                r->malformed = "malformed file size record";
                                continue;
                        }
                        memcpy(text, value, size);
                        text[size] = 0;
                        if (parse_u64(text, &end, &file_size) < 0 || *end)
                                r->malformed = "malformed file size record";
                        else
                                have_size = true;
                }
                /* Other vss-linux.* names are from a newer version: ignored. */
        }

        if (have_ranges != have_size)
                r->malformed = "partial file record incomplete";
        else if (have_ranges) {
                uint64_t total, end;

                if (r->cur.type != ARCHIVE_ENTRY_FILE || ranges_measure(&r->ranges, &total, &end) < 0 ||
                    total != r->cur.size || end > file_size)
                        r->malformed = "partial file ranges do not fit the entry";
                else {
                        r->cur.partial = true;
                        r->cur.ranges = &r->ranges;
                        r->cur.file_size = file_size;
                }
        }
}

static ArchiveEntryType entry_type_from(struct archive_entry *e) {
        if (sym_archive_entry_hardlink(e))
                return ARCHIVE_ENTRY_HARDLINK;
        switch (sym_archive_entry_filetype(e)) {
        case AE_IFREG:
                return ARCHIVE_ENTRY_FILE;
        case AE_IFDIR:
                return ARCHIVE_ENTRY_DIRECTORY;
        case AE_IFLNK:
                return ARCHIVE_ENTRY_SYMLINK;
        case AE_IFCHR:
                return ARCHIVE_ENTRY_CHAR_DEVICE;
        case AE_IFBLK:
                return ARCHIVE_ENTRY_BLOCK_DEVICE;
        case AE_IFIFO:
                return ARCHIVE_ENTRY_FIFO;
        default:
                return ARCHIVE_ENTRY_OTHER;
        }
}

/* A stored id that does not fit uid_t becomes -1: "leave as is" for fchown. */
static uint32_t id_from(la_int64_t v) {
        return v < 0 || v >= (la_int64_t) UINT32_MAX ? UINT32_MAX : (uint32_t) v;
}

int archive_reader_next(ArchiveReader *r, ArchiveEntry *ret) {
        const char *p;
        la_int64_t size;
        size_t len;
        int k;

        assert(r);
        assert(ret);

        if (r->broken)
                return -EBADMSG;

        r->have_cur = false;
        r->malformed = NULL;
        archive_ranges_done(&r->ranges);
        free(r->path);
        r->path = NULL;

        k = sym_archive_read_next_header(r->a, &r->e);
        if (k == ARCHIVE_EOF)
                return 0;
        if (k != ARCHIVE_OK && k != ARCHIVE_WARN)
                return reader_fail(r);

        r->cur = (ArchiveEntry) {};
        r->cur.type = entry_type_from(r->e);

        /* A directory's name may end in '/': strip it so the checks see the plain name. */
        p = sym_archive_entry_pathname(r->e);
        r->path = strdup(p ? p : "");
        if (!r->path)
                return -ENOMEM;
        len = strlen(r->path);
        while (r->cur.type == ARCHIVE_ENTRY_DIRECTORY && len > 1 && r->path[len - 1] == '/')
                r->path[--len] = 0;
        r->cur.path = r->path;

        r->cur.mode = sym_archive_entry_perm(r->e) & 07777;
        r->cur.uid = id_from(sym_archive_entry_uid(r->e));
        r->cur.gid = id_from(sym_archive_entry_gid(r->e));
        if (sym_archive_entry_mtime_is_set(r->e))
                r->cur.mtime = (struct timespec) { sym_archive_entry_mtime(r->e), sym_archive_entry_mtime_nsec(r->e) };
        else
                r->cur.mtime = (struct timespec) { 0, UTIME_OMIT };
        r->cur.rdev = sym_archive_entry_rdev(r->e);
        size = sym_archive_entry_size(r->e);
        if (size < 0)
                return reader_fail(r);
        r->cur.size = r->cur.file_size = (uint64_t) size;
        if (r->cur.type == ARCHIVE_ENTRY_HARDLINK)
                r->cur.link_target = sym_archive_entry_hardlink(r->e);
        else if (r->cur.type == ARCHIVE_ENTRY_SYMLINK)
                r->cur.link_target = sym_archive_entry_symlink(r->e);

        reader_parse_meta(r);

        r->have_cur = true;
        r->consumed = false;
        *ret = r->cur;
        return 1;
}

ArchiveReader *archive_reader_free(ArchiveReader *r) {
        if (!r)
                return NULL;

        if (r->a)
                (void) sym_archive_read_free(r->a);
        zstd_reader_free(r->zr);
        closep(&r->fd);
        deferred_dirs_clear(r);
        free(r->dirs);
        archive_ranges_done(&r->ranges);
        free(r->path);
        XXH3_freeState(r->xxh);
        free(r->buf);
        free(r);
        return NULL;
}

/*
 * Read the current entry's content in chunks, hashing it, handing each chunk to sink (may be
 * NULL: verify only). Returns 0 and the digest, -EBADMSG when the archive failed (reader now
 * broken), or the sink's error (the rest of the content is left for libarchive to skip).
 */
typedef int (*DataSinkFn)(const uint8_t *buf, size_t n, uint64_t pos, void *userdata);

/* Hash and hand on n bytes of content at pos (the piece reader_read_content got). */
static int reader_take(ArchiveReader *r, const uint8_t *buf, size_t n, uint64_t pos, DataSinkFn sink, void *userdata) {
        int k;

        XXH3_128bits_update(r->xxh, buf, n);
        if (sink) {
                k = sink(buf, n, pos, userdata);
                if (k < 0)
                        return k;
        }
        r->bytes += (uint64_t) n;
        if (r->progress)
                r->progress(r->bytes, r->files, r->userdata);
        return 0;
}

/*
 * The content comes as libarchive's blocks, pointing into the decompressed stream: no copy
 * into a buffer of ours. A block that starts past where the last one ended, or an end past
 * it, leaves a hole (only a sparse entry, which we never write, has them): its zeros are
 * taken like content, as archive_read_data would fill them in.
 */
static int reader_read_content(ArchiveReader *r, DataSinkFn sink, void *userdata, uint8_t ret_sum[ARCHIVE_CHECKSUM_SIZE]) {
        uint64_t pos = 0;

        XXH3_128bits_reset(r->xxh);
        for (;;) {
                const void *block;
                size_t n;
                la_int64_t off;
                bool eof;
                int k;

                k = sym_archive_read_data_block(r->a, &block, &n, &off);
                eof = k == ARCHIVE_EOF;
                if (eof)
                        n = 0;          /* off is the entry's end: a trailing hole is filled below */
                else if (k != ARCHIVE_OK && k != ARCHIVE_WARN)
                        return reader_fail(r);
                if (off < 0 || (uint64_t) off < pos || (uint64_t) off > r->cur.size || n > r->cur.size - (uint64_t) off)
                        return reader_fail(r);
                while (pos < (uint64_t) off) {
                        size_t z = (size_t) MIN((uint64_t) CHUNK_SIZE, (uint64_t) off - pos);

                        memset(r->buf, 0, z);
                        k = reader_take(r, r->buf, z, pos, sink, userdata);
                        if (k < 0)
                                return k;
                        pos += z;
                }
                if (eof)
                        break;
                if (n > 0) {
                        k = reader_take(r, block, n, pos, sink, userdata);
                        if (k < 0)
                                return k;
                        pos += n;
                }
        }
        if (pos != r->cur.size)
                return reader_fail(r);
        checksum_digest(r->xxh, ret_sum);
        return 0;
}

/* ----------------------------------------------------------------------------------------- */
/* Extracting                                                                                */

static void status_set(ArchiveFileStatus *s, ArchiveFileOutcome o, int error, const char *reason) {
        *s = (ArchiveFileStatus) { .outcome = o, .error = error, .reason = reason };
}

static mode_t effective_mode(const ArchiveEntry *e, const ArchiveExtractOptions *opts, ArchiveFileStatus *s) {
        mode_t m = e->mode & 07777;

        if ((m & (S_ISUID | S_ISGID)) && !opts->keep_setid) {
                m &= ~(mode_t) (S_ISUID | S_ISGID);
                s->reason = "setuid/setgid bits dropped";
        }
        return m;
}

static bool want_owner(const ArchiveExtractOptions *opts) {
        return opts->restore_owner && geteuid() == 0;
}

/* Owner, mode, xattrs, times on an open file, in the order that keeps each one. */
static int apply_metadata_fd(ArchiveReader *r, int fd, mode_t mode, const ArchiveExtractOptions *opts) {
        struct timespec ts[2] = { { 0, UTIME_OMIT }, r->cur.mtime };

        /* chown first: it clears setuid bits and file capabilities set before it. */
        if (want_owner(opts) && fchown(fd, r->cur.uid, r->cur.gid) < 0)
                return -errno;
        if (fchmod(fd, mode) < 0)
                return -errno;
        if (opts->restore_xattrs) {
                const char *name;
                const void *value;
                size_t size;

                sym_archive_entry_xattr_reset(r->e);
                while (sym_archive_entry_xattr_next(r->e, &name, &value, &size) == ARCHIVE_OK) {
                        if (!name || strncmp(name, ARCHIVE_META_PREFIX, strlen(ARCHIVE_META_PREFIX)) == 0)
                                continue;
                        /* Best effort: security.* needs privileges, some filesystems have no xattrs. */
                        (void) fsetxattr(fd, name, value, size, 0);
                }
        }
        if (futimens(fd, ts) < 0)
                return -errno;
        return 0;
}

typedef struct FileSink {
        int fd;
        const ArchiveRanges *ranges;   /* NULL: sequential */
        size_t range_idx;
        uint64_t range_done;
        uint64_t synced;               /* writeback started up to here (write_behind) */
} FileSink;

static int file_sink(const uint8_t *buf, size_t n, uint64_t pos, void *userdata) {
        FileSink *s = userdata;

        if (!s->ranges) {
                int r = pwrite_full(s->fd, buf, n, pos);

                if (r >= 0)
                        write_behind(s->fd, &s->synced, pos + n);
                return r;
        }

        /* Partial file: the stored bytes are the ranges one after the other. */
        while (n > 0) {
                const ArchiveRange *rg;
                size_t k;
                int r;

                if (s->range_idx >= s->ranges->n)
                        return -EBADMSG;
                rg = &s->ranges->items[s->range_idx];
                k = (size_t) MIN((uint64_t) n, rg->length - s->range_done);
                r = pwrite_full(s->fd, buf, k, rg->offset + s->range_done);
                if (r < 0)
                        return r;
                buf += k;
                n -= k;
                s->range_done += k;
                if (s->range_done == rg->length) {
                        s->range_idx++;
                        s->range_done = 0;
                }
        }
        return 0;
}

/* Copy the existing file under name into fd (the base a partial file's ranges go onto). */
static int copy_base(int dirfd, const char *name, int fd) {
        _cleanup_close_ int src = -EBADF;
        struct stat st;

        src = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (src < 0)
                return -errno;
        if (fstat(src, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EISDIR;

        for (;;) {
                ssize_t n = copy_file_range(src, NULL, fd, NULL, 64U * 1024U * 1024U, 0);

                if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == EOPNOTSUPP || errno == ENOSYS))
                        break;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return 0;
        }

        /* No copy_file_range here: a plain copy from wherever it stopped. */
        for (;;) {
                uint8_t buf[64 * 1024];
                ssize_t n = read(src, buf, sizeof(buf));

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return 0;
                for (ssize_t done = 0; done < n;) {
                        ssize_t k = write(fd, buf + done, (size_t) (n - done));

                        if (k < 0 && errno == EINTR)
                                continue;
                        if (k < 0)
                                return -errno;
                        done += k;
                }
        }
}

static int extract_regular(ArchiveReader *r, int pfd, const char *name, bool exists, const ArchiveExtractOptions *opts,
                           ArchiveFileStatus *s) {
        char tmp[TMP_NAME_SIZE];
        _cleanup_close_ int fd = -EBADF;
        uint8_t sum[ARCHIVE_CHECKSUM_SIZE];
        FileSink sink = {};
        mode_t mode;
        int k;

        mode = effective_mode(&r->cur, opts, s);

        fd = temp_make(pfd, make_regular, NULL, tmp);
        if (fd < 0) {
                status_set(s, ARCHIVE_FILE_FAILED, -fd, NULL);
                return 0;
        }

        if (r->cur.partial && exists) {
                k = copy_base(pfd, name, fd);
                if (k < 0)
                        goto fail;
        }

        sink = (FileSink) { .fd = fd, .ranges = r->cur.partial ? r->cur.ranges : NULL };
        k = reader_read_content(r, file_sink, &sink, sum);
        if (k == -EBADMSG && r->broken) {
                (void) unlinkat(pfd, tmp, 0);
                status_set(s, ARCHIVE_FILE_FAILED, EBADMSG, "archive truncated or corrupt");
                return -EBADMSG;
        }
        if (k < 0)
                goto fail;
        if (r->cur.has_checksum && memcmp(sum, r->cur.checksum, sizeof(sum)) != 0) {
                k = -EBADMSG;
                s->reason = "content does not match its checksum";
                goto fail;
        }
        if (ftruncate(fd, (off_t) r->cur.file_size) < 0) {
                k = -errno;
                goto fail;
        }

        k = apply_metadata_fd(r, fd, mode, opts);
        if (k < 0)
                goto fail;

        k = temp_commit(pfd, tmp, name, opts->overwrite);
        if (k == -EEXIST) {
                (void) unlinkat(pfd, tmp, 0);
                status_set(s, ARCHIVE_FILE_SKIPPED_EXISTS, 0, NULL);
                return 0;
        }
        if (k < 0)
                goto fail;
        s->outcome = ARCHIVE_FILE_RESTORED;
        return 0;

fail:
        (void) unlinkat(pfd, tmp, 0);
        status_set(s, ARCHIVE_FILE_FAILED, -k, s->reason);
        return 0;
}

/* Times (and owner) of a non-regular entry we just made under tmp; never followed. */
static int apply_metadata_at(ArchiveReader *r, int pfd, const char *tmp, mode_t mode, bool is_symlink,
                             const ArchiveExtractOptions *opts) {
        struct timespec ts[2] = { { 0, UTIME_OMIT }, r->cur.mtime };

        if (want_owner(opts) && fchownat(pfd, tmp, r->cur.uid, r->cur.gid, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        /* Symlinks have no mode of their own on Linux. For nodes, fchmodat follows symlinks,
         * but tmp is a name we just created with O_EXCL semantics in a directory we hold. */
        if (!is_symlink && fchmodat(pfd, tmp, mode, 0) < 0)
                return -errno;
        if (utimensat(pfd, tmp, ts, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        return 0;
}

typedef struct NodeArgs {
        ArchiveReader *r;
        mode_t mode;
        int link_dirfd;
        const char *link_name;
} NodeArgs;

static int make_symlink(int dirfd, const char *name, void *userdata) {
        NodeArgs *a = userdata;
        return symlinkat(a->r->cur.link_target, dirfd, name) < 0 ? -errno : 0;
}

static int make_hardlink(int dirfd, const char *name, void *userdata) {
        NodeArgs *a = userdata;
        /* flags 0: a symlink as the target is linked itself, never followed. */
        return linkat(a->link_dirfd, a->link_name, dirfd, name, 0) < 0 ? -errno : 0;
}

static int make_node(int dirfd, const char *name, void *userdata) {
        NodeArgs *a = userdata;
        mode_t type = a->r->cur.type == ARCHIVE_ENTRY_FIFO ? S_IFIFO :
                      a->r->cur.type == ARCHIVE_ENTRY_CHAR_DEVICE ? S_IFCHR : S_IFBLK;

        return mknodat(dirfd, name, type | (a->mode & 0777), a->r->cur.rdev) < 0 ? -errno : 0;
}

static int extract_other(ArchiveReader *r, int target_dirfd, int pfd, const char *name,
                         const ArchiveExtractOptions *opts, ArchiveFileStatus *s) {
        _cleanup_close_ int lfd = -EBADF;
        NodeArgs args = { .r = r };
        char tmp[TMP_NAME_SIZE];
        TempMakeFn make;
        int k;

        args.mode = effective_mode(&r->cur, opts, s);

        switch (r->cur.type) {
        case ARCHIVE_ENTRY_SYMLINK:
                if (isempty(r->cur.link_target) || strlen(r->cur.link_target) > SAFE_PATH_MAX) {
                        status_set(s, ARCHIVE_FILE_REFUSED_UNSAFE, EINVAL, "bad symlink target");
                        return 0;
                }
                make = make_symlink;
                break;
        case ARCHIVE_ENTRY_HARDLINK:
                k = safe_path_open_parent(target_dirfd, r->cur.link_target, /* create= */ false, 0, &lfd,
                                          &args.link_name);
                if (k == -ELOOP || k == -EXDEV) {
                        status_set(s, ARCHIVE_FILE_REFUSED_UNSAFE, -k, "hard link target path passes through a symlink");
                        return 0;
                }
                if (k < 0) {
                        status_set(s, ARCHIVE_FILE_FAILED, -k, "hard link target not restored");
                        return 0;
                }
                args.link_dirfd = lfd;
                make = make_hardlink;
                break;
        default:
                make = make_node;
                break;
        }

        k = temp_make(pfd, make, &args, tmp);
        if (k < 0) {
                status_set(s, ARCHIVE_FILE_FAILED, -k, r->cur.type == ARCHIVE_ENTRY_HARDLINK ? "hard link target not restored" : NULL);
                return 0;
        }

        /* A hard link shares the target's inode: its metadata is the target's business. */
        if (r->cur.type != ARCHIVE_ENTRY_HARDLINK) {
                k = apply_metadata_at(r, pfd, tmp, args.mode, r->cur.type == ARCHIVE_ENTRY_SYMLINK, opts);
                if (k < 0)
                        goto fail;
        }

        k = temp_commit(pfd, tmp, name, opts->overwrite);
        if (k == -EEXIST) {
                (void) unlinkat(pfd, tmp, 0);
                status_set(s, ARCHIVE_FILE_SKIPPED_EXISTS, 0, NULL);
                return 0;
        }
        if (k < 0)
                goto fail;
        s->outcome = ARCHIVE_FILE_RESTORED;
        return 0;

fail:
        (void) unlinkat(pfd, tmp, 0);
        status_set(s, ARCHIVE_FILE_FAILED, -k, NULL);
        return 0;
}

static int apply_dir_metadata(int target_dirfd, const DeferredDir *d, bool owner) {
        struct timespec ts[2] = { { 0, UTIME_OMIT }, d->mtime };
        _cleanup_close_ int fd = -EBADF;
        int k;

        k = safe_path_open_dir(target_dirfd, d->path, /* create= */ false, 0, &fd);
        if (k < 0)
                return k;
        if (owner && fchown(fd, d->uid, d->gid) < 0)
                return -errno;
        if (fchmod(fd, d->mode) < 0)
                return -errno;
        if (futimens(fd, ts) < 0)
                return -errno;
        return 0;
}

static int extract_directory(ArchiveReader *r, int target_dirfd, int pfd, const char *name, bool exists,
                             const ArchiveExtractOptions *opts, ArchiveFileStatus *s) {
        DeferredDir d;

        if (exists && !opts->overwrite) {
                status_set(s, ARCHIVE_FILE_SKIPPED_EXISTS, 0, NULL);
                return 0;
        }
        if (!exists && mkdirat(pfd, name, 0700) < 0 && errno != EEXIST) {
                status_set(s, ARCHIVE_FILE_FAILED, errno, NULL);
                return 0;
        }

        d = (DeferredDir) {
                .mode = effective_mode(&r->cur, opts, s),
                .uid = want_owner(opts) ? r->cur.uid : (uid_t) -1,
                .gid = want_owner(opts) ? r->cur.gid : (gid_t) -1,
                .mtime = r->cur.mtime,
        };

        /* Past the limit the metadata goes on now; only the time may then be disturbed. */
        if (r->n_dirs >= ARCHIVE_DEFERRED_DIRS_MAX) {
                d.path = r->path;
                int k = apply_dir_metadata(target_dirfd, &d, want_owner(opts));
                if (k < 0)
                        status_set(s, ARCHIVE_FILE_FAILED, -k, NULL);
                return 0;
        }
        if (r->n_dirs == r->alloc_dirs) {
                size_t na = r->alloc_dirs ? r->alloc_dirs * 2 : 64;
                DeferredDir *nd = reallocarray(r->dirs, na, sizeof(DeferredDir));
                if (!nd)
                        return -ENOMEM;
                r->dirs = nd;
                r->alloc_dirs = na;
        }
        d.path = strdup(r->path);
        if (!d.path)
                return -ENOMEM;
        r->dirs[r->n_dirs++] = d;
        return 0;
}

int archive_extract_entry(ArchiveReader *r, int target_dirfd, const ArchiveExtractOptions *opts,
                          ArchiveFileStatus *ret_status) {
        static const ArchiveExtractOptions defaults = {};
        _cleanup_close_ int pfd = -EBADF;
        ArchiveFileStatus s = { .outcome = ARCHIVE_FILE_RESTORED };
        const char *reason = NULL, *name;
        struct stat st;
        bool exists;
        int k;

        assert(r);
        assert(ret_status);

        if (!r->have_cur || r->consumed || r->broken)
                return -ESTALE;
        r->consumed = true;
        if (!opts)
                opts = &defaults;

        if (r->malformed) {
                status_set(ret_status, ARCHIVE_FILE_REFUSED_UNSAFE, EBADMSG, r->malformed);
                return 0;
        }
        if (safe_path_check(r->cur.path, opts->allow_control_chars, &reason) < 0) {
                status_set(ret_status, ARCHIVE_FILE_REFUSED_UNSAFE, EINVAL, reason);
                return 0;
        }
        switch (r->cur.type) {
        case ARCHIVE_ENTRY_OTHER:
                status_set(ret_status, ARCHIVE_FILE_REFUSED_UNSAFE, EOPNOTSUPP, "unsupported entry type");
                return 0;
        case ARCHIVE_ENTRY_CHAR_DEVICE:
        case ARCHIVE_ENTRY_BLOCK_DEVICE:
        case ARCHIVE_ENTRY_FIFO:
                if (!opts->allow_special) {
                        status_set(ret_status, ARCHIVE_FILE_REFUSED_UNSAFE, EPERM, "device node or FIFO not allowed");
                        return 0;
                }
                break;
        case ARCHIVE_ENTRY_HARDLINK:
                if (safe_path_check(r->cur.link_target, /* allow_control_chars= */ true, &reason) < 0) {
                        status_set(ret_status, ARCHIVE_FILE_REFUSED_UNSAFE, EXDEV, "hard link target outside the target");
                        return 0;
                }
                break;
        default:
                break;
        }

        k = safe_path_open_parent(target_dirfd, r->cur.path, /* create= */ true, 0755, &pfd, &name);
        if (k == -ELOOP || k == -EXDEV) {
                status_set(ret_status, ARCHIVE_FILE_REFUSED_UNSAFE, -k, "path passes through a symlink");
                return 0;
        }
        if (k < 0) {
                status_set(ret_status, ARCHIVE_FILE_FAILED, -k, NULL);
                return 0;
        }

        exists = fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) >= 0;
        if (!exists && errno != ENOENT) {
                status_set(ret_status, ARCHIVE_FILE_FAILED, errno, NULL);
                return 0;
        }

        if (r->cur.type == ARCHIVE_ENTRY_DIRECTORY) {
                if (exists && !S_ISDIR(st.st_mode) && opts->overwrite) {
                        status_set(ret_status, ARCHIVE_FILE_FAILED, ENOTDIR, "a non-directory is in the way");
                        return 0;
                }
                k = extract_directory(r, target_dirfd, pfd, name, exists, opts, &s);
        } else if (exists && !opts->overwrite) {
                status_set(&s, ARCHIVE_FILE_SKIPPED_EXISTS, 0, NULL);
        } else if (exists && S_ISDIR(st.st_mode)) {
                status_set(&s, ARCHIVE_FILE_FAILED, EISDIR, "a directory is in the way");
        } else if (r->cur.type == ARCHIVE_ENTRY_FILE) {
                k = extract_regular(r, pfd, name, exists, opts, &s);
        } else
                k = extract_other(r, target_dirfd, pfd, name, opts, &s);

        if (s.outcome == ARCHIVE_FILE_RESTORED)
                r->files++;
        *ret_status = s;
        return k < 0 ? k : 0;
}

int archive_extract_defer_to(ArchiveReader *from, ArchiveReader *into, int target_dirfd) {
        DeferredDir *nd;
        size_t n;

        assert(from && into);

        n = from->n_dirs + into->n_dirs;
        if (from->n_dirs == 0)
                return 0;
        if (n > ARCHIVE_DEFERRED_DIRS_MAX)
                return archive_extract_finish(from, target_dirfd);
        nd = reallocarray(into->dirs, MAX(n, into->alloc_dirs), sizeof(DeferredDir));
        if (!nd)
                return archive_extract_finish(from, target_dirfd);
        /* In front: archive_extract_finish goes from the back, so these come after into's own. */
        memmove(nd + from->n_dirs, nd, into->n_dirs * sizeof(DeferredDir));
        memcpy(nd, from->dirs, from->n_dirs * sizeof(DeferredDir));
        into->dirs = nd;
        into->alloc_dirs = MAX(n, into->alloc_dirs);
        into->n_dirs = n;
        from->n_dirs = 0;
        return 0;
}

int archive_extract_finish(ArchiveReader *r, int target_dirfd) {
        int ret = 0;

        assert(r);

        /* Children first (they follow their parents in the archive): a parent made read-only
         * last cannot get in the way. */
        for (size_t i = r->n_dirs; i > 0; i--) {
                const DeferredDir *d = &r->dirs[i - 1];
                int k;

                k = apply_dir_metadata(target_dirfd, d, d->uid != (uid_t) -1 || d->gid != (gid_t) -1);
                if (k < 0 && ret == 0)
                        ret = k;
        }
        deferred_dirs_clear(r);
        return ret;
}

const char *archive_file_outcome_to_string(ArchiveFileOutcome o) {
        switch (o) {
        case ARCHIVE_FILE_RESTORED:
                return "restored";
        case ARCHIVE_FILE_SKIPPED_EXISTS:
                return "skipped-exists";
        case ARCHIVE_FILE_REFUSED_UNSAFE:
                return "refused-unsafe";
        case ARCHIVE_FILE_FAILED:
                return "failed";
        }
        return "unknown";
}

/* ----------------------------------------------------------------------------------------- */
/* Verifying                                                                                 */

int archive_verify(int dirfd, const char *name, ArchiveVerifyFn cb, void *userdata, ArchiveVerifyStats *ret_stats) {
        _cleanup_(archive_reader_freep) ArchiveReader *r = NULL;
        ArchiveVerifyStats stats = {};
        ArchiveEntry e;
        int k;

        k = archive_reader_open(dirfd, name, NULL, NULL, &r);
        if (k < 0)
                return k;

        for (;;) {
                uint8_t sum[ARCHIVE_CHECKSUM_SIZE];
                ArchiveVerifyResult res = ARCHIVE_VERIFY_OK;

                k = archive_reader_next(r, &e);
                if (k == 0)
                        break;
                if (k < 0) {
                        stats.corrupt = true;
                        if (cb)
                                cb(r->path ? r->path : "", ARCHIVE_VERIFY_CORRUPT, userdata);
                        break;
                }
                stats.entries++;
                r->consumed = true;

                if (e.type == ARCHIVE_ENTRY_FILE) {
                        k = reader_read_content(r, NULL, NULL, sum);
                        if (k < 0) {
                                stats.corrupt = true;
                                if (cb)
                                        cb(e.path, ARCHIVE_VERIFY_CORRUPT, userdata);
                                break;
                        }
                        stats.bytes += e.size;
                        if (r->malformed)
                                res = ARCHIVE_VERIFY_MISMATCH;
                        else if (!e.has_checksum)
                                res = ARCHIVE_VERIFY_NO_CHECKSUM;
                        else if (memcmp(sum, e.checksum, sizeof(sum)) != 0)
                                res = ARCHIVE_VERIFY_MISMATCH;
                } else if (r->malformed)
                        res = ARCHIVE_VERIFY_MISMATCH;

                if (res == ARCHIVE_VERIFY_MISMATCH)
                        stats.mismatched++;
                else if (res == ARCHIVE_VERIFY_NO_CHECKSUM)
                        stats.unchecked++;
                if (res != ARCHIVE_VERIFY_OK && cb)
                        cb(e.path, res, userdata);
        }

        if (ret_stats)
                *ret_stats = stats;
        return stats.corrupt || stats.mismatched > 0 ? -EBADMSG : 0;
}
