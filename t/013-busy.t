# A busy checking worker must not mark healthy servers down: a worker whose
# event loop stalls (here: SIGSTOP for 2 s, longer than the check timeout)
# finds the answers that arrived meanwhile and counts them, instead of
# failing the checks in flight with "timeout".
use lib 't/lib';
use Guard;
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
