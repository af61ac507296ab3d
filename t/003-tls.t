# https and ssl_hello checks through nginx's OpenSSL layer: verification
# against a trusted CA, host name checks, SNI, client certificates.
use lib 't/lib';
use Guard;
use Test::Nginx::Socket 'no_plan';

# Under valgrind (TEST_NGINX_USE_VALGRIND, scripts/valgrind) TEST 1-4 are
# skipped: the first TLS handshake of a fresh nginx process under memcheck
# keeps it busy for 3-7 s (OpenSSL's first use of its algorithms), longer
# than the 1 s check timeout, so the first check times out, and these
# blocks assert on the first result (a clean last_reason, or the reason of
# the first failure).  TEST 5-7 wait for a state any later check reaches.
# Test::Nginx runs "--- init" of a skipped block too (against no nginx),
# hence the same condition there.

make_certs();

no_shuffle();
check_accum_error_log();
no_root_location();
run_tests();

__DATA__

=== TEST 1: https with verification against the test CA
--- skip_eval: 3: $ENV{TEST_NGINX_USE_VALGRIND}
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check https uri=/health interval=100ms fall=1 rise=1
                    initial=down;
        guard_check_ssl_verify on;
        guard_check_ssl_trusted_certificate $TEST_NGINX_CERTS/ca.crt;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B1 ssl;
        ssl_certificate $TEST_NGINX_CERTS/server.crt;
        ssl_certificate_key $TEST_NGINX_CERTS/server.key;
        location /health { return 200 "ok"; }
    }
--- config
    location = /guard { guard_status; }
--- init
return if $ENV{TEST_NGINX_USE_VALGRIND};    # skipped (see the top)
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
--- request
GET /guard
--- response_body_like: "last_failure":null,[^}]*"health":"up"
--- no_error_log
[error]



=== TEST 2: a certificate the CA did not sign fails verification
--- skip_eval: 3: $ENV{TEST_NGINX_USE_VALGRIND}
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check https uri=/health interval=100ms fall=1;
        guard_check_ssl_verify on;
        guard_check_ssl_trusted_certificate $TEST_NGINX_CERTS/ca.crt;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B1 ssl;
        ssl_certificate $TEST_NGINX_CERTS/other.crt;
        ssl_certificate_key $TEST_NGINX_CERTS/other.key;
        location /health { return 200 "ok"; }
    }
--- config
    location = /guard { guard_status; }
--- init
return if $ENV{TEST_NGINX_USE_VALGRIND};    # skipped (see the top)
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'down');
--- request
GET /guard
--- response_body_like: "last_failure":\{"reason":"certificate verify failed: self[- ]signed certificate"[^}]*\}
--- no_error_log
[error]



=== TEST 3: a certificate for another name fails the host check
--- skip_eval: 3: $ENV{TEST_NGINX_USE_VALGRIND}
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check https uri=/health interval=100ms fall=1 host=backend.test;
        guard_check_ssl_verify on;
        guard_check_ssl_trusted_certificate $TEST_NGINX_CERTS/ca.crt;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B1 ssl;
        ssl_certificate $TEST_NGINX_CERTS/wrongname.crt;
        ssl_certificate_key $TEST_NGINX_CERTS/wrongname.key;
        location /health { return 200 "ok"; }
    }
--- config
    location = /guard { guard_status; }
--- init
return if $ENV{TEST_NGINX_USE_VALGRIND};    # skipped (see the top)
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'down');
--- request
GET /guard
--- response_body_like: "last_failure":\{"reason":"certificate does not match \\"backend.test\\""[^}]*\}
--- no_error_log
[error]



=== TEST 4: SNI carries the host name; guard_check_ssl_name overrides it
--- skip_eval: 3: $ENV{TEST_NGINX_USE_VALGRIND}
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check https uri=/health interval=100ms fall=1 rise=1
                    initial=down host=backend.test;
    }
    upstream named {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check https uri=/health interval=100ms fall=1;
        guard_check_ssl_name other.test;
    }
    upstream nosni {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check https uri=/health interval=100ms fall=1 host=backend.test;
        guard_check_ssl_server_name off;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B1 ssl;
        ssl_certificate $TEST_NGINX_CERTS/server.crt;
        ssl_certificate_key $TEST_NGINX_CERTS/server.key;
        location /health {
            if ($ssl_server_name != "backend.test") { return 421; }
            return 200 "ok";
        }
    }
--- config
    location = /guard { guard_status; }
--- init
return if $ENV{TEST_NGINX_USE_VALGRIND};    # skipped (see the top)
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
Guard::wait_health('named', $ENV{TEST_NGINX_B1}, 'down');
Guard::wait_health('nosni', $ENV{TEST_NGINX_B1}, 'down');
--- request
GET /guard
--- response_body_like eval
qr/"name":"app".*"health":"up".*"name":"named".*"last_failure":\{"reason":"status 421"[^}]*\}.*"name":"nosni".*"last_failure":\{"reason":"status 421"[^}]*\}/
--- no_error_log
[error]



=== TEST 5: a backend that requires a client certificate
--- http_config
    upstream nocert {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check https uri=/health interval=100ms fall=1;
    }
    upstream withcert {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check https uri=/health interval=100ms fall=1 rise=1
                    initial=down;
        guard_check_ssl_certificate $TEST_NGINX_CERTS/client.crt;
        guard_check_ssl_certificate_key $TEST_NGINX_CERTS/client.key;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B1 ssl;
        ssl_certificate $TEST_NGINX_CERTS/server.crt;
        ssl_certificate_key $TEST_NGINX_CERTS/server.key;
        ssl_client_certificate $TEST_NGINX_CERTS/ca.crt;
        ssl_verify_client on;
        location /health { return 200 "ok"; }
    }
--- config
    location = /guard { guard_status; }
--- init
Guard::wait_health('nocert', $ENV{TEST_NGINX_B1}, 'down');
Guard::wait_health('withcert', $ENV{TEST_NGINX_B1}, 'up');
--- request
GET /guard
--- response_body_like eval
qr/"name":"nocert".*"health":"down".*"name":"withcert".*"health":"up"/
--- no_error_log
[error]



=== TEST 6: ssl_hello passes on a TLS server and fails on plain HTTP
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        server 127.0.0.1:$TEST_NGINX_B2;
        guard_check ssl_hello interval=100ms fall=1 rise=1 initial=down;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B1 ssl;
        ssl_certificate $TEST_NGINX_CERTS/server.crt;
        ssl_certificate_key $TEST_NGINX_CERTS/server.key;
        location / { return 200 "ok"; }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B2;
        location / { return 200 "ok"; }
    }
--- config
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'down', 'health', 10);
--- request
GET /guard
--- response_body_like eval
qr/"health":"up".*"last_failure":\{"reason":"tls handshake failed"[^}]*\},[^}]*"health":"down"/
--- no_error_log
[error]



=== TEST 7: tcp checks: connect refused, port= checks another port
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        server 127.0.0.1:$TEST_NGINX_B5;
        guard_check tcp interval=100ms fall=1;
    }
    upstream other_port {
        server 127.0.0.1:$TEST_NGINX_B5;
        guard_check tcp interval=100ms fall=1 rise=1 initial=down
                    port=$TEST_NGINX_B1;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B1;
        location / { return 200 "ok"; }
    }
--- config
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
Guard::wait_health('app', $ENV{TEST_NGINX_B5}, 'down');
Guard::wait_health('other_port', $ENV{TEST_NGINX_B5}, 'up');
--- request
GET /guard
--- response_body_like eval
qr/"name":"app".*"health":"up".*"last_failure":\{"reason":"connect refused"[^}]*\},[^}]*"health":"down".*"name":"other_port".*"health":"up"/
--- no_error_log
[error]
