
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * The one writer of server and pool state in the shared zone.  Each event
 * (a check result, a new checking worker taking over, a reload's mapping
 * of servers onto slots, a slow-start step; later an admin command) is
 * applied by one function here, under the zone mutex, with the rules:
 * rise and fall, the floor and standby promotion, the slow-start ramp,
 * agent requests (weights, drains) that obey the floor.  Each says what
 * it changed, so that a policy step can veto a change and an audit step
 * record it.  Every other file reads the zone, or a copy taken under the
 * mutex; shm.c only lays the zone out and maps slots across reloads.
 * Every worker routes by the decisions recorded here (peer.c applies
 * them to nginx's peers).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_guard.h"


#define NGX_HTTP_GUARD_STICKY_QUIET  5000   /* ms: see state_drained() */
#define NGX_HTTP_GUARD_RAMP_STEPS  10


static ngx_uint_t ngx_http_guard_pool_eval(ngx_http_guard_upstream_t *up,
    uint64_t now);
static void ngx_http_guard_pool_panic_log(ngx_http_guard_upstream_t *up,
    ngx_uint_t in_rotation);
static void ngx_http_guard_pool_floor(ngx_http_guard_upstream_t *up,
    ngx_uint_t in_rotation);
static ngx_uint_t ngx_http_guard_agent_apply(ngx_http_guard_peer_t *gp,
    ngx_http_guard_agent_t *agent);
static ngx_uint_t ngx_http_guard_pool_capacity(ngx_http_guard_upstream_t *up);
static ngx_uint_t ngx_http_guard_pool_agent_drains(
    ngx_http_guard_upstream_t *up, ngx_uint_t *primaries, ngx_uint_t promoted);
static void ngx_http_guard_state_set_draining(ngx_http_guard_upstream_t *up,
    ngx_http_guard_sh_server_t *s);
static ngx_uint_t ngx_http_guard_pool_project(ngx_http_guard_upstream_t *up,
    ngx_http_guard_peer_t *gp, ngx_uint_t admin, ngx_uint_t health);
static void ngx_http_guard_state_resume(ngx_http_guard_upstream_t *up,
    ngx_http_guard_sh_server_t *s, uint64_t now);
static ngx_uint_t ngx_http_guard_state_drained(ngx_http_guard_peer_t *gp,
    uint64_t now);
static ngx_uint_t ngx_http_guard_requests_pending(ngx_http_guard_sh_t *sh,
    ngx_http_guard_upstream_t *up);
static ngx_http_guard_sh_request_t *ngx_http_guard_request_find(
    ngx_http_guard_sh_t *sh, ngx_uint_t id);
static ngx_http_guard_sh_request_t *ngx_http_guard_request_new(
    ngx_http_guard_sh_t *sh, uint64_t now);
static void ngx_http_guard_request_names(ngx_http_guard_sh_request_t *req,
    ngx_http_guard_upstream_t *up, ngx_http_guard_sh_server_t *s,
    ngx_http_guard_admin_cmd_t *cmd);
static void ngx_http_guard_request_copy(u_char *dst, ngx_str_t *src,
    size_t size);
static ngx_uint_t ngx_http_guard_request_by(ngx_http_guard_sh_request_t *req,
    ngx_str_t *principal);
static void ngx_http_guard_requests_expire(ngx_http_guard_main_conf_t *gmcf,
    ngx_http_guard_sh_t *sh, uint64_t now);
static void ngx_http_guard_state_event(ngx_http_guard_upstream_t *up,
    ngx_http_guard_sh_server_t *s, ngx_http_guard_sh_server_t *agent,
    const char *op, const char *before, const char *after, ngx_str_t *what,
    ngx_uint_t in_rotation);
static ngx_int_t ngx_http_guard_state_audit(ngx_http_guard_upstream_t *up,
    ngx_http_guard_sh_server_t *s, ngx_http_guard_admin_cmd_t *cmd,
    ngx_http_guard_admin_res_t *res, const char *result);
static void ngx_http_guard_override_set(ngx_http_guard_sh_override_t *ov,
    ngx_http_guard_admin_cmd_t *cmd, ngx_http_guard_sh_request_t *req,
    uint64_t now);
static void ngx_http_guard_expiry(ngx_http_guard_sh_t *sh,
    ngx_http_guard_sh_override_t *ov);


/*
 * A check result of a server (not a local error of the checking worker):
 * counters, rise and fall, the transition logged once, the agent's value;
 * ch->routing says that the pool must settle (ngx_http_guard_state_settle)
 * because routing may have moved.  O(1): nothing here walks the upstream.
 * NGX_DECLINED: this process no longer runs the checks and records
 * nothing.
 */

ngx_int_t
ngx_http_guard_state_result(ngx_http_guard_peer_t *gp,
    ngx_http_guard_result_t *res, ngx_http_guard_change_t *ch)
{
    uint64_t                     now;
    ngx_uint_t                   level;
    ngx_slab_pool_t             *shpool;
    ngx_http_guard_sh_t         *sh;
    ngx_http_guard_upstream_t   *up;
    ngx_http_guard_srv_conf_t   *gscf;
    ngx_http_guard_sh_server_t  *s;

    up = gp->up;
    gscf = up->conf;
    s = gp->sh;

    ngx_memzero(ch, sizeof(ngx_http_guard_change_t));

    sh = ngx_http_guard_shm_root(up->gmcf, &shpool);
    now = ngx_http_guard_now_ms();

    ngx_shmtx_lock(&shpool->mutex);

    if (sh->leader_pid != ngx_pid) {
        ngx_shmtx_unlock(&shpool->mutex);
        return NGX_DECLINED;
    }

    if (s->admin == NGX_HTTP_GUARD_MAINTENANCE) {
        /* a check that was in flight when maintenance began: ignored */
        s->next_check = res->next;
        ngx_shmtx_unlock(&shpool->mutex);
        return NGX_OK;
    }

    ch->health_from = s->health;
    ch->first = (s->health == NGX_HTTP_GUARD_CHECKING);

    if (ch->first) {
        /* the first result counts from the initial state */
        s->health = gscf->initial;
    }

    s->checks++;
    s->last_check = now;
    s->last_latency = ngx_current_msec - res->started;
    s->next_check = res->next;

    if (res->outcome == NGX_HTTP_GUARD_CHECK_PASS) {
        s->fall_count = 0;
        s->rise_count++;

        if (s->health == NGX_HTTP_GUARD_DOWN && s->rise_count >= gscf->rise) {
            s->health = NGX_HTTP_GUARD_UP;
        }

    } else {
        s->fails++;
        s->fails_by[ngx_http_guard_reason_class(res->reason)]++;
        s->failed_at = now;
        s->rise_count = 0;
        s->fall_count++;
        ngx_cpystrn(s->reason, res->reason, NGX_HTTP_GUARD_REASON_LEN);

        if (s->health == NGX_HTTP_GUARD_UP && s->fall_count >= gscf->fall) {
            s->health = NGX_HTTP_GUARD_DOWN;
            s->downs++;
        }
    }

    ch->health_to = s->health;

    if (ch->first ? s->health != gscf->initial
                  : ch->health_to != ch->health_from)
    {
        s->last_change = now;
        up->sh->last_change = now;

        if (s->health == NGX_HTTP_GUARD_DOWN) {
            s->down_since = now;

            /* one nginx.conf marks "down" leaves no rotation: a notice */

            level = (gp->cfg_down && !ngx_http_guard_cfg_drain(gp))
                    ? NGX_LOG_NOTICE : NGX_LOG_ERR;

            ngx_log_error(level, ngx_cycle->log, 0,
                          "upstream guard: server %V (%V) of upstream "
                          "\"%V\" is down: %s (%ui consecutive failures)",
                          &s->server, &s->addr, &up->uscf->host,
                          res->reason, s->fall_count);

        } else {
            if (s->down_since) {
                s->down_total += now - s->down_since;
                s->down_since = 0;
            }

            /* back: slow start (a promoted standby starts its own) */
            s->ramp_start = now;

            ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                          "upstream guard: server %V (%V) of upstream "
                          "\"%V\" is up (%ui consecutive passes)",
                          &s->server, &s->addr, &up->uscf->host,
                          s->rise_count);
        }

        ch->routing = 1;
        ngx_http_guard_state_health_changed(sh);
    }

    if (ch->first) {
        ch->routing = 1;
    }

    if (res->outcome == NGX_HTTP_GUARD_CHECK_PASS && res->agent) {
        ch->routing |= ngx_http_guard_agent_apply(gp, res->agent);
    }

    /*
     * The pool rules walk every server of the upstream: they run once for
     * a batch of results, in ngx_http_guard_state_settle_locked(), never
     * here.  With 10,000 servers in one upstream, a walk per result made
     * the first results of a start cost seconds and lost the checking
     * lease.
     */

    if (ch->routing) {
        up->sh->unsettled = 1;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return NGX_OK;
}


/*
 * After a batch of results that may have moved routing (leader.c calls it
 * for each upstream marked so, at most every few milliseconds): settles
 * the upstream unless a reader did since.  NGX_DECLINED: this process no
 * longer runs the checks.
 */

ngx_int_t
ngx_http_guard_state_settle(ngx_http_guard_upstream_t *up)
{
    ngx_slab_pool_t      *shpool;
    ngx_http_guard_sh_t  *sh;

    sh = ngx_http_guard_shm_root(up->gmcf, &shpool);

    ngx_shmtx_lock(&shpool->mutex);

    if (sh->leader_pid != ngx_pid || up->sh == NULL) {
        ngx_shmtx_unlock(&shpool->mutex);
        return NGX_DECLINED;
    }

    (void) ngx_http_guard_state_settle_locked(up);

    ngx_shmtx_unlock(&shpool->mutex);

    return NGX_OK;
}


/*
 * Under the zone mutex: when results moved routing since the pool rules
 * last ran (promotions, agent drains, the floor on the state as it is
 * now), runs them and starts a new generation, so that every process
 * re-applies the peers on its next request.  The checking worker does it
 * for a batch of results, up to NGX_HTTP_GUARD_SETTLE ms later; whoever
 * shows the state or decides on it (the reports, an admin command) does
 * it first, so that a state it shows is a state every balancer keeps from
 * its next request on.  Only a process of the zone's current nginx.conf
 * may: an old worker's rules (floor, standbys) may be another file's.
 * Returns 1 when it settled.
 */

ngx_uint_t
ngx_http_guard_state_settle_locked(ngx_http_guard_upstream_t *up)
{
    ngx_slab_pool_t      *shpool;
    ngx_http_guard_sh_t  *sh;

    if (up->sh == NULL || !up->sh->unsettled) {
        return 0;
    }

    sh = ngx_http_guard_shm_root(up->gmcf, &shpool);

    if (sh->generation != up->gmcf->generation) {
        return 0;
    }

    (void) ngx_http_guard_pool_eval(up, ngx_http_guard_now_ms());

    up->sh->unsettled = 0;
    ngx_atomic_fetch_add(&up->sh->gen, 1);

    return 1;
}


/*
 * A worker starts running the checks: the floor may have moved while no
 * one decided (a leader died, a reload), so every upstream's pool rules
 * run again.
 */

void
ngx_http_guard_state_takeover(ngx_http_guard_main_conf_t *gmcf)
{
    ngx_uint_t                  i;
    ngx_slab_pool_t            *shpool;
    ngx_http_guard_upstream_t  *up;

    (void) ngx_http_guard_shm_root(gmcf, &shpool);

    up = gmcf->upstreams.elts;

    ngx_shmtx_lock(&shpool->mutex);

    /* results the old leader had no time to settle count too */

    for (i = 0; i < gmcf->upstreams.nelts; i++) {
        if (up[i].sh) {
            up[i].sh->unsettled = 1;
            (void) ngx_http_guard_state_settle_locked(&up[i]);
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);
}


/*
 * A reload mapped the upstream's servers onto their slots (shm.c): an
 * admin weight gives way to a weight changed in nginx.conf, the pool rules
 * run for the new configuration, and every process re-applies.  Returns
 * the number of admin overrides that stay in force.
 */

ngx_uint_t
ngx_http_guard_state_mapped(ngx_http_guard_upstream_t *up)
{
    ngx_uint_t                   i, kept;
    ngx_slab_pool_t             *shpool;
    ngx_http_guard_sh_t         *sh;
    ngx_http_guard_peer_t       *gp;
    ngx_http_guard_sh_server_t  *s;

    sh = ngx_http_guard_shm_root(up->gmcf, &shpool);
    kept = 0;

    ngx_shmtx_lock(&shpool->mutex);

    for (i = 0; i < up->npeers; i++) {
        gp = &up->peers[i];
        s = gp->sh;

        if (s == NULL || !gp->check_owner) {
            continue;
        }

        if (s->admin_weight && s->conf_weight
            && s->conf_weight != gp->cfg_weight)
        {
            ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                          "upstream guard: nginx.conf changed the weight of "
                          "server %V of upstream \"%V\" from %ui to %ui: "
                          "the weight %ui set by %s is dropped",
                          &s->server, &up->uscf->host, s->conf_weight,
                          gp->cfg_weight, s->admin_weight, s->ov_weight.by);

            s->admin_weight = 0;
            ngx_memzero(&s->ov_weight, sizeof(ngx_http_guard_sh_override_t));
            s->admin_version++;
            ngx_http_guard_state_changed(sh);
        }

        s->conf_weight = gp->cfg_weight;

        kept += (s->ov_admin.since != 0) + (s->ov_weight.since != 0);
    }

    up->sh->unsettled = 1;
    (void) ngx_http_guard_state_settle_locked(up);

    ngx_shmtx_unlock(&shpool->mutex);

    return kept;
}


/* a slow-start step: every process re-applies the weights */

void
ngx_http_guard_state_ramp(ngx_http_guard_upstream_t *up)
{
    ngx_atomic_fetch_add(&up->sh->gen, 1);
}


/*
 * Promotes healthy standbys, in their configured order, while primaries in
 * rotation are fewer than the floor; demotes them once enough primaries
 * are back.  Logs the floor episode.  Returns 1 when routing changed.
 */

static ngx_uint_t
ngx_http_guard_pool_eval(ngx_http_guard_upstream_t *up, uint64_t now)
{
    ngx_uint_t                   i, k, primaries, promoted, need, want;
    ngx_uint_t                   changed, backups;
    ngx_http_guard_peer_t       *gp;
    ngx_http_guard_sh_server_t  *s;

    primaries = 0;
    backups = 0;

    for (i = 0; i < up->npeers; i++) {
        gp = &up->peers[i];

        if (!ngx_http_guard_eligible(gp)) {
            continue;
        }

        if (gp->role == NGX_HTTP_GUARD_PRIMARY) {
            primaries++;

        } else if (gp->role == NGX_HTTP_GUARD_BACKUP) {
            backups++;
        }
    }

    need = (up->floor > primaries) ? up->floor - primaries : 0;
    promoted = 0;
    changed = 0;

    for (k = 1; k <= up->nstandby; k++) {
        for (i = 0; i < up->npeers; i++) {
            gp = &up->peers[i];
            s = gp->sh;

            if (gp->standby != k || s == NULL || !gp->check_owner) {
                continue;
            }

            want = (need > 0 && ngx_http_guard_eligible(gp));

            if (want) {
                need--;
                promoted++;
            }

            if (want == s->promoted) {
                continue;
            }

            s->promoted = want;
            changed = 1;

            if (want) {
                s->ramp_start = now;
            }

            ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                          "upstream guard: standby %V (%V) of upstream "
                          "\"%V\" %s (%ui primaries in rotation, floor %ui)",
                          &s->server, &s->addr, &up->uscf->host,
                          want ? "promoted" : "demoted", primaries,
                          up->floor);

            ngx_http_guard_state_event(up, s, NULL,
                                       want ? "promote" : "demote",
                                       want ? "standby" : "promoted",
                                       want ? "promoted" : "standby",
                                       NULL, primaries);
        }
    }

    /* the floor wins over drains the agents asked for */

    changed |= ngx_http_guard_pool_agent_drains(up, &primaries, promoted);

    /* nginx's backups serve only when no primary can */

    ngx_http_guard_pool_floor(up, (primaries + promoted)
                                  ? primaries + promoted : backups);

    return changed;
}


/*
 * A drain granted to an agent while the floor held is suspended when the
 * floor breaks (standbys first fill what they can): a healthy server in
 * rotation beats an agent's wish.  It takes effect again once the pool
 * holds its floor without that server, so the two never flap.  Counts a
 * resumed primary in "primaries".  Returns 1 when routing changed.
 */

static ngx_uint_t
ngx_http_guard_pool_agent_drains(ngx_http_guard_upstream_t *up,
    ngx_uint_t *primaries, ngx_uint_t promoted)
{
    ngx_uint_t                   i, changed, suspend, level, admin;
    ngx_http_guard_peer_t       *gp;
    ngx_http_guard_sh_server_t  *s;

    changed = 0;

    for (i = 0; i < up->npeers; i++) {
        gp = &up->peers[i];
        s = gp->sh;

        if (s == NULL || !s->agent_drain || !s->admin_by_agent
            || gp->role != NGX_HTTP_GUARD_PRIMARY || !gp->check_owner)
        {
            continue;
        }

        if (!s->agent_suspended) {
            if (*primaries + promoted >= up->floor) {
                continue;
            }

            /* would it serve, but for the drain? */
            admin = s->admin;
            s->admin = NGX_HTTP_GUARD_ACTIVE;

            if (!ngx_http_guard_eligible(gp)) {
                s->admin = admin;
                continue;
            }

            s->agent_suspended = 1;
            (*primaries)++;
            suspend = 1;

        } else {
            if (!ngx_http_guard_eligible(gp)
                || *primaries - 1 < up->floor)
            {
                continue;
            }

            ngx_http_guard_state_set_draining(up, s);
            s->agent_suspended = 0;
            (*primaries)--;
            suspend = 0;
        }

        changed = 1;
        level = suspend ? NGX_LOG_WARN : NGX_LOG_NOTICE;

        ngx_log_error(level, ngx_cycle->log, 0,
                      "upstream guard: agent:%V drain of server %V of "
                      "upstream \"%V\" %s (%ui primaries in rotation, "
                      "floor %ui)", &s->server, &s->server, &up->uscf->host,
                      suspend ? "suspended, the floor wins"
                              : "resumed, the floor holds without it",
                      *primaries + promoted, up->floor);

        ngx_http_guard_state_event(up, s, s,
                                   suspend ? "agent_drain_suspend"
                                           : "agent_drain_resume",
                                   suspend ? "draining" : "active",
                                   suspend ? "active" : "draining",
                                   NULL, *primaries + promoted);
    }

    return changed;
}


static void
ngx_http_guard_pool_floor(ngx_http_guard_upstream_t *up,
    ngx_uint_t in_rotation)
{
    ngx_uint_t  i, below;

    up->sh->in_rotation = in_rotation;

    /* no verdict while a server that counts has no result yet */

    for (i = 0; i < up->npeers; i++) {
        if (up->peers[i].role != NGX_HTTP_GUARD_BACKUP
            && up->peers[i].sh
            && up->peers[i].sh->health == NGX_HTTP_GUARD_CHECKING)
        {
            return;
        }
    }

    ngx_http_guard_pool_panic_log(up, in_rotation);

    below = (ngx_http_guard_pool_status(in_rotation, up->floor, 0, 0)
             >= NGX_HTTP_GUARD_POOL_CRITICAL);

    if (below == up->sh->below_floor) {
        return;
    }

    up->sh->below_floor = below;

    ngx_http_guard_state_event(up, NULL, NULL,
                               below ? "floor_lost" : "floor_regained",
                               below ? "holds" : "below",
                               below ? "below" : "holds", NULL,
                               in_rotation);

    if (below) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "upstream guard: upstream \"%V\" is below its floor: "
                      "%ui in rotation, floor %ui",
                      &up->uscf->host, in_rotation, up->floor);

    } else {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "upstream guard: upstream \"%V\" is back at its floor: "
                      "%ui in rotation, floor %ui",
                      &up->uscf->host, in_rotation, up->floor);
    }
}


/*
 * Nothing in rotation (pool status panic): logged once per episode with
 * what nginx does meanwhile, fail open or fail closed, and its end.
 */

static void
ngx_http_guard_pool_panic_log(ngx_http_guard_upstream_t *up,
    ngx_uint_t in_rotation)
{
    ngx_uint_t  panic;

    panic = (in_rotation == 0);

    if (panic == up->sh->panic) {
        return;
    }

    up->sh->panic = panic;

    if (panic) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "upstream guard: upstream \"%V\" has no server in "
                      "rotation: %s", &up->uscf->host,
                      up->conf->fail_open
                      ? "fails open, requests go to every server not marked "
                        "down in nginx.conf nor in maintenance, whatever its "
                        "health"
                      : "fails closed, nginx answers 502");
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                  "upstream guard: upstream \"%V\" has servers in rotation "
                  "again: %ui in rotation%s", &up->uscf->host, in_rotation,
                  up->conf->fail_open ? ", fail open ends" : "");
}


/*
 * The pool status (STATES.md) from its counts: panic, nothing in rotation;
 * critical, fewer than the floor; degraded, a primary out; ok.  The floor
 * alert and every report ask this one function.
 */

ngx_uint_t
ngx_http_guard_pool_status(ngx_uint_t in_rotation, ngx_uint_t floor,
    ngx_uint_t primaries, ngx_uint_t primaries_in)
{
    if (in_rotation == 0) {
        return NGX_HTTP_GUARD_POOL_PANIC;
    }

    if (in_rotation < floor) {
        return NGX_HTTP_GUARD_POOL_CRITICAL;
    }

    if (primaries_in < primaries) {
        return NGX_HTTP_GUARD_POOL_DEGRADED;
    }

    return NGX_HTTP_GUARD_POOL_OK;
}


/* primaries and standbys that could be in rotation: what the floor counts */

static ngx_uint_t
ngx_http_guard_pool_capacity(ngx_http_guard_upstream_t *up)
{
    ngx_uint_t  i, n;

    n = 0;

    for (i = 0; i < up->npeers; i++) {
        if (up->peers[i].role != NGX_HTTP_GUARD_BACKUP
            && ngx_http_guard_eligible(&up->peers[i]))
        {
            n++;
        }
    }

    return n;
}


/* 1 while a server of the upstream is in its slow-start ramp */

ngx_uint_t
ngx_http_guard_pool_ramping(ngx_http_guard_upstream_t *up, uint64_t now)
{
    uint64_t                     span;
    ngx_uint_t                   i;
    ngx_http_guard_sh_server_t  *s;

    if (up->conf->slow_start == 0 || !up->conf->live_weights) {
        return 0;
    }

    /* one step more than the ramp: the last step sets the full weight */
    span = up->conf->slow_start
           + up->conf->slow_start / NGX_HTTP_GUARD_RAMP_STEPS;

    for (i = 0; i < up->npeers; i++) {
        s = up->peers[i].sh;

        if (s && s->ramp_start && now - s->ramp_start <= span) {
            return 1;
        }
    }

    return 0;
}


/*
 * How many nginx weight units stand for one configured unit.  Slow start
 * takes tenths of a weight and an agent may ask for 1%: with weight=1, the
 * default, neither is representable, so an upstream that uses either has
 * every weight scaled by one factor.  Ratios, and so the shares, are
 * unchanged; total_weight stays the sum.  Others keep nginx's own units,
 * and with them the pace at which round robin restores a peer's effective
 * weight after a passive failure.
 */

ngx_uint_t
ngx_http_guard_weight_scale(ngx_http_guard_srv_conf_t *gscf)
{
    if (gscf->live_weights
        && (gscf->slow_start || gscf->agent_header.len))
    {
        return NGX_HTTP_GUARD_WEIGHT_FINE;
    }

    return 1;
}


/* a * b, or the largest uint64_t where it would wrap */

uint64_t
ngx_http_guard_mul_sat(uint64_t a, uint64_t b)
{
    if (b != 0 && a > (uint64_t) -1 / b) {
        return (uint64_t) -1;
    }

    return a * b;
}


/*
 * A weight in thousandths, held to NGX_HTTP_GUARD_MW_MAX (and to what
 * ngx_uint_t and round robin's ngx_int_t weights hold): never wrapped.
 */

static ngx_uint_t
ngx_http_guard_weight_clamp(uint64_t w, uint64_t max)
{
    w = ngx_min(w, max);
    w = ngx_min(w, (uint64_t) NGX_MAX_INT_T_VALUE);

    return (ngx_uint_t) w;
}


/* the weight to give nginx for a weight in thousandths: never 0 */

ngx_uint_t
ngx_http_guard_nginx_weight(ngx_http_guard_upstream_t *up, ngx_uint_t mw)
{
    uint64_t  w;

    w = ngx_http_guard_mul_sat(mw, ngx_http_guard_weight_scale(up->conf))
        / NGX_HTTP_GUARD_MILLI;

    return (w > 0)
           ? ngx_http_guard_weight_clamp(w, NGX_HTTP_GUARD_NGINX_WEIGHT_MAX)
           : 1;
}


/* a weight in thousandths as a decimal number: "1", "0.25", "2.5" */

u_char *
ngx_http_guard_weight_print(u_char *p, ngx_uint_t mw)
{
    ngx_uint_t  frac;

    p = ngx_sprintf(p, "%ui", mw / NGX_HTTP_GUARD_MILLI);
    frac = mw % NGX_HTTP_GUARD_MILLI;

    if (frac == 0) {
        return p;
    }

    if (frac % 100 == 0) {
        return ngx_sprintf(p, ".%ui", frac / 100);
    }

    if (frac % 10 == 0) {
        return ngx_sprintf(p, ".%02ui", frac / 10);
    }

    return ngx_sprintf(p, ".%03ui", frac);
}


/*
 * Effective weight (STATES.md), in thousandths of the user's unit: the
 * agent-reported weight if any, else the configured one, times the
 * slow-start ramp, never 0; "s" is the server's state (or a copy of it).
 * "permille" gets the ramp's progress (1000: done).
 */

ngx_uint_t
ngx_http_guard_effective_weight(ngx_http_guard_peer_t *gp,
    ngx_http_guard_sh_server_t *s, uint64_t now, ngx_uint_t *permille)
{
    uint64_t                     elapsed, w;
    ngx_uint_t                   k;
    ngx_http_guard_srv_conf_t   *gscf;

    gscf = gp->up->conf;
    w = ngx_http_guard_mul_sat(gp->cfg_weight, NGX_HTTP_GUARD_MILLI);

    if (permille) {
        *permille = 1000;
    }

    if (s == NULL || !gscf->live_weights) {
        return ngx_http_guard_weight_clamp(w, NGX_HTTP_GUARD_MW_MAX);
    }

    if (s->admin_weight) {
        /* an operator's weight replaces the configured one */
        w = ngx_http_guard_mul_sat(s->admin_weight, NGX_HTTP_GUARD_MILLI);

        if (s->agent_weight && s->agent_weight < w) {
            w = s->agent_weight;    /* and an agent may ask for less */
        }

    } else if (s->agent_weight) {
        w = s->agent_weight;
    }

    if (gscf->slow_start && s->ramp_start && now >= s->ramp_start) {
        elapsed = now - s->ramp_start;

        /*
         * a tenth at the start, then a tenth more every ninth of the
         * time: the full weight at its end, as guard_slow_start says
         */

        if (elapsed < gscf->slow_start) {
            k = (ngx_uint_t) (elapsed * (NGX_HTTP_GUARD_RAMP_STEPS - 1)
                              / gscf->slow_start) + 1;
            w = ngx_http_guard_mul_sat(w, k) / NGX_HTTP_GUARD_RAMP_STEPS;

            if (permille) {
                *permille = k * 1000 / NGX_HTTP_GUARD_RAMP_STEPS;
            }
        }
    }

    return (w > 0) ? ngx_http_guard_weight_clamp(w, NGX_HTTP_GUARD_MW_MAX)
                   : 1;
}


/*
 * When the slow-start ramp of a server next changes its weight (the last
 * change sets the full weight), in ms; 0 when it does not ramp.  Each
 * process re-applies its peers then, whatever its own clock said when the
 * generation last moved: a step applied a little early is not kept.
 */

uint64_t
ngx_http_guard_ramp_next(ngx_http_guard_peer_t *gp,
    ngx_http_guard_sh_server_t *s, uint64_t now)
{
    uint64_t                     elapsed, j, slow;
    ngx_http_guard_srv_conf_t   *gscf;

    gscf = gp->up->conf;
    slow = gscf->slow_start;

    if (s == NULL || !gscf->live_weights || slow == 0 || s->ramp_start == 0)
    {
        return 0;
    }

    if (now < s->ramp_start) {
        return s->ramp_start;
    }

    elapsed = now - s->ramp_start;

    if (elapsed >= slow) {
        return 0;
    }

    /* the first elapsed time of the next step, as effective_weight counts */
    j = elapsed * (NGX_HTTP_GUARD_RAMP_STEPS - 1) / slow + 1;

    return s->ramp_start + (j * slow + NGX_HTTP_GUARD_RAMP_STEPS - 2)
                           / (NGX_HTTP_GUARD_RAMP_STEPS - 1);
}


/*
 * Applies what a backend's agent value asks for, under the zone mutex.
 * A weight is bounded by guard_agent min= and max=; a drain obeys the
 * floor and is logged with the principal "agent:<server>".  Returns 1 when
 * routing changed.
 */

static ngx_uint_t
ngx_http_guard_agent_apply(ngx_http_guard_peer_t *gp,
    ngx_http_guard_agent_t *agent)
{
    u_char                      *p;
    uint64_t                     w, conf, lo, hi;
    ngx_str_t                    what;
    ngx_uint_t                   changed, drain;
    u_char                       buf[NGX_HTTP_GUARD_WEIGHT_LEN];
    u_char                       text[NGX_HTTP_GUARD_WEIGHT_LEN + 48];
    ngx_http_guard_upstream_t   *up;
    ngx_http_guard_srv_conf_t   *gscf;
    ngx_http_guard_sh_server_t  *s;

    up = gp->up;
    gscf = up->conf;
    s = gp->sh;
    changed = 0;

    if (gscf->agent_header.len == 0) {
        return 0;
    }

    /* an invalid value changes nothing: said once, until it changes */

    if (agent->present && !agent->valid) {

        if (gp->agent_invalid != agent->hash) {
            gp->agent_invalid = agent->hash;

            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "upstream guard: agent:%V sends an invalid value "
                          "\"%*s%s\" for server %V of upstream \"%V\": "
                          "ignored, the last valid one still applies",
                          &s->server, (size_t) agent->text_len, agent->text,
                          agent->cut ? "..." : "", &s->server,
                          &up->uscf->host);
        }

        return 0;
    }

    gp->agent_invalid = 0;

    /* weight */

    /* in thousandths of a weight, as the effective weight */

    w = 0;
    conf = ngx_http_guard_mul_sat(gp->cfg_weight, NGX_HTTP_GUARD_MILLI);

    if (agent->present && agent->has_value && !(agent->percent
                                                && agent->value == 0))
    {
        lo = ngx_http_guard_mul_sat(conf, gscf->agent_min) / 100;
        hi = ngx_http_guard_mul_sat(conf, gscf->agent_max) / 100;

        w = agent->percent
            ? ngx_http_guard_mul_sat(conf, agent->value) / 100
            : ngx_http_guard_mul_sat(agent->value, NGX_HTTP_GUARD_MILLI);

        w = ngx_max(w, lo);
        w = ngx_min(w, hi);
        w = ngx_max(w, 1);
        w = ngx_http_guard_weight_clamp(w, NGX_HTTP_GUARD_MW_MAX);
    }

    conf = ngx_http_guard_weight_clamp(conf, NGX_HTTP_GUARD_MW_MAX);

    if (w != s->agent_weight) {
        p = ngx_http_guard_weight_print(buf, (ngx_uint_t) (w ? w : conf));

        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "upstream guard: agent:%V sets the weight of server "
                      "%V of upstream \"%V\" to %*s (configured %ui)",
                      &s->server, &s->server, &up->uscf->host,
                      p - buf, buf, gp->cfg_weight);

        what.data = text;
        what.len = ngx_slprintf(text, text + sizeof(text), "weight %*s "
                                "(configured %ui)", p - buf, buf,
                                gp->cfg_weight)
                   - text;

        ngx_http_guard_state_event(up, s, s, "agent_weight", NULL, NULL,
                                   &what, up->sh->in_rotation);

        s->agent_weight = (ngx_uint_t) w;
        changed = gscf->live_weights;
    }

    /* drain */

    drain = agent->present && agent->drain;

    if (drain && !s->agent_drain) {

        if (ngx_http_guard_eligible(gp)
            && gp->role != NGX_HTTP_GUARD_BACKUP
            && ngx_http_guard_pool_capacity(up) <= up->floor)
        {
            if (!s->agent_refused) {
                ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                              "upstream guard: agent:%V asks to drain server "
                              "%V of upstream \"%V\": refused, it would "
                              "break the floor (%ui in rotation, floor %ui)",
                              &s->server, &s->server, &up->uscf->host,
                              up->sh->in_rotation, up->floor);
                s->agent_refused = 1;

                ngx_http_guard_state_event(up, s, s, "agent_drain_refused",
                                           "active", "active", NULL,
                                           up->sh->in_rotation);
            }

            return changed;
        }

        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "upstream guard: agent:%V drains server %V of "
                      "upstream \"%V\"", &s->server, &s->server,
                      &up->uscf->host);

        ngx_http_guard_state_event(up, s, s, "agent_drain", "active",
                                   "draining", NULL, up->sh->in_rotation);

        s->agent_drain = 1;
        s->agent_refused = 0;

        if (s->admin == NGX_HTTP_GUARD_ACTIVE) {
            ngx_http_guard_state_set_draining(up, s);
            s->admin_by_agent = 1;
        }

        return 1;
    }

    if (!drain && (s->agent_drain || s->agent_refused)) {

        if (s->agent_drain) {
            ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                          "upstream guard: agent:%V ends the drain of "
                          "server %V of upstream \"%V\"", &s->server,
                          &s->server, &up->uscf->host);
            ngx_http_guard_state_event(up, s, s, "agent_drain_end",
                                       "draining", "active", NULL,
                                       up->sh->in_rotation);
            changed = 1;
        }

        s->agent_drain = 0;
        s->agent_refused = 0;
        s->agent_suspended = 0;

        if (s->admin_by_agent) {
            s->admin = NGX_HTTP_GUARD_ACTIVE;
            s->admin_by_agent = 0;
            s->drain_started = 0;
            s->drained_at = 0;
            s->ramp_start = ngx_http_guard_now_ms();
        }
    }

    return changed;
}


/* ---------------------------------------------------------------------- */
/* admin events                                                             */

static const char  *ngx_http_guard_op_names[] = {
    "", "drain", "resume", "maintenance", "weight", "revert", "expire"
};

static const char  *ngx_http_guard_admin_state[] = {
    "active", "draining", "drained", "maintenance"
};


/*
 * One admin command on one server, under the zone mutex: the freeze, the
 * version the caller read, the floor, then the change, its override record
 * (who, why, until) and a new generation.  With dry_run, the same answer
 * without the change.  res says what happened or why not (status and a
 * stable code), so that a policy step can refuse before and an audit step
 * record after.  NGX_OK: applied or allowed; NGX_DECLINED: refused.
 */

ngx_int_t
ngx_http_guard_state_admin(ngx_http_guard_peer_t *gp,
    ngx_http_guard_admin_cmd_t *cmd, ngx_http_guard_admin_res_t *res)
{
    uint64_t                      now;
    ngx_int_t                     rc;
    ngx_str_t                     reason;
    ngx_uint_t                    admin, health, out;
    ngx_http_guard_sh_request_t  *req;
    ngx_slab_pool_t             *shpool;
    ngx_http_guard_sh_t         *sh;
    ngx_http_guard_upstream_t   *up;
    ngx_http_guard_sh_server_t  *s;

    up = gp->up;
    s = gp->sh;

    ngx_memzero(res, sizeof(ngx_http_guard_admin_res_t));
    res->status = NGX_HTTP_OK;
    res->floor = up->floor;

    if (s == NULL || !gp->check_owner) {
        res->status = NGX_HTTP_CONFLICT;
        res->code = "untracked";
        ngx_http_guard_msg(res, "server %V of upstream \"%V\" has no slot "
                           "in the zone (untracked): nothing to change",
                           &gp->peer->server, &up->uscf->host);
        return NGX_DECLINED;
    }

    sh = ngx_http_guard_shm_root(up->gmcf, &shpool);
    now = ngx_http_guard_now_ms();

    ngx_shmtx_lock(&shpool->mutex);

    /* the floor is judged on the pool the balancers have */
    (void) ngx_http_guard_state_settle_locked(up);

    res->admin_before = s->admin;
    res->admin_after = s->admin;
    res->version = s->admin_version;
    res->in_rotation_before = ngx_http_guard_pool_project(up, NULL, 0, 0);
    res->in_rotation_after = res->in_rotation_before;

    /* what the command leaves: admin state and health */

    admin = s->admin;
    health = s->health;

    switch (cmd->op) {

    case NGX_HTTP_GUARD_OP_DRAIN:
        if (s->admin == NGX_HTTP_GUARD_ACTIVE || s->admin_by_agent) {
            admin = NGX_HTTP_GUARD_DRAINING;
        }
        break;

    case NGX_HTTP_GUARD_OP_MAINTENANCE:
        admin = NGX_HTTP_GUARD_MAINTENANCE;
        break;

    case NGX_HTTP_GUARD_OP_RESUME:
    case NGX_HTTP_GUARD_OP_REVERT:
    case NGX_HTTP_GUARD_OP_EXPIRE:
        if (cmd->op == NGX_HTTP_GUARD_OP_EXPIRE
            && !(s->ov_admin.until && now >= s->ov_admin.until))
        {
            break;                            /* only the weight is due */
        }

        if (s->admin == NGX_HTTP_GUARD_MAINTENANCE) {
            health = NGX_HTTP_GUARD_DOWN;     /* back through its rise */
        }

        admin = NGX_HTTP_GUARD_ACTIVE;
        break;

    default: /* NGX_HTTP_GUARD_OP_WEIGHT */
        break;
    }

    res->admin_after = admin;
    res->in_rotation_after = ngx_http_guard_pool_project(up, gp, admin,
                                                         health);

    /* the rules, in order: each refusal changes nothing */

    if (sh->frozen
        && cmd->op != NGX_HTTP_GUARD_OP_RESUME
        && cmd->op != NGX_HTTP_GUARD_OP_EXPIRE)
    {
        res->status = NGX_HTTP_CONFLICT;
        res->code = "frozen";
        ngx_http_guard_msg(res, "changes are frozen by %s: %s; only "
                           "resume is allowed until the freeze is lifted",
                           sh->freeze.by,
                           sh->freeze.reason[0] ? (char *) sh->freeze.reason
                                                : "no reason given");
        goto refused;
    }

    if (cmd->if_match_set && cmd->if_match != s->admin_version) {
        res->status = NGX_HTTP_PRECONDITION_FAILED;
        res->code = "stale_version";
        ngx_http_guard_msg(res, "server %V of upstream \"%V\" is at "
                           "version %uL, not %uL: read it again",
                           &s->server, &up->uscf->host, s->admin_version,
                           cmd->if_match);
        goto refused;
    }

    if (cmd->request) {
        /* an approval: of a request still pending, by someone else */

        req = ngx_http_guard_request_find(sh, cmd->request);

        if (req && req->state == NGX_HTTP_GUARD_REQ_PENDING
            && now >= req->until)
        {
            ngx_http_guard_requests_expire(up->gmcf, sh, now);
        }

        if (req == NULL || req->state != NGX_HTTP_GUARD_REQ_PENDING) {
            res->status = NGX_HTTP_CONFLICT;
            res->code = "not_pending";
            ngx_http_guard_msg(res, "request %ui is %s: it can no longer "
                               "be approved", cmd->request,
                               req ? ngx_http_guard_request_state_name(
                                         req->state)
                                   : "unknown");
            goto refused;
        }

        if (ngx_http_guard_request_by(req, &cmd->principal)) {
            res->status = NGX_HTTP_FORBIDDEN;
            res->code = "same_principal";
            ngx_http_guard_msg(res, "%V asked for request %ui: a second, "
                               "different principal must approve it",
                               &cmd->principal, cmd->request);
            goto refused;
        }
    }

    if (cmd->op == NGX_HTTP_GUARD_OP_WEIGHT && !up->conf->live_weights) {
        res->status = NGX_HTTP_CONFLICT;
        res->code = "not_live_weights";
        ngx_http_guard_msg(res, "upstream \"%V\" uses the %s balancer, "
                           "whose weights are fixed when nginx starts: weights "
                           "can be set for round robin and least_conn only",
                           &up->uscf->host, ngx_http_guard_balancer(up->uscf));
        goto refused;
    }

    if (cmd->op == NGX_HTTP_GUARD_OP_WEIGHT && !cmd->weight_config
        && (cmd->weight < 1 || cmd->weight > NGX_HTTP_GUARD_WEIGHT_MAX))
    {
        res->status = NGX_HTTP_BAD_REQUEST;
        res->code = "bad_value";
        ngx_http_guard_msg(res, "weight %ui is out of range, 1 to %d",
                           cmd->weight, NGX_HTTP_GUARD_WEIGHT_MAX);
        goto refused;
    }

    if (cmd->op == NGX_HTTP_GUARD_OP_DRAIN
        && s->admin == NGX_HTTP_GUARD_MAINTENANCE)
    {
        res->status = NGX_HTTP_CONFLICT;
        res->code = "conflict";
        ngx_http_guard_msg(res, "server %V of upstream \"%V\" is in "
                           "maintenance, out of rotation already: resume it "
                           "first", &s->server, &up->uscf->host);
        goto refused;
    }

    out = (cmd->op == NGX_HTTP_GUARD_OP_DRAIN
           || cmd->op == NGX_HTTP_GUARD_OP_MAINTENANCE);

    rc = out ? ngx_http_guard_policy_check(gp, cmd, res,
                   ngx_http_guard_requests_pending(sh, up), now)
             : NGX_OK;

    if (rc == NGX_DECLINED) {
        goto refused;
    }

    if (cmd->request) {
        /* an approval: the pool now, against the pool when it was asked */

        req = ngx_http_guard_request_find(sh, cmd->request);

        if (req && res->in_rotation_after < req->in_rotation_after) {
            res->status = NGX_HTTP_CONFLICT;
            res->code = "unsafe_now";
            ngx_http_guard_msg(res, "request %ui became less safe since "
                               "it was asked: %ui would be left in "
                               "rotation, %ui then; it stays pending",
                               cmd->request,
                               res->in_rotation_after, req->in_rotation_after);
            goto refused;
        }

    } else if (rc == NGX_BUSY) {
        /* the two-person rule: a request for a second principal */

        if (up->uscf->host.len >= NGX_HTTP_GUARD_NAME_LEN
            || s->server.len >= NGX_HTTP_GUARD_NAME_LEN)
        {
            /*
             * The request names its target by upstream and server: a
             * name cut to fit would have the approval find another one.
             */
            res->status = NGX_HTTP_CONFLICT;
            res->code = "name_too_long";
            ngx_http_guard_msg(res, "a request for a second principal "
                               "names an upstream and a server of at most "
                               "%d bytes: %s of server %V of upstream "
                               "\"%V\" cannot wait for approval",
                               NGX_HTTP_GUARD_NAME_LEN - 1,
                               ngx_http_guard_op_names[cmd->op], &s->server,
                               &up->uscf->host);
            goto refused;
        }

        res->status = NGX_HTTP_ACCEPTED;

        if (cmd->dry_run) {
            ngx_http_guard_msg(res, "needs a second principal (%s): %s "
                               "of server %V would leave upstream \"%V\" "
                               "with %ui in rotation (floor %ui)",
                               ngx_http_guard_role_name(res->needs),
                               ngx_http_guard_op_names[cmd->op], &s->server,
                               &up->uscf->host, res->in_rotation_after,
                               up->floor);
            res->pending = 1;
            (void) ngx_http_guard_state_audit(up, s, cmd, res, "dry_run");
            ngx_shmtx_unlock(&shpool->mutex);
            return NGX_OK;
        }

        req = ngx_http_guard_request_new(sh, now);

        if (req == NULL) {
            res->status = NGX_HTTP_CONFLICT;
            res->code = "too_many_pending";
            ngx_http_guard_msg(res, "%d requests are pending already: "
                               "approve, cancel or let some expire first",
                               NGX_HTTP_GUARD_REQUESTS);
            goto refused;
        }

        req->op = cmd->op;
        req->weight = cmd->weight;
        req->expires = cmd->expires;
        req->role = res->needs;
        req->in_rotation_after = res->in_rotation_after;
        req->created = now;
        req->until = now + up->gmcf->two_person.expire;
        ngx_http_guard_request_names(req, up, s, cmd);
        ngx_memcpy(req->why, res->why, NGX_HTTP_GUARD_WHY_LEN);

        res->request = req->id;
        res->until = req->until;
        res->pending = 1;

        ngx_http_guard_msg(res, "%s of server %V of upstream \"%V\" by "
                           "%V needs a second principal (%s) to approve "
                           "request %ui: %s", ngx_http_guard_op_names[cmd->op],
                           &s->server, &up->uscf->host, &cmd->principal,
                           ngx_http_guard_role_name(res->needs), req->id,
                           res->why);

        if (ngx_http_guard_state_audit(up, s, cmd, res, "pending")
            == NGX_ERROR)
        {
            req->id = 0;
            goto unaudited;
        }

        ngx_http_guard_state_changed(sh);
        ngx_shmtx_unlock(&shpool->mutex);

        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "upstream guard: %s", res->message);

        return NGX_OK;

    } else if (out
               && res->in_rotation_after < up->floor
               && res->in_rotation_after < res->in_rotation_before)
    {
        res->status = NGX_HTTP_CONFLICT;
        res->code = "floor";
        ngx_http_guard_msg(res, "%s of server %V would leave upstream "
                           "\"%V\" with %ui in rotation, below its floor "
                           "of %ui (%ui now)", ngx_http_guard_op_names[cmd->op],
                           &s->server, &up->uscf->host, res->in_rotation_after,
                           up->floor, res->in_rotation_before);
        goto refused;
    }

    if (cmd->op == NGX_HTTP_GUARD_OP_RESUME
        && s->admin == NGX_HTTP_GUARD_ACTIVE
        && s->ov_admin.since == 0 && !s->admin_by_agent)
    {
        ngx_http_guard_msg(res, "server %V of upstream \"%V\" is active "
                           "already: nothing to resume", &s->server,
                           &up->uscf->host);

        (void) ngx_http_guard_state_audit(up, s, cmd, res, "unchanged");
        ngx_shmtx_unlock(&shpool->mutex);
        return NGX_OK;
    }

    if (cmd->dry_run) {
        ngx_http_guard_msg(res, "allowed: %s of server %V would leave "
                           "upstream \"%V\" with %ui in rotation (floor %ui)",
                           ngx_http_guard_op_names[cmd->op], &s->server,
                           &up->uscf->host, res->in_rotation_after, up->floor);

        (void) ngx_http_guard_state_audit(up, s, cmd, res, "dry_run");
        ngx_shmtx_unlock(&shpool->mutex);
        return NGX_OK;
    }

    /* the audit line first: no change without it */

    res->admin_after = admin;

    if (ngx_http_guard_state_audit(up, s, cmd, res, "applied") == NGX_ERROR) {
        goto unaudited;
    }

    /* apply: an approved change is its requester's, with its reason */

    req = cmd->request ? ngx_http_guard_request_find(sh, cmd->request) : NULL;

    switch (cmd->op) {

    case NGX_HTTP_GUARD_OP_DRAIN:
        if (s->admin == NGX_HTTP_GUARD_ACTIVE) {
            ngx_http_guard_state_set_draining(up, s);
        }

        /* an operator's drain is no longer the agent's to end */
        s->admin_by_agent = 0;
        s->agent_suspended = 0;
        ngx_http_guard_override_set(&s->ov_admin, cmd, req, now);
        break;

    case NGX_HTTP_GUARD_OP_MAINTENANCE:
        s->admin = NGX_HTTP_GUARD_MAINTENANCE;
        s->admin_by_agent = 0;
        s->agent_suspended = 0;
        s->drain_started = 0;
        s->drained_at = 0;
        ngx_http_guard_override_set(&s->ov_admin, cmd, req, now);
        break;

    case NGX_HTTP_GUARD_OP_WEIGHT:
        if (cmd->weight_config) {
            /* no admin weight: nginx.conf's again, no override left */
            s->admin_weight = 0;
            ngx_memzero(&s->ov_weight, sizeof(ngx_http_guard_sh_override_t));
            break;
        }

        s->admin_weight = cmd->weight;
        ngx_http_guard_override_set(&s->ov_weight, cmd, req, now);
        break;

    case NGX_HTTP_GUARD_OP_EXPIRE:
        if (s->ov_weight.until && now >= s->ov_weight.until) {
            s->admin_weight = 0;
            ngx_memzero(&s->ov_weight, sizeof(ngx_http_guard_sh_override_t));
        }

        if (!(s->ov_admin.until && now >= s->ov_admin.until)) {
            break;
        }

        /* fall through */

    case NGX_HTTP_GUARD_OP_RESUME:
        ngx_http_guard_state_resume(up, s, now);
        break;

    default: /* NGX_HTTP_GUARD_OP_REVERT */
        ngx_http_guard_state_resume(up, s, now);
        s->admin_weight = 0;
        ngx_memzero(&s->ov_weight, sizeof(ngx_http_guard_sh_override_t));
        break;
    }

    ngx_http_guard_expiry(sh, &s->ov_admin);
    ngx_http_guard_expiry(sh, &s->ov_weight);

    res->applied = 1;
    res->admin_after = s->admin;
    res->version = ++s->admin_version;

    (void) ngx_http_guard_pool_eval(up, now);
    res->in_rotation_after = up->sh->in_rotation;

    ngx_atomic_fetch_add(&up->sh->gen, 1);
    ngx_http_guard_state_changed(sh);

    if (req) {
        req->state = NGX_HTTP_GUARD_REQ_APPLIED;
        req->closed = now;
        ngx_http_guard_request_copy(req->approver, &cmd->principal,
                                    NGX_HTTP_GUARD_PRINCIPAL_MAX + 1);

        ngx_http_guard_msg(res, "%s of server %V of upstream \"%V\" by "
                           "%s, approved by %V: %s, %ui in rotation "
                           "(floor %ui)", ngx_http_guard_op_names[cmd->op],
                           &s->server, &up->uscf->host, req->requester,
                           &cmd->principal,
                           ngx_http_guard_admin_state[s->admin % 4],
                           res->in_rotation_after, up->floor);

        reason.data = req->reason;
        reason.len = ngx_strlen(req->reason);

    } else {
        ngx_http_guard_msg(res, "%s of server %V of upstream \"%V\" by "
                           "%V: %s, %ui in rotation (floor %ui)",
                           ngx_http_guard_op_names[cmd->op], &s->server,
                           &up->uscf->host, &cmd->principal,
                           ngx_http_guard_admin_state[s->admin % 4],
                           res->in_rotation_after, up->floor);

        reason = cmd->reason;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                  "upstream guard: %s%s%V%s", res->message,
                  reason.len ? " (reason: " : "", &reason,
                  reason.len ? ")" : "");

    return NGX_OK;

refused:

    (void) ngx_http_guard_state_audit(up, s, cmd, res, "refused");

    ngx_shmtx_unlock(&shpool->mutex);

    return NGX_DECLINED;

unaudited:

    ngx_shmtx_unlock(&shpool->mutex);

    res->status = NGX_HTTP_SERVICE_UNAVAILABLE;
    res->code = "audit_unavailable";
    res->pending = 0;
    res->request = 0;
    ngx_http_guard_msg(res, "the audit log cannot be written: no change "
                       "is made without its audit line");

    return NGX_DECLINED;
}


/* the freeze switch: on refuses every change but resume */

ngx_int_t
ngx_http_guard_state_freeze(ngx_http_guard_main_conf_t *gmcf, ngx_uint_t on,
    ngx_http_guard_admin_cmd_t *cmd, ngx_http_guard_admin_res_t *res)
{
    ngx_uint_t                   level;
    ngx_slab_pool_t             *shpool;
    ngx_http_guard_sh_t         *sh;
    ngx_http_guard_audit_rec_t   rec;

    ngx_memzero(res, sizeof(ngx_http_guard_admin_res_t));
    res->status = NGX_HTTP_OK;

    sh = ngx_http_guard_shm_root(gmcf, &shpool);

    ngx_shmtx_lock(&shpool->mutex);

    res->admin_before = sh->frozen;
    res->admin_after = on;

    ngx_memzero(&rec, sizeof(ngx_http_guard_audit_rec_t));
    rec.principal = cmd->principal;
    rec.client = cmd->client;
    rec.op = on ? "freeze" : "unfreeze";
    rec.before = sh->frozen ? "frozen" : "open";
    rec.after = on ? "frozen" : "open";
    rec.result = (cmd->dry_run || sh->frozen == on) ? "unchanged"
                                                     : "applied";
    rec.reason = cmd->reason;
    res->audited = 1;

    if (ngx_http_guard_audit_locked(gmcf, sh, &rec) == NGX_ERROR
        && !cmd->dry_run && sh->frozen != on)
    {
        ngx_shmtx_unlock(&shpool->mutex);

        res->status = NGX_HTTP_SERVICE_UNAVAILABLE;
        res->code = "audit_unavailable";
        ngx_http_guard_msg(res, "the audit log cannot be written: no "
                           "change is made without its audit line");
        return NGX_DECLINED;
    }

    if (!cmd->dry_run && sh->frozen != on) {
        sh->frozen = on;

        if (on) {
            ngx_http_guard_override_set(&sh->freeze, cmd, NULL,
                                        ngx_http_guard_now_ms());

        } else {
            ngx_memzero(&sh->freeze, sizeof(ngx_http_guard_sh_override_t));
        }

        res->applied = 1;
        ngx_http_guard_state_changed(sh);
    }

    ngx_http_guard_msg(res, "changes are %s",
                       on ? "frozen: only resume is allowed" : "allowed");

    ngx_shmtx_unlock(&shpool->mutex);

    if (res->applied) {
        level = on ? NGX_LOG_WARN : NGX_LOG_NOTICE;

        ngx_log_error(level, ngx_cycle->log, 0,
                      "upstream guard: %V %s the admin API%s%V%s",
                      &cmd->principal, on ? "freezes" : "lifts the freeze of",
                      cmd->reason.len ? " (reason: " : "", &cmd->reason,
                      cmd->reason.len ? ")" : "");
    }

    return NGX_OK;
}


/* a lasting change: the state file is written again */

void
ngx_http_guard_state_changed(ngx_http_guard_sh_t *sh)
{
    sh->state_seq++;
}


/*
 * A health transition: written too, but a fleet whose servers flap would
 * rewrite the whole file at every tick; statefile.c writes health alone
 * at most once a second.
 */

void
ngx_http_guard_state_health_changed(ngx_http_guard_sh_t *sh)
{
    sh->health_seq++;
}


/*
 * The checking worker's tick: drains that have no request left become
 * "drained", overrides whose time is up are reverted.  Costs nothing
 * while no server drains and no override is due.
 */

void
ngx_http_guard_state_tick(ngx_http_guard_main_conf_t *gmcf)
{
    uint64_t                     now;
    ngx_uint_t                   i, j, draining, n;
    ngx_slab_pool_t             *shpool;
    ngx_http_guard_sh_t         *sh;
    ngx_http_guard_peer_t       *gp, *due[8];
    ngx_http_guard_upstream_t   *up;
    ngx_http_guard_sh_server_t  *s;
    ngx_http_guard_admin_cmd_t   cmd;
    ngx_http_guard_admin_res_t   res;

    sh = ngx_http_guard_shm_root(gmcf, &shpool);
    now = ngx_http_guard_now_ms();

    for (i = 0; i < NGX_HTTP_GUARD_REQUESTS; i++) {
        if (sh->requests[i].state == NGX_HTTP_GUARD_REQ_PENDING
            && now >= sh->requests[i].until)
        {
            ngx_shmtx_lock(&shpool->mutex);
            ngx_http_guard_requests_expire(gmcf, sh, now);
            ngx_shmtx_unlock(&shpool->mutex);
            break;
        }
    }

    if (sh->draining == 0 && (sh->next_expiry == 0 || now < sh->next_expiry))
    {
        return;     /* a hint, read without the lock */
    }

    up = gmcf->upstreams.elts;
    draining = 0;
    n = 0;

    ngx_shmtx_lock(&shpool->mutex);

    sh->next_expiry = 0;

    for (i = 0; i < gmcf->upstreams.nelts; i++) {
        for (j = 0; j < up[i].npeers; j++) {
            gp = &up[i].peers[j];
            s = gp->sh;

            if (s == NULL || !gp->check_owner) {
                continue;
            }

            if (s->admin == NGX_HTTP_GUARD_DRAINING
                && !ngx_http_guard_state_drained(gp, now))
            {
                draining++;
            }

            if ((s->ov_admin.until && now >= s->ov_admin.until)
                || (s->ov_weight.until && now >= s->ov_weight.until))
            {
                if (n < 8) {
                    due[n++] = gp;

                } else {
                    sh->next_expiry = now;      /* the rest next tick */
                }

                continue;
            }

            ngx_http_guard_expiry(sh, &s->ov_admin);
            ngx_http_guard_expiry(sh, &s->ov_weight);
        }
    }

    sh->draining = draining;

    ngx_shmtx_unlock(&shpool->mutex);

    /* reverted as any admin change, by the principal "guard" */

    ngx_memzero(&cmd, sizeof(ngx_http_guard_admin_cmd_t));
    cmd.op = NGX_HTTP_GUARD_OP_EXPIRE;
    ngx_str_set(&cmd.principal, "guard");
    ngx_str_set(&cmd.reason, "the override expired");

    for (i = 0; i < n; i++) {
        (void) ngx_http_guard_state_admin(due[i], &cmd, &res);

        if (res.applied) {
            ngx_http_guard_apply(due[i]->up);
        }
    }
}


/* a long poll asks about one server: drained now? */

void
ngx_http_guard_state_drain_poll(ngx_http_guard_peer_t *gp)
{
    ngx_slab_pool_t      *shpool;

    if (gp->sh == NULL || gp->sh->admin != NGX_HTTP_GUARD_DRAINING) {
        return;
    }

    (void) ngx_http_guard_shm_root(gp->up->gmcf, &shpool);

    ngx_shmtx_lock(&shpool->mutex);

    if (gp->sh->admin == NGX_HTTP_GUARD_DRAINING) {
        (void) ngx_http_guard_state_drained(gp, ngx_http_guard_now_ms());
    }

    ngx_shmtx_unlock(&shpool->mutex);
}


/*
 * Under the mutex: a draining server with no request in flight in any
 * worker of any live generation is drained.  Not before a tick has passed:
 * a worker may be between choosing the peer and counting the request.
 * Requests that sticky sessions (nginx 1.29.6+) still bring after that
 * keep it draining until none came for NGX_HTTP_GUARD_STICKY_QUIET: a
 * moment between two of them is no end of the sessions.
 */

static ngx_uint_t
ngx_http_guard_state_drained(ngx_http_guard_peer_t *gp, uint64_t now)
{
    ngx_slab_pool_t             *shpool;
    ngx_http_guard_sh_server_t  *s;

    s = gp->sh;

    if (s->inflight != 0 || now < s->drain_started + 200) {
        return 0;
    }

    if (s->last_start > s->drain_started + 200
        && now < s->last_start + NGX_HTTP_GUARD_STICKY_QUIET)
    {
        return 0;
    }

    s->admin = NGX_HTTP_GUARD_DRAINED;
    s->drained_at = now;

#ifdef NGX_HTTP_UPSTREAM_DRAINING
    /* sticky sessions no longer reach it: every worker applies that */
    ngx_atomic_fetch_add(&gp->up->sh->gen, 1);
#endif

    ngx_http_guard_state_changed(ngx_http_guard_shm_root(gp->up->gmcf,
                                                          &shpool));

    ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                  "upstream guard: server %V of upstream \"%V\" is drained: "
                  "no request in flight %uL ms after the drain began",
                  &s->server, &gp->up->uscf->host, now - s->drain_started);

    return 1;
}


static void
ngx_http_guard_state_set_draining(ngx_http_guard_upstream_t *up,
    ngx_http_guard_sh_server_t *s)
{
    ngx_slab_pool_t      *shpool;
    ngx_http_guard_sh_t  *sh;

    sh = ngx_http_guard_shm_root(up->gmcf, &shpool);

    s->admin = NGX_HTTP_GUARD_DRAINING;
    s->drain_started = ngx_http_guard_now_ms();
    s->drained_at = 0;
    sh->draining++;
}


/*
 * Back to active: slow start as after a recovery; out of maintenance the
 * server was not checked, so its health is down until it passes "rise".
 */

static void
ngx_http_guard_state_resume(ngx_http_guard_upstream_t *up,
    ngx_http_guard_sh_server_t *s, uint64_t now)
{
    if (s->admin == NGX_HTTP_GUARD_MAINTENANCE) {

        /*
         * down from now until it passes: a new episode of downtime, and
         * one that was running kept, so that the total never goes back
         */

        if (s->down_since && now > s->down_since) {
            s->down_total += now - s->down_since;
        }

        s->health = NGX_HTTP_GUARD_DOWN;
        s->rise_count = 0;
        s->fall_count = 0;
        s->down_since = now;
        ngx_cpystrn(s->reason, (u_char *) "maintenance",
                    NGX_HTTP_GUARD_REASON_LEN);
    }

    s->admin = NGX_HTTP_GUARD_ACTIVE;
    s->admin_by_agent = 0;
    s->agent_suspended = 0;
    s->drain_started = 0;
    s->drained_at = 0;
    s->ramp_start = now;
    ngx_memzero(&s->ov_admin, sizeof(ngx_http_guard_sh_override_t));
}


/*
 * Under the mutex: in rotation after a change of one server's admin state
 * and health ("gp" NULL: as things are), counted as pool_eval() counts:
 * primaries, then standbys up to the floor, else nginx's backups.
 */

static ngx_uint_t
ngx_http_guard_pool_project(ngx_http_guard_upstream_t *up,
    ngx_http_guard_peer_t *gp, ngx_uint_t admin, ngx_uint_t health)
{
    ngx_uint_t                   i, primaries, standbys, backups, e, need;
    ngx_uint_t                   old_admin, old_health;
    ngx_http_guard_sh_server_t  *s;

    old_admin = 0;
    old_health = 0;
    s = gp ? gp->sh : NULL;

    if (s) {
        old_admin = s->admin;
        old_health = s->health;
        s->admin = admin;
        s->health = health;
    }

    primaries = 0;
    standbys = 0;
    backups = 0;

    for (i = 0; i < up->npeers; i++) {
        e = ngx_http_guard_eligible(&up->peers[i]);

        switch (up->peers[i].role) {

        case NGX_HTTP_GUARD_PRIMARY:
            primaries += e;
            break;

        case NGX_HTTP_GUARD_STANDBY:
            standbys += (e && up->peers[i].check_owner);
            break;

        default:
            backups += e;
        }
    }

    if (s) {
        s->admin = old_admin;
        s->health = old_health;
    }

    need = (up->floor > primaries) ? up->floor - primaries : 0;
    primaries += ngx_min(standbys, need);

    return primaries ? primaries : backups;
}


/* an override by cmd's principal, or by the requester of "req" it approves */

static void
ngx_http_guard_override_set(ngx_http_guard_sh_override_t *ov,
    ngx_http_guard_admin_cmd_t *cmd, ngx_http_guard_sh_request_t *req,
    uint64_t now)
{
    ov->since = now;
    ov->until = cmd->expires ? now + cmd->expires : 0;

    if (req) {
        ngx_cpystrn(ov->by, req->requester, NGX_HTTP_GUARD_PRINCIPAL_LEN);
        ngx_cpystrn(ov->reason, req->reason, NGX_HTTP_GUARD_REASON_LEN);
        return;
    }

    ngx_http_guard_request_copy(ov->by, &cmd->principal,
                                NGX_HTTP_GUARD_PRINCIPAL_LEN);
    ngx_http_guard_request_copy(ov->reason, &cmd->reason,
                                NGX_HTTP_GUARD_REASON_LEN);
}


/* the earliest expiry the tick must look at */

static void
ngx_http_guard_expiry(ngx_http_guard_sh_t *sh,
    ngx_http_guard_sh_override_t *ov)
{
    if (ov->until && (sh->next_expiry == 0 || ov->until < sh->next_expiry)) {
        sh->next_expiry = ov->until;
    }
}


/* ---------------------------------------------------------------------- */
/* the two-person rule's requests (in the zone root, under the mutex)      */

static ngx_uint_t
ngx_http_guard_requests_pending(ngx_http_guard_sh_t *sh,
    ngx_http_guard_upstream_t *up)
{
    ngx_uint_t                    i, n;
    ngx_http_guard_sh_request_t  *req;

    n = 0;

    for (i = 0; i < NGX_HTTP_GUARD_REQUESTS; i++) {
        req = &sh->requests[i];

        if (req->id && req->state == NGX_HTTP_GUARD_REQ_PENDING
            && ngx_strncmp(req->upstream, up->uscf->host.data,
                           up->uscf->host.len) == 0
            && req->upstream[ngx_min(up->uscf->host.len,
                                     NGX_HTTP_GUARD_NAME_LEN - 1)] == '\0')
        {
            n++;
        }
    }

    return n;
}


static ngx_http_guard_sh_request_t *
ngx_http_guard_request_find(ngx_http_guard_sh_t *sh, ngx_uint_t id)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_GUARD_REQUESTS; i++) {
        if (id && sh->requests[i].id == id) {
            return &sh->requests[i];
        }
    }

    return NULL;
}


/* a free slot, else the one that ended longest ago; never a pending one */

static ngx_http_guard_sh_request_t *
ngx_http_guard_request_new(ngx_http_guard_sh_t *sh, uint64_t now)
{
    ngx_uint_t                    i;
    ngx_http_guard_sh_request_t  *req, *old;

    old = NULL;

    for (i = 0; i < NGX_HTTP_GUARD_REQUESTS; i++) {
        req = &sh->requests[i];

        if (req->id == 0) {
            old = req;
            break;
        }

        if (req->state != NGX_HTTP_GUARD_REQ_PENDING
            && (old == NULL || req->closed < old->closed))
        {
            old = req;
        }
    }

    if (old == NULL) {
        return NULL;
    }

    ngx_memzero(old, sizeof(ngx_http_guard_sh_request_t));
    old->id = ++sh->next_request;
    old->state = NGX_HTTP_GUARD_REQ_PENDING;
    old->created = now;

    return old;
}


static void
ngx_http_guard_request_names(ngx_http_guard_sh_request_t *req,
    ngx_http_guard_upstream_t *up, ngx_http_guard_sh_server_t *s,
    ngx_http_guard_admin_cmd_t *cmd)
{
    ngx_http_guard_request_copy(req->upstream, &up->uscf->host,
                                NGX_HTTP_GUARD_NAME_LEN);
    ngx_http_guard_request_copy(req->server, &s->server,
                                NGX_HTTP_GUARD_NAME_LEN);
    ngx_http_guard_request_copy(req->requester, &cmd->principal,
                                NGX_HTTP_GUARD_PRINCIPAL_MAX + 1);
    ngx_http_guard_request_copy(req->reason, &cmd->reason,
                                NGX_HTTP_GUARD_REASON_LEN);
}


static void
ngx_http_guard_request_copy(u_char *dst, ngx_str_t *src, size_t size)
{
    size_t  n;

    /* an empty string may have no data: memcpy() wants a pointer */

    n = ngx_min(src->len, size - 1);

    if (n) {
        ngx_memcpy(dst, src->data, n);
    }

    dst[n] = '\0';
}


/*
 * Whether "principal" asked for the request: the whole name is kept (the
 * tokens file allows no longer one), so the names are compared whole.
 */

static ngx_uint_t
ngx_http_guard_request_by(ngx_http_guard_sh_request_t *req,
    ngx_str_t *principal)
{
    size_t  len;

    len = ngx_strnlen(req->requester, NGX_HTTP_GUARD_PRINCIPAL_MAX + 1);

    return principal->len <= NGX_HTTP_GUARD_PRINCIPAL_MAX
           && len == principal->len
           && ngx_memcmp(req->requester, principal->data, len) == 0;
}


/*
 * A copy of request "id" for the admin API: NGX_DECLINED if unknown.  A
 * request whose time is up reads as expired, also before the tick says so.
 */

ngx_int_t
ngx_http_guard_state_request(ngx_http_guard_main_conf_t *gmcf, ngx_uint_t id,
    ngx_http_guard_sh_request_t *copy)
{
    ngx_slab_pool_t              *shpool;
    ngx_http_guard_sh_t          *sh;
    ngx_http_guard_sh_request_t  *req;

    sh = ngx_http_guard_shm_root(gmcf, &shpool);

    ngx_shmtx_lock(&shpool->mutex);

    ngx_http_guard_requests_expire(gmcf, sh, ngx_http_guard_now_ms());

    req = ngx_http_guard_request_find(sh, id);

    if (req) {
        *copy = *req;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return req ? NGX_OK : NGX_DECLINED;
}


/* every request, for the admin API's list, the due ones expired first */

void
ngx_http_guard_state_requests(ngx_http_guard_main_conf_t *gmcf,
    ngx_http_guard_sh_request_t *all)
{
    ngx_slab_pool_t      *shpool;
    ngx_http_guard_sh_t  *sh;

    sh = ngx_http_guard_shm_root(gmcf, &shpool);

    ngx_shmtx_lock(&shpool->mutex);

    ngx_http_guard_requests_expire(gmcf, sh, ngx_http_guard_now_ms());
    ngx_memcpy(all, sh->requests, sizeof(sh->requests));

    ngx_shmtx_unlock(&shpool->mutex);
}


/*
 * A pending request is cancelled by its requester or an admin; an ended
 * one cannot be.  Audited either way.
 */

ngx_int_t
ngx_http_guard_state_cancel(ngx_http_guard_main_conf_t *gmcf, ngx_uint_t id,
    ngx_http_guard_admin_cmd_t *cmd, ngx_uint_t admin,
    ngx_http_guard_admin_res_t *res)
{
    ngx_str_t                     requester;
    ngx_slab_pool_t              *shpool;
    ngx_http_guard_sh_t          *sh;
    ngx_http_guard_sh_request_t  *req;
    ngx_http_guard_audit_rec_t    rec;

    ngx_memzero(res, sizeof(ngx_http_guard_admin_res_t));
    res->status = NGX_HTTP_OK;
    res->request = id;

    sh = ngx_http_guard_shm_root(gmcf, &shpool);

    ngx_shmtx_lock(&shpool->mutex);

    /* one whose time is up is expired, not cancelled */
    ngx_http_guard_requests_expire(gmcf, sh, ngx_http_guard_now_ms());

    req = ngx_http_guard_request_find(sh, id);

    if (req == NULL) {
        res->status = NGX_HTTP_NOT_FOUND;
        res->code = "unknown_request";
        ngx_http_guard_msg(res, "no request %ui", id);

    } else if (req->state != NGX_HTTP_GUARD_REQ_PENDING) {
        res->status = NGX_HTTP_CONFLICT;
        res->code = "not_pending";
        ngx_http_guard_msg(res, "request %ui is %s, not pending", id,
                           ngx_http_guard_request_state_name(req->state));

    } else {
        requester.data = req->requester;
        requester.len = ngx_strlen(req->requester);

        if (!admin && !ngx_http_guard_request_by(req, &cmd->principal)) {
            res->status = NGX_HTTP_FORBIDDEN;
            res->code = "forbidden";
            ngx_http_guard_msg(res, "request %ui is %V's: only its "
                               "requester or an admin may cancel it", id,
                               &requester);
        }
    }

    ngx_memzero(&rec, sizeof(ngx_http_guard_audit_rec_t));
    rec.principal = cmd->principal;
    rec.client = cmd->client;
    rec.op = "cancel";
    rec.reason = cmd->reason;
    rec.request = id;
    rec.code = res->code;
    rec.result = res->code ? "refused" : "cancelled";

    if (req) {
        rec.upstream.data = req->upstream;
        rec.upstream.len = ngx_strlen(req->upstream);
        rec.server.data = req->server;
        rec.server.len = ngx_strlen(req->server);
    }

    if (ngx_http_guard_audit_locked(gmcf, sh, &rec) == NGX_ERROR
        && res->code == NULL)
    {
        res->status = NGX_HTTP_SERVICE_UNAVAILABLE;
        res->code = "audit_unavailable";
        ngx_http_guard_msg(res, "the audit log cannot be written: no "
                           "change is made without its audit line");
    }

    if (res->code == NULL) {
        req->state = NGX_HTTP_GUARD_REQ_CANCELLED;
        req->closed = ngx_http_guard_now_ms();
        ngx_http_guard_msg(res, "request %ui cancelled by %V", id,
                           &cmd->principal);
        ngx_http_guard_state_changed(sh);
    }

    ngx_shmtx_unlock(&shpool->mutex);

    if (res->code) {
        return NGX_DECLINED;
    }

    ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                  "upstream guard: %s", res->message);

    return NGX_OK;
}


/* requests whose time is up expire (the tick); audited as "guard" */

static void
ngx_http_guard_requests_expire(ngx_http_guard_main_conf_t *gmcf,
    ngx_http_guard_sh_t *sh, uint64_t now)
{
    ngx_uint_t                    i;
    ngx_http_guard_sh_request_t  *req;
    ngx_http_guard_audit_rec_t    rec;

    for (i = 0; i < NGX_HTTP_GUARD_REQUESTS; i++) {
        req = &sh->requests[i];

        if (req->id == 0 || req->state != NGX_HTTP_GUARD_REQ_PENDING
            || now < req->until)
        {
            continue;
        }

        req->state = NGX_HTTP_GUARD_REQ_EXPIRED;
        req->closed = now;
        ngx_http_guard_state_changed(sh);

        ngx_memzero(&rec, sizeof(ngx_http_guard_audit_rec_t));
        ngx_str_set(&rec.principal, "guard");
        rec.op = "expire";
        rec.upstream.data = req->upstream;
        rec.upstream.len = ngx_strlen(req->upstream);
        rec.server.data = req->server;
        rec.server.len = ngx_strlen(req->server);
        rec.request = req->id;
        rec.result = "expired";

        (void) ngx_http_guard_audit_locked(gmcf, sh, &rec);

        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "upstream guard: request %ui of %s (%s of server %s "
                      "of upstream \"%s\") expired without a second "
                      "principal", req->id, req->requester,
                      ngx_http_guard_op_names[req->op % 7], req->server,
                      req->upstream);
    }
}


const char *
ngx_http_guard_request_state_name(ngx_uint_t state)
{
    static const char  *names[] = {
        "none", "pending", "applied", "cancelled", "expired"
    };

    return names[state % 5];
}


const char *
ngx_http_guard_op_name(ngx_uint_t op)
{
    return ngx_http_guard_op_names[op % 7];
}


/*
 * An answer's message, within res->message whatever the names in it: a
 * message too long is cut at a character boundary (names may be UTF-8).
 */

void ngx_cdecl
ngx_http_guard_msg(ngx_http_guard_admin_res_t *res, const char *fmt, ...)
{
    u_char   *p, *last;
    va_list   args;

    last = res->message + NGX_HTTP_GUARD_MESSAGE_LEN - 1;

    va_start(args, fmt);
    p = ngx_http_guard_vsnprintz(res->message, NGX_HTTP_GUARD_MESSAGE_LEN,
                                 fmt, args);
    va_end(args);

    if (p < last) {
        return;
    }

    /* cut: not inside a UTF-8 sequence */
    while (p > res->message && (p[-1] & 0xc0) == 0x80) {
        p--;
    }

    if (p > res->message && p[-1] >= 0xc0) {
        p--;
    }

    *p = '\0';
}


/*
 * Under the mutex: the audit line of an admin command on server s, with
 * the state before and after; NGX_ERROR when it cannot be written.
 */

static ngx_int_t
ngx_http_guard_state_audit(ngx_http_guard_upstream_t *up,
    ngx_http_guard_sh_server_t *s, ngx_http_guard_admin_cmd_t *cmd,
    ngx_http_guard_admin_res_t *res, const char *result)
{
    u_char                       *p;
    ngx_slab_pool_t              *shpool;
    ngx_http_guard_sh_t          *sh;
    ngx_http_guard_sh_request_t  *req;
    ngx_http_guard_audit_rec_t    rec;
    u_char                        detail[NGX_HTTP_GUARD_WHY_LEN + 64];

    sh = ngx_http_guard_shm_root(up->gmcf, &shpool);

    ngx_memzero(&rec, sizeof(ngx_http_guard_audit_rec_t));

    rec.principal = cmd->principal;
    rec.client = cmd->client;
    rec.op = ngx_http_guard_op_names[cmd->op % 7];
    rec.upstream = up->uscf->host;
    rec.server = s->server;
    rec.before = ngx_http_guard_admin_state[res->admin_before % 4];
    rec.after = ngx_http_guard_admin_state[res->admin_after % 4];
    rec.result = result;
    rec.code = res->code;
    rec.reason = cmd->reason;
    rec.request = cmd->request ? cmd->request : res->request;

    if (cmd->request) {
        /* an approval: the requester asked, this principal approves */
        req = ngx_http_guard_request_find(sh, cmd->request);

        if (req) {
            rec.principal.data = req->requester;
            rec.principal.len = ngx_strlen(req->requester);
            rec.approver = cmd->principal;
            rec.reason.data = req->reason;
            rec.reason.len = ngx_strlen(req->reason);
        }
    }

    p = detail;

    if (rec.approver.len && cmd->reason.len) {
        p = ngx_slprintf(p, detail + sizeof(detail), "approved: %V; ",
                         &cmd->reason);
    }

    if (cmd->op == NGX_HTTP_GUARD_OP_WEIGHT && cmd->weight_config) {
        p = ngx_slprintf(p, detail + sizeof(detail),
                         "weight as configured; ");

    } else if (cmd->op == NGX_HTTP_GUARD_OP_WEIGHT) {
        p = ngx_slprintf(p, detail + sizeof(detail), "weight %ui; ",
                         cmd->weight);
    }

    if (cmd->expires) {
        p = ngx_slprintf(p, detail + sizeof(detail), "expires in %M s; ",
                         cmd->expires / 1000);
    }

    if (res->pending && res->why[0]) {
        p = ngx_slprintf(p, detail + sizeof(detail), "needs a second "
                         "principal: %s; ", res->why);
    }

    p = ngx_slprintf(p, detail + sizeof(detail), "%ui in rotation, %ui after,"
                     " floor %ui", res->in_rotation_before,
                     res->in_rotation_after, up->floor);

    rec.detail.data = detail;
    rec.detail.len = p - detail;

    res->audited = 1;

    return ngx_http_guard_audit_locked(up->gmcf, sh, &rec);
}


/*
 * Under the mutex: the audit line of a change the module makes on its own
 * (principal "guard", or "agent:<server>" when "agent" is the server whose
 * agent asked), "what" (or NULL) saying what changed beyond the states,
 * e.g. the weight.  It is made whatever the audit log says: a promotion
 * that the floor needs never waits for a disk.
 */

static void
ngx_http_guard_state_event(ngx_http_guard_upstream_t *up,
    ngx_http_guard_sh_server_t *s, ngx_http_guard_sh_server_t *agent,
    const char *op, const char *before, const char *after, ngx_str_t *what,
    ngx_uint_t in_rotation)
{
    u_char                      *p;
    ngx_slab_pool_t             *shpool;
    ngx_http_guard_sh_t         *sh;
    ngx_http_guard_audit_rec_t   rec;
    u_char                       principal[NGX_HTTP_GUARD_NAME_LEN + 8];
    u_char                       detail[128];

    sh = ngx_http_guard_shm_root(up->gmcf, &shpool);

    if (up->gmcf->audit_file == NULL) {
        return;
    }

    ngx_memzero(&rec, sizeof(ngx_http_guard_audit_rec_t));

    if (agent) {
        p = ngx_slprintf(principal, principal + sizeof(principal),
                         "agent:%V", &agent->server);
        rec.principal.data = principal;
        rec.principal.len = p - principal;

    } else {
        ngx_str_set(&rec.principal, "guard");
    }

    rec.op = op;
    rec.upstream = up->uscf->host;

    if (s) {
        rec.server = s->server;
    }

    rec.before = before;
    rec.after = after;
    rec.result = "applied";

    p = detail;

    if (what) {
        p = ngx_slprintf(p, detail + sizeof(detail), "%V; ", what);
    }

    p = ngx_slprintf(p, detail + sizeof(detail),
                     "%ui in rotation, floor %ui", in_rotation, up->floor);
    rec.detail.data = detail;
    rec.detail.len = p - detail;

    (void) ngx_http_guard_audit_locked(up->gmcf, sh, &rec);
}


/* ---------------------------------------------------------------------- */
/* the state file: statefile.c reads it, these apply it                     */

/*
 * A fresh zone (start, restart, binary upgrade) takes a server's state
 * from the state file, in init_module before the workers fork: its admin
 * dimension with the override records, and its health.  A server known
 * down stays out of rotation until it passes "rise", whatever the initial
 * state; one known up serves at once.  The saved configured weight is
 * compared with nginx.conf's by ngx_http_guard_state_mapped(), next.
 */

void
ngx_http_guard_state_restore(ngx_http_guard_peer_t *gp,
    ngx_http_guard_saved_t *sv)
{
    uint64_t                     now;
    ngx_slab_pool_t             *shpool;
    ngx_http_guard_sh_t         *sh;
    ngx_http_guard_sh_server_t  *s;

    s = gp->sh;

    if (s == NULL || !gp->check_owner) {
        return;
    }

    sh = ngx_http_guard_shm_root(gp->up->gmcf, &shpool);
    now = ngx_http_guard_now_ms();

    ngx_shmtx_lock(&shpool->mutex);

    switch (sv->health) {

    case NGX_HTTP_GUARD_DOWN:
        s->health = NGX_HTTP_GUARD_DOWN;
        s->rise_count = 0;
        s->fall_count = 0;
        s->down_since = now;
        break;

    case NGX_HTTP_GUARD_UP:
        s->health = NGX_HTTP_GUARD_UP;
        s->rise_count = 0;
        s->fall_count = 0;
        s->down_since = 0;
        break;

    default: /* NGX_HTTP_GUARD_CHECKING: as a fresh start has it */
        break;
    }

    ngx_cpystrn(s->reason, sv->reason, NGX_HTTP_GUARD_REASON_LEN);

    s->admin = sv->admin;
    s->admin_by_agent = 0;
    s->admin_weight = sv->admin_weight;
    s->conf_weight = sv->conf_weight;
    s->admin_version = sv->admin_version;
    s->drain_started = sv->drain_started;
    s->drained_at = sv->drained_at;
    s->ov_admin = sv->ov_admin;
    s->ov_weight = sv->ov_weight;

    if (s->admin == NGX_HTTP_GUARD_DRAINING) {
        /* nothing is in flight after a restart: the tick says drained */
        sh->draining++;
    }

    /* an override whose time came while nginx was down: reverted at once */

    ngx_http_guard_expiry(sh, &s->ov_admin);
    ngx_http_guard_expiry(sh, &s->ov_weight);

    ngx_atomic_fetch_add(&gp->up->sh->gen, 1);
    ngx_http_guard_state_changed(sh);

    ngx_shmtx_unlock(&shpool->mutex);
}


/* the freeze switch as the state file has it: on */

void
ngx_http_guard_state_restore_freeze(ngx_http_guard_main_conf_t *gmcf,
    ngx_http_guard_sh_override_t *freeze)
{
    ngx_slab_pool_t      *shpool;
    ngx_http_guard_sh_t  *sh;

    sh = ngx_http_guard_shm_root(gmcf, &shpool);

    ngx_shmtx_lock(&shpool->mutex);

    sh->frozen = 1;
    sh->freeze = *freeze;
    ngx_http_guard_state_changed(sh);

    ngx_shmtx_unlock(&shpool->mutex);
}


/*
 * A fresh zone takes from the state file the requests that were pending,
 * the next request id and the audit chain's head ("head" in hex, or
 * NULL); the audit log's last line, read next (audit.c), wins when it is
 * further on.
 */

void
ngx_http_guard_state_restore_requests(ngx_http_guard_main_conf_t *gmcf,
    ngx_http_guard_sh_request_t *reqs, ngx_uint_t n, uint64_t audit_seq,
    u_char *head, ngx_uint_t next_request)
{
    u_char                        bin[32];
    ngx_int_t                     b;
    ngx_uint_t                    i, k;
    ngx_slab_pool_t              *shpool;
    ngx_http_guard_sh_t          *sh;
    ngx_http_guard_sh_request_t  *req;

    sh = ngx_http_guard_shm_root(gmcf, &shpool);

    ngx_shmtx_lock(&shpool->mutex);

    if (head && sh->audit_seq == 0 && audit_seq) {
        for (i = 0; i < 32; i++) {
            b = ngx_hextoi(head + 2 * i, 2);
            if (b == NGX_ERROR) {
                break;
            }

            bin[i] = (u_char) b;
        }

        /* all or nothing: a chain goes on from a whole head only */

        if (i == 32) {
            ngx_memcpy(sh->audit_head, bin, 32);
            sh->audit_seq = audit_seq;
        }
    }

    sh->next_request = ngx_max(sh->next_request, next_request);

    k = 0;

    for (i = 0; i < n && k < NGX_HTTP_GUARD_REQUESTS; i++) {
        if (reqs[i].id == 0 || reqs[i].state != NGX_HTTP_GUARD_REQ_PENDING) {
            continue;
        }

        while (k < NGX_HTTP_GUARD_REQUESTS && sh->requests[k].id) {
            k++;
        }

        if (k == NGX_HTTP_GUARD_REQUESTS) {
            break;
        }

        req = &sh->requests[k];
        *req = reqs[i];

        /* the text fields came from a file: keep them C strings */
        req->upstream[NGX_HTTP_GUARD_NAME_LEN - 1] = '\0';
        req->server[NGX_HTTP_GUARD_NAME_LEN - 1] = '\0';
        req->requester[NGX_HTTP_GUARD_PRINCIPAL_MAX] = '\0';
        req->approver[NGX_HTTP_GUARD_PRINCIPAL_MAX] = '\0';
        req->reason[NGX_HTTP_GUARD_REASON_LEN - 1] = '\0';
        req->why[NGX_HTTP_GUARD_WHY_LEN - 1] = '\0';

        sh->next_request = ngx_max(sh->next_request, req->id);
    }

    ngx_shmtx_unlock(&shpool->mutex);
}


/*
 * After a reload (not a start): the audit line of an upstream whose
 * servers changed, with those added and those removed (slots the previous
 * configuration mapped and this one does not), principal "reload".
 */

void
ngx_http_guard_state_reload_audit(ngx_http_guard_upstream_t *up)
{
    u_char                      *p, *last;
    ngx_str_t                   *name;
    ngx_uint_t                   i, added, removed, gen;
    ngx_slab_pool_t             *shpool;
    ngx_rbtree_node_t           *node, *root, *sentinel;
    ngx_http_guard_sh_t         *sh;
    ngx_http_guard_sh_server_t  *s;
    ngx_http_guard_audit_rec_t   rec;
    u_char                       detail[1024];

    if (up->gmcf->audit_file == NULL || ngx_test_config) {
        return;
    }

    sh = ngx_http_guard_shm_root(up->gmcf, &shpool);
    name = &up->uscf->host;

    p = detail;
    last = detail + sizeof(detail) - sizeof("...");
    added = 0;
    removed = 0;

    ngx_shmtx_lock(&shpool->mutex);

    gen = sh->generation;

    if (gen <= 1) {
        /* a start: every server is new, none is news */
        ngx_shmtx_unlock(&shpool->mutex);
        return;
    }

    p = ngx_slprintf(p, last, "added:");

    for (i = 0; i < up->npeers; i++) {
        if (up->peers[i].added && up->peers[i].check_owner) {
            p = ngx_slprintf(p, last, " %V", &up->peers[i].peer->name);
            added++;
        }
    }

    p = ngx_slprintf(p, last, "%s; removed:", added ? "" : " none");

    root = sh->servers.root;
    sentinel = sh->servers.sentinel;

    if (root != sentinel) {
        for (node = ngx_rbtree_min(root, sentinel);
             node;
             node = ngx_rbtree_next(&sh->servers, node))
        {
            s = (ngx_http_guard_sh_server_t *) node;

            if (s->seen_gen + 1 != gen
                || s->node.str.len <= name->len
                || s->node.str.data[name->len] != '\n'
                || ngx_strncmp(s->node.str.data, name->data, name->len) != 0)
            {
                continue;
            }

            p = ngx_slprintf(p, last, " %V", &s->addr);
            removed++;
        }
    }

    if (removed == 0) {
        p = ngx_slprintf(p, last, " none");
    }

    if (p == last) {
        p = ngx_cpymem(p, "...", 3);
    }

    if (added || removed) {
        ngx_memzero(&rec, sizeof(ngx_http_guard_audit_rec_t));
        ngx_str_set(&rec.principal, "reload");
        rec.op = "servers";
        rec.upstream = *name;
        rec.result = "applied";
        rec.detail.data = detail;
        rec.detail.len = p - detail;

        (void) ngx_http_guard_audit_locked(up->gmcf, sh, &rec);
    }

    ngx_shmtx_unlock(&shpool->mutex);
}


/*
 * What of the admin API a slot holds, for a message: "maintenance by
 * olga", "drain by ...", "weight 5 by ...", comma-separated; 0 when
 * none (an agent's drain is the agent's, said again at its next check).
 */

size_t
ngx_http_guard_state_overrides(ngx_http_guard_sh_server_t *s, u_char *buf,
    size_t size)
{
    u_char  *p, *last;

    p = buf;
    last = buf + size;

    if (s->admin != NGX_HTTP_GUARD_ACTIVE && !s->admin_by_agent) {
        p = ngx_slprintf(p, last, "%s",
                         s->admin == NGX_HTTP_GUARD_MAINTENANCE
                         ? "maintenance" : "drain");

        if (s->ov_admin.by[0]) {
            p = ngx_slprintf(p, last, " by %s", s->ov_admin.by);
        }
    }

    if (s->admin_weight) {
        p = ngx_slprintf(p, last, "%sweight %ui", p == buf ? "" : ", ",
                         s->admin_weight);

        if (s->ov_weight.by[0]) {
            p = ngx_slprintf(p, last, " by %s", s->ov_weight.by);
        }
    }

    return p - buf;
}


/*
 * After a reload: the admin overrides that went with servers it no
 * longer configures (shm.c found them), said once at warn, and each in
 * the audit log as a change of the module (principal "guard").
 */

void
ngx_http_guard_state_dropped(ngx_cycle_t *cycle,
    ngx_http_guard_main_conf_t *gmcf)
{
    u_char                      *p;
    ngx_uint_t                   i, n;
    ngx_slab_pool_t             *shpool;
    ngx_http_guard_sh_t         *sh;
    ngx_http_guard_dropped_t    *d;
    ngx_http_guard_audit_rec_t   rec;
    u_char                       detail[320];

    if (gmcf->dropped == NULL || gmcf->dropped->nelts == 0
        || ngx_test_config)
    {
        return;
    }

    d = gmcf->dropped->elts;
    n = gmcf->dropped->nelts;

    ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                  "upstream guard: the reload dropped the admin overrides "
                  "of %ui server%s no longer configured, back in rotation if "
                  "configured again; the first: server %V of upstream "
                  "\"%V\" (%V)", n, n == 1 ? "" : "s", &d[0].server,
                  &d[0].upstream, &d[0].what);

    if (gmcf->audit_file == NULL) {
        return;
    }

    sh = ngx_http_guard_shm_root(gmcf, &shpool);

    ngx_shmtx_lock(&shpool->mutex);

    for (i = 0; i < n; i++) {
        ngx_memzero(&rec, sizeof(ngx_http_guard_audit_rec_t));
        ngx_str_set(&rec.principal, "guard");
        rec.op = "drop";
        rec.upstream = d[i].upstream;
        rec.server = d[i].server;
        rec.result = "applied";
        ngx_str_set(&rec.reason, "no longer configured after a reload");

        p = ngx_slprintf(detail, detail + sizeof(detail), "dropped: %V",
                         &d[i].what);
        rec.detail.data = detail;
        rec.detail.len = p - detail;

        (void) ngx_http_guard_audit_locked(gmcf, sh, &rec);
    }

    ngx_shmtx_unlock(&shpool->mutex);
}
