
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * Parser of agent values, see ngx_http_guard_agent.h.
 */


#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ngx_http_guard_agent.h"


static void ngx_http_guard_agent_text(ngx_http_guard_agent_t *a,
    const unsigned char *p, size_t len);
static int ngx_http_guard_agent_word(const unsigned char *p, size_t len,
    const char *word);


int
ngx_http_guard_parse_agent(ngx_http_guard_agent_t *a,
    const unsigned char *p, size_t len)
{
    size_t                n, i;
    uint32_t              v;
    unsigned              word, zero;
    const unsigned char  *end, *tok;

    memset(a, 0, sizeof(ngx_http_guard_agent_t));
    a->present = 1;

    ngx_http_guard_agent_text(a, p, len);

    if (len == 0) {
        a->valid = 1;
        return 0;
    }

    /* a "drain" word and a last value of 0% both ask for a drain */
    word = 0;
    zero = 0;

    end = p + len;

    while (p < end) {

        if (*p == ' ' || *p == '\t' || *p == ',') {
            p++;
            continue;
        }

        tok = p;

        while (p < end && *p != ' ' && *p != '\t' && *p != ',') {
            p++;
        }

        n = (size_t) (p - tok);

        if (tok[0] >= '0' && tok[0] <= '9') {
            v = 0;

            for (i = 0; i < n && tok[i] >= '0' && tok[i] <= '9'; i++) {
                v = v * 10 + (tok[i] - '0');

                if (v > NGX_HTTP_GUARD_AGENT_MAX) {
                    return -1;
                }
            }

            if (i == n - 1 && tok[i] == '%') {
                a->percent = 1;
                zero = (v == 0);

            } else if (i == n && v > 0) {
                a->percent = 0;
                zero = 0;

            } else {
                return -1;
            }

            a->value = v;
            a->has_value = 1;
            continue;
        }

        if (ngx_http_guard_agent_word(tok, n, "drain")) {
            word = 1;

        } else if (ngx_http_guard_agent_word(tok, n, "ready")
                   || ngx_http_guard_agent_word(tok, n, "up"))
        {
            word = 0;
            zero = 0;

        } else {
            return -1;
        }
    }

    a->drain = word || zero;
    a->valid = 1;

    return 0;
}


/* the value's fingerprint (FNV-1a) and its start, printable */

static void
ngx_http_guard_agent_text(ngx_http_guard_agent_t *a, const unsigned char *p,
    size_t len)
{
    size_t    i;
    uint32_t  h;

    h = 2166136261u;

    for (i = 0; i < len; i++) {
        h = (h ^ p[i]) * 16777619u;

        if (i < NGX_HTTP_GUARD_AGENT_TEXT) {
            a->text[i] = (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"'
                          && p[i] != '\\')
                         ? p[i] : '?';
        }
    }

    a->hash = h ? h : 1;
    a->text_len = (len < NGX_HTTP_GUARD_AGENT_TEXT)
                  ? (uint32_t) len : NGX_HTTP_GUARD_AGENT_TEXT;
    a->cut = (len > NGX_HTTP_GUARD_AGENT_TEXT);
}


static int
ngx_http_guard_agent_word(const unsigned char *p, size_t len,
    const char *word)
{
    size_t         i;
    unsigned char  c;

    if (len != strlen(word)) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = p[i];

        if (c >= 'A' && c <= 'Z') {
            c |= 0x20;
        }

        if (c != (unsigned char) word[i]) {
            return 0;
        }
    }

    return 1;
}
