/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * config-file.c: vssd's configuration file, /etc/vss/vssd.conf and the drop-ins in
 * /etc/vss/vssd.conf.d/NAME.conf (vssd.conf(5)).
 *
 * A setting is one line "name = value", where name is the long name of a vssd option
 * (socket, event-timeout, allow-writer-uid, ...). The file is not a second parser of values:
 * each setting becomes the argument "--name=value" placed before the command line's, and the
 * one option parser in vssd.c reads them all. So a value means exactly what the flag means,
 * a bad value gets the flag's message, the command line overrides the files (getopt keeps
 * the last value of a single-valued option), and a repeatable option (allow-writer-uid)
 * collects from both. Why not a richer format: every setting vssd has is a flag already;
 * one way to set a thing keeps docs, tests and behaviour from drifting apart.
 *
 * Lines are split by conf-text.c, the reader the writers' configuration files use too. Every
 * setting must be a known name; an unknown name, a line without '=', or a file over
 * CONF_FILE_SIZE_MAX refuses to start with the file and line named (a typo in a limit must not
 * silently leave the default).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf-text.h"
#include "macro.h"
#include "vssd/config-file.h"
#include "vssd/log.h"

#define CONFIG_SETTINGS_MAX 1024U
#define CONFIG_DROPINS_MAX 256U

typedef struct Strv {
        char **v;
        size_t n;
} Strv;

static void strv_done(Strv *s) {
        for (size_t i = 0; i < s->n; i++)
                free(s->v[i]);
        free(s->v);
        *s = (Strv) {};
}

static int strv_push(Strv *s, char *item) {
        char **v;

        if (!item)
                return -ENOMEM;
        v = realloc(s->v, (s->n + 2) * sizeof(char *));
        if (!v) {
                free(item);
                return -ENOMEM;
        }
        s->v = v;
        s->v[s->n++] = item;
        s->v[s->n] = NULL;
        return 0;
}

static bool name_allowed(const char *name, const char *const *allowed) {
        for (size_t i = 0; allowed[i]; i++)
                if (streq(allowed[i], name))
                        return true;
        return false;
}

typedef struct FileParse {
        const char *path;
        const char *const *allowed;
        Strv *out;
        bool refused;   /* on_setting said why it stopped */
} FileParse;

/* One setting of a file: a known name becomes "--name=value" in the arguments. */
static int on_setting(unsigned line, const char *name, const char *value, void *userdata) {
        FileParse *p = userdata;
        char *arg;

        p->refused = true;
        if (!name_allowed(name, p->allowed))
                return log_error_errno(-EINVAL, "%s:%u: unknown setting \"%s\" (see vssd.conf(5)).", p->path, line,
                                       name);
        if (p->out->n >= CONFIG_SETTINGS_MAX)
                return log_error_errno(-E2BIG, "%s: more than %u settings.", p->path, CONFIG_SETTINGS_MAX);
        if (asprintf(&arg, "--%s=%s", name, value) < 0)
                return log_oom();
        if (strv_push(p->out, arg) < 0)  /* frees arg */
                return log_oom();
        p->refused = false;
        return 0;
}

/* Appends "--name=value" for each setting of path to out. -ENOENT, unlogged, when path is
 * missing; every other failure is logged. */
static int file_read(const char *path, const char *const *allowed, Strv *out) {
        _cleanup_free_ char *text = NULL;
        FileParse p = { .path = path, .allowed = allowed, .out = out };
        unsigned line = 0;
        int r;

        r = conf_file_read(path, CONF_FILE_SIZE_MAX, &text);
        if (r == -ENOENT)
                return r;
        if (r == -E2BIG)
                return log_error_errno(r, "%s: larger than %u bytes.", path, CONF_FILE_SIZE_MAX);
        if (r < 0)
                return log_error_errno(r, "Cannot read %s: %m", path);
        r = conf_text_parse(text, on_setting, &p, &line);
        if (r < 0 && !p.refused)
                return log_error_errno(r, "%s:%u: expected \"name = value\".", path, line);
        return r;
}

static int cmp_names(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The drop-ins of dir: its *.conf files in lexical order. A missing dir has none. */
static int dropins_read(const char *dir, const char *const *allowed, Strv *out) {
        _cleanup_(strv_done) Strv names = {};
        struct dirent *de;
        DIR *d;
        int r = 0;

        d = opendir(dir);
        if (!d)
                return errno == ENOENT ? 0 : log_error_errno(-errno, "Cannot read %s: %m", dir);
        while ((errno = 0, de = readdir(d))) {
                size_t len = strlen(de->d_name);

                if (de->d_name[0] == '.' || len < 6 || !streq(de->d_name + len - 5, ".conf"))
                        continue;
                if (names.n >= CONFIG_DROPINS_MAX) {
                        r = log_error_errno(-E2BIG, "%s: more than %u drop-ins.", dir, CONFIG_DROPINS_MAX);
                        break;
                }
                r = strv_push(&names, strdup(de->d_name));
                if (r < 0)
                        break;
        }
        closedir(d);
        if (r < 0)
                return r;
        if (names.n > 0)
                qsort(names.v, names.n, sizeof(char *), cmp_names);
        for (size_t i = 0; i < names.n; i++) {
                _cleanup_free_ char *path = NULL;

                if (asprintf(&path, "%s/%s", dir, names.v[i]) < 0)
                        return log_oom();
                r = file_read(path, allowed, out);
                if (r < 0)
                        return r == -ENOENT ? log_error_errno(r, "Cannot read %s: %m", path) : r;
        }
        return 0;
}

/* The --config=PATH / --config PATH / --no-config of argv, if any. */
static int config_option(int argc, char **argv, const char **ret_path, bool *ret_none) {
        for (int i = 1; i < argc; i++) {
                if (streq(argv[i], "--"))
                        break;
                if (streq(argv[i], "--no-config"))
                        *ret_none = true;
                else if (strncmp(argv[i], "--config=", 9) == 0)
                        *ret_path = argv[i] + 9;
                else if (streq(argv[i], "--config")) {
                        if (i + 1 >= argc)
                                return log_error_errno(-EINVAL, "--config needs a path.");
                        *ret_path = argv[++i];
                }
        }
        return 0;
}

int config_argv_build(int argc, char **argv, const char *default_path, const char *const *allowed,
                      int *ret_argc, char ***ret_argv) {
        _cleanup_(strv_done) Strv out = {};
        _cleanup_free_ char *dropin_dir = NULL;
        const char *path = NULL;
        bool none = false;
        int r;

        assert(argc >= 1);
        r = config_option(argc, argv, &path, &none);
        if (r < 0)
                return r;

        r = strv_push(&out, strdup(argv[0]));
        if (r < 0)
                return log_oom();
        if (!none) {
                bool explicit = path != NULL;

                if (!path)
                        path = default_path;
                r = file_read(path, allowed, &out);
                if (r == -ENOENT) {
                        if (explicit)
                                return log_error_errno(r, "Cannot read %s: %m", path);
                        r = 0;  /* no file: the built-in defaults */
                }
                if (r < 0)
                        return r;
                if (asprintf(&dropin_dir, "%s.d", path) < 0)
                        return log_oom();
                r = dropins_read(dropin_dir, allowed, &out);
                if (r < 0)
                        return r;
        }
        for (int i = 1; i < argc; i++) {
                r = strv_push(&out, strdup(argv[i]));
                if (r < 0)
                        return log_oom();
        }

        *ret_argc = (int) out.n;
        *ret_argv = TAKE_PTR(out.v);
        out.n = 0;
        return 0;
}

void config_argv_free(char **argv) {
        if (!argv)
                return;
        for (size_t i = 0; argv[i]; i++)
                free(argv[i]);
        free(argv);
}
