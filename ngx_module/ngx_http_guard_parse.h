
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


/*
 * A pure, resumable parser of HTTP/1.x responses for the health checker.
 *
 * It includes nothing from nginx, so that unit tests and the fuzzer can
 * link it alone.
 *
 * The caller owns one contiguous buffer of header_max + body_max bytes and
 * appends what it receives at offset *len.  After every read it calls
 * ngx_http_guard_parse_response() with the whole buffer; the parser resumes
 * where it stopped, keeps only offsets into the buffer, and may shrink *len
 * (chunked bodies are decoded in place, 1xx responses are dropped, bytes
 * past the response or past body_max are discarded).  While it returns
 * NGX_HTTP_GUARD_PARSE_AGAIN, *len < header_max + body_max, so the buffer
 * always has room for the next read.  At EOF the caller calls
 * ngx_http_guard_parse_eof().
 */


#ifndef _NGX_HTTP_GUARD_PARSE_H_INCLUDED_
#define _NGX_HTTP_GUARD_PARSE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define NGX_HTTP_GUARD_PARSE_DONE        0
#define NGX_HTTP_GUARD_PARSE_ERROR      -1
#define NGX_HTTP_GUARD_PARSE_AGAIN      -2

/* at most this many header lines are kept per response */
#define NGX_HTTP_GUARD_MAX_HEADERS       64

/* at most this many 1xx interim responses before the final one */
#define NGX_HTTP_GUARD_MAX_INTERIM       16

/* longest chunk size line, chunk extensions included */
#define NGX_HTTP_GUARD_CHUNK_LINE_MAX    4096

/* header_max is clamped to this, header offsets are 32-bit */
#define NGX_HTTP_GUARD_HEADER_MAX_LIMIT  0x7fffffff


typedef struct {
    uint32_t                      name_off;
    uint32_t                      name_len;
    uint32_t                      value_off;   /* trimmed of SP and HTAB */
    uint32_t                      value_len;
} ngx_http_guard_header_t;


typedef struct {
    /* limits, set by ngx_http_guard_parse_init() */
    size_t                        header_max;  /* status line + headers */
    size_t                        body_max;    /* decoded body kept */

    /* results */
    const char                   *error;       /* static reason on ERROR */

    size_t                        body_off;    /* decoded body in buf */
    size_t                        body_len;
    int64_t                       content_length;   /* -1: none */

    unsigned                      http_major;
    unsigned                      http_minor;
    unsigned                      status;      /* 100-999 */
    unsigned                      nheaders;
    unsigned                      interim;     /* 1xx responses skipped */

    ngx_http_guard_header_t       headers[NGX_HTTP_GUARD_MAX_HEADERS];

    /* set by the caller before the first call: a HEAD request */
    unsigned                      no_body:1;

    unsigned                      chunked:1;
    unsigned                      keepalive:1;  /* peer allows reuse */
    unsigned                      complete:1;   /* whole body received */
    unsigned                      body_truncated:1;  /* body_max reached */
    unsigned                      extra:1;      /* bytes after response */
    unsigned                      eof:1;        /* parse_eof() called */

    /* private */
    unsigned                      te:1;
    unsigned                      conn_close:1;
    unsigned                      conn_keepalive:1;

    int                           state;
    size_t                        pos;
    size_t                        name_start;
    size_t                        name_end;
    size_t                        value_start;
    size_t                        value_end;
    size_t                        line_len;
    uint64_t                      chunk_size;
} ngx_http_guard_resp_t;


/* zeroes *st, sets the limits; call before the first byte of a response */
void ngx_http_guard_parse_init(ngx_http_guard_resp_t *st, size_t header_max,
    size_t body_max);

/*
 * Parses buf[0 .. *len), resuming where the previous call stopped.
 * Returns NGX_HTTP_GUARD_PARSE_AGAIN (read more and call again),
 * NGX_HTTP_GUARD_PARSE_DONE (the response is complete, or body_max was
 * reached: body_truncated), or NGX_HTTP_GUARD_PARSE_ERROR (st->error).
 * Once DONE or ERROR, later calls return the same.
 */
int ngx_http_guard_parse_response(ngx_http_guard_resp_t *st,
    unsigned char *buf, size_t *len);

/*
 * The peer closed the connection (or the read side hit EOF): DONE for a
 * body delimited by the close and for an already complete response,
 * otherwise ERROR "no response" or "truncated response".
 */
int ngx_http_guard_parse_eof(ngx_http_guard_resp_t *st);

/*
 * Index of the first header at or after index "start" whose name equals
 * name[0 .. len) case-insensitively, or -1.
 */
int ngx_http_guard_resp_header(const ngx_http_guard_resp_t *st,
    const unsigned char *buf, const char *name, size_t len, int start);

/* 1 if the connection may carry the next check, 0 if it must be closed */
int ngx_http_guard_resp_reusable(const ngx_http_guard_resp_t *st);


#endif /* _NGX_HTTP_GUARD_PARSE_H_INCLUDED_ */
