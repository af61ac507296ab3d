
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * Module definition: directives, configuration life cycle, and the hooks
 * that put the guard in front of every balancer without patching nginx.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_guard.h"
#include "ngx_http_guard_uring.h"
#include "ngx_http_guard_status.h"


static void *ngx_http_guard_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_guard_create_srv_conf(ngx_conf_t *cf);
static void *ngx_http_guard_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_guard_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_guard_postconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_guard_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_guard_init_process(ngx_cycle_t *cycle);
static void ngx_http_guard_exit_process(ngx_cycle_t *cycle);
static ngx_http_guard_main_conf_t *ngx_http_guard_cycle_main_conf(
    ngx_cycle_t *cycle);
static char *ngx_http_guard_shm_size_check(ngx_conf_t *cf, void *post,
    void *data);


static ngx_conf_post_handler_pt  ngx_http_guard_shm_size_post =
    ngx_http_guard_shm_size_check;


static ngx_conf_enum_t  ngx_http_guard_panic_values[] = {
    { ngx_string("open"), 1 },
    { ngx_string("closed"), 0 },
    { ngx_null_string, 0 }
};


#if (NGX_HTTP_SSL)

static ngx_conf_bitmask_t  ngx_http_guard_ssl_protocols[] = {
    { ngx_string("SSLv2"), NGX_SSL_SSLv2 },
    { ngx_string("SSLv3"), NGX_SSL_SSLv3 },
    { ngx_string("TLSv1"), NGX_SSL_TLSv1 },
    { ngx_string("TLSv1.1"), NGX_SSL_TLSv1_1 },
    { ngx_string("TLSv1.2"), NGX_SSL_TLSv1_2 },
    { ngx_string("TLSv1.3"), NGX_SSL_TLSv1_3 },
    { ngx_null_string, 0 }
};

#endif


static ngx_command_t  ngx_http_guard_commands[] = {

    { ngx_string("guard_check"),
      NGX_HTTP_UPS_CONF|NGX_CONF_1MORE,
      ngx_http_guard_check,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("guard_check_header"),
      NGX_HTTP_UPS_CONF|NGX_CONF_TAKE2,
      ngx_http_guard_check_header,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("guard_floor"),
      NGX_HTTP_UPS_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_guard_srv_conf_t, floor),
      NULL },

    { ngx_string("guard_standby"),
      NGX_HTTP_UPS_CONF|NGX_CONF_1MORE,
      ngx_http_guard_standby,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("guard_slow_start"),
      NGX_HTTP_UPS_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_guard_srv_conf_t, slow_start),
      NULL },

    { ngx_string("guard_agent"),
      NGX_HTTP_UPS_CONF|NGX_CONF_TAKE123,
      ngx_http_guard_agent,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("guard_panic"),
      NGX_HTTP_UPS_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_guard_srv_conf_t, fail_open),
      &ngx_http_guard_panic_values },

#if (NGX_HTTP_SSL)

    { ngx_string("guard_check_ssl_verify"),
      NGX_HTTP_UPS_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_guard_srv_conf_t, ssl_verify),
      NULL },

    { ngx_string("guard_check_ssl_verify_depth"),
      NGX_HTTP_UPS_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_guard_srv_conf_t, ssl_verify_depth),
      NULL },

    { ngx_string("guard_check_ssl_server_name"),
      NGX_HTTP_UPS_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_guard_srv_conf_t, ssl_server_name),
      NULL },

    { ngx_string("guard_check_ssl_name"),
      NGX_HTTP_UPS_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_guard_srv_conf_t, ssl_name),
      NULL },

    { ngx_string("guard_check_ssl_trusted_certificate"),
      NGX_HTTP_UPS_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_guard_srv_conf_t, ssl_trusted_certificate),
      NULL },

    { ngx_string("guard_check_ssl_certificate"),
      NGX_HTTP_UPS_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_guard_srv_conf_t, ssl_certificate),
      NULL },

    { ngx_string("guard_check_ssl_certificate_key"),
      NGX_HTTP_UPS_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_guard_srv_conf_t, ssl_certificate_key),
      NULL },

    { ngx_string("guard_check_ssl_protocols"),
      NGX_HTTP_UPS_CONF|NGX_CONF_1MORE,
      ngx_conf_set_bitmask_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_guard_srv_conf_t, ssl_protocols),
      &ngx_http_guard_ssl_protocols },

    { ngx_string("guard_check_ssl_ciphers"),
      NGX_HTTP_UPS_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_guard_srv_conf_t, ssl_ciphers),
      NULL },

#endif

    /* the nginx_upstream_check_module vocabulary */

    { ngx_string("check"),
      NGX_HTTP_UPS_CONF|NGX_CONF_1MORE,
      ngx_http_guard_compat_check,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("check_http_send"),
      NGX_HTTP_UPS_CONF|NGX_CONF_TAKE1,
      ngx_http_guard_compat_http_send,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("check_http_expect_alive"),
      NGX_HTTP_UPS_CONF|NGX_CONF_1MORE,
      ngx_http_guard_compat_expect_alive,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("check_keepalive_requests"),
      NGX_HTTP_UPS_CONF|NGX_CONF_TAKE1,
      ngx_http_guard_compat_keepalive,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("check_fastcgi_param"),
      NGX_HTTP_UPS_CONF|NGX_CONF_TAKE2,
      ngx_http_guard_compat_fastcgi_param,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("check_shm_size"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_guard_compat_shm_size,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    /* in a server too, as the old module: every URI without a location */

    { ngx_string("check_status"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_guard_compat_status,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("guard_match"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_BLOCK|NGX_CONF_TAKE1,
      ngx_http_guard_match_block,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("guard_shm_size"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_guard_main_conf_t, shm_size),
      &ngx_http_guard_shm_size_post },

    { ngx_string("guard_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE12,
      ngx_http_guard_status,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("guard_admin"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_guard_admin,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("guard_admin_tokens"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_guard_admin_tokens,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("guard_admin_principal"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_guard_admin_principal,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_guard_loc_conf_t, principal),
      NULL },

    { ngx_string("guard_admin_plain_http"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_guard_loc_conf_t, plain_http),
      NULL },

    { ngx_string("guard_admin_two_person"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_ANY,
      ngx_http_guard_two_person,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("guard_audit_log"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_guard_audit_log,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("guard_audit_key"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_guard_audit_key,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("guard_check_io"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_guard_check_io,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("guard_state_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_guard_state_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_guard_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_guard_postconfiguration,      /* postconfiguration */

    ngx_http_guard_create_main_conf,       /* create main configuration */
    NULL,                                  /* init main configuration */

    ngx_http_guard_create_srv_conf,        /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_guard_create_loc_conf,        /* create location configuration */
    ngx_http_guard_merge_loc_conf          /* merge location configuration */
};


ngx_module_t  ngx_http_upstream_guard_module = {
    NGX_MODULE_V1,
    &ngx_http_guard_module_ctx,            /* module context */
    ngx_http_guard_commands,               /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_http_guard_init_module,            /* init module */
    ngx_http_guard_init_process,           /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_guard_exit_process,           /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_guard_create_main_conf(ngx_conf_t *cf)
{
    ngx_pool_cleanup_t          *cln;
    ngx_http_guard_main_conf_t  *gmcf;

    gmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_guard_main_conf_t));
    if (gmcf == NULL) {
        return NULL;
    }

    gmcf->shm_size = NGX_CONF_UNSET_SIZE;
    gmcf->check_io = NGX_CONF_UNSET_UINT;

    if (ngx_array_init(&gmcf->matches, cf->pool, 4,
                       sizeof(ngx_http_guard_match_t *))
        != NGX_OK)
    {
        return NULL;
    }

    if (ngx_array_init(&gmcf->upstreams, cf->pool, 4,
                       sizeof(ngx_http_guard_upstream_t))
        != NGX_OK)
    {
        return NULL;
    }

    /* what the status reports keep is freed with the configuration */

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_guard_out_cache_free;
    cln->data = &gmcf->status_cache;

    return gmcf;
}


static void *
ngx_http_guard_create_srv_conf(ngx_conf_t *cf)
{
    ngx_http_guard_srv_conf_t  *gscf;

    gscf = ngx_pcalloc(cf->pool, sizeof(ngx_http_guard_srv_conf_t));
    if (gscf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     gscf->type = NULL;
     *     gscf->port = 0;
     *     gscf->method = { 0, NULL };
     *     gscf->uri = { 0, NULL };
     *     gscf->host = { 0, NULL };
     *     gscf->headers = NULL;
     *     gscf->match = NULL;
     *     gscf->rt = NULL;
     */

    gscf->interval = NGX_CONF_UNSET_MSEC;
    gscf->timeout = NGX_CONF_UNSET_MSEC;
    gscf->jitter = NGX_CONF_UNSET_MSEC;
    gscf->fall = NGX_CONF_UNSET_UINT;
    gscf->rise = NGX_CONF_UNSET_UINT;
    gscf->initial = NGX_CONF_UNSET_UINT;
    gscf->fail_open = NGX_CONF_UNSET_UINT;
    gscf->http_minor = NGX_CONF_UNSET_UINT;
    gscf->keepalive = NGX_CONF_UNSET_UINT;
    gscf->body_limit = NGX_CONF_UNSET_SIZE;
    gscf->floor = NGX_CONF_UNSET_UINT;
    gscf->slow_start = NGX_CONF_UNSET_MSEC;

#if (NGX_HTTP_SSL)
    gscf->ssl_verify = NGX_CONF_UNSET;
    gscf->ssl_verify_depth = NGX_CONF_UNSET_UINT;
    gscf->ssl_server_name = NGX_CONF_UNSET;
#endif

    return gscf;
}


static void *
ngx_http_guard_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_guard_loc_conf_t  *glcf;

    glcf = ngx_palloc(cf->pool, sizeof(ngx_http_guard_loc_conf_t));
    if (glcf == NULL) {
        return NULL;
    }

    glcf->status = NGX_CONF_UNSET_UINT;
    glcf->status_detail = 0;
    glcf->check_status = NGX_CONF_UNSET_UINT;
    glcf->admin = NGX_CONF_UNSET;
    glcf->tokens = NGX_CONF_UNSET_PTR;
    glcf->principal = NGX_CONF_UNSET_PTR;
    glcf->plain_http = NGX_CONF_UNSET;

    return glcf;
}


static char *
ngx_http_guard_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_guard_loc_conf_t *prev = parent;
    ngx_http_guard_loc_conf_t *conf = child;

    ngx_conf_merge_uint_value(conf->status, prev->status,
                              NGX_HTTP_GUARD_FORMAT_JSON);
    ngx_conf_merge_uint_value(conf->check_status, prev->check_status, 0);
    ngx_conf_merge_ptr_value(conf->tokens, prev->tokens, NULL);
    ngx_conf_merge_ptr_value(conf->principal, prev->principal, NULL);
    ngx_conf_merge_value(conf->plain_http, prev->plain_http, 0);

    /* guard_admin is not inherited: it is set where it is served */

    /*
     * the merge runs at the end of the http block: name guard_admin's own
     * line, not the one nginx is at
     */

    if (conf->admin == 1 && conf->tokens == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "guard_admin needs guard_admin_tokens: the admin "
                      "API never runs without principals, in %s:%ui",
                      conf->admin_file, conf->admin_line);
        return NGX_CONF_ERROR;
    }

    if (conf->admin == 1) {
        /* its own body limit, answered in JSON (admin.c) */
        ngx_http_guard_admin_limit(cf);
    }

    return NGX_CONF_OK;
}


/*
 * Every init_upstream has run by now (ngx_http_upstream_module's
 * init_main_conf), so wrapping peer.init here works in any directive order
 * and with keepalive: the guard becomes the outermost layer.
 */

static ngx_int_t
ngx_http_guard_postconfiguration(ngx_conf_t *cf)
{
    ngx_uint_t                      i;
    ngx_http_guard_upstream_t      *up;
    ngx_http_guard_srv_conf_t      *gscf;
    ngx_http_guard_main_conf_t     *gmcf;
    ngx_http_upstream_srv_conf_t  **uscfp;
    ngx_http_upstream_main_conf_t  *umcf;

    gmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_upstream_guard_module);
    umcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_upstream_module);

    uscfp = umcf->upstreams.elts;

    if (ngx_http_guard_admin_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_guard_audit_check(cf, gmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    for (i = 0; i < umcf->upstreams.nelts; i++) {

        if (uscfp[i]->srv_conf == NULL) {
            continue;           /* an implicit upstream of proxy_pass */
        }

        gscf = ngx_http_conf_upstream_srv_conf(uscfp[i],
                                               ngx_http_upstream_guard_module);
        if (gscf->type == NULL && gscf->compat == 0) {

            if (ngx_http_guard_check_unguarded(cf, uscfp[i]) != NGX_OK) {
                return NGX_ERROR;
            }

            continue;
        }

        if (ngx_http_guard_init_upstream_conf(cf, gmcf, uscfp[i]) != NGX_OK) {
            return NGX_ERROR;
        }

        gscf->original_init_peer = uscfp[i]->peer.init;
        uscfp[i]->peer.init = ngx_http_guard_init_peer;

        up = ngx_array_push(&gmcf->upstreams);
        if (up == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(up, sizeof(ngx_http_guard_upstream_t));
        up->uscf = uscfp[i];
        up->conf = gscf;
        up->gmcf = gmcf;
    }

    if (gmcf->upstreams.nelts == 0) {

        if (gmcf->shm_size != NGX_CONF_UNSET_SIZE
            && gmcf->shm_size < NGX_HTTP_GUARD_SHM_FLOOR)
        {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "guard_shm_size %uz is too small, at least %uz "
                          "in %s:%ui", gmcf->shm_size,
                          (size_t) NGX_HTTP_GUARD_SHM_FLOOR,
                          gmcf->shm_size_file, gmcf->shm_size_line);
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    return ngx_http_guard_shm_add(cf, gmcf);
}


static char *
ngx_http_guard_shm_size_check(ngx_conf_t *cf, void *post, void *data)
{
    size_t  *sp = data;

    ngx_http_guard_main_conf_t  *gmcf;

    /* for the check against the servers, made once they are all known */

    gmcf = (ngx_http_guard_main_conf_t *)
               ((u_char *) sp - offsetof(ngx_http_guard_main_conf_t,
                                         shm_size));

    gmcf->shm_size_file = cf->conf_file->file.name.data;
    gmcf->shm_size_line = cf->conf_file->line;

    /*
     * nginx's floor for a zone (8 pages) is checked with what the servers
     * need, once they are known (shm.c): one message with the larger.
     */

    return NGX_CONF_OK;
}


static ngx_http_guard_main_conf_t *
ngx_http_guard_cycle_main_conf(ngx_cycle_t *cycle)
{
    if (cycle->conf_ctx == NULL
        || cycle->conf_ctx[ngx_http_module.index] == NULL)
    {
        return NULL;
    }

    return ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_upstream_guard_module);
}


/*
 * Runs in the master (or the single process) after every shared zone,
 * upstream zones included, is initialised: peer lists are final here.
 */

static ngx_int_t
ngx_http_guard_init_module(ngx_cycle_t *cycle)
{
    ngx_uint_t                   i, kept;
    ngx_http_guard_upstream_t   *up;
    ngx_http_guard_main_conf_t  *gmcf;

    /*
     * "master_process off" reloads in the running process without a new
     * init_process: leave the old cycle's checks before it is released.
     */

    if (ngx_process == NGX_PROCESS_SINGLE) {
        ngx_http_guard_leader_exit_process(cycle);
    }

    gmcf = ngx_http_guard_cycle_main_conf(cycle);
    if (gmcf == NULL || gmcf->upstreams.nelts == 0) {
        return NGX_OK;
    }

    /* nginx's peers as they are now, then their slots in the zone */

    up = gmcf->upstreams.elts;
    gmcf->npeers = 0;

    for (i = 0; i < gmcf->upstreams.nelts; i++) {
        if (ngx_http_guard_peer_list(cycle, &up[i]) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (ngx_http_guard_shm_reconcile(cycle, gmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    /* a fresh zone (start, restart, binary upgrade): the state file */

    if (ngx_http_guard_statefile_load(cycle, gmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    /* the new configuration: the pool rules, then nginx's peers */

    kept = 0;

    for (i = 0; i < gmcf->upstreams.nelts; i++) {
        if (up[i].sh) {
            kept += ngx_http_guard_state_mapped(&up[i]);
            ngx_http_guard_apply(&up[i]);
        }
    }

    /* the audit log's line for this start or reload */

    ngx_http_guard_audit_reload(cycle, gmcf);

    for (i = 0; i < gmcf->upstreams.nelts; i++) {
        if (up[i].sh) {
            ngx_http_guard_state_reload_audit(&up[i]);
        }
    }

    /* overrides that went with servers the reload removed or renamed */

    ngx_http_guard_state_dropped(cycle, gmcf);

    if (kept) {
        /* config and admin API agree: said once per (re)load */
        ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                      "upstream guard: %ui admin override%s of the admin "
                      "API stay%s in force for servers still configured",
                      kept, kept == 1 ? "" : "s", kept == 1 ? "s" : "");
    }

    if (ngx_process == NGX_PROCESS_SINGLE && ngx_http_guard_running()) {
        return ngx_http_guard_leader_init_process(cycle);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_guard_init_process(ngx_cycle_t *cycle)
{
    ngx_http_guard_main_conf_t  *gmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    gmcf = ngx_http_guard_cycle_main_conf(cycle);
    if (gmcf == NULL || gmcf->upstreams.nelts == 0) {
        return NGX_OK;
    }

    /* a single process that dies takes its requests with it: no ledger */

    if (ngx_process == NGX_PROCESS_WORKER
        && ngx_http_guard_inflight_init_process(cycle, gmcf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_guard_leader_init_process(cycle);
}


static void
ngx_http_guard_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_guard_main_conf_t  *gmcf;

    gmcf = ngx_http_guard_cycle_main_conf(cycle);
    if (gmcf == NULL || gmcf->upstreams.nelts == 0) {
        return;
    }

    ngx_http_guard_leader_exit_process(cycle);
    ngx_http_guard_inflight_exit_process(gmcf);
}
