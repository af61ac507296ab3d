
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * The admin API (scaffold).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_guard.h"


char *
ngx_http_guard_admin(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return "is not implemented yet";
}
