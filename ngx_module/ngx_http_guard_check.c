
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * One active check of one server: connect, optional TLS through nginx's
 * OpenSSL layer, an HTTP request, and a bounded read of the response that
 * the pure parser (ngx_http_guard_parse.c) and the match rules judge.
 * Every failure ends the check with a short reason; the timeout counts
 * from the moment the check really started.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_event_connect.h>
#include <ngx_http.h>

#include "ngx_http_guard.h"
#include "ngx_http_guard_uring.h"


#define NGX_HTTP_GUARD_PHASE_IDLE     0
#define NGX_HTTP_GUARD_PHASE_CONNECT  1
#define NGX_HTTP_GUARD_PHASE_TLS      2
#define NGX_HTTP_GUARD_PHASE_SEND     3
#define NGX_HTTP_GUARD_PHASE_RECV     4
#define NGX_HTTP_GUARD_PHASE_PARKED   5

/* a timeout timer this late means the process itself did not run */
#define NGX_HTTP_GUARD_STALL          100

/*
 * Receive buffers (8 KB of headers and the body limit) go back to a list
 * of the checking worker when a check ends, and the next check takes one
 * from it: a malloc and a free of 24 KB per check cost more than the
 * module's own parsing, and the heap grew and shrank with them.  A check
 * holds one only while it reads: not while it waits for the first byte
 * (a burst of checks sent in one go would outgrow the list), nor on a
 * kept-alive connection.
 */
#define NGX_HTTP_GUARD_FREE_BUFS      64


struct ngx_http_guard_check_free_s {
    ngx_http_guard_check_free_t   *next;
    size_t                         size;
};


struct ngx_http_guard_check_s {
    ngx_http_guard_peer_t         *gp;
    ngx_http_guard_check_done_pt   done;        /* the owner's completion */
    ngx_event_t                    timer;       /* schedule, see leader.c */
    ngx_event_t                    timeout;
    ngx_log_t                      log;

    ngx_peer_connection_t          pc;
    ngx_pool_t                    *pool;        /* per connection */
    ngx_addr_t                     addr;
    ngx_str_t                      request;
    ngx_str_t                      tls_name;    /* SNI and host check */

    u_char                        *buf;         /* while a check runs */
    size_t                         buf_size;    /* >= size, see buf_get */
    ngx_http_guard_fcgi_t         *fcgi;        /* its reader's state */
    size_t                         size;
    size_t                         len;
    size_t                         sent;
    ngx_http_guard_resp_t          resp;
    ngx_http_guard_agent_t         agent;

    ngx_msec_t                     started;
    ngx_msec_t                     due;         /* the timeout is due */
    u_char                         failed[NGX_HTTP_GUARD_REASON_LEN];
                                                /* "" after a pass */
    ngx_uint_t                     phase;
    ngx_uint_t                     requests;    /* on this connection */
    unsigned                       busy:1;
    unsigned                       extended:1;  /* a stall was granted */
    unsigned                       reused:1;    /* a kept-alive connection */
    unsigned                       got:1;       /* a response byte came */

    /* guard_check_io io_uring: this run's socket is a slot of the ring */
    unsigned                       uring:1;     /* this run uses it */
    unsigned                       uring_recv:1; /* a receive in flight */
    ngx_uint_t                     uring_slot;  /* +1; 0: none */
    ngx_uint_t                     uring_ops;   /* results to come */
    u_char                        *uring_hold;  /* an ended run's buffer */
    size_t                         uring_hold_size;
};


static ngx_str_t *ngx_http_guard_check_host(ngx_http_guard_check_t *chk);
#if (NGX_HTTP_SSL)
static void ngx_http_guard_check_host_part(ngx_str_t *name);
#endif
static ngx_int_t ngx_http_guard_check_request(ngx_pool_t *pool,
    ngx_http_guard_check_t *chk);
static void ngx_http_guard_check_connect(ngx_http_guard_check_t *chk);
static void ngx_http_guard_check_write_handler(ngx_event_t *wev);
static void ngx_http_guard_check_read_handler(ngx_event_t *rev);
static void ngx_http_guard_check_idle_handler(ngx_event_t *ev);
static void ngx_http_guard_check_timeout_handler(ngx_event_t *ev);
static ngx_pool_t *ngx_http_guard_check_pool(ngx_http_guard_check_t *chk);
static ngx_int_t ngx_http_guard_check_test_connect(ngx_connection_t *c,
    u_char *reason);
static void ngx_http_guard_check_send(ngx_http_guard_check_t *chk);
static void ngx_http_guard_check_recv(ngx_http_guard_check_t *chk);
static ngx_int_t ngx_http_guard_check_expect(ngx_http_guard_check_t *chk);
static ngx_int_t ngx_http_guard_check_input(ngx_http_guard_check_t *chk,
    ssize_t n);
static ngx_int_t ngx_http_guard_check_raw(ngx_http_guard_check_t *chk,
    ngx_uint_t eof);
static ngx_int_t ngx_http_guard_check_uring_start(
    ngx_http_guard_check_t *chk);
static void ngx_http_guard_check_uring_recv(ngx_http_guard_check_t *chk);
static void ngx_http_guard_check_uring_close(ngx_http_guard_check_t *chk);
static void ngx_http_guard_check_response(ngx_http_guard_check_t *chk);
static void ngx_http_guard_check_finish(ngx_http_guard_check_t *chk,
    ngx_uint_t ok, u_char *reason, ngx_uint_t keep);
static void ngx_http_guard_check_close(ngx_http_guard_check_t *chk);
static u_char *ngx_http_guard_check_buf_get(ngx_http_guard_check_t *chk);
static void ngx_http_guard_check_buf_put(ngx_http_guard_check_t *chk);
static void ngx_http_guard_check_buf_release(ngx_http_guard_check_t *chk,
    u_char *buf, size_t size);
static void ngx_http_guard_check_fail(ngx_http_guard_check_t *chk,
    const char *fmt, ...);
static ngx_int_t ngx_http_guard_check_retry(ngx_http_guard_check_t *chk);
#if (NGX_HTTP_SSL)
static void ngx_http_guard_check_tls(ngx_http_guard_check_t *chk);
static void ngx_http_guard_check_tls_handler(ngx_connection_t *c);
#endif


static ngx_http_guard_check_type_t  ngx_http_guard_check_types[] = {
    /* name                    id                          vocabulary */
    /*                                                tls, http, probe */
    { ngx_string("tcp"), NGX_HTTP_GUARD_TCP,
      NGX_HTTP_GUARD_NATIVE|NGX_HTTP_GUARD_COMPAT, 0, 0, 0 },
    { ngx_string("http"), NGX_HTTP_GUARD_HTTP,
      NGX_HTTP_GUARD_NATIVE|NGX_HTTP_GUARD_COMPAT, 0, 1, 0 },
    { ngx_string("https"), NGX_HTTP_GUARD_HTTPS,
      NGX_HTTP_GUARD_NATIVE, 1, 1, 0 },
    { ngx_string("ssl_hello"), NGX_HTTP_GUARD_SSL_HELLO,
      NGX_HTTP_GUARD_NATIVE|NGX_HTTP_GUARD_COMPAT, 1, 0, 0 },
    { ngx_string("mysql"), NGX_HTTP_GUARD_MYSQL,
      NGX_HTTP_GUARD_COMPAT, 0, 0, 1 },
    { ngx_string("ajp"), NGX_HTTP_GUARD_AJP,
      NGX_HTTP_GUARD_COMPAT, 0, 0, 1 },
    { ngx_string("fastcgi"), NGX_HTTP_GUARD_FASTCGI,
      NGX_HTTP_GUARD_COMPAT, 0, 0, 1 },
    { ngx_null_string, 0, 0, 0, 0, 0 }
};


static const char  *ngx_http_guard_phases[] = {
    "idle", "connect", "tls handshake", "send", "response", "idle"
};


/* the check type of that name in that vocabulary, or NULL */

const ngx_http_guard_check_type_t *
ngx_http_guard_check_type(ngx_str_t *name, ngx_uint_t vocabulary)
{
    ngx_http_guard_check_type_t  *t;

    for (t = ngx_http_guard_check_types; t->name.len; t++) {
        if ((t->vocabulary & vocabulary)
            && t->name.len == name->len
            && ngx_strncmp(t->name.data, name->data, name->len) == 0)
        {
            return t;
        }
    }

    return NULL;
}


const char *
ngx_http_guard_check_type_name(const ngx_http_guard_check_type_t *type)
{
    return type ? (const char *) type->name.data : "none";
}


ngx_http_guard_check_t *
ngx_http_guard_check_create(ngx_pool_t *pool, ngx_http_guard_peer_t *gp,
    ngx_log_t *log, ngx_http_guard_check_done_pt done)
{
    u_char                     *p;
    ngx_http_guard_check_t     *chk;
    ngx_http_guard_srv_conf_t  *gscf;

    gscf = gp->up->conf;

    chk = ngx_pcalloc(pool, sizeof(ngx_http_guard_check_t));
    if (chk == NULL) {
        return NULL;
    }

    chk->gp = gp;
    chk->done = done;

    /*
     * Failed checks are reported by the transition log, once per change,
     * not per attempt: what nginx's connect and OpenSSL layers log about
     * a check connection ([crit] for a missing unix socket or a bogus
     * TLS record, [error] for a refused connect) stays below this log's
     * level, even with the error log at debug: a level is one number, so
     * debug output of check connections goes too.  Alerts (no free
     * connection, socket() failed) still pass.
     */
    chk->log = *log;
    chk->log.log_level = ngx_min(chk->log.log_level, NGX_LOG_ALERT);

    chk->addr.sockaddr = ngx_palloc(pool, gp->peer->socklen);
    if (chk->addr.sockaddr == NULL) {
        return NULL;
    }

    ngx_memcpy(chk->addr.sockaddr, gp->peer->sockaddr, gp->peer->socklen);
    chk->addr.socklen = gp->peer->socklen;

    if (gscf->port) {
        ngx_inet_set_port(chk->addr.sockaddr, gscf->port);
    }

    p = ngx_pnalloc(pool, NGX_SOCKADDR_STRLEN);
    if (p == NULL) {
        return NULL;
    }

    chk->addr.name.data = p;
    chk->addr.name.len = ngx_sock_ntop(chk->addr.sockaddr, chk->addr.socklen,
                                       p, NGX_SOCKADDR_STRLEN, 1);

#if (NGX_HTTP_SSL)
    chk->tls_name = gscf->ssl_name.len ? gscf->ssl_name
                                       : *ngx_http_guard_check_host(chk);
    ngx_http_guard_check_host_part(&chk->tls_name);
#endif

    if (gscf->compat && gscf->send.len) {
        /* the check vocabulary sends its bytes as they are */
        chk->request = gscf->send;
        chk->size = NGX_HTTP_GUARD_HEADER_LIMIT;

    } else if (gscf->type->http) {
        if (ngx_http_guard_check_request(pool, chk) != NGX_OK) {
            return NULL;
        }
    }

    if (gscf->type->http) {
        chk->size = NGX_HTTP_GUARD_HEADER_LIMIT + gscf->body_limit;

    } else if (gscf->type->probe) {
        chk->size = NGX_HTTP_GUARD_HEADER_LIMIT;
    }

    return chk;
}


/*
 * The default Host and TLS name: the server as written, or "localhost"
 * for a unix socket, as proxy_pass http://unix:... sends: "unix:/path"
 * is no host, and nginx answers it with 400.
 */

static ngx_str_t *
ngx_http_guard_check_host(ngx_http_guard_check_t *chk)
{
    ngx_http_guard_srv_conf_t  *gscf;

    static ngx_str_t            localhost = ngx_string("localhost");

    gscf = chk->gp->up->conf;

    if (gscf->host.len) {
        return &gscf->host;
    }

#if (NGX_HAVE_UNIX_DOMAIN)
    if (chk->addr.sockaddr->sa_family == AF_UNIX) {
        return &localhost;
    }
#endif

    return &chk->gp->peer->server;
}


#if (NGX_HTTP_SSL)

/* "name:port" and "[v6]:port" to the host part, for SNI and cert checks */

static void
ngx_http_guard_check_host_part(ngx_str_t *name)
{
    u_char  *p, *last;

    last = name->data + name->len;

    if (name->len && name->data[0] == '[') {
        p = ngx_strlchr(name->data, last, ']');
        if (p) {
            name->data++;
            name->len = p - name->data;
        }
        return;
    }

    p = ngx_strlchr(name->data, last, ':');

    if (p && ngx_strlchr(p + 1, last, ':') == NULL) {
        name->len = p - name->data;
    }
}

#endif


static ngx_int_t
ngx_http_guard_check_request(ngx_pool_t *pool, ngx_http_guard_check_t *chk)
{
    u_char                     *p;
    size_t                      len;
    ngx_str_t                  *host;
    ngx_uint_t                  i, has_host, has_ua;
    ngx_keyval_t               *kv;
    ngx_http_guard_srv_conf_t  *gscf;

    static const char           ua[] = "User-Agent: nginx-upstream-guard/"
                                       NGX_HTTP_GUARD_VERSION CRLF;

    gscf = chk->gp->up->conf;
    host = ngx_http_guard_check_host(chk);

    /* a Host or User-Agent of guard_check_header replaces the default */
    has_host = 0;
    has_ua = 0;
    kv = gscf->headers ? gscf->headers->elts : NULL;

    len = gscf->method.len + 1 + gscf->uri.len + sizeof(" HTTP/1.x" CRLF) - 1
          + sizeof("Host: " CRLF) - 1 + host->len
          + sizeof(ua) - 1
          + sizeof("Connection: close" CRLF) - 1
          + sizeof(CRLF) - 1;

    for (i = 0; kv && i < gscf->headers->nelts; i++) {
        len += kv[i].key.len + sizeof(": " CRLF) - 1 + kv[i].value.len;

        if (kv[i].key.len == 4
            && ngx_strncasecmp(kv[i].key.data, (u_char *) "Host", 4) == 0)
        {
            has_host = 1;
        }

        if (kv[i].key.len == 10
            && ngx_strncasecmp(kv[i].key.data, (u_char *) "User-Agent", 10)
               == 0)
        {
            has_ua = 1;
        }
    }

    p = ngx_pnalloc(pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    chk->request.data = p;

    p = ngx_sprintf(p, "%V %V HTTP/1.%ui" CRLF, &gscf->method, &gscf->uri,
                    gscf->http_minor);

    if (!has_host) {
        p = ngx_sprintf(p, "Host: %V" CRLF, host);
    }

    if (!has_ua) {
        p = ngx_cpymem(p, ua, sizeof(ua) - 1);
    }

    if (gscf->keepalive == 0) {
        p = ngx_cpymem(p, "Connection: close" CRLF,
                       sizeof("Connection: close" CRLF) - 1);
    }

    for (i = 0; kv && i < gscf->headers->nelts; i++) {
        p = ngx_sprintf(p, "%V: %V" CRLF, &kv[i].key, &kv[i].value);
    }

    *p++ = CR; *p++ = LF;

    chk->request.len = p - chk->request.data;

    return NGX_OK;
}


ngx_event_t *
ngx_http_guard_check_timer(ngx_http_guard_check_t *chk)
{
    return &chk->timer;
}


ngx_int_t
ngx_http_guard_check_start(ngx_http_guard_check_t *chk)
{
    ngx_http_guard_srv_conf_t  *gscf;

    if (chk->busy) {
        return NGX_BUSY;
    }

    gscf = chk->gp->up->conf;

    chk->busy = 1;
    chk->extended = 0;
    chk->reused = 0;
    chk->got = 0;
    chk->started = ngx_current_msec;
    ngx_memzero(&chk->agent, sizeof(ngx_http_guard_agent_t));

    chk->timeout.handler = ngx_http_guard_check_timeout_handler;
    chk->timeout.data = chk;
    chk->timeout.log = &chk->log;
    chk->timeout.cancelable = 1;

    chk->due = ngx_current_msec + gscf->timeout;
    ngx_add_timer(&chk->timeout, gscf->timeout);

    if (chk->phase == NGX_HTTP_GUARD_PHASE_PARKED && chk->pc.connection) {
        /* a kept-alive check connection */
        ngx_reusable_connection(chk->pc.connection, 0);
        chk->pc.connection->read->handler =
                                         ngx_http_guard_check_read_handler;
        chk->pc.connection->write->handler =
                                        ngx_http_guard_check_write_handler;
        chk->phase = NGX_HTTP_GUARD_PHASE_SEND;
        chk->sent = 0;
        chk->reused = 1;
        ngx_http_guard_check_send(chk);
        return NGX_OK;
    }

    if (ngx_http_guard_check_uring_start(chk) == NGX_OK) {
        return NGX_OK;
    }

    ngx_http_guard_check_connect(chk);

    return NGX_OK;
}


static void
ngx_http_guard_check_connect(ngx_http_guard_check_t *chk)
{
    ngx_int_t          rc;
    ngx_err_t          err;
    ngx_connection_t  *c;

    ngx_memzero(&chk->pc, sizeof(ngx_peer_connection_t));

    chk->pc.sockaddr = chk->addr.sockaddr;
    chk->pc.socklen = chk->addr.socklen;
    chk->pc.name = &chk->addr.name;
    chk->pc.get = ngx_event_get_peer;
    chk->pc.log = &chk->log;
    chk->pc.log_error = NGX_ERROR_INFO;
    chk->requests = 0;

    /* the pool is made when TLS or FastCGI needs it: most checks never do */

    chk->phase = NGX_HTTP_GUARD_PHASE_CONNECT;

    /* a failure that sets no errno must not show an earlier call's */
    ngx_set_socket_errno(0);

    rc = ngx_event_connect_peer(&chk->pc);

    if (rc == NGX_ERROR) {
        /* no socket or no free connection here: not the server's fault */
        err = ngx_socket_errno;

        if (err == 0 && ngx_cycle->free_connection_n == 0) {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "upstream guard: cannot check %V, result not "
                          "counted: all %ui worker_connections "
                          "are in use",
                          &chk->addr.name, ngx_cycle->connection_n);

        } else {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, err,
                          "upstream guard: cannot check %V, result not "
                          "counted", &chk->addr.name);
        }

        ngx_http_guard_check_finish(chk, NGX_HTTP_GUARD_CHECK_SKIP, NULL, 0);
        return;
    }

    if (rc == NGX_BUSY || rc == NGX_DECLINED) {
        if (ngx_socket_errno == NGX_ECONNREFUSED) {
            ngx_http_guard_check_fail(chk, "connect refused");

        } else {
            ngx_http_guard_check_fail(chk, "connect failed: %s",
                                      strerror(ngx_socket_errno));
        }
        return;
    }

    c = chk->pc.connection;
    c->data = chk;
    c->log = &chk->log;
    c->read->log = &chk->log;
    c->write->log = &chk->log;
    c->read->handler = ngx_http_guard_check_read_handler;
    c->write->handler = ngx_http_guard_check_write_handler;

    if (rc == NGX_OK) {
        ngx_http_guard_check_write_handler(c->write);
    }
}


static ngx_pool_t *
ngx_http_guard_check_pool(ngx_http_guard_check_t *chk)
{
    if (chk->pool == NULL) {
        chk->pool = ngx_create_pool(1024, &chk->log);

        if (chk->pool != NULL && chk->pc.connection != NULL) {
            chk->pc.connection->pool = chk->pool;
        }
    }

    return chk->pool;
}


static ngx_int_t
ngx_http_guard_check_test_connect(ngx_connection_t *c, u_char *reason)
{
    int        err;
    socklen_t  len;

#if (NGX_HAVE_EPOLLRDHUP)

    /*
     * epoll reports a failed connect with EPOLLRDHUP (tcp_done() shuts
     * the socket both ways), and never reports EPOLLOUT while the
     * connect is still in progress: writable without it, the connect
     * succeeded, and one getsockopt() per check is saved.  A server
     * that closed at once also sets it: that case is asked below.
     */

    if ((ngx_event_flags & NGX_USE_EPOLL_EVENT)
        && ngx_use_epoll_rdhup
        && !c->read->pending_eof
        && !c->write->error)
    {
        return NGX_OK;
    }

#endif

    err = 0;
    len = sizeof(int);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len) == -1) {
        err = ngx_socket_errno;
    }

    if (err == 0) {
        return NGX_OK;
    }

    if (err == NGX_ECONNREFUSED) {
        ngx_cpystrn(reason, (u_char *) "connect refused",
                    NGX_HTTP_GUARD_REASON_LEN);

    } else {
        ngx_http_guard_snprintz(reason, NGX_HTTP_GUARD_REASON_LEN,
                                "connect failed: %s", strerror(err));
    }

    return NGX_ERROR;
}


static void
ngx_http_guard_check_write_handler(ngx_event_t *wev)
{
    u_char                      reason[NGX_HTTP_GUARD_REASON_LEN];
    ngx_connection_t           *c;
    ngx_http_guard_check_t     *chk;
    ngx_http_guard_srv_conf_t  *gscf;

    c = wev->data;
    chk = c->data;
    gscf = chk->gp->up->conf;

    if (chk->phase == NGX_HTTP_GUARD_PHASE_CONNECT) {

        if (ngx_http_guard_check_test_connect(c, reason) != NGX_OK) {
            ngx_http_guard_check_finish(chk, 0, reason, 0);
            return;
        }

        if (!gscf->type->tls && !gscf->type->http && !gscf->type->probe) {
            /* tcp: the connect was the check */
            ngx_http_guard_check_finish(chk, 1, NULL, 0);
            return;
        }

#if (NGX_HTTP_SSL)
        if (gscf->type->tls) {
            ngx_http_guard_check_tls(chk);
            return;
        }
#endif

        chk->phase = NGX_HTTP_GUARD_PHASE_SEND;
        chk->sent = 0;
    }

    if (chk->phase == NGX_HTTP_GUARD_PHASE_SEND) {
        /* a MySQL server speaks first: nothing to send */
        ngx_http_guard_check_send(chk);
    }
}


#if (NGX_HTTP_SSL)

static void
ngx_http_guard_check_tls(ngx_http_guard_check_t *chk)
{
    u_char                     *name;
    ngx_int_t                   rc;
    ngx_str_t                  *sni;
    ngx_connection_t           *c;
    struct in6_addr             in6;
    ngx_http_guard_srv_conf_t  *gscf;

    c = chk->pc.connection;
    gscf = chk->gp->up->conf;

    chk->phase = NGX_HTTP_GUARD_PHASE_TLS;

    if (ngx_http_guard_check_pool(chk) == NULL) {
        ngx_http_guard_check_fail(chk, "out of memory");
        return;
    }

    if (ngx_ssl_create_connection(gscf->ssl, c,
                                  NGX_SSL_BUFFER|NGX_SSL_CLIENT)
        != NGX_OK)
    {
        ngx_http_guard_check_fail(chk, "tls setup failed");
        return;
    }

    c->log_error = NGX_ERROR_INFO;

    sni = &chk->tls_name;

    if (gscf->ssl_server_name && sni->len) {
        name = ngx_pnalloc(c->pool, sni->len + 1);
        if (name == NULL) {
            ngx_http_guard_check_fail(chk, "out of memory");
            return;
        }

        (void) ngx_cpystrn(name, sni->data, sni->len + 1);

        /* SNI takes a host name, never an address */
        if (ngx_inet_addr(name, sni->len) == INADDR_NONE
            && ngx_inet6_addr(name, sni->len, in6.s6_addr) != NGX_OK)
        {
            if (SSL_set_tlsext_host_name(c->ssl->connection, (char *) name)
                == 0)
            {
                ngx_http_guard_check_fail(chk, "tls server name failed");
                return;
            }
        }
    }

    rc = ngx_ssl_handshake(c);

    if (rc == NGX_AGAIN) {
        c->ssl->handler = ngx_http_guard_check_tls_handler;
        return;
    }

    ngx_http_guard_check_tls_handler(c);
}


static void
ngx_http_guard_check_tls_handler(ngx_connection_t *c)
{
    long                        rc;
    ngx_http_guard_check_t     *chk;
    ngx_http_guard_srv_conf_t  *gscf;

    chk = c->data;
    gscf = chk->gp->up->conf;

    if (!c->ssl->handshaked) {
        ngx_http_guard_check_fail(chk, "tls handshake failed");
        return;
    }

    if (gscf->ssl_verify) {
        rc = SSL_get_verify_result(c->ssl->connection);

        if (rc != X509_V_OK) {
            ngx_http_guard_check_fail(chk, "certificate verify failed: %s",
                                      X509_verify_cert_error_string(rc));
            return;
        }

        if (ngx_ssl_check_host(c, &chk->tls_name) != NGX_OK) {
            ngx_http_guard_check_fail(chk, "certificate does not match "
                                      "\"%V\"", &chk->tls_name);
            return;
        }
    }

    if (!gscf->type->http) {
        /* ssl_hello: the handshake was the check */
        ngx_http_guard_check_finish(chk, 1, NULL, 0);
        return;
    }

    c->read->handler = ngx_http_guard_check_read_handler;
    c->write->handler = ngx_http_guard_check_write_handler;

    chk->phase = NGX_HTTP_GUARD_PHASE_SEND;
    chk->sent = 0;

    ngx_http_guard_check_send(chk);
}

#endif


static void
ngx_http_guard_check_send(ngx_http_guard_check_t *chk)
{
    ssize_t            n;
    ngx_connection_t  *c;

    c = chk->pc.connection;

    while (chk->sent < chk->request.len) {
        n = c->send(c, chk->request.data + chk->sent,
                    chk->request.len - chk->sent);

        if (n == NGX_AGAIN) {
            if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
                ngx_http_guard_check_fail(chk, "event error");
            }
            return;
        }

        if (n <= 0) {
            if (ngx_http_guard_check_retry(chk) != NGX_OK) {
                ngx_http_guard_check_fail(chk, "send failed");
            }
            return;
        }

        chk->sent += n;
    }

    chk->phase = NGX_HTTP_GUARD_PHASE_RECV;

    if (ngx_http_guard_check_expect(chk) != NGX_OK) {
        return;
    }

    ngx_http_guard_check_recv(chk);
}


/* ready to read the response: the parser, and what it needs */

static ngx_int_t
ngx_http_guard_check_expect(ngx_http_guard_check_t *chk)
{
    u_char  *p;

    if (chk->gp->up->conf->type->id == NGX_HTTP_GUARD_FASTCGI) {

        if (chk->fcgi == NULL) {
            /* the state, then room for the CGI headers */
            p = NULL;

            if (ngx_http_guard_check_pool(chk) != NULL) {
                p = ngx_palloc(chk->pool, sizeof(ngx_http_guard_fcgi_t)
                                          + NGX_HTTP_GUARD_HEADER_LIMIT);
            }

            if (p == NULL) {
                ngx_http_guard_check_fail(chk, "out of memory");
                return NGX_ERROR;
            }

            chk->fcgi = (ngx_http_guard_fcgi_t *) p;
        }

        ngx_http_guard_fcgi_init(chk->fcgi,
                                 (u_char *) chk->fcgi
                                 + sizeof(ngx_http_guard_fcgi_t),
                                 NGX_HTTP_GUARD_HEADER_LIMIT);
    }

    chk->len = 0;
    ngx_http_guard_parse_init(&chk->resp, NGX_HTTP_GUARD_HEADER_LIMIT,
                              chk->size - NGX_HTTP_GUARD_HEADER_LIMIT);

    if (chk->request.len > 5
        && ngx_strncmp(chk->request.data, "HEAD ", 5) == 0)
    {
        chk->resp.no_body = 1;
    }

    return NGX_OK;
}


static void
ngx_http_guard_check_read_handler(ngx_event_t *rev)
{
    ngx_connection_t        *c;
    ngx_http_guard_check_t  *chk;

    c = rev->data;
    chk = c->data;

    if (chk->phase == NGX_HTTP_GUARD_PHASE_RECV) {
        ngx_http_guard_check_recv(chk);
    }
}


static void
ngx_http_guard_check_recv(ngx_http_guard_check_t *chk)
{
    ssize_t            n;
    ngx_connection_t  *c;

    c = chk->pc.connection;

    for ( ;; ) {
        if (chk->buf == NULL) {
            chk->buf = ngx_http_guard_check_buf_get(chk);
            if (chk->buf == NULL) {
                ngx_http_guard_check_fail(chk, "out of memory");
                return;
            }
        }

        n = c->recv(c, chk->buf + chk->len, chk->size - chk->len);

        if (n == NGX_AGAIN) {
            if (!chk->got) {
                /* nothing to keep: the buffer waits in the list, not here */
                ngx_http_guard_check_buf_put(chk);
            }

            if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
                ngx_http_guard_check_fail(chk, "event error");
            }
            return;
        }

        if (n == NGX_ERROR) {
            if (ngx_http_guard_check_retry(chk) != NGX_OK) {
                ngx_http_guard_check_fail(chk, "connection reset");
            }
            return;
        }

        if (n == 0 && ngx_http_guard_check_retry(chk) == NGX_OK) {
            return;
        }

        if (ngx_http_guard_check_input(chk, n) != NGX_AGAIN) {
            return;
        }
    }
}


/*
 * n bytes of the response came (0: the server closed): NGX_AGAIN to read
 * on, NGX_DONE when they ended the check.
 */

static ngx_int_t
ngx_http_guard_check_input(ngx_http_guard_check_t *chk, ssize_t n)
{
    int                         rc;
    ngx_http_guard_srv_conf_t  *gscf;

    if (n > 0) {
        chk->len += n;
        chk->got = 1;
    }

    if (!chk->gp->up->conf->type->http) {
        return ngx_http_guard_check_raw(chk, n == 0);
    }

    if (n == 0) {
        rc = ngx_http_guard_parse_eof(&chk->resp);

    } else {
        rc = ngx_http_guard_parse_response(&chk->resp, chk->buf, &chk->len);
    }

    if (rc == NGX_HTTP_GUARD_PARSE_DONE) {
        ngx_http_guard_check_response(chk);
        return NGX_DONE;
    }

    if (rc == NGX_HTTP_GUARD_PARSE_ERROR) {
        ngx_http_guard_check_fail(chk, "%s", chk->resp.error);
        return NGX_DONE;
    }

    /* AGAIN; never after EOF, which ends in DONE or ERROR */

    gscf = chk->gp->up->conf;

    if (gscf->compat && gscf->keepalive == 0 && chk->resp.body_off) {

        /*
         * The check vocabulary judges the status alone, as the old module
         * did, so the head of the final response is enough: a body that
         * comes slowly or never ends (a page streamed, an event stream)
         * is not waited for.  A connection kept for the next check
         * (check_keepalive_requests) is read to the end of the response.
         */

        ngx_http_guard_check_response(chk);
        return NGX_DONE;
    }

    return NGX_AGAIN;
}


/* MySQL greeting, AJP CPONG, FastCGI status: a pure parser decides */

static ngx_int_t
ngx_http_guard_check_raw(ngx_http_guard_check_t *chk, ngx_uint_t eof)
{
    int                         rc;
    unsigned                    status;
    const char                 *reason;
    ngx_http_guard_srv_conf_t  *gscf;

    gscf = chk->gp->up->conf;
    reason = "no response";
    status = 0;

    switch (gscf->type->id) {

    case NGX_HTTP_GUARD_MYSQL:
        rc = ngx_http_guard_mysql_greeting(chk->buf, chk->len, &reason);
        break;

    case NGX_HTTP_GUARD_AJP:
        rc = ngx_http_guard_ajp_cpong(chk->buf, chk->len, &reason);
        break;

    default: /* NGX_HTTP_GUARD_FASTCGI */
        rc = ngx_http_guard_fcgi_status(chk->fcgi, chk->buf, chk->len,
                                        &status, &reason);

        /* the reader took these bytes: the buffer is free for more */
        chk->len = 0;

        if (rc == NGX_HTTP_GUARD_PROTO_PASS
            && !(status < 600 && (gscf->alive & NGX_HTTP_GUARD_ALIVE(status))))
        {
            ngx_http_guard_check_fail(chk, "status %ui", (ngx_uint_t) status);
            return NGX_DONE;
        }

        break;
    }

    if (rc == NGX_HTTP_GUARD_PROTO_PASS) {
        ngx_http_guard_check_finish(chk, NGX_HTTP_GUARD_CHECK_PASS, NULL, 0);
        return NGX_DONE;
    }

    if (rc == NGX_HTTP_GUARD_PROTO_FAIL) {
        ngx_http_guard_check_fail(chk, "%s", reason);
        return NGX_DONE;
    }

    if (eof) {
        ngx_http_guard_check_fail(chk, "%s",
                                  chk->got ? "truncated response"
                                           : "no response");
        return NGX_DONE;
    }

    if (chk->len == chk->size) {
        ngx_http_guard_check_fail(chk, "response too large");
        return NGX_DONE;
    }

    return NGX_AGAIN;
}


static void
ngx_http_guard_check_response(ngx_http_guard_check_t *chk)
{
    int                         idx;
    u_char                      reason[NGX_HTTP_GUARD_REASON_LEN];
    ngx_uint_t                  ok, keep;
    ngx_http_guard_header_t    *h;
    ngx_http_guard_srv_conf_t  *gscf;

    gscf = chk->gp->up->conf;

    if (gscf->compat) {
        /* check_http_expect_alive: status classes */
        ok = (chk->resp.status < 600
              && (gscf->alive & NGX_HTTP_GUARD_ALIVE(chk->resp.status)));

        if (!ok) {
            ngx_http_guard_snprintz(reason, NGX_HTTP_GUARD_REASON_LEN,
                                    "status %ui",
                                    (ngx_uint_t) chk->resp.status);
        }

    } else {
        ok = (ngx_http_guard_match_run(gscf->match, &chk->resp, chk->buf,
                                       reason, NGX_HTTP_GUARD_REASON_LEN)
              == NGX_OK);
    }

    if (gscf->agent_header.len) {
        idx = ngx_http_guard_resp_header(&chk->resp, chk->buf,
                                         (const char *) gscf->agent_header.data,
                                         gscf->agent_header.len, 0);
        if (idx >= 0) {
            h = &chk->resp.headers[idx];
            (void) ngx_http_guard_parse_agent(&chk->agent,
                                              chk->buf + h->value_off,
                                              h->value_len);
        }
    }

    chk->requests++;

    keep = gscf->keepalive
           && chk->requests < gscf->keepalive
           && ngx_http_guard_resp_reusable(&chk->resp);

    ngx_http_guard_check_finish(chk, ok, ok ? NULL : reason, keep);
}


static void
ngx_http_guard_check_timeout_handler(ngx_event_t *ev)
{
    ngx_msec_int_t           late;
    ngx_http_guard_check_t  *chk;

    chk = ev->data;

    /*
     * The timer ran late: this process did not run (a long request in
     * the event loop, a stop, a busy host).  That time is not the
     * server's: grant it once, up to the timeout, and go on waiting.
     * The lateness counts from our own record of when the timer was
     * due: the timer tree's delete has already zeroed ev->timer.key.
     */

    late = (ngx_msec_int_t) (ngx_current_msec - chk->due);

    if (!chk->extended && late >= NGX_HTTP_GUARD_STALL
        && chk->phase != NGX_HTTP_GUARD_PHASE_IDLE)
    {
        chk->extended = 1;
        chk->due = ngx_current_msec
                   + ngx_min((ngx_msec_t) late, chk->gp->up->conf->timeout);

        ngx_add_timer(ev, chk->due - ngx_current_msec);
        return;
    }

    /*
     * A busy event loop may run this timer late, together with the
     * response that already arrived: read once more before failing.
     */

    if (chk->phase == NGX_HTTP_GUARD_PHASE_RECV && chk->pc.connection) {
        ngx_http_guard_check_recv(chk);

        if (!chk->busy) {
            return;
        }
    }

    if (chk->uring) {
        /* its results may wait in the ring */
        ngx_http_guard_uring_reap();

        if (!chk->busy) {
            return;
        }
    }

    ngx_http_guard_check_fail(chk, "timeout (%s)",
                              ngx_http_guard_phases[chk->phase]);
}


static void
ngx_http_guard_check_fail(ngx_http_guard_check_t *chk, const char *fmt, ...)
{
    u_char   reason[NGX_HTTP_GUARD_REASON_LEN];
    va_list  args;

    va_start(args, fmt);
    ngx_http_guard_vsnprintz(reason, NGX_HTTP_GUARD_REASON_LEN, fmt, args);
    va_end(args);

    ngx_http_guard_check_finish(chk, 0, reason, 0);
}


/*
 * A kept-alive connection that fails before any response byte was most
 * likely closed by the server while idle (its keepalive timeout racing
 * our interval): not the server's fault.  Try once more on a new
 * connection, within the same timeout.
 */

static ngx_int_t
ngx_http_guard_check_retry(ngx_http_guard_check_t *chk)
{
    if (!chk->reused || chk->got || !chk->busy) {
        return NGX_DECLINED;
    }

    chk->reused = 0;

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, &chk->log, 0,
                   "upstream guard: kept-alive check connection to %V "
                   "closed, reconnecting", &chk->addr.name);

    ngx_http_guard_check_close(chk);
    ngx_http_guard_check_connect(chk);

    return NGX_OK;
}


static void
ngx_http_guard_check_finish(ngx_http_guard_check_t *chk, ngx_uint_t ok,
    u_char *reason, ngx_uint_t keep)
{
    ngx_connection_t  *c;

    if (!chk->busy) {
        return;
    }

    chk->busy = 0;

    if (chk->timeout.timer_set) {
        ngx_del_timer(&chk->timeout);
    }

    c = chk->pc.connection;

    if (keep && c) {
        ngx_http_guard_check_buf_put(chk);
        chk->phase = NGX_HTTP_GUARD_PHASE_PARKED;
        c->read->handler = ngx_http_guard_check_idle_handler;
        c->write->handler = ngx_http_guard_check_idle_handler;

        if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
            ngx_http_guard_check_close(chk);

        } else {
            /*
             * Idle until the next check: nginx may close it when it runs
             * short of connections, as it does idle client connections,
             * so that parked checks never starve clients.
             */
            ngx_reusable_connection(c, 1);
        }

    } else {
        ngx_http_guard_check_close(chk);
    }

    /*
     * The transition line says why a server went down; a server that
     * keeps failing for another reason is logged once per new reason.
     */

    if (ok == NGX_HTTP_GUARD_CHECK_PASS) {
        chk->failed[0] = '\0';

    } else if (ok == 0 && reason) {
        if (chk->failed[0] && ngx_strcmp(chk->failed, reason) != 0) {
            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "upstream guard: server %V of upstream \"%V\" "
                          "fails for another reason: %s (was: %s)",
                          &chk->gp->peer->server,
                          &chk->gp->up->uscf->host, reason, chk->failed);
        }

        ngx_cpystrn(chk->failed, reason, NGX_HTTP_GUARD_REASON_LEN);
    }

    chk->done(chk->gp, ok, reason, chk->started, &chk->agent);
}


/*
 * A parked connection: the server closed it or sent unasked bytes, or
 * nginx takes it back for a client (c->close).
 */

static void
ngx_http_guard_check_idle_handler(ngx_event_t *ev)
{
    ngx_connection_t        *c;
    ngx_http_guard_check_t  *chk;

    c = ev->data;
    chk = c->data;

    if (ev->write) {
        return;
    }

    ngx_http_guard_check_close(chk);
}


static void
ngx_http_guard_check_close(ngx_http_guard_check_t *chk)
{
    ngx_connection_t  *c;

    if (chk->uring) {
        ngx_http_guard_check_uring_close(chk);
    }

    c = chk->pc.connection;

    if (c) {
#if (NGX_HTTP_SSL)
        if (c->ssl) {
            c->ssl->no_wait_shutdown = 1;
            c->ssl->no_send_shutdown = 1;
            (void) ngx_ssl_shutdown(c);
        }
#endif
        ngx_close_connection(c);
        chk->pc.connection = NULL;
    }

    if (chk->pool) {
        ngx_destroy_pool(chk->pool);
        chk->pool = NULL;
    }

    ngx_http_guard_check_buf_put(chk);
    chk->fcgi = NULL;
    chk->phase = NGX_HTTP_GUARD_PHASE_IDLE;
}


static u_char *
ngx_http_guard_check_buf_get(ngx_http_guard_check_t *chk)
{
    ngx_http_guard_leader_t       *lc;
    ngx_http_guard_check_free_t   *f, **fp;

    lc = &chk->gp->up->gmcf->leader;

    for (fp = &lc->free; *fp; fp = &(*fp)->next) {
        f = *fp;

        if (f->size >= chk->size) {
            *fp = f->next;
            lc->nfree--;
            chk->buf_size = f->size;
            return (u_char *) f;
        }
    }

    chk->buf_size = chk->size;

    /*
     * Zeroed once, for memcheck: with guard_check_io io_uring the kernel
     * fills the buffer on its own, through the ring, and memcheck would
     * take what it wrote for uninitialised bytes.
     */

    return ngx_calloc(chk->size, &chk->log);
}


static void
ngx_http_guard_check_buf_put(ngx_http_guard_check_t *chk)
{
    if (chk->buf == NULL) {
        return;
    }

    ngx_http_guard_check_buf_release(chk, chk->buf, chk->buf_size);

    chk->buf = NULL;
}


static void
ngx_http_guard_check_buf_release(ngx_http_guard_check_t *chk, u_char *buf,
    size_t size)
{
    ngx_http_guard_leader_t      *lc;
    ngx_http_guard_check_free_t  *f;

    lc = &chk->gp->up->gmcf->leader;

    if (lc->nfree < NGX_HTTP_GUARD_FREE_BUFS && lc->leading) {
        f = (ngx_http_guard_check_free_t *) buf;
        f->next = lc->free;
        f->size = size;
        lc->free = f;
        lc->nfree++;

    } else {
        ngx_free(buf);
    }
}


/* the list's buffers, once no check runs (the checking worker stops) */

void
ngx_http_guard_check_bufs_free(ngx_http_guard_leader_t *lc)
{
    ngx_http_guard_check_free_t  *f;

    while (lc->free) {
        f = lc->free;
        lc->free = f->next;
        ngx_free(f);
    }

    lc->nfree = 0;
}


void
ngx_http_guard_check_abort(ngx_http_guard_check_t *chk)
{
    if (chk->timer.timer_set) {
        ngx_del_timer(&chk->timer);
    }

    if (chk->timeout.timer_set) {
        ngx_del_timer(&chk->timeout);
    }

    chk->busy = 0;

    ngx_http_guard_check_close(chk);
}


/*
 * guard_check_io io_uring: a check over a new connection, without TLS,
 * as one chain of the ring: socket -> connect (-> send -> receive), then
 * a receive for each further part of the response, and a close.  Every
 * operation comes back to ngx_http_guard_check_uring_handler(); the run
 * ends with the same reasons as over epoll.  A check that cannot use the
 * ring now (no free slot, no room, its last run's operations not all
 * back) goes over epoll this once.
 */

static ngx_int_t
ngx_http_guard_check_uring_start(ngx_http_guard_check_t *chk)
{
    ngx_int_t                   slot;
    ngx_uint_t                  http;
    ngx_http_guard_srv_conf_t  *gscf;

    gscf = chk->gp->up->conf;

    /*
     * A unix socket whose listen queue is full refuses a non-blocking
     * connect at once, as nginx's proxy sees it; the ring's connect
     * would block until the timeout: such servers stay on epoll.
     */

    if (!ngx_http_guard_uring_active()
        || gscf->type->tls || gscf->type->probe || gscf->keepalive
        || chk->uring_ops
#if (NGX_HAVE_UNIX_DOMAIN)
        || chk->addr.sockaddr->sa_family == AF_UNIX
#endif
       )
    {
        return NGX_DECLINED;
    }

    http = gscf->type->http;

    if (ngx_http_guard_uring_reserve(http ? 4 : 2) != NGX_OK) {
        return NGX_DECLINED;
    }

    slot = ngx_http_guard_uring_slot_get();
    if (slot == NGX_ERROR) {
        return NGX_DECLINED;
    }

    chk->uring = 1;
    chk->uring_slot = slot + 1;
    chk->phase = NGX_HTTP_GUARD_PHASE_CONNECT;
    chk->requests = 0;

    if (http) {
        chk->buf = ngx_http_guard_check_buf_get(chk);

        if (chk->buf == NULL) {
            ngx_http_guard_uring_slot_put(slot);
            chk->uring = 0;
            chk->uring_slot = 0;
            ngx_http_guard_check_fail(chk, "out of memory");
            return NGX_OK;
        }

        if (ngx_http_guard_check_expect(chk) != NGX_OK) {
            return NGX_OK;
        }
    }

    ngx_http_guard_uring_socket(slot, chk->addr.sockaddr, chk,
                                NGX_HTTP_GUARD_URING_LINK);
    ngx_http_guard_uring_connect(slot, chk->addr.sockaddr, chk->addr.socklen,
                                 chk, http ? NGX_HTTP_GUARD_URING_LINK : 0);
    chk->uring_ops = 2;

    if (http) {
        ngx_http_guard_uring_send(slot, chk->request.data, chk->request.len,
                                  chk, NGX_HTTP_GUARD_URING_LINK);
        ngx_http_guard_uring_recv(slot, chk->buf, chk->size, chk);
        chk->uring_ops += 2;
        chk->uring_recv = 1;
    }

    return NGX_OK;
}


void
ngx_http_guard_check_uring_handler(void *data, ngx_uint_t tag, int res)
{
    ngx_err_t                   err;
    ngx_http_guard_check_t     *chk;
    ngx_http_guard_srv_conf_t  *gscf;

    chk = data;

    if (chk->uring_ops) {
        chk->uring_ops--;
    }

    if (tag == NGX_HTTP_GUARD_URING_RECV) {
        chk->uring_recv = 0;

        if (chk->uring_hold) {
            /* the receive of a run that ended: its buffer is free now */
            ngx_http_guard_check_buf_release(chk, chk->uring_hold,
                                             chk->uring_hold_size);
            chk->uring_hold = NULL;
            return;
        }
    }

    if (tag == NGX_HTTP_GUARD_URING_CLOSE) {
        ngx_http_guard_uring_slot_put(chk->uring_slot - 1);
        chk->uring_slot = 0;
        return;
    }

    if (!chk->uring || !chk->busy) {
        /* a result of a run that ended: cancelled, or no longer asked */
        return;
    }

    gscf = chk->gp->up->conf;
    err = (res < 0) ? -res : 0;

    switch (tag) {

    case NGX_HTTP_GUARD_URING_SOCKET:
        if (err) {
            /* no socket here: not the server's fault */
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, err,
                          "upstream guard: cannot check %V, result not "
                          "counted", &chk->addr.name);
            ngx_http_guard_check_finish(chk, NGX_HTTP_GUARD_CHECK_SKIP,
                                        NULL, 0);
        }

        return;

    case NGX_HTTP_GUARD_URING_CONNECT:
        if (err == NGX_ECONNREFUSED) {
            ngx_http_guard_check_fail(chk, "connect refused");
            return;
        }

        if (err) {
            ngx_http_guard_check_fail(chk, "connect failed: %s",
                                      strerror(err));
            return;
        }

        if (!gscf->type->http) {
            /* tcp: the connect was the check */
            ngx_http_guard_check_finish(chk, NGX_HTTP_GUARD_CHECK_PASS,
                                        NULL, 0);
            return;
        }

        chk->phase = NGX_HTTP_GUARD_PHASE_SEND;
        return;

    case NGX_HTTP_GUARD_URING_SEND:
        if (err) {
            ngx_http_guard_check_fail(chk, "send failed");
            return;
        }

        chk->phase = NGX_HTTP_GUARD_PHASE_RECV;
        return;

    case NGX_HTTP_GUARD_URING_RECV:
        if (err) {
            ngx_http_guard_check_fail(chk, "connection reset");
            return;
        }

        if (ngx_http_guard_check_input(chk, res) == NGX_AGAIN) {
            ngx_http_guard_check_uring_recv(chk);
        }

        return;

    default: /* NGX_HTTP_GUARD_URING_CANCEL */
        return;
    }
}


static void
ngx_http_guard_check_uring_recv(ngx_http_guard_check_t *chk)
{
    if (chk->len == chk->size) {
        /* as a read into no room over epoll: the end of what fits */
        if (ngx_http_guard_check_input(chk, 0) == NGX_AGAIN) {
            ngx_http_guard_check_fail(chk, "response too large");
        }

        return;
    }

    if (ngx_http_guard_uring_reserve(1) != NGX_OK) {
        ngx_http_guard_check_fail(chk, "io_uring full");
        return;
    }

    ngx_http_guard_uring_recv(chk->uring_slot - 1, chk->buf + chk->len,
                              chk->size - chk->len, chk);
    chk->uring_ops++;
    chk->uring_recv = 1;
}


/*
 * The run ended: a receive still in flight keeps its buffer until its
 * result comes; whatever waits on the socket is cancelled, then the slot
 * is closed (and free again when that result comes).
 */

static void
ngx_http_guard_check_uring_close(ngx_http_guard_check_t *chk)
{
    ngx_int_t  n;

    chk->uring = 0;

    if (chk->uring_recv && chk->buf) {
        chk->uring_hold = chk->buf;
        chk->uring_hold_size = chk->buf_size;
        chk->buf = NULL;
    }

    if (!ngx_http_guard_uring_active()) {
        /* the ring is gone, and with it every operation */
        if (chk->uring_hold) {
            ngx_http_guard_check_buf_release(chk, chk->uring_hold,
                                             chk->uring_hold_size);
            chk->uring_hold = NULL;
        }

        chk->uring_recv = 0;
        chk->uring_ops = 0;
        chk->uring_slot = 0;
        return;
    }

    n = ngx_http_guard_uring_close(chk->uring_slot - 1, chk,
                                   chk->uring_ops != 0);

    if (n == 0) {
        /*
         * The slot was emptied at once (the ring had no room): results of
         * this run may still come, and keep their buffer until then; the
         * slot is free only if none will.
         */
        if (chk->uring_ops == 0) {
            ngx_http_guard_uring_slot_put(chk->uring_slot - 1);
            chk->uring_slot = 0;
        }

        return;
    }

    chk->uring_ops += n;
}
