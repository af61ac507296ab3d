# The grid check starts are rounded to (guard_check, "Check starts are
# rounded to a grid"): its size by the configured check rate and the
# shortest interval, as the report's check_grid_duration_ms says, and the
# time from one check of a server to the next kept at interval= when the
# interval is not a multiple of the grid (a start moved to the grid must
# not move the next one: 1020 ms on a 50 ms grid became 1000 ms when the
# next check counted from a start rounded down).
use lib 't/lib';
use Guard;
use Test::Nginx::Socket 'no_plan';

master_on();
workers(2);
worker_connections(4096);
no_shuffle();
check_accum_error_log();
no_root_location();

# $n servers in upstreams of 100 at 127.2.x.y:$port (nothing listens
# there: the checks fail at once, which is all a grid needs)
sub servers {
    my ($n, $interval, $port) = @_;
    my $conf = '';
    for (my $k = 0; $k < $n; $k++) {
        $conf .= sprintf "upstream g%d {\n", $k / 100 if $k % 100 == 0;
        $conf .= sprintf "    server 127.2.%d.%d:%d;\n",
                         int($k / 250), 1 + $k % 250, $port;
        $conf .= "    guard_check tcp interval=$interval fall=1 rise=1;\n}\n"
            if $k % 100 == 99 || $k == $n - 1;
    }
    return $conf;
}

# the grid of the checking worker, once there is one
sub grid {
    my $g;
    Guard::wait_for(sub {
        my $st = Guard::guard_status() or return 0;
        return 0 unless $st->{leader_pid};
        $g = $st->{check_grid_duration_ms};
        return 1;
    }, 15);
    return $g;
}

# the times ($msec) of the checks the backend logged
sub logged {
    my $log = ($ENV{TEST_NGINX_SERVROOT} || "$ENV{TEST_NGINX_PWD}/t/servroot")
              . '/logs/checks.log';
    open my $fh, '<', $log or return ();
    return map { /^(\d+\.\d+)/ ? $1 : () } <$fh>;
}

run_tests();

__DATA__

=== TEST 1: two servers every second: the widest grid, 50 ms
--- http_config eval
main::servers(2, '1s', $ENV{TEST_NGINX_B1})
--- config
    location = /guard { guard_status; }
--- init
Test::More::is(main::grid(), 50, 'two checks a second: a 50 ms grid');
--- request
GET /guard
--- response_body_like: "check_grid_duration_ms":50,
--- error_log eval
qr/upstream guard: worker \d+ runs the checks \(config generation \d+, starts on a 50 ms grid\)/
--- no_error_log
[alert]
[crit]



=== TEST 2: a short interval: at most a tenth of it
--- http_config eval
main::servers(2, '1s', $ENV{TEST_NGINX_B1})
. "upstream fast {\n    server 127.0.0.1:$ENV{TEST_NGINX_B2};\n"
. "    guard_check tcp interval=200ms;\n}\n"
--- config
    location = /guard { guard_status; }
--- init
Test::More::is(main::grid(), 20, 'interval=200ms: a 20 ms grid');
--- request
GET /guard
--- response_body_like: "check_grid_duration_ms":20,
--- no_error_log
[alert]
[crit]



=== TEST 3: 2,000 servers every second: 50 checks a point, 25 ms
--- http_config eval
main::servers(2000, '1s', $ENV{TEST_NGINX_B1})
--- config
    location = /guard { guard_status; }
--- init
Test::More::is(main::grid(), 25, '2,000 checks a second: a 25 ms grid');
--- request
GET /guard?upstream=g0
--- response_body_like: "check_grid_duration_ms":25,
--- no_error_log
[alert]
[crit]



=== TEST 4: 1020 ms on a 50 ms grid: the checks still come every 1020 ms
--- http_config
    log_format chk '$msec';
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http uri=/health interval=1020ms;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B1;
        location = /health { access_log logs/checks.log chk; return 200; }
    }
--- config
    location = /guard { guard_status; }
--- init
Test::More::is(main::grid(), 50, 'a 50 ms grid');
# the first check runs early (the first round is spread over half the
# interval), so the count starts at the second one; ten intervals on
my @t;
my $got = Guard::wait_for(sub { (@t = main::logged()) >= 12 }, 30);
Test::More::ok($got, 'twelve checks logged') or return;
my $mean = ($t[11] - $t[1]) / 10 * 1000;
# the starts are at most 25 ms from their due times, so the mean of ten
# intervals is within 5 ms of 1020 (plus scheduling noise); a start
# rounded down that moved the next one would make every interval 1000 ms
Test::More::cmp_ok(abs($mean - 1020), '<', 10,
                   sprintf('ten intervals of %.1f ms on average', $mean));
--- request
GET /guard
--- response_body_like: "health":"up"
--- no_error_log
[alert]
[crit]
