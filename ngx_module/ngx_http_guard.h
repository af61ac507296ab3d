
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * Shared declarations of the nginx-upstream-guard module: configuration,
 * the shared-memory state (one zone for every guarded upstream) and the
 * per-process runtime that maps nginx's peers onto that state.
 */


#ifndef _NGX_HTTP_GUARD_H_INCLUDED_
#define _NGX_HTTP_GUARD_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_guard_parse.h"
#include "ngx_http_guard_agent.h"
#include "ngx_http_guard_proto.h"
#include "ngx_http_guard_reason.h"
#include "ngx_http_guard_out.h"


#define NGX_HTTP_GUARD_VERSION        "0.3.0"
#define NGX_HTTP_GUARD_SHM_NAME       "upstream_guard"
#define NGX_HTTP_GUARD_SHM_FLOOR      (8 * ngx_pagesize)  /* nginx: any zone */
#define NGX_HTTP_GUARD_SHM_MAGIC      0x72617567   /* "guar" in memory */
#define NGX_HTTP_GUARD_SHM_LAYOUT     7   /* bump on a shared struct change */

/* check types */
#define NGX_HTTP_GUARD_TCP            1
#define NGX_HTTP_GUARD_HTTP           2
#define NGX_HTTP_GUARD_HTTPS          3
#define NGX_HTTP_GUARD_SSL_HELLO      4
#define NGX_HTTP_GUARD_MYSQL          5     /* check vocabulary only */
#define NGX_HTTP_GUARD_AJP            6
#define NGX_HTTP_GUARD_FASTCGI        7

/* where a check type may be named */
#define NGX_HTTP_GUARD_NATIVE         1     /* guard_check TYPE */
#define NGX_HTTP_GUARD_COMPAT         2     /* check type=TYPE */

/* status classes of check_http_expect_alive: bit N for Nxx */
#define NGX_HTTP_GUARD_ALIVE(status)  (1 << ((status) / 100))

/* health dimension (STATES.md) */
#define NGX_HTTP_GUARD_CHECKING       0
#define NGX_HTTP_GUARD_UP             1
#define NGX_HTTP_GUARD_DOWN           2

/* admin dimension (ROADMAP: set by the admin API, kept in shm already) */
#define NGX_HTTP_GUARD_ACTIVE         0
#define NGX_HTTP_GUARD_DRAINING       1
#define NGX_HTTP_GUARD_DRAINED        2
#define NGX_HTTP_GUARD_MAINTENANCE    3

/* role dimension */
#define NGX_HTTP_GUARD_PRIMARY        0
#define NGX_HTTP_GUARD_BACKUP         1
#define NGX_HTTP_GUARD_STANDBY        2

/*
 * Reason bits ORed into peer->down next to nginx's own value (config
 * "down" = 1, "drain" = 8 on 1.29.6+); every balancer tests down != 0.
 */
#define NGX_HTTP_GUARD_DOWN_CONFIG    0x0000ffff
#define NGX_HTTP_GUARD_DOWN_HEALTH    0x00010000
#define NGX_HTTP_GUARD_DOWN_ADMIN     0x00020000
#define NGX_HTTP_GUARD_DOWN_STANDBY   0x00040000

/*
 * nginx's "drain" (1.29.6+, with sticky): no new requests, but those
 * bound by a sticky session still go; kept apart from config "down".
 * NGX_HTTP_GUARD_DOWN_BOUND: the bits of "down" that let those through.
 */
#ifdef NGX_HTTP_UPSTREAM_DRAINING
#define ngx_http_guard_cfg_drain(gp)                                         \
    ((gp)->cfg_down == NGX_HTTP_UPSTREAM_DRAINING)
#define NGX_HTTP_GUARD_DOWN_BOUND     NGX_HTTP_UPSTREAM_DRAINING
#else
#define ngx_http_guard_cfg_drain(gp)  0
#define NGX_HTTP_GUARD_DOWN_BOUND     0
#endif

#define NGX_HTTP_GUARD_REASON_LEN     64

/*
 * A principal's name: as long as the tokens file allows (a certificate's
 * DN may be long), kept whole wherever it identifies someone (the two
 * requests of the two-person rule) and in every answer and audit line;
 * an override records the first PRINCIPAL_LEN - 1 bytes of it, for show.
 */
#define NGX_HTTP_GUARD_PRINCIPAL_MAX  1024
#define NGX_HTTP_GUARD_PRINCIPAL_LEN  64

/* roles of the admin API, each allowed what the one before it is */
#define NGX_HTTP_GUARD_ROLE_VIEWER    1
#define NGX_HTTP_GUARD_ROLE_OPERATOR  2
#define NGX_HTTP_GUARD_ROLE_ADMIN     3

/* admin operations: one event each (state.c) */
#define NGX_HTTP_GUARD_OP_DRAIN       1
#define NGX_HTTP_GUARD_OP_RESUME      2
#define NGX_HTTP_GUARD_OP_MAINTENANCE 3
#define NGX_HTTP_GUARD_OP_WEIGHT      4
#define NGX_HTTP_GUARD_OP_REVERT      5     /* every override of a server */
#define NGX_HTTP_GUARD_OP_EXPIRE      6     /* an override's time is up */

/* the two-person rule: requests waiting for a second principal */
#define NGX_HTTP_GUARD_REQUESTS       32
#define NGX_HTTP_GUARD_NAME_LEN       128
#define NGX_HTTP_GUARD_WHY_LEN        160

/*
 * An admin answer's message: room for a principal's whole name, the
 * server's and the upstream's; anything longer is cut, never overrun.
 */
#define NGX_HTTP_GUARD_MESSAGE_LEN    2048

#define NGX_HTTP_GUARD_REQ_PENDING    1
#define NGX_HTTP_GUARD_REQ_APPLIED    2
#define NGX_HTTP_GUARD_REQ_CANCELLED  3
#define NGX_HTTP_GUARD_REQ_EXPIRED    4

/* admin-set weights, in the configured unit */
#define NGX_HTTP_GUARD_WEIGHT_MAX     1000

/*
 * failed authentications per client address; addresses that find the
 * table full share one budget of as many, and then each has one failure
 * of its own, remembered as a bit of a bitmap (auth.c)
 */
#define NGX_HTTP_GUARD_AUTH_SLOTS     64
#define NGX_HTTP_GUARD_AUTH_FAILS     10
#define NGX_HTTP_GUARD_AUTH_WINDOW    60    /* seconds */
#define NGX_HTTP_GUARD_AUTH_SEEN      1024  /* bits */

/* the shortest check interval, in both vocabularies */
#define NGX_HTTP_GUARD_MIN_INTERVAL   100

/* the most fall= and rise= may count, in both vocabularies */
#define NGX_HTTP_GUARD_MAX_COUNT      1000

/* check outcomes */
#define NGX_HTTP_GUARD_CHECK_FAIL     0
#define NGX_HTTP_GUARD_CHECK_PASS     1
#define NGX_HTTP_GUARD_CHECK_SKIP     2     /* a local error: not counted */
#define NGX_HTTP_GUARD_HEADER_LIMIT   8192

/* weights: the status and the rules count in thousandths of a weight */
#define NGX_HTTP_GUARD_MILLI          1000
#define NGX_HTTP_GUARD_WEIGHT_FINE    100   /* nginx units per weight */

/*
 * The largest weight= of a guarded server.  Its thousandths, times an
 * agent's 1000%, are 10^10; times 100 (WEIGHT_FINE) over 1000, nginx gets
 * at most 10^9, below 2^31, and round robin's effective weight times a
 * new weight (peer.c) stays below 10^18 < 2^64.  Admin weights stop at
 * NGX_HTTP_GUARD_WEIGHT_MAX and agent weights at NGX_HTTP_GUARD_AGENT_MAX,
 * both below it.  The arithmetic also saturates, whatever the weights.
 */
#define NGX_HTTP_GUARD_CFG_WEIGHT_MAX 1000000
#define NGX_HTTP_GUARD_MW_MAX                                                 \
    ((uint64_t) NGX_HTTP_GUARD_CFG_WEIGHT_MAX * NGX_HTTP_GUARD_MILLI          \
     * NGX_HTTP_GUARD_AGENT_MAX / 100)
#define NGX_HTTP_GUARD_NGINX_WEIGHT_MAX                                       \
    (NGX_HTTP_GUARD_MW_MAX * NGX_HTTP_GUARD_WEIGHT_FINE / NGX_HTTP_GUARD_MILLI)
#define NGX_HTTP_GUARD_WEIGHT_LEN     (NGX_INT_T_LEN + sizeof(".000"))

/* pool status */
#define NGX_HTTP_GUARD_POOL_OK        0
#define NGX_HTTP_GUARD_POOL_DEGRADED  1
#define NGX_HTTP_GUARD_POOL_CRITICAL  2
#define NGX_HTTP_GUARD_POOL_PANIC     3


typedef struct ngx_http_guard_match_s     ngx_http_guard_match_t;
typedef struct ngx_http_guard_upstream_s  ngx_http_guard_upstream_t;
typedef struct ngx_http_guard_peer_s      ngx_http_guard_peer_t;
/* guard_check_io: how the checking worker does its checks' I/O */
#define NGX_HTTP_GUARD_IO_EPOLL       0     /* nginx's event loop */
#define NGX_HTTP_GUARD_IO_URING       1


typedef struct ngx_http_guard_check_s     ngx_http_guard_check_t;
typedef struct ngx_http_guard_check_free_s ngx_http_guard_check_free_t;
typedef struct ngx_http_guard_sh_ledger_s ngx_http_guard_sh_ledger_t;


/* what a check of each type does: one row each (ngx_http_guard_check.c) */
typedef struct {
    ngx_str_t                        name;
    ngx_uint_t                       id;            /* NGX_HTTP_GUARD_TCP... */
    ngx_uint_t                       vocabulary;    /* _NATIVE, _COMPAT */
    ngx_uint_t                       tls;           /* a handshake first */
    ngx_uint_t                       http;          /* HTTP request, response */
    ngx_uint_t                       probe;         /* bytes a parser judges */
} ngx_http_guard_check_type_t;


/* ---------------------------------------------------------------------- */
/* shared memory: no process-private pointers, only zone pointers          */

/* who set an override of the admin API, why, and until when */
typedef struct {
    uint64_t                         since;         /* ms since the epoch */
    uint64_t                         until;         /* ms; 0: no expiry */
    u_char                           by[NGX_HTTP_GUARD_PRINCIPAL_LEN];
    u_char                           reason[NGX_HTTP_GUARD_REASON_LEN];
} ngx_http_guard_sh_override_t;


/*
 * A high-risk change asked by one principal, waiting for a second one
 * (the two-person rule); kept after it ends, so that an expired or
 * cancelled request is answered as such, until its slot is needed.
 */
typedef struct {
    ngx_uint_t                       id;            /* 0: a free slot */
    ngx_uint_t                       state;         /* _REQ_* */
    ngx_uint_t                       op;
    ngx_uint_t                       weight;
    ngx_msec_t                       expires;       /* of the override */
    ngx_uint_t                       role;          /* it needs */
    ngx_uint_t                       in_rotation_after; /* when asked */
    uint64_t                         created;       /* ms since the epoch */
    uint64_t                         until;         /* ms: it expires */
    uint64_t                         closed;        /* ms: it ended */
    u_char                           upstream[NGX_HTTP_GUARD_NAME_LEN];
    u_char                           server[NGX_HTTP_GUARD_NAME_LEN];
    u_char                           requester[NGX_HTTP_GUARD_PRINCIPAL_MAX
                                               + 1];
    u_char                           approver[NGX_HTTP_GUARD_PRINCIPAL_MAX
                                              + 1];
    u_char                           reason[NGX_HTTP_GUARD_REASON_LEN];
    u_char                           why[NGX_HTTP_GUARD_WHY_LEN];
} ngx_http_guard_sh_request_t;


/* failed authentications of one client address (a hash of it) */
typedef struct {
    uint32_t                         addr;
    uint32_t                         fails;
    time_t                           window;        /* its start */
} ngx_http_guard_sh_auth_t;


/* failed authentications of the addresses that found no free slot */
typedef struct {
    uint32_t                         fails;
    time_t                           window;        /* its start */
    u_char                           seen[NGX_HTTP_GUARD_AUTH_SEEN / 8];
} ngx_http_guard_sh_auth_rest_t;


typedef struct {
    ngx_str_node_t                   node;      /* key: up \n server \n addr */

    ngx_str_t                        server;    /* as written in the config */
    ngx_str_t                        addr;      /* resolved address */
    ngx_uint_t                       seen_gen;  /* last config generation */

    ngx_uint_t                       health;
    ngx_uint_t                       rise_count;
    ngx_uint_t                       fall_count;
    ngx_uint_t                       checks;
    ngx_uint_t                       fails;
    ngx_uint_t                       downs;         /* up -> down, counter */
    uint32_t                         fails_by[NGX_HTTP_GUARD_REASONS];
    uint64_t                         failed_at;     /* last failure, ms */
    uint64_t                         added;         /* ms: slot (re)set */

    ngx_msec_t                       next_check;    /* ngx_current_msec */
    uint64_t                         last_check;    /* ms since the epoch */
    uint64_t                         last_change;   /* ms since the epoch */
    uint64_t                         down_since;    /* ms since the epoch */
    uint64_t                         down_total;    /* ms */
    ngx_msec_t                       last_latency;

    /* live weights and the floor (set by the checking worker) */
    uint64_t                         ramp_start;    /* slow start began */
    ngx_uint_t                       promoted;      /* a standby in use */
    ngx_uint_t                       agent_weight;  /* 1/1000; 0: none */
    ngx_uint_t                       agent_drain;   /* the agent asks */
    ngx_uint_t                       agent_refused; /* floor said no */
    ngx_uint_t                       agent_suspended; /* floor broke */

    /* the admin dimension: the admin API, agent drains */
    ngx_uint_t                       admin;
    ngx_uint_t                       admin_by_agent;
    ngx_uint_t                       admin_weight;  /* configured unit; 0 */
    ngx_uint_t                       conf_weight;
    ngx_atomic_t                     inflight;
    uint64_t                         last_start;    /* ms: a request chose
                                                       it while draining */
    uint64_t                         admin_version; /* each admin change */
    uint64_t                         drain_started; /* ms since the epoch */
    uint64_t                         drained_at;    /* ms; 0: not yet */
    ngx_http_guard_sh_override_t     ov_admin;      /* drain, maintenance */
    ngx_http_guard_sh_override_t     ov_weight;

    u_char                           reason[NGX_HTTP_GUARD_REASON_LEN];
} ngx_http_guard_sh_server_t;


typedef struct ngx_http_guard_sh_upstream_s  ngx_http_guard_sh_upstream_t;

struct ngx_http_guard_sh_upstream_s {
    ngx_http_guard_sh_upstream_t    *next;
    ngx_str_t                        name;
    ngx_atomic_t                     gen;       /* bumped on each change */
    ngx_uint_t                       seen_gen;
    ngx_uint_t                       in_rotation;   /* by the floor rule */
    ngx_uint_t                       below_floor;   /* alert logged */
    ngx_uint_t                       panic;         /* nothing in rotation */
    ngx_uint_t                       unsettled;     /* routing moved, gen not */
    uint64_t                         last_change;
    uint64_t                         added;         /* last_change: never */
};


typedef struct {
    /* what wrote this zone: checked before a reload reuses it */
    uint32_t                         magic;
    uint32_t                         layout;
    uint32_t                         server_size;
    uint32_t                         root_size;

    ngx_rbtree_t                     servers;
    ngx_rbtree_node_t                sentinel;
    ngx_http_guard_sh_upstream_t    *upstreams;

    ngx_uint_t                       generation;    /* of the config */
    time_t                           started;

    /* the one checking worker: a lease renewed by its tick */
    ngx_pid_t                        leader_pid;
    ngx_uint_t                       leader_gen;
    ngx_msec_t                       lease_until;
    ngx_uint_t                       leader_changes;

    /* room for the tamper-evident audit chain (ROADMAP.md) */
    uint64_t                         audit_seq;
    ngx_uint_t                       audit_failing; /* a write failed */
    ngx_uint_t                       check_io;      /* the leader's path */
    ngx_msec_t                       check_grid;    /* the leader's grid */
    u_char                           audit_head[32];

    /* the admin API: freeze switch, work for the tick, the state file */
    ngx_uint_t                       frozen;
    ngx_http_guard_sh_override_t     freeze;
    ngx_uint_t                       draining;      /* servers draining */
    uint64_t                         next_expiry;   /* ms; 0: none */
    ngx_uint_t                       state_seq;     /* each lasting change */
    ngx_uint_t                       state_saved;   /* state_seq on disk */
    ngx_uint_t                       health_seq;    /* each health change */
    ngx_uint_t                       health_saved;  /* health_seq on disk */
    ngx_uint_t                       state_loaded;  /* the file was read */
    ngx_http_guard_sh_ledger_t      *ledgers;       /* inflight.c */
    ngx_uint_t                       next_request;  /* its id, from 1 */
    ngx_http_guard_sh_request_t      requests[NGX_HTTP_GUARD_REQUESTS];
    ngx_http_guard_sh_auth_t         auth[NGX_HTTP_GUARD_AUTH_SLOTS];
    ngx_http_guard_sh_auth_rest_t    auth_rest;

    /*
     * The master's record of the config generation each of its processes
     * (ngx_processes[]) runs: slots that no live generation maps are
     * freed at a reload.  Written by the master only.
     */
    ngx_pid_t                        proc_pid[NGX_MAX_PROCESSES];
    ngx_uint_t                       proc_gen[NGX_MAX_PROCESSES];
} ngx_http_guard_sh_t;


/* ---------------------------------------------------------------------- */
/* configuration                                                           */

/*
 * The checking worker's state in this process (ngx_http_guard_leader.c):
 * the tick, whether it holds the lease, and the checks in flight, bounded
 * to a quarter of worker_connections so that checks never starve client
 * traffic of connections; each upstream gets an equal share of that
 * budget.  A check due while there is no slot waits in its upstream's
 * queue; upstreams with waiting checks take turns at the slots that free.
 * Results that may move routing mark their upstream unsettled; the pool
 * rules run once for all of them, at most every NGX_HTTP_GUARD_SETTLE ms.
 * Check starts are rounded to the grid, so that checks due close together
 * share one wake-up of the worker (see ngx_http_guard_grid()).
 */
typedef struct {
    ngx_event_t                      tick;
    ngx_uint_t                       leading;
    ngx_uint_t                       active;        /* checks in flight */
    ngx_queue_t                      turns;         /* upstream_t.ready */
    ngx_uint_t                       dispatching;
    ngx_event_t                      settle;        /* posted or a timer */
    ngx_queue_t                      unsettled;     /* upstream_t.unsettled */
    ngx_msec_t                       settled;       /* the last settle */
    ngx_http_guard_check_free_t     *free;          /* receive buffers */
    ngx_uint_t                       nfree;
    ngx_msec_t                       saved;         /* state file written */
    ngx_msec_t                       grid;          /* ms, 1: none */
} ngx_http_guard_leader_t;


/* guard_admin_two_person: what a second principal must approve */
typedef struct {
    ngx_flag_t                       enabled;
    ngx_uint_t                       share;         /* percent, 0: off */
    ngx_msec_t                       window;
    ngx_uint_t                       maintenance;   /* of one in rotation */
    ngx_msec_t                       expire;        /* of a request */
    ngx_uint_t                       concurrent;    /* changes at once */
    ngx_uint_t                       max_out;       /* percent, a cap */
} ngx_http_guard_two_person_t;


/* a server with admin overrides that a reload no longer configures */
typedef struct {
    ngx_str_t                        upstream;
    ngx_str_t                        server;
    ngx_str_t                        what;      /* "maintenance by olga" */
} ngx_http_guard_dropped_t;


typedef struct {
    ngx_shm_zone_t                  *shm_zone;
    size_t                           shm_size;      /* NGX_CONF_UNSET_SIZE */
    u_char                          *shm_size_file; /* where it was set */
    ngx_uint_t                       shm_size_line;
    ngx_array_t                      matches;       /* match_t * */
    ngx_array_t                      upstreams;     /* guard_upstream_t */
    ngx_uint_t                       nservers;      /* for sizing the zone */
    ngx_uint_t                       npeers;        /* peer_t.index < it */
    size_t                           check_shm_size; /* check vocabulary */
    ngx_uint_t                       generation;    /* of this config */
    ngx_http_guard_leader_t          leader;        /* this process' */
    ngx_uint_t                       check_io;      /* guard_check_io */
    ngx_str_t                        state_file;    /* guard_state_file */
    ngx_err_t                        state_err;     /* last one logged */
    ngx_file_uniq_t                  state_uniq;    /* the file it wrote */
    ngx_array_t                     *dropped;   /* guard_dropped_t: reload */

    ngx_http_guard_two_person_t      two_person;

    /* the audit log (audit.c): guard_audit_log, guard_audit_key */
    ngx_open_file_t                 *audit_file;    /* NULL: none */
    void                            *audit_syslog;  /* ngx_syslog_peer_t */
    ngx_str_t                        audit_key;     /* the HMAC key */
    ngx_err_t                        audit_err;     /* last one logged */
    u_char                          *audit_log_at;  /* where each was set */
    ngx_uint_t                       audit_log_line;
    u_char                          *audit_key_at;
    ngx_uint_t                       audit_key_line;

    ngx_http_guard_out_cache_t       status_cache;  /* this process' */
} ngx_http_guard_main_conf_t;


typedef struct {
    const ngx_http_guard_check_type_t *type;      /* NULL: not guarded */
    ngx_msec_t                       interval;
    ngx_msec_t                       timeout;
    ngx_msec_t                       jitter;
    ngx_uint_t                       fall;
    ngx_uint_t                       rise;
    in_port_t                        port;          /* 0: traffic port */
    ngx_uint_t                       initial;       /* UP or DOWN */
    ngx_uint_t                       fail_open;
    ngx_uint_t                       http_minor;
    ngx_uint_t                       keepalive;
    size_t                           body_limit;
    ngx_str_t                        method;
    ngx_str_t                        uri;
    ngx_str_t                        host;
    ngx_array_t                     *headers;       /* ngx_keyval_t */
    ngx_str_t                        match_name;
    ngx_http_guard_match_t          *match;

    ngx_uint_t                       floor;         /* NGX_CONF_UNSET_UINT */
    ngx_msec_t                       slow_start;
    ngx_array_t                     *standby;       /* ngx_str_t */
    u_char                          *standby_file;  /* guard_standby's */
    ngx_uint_t                       standby_line;
    ngx_str_t                        agent_header;
    ngx_uint_t                       agent_min;     /* percent of weight */
    ngx_uint_t                       agent_max;     /* percent of weight */
    ngx_uint_t                       live_weights;  /* rr, least_conn */

#if (NGX_HTTP_SSL)
    ngx_ssl_t                       *ssl;
    ngx_flag_t                       ssl_verify;
    ngx_uint_t                       ssl_verify_depth;
    ngx_flag_t                       ssl_server_name;
    ngx_str_t                        ssl_name;
    ngx_str_t                        ssl_trusted_certificate;
    ngx_str_t                        ssl_certificate;
    ngx_str_t                        ssl_certificate_key;
    ngx_uint_t                       ssl_protocols;
    ngx_str_t                        ssl_ciphers;
#endif

    u_char                          *file;          /* where guard_check was */
    ngx_uint_t                       line;

    /* the nginx_upstream_check_module vocabulary ("check" ...) */
    ngx_uint_t                       compat;
    ngx_str_t                        send;          /* raw request bytes */
    ngx_uint_t                       alive;         /* status classes */
    ngx_array_t                     *fastcgi_params;  /* ngx_str_t pairs */

    ngx_http_upstream_init_peer_pt   original_init_peer;
    ngx_http_guard_upstream_t       *rt;            /* this process' runtime */
} ngx_http_guard_srv_conf_t;


/* a principal of the tokens file (auth.c) */
typedef struct {
    ngx_str_t                        name;
    ngx_uint_t                       role;          /* NGX_HTTP_GUARD_ROLE_* */
    ngx_array_t                      upstreams;     /* ngx_str_t globs */
    ngx_uint_t                       hash_len;      /* 0: no token, 32, 64 */
    u_char                           hash[64];      /* SHA-256 or SHA-512 */
    ngx_uint_t                       line;          /* in the file */
} ngx_http_guard_principal_t;


typedef struct {
    ngx_str_t                        file;
    ngx_array_t                      principals;    /* principal_t */
} ngx_http_guard_tokens_t;


/* why a request is not authenticated or not allowed (auth.c) */
typedef struct {
    ngx_uint_t                       status;        /* 401, 403, 429 */
    const char                      *code;
    const char                      *message;
    time_t                           retry_after;   /* 429: seconds */
} ngx_http_guard_auth_error_t;


typedef struct {
    ngx_uint_t                       status;        /* guard_status format */
    ngx_uint_t                       status_detail; /* per-server series */
    ngx_uint_t                       check_status;  /* check_status format */
    ngx_flag_t                       admin;         /* guard_admin */
    u_char                          *admin_file;    /* where it was set */
    ngx_uint_t                       admin_line;
    ngx_http_guard_tokens_t         *tokens;        /* NGX_CONF_UNSET_PTR */
    ngx_http_complex_value_t        *principal;     /* NGX_CONF_UNSET_PTR */
    ngx_flag_t                       plain_http;
} ngx_http_guard_loc_conf_t;


/* ---------------------------------------------------------------------- */
/* per-process runtime (allocated from the cycle pool in init_module)       */

struct ngx_http_guard_peer_s {
    ngx_http_upstream_rr_peers_t    *peers;         /* list it belongs to */
    ngx_http_upstream_rr_peer_t     *peer;
    ngx_http_guard_sh_server_t      *sh;
    ngx_http_guard_upstream_t       *up;
    ngx_http_guard_check_t          *check;         /* leader only */
    ngx_msec_t                       second;        /* leader: see lead() */
    ngx_msec_t                       due;           /* leader: check due,
                                                       before the grid */
    ngx_queue_t                      wait;          /* leader: for a slot */
    ngx_uint_t                       cfg_down;
    ngx_uint_t                       cfg_weight;
    ngx_uint_t                       role;
    ngx_uint_t                       standby;       /* order, 1-based */
    ngx_uint_t                       index;         /* in this config */
    ngx_uint_t                       added;         /* new at this load */
    uint32_t                         agent_invalid; /* its hash, logged */
    unsigned                         check_owner:1;  /* first of its slot */
};


struct ngx_http_guard_upstream_s {
    ngx_http_upstream_srv_conf_t    *uscf;
    ngx_http_guard_srv_conf_t       *conf;
    ngx_http_guard_main_conf_t      *gmcf;          /* its zone */
    ngx_http_guard_sh_upstream_t    *sh;
    ngx_http_guard_peer_t           *peers;
    ngx_uint_t                       npeers;
    ngx_uint_t                       nprimary;      /* peers[0..nprimary) */
    ngx_uint_t                       nstandby;
    ngx_uint_t                       floor;
    ngx_atomic_uint_t                applied;       /* sh->gen last applied */
    ngx_msec_t                       next_ramp;     /* leader: next step */
    uint64_t                         ramp_next;     /* next ramp step of a
                                                       peer, ms; 0: none */
    ngx_uint_t                       active;        /* leader: in flight */
    ngx_queue_t                      waiting;       /* leader: peer_t.wait */
    ngx_queue_t                      ready;         /* leader: in the turn */
    ngx_queue_t                      unsettled;     /* leader: to settle */
    ngx_uint_t                       dirty;         /* leader: in unsettled */
    ngx_http_guard_peer_t          **by_name;       /* keyed by &peer->name */
    ngx_uint_t                       by_name_mask;
    const char                      *balancer;      /* status: its name */
};


/* ---------------------------------------------------------------------- */

extern ngx_module_t  ngx_http_upstream_guard_module;



/* conf.c */
char *ngx_http_guard_check(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_guard_check_header(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_guard_standby(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_guard_agent(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_guard_init_upstream_conf(ngx_conf_t *cf,
    ngx_http_guard_main_conf_t *gmcf, ngx_http_upstream_srv_conf_t *uscf);
ngx_int_t ngx_http_guard_check_unguarded(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *uscf);

/* compat.c: the nginx_upstream_check_module vocabulary */
char *ngx_http_guard_compat_check(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_guard_compat_http_send(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_guard_compat_expect_alive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_guard_compat_keepalive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_guard_compat_fastcgi_param(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_guard_compat_shm_size(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_guard_compat_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_guard_compat_init(ngx_conf_t *cf,
    ngx_http_guard_srv_conf_t *gscf, ngx_http_upstream_srv_conf_t *uscf);

/* match.c */
char *ngx_http_guard_match_block(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_http_guard_match_t *ngx_http_guard_match_find(
    ngx_http_guard_main_conf_t *gmcf, ngx_str_t *name);
ngx_int_t ngx_http_guard_match_run(ngx_http_guard_match_t *m,
    ngx_http_guard_resp_t *resp, u_char *buf, u_char *reason, size_t len);

/* shm.c */
ngx_int_t ngx_http_guard_shm_add(ngx_conf_t *cf,
    ngx_http_guard_main_conf_t *gmcf);
ngx_int_t ngx_http_guard_shm_reconcile(ngx_cycle_t *cycle,
    ngx_http_guard_main_conf_t *gmcf);
ngx_http_guard_sh_t *ngx_http_guard_shm_root(ngx_http_guard_main_conf_t *gmcf,
    ngx_slab_pool_t **shpool);
uint64_t ngx_http_guard_now_ms(void);

/* peer.c */
ngx_int_t ngx_http_guard_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us);
void ngx_http_guard_apply(ngx_http_guard_upstream_t *up);
ngx_int_t ngx_http_guard_peer_list(ngx_cycle_t *cycle,
    ngx_http_guard_upstream_t *up);
ngx_uint_t ngx_http_guard_in_rotation(ngx_http_guard_peer_t *gp,
    ngx_uint_t panic);
ngx_uint_t ngx_http_guard_pool_panic(ngx_http_guard_upstream_t *up);
ngx_uint_t ngx_http_guard_eligible(ngx_http_guard_peer_t *gp);
ngx_uint_t ngx_http_guard_healthy(ngx_http_guard_peer_t *gp,
    ngx_http_guard_sh_server_t *s);


/* state.c: the one writer of server and pool state */

/* an event: one check result */
typedef struct {
    ngx_uint_t                       outcome;       /* _CHECK_PASS, _FAIL */
    u_char                          *reason;        /* why it failed */
    ngx_msec_t                       started;       /* ngx_current_msec */
    ngx_msec_t                       next;          /* next check due */
    ngx_http_guard_agent_t          *agent;         /* what the agent said */
} ngx_http_guard_result_t;

/* what an event changed */
typedef struct {
    ngx_uint_t                       health_from;
    ngx_uint_t                       health_to;
    unsigned                         first:1;       /* the first result */
    unsigned                         routing:1;     /* settle the pool */
} ngx_http_guard_change_t;

ngx_int_t ngx_http_guard_state_result(ngx_http_guard_peer_t *gp,
    ngx_http_guard_result_t *res, ngx_http_guard_change_t *ch);
ngx_int_t ngx_http_guard_state_settle(ngx_http_guard_upstream_t *up);
ngx_uint_t ngx_http_guard_state_settle_locked(ngx_http_guard_upstream_t *up);
void ngx_http_guard_state_takeover(ngx_http_guard_main_conf_t *gmcf);
ngx_uint_t ngx_http_guard_state_mapped(ngx_http_guard_upstream_t *up);
void ngx_http_guard_state_ramp(ngx_http_guard_upstream_t *up);
ngx_uint_t ngx_http_guard_pool_status(ngx_uint_t in_rotation,
    ngx_uint_t floor, ngx_uint_t primaries, ngx_uint_t primaries_in);
ngx_uint_t ngx_http_guard_pool_ramping(ngx_http_guard_upstream_t *up,
    uint64_t now);
ngx_uint_t ngx_http_guard_weight_scale(ngx_http_guard_srv_conf_t *gscf);
uint64_t ngx_http_guard_mul_sat(uint64_t a, uint64_t b);
ngx_uint_t ngx_http_guard_nginx_weight(ngx_http_guard_upstream_t *up,
    ngx_uint_t mw);
u_char *ngx_http_guard_weight_print(u_char *p, ngx_uint_t mw);
ngx_uint_t ngx_http_guard_effective_weight(ngx_http_guard_peer_t *gp,
    ngx_http_guard_sh_server_t *s, uint64_t now, ngx_uint_t *permille);
uint64_t ngx_http_guard_ramp_next(ngx_http_guard_peer_t *gp,
    ngx_http_guard_sh_server_t *s, uint64_t now);

/* an event: one admin command (admin.c builds it, state.c applies it) */
typedef struct {
    ngx_uint_t                       op;            /* NGX_HTTP_GUARD_OP_* */
    ngx_uint_t                       weight;        /* _OP_WEIGHT */
    ngx_msec_t                       expires;       /* 0: never */
    ngx_str_t                        principal;     /* "alice", "guard" */
    ngx_str_t                        reason;
    uint64_t                         if_match;      /* the version read */
    ngx_uint_t                       role;          /* the principal's */
    ngx_uint_t                       request;       /* approving this id */
    ngx_str_t                        client;        /* its address */
    unsigned                         if_match_set:1;
    unsigned                         dry_run:1;
    unsigned                         weight_config:1;  /* null: nginx.conf's */
} ngx_http_guard_admin_cmd_t;

/* what it did, or why not: the answer and, later, the audit line */
typedef struct {
    ngx_uint_t                       status;        /* HTTP status */
    const char                      *code;          /* NULL: done */
    ngx_uint_t                       admin_before;
    ngx_uint_t                       admin_after;
    ngx_uint_t                       in_rotation_before;
    ngx_uint_t                       in_rotation_after;
    ngx_uint_t                       floor;
    uint64_t                         version;
    ngx_uint_t                       request;       /* pending: its id */
    uint64_t                         until;         /* ms: it expires */
    ngx_uint_t                       needs;         /* the role to approve */
    u_char                           why[NGX_HTTP_GUARD_WHY_LEN];
    unsigned                         applied:1;
    unsigned                         drained:1;
    unsigned                         pending:1;     /* a second person */
    unsigned                         audited:1;

    /* written by ngx_http_guard_msg() only: it never runs past the end */
    u_char                           message[NGX_HTTP_GUARD_MESSAGE_LEN];
} ngx_http_guard_admin_res_t;

void ngx_cdecl ngx_http_guard_msg(ngx_http_guard_admin_res_t *res,
    const char *fmt, ...);

/* what a state file keeps of a server (statefile.c reads, state.c sets) */
typedef struct {
    ngx_uint_t                       health;        /* _UP, _DOWN, _CHECKING */
    ngx_uint_t                       admin;
    ngx_uint_t                       admin_weight;
    ngx_uint_t                       conf_weight;
    uint64_t                         admin_version;
    uint64_t                         drain_started;
    uint64_t                         drained_at;
    ngx_http_guard_sh_override_t     ov_admin;
    ngx_http_guard_sh_override_t     ov_weight;
    u_char                           reason[NGX_HTTP_GUARD_REASON_LEN];
} ngx_http_guard_saved_t;

ngx_int_t ngx_http_guard_state_admin(ngx_http_guard_peer_t *gp,
    ngx_http_guard_admin_cmd_t *cmd, ngx_http_guard_admin_res_t *res);
ngx_int_t ngx_http_guard_state_freeze(ngx_http_guard_main_conf_t *gmcf,
    ngx_uint_t on, ngx_http_guard_admin_cmd_t *cmd,
    ngx_http_guard_admin_res_t *res);
void ngx_http_guard_state_tick(ngx_http_guard_main_conf_t *gmcf);
void ngx_http_guard_state_drain_poll(ngx_http_guard_peer_t *gp);
void ngx_http_guard_state_restore(ngx_http_guard_peer_t *gp,
    ngx_http_guard_saved_t *sv);
void ngx_http_guard_state_restore_freeze(ngx_http_guard_main_conf_t *gmcf,
    ngx_http_guard_sh_override_t *freeze);
void ngx_http_guard_state_changed(ngx_http_guard_sh_t *sh);
void ngx_http_guard_state_health_changed(ngx_http_guard_sh_t *sh);
void ngx_http_guard_state_reload_audit(ngx_http_guard_upstream_t *up);
size_t ngx_http_guard_state_overrides(ngx_http_guard_sh_server_t *s,
    u_char *buf, size_t size);
void ngx_http_guard_state_dropped(ngx_cycle_t *cycle,
    ngx_http_guard_main_conf_t *gmcf);
ngx_int_t ngx_http_guard_state_request(ngx_http_guard_main_conf_t *gmcf,
    ngx_uint_t id, ngx_http_guard_sh_request_t *copy);
void ngx_http_guard_state_requests(ngx_http_guard_main_conf_t *gmcf,
    ngx_http_guard_sh_request_t *all);
ngx_int_t ngx_http_guard_state_cancel(ngx_http_guard_main_conf_t *gmcf,
    ngx_uint_t id, ngx_http_guard_admin_cmd_t *cmd, ngx_uint_t admin,
    ngx_http_guard_admin_res_t *res);
void ngx_http_guard_state_restore_requests(ngx_http_guard_main_conf_t *gmcf,
    ngx_http_guard_sh_request_t *reqs, ngx_uint_t n, uint64_t audit_seq,
    u_char *head, ngx_uint_t next_request);
const char *ngx_http_guard_request_state_name(ngx_uint_t state);
const char *ngx_http_guard_op_name(ngx_uint_t op);

/* policy.c: the two-person rule */
char *ngx_http_guard_two_person(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_guard_policy_check(ngx_http_guard_peer_t *gp,
    ngx_http_guard_admin_cmd_t *cmd, ngx_http_guard_admin_res_t *res,
    ngx_uint_t pending, uint64_t now);

/*
 * One line of the audit log (audit.c writes it, chained by an HMAC): who,
 * from where, what, on what, the state before and after, the result.
 * Strings may be empty; const char * ones may be NULL.
 */
typedef struct {
    ngx_str_t                        principal;     /* "alice", "guard"... */
    ngx_str_t                        client;        /* address, or empty */
    const char                      *op;            /* "drain", "approve" */
    ngx_str_t                        upstream;
    ngx_str_t                        server;
    const char                      *before;        /* admin state */
    const char                      *after;
    const char                      *result;        /* "applied"... */
    const char                      *code;          /* a refusal's code */
    ngx_str_t                        reason;
    ngx_uint_t                       request;       /* pending id, 0 */
    ngx_str_t                        approver;
    ngx_str_t                        detail;        /* "weight 3" */
} ngx_http_guard_audit_rec_t;

/* audit.c: the tamper-evident audit log */
char *ngx_http_guard_audit_log(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_guard_audit_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_guard_audit_locked(ngx_http_guard_main_conf_t *gmcf,
    ngx_http_guard_sh_t *sh, ngx_http_guard_audit_rec_t *rec);
ngx_int_t ngx_http_guard_audit(ngx_http_guard_main_conf_t *gmcf,
    ngx_http_guard_audit_rec_t *rec);
ngx_int_t ngx_http_guard_audit_check(ngx_conf_t *cf,
    ngx_http_guard_main_conf_t *gmcf);
ngx_int_t ngx_http_guard_audit_init(ngx_cycle_t *cycle,
    ngx_http_guard_main_conf_t *gmcf);
void ngx_http_guard_audit_reload(ngx_cycle_t *cycle,
    ngx_http_guard_main_conf_t *gmcf);

/* inflight.c: requests in flight per server, across workers */
ngx_int_t ngx_http_guard_inflight_init_process(ngx_cycle_t *cycle,
    ngx_http_guard_main_conf_t *gmcf);
void ngx_http_guard_inflight_exit_process(ngx_http_guard_main_conf_t *gmcf);
void ngx_http_guard_inflight_get(ngx_http_guard_peer_t *gp);
void ngx_http_guard_inflight_free(ngx_http_guard_peer_t *gp);
void ngx_http_guard_inflight_reap(ngx_http_guard_main_conf_t *gmcf);
void ngx_http_guard_inflight_reap_locked(ngx_http_guard_sh_t *sh,
    ngx_slab_pool_t *shpool);
void ngx_http_guard_inflight_carry_locked(ngx_http_guard_sh_t *sh,
    ngx_slab_pool_t *shpool, ngx_http_guard_sh_t *osh);

/* leader.c */
ngx_int_t ngx_http_guard_leader_init_process(ngx_cycle_t *cycle);
void ngx_http_guard_leader_exit_process(ngx_cycle_t *cycle);
ngx_uint_t ngx_http_guard_running(void);

/* check.c: runs one check, reports its end to its owner (leader.c) */
typedef void (*ngx_http_guard_check_done_pt)(ngx_http_guard_peer_t *gp,
    ngx_uint_t ok, u_char *reason, ngx_msec_t started,
    ngx_http_guard_agent_t *agent);

const ngx_http_guard_check_type_t *ngx_http_guard_check_type(ngx_str_t *name,
    ngx_uint_t vocabulary);
const char *ngx_http_guard_check_type_name(
    const ngx_http_guard_check_type_t *type);
ngx_http_guard_check_t *ngx_http_guard_check_create(ngx_pool_t *pool,
    ngx_http_guard_peer_t *gp, ngx_log_t *log,
    ngx_http_guard_check_done_pt done);
ngx_int_t ngx_http_guard_check_start(ngx_http_guard_check_t *chk);
void ngx_http_guard_check_abort(ngx_http_guard_check_t *chk);
void ngx_http_guard_check_uring_handler(void *data, ngx_uint_t tag, int res);
void ngx_http_guard_check_bufs_free(ngx_http_guard_leader_t *lc);
ngx_event_t *ngx_http_guard_check_timer(ngx_http_guard_check_t *chk);

/* status.c */
char *ngx_http_guard_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
const char *ngx_http_guard_balancer(ngx_http_upstream_srv_conf_t *us);

/* admin.c: the admin API */
char *ngx_http_guard_admin(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_guard_admin_init(ngx_conf_t *cf);
void ngx_http_guard_admin_limit(ngx_conf_t *cf);

/* auth.c: principals, least privilege, failed-authentication limits */
char *ngx_http_guard_admin_tokens(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_guard_admin_principal(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_guard_auth(ngx_http_request_t *r,
    ngx_http_guard_loc_conf_t *glcf, ngx_http_guard_principal_t **pp,
    ngx_http_guard_auth_error_t *err);
ngx_uint_t ngx_http_guard_auth_may(ngx_http_guard_principal_t *p,
    ngx_str_t *upstream);
char *ngx_http_guard_secret_mode(ngx_conf_t *cf, const char *directive,
    ngx_str_t *name, ngx_file_info_t *fi);
u_char *ngx_http_guard_octal(u_char *buf, ngx_uint_t mode);
ngx_int_t ngx_http_guard_auth_headers(ngx_http_request_t *r,
    ngx_http_guard_auth_error_t *err);
const char *ngx_http_guard_role_name(ngx_uint_t role);

/* statefile.c: admin and health state across restarts */
char *ngx_http_guard_state_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_guard_statefile_load(ngx_cycle_t *cycle,
    ngx_http_guard_main_conf_t *gmcf);
void ngx_http_guard_statefile_save(ngx_http_guard_main_conf_t *gmcf,
    ngx_uint_t flush);


#endif /* _NGX_HTTP_GUARD_H_INCLUDED_ */
