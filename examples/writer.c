/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * writer.c: a minimal VSS writer inside a tiny application.
 *
 *   vss-example-writer JOURNAL
 *
 * The application appends records to JOURNAL, each written in two steps ("begin N", then
 * "end N"), so a copy taken between the steps is torn. The writer describes JOURNAL as one
 * component and, from Freeze to Thaw (or Abort), keeps the application between records:
 * every snapshot then ends with a whole record. The application's loop and the writer's
 * callbacks (on libvss's own thread) meet at one mutex and condition: Freeze waits for the
 * record in progress and stops new ones until Thaw or Abort.
 *
 * Stops on SIGINT or SIGTERM. Prints "subscribed" once vssd knows the writer.
 * Build:  cc writer.c -o vss-example-writer $(pkg-config --cflags --libs libvss) -pthread
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vss/vss.h>

/* The writer class: fixed for this application, so requesters can recognise it. */
#define EXAMPLE_WRITER_CLASS "3f0c8a52-6d1e-4b7a-9c24-58e1d0a7b6c3"

typedef struct App {
        char *dir;                  /* the journal's directory, absolute */
        char *name;                 /* the journal's file name */
        pthread_mutex_t lock;       /* guards the two flags */
        pthread_cond_t changed;     /* either flag changed */
        bool frozen;                /* between Freeze and Thaw/Abort: no record may start */
        bool in_record;             /* the loop is between "begin" and "end" */
} App;

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
        stop = 1;
}

static bool on_identify(vss_writer *w, vss_create_writer_metadata *md, void *userdata) {
        App *app = userdata;

        /* One component holding the journal; restore puts the file back if it is missing. */
        return vss_create_writer_metadata_add_component(md, VSS_CT_FILEGROUP, NULL, "journal", "Example journal",
                                                        false, false, true, false, 0) == S_OK &&
               vss_create_writer_metadata_add_files_to_file_group(md, NULL, "journal", app->dir, app->name, false,
                                                                  NULL, VSS_FSBT_ALL_BACKUP_REQUIRED) == S_OK &&
               vss_create_writer_metadata_set_restore_method(md, VSS_RME_RESTORE_IF_NOT_THERE, NULL, NULL,
                                                             VSS_WRE_NEVER, false) == S_OK;
}

static bool on_freeze(vss_writer *w, void *userdata) {
        App *app = userdata;

        /* No record starts from now on; wait for the one in progress to end. */
        pthread_mutex_lock(&app->lock);
        app->frozen = true;
        while (app->in_record)
                pthread_cond_wait(&app->changed, &app->lock);
        pthread_mutex_unlock(&app->lock);
        return true;
}

/* Thaw and Abort both end a freeze; Abort may also come without one, on any thread. */
static bool release_freeze(App *app) {
        pthread_mutex_lock(&app->lock);
        app->frozen = false;
        pthread_cond_broadcast(&app->changed);
        pthread_mutex_unlock(&app->lock);
        return true;
}

static bool on_thaw(vss_writer *w, void *userdata) {
        return release_freeze(userdata);
}

static bool on_abort(vss_writer *w, void *userdata) {
        return release_freeze(userdata);
}

/* One record: two writes the snapshot must never see apart. */
static int append_record(App *app, FILE *f, unsigned long n) {
        int r = 0;

        pthread_mutex_lock(&app->lock);
        while (app->frozen)
                pthread_cond_wait(&app->changed, &app->lock);
        app->in_record = true;
        pthread_mutex_unlock(&app->lock);

        if (fprintf(f, "begin %lu\n", n) < 0 || fflush(f) != 0)
                r = -EIO;
        usleep(200); /* the torn moment a snapshot must not catch */
        if (r == 0 && (fprintf(f, "end %lu\n", n) < 0 || fflush(f) != 0))
                r = -EIO;

        pthread_mutex_lock(&app->lock);
        app->in_record = false;
        pthread_cond_broadcast(&app->changed);
        pthread_mutex_unlock(&app->lock);
        return r;
}

static int split_path(const char *path, App *app) {
        char *real, *slash;

        real = realpath(path, NULL);
        if (!real)
                return -errno;
        slash = strrchr(real, '/');
        app->name = strdup(slash + 1);
        *slash = '\0';
        app->dir = real[0] ? real : strdup("/");
        if (app->dir != real)
                free(real);
        return app->name && app->dir ? 0 : -ENOMEM;
}

int main(int argc, char **argv) {
        vss_writer_options opts = VSS_WRITER_OPTIONS_INIT;
        vss_writer_callbacks cb = {
                .version = VSS_WRITER_CALLBACKS_VERSION,
                .on_identify = on_identify,
                .on_freeze = on_freeze,
                .on_thaw = on_thaw,
                .on_abort = on_abort,
        };
        App app = { .lock = PTHREAD_MUTEX_INITIALIZER, .changed = PTHREAD_COND_INITIALIZER };
        vss_writer *w = NULL;
        unsigned long n = 0;
        FILE *f;
        vss_hr hr;

        if (argc != 2) {
                fprintf(stderr, "usage: %s JOURNAL\n", argv[0]);
                return 1;
        }
        f = fopen(argv[1], "ae");
        if (!f || split_path(argv[1], &app) < 0) {
                fprintf(stderr, "%s: %s\n", argv[1], strerror(errno));
                return 2;
        }
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);

        (void) vss_id_parse(EXAMPLE_WRITER_CLASS, &opts.writer_id);
        opts.writer_name = "Example Journal Writer";
        opts.instance_name = argv[1];
        opts.usage_type = VSS_UT_USERDATA;
        opts.source_type = VSS_ST_OTHER;
        opts.freeze_timeout_ms = 10000;

        hr = vss_writer_new(&w, &opts, &cb, &app);
        if (hr == S_OK)
                hr = vss_writer_subscribe(w, 0);
        if (hr != S_OK) {
                fprintf(stderr, "cannot subscribe: %s: %s\n", vss_hr_name(hr), vss_hr_message(hr));
                vss_writer_free(w);
                return 2;
        }
        printf("subscribed\n");
        fflush(stdout);

        while (!stop)
                if (append_record(&app, f, ++n) < 0) {
                        fprintf(stderr, "%s: write failed\n", argv[1]);
                        break;
                }

        /* Unsubscribing aborts a freeze in progress (on_abort), so nothing stays held. */
        vss_writer_free(w);
        fclose(f);
        free(app.dir);
        free(app.name);
        return 0;
}
