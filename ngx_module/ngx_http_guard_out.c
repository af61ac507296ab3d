
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * Chained output and escapers, see ngx_http_guard_out.h.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_guard_out.h"


#define NGX_HTTP_GUARD_OUT_CHUNK  16384
#define NGX_HTTP_GUARD_FFFD       "\xef\xbf\xbd"    /* U+FFFD in UTF-8 */


static ngx_int_t ngx_http_guard_utf8(u_char *p, u_char *end);


void
ngx_http_guard_out_init(ngx_http_guard_out_t *out, ngx_pool_t *pool)
{
    ngx_memzero(out, sizeof(ngx_http_guard_out_t));

    out->pool = pool;
    out->last = &out->first;
}


u_char *
ngx_http_guard_out_reserve(ngx_http_guard_out_t *out, size_t n)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (out->b && (size_t) (out->b->end - out->b->last) >= n) {
        return out->b->last;
    }

    b = ngx_create_temp_buf(out->pool, ngx_max(n, NGX_HTTP_GUARD_OUT_CHUNK));
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


ngx_int_t
ngx_http_guard_out_json(ngx_http_guard_out_t *out, u_char *s, size_t len)
{
    u_char     *p, *end;
    ngx_int_t   n;

    p = ngx_http_guard_out_reserve(out, len * 6 + 2);
    if (p == NULL) {
        return NGX_ERROR;
    }

    end = s + len;
    *p++ = '"';

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

        n = ngx_http_guard_utf8(s, end);

        if (n < 0) {
            p = ngx_cpymem(p, "\\ufffd", 6);
            s -= n;
            continue;
        }

        p = ngx_cpymem(p, s, n);
        s += n;
    }

    *p++ = '"';
    out->b->last = p;

    return NGX_OK;
}


ngx_int_t
ngx_http_guard_out_prom(ngx_http_guard_out_t *out, u_char *s, size_t len)
{
    u_char     *p, *end;
    ngx_int_t   n;

    /* at most 3 bytes for 1: an invalid byte becomes U+FFFD in UTF-8 */

    p = ngx_http_guard_out_reserve(out, len * 3);
    if (p == NULL) {
        return NGX_ERROR;
    }

    end = s + len;

    while (s < end) {

        if (*s >= 0x80) {
            n = ngx_http_guard_utf8(s, end);

            if (n < 0) {
                p = ngx_cpymem(p, NGX_HTTP_GUARD_FFFD, 3);
                s -= n;

            } else {
                p = ngx_cpymem(p, s, n);
                s += n;
            }

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

    out->b->last = p;

    return NGX_OK;
}


ngx_int_t
ngx_http_guard_out_html(ngx_http_guard_out_t *out, u_char *s, size_t len)
{
    u_char     *p, *end;
    ngx_int_t   n;

    p = ngx_http_guard_out_reserve(out, len * 6);
    if (p == NULL) {
        return NGX_ERROR;
    }

    end = s + len;

    while (s < end) {

        if (*s >= 0x80) {
            n = ngx_http_guard_utf8(s, end);

            if (n < 0) {
                p = ngx_cpymem(p, NGX_HTTP_GUARD_FFFD, 3);
                s -= n;

            } else {
                p = ngx_cpymem(p, s, n);
                s += n;
            }

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

    out->b->last = p;

    return NGX_OK;
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

