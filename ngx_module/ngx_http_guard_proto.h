
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
 * Walks the FastCGI records in p[0 .. len) and the headers of the
 * response carried in FCGI_STDOUT (copied to scratch, of scratch_size
 * bytes).  On PASS, *status is the "Status:" header's code or 200.
 */
int ngx_http_guard_fcgi_status(const unsigned char *p, size_t len,
    unsigned char *scratch, size_t scratch_size, unsigned *status,
    const char **reason);


#endif /* _NGX_HTTP_GUARD_PROTO_H_INCLUDED_ */
