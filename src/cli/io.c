/* io.c - input frames, raw float dumps, the CK timer file and process stats. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <cjson/cJSON.h>

#include "cli.h"

static mc_status read_ppm(FILE *f, const char *path, mc_shape s, float *out)
{
    int w, h, maxv;
    if (fscanf(f, "P6 %d %d %d", &w, &h, &maxv) != 3 || fgetc(f) == EOF)
        return mc_error_set(MC_ERR_FORMAT, "%s: bad PPM header", path);
    if (w != s.ne[1] || h != s.ne[2] || s.ne[0] != 3 || maxv != 255)
        return mc_error_set(MC_ERR_SHAPE, "%s: PPM is %dx%d (max %d), the model needs %dx%dx%d with max 255",
                            path, h, w, maxv, s.ne[2], s.ne[1], s.ne[0]);
    size_t n = mc_shape_count(&s);
    unsigned char *b = malloc(n);
    if (!b) return mc_error_set(MC_ERR_NOMEM, "%s: out of memory", path);
    size_t got = fread(b, 1, n, f);
    for (size_t i = 0; i < got; i++) out[i] = b[i] / 255.0f;
    free(b);
    if (got != n) return mc_error_set(MC_ERR_FORMAT, "%s: PPM pixel data is truncated", path);
    return MC_OK;
}

mc_status mc_input_read(const char *path, mc_shape s, float *out)
{
    FILE *f = fopen(path, "rb");
    if (!f) return mc_error_set(MC_ERR_IO, "%s: cannot open input: %s", path, strerror(errno));
    size_t n = mc_shape_count(&s);
    mc_status st = MC_OK;
    char head[2] = {0};
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    rewind(f);
    if (fread(head, 1, 2, f) == 2 && head[0] == 'P' && head[1] == '6') {
        rewind(f);
        st = read_ppm(f, path, s, out);
    } else if (size == (long)(n * sizeof(float))) {
        rewind(f);
        if (fread(out, sizeof(float), n, f) != n) st = mc_error_set(MC_ERR_IO, "%s: short read", path);
    } else if (size == (long)n) {
        rewind(f);
        unsigned char *b = malloc(n);
        if (!b) st = mc_error_set(MC_ERR_NOMEM, "%s: out of memory", path);
        else if (fread(b, 1, n, f) != n) st = mc_error_set(MC_ERR_IO, "%s: short read", path);
        else
            for (size_t i = 0; i < n; i++) out[i] = b[i] / 255.0f;
        free(b);
    } else {
        char sb[64];
        st = mc_error_set(MC_ERR_FORMAT,
                          "%s: %ld bytes is neither a %s float32 tensor (%zu bytes), uint8 frame "
                          "(%zu bytes) nor a P6 PPM image",
                          path, size, mc_shape_str(&s, sb, sizeof sb), n * sizeof(float), n);
    }
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
