
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * The nginx_upstream_check_module (and Tengine) vocabulary: "check",
 * "check_http_send", "check_http_expect_alive", "check_keepalive_requests",
 * "check_fastcgi_param" and "check_shm_size", with that module's defaults
 * and meanings, mapped onto the native engine.  One engine, two
 * vocabularies; one upstream uses one of them.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_guard.h"


#define NGX_HTTP_GUARD_COMPAT_INTERVAL  30000
#define NGX_HTTP_GUARD_COMPAT_TIMEOUT   1000
#define NGX_HTTP_GUARD_COMPAT_FALL      5
#define NGX_HTTP_GUARD_COMPAT_RISE      2




static char *ngx_http_guard_compat_msec(ngx_conf_t *cf, ngx_str_t *value,
    size_t skip, ngx_msec_t *msp);
static char *ngx_http_guard_compat_mixed(ngx_conf_t *cf);
static ngx_int_t ngx_http_guard_compat_fastcgi(ngx_conf_t *cf,
    ngx_http_guard_srv_conf_t *gscf);
static u_char *ngx_http_guard_fcgi_len(u_char *p, size_t len);


static ngx_conf_bitmask_t  ngx_http_guard_compat_alive[] = {
    { ngx_string("http_1xx"), NGX_HTTP_GUARD_ALIVE(100) },
    { ngx_string("http_2xx"), NGX_HTTP_GUARD_ALIVE(200) },
    { ngx_string("http_3xx"), NGX_HTTP_GUARD_ALIVE(300) },
    { ngx_string("http_4xx"), NGX_HTTP_GUARD_ALIVE(400) },
    { ngx_string("http_5xx"), NGX_HTTP_GUARD_ALIVE(500) },
    { ngx_null_string, 0 }
};


static ngx_str_t  ngx_http_guard_fastcgi_defaults[] = {
    ngx_string("REQUEST_METHOD"), ngx_string("GET"),
    ngx_string("REQUEST_URI"), ngx_string("/"),
    ngx_string("SCRIPT_FILENAME"), ngx_string("index.php"),
};


static char *
ngx_http_guard_compat_mixed(ngx_conf_t *cf)
{
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "cannot mix the nginx_upstream_check_module "
                       "directives (check, check_*) with guard_check in "
                       "one upstream: use one vocabulary");

    return NGX_CONF_ERROR;
}


/*
 * check interval=ms [fall=n] [rise=n] [timeout=ms] [default_down=bool]
 *       [type=tcp|http|ssl_hello|mysql|ajp|fastcgi] [port=n]
 */

char *
ngx_http_guard_compat_check(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_guard_srv_conf_t *gscf = conf;

    char        *rv;
    ngx_int_t    n;
    ngx_str_t   *value, s;
    ngx_uint_t   i;

    if (gscf->type && !gscf->compat) {
        return ngx_http_guard_compat_mixed(cf);
    }

    if (gscf->compat & 1) {
        return "is duplicate";
    }

    value = cf->args->elts;

    gscf->compat |= 1;
    ngx_str_set(&s, "tcp");
    gscf->type = ngx_http_guard_check_type(&s, NGX_HTTP_GUARD_COMPAT);
    gscf->interval = NGX_HTTP_GUARD_COMPAT_INTERVAL;
    gscf->fall = NGX_HTTP_GUARD_COMPAT_FALL;
    gscf->rise = NGX_HTTP_GUARD_COMPAT_RISE;
    gscf->initial = NGX_HTTP_GUARD_DOWN;
    gscf->file = cf->conf_file->file.name.data;
    gscf->line = cf->conf_file->line;

    for (i = 1; i < cf->args->nelts; i++) {

        rv = NGX_CONF_OK;

        if (ngx_strncmp(value[i].data, "type=", 5) == 0) {
            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

            gscf->type = ngx_http_guard_check_type(&s,
                                                   NGX_HTTP_GUARD_COMPAT);
            if (gscf->type == NULL) {
                goto invalid;
            }

        } else if (ngx_strncmp(value[i].data, "interval=", 9) == 0) {
            rv = ngx_http_guard_compat_msec(cf, &value[i], 9, &gscf->interval);

            if (rv == NGX_CONF_OK
                && gscf->interval < NGX_HTTP_GUARD_MIN_INTERVAL)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"check\" parameter \"%V\" is below "
                                   "the minimum interval of %d milliseconds",
                                   &value[i], NGX_HTTP_GUARD_MIN_INTERVAL);
                return NGX_CONF_ERROR;
            }

        } else if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            rv = ngx_http_guard_compat_msec(cf, &value[i], 8, &gscf->timeout);

        } else if (ngx_strncmp(value[i].data, "fall=", 5) == 0) {
            n = ngx_atoi(value[i].data + 5, value[i].len - 5);
            if (n == NGX_ERROR || n == 0 || n > NGX_HTTP_GUARD_MAX_COUNT) {
                goto count;
            }
            gscf->fall = n;

        } else if (ngx_strncmp(value[i].data, "rise=", 5) == 0) {
            n = ngx_atoi(value[i].data + 5, value[i].len - 5);
            if (n == NGX_ERROR || n == 0 || n > NGX_HTTP_GUARD_MAX_COUNT) {
                goto count;
            }
            gscf->rise = n;

        } else if (ngx_strncmp(value[i].data, "port=", 5) == 0) {
            n = ngx_atoi(value[i].data + 5, value[i].len - 5);
            if (n == NGX_ERROR || n == 0 || n > 65535) {
                goto invalid;
            }
            gscf->port = (in_port_t) n;

        } else if (ngx_strncmp(value[i].data, "default_down=", 13) == 0) {
            s.data = value[i].data + 13;
            s.len = value[i].len - 13;

            if (s.len == 4 && ngx_strncasecmp(s.data, (u_char *) "true", 4)
                              == 0)
            {
                gscf->initial = NGX_HTTP_GUARD_DOWN;

            } else if (s.len == 5
                       && ngx_strncasecmp(s.data, (u_char *) "false", 5) == 0)
            {
                gscf->initial = NGX_HTTP_GUARD_UP;

            } else {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid value \"%V\", it must be "
                                   "\"true\" or \"false\"", &value[i]);
                return NGX_CONF_ERROR;
            }

        } else {
            goto invalid;
        }

        if (rv != NGX_CONF_OK) {
            return rv;
        }
    }

#if !(NGX_HTTP_SSL)
    if (gscf->type->tls) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "check type=ssl_hello needs nginx built with the "
                           "http_ssl_module");
        return NGX_CONF_ERROR;
    }
#endif

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" of \"check\"", &value[i]);

    return NGX_CONF_ERROR;

count:

    /* the same bound as guard_check's fall= and rise= */

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" of \"check\", expected a "
                       "number from 1 to %d", &value[i],
                       NGX_HTTP_GUARD_MAX_COUNT);

    return NGX_CONF_ERROR;
}


/* a bare number is milliseconds, as before; "2s" or "500ms" work too */

static char *
ngx_http_guard_compat_msec(ngx_conf_t *cf, ngx_str_t *value, size_t skip,
    ngx_msec_t *msp)
{
    ngx_int_t   n;
    ngx_str_t   s;
    ngx_msec_t  ms;

    s.data = value->data + skip;
    s.len = value->len - skip;

    n = ngx_atoi(s.data, s.len);

    if (n != NGX_ERROR) {
        ms = (ngx_msec_t) n;

    } else {
        ms = ngx_parse_time(&s, 0);
    }

    if (ms == (ngx_msec_t) NGX_ERROR || ms == 0 || ms > 24 * 3600 * 1000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" of \"check\", expected "
                           "milliseconds", value);
        return NGX_CONF_ERROR;
    }

    *msp = ms;

    return NGX_CONF_OK;
}


char *
ngx_http_guard_compat_http_send(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_guard_srv_conf_t *gscf = conf;

    ngx_str_t  *value;

    if (gscf->type && !gscf->compat) {
        return ngx_http_guard_compat_mixed(cf);
    }

    if (gscf->send.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    gscf->compat |= 2;
    gscf->send = value[1];

    return NGX_CONF_OK;
}


char *
ngx_http_guard_compat_expect_alive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_guard_srv_conf_t *gscf = conf;

    ngx_str_t   *value;
    ngx_uint_t   i, m;

    if (gscf->type && !gscf->compat) {
        return ngx_http_guard_compat_mixed(cf);
    }

    /*
     * Repeated, it adds classes, as in the old module: two lines
     * "check_http_expect_alive http_2xx;" and "... http_3xx;" pass both.
     */

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        for (m = 0; ngx_http_guard_compat_alive[m].name.len; m++) {
            if (ngx_http_guard_compat_alive[m].name.len == value[i].len
                && ngx_strncasecmp(ngx_http_guard_compat_alive[m].name.data,
                                   value[i].data, value[i].len)
                   == 0)
            {
                if (gscf->alive & ngx_http_guard_compat_alive[m].mask) {
                    ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                                       "duplicate value \"%V\"",
                                       &value[i]);
                }

                gscf->alive |= ngx_http_guard_compat_alive[m].mask;
                break;
            }
        }

        if (ngx_http_guard_compat_alive[m].name.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid value \"%V\", expected http_1xx, "
                               "http_2xx, http_3xx, http_4xx or http_5xx",
                               &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    gscf->compat |= 2;

    return NGX_CONF_OK;
}


char *
ngx_http_guard_compat_keepalive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_guard_srv_conf_t *gscf = conf;

    ngx_int_t   n;
    ngx_str_t  *value;

    if (gscf->type && !gscf->compat) {
        return ngx_http_guard_compat_mixed(cf);
    }

    if (gscf->keepalive != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    n = ngx_atoi(value[1].data, value[1].len);
    if (n == NGX_ERROR || n == 0) {
        return "invalid value";
    }

    /* one request per connection means no reuse */
    gscf->keepalive = (n == 1) ? 0 : (ngx_uint_t) n;
    gscf->compat |= 2;

    return NGX_CONF_OK;
}


char *
ngx_http_guard_compat_fastcgi_param(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_guard_srv_conf_t *gscf = conf;

    ngx_str_t  *value, *kv;

    if (gscf->type && !gscf->compat) {
        return ngx_http_guard_compat_mixed(cf);
    }

    if (gscf->fastcgi_params == NULL) {
        gscf->fastcgi_params = ngx_array_create(cf->pool, 8,
                                                sizeof(ngx_str_t));
        if (gscf->fastcgi_params == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    kv = ngx_array_push_n(gscf->fastcgi_params, 2);
    if (kv == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    kv[0] = value[1];
    kv[1] = value[2];

    gscf->compat |= 2;

    return NGX_CONF_OK;
}


/*
 * From postconfiguration, for an upstream in the check vocabulary: the
 * request each type sends, the alive status classes, and the rules of
 * the old module (fail closed unless guard_panic says otherwise).
 */

ngx_int_t
ngx_http_guard_compat_init(ngx_conf_t *cf, ngx_http_guard_srv_conf_t *gscf,
    ngx_http_upstream_srv_conf_t *uscf)
{
    if (!(gscf->compat & 1)) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "check_http_send, check_http_expect_alive, "
                      "check_keepalive_requests and check_fastcgi_param "
                      "need a \"check\" directive in the same upstream "
                      "(upstream \"%V\" in %s:%ui)", &uscf->host,
                      uscf->file_name, uscf->line);
        return NGX_ERROR;
    }

    if (gscf->headers || gscf->match_name.len || gscf->agent_header.len
#if (NGX_HTTP_SSL)
        || gscf->ssl_verify != NGX_CONF_UNSET
        || gscf->ssl_name.len || gscf->ssl_certificate.len
        || gscf->ssl_trusted_certificate.len
#endif
       )
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "cannot mix guard_check_* or guard_agent with "
                      "\"check\" in %s:%ui: use one vocabulary",
                      gscf->file, gscf->line);
        return NGX_ERROR;
    }

    if (gscf->send.data && !gscf->type->http) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "check_http_send is for \"check type=http\" "
                      "(check in %s:%ui)", gscf->file, gscf->line);
        return NGX_ERROR;
    }

    if (gscf->fastcgi_params && gscf->type->id != NGX_HTTP_GUARD_FASTCGI) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "check_fastcgi_param is for \"check type=fastcgi\" "
                      "(check in %s:%ui)", gscf->file, gscf->line);
        return NGX_ERROR;
    }

    if (gscf->alive == 0) {
        gscf->alive = NGX_HTTP_GUARD_ALIVE(200) | NGX_HTTP_GUARD_ALIVE(300);
    }

    ngx_conf_init_msec_value(gscf->timeout, NGX_HTTP_GUARD_COMPAT_TIMEOUT);

    if (gscf->fail_open == NGX_CONF_UNSET_UINT) {
        gscf->fail_open = 0;
    }

    switch (gscf->type->id) {

    case NGX_HTTP_GUARD_HTTP:
        if (gscf->send.data == NULL) {
            ngx_str_set(&gscf->send, "GET / HTTP/1.0\r\n\r\n");
        }
        break;

    case NGX_HTTP_GUARD_AJP:
        gscf->send.data = (u_char *) ngx_http_guard_ajp_cping;
        gscf->send.len = sizeof(ngx_http_guard_ajp_cping);
        break;

    case NGX_HTTP_GUARD_FASTCGI:
        return ngx_http_guard_compat_fastcgi(cf, gscf);

    default:
        break;
    }

    return NGX_OK;
}


/*
 * The FastCGI request a check sends, as the old module builds it:
 * BEGIN_REQUEST (responder, no keep-conn), PARAMS, empty PARAMS, empty
 * STDIN.
 */

static ngx_int_t
ngx_http_guard_compat_fastcgi(ngx_conf_t *cf, ngx_http_guard_srv_conf_t *gscf)
{
    u_char      *p, *start;
    size_t       len, plen;
    ngx_str_t   *kv;
    ngx_uint_t   i, n;

    if (gscf->fastcgi_params) {
        kv = gscf->fastcgi_params->elts;
        n = gscf->fastcgi_params->nelts;

    } else {
        kv = ngx_http_guard_fastcgi_defaults;
        n = sizeof(ngx_http_guard_fastcgi_defaults) / sizeof(ngx_str_t);
    }

    plen = 0;

    for (i = 0; i < n; i++) {
        plen += ((kv[i].len > 127) ? 4 : 1) + kv[i].len;
    }

    if (plen > 65535) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "check_fastcgi_param values are too long (check in "
                      "%s:%ui)", gscf->file, gscf->line);
        return NGX_ERROR;
    }

    len = 8 + 8 + 8 + plen + 8 + 8;

    start = ngx_pnalloc(cf->pool, len);
    if (start == NULL) {
        return NGX_ERROR;
    }

    p = start;

    /* FCGI_BEGIN_REQUEST, request id 1, role responder */
    p = ngx_cpymem(p, "\x01\x01\x00\x01\x00\x08\x00\x00", 8);
    p = ngx_cpymem(p, "\x00\x01\x00\x00\x00\x00\x00\x00", 8);

    /* FCGI_PARAMS */
    *p++ = 1; *p++ = 4; *p++ = 0; *p++ = 1;
    *p++ = (u_char) (plen >> 8); *p++ = (u_char) (plen & 0xff);
    *p++ = 0; *p++ = 0;

    for (i = 0; i < n; i += 2) {
        p = ngx_http_guard_fcgi_len(p, kv[i].len);
        p = ngx_http_guard_fcgi_len(p, kv[i + 1].len);
        p = ngx_cpymem(p, kv[i].data, kv[i].len);
        p = ngx_cpymem(p, kv[i + 1].data, kv[i + 1].len);
    }

    /* empty FCGI_PARAMS and FCGI_STDIN end the request */
    p = ngx_cpymem(p, "\x01\x04\x00\x01\x00\x00\x00\x00", 8);
    p = ngx_cpymem(p, "\x01\x05\x00\x01\x00\x00\x00\x00", 8);

    gscf->send.data = start;
    gscf->send.len = p - start;

    return NGX_OK;
}


/* a FastCGI name-value length: one byte, or four with the high bit set */

static u_char *
ngx_http_guard_fcgi_len(u_char *p, size_t len)
{
    if (len > 127) {
        *p++ = (u_char) (((len >> 24) & 0x7f) | 0x80);
        *p++ = (u_char) ((len >> 16) & 0xff);
        *p++ = (u_char) ((len >> 8) & 0xff);
        *p++ = (u_char) (len & 0xff);

    } else {
        *p++ = (u_char) len;
    }

    return p;
}


char *
ngx_http_guard_compat_shm_size(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_guard_main_conf_t *gmcf = conf;

    ngx_str_t  *value;

    if (gmcf->check_shm_size) {
        return "is duplicate";
    }

    value = cf->args->elts;

    gmcf->check_shm_size = ngx_parse_size(&value[1]);

    /* 0 asks for no minimum, as nginx_upstream_check_module takes it */

    if (gmcf->check_shm_size == (size_t) NGX_ERROR) {
        return "invalid value";
    }

    return NGX_CONF_OK;
}
