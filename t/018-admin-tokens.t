# guard_admin_tokens: the principals file of the admin API, read by nginx -t
# and at each start and reload.  Refused (naming the file, the line and the
# problem; nginx adds the directive's file:line) when other users may read
# or change it, or when a line is malformed; accepted otherwise.  A hash is
# never logged.  The files are written by a block preprocessor of
# t/lib/Guard.pm from "--- tokens" (see write_tokens there), since nginx
# reads them before "--- init" could run.  Tokens are obviously fake.
use lib 't/lib';
use Guard;
use Test::Nginx::Socket 'no_plan';

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
