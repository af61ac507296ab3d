# guard_admin_tokens: the principals file of the admin API, read by nginx -t
# and at each start and reload.  Refused (naming the file, the line and the
# problem; nginx adds the directive's file:line) when other users may read
# or change it, or when a line is malformed; accepted otherwise.  A hash is
# never logged.  The files are written by a block preprocessor of
# t/lib/Guard.pm from "--- tokens" (see write_tokens there), since nginx
# reads them before "--- init" could run.  Tokens are obviously fake.
#
# Then authentication at run time, through the admin API: the challenge,
# wrong and right tokens, roles and upstream patterns (the freeze only
# for an admin of every upstream), a principal named by a variable, the
# failure limit per client address, and plain HTTP.
# The client is always on loopback, where a bearer token over plain HTTP
# is allowed; remote addresses are made with the realip module
# (X-Real-IP from 127.0.0.1), which is what the module sees as the
# client, so insecure_transport and per-address limits are tested too.
use lib 't/lib';
use Guard;
use Test::Nginx::Socket 'no_plan';

our $Tokens = <<'_EOT_';
# name                     role      upstreams      token hash
alice                      operator  erp_*,billing  {sha256:test-token-alice}
vera                       viewer    *              {sha512:test-token-vera}
adam                       admin     *              {sha256:test-token-adam}
"CN=ops1,O=Example Corp"   operator  app            -
_EOT_

our $Http = <<"_EOC_";
    upstream app {
        server 127.0.0.1:$ENV{TEST_NGINX_B1};
        server 127.0.0.1:$ENV{TEST_NGINX_B2};
        guard_check tcp interval=100ms;
    }
    upstream erp_billing {
        server 127.0.0.1:$ENV{TEST_NGINX_B1};
        server 127.0.0.1:$ENV{TEST_NGINX_B2};
        guard_check tcp interval=100ms;
    }
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_B1};
        listen 127.0.0.1:$ENV{TEST_NGINX_B2};
        location / { return 200; }
    }
    guard_admin_tokens $ENV{TEST_NGINX_TOKENS};
_EOC_

our $Config = <<'_EOC_';
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Real-IP;

    location = /guard { guard_status; }
    location /admin/ { guard_admin; }
    location /plain/ {
        guard_admin;
        guard_admin_plain_http on;
    }
    location /by-name/ {
        guard_admin;
        guard_admin_principal $http_x_user;
    }
_EOC_

# expect($name, "401 unauthenticated", $method, $path, $token, $body, %opt):
# one admin API request, its status and code (or "ok") compared; returns
# the decoded answer and the raw header block
sub expect {
    my ($name, $want, $method, $path, $token, $body, %opt) = @_;
    my ($st, $j, $head) = Guard::admin($method, $path, $token, $body, %opt);
    my $code = $j ? $j->{code} // 'ok' : 'not JSON: ' . ($Guard::BODY // '');
    Test::More::is(($st // 'no answer') . " $code", $want, $name)
        or Test::More::diag($Guard::BODY // $Guard::ERROR);
    return ($j, $head);
}

# from($address): the option of expect() that makes the request come from
# $address (X-Real-IP, which the realip module takes from 127.0.0.1)
sub from { return (headers => { 'X-Real-IP' => $_[0] }) }

Guard::make_certs();

no_shuffle();
no_root_location();
run_tests();

__DATA__
=== TEST 1: a file of mode 0600 is accepted
--- tokens
# name     role      upstreams     token hash
alice      operator  erp_*,billing {sha256:test-token-alice}
ci-bot     viewer    *             {sha512:test-token-ci-bot}
--- http_config
    guard_admin_tokens $TEST_NGINX_TOKENS;
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok
--- no_error_log eval
[qr/\[(?:warn|error|crit|alert|emerg)\]/,
 Guard::token_hash('sha256', 'test-token-alice') =~ s/^sha256://r,
 Guard::token_hash('sha512', 'test-token-ci-bot') =~ s/^sha512://r]


=== TEST 2: a relative path is relative to the configuration's directory
--- tokens
alice  operator  *  {sha256:test-token-alice}
--- http_config
    guard_admin_tokens $TEST_NGINX_TOKENS_REL;
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok
--- no_error_log
[warn]


=== TEST 3: in server and location blocks too
--- tokens
alice  operator  *  {sha256:test-token-alice}
--- config
    guard_admin_tokens $TEST_NGINX_TOKENS;
    location = /t {
        guard_admin_tokens $TEST_NGINX_TOKENS;
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
ok
--- no_error_log
[warn]


=== TEST 4: twice in one block
--- tokens
alice  operator  *  {sha256:test-token-alice}
--- config
    guard_admin_tokens $TEST_NGINX_TOKENS;
    guard_admin_tokens $TEST_NGINX_TOKENS;
--- must_die
--- error_log eval
qr/\[emerg\] .*"guard_admin_tokens" directive is duplicate in \S+nginx\.conf:\d+/


=== TEST 5: a missing file
--- http_config
    guard_admin_tokens $TEST_NGINX_TOKENS.missing;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_admin_tokens "\/\S+\/tokens\.missing": the file cannot be opened \(2: No such file or directory\) in \S+nginx\.conf:\d+/


=== TEST 6: a missing file named relatively: the message has the full path
--- http_config
    guard_admin_tokens no-such-tokens;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_admin_tokens "\/\S+\/conf\/no-such-tokens": the file cannot be opened/


=== TEST 7: a directory
--- http_config
    guard_admin_tokens $TEST_NGINX_PWD/t;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_admin_tokens "\S+\/t": not a regular file in \S+nginx\.conf:\d+/


=== TEST 8: readable by other users (0644)
--- tokens
alice  operator  *  {sha256:test-token-alice}
--- tokens_mode: 0644
--- http_config
    guard_admin_tokens $TEST_NGINX_TOKENS;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_admin_tokens "\S+\/tokens": the file is readable by other users \(mode 0644\); make it 0600 or 0640 with nginx's group in \S+nginx\.conf:\d+/


=== TEST 9: writable by other users (0602)
--- tokens
alice  operator  *  {sha256:test-token-alice}
--- tokens_mode: 0602
--- http_config
    guard_admin_tokens $TEST_NGINX_TOKENS;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_admin_tokens "\S+": the file is writable by other users \(mode 0602\)/


=== TEST 10: executable by other users (0601)
--- tokens
alice  operator  *  {sha256:test-token-alice}
--- tokens_mode: 0601
--- http_config
    guard_admin_tokens $TEST_NGINX_TOKENS;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_admin_tokens "\S+": the file is executable by other users \(mode 0601\)/


=== TEST 11: writable by its group (0620)
--- tokens
alice  operator  *  {sha256:test-token-alice}
--- tokens_mode: 0620
--- http_config
    guard_admin_tokens $TEST_NGINX_TOKENS;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_admin_tokens "\S+": the file is writable by its group \(mode 0620\); make it 0600 or 0640 with nginx's group/


=== TEST 12: readable by a group that is neither root's nor the workers'
--- tokens
alice  operator  *  {sha256:test-token-alice}
--- tokens_mode: 0640
--- tokens_group: daemon
--- http_config
    guard_admin_tokens $TEST_NGINX_TOKENS;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_admin_tokens "\S+": the file is readable by group "daemon" \(gid 1\), which is neither root's nor the group of nginx's workers \(mode 0640\); make it 0600 or 0640 with nginx's group in \S+nginx\.conf:\d+/


=== TEST 13: 0640 with root's group is accepted
--- tokens
alice  operator  *  {sha256:test-token-alice}
--- tokens_mode: 0640
--- tokens_group: root
--- http_config
    guard_admin_tokens $TEST_NGINX_TOKENS;
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok
--- no_error_log
[warn]


=== TEST 14: quoted names with blanks, comments, sha512, upper-case hex, no token
--- tokens
# certificate DNs, as $ssl_client_s_dn writes them
"CN=ops1,O=Example Corp"     admin     *               -    # by name only
"CN=Doe\\, John,O=Example"   operator  app,erp_*       -
"say \"hi\""                 viewer    "billing"       {sha512:test-token-hi}

	bob	viewer	erp_x	SHA256:4C0A2C2E8D7C3F1B0E5A6D9F8B7C6D5E4F3A2B1C0D9E8F7A6B5C4D3E2F1A0B9C
carol#1 viewer  *  {sha256:test-token-carol}   # "#" inside a field is text
--- http_config
    guard_admin_tokens $TEST_NGINX_TOKENS;
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok
--- no_error_log
[warn]


=== TEST 15: CRLF line ends are accepted
--- tokens eval
"# written on Windows\r\nalice operator * {sha256:test-token-alice}\r\n"
. "bob viewer app {sha256:test-token-bob}\r\n"
--- http_config
    guard_admin_tokens $TEST_NGINX_TOKENS;
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok
--- no_error_log
[warn]


=== TEST 16: an empty file starts, with a warning
--- tokens eval
"# nobody yet\n"
--- http_config
    guard_admin_tokens $TEST_NGINX_TOKENS;
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok
--- error_log eval
qr/\[warn\] .*guard_admin_tokens "\S+" names no principal: every request to the admin API is refused in \S+nginx\.conf:\d+/


=== TEST 17: three fields
--- tokens
# comment
alice  operator  *  {sha256:test-token-alice}
bob    viewer    {sha256:test-token-bob}
--- http_config
    guard_admin_tokens $TEST_NGINX_TOKENS;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_admin_tokens "\S+\/tokens" line 3: 3 fields, expected 4: name, role, upstreams, hash in \S+nginx\.conf:\d+/
--- no_error_log eval
Guard::token_hash('sha256', 'test-token-bob') =~ s/^sha256://r


=== TEST 18: five fields (a name with a blank, unquoted)
--- tokens
CN=ops1,O=Example Corp  admin  *  -
--- http_config
    guard_admin_tokens $TEST_NGINX_TOKENS;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_admin_tokens "\S+" line 1: 5 fields, expected 4/


=== TEST 19: an unknown role
--- tokens
alice  operator  *  {sha256:test-token-alice}

bob    root      *  {sha256:test-token-bob}
--- http_config
    guard_admin_tokens $TEST_NGINX_TOKENS;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_admin_tokens "\S+" line 3: unknown role "root", expected viewer, operator or admin in \S+nginx\.conf:\d+/


=== TEST 20: a sha256 hash one hex digit short; the digits are not logged
--- tokens
alice  operator  *  sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde
--- http_config
    guard_admin_tokens $TEST_NGINX_TOKENS;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_admin_tokens "\S+" line 1: invalid hash, a sha256 hash has 64 hex digits, not 63 in \S+nginx\.conf:\d+/
--- no_error_log
0123456789abcdef


=== TEST 21: a sha512 hash of 64 hex digits
--- tokens
alice  operator  *  sha512:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
--- http_config
    guard_admin_tokens $TEST_NGINX_TOKENS;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_admin_tokens "\S+" line 1: invalid hash, a sha512 hash has 128 hex digits, not 64/


=== TEST 22: a hash with a character that is not a hex digit
--- tokens
alice  operator  *  sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg
--- http_config
    guard_admin_tokens $TEST_NGINX_TOKENS;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_admin_tokens "\S+" line 1: invalid hash, character 64 of the hex digits is not a hex digit/
--- no_error_log
0123456789abcdef


=== TEST 23: a hash without its algorithm (a token pasted by mistake)
--- tokens
alice  operator  *  test-token-alice
--- http_config
    guard_admin_tokens $TEST_NGINX_TOKENS;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_admin_tokens "\S+" line 1: invalid hash, expected "sha256:" and 64 hex digits, "sha512:" and 128 hex digits, or "-" for none/
--- no_error_log
test-token-alice


=== TEST 24: a duplicate name
--- tokens
alice  operator  *    {sha256:test-token-alice}
bob    viewer    app  {sha256:test-token-bob}
alice  viewer    app  {sha256:test-token-alice2}
--- http_config
    guard_admin_tokens $TEST_NGINX_TOKENS;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_admin_tokens "\S+" line 3: duplicate principal "alice", first on line 1 in \S+nginx\.conf:\d+/


=== TEST 25: the same hash under two names; neither it nor the token logged
--- tokens
alice  operator  *    {sha256:test-token-shared}
# a copy and paste
bob    viewer    app  {sha256:test-token-shared}
--- http_config
    guard_admin_tokens $TEST_NGINX_TOKENS;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_admin_tokens "\S+" line 3: principal "bob" has the same token hash as "alice" on line 1 in \S+nginx\.conf:\d+/
--- no_error_log eval
[Guard::token_hash('sha256', 'test-token-shared') =~ s/^sha256://r,
 'test-token-shared']


=== TEST 26: an unterminated quoted field
--- tokens
alice  operator  *  {sha256:test-token-alice}
"CN=ops1,O=Example Corp  admin  *  -
--- http_config
    guard_admin_tokens $TEST_NGINX_TOKENS;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_admin_tokens "\S+" line 2: unterminated quoted field in \S+nginx\.conf:\d+/


=== TEST 27: an escape other than \" and \\
--- tokens
"CN=Doe\, John"  admin  *  -
--- http_config
    guard_admin_tokens $TEST_NGINX_TOKENS;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_admin_tokens "\S+" line 1: a backslash in a quoted field must be followed by " or \\/


=== TEST 28: text right after a closing quote
--- tokens
"alice"x  operator  *  -
--- http_config
    guard_admin_tokens $TEST_NGINX_TOKENS;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_admin_tokens "\S+" line 1: a quoted field must be followed by a blank/


=== TEST 29: a quote inside an unquoted field
--- tokens
al"ice  operator  *  -
--- http_config
    guard_admin_tokens $TEST_NGINX_TOKENS;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_admin_tokens "\S+" line 1: a quote inside a field; quote the whole field/


=== TEST 30: an empty upstream pattern
--- tokens
alice  operator  app,,erp_*  -
--- http_config
    guard_admin_tokens $TEST_NGINX_TOKENS;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_admin_tokens "\S+" line 1: an empty upstream pattern in "app,,erp_\*"/


=== TEST 31: an empty name
--- tokens
""  operator  *  -
--- http_config
    guard_admin_tokens $TEST_NGINX_TOKENS;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_admin_tokens "\S+" line 1: an empty name/


=== TEST 32: a control character inside a quoted name
--- tokens eval
"\"ali\x{01}ce\"  operator  *  -\n"
--- http_config
    guard_admin_tokens $TEST_NGINX_TOKENS;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_admin_tokens "\S+" line 1: a control character in field 1/


=== TEST 33: a file larger than 1 MB
--- tokens eval
("# padding\n" x 110000) . "alice operator * -\n"
--- http_config
    guard_admin_tokens $TEST_NGINX_TOKENS;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_admin_tokens "\S+": the file is larger than 1 MB \(1100019 bytes\)/



=== TEST 34: no credentials: 401 with a challenge, not counted as a failure
--- tokens eval: $::Tokens
--- http_config eval: $::Http
--- config eval: $::Config
--- request
GET /admin/whoami
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="upstream-guard"
--- response_body_like: ^\{"ok":false,"code":"unauthenticated","error":"credentials required"
--- no_error_log
authentication from
[error]


=== TEST 35: a wrong token: 401 with error="invalid_token" (RFC 6750), counted and logged, the token never
--- tokens eval: $::Tokens
--- http_config eval: $::Http
--- config eval: $::Config
--- request
GET /admin/whoami
--- more_headers
Authorization: Bearer test-token-wrong
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="upstream-guard", error="invalid_token"
--- response_body_like: ^\{"ok":false,"code":"unauthenticated","error":"invalid token"
--- error_log eval
qr/\[warn\] .*upstream guard: admin API authentication from 127\.0\.0\.1 failed: invalid token \(failure 1 in 60 s\)/
--- no_error_log eval
[qr/upstream guard.*test-token/, '[error]']


=== TEST 36: right tokens, SHA-256 and SHA-512; the scheme in any case
--- tokens eval: $::Tokens
--- http_config eval: $::Http
--- config eval: $::Config
--- init
my ($j) = main::expect('vera (sha512)', '200 ok', 'GET', '/admin/whoami',
                       'test-token-vera');
Test::More::is("$j->{principal} $j->{role}", 'vera viewer', 'vera is a viewer');
($j) = main::expect('"bEaReR" and three blanks', '200 ok', 'GET',
                    '/admin/whoami', undef, undef,
                    headers => { Authorization => 'bEaReR   test-token-adam' });
Test::More::is("$j->{principal} $j->{role}", 'adam admin', 'adam is an admin');
main::expect('"Bearer" without a token', '401 unauthenticated', 'GET',
             '/admin/whoami', undef, undef,
             headers => { Authorization => 'Bearer' });
main::expect('a token with a blank more', '401 unauthenticated', 'GET',
             '/admin/whoami', 'test-token-alice x');
main::expect('a token that is a prefix', '401 unauthenticated', 'GET',
             '/admin/whoami', 'test-token-alic');
--- request
GET /admin/whoami
--- more_headers
Authorization: Bearer test-token-alice
--- response_body
{"ok":true,"principal":"alice","role":"operator","upstreams":["erp_*","billing"]}
--- no_error_log eval
[qr/upstream guard.*test-token/, '[error]']


=== TEST 37: a viewer reads but does not write
--- tokens eval: $::Tokens
--- http_config eval: $::Http
--- config eval: $::Config
--- init
my $b1 = "127.0.0.1:$ENV{TEST_NGINX_B1}";
main::expect('vera reads the list', '200 ok', 'GET', '/admin/upstreams',
             'test-token-vera');
my ($j) = main::expect('vera drains', '403 forbidden', 'POST',
                       "/admin/upstreams/app/servers/$b1/drain",
                       'test-token-vera', '{}');
Test::More::like($j->{error}, qr/vera is a viewer/, 'the refusal says why');
main::expect('vera freezes', '403 forbidden', 'PUT', '/admin/freeze',
             'test-token-vera', '{"reason":"x"}');
--- request
GET /guard
--- response_body_like: "admin":"active".*"admin":"active"
--- no_error_log
authentication from
[error]


=== TEST 38: a principal sees and touches only the upstreams it is given
--- tokens eval: $::Tokens
--- http_config eval: $::Http
--- config eval: $::Config
--- init
my $b1 = "127.0.0.1:$ENV{TEST_NGINX_B1}";
main::expect('alice on erp_billing', '200 ok', 'GET',
             '/admin/upstreams/erp_billing', 'test-token-alice');
main::expect('alice reads app', '403 forbidden', 'GET',
             '/admin/upstreams/app', 'test-token-alice');
main::expect('alice drains in app', '403 forbidden', 'POST',
             "/admin/upstreams/app/servers/$b1/drain", 'test-token-alice',
             '{}');
--- request
GET /admin/upstreams
--- more_headers
Authorization: Bearer test-token-alice
--- response_body_like: ^(?!.*"name":"app")(?=.*"upstreams":\[\{"name":"erp_billing")
--- no_error_log
authentication from
[error]


=== TEST 39: a principal named by a variable wins over a token
--- tokens eval: $::Tokens
--- http_config eval: $::Http
--- config eval: $::Config
--- init
my ($j) = main::expect('the name and another principal\'s token', '200 ok',
                       'GET', '/by-name/whoami', 'test-token-adam', undef,
                       headers => { 'X-User' => 'CN=ops1,O=Example Corp' });
Test::More::is($j->{principal}, 'CN=ops1,O=Example Corp', 'the name wins');
($j) = main::expect('no name: the token', '200 ok', 'GET', '/by-name/whoami',
                    'test-token-adam');
Test::More::is($j->{principal}, 'adam', 'an empty name is no name');
main::expect('no name, no token', '401 unauthenticated', 'GET',
             '/by-name/whoami', undef);
main::expect('a principal without a token is no bearer', '401 unauthenticated',
             'GET', '/admin/whoami', '-');
--- request
GET /by-name/whoami
--- more_headers
X-User: CN=ops1,O=Example Corp
--- response_body
{"ok":true,"principal":"CN=ops1,O=Example Corp","role":"operator","upstreams":["app"]}
--- no_error_log
[error]


=== TEST 40: a name that is no principal: 403, counted, logged printable
--- tokens eval: $::Tokens
--- http_config eval: $::Http
--- config eval: $::Config
--- request
GET /by-name/whoami
--- more_headers
X-User: CN=mallory,O=Example Corp
--- error_code: 403
--- response_body_like: ^\{"ok":false,"code":"forbidden","error":"not a known principal"
--- error_log eval
qr/\[warn\] .*upstream guard: admin API authentication from 127\.0\.0\.1 failed: "CN=mallory,O=Example Corp" is not a known principal \(failure 1 in 60 s\)/
--- no_error_log
[error]


=== TEST 41: another scheme is no credentials: 401, not counted
--- tokens eval: $::Tokens
--- http_config eval: $::Http
--- config eval: $::Config
--- request
GET /admin/whoami
--- more_headers
Authorization: Basic YWxpY2U6dGVzdA==
--- error_code: 401
--- response_body_like: "code":"unauthenticated","error":"credentials required"
--- no_error_log
authentication from
[error]


=== TEST 42: 10 wrong tokens, then 429 with Retry-After, even for the right one
--- tokens eval: $::Tokens
--- http_config eval: $::Http
--- config eval: $::Config
--- init
for my $i (1 .. 10) {
    main::expect("wrong token $i", '401 unauthenticated', 'GET',
                 '/admin/whoami', "test-token-wrong-$i");
}
my (undef, $head) = main::expect('no token now', '429 rate_limited', 'GET',
                                 '/admin/whoami', undef);
Test::More::like($head, qr/^Retry-After: (?:5\d|60)\r?$/mi, 'Retry-After');
main::expect('a principal by name now', '429 rate_limited', 'GET',
             '/by-name/whoami', undef, undef,
             headers => { 'X-User' => 'CN=ops1,O=Example Corp' });
--- request
GET /admin/whoami
--- more_headers
Authorization: Bearer test-token-alice
--- error_code: 429
--- response_headers_like
Retry-After: (?:5\d|60)
--- response_body_like: ^\{"ok":false,"code":"rate_limited","error":"too many failed authentications from this address; retry later"
--- error_log eval
[qr/\[warn\] .*admin API authentication from 127\.0\.0\.1 failed: invalid token \(failure 10 in 60 s\)/,
 qr/\[warn\] .*upstream guard: admin API: 127\.0\.0\.1 is rate limited for \d+ s after 10 failed authentications/]
--- no_error_log eval
[qr/failure 11 /, qr/upstream guard.*test-token/, '[error]']


=== TEST 43: the limit is per client address; IPv6 clients by their /64
--- tokens eval: $::Tokens
--- http_config eval: $::Http
--- config eval: $::Config
--- init
for my $i (1 .. 10) {
    main::expect("192.0.2.7: wrong token $i", '401 unauthenticated', 'GET',
                 '/plain/whoami', 'test-token-wrong', undef, main::from('192.0.2.7'));
    main::expect("2001:db8::1: wrong token $i", '401 unauthenticated', 'GET',
                 '/plain/whoami', 'test-token-wrong', undef,
                 main::from('2001:db8::1'));
}
main::expect('192.0.2.7 is limited', '429 rate_limited', 'GET',
             '/plain/whoami', 'test-token-alice', undef, main::from('192.0.2.7'));
main::expect('192.0.2.8 is not', '200 ok', 'GET', '/plain/whoami',
             'test-token-alice', undef, main::from('192.0.2.8'));
main::expect('2001:db8::2, the same /64, is limited', '429 rate_limited',
             'GET', '/plain/whoami', 'test-token-alice', undef,
             main::from('2001:db8::2'));
main::expect('2001:db8:0:1::1 is not', '200 ok', 'GET', '/plain/whoami',
             'test-token-alice', undef, main::from('2001:db8:0:1::1'));
--- request
GET /admin/whoami
--- more_headers
Authorization: Bearer test-token-alice
--- response_body_like: "principal":"alice"
--- error_log eval
[qr/upstream guard: admin API: 192\.0\.2\.7 is rate limited for \d+ s after 10 failed/,
 qr/upstream guard: admin API: 2001:db8::1 is rate limited for \d+ s after 10 failed/]
--- no_error_log
[error]


=== TEST 44: plain HTTP: loopback may, a remote address only where allowed
--- tokens eval: $::Tokens
--- http_config eval: $::Http
--- config eval: $::Config
--- init
for my $a ('127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.5') {
    main::expect("$a is local", '200 ok', 'GET', '/admin/whoami',
                 'test-token-alice', undef, main::from($a));
}
for my $i (1 .. 12) {
    main::expect("192.0.2.9 over plain HTTP ($i)", '403 insecure_transport',
                 'GET', '/admin/whoami', 'test-token-alice', undef,
                 main::from('192.0.2.9'));
}
main::expect('::ffff:192.0.2.9 too', '403 insecure_transport', 'GET',
             '/admin/whoami', 'test-token-alice', undef,
             main::from('::ffff:192.0.2.9'));
main::expect('2001:db8::9 too', '403 insecure_transport', 'GET',
             '/admin/whoami', 'test-token-alice', undef, main::from('2001:db8::9'));
main::expect('with guard_admin_plain_http on: not counted, allowed', '200 ok',
             'GET', '/plain/whoami', 'test-token-alice', undef,
             main::from('192.0.2.9'));
main::expect('a name from a variable needs no token', '200 ok', 'GET',
             '/by-name/whoami', undef, undef,
             headers => { 'X-Real-IP' => '192.0.2.9',
                          'X-User' => 'CN=ops1,O=Example Corp' });
--- request
GET /admin/whoami
--- more_headers
X-Real-IP: 192.0.2.10
Authorization: Bearer test-token-alice
--- error_code: 403
--- response_body_like: ^\{"ok":false,"code":"insecure_transport","error":"a bearer token over plain HTTP from a remote address is refused; use TLS or guard_admin_plain_http on"
--- error_log eval
qr/\[warn\] .*upstream guard: admin API: a bearer token over plain HTTP from 192\.0\.2\.10 is refused/
--- no_error_log
authentication from
[error]


=== TEST 45: a cookie never authenticates, whatever it carries
--- tokens eval: $::Tokens
--- http_config eval: $::Http
--- config eval: $::Config
--- init
my $b1 = "127.0.0.1:$ENV{TEST_NGINX_B1}";
for my $c ('token=test-token-adam', 'Authorization=Bearer test-token-adam',
           'access_token=test-token-adam; session=test-token-adam') {
    my ($j) = main::expect("a drain with the cookie \"$c\"", '401 unauthenticated',
                           'POST', "/admin/upstreams/app/servers/$b1/drain",
                           undef, '{}', headers => { Cookie => $c });
    Test::More::is($j && $j->{error}, 'credentials required', 'no credentials seen');
}
main::expect('the same token as a bearer', '200 ok', 'GET', '/admin/whoami',
             'test-token-adam');
--- request
GET /guard
--- response_body_like: "admin":"active".*"admin":"active"
--- no_error_log
authentication from
[error]



=== TEST 46: a client certificate's DN as the principal ($ssl_client_s_dn)
--- tokens eval
$::Tokens . qq{"CN=guard-client"          operator  app            -\n}
--- http_config eval
$::Http . "    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_B7} ssl;
        ssl_certificate $ENV{TEST_NGINX_CERTS}/server.crt;
        ssl_certificate_key $ENV{TEST_NGINX_CERTS}/server.key;
        ssl_client_certificate $ENV{TEST_NGINX_CERTS}/ca.crt;
        ssl_verify_client optional;
        location /admin/ {
            guard_admin;
            guard_admin_principal \$ssl_client_s_dn;
        }
    }
"
--- config eval: $::Config
--- init
my $c = $ENV{TEST_NGINX_CERTS};
my $url = "https://127.0.0.1:$ENV{TEST_NGINX_B7}/admin";
my $curl = sub {
    my ($method, $path, @opt) = @_;
    my $cmd = join ' ', map { quotemeta } 'curl', '-s', '-S', '--max-time', '10',
        '--cacert', "$c/ca.crt", '-X', $method, @opt, '-w', '\n%{http_code}',
        "$url$path";
    my $out = `$cmd 2>&1`;
    my ($body, $st) = $out =~ /\A(.*)\n(\d+)\z/s or return ('none', $out);
    my $j = eval { JSON::PP->new->decode($body) } || {};
    return ($st . ' ' . ($j->{code} // 'ok'), $j, $body);
};
my @cert = ('--cert', "$c/client.crt", '--key', "$c/client.key");
my ($r, $j, $raw) = $curl->('GET', '/whoami', @cert);
Test::More::is($r, '200 ok', 'whoami with the client certificate') or Test::More::diag($raw);
Test::More::is("$j->{principal} $j->{role}", 'CN=guard-client operator',
               'the principal is the certificate\'s DN');
my $b1 = "127.0.0.1:$ENV{TEST_NGINX_B1}";
($r, $j, $raw) = $curl->('POST', "/upstreams/app/servers/$b1/weight", @cert,
                         '-H', 'Content-Type: application/json',
                         '-d', '{"weight":2}');
Test::More::is($r, '200 ok', 'it sets a weight in app') or Test::More::diag($raw);
($r) = $curl->('POST', "/upstreams/erp_billing/servers/$b1/weight", @cert,
               '-d', '{"weight":2}');
Test::More::is($r, '403 forbidden', 'not in erp_billing');
($r, $j) = $curl->('GET', '/whoami', '-H', 'Authorization: Bearer test-token-alice');
Test::More::is("$r " . ($j->{principal} // '-'), '200 ok alice',
               'no certificate: the bearer token');
($r) = $curl->('GET', '/whoami');
Test::More::is($r, '401 unauthenticated', 'neither: 401');
--- request
GET /guard
--- response_body_like: "admin_weight":2,
--- no_error_log
[error]


=== TEST 47: no write without Content-Type: application/json, so that a browser holding a certificate cannot be made to write
--- tokens eval
$::Tokens . qq{"CN=guard-client"          operator  app            -\n}
--- http_config eval
$::Http . "    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_B7} ssl;
        ssl_certificate $ENV{TEST_NGINX_CERTS}/server.crt;
        ssl_certificate_key $ENV{TEST_NGINX_CERTS}/server.key;
        ssl_client_certificate $ENV{TEST_NGINX_CERTS}/ca.crt;
        ssl_verify_client optional;
        location /admin/ {
            guard_admin;
            guard_admin_principal \$ssl_client_s_dn;
        }
    }
"
--- config eval: $::Config
--- init
my $c = $ENV{TEST_NGINX_CERTS};
my $b1 = "127.0.0.1:$ENV{TEST_NGINX_B1}";
my $url = "https://127.0.0.1:$ENV{TEST_NGINX_B7}/admin/upstreams/app/servers/$b1/weight";
# what a page on another site can make a browser send with its certificate
my $post = sub {
    my (@opt) = @_;
    my $cmd = join ' ', map { quotemeta } 'curl', '-s', '-S', '--max-time', '10',
        '--cacert', "$c/ca.crt", '--cert', "$c/client.crt", '--key',
        "$c/client.key", '-X', 'POST', @opt, '-w', '\n%{http_code}', $url;
    my $out = `$cmd 2>&1`;
    my ($body, $st) = $out =~ /\A(.*)\n(\d+)\z/s or return "none: $out";
    my ($code) = $body =~ /"code":"(\w+)"/;
    return "$st " . ($code // 'ok');
};
my $weight = sub {
    my $s = Guard::server_state(Guard::guard_status(), 'app', $b1) || {};
    return ($s->{admin_weight} // '-') . '/' . ($s->{admin_version} // '-');
};
Test::More::is($post->('-d', '{"weight":2}'), '415 unsupported_media_type',
               'a form post (application/x-www-form-urlencoded)');
Test::More::is($post->('-H', 'Content-Type: text/plain', '--data-binary',
                       '{"weight":2}'), '415 unsupported_media_type',
               'text/plain, as a form with enctype text/plain sends');
Test::More::is($post->('-H', 'Content-Type: multipart/form-data; boundary=x',
                       '--data-binary', "--x--\r\n"), '415 unsupported_media_type',
               'multipart/form-data');
Test::More::is($post->(), '415 unsupported_media_type',
               'no body and no Content-Type (fetch in no-cors mode)');
Test::More::is($post->('-H', 'Content-Type: application/jsonp', '--data-binary',
                       '{"weight":2}'), '415 unsupported_media_type',
               'application/jsonp is not application/json');
Test::More::is($weight->(), '-/0', 'none of them changed anything');
Test::More::is($post->('-H', 'Content-Type: Application/JSON; charset=utf-8',
                       '--data-binary', '{"weight":2}'), '200 ok',
               'application/json, in any case, with a charset: applied');
Test::More::is($weight->(), '2/1', 'weight 2');
--- request
GET /guard
--- response_body_like: "admin_weight":2,
--- no_error_log
[error]



=== TEST 48: guard_admin_principal without a variable: every caller would be that principal
--- tokens eval: $::Tokens
--- http_config eval: $::Http
--- config
    location /admin/ {
        guard_admin;
        guard_admin_principal adam;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"guard_admin_principal" directive must name a variable \(such as \$ssl_client_s_dn\): "adam" is the same name for every request in \S+nginx\.conf:\d+/



=== TEST 49: guard_admin_principal twice in one block
--- tokens eval: $::Tokens
--- http_config eval: $::Http
--- config
    location /admin/ {
        guard_admin;
        guard_admin_principal $http_x_user;
        guard_admin_principal $http_x_other;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"guard_admin_principal" directive is duplicate in \S+nginx\.conf:\d+/



=== TEST 50: many addresses do not share out the limit: a full table limits the rest together
An attacker rotating through more addresses than the table's 64 slots
used to evict the oldest slot at each new address, so that no address
reached 10 failures: 70 addresses x 12 rounds were 840 x 401.  Now an
open window is never evicted (192.0.2.66, limited first, stays limited
while the others fail), the addresses without a slot share one budget of
10, and past it each of them has one failure of its own before 429.
--- tokens eval: $::Tokens
--- http_config eval: $::Http
--- config eval: $::Config
--- init
for my $i (1 .. 10) {
    main::expect("192.0.2.66: wrong token $i", '401 unauthenticated', 'GET',
                 '/plain/whoami', "wrong-$i", undef, main::from('192.0.2.66'));
}
main::expect('192.0.2.66 is limited', '429 rate_limited', 'GET',
             '/plain/whoami', 'test-token-alice', undef,
             main::from('192.0.2.66'));
my (%n, %last);
for my $round (1 .. 12) {
    for my $a (1 .. 70) {
        my ($st) = Guard::admin('GET', '/plain/whoami', "wrong-$round-$a",
                                undef, main::from("198.51.100.$a"));
        $n{$st // 'none'}++;
        $last{$a} = $st // 'none';
    }
}
Test::More::cmp_ok($n{401} // 0, '<=', 63 * 10 + 10 + 7,
                   '401s bounded by the slots and the shared budget');
Test::More::cmp_ok($n{429} // 0, '>=', 840 - (63 * 10 + 10 + 7), 'the rest 429');
Test::More::is(join(',', grep { $last{$_} ne '429' } 1 .. 70), '',
               'every address is limited by its 12th round');
main::expect('192.0.2.66 is still limited', '429 rate_limited', 'GET',
             '/plain/whoami', 'test-token-alice', undef,
             main::from('192.0.2.66'));
main::expect('a new address with no failure of its own: a right token',
             '200 ok', 'GET', '/plain/whoami', 'test-token-alice', undef,
             main::from('203.0.113.9'));
main::expect('a new address: its first wrong token is answered',
             '401 unauthenticated', 'GET', '/plain/whoami', 'wrong', undef,
             main::from('203.0.113.10'));
my (undef, $head) = main::expect('then it is limited, right token or not',
             '429 rate_limited', 'GET', '/plain/whoami', 'test-token-alice',
             undef, main::from('203.0.113.10'));
Test::More::like($head, qr/^Retry-After: (?:[1-5]\d|60|\d)\r?$/mi,
                 'Retry-After');
--- request
GET /admin/whoami
--- more_headers
Authorization: Bearer test-token-alice
--- response_body_like: "principal":"alice"
--- error_log eval
qr/\[warn\] .*upstream guard: admin API: the table of 64 client addresses is full; addresses without a place in it are limited together for \d+ s after 10 failed authentications/
--- no_error_log
[error]



=== TEST 51: the freeze holds every upstream: an admin limited to some may neither set nor lift it
--- tokens eval
$::Tokens . "erin  admin  erp_*  {sha256:test-token-erin}\n"
--- http_config eval: $::Http
--- config eval: $::Config
--- init
main::expect('erin freezes', '403 forbidden', 'PUT', '/admin/freeze',
             'test-token-erin', '{"reason":"not hers"}');
my ($j) = main::expect('erin reads the freeze', '200 ok', 'GET', '/admin/freeze',
                       'test-token-erin');
Test::More::ok($j && !$j->{frozen}, 'not frozen');
main::expect('adam freezes', '200 ok', 'PUT', '/admin/freeze',
             'test-token-adam', '{"reason":"incident"}');
($j) = main::expect('erin lifts it', '403 forbidden', 'DELETE', '/admin/freeze',
                    'test-token-erin');
Test::More::like($j->{error} // '', qr/^the freeze holds every upstream: erin may not touch upstream "app"$/,
                 'it says why');
($j) = main::expect('still frozen', '200 ok', 'GET', '/admin/freeze',
                    'test-token-adam');
Test::More::ok($j && $j->{frozen}, 'frozen, by adam');
main::expect('adam lifts it', '200 ok', 'DELETE', '/admin/freeze',
             'test-token-adam');
--- request
GET /admin/freeze
--- more_headers
Authorization: Bearer test-token-vera
--- response_body_like: "frozen":false
--- no_error_log
[error]
