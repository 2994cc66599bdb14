/* cmd_devmodel.c - `mchair devmodel`: what a device model says a layer range
 * costs on the device (src/devmodel/devmodel.h), without running anything.
 * The calibration report (scripts/emu/calibrate.py) and the experiments
 * read its JSON. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../devmodel/devmodel.h"
#include "../models/split.h"
#include "cli.h"

static void devmodel_usage(FILE *f)
{
    fprintf(f,
            "usage: mchair devmodel --model M [--device-model rpi3|FILE] [--from L] [--to L] [--split METHOD/P]\n"
            "                       [--json FILE]\n"
            "       mchair devmodel --show [--device-model rpi3|FILE]\n"
            "\n"
            "Prints the modeled time of each layer of M (or of the range --from..--to, both\n"
            "included) on the device: compute (2 x MACs / the op's GFLOP/s), memory (weights /\n"
            "their bandwidth, activations and convolution patches / theirs), and the swap of the range run\n"
            "as one process (docs/emu/device-model.md).  Nothing is computed or allocated.\n"
            "\n"
            "  --device-model P  a built-in preset (rpi3, the default) or a preset file\n"
            "  --split METHOD/P  one layer (--from = --to) split P ways (fc_output/2, conv_channel/3, ...):\n"
            "                    the cost of the part a device holds (part 0, the largest of an even split)\n"
            "  --json FILE       write the table as JSON (- for stdout)\n"
            "  --show            print the preset's numbers as parsed\n");
}

static cJSON *cost_json(const mc_devmodel_cost *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "flops", c->flops);
    cJSON_AddNumberToObject(o, "weight_bytes", c->weight_bytes);
    cJSON_AddNumberToObject(o, "tensor_bytes", c->tensor_bytes);
    cJSON_AddNumberToObject(o, "compute_s", c->compute_s);
    cJSON_AddNumberToObject(o, "memory_s", c->memory_s);
    cJSON_AddNumberToObject(o, "overhead_s", c->overhead_s);
    cJSON_AddNumberToObject(o, "swap_s", c->swap_s);
    cJSON_AddNumberToObject(o, "total_s", c->total_s);
    return o;
}

static int emit(cJSON *j, const char *path)
{
    char *s = cJSON_Print(j);
    int rc = 0;
    if (!s) return 1;
    if (!strcmp(path, "-")) {
        puts(s);
    } else {
        FILE *f = fopen(path, "w");
        if (!f || fputs(s, f) < 0 || fputc('\n', f) < 0) {
            fprintf(stderr, "mchair devmodel: cannot write %s\n", path);
            rc = 1;
        }
        if (f && fclose(f)) rc = 1;
    }
    free(s);
    return rc;
}

int mc_cmd_devmodel(int argc, char **argv)
{
    static const struct option lo[] = {{"model", 1, 0, 'm'}, {"device-model", 1, 0, 'D'}, {"from", 1, 0, 'f'},
                                       {"to", 1, 0, 't'},    {"json", 1, 0, 'j'},         {"show", 0, 0, 's'},
                                       {"split", 1, 0, 'S'}, {"help", 0, 0, 'h'},  {0, 0, 0, 0}};
    const char *model = NULL, *preset = "rpi3", *from = NULL, *to = NULL, *json = NULL, *split = NULL;
    int show = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'D': preset = optarg; break;
        case 'f': from = optarg; break;
        case 't': to = optarg; break;
        case 'j': json = optarg; break;
        case 's': show = 1; break;
        case 'S': split = optarg; break;
        case 'h': devmodel_usage(stdout); return 0;
        default: devmodel_usage(stderr); return 2;
        }
    }
    if (optind < argc || (!model && !show)) {
        fprintf(stderr, "mchair devmodel: %s\n", optind < argc ? "unexpected argument" : "--model M or --show is required");
        devmodel_usage(stderr);
        return 2;
    }
    mc_devmodel dm;
    if (mc_devmodel_open(preset, &dm)) {
        fprintf(stderr, "mchair devmodel: %s\n", mc_error_last());
        return 1;
    }
    if (show) {
        cJSON *j = mc_devmodel_to_json(&dm);
        int rc = emit(j, json ? json : "-");
        cJSON_Delete(j);
        return rc;
    }
    mc_model m;
    if (mc_model_open(model, &m)) {
        fprintf(stderr, "mchair devmodel: %s\n", mc_error_last());
        return 1;
    }
    int first = 0, last = m.n_layers, rc = 1;
    if (from && (first = mc_model_find_layer(&m, from)) < 0) {
        fprintf(stderr, "mchair devmodel: model %s has no layer '%s' (--from)\n", m.name, from);
        goto done;
    }
    if (to) {
        int k = mc_model_find_layer(&m, to);
        if (k < 0) {
            fprintf(stderr, "mchair devmodel: model %s has no layer '%s' (--to)\n", m.name, to);
            goto done;
        }
        last = k + 1;
    }
    if (split) { /* the part a device of a split task holds */
        char meth[64];
        int parts = 0;
        const char *slash = strchr(split, '/');
        mc_split_method sm = MC_SPLIT_METHOD_COUNT;
        if (slash && (size_t)(slash - split) < sizeof meth) {
            snprintf(meth, sizeof meth, "%.*s", (int)(slash - split), split);
            sm = mc_split_method_from_name(meth);
            parts = atoi(slash + 1);
        }
        mc_split_part p;
        if (sm >= MC_SPLIT_METHOD_COUNT || sm == MC_SPLIT_DATA || parts < 2 || last != first + 1) {
            fprintf(stderr, "mchair devmodel: --split needs METHOD/P (e.g. fc_output/2, P >= 2) and one layer "
                            "(--from L --to L), got '%s' for %d layers\n", split, last - first);
            goto done;
        }
        if (mc_split_make_part(&m.layers[first], sm, parts, parts, 1, 0, &p)) {
            fprintf(stderr, "mchair devmodel: %s\n", mc_error_last());
            goto done;
        }
        m.layers[first] = p.layer; /* shapes only: no weights were made */
    }
    mc_devmodel_cost total, *per = calloc((size_t)(last > first ? last - first : 1), sizeof *per);
    if (!per || mc_devmodel_range(&dm, &m, first, last, &total, per)) {
        fprintf(stderr, "mchair devmodel: %s\n", per ? mc_error_last() : "out of memory");
        free(per);
        goto done;
    }
    double foot = mc_devmodel_footprint(&dm, &m, first, last) / 1048576.0;
    double swapped = mc_devmodel_swap_bytes(&dm, &m, first, last) / 1e6;
    if (!json || strcmp(json, "-")) {
        printf("device model %s, model %s, layers %s..%s: %.4f s per inference (compute %.4f, memory %.4f, "
               "overhead %.4f, swap %.4f); footprint %.0f MiB of %.0f available, %.1f MB paged per inference\n",
               dm.name, m.name, m.layers[first].name, m.layers[last - 1].name, total.total_s, total.compute_s,
               total.memory_s, total.overhead_s, total.swap_s, foot, dm.available_mb, swapped);
        printf("  %-26s %-10s %10s %10s %10s %10s %10s\n", "layer", "op", "GFLOP", "MB moved", "compute s",
               "memory s", "total s");
        for (int i = first; i < last; i++) {
            const mc_devmodel_cost *p = &per[i - first];
            printf("  %-26s %-10s %10.4f %10.2f %10.4f %10.4f %10.4f\n", m.layers[i].name,
                   mc_op_get(m.layers[i].op)->name, p->flops / 1e9, (p->weight_bytes + p->tensor_bytes) / 1e6, p->compute_s, p->memory_s,
                   p->total_s);
        }
    }
    rc = 0;
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddItemToObject(j, "device_model", mc_devmodel_to_json(&dm));
        cJSON_AddStringToObject(j, "model", m.name);
        cJSON_AddStringToObject(j, "from", m.layers[first].name);
        cJSON_AddStringToObject(j, "to", m.layers[last - 1].name);
        cJSON *ls = cJSON_AddArrayToObject(j, "layers");
        for (int i = first; i < last; i++) {
            cJSON *o = cost_json(&per[i - first]);
            cJSON_AddStringToObject(o, "name", m.layers[i].name);
            cJSON_AddStringToObject(o, "op", mc_op_get(m.layers[i].op)->name);
            cJSON_AddItemToArray(ls, o);
        }
        cJSON_AddItemToObject(j, "total", cost_json(&total));
        cJSON_AddNumberToObject(j, "footprint_mb", foot);
        cJSON_AddNumberToObject(j, "available_mb", dm.available_mb);
        cJSON_AddNumberToObject(j, "paged_mb_per_inference", swapped);
        /* the range's input and output (a split part's), for a farm's messages (devmodel.h) */
        cJSON_AddNumberToObject(j, "input_floats", (double)mc_shape_count(&m.layers[first].in));
        cJSON_AddNumberToObject(j, "output_floats", (double)mc_shape_count(&m.layers[last - 1].out));
        rc = emit(j, json);
        cJSON_Delete(j);
    }
    free(per);
done:
    mc_model_free(&m);
    return rc;
}
