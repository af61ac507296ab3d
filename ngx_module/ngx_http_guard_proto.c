
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * MySQL, AJP and FastCGI check replies, see ngx_http_guard_proto.h.
 */


#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ngx_http_guard_proto.h"


#define NGX_HTTP_GUARD_FCGI_STDOUT       6
#define NGX_HTTP_GUARD_FCGI_END_REQUEST  3


static void ngx_http_guard_fcgi_out(ngx_http_guard_fcgi_t *f,
    const unsigned char *p, size_t n);
static void ngx_http_guard_fcgi_fail(ngx_http_guard_fcgi_t *f,
    const char *reason);
static int ngx_http_guard_fcgi_headers(ngx_http_guard_fcgi_t *f,
    int complete);
static int ngx_http_guard_fcgi_name(const unsigned char *p, size_t len,
    const char *name, size_t n);


const unsigned char  ngx_http_guard_ajp_cping[5] = {
    0x12, 0x34, 0x00, 0x01, 0x0a
};


/*
 * A server greeting: a 3-byte length, a sequence number, then the
 * protocol version (10, or 9 for very old servers); 0xff is an error
 * packet (too many connections, host blocked, ...).
 */

int
ngx_http_guard_mysql_greeting(const unsigned char *p, size_t len,
    const char **reason)
{
    if (len < 5) {
        return NGX_HTTP_GUARD_PROTO_AGAIN;
    }

    if (p[4] == 0xff) {
        *reason = "mysql error packet";
        return NGX_HTTP_GUARD_PROTO_FAIL;
    }

    if (p[4] != 10 && p[4] != 9) {
        *reason = "bad mysql greeting";
        return NGX_HTTP_GUARD_PROTO_FAIL;
    }

    return NGX_HTTP_GUARD_PROTO_PASS;
}


/* CPONG: 'A' 'B', length 1, CPONG_REPLY (9) */

int
ngx_http_guard_ajp_cpong(const unsigned char *p, size_t len,
    const char **reason)
{
    static const unsigned char  cpong[5] = { 'A', 'B', 0x00, 0x01, 0x09 };

    if (len < 5) {
        if (len && memcmp(p, cpong, len) != 0) {
            *reason = "bad ajp reply";
            return NGX_HTTP_GUARD_PROTO_FAIL;
        }

        return NGX_HTTP_GUARD_PROTO_AGAIN;
    }

    if (memcmp(p, cpong, 5) != 0) {
        *reason = "bad ajp reply";
        return NGX_HTTP_GUARD_PROTO_FAIL;
    }

    return NGX_HTTP_GUARD_PROTO_PASS;
}


void
ngx_http_guard_fcgi_init(ngx_http_guard_fcgi_t *f, unsigned char *out,
    size_t out_size)
{
    memset(f, 0, sizeof(ngx_http_guard_fcgi_t));

    f->out = out;
    f->out_size = out_size;
    f->rc = NGX_HTTP_GUARD_PROTO_AGAIN;
}


int
ngx_http_guard_fcgi_status(ngx_http_guard_fcgi_t *f, const unsigned char *p,
    size_t len, unsigned *status, const char **reason)
{
    size_t  n;

    while (f->rc == NGX_HTTP_GUARD_PROTO_AGAIN) {

        if (f->header_len == 8 && f->content == 0 && f->padding == 0) {
            f->header_len = 0;          /* the record is read */
        }

        if (len == 0) {
            break;
        }

        if (f->header_len < 8) {
            n = 8 - f->header_len;
            n = (n < len) ? n : len;

            memcpy(f->header + f->header_len, p, n);
            f->header_len += n;
            p += n;
            len -= n;

            if (f->header_len < 8) {
                break;
            }

            if (f->header[0] != 1) {
                ngx_http_guard_fcgi_fail(f, "bad fastcgi record");
                break;
            }

            if (f->header[1] == NGX_HTTP_GUARD_FCGI_END_REQUEST) {
                /* the end of the request ends the headers */
                f->rc = ngx_http_guard_fcgi_headers(f, 1);
                break;
            }

            f->content = ((size_t) f->header[4] << 8) | f->header[5];
            f->padding = f->header[6];

            continue;
        }

        if (f->content) {
            n = (f->content < len) ? f->content : len;

            if (f->header[1] == NGX_HTTP_GUARD_FCGI_STDOUT) {
                ngx_http_guard_fcgi_out(f, p, n);
            }

            /* other records' contents pass by, unread */

            f->content -= n;
            p += n;
            len -= n;

            continue;
        }

        n = (f->padding < len) ? f->padding : len;

        f->padding -= n;
        p += n;
        len -= n;
    }

    if (f->rc == NGX_HTTP_GUARD_PROTO_PASS) {
        *status = f->status;

    } else if (f->rc == NGX_HTTP_GUARD_PROTO_FAIL) {
        *reason = f->reason;
    }

    return f->rc;
}


/* n bytes of STDOUT content: the CGI headers, as far as out holds them */

static void
ngx_http_guard_fcgi_out(ngx_http_guard_fcgi_t *f, const unsigned char *p,
    size_t n)
{
    int     cut;
    size_t  room;

    room = f->out_size - f->out_len;
    cut = (n > room);

    if (cut) {
        n = room;
    }

    if (n) {
        memcpy(f->out + f->out_len, p, n);
        f->out_len += n;

        f->rc = ngx_http_guard_fcgi_headers(f, 0);
    }

    if (f->rc == NGX_HTTP_GUARD_PROTO_AGAIN && cut) {
        ngx_http_guard_fcgi_fail(f, "fastcgi headers too large");
    }
}


static void
ngx_http_guard_fcgi_fail(ngx_http_guard_fcgi_t *f, const char *reason)
{
    f->rc = NGX_HTTP_GUARD_PROTO_FAIL;
    f->reason = reason;
}


/*
 * The CGI headers of a FastCGI response: PASS once they end (a blank
 * line, or the end of the request), with the "Status: NNN" code; without
 * one, 302 when there is a "Location" (a redirect, RFC 3875 6.2.3-4, as
 * nginx's fastcgi module reads it), else 200.  The search for the blank
 * line goes on where the last one stopped.
 */

static int
ngx_http_guard_fcgi_headers(ngx_http_guard_fcgi_t *f, int complete)
{
    int                   location;
    size_t                i, end, len;
    unsigned              code;
    const unsigned char  *h, *line, *last;

    h = f->out;
    len = f->out_len;
    end = 0;

    for (i = f->scanned; i + 1 < len; i++) {
        if (h[i] != '\n') {
            continue;
        }

        if (h[i + 1] == '\n') {
            end = i + 1;
            break;
        }

        if (h[i + 1] == '\r') {
            if (i + 2 == len) {
                break;                  /* the next byte tells */
            }

            if (h[i + 2] == '\n') {
                end = i + 1;
                break;
            }
        }
    }

    if (end == 0) {
        if (!complete) {
            f->scanned = i;
            return NGX_HTTP_GUARD_PROTO_AGAIN;
        }

        end = len;
    }

    if (len == 0) {
        f->reason = "no fastcgi output";
        return NGX_HTTP_GUARD_PROTO_FAIL;
    }

    location = 0;

    for (line = h, last = h + end; line < last; /* void */ ) {

        if (ngx_http_guard_fcgi_name(line, last - line, "location", 8)) {
            location = 1;

        } else if (ngx_http_guard_fcgi_name(line, last - line, "status", 6))
        {
            line += 7;

            while (line < last && (*line == ' ' || *line == '\t')) {
                line++;
            }

            if (last - line < 3) {
                f->reason = "bad fastcgi status";
                return NGX_HTTP_GUARD_PROTO_FAIL;
            }

            code = 0;

            for (i = 0; i < 3; i++) {
                if (line[i] < '0' || line[i] > '9') {
                    f->reason = "bad fastcgi status";
                    return NGX_HTTP_GUARD_PROTO_FAIL;
                }

                code = code * 10 + (line[i] - '0');
            }

            if (code < 100) {
                f->reason = "bad fastcgi status";
                return NGX_HTTP_GUARD_PROTO_FAIL;
            }

            f->status = code;
            return NGX_HTTP_GUARD_PROTO_PASS;
        }

        while (line < last && *line != '\n') {
            line++;
        }

        line++;
    }

    f->status = location ? 302 : 200;

    return NGX_HTTP_GUARD_PROTO_PASS;
}


/* a header line "name:", name (lowercase, n bytes) in any case */

static int
ngx_http_guard_fcgi_name(const unsigned char *p, size_t len,
    const char *name, size_t n)
{
    size_t  i;

    if (len <= n) {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if ((p[i] | 0x20) != (unsigned char) name[i]) {
            return 0;
        }
    }

    return p[n] == ':';
}
