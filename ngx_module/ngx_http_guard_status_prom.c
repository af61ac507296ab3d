
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * The pool report in the Prometheus text exposition format 0.0.4: one
 * family at a time (# HELP, # TYPE, then every sample), one common prefix,
 * labels escaped per the format.  Counters live in shared memory and are
 * kept across reloads.  A server's series carry its position in the
 * upstream ("id", as in the JSON report): two "server" lines with the same
 * address would otherwise make the same series twice.  One alert rule
 * covers every service:
 * nginx_upstream_guard_upstream_in_rotation
 *     < nginx_upstream_guard_upstream_floor
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_guard.h"
#include "ngx_http_guard_status.h"


#define NGX_HTTP_GUARD_PROM  "nginx_upstream_guard_"


typedef enum {
    ngx_http_guard_up_servers = 0,
    ngx_http_guard_up_healthy,
    ngx_http_guard_up_in_rotation,
    ngx_http_guard_up_floor,
    ngx_http_guard_up_floor_holds,
    ngx_http_guard_up_standbys_promoted,
    ngx_http_guard_up_draining,
    ngx_http_guard_up_fail_open_active,
    ngx_http_guard_up_last_change,
    ngx_http_guard_up_status
} ngx_http_guard_up_metric_e;


typedef enum {
    ngx_http_guard_srv_in_rotation = 0,
    ngx_http_guard_srv_healthy,
    ngx_http_guard_srv_checking,
    ngx_http_guard_srv_config_down,
    ngx_http_guard_srv_draining,
    ngx_http_guard_srv_weight,
    ngx_http_guard_srv_effective_weight,
    ngx_http_guard_srv_agent_weight,
    ngx_http_guard_srv_slow_start,
    ngx_http_guard_srv_checks,
    ngx_http_guard_srv_failures,
    ngx_http_guard_srv_downtime,
    ngx_http_guard_srv_last_check,
    ngx_http_guard_srv_last_duration,
    ngx_http_guard_srv_last_change,
    ngx_http_guard_srv_in_flight,
    ngx_http_guard_srv_drained,
    ngx_http_guard_srv_maintenance,
    ngx_http_guard_srv_admin_weight,
    ngx_http_guard_srv_admin_version,
    ngx_http_guard_srv_drain_duration,
    ngx_http_guard_srv_state
} ngx_http_guard_srv_metric_e;


typedef struct {
    const char                  *name;
    const char                  *type;
    const char                  *help;
    ngx_uint_t                   metric;
} ngx_http_guard_prom_family_t;


static ngx_int_t ngx_http_guard_prom_family(ngx_http_guard_out_t *out,
    ngx_http_guard_prom_family_t *f);
static ngx_int_t ngx_http_guard_prom_upstream(ngx_http_guard_out_t *out,
    ngx_http_guard_prom_family_t *f, ngx_http_guard_snap_upstream_t *su);
static ngx_int_t ngx_http_guard_prom_server(ngx_http_guard_out_t *out,
    ngx_http_guard_prom_family_t *f, ngx_http_guard_snap_upstream_t *su,
    ngx_http_guard_snap_server_t *ss);
static ngx_int_t ngx_http_guard_prom_label(ngx_http_guard_out_t *out,
    const char *name, ngx_str_t *value, ngx_uint_t first);


static ngx_http_guard_prom_family_t  ngx_http_guard_prom_upstreams[] = {

    { "upstream_servers", "gauge",
      "Servers of the upstream (primaries, standbys and backups).",
      ngx_http_guard_up_servers },

    { "upstream_healthy_servers", "gauge",
      "Servers whose health is up.",
      ngx_http_guard_up_healthy },

    { "upstream_in_rotation", "gauge",
      "Servers eligible for new requests (primaries and promoted "
      "standbys; backups when no primary can serve).",
      ngx_http_guard_up_in_rotation },

    { "upstream_floor", "gauge",
      "The fewest servers that must be in rotation (guard_floor).",
      ngx_http_guard_up_floor },

    { "upstream_floor_holds", "gauge",
      "1 when in_rotation >= floor.",
      ngx_http_guard_up_floor_holds },

    { "upstream_standbys_promoted", "gauge",
      "Standby servers in rotation now.",
      ngx_http_guard_up_standbys_promoted },

    { "upstream_draining_servers", "gauge",
      "Servers being drained.",
      ngx_http_guard_up_draining },

    { "upstream_fail_open_active", "gauge",
      "1 when nothing is healthy and fail open routes over all servers.",
      ngx_http_guard_up_fail_open_active },

    { "upstream_last_change_timestamp_seconds", "gauge",
      "Time of the last health change in the upstream.",
      ngx_http_guard_up_last_change },

    { "upstream_status", "gauge",
      "Pool status: 1 for the current one of ok, degraded, critical, panic.",
      ngx_http_guard_up_status },

    { NULL, NULL, NULL, 0 }
};


static ngx_http_guard_prom_family_t  ngx_http_guard_prom_servers[] = {

    { "server_in_rotation", "gauge",
      "1 when the server is eligible for new requests.",
      ngx_http_guard_srv_in_rotation },

    { "server_healthy", "gauge",
      "1 when the server's health is up.",
      ngx_http_guard_srv_healthy },

    { "server_checking", "gauge",
      "1 while the server has no check result yet.",
      ngx_http_guard_srv_checking },

    { "server_config_down", "gauge",
      "1 when nginx's configuration marks the server down.",
      ngx_http_guard_srv_config_down },

    { "server_draining", "gauge",
      "1 while the server is being drained (also nginx's drain).",
      ngx_http_guard_srv_draining },

    { "server_weight", "gauge",
      "Configured weight.",
      ngx_http_guard_srv_weight },

    { "server_effective_weight", "gauge",
      "Weight in use: agent weight and slow-start ramp applied.",
      ngx_http_guard_srv_effective_weight },

    { "server_agent_weight", "gauge",
      "Weight reported by the server's agent, bounded (0: none).",
      ngx_http_guard_srv_agent_weight },

    { "server_slow_start_ratio", "gauge",
      "Slow-start progress from 0 to 1 (1: done or none).",
      ngx_http_guard_srv_slow_start },

    { "server_checks_total", "counter",
      "Health checks run.",
      ngx_http_guard_srv_checks },

    { "server_check_failures_total", "counter",
      "Health checks failed.",
      ngx_http_guard_srv_failures },

    { "server_downtime_seconds_total", "counter",
      "Time the server's health was down.",
      ngx_http_guard_srv_downtime },

    { "server_last_check_timestamp_seconds", "gauge",
      "End of the last check.",
      ngx_http_guard_srv_last_check },

    { "server_last_check_duration_seconds", "gauge",
      "Duration of the last check.",
      ngx_http_guard_srv_last_duration },

    { "server_last_change_timestamp_seconds", "gauge",
      "Time of the last health change.",
      ngx_http_guard_srv_last_change },

    { "server_in_flight", "gauge",
      "Requests in flight to the server, across workers and reloads.",
      ngx_http_guard_srv_in_flight },

    { "server_drained", "gauge",
      "1 once a drained server has no request in flight.",
      ngx_http_guard_srv_drained },

    { "server_maintenance", "gauge",
      "1 while the server is in maintenance (not checked).",
      ngx_http_guard_srv_maintenance },

    { "server_admin_weight", "gauge",
      "Weight set through the admin API (0: none).",
      ngx_http_guard_srv_admin_weight },

    { "server_admin_version", "gauge",
      "Admin changes of the server so far (If-Match of the admin API).",
      ngx_http_guard_srv_admin_version },

    { "server_drain_duration_seconds", "gauge",
      "How long the last drain took to reach drained (0: not yet).",
      ngx_http_guard_srv_drain_duration },

    { "server_state", "gauge",
      "Summary state for people, as a label; the value is always 1.",
      ngx_http_guard_srv_state },

    { NULL, NULL, NULL, 0 }
};


static const char  *ngx_http_guard_prom_statuses[] = {
    "ok", "degraded", "critical", "panic"
};


ngx_int_t
ngx_http_guard_status_prom(ngx_http_guard_snap_t *snap,
    ngx_http_guard_out_t *out)
{
    u_char                        *p;
    ngx_uint_t                     i, j;
    ngx_http_guard_prom_family_t  *f;
    u_char                         head[65];

    p = ngx_hex_dump(head, snap->audit_head, sizeof(snap->audit_head));
    *p = '\0';

    if (ngx_http_guard_out_printf(out, 4096,
            "# HELP " NGX_HTTP_GUARD_PROM "info Module and nginx versions."
            "\n# TYPE " NGX_HTTP_GUARD_PROM "info gauge\n"
            NGX_HTTP_GUARD_PROM "info{version=\"%s\",nginx=\"%s\"} 1\n"
            "# HELP " NGX_HTTP_GUARD_PROM "zone_size_bytes Size of the "
            "shared zone.\n"
            "# TYPE " NGX_HTTP_GUARD_PROM "zone_size_bytes gauge\n"
            NGX_HTTP_GUARD_PROM "zone_size_bytes %uz\n"
            "# HELP " NGX_HTTP_GUARD_PROM "zone_used_bytes Bytes in use in "
            "the shared zone.\n"
            "# TYPE " NGX_HTTP_GUARD_PROM "zone_used_bytes gauge\n"
            NGX_HTTP_GUARD_PROM "zone_used_bytes %uz\n"
            "# HELP " NGX_HTTP_GUARD_PROM "start_time_seconds When the "
            "shared state was created.\n"
            "# TYPE " NGX_HTTP_GUARD_PROM "start_time_seconds gauge\n"
            NGX_HTTP_GUARD_PROM "start_time_seconds %T\n"
            "# HELP " NGX_HTTP_GUARD_PROM "config_generation Configuration "
            "generation, +1 per start or reload.\n"
            "# TYPE " NGX_HTTP_GUARD_PROM "config_generation gauge\n"
            NGX_HTTP_GUARD_PROM "config_generation %ui\n"
            "# HELP " NGX_HTTP_GUARD_PROM "leader_pid Process that runs the "
            "checks (0: none).\n"
            "# TYPE " NGX_HTTP_GUARD_PROM "leader_pid gauge\n"
            NGX_HTTP_GUARD_PROM "leader_pid %P\n"
            "# HELP " NGX_HTTP_GUARD_PROM "leader_changes_total Changes of "
            "the checking process.\n"
            "# TYPE " NGX_HTTP_GUARD_PROM "leader_changes_total counter\n"
            NGX_HTTP_GUARD_PROM "leader_changes_total %ui\n"
            "# HELP " NGX_HTTP_GUARD_PROM "admin_frozen 1 while the admin "
            "API's freeze refuses every change but resume.\n"
            "# TYPE " NGX_HTTP_GUARD_PROM "admin_frozen gauge\n"
            NGX_HTTP_GUARD_PROM "admin_frozen %ui\n"
            "# HELP " NGX_HTTP_GUARD_PROM "admin_pending_requests Changes "
            "waiting for a second principal.\n"
            "# TYPE " NGX_HTTP_GUARD_PROM "admin_pending_requests gauge\n"
            NGX_HTTP_GUARD_PROM "admin_pending_requests %ui\n"
            "# HELP " NGX_HTTP_GUARD_PROM "audit_sequence Sequence number of "
            "the last audit line.\n"
            "# TYPE " NGX_HTTP_GUARD_PROM "audit_sequence gauge\n"
            NGX_HTTP_GUARD_PROM "audit_sequence %uL\n"
            "# HELP " NGX_HTTP_GUARD_PROM "audit_head_info The MAC of the "
            "last audit line, to compare with the log.\n"
            "# TYPE " NGX_HTTP_GUARD_PROM "audit_head_info gauge\n"
            NGX_HTTP_GUARD_PROM "audit_head_info{seq=\"%uL\",mac=\"%s\"} 1\n",
            NGX_HTTP_GUARD_VERSION, NGINX_VERSION, snap->zone_size,
            snap->zone_used, snap->started, snap->generation,
            snap->leader_pid, snap->leader_changes, snap->frozen,
            snap->nrequests, snap->audit_seq, snap->audit_seq, head)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (f = ngx_http_guard_prom_upstreams; f->name; f++) {

        if (ngx_http_guard_prom_family(out, f) != NGX_OK) {
            return NGX_ERROR;
        }

        for (i = 0; i < snap->nupstreams; i++) {
            if (ngx_http_guard_prom_upstream(out, f, &snap->upstreams[i])
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    for (f = ngx_http_guard_prom_servers; f->name; f++) {

        if (ngx_http_guard_prom_family(out, f) != NGX_OK) {
            return NGX_ERROR;
        }

        for (i = 0; i < snap->nupstreams; i++) {
            for (j = 0; j < snap->upstreams[i].nservers; j++) {
                if (ngx_http_guard_prom_server(out, f, &snap->upstreams[i],
                                               &snap->upstreams[i].servers[j])
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }
            }
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_guard_prom_family(ngx_http_guard_out_t *out,
    ngx_http_guard_prom_family_t *f)
{
    return ngx_http_guard_out_printf(out, 512,
                                     "# HELP " NGX_HTTP_GUARD_PROM "%s %s\n"
                                     "# TYPE " NGX_HTTP_GUARD_PROM "%s %s\n",
                                     f->name, f->help, f->name, f->type);
}


static ngx_int_t
ngx_http_guard_prom_label(ngx_http_guard_out_t *out, const char *name,
    ngx_str_t *value, ngx_uint_t first)
{
    if (ngx_http_guard_out_printf(out, 64, "%s%s=\"", first ? "{" : ",",
                                  name)
        != NGX_OK
        || ngx_http_guard_out_prom(out, value->data, value->len) != NGX_OK
        || ngx_http_guard_out_str(out, "\"") != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_guard_prom_upstream(ngx_http_guard_out_t *out,
    ngx_http_guard_prom_family_t *f, ngx_http_guard_snap_upstream_t *su)
{
    uint64_t    v;
    ngx_str_t   status;
    ngx_uint_t  i;

    if (f->metric == ngx_http_guard_up_status) {

        for (i = 0; i < 4; i++) {
            status.data = (u_char *) ngx_http_guard_prom_statuses[i];
            status.len = ngx_strlen(status.data);

            if (ngx_http_guard_out_str(out, NGX_HTTP_GUARD_PROM) != NGX_OK
                || ngx_http_guard_out_str(out, f->name) != NGX_OK
                || ngx_http_guard_prom_label(out, "upstream", su->name, 1)
                   != NGX_OK
                || ngx_http_guard_prom_label(out, "status", &status, 0)
                   != NGX_OK
                || ngx_http_guard_out_printf(out, 8, "} %d\n",
                                             su->status_rank == i)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        return NGX_OK;
    }

    switch (f->metric) {

    case ngx_http_guard_up_servers:
        v = su->total;
        break;

    case ngx_http_guard_up_healthy:
        v = su->healthy;
        break;

    case ngx_http_guard_up_in_rotation:
        v = su->in_rotation;
        break;

    case ngx_http_guard_up_floor:
        v = su->floor;
        break;

    case ngx_http_guard_up_floor_holds:
        v = (su->in_rotation >= su->floor);
        break;

    case ngx_http_guard_up_standbys_promoted:
        v = su->promoted;
        break;

    case ngx_http_guard_up_draining:
        v = su->draining;
        break;

    case ngx_http_guard_up_fail_open_active:
        v = su->fail_open_active;
        break;

    default: /* ngx_http_guard_up_last_change */
        if (ngx_http_guard_out_str(out, NGX_HTTP_GUARD_PROM) != NGX_OK
            || ngx_http_guard_out_str(out, f->name) != NGX_OK
            || ngx_http_guard_prom_label(out, "upstream", su->name, 1)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        return ngx_http_guard_out_printf(out, 64, "} %uL.%03uL\n",
                                         su->last_change / 1000,
                                         su->last_change % 1000);
    }

    if (ngx_http_guard_out_str(out, NGX_HTTP_GUARD_PROM) != NGX_OK
        || ngx_http_guard_out_str(out, f->name) != NGX_OK
        || ngx_http_guard_prom_label(out, "upstream", su->name, 1) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_guard_out_printf(out, 64, "} %uL\n", v);
}


static ngx_int_t
ngx_http_guard_prom_server(ngx_http_guard_out_t *out,
    ngx_http_guard_prom_family_t *f, ngx_http_guard_snap_upstream_t *su,
    ngx_http_guard_snap_server_t *ss)
{
    uint64_t                     v, ms;
    ngx_str_t                    role, state;
    ngx_http_guard_sh_server_t  *s;

    s = &ss->s;

    role.data = (u_char *) ss->role;
    role.len = ngx_strlen(ss->role);

    if (ngx_http_guard_out_str(out, NGX_HTTP_GUARD_PROM) != NGX_OK
        || ngx_http_guard_out_str(out, f->name) != NGX_OK
        || ngx_http_guard_prom_label(out, "upstream", su->name, 1) != NGX_OK
        || ngx_http_guard_prom_label(out, "server", &ss->gp->peer->server, 0)
           != NGX_OK
        || ngx_http_guard_prom_label(out, "address", &ss->gp->peer->name, 0)
           != NGX_OK
        || ngx_http_guard_prom_label(out, "role", &role, 0) != NGX_OK
        || ngx_http_guard_out_printf(out, 32, ",id=\"%ui\"",
                                     (ngx_uint_t) (ss->gp - su->up->peers))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    ms = 0;
    v = 0;

    switch (f->metric) {

    case ngx_http_guard_srv_state:
        state.data = (u_char *) ss->state;
        state.len = ngx_strlen(ss->state);

        if (ngx_http_guard_prom_label(out, "state", &state, 0) != NGX_OK) {
            return NGX_ERROR;
        }

        v = 1;
        break;

    case ngx_http_guard_srv_in_rotation:
        v = ss->in_rotation;
        break;

    case ngx_http_guard_srv_healthy:
        v = (s->health == NGX_HTTP_GUARD_UP);
        break;

    case ngx_http_guard_srv_checking:
        v = (s->health == NGX_HTTP_GUARD_CHECKING);
        break;

    case ngx_http_guard_srv_config_down:
        v = (ss->gp->cfg_down != 0 && !ngx_http_guard_cfg_drain(ss->gp));
        break;

    case ngx_http_guard_srv_draining:
        v = (s->admin == NGX_HTTP_GUARD_DRAINING
             || ngx_http_guard_cfg_drain(ss->gp));
        break;

    case ngx_http_guard_srv_weight:
        v = ss->gp->cfg_weight;
        break;

    case ngx_http_guard_srv_effective_weight:
        ms = ss->effective_weight;
        goto fraction;

    case ngx_http_guard_srv_agent_weight:
        ms = s->agent_weight;
        goto fraction;

    case ngx_http_guard_srv_checks:
        v = s->checks;
        break;

    case ngx_http_guard_srv_failures:
        v = s->fails;
        break;

    case ngx_http_guard_srv_in_flight:
        v = s->inflight;
        break;

    case ngx_http_guard_srv_drained:
        v = (s->admin == NGX_HTTP_GUARD_DRAINED);
        break;

    case ngx_http_guard_srv_maintenance:
        v = (s->admin == NGX_HTTP_GUARD_MAINTENANCE);
        break;

    case ngx_http_guard_srv_admin_weight:
        v = s->admin_weight;
        break;

    case ngx_http_guard_srv_admin_version:
        v = s->admin_version;
        break;

    case ngx_http_guard_srv_drain_duration:
        ms = (s->drained_at && s->drained_at >= s->drain_started)
             ? s->drained_at - s->drain_started : 0;
        goto fraction;

    case ngx_http_guard_srv_slow_start:
        ms = ss->permille;
        goto fraction;

    case ngx_http_guard_srv_downtime:
        ms = ss->downtime;
        goto fraction;

    case ngx_http_guard_srv_last_check:
        ms = s->last_check;
        goto fraction;

    case ngx_http_guard_srv_last_duration:
        ms = s->last_latency;
        goto fraction;

    default: /* ngx_http_guard_srv_last_change */
        ms = s->last_change;
        goto fraction;
    }

    return ngx_http_guard_out_printf(out, 64, "} %uL\n", v);

fraction:

    /* milliseconds (or thousandths) as a decimal number of seconds */

    return ngx_http_guard_out_printf(out, 64, "} %uL.%03uL\n",
                                     ms / 1000, ms % 1000);
}
