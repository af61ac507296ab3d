
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * guard_status: the pool report.  JSON for now; built in a chain of
 * buffers, each write reserving the room it needs, so nothing can be
 * truncated whatever the number of servers or the names.  Shared state is
 * copied under the zone mutex, one upstream at a time, and rendered
 * outside it.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_guard.h"


#define NGX_HTTP_GUARD_OUT_CHUNK  8192


typedef struct {
    ngx_pool_t                  *pool;
    ngx_chain_t                 *first;
    ngx_chain_t                **last;
    ngx_buf_t                   *b;
} ngx_http_guard_out_t;


static ngx_int_t ngx_http_guard_status_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_guard_status_json(ngx_http_request_t *r,
    ngx_http_guard_out_t *out, ngx_str_t *filter);
static ngx_int_t ngx_http_guard_status_upstream(ngx_http_request_t *r,
    ngx_http_guard_out_t *out, ngx_http_guard_upstream_t *up,
    ngx_slab_pool_t *shpool, ngx_uint_t first);
static u_char *ngx_http_guard_out_reserve(ngx_http_guard_out_t *out,
    size_t n);
static ngx_int_t ngx_http_guard_out_str(ngx_http_guard_out_t *out,
    const char *s);
static ngx_int_t ngx_http_guard_out_json_str(ngx_http_guard_out_t *out,
    u_char *s, size_t len);
static const char *ngx_http_guard_state_name(ngx_http_guard_peer_t *gp,
    ngx_http_guard_sh_server_t *s);


static const char  *ngx_http_guard_health_names[] = {
    "checking", "up", "down"
};

static const char  *ngx_http_guard_admin_names[] = {
    "active", "draining", "drained", "maintenance"
};

static const char  *ngx_http_guard_role_names[] = {
    "primary", "backup", "standby"
};

static const char  *ngx_http_guard_type_names[] = {
    "none", "tcp", "http", "https", "ssl_hello"
};

static const char  *ngx_http_guard_pool_names[] = {
    "ok", "degraded", "critical", "panic"
};


char *
ngx_http_guard_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_guard_status_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_guard_status_handler(ngx_http_request_t *r)
{
    off_t                 total;
    ngx_int_t             rc;
    ngx_str_t             filter;
    ngx_chain_t          *cl;
    ngx_http_guard_out_t  out;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_str_null(&filter);

    if (r->args.len
        && ngx_http_arg(r, (u_char *) "upstream", 8, &filter) != NGX_OK)
    {
        ngx_str_null(&filter);
    }

    ngx_memzero(&out, sizeof(ngx_http_guard_out_t));
    out.pool = r->pool;
    out.last = &out.first;

    if (ngx_http_guard_status_json(r, &out, &filter) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    total = 0;

    for (cl = out.first; cl; cl = cl->next) {
        total += cl->buf->last - cl->buf->pos;
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = total;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.b->last_buf = (r == r->main) ? 1 : 0;
    out.b->last_in_chain = 1;

    return ngx_http_output_filter(r, out.first);
}


static ngx_int_t
ngx_http_guard_status_json(ngx_http_request_t *r, ngx_http_guard_out_t *out,
    ngx_str_t *filter)
{
    u_char                      *p;
    ngx_uint_t                   i, n;
    ngx_slab_pool_t             *shpool;
    ngx_http_guard_sh_t         *sh;
    ngx_http_guard_upstream_t   *up;
    ngx_http_guard_main_conf_t  *gmcf;
    ngx_pid_t                    leader;
    ngx_uint_t                   generation, changes;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_upstream_guard_module);

    leader = 0;
    generation = 0;
    changes = 0;
    sh = NULL;
    shpool = NULL;

    if (gmcf->shm_zone) {
        sh = ngx_http_guard_shm_root(gmcf, &shpool);

        ngx_shmtx_lock(&shpool->mutex);
        leader = sh->leader_pid;
        generation = sh->generation;
        changes = sh->leader_changes;
        ngx_shmtx_unlock(&shpool->mutex);
    }

    p = ngx_http_guard_out_reserve(out, 256 + NGX_INT_T_LEN * 4);
    if (p == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(p, "{\"version\":1,\"module\":\"%s\","
                    "\"nginx\":\"%s\",\"pid\":%P,\"leader_pid\":%P,"
                    "\"leader_changes\":%ui,\"generation\":%ui,"
                    "\"upstreams\":[",
                    NGX_HTTP_GUARD_VERSION, NGINX_VERSION, ngx_pid, leader,
                    changes, generation);
    out->b->last = p;

    up = gmcf->upstreams.elts;
    n = 0;

    for (i = 0; i < gmcf->upstreams.nelts; i++) {

        if (up[i].sh == NULL) {
            continue;
        }

        if (filter->len
            && (filter->len != up[i].uscf->host.len
                || ngx_strncmp(filter->data, up[i].uscf->host.data,
                               filter->len) != 0))
        {
            continue;
        }

        if (ngx_http_guard_status_upstream(r, out, &up[i], shpool, n == 0)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        n++;
    }

    return ngx_http_guard_out_str(out, "]}\n");
}


static ngx_int_t
ngx_http_guard_status_upstream(ngx_http_request_t *r,
    ngx_http_guard_out_t *out, ngx_http_guard_upstream_t *up,
    ngx_slab_pool_t *shpool, ngx_uint_t first)
{
    u_char                      *p;
    uint64_t                     last_change;
    ngx_uint_t                   i, panic, healthy, rotation, primaries;
    ngx_uint_t                   prim_in, floor, status, in, backups;
    ngx_uint_t                   promoted, standbys, permille, ew;
    uint64_t                     now;
    ngx_http_guard_peer_t       *gp;
    ngx_http_guard_sh_server_t  *copy, *s;

    copy = ngx_palloc(r->pool, up->npeers * sizeof(ngx_http_guard_sh_server_t));
    if (copy == NULL) {
        return NGX_ERROR;
    }

    ngx_shmtx_lock(&shpool->mutex);

    for (i = 0; i < up->npeers; i++) {
        if (up->peers[i].sh) {
            copy[i] = *up->peers[i].sh;

        } else {
            ngx_memzero(&copy[i], sizeof(ngx_http_guard_sh_server_t));
            copy[i].health = NGX_HTTP_GUARD_CHECKING;
        }
    }

    last_change = up->sh->last_change;

    ngx_shmtx_unlock(&shpool->mutex);

    panic = up->conf->fail_open && ngx_http_guard_pool_panic(up);

    healthy = 0;
    rotation = 0;
    primaries = 0;
    prim_in = 0;
    backups = 0;
    promoted = 0;
    standbys = 0;

    for (i = 0; i < up->npeers; i++) {
        gp = &up->peers[i];

        if (copy[i].health == NGX_HTTP_GUARD_UP) {
            healthy++;
        }

        in = ngx_http_guard_in_rotation(gp, 0);

        switch (gp->role) {

        case NGX_HTTP_GUARD_PRIMARY:
            primaries++;
            prim_in += in;
            rotation += in;
            break;

        case NGX_HTTP_GUARD_STANDBY:
            standbys++;
            promoted += in;
            rotation += in;
            break;

        default: /* NGX_HTTP_GUARD_BACKUP */
            backups += in;
        }
    }

    /* nginx's backups serve only when no primary can */
    if (rotation == 0) {
        rotation = backups;
    }

    floor = up->floor;

    if (rotation == 0) {
        status = NGX_HTTP_GUARD_POOL_PANIC;

    } else if (rotation < floor) {
        status = NGX_HTTP_GUARD_POOL_CRITICAL;

    } else if (prim_in < primaries) {
        status = NGX_HTTP_GUARD_POOL_DEGRADED;

    } else {
        status = NGX_HTTP_GUARD_POOL_OK;
    }

    if (!first && ngx_http_guard_out_str(out, ",") != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_guard_out_str(out, "{\"name\":") != NGX_OK
        || ngx_http_guard_out_json_str(out, up->uscf->host.data,
                                       up->uscf->host.len)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    p = ngx_http_guard_out_reserve(out, 512);
    if (p == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(p, ",\"check\":\"%s\",\"interval_ms\":%M,"
                    "\"timeout_ms\":%M,\"rise\":%ui,\"fall\":%ui,"
                    "\"panic\":\"%s\",\"fail_open_active\":%s,"
                    "\"servers_total\":%ui,"
                    "\"healthy\":%ui,\"in_rotation\":%ui,"
                    "\"standbys\":%ui,\"standbys_promoted\":%ui,"
                    "\"floor\":%ui,\"slow_start_ms\":%M,"
                    "\"live_weights\":%s,"
                    "\"floor_holds\":%s,\"status\":\"%s\","
                    "\"last_change_ms\":%uL,\"servers\":[",
                    ngx_http_guard_type_names[up->conf->type],
                    up->conf->interval, up->conf->timeout,
                    up->conf->rise, up->conf->fall,
                    up->conf->fail_open ? "open" : "closed",
                    panic ? "true" : "false", up->npeers, healthy,
                    rotation, standbys, promoted, floor,
                    up->conf->slow_start,
                    up->conf->live_weights ? "true" : "false",
                    rotation >= floor ? "true" : "false",
                    ngx_http_guard_pool_names[status], last_change);
    out->b->last = p;

    now = ngx_http_guard_now_ms();

    for (i = 0; i < up->npeers; i++) {
        gp = &up->peers[i];
        s = &copy[i];

        if (ngx_http_guard_out_str(out, i ? ",{\"server\":" : "{\"server\":")
            != NGX_OK
            || ngx_http_guard_out_json_str(out, gp->peer->server.data,
                                           gp->peer->server.len)
               != NGX_OK
            || ngx_http_guard_out_str(out, ",\"address\":") != NGX_OK
            || ngx_http_guard_out_json_str(out, gp->peer->name.data,
                                           gp->peer->name.len)
               != NGX_OK
            || ngx_http_guard_out_str(out, ",\"last_reason\":") != NGX_OK
            || ngx_http_guard_out_json_str(out, s->reason,
                                           ngx_strlen(s->reason))
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        ew = ngx_http_guard_effective_weight(gp, s, now, &permille);

        p = ngx_http_guard_out_reserve(out, 640);
        if (p == NULL) {
            return NGX_ERROR;
        }

        p = ngx_sprintf(p, ",\"role\":\"%s\",\"config\":\"%s\","
                        "\"health\":\"%s\",\"admin\":\"%s\","
                        "\"state\":\"%s\",\"in_rotation\":%s,"
                        "\"weight\":%ui,\"effective_weight\":%ui,"
                        "\"agent_weight\":%ui,\"slow_start\":%ui.%03ui,"
                        "\"checks\":%ui,\"fails\":%ui,"
                        "\"rise_count\":%ui,\"fall_count\":%ui,"
                        "\"last_check_ms\":%uL,\"last_latency_ms\":%M,"
                        "\"last_change_ms\":%uL,\"downtime_ms\":%uL}",
                        ngx_http_guard_role_names[gp->role],
                        gp->cfg_down ? "down" : "up",
                        ngx_http_guard_health_names[s->health % 3],
                        ngx_http_guard_admin_names[s->admin % 4],
                        ngx_http_guard_state_name(gp, s),
                        ngx_http_guard_in_rotation(gp, 0) ? "true" : "false",
                        gp->cfg_weight,
                        ew, s->agent_weight, permille / 1000,
                        permille % 1000,
                        s->checks, s->fails,
                        s->rise_count, s->fall_count,
                        s->last_check, s->last_latency, s->last_change,
                        s->down_total
                        + (s->down_since
                           ? ngx_http_guard_now_ms() - s->down_since : 0));
        out->b->last = p;
    }

    return ngx_http_guard_out_str(out, "]}");
}


/* summary state for people, by the precedence of STATES.md */

static const char *
ngx_http_guard_state_name(ngx_http_guard_peer_t *gp,
    ngx_http_guard_sh_server_t *s)
{
    ngx_uint_t  permille;

    if (s->admin == NGX_HTTP_GUARD_MAINTENANCE) {
        return "maintenance";
    }

    if (gp->cfg_down) {
        return "config-down";
    }

    if (s->admin == NGX_HTTP_GUARD_DRAINED) {
        return "drained";
    }

    if (s->admin == NGX_HTTP_GUARD_DRAINING) {
        return "draining";
    }

    if (s->health == NGX_HTTP_GUARD_DOWN) {
        return "down";
    }

    if (s->health == NGX_HTTP_GUARD_CHECKING) {
        return "checking";
    }

    if (gp->role == NGX_HTTP_GUARD_STANDBY && !s->promoted) {
        return "standby";
    }

    (void) ngx_http_guard_effective_weight(gp, s, ngx_http_guard_now_ms(),
                                           &permille);

    if (permille < 1000) {
        return "slow-start";
    }

    return "up";
}


static u_char *
ngx_http_guard_out_reserve(ngx_http_guard_out_t *out, size_t n)
{
    size_t        size;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (out->b && (size_t) (out->b->end - out->b->last) >= n) {
        return out->b->last;
    }

    size = ngx_max(n, NGX_HTTP_GUARD_OUT_CHUNK);

    b = ngx_create_temp_buf(out->pool, size);
    if (b == NULL) {
        return NULL;
    }

    cl = ngx_alloc_chain_link(out->pool);
    if (cl == NULL) {
        return NULL;
    }

    cl->buf = b;
    cl->next = NULL;

    *out->last = cl;
    out->last = &cl->next;

    out->b = b;

    return b->last;
}


static ngx_int_t
ngx_http_guard_out_str(ngx_http_guard_out_t *out, const char *s)
{
    size_t   len;
    u_char  *p;

    len = ngx_strlen(s);

    p = ngx_http_guard_out_reserve(out, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->b->last = ngx_cpymem(p, s, len);

    return NGX_OK;
}


/* a JSON string: escapes, and U+FFFD for bytes that are not UTF-8 */

static ngx_int_t
ngx_http_guard_out_json_str(ngx_http_guard_out_t *out, u_char *s, size_t len)
{
    u_char    *p, *end, *start;
    uint32_t   cp;

    p = ngx_http_guard_out_reserve(out, len * 6 + 2);
    if (p == NULL) {
        return NGX_ERROR;
    }

    end = s + len;
    *p++ = '"';

    while (s < end) {

        if (*s < 0x80) {
            switch (*s) {
            case '"':
                *p++ = '\\'; *p++ = '"';
                break;
            case '\\':
                *p++ = '\\'; *p++ = '\\';
                break;
            case '\n':
                *p++ = '\\'; *p++ = 'n';
                break;
            case '\r':
                *p++ = '\\'; *p++ = 'r';
                break;
            case '\t':
                *p++ = '\\'; *p++ = 't';
                break;
            default:
                if (*s < 0x20 || *s == 0x7f) {
                    p = ngx_sprintf(p, "\\u%04xd", (ngx_uint_t) *s);

                } else {
                    *p++ = *s;
                }
            }

            s++;
            continue;
        }

        start = s;
        cp = ngx_utf8_decode(&s, end - s);

        if (cp > 0x10ffff) {
            /* invalid: U+FFFD, skip one byte */
            p = ngx_cpymem(p, "\\ufffd", 6);
            s = start + 1;
            continue;
        }

        p = ngx_cpymem(p, start, s - start);
    }

    *p++ = '"';
    out->b->last = p;

    return NGX_OK;
}
