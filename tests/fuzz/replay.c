/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * replay.c: the main() of a harness built without libFuzzer (any compiler, the normal build).
 * Each argument is a file or a directory of files (the corpus); every file is handed to
 * LLVMFuzzerTestOneInput once, in name order so runs are repeatable. A harness that finds
 * something aborts, so a failing test names the input on stderr just before. Exit status:
 * 0 when every input ran, 1 when an input could not be read or none was found.
 */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

static int run_file(int dirfd, const char *name, const char *shown) {
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        size_t len = 0;

        fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0) {
                fprintf(stderr, "replay: cannot read %s: %m\n", shown);
                return -1;
        }
        /* One byte more than the data, so an empty input still has a valid pointer. */
        buf = malloc((size_t) st.st_size + 1);
        if (!buf)
                return -1;
        while (len < (size_t) st.st_size) {
                ssize_t n = read(fd, buf + len, (size_t) st.st_size - len);

                if (n <= 0) {
                        fprintf(stderr, "replay: short read of %s\n", shown);
                        return -1;
                }
                len += (size_t) n;
        }
        fprintf(stderr, "replay: %s (%zu bytes)\n", shown, len);
        (void) LLVMFuzzerTestOneInput(buf, len);
        return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b) {
        return strcmp((*a)->d_name, (*b)->d_name);
}

int main(int argc, char **argv) {
        unsigned ran = 0, failed = 0;

        for (int i = 1; i < argc; i++) {
                struct dirent **names;
                struct stat st;
                int n;

                if (stat(argv[i], &st) < 0) {
                        fprintf(stderr, "replay: %s: %m\n", argv[i]);
                        failed++;
                        continue;
                }
                if (!S_ISDIR(st.st_mode)) {
                        if (run_file(AT_FDCWD, argv[i], argv[i]) < 0)
                                failed++;
                        else
                                ran++;
                        continue;
                }
                n = scandir(argv[i], &names, NULL, by_name);
                if (n < 0) {
                        fprintf(stderr, "replay: %s: %m\n", argv[i]);
                        failed++;
                        continue;
                }
                for (int j = 0; j < n; j++) {
                        _cleanup_free_ char *shown = NULL;

                        if (names[j]->d_name[0] != '.' && asprintf(&shown, "%s/%s", argv[i], names[j]->d_name) > 0) {
                                if (run_file(AT_FDCWD, shown, shown) < 0)
                                        failed++;
                                else
                                        ran++;
                        }
                        free(names[j]);
                }
                free(names);
        }
        printf("replay: %u inputs ran, %u could not be read\n", ran, failed);
        return failed > 0 || ran == 0 ? 1 : 0;
}
