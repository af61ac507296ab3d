
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
 * Unit tests of the check reply parsers, ngx_http_guard_proto.c: the
 * MySQL greeting, the AJP13 CPONG and the FastCGI response status.
 * Built and run by scripts/unit.  The last line printed is
 * "N passed, N failed"; the exit code is non-zero on any failure.
 *
 * Every input is copied to a malloc()ed buffer of exactly its length (a
 * FastCGI reply: each piece it is given in), and the FastCGI scratch is
 * malloc()ed with exactly its size, so that AddressSanitizer sees any
 * access past their ends.  A FastCGI reply is given to the reader at
 * once, byte by byte and in pieces of several sizes: the answers must
 * agree.
 *
 * CHECK() marks what the parser should do but does not yet: such a
 * check prints "XFAIL" and counts neither way while it fails, and prints
 * "XPASS" (counted as passed) once the parser is fixed; it should then
 * become a CHECK().
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_guard_proto.h"


#define CHECK(cond)                                                          \
    do {                                                                     \
        if (cond) {                                                          \
            passed++;                                                        \
        } else {                                                             \
            failed++;                                                        \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);           \
        }                                                                    \
    } while (0)

#define S(s)  s, sizeof(s) - 1

#define PASS   NGX_HTTP_GUARD_PROTO_PASS
#define FAIL   NGX_HTTP_GUARD_PROTO_FAIL
#define AGAIN  NGX_HTTP_GUARD_PROTO_AGAIN

/* FastCGI record types */
#define STDOUT       6
#define STDERR       7
#define END_REQUEST  3

#define SCRATCH  8192              /* NGX_HTTP_GUARD_HEADER_LIMIT */
#define NO_REASON  NULL


/* a stream of FastCGI records */
typedef struct {
    unsigned char   data[4 * 65536];
    size_t          len;
} stream_t;


typedef struct {
    int             rc;
    unsigned        status;
    const char     *reason;
} answer_t;


static int mysql(const char *in, size_t n, const char **reason);
static int mysql_is(const char *in, size_t n, int rc, const char *reason);
static int ajp(const char *in, size_t n, const char **reason);
static int ajp_is(const char *in, size_t n, int rc, const char *reason);

static void rec(stream_t *s, int version, int type, const char *content,
    size_t clen, size_t plen);
static void out(stream_t *s, const char *content, size_t clen);
static void end(stream_t *s);
static void fcgi_chunks(answer_t *a, const unsigned char *in, size_t n,
    size_t scratch_size, size_t chunk);
static void fcgi(answer_t *a, const unsigned char *in, size_t n,
    size_t scratch_size);
static int answer_is(const answer_t *a, int rc, unsigned status,
    const char *reason);
static void answer_print(const char *what, size_t n, const answer_t *a,
    int rc, unsigned status, const char *reason);
static int fcgi_is(const stream_t *s, size_t scratch_size, int rc,
    unsigned status, const char *reason);
static int prefixes_are(const stream_t *s, size_t scratch_size, int rc,
    unsigned status, const char *reason);
static int headers_are(const char *h, size_t n, int rc, unsigned status,
    const char *reason);
static int no_wrong_pass(const stream_t *s, size_t scratch_size,
    unsigned status);

static void test_mysql(void);
static void test_ajp(void);
static void test_fcgi_simple(void);
static void test_fcgi_records(void);
static void test_fcgi_splits(void);
static void test_fcgi_no_output(void);
static void test_fcgi_stderr(void);
static void test_fcgi_padding(void);
static void test_fcgi_version(void);
static void test_fcgi_scratch(void);
static void test_fcgi_status(void);
static void test_fcgi_bad_status(void);
static void test_fcgi_big(void);


static unsigned  passed;
static unsigned  failed;
static unsigned  xfailed;
static unsigned  quiet;


int
main(void)
{
    test_mysql();
    test_ajp();
    test_fcgi_simple();
    test_fcgi_records();
    test_fcgi_splits();
    test_fcgi_no_output();
    test_fcgi_stderr();
    test_fcgi_padding();
    test_fcgi_version();
    test_fcgi_scratch();
    test_fcgi_status();
    test_fcgi_bad_status();
    test_fcgi_big();

    if (xfailed) {
        printf("%u known bug(s) (XFAIL), not counted\n", xfailed);
    }

    printf("%u passed, %u failed\n", passed, failed);

    return failed ? 1 : 0;
}


/* --- MySQL ---------------------------------------------------------------- */


static int
mysql(const char *in, size_t n, const char **reason)
{
    int             rc;
    unsigned char  *buf;

    buf = malloc(n ? n : 1);
    if (buf == NULL) {
        abort();
    }

    memcpy(buf, in, n);

    *reason = NULL;
    rc = ngx_http_guard_mysql_greeting(buf, n, reason);

    free(buf);

    return rc;
}


static int
mysql_is(const char *in, size_t n, int rc, const char *reason)
{
    int          got;
    const char  *why;

    got = mysql(in, n, &why);

    if (got == rc
        && (rc != FAIL || (why != NULL && strcmp(why, reason) == 0)))
    {
        return 1;
    }

    if (!quiet) {
        printf("  mysql %zu bytes: rc %d reason \"%s\", want rc %d \"%s\"\n",
               n, got, why ? why : "(null)", rc, reason ? reason : "");
    }

    return 0;
}


static void
test_mysql(void)
{
    size_t  i;

    /* a MySQL 8 greeting, and one of a 3.x server (protocol 9) */
    static const char  v10[] =
        "\x4a\x00\x00\x00\x0a" "8.0.36\0"
        "\x08\x00\x00\x00" "abcdefgh\0" "\xff\xff\xff\x02\x00\xff\xdf";
    static const char  v9[] = "\x20\x00\x00\x00\x09" "3.22.32\0" "ab";

    /* ER_CON_COUNT_ERROR */
    static const char  err[] =
        "\x17\x00\x00\x00\xff\x10\x04" "Too many connections";

    CHECK(mysql_is(v10, sizeof(v10) - 1, PASS, NO_REASON));
    CHECK(mysql_is(v9, sizeof(v9) - 1, PASS, NO_REASON));
    CHECK(mysql_is(S("\x4a\x00\x00\x00\x0a"), PASS, NO_REASON));
    CHECK(mysql_is(S("\x01\x00\x00\x00\x09"), PASS, NO_REASON));

    CHECK(mysql_is(err, sizeof(err) - 1, FAIL, "mysql error packet"));
    CHECK(mysql_is(S("\x00\x00\x00\x00\xff"), FAIL, "mysql error packet"));

    /* any other first payload byte */
    CHECK(mysql_is(S("\x4a\x00\x00\x00\x00"), FAIL, "bad mysql greeting"));
    CHECK(mysql_is(S("\x4a\x00\x00\x00\x08"), FAIL, "bad mysql greeting"));
    CHECK(mysql_is(S("\x4a\x00\x00\x00\x0b"), FAIL, "bad mysql greeting"));
    CHECK(mysql_is(S("\x4a\x00\x00\x00\xfe"), FAIL, "bad mysql greeting"));
    CHECK(mysql_is(S("HTTP/1.1 400 Bad Request\r\n"), FAIL,
                   "bad mysql greeting"));
    CHECK(mysql_is(S("\x0a\x0a\x0a\x0a\x0b"), FAIL, "bad mysql greeting"));

    /* fewer than 5 bytes: read more, whatever they are */
    for (i = 0; i < 5; i++) {
        CHECK(mysql_is(v10, i, AGAIN, NO_REASON));
        CHECK(mysql_is(err, i, AGAIN, NO_REASON));
        CHECK(mysql_is("\xff\xff\xff\xff", i, AGAIN, NO_REASON));
    }
}


/* --- AJP ------------------------------------------------------------------ */


static int
ajp(const char *in, size_t n, const char **reason)
{
    int             rc;
    unsigned char  *buf;

    buf = malloc(n ? n : 1);
    if (buf == NULL) {
        abort();
    }

    memcpy(buf, in, n);

    *reason = NULL;
    rc = ngx_http_guard_ajp_cpong(buf, n, reason);

    free(buf);

    return rc;
}


static int
ajp_is(const char *in, size_t n, int rc, const char *reason)
{
    int          got;
    const char  *why;

    got = ajp(in, n, &why);

    if (got == rc
        && (rc != FAIL || (why != NULL && strcmp(why, reason) == 0)))
    {
        return 1;
    }

    if (!quiet) {
        printf("  ajp %zu bytes: rc %d reason \"%s\", want rc %d \"%s\"\n",
               n, got, why ? why : "(null)", rc, reason ? reason : "");
    }

    return 0;
}


static void
test_ajp(void)
{
    size_t  i;

    static const unsigned char  cping[5] = { 0x12, 0x34, 0x00, 0x01, 0x0a };

    /* what a check sends: 0x1234, length 1, CPING (10) */
    CHECK(memcmp(ngx_http_guard_ajp_cping, cping, 5) == 0);

    CHECK(ajp_is(S("AB\x00\x01\x09"), PASS, NO_REASON));

    /* prefixes of a CPONG: read more */
    for (i = 0; i < 5; i++) {
        CHECK(ajp_is("AB\x00\x01\x09", i, AGAIN, NO_REASON));
    }

    /* wrong bytes fail, even before 5 bytes are there */
    CHECK(ajp_is(S("X"), FAIL, "bad ajp reply"));
    CHECK(ajp_is(S("a"), FAIL, "bad ajp reply"));
    CHECK(ajp_is(S("AC"), FAIL, "bad ajp reply"));
    CHECK(ajp_is(S("BA"), FAIL, "bad ajp reply"));
    CHECK(ajp_is(S("AB\x01"), FAIL, "bad ajp reply"));
    CHECK(ajp_is(S("AB\x00\x02"), FAIL, "bad ajp reply"));
    CHECK(ajp_is(S("AB\x00\x01\x0a"), FAIL, "bad ajp reply"));
    CHECK(ajp_is(S("AB\x00\x01\x04"), FAIL, "bad ajp reply"));
    CHECK(ajp_is(S("AB\x00\x02\x09"), FAIL, "bad ajp reply"));
    CHECK(ajp_is(S("\x12\x34\x00\x01\x0a"), FAIL, "bad ajp reply"));
    CHECK(ajp_is(S("HTTP/1.1 400 Bad Request\r\n"), FAIL, "bad ajp reply"));

    /* AJP13_SEND_HEADERS (4) instead of CPONG */
    CHECK(ajp_is(S("AB\x00\x13\x04\x00\xc8\x00\x02OK\x00"), FAIL,
                 "bad ajp reply"));
}


/* --- FastCGI -------------------------------------------------------------- */


static void
rec(stream_t *s, int version, int type, const char *content, size_t clen,
    size_t plen)
{
    size_t          i;
    unsigned char  *p;

    /* padding: bytes that would change the answer if read as content */
    static const char  pad[] = "\n\nStatus: 500 Padding\r\n\r\n";

    if (s->len + 8 + clen + plen > sizeof(s->data) || clen > 65535
        || plen > 255)
    {
        abort();
    }

    p = s->data + s->len;

    p[0] = (unsigned char) version;
    p[1] = (unsigned char) type;
    p[2] = 0;                               /* request id 1 */
    p[3] = 1;
    p[4] = (unsigned char) (clen >> 8);
    p[5] = (unsigned char) (clen & 0xff);
    p[6] = (unsigned char) plen;
    p[7] = 0;

    memcpy(p + 8, content, clen);

    for (i = 0; i < plen; i++) {
        p[8 + clen + i] = (unsigned char) pad[i % (sizeof(pad) - 1)];
    }

    s->len += 8 + clen + plen;
}


static void
out(stream_t *s, const char *content, size_t clen)
{
    rec(s, 1, STDOUT, content, clen, 0);
}


static void
end(stream_t *s)
{
    /* the empty STDOUT closing the stream, then END_REQUEST */
    rec(s, 1, STDOUT, "", 0, 0);
    rec(s, 1, END_REQUEST, "\0\0\0\0\0\0\0\0", 8, 0);
}


/*
 * The answer to in[0 .. n), given to one reader in pieces of chunk bytes
 * (0: all at once), each piece in a buffer of its exact size, as reads
 * into the module's buffer give it.
 */

static void
fcgi_chunks(answer_t *a, const unsigned char *in, size_t n,
    size_t scratch_size, size_t chunk)
{
    size_t                  k, m;
    unsigned char          *buf, *scratch;
    ngx_http_guard_fcgi_t   f;

    scratch = malloc(scratch_size ? scratch_size : 1);
    if (scratch == NULL) {
        abort();
    }

    memset(scratch, 0xa5, scratch_size);
    ngx_http_guard_fcgi_init(&f, scratch, scratch_size);

    a->status = 0xdeadbeef;
    a->reason = NULL;
    a->rc = AGAIN;

    if (chunk == 0) {
        chunk = n;
    }

    k = 0;

    do {
        m = (n - k < chunk) ? n - k : chunk;

        buf = malloc(m ? m : 1);
        if (buf == NULL) {
            abort();
        }

        memcpy(buf, in + k, m);
        a->rc = ngx_http_guard_fcgi_status(&f, buf, m, &a->status,
                                           &a->reason);
        free(buf);

        k += m;

    } while (k < n && a->rc == AGAIN);

    free(scratch);
}


/* all at once, and in pieces of several sizes: the same answer, or -3 */

static void
fcgi(answer_t *a, const unsigned char *in, size_t n, size_t scratch_size)
{
    size_t    i;
    answer_t  b;

    static const size_t  chunks[] = { 1, 2, 3, 7, 8, 9, 100, 8192 };

    fcgi_chunks(a, in, n, scratch_size, 0);

    for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
        fcgi_chunks(&b, in, n, scratch_size, chunks[i]);

        if (b.rc != a->rc
            || (b.rc == PASS && b.status != a->status)
            || (b.rc == FAIL && strcmp(b.reason, a->reason) != 0))
        {
            if (!quiet) {
                printf("  fastcgi %zu bytes in pieces of %zu: rc %d, "
                       "all at once rc %d\n", n, chunks[i], b.rc, a->rc);
            }

            a->rc = -3;
            return;
        }
    }
}


static int
answer_is(const answer_t *a, int rc, unsigned status, const char *reason)
{
    if (a->rc != rc) {
        return 0;
    }

    if (rc == PASS) {
        return a->status == status;
    }

    if (rc == FAIL) {
        return a->reason != NULL && strcmp(a->reason, reason) == 0;
    }

    return 1;
}


static void
answer_print(const char *what, size_t n, const answer_t *a, int rc,
    unsigned status, const char *reason)
{
    if (quiet) {
        return;
    }

    printf("  %s %zu bytes: rc %d status %u reason \"%s\", "
           "want rc %d status %u reason \"%s\"\n", what, n, a->rc,
           a->rc == PASS ? a->status : 0,
           a->reason ? a->reason : "(null)", rc,
           rc == PASS ? status : 0, reason ? reason : "");
}


static int
fcgi_is(const stream_t *s, size_t scratch_size, int rc, unsigned status,
    const char *reason)
{
    answer_t  a;

    fcgi(&a, s->data, s->len, scratch_size);

    if (answer_is(&a, rc, status, reason)) {
        return 1;
    }

    answer_print("fastcgi", s->len, &a, rc, status, reason);

    return 0;
}


/*
 * The stream as it arrives: every prefix must be read more (AGAIN) or the
 * final answer, and the whole stream the final answer.
 */

static int
prefixes_are(const stream_t *s, size_t scratch_size, int rc,
    unsigned status, const char *reason)
{
    size_t                  k;
    answer_t                a;
    unsigned char          *buf, *scratch;
    ngx_http_guard_fcgi_t   f;

    /* one reader, byte by byte: each prefix's answer as it arrives */

    scratch = malloc(scratch_size ? scratch_size : 1);
    if (scratch == NULL) {
        abort();
    }

    ngx_http_guard_fcgi_init(&f, scratch, scratch_size);

    a.status = 0xdeadbeef;
    a.reason = NULL;
    a.rc = ngx_http_guard_fcgi_status(&f, s->data, 0, &a.status, &a.reason);

    for (k = 0; k <= s->len; k++) {

        if (k) {
            buf = malloc(1);
            if (buf == NULL) {
                abort();
            }

            buf[0] = s->data[k - 1];
            a.rc = ngx_http_guard_fcgi_status(&f, buf, 1, &a.status,
                                              &a.reason);
            free(buf);
        }

        if (k == s->len ? answer_is(&a, rc, status, reason)
                        : (a.rc == AGAIN || answer_is(&a, rc, status, reason)))
        {
            continue;
        }

        answer_print("fastcgi prefix", k, &a, rc, status, reason);
        free(scratch);

        return 0;
    }

    free(scratch);

    /* and the whole stream, at once and in pieces */

    return fcgi_is(s, scratch_size, rc, status, reason);
}


/* the headers in one STDOUT record, and then closed with END_REQUEST */

static int
headers_are(const char *h, size_t n, int rc, unsigned status,
    const char *reason)
{
    stream_t  s;

    s.len = 0;
    out(&s, h, n);
    end(&s);

    return prefixes_are(&s, SCRATCH, rc, status, reason);
}


/* with a scratch too small: FAIL, or PASS with the right status */

static int
no_wrong_pass(const stream_t *s, size_t scratch_size, unsigned status)
{
    answer_t  a;

    fcgi(&a, s->data, s->len, scratch_size);

    if (a.rc == FAIL || (a.rc == PASS && a.status == status)) {
        return 1;
    }

    if (!quiet) {
        printf("  fastcgi %zu bytes, scratch %zu: rc %d status %u, "
               "want FAIL or PASS %u\n", s->len, scratch_size, a.rc,
               a.rc == PASS ? a.status : 0, status);
    }

    return 0;
}


static void
test_fcgi_simple(void)
{
    stream_t  s;

    /* the blank line ends the headers: no END_REQUEST needed */
    s.len = 0;
    out(&s, S("Status: 503 X\r\n\r\n"));
    CHECK(fcgi_is(&s, SCRATCH, PASS, 503, NO_REASON));
    CHECK(prefixes_are(&s, SCRATCH, PASS, 503, NO_REASON));

    end(&s);
    CHECK(prefixes_are(&s, SCRATCH, PASS, 503, NO_REASON));

    /* no Status: 200 */
    s.len = 0;
    out(&s, S("Content-Type: text/plain\r\nX-Powered-By: PHP\r\n\r\npong"));
    CHECK(fcgi_is(&s, SCRATCH, PASS, 200, NO_REASON));
    CHECK(prefixes_are(&s, SCRATCH, PASS, 200, NO_REASON));

    end(&s);
    CHECK(prefixes_are(&s, SCRATCH, PASS, 200, NO_REASON));

    /* bare LF */
    CHECK(headers_are(S("Status: 404\n\n"), PASS, 404, NO_REASON));
    CHECK(headers_are(S("Content-Type: text/plain\n\nbody"), PASS, 200,
                      NO_REASON));

    /* END_REQUEST ends headers without a blank line */
    CHECK(headers_are(S("Status: 404 Not Found\r\n"), PASS, 404, NO_REASON));
    CHECK(headers_are(S("Status: 404"), PASS, 404, NO_REASON));
    CHECK(headers_are(S("Content-Type: text/plain"), PASS, 200, NO_REASON));
    CHECK(headers_are(S("Content-Type: text/plain\r\n"), PASS, 200,
                      NO_REASON));

    /* no END_REQUEST and no blank line yet: read more */
    s.len = 0;
    out(&s, S("Status: 503 X\r\n"));
    CHECK(fcgi_is(&s, SCRATCH, AGAIN, 0, NO_REASON));
    out(&s, S("X-A: b\r\n\r"));
    CHECK(fcgi_is(&s, SCRATCH, AGAIN, 0, NO_REASON));
    out(&s, S("\n"));
    CHECK(fcgi_is(&s, SCRATCH, PASS, 503, NO_REASON));

    /* nothing yet */
    s.len = 0;
    CHECK(fcgi_is(&s, SCRATCH, AGAIN, 0, NO_REASON));
}


static void
test_fcgi_records(void)
{
    stream_t  s;
    char      big[3000];

    /* Status after other headers */
    CHECK(headers_are(S("Content-Type: text/html\r\nStatus: 302 Found\r\n"
                        "Location: /x\r\n\r\n"), PASS, 302, NO_REASON));

    /* the first Status wins */
    CHECK(headers_are(S("Status: 302\r\nStatus: 503\r\n\r\n"), PASS, 302,
                      NO_REASON));

    /* a Status line in the body, or a header ending in "Status" */
    CHECK(headers_are(S("X-A: 1\r\n\r\nStatus: 500\r\n\r\n"), PASS, 200,
                      NO_REASON));
    CHECK(headers_are(S("X-Status: 500\r\nMy-Status: 500\r\n\r\n"), PASS,
                      200, NO_REASON));
    CHECK(headers_are(S("X-A: Status: 500\r\n\r\n"), PASS, 200, NO_REASON));

    /* a big record before the end */
    memset(big, 'a', sizeof(big));
    memcpy(big, "X-Big: ", 7);
    memcpy(big + sizeof(big) - 2, "\r\n", 2);

    s.len = 0;
    out(&s, big, sizeof(big));
    out(&s, S("Status: 418\r\n\r\n"));
    CHECK(fcgi_is(&s, SCRATCH, PASS, 418, NO_REASON));
    CHECK(prefixes_are(&s, SCRATCH, PASS, 418, NO_REASON));

    /* records of other types, even unknown ones, are skipped */
    s.len = 0;
    rec(&s, 1, 9, S("\x00\x01\x02\x03\n\n"), 2);     /* GET_VALUES_RESULT */
    rec(&s, 1, 11, S("\x07\0\0\0\0\0\0\0"), 0);      /* UNKNOWN_TYPE */
    rec(&s, 1, 0xee, S("Status: 500\r\n\r\n"), 0);
    out(&s, S("Status: 204\r\n\r\n"));
    CHECK(prefixes_are(&s, SCRATCH, PASS, 204, NO_REASON));

    /* empty STDOUT records are nothing */
    s.len = 0;
    out(&s, "", 0);
    out(&s, S("Status: 201\r\n"));
    out(&s, "", 0);
    out(&s, S("\r\n"));
    CHECK(prefixes_are(&s, SCRATCH, PASS, 201, NO_REASON));
}


static void
test_fcgi_splits(void)
{
    size_t       i;
    stream_t     s;
    const char  *p;

    static const char  headers[] =
        "Content-Type: text/html\r\nStatus: 404 Not Found\r\n"
        "X-A: b\r\n\r\nStatus: 500\r\n\r\nbody";
    static const char  lf[] = "A: b\n\nStatus: 500\n\n";

    /* split across several records */
    s.len = 0;
    out(&s, S("Content-Type: text/html\r\nSta"));
    out(&s, S("tus: 40"));
    out(&s, S("4 Not Found\r"));
    out(&s, S("\nX-A: b\r\n"));
    out(&s, S("\r"));
    out(&s, S("\nStatus: 500\r\n\r\nbody"));
    end(&s);
    CHECK(fcgi_is(&s, SCRATCH, PASS, 404, NO_REASON));
    CHECK(prefixes_are(&s, SCRATCH, PASS, 404, NO_REASON));

    /* one byte a record, with STDERR and padding between them */
    s.len = 0;

    for (p = headers; *p; p++) {
        if ((p - headers) % 3 == 0) {
            rec(&s, 1, STDERR, S("Status: 500\r\n\r\n"), 0);
        }

        rec(&s, 1, STDOUT, p, 1, (size_t) (p - headers) % 8);
    }

    end(&s);
    CHECK(fcgi_is(&s, SCRATCH, PASS, 404, NO_REASON));
    CHECK(prefixes_are(&s, SCRATCH, PASS, 404, NO_REASON));

    /* every split point of two records */
    for (i = 0; i < sizeof(headers) - 1; i++) {
        s.len = 0;
        out(&s, headers, i);
        out(&s, headers + i, sizeof(headers) - 1 - i);
        CHECK(prefixes_are(&s, SCRATCH, PASS, 404, NO_REASON));
    }

    /* the same, bare LF and without Status */
    for (i = 0; i < sizeof(lf) - 1; i++) {
        s.len = 0;
        out(&s, lf, i);
        out(&s, lf + i, sizeof(lf) - 1 - i);
        CHECK(prefixes_are(&s, SCRATCH, PASS, 200, NO_REASON));
    }
}


static void
test_fcgi_no_output(void)
{
    stream_t  s;

    /* END_REQUEST without STDOUT */
    s.len = 0;
    rec(&s, 1, END_REQUEST, "\0\0\0\0\0\0\0\0", 8, 0);
    CHECK(fcgi_is(&s, SCRATCH, FAIL, 0, "no fastcgi output"));
    CHECK(prefixes_are(&s, SCRATCH, FAIL, 0, "no fastcgi output"));

    /* only an empty STDOUT */
    s.len = 0;
    end(&s);
    CHECK(prefixes_are(&s, SCRATCH, FAIL, 0, "no fastcgi output"));

    /* only STDERR */
    s.len = 0;
    rec(&s, 1, STDERR, S("PHP Fatal error: x\n"), 5);
    end(&s);
    CHECK(prefixes_are(&s, SCRATCH, FAIL, 0, "no fastcgi output"));

    /* records after END_REQUEST are not read */
    s.len = 0;
    rec(&s, 1, END_REQUEST, "\0\0\0\0\0\0\0\0", 8, 0);
    out(&s, S("Status: 200\r\n\r\n"));
    rec(&s, 2, STDOUT, S("x"), 0);
    CHECK(fcgi_is(&s, SCRATCH, FAIL, 0, "no fastcgi output"));

    s.len = 0;
    out(&s, S("Status: 503\r\n"));
    rec(&s, 1, END_REQUEST, "\0\0\0\0\0\0\0\0", 8, 0);
    rec(&s, 9, 9, S("garbage"), 0);
    CHECK(prefixes_are(&s, SCRATCH, PASS, 503, NO_REASON));
}


static void
test_fcgi_stderr(void)
{
    stream_t  s;

    s.len = 0;
    rec(&s, 1, STDERR, S("Status: 500\r\n\r\n"), 0);
    out(&s, S("Status: 201\r\n"));
    rec(&s, 1, STDERR, S("\r\n"), 0);
    rec(&s, 1, STDERR, S("PHP Warning: x\n\n"), 3);
    out(&s, S("Content-Type: text/plain\r\n\r\n"));
    end(&s);
    CHECK(fcgi_is(&s, SCRATCH, PASS, 201, NO_REASON));
    CHECK(prefixes_are(&s, SCRATCH, PASS, 201, NO_REASON));

    /* STDERR only before the blank line of STDOUT: not the end */
    s.len = 0;
    out(&s, S("Status: 201\r\n"));
    rec(&s, 1, STDERR, S("\r\n\r\n"), 0);
    CHECK(fcgi_is(&s, SCRATCH, AGAIN, 0, NO_REASON));
}


static void
test_fcgi_padding(void)
{
    stream_t  s;

    /*
     * The padding of rec() starts with "\n\n": read as content, it would
     * end the headers early (200); not skipped, it would be taken for
     * the next record header (a bad version).
     */

    s.len = 0;
    rec(&s, 1, STDOUT, S("X-A: 1\r\n"), 7);
    rec(&s, 1, STDOUT, S("Status: 302\r\n"), 255);
    rec(&s, 1, STDOUT, S("\r\n"), 1);
    end(&s);
    CHECK(fcgi_is(&s, SCRATCH, PASS, 302, NO_REASON));
    CHECK(prefixes_are(&s, SCRATCH, PASS, 302, NO_REASON));

    /* padding of other records, and of an empty record */
    s.len = 0;
    rec(&s, 1, STDERR, S("oops"), 4);
    rec(&s, 1, STDOUT, "", 0, 200);
    rec(&s, 1, STDOUT, S("Status: 410\r\n\r\n"), 1);
    CHECK(prefixes_are(&s, SCRATCH, PASS, 410, NO_REASON));

    /* the headers count before their record is whole: its padding */
    s.len = 0;
    rec(&s, 1, STDOUT, S("Status: 410\r\n\r\n"), 100);
    s.len -= 100;
    CHECK(fcgi_is(&s, SCRATCH, PASS, 410, NO_REASON));
    s.len += 100;
    CHECK(fcgi_is(&s, SCRATCH, PASS, 410, NO_REASON));
}


static void
test_fcgi_version(void)
{
    stream_t  s;

    s.len = 0;
    rec(&s, 0, STDOUT, S("Status: 200\r\n\r\n"), 0);
    CHECK(fcgi_is(&s, SCRATCH, FAIL, 0, "bad fastcgi record"));

    s.len = 0;
    rec(&s, 2, STDOUT, S("Status: 200\r\n\r\n"), 0);
    CHECK(fcgi_is(&s, SCRATCH, FAIL, 0, "bad fastcgi record"));
    CHECK(prefixes_are(&s, SCRATCH, FAIL, 0, "bad fastcgi record"));

    /* known as soon as the record header is there */
    s.len = 8;
    CHECK(fcgi_is(&s, SCRATCH, FAIL, 0, "bad fastcgi record"));

    /* an HTTP response, not FastCGI */
    s.len = 0;
    memcpy(s.data, "HTTP/1.1 200 OK\r\n\r\n", 19);
    s.len = 19;
    CHECK(fcgi_is(&s, SCRATCH, FAIL, 0, "bad fastcgi record"));

    /* a later record */
    s.len = 0;
    out(&s, S("Status: 200\r\n"));
    rec(&s, 0xff, STDOUT, S("\r\n"), 0);
    CHECK(prefixes_are(&s, SCRATCH, FAIL, 0, "bad fastcgi record"));

    s.len = 0;
    out(&s, S("Status: 200\r\n"));
    rec(&s, 1, STDERR, S("x"), 0);
    rec(&s, 0, END_REQUEST, "\0\0\0\0\0\0\0\0", 8, 0);
    CHECK(prefixes_are(&s, SCRATCH, FAIL, 0, "bad fastcgi record"));
}


static void
test_fcgi_scratch(void)
{
    size_t    i;
    stream_t  s;
    char      big[300];

    /* exactly the size of the headers, and a byte more or less */
    s.len = 0;
    out(&s, S("Status: 503\r\n\r\n"));
    CHECK(prefixes_are(&s, 15, PASS, 503, NO_REASON));
    CHECK(prefixes_are(&s, 16, PASS, 503, NO_REASON));
    CHECK(no_wrong_pass(&s, 14, 503));

    /* the Status fits, the rest does not */
    s.len = 0;
    out(&s, S("Status: 503\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n"));
    end(&s);

    for (i = 11; i < 60; i++) {
        CHECK(no_wrong_pass(&s, i, 503));
    }

    /* the scratch is written within its size (ASan) */
    memset(big, 'b', sizeof(big));
    memcpy(big, "X-Big: ", 7);
    memcpy(big + sizeof(big) - 4, "\r\n\r\n", 4);

    s.len = 0;
    out(&s, big, 100);
    out(&s, big + 100, 100);
    out(&s, big + 200, 100);
    end(&s);

    for (i = 1; i < 320; i += 7) {
        CHECK(no_wrong_pass(&s, i, 200));
    }

    /*
     * The Status beyond the scratch, or cut by its end: the real status
     * is unknown, that is no PASS 200.
     */

    s.len = 0;
    out(&s, S("X-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\nStatus: 503\r\n\r\n"));
    end(&s);
    CHECK(no_wrong_pass(&s, 16, 503));
    CHECK(no_wrong_pass(&s, 40, 503));

    s.len = 0;
    out(&s, S("Status: 503\r\n\r\n"));
    CHECK(no_wrong_pass(&s, 9, 503));       /* "Status: 5" */
    CHECK(no_wrong_pass(&s, 10, 503));      /* "Status: 50" */
}


static void
test_fcgi_status(void)
{
    CHECK(headers_are(S("Status: 200\r\n\r\n"), PASS, 200, NO_REASON));
    CHECK(headers_are(S("Status: 100\r\n\r\n"), PASS, 100, NO_REASON));
    CHECK(headers_are(S("Status: 999\r\n\r\n"), PASS, 999, NO_REASON));
    CHECK(headers_are(S("Status: 600 Odd\r\n\r\n"), PASS, 600, NO_REASON));

    /* the name's case does not matter */
    CHECK(headers_are(S("status: 200\r\n\r\n"), PASS, 200, NO_REASON));
    CHECK(headers_are(S("status: 404\r\n\r\n"), PASS, 404, NO_REASON));
    CHECK(headers_are(S("STATUS: 404\r\n\r\n"), PASS, 404, NO_REASON));
    CHECK(headers_are(S("StAtUs: 404\r\n\r\n"), PASS, 404, NO_REASON));

    /* blanks before the code, none at all, a reason phrase or not */
    CHECK(headers_are(S("Status:404\r\n\r\n"), PASS, 404, NO_REASON));
    CHECK(headers_are(S("Status:\t404\r\n\r\n"), PASS, 404, NO_REASON));
    CHECK(headers_are(S("Status:  \t 404 Not Found\r\n\r\n"), PASS, 404,
                      NO_REASON));
    CHECK(headers_are(S("Status: 404\n\n"), PASS, 404, NO_REASON));

    /* a CR not followed by LF is no blank line */
    CHECK(headers_are(S("A: b\n\rX\nStatus: 404\n\n"), PASS, 404,
                      NO_REASON));
    CHECK(headers_are(S("A: b\r\n\rX: c\r\nStatus: 404\r\n\r\n"), PASS,
                      404, NO_REASON));

    /*
     * No Status: a Location makes it a redirect, 302, as nginx's fastcgi
     * module reads it (RFC 3875 6.2.3-4); else 200.  A Status, before or
     * after the Location, wins.
     */
    CHECK(headers_are(S("Location: /login\r\n\r\n"), PASS, 302,
                      NO_REASON));
    CHECK(headers_are(S("Content-Type: text/html\r\n"
                        "location: http://a.test/\r\n\r\n"), PASS, 302,
                      NO_REASON));
    CHECK(headers_are(S("Location: /x\r\nStatus: 301\r\n\r\n"), PASS,
                      301, NO_REASON));
    CHECK(headers_are(S("Location: /x\r\nStatus: 200\r\n\r\n"), PASS,
                      200, NO_REASON));
    CHECK(headers_are(S("Content-Type: text/plain\r\n\r\n"), PASS, 200,
                      NO_REASON));
    CHECK(headers_are(S("X-Location: /x\r\nLocations: /y\r\n\r\n"), PASS,
                      200, NO_REASON));
    CHECK(headers_are(S("Content-Type: text/plain\r\n\r\nLocation: /x\n"),
                      PASS, 200, NO_REASON));
}


static void
test_fcgi_bad_status(void)
{
    const char  *bad = "bad fastcgi status";

    /* not 3 digits */
    CHECK(headers_are(S("Status: 5x3\r\n\r\n"), FAIL, 0, bad));
    CHECK(headers_are(S("Status: abc\r\n\r\n"), FAIL, 0, bad));
    CHECK(headers_are(S("Status: -50\r\n\r\n"), FAIL, 0, bad));
    CHECK(headers_are(S("Status: +50\r\n\r\n"), FAIL, 0, bad));
    CHECK(headers_are(S("Status: 50\r\n\r\n"), FAIL, 0, bad));
    CHECK(headers_are(S("Status: 5\r\nX-A: b\r\n\r\n"), FAIL, 0, bad));
    CHECK(headers_are(S("Status: OK\r\n\r\n"), FAIL, 0, bad));
    CHECK(headers_are(S("Status: \x00\x00\x00\r\n\r\n"), FAIL, 0, bad));

    /* below 100 */
    CHECK(headers_are(S("Status: 099\r\n\r\n"), FAIL, 0, bad));
    CHECK(headers_are(S("Status: 000\r\n\r\n"), FAIL, 0, bad));
    CHECK(headers_are(S("Status: 099 Odd\r\n\r\n"), FAIL, 0, bad));
    CHECK(headers_are(S("status: 001\n\n"), FAIL, 0, bad));

    /*
     * An empty or too short code at the end of the headers: a bad status
     * (nginx's FastCGI module: "upstream sent invalid status"), not the
     * default 200.
     */
    CHECK(headers_are(S("Status:\r\n\r\n"), FAIL, 0, bad));
    CHECK(headers_are(S("Status: \r\n\r\n"), FAIL, 0, bad));
    CHECK(headers_are(S("Status: 5\n\n"), FAIL, 0, bad));
    CHECK(headers_are(S("Status: 50"), FAIL, 0, bad));
}


/*
 * Records larger than the module's buffer (8192 bytes): a FastCGI record
 * holds up to 65535 bytes, and nginx's fastcgi_pass reads them; only the
 * CGI headers must fit the scratch.
 */

static void
test_fcgi_big(void)
{
    size_t           i;
    static char      big[65535];
    static stream_t  s;

    memset(big, 'x', sizeof(big));

    /* one STDOUT record: the headers, then a 20000-byte body */
    s.len = 0;
    memcpy(big, "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n", 44);
    rec(&s, 1, STDOUT, big, 44 + 20000, 0);
    end(&s);
    CHECK(fcgi_is(&s, SCRATCH, PASS, 200, NO_REASON));
    CHECK(prefixes_are(&s, SCRATCH, PASS, 200, NO_REASON));

    /* the same, as big as a record goes, padded */
    s.len = 0;
    memcpy(big, "Status: 404 Nope\r\n\r\n", 21);
    rec(&s, 1, STDOUT, big, sizeof(big), 255);
    end(&s);
    CHECK(prefixes_are(&s, SCRATCH, PASS, 404, NO_REASON));

    /* a STDERR record of 9000 bytes first */
    memset(big, 'E', sizeof(big));
    s.len = 0;
    rec(&s, 1, STDERR, big, 9000, 0);
    out(&s, S("Status: 200 OK\r\n\r\nok"));
    end(&s);
    CHECK(fcgi_is(&s, SCRATCH, PASS, 200, NO_REASON));
    CHECK(prefixes_are(&s, SCRATCH, PASS, 200, NO_REASON));

    /* STDERR records of the largest size, padded, between the headers */
    s.len = 0;
    out(&s, S("Status: 503\r\n"));
    rec(&s, 1, STDERR, big, sizeof(big), 255);
    rec(&s, 1, STDERR, big, sizeof(big), 7);
    rec(&s, 1, 0xee, big, sizeof(big), 0);
    out(&s, S("X-A: b\r\n\r\n"));
    CHECK(fcgi_is(&s, SCRATCH, PASS, 503, NO_REASON));
    CHECK(prefixes_are(&s, SCRATCH, PASS, 503, NO_REASON));

    /* only STDERR, however much: no output */
    s.len = 0;
    for (i = 0; i < 3; i++) {
        rec(&s, 1, STDERR, big, sizeof(big), 1);
    }
    end(&s);
    CHECK(fcgi_is(&s, SCRATCH, FAIL, 0, "no fastcgi output"));

    /* the headers themselves over the scratch: too large, a real error */
    memset(big, 'h', sizeof(big));
    memcpy(big, "X-Big: ", 7);
    s.len = 0;
    rec(&s, 1, STDOUT, big, 20000, 0);
    end(&s);
    CHECK(fcgi_is(&s, SCRATCH, FAIL, 0, "fastcgi headers too large"));
    CHECK(prefixes_are(&s, SCRATCH, FAIL, 0, "fastcgi headers too large"));

    /* a bad record header after a big record is still seen */
    s.len = 0;
    rec(&s, 1, STDERR, big, sizeof(big), 0);
    rec(&s, 2, STDOUT, S("Status: 200\r\n\r\n"), 0);
    CHECK(fcgi_is(&s, SCRATCH, FAIL, 0, "bad fastcgi record"));
}
