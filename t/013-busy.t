# A busy checking worker must not mark healthy servers down: a worker whose
# event loop stalls (here: SIGSTOP for 2 s, longer than the check timeout)
# finds the answers that arrived meanwhile and counts them, instead of
# failing the checks in flight with "timeout".
use lib 't/lib';
use Guard;
use IO::Select;
use IO::Socket::INET;
use Test::Nginx::Socket 'no_plan';

master_on();
workers(1);
no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: a stalled worker does not fail the checks in flight
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http interval=100ms timeout=1s fall=1;
    }
--- config
    location = /guard { guard_status; }
--- init
# each check takes 300 ms: one is nearly always in flight
Guard::start_hostile('slow:300', $ENV{TEST_NGINX_B1}, lifetime => 60);
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
my $addr = "127.0.0.1:$ENV{TEST_NGINX_B1}";
# the server's row, or death saying why: an undef would count as 0 below
my $row = sub {
    my $st = Guard::guard_status()
        or die "no status: $Guard::ERROR\n";
    my $s = Guard::server_state($st, 'app', $addr)
        or die "no server $addr in the status\n";
    defined $s->{$_} && $s->{$_} =~ /^\d+\z/
        or die "server $addr without a number for $_\n"
        for qw(checks checks_failed);
    return ($s, $st->{leader_pid});
};
my ($before) = $row->();
for my $round (1 .. 4) {
    my (undef, $pid) = $row->();
    # kill 0 or -1 would stop this test's own process group
    die "no leader pid in the status\n" unless $pid && $pid > 1;
    kill 'STOP', $pid;
    select(undef, undef, undef, 1.5);
    kill 'CONT', $pid;
    select(undef, undef, undef, 0.4 + 0.1 * $round);
}
my ($s) = $row->();
Test::More::is($s->{checks_failed} - $before->{checks_failed}, 0,
               "no check failed across 4 stalls of 1.5 s ("
               . ($s->{checks} - $before->{checks}) . " checks)");
Test::More::cmp_ok($s->{checks} - $before->{checks}, '>', 0,
                   'checks ran across the stalls');
--- request
GET /guard
--- response_body_like: "health":"up"
--- no_error_log
is down: timeout



=== TEST 2: clients hold every connection: a check that cannot start says why, and counts nothing
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B2;
        guard_check tcp interval=100ms fall=1;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B2;
        location / { return 200; }
    }
--- config
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'up');
# clients that started a request and never finish it: nginx cannot reuse
# their connections, so the worker's 64 are all taken.  They come in small
# batches, so that nginx has read each batch's request line (which makes
# its connections unreusable) before the next batch fills the rest.
my @held;
for my $batch (1 .. 18) {
    for (1 .. 5) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $ENV{TEST_NGINX_SERVER_PORT}
                                                  || $ENV{TEST_NGINX_PORT},
                                      Timeout => 2) or last;
        print $s "GET /guard HTTP/1.1\r\n";
        push @held, $s;
    }
    select(undef, undef, undef, 0.05);
}
Test::More::cmp_ok(scalar @held, '>', 64, 'clients hold the connections');
select(undef, undef, undef, 1.5);
close $_ for @held;
select(undef, undef, undef, 0.5);
--- request
GET /guard
--- response_body_like: "health":"up","admin":"active","state":"up","in_rotation":true,[^}]*"checks_failed":0,
--- error_log eval
qr/\[error\] .*upstream guard: cannot check 127\.0\.0\.1:\d+, result not counted: all 64 worker_connections are in use/
--- no_error_log eval
qr/result not counted \(\d+:/



=== TEST 3: kept-alive check connections give way to clients
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B3;
        server 127.0.0.2:$TEST_NGINX_B3;
        server 127.0.0.3:$TEST_NGINX_B3;
        server 127.0.0.4:$TEST_NGINX_B3;
        server 127.0.0.5:$TEST_NGINX_B3;
        server 127.0.0.6:$TEST_NGINX_B3;
        server 127.0.0.7:$TEST_NGINX_B3;
        server 127.0.0.8:$TEST_NGINX_B3;
        server 127.0.0.9:$TEST_NGINX_B3;
        server 127.0.0.10:$TEST_NGINX_B3;
        server 127.0.0.11:$TEST_NGINX_B3;
        server 127.0.0.12:$TEST_NGINX_B3;
        server 127.0.0.13:$TEST_NGINX_B3;
        server 127.0.0.14:$TEST_NGINX_B3;
        server 127.0.0.15:$TEST_NGINX_B3;
        server 127.0.0.16:$TEST_NGINX_B3;
        server 127.0.0.17:$TEST_NGINX_B3;
        server 127.0.0.18:$TEST_NGINX_B3;
        server 127.0.0.19:$TEST_NGINX_B3;
        server 127.0.0.20:$TEST_NGINX_B3;
        server 127.0.0.21:$TEST_NGINX_B3;
        server 127.0.0.22:$TEST_NGINX_B3;
        server 127.0.0.23:$TEST_NGINX_B3;
        server 127.0.0.24:$TEST_NGINX_B3;
        server 127.0.0.25:$TEST_NGINX_B3;
        server 127.0.0.26:$TEST_NGINX_B3;
        server 127.0.0.27:$TEST_NGINX_B3;
        server 127.0.0.28:$TEST_NGINX_B3;
        server 127.0.0.29:$TEST_NGINX_B3;
        server 127.0.0.30:$TEST_NGINX_B3;
        server 127.0.0.31:$TEST_NGINX_B3;
        server 127.0.0.32:$TEST_NGINX_B3;
        server 127.0.0.33:$TEST_NGINX_B3;
        server 127.0.0.34:$TEST_NGINX_B3;
        server 127.0.0.35:$TEST_NGINX_B3;
        server 127.0.0.36:$TEST_NGINX_B3;
        server 127.0.0.37:$TEST_NGINX_B3;
        server 127.0.0.38:$TEST_NGINX_B3;
        server 127.0.0.39:$TEST_NGINX_B3;
        server 127.0.0.40:$TEST_NGINX_B3;
        server 127.0.0.41:$TEST_NGINX_B3;
        server 127.0.0.42:$TEST_NGINX_B3;
        server 127.0.0.43:$TEST_NGINX_B3;
        server 127.0.0.44:$TEST_NGINX_B3;
        server 127.0.0.45:$TEST_NGINX_B3;
        server 127.0.0.46:$TEST_NGINX_B3;
        server 127.0.0.47:$TEST_NGINX_B3;
        server 127.0.0.48:$TEST_NGINX_B3;
        server 127.0.0.49:$TEST_NGINX_B3;
        server 127.0.0.50:$TEST_NGINX_B3;
        server 127.0.0.51:$TEST_NGINX_B3;
        server 127.0.0.52:$TEST_NGINX_B3;
        server 127.0.0.53:$TEST_NGINX_B3;
        server 127.0.0.54:$TEST_NGINX_B3;
        server 127.0.0.55:$TEST_NGINX_B3;
        server 127.0.0.56:$TEST_NGINX_B3;
        guard_check http uri=/health http=1.1 keepalive=1000
                    interval=300ms timeout=2s;
    }
--- config
    location = /guard { guard_status; }
    location = /ok { return 200 "ok\n"; }
--- init
# a second nginx is the 56 servers (one port, 56 loopback addresses), so
# that the server ends of the check connections are not this worker's
my $dir = File::Spec->catdir(File::Spec->tmpdir,
                             "upstream-guard-busy-$<-$Guard::BASE");
Guard::stop_nginx($dir);
my ($rc, $out) = Guard::nginx_run($dir,
    "    keepalive_timeout 60s;\n    keepalive_requests 10000;\n"
    . "    server { listen $ENV{TEST_NGINX_B3}; "
    . "location / { return 200 \"up\\n\"; } }\n");
die "the backend nginx did not start: $out\n" if $rc;
# every server checked twice: each check worker connection is parked
my $st;
Test::More::ok(Guard::wait_for(sub {
    $st = Guard::guard_status() or return 0;
    my $u = Guard::upstream_state($st, 'app') or return 0;
    return !grep { $_->{health} ne 'up' || $_->{checks} < 2 }
                 @{ $u->{servers} };
}, 20), '56 servers up, each checked over a kept-alive connection');
# 56 parked check connections leave this worker's 64 a handful; 20
# clients that take their time to send the request must all be served
my @c;
for (1 .. 20) {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $ENV{TEST_NGINX_SERVER_PORT}
                                              || $ENV{TEST_NGINX_PORT},
                                  Timeout => 5) or next;
    print $s "GET /ok HTTP/1.0\r\n";
    push @c, $s;
}
select(undef, undef, undef, 1);
# a client nginx closed must not end the test with SIGPIPE
local $SIG{PIPE} = 'IGNORE';
print $_ "\r\n" for @c;
my $ok = 0;
for my $s (@c) {
    my $r = '';
    my $sel = IO::Select->new($s);
    while ($sel->can_read(5)) {
        my $n = sysread($s, my $buf, 4096);
        last unless $n;
        $r .= $buf;
    }
    $ok++ if $r =~ m{^HTTP/1\.\d 200 .*\r\n\r\nok\n\z}s;
    close $s;
}
Test::More::is($ok, 20, '20 slow clients at once are all answered');
Guard::stop_nginx($dir);
--- request
GET /ok
--- response_body
ok
