
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
 * libFuzzer target of the HTTP response parser.
 *
 * Input: 4 control bytes, then the response.  The control bytes pick the
 * header and body limits, HEAD or not, EOF at the end or not, and seed the
 * sizes of the pieces the response is fed in.  The parser runs twice, once
 * in pieces and once with everything that fits at once; both runs must
 * agree, and every invariant of the API is checked after every call:
 * violations abort().
 *
 * The buffer is malloc()ed with exactly header_max + body_max bytes, so
 * AddressSanitizer sees any access past it.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_guard_parse.h"


#define FUZZ_CTL  4


typedef struct {
    int                     rc;
    int                     reusable;
    size_t                  len;
    unsigned char          *buf;
    ngx_http_guard_resp_t   st;
} fuzz_run_t;


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_run(fuzz_run_t *run, const uint8_t *in, size_t n,
    size_t hmax, size_t bmax, int no_body, int eof, uint32_t seed);
static void fuzz_check(const fuzz_run_t *run, size_t hmax, size_t bmax,
    int rc);
static void fuzz_compare(const fuzz_run_t *a, const fuzz_run_t *b);


static const size_t  fuzz_hmax[] = { 0, 1, 17, 40, 64, 128, 512, 8192 };
static const size_t  fuzz_bmax[] = { 0, 1, 5, 16, 100, 1024, 16384,
                                     65536 };


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int         no_body, eof;
    size_t      hmax, bmax;
    uint32_t    seed;
    fuzz_run_t  pieces, whole;

    if (size < FUZZ_CTL) {
        return 0;
    }

    hmax = fuzz_hmax[data[0] & 7];
    bmax = fuzz_bmax[(data[0] >> 3) & 7];
    no_body = (data[0] >> 6) & 1;
    eof = (data[0] >> 7) & 1;
    seed = (uint32_t) data[1] | (uint32_t) data[2] << 8
           | (uint32_t) data[3] << 16;

    data += FUZZ_CTL;
    size -= FUZZ_CTL;

    fuzz_run(&pieces, data, size, hmax, bmax, no_body, eof, seed);
    fuzz_run(&whole, data, size, hmax, bmax, no_body, eof, 0);

    fuzz_compare(&pieces, &whole);

    free(pieces.buf);
    free(whole.buf);

    return 0;
}


static void
fuzz_run(fuzz_run_t *run, const uint8_t *in, size_t n, size_t hmax,
    size_t bmax, int no_body, int eof, uint32_t seed)
{
    int       rc;
    size_t    cap, off, k, room, before;

    memset(run, 0, sizeof(fuzz_run_t));

    cap = hmax + bmax;

    run->buf = malloc(cap ? cap : 1);
    if (run->buf == NULL) {
        abort();
    }

    ngx_http_guard_parse_init(&run->st, hmax, bmax);
    run->st.no_body = no_body;

    /* a call on the empty buffer is allowed and says if a read fits */

    rc = ngx_http_guard_parse_response(&run->st, run->buf, &run->len);

    if (run->len != 0) {
        abort();
    }

    fuzz_check(run, hmax, bmax, rc);

    off = 0;

    while (off < n && rc != NGX_HTTP_GUARD_PARSE_ERROR) {

        if (seed == 0) {
            k = n - off;

        } else {
            /* piece sizes 1..64 from a small LCG, mostly small */
            seed = seed * 1103515245 + 12345;
            k = 1 + ((seed >> 16) & ((seed & 0x100) ? 63 : 3));
        }

        if (k > n - off) {
            k = n - off;
        }

        room = cap - run->len;

        if (k > room) {
            k = room;
        }

        if (k == 0) {
            /* the contract: while AGAIN, there is room for a read */
            if (rc == NGX_HTTP_GUARD_PARSE_AGAIN) {
                abort();
            }

            break;
        }

        memcpy(run->buf + run->len, in + off, k);
        run->len += k;
        off += k;

        before = run->len;

        rc = ngx_http_guard_parse_response(&run->st, run->buf, &run->len);

        if (run->len > before) {
            abort();
        }

        fuzz_check(run, hmax, bmax, rc);
    }

    if (rc == NGX_HTTP_GUARD_PARSE_AGAIN && eof) {
        rc = ngx_http_guard_parse_eof(&run->st);

        if (rc == NGX_HTTP_GUARD_PARSE_AGAIN) {
            abort();
        }

        fuzz_check(run, hmax, bmax, rc);
    }

    run->rc = rc;
    run->reusable = ngx_http_guard_resp_reusable(&run->st);

    /* a header lookup over the result must stay within the buffer */
    if (rc == NGX_HTTP_GUARD_PARSE_DONE && run->st.nheaders > 0) {
        (void) ngx_http_guard_resp_header(&run->st, run->buf,
                                          "content-length", 14, 0);
    }
}


static void
fuzz_check(const fuzz_run_t *run, size_t hmax, size_t bmax, int rc)
{
    unsigned                        i;
    const ngx_http_guard_resp_t    *st;
    const ngx_http_guard_header_t  *h;

    st = &run->st;

    switch (rc) {

    case NGX_HTTP_GUARD_PARSE_AGAIN:
        if (run->len >= hmax + bmax) {
            abort();
        }

        if (st->error != NULL) {
            abort();
        }

        return;

    case NGX_HTTP_GUARD_PARSE_ERROR:
        if (st->error == NULL || st->error[0] == '\0') {
            abort();
        }

        if (ngx_http_guard_resp_reusable(st)) {
            abort();
        }

        return;

    case NGX_HTTP_GUARD_PARSE_DONE:
        break;

    default:
        abort();
    }

    if (st->error != NULL) {
        abort();
    }

    if (st->status < 100 || st->status > 999 || st->http_major != 1) {
        abort();
    }

    if (st->status < 200 && st->status != 101) {
        abort();
    }

    if (st->body_len > bmax || st->body_off > hmax
        || st->body_off + st->body_len != run->len
        || run->len > hmax + bmax)
    {
        abort();
    }

    if (st->body_truncated && st->complete) {
        abort();
    }

    if (st->nheaders > NGX_HTTP_GUARD_MAX_HEADERS
        || st->interim > NGX_HTTP_GUARD_MAX_INTERIM)
    {
        abort();
    }

    if (st->content_length < -1) {
        abort();
    }

    if (st->complete && st->content_length >= 0 && !st->chunked
        && !st->no_body && st->status != 204 && st->status != 304
        && st->status != 101
        && (uint64_t) st->content_length != st->body_len)
    {
        abort();
    }

    for (i = 0; i < st->nheaders; i++) {
        h = &st->headers[i];

        if (h->name_len == 0
            || (size_t) h->name_off + h->name_len > st->body_off
            || (size_t) h->value_off + h->value_len > st->body_off)
        {
            abort();
        }

        if (h->value_len > 0
            && (run->buf[h->value_off] == ' '
                || run->buf[h->value_off] == '\t'
                || run->buf[h->value_off + h->value_len - 1] == ' '
                || run->buf[h->value_off + h->value_len - 1] == '\t'))
        {
            abort();
        }
    }
}


static void
fuzz_compare(const fuzz_run_t *a, const fuzz_run_t *b)
{
    unsigned  i;

    /* the piece sizes must not change the result */

    if (a->rc != b->rc || a->reusable != b->reusable) {
        abort();
    }

    if (a->rc == NGX_HTTP_GUARD_PARSE_ERROR) {
        if (strcmp(a->st.error, b->st.error) != 0) {
            abort();
        }

        return;
    }

    if (a->rc == NGX_HTTP_GUARD_PARSE_AGAIN) {
        return;
    }

    if (a->st.status != b->st.status || a->st.nheaders != b->st.nheaders
        || a->st.body_len != b->st.body_len
        || a->st.body_off != b->st.body_off
        || a->st.body_truncated != b->st.body_truncated
        || a->st.complete != b->st.complete || a->st.extra != b->st.extra
        || a->st.keepalive != b->st.keepalive
        || a->st.content_length != b->st.content_length
        || a->st.interim != b->st.interim
        || memcmp(a->buf + a->st.body_off, b->buf + b->st.body_off,
                  a->st.body_len) != 0)
    {
        abort();
    }

    for (i = 0; i < a->st.nheaders; i++) {
        if (memcmp(&a->st.headers[i], &b->st.headers[i],
                   sizeof(ngx_http_guard_header_t)) != 0)
        {
            abort();
        }
    }
}
