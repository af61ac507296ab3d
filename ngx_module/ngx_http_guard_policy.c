
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * The two-person rule (guard_admin_two_person): which admin changes are
 * high-risk and wait for a second principal, and the blast-radius cap
 * that not even two may exceed.  It only reads the pool, under the zone
 * mutex that the state owner (state.c) holds; state.c keeps the requests.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_guard.h"


static ngx_int_t ngx_http_guard_policy_percent(ngx_str_t *v, ngx_uint_t *p);


/*
 * guard_admin_two_person [share=34%] [window=10m] [maintenance=on|off]
 *                        [expire=15m] [concurrent=1] [max_out=50%];
 */

char *
ngx_http_guard_two_person(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_guard_main_conf_t *gmcf = conf;

    ngx_int_t                     n;
    ngx_str_t                    *value, v;
    ngx_uint_t                    i;
    ngx_http_guard_two_person_t  *tp;

    tp = &gmcf->two_person;

    if (tp->enabled) {
        return "is duplicate";
    }

    tp->enabled = 1;
    tp->share = 34;
    tp->window = 10 * 60 * 1000;
    tp->maintenance = 0;
    tp->expire = 15 * 60 * 1000;
    tp->concurrent = 1;
    tp->max_out = 50;

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "share=", 6) == 0) {
            v.data = value[i].data + 6;
            v.len = value[i].len - 6;

            if (ngx_http_guard_policy_percent(&v, &tp->share) != NGX_OK) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "max_out=", 8) == 0) {
            v.data = value[i].data + 8;
            v.len = value[i].len - 8;

            if (ngx_http_guard_policy_percent(&v, &tp->max_out) != NGX_OK
                || tp->max_out == 0)
            {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "window=", 7) == 0
            || ngx_strncmp(value[i].data, "expire=", 7) == 0)
        {
            v.data = value[i].data + 7;
            v.len = value[i].len - 7;

            n = ngx_parse_time(&v, 0);
            if (n == NGX_ERROR || n < 1000) {
                goto invalid;
            }

            if (value[i].data[0] == 'w') {
                tp->window = (ngx_msec_t) n;

            } else {
                tp->expire = (ngx_msec_t) n;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "concurrent=", 11) == 0) {
            n = ngx_atoi(value[i].data + 11, value[i].len - 11);
            if (n == NGX_ERROR || n < 1) {
                goto invalid;
            }

            tp->concurrent = (ngx_uint_t) n;
            continue;
        }

        if (ngx_strcmp(value[i].data, "maintenance=on") == 0) {
            tp->maintenance = 1;
            continue;
        }

        if (ngx_strcmp(value[i].data, "maintenance=off") == 0) {
            tp->maintenance = 0;
            continue;
        }

        goto invalid;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" of guard_admin_two_person: "
                       "expected share=N%%, window=TIME, maintenance=on|off, "
                       "expire=TIME (1s at least), concurrent=N (1 at least) "
                       "or max_out=N%% (1%% to 100%%)", &value[i]);

    return NGX_CONF_ERROR;
}


static ngx_int_t
ngx_http_guard_policy_percent(ngx_str_t *v, ngx_uint_t *p)
{
    ngx_int_t  n;

    if (v->len < 2 || v->data[v->len - 1] != '%') {
        return NGX_ERROR;
    }

    n = ngx_atoi(v->data, v->len - 1);
    if (n == NGX_ERROR || n > 100) {
        return NGX_ERROR;
    }

    *p = (ngx_uint_t) n;

    return NGX_OK;
}


/*
 * Under the zone mutex, for a drain or maintenance of gp that the floor
 * rule alone would allow or refuse: NGX_OK, one principal may; NGX_BUSY,
 * a second principal must approve (res->why says why, res->needs the role
 * the approver needs); NGX_DECLINED, over the blast-radius cap (res
 * filled).  "pending" is the number of requests waiting for this upstream.
 */

ngx_int_t
ngx_http_guard_policy_check(ngx_http_guard_peer_t *gp,
    ngx_http_guard_admin_cmd_t *cmd, ngx_http_guard_admin_res_t *res,
    ngx_uint_t pending, uint64_t now)
{
    u_char                       *p, *last;
    ngx_uint_t                    i, out, recent, total, high;
    ngx_http_guard_upstream_t    *up;
    ngx_http_guard_two_person_t  *tp;
    ngx_http_guard_sh_server_t   *s;

    up = gp->up;
    tp = &up->gmcf->two_person;

    if (!tp->enabled
        || (cmd->op != NGX_HTTP_GUARD_OP_DRAIN
            && cmd->op != NGX_HTTP_GUARD_OP_MAINTENANCE)
        || gp->sh->admin != NGX_HTTP_GUARD_ACTIVE)
    {
        return NGX_OK;
    }

    /* what the admin API already holds out of rotation, and since when */

    out = 0;
    recent = 0;
    total = 0;

    for (i = 0; i < up->npeers; i++) {
        s = up->peers[i].sh;

        if (s == NULL || !up->peers[i].check_owner
            || up->peers[i].role == NGX_HTTP_GUARD_BACKUP)
        {
            continue;
        }

        total++;

        if (s->admin == NGX_HTTP_GUARD_ACTIVE || s->ov_admin.since == 0) {
            continue;
        }

        out++;

        if (now - s->ov_admin.since <= tp->window) {
            recent++;
        }
    }

    /* the cap: never more than max_out of the pool, even with approval */

    if ((out + 1) * 100 > tp->max_out * total) {
        res->status = NGX_HTTP_CONFLICT;
        res->code = "blast_radius";
        ngx_http_guard_msg(res, "%ui of the %ui servers of upstream "
                           "\"%V\" would be out by the admin API, over the "
                           "cap of %ui%% (guard_admin_two_person max_out)",
                           out + 1, total, &up->uscf->host, tp->max_out);
        return NGX_DECLINED;
    }

    if (cmd->request) {
        return NGX_OK;          /* approved: the pool is re-evaluated later */
    }

    p = res->why;
    last = res->why + NGX_HTTP_GUARD_WHY_LEN - 1;
    high = 0;

    if (res->in_rotation_after < up->floor
        && res->in_rotation_after < res->in_rotation_before)
    {
        p = ngx_slprintf(p, last, "below the floor (%ui in rotation, floor "
                         "%ui); ", res->in_rotation_after, up->floor);
        high = 1;
    }

    if (tp->share && (recent + 1) * 100 > tp->share * total) {
        p = ngx_slprintf(p, last, "%ui of %ui servers out within %M s, over "
                         "%ui%%; ", recent + 1, total, tp->window / 1000,
                         tp->share);
        high = 1;
    }

    if (out + pending >= tp->concurrent) {
        p = ngx_slprintf(p, last, "%ui other change%s in force or pending; ",
                         out + pending, (out + pending == 1) ? "" : "s");
        high = 1;
    }

    if (cmd->op == NGX_HTTP_GUARD_OP_MAINTENANCE && tp->maintenance
        && ngx_http_guard_in_rotation(gp, 0))
    {
        p = ngx_slprintf(p, last, "maintenance of a server in rotation; ");
        high = 1;
    }

    if (!high) {
        return NGX_OK;
    }

    /* "a; b; " -> "a; b" */
    if (p - res->why >= 2) {
        p -= 2;
    }

    *p = '\0';

    res->needs = (cmd->op == NGX_HTTP_GUARD_OP_MAINTENANCE)
                 ? NGX_HTTP_GUARD_ROLE_ADMIN : NGX_HTTP_GUARD_ROLE_OPERATOR;

    return NGX_BUSY;
}
