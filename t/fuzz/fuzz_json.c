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
 * libFuzzer target of the admin API's body parser.
 *
 * Input: the request body, as is, parsed with a scratch buffer of its
 * length (what the caller guarantees) into a struct full of garbage.
 * The result must:
 *   - be 0 or -1; on -1 have no field and an error that a log line or a
 *     JSON string takes as is, at an offset within the body;
 *   - on 0 have no error, at most NGX_HTTP_GUARD_JSON_MAX_FIELDS fields
 *     with non-empty keys that are unique and found by
 *     ngx_http_guard_json_get(), keys and strings in scratch one after
 *     another, each a NUL-terminated string of valid UTF-8 without a NUL
 *     of its own (checked by a decoder written differently), no string
 *     for the other types and num = 0 for all but integers;
 *   - be the same when parsed again, and (success or not) when the body
 *     is surrounded by whitespace;
 *   - on 0 fit in a scratch buffer of exactly the bytes it used, and fail
 *     cleanly in one byte less;
 *   - on 0 come back the same from the body written out again, with
 *     every non-ASCII character as a \u escape.
 * Violations abort().
 *
 * libFuzzer passes a buffer of exactly "size" bytes, and every scratch
 * buffer is malloc()ed at its exact size, so AddressSanitizer sees any
 * access past either.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_guard_json.h"


typedef struct {
    ngx_http_guard_json_t   j;
    int                     rc;
    size_t                  len;
} fuzz_run_t;


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_parse(fuzz_run_t *r, const uint8_t *data, size_t size,
    size_t scratch);
static void fuzz_done(fuzz_run_t *r);
static size_t fuzz_check(fuzz_run_t *r);
static void fuzz_text(const unsigned char *p, size_t n,
    const unsigned char *lo, const unsigned char *hi);
static uint32_t fuzz_decode(const unsigned char *p, size_t n, size_t *len);
static void fuzz_same(const fuzz_run_t *a, const fuzz_run_t *b);
static void fuzz_same_fields(const fuzz_run_t *a, const fuzz_run_t *b);
static void fuzz_tight(const uint8_t *data, size_t size, size_t used);
static void fuzz_rewrite(const fuzz_run_t *r);
static size_t fuzz_string(unsigned char *out, const unsigned char *p,
    size_t n);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t       used;
    uint8_t     *wrapped;
    fuzz_run_t   a, b, w;

    fuzz_parse(&a, data, size, size);
    used = fuzz_check(&a);

    /* deterministic, whatever the scratch buffer */

    fuzz_parse(&b, data, size, size + 7);
    fuzz_check(&b);
    fuzz_same(&a, &b);
    fuzz_done(&b);

    /* RFC 8259 whitespace around the body changes nothing */

    wrapped = malloc(size + 4);
    if (wrapped == NULL) {
        abort();
    }

    wrapped[0] = ' ';
    wrapped[1] = '\n';
    memcpy(wrapped + 2, data, size);
    wrapped[size + 2] = '\r';
    wrapped[size + 3] = '\t';

    fuzz_parse(&w, wrapped, size + 4, size + 4);
    fuzz_check(&w);

    if (w.rc != a.rc) {
        abort();
    }

    if (a.rc == 0) {
        fuzz_same_fields(&a, &w);
    }

    fuzz_done(&w);
    free(wrapped);

    if (a.rc == 0) {
        fuzz_tight(data, size, used);
        fuzz_rewrite(&a);
    }

    fuzz_done(&a);

    return 0;
}


static void
fuzz_parse(fuzz_run_t *r, const uint8_t *data, size_t size, size_t scratch)
{
    /* the parser must set every field, whatever was there */
    memset(&r->j, 0xa5, sizeof(ngx_http_guard_json_t));

    r->j.scratch = malloc(scratch ? scratch : 1);
    if (r->j.scratch == NULL) {
        abort();
    }

    r->j.scratch_size = scratch;
    r->len = size;

    r->rc = ngx_http_guard_json_parse(&r->j, data, size);
}


static void
fuzz_done(fuzz_run_t *r)
{
    free(r->j.scratch);
}


/* the invariants of a result; returns the scratch bytes it used */

static size_t
fuzz_check(fuzz_run_t *r)
{
    size_t                              i, k, used;
    const char                         *e;
    const unsigned char                *next, *end;
    ngx_http_guard_json_t              *j;
    const ngx_http_guard_json_field_t  *f;

    j = &r->j;

    if (r->rc == -1) {
        if (j->nfields != 0 || j->error == NULL || j->error[0] == '\0'
            || j->error_at > r->len)
        {
            abort();
        }

        for (e = j->error; *e; e++) {
            if (*e < 0x20 || *e >= 0x7f || *e == '"' || *e == '\\') {
                abort();
            }
        }

        return 0;
    }

    if (r->rc != 0 || j->error != NULL || j->error_at != 0
        || j->nfields > NGX_HTTP_GUARD_JSON_MAX_FIELDS)
    {
        abort();
    }

    /* keys and strings in scratch, in order, none overlapping */

    next = j->scratch;
    end = j->scratch + j->scratch_size;

    for (i = 0; i < j->nfields; i++) {
        f = &j->field[i];

        if (f->key_len == 0) {
            abort();
        }

        fuzz_text(f->key, f->key_len, next, end);
        next = f->key + f->key_len + 1;

        if (f->type == NGX_HTTP_GUARD_JSON_STRING) {
            fuzz_text(f->str, f->str_len, next, end);
            next = f->str + f->str_len + 1;

            if (f->is_int != 0 || f->num != 0) {
                abort();
            }

        } else if (f->type == NGX_HTTP_GUARD_JSON_NUMBER) {
            if (f->str != NULL || f->str_len != 0
                || (f->is_int != 0 && f->is_int != 1)
                || (!f->is_int && f->num != 0))
            {
                abort();
            }

        } else if (f->type == NGX_HTTP_GUARD_JSON_TRUE
                   || f->type == NGX_HTTP_GUARD_JSON_FALSE
                   || f->type == NGX_HTTP_GUARD_JSON_NULL)
        {
            if (f->str != NULL || f->str_len != 0 || f->is_int != 0
                || f->num != 0)
            {
                abort();
            }

        } else {
            abort();
        }

        for (k = 0; k < i; k++) {
            if (j->field[k].key_len == f->key_len
                && memcmp(j->field[k].key, f->key, f->key_len) == 0)
            {
                abort();
            }
        }

        /* keys hold no NUL, so they can be looked up as C strings */

        if (ngx_http_guard_json_get(j, (const char *) f->key) != f) {
            abort();
        }
    }

    used = (size_t) (next - j->scratch);

    if (used > r->len) {
        abort();
    }

    return used;
}


/* n bytes at p, then a NUL, within [lo, hi); valid UTF-8 without NUL */

static void
fuzz_text(const unsigned char *p, size_t n, const unsigned char *lo,
    const unsigned char *hi)
{
    size_t  i, len;

    if (p == NULL || p < lo || p > hi || (size_t) (hi - p) < n + 1
        || p[n] != '\0')
    {
        abort();
    }

    for (i = 0; i < n; i += len) {
        if (fuzz_decode(p + i, n - i, &len) == 0) {
            abort();
        }
    }
}


/*
 * The character at p by the arithmetic of UTF-8 (not by a table of lead
 * bytes, as the parser does): 0 when invalid, overlong, a surrogate,
 * above U+10FFFF, or NUL.
 */

static uint32_t
fuzz_decode(const unsigned char *p, size_t n, size_t *len)
{
    size_t    i, k;
    uint32_t  cp, min;

    if (p[0] < 0x80) {
        *len = 1;
        return p[0];
    }

    for (k = 0; k < 8 && (p[0] & (0x80 >> k)); k++) {
        /* void */
    }

    if (k < 2 || k > 4 || n < k) {
        return 0;
    }

    cp = p[0] & (0x7f >> k);
    min = (k == 2) ? 0x80 : (k == 3) ? 0x800 : 0x10000;

    for (i = 1; i < k; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }

        cp = (cp << 6) | (p[i] & 0x3f);
    }

    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }

    *len = k;

    return cp;
}


static void
fuzz_same(const fuzz_run_t *a, const fuzz_run_t *b)
{
    if (a->rc != b->rc) {
        abort();
    }

    if (a->rc != 0) {
        if (a->j.error != b->j.error || a->j.error_at != b->j.error_at) {
            abort();
        }

        return;
    }

    fuzz_same_fields(a, b);
}


static void
fuzz_same_fields(const fuzz_run_t *a, const fuzz_run_t *b)
{
    size_t                              i;
    const ngx_http_guard_json_field_t  *f, *g;

    if (a->j.nfields != b->j.nfields) {
        abort();
    }

    for (i = 0; i < a->j.nfields; i++) {
        f = &a->j.field[i];
        g = &b->j.field[i];

        if (f->key_len != g->key_len
            || memcmp(f->key, g->key, f->key_len) != 0
            || f->type != g->type || f->str_len != g->str_len
            || f->is_int != g->is_int || f->num != g->num)
        {
            abort();
        }

        if (f->type == NGX_HTTP_GUARD_JSON_STRING
            && memcmp(f->str, g->str, f->str_len) != 0)
        {
            abort();
        }
    }
}


/* exactly the scratch it used is enough, one byte less is not */

static void
fuzz_tight(const uint8_t *data, size_t size, size_t used)
{
    fuzz_run_t  r;

    fuzz_parse(&r, data, size, used);
    fuzz_check(&r);

    if (r.rc != 0) {
        abort();
    }

    fuzz_done(&r);

    if (used == 0) {
        return;
    }

    fuzz_parse(&r, data, size, used - 1);
    fuzz_check(&r);

    if (r.rc != -1 || strcmp(r.j.error, "scratch buffer too small") != 0) {
        abort();
    }

    fuzz_done(&r);
}


/*
 * The fields written out again as a body, strings with \u escapes for
 * everything but printable ASCII, numbers as integers or 0.5, must parse
 * into the same fields.
 */

static void
fuzz_rewrite(const fuzz_run_t *r)
{
    int                                 n;
    size_t                              i, size, len;
    fuzz_run_t                          b;
    unsigned char                      *out;
    const ngx_http_guard_json_field_t  *f;

    /* at most 6 bytes out per byte in, and 32 per field besides */

    size = 2;

    for (i = 0; i < r->j.nfields; i++) {
        f = &r->j.field[i];
        size += 6 * (f->key_len + f->str_len) + 32;
    }

    out = malloc(size);
    if (out == NULL) {
        abort();
    }

    len = 0;
    out[len++] = '{';

    for (i = 0; i < r->j.nfields; i++) {
        f = &r->j.field[i];

        if (i) {
            out[len++] = ',';
        }

        len += fuzz_string(out + len, f->key, f->key_len);
        out[len++] = ':';

        switch (f->type) {

        case NGX_HTTP_GUARD_JSON_STRING:
            len += fuzz_string(out + len, f->str, f->str_len);
            break;

        case NGX_HTTP_GUARD_JSON_NUMBER:
            if (f->is_int) {
                n = snprintf((char *) out + len, size - len, "%lld",
                             (long long) f->num);

            } else {
                n = snprintf((char *) out + len, size - len, "0.5");
            }

            if (n < 0 || (size_t) n >= size - len) {
                abort();
            }

            len += (size_t) n;
            break;

        case NGX_HTTP_GUARD_JSON_TRUE:
            memcpy(out + len, "true", 4);
            len += 4;
            break;

        case NGX_HTTP_GUARD_JSON_FALSE:
            memcpy(out + len, "false", 5);
            len += 5;
            break;

        default:
            memcpy(out + len, "null", 4);
            len += 4;
            break;
        }
    }

    out[len++] = '}';

    if (len > size) {
        abort();
    }

    fuzz_parse(&b, out, len, len);
    fuzz_check(&b);

    if (b.rc != 0) {
        abort();
    }

    fuzz_same_fields(r, &b);
    fuzz_done(&b);

    free(out);
}


/* a JSON string of n bytes of valid UTF-8; returns its length */

static size_t
fuzz_string(unsigned char *out, const unsigned char *p, size_t n)
{
    size_t              i, len, k;
    uint32_t            cp, hi, lo;
    static const char   hex[] = "0123456789abcdef";

    len = 0;
    out[len++] = '"';

    for (i = 0; i < n; i += k) {
        cp = fuzz_decode(p + i, n - i, &k);

        if (cp == '"' || cp == '\\') {
            out[len++] = '\\';
            out[len++] = (unsigned char) cp;
            continue;
        }

        if (cp >= 0x20 && cp < 0x7f) {
            out[len++] = (unsigned char) cp;
            continue;
        }

        if (cp >= 0x10000) {
            hi = 0xd800 + ((cp - 0x10000) >> 10);
            lo = 0xdc00 + ((cp - 0x10000) & 0x3ff);

        } else {
            hi = cp;
            lo = 0;
        }

        for ( ;; ) {
            out[len++] = '\\';
            out[len++] = 'u';
            out[len++] = (unsigned char) hex[(hi >> 12) & 0xf];
            out[len++] = (unsigned char) hex[(hi >> 8) & 0xf];
            out[len++] = (unsigned char) hex[(hi >> 4) & 0xf];
            out[len++] = (unsigned char) hex[hi & 0xf];

            if (lo == 0) {
                break;
            }

            hi = lo;
            lo = 0;
        }
    }

    out[len++] = '"';

    return len;
}
