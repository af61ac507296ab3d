
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * The pool report in JSON, schema version 1 (README: "Status report").
 * Every string goes through the JSON escaper.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_guard.h"
#include "ngx_http_guard_status.h"


static ngx_int_t ngx_http_guard_json_upstream(
    ngx_http_guard_snap_upstream_t *su, ngx_http_guard_out_t *out);
static ngx_int_t ngx_http_guard_json_admin(ngx_http_guard_sh_server_t *s,
    ngx_http_guard_out_t *out);
static ngx_int_t ngx_http_guard_json_override(
    ngx_http_guard_sh_override_t *ov, ngx_http_guard_out_t *out);


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
            "{\"version\":1,\"module\":\"%s\",\"nginx\":\"%s\","
            "\"pid\":%P,\"leader_pid\":%P,\"leader_changes\":%ui,"
            "\"generation\":%ui,\"started\":%T,\"uptime_s\":%T,"
            "\"frozen\":%s,\"audit_seq\":%uL,\"audit_head\":\"%s\","
            "\"zone_size\":%uz,\"zone_used\":%uz,\"time_ms\":%uL,"
            "\"pending_requests\":[",
            NGX_HTTP_GUARD_VERSION, NGINX_VERSION, ngx_pid,
            snap->leader_pid, snap->leader_changes, snap->generation,
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
            ",\"balancer\":\"%s\",\"check\":\"%s\",\"interval_ms\":%M,"
            "\"timeout_ms\":%M,\"rise\":%ui,\"fall\":%ui,"
            "\"panic\":\"%s\",\"fail_open_active\":%s,"
            "\"servers_total\":%ui,\"healthy\":%ui,\"in_rotation\":%ui,"
            "\"draining\":%ui,\"standbys\":%ui,\"standbys_promoted\":%ui,"
            "\"floor\":%ui,\"floor_holds\":%s,\"slow_start_ms\":%M,"
            "\"live_weights\":%s,\"status\":\"%s\","
            "\"last_change_ms\":%uL,\"servers\":[",
            su->balancer, su->check, conf->interval, conf->timeout,
            conf->rise, conf->fall, conf->fail_open ? "open" : "closed",
            su->fail_open_active ? "true" : "false",
            su->total, su->healthy, su->in_rotation, su->draining,
            su->standbys, su->promoted, su->floor,
            su->in_rotation >= su->floor ? "true" : "false",
            conf->slow_start, conf->live_weights ? "true" : "false",
            su->status, su->last_change)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

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


ngx_int_t
ngx_http_guard_status_json_server(ngx_http_guard_snap_server_t *ss,
    ngx_http_guard_out_t *out)
{
    u_char                      *ew, *aw;
    ngx_http_guard_sh_server_t  *s;
    u_char                       ewb[NGX_HTTP_GUARD_WEIGHT_LEN];
    u_char                       awb[NGX_HTTP_GUARD_WEIGHT_LEN];

    s = &ss->s;

    if (ngx_http_guard_out_str(out, "{\"server\":") != NGX_OK
        || ngx_http_guard_out_json(out, ss->gp->peer->server.data,
                                   ss->gp->peer->server.len)
           != NGX_OK
        || ngx_http_guard_out_str(out, ",\"address\":") != NGX_OK
        || ngx_http_guard_out_json(out, ss->gp->peer->name.data,
                                   ss->gp->peer->name.len)
           != NGX_OK
        || ngx_http_guard_out_str(out, ",\"last_reason\":") != NGX_OK
        || ngx_http_guard_out_json(out, s->reason,
                                   ngx_strnlen(s->reason,
                                               NGX_HTTP_GUARD_REASON_LEN))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    ew = ngx_http_guard_weight_print(ewb, ss->effective_weight);
    aw = ngx_http_guard_weight_print(awb, s->agent_weight);

    return ngx_http_guard_out_printf(out, 1024,
               ",\"role\":\"%s\",\"config\":\"%s\",\"health\":\"%s\","
               "\"admin\":\"%s\",\"state\":\"%s\",\"in_rotation\":%s,"
               "\"weight\":%ui,\"effective_weight\":%*s,"
               "\"agent_weight\":%*s,\"slow_start\":%ui.%03ui,"
               "\"checks\":%ui,\"fails\":%ui,\"rise_count\":%ui,"
               "\"fall_count\":%ui,\"last_check_ms\":%uL,"
               "\"last_latency_ms\":%M,\"last_change_ms\":%uL,"
               "\"downtime_ms\":%uL,\"in_flight\":%uA",
               ss->role, ss->config, ss->health, ss->admin, ss->state,
               ss->in_rotation ? "true" : "false",
               ss->gp->cfg_weight, ew - ewb, ewb, aw - awb, awb,
               ss->permille / 1000, ss->permille % 1000,
               s->checks, s->fails, s->rise_count, s->fall_count,
               s->last_check, s->last_latency, s->last_change,
               ss->downtime, s->inflight)
           != NGX_OK
        ? NGX_ERROR : ngx_http_guard_json_admin(s, out);
}


/*
 * The rest of a server object, the admin dimension's records: the version
 * a change may be based on (If-Match), the drain and how long it took, the
 * overrides in force.
 */

static ngx_int_t
ngx_http_guard_json_admin(ngx_http_guard_sh_server_t *s,
    ngx_http_guard_out_t *out)
{
    if (ngx_http_guard_out_printf(out, 256,
            ",\"admin_version\":%uL,\"admin_weight\":", s->admin_version)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if ((s->admin_weight
         ? ngx_http_guard_out_printf(out, 32, "%ui", s->admin_weight)
         : ngx_http_guard_out_str(out, "null"))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_guard_out_str(out, ",\"drain_started_ms\":") != NGX_OK
        || (s->drain_started
            ? ngx_http_guard_out_printf(out, 32, "%uL", s->drain_started)
            : ngx_http_guard_out_str(out, "null"))
           != NGX_OK
        || ngx_http_guard_out_str(out, ",\"drain_duration_ms\":") != NGX_OK
        || (s->drained_at && s->drained_at >= s->drain_started
            ? ngx_http_guard_out_printf(out, 32, "%uL",
                                        s->drained_at - s->drain_started)
            : ngx_http_guard_out_str(out, "null"))
           != NGX_OK
        || ngx_http_guard_out_str(out, ",\"admin_override\":") != NGX_OK
        || ngx_http_guard_json_override(&s->ov_admin, out) != NGX_OK
        || ngx_http_guard_out_str(out, ",\"weight_override\":") != NGX_OK
        || ngx_http_guard_json_override(&s->ov_weight, out) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_guard_out_str(out, "}");
}


/* {"by":..,"reason":..,"since_ms":..,"until_ms":..} or null */

static ngx_int_t
ngx_http_guard_json_override(ngx_http_guard_sh_override_t *ov,
    ngx_http_guard_out_t *out)
{
    if (ov->since == 0) {
        return ngx_http_guard_out_str(out, "null");
    }

    if (ngx_http_guard_out_str(out, "{\"by\":") != NGX_OK
        || ngx_http_guard_out_json(out, ov->by,
                                   ngx_strnlen(ov->by,
                                               NGX_HTTP_GUARD_PRINCIPAL_LEN))
           != NGX_OK
        || ngx_http_guard_out_str(out, ",\"reason\":") != NGX_OK
        || ngx_http_guard_out_json(out, ov->reason,
                                   ngx_strnlen(ov->reason,
                                               NGX_HTTP_GUARD_REASON_LEN))
           != NGX_OK
        || ngx_http_guard_out_printf(out, 64, ",\"since_ms\":%uL,"
                                     "\"until_ms\":", ov->since)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ov->until) {
        return ngx_http_guard_out_printf(out, 32, "%uL}", ov->until);
    }

    return ngx_http_guard_out_str(out, "null}");
}


/*
 * A request of the two-person rule, in the report (the pending ones) and
 * in the admin API (any): one shape.
 */

ngx_int_t
ngx_http_guard_status_json_request(ngx_http_guard_sh_request_t *req,
    ngx_http_guard_out_t *out)
{
    ngx_uint_t   i;

    static const char  *roles[] = { "none", "viewer", "operator", "admin" };

    static const struct {
        const char  *key;
        size_t       offset;
        size_t       size;
    } text[] = {
        { "upstream", offsetof(ngx_http_guard_sh_request_t, upstream),
          NGX_HTTP_GUARD_NAME_LEN },
        { "server", offsetof(ngx_http_guard_sh_request_t, server),
          NGX_HTTP_GUARD_NAME_LEN },
        { "requester", offsetof(ngx_http_guard_sh_request_t, requester),
          NGX_HTTP_GUARD_PRINCIPAL_LEN },
        { "approver", offsetof(ngx_http_guard_sh_request_t, approver),
          NGX_HTTP_GUARD_PRINCIPAL_LEN },
        { "reason", offsetof(ngx_http_guard_sh_request_t, reason),
          NGX_HTTP_GUARD_REASON_LEN },
        { "why", offsetof(ngx_http_guard_sh_request_t, why),
          NGX_HTTP_GUARD_WHY_LEN }
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
        if (ngx_http_guard_out_printf(out, 32, ",\"%s\":", text[i].key)
               != NGX_OK
            || ngx_http_guard_out_json(out, (u_char *) req + text[i].offset,
                                       ngx_strnlen((u_char *) req
                                                   + text[i].offset,
                                                   text[i].size))
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return ngx_http_guard_out_str(out, "}");
}
