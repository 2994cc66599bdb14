/* cut.c - the tensors crossing a cut of a model's graph (model.h).
 *
 * The parser records, for every output, the last layer that reads it
 * (mc_layer.last_reader, mc_model.input_last_reader), so a cut is one pass
 * over the producers before it: nothing is allocated, and the planner can
 * ask about every cut of a model cheaply. */
#include "model.h"

static int last_reader(const mc_model *m, int p)
{
    return p < 0 ? m->input_last_reader : m->layers[p].last_reader;
}

static mc_shape produced(const mc_model *m, int p) { return p < 0 ? m->input : m->layers[p].out; }

int mc_model_cut(const mc_model *m, int k, mc_cut_tensor *t, int max)
{
    if (k < 0 || k > m->n_layers) return -1;
    int n = 0;
    size_t offset = 0;
    for (int p = -1; p < k; p++) {
        if (last_reader(m, p) < k && !(k == m->n_layers && p == k - 1)) continue;
        mc_shape s = produced(m, p);
        if (n < max) {
            t[n].producer = p;
            t[n].name = p < 0 ? MC_MODEL_INPUT_NAME : m->layers[p].name;
            t[n].shape = s;
            t[n].floats = mc_shape_count(&s);
            t[n].offset = offset;
        }
        offset += mc_shape_count(&s);
        n++;
    }
    return n;
}

size_t mc_model_cut_floats(const mc_model *m, int k)
{
    if (k < 0 || k > m->n_layers) return 0;
    size_t total = 0;
    for (int p = -1; p < k; p++)
        if (last_reader(m, p) >= k || (k == m->n_layers && p == k - 1)) {
            mc_shape s = produced(m, p);
            total += mc_shape_count(&s);
        }
    return total;
}

mc_shape mc_model_range_in(const mc_model *m, int first)
{
    mc_cut_tensor t;
    if (mc_model_cut(m, first, &t, 1) == 1) {
        if (first >= m->n_layers) return t.shape;
        const mc_layer *l = &m->layers[first];
        for (int k = 0; k < l->n_in; k++)
            if (l->inputs[k] == t.producer) return l->ins[k]; /* what the layer reads (a split part's slice) */
        return t.shape;
    }
    return mc_shape_make((int)mc_model_cut_floats(m, first), 1, 1, 1);
}

mc_shape mc_model_range_out(const mc_model *m, int last)
{
    mc_cut_tensor t;
    if (mc_model_cut(m, last, &t, 1) == 1) return t.shape;
    return mc_shape_make((int)mc_model_cut_floats(m, last), 1, 1, 1);
}
