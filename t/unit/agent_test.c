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
 * Unit tests of the agent value parser, ngx_http_guard_agent.c.
 * Built and run by scripts/unit.  The last line printed is
 * "N passed, N failed"; the exit code is non-zero on any failure.
 *
 * Every value is copied to a malloc()ed buffer of exactly its length, so
 * that AddressSanitizer sees any read past its end.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_guard_agent.h"


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

/* expected fields of a valid value */
#define NOVAL    0, 0, 0
#define W(n)     1, 0, n        /* has_value, percent, value */
#define PCT(n)   1, 1, n
#define KEEP     0              /* drain */
#define DRAIN    1


static int agent(ngx_http_guard_agent_t *a, const char *in, size_t n);
static int valid_is(const char *in, size_t n, int has_value, int percent,
    uint32_t value, int drain);
static int invalid(const char *in, size_t n);

static void test_percent(void);
static void test_weight(void);
static void test_words(void);
static void test_mixed(void);
static void test_last_wins(void);
static void test_zero_percent(void);
static void test_limits(void);
static void test_invalid(void);
static void test_empty(void);
static void test_reuse(void);
static void test_text(void);


static unsigned  passed;
static unsigned  failed;


int
main(void)
{
    test_percent();
    test_weight();
    test_words();
    test_mixed();
    test_last_wins();
    test_zero_percent();
    test_limits();
    test_invalid();
    test_empty();
    test_reuse();
    test_text();

    printf("%u passed, %u failed\n", passed, failed);

    return failed ? 1 : 0;
}


static int
agent(ngx_http_guard_agent_t *a, const char *in, size_t n)
{
    int             rc;
    unsigned char  *buf;

    buf = malloc(n ? n : 1);
    if (buf == NULL) {
        abort();
    }

    memcpy(buf, in, n);

    rc = ngx_http_guard_parse_agent(a, buf, n);

    free(buf);

    return rc;
}


/*
 * Parses "in" into a struct full of garbage: it must be valid with
 * exactly these fields, present, and the other fields reset.
 */

static int
valid_is(const char *in, size_t n, int has_value, int percent,
    uint32_t value, int drain)
{
    int                     rc;
    ngx_http_guard_agent_t  a;

    memset(&a, 0xff, sizeof(ngx_http_guard_agent_t));

    rc = agent(&a, in, n);

    if (rc == 0 && a.present && a.valid
        && a.has_value == (unsigned) has_value
        && a.percent == (unsigned) percent && a.value == value
        && a.drain == (unsigned) drain)
    {
        return 1;
    }

    printf("  \"%.*s\": rc %d present %u valid %u has_value %u percent %u "
           "value %u drain %u\n", (int) n, in, rc, a.present, a.valid,
           a.has_value, a.percent, (unsigned) a.value, a.drain);

    return 0;
}


static int
invalid(const char *in, size_t n)
{
    int                     rc;
    ngx_http_guard_agent_t  a;

    memset(&a, 0xff, sizeof(ngx_http_guard_agent_t));

    rc = agent(&a, in, n);

    if (rc == -1 && a.present && !a.valid) {
        return 1;
    }

    printf("  \"%.*s\": rc %d present %u valid %u, want invalid\n",
           (int) n, in, rc, a.present, a.valid);

    return 0;
}


static void
test_percent(void)
{
    CHECK(valid_is(S("50%"), PCT(50), KEEP));
    CHECK(valid_is(S("1%"), PCT(1), KEEP));
    CHECK(valid_is(S("100%"), PCT(100), KEEP));
    CHECK(valid_is(S("250%"), PCT(250), KEEP));
    CHECK(valid_is(S("007%"), PCT(7), KEEP));
}


static void
test_weight(void)
{
    CHECK(valid_is(S("7"), W(7), KEEP));
    CHECK(valid_is(S("1"), W(1), KEEP));
    CHECK(valid_is(S("42"), W(42), KEEP));
    CHECK(valid_is(S("0010"), W(10), KEEP));

    /* a weight is 1 to 1000: 0 is not one (0% is the drain) */
    CHECK(invalid(S("0")));
    CHECK(invalid(S("000")));
}


static void
test_words(void)
{
    CHECK(valid_is(S("drain"), NOVAL, DRAIN));
    CHECK(valid_is(S("ready"), NOVAL, KEEP));
    CHECK(valid_is(S("up"), NOVAL, KEEP));

    /* case does not matter */
    CHECK(valid_is(S("DRAIN"), NOVAL, DRAIN));
    CHECK(valid_is(S("Drain"), NOVAL, DRAIN));
    CHECK(valid_is(S("dRaIn"), NOVAL, DRAIN));
    CHECK(valid_is(S("READY"), NOVAL, KEEP));
    CHECK(valid_is(S("Up"), NOVAL, KEEP));
    CHECK(valid_is(S("uP"), NOVAL, KEEP));

    /* ready and up withdraw a drain; the last word wins */
    CHECK(valid_is(S("drain ready"), NOVAL, KEEP));
    CHECK(valid_is(S("drain up"), NOVAL, KEEP));
    CHECK(valid_is(S("ready drain"), NOVAL, DRAIN));
    CHECK(valid_is(S("up,drain"), NOVAL, DRAIN));
    CHECK(valid_is(S("drain drain"), NOVAL, DRAIN));
    CHECK(valid_is(S("drain up drain ready"), NOVAL, KEEP));
}


static void
test_mixed(void)
{
    CHECK(valid_is(S("50% drain"), PCT(50), DRAIN));
    CHECK(valid_is(S("drain 50%"), PCT(50), DRAIN));
    CHECK(valid_is(S("drain,7"), W(7), DRAIN));
    CHECK(valid_is(S("7\tdrain"), W(7), DRAIN));
    CHECK(valid_is(S(" drain,\t25% "), PCT(25), DRAIN));
    CHECK(valid_is(S("25% , ready"), PCT(25), KEEP));
    CHECK(valid_is(S("Ready,\t,\t 80%"), PCT(80), KEEP));
    CHECK(valid_is(S("UP 3 DRAIN"), W(3), DRAIN));
    CHECK(valid_is(S("3,,,,\t\t\t   up"), W(3), KEEP));

    /* a value with the weight and the words of HAProxy's agent */
    CHECK(valid_is(S("up, 75%"), PCT(75), KEEP));
}


static void
test_last_wins(void)
{
    CHECK(valid_is(S("50% 10"), W(10), KEEP));
    CHECK(valid_is(S("10 50%"), PCT(50), KEEP));
    CHECK(valid_is(S("1 2 3"), W(3), KEEP));
    CHECK(valid_is(S("1%,2%,3%"), PCT(3), KEEP));
    CHECK(valid_is(S("5 drain 6"), W(6), DRAIN));
    CHECK(valid_is(S("1000 1"), W(1), KEEP));
}


static void
test_zero_percent(void)
{
    /* 0% asks for a drain */
    CHECK(valid_is(S("0%"), PCT(0), DRAIN));
    CHECK(valid_is(S("000%"), PCT(0), DRAIN));
    CHECK(valid_is(S("5 0%"), PCT(0), DRAIN));
    CHECK(valid_is(S("50%,0%"), PCT(0), DRAIN));
    CHECK(valid_is(S("ready 0%"), PCT(0), DRAIN));
    CHECK(valid_is(S("0% drain"), PCT(0), DRAIN));
    CHECK(valid_is(S("0% 0%"), PCT(0), DRAIN));

    /*
     * the last weight or percentage wins: a 0% followed by another value
     * no longer asks for a drain, unless "drain" was sent too
     */
    CHECK(valid_is(S("0% 50%"), PCT(50), KEEP));
    CHECK(valid_is(S("0%,7"), W(7), KEEP));
    CHECK(valid_is(S("drain 0% 50%"), PCT(50), DRAIN));
    CHECK(valid_is(S("0% 50% drain"), PCT(50), DRAIN));
}


static void
test_limits(void)
{
    CHECK(valid_is(S("1000"), W(1000), KEEP));
    CHECK(valid_is(S("1000%"), PCT(1000), KEEP));
    CHECK(valid_is(S("999"), W(999), KEEP));
    CHECK(invalid(S("1001")));
    CHECK(invalid(S("1001%")));
    CHECK(invalid(S("10000")));
    CHECK(invalid(S("2000%")));

    /* leading zeros do not count */
    CHECK(valid_is(S("0000000000000000000000001000"), W(1000), KEEP));
    CHECK(valid_is(S("00000000000000000000000001%"), PCT(1), KEEP));

    /* long digit strings do not wrap around */
    CHECK(invalid(S("4294967296")));            /* 2^32: 0 when wrapped */
    CHECK(invalid(S("4294967297%")));           /* 2^32 + 1 */
    CHECK(invalid(S("4294968296")));            /* 2^32 + 1000 */
    CHECK(invalid(S("18446744073709551616")));  /* 2^64 */
    CHECK(invalid(S("99999999999999999999999999999999999999%")));
    CHECK(invalid(S("10000000000000000000000000000000000000001")));

    /* one value out of range spoils the whole */
    CHECK(invalid(S("1001 5")));
    CHECK(invalid(S("5 1001")));
    CHECK(invalid(S("drain 1001%")));
}


static void
test_invalid(void)
{
    CHECK(invalid(S("%")));
    CHECK(invalid(S("5%%")));
    CHECK(invalid(S("%5")));
    CHECK(invalid(S("50 %")));
    CHECK(invalid(S("-5")));
    CHECK(invalid(S("-5%")));
    CHECK(invalid(S("+5")));
    CHECK(invalid(S("5.5")));
    CHECK(invalid(S("5x")));
    CHECK(invalid(S("50%x")));
    CHECK(invalid(S("x5")));
    CHECK(invalid(S("0x10")));
    CHECK(invalid(S("1e3")));
    CHECK(invalid(S("fifty")));

    /* words: exactly drain, ready, up */
    CHECK(invalid(S("drai")));
    CHECK(invalid(S("drains")));
    CHECK(invalid(S("draindrain")));
    CHECK(invalid(S("u")));
    CHECK(invalid(S("upp")));
    CHECK(invalid(S("readyy")));
    CHECK(invalid(S("down")));
    CHECK(invalid(S("maint")));
    CHECK(invalid(S("drain;")));
    CHECK(invalid(S("up!")));
    CHECK(invalid(S("\"drain\"")));
    CHECK(invalid(S("dr\xc1in")));
    CHECK(invalid(S("d\x00rain")));

    /* only spaces, tabs and commas separate tokens */
    CHECK(invalid(S("drain;up")));
    CHECK(invalid(S("5\n")));
    CHECK(invalid(S("\r5")));
    CHECK(invalid(S("5\v")));
    CHECK(invalid(S("5\0")));
    CHECK(invalid(S("50%\x00")));

    /* one bad token spoils the whole, wherever it is */
    CHECK(invalid(S("50% bogus")));
    CHECK(invalid(S("bogus 50%")));
    CHECK(invalid(S("drain, x, 5")));
    CHECK(invalid(S("up 5%% drain")));
}


static void
test_empty(void)
{
    /* no token at all: valid, and asks for nothing */
    CHECK(valid_is(S(""), NOVAL, KEEP));
    CHECK(valid_is(S(" "), NOVAL, KEEP));
    CHECK(valid_is(S(","), NOVAL, KEEP));
    CHECK(valid_is(S("\t,\t , ,,"), NOVAL, KEEP));

    /* separators before and after */
    CHECK(valid_is(S(",50%"), PCT(50), KEEP));
    CHECK(valid_is(S("50%,"), PCT(50), KEEP));
    CHECK(valid_is(S(" \t50% \t"), PCT(50), KEEP));
    CHECK(valid_is(S(",,drain,,"), NOVAL, DRAIN));
    CHECK(valid_is(S("\t7"), W(7), KEEP));
    CHECK(valid_is(S("7\t"), W(7), KEEP));
}


static void
test_reuse(void)
{
    ngx_http_guard_agent_t  a;

    /* a valid parse resets what an earlier one left */

    CHECK(agent(&a, S("drain 50%")) == 0);
    CHECK(a.valid && a.drain && a.has_value && a.percent && a.value == 50);

    CHECK(agent(&a, S("up")) == 0);
    CHECK(a.present && a.valid);
    CHECK(!a.drain && !a.has_value && !a.percent && a.value == 0);

    /* an invalid value leaves valid = 0 after a valid one */

    CHECK(agent(&a, S("7")) == 0);
    CHECK(a.valid && a.value == 7);

    CHECK(agent(&a, S("7 nonsense")) == -1);
    CHECK(a.present && !a.valid);

    CHECK(agent(&a, S("1001")) == -1);
    CHECK(a.present && !a.valid);

    CHECK(agent(&a, S("")) == 0);
    CHECK(a.present && a.valid && !a.has_value && !a.drain);
}


/* the fingerprint and printable start of a value, for the log */

static void
test_text(void)
{
    ngx_http_guard_agent_t  a, b;

    CHECK(agent(&a, S("garbage")) == -1 && a.present && !a.valid);
    CHECK(a.text_len == 7 && memcmp(a.text, "garbage", 7) == 0 && !a.cut);
    CHECK(a.hash != 0);

    CHECK(agent(&b, S("garbage")) == -1 && b.hash == a.hash);
    CHECK(agent(&b, S("-5")) == -1 && b.hash != a.hash);
    CHECK(b.text_len == 2 && memcmp(b.text, "-5", 2) == 0);

    /* valid values have one too */
    CHECK(agent(&b, S("50%")) == 0 && b.hash != 0 && b.text_len == 3);

    /* control bytes, quotes, backslashes and non-ASCII print as '?' */
    CHECK(agent(&a, S("a\"b\\c\x01\x7f\xff\n")) == -1);
    CHECK(a.text_len == 9 && memcmp(a.text, "a?b?c????", 9) == 0);

    /* a long value: its start, marked cut, and its whole in the hash */
    CHECK(agent(&a, S("0123456789012345678901234567890123456789x")) == -1);
    CHECK(a.text_len == NGX_HTTP_GUARD_AGENT_TEXT && a.cut
          && memcmp(a.text, "01234567890123456789012345678901", 32) == 0);
    CHECK(agent(&b, S("0123456789012345678901234567890123456789y")) == -1);
    CHECK(b.hash != a.hash);

    CHECK(agent(&a, S("")) == 0 && a.text_len == 0 && a.hash != 0);
}
