
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * Redistribution and use in source and binary forms, with or without
 * modification, are permitted provided that the following conditions
 * are met:
 * 1. Redistributions of source code must retain the above copyright
 *    notice, this list of conditions and the following disclaimer.
 * 2. Redistributions in binary form must reproduce the above copyright
 *    notice, this list of conditions and the following disclaimer in the
 *    documentation and/or other materials provided with the distribution.
 *
 * THIS SOFTWARE IS PROVIDED BY THE AUTHORS AND CONTRIBUTORS ``AS IS'' AND
 * ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE
 * IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE
 * ARE DISCLAIMED.  IN NO EVENT SHALL THE AUTHORS OR CONTRIBUTORS BE LIABLE
 * FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL
 * DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS
 * OR SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION)
 * HOWEVER CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT
 * LIABILITY, OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY
 * OUT OF THE USE OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF
 * SUCH DAMAGE.
 */


#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ngx_http_guard_parse.h"


#define NGX_HTTP_GUARD_HEAD_DONE  1

#define ngx_http_guard_lc(c)                                                 \
    (unsigned char) (((c) >= 'A' && (c) <= 'Z') ? ((c) | 0x20) : (c))

#define ngx_http_guard_is_ows(c)  ((c) == ' ' || (c) == '\t')

/* a control character other than HTAB, or DEL */
#define ngx_http_guard_is_ctl(c)                                             \
    (((c) < 0x20 && (c) != '\t') || (c) == 0x7f)

/*
 * Byte classes for the runs that make up most of a response head: the
 * parser takes a run of name characters, or of value characters that are
 * neither white space nor a control, in one tight loop instead of one
 * state-machine step each (half of a check's instructions went there).
 */
#define NGX_HTTP_GUARD_TCHAR  1     /* token character: a header name */
#define NGX_HTTP_GUARD_VCHAR  2     /* visible or obs-text, not OWS */

static const unsigned char  ngx_http_guard_class[256] = {
    /* 0x00 - 0x1f: controls */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /*  ' ' !  "  #  $  %  &  '  (  )  *  +  ,  -  .  / */
    0, 3, 2, 3, 3, 3, 3, 3, 2, 2, 3, 3, 2, 3, 3, 2,
    /*  0 - 9, : ; < = > ? */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2,
    /*  @ A - O */
    2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    /*  P - Z [ \ ] ^ _ */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 3, 3,
    /*  ` a - o */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    /*  p - z { | } ~ DEL */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 3, 2, 3, 0,
    /* 0x80 - 0xff: obs-text */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2
};

#define ngx_http_guard_is_tchar(c)                                           \
    (ngx_http_guard_class[(unsigned char) (c)] & NGX_HTTP_GUARD_TCHAR)
#define ngx_http_guard_is_vchar(c)                                           \
    (ngx_http_guard_class[(unsigned char) (c)] & NGX_HTTP_GUARD_VCHAR)


enum {
    sw_start = 0,
    sw_H,
    sw_HT,
    sw_HTT,
    sw_HTTP,
    sw_major,
    sw_dot,
    sw_minor,
    sw_space_before_status,
    sw_status,
    sw_reason,
    sw_status_lf,
    sw_header_start,
    sw_header_name,
    sw_value_start,
    sw_value,
    sw_header_lf,
    sw_headers_lf,

    sw_body_length,
    sw_body_close,

    sw_chunk_start,
    sw_chunk_size,
    sw_chunk_size_ws,
    sw_chunk_ext,
    sw_chunk_size_lf,
    sw_chunk_data,
    sw_chunk_data_cr,
    sw_chunk_data_lf,
    sw_trailer_start,
    sw_trailer,
    sw_trailer_lf,
    sw_last_lf,

    sw_done,
    sw_error
};


static int ngx_http_guard_parse_head(ngx_http_guard_resp_t *st,
    unsigned char *buf, size_t *len);
static int ngx_http_guard_header_done(ngx_http_guard_resp_t *st,
    unsigned char *buf);
static int ngx_http_guard_content_length(ngx_http_guard_resp_t *st,
    const unsigned char *p, const unsigned char *last);
static int ngx_http_guard_transfer_encoding(ngx_http_guard_resp_t *st,
    const unsigned char *p, const unsigned char *last);
static void ngx_http_guard_connection(ngx_http_guard_resp_t *st,
    const unsigned char *p, const unsigned char *last);
static int ngx_http_guard_list_next(const unsigned char **pp,
    const unsigned char *last, const unsigned char **item, size_t *item_len);
static int ngx_http_guard_head_done(ngx_http_guard_resp_t *st,
    unsigned char *buf, size_t *len);
static void ngx_http_guard_reset_head(ngx_http_guard_resp_t *st);
static int ngx_http_guard_parse_length(ngx_http_guard_resp_t *st,
    size_t *len);
static int ngx_http_guard_parse_close(ngx_http_guard_resp_t *st,
    size_t *len);
static int ngx_http_guard_parse_chunked(ngx_http_guard_resp_t *st,
    unsigned char *buf, size_t *len);
static int ngx_http_guard_done(ngx_http_guard_resp_t *st, size_t *len,
    size_t end);
static int ngx_http_guard_error(ngx_http_guard_resp_t *st,
    const char *reason);
static size_t ngx_http_guard_header_max(const ngx_http_guard_resp_t *st);
static size_t ngx_http_guard_buffer_size(const ngx_http_guard_resp_t *st);
static int ngx_http_guard_hex(unsigned char c);
static int ngx_http_guard_strcaseeq(const unsigned char *s, size_t len,
    const char *lc);
static int ngx_http_guard_strncaseeq(const unsigned char *s1,
    const unsigned char *s2, size_t len);


void
ngx_http_guard_parse_init(ngx_http_guard_resp_t *st, size_t header_max,
    size_t body_max)
{
    memset(st, 0, sizeof(ngx_http_guard_resp_t));

    if (header_max > NGX_HTTP_GUARD_HEADER_MAX_LIMIT) {
        header_max = NGX_HTTP_GUARD_HEADER_MAX_LIMIT;
    }

    st->header_max = header_max;
    st->body_max = body_max;
    st->content_length = -1;
    st->state = sw_start;
}


int
ngx_http_guard_parse_response(ngx_http_guard_resp_t *st, unsigned char *buf,
    size_t *len)
{
    int  rc;

    if (st->state == sw_error) {
        return NGX_HTTP_GUARD_PARSE_ERROR;
    }

    if (st->state == sw_done) {
        return ngx_http_guard_done(st, len, st->body_off + st->body_len);
    }

    if (st->state < sw_body_length) {
        rc = ngx_http_guard_parse_head(st, buf, len);

        if (rc != NGX_HTTP_GUARD_HEAD_DONE) {
            return rc;
        }
    }

    switch (st->state) {

    case sw_body_length:
        return ngx_http_guard_parse_length(st, len);

    case sw_body_close:
        return ngx_http_guard_parse_close(st, len);

    default:
        return ngx_http_guard_parse_chunked(st, buf, len);
    }
}


int
ngx_http_guard_parse_eof(ngx_http_guard_resp_t *st)
{
    st->eof = 1;

    switch (st->state) {

    case sw_done:
        return NGX_HTTP_GUARD_PARSE_DONE;

    case sw_error:
        return NGX_HTTP_GUARD_PARSE_ERROR;

    case sw_body_close:
        st->complete = 1;
        st->state = sw_done;
        return NGX_HTTP_GUARD_PARSE_DONE;

    case sw_start:
        if (st->interim == 0) {
            return ngx_http_guard_error(st, "no response");
        }

        /* fall through */

    default:
        return ngx_http_guard_error(st, "truncated response");
    }
}


int
ngx_http_guard_resp_header(const ngx_http_guard_resp_t *st,
    const unsigned char *buf, const char *name, size_t len, int start)
{
    unsigned                        i;
    const ngx_http_guard_header_t  *h;

    if (start < 0) {
        start = 0;
    }

    for (i = (unsigned) start; i < st->nheaders; i++) {
        h = &st->headers[i];

        if (h->name_len != len) {
            continue;
        }

        if (ngx_http_guard_strncaseeq(buf + h->name_off,
                                      (const unsigned char *) name, len))
        {
            return (int) i;
        }
    }

    return -1;
}


int
ngx_http_guard_resp_reusable(const ngx_http_guard_resp_t *st)
{
    return st->state == sw_done
           && st->keepalive
           && st->complete
           && !st->body_truncated
           && !st->extra
           && !st->eof;
}


static int
ngx_http_guard_parse_head(ngx_http_guard_resp_t *st, unsigned char *buf,
    size_t *len)
{
    int            rc;
    size_t         p, last, hmax;
    unsigned char  ch;

    hmax = ngx_http_guard_header_max(st);

again:

    last = *len < hmax ? *len : hmax;

    for (p = st->pos; p < last; p++) {
        ch = buf[p];

        switch (st->state) {

        case sw_start:
            if (ch != 'H') {
                return ngx_http_guard_error(st, "bad status line");
            }

            st->state = sw_H;
            break;

        case sw_H:
            if (ch != 'T') {
                return ngx_http_guard_error(st, "bad status line");
            }

            st->state = sw_HT;
            break;

        case sw_HT:
            if (ch != 'T') {
                return ngx_http_guard_error(st, "bad status line");
            }

            st->state = sw_HTT;
            break;

        case sw_HTT:
            if (ch != 'P') {
                return ngx_http_guard_error(st, "bad status line");
            }

            st->state = sw_HTTP;
            break;

        case sw_HTTP:
            if (ch != '/') {
                return ngx_http_guard_error(st, "bad status line");
            }

            st->state = sw_major;
            break;

        case sw_major:
            /* HTTP/1.x only: "HTTP/2", "HTTP/0.9" and "HTTP/11.1" fail */
            if (ch != '1') {
                return ngx_http_guard_error(st, "bad status line");
            }

            st->http_major = 1;
            st->state = sw_dot;
            break;

        case sw_dot:
            if (ch != '.') {
                return ngx_http_guard_error(st, "bad status line");
            }

            st->state = sw_minor;
            break;

        case sw_minor:
            if (ch < '0' || ch > '9') {
                return ngx_http_guard_error(st, "bad status line");
            }

            st->http_minor = (unsigned) (ch - '0');
            st->state = sw_space_before_status;
            break;

        case sw_space_before_status:
            if (ch != ' ') {
                return ngx_http_guard_error(st, "bad status line");
            }

            st->status = 0;
            st->line_len = 0;
            st->state = sw_status;
            break;

        case sw_status:
            if (ch == ' ' && st->line_len == 0) {
                /* tolerate several spaces before the status code */
                break;
            }

            if (st->line_len < 3) {
                if (ch < '0' || ch > '9') {
                    return ngx_http_guard_error(st, "bad status line");
                }

                st->status = st->status * 10 + (unsigned) (ch - '0');
                st->line_len++;
                break;
            }

            if (st->status < 100) {
                return ngx_http_guard_error(st, "bad status line");
            }

            switch (ch) {
            case ' ':
                st->state = sw_reason;
                break;
            case '\r':
                st->state = sw_status_lf;
                break;
            case '\n':
                st->state = sw_header_start;
                break;
            default:
                /* a fourth digit or anything else */
                return ngx_http_guard_error(st, "bad status line");
            }

            break;

        case sw_reason:
            if (ch == '\r') {
                st->state = sw_status_lf;
                break;
            }

            if (ch == '\n') {
                st->state = sw_header_start;
                break;
            }

            if (ngx_http_guard_is_ctl(ch)) {
                return ngx_http_guard_error(st, "bad status line");
            }

            /* the rest of the phrase at once */
            while (p + 1 < last
                   && (ngx_http_guard_is_vchar(buf[p + 1])
                       || ngx_http_guard_is_ows(buf[p + 1])))
            {
                p++;
            }

            break;

        case sw_status_lf:
            if (ch != '\n') {
                return ngx_http_guard_error(st, "bad status line");
            }

            st->state = sw_header_start;
            break;

        case sw_header_start:
            if (ch == '\r') {
                st->state = sw_headers_lf;
                break;
            }

            if (ch == '\n') {
                goto head_done;
            }

            /* obs-fold, whitespace before a name and controls fail here */

            if (!ngx_http_guard_is_tchar(ch)) {
                return ngx_http_guard_error(st, "bad header");
            }

            st->name_start = p;
            st->state = sw_header_name;
            break;

        case sw_header_name:
            if (ch == ':') {
                st->name_end = p;
                st->value_start = p + 1;
                st->value_end = p + 1;
                st->state = sw_value_start;
                break;
            }

            if (!ngx_http_guard_is_tchar(ch)) {
                return ngx_http_guard_error(st, "bad header");
            }

            /* the rest of the name at once */
            while (p + 1 < last && ngx_http_guard_is_tchar(buf[p + 1])) {
                p++;
            }

            break;

        case sw_value_start:
            if (ngx_http_guard_is_ows(ch)) {
                st->value_start = p + 1;
                st->value_end = p + 1;
                break;
            }

            st->state = sw_value;

            /* fall through */

        case sw_value:
            if (ch == '\r') {
                st->state = sw_header_lf;
                break;
            }

            if (ch == '\n') {
                rc = ngx_http_guard_header_done(st, buf);
                if (rc != NGX_HTTP_GUARD_PARSE_AGAIN) {
                    return rc;
                }

                st->state = sw_header_start;
                break;
            }

            if (ngx_http_guard_is_ctl(ch)) {
                return ngx_http_guard_error(st, "bad header");
            }

            if (!ngx_http_guard_is_ows(ch)) {
                st->value_end = p + 1;
            }

            /* a run of visible bytes at once: each one ends the value */
            while (p + 1 < last && ngx_http_guard_is_vchar(buf[p + 1])) {
                p++;
                st->value_end = p + 1;
            }

            break;

        case sw_header_lf:
            if (ch != '\n') {
                return ngx_http_guard_error(st, "bad header");
            }

            rc = ngx_http_guard_header_done(st, buf);
            if (rc != NGX_HTTP_GUARD_PARSE_AGAIN) {
                return rc;
            }

            st->state = sw_header_start;
            break;

        case sw_headers_lf:
            if (ch != '\n') {
                return ngx_http_guard_error(st, "bad header");
            }

            goto head_done;

        default:
            return ngx_http_guard_error(st, "internal error");
        }
    }

    st->pos = p;

    if (*len >= hmax) {
        /* the header block cannot end within header_max bytes */
        return ngx_http_guard_error(st, "headers too large");
    }

    return NGX_HTTP_GUARD_PARSE_AGAIN;

head_done:

    st->body_off = p + 1;
    st->pos = p + 1;

    rc = ngx_http_guard_head_done(st, buf, len);

    if (rc == NGX_HTTP_GUARD_PARSE_AGAIN) {
        /* a 1xx response was dropped, the next one starts at buf[0] */
        goto again;
    }

    return rc;
}


static int
ngx_http_guard_header_done(ngx_http_guard_resp_t *st, unsigned char *buf)
{
    int                       rc;
    size_t                    name_len;
    const unsigned char      *name, *value, *value_last;
    ngx_http_guard_header_t  *h;

    if (st->nheaders >= NGX_HTTP_GUARD_MAX_HEADERS) {
        return ngx_http_guard_error(st, "too many headers");
    }

    /* all offsets are below header_max <= NGX_HTTP_GUARD_HEADER_MAX_LIMIT */

    h = &st->headers[st->nheaders++];

    h->name_off = (uint32_t) st->name_start;
    h->name_len = (uint32_t) (st->name_end - st->name_start);
    h->value_off = (uint32_t) st->value_start;
    h->value_len = (uint32_t) (st->value_end - st->value_start);

    name = buf + st->name_start;
    name_len = st->name_end - st->name_start;
    value = buf + st->value_start;
    value_last = buf + st->value_end;

    rc = NGX_HTTP_GUARD_PARSE_AGAIN;

    /* by length first: most headers are none of the three */

    switch (name_len) {

    case sizeof("content-length") - 1:
        if (ngx_http_guard_strcaseeq(name, name_len, "content-length")) {
            rc = ngx_http_guard_content_length(st, value, value_last);
        }
        break;

    case sizeof("transfer-encoding") - 1:
        if (ngx_http_guard_strcaseeq(name, name_len, "transfer-encoding")) {
            rc = ngx_http_guard_transfer_encoding(st, value, value_last);
        }
        break;

    case sizeof("connection") - 1:
        if (ngx_http_guard_strcaseeq(name, name_len, "connection")) {
            ngx_http_guard_connection(st, value, value_last);
        }
        break;
    }

    return rc;
}


static int
ngx_http_guard_content_length(ngx_http_guard_resp_t *st,
    const unsigned char *p, const unsigned char *last)
{
    int64_t  n;
    int      digits;

    /* "42" or a list of equal values, "42, 42", in one or more headers */

    for ( ;; ) {
        while (p < last && ngx_http_guard_is_ows(*p)) {
            p++;
        }

        n = 0;
        digits = 0;

        while (p < last && *p >= '0' && *p <= '9') {
            if (n > (INT64_MAX - (*p - '0')) / 10) {
                return ngx_http_guard_error(st, "bad content-length");
            }

            n = n * 10 + (*p - '0');
            digits = 1;
            p++;
        }

        while (p < last && ngx_http_guard_is_ows(*p)) {
            p++;
        }

        if (!digits || (p < last && *p != ',')) {
            return ngx_http_guard_error(st, "bad content-length");
        }

        if (st->content_length != -1 && st->content_length != n) {
            return ngx_http_guard_error(st, "bad content-length");
        }

        st->content_length = n;

        if (p == last) {
            return NGX_HTTP_GUARD_PARSE_AGAIN;
        }

        p++;  /* ',' */
    }
}


static int
ngx_http_guard_transfer_encoding(ngx_http_guard_resp_t *st,
    const unsigned char *p, const unsigned char *last)
{
    size_t                len;
    const unsigned char  *item;

    /*
     * The body is chunked if "chunked" is the last coding of all
     * Transfer-Encoding headers; with any other last coding the body ends
     * with the connection.  "chunked" twice is an error.
     */

    st->te = 1;

    while (ngx_http_guard_list_next(&p, last, &item, &len)) {

        if (len == 0) {
            continue;
        }

        if (ngx_http_guard_strcaseeq(item, len, "chunked")) {
            if (st->chunked) {
                return ngx_http_guard_error(st, "bad transfer-encoding");
            }

            st->chunked = 1;
            continue;
        }

        if (st->chunked) {
            /* "chunked" followed by another coding */
            return ngx_http_guard_error(st, "bad transfer-encoding");
        }
    }

    return NGX_HTTP_GUARD_PARSE_AGAIN;
}


static void
ngx_http_guard_connection(ngx_http_guard_resp_t *st, const unsigned char *p,
    const unsigned char *last)
{
    size_t                len;
    const unsigned char  *item;

    while (ngx_http_guard_list_next(&p, last, &item, &len)) {

        if (ngx_http_guard_strcaseeq(item, len, "close")) {
            st->conn_close = 1;

        } else if (ngx_http_guard_strcaseeq(item, len, "keep-alive")) {
            st->conn_keepalive = 1;
        }
    }
}


static int
ngx_http_guard_list_next(const unsigned char **pp, const unsigned char *last,
    const unsigned char **item, size_t *item_len)
{
    const unsigned char  *p, *start, *end;

    p = *pp;

    if (p >= last) {
        return 0;
    }

    while (p < last && ngx_http_guard_is_ows(*p)) {
        p++;
    }

    start = p;

    while (p < last && *p != ',') {
        p++;
    }

    end = p;

    while (end > start && ngx_http_guard_is_ows(end[-1])) {
        end--;
    }

    if (p < last) {
        p++;  /* ',' */
    }

    *item = start;
    *item_len = (size_t) (end - start);
    *pp = p;

    return 1;
}


static int
ngx_http_guard_head_done(ngx_http_guard_resp_t *st, unsigned char *buf,
    size_t *len)
{
    if (st->status < 200 && st->status != 101) {

        /* an interim response: drop it and parse the next one */

        if (++st->interim > NGX_HTTP_GUARD_MAX_INTERIM) {
            return ngx_http_guard_error(st, "too many interim responses");
        }

        memmove(buf, buf + st->body_off, *len - st->body_off);
        *len -= st->body_off;

        ngx_http_guard_reset_head(st);

        return NGX_HTTP_GUARD_PARSE_AGAIN;
    }

    if (st->te && st->content_length != -1) {
        /* a request smuggling pattern; RFC 9112 says close after it */
        return ngx_http_guard_error(st, "bad content-length");
    }

    if (st->conn_close) {
        st->keepalive = 0;

    } else if (st->http_minor == 0) {
        st->keepalive = st->conn_keepalive;

    } else {
        st->keepalive = 1;
    }

    if (st->te && st->http_minor == 0) {
        /* Transfer-Encoding in HTTP/1.0: framing is suspect, RFC 9112 6.1 */
        st->keepalive = 0;
    }

    st->body_len = 0;

    if (st->no_body || st->status == 101 || st->status == 204
        || st->status == 304)
    {
        if (st->status == 101) {
            st->keepalive = 0;
        }

        st->complete = 1;

        return ngx_http_guard_done(st, len, st->body_off);
    }

    if (st->chunked) {
        st->state = sw_chunk_start;
        return NGX_HTTP_GUARD_HEAD_DONE;
    }

    if (st->te || st->content_length == -1) {
        st->keepalive = 0;
        st->state = sw_body_close;
        return NGX_HTTP_GUARD_HEAD_DONE;
    }

    st->state = sw_body_length;
    return NGX_HTTP_GUARD_HEAD_DONE;
}


static void
ngx_http_guard_reset_head(ngx_http_guard_resp_t *st)
{
    st->http_major = 0;
    st->http_minor = 0;
    st->status = 0;
    st->nheaders = 0;
    st->content_length = -1;
    st->chunked = 0;
    st->te = 0;
    st->conn_close = 0;
    st->conn_keepalive = 0;
    st->body_off = 0;
    st->body_len = 0;
    st->pos = 0;
    st->state = sw_start;
}


static int
ngx_http_guard_parse_length(ngx_http_guard_resp_t *st, size_t *len)
{
    size_t    have;
    uint64_t  cl;

    have = *len - st->body_off;
    cl = (uint64_t) st->content_length;

    if (cl <= st->body_max) {

        if ((uint64_t) have >= cl) {
            st->body_len = (size_t) cl;
            st->complete = 1;
            return ngx_http_guard_done(st, len, st->body_off + st->body_len);
        }

        st->body_len = have;
        return NGX_HTTP_GUARD_PARSE_AGAIN;
    }

    if (have >= st->body_max) {
        st->body_len = st->body_max;
        st->body_truncated = 1;
        return ngx_http_guard_done(st, len, st->body_off + st->body_len);
    }

    st->body_len = have;
    return NGX_HTTP_GUARD_PARSE_AGAIN;
}


static int
ngx_http_guard_parse_close(ngx_http_guard_resp_t *st, size_t *len)
{
    size_t  have;

    have = *len - st->body_off;

    if (have >= st->body_max) {
        st->body_len = st->body_max;
        st->body_truncated = 1;
        return ngx_http_guard_done(st, len, st->body_off + st->body_len);
    }

    st->body_len = have;
    return NGX_HTTP_GUARD_PARSE_AGAIN;
}


static int
ngx_http_guard_parse_chunked(ngx_http_guard_resp_t *st, unsigned char *buf,
    size_t *len)
{
    int            d;
    size_t         p, n, room;
    unsigned char  ch;

    /*
     * Decoded data is moved down to buf[body_off + body_len], which never
     * passes the read position p: chunk framing only shrinks the data.
     */

    p = st->pos;

    while (p < *len) {
        ch = buf[p];

        switch (st->state) {

        case sw_chunk_start:
            d = ngx_http_guard_hex(ch);
            if (d < 0) {
                return ngx_http_guard_error(st, "bad chunk");
            }

            st->chunk_size = (uint64_t) d;
            st->line_len = 1;
            st->state = sw_chunk_size;
            break;

        case sw_chunk_size:
        case sw_chunk_size_ws:
        case sw_chunk_ext:
            if (++st->line_len > NGX_HTTP_GUARD_CHUNK_LINE_MAX) {
                return ngx_http_guard_error(st, "bad chunk");
            }

            if (ch == '\r') {
                st->state = sw_chunk_size_lf;
                break;
            }

            if (ch == '\n') {
                goto size_done;
            }

            if (st->state == sw_chunk_ext) {
                /* chunk extensions are ignored */

                if (ngx_http_guard_is_ctl(ch)) {
                    return ngx_http_guard_error(st, "bad chunk");
                }

                break;
            }

            if (ch == ';') {
                st->state = sw_chunk_ext;
                break;
            }

            if (ngx_http_guard_is_ows(ch)) {
                /* BWS before ";" */
                st->state = sw_chunk_size_ws;
                break;
            }

            d = ngx_http_guard_hex(ch);

            if (st->state == sw_chunk_size_ws || d < 0) {
                return ngx_http_guard_error(st, "bad chunk");
            }

            /* as nginx and Content-Length: a size fits a signed 64 bits */

            if (st->chunk_size > (INT64_MAX >> 4)) {
                return ngx_http_guard_error(st, "chunk size overflow");
            }

            st->chunk_size = (st->chunk_size << 4) | (uint64_t) d;
            break;

        case sw_chunk_size_lf:
            if (ch != '\n') {
                return ngx_http_guard_error(st, "bad chunk");
            }

            goto size_done;

        case sw_chunk_data:
            n = *len - p;

            if ((uint64_t) n > st->chunk_size) {
                n = (size_t) st->chunk_size;
            }

            room = st->body_max - st->body_len;

            if (n > room) {
                n = room;
            }

            memmove(buf + st->body_off + st->body_len, buf + p, n);

            st->body_len += n;
            st->chunk_size -= n;
            p += n;

            if (st->chunk_size == 0) {
                st->state = sw_chunk_data_cr;
                continue;
            }

            if (st->body_len == st->body_max) {
                st->body_truncated = 1;
                return ngx_http_guard_done(st, len, p);
            }

            /* p == *len */
            continue;

        case sw_chunk_data_cr:
            if (ch == '\r') {
                st->state = sw_chunk_data_lf;
                break;
            }

            if (ch == '\n') {
                st->state = sw_chunk_start;
                break;
            }

            return ngx_http_guard_error(st, "bad chunk");

        case sw_chunk_data_lf:
            if (ch != '\n') {
                return ngx_http_guard_error(st, "bad chunk");
            }

            st->state = sw_chunk_start;
            break;

        case sw_trailer_start:
            if (ch == '\r') {
                st->state = sw_last_lf;
                break;
            }

            if (ch == '\n') {
                goto last;
            }

            if (!ngx_http_guard_is_tchar(ch)) {
                return ngx_http_guard_error(st, "bad chunk");
            }

            st->state = sw_trailer;

            /* fall through */

        case sw_trailer:
            /* trailers are ignored, but their size is limited */

            if (++st->line_len > ngx_http_guard_header_max(st)) {
                return ngx_http_guard_error(st, "trailers too large");
            }

            if (ch == '\r') {
                st->state = sw_trailer_lf;
                break;
            }

            if (ch == '\n') {
                st->state = sw_trailer_start;
                break;
            }

            if (ngx_http_guard_is_ctl(ch)) {
                return ngx_http_guard_error(st, "bad chunk");
            }

            break;

        case sw_trailer_lf:
            if (ch != '\n') {
                return ngx_http_guard_error(st, "bad chunk");
            }

            st->state = sw_trailer_start;
            break;

        case sw_last_lf:
            if (ch != '\n') {
                return ngx_http_guard_error(st, "bad chunk");
            }

            goto last;

        default:
            return ngx_http_guard_error(st, "internal error");
        }

        p++;
        continue;

    size_done:

        if (st->chunk_size == 0) {
            st->line_len = 0;
            st->state = sw_trailer_start;

        } else if (st->body_len == st->body_max) {
            st->body_truncated = 1;
            return ngx_http_guard_done(st, len, p + 1);

        } else {
            st->state = sw_chunk_data;
        }

        p++;
    }

    /* all input is consumed: keep only the decoded body */

    st->pos = st->body_off + st->body_len;
    *len = st->pos;

    if (*len >= ngx_http_guard_buffer_size(st)) {
        /*
         * The buffer is full of body, a caller could not read the end of
         * the chunked body into it.
         */
        st->body_truncated = 1;
        return ngx_http_guard_done(st, len, *len);
    }

    return NGX_HTTP_GUARD_PARSE_AGAIN;

last:

    st->complete = 1;

    return ngx_http_guard_done(st, len, p + 1);
}


static int
ngx_http_guard_done(ngx_http_guard_resp_t *st, size_t *len, size_t end)
{
    /* "end" is the offset just past the response in the received bytes */

    if (st->complete && *len > end) {
        st->extra = 1;
    }

    *len = st->body_off + st->body_len;
    st->pos = *len;
    st->state = sw_done;

    return NGX_HTTP_GUARD_PARSE_DONE;
}


static int
ngx_http_guard_error(ngx_http_guard_resp_t *st, const char *reason)
{
    st->error = reason;
    st->state = sw_error;

    return NGX_HTTP_GUARD_PARSE_ERROR;
}


static size_t
ngx_http_guard_header_max(const ngx_http_guard_resp_t *st)
{
    if (st->header_max > NGX_HTTP_GUARD_HEADER_MAX_LIMIT) {
        return NGX_HTTP_GUARD_HEADER_MAX_LIMIT;
    }

    return st->header_max;
}


static size_t
ngx_http_guard_buffer_size(const ngx_http_guard_resp_t *st)
{
    size_t  hmax;

    hmax = ngx_http_guard_header_max(st);

    if (st->body_max > SIZE_MAX - hmax) {
        return SIZE_MAX;
    }

    return hmax + st->body_max;
}


static int
ngx_http_guard_hex(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c = ngx_http_guard_lc(c);

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


static int
ngx_http_guard_strcaseeq(const unsigned char *s, size_t len, const char *lc)
{
    size_t  i;

    /* s[0 .. len) equals the lowercase string lc, ignoring case */

    for (i = 0; i < len; i++) {
        if (lc[i] == '\0' || ngx_http_guard_lc(s[i]) != (unsigned char) lc[i])
        {
            return 0;
        }
    }

    return lc[i] == '\0';
}


static int
ngx_http_guard_strncaseeq(const unsigned char *s1, const unsigned char *s2,
    size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (ngx_http_guard_lc(s1[i]) != ngx_http_guard_lc(s2[i])) {
            return 0;
        }
    }

    return 1;
}
