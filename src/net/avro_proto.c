/* avro_proto.c - generic Avro protocols over HTTP (see avro_proto.h). */
#include "avro_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "avro_wire.h"

typedef struct proto_msg {
    char name[64];
    avro_schema_t req_schema, resp_schema; /* resp NULL: a null response */
    avro_value_iface_t *req_cls, *resp_cls;
} proto_msg;

struct mc_proto {
    mc_avro_ipc a;
    char *text;
    char name[64];
    unsigned char hash[16];
    int n_msgs;
    proto_msg msgs[MC_PROTO_MAX_MESSAGES];
};

/* ---- parsing the protocol ---- */

typedef struct defined_set {
    const char *names[32];
    int n;
} defined_set;

static int is_defined(const defined_set *d, const char *name)
{
    for (int i = 0; i < d->n; i++)
        if (!strcmp(d->names[i], name)) return 1;
    return 0;
}

static const cJSON *find_type(const cJSON *types, const char *name)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, types)
    {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(t, "name");
        if (cJSON_IsString(n) && !strcmp(n->valuestring, name)) return t;
    }
    return NULL;
}

static void inline_types(cJSON *node, const cJSON *types, defined_set *d);

/* A schema position (a "type", an array item, a union branch): a name of
 * the protocol's types is replaced by its definition the first time it
 * appears in this schema (Avro C parses each message's schema alone). */
static cJSON *inline_at(cJSON *node, const cJSON *types, defined_set *d)
{
    if (cJSON_IsString(node)) {
        const cJSON *def = find_type(types, node->valuestring);
        if (!def || is_defined(d, node->valuestring) || d->n >= 32) return node;
        d->names[d->n++] = cJSON_GetObjectItemCaseSensitive(def, "name")->valuestring;
        cJSON *copy = cJSON_Duplicate(def, 1);
        inline_types(copy, types, d);
        return copy;
    }
    inline_types(node, types, d);
    return node;
}

static void replace_child(cJSON *parent, cJSON *old, cJSON *fresh)
{
    if (fresh == old) return;
    if (cJSON_IsObject(parent)) cJSON_ReplaceItemInObjectCaseSensitive(parent, old->string, fresh);
    else cJSON_ReplaceItemViaPointer(parent, old, fresh);
}

static void inline_types(cJSON *node, const cJSON *types, defined_set *d)
{
    if (cJSON_IsArray(node)) { /* a union, or a record's fields */
        cJSON *it = node->child;
        while (it) {
            cJSON *next = it->next;
            if (cJSON_IsObject(it) && cJSON_GetObjectItemCaseSensitive(it, "name") &&
                !cJSON_GetObjectItemCaseSensitive(it, "fields") && cJSON_GetObjectItemCaseSensitive(it, "type")) {
                inline_types(it, types, d); /* a field: {"name", "type"} */
            } else {
                replace_child(node, it, inline_at(it, types, d));
            }
            it = next;
        }
        return;
    }
    if (!cJSON_IsObject(node)) return;
    static const char *const keys[] = {"type", "items", "values", "fields"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        cJSON *c = cJSON_GetObjectItemCaseSensitive(node, keys[k]);
        if (!c) continue;
        if (k == 3) inline_types(c, types, d);
        else replace_child(node, c, inline_at(c, types, d));
    }
}

static mc_status schema_of(cJSON *j, const char *what, avro_schema_t *s, avro_value_iface_t **cls)
{
    char *txt = cJSON_PrintUnformatted(j);
    mc_status st = MC_OK;
    if (!txt) return mc_error_set(MC_ERR_NOMEM, "avro protocol: out of memory");
    if (avro_schema_from_json_length(txt, strlen(txt), s) || !(*cls = avro_generic_class_from_schema(*s)))
        st = mc_error_set(MC_ERR_FORMAT, "avro protocol: %s: %s", what, avro_strerror());
    free(txt);
    return st;
}

static mc_status parse_protocol(mc_proto *p)
{
    cJSON *root = cJSON_Parse(p->text);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "protocol");
    const cJSON *types = cJSON_GetObjectItemCaseSensitive(root, "types");
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
    mc_status st = MC_OK;
    if (!cJSON_IsString(name) || !cJSON_IsObject(msgs)) {
        cJSON_Delete(root);
        return mc_error_set(MC_ERR_FORMAT, "avro protocol: needs \"protocol\" and \"messages\"");
    }
    snprintf(p->name, sizeof p->name, "%s", name->valuestring);
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs)
    {
        if (p->n_msgs >= MC_PROTO_MAX_MESSAGES) {
            st = mc_error_set(MC_ERR_FORMAT, "avro protocol %s: more than %d messages", p->name, MC_PROTO_MAX_MESSAGES);
            break;
        }
        proto_msg *pm = &p->msgs[p->n_msgs];
        snprintf(pm->name, sizeof pm->name, "%s", m->string);
        const cJSON *req = cJSON_GetObjectItemCaseSensitive(m, "request");
        const cJSON *resp = cJSON_GetObjectItemCaseSensitive(m, "response");
        if (!cJSON_IsArray(req) || !resp) {
            st = mc_error_set(MC_ERR_FORMAT, "avro protocol %s: message %s needs \"request\" and \"response\"",
                              p->name, pm->name);
            break;
        }
        defined_set d = {.n = 0};
        cJSON *rec = cJSON_CreateObject();
        char rname[80];
        snprintf(rname, sizeof rname, "%s_request", pm->name);
        cJSON_AddStringToObject(rec, "type", "record");
        cJSON_AddStringToObject(rec, "name", rname);
        cJSON *fields = cJSON_Duplicate(req, 1);
        cJSON_AddItemToObject(rec, "fields", fields);
        inline_types(fields, types, &d);
        st = schema_of(rec, pm->name, &pm->req_schema, &pm->req_cls);
        cJSON_Delete(rec);
        if (st) break;
        if (!(cJSON_IsString(resp) && !strcmp(resp->valuestring, "null"))) {
            defined_set d2 = {.n = 0};
            cJSON *holder = cJSON_CreateArray(); /* so the top position can be replaced */
            cJSON_AddItemToArray(holder, cJSON_Duplicate(resp, 1));
            replace_child(holder, holder->child, inline_at(holder->child, types, &d2));
            st = schema_of(holder->child, pm->name, &pm->resp_schema, &pm->resp_cls);
            cJSON_Delete(holder);
            if (st) break;
        }
        p->n_msgs++;
    }
    cJSON_Delete(root);
    return st;
}

mc_status mc_proto_new(const char *text, mc_proto **out)
{
    mc_proto *p = calloc(1, sizeof *p);
    if (!p || !(p->text = strdup(text))) {
        free(p);
        return mc_error_set(MC_ERR_NOMEM, "avro protocol: out of memory");
    }
    mc_status st = mc_avro_ipc_init(&p->a);
    if (!st) st = mc_avro_md5(text, strlen(text), p->hash);
    if (!st) st = parse_protocol(p);
    if (st) {
        mc_proto_free(p);
        return st;
    }
    *out = p;
    return MC_OK;
}

void mc_proto_free(mc_proto *p)
{
    if (!p) return;
    for (int i = 0; i < MC_PROTO_MAX_MESSAGES; i++) {
        proto_msg *m = &p->msgs[i];
        if (m->req_cls) avro_value_iface_decref(m->req_cls);
        if (m->resp_cls) avro_value_iface_decref(m->resp_cls);
        if (m->req_schema) avro_schema_decref(m->req_schema);
        if (m->resp_schema) avro_schema_decref(m->resp_schema);
    }
    mc_avro_ipc_fini(&p->a);
    free(p->text);
    free(p);
}

const char *mc_proto_text(const mc_proto *p) { return p->text; }
const char *mc_proto_name(const mc_proto *p) { return p->name; }

int mc_proto_message(const mc_proto *p, const char *name)
{
    for (int i = 0; i < p->n_msgs; i++)
        if (!strcmp(p->msgs[i].name, name)) return i;
    return -1;
}

/* The client hash of a request body: a handshake request starts with the
 * 16-byte clientHash (fixed), so it is the first 16 bytes of the message. */
int mc_proto_owns(const mc_proto *p, const unsigned char *body, size_t len)
{
    return len >= 4 + 16 && ((size_t)body[0] << 24 | (size_t)body[1] << 16 | (size_t)body[2] << 8 | body[3]) >= 16 &&
           !memcmp(body + 4, p->hash, 16);
}

/* ---- client ---- */

static mc_status encode_call(mc_proto *p, int msg, int send_protocol, mc_proto_put put, void *ctx,
                             unsigned char **body, size_t *len)
{
    mc_avro_out o = {.n = 0};
    avro_value_t *hv, *mv, *nv, *pv;
    mc_status st = MC_OK;
    if (mc_avro_out_new(p->a.cls[MC_AVRO_HREQ], &o, &hv) || mc_avro_set_hreq(hv, p->hash, p->text, send_protocol) ||
        mc_avro_out_new(p->a.cls[MC_AVRO_META], &o, &mv) || mc_avro_out_new(p->a.cls_string, &o, &nv) ||
        mc_avro_set_str(nv, p->msgs[msg].name) || mc_avro_out_new(p->msgs[msg].req_cls, &o, &pv))
        st = mc_error_set(MC_ERR_FORMAT, "%s.%s: cannot build a request: %s", p->name, p->msgs[msg].name,
                          avro_strerror());
    if (!st && put) st = put(ctx, pv);
    if (!st) st = mc_avro_out_write(&o, NULL, body, len);
    mc_avro_out_free(&o);
    return st;
}

/* Reads a framed response; *none = 1 for a NONE handshake (send again with
 * the protocol).  The result is read by `get` before its memory goes. */
static mc_status decode_response(mc_proto *p, int msg, const unsigned char *body, size_t len, int *none,
                                 mc_proto_get get, void *ctx)
{
    const unsigned char *m;
    size_t n;
    unsigned char *copy = NULL;
    mc_status st = mc_ipc_unframe(body, len, &m, &n, &copy);
    if (st) return st;
    *none = 0;
    mc_avro_decode_begin(n);
    avro_reader_t r = avro_reader_memory((const char *)m, (int64_t)n);
    avro_value_t v[4];
    int nv = 0, e = 0, flag = 0;
    avro_value_t field;
    const char *pn = p->name, *mn = p->msgs[msg].name;
    if (!r || avro_generic_value_new(p->a.cls[MC_AVRO_HRESP], &v[nv]) || !++nv || avro_value_read(r, &v[0]) ||
        avro_value_get_by_name(&v[0], "match", &field, NULL) || avro_value_get_enum(&field, &e) || e < 0 || e > 2) {
        st = mc_error_set(MC_ERR_FORMAT, "%s.%s: malformed handshake response: %s", pn, mn, avro_strerror());
        goto out;
    }
    if (e == MC_IPC_NONE) {
        *none = 1;
        goto out;
    }
    if (avro_generic_value_new(p->a.cls[MC_AVRO_META], &v[nv]) || !++nv || avro_value_read(r, &v[1]) ||
        avro_generic_value_new(p->a.cls_boolean, &v[nv]) || !++nv || avro_value_read(r, &v[2]) ||
        avro_value_get_boolean(&v[2], &flag)) {
        st = mc_error_set(MC_ERR_FORMAT, "%s.%s: malformed call response: %s", pn, mn, avro_strerror());
        goto out;
    }
    if (flag) {
        const char *s = NULL;
        size_t sl = 0;
        avro_value_t br;
        if (avro_generic_value_new(p->a.cls[MC_AVRO_ERRORS], &v[nv]) || !++nv || avro_value_read(r, &v[3]) ||
            avro_value_get_current_branch(&v[3], &br) || avro_value_get_string(&br, &s, &sl))
            st = mc_error_set(MC_ERR_FORMAT, "%s.%s: malformed error response: %s", pn, mn, avro_strerror());
        else
            st = mc_error_set(MC_ERR_NETWORK, "remote error: %.*s", (int)(sl ? sl - 1 : 0), s ? s : "");
        goto out;
    }
    if (p->msgs[msg].resp_cls) {
        if (avro_generic_value_new(p->msgs[msg].resp_cls, &v[nv]) || !++nv || avro_value_read(r, &v[3])) {
            st = mc_error_set(MC_ERR_FORMAT, "%s.%s: response does not decode: %s", pn, mn, avro_strerror());
            goto out;
        }
        if (get) st = get(ctx, &v[3]);
    }
out:
    for (int i = 0; i < nv; i++) avro_value_decref(&v[i]);
    if (r) avro_reader_free(r);
    mc_avro_decode_end();
    free(copy);
    return st;
}

mc_status mc_proto_call(mc_proto *p, mc_http_client *c, const char *host, int port, int msg, mc_proto_put put,
                        void *put_ctx, mc_proto_get get, void *get_ctx)
{
    if (msg < 0 || msg >= p->n_msgs) return mc_error_set(MC_ERR_INVALID_ARG, "%s: no message %d", p->name, msg);
    for (int send_protocol = 0; send_protocol < 2; send_protocol++) {
        unsigned char *body = NULL, *resp = NULL;
        size_t len = 0, rl = 0;
        long code = 0;
        mc_status st = encode_call(p, msg, send_protocol, put, put_ctx, &body, &len);
        if (!st) st = mc_http_post(c, host, port, body, len, &code, &resp, &rl);
        free(body);
        if (st) return st;
        if (code != 200) {
            st = mc_error_set(MC_ERR_NETWORK, "%s:%d answered HTTP %ld to %s.%s: %.*s", host, port, code, p->name,
                              p->msgs[msg].name, (int)(rl > 200 ? 200 : rl), resp ? (const char *)resp : "");
            free(resp);
            return st;
        }
        int none = 0;
        st = decode_response(p, msg, resp, rl, &none, get, get_ctx);
        free(resp);
        if (st || !none) {
            if (st) {
                char m[600];
                snprintf(m, sizeof m, "%s", mc_error_last());
                st = mc_error_set(st, "%s:%d: %s", host, port, m);
            }
            return st;
        }
    }
    return mc_error_set(MC_ERR_NETWORK, "%s:%d does not speak protocol %s (handshake NONE with our protocol)", host,
                        port, p->name);
}

/* ---- server ---- */

static int plain(const char *text, unsigned char **resp, size_t *len, int code)
{
    size_t n = strlen(text);
    *resp = malloc(n + 1);
    if (*resp) memcpy(*resp, text, n + 1);
    *len = *resp ? n : 0;
    return code;
}

/* A client with another hash that sent its protocol text is accepted when
 * the text is the same protocol (same JSON), else refused. */
static int same_protocol(const mc_proto *p, const char *text)
{
    cJSON *a = cJSON_Parse(p->text), *b = cJSON_Parse(text);
    int same = a && b && cJSON_Compare(a, b, 1);
    cJSON_Delete(a);
    cJSON_Delete(b);
    return same;
}

int mc_proto_serve(mc_proto *p, const unsigned char *body, size_t len, mc_proto_handler h, void *ctx,
                   unsigned char **resp, size_t *resp_len)
{
    const unsigned char *m;
    size_t n;
    unsigned char *copy = NULL;
    char text[512], err[600] = "";
    const char *errp = NULL;
    *resp = NULL;
    *resp_len = 0;
    if (mc_ipc_unframe(body, len, &m, &n, &copy)) {
        snprintf(text, sizeof text, "bad request: %s\n", mc_error_last());
        return plain(text, resp, resp_len, 400);
    }
    mc_avro_decode_begin(n);
    avro_reader_t r = avro_reader_memory((const char *)m, (int64_t)n);
    avro_value_t v[4], field, br;
    int nv = 0, code = 200, msg = -1, have_result = 0;
    mc_ipc_match match = MC_IPC_NONE;
    mc_ipc_meta rmeta = {.n = 0};
    if (!r || avro_generic_value_new(p->a.cls[MC_AVRO_HREQ], &v[nv]) || !++nv || avro_value_read(r, &v[0])) {
        snprintf(text, sizeof text, "bad request: body is not an Avro IPC handshake request: %s\n", avro_strerror());
        code = plain(text, resp, resp_len, 400);
        goto out;
    }
    const void *ch = NULL;
    size_t chl = 0;
    int disc = 0;
    if (avro_value_get_by_name(&v[0], "clientHash", &field, NULL) || avro_value_get_fixed(&field, &ch, &chl) ||
        chl != 16 || avro_value_get_by_name(&v[0], "clientProtocol", &field, NULL) ||
        avro_value_get_discriminant(&field, &disc)) {
        code = plain("bad request: handshake without hashes\n", resp, resp_len, 400);
        goto out;
    }
    if (!memcmp(ch, p->hash, 16)) {
        match = MC_IPC_BOTH;
    } else if (disc == 1 && !avro_value_get_current_branch(&field, &br)) {
        const char *proto = NULL;
        size_t pl = 0;
        avro_value_get_string(&br, &proto, &pl);
        match = MC_IPC_CLIENT;
        if (!proto || !same_protocol(p, proto)) {
            snprintf(err, sizeof err, "incompatible client protocol: not %s", p->name);
            errp = err;
            goto respond;
        }
    } else {
        goto respond; /* NONE: the client sends again with its protocol */
    }
    const char *name = NULL;
    size_t nl = 0;
    if (avro_generic_value_new(p->a.cls[MC_AVRO_META], &v[nv]) || !++nv || avro_value_read(r, &v[1]) ||
        avro_generic_value_new(p->a.cls_string, &v[nv]) || !++nv || avro_value_read(r, &v[2]) ||
        avro_value_get_string(&v[2], &name, &nl)) {
        snprintf(err, sizeof err, "malformed call request (metadata, message name): %s", avro_strerror());
        errp = err;
        goto respond;
    }
    size_t entries = 0;
    if (!avro_value_get_size(&v[1], &entries) && entries > MC_IPC_META_LIMIT) {
        snprintf(err, sizeof err, "call metadata has %zu entries (at most %d)", entries, MC_IPC_META_LIMIT);
        errp = err;
        goto respond;
    }
    if (nl <= 1) goto respond; /* an empty message name: a ping */
    if ((msg = mc_proto_message(p, name)) < 0) {
        snprintf(err, sizeof err, "unknown message '%.100s' in protocol %s", name, p->name);
        errp = err;
        goto respond;
    }
    size_t used = 0, sz = 0;
    for (int i = 0; i < 3; i++)
        if (!avro_value_sizeof(&v[i], &sz)) used += sz;
    if (avro_generic_value_new(p->msgs[msg].req_cls, &v[nv]) || !++nv || avro_value_read(r, &v[3])) {
        snprintf(err, sizeof err, "%s.%s: parameters do not decode: %s", p->name, p->msgs[msg].name, avro_strerror());
        errp = err;
        goto respond;
    }
    if (!avro_value_sizeof(&v[3], &sz)) used += sz;
    if (used < n) {
        snprintf(err, sizeof err, "%s.%s: %zu bytes left after the parameters (wrong schema?)", p->name,
                 p->msgs[msg].name, n - used);
        errp = err;
        goto respond;
    }
    {
        avro_value_t res;
        int have = 0;
        mc_status st = MC_OK;
        if (p->msgs[msg].resp_cls) {
            if (avro_generic_value_new(p->msgs[msg].resp_cls, &res)) st = mc_error_set(MC_ERR_NOMEM, "out of memory");
            else have = 1;
        }
        mc_avro_decode_uncap();
        mc_error_clear();
        if (!st) st = h(ctx, msg, &v[3], have ? &res : NULL);
        if (st) {
            snprintf(err, sizeof err, "%s", mc_error_last());
            errp = err;
        }
        if (mc_avro_write_response(&p->a, p->text, p->hash, match, 1, errp, &rmeta, have ? &res : NULL, resp,
                                   resp_len)) {
            snprintf(text, sizeof text, "server error: %s\n", mc_error_last());
            free(*resp);
            code = plain(text, resp, resp_len, 500);
        }
        if (have) avro_value_decref(&res);
        have_result = 1;
    }
respond:
    if (!have_result &&
        mc_avro_write_response(&p->a, p->text, p->hash, match, match != MC_IPC_NONE, errp, &rmeta, NULL, resp,
                               resp_len)) {
        snprintf(text, sizeof text, "server error: %s\n", mc_error_last());
        code = plain(text, resp, resp_len, 500);
    }
out:
    for (int i = 0; i < nv; i++) avro_value_decref(&v[i]);
    if (r) avro_reader_free(r);
    mc_avro_decode_end();
    free(copy);
    return code;
}

/* ---- record fields ---- */

int mc_proto_get_str(avro_value_t *rec, const char *field, char *dst, size_t cap)
{
    avro_value_t f;
    const char *s = NULL;
    size_t sl = 0;
    if (avro_value_get_by_name(rec, field, &f, NULL) || avro_value_get_string(&f, &s, &sl)) return -1;
    snprintf(dst, cap, "%.*s", (int)(sl ? sl - 1 : 0), s ? s : "");
    return 0;
}

int mc_proto_get_strdup(avro_value_t *rec, const char *field, char **dst)
{
    avro_value_t f;
    const char *s = NULL;
    size_t sl = 0;
    *dst = NULL;
    if (avro_value_get_by_name(rec, field, &f, NULL) || avro_value_get_string(&f, &s, &sl)) return -1;
    size_t n = sl ? sl - 1 : 0;
    if (!(*dst = malloc(n + 1))) return -1;
    memcpy(*dst, s ? s : "", n);
    (*dst)[n] = '\0';
    return 0;
}

int mc_proto_get_long(avro_value_t *rec, const char *field, long *dst)
{
    avro_value_t f;
    int64_t v;
    if (avro_value_get_by_name(rec, field, &f, NULL) || avro_value_get_long(&f, &v)) return -1;
    *dst = (long)v;
    return 0;
}

int mc_proto_get_double(avro_value_t *rec, const char *field, double *dst)
{
    avro_value_t f;
    return avro_value_get_by_name(rec, field, &f, NULL) || avro_value_get_double(&f, dst) ? -1 : 0;
}

int mc_proto_get_bool(avro_value_t *rec, const char *field, int *dst)
{
    avro_value_t f;
    return avro_value_get_by_name(rec, field, &f, NULL) || avro_value_get_boolean(&f, dst) ? -1 : 0;
}

int mc_proto_set_str(avro_value_t *rec, const char *field, const char *s)
{
    avro_value_t f;
    return avro_value_get_by_name(rec, field, &f, NULL) || mc_avro_set_str(&f, s) ? -1 : 0;
}

int mc_proto_set_long(avro_value_t *rec, const char *field, long v)
{
    avro_value_t f;
    return avro_value_get_by_name(rec, field, &f, NULL) || avro_value_set_long(&f, (int64_t)v) ? -1 : 0;
}

int mc_proto_set_double(avro_value_t *rec, const char *field, double v)
{
    avro_value_t f;
    return avro_value_get_by_name(rec, field, &f, NULL) || avro_value_set_double(&f, v) ? -1 : 0;
}

int mc_proto_set_bool(avro_value_t *rec, const char *field, int v)
{
    avro_value_t f;
    return avro_value_get_by_name(rec, field, &f, NULL) || avro_value_set_boolean(&f, v) ? -1 : 0;
}
