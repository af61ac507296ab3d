
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * The pool report in the Prometheus text exposition format 0.0.4: one
 * family at a time (# HELP, # TYPE, then every sample), one common prefix,
 * labels escaped per the format.  Counters live in shared memory and are
 * kept across reloads.
 *
 * By default a scrape stays small at any number of servers: aggregates
 * per upstream (servers per state, every state always present; checks and
 * failures by reason class; the check interval and timeout, the oldest
 * last check) and one series per server address, whether it is in
 * rotation.  The full per-server detail (every dimension, one 0/1 series
 * per state, counters) comes with ?detail=1 or "guard_status prometheus
 * detail=on".  Detailed series carry the server's position in the
 * upstream ("id", as in the JSON report): two "server" lines with the
 * same address would otherwise make the same series twice.  One alert
 * rule covers every service:
 * nginx_upstream_guard_upstream_in_rotation
 *     < nginx_upstream_guard_upstream_floor
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_guard.h"
#include "ngx_http_guard_status.h"


#define NGX_HTTP_GUARD_PROM  "nginx_upstream_guard_"

/* room for a sample besides its labels: name, extra label, value */
#define NGX_HTTP_GUARD_PROM_SAMPLE  (128 + NGX_INT64_LEN)


/* what a sample's value is */
#define NGX_HTTP_GUARD_PROM_INT     0
#define NGX_HTTP_GUARD_PROM_MILLI   1     /* thousandths, as a decimal */
#define NGX_HTTP_GUARD_PROM_SKIP    2     /* no sample (a time never set) */


typedef struct {
    ngx_uint_t                   kind;
    uint64_t                     v;
} ngx_http_guard_prom_value_t;


typedef void (*ngx_http_guard_prom_up_pt)(ngx_http_guard_snap_upstream_t *su,
    ngx_http_guard_prom_value_t *val);
typedef void (*ngx_http_guard_prom_srv_pt)(ngx_http_guard_snap_server_t *ss,
    ngx_http_guard_prom_value_t *val);


typedef struct {
    const char                  *name;
    const char                  *type;
    const char                  *help;
    void                        *get;     /* _up_pt or _srv_pt */
    ngx_uint_t                   detail;  /* only with ?detail=1 */
} ngx_http_guard_prom_family_t;


/* the labels of every upstream and server, escaped once per scrape */
typedef struct {
    ngx_http_guard_snap_t       *snap;
    ngx_str_t                   *up;       /* {upstream="..." */
    ngx_str_t                  **srv;      /* per upstream, per server */
    ngx_http_guard_out_t        *out;
} ngx_http_guard_prom_ctx_t;


static ngx_int_t ngx_http_guard_prom_labels(ngx_http_guard_prom_ctx_t *ctx);
static ngx_int_t ngx_http_guard_prom_family(ngx_http_guard_out_t *out,
    ngx_http_guard_prom_family_t *f);
static ngx_int_t ngx_http_guard_prom_sample(ngx_http_guard_out_t *out,
    const char *name, ngx_str_t *labels, const char *extra,
    ngx_http_guard_prom_value_t *val);
static ngx_int_t ngx_http_guard_prom_upstreams(ngx_http_guard_prom_ctx_t *ctx);
static ngx_int_t ngx_http_guard_prom_servers(ngx_http_guard_prom_ctx_t *ctx);
static ngx_int_t ngx_http_guard_prom_by(ngx_http_guard_prom_ctx_t *ctx,
    ngx_http_guard_prom_family_t *f, ngx_uint_t servers, ngx_uint_t what);

static void ngx_http_guard_prom_up_servers(ngx_http_guard_snap_upstream_t *su,
    ngx_http_guard_prom_value_t *val);
static void ngx_http_guard_prom_up_healthy(ngx_http_guard_snap_upstream_t *su,
    ngx_http_guard_prom_value_t *val);
static void ngx_http_guard_prom_up_in_rotation(
    ngx_http_guard_snap_upstream_t *su, ngx_http_guard_prom_value_t *val);
static void ngx_http_guard_prom_up_floor(ngx_http_guard_snap_upstream_t *su,
    ngx_http_guard_prom_value_t *val);
static void ngx_http_guard_prom_up_floor_holds(
    ngx_http_guard_snap_upstream_t *su, ngx_http_guard_prom_value_t *val);
static void ngx_http_guard_prom_up_promoted(ngx_http_guard_snap_upstream_t *su,
    ngx_http_guard_prom_value_t *val);
static void ngx_http_guard_prom_up_draining(ngx_http_guard_snap_upstream_t *su,
    ngx_http_guard_prom_value_t *val);
static void ngx_http_guard_prom_up_fail_open(
    ngx_http_guard_snap_upstream_t *su, ngx_http_guard_prom_value_t *val);
static void ngx_http_guard_prom_up_interval(ngx_http_guard_snap_upstream_t *su,
    ngx_http_guard_prom_value_t *val);
static void ngx_http_guard_prom_up_timeout(ngx_http_guard_snap_upstream_t *su,
    ngx_http_guard_prom_value_t *val);
static void ngx_http_guard_prom_up_oldest(ngx_http_guard_snap_upstream_t *su,
    ngx_http_guard_prom_value_t *val);
static void ngx_http_guard_prom_up_last_change(
    ngx_http_guard_snap_upstream_t *su, ngx_http_guard_prom_value_t *val);
static void ngx_http_guard_prom_up_checks(ngx_http_guard_snap_upstream_t *su,
    ngx_http_guard_prom_value_t *val);
static void ngx_http_guard_prom_up_downs(ngx_http_guard_snap_upstream_t *su,
    ngx_http_guard_prom_value_t *val);

static void ngx_http_guard_prom_srv_in_rotation(
    ngx_http_guard_snap_server_t *ss, ngx_http_guard_prom_value_t *val);
static void ngx_http_guard_prom_srv_healthy(ngx_http_guard_snap_server_t *ss,
    ngx_http_guard_prom_value_t *val);
static void ngx_http_guard_prom_srv_checking(ngx_http_guard_snap_server_t *ss,
    ngx_http_guard_prom_value_t *val);
static void ngx_http_guard_prom_srv_config_down(
    ngx_http_guard_snap_server_t *ss, ngx_http_guard_prom_value_t *val);
static void ngx_http_guard_prom_srv_draining(ngx_http_guard_snap_server_t *ss,
    ngx_http_guard_prom_value_t *val);
static void ngx_http_guard_prom_srv_weight(ngx_http_guard_snap_server_t *ss,
    ngx_http_guard_prom_value_t *val);
static void ngx_http_guard_prom_srv_effective_weight(
    ngx_http_guard_snap_server_t *ss, ngx_http_guard_prom_value_t *val);
static void ngx_http_guard_prom_srv_agent_weight(
    ngx_http_guard_snap_server_t *ss, ngx_http_guard_prom_value_t *val);
static void ngx_http_guard_prom_srv_slow_start(
    ngx_http_guard_snap_server_t *ss, ngx_http_guard_prom_value_t *val);
static void ngx_http_guard_prom_srv_checks(ngx_http_guard_snap_server_t *ss,
    ngx_http_guard_prom_value_t *val);
static void ngx_http_guard_prom_srv_downs(ngx_http_guard_snap_server_t *ss,
    ngx_http_guard_prom_value_t *val);
static void ngx_http_guard_prom_srv_downtime(ngx_http_guard_snap_server_t *ss,
    ngx_http_guard_prom_value_t *val);
static void ngx_http_guard_prom_srv_last_check(
    ngx_http_guard_snap_server_t *ss, ngx_http_guard_prom_value_t *val);
static void ngx_http_guard_prom_srv_last_duration(
    ngx_http_guard_snap_server_t *ss, ngx_http_guard_prom_value_t *val);
static void ngx_http_guard_prom_srv_last_change(
    ngx_http_guard_snap_server_t *ss, ngx_http_guard_prom_value_t *val);
static void ngx_http_guard_prom_srv_in_flight(ngx_http_guard_snap_server_t *ss,
    ngx_http_guard_prom_value_t *val);
static void ngx_http_guard_prom_srv_drained(ngx_http_guard_snap_server_t *ss,
    ngx_http_guard_prom_value_t *val);
static void ngx_http_guard_prom_srv_maintenance(
    ngx_http_guard_snap_server_t *ss, ngx_http_guard_prom_value_t *val);
static void ngx_http_guard_prom_srv_admin_weight(
    ngx_http_guard_snap_server_t *ss, ngx_http_guard_prom_value_t *val);
static void ngx_http_guard_prom_srv_admin_version(
    ngx_http_guard_snap_server_t *ss, ngx_http_guard_prom_value_t *val);
static void ngx_http_guard_prom_srv_drain_duration(
    ngx_http_guard_snap_server_t *ss, ngx_http_guard_prom_value_t *val);


static ngx_http_guard_prom_family_t  ngx_http_guard_prom_up_families[] = {

    { "upstream_servers", "gauge",
      "Servers of the upstream (primaries, standbys and backups).",
      ngx_http_guard_prom_up_servers, 0 },

    { "upstream_healthy_servers", "gauge",
      "Servers whose health is up.",
      ngx_http_guard_prom_up_healthy, 0 },

    { "upstream_in_rotation", "gauge",
      "Servers eligible for new requests (primaries and promoted "
      "standbys; backups when no primary can serve).",
      ngx_http_guard_prom_up_in_rotation, 0 },

    { "upstream_floor", "gauge",
      "The fewest servers that must be in rotation (guard_floor).",
      ngx_http_guard_prom_up_floor, 0 },

    { "upstream_floor_holds", "gauge",
      "1 when in_rotation >= floor.",
      ngx_http_guard_prom_up_floor_holds, 1 },

    { "upstream_standbys_promoted", "gauge",
      "Standby servers in rotation now.",
      ngx_http_guard_prom_up_promoted, 1 },

    { "upstream_draining_servers", "gauge",
      "Servers being drained.",
      ngx_http_guard_prom_up_draining, 1 },

    { "upstream_fail_open_active", "gauge",
      "1 when nothing is in rotation and fail open routes over all "
      "servers.",
      ngx_http_guard_prom_up_fail_open, 0 },

    { "upstream_check_interval_seconds", "gauge",
      "Time between two checks of a server (guard_check interval=).",
      ngx_http_guard_prom_up_interval, 0 },

    { "upstream_check_timeout_seconds", "gauge",
      "Time one check may take (guard_check timeout=); a server that "
      "hangs is checked once per timeout when it is longer than the "
      "interval.",
      ngx_http_guard_prom_up_timeout, 0 },

    { "upstream_oldest_check_timestamp_seconds", "gauge",
      "End of the oldest last check of the upstream's servers (those "
      "checked, not in maintenance): every one was checked since. Absent "
      "before the first result.",
      ngx_http_guard_prom_up_oldest, 0 },

    { "upstream_last_change_timestamp_seconds", "gauge",
      "Time of the last health change in the upstream; absent while none "
      "happened since the upstream was added.",
      ngx_http_guard_prom_up_last_change, 0 },

    { "upstream_checks_total", "counter",
      "Health checks run, over the upstream's current servers.",
      ngx_http_guard_prom_up_checks, 0 },

    { "upstream_down_transitions_total", "counter",
      "Times a server of the upstream went from up to down (flapping), "
      "over its current servers.",
      ngx_http_guard_prom_up_downs, 0 },

    { NULL, NULL, NULL, NULL, 0 }
};


/* per server, with ?detail=1; in compact output only the first */

static ngx_http_guard_prom_family_t  ngx_http_guard_prom_srv_families[] = {

    { "server_in_rotation", "gauge",
      "1 when the server is eligible for new requests.",
      ngx_http_guard_prom_srv_in_rotation, 0 },

    { "server_healthy", "gauge",
      "1 when the server's health is up.",
      ngx_http_guard_prom_srv_healthy, 0 },

    { "server_checking", "gauge",
      "1 while the server has no check result yet.",
      ngx_http_guard_prom_srv_checking, 0 },

    { "server_config_down", "gauge",
      "1 when nginx's configuration marks the server down.",
      ngx_http_guard_prom_srv_config_down, 0 },

    { "server_draining", "gauge",
      "1 while the server is being drained (also nginx's drain).",
      ngx_http_guard_prom_srv_draining, 0 },

    { "server_weight", "gauge",
      "Configured weight.",
      ngx_http_guard_prom_srv_weight, 0 },

    { "server_effective_weight", "gauge",
      "Weight in use: agent weight and slow-start ramp applied.",
      ngx_http_guard_prom_srv_effective_weight, 0 },

    { "server_agent_weight", "gauge",
      "Weight reported by the server's agent, bounded (0: none).",
      ngx_http_guard_prom_srv_agent_weight, 0 },

    { "server_slow_start_ratio", "gauge",
      "Slow-start progress from 0 to 1 (1: done or none).",
      ngx_http_guard_prom_srv_slow_start, 0 },

    { "server_checks_total", "counter",
      "Health checks run.",
      ngx_http_guard_prom_srv_checks, 0 },

    { "server_down_transitions_total", "counter",
      "Times the server went from up to down (flapping).",
      ngx_http_guard_prom_srv_downs, 0 },

    { "server_downtime_seconds_total", "counter",
      "Time the server's health was down.",
      ngx_http_guard_prom_srv_downtime, 0 },

    { "server_last_check_timestamp_seconds", "gauge",
      "End of the last check; absent before the first.",
      ngx_http_guard_prom_srv_last_check, 0 },

    { "server_last_check_duration_seconds", "gauge",
      "Duration of the last check; absent before the first.",
      ngx_http_guard_prom_srv_last_duration, 0 },

    { "server_last_change_timestamp_seconds", "gauge",
      "Time of the last health change; absent while none happened since "
      "the server was added.",
      ngx_http_guard_prom_srv_last_change, 0 },

    { "server_in_flight", "gauge",
      "Requests in flight to the server, across workers and reloads.",
      ngx_http_guard_prom_srv_in_flight, 0 },

    { "server_drained", "gauge",
      "1 once a drained server has no request in flight.",
      ngx_http_guard_prom_srv_drained, 0 },

    { "server_maintenance", "gauge",
      "1 while the server is in maintenance (not checked).",
      ngx_http_guard_prom_srv_maintenance, 0 },

    { "server_admin_weight", "gauge",
      "Weight set through the admin API (0: none).",
      ngx_http_guard_prom_srv_admin_weight, 0 },

    { "server_admin_version", "gauge",
      "Admin changes of the server so far (If-Match of the admin API).",
      ngx_http_guard_prom_srv_admin_version, 0 },

    { "server_drain_duration_seconds", "gauge",
      "How long the last drain took to reach drained (0: not yet).",
      ngx_http_guard_prom_srv_drain_duration, 0 },

    { NULL, NULL, NULL, NULL, 0 }
};


/* families of one series per status, state or reason class */

#define NGX_HTTP_GUARD_PROM_STATUS    0
#define NGX_HTTP_GUARD_PROM_STATES    1
#define NGX_HTTP_GUARD_PROM_FAILURES  2

static ngx_http_guard_prom_family_t  ngx_http_guard_prom_up_status = {
    "upstream_status", "gauge",
    "Pool status: 1 for the current one of ok, degraded, critical, panic.",
    NULL, 0
};

static ngx_http_guard_prom_family_t  ngx_http_guard_prom_up_states = {
    "upstream_state_servers", "gauge",
    "Servers in each summary state; every state is always present "
    "(untracked: the zone had no room, never checked).",
    NULL, 0
};

static ngx_http_guard_prom_family_t  ngx_http_guard_prom_up_failures = {
    "upstream_check_failures_total", "counter",
    "Failed health checks by reason class, over the upstream's current "
    "servers; a class appears at its first failure.",
    NULL, 0
};

static ngx_http_guard_prom_family_t  ngx_http_guard_prom_srv_states = {
    "server_state", "gauge",
    "1 for the server's summary state, 0 for every other state.",
    NULL, 0
};

static ngx_http_guard_prom_family_t  ngx_http_guard_prom_srv_failures = {
    "server_check_failures_total", "counter",
    "Failed health checks by reason class; a class appears at its first "
    "failure.",
    NULL, 0
};


static const char  *ngx_http_guard_prom_statuses[] = {
    "ok", "degraded", "critical", "panic"
};


ngx_int_t
ngx_http_guard_status_prom(ngx_http_guard_snap_t *snap,
    ngx_http_guard_out_t *out)
{
    u_char                     *p;
    ngx_http_guard_prom_ctx_t   ctx;
    u_char                      head[65];

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
            "# HELP " NGX_HTTP_GUARD_PROM "leader_takeovers_total Times "
            "another process took over the checks (reloads, crashes); the "
            "first to take them is none.\n"
            "# TYPE " NGX_HTTP_GUARD_PROM "leader_takeovers_total counter\n"
            NGX_HTTP_GUARD_PROM "leader_takeovers_total %ui\n"
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
            snap->leader_pid, snap->takeovers, snap->frozen,
            snap->nrequests, snap->audit_seq, snap->audit_seq, head)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ctx.snap = snap;
    ctx.out = out;

    if (ngx_http_guard_prom_labels(&ctx) != NGX_OK
        || ngx_http_guard_prom_upstreams(&ctx) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_guard_prom_servers(&ctx);
}


/*
 * The labels of every sample, escaped once: {upstream="..." for an
 * upstream; for a server, with ,server="ADDRESS" (compact), or with
 * ,server="AS WRITTEN",address=..,role=..,id=.. (detail).  Compact
 * output has one series per address: of the lines with one address in an
 * upstream, the first in rotation (or else the first) gets them, the
 * others none (len 0).  The lines share one slot, so their check
 * counters are the same.
 */

static ngx_int_t
ngx_http_guard_prom_labels(ngx_http_guard_prom_ctx_t *ctx)
{
    u_char                          *p;
    size_t                           len;
    uint32_t                         hash;
    ngx_uint_t                       i, j, k, h, mask, *seen;
    ngx_str_t                       *l, *name;
    ngx_http_guard_snap_t           *snap;
    ngx_http_guard_snap_server_t    *ss;
    ngx_http_guard_snap_upstream_t  *su;
    ngx_http_upstream_rr_peer_t     *peer;

    snap = ctx->snap;

    ctx->up = ngx_http_guard_out_alloc(ctx->out, (snap->nupstreams + 1)
                                                 * sizeof(ngx_str_t));
    ctx->srv = ngx_http_guard_out_alloc(ctx->out, (snap->nupstreams + 1)
                                                  * sizeof(ngx_str_t *));

    if (ctx->up == NULL || ctx->srv == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < snap->nupstreams; i++) {
        su = &snap->upstreams[i];
        l = &ctx->up[i];

        l->data = ngx_http_guard_out_alloc(ctx->out,
                                           sizeof("{upstream=\"\"") - 1
                                           + su->name->len * 3);
        if (l->data == NULL) {
            return NGX_ERROR;
        }

        p = ngx_http_guard_put_lit(l->data, "{upstream=\"");
        p = ngx_http_guard_put_prom(p, su->name->data, su->name->len);
        *p++ = '"';
        l->len = p - l->data;

        ctx->srv[i] = ngx_http_guard_out_alloc(ctx->out, (su->nservers + 1)
                                                         * sizeof(ngx_str_t));
        if (ctx->srv[i] == NULL) {
            return NGX_ERROR;
        }

        mask = 0;
        seen = NULL;

        if (!snap->detail && su->nservers > 1) {
            for (mask = 1; mask < su->nservers * 2; mask <<= 1) {
                /* void */
            }

            seen = ngx_http_guard_out_alloc(ctx->out,
                                            mask * sizeof(ngx_uint_t));
            if (seen == NULL) {
                return NGX_ERROR;
            }

            ngx_memzero(seen, mask * sizeof(ngx_uint_t));

            mask--;
        }

        for (j = 0; j < su->nservers; j++) {
            ss = &su->servers[j];
            peer = ss->gp->peer;

            if (!snap->detail) {
                name = &peer->name;

                if (seen) {
                    hash = ngx_crc32_short(name->data, name->len);

                    for (h = hash & mask; seen[h]; h = (h + 1) & mask) {
                        if (su->servers[seen[h] - 1].gp->peer->name.len
                                == name->len
                            && ngx_memcmp(
                                   su->servers[seen[h] - 1].gp->peer->name.data,
                                   name->data, name->len)
                               == 0)
                        {
                            break;
                        }
                    }

                    if (seen[h]) {
                        k = seen[h] - 1;

                        /*
                         * the address serves if any of its lines does:
                         * the series come from a line in rotation
                         */

                        if (ss->in_rotation && !su->servers[k].in_rotation) {
                            ctx->srv[i][j] = ctx->srv[i][k];
                            ngx_str_null(&ctx->srv[i][k]);
                            seen[h] = j + 1;

                        } else {
                            ngx_str_null(&ctx->srv[i][j]);
                        }

                        continue;
                    }

                    seen[h] = j + 1;
                }

                len = l->len + sizeof(",server=\"\"") - 1 + name->len * 3;

            } else {
                len = l->len + sizeof(",server=\"\",address=\"\",role=\"\","
                                      "id=\"\"") - 1
                      + (peer->server.len + peer->name.len) * 3 + 16
                      + NGX_INT_T_LEN;
            }

            p = ngx_http_guard_out_alloc(ctx->out, len);
            if (p == NULL) {
                return NGX_ERROR;
            }

            ctx->srv[i][j].data = p;

            p = ngx_cpymem(p, l->data, l->len);
            p = ngx_http_guard_put_lit(p, ",server=\"");

            if (!snap->detail) {
                p = ngx_http_guard_put_prom(p, peer->name.data,
                                            peer->name.len);
                *p++ = '"';

            } else {
                p = ngx_http_guard_put_prom(p, peer->server.data,
                                            peer->server.len);
                p = ngx_http_guard_put_lit(p, "\",address=\"");
                p = ngx_http_guard_put_prom(p, peer->name.data,
                                            peer->name.len);
                p = ngx_http_guard_put_lit(p, "\",role=\"");
                p = ngx_cpymem(p, ss->role, ngx_strlen(ss->role));
                p = ngx_http_guard_put_lit(p, "\",id=\"");
                p = ngx_http_guard_put_uint(p, ss->gp - su->up->peers);
                *p++ = '"';
            }

            ctx->srv[i][j].len = p - ctx->srv[i][j].data;
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


/* PREFIXname{labels[,key="value"]} value */

static ngx_int_t
ngx_http_guard_prom_sample(ngx_http_guard_out_t *out, const char *name,
    ngx_str_t *labels, const char *extra, ngx_http_guard_prom_value_t *val)
{
    u_char  *p;

    if (val->kind == NGX_HTTP_GUARD_PROM_SKIP || labels->len == 0) {
        return NGX_OK;
    }

    p = ngx_http_guard_out_reserve(out, labels->len
                                        + NGX_HTTP_GUARD_PROM_SAMPLE);
    if (p == NULL) {
        return NGX_ERROR;
    }

    p = ngx_http_guard_put_lit(p, NGX_HTTP_GUARD_PROM);

    while (*name) {
        *p++ = *name++;
    }

    p = ngx_cpymem(p, labels->data, labels->len);

    if (extra) {
        while (*extra) {
            *p++ = *extra++;
        }
    }

    *p++ = '}';
    *p++ = ' ';

    p = (val->kind == NGX_HTTP_GUARD_PROM_MILLI && val->v % 1000)
        ? ngx_http_guard_put_milli(p, val->v)
        : ngx_http_guard_put_uint(p, val->kind == NGX_HTTP_GUARD_PROM_MILLI
                                     ? val->v / 1000 : val->v);

    *p++ = '\n';

    out->b->last = p;

    return NGX_OK;
}


static ngx_int_t
ngx_http_guard_prom_upstreams(ngx_http_guard_prom_ctx_t *ctx)
{
    ngx_uint_t                     i;
    ngx_http_guard_snap_t         *snap;
    ngx_http_guard_prom_value_t    val;
    ngx_http_guard_prom_family_t  *f;
    ngx_http_guard_prom_up_pt      get;

    snap = ctx->snap;

    for (f = ngx_http_guard_prom_up_families; f->name; f++) {

        if (f->detail && !snap->detail) {
            continue;
        }

        if (ngx_http_guard_prom_family(ctx->out, f) != NGX_OK) {
            return NGX_ERROR;
        }

        get = (ngx_http_guard_prom_up_pt) f->get;

        for (i = 0; i < snap->nupstreams; i++) {
            get(&snap->upstreams[i], &val);

            if (ngx_http_guard_prom_sample(ctx->out, f->name, &ctx->up[i],
                                           NULL, &val)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    if (ngx_http_guard_prom_by(ctx, &ngx_http_guard_prom_up_status, 0,
                               NGX_HTTP_GUARD_PROM_STATUS)
        != NGX_OK
        || ngx_http_guard_prom_by(ctx, &ngx_http_guard_prom_up_states, 0,
                                  NGX_HTTP_GUARD_PROM_STATES)
           != NGX_OK
        || ngx_http_guard_prom_by(ctx, &ngx_http_guard_prom_up_failures, 0,
                                  NGX_HTTP_GUARD_PROM_FAILURES)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_guard_prom_servers(ngx_http_guard_prom_ctx_t *ctx)
{
    ngx_uint_t                       i, j;
    ngx_http_guard_snap_t           *snap;
    ngx_http_guard_prom_value_t      val;
    ngx_http_guard_prom_family_t    *f;
    ngx_http_guard_prom_srv_pt       get;
    ngx_http_guard_snap_upstream_t  *su;

    snap = ctx->snap;

    for (f = ngx_http_guard_prom_srv_families; f->name; f++) {

        if (ngx_http_guard_prom_family(ctx->out, f) != NGX_OK) {
            return NGX_ERROR;
        }

        get = (ngx_http_guard_prom_srv_pt) f->get;

        for (i = 0; i < snap->nupstreams; i++) {
            su = &snap->upstreams[i];

            for (j = 0; j < su->nservers; j++) {
                get(&su->servers[j], &val);

                if (ngx_http_guard_prom_sample(ctx->out, f->name,
                                               &ctx->srv[i][j], NULL, &val)
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }
            }
        }

        if (!snap->detail) {
            /* compact: whether each address is in rotation, no more */
            return NGX_OK;
        }
    }

    if (ngx_http_guard_prom_by(ctx, &ngx_http_guard_prom_srv_states, 1,
                               NGX_HTTP_GUARD_PROM_STATES)
        != NGX_OK
        || ngx_http_guard_prom_by(ctx, &ngx_http_guard_prom_srv_failures, 1,
                                  NGX_HTTP_GUARD_PROM_FAILURES)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * A family with one series per status, state or reason class of each
 * upstream (servers 0) or server (servers 1): statuses and states always
 * all present, 0 or the count; reason classes from their first failure.
 */

static ngx_int_t
ngx_http_guard_prom_by(ngx_http_guard_prom_ctx_t *ctx,
    ngx_http_guard_prom_family_t *f, ngx_uint_t servers, ngx_uint_t what)
{
    u_char                          *p;
    ngx_uint_t                       i, j, k, n;
    ngx_str_t                       *labels;
    ngx_http_guard_snap_t           *snap;
    ngx_http_guard_prom_value_t      val;
    ngx_http_guard_snap_server_t    *ss;
    ngx_http_guard_snap_upstream_t  *su;
    u_char                           extra[16][32];

    static const char  *keys[] = { ",status=\"", ",state=\"", ",reason=\"" };

    switch (what) {

    case NGX_HTTP_GUARD_PROM_STATUS:
        n = 4;
        break;

    case NGX_HTTP_GUARD_PROM_STATES:
        n = NGX_HTTP_GUARD_STATES;
        break;

    default: /* NGX_HTTP_GUARD_PROM_FAILURES */
        n = NGX_HTTP_GUARD_REASONS;
    }

    /* the extra labels: constant names that need no escaping */

    for (k = 0; k < n; k++) {
        p = ngx_cpystrn(extra[k], (u_char *) keys[what], 16);
        p = ngx_cpystrn(p, (u_char *) (what == NGX_HTTP_GUARD_PROM_STATUS
                                       ? ngx_http_guard_prom_statuses[k]
                                       : what == NGX_HTTP_GUARD_PROM_STATES
                                       ? ngx_http_guard_state_names[k]
                                       : ngx_http_guard_reason_names[k]),
                        14);
        *p++ = '"';
        *p = '\0';
    }

    if (ngx_http_guard_prom_family(ctx->out, f) != NGX_OK) {
        return NGX_ERROR;
    }

    snap = ctx->snap;
    val.kind = NGX_HTTP_GUARD_PROM_INT;

    for (i = 0; i < snap->nupstreams; i++) {
        su = &snap->upstreams[i];

        for (j = 0; j < (servers ? su->nservers : 1); j++) {
            ss = servers ? &su->servers[j] : NULL;
            labels = servers ? &ctx->srv[i][j] : &ctx->up[i];

            for (k = 0; k < n; k++) {

                switch (what) {

                case NGX_HTTP_GUARD_PROM_STATUS:
                    val.v = (su->status_rank == k);
                    break;

                case NGX_HTTP_GUARD_PROM_STATES:
                    val.v = ss ? (ss->st == k) : su->states[k];
                    break;

                default: /* NGX_HTTP_GUARD_PROM_FAILURES */
                    val.v = ss ? ss->fails_by[k] : su->fails_by[k];

                    if (val.v == 0) {
                        continue;
                    }
                }

                if (ngx_http_guard_prom_sample(ctx->out, f->name, labels,
                                               (char *) extra[k], &val)
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }
            }
        }
    }

    return NGX_OK;
}


/* the value of each family, per upstream */

static void
ngx_http_guard_prom_up_servers(ngx_http_guard_snap_upstream_t *su,
    ngx_http_guard_prom_value_t *val)
{
    val->kind = NGX_HTTP_GUARD_PROM_INT;
    val->v = su->total;
}


static void
ngx_http_guard_prom_up_healthy(ngx_http_guard_snap_upstream_t *su,
    ngx_http_guard_prom_value_t *val)
{
    val->kind = NGX_HTTP_GUARD_PROM_INT;
    val->v = su->healthy;
}


static void
ngx_http_guard_prom_up_in_rotation(ngx_http_guard_snap_upstream_t *su,
    ngx_http_guard_prom_value_t *val)
{
    val->kind = NGX_HTTP_GUARD_PROM_INT;
    val->v = su->in_rotation;
}


static void
ngx_http_guard_prom_up_floor(ngx_http_guard_snap_upstream_t *su,
    ngx_http_guard_prom_value_t *val)
{
    val->kind = NGX_HTTP_GUARD_PROM_INT;
    val->v = su->floor;
}


static void
ngx_http_guard_prom_up_floor_holds(ngx_http_guard_snap_upstream_t *su,
    ngx_http_guard_prom_value_t *val)
{
    val->kind = NGX_HTTP_GUARD_PROM_INT;
    val->v = (su->in_rotation >= su->floor);
}


static void
ngx_http_guard_prom_up_promoted(ngx_http_guard_snap_upstream_t *su,
    ngx_http_guard_prom_value_t *val)
{
    val->kind = NGX_HTTP_GUARD_PROM_INT;
    val->v = su->promoted;
}


static void
ngx_http_guard_prom_up_draining(ngx_http_guard_snap_upstream_t *su,
    ngx_http_guard_prom_value_t *val)
{
    val->kind = NGX_HTTP_GUARD_PROM_INT;
    val->v = su->draining;
}


static void
ngx_http_guard_prom_up_fail_open(ngx_http_guard_snap_upstream_t *su,
    ngx_http_guard_prom_value_t *val)
{
    val->kind = NGX_HTTP_GUARD_PROM_INT;
    val->v = su->fail_open_active;
}


static void
ngx_http_guard_prom_up_interval(ngx_http_guard_snap_upstream_t *su,
    ngx_http_guard_prom_value_t *val)
{
    val->kind = NGX_HTTP_GUARD_PROM_MILLI;
    val->v = su->up->conf->interval;
}


static void
ngx_http_guard_prom_up_timeout(ngx_http_guard_snap_upstream_t *su,
    ngx_http_guard_prom_value_t *val)
{
    val->kind = NGX_HTTP_GUARD_PROM_MILLI;
    val->v = su->up->conf->timeout;
}


static void
ngx_http_guard_prom_up_oldest(ngx_http_guard_snap_upstream_t *su,
    ngx_http_guard_prom_value_t *val)
{
    val->kind = su->oldest_check ? NGX_HTTP_GUARD_PROM_MILLI
                                 : NGX_HTTP_GUARD_PROM_SKIP;
    val->v = su->oldest_check;
}


static void
ngx_http_guard_prom_up_last_change(ngx_http_guard_snap_upstream_t *su,
    ngx_http_guard_prom_value_t *val)
{
    val->kind = su->last_change ? NGX_HTTP_GUARD_PROM_MILLI
                                : NGX_HTTP_GUARD_PROM_SKIP;
    val->v = su->last_change;
}


static void
ngx_http_guard_prom_up_checks(ngx_http_guard_snap_upstream_t *su,
    ngx_http_guard_prom_value_t *val)
{
    val->kind = NGX_HTTP_GUARD_PROM_INT;
    val->v = su->checks;
}


static void
ngx_http_guard_prom_up_downs(ngx_http_guard_snap_upstream_t *su,
    ngx_http_guard_prom_value_t *val)
{
    val->kind = NGX_HTTP_GUARD_PROM_INT;
    val->v = su->downs;
}


/* the value of each family, per server */

static void
ngx_http_guard_prom_srv_in_rotation(ngx_http_guard_snap_server_t *ss,
    ngx_http_guard_prom_value_t *val)
{
    val->kind = NGX_HTTP_GUARD_PROM_INT;
    val->v = ss->in_rotation;
}


static void
ngx_http_guard_prom_srv_healthy(ngx_http_guard_snap_server_t *ss,
    ngx_http_guard_prom_value_t *val)
{
    val->kind = NGX_HTTP_GUARD_PROM_INT;
    val->v = (ss->health_id == NGX_HTTP_GUARD_UP);
}


static void
ngx_http_guard_prom_srv_checking(ngx_http_guard_snap_server_t *ss,
    ngx_http_guard_prom_value_t *val)
{
    val->kind = NGX_HTTP_GUARD_PROM_INT;
    val->v = (ss->health_id == NGX_HTTP_GUARD_CHECKING);
}


static void
ngx_http_guard_prom_srv_config_down(ngx_http_guard_snap_server_t *ss,
    ngx_http_guard_prom_value_t *val)
{
    val->kind = NGX_HTTP_GUARD_PROM_INT;
    val->v = (ss->gp->cfg_down != 0 && !ngx_http_guard_cfg_drain(ss->gp));
}


static void
ngx_http_guard_prom_srv_draining(ngx_http_guard_snap_server_t *ss,
    ngx_http_guard_prom_value_t *val)
{
    val->kind = NGX_HTTP_GUARD_PROM_INT;
    val->v = (ss->admin_id == NGX_HTTP_GUARD_DRAINING
              || ngx_http_guard_cfg_drain(ss->gp));
}


static void
ngx_http_guard_prom_srv_weight(ngx_http_guard_snap_server_t *ss,
    ngx_http_guard_prom_value_t *val)
{
    val->kind = NGX_HTTP_GUARD_PROM_INT;
    val->v = ss->gp->cfg_weight;
}


static void
ngx_http_guard_prom_srv_effective_weight(ngx_http_guard_snap_server_t *ss,
    ngx_http_guard_prom_value_t *val)
{
    val->kind = NGX_HTTP_GUARD_PROM_MILLI;
    val->v = ss->effective_weight;
}


static void
ngx_http_guard_prom_srv_agent_weight(ngx_http_guard_snap_server_t *ss,
    ngx_http_guard_prom_value_t *val)
{
    val->kind = NGX_HTTP_GUARD_PROM_MILLI;
    val->v = ss->agent_weight;
}


static void
ngx_http_guard_prom_srv_slow_start(ngx_http_guard_snap_server_t *ss,
    ngx_http_guard_prom_value_t *val)
{
    val->kind = NGX_HTTP_GUARD_PROM_MILLI;
    val->v = ss->permille;
}


static void
ngx_http_guard_prom_srv_checks(ngx_http_guard_snap_server_t *ss,
    ngx_http_guard_prom_value_t *val)
{
    val->kind = NGX_HTTP_GUARD_PROM_INT;
    val->v = ss->checks;
}


static void
ngx_http_guard_prom_srv_downs(ngx_http_guard_snap_server_t *ss,
    ngx_http_guard_prom_value_t *val)
{
    val->kind = NGX_HTTP_GUARD_PROM_INT;
    val->v = ss->downs;
}


static void
ngx_http_guard_prom_srv_downtime(ngx_http_guard_snap_server_t *ss,
    ngx_http_guard_prom_value_t *val)
{
    val->kind = NGX_HTTP_GUARD_PROM_MILLI;
    val->v = ss->downtime;
}


static void
ngx_http_guard_prom_srv_last_check(ngx_http_guard_snap_server_t *ss,
    ngx_http_guard_prom_value_t *val)
{
    val->kind = ss->last_check ? NGX_HTTP_GUARD_PROM_MILLI
                               : NGX_HTTP_GUARD_PROM_SKIP;
    val->v = ss->last_check;
}


static void
ngx_http_guard_prom_srv_last_duration(ngx_http_guard_snap_server_t *ss,
    ngx_http_guard_prom_value_t *val)
{
    val->kind = ss->last_check ? NGX_HTTP_GUARD_PROM_MILLI
                               : NGX_HTTP_GUARD_PROM_SKIP;
    val->v = ss->last_latency;
}


static void
ngx_http_guard_prom_srv_last_change(ngx_http_guard_snap_server_t *ss,
    ngx_http_guard_prom_value_t *val)
{
    val->kind = ss->last_change ? NGX_HTTP_GUARD_PROM_MILLI
                                : NGX_HTTP_GUARD_PROM_SKIP;
    val->v = ss->last_change;
}


static void
ngx_http_guard_prom_srv_in_flight(ngx_http_guard_snap_server_t *ss,
    ngx_http_guard_prom_value_t *val)
{
    val->kind = NGX_HTTP_GUARD_PROM_INT;
    val->v = ss->inflight;
}


static void
ngx_http_guard_prom_srv_drained(ngx_http_guard_snap_server_t *ss,
    ngx_http_guard_prom_value_t *val)
{
    val->kind = NGX_HTTP_GUARD_PROM_INT;
    val->v = (ss->admin_id == NGX_HTTP_GUARD_DRAINED);
}


static void
ngx_http_guard_prom_srv_maintenance(ngx_http_guard_snap_server_t *ss,
    ngx_http_guard_prom_value_t *val)
{
    val->kind = NGX_HTTP_GUARD_PROM_INT;
    val->v = (ss->admin_id == NGX_HTTP_GUARD_MAINTENANCE);
}


static void
ngx_http_guard_prom_srv_admin_weight(ngx_http_guard_snap_server_t *ss,
    ngx_http_guard_prom_value_t *val)
{
    val->kind = NGX_HTTP_GUARD_PROM_INT;
    val->v = ss->admin_weight;
}


static void
ngx_http_guard_prom_srv_admin_version(ngx_http_guard_snap_server_t *ss,
    ngx_http_guard_prom_value_t *val)
{
    val->kind = NGX_HTTP_GUARD_PROM_INT;
    val->v = ss->admin_version;
}


static void
ngx_http_guard_prom_srv_drain_duration(ngx_http_guard_snap_server_t *ss,
    ngx_http_guard_prom_value_t *val)
{
    val->kind = NGX_HTTP_GUARD_PROM_MILLI;
    val->v = (ss->drained_at && ss->drained_at >= ss->drain_started)
             ? ss->drained_at - ss->drain_started : 0;
}
