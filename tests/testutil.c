/* testutil.c - helpers shared by the Check suites. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>

double mc_test_max_rel_err(const float *a, const float *b, size_t n, double floor)
{
    double scale = floor, err = 0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs((double)b[i]));
    for (size_t i = 0; i < n; i++) {
        if (isnan(a[i]) || isnan(b[i])) return INFINITY;
        err = fmax(err, fabs((double)a[i] - (double)b[i]) / scale);
    }
    return err;
}

int mc_test_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
