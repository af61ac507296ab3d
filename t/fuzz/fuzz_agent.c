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
 * libFuzzer target of the agent value parser.
 *
 * Input: the header value, as is.  It is parsed into a struct full of
 * garbage, and the result must:
 *   - be present, and valid exactly when 0 is returned;
 *   - when valid: have a value of at most NGX_HTTP_GUARD_AGENT_MAX, a
 *     percentage only with a value, no value fields without a value, and
 *     a value of 0 only as a percentage;
 *   - agree with a model of the grammar written differently (tokens
 *     copied out and compared whole, numbers by their significant digits);
 *   - not change when the value is surrounded by separators.
 * Violations abort().
 *
 * libFuzzer passes a buffer of exactly "size" bytes, so AddressSanitizer
 * sees any read past it.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_guard_agent.h"


#define FUZZ_TOKEN  8               /* longer than any word */


typedef struct {
    int                     rc;
    int                     has_value;
    int                     percent;
    uint32_t                value;
    int                     word_drain;  /* the last of drain, ready, up */
    int                     ready_after; /* ready or up after the value */
} fuzz_model_t;


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_parse(ngx_http_guard_agent_t *a, const uint8_t *data,
    size_t size, int *rc);
static void fuzz_check(const ngx_http_guard_agent_t *a, int rc);
static void fuzz_model(fuzz_model_t *m, const uint8_t *p, size_t len);
static int fuzz_number(const uint8_t *p, size_t n, fuzz_model_t *m);
static void fuzz_compare(const ngx_http_guard_agent_t *a, int rc,
    const fuzz_model_t *m);
static void fuzz_same(const ngx_http_guard_agent_t *a, int rc,
    const ngx_http_guard_agent_t *b, int brc);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                      rc, wrc;
    uint8_t                 *wrapped;
    fuzz_model_t             m;
    ngx_http_guard_agent_t   a, w;

    fuzz_parse(&a, data, size, &rc);
    fuzz_check(&a, rc);

    fuzz_model(&m, data, size);
    fuzz_compare(&a, rc, &m);

    /* separators around the value change nothing */

    wrapped = malloc(size + 4);
    if (wrapped == NULL) {
        abort();
    }

    wrapped[0] = ',';
    wrapped[1] = ' ';
    memcpy(wrapped + 2, data, size);
    wrapped[size + 2] = '\t';
    wrapped[size + 3] = ',';

    fuzz_parse(&w, wrapped, size + 4, &wrc);
    fuzz_check(&w, wrc);
    fuzz_same(&a, rc, &w, wrc);

    free(wrapped);

    return 0;
}


static void
fuzz_parse(ngx_http_guard_agent_t *a, const uint8_t *data, size_t size,
    int *rc)
{
    /* the parser must set every field, whatever was there */
    memset(a, 0xff, sizeof(ngx_http_guard_agent_t));

    *rc = ngx_http_guard_parse_agent(a, data, size);
}


static void
fuzz_check(const ngx_http_guard_agent_t *a, int rc)
{
    if (rc != 0 && rc != -1) {
        abort();
    }

    if (!a->present || a->valid != (rc == 0)) {
        abort();
    }

    if (!a->valid) {
        return;
    }

    if (a->value > NGX_HTTP_GUARD_AGENT_MAX) {
        abort();
    }

    if (a->percent && !a->has_value) {
        abort();
    }

    if (!a->has_value && a->value != 0) {
        abort();
    }

    if (a->has_value && a->value == 0 && !a->percent) {
        abort();
    }
}


/*
 * The grammar of ngx_http_guard_agent.h, written another way.
 */

static void
fuzz_model(fuzz_model_t *m, const uint8_t *p, size_t len)
{
    size_t   i, j, n;
    uint8_t  c;
    char     tok[FUZZ_TOKEN + 1];

    memset(m, 0, sizeof(fuzz_model_t));

    i = 0;

    while (i < len) {

        if (strchr(" \t,", p[i]) != NULL && p[i] != '\0') {
            i++;
            continue;
        }

        for (n = 0; i + n < len; n++) {
            c = p[i + n];

            if (c == ' ' || c == '\t' || c == ',') {
                break;
            }
        }

        if (p[i] >= '0' && p[i] <= '9') {
            if (fuzz_number(p + i, n, m) != 0) {
                m->rc = -1;
                return;
            }

            m->ready_after = 0;
            i += n;
            continue;
        }

        if (n > FUZZ_TOKEN) {
            m->rc = -1;
            return;
        }

        for (j = 0; j < n; j++) {
            c = p[i + j];
            tok[j] = (char) ((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
        }

        tok[n] = '\0';

        if (memchr(p + i, '\0', n) != NULL) {
            m->rc = -1;
            return;
        }

        if (strcmp(tok, "drain") == 0) {
            m->word_drain = 1;

        } else if (strcmp(tok, "ready") == 0 || strcmp(tok, "up") == 0) {
            m->word_drain = 0;
            m->ready_after = 1;

        } else {
            m->rc = -1;
            return;
        }

        i += n;
    }

    m->rc = 0;
}


static int
fuzz_number(const uint8_t *p, size_t n, fuzz_model_t *m)
{
    int       percent;
    size_t    i, digits;
    uint32_t  v;

    percent = (p[n - 1] == '%');
    digits = percent ? n - 1 : n;

    for (i = 0; i < digits; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }
    }

    /* the significant digits: at most 4 for 1000 */

    for (i = 0; i < digits && p[i] == '0'; i++) {
        /* void */
    }

    if (digits - i > 4) {
        return -1;
    }

    for (v = 0; i < digits; i++) {
        v = v * 10 + (uint32_t) (p[i] - '0');
    }

    if (v > NGX_HTTP_GUARD_AGENT_MAX || (v == 0 && !percent)) {
        return -1;
    }

    m->has_value = 1;
    m->percent = percent;
    m->value = v;

    return 0;
}


static void
fuzz_compare(const ngx_http_guard_agent_t *a, int rc, const fuzz_model_t *m)
{
    int  zero;

    if (rc != m->rc) {
        abort();
    }

    if (rc != 0) {
        return;
    }

    if (a->has_value != (unsigned) m->has_value
        || a->percent != (unsigned) m->percent || a->value != m->value)
    {
        abort();
    }

    /*
     * A drain is asked for by "drain" (unless ready or up came after it)
     * and by 0% when it is the last value.  Whether a "ready" after the
     * 0% withdraws it the grammar does not say: that is not checked.
     */

    zero = m->has_value && m->percent && m->value == 0;

    if (m->word_drain || (zero && !m->ready_after)) {
        if (!a->drain) {
            abort();
        }

    } else if (!zero) {
        if (a->drain) {
            abort();
        }
    }
}


static void
fuzz_same(const ngx_http_guard_agent_t *a, int rc,
    const ngx_http_guard_agent_t *b, int brc)
{
    if (rc != brc || a->valid != b->valid) {
        abort();
    }

    if (rc != 0) {
        return;
    }

    if (a->has_value != b->has_value || a->percent != b->percent
        || a->value != b->value || a->drain != b->drain)
    {
        abort();
    }
}
