/* testutil.h - helpers shared by the Check suites. */
#ifndef MC_TESTUTIL_H
#define MC_TESTUTIL_H

#include <check.h>
#include <stddef.h>

/* max |a-b| / max(|b|, floor) over n floats. */
double mc_test_max_rel_err(const float *a, const float *b, size_t n, double floor);
/* A loopback TCP port free now (bound and released; the caller binds it
 * soon after, and a server that can take port 0 should do that instead). */
int mc_test_free_port(void);
/* Runs a suite and returns the process exit code. */
int mc_test_run(Suite *s);

#endif
