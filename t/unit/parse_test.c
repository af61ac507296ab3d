
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
 * Unit tests of the HTTP response parser, ngx_http_guard_parse.c.
 * Built and run by scripts/unit.  The last line printed is
 * "N passed, N failed"; the exit code is non-zero on any failure.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_guard_parse.h"


#define CHECK(cond)                                                          \
    do {                                                                     \
        if (cond) {                                                          \
            passed++;                                                        \
        } else {                                                             \
            failed++;                                                        \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);           \
        }                                                                    \
    } while (0)

#define CHECK_STR(got, want)                                                 \
    do {                                                                     \
        const char *g_ = (got), *w_ = (want);                                \
        if (g_ != NULL && w_ != NULL && strcmp(g_, w_) == 0) {               \
            passed++;                                                        \
        } else {                                                             \
            failed++;                                                        \
            printf("FAIL %s:%d: %s is \"%s\", want \"%s\"\n", __FILE__,      \
                   __LINE__, #got, g_ ? g_ : "(null)", w_ ? w_ : "(null)"); \
        }                                                                    \
    } while (0)

#define S(s)  s, sizeof(s) - 1

#define MODE_WHOLE   0
#define MODE_BYTES   1
#define MODE_SPLIT   2

#define HMAX  8192
#define BMAX  16384


typedef struct {
    int                     rc;
    int                     reusable;
    int                     stuck;      /* AGAIN with a full buffer */
    ngx_http_guard_resp_t   st;
    unsigned char          *buf;        /* the buffer after parsing */
    size_t                  len;
} result_t;


static void feed(result_t *r, const char *in, size_t n, size_t hmax,
    size_t bmax, int no_body, int eof, int mode, size_t split);
static void result_free(result_t *r);
static int result_same(const result_t *a, const result_t *b);
static int parse(result_t *r, const char *in, size_t n, size_t hmax,
    size_t bmax, int no_body, int eof);
static int body_is(const result_t *r, const char *body, size_t len);
static int header_is(const result_t *r, int i, const char *name,
    const char *value);
static int find(const result_t *r, const char *name, int start);
static void check_splits(const char *name, const char *in, size_t n,
    size_t hmax, size_t bmax, int no_body, int eof);

static void test_simple(void);
static void test_close_delimited(void);
static void test_chunked(void);
static void test_splits(void);
static void test_status(void);
static void test_interim(void);
static void test_headers_too_large(void);
static void test_too_many_headers(void);
static void test_bad_status_line(void);
static void test_content_length(void);
static void test_transfer_encoding(void);
static void test_body_limit(void);
static void test_no_body(void);
static void test_keepalive(void);
static void test_header_lookup(void);
static void test_bad_headers(void);
static void test_bad_chunks(void);
static void test_garbage(void);
static void test_truncated(void);
static void test_hostile(void);
static void test_after_end(void);


static unsigned  passed;
static unsigned  failed;


int
main(void)
{
    test_simple();
    test_close_delimited();
    test_chunked();
    test_splits();
    test_status();
    test_interim();
    test_headers_too_large();
    test_too_many_headers();
    test_bad_status_line();
    test_content_length();
    test_transfer_encoding();
    test_body_limit();
    test_no_body();
    test_keepalive();
    test_header_lookup();
    test_bad_headers();
    test_bad_chunks();
    test_garbage();
    test_truncated();
    test_hostile();
    test_after_end();

    printf("%u passed, %u failed\n", passed, failed);

    return failed ? 1 : 0;
}


/*
 * Feeds "in" to the parser the way the checker does: one buffer of
 * hmax + bmax bytes, reads appended at *len, pieces of the given mode
 * (everything that fits, one byte, or "split" bytes then the rest), and
 * parse_eof() after the last byte if "eof".
 */

static void
feed(result_t *r, const char *in, size_t n, size_t hmax, size_t bmax,
    int no_body, int eof, int mode, size_t split)
{
    int     first;
    size_t  cap, off, k, room;

    memset(r, 0, sizeof(result_t));

    cap = hmax + bmax;
    r->buf = malloc(cap ? cap : 1);
    if (r->buf == NULL) {
        abort();
    }

    ngx_http_guard_parse_init(&r->st, hmax, bmax);
    r->st.no_body = no_body ? 1 : 0;

    r->rc = NGX_HTTP_GUARD_PARSE_AGAIN;
    r->len = 0;
    off = 0;
    first = 1;

    /* bytes that arrive after DONE are fed too: they set "extra" */

    while (off < n && r->rc != NGX_HTTP_GUARD_PARSE_ERROR) {
        switch (mode) {
        case MODE_BYTES:
            k = 1;
            break;
        case MODE_SPLIT:
            k = first ? split : n - off;
            break;
        default:
            k = n - off;
        }

        first = 0;

        if (k > n - off) {
            k = n - off;
        }

        room = cap - r->len;

        if (k > room) {
            k = room;
        }

        if (k == 0) {
            if (room == 0) {
                if (r->rc == NGX_HTTP_GUARD_PARSE_AGAIN) {
                    r->stuck = 1;
                }

                break;
            }

            /* a zero-sized first piece of a split */
            r->rc = ngx_http_guard_parse_response(&r->st, r->buf, &r->len);
            continue;
        }

        memcpy(r->buf + r->len, in + off, k);
        r->len += k;
        off += k;

        r->rc = ngx_http_guard_parse_response(&r->st, r->buf, &r->len);
    }

    if (r->rc == NGX_HTTP_GUARD_PARSE_AGAIN && eof && !r->stuck) {
        r->rc = ngx_http_guard_parse_eof(&r->st);
    }

    r->reusable = ngx_http_guard_resp_reusable(&r->st);
}


static void
result_free(result_t *r)
{
    free(r->buf);
    r->buf = NULL;
}


static int
result_same(const result_t *a, const result_t *b)
{
    unsigned                        i;
    const ngx_http_guard_resp_t    *x, *y;
    const ngx_http_guard_header_t  *hx, *hy;

    x = &a->st;
    y = &b->st;

    if (a->rc != b->rc || a->reusable != b->reusable || a->stuck != b->stuck)
    {
        return 0;
    }

    if ((x->error == NULL) != (y->error == NULL)
        || (x->error && strcmp(x->error, y->error) != 0))
    {
        return 0;
    }

    if (a->rc == NGX_HTTP_GUARD_PARSE_ERROR) {
        /* the buffer holds whatever was read up to the error */
        return 1;
    }

    if (a->len != b->len) {
        return 0;
    }

    if (x->status != y->status || x->http_minor != y->http_minor
        || x->nheaders != y->nheaders || x->interim != y->interim
        || x->content_length != y->content_length
        || x->chunked != y->chunked || x->keepalive != y->keepalive
        || x->complete != y->complete
        || x->body_truncated != y->body_truncated || x->extra != y->extra
        || x->body_off != y->body_off || x->body_len != y->body_len)
    {
        return 0;
    }

    if (memcmp(a->buf + x->body_off, b->buf + y->body_off, x->body_len)
        != 0)
    {
        return 0;
    }

    for (i = 0; i < x->nheaders; i++) {
        hx = &x->headers[i];
        hy = &y->headers[i];

        if (hx->name_len != hy->name_len || hx->value_len != hy->value_len
            || memcmp(a->buf + hx->name_off, b->buf + hy->name_off,
                      hx->name_len) != 0
            || memcmp(a->buf + hx->value_off, b->buf + hy->value_off,
                      hx->value_len) != 0)
        {
            return 0;
        }
    }

    return 1;
}


static int
parse(result_t *r, const char *in, size_t n, size_t hmax, size_t bmax,
    int no_body, int eof)
{
    feed(r, in, n, hmax, bmax, no_body, eof, MODE_WHOLE, 0);

    return r->rc;
}


static int
body_is(const result_t *r, const char *body, size_t len)
{
    return r->st.body_len == len
           && r->st.body_off + r->st.body_len <= r->len
           && memcmp(r->buf + r->st.body_off, body, len) == 0;
}


static int
header_is(const result_t *r, int i, const char *name, const char *value)
{
    const ngx_http_guard_header_t  *h;

    if (i < 0 || (unsigned) i >= r->st.nheaders) {
        return 0;
    }

    h = &r->st.headers[i];

    return h->name_len == strlen(name)
           && memcmp(r->buf + h->name_off, name, h->name_len) == 0
           && h->value_len == strlen(value)
           && memcmp(r->buf + h->value_off, value, h->value_len) == 0;
}


static int
find(const result_t *r, const char *name, int start)
{
    return ngx_http_guard_resp_header(&r->st, r->buf, name, strlen(name),
                                      start);
}


/*
 * The same input fed whole, one byte at a time and in every 2-way split
 * must give identical results.
 */

static void
check_splits(const char *name, const char *in, size_t n, size_t hmax,
    size_t bmax, int no_body, int eof)
{
    size_t    k;
    unsigned  bad;
    result_t  whole, other;

    bad = 0;

    feed(&whole, in, n, hmax, bmax, no_body, eof, MODE_WHOLE, 0);

    CHECK(!whole.stuck);

    feed(&other, in, n, hmax, bmax, no_body, eof, MODE_BYTES, 0);

    if (!result_same(&whole, &other)) {
        printf("split %s: byte at a time differs\n", name);
        bad++;
    }

    result_free(&other);

    for (k = 0; k <= n; k++) {
        feed(&other, in, n, hmax, bmax, no_body, eof, MODE_SPLIT, k);

        if (!result_same(&whole, &other)) {
            printf("split %s: split at %zu differs\n", name, k);
            bad++;
        }

        result_free(&other);
    }

    CHECK(bad == 0);

    result_free(&whole);
}


static void
test_simple(void)
{
    result_t  r;

    static const char  resp[] =
        "HTTP/1.1 200 OK\r\n"
        "Content-Length: 5\r\n"
        "Content-Type: text/plain\r\n"
        "\r\n"
        "hello";

    CHECK(parse(&r, S(resp), HMAX, BMAX, 0, 0) == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(r.st.http_major == 1 && r.st.http_minor == 1);
    CHECK(r.st.status == 200);
    CHECK(r.st.content_length == 5);
    CHECK(r.st.nheaders == 2);
    CHECK(header_is(&r, 0, "Content-Length", "5"));
    CHECK(header_is(&r, 1, "Content-Type", "text/plain"));
    CHECK(body_is(&r, "hello", 5));
    CHECK(r.st.complete && !r.st.body_truncated && !r.st.extra);
    CHECK(!r.st.chunked);
    CHECK(r.st.keepalive);
    CHECK(r.reusable);
    CHECK(r.st.error == NULL);
    result_free(&r);

    /* no body yet: AGAIN, and *len is kept */
    CHECK(parse(&r, S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhe"),
                HMAX, BMAX, 0, 0)
          == NGX_HTTP_GUARD_PARSE_AGAIN);
    CHECK(r.len == 40 && r.st.body_len == 2);
    result_free(&r);

    /* bare LF line ends */
    CHECK(parse(&r, S("HTTP/1.1 200 OK\nContent-Length: 2\n\nok"),
                HMAX, BMAX, 0, 0)
          == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(r.st.status == 200 && body_is(&r, "ok", 2));
    CHECK(header_is(&r, 0, "Content-Length", "2"));
    CHECK(r.reusable);
    result_free(&r);

    /* no reason phrase, with and without the space */
    CHECK(parse(&r, S("HTTP/1.1 503\r\nContent-Length: 0\r\n\r\n"),
                HMAX, BMAX, 0, 0)
          == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(r.st.status == 503 && r.st.body_len == 0 && r.reusable);
    result_free(&r);

    CHECK(parse(&r, S("HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n"),
                HMAX, BMAX, 0, 0)
          == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(r.st.status == 404);
    result_free(&r);

    /* a long reason phrase with obs-text */
    CHECK(parse(&r, S("HTTP/1.1 200 Tout va tr\xc3\xa8s bien\r\n"
                      "Content-Length: 0\r\n\r\n"),
                HMAX, BMAX, 0, 0)
          == NGX_HTTP_GUARD_PARSE_DONE);
    result_free(&r);
}


static void
test_close_delimited(void)
{
    result_t  r;

    static const char  resp[] =
        "HTTP/1.0 200 OK\r\n"
        "Server: test\r\n"
        "\r\n"
        "body until close";

    CHECK(parse(&r, S(resp), HMAX, BMAX, 0, 0)
          == NGX_HTTP_GUARD_PARSE_AGAIN);
    CHECK(r.st.body_len == 16);
    CHECK(ngx_http_guard_parse_eof(&r.st) == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(body_is(&r, "body until close", 16));
    CHECK(r.st.complete && !r.st.body_truncated);
    CHECK(r.st.content_length == -1);
    CHECK(!r.st.keepalive);
    CHECK(!ngx_http_guard_resp_reusable(&r.st));
    result_free(&r);

    /* HTTP/1.1 without a length: also up to the close */
    CHECK(parse(&r, S("HTTP/1.1 200 OK\r\n\r\nabc"), HMAX, BMAX, 0, 1)
          == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(body_is(&r, "abc", 3) && !r.reusable && !r.st.keepalive);
    result_free(&r);

    /* an empty close-delimited body */
    CHECK(parse(&r, S("HTTP/1.1 200 OK\r\n\r\n"), HMAX, BMAX, 0, 1)
          == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(r.st.body_len == 0 && r.st.complete);
    result_free(&r);

    check_splits("close", S(resp), HMAX, BMAX, 0, 1);
}


static void
test_chunked(void)
{
    result_t  r;

    static const char  resp[] =
        "HTTP/1.1 200 OK\r\n"
        "Transfer-Encoding: chunked\r\n"
        "\r\n"
        "5;name=val\r\n"
        "hello\r\n"
        "7 ; x=\"y;z\"\r\n"
        ", world\r\n"
        "0000\r\n"
        "X-Trailer: 1\r\n"
        "Y: 2\r\n"
        "\r\n";

    static const char  upper[] =
        "HTTP/1.1 200 OK\r\n"
        "Transfer-Encoding: gzip, Chunked\r\n"
        "\r\n"
        "1A\r\n"
        "abcdefghijklmnopqrstuvwxyz\r\n"
        "0\r\n"
        "\r\n";

    CHECK(parse(&r, S(resp), HMAX, BMAX, 0, 0) == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(r.st.chunked);
    CHECK(body_is(&r, "hello, world", 12));
    CHECK(r.st.complete && !r.st.body_truncated && !r.st.extra);
    CHECK(r.reusable);
    CHECK(r.len == r.st.body_off + 12);
    CHECK(r.st.nheaders == 1);
    CHECK(find(&r, "x-trailer", 0) == -1);
    result_free(&r);

    CHECK(parse(&r, S(upper), HMAX, BMAX, 0, 0) == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(r.st.chunked);
    CHECK(body_is(&r, "abcdefghijklmnopqrstuvwxyz", 26));
    result_free(&r);

    /* bare LF everywhere */
    CHECK(parse(&r, S("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n"
                      "3\nabc\n0\nX-T: 1\nX-U: 2\n\n"),
                HMAX, BMAX, 0, 0)
          == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(body_is(&r, "abc", 3) && r.reusable);
    result_free(&r);

    /* an empty chunked body */
    CHECK(parse(&r, S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "0\r\n\r\n"),
                HMAX, BMAX, 0, 0)
          == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(r.st.body_len == 0 && r.st.complete && r.reusable);
    result_free(&r);

    /* not yet ended: AGAIN and the framing is gone from the buffer */
    CHECK(parse(&r, S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "3\r\nabc\r\n2\r\nde\r\n"),
                HMAX, BMAX, 0, 0)
          == NGX_HTTP_GUARD_PARSE_AGAIN);
    CHECK(r.len == r.st.body_off + 5 && body_is(&r, "abcde", 5));
    result_free(&r);
}


static void
test_splits(void)
{
    static const char  chunked[] =
        "HTTP/1.1 200 OK\r\n"
        "Transfer-Encoding: chunked\r\n"
        "X-A:  spaced value \t\r\n"
        "\r\n"
        "5;name=val\r\n"
        "hello\r\n"
        "7 ; x=\"y\"\r\n"
        ", world\r\n"
        "1\n"
        "!\n"
        "0;last\r\n"
        "X-Trailer: 1\r\n"
        "\r\n";

    static const char  length[] =
        "HTTP/1.1 100 Continue\r\n"
        "\r\n"
        "HTTP/1.1 102 Processing\r\n"
        "X-Interim: yes\r\n"
        "\r\n"
        "HTTP/1.1 201 Created\r\n"
        "Content-Length: 10\r\n"
        "Connection: keep-alive\r\n"
        "\r\n"
        "0123456789";

    static const char  bad[] =
        "HTTP/1.1 200 OK\r\n"
        "Transfer-Encoding: chunked\r\n"
        "\r\n"
        "5\r\n"
        "hello\r\n"
        "x\r\n";

    static const char  extra[] =
        "HTTP/1.1 200 OK\r\n"
        "Content-Length: 2\r\n"
        "\r\n"
        "okHTTP/1.1 200 OK\r\n";

    check_splits("chunked", S(chunked), HMAX, BMAX, 0, 0);
    check_splits("chunked, eof", S(chunked), HMAX, BMAX, 0, 1);
    check_splits("chunked, small buffer", S(chunked), 128, 16, 0, 0);
    check_splits("chunked, truncated", S(chunked), 128, 7, 0, 0);
    check_splits("chunked, no body limit", S(chunked), 128, 0, 0, 0);
    check_splits("chunked, headers too large", S(chunked), 40, 64, 0, 0);
    check_splits("interim + length", S(length), HMAX, BMAX, 0, 0);
    check_splits("interim + length, truncated", S(length), 128, 4, 0, 0);
    check_splits("interim + length, no body", S(length), 128, 4, 1, 0);
    check_splits("bad chunk", S(bad), HMAX, BMAX, 0, 1);
    check_splits("extra", S(extra), HMAX, BMAX, 0, 0);
}


static void
test_status(void)
{
    size_t             i;
    result_t           r;
    char               resp[128];
    static const char *ok[] = { "200", "299", "301", "404", "500", "599",
                                "999", "600" };
    static const char *bad[] = { "000", "001", "099", "1000", "20", "2x0",
                                 "-200", "+200", " 20 0" };

    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        snprintf(resp, sizeof(resp),
                 "HTTP/1.1 %s X\r\nContent-Length: 0\r\n\r\n", ok[i]);

        CHECK(parse(&r, resp, strlen(resp), HMAX, BMAX, 0, 0)
              == NGX_HTTP_GUARD_PARSE_DONE);
        CHECK(r.st.status == (unsigned) atoi(ok[i]));
        result_free(&r);
    }

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(resp, sizeof(resp),
                 "HTTP/1.1 %s X\r\nContent-Length: 0\r\n\r\n", bad[i]);

        CHECK(parse(&r, resp, strlen(resp), HMAX, BMAX, 0, 0)
              == NGX_HTTP_GUARD_PARSE_ERROR);
        CHECK_STR(r.st.error, "bad status line");
        result_free(&r);
    }

    /* a bare LF right after the status code */
    CHECK(parse(&r, S("HTTP/1.1 200\nContent-Length: 0\n\n"),
                HMAX, BMAX, 0, 0)
          == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(r.st.status == 200 && r.reusable);
    result_free(&r);

    /* two spaces before the status are tolerated */
    CHECK(parse(&r, S("HTTP/1.1  200 OK\r\nContent-Length: 0\r\n\r\n"),
                HMAX, BMAX, 0, 0)
          == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(r.st.status == 200);
    result_free(&r);

    /* 199 is interim: the final response still has to come */
    CHECK(parse(&r, S("HTTP/1.1 199 Odd\r\n\r\n"), HMAX, BMAX, 0, 0)
          == NGX_HTTP_GUARD_PARSE_AGAIN);
    CHECK(r.st.interim == 1 && r.len == 0);
    CHECK(ngx_http_guard_parse_eof(&r.st) == NGX_HTTP_GUARD_PARSE_ERROR);
    CHECK_STR(r.st.error, "truncated response");
    result_free(&r);

    /* 101 is final, has no body and ends the HTTP connection */
    CHECK(parse(&r, S("HTTP/1.1 101 Switching Protocols\r\n"
                      "Upgrade: x\r\nConnection: upgrade\r\n\r\n"),
                HMAX, BMAX, 0, 0)
          == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(r.st.status == 101 && r.st.body_len == 0 && !r.reusable);
    result_free(&r);

    /* HTTP/1.0 and odd minors */
    CHECK(parse(&r, S("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"),
                HMAX, BMAX, 0, 0)
          == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(r.st.http_minor == 0);
    result_free(&r);

    CHECK(parse(&r, S("HTTP/1.9 200 OK\r\nContent-Length: 0\r\n\r\n"),
                HMAX, BMAX, 0, 0)
          == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(r.st.http_minor == 9 && r.reusable);
    result_free(&r);
}


static void
test_interim(void)
{
    int       i;
    size_t    n;
    result_t  r;
    char      resp[1024];

    static const char  cont[] =
        "HTTP/1.1 100 Continue\r\n"
        "X-Interim: 1\r\n"
        "\r\n"
        "HTTP/1.1 200 OK\r\n"
        "Content-Length: 2\r\n"
        "\r\n"
        "ok";

    CHECK(parse(&r, S(cont), HMAX, BMAX, 0, 0) == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(r.st.status == 200 && r.st.interim == 1);
    CHECK(r.st.nheaders == 1 && header_is(&r, 0, "Content-Length", "2"));
    CHECK(find(&r, "X-Interim", 0) == -1);
    CHECK(body_is(&r, "ok", 2) && r.reusable);
    result_free(&r);

    /* the header limit applies to each response, not to their sum */
    CHECK(parse(&r, S(cont), 60, 16, 0, 0) == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(r.st.status == 200 && body_is(&r, "ok", 2));
    result_free(&r);

    /* 16 interim responses are fine, 17 are not */
    n = 0;
    for (i = 0; i < NGX_HTTP_GUARD_MAX_INTERIM; i++) {
        n += (size_t) snprintf(resp + n, sizeof(resp) - n,
                               "HTTP/1.1 100 Continue\r\n\r\n");
    }

    n += (size_t) snprintf(resp + n, sizeof(resp) - n,
                           "HTTP/1.1 204 No Content\r\n\r\n");

    CHECK(parse(&r, resp, n, HMAX, BMAX, 0, 0)
          == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(r.st.status == 204 && r.st.interim == NGX_HTTP_GUARD_MAX_INTERIM);
    result_free(&r);

    n = 0;
    for (i = 0; i <= NGX_HTTP_GUARD_MAX_INTERIM; i++) {
        n += (size_t) snprintf(resp + n, sizeof(resp) - n,
                               "HTTP/1.1 100 Continue\r\n\r\n");
    }

    CHECK(parse(&r, resp, n, HMAX, BMAX, 0, 0)
          == NGX_HTTP_GUARD_PARSE_ERROR);
    CHECK_STR(r.st.error, "too many interim responses");
    result_free(&r);
}


static void
test_headers_too_large(void)
{
    size_t    hlen;
    result_t  r;
    char     *resp;

    static const char  small[] =
        "HTTP/1.1 200 OK\r\n"
        "Content-Length: 1\r\n"
        "\r\n"
        "x";

    hlen = sizeof(small) - 2;   /* the header block */

    CHECK(parse(&r, S(small), hlen, 1, 0, 0) == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(body_is(&r, "x", 1));
    result_free(&r);

    CHECK(parse(&r, S(small), hlen - 1, 1, 0, 0)
          == NGX_HTTP_GUARD_PARSE_ERROR);
    CHECK_STR(r.st.error, "headers too large");
    result_free(&r);

    /* the limit is found before the whole header block arrives */
    CHECK(parse(&r, small, 20, 20, 100, 0, 0) == NGX_HTTP_GUARD_PARSE_ERROR);
    CHECK_STR(r.st.error, "headers too large");
    result_free(&r);

    CHECK(parse(&r, small, 19, 20, 100, 0, 0) == NGX_HTTP_GUARD_PARSE_AGAIN);
    result_free(&r);

    check_splits("headers exactly at the limit", S(small), hlen, 1, 0, 0);
    check_splits("headers over the limit", S(small), hlen - 1, 1, 0, 0);

    /* 1 MB of one header */
    resp = malloc(1 << 20);
    if (resp == NULL) {
        abort();
    }

    memset(resp, 'a', 1 << 20);
    memcpy(resp, "HTTP/1.1 200 OK\r\nX-Big: ", 24);

    feed(&r, resp, 1 << 20, HMAX, BMAX, 0, 1, MODE_WHOLE, 0);
    CHECK(r.rc == NGX_HTTP_GUARD_PARSE_ERROR);
    CHECK_STR(r.st.error, "headers too large");
    result_free(&r);

    /* 1 MB of short headers, one byte at a time */
    memset(resp, 0, 1 << 20);
    hlen = 17;
    memcpy(resp, "HTTP/1.1 200 OK\r\n", hlen);
    while (hlen + 6 < (1 << 20)) {
        memcpy(resp + hlen, "A: b\r\n", 6);
        hlen += 6;
    }

    feed(&r, resp, hlen, 1 << 20, BMAX, 0, 1, MODE_BYTES, 0);
    CHECK(r.rc == NGX_HTTP_GUARD_PARSE_ERROR);
    CHECK_STR(r.st.error, "too many headers");
    result_free(&r);

    free(resp);
}


static void
test_too_many_headers(void)
{
    int       i;
    size_t    n;
    result_t  r;
    char      resp[4096];

    n = (size_t) snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\n");

    for (i = 0; i < NGX_HTTP_GUARD_MAX_HEADERS - 1; i++) {
        n += (size_t) snprintf(resp + n, sizeof(resp) - n, "X-%d: %d\r\n",
                               i, i);
    }

    n += (size_t) snprintf(resp + n, sizeof(resp) - n,
                           "Content-Length: 0\r\n\r\n");

    CHECK(parse(&r, resp, n, HMAX, BMAX, 0, 0) == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(r.st.nheaders == NGX_HTTP_GUARD_MAX_HEADERS);
    CHECK(header_is(&r, 63, "Content-Length", "0"));
    CHECK(header_is(&r, 10, "X-10", "10"));
    result_free(&r);

    n = (size_t) snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\n");

    for (i = 0; i < NGX_HTTP_GUARD_MAX_HEADERS; i++) {
        n += (size_t) snprintf(resp + n, sizeof(resp) - n, "X-%d: %d\r\n",
                               i, i);
    }

    n += (size_t) snprintf(resp + n, sizeof(resp) - n,
                           "Content-Length: 0\r\n\r\n");

    CHECK(parse(&r, resp, n, HMAX, BMAX, 0, 0)
          == NGX_HTTP_GUARD_PARSE_ERROR);
    CHECK_STR(r.st.error, "too many headers");
    result_free(&r);
}


static void
test_bad_status_line(void)
{
    size_t             i;
    result_t           r;
    static const char *bad[] = {
        "HTTP/2 200\r\n\r\n",
        "HTTP/2.0 200 OK\r\n\r\n",
        "HTTP/0.9 200 OK\r\n\r\n",
        "HTTP/11.1 200 OK\r\n\r\n",
        "HTTP/1.x 200 OK\r\n\r\n",
        "HTTP/1. 200 OK\r\n\r\n",
        "HTTP/1.1200 OK\r\n\r\n",
        "HTTP/1.1 OK\r\n\r\n",
        "HTTP/1.1 200OK\r\n\r\n",
        "HTTP/1.1 200 OK\rX\n\r\n",
        "HTTP/1.1 200 O\x01K\r\n\r\n",
        "HTTP/1.1 200 O\0K\r\n\r\n",
        "HTTP/1.1\t200 OK\r\n\r\n",
        "http/1.1 200 OK\r\n\r\n",
        "ICY 200 OK\r\n\r\n",
        "\r\nHTTP/1.1 200 OK\r\n\r\n",
        " HTTP/1.1 200 OK\r\n\r\n",
        "SSH-2.0-OpenSSH_9.2\r\n",
        "<html>garbage</html>\r\n\r\n",
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        "HXTP/1.1 200 OK\r\n\r\n",
        "HTXP/1.1 200 OK\r\n\r\n",
        "HTTX/1.1 200 OK\r\n\r\n",
        "HTTP 200 OK\r\n\r\n",
    };
    static const size_t badlen[] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 20, 0,
                                     0, 0, 0, 0, 0, 0, 11, 0, 0, 0, 0 };

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK(parse(&r, bad[i], badlen[i] ? badlen[i] : strlen(bad[i]),
                    HMAX, BMAX, 0, 1)
              == NGX_HTTP_GUARD_PARSE_ERROR);
        CHECK_STR(r.st.error, "bad status line");
        result_free(&r);
    }

    /* missing CRLF: waits, then the close truncates it */
    CHECK(parse(&r, S("HTTP/1.1 200 OK"), HMAX, BMAX, 0, 0)
          == NGX_HTTP_GUARD_PARSE_AGAIN);
    CHECK(ngx_http_guard_parse_eof(&r.st) == NGX_HTTP_GUARD_PARSE_ERROR);
    CHECK_STR(r.st.error, "truncated response");
    result_free(&r);

    /* a status line alone, and no header block end */
    CHECK(parse(&r, S("HTTP/1.1 200 OK\r\n"), HMAX, BMAX, 0, 1)
          == NGX_HTTP_GUARD_PARSE_ERROR);
    CHECK_STR(r.st.error, "truncated response");
    result_free(&r);
}


static void
test_content_length(void)
{
    size_t             i;
    result_t           r;
    char               resp[256];
    static const char *bad[] = {
        "Content-Length: 5\r\nContent-Length: 6\r\n",
        "Content-Length: 5, 6\r\n",
        "Content-Length: 5,\r\n",
        "Content-Length: ,5\r\n",
        "Content-Length: abc\r\n",
        "Content-Length: -1\r\n",
        "Content-Length: +5\r\n",
        "Content-Length: 0x5\r\n",
        "Content-Length: 5 5\r\n",
        "Content-Length:\r\n",
        "Content-Length: \r\n",
        "Content-Length: 99999999999999999999\r\n",
        "Content-Length: 9223372036854775808\r\n",
    };

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\n%s\r\n12345",
                 bad[i]);

        CHECK(parse(&r, resp, strlen(resp), HMAX, BMAX, 0, 1)
              == NGX_HTTP_GUARD_PARSE_ERROR);
        CHECK_STR(r.st.error, "bad content-length");
        result_free(&r);
    }

    /* equal repeated values are one value */
    CHECK(parse(&r, S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                      "content-length:5 \r\nCONTENT-LENGTH: 5 , 5\r\n\r\n"
                      "12345"),
                HMAX, BMAX, 0, 0)
          == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(r.st.content_length == 5 && body_is(&r, "12345", 5));
    CHECK(r.st.nheaders == 3 && r.reusable);
    result_free(&r);

    /* leading zeros and the largest value */
    CHECK(parse(&r, S("HTTP/1.1 200 OK\r\nContent-Length: 007\r\n\r\n"
                      "1234567"),
                HMAX, BMAX, 0, 0)
          == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(r.st.content_length == 7);
    result_free(&r);

    CHECK(parse(&r, S("HTTP/1.1 200 OK\r\n"
                      "Content-Length: 9223372036854775807\r\n\r\nab"),
                HMAX, 4, 0, 0)
          == NGX_HTTP_GUARD_PARSE_AGAIN);
    CHECK(r.st.content_length == INT64_MAX);
    result_free(&r);
}


static void
test_transfer_encoding(void)
{
    result_t  r;

    CHECK(parse(&r, S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n"
                      "5\r\nhello\r\n0\r\n\r\n"),
                HMAX, BMAX, 0, 0)
          == NGX_HTTP_GUARD_PARSE_ERROR);
    CHECK_STR(r.st.error, "bad content-length");
    result_free(&r);

    CHECK(parse(&r, S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                      "Content-Length: 5\r\n\r\n"
                      "5\r\nhello\r\n0\r\n\r\n"),
                HMAX, BMAX, 0, 0)
          == NGX_HTTP_GUARD_PARSE_ERROR);
    CHECK_STR(r.st.error, "bad content-length");
    result_free(&r);

    CHECK(parse(&r, S("HTTP/1.1 200 OK\r\n"
                      "Transfer-Encoding: chunked, chunked\r\n\r\n"),
                HMAX, BMAX, 0, 0)
          == NGX_HTTP_GUARD_PARSE_ERROR);
    CHECK_STR(r.st.error, "bad transfer-encoding");
    result_free(&r);

    CHECK(parse(&r, S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                      "Transfer-Encoding: gzip\r\n\r\n"),
                HMAX, BMAX, 0, 0)
          == NGX_HTTP_GUARD_PARSE_ERROR);
    CHECK_STR(r.st.error, "bad transfer-encoding");
    result_free(&r);

    /* chunked last over two headers */
    CHECK(parse(&r, S("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n"
                      "2\r\nhi\r\n0\r\n\r\n"),
                HMAX, BMAX, 0, 0)
          == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(r.st.chunked && body_is(&r, "hi", 2) && r.reusable);
    result_free(&r);

    /* empty list items and OWS around commas */
    CHECK(parse(&r, S("HTTP/1.1 200 OK\r\n"
                      "Transfer-Encoding: , gzip ,, chunked ,\r\n\r\n"
                      "2\r\nhi\r\n0\r\n\r\n"),
                HMAX, BMAX, 0, 0)
          == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(r.st.chunked && body_is(&r, "hi", 2) && r.reusable);
    result_free(&r);

    /* another coding alone: the body ends with the connection */
    CHECK(parse(&r, S("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"
                      "raw"),
                HMAX, BMAX, 0, 1)
          == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(!r.st.chunked && body_is(&r, "raw", 3) && !r.reusable);
    result_free(&r);

    /* chunked in HTTP/1.0 is decoded, but the connection is not reused */
    CHECK(parse(&r, S("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n"
                      "Connection: keep-alive\r\n\r\n"
                      "2\r\nhi\r\n0\r\n\r\n"),
                HMAX, BMAX, 0, 0)
          == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(body_is(&r, "hi", 2) && !r.reusable);
    result_free(&r);
}


static void
test_body_limit(void)
{
    result_t  r;

    static const char  cl[] =
        "HTTP/1.1 200 OK\r\n"
        "Content-Length: 26\r\n"
        "\r\n"
        "abcdefghijklmnopqrstuvwxyz";

    static const char  chunked[] =
        "HTTP/1.1 200 OK\r\n"
        "Transfer-Encoding: chunked\r\n"
        "\r\n"
        "5\r\nhello\r\n"
        "7\r\n, world\r\n"
        "0\r\n\r\n";

    CHECK(parse(&r, S(cl), HMAX, 10, 0, 0) == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(r.st.body_truncated && !r.st.complete && !r.reusable);
    CHECK(body_is(&r, "abcdefghij", 10));
    CHECK(r.len == r.st.body_off + 10);
    result_free(&r);

    CHECK(parse(&r, S(cl), HMAX, 26, 0, 0) == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(!r.st.body_truncated && r.st.complete && r.reusable);
    CHECK(body_is(&r, "abcdefghijklmnopqrstuvwxyz", 26));
    result_free(&r);

    CHECK(parse(&r, S(cl), HMAX, 0, 0, 0) == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(r.st.body_truncated && r.st.body_len == 0);
    result_free(&r);

    CHECK(parse(&r, S(chunked), HMAX, 8, 0, 0) == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(r.st.body_truncated && !r.reusable);
    CHECK(body_is(&r, "hello, w", 8));
    result_free(&r);

    /* the limit falls on a chunk boundary: the next chunk truncates */
    CHECK(parse(&r, S(chunked), HMAX, 5, 0, 0) == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(r.st.body_truncated && body_is(&r, "hello", 5));
    result_free(&r);

    /* the body is exactly the limit: complete */
    CHECK(parse(&r, S(chunked), HMAX, 12, 0, 0) == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(!r.st.body_truncated && r.st.complete && r.reusable);
    CHECK(body_is(&r, "hello, world", 12));
    result_free(&r);

    check_splits("chunked at the limit", S(chunked), HMAX, 12, 0, 0);
    check_splits("chunked under the limit", S(chunked), HMAX, 11, 0, 0);
    check_splits("length under the limit", S(cl), HMAX, 25, 0, 0);

    /*
     * Header block and body both exactly at their limits: the buffer is
     * full before the last chunk, so the parser stops there.
     */
    check_splits("full buffer", S(chunked), 47, 12, 0, 0);
    CHECK(parse(&r, S(chunked), 47, 12, 0, 0) == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(r.st.body_truncated && body_is(&r, "hello, world", 12));
    result_free(&r);

    /* close-delimited body over the limit */
    CHECK(parse(&r, S("HTTP/1.0 200 OK\r\n\r\n0123456789"), HMAX, 4, 0, 0)
          == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(r.st.body_truncated && body_is(&r, "0123", 4));
    result_free(&r);
}


static void
test_no_body(void)
{
    result_t  r;

    static const char  head[] =
        "HTTP/1.1 200 OK\r\n"
        "Content-Length: 1234\r\n"
        "\r\n";

    CHECK(parse(&r, S(head), HMAX, BMAX, 1, 0) == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(r.st.content_length == 1234 && r.st.body_len == 0);
    CHECK(r.st.complete && r.reusable);
    result_free(&r);

    /* without no_body the same bytes wait for the body */
    CHECK(parse(&r, S(head), HMAX, BMAX, 0, 0) == NGX_HTTP_GUARD_PARSE_AGAIN);
    result_free(&r);

    CHECK(parse(&r, S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                      "\r\n"),
                HMAX, BMAX, 1, 0)
          == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(r.reusable);
    result_free(&r);

    CHECK(parse(&r, S("HTTP/1.1 204 No Content\r\n\r\n"), HMAX, BMAX, 0, 0)
          == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(r.st.status == 204 && r.st.body_len == 0 && r.reusable);
    result_free(&r);

    CHECK(parse(&r, S("HTTP/1.1 304 Not Modified\r\n"
                      "Content-Length: 99\r\n\r\n"),
                HMAX, BMAX, 0, 0)
          == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(r.st.status == 304 && r.st.body_len == 0 && r.reusable);
    result_free(&r);

    /* a body after a 204 makes the connection unusable */
    CHECK(parse(&r, S("HTTP/1.1 204 No Content\r\n\r\nbody"),
                HMAX, BMAX, 0, 0)
          == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(r.st.extra && !r.reusable && r.st.body_len == 0);
    result_free(&r);
}


static void
test_keepalive(void)
{
    size_t    i;
    result_t  r;
    char      resp[256];

    static const struct {
        const char  *version;
        const char  *headers;
        int          reusable;
    } t[] = {
        { "1.1", "", 1 },
        { "1.0", "", 0 },
        { "1.1", "Connection: close\r\n", 0 },
        { "1.1", "Connection: CLOSE\r\n", 0 },
        { "1.1", "Connection: keep-alive\r\n", 1 },
        { "1.0", "Connection: keep-alive\r\n", 1 },
        { "1.0", "Connection: Keep-Alive\r\n", 1 },
        { "1.0", "Connection: te, keep-alive\r\n", 1 },
        { "1.1", "Connection: keep-alive, close\r\n", 0 },
        { "1.1", "Connection: Keep-Alive\r\nConnection: close\r\n", 0 },
        { "1.1", "Connection: upgrade\r\n", 1 },
        { "1.1", "Connection: x ,close \t, y\r\n", 0 },
        { "1.0", "Connection: ,, keep-alive\t,\r\n", 1 },
        { "1.1", "Connection: closed\r\n", 1 },
        { "1.0", "Connection: keep-alive-ish\r\n", 0 },
        { "1.1", "Connection:\r\n", 1 },
        { "1.1", "Keep-Alive: timeout=5\r\n", 1 },
    };

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        snprintf(resp, sizeof(resp),
                 "HTTP/%s 200 OK\r\n%sContent-Length: 2\r\n\r\nok",
                 t[i].version, t[i].headers);

        CHECK(parse(&r, resp, strlen(resp), HMAX, BMAX, 0, 0)
              == NGX_HTTP_GUARD_PARSE_DONE);

        if (r.reusable != t[i].reusable) {
            printf("keepalive case %zu\n", i);
        }

        CHECK(r.reusable == t[i].reusable);
        CHECK(r.st.keepalive == (unsigned) t[i].reusable);
        result_free(&r);
    }

    /* a complete response followed by the close is not reusable */
    CHECK(parse(&r, S("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
                HMAX, BMAX, 0, 0)
          == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(r.reusable);
    CHECK(ngx_http_guard_parse_eof(&r.st) == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(!ngx_http_guard_resp_reusable(&r.st));
    result_free(&r);
}


static void
test_header_lookup(void)
{
    int       i;
    result_t  r;

    static const char  resp[] =
        "HTTP/1.1 200 OK\r\n"
        "Set-Cookie: a=1\r\n"
        "Content-Type:  application/json ; charset=utf-8 \t \r\n"
        "X-Empty:\r\n"
        "X-Blank:  \t \r\n"
        "set-cookie:b=2\r\n"
        "X-Inner: a  b\r\n"
        "SET-COOKIE: \tc=3\r\n"
        "X-Bin: \x80\xff\r\n"
        "Content-Length: 0\r\n"
        "\r\n";

    CHECK(parse(&r, S(resp), HMAX, BMAX, 0, 0) == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(r.st.nheaders == 9);

    i = find(&r, "set-cookie", 0);
    CHECK(i == 0 && header_is(&r, i, "Set-Cookie", "a=1"));
    i = find(&r, "Set-Cookie", i + 1);
    CHECK(i == 4 && header_is(&r, i, "set-cookie", "b=2"));
    i = find(&r, "sEt-CoOkIe", i + 1);
    CHECK(i == 6 && header_is(&r, i, "SET-COOKIE", "c=3"));
    CHECK(find(&r, "set-cookie", i + 1) == -1);

    CHECK(header_is(&r, find(&r, "content-type", 0), "Content-Type",
                    "application/json ; charset=utf-8"));
    CHECK(header_is(&r, find(&r, "x-empty", 0), "X-Empty", ""));
    CHECK(header_is(&r, find(&r, "x-blank", 0), "X-Blank", ""));
    CHECK(header_is(&r, find(&r, "x-inner", 0), "X-Inner", "a  b"));
    CHECK(header_is(&r, find(&r, "x-bin", 0), "X-Bin", "\x80\xff"));

    CHECK(find(&r, "set-cooki", 0) == -1);
    CHECK(find(&r, "set-cookies", 0) == -1);
    CHECK(find(&r, "", 0) == -1);
    CHECK(find(&r, "Content-Length", -5) == 8);
    CHECK(find(&r, "Content-Length", 100) == -1);
    result_free(&r);
}


static void
test_bad_headers(void)
{
    size_t             i;
    result_t           r;
    char               resp[256];
    size_t             n;
    static const char *bad[] = {
        "X-A: 1\r\n folded\r\n",
        "X-A: 1\r\n\tfolded\r\n",
        " X-A: 1\r\n",
        "X-A : 1\r\n",
        "X A: 1\r\n",
        ": 1\r\n",
        "X-A\r\n",
        "X-A 1\r\n",
        "X(A): 1\r\n",
        "X-\x01: 1\r\n",
        "X-\x7f: 1\r\n",
        "X-\xc3\xa9: 1\r\n",
        "X-A: 1\rX\r\n",
        "X-A: a\x01b\r\n",
        "X-A: a\x7f\r\n",
        "X-A: 1\r\n\r\r\n",
    };

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(resp, sizeof(resp),
                 "HTTP/1.1 200 OK\r\n%sContent-Length: 0\r\n\r\n", bad[i]);

        CHECK(parse(&r, resp, strlen(resp), HMAX, BMAX, 0, 0)
              == NGX_HTTP_GUARD_PARSE_ERROR);
        CHECK_STR(r.st.error, "bad header");
        result_free(&r);
    }

    /* header errors found at a bare LF */
    CHECK(parse(&r, S("HTTP/1.1 200 OK\nContent-Length: x\n\n"),
                HMAX, BMAX, 0, 0)
          == NGX_HTTP_GUARD_PARSE_ERROR);
    CHECK_STR(r.st.error, "bad content-length");
    result_free(&r);

    /* NUL bytes in a name and in a value */
    n = (size_t) snprintf(resp, sizeof(resp),
                          "HTTP/1.1 200 OK\r\nX-A%cB: 1\r\n\r\n", 'Z');
    resp[20] = '\0';
    CHECK(parse(&r, resp, n, HMAX, BMAX, 0, 0)
          == NGX_HTTP_GUARD_PARSE_ERROR);
    CHECK_STR(r.st.error, "bad header");
    result_free(&r);

    n = (size_t) snprintf(resp, sizeof(resp),
                          "HTTP/1.1 200 OK\r\nX-A: a%cb\r\n\r\n", 'Z');
    resp[23] = '\0';
    CHECK(parse(&r, resp, n, HMAX, BMAX, 0, 0)
          == NGX_HTTP_GUARD_PARSE_ERROR);
    CHECK_STR(r.st.error, "bad header");
    result_free(&r);

    /* unusual but valid name characters */
    CHECK(parse(&r, S("HTTP/1.1 200 OK\r\n!#$%&'*+-.^_`|~09az: v\r\n"
                      "Content-Length: 0\r\n\r\n"),
                HMAX, BMAX, 0, 0)
          == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(header_is(&r, 0, "!#$%&'*+-.^_`|~09az", "v"));
    result_free(&r);
}


static void
test_bad_chunks(void)
{
    size_t             i;
    result_t           r;
    char              *resp;
    size_t             n;
    static const char *bad[] = {
        "x\r\n",
        "\r\n",
        " 5\r\nhello\r\n0\r\n\r\n",
        "-5\r\n",
        "5\r\nhelloX\r\n",
        "5\r\nhello\rX",
        "5\r\nhello\r\n0\r\nX-T: 1\rX",
        "5\r\nhello\r\n0\r\n\rX",
        "5\r\nhello\r\n0\r\n folded\r\n\r\n",
        "5\r\nhello\r\n0\r\nX-T: a\x01\r\n\r\n",
        "5 x\r\n",
        "5;a\x01\r\n",
        "5\rX",
    };
    static const char *overflow[] = {
        "8000000000000000\r\n",
        "FFFFFFFFFFFFFFFF\r\n",
        "ffffffffffffffff\r\nabcdef",
        "10000000000000000\r\n",
        "FFFFFFFFFFFFFFFFF\r\n",
        "000000008000000000000000\r\n",
    };

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char  buf[256];

        snprintf(buf, sizeof(buf),
                 "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%s",
                 bad[i]);

        if (parse(&r, buf, strlen(buf), HMAX, BMAX, 0, 1)
            != NGX_HTTP_GUARD_PARSE_ERROR
            || r.st.error == NULL || strcmp(r.st.error, "bad chunk") != 0)
        {
            printf("bad chunk case %zu: %s\n", i,
                   r.st.error ? r.st.error : "(no error)");
        }

        CHECK(r.rc == NGX_HTTP_GUARD_PARSE_ERROR);
        CHECK_STR(r.st.error, "bad chunk");
        result_free(&r);
    }

    /* a size over 2^63 - 1 (a signed 64 bits, as nginx's off_t) */

    for (i = 0; i < sizeof(overflow) / sizeof(overflow[0]); i++) {
        char  buf[256];

        snprintf(buf, sizeof(buf),
                 "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%s",
                 overflow[i]);

        CHECK(parse(&r, buf, strlen(buf), HMAX, BMAX, 0, 1)
              == NGX_HTTP_GUARD_PARSE_ERROR);
        CHECK_STR(r.st.error, "chunk size overflow");
        result_free(&r);
    }

    /* the largest chunk size is accepted, and truncated by the limit */
    CHECK(parse(&r, S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "7FFFFFFFFFFFFFFF\r\nabcdef"),
                HMAX, 4, 0, 0)
          == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(r.st.body_truncated && body_is(&r, "abcd", 4));
    result_free(&r);

    /* a chunk size line at and over its limit */
    resp = malloc(2 * NGX_HTTP_GUARD_CHUNK_LINE_MAX + 128);
    if (resp == NULL) {
        abort();
    }

    n = (size_t) sprintf(resp, "HTTP/1.1 200 OK\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n1;");
    memset(resp + n, 'e', NGX_HTTP_GUARD_CHUNK_LINE_MAX - 3);
    n += NGX_HTTP_GUARD_CHUNK_LINE_MAX - 3;
    n += (size_t) sprintf(resp + n, "\r\nx\r\n0\r\n\r\n");

    CHECK(parse(&r, resp, n, HMAX, BMAX, 0, 0) == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(body_is(&r, "x", 1));
    result_free(&r);

    n = (size_t) sprintf(resp, "HTTP/1.1 200 OK\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n1;");
    memset(resp + n, 'e', NGX_HTTP_GUARD_CHUNK_LINE_MAX - 2);
    n += NGX_HTTP_GUARD_CHUNK_LINE_MAX - 2;
    n += (size_t) sprintf(resp + n, "\r\nx\r\n0\r\n\r\n");

    CHECK(parse(&r, resp, n, HMAX, BMAX, 0, 0)
          == NGX_HTTP_GUARD_PARSE_ERROR);
    CHECK_STR(r.st.error, "bad chunk");
    result_free(&r);

    /* endless leading zeros */
    n = (size_t) sprintf(resp, "HTTP/1.1 200 OK\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n");
    memset(resp + n, '0', 2 * NGX_HTTP_GUARD_CHUNK_LINE_MAX);
    n += 2 * NGX_HTTP_GUARD_CHUNK_LINE_MAX;

    CHECK(parse(&r, resp, n, HMAX, BMAX, 0, 0)
          == NGX_HTTP_GUARD_PARSE_ERROR);
    CHECK_STR(r.st.error, "bad chunk");
    result_free(&r);

    free(resp);
}


static void
test_garbage(void)
{
    int            rc;
    size_t         i, j, n, len;
    uint32_t       seed;
    unsigned char  in[512];
    unsigned char  buf[64 + 128];
    unsigned       bad;

    ngx_http_guard_resp_t  st;

    /* random bytes, with and without a valid start, any split */

    seed = 12345;
    bad = 0;

    for (i = 0; i < 2000; i++) {
        for (j = 0; j < sizeof(in); j++) {
            seed = seed * 1103515245 + 12345;
            in[j] = (unsigned char) (seed >> 16);
        }

        if (i & 1) {
            memcpy(in, "HTTP/1.1 200 OK\r\n", 17);
        }

        if (i % 4 == 3) {
            memcpy(in + 17, "Transfer-Encoding: chunked\r\n\r\n", 30);
        }

        ngx_http_guard_parse_init(&st, 64, 128);

        len = 0;
        rc = NGX_HTTP_GUARD_PARSE_AGAIN;

        for (j = 0; j < sizeof(in) && rc == NGX_HTTP_GUARD_PARSE_AGAIN;
             j += n)
        {
            n = 1 + (in[j] & 15);

            if (n > sizeof(in) - j) {
                n = sizeof(in) - j;
            }

            if (n > sizeof(buf) - len) {
                n = sizeof(buf) - len;
            }

            if (n == 0) {
                bad++;
                break;
            }

            memcpy(buf + len, in + j, n);
            len += n;

            rc = ngx_http_guard_parse_response(&st, buf, &len);

            if (len > sizeof(buf)
                || (rc == NGX_HTTP_GUARD_PARSE_AGAIN && len >= sizeof(buf)))
            {
                bad++;
            }
        }

        if (rc == NGX_HTTP_GUARD_PARSE_AGAIN) {
            rc = ngx_http_guard_parse_eof(&st);
        }

        if (rc == NGX_HTTP_GUARD_PARSE_ERROR && st.error == NULL) {
            bad++;
        }

        if (rc == NGX_HTTP_GUARD_PARSE_DONE
            && (st.status < 100 || st.status > 999 || st.body_len > 128
                || st.body_off + st.body_len > len))
        {
            bad++;
        }
    }

    CHECK(bad == 0);
}


static void
test_truncated(void)
{
    result_t  r;

    CHECK(parse(&r, "", 0, HMAX, BMAX, 0, 1) == NGX_HTTP_GUARD_PARSE_ERROR);
    CHECK_STR(r.st.error, "no response");
    result_free(&r);

    CHECK(parse(&r, S("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"),
                HMAX, BMAX, 0, 1)
          == NGX_HTTP_GUARD_PARSE_ERROR);
    CHECK_STR(r.st.error, "truncated response");
    result_free(&r);

    CHECK(parse(&r, S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "5\r\nhello\r\n"),
                HMAX, BMAX, 0, 1)
          == NGX_HTTP_GUARD_PARSE_ERROR);
    CHECK_STR(r.st.error, "truncated response");
    result_free(&r);

    CHECK(parse(&r, S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "5\r\nhello\r\n0\r\n"),
                HMAX, BMAX, 0, 1)
          == NGX_HTTP_GUARD_PARSE_ERROR);
    CHECK_STR(r.st.error, "truncated response");
    result_free(&r);

    CHECK(parse(&r, S("HTTP/1.1 200 OK\r\nContent-Le"), HMAX, BMAX, 0, 1)
          == NGX_HTTP_GUARD_PARSE_ERROR);
    CHECK_STR(r.st.error, "truncated response");
    result_free(&r);

    CHECK(parse(&r, S("H"), HMAX, BMAX, 0, 1) == NGX_HTTP_GUARD_PARSE_ERROR);
    CHECK_STR(r.st.error, "truncated response");
    result_free(&r);

    CHECK(parse(&r, S("HTTP/1.1 100 Continue\r\n\r\n"), HMAX, BMAX, 0, 1)
          == NGX_HTTP_GUARD_PARSE_ERROR);
    CHECK_STR(r.st.error, "truncated response");
    result_free(&r);
}


static void
test_hostile(void)
{
    size_t    i, n;
    result_t  r;
    char     *resp;

    resp = malloc(1 << 20);
    if (resp == NULL) {
        abort();
    }

    /* an endless close-delimited body stops at the limit */
    memset(resp, 'z', 1 << 20);
    memcpy(resp, "HTTP/1.1 200 OK\r\n\r\n", 19);

    feed(&r, resp, 1 << 20, HMAX, BMAX, 0, 0, MODE_BYTES, 0);
    CHECK(r.rc == NGX_HTTP_GUARD_PARSE_DONE && r.st.body_truncated);
    CHECK(r.st.body_len == BMAX && !r.stuck);
    result_free(&r);

    /* an endless stream of one-byte chunks, 4k at a time */
    n = (size_t) sprintf(resp, "HTTP/1.1 200 OK\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n");
    for (i = 0; n + 8 < (1 << 20); i++) {
        n += (size_t) sprintf(resp + n, "1\r\n%c\r\n", 'a' + (int) (i % 26));
    }

    feed(&r, resp, n, HMAX, BMAX, 0, 0, MODE_SPLIT, 4096);
    CHECK(r.rc == NGX_HTTP_GUARD_PARSE_DONE && r.st.body_truncated);
    CHECK(r.st.body_len == BMAX && !r.stuck);
    CHECK(r.buf[r.st.body_off] == 'a' && r.buf[r.st.body_off + 27] == 'b');
    result_free(&r);

    /* endless trailers */
    n = (size_t) sprintf(resp, "HTTP/1.1 200 OK\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n0\r\n");
    while (n + 8 < (1 << 20)) {
        n += (size_t) sprintf(resp + n, "T: 12\r\n");
    }

    feed(&r, resp, n, HMAX, BMAX, 0, 0, MODE_SPLIT, 100);
    CHECK(r.rc == NGX_HTTP_GUARD_PARSE_ERROR);
    CHECK_STR(r.st.error, "trailers too large");
    result_free(&r);

    /* limits near SIZE_MAX do not overflow */
    n = (size_t) sprintf(resp, "HTTP/1.1 200 OK\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n"
                               "3\r\nabc\r\n0\r\n\r\n");
    ngx_http_guard_parse_init(&r.st, SIZE_MAX, SIZE_MAX);
    CHECK(r.st.header_max == NGX_HTTP_GUARD_HEADER_MAX_LIMIT);
    CHECK(ngx_http_guard_parse_response(&r.st, (unsigned char *) resp, &n)
          == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(r.st.complete && r.st.body_len == 3 && n == r.st.body_off + 3);

    n = (size_t) sprintf(resp, "HTTP/1.1 200 OK\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n"
                               "3\r\nab");
    ngx_http_guard_parse_init(&r.st, SIZE_MAX, SIZE_MAX);
    CHECK(ngx_http_guard_parse_response(&r.st, (unsigned char *) resp, &n)
          == NGX_HTTP_GUARD_PARSE_AGAIN);
    CHECK(r.st.body_len == 2 && n == r.st.body_off + 2);

    /* zero limits: even an empty buffer is too large */
    ngx_http_guard_parse_init(&r.st, 0, 0);
    n = 0;
    CHECK(ngx_http_guard_parse_response(&r.st, (unsigned char *) resp, &n)
          == NGX_HTTP_GUARD_PARSE_ERROR);
    CHECK_STR(r.st.error, "headers too large");

    free(resp);
}


static void
test_after_end(void)
{
    size_t         len;
    unsigned char  buf[256];

    ngx_http_guard_resp_t  st;

    static const char  resp[] =
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

    /* DONE stays DONE; bytes read after it mark the connection unusable */

    ngx_http_guard_parse_init(&st, 128, 128);
    memcpy(buf, resp, sizeof(resp) - 1);
    len = sizeof(resp) - 1;

    CHECK(ngx_http_guard_parse_response(&st, buf, &len)
          == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(ngx_http_guard_resp_reusable(&st));
    CHECK(ngx_http_guard_parse_response(&st, buf, &len)
          == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(ngx_http_guard_resp_reusable(&st));

    buf[len++] = 'x';
    CHECK(ngx_http_guard_parse_response(&st, buf, &len)
          == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(!ngx_http_guard_resp_reusable(&st) && st.extra);
    CHECK(len == st.body_off + 2);

    /* ERROR stays ERROR */

    ngx_http_guard_parse_init(&st, 128, 128);
    memcpy(buf, "XTTP", 4);
    len = 4;

    CHECK(ngx_http_guard_parse_response(&st, buf, &len)
          == NGX_HTTP_GUARD_PARSE_ERROR);
    memcpy(buf, resp, sizeof(resp) - 1);
    len = sizeof(resp) - 1;
    CHECK(ngx_http_guard_parse_response(&st, buf, &len)
          == NGX_HTTP_GUARD_PARSE_ERROR);
    CHECK(ngx_http_guard_parse_eof(&st) == NGX_HTTP_GUARD_PARSE_ERROR);
    CHECK(!ngx_http_guard_resp_reusable(&st));

    /* the struct is reusable for the next response after init */

    ngx_http_guard_parse_init(&st, 128, 128);
    memcpy(buf, resp, sizeof(resp) - 1);
    len = sizeof(resp) - 1;
    CHECK(ngx_http_guard_parse_response(&st, buf, &len)
          == NGX_HTTP_GUARD_PARSE_DONE);
    CHECK(st.status == 200 && st.error == NULL);
}
