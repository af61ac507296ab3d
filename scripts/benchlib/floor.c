
/*
 * Copyright (C) nginx-upstream-guard authors
 * BSD 2-clause licence, see LICENSE.
 *
 * scripts/bench's floor: the system calls one HTTP check over a new
 * connection makes in nginx with the module (strace of its checking
 * worker), in the same order, with nothing around them:
 *
 *   epoll_wait (the timer's wake-up), socket, ioctl(FIONBIO),
 *   epoll_ctl(ADD), connect, epoll_wait (writable), send,
 *   epoll_wait (readable), recv, close
 *
 * at a steady rate against one server (the first epoll_wait sleeps until
 * the next check is due, as the checking worker does between checks, so
 * that the calls pay what a wake-up costs), and the CPU they cost the
 * process (getrusage) per check, user and system apart.  No event loop,
 * timers, pools or parsing: what no checker making these calls at that
 * rate can go below on this machine.
 *
 *   floor PORT CHECKS RATE REQUEST      (RATE: checks per second)
 *
 * prints "checks OK user_us sys_us"; exits 1 when a check did not get an
 * HTTP 200 (a floor that did not do the work would be no floor).
 *
 *   floor syscall N
 *
 * makes N getppid() system calls, the cheapest there is, and prints
 * "N user_us sys_us" per call: what entering and leaving the kernel alone
 * costs on this machine (a kernel with page-table isolation, or a virtual
 * machine, makes it cost user time too).
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>


static double
floor_us(struct timeval *a, struct timeval *b)
{
    return (b->tv_sec - a->tv_sec) * 1e6 + (b->tv_usec - a->tv_usec);
}


/* as nginx's ngx_time_update() after each epoll_wait() */

static void
floor_wait(int ep, int ms)
{
    struct timespec     ts;
    struct epoll_event  ev;

    (void) epoll_wait(ep, &ev, 1, ms);
    (void) clock_gettime(CLOCK_MONOTONIC, &ts);
    (void) clock_gettime(CLOCK_REALTIME, &ts);
}


static double
floor_now(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}


static int
floor_check(int ep, struct sockaddr_in *sa, const char *req, size_t len,
    double due)
{
    int                 s, on, ok;
    double              wait;
    char                buf[24576];
    ssize_t             n;
    struct epoll_event  ee;

    /* nginx's timers have a resolution of a millisecond, so has this */

    wait = due - floor_now();
    floor_wait(ep, wait > 0 ? (int) wait + 1 : 0);

    s = socket(AF_INET, SOCK_STREAM, 0);
    if (s == -1) {
        perror("floor: socket");
        return -1;
    }

    on = 1;
    (void) ioctl(s, FIONBIO, &on);

    ee.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ee.data.fd = s;
    (void) epoll_ctl(ep, EPOLL_CTL_ADD, s, &ee);

    ok = 0;

    if (connect(s, (struct sockaddr *) sa, sizeof(*sa)) == -1
        && errno != EINPROGRESS)
    {
        goto done;
    }

    floor_wait(ep, 1000);

    if (send(s, req, len, 0) != (ssize_t) len) {
        goto done;
    }

    for ( ;; ) {
        n = recv(s, buf, sizeof(buf), 0);

        if (n == -1 && errno == EAGAIN) {
            floor_wait(ep, 1000);
            continue;
        }

        ok = (n >= 12 && memcmp(buf, "HTTP/1.", 7) == 0
              && memcmp(buf + 9, "200", 3) == 0);
        break;
    }

done:

    (void) close(s);

    return ok;
}


int
main(int argc, char **argv)
{
    int                 ep, i, n, ok;
    double              rate, start;
    const char         *req;
    struct rusage       r0, r1;
    struct sockaddr_in  sa;

    if (argc == 3 && strcmp(argv[1], "syscall") == 0
        && (n = atoi(argv[2])) > 0)
    {
        getrusage(RUSAGE_SELF, &r0);

        for (i = 0; i < n; i++) {
            /* not glibc's getppid(): nothing may answer it in user space */
            (void) syscall(SYS_getppid);
        }

        getrusage(RUSAGE_SELF, &r1);

        printf("%d %.3f %.3f\n", n, floor_us(&r0.ru_utime, &r1.ru_utime) / n,
               floor_us(&r0.ru_stime, &r1.ru_stime) / n);

        return 0;
    }

    if (argc != 5 || (n = atoi(argv[2])) <= 0 || (rate = atof(argv[3])) <= 0)
    {
        fprintf(stderr, "usage: floor PORT CHECKS RATE REQUEST\n"
                        "       floor syscall N\n");
        return 2;
    }

    req = argv[4];

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short) atoi(argv[1]));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    ep = epoll_create1(0);
    if (ep == -1) {
        perror("floor: epoll_create1");
        return 2;
    }

    ok = 0;
    getrusage(RUSAGE_SELF, &r0);
    start = floor_now();

    for (i = 0; i < n; i++) {
        if (floor_check(ep, &sa, req, strlen(req), start + i * 1e3 / rate)
            == 1)
        {
            ok++;
        }
    }

    getrusage(RUSAGE_SELF, &r1);

    printf("%d %d %.3f %.3f\n", n, ok,
           floor_us(&r0.ru_utime, &r1.ru_utime) / n,
           floor_us(&r0.ru_stime, &r1.ru_stime) / n);

    return ok == n ? 0 : 1;
}
