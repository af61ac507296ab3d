
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * guard_status: one location serves the pool report in every format.
 * This file takes the request apart (method, format by ?format= or by
 * Accept, filters), builds the snapshot and hands it to a renderer.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_guard.h"
#include "ngx_http_guard_status.h"


#define NGX_HTTP_GUARD_REFRESH  5


/*
 * The first fields of other modules' private srv confs, read (never
 * written) to name the balancer.  The hash module's gained "config" with
 * re-resolvable servers (1.27.3); sticky (1.29.6) starts with the
 * init_upstream it wraps.
 */

typedef struct {
    ngx_http_complex_value_t   key;
#if (nginx_version >= 1027003 && NGX_HTTP_UPSTREAM_ZONE)
    ngx_uint_t                 config;
#endif
    void                      *points;
} ngx_http_guard_hash_conf_t;


typedef struct {
    ngx_http_upstream_init_pt  original_init_upstream;
} ngx_http_guard_sticky_conf_t;


#if (nginx_version >= 1031000)
#define NGX_HTTP_GUARD_LEAST  "least_conn or least_time"
#else
#define NGX_HTTP_GUARD_LEAST  "least_conn"
#endif


static ngx_int_t ngx_http_guard_status_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_guard_status_format(ngx_http_request_t *r,
    ngx_http_guard_loc_conf_t *glcf, ngx_uint_t *format);
static void ngx_http_guard_status_accept(ngx_str_t *value,
    ngx_uint_t *format);
static ngx_int_t ngx_http_guard_status_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *fmt, ngx_str_t *arg);
static ngx_int_t ngx_http_guard_snap_upstream(ngx_http_request_t *r,
    ngx_http_guard_snap_t *snap, ngx_http_guard_upstream_t *up,
    ngx_slab_pool_t *shpool, ngx_http_guard_snap_upstream_t *su,
    ngx_http_guard_snap_filter_t *filter);
static void *ngx_http_guard_snap_alloc(ngx_http_request_t *r,
    ngx_http_guard_snap_t *snap, size_t size);
static ngx_int_t ngx_http_guard_snap_server(ngx_pool_t *pool,
    ngx_http_guard_peer_t *gp, ngx_http_guard_snap_server_t *ss,
    uint64_t now);
static ngx_int_t ngx_http_guard_state_filter(ngx_str_t *state,
    ngx_http_guard_snap_filter_t *filter);
static ngx_int_t ngx_http_guard_name_index(const char **names, ngx_uint_t n,
    ngx_str_t *name);
static void *ngx_http_guard_module_srv_conf(ngx_http_upstream_srv_conf_t *us,
    const char *name);
static ngx_uint_t ngx_http_guard_state_id(ngx_http_guard_peer_t *gp,
    ngx_http_guard_sh_server_t *s, ngx_uint_t permille);
static int ngx_libc_cdecl ngx_http_guard_cmp_upstreams(const void *one,
    const void *two);
static ngx_int_t ngx_http_guard_status_flush(ngx_http_guard_out_t *out);
static ngx_int_t ngx_http_guard_status_last(ngx_http_request_t *r,
    ngx_http_guard_out_t *out);
static ngx_int_t ngx_http_guard_status_header(ngx_http_request_t *r,
    ngx_uint_t status, u_char *type, off_t length);


const char  *ngx_http_guard_state_names[NGX_HTTP_GUARD_STATES] = {
    "maintenance", "config-down", "drained", "draining", "down",
    "checking", "slow-start", "up", "standby", "untracked"
};

static const char  *ngx_http_guard_health_names[] = {
    "checking", "up", "down", "untracked"
};

static const char  *ngx_http_guard_admin_names[] = {
    "active", "draining", "drained", "maintenance"
};

static const char  *ngx_http_guard_role_names[] = {
    "primary", "backup", "standby"
};

static const char  *ngx_http_guard_pool_names[] = {
    "ok", "degraded", "critical", "panic"
};


static ngx_conf_enum_t  ngx_http_guard_formats[] = {
    { ngx_string("json"), NGX_HTTP_GUARD_FORMAT_JSON },
    { ngx_string("html"), NGX_HTTP_GUARD_FORMAT_HTML },
    { ngx_string("prometheus"), NGX_HTTP_GUARD_FORMAT_PROM },
    { ngx_null_string, 0 }
};


char *
ngx_http_guard_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_guard_loc_conf_t *glcf = conf;

    ngx_str_t                 *value;
    ngx_uint_t                 i, n;
    ngx_http_core_loc_conf_t  *clcf;

    if (glcf->status != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    glcf->status = NGX_HTTP_GUARD_FORMAT_JSON;
    value = cf->args->elts;

    for (n = 1; n < cf->args->nelts; n++) {

        if (ngx_strcmp(value[n].data, "detail=on") == 0
            || ngx_strcmp(value[n].data, "detail=off") == 0)
        {
            glcf->status_detail = (value[n].data[8] == 'n');
            continue;
        }

        for (i = 0; ngx_http_guard_formats[i].name.len; i++) {
            if (n == 1
                && ngx_http_guard_formats[i].name.len == value[n].len
                && ngx_strncmp(ngx_http_guard_formats[i].name.data,
                               value[n].data, value[n].len)
                   == 0)
            {
                glcf->status = ngx_http_guard_formats[i].value;
                break;
            }
        }

        if (ngx_http_guard_formats[i].name.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid guard_status parameter \"%V\", "
                               "expected json, html or prometheus, then "
                               "detail=on or detail=off", &value[n]);
            return NGX_CONF_ERROR;
        }
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_guard_status_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_guard_status_handler(ngx_http_request_t *r)
{
    u_char                     *p, *dst, *src;
    ngx_int_t                   rc, n;
    ngx_str_t                   upstream, state, refresh;
    const char                 *type;
    ngx_uint_t                  format;
    ngx_http_guard_out_t        out;
    ngx_http_guard_snap_t          snap;
    ngx_http_guard_loc_conf_t     *glcf;
    ngx_http_guard_main_conf_t    *gmcf;
    ngx_http_guard_snap_filter_t   filter;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_guard_status_not_allowed(r);
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_upstream_guard_module);

    if (ngx_http_guard_status_format(r, glcf, &format) != NGX_OK) {
        return ngx_http_guard_status_error(r, NGX_HTTP_BAD_REQUEST,
                                           "unknown format, expected json, "
                                           "html or prometheus", NULL);
    }

    ngx_http_guard_out_init(&out, r->pool);

    if (format == NGX_HTTP_GUARD_FORMAT_CSS) {
        if (ngx_http_guard_status_css(&out) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_guard_status_send(r, &out, NGX_HTTP_OK,
                                          "text/css; charset=utf-8");
    }

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_upstream_guard_module);

    if (ngx_http_guard_out_use_cache(&out, &gmcf->status_cache) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_null(&upstream);
    ngx_str_null(&state);

    if (ngx_http_arg(r, (u_char *) "upstream", 8, &upstream) == NGX_OK) {
        /* names may come percent-encoded */
        dst = ngx_pnalloc(r->pool, upstream.len);
        if (dst == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = dst;
        src = upstream.data;
        ngx_unescape_uri(&p, &src, upstream.len, 0);

        upstream.data = dst;
        upstream.len = p - dst;
    }

    if (ngx_http_arg(r, (u_char *) "state", 5, &state) == NGX_OK
        && ngx_http_guard_state_filter(&state, &filter) != NGX_OK)
    {
        return ngx_http_guard_status_error(r, NGX_HTTP_BAD_REQUEST,
                                           "unknown state \"%V\", expected "
                                           "a health, admin or summary state",
                                           &state);
    }

    ngx_memzero(&snap, sizeof(ngx_http_guard_snap_t));

    snap.refresh = NGX_HTTP_GUARD_REFRESH;
    snap.args = r->args;
    snap.mem = &out;

    if (ngx_http_arg(r, (u_char *) "refresh", 7, &refresh) == NGX_OK) {
        n = ngx_atoi(refresh.data, refresh.len);

        if (n == NGX_ERROR || n > 3600) {
            return ngx_http_guard_status_error(r, NGX_HTTP_BAD_REQUEST,
                                               "invalid refresh \"%V\", "
                                               "expected 0 to 3600 seconds",
                                               &refresh);
        }

        snap.refresh = n;
    }

    snap.detail = glcf->status_detail;

    if (ngx_http_arg(r, (u_char *) "detail", 6, &refresh) == NGX_OK) {
        if (refresh.len != 1 || (refresh.data[0] != '0'
                                 && refresh.data[0] != '1'))
        {
            return ngx_http_guard_status_error(r, NGX_HTTP_BAD_REQUEST,
                                               "invalid detail \"%V\", "
                                               "expected 0 or 1", &refresh);
        }

        snap.detail = (refresh.data[0] == '1');
    }

    if (ngx_http_guard_status_snapshot(r, &snap, &upstream, &state,
                                       format == NGX_HTTP_GUARD_FORMAT_HTML)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (upstream.len && !snap.found) {
        return ngx_http_guard_status_error(r, NGX_HTTP_NOT_FOUND,
                                           "no checked upstream \"%V\"",
                                           &upstream);
    }

    switch (format) {

    case NGX_HTTP_GUARD_FORMAT_HTML:
        type = "text/html; charset=utf-8";
        break;

    case NGX_HTTP_GUARD_FORMAT_PROM:
        type = "text/plain; version=0.0.4; charset=utf-8";
        break;

    default: /* NGX_HTTP_GUARD_FORMAT_JSON */
        type = "application/json";
        break;
    }

    /*
     * A big report goes out a buffer at a time as it is written (not for
     * HEAD, which gets the length): the client reads while the worker
     * writes, and the worker never holds megabytes unsent.
     */

    if (r->method != NGX_HTTP_HEAD) {
        r->headers_out.content_type.data = (u_char *) type;
        out.flush = ngx_http_guard_status_flush;
        out.data = r;
    }

    switch (format) {

    case NGX_HTTP_GUARD_FORMAT_HTML:
        rc = ngx_http_guard_status_html(&snap, &out);
        break;

    case NGX_HTTP_GUARD_FORMAT_PROM:
        rc = ngx_http_guard_status_prom(&snap, &out);
        break;

    default: /* NGX_HTTP_GUARD_FORMAT_JSON */
        rc = ngx_http_guard_status_json(&snap, &out);
        break;
    }

    if (rc != NGX_OK) {
        /* a report already on its way can only be cut short */
        return out.flushed ? NGX_ERROR : NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (out.flushed) {
        return ngx_http_guard_status_last(r, &out);
    }

    return ngx_http_guard_status_send(r, &out, NGX_HTTP_OK, type);
}


/*
 * A full buffer of a big report: the header first (no length is known
 * yet: chunked, or to the end of the connection), then the chain so far.
 * The buffers stay the request's until its pool goes (out.c).
 */

static ngx_int_t
ngx_http_guard_status_flush(ngx_http_guard_out_t *out)
{
    ngx_int_t            rc;
    ngx_http_request_t  *r;

    r = out->data;

    if (!out->flushed) {
        rc = ngx_http_guard_status_header(r, NGX_HTTP_OK, r->headers_out
                                                           .content_type
                                                           .data, -1);
        if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
            return NGX_ERROR;
        }
    }

    rc = ngx_http_output_filter(r, out->first);

    return (rc == NGX_ERROR) ? NGX_ERROR : NGX_OK;
}


/* the rest of a report sent as it was written, and its end */

static ngx_int_t
ngx_http_guard_status_last(ngx_http_request_t *r, ngx_http_guard_out_t *out)
{
    if (out->b == NULL) {
        return ngx_http_send_special(r, NGX_HTTP_LAST);
    }

    out->b->last_buf = (r == r->main) ? 1 : 0;
    out->b->last_in_chain = 1;

    return ngx_http_output_filter(r, out->first);
}


/*
 * Accept: the media range of ours with the highest q wins, the first
 * listed among equals; q=0 is "not acceptable"; wildcards and types we
 * do not serve leave the location's default.
 */

static void
ngx_http_guard_status_accept(ngx_str_t *value, ngx_uint_t *format)
{
    u_char      *p, *last, *type, *end, *q;
    ngx_int_t    best, qv, n, f;
    ngx_uint_t   i;

    static struct {
        const char  *type;
        size_t       len;
        ngx_uint_t   format;
    } types[] = {
        { "text/html", 9, NGX_HTTP_GUARD_FORMAT_HTML },
        { "application/openmetrics-text", 28, NGX_HTTP_GUARD_FORMAT_PROM },
        { "text/plain", 10, NGX_HTTP_GUARD_FORMAT_PROM },
        { "application/json", 16, NGX_HTTP_GUARD_FORMAT_JSON },
        { NULL, 0, 0 }
    };

    best = 0;
    p = value->data;
    last = p + value->len;

    while (p < last) {

        /* one element: type [; param]... up to a comma */

        while (p < last && (*p == ' ' || *p == '\t' || *p == ',')) {
            p++;
        }

        type = p;

        while (p < last && *p != ',' && *p != ';' && *p != ' '
               && *p != '\t')
        {
            p++;
        }

        end = p;
        qv = 1000;

        while (p < last && *p != ',') {
            if (*p != ';') {
                p++;
                continue;
            }

            p++;

            while (p < last && (*p == ' ' || *p == '\t')) {
                p++;
            }

            if (last - p < 2 || (p[0] != 'q' && p[0] != 'Q') || p[1] != '=') {
                continue;
            }

            /* q=0, 0.5, 1, 1.000: in thousandths */

            q = p + 2;
            qv = 0;
            n = 0;

            if (q < last && (*q == '0' || *q == '1')) {
                qv = (*q++ - '0') * 1000;

                if (q < last && *q == '.') {
                    for (q++, f = 100; q < last && f && *q >= '0' && *q <= '9';
                         q++, f /= 10)
                    {
                        n += (*q - '0') * f;
                    }
                }

                qv = ngx_min(qv + n, 1000);
            }

            p = q;
        }

        if (qv <= best) {
            continue;
        }

        for (i = 0; types[i].type; i++) {
            if ((size_t) (end - type) == types[i].len
                && ngx_strncasecmp(type, (u_char *) types[i].type,
                                   types[i].len)
                   == 0)
            {
                best = qv;
                *format = types[i].format;
                break;
            }
        }
    }
}


/*
 * ?format= wins; then Accept: a browser (text/html) gets HTML, a
 * Prometheus scraper (openmetrics or text/plain) the exposition format,
 * application/json JSON, by the client's preference; otherwise the
 * location's default.
 */

static ngx_int_t
ngx_http_guard_status_format(ngx_http_request_t *r,
    ngx_http_guard_loc_conf_t *glcf, ngx_uint_t *format)
{
    ngx_str_t         arg;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *accept;

    if (ngx_http_arg(r, (u_char *) "format", 6, &arg) == NGX_OK) {

        if (arg.len == 3 && ngx_strncmp(arg.data, "css", 3) == 0) {
            *format = NGX_HTTP_GUARD_FORMAT_CSS;
            return NGX_OK;
        }

        for (i = 0; ngx_http_guard_formats[i].name.len; i++) {
            if (ngx_http_guard_formats[i].name.len == arg.len
                && ngx_strncmp(ngx_http_guard_formats[i].name.data,
                               arg.data, arg.len)
                   == 0)
            {
                *format = ngx_http_guard_formats[i].value;
                return NGX_OK;
            }
        }

        return NGX_ERROR;
    }

    *format = glcf->status;

    /* r->headers_in.accept exists only in some builds: look it up */

    accept = NULL;
    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == 6
            && ngx_strncasecmp(h[i].key.data, (u_char *) "Accept", 6) == 0)
        {
            accept = &h[i];
            break;
        }
    }

    if (accept != NULL) {
        ngx_http_guard_status_accept(&accept->value, format);
    }

    return NGX_OK;
}


/* a bad request: 4xx with a JSON body that says why */

static ngx_int_t
ngx_http_guard_status_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *fmt, ngx_str_t *arg)
{
    u_char                msg[256], *p;
    ngx_http_guard_out_t  out;

    if (arg) {
        p = ngx_snprintf(msg, sizeof(msg), fmt, arg);

    } else {
        p = ngx_cpystrn(msg, (u_char *) fmt, sizeof(msg));
    }

    ngx_http_guard_out_init(&out, r->pool);

    if (ngx_http_guard_out_str(&out, "{\"error\":") != NGX_OK
        || ngx_http_guard_out_json(&out, msg, p - msg) != NGX_OK
        || ngx_http_guard_out_printf(&out, 32, ",\"status\":%ui}\n", status)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_guard_status_send(r, &out, status, "application/json");
}


/* a report is read only: 405 with Allow (RFC 9110) and a JSON body */

ngx_int_t
ngx_http_guard_status_not_allowed(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_guard_status_add_header(r, "Allow",
                                         (u_char *) "GET, HEAD", 9)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_guard_status_error(r, NGX_HTTP_NOT_ALLOWED,
                                       "%V is not allowed here, only GET "
                                       "and HEAD: a report changes nothing",
                                       &r->method_name);
}


/* what ?state= accepts: a summary state, a health, or an admin state */

static ngx_int_t
ngx_http_guard_state_filter(ngx_str_t *state,
    ngx_http_guard_snap_filter_t *filter)
{
    filter->on = 1;
    filter->st = ngx_http_guard_name_index(ngx_http_guard_state_names,
                                           NGX_HTTP_GUARD_STATES, state);
    filter->health = ngx_http_guard_name_index(ngx_http_guard_health_names,
                                               4, state);
    filter->admin = ngx_http_guard_name_index(ngx_http_guard_admin_names, 4,
                                              state);

    if (filter->st < 0 && filter->health < 0 && filter->admin < 0) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_guard_name_index(const char **names, ngx_uint_t n, ngx_str_t *name)
{
    ngx_uint_t  i;

    for (i = 0; i < n; i++) {
        if (ngx_strlen(names[i]) == name->len
            && ngx_strncmp(names[i], name->data, name->len) == 0)
        {
            return i;
        }
    }

    return -1;
}


ngx_int_t
ngx_http_guard_status_snapshot(ngx_http_request_t *r,
    ngx_http_guard_snap_t *snap, ngx_str_t *upstream, ngx_str_t *state,
    ngx_uint_t sorted)
{
    ngx_uint_t                       i, n;
    ngx_slab_pool_t                 *shpool;
    ngx_http_guard_sh_t             *sh;
    ngx_http_guard_upstream_t       *up;
    ngx_http_guard_main_conf_t      *gmcf;
    ngx_http_guard_snap_filter_t     filter;
    ngx_http_guard_snap_upstream_t  *su;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_upstream_guard_module);

    snap->now = ngx_http_guard_now_ms();

    ngx_memzero(&filter, sizeof(ngx_http_guard_snap_filter_t));

    if (state->len && ngx_http_guard_state_filter(state, &filter) != NGX_OK) {
        return NGX_ERROR;
    }

    if (gmcf->shm_zone == NULL) {
        return NGX_OK;
    }

    sh = ngx_http_guard_shm_root(gmcf, &shpool);

    ngx_shmtx_lock(&shpool->mutex);

    snap->leader_pid = sh->leader_pid;
    snap->check_io = sh->check_io;
    snap->check_grid = sh->check_grid;
    /* the first worker to take the lease is no takeover */
    snap->takeovers = sh->leader_changes ? sh->leader_changes - 1 : 0;
    /* this worker's configuration's: the zone's moves early in a reload */
    snap->generation = gmcf->generation;
    snap->frozen = sh->frozen;
    snap->audit_seq = sh->audit_seq;
    ngx_memcpy(snap->audit_head, sh->audit_head, sizeof(snap->audit_head));

    for (i = 0; i < NGX_HTTP_GUARD_REQUESTS; i++) {
        if (sh->requests[i].id
            && sh->requests[i].state == NGX_HTTP_GUARD_REQ_PENDING)
        {
            if (snap->requests == NULL) {
                snap->requests = ngx_palloc(r->pool, sizeof(sh->requests));
                if (snap->requests == NULL) {
                    ngx_shmtx_unlock(&shpool->mutex);
                    return NGX_ERROR;
                }
            }

            snap->requests[snap->nrequests++] = sh->requests[i];
        }
    }
    snap->started = sh->started;
    snap->zone_size = gmcf->shm_zone->shm.size;
    snap->zone_used = snap->zone_size - shpool->pfree * ngx_pagesize;

    ngx_shmtx_unlock(&shpool->mutex);

    up = gmcf->upstreams.elts;

    snap->upstreams = ngx_http_guard_snap_alloc(r, snap,
                          gmcf->upstreams.nelts
                          * sizeof(ngx_http_guard_snap_upstream_t));
    if (snap->upstreams == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(snap->upstreams, gmcf->upstreams.nelts
                                 * sizeof(ngx_http_guard_snap_upstream_t));

    n = 0;

    for (i = 0; i < gmcf->upstreams.nelts; i++) {

        if (up[i].sh == NULL) {
            continue;
        }

        if (upstream->len
            && (upstream->len != up[i].uscf->host.len
                || ngx_strncmp(upstream->data, up[i].uscf->host.data,
                               upstream->len)
                   != 0))
        {
            continue;
        }

        snap->found = 1;
        su = &snap->upstreams[n];

        if (ngx_http_guard_snap_upstream(r, snap, &up[i], shpool, su,
                                         &filter)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (filter.on && su->nservers == 0) {
            continue;
        }

        n++;
    }

    snap->nupstreams = n;

    if (sorted && n > 1) {
        ngx_qsort(snap->upstreams, n, sizeof(ngx_http_guard_snap_upstream_t),
                  ngx_http_guard_cmp_upstreams);
    }

    return NGX_OK;
}


/* failing services first, then the config order */

static int ngx_libc_cdecl
ngx_http_guard_cmp_upstreams(const void *one, const void *two)
{
    const ngx_http_guard_snap_upstream_t  *a = one;
    const ngx_http_guard_snap_upstream_t  *b = two;

    if (a->status_rank != b->status_rank) {
        return (a->status_rank > b->status_rank) ? -1 : 1;
    }

    return (a->up < b->up) ? -1 : (a->up > b->up);
}


static ngx_int_t
ngx_http_guard_snap_upstream(ngx_http_request_t *r,
    ngx_http_guard_snap_t *snap, ngx_http_guard_upstream_t *up,
    ngx_slab_pool_t *shpool, ngx_http_guard_snap_upstream_t *su,
    ngx_http_guard_snap_filter_t *filter)
{
    uint64_t                       now;
    ngx_int_t                      rc;
    ngx_uint_t                     i, j, n, backups, primaries, prim_in, in,
                                   any_in;
    ngx_http_guard_peer_t         *gp;
    ngx_http_guard_snap_server_t  *ss, *all;

    all = ngx_http_guard_snap_alloc(r, snap, up->npeers
                                       * sizeof(ngx_http_guard_snap_server_t));
    if (all == NULL) {
        return NGX_ERROR;
    }

    now = snap->now;

    /*
     * One upstream at a time, under the mutex: a check result landing
     * meanwhile must not make a row (or the upstream's totals) half old,
     * half new.  The request path's own predicates run on the slots
     * while no one can write them; only what the reports need is copied.
     */

    rc = NGX_OK;

    ngx_shmtx_lock(&shpool->mutex);

    /* show no state that the balancers do not keep yet */
    (void) ngx_http_guard_state_settle_locked(up);

    for (i = 0; i < up->npeers; i++) {
        if (ngx_http_guard_snap_server(r->pool, &up->peers[i], &all[i], now)
            != NGX_OK)
        {
            rc = NGX_ERROR;
            break;
        }
    }

    su->last_change = (up->sh->last_change != up->sh->added)
                      ? up->sh->last_change : 0;

    ngx_shmtx_unlock(&shpool->mutex);

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    su->up = up;
    su->name = &up->uscf->host;
    su->check = ngx_http_guard_check_type_name(up->conf->type);

    if (up->balancer == NULL) {
        /* what nginx lets us see does not change until a reload */
        up->balancer = ngx_http_guard_balancer(up->uscf);
    }

    su->balancer = up->balancer;
    su->floor = up->floor;
    su->total = up->npeers;

    backups = 0;
    primaries = 0;
    prim_in = 0;
    any_in = 0;
    n = 0;

    for (i = 0; i < up->npeers; i++) {
        gp = &up->peers[i];
        ss = &all[i];

        in = ss->in_rotation;
        any_in |= in;

        su->states[ss->st]++;

        if (!ss->tracked) {
            su->untracked++;

        } else if (ss->owner) {
            /* a slot's counters once, however many lines share it */
            su->checks += ss->checks;
            su->fails += ss->fails;
            su->downs += ss->downs;

            for (j = 0; j < NGX_HTTP_GUARD_REASONS; j++) {
                su->fails_by[j] += ss->fails_by[j];
            }

            if (ss->last_check
                && ss->admin_id != NGX_HTTP_GUARD_MAINTENANCE
                && (su->oldest_check == 0
                    || ss->last_check < su->oldest_check))
            {
                su->oldest_check = ss->last_check;
            }
        }

        if (ss->health_id == NGX_HTTP_GUARD_UP) {
            su->healthy++;
        }

        if (ss->admin_id == NGX_HTTP_GUARD_DRAINING
            || ngx_http_guard_cfg_drain(gp))
        {
            su->draining++;
        }

        switch (gp->role) {

        case NGX_HTTP_GUARD_PRIMARY:
            primaries++;
            prim_in += in;
            su->in_rotation += in;
            break;

        case NGX_HTTP_GUARD_STANDBY:
            su->standbys++;
            su->promoted += in;
            su->in_rotation += in;
            break;

        default: /* NGX_HTTP_GUARD_BACKUP */
            backups += in;
        }

        if (filter->on
            && filter->st != (ngx_int_t) ss->st
            && filter->health != (ngx_int_t) ss->health_id
            && filter->admin != (ngx_int_t) ss->admin_id)
        {
            continue;
        }

        if (n != i) {
            all[n] = *ss;
        }

        n++;
    }

    su->servers = all;
    su->nservers = n;

    /* ngx_http_guard_pool_panic(), on the copy */
    su->fail_open_active = up->conf->fail_open && !any_in;

    /*
     * nginx's backups serve only when no primary can: while a primary or
     * a promoted standby is in rotation, no backup gets a new request
     */

    if (su->in_rotation == 0) {
        su->in_rotation = backups;

    } else {
        for (i = 0; i < n; i++) {
            if (all[i].gp->role == NGX_HTTP_GUARD_BACKUP) {
                all[i].in_rotation = 0;
            }
        }
    }

    su->status_rank = ngx_http_guard_pool_status(su->in_rotation, su->floor,
                                                 primaries, prim_in);

    su->status = ngx_http_guard_pool_names[su->status_rank];

    return NGX_OK;
}


/* the report's memory: kept from one report to the next, or the pool */

static void *
ngx_http_guard_snap_alloc(ngx_http_request_t *r, ngx_http_guard_snap_t *snap,
    size_t size)
{
    if (snap->mem) {
        return ngx_http_guard_out_alloc(snap->mem, size);
    }

    return ngx_palloc(r->pool, size);
}


/*
 * Under the zone mutex: what the reports need of one server.  The request
 * path's predicates read the slot itself, which no one writes meanwhile.
 */

static ngx_int_t
ngx_http_guard_snap_server(ngx_pool_t *pool, ngx_http_guard_peer_t *gp,
    ngx_http_guard_snap_server_t *ss, uint64_t now)
{
    size_t                       len;
    ngx_http_guard_sh_server_t  *s;

    s = gp->sh;

    ss->gp = gp;
    ss->ov_admin = NULL;
    ss->ov_weight = NULL;
    ss->role = ngx_http_guard_role_names[gp->role % 3];
    ss->config = ngx_http_guard_cfg_drain(gp) ? "drain"
                 : gp->cfg_down ? "down" : "up";
    ss->in_rotation = ngx_http_guard_in_rotation(gp, 0);
    ss->effective_weight = ngx_http_guard_effective_weight(gp, s, now,
                                                          &ss->permille);

    if (s == NULL) {
        /* the zone had no room for its slot: never checked */
        ngx_memzero(&ss->last_check,
                    offsetof(ngx_http_guard_snap_server_t, state)
                    - offsetof(ngx_http_guard_snap_server_t, last_check));

        ss->st = NGX_HTTP_GUARD_ST_UNTRACKED;
        ss->state = "untracked";
        ss->health_id = 3;
        ss->health = "untracked";
        ss->admin_id = NGX_HTTP_GUARD_ACTIVE;
        ss->admin = ngx_http_guard_admin_names[0];
        ss->permille = 1000;
        ss->reason_len = 0;
        ss->promoted = 0;
        ss->down_now = 0;
        ss->failing = 0;
        ss->tracked = 0;
        ss->owner = 0;

        return NGX_OK;
    }

    ss->last_check = s->last_check;
    ss->last_change = (s->last_change != s->added) ? s->last_change : 0;
    ss->failed_at = s->failed_at;
    ss->downtime = s->down_total
                   + ((s->down_since && now > s->down_since)
                      ? now - s->down_since : 0);
    ss->admin_version = s->admin_version;
    ss->drain_started = s->drain_started;
    ss->drained_at = s->drained_at;
    ss->checks = s->checks;
    ss->fails = s->fails;
    ss->downs = s->downs;
    ss->rise_count = s->rise_count;
    ss->fall_count = s->fall_count;
    ss->agent_weight = s->agent_weight;
    ss->admin_weight = s->admin_weight;
    ss->inflight = s->inflight;
    ss->last_latency = s->last_latency;
    ngx_memcpy(ss->fails_by, s->fails_by, sizeof(ss->fails_by));

    len = ngx_strnlen(s->reason, NGX_HTTP_GUARD_REASON_LEN);
    ngx_memcpy(ss->reason, s->reason, len);
    ss->reason_len = len;

    ss->st = ngx_http_guard_state_id(gp, s, ss->permille);
    ss->state = ngx_http_guard_state_names[ss->st];
    ss->health_id = s->health % 3;
    ss->health = ngx_http_guard_health_names[ss->health_id];
    ss->admin_id = s->admin % 4;
    ss->admin = ngx_http_guard_admin_names[ss->admin_id];
    ss->promoted = (s->promoted != 0);
    ss->down_now = (s->down_since != 0);

    /*
     * The last failure still holds while the last check failed, or while
     * the server is down with no pass yet (a reason the state file
     * restored, before the first check after a restart)
     */
    ss->failing = (s->fall_count > 0
                   || (s->health == NGX_HTTP_GUARD_DOWN && s->rise_count == 0));
    ss->tracked = 1;
    ss->owner = gp->check_owner;

    /* the overrides of the admin API are rare: copied only when set */

    if (s->ov_admin.since) {
        ss->ov_admin = ngx_palloc(pool, sizeof(ngx_http_guard_sh_override_t));
        if (ss->ov_admin == NULL) {
            return NGX_ERROR;
        }

        *ss->ov_admin = s->ov_admin;
    }

    if (s->ov_weight.since) {
        ss->ov_weight = ngx_palloc(pool,
                                   sizeof(ngx_http_guard_sh_override_t));
        if (ss->ov_weight == NULL) {
            return NGX_ERROR;
        }

        *ss->ov_weight = s->ov_weight;
    }

    return NGX_OK;
}


/*
 * nginx does not say which balancer an upstream uses.  What it leaves
 * visible, and initialised for every upstream: round robin by its (absent)
 * init function, hash consistent by the hash module's points, sticky by
 * the init function it wraps; among the others only least_conn (and
 * least_time, 1.31) allow "backup".  Before 1.29.7 the keepalive module
 * replaced init_upstream too, hiding the balancer under it; it is seen by
 * its max_cached (the first field in those versions).  Since 1.29.7
 * keepalive is on by default and wraps only peer.init, so it hides
 * nothing and is not named.  The hash module's key is not initialised for
 * upstreams without "hash": never read it.
 */

const char *
ngx_http_guard_balancer(ngx_http_upstream_srv_conf_t *us)
{
    ngx_uint_t                     b, sticky;
    ngx_http_upstream_init_pt      init;
    ngx_http_guard_hash_conf_t    *hcf;
#if (nginx_version < 1029007)
    ngx_uint_t                    *max_cached;
#endif
#if (nginx_version >= 1029006)
    ngx_http_guard_sticky_conf_t  *scf;
#endif

    static const char  *names[][2] = {
        { "round robin", "round robin, sticky" },
        { NGX_HTTP_GUARD_LEAST, NGX_HTTP_GUARD_LEAST ", sticky" },
        { "hash consistent", "hash consistent, sticky" },
        { "hash, ip_hash or random", "hash, ip_hash or random, sticky" },
        { "round robin or least_conn, with keepalive", NULL },
        { "hash, ip_hash or random, with keepalive", NULL }
    };

    init = us->peer.init_upstream;
    sticky = 0;

#if (nginx_version >= 1029006)
    scf = ngx_http_guard_module_srv_conf(us,
                                         "ngx_http_upstream_sticky_module");

    if (scf && scf->original_init_upstream
        && init && init != ngx_http_upstream_init_round_robin)
    {
        init = scf->original_init_upstream;
        sticky = 1;
    }
#endif

    hcf = ngx_http_guard_module_srv_conf(us, "ngx_http_upstream_hash_module");

    /*
     * From 1.27.3 on, hash consistent with a zone makes its points at a
     * worker's first request through it: seen in some workers and not in
     * others, so not at all there, and every worker answers the same
     */

    if (hcf && hcf->points
#if (nginx_version >= 1027003 && NGX_HTTP_UPSTREAM_ZONE)
        && us->shm_zone == NULL
#endif
        )
    {
        b = 2;

    } else if (init == NULL || init == ngx_http_upstream_init_round_robin) {
        b = 0;                 /* nginx leaves it empty for round robin */

    } else {
        b = (us->flags & NGX_HTTP_UPSTREAM_BACKUP) ? 1 : 3;

#if (nginx_version < 1029007)
        max_cached = ngx_http_guard_module_srv_conf(us,
                                       "ngx_http_upstream_keepalive_module");

        if (max_cached && *max_cached) {
            return names[b == 1 ? 4 : 5][0];
        }
#endif
    }

    return names[b][sticky];
}


/* by name: no link-time dependency on a module that may be left out */

static void *
ngx_http_guard_module_srv_conf(ngx_http_upstream_srv_conf_t *us,
    const char *name)
{
    ngx_uint_t      i;
    ngx_module_t  **modules;

    modules = ngx_cycle->modules;

    for (i = 0; modules[i]; i++) {
        if (modules[i]->type == NGX_HTTP_MODULE
            && ngx_strcmp(modules[i]->name, name) == 0)
        {
            return us->srv_conf[modules[i]->ctx_index];
        }
    }

    return NULL;
}


/* summary state for people, by the precedence of STATES.md */

static ngx_uint_t
ngx_http_guard_state_id(ngx_http_guard_peer_t *gp,
    ngx_http_guard_sh_server_t *s, ngx_uint_t permille)
{
    if (s->admin == NGX_HTTP_GUARD_MAINTENANCE) {
        return NGX_HTTP_GUARD_ST_MAINTENANCE;
    }

    if (ngx_http_guard_cfg_drain(gp)) {
        return NGX_HTTP_GUARD_ST_DRAINING;
    }

    if (gp->cfg_down) {
        return NGX_HTTP_GUARD_ST_CONFIG_DOWN;
    }

    if (s->admin == NGX_HTTP_GUARD_DRAINED) {
        return NGX_HTTP_GUARD_ST_DRAINED;
    }

    if (s->admin == NGX_HTTP_GUARD_DRAINING) {
        return NGX_HTTP_GUARD_ST_DRAINING;
    }

    if (s->health == NGX_HTTP_GUARD_DOWN) {
        return NGX_HTTP_GUARD_ST_DOWN;
    }

    if (s->health == NGX_HTTP_GUARD_CHECKING) {
        return NGX_HTTP_GUARD_ST_CHECKING;
    }

    if (gp->role == NGX_HTTP_GUARD_STANDBY && !s->promoted) {
        return NGX_HTTP_GUARD_ST_STANDBY;
    }

    if (permille < 1000) {
        return NGX_HTTP_GUARD_ST_SLOW_START;
    }

    return NGX_HTTP_GUARD_ST_UP;
}


/*
 * Sends what was rendered: one response code for every report (the
 * guard_status formats and check_status), never cached.
 */

ngx_int_t
ngx_http_guard_status_send(ngx_http_request_t *r, ngx_http_guard_out_t *out,
    ngx_uint_t status, const char *type)
{
    ngx_int_t  rc;

    rc = ngx_http_guard_status_header(r, status, (u_char *) type,
                                      ngx_http_guard_out_size(out));

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    if (out->b == NULL) {
        return ngx_http_send_special(r, NGX_HTTP_LAST);
    }

    out->b->last_buf = (r == r->main) ? 1 : 0;
    out->b->last_in_chain = 1;

    return ngx_http_output_filter(r, out->first);
}


/* status, type, length (-1: not known) and no caching */

static ngx_int_t
ngx_http_guard_status_header(ngx_http_request_t *r, ngx_uint_t status,
    u_char *type, off_t length)
{
    r->headers_out.status = status;
    r->headers_out.content_length_n = length;
    r->headers_out.content_type.len = ngx_strlen(type);
    r->headers_out.content_type.data = type;
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    if (ngx_http_guard_status_add_header(r, "Cache-Control",
                                         (u_char *) "no-store", 8)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_send_header(r);
}


/*
 * Adds a response header, its value copied: the key must live as long as
 * the request (a literal).
 */

ngx_int_t
ngx_http_guard_status_add_header(ngx_http_request_t *r, const char *key,
    u_char *value, size_t len)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);

    h->value.data = ngx_pnalloc(r->pool, len);
    if (h->value.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(h->value.data, value, len);
    h->value.len = len;

    return NGX_OK;
}
