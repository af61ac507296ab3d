
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * The checking worker's io_uring, without liburing: the rings are mapped
 * from the kernel's own interface (<linux/io_uring.h>), so nothing is
 * added at run time.  Why: a check over a new connection makes seven
 * system calls and up to three wake-ups through epoll; through this ring
 * the checks started in one loop iteration are submitted in one
 * io_uring_enter(), and their sockets are created, connected, written,
 * read and closed by the kernel, which posts the results.
 *
 * Results that wait for the network (a connect, a response) are finished
 * by the kernel in this process' context ("task work"): the kernel wakes
 * the process for it, which interrupts the epoll_wait() nginx sleeps in
 * (EINTR), runs the work on the way out, posts the results and signals
 * the registered eventfd, which epoll reports at once.  While operations
 * are in flight, ngx_event_timer_alarm is set, as timer_resolution's
 * signal sets it, so that nginx takes that EINTR as expected and does not
 * log it.  (IORING_SETUP_DEFER_TASKRUN would avoid the interruption, but
 * its eventfd signal comes after an RCU grace period, 8 to 35 ms here.)
 *
 * Sockets live in a sparse table of fixed files, one slot per check in
 * flight, so that a chain socket -> connect -> send -> receive needs no
 * descriptor from user space between its steps.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_guard_uring.h"


#include "ngx_http_guard.h"


/* guard_check_io epoll | io_uring; in the http block */

char *
ngx_http_guard_check_io(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_guard_main_conf_t *gmcf = conf;

    ngx_str_t  *value;

    if (gmcf->check_io != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "epoll") == 0) {
        gmcf->check_io = NGX_HTTP_GUARD_IO_EPOLL;
        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value[1].data, "io_uring") == 0) {
#if !(NGX_HAVE_GUARD_URING)
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "guard_check_io io_uring: this module was built "
                           "without io_uring (it needs the headers of "
                           "Linux 6.0 or later), checks use epoll");
#endif
        gmcf->check_io = NGX_HTTP_GUARD_IO_URING;
        return NGX_CONF_OK;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"%V\" directive, "
                       "it must be \"epoll\" or \"io_uring\"",
                       &value[1], &cmd->name);

    return NGX_CONF_ERROR;
}


#if (NGX_HAVE_GUARD_URING)

#include <linux/io_uring.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>


#define NGX_HTTP_GUARD_URING_ENTRIES  1024
#define NGX_HTTP_GUARD_URING_DRAIN    1000      /* ms, at the end */


typedef struct {
    int                              fd;
    ngx_connection_t                *evc;       /* the eventfd */
    ngx_event_t                      flush;     /* posted: submit */
    ngx_http_guard_uring_handler_pt  handler;

    void                            *sq_ring;
    size_t                           sq_ring_len;
    struct io_uring_sqe             *sqes;
    size_t                           sqes_len;
    unsigned                        *sq_head;
    unsigned                        *sq_tail;
    unsigned                        *sq_array;
    unsigned                        *sq_flags;
    unsigned                         sq_mask;
    unsigned                         sq_entries;
    unsigned                        *cq_head;
    unsigned                        *cq_tail;
    unsigned                        *cq_flags;
    struct io_uring_cqe             *cqes;
    unsigned                         cq_mask;

    unsigned                         queued;    /* filled, not submitted */
    ngx_uint_t                       inflight;  /* submitted, no result */

    uint32_t                        *free;      /* slots, a stack */
    ngx_uint_t                       nfree;
    ngx_uint_t                       nslots;

    unsigned                         reaping:1;
} ngx_http_guard_uring_t;


static ngx_int_t ngx_http_guard_uring_setup(ngx_http_guard_uring_t *ur,
    ngx_log_t *log);
static ngx_int_t ngx_http_guard_uring_wakes(ngx_http_guard_uring_t *ur,
    ngx_log_t *log);
static void ngx_http_guard_uring_free(ngx_http_guard_uring_t *ur);
static struct io_uring_sqe *ngx_http_guard_uring_sqe(void);
static ngx_int_t ngx_http_guard_uring_enter(unsigned submit, unsigned wait,
    unsigned flags, ngx_msec_t timeout);
static void ngx_http_guard_uring_flush_handler(ngx_event_t *ev);
static void ngx_http_guard_uring_read_handler(ngx_event_t *ev);
static void ngx_http_guard_uring_post(void);
static ngx_uint_t ngx_http_guard_uring_cqes(void);
static void ngx_http_guard_uring_expect(void);


static ngx_http_guard_uring_t  *ngx_http_guard_uring;


ngx_int_t
ngx_http_guard_uring_init(ngx_cycle_t *cycle, ngx_uint_t slots,
    ngx_http_guard_uring_handler_pt handler)
{
    ngx_uint_t               i;
    ngx_connection_t        *c;
    ngx_http_guard_uring_t  *ur;

    if (ngx_http_guard_uring) {
        return NGX_OK;
    }

    ur = ngx_calloc(sizeof(ngx_http_guard_uring_t), cycle->log);
    if (ur == NULL) {
        return NGX_ERROR;
    }

    ur->fd = -1;
    ur->handler = handler;
    ur->nslots = ngx_max(slots, 1);

    ur->free = ngx_alloc(ur->nslots * sizeof(uint32_t), cycle->log);
    if (ur->free == NULL) {
        ngx_free(ur);
        return NGX_ERROR;
    }

    for (i = 0; i < ur->nslots; i++) {
        /* slot 0 on top */
        ur->free[i] = (uint32_t) (ur->nslots - 1 - i);
    }

    ur->nfree = ur->nslots;

    if (ngx_http_guard_uring_setup(ur, cycle->log) != NGX_OK) {
        ngx_http_guard_uring_free(ur);
        return NGX_DECLINED;
    }

    c = ur->evc;
    c->read->handler = ngx_http_guard_uring_read_handler;
    c->read->log = cycle->log;
    c->write->log = cycle->log;
    c->log = cycle->log;
    c->data = ur;

    if (ngx_add_event(c->read, NGX_READ_EVENT, 0) != NGX_OK) {
        ngx_http_guard_uring_free(ur);
        return NGX_ERROR;
    }

    ur->flush.handler = ngx_http_guard_uring_flush_handler;
    ur->flush.data = ur;
    ur->flush.log = cycle->log;

    ngx_http_guard_uring = ur;

    ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                  "upstream guard: checks go through io_uring "
                  "(%ui slots, %ui entries)", ur->nslots,
                  (ngx_uint_t) ur->sq_entries);

    return NGX_OK;
}


static ngx_int_t
ngx_http_guard_uring_setup(ngx_http_guard_uring_t *ur, ngx_log_t *log)
{
    int                           fd, efd;
    u_char                       *ring;
    size_t                        len;
    ngx_err_t                     err;
    struct io_uring_params        p;
    struct io_uring_rsrc_register rr;

    ngx_memzero(&p, sizeof(struct io_uring_params));

    /* no IPI to a running worker: its next system call runs the work */
    p.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER
              | IORING_SETUP_COOP_TASKRUN;

    fd = (int) syscall(__NR_io_uring_setup, NGX_HTTP_GUARD_URING_ENTRIES, &p);

    if (fd == -1) {
        err = ngx_errno;
        ngx_log_error(NGX_LOG_WARN, log, err,
                      "upstream guard: io_uring_setup() failed, "
                      "checks use epoll");
        return NGX_DECLINED;
    }

    ur->fd = fd;

    if (!(p.features & IORING_FEAT_SINGLE_MMAP)
        || !(p.features & IORING_FEAT_NODROP))
    {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "upstream guard: this kernel's io_uring is too old "
                      "(no single mmap or no-drop), checks use epoll");
        return NGX_DECLINED;
    }

    len = ngx_max(p.sq_off.array + p.sq_entries * sizeof(unsigned),
                  p.cq_off.cqes
                  + p.cq_entries * sizeof(struct io_uring_cqe));

    ring = mmap(NULL, len, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_POPULATE,
                fd, IORING_OFF_SQ_RING);

    if (ring == MAP_FAILED) {
        ngx_log_error(NGX_LOG_WARN, log, ngx_errno,
                      "upstream guard: mmap() of the io_uring failed, "
                      "checks use epoll");
        return NGX_DECLINED;
    }

    ur->sq_ring = ring;
    ur->sq_ring_len = len;

    ur->sqes_len = p.sq_entries * sizeof(struct io_uring_sqe);
    ur->sqes = mmap(NULL, ur->sqes_len, PROT_READ|PROT_WRITE,
                    MAP_SHARED|MAP_POPULATE, fd, IORING_OFF_SQES);

    if (ur->sqes == MAP_FAILED) {
        ur->sqes = NULL;
        ngx_log_error(NGX_LOG_WARN, log, ngx_errno,
                      "upstream guard: mmap() of the io_uring failed, "
                      "checks use epoll");
        return NGX_DECLINED;
    }

    ur->sq_head = (unsigned *) (ring + p.sq_off.head);
    ur->sq_tail = (unsigned *) (ring + p.sq_off.tail);
    ur->sq_array = (unsigned *) (ring + p.sq_off.array);
    ur->sq_flags = (unsigned *) (ring + p.sq_off.flags);
    ur->sq_mask = *(unsigned *) (ring + p.sq_off.ring_mask);
    ur->sq_entries = p.sq_entries;
    ur->cq_head = (unsigned *) (ring + p.cq_off.head);
    ur->cq_tail = (unsigned *) (ring + p.cq_off.tail);
    ur->cq_flags = (unsigned *) (ring + p.cq_off.flags);
    ur->cqes = (struct io_uring_cqe *) (ring + p.cq_off.cqes);
    ur->cq_mask = *(unsigned *) (ring + p.cq_off.ring_mask);

    /* a sparse table: every slot empty until a socket lands in it */

    ngx_memzero(&rr, sizeof(struct io_uring_rsrc_register));
    rr.nr = ur->nslots;
    rr.flags = IORING_RSRC_REGISTER_SPARSE;

    if (syscall(__NR_io_uring_register, fd, IORING_REGISTER_FILES2, &rr,
                sizeof(struct io_uring_rsrc_register))
        == -1)
    {
        ngx_log_error(NGX_LOG_WARN, log, ngx_errno,
                      "upstream guard: io_uring cannot hold sockets as "
                      "fixed files here, checks use epoll");
        return NGX_DECLINED;
    }

    efd = eventfd(0, EFD_NONBLOCK|EFD_CLOEXEC);
    if (efd == -1) {
        ngx_log_error(NGX_LOG_WARN, log, ngx_errno,
                      "upstream guard: eventfd() failed, checks use epoll");
        return NGX_DECLINED;
    }

    ur->evc = ngx_get_connection(efd, log);
    if (ur->evc == NULL) {
        (void) close(efd);
        return NGX_DECLINED;
    }

    if (syscall(__NR_io_uring_register, fd, IORING_REGISTER_EVENTFD, &efd, 1)
        == -1)
    {
        ngx_log_error(NGX_LOG_WARN, log, ngx_errno,
                      "upstream guard: io_uring cannot signal an eventfd "
                      "here, checks use epoll");
        return NGX_DECLINED;
    }

    return ngx_http_guard_uring_wakes(ur, log);
}


/*
 * Results posted by task work must signal the eventfd, or a check would
 * wait for a result nobody collects: a read of an empty pipe waits for
 * data; once a byte is written and the result is in, the eventfd must
 * have been signalled.
 */

static ngx_int_t
ngx_http_guard_uring_wakes(ngx_http_guard_uring_t *ur, ngx_log_t *log)
{
    int                   pfd[2];
    static u_char         byte;     /* not on the stack: the kernel writes */
    uint64_t              v;
    ssize_t               n;
    ngx_int_t             rc;
    struct io_uring_sqe  *sqe;

    /* blocking: io_uring answers EAGAIN at once for O_NONBLOCK files */

    if (pipe2(pfd, O_CLOEXEC) == -1) {
        ngx_log_error(NGX_LOG_WARN, log, ngx_errno,
                      "upstream guard: pipe2() failed, checks use epoll");
        return NGX_DECLINED;
    }

    ngx_http_guard_uring = ur;

    rc = NGX_DECLINED;

    sqe = ngx_http_guard_uring_sqe();
    if (sqe == NULL) {
        goto done;
    }

    sqe->opcode = IORING_OP_READ;
    sqe->fd = pfd[0];
    sqe->addr = (uintptr_t) &byte;
    sqe->len = 1;
    sqe->off = (uint64_t) -1;
    sqe->user_data = 0;

    if (ngx_http_guard_uring_enter(ur->queued, 0, 0, 0) != NGX_OK) {
        goto done;
    }

    if (write(pfd[1], "x", 1) != 1) {
        goto done;
    }

    if (ngx_http_guard_uring_enter(0, 1, IORING_ENTER_GETEVENTS,
                                   NGX_HTTP_GUARD_URING_DRAIN)
        != NGX_OK)
    {
        goto done;
    }

    (void) ngx_http_guard_uring_cqes();

    n = read(ur->evc->fd, &v, sizeof(uint64_t));

    if (n != sizeof(uint64_t) || ur->inflight) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "upstream guard: this kernel's io_uring does not "
                      "signal an eventfd for its results, checks use "
                      "epoll");
        goto done;
    }

    rc = NGX_OK;

done:

    ngx_http_guard_uring = NULL;

    (void) close(pfd[0]);
    (void) close(pfd[1]);

    return rc;
}


/*
 * The end of a leadership: every check has been aborted (its close is
 * queued); cancel what is still in flight, wait a bounded time for every
 * result (each hands back what its operation held), then unmap.  Closing
 * the ring makes the kernel cancel anything left, without writing to this
 * process' memory again.
 */

void
ngx_http_guard_uring_done(void)
{
    ngx_msec_t               end;
    struct io_uring_sqe     *sqe;
    ngx_http_guard_uring_t  *ur;

    ur = ngx_http_guard_uring;

    if (ur == NULL) {
        return;
    }

    if (ur->flush.posted) {
        ngx_delete_posted_event(&ur->flush);
    }

    sqe = ngx_http_guard_uring_sqe();

    if (sqe) {
        sqe->opcode = IORING_OP_ASYNC_CANCEL;
        sqe->cancel_flags = IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL;
        sqe->user_data = 0;
    }

    end = ngx_current_msec + NGX_HTTP_GUARD_URING_DRAIN;

    (void) ngx_http_guard_uring_enter(ur->queued, 0, 0, 0);

    while (ur->inflight) {
        if (ngx_http_guard_uring_enter(0, 1, IORING_ENTER_GETEVENTS,
                                       NGX_HTTP_GUARD_URING_DRAIN)
            != NGX_OK)
        {
            break;
        }

        (void) ngx_http_guard_uring_cqes();

        ngx_time_update();

        if ((ngx_msec_int_t) (ngx_current_msec - end) >= 0) {
            break;
        }
    }

    if (ur->inflight) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "upstream guard: %ui io_uring operations still in "
                      "flight at the end, their buffers are left",
                      ur->inflight);
    }

    ngx_http_guard_uring = NULL;

    ngx_http_guard_uring_free(ur);
}


static void
ngx_http_guard_uring_free(ngx_http_guard_uring_t *ur)
{
    if (ur->evc) {
        ngx_close_connection(ur->evc);
    }

    if (ur->sqes) {
        (void) munmap(ur->sqes, ur->sqes_len);
    }

    if (ur->sq_ring) {
        (void) munmap(ur->sq_ring, ur->sq_ring_len);
    }

    if (ur->fd != -1) {
        (void) close(ur->fd);
    }

    ngx_free(ur->free);
    ngx_free(ur);
}


ngx_uint_t
ngx_http_guard_uring_active(void)
{
    return ngx_http_guard_uring != NULL;
}


/* room for n operations, submitting what is queued when needed */

ngx_int_t
ngx_http_guard_uring_reserve(ngx_uint_t n)
{
    unsigned                 used;
    ngx_http_guard_uring_t  *ur;

    ur = ngx_http_guard_uring;

    used = *ur->sq_tail - __atomic_load_n(ur->sq_head, __ATOMIC_ACQUIRE);

    if (ur->sq_entries - used >= n) {
        return NGX_OK;
    }

    if (ngx_http_guard_uring_enter(ur->queued, 0, 0, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    used = *ur->sq_tail - __atomic_load_n(ur->sq_head, __ATOMIC_ACQUIRE);

    return (ur->sq_entries - used >= n) ? NGX_OK : NGX_ERROR;
}


ngx_int_t
ngx_http_guard_uring_slot_get(void)
{
    ngx_http_guard_uring_t  *ur;

    ur = ngx_http_guard_uring;

    if (ur->nfree == 0) {
        return NGX_ERROR;
    }

    return ur->free[--ur->nfree];
}


void
ngx_http_guard_uring_slot_put(ngx_uint_t slot)
{
    ngx_http_guard_uring_t  *ur;

    ur = ngx_http_guard_uring;

    if (ur && ur->nfree < ur->nslots) {
        ur->free[ur->nfree++] = (uint32_t) slot;
    }
}


static struct io_uring_sqe *
ngx_http_guard_uring_sqe(void)
{
    unsigned                 tail, i;
    struct io_uring_sqe     *sqe;
    ngx_http_guard_uring_t  *ur;

    ur = ngx_http_guard_uring;

    if (ngx_http_guard_uring_reserve(1) != NGX_OK) {
        return NULL;
    }

    tail = *ur->sq_tail;
    i = tail & ur->sq_mask;

    sqe = &ur->sqes[i];
    ngx_memzero(sqe, sizeof(struct io_uring_sqe));
    ur->sq_array[i] = i;

    __atomic_store_n(ur->sq_tail, tail + 1, __ATOMIC_RELEASE);

    ur->queued++;

    return sqe;
}


static void
ngx_http_guard_uring_op(struct io_uring_sqe *sqe, void *data, ngx_uint_t tag,
    ngx_uint_t flags)
{
    sqe->user_data = (uintptr_t) data | tag;

    if (flags & NGX_HTTP_GUARD_URING_LINK) {
        sqe->flags |= IOSQE_IO_LINK;
    }

    ngx_http_guard_uring_post();
}


/* the callers reserved room first: these cannot fail */

void
ngx_http_guard_uring_socket(ngx_uint_t slot, struct sockaddr *sa, void *data,
    ngx_uint_t flags)
{
    struct io_uring_sqe  *sqe;

    sqe = ngx_http_guard_uring_sqe();
    sqe->opcode = IORING_OP_SOCKET;
    sqe->fd = sa->sa_family;
    sqe->off = SOCK_STREAM;
    sqe->file_index = (uint32_t) slot + 1;

    ngx_http_guard_uring_op(sqe, data, NGX_HTTP_GUARD_URING_SOCKET, flags);
}


void
ngx_http_guard_uring_connect(ngx_uint_t slot, struct sockaddr *sa,
    socklen_t len, void *data, ngx_uint_t flags)
{
    struct io_uring_sqe  *sqe;

    sqe = ngx_http_guard_uring_sqe();
    sqe->opcode = IORING_OP_CONNECT;
    sqe->fd = (int) slot;
    sqe->flags = IOSQE_FIXED_FILE;
    sqe->addr = (uintptr_t) sa;
    sqe->off = len;

    ngx_http_guard_uring_op(sqe, data, NGX_HTTP_GUARD_URING_CONNECT, flags);
}


void
ngx_http_guard_uring_send(ngx_uint_t slot, u_char *p, size_t len, void *data,
    ngx_uint_t flags)
{
    struct io_uring_sqe  *sqe;

    sqe = ngx_http_guard_uring_sqe();
    sqe->opcode = IORING_OP_SEND;
    sqe->fd = (int) slot;
    sqe->flags = IOSQE_FIXED_FILE;
    sqe->addr = (uintptr_t) p;
    sqe->len = (uint32_t) len;
    /* all of it or an error: a short send would break no link */
    sqe->msg_flags = MSG_WAITALL | MSG_NOSIGNAL;

    ngx_http_guard_uring_op(sqe, data, NGX_HTTP_GUARD_URING_SEND, flags);
}


void
ngx_http_guard_uring_recv(ngx_uint_t slot, u_char *p, size_t len, void *data)
{
    struct io_uring_sqe  *sqe;

    sqe = ngx_http_guard_uring_sqe();
    sqe->opcode = IORING_OP_RECV;
    sqe->fd = (int) slot;
    sqe->flags = IOSQE_FIXED_FILE;
    sqe->addr = (uintptr_t) p;
    sqe->len = (uint32_t) len;

    ngx_http_guard_uring_op(sqe, data, NGX_HTTP_GUARD_URING_RECV, 0);
}


/*
 * Closes a slot's socket, cancelling first what still waits on it when
 * asked.  Returns how many results will come back (each with its tag), or
 * 0 when the ring had no room and the slot was emptied at once (the
 * caller may reuse it now).
 */

ngx_int_t
ngx_http_guard_uring_close(ngx_uint_t slot, void *data, ngx_uint_t cancel)
{
    int                      fd;
    ngx_int_t                n;
    struct io_uring_sqe     *sqe;
    ngx_http_guard_uring_t  *ur;
    struct io_uring_files_update  up;

    ur = ngx_http_guard_uring;

    if (ngx_http_guard_uring_reserve(cancel ? 2 : 1) == NGX_OK) {
        n = 0;

        if (cancel) {
            sqe = ngx_http_guard_uring_sqe();
            sqe->opcode = IORING_OP_ASYNC_CANCEL;
            sqe->fd = (int) slot;
            sqe->cancel_flags = IORING_ASYNC_CANCEL_FD
                                | IORING_ASYNC_CANCEL_FD_FIXED
                                | IORING_ASYNC_CANCEL_ALL;
            ngx_http_guard_uring_op(sqe, data, NGX_HTTP_GUARD_URING_CANCEL, 0);
            n++;
        }

        sqe = ngx_http_guard_uring_sqe();
        sqe->opcode = IORING_OP_CLOSE;
        sqe->file_index = (uint32_t) slot + 1;
        ngx_http_guard_uring_op(sqe, data, NGX_HTTP_GUARD_URING_CLOSE, 0);

        return n + 1;
    }

    /* no room: empty the slot now; the kernel cancels what used it */

    fd = -1;
    ngx_memzero(&up, sizeof(struct io_uring_files_update));
    up.offset = (uint32_t) slot;
    up.fds = (uintptr_t) &fd;

    if (syscall(__NR_io_uring_register, ur->fd, IORING_REGISTER_FILES_UPDATE,
                &up, 1)
        == -1)
    {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, ngx_errno,
                      "upstream guard: io_uring files update failed");
    }

    return 0;
}


static ngx_int_t
ngx_http_guard_uring_enter(unsigned submit, unsigned wait, unsigned flags,
    ngx_msec_t timeout)
{
    int                              n;
    ngx_err_t                        err;
    struct __kernel_timespec         ts;
    struct io_uring_getevents_arg    arg;
    ngx_http_guard_uring_t          *ur;

    ur = ngx_http_guard_uring;

    if (wait) {
        ngx_memzero(&arg, sizeof(struct io_uring_getevents_arg));
        ts.tv_sec = timeout / 1000;
        ts.tv_nsec = (timeout % 1000) * 1000000;
        arg.ts = (uintptr_t) &ts;
        flags |= IORING_ENTER_EXT_ARG;
    }

    for ( ;; ) {
        n = (int) syscall(__NR_io_uring_enter, ur->fd, submit, wait, flags,
                          wait ? &arg : NULL,
                          wait ? sizeof(struct io_uring_getevents_arg) : 0);

        if (n >= 0) {
            if ((unsigned) n > ur->queued) {
                n = (int) ur->queued;
            }

            ur->queued -= n;
            ur->inflight += n;

            if (ur->queued && submit) {
                /* the completion queue was full: make room, again */
                submit = ur->queued;
                flags |= IORING_ENTER_GETEVENTS;
                continue;
            }

            return NGX_OK;
        }

        err = ngx_errno;

        if (err == NGX_EINTR) {
            continue;
        }

        if (err == ETIME) {
            return NGX_OK;
        }

        if ((err == NGX_EAGAIN || err == NGX_EBUSY) && submit
            && !ur->reaping)
        {
            /* results to collect before more can be submitted */
            flags |= IORING_ENTER_GETEVENTS;
            ur->reaping = 1;
            (void) ngx_http_guard_uring_cqes();

            if (ngx_http_guard_uring != ur) {
                return NGX_ERROR;
            }

            ur->reaping = 0;
            continue;
        }

        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, err,
                      "upstream guard: io_uring_enter() failed");

        return NGX_ERROR;
    }
}


static void
ngx_http_guard_uring_post(void)
{
    ngx_http_guard_uring_t  *ur;

    ur = ngx_http_guard_uring;

    if (!ur->flush.posted) {
        ngx_post_event(&ur->flush, &ngx_posted_events);
    }
}


/* the end of a loop iteration: one submission for all, then the results */

static void
ngx_http_guard_uring_flush_handler(ngx_event_t *ev)
{
    ngx_http_guard_uring_t  *ur;

    ur = ev->data;

    if (ur->queued) {
        /*
         * What completes during the submission is collected right after
         * it: no eventfd signal for it, or epoll would wake the worker
         * once more for results already taken.
         */
        __atomic_or_fetch(ur->cq_flags, IORING_CQ_EVENTFD_DISABLED,
                          __ATOMIC_RELEASE);

        (void) ngx_http_guard_uring_enter(ur->queued, 0, 0, 0);

        __atomic_and_fetch(ur->cq_flags, ~IORING_CQ_EVENTFD_DISABLED,
                           __ATOMIC_RELEASE);
    }

    /* a socket, a connect over loopback, a send: often done already */
    ngx_http_guard_uring_reap();
}


static void
ngx_http_guard_uring_read_handler(ngx_event_t *ev)
{
    uint64_t           v;
    ngx_connection_t  *c;

    c = ev->data;

    /* reset, or a level-triggered event would wake the worker again */

    if (read(c->fd, &v, sizeof(uint64_t)) == -1 && ngx_errno != NGX_EAGAIN) {
        ngx_log_error(NGX_LOG_ALERT, ev->log, ngx_errno,
                      "upstream guard: read() of the io_uring eventfd "
                      "failed");
    }

    ngx_http_guard_uring_reap();
}


/*
 * Hands every posted result to the handler (the handler may queue more,
 * which the posted flush submits); results the completion queue had no
 * room for are kept by the kernel until asked for.
 */

void
ngx_http_guard_uring_reap(void)
{
    ngx_uint_t               n;
    ngx_http_guard_uring_t  *ur;

    ur = ngx_http_guard_uring;

    if (ur == NULL || ur->reaping) {
        return;
    }

    ur->reaping = 1;

    for ( ;; ) {
        n = ngx_http_guard_uring_cqes();

        if (ngx_http_guard_uring != ur) {
            /* the handler ended the leadership: the ring is gone */
            return;
        }

        if (!(__atomic_load_n(ur->sq_flags, __ATOMIC_ACQUIRE)
              & IORING_SQ_CQ_OVERFLOW))
        {
            break;
        }

        (void) ngx_http_guard_uring_enter(0, 0, IORING_ENTER_GETEVENTS, 0);

        if (n == 0) {
            (void) ngx_http_guard_uring_cqes();
            break;
        }
    }

    ur->reaping = 0;

    ngx_http_guard_uring_expect();
}


/*
 * Results may come as task work, which interrupts epoll_wait(): nginx
 * takes that as timer_resolution's signal and says nothing.
 */

static void
ngx_http_guard_uring_expect(void)
{
    if (ngx_http_guard_uring && ngx_http_guard_uring->inflight) {
        ngx_event_timer_alarm = 1;
    }
}


static ngx_uint_t
ngx_http_guard_uring_cqes(void)
{
    int                      res;
    void                    *data;
    unsigned                 head;
    uintptr_t                ud;
    ngx_uint_t               n;
    struct io_uring_cqe     *cqe;
    ngx_http_guard_uring_t  *ur;

    ur = ngx_http_guard_uring;
    n = 0;

    /* the head is read again each time: a handler may have moved it */

    while (ur != NULL) {
        head = *ur->cq_head;

        if (head == __atomic_load_n(ur->cq_tail, __ATOMIC_ACQUIRE)) {
            break;
        }

        cqe = &ur->cqes[head & ur->cq_mask];
        ud = (uintptr_t) cqe->user_data;
        res = cqe->res;

        __atomic_store_n(ur->cq_head, head + 1, __ATOMIC_RELEASE);

        if (ur->inflight) {
            ur->inflight--;
        }

        n++;

        if (ud == 0) {
            /* the ring's own: the pipe test, the final cancel */
            continue;
        }

        data = (void *) (ud & ~(uintptr_t) 7);

        ur->handler(data, ud & 7, res);

        if (ngx_http_guard_uring != ur) {
            break;
        }
    }

    return n;
}


#else /* !NGX_HAVE_GUARD_URING */


ngx_int_t
ngx_http_guard_uring_init(ngx_cycle_t *cycle, ngx_uint_t slots,
    ngx_http_guard_uring_handler_pt handler)
{
    ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                  "upstream guard: built without io_uring, "
                  "checks use epoll");
    return NGX_DECLINED;
}


void
ngx_http_guard_uring_done(void)
{
}


ngx_uint_t
ngx_http_guard_uring_active(void)
{
    return 0;
}


ngx_int_t
ngx_http_guard_uring_reserve(ngx_uint_t n)
{
    return NGX_ERROR;
}


ngx_int_t
ngx_http_guard_uring_slot_get(void)
{
    return NGX_ERROR;
}


void
ngx_http_guard_uring_slot_put(ngx_uint_t slot)
{
}


void
ngx_http_guard_uring_socket(ngx_uint_t slot, struct sockaddr *sa, void *data,
    ngx_uint_t flags)
{
}


void
ngx_http_guard_uring_connect(ngx_uint_t slot, struct sockaddr *sa,
    socklen_t len, void *data, ngx_uint_t flags)
{
}


void
ngx_http_guard_uring_send(ngx_uint_t slot, u_char *p, size_t len, void *data,
    ngx_uint_t flags)
{
}


void
ngx_http_guard_uring_recv(ngx_uint_t slot, u_char *p, size_t len, void *data)
{
}


ngx_int_t
ngx_http_guard_uring_close(ngx_uint_t slot, void *data, ngx_uint_t cancel)
{
    return 0;
}


void
ngx_http_guard_uring_reap(void)
{
}


#endif
