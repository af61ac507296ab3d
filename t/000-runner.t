# Self-test of the Test::Nginx::Socket runner against stock nginx (no module
# directives): runs unchanged under the CPAN Test::Nginx and under our
# t/compat runner.  Every block checks something a broken runner gets wrong.
use Test::Nginx::Socket;

repeat_each(1);

# subtests per block: 5 + 4 + 6 + 2 + 4 + 3 + 2 + 2 + 3 + 2 (SKIP block: 0)
plan tests => repeat_each() * 33;

$ENV{TEST_NGINX_RUNNER_WORD} = 'hello-from-env';

run_tests();

__DATA__

=== TEST 1: return with a body and a header
--- config
    location = /t {
        add_header X-Runner yes;
        return 200 "hello\n";
    }
--- request
GET /t
--- response_headers
X-Runner: yes
!X-Absent
--- response_body
hello
--- no_error_log
[error]



=== TEST 2: a missing file gives 404 and an error.log line
--- log_level: info
--- config
    location /files/ {
        root html;
    }
--- request
GET /files/nope.txt
--- error_code: 404
--- error_log eval
[qr{open\(\) "[^"]+/html/files/nope\.txt" failed}, "No such file or directory"]
--- grep_error_log eval: qr/\(2: No such file or directory\)/
--- grep_error_log_out
(2: No such file or directory)



=== TEST 3: several requests in one block, each with its own expectations
--- config
    location = /a {
        return 200 "A";
    }
    location = /b {
        return 403;
    }
--- request eval
["GET /a", "GET /b", "GET /a?x=1"]
--- error_code eval
[200, 403, 200]
--- response_body_like eval
["^A\$", "<title>403 Forbidden</title>", "^A\$"]



=== TEST 4: $TEST_NGINX_ variables are expanded in http_config and config
--- http_config
    upstream runner_self {
        server 127.0.0.1:$TEST_NGINX_SERVER_PORT;
    }
--- config
    location = /direct {
        return 200 "$TEST_NGINX_RUNNER_WORD port=$server_port";
    }
    location = /proxied {
        proxy_pass http://runner_self/direct;
    }
--- request
GET /proxied
--- response_body chomp
hello-from-env port=$ServerPort



=== TEST 5: init runs once nginx is up, before the requests; user_files
--- config
    location /files/ {
        root html;
    }
--- user_files
>>> files/user.txt
from user_files
--- init
use IO::Socket::INET;
my $up = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                               PeerPort => $ENV{TEST_NGINX_SERVER_PORT},
                               Proto => 'tcp') ? 'up' : 'down';
open my $fh, '>', "$ENV{TEST_NGINX_SERVER_ROOT}/html/files/init.txt"
    or die "cannot write init.txt: $!";
print $fh "written by init, nginx $up\n";
close $fh;
--- request eval
["GET /files/init.txt", "GET /files/user.txt"]
--- response_body eval
["written by init, nginx up\n", "from user_files\n"]



=== TEST 6: more_headers reach nginx; Host is localhost
--- config
    location = /echo {
        return 200 "x-foo=$http_x_foo host=$host\n";
    }
--- more_headers
X-Foo: bar
--- request
GET /echo
--- response_body
x-foo=bar host=localhost
--- response_headers_like
Content-Type: text/plain.*



=== TEST 7: raw_request is sent as it is
--- config
    location = /raw {
        return 200 "proto=$server_protocol\n";
    }
--- raw_request eval
"GET /raw HTTP/1.0\r\n\r\n"
--- response_body
proto=HTTP/1.0



=== TEST 8: an unknown directive makes nginx refuse to start
--- config
    location = /t {
        no_such_runner_directive on;
    }
--- must_die
--- error_log
unknown directive "no_such_runner_directive"



=== TEST 9: main_config is in the main context; wait, timeout, access log
--- main_config
    worker_shutdown_timeout 1s;
--- config
    location = /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- timeout: 5s
--- wait: 0.1
--- response_body
ok
--- access_log
"GET /t HTTP/1.1" 200



=== TEST 10: main_config is outside http {}
--- main_config
    location / {}
--- config
--- must_die
--- error_log
"location" directive is not allowed here



=== TEST 11: a SKIP block is not run
--- SKIP
--- config
    location = /t {
        return 500;
    }
--- request
GET /t
--- error_code: 200
