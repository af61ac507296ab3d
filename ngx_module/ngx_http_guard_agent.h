
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * The agent value a backend may put in a header of its health response
 * (guard_agent): its own capacity, as a weight or a percentage of the
 * configured weight, or a request to be drained.  A pure parser over
 * bytes: it includes nothing from nginx, so the fuzzer links it alone.
 *
 * Grammar, tokens separated by spaces, tabs or commas, case-insensitive:
 *     N%       a percentage of the configured weight, 0 to 1000
 *              (0% asks for a drain)
 *     N        a weight, 1 to 1000
 *     drain    asks for a drain
 *     ready | up
 *              withdraws a drain request (the same as sending no "drain")
 * The last weight or percentage wins; any other token makes the value
 * invalid.  Every value also leaves a fingerprint and its printable start
 * (for logging an invalid one once, not on every check).
 */


#ifndef _NGX_HTTP_GUARD_AGENT_H_INCLUDED_
#define _NGX_HTTP_GUARD_AGENT_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define NGX_HTTP_GUARD_AGENT_MAX   1000
#define NGX_HTTP_GUARD_AGENT_TEXT  32


typedef struct {
    uint32_t                      value;      /* weight or percent */
    uint32_t                      hash;       /* of the whole value, not 0 */
    /* its start: bytes outside 0x20-0x7e, '"' and '\\' read as '?' */
    unsigned char                 text[NGX_HTTP_GUARD_AGENT_TEXT];
    uint32_t                      text_len;
    unsigned                      cut:1;      /* text is only the start */
    unsigned                      present:1;  /* the header was there */
    unsigned                      valid:1;
    unsigned                      percent:1;
    unsigned                      has_value:1;
    unsigned                      drain:1;
} ngx_http_guard_agent_t;


/* returns 0 and fills *a, or -1 (a->valid = 0) for an invalid value */
int ngx_http_guard_parse_agent(ngx_http_guard_agent_t *a,
    const unsigned char *p, size_t len);


#endif /* _NGX_HTTP_GUARD_AGENT_H_INCLUDED_ */
