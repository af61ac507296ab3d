
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


#define NGX_HTTP_GUARD_RAMP_STEPS  10


static ngx_uint_t ngx_http_guard_pool_eval(ngx_http_guard_upstream_t *up,
    uint64_t now);
static void ngx_http_guard_pool_floor(ngx_http_guard_upstream_t *up,
    ngx_uint_t in_rotation);
static ngx_uint_t ngx_http_guard_agent_apply(ngx_http_guard_peer_t *gp,
    ngx_http_guard_agent_t *agent);
static ngx_uint_t ngx_http_guard_pool_capacity(ngx_http_guard_upstream_t *up);
static ngx_uint_t ngx_http_guard_pool_agent_drains(
    ngx_http_guard_upstream_t *up, ngx_uint_t *primaries, ngx_uint_t promoted);


/*
 * A check result of a server (not a local error of the checking worker):
 * counters, rise and fall, the transition logged once, the agent's value
 * and, when routing may have moved, the pool rules and a new generation
 * for the upstream.  NGX_DECLINED: this process no longer runs the checks
 * and records nothing.
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
        s->rise_count = 0;
        s->fall_count++;
        ngx_cpystrn(s->reason, res->reason, NGX_HTTP_GUARD_REASON_LEN);

        if (s->health == NGX_HTTP_GUARD_UP && s->fall_count >= gscf->fall) {
            s->health = NGX_HTTP_GUARD_DOWN;
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
        sh->state_seq++;
    }

    if (ch->first) {
        ch->routing = 1;
    }

    if (res->outcome == NGX_HTTP_GUARD_CHECK_PASS && res->agent) {
        ch->routing |= ngx_http_guard_agent_apply(gp, res->agent);
    }

    if (ch->routing) {
        (void) ngx_http_guard_pool_eval(up, now);
        ngx_atomic_fetch_add(&up->sh->gen, 1);
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return NGX_OK;
}


/*
 * A worker starts running the checks: the floor may have moved while no
 * one decided (a leader died, a reload), so every upstream's pool rules
 * run again.
 */

void
ngx_http_guard_state_takeover(ngx_http_guard_main_conf_t *gmcf)
{
    uint64_t                    now;
    ngx_uint_t                  i;
    ngx_slab_pool_t            *shpool;
    ngx_http_guard_upstream_t  *up;

    (void) ngx_http_guard_shm_root(gmcf, &shpool);

    now = ngx_http_guard_now_ms();
    up = gmcf->upstreams.elts;

    ngx_shmtx_lock(&shpool->mutex);

    for (i = 0; i < gmcf->upstreams.nelts; i++) {
        if (up[i].sh && ngx_http_guard_pool_eval(&up[i], now)) {
            ngx_atomic_fetch_add(&up[i].sh->gen, 1);
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);
}


/*
 * A reload mapped the upstream's servers onto their slots (shm.c): the
 * pool rules run for the new configuration, and every process re-applies.
 */

void
ngx_http_guard_state_mapped(ngx_http_guard_upstream_t *up)
{
    ngx_slab_pool_t  *shpool;

    (void) ngx_http_guard_shm_root(up->gmcf, &shpool);

    ngx_shmtx_lock(&shpool->mutex);

    (void) ngx_http_guard_pool_eval(up, ngx_http_guard_now_ms());
    ngx_atomic_fetch_add(&up->sh->gen, 1);

    ngx_shmtx_unlock(&shpool->mutex);
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
    ngx_uint_t                   i, changed, suspend, level;
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
            s->admin = NGX_HTTP_GUARD_ACTIVE;

            if (!ngx_http_guard_eligible(gp)) {
                s->admin = NGX_HTTP_GUARD_DRAINING;
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

            s->admin = NGX_HTTP_GUARD_DRAINING;
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

    below = (ngx_http_guard_pool_status(in_rotation, up->floor, 0, 0)
             >= NGX_HTTP_GUARD_POOL_CRITICAL);

    if (below == up->sh->below_floor) {
        return;
    }

    up->sh->below_floor = below;

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


/* the weight to give nginx for a weight in thousandths: never 0 */

ngx_uint_t
ngx_http_guard_nginx_weight(ngx_http_guard_upstream_t *up, ngx_uint_t mw)
{
    ngx_uint_t  w;

    w = mw * ngx_http_guard_weight_scale(up->conf) / NGX_HTTP_GUARD_MILLI;

    return (w > 0) ? w : 1;
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
    uint64_t                     elapsed;
    ngx_uint_t                   w, k;
    ngx_http_guard_srv_conf_t   *gscf;

    gscf = gp->up->conf;
    w = gp->cfg_weight * NGX_HTTP_GUARD_MILLI;

    if (permille) {
        *permille = 1000;
    }

    if (s == NULL || !gscf->live_weights) {
        return w;
    }

    if (s->agent_weight) {
        w = s->agent_weight;
    }

    if (gscf->slow_start && s->ramp_start && now >= s->ramp_start) {
        elapsed = now - s->ramp_start;

        if (elapsed < gscf->slow_start) {
            k = (ngx_uint_t) (elapsed * NGX_HTTP_GUARD_RAMP_STEPS
                              / gscf->slow_start) + 1;
            w = w * k / NGX_HTTP_GUARD_RAMP_STEPS;

            if (permille) {
                *permille = k * 1000 / NGX_HTTP_GUARD_RAMP_STEPS;
            }
        }
    }

    return (w > 0) ? w : 1;
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
    ngx_uint_t                   changed, drain;
    u_char                       buf[NGX_HTTP_GUARD_WEIGHT_LEN];
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
    conf = (uint64_t) gp->cfg_weight * NGX_HTTP_GUARD_MILLI;

    if (agent->present && agent->has_value && !(agent->percent
                                                && agent->value == 0))
    {
        lo = conf * gscf->agent_min / 100;
        hi = conf * gscf->agent_max / 100;

        w = agent->percent ? conf * agent->value / 100
                           : (uint64_t) agent->value * NGX_HTTP_GUARD_MILLI;

        w = ngx_max(w, lo);
        w = ngx_min(w, hi);
        w = ngx_max(w, 1);
    }

    if (w != s->agent_weight) {
        p = ngx_http_guard_weight_print(buf, (ngx_uint_t) (w ? w : conf));

        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "upstream guard: agent:%V sets the weight of server "
                      "%V of upstream \"%V\" to %*s (configured %ui)",
                      &s->server, &s->server, &up->uscf->host,
                      p - buf, buf, gp->cfg_weight);

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
            }

            return changed;
        }

        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "upstream guard: agent:%V drains server %V of "
                      "upstream \"%V\"", &s->server, &s->server,
                      &up->uscf->host);

        s->agent_drain = 1;
        s->agent_refused = 0;

        if (s->admin == NGX_HTTP_GUARD_ACTIVE) {
            s->admin = NGX_HTTP_GUARD_DRAINING;
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
            changed = 1;
        }

        s->agent_drain = 0;
        s->agent_refused = 0;
        s->agent_suspended = 0;

        if (s->admin_by_agent) {
            s->admin = NGX_HTTP_GUARD_ACTIVE;
            s->admin_by_agent = 0;
            s->ramp_start = ngx_http_guard_now_ms();
        }
    }

    return changed;
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
    ngx_uint_t                   i;
    ngx_slab_pool_t             *shpool;
    ngx_http_guard_sh_t         *sh;
    ngx_http_guard_sh_server_t  *s;
    ngx_http_guard_sh_override_t  *ov[2];

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

    /* the earliest expiry the tick looks at; one past is reverted at once */

    ov[0] = &s->ov_admin;
    ov[1] = &s->ov_weight;

    for (i = 0; i < 2; i++) {
        if (ov[i]->until
            && (sh->next_expiry == 0 || ov[i]->until < sh->next_expiry))
        {
            sh->next_expiry = ov[i]->until;
        }
    }

    ngx_atomic_fetch_add(&gp->up->sh->gen, 1);
    sh->state_seq++;

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
    sh->state_seq++;

    ngx_shmtx_unlock(&shpool->mutex);
}
