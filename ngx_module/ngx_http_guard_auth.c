
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * Principals of the admin API (scaffold: the tokens file and the checks
 * land with the auth work of issue 11).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_guard.h"


char *
ngx_http_guard_admin_tokens(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return "is not implemented yet";
}


ngx_int_t
ngx_http_guard_auth(ngx_http_request_t *r, ngx_http_guard_loc_conf_t *glcf,
    ngx_http_guard_principal_t **pp, ngx_http_guard_auth_error_t *err)
{
    err->status = NGX_HTTP_UNAUTHORIZED;
    err->code = "unauthenticated";
    err->message = "no principal";
    err->retry_after = 0;

    return NGX_DECLINED;
}


ngx_uint_t
ngx_http_guard_auth_may(ngx_http_guard_principal_t *p, ngx_str_t *upstream)
{
    return 0;
}
