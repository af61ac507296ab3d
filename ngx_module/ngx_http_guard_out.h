
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * Output built in a chain of buffers: every write reserves the room it
 * needs first, so nothing is ever truncated, whatever the number of
 * servers or the names.  Escapers for JSON strings, Prometheus label
 * values and HTML text.
 */


#ifndef _NGX_HTTP_GUARD_OUT_H_INCLUDED_
#define _NGX_HTTP_GUARD_OUT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


typedef struct {
    ngx_pool_t                  *pool;
    ngx_chain_t                 *first;
    ngx_chain_t                **last;
    ngx_buf_t                   *b;
} ngx_http_guard_out_t;


void ngx_http_guard_out_init(ngx_http_guard_out_t *out, ngx_pool_t *pool);

/* room for n bytes at out->b->last; the caller moves out->b->last */
u_char *ngx_http_guard_out_reserve(ngx_http_guard_out_t *out, size_t n);

ngx_int_t ngx_http_guard_out_str(ngx_http_guard_out_t *out, const char *s);
ngx_int_t ngx_http_guard_out_bytes(ngx_http_guard_out_t *out, u_char *s,
    size_t len);

/* printf into the chain; the result must fit in "max" bytes */
ngx_int_t ngx_http_guard_out_printf(ngx_http_guard_out_t *out, size_t max,
    const char *fmt, ...);

/*
 * The JSON, Prometheus and HTML escapers replace each byte that is not
 * part of well-formed UTF-8 with U+FFFD, so that a name with invalid
 * bytes can never break the document.
 */

/* a quoted JSON string */
ngx_int_t ngx_http_guard_out_json(ngx_http_guard_out_t *out, u_char *s,
    size_t len);

/* a Prometheus label value (without quotes): \\, \" and \n escaped */
ngx_int_t ngx_http_guard_out_prom(ngx_http_guard_out_t *out, u_char *s,
    size_t len);

/* HTML text or attribute value: & < > " ' escaped, controls as '?' */
ngx_int_t ngx_http_guard_out_html(ngx_http_guard_out_t *out, u_char *s,
    size_t len);

/* a CSV field: quoted, quotes doubled, when it has a comma, quote or EOL */
ngx_int_t ngx_http_guard_out_csv(ngx_http_guard_out_t *out, ngx_str_t *s);

off_t ngx_http_guard_out_size(ngx_http_guard_out_t *out);


#endif /* _NGX_HTTP_GUARD_OUT_H_INCLUDED_ */
