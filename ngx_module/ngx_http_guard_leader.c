
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * One checking worker across all workers: a lease in the shared zone,
 * renewed by a cancelable tick in every worker.  Only the lease holder of
 * the current config generation runs checks; when it dies, exits or is
 * replaced by a reload, another worker takes over within a second (the
 * next tick of another worker sees that its process is gone).  A holder
 * that is alive keeps the lease until it has not renewed it for
 * NGX_HTTP_GUARD_LEASE ms: a stalled event loop on a loaded machine is
 * not a reason to move 10,000 checks to another worker.
 * Also: scheduling the checks, and handing each result to the state
 * owner (ngx_http_guard_state.c), which records it.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_guard.h"
#include "ngx_http_guard_uring.h"


#define NGX_HTTP_GUARD_TICK     150
#define NGX_HTTP_GUARD_LEASE    2000
#define NGX_HTTP_GUARD_SETTLE   20
#define NGX_HTTP_GUARD_LATE_MAX 50      /* ms: a start this late keeps its
                                           due time as the next one's base */

/* the grid of check starts: see ngx_http_guard_grid() */
#define NGX_HTTP_GUARD_GRID_BATCH 50    /* checks per point, the aim */
#define NGX_HTTP_GUARD_GRID_MIN   10    /* ms */
#define NGX_HTTP_GUARD_GRID_MAX   50    /* ms */


static void ngx_http_guard_tick(ngx_event_t *ev);
static ngx_uint_t ngx_http_guard_lead(ngx_http_guard_sh_t *sh);
static void ngx_http_guard_start_leading(ngx_cycle_t *cycle);
static void ngx_http_guard_stop_leading(void);
static ngx_uint_t ngx_http_guard_budget(void);
static ngx_msec_t ngx_http_guard_grid(void);
static void ngx_http_guard_schedule(ngx_http_guard_check_t *chk,
    ngx_http_guard_peer_t *gp, ngx_msec_t delay);
static void ngx_http_guard_check_handler(ngx_event_t *ev);
static void ngx_http_guard_check_done(ngx_http_guard_peer_t *gp,
    ngx_uint_t ok, u_char *reason, ngx_msec_t started,
    ngx_http_guard_agent_t *agent);
static ngx_uint_t ngx_http_guard_slot(ngx_http_guard_upstream_t *up);
static void ngx_http_guard_dispatch(ngx_http_guard_main_conf_t *gmcf);
static void ngx_http_guard_start(ngx_http_guard_peer_t *gp);
static void ngx_http_guard_ramp(void);
static void ngx_http_guard_unsettled(ngx_http_guard_upstream_t *up);
static void ngx_http_guard_settle(ngx_event_t *ev);
static void ngx_http_guard_renew(void);
static ngx_msec_t ngx_http_guard_random(ngx_msec_t range);


/*
 * What this process runs: the main conf of its configuration (the cycle
 * of a worker, or the latest one of the single process), and whether it
 * ever ran the tick.  Everything else lives in that configuration's
 * ngx_http_guard_leader_t, so a new cycle starts from a clean one.
 */
static ngx_http_guard_main_conf_t  *ngx_http_guard_gmcf;
static ngx_uint_t                   ngx_http_guard_started;


ngx_int_t
ngx_http_guard_leader_init_process(ngx_cycle_t *cycle)
{
    ngx_http_guard_leader_t  *lc;

    ngx_http_guard_gmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_upstream_guard_module);
    lc = &ngx_http_guard_gmcf->leader;
    lc->leading = 0;
    ngx_http_guard_started = 1;

    ngx_memzero(&lc->tick, sizeof(ngx_event_t));

    lc->tick.handler = ngx_http_guard_tick;
    lc->tick.log = cycle->log;
    lc->tick.data = cycle;
    lc->tick.cancelable = 1;

    ngx_add_timer(&lc->tick, ngx_http_guard_random(50) + 1);

    ngx_memzero(&lc->settle, sizeof(ngx_event_t));

    lc->settle.handler = ngx_http_guard_settle;
    lc->settle.log = cycle->log;
    lc->settle.data = cycle;
    lc->settle.cancelable = 1;

    ngx_queue_init(&lc->unsettled);

    return NGX_OK;
}


/* true once this process runs the tick (a worker, or the single process) */

ngx_uint_t
ngx_http_guard_running(void)
{
    return ngx_http_guard_started;
}


void
ngx_http_guard_leader_exit_process(ngx_cycle_t *cycle)
{
    ngx_slab_pool_t          *shpool;
    ngx_http_guard_sh_t      *sh;
    ngx_http_guard_leader_t  *lc;

    if (ngx_http_guard_gmcf == NULL) {
        return;
    }

    lc = &ngx_http_guard_gmcf->leader;

    if (lc->leading) {
        ngx_http_guard_stop_leading();
    }

    if (lc->tick.timer_set) {
        ngx_del_timer(&lc->tick);
    }

    /* the last changes, while this process still holds the lease */
    ngx_http_guard_statefile_save(ngx_http_guard_gmcf, 1);

    sh = ngx_http_guard_shm_root(ngx_http_guard_gmcf, &shpool);

    ngx_shmtx_lock(&shpool->mutex);

    if (sh->leader_pid == ngx_pid) {
        sh->leader_pid = 0;
        sh->lease_until = 0;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    ngx_http_guard_gmcf = NULL;
}


static void
ngx_http_guard_tick(ngx_event_t *ev)
{
    ngx_uint_t                lead;
    ngx_slab_pool_t          *shpool;
    ngx_http_guard_sh_t      *sh;
    ngx_http_guard_leader_t  *lc;

    sh = ngx_http_guard_shm_root(ngx_http_guard_gmcf, &shpool);
    lc = &ngx_http_guard_gmcf->leader;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        if (lc->leading) {
            ngx_http_guard_stop_leading();
        }
        return;
    }

    ngx_shmtx_lock(&shpool->mutex);
    lead = ngx_http_guard_lead(sh);
    ngx_shmtx_unlock(&shpool->mutex);

    if (lead && !lc->leading) {
        lc->grid = ngx_http_guard_grid();
        ngx_log_error(NGX_LOG_NOTICE, ev->log, 0,
                      "upstream guard: worker %P runs the checks "
                      "(config generation %ui, starts on a %M ms grid)",
                      ngx_pid, ngx_http_guard_gmcf->generation, lc->grid);
        ngx_http_guard_start_leading(ev->data);

    } else if (!lead && lc->leading) {
        ngx_log_error(NGX_LOG_NOTICE, ev->log, 0,
                      "upstream guard: worker %P stops checking", ngx_pid);
        ngx_http_guard_stop_leading();
    }

    if (lc->leading) {
        ngx_http_guard_ramp();
        ngx_http_guard_inflight_reap(ngx_http_guard_gmcf);
        ngx_http_guard_state_tick(ngx_http_guard_gmcf);
        ngx_http_guard_statefile_save(ngx_http_guard_gmcf, 0);
    }

    ngx_add_timer(ev, NGX_HTTP_GUARD_TICK);
}


/* under the zone mutex: renew, keep off, or take over the lease */

static ngx_uint_t
ngx_http_guard_lead(ngx_http_guard_sh_t *sh)
{
    ngx_msec_t  now;

    now = ngx_current_msec;

    if (sh->generation != ngx_http_guard_gmcf->generation) {
        /* a reload replaced this worker's config */
        if (sh->leader_pid == ngx_pid) {
            sh->leader_pid = 0;
        }
        return 0;
    }

    if (sh->leader_pid == ngx_pid) {
        sh->lease_until = now + NGX_HTTP_GUARD_LEASE;
        return 1;
    }

    if (sh->leader_pid != 0
        && sh->leader_gen == sh->generation
        && (ngx_msec_int_t) (sh->lease_until - now) > 0
        && !(kill(sh->leader_pid, 0) == -1 && ngx_errno == NGX_ESRCH))
    {
        return 0;
    }

    sh->leader_pid = ngx_pid;
    sh->leader_gen = sh->generation;
    sh->lease_until = now + NGX_HTTP_GUARD_LEASE;
    sh->leader_changes++;

    return 1;
}


static void
ngx_http_guard_start_leading(ngx_cycle_t *cycle)
{
    ngx_msec_t                  now, delay, spread;
    ngx_uint_t                  i, j, k, total;
    ngx_slab_pool_t            *shpool;
    ngx_http_guard_sh_t        *sh;
    ngx_http_guard_peer_t      *gp;
    ngx_http_guard_check_t     *chk;
    ngx_http_guard_leader_t    *lc;
    ngx_http_guard_upstream_t  *up;

    lc = &ngx_http_guard_gmcf->leader;
    lc->leading = 1;

    if (ngx_http_guard_gmcf->check_io == NGX_HTTP_GUARD_IO_URING) {
        /* slots: the budget, and as many closing; epoll if it cannot be */
        (void) ngx_http_guard_uring_init(cycle, 2 * ngx_http_guard_budget(),
                                         ngx_http_guard_check_uring_handler);
    }

    /* what the report says: what this leader really uses */

    sh = ngx_http_guard_shm_root(ngx_http_guard_gmcf, &shpool);

    ngx_shmtx_lock(&shpool->mutex);
    sh->check_io = ngx_http_guard_uring_active() ? NGX_HTTP_GUARD_IO_URING
                                                 : NGX_HTTP_GUARD_IO_EPOLL;
    sh->check_grid = lc->grid;
    ngx_shmtx_unlock(&shpool->mutex);

    now = ngx_current_msec;
    up = ngx_http_guard_gmcf->upstreams.elts;

    ngx_queue_init(&lc->turns);
    ngx_queue_init(&lc->unsettled);
    lc->settled = now;

    total = 0;

    for (i = 0; i < ngx_http_guard_gmcf->upstreams.nelts; i++) {
        up[i].active = 0;
        up[i].dirty = 0;
        ngx_queue_init(&up[i].waiting);
        ngx_queue_init(&up[i].ready);

        if (up[i].sh) {
            total += up[i].npeers;
        }
    }

    /* take over the pool decisions too: the floor may have moved */

    ngx_http_guard_state_takeover(ngx_http_guard_gmcf);

    /*
     * A new schedule is spread evenly over the first interval (at most a
     * second), across all upstreams: the k-th of the servers to check
     * takes the phase k/total of it, so that a thousand upstreams of ten
     * do not all start their first servers at once.  Its first check runs
     * at half its phase, so that every server has a result well within
     * one interval, and its second one at its phase plus an interval,
     * however late the first one ran: the first round runs at twice the
     * rate (or as fast as the worker can), every later one evenly.
     */

    k = 0;

    for (i = 0; i < ngx_http_guard_gmcf->upstreams.nelts; i++) {

        if (up[i].sh == NULL) {
            continue;
        }

        spread = ngx_min(up[i].conf->interval, 1000);

        for (j = 0; j < up[i].npeers; j++) {
            gp = &up[i].peers[j];

            if (!gp->check_owner || gp->sh == NULL) {
                continue;
            }

            if (gp->check == NULL) {
                gp->check = ngx_http_guard_check_create(cycle->pool, gp,
                                              cycle->log,
                                              ngx_http_guard_check_done);
                if (gp->check == NULL) {
                    continue;
                }
            }

            chk = gp->check;
            k++;

            /* keep the schedule of a previous leader, spread a new one */

            if (gp->sh->next_check
                && (ngx_msec_int_t) (gp->sh->next_check - now) >= 0
                && gp->sh->next_check - now <= up[i].conf->interval
                                              + up[i].conf->jitter)
            {
                delay = gp->sh->next_check - now;
                gp->second = 0;

            } else {
                delay = (ngx_msec_t) ((uint64_t) k * spread / total);
                gp->second = now + delay + up[i].conf->interval;
                gp->second += (gp->second == 0);
                delay /= 2;
            }

            ngx_http_guard_schedule(chk, gp, delay);
        }
    }
}


static void
ngx_http_guard_stop_leading(void)
{
    ngx_uint_t                  i, j;
    ngx_http_guard_peer_t      *gp;
    ngx_http_guard_leader_t    *lc;
    ngx_http_guard_upstream_t  *up;

    lc = &ngx_http_guard_gmcf->leader;
    lc->leading = 0;
    lc->active = 0;
    ngx_queue_init(&lc->turns);
    ngx_queue_init(&lc->unsettled);

    if (lc->settle.posted) {
        ngx_delete_posted_event(&lc->settle);
    }

    if (lc->settle.timer_set) {
        ngx_del_timer(&lc->settle);
    }

    up = ngx_http_guard_gmcf->upstreams.elts;

    for (i = 0; i < ngx_http_guard_gmcf->upstreams.nelts; i++) {
        up[i].active = 0;
        up[i].dirty = 0;
        ngx_queue_init(&up[i].waiting);
        ngx_queue_init(&up[i].ready);

        for (j = 0; j < up[i].npeers; j++) {
            gp = &up[i].peers[j];

            if (gp->check) {
                ngx_http_guard_check_abort(gp->check);
            }
        }
    }

    ngx_http_guard_check_bufs_free(lc);

    /* the aborted checks' io_uring operations come back, then it goes */
    ngx_http_guard_uring_done();
}


/*
 * Check starts are rounded to the nearest point of a grid, so that
 * checks due within a few milliseconds of each other start in the same
 * loop iteration and share its wake-up (and, with io_uring, one
 * submission).  Each wake-up of the checking worker costs about the same
 * whatever it does: at a thousand checks a second, a grid of 50 ms
 * instead of 10 (io_uring) or none (epoll) halved the CPU per check
 * (README, Last runs).  The grid aims at NGX_HTTP_GUARD_GRID_BATCH
 * checks per point at the configured rate, between
 * NGX_HTTP_GUARD_GRID_MIN and NGX_HTTP_GUARD_GRID_MAX ms, and at most a
 * tenth of the shortest interval.  Only the start moves: the next check
 * counts from when this one was due (check_done), so that the interval
 * stays the configured one and a start is never more than half a grid
 * away from its due time.
 */

static ngx_msec_t
ngx_http_guard_grid(void)
{
    uint64_t                    rate;
    ngx_msec_t                  grid, shortest;
    ngx_uint_t                  i;
    ngx_http_guard_upstream_t  *up;

    rate = 0;                   /* checks per 1,000 s */
    shortest = NGX_HTTP_GUARD_GRID_MAX * 10;
    up = ngx_http_guard_gmcf->upstreams.elts;

    for (i = 0; i < ngx_http_guard_gmcf->upstreams.nelts; i++) {

        if (up[i].sh == NULL || up[i].conf->interval == 0) {
            continue;
        }

        rate += (uint64_t) up[i].npeers * 1000000 / up[i].conf->interval;
        shortest = ngx_min(shortest, up[i].conf->interval);
    }

    grid = (rate > (uint64_t) NGX_HTTP_GUARD_GRID_BATCH * 1000000
                   / NGX_HTTP_GUARD_GRID_MAX)
           ? (ngx_msec_t) ((uint64_t) NGX_HTTP_GUARD_GRID_BATCH * 1000000
                           / rate)
           : NGX_HTTP_GUARD_GRID_MAX;

    grid = ngx_max(grid, NGX_HTTP_GUARD_GRID_MIN);
    grid = ngx_min(grid, shortest / 10);

    return ngx_max(grid, 1);
}


static void
ngx_http_guard_schedule(ngx_http_guard_check_t *chk,
    ngx_http_guard_peer_t *gp, ngx_msec_t delay)
{
    ngx_msec_t    due, grid, at;
    ngx_event_t  *ev;

    ev = ngx_http_guard_check_timer(chk);

    ev->handler = ngx_http_guard_check_handler;
    ev->data = gp;
    ev->log = ngx_cycle->log;
    ev->cancelable = 1;

    due = ngx_current_msec + delay;
    gp->due = due;

    /* the nearest point of the grid, never now or before */

    grid = gp->up->gmcf->leader.grid;

    at = due + grid / 2;
    at -= at % grid;

    while ((ngx_msec_int_t) (at - ngx_current_msec) <= 0) {
        at += grid;
    }

    ngx_add_timer(ev, at - ngx_current_msec);
}


/*
 * A check may start while the checks in flight stay within the budget
 * and its upstream's in-flight checks within an equal share of it:
 * servers that hang until their timeout hold their own upstream's
 * slots, never another upstream's.  Otherwise it waits for a slot.
 */

static void
ngx_http_guard_check_handler(ngx_event_t *ev)
{
    ngx_http_guard_peer_t      *gp;
    ngx_http_guard_leader_t    *lc;
    ngx_http_guard_upstream_t  *up;

    gp = ev->data;
    up = gp->up;
    lc = &up->gmcf->leader;

    if (!lc->leading || ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    if (gp->sh->admin == NGX_HTTP_GUARD_MAINTENANCE) {
        /* no check traffic to a box being patched: look again later */
        gp->second = 0;
        ngx_http_guard_schedule(gp->check, gp, up->conf->interval);
        return;
    }

    if (ngx_queue_empty(&up->waiting) && ngx_http_guard_slot(up)) {
        ngx_http_guard_start(gp);
        return;
    }

    ngx_queue_insert_tail(&up->waiting, &gp->wait);

    if (ngx_queue_empty(&up->ready)) {
        /* not in the turn yet: join it at the end */
        ngx_queue_insert_tail(&lc->turns, &up->ready);
    }
}


/* the checks in flight a worker allows: a quarter of its connections */

static ngx_uint_t
ngx_http_guard_budget(void)
{
    return ngx_max(ngx_cycle->connection_n / 4, 1);
}


/* a free slot for a check of this upstream */

static ngx_uint_t
ngx_http_guard_slot(ngx_http_guard_upstream_t *up)
{
    ngx_uint_t  budget, share;

    budget = ngx_http_guard_budget();
    share = budget / ngx_max(up->gmcf->upstreams.nelts, 1);

    return up->gmcf->leader.active < budget && up->active < ngx_max(share, 1);
}


/*
 * Slots freed: upstreams with waiting checks take turns, each starting
 * its oldest waiting check and going to the end of the turn.  An
 * upstream whose own share is in use leaves the turn until one of its
 * checks ends (check_done puts it back), so that a walk never passes the
 * same blocked upstream twice: with a thousand upstreams at their share,
 * each ending check cost a walk over all of them.  A check may end at
 * once (connect refused) and call this again: the outer loop goes on
 * instead.
 */

static void
ngx_http_guard_dispatch(ngx_http_guard_main_conf_t *gmcf)
{
    ngx_uint_t                  budget;
    ngx_queue_t                *q;
    ngx_http_guard_peer_t      *gp;
    ngx_http_guard_leader_t    *lc;
    ngx_http_guard_upstream_t  *up;

    lc = &gmcf->leader;

    if (lc->dispatching) {
        return;
    }

    lc->dispatching = 1;

    budget = ngx_http_guard_budget();

    while (lc->leading
           && lc->active < budget
           && !ngx_queue_empty(&lc->turns))
    {
        q = ngx_queue_head(&lc->turns);
        up = ngx_queue_data(q, ngx_http_guard_upstream_t, ready);

        ngx_queue_remove(&up->ready);
        ngx_queue_init(&up->ready);

        if (!ngx_http_guard_slot(up)) {
            continue;
        }

        q = ngx_queue_head(&up->waiting);
        gp = ngx_queue_data(q, ngx_http_guard_peer_t, wait);

        ngx_queue_remove(&gp->wait);

        if (!ngx_queue_empty(&up->waiting)) {
            ngx_queue_insert_tail(&lc->turns, &up->ready);
        }

        ngx_http_guard_start(gp);
    }

    lc->dispatching = 0;
}


static void
ngx_http_guard_start(ngx_http_guard_peer_t *gp)
{
    ngx_http_guard_leader_t  *lc;

    lc = &gp->up->gmcf->leader;

    lc->active++;
    gp->up->active++;

    if (ngx_http_guard_check_start(gp->check) != NGX_OK) {
        lc->active--;
        gp->up->active--;
    }
}


/*
 * Called by check.c when a check ends (never re-entrantly from start).
 * Records the result under the zone mutex, moves the health state after
 * rise/fall, logs each transition once, and marks the upstream for the
 * next settle when routing may have moved.  Costs the same whatever the
 * size of the upstream.
 */

static void
ngx_http_guard_check_done(ngx_http_guard_peer_t *gp, ngx_uint_t ok,
    u_char *reason, ngx_msec_t started, ngx_http_guard_agent_t *agent)
{
    ngx_msec_t                   delay;
    ngx_msec_int_t               late;
    ngx_http_guard_leader_t     *lc;
    ngx_http_guard_upstream_t   *up;
    ngx_http_guard_srv_conf_t   *gscf;
    ngx_http_guard_result_t      res;
    ngx_http_guard_change_t      ch;

    up = gp->up;
    gscf = up->conf;
    lc = &up->gmcf->leader;

    if (lc->active) {
        lc->active--;
    }

    if (up->active) {
        up->active--;
    }

    if (!ngx_queue_empty(&up->waiting) && ngx_queue_empty(&up->ready)) {
        /* it left the turn with its share in use: back at the end */
        ngx_queue_insert_tail(&lc->turns, &up->ready);
    }

    if (!ngx_queue_empty(&lc->turns)) {
        ngx_http_guard_dispatch(up->gmcf);
    }

    if (!lc->leading) {
        return;
    }

    /*
     * The next check counts from this one's start, not its end: from when
     * it was due when it started on the grid (half a grid early or late;
     * a whole grid is allowed) or a little late (a long loop iteration),
     * so that such shifts do not add up from one interval to the next and
     * change the rate.
     */

    if (gp->second) {
        /* the first check of a new schedule: its phase comes next */
        res.next = gp->second;
        gp->second = 0;

    } else {
        late = (ngx_msec_int_t) (started - gp->due);

        res.next = (late >= -(ngx_msec_int_t) lc->grid
                    && late <= (ngx_msec_int_t)
                               ngx_min(NGX_HTTP_GUARD_LATE_MAX,
                                       gscf->interval / 4))
                   ? gp->due : started;

        res.next += gscf->interval + ngx_http_guard_random(gscf->jitter);
    }

    if (ok != NGX_HTTP_GUARD_CHECK_SKIP) {
        res.outcome = ok;
        res.reason = reason;
        res.started = started;
        res.agent = agent;

        if (ngx_http_guard_state_result(gp, &res, &ch) != NGX_OK) {
            return;
        }

        if (ch.routing) {
            ngx_http_guard_unsettled(up);
        }
    }

    delay = ((ngx_msec_int_t) (res.next - ngx_current_msec) > 0)
            ? res.next - ngx_current_msec : 0;

    ngx_http_guard_schedule(gp->check, gp, delay);
}


/*
 * Slow start moves in steps: while a server of an upstream ramps, bump
 * the upstream's generation about once per step so that every worker
 * re-applies the weights.  Each worker also re-applies at the steps its
 * own clock sees (ramp_next, peer.c): these bumps may miss the last one.
 */

static void
ngx_http_guard_ramp(void)
{
    uint64_t                    now;
    ngx_msec_t                  step;
    ngx_uint_t                  i;
    ngx_http_guard_upstream_t  *up;

    now = ngx_http_guard_now_ms();
    up = ngx_http_guard_gmcf->upstreams.elts;

    for (i = 0; i < ngx_http_guard_gmcf->upstreams.nelts; i++) {

        if (up[i].sh == NULL
            || (ngx_msec_int_t) (up[i].next_ramp - ngx_current_msec) > 0
            || !ngx_http_guard_pool_ramping(&up[i], now))
        {
            continue;
        }

        step = ngx_max(up[i].conf->slow_start / 10, NGX_HTTP_GUARD_TICK);
        up[i].next_ramp = ngx_current_msec + step;

        ngx_http_guard_state_ramp(&up[i]);
        ngx_http_guard_apply(&up[i]);
    }
}


/*
 * Results that may move routing mark their upstream; one posted event (or
 * a timer, when the last settle was less than NGX_HTTP_GUARD_SETTLE ms
 * ago) settles every marked upstream at once, after the events of this
 * loop iteration.  A burst of results costs one walk of each upstream per
 * settle instead of one per result; a transition reaches the peers at
 * most NGX_HTTP_GUARD_SETTLE ms later.
 */

static void
ngx_http_guard_unsettled(ngx_http_guard_upstream_t *up)
{
    ngx_msec_t                elapsed;
    ngx_http_guard_leader_t  *lc;

    lc = &up->gmcf->leader;

    if (!up->dirty) {
        up->dirty = 1;
        ngx_queue_insert_tail(&lc->unsettled, &up->unsettled);
    }

    if (lc->settle.posted || lc->settle.timer_set) {
        return;
    }

    elapsed = ngx_current_msec - lc->settled;

    if (elapsed >= NGX_HTTP_GUARD_SETTLE) {
        ngx_post_event(&lc->settle, &ngx_posted_events);

    } else {
        ngx_add_timer(&lc->settle, NGX_HTTP_GUARD_SETTLE - elapsed);
    }
}


static void
ngx_http_guard_settle(ngx_event_t *ev)
{
    ngx_queue_t                *q;
    ngx_http_guard_leader_t    *lc;
    ngx_http_guard_upstream_t  *up;

    if (ngx_http_guard_gmcf == NULL) {
        return;
    }

    lc = &ngx_http_guard_gmcf->leader;

    /* this batch may have run long: the clock, then the lease */

    ngx_time_update();
    lc->settled = ngx_current_msec;

    while (!ngx_queue_empty(&lc->unsettled)) {
        q = ngx_queue_head(&lc->unsettled);
        up = ngx_queue_data(q, ngx_http_guard_upstream_t, unsettled);

        ngx_queue_remove(q);
        up->dirty = 0;

        if (!lc->leading) {
            continue;
        }

        if (ngx_http_guard_state_settle(up) == NGX_OK) {
            /* a zone's peers are shared: every worker sees this at once */
            ngx_http_guard_apply(up);
        }
    }

    if (lc->leading) {
        ngx_http_guard_renew();
    }
}


/*
 * Renews the lease outside the tick: a long burst of results must not let
 * another worker take over from a checker that is working, only slow.
 */

static void
ngx_http_guard_renew(void)
{
    ngx_slab_pool_t      *shpool;
    ngx_http_guard_sh_t  *sh;

    sh = ngx_http_guard_shm_root(ngx_http_guard_gmcf, &shpool);

    /* the tick's own rule: a lost lease is noticed by the next tick */

    ngx_shmtx_lock(&shpool->mutex);
    (void) ngx_http_guard_lead(sh);
    ngx_shmtx_unlock(&shpool->mutex);
}


static ngx_msec_t
ngx_http_guard_random(ngx_msec_t range)
{
    if (range == 0) {
        return 0;
    }

    return (ngx_msec_t) ngx_random() % (range + 1);
}
