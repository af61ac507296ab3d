
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * The per-upstream directives (guard_check and friends) and the final
 * validation of an upstream's settings once the whole config is read.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_guard.h"


#define NGX_HTTP_GUARD_DEFAULT_INTERVAL   2000
#define NGX_HTTP_GUARD_DEFAULT_TIMEOUT    1000
#define NGX_HTTP_GUARD_DEFAULT_FALL       3
#define NGX_HTTP_GUARD_DEFAULT_RISE       2
#define NGX_HTTP_GUARD_DEFAULT_BODY_LIMIT 16384
#define NGX_HTTP_GUARD_MAX_BODY_LIMIT     (1024 * 1024)
#define NGX_HTTP_GUARD_BARE_SECONDS_MAX   1000     /* "3000": 3000ms meant */


static char *ngx_http_guard_param_msec(ngx_conf_t *cf, ngx_str_t *value,
    size_t skip, ngx_msec_t *msp);
static char *ngx_http_guard_param_uint(ngx_conf_t *cf, ngx_str_t *value,
    size_t skip, ngx_uint_t min, ngx_uint_t max, ngx_uint_t *np);
static ngx_int_t ngx_http_guard_check_standby(ngx_conf_t *cf,
    ngx_http_guard_srv_conf_t *gscf, ngx_http_upstream_srv_conf_t *uscf);
static ngx_int_t ngx_http_guard_check_floor(ngx_conf_t *cf,
    ngx_http_guard_srv_conf_t *gscf, ngx_http_upstream_srv_conf_t *uscf);
static const char *ngx_http_guard_http_only(ngx_http_guard_srv_conf_t *gscf);
#if (NGX_HTTP_SSL)
static ngx_uint_t ngx_http_guard_ssl_set(ngx_http_guard_srv_conf_t *gscf);
static ngx_int_t ngx_http_guard_init_ssl(ngx_conf_t *cf,
    ngx_http_guard_srv_conf_t *gscf);
#endif


char *
ngx_http_guard_check(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_guard_srv_conf_t *gscf = conf;

    char        *rv;
    size_t       size;
    ngx_str_t   *value, s;
    ngx_uint_t   i, n;

    if (gscf->compat) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "cannot mix guard_check with the "
                           "nginx_upstream_check_module directives (check, "
                           "check_*) in one upstream: use one vocabulary");
        return NGX_CONF_ERROR;
    }

    if (gscf->type) {
        return "is duplicate";
    }

    value = cf->args->elts;

    gscf->type = ngx_http_guard_check_type(&value[1], NGX_HTTP_GUARD_NATIVE);

    if (gscf->type == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid check type \"%V\", expected tcp, http, "
                           "https or ssl_hello", &value[1]);
        return NGX_CONF_ERROR;
    }

#if !(NGX_HTTP_SSL)
    if (gscf->type->tls) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "check type \"%V\" needs nginx built with "
                           "the http_ssl_module", &value[1]);
        return NGX_CONF_ERROR;
    }
#endif

    gscf->file = cf->conf_file->file.name.data;
    gscf->line = cf->conf_file->line;

    for (i = 2; i < cf->args->nelts; i++) {

        rv = NGX_CONF_OK;

        if (ngx_strncmp(value[i].data, "interval=", 9) == 0) {
            rv = ngx_http_guard_param_msec(cf, &value[i], 9, &gscf->interval);
            if (rv == NGX_CONF_OK && gscf->interval == 0) {
                goto invalid;
            }

            if (rv == NGX_CONF_OK
                && gscf->interval < NGX_HTTP_GUARD_MIN_INTERVAL)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "guard_check \"%V\" is below the "
                                   "minimum interval of %dms", &value[i],
                                   NGX_HTTP_GUARD_MIN_INTERVAL);
                return NGX_CONF_ERROR;
            }

        } else if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            rv = ngx_http_guard_param_msec(cf, &value[i], 8, &gscf->timeout);
            if (rv == NGX_CONF_OK && gscf->timeout == 0) {
                goto invalid;
            }

        } else if (ngx_strncmp(value[i].data, "jitter=", 7) == 0) {
            rv = ngx_http_guard_param_msec(cf, &value[i], 7, &gscf->jitter);

        } else if (ngx_strncmp(value[i].data, "fall=", 5) == 0) {
            rv = ngx_http_guard_param_uint(cf, &value[i], 5, 1,
                                           NGX_HTTP_GUARD_MAX_COUNT,
                                           &gscf->fall);

        } else if (ngx_strncmp(value[i].data, "rise=", 5) == 0) {
            rv = ngx_http_guard_param_uint(cf, &value[i], 5, 1,
                                           NGX_HTTP_GUARD_MAX_COUNT,
                                           &gscf->rise);

        } else if (ngx_strncmp(value[i].data, "port=", 5) == 0) {
            rv = ngx_http_guard_param_uint(cf, &value[i], 5, 1, 65535, &n);
            if (rv == NGX_CONF_OK) {
                gscf->port = (in_port_t) n;
            }

        } else if (ngx_strncmp(value[i].data, "keepalive=", 10) == 0) {
            rv = ngx_http_guard_param_uint(cf, &value[i], 10, 0, 1000000,
                                           &gscf->keepalive);

        } else if (ngx_strcmp(value[i].data, "initial=up") == 0) {
            gscf->initial = NGX_HTTP_GUARD_UP;

        } else if (ngx_strcmp(value[i].data, "initial=down") == 0) {
            gscf->initial = NGX_HTTP_GUARD_DOWN;

        } else if (ngx_strcmp(value[i].data, "http=1.0") == 0) {
            gscf->http_minor = 0;

        } else if (ngx_strcmp(value[i].data, "http=1.1") == 0) {
            gscf->http_minor = 1;

        } else if (ngx_strncmp(value[i].data, "uri=", 4) == 0) {
            s.data = value[i].data + 4;
            s.len = value[i].len - 4;

            if (s.len == 0 || s.data[0] != '/') {
                goto invalid;
            }

            for (n = 0; n < s.len; n++) {
                if (s.data[n] <= ' ' || s.data[n] == 0x7f) {
                    goto invalid;
                }
            }

            gscf->uri = s;

        } else if (ngx_strncmp(value[i].data, "method=", 7) == 0) {
            s.data = value[i].data + 7;
            s.len = value[i].len - 7;

            if (s.len == 0) {
                goto invalid;
            }

            for (n = 0; n < s.len; n++) {
                if ((s.data[n] < 'A' || s.data[n] > 'Z') && s.data[n] != '_'
                    && s.data[n] != '-')
                {
                    goto invalid;
                }
            }

            gscf->method = s;

        } else if (ngx_strncmp(value[i].data, "host=", 5) == 0) {
            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

            if (s.len == 0) {
                goto invalid;
            }

            for (n = 0; n < s.len; n++) {
                if (s.data[n] <= ' ' || s.data[n] == 0x7f) {
                    goto invalid;
                }
            }

            gscf->host = s;

        } else if (ngx_strncmp(value[i].data, "match=", 6) == 0) {
            gscf->match_name.data = value[i].data + 6;
            gscf->match_name.len = value[i].len - 6;

            if (gscf->match_name.len == 0) {
                goto invalid;
            }

        } else if (ngx_strncmp(value[i].data, "body_limit=", 11) == 0) {
            s.data = value[i].data + 11;
            s.len = value[i].len - 11;

            size = ngx_parse_size(&s);
            if (size == (size_t) NGX_ERROR
                || size > NGX_HTTP_GUARD_MAX_BODY_LIMIT)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid guard_check parameter \"%V\", "
                                   "expected a size up to 1m", &value[i]);
                return NGX_CONF_ERROR;
            }

            gscf->body_limit = size;

        } else {
            goto invalid;
        }

        if (rv != NGX_CONF_OK) {
            return rv;
        }
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid guard_check parameter \"%V\"", &value[i]);

    return NGX_CONF_ERROR;
}


static char *
ngx_http_guard_param_msec(ngx_conf_t *cf, ngx_str_t *value, size_t skip,
    ngx_msec_t *msp)
{
    ngx_int_t   n;
    ngx_str_t   s;
    ngx_msec_t  ms;

    s.data = value->data + skip;
    s.len = value->len - skip;

    /*
     * A number without a unit is seconds, as in nginx's own directives;
     * "interval=3000" copied from nginx_upstream_check_module (where it
     * is milliseconds) would be 50 minutes, so such a number is refused.
     */

    n = ngx_atoi(s.data, s.len);

    if (n >= NGX_HTTP_GUARD_BARE_SECONDS_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "guard_check parameter \"%V\" has no unit, so "
                           "it means %i seconds: write \"%Vms\" if "
                           "milliseconds were meant, or give a unit (\"s\", "
                           "\"m\")", value, n, &s);
        return NGX_CONF_ERROR;
    }

    ms = ngx_parse_time(&s, 0);

    if (ms == (ngx_msec_t) NGX_ERROR || ms > 24 * 3600 * 1000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid guard_check parameter \"%V\", expected "
                           "a time such as 500ms or 2s", value);
        return NGX_CONF_ERROR;
    }

    *msp = ms;

    return NGX_CONF_OK;
}


static char *
ngx_http_guard_param_uint(ngx_conf_t *cf, ngx_str_t *value, size_t skip,
    ngx_uint_t min, ngx_uint_t max, ngx_uint_t *np)
{
    ngx_int_t  n;

    n = ngx_atoi(value->data + skip, value->len - skip);

    if (n == NGX_ERROR || (ngx_uint_t) n < min || (ngx_uint_t) n > max) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid guard_check parameter \"%V\", expected "
                           "a number from %ui to %ui", value, min, max);
        return NGX_CONF_ERROR;
    }

    *np = (ngx_uint_t) n;

    return NGX_CONF_OK;
}


char *
ngx_http_guard_standby(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_guard_srv_conf_t *gscf = conf;

    ngx_str_t   *value, *name;
    ngx_uint_t   i;

    if (gscf->standby) {
        return "is duplicate";
    }

    gscf->standby = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                     sizeof(ngx_str_t));
    if (gscf->standby == NULL) {
        return NGX_CONF_ERROR;
    }

    gscf->standby_file = cf->conf_file->file.name.data;
    gscf->standby_line = cf->conf_file->line;

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        name = ngx_array_push(gscf->standby);
        if (name == NULL) {
            return NGX_CONF_ERROR;
        }

        *name = value[i];
    }

    return NGX_CONF_OK;
}


char *
ngx_http_guard_agent(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_guard_srv_conf_t *gscf = conf;

    ngx_int_t    n;
    ngx_str_t   *value, s;
    ngx_uint_t   i, *np;

    if (gscf->agent_header.len) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid header name \"\" in guard_agent: a "
                           "header name is needed");
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < value[1].len; i++) {
        if (value[1].data[i] <= ' ' || value[1].data[i] == ':'
            || value[1].data[i] >= 0x7f)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid header name \"%V\" in guard_agent",
                               &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    gscf->agent_header = value[1];
    gscf->agent_min = 0;
    gscf->agent_max = 100;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "min=", 4) == 0) {
            np = &gscf->agent_min;
            s.data = value[i].data + 4;
            s.len = value[i].len - 4;

        } else if (ngx_strncmp(value[i].data, "max=", 4) == 0) {
            np = &gscf->agent_max;
            s.data = value[i].data + 4;
            s.len = value[i].len - 4;

        } else {
            goto invalid;
        }

        if (s.len < 2 || s.data[s.len - 1] != '%') {
            goto invalid;
        }

        n = ngx_atoi(s.data, s.len - 1);
        if (n == NGX_ERROR || n > NGX_HTTP_GUARD_AGENT_MAX) {
            goto invalid;
        }

        *np = n;
    }

    if (gscf->agent_min > gscf->agent_max) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "guard_agent min=%ui%% is above max=%ui%%",
                           gscf->agent_min, gscf->agent_max);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid guard_agent parameter \"%V\", expected "
                       "min=N%% or max=N%% with N from 0 to %d",
                       &value[i], NGX_HTTP_GUARD_AGENT_MAX);

    return NGX_CONF_ERROR;
}


char *
ngx_http_guard_check_header(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_guard_srv_conf_t *gscf = conf;

    ngx_str_t     *value;
    ngx_uint_t     i;
    ngx_keyval_t  *kv;

    value = cf->args->elts;

    if (value[1].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid header name \"\" in guard_agent: a "
                           "header name is needed");
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < value[1].len; i++) {
        if (value[1].data[i] <= ' ' || value[1].data[i] == ':'
            || value[1].data[i] >= 0x7f)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid header name \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    for (i = 0; i < value[2].len; i++) {
        if (value[2].data[i] == CR || value[2].data[i] == LF
            || value[2].data[i] == '\0')
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid header value \"%V\"", &value[2]);
            return NGX_CONF_ERROR;
        }
    }

    if (value[1].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "empty header name");
        return NGX_CONF_ERROR;
    }

    if (gscf->headers == NULL) {
        gscf->headers = ngx_array_create(cf->pool, 4, sizeof(ngx_keyval_t));
        if (gscf->headers == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    kv = ngx_array_push(gscf->headers);
    if (kv == NULL) {
        return NGX_CONF_ERROR;
    }

    kv->key = value[1];
    kv->value = value[2];

    return NGX_CONF_OK;
}


/*
 * Called from postconfiguration for every upstream with guard_check:
 * fills defaults, resolves the match block and checks what needs the whole
 * config.  Errors name the guard_check line, as nginx does for its own.
 */

ngx_int_t
ngx_http_guard_init_upstream_conf(ngx_conf_t *cf,
    ngx_http_guard_main_conf_t *gmcf, ngx_http_upstream_srv_conf_t *uscf)
{
    ngx_uint_t                   i, timeout_set;
    const char                  *param;
    ngx_http_upstream_server_t  *server;
    ngx_http_guard_srv_conf_t   *gscf;

    gscf = ngx_http_conf_upstream_srv_conf(uscf,
                                           ngx_http_upstream_guard_module);

    timeout_set = (gscf->timeout != NGX_CONF_UNSET_MSEC);

    if (gscf->compat
        && ngx_http_guard_compat_init(cf, gscf, uscf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* before the defaults below fill them in */
    param = gscf->compat ? NULL : ngx_http_guard_http_only(gscf);

    ngx_conf_init_msec_value(gscf->interval, NGX_HTTP_GUARD_DEFAULT_INTERVAL);
    ngx_conf_init_msec_value(gscf->timeout, NGX_HTTP_GUARD_DEFAULT_TIMEOUT);
    ngx_conf_init_msec_value(gscf->jitter, 0);
    ngx_conf_init_uint_value(gscf->fall, NGX_HTTP_GUARD_DEFAULT_FALL);
    ngx_conf_init_uint_value(gscf->rise, NGX_HTTP_GUARD_DEFAULT_RISE);
    ngx_conf_init_uint_value(gscf->initial, NGX_HTTP_GUARD_UP);
    ngx_conf_init_uint_value(gscf->fail_open, 1);
    ngx_conf_init_uint_value(gscf->http_minor, 0);
    ngx_conf_init_uint_value(gscf->keepalive, 0);
    ngx_conf_init_size_value(gscf->body_limit,
                             NGX_HTTP_GUARD_DEFAULT_BODY_LIMIT);

    /*
     * The next check of a server starts an interval after the previous
     * one started, or when it ends if later: a timeout longer than the
     * interval stretches the interval of a server that hangs.  Said only
     * of a timeout the configuration gives, not of the default one.
     */

    /*
     * jitter= is a random delay added to each interval: one as long as
     * the interval would more than double the time between two checks,
     * and a day of it (accepted up to now) stop them for that long.
     */

    if (gscf->jitter >= gscf->interval) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "guard_check jitter= (%Mms) must be shorter than its "
                      "interval (%Mms) in %s:%ui", gscf->jitter,
                      gscf->interval, gscf->file, gscf->line);
        return NGX_ERROR;
    }

    if (timeout_set && gscf->timeout > gscf->interval) {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "%s timeout (%Mms) is longer than its interval "
                      "(%Mms) in %s:%ui: a server that does not answer is "
                      "checked once per timeout, not once per interval",
                      gscf->compat ? "check" : "guard_check",
                      gscf->timeout, gscf->interval, gscf->file, gscf->line);
    }

    if (gscf->method.len == 0) {
        ngx_str_set(&gscf->method, "GET");
    }

    if (gscf->uri.len == 0) {
        ngx_str_set(&gscf->uri, "/");
    }

    if (gscf->keepalive && gscf->http_minor == 0 && !gscf->compat) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "guard_check keepalive= needs http=1.1 in %s:%ui",
                      gscf->file, gscf->line);
        return NGX_ERROR;
    }

    if (gscf->keepalive && !gscf->type->http) {
        if (!gscf->compat) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "guard_check keepalive= is for http and https "
                          "checks in %s:%ui", gscf->file, gscf->line);
            return NGX_ERROR;
        }

        /*
         * nginx_upstream_check_module accepts check_keepalive_requests
         * with every type and keeps a tcp or ssl_hello connection open
         * between checks; here such a check connects afresh each time
         * (documented in the migration notes).
         */

        gscf->keepalive = 0;
    }

    if (param) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "%s is for http and https checks, not %V "
                      "(guard_check in %s:%ui)", param, &gscf->type->name,
                      gscf->file, gscf->line);
        return NGX_ERROR;
    }

#if (NGX_HTTP_SSL)
    if (!gscf->compat && !gscf->type->tls && ngx_http_guard_ssl_set(gscf)) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "guard_check_ssl_* is for https and ssl_hello checks, "
                      "not %V (guard_check in %s:%ui)", &gscf->type->name,
                      gscf->file, gscf->line);
        return NGX_ERROR;
    }
#endif

    if (gscf->match_name.len) {

        if (!gscf->type->http) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "guard_check match= is for http and https checks "
                          "in %s:%ui", gscf->file, gscf->line);
            return NGX_ERROR;
        }

        gscf->match = ngx_http_guard_match_find(gmcf, &gscf->match_name);

        if (gscf->match == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "unknown guard_match \"%V\" in %s:%ui",
                          &gscf->match_name, gscf->file, gscf->line);
            return NGX_ERROR;
        }
    }

    gscf->live_weights = (uscf->flags & NGX_HTTP_UPSTREAM_BACKUP) ? 1 : 0;
    ngx_conf_init_msec_value(gscf->slow_start, 0);

    if (gscf->agent_header.len && !gscf->type->http) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "guard_agent needs an http or https check "
                      "(guard_check in %s:%ui)", gscf->file, gscf->line);
        return NGX_ERROR;
    }

    if (uscf->servers == NULL || uscf->servers->nelts == 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "guard_check in upstream \"%V\" with no servers "
                      "in %s:%ui", &uscf->host, gscf->file, gscf->line);
        return NGX_ERROR;
    }

    server = uscf->servers->elts;

    for (i = 0; i < uscf->servers->nelts; i++) {

#if (nginx_version >= 1027003 && NGX_HTTP_UPSTREAM_ZONE)
        if (server[i].host.len) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "guard_check does not support \"server ... "
                          "resolve\" yet (server \"%V\" in upstream \"%V\" "
                          "in %s:%ui)", &server[i].name, &uscf->host,
                          uscf->file_name, uscf->line);
            return NGX_ERROR;
        }
#endif

        /*
         * nginx takes any weight= up to its largest integer; the live
         * weights count in thousandths, scaled by 100 (ngx_http_guard.h):
         * above the bound they would not fit
         */

        if (server[i].weight > NGX_HTTP_GUARD_CFG_WEIGHT_MAX) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "server \"%V\" of upstream \"%V\" has "
                          "weight=%ui: %s takes weights up to %d in "
                          "%s:%ui", &server[i].name, &uscf->host,
                          server[i].weight,
                          gscf->compat ? "check" : "guard_check",
                          NGX_HTTP_GUARD_CFG_WEIGHT_MAX, uscf->file_name,
                          uscf->line);
            return NGX_ERROR;
        }

        gmcf->nservers += server[i].naddrs;
    }

    if (ngx_http_guard_check_standby(cf, gscf, uscf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_guard_check_floor(cf, gscf, uscf) != NGX_OK) {
        return NGX_ERROR;
    }

#if (NGX_HTTP_SSL)
    if (gscf->type->tls) {
        if (ngx_http_guard_init_ssl(cf, gscf) != NGX_OK) {
            return NGX_ERROR;
        }
    }
#endif

    return NGX_OK;
}


/*
 * The parameters that only an HTTP request uses: set on a tcp or
 * ssl_hello check they would silently do nothing, as match= and
 * keepalive= would (refused with them).
 */

static const char *
ngx_http_guard_http_only(ngx_http_guard_srv_conf_t *gscf)
{
    if (gscf->type->http) {
        return NULL;
    }

    if (gscf->uri.len) {
        return "guard_check uri=";
    }

    if (gscf->method.len) {
        return "guard_check method=";
    }

    if (gscf->http_minor != NGX_CONF_UNSET_UINT) {
        return "guard_check http=";
    }

    if (gscf->body_limit != NGX_CONF_UNSET_SIZE) {
        return "guard_check body_limit=";
    }

    if (gscf->headers) {
        return "guard_check_header";
    }

    if (gscf->host.len && !gscf->type->tls) {
        return "guard_check host=";
    }

    return NULL;
}


#if (NGX_HTTP_SSL)

/* any guard_check_ssl_* directive, before its defaults are filled in */

static ngx_uint_t
ngx_http_guard_ssl_set(ngx_http_guard_srv_conf_t *gscf)
{
    return gscf->ssl_verify != NGX_CONF_UNSET
           || gscf->ssl_verify_depth != NGX_CONF_UNSET_UINT
           || gscf->ssl_server_name != NGX_CONF_UNSET
           || gscf->ssl_name.len || gscf->ssl_trusted_certificate.len
           || gscf->ssl_certificate.len || gscf->ssl_certificate_key.len
           || gscf->ssl_protocols || gscf->ssl_ciphers.len;
}

#endif


/* every standby names a primary "server" of this upstream, once */

static ngx_int_t
ngx_http_guard_check_standby(ngx_conf_t *cf, ngx_http_guard_srv_conf_t *gscf,
    ngx_http_upstream_srv_conf_t *uscf)
{
    ngx_str_t                   *name;
    ngx_uint_t                   i, j, k;
    ngx_http_upstream_server_t  *server;

    if (gscf->standby == NULL) {
        return NGX_OK;
    }

    name = gscf->standby->elts;
    server = uscf->servers->elts;

    for (i = 0; i < gscf->standby->nelts; i++) {

        for (k = 0; k < i; k++) {
            if (name[k].len == name[i].len
                && ngx_strncmp(name[k].data, name[i].data, name[i].len) == 0)
            {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "guard_standby names \"%V\" twice in "
                              "upstream \"%V\" in %s:%ui", &name[i],
                              &uscf->host, gscf->standby_file,
                              gscf->standby_line);
                return NGX_ERROR;
            }
        }

        for (j = 0; j < uscf->servers->nelts; j++) {
            if (server[j].name.len == name[i].len
                && ngx_strncmp(server[j].name.data, name[i].data,
                               name[i].len)
                   == 0)
            {
                break;
            }
        }

        if (j == uscf->servers->nelts) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "guard_standby \"%V\" is not a server of "
                          "upstream \"%V\" (write it as in its \"server\" "
                          "line) in %s:%ui", &name[i], &uscf->host,
                          gscf->standby_file, gscf->standby_line);
            return NGX_ERROR;
        }

        if (server[j].backup) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "guard_standby \"%V\" of upstream \"%V\" in "
                          "%s:%ui is a backup server: a server is either "
                          "one", &name[i], &uscf->host,
                          gscf->standby_file, gscf->standby_line);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * The floor counts primaries and standbys (STATES.md).  Its default,
 * min(2, those), counts only the ones that can serve by configuration:
 * a server marked "down" in nginx.conf is out for planned work, and must
 * not make a healthy upstream critical.  A floor above every primary can
 * never hold: refused.  One above those not marked "down" holds only
 * once they are back: a warning.
 */

static ngx_int_t
ngx_http_guard_check_floor(ngx_conf_t *cf, ngx_http_guard_srv_conf_t *gscf,
    ngx_http_upstream_srv_conf_t *uscf)
{
    ngx_uint_t                   i, primaries, able;
    ngx_http_upstream_server_t  *server;

    primaries = 0;
    able = 0;

    server = uscf->servers->elts;

    for (i = 0; i < uscf->servers->nelts; i++) {

        if (server[i].backup) {
            continue;
        }

        primaries += server[i].naddrs;

        if (server[i].down == 0) {
            able += server[i].naddrs;
        }
    }

    if (gscf->floor == NGX_CONF_UNSET_UINT) {
        gscf->floor = ngx_min(2, able);
        return NGX_OK;
    }

    if (gscf->floor > primaries) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "guard_floor %ui of upstream \"%V\" in %s:%ui is "
                      "more than its %ui primary server addresses: the "
                      "floor could never hold", gscf->floor, &uscf->host,
                      uscf->file_name, uscf->line, primaries);
        return NGX_ERROR;
    }

    if (gscf->floor > able) {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "guard_floor %ui of upstream \"%V\" in %s:%ui is "
                      "more than its %ui primary server addresses not "
                      "marked \"down\": the upstream stays below its floor "
                      "until they are back", gscf->floor, &uscf->host,
                      uscf->file_name, uscf->line, able);
    }

    return NGX_OK;
}


/*
 * Called from postconfiguration for an upstream with neither guard_check
 * nor check: the guard_* directives that need one would silently do
 * nothing (and the upstream be absent from the report).
 */

ngx_int_t
ngx_http_guard_check_unguarded(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *uscf)
{
    char                       *name;
    ngx_http_guard_srv_conf_t  *gscf;

    gscf = ngx_http_conf_upstream_srv_conf(uscf,
                                           ngx_http_upstream_guard_module);

    if (gscf->floor != NGX_CONF_UNSET_UINT) {
        name = "guard_floor";

    } else if (gscf->slow_start != NGX_CONF_UNSET_MSEC) {
        name = "guard_slow_start";

    } else if (gscf->standby) {
        name = "guard_standby";

    } else if (gscf->agent_header.len) {
        name = "guard_agent";

    } else if (gscf->headers) {
        name = "guard_check_header";

    } else if (gscf->fail_open != NGX_CONF_UNSET_UINT) {
        name = "guard_panic";

#if (NGX_HTTP_SSL)
    } else if (ngx_http_guard_ssl_set(gscf)) {
        name = "guard_check_ssl_*";
#endif

    } else {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                  "%s in upstream \"%V\" in %s:%ui needs \"guard_check\" "
                  "(or \"check\") in the same upstream", name, &uscf->host,
                  uscf->file_name, uscf->line);

    return NGX_ERROR;
}


#if (NGX_HTTP_SSL)

static ngx_int_t
ngx_http_guard_init_ssl(ngx_conf_t *cf, ngx_http_guard_srv_conf_t *gscf)
{
    ngx_pool_cleanup_t  *cln;

    ngx_conf_init_value(gscf->ssl_verify, 0);
    ngx_conf_init_uint_value(gscf->ssl_verify_depth, 1);
    ngx_conf_init_value(gscf->ssl_server_name, 1);

    if (gscf->ssl_protocols == 0) {
        gscf->ssl_protocols = NGX_CONF_BITMASK_SET
                              |NGX_SSL_TLSv1_2|NGX_SSL_TLSv1_3;
    }

    if (gscf->ssl_ciphers.len == 0) {
        ngx_str_set(&gscf->ssl_ciphers, "DEFAULT");
    }

    gscf->ssl = ngx_pcalloc(cf->pool, sizeof(ngx_ssl_t));
    if (gscf->ssl == NULL) {
        return NGX_ERROR;
    }

    gscf->ssl->log = cf->log;

    if (ngx_ssl_create(gscf->ssl, gscf->ssl_protocols, NULL) != NGX_OK) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        ngx_ssl_cleanup_ctx(gscf->ssl);
        return NGX_ERROR;
    }

    cln->handler = ngx_ssl_cleanup_ctx;
    cln->data = gscf->ssl;

    if (ngx_ssl_ciphers(cf, gscf->ssl, &gscf->ssl_ciphers, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    if (gscf->ssl_certificate.len) {

        if (gscf->ssl_certificate_key.len == 0) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "no guard_check_ssl_certificate_key for "
                          "guard_check_ssl_certificate \"%V\" (guard_check "
                          "in %s:%ui)", &gscf->ssl_certificate,
                          gscf->file, gscf->line);
            return NGX_ERROR;
        }

        if (ngx_ssl_certificate(cf, gscf->ssl, &gscf->ssl_certificate,
                                &gscf->ssl_certificate_key, NULL)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (gscf->ssl_verify) {

        if (gscf->ssl_trusted_certificate.len == 0) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "no guard_check_ssl_trusted_certificate for "
                          "guard_check_ssl_verify (guard_check in %s:%ui)",
                          gscf->file, gscf->line);
            return NGX_ERROR;
        }

        if (ngx_ssl_trusted_certificate(cf, gscf->ssl,
                                        &gscf->ssl_trusted_certificate,
                                        gscf->ssl_verify_depth)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}

#endif
