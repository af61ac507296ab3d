
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * Classes of check failure reasons: the reasons the checks give (check.c,
 * match.c, proto.c, parse.c) fall into a small fixed set, so that a
 * report can count failures by class with a bounded number of series.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_guard.h"


/* the order of the counters in a server's slot; "other" last */

const char  *ngx_http_guard_reason_names[NGX_HTTP_GUARD_REASONS] = {
    "refused", "connect", "timeout", "tls", "status", "header", "body",
    "regex", "protocol", "reset", "other"
};


typedef struct {
    const char  *prefix;
    ngx_uint_t   class;
} ngx_http_guard_reason_prefix_t;


/* the first prefix that matches wins */

static ngx_http_guard_reason_prefix_t  ngx_http_guard_reason_prefixes[] = {
    { "connect refused", 0 },
    { "connect failed", 1 },
    { "timeout", 2 },
    { "tls ", 3 },
    { "certificate ", 3 },
    { "status ", 4 },
    { "mysql error packet", 4 },
    { "bad fastcgi status", 4 },
    { "header ", 5 },
    { "body ", 6 },
    { "regex ", 7 },
    { "bad ", 8 },
    { "headers too large", 8 },
    { "too many headers", 8 },
    { "chunk size overflow", 8 },
    { "truncated response", 8 },
    { "no response", 8 },
    { "response too large", 8 },
    { "fastcgi headers too large", 8 },
    { "no fastcgi output", 8 },
    { "connection reset", 9 },
    { "send failed", 9 },
    { "event error", 9 },
    { NULL, 0 }
};


ngx_uint_t
ngx_http_guard_reason_class(u_char *reason)
{
    size_t                           len;
    ngx_http_guard_reason_prefix_t  *rp;

    if (reason == NULL) {
        return NGX_HTTP_GUARD_REASONS - 1;
    }

    for (rp = ngx_http_guard_reason_prefixes; rp->prefix; rp++) {
        len = ngx_strlen(rp->prefix);

        if (ngx_strncmp(reason, rp->prefix, len) == 0) {
            return rp->class;
        }
    }

    return NGX_HTTP_GUARD_REASONS - 1;
}
