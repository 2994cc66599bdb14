/* profile_devmodel.c - a profile made by a device model instead of a
 * measurement (profile.h, devmodel.h): `mchair profile --model M
 * --device-model rpi3` gives the planner the emulated device's latencies,
 * so plans are made for the device the farm emulates, not for the host.
 *
 * Kept apart from profile.c (the measured profile): the two share the
 * profile's structures and nothing else.  Per layer and per split part (the
 * largest of each variant, as profile.c times it) the latency is the
 * model's time for that layer run alone on one device, swap included, and
 * the memory is what the model says the device holds for it: weight_bytes
 * counts every copy of the parameters the device's framework keeps, and
 * memory_bytes adds two activations, so that the planner's --mem is the
 * device's room for them: mc_devmodel_budget_mb().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../devmodel/devmodel.h"
#include "profile.h"

/* Cost of layer l (shapes only) alone on one device. */
static void model_cost(const mc_devmodel *dm, const mc_layer *l, mc_prof_cost *c)
{
    mc_model one = {0}; /* a one-layer model: the range functions' view of l */
    mc_layer copy = *l;
    one.n_layers = 1;
    one.layers = &copy;
    mc_devmodel_cost t;
    c->latency = mc_devmodel_range(dm, &one, 0, 1, &t, NULL) ? 0 : t.total_s;
    /* what the device holds for the parameters: every copy its framework keeps (the planner sums
     * weight_bytes over a task's layers) */
    c->weight_bytes = dm->weight_copies * t.weight_bytes;
    c->in_bytes = 4.0 * (double)mc_shape_count(&l->in);
    c->out_bytes = 4.0 * (double)mc_shape_count(&l->out);
    c->ws_bytes = 0;
    c->mem_bytes = c->weight_bytes + 2 * (c->in_bytes > c->out_bytes ? c->in_bytes : c->out_bytes);
}

mc_status mc_profile_model(const mc_model *m, const mc_devmodel *dm, const int *parts, int n_parts, mc_profile *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->model, sizeof out->model, "%s", m->name);
    out->n_layers = m->n_layers;
    out->layers = calloc((size_t)m->n_layers, sizeof *out->layers);
    if (!out->layers) return mc_error_set(MC_ERR_NOMEM, "profile: no memory for %d layers", m->n_layers);
    for (int i = 0; i < m->n_layers; i++) {
        const mc_layer *l = &m->layers[i];
        mc_prof_layer *pl = &out->layers[i];
        snprintf(pl->name, sizeof pl->name, "%s", l->name);
        pl->op = l->op;
        model_cost(dm, l, &pl->cost);
        for (int mi = MC_SPLIT_FC_OUTPUT; mi < MC_SPLIT_METHOD_COUNT; mi++) {
            if (!mc_split_method_applies((mc_split_method)mi, l)) continue;
            for (int pi = 0; pi < n_parts && pl->n_splits < MC_PROFILE_MAX_SPLITS; pi++) {
                mc_split_part p, best;
                double best_macs = -1;
                int ok = 1;
                for (int k = 0; k < parts[pi] && ok; k++) {
                    if (mc_split_make_part(l, (mc_split_method)mi, parts[pi], 0, 0, k, &p)) {
                        mc_error_clear(); /* this split does not exist for the layer */
                        ok = 0;
                        break;
                    }
                    double macs = mc_op_get(p.layer.op)->macs(&p.layer) + (double)mc_split_in_count(&p) * 1e-9;
                    if (macs > best_macs) {
                        best_macs = macs;
                        best = p;
                    }
                }
                if (!ok) continue;
                mc_prof_split *sp = &pl->splits[pl->n_splits++];
                sp->method = (mc_split_method)mi;
                sp->parts = parts[pi];
                sp->grid_h = best.grid_h;
                sp->grid_w = best.grid_w;
                model_cost(dm, &best.layer, &sp->cost);
            }
        }
    }
    return MC_OK;
}
