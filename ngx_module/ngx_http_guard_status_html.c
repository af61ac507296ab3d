
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * The pool report as an HTML page for people on call, and its stylesheet.
 * The page holds no script, no <style> and no style attribute: its only
 * other resource is the stylesheet at ?format=css of the same location,
 * so it works under "Content-Security-Policy: default-src 'self'".  Every
 * string that does not come from this file is escaped; colours always
 * come with the words they stand for.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <nginx.h>

#include "ngx_http_guard.h"
#include "ngx_http_guard_out.h"
#include "ngx_http_guard_status.h"
#include "ngx_http_guard_status_css.h"


/* the refresh period the "resume" link asks for, in seconds */
#define NGX_HTTP_GUARD_HTML_RESUME  5

/*
 * room for any one printf below: a literal under 200 bytes, constant
 * strings under 50 and numbers; nothing a printf writes is cut short
 */
#define NGX_HTTP_GUARD_HTML_MAX     512


static ngx_int_t ngx_http_guard_html_head(ngx_http_guard_snap_t *snap,
    ngx_uint_t *count, ngx_http_guard_out_t *out);
static ngx_int_t ngx_http_guard_html_header(ngx_http_guard_snap_t *snap,
    ngx_http_guard_out_t *out);
static ngx_int_t ngx_http_guard_html_refresh(ngx_http_guard_snap_t *snap,
    ngx_http_guard_out_t *out);
static ngx_int_t ngx_http_guard_html_summary(ngx_http_guard_snap_t *snap,
    ngx_uint_t *count, ngx_http_guard_out_t *out);
static ngx_int_t ngx_http_guard_html_empty(ngx_http_guard_snap_t *snap,
    ngx_http_guard_out_t *out);
static ngx_int_t ngx_http_guard_html_upstream(ngx_http_guard_snap_t *snap,
    ngx_http_guard_snap_upstream_t *su, ngx_uint_t n,
    ngx_http_guard_out_t *out);
static ngx_int_t ngx_http_guard_html_facts(ngx_http_guard_snap_t *snap,
    ngx_http_guard_snap_upstream_t *su, ngx_http_guard_out_t *out);
static ngx_int_t ngx_http_guard_html_servers(ngx_http_guard_snap_t *snap,
    ngx_http_guard_snap_upstream_t *su, ngx_uint_t n,
    ngx_http_guard_out_t *out);
static ngx_int_t ngx_http_guard_html_server(ngx_http_guard_snap_t *snap,
    ngx_http_guard_snap_server_t *ss, ngx_http_guard_out_t *out);
static ngx_int_t ngx_http_guard_html_link(ngx_str_t *args,
    ngx_uint_t refresh, ngx_http_guard_out_t *out);
static ngx_int_t ngx_http_guard_html_badge(const char *prefix,
    const char *name, ngx_http_guard_out_t *out);
static ngx_int_t ngx_http_guard_html_cstr(const char *s,
    ngx_http_guard_out_t *out);
static ngx_int_t ngx_http_guard_html_time(uint64_t ms, uint64_t now,
    ngx_http_guard_out_t *out);
static ngx_int_t ngx_http_guard_html_duration(uint64_t ms,
    ngx_http_guard_out_t *out);
static ngx_int_t ngx_http_guard_html_requests(ngx_http_guard_snap_t *snap,
    ngx_http_guard_out_t *out);
static u_char *ngx_http_guard_html_ago(u_char *p, uint64_t ms, uint64_t now);
static u_char *ngx_http_guard_html_span(u_char *p, uint64_t ms);


static const char  *ngx_http_guard_html_status[] = {
    "ok", "degraded", "critical", "panic"
};


ngx_int_t
ngx_http_guard_status_html(ngx_http_guard_snap_t *snap,
    ngx_http_guard_out_t *out)
{
    u_char      *p;
    ngx_uint_t   i, rank, count[4];
    u_char       head[65];

    ngx_memzero(count, sizeof(count));

    for (i = 0; i < snap->nupstreams; i++) {
        rank = snap->upstreams[i].status_rank;
        count[rank > NGX_HTTP_GUARD_POOL_PANIC
              ? NGX_HTTP_GUARD_POOL_PANIC : rank]++;
    }

    if (ngx_http_guard_html_head(snap, count, out) != NGX_OK
        || ngx_http_guard_html_header(snap, out) != NGX_OK
        || ngx_http_guard_out_str(out, "<main>\n") != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (snap->nupstreams == 0) {
        if (ngx_http_guard_html_empty(snap, out) != NGX_OK) {
            return NGX_ERROR;
        }

    } else {
        if (ngx_http_guard_html_summary(snap, count, out) != NGX_OK) {
            return NGX_ERROR;
        }

        /* already in order: failing services first */

        for (i = 0; i < snap->nupstreams; i++) {
            if (ngx_http_guard_html_upstream(snap, &snap->upstreams[i], i,
                                             out)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    p = ngx_hex_dump(head, snap->audit_head, sizeof(snap->audit_head));
    *p = '\0';

    return ngx_http_guard_out_printf(out, NGX_HTTP_GUARD_HTML_MAX,
               "</main>\n"
               "<footer class=\"page\"><p>nginx-upstream-guard "
               NGX_HTTP_GUARD_VERSION " on nginx " NGINX_VERSION
               " &middot; audit line %uL, MAC <code>%s</code>"
               "</p></footer>\n"
               "</body>\n"
               "</html>\n", snap->audit_seq, head);
}


ngx_int_t
ngx_http_guard_status_css(ngx_http_guard_out_t *out)
{
    return ngx_http_guard_out_bytes(out,
                                    (u_char *) ngx_http_guard_status_css_text,
                                    sizeof(ngx_http_guard_status_css_text)
                                    - 1);
}


/* doctype, head, and a title that names the failing services */

static ngx_int_t
ngx_http_guard_html_head(ngx_http_guard_snap_t *snap, ngx_uint_t *count,
    ngx_http_guard_out_t *out)
{
    ngx_uint_t  i, rank, sep;

    if (ngx_http_guard_out_str(out,
            "<!DOCTYPE html>\n"
            "<html lang=\"en\">\n"
            "<head>\n"
            "<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" "
            "content=\"width=device-width, initial-scale=1\">\n"
            "<meta name=\"color-scheme\" content=\"light dark\">\n"
            "<meta name=\"robots\" content=\"noindex, nofollow\">\n"
            "<meta name=\"referrer\" content=\"no-referrer\">\n")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (snap->refresh
        && ngx_http_guard_out_printf(out, NGX_HTTP_GUARD_HTML_MAX,
                                     "<meta http-equiv=\"refresh\" "
                                     "content=\"%ui\">\n", snap->refresh)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_guard_out_str(out, "<title>nginx-upstream-guard")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    sep = 0;

    for (i = 0; i < 3; i++) {
        rank = NGX_HTTP_GUARD_POOL_PANIC - i;

        if (count[rank] == 0) {
            continue;
        }

        if (ngx_http_guard_out_printf(out, NGX_HTTP_GUARD_HTML_MAX,
                                      "%s%ui %s", sep ? ", " : ": ",
                                      count[rank],
                                      ngx_http_guard_html_status[rank])
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        sep = 1;
    }

    if (!sep
        && snap->nupstreams
        && ngx_http_guard_out_str(out, ": all ok") != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_guard_out_str(out,
               "</title>\n"
               "<link rel=\"stylesheet\" href=\"?format=css\">\n"
               "</head>\n"
               "<body>\n");
}


/* title and the facts about this nginx and the checking worker */

static ngx_int_t
ngx_http_guard_html_header(ngx_http_guard_snap_t *snap,
    ngx_http_guard_out_t *out)
{
    time_t      now;
    ngx_uint_t  n;

    if (ngx_http_guard_out_str(out, "<header class=\"page\">\n"
                                    "<h1>nginx-upstream-guard</h1>\n")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_guard_html_refresh(snap, out) != NGX_OK
        || ngx_http_guard_out_str(out, "<dl class=\"meta\">\n"
                                       "<div><dt>Generated</dt><dd>")
           != NGX_OK
        || ngx_http_guard_html_time(snap->now, 0, out) != NGX_OK
        || ngx_http_guard_out_str(out,
               "</dd></div>\n"
               "<div><dt>nginx</dt><dd>" NGINX_VERSION "</dd></div>\n"
               "<div><dt>Module</dt><dd>" NGX_HTTP_GUARD_VERSION
               "</dd></div>\n"
               "<div><dt>Checking worker</dt><dd>")
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (snap->leader_pid) {
        n = snap->takeovers;

        if (ngx_http_guard_out_printf(out, NGX_HTTP_GUARD_HTML_MAX,
                                      "pid %P <span class=\"aside\">"
                                      "(%ui takeover%s)</span>",
                                      snap->leader_pid, n,
                                      n == 1 ? "" : "s")
            != NGX_OK)
        {
            return NGX_ERROR;
        }

    } else if (ngx_http_guard_out_str(out,
                   "<span class=\"warn\">none</span>")
               != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_guard_out_printf(out, NGX_HTTP_GUARD_HTML_MAX,
            "</dd></div>\n"
            "<div><dt>Config generation</dt><dd>%ui</dd></div>\n"
            "<div><dt>Zone</dt><dd>%uz KB of %uz KB used (%uz%%)</dd>"
            "</div>\n"
            "<div><dt>Uptime</dt><dd>",
            snap->generation, (snap->zone_used + 1023) / 1024,
            snap->zone_size / 1024,
            snap->zone_size ? snap->zone_used * 100 / snap->zone_size : 0)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    now = (time_t) (snap->now / 1000);

    if (snap->started == 0) {
        if (ngx_http_guard_out_str(out, "unknown") != NGX_OK) {
            return NGX_ERROR;
        }

    } else if (ngx_http_guard_html_duration(
                   now > snap->started
                   ? (uint64_t) (now - snap->started) * 1000 : 0,
                   out)
               != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_guard_out_str(out, "</dd></div>\n</dl>\n</header>\n");
}


/* the refresh period, and a link that pauses or resumes it */

static ngx_int_t
ngx_http_guard_html_refresh(ngx_http_guard_snap_t *snap,
    ngx_http_guard_out_t *out)
{
    if (snap->refresh) {
        if (ngx_http_guard_out_printf(out, NGX_HTTP_GUARD_HTML_MAX,
                                      "<p class=\"refresh\">Refreshes every "
                                      "%ui s. <a href=\"", snap->refresh)
                != NGX_OK
            || ngx_http_guard_html_link(&snap->args, 0, out) != NGX_OK
            || ngx_http_guard_out_str(out, "\">Pause refresh</a></p>\n")
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    if (ngx_http_guard_out_str(out,
            "<p class=\"refresh paused\">Refresh paused. <a href=\"")
            != NGX_OK
        || ngx_http_guard_html_link(&snap->args, NGX_HTTP_GUARD_HTML_RESUME,
                                    out)
           != NGX_OK
        || ngx_http_guard_out_printf(out, NGX_HTTP_GUARD_HTML_MAX,
                                     "\">Resume (every %ui s)</a></p>\n",
                                     (ngx_uint_t) NGX_HTTP_GUARD_HTML_RESUME)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_guard_html_summary(ngx_http_guard_snap_t *snap, ngx_uint_t *count,
    ngx_http_guard_out_t *out)
{
    ngx_uint_t  i;

    if (ngx_http_guard_out_printf(out, NGX_HTTP_GUARD_HTML_MAX,
                                  "<p class=\"summary\"><strong>%ui "
                                  "service%s:</strong>", snap->nupstreams,
                                  snap->nupstreams == 1 ? "" : "s")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < 4; i++) {
        if (ngx_http_guard_out_printf(out, NGX_HTTP_GUARD_HTML_MAX,
                                      " <span class=\"badge status-%s%s\">"
                                      "%ui %s</span>",
                                      ngx_http_guard_html_status[i],
                                      count[i] ? "" : " zero", count[i],
                                      ngx_http_guard_html_status[i])
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ngx_http_guard_out_str(out, "</p>\n") != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_guard_html_requests(snap, out);
}


/* the two-person rule: what waits for a second principal, and why */

static ngx_int_t
ngx_http_guard_html_requests(ngx_http_guard_snap_t *snap,
    ngx_http_guard_out_t *out)
{
    ngx_uint_t                    i;
    ngx_http_guard_sh_request_t  *req;

    if (snap->nrequests == 0) {
        return NGX_OK;
    }

    if (ngx_http_guard_out_str(out,
            "<section class=\"pending\"><h2>Waiting for a second "
            "principal</h2>\n<table class=\"servers\">\n<thead><tr>"
            "<th scope=\"col\">Request</th>"
            "<th scope=\"col\">Change</th>"
            "<th scope=\"col\">Asked by</th>"
            "<th scope=\"col\">Why</th>"
            "<th scope=\"col\">Expires</th>"
            "</tr></thead>\n<tbody>\n")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < snap->nrequests; i++) {
        req = &snap->requests[i];

        if (ngx_http_guard_out_printf(out, NGX_HTTP_GUARD_HTML_MAX,
                                      "<tr><td>%ui</td><td>%s ", req->id,
                                      ngx_http_guard_op_name(req->op))
               != NGX_OK
            || ngx_http_guard_out_html(out, req->server,
                                       ngx_strnlen(req->server,
                                                   NGX_HTTP_GUARD_NAME_LEN))
               != NGX_OK
            || ngx_http_guard_out_str(out, " of ") != NGX_OK
            || ngx_http_guard_out_html(out, req->upstream,
                                       ngx_strnlen(req->upstream,
                                                   NGX_HTTP_GUARD_NAME_LEN))
               != NGX_OK
            || ngx_http_guard_out_str(out, "</td><td>") != NGX_OK
            || ngx_http_guard_out_html(out, req->requester,
                                       ngx_strnlen(req->requester,
                                           NGX_HTTP_GUARD_PRINCIPAL_MAX + 1))
               != NGX_OK
            || ngx_http_guard_out_str(out, "</td><td>") != NGX_OK
            || ngx_http_guard_out_html(out, req->why,
                                       ngx_strnlen(req->why,
                                                   NGX_HTTP_GUARD_WHY_LEN))
               != NGX_OK
            || ngx_http_guard_out_str(out, "</td><td>in ") != NGX_OK
            || ngx_http_guard_html_duration(req->until > snap->now
                                            ? req->until - snap->now : 0,
                                            out)
               != NGX_OK
            || ngx_http_guard_out_str(out, "</td></tr>\n") != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return ngx_http_guard_out_str(out, "</tbody></table></section>\n");
}


/* no upstream matched: say so, and offer the unfiltered page */

static ngx_int_t
ngx_http_guard_html_empty(ngx_http_guard_snap_t *snap,
    ngx_http_guard_out_t *out)
{
    if (ngx_http_guard_out_str(out,
            "<p class=\"empty\">No upstream matched. Either the "
            "<code>upstream=</code> or <code>state=</code> filter selects "
            "nothing, or no upstream has a <code>guard_check</code>.</p>\n")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (snap->args.len == 0) {
        return NGX_OK;
    }

    return ngx_http_guard_out_printf(out, NGX_HTTP_GUARD_HTML_MAX,
                                     "<p><a href=\"?format=html&amp;"
                                     "refresh=%ui\">Show every upstream</a>"
                                     "</p>\n", snap->refresh);
}


static ngx_int_t
ngx_http_guard_html_upstream(ngx_http_guard_snap_t *snap,
    ngx_http_guard_snap_upstream_t *su, ngx_uint_t n,
    ngx_http_guard_out_t *out)
{
    if (ngx_http_guard_out_str(out, "<section class=\"upstream status-")
            != NGX_OK
        || ngx_http_guard_html_cstr(su->status, out) != NGX_OK
        || ngx_http_guard_out_printf(out, NGX_HTTP_GUARD_HTML_MAX,
                                     "\" id=\"upstream-%ui\" "
                                     "aria-labelledby=\"upstream-%ui-name\">"
                                     "\n<h2 id=\"upstream-%ui-name\">"
                                     "<span class=\"name\">", n, n, n)
           != NGX_OK
        || ngx_http_guard_out_html(out, su->name->data, su->name->len)
           != NGX_OK
        || ngx_http_guard_out_str(out, "</span> ") != NGX_OK
        || ngx_http_guard_html_badge("status-", su->status, out) != NGX_OK
        || ngx_http_guard_out_str(out, "</h2>\n") != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (su->fail_open_active) {
        if (ngx_http_guard_out_str(out,
                "<p class=\"alert\"><strong>Fail open is active:</strong> "
                "no server is in rotation, so requests go to every server "
                "that is neither down in the config nor in maintenance, "
                "whatever its health.</p>\n")
            != NGX_OK)
        {
            return NGX_ERROR;
        }

    } else if (su->status_rank == NGX_HTTP_GUARD_POOL_PANIC
               && !su->up->conf->fail_open)
    {
        if (ngx_http_guard_out_str(out,
                "<p class=\"alert\"><strong>Fail closed:</strong> "
                "no server is in rotation, so nginx answers 502.</p>\n")
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ngx_http_guard_html_facts(snap, su, out) != NGX_OK
        || ngx_http_guard_html_servers(snap, su, n, out) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_guard_out_str(out, "</section>\n");
}


static ngx_int_t
ngx_http_guard_html_facts(ngx_http_guard_snap_t *snap,
    ngx_http_guard_snap_upstream_t *su, ngx_http_guard_out_t *out)
{
    ngx_http_guard_srv_conf_t  *conf;

    conf = su->up->conf;

    if (ngx_http_guard_out_printf(out, NGX_HTTP_GUARD_HTML_MAX,
                                  "<dl class=\"facts\">\n"
                                  "<div><dt>In rotation</dt><dd>"
                                  "<strong>%ui</strong>", su->in_rotation)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (su->floor == 0) {
        if (ngx_http_guard_out_str(out,
                " <span class=\"aside\">(floor off)</span>")
            != NGX_OK)
        {
            return NGX_ERROR;
        }

    } else if (ngx_http_guard_out_printf(out, NGX_HTTP_GUARD_HTML_MAX,
                   " / floor %ui <span class=\"%s\">%s</span>", su->floor,
                   su->in_rotation >= su->floor
                   ? "floor-holds" : "floor-below",
                   su->in_rotation >= su->floor
                   ? "floor holds" : "below floor")
               != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_guard_out_printf(out, NGX_HTTP_GUARD_HTML_MAX,
            "</dd></div>\n"
            "<div><dt>Healthy</dt><dd>%ui / %ui</dd></div>\n",
            su->healthy, su->total)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (su->standbys == 0) {
        if (ngx_http_guard_out_str(out,
                "<div><dt>Standbys promoted</dt><dd>none configured</dd>"
                "</div>\n")
            != NGX_OK)
        {
            return NGX_ERROR;
        }

    } else if (ngx_http_guard_out_printf(out, NGX_HTTP_GUARD_HTML_MAX,
                   "<div><dt>Standbys promoted</dt><dd>%ui of %ui</dd>"
                   "</div>\n", su->promoted, su->standbys)
               != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (su->draining
        && ngx_http_guard_out_printf(out, NGX_HTTP_GUARD_HTML_MAX,
                                     "<div><dt>Draining</dt><dd>%ui</dd>"
                                     "</div>\n", su->draining)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_guard_out_str(out, "<div><dt>Balancer</dt><dd>") != NGX_OK
        || ngx_http_guard_html_cstr(su->balancer, out) != NGX_OK
        || ngx_http_guard_out_str(out,
               "</dd></div>\n<div><dt>Check</dt><dd>")
           != NGX_OK
        || ngx_http_guard_html_cstr(su->check, out) != NGX_OK
        || ngx_http_guard_out_str(out, " <span class=\"aside\">every ")
           != NGX_OK
        || ngx_http_guard_html_duration(conf->interval, out) != NGX_OK
        || ngx_http_guard_out_str(out, ", timeout ") != NGX_OK
        || ngx_http_guard_html_duration(conf->timeout, out) != NGX_OK
        || ngx_http_guard_out_printf(out, NGX_HTTP_GUARD_HTML_MAX,
                                     ", rise %ui, fall %ui</span></dd>"
                                     "</div>\n"
                                     "<div><dt>When none in rotation</dt>"
                                     "<dd>fail %s%s</dd></div>\n"
                                     "<div><dt>Last change</dt><dd>",
                                     conf->rise, conf->fall,
                                     conf->fail_open ? "open" : "closed",
                                     su->fail_open_active
                                     ? " <span class=\"warn\">(active)"
                                       "</span>"
                                     : "")
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (su->last_change == 0) {
        if (ngx_http_guard_out_str(out, "none since added") != NGX_OK) {
            return NGX_ERROR;
        }

    } else if (ngx_http_guard_html_time(su->last_change, snap->now, out)
               != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_guard_out_str(out, "</dd></div>\n</dl>\n");
}


static ngx_int_t
ngx_http_guard_html_servers(ngx_http_guard_snap_t *snap,
    ngx_http_guard_snap_upstream_t *su, ngx_uint_t n,
    ngx_http_guard_out_t *out)
{
    ngx_uint_t  i;

    if (su->nservers == 0) {
        return ngx_http_guard_out_str(out,
                   "<p class=\"empty\">No server of this upstream matches "
                   "the state filter.</p>\n");
    }

    if (ngx_http_guard_out_printf(out, NGX_HTTP_GUARD_HTML_MAX,
                                  "<div class=\"table-wrap\" role=\"region\" "
                                  "tabindex=\"0\" "
                                  "aria-labelledby=\"upstream-%ui-caption\">"
                                  "\n<table class=\"servers\">\n"
                                  "<caption id=\"upstream-%ui-caption\">"
                                  "Servers<span class=\"vh\"> of ", n, n)
            != NGX_OK
        || ngx_http_guard_out_html(out, su->name->data, su->name->len)
           != NGX_OK
        || ngx_http_guard_out_printf(out, NGX_HTTP_GUARD_HTML_MAX,
                                     "</span> <span class=\"aside\">(%ui of "
                                     "%ui shown)</span></caption>\n",
                                     su->nservers, su->total)
           != NGX_OK
        || ngx_http_guard_out_str(out,
               "<thead><tr>"
               "<th scope=\"col\">Server</th>"
               "<th scope=\"col\">State</th>"
               "<th scope=\"col\">In rotation</th>"
               "<th scope=\"col\">Last failure</th>"
               "<th scope=\"col\">Address</th>"
               "<th scope=\"col\" class=\"num\">Downtime</th>"
               "<th scope=\"col\" class=\"num\">Last check</th>"
               "<th scope=\"col\" class=\"num\">Checks / failed</th>"
               "<th scope=\"col\" class=\"num\">Weight / effective</th>"
               "<th scope=\"col\">Role</th>"
               "<th scope=\"col\">Health</th>"
               "<th scope=\"col\">Admin</th>"
               "<th scope=\"col\">Config</th>"
               "</tr></thead>\n<tbody>\n")
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < su->nservers; i++) {
        if (ngx_http_guard_html_server(snap, &su->servers[i], out)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return ngx_http_guard_out_str(out, "</tbody>\n</table>\n</div>\n");
}


/*
 * One row: the room it can take is reserved once (names escaped may grow
 * sixfold), then written without further checks.
 */

#define NGX_HTTP_GUARD_HTML_ROW                                              \
    (2048 + 6 * NGX_HTTP_GUARD_REASON_LEN                                    \
     + 6 * (NGX_HTTP_GUARD_PRINCIPAL_LEN + NGX_HTTP_GUARD_REASON_LEN))

static ngx_int_t
ngx_http_guard_html_server(ngx_http_guard_snap_t *snap,
    ngx_http_guard_snap_server_t *ss, ngx_http_guard_out_t *out)
{
    u_char                        *p;
    ngx_http_guard_sh_override_t  *ov;
    ngx_http_upstream_rr_peer_t   *peer;

    peer = ss->gp->peer;

    p = ngx_http_guard_out_reserve(out, NGX_HTTP_GUARD_HTML_ROW
                                        + 12 * peer->server.len
                                        + 6 * peer->name.len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    /*
     * server, state, in rotation and the last failure first: what a person
     * on a narrow screen needs next to the (sticky) name; then the address
     */

    p = ngx_http_guard_put_lit(p, "<tr class=\"state-");
    p = ngx_cpystrn(p, (u_char *) ss->state, 16);
    p = ngx_http_guard_put_lit(p, "\"><th scope=\"row\">");
    p = ngx_http_guard_put_html(p, peer->server.data, peer->server.len);
    p = ngx_http_guard_put_lit(p, "</th><td><span class=\"badge state-");
    p = ngx_cpystrn(p, (u_char *) ss->state, 16);
    p = ngx_http_guard_put_lit(p, "\">");
    p = ngx_cpystrn(p, (u_char *) ss->state, 16);
    p = ngx_http_guard_put_lit(p, "</span></td>");
    p = ss->in_rotation
        ? ngx_http_guard_put_lit(p, "<td>yes</td>")
        : ngx_http_guard_put_lit(p, "<td class=\"out\">no</td>");

    /* last failure: why, when, and whether it still fails */

    if (ss->reason_len == 0) {
        p = ngx_http_guard_put_lit(p, "<td>&ndash;");

    } else {
        p = ss->failing
            ? ngx_http_guard_put_lit(p, "<td class=\"reason\">")
            : ngx_http_guard_put_lit(p, "<td class=\"reason old\">");
        p = ngx_http_guard_put_html(p, ss->reason, ss->reason_len);

        if (ss->failed_at) {
            p = ngx_http_guard_put_lit(p, "<br><span class=\"aside\">");
            p = ngx_http_guard_html_ago(p, ss->failed_at, snap->now);
            p = ss->failing
                ? ngx_http_guard_put_lit(p, " ago</span>")
                : ngx_http_guard_put_lit(p, " ago, passed since</span>");

        } else if (!ss->failing) {
            p = ngx_http_guard_put_lit(p, "<br><span class=\"aside\">"
                                          "passed since</span>");
        }
    }

    p = ngx_http_guard_put_lit(p, "</td><td>");
    p = ngx_http_guard_put_html(p, peer->name.data, peer->name.len);
    p = ngx_http_guard_put_lit(p, "</td><td class=\"num\">");

    /* downtime, the running episode included */

    if (ss->downtime == 0) {
        p = ngx_http_guard_put_lit(p, "&ndash;");

    } else {
        p = ngx_http_guard_html_span(p, ss->downtime);

        if (ss->down_now) {
            p = ngx_http_guard_put_lit(p, "<br><span class=\"aside\">"
                                          "ongoing</span>");
        }
    }

    /* last check: its duration and how long ago; checks / failed */

    p = ngx_http_guard_put_lit(p, "</td><td class=\"num\">");

    if (ss->last_check == 0) {
        p = ngx_http_guard_put_lit(p, "none yet");

    } else {
        p = ngx_http_guard_put_uint(p, ss->last_latency);
        p = ngx_http_guard_put_lit(p, " ms<br><span class=\"aside\">");
        p = ngx_http_guard_html_ago(p, ss->last_check, snap->now);
        p = ngx_http_guard_put_lit(p, " ago</span>");
    }

    p = ngx_http_guard_put_lit(p, "</td><td class=\"num\">");
    p = ngx_http_guard_put_uint(p, ss->checks);
    p = ngx_http_guard_put_lit(p, " / ");
    p = ngx_http_guard_put_uint(p, ss->fails);

    if (ss->downs) {
        p = ngx_http_guard_put_lit(p, "<br><span class=\"aside\">down ");
        p = ngx_http_guard_put_uint(p, ss->downs);
        p = ss->downs == 1 ? ngx_http_guard_put_lit(p, " time</span>")
                           : ngx_http_guard_put_lit(p, " times</span>");
    }

    /* weights: configured / effective, then what shapes the effective one */

    p = ngx_http_guard_put_lit(p, "</td><td class=\"num\">");
    p = ngx_http_guard_put_uint(p, ss->gp->cfg_weight);
    p = ngx_http_guard_put_lit(p, " / ");
    p = ngx_http_guard_weight_print(p, ss->effective_weight);

    if (ss->permille < 1000) {
        p = ngx_http_guard_put_lit(p, "<br><span class=\"aside\">slow start ");
        p = ngx_http_guard_put_uint(p, ss->permille / 10);
        p = ngx_http_guard_put_lit(p, "%</span>");
    }

    if (ss->admin_weight > 0) {
        p = ngx_http_guard_put_lit(p, "<br><span class=\"aside\">admin ");
        p = ngx_http_guard_put_uint(p, ss->admin_weight);
        p = ngx_http_guard_put_lit(p, "</span>");
    }

    if (ss->agent_weight) {
        p = ngx_http_guard_put_lit(p, "<br><span class=\"aside\">agent ");
        p = ngx_http_guard_weight_print(p, ss->agent_weight);
        p = ngx_http_guard_put_lit(p, "</span>");
    }

    /* role, health, admin, config */

    p = ngx_http_guard_put_lit(p, "</td><td>");
    p = ngx_cpystrn(p, (u_char *) ss->role, 16);

    if (ss->gp->role == NGX_HTTP_GUARD_STANDBY && ss->promoted) {
        p = ngx_http_guard_put_lit(p, " <span class=\"aside\">(promoted)"
                                      "</span>");
    }

    p = ngx_http_guard_put_lit(p, "</td><td>");
    p = ngx_cpystrn(p, (u_char *) ss->health, 16);
    p = ngx_http_guard_put_lit(p, "</td><td>");
    p = ngx_cpystrn(p, (u_char *) ss->admin, 16);

    /* a drain's progress, and who set the override and why */

    if (ss->admin_id == NGX_HTTP_GUARD_DRAINING) {
        p = ngx_http_guard_put_lit(p, "<br><span class=\"aside\">");
        p = ngx_http_guard_put_uint(p, ss->inflight);
        p = ngx_http_guard_put_lit(p, " in flight</span>");
    }

    if (ss->admin_id == NGX_HTTP_GUARD_DRAINED
        && ss->drained_at >= ss->drain_started)
    {
        p = ngx_http_guard_put_lit(p, "<br><span class=\"aside\">in ");
        p = ngx_http_guard_html_span(p, ss->drained_at - ss->drain_started);
        p = ngx_http_guard_put_lit(p, "</span>");
    }

    ov = ss->ov_admin;

    if (ov) {
        p = ngx_http_guard_put_lit(p, "<br><span class=\"aside\">by ");
        p = ngx_http_guard_put_html(p, ov->by,
                                    ngx_strnlen(ov->by,
                                        NGX_HTTP_GUARD_PRINCIPAL_LEN));

        if (ov->reason[0]) {
            p = ngx_http_guard_put_lit(p, ": ");
            p = ngx_http_guard_put_html(p, ov->reason,
                                        ngx_strnlen(ov->reason,
                                            NGX_HTTP_GUARD_REASON_LEN));
        }

        p = ngx_http_guard_put_lit(p, "</span>");
    }

    p = ngx_http_guard_put_lit(p, "</td><td>");
    p = ngx_cpystrn(p, (u_char *) ss->config, 16);
    p = ngx_http_guard_put_lit(p, "</td></tr>\n");

    out->b->last = p;

    return NGX_OK;
}


/* how long ago "ms" was, for people */

static u_char *
ngx_http_guard_html_ago(u_char *p, uint64_t ms, uint64_t now)
{
    return ngx_http_guard_html_span(p, now > ms ? now - ms : 0);
}


/* a duration for people: 450ms, 1.5s, 42s, 3m12s, 2h05m, 6d04h */

static u_char *
ngx_http_guard_html_span(u_char *p, uint64_t ms)
{
    uint64_t  s;

    s = ms / 1000;

    if (s == 0) {
        p = ngx_http_guard_put_uint(p, ms);
        return ngx_http_guard_put_lit(p, "ms");
    }

    if (s < 10 && ms % 1000 >= 100) {
        p = ngx_http_guard_put_uint(p, s);
        *p++ = '.';
        *p++ = (u_char) ('0' + ms % 1000 / 100);
        *p++ = 's';
        return p;
    }

    if (s < 60) {
        p = ngx_http_guard_put_uint(p, s);
        *p++ = 's';
        return p;
    }

    if (s < 3600) {
        return ngx_sprintf(p, "%uLm%02uLs", s / 60, s % 60);
    }

    if (s < 86400) {
        return ngx_sprintf(p, "%uLh%02uLm", s / 3600, s % 3600 / 60);
    }

    return ngx_sprintf(p, "%uLd%02uLh", s / 86400, s % 86400 / 3600);
}


/*
 * A link to this page: the request's query without its refresh= and
 * format= parameters (names compared as ngx_http_arg() does), then
 * format=html and the refresh asked for.  Bytes a browser would
 * percent-encode are encoded, and the whole is escaped for an attribute.
 */

static ngx_int_t
ngx_http_guard_html_link(ngx_str_t *args, ngx_uint_t refresh,
    ngx_http_guard_out_t *out)
{
    u_char         *buf, *p, *arg, *next, *eq, *end, c;
    size_t          nlen;
    static u_char   hex[] = "0123456789ABCDEF";

    buf = ngx_pnalloc(out->pool, args->len * 3 + sizeof("?format=html&")
                                 + sizeof("refresh=") + NGX_INT_T_LEN);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    p = buf;
    *p++ = '?';

    arg = args->data;
    end = args->len ? args->data + args->len : arg;

    for ( /* void */ ; arg < end; arg = next) {

        next = ngx_strlchr(arg, end, '&');
        next = next ? next + 1 : end;

        eq = arg;

        while (eq < next && *eq != '=' && *eq != '&') {
            eq++;
        }

        nlen = eq - arg;

        if (nlen == 0
            || (nlen == 7 && ngx_strncasecmp(arg, (u_char *) "refresh", 7)
                             == 0)
            || (nlen == 6 && ngx_strncasecmp(arg, (u_char *) "format", 6)
                             == 0))
        {
            continue;
        }

        for ( /* void */ ; arg < next; arg++) {
            c = *arg;

            if (c <= 0x20 || c >= 0x7f || c == '"' || c == '#' || c == '<'
                || c == '>')
            {
                *p++ = '%';
                *p++ = hex[c >> 4];
                *p++ = hex[c & 0xf];
                continue;
            }

            *p++ = c;
        }

        if (p[-1] != '&') {
            *p++ = '&';
        }
    }

    p = ngx_sprintf(p, "format=html&refresh=%ui", refresh);

    return ngx_http_guard_out_html(out, buf, p - buf);
}


/* <span class="badge PREFIXname">name</span> */

static ngx_int_t
ngx_http_guard_html_badge(const char *prefix, const char *name,
    ngx_http_guard_out_t *out)
{
    if (ngx_http_guard_out_str(out, "<span class=\"badge ") != NGX_OK
        || ngx_http_guard_out_str(out, prefix) != NGX_OK
        || ngx_http_guard_html_cstr(name, out) != NGX_OK
        || ngx_http_guard_out_str(out, "\">") != NGX_OK
        || ngx_http_guard_html_cstr(name, out) != NGX_OK
        || ngx_http_guard_out_str(out, "</span>") != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_guard_html_cstr(const char *s, ngx_http_guard_out_t *out)
{
    if (s == NULL) {
        s = "unknown";
    }

    return ngx_http_guard_out_html(out, (u_char *) s, ngx_strlen(s));
}


/*
 * <time> in UTC, ISO 8601, for ms since the epoch; with "now", also how
 * long ago.
 */

static ngx_int_t
ngx_http_guard_html_time(uint64_t ms, uint64_t now,
    ngx_http_guard_out_t *out)
{
    ngx_tm_t  tm;

    ngx_gmtime((time_t) (ms / 1000), &tm);

    if (ngx_http_guard_out_printf(out, NGX_HTTP_GUARD_HTML_MAX,
                                  "<time datetime=\"%4d-%02d-%02dT"
                                  "%02d:%02d:%02dZ\">%4d-%02d-%02dT"
                                  "%02d:%02d:%02dZ</time>",
                                  tm.ngx_tm_year, tm.ngx_tm_mon,
                                  tm.ngx_tm_mday, tm.ngx_tm_hour,
                                  tm.ngx_tm_min, tm.ngx_tm_sec,
                                  tm.ngx_tm_year, tm.ngx_tm_mon,
                                  tm.ngx_tm_mday, tm.ngx_tm_hour,
                                  tm.ngx_tm_min, tm.ngx_tm_sec)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (now == 0) {
        return NGX_OK;
    }

    if (ngx_http_guard_out_str(out, " <span class=\"aside\">(") != NGX_OK
        || ngx_http_guard_html_duration(now > ms ? now - ms : 0, out)
           != NGX_OK
        || ngx_http_guard_out_str(out, " ago)</span>") != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* a duration for people, see ngx_http_guard_html_span() */

static ngx_int_t
ngx_http_guard_html_duration(uint64_t ms, ngx_http_guard_out_t *out)
{
    u_char  *p;

    p = ngx_http_guard_out_reserve(out, NGX_INT64_LEN + 8);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->b->last = ngx_http_guard_html_span(p, ms);

    return NGX_OK;
}
