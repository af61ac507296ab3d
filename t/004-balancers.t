# A server that fails its check gets no new requests under every balancer,
# with and without the upstream zone, with keepalive and with backups.
# The failing server still answers traffic with its own name, so a request
# routed to it would show (proxy_next_upstream cannot hide it).  It is
# listed first: ip_hash maps every 127.0.0.x client to the first server.
use lib 't/lib';
use Guard;
use Test::Nginx::Socket 'no_plan';

our $Backends = <<"_EOC_";
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_B1};
        location /health { return 200; }
        location / { return 200 "b1\n"; }
    }
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_B2};
        location /health { return 503; }
        location / { return 200 "b2\n"; }
    }
_EOC_

no_shuffle();
check_accum_error_log();
no_root_location();
run_tests();

__DATA__

=== TEST 1: round robin
--- http_config eval
"    upstream app {
        
        server 127.0.0.1:\$TEST_NGINX_B2;
        server 127.0.0.1:\$TEST_NGINX_B1;
        guard_check http uri=/health interval=100ms timeout=3s fall=2;
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'down');
--- request eval
["GET /?k=1", "GET /?k=2", "GET /?k=3", "GET /?k=4", "GET /?k=5", "GET /?k=6", "GET /?k=7", "GET /?k=8", "GET /?k=9", "GET /?k=10", "GET /?k=11", "GET /?k=12"]
--- response_body eval
["b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n"]
--- no_error_log
[error]



=== TEST 2: least_conn
--- http_config eval
"    upstream app {
        least_conn;
        server 127.0.0.1:\$TEST_NGINX_B2;
        server 127.0.0.1:\$TEST_NGINX_B1;
        guard_check http uri=/health interval=100ms timeout=3s fall=2;
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'down');
--- request eval
["GET /?k=1", "GET /?k=2", "GET /?k=3", "GET /?k=4", "GET /?k=5", "GET /?k=6", "GET /?k=7", "GET /?k=8", "GET /?k=9", "GET /?k=10", "GET /?k=11", "GET /?k=12"]
--- response_body eval
["b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n"]
--- no_error_log
[error]



=== TEST 3: hash
--- http_config eval
"    upstream app {
        hash \$arg_k;
        server 127.0.0.1:\$TEST_NGINX_B2;
        server 127.0.0.1:\$TEST_NGINX_B1;
        guard_check http uri=/health interval=100ms timeout=3s fall=2;
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'down');
--- request eval
["GET /?k=1", "GET /?k=2", "GET /?k=3", "GET /?k=4", "GET /?k=5", "GET /?k=6", "GET /?k=7", "GET /?k=8", "GET /?k=9", "GET /?k=10", "GET /?k=11", "GET /?k=12"]
--- response_body eval
["b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n"]
--- no_error_log
[error]



=== TEST 4: hash consistent
--- http_config eval
"    upstream app {
        hash \$arg_k consistent;
        server 127.0.0.1:\$TEST_NGINX_B2;
        server 127.0.0.1:\$TEST_NGINX_B1;
        guard_check http uri=/health interval=100ms timeout=3s fall=2;
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'down');
--- request eval
["GET /?k=1", "GET /?k=2", "GET /?k=3", "GET /?k=4", "GET /?k=5", "GET /?k=6", "GET /?k=7", "GET /?k=8", "GET /?k=9", "GET /?k=10", "GET /?k=11", "GET /?k=12"]
--- response_body eval
["b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n"]
--- no_error_log
[error]



=== TEST 5: ip_hash
--- http_config eval
"    upstream app {
        ip_hash;
        server 127.0.0.1:\$TEST_NGINX_B2;
        server 127.0.0.1:\$TEST_NGINX_B1;
        guard_check http uri=/health interval=100ms timeout=3s fall=2;
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'down');
--- request eval
["GET /?k=1", "GET /?k=2", "GET /?k=3", "GET /?k=4", "GET /?k=5", "GET /?k=6", "GET /?k=7", "GET /?k=8", "GET /?k=9", "GET /?k=10", "GET /?k=11", "GET /?k=12"]
--- response_body eval
["b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n"]
--- no_error_log
[error]



=== TEST 6: random
--- http_config eval
"    upstream app {
        random;
        server 127.0.0.1:\$TEST_NGINX_B2;
        server 127.0.0.1:\$TEST_NGINX_B1;
        guard_check http uri=/health interval=100ms timeout=3s fall=2;
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'down');
--- request eval
["GET /?k=1", "GET /?k=2", "GET /?k=3", "GET /?k=4", "GET /?k=5", "GET /?k=6", "GET /?k=7", "GET /?k=8", "GET /?k=9", "GET /?k=10", "GET /?k=11", "GET /?k=12"]
--- response_body eval
["b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n"]
--- no_error_log
[error]



=== TEST 7: random two
--- http_config eval
"    upstream app {
        random two least_conn;
        server 127.0.0.1:\$TEST_NGINX_B2;
        server 127.0.0.1:\$TEST_NGINX_B1;
        guard_check http uri=/health interval=100ms timeout=3s fall=2;
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'down');
--- request eval
["GET /?k=1", "GET /?k=2", "GET /?k=3", "GET /?k=4", "GET /?k=5", "GET /?k=6", "GET /?k=7", "GET /?k=8", "GET /?k=9", "GET /?k=10", "GET /?k=11", "GET /?k=12"]
--- response_body eval
["b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n"]
--- no_error_log
[error]



=== TEST 8: round robin with keepalive
--- http_config eval
"    upstream app {
        keepalive 4;
        server 127.0.0.1:\$TEST_NGINX_B2;
        server 127.0.0.1:\$TEST_NGINX_B1;
        guard_check http uri=/health interval=100ms timeout=3s fall=2;
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'down');
--- request eval
["GET /?k=1", "GET /?k=2", "GET /?k=3", "GET /?k=4", "GET /?k=5", "GET /?k=6", "GET /?k=7", "GET /?k=8", "GET /?k=9", "GET /?k=10", "GET /?k=11", "GET /?k=12"]
--- response_body eval
["b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n"]
--- no_error_log
[error]



=== TEST 9: least_conn with keepalive
--- http_config eval
"    upstream app {
        least_conn;
        keepalive 4;
        server 127.0.0.1:\$TEST_NGINX_B2;
        server 127.0.0.1:\$TEST_NGINX_B1;
        guard_check http uri=/health interval=100ms timeout=3s fall=2;
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'down');
--- request eval
["GET /?k=1", "GET /?k=2", "GET /?k=3", "GET /?k=4", "GET /?k=5", "GET /?k=6", "GET /?k=7", "GET /?k=8", "GET /?k=9", "GET /?k=10", "GET /?k=11", "GET /?k=12"]
--- response_body eval
["b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n"]
--- no_error_log
[error]



=== TEST 10: round robin with zone
--- http_config eval
"    upstream app {
        zone app 64k;
        
        server 127.0.0.1:\$TEST_NGINX_B2;
        server 127.0.0.1:\$TEST_NGINX_B1;
        guard_check http uri=/health interval=100ms timeout=3s fall=2;
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'down');
--- request eval
["GET /?k=1", "GET /?k=2", "GET /?k=3", "GET /?k=4", "GET /?k=5", "GET /?k=6", "GET /?k=7", "GET /?k=8", "GET /?k=9", "GET /?k=10", "GET /?k=11", "GET /?k=12"]
--- response_body eval
["b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n"]
--- no_error_log
[error]



=== TEST 11: least_conn with zone
--- http_config eval
"    upstream app {
        zone app 64k;
        least_conn;
        server 127.0.0.1:\$TEST_NGINX_B2;
        server 127.0.0.1:\$TEST_NGINX_B1;
        guard_check http uri=/health interval=100ms timeout=3s fall=2;
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'down');
--- request eval
["GET /?k=1", "GET /?k=2", "GET /?k=3", "GET /?k=4", "GET /?k=5", "GET /?k=6", "GET /?k=7", "GET /?k=8", "GET /?k=9", "GET /?k=10", "GET /?k=11", "GET /?k=12"]
--- response_body eval
["b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n"]
--- no_error_log
[error]



=== TEST 12: hash with zone
--- http_config eval
"    upstream app {
        zone app 64k;
        hash \$arg_k;
        server 127.0.0.1:\$TEST_NGINX_B2;
        server 127.0.0.1:\$TEST_NGINX_B1;
        guard_check http uri=/health interval=100ms timeout=3s fall=2;
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'down');
--- request eval
["GET /?k=1", "GET /?k=2", "GET /?k=3", "GET /?k=4", "GET /?k=5", "GET /?k=6", "GET /?k=7", "GET /?k=8", "GET /?k=9", "GET /?k=10", "GET /?k=11", "GET /?k=12"]
--- response_body eval
["b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n"]
--- no_error_log
[error]



=== TEST 13: hash consistent with zone
--- http_config eval
"    upstream app {
        zone app 64k;
        hash \$arg_k consistent;
        server 127.0.0.1:\$TEST_NGINX_B2;
        server 127.0.0.1:\$TEST_NGINX_B1;
        guard_check http uri=/health interval=100ms timeout=3s fall=2;
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'down');
--- request eval
["GET /?k=1", "GET /?k=2", "GET /?k=3", "GET /?k=4", "GET /?k=5", "GET /?k=6", "GET /?k=7", "GET /?k=8", "GET /?k=9", "GET /?k=10", "GET /?k=11", "GET /?k=12"]
--- response_body eval
["b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n"]
--- no_error_log
[error]



=== TEST 14: ip_hash with zone
--- http_config eval
"    upstream app {
        zone app 64k;
        ip_hash;
        server 127.0.0.1:\$TEST_NGINX_B2;
        server 127.0.0.1:\$TEST_NGINX_B1;
        guard_check http uri=/health interval=100ms timeout=3s fall=2;
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'down');
--- request eval
["GET /?k=1", "GET /?k=2", "GET /?k=3", "GET /?k=4", "GET /?k=5", "GET /?k=6", "GET /?k=7", "GET /?k=8", "GET /?k=9", "GET /?k=10", "GET /?k=11", "GET /?k=12"]
--- response_body eval
["b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n"]
--- no_error_log
[error]



=== TEST 15: random with zone
--- http_config eval
"    upstream app {
        zone app 64k;
        random;
        server 127.0.0.1:\$TEST_NGINX_B2;
        server 127.0.0.1:\$TEST_NGINX_B1;
        guard_check http uri=/health interval=100ms timeout=3s fall=2;
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'down');
--- request eval
["GET /?k=1", "GET /?k=2", "GET /?k=3", "GET /?k=4", "GET /?k=5", "GET /?k=6", "GET /?k=7", "GET /?k=8", "GET /?k=9", "GET /?k=10", "GET /?k=11", "GET /?k=12"]
--- response_body eval
["b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n"]
--- no_error_log
[error]



=== TEST 16: random two with zone
--- http_config eval
"    upstream app {
        zone app 64k;
        random two least_conn;
        server 127.0.0.1:\$TEST_NGINX_B2;
        server 127.0.0.1:\$TEST_NGINX_B1;
        guard_check http uri=/health interval=100ms timeout=3s fall=2;
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'down');
--- request eval
["GET /?k=1", "GET /?k=2", "GET /?k=3", "GET /?k=4", "GET /?k=5", "GET /?k=6", "GET /?k=7", "GET /?k=8", "GET /?k=9", "GET /?k=10", "GET /?k=11", "GET /?k=12"]
--- response_body eval
["b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n"]
--- no_error_log
[error]



=== TEST 17: round robin with keepalive with zone
--- http_config eval
"    upstream app {
        zone app 64k;
        keepalive 4;
        server 127.0.0.1:\$TEST_NGINX_B2;
        server 127.0.0.1:\$TEST_NGINX_B1;
        guard_check http uri=/health interval=100ms timeout=3s fall=2;
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'down');
--- request eval
["GET /?k=1", "GET /?k=2", "GET /?k=3", "GET /?k=4", "GET /?k=5", "GET /?k=6", "GET /?k=7", "GET /?k=8", "GET /?k=9", "GET /?k=10", "GET /?k=11", "GET /?k=12"]
--- response_body eval
["b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n"]
--- no_error_log
[error]



=== TEST 18: least_conn with keepalive with zone
--- http_config eval
"    upstream app {
        zone app 64k;
        least_conn;
        keepalive 4;
        server 127.0.0.1:\$TEST_NGINX_B2;
        server 127.0.0.1:\$TEST_NGINX_B1;
        guard_check http uri=/health interval=100ms timeout=3s fall=2;
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'down');
--- request eval
["GET /?k=1", "GET /?k=2", "GET /?k=3", "GET /?k=4", "GET /?k=5", "GET /?k=6", "GET /?k=7", "GET /?k=8", "GET /?k=9", "GET /?k=10", "GET /?k=11", "GET /?k=12"]
--- response_body eval
["b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n"]
--- no_error_log
[error]



=== TEST 19: an unhealthy primary hands over to a healthy backup
--- http_config eval
"    upstream app {
        server 127.0.0.1:\$TEST_NGINX_B2;
        server 127.0.0.1:\$TEST_NGINX_B1 backup;
        guard_check http uri=/health interval=100ms timeout=3s fall=2;
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; }
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'down');
--- request eval
["GET /", "GET /", "GET /guard"]
--- response_body_like eval
["^b1\n\$", "^b1\n\$", qr/"role":"primary",[^}]*"health":"down".*"role":"backup",[^}]*"health":"up"/]
--- no_error_log
[error]



=== TEST 20: an unhealthy primary hands over to a healthy backup (zone)
--- http_config eval
"    upstream app {
        zone app 64k;
        server 127.0.0.1:\$TEST_NGINX_B2;
        server 127.0.0.1:\$TEST_NGINX_B1 backup;
        guard_check http uri=/health interval=100ms timeout=3s fall=2;
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; }
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'down');
--- request eval
["GET /", "GET /", "GET /guard"]
--- response_body_like eval
["^b1\n\$", "^b1\n\$", qr/"role":"primary",[^}]*"health":"down".*"role":"backup",[^}]*"health":"up"/]
--- no_error_log
[error]



=== TEST 21: backups are checked too, and an unhealthy backup is skipped
--- http_config eval
"    upstream app {
        server 127.0.0.1:\$TEST_NGINX_B5;
        server 127.0.0.1:\$TEST_NGINX_B2 backup;
        server 127.0.0.1:\$TEST_NGINX_B1 backup;
        guard_check http uri=/health interval=100ms timeout=3s fall=2;
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; proxy_next_upstream off; }
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'down');
Guard::wait_health('app', $ENV{TEST_NGINX_B5}, 'down');
--- request eval
["GET /", "GET /", "GET /", "GET /"]
--- response_body eval
["b1\n", "b1\n", "b1\n", "b1\n"]
--- no_error_log
[error]



=== TEST 22: a server the config marks down stays down although healthy
--- http_config eval
"    upstream app {
        server 127.0.0.1:\$TEST_NGINX_B1 down;
        server 127.0.0.1:\$TEST_NGINX_B2;
        guard_check http uri=/ interval=100ms fall=1 rise=1;
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; }
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, '1', 'checks');
Guard::wait_for(sub { my $s = Guard::guard_status(); $s && Guard::server_state($s, 'app', "127.0.0.1:$ENV{TEST_NGINX_B1}")->{checks} >= 3 }, 10);
--- request eval
["GET /", "GET /", "GET /guard"]
--- response_body_like eval
["^b2\n\$", "^b2\n\$", qr/"config":"down","health":"up","admin":"active","state":"config-down","in_rotation":false/]
--- no_error_log
[error]



=== TEST 23: sticky (nginx 1.29.6+) follows its cookie to a healthy server
The control for TEST 24: the cookie does pin requests here.
--- skip_nginx: 8: < 1.29.6
--- http_config eval
"    upstream app {
        server 127.0.0.1:\$TEST_NGINX_B2 route=b2;
        server 127.0.0.1:\$TEST_NGINX_B1 route=b1;
        server 127.0.0.1:\$TEST_NGINX_B3 route=b3;
        sticky cookie srv;
        guard_check http uri=/health interval=100ms timeout=3s fall=2;
    }
    server {
        listen 127.0.0.1:\$TEST_NGINX_B3;
        location /health { return 200; }
        location / { return 200 \"b3\\n\"; }
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; }
    location = /guard { guard_status; }
--- init
return if Guard::nginx_version() < 1029006;   # init runs when skipped too
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'down');
Guard::wait_health('app', $ENV{TEST_NGINX_B3}, 'up');
--- more_headers
Cookie: srv=b3
--- request eval
["GET /?k=1", "GET /?k=2", "GET /?k=3", "GET /?k=4", "GET /?k=5", "GET /?k=6"]
--- response_body eval
["b3\n", "b3\n", "b3\n", "b3\n", "b3\n", "b3\n"]
--- no_error_log
[error]



=== TEST 24: sticky (nginx 1.29.6+) does not follow its cookie to an unhealthy server
--- skip_nginx: 8: < 1.29.6
--- http_config eval
"    upstream app {
        server 127.0.0.1:\$TEST_NGINX_B2 route=b2;
        server 127.0.0.1:\$TEST_NGINX_B1 route=b1;
        sticky cookie srv;
        guard_check http uri=/health interval=100ms timeout=3s fall=2;
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; }
    location = /guard { guard_status; }
--- init
return if Guard::nginx_version() < 1029006;   # init runs when skipped too
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'down');
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
--- more_headers
Cookie: srv=b2
--- request eval
["GET /?k=1", "GET /?k=2", "GET /?k=3", "GET /?k=4", "GET /?k=5", "GET /?k=6"]
--- response_body eval
["b1\n", "b1\n", "b1\n", "b1\n", "b1\n", "b1\n"]
--- no_error_log
[error]



=== TEST 25: nginx's own drain (1.29.6+) keeps its meaning: a sticky-bound request goes
A drained server takes no new request (TEST 26), but one whose cookie names
it still goes there while it is healthy; the report says config "drain".
--- skip_nginx: 7: < 1.29.6
--- http_config eval
"    upstream app {
        server 127.0.0.1:\$TEST_NGINX_B1 route=b1 drain;
        server 127.0.0.1:\$TEST_NGINX_B3 route=b3;
        sticky cookie srv;
        guard_check http uri=/health interval=100ms timeout=3s fall=2;
    }
    server {
        listen 127.0.0.1:\$TEST_NGINX_B3;
        location /health { return 200; }
        location / { return 200 \"b3\\n\"; }
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; }
    location = /guard { guard_status; }
--- init
return if Guard::nginx_version() < 1029006;   # init runs when skipped too
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
Guard::wait_health('app', $ENV{TEST_NGINX_B3}, 'up');
--- more_headers
Cookie: srv=b1
--- request eval
["GET /?k=1", "GET /?k=2", "GET /guard?upstream=app"]
--- response_body_like eval
["^b1\n\$", "^b1\n\$",
 qr/"draining":1,.*"server":"127.0.0.1:$ENV{TEST_NGINX_B1}",[^}]*"config":"drain","health":"up","admin":"active","state":"draining","in_rotation":false/]
--- no_error_log
[error]



=== TEST 26: nginx's own drain (1.29.6+) keeps its meaning: no new request
--- skip_nginx: 8: < 1.29.6
--- http_config eval
"    upstream app {
        server 127.0.0.1:\$TEST_NGINX_B1 route=b1 drain;
        server 127.0.0.1:\$TEST_NGINX_B3 route=b3;
        sticky cookie srv;
        guard_check http uri=/health interval=100ms timeout=3s fall=2;
    }
    server {
        listen 127.0.0.1:\$TEST_NGINX_B3;
        location /health { return 200; }
        location / { return 200 \"b3\\n\"; }
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; }
    location = /guard { guard_status; }
--- init
return if Guard::nginx_version() < 1029006;   # init runs when skipped too
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
Guard::wait_health('app', $ENV{TEST_NGINX_B3}, 'up');
--- request eval
["GET /?k=1", "GET /?k=2", "GET /?k=3", "GET /?k=4", "GET /?k=5", "GET /?k=6"]
--- response_body eval
["b3\n", "b3\n", "b3\n", "b3\n", "b3\n", "b3\n"]
--- no_error_log
[error]



=== TEST 27: sticky learn with header (1.29.6+): every callback reaches sticky
nginx calls the balancer's notify when the response header arrives; the
guard's per-request wrapper must hand it on, or sticky gets the guard's data
and the worker crashes.
--- skip_nginx: 4: < 1.29.6
--- http_config eval
"    upstream app {
        server 127.0.0.1:\$TEST_NGINX_B2;
        server 127.0.0.1:\$TEST_NGINX_B1;
        server 127.0.0.1:\$TEST_NGINX_B3;
        sticky learn create=\$upstream_cookie_x lookup=\$cookie_x
               zone=s:1m header;
        guard_check http uri=/health interval=100ms timeout=3s fall=2;
    }
    server {
        listen 127.0.0.1:\$TEST_NGINX_B3;
        location /health { return 200; }
        location / { add_header Set-Cookie x=b3; return 200 \"b3\\n\"; }
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; }
    location = /guard { guard_status; }
--- init
return if Guard::nginx_version() < 1029006;   # init runs when skipped too
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'down');
Guard::wait_health('app', $ENV{TEST_NGINX_B3}, 'up');
my $s = Guard::shares(10, '/');
Test::More::is(join(',', map { "$_=$s->{$_}" } sort keys %$s), "b1=5,b3=5",
               'requests without a cookie go round the healthy servers');
--- more_headers
Cookie: x=b3
--- request
GET /?k=1
--- response_body
b3
--- no_error_log
exited on signal
[alert]



=== TEST 28: sticky learn without header (1.29.6+)
--- skip_nginx: 4: < 1.29.6
--- http_config eval
"    upstream app {
        server 127.0.0.1:\$TEST_NGINX_B2;
        server 127.0.0.1:\$TEST_NGINX_B1;
        server 127.0.0.1:\$TEST_NGINX_B3;
        sticky learn create=\$upstream_cookie_x lookup=\$cookie_x zone=s:1m;
        guard_check http uri=/health interval=100ms timeout=3s fall=2;
    }
    server {
        listen 127.0.0.1:\$TEST_NGINX_B3;
        location /health { return 200; }
        location / { add_header Set-Cookie x=b3; return 200 \"b3\\n\"; }
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; }
    location = /guard { guard_status; }
--- init
return if Guard::nginx_version() < 1029006;   # init runs when skipped too
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'down');
Guard::wait_health('app', $ENV{TEST_NGINX_B3}, 'up');
my $s = Guard::shares(10, '/');
Test::More::is(join(',', map { "$_=$s->{$_}" } sort keys %$s), "b1=5,b3=5",
               'requests without a cookie go round the healthy servers');
--- more_headers
Cookie: x=b3
--- request
GET /?k=1
--- response_body
b3
--- no_error_log
exited on signal
[alert]



=== TEST 29: least_time header inflight (1.31.0+), keepalive on by default
least_time learns from notify: the fast server takes nearly every request.
--- skip_nginx: 4: < 1.31.0
--- http_config eval
"    upstream app {
        least_time header inflight;
        server 127.0.0.1:\$TEST_NGINX_B1;
        server 127.0.0.1:\$TEST_NGINX_B3;
        guard_check http uri=/health interval=100ms timeout=3s fall=2;
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
    location = /guard { guard_status; }
--- init
return if Guard::nginx_version() < 1031000;   # init runs when skipped too
Guard::start_hostile('slow:150', $ENV{TEST_NGINX_B3}, lifetime => 60);
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
Guard::wait_health('app', $ENV{TEST_NGINX_B3}, 'up');
my $s = Guard::shares(30, '/');
my $fast = $s->{"b1\n"} // $s->{b1} // 0;
Test::More::ok($fast >= 25, "the fast server takes $fast of 30 requests");
Guard::stop_hostile($ENV{TEST_NGINX_B3});
--- request
GET /guard
--- response_body_like: "name":"app"
--- no_error_log
exited on signal
[alert]



=== TEST 30: least_time header (1.31.0+) without keepalive still learns
--- skip_nginx: 4: < 1.31.0
--- http_config eval
"    upstream app {
        least_time header;
        keepalive 0;
        server 127.0.0.1:\$TEST_NGINX_B1;
        server 127.0.0.1:\$TEST_NGINX_B3;
        guard_check http uri=/health interval=100ms timeout=3s fall=2;
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; }
    location = /guard { guard_status; }
--- init
return if Guard::nginx_version() < 1031000;   # init runs when skipped too
Guard::start_hostile('slow:150', $ENV{TEST_NGINX_B3}, lifetime => 60);
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
Guard::wait_health('app', $ENV{TEST_NGINX_B3}, 'up');
my $s = Guard::shares(30, '/');
my $fast = $s->{"b1\n"} // $s->{b1} // 0;
Test::More::ok($fast >= 25, "the fast server takes $fast of 30 requests");
Guard::stop_hostile($ENV{TEST_NGINX_B3});
--- request
GET /guard
--- response_body_like: "name":"app"
--- no_error_log
exited on signal
[alert]



=== TEST 31: nginx's own drain (1.29.6+): bound requests return once it is healthy again
A draining server that crashed carries nginx's count of passive failures
(max_fails) when it passes its checks again.  The guard forgets that
count for a server back in rotation; it must for a draining one too, or
requests bound to it by sticky go elsewhere (and are bound there) until
fail_timeout ends, here a minute.
--- skip_nginx: 11: < 1.29.6
--- http_config eval
"    upstream app {
        zone app 64k;
        server 127.0.0.1:\$TEST_NGINX_B4 route=b4 drain max_fails=1 fail_timeout=60s;
        server 127.0.0.1:\$TEST_NGINX_B3 route=b3;
        server 127.0.0.1:\$TEST_NGINX_B5 route=b5;
        sticky cookie srv;
        guard_check http uri=/health interval=100ms timeout=3s fall=2 rise=2;
    }
    server {
        listen 127.0.0.1:\$TEST_NGINX_B4;
        root html;
        location /health { if (-f \$document_root/b4-sick) { return 503; } return 200; }
        location / { if (-f \$document_root/b4-broken) { return 502; } return 200 \"b4\\n\"; }
    }
    server {
        listen 127.0.0.1:\$TEST_NGINX_B3;
        listen 127.0.0.1:\$TEST_NGINX_B5;
        location /health { return 200; }
        location / { return 200 \"b\$server_port\\n\"; }
    }
"
--- config
    location / { proxy_pass http://app; proxy_next_upstream error timeout http_502; }
    location = /guard { guard_status; }
--- init
return if Guard::nginx_version() < 1029006;   # init runs when skipped too
Guard::health_file('b4-sick', 0);
Guard::health_file('b4-broken', 0);
Guard::wait_health('app', $ENV{TEST_NGINX_B4}, 'up');
Guard::wait_health('app', $ENV{TEST_NGINX_B3}, 'up');
Guard::wait_health('app', $ENV{TEST_NGINX_B5}, 'up');
# the crash as the bound client sees it: its request fails on b4 and goes
# on (nginx counts the failure); then the checks see b4 down and up again
Guard::health_file('b4-broken', 1);
my (undef, $body) = Guard::http_get('/?k=0', undef,
                                    headers => { Cookie => 'srv=b4' });
Test::More::like($body, qr/^b(?:$ENV{TEST_NGINX_B3}|$ENV{TEST_NGINX_B5})\n\z/,
                 'the failed request went on');
Guard::health_file('b4-broken', 0);
($body) = (Guard::http_get('/?k=0', undef,
                           headers => { Cookie => 'srv=b4' }))[1];
Test::More::isnt($body, "b4\n", 'nginx counted the failure: b4 is skipped');
Guard::health_file('b4-sick', 1);
Guard::wait_health('app', $ENV{TEST_NGINX_B4}, 'down');
Guard::health_file('b4-sick', 0);
Guard::wait_health('app', $ENV{TEST_NGINX_B4}, 'up');
--- more_headers
Cookie: srv=b4
--- request eval
["GET /?k=1", "GET /?k=2", "GET /?k=3"]
--- response_body eval
["b4\n", "b4\n", "b4\n"]
--- no_error_log
[error]
