
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


/*
 * Memory a process keeps from one report to the next: a big report
 * touches megabytes, and memory fresh from the system costs a page fault
 * per page (more than the rendering itself, in a virtual machine).  A
 * scratch area for the snapshot and the labels (reset by each report,
 * grown to what the last one needed) and the output buffers of reports
 * already sent, up to a cap.  Per process, in the main configuration.
 */
typedef struct {
    u_char                      *scratch;
    size_t                       size;
    size_t                       used;
    size_t                       need;      /* by this report */
    ngx_chain_t                 *free;      /* buffers to reuse */
    ngx_uint_t                   nfree;
} ngx_http_guard_out_cache_t;


typedef struct ngx_http_guard_out_s  ngx_http_guard_out_t;

/*
 * A report sent as it is written: called with the chain so far each time
 * a buffer is full, so that the client takes it while the next one is
 * written.  The chain is then the caller's; writing goes on in a new
 * buffer.
 */
typedef ngx_int_t (*ngx_http_guard_out_flush_pt)(ngx_http_guard_out_t *out);

struct ngx_http_guard_out_s {
    ngx_pool_t                  *pool;
    ngx_chain_t                 *first;
    ngx_chain_t                **last;
    ngx_buf_t                   *b;
    ngx_http_guard_out_cache_t  *cache;     /* NULL: the pool only */
    ngx_chain_t                **taken;     /* buffers from the cache */
    ngx_http_guard_out_flush_pt  flush;     /* NULL: all at the end */
    void                        *data;      /* the flush's */
    unsigned                     flushed:1;
};


void ngx_http_guard_out_init(ngx_http_guard_out_t *out, ngx_pool_t *pool);

/*
 * Takes scratch memory and output buffers from the cache, and gives the
 * buffers back when the pool (the request's) is destroyed: after the
 * answer is sent.  One report at a time per process: the scratch is
 * reset here.
 */
ngx_int_t ngx_http_guard_out_use_cache(ngx_http_guard_out_t *out,
    ngx_http_guard_out_cache_t *cache);

/*
 * Frees what the cache keeps (a cleanup of the pool that holds it, so
 * that a process leaves nothing behind at exit or with an old cycle).
 */
void ngx_http_guard_out_cache_free(void *data);

/* memory for the time of one report: the scratch area, else the pool */
void *ngx_http_guard_out_alloc(ngx_http_guard_out_t *out, size_t size);

/* room for n bytes at out->b->last; the caller moves out->b->last */
u_char *ngx_http_guard_out_reserve(ngx_http_guard_out_t *out, size_t n);

ngx_int_t ngx_http_guard_out_str(ngx_http_guard_out_t *out, const char *s);
ngx_int_t ngx_http_guard_out_bytes(ngx_http_guard_out_t *out, u_char *s,
    size_t len);

/* printf into the chain; the result must fit in "max" bytes */
ngx_int_t ngx_http_guard_out_printf(ngx_http_guard_out_t *out, size_t max,
    const char *fmt, ...);

/*
 * printf into a fixed buffer of "size" bytes: what does not fit is cut,
 * and the string always ends with its NUL (ngx_snprintf drops a "%Z"
 * that does not fit); returns that NUL's address
 */
u_char *ngx_http_guard_snprintz(u_char *buf, size_t size, const char *fmt,
    ...);
u_char *ngx_http_guard_vsnprintz(u_char *buf, size_t size, const char *fmt,
    va_list args);

/*
 * The JSON, Prometheus and HTML escapers replace each byte that is not
 * part of well-formed UTF-8 with U+FFFD, so that a name with invalid
 * bytes can never break the document.
 */

/* a quoted JSON string */
ngx_int_t ngx_http_guard_out_json(ngx_http_guard_out_t *out, u_char *s,
    size_t len);

/* HTML text or attribute value: & < > " ' escaped, controls as '?' */
ngx_int_t ngx_http_guard_out_html(ngx_http_guard_out_t *out, u_char *s,
    size_t len);

/* a CSV field: quoted, quotes doubled, when it has a comma, quote or EOL */
ngx_int_t ngx_http_guard_out_csv(ngx_http_guard_out_t *out, ngx_str_t *s);

off_t ngx_http_guard_out_size(ngx_http_guard_out_t *out);

/*
 * Writers into room already reserved (ngx_http_guard_out_reserve): each
 * returns the end of what it wrote.  The renderers reserve what a whole
 * row can take once, then write without further checks.
 */

#define ngx_http_guard_put_lit(p, s)  ngx_cpymem(p, s, sizeof(s) - 1)

/* at most NGX_INT64_LEN bytes */
u_char *ngx_http_guard_put_uint(u_char *p, uint64_t n);

/* ms (or thousandths) as a decimal with three places: 12.345 */
u_char *ngx_http_guard_put_milli(u_char *p, uint64_t ms);

/* at most len * 6 + 2 bytes */
u_char *ngx_http_guard_put_json(u_char *p, u_char *s, size_t len);

/*
 * A Prometheus label value (no quotes): \\, \" and \n escaped; at most
 * len * 3 bytes
 */
u_char *ngx_http_guard_put_prom(u_char *p, u_char *s, size_t len);

/* at most len * 6 bytes */
u_char *ngx_http_guard_put_html(u_char *p, u_char *s, size_t len);


#endif /* _NGX_HTTP_GUARD_OUT_H_INCLUDED_ */
