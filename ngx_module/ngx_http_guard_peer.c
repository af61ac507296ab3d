
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


static ngx_uint_t ngx_http_guard_down_bits(ngx_http_guard_peer_t *gp,
    ngx_uint_t panic);
static void ngx_http_guard_apply_list(ngx_http_guard_upstream_t *up,
    ngx_http_upstream_rr_peers_t *list, ngx_uint_t first, ngx_uint_t last,
    ngx_uint_t panic);


ngx_int_t
ngx_http_guard_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_http_guard_upstream_t  *up;
    ngx_http_guard_srv_conf_t  *gscf;

    gscf = ngx_http_conf_upstream_srv_conf(us, ngx_http_upstream_guard_module);
    up = gscf->rt;

    if (up && up->applied != up->sh->gen) {
        ngx_http_guard_apply(up);
    }

    return gscf->original_init_peer(r, us);
}


/* the health dimension alone: is the server fit to serve? */

static ngx_uint_t
ngx_http_guard_healthy(ngx_http_guard_peer_t *gp)
{
    ngx_http_guard_sh_server_t  *s;

    s = gp->sh;

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
        down |= NGX_HTTP_GUARD_DOWN_ADMIN;
    }

    if (!ngx_http_guard_healthy(gp)) {
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
    uint64_t                      now;
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
            w = ngx_http_guard_effective_weight(gp, gp->sh, now, NULL);

            peer->weight = w;

            if (peer->effective_weight > (ngx_int_t) w) {
                peer->effective_weight = w;
            }
        }

        total += peer->weight;

        down = ngx_http_guard_down_bits(gp, panic);

        if (peer->down && down == 0) {
            /* back in rotation: forget passive failures and old credit */
            peer->fails = 0;
            peer->current_weight = 0;
            peer->effective_weight = live ? 1 : peer->weight;
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
