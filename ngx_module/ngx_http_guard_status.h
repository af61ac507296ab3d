
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


/* summary states (STATES.md) in their precedence, then "untracked" */
#define NGX_HTTP_GUARD_ST_MAINTENANCE  0
#define NGX_HTTP_GUARD_ST_CONFIG_DOWN  1
#define NGX_HTTP_GUARD_ST_DRAINED      2
#define NGX_HTTP_GUARD_ST_DRAINING     3
#define NGX_HTTP_GUARD_ST_DOWN         4
#define NGX_HTTP_GUARD_ST_CHECKING     5
#define NGX_HTTP_GUARD_ST_SLOW_START   6
#define NGX_HTTP_GUARD_ST_UP           7
#define NGX_HTTP_GUARD_ST_STANDBY      8
#define NGX_HTTP_GUARD_ST_UNTRACKED    9
#define NGX_HTTP_GUARD_STATES          10


/*
 * What the reports need of a server, copied out of its slot under the
 * zone mutex (not the whole slot, which carries the admin API's records):
 * every renderer reads only this.
 */
typedef struct {
    ngx_http_guard_peer_t         *gp;
    ngx_http_guard_sh_override_t  *ov_admin;    /* copies; NULL: none */
    ngx_http_guard_sh_override_t  *ov_weight;
    uint64_t                       last_check;  /* ms since the epoch; 0 */
    uint64_t                       last_change; /* 0: none since added */
    uint64_t                       failed_at;   /* 0: unknown */
    uint64_t                       downtime;    /* ms, running episode too */
    uint64_t                       admin_version;
    uint64_t                       drain_started;
    uint64_t                       drained_at;
    ngx_uint_t                     checks;
    ngx_uint_t                     fails;
    ngx_uint_t                     downs;
    ngx_uint_t                     rise_count;
    ngx_uint_t                     fall_count;
    ngx_uint_t                     agent_weight;
    ngx_uint_t                     admin_weight;
    ngx_uint_t                     effective_weight;
    ngx_uint_t                     permille;    /* slow-start progress */
    ngx_uint_t                     inflight;
    ngx_msec_t                     last_latency;
    uint32_t                       fails_by[NGX_HTTP_GUARD_REASONS];
    const char                    *state;       /* summary, STATES.md */
    const char                    *health;
    const char                    *admin;
    const char                    *role;
    const char                    *config;
    u_char                         reason[NGX_HTTP_GUARD_REASON_LEN];
    unsigned                       reason_len:8;
    unsigned                       st:4;        /* NGX_HTTP_GUARD_ST_* */
    unsigned                       health_id:2;
    unsigned                       admin_id:2;
    unsigned                       in_rotation:1;
    unsigned                       promoted:1;
    unsigned                       down_now:1;  /* a downtime runs */
    unsigned                       failing:1;   /* no pass since reason */
    unsigned                       tracked:1;   /* has a slot */
    unsigned                       owner:1;     /* first of its slot */
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
    ngx_uint_t                     untracked;
    uint64_t                       last_change;  /* ms; 0: none since added */
    uint64_t                       oldest_check; /* ms; 0: none */

    /* sums over every server (not only the filtered ones) */
    uint64_t                       checks;
    uint64_t                       fails;
    uint64_t                       downs;
    uint64_t                       fails_by[NGX_HTTP_GUARD_REASONS];
    ngx_uint_t                     states[NGX_HTTP_GUARD_STATES];
} ngx_http_guard_snap_upstream_t;


/* ?state=: a summary, health or admin state; -1 where it names none */
typedef struct {
    ngx_int_t                      st;
    ngx_int_t                      health;
    ngx_int_t                      admin;
    ngx_uint_t                     on;
} ngx_http_guard_snap_filter_t;


typedef struct {
    ngx_http_guard_snap_upstream_t  *upstreams;
    ngx_uint_t                       nupstreams;
    ngx_uint_t                       found;      /* ?upstream= exists */
    ngx_pid_t                        leader_pid;
    ngx_uint_t                       check_io;      /* _IO_EPOLL, _URING */
    ngx_msec_t                       check_grid;    /* ms */
    ngx_uint_t                       takeovers;  /* leader changes - 1 */
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
    ngx_uint_t                       detail;     /* prometheus: per server */
    ngx_str_t                        args;       /* query kept by html links */
    ngx_http_guard_out_t            *mem;        /* NULL: the request pool */
} ngx_http_guard_snap_t;


extern const char  *ngx_http_guard_state_names[NGX_HTTP_GUARD_STATES];


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
ngx_int_t ngx_http_guard_status_not_allowed(ngx_http_request_t *r);
ngx_int_t ngx_http_guard_status_add_header(ngx_http_request_t *r,
    const char *key, u_char *value, size_t len);


#endif /* _NGX_HTTP_GUARD_STATUS_H_INCLUDED_ */
