/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-tool-snapshots.c (suite root): what the backup tools see of a snapshot, against the
 * real vssd, vss-guardian and providers (no test provider).
 *
 *   image      every snapshot is a directory to the tools: an ext4 volume on a loop device
 *              whose image lies on XFS (the image provider, whose snapshot is an image file)
 *              backs up with vssbackup and restores byte for byte; vshadow -exec gets
 *              $VSHADOW_SNAPSHOT_0 as a directory that tar archives, and the read-only mount
 *              behind it is gone once vshadow released the set (with -p: once vshadow exits,
 *              the snapshot staying).
 *   privilege  the backup privilege (docs/security.md): a user of group backup (made here, not
 *              root) running vssbackup installed as the build installs it (root:backup 0750,
 *              CAP_DAC_READ_SEARCH) backs up and restores a root-owned 0600 file of a btrfs
 *              volume, and vshadow passes the privilege to its -exec command (tar reads the
 *              file); the same user with a copy that lacks the capability cannot read it; an
 *              outsider cannot run the tools, nor make a snapshot with a copy of their own.
 *   unsupported  a tmpfs volume: VSS_E_VOLUME_NOT_SUPPORTED names the filesystem type and each
 *              provider with what the volume lacks for it (docs/exit-codes.md).
 *
 * Needs root, mkfs.xfs, mkfs.ext4, mkfs.btrfs, setcap, patchelf, useradd (exits 77 without
 * root outside CI). Environment (meson): VSSD, VSS_GUARDIAN_PATH, VSSBACKUP, VSHADOW, LIBVSS.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "loop-fs.h"
#include "macro.h"
#include "root-harness.h"

#define WAIT_MS 10000
#define SECRET "the root-only secret\n"

static struct {
        char dir[PATH_MAX];             /* 0755: the test's users must reach what is below */
        char socket[PATH_MAX];
        char state[PATH_MAX];
        char exposed[PATH_MAX];
        char host_mnt[PATH_MAX];        /* XFS holding the ext4 image */
        char vol_mnt[PATH_MAX];         /* the image provider's volume */
        char priv[PATH_MAX];            /* privileged copies: priv/bin/{vssbackup,vshadow}, priv/libvss/ */
        char member[32], outsider[32];
        LoopFs host, vol;
        LoopBtrfs btrfs;
        pid_t vssd;
        unsigned n;
} fx;

typedef struct Run {
        int status;
        char *out, *err;
} Run;

static void run_done(Run *r) {
        free(r->out);
        free(r->err);
        *r = (Run) {};
}

static void pathf(char *buf, const char *fmt, ...) _printf_(2, 3);
static void pathf(char *buf, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        assert_true(vsnprintf(buf, PATH_MAX, fmt, ap) < PATH_MAX);
        va_end(ap);
}

static char *slurp(const char *path) {
        char *data = NULL;
        size_t size;

        if (read_file_full(path, &data, &size) < 0)
                return strdup("");
        return data;
}

/*
 * Runs argv (argv[0] a path) to its end as user (NULL: root, as we are), in dir fx.dir, with
 * a minimal environment (the shell's PATH), stdout and stderr captured.
 */
static Run run_user(const char *user, char *const argv[]) {
        char out[PATH_MAX], err[PATH_MAX];
        Run r = {};
        int status;
        pid_t pid;

        pathf(out, "%s/run-%u.out", fx.dir, fx.n);
        pathf(err, "%s/run-%u.err", fx.dir, fx.n++);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                char *env[] = { (char *) "PATH=/usr/sbin:/usr/bin:/sbin:/bin", (char *) "LC_ALL=C", NULL };
                int o = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                int e = open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

                if (o < 0 || e < 0 || dup2(o, STDOUT_FILENO) < 0 || dup2(e, STDERR_FILENO) < 0)
                        _exit(125);
                if (user) {
                        struct passwd *pw = getpwnam(user);

                        if (!pw || initgroups(user, pw->pw_gid) < 0 ||
                            setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
                            setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0)
                                _exit(125);
                }
                if (chdir(fx.dir) < 0)
                        _exit(125);
                execve(argv[0], argv, env);
                _exit(errno == EACCES ? 126 : 127);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        r.out = slurp(out);
        r.err = slurp(err);
        return r;
}

static void assert_status(const Run *r, int expected, const char *what) {
        if (r->status != expected)
                fail_msg("%s: status %d (expected %d)\nstdout: %s\nstderr: %s", what, r->status, expected, r->out,
                         r->err);
}

static int cmd(const char *fmt, ...) _printf_(1, 2);
static int cmd(const char *fmt, ...) {
        char line[4 * PATH_MAX];
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        if (r < 0 || (size_t) r >= sizeof(line))
                return -ENAMETOOLONG;
        r = system(line);
        return r == 0 ? 0 : -EPROTO;
}

static void write_text(const char *path, const char *text, mode_t mode) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
        assert_int_equal(fchmod(fd, mode), 0);
        assert_int_equal(close(fd), 0);
}

static bool is_mounted(const char *path) {
        _cleanup_free_ char *info = slurp("/proc/self/mountinfo");
        char needle[PATH_MAX + 2];

        snprintf(needle, sizeof(needle), " %s ", path);
        return strstr(info, needle) != NULL;
}

/* The "<time>-<type>-<id>" directory vssbackup printed ("full backup DIR/NAME"). */
static void backup_path(const Run *r, char *buf) {
        const char *p = strstr(r->out, " backup ");
        const char *nl;

        assert_non_null(p);
        p += strlen(" backup ");
        nl = strchr(p, '\n');
        assert_non_null(nl);
        assert_true((size_t) (nl - p) < PATH_MAX);
        memcpy(buf, p, (size_t) (nl - p));
        buf[nl - p] = '\0';
}

/* -- fixture --------------------------------------------------------------------------------- */

static int vssd_start(void) {
        char *argv[] = { getenv("VSSD"), (char *) "--socket", fx.socket, (char *) "--state-dir", fx.state,
                         (char *) "--expose-dir", fx.exposed, (char *) "--guardian", getenv("VSS_GUARDIAN_PATH"),
                         NULL };
        int r;

        r = process_spawn(argv, &fx.vssd, NULL);
        if (r < 0)
                return r;
        r = unix_socket_wait(fx.socket, fx.vssd, WAIT_MS);
        if (r == -ESRCH)
                fx.vssd = 0;
        return r;
}

/*
 * The tools as the build installs them (meson's install_mode and
 * scripts/install-backup-privilege.sh), into fx.priv: root:backup 0750 with
 * CAP_DAC_READ_SEARCH. In secure-execution mode the loader ignores the build tree's $ORIGIN
 * run path, so each copy's run path names the copied libvss by its absolute path, as an
 * installed binary finds libvss in a system directory.
 */
static int privileged_copies(void) {
        const char *tools[] = { getenv("VSSBACKUP"), getenv("VSHADOW") };
        const char *lib = getenv("LIBVSS");
        char bin[PATH_MAX], libdir[PATH_MAX];

        pathf(bin, "%s/bin", fx.priv);
        pathf(libdir, "%s/libvss", fx.priv);
        if (mkdir(fx.priv, 0755) < 0 || mkdir(bin, 0755) < 0 || mkdir(libdir, 0755) < 0)
                return -errno;
        if (cmd("cp '%s' '%s/libvss.so.0'", lib, libdir) < 0)
                return -EIO;
        for (size_t i = 0; i < ELEMENTSOF(tools); i++) {
                const char *name = strrchr(tools[i], '/') + 1;

                if (cmd("cp '%s' '%s/%s' && patchelf --set-rpath '%s' '%s/%s' && chown root:backup '%s/%s' && "
                        "chmod 0750 '%s/%s' && setcap cap_dac_read_search+ep '%s/%s'",
                        tools[i], bin, name, libdir, bin, name, bin, name, bin, name, bin, name) < 0)
                        return -EIO;
                /* The same program without the capability, for the user who must fail. */
                if (cmd("cp '%s' '%s/%s-plain' && patchelf --set-rpath '%s' '%s/%s-plain' && chmod 0755 '%s/%s-plain'",
                        tools[i], bin, name, libdir, bin, name, bin, name) < 0)
                        return -EIO;
        }
        return 0;
}

static int users_make(void) {
        snprintf(fx.member, sizeof(fx.member), "vsstb%06u", (unsigned) (getpid() % 1000000));
        snprintf(fx.outsider, sizeof(fx.outsider), "vssto%06u", (unsigned) (getpid() % 1000000));
        if (cmd("useradd -M -N -d / -s /usr/sbin/nologin -G backup %s", fx.member) < 0)
                return -EIO;
        if (cmd("useradd -M -N -d / -s /usr/sbin/nologin %s", fx.outsider) < 0)
                return -EIO;
        return 0;
}

static void users_remove(void) {
        if (fx.member[0])
                (void) cmd("userdel %s 2>/dev/null", fx.member);
        if (fx.outsider[0])
                (void) cmd("userdel %s 2>/dev/null", fx.outsider);
}

static int group_setup(void **state) {
        static const char *const needed[] = { "mkfs.xfs", "mkfs.ext4", "mkfs.btrfs", "setcap", "patchelf", "useradd",
                                              "tar" };
        char image[PATH_MAX];
        int r;

        for (size_t i = 0; i < ELEMENTSOF(needed); i++)
                if (cmd("command -v %s >/dev/null", needed[i]) < 0) {
                        fprintf(stderr, "%s is needed (scripts/install-deps.sh)\n", needed[i]);
                        return -1;
                }

        snprintf(fx.dir, sizeof(fx.dir), "/var/tmp/vss-toolsnap-XXXXXX");
        if (!mkdtemp(fx.dir) || chmod(fx.dir, 0755) < 0)
                return -1;
        pathf(fx.socket, "%s/vssd.sock", fx.dir);
        pathf(fx.state, "%s/state", fx.dir);
        pathf(fx.exposed, "%s/exposed", fx.dir);
        pathf(fx.host_mnt, "%s/host", fx.dir);
        pathf(fx.vol_mnt, "%s/vol", fx.dir);
        pathf(fx.priv, "%s/priv", fx.dir);

        pathf(image, "%s/host.img", fx.dir);
        r = loop_fs_make(image, 512ULL << 20, "xfs", NULL, fx.host_mnt, &fx.host);
        if (r >= 0) {
                pathf(image, "%s/vol.img", fx.host_mnt);
                r = loop_fs_make(image, 64ULL << 20, "ext4", NULL, fx.vol_mnt, &fx.vol);
        }
        if (r >= 0)
                r = loop_btrfs_setup("/var/tmp/vss-toolsnap-btrfs-XXXXXX", 256ULL << 20, &fx.btrfs);
        if (r >= 0 && chmod(fx.btrfs.dir, 0755) < 0)
                r = -errno;
        if (r >= 0)
                r = privileged_copies();
        if (r >= 0)
                r = users_make();
        if (r >= 0)
                r = vssd_start();
        if (r < 0) {
                fprintf(stderr, "set-up failed: %s\n", strerror(-r));
                return -1;
        }
        return 0;
}

static int group_teardown(void **state) {
        if (fx.vssd > 0)
                (void) process_stop(fx.vssd, WAIT_MS);
        /* Exposures vssd left (it unmounts them itself on release). */
        (void) cmd("grep -o ' %s/[^ ]*' /proc/self/mountinfo | xargs -r -n1 umount -l 2>/dev/null", fx.exposed);
        (void) loop_fs_destroy(&fx.vol);
        (void) loop_fs_destroy(&fx.host);
        (void) loop_btrfs_teardown(&fx.btrfs);
        users_remove();
        (void) rm_rf_physical(fx.dir);
        return 0;
}

/* -- image: every snapshot is a directory ---------------------------------------------------- */

static void test_image_vssbackup(void **state) {
        char file[PATH_MAX], backups[PATH_MAX], target[PATH_MAX], backup[PATH_MAX], restored[PATH_MAX];
        _cleanup_free_ char *got = NULL;
        Run r;

        pathf(file, "%s/hello.txt", fx.vol_mnt);
        write_text(file, "on an image volume\n", 0644);
        pathf(backups, "%s/image-backups", fx.dir);
        pathf(target, "%s/image-restore", fx.dir);
        assert_int_equal(mkdir(backups, 0700), 0);

        r = run_user(NULL, (char *[]) { getenv("VSSBACKUP"), (char *) "backup", (char *) "--type", (char *) "full",
                                        (char *) "--no-writers", (char *) "--socket", fx.socket, fx.vol_mnt,
                                        (char *) "--to", backups, NULL });
        assert_status(&r, 0, "vssbackup backup of the image volume");
        backup_path(&r, backup);
        run_done(&r);

        r = run_user(NULL, (char *[]) { getenv("VSSBACKUP"), (char *) "restore", backup, (char *) "--to", target,
                                        (char *) "--no-writers", (char *) "--socket", fx.socket, NULL });
        assert_status(&r, 0, "vssbackup restore");
        run_done(&r);
        pathf(restored, "%s/hello.txt", target);
        got = slurp(restored);
        assert_string_equal(got, "on an image volume\n");
}

static void test_image_vshadow_tar(void **state) {
        char file[PATH_MAX], archive[PATH_MAX], seen[PATH_MAX], script[4 * PATH_MAX], extract[PATH_MAX],
                sock[PATH_MAX + 16];
        _cleanup_free_ char *where = NULL, *got = NULL;
        Run r;

        pathf(file, "%s/tar-me.txt", fx.vol_mnt);
        write_text(file, "archived from the snapshot\n", 0644);
        pathf(archive, "%s/image.tar", fx.dir);
        pathf(seen, "%s/image-snapshot-path", fx.dir);
        pathf(extract, "%s/image-untar", fx.dir);
        assert_int_equal(mkdir(extract, 0755), 0);

        /* The README's line, unchanged: tar -C "$VSHADOW_SNAPSHOT_0". */
        snprintf(script, sizeof(script),
                 "-exec=test -d \"$VSHADOW_SNAPSHOT_0\" && printf %%s \"$VSHADOW_SNAPSHOT_0\" > '%s' && "
                 "tar -C \"$VSHADOW_SNAPSHOT_0\" -cf '%s' .", seen, archive);
        snprintf(sock, sizeof(sock), "-socket=%s", fx.socket);
        r = run_user(NULL, (char *[]) { getenv("VSHADOW"), sock, (char *) "-nw", script, fx.vol_mnt, NULL });
        assert_status(&r, 0, "vshadow -exec=tar on the image volume");
        run_done(&r);

        where = slurp(seen);
        assert_true(strlen(where) > 0);
        /* Not the image file: a directory, mounted while the set lived, unmounted on release
         * (vssd releases when it sees vshadow's connection close, so possibly just after). */
        assert_null(strstr(where, ".img"));
        for (uint64_t end = now_usec() + WAIT_MS * USEC_PER_MSEC; is_mounted(where) && now_usec() < end;)
                (void) usleep(10 * 1000);
        assert_false(is_mounted(where));

        assert_int_equal(cmd("tar -C '%s' -xf '%s'", extract, archive), 0);
        pathf(file, "%s/tar-me.txt", extract);
        got = slurp(file);
        assert_string_equal(got, "archived from the snapshot\n");
}

/* -p: the snapshot stays, the mount made for the command does not. */
static void test_image_persistent(void **state) {
        char seen[PATH_MAX], script[2 * PATH_MAX], sock[PATH_MAX + 16];
        _cleanup_free_ char *where = NULL;
        Run r;

        pathf(seen, "%s/image-persistent-path", fx.dir);
        snprintf(sock, sizeof(sock), "-socket=%s", fx.socket);
        snprintf(script, sizeof(script),
                 "-exec=test -d \"$VSHADOW_SNAPSHOT_0\" && printf %%s \"$VSHADOW_SNAPSHOT_0\" > '%s'", seen);
        r = run_user(NULL, (char *[]) { getenv("VSHADOW"), sock, (char *) "-p", (char *) "-nw", script, fx.vol_mnt,
                                        NULL });
        assert_status(&r, 0, "vshadow -p -exec on the image volume");
        run_done(&r);
        where = slurp(seen);
        assert_true(strlen(where) > 0);
        assert_false(is_mounted(where));

        r = run_user(NULL, (char *[]) { getenv("VSHADOW"), sock, (char *) "-q", NULL });
        assert_status(&r, 0, "vshadow -q");
        assert_non_null(strstr(r.out, "Persistent"));
        run_done(&r);
        r = run_user(NULL, (char *[]) { getenv("VSHADOW"), sock, (char *) "-da", NULL });
        assert_status(&r, 0, "vshadow -da");
        run_done(&r);
}

/* -- the backup privilege -------------------------------------------------------------------- */

/* A root-only file (0600 in a 0700 directory) and a group-backup user's directories. */
static void privilege_prepare(char *secret_dir, char *backups, char *target) {
        char file[PATH_MAX];
        struct passwd *pw = getpwnam(fx.member);

        assert_non_null(pw);
        pathf(secret_dir, "%s/private", fx.btrfs.mnt);
        (void) mkdir(secret_dir, 0700);
        assert_int_equal(chmod(secret_dir, 0700), 0);
        pathf(file, "%s/secret", secret_dir);
        write_text(file, SECRET, 0600);
        assert_int_equal(chown(file, 0, 0), 0);

        pathf(backups, "%s/member-backups", fx.dir);
        pathf(target, "%s/member-restore", fx.dir);
        (void) mkdir(backups, 0700);
        (void) mkdir(target, 0700);
        assert_int_equal(chown(backups, pw->pw_uid, pw->pw_gid), 0);
        assert_int_equal(chown(target, pw->pw_uid, pw->pw_gid), 0);
}

static void test_member_backs_up_and_restores(void **state) {
        char secret_dir[PATH_MAX], backups[PATH_MAX], target[PATH_MAX], backup[PATH_MAX], tool[PATH_MAX],
                restored[PATH_MAX];
        _cleanup_free_ char *got = NULL;
        struct stat st;
        Run r;

        privilege_prepare(secret_dir, backups, target);
        pathf(tool, "%s/bin/vssbackup", fx.priv);

        r = run_user(fx.member, (char *[]) { tool, (char *) "backup", (char *) "--type", (char *) "full",
                                             (char *) "--no-writers", (char *) "--socket", fx.socket, fx.btrfs.mnt,
                                             (char *) "--to", backups, NULL });
        assert_status(&r, 0, "vssbackup backup by a member of group backup");
        backup_path(&r, backup);
        run_done(&r);

        r = run_user(fx.member, (char *[]) { tool, (char *) "restore", backup, (char *) "--to", target,
                                             (char *) "--no-writers", (char *) "--socket", fx.socket, NULL });
        assert_status(&r, 0, "vssbackup restore by a member of group backup");
        run_done(&r);
        pathf(restored, "%s/private/secret", target);
        got = slurp(restored);
        assert_string_equal(got, SECRET);
        /* Every byte, with its mode; the owner is whoever restores (only root gives files away). */
        assert_int_equal(stat(restored, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_int_equal(st.st_uid, getpwnam(fx.member)->pw_uid);
}

static void test_member_vshadow_passes_privilege(void **state) {
        char secret_dir[PATH_MAX], backups[PATH_MAX], target[PATH_MAX], tool[PATH_MAX], sock[PATH_MAX + 16],
                exec[4 * PATH_MAX], copy[PATH_MAX];
        _cleanup_free_ char *got = NULL;
        Run r;

        privilege_prepare(secret_dir, backups, target);
        pathf(tool, "%s/bin/vshadow", fx.priv);
        pathf(copy, "%s/from-vshadow", target);
        snprintf(sock, sizeof(sock), "-socket=%s", fx.socket);
        snprintf(exec, sizeof(exec), "-exec=cat \"$VSHADOW_SNAPSHOT_0/private/secret\" > '%s'", copy);

        r = run_user(fx.member, (char *[]) { tool, sock, (char *) "-nw", exec, fx.btrfs.mnt, NULL });
        assert_status(&r, 0, "vshadow -exec by a member of group backup");
        run_done(&r);
        got = slurp(copy);
        assert_string_equal(got, SECRET);
}

static void test_without_privilege(void **state) {
        char secret_dir[PATH_MAX], backups[PATH_MAX], target[PATH_MAX], tool[PATH_MAX], plain[PATH_MAX],
                sock[PATH_MAX + 16], exec[4 * PATH_MAX], copy[PATH_MAX], outsider_backups[PATH_MAX];
        _cleanup_free_ char *got = NULL;
        struct passwd *pw;
        uid_t uid;
        gid_t gid;
        Run r;

        privilege_prepare(secret_dir, backups, target);
        pw = getpwnam(fx.outsider);     /* static storage: read it after privilege_prepare's */
        assert_non_null(pw);
        uid = pw->pw_uid;
        gid = pw->pw_gid;
        snprintf(sock, sizeof(sock), "-socket=%s", fx.socket);

        /* The member, with vshadow lacking the capability: the snapshot is made (the group may),
         * but the secret stays unreadable, so the command fails and so does vshadow. */
        pathf(plain, "%s/bin/vshadow-plain", fx.priv);
        pathf(copy, "%s/plain-copy", target);
        snprintf(exec, sizeof(exec), "-exec=cat \"$VSHADOW_SNAPSHOT_0/private/secret\" > '%s'", copy);
        r = run_user(fx.member, (char *[]) { plain, sock, (char *) "-nw", exec, fx.btrfs.mnt, NULL });
        assert_int_not_equal(r.status, 0);
        run_done(&r);
        got = slurp(copy);
        assert_string_equal(got, "");

        /* The outsider cannot even run the installed tools (root:backup 0750). */
        pathf(tool, "%s/bin/vssbackup", fx.priv);
        r = run_user(fx.outsider, (char *[]) { tool, (char *) "--version", NULL });
        assert_status(&r, 126, "the outsider running the installed vssbackup");
        run_done(&r);
        pathf(tool, "%s/bin/vshadow", fx.priv);
        r = run_user(fx.outsider, (char *[]) { tool, (char *) "--version", NULL });
        assert_status(&r, 126, "the outsider running the installed vshadow");
        run_done(&r);

        /* With a copy of their own, vssd refuses them the snapshot. */
        pathf(outsider_backups, "%s/outsider-backups", fx.dir);
        assert_int_equal(mkdir(outsider_backups, 0700), 0);
        assert_int_equal(chown(outsider_backups, uid, gid), 0);
        pathf(plain, "%s/bin/vssbackup-plain", fx.priv);
        r = run_user(fx.outsider, (char *[]) { plain, (char *) "backup", (char *) "--type", (char *) "full",
                                               (char *) "--no-writers", (char *) "--socket", fx.socket, fx.btrfs.mnt,
                                               (char *) "--to", outsider_backups, NULL });
        assert_status(&r, 2, "vssbackup by an outsider");
        if (!strstr(r.err, "E_ACCESSDENIED"))
                fail_msg("the outsider was not refused by vssd: %s", r.err);
        run_done(&r);
}

/* -- not supported ---------------------------------------------------------------------------- */

static void test_unsupported_names_fstype_and_providers(void **state) {
        char tmpfs[PATH_MAX], sock[PATH_MAX + 16];
        Run r;

        pathf(tmpfs, "%s/tmpfs", fx.dir);
        assert_int_equal(mkdir(tmpfs, 0755), 0);
        assert_int_equal(mount("tmpfs", tmpfs, "tmpfs", 0, "size=1m"), 0);
        snprintf(sock, sizeof(sock), "-socket=%s", fx.socket);

        r = run_user(NULL, (char *[]) { getenv("VSHADOW"), sock, (char *) "-nw", (char *) "-exec=true", tmpfs, NULL });
        (void) umount(tmpfs);
        assert_status(&r, 2, "vshadow on a tmpfs");
        assert_non_null(strstr(r.err, "VSS_E_VOLUME_NOT_SUPPORTED"));
        assert_non_null(strstr(r.err, "its filesystem is tmpfs"));
        assert_non_null(strstr(r.err, "btrfs: "));
        assert_non_null(strstr(r.err, "image: "));
        run_done(&r);
}

int main(void) {
        if (geteuid() != 0) {
                fprintf(stderr, "needs root: skipped\n");
                return getenv("CI") ? EXIT_FAILURE : 77;
        }

        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_image_vssbackup),
                cmocka_unit_test(test_image_vshadow_tar),
                cmocka_unit_test(test_image_persistent),
                cmocka_unit_test(test_member_backs_up_and_restores),
                cmocka_unit_test(test_member_vshadow_passes_privilege),
                cmocka_unit_test(test_without_privilege),
                cmocka_unit_test(test_unsupported_names_fstype_and_providers),
        };

        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
