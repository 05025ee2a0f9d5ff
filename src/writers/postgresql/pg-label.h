/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pg-label.h: what a PostgreSQL backup needs beyond the snapshot, and putting it back.
 *
 * pg_backup_stop() returns a backup label and a tablespace map that must be written into
 * the restored data directory (without them PostgreSQL would start crash recovery from the
 * wrong checkpoint), and the backup is only consistent once recovery has replayed the WAL up
 * to the backup's end record, which pg_backup_stop() itself writes, after the snapshot. So
 * a backup's "label set" is: backup_label, tablespace_map and the WAL segments from the
 * backup's start to its end (pg_wal/). The writer keeps one label set per snapshot set in
 * a directory of its own, <label-dir>/<snapshot-set-id>/, written under a temporary name
 * and renamed once complete, so a half-written set is never taken for a whole one.
 *
 * Internal style: functions return 0 or a negative errno; ret_* outputs are written only on
 * success.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define LABEL_FILE "backup_label"
#define TABLESPACE_MAP_FILE "tablespace_map"
#define LABEL_WAL_DIR "pg_wal"
/* A WAL segment name: timeline, log and segment, 8 hex digits each. */
#define WAL_NAME_LEN 24

/* A label set being written: <label_dir>/.<name>.tmp until label_set_commit(). */
typedef struct LabelSet {
        char *tmp;     /* the directory being filled */
        char *final;   /* where it goes on commit */
        int dir_fd;    /* open on tmp */
} LabelSet;

/* label_set_begin: create <label_dir>/.<name>.tmp (and its pg_wal/), replacing leftovers. */
int label_set_begin(const char *label_dir, const char *name, LabelSet *ret);
/* label_set_write: write one file (path relative to the set, e.g. "pg_wal/<segment>"), synced. */
int label_set_write(LabelSet *l, const char *path, const void *data, size_t size);
/* label_set_commit: sync and rename the set to <label_dir>/<name>, replacing an older one. */
int label_set_commit(LabelSet *l);
/* label_set_done: remove what is left of an uncommitted set and free l. Safe on a zeroed l. */
void label_set_done(LabelSet *l);

/*
 * label_sets_prune: keep the newest keep label sets in label_dir (by modification time),
 * remove the others. Only directories whose names are snapshot set ids are considered.
 */
int label_sets_prune(const char *label_dir, unsigned keep);

/*
 * wal_name_parse / wal_name_format: a WAL segment name and its (timeline, segment number),
 * for wal_segment_size bytes per segment (a power of two between 1 MiB and 1 GiB).
 */
int wal_name_parse(const char *name, uint64_t wal_segment_size, uint32_t *ret_tli, uint64_t *ret_segno);
void wal_name_format(uint32_t tli, uint64_t segno, uint64_t wal_segment_size, char buf[WAL_NAME_LEN + 1]);

/*
 * label_restore: prepare a restored data directory for PostgreSQL to recover from: copy the
 * label set set_dir's WAL segments into datadir/pg_wal (replacing the snapshot's older copies
 * of them), write tablespace_map (when not empty) and backup_label, and remove
 * postmaster.pid and postmaster.opts, which belonged to the server that was running when the
 * snapshot was taken. label and map are the texts to write; NULL takes them from the set's
 * files. A label given must equal the set's own (the WAL belongs to that backup). Refuses a
 * datadir a running postmaster works in (-EBUSY). New files get datadir's owner and mode
 * 0600. Returns 0 or a negative errno (logged).
 */
int label_restore(const char *set_dir, const char *datadir, const char *label, const char *map);

/*
 * The writer's backup metadata of a component in the backup components document
 * (docs/writers/postgresql.md, "Backup metadata"): a header of "key: value" lines, an empty
 * line, then the backup label and the tablespace map, back to back, sized by the header.
 */
#define PG_METADATA_MAGIC "vss-writer-postgresql backup metadata 1"
/* What a component's metadata may hold: the document's string limit, with room to spare. */
#define PG_METADATA_MAX 4000U

typedef struct PgMetadata {
        char *set_id;           /* the label set's name: the snapshot set id */
        char *data_dir;         /* the data directory at backup time */
        char *wal_first;        /* the WAL segments the label set holds, first and last */
        char *wal_last;
        char *label;            /* backup_label */
        char *map;              /* tablespace_map; NULL when only the label set holds it */
} PgMetadata;

/*
 * pg_metadata_format: the metadata text of m. When the text with the map would exceed
 * PG_METADATA_MAX, the map is left to the label set ("tablespace-map: label-set"); when even
 * that does not fit, -E2BIG. *ret is malloc'd.
 */
int pg_metadata_format(const PgMetadata *m, char **ret);
/* pg_metadata_parse: the inverse; -EBADMSG on anything malformed. Free with pg_metadata_done. */
int pg_metadata_parse(const char *text, PgMetadata *ret);
void pg_metadata_done(PgMetadata *m);
