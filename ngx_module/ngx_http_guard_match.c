
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * guard_match blocks: named rules over a check response (status codes and
 * ranges, headers, body) compiled once at config time with nginx's regex
 * wrapper (PCRE2 or PCRE, whichever nginx was built with).  Every match
 * runs under match, depth and heap limits: a pattern that backtracks
 * without end fails the check ("regex limit") instead of holding the
 * checking worker, and its client connections, for a quarter second.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_guard.h"


#define NGX_HTTP_GUARD_HDR_PRESENT   0
#define NGX_HTTP_GUARD_HDR_ABSENT    1
#define NGX_HTTP_GUARD_HDR_MATCH     2
#define NGX_HTTP_GUARD_HDR_NOMATCH   3

/*
 * Backtracking bounds of one match.  A sane pattern over a body of
 * body_limit bytes stays far below them; "(a+)+$" against 40 "a" and a
 * "b" hits the match limit after about a millisecond.  JIT code (nginx's
 * "pcre_jit on") honours the match limit; the depth and heap limits
 * bound the interpreter's backtracking memory.
 */
#define NGX_HTTP_GUARD_RE_MATCH_LIMIT  100000
#define NGX_HTTP_GUARD_RE_DEPTH_LIMIT  10000
#define NGX_HTTP_GUARD_RE_HEAP_LIMIT   4096       /* KiB */


#if (NGX_PCRE)
typedef ngx_regex_t  ngx_http_guard_regex_t;
#else
typedef void         ngx_http_guard_regex_t;
#endif


typedef struct {
    ngx_uint_t                 lo;
    ngx_uint_t                 hi;
    ngx_uint_t                 negate;
} ngx_http_guard_status_range_t;


typedef struct {
    ngx_str_t                  name;
    ngx_uint_t                 op;
    ngx_http_guard_regex_t    *re;
} ngx_http_guard_header_rule_t;


struct ngx_http_guard_match_s {
    ngx_str_t                  name;
    ngx_array_t               *status;      /* ngx_http_guard_status_range_t */
    ngx_array_t               *headers;     /* ngx_http_guard_header_rule_t */
    ngx_uint_t                 body;        /* 0, MATCH or NOMATCH */
    ngx_http_guard_regex_t    *body_re;
#if (NGX_PCRE2)
    /* nginx's ngx_regex_exec() takes no match context: ours has limits */
    pcre2_match_context       *mctx;
    pcre2_match_data          *mdata;       /* per process scratch */
#endif
};


static char *ngx_http_guard_match_rule(ngx_conf_t *cf, ngx_command_t *dummy,
    void *conf);
static char *ngx_http_guard_match_status(ngx_conf_t *cf,
    ngx_http_guard_match_t *m);
static char *ngx_http_guard_match_header(ngx_conf_t *cf,
    ngx_http_guard_match_t *m);
static char *ngx_http_guard_match_body(ngx_conf_t *cf,
    ngx_http_guard_match_t *m);
static ngx_int_t ngx_http_guard_match_op(ngx_str_t *op, ngx_uint_t *negate,
    ngx_uint_t *caseless);
static char *ngx_http_guard_match_regex(ngx_conf_t *cf,
    ngx_http_guard_match_t *m, ngx_str_t *pattern, ngx_uint_t caseless,
    ngx_http_guard_regex_t **re);
#if (NGX_PCRE)
static ngx_uint_t ngx_http_guard_match_nested(ngx_str_t *pattern);
static ngx_int_t ngx_http_guard_match_limits(ngx_conf_t *cf,
    ngx_http_guard_match_t *m);
#if (NGX_PCRE2)
static void ngx_http_guard_match_cleanup(void *data);
#endif
static ngx_int_t ngx_http_guard_match_exec(ngx_http_guard_match_t *m,
    ngx_http_guard_regex_t *re, u_char *p, size_t len);
#endif
static void ngx_http_guard_match_header_reason(u_char *reason, size_t len,
    ngx_str_t *name, const char *what);


char *
ngx_http_guard_match_block(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_guard_main_conf_t *gmcf = conf;

    char                     *rv;
    ngx_str_t                *value;
    ngx_conf_t                save;
    ngx_http_guard_match_t   *m, **mp;

    value = cf->args->elts;

    if (ngx_http_guard_match_find(gmcf, &value[1]) != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate guard_match \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    m = ngx_pcalloc(cf->pool, sizeof(ngx_http_guard_match_t));
    if (m == NULL) {
        return NGX_CONF_ERROR;
    }

    m->name = value[1];

    mp = ngx_array_push(&gmcf->matches);
    if (mp == NULL) {
        return NGX_CONF_ERROR;
    }

    *mp = m;

    save = *cf;
    cf->handler = ngx_http_guard_match_rule;
    cf->handler_conf = (char *) m;

    rv = ngx_conf_parse(cf, NULL);

    *cf = save;

    return rv;
}


static char *
ngx_http_guard_match_rule(ngx_conf_t *cf, ngx_command_t *dummy, void *conf)
{
    ngx_http_guard_match_t  *m;
    ngx_str_t               *value;

    m = (ngx_http_guard_match_t *) cf->handler_conf;
    value = cf->args->elts;

    if (value[0].len == 6 && ngx_strncmp(value[0].data, "status", 6) == 0) {
        return ngx_http_guard_match_status(cf, m);
    }

    if (value[0].len == 6 && ngx_strncmp(value[0].data, "header", 6) == 0) {
        return ngx_http_guard_match_header(cf, m);
    }

    if (value[0].len == 4 && ngx_strncmp(value[0].data, "body", 4) == 0) {
        return ngx_http_guard_match_body(cf, m);
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "unknown guard_match rule \"%V\", expected status, "
                       "header or body", &value[0]);

    return NGX_CONF_ERROR;
}


static char *
ngx_http_guard_match_status(ngx_conf_t *cf, ngx_http_guard_match_t *m)
{
    u_char                         *dash;
    ngx_str_t                      *value, s;
    ngx_int_t                       lo, hi;
    ngx_uint_t                      i;
    ngx_http_guard_status_range_t  *r;

    if (m->status) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate \"status\" rule in guard_match");
        return NGX_CONF_ERROR;
    }

    if (cf->args->nelts < 2) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "guard_match rule \"status\" needs at least one "
                           "code or range");
        return NGX_CONF_ERROR;
    }

    m->status = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                 sizeof(ngx_http_guard_status_range_t));
    if (m->status == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        r = ngx_array_push(m->status);
        if (r == NULL) {
            return NGX_CONF_ERROR;
        }

        s = value[i];
        r->negate = 0;

        if (s.len && s.data[0] == '!') {
            r->negate = 1;
            s.data++;
            s.len--;
        }

        dash = ngx_strlchr(s.data, s.data + s.len, '-');

        if (dash) {
            lo = ngx_atoi(s.data, dash - s.data);
            hi = ngx_atoi(dash + 1, s.data + s.len - dash - 1);

        } else {
            lo = ngx_atoi(s.data, s.len);
            hi = lo;
        }

        if (lo < 100 || hi > 999 || hi < lo) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid status \"%V\" in guard_match, "
                               "expected a code or range from 100 to 999",
                               &value[i]);
            return NGX_CONF_ERROR;
        }

        r->lo = lo;
        r->hi = hi;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_guard_match_op(ngx_str_t *op, ngx_uint_t *negate,
    ngx_uint_t *caseless)
{
    u_char  *p, *last;

    p = op->data;
    last = p + op->len;

    *negate = 0;
    *caseless = 0;

    if (p < last && *p == '!') {
        *negate = 1;
        p++;
    }

    if (p == last || *p++ != '~') {
        return NGX_ERROR;
    }

    if (p < last && *p == '*') {
        *caseless = 1;
        p++;
    }

    return (p == last) ? NGX_OK : NGX_ERROR;
}


static char *
ngx_http_guard_match_header(ngx_conf_t *cf, ngx_http_guard_match_t *m)
{
    ngx_str_t                     *value, name;
    ngx_uint_t                     i, negate, caseless;
    ngx_http_guard_header_rule_t  *h;

    value = cf->args->elts;

    if (cf->args->nelts != 2 && cf->args->nelts != 4) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid guard_match rule, expected "
                           "\"header Name\", \"header !Name\" or "
                           "\"header Name ~ regex\"");
        return NGX_CONF_ERROR;
    }

    if (m->headers == NULL) {
        m->headers = ngx_array_create(cf->pool, 2,
                                      sizeof(ngx_http_guard_header_rule_t));
        if (m->headers == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    h = ngx_array_push(m->headers);
    if (h == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(h, sizeof(ngx_http_guard_header_rule_t));

    name = value[1];
    h->op = NGX_HTTP_GUARD_HDR_PRESENT;

    if (cf->args->nelts == 2 && name.len && name.data[0] == '!') {
        h->op = NGX_HTTP_GUARD_HDR_ABSENT;
        name.data++;
        name.len--;
    }

    for (i = 0; i < name.len; i++) {
        if (name.data[i] <= ' ' || name.data[i] == ':'
            || name.data[i] >= 0x7f)
        {
            break;
        }
    }

    if (name.len == 0 || i < name.len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid header name \"%V\" in guard_match",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    h->name = name;

    if (cf->args->nelts == 2) {
        return NGX_CONF_OK;
    }

    if (ngx_http_guard_match_op(&value[2], &negate, &caseless) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid operator \"%V\" in guard_match, expected "
                           "~, ~*, !~ or !~*", &value[2]);
        return NGX_CONF_ERROR;
    }

    h->op = negate ? NGX_HTTP_GUARD_HDR_NOMATCH : NGX_HTTP_GUARD_HDR_MATCH;

    return ngx_http_guard_match_regex(cf, m, &value[3], caseless, &h->re);
}


static char *
ngx_http_guard_match_body(ngx_conf_t *cf, ngx_http_guard_match_t *m)
{
    ngx_str_t   *value;
    ngx_uint_t   negate, caseless;

    value = cf->args->elts;

    if (m->body) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate \"body\" rule in guard_match");
        return NGX_CONF_ERROR;
    }

    if (cf->args->nelts != 3
        || ngx_http_guard_match_op(&value[1], &negate, &caseless) != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid guard_match rule, expected "
                           "\"body ~ regex\" (or ~*, !~, !~*)");
        return NGX_CONF_ERROR;
    }

    m->body = negate ? NGX_HTTP_GUARD_HDR_NOMATCH : NGX_HTTP_GUARD_HDR_MATCH;

    return ngx_http_guard_match_regex(cf, m, &value[2], caseless,
                                      &m->body_re);
}


/* compiles a rule's regex into *re, or says why it cannot */

static char *
ngx_http_guard_match_regex(ngx_conf_t *cf, ngx_http_guard_match_t *m,
    ngx_str_t *pattern, ngx_uint_t caseless, ngx_http_guard_regex_t **re)
{
#if (NGX_PCRE)
    u_char               errstr[NGX_MAX_CONF_ERRSTR];
    ngx_regex_compile_t  rc;

    ngx_memzero(&rc, sizeof(ngx_regex_compile_t));

    rc.pattern = *pattern;
    rc.pool = cf->pool;
    rc.err.len = NGX_MAX_CONF_ERRSTR;
    rc.err.data = errstr;
    rc.options = caseless ? NGX_REGEX_CASELESS : 0;

    if (ngx_regex_compile(&rc) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid regex in guard_match: %V", &rc.err);
        return NGX_CONF_ERROR;
    }

    *re = rc.regex;

    if (ngx_http_guard_match_nested(pattern)) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "guard_match regex \"%V\" nests unbounded "
                           "repeats and may backtrack exponentially; a match "
                           "that hits the limit fails the check with "
                           "\"regex limit\"", pattern);
    }

    if (ngx_http_guard_match_limits(cf, m) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
#else
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "guard_match regex needs nginx built with PCRE");
    return NGX_CONF_ERROR;
#endif
}


#if (NGX_PCRE)

/*
 * A heuristic for the classic catastrophic patterns, "(a+)+", "(a*b?)*",
 * "(?:x|\\w+){2,}": a group that contains an unbounded repeat and is
 * itself repeated without bound.  Escapes and character classes are
 * skipped; bounded repeats ("?", "{n,m}") do not count.
 */

static ngx_uint_t
ngx_http_guard_match_nested(ngx_str_t *pattern)
{
    u_char      *p, *last;
    ngx_uint_t   depth, inner[32], had, unbounded;

    p = pattern->data;
    last = p + pattern->len;
    depth = 0;
    inner[0] = 0;
    had = 0;

    while (p < last) {

        unbounded = 0;

        switch (*p) {

        case '\\':
            p += 2;
            had = 0;
            continue;

        case '[':
            /* a class: "]" right after "[" or "[^" is a member */
            p++;

            if (p < last && *p == '^') {
                p++;
            }

            if (p < last && *p == ']') {
                p++;
            }

            while (p < last && *p != ']') {
                p += (*p == '\\') ? 2 : 1;
            }

            p++;
            had = 0;
            continue;

        case '(':
            if (depth + 1 == sizeof(inner) / sizeof(inner[0])) {
                return 0;
            }

            inner[++depth] = 0;
            p++;
            had = 0;
            continue;

        case ')':
            had = depth ? inner[depth] : 0;

            if (depth) {
                depth--;
                inner[depth] |= had;
            }

            p++;
            continue;

        case '*':
        case '+':
            unbounded = 1;
            break;

        case '{':
            /* "{n,}" */
            p++;

            while (p < last && *p >= '0' && *p <= '9') {
                p++;
            }

            if (last - p >= 2 && p[0] == ',' && p[1] == '}') {
                unbounded = 1;
                p++;
            }

            break;
        }

        if (unbounded) {
            if (had) {
                /* a repeated group with an unbounded repeat inside */
                return 1;
            }

            inner[depth] = 1;
        }

        had = 0;
        p++;
    }

    return 0;
}


/* once per guard_match block with a regex: the limits of its matches */

static ngx_int_t
ngx_http_guard_match_limits(ngx_conf_t *cf, ngx_http_guard_match_t *m)
{
#if (NGX_PCRE2)
    ngx_pool_cleanup_t  *cln;

    if (m->mctx) {
        return NGX_OK;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    /* malloc()ed by PCRE2 itself, freed with the configuration */

    m->mctx = pcre2_match_context_create(NULL);
    m->mdata = pcre2_match_data_create(1, NULL);

    cln->handler = ngx_http_guard_match_cleanup;
    cln->data = m;

    if (m->mctx == NULL || m->mdata == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "guard_match: cannot create a PCRE2 match "
                           "context");
        return NGX_ERROR;
    }

    (void) pcre2_set_match_limit(m->mctx, NGX_HTTP_GUARD_RE_MATCH_LIMIT);

#ifdef PCRE2_ERROR_HEAPLIMIT
    /* PCRE2 10.30+ */
    (void) pcre2_set_depth_limit(m->mctx, NGX_HTTP_GUARD_RE_DEPTH_LIMIT);
    (void) pcre2_set_heap_limit(m->mctx, NGX_HTTP_GUARD_RE_HEAP_LIMIT);
#else
    (void) pcre2_set_recursion_limit(m->mctx, NGX_HTTP_GUARD_RE_DEPTH_LIMIT);
#endif

#endif

    return NGX_OK;
}


#if (NGX_PCRE2)

static void
ngx_http_guard_match_cleanup(void *data)
{
    ngx_http_guard_match_t  *m = data;

    if (m->mdata) {
        pcre2_match_data_free(m->mdata);
        m->mdata = NULL;
    }

    if (m->mctx) {
        pcre2_match_context_free(m->mctx);
        m->mctx = NULL;
    }
}

#endif


/*
 * NGX_OK: matched; NGX_DECLINED: no match; NGX_ABORT: a limit stopped
 * the match; NGX_ERROR: any other error.  An error is never "no match":
 * "body !~" must not pass on it.
 */

static ngx_int_t
ngx_http_guard_match_exec(ngx_http_guard_match_t *m,
    ngx_http_guard_regex_t *re, u_char *p, size_t len)
{
    int  rc;

#if (NGX_PCRE2)

    rc = pcre2_match(re, p, len, 0, 0, m->mdata, m->mctx);

    if (rc >= 0) {
        return NGX_OK;
    }

    switch (rc) {

    case PCRE2_ERROR_NOMATCH:
        return NGX_DECLINED;

    case PCRE2_ERROR_MATCHLIMIT:
    case PCRE2_ERROR_DEPTHLIMIT:
#ifdef PCRE2_ERROR_HEAPLIMIT
    case PCRE2_ERROR_HEAPLIMIT:
#endif
    case PCRE2_ERROR_JIT_STACKLIMIT:
        return NGX_ABORT;

    default:
        return NGX_ERROR;
    }

#else

    pcre_extra  extra;

    /* a copy of nginx's study data (JIT code too) with our limits */

    if (re->extra) {
        extra = *re->extra;

    } else {
        ngx_memzero(&extra, sizeof(pcre_extra));
    }

    extra.flags |= PCRE_EXTRA_MATCH_LIMIT|PCRE_EXTRA_MATCH_LIMIT_RECURSION;
    extra.match_limit = NGX_HTTP_GUARD_RE_MATCH_LIMIT;
    extra.match_limit_recursion = NGX_HTTP_GUARD_RE_DEPTH_LIMIT;

    rc = pcre_exec(re->code, &extra, (const char *) p, len, 0, 0, NULL, 0);

    if (rc >= 0) {
        return NGX_OK;
    }

    switch (rc) {

    case PCRE_ERROR_NOMATCH:
        return NGX_DECLINED;

    case PCRE_ERROR_MATCHLIMIT:
    case PCRE_ERROR_RECURSIONLIMIT:
#ifdef PCRE_ERROR_JIT_STACKLIMIT
    case PCRE_ERROR_JIT_STACKLIMIT:
#endif
        return NGX_ABORT;

    default:
        return NGX_ERROR;
    }

#endif
}

#endif


ngx_http_guard_match_t *
ngx_http_guard_match_find(ngx_http_guard_main_conf_t *gmcf, ngx_str_t *name)
{
    ngx_uint_t               i;
    ngx_http_guard_match_t **mp;

    mp = gmcf->matches.elts;

    for (i = 0; i < gmcf->matches.nelts; i++) {
        if (mp[i]->name.len == name->len
            && ngx_strncmp(mp[i]->name.data, name->data, name->len) == 0)
        {
            return mp[i];
        }
    }

    return NULL;
}


/*
 * Returns NGX_OK when the response passes every rule; otherwise
 * NGX_DECLINED with a short reason written to "reason".
 */

ngx_int_t
ngx_http_guard_match_run(ngx_http_guard_match_t *m,
    ngx_http_guard_resp_t *resp, u_char *buf, u_char *reason, size_t len)
{
    int                             idx;
#if (NGX_PCRE)
    ngx_int_t                       rc;
#endif
    ngx_uint_t                      i, in, out, found, matched;
    ngx_http_guard_status_range_t  *r;
    ngx_http_guard_header_rule_t   *h;

    /* status: in one positive range (default 200-399), in no "!" one */

    if (m == NULL || m->status == NULL) {
        in = (resp->status >= 200 && resp->status <= 399);
        out = 0;

    } else {
        r = m->status->elts;
        in = 1;
        out = 0;

        for (i = 0; i < m->status->nelts; i++) {
            if (!r[i].negate) {
                in = 0;
                break;
            }
        }

        for (i = 0; i < m->status->nelts; i++) {
            if (resp->status < r[i].lo || resp->status > r[i].hi) {
                continue;
            }

            if (r[i].negate) {
                out = 1;

            } else {
                in = 1;
            }
        }
    }

    if (!in || out) {
        ngx_http_guard_snprintz(reason, len, "status %ui",
                                (ngx_uint_t) resp->status);
        return NGX_DECLINED;
    }

    if (m == NULL) {
        return NGX_OK;
    }

    if (m->headers) {
        h = m->headers->elts;

        for (i = 0; i < m->headers->nelts; i++) {

            found = 0;
            matched = 0;
            idx = -1;

            for ( ;; ) {
                idx = ngx_http_guard_resp_header(resp, buf,
                                                 (const char *) h[i].name.data,
                                                 h[i].name.len, idx + 1);
                if (idx < 0) {
                    break;
                }

                found = 1;

#if (NGX_PCRE)
                if (h[i].re) {
                    rc = ngx_http_guard_match_exec(m, h[i].re,
                                          buf + resp->headers[idx].value_off,
                                          resp->headers[idx].value_len);

                    if (rc == NGX_OK) {
                        matched = 1;
                        break;
                    }

                    if (rc != NGX_DECLINED) {
                        goto failed;
                    }
                }
#endif
            }

            switch (h[i].op) {

            case NGX_HTTP_GUARD_HDR_PRESENT:
                if (!found) {
                    ngx_http_guard_match_header_reason(reason, len,
                                                       &h[i].name, "missing");
                    return NGX_DECLINED;
                }
                break;

            case NGX_HTTP_GUARD_HDR_ABSENT:
                if (found) {
                    ngx_http_guard_match_header_reason(reason, len,
                                                       &h[i].name, "present");
                    return NGX_DECLINED;
                }
                break;

            case NGX_HTTP_GUARD_HDR_MATCH:
                if (!matched) {
                    ngx_http_guard_match_header_reason(reason, len,
                                                       &h[i].name, "mismatch");
                    return NGX_DECLINED;
                }
                break;

            default: /* NGX_HTTP_GUARD_HDR_NOMATCH */
                if (matched) {
                    ngx_http_guard_match_header_reason(reason, len,
                                                       &h[i].name, "matched");
                    return NGX_DECLINED;
                }
                break;
            }
        }
    }

#if (NGX_PCRE)
    if (m->body) {
        rc = ngx_http_guard_match_exec(m, m->body_re, buf + resp->body_off,
                                       resp->body_len);

        if (rc != NGX_OK && rc != NGX_DECLINED) {
            goto failed;
        }

        matched = (rc == NGX_OK);

        if (matched != (m->body == NGX_HTTP_GUARD_HDR_MATCH)) {
            ngx_cpystrn(reason, (u_char *) (matched ? "body matched"
                                                    : "body mismatch"),
                        len);
            return NGX_DECLINED;
        }
    }
#endif

    return NGX_OK;

#if (NGX_PCRE)
failed:

    ngx_cpystrn(reason, (u_char *) (rc == NGX_ABORT ? "regex limit"
                                                    : "regex error"),
                len);
    return NGX_DECLINED;
#endif
}


/*
 * "header <name> <what>" in len bytes: a name too long for them is cut,
 * with "...", so that the reason still says what is wrong with it
 */

static void
ngx_http_guard_match_header_reason(u_char *reason, size_t len,
    ngx_str_t *name, const char *what)
{
    size_t  fixed, room;

    fixed = sizeof("header  ") - 1 + ngx_strlen(what);
    room = (len > fixed + 1) ? len - 1 - fixed : 0;

    if (name->len <= room) {
        ngx_http_guard_snprintz(reason, len, "header %V %s", name, what);
        return;
    }

    room = (room > 3) ? room - 3 : 0;

    ngx_http_guard_snprintz(reason, len, "header %*s... %s", room,
                            name->data, what);
}
