/* check_core.c - status codes, the allocator, tensor shapes and the RNG. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/alloc.h"
#include "core/rng.h"
#include "core/status.h"
#include "core/tensor.h"
#include "testutil.h"

START_TEST(every_status_has_a_distinct_name)
{
    for (int i = 0; i < MC_STATUS_COUNT_; i++)
        for (int k = 0; k < i; k++)
            ck_assert_str_ne(mc_status_to_string((mc_status)-i), mc_status_to_string((mc_status)-k));
    ck_assert_str_eq(mc_status_to_string(MC_ERR_FULL), "buffer full");
    ck_assert_str_eq(mc_status_to_string((mc_status)1), "unknown status");
}
END_TEST

START_TEST(error_set_returns_the_status_and_keeps_the_message)
{
    mc_error_clear();
    ck_assert_str_eq(mc_error_last(), "no detail");
    ck_assert_int_eq(mc_error_set(MC_ERR_IO, "%s: %d", "file.bin", 7), MC_ERR_IO);
    ck_assert_str_eq(mc_error_last(), "file.bin: 7");
}
END_TEST

START_TEST(allocations_are_aligned_counted_and_can_be_made_to_fail)
{
    size_t base = mc_alloc_bytes_in_use();
    float *a = mc_alloc(1000), *b = mc_calloc(10, 4);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq((uintptr_t)a % 64, 0);
    ck_assert_uint_eq((uintptr_t)b % 64, 0);
    for (int i = 0; i < 10; i++) ck_assert_float_eq(b[i], 0.0f);
    ck_assert_uint_eq(mc_alloc_bytes_in_use(), base + 1040);
    ck_assert_uint_ge(mc_alloc_bytes_peak(), base + 1040);
    mc_alloc_fail_after(1);
    void *c = mc_alloc(8), *d = mc_alloc(8);
    mc_alloc_fail_after(-1);
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_null(d);
    ck_assert_ptr_null(mc_calloc(SIZE_MAX / 2, 4)); /* overflow is refused */
    mc_free(a);
    mc_free(b);
    mc_free(c);
    mc_free(NULL);
    ck_assert_uint_eq(mc_alloc_bytes_in_use(), base);
}
END_TEST

START_TEST(tensors_know_their_shape_and_refuse_impossible_ones)
{
    mc_tensor t;
    char buf[64];
    ck_assert_int_eq(mc_tensor_alloc(&t, mc_shape_make(3, 5, 7, 1), "x"), MC_OK);
    ck_assert_uint_eq(mc_tensor_count(&t), 105);
    ck_assert_uint_eq(mc_tensor_bytes(&t), 420);
    ck_assert_str_eq(mc_shape_str(&t.shape, buf, sizeof buf), "7x5x3");
    mc_tensor_free(&t);
    ck_assert_ptr_null(t.data);
    mc_shape s4 = mc_shape_make(2, 3, 4, 5);
    ck_assert_str_eq(mc_shape_str(&s4, buf, sizeof buf), "5x4x3x2");
    ck_assert_int_eq(mc_tensor_alloc(&t, mc_shape_make(3, 0, 7, 1), "bad"), MC_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(mc_error_last(), "tensor bad: impossible shape 7x0x3"));
    mc_alloc_fail_after(0);
    ck_assert_int_eq(mc_tensor_alloc(&t, mc_shape_make(3, 5, 7, 1), "big"), MC_ERR_NOMEM);
    mc_alloc_fail_after(-1);
}
END_TEST

/* Values of the documented generator (docs/weights.md), computed by an
 * independent Python implementation of the formula. */
static const struct {
    uint64_t seed, stream, i, u64;
    float uniform;
} rng_known[] = {
    {1, 0, 0, 0x8d7aecaf722fc711ull, 0.10531377792358398f},
    {1, 0, 1, 0xa1494f4c92f5b2cbull, 0.2600497007369995f},
    {42, 7, 123456789, 0xca9265d79667167eull, 0.5825926065444946f},
    {1, (1ull << 32) + 3, 5, 0x4fd24fa8bccfc4aaull, -0.3763943910598755f},
};

START_TEST(the_rng_matches_its_documented_formula)
{
    ck_assert_uint_eq(mc_rng_u64(rng_known[_i].seed, rng_known[_i].stream, rng_known[_i].i), rng_known[_i].u64);
    ck_assert_float_eq(mc_rng_uniform(rng_known[_i].seed, rng_known[_i].stream, rng_known[_i].i),
                       rng_known[_i].uniform);
}
END_TEST

START_TEST(rng_fill_is_addressable_and_in_range)
{
    float all[1000], part[100];
    mc_rng_fill(all, 1000, 5, 9, 0, 2.0f);
    mc_rng_fill(part, 100, 5, 9, 450, 2.0f);
    ck_assert_int_eq(memcmp(all + 450, part, sizeof part), 0);
    double mean = 0;
    for (int i = 0; i < 1000; i++) {
        ck_assert(all[i] >= -2.0f && all[i] < 2.0f);
        mean += all[i] / 1000.0;
    }
    ck_assert(fabs(mean) < 0.2);
}
END_TEST

Suite *core_suite(void)
{
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, every_status_has_a_distinct_name);
    tcase_add_test(tc, error_set_returns_the_status_and_keeps_the_message);
    tcase_add_test(tc, allocations_are_aligned_counted_and_can_be_made_to_fail);
    tcase_add_test(tc, tensors_know_their_shape_and_refuse_impossible_ones);
    tcase_add_loop_test(tc, the_rng_matches_its_documented_formula, 0,
                        (int)(sizeof rng_known / sizeof rng_known[0]));
    tcase_add_test(tc, rng_fill_is_addressable_and_in_range);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return mc_test_run(core_suite()); }
