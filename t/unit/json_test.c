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
 * Unit tests of the admin API's body parser, ngx_http_guard_json.c.
 * Built and run by scripts/unit.  The last line printed is
 * "N passed, N failed"; the exit code is non-zero on any failure.
 *
 * Every body is copied to a malloc()ed buffer of exactly its length, and
 * the scratch buffer is one of exactly the body's length too (what the
 * caller guarantees), so that AddressSanitizer sees any access past
 * either.  The result struct starts full of garbage.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_guard_json.h"


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

#define BODY_MAX  1024

#define T_STRING  NGX_HTTP_GUARD_JSON_STRING
#define T_NUMBER  NGX_HTTP_GUARD_JSON_NUMBER
#define T_TRUE    NGX_HTTP_GUARD_JSON_TRUE
#define T_FALSE   NGX_HTTP_GUARD_JSON_FALSE
#define T_NULL    NGX_HTTP_GUARD_JSON_NULL


typedef struct {
    ngx_http_guard_json_t   j;
    unsigned char          *in;
    size_t                  len;
    int                     rc;
} run_t;


static int run(run_t *r, const char *in, size_t n);
static int run_scratch(run_t *r, const char *in, size_t n, size_t scratch);
static void done(run_t *r);
static void show(const char *what, const void *p, size_t n);
static int sane(run_t *r);
static int ok(const char *in, size_t n, size_t nfields);
static int bad(const char *in, size_t n, const char *error, size_t at);
static int str_is(run_t *r, const char *key, const char *want, size_t n);
static int int_is(run_t *r, const char *key, int64_t num);
static int type_is(run_t *r, const char *key, int type);
static size_t wrap(char *buf, const char *pre, const char *in, size_t n,
    const char *post);
static int string_is(const char *lit, size_t n, const char *want,
    size_t wn);
static int string_bad(const char *lit, size_t n, const char *error,
    size_t at);
static int number_is(const char *lit, size_t n, int is_int, int64_t num);
static int number_bad(const char *lit, size_t n, const char *error,
    size_t at);
static int prefixes(const char *in, size_t n);
static size_t fields(char *buf, unsigned n, const char *tail);

static void test_empty(void);
static void test_values(void);
static void test_strings(void);
static void test_utf8(void);
static void test_bad_utf8(void);
static void test_escapes(void);
static void test_surrogates(void);
static void test_unterminated(void);
static void test_control(void);
static void test_numbers(void);
static void test_bad_numbers(void);
static void test_nested(void);
static void test_duplicate(void);
static void test_empty_key(void);
static void test_syntax(void);
static void test_whitespace(void);
static void test_trailing(void);
static void test_truncated(void);
static void test_too_many(void);
static void test_scratch(void);
static void test_get(void);
static void test_reuse(void);


static unsigned  passed;
static unsigned  failed;


int
main(void)
{
    test_empty();
    test_values();
    test_strings();
    test_utf8();
    test_bad_utf8();
    test_escapes();
    test_surrogates();
    test_unterminated();
    test_control();
    test_numbers();
    test_bad_numbers();
    test_nested();
    test_duplicate();
    test_empty_key();
    test_syntax();
    test_whitespace();
    test_trailing();
    test_truncated();
    test_too_many();
    test_scratch();
    test_get();
    test_reuse();

    printf("%u passed, %u failed\n", passed, failed);

    return failed ? 1 : 0;
}


/* parses "in" with a scratch buffer of its length; done() frees both */

static int
run(run_t *r, const char *in, size_t n)
{
    return run_scratch(r, in, n, n);
}


static int
run_scratch(run_t *r, const char *in, size_t n, size_t scratch)
{
    memset(&r->j, 0xa5, sizeof(ngx_http_guard_json_t));

    r->in = malloc(n ? n : 1);
    if (r->in == NULL) {
        abort();
    }

    memcpy(r->in, in, n);
    r->len = n;

    r->j.scratch = NULL;
    r->j.scratch_size = scratch;

    if (scratch) {
        r->j.scratch = malloc(scratch);
        if (r->j.scratch == NULL) {
            abort();
        }

        memset(r->j.scratch, 0xa5, scratch);
    }

    r->rc = ngx_http_guard_json_parse(&r->j, r->in, n);

    return r->rc;
}


static void
done(run_t *r)
{
    free(r->in);
    free(r->j.scratch);
}


static void
show(const char *what, const void *p, size_t n)
{
    size_t                i;
    const unsigned char  *s;

    s = p;

    printf("  %s \"", what);

    for (i = 0; i < n; i++) {
        if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\') {
            putchar(s[i]);

        } else {
            printf("\\x%02x", s[i]);
        }
    }

    printf("\" (%zu bytes)\n", n);
}


/*
 * What holds after any parse: 0 or -1; on success no error, every key
 * and string in scratch with a NUL after it, the other types without a
 * string, and non-integers at 0; on failure no field, and an error that
 * a log line or a JSON string takes as is, within the body.
 */

static int
sane(run_t *r)
{
    size_t                        i;
    const char                   *e;
    ngx_http_guard_json_t        *j;
    ngx_http_guard_json_field_t  *f;

    j = &r->j;

    if (r->rc == -1) {
        if (j->nfields != 0 || j->error == NULL || j->error[0] == '\0'
            || j->error_at > r->len)
        {
            return 0;
        }

        for (e = j->error; *e; e++) {
            if (*e < 0x20 || *e >= 0x7f || *e == '"' || *e == '\\') {
                return 0;
            }
        }

        return 1;
    }

    if (r->rc != 0 || j->error != NULL || j->error_at != 0
        || j->nfields > NGX_HTTP_GUARD_JSON_MAX_FIELDS)
    {
        return 0;
    }

    for (i = 0; i < j->nfields; i++) {
        f = &j->field[i];

        if (f->key_len == 0 || f->key < j->scratch
            || f->key + f->key_len >= j->scratch + j->scratch_size
            || f->key[f->key_len] != '\0')
        {
            return 0;
        }

        if (f->type == T_STRING) {
            if (f->str == NULL || f->str < j->scratch
                || f->str + f->str_len >= j->scratch + j->scratch_size
                || f->str[f->str_len] != '\0' || f->num != 0 || f->is_int)
            {
                return 0;
            }

            continue;
        }

        if (f->type < T_NUMBER || f->type > T_NULL || f->str != NULL
            || f->str_len != 0 || (f->is_int != 0 && f->is_int != 1)
            || (!f->is_int && f->num != 0)
            || (f->type != T_NUMBER && f->is_int))
        {
            return 0;
        }
    }

    return 1;
}


/* valid, with this many fields */

static int
ok(const char *in, size_t n, size_t nfields)
{
    int    good;
    run_t  r;

    run(&r, in, n);

    good = sane(&r) && r.rc == 0 && r.j.nfields == nfields;

    if (!good) {
        show("body", in, n);
        printf("  rc %d nfields %zu error \"%s\" at %zu, want %zu fields\n",
               r.rc, r.j.nfields, r.j.error ? r.j.error : "(null)",
               r.j.error_at, nfields);
    }

    done(&r);

    return good;
}


/* invalid, with this error at this offset */

static int
bad(const char *in, size_t n, const char *error, size_t at)
{
    int    good;
    run_t  r;

    run(&r, in, n);

    good = sane(&r) && r.rc == -1 && strcmp(r.j.error, error) == 0
           && r.j.error_at == at;

    if (!good) {
        show("body", in, n);
        printf("  rc %d error \"%s\" at %zu, want \"%s\" at %zu\n", r.rc,
               r.rc == -1 && r.j.error ? r.j.error : "(none)",
               r.j.error_at, error, at);
    }

    done(&r);

    return good;
}


static int
str_is(run_t *r, const char *key, const char *want, size_t n)
{
    const ngx_http_guard_json_field_t  *f;

    f = ngx_http_guard_json_get(&r->j, key);

    if (f != NULL && f->type == T_STRING && f->str_len == n
        && memcmp(f->str, want, n) == 0 && f->str[n] == '\0')
    {
        return 1;
    }

    printf("  field \"%s\":%s\n", key, f ? "" : " missing");

    if (f != NULL) {
        printf("  type %d\n", f->type);

        if (f->type == T_STRING) {
            show("got", f->str, f->str_len);
        }
    }

    show("want", want, n);

    return 0;
}


static int
int_is(run_t *r, const char *key, int64_t num)
{
    const ngx_http_guard_json_field_t  *f;

    f = ngx_http_guard_json_get(&r->j, key);

    if (f != NULL && f->type == T_NUMBER && f->is_int && f->num == num) {
        return 1;
    }

    printf("  field \"%s\": %s type %d is_int %d num %lld, want %lld\n",
           key, f ? "" : "missing", f ? f->type : 0, f ? f->is_int : 0,
           f ? (long long) f->num : 0, (long long) num);

    return 0;
}


static int
type_is(run_t *r, const char *key, int type)
{
    const ngx_http_guard_json_field_t  *f;

    f = ngx_http_guard_json_get(&r->j, key);

    return f != NULL && f->type == type;
}


/* pre, then n bytes of in, then post, into buf (BODY_MAX bytes) */

static size_t
wrap(char *buf, const char *pre, const char *in, size_t n,
    const char *post)
{
    size_t  a, b;

    a = strlen(pre);
    b = strlen(post);

    if (a + n + b > BODY_MAX) {
        abort();
    }

    memcpy(buf, pre, a);
    memcpy(buf + a, in, n);
    memcpy(buf + a + n, post, b);

    return a + n + b;
}


/*
 * The string literal "lit" (quotes included) unescapes to "want", both as
 * a value and, unless empty, as a key.
 */

static int
string_is(const char *lit, size_t n, const char *want, size_t wn)
{
    int     good;
    char    buf[BODY_MAX];
    run_t   r;
    size_t  len;

    len = wrap(buf, "{\"k\":", lit, n, "}");
    run(&r, buf, len);
    good = sane(&r) && r.rc == 0 && r.j.nfields == 1
           && str_is(&r, "k", want, wn);
    done(&r);

    if (!good) {
        show("value", lit, n);
        return 0;
    }

    if (wn == 0) {
        return 1;
    }

    len = wrap(buf, "{", lit, n, ":true}");
    run(&r, buf, len);
    good = sane(&r) && r.rc == 0 && r.j.nfields == 1
           && r.j.field[0].key_len == wn
           && memcmp(r.j.field[0].key, want, wn) == 0
           && r.j.field[0].type == T_TRUE;
    done(&r);

    if (!good) {
        show("key", lit, n);
    }

    return good;
}


/* the string literal "lit" is refused with this error at lit + at */

static int
string_bad(const char *lit, size_t n, const char *error, size_t at)
{
    char    buf[BODY_MAX];
    size_t  len;

    len = wrap(buf, "{\"k\":", lit, n, "}");

    if (!bad(buf, len, error, 5 + at)) {
        return 0;
    }

    len = wrap(buf, "{", lit, n, ":1}");

    return bad(buf, len, error, 1 + at);
}


/*
 * The number "lit" is valid, alone, before another field and among
 * spaces; non-integers have is_int 0 and num 0.
 */

static int
number_is(const char *lit, size_t n, int is_int, int64_t num)
{
    int                                 i, good;
    char                                buf[BODY_MAX];
    run_t                               r;
    size_t                              len;
    const ngx_http_guard_json_field_t  *f;
    static const char                  *pre[] = { "{\"n\":", "{\"n\":",
                                                  "{ \"n\" :\t" };
    static const char                  *post[] = { "}", ",\"x\":1}",
                                                   "\r\n}" };

    for (i = 0; i < 3; i++) {
        len = wrap(buf, pre[i], lit, n, post[i]);
        run(&r, buf, len);

        f = ngx_http_guard_json_get(&r.j, "n");
        good = sane(&r) && r.rc == 0 && f != NULL && f->type == T_NUMBER
               && f->is_int == is_int && f->num == (is_int ? num : 0);

        if (!good) {
            show("body", buf, len);
            printf("  rc %d error \"%s\" is_int %d num %lld\n", r.rc,
                   r.rc == 0 ? "" : r.j.error, f ? f->is_int : -1,
                   f ? (long long) f->num : 0);
        }

        done(&r);

        if (!good) {
            return 0;
        }
    }

    return 1;
}


/* the value "lit" is refused with this error at lit + at */

static int
number_bad(const char *lit, size_t n, const char *error, size_t at)
{
    char    buf[BODY_MAX];
    size_t  len;

    len = wrap(buf, "{\"n\":", lit, n, "}");

    return bad(buf, len, error, 5 + at);
}


/*
 * Every proper prefix of a valid body (that ends with its '}') is
 * refused, as cut short, unless it is whitespace only: an empty object.
 */

static int
prefixes(const char *in, size_t n)
{
    int     good;
    size_t  k, i;
    run_t   r;

    run(&r, in, n);
    good = sane(&r) && r.rc == 0;
    done(&r);

    if (!good) {
        show("body", in, n);
        printf("  rc %d error \"%s\" at %zu, want it valid\n", r.rc,
               r.rc == -1 ? r.j.error : "", r.j.error_at);
        return 0;
    }

    for (k = 0; k < n; k++) {
        run(&r, in, k);

        for (i = 0; i < k; i++) {
            if (in[i] != ' ' && in[i] != '\t' && in[i] != '\r'
                && in[i] != '\n')
            {
                break;
            }
        }

        if (i == k) {
            good = sane(&r) && r.rc == 0 && r.j.nfields == 0;

        } else {
            good = sane(&r) && r.rc == -1
                   && ((strcmp(r.j.error, "truncated body") == 0
                        && r.j.error_at == k)
                       || (strcmp(r.j.error, "unterminated string") == 0
                           && r.j.error_at < k && in[r.j.error_at] == '"'));
        }

        if (!good) {
            show("prefix", in, k);
            printf("  rc %d error \"%s\" at %zu\n", r.rc,
                   r.rc == -1 ? r.j.error : "", r.j.error_at);
        }

        done(&r);

        if (!good) {
            return 0;
        }
    }

    return 1;
}


/* an object of n fields "k0":0, "k1":1... then tail, into buf */

static size_t
fields(char *buf, unsigned n, const char *tail)
{
    int       w;
    size_t    len;
    unsigned  i;

    buf[0] = '{';
    len = 1;

    for (i = 0; i < n; i++) {
        w = snprintf(buf + len, BODY_MAX - len, "%s\"k%u\":%u",
                     i ? "," : "", i, i);
        if (w < 0 || (size_t) w >= BODY_MAX - len) {
            abort();
        }

        len += (size_t) w;
    }

    w = snprintf(buf + len, BODY_MAX - len, "%s", tail);
    if (w < 0 || (size_t) w >= BODY_MAX - len) {
        abort();
    }

    return len + (size_t) w;
}


static void
test_empty(void)
{
    ngx_http_guard_json_t  j;

    /* no body, or whitespace only: an empty object */
    CHECK(ok(S(""), 0));
    CHECK(ok(S(" "), 0));
    CHECK(ok(S("\n"), 0));
    CHECK(ok(S(" \t\r\n \t\r\n"), 0));

    CHECK(ok(S("{}"), 0));
    CHECK(ok(S("{ }"), 0));
    CHECK(ok(S(" {\n}\r\n"), 0));
    CHECK(ok(S("\t{ \t\r\n}\t"), 0));

    /* an empty body needs neither a pointer nor scratch */
    memset(&j, 0xa5, sizeof(ngx_http_guard_json_t));
    j.scratch = NULL;
    j.scratch_size = 0;
    CHECK(ngx_http_guard_json_parse(&j, NULL, 0) == 0);
    CHECK(j.nfields == 0 && j.error == NULL && j.error_at == 0);
}


static void
test_values(void)
{
    run_t                               r;
    const ngx_http_guard_json_field_t  *f;

    CHECK(run(&r, S("{\"s\":\"x\",\"i\":42,\"n\":-7,\"f\":1.5,\"e\":1e3,"
                    "\"t\":true,\"F\":false,\"z\":null}")) == 0);
    CHECK(sane(&r) && r.j.nfields == 8);
    CHECK(str_is(&r, "s", S("x")));
    CHECK(int_is(&r, "i", 42));
    CHECK(int_is(&r, "n", -7));
    CHECK(type_is(&r, "f", T_NUMBER));
    CHECK(type_is(&r, "e", T_NUMBER));
    CHECK(type_is(&r, "t", T_TRUE));
    CHECK(type_is(&r, "F", T_FALSE));
    CHECK(type_is(&r, "z", T_NULL));

    f = ngx_http_guard_json_get(&r.j, "f");
    CHECK(f != NULL && !f->is_int && f->num == 0 && f->str == NULL);
    f = ngx_http_guard_json_get(&r.j, "t");
    CHECK(f != NULL && !f->is_int && f->num == 0 && f->str == NULL);

    /* the fields in the order of the body */
    CHECK(r.j.field[0].key_len == 1 && r.j.field[0].key[0] == 's');
    CHECK(r.j.field[7].key_len == 1 && r.j.field[7].key[0] == 'z');
    done(&r);

    /* a body as the admin API gets one */
    CHECK(run(&r, S("{\"reason\":\"deploy 42\",\"expires\":\"10m\","
                    "\"dry_run\":true,\"weight\":5}")) == 0);
    CHECK(sane(&r) && r.j.nfields == 4);
    CHECK(str_is(&r, "reason", S("deploy 42")));
    CHECK(str_is(&r, "expires", S("10m")));
    CHECK(type_is(&r, "dry_run", T_TRUE));
    CHECK(int_is(&r, "weight", 5));

    /* keys and strings are C strings too */
    f = ngx_http_guard_json_get(&r.j, "reason");
    CHECK(f != NULL && strcmp((const char *) f->key, "reason") == 0
          && strcmp((const char *) f->str, "deploy 42") == 0);
    done(&r);

    /* whitespace between every token */
    CHECK(run(&r, S(" {\n  \"s\" : \"x\" ,\n  \"i\"\t:\r\n42 ,"
                    "\"t\" :true\t}\n")) == 0);
    CHECK(sane(&r) && r.j.nfields == 3);
    CHECK(str_is(&r, "s", S("x")));
    CHECK(int_is(&r, "i", 42));
    CHECK(type_is(&r, "t", T_TRUE));
    done(&r);
}


static void
test_strings(void)
{
    CHECK(string_is(S("\"\""), S("")));
    CHECK(string_is(S("\"a\""), S("a")));
    CHECK(string_is(S("\"hello, world\""), S("hello, world")));
    CHECK(string_is(S("\" {}[]:,tru \""), S(" {}[]:,tru ")));

    /* every short escape */
    CHECK(string_is(S("\"\\\"\""), S("\"")));
    CHECK(string_is(S("\"\\\\\""), S("\\")));
    CHECK(string_is(S("\"\\/\""), S("/")));
    CHECK(string_is(S("\"\\b\\f\\n\\r\\t\""), S("\b\f\n\r\t")));
    CHECK(string_is(S("\"a\\\"b\\\\c\\/d\""), S("a\"b\\c/d")));
    CHECK(string_is(S("\"\\\\n\""), S("\\n")));

    /* \u, every length of UTF-8 out, either case */
    CHECK(string_is(S("\"\\u0041\""), S("A")));
    CHECK(string_is(S("\"\\u007f\""), S("\x7f")));
    CHECK(string_is(S("\"\\u0080\""), S("\xc2\x80")));
    CHECK(string_is(S("\"\\u00e9\""), S("\xc3\xa9")));
    CHECK(string_is(S("\"\\u00E9\""), S("\xc3\xa9")));
    CHECK(string_is(S("\"\\u07ff\""), S("\xdf\xbf")));
    CHECK(string_is(S("\"\\u0800\""), S("\xe0\xa0\x80")));
    CHECK(string_is(S("\"\\u20AC\""), S("\xe2\x82\xac")));
    CHECK(string_is(S("\"\\ud7ff\""), S("\xed\x9f\xbf")));
    CHECK(string_is(S("\"\\ue000\""), S("\xee\x80\x80")));
    CHECK(string_is(S("\"\\uFFFF\""), S("\xef\xbf\xbf")));

    /* surrogate pairs: one character of four bytes */
    CHECK(string_is(S("\"\\ud83d\\ude00\""), S("\xf0\x9f\x98\x80")));
    CHECK(string_is(S("\"\\uD83D\\uDE00\""), S("\xf0\x9f\x98\x80")));
    CHECK(string_is(S("\"\\ud800\\udc00\""), S("\xf0\x90\x80\x80")));
    CHECK(string_is(S("\"\\udbff\\udfff\""), S("\xf4\x8f\xbf\xbf")));
    CHECK(string_is(S("\"x\\ud83d\\ude00y\\ud83d\\ude01\""),
                    S("x\xf0\x9f\x98\x80y\xf0\x9f\x98\x81")));

    /* control characters escaped are fine */
    CHECK(string_is(S("\"\\u0001\\u001f\""), S("\x01\x1f")));

    /* escaped and raw alike */
    CHECK(string_is(S("\"a\\u00e9b\xe2\x82\xac\\n\""),
                    S("a\xc3\xa9" "b\xe2\x82\xac\n")));
}


static void
test_utf8(void)
{
    /* raw UTF-8 of every length, at the edges of each range */
    CHECK(string_is(S("\"\x7f\""), S("\x7f")));
    CHECK(string_is(S("\"\xc2\x80\""), S("\xc2\x80")));
    CHECK(string_is(S("\"\xc3\xa9t\xc3\xa9\""), S("\xc3\xa9t\xc3\xa9")));
    CHECK(string_is(S("\"\xdf\xbf\""), S("\xdf\xbf")));
    CHECK(string_is(S("\"\xe0\xa0\x80\""), S("\xe0\xa0\x80")));
    CHECK(string_is(S("\"\xe2\x82\xac\""), S("\xe2\x82\xac")));
    CHECK(string_is(S("\"\xed\x9f\xbf\""), S("\xed\x9f\xbf")));
    CHECK(string_is(S("\"\xee\x80\x80\""), S("\xee\x80\x80")));
    CHECK(string_is(S("\"\xef\xbf\xbf\""), S("\xef\xbf\xbf")));
    CHECK(string_is(S("\"\xf0\x90\x80\x80\""), S("\xf0\x90\x80\x80")));
    CHECK(string_is(S("\"\xf0\x9f\x98\x80\""), S("\xf0\x9f\x98\x80")));
    CHECK(string_is(S("\"\xf3\xbf\xbf\xbf\""), S("\xf3\xbf\xbf\xbf")));
    CHECK(string_is(S("\"\xf4\x8f\xbf\xbf\""), S("\xf4\x8f\xbf\xbf")));
    CHECK(string_is(S("\"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\""),
                    S("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e")));
}


static void
test_bad_utf8(void)
{
    /* a continuation byte alone */
    CHECK(string_bad(S("\"\x80\""), "invalid UTF-8", 1));
    CHECK(string_bad(S("\"\xbf\""), "invalid UTF-8", 1));
    CHECK(string_bad(S("\"\xc3\xa9\xa9\""), "invalid UTF-8", 3));

    /* overlong forms */
    CHECK(string_bad(S("\"\xc0\x80\""), "invalid UTF-8", 1));
    CHECK(string_bad(S("\"\xc0\xaf\""), "invalid UTF-8", 1));
    CHECK(string_bad(S("\"\xc1\xbf\""), "invalid UTF-8", 1));
    CHECK(string_bad(S("\"\xe0\x80\x80\""), "invalid UTF-8", 1));
    CHECK(string_bad(S("\"\xe0\x9f\xbf\""), "invalid UTF-8", 1));
    CHECK(string_bad(S("\"\xf0\x80\x80\x80\""), "invalid UTF-8", 1));
    CHECK(string_bad(S("\"\xf0\x8f\xbf\xbf\""), "invalid UTF-8", 1));

    /* surrogates encoded in UTF-8 */
    CHECK(string_bad(S("\"\xed\xa0\x80\""), "invalid UTF-8", 1));
    CHECK(string_bad(S("\"\xed\xbf\xbf\""), "invalid UTF-8", 1));
    CHECK(string_bad(S("\"\xed\xa0\xbd\xed\xb8\x80\""), "invalid UTF-8",
                     1));

    /* above U+10FFFF, and bytes that are never UTF-8 */
    CHECK(string_bad(S("\"\xf4\x90\x80\x80\""), "invalid UTF-8", 1));
    CHECK(string_bad(S("\"\xf5\x80\x80\x80\""), "invalid UTF-8", 1));
    CHECK(string_bad(S("\"\xf7\xbf\xbf\xbf\""), "invalid UTF-8", 1));
    CHECK(string_bad(S("\"\xf8\x88\x80\x80\x80\""), "invalid UTF-8", 1));
    CHECK(string_bad(S("\"\xfc\x84\x80\x80\x80\x80\""), "invalid UTF-8",
                     1));
    CHECK(string_bad(S("\"\xfe\""), "invalid UTF-8", 1));
    CHECK(string_bad(S("\"\xff\""), "invalid UTF-8", 1));

    /* sequences cut short by the closing quote or another byte */
    CHECK(string_bad(S("\"\xc2\""), "invalid UTF-8", 1));
    CHECK(string_bad(S("\"ab\xc3\""), "invalid UTF-8", 3));
    CHECK(string_bad(S("\"\xc2\x41\""), "invalid UTF-8", 1));
    CHECK(string_bad(S("\"\xe2\x82\""), "invalid UTF-8", 1));
    CHECK(string_bad(S("\"\xe2\x28\xa1\""), "invalid UTF-8", 1));
    CHECK(string_bad(S("\"\xe2\x82\x28\""), "invalid UTF-8", 1));
    CHECK(string_bad(S("\"\xf0\x9f\x98\""), "invalid UTF-8", 1));
    CHECK(string_bad(S("\"\xf0\x9f\x98 \""), "invalid UTF-8", 1));

    /* outside strings, non-ASCII is no token at all */
    CHECK(bad(S("\xc3\xa9{}"), "expected an object", 0));
    CHECK(bad(S("{\xff}"), "expected a string key", 1));
    CHECK(bad(S("{\"a\":\xc3\xa9}"), "expected a value", 5));
    CHECK(bad(S("{}\xff"), "trailing data after the object", 2));

    /* no byte order mark */
    CHECK(bad(S("\xef\xbb\xbf{}"), "expected an object", 0));
}


static void
test_escapes(void)
{
    CHECK(string_bad(S("\"\\x\""), "invalid escape", 1));
    CHECK(string_bad(S("\"\\a\""), "invalid escape", 1));
    CHECK(string_bad(S("\"\\0\""), "invalid escape", 1));
    CHECK(string_bad(S("\"\\'\""), "invalid escape", 1));
    CHECK(string_bad(S("\"\\ \""), "invalid escape", 1));
    CHECK(string_bad(S("\"\\N\""), "invalid escape", 1));
    CHECK(string_bad(S("\"\\U0041\""), "invalid escape", 1));
    CHECK(string_bad(S("\"ab\\v\""), "invalid escape", 3));
    CHECK(string_bad(S("\"\\\xc3\xa9\""), "invalid escape", 1));

    /* \u takes exactly four hex digits */
    CHECK(string_bad(S("\"\\u\""), "invalid escape", 1));
    CHECK(string_bad(S("\"\\u12\""), "invalid escape", 1));
    CHECK(string_bad(S("\"\\u123\""), "invalid escape", 1));
    CHECK(string_bad(S("\"\\u00g1\""), "invalid escape", 1));
    CHECK(string_bad(S("\"\\u+123\""), "invalid escape", 1));
    CHECK(string_bad(S("\"\\u 123\""), "invalid escape", 1));
    CHECK(string_bad(S("\"\\u-123\""), "invalid escape", 1));
    CHECK(string_bad(S("\"\\x41\""), "invalid escape", 1));
    CHECK(string_is(S("\"\\u00411\""), S("A1")));

    /* \u0000 would cut a C string short: refused, key or value */
    CHECK(string_bad(S("\"\\u0000\""), "NUL character in a string", 1));
    CHECK(string_bad(S("\"a\\u0000b\""), "NUL character in a string", 2));
    CHECK(string_bad(S("\"x\\u0000\""), "NUL character in a string", 2));
}


static void
test_surrogates(void)
{
    /* a low surrogate alone */
    CHECK(string_bad(S("\"\\udc00\""), "unpaired surrogate", 1));
    CHECK(string_bad(S("\"\\uDFFF\""), "unpaired surrogate", 1));
    CHECK(string_bad(S("\"x\\ude00\""), "unpaired surrogate", 2));

    /* a high one without a low one right after it */
    CHECK(string_bad(S("\"\\ud800\""), "unpaired surrogate", 1));
    CHECK(string_bad(S("\"\\uDBFF\""), "unpaired surrogate", 1));
    CHECK(string_bad(S("\"x\\ud83d\""), "unpaired surrogate", 2));
    CHECK(string_bad(S("\"\\ud83dx\""), "unpaired surrogate", 1));
    CHECK(string_bad(S("\"\\ud83d \\ude00\""), "unpaired surrogate", 1));
    CHECK(string_bad(S("\"\\ud800\\n\""), "unpaired surrogate", 1));
    CHECK(string_bad(S("\"\\ud800\\u0041\""), "unpaired surrogate", 1));
    CHECK(string_bad(S("\"\\ud800\\ud800\""), "unpaired surrogate", 1));
    CHECK(string_bad(S("\"\\udbff\\ue000\""), "unpaired surrogate", 1));
    CHECK(string_bad(S("\"\\ud800\\u0000\""), "unpaired surrogate", 1));

    /* the pair in the wrong order: the low one comes alone first */
    CHECK(string_bad(S("\"\\ude00\\ud83d\""), "unpaired surrogate", 1));

    /* the second escape of a pair is checked as one */
    CHECK(string_bad(S("\"\\ud800\\u12\""), "invalid escape", 7));
    CHECK(string_bad(S("\"\\ud800\\udcxx\""), "invalid escape", 7));
}


static void
test_unterminated(void)
{
    /* a body that ends in a string: at its opening quote */
    CHECK(bad(S("{\""), "unterminated string", 1));
    CHECK(bad(S("{\"a"), "unterminated string", 1));
    CHECK(bad(S("{\"a\\\""), "unterminated string", 1));
    CHECK(bad(S("{\"a\":\""), "unterminated string", 5));
    CHECK(bad(S("{\"a\":\"abc"), "unterminated string", 5));
    CHECK(bad(S("{\"a\":\"x\\\"}"), "unterminated string", 5));
    CHECK(bad(S("{\"a\":\"\\"), "unterminated string", 5));
    CHECK(bad(S("{\"a\":\"\\u"), "unterminated string", 5));
    CHECK(bad(S("{\"a\":\"\\u00"), "unterminated string", 5));
    CHECK(bad(S("{\"a\":\"\\u00e9"), "unterminated string", 5));
    CHECK(bad(S("{\"a\":\"\\ud800"), "unterminated string", 5));
    CHECK(bad(S("{\"a\":\"\\ud800\\"), "unterminated string", 5));
    CHECK(bad(S("{\"a\":\"\\ud800\\u"), "unterminated string", 5));
    CHECK(bad(S("{\"a\":\"\\ud800\\udc0"), "unterminated string", 5));
    CHECK(bad(S("{\"a\":\"\xe2"), "unterminated string", 5));
    CHECK(bad(S("{\"a\":\"\xe2\x82"), "unterminated string", 5));
    CHECK(bad(S("{\"a\":\"\xf0\x9f\x98"), "unterminated string", 5));

    /* an invalid byte is seen before the end */
    CHECK(bad(S("{\"a\":\"\xe2\x28"), "invalid UTF-8", 6));
    CHECK(bad(S("{\"a\":\"\\q"), "invalid escape", 6));
}


static void
test_control(void)
{
    /* raw control characters, NUL included, are refused */
    CHECK(string_bad(S("\"\x01\""), "control character in a string", 1));
    CHECK(string_bad(S("\"\x1f\""), "control character in a string", 1));
    CHECK(string_bad(S("\"a\nb\""), "control character in a string", 2));
    CHECK(string_bad(S("\"\t\""), "control character in a string", 1));
    CHECK(string_bad(S("\"\r\""), "control character in a string", 1));
    CHECK(string_bad(S("\"\x1b[31m\""), "control character in a string",
                     1));
    CHECK(string_bad(S("\"ab\0c\""), "control character in a string", 3));

    /* DEL is not one for RFC 8259 */
    CHECK(string_is(S("\"a\x7f\""), S("a\x7f")));
}


static void
test_numbers(void)
{
    CHECK(number_is(S("0"), 1, 0));
    CHECK(number_is(S("-0"), 1, 0));
    CHECK(number_is(S("1"), 1, 1));
    CHECK(number_is(S("-1"), 1, -1));
    CHECK(number_is(S("42"), 1, 42));
    CHECK(number_is(S("1000"), 1, 1000));
    CHECK(number_is(S("2592000"), 1, 2592000));
    CHECK(number_is(S("1234567890123"), 1, 1234567890123LL));

    /* the int64_t limits, and one past them */
    CHECK(number_is(S("9223372036854775806"), 1, INT64_MAX - 1));
    CHECK(number_is(S("9223372036854775807"), 1, INT64_MAX));
    CHECK(number_is(S("-9223372036854775807"), 1, -INT64_MAX));
    CHECK(number_is(S("-9223372036854775808"), 1, INT64_MIN));
    CHECK(number_is(S("9223372036854775808"), 0, 0));
    CHECK(number_is(S("9223372036854775810"), 0, 0));
    CHECK(number_is(S("-9223372036854775809"), 0, 0));
    CHECK(number_is(S("10000000000000000000"), 0, 0));
    CHECK(number_is(S("18446744073709551616"), 0, 0));
    CHECK(number_is(S("92233720368547758070"), 0, 0));
    CHECK(number_is(S("99999999999999999999999999999999999999999"), 0, 0));
    CHECK(number_is(S("-99999999999999999999999999999999999999999"), 0, 0));

    /* a fraction or an exponent: not an integer, even if it is one */
    CHECK(number_is(S("1.5"), 0, 0));
    CHECK(number_is(S("0.5"), 0, 0));
    CHECK(number_is(S("-0.5"), 0, 0));
    CHECK(number_is(S("1.0"), 0, 0));
    CHECK(number_is(S("0.000"), 0, 0));
    CHECK(number_is(S("1e3"), 0, 0));
    CHECK(number_is(S("1E3"), 0, 0));
    CHECK(number_is(S("1e+3"), 0, 0));
    CHECK(number_is(S("1e-3"), 0, 0));
    CHECK(number_is(S("0e0"), 0, 0));
    CHECK(number_is(S("-0.0e-0"), 0, 0));
    CHECK(number_is(S("10E+00"), 0, 0));
    CHECK(number_is(S("1.5e999999999999999999999"), 0, 0));
    CHECK(number_is(S("123456789012345678901234567890.5e10"), 0, 0));
}


static void
test_bad_numbers(void)
{
    /* no leading zeros */
    CHECK(number_bad(S("01"), "invalid number", 1));
    CHECK(number_bad(S("00"), "invalid number", 1));
    CHECK(number_bad(S("-01"), "invalid number", 2));
    CHECK(number_bad(S("007"), "invalid number", 1));

    /* digits on both sides of the point, and in an exponent */
    CHECK(number_bad(S("1."), "invalid number", 2));
    CHECK(number_bad(S("0."), "invalid number", 2));
    CHECK(number_bad(S(".5"), "invalid number", 0));
    CHECK(number_bad(S("-.5"), "invalid number", 1));
    CHECK(number_bad(S("1.e3"), "invalid number", 2));
    CHECK(number_bad(S("1e"), "invalid number", 2));
    CHECK(number_bad(S("0e"), "invalid number", 2));
    CHECK(number_bad(S("1e+"), "invalid number", 3));
    CHECK(number_bad(S("1E-"), "invalid number", 3));
    CHECK(number_bad(S("1.5e"), "invalid number", 4));
    CHECK(number_bad(S("1e+-3"), "invalid number", 3));

    /* a sign is only a leading '-' */
    CHECK(number_bad(S("-"), "invalid number", 1));
    CHECK(number_bad(S("+1"), "invalid number", 0));
    CHECK(number_bad(S("--1"), "invalid number", 1));
    CHECK(number_bad(S("- 1"), "invalid number", 1));
    CHECK(number_bad(S("-a"), "invalid number", 1));

    /* a number is followed by whitespace, ',' or '}' only */
    CHECK(number_bad(S("0x10"), "invalid number", 1));
    CHECK(number_bad(S("1.5.3"), "invalid number", 3));
    CHECK(number_bad(S("1ee3"), "invalid number", 2));
    CHECK(number_bad(S("1e5e"), "invalid number", 3));
    CHECK(number_bad(S("1e5.0"), "invalid number", 3));
    CHECK(number_bad(S("1-2"), "invalid number", 1));
    CHECK(number_bad(S("1+2"), "invalid number", 1));
    CHECK(number_bad(S("12a"), "invalid number", 2));
    CHECK(number_bad(S("1_000"), "expected a comma or a closing brace",
                     1));
    CHECK(number_bad(S("1 2"), "expected a comma or a closing brace", 2));

    /* no NaN, no Infinity, no other digits */
    CHECK(number_bad(S("NaN"), "expected a value", 0));
    CHECK(number_bad(S("nan"), "expected a value", 0));
    CHECK(number_bad(S("Infinity"), "expected a value", 0));
    CHECK(number_bad(S("-Infinity"), "invalid number", 1));
    CHECK(number_bad(S("\xd9\xa1"), "expected a value", 0));
}


static void
test_nested(void)
{
    CHECK(bad(S("{\"a\":{}}"),
              "nested objects and arrays are not accepted", 5));
    CHECK(bad(S("{\"a\":{\"b\":1}}"),
              "nested objects and arrays are not accepted", 5));
    CHECK(bad(S("{\"a\":[]}"),
              "nested objects and arrays are not accepted", 5));
    CHECK(bad(S("{\"a\":[1,2]}"),
              "nested objects and arrays are not accepted", 5));
    CHECK(bad(S("{\"a\": \n[\"x\"]}"),
              "nested objects and arrays are not accepted", 7));
    CHECK(bad(S("{\"a\":1,\"b\":["),
              "nested objects and arrays are not accepted", 11));

    /* the top level is an object, nothing else */
    CHECK(bad(S("[]"), "expected an object", 0));
    CHECK(bad(S("[{\"a\":1}]"), "expected an object", 0));
    CHECK(bad(S(" \"x\""), "expected an object", 1));
    CHECK(bad(S("1"), "expected an object", 0));
    CHECK(bad(S("null"), "expected an object", 0));
    CHECK(bad(S("true"), "expected an object", 0));
    CHECK(bad(S("}"), "expected an object", 0));
    CHECK(bad(S("reason=x"), "expected an object", 0));
}


static void
test_duplicate(void)
{
    /* at the second one's opening quote */
    CHECK(bad(S("{\"a\":1,\"a\":2}"), "duplicate key", 7));
    CHECK(bad(S("{\"a\":1,\"b\":2,\"a\":3}"), "duplicate key", 13));
    CHECK(bad(S("{\"a\":\"x\",\"a\":\"x\"}"), "duplicate key", 9));
    CHECK(bad(S("{\"a\":null,\"a\":[1]}"), "duplicate key", 10));

    /* compared once unescaped */
    CHECK(bad(S("{\"a\":1,\"\\u0061\":2}"), "duplicate key", 7));
    CHECK(bad(S("{\"\\u0061\":1,\"a\":2}"), "duplicate key", 12));
    CHECK(bad(S("{\"ab\":1,\"a\\u0062\":true}"), "duplicate key", 8));
    CHECK(bad(S("{\"a/\":1,\"a\\/\":2}"), "duplicate key", 8));
    CHECK(bad(S("{\"\\u00e9\":1,\"\xc3\xa9\":2}"), "duplicate key", 12));
    CHECK(bad(S("{\"\\ud83d\\ude00\":1,\"\xf0\x9f\x98\x80\":2}"),
              "duplicate key", 18));

    /* keys that differ, if only a little */
    CHECK(ok(S("{\"a\":1,\"A\":2}"), 2));
    CHECK(ok(S("{\"a\":1,\"a \":2}"), 2));
    CHECK(ok(S("{\"a\":1,\"ab\":2}"), 2));
    CHECK(ok(S("{\"ab\":1,\"a\":2}"), 2));
    CHECK(ok(S("{\"\xc3\xa9\":1,\"e\":2}"), 2));
    CHECK(ok(S("{\"a\":\"a\",\"b\":\"a\"}"), 2));
}


static void
test_empty_key(void)
{
    CHECK(bad(S("{\"\":1}"), "empty key", 1));
    CHECK(bad(S("{\"a\":1, \"\":2}"), "empty key", 8));

    /* an empty value is fine */
    CHECK(ok(S("{\"a\":\"\"}"), 1));
}


static void
test_syntax(void)
{
    /* keys are strings, followed by a colon */
    CHECK(bad(S("{a:1}"), "expected a string key", 1));
    CHECK(bad(S("{'a':1}"), "expected a string key", 1));
    CHECK(bad(S("{1:1}"), "expected a string key", 1));
    CHECK(bad(S("{,}"), "expected a string key", 1));
    CHECK(bad(S("{\"a\":1,}"), "expected a string key", 7));
    CHECK(bad(S("{\"a\":1,,\"b\":2}"), "expected a string key", 7));
    CHECK(bad(S("{\"a\"}"), "expected a colon after a key", 4));
    CHECK(bad(S("{\"a\" 1}"), "expected a colon after a key", 5));
    CHECK(bad(S("{\"a\"=1}"), "expected a colon after a key", 4));
    CHECK(bad(S("{\"a\",\"b\"}"), "expected a colon after a key", 4));

    /* then a value */
    CHECK(bad(S("{\"a\":}"), "expected a value", 5));
    CHECK(bad(S("{\"a\":,}"), "expected a value", 5));
    CHECK(bad(S("{\"a\"::1}"), "expected a value", 5));
    CHECK(bad(S("{\"a\":'x'}"), "expected a value", 5));
    CHECK(bad(S("{\"a\":x}"), "expected a value", 5));
    CHECK(bad(S("{\"a\":undefined}"), "expected a value", 5));

    /* literals: exactly true, false, null */
    CHECK(ok(S("{\"a\":true,\"b\":false,\"c\":null}"), 3));
    CHECK(bad(S("{\"a\":tru}"), "expected a value", 5));
    CHECK(bad(S("{\"a\":truex}"), "expected a value", 5));
    CHECK(bad(S("{\"a\":true1}"), "expected a value", 5));
    CHECK(bad(S("{\"a\":True}"), "expected a value", 5));
    CHECK(bad(S("{\"a\":TRUE}"), "expected a value", 5));
    CHECK(bad(S("{\"a\":fals}"), "expected a value", 5));
    CHECK(bad(S("{\"a\":falsey}"), "expected a value", 5));
    CHECK(bad(S("{\"a\":nul}"), "expected a value", 5));
    CHECK(bad(S("{\"a\":null0}"), "expected a value", 5));
    CHECK(bad(S("{\"a\":nil}"), "expected a value", 5));

    /* then a comma and another field, or the end */
    CHECK(bad(S("{\"a\":1 \"b\":2}"), "expected a comma or a closing brace",
              7));
    CHECK(bad(S("{\"a\":1;\"b\":2}"), "expected a comma or a closing brace",
              6));
    CHECK(bad(S("{\"a\":\"x\"\"b\":2}"),
              "expected a comma or a closing brace", 8));
    CHECK(bad(S("{\"a\":true\"b\":2}"),
              "expected a comma or a closing brace", 9));
    CHECK(bad(S("{\"a\":1]"), "expected a comma or a closing brace", 6));
}


static void
test_whitespace(void)
{
    /* space, tab, CR and LF only: not VT, FF, NBSP or others */
    CHECK(bad(S("\v{}"), "expected an object", 0));
    CHECK(bad(S("\f{}"), "expected an object", 0));
    CHECK(bad(S("\xc2\xa0{}"), "expected an object", 0));
    CHECK(bad(S("{\f}"), "expected a string key", 1));
    CHECK(bad(S("{\"a\"\f:1}"), "expected a colon after a key", 4));
    CHECK(bad(S("{\"a\":\v1}"), "expected a value", 5));
    CHECK(bad(S("{\"a\":1\v}"), "expected a comma or a closing brace", 6));
    CHECK(bad(S("{}\f"), "trailing data after the object", 2));
    CHECK(bad(S("\0"), "expected an object", 0));
    CHECK(bad(S("{\0}"), "expected a string key", 1));

    CHECK(ok(S("\r\n{\r\n\"a\"\r\n:\r\n1\r\n,\r\n\"b\":2\r\n}\r\n"), 2));
}


static void
test_trailing(void)
{
    CHECK(bad(S("{}x"), "trailing data after the object", 2));
    CHECK(bad(S("{}{}"), "trailing data after the object", 2));
    CHECK(bad(S("{} {}"), "trailing data after the object", 3));
    CHECK(bad(S("{\"a\":1}{\"b\":2}"), "trailing data after the object",
              7));
    CHECK(bad(S("{\"a\":1}}"), "trailing data after the object", 7));
    CHECK(bad(S("{\"a\":1},"), "trailing data after the object", 7));
    CHECK(bad(S("{}\0"), "trailing data after the object", 2));
    CHECK(bad(S("{}\n\n}"), "trailing data after the object", 4));
    CHECK(bad(S("{} // comment"), "trailing data after the object", 3));
    CHECK(bad(S("{}\"\""), "trailing data after the object", 2));
}


static void
test_truncated(void)
{
    /* one check per body: every prefix of it */
    CHECK(prefixes(S("{}")));
    CHECK(prefixes(S(" \t\r\n{ }")));
    CHECK(prefixes(S("{\"a\":1}")));
    CHECK(prefixes(S("{\"reason\":\"deploy \\u00e9\\ud83d\\ude00 "
                     "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\\\"\\\\\","
                     "\"expires\":-12.5e+3,\"weight\":10,"
                     "\"dry_run\":true,\"x\":false,\"y\":null,\"z\":0,"
                     "\"big\":-9223372036854775808,\"f\":0.25E-2}")));
    CHECK(prefixes(S("  {  \"a\"  :  \"b\"  ,  \"c\"  :  -0  }")));
    CHECK(prefixes(S("\n{\"t\":true,\"f\":false,\"n\":null}")));

    /* where it ends */
    CHECK(bad(S("{"), "truncated body", 1));
    CHECK(bad(S(" { "), "truncated body", 3));
    CHECK(bad(S("{\"a\""), "truncated body", 4));
    CHECK(bad(S("{\"a\":"), "truncated body", 5));
    CHECK(bad(S("{\"a\":1"), "truncated body", 6));
    CHECK(bad(S("{\"a\":-"), "truncated body", 6));
    CHECK(bad(S("{\"a\":1."), "truncated body", 7));
    CHECK(bad(S("{\"a\":1e"), "truncated body", 7));
    CHECK(bad(S("{\"a\":1e-"), "truncated body", 8));
    CHECK(bad(S("{\"a\":tr"), "truncated body", 7));
    CHECK(bad(S("{\"a\":1,"), "truncated body", 7));
    CHECK(bad(S("{\"a\":\"x\" "), "truncated body", 9));
}


static void
test_too_many(void)
{
    char    buf[BODY_MAX];
    run_t   r;
    size_t  len, at;

    /* as many fields as there is room for */
    len = fields(buf, NGX_HTTP_GUARD_JSON_MAX_FIELDS, "}");
    CHECK(run(&r, buf, len) == 0);
    CHECK(sane(&r) && r.j.nfields == NGX_HTTP_GUARD_JSON_MAX_FIELDS);
    CHECK(int_is(&r, "k0", 0));
    CHECK(int_is(&r, "k15", 15));
    done(&r);

    /* one more: refused at its opening quote, whatever it is */
    at = fields(buf, NGX_HTTP_GUARD_JSON_MAX_FIELDS, "") + 1;

    len = fields(buf, NGX_HTTP_GUARD_JSON_MAX_FIELDS + 1, "}");
    CHECK(bad(buf, len, "too many fields", at));

    len = fields(buf, NGX_HTTP_GUARD_JSON_MAX_FIELDS, ",\"k0\":[}");
    CHECK(bad(buf, len, "too many fields", at));

    len = fields(buf, 40, "}");
    CHECK(bad(buf, len, "too many fields", at));

    /* a trailing comma after the last one is still one */
    len = fields(buf, NGX_HTTP_GUARD_JSON_MAX_FIELDS, ",}");
    CHECK(bad(buf, len, "expected a string key", at));
}


static void
test_scratch(void)
{
    run_t              r;
    static const char  body[] = "{\"reason\":\"x\",\"a\":\"\\u00e9\"}";

    /*
     * "reason", "x", "a" and "\u00e9" take 7 + 2 + 2 + 3 bytes with their
     * NULs: 14 is enough, 13 is not, and anything short fails cleanly.
     */

    CHECK(run_scratch(&r, body, sizeof(body) - 1, 14) == 0 && sane(&r));
    CHECK(str_is(&r, "a", S("\xc3\xa9")));
    done(&r);

    CHECK(run_scratch(&r, body, sizeof(body) - 1, 13) == -1 && sane(&r));
    CHECK(strcmp(r.j.error, "scratch buffer too small") == 0);
    done(&r);

    CHECK(run_scratch(&r, body, sizeof(body) - 1, 7) == -1 && sane(&r));
    CHECK(strcmp(r.j.error, "scratch buffer too small") == 0);
    done(&r);

    CHECK(run_scratch(&r, body, sizeof(body) - 1, 1) == -1 && sane(&r));
    CHECK(strcmp(r.j.error, "scratch buffer too small") == 0);
    done(&r);

    /* no scratch at all: enough for bodies without strings only */
    CHECK(run_scratch(&r, S("{}"), 0) == 0 && sane(&r));
    done(&r);
    CHECK(run_scratch(&r, S("  "), 0) == 0 && sane(&r));
    done(&r);
    CHECK(run_scratch(&r, S("{\"a\":1}"), 0) == -1 && sane(&r));
    CHECK(strcmp(r.j.error, "scratch buffer too small") == 0);
    done(&r);

    /*
     * The body's length is always enough (every other test has exactly
     * that): the tightest, keys and values of raw multibyte characters.
     */
    CHECK(run(&r, S("{\"\xf0\x9f\x98\x80\":\"\xf0\x9f\x98\x80\","
                    "\"\xc3\xa9\":\"\"}")) == 0 && sane(&r));
    done(&r);
}


static void
test_get(void)
{
    run_t  r;

    CHECK(run(&r, S("{\"a\":1,\"ab\":2,\"b\":\"x\",\"\\u00e9\":3}")) == 0);
    CHECK(int_is(&r, "a", 1));
    CHECK(int_is(&r, "ab", 2));
    CHECK(str_is(&r, "b", S("x")));
    CHECK(int_is(&r, "\xc3\xa9", 3));
    CHECK(ngx_http_guard_json_get(&r.j, "abc") == NULL);
    CHECK(ngx_http_guard_json_get(&r.j, "A") == NULL);
    CHECK(ngx_http_guard_json_get(&r.j, "") == NULL);
    CHECK(ngx_http_guard_json_get(&r.j, "\\u00e9") == NULL);
    done(&r);

    /* nothing after a failure, even of the fields before it */
    CHECK(run(&r, S("{\"a\":1,\"b\":2,\"c\":[]}")) == -1);
    CHECK(r.j.nfields == 0 && ngx_http_guard_json_get(&r.j, "a") == NULL);
    done(&r);
}


static void
test_reuse(void)
{
    unsigned char          scratch[64];
    ngx_http_guard_json_t  j;

    memset(&j, 0xa5, sizeof(ngx_http_guard_json_t));
    j.scratch = scratch;
    j.scratch_size = sizeof(scratch);

    CHECK(ngx_http_guard_json_parse(&j, (const unsigned char *) S("{\"a\":1}"))
          == 0);
    CHECK(j.nfields == 1 && j.error == NULL);

    CHECK(ngx_http_guard_json_parse(&j, (const unsigned char *) S("{\"a\":"))
          == -1);
    CHECK(j.nfields == 0 && j.error != NULL && j.error_at == 5);

    CHECK(ngx_http_guard_json_parse(&j, (const unsigned char *) S(" "))
          == 0);
    CHECK(j.nfields == 0 && j.error == NULL && j.error_at == 0);

    CHECK(ngx_http_guard_json_parse(&j, (const unsigned char *) S("{\"b\":2}"))
          == 0);
    CHECK(j.nfields == 1 && ngx_http_guard_json_get(&j, "a") == NULL);
    CHECK(ngx_http_guard_json_get(&j, "b") != NULL);
}
