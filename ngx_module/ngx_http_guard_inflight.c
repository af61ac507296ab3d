
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * Requests in flight per server, counted in the shared zone across
 * workers and reload generations: what says "drained".
 *
 * Each server's slot has one count that every worker moves.  A worker
 * killed with a signal never gives back what it counted, and a drain would
 * then wait for ever; so each worker also keeps its own share in a ledger
 * in the zone, one entry per server of its configuration, and the ledgers
 * of processes that died are subtracted (by the checking worker's tick,
 * and by the master before a reload frees slots).
 *
 * A reload that resizes the zone leaves the old workers counting in the
 * old zone, which the new workers never see: their ledgers are carried
 * into the new zone, and what they count there is given back when they
 * are gone.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_guard.h"


#define NGX_HTTP_GUARD_REAP_EVERY  1000     /* ms between reaps */


struct ngx_http_guard_sh_ledger_s {
    ngx_http_guard_sh_ledger_t      *next;
    ngx_pid_t                        pid;
    ngx_uint_t                       carried;   /* from a resized zone */
    ngx_uint_t                       n;
    ngx_http_guard_sh_server_t     **slot;      /* [n] */
    ngx_atomic_t                    *count;     /* [n], by its process */
};


static void ngx_http_guard_inflight_sub(ngx_http_guard_sh_server_t *s,
    ngx_atomic_uint_t n);


/* this process' ledger (one configuration per process) */
static ngx_http_guard_sh_ledger_t  *ngx_http_guard_ledger;
static ngx_msec_t                   ngx_http_guard_next_reap;


/*
 * A worker (or the single process) starts: its ledger, one entry per
 * peer of its configuration, numbered by peer_t.index.  A full zone only
 * costs the clean-up after a crash, never the count itself.
 */

ngx_int_t
ngx_http_guard_inflight_init_process(ngx_cycle_t *cycle,
    ngx_http_guard_main_conf_t *gmcf)
{
    size_t                       size;
    ngx_uint_t                   i, j, n;
    ngx_slab_pool_t             *shpool;
    ngx_http_guard_sh_t         *sh;
    ngx_http_guard_upstream_t   *up;
    ngx_http_guard_sh_ledger_t  *lg;

    ngx_http_guard_ledger = NULL;

    sh = ngx_http_guard_shm_root(gmcf, &shpool);
    up = gmcf->upstreams.elts;
    n = gmcf->npeers;

    size = sizeof(ngx_http_guard_sh_ledger_t)
           + n * (sizeof(ngx_http_guard_sh_server_t *)
                  + sizeof(ngx_atomic_t));

    ngx_shmtx_lock(&shpool->mutex);

    lg = ngx_slab_alloc_locked(shpool, size);

    if (lg == NULL) {
        ngx_shmtx_unlock(&shpool->mutex);

        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "upstream guard: zone \"%s\" has no room for the "
                      "in-flight ledger of worker %P: if it is killed, its "
                      "requests stay counted", NGX_HTTP_GUARD_SHM_NAME,
                      ngx_pid);
        return NGX_OK;
    }

    lg->pid = ngx_pid;
    lg->carried = 0;
    lg->n = n;
    lg->count = (ngx_atomic_t *) (lg + 1);
    lg->slot = (ngx_http_guard_sh_server_t **) (lg->count + n);

    for (i = 0; i < gmcf->upstreams.nelts; i++) {
        for (j = 0; j < up[i].npeers; j++) {
            lg->slot[up[i].peers[j].index] = up[i].peers[j].sh;
            lg->count[up[i].peers[j].index] = 0;
        }
    }

    lg->next = sh->ledgers;
    sh->ledgers = lg;

    ngx_shmtx_unlock(&shpool->mutex);

    ngx_http_guard_ledger = lg;

    return NGX_OK;
}


/* a process that exits on its own has nothing in flight: the ledger goes */

void
ngx_http_guard_inflight_exit_process(ngx_http_guard_main_conf_t *gmcf)
{
    ngx_slab_pool_t              *shpool;
    ngx_http_guard_sh_t          *sh;
    ngx_http_guard_sh_ledger_t  **lp;

    if (ngx_http_guard_ledger == NULL) {
        return;
    }

    sh = ngx_http_guard_shm_root(gmcf, &shpool);

    ngx_shmtx_lock(&shpool->mutex);

    for (lp = &sh->ledgers; *lp; lp = &(*lp)->next) {
        if (*lp == ngx_http_guard_ledger) {
            *lp = ngx_http_guard_ledger->next;
            ngx_slab_free_locked(shpool, ngx_http_guard_ledger);
            break;
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);

    ngx_http_guard_ledger = NULL;
}


/* a request starts on a server: the balancer chose peer gp */

void
ngx_http_guard_inflight_get(ngx_http_guard_peer_t *gp)
{
    (void) ngx_atomic_fetch_add(&gp->sh->inflight, 1);

    /* only sticky sessions (1.29.6+) bring requests to a draining server */

    if (gp->sh->admin == NGX_HTTP_GUARD_DRAINING) {
        gp->sh->last_start = ngx_http_guard_now_ms();
    }

    if (ngx_http_guard_ledger && gp->index < ngx_http_guard_ledger->n) {
        ngx_http_guard_ledger->count[gp->index]++;
    }
}


void
ngx_http_guard_inflight_free(ngx_http_guard_peer_t *gp)
{
    ngx_http_guard_inflight_sub(gp->sh, 1);

    if (ngx_http_guard_ledger
        && gp->index < ngx_http_guard_ledger->n
        && ngx_http_guard_ledger->count[gp->index])
    {
        ngx_http_guard_ledger->count[gp->index]--;
    }
}


/*
 * Under the zone mutex: the ledgers of processes that are gone (killed,
 * crashed) are subtracted from the servers' counts and freed.  Called by
 * the checking worker's tick (at most once a second) and by the master
 * before a reload frees slots, which a dead worker's ledger may name.
 */

void
ngx_http_guard_inflight_reap_locked(ngx_http_guard_sh_t *sh,
    ngx_slab_pool_t *shpool)
{
    ngx_uint_t                    i;
    ngx_http_guard_sh_ledger_t   *lg, **lp;

    lp = &sh->ledgers;

    while (*lp) {
        lg = *lp;

        if (lg->pid == ngx_pid
            || !(kill(lg->pid, 0) == -1 && ngx_errno == NGX_ESRCH))
        {
            lp = &lg->next;
            continue;
        }

        for (i = 0; i < lg->n; i++) {
            if (lg->count[i] == 0 || lg->slot[i] == NULL) {
                continue;
            }

            /* an old worker carried from a resized zone exits when done */

            if (!lg->carried) {
                ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                              "upstream guard: process %P is gone with %uA "
                              "requests in flight to server %V: no longer "
                              "counted", lg->pid, lg->count[i],
                              &lg->slot[i]->server);
            }

            ngx_http_guard_inflight_sub(lg->slot[i], lg->count[i]);
        }

        *lp = lg->next;
        ngx_slab_free_locked(shpool, lg);
    }
}


/*
 * A reload resized the zone: the master, under the mutexes of both zones,
 * after the new zone's slots are mapped.  Each live process's ledger in
 * the old zone is copied into the new one, naming the new slots of the
 * same servers (a server no longer configured is left out), and its
 * counts are added to theirs.  The old workers go on counting in the old
 * zone only, so the copy is what they had in flight at the reload and it
 * stays until they are gone: a drain ends when the old workers have
 * finished (they exit after their last request), never before.  The
 * master's own ledger ("master_process off": the same process goes on)
 * is not carried; it could never be given back.
 */

void
ngx_http_guard_inflight_carry_locked(ngx_http_guard_sh_t *sh,
    ngx_slab_pool_t *shpool, ngx_http_guard_sh_t *osh)
{
    size_t                        size;
    ngx_uint_t                    i, m;
    ngx_str_node_t               *sn;
    ngx_http_guard_sh_server_t   *os;
    ngx_http_guard_sh_ledger_t   *lg, *olg;

    for (olg = osh->ledgers; olg; olg = olg->next) {

        if (olg->pid == ngx_pid
            || (kill(olg->pid, 0) == -1 && ngx_errno == NGX_ESRCH))
        {
            continue;
        }

        m = 0;

        for (i = 0; i < olg->n; i++) {
            m += (olg->count[i] && olg->slot[i]);
        }

        if (m == 0) {
            continue;
        }

        size = sizeof(ngx_http_guard_sh_ledger_t)
               + m * (sizeof(ngx_http_guard_sh_server_t *)
                      + sizeof(ngx_atomic_t));

        lg = ngx_slab_alloc_locked(shpool, size);

        if (lg == NULL) {
            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "upstream guard: zone \"%s\" has no room for the "
                          "requests in flight of old worker %P: a drain may "
                          "end before they do", NGX_HTTP_GUARD_SHM_NAME,
                          olg->pid);
            continue;
        }

        lg->pid = olg->pid;
        lg->carried = 1;
        lg->n = 0;
        lg->count = (ngx_atomic_t *) (lg + 1);
        lg->slot = (ngx_http_guard_sh_server_t **) (lg->count + m);

        for (i = 0; i < olg->n && lg->n < m; i++) {
            os = olg->slot[i];

            if (olg->count[i] == 0 || os == NULL) {
                continue;
            }

            sn = ngx_str_rbtree_lookup(&sh->servers, &os->node.str,
                                       os->node.node.key);
            if (sn == NULL) {
                continue;       /* no longer configured */
            }

            lg->slot[lg->n] = (ngx_http_guard_sh_server_t *) sn;
            lg->count[lg->n] = olg->count[i];

            (void) ngx_atomic_fetch_add(&lg->slot[lg->n]->inflight,
                                        olg->count[i]);
            lg->n++;
        }

        if (lg->n == 0) {
            ngx_slab_free_locked(shpool, lg);
            continue;
        }

        lg->next = sh->ledgers;
        sh->ledgers = lg;
    }
}


void
ngx_http_guard_inflight_reap(ngx_http_guard_main_conf_t *gmcf)
{
    ngx_slab_pool_t      *shpool;
    ngx_http_guard_sh_t  *sh;

    if ((ngx_msec_int_t) (ngx_current_msec - ngx_http_guard_next_reap) < 0) {
        return;
    }

    ngx_http_guard_next_reap = ngx_current_msec + NGX_HTTP_GUARD_REAP_EVERY;

    sh = ngx_http_guard_shm_root(gmcf, &shpool);

    ngx_shmtx_lock(&shpool->mutex);
    ngx_http_guard_inflight_reap_locked(sh, shpool);
    ngx_shmtx_unlock(&shpool->mutex);
}


/* never below zero */

static void
ngx_http_guard_inflight_sub(ngx_http_guard_sh_server_t *s,
    ngx_atomic_uint_t n)
{
    ngx_atomic_uint_t  v;

    do {
        v = s->inflight;
    } while (v && !ngx_atomic_cmp_set(&s->inflight, v, v > n ? v - n : 0));
}
