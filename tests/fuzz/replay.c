/* replay.c - runs a fuzz target over every file in its corpus folder and in
 * its folder of crash reproducers (tests/fuzz/crashes/<target>/, may be
 * missing or empty), so the fuzzers' findings stay regression tests in the
 * normal and the sanitized suites. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Feeds every file of dir to the target; returns how many, -1 if dir cannot be read. */
static int replay_dir(const char *dir, int must_exist)
{
    DIR *d = opendir(dir);
    if (!d) {
        if (!must_exist && errno == ENOENT) return 0;
        perror(dir);
        return -1;
    }
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f) continue;
        uint8_t *buf = malloc(1 << 20);
        size_t len = buf ? fread(buf, 1, 1 << 20, f) : 0;
        fclose(f);
        LLVMFuzzerTestOneInput(buf, len);
        free(buf);
        n++;
    }
    closedir(d);
    printf("replayed %d inputs from %s\n", n, dir);
    return n;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR [CRASHES_DIR]\n", argv[0]);
        return 2;
    }
    int corpus = replay_dir(argv[1], 1);
    int crashes = argc > 2 ? replay_dir(argv[2], 0) : 0;
    if (corpus < 0 || crashes < 0) return 1;
    return corpus > 0 ? 0 : 1; /* an empty corpus is a broken test */
}
