
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * The pool report: a snapshot of every upstream and server, taken once per
 * request (shared state copied under the zone mutex, one upstream at a
 * time), and one renderer per format.
 */


#ifndef _NGX_HTTP_GUARD_STATUS_H_INCLUDED_
#define _NGX_HTTP_GUARD_STATUS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_guard.h"
#include "ngx_http_guard_out.h"


#define NGX_HTTP_GUARD_FORMAT_JSON   0
#define NGX_HTTP_GUARD_FORMAT_HTML   1
#define NGX_HTTP_GUARD_FORMAT_PROM   2
#define NGX_HTTP_GUARD_FORMAT_CSS    3


typedef struct {
    ngx_http_guard_peer_t         *gp;
    ngx_http_guard_sh_server_t     s;           /* copy of the shared state */
    ngx_uint_t                     in_rotation;
    ngx_uint_t                     effective_weight;
    ngx_uint_t                     permille;    /* slow-start progress */
    uint64_t                       downtime;    /* ms, running episode too */
    const char                    *state;       /* summary, STATES.md */
    const char                    *health;
    const char                    *admin;
    const char                    *role;
    const char                    *config;
} ngx_http_guard_snap_server_t;


typedef struct {
    ngx_http_guard_upstream_t     *up;
    ngx_str_t                     *name;
    const char                    *check;       /* check type */
    const char                    *balancer;
    const char                    *status;      /* ok degraded critical panic */
    ngx_uint_t                     status_rank; /* 3: panic ... 0: ok */
    ngx_http_guard_snap_server_t  *servers;     /* after the state filter */
    ngx_uint_t                     nservers;
    ngx_uint_t                     total;
    ngx_uint_t                     healthy;
    ngx_uint_t                     in_rotation;
    ngx_uint_t                     draining;
    ngx_uint_t                     standbys;
    ngx_uint_t                     promoted;
    ngx_uint_t                     floor;
    ngx_uint_t                     fail_open_active;
    uint64_t                       last_change;  /* ms since the epoch */
} ngx_http_guard_snap_upstream_t;


typedef struct {
    ngx_http_guard_snap_upstream_t  *upstreams;
    ngx_uint_t                       nupstreams;
    ngx_pid_t                        leader_pid;
    ngx_uint_t                       leader_changes;
    ngx_uint_t                       generation;
    ngx_uint_t                       frozen;     /* the admin API's switch */
    uint64_t                         audit_seq;  /* the audit chain's head */
    u_char                           audit_head[32];
    ngx_http_guard_sh_request_t     *requests;   /* pending ones, copied */
    ngx_uint_t                       nrequests;
    time_t                           started;
    size_t                           zone_size;
    size_t                           zone_used;
    uint64_t                         now;        /* ms since the epoch */
    ngx_uint_t                       refresh;    /* html: seconds, 0: off */
    ngx_str_t                        args;       /* query kept by html links */
} ngx_http_guard_snap_t;


ngx_int_t ngx_http_guard_status_snapshot(ngx_http_request_t *r,
    ngx_http_guard_snap_t *snap, ngx_str_t *upstream, ngx_str_t *state,
    ngx_uint_t sorted);
ngx_int_t ngx_http_guard_status_json(ngx_http_guard_snap_t *snap,
    ngx_http_guard_out_t *out);
ngx_int_t ngx_http_guard_status_json_server(ngx_http_guard_snap_server_t *ss,
    ngx_http_guard_out_t *out);
ngx_int_t ngx_http_guard_status_json_request(
    ngx_http_guard_sh_request_t *req, ngx_http_guard_out_t *out);
ngx_int_t ngx_http_guard_status_prom(ngx_http_guard_snap_t *snap,
    ngx_http_guard_out_t *out);
ngx_int_t ngx_http_guard_status_html(ngx_http_guard_snap_t *snap,
    ngx_http_guard_out_t *out);
ngx_int_t ngx_http_guard_status_css(ngx_http_guard_out_t *out);
ngx_int_t ngx_http_guard_status_send(ngx_http_request_t *r,
    ngx_http_guard_out_t *out, ngx_uint_t status, const char *type);


#endif /* _NGX_HTTP_GUARD_STATUS_H_INCLUDED_ */
