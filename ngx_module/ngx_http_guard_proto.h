
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * Replies of the non-HTTP check types of the nginx_upstream_check_module
 * vocabulary: a MySQL server greeting, an AJP CPONG, a FastCGI response's
 * status.  Pure functions over bytes (nothing from nginx), so a fuzzer can
 * link them alone.  Each returns NGX_HTTP_GUARD_PROTO_PASS, _AGAIN (read
 * more) or _FAIL with a static reason.
 */


#ifndef _NGX_HTTP_GUARD_PROTO_H_INCLUDED_
#define _NGX_HTTP_GUARD_PROTO_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define NGX_HTTP_GUARD_PROTO_PASS    0
#define NGX_HTTP_GUARD_PROTO_FAIL   -1
#define NGX_HTTP_GUARD_PROTO_AGAIN  -2


/* the AJP13 CPING packet a check sends */
extern const unsigned char  ngx_http_guard_ajp_cping[5];


int ngx_http_guard_mysql_greeting(const unsigned char *p, size_t len,
    const char **reason);

int ngx_http_guard_ajp_cpong(const unsigned char *p, size_t len,
    const char **reason);

/*
 * A FastCGI response read as it comes: the record headers (8 bytes, kept
 * here when split between reads), the contents of other records and all
 * padding skipped as they pass, and the start of the FCGI_STDOUT content,
 * the CGI headers, copied to out (of out_size bytes) until they end.  So a
 * record of any size (up to 65535 bytes) needs no buffer of its size.
 */
typedef struct {
    unsigned char         header[8];
    size_t                header_len;   /* of the record header, read */
    size_t                content;      /* of this record's, still to come */
    size_t                padding;
    unsigned char        *out;
    size_t                out_len;
    size_t                out_size;
    size_t                scanned;      /* out has no blank line before */
    int                   rc;           /* the answer, once there is one */
    unsigned              status;
    const char           *reason;
} ngx_http_guard_fcgi_t;


void ngx_http_guard_fcgi_init(ngx_http_guard_fcgi_t *f, unsigned char *out,
    size_t out_size);

/*
 * Reads the next len bytes of the response.  AGAIN: they are taken (the
 * caller may reuse its buffer), read more.  PASS: *status is the
 * "Status:" header's code, 302 with a "Location:" and no Status, or 200.
 * FAIL: *reason says why.  Once PASS or FAIL, the same answer again.
 */
int ngx_http_guard_fcgi_status(ngx_http_guard_fcgi_t *f,
    const unsigned char *p, size_t len, unsigned *status,
    const char **reason);


#endif /* _NGX_HTTP_GUARD_PROTO_H_INCLUDED_ */
