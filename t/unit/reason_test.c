
/*
 * Copyright (C) nginx-upstream-guard authors
 *
 * Redistribution and use in source and binary forms, with or without
 * modification, are permitted provided that the following conditions
 * are met:
 * 1. Redistributions of source code must retain the above copyright
 *    notice, this list of conditions and the following disclaimer.
 * 2. Redistributions in binary form must reproduce the above copyright
 *    notice, this list of conditions and the following disclaimer in the
 *    documentation and/or other materials provided with the distribution.
 *
 * THIS SOFTWARE IS PROVIDED BY THE AUTHORS AND CONTRIBUTORS ``AS IS'' AND
 * ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE
 * IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE
 * ARE DISCLAIMED.  IN NO EVENT SHALL THE AUTHORS OR CONTRIBUTORS BE LIABLE
 * FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL
 * DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS
 * OR SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION)
 * HOWEVER CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT
 * LIABILITY, OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY
 * OUT OF THE USE OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF
 * SUCH DAMAGE.
 */


/*
 * Unit tests of the classes of check failure reasons,
 * ngx_http_guard_reason.c.  Built and run by scripts/unit, which gives
 * the module's source directory as NGX_HTTP_GUARD_SRC.
 *
 * 1. Every reason the module gives, as its sources write it, is in the
 *    table below with its class (the README's list of reasons is this
 *    table), and the classifier agrees, also with the formats filled in.
 * 2. The sources are searched for the statements that give a reason (a
 *    check's failure, a parser's error, a reason copied or printed into
 *    a buffer): every string in them must be in the table.  A new reason
 *    that is not fails this test, so none falls into "other" unseen.
 *
 * The last line printed is "N passed, N failed"; the exit code is
 * non-zero on any failure.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_guard_reason.h"


#ifndef NGX_HTTP_GUARD_SRC
#define NGX_HTTP_GUARD_SRC  "ngx_module"
#endif

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (cond) {                                                          \
            passed++;                                                        \
        } else {                                                             \
            failed++;                                                        \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);           \
        }                                                                    \
    } while (0)

#define REFUSED   NGX_HTTP_GUARD_REASON_REFUSED
#define CONNECT   NGX_HTTP_GUARD_REASON_CONNECT
#define TIMEOUT   NGX_HTTP_GUARD_REASON_TIMEOUT
#define TLS       NGX_HTTP_GUARD_REASON_TLS
#define STATUS    NGX_HTTP_GUARD_REASON_STATUS
#define HEADER    NGX_HTTP_GUARD_REASON_HEADER
#define BODY      NGX_HTTP_GUARD_REASON_BODY
#define REGEX     NGX_HTTP_GUARD_REASON_REGEX
#define PROTOCOL  NGX_HTTP_GUARD_REASON_PROTOCOL
#define RESET     NGX_HTTP_GUARD_REASON_RESET
#define OTHER     NGX_HTTP_GUARD_REASON_OTHER


typedef struct {
    const char  *source;        /* as the sources write it */
    const char  *example;       /* as a check gives it */
    unsigned     class;
    unsigned     seen;          /* found in the sources */
} reason_t;


/* statements that give a reason, and what goes before their strings */
typedef struct {
    const char  *start;
    const char  *prefix;
} sink_t;


static void test_table(void);
static void test_sources(void);
static void scan(const char *file);
static reason_t *find(const char *source);
static void test_classes(void);


static unsigned  passed;
static unsigned  failed;


/* every reason the module gives */

static reason_t  reasons[] = {

    /* check.c: connecting */
    { "connect refused", "connect refused", REFUSED, 0 },
    { "connect failed: %s", "connect failed: Network is unreachable",
      CONNECT, 0 },

    /* check.c: any phase; the phases are the check's */
    { "timeout (%s)", "timeout (connect)", TIMEOUT, 0 },

    /* check.c: TLS */
    { "tls setup failed", "tls setup failed", TLS, 0 },
    { "tls server name failed", "tls server name failed", TLS, 0 },
    { "tls handshake failed", "tls handshake failed", TLS, 0 },
    { "certificate verify failed: %s",
      "certificate verify failed: certificate has expired", TLS, 0 },
    { "certificate does not match \\\"%V\\\"",
      "certificate does not match \"a.example\"", TLS, 0 },

    /* check.c, match.c: status rules; proto.c */
    { "status %ui", "status 503", STATUS, 0 },
    { "mysql error packet", "mysql error packet", STATUS, 0 },
    { "bad fastcgi status", "bad fastcgi status", STATUS, 0 },

    /* match.c */
    { "header %V missing", "header X-Ready missing", HEADER, 0 },
    { "header %V present", "header X-Maintenance present", HEADER, 0 },
    { "header %V mismatch", "header X-Role mismatch", HEADER, 0 },
    { "header %V matched", "header X-Role matched", HEADER, 0 },
    { "header %V %s", "header X-Ready missing", HEADER, 0 },
    { "header %*s... %s",
      "header X-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa... missing",
      HEADER, 0 },
    { "body matched", "body matched", BODY, 0 },
    { "body mismatch", "body mismatch", BODY, 0 },
    { "regex limit", "regex limit", REGEX, 0 },
    { "regex error", "regex error", REGEX, 0 },

    /* parse.c: HTTP responses */
    { "no response", "no response", PROTOCOL, 0 },
    { "truncated response", "truncated response", PROTOCOL, 0 },
    { "bad status line", "bad status line", PROTOCOL, 0 },
    { "bad header", "bad header", PROTOCOL, 0 },
    { "headers too large", "headers too large", PROTOCOL, 0 },
    { "too many headers", "too many headers", PROTOCOL, 0 },
    { "bad content-length", "bad content-length", PROTOCOL, 0 },
    { "bad transfer-encoding", "bad transfer-encoding", PROTOCOL, 0 },
    { "too many interim responses", "too many interim responses",
      PROTOCOL, 0 },
    { "bad chunk", "bad chunk", PROTOCOL, 0 },
    { "chunk size overflow", "chunk size overflow", PROTOCOL, 0 },
    { "trailers too large", "trailers too large", PROTOCOL, 0 },

    /* check.c: a reply that does not fit */
    { "response too large", "response too large", PROTOCOL, 0 },

    /* proto.c: MySQL, AJP, FastCGI */
    { "bad mysql greeting", "bad mysql greeting", PROTOCOL, 0 },
    { "bad ajp reply", "bad ajp reply", PROTOCOL, 0 },
    { "bad fastcgi record", "bad fastcgi record", PROTOCOL, 0 },
    { "fastcgi headers too large", "fastcgi headers too large",
      PROTOCOL, 0 },
    { "no fastcgi output", "no fastcgi output", PROTOCOL, 0 },

    /* check.c: the connection */
    { "connection reset", "connection reset", RESET, 0 },
    { "send failed", "send failed", RESET, 0 },
    { "event error", "event error", RESET, 0 },

    /* the module's own trouble, not the server's */
    { "out of memory", "out of memory", OTHER, 0 },
    { "io_uring full", "io_uring full", OTHER, 0 },
    { "internal error", "internal error", OTHER, 0 },

    { NULL, NULL, 0, 0 }
};


static const sink_t  sinks[] = {
    { "ngx_http_guard_check_fail(chk,", "" },
    { "ngx_http_guard_error(st,", "" },
    { "ngx_http_guard_fcgi_fail(f,", "" },
    { "reason = ", "" },
    { "ngx_cpystrn(reason,", "" },
    { "ngx_http_guard_snprintz(reason,", "" },
    { "ngx_http_guard_match_header_reason(reason,", "header %V " },
    { NULL, NULL }
};


/* the files that give reasons */

static const char  *files[] = {
    "ngx_http_guard_check.c",
    "ngx_http_guard_match.c",
    "ngx_http_guard_parse.c",
    "ngx_http_guard_proto.c",
    "ngx_http_guard_uring.c",
    "ngx_http_guard_agent.c",
    NULL
};


int
main(void)
{
    test_table();
    test_sources();
    test_classes();

    printf("%u passed, %u failed\n", passed, failed);

    return failed ? 1 : 0;
}


static void
test_table(void)
{
    unsigned   class;
    reason_t  *r;

    for (r = reasons; r->source; r++) {
        class = ngx_http_guard_reason_class((const unsigned char *)
                                            r->example);
        if (class == r->class) {
            passed++;
            continue;
        }

        failed++;
        printf("FAIL \"%s\" is %s, not %s\n", r->example,
               ngx_http_guard_reason_names[class],
               ngx_http_guard_reason_names[r->class]);
    }
}


static void
test_sources(void)
{
    const char  **f;
    reason_t     *r;

    for (f = files; *f; f++) {
        scan(*f);
    }

    /* and the table has no reason the sources no longer give */

    for (r = reasons; r->source; r++) {
        if (r->seen) {
            passed++;
            continue;
        }

        failed++;
        printf("FAIL \"%s\" is in the table, but no source gives it\n",
               r->source);
    }
}


/*
 * Every statement of the file that starts with a sink, to its ";": each
 * string in it (adjacent ones joined), after the sink's prefix, must be a
 * reason of the table; a string that is only a format ("%s") passes a
 * reason on that is checked where it is made.
 */

static void
scan(const char *file)
{
    char           path[1024], lit[512];
    char          *text, *p, *q, *end;
    long           size;
    size_t         len, n;
    FILE          *fp;
    reason_t      *r;
    const sink_t  *s;

    snprintf(path, sizeof(path), "%s/%s", NGX_HTTP_GUARD_SRC, file);

    fp = fopen(path, "rb");
    if (fp == NULL) {
        failed++;
        printf("FAIL cannot open %s\n", path);
        return;
    }

    fseek(fp, 0, SEEK_END);
    size = ftell(fp);
    fseek(fp, 0, SEEK_SET);

    text = malloc(size + 1);
    if (text == NULL || fread(text, 1, size, fp) != (size_t) size) {
        abort();
    }

    text[size] = '\0';
    fclose(fp);

    for (s = sinks; s->start; s++) {

        for (p = strstr(text, s->start); p; p = strstr(p + 1, s->start)) {

            /* a part of a longer name */
            if (p > text && p[-1] == '_') {
                continue;
            }

            end = p + strlen(s->start);
            len = strlen(s->prefix);
            memcpy(lit, s->prefix, len);

            for (q = end; *q && *q != ';'; q++) {

                if (*q != '"') {
                    continue;
                }

                /* a string, and those right after it */

                for ( ;; ) {
                    for (q++; *q && *q != '"'; q++) {
                        n = (*q == '\\') ? 2 : 1;

                        if (len + n >= sizeof(lit)) {
                            abort();
                        }

                        memcpy(lit + len, q, n);
                        len += n;
                        q += n - 1;
                    }

                    end = q + 1;

                    while (*end == ' ' || *end == '\n') {
                        end++;
                    }

                    if (*end != '"') {
                        break;
                    }

                    q = end;
                }

                lit[len] = '\0';

                if (strcmp(lit, "%s") != 0) {
                    r = find(lit);

                    if (r) {
                        r->seen = 1;
                        passed++;

                    } else {
                        failed++;
                        printf("FAIL %s gives \"%s\", which is not in the "
                               "table of reasons (t/unit/reason_test.c): "
                               "give it a class\n", file, lit);
                    }
                }

                len = strlen(s->prefix);
            }
        }
    }

    free(text);
}


static reason_t *
find(const char *source)
{
    reason_t  *r;

    for (r = reasons; r->source; r++) {
        if (strcmp(r->source, source) == 0) {
            return r;
        }
    }

    return NULL;
}


/* the classifier's edges */

static void
test_classes(void)
{
    unsigned  i;

    CHECK(ngx_http_guard_reason_class(NULL) == OTHER);
    CHECK(ngx_http_guard_reason_class((const unsigned char *) "") == OTHER);
    CHECK(ngx_http_guard_reason_class((const unsigned char *) "maintenance")
          == OTHER);

    /* a longer status, a cut header reason */
    CHECK(ngx_http_guard_reason_class((const unsigned char *)
                                      "status 999") == STATUS);
    CHECK(ngx_http_guard_reason_class((const unsigned char *)
              "header X-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa... missing")
          == HEADER);

    /* the names of the classes, "other" last */
    CHECK(NGX_HTTP_GUARD_REASONS == 11);
    CHECK(strcmp(ngx_http_guard_reason_names[OTHER], "other") == 0);

    for (i = 0; i < NGX_HTTP_GUARD_REASONS; i++) {
        CHECK(ngx_http_guard_reason_names[i] != NULL);
    }
}
