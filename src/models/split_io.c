/* split_io.c - the messages of a split task inside a graph (split.h).
 *
 * split.c cuts one layer; this places that layer in its graph.  A split task
 * [l, l+1) receives cut l (several tensors inside a residual block) and gives
 * cut l+1, so a part's message is its piece of the layer's input plus, for
 * part 0, the tensors that only pass the layer by.  Offsets come from the
 * cut lists (cut.c), once, when a farm table is read; slicing and merging are
 * then copies at fixed offsets. */
#include <string.h>

#include "split.h"

mc_status mc_split_io_init(mc_split_io *io, const mc_model *m, const mc_split_part *parts, int n)
{
    memset(io, 0, sizeof *io);
    if (n < 1 || parts[0].full_index < 0 || parts[0].full_index >= m->n_layers)
        return mc_error_set(MC_ERR_INVALID_ARG, "split task: %d parts of layer %d", n, n > 0 ? parts[0].full_index : -1);
    const int l = parts[0].full_index, last = mc_split_task_end(m, l);
    const mc_layer *full = &m->layers[l];
    mc_cut_tensor in[MC_SPLIT_MAX_THROUGH + 1], out[MC_SPLIT_MAX_THROUGH + 1];
    const int ni = mc_model_cut(m, l, in, MC_SPLIT_MAX_THROUGH + 1);
    const int no = mc_model_cut(m, last, out, MC_SPLIT_MAX_THROUGH + 1);
    if (ni > MC_SPLIT_MAX_THROUGH + 1 || no > MC_SPLIT_MAX_THROUGH + 1)
        return mc_error_set(MC_ERR_UNSUPPORTED, "layer %s: more than %d tensors cross the cuts around it; it cannot "
                            "be a split task", full->name, MC_SPLIT_MAX_THROUGH + 1);
    io->parts = parts;
    io->n = n;
    io->full = full;
    io->in_total = mc_model_cut_floats(m, l);
    io->out_total = mc_model_cut_floats(m, last);
    int have_x = 0;
    for (int i = 0; i < ni; i++)
        if (in[i].producer == full->inputs[0]) {
            io->x_off = in[i].offset;
            have_x = in[i].floats == mc_shape_count(&full->in);
        }
    if (!have_x || no < 1 || out[no - 1].producer < l)
        return mc_error_set(MC_ERR_SHAPE, "layer %s: its input and output are not where the cuts around it put them",
                            full->name);
    for (int j = 0; j + 1 < no; j++) { /* every other tensor of the cut after crosses cut l too */
        int found = 0;
        for (int i = 0; i < ni && !found; i++)
            if (in[i].producer == out[j].producer) {
                io->th_off[io->n_through] = in[i].offset;
                io->th_n[io->n_through] = in[i].floats;
                io->through += in[i].floats;
                io->n_through++;
                found = 1;
            }
        if (!found)
            return mc_error_set(MC_ERR_SHAPE, "layer %s: tensor %s crosses the cut after it but not the one before",
                                full->name, out[j].name);
    }
    if (io->through + mc_shape_count(&full->out) != io->out_total)
        return mc_error_set(MC_ERR_SHAPE, "layer %s: the cut after it holds %zu values, not %zu passing through + %zu",
                            full->name, io->out_total, io->through, mc_shape_count(&full->out));
    return MC_OK;
}

int mc_split_task_end(const mc_model *m, int l)
{
    return l + 1 < m->n_layers && m->layers[l].fold_bn == l + 1 ? l + 2 : l + 1;
}

size_t mc_split_io_in_count(const mc_split_io *io, int k)
{
    return (k == 0 ? io->through : 0) + mc_split_in_count(&io->parts[k]);
}

size_t mc_split_io_out_count(const mc_split_io *io, int k)
{
    return (k == 0 ? io->through : 0) + mc_split_out_count(&io->parts[k]);
}

void mc_split_io_slice(const mc_split_io *io, int k, const float *whole, float *out)
{
    if (k == 0)
        for (int i = 0; i < io->n_through; i++) {
            memcpy(out, whole + io->th_off[i], io->th_n[i] * sizeof(float));
            out += io->th_n[i];
        }
    mc_split_slice_input(&io->parts[k], io->full, whole + io->x_off, out);
}

void mc_split_io_merge_begin(const mc_split_io *io, float *out)
{
    mc_split_merge_begin(io->full, io->parts[0].method, out + io->through);
}

void mc_split_io_merge_add(const mc_split_io *io, int k, const float *part_out, float *out)
{
    if (k == 0) {
        memcpy(out, part_out, io->through * sizeof(float));
        part_out += io->through;
    }
    mc_split_merge_add(&io->parts[k], io->full, part_out, out + io->through);
}

void mc_split_io_merge_end(const mc_split_io *io, float *out)
{
    mc_split_merge_end(io->full, io->parts[0].method, out + io->through);
}
