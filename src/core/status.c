/* status.c - status names and the thread-local last-error message. */
#include "status.h"

#include <stdarg.h>
#include <stdio.h>

static const char *const status_names[MC_STATUS_COUNT_] = {
    "ok",
    "invalid argument",
    "out of memory",
    "i/o error",
    "malformed input",
    "shape mismatch",
    "unsupported",
    "not found",
    "network error",
    "timeout",
    "backend failure",
    "buffer full",
    "aborted",
};
_Static_assert(sizeof(status_names) / sizeof(status_names[0]) == MC_STATUS_COUNT_,
               "every status needs a name");

static _Thread_local char last_error[512];

const char *mc_status_to_string(mc_status s)
{
    int i = -(int)s;
    if (i < 0 || i >= MC_STATUS_COUNT_) return "unknown status";
    return status_names[i];
}

mc_status mc_error_set(mc_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return s;
}

const char *mc_error_last(void) { return last_error[0] ? last_error : "no detail"; }

void mc_error_clear(void) { last_error[0] = '\0'; }
