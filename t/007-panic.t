# When no server of an upstream is in rotation: fail open (the default)
# routes over every server nginx's config does not mark down; fail closed
# gives nginx's 502.
use lib 't/lib';
use Guard;
use Test::Nginx::Socket 'no_plan';

our $Backends = <<"_EOC_";
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_B1};
        location /health { return 503; }
        location / { return 200 "b1\\n"; }
    }
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_B2};
        location /health { return 503; }
        location / { return 200 "b2\\n"; }
    }
_EOC_

no_shuffle();
check_accum_error_log();
no_root_location();
run_tests();

__DATA__

=== TEST 1: fail open: all servers unhealthy, traffic still flows
--- http_config eval
"    upstream app {
        server 127.0.0.1:\$TEST_NGINX_B1;
        server 127.0.0.1:\$TEST_NGINX_B2;
        guard_check http uri=/health interval=100ms fall=1;
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; }
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'down');
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'down');
--- request eval
["GET /", "GET /", "GET /guard"]
--- response_body_like eval
["^b[12]\n\$", "^b[12]\n\$", qr/"panic":"open","fail_open_active":true,.*"in_rotation":0,.*"status":"panic"/]
--- no_error_log
[error]



=== TEST 2: fail open never routes to a server the config marks down
--- http_config eval
"    upstream app {
        server 127.0.0.1:\$TEST_NGINX_B1;
        server 127.0.0.1:\$TEST_NGINX_B2 down;
        guard_check http uri=/health interval=100ms fall=1;
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; }
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'down');
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'down');
--- request eval
["GET /", "GET /", "GET /", "GET /"]
--- response_body eval
["b1\n", "b1\n", "b1\n", "b1\n"]
--- no_error_log
[error]



=== TEST 3: fail closed: all servers unhealthy gives 502
--- http_config eval
"    upstream app {
        server 127.0.0.1:\$TEST_NGINX_B1;
        server 127.0.0.1:\$TEST_NGINX_B2;
        guard_check http uri=/health interval=100ms fall=1;
        guard_panic closed;
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; }
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'down');
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'down');
--- request eval
["GET /", "GET /guard"]
--- error_code eval
[502, 200]
--- response_body_like eval
[qr/502 Bad Gateway/, qr/"panic":"closed","fail_open_active":false,.*"status":"panic"/]
--- error_log
no live upstreams



=== TEST 4: fail closed with a zone and the hash balancer
--- http_config eval
"    upstream app {
        zone app 64k;
        hash \$arg_k;
        server 127.0.0.1:\$TEST_NGINX_B1;
        server 127.0.0.1:\$TEST_NGINX_B2;
        guard_check http uri=/health interval=100ms fall=1;
        guard_panic closed;
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; }
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'down');
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'down');
--- request eval
["GET /?k=1", "GET /?k=2", "GET /?k=3"]
--- error_code eval
[502, 502, 502]



=== TEST 5: initial=down: a cold start answers 502 until the first pass
--- http_config eval
"    upstream app {
        server 127.0.0.1:\$TEST_NGINX_B1;
        guard_check http uri=/ interval=30s initial=down;
        guard_panic closed;
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; }
--- request
GET /
--- error_code: 502
