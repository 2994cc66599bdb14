/* io.c - input frames, raw float dumps, the CK timer file, process stats and the stop signals. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "../models/image.h"

/* The whole file (at most a float32 tensor's size + 128 MiB: a 4096x4096
 * 16-bit PPM, the largest image mc_image_decode takes, is 96 MiB), decoded
 * by mc_image_decode. */
mc_status mc_input_read(const char *path, mc_shape s, float *out)
{
    FILE *f = fopen(path, "rb");
    if (!f) return mc_error_set(MC_ERR_IO, "%s: cannot open input: %s", path, strerror(errno));
    size_t n = mc_shape_count(&s), cap = n * sizeof(float) + (128u << 20);
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    rewind(f);
    mc_status st = MC_OK;
    unsigned char *b = NULL;
    if (size < 0) st = mc_error_set(MC_ERR_IO, "%s: cannot tell its size: %s", path, strerror(errno));
    else if ((size_t)size > cap)
        st = mc_error_set(MC_ERR_FORMAT, "%s: %ld bytes, more than any input image or tensor of this model's shape (%zu floats) can be",
                          path, size, n);
    else if (!(b = malloc((size_t)size + 1))) st = mc_error_set(MC_ERR_NOMEM, "%s: out of memory", path);
    else if (fread(b, 1, (size_t)size, f) != (size_t)size) st = mc_error_set(MC_ERR_IO, "%s: short read", path);
    else st = mc_image_decode(b, (size_t)size, path, s, out);
    free(b);
    fclose(f);
    return st;
}

mc_status mc_floats_write(const char *path, const float *x, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return mc_error_set(MC_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    int bad = fwrite(x, sizeof(float), n, f) != n;
    if (fclose(f) || bad) return mc_error_set(MC_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return MC_OK;
}

mc_status mc_timer_write(const char *path, double sec_per_inference, double classify_sec)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return mc_error_set(MC_ERR_NOMEM, "timer: out of memory");
    cJSON_AddNumberToObject(o, "execution_time", sec_per_inference);
    cJSON_AddNumberToObject(o, "execution_time_classify", classify_sec);
    char *txt = cJSON_Print(o);
    cJSON_Delete(o);
    if (!txt) return mc_error_set(MC_ERR_NOMEM, "timer: out of memory");
    FILE *f = fopen(path, "w");
    mc_status st = MC_OK;
    if (!f) {
        st = mc_error_set(MC_ERR_IO, "%s: cannot write timer file: %s", path, strerror(errno));
    } else {
        int bad = fputs(txt, f) < 0;
        if (fclose(f) || bad)
            st = mc_error_set(MC_ERR_IO, "%s: cannot write timer file: %s", path, strerror(errno));
    }
    free(txt);
    return st;
}

/* VmHWM of /proc/self/status: unlike getrusage's ru_maxrss, it does not
 * inherit the high-water mark of the process that started us. */
size_t mc_peak_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %zu kB", &kb) == 1) break;
    if (f) fclose(f);
    if (kb) return kb * 1024;
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) ? 0 : (size_t)ru.ru_maxrss * 1024;
}

int mc_parse_pos_int(const char *opt, const char *val, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(val, &end, 10);
    if (errno || end == val || *end || v <= 0 || v > max) {
        fprintf(stderr, "mchair: %s needs an integer from 1 to %ld, got '%s'\n", opt, max, val);
        return -1;
    }
    *out = v;
    return 0;
}

void mc_cli_stop_signals(void (*h)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = h;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}
