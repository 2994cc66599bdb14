/* zoo.h - the texts of the built-in models, one file each (zoo*.c). */
#ifndef MC_ZOO_H
#define MC_ZOO_H

extern const char mc_zoo_resnet50_text[], mc_zoo_xception_text[], mc_zoo_c3d_text[];
/* zoo_twostream.c: the three graphs of the two-stream model */
extern const char mc_zoo_twostream_spatial_text[], mc_zoo_twostream_temporal_text[], mc_zoo_twostream_head_text[],
    mc_zoo_twostream_half_head_text[];

#endif
