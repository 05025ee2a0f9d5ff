/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * snapshot-catalog.c: finished snapshots, their lifecycle rows in the SQLite catalog, start-up
 * recovery and exposure (snapshot-catalog.h).
 *
 * The rule every function here keeps: write the row that names an action before the action,
 * remove it after. Then a crash between the two leaves a row, and recovery (catalog_open)
 * either undoes the action (anything not CREATED, anything auto-release) or keeps it
 * (persistent snapshots). In memory only CREATED snapshots are records; in-creation ones live
 * in their SnapshotSet until catalog_add_set.
 *
 * After recovery, reconciliation compares the catalog with the providers' own storage
 * (query, get_properties) and removes what only one side has; see snapshot-catalog.h.
 *
 * Exposures follow provider-util.h's mount contract: a target is resolved without following a
 * symlink anywhere in its path and pinned by a descriptor that the provider mounts on, so the
 * directory checked (empty, the caller's) is the one mounted on even if the path is swapped
 * meanwhile; the mount is then recorded by its kernel ids with the caller's credentials, and
 * every unmount (unexpose, delete, release, recovery) finds it by those ids wherever it is
 * now. A path alone never decides what is unmounted: an owner of an ancestor directory can
 * rename it away and put a symlink to anywhere in its place.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "providers/provider-registry.h"
#include "providers/provider-util.h"
#include "vss-bus.h"
#include "vssd/log.h"
#include "vssd/snapshot-catalog.h"
#include "vssd/snapshot-set.h"

static char *mfree_str(char *s) {
        free(s);
        return NULL;
}

/* The HRESULT for a failed catalog write. */
static vss_hr hr_from_db(int r) {
        if (r == -ENOMEM)
                return E_OUTOFMEMORY;
        if (r == -ENOSPC)
                return VSS_E_INSUFFICIENT_STORAGE;
        return VSS_E_UNEXPECTED;
}

static int mkdir_parents_and_self(const char *path, mode_t mode) {
        _cleanup_free_ char *p = strdup(path);

        if (!p)
                return -ENOMEM;
        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = 0;
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

/* path with symlinks resolved in its longest existing prefix (the rest kept as written);
 * malloc'd, NULL only when out of memory. For vssd's own configured directories only. */
static char *path_resolve_existing(const char *path) {
        _cleanup_free_ char *head = strdup(path);
        char *slash;

        if (!head)
                return NULL;
        for (;;) {
                _cleanup_free_ char *real = realpath(head, NULL);
                char *r = NULL;

                if (real) {
                        if (asprintf(&r, "%s%s", streq(real, "/") ? "" : real, path + strlen(head)) < 0)
                                return NULL;
                        return r;
                }
                slash = strrchr(head, '/');
                if (!slash || slash == head)
                        return strdup(path);
                *slash = 0;
        }
}

static bool path_is_below(const char *path, const char *dir) {
        size_t n = strlen(dir);

        return dir && strncmp(path, dir, n) == 0 && path[n] == '/' && path[n + 1] && !strchr(path + n + 1, '/');
}

/* Removes vssd's own exposure directory <expose_dir>/<id> at path, if that is what path is. */
static void own_dir_remove(SnapshotCatalog *c, const char *path) {
        _cleanup_close_ int parent = -EBADF;
        _cleanup_free_ char *name = NULL;

        if (!path_is_below(path, c->expose_dir) || path_open_parent_nofollow(path, &parent, &name) < 0)
                return;
        if (unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
                log_warning_errno(-errno, "Could not remove exposure directory %s: %m", path);
}

static MountRef mount_ref_from_row(const CatalogExposure *e) {
        MountRef ref = {
                .id = e->mount_id,
                .unique_id = e->mount_unique_id,
        };

        snprintf(ref.boot_id, sizeof(ref.boot_id), "%s", strempty(e->boot_id));
        return ref;
}

/*
 * Undo an exposure on disk: find its mount by id wherever it is now (provider-util.h), unmount
 * it there (lazily when asked: release and recovery), and remove the directory if vssd made
 * it and the mount was still in it. A mount recorded without ids is unmounted only when it is
 * provably snap's bind mount. S_OK when the mount is gone (also when it already was);
 * otherwise the exposure stays recorded and *detail says why.
 */
static vss_hr exposure_remove(SnapshotCatalog *c, VssProvider *ops, const ProviderSnapshot *snap,
                              const char *path, const MountRef *recorded, bool lazy, const char **detail) {
        MountHandle h = MOUNT_HANDLE_NULL;
        MountRef ref = *recorded;
        vss_hr hr;
        int k;

        if (!mount_ref_is_set(&ref)) {
                k = mount_adopt(path, snap ? snap->device : NULL, &ref);
                if (k == 0 || k == -ENOENT) {
                        own_dir_remove(c, path);
                        return S_OK;
                }
                if (k < 0) {
                        log_warning_errno(k, "The exposure at %s was recorded without its mount id, and what is mounted "
                                          "there cannot be shown to be it; leaving it alone: %m", path);
                        *detail = "the exposure was recorded without its mount id and what is mounted there cannot be "
                                  "shown to be it; unmount it by hand";
                        return VSS_E_BAD_STATE;
                }
        }

        k = mount_locate(path, &ref, &h);
        if (k == 0) {
                own_dir_remove(c, path);
                return S_OK;
        }
        if (k < 0) {
                if (k == -EUCLEAN)
                        log_warning("The mount of the exposure made at %s (mount id %" PRIu64 ") cannot be reached "
                                    "without following a symlink, or is covered by another mount; it stays recorded.",
                                    path, ref.id);
                else
                        log_warning_errno(k, "Could not look for the mount of the exposure made at %s (mount id %" PRIu64
                                          "); it stays recorded: %m", path, ref.id);
                *detail = "the exposure's mount was moved where it cannot be reached safely (or is covered); "
                          "it stays recorded";
                return VSS_E_BAD_STATE;
        }
        if (h.moved)
                log_warning("The exposure made at %s was moved to %s; unmounting it there.", path, h.path);

        if (ops && ops->unexpose) {
                hr = ops->unexpose(ops, snap, mount_handle_target(&h));
                if (hr != VSS_E_VOLUME_IN_USE)
                        hr = provider_hr_sanitize(hr);
                if (hr == VSS_E_VOLUME_IN_USE && lazy)
                        hr = mount_handle_unmount(&h, true) < 0 ? VSS_E_VOLUME_IN_USE : S_OK;
        } else {
                k = mount_handle_unmount(&h, lazy);
                hr = k == -EBUSY ? VSS_E_VOLUME_IN_USE : k < 0 ? vss_hr_from_errno(k) : S_OK;
        }
        if (hr == VSS_E_VOLUME_IN_USE)
                *detail = "the exposure is in use";
        else if (VSS_FAILED(hr))
                *detail = "the exposure could not be unmounted";
        else if (!h.moved && path_is_below(h.path, c->expose_dir) && (k = mount_handle_remove_dir(&h)) < 0 &&
                 k != -ENOENT)
                log_warning_errno(k, "Could not remove exposure directory %s: %m", h.path);
        mount_handle_done(&h);
        return hr;
}

/* ------------------------------------------------------------------------------------------ */
/* Records                                                                                     */
/* ------------------------------------------------------------------------------------------ */

static void record_free(SnapshotRecord *r) {
        provider_snapshot_free(r->snap);
        free(r->exposed_path);
        free(r);
}

static void record_drop(SnapshotCatalog *c, SnapshotRecord *r) {
        LIST_REMOVE(records, c->records, r);
        c->n_records--;
        record_free(r);
}

static void record_link(SnapshotCatalog *c, SnapshotRecord *r) {
        LIST_APPEND(records, c->records, r);
        c->n_records++;
}

SnapshotRecord *catalog_find(const SnapshotCatalog *c, const vss_id *id) {
        assert(c);

        if (!id)
                return NULL;
        LIST_FOREACH(records, r, c->records)
                if (vss_id_equal(&r->snap->snapshot_id, id))
                        return r;
        return NULL;
}

SnapshotRecord *catalog_find_oldest_for(const SnapshotCatalog *c, const char *volume) {
        SnapshotRecord *best = NULL;

        assert(c);

        if (!volume)
                return NULL;
        LIST_FOREACH(records, r, c->records)
                if (streq(r->snap->volume, volume) && (!best || r->created < best->created))
                        best = r;
        return best;
}

size_t catalog_count_volume(const SnapshotCatalog *c, const char *volume) {
        size_t n = 0;

        assert(c);

        LIST_FOREACH(records, r, c->records)
                if (streq(r->snap->volume, volume))
                        n++;
        return n;
}

vss_hr catalog_check_limits(const SnapshotCatalog *c, const char *volume, size_t n_in_creation,
                            const char **detail) {
        unsigned max = c->max_per_volume ?: VSSD_DEFAULT_MAX_SNAPSHOTS_PER_VOLUME;

        assert(c);
        assert(detail);

        if (c->n_records + n_in_creation >= VSSD_MAX_SNAPSHOTS) {
                *detail = "vssd holds the maximum number of snapshots; delete some";
                return VSS_E_MAXIMUM_NUMBER_OF_SNAPSHOTS_REACHED;
        }
        if (catalog_count_volume(c, volume) >= max) {
                *detail = "the volume has the maximum number of snapshots "
                          "(vssd --max-snapshots-per-volume); delete some";
                return VSS_E_MAXIMUM_NUMBER_OF_SNAPSHOTS_REACHED;
        }
        return S_OK;
}

static const char *const presence_names[_SNAPSHOT_PRESENCE_MAX] = {
        [SNAPSHOT_PRESENT] = "present",
        [SNAPSHOT_MISSING] = "missing",
        [SNAPSHOT_PRESENCE_UNKNOWN] = "unknown",
};

const char *snapshot_presence_to_string(SnapshotPresence p) {
        if (p < 0 || p >= _SNAPSHOT_PRESENCE_MAX)
                return NULL;
        return presence_names[p];
}

SnapshotPresence catalog_record_presence(const SnapshotRecord *r) {
        ProviderSnapshotProperties props = {};
        vss_hr hr;

        assert(r);

        if (!r->ops || !r->ops->get_properties || !r->snap->device)
                return SNAPSHOT_PRESENCE_UNKNOWN;
        hr = provider_hr_sanitize(r->ops->get_properties(r->ops, r->snap, &props));
        if (VSS_FAILED(hr))
                return SNAPSHOT_PRESENCE_UNKNOWN;
        return props.present ? SNAPSHOT_PRESENT : SNAPSHOT_MISSING;
}

uint32_t catalog_record_attributes(const SnapshotRecord *r) {
        return r->attributes | (r->exposed_path ? VSS_VOLSNAP_ATTR_EXPOSED_LOCALLY : 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Creation                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/*
 * Whether an intent row must be on disk before its provider acts. Its job is to make the next
 * start delete whatever a crash left. A crash of vssd alone loses no committed row, lazy or
 * not (the WAL is in the page cache); only a power failure can lose a lazy one, and then the
 * snapshot it named is still found: reconciliation (catalog_open) deletes, on every volume
 * the catalog remembers, each snapshot its provider holds that no row names. So the row needs
 * fsync only while the volume is not yet remembered durably (its first snapshot here, or
 * one forgotten since), as it is the row that makes it remembered. Every later snapshot set
 * of the volume makes no durable write before its commit; that keeps an fsync off
 * AddToSnapshotSet, which a one-shot tool (`vshadow -nw`) waits for. If the lookup fails,
 * durable.
 */
static CatalogSync intent_row_sync(SnapshotCatalog *c, const ProviderSnapshot *snap, const vss_id *provider_id) {
        return catalog_db_volume_known(c->db, snap->volume, provider_id) > 0 ? CATALOG_LAZY : CATALOG_DURABLE;
}

vss_hr catalog_intend(SnapshotCatalog *c, const ProviderSnapshot *snap, VssProvider *ops,
                      const CatalogIntent *intent) {
        _cleanup_free_ char *device = NULL;
        vss_id provider_id;
        CatalogRow row;
        int r;

        assert(c);
        assert(snap);
        assert(ops);
        assert(intent);

        if (!c->db)
                return S_OK;

        /* Without a planned path recovery could not find the copy; the row still records
         * that one may exist, which is the most that can be done for such a provider. */
        if (ops->device_path) {
                vss_hr hr = provider_hr_sanitize(ops->device_path(ops, snap, &device));

                if (VSS_FAILED(hr))
                        return hr;
        }

        if (vss_id_parse(ops->id, &provider_id) != S_OK)
                return VSS_E_UNEXPECTED_PROVIDER_ERROR;
        row = (CatalogRow) {
                .snapshot_id = snap->snapshot_id,
                .set_id = intent->set_id,
                .provider_id = provider_id,
                .volume = snap->volume,
                .device = device,
                .context = intent->context,
                .attributes = intent->context,
                .owner = intent->owner,
                .state = CATALOG_PREPARING,
        };
        r = catalog_db_insert(c->db, &row, intent_row_sync(c, snap, &provider_id));
        if (r < 0) {
                log_error_errno(r, "Could not record the intent for snapshot %s of %s: %m",
                                vss_id_to_str(&snap->snapshot_id).s, snap->volume);
                return hr_from_db(r);
        }
        return S_OK;
}

void catalog_forget_intent(SnapshotCatalog *c, const vss_id *snapshot_id) {
        int r;

        assert(c);

        if (!c->db)
                return;
        r = catalog_db_remove(c->db, snapshot_id, CATALOG_DURABLE);
        if (r < 0 && r != -ENOENT)
                log_warning_errno(r, "Could not remove the catalog row of aborted snapshot %s; "
                                  "the next start cleans it up: %m", vss_id_to_str(snapshot_id).s);
}

/*
 * Whether the CREATED mark of a set must be durable: only persistent snapshots survive a
 * restart (catalog_open keeps a CREATED row with no owner and NO_AUTO_RELEASE). Every other
 * row is deleted by recovery whatever its state, so for an auto-release set the mark needs no
 * fsync, nor does it need to be written before DoSnapshotSet answers: catalog_mark_created
 * writes it after. DoSnapshotSet of a backup makes no durable write at all: the most it makes
 * is the intent row, written by AddToSnapshotSet before the provider acts, and durable only on
 * a volume the catalog does not know yet (intent_row_sync).
 */
static bool set_is_persistent(const vss_id *owner, uint32_t context) {
        return vss_id_is_null(owner) && (context & VSS_VOLSNAP_ATTR_NO_AUTO_RELEASE);
}

static CatalogSync intent_sync(const CatalogIntent *intent) {
        return set_is_persistent(&intent->owner, intent->context) ? CATALOG_DURABLE : CATALOG_LAZY;
}

vss_hr catalog_add_set(SnapshotCatalog *c, SnapshotEntry *entries, size_t n, const CatalogIntent *intent,
                       int64_t created) {
        _cleanup_free_ vss_id *ids = NULL;
        _cleanup_free_ char **devices = NULL;
        SnapshotRecord **recs = NULL;
        vss_hr hr = S_OK;
        int r;

        assert(c);
        assert(entries || n == 0);
        assert(intent);

        ids = calloc(n ?: 1, sizeof(*ids));
        devices = calloc(n ?: 1, sizeof(*devices));
        recs = calloc(n ?: 1, sizeof(*recs));
        if (!ids || !devices || !recs)
                hr = E_OUTOFMEMORY;
        for (size_t i = 0; hr == S_OK && i < n; i++) {
                ids[i] = entries[i].snap->snapshot_id;
                devices[i] = entries[i].snap->device;
                recs[i] = calloc(1, sizeof(SnapshotRecord));
                if (!recs[i])
                        hr = E_OUTOFMEMORY;
        }

        /* Only a persistent set's mark is written here, before the requester hears of it; any
         * other set's waits for catalog_mark_created. */
        if (hr == S_OK && c->db && intent_sync(intent) == CATALOG_DURABLE) {
                r = catalog_db_mark_created(c->db, &intent->set_id, ids, devices, n, intent->context, created,
                                            intent_sync(intent));
                if (r < 0) {
                        log_error_errno(r, "Could not record snapshot set %s as created: %m",
                                        vss_id_to_str(&intent->set_id).s);
                        hr = hr_from_db(r);
                }
        }

        for (size_t i = 0; i < n; i++) {
                ProviderSnapshot *s = entries[i].snap;
                SnapshotRecord *rec = recs ? recs[i] : NULL;

                entries[i].snap = NULL;
                if (hr != S_OK) {
                        /* Not recorded as created: it must not outlive this call. Its intent
                         * row goes only once the copy is known to be gone; otherwise the next
                         * start deletes it. */
                        VssProvider *ops = entries[i].ops;
                        vss_hr d = VSS_E_PROVIDER_NOT_REGISTERED;

                        if (ops->delete_snapshot)
                                d = provider_hr_sanitize(ops->delete_snapshot(ops, s));

                        if (VSS_SUCCEEDED(d) || d == VSS_E_OBJECT_NOT_FOUND)
                                catalog_forget_intent(c, &s->snapshot_id);
                        else if (ops->abort) {
                                ProviderSnapshot *one[1] = { s };

                                (void) ops->abort(ops, one, 1); /* frees what the provider holds */
                        }
                        provider_snapshot_free(s);
                        free(rec);
                        continue;
                }

                s->state = VSS_SS_CREATED;
                *rec = (SnapshotRecord) {
                        .snap = s,
                        .ops = entries[i].ops,
                        .context = intent->context,
                        .attributes = intent->context,
                        .created = created,
                        .set_count = (int32_t) n,
                        .owner = intent->owner,
                };
                (void) vss_id_parse(entries[i].ops->id, &rec->provider_id);
                record_link(c, rec);
                log_info("Snapshot %s of %s created at %s.", vss_id_to_str(&s->snapshot_id).s, s->volume,
                         strempty(s->device));
        }
        free(recs);
        return hr;
}

void catalog_mark_created(SnapshotCatalog *c, const vss_id *set_id) {
        _cleanup_free_ vss_id *ids = NULL;
        _cleanup_free_ char **devices = NULL;
        const SnapshotRecord *first = NULL;
        size_t n = 0, k = 0;
        int r;

        assert(c);
        assert(set_id);

        if (!c->db)
                return;
        LIST_FOREACH(records, rec, c->records)
                if (vss_id_equal(&rec->snap->snapshot_set_id, set_id)) {
                        first = first ?: rec;
                        n++;
                }
        if (n == 0 || set_is_persistent(&first->owner, first->context))
                return;

        ids = calloc(n, sizeof(*ids));
        devices = calloc(n, sizeof(*devices));
        if (!ids || !devices) {
                log_oom();
                return;
        }
        LIST_FOREACH(records, rec, c->records)
                if (vss_id_equal(&rec->snap->snapshot_set_id, set_id)) {
                        ids[k] = rec->snap->snapshot_id;
                        devices[k++] = rec->snap->device;
                }

        r = catalog_db_mark_created(c->db, set_id, ids, devices, n, first->context, first->created, CATALOG_LAZY);
        if (r < 0)
                log_warning_errno(r, "Could not mark snapshot set %s created in the catalog; its rows stay as "
                                  "intents, which the next start deletes all the same: %m", vss_id_to_str(set_id).s);
}

/* ------------------------------------------------------------------------------------------ */
/* Deletion                                                                                    */
/* ------------------------------------------------------------------------------------------ */

vss_hr catalog_delete(SnapshotCatalog *c, SnapshotRecord *r, bool releasing) {
        CatalogSync sync;
        vss_id id;
        vss_hr hr;
        int k;

        assert(c);
        assert(r);

        id = r->snap->snapshot_id;
        /* Only a persistent snapshot's rows outlive a restart as they are; any other row is
         * deleted by recovery in whatever state a power failure leaves it (and a snapshot
         * already gone counts as deleted), so its deletion marks need no fsync. */
        sync = set_is_persistent(&r->owner, r->context) ? CATALOG_DURABLE : CATALOG_LAZY;
        if (!r->ops || !r->ops->delete_snapshot) {
                log_warning("Snapshot %s: its provider is not available; it cannot be deleted.", vss_id_to_str(&id).s);
                return VSS_E_PROVIDER_NOT_REGISTERED;
        }

        if (r->exposed_path) {
                const char *detail = NULL;

                hr = exposure_remove(c, r->ops, r->snap, r->exposed_path, &r->exposed_mount, releasing, &detail);
                if (VSS_FAILED(hr)) {
                        log_warning("Snapshot %s: could not remove its exposure at %s: %s (%s)", vss_id_to_str(&id).s,
                                    r->exposed_path, vss_hr_name(hr), strempty(detail));
                        return hr;
                }
                if (c->db) {
                        k = catalog_db_set_exposed(c->db, &id, NULL);
                        if (k < 0)
                                log_warning_errno(k, "Could not record the end of an exposure: %m");
                }
                r->exposed_path = mfree_str(r->exposed_path);
                r->exposed_mount = (MountRef) {};
        }

        if (c->db) {
                k = catalog_db_set_state(c->db, &id, CATALOG_DELETING, sync);
                if (k < 0) {
                        log_error_errno(k, "Snapshot %s: could not record the deletion, not deleting: %m",
                                        vss_id_to_str(&id).s);
                        return hr_from_db(k);
                }
        }

        hr = provider_hr_sanitize(r->ops->delete_snapshot(r->ops, r->snap));
        if (hr == VSS_E_OBJECT_NOT_FOUND) {
                log_info("Snapshot %s of %s was already gone.", vss_id_to_str(&id).s, r->snap->volume);
                hr = S_OK;
        }
        if (VSS_FAILED(hr)) {
                log_warning("Provider %s could not delete snapshot %s of %s: %s", r->ops->name, vss_id_to_str(&id).s,
                            r->snap->volume, vss_hr_name(hr));
                if (releasing) {
                        /* Nobody would delete it any more in this run: the DELETING row makes
                         * the next start try again. */
                        record_drop(c, r);
                        return hr;
                }
                if (c->db && (k = catalog_db_set_state(c->db, &id, CATALOG_CREATED, sync)) < 0)
                        log_warning_errno(k, "Could not restore the state of snapshot %s: %m", vss_id_to_str(&id).s);
                return hr;
        }

        if (c->db && (k = catalog_db_remove(c->db, &id, sync)) < 0)
                log_warning_errno(k, "Snapshot %s deleted, but its row stays until the next start: %m",
                                  vss_id_to_str(&id).s);
        log_info("Deleted snapshot %s of %s.", vss_id_to_str(&id).s, r->snap->volume);
        record_drop(c, r);
        return S_OK;
}

vss_hr catalog_delete_matching(SnapshotCatalog *c, const vss_id *id, bool by_set, uint32_t context,
                               int32_t *ret_deleted, vss_id *ret_failed) {
        int32_t deleted = 0;
        bool matched = false;

        assert(c);
        assert(id);
        assert(ret_deleted);
        assert(ret_failed);

        *ret_deleted = 0;
        *ret_failed = VSS_ID_NULL;

        LIST_FOREACH_SAFE(records, r, next, c->records) {
                vss_id this_id = r->snap->snapshot_id;
                vss_hr hr;

                if (!vss_id_equal(by_set ? &r->snap->snapshot_set_id : &this_id, id))
                        continue;
                if (context != VSS_CTX_ALL && r->context != context)
                        continue;
                matched = true;

                hr = catalog_delete(c, r, false);
                if (VSS_FAILED(hr)) {
                        *ret_deleted = deleted;
                        *ret_failed = this_id;
                        return hr;
                }
                deleted++;
        }

        *ret_deleted = deleted;
        return matched ? S_OK : VSS_E_OBJECT_NOT_FOUND;
}

size_t catalog_delete_owned(SnapshotCatalog *c, const vss_id *owner) {
        size_t n = 0;

        assert(c);

        if (!owner || vss_id_is_null(owner))
                return 0;

        LIST_FOREACH_SAFE(records, r, next, c->records) {
                vss_id id = r->snap->snapshot_id;
                SnapshotRecord *left;

                if (!vss_id_equal(&r->owner, owner))
                        continue;
                if (VSS_SUCCEEDED(catalog_delete(c, r, /* releasing= */ true))) {
                        n++;
                        continue;
                }
                /* Nothing in this run would delete it any more; its row stays for the next
                 * start's recovery. */
                left = catalog_find(c, &id);
                if (left)
                        record_drop(c, left);
        }
        return n;
}

/* ------------------------------------------------------------------------------------------ */
/* Exposure                                                                                    */
/* ------------------------------------------------------------------------------------------ */

static bool dir_is_empty(int fd) {
        _cleanup_close_ int dfd = -EBADF;
        struct dirent *de;
        bool empty = true;
        DIR *d;

        dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return false;
        d = fdopendir(dfd);
        if (!d)
                return false;
        TAKE_FD(dfd);
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, "..")) {
                        empty = false;
                        break;
                }
        closedir(d);
        return empty;
}

/* Opens and checks the target directory: no symlink anywhere in its path, a directory, empty,
 * owned by uid unless uid is 0 (root, or vssd's own directory). *ret_fd pins it (O_PATH). */
static vss_hr open_target(const char *path, int64_t uid, int *ret_fd, const char **detail) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        fd = path_open_nofollow(path, O_PATH | O_DIRECTORY);
        if (fd < 0) {
                switch (fd) {
                case -ELOOP:
                        *detail = "the exposure target's path must not contain a symlink (give the resolved path)";
                        return E_INVALIDARG;
                case -ENOTDIR:
                        *detail = "the exposure target must be a directory, not a symlink or a file";
                        return E_INVALIDARG;
                case -ENOENT:
                        *detail = "the exposure target does not exist";
                        return E_INVALIDARG;
                case -EINVAL:
                        *detail = "the exposure target must be an absolute path without \".\", \"..\" or empty "
                                  "components";
                        return E_INVALIDARG;
                default:
                        return vss_hr_from_errno(fd);
                }
        }
        /* The descriptor's directory, not the path's: the path may name another one by now. */
        if (fstat(fd, &st) < 0)
                return vss_hr_from_errno(errno);
        if (uid != 0 && (uid < 0 || st.st_uid != (uid_t) uid)) {
                *detail = "the exposure target must be a directory the caller owns";
                return E_ACCESSDENIED;
        }
        if (!dir_is_empty(fd)) {
                *detail = "the exposure target must be an empty directory";
                return E_INVALIDARG;
        }
        *ret_fd = TAKE_FD(fd);
        return S_OK;
}

/* The current path of fd (readlink of /proc/self/fd/N; malloc'd) or NULL. */
static char *fd_path(int fd) {
        char proc[64], buf[PATH_MAX];
        ssize_t n;

        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        n = readlink(proc, buf, sizeof(buf) - 1);
        if (n <= 0)
                return NULL;
        buf[n] = 0;
        return strdup(buf);
}

/* The name in directory dir_fd of the entry whose own inode is ino: readdir reports the
 * directory entry's inode, not that of a mount on it. */
static int dir_entry_name(int dir_fd, ino_t ino, char **ret) {
        _cleanup_close_ int fd = -EBADF;
        struct dirent *de;
        int r = -ENOENT;
        DIR *d;

        fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d)
                return -errno;
        TAKE_FD(fd);
        while ((de = readdir(d)))
                if (de->d_ino == ino && !streq(de->d_name, ".") && !streq(de->d_name, "..")) {
                        *ret = strdup(de->d_name);
                        r = *ret ? 0 : -ENOMEM;
                        break;
                }
        closedir(d);
        return r;
}

/*
 * After the provider mounted on target_fd: the mount's ids, a handle on it, and where it is
 * (ret->path; fallback the path it was made at, if the current one is too long to name). The
 * mount point cannot be renamed or removed while mounted on, so its parent ("..") and its
 * name there, read now, name exactly the mount just made (nobody but root can stack another
 * on it). The name is found by inode, not from a path, so no path length limits it.
 */
static int exposure_identify(int target_fd, const char *fallback_path, MountRef *ret_ref, MountHandle *ret) {
        _cleanup_free_ char *parent_path = NULL;
        MountHandle h = MOUNT_HANDLE_NULL;
        struct stat st;
        int r;

        if (fstat(target_fd, &st) < 0)
                return -errno;
        h.parent_fd = openat(target_fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (h.parent_fd < 0)
                return -errno;
        r = dir_entry_name(h.parent_fd, st.st_ino, &h.name);
        if (r == -ENOENT) {
                /* A filesystem whose readdir inodes differ from stat's (overlayfs without
                 * xino): the name from the descriptor's path. */
                _cleanup_free_ char *where = fd_path(target_fd);
                const char *slash = where ? strrchr(where, '/') : NULL;

                h.name = slash && slash[1] ? strdup(slash + 1) : NULL;
                r = h.name ? 0 : -EIO;
        }
        if (r < 0) {
                mount_handle_done(&h);
                return r;
        }
        parent_path = fd_path(h.parent_fd);
        if (asprintf(&h.target, "/proc/self/fd/%d/%s", h.parent_fd, h.name) < 0)
                h.target = NULL;
        if (parent_path && asprintf(&h.path, "%s/%s", streq(parent_path, "/") ? "" : parent_path, h.name) < 0)
                h.path = NULL;
        else if (!parent_path)
                h.path = strdup(fallback_path);
        if (!h.target || !h.path) {
                *ret = h; /* the caller can still take the mount away through the target, if any */
                return -ENOMEM;
        }
        r = mount_ref_read(h.parent_fd, h.name, ret_ref);
        *ret = h;
        return r;
}

/* "gid,group,group..." of caller, malloc'd, or NULL on allocation failure. */
static char *gids_format(const ExposeCaller *caller) {
        size_t n = 16 * (caller->n_groups + 1) + 1, len = 0;
        char *s = malloc(n);

        if (!s)
                return NULL;
        len += (size_t) snprintf(s, n, "%u", (unsigned) caller->gid);
        for (size_t i = 0; i < caller->n_groups && len < n; i++)
                len += (size_t) snprintf(s + len, n - len, ",%u", (unsigned) caller->groups[i]);
        return s;
}

/*
 * The body of catalog_expose and of recovery's re-exposure: path "" is vssd's own directory
 * (no owner check); otherwise the directory must be uid's unless uid is 0. uid and gids are
 * recorded as the caller's (uid -1, gids NULL: unknown).
 */
static vss_hr expose_as(SnapshotCatalog *c, SnapshotRecord *r, const char *path, int64_t uid, const char *gids,
                        const char **ret_path, const char **detail) {
        _cleanup_free_ char *canonical = NULL, *picked = NULL;
        _cleanup_close_ int fd = -EBADF;
        MountHandle h = MOUNT_HANDLE_NULL;
        CatalogExposure e;
        MountRef ref = {};
        bool made_dir = false;
        int64_t check_uid = uid;
        vss_hr hr;
        int k;

        if (r->exposed_path) {
                *detail = "the snapshot is already exposed";
                return VSS_E_OBJECT_ALREADY_EXISTS;
        }
        if (!r->ops || !r->ops->expose) {
                *detail = "the snapshot's provider cannot expose snapshots";
                return VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER;
        }
        if (isempty(r->snap->device)) {
                *detail = "the snapshot has no device to expose";
                return VSS_E_OBJECT_NOT_FOUND;
        }

        if (isempty(path)) {
                if (!c->expose_dir)
                        return E_INVALIDARG;
                if (asprintf(&picked, "%s/%s", c->expose_dir, vss_id_to_str(&r->snap->snapshot_id).s) < 0)
                        return E_OUTOFMEMORY;
                k = mkdir_parents_and_self(c->expose_dir, 0755);
                if (k < 0)
                        return vss_hr_from_errno(k);
                if (mkdir(picked, 0755) >= 0)
                        made_dir = true;
                else if (errno != EEXIST)
                        return vss_hr_from_errno(errno);
                path = picked;
                check_uid = 0; /* vssd's own directory */
        } else if (path[0] != '/' || strnlen(path, VSS_MAX_STRING + 1) > VSS_MAX_STRING) {
                *detail = "the exposure target must be an absolute path";
                return E_INVALIDARG;
        }

        hr = open_target(path, check_uid, &fd, detail);
        if (VSS_FAILED(hr))
                goto fail;
        /* Absolute, without symlinks, "." or "..": the path is already canonical. */
        canonical = strdup(path);
        if (!canonical) {
                hr = E_OUTOFMEMORY;
                goto fail;
        }

        /* Intent first: a crash after the mount leaves a row naming it (without ids, so the
         * next start unmounts it only if it is provably this snapshot's). */
        e = (CatalogExposure) { .path = canonical, .uid = uid, .gids = (char *) gids };
        if (c->db) {
                k = catalog_db_set_exposed(c->db, &r->snap->snapshot_id, &e);
                if (k < 0) {
                        hr = hr_from_db(k);
                        goto fail;
                }
        }

        hr = provider_hr_sanitize(r->ops->expose(r->ops, r->snap, fd, canonical));
        if (VSS_FAILED(hr)) {
                if (c->db)
                        (void) catalog_db_set_exposed(c->db, &r->snap->snapshot_id, NULL);
                *detail = "the provider could not mount the snapshot";
                goto fail;
        }

        /* Where it is now (a rename before it was attached may have moved the directory). */
        k = exposure_identify(fd, canonical, &ref, &h);
        if (k >= 0) {
                free(canonical);
                canonical = strdup(h.path);
                if (!canonical)
                        k = -ENOMEM;
        }
        if (k >= 0 && c->db) {
                e = (CatalogExposure) {
                        .path = canonical,
                        .mount_id = ref.id,
                        .mount_unique_id = ref.unique_id,
                        .boot_id = ref.boot_id,
                        .uid = uid,
                        .gids = (char *) gids,
                };
                k = catalog_db_set_exposed(c->db, &r->snap->snapshot_id, &e);
        }
        if (k < 0) {
                /* Unrecorded, it must not stay: take it away through the handle if there is one. */
                log_error_errno(k, "Snapshot %s: could not record the mount just made at %s, taking it away: %m",
                                vss_id_to_str(&r->snap->snapshot_id).s, path);
                if (mount_handle_target(&h))
                        (void) mount_handle_unmount(&h, true);
                mount_handle_done(&h);
                if (c->db)
                        (void) catalog_db_set_exposed(c->db, &r->snap->snapshot_id, NULL);
                hr = k == -ENOMEM ? E_OUTOFMEMORY : VSS_E_UNEXPECTED;
                *detail = "the mount could not be recorded";
                goto fail;
        }
        mount_handle_done(&h);

        log_info("Snapshot %s exposed at %s (mount id %" PRIu64 ", for uid %" PRIi64 ").",
                 vss_id_to_str(&r->snap->snapshot_id).s, canonical, ref.id, uid);
        r->exposed_path = TAKE_PTR(canonical);
        r->exposed_mount = ref;
        *ret_path = r->exposed_path;
        return S_OK;

fail:
        if (made_dir)
                (void) rmdir(picked);
        return hr;
}

vss_hr catalog_expose(SnapshotCatalog *c, SnapshotRecord *r, const char *path, const ExposeCaller *caller,
                      const char **ret_path, const char **detail) {
        _cleanup_free_ char *gids = NULL;

        assert(c);
        assert(r);
        assert(caller);
        assert(ret_path);
        assert(detail);

        gids = gids_format(caller);
        if (!gids)
                return E_OUTOFMEMORY;
        return expose_as(c, r, path, (int64_t) caller->uid, gids, ret_path, detail);
}

vss_hr catalog_unexpose(SnapshotCatalog *c, SnapshotRecord *r, const char **detail) {
        vss_hr hr;
        int k;

        assert(c);
        assert(r);
        assert(detail);

        if (!r->exposed_path) {
                *detail = "the snapshot is not exposed";
                return VSS_E_BAD_STATE;
        }

        hr = exposure_remove(c, r->ops, r->snap, r->exposed_path, &r->exposed_mount, false, detail);
        if (VSS_FAILED(hr))
                return hr;

        if (c->db && (k = catalog_db_set_exposed(c->db, &r->snap->snapshot_id, NULL)) < 0)
                log_warning_errno(k, "Could not record the end of the exposure of %s: %m",
                                  vss_id_to_str(&r->snap->snapshot_id).s);
        log_info("Snapshot %s no longer exposed (made at %s).", vss_id_to_str(&r->snap->snapshot_id).s,
                 r->exposed_path);
        r->exposed_path = mfree_str(r->exposed_path);
        r->exposed_mount = (MountRef) {};
        return S_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Start-up and recovery                                                                       */
/* ------------------------------------------------------------------------------------------ */

static ProviderSnapshot *snapshot_from_row(const CatalogRow *row) {
        ProviderSnapshot *s;

        s = calloc(1, sizeof(*s));
        if (!s)
                return NULL;
        s->snapshot_id = row->snapshot_id;
        s->snapshot_set_id = row->set_id;
        s->state = row->state == CATALOG_CREATED ? VSS_SS_CREATED : VSS_SS_PREPARING;
        s->volume = strdup(row->volume);
        s->device = row->device ? strdup(row->device) : NULL;
        if (!s->volume || (row->device && !s->device)) {
                provider_snapshot_free(s);
                return NULL;
        }
        return s;
}

/* A leftover of a previous vssd: remove its exposure, the snapshot and the row. */
static void recover_leftover(SnapshotCatalog *c, const CatalogRow *row) {
        VssProvider *ops = provider_find_by_id(&row->provider_id);
        vss_id_str ids = vss_id_to_str(&row->snapshot_id);
        const char *id = ids.s;
        ProviderSnapshot *s;
        vss_hr hr = S_OK;
        int k;

        log_info("Recovery: removing %s snapshot %s of %s (%s).",
                 vss_id_is_null(&row->owner) ? "unfinished" : "auto-release", id, row->volume,
                 catalog_state_to_string(row->state));

        if (row->exposure.path) {
                MountRef ref = mount_ref_from_row(&row->exposure);
                const char *detail = NULL;

                s = snapshot_from_row(row);
                hr = exposure_remove(c, s ? ops : NULL, s, row->exposure.path, &ref, true, &detail);
                provider_snapshot_free(s);
                if (VSS_FAILED(hr))
                        log_warning("Recovery: could not remove the exposure made at %s: %s (%s)", row->exposure.path,
                                    vss_hr_name(hr), strempty(detail));
        }

        (void) catalog_db_set_state(c->db, &row->snapshot_id, CATALOG_DELETING, CATALOG_DURABLE);

        if (!row->device)
                log_warning("Recovery: snapshot %s has no recorded path; if its provider made it, it must be "
                            "removed by hand.", id);
        else if (!ops || !ops->delete_snapshot) {
                log_warning("Recovery: the provider of snapshot %s is not built in; its row stays.", id);
                return;
        } else {
                s = snapshot_from_row(row);
                if (!s) {
                        log_oom();
                        return;
                }
                hr = provider_hr_sanitize(ops->delete_snapshot(ops, s));
                provider_snapshot_free(s);
                if (VSS_FAILED(hr) && hr != VSS_E_OBJECT_NOT_FOUND) {
                        log_warning("Recovery: provider %s could not delete %s (%s); retrying at the next start.",
                                    ops->name, row->device, vss_hr_name(hr));
                        return;
                }
        }

        k = catalog_db_remove(c->db, &row->snapshot_id, CATALOG_DURABLE);
        if (k < 0)
                log_warning_errno(k, "Recovery: could not remove the row of snapshot %s: %m", id);
}

/* Forget the exposure of row (logged on failure). */
static void exposure_forget(SnapshotCatalog *c, const vss_id *id) {
        int k = catalog_db_set_exposed(c->db, id, NULL);

        if (k < 0)
                log_warning_errno(k, "Recovery: could not clear a stale exposure: %m");
}

/*
 * The exposure of a persistent snapshot at start-up: kept when its mount is still where it
 * was made; otherwise (a reboot, an unmount by hand, or a mount moved elsewhere, which is
 * taken away) made again with the rights of the caller it was made for: resolved without
 * symlinks, the directory owned by that caller. What cannot be kept or made again that way is
 * dropped with a log line. Never unmounts what it cannot prove is the snapshot's own mount.
 */
static void recover_exposure(SnapshotCatalog *c, SnapshotRecord *rec, const CatalogRow *row) {
        const CatalogExposure *e = &row->exposure;
        const char *id = vss_id_to_str(&row->snapshot_id).s;
        MountHandle h = MOUNT_HANDLE_NULL;
        const char *path = NULL, *detail = NULL;
        MountRef ref = mount_ref_from_row(e);
        bool own = path_is_below(e->path, c->expose_dir);
        vss_hr hr;
        int k;

        if (mount_ref_is_set(&ref)) {
                k = mount_locate(e->path, &ref, &h);
                if (k > 0 && !h.moved) {
                        mount_handle_done(&h);
                        goto keep;
                }
                if (k > 0) {
                        log_warning("Recovery: the exposure of snapshot %s made at %s was moved to %s; unmounting it "
                                    "there.", id, e->path, h.path);
                        k = mount_handle_unmount(&h, true);
                        mount_handle_done(&h);
                        if (k < 0) {
                                log_warning_errno(k, "Recovery: could not unmount it; it stays recorded: %m");
                                goto keep;
                        }
                } else if (k < 0) {
                        if (k == -EUCLEAN)
                                log_warning("Recovery: the mount of the exposure of snapshot %s made at %s cannot be "
                                            "reached without following a symlink, or is covered; it stays recorded.",
                                            id, e->path);
                        else
                                log_warning_errno(k, "Recovery: could not look for the mount of the exposure of snapshot "
                                                  "%s made at %s; it stays recorded: %m", id, e->path);
                        goto keep;
                }
        } else {
                /* Recorded without ids: an older vssd, or a crash between mount and record. */
                k = mount_adopt(e->path, rec->snap->device, &ref);
                if (k > 0) {
                        CatalogExposure adopted = *e;

                        adopted.mount_id = ref.id;
                        adopted.mount_unique_id = ref.unique_id;
                        adopted.boot_id = ref.boot_id;
                        (void) catalog_db_set_exposed(c->db, &row->snapshot_id, &adopted);
                        goto keep;
                }
                if (k < 0) {
                        log_warning_errno(k, "Recovery: the exposure of snapshot %s at %s was recorded without its "
                                          "mount id and what is there cannot be shown to be it; dropping the "
                                          "exposure, leaving the directory alone: %m", id, e->path);
                        exposure_forget(c, &row->snapshot_id);
                        return;
                }
        }

        /* Not mounted any more (a reboot): persistent exposures are made again (§10), as the
         * caller they were made for. */
        exposure_forget(c, &row->snapshot_id);
        if (!own && e->uid < 0) {
                log_warning("Recovery: the exposure of snapshot %s at %s was recorded without its caller (an older "
                            "vssd); not making it again.", id, e->path);
                return;
        }
        if (!rec->ops || !rec->ops->expose || !rec->snap->device) {
                log_warning("Recovery: snapshot %s cannot be exposed again at %s: its provider is not available.", id,
                            e->path);
                return;
        }
        hr = expose_as(c, rec, own ? "" : e->path, e->uid, e->gids, &path, &detail);
        if (VSS_FAILED(hr))
                log_warning("Recovery: dropping the exposure of snapshot %s at %s (made for uid %" PRIi64 "): %s%s%s",
                            id, e->path, e->uid, vss_hr_name(hr), detail ? ": " : "", strempty(detail));
        return;

keep:
        rec->exposed_path = strdup(e->path);
        if (!rec->exposed_path) {
                log_oom();
                return;
        }
        rec->exposed_mount = ref;
}

/* A persistent snapshot: served again, its exposure kept or made again. */
static int recover_persistent(SnapshotCatalog *c, const CatalogRow *row) {
        SnapshotRecord *rec;

        rec = calloc(1, sizeof(*rec));
        if (!rec)
                return log_oom();
        rec->snap = snapshot_from_row(row);
        if (!rec->snap) {
                free(rec);
                return log_oom();
        }
        rec->ops = provider_find_by_id(&row->provider_id);
        rec->provider_id = row->provider_id;
        rec->context = row->context;
        rec->attributes = row->attributes;
        rec->created = row->created;
        rec->set_count = row->set_count;
        rec->owner = VSS_ID_NULL;
        record_link(c, rec);

        if (row->exposure.path)
                recover_exposure(c, rec, row);
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Reconciliation with the providers' storage                                                  */
/* ------------------------------------------------------------------------------------------ */

/* A persistent snapshot whose copy is gone behind vssd's back: its exposure and row go. */
static size_t reconcile_missing(SnapshotCatalog *c) {
        size_t dropped = 0;
        int k;

        LIST_FOREACH_SAFE(records, r, next, c->records) {
                vss_id id = r->snap->snapshot_id;

                if (catalog_record_presence(r) != SNAPSHOT_MISSING)
                        continue;

                log_warning("Reconciliation: snapshot %s of %s is gone from %s (deleted outside vssd); "
                            "dropping it from the catalog.", vss_id_to_str(&id).s, r->snap->volume,
                            strempty(r->snap->device));
                if (r->exposed_path) {
                        const char *detail = NULL;
                        vss_hr hr = exposure_remove(c, r->ops, r->snap, r->exposed_path, &r->exposed_mount, true,
                                                    &detail);

                        if (VSS_FAILED(hr))
                                log_warning("Reconciliation: could not unmount the exposure made at %s: %s (%s)",
                                            r->exposed_path, vss_hr_name(hr), strempty(detail));
                }
                k = catalog_db_remove(c->db, &id, CATALOG_DURABLE);
                if (k < 0 && k != -ENOENT) {
                        log_warning_errno(k, "Reconciliation: could not remove the row of snapshot %s: %m",
                                          vss_id_to_str(&id).s);
                        continue;
                }
                record_drop(c, r);
                dropped++;
        }
        return dropped;
}

/* What query found on one volume that no catalog row names. */
typedef struct OrphanScan {
        const CatalogRow *rows;     /* every row of the catalog, after recovery */
        size_t n_rows;
        vss_id *ids;
        char **devices;
        size_t n;
        bool truncated;
} OrphanScan;

static void orphan_scan_done(OrphanScan *o) {
        for (size_t i = 0; i < o->n; i++)
                free(o->devices[i]);
        free(o->ids);
        free(o->devices);
        o->ids = NULL;
        o->devices = NULL;
        o->n = 0;
}

static vss_hr orphan_collect(const vss_id *snapshot_id, const char *device_path, vss_timestamp creation_time,
                             void *userdata) {
        OrphanScan *o = userdata;
        vss_id *ids;
        char **devices, *d;

        if (!snapshot_id || isempty(device_path))
                return S_OK;
        for (size_t i = 0; i < o->n_rows; i++)
                if (vss_id_equal(&o->rows[i].snapshot_id, snapshot_id))
                        return S_OK;
        if (o->n >= CATALOG_MAX_ORPHANS_PER_VOLUME) {
                o->truncated = true;
                return VSS_E_MAXIMUM_NUMBER_OF_SNAPSHOTS_REACHED; /* stops the walk */
        }

        ids = reallocarray(o->ids, o->n + 1, sizeof(*ids));
        if (!ids)
                return E_OUTOFMEMORY;
        o->ids = ids;
        devices = reallocarray(o->devices, o->n + 1, sizeof(*devices));
        if (!devices)
                return E_OUTOFMEMORY;
        o->devices = devices;
        d = strdup(device_path);
        if (!d)
                return E_OUTOFMEMORY;
        o->ids[o->n] = *snapshot_id;
        o->devices[o->n++] = d;
        return S_OK;
}

/* Deletes the orphans ops holds of volume; returns how many went. */
static size_t reconcile_volume(VssProvider *ops, const char *volume, OrphanScan *o) {
        size_t deleted = 0;
        vss_hr hr;

        hr = provider_hr_sanitize(ops->query(ops, volume, orphan_collect, o));
        if (VSS_FAILED(hr) && !o->truncated) {
                log_info("Reconciliation: provider %s cannot list the snapshots of %s (%s); nothing changes there.",
                         ops->name, volume, vss_hr_name(hr));
                orphan_scan_done(o);
                return 0;
        }
        if (o->truncated)
                log_warning("Reconciliation: more than %u orphan snapshots of %s; the rest at the next start.",
                            CATALOG_MAX_ORPHANS_PER_VOLUME, volume);

        for (size_t i = 0; i < o->n; i++) {
                const char *id = vss_id_to_str(&o->ids[i]).s;
                ProviderSnapshot s = {
                        .snapshot_id = o->ids[i],
                        .volume = (char *) volume,
                        .device = o->devices[i],
                        .state = VSS_SS_CREATED,
                };

                if (!ops->delete_snapshot) {
                        log_warning("Reconciliation: orphan snapshot %s of %s at %s: provider %s cannot delete it.",
                                    id, volume, o->devices[i], ops->name);
                        continue;
                }
                hr = provider_hr_sanitize(ops->delete_snapshot(ops, &s));
                if (VSS_FAILED(hr) && hr != VSS_E_OBJECT_NOT_FOUND) {
                        log_warning("Reconciliation: could not delete orphan snapshot %s of %s at %s: %s",
                                    id, volume, o->devices[i], vss_hr_name(hr));
                        continue;
                }
                log_warning("Reconciliation: deleted orphan snapshot %s of %s at %s (provider %s holds it, "
                            "no catalog row names it).", id, volume, o->devices[i], ops->name);
                deleted++;
        }
        orphan_scan_done(o);
        return deleted;
}

/* Orphans on every volume the catalog remembers, then rows whose copy is gone. */
static void catalog_reconcile(SnapshotCatalog *c, size_t *ret_orphans, size_t *ret_dropped) {
        CatalogVolume *volumes = NULL;
        CatalogRow *rows = NULL;
        size_t n_volumes = 0, n_rows = 0, orphans = 0;
        int r;

        *ret_dropped = reconcile_missing(c);

        r = catalog_db_list(c->db, &rows, &n_rows);
        if (r >= 0)
                r = catalog_db_list_volumes(c->db, &volumes, &n_volumes);
        if (r < 0) {
                log_warning_errno(r, "Reconciliation: cannot read the catalog, skipped: %m");
                catalog_rows_free(rows, n_rows);
                *ret_orphans = 0;
                return;
        }

        for (size_t i = 0; i < n_volumes; i++) {
                VssProvider *ops = provider_find_by_id(&volumes[i].provider_id);
                OrphanScan o = { .rows = rows, .n_rows = n_rows };

                /* Registered providers only: one whose init failed (or a test-only one outside
                 * test mode) is not set up to look at its storage. */
                if (!ops || !ops->query || !provider_is_available(ops, true))
                        continue;

                orphans += reconcile_volume(ops, volumes[i].volume, &o);

                /* A volume that no longer exists at all, with no rows left, is forgotten. */
                if (access(volumes[i].volume, F_OK) < 0 && errno == ENOENT &&
                    catalog_db_forget_volume(c->db, volumes[i].volume, &volumes[i].provider_id) > 0)
                        log_info("Reconciliation: forgetting volume %s, which no longer exists.", volumes[i].volume);
        }

        catalog_volumes_free(volumes, n_volumes);
        catalog_rows_free(rows, n_rows);
        *ret_orphans = orphans;
}

int catalog_open(SnapshotCatalog *c, const char *state_dir, const char *expose_dir, unsigned max_per_volume) {
        _cleanup_free_ char *path = NULL;
        CatalogRow *rows = NULL;
        size_t n = 0, kept = 0, leftovers = 0, orphans = 0, dropped = 0;
        int r;

        assert(c);
        assert(state_dir);
        assert(!c->db);

        c->max_per_volume = max_per_volume;
        c->expose_dir = strdup(expose_dir ?: VSSD_DEFAULT_EXPOSE_DIR);
        if (!c->expose_dir)
                return log_oom();
        /* vssd's own directory, from its configuration: resolved once, here, so that exposures
         * in it (which are opened without following symlinks, and recognised by prefix) work
         * when it is configured through a symlink such as /var/run. */
        {
                char *real = path_resolve_existing(c->expose_dir);

                if (!real)
                        return log_oom();
                free(c->expose_dir);
                c->expose_dir = real;
        }

        if (asprintf(&path, "%s/catalog.lock", state_dir) < 0)
                return log_oom();
        c->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (c->lock_fd < 0)
                return log_error_errno(-errno, "Failed to open %s: %m", path);
        if (flock(c->lock_fd, LOCK_EX | LOCK_NB) < 0) {
                r = errno == EWOULDBLOCK ? -EBUSY : -errno;
                (void) close(c->lock_fd);
                return log_error_errno(r, "Another vssd uses the state directory %s (%s is locked).", state_dir, path);
        }
        c->locked = true;
        path = mfree_str(path);

        if (asprintf(&path, "%s/catalog.db", state_dir) < 0)
                return log_oom();
        r = catalog_db_open(path, &c->db);
        if (r < 0)
                return log_error_errno(r, "Failed to open the snapshot catalog %s: %m", path);

        r = catalog_db_list(c->db, &rows, &n);
        if (r < 0)
                return log_error_errno(r, "Failed to read the snapshot catalog: %m");

        for (size_t i = 0; i < n; i++) {
                const CatalogRow *row = &rows[i];

                if (row->state == CATALOG_CREATED && vss_id_is_null(&row->owner) &&
                    (row->context & VSS_VOLSNAP_ATTR_NO_AUTO_RELEASE)) {
                        r = recover_persistent(c, row);
                        if (r < 0)
                                break;
                        kept++;
                } else {
                        recover_leftover(c, row);
                        leftovers++;
                }
        }
        catalog_rows_free(rows, n);
        if (r < 0)
                return r;

        catalog_reconcile(c, &orphans, &dropped);

        log_info("Snapshot catalog %s: %zu persistent snapshot%s kept, %zu leftover%s of a previous run handled, "
                 "%zu orphan%s deleted, %zu missing snapshot%s dropped.",
                 path, kept - dropped, kept - dropped == 1 ? "" : "s", leftovers, leftovers == 1 ? "" : "s", orphans,
                 orphans == 1 ? "" : "s", dropped, dropped == 1 ? "" : "s");
        return 0;
}

void catalog_done(SnapshotCatalog *c) {
        assert(c);

        LIST_FOREACH_SAFE(records, r, next, c->records)
                record_drop(c, r);
        c->db = catalog_db_close(c->db);
        c->expose_dir = mfree_str(c->expose_dir);
        if (c->locked)
                (void) close(c->lock_fd);
        c->locked = false;
}
