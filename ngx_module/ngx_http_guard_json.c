
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * Strict parser of the admin API's request bodies, see
 * ngx_http_guard_json.h.
 */


#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ngx_http_guard_json.h"


/* a position is an offset in the body, so that nothing points past it */

typedef struct {
    ngx_http_guard_json_t        *json;
    const unsigned char          *in;
    size_t                        len;
    size_t                        pos;        /* next byte of the body */
    size_t                        out;        /* bytes of scratch used */
} ngx_http_guard_json_ctx_t;


static int ngx_http_guard_json_field(ngx_http_guard_json_ctx_t *ctx);
static int ngx_http_guard_json_value(ngx_http_guard_json_ctx_t *ctx,
    ngx_http_guard_json_field_t *f);
static int ngx_http_guard_json_string(ngx_http_guard_json_ctx_t *ctx,
    const unsigned char **str, size_t *str_len);
static int ngx_http_guard_json_escape(ngx_http_guard_json_ctx_t *ctx,
    size_t quote, uint32_t *cp);
static int ngx_http_guard_json_hex4(ngx_http_guard_json_ctx_t *ctx,
    size_t quote, size_t at, uint32_t *cp);
static size_t ngx_http_guard_json_utf8(ngx_http_guard_json_ctx_t *ctx,
    size_t quote);
static int ngx_http_guard_json_put(ngx_http_guard_json_ctx_t *ctx,
    const unsigned char *p, size_t n);
static int ngx_http_guard_json_number(ngx_http_guard_json_ctx_t *ctx,
    ngx_http_guard_json_field_t *f);
static int ngx_http_guard_json_literal(ngx_http_guard_json_ctx_t *ctx,
    const char *word);
static void ngx_http_guard_json_space(ngx_http_guard_json_ctx_t *ctx);
static int ngx_http_guard_json_fail(ngx_http_guard_json_ctx_t *ctx,
    size_t at, const char *error);


#define ngx_http_guard_json_digit(c)  ((c) >= '0' && (c) <= '9')

#define ngx_http_guard_json_alnum(c)                                         \
    (ngx_http_guard_json_digit(c)                                            \
     || ((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z'))


int
ngx_http_guard_json_parse(ngx_http_guard_json_t *j, const unsigned char *in,
    size_t len)
{
    ngx_http_guard_json_ctx_t  ctx;

    j->nfields = 0;
    j->error = NULL;
    j->error_at = 0;

    if (len == 0) {
        return 0;           /* an empty body: "in" may be NULL */
    }

    ctx.json = j;
    ctx.in = in;
    ctx.len = len;
    ctx.pos = 0;
    ctx.out = 0;

    ngx_http_guard_json_space(&ctx);

    if (ctx.pos == len) {
        return 0;
    }

    if (in[ctx.pos] != '{') {
        return ngx_http_guard_json_fail(&ctx, ctx.pos, "expected an object");
    }

    ctx.pos++;
    ngx_http_guard_json_space(&ctx);

    if (ctx.pos < len && in[ctx.pos] == '}') {
        ctx.pos++;
        goto done;
    }

    for ( ;; ) {
        if (ngx_http_guard_json_field(&ctx) != 0) {
            return -1;
        }

        ngx_http_guard_json_space(&ctx);

        if (ctx.pos == len) {
            return ngx_http_guard_json_fail(&ctx, len, "truncated body");
        }

        if (in[ctx.pos] == ',') {
            ctx.pos++;
            ngx_http_guard_json_space(&ctx);
            continue;
        }

        if (in[ctx.pos] == '}') {
            ctx.pos++;
            break;
        }

        return ngx_http_guard_json_fail(&ctx, ctx.pos,
                                        "expected a comma or a closing "
                                        "brace");
    }

done:

    ngx_http_guard_json_space(&ctx);

    if (ctx.pos != len) {
        return ngx_http_guard_json_fail(&ctx, ctx.pos,
                                        "trailing data after the object");
    }

    return 0;
}


const ngx_http_guard_json_field_t *
ngx_http_guard_json_get(ngx_http_guard_json_t *j, const char *key)
{
    size_t  i, n;

    n = strlen(key);

    for (i = 0; i < j->nfields; i++) {
        if (j->field[i].key_len == n && memcmp(j->field[i].key, key, n) == 0) {
            return &j->field[i];
        }
    }

    return NULL;
}


/* "key": value, from the key's opening quote on */

static int
ngx_http_guard_json_field(ngx_http_guard_json_ctx_t *ctx)
{
    size_t                        i, at;
    ngx_http_guard_json_t        *j;
    ngx_http_guard_json_field_t  *f;

    j = ctx->json;
    at = ctx->pos;

    if (at == ctx->len) {
        return ngx_http_guard_json_fail(ctx, at, "truncated body");
    }

    if (ctx->in[at] != '"') {
        return ngx_http_guard_json_fail(ctx, at, "expected a string key");
    }

    if (j->nfields == NGX_HTTP_GUARD_JSON_MAX_FIELDS) {
        return ngx_http_guard_json_fail(ctx, at, "too many fields");
    }

    f = &j->field[j->nfields];

    if (ngx_http_guard_json_string(ctx, &f->key, &f->key_len) != 0) {
        return -1;
    }

    if (f->key_len == 0) {
        return ngx_http_guard_json_fail(ctx, at, "empty key");
    }

    for (i = 0; i < j->nfields; i++) {
        if (j->field[i].key_len == f->key_len
            && memcmp(j->field[i].key, f->key, f->key_len) == 0)
        {
            return ngx_http_guard_json_fail(ctx, at, "duplicate key");
        }
    }

    ngx_http_guard_json_space(ctx);

    if (ctx->pos == ctx->len) {
        return ngx_http_guard_json_fail(ctx, ctx->len, "truncated body");
    }

    if (ctx->in[ctx->pos] != ':') {
        return ngx_http_guard_json_fail(ctx, ctx->pos,
                                        "expected a colon after a key");
    }

    ctx->pos++;
    ngx_http_guard_json_space(ctx);

    if (ngx_http_guard_json_value(ctx, f) != 0) {
        return -1;
    }

    j->nfields++;

    return 0;
}


static int
ngx_http_guard_json_value(ngx_http_guard_json_ctx_t *ctx,
    ngx_http_guard_json_field_t *f)
{
    f->str = NULL;
    f->str_len = 0;
    f->num = 0;
    f->is_int = 0;

    if (ctx->pos == ctx->len) {
        return ngx_http_guard_json_fail(ctx, ctx->len, "truncated body");
    }

    switch (ctx->in[ctx->pos]) {

    case '"':
        f->type = NGX_HTTP_GUARD_JSON_STRING;
        return ngx_http_guard_json_string(ctx, &f->str, &f->str_len);

    case '-':
    case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        f->type = NGX_HTTP_GUARD_JSON_NUMBER;
        return ngx_http_guard_json_number(ctx, f);

    case 't':
        f->type = NGX_HTTP_GUARD_JSON_TRUE;
        return ngx_http_guard_json_literal(ctx, "true");

    case 'f':
        f->type = NGX_HTTP_GUARD_JSON_FALSE;
        return ngx_http_guard_json_literal(ctx, "false");

    case 'n':
        f->type = NGX_HTTP_GUARD_JSON_NULL;
        return ngx_http_guard_json_literal(ctx, "null");

    case '{':
    case '[':
        return ngx_http_guard_json_fail(ctx, ctx->pos,
                                        "nested objects and arrays are not "
                                        "accepted");

    case '+':
    case '.':
        return ngx_http_guard_json_fail(ctx, ctx->pos, "invalid number");

    default:
        return ngx_http_guard_json_fail(ctx, ctx->pos, "expected a value");
    }
}


/*
 * A string from its opening quote on, unescaped into scratch and followed
 * by a NUL there.  Its bytes out are never more than its bytes in, quotes
 * excluded, so with the NUL a string takes less scratch than body.
 */

static int
ngx_http_guard_json_string(ngx_http_guard_json_ctx_t *ctx,
    const unsigned char **str, size_t *str_len)
{
    size_t         quote, start, n;
    uint32_t       cp;
    unsigned char  c, buf[4];

    quote = ctx->pos;
    start = ctx->out;

    ctx->pos++;

    for ( ;; ) {

        if (ctx->pos == ctx->len) {
            return ngx_http_guard_json_fail(ctx, quote,
                                            "unterminated string");
        }

        c = ctx->in[ctx->pos];

        if (c == '"') {
            ctx->pos++;
            break;
        }

        if (c < 0x20) {
            return ngx_http_guard_json_fail(ctx, ctx->pos,
                                            "control character in a "
                                            "string");
        }

        if (c >= 0x80) {
            n = ngx_http_guard_json_utf8(ctx, quote);
            if (n == 0) {
                return -1;
            }

            if (ngx_http_guard_json_put(ctx, &ctx->in[ctx->pos], n) != 0) {
                return -1;
            }

            ctx->pos += n;
            continue;
        }

        if (c != '\\') {
            if (ngx_http_guard_json_put(ctx, &c, 1) != 0) {
                return -1;
            }

            ctx->pos++;
            continue;
        }

        if (ngx_http_guard_json_escape(ctx, quote, &cp) != 0) {
            return -1;
        }

        if (cp < 0x80) {
            buf[0] = (unsigned char) cp;
            n = 1;

        } else if (cp < 0x800) {
            buf[0] = (unsigned char) (0xc0 | (cp >> 6));
            buf[1] = (unsigned char) (0x80 | (cp & 0x3f));
            n = 2;

        } else if (cp < 0x10000) {
            buf[0] = (unsigned char) (0xe0 | (cp >> 12));
            buf[1] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
            buf[2] = (unsigned char) (0x80 | (cp & 0x3f));
            n = 3;

        } else {
            buf[0] = (unsigned char) (0xf0 | (cp >> 18));
            buf[1] = (unsigned char) (0x80 | ((cp >> 12) & 0x3f));
            buf[2] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
            buf[3] = (unsigned char) (0x80 | (cp & 0x3f));
            n = 4;
        }

        if (ngx_http_guard_json_put(ctx, buf, n) != 0) {
            return -1;
        }
    }

    c = '\0';

    if (ngx_http_guard_json_put(ctx, &c, 1) != 0) {
        return -1;
    }

    *str = &ctx->json->scratch[start];
    *str_len = ctx->out - start - 1;

    return 0;
}


/*
 * The escape at ctx->pos, its backslash: the character goes to *cp.  A
 * body that ends within it leaves the string at "quote" unterminated.
 */

static int
ngx_http_guard_json_escape(ngx_http_guard_json_ctx_t *ctx, size_t quote,
    uint32_t *cp)
{
    size_t    at;
    uint32_t  lo;

    at = ctx->pos;

    if (at + 1 == ctx->len) {
        return ngx_http_guard_json_fail(ctx, quote, "unterminated string");
    }

    switch (ctx->in[at + 1]) {

    case '"':
        *cp = '"';
        break;

    case '\\':
        *cp = '\\';
        break;

    case '/':
        *cp = '/';
        break;

    case 'b':
        *cp = '\b';
        break;

    case 'f':
        *cp = '\f';
        break;

    case 'n':
        *cp = '\n';
        break;

    case 'r':
        *cp = '\r';
        break;

    case 't':
        *cp = '\t';
        break;

    case 'u':
        if (ngx_http_guard_json_hex4(ctx, quote, at, cp) != 0) {
            return -1;
        }

        if (*cp >= 0xdc00 && *cp <= 0xdfff) {
            return ngx_http_guard_json_fail(ctx, at, "unpaired surrogate");
        }

        if (*cp >= 0xd800 && *cp <= 0xdbff) {

            /* a high surrogate: its low one must follow at once */

            if (at + 6 == ctx->len
                || (ctx->in[at + 6] == '\\' && at + 7 == ctx->len))
            {
                return ngx_http_guard_json_fail(ctx, quote,
                                                "unterminated string");
            }

            if (ctx->in[at + 6] != '\\' || ctx->in[at + 7] != 'u') {
                return ngx_http_guard_json_fail(ctx, at,
                                                "unpaired surrogate");
            }

            if (ngx_http_guard_json_hex4(ctx, quote, at + 6, &lo) != 0) {
                return -1;
            }

            if (lo < 0xdc00 || lo > 0xdfff) {
                return ngx_http_guard_json_fail(ctx, at,
                                                "unpaired surrogate");
            }

            *cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
            ctx->pos += 6;
        }

        if (*cp == 0) {
            return ngx_http_guard_json_fail(ctx, at,
                                            "NUL character in a string");
        }

        ctx->pos += 6;
        return 0;

    default:
        return ngx_http_guard_json_fail(ctx, at, "invalid escape");
    }

    ctx->pos += 2;

    return 0;
}


/* the four hex digits of the \u escape at "at" */

static int
ngx_http_guard_json_hex4(ngx_http_guard_json_ctx_t *ctx, size_t quote,
    size_t at, uint32_t *cp)
{
    size_t         i;
    uint32_t       v;
    unsigned char  c;

    v = 0;

    for (i = at + 2; i < at + 6; i++) {

        if (i == ctx->len) {
            return ngx_http_guard_json_fail(ctx, quote,
                                            "unterminated string");
        }

        c = ctx->in[i];

        if (c >= '0' && c <= '9') {
            v = (v << 4) | (uint32_t) (c - '0');

        } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
            v = (v << 4) | (uint32_t) ((c | 0x20) - 'a' + 10);

        } else {
            return ngx_http_guard_json_fail(ctx, at, "invalid escape");
        }
    }

    *cp = v;

    return 0;
}


/*
 * The length of the UTF-8 sequence at ctx->pos (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or 0 with an error set.
 */

static size_t
ngx_http_guard_json_utf8(ngx_http_guard_json_ctx_t *ctx, size_t quote)
{
    size_t         at, n, i;
    unsigned char  c, lo, hi;

    at = ctx->pos;
    c = ctx->in[at];

    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        lo = 0x80;
        hi = 0xbf;

    } else if (c == 0xe0) {
        n = 3;
        lo = 0xa0;
        hi = 0xbf;

    } else if (c == 0xed) {
        n = 3;
        lo = 0x80;
        hi = 0x9f;

    } else if (c >= 0xe1 && c <= 0xef) {
        n = 3;
        lo = 0x80;
        hi = 0xbf;

    } else if (c == 0xf0) {
        n = 4;
        lo = 0x90;
        hi = 0xbf;

    } else if (c >= 0xf1 && c <= 0xf3) {
        n = 4;
        lo = 0x80;
        hi = 0xbf;

    } else if (c == 0xf4) {
        n = 4;
        lo = 0x80;
        hi = 0x8f;

    } else {
        ngx_http_guard_json_fail(ctx, at, "invalid UTF-8");
        return 0;
    }

    for (i = 1; i < n; i++) {

        if (at + i == ctx->len) {
            ngx_http_guard_json_fail(ctx, quote, "unterminated string");
            return 0;
        }

        c = ctx->in[at + i];

        if (c < lo || c > hi) {
            ngx_http_guard_json_fail(ctx, at, "invalid UTF-8");
            return 0;
        }

        lo = 0x80;
        hi = 0xbf;
    }

    return n;
}


static int
ngx_http_guard_json_put(ngx_http_guard_json_ctx_t *ctx,
    const unsigned char *p, size_t n)
{
    ngx_http_guard_json_t  *j;

    j = ctx->json;

    /* ctx->out never exceeds scratch_size */

    if (j->scratch == NULL || j->scratch_size - ctx->out < n) {
        return ngx_http_guard_json_fail(ctx, ctx->pos,
                                        "scratch buffer too small");
    }

    memcpy(&j->scratch[ctx->out], p, n);
    ctx->out += n;

    return 0;
}


/*
 * -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
 * An integer within int64_t goes to num with is_int = 1.
 */

static int
ngx_http_guard_json_number(ngx_http_guard_json_ctx_t *ctx,
    ngx_http_guard_json_field_t *f)
{
    int                   neg, is_int;
    size_t                pos, len;
    uint64_t              mag, limit, d;
    const unsigned char  *in;

    in = ctx->in;
    len = ctx->len;
    pos = ctx->pos;

    neg = 0;
    is_int = 1;
    mag = 0;

    if (in[pos] == '-') {
        neg = 1;
        pos++;
    }

    limit = neg ? (uint64_t) INT64_MAX + 1 : (uint64_t) INT64_MAX;

    if (pos == len) {
        return ngx_http_guard_json_fail(ctx, len, "truncated body");
    }

    if (in[pos] == '0') {
        pos++;

    } else if (ngx_http_guard_json_digit(in[pos])) {

        while (pos < len && ngx_http_guard_json_digit(in[pos])) {
            d = (uint64_t) (in[pos] - '0');

            if (is_int && mag > (limit - d) / 10) {
                is_int = 0;

            } else if (is_int) {
                mag = mag * 10 + d;
            }

            pos++;
        }

    } else {
        return ngx_http_guard_json_fail(ctx, pos, "invalid number");
    }

    if (pos < len && in[pos] == '.') {
        pos++;
        is_int = 0;

        if (pos == len) {
            return ngx_http_guard_json_fail(ctx, len, "truncated body");
        }

        if (!ngx_http_guard_json_digit(in[pos])) {
            return ngx_http_guard_json_fail(ctx, pos, "invalid number");
        }

        while (pos < len && ngx_http_guard_json_digit(in[pos])) {
            pos++;
        }
    }

    if (pos < len && (in[pos] == 'e' || in[pos] == 'E')) {
        pos++;
        is_int = 0;

        if (pos < len && (in[pos] == '+' || in[pos] == '-')) {
            pos++;
        }

        if (pos == len) {
            return ngx_http_guard_json_fail(ctx, len, "truncated body");
        }

        if (!ngx_http_guard_json_digit(in[pos])) {
            return ngx_http_guard_json_fail(ctx, pos, "invalid number");
        }

        while (pos < len && ngx_http_guard_json_digit(in[pos])) {
            pos++;
        }
    }

    /*
     * "01" (no leading zeros), "1.2.3", "0x10", "1e5e", "1-2": not a
     * number followed by something else
     */

    if (pos < len
        && (ngx_http_guard_json_alnum(in[pos])
            || in[pos] == '.' || in[pos] == '+' || in[pos] == '-'))
    {
        return ngx_http_guard_json_fail(ctx, pos, "invalid number");
    }

    ctx->pos = pos;

    if (!is_int) {
        return 0;
    }

    f->is_int = 1;

    if (!neg) {
        f->num = (int64_t) mag;

    } else if (mag == (uint64_t) INT64_MAX + 1) {
        f->num = INT64_MIN;

    } else {
        f->num = -(int64_t) mag;
    }

    return 0;
}


static int
ngx_http_guard_json_literal(ngx_http_guard_json_ctx_t *ctx,
    const char *word)
{
    size_t  at, i, n;

    at = ctx->pos;
    n = strlen(word);

    for (i = 0; i < n; i++) {

        if (at + i == ctx->len) {
            return ngx_http_guard_json_fail(ctx, ctx->len, "truncated body");
        }

        if (ctx->in[at + i] != (unsigned char) word[i]) {
            return ngx_http_guard_json_fail(ctx, at, "expected a value");
        }
    }

    /* "trueish", "null0" */

    if (at + n < ctx->len && ngx_http_guard_json_alnum(ctx->in[at + n])) {
        return ngx_http_guard_json_fail(ctx, at, "expected a value");
    }

    ctx->pos = at + n;

    return 0;
}


/* RFC 8259 whitespace only: space, tab, LF, CR */

static void
ngx_http_guard_json_space(ngx_http_guard_json_ctx_t *ctx)
{
    unsigned char  c;

    while (ctx->pos < ctx->len) {
        c = ctx->in[ctx->pos];

        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            return;
        }

        ctx->pos++;
    }
}


static int
ngx_http_guard_json_fail(ngx_http_guard_json_ctx_t *ctx, size_t at,
    const char *error)
{
    ctx->json->nfields = 0;
    ctx->json->error = error;
    ctx->json->error_at = at;

    return -1;
}
