
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
 * libFuzzer target of the check reply parsers, ngx_http_guard_proto.c.
 *
 * Input: 1 control byte, then the reply.  The reply is given, whole and
 * as every prefix of it in turn (as it arrives), to:
 *   - the MySQL greeting and AJP CPONG parsers, whose answers are small
 *     enough to be checked exactly (fewer than 5 bytes, the 5th byte, the
 *     CPONG bytes);
 *   - the FastCGI reader, with the scratch of the module (8192 bytes) and
 *     with a small one the control byte picks, given the reply at once,
 *     byte by byte, and in pieces of that small size.
 * Every answer must be PASS, FAIL or AGAIN; a FAIL must give a reason; a
 * FastCGI PASS a status of 100 to 999.  As the reply arrives, once a
 * prefix is decided (PASS or FAIL) every longer one gets the same answer,
 * and the reply in pieces of any size gets the answer of the whole.
 * Violations abort().
 *
 * Every prefix (MySQL, AJP) is copied to the end of a malloc()ed buffer
 * of exactly the reply's length, every piece (FastCGI) to a buffer of
 * exactly its size, and the scratch is malloc()ed with exactly its size,
 * so AddressSanitizer sees any access past either.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_guard_proto.h"


#define FUZZ_CTL      1
#define FUZZ_SCRATCH  8192          /* NGX_HTTP_GUARD_HEADER_LIMIT */

#define PASS   NGX_HTTP_GUARD_PROTO_PASS
#define FAIL   NGX_HTTP_GUARD_PROTO_FAIL
#define AGAIN  NGX_HTTP_GUARD_PROTO_AGAIN


typedef struct {
    int                     rc;
    unsigned                status;
    const char             *reason;
} fuzz_answer_t;


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t *fuzz_prefix(uint8_t *buf, size_t size,
    const uint8_t *in, size_t k);
static void fuzz_mysql(uint8_t *buf, const uint8_t *in, size_t n);
static void fuzz_ajp(uint8_t *buf, const uint8_t *in, size_t n);
static void fuzz_fcgi(uint8_t *buf, const uint8_t *in, size_t n,
    size_t scratch_size, size_t chunk);
static void fuzz_fcgi_run(fuzz_answer_t *a, const uint8_t *p, size_t len,
    uint8_t *scratch, size_t scratch_size, size_t chunk);
static void fuzz_same(const fuzz_answer_t *a, const fuzz_answer_t *b);
static void fuzz_check(const fuzz_answer_t *a);


static const size_t  fuzz_small[] = { 1, 2, 7, 8, 15, 16, 33, 100, 255,
                                       256, 1000, 4096 };


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t    n, small;
    uint8_t  *buf;

    if (size < FUZZ_CTL) {
        return 0;
    }

    n = size - FUZZ_CTL;

    buf = malloc(n ? n : 1);
    if (buf == NULL) {
        abort();
    }

    fuzz_mysql(buf, data + FUZZ_CTL, n);
    fuzz_ajp(buf, data + FUZZ_CTL, n);

    small = fuzz_small[data[0] % (sizeof(fuzz_small) / sizeof(size_t))];

    /* the small size is also the size of the pieces */
    fuzz_fcgi(buf, data + FUZZ_CTL, n, FUZZ_SCRATCH, small);
    fuzz_fcgi(buf, data + FUZZ_CTL, n, small, small);

    free(buf);

    return 0;
}


/* the first k bytes of in, at the end of buf of size bytes */

static const uint8_t *
fuzz_prefix(uint8_t *buf, size_t size, const uint8_t *in, size_t k)
{
    if (k) {
        memcpy(buf + size - k, in, k);
    }

    return buf + size - k;
}


static void
fuzz_mysql(uint8_t *buf, const uint8_t *in, size_t n)
{
    int             rc;
    size_t          k;
    const char     *reason;
    const uint8_t  *p;

    /* past 5 bytes, nothing changes: prefixes up to 7 bytes are enough */

    for (k = 0; k <= n && k <= 7; k++) {
        p = fuzz_prefix(buf, n, in, k);

        reason = NULL;
        rc = ngx_http_guard_mysql_greeting(p, k, &reason);

        if (k < 5) {
            if (rc != AGAIN) {
                abort();
            }

        } else if (p[4] == 9 || p[4] == 10) {
            if (rc != PASS) {
                abort();
            }

        } else if (rc != FAIL || reason == NULL
                   || strcmp(reason, p[4] == 0xff ? "mysql error packet"
                                                  : "bad mysql greeting")
                      != 0)
        {
            abort();
        }
    }

    if (n > 7) {
        reason = NULL;
        rc = ngx_http_guard_mysql_greeting(in, n, &reason);

        if (rc != (in[4] == 9 || in[4] == 10 ? PASS : FAIL)
            || (rc == FAIL && reason == NULL))
        {
            abort();
        }
    }
}


static void
fuzz_ajp(uint8_t *buf, const uint8_t *in, size_t n)
{
    int             rc, want;
    size_t          k, m;
    const char     *reason;
    const uint8_t  *p;

    static const uint8_t  cpong[5] = { 'A', 'B', 0x00, 0x01, 0x09 };

    for (k = 0; k <= n && k <= 7; k++) {
        p = fuzz_prefix(buf, n, in, k);

        m = k < 5 ? k : 5;

        if (memcmp(p, cpong, m) != 0) {
            want = FAIL;

        } else {
            want = (k < 5) ? AGAIN : PASS;
        }

        reason = NULL;
        rc = ngx_http_guard_ajp_cpong(p, k, &reason);

        if (rc != want || (rc == FAIL && reason == NULL)) {
            abort();
        }
    }
}


/*
 * The whole reply at once, then given again to a new reader byte by byte
 * (every prefix in order) and in pieces of chunk bytes; see the comment
 * at the top for what is checked.
 */

static void
fuzz_fcgi(uint8_t *buf, const uint8_t *in, size_t n, size_t scratch_size,
    size_t chunk)
{
    uint8_t        *scratch;
    const uint8_t  *p;
    fuzz_answer_t   whole, a;

    scratch = malloc(scratch_size);
    if (scratch == NULL) {
        abort();
    }

    p = fuzz_prefix(buf, n, in, n);
    fuzz_fcgi_run(&whole, p, n, scratch, scratch_size, n);

    fuzz_fcgi_run(&a, p, n, scratch, scratch_size, 1);
    fuzz_same(&a, &whole);

    fuzz_fcgi_run(&a, p, n, scratch, scratch_size, chunk);
    fuzz_same(&a, &whole);

    free(scratch);
}


/*
 * One reader, given p[0 .. len) in pieces of chunk bytes, each copied to
 * the end of its own buffer of exactly its size; once it answers PASS or
 * FAIL, every later piece gets the same answer.
 */

static void
fuzz_fcgi_run(fuzz_answer_t *a, const uint8_t *p, size_t len,
    uint8_t *scratch, size_t scratch_size, size_t chunk)
{
    size_t                  k, m;
    uint8_t                *piece;
    fuzz_answer_t           first;
    ngx_http_guard_fcgi_t   f;

    /* whatever an earlier run left in the scratch, and a garbage status */
    memset(scratch, '\n', scratch_size);
    ngx_http_guard_fcgi_init(&f, scratch, scratch_size);

    a->status = 0xdeadbeef;
    a->reason = NULL;
    a->rc = ngx_http_guard_fcgi_status(&f, p, 0, &a->status, &a->reason);
    fuzz_check(a);

    if (chunk == 0) {
        chunk = 1;
    }

    first.rc = AGAIN;

    for (k = 0; k < len; k += m) {
        m = (len - k < chunk) ? len - k : chunk;

        piece = malloc(m);
        if (piece == NULL) {
            abort();
        }

        memcpy(piece, p + k, m);
        a->rc = ngx_http_guard_fcgi_status(&f, piece, m, &a->status,
                                           &a->reason);
        free(piece);

        fuzz_check(a);

        if (first.rc != AGAIN) {
            fuzz_same(a, &first);

        } else if (a->rc != AGAIN) {
            first = *a;
        }
    }
}


static void
fuzz_same(const fuzz_answer_t *a, const fuzz_answer_t *b)
{
    if (a->rc != b->rc
        || (a->rc == PASS && a->status != b->status)
        || (a->rc == FAIL && strcmp(a->reason, b->reason) != 0))
    {
        abort();
    }
}


static void
fuzz_check(const fuzz_answer_t *a)
{
    switch (a->rc) {

    case PASS:
        if (a->status < 100 || a->status > 999) {
            abort();
        }

        break;

    case FAIL:
        if (a->reason == NULL || a->reason[0] == '\0') {
            abort();
        }

        break;

    case AGAIN:
        break;

    default:
        abort();
    }
}
