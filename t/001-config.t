# Every bad directive or parameter fails nginx -t with a message naming it;
# nginx itself adds the file and line.
use lib 't/lib';
use Guard;
use Test::Nginx::Socket 'no_plan';

no_shuffle();
no_root_location();
run_tests();

__DATA__
=== TEST 1: a valid configuration starts
--- http_config
    guard_match healthy {
        status 200-299 !204;
        header Content-Type ~* json;
        header !X-Maintenance;
        body ~ "\"status\": *\"up\"";
    }
    upstream app {
        zone app 64k;
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http uri=/health?full=1 interval=500ms timeout=250ms
                    jitter=100ms fall=2 rise=1 port=$TEST_NGINX_B1 initial=down
                    method=HEAD host=app.test http=1.1 keepalive=5
                    match=healthy body_limit=4k;
        guard_check_header X-Probe yes;
        guard_panic closed;
    }
--- config
    location = /guard { guard_status; }
--- request
GET /guard
--- response_body_like: "name":"app"
--- no_error_log
[error]

=== TEST 2: unknown check type
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check smtp;
    }
--- config
--- must_die
--- error_log
invalid check type "smtp"

=== TEST 3: unknown parameter
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http color=blue;
    }
--- config
--- must_die
--- error_log
invalid guard_check parameter "color=blue"

=== TEST 4: bad interval
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http interval=fast;
    }
--- config
--- must_die
--- error_log
invalid guard_check parameter "interval=fast", expected a time

=== TEST 5: zero interval
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http interval=0;
    }
--- config
--- must_die
--- error_log
invalid guard_check parameter "interval=0"

=== TEST 6: zero timeout
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http timeout=0s;
    }
--- config
--- must_die
--- error_log
invalid guard_check parameter "timeout=0s"

=== TEST 7: bad jitter
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http jitter=-1;
    }
--- config
--- must_die
--- error_log
invalid guard_check parameter "jitter=-1"

=== TEST 8: fall out of range
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http fall=0;
    }
--- config
--- must_die
--- error_log
invalid guard_check parameter "fall=0", expected a number from 1 to 1000

=== TEST 9: rise not a number
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http rise=two;
    }
--- config
--- must_die
--- error_log
invalid guard_check parameter "rise=two"

=== TEST 10: port out of range
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check tcp port=70000;
    }
--- config
--- must_die
--- error_log
invalid guard_check parameter "port=70000", expected a number from 1 to 65535

=== TEST 11: bad initial state
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check tcp initial=maybe;
    }
--- config
--- must_die
--- error_log
invalid guard_check parameter "initial=maybe"

=== TEST 12: bad http version
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http http=2;
    }
--- config
--- must_die
--- error_log
invalid guard_check parameter "http=2"

=== TEST 13: uri without slash
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http uri=health;
    }
--- config
--- must_die
--- error_log
invalid guard_check parameter "uri=health"

=== TEST 14: lowercase method
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http method=get;
    }
--- config
--- must_die
--- error_log
invalid guard_check parameter "method=get"

=== TEST 15: empty host
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http host=;
    }
--- config
--- must_die
--- error_log
invalid guard_check parameter "host="

=== TEST 16: body limit too large
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http body_limit=2m;
    }
--- config
--- must_die
--- error_log
invalid guard_check parameter "body_limit=2m", expected a size up to 1m

=== TEST 17: duplicate guard_check
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check tcp; guard_check http;
    }
--- config
--- must_die
--- error_log
"guard_check" directive is duplicate

=== TEST 18: keepalive without http/1.1
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http keepalive=10;
    }
--- config
--- must_die
--- error_log
guard_check keepalive= needs http=1.1

=== TEST 19: keepalive on tcp
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check tcp http=1.1 keepalive=10;
    }
--- config
--- must_die
--- error_log
guard_check keepalive= is for http and https checks

=== TEST 20: match on a tcp check
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check tcp match=ok;
    }
--- config
--- must_die
--- error_log
guard_check match= is for http and https checks

=== TEST 21: unknown match
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http match=nosuch;
    }
--- config
--- must_die
--- error_log eval
qr/unknown guard_match "nosuch" in \S+nginx\.conf:\d+/

=== TEST 22: bad panic value
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check tcp; guard_panic sometimes;
    }
--- config
--- must_die
--- error_log
invalid value "sometimes"

=== TEST 23: bad header name
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http; guard_check_header "X Bad" 1;
    }
--- config
--- must_die
--- error_log
invalid header name "X Bad"

=== TEST 24: verify without CA
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check https; guard_check_ssl_verify on;
    }
--- config
--- must_die
--- error_log
no guard_check_ssl_trusted_certificate for guard_check_ssl_verify

=== TEST 25: certificate without key
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check https; guard_check_ssl_certificate /nonexistent.crt;
    }
--- config
--- must_die
--- error_log
no guard_check_ssl_certificate_key for guard_check_ssl_certificate

=== TEST 26: guard_check outside upstream
--- http_config
    guard_check http;
--- config
--- must_die
--- error_log
"guard_check" directive is not allowed here

=== TEST 27: unknown match rule
--- http_config
    guard_match m { colour blue; }
--- config
--- must_die
--- error_log
unknown guard_match rule "colour"

=== TEST 28: bad status code
--- http_config
    guard_match m { status 2xx; }
--- config
--- must_die
--- error_log
invalid status "2xx" in guard_match

=== TEST 29: reversed status range
--- http_config
    guard_match m { status 399-200; }
--- config
--- must_die
--- error_log
invalid status "399-200" in guard_match

=== TEST 30: status out of range
--- http_config
    guard_match m { status 1000; }
--- config
--- must_die
--- error_log
invalid status "1000" in guard_match

=== TEST 31: bad header operator
--- http_config
    guard_match m { header Content-Type == json; }
--- config
--- must_die
--- error_log
invalid operator "==" in guard_match

=== TEST 32: bad regex
--- http_config
    guard_match m { body ~ "(unclosed"; }
--- config
--- must_die
--- error_log
invalid regex in guard_match

=== TEST 33: duplicate match name
--- http_config
    guard_match m { status 200; } guard_match m { status 204; }
--- config
--- must_die
--- error_log
duplicate guard_match "m"

=== TEST 34: body rule without regex
--- http_config
    guard_match m { body ~; }
--- config
--- must_die
--- error_log
invalid guard_match rule, expected "body ~ regex"

=== TEST 35: duplicate status rule
--- http_config
    guard_match m { status 200; status 204; }
--- config
--- must_die
--- error_log
duplicate "status" rule in guard_match

=== TEST 36: bad shm size
--- http_config
    guard_shm_size 1k;
--- config
--- must_die
--- error_log eval
qr/guard_shm_size 1024 is too small, at least \d+ in \S+nginx\.conf:\d+/

=== TEST 37: an upstream with guard_check and no servers (nginx's own check)
--- http_config
    upstream app {
        guard_check tcp;
    }
--- config
--- must_die
--- error_log
no servers are inside upstream



=== TEST 38: guard_floor not a number
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check tcp; guard_floor two;
    }
--- config
--- must_die
--- error_log
"guard_floor" directive invalid number in



=== TEST 39: guard_slow_start not a time
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check tcp; guard_slow_start soon;
    }
--- config
--- must_die
--- error_log
"guard_slow_start" directive invalid value in



=== TEST 40: guard_standby names no server
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check tcp; guard_standby 127.0.0.1:1;
    }
--- config
--- must_die
--- error_log
guard_standby "127.0.0.1:1" is not a server of upstream "app"



=== TEST 41: guard_standby names a backup
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        server 127.0.0.1:$TEST_NGINX_B2 backup;
        guard_check tcp;
        guard_standby 127.0.0.1:$TEST_NGINX_B2;
    }
--- config
--- must_die
--- error_log
is a backup server: a server is either one



=== TEST 42: guard_standby twice the same
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        server 127.0.0.1:$TEST_NGINX_B2;
        guard_check tcp;
        guard_standby 127.0.0.1:$TEST_NGINX_B1 127.0.0.1:$TEST_NGINX_B1;
    }
--- config
--- must_die
--- error_log eval
qr/guard_standby names "127\.0\.0\.1:\d+" twice in upstream "app"/



=== TEST 43: guard_agent bad parameter
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http; guard_agent X-Weight max=lots;
    }
--- config
--- must_die
--- error_log
invalid guard_agent parameter "max=lots"



=== TEST 44: guard_agent min above max
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http; guard_agent X-Weight min=80% max=50%;
    }
--- config
--- must_die
--- error_log
guard_agent min=80% is above max=50%



=== TEST 45: guard_agent on a tcp check
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check tcp; guard_agent X-Weight;
    }
--- config
--- must_die
--- error_log
guard_agent needs an http or https check


=== TEST 46: check after guard_check
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check tcp; check interval=1000;
    }
--- config
--- must_die
--- error_log
cannot mix the nginx_upstream_check_module directives (check, check_*) with guard_check in one upstream


=== TEST 47: guard_check after check
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        check interval=1000; guard_check tcp;
    }
--- config
--- must_die
--- error_log
cannot mix guard_check with the nginx_upstream_check_module directives


=== TEST 48: check with guard_check_header
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        check interval=1000 type=http; guard_check_header X-A b;
    }
--- config
--- must_die
--- error_log
cannot mix guard_check_* or guard_agent with "check"


=== TEST 49: check_http_send without check
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        check_http_send "GET / HTTP/1.0\r\n\r\n";
    }
--- config
--- must_die
--- error_log
need a "check" directive in the same upstream


=== TEST 50: check_http_send with type=tcp
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        check interval=1000 type=tcp; check_http_send "GET / HTTP/1.0\r\n\r\n";
    }
--- config
--- must_die
--- error_log
check_http_send is for "check type=http"


=== TEST 51: check_fastcgi_param with type=http
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        check interval=1000 type=http; check_fastcgi_param A b;
    }
--- config
--- must_die
--- error_log
check_fastcgi_param is for "check type=fastcgi"


=== TEST 52: check with an unknown parameter
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        check interval=1000 colour=red;
    }
--- config
--- must_die
--- error_log
invalid parameter "colour=red" of "check"


=== TEST 53: check with an unknown type
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        check type=smtp;
    }
--- config
--- must_die
--- error_log
invalid parameter "type=smtp" of "check"


=== TEST 54: check with a bad interval
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        check interval=soon;
    }
--- config
--- must_die
--- error_log
invalid parameter "interval=soon" of "check", expected milliseconds


=== TEST 55: check default_down not a boolean
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        check default_down=maybe;
    }
--- config
--- must_die
--- error_log
invalid value "default_down=maybe", it must be "true" or "false"


=== TEST 56: check_http_expect_alive with a bad class
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        check type=http; check_http_expect_alive http_6xx;
    }
--- config
--- must_die
--- error_log
invalid value "http_6xx", expected http_1xx


=== TEST 57: check_keepalive_requests 0
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        check type=http; check_keepalive_requests 0;
    }
--- config
--- must_die
--- error_log
"check_keepalive_requests" directive invalid value


=== TEST 58: check_keepalive_requests on tcp is accepted, as by the old module
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        check type=tcp; check_keepalive_requests 5;
    }
--- config
    location = /guard { guard_status; }
--- request
GET /guard
--- response_body_like: "name":"app","balancer":"round robin","check":"tcp",
--- no_error_log
[emerg]


=== TEST 59: check_shm_size not a size
--- http_config
    check_shm_size lots;
--- config
--- must_die
--- error_log
"check_shm_size" directive invalid value


=== TEST 60: check_status with an unknown format
--- http_config
--- config
    location = /status { check_status xml; }
--- must_die
--- error_log
invalid check format "xml"


=== TEST 61: guard_floor above every primary can never hold
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        server 127.0.0.1:$TEST_NGINX_B2;
        guard_check tcp; guard_floor 5;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_floor 5 of upstream "app" in \S+nginx\.conf:\d+ is more than its 2 primary server addresses: the floor could never hold/


=== TEST 62: guard_floor above the servers not marked down: a warning
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        server 127.0.0.1:$TEST_NGINX_B2 down;
        guard_check tcp interval=30s; guard_floor 2;
    }
--- config
    location = /guard { guard_status; }
--- request
GET /guard
--- response_body_like: "floor":2,
--- error_log eval
qr/\[warn\] .*guard_floor 2 of upstream "app" in \S+nginx\.conf:\d+ is more than its 1 primary server addresses not marked "down"/


=== TEST 63: guard_floor without guard_check
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_floor 1;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_floor in upstream "app" in \S+nginx\.conf:\d+ needs "guard_check" \(or "check"\) in the same upstream/


=== TEST 64: guard_slow_start without guard_check
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_slow_start 10s;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_slow_start in upstream "app" in \S+nginx\.conf:\d+ needs "guard_check"/


=== TEST 65: guard_standby without guard_check
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        server 127.0.0.1:$TEST_NGINX_B2;
        guard_standby 127.0.0.1:$TEST_NGINX_B2;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_standby in upstream "app" in \S+nginx\.conf:\d+ needs "guard_check"/


=== TEST 66: guard_agent without guard_check
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_agent X-Weight;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_agent in upstream "app" in \S+nginx\.conf:\d+ needs "guard_check"/


=== TEST 67: a bare interval of 1000 or more is refused: it would be seconds
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http interval=3000;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_check parameter "interval=3000" has no unit, so it means 3000 seconds: write "3000ms" if milliseconds were meant, or give a unit \("s", "m"\) in \S+nginx\.conf:\d+/


=== TEST 68: a bare timeout of 1000 or more is refused too
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http timeout=1000;
    }
--- config
--- must_die
--- error_log
guard_check parameter "timeout=1000" has no unit, so it means 1000 seconds


=== TEST 69: a timeout longer than the interval: a warning
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http interval=1s timeout=5s;
    }
--- config
    location = /guard { guard_status; }
--- request
GET /guard
--- response_body_like: "interval_duration_ms":1000,"timeout_duration_ms":5000,
--- error_log eval
qr/\[warn\] .*guard_check timeout \(5000ms\) is longer than its interval \(1000ms\) in \S+nginx\.conf:\d+: a server that does not answer is checked once per timeout/


=== TEST 70: a server marked down does not count in the default floor
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        server 127.0.0.1:$TEST_NGINX_B2 down;
        guard_check http interval=100ms rise=1 fall=1;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_B1;
        location / { return 200; }
    }
--- config
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up')
    or die "b1 never came up: " . ($Guard::ERROR // 'no error');
Guard::wait_for(sub {
    my $s = Guard::server_state(Guard::guard_status(), 'app',
                                "127.0.0.1:$ENV{TEST_NGINX_B1}");
    $s && $s->{checks} >= 3;
}, 10) or die "b1 has fewer than 3 checks: " . ($Guard::ERROR // 'no error');
--- request
GET /guard
--- response_body_like: "in_rotation":1,"draining":0,"standbys":0,"standbys_promoted":0,"untracked":0,"floor":1,"floor_holds":true,.*"status":"degraded",
--- error_log eval
qr/\[notice\] .*upstream guard: server 127\.0\.0\.1:\d+ \(127\.0\.0\.1:\d+\) of upstream "app" is down: connect refused/
--- no_error_log eval
["below its floor", qr/\[error\] .*is down/]


=== TEST 71: an interval below 100ms is refused
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http interval=1ms;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_check "interval=1ms" is below the minimum interval of 100ms in \S+nginx\.conf:\d+/


=== TEST 72: check interval below 100 milliseconds is refused
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        check interval=1 type=tcp;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"check" parameter "interval=1" is below the minimum interval of 100 milliseconds in \S+nginx\.conf:\d+/


=== TEST 73: check: no warning about the default timeout of 1000 ms
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        check interval=500 type=tcp;
    }
--- config
    location = /guard { guard_status; }
--- request
GET /guard
--- response_body_like: "interval_duration_ms":500,"timeout_duration_ms":1000,
--- no_error_log
is longer than its interval


=== TEST 74: check: a timeout given longer than the interval: a warning
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        check interval=500 timeout=2000 type=tcp;
    }
--- config
    location = /guard { guard_status; }
--- request
GET /guard
--- response_body_like: "interval_duration_ms":500,"timeout_duration_ms":2000,
--- error_log eval
qr/\[warn\] .*check timeout \(2000ms\) is longer than its interval \(500ms\) in \S+nginx\.conf:\d+/


=== TEST 75: a jitter as long as a day with an interval of a second is refused
jitter= is a random delay added to each interval: one as long as the
interval or longer would more than double the time between checks.
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http jitter=24h interval=1s;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_check jitter= \(86400000ms\) must be shorter than its interval \(1000ms\) in \S+nginx\.conf:\d+/


=== TEST 76: a jitter equal to the default interval of 2s is refused
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http jitter=2s;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_check jitter= \(2000ms\) must be shorter than its interval \(2000ms\) in \S+nginx\.conf:\d+/


=== TEST 77: a jitter just below the interval starts
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check tcp interval=1s jitter=999ms;
    }
--- config
    location = /guard { guard_status; }
--- request
GET /guard
--- response_body_like: "name":"app"
--- no_error_log
[emerg]


=== TEST 78: check fall= above 1000 is refused, as guard_check fall=
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        check interval=1000 fall=1001 type=tcp;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "fall=1001" of "check", expected a number from 1 to 1000 in \S+nginx\.conf:\d+/


=== TEST 79: check rise= above 1000 is refused, as guard_check rise=
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        check interval=1000 rise=4294967297 type=tcp;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "rise=4294967297" of "check", expected a number from 1 to 1000 in \S+nginx\.conf:\d+/


=== TEST 80: check fall=1000 and rise=1000 start
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        check interval=1000 fall=1000 rise=1000 type=tcp;
    }
--- config
    location = /guard { guard_status; }
--- request
GET /guard
--- response_body_like: "name":"app"
--- no_error_log
[emerg]


=== TEST 81: guard_agent with an empty header name is refused
It read no header and did nothing, and a second guard_agent was not
flagged as a duplicate.
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http;
        guard_agent "";
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid header name "" in guard_agent: a header name is needed in \S+nginx\.conf:\d+/


=== TEST 82: server ... resolve (nginx 1.27.3+) is refused, naming the upstream's file and line
--- skip_eval: 1: Guard::nginx_version() < 1027003
--- http_config
    resolver 127.0.0.1;
    upstream app {
        zone app 64k;
        server localhost:$TEST_NGINX_B1 resolve;
        server 127.0.0.1:$TEST_NGINX_B2;
        guard_check http uri=/health;
    }
--- config
--- must_die
--- error_log eval
qr/guard_check does not support "server \.\.\. resolve" yet \(server "localhost:\d+" in upstream "app" in \S+nginx\.conf:\d+\)/



=== TEST 83: guard_standby naming no server says guard_standby's file and line
It named the upstream only: nginx adds no file and line to an error found
after the configuration is read.
--- http_config
    include ../html/standby.conf;
--- user_files
>>> standby.conf
upstream app {
    server 127.0.0.1:1;
    guard_check tcp;
    guard_standby 127.0.0.1:2;
}
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_standby "127\.0\.0\.1:2" is not a server of upstream "app" \(write it as in its "server" line\) in \S+standby\.conf:4$/m



=== TEST 84: guard_standby naming a backup says its file and line
--- http_config
    include ../html/standby.conf;
--- user_files
>>> standby.conf
upstream app {
    server 127.0.0.1:1;
    server 127.0.0.1:2 backup;
    guard_check tcp;

    guard_standby 127.0.0.1:2;
}
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_standby "127\.0\.0\.1:2" of upstream "app" in \S+standby\.conf:6 is a backup server/



=== TEST 85: guard_standby naming a server twice says its file and line
--- http_config
    include ../html/standby.conf;
--- user_files
>>> standby.conf
upstream twice {
    server 127.0.0.1:1;
    server 127.0.0.1:2;
    guard_check tcp;
    guard_standby 127.0.0.1:2 127.0.0.1:2;
}
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_standby names "127\.0\.0\.1:2" twice in upstream "twice" in \S+standby\.conf:5$/m



=== TEST 86: check_http_send without check names the upstream, its file and line
--- http_config
    include ../html/compat.conf;
--- user_files
>>> compat.conf

upstream app {
    server 127.0.0.1:1;
    check_http_send "GET / HTTP/1.0\r\n\r\n";
}
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*need a "check" directive in the same upstream \(upstream "app" in \S+compat\.conf:2\)/



=== TEST 87: guard_admin without guard_admin_tokens names guard_admin's line
It named the end of the http block, where nginx merges the locations.
--- http_config
    include ../html/admin.conf;
--- user_files
>>> admin.conf
server {
    listen 127.0.0.1:1;
    location /guard-admin/ {
        guard_admin;
    }
}
# more lines after it
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_admin needs guard_admin_tokens: the admin API never runs without principals, in \S+admin\.conf:4$/m



=== TEST 88: uri= on a tcp check is refused, as match= is
It was accepted and did nothing: the check only connects.
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check tcp uri=/health;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_check uri= is for http and https checks, not tcp \(guard_check in \S+nginx\.conf:\d+\)/



=== TEST 89: guard_check_header on an ssl_hello check is refused
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check ssl_hello;
        guard_check_header X-Probe yes;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_check_header is for http and https checks, not ssl_hello \(guard_check in \S+nginx\.conf:\d+\)/



=== TEST 90: host= on an ssl_hello check (its TLS name) and on an http check start
--- http_config
    upstream hello {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check ssl_hello host=ldap.internal;
    }
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http host=app.internal uri=/health method=HEAD http=1.1
                    body_limit=1k;
        guard_check_header X-Probe yes;
    }
--- config
    location = /guard { guard_status; }
--- request
GET /guard
--- response_body_like: "name":"hello"
--- no_error_log
[emerg]




=== TEST 91: guard_check_ssl_verify on an http check is refused
The check is plain HTTP: nothing was verified, and nginx -t said nothing.
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check http uri=/health;
        guard_check_ssl_verify on;
        guard_check_ssl_trusted_certificate /etc/ssl/certs/ca-certificates.crt;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_check_ssl_\* is for https and ssl_hello checks, not http \(guard_check in \S+nginx\.conf:\d+\)/



=== TEST 92: guard_check_ssl_name on a tcp check is refused
--- http_config
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check tcp;
        guard_check_ssl_name app.internal;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_check_ssl_\* is for https and ssl_hello checks, not tcp \(guard_check in \S+nginx\.conf:\d+\)/


=== TEST 93: Tengine's check_status prometheus: refused, naming the way
--- http_config
--- config
    location = /status { check_status prometheus; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid check format "prometheus": Tengine's layout of check_status is not supported, "guard_status prometheus" gives the module's own metrics in \S+nginx\.conf:\d+/
