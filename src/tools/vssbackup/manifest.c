/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * manifest.c: the manifest of one backup, the file that makes a directory a backup. It says
 * what kind of backup this is, when its snapshot was taken (the next incremental's "previous
 * backup time"), which backup it builds on, per volume the archive, the listing and the btrfs
 * generation, per component what SetBackupSucceeded said and the writer's backup stamp, and
 * the checksums of the documents stored beside it.
 *
 * Format: UTF-8 text, one "key=value" per line, values escaped (\\, \n, \r, \t, \xHH for other
 * control bytes) so any path or stamp fits on one line. Indexed keys ("volume.0.path") carry
 * the lists. Reading is strict and bounded: a manifest may come from a damaged disk or from
 * someone else, and a restore acts on what it says.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block-sum.h"
#include "safe-path.h"
#include "vss-bus.h"
#include "vssbackup.h"
#include "xxhash-util.h"

static const char *const type_names[] = {
        [VSS_BT_FULL] = "full",
        [VSS_BT_INCREMENTAL] = "incremental",
        [VSS_BT_DIFFERENTIAL] = "differential",
        [VSS_BT_LOG] = "log",
        [VSS_BT_COPY] = "copy",
};

int backup_type_from_string(const char *s, vss_backup_type *ret) {
        for (size_t i = 0; i < ELEMENTSOF(type_names); i++)
                if (type_names[i] && s && streq(type_names[i], s)) {
                        *ret = (vss_backup_type) i;
                        return 0;
                }
        return -EINVAL;
}

const char *backup_type_name(vss_backup_type t) {
        if ((size_t) t < ELEMENTSOF(type_names) && type_names[t])
                return type_names[t];
        return "unknown";
}

bool valid_backup_dir_name(const char *name) {
        return !isempty(name) && name[0] != '.' && !strchr(name, '/') && strlen(name) <= 255;
}

static void manifest_volume_done(ManifestVolume *v) {
        free(v->path);
        free(v->archive);
        free(v->archive_xxh128);
        free(v->listing);
        free(v->listing_xxh128);
        free(v->listing_filter);
        for (size_t i = 0; i < v->n_scopes; i++)
                free(v->scopes[i]);
        free(v->scopes);
}

static void manifest_component_done(ManifestComponent *c) {
        free(c->writer_name);
        free(c->logical_path);
        free(c->name);
        free(c->backup_stamp);
}

Manifest *manifest_free(Manifest *m) {
        if (!m)
                return NULL;
        free(m->dir_name);
        free(m->parent);
        free(m->base);
        free(m->bcd_source);
        free(m->other_archive);
        free(m->other_archive_xxh128);
        for (size_t i = 0; i < m->n_volumes; i++)
                manifest_volume_done(&m->volumes[i]);
        free(m->volumes);
        for (size_t i = 0; i < m->n_components; i++)
                manifest_component_done(&m->components[i]);
        free(m->components);
        for (size_t i = 0; i < m->n_documents; i++) {
                free(m->documents[i].kind);
                free(m->documents[i].name);
                free(m->documents[i].xxh128);
        }
        free(m->documents);
        free(m);
        return NULL;
}

const ManifestVolume *manifest_find_volume(const Manifest *m, const char *path) {
        for (size_t i = 0; i < m->n_volumes; i++)
                if (streq(m->volumes[i].path, path))
                        return &m->volumes[i];
        return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Writing                                                                                    */
/* ------------------------------------------------------------------------------------------ */

static void put_escaped(FILE *f, const char *s) {
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                switch (*p) {
                case '\\':
                        fputs("\\\\", f);
                        break;
                case '\n':
                        fputs("\\n", f);
                        break;
                case '\r':
                        fputs("\\r", f);
                        break;
                case '\t':
                        fputs("\\t", f);
                        break;
                default:
                        if (*p < 0x20 || *p == 0x7f)
                                fprintf(f, "\\x%02x", *p);
                        else
                                fputc(*p, f);
                }
}

static void put_str(FILE *f, const char *key, const char *value) {
        if (!value)
                return;
        fputs(key, f);
        fputc('=', f);
        put_escaped(f, value);
        fputc('\n', f);
}

static void put_u64(FILE *f, const char *key, uint64_t value) {
        fprintf(f, "%s=%" PRIu64 "\n", key, value);
}

static void put_id(FILE *f, const char *key, const vss_id *id) {
        char buf[VSS_ID_STRING_MAX];

        fprintf(f, "%s=%s\n", key, vss_id_format(id, buf));
}

static void put_indexed(FILE *f, const char *list, size_t i, const char *field, const char *value) {
        char key[64];

        snprintf(key, sizeof(key), "%s.%zu.%s", list, i, field);
        put_str(f, key, value);
}

static void put_indexed_u64(FILE *f, const char *list, size_t i, const char *field, uint64_t value) {
        char key[64];

        snprintf(key, sizeof(key), "%s.%zu.%s", list, i, field);
        put_u64(f, key, value);
}

static void manifest_format(FILE *f, const Manifest *m) {
        /* A manifest read in an older format is written back in it: its listings and checksums
         * are in that format's terms. */
        put_str(f, "format", m->format == 1 ? VB_MANIFEST_FORMAT_1 : m->format == 2 ? VB_MANIFEST_FORMAT_2 : VB_MANIFEST_FORMAT);
        put_id(f, "id", &m->id);
        put_str(f, "type", backup_type_name(m->type));
        fprintf(f, "created_ns=%" PRIi64 "\n", m->created_ns);
        fprintf(f, "snapshot_time=%" PRIi64 "\n", (int64_t) m->snapshot_time);
        put_str(f, "parent", m->parent);
        put_str(f, "base", m->base);
        put_u64(f, "chain_has_incremental", m->chain_has_incremental);
        put_u64(f, "chain_has_differential", m->chain_has_differential);
        put_u64(f, "with_writers", m->with_writers);
        put_u64(f, "complete", m->complete);
        put_str(f, "bcd_source", m->bcd_source);
        put_str(f, "other_archive", m->other_archive);
        put_str(f, "other_archive_xxh128", m->other_archive_xxh128);
        if (m->other_archive)
                put_u64(f, "other_files", m->other_files);

        for (size_t i = 0; i < m->n_volumes; i++) {
                const ManifestVolume *v = &m->volumes[i];

                put_indexed(f, "volume", i, "path", v->path);
                put_indexed_u64(f, "volume", i, "generation", v->generation);
                put_indexed(f, "volume", i, "archive", v->archive);
                put_indexed(f, "volume", i, "archive_xxh128", v->archive_xxh128);
                put_indexed(f, "volume", i, "listing", v->listing);
                put_indexed(f, "volume", i, "listing_xxh128", v->listing_xxh128);
                if (m->format != 1) {
                        put_indexed_u64(f, "volume", i, "listing_delta", v->listing_delta);
                        put_indexed(f, "volume", i, "listing_filter", v->listing_filter);
                }
                put_indexed_u64(f, "volume", i, "files", v->files);
                put_indexed_u64(f, "volume", i, "bytes", v->bytes);
                put_indexed_u64(f, "volume", i, "failed", v->failed);
                for (size_t k = 0; k < v->n_scopes; k++) {
                        char field[32];

                        snprintf(field, sizeof(field), "scope.%zu", k);
                        put_indexed(f, "volume", i, field, v->scopes[k]);
                }
        }
        for (size_t i = 0; i < m->n_components; i++) {
                const ManifestComponent *c = &m->components[i];
                char buf[VSS_ID_STRING_MAX];

                put_indexed(f, "component", i, "instance", vss_id_format(&c->instance_id, buf));
                put_indexed(f, "component", i, "writer", vss_id_format(&c->writer_id, buf));
                put_indexed(f, "component", i, "writer_name", c->writer_name);
                put_indexed(f, "component", i, "type", c->type == VSS_CT_DATABASE ? "database" : "filegroup");
                put_indexed(f, "component", i, "logical_path", c->logical_path);
                put_indexed(f, "component", i, "name", c->name);
                put_indexed_u64(f, "component", i, "succeeded", c->succeeded);
                put_indexed(f, "component", i, "backup_stamp", c->backup_stamp);
        }
        for (size_t i = 0; i < m->n_documents; i++) {
                put_indexed(f, "document", i, "kind", m->documents[i].kind);
                put_indexed(f, "document", i, "name", m->documents[i].name);
                put_indexed(f, "document", i, "xxh128", m->documents[i].xxh128);
        }
}

int manifest_write(int dirfd, const Manifest *m) {
        static const char tmp_name[] = ".manifest.tmp";
        _cleanup_free_ char *text = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t len = 0;
        FILE *f;

        assert(m);

        f = open_memstream(&text, &len);
        if (!f)
                return -ENOMEM;
        manifest_format(f, m);
        if (fclose(f) != 0)
                return -ENOMEM;

        (void) unlinkat(dirfd, tmp_name, 0);
        fd = openat(dirfd, tmp_name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        for (size_t done = 0; done < len;) {
                ssize_t n = write(fd, text + done, len - done);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                done += (size_t) n;
        }
        if (fsync(fd) < 0)
                return -errno;
        if (renameat(dirfd, tmp_name, dirfd, VB_MANIFEST_NAME) < 0)
                return -errno;
        if (fsync(dirfd) < 0)
                return -errno;
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Reading                                                                                    */
/* ------------------------------------------------------------------------------------------ */

typedef struct ParseState {
        Manifest *m;
        PathSet *seen_keys;
        char **reterr_message;
        unsigned line;
} ParseState;

static int parse_fail(ParseState *p, const char *what, const char *key) {
        if (p->reterr_message && !*p->reterr_message &&
            asprintf(p->reterr_message, "line %u: %s%s%s", p->line, what, key ? ": " : "", strempty(key)) < 0)
                *p->reterr_message = NULL; /* no message rather than an undefined one */
        return -EBADMSG;
}

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Unescapes in place; -EBADMSG for a bad escape or an escaped NUL. */
static int unescape(char *s) {
        char *w = s;

        for (const char *r = s; *r; r++) {
                if (*r != '\\') {
                        *w++ = *r;
                        continue;
                }
                r++;
                switch (*r) {
                case '\\':
                        *w++ = '\\';
                        break;
                case 'n':
                        *w++ = '\n';
                        break;
                case 'r':
                        *w++ = '\r';
                        break;
                case 't':
                        *w++ = '\t';
                        break;
                case 'x': {
                        int hi = hexval(r[1]), lo = hi >= 0 ? hexval(r[2]) : -1;

                        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                                return -EBADMSG;
                        *w++ = (char) (hi * 16 + lo);
                        r += 2;
                        break;
                }
                default:
                        return -EBADMSG;
                }
        }
        *w = 0;
        return 0;
}

static int parse_u64(const char *s, uint64_t *ret) {
        char *end;
        unsigned long long v;

        if (!s[0] || s[0] == '-' || s[0] == '+' || s[0] == ' ')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0 || *end)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_i64(const char *s, int64_t *ret) {
        char *end;
        long long v;

        if (!s[0] || s[0] == ' ' || s[0] == '+')
                return -EINVAL;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno != 0 || *end)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_bool(const char *s, bool *ret) {
        if (streq(s, "0") || streq(s, "1")) {
                *ret = s[0] == '1';
                return 0;
        }
        return -EINVAL;
}

static bool valid_hex128(const char *s) {
        if (strlen(s) != 32)
                return false;
        for (const char *p = s; *p; p++)
                if (hexval(*p) < 0 || (*p >= 'A' && *p <= 'F'))
                        return false;
        return true;
}

static int set_string(char **field, const char *value) {
        char *copy = strdup(value);

        if (!copy)
                return -ENOMEM;
        free(*field);
        *field = copy;
        return 0;
}

/* Grows *array of n_items elements of size to hold index i, within max. */
static int grow_to(void **array, size_t *n_items, size_t size, size_t i, size_t max) {
        void *p;

        if (i >= max)
                return -E2BIG;
        if (i < *n_items)
                return 0;
        p = realloc(*array, (i + 1) * size);
        if (!p)
                return -ENOMEM;
        memset((char *) p + *n_items * size, 0, (i + 1 - *n_items) * size);
        *array = p;
        *n_items = i + 1;
        return 0;
}

/* "list.N.field": *ret_index and *ret_field (pointing into key). -EINVAL when not of that form. */
static int split_indexed(const char *key, const char *list, size_t *ret_index, const char **ret_field) {
        size_t l = strlen(list);
        const char *p = key + l + 1;
        size_t i = 0;

        if (strncmp(key, list, l) != 0 || key[l] != '.' || *p < '0' || *p > '9' || (*p == '0' && p[1] != '.'))
                return -EINVAL;
        for (; *p >= '0' && *p <= '9'; p++) {
                if (i > 100000000)
                        return -EINVAL;
                i = i * 10 + (size_t) (*p - '0');
        }
        if (*p != '.' || !p[1])
                return -EINVAL;
        *ret_index = i;
        *ret_field = p + 1;
        return 0;
}

static int parse_volume_field(ParseState *p, size_t i, const char *field, const char *value) {
        ManifestVolume *v;
        int r;

        r = grow_to((void **) &p->m->volumes, &p->m->n_volumes, sizeof(ManifestVolume), i, VB_MAX_VOLUMES);
        if (r < 0)
                return r == -E2BIG ? parse_fail(p, "too many volumes", NULL) : r;
        v = &p->m->volumes[i];

        if (streq(field, "path"))
                return set_string(&v->path, value);
        if (streq(field, "archive"))
                return set_string(&v->archive, value);
        if (streq(field, "archive_xxh128"))
                return set_string(&v->archive_xxh128, value);
        if (streq(field, "listing"))
                return set_string(&v->listing, value);
        if (streq(field, "listing_xxh128"))
                return set_string(&v->listing_xxh128, value);
        if (streq(field, "generation"))
                return parse_u64(value, &v->generation) < 0 ? parse_fail(p, "bad number", field) : 0;
        if (streq(field, "listing_delta") && p->m->format >= 2) {
                uint64_t d;

                if (parse_u64(value, &d) < 0 || d > 1)
                        return parse_fail(p, "bad flag", field);
                v->listing_delta = d;
                return 0;
        }
        if (streq(field, "listing_filter") && p->m->format >= 2)
                return set_string(&v->listing_filter, value);
        if (streq(field, "files"))
                return parse_u64(value, &v->files) < 0 ? parse_fail(p, "bad number", field) : 0;
        if (streq(field, "bytes"))
                return parse_u64(value, &v->bytes) < 0 ? parse_fail(p, "bad number", field) : 0;
        if (streq(field, "failed"))
                return parse_u64(value, &v->failed) < 0 ? parse_fail(p, "bad number", field) : 0;
        if (strncmp(field, "scope.", 6) == 0) {
                uint64_t k;

                /* Dense, in order (a scope index is only ever one past the last). */
                if (parse_u64(field + 6, &k) < 0 || k != v->n_scopes || (field[6] == '0' && field[7]))
                        return parse_fail(p, "scope out of order", field);
                if (v->n_scopes >= VB_MAX_SCOPES)
                        return parse_fail(p, "too many scopes", NULL);
                if (value[0] && safe_path_check(value, false, NULL) < 0)
                        return parse_fail(p, "a scope is not a clean relative path", value);
                r = grow_to((void **) &v->scopes, &v->n_scopes, sizeof(char *), (size_t) k, VB_MAX_SCOPES);
                if (r < 0)
                        return r;
                return set_string(&v->scopes[k], value);
        }
        return parse_fail(p, "unknown volume field", field);
}

static int parse_component_field(ParseState *p, size_t i, const char *field, const char *value) {
        ManifestComponent *c;
        int r;

        r = grow_to((void **) &p->m->components, &p->m->n_components, sizeof(ManifestComponent), i,
                    VSS_MAX_COMPONENTS * 2);
        if (r < 0)
                return r == -E2BIG ? parse_fail(p, "too many components", NULL) : r;
        c = &p->m->components[i];

        if (streq(field, "instance"))
                return vss_id_parse(value, &c->instance_id) != S_OK ? parse_fail(p, "bad id", field) : 0;
        if (streq(field, "writer"))
                return vss_id_parse(value, &c->writer_id) != S_OK ? parse_fail(p, "bad id", field) : 0;
        if (streq(field, "writer_name"))
                return set_string(&c->writer_name, value);
        if (streq(field, "type")) {
                if (streq(value, "database"))
                        c->type = VSS_CT_DATABASE;
                else if (streq(value, "filegroup"))
                        c->type = VSS_CT_FILEGROUP;
                else
                        return parse_fail(p, "bad component type", value);
                return 0;
        }
        if (streq(field, "logical_path"))
                return set_string(&c->logical_path, value);
        if (streq(field, "name"))
                return set_string(&c->name, value);
        if (streq(field, "succeeded"))
                return parse_bool(value, &c->succeeded) < 0 ? parse_fail(p, "bad boolean", field) : 0;
        if (streq(field, "backup_stamp"))
                return set_string(&c->backup_stamp, value);
        return parse_fail(p, "unknown component field", field);
}

static int parse_document_field(ParseState *p, size_t i, const char *field, const char *value) {
        ManifestDocument *d;
        int r;

        r = grow_to((void **) &p->m->documents, &p->m->n_documents, sizeof(ManifestDocument), i,
                    VB_MAX_DOCUMENTS);
        if (r < 0)
                return r == -E2BIG ? parse_fail(p, "too many documents", NULL) : r;
        d = &p->m->documents[i];

        if (streq(field, "kind"))
                return set_string(&d->kind, value);
        if (streq(field, "name"))
                return set_string(&d->name, value);
        if (streq(field, "xxh128"))
                return set_string(&d->xxh128, value);
        return parse_fail(p, "unknown document field", field);
}

static int parse_line(ParseState *p, char *line) {
        Manifest *m = p->m;
        const char *field;
        char *eq, *key, *value;
        size_t i;
        int r;

        eq = strchr(line, '=');
        if (!eq || eq == line)
                return parse_fail(p, "not key=value", NULL);
        *eq = 0;
        key = line;
        value = eq + 1;
        if (unescape(value) < 0)
                return parse_fail(p, "bad escape in the value of", key);

        r = pathset_put(p->seen_keys, key, 'k');
        if (r < 0)
                return r;
        if (r == 0)
                return parse_fail(p, "repeated key", key);

        if (streq(key, "format")) {
                /* First, so every later line is read in its format's terms. */
                if (p->m->format != 0)
                        return parse_fail(p, "the format line is not the first", NULL);
                if (streq(value, VB_MANIFEST_FORMAT))
                        m->format = 3;
                else if (streq(value, VB_MANIFEST_FORMAT_2))
                        m->format = 2;
                else if (streq(value, VB_MANIFEST_FORMAT_1))
                        m->format = 1;
                else
                        return parse_fail(p, "unknown format (written by a newer vssbackup?)", value);
                return 0;
        }
        if (m->format == 0)
                return parse_fail(p, "the format line is not the first", NULL);
        if (streq(key, "id"))
                return vss_id_parse(value, &m->id) != S_OK ? parse_fail(p, "bad id", NULL) : 0;
        if (streq(key, "type"))
                return backup_type_from_string(value, &m->type) < 0 ? parse_fail(p, "bad backup type", value) : 0;
        if (streq(key, "created_ns"))
                return parse_i64(value, &m->created_ns) < 0 ? parse_fail(p, "bad number", key) : 0;
        if (streq(key, "snapshot_time")) {
                int64_t t;

                if (parse_i64(value, &t) < 0 || t < 0)
                        return parse_fail(p, "bad time", key);
                m->snapshot_time = t;
                return 0;
        }
        if (streq(key, "parent"))
                return set_string(&m->parent, value);
        if (streq(key, "base"))
                return set_string(&m->base, value);
        if (streq(key, "chain_has_incremental"))
                return parse_bool(value, &m->chain_has_incremental) < 0 ? parse_fail(p, "bad boolean", key) : 0;
        if (streq(key, "chain_has_differential"))
                return parse_bool(value, &m->chain_has_differential) < 0 ? parse_fail(p, "bad boolean", key) : 0;
        if (streq(key, "with_writers"))
                return parse_bool(value, &m->with_writers) < 0 ? parse_fail(p, "bad boolean", key) : 0;
        if (streq(key, "complete"))
                return parse_bool(value, &m->complete) < 0 ? parse_fail(p, "bad boolean", key) : 0;
        if (streq(key, "bcd_source"))
                return set_string(&m->bcd_source, value);
        if (streq(key, "other_archive"))
                return set_string(&m->other_archive, value);
        if (streq(key, "other_archive_xxh128"))
                return set_string(&m->other_archive_xxh128, value);
        if (streq(key, "other_files"))
                return parse_u64(value, &m->other_files) < 0 ? parse_fail(p, "bad number", key) : 0;

        if (split_indexed(key, "volume", &i, &field) == 0)
                return parse_volume_field(p, i, field, value);
        if (split_indexed(key, "component", &i, &field) == 0)
                return parse_component_field(p, i, field, value);
        if (split_indexed(key, "document", &i, &field) == 0)
                return parse_document_field(p, i, field, value);
        return parse_fail(p, "unknown key", key);
}

/* What must hold after every line parsed: the fields a restore relies on. */
static int manifest_validate(ParseState *p) {
        Manifest *m = p->m;

        p->line = 0;
        if (vss_id_is_null(&m->id) || m->type == VSS_BT_UNDEFINED)
                return parse_fail(p, "id or type missing", NULL);
        if ((m->parent && !valid_backup_dir_name(m->parent)) || (m->base && !valid_backup_dir_name(m->base)))
                return parse_fail(p, "parent or base is not a plain directory name", NULL);
        if ((m->type == VSS_BT_INCREMENTAL || m->type == VSS_BT_DIFFERENTIAL) != (m->parent && m->base))
                return parse_fail(p, "parent and base must be given exactly for incrementals and differentials",
                                  NULL);
        if (m->other_archive && !valid_backup_dir_name(m->other_archive))
                return parse_fail(p, "bad other_archive", NULL);
        if (m->other_archive_xxh128 && (!m->other_archive || !valid_hex128(m->other_archive_xxh128)))
                return parse_fail(p, "bad other_archive_xxh128", NULL);
        for (size_t i = 0; i < m->n_volumes; i++) {
                const ManifestVolume *v = &m->volumes[i];

                if (!v->path || v->path[0] != '/' || !valid_backup_dir_name(v->archive) ||
                    !valid_backup_dir_name(v->listing) || !v->listing_xxh128 || !valid_hex128(v->listing_xxh128))
                        return parse_fail(p, "a volume lacks its path, archive, listing or checksum", NULL);
                if (v->archive_xxh128 && !valid_hex128(v->archive_xxh128))
                        return parse_fail(p, "bad archive checksum", v->path);
                if (v->listing_filter && !valid_hex128(v->listing_filter))
                        return parse_fail(p, "bad listing filter", v->path);
                if (v->listing_delta && m->type != VSS_BT_INCREMENTAL && m->type != VSS_BT_DIFFERENTIAL)
                        return parse_fail(p, "a delta listing in a backup that builds on nothing", v->path);
                for (size_t j = 0; j < i; j++)
                        if (streq(m->volumes[j].path, v->path))
                                return parse_fail(p, "a volume is listed twice", v->path);
        }
        for (size_t i = 0; i < m->n_components; i++)
                if (!m->components[i].name || !m->components[i].logical_path || m->components[i].type == 0)
                        return parse_fail(p, "a component lacks its name, path or type", NULL);
        for (size_t i = 0; i < m->n_documents; i++)
                if (!m->documents[i].kind || !valid_backup_dir_name(m->documents[i].name) ||
                    !m->documents[i].xxh128 || !valid_hex128(m->documents[i].xxh128))
                        return parse_fail(p, "a document lacks its kind, name or checksum", NULL);
        return 0;
}

int manifest_read(int dirfd, Manifest **ret, char **reterr_message) {
        _cleanup_(manifest_freep) Manifest *m = NULL;
        _cleanup_(pathset_freep) PathSet *keys = NULL;
        _cleanup_free_ char *text = NULL;
        _cleanup_close_ int fd = -EBADF;
        ParseState p = { .reterr_message = reterr_message };
        struct stat st;
        size_t len = 0;
        char *line;
        int r;

        fd = openat(dirfd, VB_MANIFEST_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || st.st_size > (off_t) VB_MAX_MANIFEST_BYTES) {
                if (reterr_message)
                        *reterr_message = strdup("the manifest is not a regular file of sane size");
                return -EBADMSG;
        }
        text = malloc((size_t) st.st_size + 1);
        if (!text)
                return -ENOMEM;
        while (len < (size_t) st.st_size) {
                ssize_t n = read(fd, text + len, (size_t) st.st_size - len);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t) n;
        }
        text[len] = 0;
        if (strlen(text) != len) {
                if (reterr_message)
                        *reterr_message = strdup("the manifest holds a NUL byte");
                return -EBADMSG;
        }

        m = calloc(1, sizeof(*m));
        keys = pathset_new();
        if (!m || !keys)
                return -ENOMEM;
        p.m = m;
        p.seen_keys = keys;

        line = text;
        while (*line) {
                char *nl = strchr(line, '\n');

                p.line++;
                if (!nl) {
                        (void) parse_fail(&p, "the last line is not terminated", NULL);
                        return -EBADMSG;
                }
                *nl = 0;
                r = parse_line(&p, line);
                if (r < 0)
                        return r;
                line = nl + 1;
        }
        if (!pathset_get(keys, "format", NULL)) {
                p.line = 0;
                return parse_fail(&p, "no format line", NULL);
        }
        r = manifest_validate(&p);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(m);
        return 0;
}

static void hex_of(const uint8_t *b, size_t n, char *hex) {
        for (size_t i = 0; i < n; i++)
                snprintf(hex + 2 * i, 3, "%02x", b[i]);
}

static int open_checked(int dirfd, const char *name) {
        int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);

        if (fd < 0 && errno == EPERM)
                fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

int archive_checksum(const Manifest *m, int dirfd, const char *name, char hex[static 33]) {
        _cleanup_close_ int fd = -EBADF;
        uint8_t sum[BLOCK_SUM_SIZE];
        int r;

        if (m->format == 1 || m->format == 2)
                return file_xxh128(dirfd, name, hex);
        fd = open_checked(dirfd, name);
        if (fd < 0)
                return fd;
        r = block_sum_file(fd, sum);
        if (r < 0)
                return r;
        hex_of(sum, sizeof(sum), hex);
        return 0;
}

int file_xxh128(int dirfd, const char *name, char hex[static 33]) {
        _cleanup_close_ int fd = -EBADF;
        XXH128_canonical_t c;
        XXH3_state_t *st;
        char buf[64 * 1024];
        int r = 0;

        fd = open_checked(dirfd, name);
        if (fd < 0)
                return fd;
        st = XXH3_createState();
        if (!st)
                return -ENOMEM;
        XXH3_128bits_reset(st);
        for (;;) {
                ssize_t n = read(fd, buf, sizeof(buf));

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        break;
                }
                if (n == 0)
                        break;
                XXH3_128bits_update(st, buf, (size_t) n);
        }
        if (r == 0) {
                XXH128_canonicalFromHash(&c, XXH3_128bits_digest(st));
                hex_of(c.digest, sizeof(c.digest), hex);
        }
        XXH3_freeState(st);
        return r;
}
