# Checks against servers that misbehave in time or size: the timeout is
# the configured one, a regex cannot hog the checking worker, hostile
# chunk sizes and dripping FastCGI servers are refused within bounds,
# kept-alive connections closed by the server are not failures, a
# failure is logged once per change, and hung servers of one upstream do
# not starve another's checks.
use lib 't/lib';
use Guard;
use Test::Nginx::Socket 'no_plan';
use Time::HiRes ();

# poll(\&code, $secs, $what) -> the first true result of code; fails the
# test, saying what the last try saw, when none came within $secs
sub poll {
    my ($code, $secs, $what) = @_;
    my $end = Time::HiRes::time() + $secs;
    my $saw;
    while (1) {
        my ($ok, $seen) = eval { $code->() };
        $saw = $@ ? "error: $@" : $seen;
        return $ok if $ok;
        last if Time::HiRes::time() >= $end;
        Time::HiRes::sleep(0.1);
    }
    Test::More::fail("$what within ${secs}s; last saw: " . ($saw // 'nothing'));
    return undef;
}

# server($upstream, $port) -> the server's row of the status report, or dies
sub server {
    my ($up, $port) = @_;
    my $st = Guard::guard_status() or die "no status: $Guard::ERROR\n";
    my $s = Guard::server_state($st, $up, "127.0.0.1:$port");
    return $s if $s;
    die "no server 127.0.0.1:$port in \"$up\"\n";
}

# rss($pid) -> resident kB of $pid; fails the test (and returns undef)
# when /proc cannot tell
sub rss {
    my ($pid) = @_;
    if (open my $f, '<', "/proc/$pid/status") {
        while (<$f>) { return $1 if /^VmRSS:\s+(\d+)/ }
    }
    Test::More::fail("no VmRSS of process " . ($pid // 'undef') . ": $!");
    return undef;
}

# asan() -> true when the tested nginx has AddressSanitizer (freed memory
# waits in its quarantine: RSS says nothing)
sub asan {
    my $nginx = $ENV{TEST_NGINX_BINARY} || 'nginx';
    return (qx{$nginx -V 2>&1} // '') =~ /-fsanitize=[a-z,]*address/;
}

sub row { my $s = shift; join ' ', map { "$_=" . ($s->{$_} // 'undef') }
          qw(health checks checks_failed last_check_duration_ms) }

# TEST 1's servers listen before its nginx starts checking them
Guard::start_hostile('slow:1900', $ENV{TEST_NGINX_B8}, lifetime => 120);
Guard::start_hostile('silent', $ENV{TEST_NGINX_B9}, lifetime => 120);

no_shuffle();
check_accum_error_log();
no_root_location();
run_tests();

__DATA__

=== TEST 1: the timeout is the configured one, not twice as long
--- http_config
    upstream slow {
        server 127.0.0.1:$TEST_NGINX_B8;
        guard_check http interval=500ms timeout=1s fall=1 rise=1;
    }
    upstream silent {
        server 127.0.0.1:$TEST_NGINX_B9;
        guard_check http interval=500ms timeout=1s fall=1 rise=1;
    }
--- config
    location = /guard { guard_status; }
--- init
# a server answering in 1.9 s fails a 1 s timeout, every time
main::poll(sub { my $s = main::server('slow', $ENV{TEST_NGINX_B8});
                 ($s->{checks} >= 3, main::row($s)) }, 15, 'three checks');
my $s = main::server('slow', $ENV{TEST_NGINX_B8});
Test::More::is($s->{checks_failed}, $s->{checks}, 'every check of the slow server '
               . 'failed: ' . main::row($s));
Test::More::is(Guard::reason($s), 'timeout (response)', 'reason');
# a silent server fails after 1 s, not 2 s
main::poll(sub { my $s = main::server('silent', $ENV{TEST_NGINX_B9});
                 ($s->{checks} >= 2, main::row($s)) }, 15, 'two checks');
$s = main::server('silent', $ENV{TEST_NGINX_B9});
Test::More::ok($s->{last_check_duration_ms} >= 950 && $s->{last_check_duration_ms} < 1600,
               'the silent server failed after about 1 s: ' . main::row($s));
Guard::stop_hostile($ENV{"TEST_NGINX_B$_"}) for 8, 9;
--- request
GET /guard
--- response_body_like: "name":"silent"
--- no_error_log
[crit]
[emerg]



=== TEST 2: a backtracking regex fails the check with "regex limit", fast
--- http_config
    guard_match evil { body ~ "(a+)+$"; }
    guard_match evilnot { body !~ "(a+)+$"; }
    upstream evil {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http uri=/aaa interval=100ms fall=1 rise=1 match=evil;
    }
    upstream evilnot {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http uri=/aaa interval=100ms fall=1 rise=1
                    match=evilnot;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B1;
        location = /aaa { return 200 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab"; }
        location = /fast { return 200 "fast\n"; }
    }
--- config
    location = /guard { guard_status; }
--- init
for my $up (qw(evil evilnot)) {
    main::poll(sub { my $s = main::server($up, $ENV{TEST_NGINX_B1});
                     ($s->{checks} >= 3, main::row($s)) }, 15, "$up checked");
    my $s = main::server($up, $ENV{TEST_NGINX_B1});
    Test::More::is(Guard::reason($s), 'regex limit',
                   "$up: the check fails on the limit: " . main::row($s));
    Test::More::is($s->{checks_failed}, $s->{checks}, "$up: every check failed");
    Test::More::cmp_ok($s->{last_check_duration_ms}, '<', 100,
                       "$up: the check ended fast: " . main::row($s));
}
# nginx -t says which pattern may backtrack without end
my $root = $ENV{TEST_NGINX_SERVROOT} || "$ENV{TEST_NGINX_PWD}/t/servroot";
my $nginx = $ENV{TEST_NGINX_BINARY} || 'nginx';
my $out = qx{$nginx -p $root/ -c $root/conf/nginx.conf -t 2>&1} // '';
Test::More::like($out, qr/\[warn\].*guard_match regex "\(a\+\)\+\$" nests unbounded repeats/,
                 'nginx -t warns about the pattern');
Test::More::like($out, qr/test is successful/, 'nginx -t succeeds') or Test::More::diag($out);
# the checking worker (the only one) keeps serving clients at once
my ($max, @slow) = (0);
for (1 .. 30) {
    my $t0 = Time::HiRes::time();
    my $st = Guard::http_get('/fast', $ENV{TEST_NGINX_B1});
    my $ms = int((Time::HiRes::time() - $t0) * 1000);
    Test::More::fail("GET /fast: " . ($st // $Guard::ERROR)) unless ($st // 0) == 200;
    $max = $ms if $ms > $max;
    Time::HiRes::sleep(0.03);
}
Test::More::cmp_ok($max, '<', 150, "client requests stay fast (slowest ${max} ms)");
--- request
GET /guard
--- response_body_like: "name":"evilnot"
--- no_error_log
[crit]
[emerg]



=== TEST 3: a chunk size that overflows 63 bits fails the check
--- http_config
    upstream bomb {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http interval=100ms http=1.1 fall=1 rise=1
                    body_limit=16;
    }
--- config
    location = /guard { guard_status; }
--- init
Guard::start_hostile('chunkbomb', $ENV{TEST_NGINX_B1}, lifetime => 30);
main::poll(sub { my $s = main::server('bomb', $ENV{TEST_NGINX_B1});
                 ($s->{checks} >= 3, main::row($s)) }, 15, 'three checks');
my $s = main::server('bomb', $ENV{TEST_NGINX_B1});
Test::More::is(Guard::reason($s), 'chunk size overflow',
               'the check fails on the size: ' . main::row($s));
Test::More::is($s->{checks_failed}, $s->{checks}, 'every check failed');
Guard::stop_hostile($ENV{TEST_NGINX_B1});
--- request
GET /guard
--- response_body_like: "health":"down"
--- no_error_log
[crit]
[emerg]



=== TEST 4: FastCGI servers dripping a reply do not grow the checker
--- http_config
    upstream drip {
        server 127.0.0.1:$TEST_NGINX_B1;
        server 127.0.0.1:$TEST_NGINX_B2;
        server 127.0.0.1:$TEST_NGINX_B3;
        server 127.0.0.1:$TEST_NGINX_B4;
        check interval=100 rise=1 fall=1 timeout=5000 type=fastcgi;
    }
--- config
    location = /guard { guard_status; }
--- init
Guard::start_hostile('fastcgi-drip', $ENV{"TEST_NGINX_B$_"}, lifetime => 30)
    for 1 .. 4;
my $pid = main::poll(sub { my $st = Guard::guard_status();
                           ($st && $st->{leader_pid}, $Guard::ERROR) },
                     10, 'a checking worker');
# the first checks are dripping now; 3 s more are about 3000 reads each
Time::HiRes::sleep(0.5);
my $before = main::rss($pid);
my $peak = $before;
for (1 .. 12) {
    Time::HiRes::sleep(0.25);
    my $now = main::rss($pid);
    $peak = $now if defined $now && defined $peak && $now > $peak;
}
SKIP: {
    Test::More::skip('nginx built with AddressSanitizer', 1) if main::asan();
    Test::More::ok(defined $before && $peak - $before < 4096,
                   "checker RSS grew by less than 4 MiB ("
                   . ($before // 'undef') . " kB -> $peak kB)");
}
Guard::stop_hostile($ENV{"TEST_NGINX_B$_"}) for 1 .. 4;
--- request
GET /guard
--- response_body_like: "name":"drip"
--- no_error_log
[crit]
[emerg]



=== TEST 5: a kept-alive connection the server closed is not a failure
--- http_config
    upstream ka {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http interval=100ms http=1.1 keepalive=100 fall=1
                    rise=1 initial=down;
    }
--- config
    location = /guard { guard_status; }
--- init
Guard::start_hostile('kaclose', $ENV{TEST_NGINX_B1}, lifetime => 30, log => 1);
# the first checks may have found no listener yet
main::poll(sub { my $s = main::server('ka', $ENV{TEST_NGINX_B1});
                 ($s->{health} eq 'up', main::row($s)) }, 15, 'up');
my $s0 = main::server('ka', $ENV{TEST_NGINX_B1});
my $conns0 = Guard::hostile_log_count($ENV{TEST_NGINX_B1});
main::poll(sub { my $s = main::server('ka', $ENV{TEST_NGINX_B1});
                 ($s->{checks} >= $s0->{checks} + 12, main::row($s)) },
           15, 'twelve more checks');
my $s = main::server('ka', $ENV{TEST_NGINX_B1});
Test::More::is($s->{checks_failed} - $s0->{checks_failed}, 0,
               'no check failed: ' . main::row($s0) . ' -> ' . main::row($s));
Test::More::is($s->{health}, 'up', 'the server stayed up');
# every check reused the connection of the one before, which the server
# closed on the reused request: each needed a new connection
my $conns = Guard::hostile_log_count($ENV{TEST_NGINX_B1}) - $conns0;
Test::More::cmp_ok($conns, '>=', 11, "new connections for the checks ($conns)");
Guard::stop_hostile($ENV{TEST_NGINX_B1});
--- request
GET /guard
--- response_body_like: "name":"ka"
--- no_error_log
[crit]
[emerg]



=== TEST 6: a failure is logged once per change, not once per check
--- http_config
    upstream tls {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check https interval=100ms timeout=1s fall=1 rise=1;
    }
    upstream nosock {
        server unix:$TEST_NGINX_PWD/t/servroot/logs/no-such.sock;
        guard_check http interval=100ms timeout=1s fall=1 rise=1;
    }
--- config
    location = /guard { guard_status; }
--- init
Guard::start_hostile('tlsbadlen', $ENV{TEST_NGINX_B1}, lifetime => 30);
main::poll(sub { my $s = main::server('tls', $ENV{TEST_NGINX_B1});
                 ($s->{checks} >= 10 && Guard::reason($s) ne 'connect refused',
                  main::row($s)) }, 15, 'ten checks');
main::poll(sub { my $u = Guard::upstream_state(Guard::guard_status(), 'nosock');
                 ($u->{servers}[0]{checks} >= 10, main::row($u->{servers}[0])) },
           15, 'ten checks of the missing socket');
my $s = main::server('tls', $ENV{TEST_NGINX_B1});
Test::More::is(Guard::reason($s), 'tls handshake failed', 'tls reason');
# one "is down" line each: the failure reason once per change
my $log = ($ENV{TEST_NGINX_SERVROOT} || "$ENV{TEST_NGINX_PWD}/t/servroot")
          . "/logs/error.log";
open my $fh, '<', $log or Test::More::fail("$log: $!");
my ($tls, $sock) = (0, 0);
while (<$fh>) {
    $tls++ if /upstream "tls" is down/;
    $sock++ if /upstream "nosock" is down/;
}
Test::More::is($tls, 1, 'one down line for the tls server');
Test::More::is($sock, 1, 'one down line for the missing socket');
Guard::stop_hostile($ENV{TEST_NGINX_B1});
--- request
GET /guard
--- response_body_like: "name":"nosock"
--- no_error_log
[crit]
[emerg]
[alert]
connect() to unix
SSL_do_handshake



=== TEST 7: hung servers of one upstream do not starve another's checks
--- http_config eval
# 40 servers whose checks all go to a server that never answers; with
# worker_connections 64, 16 checks may be in flight
"    upstream hung {\n"
. CORE::join('', map { "        server 127.0.0.1:" . ($ENV{TEST_NGINX_SERVER_PORT} + 100 + $_)
                 . ";\n" } 1 .. 40)
. "        guard_check http port=\$TEST_NGINX_B1 interval=100ms timeout=3s;
    }
    upstream healthy {
        server 127.0.0.1:\$TEST_NGINX_B2;
        guard_check http interval=200ms timeout=1s;
    }
    server {
        listen 127.0.0.1:\$TEST_NGINX_B2;
        location / { return 200 'ok'; }
    }
"
--- config
    location = /guard { guard_status; }
--- init
Guard::start_hostile('silent', $ENV{TEST_NGINX_B1}, lifetime => 30);
# let the hung checks fill their slots
Time::HiRes::sleep(1.5);
my $s0 = main::server('healthy', $ENV{TEST_NGINX_B2});
Time::HiRes::sleep(4);
my $s = main::server('healthy', $ENV{TEST_NGINX_B2});
my $n = $s->{checks} - $s0->{checks};
# 20 due in 4 s at 200 ms; starved, it got one or two
Test::More::cmp_ok($n, '>=', 14, "the healthy upstream was checked on time"
                   . " ($n checks in 4 s: " . main::row($s) . ")");
Test::More::is($s->{checks_failed}, 0, 'and never failed');
Guard::stop_hostile($ENV{TEST_NGINX_B1});
--- request
GET /guard
--- response_body_like: "name":"healthy"
--- no_error_log
[crit]
[emerg]



=== TEST 8: more upstreams than check slots: they take turns
--- http_config eval
# 16 slots (worker_connections 64), 20 upstreams whose checks hang 1 s,
# and one healthy upstream: it must get its turn at the slots that free
CORE::join('', map { "    upstream hung$_ {
        server 127.0.0.1:" . ($ENV{TEST_NGINX_SERVER_PORT} + 100 + $_) . ";
        guard_check http port=\$TEST_NGINX_B1 interval=100ms timeout=1s;
    }\n" } 1 .. 20)
. "    upstream healthy {
        server 127.0.0.1:\$TEST_NGINX_B2;
        guard_check http interval=200ms timeout=1s;
    }
    server {
        listen 127.0.0.1:\$TEST_NGINX_B2;
        location / { return 200 'ok'; }
    }
"
--- config
    location = /guard { guard_status; }
--- init
Guard::start_hostile('silent', $ENV{TEST_NGINX_B1}, lifetime => 30);
Time::HiRes::sleep(2.5);
my $s0 = main::server('healthy', $ENV{TEST_NGINX_B2});
Time::HiRes::sleep(6);
my $s = main::server('healthy', $ENV{TEST_NGINX_B2});
my $n = $s->{checks} - $s0->{checks};
# 16 slots free every second, 21 upstreams take turns: a turn every
# 1.3 s, about 4 in 6 s; without turns the hung checks take the freed
# slots back at once
Test::More::cmp_ok($n, '>=', 3, "the healthy upstream got its turns"
                   . " ($n checks in 6 s: " . main::row($s) . ")");
Guard::stop_hostile($ENV{TEST_NGINX_B1});
--- request
GET /guard
--- response_body_like: "name":"healthy"
--- no_error_log
[crit]
[emerg]



=== TEST 9: a server failing for a new reason is logged once, not per check
--- http_config
    guard_match okbody { status 200; body ~ "^ok"; }
    upstream flip {
        server 127.0.0.1:$TEST_NGINX_B2;
        guard_check http uri=/h interval=100ms fall=2 rise=2 match=okbody;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B2;
        location = /h { try_files /flip-h =503; }
    }
--- config
    location = /guard { guard_status; }
--- init
Guard::health_file('flip-h', 0);
main::poll(sub { my $s = main::server('flip', $ENV{TEST_NGINX_B2});
                 ($s->{health} eq 'down' && $s->{checks_failed} >= 5, main::row($s)) },
           15, 'down, failing');
# the file says "up": now a 200 whose body does not match
Guard::health_file('flip-h', 1);
main::poll(sub { my $s = main::server('flip', $ENV{TEST_NGINX_B2});
                 (Guard::reason($s) eq 'body mismatch', main::row($s)) },
           15, 'the new reason');
my $s0 = main::server('flip', $ENV{TEST_NGINX_B2});
main::poll(sub { my $s = main::server('flip', $ENV{TEST_NGINX_B2});
                 ($s->{checks_failed} >= $s0->{checks_failed} + 5, main::row($s)) },
           15, 'five more failures');
my $log = ($ENV{TEST_NGINX_SERVROOT} || "$ENV{TEST_NGINX_PWD}/t/servroot")
          . "/logs/error.log";
open my $fh, '<', $log or Test::More::fail("$log: $!");
my ($down, $other) = (0, 0);
while (<$fh>) {
    $down++ if /upstream "flip" is down: status 503/;
    $other++ if /server 127\.0\.0\.1:\d+ of upstream "flip" fails for another reason: body mismatch \(was: status 503\)/;
}
Test::More::is($down, 1, 'one line for the transition');
Test::More::is($other, 1, 'one line for the new reason');
Guard::health_file('flip-h', 0);
--- request
GET /guard
--- response_body_like: "name":"flip"
--- no_error_log
[crit]
[emerg]



=== TEST 10: a header name too long for a reason: cut, ended, logged once
--- http_config eval
# "header <name> missing" would take 87 bytes, more than a reason holds
# (63): the name is cut, the reason still ends with its verb
"    guard_match longhdr { header X-" . ('a' x 78) . "; }
    upstream long {
        server 127.0.0.1:\$TEST_NGINX_B3;
        guard_check http interval=100ms fall=1 rise=1 match=longhdr;
    }
    server {
        listen 127.0.0.1:\$TEST_NGINX_B3;
        location / { return 200 'ok'; }
    }
"
--- config
    location = /guard { guard_status; }
--- init
my $want = 'header X-' . ('a' x 43) . '... missing';
main::poll(sub { my $s = main::server('long', $ENV{TEST_NGINX_B3});
                 ($s->{checks_failed} >= 8, main::row($s)) },
           15, 'eight failed checks');
my $s = main::server('long', $ENV{TEST_NGINX_B3});
Test::More::is(Guard::reason($s), $want, 'the reason, cut to fit');
Test::More::is(length Guard::reason($s), 63, 'as long as a reason can be');
my $log = ($ENV{TEST_NGINX_SERVROOT} || "$ENV{TEST_NGINX_PWD}/t/servroot")
          . "/logs/error.log";
open my $fh, '<', $log or Test::More::fail("$log: $!");
my ($down, $clean, $other) = (0, 0, 0);
while (<$fh>) {
    next unless /upstream "long"/;
    $down++ if /is down: /;
    $clean++ if /is down: \Q$want\E \(1 consecutive failures\)/;
    $other++ if /fails for another reason/;
}
Test::More::is($down, 1, 'one line for the transition');
Test::More::is($clean, 1, 'which ends where the reason ends');
Test::More::is($other, 0, 'the same reason every time: no other reason');
--- request
GET /guard
--- response_body_like: "name":"long"
--- no_error_log
[crit]
[emerg]
