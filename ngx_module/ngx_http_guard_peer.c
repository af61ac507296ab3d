
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * The balancer side: apply the shared state to nginx's own peer lists so
 * that every balancer (round robin, least_conn, hash, ip_hash, random)
 * skips servers out of rotation, with or without an upstream zone.
 *
 * With a zone the peers are shared and one write is seen by all workers;
 * without one each worker owns a private copy.  Either way a process
 * re-applies when the upstream's generation in shared memory moved, from
 * the wrapper around peer.init, before the balancer copies "tries".
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_guard.h"


/*
 * Per request, around the balancer's own peer data (as the keepalive
 * module does): counts requests in flight per server in shared memory,
 * across workers and reload generations.
 */
typedef struct {
    void                            *data;
    ngx_event_get_peer_pt            get;
    ngx_event_free_peer_pt           free;
    ngx_event_notify_peer_pt         notify;
#if (NGX_HTTP_SSL)
    ngx_event_set_peer_session_pt    set_session;
    ngx_event_save_peer_session_pt   save_session;
#endif
    ngx_http_guard_upstream_t       *up;
    ngx_http_guard_peer_t           *current;   /* counted in flight */
} ngx_http_guard_peer_data_t;


static ngx_int_t ngx_http_guard_get_peer(ngx_peer_connection_t *pc,
    void *data);
static void ngx_http_guard_free_peer(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state);
static void ngx_http_guard_notify_peer(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t type);
#if (NGX_HTTP_SSL)
static ngx_int_t ngx_http_guard_set_session(ngx_peer_connection_t *pc,
    void *data);
static void ngx_http_guard_save_session(ngx_peer_connection_t *pc,
    void *data);
#endif
static ngx_int_t ngx_http_guard_index_peers(ngx_pool_t *pool,
    ngx_http_guard_upstream_t *up);
static ngx_uint_t ngx_http_guard_peer_standby(ngx_http_guard_srv_conf_t *gscf,
    ngx_str_t *server);
static ngx_http_guard_peer_t *ngx_http_guard_peer_by_name(
    ngx_http_guard_upstream_t *up, ngx_str_t *name);
static ngx_uint_t ngx_http_guard_down_bits(ngx_http_guard_peer_t *gp,
    ngx_uint_t panic);
static void ngx_http_guard_apply_list(ngx_http_guard_upstream_t *up,
    ngx_http_upstream_rr_peers_t *list, ngx_uint_t first, ngx_uint_t last,
    ngx_uint_t panic);


ngx_int_t
ngx_http_guard_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_http_guard_upstream_t   *up;
    ngx_http_guard_srv_conf_t   *gscf;
    ngx_http_guard_peer_data_t  *gd;

    gscf = ngx_http_conf_upstream_srv_conf(us, ngx_http_upstream_guard_module);
    up = gscf->rt;

    if (up
        && (up->applied != up->sh->gen
            || (up->ramp_next && ngx_http_guard_now_ms() >= up->ramp_next)))
    {
        ngx_http_guard_apply(up);
    }

    if (gscf->original_init_peer(r, us) != NGX_OK) {
        return NGX_ERROR;
    }

    if (up == NULL) {
        return NGX_OK;
    }

    gd = ngx_palloc(r->pool, sizeof(ngx_http_guard_peer_data_t));
    if (gd == NULL) {
        return NGX_ERROR;
    }

    gd->data = r->upstream->peer.data;
    gd->get = r->upstream->peer.get;
    gd->free = r->upstream->peer.free;
    gd->up = up;
    gd->current = NULL;

    r->upstream->peer.data = gd;
    r->upstream->peer.get = ngx_http_guard_get_peer;
    r->upstream->peer.free = ngx_http_guard_free_peer;

#if (NGX_HTTP_SSL)
    gd->set_session = r->upstream->peer.set_session;
    gd->save_session = r->upstream->peer.save_session;
    r->upstream->peer.set_session = ngx_http_guard_set_session;
    r->upstream->peer.save_session = ngx_http_guard_save_session;
#endif

    /*
     * Every callback that nginx calls with peer.data must go through us,
     * or the inner balancer gets our data: sticky (1.29.6+) and least_time
     * (1.31.0+) set notify, and keepalive wraps whatever is set.
     */

    if (r->upstream->peer.notify) {
        gd->notify = r->upstream->peer.notify;
        r->upstream->peer.notify = ngx_http_guard_notify_peer;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_guard_get_peer(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_guard_peer_data_t *gd = data;

    ngx_int_t               rc;
    ngx_http_guard_peer_t  *gp;

    rc = gd->get(pc, gd->data);

    if ((rc == NGX_OK || rc == NGX_DONE) && pc->name && gd->current == NULL) {
        gp = ngx_http_guard_peer_by_name(gd->up, pc->name);

        if (gp && gp->sh) {
            gd->current = gp;
            ngx_http_guard_inflight_get(gp);
        }
    }

    return rc;
}


static void
ngx_http_guard_free_peer(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state)
{
    ngx_http_guard_peer_data_t *gd = data;

    if (gd->current) {
        ngx_http_guard_inflight_free(gd->current);
        gd->current = NULL;
    }

    gd->free(pc, gd->data, state);
}


static void
ngx_http_guard_notify_peer(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t type)
{
    ngx_http_guard_peer_data_t *gd = data;

    gd->notify(pc, gd->data, type);
}


#if (NGX_HTTP_SSL)

static ngx_int_t
ngx_http_guard_set_session(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_guard_peer_data_t *gd = data;

    return gd->set_session(pc, gd->data);
}


static void
ngx_http_guard_save_session(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_guard_peer_data_t *gd = data;

    gd->save_session(pc, gd->data);
}

#endif


/*
 * This process' view of an upstream, built in init_module from nginx's
 * final peer lists (an upstream zone's copy included) before shm.c maps
 * each entry onto its slot: one entry per peer, primaries then backups,
 * with its role (guard_standby), configured down and weight; the floor;
 * and the table that finds an entry from pc->name.
 */

ngx_int_t
ngx_http_guard_peer_list(ngx_cycle_t *cycle, ngx_http_guard_upstream_t *up)
{
    ngx_uint_t                     n;
    ngx_http_guard_peer_t         *gp;
    ngx_http_guard_srv_conf_t     *gscf;
    ngx_http_upstream_rr_peer_t   *peer;
    ngx_http_upstream_rr_peers_t  *peers, *list;

    gscf = up->conf;
    peers = up->uscf->peer.data;

    n = peers->number + (peers->next ? peers->next->number : 0);

    up->peers = ngx_pcalloc(cycle->pool, n * sizeof(ngx_http_guard_peer_t));
    if (up->peers == NULL) {
        return NGX_ERROR;
    }

    up->npeers = 0;
    up->nprimary = peers->number;
    up->nstandby = 0;

    for (list = peers; list; list = (list == peers) ? peers->next : NULL) {

        for (peer = list->peer; peer; peer = peer->next) {

            gp = &up->peers[up->npeers++];

            gp->peers = list;
            gp->peer = peer;
            gp->up = up;
            gp->index = up->gmcf->npeers++;
            gp->cfg_down = peer->down;
            gp->cfg_weight = peer->weight;
            gp->role = (list == peers) ? NGX_HTTP_GUARD_PRIMARY
                                       : NGX_HTTP_GUARD_BACKUP;

            if (gp->role == NGX_HTTP_GUARD_PRIMARY && gscf->standby) {
                gp->standby = ngx_http_guard_peer_standby(gscf,
                                                          &peer->server);
                if (gp->standby) {
                    gp->role = NGX_HTTP_GUARD_STANDBY;
                    up->nstandby++;
                }
            }
        }
    }

    /* the floor (STATES.md): min(2, primaries + standbys) unless set */
    up->floor = (gscf->floor != NGX_CONF_UNSET_UINT)
                ? gscf->floor : ngx_min(2, up->nprimary);

    gscf->rt = up;

    return ngx_http_guard_index_peers(cycle->pool, up);
}


/* the 1-based position of a server in guard_standby, or 0 */

static ngx_uint_t
ngx_http_guard_peer_standby(ngx_http_guard_srv_conf_t *gscf,
    ngx_str_t *server)
{
    ngx_str_t   *name;
    ngx_uint_t   i;

    name = gscf->standby->elts;

    for (i = 0; i < gscf->standby->nelts; i++) {
        if (name[i].len == server->len
            && ngx_strncmp(name[i].data, server->data, server->len) == 0)
        {
            return i + 1;
        }
    }

    return 0;
}


/*
 * Every stock balancer points pc->name at the chosen peer's name: a table
 * keyed by that address finds our peer without comparing strings.
 */

static ngx_int_t
ngx_http_guard_index_peers(ngx_pool_t *pool, ngx_http_guard_upstream_t *up)
{
    ngx_uint_t              i, size, h;
    ngx_http_guard_peer_t  *gp;

    for (size = 8; size < up->npeers * 2; size *= 2) {
        /* void */
    }

    up->by_name = ngx_pcalloc(pool, size * sizeof(ngx_http_guard_peer_t *));
    if (up->by_name == NULL) {
        return NGX_ERROR;
    }

    up->by_name_mask = size - 1;

    for (i = 0; i < up->npeers; i++) {
        gp = &up->peers[i];
        h = ((uintptr_t) &gp->peer->name >> 3) & up->by_name_mask;

        while (up->by_name[h]) {
            h = (h + 1) & up->by_name_mask;
        }

        up->by_name[h] = gp;
    }

    return NGX_OK;
}


static ngx_http_guard_peer_t *
ngx_http_guard_peer_by_name(ngx_http_guard_upstream_t *up, ngx_str_t *name)
{
    ngx_uint_t  h;

    h = ((uintptr_t) name >> 3) & up->by_name_mask;

    while (up->by_name[h]) {
        if (&up->by_name[h]->peer->name == name) {
            return up->by_name[h];
        }

        h = (h + 1) & up->by_name_mask;
    }

    return NULL;
}


/*
 * The health dimension alone: is the server fit to serve?  "s" is its
 * state in the zone or a copy of it; every report asks this too.
 */

ngx_uint_t
ngx_http_guard_healthy(ngx_http_guard_peer_t *gp,
    ngx_http_guard_sh_server_t *s)
{
    if (s == NULL) {
        return 1;
    }

    switch (s->health) {

    case NGX_HTTP_GUARD_UP:
        return 1;

    case NGX_HTTP_GUARD_DOWN:
        return 0;

    default: /* NGX_HTTP_GUARD_CHECKING */
        return gp->up->conf->initial == NGX_HTTP_GUARD_UP;
    }
}


/*
 * Why a peer is out of rotation, as bits next to nginx's own "down".  In
 * panic with fail open only the config and maintenance count.
 */

static ngx_uint_t
ngx_http_guard_down_bits(ngx_http_guard_peer_t *gp, ngx_uint_t panic)
{
    ngx_uint_t                   down;
    ngx_http_guard_sh_server_t  *s;

    down = gp->cfg_down;
    s = gp->sh;

    if (s && s->admin == NGX_HTTP_GUARD_MAINTENANCE) {
        down |= NGX_HTTP_GUARD_DOWN_ADMIN;
    }

    if (panic) {
        return down;
    }

    if (s && s->admin != NGX_HTTP_GUARD_ACTIVE) {
#ifdef NGX_HTTP_UPSTREAM_DRAINING
        /*
         * A drain is nginx's own (1.29.6+): no new request, but those
         * that a sticky session binds to the server still go, until the
         * sessions end.  Drained (none came for a while) and maintenance
         * take it out for all: a late session moves to another server.
         */
        down |= (s->admin == NGX_HTTP_GUARD_DRAINING)
                ? NGX_HTTP_UPSTREAM_DRAINING : NGX_HTTP_GUARD_DOWN_ADMIN;
#else
        down |= NGX_HTTP_GUARD_DOWN_ADMIN;
#endif
    }

    if (!ngx_http_guard_healthy(gp, s)) {
        down |= NGX_HTTP_GUARD_DOWN_HEALTH;
    }

    if (gp->role == NGX_HTTP_GUARD_STANDBY && !(s && s->promoted)) {
        down |= NGX_HTTP_GUARD_DOWN_STANDBY;
    }

    return down;
}


/* fit for rotation whatever its role: config up, healthy, admin active */

ngx_uint_t
ngx_http_guard_eligible(ngx_http_guard_peer_t *gp)
{
    return (ngx_http_guard_down_bits(gp, 0) & ~NGX_HTTP_GUARD_DOWN_STANDBY)
           == 0;
}


/*
 * In rotation (STATES.md): config up, healthy (or checking with initial
 * up), admin active; in panic with fail open, health is ignored.
 */

ngx_uint_t
ngx_http_guard_in_rotation(ngx_http_guard_peer_t *gp, ngx_uint_t panic)
{
    return ngx_http_guard_down_bits(gp, panic) == 0;
}


/* panic: no server, primary or backup, is in rotation */

ngx_uint_t
ngx_http_guard_pool_panic(ngx_http_guard_upstream_t *up)
{
    ngx_uint_t  i;

    for (i = 0; i < up->npeers; i++) {
        if (ngx_http_guard_in_rotation(&up->peers[i], 0)) {
            return 0;
        }
    }

    return 1;
}


void
ngx_http_guard_apply(ngx_http_guard_upstream_t *up)
{
    ngx_uint_t                     panic;
    ngx_atomic_uint_t              gen;
    ngx_http_upstream_rr_peers_t  *peers;

    /* read the generation first: a change during apply is seen next time */
    gen = up->sh->gen;

    panic = up->conf->fail_open && ngx_http_guard_pool_panic(up);

    up->ramp_next = 0;

    peers = up->uscf->peer.data;

    ngx_http_guard_apply_list(up, peers, 0, up->nprimary, panic);

    if (peers->next) {
        ngx_http_guard_apply_list(up, peers->next, up->nprimary, up->npeers,
                                  panic);
    }

    up->applied = gen;
}


/*
 * Under the list's write lock (a no-op without a zone): derive each
 * peer's "down" from the shared state, never from its previous value, and
 * keep "tries" equal to the number of selectable peers.  Weights are not
 * touched yet; total_weight stays the sum over all peers.
 */

static void
ngx_http_guard_apply_list(ngx_http_guard_upstream_t *up,
    ngx_http_upstream_rr_peers_t *list, ngx_uint_t first, ngx_uint_t last,
    ngx_uint_t panic)
{
    uint64_t                      now, next;
    ngx_uint_t                    i, down, tries, w, total, live;
    ngx_http_guard_peer_t        *gp;
    ngx_http_upstream_rr_peer_t  *peer;

    tries = 0;
    total = 0;
    live = up->conf->live_weights;
    now = ngx_http_guard_now_ms();

    ngx_http_upstream_rr_peers_wlock(list);

    for (i = first; i < last; i++) {
        gp = &up->peers[i];
        peer = gp->peer;

        if (live) {
            /* never 0: total_weight stays the sum over all peers */
            w = ngx_http_guard_nginx_weight(up,
                    ngx_http_guard_effective_weight(gp, gp->sh, now, NULL));

            next = ngx_http_guard_ramp_next(gp, gp->sh, now);

            if (next && (up->ramp_next == 0 || next < up->ramp_next)) {
                up->ramp_next = next;
            }

            if ((ngx_uint_t) peer->weight != w) {
                /*
                 * Round robin's effective_weight is the weight less what
                 * passive failures took; it only climbs by 1 a request.
                 * Keep the same proportion, so that a new scale or a
                 * ramp step takes effect at once.
                 */
                peer->effective_weight = (ngx_int_t)
                    (ngx_http_guard_mul_sat(
                         (uint64_t) peer->effective_weight, w)
                     / peer->weight);
                peer->weight = w;
            }
        }

        total += peer->weight;

        down = ngx_http_guard_down_bits(gp, panic);

        if ((peer->down && down == 0)
            || ((peer->down & ~NGX_HTTP_GUARD_DOWN_BOUND)
                && (down & ~NGX_HTTP_GUARD_DOWN_BOUND) == 0))
        {
            /*
             * Back in rotation, or open again to the requests a sticky
             * session binds to it (draining): forget passive failures and
             * old credit (a slow start, where configured, sets the pace
             * from here).  Left alone, nginx's failure count would send
             * bound requests elsewhere, and bind them there, until
             * fail_timeout ends.
             */
            peer->fails = 0;
            peer->current_weight = 0;
            peer->effective_weight = peer->weight;
        }

        peer->down = down;

        if (down == 0) {
            tries++;
        }
    }

    list->tries = tries;
    list->total_weight = total;
    list->weighted = (total != list->number);

    ngx_http_upstream_rr_peers_unlock(list);
}
