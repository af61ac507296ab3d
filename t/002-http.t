# http checks: status, header and body rules, fall/rise counting, the
# request the checker sends, keepalive reuse, chunked bodies, body_limit.
use lib 't/lib';
use Guard;
use Test::Nginx::Socket 'no_plan';

no_shuffle();
check_accum_error_log();
no_root_location();
run_tests();

__DATA__

=== TEST 1: a server answering 503 leaves rotation, the healthy one serves
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        server 127.0.0.1:$TEST_NGINX_B2;
        guard_check http uri=/health interval=100ms fall=2 rise=2;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B1;
        location /health { return 200 "ok"; }
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
["GET /a", "GET /b", "GET /c", "GET /d"]
--- response_body eval
["b1\n", "b1\n", "b1\n", "b1\n"]
--- error_log eval
qr/upstream guard: server 127\.0\.0\.1:\d+ \(127\.0\.0\.1:\d+\) of upstream "app" is down: status 503 \(2 consecutive failures\)/
--- no_error_log
[error]



=== TEST 2: status list with a negation
--- http_config
    guard_match no204 { status 200-299 !204; }
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        server 127.0.0.1:$TEST_NGINX_B2;
        guard_check http uri=/health interval=100ms fall=1 match=no204;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B1;
        location /health { return 200; }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B2;
        location /health { return 204; }
    }
--- config
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'down');
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
--- request
GET /guard
--- response_body_like: "address":"127.0.0.1:\d+","last_failure":\{"reason":"status 204"[^}]*\},"role":"primary","config":"up","health":"down"
--- no_error_log
[error]



=== TEST 3: header rules: regex, case-insensitive, absent
--- http_config
    guard_match json { header Content-Type ~* JSON; header !X-Maintenance; }
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        server 127.0.0.1:$TEST_NGINX_B2;
        server 127.0.0.1:$TEST_NGINX_B3;
        guard_check http uri=/health interval=100ms fall=1 match=json;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B1;
        location /health { default_type application/json; return 200 "{}"; }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B2;
        location /health { default_type text/html; return 200 "<p>"; }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B3;
        location /health {
            default_type application/json;
            add_header X-Maintenance yes;
            return 200 "{}";
        }
    }
--- config
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'down');
Guard::wait_health('app', $ENV{TEST_NGINX_B3}, 'down');
--- request
GET /guard
--- response_body_like eval
qr/"last_failure":null,[^}]*"health":"up".*"last_failure":\{"reason":"header Content-Type mismatch"[^}]*\},[^}]*"health":"down".*"last_failure":\{"reason":"header X-Maintenance present"[^}]*\},[^}]*"health":"down"/
--- no_error_log
[error]



=== TEST 4: body rules: match and no match
--- http_config
    guard_match up { body ~ "\"status\": *\"up\""; }
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        server 127.0.0.1:$TEST_NGINX_B2;
        guard_check http uri=/health interval=100ms fall=1 match=up;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B1;
        location /health { return 200 '{"status":   "up"}'; }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B2;
        location /health { return 200 '{"status": "degraded"}'; }
    }
--- config
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'down');
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up', 'health', 10);
--- request
GET /guard
--- response_body_like eval
qr/"last_failure":null,[^}]*"health":"up".*"last_failure":\{"reason":"body mismatch"[^}]*\},[^}]*"health":"down"/
--- error_log eval
qr/of upstream "app" is down: body mismatch \(1 consecutive failures\)/
--- no_error_log
[error]



=== TEST 5: body negation
--- http_config
    guard_match noerr { body !~* "error"; }
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http uri=/health interval=100ms fall=1 match=noerr;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B1;
        location /health { return 200 'database: ERROR'; }
    }
--- config
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'down');
--- request
GET /guard
--- response_body_like: "last_failure":\{"reason":"body matched"[^}]*\}



=== TEST 6: fall and rise count consecutive results
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        server 127.0.0.1:$TEST_NGINX_B2;
        guard_check http uri=/health interval=100ms fall=3 rise=2;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B1;
        location /health { root html; if (-f $document_root/b1-up) { return 200 "up\n"; } return 404; }
        location / { return 200 "b1\n"; }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B2;
        location /health { return 200; }
        location / { return 200 "b2\n"; }
    }
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
--- request eval
["GET /guard", "GET /", "GET /"]
--- response_body_like eval
[qr/"health":"up".*"health":"up"/s, qr/^b[12]\n$/, qr/^b[12]\n$/]
--- error_log eval
[qr/127\.0\.0\.1:\d+\) of upstream "app" is down: status 404 \(3 consecutive failures\)/,
 qr/127\.0\.0\.1:\d+\) of upstream "app" is up \(2 consecutive passes\)/]
--- no_error_log
[error]



=== TEST 7: the check request: method, uri, Host and extra headers
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        server 127.0.0.1:$TEST_NGINX_B2;
        guard_check http uri=/deep/health?x=1 method=HEAD host=app.test
                    interval=100ms fall=1;
        guard_check_header X-Probe secret;
    }
    upstream wrong {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http uri=/deep/health?x=1 interval=100ms fall=1;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B1;
        location = /deep/health {
            if ($request_method != HEAD) { return 405; }
            if ($http_x_probe != "secret") { return 403; }
            if ($host != "app.test") { return 421; }
            if ($arg_x != 1) { return 400; }
            if ($http_user_agent !~ "^nginx-upstream-guard/") { return 418; }
            return 200 "ok";
        }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B2;
        location / { return 200 "ok"; }
    }
--- config
    location = /guard { guard_status; }
--- init
Guard::wait_health('wrong', $ENV{TEST_NGINX_B1}, 'down');
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up', 'health', 10);
--- request
GET /guard
--- response_body_like eval
qr/"name":"app".*"health":"up".*"name":"wrong".*"last_failure":\{"reason":"status 405"[^}]*\}/
--- no_error_log
[error]



=== TEST 8: keepalive reuses the check connection, http=1.0 never does
--- http_config
    log_format reqs '$connection_requests $request';
    upstream reuse {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http uri=/ka interval=100ms http=1.1 keepalive=4;
    }
    upstream fresh {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http uri=/close interval=100ms;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B1;
        access_log logs/b1.log reqs;
        location / { return 200 "ok"; }
    }
--- config
    location = /b1log { default_type text/plain; alias logs/b1.log; }
    location = /guard { guard_status; }
--- init
Guard::wait_for(sub { my ($st, $b) = Guard::http_get('/b1log'); ($b // '') =~ /^4 GET \/ka/m }, 10);
--- request
GET /b1log
--- response_body_like eval
qr/\A(?!.*^[2-9] GET \/close)(?!.*^5 GET \/ka).*^4 GET \/ka HTTP\/1\.1$/ms
--- no_error_log
[error]



=== TEST 9: a chunked body is decoded before matching
--- http_config
    guard_match up { body ~ "^\{\"status\": \"up\"\}\n$"; }
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http uri=/health.json interval=100ms http=1.1 fall=1
                    initial=down rise=1 match=up;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B1;
        location / { root html; ssi on; ssi_types application/json; }
    }
--- config
    location = /guard { guard_status; }
--- user_files
>>> health.json
{"status": "up"}
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
--- request
GET /guard
--- response_body_like: "health":"up"
--- no_error_log
[error]



=== TEST 10: body_limit bounds what is read and matched
--- http_config
    guard_match up { body ~ "status up"; }
    upstream small {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http uri=/big.txt interval=100ms fall=1 match=up;
    }
    upstream large {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http uri=/big.txt interval=100ms fall=1 match=up
                    body_limit=64k;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B1;
        location / { root html; }
    }
--- config
    location = /guard { guard_status; }
--- user_files eval
">>> big.txt\n" . ("x" x 20000) . "\nstatus up\n"
--- init
Guard::wait_health('small', $ENV{TEST_NGINX_B1}, 'down');
Guard::wait_health('large', $ENV{TEST_NGINX_B1}, 'up', 'health', 10);
--- request
GET /guard
--- response_body_like eval
qr/"name":"small".*"last_failure":\{"reason":"body mismatch"[^}]*\}.*"name":"large".*"last_failure":null,"[^}]*"health":"up"/
--- no_error_log
[error]



=== TEST 11: a unix-socket server is checked with Host: localhost, as nginx proxies to it
--- http_config
    upstream sock {
        server unix:$TEST_NGINX_SERVER_ROOT/logs/app.sock;
        guard_check http uri=/health interval=100ms fall=1 rise=1
                    initial=down;
    }
    server {
        listen unix:$TEST_NGINX_SERVER_ROOT/logs/app.sock;
        location = /health {
            if ($host != "localhost") { return 421; }
            return 200 "ok";
        }
    }
--- config
    location = /guard { guard_status; }
--- init
my $name = "unix:$ENV{TEST_NGINX_SERVER_ROOT}/logs/app.sock";
my $seen = 'nothing';
Guard::wait_for(sub {
    my $s = Guard::server_state(Guard::guard_status(), 'sock', $name)
        or return 0;
    $seen = "health $s->{health}, reason " . Guard::reason($s);
    return $s->{health} eq 'up';
}, 10) or Test::More::diag("sock: saw $seen");
--- request
GET /guard
--- response_body_like: "name":"sock".*"last_failure":null,[^}]*"health":"up"
--- no_error_log
[error]



=== TEST 12: a User-Agent of guard_check_header replaces the default one
--- http_config
    log_format ua '"$http_user_agent"';
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http uri=/health interval=100ms fall=1 rise=1
                    initial=down;
        guard_check_header user-agent lb-probe;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B1;
        access_log logs/ua.log ua;
        location = /health {
            if ($http_user_agent != "lb-probe") { return 403; }
            return 200 "ok";
        }
    }
--- config
    location = /ualog { default_type text/plain; alias logs/ua.log; }
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
--- request
GET /ualog
--- response_body_like eval
qr/\A(?:"lb-probe"\n)+\z/
--- no_error_log
[error]
