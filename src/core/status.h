/* status.h - status codes shared by every module.
 *
 * Every fallible function returns an mc_status: 0 is success, negative values
 * are failures.  Detail (file, field, address, tensor shape) goes into a
 * caller-visible message through mc_error_set(), so a status plus the last
 * message is always enough to tell the user what went wrong and where.
 */
#ifndef MC_STATUS_H
#define MC_STATUS_H

#include <stddef.h>

typedef enum mc_status {
    MC_OK = 0,
    MC_ERR_INVALID_ARG = -1,   /* caller passed something impossible */
    MC_ERR_NOMEM = -2,         /* an allocation failed */
    MC_ERR_IO = -3,            /* a file could not be read or written */
    MC_ERR_FORMAT = -4,        /* a file or message is malformed */
    MC_ERR_SHAPE = -5,         /* tensor shapes do not fit */
    MC_ERR_UNSUPPORTED = -6,   /* op/backend combination not available */
    MC_ERR_NOT_FOUND = -7,     /* unknown name (model, task, layer) */
    MC_ERR_NETWORK = -8,       /* a peer could not be reached or answered badly */
    MC_ERR_TIMEOUT = -9,       /* something did not happen in time */
    MC_ERR_BACKEND = -10,      /* the compute backend (BLAS, CUDA) failed */
    MC_ERR_FULL = -11,         /* a bounded buffer is full */
    MC_ERR_ABORTED = -12,      /* given up on purpose (stopping, or a new farm table) */
    MC_STATUS_COUNT_ = 13      /* number of codes, for the name table */
} mc_status;

/* Short stable name of a status ("ok", "out of memory", ...). */
const char *mc_status_to_string(mc_status s);

/* Thread-local last error message.  mc_error_set() formats it and returns
 * the status so callers can write `return mc_error_set(MC_ERR_IO, "...")`. */
mc_status mc_error_set(mc_status s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
const char *mc_error_last(void);
void mc_error_clear(void);

#endif
