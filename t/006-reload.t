# nginx -s reload keeps check state, keyed by upstream + server + address,
# also when the guard zone changes size; removed servers are forgotten.
# The blocks run in order against one nginx reloaded with HUP.
use lib 't/lib';
use Guard;

use Test::Nginx::Socket 'no_plan';

use_hup();

# a backend that accepts and never answers: checks stay in flight
start_hostile('silent', $ENV{TEST_NGINX_B4}, lifetime => 120);
master_on();
workers(2);
no_shuffle();
check_accum_error_log();
no_root_location();
run_tests();

__DATA__

=== TEST 1: state is built with short intervals
--- http_config
    upstream app {
        zone app 64k;
        server 127.0.0.1:$TEST_NGINX_B1;
        server 127.0.0.1:$TEST_NGINX_B2;
        guard_check http uri=/health interval=100ms fall=1 rise=3
                    initial=down;
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
    server {
        listen 127.0.0.1:$TEST_NGINX_B3;
        location /health { return 200; }
        location / { return 200 "b3\n"; }
    }
--- config
    location / { proxy_pass http://app; proxy_next_upstream off; }
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, '3', 'fails');
--- request eval
["GET /", "GET /", "GET /guard"]
--- response_body_like eval
["^b1\n\$", "^b1\n\$", qr/"generation":1,.*"health":"up".*"health":"down"/]
--- no_error_log
[error]



=== TEST 2: a reload keeps health: with rise=3 and a 30 s interval only kept state can be up
--- http_config
    upstream app {
        zone app 64k;
        server 127.0.0.1:$TEST_NGINX_B1;
        server 127.0.0.1:$TEST_NGINX_B2;
        server 127.0.0.1:$TEST_NGINX_B3;
        guard_check http uri=/health interval=30s fall=1 rise=3
                    initial=down;
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
    server {
        listen 127.0.0.1:$TEST_NGINX_B3;
        location /health { return 200; }
        location / { return 200 "b3\n"; }
    }
--- config
    location / { proxy_pass http://app; proxy_next_upstream off; }
    location = /guard { guard_status; }
--- init
Guard::wait_for(sub { my $s = Guard::guard_status(); $s && $s->{generation} >= 2 }, 10);
--- request eval
["GET /", "GET /", "GET /", "GET /guard"]
--- response_body_like eval
["^b1\n\$", "^b1\n\$", "^b1\n\$", qr/"generation":2,.*"address":"127\.0\.0\.1:\d+",[^}]*"health":"up",[^}]*"checks":(?:[3-9]|\d\d+),.*"health":"down",[^}]*"fails":(?:[3-9]|\d\d+),.*"address":"127\.0\.0\.1:\d+",[^}]*"health":"(?:checking|down)"/]
--- no_error_log
[error]



=== TEST 3: a reload that resizes the guard zone and the upstream zone keeps state
--- http_config
    guard_shm_size 2m;
    upstream app {
        zone app 128k;
        server 127.0.0.1:$TEST_NGINX_B1;
        server 127.0.0.1:$TEST_NGINX_B2;
        server 127.0.0.1:$TEST_NGINX_B3;
        guard_check http uri=/health interval=30s fall=1 rise=3
                    initial=down;
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
    server {
        listen 127.0.0.1:$TEST_NGINX_B3;
        location /health { return 200; }
        location / { return 200 "b3\n"; }
    }
--- config
    location / { proxy_pass http://app; proxy_next_upstream off; }
    location = /guard { guard_status; }
--- init
Guard::wait_for(sub { my $s = Guard::guard_status(); $s && $s->{generation} >= 3 }, 10);
--- request eval
["GET /", "GET /", "GET /guard"]
--- response_body_like eval
["^b1\n\$", "^b1\n\$", qr/"generation":3,.*"health":"up",[^}]*"checks":(?:[3-9]|\d\d+),.*"health":"down",[^}]*"fails":(?:[3-9]|\d\d+),/]
--- error_log eval
qr/upstream guard: zone resized from \d+ to 2097152, state kept/
--- no_error_log
[error]



=== TEST 4: a removed server is forgotten
--- http_config
    guard_shm_size 2m;
    upstream app {
        zone app 64k;
        server 127.0.0.1:$TEST_NGINX_B1;
        server 127.0.0.1:$TEST_NGINX_B3;
        guard_check http uri=/health interval=30s fall=1 rise=3
                    initial=down;
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
    server {
        listen 127.0.0.1:$TEST_NGINX_B3;
        location /health { return 200; }
        location / { return 200 "b3\n"; }
    }
--- config
    location / { proxy_pass http://app; proxy_next_upstream off; }
    location = /guard { guard_status; }
--- init
Guard::wait_for(sub { my $s = Guard::guard_status(); $s && $s->{generation} >= 4 }, 10);
--- request eval
["GET /", "GET /guard"]
--- response_body_like eval
["^b1\n\$", qr/"generation":4,(?!.*127\.0\.0\.1:$ENV{TEST_NGINX_B2}")/]
--- no_error_log
[error]



=== TEST 5: a server added back starts afresh
--- http_config
    guard_shm_size 2m;
    upstream app {
        zone app 64k;
        server 127.0.0.1:$TEST_NGINX_B1;
        server 127.0.0.1:$TEST_NGINX_B3;
        server 127.0.0.1:$TEST_NGINX_B2;
        guard_check http uri=/health interval=30s fall=1 rise=3
                    initial=down;
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
    server {
        listen 127.0.0.1:$TEST_NGINX_B3;
        location /health { return 200; }
        location / { return 200 "b3\n"; }
    }
--- config
    location / { proxy_pass http://app; proxy_next_upstream off; }
    location = /guard { guard_status; }
--- init
Guard::wait_for(sub { my $s = Guard::guard_status(); $s && $s->{generation} >= 5 }, 10);
--- request eval
["GET /", "GET /guard"]
--- response_body_like eval
["^b1\n\$", qr/"generation":5,.*"health":"up",[^}]*"checks":(?:[3-9]|\d\d+),.*"health":"(?:checking|down)",[^}]*"checks":[01],[^}]*"fails":[01],/]
--- no_error_log
[error]



=== TEST 6: checks in flight against a silent backend
--- http_config
    upstream slow {
        server 127.0.0.1:$TEST_NGINX_B4;
        guard_check http interval=100ms timeout=20s;
    }
--- config
    location = /guard { guard_status; }
--- init
# the reload is done when the report shows the new upstream; its
# generation is what TEST 7's reload must step past
my $s = Guard::wait_for(sub {
    my $s = Guard::guard_status();
    $s && Guard::upstream_state($s, 'slow') && $s;
}, 10);
Test::More::ok($s, 'the reload to upstream "slow" took effect')
    or Test::More::diag("status: " . ($Guard::ERROR // 'no upstream "slow"'));
$main::Generation6 = $s ? $s->{generation} : undef;
Test::More::like($main::Generation6 // 'none', qr/^[1-9]\d*\z/,
                 'a generation is reported');
--- request
GET /guard
--- response_body_like: "name":"slow"
--- no_error_log
[error]



=== TEST 7: a reload does not wait for those checks: old workers exit
--- http_config
    upstream slow {
        server 127.0.0.1:$TEST_NGINX_B4;
        guard_check tcp interval=100ms;
    }
--- config
    location = /guard { guard_status; }
--- init
# one reload since TEST 6: exactly one generation more
die "TEST 6 read no generation\n" unless defined $main::Generation6;
my $want = $main::Generation6 + 1;
my $seen = 'none';
my $reloaded = Guard::wait_for(sub {
    my $s = Guard::guard_status() or return 0;
    $seen = $s->{generation} // 'none';
    return $seen eq $want;
}, 10);
Test::More::ok($reloaded, "generation $want after the reload (saw $seen)");
my $t0 = Time::HiRes::time();
my $gone = Guard::wait_for(sub { Guard::old_workers() == 0 && Time::HiRes::time() }, 15);
Test::More::ok($gone && $gone - $t0 < 5,
               sprintf("old workers exited %.2f s after the reload, "
                       . "checks of 20 s still in flight", ($gone || 0) - $t0));
--- request
GET /guard
--- response_body_like: "check":"tcp"
--- no_error_log
[error]
