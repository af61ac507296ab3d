
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * The audit log (scaffold: lands with issue 12).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_guard.h"


char *
ngx_http_guard_audit_log(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return "is not implemented yet";
}


char *
ngx_http_guard_audit_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return "is not implemented yet";
}


ngx_int_t
ngx_http_guard_audit_locked(ngx_http_guard_main_conf_t *gmcf,
    ngx_http_guard_sh_t *sh, ngx_http_guard_audit_rec_t *rec)
{
    return NGX_DECLINED;
}


ngx_int_t
ngx_http_guard_audit(ngx_http_guard_main_conf_t *gmcf,
    ngx_http_guard_audit_rec_t *rec)
{
    return NGX_DECLINED;
}
