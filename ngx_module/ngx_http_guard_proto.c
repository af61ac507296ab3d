
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


static int ngx_http_guard_fcgi_headers(const unsigned char *h, size_t len,
    int complete, unsigned *status, const char **reason);
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


int
ngx_http_guard_fcgi_status(const unsigned char *p, size_t len,
    unsigned char *scratch, size_t scratch_size, unsigned *status,
    const char **reason)
{
    int     rc, cut, ended;
    size_t  clen, plen, n, out;

    out = 0;
    cut = 0;
    ended = 0;

    while (len >= 8 && !ended) {

        if (p[0] != 1) {
            *reason = "bad fastcgi record";
            return NGX_HTTP_GUARD_PROTO_FAIL;
        }

        clen = ((size_t) p[4] << 8) | p[5];
        plen = p[6];

        if (len < 8 + clen + plen) {
            break;
        }

        if (p[1] == NGX_HTTP_GUARD_FCGI_STDOUT) {
            n = clen;

            if (n > scratch_size - out) {
                n = scratch_size - out;
                cut = 1;
            }

            memcpy(scratch + out, p + 8, n);
            out += n;

        } else if (p[1] == NGX_HTTP_GUARD_FCGI_END_REQUEST) {
            ended = 1;
        }

        p += 8 + clen + plen;
        len -= 8 + clen + plen;
    }

    /* the end of the output ends the headers, unless they were cut */

    rc = ngx_http_guard_fcgi_headers(scratch, out, ended && !cut, status,
                                     reason);

    if (rc == NGX_HTTP_GUARD_PROTO_AGAIN && cut) {
        *reason = "fastcgi headers too large";
        return NGX_HTTP_GUARD_PROTO_FAIL;
    }

    if (rc == NGX_HTTP_GUARD_PROTO_AGAIN && ended) {
        *reason = "no fastcgi output";
        return NGX_HTTP_GUARD_PROTO_FAIL;
    }

    return rc;
}



/*
 * The CGI headers of a FastCGI response: PASS once they end (a blank
 * line, or the end of the request), with the "Status: NNN" code; without
 * one, 302 when there is a "Location" (a redirect, RFC 3875 6.2.3-4, as
 * nginx's fastcgi module reads it), else 200.
 */

static int
ngx_http_guard_fcgi_headers(const unsigned char *h, size_t len,
    int complete, unsigned *status, const char **reason)
{
    int                   location;
    size_t                i, end;
    unsigned              code;
    const unsigned char  *line, *last;

    end = len;

    for (i = 0; i + 1 < len; i++) {
        if (h[i] == '\n' && (h[i + 1] == '\n'
                             || (h[i + 1] == '\r' && i + 2 < len
                                 && h[i + 2] == '\n')))
        {
            end = i + 1;
            complete = 1;
            break;
        }
    }

    if (!complete) {
        return NGX_HTTP_GUARD_PROTO_AGAIN;
    }

    if (len == 0) {
        *reason = "no fastcgi output";
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
                *reason = "bad fastcgi status";
                return NGX_HTTP_GUARD_PROTO_FAIL;
            }

            code = 0;

            for (i = 0; i < 3; i++) {
                if (line[i] < '0' || line[i] > '9') {
                    *reason = "bad fastcgi status";
                    return NGX_HTTP_GUARD_PROTO_FAIL;
                }

                code = code * 10 + (line[i] - '0');
            }

            if (code < 100) {
                *reason = "bad fastcgi status";
                return NGX_HTTP_GUARD_PROTO_FAIL;
            }

            *status = code;
            return NGX_HTTP_GUARD_PROTO_PASS;
        }

        while (line < last && *line != '\n') {
            line++;
        }

        line++;
    }

    *status = location ? 302 : 200;

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
