
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * The admin API (guard_admin): JSON over HTTP.  Each request is
 * authenticated (auth.c), its path and body turned into one admin command,
 * and the command applied by the state owner (state.c), which says what it
 * did or why not.  Reads are GET; changes are POST, PUT or DELETE only.
 * Every answer leaves through ngx_http_guard_admin_answer(), the one place
 * where an audit step will record it (ROADMAP.md).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_guard.h"
#include "ngx_http_guard_status.h"
#include "ngx_http_guard_json.h"


#define NGX_HTTP_GUARD_ADMIN_BODY_MAX  4096
#define NGX_HTTP_GUARD_ADMIN_POLL      100          /* ms */
#define NGX_HTTP_GUARD_ADMIN_WAIT_MAX  300000       /* ms */
#define NGX_HTTP_GUARD_ADMIN_EXPIRES_MAX  ((ngx_msec_t) 30 * 86400 * 1000)

/* what a path names */
#define NGX_HTTP_GUARD_PATH_LIST       1
#define NGX_HTTP_GUARD_PATH_UPSTREAM   2
#define NGX_HTTP_GUARD_PATH_SERVER     3
#define NGX_HTTP_GUARD_PATH_ACTION     4
#define NGX_HTTP_GUARD_PATH_OVERRIDES  5
#define NGX_HTTP_GUARD_PATH_FREEZE     6
#define NGX_HTTP_GUARD_PATH_WHOAMI     7
#define NGX_HTTP_GUARD_PATH_REQUESTS   8
#define NGX_HTTP_GUARD_PATH_REQUEST    9
#define NGX_HTTP_GUARD_PATH_APPROVE    10

#define NGX_HTTP_GUARD_SEGMENTS        6


typedef struct {
    ngx_uint_t                       path;
    ngx_str_t                        seg[NGX_HTTP_GUARD_SEGMENTS];
    ngx_uint_t                       nseg;
    ngx_http_guard_principal_t      *principal;
    ngx_http_guard_upstream_t       *up;
    ngx_http_guard_peer_t           *gp;
    ngx_http_guard_admin_cmd_t       cmd;
    ngx_http_guard_admin_res_t       res;
    ngx_uint_t                       freeze;        /* PUT: 1, DELETE: 0 */
    ngx_msec_t                       wait;          /* long poll, 0: none */
    ngx_msec_t                       wait_start;
    ngx_msec_t                       timeout_at;
    ngx_int_t                        rc;            /* of a refusal sent */
    ngx_uint_t                       request;       /* /pending/{id} */
    ngx_http_guard_sh_request_t      req;           /* a copy of it */
    const char                      *op;            /* for the audit */
    const char                      *code;          /* of a refusal */
    off_t                            body_size;     /* read so far */
} ngx_http_guard_admin_ctx_t;


typedef struct {
    ngx_str_t                        name;
    ngx_uint_t                       op;
    ngx_uint_t                       role;
} ngx_http_guard_admin_op_t;


static ngx_int_t ngx_http_guard_admin_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_guard_admin_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_guard_admin_route(ngx_http_request_t *r,
    ngx_http_guard_admin_ctx_t *ctx);
static const char *ngx_http_guard_admin_asked(ngx_http_request_t *r,
    ngx_http_guard_admin_ctx_t *ctx);
static ngx_http_guard_admin_op_t *ngx_http_guard_admin_op(ngx_str_t *name);
static ngx_int_t ngx_http_guard_admin_split(ngx_http_request_t *r,
    ngx_http_guard_admin_ctx_t *ctx);
static ngx_int_t ngx_http_guard_admin_target(ngx_http_request_t *r,
    ngx_http_guard_admin_ctx_t *ctx);
static ngx_uint_t ngx_http_guard_admin_is_json(ngx_http_request_t *r);
static void ngx_http_guard_admin_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_guard_admin_parse_body(ngx_http_request_t *r,
    ngx_http_guard_admin_ctx_t *ctx);
static ngx_int_t ngx_http_guard_admin_duration(
    const ngx_http_guard_json_field_t *f, ngx_msec_t max, ngx_msec_t *ms);
static ngx_int_t ngx_http_guard_admin_if_match(ngx_http_request_t *r,
    ngx_http_guard_admin_ctx_t *ctx);
static ngx_int_t ngx_http_guard_admin_change(ngx_http_request_t *r,
    ngx_http_guard_admin_ctx_t *ctx);
static void ngx_http_guard_admin_wait_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_guard_admin_answer_change(ngx_http_request_t *r,
    ngx_http_guard_admin_ctx_t *ctx, ngx_uint_t timed_out);
static ngx_int_t ngx_http_guard_admin_read(ngx_http_request_t *r,
    ngx_http_guard_admin_ctx_t *ctx);
static ngx_int_t ngx_http_guard_admin_read_server(ngx_http_request_t *r,
    ngx_http_guard_admin_ctx_t *ctx, ngx_uint_t timed_out);
static ngx_int_t ngx_http_guard_admin_overrides(ngx_http_request_t *r,
    ngx_http_guard_admin_ctx_t *ctx);
static ngx_int_t ngx_http_guard_admin_revert_all(ngx_http_request_t *r,
    ngx_http_guard_admin_ctx_t *ctx);
static ngx_int_t ngx_http_guard_admin_freeze(ngx_http_request_t *r,
    ngx_http_guard_admin_ctx_t *ctx);
static ngx_int_t ngx_http_guard_admin_whoami(ngx_http_request_t *r,
    ngx_http_guard_admin_ctx_t *ctx);
static ngx_int_t ngx_http_guard_admin_requests(ngx_http_request_t *r,
    ngx_http_guard_admin_ctx_t *ctx);
static ngx_int_t ngx_http_guard_admin_read_request(ngx_http_request_t *r,
    ngx_http_guard_admin_ctx_t *ctx);

static ngx_int_t ngx_http_guard_admin_override_head(ngx_http_guard_out_t *out,
    ngx_uint_t first, ngx_str_t *upstream, ngx_str_t *server);
static ngx_int_t ngx_http_guard_admin_override_json(ngx_http_guard_out_t *out,
    const char *kind, ngx_http_guard_sh_override_t *ov);
static ngx_uint_t ngx_http_guard_admin_upgrading(void);
static ngx_int_t ngx_http_guard_admin_error(ngx_http_request_t *r,
    ngx_http_guard_admin_ctx_t *ctx, ngx_uint_t status, const char *code,
    const char *fmt, ...);
static ngx_int_t ngx_http_guard_admin_error_send(ngx_http_request_t *r,
    ngx_http_guard_admin_ctx_t *ctx, ngx_uint_t status, const char *code,
    u_char *msg, size_t len);
static void ngx_http_guard_admin_cleanup(void *data);
static void ngx_http_guard_admin_audit(ngx_http_request_t *r,
    ngx_http_guard_admin_ctx_t *ctx, ngx_uint_t status, const char *code);
static ngx_int_t ngx_http_guard_admin_answer(ngx_http_request_t *r,
    ngx_http_guard_admin_ctx_t *ctx, ngx_http_guard_out_t *out,
    ngx_uint_t status);


static ngx_http_guard_admin_op_t  ngx_http_guard_admin_ops[] = {
    { ngx_string("drain"), NGX_HTTP_GUARD_OP_DRAIN,
      NGX_HTTP_GUARD_ROLE_OPERATOR },
    { ngx_string("resume"), NGX_HTTP_GUARD_OP_RESUME,
      NGX_HTTP_GUARD_ROLE_OPERATOR },
    { ngx_string("weight"), NGX_HTTP_GUARD_OP_WEIGHT,
      NGX_HTTP_GUARD_ROLE_OPERATOR },
    { ngx_string("maintenance"), NGX_HTTP_GUARD_OP_MAINTENANCE,
      NGX_HTTP_GUARD_ROLE_ADMIN },
    { ngx_null_string, 0, 0 }
};


static const char  *ngx_http_guard_admin_names[] = {
    "active", "draining", "drained", "maintenance"
};


static const char  *ngx_http_guard_role_names[] = {
    "none", "viewer", "operator", "admin"
};


/* nginx's request body filter chain, as every such filter keeps it */
static ngx_http_request_body_filter_pt  ngx_http_guard_next_body_filter;


char *
ngx_http_guard_admin(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_guard_loc_conf_t *glcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (glcf->admin != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

#if (NGX_PCRE)
    if (clcf->regex) {
        return "must be in a prefix location (\"location /guard/\")";
    }
#endif

    /*
     * an exact location serves its own path only, so every path under it
     * would be nginx's 404; a named one has no path
     */

    if (clcf->exact_match || clcf->named) {
        return "must be in a prefix location (\"location /guard/\")";
    }

    glcf->admin = 1;
    glcf->admin_file = cf->conf_file->file.name.data;
    glcf->admin_line = cf->conf_file->line;
    clcf->handler = ngx_http_guard_admin_handler;

    return NGX_CONF_OK;
}


/*
 * The admin API's bodies have their own limit, answered as every other
 * refusal is (JSON, audited): a guard_admin location gets no
 * client_max_body_size, which nginx enforces before any handler, with its
 * own HTML page and no audit line (ngx_http_guard_admin_limit(), at the
 * merge).  A body announced larger is refused before it is read; one that
 * is not announced (chunked, HTTP/2 without a length) is counted here as
 * it comes, and past the limit the rest is read and dropped, as a
 * discarded body is, so that it takes neither memory nor disk.
 */

ngx_int_t
ngx_http_guard_admin_init(ngx_conf_t *cf)
{
    ngx_http_guard_next_body_filter = ngx_http_top_request_body_filter;
    ngx_http_top_request_body_filter = ngx_http_guard_admin_body_filter;

    return NGX_OK;
}


void
ngx_http_guard_admin_limit(ngx_conf_t *cf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->client_max_body_size = 0;
}


static ngx_int_t
ngx_http_guard_admin_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_chain_t                 *cl, *last, **ll;
    ngx_http_request_body_t     *rb;
    ngx_http_guard_admin_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_upstream_guard_module);

    if (ctx == NULL) {
        return ngx_http_guard_next_body_filter(r, in);
    }

    for (cl = in; cl; cl = cl->next) {
        ctx->body_size += ngx_buf_size(cl->buf);
    }

    if (ctx->body_size <= NGX_HTTP_GUARD_ADMIN_BODY_MAX) {
        return ngx_http_guard_next_body_filter(r, in);
    }

    /*
     * Over the limit: what was kept is let go (as if written to a file,
     * so that the buffer it is in can be read into again), the bytes
     * that come are consumed, and only the end of the body goes on.
     */

    rb = r->request_body;

    if (rb && rb->bufs) {
        for (cl = rb->bufs; cl; cl = cl->next) {
            cl->buf->pos = cl->buf->last;
        }

        rb->bufs = NULL;
    }

    last = NULL;
    ll = &last;

    for (cl = in; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;

        if (cl->buf->last_buf && ngx_buf_size(cl->buf) == 0) {
            *ll = ngx_alloc_chain_link(r->pool);
            if (*ll == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            (*ll)->buf = cl->buf;
            (*ll)->next = NULL;
            ll = &(*ll)->next;
        }
    }

    if (last == NULL) {
        return NGX_OK;
    }

    return ngx_http_guard_next_body_filter(r, last);
}


static ngx_int_t
ngx_http_guard_admin_handler(ngx_http_request_t *r)
{
    ngx_int_t                     rc;
    ngx_pool_cleanup_t           *cln;
    ngx_http_guard_loc_conf_t    *glcf;
    ngx_http_guard_main_conf_t   *gmcf;
    ngx_http_guard_admin_ctx_t   *ctx;
    ngx_http_guard_auth_error_t   err;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_guard_admin_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_set_ctx(r, ctx, ngx_http_upstream_guard_module);

    /* a call that ends without our answer still leaves its audit line */

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_guard_admin_cleanup;
    cln->data = r;

    ctx->cmd.client = r->connection->addr_text;
    ctx->op = "read";

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_upstream_guard_module);
    gmcf = ngx_http_get_module_main_conf(r, ngx_http_upstream_guard_module);

    /* who asks: nothing else is looked at before */

    rc = ngx_http_guard_auth(r, glcf, &ctx->principal, &err);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc != NGX_OK) {
        /* the audit line says what was asked, and on what */

        if (ngx_http_guard_admin_split(r, ctx) == NGX_OK) {
            ctx->op = ngx_http_guard_admin_asked(r, ctx);

        } else {
            ctx->path = 0;
        }

        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (ngx_http_guard_auth_headers(r, &err) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        (void) ngx_http_guard_admin_error(r, ctx, err.status, err.code,
                                          "%s", err.message);
        return ctx->rc;
    }

    ctx->cmd.principal = ctx->principal->name;
    ctx->cmd.role = ctx->principal->role;

    if (gmcf->shm_zone == NULL) {
        (void) ngx_http_discard_request_body(r);
        (void) ngx_http_guard_admin_error(r, ctx, NGX_HTTP_NOT_FOUND,
                                          "unknown_upstream",
                                          "no upstream is guarded");
        return ctx->rc;
    }

    rc = ngx_http_guard_admin_route(r, ctx);

    if (rc == NGX_OK) {
        rc = ngx_http_guard_admin_read(r, ctx);
    }

    /* NGX_DECLINED: a refusal was sent; NGX_DONE: a body or a wait */

    return (rc == NGX_DECLINED) ? ctx->rc : rc;
}


/*
 * The path, the method and the role: a refusal is answered here (NGX_OK is
 * returned only for a read that may go on).
 */

static ngx_int_t
ngx_http_guard_admin_route(ngx_http_request_t *r,
    ngx_http_guard_admin_ctx_t *ctx)
{
    off_t                       length;
    ngx_int_t                   rc;
    ngx_uint_t                  write, role;
    const char                 *allow;
    ngx_http_guard_admin_op_t  *op;
    ngx_http_core_loc_conf_t   *clcf;

    if (ngx_http_guard_admin_split(r, ctx) != NGX_OK) {
        clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

        (void) ngx_http_discard_request_body(r);
        return ngx_http_guard_admin_error(r, ctx, NGX_HTTP_NOT_FOUND,
                                          "unknown_path",
                                          "unknown path, see GET %V",
                                          &clcf->name);
    }

    write = !(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD));
    role = NGX_HTTP_GUARD_ROLE_VIEWER;
    allow = "GET, HEAD";
    ctx->op = ngx_http_guard_admin_asked(r, ctx);

    switch (ctx->path) {

    case NGX_HTTP_GUARD_PATH_ACTION:
        allow = "POST";

        op = ngx_http_guard_admin_op(&ctx->seg[4]);

        if (op == NULL) {
            (void) ngx_http_discard_request_body(r);
            return ngx_http_guard_admin_error(r, ctx, NGX_HTTP_NOT_FOUND,
                                              "unknown_path",
                                              "unknown operation \"%V\", "
                                              "expected drain, resume, "
                                              "maintenance or weight",
                                              &ctx->seg[4]);
        }

        ctx->cmd.op = op->op;
        role = op->role;

        if (r->method != NGX_HTTP_POST) {
            goto not_allowed;
        }

        break;

    case NGX_HTTP_GUARD_PATH_OVERRIDES:
        allow = "GET, HEAD, DELETE";

        if (write) {
            if (r->method != NGX_HTTP_DELETE) {
                goto not_allowed;
            }

            ctx->cmd.op = NGX_HTTP_GUARD_OP_REVERT;
            role = NGX_HTTP_GUARD_ROLE_ADMIN;
        }

        break;

    case NGX_HTTP_GUARD_PATH_APPROVE:
        allow = "POST";

        if (r->method != NGX_HTTP_POST) {
            goto not_allowed;
        }

        role = NGX_HTTP_GUARD_ROLE_OPERATOR;
        break;

    case NGX_HTTP_GUARD_PATH_REQUEST:
        allow = "GET, HEAD, DELETE";

        if (write) {
            if (r->method != NGX_HTTP_DELETE) {
                goto not_allowed;
            }

            role = NGX_HTTP_GUARD_ROLE_OPERATOR;
        }

        break;

    case NGX_HTTP_GUARD_PATH_FREEZE:
        allow = "GET, HEAD, PUT, DELETE";

        if (write) {
            if (r->method != NGX_HTTP_PUT && r->method != NGX_HTTP_DELETE) {
                goto not_allowed;
            }

            ctx->freeze = (r->method == NGX_HTTP_PUT);
            role = NGX_HTTP_GUARD_ROLE_ADMIN;
        }

        break;

    default:
        if (write) {
            goto not_allowed;
        }
    }

    if (ctx->principal->role < role) {
        (void) ngx_http_discard_request_body(r);
        return ngx_http_guard_admin_error(r, ctx, NGX_HTTP_FORBIDDEN,
                                          "forbidden",
                                          "%V is a %s: this needs the role "
                                          "%s", &ctx->principal->name,
                                          ngx_http_guard_role_names[
                                              ctx->principal->role % 4],
                                          ngx_http_guard_role_names[role]);
    }

    rc = ngx_http_guard_admin_target(r, ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    if (!write) {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return NGX_OK;
    }

    if (ngx_http_guard_admin_upgrading()) {
        (void) ngx_http_discard_request_body(r);
        return ngx_http_guard_admin_error(r, ctx,
                                          NGX_HTTP_SERVICE_UNAVAILABLE,
                                          "upgrading",
                                          "this worker belongs to the nginx "
                                          "that a binary upgrade replaces: "
                                          "the new nginx would not keep the "
                                          "change; send it again, to the "
                                          "new nginx, or after the upgrade "
                                          "is done or rolled back");
    }

    if (ngx_exiting) {
        /*
         * An old worker after a reload: its zone may be the one that a
         * resize replaced, with an audit chain that no longer grows.
         */
        (void) ngx_http_discard_request_body(r);
        return ngx_http_guard_admin_error(r, ctx,
                                          NGX_HTTP_SERVICE_UNAVAILABLE,
                                          "reloading",
                                          "this worker is shutting down "
                                          "after a reload: send the change "
                                          "again");
    }

    /*
     * A POST or PUT must say that its body is JSON.  No browser sends
     * that to another site without asking first (a CORS preflight, which
     * this API never answers), so a page cannot make a browser that holds
     * a client certificate or an SSO session (guard_admin_principal)
     * change anything: forms and no-cors fetches are refused here.
     */

    if ((r->method & (NGX_HTTP_POST|NGX_HTTP_PUT))
        && !ngx_http_guard_admin_is_json(r))
    {
        (void) ngx_http_discard_request_body(r);
        return ngx_http_guard_admin_error(r, ctx,
                                          NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                          "unsupported_media_type",
                                          "a change is a JSON body with "
                                          "\"Content-Type: application/json\"");
    }

    /* a change: its body first, within the limit */

    length = r->headers_in.content_length_n;    /* discarding zeroes it */

    if (length > NGX_HTTP_GUARD_ADMIN_BODY_MAX) {
        (void) ngx_http_discard_request_body(r);
        return ngx_http_guard_admin_error(r, ctx,
                                          NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                          "body_too_large",
                                          "the body has %O bytes, at most %d "
                                          "are accepted", length,
                                          NGX_HTTP_GUARD_ADMIN_BODY_MAX);
    }

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, ngx_http_guard_admin_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;

not_allowed:

    (void) ngx_http_discard_request_body(r);

    if (ngx_http_guard_status_add_header(r, "Allow", (u_char *) allow,
                                    ngx_strlen(allow))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!write) {
        return ngx_http_guard_admin_error(r, ctx, NGX_HTTP_NOT_ALLOWED,
                                          "method_not_allowed",
                                          "%V changes nothing: a change is "
                                          "%s, never GET", &r->method_name,
                                          allow);
    }

    return ngx_http_guard_admin_error(r, ctx, NGX_HTTP_NOT_ALLOWED,
                                      "method_not_allowed",
                                      "%V is not allowed here, only %s",
                                      &r->method_name, allow);
}


/*
 * What a call asks for, by its path and method, for the audit line: also
 * for a call refused before it is authenticated or authorised.
 */

static const char *
ngx_http_guard_admin_asked(ngx_http_request_t *r,
    ngx_http_guard_admin_ctx_t *ctx)
{
    ngx_http_guard_admin_op_t  *op;

    switch (ctx->path) {

    case NGX_HTTP_GUARD_PATH_ACTION:
        op = ngx_http_guard_admin_op(&ctx->seg[4]);
        return op ? ngx_http_guard_op_name(op->op) : "unknown";

    case NGX_HTTP_GUARD_PATH_OVERRIDES:
        return (r->method == NGX_HTTP_DELETE) ? "revert_all" : "read";

    case NGX_HTTP_GUARD_PATH_APPROVE:
        return "approve";

    case NGX_HTTP_GUARD_PATH_REQUEST:
        return (r->method == NGX_HTTP_DELETE) ? "cancel" : "read";

    case NGX_HTTP_GUARD_PATH_FREEZE:
        if (r->method == NGX_HTTP_PUT) {
            return "freeze";
        }

        return (r->method == NGX_HTTP_DELETE) ? "unfreeze" : "read";

    default:
        return "read";
    }
}


static ngx_http_guard_admin_op_t *
ngx_http_guard_admin_op(ngx_str_t *name)
{
    ngx_http_guard_admin_op_t  *op;

    for (op = ngx_http_guard_admin_ops; op->name.len; op++) {
        if (op->name.len == name->len
            && ngx_strncmp(op->name.data, name->data, name->len) == 0)
        {
            return op;
        }
    }

    return NULL;
}


/*
 * The path after the location's prefix, split on "/" and percent-decoded
 * segment by segment, so that "unix:/run/app.sock" can be named as
 * "unix:%2Frun%2Fapp.sock".
 */

static ngx_int_t
ngx_http_guard_admin_split(ngx_http_request_t *r,
    ngx_http_guard_admin_ctx_t *ctx)
{
    ngx_int_t                  n;
    u_char                    *p, *end, *start, *dst, *src;
    ngx_str_t                 *seg;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    p = r->unparsed_uri.data;
    end = r->args_start ? r->args_start - 1
                        : r->unparsed_uri.data + r->unparsed_uri.len;

    if (end < p || end > r->unparsed_uri.data + r->unparsed_uri.len) {
        end = r->unparsed_uri.data + r->unparsed_uri.len;
    }

    if ((size_t) (end - p) >= clcf->name.len
        && ngx_strncmp(p, clcf->name.data, clcf->name.len) == 0)
    {
        p += clcf->name.len;

    } else {
        /* the prefix was written encoded: the decoded URI is all we have */
        p = r->uri.data + ngx_min(clcf->name.len, r->uri.len);
        end = r->uri.data + r->uri.len;
    }

    ctx->nseg = 0;

    while (p < end) {
        if (*p == '/') {
            p++;
            continue;
        }

        if (ctx->nseg == NGX_HTTP_GUARD_SEGMENTS) {
            return NGX_ERROR;
        }

        start = p;

        while (p < end && *p != '/') {
            p++;
        }

        seg = &ctx->seg[ctx->nseg++];

        dst = ngx_pnalloc(r->pool, p - start);
        if (dst == NULL) {
            return NGX_ERROR;
        }

        seg->data = dst;
        src = start;
        ngx_unescape_uri(&dst, &src, p - start, 0);
        seg->len = dst - seg->data;

        if (seg->len == 0 || ngx_strlchr(seg->data, dst, '\0')) {
            return NGX_ERROR;
        }
    }

#define ngx_http_guard_seg_is(n, s)                                          \
    (ctx->seg[n].len == sizeof(s) - 1                                        \
     && ngx_strncmp(ctx->seg[n].data, s, sizeof(s) - 1) == 0)

    switch (ctx->nseg) {

    case 0:
        ctx->path = NGX_HTTP_GUARD_PATH_LIST;
        return NGX_OK;

    case 1:
        if (ngx_http_guard_seg_is(0, "upstreams")) {
            ctx->path = NGX_HTTP_GUARD_PATH_LIST;

        } else if (ngx_http_guard_seg_is(0, "overrides")) {
            ctx->path = NGX_HTTP_GUARD_PATH_OVERRIDES;

        } else if (ngx_http_guard_seg_is(0, "freeze")) {
            ctx->path = NGX_HTTP_GUARD_PATH_FREEZE;

        } else if (ngx_http_guard_seg_is(0, "whoami")) {
            ctx->path = NGX_HTTP_GUARD_PATH_WHOAMI;

        } else if (ngx_http_guard_seg_is(0, "pending")) {
            ctx->path = NGX_HTTP_GUARD_PATH_REQUESTS;

        } else {
            return NGX_ERROR;
        }

        return NGX_OK;

    case 2:
    case 3:
        if (ngx_http_guard_seg_is(0, "pending")) {
            n = ngx_atoi(ctx->seg[1].data, ctx->seg[1].len);

            if (n <= 0
                || (ctx->nseg == 3 && !ngx_http_guard_seg_is(2, "approve")))
            {
                return NGX_ERROR;
            }

            ctx->request = (ngx_uint_t) n;
            ctx->path = (ctx->nseg == 3) ? NGX_HTTP_GUARD_PATH_APPROVE
                                         : NGX_HTTP_GUARD_PATH_REQUEST;
            return NGX_OK;
        }

        if (ctx->nseg == 3) {
            return NGX_ERROR;
        }

        ctx->path = NGX_HTTP_GUARD_PATH_UPSTREAM;
        break;

    case 4:
        ctx->path = NGX_HTTP_GUARD_PATH_SERVER;
        break;

    case 5:
        ctx->path = NGX_HTTP_GUARD_PATH_ACTION;
        break;

    default:
        return NGX_ERROR;
    }

    if (!ngx_http_guard_seg_is(0, "upstreams")
        || (ctx->nseg > 2 && !ngx_http_guard_seg_is(2, "servers")))
    {
        return NGX_ERROR;
    }

#undef ngx_http_guard_seg_is

    return NGX_OK;
}


/* the upstream and the server a path names, and may the principal? */

static ngx_int_t
ngx_http_guard_admin_target(ngx_http_request_t *r,
    ngx_http_guard_admin_ctx_t *ctx)
{
    ngx_str_t                   *name;
    ngx_uint_t                   i, n;
    ngx_http_guard_peer_t       *gp;
    ngx_http_guard_upstream_t   *up;
    ngx_http_guard_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_upstream_guard_module);

    if (ctx->path == NGX_HTTP_GUARD_PATH_REQUEST
        || ctx->path == NGX_HTTP_GUARD_PATH_APPROVE)
    {
        /* a request names its upstream and server: as a path would */

        if (ngx_http_guard_state_request(gmcf, ctx->request, &ctx->req)
            != NGX_OK)
        {
            (void) ngx_http_discard_request_body(r);
            return ngx_http_guard_admin_error(r, ctx, NGX_HTTP_NOT_FOUND,
                                              "unknown_request",
                                              "no request %ui", ctx->request);
        }

        ctx->seg[1].data = ctx->req.upstream;
        ctx->seg[1].len = ngx_strlen(ctx->req.upstream);
        ctx->seg[3].data = ctx->req.server;
        ctx->seg[3].len = ngx_strlen(ctx->req.server);

        if (ctx->path == NGX_HTTP_GUARD_PATH_APPROVE
            && ctx->principal->role < ctx->req.role)
        {
            (void) ngx_http_discard_request_body(r);
            return ngx_http_guard_admin_error(r, ctx, NGX_HTTP_FORBIDDEN,
                       "forbidden", "request %ui needs an approver with "
                       "the role %s; %V is a %s", ctx->request,
                       ngx_http_guard_role_names[ctx->req.role % 4],
                       &ctx->principal->name,
                       ngx_http_guard_role_names[
                           ctx->principal->role % 4]);
        }

    } else if (ctx->path == NGX_HTTP_GUARD_PATH_FREEZE
               && !(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)))
    {
        /*
         * The freeze stops the changes of every upstream: setting or
         * lifting it is for an admin who may touch them all, not one
         * limited to some (who could lift an incident's freeze for all).
         */

        up = gmcf->upstreams.elts;

        for (i = 0; i < gmcf->upstreams.nelts; i++) {
            if (!ngx_http_guard_auth_may(ctx->principal,
                                         &up[i].uscf->host))
            {
                (void) ngx_http_discard_request_body(r);
                return ngx_http_guard_admin_error(r, ctx,
                           NGX_HTTP_FORBIDDEN, "forbidden",
                           "the freeze holds every upstream: %V may not "
                           "touch upstream \"%V\"", &ctx->principal->name,
                           &up[i].uscf->host);
            }
        }

        return NGX_OK;

    } else if (ctx->path != NGX_HTTP_GUARD_PATH_UPSTREAM
               && ctx->path != NGX_HTTP_GUARD_PATH_SERVER
               && ctx->path != NGX_HTTP_GUARD_PATH_ACTION)
    {
        return NGX_OK;
    }

    name = &ctx->seg[1];
    up = gmcf->upstreams.elts;

    for (i = 0; i < gmcf->upstreams.nelts; i++) {
        if (up[i].sh
            && up[i].uscf->host.len == name->len
            && ngx_strncmp(up[i].uscf->host.data, name->data, name->len) == 0)
        {
            ctx->up = &up[i];
            break;
        }
    }

    if (ctx->up == NULL) {
        (void) ngx_http_discard_request_body(r);
        return ngx_http_guard_admin_error(r, ctx, NGX_HTTP_NOT_FOUND,
                                          "unknown_upstream",
                                          "no guarded upstream \"%V\"", name);
    }

    if (!ngx_http_guard_auth_may(ctx->principal, name)) {
        (void) ngx_http_discard_request_body(r);
        return ngx_http_guard_admin_error(r, ctx, NGX_HTTP_FORBIDDEN,
                                          "forbidden",
                                          "%V may not touch upstream \"%V\"",
                                          &ctx->principal->name, name);
    }

    if (ctx->path == NGX_HTTP_GUARD_PATH_UPSTREAM) {
        return NGX_OK;
    }

    /* the server as written in nginx.conf, or its address */

    name = &ctx->seg[3];
    n = 0;

    for (i = 0; i < ctx->up->npeers; i++) {
        gp = &ctx->up->peers[i];

        if (!((gp->peer->server.len == name->len
               && ngx_strncmp(gp->peer->server.data, name->data, name->len)
                  == 0)
              || (gp->peer->name.len == name->len
                  && ngx_strncmp(gp->peer->name.data, name->data, name->len)
                     == 0)))
        {
            continue;
        }

        if (ctx->gp && ctx->gp->sh == gp->sh && gp->sh) {
            continue;       /* the same address twice: one state */
        }

        if (ctx->gp == NULL || !gp->check_owner) {
            ctx->gp = (ctx->gp && !ctx->gp->check_owner) ? ctx->gp : gp;
        }

        n++;
    }

    if (ctx->gp == NULL) {
        (void) ngx_http_discard_request_body(r);
        return ngx_http_guard_admin_error(r, ctx, NGX_HTTP_NOT_FOUND,
                                          "unknown_server",
                                          "upstream \"%V\" has no server "
                                          "\"%V\"", &ctx->seg[1], name);
    }

    if (n > 1) {
        (void) ngx_http_discard_request_body(r);
        return ngx_http_guard_admin_error(r, ctx, NGX_HTTP_CONFLICT,
                                          "ambiguous_server",
                                          "server \"%V\" of upstream \"%V\" "
                                          "has %ui addresses: name one of "
                                          "them", name, &ctx->seg[1], n);
    }

    return NGX_OK;
}


/* "application/json", in any case, alone or with parameters */

static ngx_uint_t
ngx_http_guard_admin_is_json(ngx_http_request_t *r)
{
    u_char           *p, *last;
    ngx_table_elt_t  *h;

    h = r->headers_in.content_type;

    if (h == NULL) {
        return 0;
    }

    p = h->value.data;
    last = p + h->value.len;

    if (h->value.len < sizeof("application/json") - 1
        || ngx_strncasecmp(p, (u_char *) "application/json",
                           sizeof("application/json") - 1)
           != 0)
    {
        return 0;
    }

    p += sizeof("application/json") - 1;

    return p == last || *p == ';' || *p == ' ' || *p == '\t';
}


/* the body of a change has been read */

static void
ngx_http_guard_admin_body(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_http_guard_admin_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_upstream_guard_module);

    rc = ngx_http_guard_admin_parse_body(r, ctx);

    if (rc == NGX_OK) {
        rc = ngx_http_guard_admin_if_match(r, ctx);
    }

    if (rc == NGX_OK) {
        rc = ngx_http_guard_admin_change(r, ctx);
    }

    if (rc == NGX_DONE) {
        return;             /* waiting for a drain: the request stays */
    }

    ngx_http_finalize_request(r, (rc == NGX_DECLINED) ? ctx->rc : rc);
}


static ngx_int_t
ngx_http_guard_admin_parse_body(ngx_http_request_t *r,
    ngx_http_guard_admin_ctx_t *ctx)
{
    u_char                             *body, *p;
    size_t                              len, k;
    ngx_uint_t                          i;
    ngx_chain_t                        *cl;
    ngx_http_guard_json_t               j;
    const ngx_http_guard_json_field_t  *f;

    len = 0;

    if (ctx->body_size > NGX_HTTP_GUARD_ADMIN_BODY_MAX) {
        return ngx_http_guard_admin_error(r, ctx,
                                          NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                          "body_too_large",
                                          "the body has %O bytes, at most "
                                          "%d are accepted", ctx->body_size,
                                          NGX_HTTP_GUARD_ADMIN_BODY_MAX);
    }

    if (r->request_body) {
        if (r->request_body->temp_file) {
            return ngx_http_guard_admin_error(r, ctx,
                       NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, "body_too_large",
                       "the body was written to a file: at most %d bytes "
                       "are accepted", NGX_HTTP_GUARD_ADMIN_BODY_MAX);
        }

        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            len += ngx_buf_size(cl->buf);
        }
    }

    if (len > NGX_HTTP_GUARD_ADMIN_BODY_MAX) {
        return ngx_http_guard_admin_error(r, ctx,
                                          NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                          "body_too_large",
                                          "the body has %uz bytes, at most "
                                          "%d are accepted", len,
                                          NGX_HTTP_GUARD_ADMIN_BODY_MAX);
    }

    body = ngx_pnalloc(r->pool, 2 * len + 1);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = body;

    if (r->request_body) {
        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            /* an empty body is a buffer without memory: no memcpy() */
            if (cl->buf->last > cl->buf->pos) {
                p = ngx_cpymem(p, cl->buf->pos,
                               cl->buf->last - cl->buf->pos);
            }
        }
    }

    ngx_memzero(&j, sizeof(ngx_http_guard_json_t));
    j.scratch = body + len;
    j.scratch_size = len + 1;

    if (ngx_http_guard_json_parse(&j, body, len) != 0) {
        return ngx_http_guard_admin_error(r, ctx, NGX_HTTP_BAD_REQUEST,
                                          "bad_json",
                                          "the body is not a flat JSON "
                                          "object: %s at byte %uz",
                                          j.error, j.error_at);
    }

    for (i = 0; i < j.nfields; i++) {
        f = &j.field[i];

#define ngx_http_guard_key_is(s)                                             \
        (f->key_len == sizeof(s) - 1                                         \
         && ngx_strncmp(f->key, s, sizeof(s) - 1) == 0)

        if (ngx_http_guard_key_is("reason")) {
            if (f->type != NGX_HTTP_GUARD_JSON_STRING) {
                goto wrong_type;
            }

            if (f->str_len >= NGX_HTTP_GUARD_REASON_LEN) {
                return ngx_http_guard_admin_error(r, ctx,
                           NGX_HTTP_BAD_REQUEST, "bad_value",
                           "\"reason\" has %uz bytes, at most %d",
                           f->str_len, NGX_HTTP_GUARD_REASON_LEN - 1);
            }

            for (k = 0; k < f->str_len; k++) {
                if (f->str[k] < 0x20 || f->str[k] == 0x7f) {
                    /* it goes into logs and, later, the audit line */
                    return ngx_http_guard_admin_error(r, ctx,
                               NGX_HTTP_BAD_REQUEST, "bad_value",
                               "\"reason\" has a control character");
                }
            }

            ctx->cmd.reason.data = (u_char *) f->str;
            ctx->cmd.reason.len = f->str_len;

        } else if (ngx_http_guard_key_is("dry_run")) {
            if (f->type != NGX_HTTP_GUARD_JSON_TRUE
                && f->type != NGX_HTTP_GUARD_JSON_FALSE)
            {
                goto wrong_type;
            }

            ctx->cmd.dry_run = (f->type == NGX_HTTP_GUARD_JSON_TRUE);

        } else if (ngx_http_guard_key_is("expires")
                   && ctx->cmd.op != NGX_HTTP_GUARD_OP_RESUME
                   && ctx->cmd.op != NGX_HTTP_GUARD_OP_REVERT
                   && ctx->path == NGX_HTTP_GUARD_PATH_ACTION)
        {
            if (ngx_http_guard_admin_duration(f,
                    NGX_HTTP_GUARD_ADMIN_EXPIRES_MAX, &ctx->cmd.expires)
                != NGX_OK)
            {
                return ngx_http_guard_admin_error(r, ctx,
                           NGX_HTTP_BAD_REQUEST, "bad_value",
                           "\"expires\" must be a duration such as \"90s\", "
                           "\"10m\" or \"1h\" (or seconds), 1s to 30d");
            }

        } else if (ngx_http_guard_key_is("wait")
                   && ctx->cmd.op == NGX_HTTP_GUARD_OP_DRAIN)
        {
            if (ngx_http_guard_admin_duration(f,
                    NGX_HTTP_GUARD_ADMIN_WAIT_MAX, &ctx->wait)
                != NGX_OK)
            {
                return ngx_http_guard_admin_error(r, ctx,
                           NGX_HTTP_BAD_REQUEST, "bad_value",
                           "\"wait\" must be a duration such as \"30s\" "
                           "(or seconds), 1s to 300s");
            }

        } else if (ngx_http_guard_key_is("weight")
                   && ctx->cmd.op == NGX_HTTP_GUARD_OP_WEIGHT)
        {
            if (f->type == NGX_HTTP_GUARD_JSON_NULL) {
                /* no admin weight: back to the one in nginx.conf */
                ctx->cmd.weight_config = 1;
                continue;
            }

            if (f->type != NGX_HTTP_GUARD_JSON_NUMBER) {
                goto wrong_type;
            }

            if (!f->is_int || f->num < 1
                || f->num > NGX_HTTP_GUARD_WEIGHT_MAX)
            {
                return ngx_http_guard_admin_error(r, ctx,
                           NGX_HTTP_BAD_REQUEST, "bad_value",
                           "\"weight\" must be an integer from 1 to %d",
                           NGX_HTTP_GUARD_WEIGHT_MAX);
            }

            ctx->cmd.weight = (ngx_uint_t) f->num;

        } else {
            return ngx_http_guard_admin_error(r, ctx, NGX_HTTP_BAD_REQUEST,
                                              "bad_json",
                                              "unknown field \"%*s\" for "
                                              "this request",
                                              ngx_min(f->key_len, 64),
                                              f->key);
        }

#undef ngx_http_guard_key_is
    }

    if (ctx->cmd.op == NGX_HTTP_GUARD_OP_WEIGHT && ctx->cmd.weight == 0
        && !ctx->cmd.weight_config)
    {
        return ngx_http_guard_admin_error(r, ctx, NGX_HTTP_BAD_REQUEST,
                                          "bad_value",
                                          "\"weight\" is required, an "
                                          "integer from 1 to %d, or null "
                                          "for the configured weight",
                                          NGX_HTTP_GUARD_WEIGHT_MAX);
    }

    return NGX_OK;

wrong_type:

    return ngx_http_guard_admin_error(r, ctx, NGX_HTTP_BAD_REQUEST,
                                      "bad_value",
                                      "\"%*s\" has the wrong type",
                                      ngx_min(f->key_len, 64), f->key);
}


/* "90s", "10m", "1h" as nginx writes durations, or a number of seconds */

static ngx_int_t
ngx_http_guard_admin_duration(const ngx_http_guard_json_field_t *f,
    ngx_msec_t max, ngx_msec_t *ms)
{
    ngx_int_t  n;
    ngx_str_t  s;

    if (f->type == NGX_HTTP_GUARD_JSON_NUMBER) {
        if (!f->is_int || f->num < 1 || (uint64_t) f->num > max / 1000) {
            return NGX_ERROR;
        }

        *ms = (ngx_msec_t) f->num * 1000;
        return NGX_OK;
    }

    if (f->type != NGX_HTTP_GUARD_JSON_STRING || f->str_len == 0) {
        return NGX_ERROR;
    }

    s.data = (u_char *) f->str;
    s.len = f->str_len;

    n = ngx_parse_time(&s, 0);

    if (n == NGX_ERROR || n < 1000 || (ngx_msec_t) n > max) {
        return NGX_ERROR;
    }

    *ms = (ngx_msec_t) n;

    return NGX_OK;
}


/* If-Match: "N" or N, the version the change is based on */

static ngx_int_t
ngx_http_guard_admin_if_match(ngx_http_request_t *r,
    ngx_http_guard_admin_ctx_t *ctx)
{
    u_char      *p, *last;
    ngx_int_t    n;

#if (nginx_version >= 1003008)
    ngx_table_elt_t  *h;

    h = r->headers_in.if_match;

    if (h == NULL || ctx->path != NGX_HTTP_GUARD_PATH_ACTION) {
        return NGX_OK;
    }

    p = h->value.data;
    last = p + h->value.len;
#else
    return NGX_OK;
#endif

    if (last - p == 1 && *p == '*') {
        return NGX_OK;
    }

    if (last - p >= 2 && *p == '"' && last[-1] == '"') {
        p++;
        last--;
    }

    n = ngx_atoi(p, last - p);

    if (n == NGX_ERROR) {
        return ngx_http_guard_admin_error(r, ctx, NGX_HTTP_BAD_REQUEST,
                                          "bad_value",
                                          "If-Match must be the server's "
                                          "version as its ETag gives it, "
                                          "such as \"3\"");
    }

    ctx->cmd.if_match = (uint64_t) n;
    ctx->cmd.if_match_set = 1;

    return NGX_OK;
}


/* one change, through the state owner */

static ngx_int_t
ngx_http_guard_admin_change(ngx_http_request_t *r,
    ngx_http_guard_admin_ctx_t *ctx)
{
    ngx_int_t                    rc;
    ngx_http_guard_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_upstream_guard_module);

    if (ctx->path == NGX_HTTP_GUARD_PATH_FREEZE) {
        if (ngx_http_guard_state_freeze(gmcf, ctx->freeze, &ctx->cmd,
                                        &ctx->res)
            != NGX_OK)
        {
            return ngx_http_guard_admin_error(r, ctx, ctx->res.status,
                                              ctx->res.code, "%s",
                                              ctx->res.message);
        }

        return ngx_http_guard_admin_freeze(r, ctx);
    }

    if (ctx->path == NGX_HTTP_GUARD_PATH_OVERRIDES) {
        return ngx_http_guard_admin_revert_all(r, ctx);
    }

    if (ctx->path == NGX_HTTP_GUARD_PATH_REQUEST) {
        rc = ngx_http_guard_state_cancel(gmcf, ctx->request, &ctx->cmd,
                 ctx->principal->role >= NGX_HTTP_GUARD_ROLE_ADMIN,
                 &ctx->res);
        ctx->res.audited = 1;

        if (rc != NGX_OK) {
            return ngx_http_guard_admin_error(r, ctx, ctx->res.status,
                                              ctx->res.code, "%s",
                                              ctx->res.message);
        }

        return ngx_http_guard_admin_read_request(r, ctx);
    }

    if (ctx->path == NGX_HTTP_GUARD_PATH_APPROVE) {
        /* the change as it was asked, approved by this principal */
        ctx->cmd.op = ctx->req.op;
        ctx->cmd.weight = ctx->req.weight;
        ctx->cmd.expires = ctx->req.expires;
        ctx->cmd.request = ctx->request;
        ctx->cmd.if_match_set = 0;
        ctx->seg[4].data = (u_char *) ngx_http_guard_op_name(ctx->req.op);
        ctx->seg[4].len = ngx_strlen(ctx->seg[4].data);
    }

    rc = ngx_http_guard_state_admin(ctx->gp, &ctx->cmd, &ctx->res);

    if (rc != NGX_OK) {
        return ngx_http_guard_admin_error(r, ctx, ctx->res.status,
                                          ctx->res.code, "%s",
                                          ctx->res.message);
    }

    if (ctx->res.applied) {
        /* this worker at once; the others at their next request */
        ngx_http_guard_apply(ctx->up);
    }

    if (ctx->wait
        && ctx->cmd.op == NGX_HTTP_GUARD_OP_DRAIN
        && !ctx->cmd.dry_run
        && ctx->gp->sh->admin == NGX_HTTP_GUARD_DRAINING)
    {
        /* a long poll: answer when drained or at the timeout */

        ctx->wait_start = ngx_current_msec;
        ctx->timeout_at = ngx_current_msec + ctx->wait;

        r->read_event_handler = ngx_http_test_reading;
        r->write_event_handler = ngx_http_guard_admin_wait_handler;

        r->connection->write->delayed = 1;
        ngx_add_timer(r->connection->write, NGX_HTTP_GUARD_ADMIN_POLL);

        return NGX_DONE;
    }

    return ngx_http_guard_admin_answer_change(r, ctx, 0);
}


/* the write event's timer: is the server drained, or is time up? */

static void
ngx_http_guard_admin_wait_handler(ngx_http_request_t *r)
{
    ngx_uint_t                   timed_out;
    ngx_event_t                 *wev;
    ngx_http_guard_admin_ctx_t  *ctx;

    wev = r->connection->write;

    if (wev->delayed) {
        /* writable before the timer: wait on */
        if (ngx_handle_write_event(wev, 0) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        }

        return;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_upstream_guard_module);

    ngx_http_guard_state_drain_poll(ctx->gp);

    timed_out = ((ngx_msec_int_t) (ngx_current_msec - ctx->timeout_at) >= 0);

    if (ctx->gp->sh->admin == NGX_HTTP_GUARD_DRAINING && !timed_out) {
        wev->delayed = 1;
        ngx_add_timer(wev, NGX_HTTP_GUARD_ADMIN_POLL);
        return;
    }

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_request_empty_handler;

    if (ctx->path == NGX_HTTP_GUARD_PATH_SERVER) {
        ngx_http_finalize_request(r,
            ngx_http_guard_admin_read_server(r, ctx,
                ctx->gp->sh->admin == NGX_HTTP_GUARD_DRAINING));
        return;
    }

    ngx_http_finalize_request(r,
        ngx_http_guard_admin_answer_change(r, ctx,
            ctx->gp->sh->admin == NGX_HTTP_GUARD_DRAINING));
}


static ngx_int_t
ngx_http_guard_admin_answer_change(ngx_http_request_t *r,
    ngx_http_guard_admin_ctx_t *ctx, ngx_uint_t timed_out)
{
    uint64_t                     drain_ms;
    ngx_uint_t                   drained, admin;
    ngx_atomic_uint_t            inflight;
    ngx_http_guard_out_t         out;
    ngx_http_guard_admin_res_t  *res;
    ngx_http_guard_sh_server_t  *s;

    res = &ctx->res;
    s = ctx->gp->sh;

    /* a read of the live state: the drain may have ended meanwhile */

    admin = s->admin;
    inflight = s->inflight;
    drained = (res->applied || !ctx->cmd.dry_run)
              && admin == NGX_HTTP_GUARD_DRAINED
              && ctx->cmd.op == NGX_HTTP_GUARD_OP_DRAIN;
    drain_ms = drained && s->drained_at >= s->drain_started
               ? s->drained_at - s->drain_started : 0;

    ngx_http_guard_out_init(&out, r->pool);

    /* the operation's name as the path gives it: drain, resume... */

    if (ngx_http_guard_out_str(&out, "{\"ok\":true,\"operation\":\"")
           != NGX_OK
        || ngx_http_guard_out_bytes(&out, ctx->seg[4].data, ctx->seg[4].len)
           != NGX_OK
        || ngx_http_guard_out_printf(&out, 128,
               "\",\"dry_run\":%s,\"applied\":%s,\"allowed\":%s,"
               "\"upstream\":", ctx->cmd.dry_run ? "true" : "false",
               res->applied ? "true" : "false",
               res->pending ? "false" : "true")
           != NGX_OK
        || ngx_http_guard_out_json(&out, ctx->up->uscf->host.data,
                                   ctx->up->uscf->host.len)
           != NGX_OK
        || ngx_http_guard_out_str(&out, ",\"server\":") != NGX_OK
        || ngx_http_guard_out_json(&out, ctx->gp->peer->server.data,
                                   ctx->gp->peer->server.len)
           != NGX_OK
        || ngx_http_guard_out_str(&out, ",\"address\":") != NGX_OK
        || ngx_http_guard_out_json(&out, ctx->gp->peer->name.data,
                                   ctx->gp->peer->name.len)
           != NGX_OK
        || ngx_http_guard_out_printf(&out, 512,
               ",\"version\":%uL,\"admin_before\":\"%s\","
               "\"admin_after\":\"%s\",\"admin\":\"%s\","
               "\"pool\":{\"in_rotation_before\":%ui,"
               "\"in_rotation_after\":%ui,\"floor\":%ui,"
               "\"floor_holds\":%s},\"in_flight\":%uA,\"drained\":%s,",
               res->version,
               ngx_http_guard_admin_names[res->admin_before % 4],
               ngx_http_guard_admin_names[res->admin_after % 4],
               ngx_http_guard_admin_names[admin % 4],
               res->in_rotation_before, res->in_rotation_after, res->floor,
               res->in_rotation_after >= res->floor ? "true" : "false",
               inflight, drained ? "true" : "false")
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (drained) {
        if (ngx_http_guard_out_printf(&out, 64, "\"drain_ms\":%uL,",
                                      drain_ms)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (res->pending
        && ngx_http_guard_out_printf(&out, NGX_HTTP_GUARD_WHY_LEN + 256,
               "\"pending\":true,\"request\":%ui,\"needs\":\"%s\","
               "\"expires_ms\":%uL,",
               res->request, ngx_http_guard_role_names[res->needs % 4],
               res->until)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (res->pending
        && (ngx_http_guard_out_str(&out, "\"why\":") != NGX_OK
            || ngx_http_guard_out_json(&out, res->why,
                                       ngx_strlen(res->why))
               != NGX_OK
            || ngx_http_guard_out_str(&out, ",") != NGX_OK))
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->cmd.request
        && (ngx_http_guard_out_printf(&out, 64, "\"request\":%ui,"
                                      "\"requester\":", ctx->cmd.request)
               != NGX_OK
            || ngx_http_guard_out_json(&out, ctx->req.requester,
                                       ngx_strlen(ctx->req.requester))
               != NGX_OK
            || ngx_http_guard_out_str(&out, ",\"approver\":") != NGX_OK
            || ngx_http_guard_out_json(&out, ctx->cmd.principal.data,
                                       ctx->cmd.principal.len)
               != NGX_OK
            || ngx_http_guard_out_str(&out, ",") != NGX_OK))
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_guard_out_printf(&out, 128,
            "\"waited_ms\":%M,\"timed_out\":%s,\"message\":",
            ctx->wait_start ? ngx_current_msec - ctx->wait_start : 0,
            timed_out ? "true" : "false")
           != NGX_OK
        || ngx_http_guard_out_json(&out, res->message,
                                   ngx_strlen(res->message))
           != NGX_OK
        || ngx_http_guard_out_str(&out, "}\n") != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_guard_admin_answer(r, ctx, &out,
                                       res->pending && !ctx->cmd.dry_run
                                       ? NGX_HTTP_ACCEPTED : NGX_HTTP_OK);
}


/* GET: a list, an upstream, a server (which may long-poll), the rest */

static ngx_int_t
ngx_http_guard_admin_read(ngx_http_request_t *r,
    ngx_http_guard_admin_ctx_t *ctx)
{
    ngx_str_t                        upstream, state, wait, timeout, name;
    ngx_uint_t                       i, n;
    ngx_http_guard_out_t             out;
    ngx_http_guard_snap_t            snap;
    ngx_http_guard_snap_upstream_t  *su;

    switch (ctx->path) {

    case NGX_HTTP_GUARD_PATH_OVERRIDES:
        return ngx_http_guard_admin_overrides(r, ctx);

    case NGX_HTTP_GUARD_PATH_FREEZE:
        return ngx_http_guard_admin_freeze(r, ctx);

    case NGX_HTTP_GUARD_PATH_WHOAMI:
        return ngx_http_guard_admin_whoami(r, ctx);

    case NGX_HTTP_GUARD_PATH_REQUESTS:
        return ngx_http_guard_admin_requests(r, ctx);

    case NGX_HTTP_GUARD_PATH_REQUEST:
        return ngx_http_guard_admin_read_request(r, ctx);

    case NGX_HTTP_GUARD_PATH_SERVER:

        if (ngx_http_arg(r, (u_char *) "wait", 4, &wait) != NGX_OK) {
            return ngx_http_guard_admin_read_server(r, ctx, 0);
        }

        if (wait.len != 7 || ngx_strncmp(wait.data, "drained", 7) != 0) {
            return ngx_http_guard_admin_error(r, ctx, NGX_HTTP_BAD_REQUEST,
                                              "bad_value",
                                              "wait=drained is the only "
                                              "state a read can wait for");
        }

        ctx->wait = 30000;

        if (ngx_http_arg(r, (u_char *) "timeout", 7, &timeout) == NGX_OK) {
            ngx_int_t  ms;

            ms = ngx_parse_time(&timeout, 0);

            if (ms == NGX_ERROR || ms < 1000
                || ms > NGX_HTTP_GUARD_ADMIN_WAIT_MAX)
            {
                return ngx_http_guard_admin_error(r, ctx,
                           NGX_HTTP_BAD_REQUEST, "bad_value",
                           "timeout must be a duration from 1s to 300s");
            }

            ctx->wait = (ngx_msec_t) ms;
        }

        ngx_http_guard_state_drain_poll(ctx->gp);

        if (ctx->gp->sh == NULL
            || ctx->gp->sh->admin != NGX_HTTP_GUARD_DRAINING)
        {
            return ngx_http_guard_admin_read_server(r, ctx, 0);
        }

        ctx->wait_start = ngx_current_msec;
        ctx->timeout_at = ngx_current_msec + ctx->wait;

        r->main->count++;
        r->read_event_handler = ngx_http_test_reading;
        r->write_event_handler = ngx_http_guard_admin_wait_handler;
        r->connection->write->delayed = 1;
        ngx_add_timer(r->connection->write, NGX_HTTP_GUARD_ADMIN_POLL);

        return NGX_DONE;

    default:
        break;
    }

    /* the status report's JSON, with what the principal may see */

    ngx_str_null(&upstream);
    ngx_str_null(&state);

    if (ctx->path == NGX_HTTP_GUARD_PATH_UPSTREAM) {
        upstream = ctx->seg[1];
    }

    ngx_memzero(&snap, sizeof(ngx_http_guard_snap_t));

    if (ngx_http_guard_status_snapshot(r, &snap, &upstream, &state, 0)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    n = 0;
    su = snap.upstreams;

    for (i = 0; i < snap.nupstreams; i++) {
        if (ngx_http_guard_auth_may(ctx->principal, su[i].name)) {
            su[n++] = su[i];
        }
    }

    snap.nupstreams = n;

    /* and only the requests of those upstreams */

    n = 0;

    for (i = 0; i < snap.nrequests; i++) {
        name.data = snap.requests[i].upstream;
        name.len = ngx_strlen(snap.requests[i].upstream);

        if (ngx_http_guard_auth_may(ctx->principal, &name)) {
            snap.requests[n++] = snap.requests[i];
        }
    }

    snap.nrequests = n;

    ngx_http_guard_out_init(&out, r->pool);

    if (ngx_http_guard_status_json(&snap, &out) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_guard_admin_answer(r, ctx, &out, NGX_HTTP_OK);
}


/* one server, as in the status report, with its version as the ETag */

static ngx_int_t
ngx_http_guard_admin_read_server(ngx_http_request_t *r,
    ngx_http_guard_admin_ctx_t *ctx, ngx_uint_t timed_out)
{
    u_char                          *p;
    ngx_str_t                        state;
    ngx_uint_t                       i;
    ngx_http_guard_out_t             out;
    ngx_http_guard_snap_t            snap;
    ngx_http_guard_snap_server_t    *ss;
    ngx_http_guard_snap_upstream_t  *su;
    u_char                           etag[NGX_INT64_LEN + 2];

    ngx_str_null(&state);
    ngx_memzero(&snap, sizeof(ngx_http_guard_snap_t));

    if (ngx_http_guard_status_snapshot(r, &snap, &ctx->seg[1], &state, 0)
        != NGX_OK
        || snap.nupstreams != 1)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    su = &snap.upstreams[0];
    ss = NULL;

    for (i = 0; i < su->nservers; i++) {
        if (su->servers[i].gp == ctx->gp) {
            ss = &su->servers[i];
            break;
        }
    }

    if (ss == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_guard_out_init(&out, r->pool);

    if (ngx_http_guard_out_str(&out, "{\"ok\":true,\"upstream\":") != NGX_OK
        || ngx_http_guard_out_json(&out, su->name->data, su->name->len)
           != NGX_OK
        || ngx_http_guard_out_printf(&out, 128,
               ",\"floor\":%ui,\"in_rotation\":%ui,\"floor_holds\":%s,"
               "\"waited_ms\":%M,\"timed_out\":%s,\"server\":",
               su->floor, su->in_rotation,
               su->in_rotation >= su->floor ? "true" : "false",
               ctx->wait_start ? ngx_current_msec - ctx->wait_start : 0,
               timed_out ? "true" : "false")
           != NGX_OK
        || ngx_http_guard_status_json_server(ss, &out) != NGX_OK
        || ngx_http_guard_out_str(&out, "}\n") != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_slprintf(etag, etag + sizeof(etag), "\"%uL\"",
                     ss->admin_version);

    if (ngx_http_guard_status_add_header(r, "ETag", etag, p - etag)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_guard_admin_answer(r, ctx, &out, NGX_HTTP_OK);
}


/* every override in force: who set it, when, why, until when */

static ngx_int_t
ngx_http_guard_admin_overrides(ngx_http_request_t *r,
    ngx_http_guard_admin_ctx_t *ctx)
{
    ngx_uint_t                     i, j, first;
    ngx_slab_pool_t               *shpool;
    ngx_http_guard_sh_t           *sh;
    ngx_http_guard_peer_t         *gp;
    ngx_http_guard_out_t           out;
    ngx_http_guard_upstream_t     *up;
    ngx_http_guard_main_conf_t    *gmcf;
    ngx_http_guard_sh_server_t     s;
    ngx_http_guard_sh_override_t   freeze;
    ngx_uint_t                     frozen;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_upstream_guard_module);
    sh = ngx_http_guard_shm_root(gmcf, &shpool);

    ngx_shmtx_lock(&shpool->mutex);
    frozen = sh->frozen;
    freeze = sh->freeze;
    ngx_shmtx_unlock(&shpool->mutex);

    ngx_http_guard_out_init(&out, r->pool);

    if (ngx_http_guard_out_printf(&out, 64,
            "{\"ok\":true,\"frozen\":%s,\"overrides\":[",
            frozen ? "true" : "false")
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    first = 1;
    up = gmcf->upstreams.elts;

    for (i = 0; i < gmcf->upstreams.nelts; i++) {

        if (up[i].sh == NULL
            || !ngx_http_guard_auth_may(ctx->principal, &up[i].uscf->host))
        {
            continue;
        }

        for (j = 0; j < up[i].npeers; j++) {
            gp = &up[i].peers[j];

            if (gp->sh == NULL || !gp->check_owner) {
                continue;
            }

            ngx_shmtx_lock(&shpool->mutex);
            s = *gp->sh;
            ngx_shmtx_unlock(&shpool->mutex);

            if (s.ov_admin.since) {
                if (ngx_http_guard_admin_override_head(&out, first,
                                                       &up[i].uscf->host,
                                                       &gp->peer->server)
                       != NGX_OK
                    || ngx_http_guard_out_printf(&out, 64,
                           ",\"admin\":\"%s\",",
                           ngx_http_guard_admin_names[s.admin % 4])
                       != NGX_OK
                    || ngx_http_guard_admin_override_json(&out, "admin",
                                                          &s.ov_admin)
                       != NGX_OK)
                {
                    return NGX_HTTP_INTERNAL_SERVER_ERROR;
                }

                first = 0;
            }

            if (s.ov_weight.since) {
                if (ngx_http_guard_admin_override_head(&out, first,
                                                       &up[i].uscf->host,
                                                       &gp->peer->server)
                       != NGX_OK
                    || ngx_http_guard_out_printf(&out, 64,
                           ",\"weight\":%ui,", s.admin_weight)
                       != NGX_OK
                    || ngx_http_guard_admin_override_json(&out, "weight",
                                                          &s.ov_weight)
                       != NGX_OK)
                {
                    return NGX_HTTP_INTERNAL_SERVER_ERROR;
                }

                first = 0;
            }
        }
    }

    if (ngx_http_guard_out_str(&out, "],\"freeze\":") != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (frozen) {
        if (ngx_http_guard_out_str(&out, "{") != NGX_OK
            || ngx_http_guard_admin_override_json(&out, "freeze", &freeze)
               != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

    } else if (ngx_http_guard_out_str(&out, "null") != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_guard_out_str(&out, "}\n") != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_guard_admin_answer(r, ctx, &out, NGX_HTTP_OK);
}


/* GET /pending: every request the principal may see, newest first */

static ngx_int_t
ngx_http_guard_admin_requests(ngx_http_request_t *r,
    ngx_http_guard_admin_ctx_t *ctx)
{
    ngx_str_t                     name;
    ngx_uint_t                    i, j, n, first;
    ngx_http_guard_out_t          out;
    ngx_http_guard_main_conf_t   *gmcf;
    ngx_http_guard_sh_request_t  *all, tmp;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_upstream_guard_module);

    all = ngx_palloc(r->pool, NGX_HTTP_GUARD_REQUESTS
                              * sizeof(ngx_http_guard_sh_request_t));
    if (all == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_guard_state_requests(gmcf, all);

    n = 0;

    for (i = 0; i < NGX_HTTP_GUARD_REQUESTS; i++) {
        name.data = all[i].upstream;
        name.len = ngx_strlen(all[i].upstream);

        if (all[i].id && ngx_http_guard_auth_may(ctx->principal, &name)) {
            all[n++] = all[i];
        }
    }

    for (i = 1; i < n; i++) {
        for (j = i; j > 0 && all[j].id > all[j - 1].id; j--) {
            tmp = all[j];
            all[j] = all[j - 1];
            all[j - 1] = tmp;
        }
    }

    ngx_http_guard_out_init(&out, r->pool);

    if (ngx_http_guard_out_str(&out, "{\"ok\":true,\"requests\":[")
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    first = 1;

    for (i = 0; i < n; i++) {
        if ((!first && ngx_http_guard_out_str(&out, ",") != NGX_OK)
            || ngx_http_guard_status_json_request(&all[i], &out) != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        first = 0;
    }

    if (ngx_http_guard_out_str(&out, "]}\n") != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_guard_admin_answer(r, ctx, &out, NGX_HTTP_OK);
}


/* GET /pending/{id}, and the answer to its cancel */

static ngx_int_t
ngx_http_guard_admin_read_request(ngx_http_request_t *r,
    ngx_http_guard_admin_ctx_t *ctx)
{
    ngx_http_guard_out_t         out;
    ngx_http_guard_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_upstream_guard_module);

    if (ngx_http_guard_state_request(gmcf, ctx->request, &ctx->req)
        != NGX_OK)
    {
        return ngx_http_guard_admin_error(r, ctx, NGX_HTTP_NOT_FOUND,
                                          "unknown_request", "no request %ui",
                                          ctx->request);
    }

    ngx_http_guard_out_init(&out, r->pool);

    if (ngx_http_guard_out_str(&out, "{\"ok\":true,\"request\":") != NGX_OK
        || ngx_http_guard_status_json_request(&ctx->req, &out) != NGX_OK
        || ngx_http_guard_out_str(&out, "}\n") != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_guard_admin_answer(r, ctx, &out, NGX_HTTP_OK);
}


/* an entry of the overrides list up to its server */

static ngx_int_t
ngx_http_guard_admin_override_head(ngx_http_guard_out_t *out,
    ngx_uint_t first, ngx_str_t *upstream, ngx_str_t *server)
{
    if ((!first && ngx_http_guard_out_str(out, ",") != NGX_OK)
        || ngx_http_guard_out_str(out, "{\"upstream\":") != NGX_OK
        || ngx_http_guard_out_json(out, upstream->data, upstream->len)
           != NGX_OK
        || ngx_http_guard_out_str(out, ",\"server\":") != NGX_OK
        || ngx_http_guard_out_json(out, server->data, server->len) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* ... "kind":..,"by":..,"reason":..,"since_ms":..,"until_ms":..} */

static ngx_int_t
ngx_http_guard_admin_override_json(ngx_http_guard_out_t *out,
    const char *kind, ngx_http_guard_sh_override_t *ov)
{
    if (ngx_http_guard_out_printf(out, 64, "\"kind\":\"%s\",\"by\":", kind)
           != NGX_OK
        || ngx_http_guard_out_json(out, ov->by,
                                   ngx_strnlen(ov->by,
                                               NGX_HTTP_GUARD_PRINCIPAL_LEN))
           != NGX_OK
        || ngx_http_guard_out_str(out, ",\"reason\":") != NGX_OK
        || ngx_http_guard_out_json(out, ov->reason,
                                   ngx_strnlen(ov->reason,
                                               NGX_HTTP_GUARD_REASON_LEN))
           != NGX_OK
        || ngx_http_guard_out_printf(out, 64, ",\"since_ms\":%uL",
                                     ov->since)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ov->until) {
        return ngx_http_guard_out_printf(out, 64, ",\"until_ms\":%uL}",
                                         ov->until);
    }

    return ngx_http_guard_out_str(out, ",\"until_ms\":null}");
}


/* DELETE /overrides: revert each (that the principal may touch) */

static ngx_int_t
ngx_http_guard_admin_revert_all(ngx_http_request_t *r,
    ngx_http_guard_admin_ctx_t *ctx)
{
    ngx_uint_t                   i, j, reverted, refused;
    ngx_http_guard_peer_t       *gp;
    ngx_http_guard_out_t         out;
    ngx_http_guard_upstream_t   *up;
    ngx_http_guard_main_conf_t  *gmcf;
    ngx_http_guard_admin_res_t   res;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_upstream_guard_module);

    ngx_http_guard_out_init(&out, r->pool);

    if (ngx_http_guard_out_printf(&out, 64, "{\"ok\":true,\"dry_run\":%s,"
                                  "\"reverted\":[",
                                  ctx->cmd.dry_run ? "true" : "false")
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    reverted = 0;
    refused = 0;
    up = gmcf->upstreams.elts;

    for (i = 0; i < gmcf->upstreams.nelts; i++) {

        if (up[i].sh == NULL
            || !ngx_http_guard_auth_may(ctx->principal, &up[i].uscf->host))
        {
            continue;
        }

        for (j = 0; j < up[i].npeers; j++) {
            gp = &up[i].peers[j];

            if (gp->sh == NULL || !gp->check_owner
                || (gp->sh->ov_admin.since == 0
                    && gp->sh->ov_weight.since == 0))
            {
                continue;
            }

            ctx->res.audited = 1;       /* each change has its line */

            if (ngx_http_guard_state_admin(gp, &ctx->cmd, &res) != NGX_OK) {
                refused++;
                ngx_memcpy(&ctx->res, &res, sizeof(res));
                continue;
            }

            if (res.applied) {
                ngx_http_guard_apply(&up[i]);
            }

            if ((reverted && ngx_http_guard_out_str(&out, ",") != NGX_OK)
                || ngx_http_guard_out_str(&out, "{\"upstream\":") != NGX_OK
                || ngx_http_guard_out_json(&out, up[i].uscf->host.data,
                                           up[i].uscf->host.len)
                   != NGX_OK
                || ngx_http_guard_out_str(&out, ",\"server\":") != NGX_OK
                || ngx_http_guard_out_json(&out, gp->peer->server.data,
                                           gp->peer->server.len)
                   != NGX_OK
                || ngx_http_guard_out_printf(&out, 64,
                       ",\"admin_before\":\"%s\",\"admin_after\":\"%s\"}",
                       ngx_http_guard_admin_names[res.admin_before % 4],
                       ngx_http_guard_admin_names[res.admin_after % 4])
                   != NGX_OK)
            {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            reverted++;
        }
    }

    if (refused && reverted == 0) {
        return ngx_http_guard_admin_error(r, ctx, ctx->res.status,
                                          ctx->res.code, "%s",
                                          ctx->res.message);
    }

    if (ngx_http_guard_out_printf(&out, 64, "],\"refused\":%ui}\n", refused)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_guard_admin_answer(r, ctx, &out, NGX_HTTP_OK);
}


/* the freeze switch, as it is (after a change, if any) */

static ngx_int_t
ngx_http_guard_admin_freeze(ngx_http_request_t *r,
    ngx_http_guard_admin_ctx_t *ctx)
{
    ngx_uint_t                     frozen;
    ngx_slab_pool_t               *shpool;
    ngx_http_guard_sh_t           *sh;
    ngx_http_guard_out_t           out;
    ngx_http_guard_main_conf_t    *gmcf;
    ngx_http_guard_sh_override_t   freeze;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_upstream_guard_module);
    sh = ngx_http_guard_shm_root(gmcf, &shpool);

    ngx_shmtx_lock(&shpool->mutex);
    frozen = sh->frozen;
    freeze = sh->freeze;
    ngx_shmtx_unlock(&shpool->mutex);

    ngx_http_guard_out_init(&out, r->pool);

    if (ngx_http_guard_out_printf(&out, 64, "{\"ok\":true,\"frozen\":%s",
                                  frozen ? "true" : "false")
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (frozen) {
        if (ngx_http_guard_out_str(&out, ",\"freeze\":{") != NGX_OK
            || ngx_http_guard_admin_override_json(&out, "freeze", &freeze)
               != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (ngx_http_guard_out_str(&out, "}\n") != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_guard_admin_answer(r, ctx, &out, NGX_HTTP_OK);
}


static ngx_int_t
ngx_http_guard_admin_whoami(ngx_http_request_t *r,
    ngx_http_guard_admin_ctx_t *ctx)
{
    ngx_str_t             *pat;
    ngx_uint_t             i;
    ngx_http_guard_out_t   out;

    ngx_http_guard_out_init(&out, r->pool);

    if (ngx_http_guard_out_str(&out, "{\"ok\":true,\"principal\":") != NGX_OK
        || ngx_http_guard_out_json(&out, ctx->principal->name.data,
                                   ctx->principal->name.len)
           != NGX_OK
        || ngx_http_guard_out_printf(&out, 64,
               ",\"role\":\"%s\",\"upstreams\":[",
               ngx_http_guard_role_names[ctx->principal->role % 4])
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    pat = ctx->principal->upstreams.elts;

    for (i = 0; i < ctx->principal->upstreams.nelts; i++) {
        if ((i && ngx_http_guard_out_str(&out, ",") != NGX_OK)
            || ngx_http_guard_out_json(&out, pat[i].data, pat[i].len)
               != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (ngx_http_guard_out_str(&out, "]}\n") != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_guard_admin_answer(r, ctx, &out, NGX_HTTP_OK);
}


/*
 * A worker of the old binary during a binary upgrade: a change it made
 * would live in its zone and reach the state file after the new nginx
 * read it (in its init_module), so the new nginx would never have it.
 * USR2 renames the pid file to "<pid>.oldbin" before the new binary runs
 * (ngx_exec_new_binary()), and back if it exits (ngx_reap_children());
 * the old master deletes it when it exits.  So our master's pid in
 * that file says, with no window, that a new binary runs or starts.
 * Read at each change only, a few bytes.  A single process (no master)
 * is never upgraded: nginx ignores USR2 there.
 */

static ngx_uint_t
ngx_http_guard_admin_upgrading(void)
{
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_int_t         pid;
    ngx_core_conf_t  *ccf;
    u_char            buf[NGX_INT64_LEN + 2];

    if (ngx_process != NGX_PROCESS_WORKER) {
        return 0;
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(ngx_cycle->conf_ctx,
                                           ngx_core_module);

    if (ccf == NULL || ccf->oldpid.data == NULL) {
        return 0;
    }

    fd = ngx_open_file(ccf->oldpid.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        return 0;           /* no upgrade, or a file we cannot read */
    }

    n = ngx_read_fd(fd, buf, sizeof(buf));

    (void) ngx_close_file(fd);

    while (n > 0 && (buf[n - 1] == LF || buf[n - 1] == CR)) {
        n--;
    }

    if (n <= 0) {
        return 0;
    }

    pid = ngx_atoi(buf, n);

    return pid != NGX_ERROR && (ngx_pid_t) pid == ngx_parent;
}


/*
 * {"ok":false,"code":..,"error":..}: every refusal, one shape.  Returns
 * NGX_DECLINED, "answered": what sending it returned is in ctx->rc.
 */

static ngx_int_t
ngx_http_guard_admin_error(ngx_http_request_t *r,
    ngx_http_guard_admin_ctx_t *ctx, ngx_uint_t status, const char *code,
    const char *fmt, ...)
{
    u_char   *p;
    va_list   args;
    u_char    msg[NGX_HTTP_GUARD_MESSAGE_LEN];

    va_start(args, fmt);
    p = ngx_vslprintf(msg, msg + sizeof(msg), fmt, args);
    va_end(args);

    ctx->code = code;
    ctx->rc = ngx_http_guard_admin_error_send(r, ctx, status, code, msg,
                                              p - msg);

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_guard_admin_error_send(ngx_http_request_t *r,
    ngx_http_guard_admin_ctx_t *ctx, ngx_uint_t status, const char *code,
    u_char *msg, size_t len)
{
    ngx_http_guard_out_t   out;

    ngx_http_guard_out_init(&out, r->pool);

    if (ngx_http_guard_out_printf(&out, 128, "{\"ok\":false,\"code\":\"%s\","
                                  "\"error\":", code ? code : "internal")
           != NGX_OK
        || ngx_http_guard_out_json(&out, msg, len) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->up) {
        if (ngx_http_guard_out_str(&out, ",\"upstream\":") != NGX_OK
            || ngx_http_guard_out_json(&out, ctx->up->uscf->host.data,
                                       ctx->up->uscf->host.len)
               != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (ctx->gp) {
        if (ngx_http_guard_out_str(&out, ",\"server\":") != NGX_OK
            || ngx_http_guard_out_json(&out, ctx->gp->peer->server.data,
                                       ctx->gp->peer->server.len)
               != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (ctx->res.code && ctx->res.floor) {
        if (ngx_http_guard_out_printf(&out, 128,
                ",\"pool\":{\"in_rotation_before\":%ui,"
                "\"in_rotation_after\":%ui,\"floor\":%ui}",
                ctx->res.in_rotation_before, ctx->res.in_rotation_after,
                ctx->res.floor)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (ngx_http_guard_out_str(&out, "}\n") != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_guard_admin_answer(r, ctx, &out, status);
}


/*
 * Every answer of the admin API, allowed or refused, leaves here, with its
 * audit line (the state owner writes those of the changes it decides).
 */

static ngx_int_t
ngx_http_guard_admin_answer(ngx_http_request_t *r,
    ngx_http_guard_admin_ctx_t *ctx, ngx_http_guard_out_t *out,
    ngx_uint_t status)
{
    /* If-Match is ours: nginx's own test of it would answer 412 */
    r->disable_not_modified = 1;

    ngx_http_guard_admin_audit(r, ctx, status,
                               (status < NGX_HTTP_SPECIAL_RESPONSE) ? NULL
                               : ctx->res.code ? ctx->res.code : ctx->code);

    return ngx_http_guard_status_send(r, out, status, "application/json");
}


/*
 * The request is freed without an answer of ours: its body never came
 * whole (the client went away, or was too slow), or nginx refused it
 * first.  Nothing was changed; the call is audited as refused.
 */

static void
ngx_http_guard_admin_cleanup(void *data)
{
    ngx_http_request_t  *r = data;

    ngx_uint_t                   status;
    const char                  *code;
    ngx_http_guard_admin_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_upstream_guard_module);

    if (ctx == NULL || ctx->res.audited) {
        return;
    }

    status = r->headers_out.status ? r->headers_out.status
                                   : NGX_HTTP_CLOSE;

    switch (status) {

    case NGX_HTTP_REQUEST_TIME_OUT:
        code = "body_timeout";
        break;

    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
        code = "body_too_large";
        break;

    default:
        code = "aborted";
    }

    ngx_http_guard_admin_audit(r, ctx, ngx_max(status,
                                               NGX_HTTP_SPECIAL_RESPONSE),
                               code);
}


/* the call's line, unless the state owner wrote it */

static void
ngx_http_guard_admin_audit(ngx_http_request_t *r,
    ngx_http_guard_admin_ctx_t *ctx, ngx_uint_t status, const char *code)
{
    ngx_http_guard_audit_rec_t   rec;
    ngx_http_guard_main_conf_t  *gmcf;

    if (ctx->res.audited) {
        return;
    }

    ctx->res.audited = 1;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_upstream_guard_module);

    ngx_memzero(&rec, sizeof(ngx_http_guard_audit_rec_t));

    if (ctx->principal) {
        rec.principal = ctx->principal->name;

    } else {
        ngx_str_set(&rec.principal, "-");
    }

    rec.client = r->connection->addr_text;
    rec.op = ctx->op;

    if (ctx->path == NGX_HTTP_GUARD_PATH_UPSTREAM
        || ctx->path == NGX_HTTP_GUARD_PATH_SERVER
        || ctx->path == NGX_HTTP_GUARD_PATH_ACTION
        || ctx->req.id)
    {
        /* as asked (or as the request names them) */
        rec.upstream = ctx->seg[1];
        rec.server = ctx->seg[3];
    }

    if (ctx->up) {
        rec.upstream = ctx->up->uscf->host;
    }

    if (ctx->gp) {
        rec.server = ctx->gp->peer->server;
    }

    rec.result = (status >= NGX_HTTP_SPECIAL_RESPONSE) ? "refused"
                 : (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) ? "read"
                 : "unchanged";
    rec.code = code;
    rec.reason = ctx->cmd.reason;
    rec.request = ctx->request;
    rec.detail.data = r->uri.data;
    rec.detail.len = ngx_min(r->uri.len, 256);

    (void) ngx_http_guard_audit(gmcf, &rec);
}


