
/*
 * Copyright (C) nginx-upstream-guard authors
 * BSD 2-clause licence, see LICENSE.
 *
 * scripts/bench's floor: the system calls one HTTP check over a new
 * connection makes in nginx with the module (strace of its checking
 * worker), with nothing around them:
 *
 *   socket, ioctl(FIONBIO), epoll_ctl(ADD), connect, send, recv, close
 *
 * and the epoll_wait calls that wake for them, at a steady rate against one
 * server, started on a grid as the module starts its checks: every check
 * due within half a grid of a grid point starts at that point, and one
 * epoll_wait sleeps from the last event until the next point (GRID 1: one
 * wake-up per millisecond, as nginx's timers without a grid).  Prints the
 * CPU they cost the process (getrusage) per check, user and system apart.
 * No event loop, timers, pools or parsing: what no checker making these
 * calls at that rate on that grid can go below on this machine.
 *
 *   floor PORT CHECKS RATE GRID REQUEST  (RATE: checks per second; GRID: ms)
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
#include <stdint.h>
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


#define FLOOR_BATCH  4096

/* the checks of one grid point: start them all, then serve their events */

static int
floor_batch(int ep, struct sockaddr_in *sa, const char *req, size_t len,
    int n)
{
    int                 fd[FLOOR_BATCH], sent[FLOOR_BATCH];
    int                 i, k, m, on, ok, left;
    char                buf[24576];
    ssize_t             r;
    struct timespec     ts;
    struct epoll_event  ee, ev[512];

    ok = 0;
    left = 0;

    for (i = 0; i < n; i++) {
        fd[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (fd[i] == -1) {
            perror("floor: socket");
            continue;
        }

        on = 1;
        (void) ioctl(fd[i], FIONBIO, &on);

        ee.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        ee.data.u32 = (uint32_t) i;
        (void) epoll_ctl(ep, EPOLL_CTL_ADD, fd[i], &ee);

        sent[i] = 0;

        if (connect(fd[i], (struct sockaddr *) sa, sizeof(*sa)) == -1
            && errno != EINPROGRESS)
        {
            (void) close(fd[i]);
            fd[i] = -1;
            continue;
        }

        left++;
    }

    while (left) {
        m = epoll_wait(ep, ev, 512, 1000);

        /* as nginx's ngx_time_update() after each epoll_wait() */
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        (void) clock_gettime(CLOCK_REALTIME, &ts);

        if (m <= 0) {
            break;
        }

        for (k = 0; k < m; k++) {
            i = (int) ev[k].data.u32;

            if (fd[i] == -1) {
                continue;
            }

            if (!sent[i] && (ev[k].events & EPOLLOUT)) {
                if (send(fd[i], req, len, 0) != (ssize_t) len) {
                    goto done;
                }
                sent[i] = 1;
            }

            if (!sent[i] || !(ev[k].events & (EPOLLIN | EPOLLRDHUP))) {
                continue;
            }

            r = recv(fd[i], buf, sizeof(buf), 0);

            if (r == -1 && errno == EAGAIN) {
                continue;
            }

            ok += (r >= 12 && memcmp(buf, "HTTP/1.", 7) == 0
                   && memcmp(buf + 9, "200", 3) == 0);

        done:

            (void) close(fd[i]);
            fd[i] = -1;
            left--;
        }
    }

    for (i = 0; i < n; i++) {
        if (fd[i] != -1) {
            (void) close(fd[i]);
        }
    }

    return ok;
}


int
main(int argc, char **argv)
{
    int                 ep, i, n, b, ok, grid;
    long                point;
    double              rate, start, wait;
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

    if (argc != 6 || (n = atoi(argv[2])) <= 0 || (rate = atof(argv[3])) <= 0
        || (grid = atoi(argv[4])) <= 0)
    {
        fprintf(stderr, "usage: floor PORT CHECKS RATE GRID REQUEST\n"
                        "       floor syscall N\n");
        return 2;
    }

    req = argv[5];

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

    for (i = 0; i < n; i += b) {

        /* the grid point nearest to check i's due time, and who else */

        point = (long) ((i * 1e3 / rate) / grid + 0.5);

        for (b = 1; i + b < n && b < FLOOR_BATCH; b++) {
            if ((long) (((i + b) * 1e3 / rate) / grid + 0.5) != point) {
                break;
            }
        }

        /* nginx's timers have a resolution of a millisecond, so has this */

        wait = start + point * grid - floor_now();
        floor_wait(ep, wait > 0 ? (int) wait + 1 : 0);

        ok += floor_batch(ep, &sa, req, strlen(req), b);
    }

    getrusage(RUSAGE_SELF, &r1);

    printf("%d %d %.3f %.3f\n", n, ok,
           floor_us(&r0.ru_utime, &r1.ru_utime) / n,
           floor_us(&r0.ru_stime, &r1.ru_stime) / n);

    return ok == n ? 0 : 1;
}
