
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * The checking worker's io_uring (guard_check_io io_uring): one ring per
 * leadership, sockets as fixed files in slots of a sparse table, one
 * submission per event loop iteration for every check started in it, and
 * completions woken through an eventfd in nginx's own event loop.  The
 * ring knows nothing of checks: each operation carries a pointer (aligned
 * to 8 bytes) and a tag, handed back with the result to the one completion
 * handler given at init.
 */


#ifndef _NGX_HTTP_GUARD_URING_H_INCLUDED_
#define _NGX_HTTP_GUARD_URING_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* operation tags, in the low three bits of a pointer */
#define NGX_HTTP_GUARD_URING_SOCKET   1
#define NGX_HTTP_GUARD_URING_CONNECT  2
#define NGX_HTTP_GUARD_URING_SEND     3
#define NGX_HTTP_GUARD_URING_RECV     4
#define NGX_HTTP_GUARD_URING_CLOSE    5
#define NGX_HTTP_GUARD_URING_CANCEL   6

/* chain the next operation to this one: it runs only if this one succeeds */
#define NGX_HTTP_GUARD_URING_LINK     1


typedef void (*ngx_http_guard_uring_handler_pt)(void *data, ngx_uint_t tag,
    int res);


char *ngx_http_guard_check_io(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_guard_uring_init(ngx_cycle_t *cycle, ngx_uint_t slots,
    ngx_http_guard_uring_handler_pt handler);
void ngx_http_guard_uring_done(void);
ngx_uint_t ngx_http_guard_uring_active(void);
ngx_int_t ngx_http_guard_uring_reserve(ngx_uint_t n);
ngx_int_t ngx_http_guard_uring_slot_get(void);
void ngx_http_guard_uring_slot_put(ngx_uint_t slot);
void ngx_http_guard_uring_socket(ngx_uint_t slot, struct sockaddr *sa,
    void *data, ngx_uint_t flags);
void ngx_http_guard_uring_connect(ngx_uint_t slot, struct sockaddr *sa,
    socklen_t len, void *data, ngx_uint_t flags);
void ngx_http_guard_uring_send(ngx_uint_t slot, u_char *p, size_t len,
    void *data, ngx_uint_t flags);
void ngx_http_guard_uring_recv(ngx_uint_t slot, u_char *p, size_t len,
    void *data);
ngx_int_t ngx_http_guard_uring_close(ngx_uint_t slot, void *data,
    ngx_uint_t cancel);
void ngx_http_guard_uring_reap(void);


#endif /* _NGX_HTTP_GUARD_URING_H_INCLUDED_ */
