# Live weights: traffic shares by weight, failover without client errors,
# slow start in steps, the floor with standby promotion and demotion, and
# agent weights and drains.
use lib 't/lib';
use Guard;
use Test::Nginx::Socket 'no_plan';

our $Backends = <<"_EOC_";
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_B1};
        location /health { root html; if (-f \$document_root/b1-up) { return 200 "up\\n"; } return 503; }
        location / { return 200 "b1\\n"; }
    }
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_B2};
        location /health { return 200; }
        location / { return 200 "b2\\n"; }
    }
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_B3};
        location /health { return 200; }
        location / { return 200 "b3\\n"; }
    }
_EOC_

no_shuffle();
no_root_location();
check_accum_error_log();
run_tests();

__DATA__

=== TEST 1: round robin: shares match the weights exactly over whole cycles
--- http_config eval
"    upstream app {
        server 127.0.0.1:\$TEST_NGINX_B1 weight=3;
        server 127.0.0.1:\$TEST_NGINX_B2 weight=2;
        server 127.0.0.1:\$TEST_NGINX_B3 weight=1;
        guard_check http uri=/health interval=100ms;
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; }
    location = /guard { guard_status; }
--- user_files
>>> b1-up
up
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B3}, 'up');
Test::More::is_deeply(Guard::shares(60, '/'), { b1 => 30, b2 => 20, b3 => 10 },
                      'round robin: 60 requests split 30/20/10 by weights 3:2:1');
--- request
GET /guard
--- response_body_like: "weight":3,"effective_weight":3,
--- no_error_log
[error]



=== TEST 2: least_conn: shares follow the weights (sequential requests)
--- http_config eval
"    upstream app {
        least_conn;
        server 127.0.0.1:\$TEST_NGINX_B1 weight=3;
        server 127.0.0.1:\$TEST_NGINX_B2 weight=2;
        server 127.0.0.1:\$TEST_NGINX_B3 weight=1;
        guard_check http uri=/health interval=100ms;
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; }
    location = /guard { guard_status; }
--- user_files
>>> b1-up
up
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B3}, 'up');
my $c = Guard::shares(60, '/');
# tolerance: within 2 requests of 30/20/10
Test::More::ok(abs(($c->{b1} // 0) - 30) <= 2 && abs(($c->{b2} // 0) - 20) <= 2
               && abs(($c->{b3} // 0) - 10) <= 2,
               "least_conn: 60 requests near 30/20/10: "
               . join(',', map { "$_=$c->{$_}" } sort keys %$c));
--- request
GET /guard
--- response_body_like: "live_weights":true
--- no_error_log
[error]



=== TEST 3: hash: shares of 600 keys within 5 points of the weights
--- http_config eval
"    upstream app {
        hash \$arg_k;
        server 127.0.0.1:\$TEST_NGINX_B1 weight=3;
        server 127.0.0.1:\$TEST_NGINX_B2 weight=2;
        server 127.0.0.1:\$TEST_NGINX_B3 weight=1;
        guard_check http uri=/health interval=100ms;
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; }
    location = /guard { guard_status; }
--- user_files
>>> b1-up
up
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B3}, 'up');
my $c = Guard::shares(600, sub { "/?k=key$_[0]" });
Test::More::ok(abs(($c->{b1} // 0) / 600 - 3/6) <= 0.05
               && abs(($c->{b2} // 0) / 600 - 2/6) <= 0.05
               && abs(($c->{b3} // 0) / 600 - 1/6) <= 0.05,
               "hash: 600 keys near 50%/33%/17%: "
               . join(',', map { "$_=$c->{$_}" } sort keys %$c));
--- request
GET /guard
--- response_body_like: "live_weights":false
--- no_error_log
[error]



=== TEST 4: ip_hash: shares of 600 client networks within 5 points
--- http_config eval
"    upstream app {
        ip_hash;
        server 127.0.0.1:\$TEST_NGINX_B1 weight=3;
        server 127.0.0.1:\$TEST_NGINX_B2 weight=2;
        server 127.0.0.1:\$TEST_NGINX_B3 weight=1;
        guard_check http uri=/health interval=100ms;
    }
" . $::Backends
--- config
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Real-IP;
    location / { proxy_pass http://app; }
    location = /guard { guard_status; }
--- user_files
>>> b1-up
up
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B3}, 'up');
my $c = Guard::shares(600, '/', sub { my $i = shift;
    { 'X-Real-IP' => sprintf("10.%d.%d.1", int($i / 200), $i % 200) } });
Test::More::ok(abs(($c->{b1} // 0) / 600 - 3/6) <= 0.05
               && abs(($c->{b2} // 0) / 600 - 2/6) <= 0.05
               && abs(($c->{b3} // 0) / 600 - 1/6) <= 0.05,
               "ip_hash: 600 networks near 50%/33%/17%: "
               . join(',', map { "$_=$c->{$_}" } sort keys %$c));
--- request
GET /guard
--- response_body_like: "name":"app"
--- no_error_log
[error]



=== TEST 5: a failed primary's share moves to the others in proportion
--- http_config eval
"    upstream app {
        server 127.0.0.1:\$TEST_NGINX_B1 weight=2;
        server 127.0.0.1:\$TEST_NGINX_B2 weight=2;
        server 127.0.0.1:\$TEST_NGINX_B3 weight=1;
        guard_check http uri=/health interval=100ms fall=1;
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; }
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'down');
Test::More::is_deeply(Guard::shares(30, '/'), { b2 => 20, b3 => 10 },
                      'without b1, 30 requests split 20/10 by weights 2:1');
--- request
GET /guard
--- response_body_like: "status":"degraded"
--- no_error_log
[error]



=== TEST 6: failover under load: killing a backend gives no client error
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B4;
        server 127.0.0.1:$TEST_NGINX_B5;
        guard_check http interval=100ms fall=1;
    }
--- config
    location / { proxy_pass http://app; }
    location = /guard { guard_status; }
--- init
Guard::start_hostile('ok', $ENV{TEST_NGINX_B4}, lifetime => 60);
Guard::start_hostile('ok', $ENV{TEST_NGINX_B5}, lifetime => 60);
Guard::wait_health('app', $ENV{TEST_NGINX_B4}, 'up');
Guard::wait_health('app', $ENV{TEST_NGINX_B5}, 'up');
# counted, not timed: at least 30 requests before the kill and 50 after
# it, over at least 2 s after it (the check interval is 100 ms), however
# slow the machine
my ($ok, $bad, $n, $after) = (0, 0, 0, 0);
my $t0 = Time::HiRes::time();
my $killed;
while (Time::HiRes::time() - $t0 < 30) {
    if (!$killed && $n >= 30 && Time::HiRes::time() - $t0 > 1) {
        Guard::stop_hostile($ENV{TEST_NGINX_B5});
        $killed = Time::HiRes::time();
    }
    last if $killed && $after >= 50 && Time::HiRes::time() - $killed > 2;
    my $st = Guard::http_get('/x');
    $n++;
    $after++ if $killed;
    (defined $st && $st == 200) ? $ok++ : $bad++;
}
Test::More::ok($killed && $after >= 50 && $bad == 0,
               "failover under load: $n requests, $after after the kill, "
               . "$bad errors");
Guard::wait_health('app', $ENV{TEST_NGINX_B5}, 'down');
# once marked down, no request is routed to the dead server any more
my $log = ($ENV{TEST_NGINX_SERVROOT} || "$ENV{TEST_NGINX_PWD}/t/servroot")
          . "/logs/error.log";
my $mark = -s $log;
Guard::http_get('/x') for 1 .. 100;
open my $fh, '<', $log or die "$log: $!";
seek $fh, $mark, 0;
my $tried = grep { /connect\(\) failed .* while connecting to upstream/ } <$fh>;
Test::More::is($tried, 0, "no request tried the dead server after it was marked down");
--- request
GET /guard
--- response_body_like: "health":"up".*"last_failure":\{"reason":"connect refused"[^}]*\}
--- no_error_log
[crit]



=== TEST 7: slow start: a recovered server ramps up in steps
--- http_config eval
"    upstream app {
        server 127.0.0.1:\$TEST_NGINX_B1 weight=10;
        server 127.0.0.1:\$TEST_NGINX_B2 weight=10;
        guard_check http uri=/health interval=100ms fall=1 rise=1;
        guard_slow_start 3s;
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; }
    location = /guard { guard_status; }
--- user_files
>>> b1-up
up
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
Guard::health_file('b1-up', 0);
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'down');
Guard::health_file('b1-up', 1);
my @seen;
my $t0 = Time::HiRes::time();
while (Time::HiRes::time() - $t0 < 6) {
    my $s = Guard::guard_status() or next;
    my $srv = Guard::server_state($s, 'app', "127.0.0.1:$ENV{TEST_NGINX_B1}");
    if ($srv->{health} eq 'up') {
        push @seen, $srv->{effective_weight}
            unless @seen && $seen[-1] == $srv->{effective_weight};
        last if $srv->{effective_weight} == 10;
    }
    Time::HiRes::sleep(0.05);
}
my $increasing = !grep { $seen[$_] <= $seen[$_ - 1] } 1 .. $#seen;
Test::More::ok(@seen >= 4 && $increasing && $seen[0] < 5 && $seen[-1] == 10,
               "slow start ramps in steps: @seen");
--- request
GET /guard
--- response_body_like: "slow_start_duration_ms":3000,
--- no_error_log
[error]



=== TEST 8: slow start with default weights: round robin ramps from a tenth
--- http_config eval
"    upstream app {
        server 127.0.0.1:\$TEST_NGINX_B1;
        server 127.0.0.1:\$TEST_NGINX_B2;
        guard_check http uri=/health interval=100ms fall=1 rise=1;
        guard_slow_start 4s;
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; }
    location = /guard { guard_status; }
--- user_files
>>> b1-up
up
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
Guard::health_file('b1-up', 0);
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'down');
Guard::health_file('b1-up', 1);
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
# the first requests after the recovery: at most a few tenths of a weight
my $s = Guard::shares(40, '/');
my $b1 = $s->{b1} // 0;
Test::More::ok($b1 >= 1 && $b1 <= 12,
               "right after recovery b1 takes $b1 of 40 requests, not half");
my (@seen, $full);
my $t0 = Time::HiRes::time();
while (Time::HiRes::time() - $t0 < 10) {
    my $st = Guard::guard_status() or next;
    my $srv = Guard::server_state($st, 'app', "127.0.0.1:$ENV{TEST_NGINX_B1}");
    push @seen, $srv->{effective_weight}
        unless @seen && $seen[-1] == $srv->{effective_weight};
    if ($srv->{effective_weight} == 1) {
        # in the module's own clock: from the recovery to this report
        $full = $st->{generated_at_ms} - $srv->{last_change_at_ms};
        last;
    }
    Time::HiRes::sleep(0.05);
}
my $increasing = !grep { $seen[$_] <= $seen[$_ - 1] } 1 .. $#seen;
Test::More::ok(@seen >= 4 && $increasing && $seen[0] <= 0.5 && $seen[-1] == 1,
               "effective weight ramps in fractions of 1: @seen");
# the ramp takes the whole guard_slow_start (it ended at 0.9 of it)
Test::More::ok(defined $full && $full >= 3950,
               "full weight " . ($full // 'never') . " ms after the recovery, "
               . "not before guard_slow_start's 4000");
# smooth round robin may still owe one pick from the ramp: within one
$s = Guard::shares(10, '/');
$b1 = $s->{b1} // 0;
Test::More::ok($b1 >= 4 && $b1 <= 6,
               "after the ramp the shares are even: b1 has $b1 of 10");
--- request
GET /guard
--- response_body_like: "weight":1,"effective_weight":1,
--- no_error_log
[error]



=== TEST 9: slow start with default weights: least_conn ramps too
--- http_config eval
"    upstream app {
        least_conn;
        server 127.0.0.1:\$TEST_NGINX_B1;
        server 127.0.0.1:\$TEST_NGINX_B2;
        guard_check http uri=/health interval=100ms fall=1 rise=1;
        guard_slow_start 4s;
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; }
    location = /guard { guard_status; }
--- user_files
>>> b1-up
up
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
Guard::health_file('b1-up', 0);
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'down');
Guard::health_file('b1-up', 1);
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
my $s = Guard::shares(40, '/');
my $b1 = $s->{b1} // 0;
Test::More::ok($b1 >= 1 && $b1 <= 12,
               "right after recovery b1 takes $b1 of 40 requests, not half");
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 1, 'effective_weight');
# smooth round robin may still owe one pick from the ramp: within one
$s = Guard::shares(10, '/');
$b1 = $s->{b1} // 0;
Test::More::ok($b1 >= 4 && $b1 <= 6,
               "after the ramp the shares are even: b1 has $b1 of 10");
--- request
GET /guard
--- response_body_like: "weight":1,"effective_weight":1,
--- no_error_log
[error]


=== TEST 10: a weight whose thousandths times 100 pass 2^64 is refused
nginx takes any weight= up to its largest integer; this one, counted in
thousandths and scaled by 100 for guard_slow_start, wrapped to a tiny
weight: 200 of 200 requests went to the other server while the report
showed the configured weight.
--- http_config eval
"    upstream app {
        server 127.0.0.1:$ENV{TEST_NGINX_B1} weight=184467440737096;
        server 127.0.0.1:$ENV{TEST_NGINX_B2};
        guard_check http uri=/health interval=100ms;
        guard_slow_start 4s;
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; }
--- must_die
--- error_log eval
qr/\[emerg\] .*server "127\.0\.0\.1:\d+" of upstream "app" has weight=184467440737096: guard_check takes weights up to 1000000 in \S+nginx\.conf:\d+/


=== TEST 11: the largest weight, 1000000, with slow start and an agent: its share is whole
--- http_config eval
"    upstream app {
        server 127.0.0.1:$ENV{TEST_NGINX_B2} weight=1000000;
        server 127.0.0.1:$ENV{TEST_NGINX_B3};
        guard_check http uri=/health interval=100ms;
        guard_slow_start 1s;
        guard_agent X-Agent max=1000%;
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; }
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'up');
Guard::wait_health('app', $ENV{TEST_NGINX_B3}, 'up');
my $s = Guard::shares(100, '/');
Test::More::is($s->{b2} // 0, 100, 'weight 1000000 against 1: b2 takes all');
--- request
GET /guard
--- response_body_like: "weight":1000000,"effective_weight":1000000,
--- no_error_log
[error]



=== TEST 12: slow start ends at the full weight in nginx's peers, not at its last step
The leader re-applied the weights every tenth of guard_slow_start rounded
up to its 150 ms tick, but only up to 1.1 times guard_slow_start after the
recovery: when no tick fell between the end of the ramp and that limit,
nginx's peers kept the last step (a tenth of the weight with a short ramp,
nine tenths with 5s) until the next transition, while the report showed
the full weight.
--- http_config eval
"    upstream app {
        server 127.0.0.1:\$TEST_NGINX_B1;
        server 127.0.0.1:\$TEST_NGINX_B2;
        guard_check http uri=/health interval=100ms fall=1 rise=1;
        guard_slow_start 300ms;
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; }
    location = /guard { guard_status; }
--- user_files
>>> b1-up
up
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
my @b1;
for my $cycle (1 .. 4) {
    Guard::health_file('b1-up', 0);
    Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'down');
    Guard::health_file('b1-up', 1);
    Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
    Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 1, 'effective_weight');
    my $s = Guard::shares(200, '/');
    push @b1, $s->{b1} // 0;
}
Test::More::ok(!grep({ abs($_ - 100) > 2 } @b1),
               "after each of 4 ramps b1 takes half of 200 requests: @b1");
--- request
GET /guard
--- response_body_like: "weight":1,"effective_weight":1,
--- no_error_log
[error]
