/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fake-vssd.c: the in-test vssd stand-in (see fake-vssd.h). A server thread accepts one
 * connection at a time, wraps it in an sd-bus server, and dispatches with the fake's mutex
 * held; the test thread takes the same mutex to queue calls to the writer. poll() runs
 * outside the mutex with a short timeout, so the thread notices queued work promptly.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-id128.h>
#include <time.h>
#include <unistd.h>

#include "fake-vssd.h"
#include "macro.h"
#include "vss-bus.h"

#define FAKE_MAX_EVENTS 64
#define FAKE_WAIT_LIMIT_SEC 30
#define FAKE_INSTANCE_ID "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
#define FAKE_WRITER_ID "11111111-2222-4333-8444-555555555555"

typedef struct FakeEvent {
        bool used;
        bool done;
        FakeEventReply reply;
        sd_bus_slot *slot;
        FakeVssd *fake;
} FakeEvent;

struct FakeVssd {
        char *components_xml;
        char dir[64];
        char path[128];
        int listen_fd;

        pthread_mutex_t lock;
        pthread_cond_t cond;
        pthread_t thread;
        bool stop;

        sd_bus *bus;                    /* the current client connection */
        bool disconnect_requested;
        FakeDeferredMode deferred_mode;
        FakeCancelMode cancel_mode;
        sd_bus_message *deferred;       /* an unanswered deferred call */
        unsigned requester_calls;
        bool subscribed;
        bool unsubscribed;
        FakeEvent events[FAKE_MAX_EVENTS];
};

vss_id fake_vssd_instance_id(void) {
        vss_id id;

        (void) vss_id_parse(FAKE_INSTANCE_ID, &id);
        return id;
}

static void timespec_in(struct timespec *ts, int sec) {
        clock_gettime(CLOCK_REALTIME, ts);
        ts->tv_sec += sec;
}

/* ------------------------------------------------------------------------------------------ */
/* Requester interface                                                                          */
/* ------------------------------------------------------------------------------------------ */

static int append_one_writer_metadata(sd_bus_message *reply) {
        WriterMetadata *md;
        vss_id iid = fake_vssd_instance_id(), wid;
        int k;

        (void) vss_id_parse(FAKE_WRITER_ID, &wid);
        md = writer_metadata_new();
        if (!md)
                return -ENOMEM;
        if (writer_metadata_set_identity(md, &iid, &wid, "fake writer", "fake instance", VSS_UT_USERDATA,
                                         VSS_ST_OTHER, 60000) != S_OK ||
            writer_metadata_add_component(md, VSS_CT_FILEGROUP, NULL, "data", "Data files", false, true, true,
                                          true, 0) != S_OK ||
            writer_metadata_add_fileset(md, FILESET_FILE_GROUP, NULL, "data", "/srv/data", "*.db", true, NULL,
                                        VSS_FSBT_ALL_BACKUP_REQUIRED) != S_OK ||
            writer_metadata_add_exclude(md, "/srv/data", "*.tmp", false) != S_OK) {
                writer_metadata_free(md);
                return -EINVAL;
        }

        k = sd_bus_message_open_container(reply, 'a', VSS_BUS_SIG_WMD);
        if (k >= 0)
                k = writer_metadata_append(reply, md);
        if (k >= 0)
                k = sd_bus_message_close_container(reply);
        writer_metadata_free(md);
        return k;
}

static int reply_deferred_success(sd_bus_message *call) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *member = sd_bus_message_get_member(call);
        int k;

        k = sd_bus_message_new_method_return(call, &reply);
        if (k < 0)
                return k;
        if (streq(member, "GatherWriterMetadata"))
                k = append_one_writer_metadata(reply);
        else if (streq(member, "GatherWriterStatus"))
                k = sd_bus_message_append(reply, "a(sssui)", 1, FAKE_INSTANCE_ID, FAKE_WRITER_ID, "fake writer",
                                          (uint32_t) VSS_WS_FAILED_AT_FREEZE, VSS_E_WRITERERROR_RETRYABLE);
        if (k < 0)
                return k;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_deferred(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        FakeVssd *f = userdata;

        f->requester_calls++;
        if (f->deferred)
                return vss_hr_to_bus_error(error, VSS_E_BAD_STATE, "A deferred operation is in flight.");
        if (f->deferred_mode == FAKE_DEFERRED_ANSWER)
                return reply_deferred_success(m) < 0 ? -EIO : 1;

        f->deferred = sd_bus_message_ref(m);
        pthread_cond_broadcast(&f->cond);
        return 1;
}

static int method_cancel(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        FakeVssd *f = userdata;
        sd_bus_message *call = f->deferred;

        f->requester_calls++;
        if (!call)
                return vss_hr_to_bus_error(error, VSS_E_BAD_STATE, "Nothing to cancel.");
        f->deferred = NULL;

        if (f->cancel_mode == FAKE_CANCEL_TOO_LATE)
                (void) reply_deferred_success(call);
        else
                (void) sd_bus_reply_method_errorf(call, VSS_BUS_ERROR_PREFIX "VSS_S_ASYNC_CANCELLED",
                                                  "The operation was cancelled.");
        sd_bus_message_unref(call);
        return sd_bus_reply_method_return(m, NULL);
}

static int method_start_snapshot_set(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        FakeVssd *f = userdata;

        f->requester_calls++;
        return vss_hr_to_bus_error(error, VSS_E_SNAPSHOT_SET_IN_PROGRESS,
                                   "Another snapshot set is being created by requester 42.");
}

static int method_plain(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        FakeVssd *f = userdata;

        f->requester_calls++;
        return sd_bus_reply_method_return(m, NULL);
}

/* Every Requester method, so a call that slipped through argument checks is counted. */
static const sd_bus_vtable requester_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("InitializeForBackup", "s", "", method_plain, 0),
        SD_BUS_METHOD("SetContext", "u", "", method_plain, 0),
        SD_BUS_METHOD("SetBackupState", "bbub", "", method_plain, 0),
        SD_BUS_METHOD("GatherWriterMetadata", "", "a" VSS_BUS_SIG_WMD, method_deferred, 0),
        SD_BUS_METHOD("AddComponent", "ssuss", "", method_plain, 0),
        SD_BUS_METHOD("EnableWriterClasses", "as", "", method_plain, 0),
        SD_BUS_METHOD("DisableWriterClasses", "as", "", method_plain, 0),
        SD_BUS_METHOD("DisableWriterInstances", "as", "", method_plain, 0),
        SD_BUS_METHOD("StartSnapshotSet", "", "s", method_start_snapshot_set, 0),
        SD_BUS_METHOD("AddToSnapshotSet", "ss", "s", method_plain, 0),
        SD_BUS_METHOD("IsVolumeSupported", "ss", "b", method_plain, 0),
        SD_BUS_METHOD("PrepareForBackup", "", "", method_deferred, 0),
        SD_BUS_METHOD("DoSnapshotSet", "", "", method_deferred, 0),
        SD_BUS_METHOD("GetSnapshotProperties", "s", VSS_BUS_SIG_SNAPPROP, method_plain, 0),
        SD_BUS_METHOD("SetBackupSucceeded", "ssussb", "", method_plain, 0),
        SD_BUS_METHOD("BackupComplete", "", "", method_deferred, 0),
        SD_BUS_METHOD("GatherWriterStatus", "", "a" VSS_BUS_SIG_STATUS, method_deferred, 0),
        SD_BUS_METHOD("AbortBackup", "", "", method_plain, 0),
        SD_BUS_METHOD("Cancel", "", "", method_cancel, 0),
        SD_BUS_METHOD("QuerySnapshots", "", "a" VSS_BUS_SIG_SNAPPROP, method_plain, 0),
        SD_BUS_METHOD("QueryProviders", "", "a" VSS_BUS_SIG_PROVIDER, method_plain, 0),
        SD_BUS_METHOD("DeleteSnapshots", "sub", "is", method_plain, 0),
        SD_BUS_VTABLE_END
};

/* ------------------------------------------------------------------------------------------ */
/* Writer interface                                                                             */
/* ------------------------------------------------------------------------------------------ */

static int method_subscribe(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        FakeVssd *f = userdata;
        const char *writer_id, *name, *instance;
        int32_t usage, source, level;
        uint32_t freeze_timeout, flags;
        int k;

        k = sd_bus_message_read(m, "sssiiiuu", &writer_id, &name, &instance, &usage, &source, &level,
                                &freeze_timeout, &flags);
        if (k < 0)
                return k;
        if (f->subscribed)
                return vss_hr_to_bus_error(error, VSS_E_WRITER_ALREADY_SUBSCRIBED, NULL);

        f->subscribed = true;
        pthread_cond_broadcast(&f->cond);
        return sd_bus_reply_method_return(m, "s", FAKE_INSTANCE_ID);
}

static int method_unsubscribe(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        FakeVssd *f = userdata;

        f->unsubscribed = true;
        pthread_cond_broadcast(&f->cond);
        return sd_bus_reply_method_return(m, NULL);
}

static const sd_bus_vtable writer_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("Subscribe", "sssiiiuu", "s", method_subscribe, 0),
        SD_BUS_METHOD("Unsubscribe", "", "", method_unsubscribe, 0),
        SD_BUS_VTABLE_END
};

/* ------------------------------------------------------------------------------------------ */
/* Server thread                                                                                */
/* ------------------------------------------------------------------------------------------ */

static void fake_drop_connection_locked(FakeVssd *f) {
        f->deferred = sd_bus_message_unref(f->deferred);
        for (size_t i = 0; i < FAKE_MAX_EVENTS; i++)
                f->events[i].slot = sd_bus_slot_unref(f->events[i].slot);
        f->bus = sd_bus_close_unref(f->bus);
        f->disconnect_requested = false;
        pthread_cond_broadcast(&f->cond);
}

static int fake_accept_locked(FakeVssd *f, int fd) {
        _cleanup_(sd_bus_unrefp) sd_bus *bus = NULL;
        sd_id128_t id;
        int k;

        k = sd_bus_new(&bus);
        if (k < 0)
                return k;
        k = sd_bus_set_fd(bus, fd, fd);
        if (k < 0)
                return k;
        (void) sd_id128_randomize(&id);
        k = sd_bus_set_server(bus, 1, id);
        if (k >= 0)
                k = sd_bus_add_object_vtable(bus, NULL, VSS_BUS_PATH, VSS_BUS_IFACE_REQUESTER, requester_vtable, f);
        if (k >= 0)
                k = sd_bus_add_object_vtable(bus, NULL, VSS_BUS_PATH, VSS_BUS_IFACE_WRITER, writer_vtable, f);
        if (k >= 0)
                k = sd_bus_start(bus);
        if (k < 0)
                return k;

        f->bus = TAKE_PTR(bus);
        f->subscribed = f->unsubscribed = false;
        return 0;
}

static void *fake_thread(void *p) {
        FakeVssd *f = p;

        pthread_mutex_lock(&f->lock);
        while (!f->stop) {
                struct pollfd pfd = { .fd = -1 };
                int k;

                if (f->bus && f->disconnect_requested)
                        fake_drop_connection_locked(f);

                if (f->bus) {
                        do
                                k = sd_bus_process(f->bus, NULL);
                        while (k > 0);
                        if (k < 0) {
                                fake_drop_connection_locked(f);
                                continue;
                        }
                        pfd.fd = sd_bus_get_fd(f->bus);
                        pfd.events = (short) sd_bus_get_events(f->bus);
                } else {
                        pfd.fd = f->listen_fd;
                        pfd.events = POLLIN;
                }
                pthread_cond_broadcast(&f->cond);
                pthread_mutex_unlock(&f->lock);

                k = poll(&pfd, 1, 10);

                pthread_mutex_lock(&f->lock);
                if (k > 0 && !f->bus && (pfd.revents & POLLIN)) {
                        int cfd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

                        if (cfd >= 0 && fake_accept_locked(f, cfd) < 0)
                                close(cfd);
                }
        }
        if (f->bus)
                fake_drop_connection_locked(f);
        pthread_mutex_unlock(&f->lock);
        return NULL;
}

FakeVssd *fake_vssd_new(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        FakeVssd *f;

        f = calloc(1, sizeof(*f));
        if (!f)
                return NULL;

        strcpy(f->dir, "/tmp/test-libvss-XXXXXX");
        if (!mkdtemp(f->dir)) {
                free(f);
                return NULL;
        }
        snprintf(f->path, sizeof(f->path), "%s/vssd.sock", f->dir);
        strcpy(sa.sun_path, f->path);

        f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (f->listen_fd < 0 || bind(f->listen_fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 ||
            listen(f->listen_fd, 8) < 0) {
                if (f->listen_fd >= 0)
                        close(f->listen_fd);
                rmdir(f->dir);
                free(f);
                return NULL;
        }

        pthread_mutex_init(&f->lock, NULL);
        pthread_cond_init(&f->cond, NULL);
        if (pthread_create(&f->thread, NULL, fake_thread, f) != 0) {
                close(f->listen_fd);
                unlink(f->path);
                rmdir(f->dir);
                free(f);
                return NULL;
        }
        return f;
}

void fake_vssd_free(FakeVssd *f) {
        if (!f)
                return;

        pthread_mutex_lock(&f->lock);
        f->stop = true;
        pthread_mutex_unlock(&f->lock);
        pthread_join(f->thread, NULL);

        for (size_t i = 0; i < FAKE_MAX_EVENTS; i++) {
                writer_metadata_free(f->events[i].reply.md);
                free(f->events[i].reply.components_xml);
        }
        free(f->components_xml);
        close(f->listen_fd);
        unlink(f->path);
        rmdir(f->dir);
        pthread_cond_destroy(&f->cond);
        pthread_mutex_destroy(&f->lock);
        free(f);
}

void fake_vssd_set_components_xml(FakeVssd *f, const char *xml) {
        char *copy = xml ? strdup(xml) : NULL;

        assert(!xml || copy);
        pthread_mutex_lock(&f->lock);
        free(f->components_xml);
        f->components_xml = copy;
        pthread_mutex_unlock(&f->lock);
}

const char *fake_vssd_socket_path(FakeVssd *f) {
        return f->path;
}

void fake_vssd_set_deferred_mode(FakeVssd *f, FakeDeferredMode mode) {
        pthread_mutex_lock(&f->lock);
        f->deferred_mode = mode;
        pthread_mutex_unlock(&f->lock);
}

void fake_vssd_set_cancel_mode(FakeVssd *f, FakeCancelMode mode) {
        pthread_mutex_lock(&f->lock);
        f->cancel_mode = mode;
        pthread_mutex_unlock(&f->lock);
}

void fake_vssd_disconnect(FakeVssd *f) {
        struct timespec ts;

        timespec_in(&ts, FAKE_WAIT_LIMIT_SEC);
        pthread_mutex_lock(&f->lock);
        f->disconnect_requested = true;
        while (f->bus && f->disconnect_requested)
                if (pthread_cond_timedwait(&f->cond, &f->lock, &ts) != 0)
                        break;
        pthread_mutex_unlock(&f->lock);
}

unsigned fake_vssd_requester_calls(FakeVssd *f) {
        unsigned n;

        pthread_mutex_lock(&f->lock);
        n = f->requester_calls;
        pthread_mutex_unlock(&f->lock);
        return n;
}

bool fake_vssd_wait_deferred(FakeVssd *f) {
        struct timespec ts;
        bool held;

        timespec_in(&ts, FAKE_WAIT_LIMIT_SEC);
        pthread_mutex_lock(&f->lock);
        while (!f->deferred)
                if (pthread_cond_timedwait(&f->cond, &f->lock, &ts) != 0)
                        break;
        held = f->deferred;
        pthread_mutex_unlock(&f->lock);
        return held;
}

bool fake_vssd_wait_subscribed(FakeVssd *f) {
        struct timespec ts;
        bool s;

        timespec_in(&ts, FAKE_WAIT_LIMIT_SEC);
        pthread_mutex_lock(&f->lock);
        while (!f->subscribed)
                if (pthread_cond_timedwait(&f->cond, &f->lock, &ts) != 0)
                        break;
        s = f->subscribed;
        pthread_mutex_unlock(&f->lock);
        return s;
}

bool fake_vssd_unsubscribed(FakeVssd *f) {
        bool s;

        pthread_mutex_lock(&f->lock);
        s = f->unsubscribed;
        pthread_mutex_unlock(&f->lock);
        return s;
}

/* ------------------------------------------------------------------------------------------ */
/* Events to the writer                                                                         */
/* ------------------------------------------------------------------------------------------ */

/* The answer's `out` dictionary (docs/dbus-api.md): keep components_xml. */
static void read_event_out(sd_bus_message *m, FakeEventReply *reply) {
        const char *key, *xml;

        if (sd_bus_message_enter_container(m, 'a', "{sv}") <= 0)
                return;
        while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
                if (sd_bus_message_read(m, "s", &key) < 0)
                        return;
                if (streq(key, "components_xml") && sd_bus_message_read(m, "v", "s", &xml) >= 0) {
                        free(reply->components_xml);
                        reply->components_xml = strdup(xml);
                } else if (sd_bus_message_skip(m, "v") < 0)
                        return;
                if (sd_bus_message_exit_container(m) < 0)
                        return;
        }
}

static int event_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        FakeEvent *e = userdata;
        int ok = 0, k;

        if (sd_bus_message_is_method_error(m, NULL))
                e->reply.is_error = true;
        else {
                k = sd_bus_message_read(m, "b", &ok);
                e->reply.ok = k > 0 && ok;
                if (sd_bus_message_has_signature(m, "b" VSS_BUS_SIG_WMD))
                        (void) writer_metadata_read(m, &e->reply.md);
                else if (sd_bus_message_read(m, "i", &e->reply.failure) >= 0)
                        read_event_out(m, &e->reply);
        }
        e->done = true;
        pthread_cond_broadcast(&e->fake->cond);
        return 0;
}

static int append_context(sd_bus_message *m, const vss_id *set_id, const char *const *volumes,
                          bool select_components, const char *components_xml) {
        int k;

        k = sd_bus_message_open_container(m, 'a', "{sv}");
        if (k < 0)
                return k;
        k = sd_bus_message_append(m, "{sv}", "backup_id", "s", "backup-1");
        if (k >= 0 && set_id)
                k = sd_bus_message_append(m, "{sv}", "snapshot_set_id", "s", vss_id_to_str(set_id).s);
        if (k >= 0)
                k = sd_bus_message_append(m, "{sv}", "context", "u", (uint32_t) VSS_CTX_BACKUP);
        if (k >= 0)
                k = sd_bus_message_append(m, "{sv}", "backup_type", "u", (uint32_t) VSS_BT_INCREMENTAL);
        if (k >= 0)
                k = sd_bus_message_append(m, "{sv}", "select_components", "b", (int) select_components);
        if (k >= 0)
                k = sd_bus_message_append(m, "{sv}", "unknown_future_key", "t", (uint64_t) 7);
        if (k >= 0 && volumes) {
                k = sd_bus_message_open_container(m, 'e', "sv");
                if (k >= 0)
                        k = sd_bus_message_append(m, "s", "volumes");
                if (k >= 0)
                        k = sd_bus_message_open_container(m, 'v', "as");
                if (k >= 0)
                        k = sd_bus_message_append_strv(m, (char **) volumes);
                if (k >= 0)
                        k = sd_bus_message_close_container(m);
                if (k >= 0)
                        k = sd_bus_message_close_container(m);
        }
        if (k >= 0 && select_components)
                k = sd_bus_message_append(m, "{sv}", "components", "a(usssb)", 1, (uint32_t) VSS_CT_FILEGROUP, "",
                                          "data", "", 1);
        if (k >= 0 && select_components && components_xml)
                k = sd_bus_message_append(m, "{sv}", "components_xml", "s", components_xml);
        if (k < 0)
                return k;
        return sd_bus_message_close_container(m);
}

int fake_vssd_send_event(FakeVssd *f, const char *member, const vss_id *set_id, const char *const *volumes,
                         bool select_components) {
        int h = -1;

        pthread_mutex_lock(&f->lock);
        for (int i = 0; i < FAKE_MAX_EVENTS; i++)
                if (!f->events[i].used) {
                        h = i;
                        break;
                }
        if (h >= 0 && f->bus) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
                FakeEvent *e = &f->events[h];
                int k;

                *e = (FakeEvent) { .used = true, .fake = f };
                k = sd_bus_message_new_method_call(f->bus, &m, NULL, VSS_BUS_WRITER_PATH, VSS_BUS_IFACE_EVENTS,
                                                   member);
                if (k >= 0)
                        k = append_context(m, set_id, volumes, select_components, f->components_xml);
                if (k >= 0)
                        k = sd_bus_call_async(f->bus, &e->slot, m, event_reply, e, UINT64_MAX);
                if (k < 0) {
                        e->used = false;
                        h = -1;
                }
        } else
                h = -1;
        pthread_mutex_unlock(&f->lock);
        return h;
}

bool fake_vssd_wait_reply(FakeVssd *f, int h, FakeEventReply *ret) {
        struct timespec ts;
        bool done;

        if (h < 0 || h >= FAKE_MAX_EVENTS)
                return false;

        timespec_in(&ts, FAKE_WAIT_LIMIT_SEC);
        pthread_mutex_lock(&f->lock);
        while (!f->events[h].done)
                if (pthread_cond_timedwait(&f->cond, &f->lock, &ts) != 0)
                        break;
        done = f->events[h].done;
        if (done)
                *ret = f->events[h].reply;
        pthread_mutex_unlock(&f->lock);
        return done;
}
