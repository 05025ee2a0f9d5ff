/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * client.c: a connection's identity, role and end (client.h). The accept handler and the
 * sd-bus setup are in client-dbus.c.
 */
#include <malloc.h>
#include <stdlib.h>

#include "vss-bus.h"
#include "vssd/backup.h"
#include "vssd/client.h"
#include "vssd/log.h"
#include "vssd/writer-registry.h"

Client *client_free(Client *c) {
        Manager *m;

        if (!c)
                return NULL;
        if (c->dispatching) {
                /* Inside client_bus_process(): it frees c when sd-bus returns. */
                c->free_requested = true;
                return NULL;
        }
        m = c->manager;

        log_debug("Connection of pid %d (uid %u) closed.", (int) c->ucred.pid, (unsigned) c->ucred.uid);

        if (c->backup) {
                Backup *b = TAKE_PTR(c->backup);

                backup_release(b);   /* runs on after the Client is gone; never touches c->bus */
        }
        if (c->writer) {
                Writer *w = TAKE_PTR(c->writer);

                writer_leave(w);
        }

        LIST_REMOVE(clients, m->clients, c);

        client_input_stop(c);
        client_bus_stop(c);
        c->bus = sd_bus_close_unref(c->bus);
        client_usage_release(c);
        /* sd-bus freed the large buffers with its messages: give the pages back to the system
         * now, not whenever glibc next trims. */
        if (c->largest_message >= CLIENT_TRIM_THRESHOLD)
                (void) malloc_trim(0);
        free(c->groups);
        free(c);
        return NULL;
}

bool client_in_group(const Client *c, gid_t gid) {
        if (c->ucred.gid == gid)
                return true;
        for (size_t i = 0; i < c->n_groups; i++)
                if (c->groups[i] == gid)
                        return true;
        return false;
}

bool client_may_request(const Client *c) {
        const Manager *m = c->manager;

        if (c->ucred.uid == 0)
                return true;
        return m->have_backup_gid && client_in_group(c, m->backup_gid);
}

bool client_may_subscribe(const Client *c) {
        const Manager *m = c->manager;

        if (client_may_request(c))
                return true;
        for (size_t i = 0; i < m->config.n_allow_writer_uids; i++)
                if (m->config.allow_writer_uids[i] == c->ucred.uid)
                        return true;
        return false;
}

int client_check_requester(Client *c, sd_bus_error *error, Backup **ret_backup) {
        int r;

        assert(c);
        assert(ret_backup);

        if (!client_may_request(c))
                return vss_hr_to_bus_error(error, E_ACCESSDENIED,
                                           "uid %u is neither root nor in group \"backup\"",
                                           (unsigned) c->ucred.uid);

        if (c->role == CLIENT_ROLE_WRITER)
                return vss_hr_to_bus_error(error, VSS_E_BAD_STATE,
                                           "this connection subscribed a writer; a requester needs its own connection");

        if (!c->backup) {
                r = backup_new(c->manager, c, &c->backup);
                if (r < 0)
                        return vss_hr_to_bus_error(error, E_OUTOFMEMORY, "cannot create the backup object");
                c->role = CLIENT_ROLE_REQUESTER;
        }

        *ret_backup = c->backup;
        return 0;
}
