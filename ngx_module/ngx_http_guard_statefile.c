
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * The state file (scaffold: lands with the persistence work of issue 11).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_guard.h"


ngx_int_t
ngx_http_guard_statefile_load(ngx_cycle_t *cycle,
    ngx_http_guard_main_conf_t *gmcf)
{
    return NGX_OK;
}


void
ngx_http_guard_statefile_save(ngx_http_guard_main_conf_t *gmcf)
{
}
