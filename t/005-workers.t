# Several workers: each server is checked once per interval across all of
# them (the backend's own access log counts), state is shared, and when the
# checking worker is killed another one takes over.
use lib 't/lib';
use Guard;
use Test::Nginx::Socket 'no_plan';

master_on();
workers(2);
no_shuffle();
check_accum_error_log();
no_root_location();
run_tests();

__DATA__

=== TEST 1: one check per interval with two workers
--- http_config
    log_format checks '$msec $http_user_agent';
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http uri=/health interval=500ms;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B1;
        access_log logs/b1.log checks;
        location /health { return 200; }
    }
--- config
    location = /b1log { default_type text/plain; alias logs/b1.log; }
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
select(undef, undef, undef, 3.2);
--- request
GET /b1log
--- response_body_like eval
# about 7 checks in 3.2 s at 500 ms; two workers each checking would be 13+
qr/\A(?:\d+\.\d+ nginx-upstream-guard\S*\n){5,9}\z/
--- no_error_log
[error]



=== TEST 2: every worker routes by the shared state (no zone)
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B2;
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http uri=/health interval=100ms fall=1;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B1;
        location /health { return 200; }
        location / { return 200 "b1\n"; }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B2;
        location /health { return 503; }
        location / { return 200 "b2\n"; }
    }
--- config
    location / { proxy_pass http://app; }
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'down');
--- request eval
[map { "GET /$_" } 1 .. 16]
--- response_body eval
[map { "b1\n" } 1 .. 16]
--- no_error_log
[error]



=== TEST 3: kill -9 of the checking worker: another takes over
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http uri=/health interval=200ms;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B1;
        location /health { return 200; }
    }
--- config
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
my $s = Guard::guard_status();
my $old = $s->{leader_pid};
my $checks = Guard::server_state($s, 'app', "127.0.0.1:$ENV{TEST_NGINX_B1}")->{checks};
my $t0 = Time::HiRes::time();
Guard::kill_leader();
# the goal is max(2 intervals, 1 s) from the kill to the next check; the
# assertion keeps a wide margin for this noisy machine
my $resumed = Guard::wait_for(sub {
    my $n = Guard::guard_status() or return 0;
    $n->{leader_pid} && $n->{leader_pid} != $old
        && Guard::server_state($n, 'app', "127.0.0.1:$ENV{TEST_NGINX_B1}")->{checks} > $checks
        && Time::HiRes::time();
}, 10);
Test::More::ok($resumed && $resumed - $t0 < 3,
               sprintf("checks resumed %.2f s after kill -9 of the checking worker",
                       ($resumed || 0) - $t0));
--- request
GET /guard
--- response_body_like: "takeovers":[1-9],
--- error_log eval
qr/upstream guard: worker \d+ runs the checks/
--- no_error_log
[emerg]
