/* video.c - frame sources (video.h): random, a folder of images, Y4M, raw
 * RGB24.  One frame in memory at a time; a frame of another size than the
 * model's is resized (area averaging when shrinking, bilinear enlarging). */
#include "video.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../core/alloc.h"
#include "../core/tensor.h"
#include "image.h"
#include "resize.h"
#include "weights.h"

enum { SRC_RANDOM, SRC_DIR, SRC_Y4M, SRC_RAW };
enum { CS_420, CS_422, CS_444, CS_MONO };

struct mc_video {
    int kind, w, h;
    uint64_t seed;
    long next;
    char path[4096];
    char **files; /* SRC_DIR: names, sorted */
    int n_files;
    FILE *f;         /* SRC_Y4M, SRC_RAW */
    int fw, fh, cs;  /* the file's frame size and chroma format */
    double fps;
    unsigned char *buf; /* one frame's bytes */
    size_t frame_bytes;
    float *rgb;         /* fw x fh x 3 before the resize */
};

static int cmp_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static mc_status open_dir(mc_video *v)
{
    DIR *d = opendir(v->path);
    if (!d) return mc_error_set(MC_ERR_IO, "%s: cannot open folder: %s", v->path, strerror(errno));
    struct dirent *e;
    int cap = 0;
    mc_status st = MC_OK;
    while (!st && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[4352];
        struct stat sb;
        snprintf(p, sizeof p, "%s/%s", v->path, e->d_name);
        if (stat(p, &sb) || !S_ISREG(sb.st_mode)) continue;
        if (v->n_files == cap) {
            cap = cap ? 2 * cap : 64;
            char **n = realloc(v->files, sizeof(char *) * (size_t)cap);
            if (!n) {
                st = mc_error_set(MC_ERR_NOMEM, "%s: out of memory listing the folder", v->path);
                break;
            }
            v->files = n;
        }
        if (!(v->files[v->n_files] = strdup(e->d_name))) st = mc_error_set(MC_ERR_NOMEM, "%s: out of memory", v->path);
        else v->n_files++;
    }
    closedir(d);
    if (st) return st;
    if (!v->n_files) return mc_error_set(MC_ERR_FORMAT, "%s: the folder holds no frame files", v->path);
    qsort(v->files, (size_t)v->n_files, sizeof(char *), cmp_name);
    return MC_OK;
}

/* The rest of "YUV4MPEG2 W.. H.. F..:.. C..\n" (the magic is read). */
static mc_status open_y4m(mc_video *v)
{
    char line[512];
    if (!fgets(line, sizeof line, v->f) || !strchr(line, '\n'))
        return mc_error_set(MC_ERR_FORMAT, "%s: Y4M header is missing or longer than %zu bytes", v->path, sizeof line);
    v->cs = CS_420;
    char *save = NULL;
    for (char *t = strtok_r(line, " \n", &save); t; t = strtok_r(NULL, " \n", &save)) {
        if (t[0] == 'W') v->fw = atoi(t + 1);
        else if (t[0] == 'H') v->fh = atoi(t + 1);
        else if (t[0] == 'F') {
            long n = 0, dn = 0;
            if (sscanf(t + 1, "%ld:%ld", &n, &dn) == 2 && n > 0 && dn > 0) v->fps = (double)n / dn;
        } else if (t[0] == 'C') {
            if (!strncmp(t + 1, "420", 3) && (!t[4] || !strcmp(t + 4, "jpeg") || !strcmp(t + 4, "paldv") ||
                                              !strcmp(t + 4, "mpeg2")))
                v->cs = CS_420;
            else if (!strcmp(t + 1, "422")) v->cs = CS_422;
            else if (!strcmp(t + 1, "444")) v->cs = CS_444;
            else if (!strcmp(t + 1, "mono")) v->cs = CS_MONO;
            else return mc_error_set(MC_ERR_FORMAT, "%s: Y4M colour space C%s is not supported (8-bit 420, 422, "
                                     "444 or mono)", v->path, t + 1);
        }
    }
    if (v->fw < 1 || v->fh < 1 || (long)v->fw * v->fh > MC_IMAGE_MAX_PIXELS)
        return mc_error_set(MC_ERR_FORMAT, "%s: Y4M frame size %dx%d is missing or out of range", v->path, v->fw, v->fh);
    const size_t y = (size_t)v->fw * v->fh, cw = (size_t)(v->fw + 1) / 2, ch = (size_t)(v->fh + 1) / 2;
    v->frame_bytes = y + (v->cs == CS_420 ? 2 * cw * ch : v->cs == CS_422 ? 2 * cw * v->fh : v->cs == CS_444 ? 2 * y : 0);
    return MC_OK;
}

mc_status mc_video_open(const char *spec, int w, int h, uint64_t seed, mc_video **out)
{
    *out = NULL;
    mc_video *v = calloc(1, sizeof *v);
    if (!v) return mc_error_set(MC_ERR_NOMEM, "video: out of memory");
    v->w = w, v->h = h, v->seed = seed;
    snprintf(v->path, sizeof v->path, "%s", spec);
    mc_status st = MC_OK;
    struct stat sb;
    if (!strcmp(spec, "random")) {
        v->kind = SRC_RANDOM;
    } else if (stat(spec, &sb)) {
        st = mc_error_set(MC_ERR_IO, "%s: %s (a folder of frames, a Y4M or raw RGB file, or 'random')", spec,
                          strerror(errno));
    } else if (S_ISDIR(sb.st_mode)) {
        v->kind = SRC_DIR;
        st = open_dir(v);
    } else if (!(v->f = fopen(spec, "rb"))) {
        st = mc_error_set(MC_ERR_IO, "%s: cannot open: %s", spec, strerror(errno));
    } else {
        char magic[10] = {0};
        size_t got = fread(magic, 1, 10, v->f);
        if (got == 10 && !memcmp(magic, "YUV4MPEG2 ", 10)) {
            v->kind = SRC_Y4M;
            st = open_y4m(v);
        } else {
            v->kind = SRC_RAW;
            v->fw = w, v->fh = h;
            v->frame_bytes = (size_t)w * h * 3;
            if (sb.st_size == 0 || (size_t)sb.st_size % v->frame_bytes)
                st = mc_error_set(MC_ERR_FORMAT, "%s: %lld bytes is not a whole number of %dx%d RGB24 frames (%zu "
                                  "bytes each) nor a Y4M file", spec, (long long)sb.st_size, w, h, v->frame_bytes);
            rewind(v->f);
        }
    }
    if (!st && v->f) {
        v->buf = malloc(v->frame_bytes);
        v->rgb = mc_alloc((size_t)v->fw * v->fh * 3 * sizeof(float));
        if (!v->buf || !v->rgb) st = mc_error_set(MC_ERR_NOMEM, "%s: out of memory for a %dx%d frame", spec, v->fw, v->fh);
    }
    if (st) {
        mc_video_close(v);
        return st;
    }
    *out = v;
    return MC_OK;
}

static float clamp01(double x) { return x < 0 ? 0.0f : x > 1 ? 1.0f : (float)x; }

/* BT.601 limited range: Y 16..235, U and V 16..240 around 128. */
static void yuv_to_rgb(const mc_video *v, float *rgb)
{
    const int W = v->fw, H = v->fh, cw = (W + 1) / 2, ch = (H + 1) / 2;
    const unsigned char *Y = v->buf, *U = Y + (size_t)W * H;
    const size_t csize = v->cs == CS_420 ? (size_t)cw * ch : v->cs == CS_422 ? (size_t)cw * H : (size_t)W * H;
    const unsigned char *V = U + csize;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            const double yy = 1.164383 * (Y[(size_t)y * W + x] - 16);
            double u = 0, vv = 0;
            if (v->cs != CS_MONO) {
                const size_t k = v->cs == CS_420 ? (size_t)(y / 2) * cw + x / 2
                                 : v->cs == CS_422 ? (size_t)y * cw + x / 2
                                                   : (size_t)y * W + x;
                u = U[k] - 128.0, vv = V[k] - 128.0;
            }
            float *p = rgb + ((size_t)y * W + x) * 3;
            p[0] = clamp01((yy + 1.596027 * vv) / 255);
            p[1] = clamp01((yy - 0.391762 * u - 0.812968 * vv) / 255);
            p[2] = clamp01((yy + 2.017232 * u) / 255);
        }
}

static mc_status read_file(const char *path, unsigned char **b, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return mc_error_set(MC_ERR_IO, "%s: cannot open frame: %s", path, strerror(errno));
    struct stat sb;
    mc_status st = MC_OK;
    if (fstat(fileno(f), &sb) || sb.st_size > (256L << 20))
        st = mc_error_set(MC_ERR_FORMAT, "%s: cannot tell its size or over 256 MiB", path);
    else if (!(*b = malloc((size_t)sb.st_size + 1))) st = mc_error_set(MC_ERR_NOMEM, "%s: out of memory", path);
    else if (fread(*b, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size) st = mc_error_set(MC_ERR_IO, "%s: short read", path);
    *len = (size_t)sb.st_size;
    fclose(f);
    return st;
}

mc_status mc_video_next(mc_video *v, float *out, int *eof)
{
    *eof = 0;
    mc_shape s = mc_shape_make(3, v->w, v->h, 1);
    mc_status st = MC_OK;
    switch (v->kind) {
    case SRC_RANDOM: mc_input_random(out, mc_shape_count(&s), v->seed, (uint64_t)v->next); break;
    case SRC_DIR: {
        if (v->next >= v->n_files) {
            *eof = 1;
            return MC_OK;
        }
        char p[4352];
        snprintf(p, sizeof p, "%s/%s", v->path, v->files[v->next]);
        unsigned char *b = NULL;
        size_t len = 0;
        if (!(st = read_file(p, &b, &len))) st = mc_image_decode(b, len, p, s, out);
        free(b);
        break;
    }
    case SRC_Y4M: {
        char line[128];
        if (!fgets(line, sizeof line, v->f)) {
            *eof = 1;
            return MC_OK;
        }
        if (strncmp(line, "FRAME", 5) || !strchr(line, '\n'))
            return mc_error_set(MC_ERR_FORMAT, "%s: frame %ld: no FRAME header", v->path, v->next);
        if (fread(v->buf, 1, v->frame_bytes, v->f) != v->frame_bytes)
            return mc_error_set(MC_ERR_FORMAT, "%s: frame %ld is truncated (%zu bytes a frame)", v->path, v->next,
                                v->frame_bytes);
        yuv_to_rgb(v, v->rgb);
        st = mc_resize(v->rgb, v->fw, v->fh, 3, out, v->w, v->h);
        break;
    }
    default: { /* SRC_RAW */
        size_t got = fread(v->buf, 1, v->frame_bytes, v->f);
        if (!got) {
            *eof = 1;
            return MC_OK;
        }
        if (got != v->frame_bytes)
            return mc_error_set(MC_ERR_FORMAT, "%s: frame %ld is truncated", v->path, v->next);
        for (size_t k = 0; k < v->frame_bytes; k++) out[k] = v->buf[k] / 255.0f;
    }
    }
    if (!st) v->next++;
    return st;
}

double mc_video_fps(const mc_video *v) { return v->fps; }

long mc_video_frames(const mc_video *v) { return v->next; }

void mc_video_close(mc_video *v)
{
    if (!v) return;
    for (int i = 0; i < v->n_files; i++) free(v->files[i]);
    free(v->files);
    if (v->f) fclose(v->f);
    free(v->buf);
    mc_free(v->rgb);
    free(v);
}
