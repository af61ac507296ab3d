
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * Classes of check failure reasons, see ngx_http_guard_reason.h.
 * t/unit/reason_test.c holds every reason the module gives, and finds
 * those the sources give, so that none falls into "other" unseen.
 */


#include <stddef.h>
#include <string.h>

#include "ngx_http_guard_reason.h"


typedef struct {
    const char  *prefix;
    unsigned     class;
} ngx_http_guard_reason_prefix_t;


const char  *ngx_http_guard_reason_names[NGX_HTTP_GUARD_REASONS] = {
    "refused", "connect", "timeout", "tls", "status", "header", "body",
    "regex", "protocol", "reset", "other"
};


/*
 * The first prefix that matches wins.  "other" is for the module's own
 * trouble (out of memory, io_uring full, a parser's internal error), not
 * for anything a server does.
 */

static ngx_http_guard_reason_prefix_t  ngx_http_guard_reason_prefixes[] = {
    { "connect refused", NGX_HTTP_GUARD_REASON_REFUSED },
    { "connect failed", NGX_HTTP_GUARD_REASON_CONNECT },
    { "timeout", NGX_HTTP_GUARD_REASON_TIMEOUT },
    { "tls ", NGX_HTTP_GUARD_REASON_TLS },
    { "certificate ", NGX_HTTP_GUARD_REASON_TLS },
    { "status ", NGX_HTTP_GUARD_REASON_STATUS },
    { "mysql error packet", NGX_HTTP_GUARD_REASON_STATUS },
    { "bad fastcgi status", NGX_HTTP_GUARD_REASON_STATUS },
    { "header ", NGX_HTTP_GUARD_REASON_HEADER },
    { "body ", NGX_HTTP_GUARD_REASON_BODY },
    { "regex ", NGX_HTTP_GUARD_REASON_REGEX },
    { "bad ", NGX_HTTP_GUARD_REASON_PROTOCOL },
    { "headers too large", NGX_HTTP_GUARD_REASON_PROTOCOL },
    { "too many ", NGX_HTTP_GUARD_REASON_PROTOCOL },
    { "trailers too large", NGX_HTTP_GUARD_REASON_PROTOCOL },
    { "chunk size overflow", NGX_HTTP_GUARD_REASON_PROTOCOL },
    { "truncated response", NGX_HTTP_GUARD_REASON_PROTOCOL },
    { "no response", NGX_HTTP_GUARD_REASON_PROTOCOL },
    { "response too large", NGX_HTTP_GUARD_REASON_PROTOCOL },
    { "fastcgi headers too large", NGX_HTTP_GUARD_REASON_PROTOCOL },
    { "no fastcgi output", NGX_HTTP_GUARD_REASON_PROTOCOL },
    { "connection reset", NGX_HTTP_GUARD_REASON_RESET },
    { "send failed", NGX_HTTP_GUARD_REASON_RESET },
    { "event error", NGX_HTTP_GUARD_REASON_RESET },
    { NULL, 0 }
};


unsigned
ngx_http_guard_reason_class(const unsigned char *reason)
{
    ngx_http_guard_reason_prefix_t  *rp;

    if (reason == NULL) {
        return NGX_HTTP_GUARD_REASON_OTHER;
    }

    for (rp = ngx_http_guard_reason_prefixes; rp->prefix; rp++) {
        if (strncmp((const char *) reason, rp->prefix, strlen(rp->prefix))
            == 0)
        {
            return rp->class;
        }
    }

    return NGX_HTTP_GUARD_REASON_OTHER;
}
