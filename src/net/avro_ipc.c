/* avro_ipc.c - Avro IPC framing, handshake and the forward message (see avro_ipc.h).
 *
 * Every value on the wire is read and written by Avro C generic values; this
 * file only decides which schema comes next.  The large `input` bytes are
 * handed to Avro C as a wrapped buffer, so encoding copies them once (into
 * the body) and decoding once (out of it).
 */
#include "avro_ipc.h"
#include "avro_wire.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <avro.h>
#include <cjson/cJSON.h>
#include <openssl/evp.h>

static const char protocol_text[] =
    "{\"protocol\":\"image\",\"namespace\":null,\"types\":[],\"messages\":{\"forward\":{\"request\":["
    "{\"name\":\"input\",\"type\":\"bytes\"},{\"name\":\"next\",\"type\":\"string\"},"
    "{\"name\":\"tag\",\"type\":\"string\"}],\"response\":\"null\"}}}";

static const char hreq_json[] =
    "{\"type\":\"record\",\"name\":\"HandshakeRequest\",\"namespace\":\"org.apache.avro.ipc\",\"fields\":["
    "{\"name\":\"clientHash\",\"type\":{\"type\":\"fixed\",\"name\":\"MD5\",\"size\":16}},"
    "{\"name\":\"clientProtocol\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"serverHash\",\"type\":\"MD5\"},"
    "{\"name\":\"meta\",\"type\":[\"null\",{\"type\":\"map\",\"values\":\"bytes\"}]}]}";

static const char hresp_json[] =
    "{\"type\":\"record\",\"name\":\"HandshakeResponse\",\"namespace\":\"org.apache.avro.ipc\",\"fields\":["
    "{\"name\":\"match\",\"type\":{\"type\":\"enum\",\"name\":\"HandshakeMatch\",\"symbols\":[\"BOTH\",\"CLIENT\",\"NONE\"]}},"
    "{\"name\":\"serverProtocol\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"serverHash\",\"type\":[\"null\",{\"type\":\"fixed\",\"name\":\"MD5\",\"size\":16}]},"
    "{\"name\":\"meta\",\"type\":[\"null\",{\"type\":\"map\",\"values\":\"bytes\"}]}]}";

static const char meta_json[] = "{\"type\":\"map\",\"values\":\"bytes\"}";
static const char params_json[] =
    "{\"type\":\"record\",\"name\":\"forward\",\"fields\":[{\"name\":\"input\",\"type\":\"bytes\"},"
    "{\"name\":\"next\",\"type\":\"string\"},{\"name\":\"tag\",\"type\":\"string\"}]}";
static const char errors_json[] = "[\"string\"]";

#define KNOWN_MAX 16

typedef struct known_client {
    unsigned char hash[16];
    int used, ok;
    char why[200];
} known_client;

/* The handshake, metadata and error schemas (avro_wire.h) plus forward's parameters. */
enum { S_HREQ = MC_AVRO_HREQ, S_HRESP = MC_AVRO_HRESP, S_META = MC_AVRO_META, S_ERRORS = MC_AVRO_ERRORS };

struct mc_ipc {
    mc_avro_ipc a;
    avro_schema_t params_schema;
    avro_value_iface_t *params_cls;
    unsigned char hash[16];
    pthread_mutex_t lock;
    known_client known[KNOWN_MAX];
    int known_next;
};

const char *mc_ipc_protocol_text(void) { return protocol_text; }

void mc_ipc_meta_set(mc_ipc_meta *m, const char *key, const char *val)
{
    int i;
    for (i = 0; i < m->n; i++)
        if (!strcmp(m->key[i], key)) break;
    if (i == m->n) {
        if (m->n >= MC_IPC_META_MAX || strlen(key) >= MC_IPC_KEY_MAX) return;
        m->n++;
    }
    snprintf(m->key[i], MC_IPC_KEY_MAX, "%s", key);
    snprintf(m->val[i], MC_IPC_VAL_MAX, "%s", val);
}

const char *mc_ipc_meta_get(const mc_ipc_meta *m, const char *key)
{
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->key[i], key)) return m->val[i];
    return NULL;
}

void mc_ipc_meta_del(mc_ipc_meta *m, const char *key)
{
    int j = 0;
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->key[i], key)) {
            if (i != j) {
                memcpy(m->key[j], m->key[i], sizeof m->key[i]);
                memcpy(m->val[j], m->val[i], sizeof m->val[i]);
            }
            j++;
        }
    m->n = j;
}

void mc_ipc_forward_release(mc_ipc_forward *f)
{
    if (f->owner_) {
        avro_value_t *v = f->owner_;
        avro_value_decref(v);
        free(v);
    }
    f->owner_ = NULL;
    f->input = NULL;
    f->input_len = 0;
}

mc_status mc_avro_md5(const void *p, size_t n, unsigned char out[16])
{
    unsigned int len = 0;
    if (!EVP_Digest(p, n, out, &len, EVP_md5(), NULL) || len != 16)
        return mc_error_set(MC_ERR_BACKEND, "avro ipc: MD5 failed");
    return MC_OK;
}

/* Avro C trusts the lengths it reads: a wrong-schema or hostile message can
 * make it ask for a huge (even "negative") buffer, and on some of those
 * error paths it does not free what it allocated.  So while this thread
 * decodes a message, (1) each allocation through Avro C is capped, so a
 * bogus length fails as an ordinary decode error, and (2) allocations are
 * tracked; when the exchange is over and all our values are released,
 * whatever Avro C left behind is freed.  Memory stays bounded however many
 * bad messages arrive.
 * The cap is 64 x the message size (+64 KiB), not the message size: Avro C
 * grows the arrays behind a map or an array as entries arrive and does not
 * check those allocations (a map of thousands of distinct keys in a 40 KB
 * message crashed it in avro_raw_map_get_or_create when the cap refused the
 * growth); an entry takes at least one byte of the message and at most 64 of
 * those arrays.  The tracker never refuses either: past its fixed table it
 * records into a list that grows (freed at the end of the exchange), and our
 * decoders refuse maps and arrays with more entries than they use. */
#define TRACK_MAX 4096
static _Thread_local size_t decode_cap; /* 0: no cap */
static _Thread_local int tracking, n_live, n_more, cap_more;
static _Thread_local void *live[TRACK_MAX];
static _Thread_local void **more; /* past TRACK_MAX (plain malloc, not Avro's) */

static void **track_find(const void *p)
{
    if (!tracking || !p) return NULL;
    for (int i = 0; i < n_live; i++)
        if (live[i] == p) return &live[i];
    for (int i = 0; i < n_more; i++)
        if (more[i] == p) return &more[i];
    return NULL;
}

static void track_forget(void **slot)
{
    if (slot >= live && slot < live + TRACK_MAX) *slot = live[--n_live];
    else *slot = more[--n_more];
    if (n_live < TRACK_MAX && n_more > 0) live[n_live++] = more[--n_more]; /* keep the table full first */
}

static void track_add(void *p)
{
    if (n_live < TRACK_MAX) {
        live[n_live++] = p;
        return;
    }
    if (n_more == cap_more) {
        int cap = cap_more ? 2 * cap_more : 1024;
        void **m = realloc(more, (size_t)cap * sizeof *m);
        if (!m) return; /* cannot happen in practice; the block is then freed by Avro or leaks once */
        more = m;
        cap_more = cap;
    }
    more[n_more++] = p;
}

static void *capped_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    (void)osize;
    void **slot = track_find(ptr);
    if (nsize == 0) {
        if (slot) track_forget(slot);
        free(ptr);
        return NULL;
    }
    if (decode_cap && nsize > decode_cap) return NULL;
    void *p = realloc(ptr, nsize);
    if (p && slot) *slot = p;
    else if (p && !ptr && tracking) track_add(p);
    return p;
}

void mc_avro_decode_begin(size_t n)
{
    decode_cap = 64 * n + 65536;
    tracking = 1;
    n_live = n_more = 0;
}

void mc_avro_decode_uncap(void) { decode_cap = 0; }

/* After every value of the exchange is released: frees Avro C's leftovers. */
void mc_avro_decode_end(void)
{
    for (int i = 0; i < n_live; i++) free(live[i]);
    for (int i = 0; i < n_more; i++) free(more[i]);
    free(more);
    more = NULL;
    n_live = n_more = cap_more = 0;
    tracking = 0;
    decode_cap = 0;
}

static pthread_once_t alloc_once = PTHREAD_ONCE_INIT;
static void install_allocator(void) { avro_set_allocator(capped_alloc, NULL); }

mc_status mc_avro_ipc_init(mc_avro_ipc *a)
{
    pthread_once(&alloc_once, install_allocator);
    static const char *const js[MC_AVRO_NCLS] = {hreq_json, hresp_json, meta_json, errors_json};
    memset(a, 0, sizeof *a);
    for (int i = 0; i < MC_AVRO_NCLS; i++) {
        if (avro_schema_from_json_length(js[i], strlen(js[i]), &a->schema[i]) ||
            !(a->cls[i] = avro_generic_class_from_schema(a->schema[i]))) {
            mc_avro_ipc_fini(a);
            return mc_error_set(MC_ERR_FORMAT, "avro ipc: schema %d: %s", i, avro_strerror());
        }
    }
    a->cls_string = avro_generic_string_class();
    a->cls_boolean = avro_generic_boolean_class();
    return MC_OK;
}

void mc_avro_ipc_fini(mc_avro_ipc *a)
{
    for (int i = 0; i < MC_AVRO_NCLS; i++) {
        if (a->cls[i]) avro_value_iface_decref(a->cls[i]);
        if (a->schema[i]) avro_schema_decref(a->schema[i]);
        a->cls[i] = NULL;
        a->schema[i] = NULL;
    }
    if (a->cls_string) avro_value_iface_decref(a->cls_string);
    if (a->cls_boolean) avro_value_iface_decref(a->cls_boolean);
    a->cls_string = a->cls_boolean = NULL;
}

mc_status mc_ipc_new(mc_ipc **out)
{
    mc_ipc *ipc = calloc(1, sizeof *ipc);
    if (!ipc) return mc_error_set(MC_ERR_NOMEM, "avro ipc: out of memory");
    pthread_mutex_init(&ipc->lock, NULL);
    mc_status st = mc_avro_ipc_init(&ipc->a);
    if (!st && (avro_schema_from_json_length(params_json, strlen(params_json), &ipc->params_schema) ||
                !(ipc->params_cls = avro_generic_class_from_schema(ipc->params_schema))))
        st = mc_error_set(MC_ERR_FORMAT, "avro ipc: forward schema: %s", avro_strerror());
    if (!st) st = mc_avro_md5(protocol_text, strlen(protocol_text), ipc->hash);
    if (st) {
        mc_ipc_free(ipc);
        return st;
    }
    *out = ipc;
    return MC_OK;
}

void mc_ipc_free(mc_ipc *ipc)
{
    if (!ipc) return;
    mc_avro_ipc_fini(&ipc->a);
    if (ipc->params_cls) avro_value_iface_decref(ipc->params_cls);
    if (ipc->params_schema) avro_schema_decref(ipc->params_schema);
    pthread_mutex_destroy(&ipc->lock);
    free(ipc);
}

/* ---- framing ---- */

mc_status mc_ipc_frame(const unsigned char *msg, size_t n, unsigned char **body, size_t *len)
{
    if (n > 0x7fffffffu) return mc_error_set(MC_ERR_INVALID_ARG, "avro ipc: message of %zu bytes is too large", n);
    unsigned char *b = malloc(n + 8);
    if (!b) return mc_error_set(MC_ERR_NOMEM, "avro ipc: out of memory framing %zu bytes", n);
    b[0] = (unsigned char)(n >> 24);
    b[1] = (unsigned char)(n >> 16);
    b[2] = (unsigned char)(n >> 8);
    b[3] = (unsigned char)n;
    memcpy(b + 4, msg, n);
    memset(b + 4 + n, 0, 4);
    *body = b;
    *len = n + 8;
    return MC_OK;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

mc_status mc_ipc_unframe(const unsigned char *body, size_t len, const unsigned char **msg, size_t *n,
                         unsigned char **copy)
{
    *copy = NULL;
    size_t pos = 0, total = 0, frames = 0;
    for (;;) {
        if (len - pos < 4)
            return mc_error_set(MC_ERR_FORMAT, "avro framing: body ends inside a frame header at byte %zu", pos);
        uint32_t fl = be32(body + pos);
        pos += 4;
        if (fl == 0) break;
        if (fl > len - pos)
            return mc_error_set(MC_ERR_FORMAT, "avro framing: frame of %u bytes at byte %zu runs past the %zu-byte body",
                                fl, pos - 4, len);
        pos += fl;
        total += fl;
        frames++;
    }
    if (pos != len)
        return mc_error_set(MC_ERR_FORMAT, "avro framing: %zu bytes after the terminating empty frame", len - pos);
    if (frames <= 1) {
        *msg = body + 4;
        *n = total;
        return MC_OK;
    }
    unsigned char *c = malloc(total ? total : 1);
    if (!c) return mc_error_set(MC_ERR_NOMEM, "avro framing: out of memory");
    size_t p = 0, o = 0;
    for (;;) {
        uint32_t fl = be32(body + p);
        p += 4;
        if (!fl) break;
        memcpy(c + o, body + p, fl);
        o += fl;
        p += fl;
    }
    *copy = c;
    *msg = c;
    *n = total;
    return MC_OK;
}

/* ---- writing helpers ---- */

typedef mc_avro_out outvals;

void mc_avro_out_free(outvals *o)
{
    for (int i = 0; i < o->n; i++) avro_value_decref(&o->v[i]);
    o->n = 0;
}

mc_status mc_avro_out_write(outvals *o, avro_value_t *extra, unsigned char **body, size_t *len)
{
    size_t total = 0, sz;
    for (int i = 0; i <= o->n; i++) {
        avro_value_t *v = i < o->n ? &o->v[i] : extra;
        if (!v) continue;
        if (avro_value_sizeof(v, &sz))
            return mc_error_set(MC_ERR_FORMAT, "avro ipc: cannot size value: %s", avro_strerror());
        total += sz;
    }
    if (total > 0x7fffffffu) return mc_error_set(MC_ERR_INVALID_ARG, "avro ipc: message of %zu bytes is too large", total);
    unsigned char *b = malloc(total + 8);
    if (!b) return mc_error_set(MC_ERR_NOMEM, "avro ipc: out of memory for a %zu-byte message", total);
    avro_writer_t w = avro_writer_memory((const char *)b + 4, (int64_t)total);
    mc_status st = MC_OK;
    if (!w) st = mc_error_set(MC_ERR_NOMEM, "avro ipc: out of memory");
    for (int i = 0; i <= o->n && !st; i++) {
        avro_value_t *v = i < o->n ? &o->v[i] : extra;
        if (v && avro_value_write(w, v))
            st = mc_error_set(MC_ERR_FORMAT, "avro ipc: cannot encode value: %s", avro_strerror());
    }
    if (w) avro_writer_free(w);
    if (st) {
        free(b);
        return st;
    }
    b[0] = (unsigned char)(total >> 24);
    b[1] = (unsigned char)(total >> 16);
    b[2] = (unsigned char)(total >> 8);
    b[3] = (unsigned char)total;
    memset(b + 4 + total, 0, 4);
    *body = b;
    *len = total + 8;
    return MC_OK;
}

int mc_avro_out_new(avro_value_iface_t *cls, outvals *o, avro_value_t **v)
{
    if (o->n >= (int)(sizeof o->v / sizeof o->v[0])) return -1;
    if (avro_generic_value_new(cls, &o->v[o->n])) return -1;
    *v = &o->v[o->n++];
    return 0;
}

int mc_avro_set_str(avro_value_t *v, const char *s) { return avro_value_set_string_len(v, s, strlen(s) + 1); }

int mc_avro_set_meta(avro_value_t *map, const mc_ipc_meta *m)
{
    for (int i = 0; m && i < m->n; i++) {
        avro_value_t child;
        if (avro_value_add(map, m->key[i], &child, NULL, NULL) ||
            avro_value_set_bytes(&child, (void *)m->val[i], strlen(m->val[i])))
            return -1;
    }
    return 0;
}

/* ---- client ---- */

static int mc_avro_set_hreq_ipc(mc_ipc *ipc, int send_protocol, avro_value_t *hv)
{
    return mc_avro_set_hreq(hv, ipc->hash, protocol_text, send_protocol);
}

int mc_avro_set_hreq(avro_value_t *hv, const unsigned char hash[16], const char *text, int send_protocol)
{
    avro_value_t field, br;
    return avro_value_get_by_name(hv, "clientHash", &field, NULL) || avro_value_set_fixed(&field, (void *)hash, 16) ||
           avro_value_get_by_name(hv, "clientProtocol", &field, NULL) ||
           avro_value_set_branch(&field, send_protocol ? 1 : 0, &br) ||
           (send_protocol ? mc_avro_set_str(&br, text) : avro_value_set_null(&br)) ||
           avro_value_get_by_name(hv, "serverHash", &field, NULL) || avro_value_set_fixed(&field, (void *)hash, 16) ||
           avro_value_get_by_name(hv, "meta", &field, NULL) || avro_value_set_branch(&field, 0, &br) ||
           avro_value_set_null(&br);
}

mc_status mc_ipc_request_encode(mc_ipc *ipc, int send_protocol, const mc_ipc_forward *f, unsigned char **body,
                                size_t *len)
{
    outvals o = {.n = 0};
    avro_value_t *hv, *mv, *nv, *pv, field;
    mc_status st = MC_OK;
    avro_wrapped_buffer_t wb;
    if (mc_avro_out_new(ipc->a.cls[S_HREQ], &o, &hv) || mc_avro_set_hreq_ipc(ipc, send_protocol, hv) ||
        mc_avro_out_new(ipc->a.cls[S_META], &o, &mv) || mc_avro_set_meta(mv, &f->meta) ||
        mc_avro_out_new(ipc->a.cls_string, &o, &nv) || mc_avro_set_str(nv, "forward") || mc_avro_out_new(ipc->params_cls, &o, &pv) ||
        avro_value_get_by_name(pv, "input", &field, NULL) ||
        avro_wrapped_buffer_new(&wb, f->input_len ? (const void *)f->input : (const void *)"", f->input_len) ||
        avro_value_give_bytes(&field, &wb) || avro_value_get_by_name(pv, "next", &field, NULL) ||
        mc_avro_set_str(&field, f->next) || avro_value_get_by_name(pv, "tag", &field, NULL) || mc_avro_set_str(&field, f->tag))
        st = mc_error_set(MC_ERR_FORMAT, "avro ipc: cannot build forward request: %s", avro_strerror());
    if (!st) st = mc_avro_out_write(&o, NULL, body, len);
    mc_avro_out_free(&o);
    return st;
}

mc_status mc_ipc_request_rehandshake(mc_ipc *ipc, int send_protocol, const unsigned char *body, size_t len,
                                     unsigned char **out, size_t *out_len)
{
    const unsigned char *msg;
    size_t n, old = 0, hs = 0;
    unsigned char *copy = NULL;
    mc_status st = mc_ipc_unframe(body, len, &msg, &n, &copy);
    if (st) return st;
    outvals o = {.n = 0};
    avro_value_t *hv, oldv;
    int have_old = 0;
    avro_reader_t r = avro_reader_memory((const char *)msg, (int64_t)n);
    if (!r || avro_generic_value_new(ipc->a.cls[S_HREQ], &oldv) || !(have_old = 1) || avro_value_read(r, &oldv) ||
        avro_value_sizeof(&oldv, &old) || old > n || mc_avro_out_new(ipc->a.cls[S_HREQ], &o, &hv) ||
        mc_avro_set_hreq_ipc(ipc, send_protocol, hv) || avro_value_sizeof(hv, &hs)) {
        st = mc_error_set(MC_ERR_FORMAT, "avro ipc: cannot re-handshake a request: %s", avro_strerror());
        goto out;
    }
    unsigned char *b = malloc(hs + (n - old) + 8);
    if (!b) {
        st = mc_error_set(MC_ERR_NOMEM, "avro ipc: out of memory for a %zu-byte request", n);
        goto out;
    }
    avro_writer_t w = avro_writer_memory((const char *)b + 4, (int64_t)hs);
    if (!w || avro_value_write(w, hv)) {
        if (w) avro_writer_free(w);
        free(b);
        st = mc_error_set(MC_ERR_FORMAT, "avro ipc: cannot encode a handshake: %s", avro_strerror());
        goto out;
    }
    avro_writer_free(w);
    memcpy(b + 4 + hs, msg + old, n - old);
    size_t total = hs + (n - old);
    b[0] = (unsigned char)(total >> 24);
    b[1] = (unsigned char)(total >> 16);
    b[2] = (unsigned char)(total >> 8);
    b[3] = (unsigned char)total;
    memset(b + 4 + total, 0, 4);
    *out = b;
    *out_len = total + 8;
out:
    if (have_old) avro_value_decref(&oldv);
    mc_avro_out_free(&o);
    if (r) avro_reader_free(r);
    free(copy);
    return st;
}


mc_status mc_ipc_response_decode(mc_ipc *ipc, const unsigned char *body, size_t len, mc_ipc_match *match)
{
    return mc_ipc_response_decode_meta(ipc, body, len, match, NULL);
}

mc_status mc_ipc_response_decode_meta(mc_ipc *ipc, const unsigned char *body, size_t len, mc_ipc_match *match,
                                      mc_ipc_meta *meta)
{
    if (meta) meta->n = 0;
    const unsigned char *msg;
    size_t n;
    unsigned char *copy = NULL;
    mc_status st = mc_ipc_unframe(body, len, &msg, &n, &copy);
    if (st) return st;
    mc_avro_decode_begin(n);
    avro_reader_t r = avro_reader_memory((const char *)msg, (int64_t)n);
    avro_value_t hv, mv, bv, ev, field;
    int have_h = 0, have_m = 0, have_b = 0, have_e = 0;
    if (!r) {
        mc_avro_decode_end();
        free(copy);
        return mc_error_set(MC_ERR_NOMEM, "avro ipc: out of memory");
    }
    int e;
    if (avro_generic_value_new(ipc->a.cls[S_HRESP], &hv) || !(have_h = 1) || avro_value_read(r, &hv)) {
        st = mc_error_set(MC_ERR_FORMAT, "avro ipc: malformed handshake response: %s", avro_strerror());
        goto out;
    }
    if (avro_value_get_by_name(&hv, "match", &field, NULL) || avro_value_get_enum(&field, &e) || e < 0 || e > 2) {
        st = mc_error_set(MC_ERR_FORMAT, "avro ipc: handshake response without a valid match");
        goto out;
    }
    *match = (mc_ipc_match)e;
    if (*match == MC_IPC_NONE) goto out;
    int flag = 0;
    if (avro_generic_value_new(ipc->a.cls[S_META], &mv) || !(have_m = 1) || avro_value_read(r, &mv) ||
        avro_generic_value_new(ipc->a.cls_boolean, &bv) || !(have_b = 1) || avro_value_read(r, &bv) ||
        avro_value_get_boolean(&bv, &flag)) {
        st = mc_error_set(MC_ERR_FORMAT, "avro ipc: malformed call response: %s", avro_strerror());
        goto out;
    }
    if (meta) mc_avro_read_meta(&mv, meta);
    if (flag) {
        const char *s = NULL;
        size_t sl = 0;
        avro_value_t br;
        if (avro_generic_value_new(ipc->a.cls[S_ERRORS], &ev) || !(have_e = 1) || avro_value_read(r, &ev) ||
            avro_value_get_current_branch(&ev, &br) || avro_value_get_string(&br, &s, &sl)) {
            st = mc_error_set(MC_ERR_FORMAT, "avro ipc: malformed error response: %s", avro_strerror());
            goto out;
        }
        st = mc_error_set(MC_ERR_NETWORK, "remote error: %.*s", (int)(sl ? sl - 1 : 0), s ? s : "");
    }
out:
    if (have_h) avro_value_decref(&hv);
    if (have_m) avro_value_decref(&mv);
    if (have_b) avro_value_decref(&bv);
    if (have_e) avro_value_decref(&ev);
    avro_reader_free(r);
    mc_avro_decode_end();
    free(copy);
    return st;
}

/* ---- server ---- */

/* Checks a client's protocol text: its forward message must have our request
 * and response schemas (we read its parameters with ours). */
static int protocol_compatible(const char *text, char *why, size_t n)
{
    cJSON *p = cJSON_Parse(text);
    int ok = 0;
    const cJSON *fw = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(p, "messages"), "forward");
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(fw, "request");
    const cJSON *resp = cJSON_GetObjectItemCaseSensitive(fw, "response");
    static const char *const names[3] = {"input", "next", "tag"}, *const types[3] = {"bytes", "string", "string"};
    if (!p) {
        snprintf(why, n, "client protocol is not JSON");
    } else if (!fw) {
        snprintf(why, n, "client protocol has no message 'forward'");
    } else if (!cJSON_IsArray(req) || cJSON_GetArraySize(req) != 3) {
        snprintf(why, n, "client's forward must have 3 parameters (input: bytes, next: string, tag: string)");
    } else {
        ok = 1;
        for (int i = 0; i < 3 && ok; i++) {
            const cJSON *f = cJSON_GetArrayItem(req, i);
            const cJSON *nm = cJSON_GetObjectItemCaseSensitive(f, "name");
            const cJSON *ty = cJSON_GetObjectItemCaseSensitive(f, "type");
            if (cJSON_IsObject(ty)) ty = cJSON_GetObjectItemCaseSensitive(ty, "type");
            if (!cJSON_IsString(nm) || strcmp(nm->valuestring, names[i]) || !cJSON_IsString(ty) ||
                strcmp(ty->valuestring, types[i])) {
                snprintf(why, n, "client's forward parameter %d is not %s: %s", i + 1, names[i], types[i]);
                ok = 0;
            }
        }
        const cJSON *rt = cJSON_IsObject(resp) ? cJSON_GetObjectItemCaseSensitive(resp, "type") : resp;
        if (ok && (!cJSON_IsString(rt) || strcmp(rt->valuestring, "null"))) {
            snprintf(why, n, "client's forward response is not null");
            ok = 0;
        }
    }
    cJSON_Delete(p);
    return ok;
}

/* Looks up / records a client hash. Returns 1 known-ok, 0 unknown, -1 known-bad (why set). */
static int client_state(mc_ipc *ipc, const unsigned char *hash, const char *proto, char *why, size_t n)
{
    if (!memcmp(hash, ipc->hash, 16)) return 1;
    int res = 0;
    pthread_mutex_lock(&ipc->lock);
    for (int i = 0; i < KNOWN_MAX; i++)
        if (ipc->known[i].used && !memcmp(ipc->known[i].hash, hash, 16)) {
            res = ipc->known[i].ok ? 1 : -1;
            snprintf(why, n, "%s", ipc->known[i].why);
            break;
        }
    if (!res && proto) {
        known_client *k = &ipc->known[ipc->known_next];
        ipc->known_next = (ipc->known_next + 1) % KNOWN_MAX;
        memset(k, 0, sizeof *k);
        memcpy(k->hash, hash, 16);
        k->used = 1;
        k->ok = protocol_compatible(proto, k->why, sizeof k->why);
        res = k->ok ? 1 : -1;
        snprintf(why, n, "%s", k->why);
    }
    pthread_mutex_unlock(&ipc->lock);
    return res;
}

static int plain(const char *text, unsigned char **resp, size_t *len, int code)
{
    size_t n = strlen(text);
    *resp = malloc(n + 1);
    if (*resp) memcpy(*resp, text, n + 1);
    *len = *resp ? n : 0;
    return code;
}

mc_status mc_avro_write_response(const mc_avro_ipc *a, const char *text, const unsigned char hash[16],
                                 mc_ipc_match match, int call, const char *err, const mc_ipc_meta *rmeta,
                                 avro_value_t *result, unsigned char **resp, size_t *len)
{
    outvals o = {.n = 0};
    avro_value_t *hv, *mv, *bv, *ev, field, br;
    int bad = mc_avro_out_new(a->cls[S_HRESP], &o, &hv) || avro_value_get_by_name(hv, "match", &field, NULL) ||
              avro_value_set_enum(&field, (int)match) || avro_value_get_by_name(hv, "serverProtocol", &field, NULL) ||
              avro_value_set_branch(&field, match == MC_IPC_BOTH ? 0 : 1, &br) ||
              (match == MC_IPC_BOTH ? avro_value_set_null(&br) : mc_avro_set_str(&br, text)) ||
              avro_value_get_by_name(hv, "serverHash", &field, NULL) ||
              avro_value_set_branch(&field, match == MC_IPC_BOTH ? 0 : 1, &br) ||
              (match == MC_IPC_BOTH ? avro_value_set_null(&br) : avro_value_set_fixed(&br, (void *)hash, 16)) ||
              avro_value_get_by_name(hv, "meta", &field, NULL) || avro_value_set_branch(&field, 0, &br) ||
              avro_value_set_null(&br);
    if (!bad && call) {
        bad = mc_avro_out_new(a->cls[S_META], &o, &mv) || mc_avro_set_meta(mv, rmeta) || mc_avro_out_new(a->cls_boolean, &o, &bv) ||
              avro_value_set_boolean(bv, err != NULL);
        if (!bad && err)
            bad = mc_avro_out_new(a->cls[S_ERRORS], &o, &ev) || avro_value_set_branch(ev, 0, &br) || mc_avro_set_str(&br, err);
    }
    mc_status st = bad ? mc_error_set(MC_ERR_FORMAT, "avro ipc: cannot build response: %s", avro_strerror())
                       : mc_avro_out_write(&o, call && !err ? result : NULL, resp, len);
    mc_avro_out_free(&o);
    return st;
}

void mc_avro_read_meta(avro_value_t *mv, mc_ipc_meta *m)
{
    size_t n = 0;
    m->n = 0;
    if (avro_value_get_size(mv, &n)) return;
    for (size_t i = 0; i < n; i++) {
        avro_value_t child;
        const char *key = NULL;
        const void *b = NULL;
        size_t bl = 0;
        if (avro_value_get_by_index(mv, i, &child, &key) || avro_value_get_bytes(&child, &b, &bl) || !key) continue;
        if (bl >= MC_IPC_VAL_MAX || strlen(key) >= MC_IPC_KEY_MAX || m->n >= MC_IPC_META_MAX) continue;
        char val[MC_IPC_VAL_MAX];
        memcpy(val, b, bl);
        val[bl] = '\0';
        mc_ipc_meta_set(m, key, val);
    }
}

static int copy_str(avro_value_t *rec, const char *name, char *dst, size_t cap, char *err, size_t en)
{
    avro_value_t f;
    const char *s = NULL;
    size_t sl = 0;
    if (avro_value_get_by_name(rec, name, &f, NULL) || avro_value_get_string(&f, &s, &sl)) {
        snprintf(err, en, "forward parameter '%s' is missing", name);
        return -1;
    }
    size_t l = sl ? sl - 1 : 0;
    if (l >= cap) {
        snprintf(err, en, "forward parameter '%s' is %zu bytes, the limit is %zu", name, l, cap - 1);
        return -1;
    }
    memcpy(dst, s, l);
    dst[l] = '\0';
    return 0;
}

int mc_ipc_serve(mc_ipc *ipc, const unsigned char *body, size_t len, mc_ipc_handler h, void *ctx,
                 unsigned char **resp, size_t *resp_len)
{
    const unsigned char *msg;
    size_t n;
    unsigned char *copy = NULL;
    char text[512];
    *resp = NULL;
    *resp_len = 0;
    if (mc_ipc_unframe(body, len, &msg, &n, &copy)) {
        snprintf(text, sizeof text, "bad request: %s\n", mc_error_last());
        return plain(text, resp, resp_len, 400);
    }
    mc_avro_decode_begin(n);
    avro_reader_t r = avro_reader_memory((const char *)msg, (int64_t)n);
    avro_value_t hv, mv, nv, *pv = NULL, field, br;
    int have_h = 0, have_m = 0, have_n = 0, code = 200;
    size_t used = 0, sz;
    char err[400] = "";
    const char *errp = NULL;
    mc_ipc_match match = MC_IPC_NONE;
    mc_ipc_meta rmeta;
    rmeta.n = 0;
    if (!r || avro_generic_value_new(ipc->a.cls[S_HREQ], &hv) || !(have_h = 1) || avro_value_read(r, &hv)) {
        snprintf(text, sizeof text, "bad request: body is not an Avro IPC handshake request: %s\n", avro_strerror());
        code = plain(text, resp, resp_len, 400);
        goto out;
    }
    if (!avro_value_sizeof(&hv, &sz)) used += sz;
    const void *ch = NULL, *sh = NULL;
    size_t chl = 0, shl = 0;
    const char *proto = NULL;
    size_t pl = 0;
    int disc = 0;
    if (avro_value_get_by_name(&hv, "clientHash", &field, NULL) || avro_value_get_fixed(&field, &ch, &chl) ||
        avro_value_get_by_name(&hv, "serverHash", &field, NULL) || avro_value_get_fixed(&field, &sh, &shl) ||
        avro_value_get_by_name(&hv, "clientProtocol", &field, NULL) || avro_value_get_discriminant(&field, &disc) ||
        chl != 16 || shl != 16) {
        code = plain("bad request: handshake without hashes\n", resp, resp_len, 400);
        goto out;
    }
    if (disc == 1 && !avro_value_get_current_branch(&field, &br)) avro_value_get_string(&br, &proto, &pl);
    char why[200] = "";
    int cs = client_state(ipc, ch, proto, why, sizeof why);
    int server_ok = !memcmp(sh, ipc->hash, 16);
    match = cs == 0 ? MC_IPC_NONE : server_ok ? MC_IPC_BOTH : MC_IPC_CLIENT;
    if (match == MC_IPC_NONE) goto respond;
    if (cs < 0) {
        snprintf(err, sizeof err, "incompatible client protocol: %s", why);
        errp = err;
        goto respond;
    }
    /* call: metadata, message name, parameters */
    const char *name = NULL;
    size_t nl = 0;
    if (avro_generic_value_new(ipc->a.cls[S_META], &mv) || !(have_m = 1) || avro_value_read(r, &mv) ||
        avro_generic_value_new(ipc->a.cls_string, &nv) || !(have_n = 1) || avro_value_read(r, &nv) ||
        avro_value_get_string(&nv, &name, &nl)) {
        snprintf(err, sizeof err, "malformed call request (metadata, message name): %s", avro_strerror());
        errp = err;
        goto respond;
    }
    size_t entries = 0;
    if (!avro_value_get_size(&mv, &entries) && entries > MC_IPC_META_LIMIT) {
        snprintf(err, sizeof err, "call metadata has %zu entries (at most %d)", entries, MC_IPC_META_LIMIT);
        errp = err;
        goto respond;
    }
    if (!avro_value_sizeof(&mv, &sz)) used += sz;
    if (!avro_value_sizeof(&nv, &sz)) used += sz;
    if (nl <= 1) goto respond; /* empty message name: a ping */
    if (strcmp(name, "forward")) {
        snprintf(err, sizeof err, "unknown message '%.100s' (this protocol has only forward)", name);
        errp = err;
        goto respond;
    }
    pv = malloc(sizeof *pv);
    if (!pv || avro_generic_value_new(ipc->params_cls, pv)) {
        free(pv);
        pv = NULL;
        snprintf(err, sizeof err, "out of memory");
        errp = err;
        goto respond;
    }
    if (avro_value_read(r, pv)) {
        snprintf(err, sizeof err,
                 "forward parameters do not decode as (input: bytes, next: string, tag: string): %s", avro_strerror());
        errp = err;
        goto respond;
    }
    decode_cap = 0;
    size_t params_at = used;
    if (!avro_value_sizeof(pv, &sz)) used += sz;
    if (used < n) {
        snprintf(err, sizeof err, "%zu bytes left after the forward parameters (wrong schema?)", n - used);
        errp = err;
        goto respond;
    }
    {
        mc_ipc_forward f;
        memset(&f, 0, sizeof f);
        const void *b = NULL;
        size_t bl = 0;
        if (avro_value_get_by_name(pv, "input", &field, NULL) || avro_value_get_bytes(&field, &b, &bl) ||
            copy_str(pv, "next", f.next, sizeof f.next, err, sizeof err) ||
            copy_str(pv, "tag", f.tag, sizeof f.tag, err, sizeof err)) {
            if (!*err) snprintf(err, sizeof err, "forward parameter 'input' is missing");
            errp = err;
            goto respond;
        }
        mc_avro_read_meta(&mv, &f.meta);
        f.input = b;
        f.input_len = bl;
        f.owner_ = pv; /* the handler may keep it (then sets owner_ NULL) */
        pv = NULL;
        /* The input's bytes also lie in the message itself, after the length
         * (the first parameter): point there and release Avro's copy now, so
         * a large input is held twice (body, the handler's copy), not three
         * times.  The position is checked against the decoded value. */
        avro_value_t nf, tf, *ov = f.owner_;
        size_t ps = 0, ns = 0, ts = 0;
        if (bl >= 4096 && !avro_value_sizeof(ov, &ps) && !avro_value_get_by_name(ov, "next", &nf, NULL) &&
            !avro_value_sizeof(&nf, &ns) && !avro_value_get_by_name(ov, "tag", &tf, NULL) && !avro_value_sizeof(&tf, &ts) &&
            ps >= bl + ns + ts && ps - bl - ns - ts <= 10) {
            const unsigned char *in_msg = msg + params_at + (ps - bl - ns - ts);
            if (in_msg + bl <= msg + n && !memcmp(in_msg, b, bl)) {
                mc_ipc_forward_release(&f);
                f.input = in_msg;
                f.input_len = bl;
            }
        }
        mc_error_clear();
        mc_status st = h(ctx, &f);
        if (st) {
            snprintf(err, sizeof err, "%s", mc_error_last());
            errp = err;
        }
        rmeta = f.reply;
        mc_ipc_forward_release(&f);
    }
respond:
    decode_cap = 0;
    if (mc_avro_write_response(&ipc->a, protocol_text, ipc->hash, match, match != MC_IPC_NONE, errp, &rmeta, NULL,
                               resp, resp_len)) {
        snprintf(text, sizeof text, "server error: %s\n", mc_error_last());
        code = plain(text, resp, resp_len, 500);
    }
out:
    decode_cap = 0;
    if (pv) {
        avro_value_decref(pv);
        free(pv);
    }
    if (have_h) avro_value_decref(&hv);
    if (have_m) avro_value_decref(&mv);
    if (have_n) avro_value_decref(&nv);
    if (r) avro_reader_free(r);
    mc_avro_decode_end();
    free(copy);
    return code;
}
