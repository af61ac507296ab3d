
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * The pool report in JSON, schema version 2 (README: "Status report").
 * Every string goes through the JSON escaper.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_guard.h"
#include "ngx_http_guard_status.h"


static ngx_int_t ngx_http_guard_json_upstream(
    ngx_http_guard_snap_upstream_t *su, ngx_http_guard_out_t *out);
static u_char *ngx_http_guard_json_ms(u_char *p, uint64_t ms);
static u_char *ngx_http_guard_json_override(u_char *p,
    ngx_http_guard_sh_override_t *ov);


ngx_int_t
ngx_http_guard_status_json(ngx_http_guard_snap_t *snap,
    ngx_http_guard_out_t *out)
{
    u_char      *p;
    ngx_uint_t   i;
    u_char       head[65];

    p = ngx_hex_dump(head, snap->audit_head, sizeof(snap->audit_head));
    *p = '\0';

    if (ngx_http_guard_out_printf(out, 512,
            "{\"version\":2,\"module\":\"%s\",\"nginx\":\"%s\","
            "\"pid\":%P,\"leader_pid\":%P,\"check_io\":\"%s\","
            "\"check_grid_duration_ms\":%M,"
            "\"takeovers\":%ui,"
            "\"generation\":%ui,\"started\":%T,\"uptime_s\":%T,"
            "\"frozen\":%s,\"audit_seq\":%uL,\"audit_head\":\"%s\","
            "\"zone_size\":%uz,\"zone_used\":%uz,\"generated_at_ms\":%uL,"
            "\"pending_requests\":[",
            NGX_HTTP_GUARD_VERSION, NGINX_VERSION, ngx_pid,
            snap->leader_pid,
            snap->check_io == NGX_HTTP_GUARD_IO_URING ? "io_uring" : "epoll",
            snap->check_grid,
            snap->takeovers, snap->generation,
            snap->started,
            (time_t) (snap->now / 1000) - snap->started,
            snap->frozen ? "true" : "false", snap->audit_seq, head,
            snap->zone_size, snap->zone_used, snap->now)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < snap->nrequests; i++) {
        if ((i && ngx_http_guard_out_str(out, ",") != NGX_OK)
            || ngx_http_guard_status_json_request(&snap->requests[i], out)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ngx_http_guard_out_str(out, "],\"upstreams\":[") != NGX_OK) {
        return NGX_ERROR;
    }

    for (i = 0; i < snap->nupstreams; i++) {

        if (i && ngx_http_guard_out_str(out, ",") != NGX_OK) {
            return NGX_ERROR;
        }

        if (ngx_http_guard_json_upstream(&snap->upstreams[i], out) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return ngx_http_guard_out_str(out, "]}\n");
}


static ngx_int_t
ngx_http_guard_json_upstream(ngx_http_guard_snap_upstream_t *su,
    ngx_http_guard_out_t *out)
{
    u_char                     *p;
    ngx_uint_t                  i;
    ngx_http_guard_srv_conf_t  *conf;

    conf = su->up->conf;

    if (ngx_http_guard_out_str(out, "{\"name\":") != NGX_OK
        || ngx_http_guard_out_json(out, su->name->data, su->name->len)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_guard_out_printf(out, 1024,
            ",\"balancer\":\"%s\",\"check\":\"%s\","
            "\"interval_duration_ms\":%M,\"timeout_duration_ms\":%M,"
            "\"rise\":%ui,\"fall\":%ui,"
            "\"panic\":\"%s\",\"fail_open_active\":%s,"
            "\"servers_total\":%ui,\"healthy\":%ui,\"in_rotation\":%ui,"
            "\"draining\":%ui,\"standbys\":%ui,\"standbys_promoted\":%ui,"
            "\"untracked\":%ui,"
            "\"floor\":%ui,\"floor_holds\":%s,\"slow_start_duration_ms\":%M,"
            "\"live_weights\":%s,\"status\":\"%s\","
            "\"last_change_at_ms\":",
            su->balancer, su->check, conf->interval, conf->timeout,
            conf->rise, conf->fall, conf->fail_open ? "open" : "closed",
            su->fail_open_active ? "true" : "false",
            su->total, su->healthy, su->in_rotation, su->draining,
            su->standbys, su->promoted, su->untracked, su->floor,
            su->in_rotation >= su->floor ? "true" : "false",
            conf->slow_start, conf->live_weights ? "true" : "false",
            su->status)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    p = ngx_http_guard_out_reserve(out, NGX_INT64_LEN + 16);
    if (p == NULL) {
        return NGX_ERROR;
    }

    p = ngx_http_guard_json_ms(p, su->last_change);
    out->b->last = ngx_http_guard_put_lit(p, ",\"servers\":[");

    for (i = 0; i < su->nservers; i++) {

        if (i && ngx_http_guard_out_str(out, ",") != NGX_OK) {
            return NGX_ERROR;
        }

        if (ngx_http_guard_status_json_server(&su->servers[i], out) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return ngx_http_guard_out_str(out, "]}");
}


/*
 * One server: the room it can take is reserved once, then written
 * without further checks (constant text and numbers as they are, names
 * escaped, a fast path when they need none).
 */

#define NGX_HTTP_GUARD_JSON_SERVER                                           \
    (1024 + 30 * NGX_INT64_LEN + 2 * NGX_HTTP_GUARD_WEIGHT_LEN               \
     + 6 * NGX_HTTP_GUARD_REASON_LEN                                         \
     + 2 * (128 + 2 * NGX_INT64_LEN                                          \
            + 6 * (NGX_HTTP_GUARD_PRINCIPAL_LEN + NGX_HTTP_GUARD_REASON_LEN)))

ngx_int_t
ngx_http_guard_status_json_server(ngx_http_guard_snap_server_t *ss,
    ngx_http_guard_out_t *out)
{
    u_char                       *p;
    ngx_http_upstream_rr_peer_t  *peer;

    peer = ss->gp->peer;

    p = ngx_http_guard_out_reserve(out, NGX_HTTP_GUARD_JSON_SERVER
                                        + 6 * (peer->server.len
                                               + peer->name.len));
    if (p == NULL) {
        return NGX_ERROR;
    }

    p = ngx_http_guard_put_lit(p, "{\"server\":");
    p = ngx_http_guard_put_json(p, peer->server.data, peer->server.len);
    p = ngx_http_guard_put_lit(p, ",\"address\":");
    p = ngx_http_guard_put_json(p, peer->name.data, peer->name.len);

    /* why the last failed check failed, when, and whether it still does */

    if (ss->reason_len == 0) {
        p = ngx_http_guard_put_lit(p, ",\"last_failure\":null");

    } else {
        p = ngx_http_guard_put_lit(p, ",\"last_failure\":{\"reason\":");
        p = ngx_http_guard_put_json(p, ss->reason, ss->reason_len);
        p = ngx_http_guard_put_lit(p, ",\"at_ms\":");
        p = ngx_http_guard_json_ms(p, ss->failed_at);
        p = ss->failing ? ngx_http_guard_put_lit(p, ",\"ongoing\":true}")
                           : ngx_http_guard_put_lit(p, ",\"ongoing\":false}");
    }

    p = ngx_http_guard_put_lit(p, ",\"role\":\"");
    p = ngx_cpystrn(p, (u_char *) ss->role, 16);
    p = ngx_http_guard_put_lit(p, "\",\"config\":\"");
    p = ngx_cpystrn(p, (u_char *) ss->config, 16);
    p = ngx_http_guard_put_lit(p, "\",\"health\":\"");
    p = ngx_cpystrn(p, (u_char *) ss->health, 16);
    p = ngx_http_guard_put_lit(p, "\",\"admin\":\"");
    p = ngx_cpystrn(p, (u_char *) ss->admin, 16);
    p = ngx_http_guard_put_lit(p, "\",\"state\":\"");
    p = ngx_cpystrn(p, (u_char *) ss->state, 16);
    *p++ = '"';

    p = ss->in_rotation ? ngx_http_guard_put_lit(p, ",\"in_rotation\":true")
                        : ngx_http_guard_put_lit(p, ",\"in_rotation\":false");
    p = ngx_http_guard_put_lit(p, ",\"weight\":");
    p = ngx_http_guard_put_uint(p, ss->gp->cfg_weight);
    p = ngx_http_guard_put_lit(p, ",\"effective_weight\":");
    p = ngx_http_guard_weight_print(p, ss->effective_weight);
    p = ngx_http_guard_put_lit(p, ",\"agent_weight\":");
    p = ngx_http_guard_weight_print(p, ss->agent_weight);
    p = ngx_http_guard_put_lit(p, ",\"slow_start\":");
    p = ngx_http_guard_put_milli(p, ss->permille);
    p = ngx_http_guard_put_lit(p, ",\"checks\":");
    p = ngx_http_guard_put_uint(p, ss->checks);
    p = ngx_http_guard_put_lit(p, ",\"checks_failed\":");
    p = ngx_http_guard_put_uint(p, ss->fails);
    p = ngx_http_guard_put_lit(p, ",\"down_transitions\":");
    p = ngx_http_guard_put_uint(p, ss->downs);
    p = ngx_http_guard_put_lit(p, ",\"rise_count\":");
    p = ngx_http_guard_put_uint(p, ss->rise_count);
    p = ngx_http_guard_put_lit(p, ",\"fall_count\":");
    p = ngx_http_guard_put_uint(p, ss->fall_count);
    p = ngx_http_guard_put_lit(p, ",\"last_check_at_ms\":");
    p = ngx_http_guard_json_ms(p, ss->last_check);
    p = ngx_http_guard_put_lit(p, ",\"last_check_duration_ms\":");

    if (ss->last_check) {
        p = ngx_http_guard_put_uint(p, ss->last_latency);

    } else {
        p = ngx_http_guard_put_lit(p, "null");
    }

    p = ngx_http_guard_put_lit(p, ",\"last_change_at_ms\":");
    p = ngx_http_guard_json_ms(p, ss->last_change);
    p = ngx_http_guard_put_lit(p, ",\"downtime_duration_ms\":");
    p = ngx_http_guard_put_uint(p, ss->downtime);
    p = ngx_http_guard_put_lit(p, ",\"in_flight\":");
    p = ngx_http_guard_put_uint(p, ss->inflight);

    /*
     * the admin dimension's records: the version a change may be based on
     * (If-Match), the drain and how long it took, the overrides in force
     */

    p = ngx_http_guard_put_lit(p, ",\"admin_version\":");
    p = ngx_http_guard_put_uint(p, ss->admin_version);
    p = ngx_http_guard_put_lit(p, ",\"admin_weight\":");
    p = ngx_http_guard_json_ms(p, ss->admin_weight);
    p = ngx_http_guard_put_lit(p, ",\"drain_started_at_ms\":");
    p = ngx_http_guard_json_ms(p, ss->drain_started);
    p = ngx_http_guard_put_lit(p, ",\"drain_duration_ms\":");

    if (ss->drained_at && ss->drained_at >= ss->drain_started) {
        p = ngx_http_guard_put_uint(p, ss->drained_at - ss->drain_started);

    } else {
        p = ngx_http_guard_put_lit(p, "null");
    }

    p = ngx_http_guard_put_lit(p, ",\"admin_override\":");
    p = ngx_http_guard_json_override(p, ss->ov_admin);
    p = ngx_http_guard_put_lit(p, ",\"weight_override\":");
    p = ngx_http_guard_json_override(p, ss->ov_weight);
    *p++ = '}';

    out->b->last = p;

    return NGX_OK;
}


/* a number, or null for 0 (a time that never was, a weight never set) */

static u_char *
ngx_http_guard_json_ms(u_char *p, uint64_t ms)
{
    if (ms == 0) {
        return ngx_http_guard_put_lit(p, "null");
    }

    return ngx_http_guard_put_uint(p, ms);
}


/* {"by":..,"reason":..,"since_ms":..,"until_ms":..} or null */

static u_char *
ngx_http_guard_json_override(u_char *p, ngx_http_guard_sh_override_t *ov)
{
    if (ov == NULL) {
        return ngx_http_guard_put_lit(p, "null");
    }

    p = ngx_http_guard_put_lit(p, "{\"by\":");
    p = ngx_http_guard_put_json(p, ov->by,
                                ngx_strnlen(ov->by,
                                            NGX_HTTP_GUARD_PRINCIPAL_LEN));
    p = ngx_http_guard_put_lit(p, ",\"reason\":");
    p = ngx_http_guard_put_json(p, ov->reason,
                                ngx_strnlen(ov->reason,
                                            NGX_HTTP_GUARD_REASON_LEN));
    p = ngx_http_guard_put_lit(p, ",\"since_ms\":");
    p = ngx_http_guard_put_uint(p, ov->since);
    p = ngx_http_guard_put_lit(p, ",\"until_ms\":");
    p = ngx_http_guard_json_ms(p, ov->until);
    *p++ = '}';

    return p;
}


/*
 * A request of the two-person rule, in the report (the pending ones) and
 * in the admin API (any): one shape.
 */

ngx_int_t
ngx_http_guard_status_json_request(ngx_http_guard_sh_request_t *req,
    ngx_http_guard_out_t *out)
{
    size_t       len;
    ngx_uint_t   i;

    static const char  *roles[] = { "none", "viewer", "operator", "admin" };

    /* "approver" is null until there is one, as other fields not set */

    static const struct {
        const char  *key;
        size_t       offset;
        size_t       size;
        ngx_uint_t   null;          /* empty: null */
    } text[] = {
        { "upstream", offsetof(ngx_http_guard_sh_request_t, upstream),
          NGX_HTTP_GUARD_NAME_LEN, 0 },
        { "server", offsetof(ngx_http_guard_sh_request_t, server),
          NGX_HTTP_GUARD_NAME_LEN, 0 },
        { "requester", offsetof(ngx_http_guard_sh_request_t, requester),
          NGX_HTTP_GUARD_PRINCIPAL_MAX + 1, 0 },
        { "approver", offsetof(ngx_http_guard_sh_request_t, approver),
          NGX_HTTP_GUARD_PRINCIPAL_MAX + 1, 1 },
        { "reason", offsetof(ngx_http_guard_sh_request_t, reason),
          NGX_HTTP_GUARD_REASON_LEN, 0 },
        { "why", offsetof(ngx_http_guard_sh_request_t, why),
          NGX_HTTP_GUARD_WHY_LEN, 0 }
    };

    if (ngx_http_guard_out_printf(out, 256,
            "{\"id\":%ui,\"state\":\"%s\",\"operation\":\"%s\","
            "\"needs\":\"%s\",\"created_ms\":%uL,\"expires_ms\":%uL,"
            "\"closed_ms\":", req->id,
            ngx_http_guard_request_state_name(req->state),
            ngx_http_guard_op_name(req->op), roles[req->role % 4],
            req->created, req->until)
           != NGX_OK
        || (req->closed
            ? ngx_http_guard_out_printf(out, 32, "%uL", req->closed)
            : ngx_http_guard_out_str(out, "null"))
           != NGX_OK
        || (req->op == NGX_HTTP_GUARD_OP_WEIGHT
            ? ngx_http_guard_out_printf(out, 32, ",\"weight\":%ui",
                                        req->weight)
            : ngx_http_guard_out_str(out, ",\"weight\":null"))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < sizeof(text) / sizeof(text[0]); i++) {
        len = ngx_strnlen((u_char *) req + text[i].offset, text[i].size);

        if (ngx_http_guard_out_printf(out, 32, ",\"%s\":", text[i].key)
               != NGX_OK
            || (len == 0 && text[i].null
                ? ngx_http_guard_out_str(out, "null")
                : ngx_http_guard_out_json(out,
                                          (u_char *) req + text[i].offset,
                                          len))
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return ngx_http_guard_out_str(out, "}");
}
