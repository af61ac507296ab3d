# The nginx_upstream_check_module vocabulary: "check" and friends with
# that module's defaults and meanings (bare numbers are milliseconds,
# default_down=true, fail closed), its check types, and check_status in
# the HTML, CSV and JSON layouts scrapers parse.
use lib 't/lib';
use Guard;
use JSON::PP ();
use Test::Nginx::Socket 'no_plan';

our $Backends = <<"_EOC_";
    log_format reqs '\$connection_requests \$request';
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_B1};
        access_log logs/b1.log reqs;
        location / { return 200 "b1\\n"; }
    }
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_B2};
        location / { return 503 "b2\\n"; }
    }
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_B3};
        location / { return 404 "b3\\n"; }
    }
_EOC_

no_shuffle();
no_root_location();
check_accum_error_log();
run_tests();

__DATA__

=== TEST 1: check type=http with check_http_send and expect_alive
--- http_config eval
"    upstream app {
        server 127.0.0.1:\$TEST_NGINX_B1;
        server 127.0.0.1:\$TEST_NGINX_B2;
        check interval=100 rise=1 fall=1 timeout=1000 type=http;
        check_http_send \"HEAD / HTTP/1.0\\r\\n\\r\\n\";
        check_http_expect_alive http_2xx http_3xx;
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; }
    location = /status { check_status; }
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'down');
--- request eval
["GET /", "GET /", "GET /status?format=csv", "GET /status?format=json&status=down", "GET /status?status=up"]
--- response_body_like eval
["^b1\n\$", "^b1\n\$",
 qr/\A0,app,127\.0\.0\.1:\d+,up,\d+,0,http,0\n1,app,127\.0\.0\.1:\d+,down,0,\d+,http,0\n\z/,
 qr/\A\{"servers": \{\n  "total": 1,\n  "generation": 1,\n  "server": \[\n    \{"index": 1, "upstream": "app", "name": "127\.0\.0\.1:\d+", "status": "down", "rise": 0, "fall": \d+, "type": "http", "port": 0\}\n  \]\n\}\}\n\z/,
 qr/<h2>Check upstream server number: 1, generation: 1<\/h2>.*<td>0<\/td>\n    <td>app<\/td>\n    <td>127\.0\.0\.1:\d+<\/td>\n    <td>up<\/td>.*<\/table>\n<\/body>\n<\/html>\n\z/s]
--- response_headers_like eval
["", "", "Content-Type: text/plain", "Content-Type: application/json", "Content-Type: text/html"]
--- no_error_log
[error]



=== TEST 2: check_http_expect_alive http_4xx passes a 404
--- http_config eval
"    upstream app {
        server 127.0.0.1:\$TEST_NGINX_B3;
        server 127.0.0.1:\$TEST_NGINX_B1;
        check interval=100 rise=1 fall=1 type=http;
        check_http_expect_alive http_4xx;
    }
" . $::Backends
--- config
    location = /status { check_status json; }
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, '1', 'checks');
Guard::wait_for(sub { my ($st, $b) = Guard::http_get('/status?status=up'); ($b // '') =~ /"total": 1,/ }, 10);
--- request
GET /status
--- response_body_like eval
qr/"index": 0, "upstream": "app", "name": "127\.0\.0\.1:\d+", "status": "up".*"index": 1, "upstream": "app", "name": "127\.0\.0\.1:\d+", "status": "down"/s



=== TEST 3: every check type of the old module
--- http_config eval
"    upstream t_tcp { server 127.0.0.1:\$TEST_NGINX_B1; check interval=100 rise=1 fall=1 type=tcp; }
    upstream t_mysql { server 127.0.0.1:\$TEST_NGINX_B4; check interval=100 rise=1 fall=1 type=mysql; }
    upstream t_mysql_err { server 127.0.0.1:\$TEST_NGINX_B5; check interval=100 rise=1 fall=1 type=mysql; }
    upstream t_ajp { server 127.0.0.1:\$TEST_NGINX_B6; check interval=100 rise=1 fall=1 type=ajp; }
    upstream t_ajp_bad { server 127.0.0.1:\$TEST_NGINX_B7; check interval=100 rise=1 fall=1 type=ajp; }
    upstream t_fastcgi {
        server 127.0.0.1:\$TEST_NGINX_B8;
        check interval=100 rise=1 fall=1 type=fastcgi;
        check_fastcgi_param REQUEST_METHOD GET;
        check_fastcgi_param REQUEST_URI /ping;
        check_fastcgi_param SCRIPT_FILENAME /srv/ping.php;
    }
    upstream t_fastcgi_503 { server 127.0.0.1:\$TEST_NGINX_B9; check interval=100 rise=1 fall=1 type=fastcgi; }
    upstream t_ssl_hello { server 127.0.0.1:\$TEST_NGINX_B1; check interval=100 rise=1 fall=1 type=ssl_hello; }
" . $::Backends
--- config
    location = /status { check_status csv; }
    location = /guard { guard_status; }
--- init
Guard::start_hostile('mysql', $ENV{TEST_NGINX_B4});
Guard::start_hostile('mysql-error', $ENV{TEST_NGINX_B5});
Guard::start_hostile('ajp', $ENV{TEST_NGINX_B6});
Guard::start_hostile('ajp-bad', $ENV{TEST_NGINX_B7});
Guard::start_hostile('fastcgi:200', $ENV{TEST_NGINX_B8});
Guard::start_hostile('fastcgi:503', $ENV{TEST_NGINX_B9});
Guard::wait_health('t_tcp', $ENV{TEST_NGINX_B1}, 'up');
Guard::wait_health('t_mysql', $ENV{TEST_NGINX_B4}, 'up');
Guard::wait_health('t_ajp', $ENV{TEST_NGINX_B6}, 'up');
Guard::wait_health('t_fastcgi', $ENV{TEST_NGINX_B8}, 'up');
Guard::wait_reason('t_mysql_err', $ENV{TEST_NGINX_B5}, 'mysql error packet');
Guard::wait_reason('t_ajp_bad', $ENV{TEST_NGINX_B7}, 'bad ajp reply');
Guard::wait_reason('t_fastcgi_503', $ENV{TEST_NGINX_B9}, 'status 503');
Guard::wait_reason('t_ssl_hello', $ENV{TEST_NGINX_B1}, 'tls handshake failed');
--- request eval
["GET /status", "GET /guard"]
--- response_body_like eval
[qr/\A0,t_tcp,127\.0\.0\.1:\d+,up,\d+,0,tcp,0\n1,t_mysql,127\.0\.0\.1:\d+,up,\d+,0,mysql,0\n2,t_mysql_err,127\.0\.0\.1:\d+,down,0,\d+,mysql,0\n3,t_ajp,127\.0\.0\.1:\d+,up,\d+,0,ajp,0\n4,t_ajp_bad,127\.0\.0\.1:\d+,down,0,\d+,ajp,0\n5,t_fastcgi,127\.0\.0\.1:\d+,up,\d+,0,fastcgi,0\n6,t_fastcgi_503,127\.0\.0\.1:\d+,down,0,\d+,fastcgi,0\n7,t_ssl_hello,127\.0\.0\.1:\d+,down,0,\d+,ssl_hello,0\n\z/,
 qr/"name":"t_mysql_err".*"last_failure":\{"reason":"mysql error packet"[^}]*\}.*"name":"t_ajp_bad".*"last_failure":\{"reason":"bad ajp reply"[^}]*\}.*"name":"t_fastcgi_503".*"last_failure":\{"reason":"status 503"[^}]*\}.*"name":"t_ssl_hello".*"last_failure":\{"reason":"tls handshake failed"[^}]*\}/s]
--- no_error_log
[crit]



=== TEST 4: check_keepalive_requests reuses the check connection
--- http_config eval
"    upstream app {
        server 127.0.0.1:\$TEST_NGINX_B1;
        check interval=100 rise=1 fall=1 type=http;
        check_http_send \"GET /ka HTTP/1.1\\r\\nHost: app\\r\\nConnection: keep-alive\\r\\n\\r\\n\";
        check_keepalive_requests 3;
    }
" . $::Backends
--- config
    location = /b1log { default_type text/plain; alias logs/b1.log; }
--- init
Guard::wait_for(sub { my ($st, $b) = Guard::http_get('/b1log'); ($b // '') =~ /^3 GET \/ka/m }, 10);
--- request
GET /b1log
--- response_body_like eval
qr/\A(?!.*^4 GET)(?=.*^2 GET \/ka).*^3 GET \/ka HTTP\/1\.1$/ms



=== TEST 5: default_down: a cold start answers 502 until checks pass
--- http_config eval
"    upstream app {
        server 127.0.0.1:\$TEST_NGINX_B1;
        check interval=30000 type=http;
    }
    upstream up_first {
        server 127.0.0.1:\$TEST_NGINX_B1;
        check interval=30000 type=http default_down=false;
    }
" . $::Backends
--- config
    location /a { proxy_pass http://app/; }
    location /b { proxy_pass http://up_first/; }
--- request eval
["GET /a", "GET /b"]
--- error_code eval
[502, 200]



=== TEST 6: all servers down: fail closed gives 502, as before
--- http_config eval
"    upstream app {
        server 127.0.0.1:\$TEST_NGINX_B2;
        server 127.0.0.1:\$TEST_NGINX_B3;
        check interval=100 rise=1 fall=1 type=http default_down=false;
    }
" . $::Backends
--- config
    location / { proxy_pass http://app; }
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'down');
Guard::wait_health('app', $ENV{TEST_NGINX_B3}, 'down');
--- request
GET /
--- error_code: 502
--- error_log
no live upstreams



=== TEST 7: check_status output stays valid with filters and odd names
--- http_config eval
"    upstream \"we\\\"ird,name\" {
        server 127.0.0.1:\$TEST_NGINX_B1;
        check interval=100 rise=1 fall=1 type=tcp;
    }
" . $::Backends
--- config
    location = /status { check_status; }
--- init
Guard::wait_for(sub { my ($st, $b) = Guard::http_get('/status?format=csv&status=up'); ($b // '') =~ /up/ }, 10);
for my $q ('', '&status=up', '&status=down') {
    my ($st, $body) = Guard::http_get("/status?format=json$q");
    my $doc = eval { JSON::PP->new->utf8->decode($body) };
    Test::More::ok($doc && ref $doc->{servers}{server} eq 'ARRAY'
                   && $doc->{servers}{total} == @{ $doc->{servers}{server} },
                   "check_status json$q is valid and counts its servers");
}
--- request eval
["GET /status?format=csv", "GET /status?format=csv&status=down", "GET /status?format=html&status=down"]
--- response_body_like eval
[qr/\A0,"we""ird,name",127\.0\.0\.1:\d+,up,\d+,0,tcp,0\n\z/,
 qr/\A\z/,
 qr/Check upstream server number: 0, generation: 1.*<\/table>/s]



=== TEST 8: check_keepalive_requests with type=tcp and type=ssl_hello starts
--- http_config eval
"    upstream t_tcp {
        server 127.0.0.1:\$TEST_NGINX_B1;
        check interval=100 rise=1 fall=1 type=tcp;
        check_keepalive_requests 100;
    }
    upstream t_ssl_hello {
        server 127.0.0.1:\$TEST_NGINX_B1;
        check interval=100 rise=1 fall=1 type=ssl_hello;
        check_keepalive_requests 100;
    }
" . $::Backends
--- config
    location = /status { check_status csv; }
    location = /guard { guard_status; }
--- init
Guard::wait_health('t_tcp', $ENV{TEST_NGINX_B1}, 'up')
    or die "t_tcp never came up: " . ($Guard::ERROR // 'no error');
--- request
GET /status
--- response_body_like eval
qr/\A0,t_tcp,127\.0\.0\.1:\d+,up,\d+,0,tcp,0\n1,t_ssl_hello,127\.0\.0\.1:\d+,(?:up|down),\d+,\d+,ssl_hello,0\n\z/



=== TEST 9: a FastCGI reply with Location and no Status is a 302, as in nginx
--- http_config eval
"    upstream redirect_alive {
        server 127.0.0.1:\$TEST_NGINX_B4;
        check interval=100 rise=1 fall=1 type=fastcgi default_down=false;
        check_http_expect_alive http_3xx;
    }
    upstream redirect_dead {
        server 127.0.0.1:\$TEST_NGINX_B4;
        check interval=100 rise=1 fall=1 type=fastcgi default_down=false;
        check_http_expect_alive http_2xx;
    }
" . $::Backends
--- config
    location = /status { check_status csv; }
    location = /guard { guard_status; }
--- init
Guard::start_hostile('fastcgi:location', $ENV{TEST_NGINX_B4});
my $seen;
Guard::wait_for(sub {
    my $st = Guard::guard_status() or return 0;
    my $a = Guard::server_state($st, 'redirect_alive', "127.0.0.1:$ENV{TEST_NGINX_B4}");
    my $d = Guard::server_state($st, 'redirect_dead', "127.0.0.1:$ENV{TEST_NGINX_B4}");
    $seen = join ' ', map { $_ ? "$_->{health}/$_->{rise_count}/" . Guard::reason($_) : 'none' } $a, $d;
    $a && $d && $a->{rise_count} >= 2 && Guard::reason($d) eq 'status 302';
}, 10) or die "the checks never settled: $seen";
--- request
GET /guard
--- response_body_like eval
qr/"name":"redirect_alive".*"health":"up".*"fall_count":0,.*"name":"redirect_dead".*"last_failure":\{"reason":"status 302"[^}]*\},"role":"primary","config":"up","health":"down"/



=== TEST 10: a FastCGI reply with no Status and no Location is a 200, as in nginx
--- http_config eval
"    upstream plain_alive {
        server 127.0.0.1:\$TEST_NGINX_B5;
        check interval=100 rise=1 fall=1 type=fastcgi default_down=false;
    }
    upstream plain_dead {
        server 127.0.0.1:\$TEST_NGINX_B5;
        check interval=100 rise=1 fall=1 type=fastcgi default_down=false;
        check_http_expect_alive http_3xx;
    }
" . $::Backends
--- config
    location = /guard { guard_status; }
--- init
Guard::start_hostile('fastcgi:none', $ENV{TEST_NGINX_B5});
my $seen;
Guard::wait_for(sub {
    my $st = Guard::guard_status() or return 0;
    my $a = Guard::server_state($st, 'plain_alive', "127.0.0.1:$ENV{TEST_NGINX_B5}");
    my $d = Guard::server_state($st, 'plain_dead', "127.0.0.1:$ENV{TEST_NGINX_B5}");
    $seen = join ' ', map { $_ ? "$_->{health}/$_->{rise_count}/" . Guard::reason($_) : 'none' } $a, $d;
    $a && $d && $a->{rise_count} >= 2 && Guard::reason($d) eq 'status 200';
}, 10) or die "the checks never settled: $seen";
--- request
GET /guard
--- response_body_like eval
qr/"name":"plain_alive".*"health":"up".*"fall_count":0,.*"name":"plain_dead".*"last_failure":\{"reason":"status 200"[^}]*\},"role":"primary","config":"up","health":"down"/



=== TEST 11: FastCGI records over 8 KB: a big STDOUT, a big STDERR first
--- http_config eval
# FastCGI records carry up to 65535 bytes, and nginx's fastcgi_pass
# answers 200 from both; the "dead" twins refuse a 200, so they fail with
# "status 200" only if the status was read
"    upstream big_alive {
        server 127.0.0.1:\$TEST_NGINX_B6;
        check interval=100 rise=1 fall=1 type=fastcgi default_down=false;
    }
    upstream big_dead {
        server 127.0.0.1:\$TEST_NGINX_B6;
        check interval=100 rise=1 fall=1 type=fastcgi default_down=false;
        check_http_expect_alive http_3xx;
    }
    upstream stderr_alive {
        server 127.0.0.1:\$TEST_NGINX_B7;
        check interval=100 rise=1 fall=1 type=fastcgi default_down=false;
    }
    upstream stderr_dead {
        server 127.0.0.1:\$TEST_NGINX_B7;
        check interval=100 rise=1 fall=1 type=fastcgi default_down=false;
        check_http_expect_alive http_3xx;
    }
" . $::Backends
--- config
    location = /guard { guard_status; }
--- init
Guard::start_hostile('fastcgi-big', $ENV{TEST_NGINX_B6});
Guard::start_hostile('fastcgi-stderr', $ENV{TEST_NGINX_B7});
for my $t ([ 'big', $ENV{TEST_NGINX_B6} ], [ 'stderr', $ENV{TEST_NGINX_B7} ]) {
    my ($name, $port) = @$t;
    my $seen;
    Guard::wait_for(sub {
        my $st = Guard::guard_status() or return 0;
        my $a = Guard::server_state($st, "${name}_alive", "127.0.0.1:$port");
        my $d = Guard::server_state($st, "${name}_dead", "127.0.0.1:$port");
        $seen = join ' ', map { $_ ? "$_->{health}/$_->{rise_count}/" . Guard::reason($_) : 'none' } $a, $d;
        $a && $d && $a->{health} eq 'up' && $a->{rise_count} >= 3
            && Guard::reason($d) eq 'status 200';
    }, 10) or Test::More::fail("fastcgi-$name: the checks never settled: $seen");
}
--- request
GET /guard
--- response_body_like eval
qr/"name":"big_alive".*"health":"up".*"fall_count":0,.*"name":"stderr_alive".*"health":"up".*"fall_count":0,/s



=== TEST 12: check_status lists no server the config marks down
--- http_config eval
# the old module neither checks nor lists a "down" server and numbers
# only those it lists; "?status=" is read in any case
"    upstream app {
        server 127.0.0.1:\$TEST_NGINX_B1;
        server 127.0.0.1:\$TEST_NGINX_B3 down;
        server 127.0.0.1:\$TEST_NGINX_B2 backup;
        check interval=100 rise=1 fall=1 type=http;
    }
    upstream two {
        server 127.0.0.1:\$TEST_NGINX_B1;
        check interval=100 rise=1 fall=1 type=http;
    }
" . $::Backends
--- config
    location = /status { check_status csv; }
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'down');
Guard::wait_health('two', $ENV{TEST_NGINX_B1}, 'up');
--- request eval
["GET /status", "GET /status?status=up&format=json",
 "GET /status?status=DOWN", "GET /status?status=Up&format=html"]
--- response_body_like eval
[qr/\A0,app,127\.0\.0\.1:$ENV{TEST_NGINX_B1},up,\d+,0,http,0\n1,app,127\.0\.0\.1:$ENV{TEST_NGINX_B2},down,0,\d+,http,0\n2,two,127\.0\.0\.1:$ENV{TEST_NGINX_B1},up,\d+,0,http,0\n\z/,
 qr/\A\{"servers": \{\n  "total": 2,\n  "generation": 1,\n  "server": \[\n    \{"index": 0, "upstream": "app", [^\n]*\},\n    \{"index": 2, "upstream": "two", [^\n]*\}\n  \]\n\}\}\n\z/,
 qr/\A1,app,127\.0\.0\.1:$ENV{TEST_NGINX_B2},down,0,\d+,http,0\n\z/,
 qr/<h2>Check upstream server number: 2, generation: 1<\/h2>(?!.*127\.0\.0\.1:$ENV{TEST_NGINX_B3}).*<\/table>/s]
--- no_error_log
[error]



=== TEST 13: check_status in a server block answers where no location does
--- http_config eval
"    upstream app {
        server 127.0.0.1:\$TEST_NGINX_B1;
        check interval=100 rise=1 fall=1 type=http;
    }
" . $::Backends
--- config
    check_status json;
    location = /guard { guard_status; }
    location = /other { return 200 "other\n"; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
--- request eval
["GET /", "GET /anything?format=csv", "GET /other"]
--- response_body_like eval
[qr/\A\{"servers": \{\n  "total": 1,\n.*"upstream": "app", "name": "127\.0\.0\.1:\d+", "status": "up"/s,
 qr/\A0,app,127\.0\.0\.1:\d+,up,\d+,0,http,0\n\z/,
 qr/\Aother\n\z/]
--- response_headers_like eval
["Content-Type: application/json", "Content-Type: text/plain", ""]



=== TEST 14: check_http_expect_alive given twice passes both classes
--- http_config eval
"    upstream app {
        server 127.0.0.1:\$TEST_NGINX_B1;
        server 127.0.0.1:\$TEST_NGINX_B3;
        server 127.0.0.1:\$TEST_NGINX_B2;
        check interval=100 rise=1 fall=1 type=http;
        check_http_expect_alive http_2xx;
        check_http_expect_alive http_4xx http_2xx;
    }
" . $::Backends
--- config
    location = /status { check_status csv; }
    location = /guard { guard_status; }
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
Guard::wait_health('app', $ENV{TEST_NGINX_B3}, 'up');
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'down');
--- request
GET /status
--- response_body_like eval
qr/\A0,app,127\.0\.0\.1:\d+,up,\d+,0,http,0\n1,app,127\.0\.0\.1:\d+,up,\d+,0,http,0\n2,app,127\.0\.0\.1:\d+,down,0,\d+,http,0\n\z/
--- error_log eval
qr/\[warn\] .*duplicate value "http_2xx" in \S+nginx\.conf:\d+/



=== TEST 15: a body that never ends is not waited for: the status decides
--- http_config eval
# the old module judges the status alone; a page streamed after its head
# (here a chunk every 200 ms, for longer than the timeout) passes
"    upstream stream {
        server 127.0.0.1:\$TEST_NGINX_B4;
        check interval=100 rise=1 fall=1 timeout=500 type=http;
    }
" . $::Backends
--- config
    location = /status { check_status csv; }
    location = /guard { guard_status; }
--- init
Guard::start_hostile('stream', $ENV{TEST_NGINX_B4});
Guard::wait_health('stream', $ENV{TEST_NGINX_B4}, 'up');
Guard::wait_health('stream', $ENV{TEST_NGINX_B4}, 3, 'rise_count');
--- request
GET /status
--- response_body_like eval
qr/\A0,stream,127\.0\.0\.1:\d+,up,\d+,0,http,0\n\z/



=== TEST 16: check_shm_size 0 is taken, as the old module takes it
--- http_config eval
# nginx_upstream_check_module keeps its own size when asked for less:
# "check_shm_size 0" in a fleet's config must not stop the switch
"    check_shm_size 0;
    upstream zero {
        server 127.0.0.1:\$TEST_NGINX_B1;
        check interval=100 rise=1 fall=1 type=http;
    }
" . $::Backends
--- config
    location = /status { check_status csv; }
    location = /guard { guard_status; }
--- init
Guard::wait_health('zero', $ENV{TEST_NGINX_B1}, 'up');
--- request
GET /status
--- response_body_like eval
qr/\A0,zero,127\.0\.0\.1:\d+,up,\d+,0,http,0\n\z/
--- no_error_log
[emerg]
[alert]
