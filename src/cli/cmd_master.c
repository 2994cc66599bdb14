/* cmd_master.c - `mchair master`: a dynamic farm's master on its own (for
 * farms whose source is elsewhere: `mchair initial --master` joins it).
 * Serves the control protocol (farm/master.h) until SIGINT/SIGTERM, then
 * prints the events and writes an optional JSON report. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "../core/flag.h"
#include "../farm/master.h"
#include "../net/control.h"
#include "../net/http.h"
#include "cli.h"

static mc_flag master_stop;
static void on_signal(int sig)
{
    (void)sig;
    master_stop = 1;
}

typedef struct served {
    mc_ctl *ctl;
    mc_ctl_handlers h;
} served;

static int on_body(void *ctx, const unsigned char *body, size_t len, unsigned char **resp, size_t *resp_len)
{
    served *s = ctx;
    if (!mc_ctl_owns(s->ctl, body, len)) {
        static const char text[] = "this is a farm master: it speaks the control protocol only (control.avpr)\n";
        *resp = malloc(sizeof text);
        if (*resp) memcpy(*resp, text, sizeof text);
        *resp_len = *resp ? sizeof text - 1 : 0;
        return 400;
    }
    return mc_ctl_serve(s->ctl, &s->h, body, len, resp, resp_len);
}

static void master_usage(FILE *f)
{
    fprintf(f,
            "usage: mchair master --model M --listen ADDR:PORT --devices N [options]\n"
            "\n"
            "The master of a dynamic farm, on its own: owns the IP table and the plans for\n"
            "1..N devices; nodes join it (`mchair node --master ADDR:PORT`), and so does the\n"
            "source and sink (`mchair initial --master ADDR:PORT`).  Stops on SIGINT/SIGTERM.\n"
            "\n"
            "  --model M           model (built-in name or model file)\n"
            "  --listen ADDR:PORT  where control messages arrive\n"
            "  --json FILE         at exit: devices and events as JSON\n"
            "  --quiet             no log lines\n");
    mc_master_usage(f);
    mc_key_usage(f);
}

int mc_cmd_master(int argc, char **argv)
{
    static const struct option lo[] = {{"model", 1, 0, 'm'}, {"listen", 1, 0, 'l'}, {"json", 1, 0, 'j'},
                                       {"quiet", 0, 0, 'q'}, {"help", 0, 0, 'h'},   MC_MASTER_LONGOPTS,
                                       MC_KEY_LONGOPTS,      {0, 0, 0, 0}};
    mc_master_opts mo;
    memset(&mo, 0, sizeof mo);
    const char *listen = NULL, *json = NULL, *key_file = NULL;
    int c, encrypt = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'm': mo.model = optarg; break;
        case 'l': listen = optarg; break;
        case 'j': json = optarg; break;
        case 'q': mo.quiet = 1; break;
        case MC_OPT_KEY_FILE: key_file = optarg; break;
        case MC_OPT_ENCRYPT: encrypt = 1; break;
        case 'h': master_usage(stdout); return 0;
        default: {
            int m = mc_master_opt("master", c, optarg, &mo);
            if (m < 0) return 2;
            if (m == 0) {
                master_usage(stderr);
                return 2;
            }
        }
        }
    }
    if (optind < argc || !mo.model || !listen) {
        if (optind < argc) fprintf(stderr, "mchair master: unexpected argument '%s'\n", argv[optind]);
        else fprintf(stderr, "mchair master: --model M and --listen ADDR:PORT are required\n");
        return 2;
    }
    if (mc_master_opts_check("master", &mo)) return 2;
    if (mc_key_open("master", key_file, encrypt, "master", listen, mo.quiet, &mo.auth)) return 2;
    mc_cli_stop_signals(on_signal);

    mc_addr la;
    mc_master *m = NULL;
    mc_http_server *srv = NULL;
    served s = {0};
    mc_status st = mc_addr_parse(listen, MC_FARM_INITIAL_PORT, &la);
    if (!st) st = mc_master_new(&mo, &m);
    if (!st) st = mc_ctl_new(&s.ctl);
    if (!st) {
        s.h = mc_master_handlers(m);
        st = mc_http_server_start(la.host, la.port, 1u << 20, mo.auth, on_body, &s, &srv);
    }
    if (!st) st = mc_master_start(m);
    int rc = 0;
    if (st) {
        fprintf(stderr, "mchair master: %s (%s)\n", mc_error_last(), mc_status_to_string(st));
        rc = 2;
    } else {
        if (!mo.quiet) {
            printf("master: model %s, control at %s, waiting for %d devices and an initial\n", mo.model, listen,
                   mo.devices);
            fflush(stdout);
        }
        while (!master_stop) {
            struct timespec ts = {0, 50 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    if (srv && !mo.quiet) {
        mc_http_stats hs;
        char line[600];
        mc_http_server_stats(srv, &hs);
        mc_http_stats_describe(&hs, line, sizeof line);
        if (*line) fprintf(stderr, "master: %s\n", line);
    }
    mc_http_server_stop(srv);
    if (m && !rc) {
        cJSON *r = mc_master_report(m);
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItem(r, "events"))
            printf("event %-9s at %7.2f s: epoch %d, %d devices, %d loading a task (%s)\n",
                   cJSON_GetObjectItem(e, "kind")->valuestring, cJSON_GetObjectItem(e, "t_s")->valuedouble,
                   cJSON_GetObjectItem(e, "epoch")->valueint, cJSON_GetObjectItem(e, "devices")->valueint,
                   cJSON_GetObjectItem(e, "moved")->valueint, cJSON_GetObjectItem(e, "why")->valuestring);
        if (json) {
            char *txt = cJSON_Print(r);
            FILE *f = txt ? fopen(json, "w") : NULL;
            if (!f || fputs(txt, f) < 0) {
                fprintf(stderr, "mchair master: cannot write %s\n", json);
                rc = 1;
            }
            if (f) fclose(f);
            free(txt);
        }
        cJSON_Delete(r);
    }
    mc_master_free(m);
    mc_ctl_free(s.ctl);
    mc_auth_free(mo.auth);
    return rc;
}
