
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * Chained output and escapers, see ngx_http_guard_out.h.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_guard_out.h"


/* a small answer takes one small buffer; a report, few big ones */
#define NGX_HTTP_GUARD_OUT_FIRST  4096
#define NGX_HTTP_GUARD_OUT_CHUNK  65536


/* output buffers kept for the next report: 16 MB */
#define NGX_HTTP_GUARD_OUT_KEEP   256


static ngx_int_t ngx_http_guard_utf8(u_char *p, u_char *end);
static u_char *ngx_http_guard_put_utf8(u_char *p, u_char **sp, u_char *end,
    ngx_str_t *bad);
static size_t ngx_http_guard_plain(u_char *s, size_t len, uint32_t *map);
static void ngx_http_guard_out_give_back(void *data);
static ngx_buf_t *ngx_http_guard_out_lend(ngx_http_guard_out_t *out);
static void ngx_http_guard_out_buf_init(ngx_buf_t *b, u_char *mem);


typedef struct {
    ngx_http_guard_out_cache_t  *cache;
    ngx_chain_t                 *taken;
} ngx_http_guard_out_loan_t;


/* what stands for an ill-formed UTF-8 sequence: U+FFFD */
static ngx_str_t  ngx_http_guard_fffd = ngx_string("\xef\xbf\xbd");
static ngx_str_t  ngx_http_guard_json_fffd = ngx_string("\\ufffd");


/*
 * The bytes each escaper copies as they are, one bit each (as nginx's
 * ngx_escape_uri() keeps its tables): printable ASCII but the ones it
 * escapes; every byte from 0x7f up goes the slow way, for its UTF-8 check.
 */

static uint32_t  ngx_http_guard_json_plain[] = {
    0x00000000, /* 0x00-0x1f: controls */
    0xfffffffb, /* 0x20-0x3f: all but '"' */
    0xefffffff, /* 0x40-0x5f: all but '\\' */
    0x7fffffff, /* 0x60-0x7f: all but DEL */
    0, 0, 0, 0
};

static uint32_t  ngx_http_guard_prom_plain[] = {
    0xfffffbff, /* 0x00-0x1f: all but '\n' */
    0xfffffffb, /* 0x20-0x3f: all but '"' */
    0xefffffff, /* 0x40-0x5f: all but '\\' */
    0x7fffffff, /* 0x60-0x7f: all but DEL, which goes the slow way too */
    0, 0, 0, 0
};

static uint32_t  ngx_http_guard_html_plain[] = {
    0x00000000, /* 0x00-0x1f: controls */
    0xafffff3b, /* 0x20-0x3f: all but '"', '&', '\'', '<', '>' */
    0xffffffff, /* 0x40-0x5f */
    0x7fffffff, /* 0x60-0x7f: all but DEL */
    0, 0, 0, 0
};


void
ngx_http_guard_out_init(ngx_http_guard_out_t *out, ngx_pool_t *pool)
{
    ngx_memzero(out, sizeof(ngx_http_guard_out_t));

    out->pool = pool;
    out->last = &out->first;
}


ngx_int_t
ngx_http_guard_out_use_cache(ngx_http_guard_out_t *out,
    ngx_http_guard_out_cache_t *cache)
{
    ngx_pool_cleanup_t         *cln;
    ngx_http_guard_out_loan_t  *loan;

    cln = ngx_pool_cleanup_add(out->pool, sizeof(ngx_http_guard_out_loan_t));
    if (cln == NULL) {
        return NGX_ERROR;
    }

    loan = cln->data;
    loan->cache = cache;
    loan->taken = NULL;

    cln->handler = ngx_http_guard_out_give_back;

    if (cache->need > cache->size) {
        /* the last report needed more: room for it, and some */

        if (cache->scratch) {
            ngx_free(cache->scratch);
        }

        cache->size = 0;
        cache->scratch = ngx_alloc(cache->need + cache->need / 4,
                                   ngx_cycle->log);

        if (cache->scratch) {
            cache->size = cache->need + cache->need / 4;
        }
    }

    cache->used = 0;
    cache->need = 0;

    out->cache = cache;
    out->taken = &loan->taken;

    return NGX_OK;
}


void
ngx_http_guard_out_cache_free(void *data)
{
    ngx_http_guard_out_cache_t *cache = data;

    ngx_chain_t  *cl, *next;

    for (cl = cache->free; cl; cl = next) {
        next = cl->next;
        ngx_free(cl->buf->start);
        ngx_free(cl);
    }

    if (cache->scratch) {
        ngx_free(cache->scratch);
    }

    ngx_memzero(cache, sizeof(ngx_http_guard_out_cache_t));
}


void *
ngx_http_guard_out_alloc(ngx_http_guard_out_t *out, size_t size)
{
    void                        *p;
    ngx_http_guard_out_cache_t  *cache;

    cache = out->cache;

    if (cache == NULL) {
        return ngx_palloc(out->pool, size);
    }

    size = ngx_align(size, NGX_ALIGNMENT);
    cache->need += size;

    if (cache->size - cache->used >= size) {
        p = cache->scratch + cache->used;
        cache->used += size;
        return p;
    }

    return ngx_palloc(out->pool, size);
}


static void
ngx_http_guard_out_give_back(void *data)
{
    ngx_http_guard_out_loan_t *loan = data;

    ngx_chain_t                 *cl, *next;
    ngx_http_guard_out_cache_t  *cache;

    cache = loan->cache;

    for (cl = loan->taken; cl; cl = next) {
        next = cl->next;

        if (cache->nfree >= NGX_HTTP_GUARD_OUT_KEEP) {
            ngx_free(cl->buf->start);
            ngx_free(cl);
            continue;
        }

        /* as new: whatever the filters did to it */
        ngx_http_guard_out_buf_init(cl->buf, cl->buf->start);

        cl->next = cache->free;
        cache->free = cl;
        cache->nfree++;
    }

    loan->taken = NULL;
}


static void
ngx_http_guard_out_buf_init(ngx_buf_t *b, u_char *mem)
{
    ngx_memzero(b, sizeof(ngx_buf_t));

    b->start = mem;
    b->pos = mem;
    b->last = mem;
    b->end = mem + NGX_HTTP_GUARD_OUT_CHUNK;
    b->temporary = 1;
}


/*
 * A buffer of the cache: a chain link and its buffer allocated together
 * (ngx_alloc), the memory apart; lent to one report, given back when its
 * pool goes.
 */

static ngx_buf_t *
ngx_http_guard_out_lend(ngx_http_guard_out_t *out)
{
    u_char                      *mem;
    ngx_buf_t                   *b;
    ngx_chain_t                 *cl;
    ngx_http_guard_out_cache_t  *cache;

    cache = out->cache;

    if (cache->free) {
        cl = cache->free;
        cache->free = cl->next;
        cache->nfree--;

    } else {
        cl = ngx_alloc(sizeof(ngx_chain_t) + sizeof(ngx_buf_t),
                       ngx_cycle->log);
        if (cl == NULL) {
            return NULL;
        }

        mem = ngx_alloc(NGX_HTTP_GUARD_OUT_CHUNK, ngx_cycle->log);
        if (mem == NULL) {
            ngx_free(cl);
            return NULL;
        }

        b = (ngx_buf_t *) (cl + 1);
        ngx_http_guard_out_buf_init(b, mem);

        cl->buf = b;
    }

    cl->next = *out->taken;
    *out->taken = cl;

    return cl->buf;
}


u_char *
ngx_http_guard_out_reserve(ngx_http_guard_out_t *out, size_t n)
{
    size_t        size;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (out->b && (size_t) (out->b->end - out->b->last) >= n) {
        return out->b->last;
    }

    if (out->b && out->flush) {
        /* full: on its way to the client while the next one is written */

        if (out->flush(out) != NGX_OK) {
            return NULL;
        }

        out->first = NULL;
        out->last = &out->first;
        out->b = NULL;
        out->flushed = 1;
    }

    if (out->cache && n <= NGX_HTTP_GUARD_OUT_CHUNK) {
        b = ngx_http_guard_out_lend(out);

    } else {
        size = (out->b || out->flushed) ? NGX_HTTP_GUARD_OUT_CHUNK
                                        : NGX_HTTP_GUARD_OUT_FIRST;
        b = ngx_create_temp_buf(out->pool, ngx_max(n, size));
    }

    if (b == NULL) {
        return NULL;
    }

    cl = ngx_alloc_chain_link(out->pool);
    if (cl == NULL) {
        return NULL;
    }

    cl->buf = b;
    cl->next = NULL;

    *out->last = cl;
    out->last = &cl->next;
    out->b = b;

    return b->last;
}


ngx_int_t
ngx_http_guard_out_str(ngx_http_guard_out_t *out, const char *s)
{
    return ngx_http_guard_out_bytes(out, (u_char *) s, ngx_strlen(s));
}


ngx_int_t
ngx_http_guard_out_bytes(ngx_http_guard_out_t *out, u_char *s, size_t len)
{
    u_char  *p;

    p = ngx_http_guard_out_reserve(out, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->b->last = ngx_cpymem(p, s, len);

    return NGX_OK;
}


ngx_int_t
ngx_http_guard_out_printf(ngx_http_guard_out_t *out, size_t max,
    const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    p = ngx_http_guard_out_reserve(out, max);
    if (p == NULL) {
        return NGX_ERROR;
    }

    va_start(args, fmt);
    out->b->last = ngx_vslprintf(p, p + max, fmt, args);
    va_end(args);

    return NGX_OK;
}


u_char *
ngx_http_guard_snprintz(u_char *buf, size_t size, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    va_start(args, fmt);
    p = ngx_http_guard_vsnprintz(buf, size, fmt, args);
    va_end(args);

    return p;
}


u_char *
ngx_http_guard_vsnprintz(u_char *buf, size_t size, const char *fmt,
    va_list args)
{
    u_char  *p;

    p = ngx_vslprintf(buf, buf + size - 1, fmt, args);
    *p = '\0';

    return p;
}


ngx_int_t
ngx_http_guard_out_json(ngx_http_guard_out_t *out, u_char *s, size_t len)
{
    u_char  *p;

    p = ngx_http_guard_out_reserve(out, len * 6 + 2);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->b->last = ngx_http_guard_put_json(p, s, len);

    return NGX_OK;
}


ngx_int_t
ngx_http_guard_out_html(ngx_http_guard_out_t *out, u_char *s, size_t len)
{
    u_char  *p;

    p = ngx_http_guard_out_reserve(out, len * 6);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->b->last = ngx_http_guard_put_html(p, s, len);

    return NGX_OK;
}


u_char *
ngx_http_guard_put_uint(u_char *p, uint64_t n)
{
    u_char  *q;
    u_char   tmp[NGX_INT64_LEN];

    if (n < 10) {
        *p++ = (u_char) ('0' + n);
        return p;
    }

    q = tmp + NGX_INT64_LEN;

    do {
        *--q = (u_char) ('0' + n % 10);
        n /= 10;
    } while (n);

    return ngx_cpymem(p, q, tmp + NGX_INT64_LEN - q);
}


u_char *
ngx_http_guard_put_milli(u_char *p, uint64_t ms)
{
    ngx_uint_t  f;

    p = ngx_http_guard_put_uint(p, ms / 1000);

    f = (ngx_uint_t) (ms % 1000);

    *p++ = '.';
    *p++ = (u_char) ('0' + f / 100);
    *p++ = (u_char) ('0' + f / 10 % 10);
    *p++ = (u_char) ('0' + f % 10);

    return p;
}


/*
 * Most names need no escaping: one scan finds out, then one copy.  A byte
 * from 0x80 up takes the slow path too, for its UTF-8 check.
 */

u_char *
ngx_http_guard_put_json(u_char *p, u_char *s, size_t len)
{
    u_char  *end, *q;

    end = s + len;
    *p++ = '"';

    q = s + ngx_http_guard_plain(s, len, ngx_http_guard_json_plain);
    p = ngx_cpymem(p, s, q - s);
    s = q;

    while (s < end) {

        if (*s < 0x80) {
            switch (*s) {

            case '"':
            case '\\':
                *p++ = '\\';
                *p++ = *s;
                break;

            case '\n':
                *p++ = '\\'; *p++ = 'n';
                break;

            case '\r':
                *p++ = '\\'; *p++ = 'r';
                break;

            case '\t':
                *p++ = '\\'; *p++ = 't';
                break;

            default:
                if (*s < 0x20 || *s == 0x7f) {
                    p = ngx_sprintf(p, "\\u%04xd", (ngx_uint_t) *s);

                } else {
                    *p++ = *s;
                }
            }

            s++;
            continue;
        }

        p = ngx_http_guard_put_utf8(p, &s, end, &ngx_http_guard_json_fffd);
    }

    *p++ = '"';

    return p;
}


u_char *
ngx_http_guard_put_prom(u_char *p, u_char *s, size_t len)
{
    u_char  *end, *q;

    end = s + len;

    q = s + ngx_http_guard_plain(s, len, ngx_http_guard_prom_plain);
    p = ngx_cpymem(p, s, q - s);
    s = q;

    while (s < end) {

        if (*s >= 0x80) {
            p = ngx_http_guard_put_utf8(p, &s, end, &ngx_http_guard_fffd);
            continue;
        }

        switch (*s) {

        case '\\':
        case '"':
            *p++ = '\\';
            *p++ = *s;
            break;

        case '\n':
            *p++ = '\\'; *p++ = 'n';
            break;

        default:
            *p++ = *s;
        }

        s++;
    }

    return p;
}


u_char *
ngx_http_guard_put_html(u_char *p, u_char *s, size_t len)
{
    u_char  *end, *q;

    end = s + len;

    q = s + ngx_http_guard_plain(s, len, ngx_http_guard_html_plain);
    p = ngx_cpymem(p, s, q - s);
    s = q;

    while (s < end) {

        if (*s >= 0x80) {
            p = ngx_http_guard_put_utf8(p, &s, end, &ngx_http_guard_fffd);
            continue;
        }

        switch (*s) {

        case '&':
            p = ngx_cpymem(p, "&amp;", 5);
            break;

        case '<':
            p = ngx_cpymem(p, "&lt;", 4);
            break;

        case '>':
            p = ngx_cpymem(p, "&gt;", 4);
            break;

        case '"':
            p = ngx_cpymem(p, "&quot;", 6);
            break;

        case '\'':
            p = ngx_cpymem(p, "&#39;", 5);
            break;

        default:
            *p++ = (*s < 0x20 || *s == 0x7f) ? '?' : *s;
        }

        s++;
    }

    return p;
}


ngx_int_t
ngx_http_guard_out_csv(ngx_http_guard_out_t *out, ngx_str_t *s)
{
    u_char  *p, *q, *end;

    end = s->data + s->len;

    for (q = s->data; q < end; q++) {
        if (*q == ',' || *q == '"' || *q == '\n' || *q == '\r') {
            break;
        }
    }

    if (q == end) {
        return ngx_http_guard_out_bytes(out, s->data, s->len);
    }

    p = ngx_http_guard_out_reserve(out, s->len * 2 + 2);
    if (p == NULL) {
        return NGX_ERROR;
    }

    *p++ = '"';

    for (q = s->data; q < end; q++) {
        if (*q == '"') {
            *p++ = '"';
        }

        *p++ = *q;
    }

    *p++ = '"';
    out->b->last = p;

    return NGX_OK;
}


off_t
ngx_http_guard_out_size(ngx_http_guard_out_t *out)
{
    off_t         size;
    ngx_chain_t  *cl;

    size = 0;

    for (cl = out->first; cl; cl = cl->next) {
        size += cl->buf->last - cl->buf->pos;
    }

    return size;
}


/*
 * The UTF-8 sequence at *sp, copied, or for an ill-formed one "bad"
 * (U+FFFD as the format writes it) in place of its maximal subpart; *sp
 * moves past what it read.
 */

static u_char *
ngx_http_guard_put_utf8(u_char *p, u_char **sp, u_char *end, ngx_str_t *bad)
{
    ngx_int_t  n;

    n = ngx_http_guard_utf8(*sp, end);

    if (n < 0) {
        *sp -= n;
        return ngx_cpymem(p, bad->data, bad->len);
    }

    p = ngx_cpymem(p, *sp, n);
    *sp += n;

    return p;
}


/* how many bytes from "s" on the map lets through as they are */

static size_t
ngx_http_guard_plain(u_char *s, size_t len, uint32_t *map)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (!(map[s[i] >> 5] & (1U << (s[i] & 0x1f)))) {
            break;
        }
    }

    return i;
}


/*
 * The well-formed UTF-8 sequence at "p" (RFC 3629; table 3-7 of The Unicode
 * Standard): its length, or, when there is none, minus the length of the
 * maximal subpart to replace with one U+FFFD (Unicode's "substitution of
 * maximal subparts", as browsers do): no overlong forms, no surrogates,
 * nothing above U+10FFFF.  nginx's ngx_utf8_decode() is laxer: it takes
 * any byte from 0x80 up as a continuation byte.
 */

static ngx_int_t
ngx_http_guard_utf8(u_char *p, u_char *end)
{
    u_char  c, lo, hi;
    size_t  n, i;

    c = p[0];

    if (c < 0x80) {
        return 1;
    }

    lo = 0x80;
    hi = 0xbf;

    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;

    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;

        if (c == 0xe0) {
            lo = 0xa0;               /* overlong */

        } else if (c == 0xed) {
            hi = 0x9f;               /* surrogates */
        }

    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;

        if (c == 0xf0) {
            lo = 0x90;               /* overlong */

        } else if (c == 0xf4) {
            hi = 0x8f;               /* above U+10FFFF */
        }

    } else {
        return -1;
    }

    for (i = 1; i < n; i++) {

        if (p + i == end
            || p[i] < (i == 1 ? lo : 0x80)
            || p[i] > (i == 1 ? hi : 0xbf))
        {
            return -(ngx_int_t) i;
        }
    }

    return (ngx_int_t) n;
}

