
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * Classes of check failure reasons: every reason a check gives (check.c,
 * match.c, proto.c, parse.c) falls into one of a small fixed set, so that
 * a report can count failures by class with a bounded number of series.
 * Pure C over bytes (nothing from nginx), so a unit test can link it
 * alone.
 */


#ifndef _NGX_HTTP_GUARD_REASON_H_INCLUDED_
#define _NGX_HTTP_GUARD_REASON_H_INCLUDED_


/* the classes, in the order of the counters in a server's slot */
#define NGX_HTTP_GUARD_REASON_REFUSED   0
#define NGX_HTTP_GUARD_REASON_CONNECT   1
#define NGX_HTTP_GUARD_REASON_TIMEOUT   2
#define NGX_HTTP_GUARD_REASON_TLS       3
#define NGX_HTTP_GUARD_REASON_STATUS    4
#define NGX_HTTP_GUARD_REASON_HEADER    5
#define NGX_HTTP_GUARD_REASON_BODY      6
#define NGX_HTTP_GUARD_REASON_REGEX     7
#define NGX_HTTP_GUARD_REASON_PROTOCOL  8
#define NGX_HTTP_GUARD_REASON_RESET     9
#define NGX_HTTP_GUARD_REASON_OTHER     10

#define NGX_HTTP_GUARD_REASONS          11


extern const char  *ngx_http_guard_reason_names[NGX_HTTP_GUARD_REASONS];

/* the class of a reason (a NUL-terminated string; NULL is "other") */
unsigned ngx_http_guard_reason_class(const unsigned char *reason);


#endif /* _NGX_HTTP_GUARD_REASON_H_INCLUDED_ */
