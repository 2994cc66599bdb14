/* key_opts.c - the farm key options of `mchair node`, `initial` and
 * `master` (--key-file FILE, --encrypt): one loader, one help text, one
 * start-up line saying whether the process is authenticated. */
#include <stdio.h>
#include <string.h>

#include "../net/auth.h"
#include "cli.h"

void mc_key_usage(FILE *f)
{
    fprintf(f,
            "  --key-file FILE     the farm's shared key (every process of the farm reads the same key;\n"
            "                      the file must be its owner's only: chmod 600): every request is\n"
            "                      authenticated (HMAC-SHA256, replay-protected), others are refused\n"
            "                      (docs/security.md).  Without it the farm is open\n"
            "  --encrypt           with --key-file: tensors and control messages travel encrypted\n"
            "                      (AES-256-GCM), clear requests are refused\n");
}

int mc_key_open(const char *cmd, const char *path, int encrypt, const char *role, const char *where, int quiet,
                mc_auth **out)
{
    *out = NULL;
    if (!path) {
        if (encrypt) {
            fprintf(stderr, "mchair %s: --encrypt needs --key-file FILE\n", cmd);
            return -1;
        }
        if (!quiet)
            fprintf(stderr, "mchair %s: no --key-file: unauthenticated, any host that reaches %s can send it "
                            "requests (docs/security.md)\n", cmd, where ? where : "this process");
        return 0;
    }
    /* the sender name: role@address, in the characters a seal allows */
    char sender[80];
    snprintf(sender, sizeof sender, "%s@%s", role, where ? where : "-");
    for (char *p = sender; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:@/#-", *p)) *p = '_';
    if (mc_auth_load(path, sender, encrypt, out)) {
        fprintf(stderr, "mchair %s: %s\n", cmd, mc_error_last());
        return -1;
    }
    if (!quiet)
        fprintf(stderr, "mchair %s: authenticated: farm key fingerprint %s%s\n", cmd,
                mc_auth_fingerprint(*out), encrypt ? ", bodies encrypted" : "");
    return 0;
}
