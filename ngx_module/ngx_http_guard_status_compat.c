
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * check_status: the status page of nginx_upstream_check_module, in the
 * HTML, CSV and JSON layouts that existing scrapers and exporters parse
 * ("Check upstream server number", the CSV columns, the "servers"
 * object), with ?format= and ?status=up|down.  Unlike the old module,
 * names are escaped, so the output stays valid whatever they contain.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_guard.h"
#include "ngx_http_guard_out.h"
#include "ngx_http_guard_status.h"


#define NGX_HTTP_GUARD_CS_HTML   0
#define NGX_HTTP_GUARD_CS_CSV    1
#define NGX_HTTP_GUARD_CS_JSON   2

#define NGX_HTTP_GUARD_CS_ALL    0
#define NGX_HTTP_GUARD_CS_UP     1
#define NGX_HTTP_GUARD_CS_DOWN   2


typedef struct {
    ngx_http_guard_peer_t         *gp;
    ngx_uint_t                     index;
    ngx_uint_t                     down;
    ngx_uint_t                     untracked;   /* no slot: never checked */
    ngx_uint_t                     rise;
    ngx_uint_t                     fall;
} ngx_http_guard_cs_peer_t;


static ngx_int_t ngx_http_guard_cs_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_guard_cs_render(ngx_http_guard_out_t *out,
    ngx_uint_t format, ngx_http_guard_cs_peer_t *peers, ngx_uint_t n,
    ngx_uint_t generation);


static ngx_str_t  ngx_http_guard_cs_formats[] = {
    ngx_string("html"),
    ngx_string("csv"),
    ngx_string("json"),
    ngx_null_string
};


static const char  *ngx_http_guard_cs_types[] = {
    "text/html", "text/plain", "application/json"
};


char *
ngx_http_guard_compat_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_guard_loc_conf_t *glcf = conf;

    ngx_str_t                 *value;
    ngx_uint_t                 i;
    ngx_http_core_loc_conf_t  *clcf;

    if (glcf->check_status != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    glcf->check_status = NGX_HTTP_GUARD_CS_HTML;

    if (cf->args->nelts == 2) {
        value = cf->args->elts;

        for (i = 0; ngx_http_guard_cs_formats[i].len; i++) {
            if (ngx_http_guard_cs_formats[i].len == value[1].len
                && ngx_strncmp(ngx_http_guard_cs_formats[i].data,
                               value[1].data, value[1].len)
                   == 0)
            {
                break;
            }
        }

        if (ngx_http_guard_cs_formats[i].len == 0) {

            /* Tengine's check_status has a Prometheus layout of its own */

            if (value[1].len == 10
                && ngx_strncmp(value[1].data, "prometheus", 10) == 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid check format \"prometheus\": "
                                   "Tengine's layout of check_status is not "
                                   "supported, \"guard_status prometheus\" "
                                   "gives the module's own metrics");
                return NGX_CONF_ERROR;
            }

            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid check format \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }

        glcf->check_status = i;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_guard_cs_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_guard_cs_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_str_t                    arg;
    ngx_uint_t                   i, j, k, n, format, filter, generation;
    ngx_slab_pool_t             *shpool;
    ngx_http_guard_sh_t         *sh;
    ngx_http_guard_out_t         out;
    ngx_http_guard_peer_t       *gp;
    ngx_http_guard_upstream_t   *up;
    ngx_http_guard_cs_peer_t    *peers;
    ngx_http_guard_loc_conf_t   *glcf;
    ngx_http_guard_main_conf_t  *gmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_guard_status_not_allowed(r);
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_upstream_guard_module);
    gmcf = ngx_http_get_module_main_conf(r, ngx_http_upstream_guard_module);

    format = glcf->check_status;

    if (ngx_http_arg(r, (u_char *) "format", 6, &arg) == NGX_OK) {
        for (i = 0; ngx_http_guard_cs_formats[i].len; i++) {
            if (ngx_http_guard_cs_formats[i].len == arg.len
                && ngx_strncmp(ngx_http_guard_cs_formats[i].data, arg.data,
                               arg.len)
                   == 0)
            {
                format = i;
                break;
            }
        }
    }

    filter = NGX_HTTP_GUARD_CS_ALL;

    /* any case, as the old module: "?status=DOWN" filters too */

    if (ngx_http_arg(r, (u_char *) "status", 6, &arg) == NGX_OK) {
        if (arg.len == 2 && ngx_strncasecmp(arg.data, (u_char *) "up", 2)
                            == 0)
        {
            filter = NGX_HTTP_GUARD_CS_UP;

        } else if (arg.len == 4
                   && ngx_strncasecmp(arg.data, (u_char *) "down", 4) == 0)
        {
            filter = NGX_HTTP_GUARD_CS_DOWN;
        }
    }

    n = 0;
    up = gmcf->upstreams.elts;

    for (i = 0; i < gmcf->upstreams.nelts; i++) {
        n += up[i].npeers;
    }

    peers = ngx_pcalloc(r->pool, (n + 1) * sizeof(ngx_http_guard_cs_peer_t));
    if (peers == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    generation = 0;
    n = 0;
    k = 0;

    if (gmcf->shm_zone) {
        sh = ngx_http_guard_shm_root(gmcf, &shpool);

        ngx_shmtx_lock(&shpool->mutex);

        generation = sh->generation;

        for (i = 0; i < gmcf->upstreams.nelts; i++) {

            /* show no state that the balancers do not keep yet */
            (void) ngx_http_guard_state_settle_locked(&up[i]);

            for (j = 0; j < up[i].npeers; j++) {
                gp = &up[i].peers[j];

                /*
                 * The old module neither checks nor lists a server the
                 * config marks "down", and numbers only those it lists:
                 * such a server is no row here and takes no index.
                 */

                if (gp->cfg_down && !ngx_http_guard_cfg_drain(gp)) {
                    continue;
                }

                peers[n].gp = gp;
                peers[n].index = k++;

                if (gp->sh) {
                    peers[n].down = !ngx_http_guard_healthy(gp, gp->sh);
                    peers[n].rise = gp->sh->rise_count;
                    peers[n].fall = gp->sh->fall_count;

                } else {
                    /* never reported up: nothing checks it */
                    peers[n].untracked = 1;
                }

                if ((filter == NGX_HTTP_GUARD_CS_UP
                     && (peers[n].down || peers[n].untracked))
                    || (filter == NGX_HTTP_GUARD_CS_DOWN && !peers[n].down))
                {
                    continue;
                }

                n++;
            }
        }

        ngx_shmtx_unlock(&shpool->mutex);
    }

    ngx_http_guard_out_init(&out, r->pool);

    if (ngx_http_guard_cs_render(&out, format, peers, n, generation)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_guard_status_send(r, &out, NGX_HTTP_OK,
                                      ngx_http_guard_cs_types[format]);
}


static ngx_int_t
ngx_http_guard_cs_render(ngx_http_guard_out_t *out, ngx_uint_t format,
    ngx_http_guard_cs_peer_t *peers, ngx_uint_t n, ngx_uint_t generation)
{
    ngx_str_t                  *name, *addr;
    ngx_uint_t                  i;
    const char                 *type, *status;
    ngx_http_guard_srv_conf_t  *conf;

    if (format == NGX_HTTP_GUARD_CS_HTML) {
        if (ngx_http_guard_out_printf(out, 1024,
                "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Strict//EN\n"
                "\"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd\">\n"
                "<html xmlns=\"http://www.w3.org/1999/xhtml\">\n"
                "<head>\n"
                "  <title>Nginx http upstream check status</title>\n"
                "</head>\n"
                "<body>\n"
                "<h1>Nginx http upstream check status</h1>\n"
                "<h2>Check upstream server number: %ui, generation: %ui"
                "</h2>\n"
                "<table style=\"background-color:white\" cellspacing=\"0\" "
                "       cellpadding=\"3\" border=\"1\">\n"
                "  <tr bgcolor=\"#C0C0C0\">\n"
                "    <th>Index</th>\n"
                "    <th>Upstream</th>\n"
                "    <th>Name</th>\n"
                "    <th>Status</th>\n"
                "    <th>Rise counts</th>\n"
                "    <th>Fall counts</th>\n"
                "    <th>Check type</th>\n"
                "    <th>Check port</th>\n"
                "  </tr>\n", n, generation)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

    } else if (format == NGX_HTTP_GUARD_CS_JSON) {
        if (ngx_http_guard_out_printf(out, 128,
                                      "{\"servers\": {\n"
                                      "  \"total\": %ui,\n"
                                      "  \"generation\": %ui,\n"
                                      "  \"server\": [\n", n, generation)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    for (i = 0; i < n; i++) {
        conf = peers[i].gp->up->conf;
        name = &peers[i].gp->up->uscf->host;
        addr = &peers[i].gp->peer->name;
        type = ngx_http_guard_check_type_name(conf->type);
        status = peers[i].untracked ? "untracked"
                 : peers[i].down ? "down" : "up";

        switch (format) {

        case NGX_HTTP_GUARD_CS_HTML:
            if (ngx_http_guard_out_printf(out, 64,
                    "  <tr%s>\n    <td>%ui</td>\n    <td>",
                    peers[i].down ? " bgcolor=\"#FF0000\""
                    : peers[i].untracked ? " bgcolor=\"#FFFF00\"" : "",
                    peers[i].index) != NGX_OK
                || ngx_http_guard_out_html(out, name->data, name->len)
                   != NGX_OK
                || ngx_http_guard_out_str(out, "</td>\n    <td>") != NGX_OK
                || ngx_http_guard_out_html(out, addr->data, addr->len)
                   != NGX_OK
                || ngx_http_guard_out_printf(out, 256,
                       "</td>\n    <td>%s</td>\n    <td>%ui</td>\n"
                       "    <td>%ui</td>\n    <td>%s</td>\n"
                       "    <td>%ui</td>\n  </tr>\n",
                       status, peers[i].rise, peers[i].fall, type,
                       (ngx_uint_t) conf->port) != NGX_OK)
            {
                return NGX_ERROR;
            }
            break;

        case NGX_HTTP_GUARD_CS_CSV:
            /* a name with a comma or a quote is quoted, CSV style */
            if (ngx_http_guard_out_printf(out, 32, "%ui,", peers[i].index)
                != NGX_OK
                || ngx_http_guard_out_csv(out, name) != NGX_OK
                || ngx_http_guard_out_str(out, ",") != NGX_OK
                || ngx_http_guard_out_csv(out, addr) != NGX_OK
                || ngx_http_guard_out_printf(out, 128, ",%s,%ui,%ui,%s,%ui\n",
                       status, peers[i].rise, peers[i].fall, type,
                       (ngx_uint_t) conf->port) != NGX_OK)
            {
                return NGX_ERROR;
            }
            break;

        default: /* NGX_HTTP_GUARD_CS_JSON */
            if (ngx_http_guard_out_printf(out, 64,
                    "    {\"index\": %ui, \"upstream\": ", peers[i].index)
                != NGX_OK
                || ngx_http_guard_out_json(out, name->data, name->len)
                   != NGX_OK
                || ngx_http_guard_out_str(out, ", \"name\": ") != NGX_OK
                || ngx_http_guard_out_json(out, addr->data, addr->len)
                   != NGX_OK
                || ngx_http_guard_out_printf(out, 256,
                       ", \"status\": \"%s\", \"rise\": %ui, \"fall\": %ui, "
                       "\"type\": \"%s\", \"port\": %ui}%s\n",
                       status, peers[i].rise, peers[i].fall, type,
                       (ngx_uint_t) conf->port,
                       (i + 1 == n) ? "" : ",") != NGX_OK)
            {
                return NGX_ERROR;
            }
            break;
        }
    }

    switch (format) {

    case NGX_HTTP_GUARD_CS_HTML:
        return ngx_http_guard_out_str(out, "</table>\n</body>\n</html>\n");

    case NGX_HTTP_GUARD_CS_JSON:
        return ngx_http_guard_out_str(out, "  ]\n}}\n");

    default:
        return NGX_OK;
    }
}
