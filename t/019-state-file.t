# The state file (guard_state_file): health and admin state survive a full
# restart.  The runner stops nginx and starts it again for every block
# (Test::Nginx's default: a new master, a fresh zone, "generation":1),
# which is the restart under test; the state file lives outside the
# server root, which the runner wipes.  Blocks run in order: each starts
# from the file the one before left.
use lib 't/lib';
use Guard;

# the restart under test: a restart, never a reload, before every block
# (read when the runner loads)
BEGIN {
    $ENV{TEST_NGINX_USE_HUP} = 0;
    $ENV{TEST_NGINX_FORCE_RESTART_ON_TEST} = 1;
}

use Test::Nginx::Socket 'no_plan';
use Compress::Zlib ();
use File::Path ();
use File::Spec ();
use Time::HiRes ();

our $Dir = File::Spec->catdir(File::Spec->tmpdir,
                              "upstream-guard-state-$<-$Guard::BASE");
File::Path::rmtree($Dir);
File::Path::mkpath("$Dir/w");
$ENV{TEST_NGINX_STATE_DIR} = $Dir;

our $File = "$Dir/guard.state";
our ($Request, $Head);     # the pending request and audit head, TEST 20-23
our $Until;                # its expiry, TEST 22-23
{
    File::Path::rmtree("$Dir-audit"); File::Path::mkpath("$Dir-audit");
    open my $fh, '>', "$Dir-audit/audit.key" or die "$Dir-audit/audit.key: $!\n";
    print $fh "test-audit-key-for-the-state-file-0123456789\n";
    close $fh;
    chmod 0600, "$Dir-audit/audit.key";
}
# the state files of TEST 28-31, out of $Dir, whose listing TEST 4 checks
our $More = "$Dir-more";
File::Path::rmtree($More);
File::Path::mkpath($More);
our $StateFile;     # another path for conf(), set with local
our $Extra = '';    # more directives in "upstream app", set with local
our ($B1, $B2, $B3, $B4) = map { "127.0.0.1:$ENV{\"TEST_NGINX_B$_\"}" } 1 .. 4;

our $Backends = <<"_EOC_";
    server {
        listen $B1;
        location /health { return 200; }
        location / { return 200 "b1\\n"; }
    }
    server {
        listen $B2;
        location /health { root html; try_files /b2-up =503; }
        location / { access_log logs/b2.log; return 200 "b2\\n"; }
    }
_EOC_

# "upstream app" with these servers and guard_check parameters, the state
# file and the backends (b3 and b4: nothing listens there)
sub conf {
    my ($check, @servers) = @_;
    my $file = $StateFile // $File;
    return "    guard_state_file $file;\n    upstream app {\n"
           . join('', map { "        server $_;\n" } @servers)
           . "        guard_check http uri=/health $check;\n"
           . ($Extra ? "        $Extra\n" : '') . "    }\n"
           . $Backends;
}

sub slurp {
    my ($file) = @_;
    open my $fh, '<', $file or return undef;
    binmode $fh;
    local $/;
    return scalar <$fh>;
}

sub errlog { slurp(servroot() . '/logs/error.log') // '' }

# a state file as the module writes it: the header, the lines, the end line
sub crafted {
    my $body = "# nginx-upstream-guard state 1\n" . join '', map { "$_\n" } @_;
    my $n = grep { /^server / } @_;
    return $body . sprintf "end %d %08x\n", $n, Compress::Zlib::crc32($body);
}

# the chain line of a zone without an audit log or a request
our $Chain0 = 'chain 0 ' . ('0' x 64) . ' 0';

# a server line for b2, down since a failed check
our $B2Down = "server app $B2 $B2 down active 0 1 0 0 0 0 0 - - 0 0 - - "
              . "status%20503";

# the line of a server in the state file, or ''
sub line_of {
    my ($addr, $file) = @_;
    my $text = slurp($file // $File);
    return '' unless defined $text;
    my ($line) = $text =~ /^(server app \S+ \Q$addr\E .*)$/m;
    return $line // '';
}

# the file is well-formed: header, end line, CRC over what precedes it
sub well_formed {
    my $text = slurp($File) // return 0;
    my ($body, $n, $crc) = $text =~ /\A(\#\ nginx-upstream-guard\ state\ 1\n
                                       (?:(?:server|freeze|chain|request)\ [^\n]*\n)*)
                                     end\ (\d+)\ ([0-9a-f]{8})\n\z/x
        or return 0;
    my $servers = () = $body =~ /^server /mg;
    return $servers == $n && hex($crc) == Compress::Zlib::crc32($body);
}

# lines of logs/b2.log: requests that reached b2's "location /"
sub b2_hits {
    my $text = slurp(servroot() . '/logs/b2.log') // '';
    return scalar(() = $text =~ /\n/g);
}

# b2 of upstream "app" in the report
sub b2 { Guard::server_state(Guard::guard_status(), 'app', $B2) }

# requests until b2 is up: none of them may reach b2 while it is down.
# The hits are counted before the report is read, and the report says
# down after that: every hit counted came while b2 was down.
sub out_until_up {
    my ($timeout) = @_;
    my ($sent, $hits, $health, $early) = (0, 0, 'none', undef);
    my $up = Guard::wait_for(sub {
        $sent += 5;
        Guard::http_get('/') for 1 .. 5;
        $hits = b2_hits();
        my $s = b2() or return 0;
        $health = $s->{health};
        return 1 if $health eq 'up';
        $early //= $hits if $hits;
        return 0;
    }, $timeout);
    Test::More::ok($up, "b2 comes up through its checks (last seen: $health)");
    Test::More::cmp_ok($sent, '>=', 10, "$sent requests sent meanwhile");
    Test::More::is($early // 0, 0, 'none of them reached b2 while it was down');
}

# nothing of the state file was applied: b2 (healthy) serves
sub starts_clean {
    my $s = b2() || {};
    Test::More::isnt($s->{health} // 'none', 'down', 'b2 is not down');
    Test::More::is($s->{admin} // 'none', 'active', 'b2 is active');
    Test::More::like(Guard::who(20, '/'), qr/b2=/, 'b2 serves');
}

# b2 drained by an operator, with an admin weight, both with their
# records; the freeze; strings with blanks, a newline, a percent sign
our $B2Drained = "server app $B2 $B2 up drained 5 1 7 1700000000000 "
                 . "1700000000500 1700000000000 0 CN=ops%201,O=Example "
                 . "maintenance%20window 1700000000100 0 bob canary%2025%25 "
                 . "was%0Aslow";
our $Frozen = "freeze on 1700000000000 0 CN=ops%201,O=Example change%20freeze";

# bytes that look random, the same at each run
sub noise { return CORE::join '', map { chr(($_ * 7919 + 131) % 256) } 1 .. $_[0] }

sub servroot { $ENV{TEST_NGINX_SERVROOT} || "$ENV{TEST_NGINX_PWD}/t/servroot" }


# milliseconds since the epoch, $s seconds from now
sub ms { int((Time::HiRes::time() + ($_[0] // 0)) * 1000) }

our $Admin = <<'_EOC_';
    location / { proxy_pass http://app; proxy_next_upstream off; }
    location = /guard { guard_status; }
    location /admin/ {
        guard_admin;
        guard_admin_tokens $TEST_NGINX_TOKENS;
    }
_EOC_

our $Tokens = <<'_EOC_';
olga  operator  app  {sha256:test-token-olga}
adam  admin     *    {sha256:test-token-adam}
_EOC_

# one admin API call that must answer 200
sub api {
    my ($what, $method, $path, $token, $body) = @_;
    my ($st, $j) = Guard::admin($method, "/admin$path", $token, $body);
    Test::More::is($st, 200, $what) or Test::More::diag($Guard::BODY);
    return $j;
}

our $UNEXPECTED = qr/\[(?:alert|crit)\]|\[emerg\].*guard/;

master_on();
workers(2);
no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: a missing file starts clean, with a notice; servers going down are written
--- http_config eval
main::conf('interval=100ms fall=1 rise=2', $main::B1, $main::B2,
           $main::B3, $main::B4)
--- config
    location / { proxy_pass http://app; proxy_next_upstream off; }
    location = /guard { guard_status; }
--- init
Test::More::ok(Guard::wait_for(sub {
    main::line_of($main::B2) =~ /^server app \Q$main::B2 $main::B2\E down active 0 1 0 0 0 0 0 - - 0 0 - - status%20503$/
        && main::line_of($main::B3) =~ / down /
        && main::line_of($main::B4) =~ / down /
        && main::well_formed()
}, 10), 'the state file has b2, b3 and b4 down') or Test::More::diag(main::slurp($main::File));
Test::More::unlike(main::slurp($main::File), qr/\Q$main::B1\E/, 'b1, up and active, has no line');
Test::More::like(main::slurp($main::File), qr/^freeze off 0 0 - -\nchain 0 0{64} 0\nend 3 [0-9a-f]{8}\n\z/m, 'freeze line, chain line, then the end line');
--- request
GET /guard
--- response_body_like: "generation":1,
--- error_log eval
qr/\[notice\] .*upstream guard: state file "\Q$main::File\E" not found: starting clean/
--- no_error_log
[error]



=== TEST 2: after a restart, a server known down stays out of rotation with initial=up until it passes "rise"
--- http_config eval
main::conf('interval=1s fall=1 rise=3 initial=up', $main::B1, $main::B2,
           $main::B3, $main::B4)
--- config
    location / { proxy_pass http://app; proxy_next_upstream off; }
    location = /guard { guard_status; }
--- user_files
>>> b2-up
up
--- init
my $st = Guard::guard_status();
Test::More::is($st && $st->{generation}, 1, 'a fresh zone: a restart, not a reload');
my $s = Guard::server_state($st, 'app', $main::B2) || {};
Test::More::is($s->{health}, 'down', 'b2 is down at once, before any check');
Test::More::is(Guard::reason($s), 'status 503', 'with the reason it went down for');
Test::More::ok($s->{last_failure} && $s->{last_failure}{ongoing},
               'a failure that still holds: no check passed since');
Test::More::ok($s->{last_failure} && exists $s->{last_failure}{at_ms}
               && !defined $s->{last_failure}{at_ms},
               'its time is not known after the restart');
Test::More::is((Guard::server_state($st, 'app', $main::B3) || {})->{health}, 'down', 'b3 too');
main::out_until_up(15);
Test::More::like(Guard::who(20, '/'), qr/b2=/, 'b2 serves once up');
Test::More::ok(Guard::wait_for(sub { main::line_of($main::B2) eq '' && main::well_formed() }, 5),
               'b2 up: its line is gone from the file');
--- request
GET /guard
--- response_body_like: "name":"app"
--- error_log eval
[qr/\[notice\] .*upstream guard: state file "\Q$main::File\E": 3 servers restored, 0 dropped \(no longer configured\)$/m,
 qr/server \Q$main::B2\E \(\Q$main::B2\E\) of upstream "app" is up \(3 consecutive passes\)/]
--- no_error_log
[error]



=== TEST 3: a server removed from the configuration is dropped, with a notice
--- http_config eval
main::conf('interval=1s fall=1 rise=3', $main::B1, $main::B2, $main::B4)
--- config
    location / { proxy_pass http://app; proxy_next_upstream off; }
    location = /guard { guard_status; }
--- user_files
>>> b2-up
up
--- init
Test::More::ok(Guard::wait_for(sub {
    my $t = main::slurp($main::File) // '';
    $t !~ /\Q$main::B3\E/ && main::line_of($main::B4) =~ / down / && main::well_formed()
}, 5), 'the file is written again without b3') or Test::More::diag(main::slurp($main::File));
Test::More::isnt((main::b2() || {})->{health} // 'none', 'down', 'b2 has no record: as configured');
--- request
GET /guard
--- response_body_like: "name":"app"
--- error_log eval
qr/\[notice\] .*upstream guard: state file "\Q$main::File\E": 1 server restored, 1 dropped \(no longer configured\), the first: server \Q$main::B3\E of upstream "app"$/m
--- no_error_log
[error]



=== TEST 4: each change replaces the file atomically: a new inode, no temporary file left
--- http_config eval
main::conf('interval=100ms fall=1 rise=1', $main::B1, $main::B2, $main::B4)
--- config
    location / { proxy_pass http://app; proxy_next_upstream off; }
    location = /guard { guard_status; }
--- user_files
>>> b2-up
up
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'up');
Test::More::ok(Guard::wait_for(sub { main::well_formed() && main::line_of($main::B4) =~ / down / }, 5),
               'the file as the restart left it');
Test::More::is(main::line_of($main::B2), '', 'b2, up, has no line');
my @st = stat $main::File;
Guard::health_file('b2-up', 0);
Test::More::ok(Guard::wait_for(sub { main::line_of($main::B2) =~ / down / && main::well_formed() }, 10),
               'b2 down is written');
my @now = stat $main::File;
Test::More::isnt($now[1], $st[1], 'a new inode: the file was replaced, not rewritten in place');
Test::More::is($now[2] & 07, 0, 'not readable by others (0640 less the umask)');
opendir my $dh, $main::Dir or die "$main::Dir: $!";
my @left = sort grep { !/^\.\.?\z/ } readdir $dh;
Test::More::is("@left", 'guard.state w', 'no temporary file left behind');
Guard::health_file('b2-up', 1);
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'up');
Test::More::ok(Guard::wait_for(sub { main::line_of($main::B2) eq '' && main::well_formed() }, 5),
               'b2 up again is written too');
--- request
GET /guard
--- response_body_like: "name":"app"
--- no_error_log
[error]



=== TEST 5: a crafted file: admin state, override records and the freeze are restored, and written back byte for byte
--- http_config eval
main::conf('interval=1s fall=1 rise=3', $main::B1, $main::B2)
--- config
    location / { proxy_pass http://app; proxy_next_upstream off; }
    location = /guard { guard_status; }
--- user_files eval
[[ 'b2-up', "up\n" ],
 [ $main::File, main::crafted($main::B2Drained,
                              $main::B2Down =~ s/\Q$main::B2\E/$main::B3/gr,
                              $main::Frozen) ]]
--- init
my $s = main::b2() || {};
Test::More::is($s->{admin}, 'drained', 'b2 is drained at once');
Test::More::is($s->{health}, 'up', 'and up, as saved');
Test::More::is(Guard::reason($s), "was\nslow", 'the reason, percent-encoding undone');
Test::More::unlike(Guard::who(20, '/'), qr/b2/, 'no request goes to b2');
Test::More::is(main::b2_hits(), 0, 'b2 saw none');
my $want = main::crafted($main::B2Drained, $main::Frozen, $main::Chain0);
Test::More::ok(Guard::wait_for(sub { main::slurp($main::File) eq $want }, 5),
               'written again without b3: every other byte as it was, every field and escape survives the round trip')
    or Test::More::diag(main::slurp($main::File));
--- request
GET /guard
--- response_body_like: "admin":"drained"
--- error_log eval
qr/\[notice\] .*state file "\Q$main::File\E": 1 server restored, 1 dropped \(no longer configured\), the first: server \Q$main::B3\E of upstream "app"; changes stay frozen by CN=ops 1,O=Example$/m
--- no_error_log
[error]



=== TEST 6: a drain, an admin weight and the freeze set through the admin API are written
--- http_config eval
local $main::Extra = 'guard_floor 1;';
main::conf('interval=100ms fall=1 rise=1', $main::B1, $main::B2)
--- config eval: $::Admin
--- tokens eval: $::Tokens
--- user_files eval
[[ 'b2-up', "up\n" ],
 [ $main::File, main::crafted('freeze off 0 0 - -') ]]
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'up');
main::api('drain b1', 'POST', "/upstreams/app/servers/$main::B1/drain",
          'test-token-olga', '{"reason":"kernel patch","expires":"1h"}');
main::api('weight 3 for b2', 'POST', "/upstreams/app/servers/$main::B2/weight",
          'test-token-olga', '{"weight":3,"reason":"canary"}');
main::api('freeze', 'PUT', '/freeze', 'test-token-adam', '{"reason":"release day"}');
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'drained', 'admin');
Test::More::ok(Guard::wait_for(sub {
    main::line_of($main::B1) =~ /^server app \Q$main::B1 $main::B1\E up drained 0 1 1 [1-9]\d* [1-9]\d* [1-9]\d* [1-9]\d* olga kernel%20patch 0 0 - - -$/
        && main::line_of($main::B2) =~ /^server app \Q$main::B2 $main::B2\E up active 3 1 1 0 0 0 0 - - [1-9]\d* 0 olga canary -$/
        && (main::slurp($main::File) // '') =~ /^freeze on [1-9]\d* 0 adam release%20day$/m
        && main::well_formed()
}, 5), 'drained b1, weighted b2 and the freeze are in the file') or Test::More::diag(main::slurp($main::File));
$main::Before = Guard::server_state(Guard::guard_status(), 'app', $main::B1);
--- request
GET /guard
--- response_body_like: "frozen":true
--- no_error_log
[error]



=== TEST 7: after a full restart: still drained (who, why, until), the weight, the freeze; versions go on
--- http_config eval
local $main::Extra = 'guard_floor 1;';
main::conf('interval=100ms fall=1 rise=1', $main::B1, $main::B2)
--- config eval: $::Admin
--- tokens eval: $::Tokens
--- user_files
>>> b2-up
up
--- init
my $st = Guard::guard_status();
Test::More::is($st->{generation}, 1, 'a fresh zone: a restart');
Test::More::ok($st->{frozen}, 'still frozen');
my $b1 = Guard::server_state($st, 'app', $main::B1) || {};
my $before = $main::Before || {};
Test::More::is($b1->{admin}, 'drained', 'b1 still drained');
Test::More::is($b1->{admin_version}, 1, 'at the same version');
Test::More::is_deeply($b1->{admin_override}, $before->{admin_override},
                      'the same override record: who, why, since, until');
Test::More::is($b1->{admin_override}{by}, 'olga', 'by olga');
my $b2 = Guard::server_state($st, 'app', $main::B2) || {};
Test::More::is($b2->{admin_weight}, 3, 'b2 keeps the admin weight 3');
Test::More::is($b2->{effective_weight}, 3, 'and serves with it');
Test::More::is(($b2->{weight_override} || {})->{reason}, 'canary', 'with its record');
Test::More::like(Guard::who(20, '/'), qr/\Ab2=20\z/, 'no request goes to the drained b1');
my $j = main::api('resume b1 (allowed while frozen)', 'POST',
                  "/upstreams/app/servers/$main::B1/resume", 'test-token-olga', '{}');
Test::More::is($j->{version}, 2, 'the version goes on from the restored one');
main::api('lift the freeze', 'DELETE', '/freeze', 'test-token-adam', undef);
Test::More::ok(Guard::wait_for(sub {
    main::line_of($main::B1) eq '' && main::line_of($main::B2) =~ / active 3 /
        && (main::slurp($main::File) // '') =~ /^freeze off 0 0 - -$/m
        && main::well_formed()
}, 5), 'written again: b1 active has no line, b2 keeps its weight, no freeze')
    or Test::More::diag(main::slurp($main::File));
--- request
GET /guard
--- response_body_like: "frozen":false
--- error_log eval
qr/\[notice\] .*state file "\Q$main::File\E": 2 servers restored, 0 dropped \(no longer configured\); changes stay frozen by adam$/m
--- no_error_log
[error]



=== TEST 8: a drain in progress at the restart completes after it: nothing is in flight
--- http_config eval
main::conf('interval=1s fall=1 rise=3', $main::B1, $main::B2)
--- config
    location / { proxy_pass http://app; proxy_next_upstream off; }
    location = /guard { guard_status; }
--- user_files eval
[[ 'b2-up', "up\n" ],
 [ $main::File, main::crafted("server app $main::B2 $main::B2 up draining 0 1 4 "
                              . main::ms(-10) . " 0 " . main::ms(-10)
                              . " 0 olga rolling 0 0 - - -") ]]
--- init
Test::More::like((main::b2() || {})->{admin} // '', qr/^drain(ing|ed)\z/, 'b2 is out at once');
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'drained', 'admin', 5);
Test::More::unlike(Guard::who(10, '/'), qr/b2/, 'and gets no request');
--- request
GET /guard
--- response_body_like: "admin":"drained"
--- error_log eval
qr/upstream guard: server \Q$main::B2\E of upstream "app" is drained: no request in flight \d+ ms after the drain began/
--- no_error_log
[error]



=== TEST 9: overrides whose time came while nginx was stopped are reverted at once, by "guard"
--- http_config eval
main::conf('interval=1s fall=1 rise=3', $main::B1, $main::B2)
--- config
    location / { proxy_pass http://app; proxy_next_upstream off; }
    location = /guard { guard_status; }
--- user_files eval
[[ 'b2-up', "up\n" ],
 [ $main::File, main::crafted("server app $main::B2 $main::B2 up drained 2 1 4 "
                              . main::ms(-90) . " " . main::ms(-89) . " "
                              . main::ms(-90) . " " . main::ms(-30)
                              . " olga rolling " . main::ms(-90) . " "
                              . main::ms(-30) . " olga canary -") ]]
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'active', 'admin', 5);
my $s = main::b2() || {};
Test::More::ok(!defined $s->{admin_weight}, 'the admin weight is gone too');
Test::More::like(Guard::who(10, '/'), qr/b2=/, 'b2 serves');
Test::More::ok(Guard::wait_for(sub { main::line_of($main::B2) eq '' && main::well_formed() }, 5),
               'and has no line in the file any more');
--- request
GET /guard
--- response_body_like: "name":"app"
--- error_log eval
qr/upstream guard: expire of server \Q$main::B2\E of upstream "app" by guard: active/
--- no_error_log
[error]



=== TEST 10: random bytes are not a state file: ignored, with the path
--- http_config eval
main::conf('interval=1s fall=1 rise=3', $main::B1, $main::B2)
--- config
    location / { proxy_pass http://app; proxy_next_upstream off; }
    location = /guard { guard_status; }
--- user_files eval
[[ 'b2-up', "up\n" ],
 [ $main::File, main::noise(600) ]]
--- init
main::starts_clean();
--- request
GET /guard
--- response_body_like: "name":"app"
--- error_log eval
qr/\[error\] .*upstream guard: state file "\Q$main::File\E" ignored: not a state file$/m
--- no_error_log eval
[$main::UNEXPECTED, qr/restored/]



=== TEST 11: a foreign file (a copy of /etc/passwd) is not a state file
--- http_config eval
main::conf('interval=1s fall=1 rise=3', $main::B1, $main::B2)
--- config
    location / { proxy_pass http://app; proxy_next_upstream off; }
    location = /guard { guard_status; }
--- user_files eval
[[ 'b2-up', "up\n" ],
 [ $main::File, main::slurp('/etc/passwd') // "root:x:0:0:root:/root:/bin/sh\n" ]]
--- init
main::starts_clean();
--- request
GET /guard
--- response_body_like: "name":"app"
--- error_log eval
qr/\[error\] .*upstream guard: state file "\Q$main::File\E" ignored: not a state file$/m
--- no_error_log eval
[$main::UNEXPECTED, qr/restored/]



=== TEST 12: a truncated file (its last line cut) is ignored whole: b2's record is not applied
--- http_config eval
main::conf('interval=1s fall=1 rise=3', $main::B1, $main::B2)
--- config
    location / { proxy_pass http://app; proxy_next_upstream off; }
    location = /guard { guard_status; }
--- user_files eval
[[ 'b2-up', "up\n" ],
 [ $main::File, main::crafted($main::B2Down, 'freeze off 0 0 - -') =~ s/end [^\n]*\n\z//r ]]
--- init
main::starts_clean();
--- request
GET /guard
--- response_body_like: "name":"app"
--- error_log eval
qr/\[error\] .*upstream guard: state file "\Q$main::File\E" ignored: truncated: no end line$/m
--- no_error_log eval
[$main::UNEXPECTED, qr/restored/]



=== TEST 13: one byte changed: checksum mismatch, ignored whole
--- http_config eval
main::conf('interval=1s fall=1 rise=3', $main::B1, $main::B2)
--- config
    location / { proxy_pass http://app; proxy_next_upstream off; }
    location = /guard { guard_status; }
--- user_files eval
[[ 'b2-up', "up\n" ],
 [ $main::File, main::crafted($main::B2Down, 'freeze off 0 0 - -') =~ s/status%20503/status%20502/r ]]
--- init
main::starts_clean();
--- request
GET /guard
--- response_body_like: "name":"app"
--- error_log eval
qr/\[error\] .*upstream guard: state file "\Q$main::File\E" ignored: checksum mismatch: the end line says [0-9a-f]{8}, the content gives [0-9a-f]{8}$/m
--- no_error_log eval
[$main::UNEXPECTED, qr/restored/]



=== TEST 14: a bad line with a good checksum: ignored whole, the good line before it is not applied
--- http_config eval
main::conf('interval=1s fall=1 rise=3', $main::B1, $main::B2)
--- config
    location / { proxy_pass http://app; proxy_next_upstream off; }
    location = /guard { guard_status; }
--- user_files eval
[[ 'b2-up', "up\n" ],
 [ $main::File, main::crafted($main::B2Down, $main::B2Down =~ s/\Q$main::B2\E/$main::B1/gr =~ s/ down / sideways /r) ]]
--- init
main::starts_clean();
--- request
GET /guard
--- response_body_like: "name":"app"
--- error_log eval
qr/\[error\] .*upstream guard: state file "\Q$main::File\E" ignored: line 3: invalid health "sideways"$/m
--- no_error_log eval
[$main::UNEXPECTED, qr/restored/]



=== TEST 15: a write that fails is logged once per error, retried at each tick, and said when it works again
--- http_config eval
local $main::StateFile = "$main::Dir/w/guard.state";
main::conf('interval=100ms fall=1 rise=1', $main::B1, $main::B2)
--- config
    location / { proxy_pass http://app; proxy_next_upstream off; }
    location = /guard { guard_status; }
--- user_files
>>> b2-up
up
--- init
my $f = "$main::Dir/w/guard.state";
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'up');
mkdir $f or die "$f: $!";        # a directory in the way: rename() fails
Guard::health_file('b2-up', 0);
my $re = qr/\[error\] .*upstream guard: state file "\Q$f\E" not written, retried at each tick while it fails: rename\(\) "\Q$f\E\.tmp\.\d+" failed \(21: Is a directory\)/;
Test::More::ok(Guard::wait_for(sub { main::errlog() =~ $re }, 10), 'the failed write is logged');
Time::HiRes::sleep(1);           # six ticks, each one a retry
my $n = () = main::errlog() =~ /$re/g;
Test::More::is($n, 1, 'once, not at every retry');
rmdir $f or die "$f: $!";
Test::More::ok(Guard::wait_for(sub { main::errlog() =~ /state file "\Q$f\E" written again/ }, 5),
               'the next tick writes it and says so');
opendir my $dh, "$main::Dir/w" or die;
Test::More::is(join(' ', grep { !/^\.\.?\z/ } readdir $dh), 'guard.state',
               'no temporary file left by the failed tries');
Test::More::like(main::line_of($main::B2, $f), qr/ down /, 'with b2 down');
--- request
GET /guard
--- response_body_like: "name":"app"
--- no_error_log eval
[$main::UNEXPECTED, qr/\[error\](?!.*(?:is down: |below its floor: |has no server in rotation: |not written, retried))/]



=== TEST 16: a relative path is taken from nginx's prefix
--- http_config eval
local $main::StateFile = 'logs/guard.state';
main::conf('interval=100ms fall=1 rise=1', $main::B1, $main::B2)
--- config
    location / { proxy_pass http://app; proxy_next_upstream off; }
    location = /guard { guard_status; }
--- init
my $f = main::servroot() . '/logs/guard.state';
Test::More::ok(Guard::wait_for(sub { main::line_of($main::B2, $f) =~ / down / }, 10),
               "written to $f");
--- request
GET /guard
--- response_body_like: "name":"app"
--- error_log eval
qr/state file "\Q${\ main::servroot()}\E\/+logs\/guard\.state" not found: starting clean/
--- no_error_log
[error]



=== TEST 17: a directory that does not exist is refused at nginx -t
--- http_config eval
local $main::StateFile = "$main::Dir/nothing-here/guard.state";
main::conf('', $main::B1)
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_state_file "\Q$main::Dir\E\/nothing-here\/guard\.state": its directory "\Q$main::Dir\E\/nothing-here" cannot be used \(2: No such file or directory\)/



=== TEST 18: a directory is not a state file
--- http_config eval
local $main::StateFile = "$main::Dir/w";
main::conf('', $main::B1)
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_state_file "\Q$main::Dir\E\/w" is not a regular file/



=== TEST 19: guard_state_file twice
--- http_config eval
"    guard_state_file $main::Dir/a.state;\n" . main::conf('', $main::B1)
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"guard_state_file" directive is duplicate/



=== TEST 20: a pending two-person request and the audit head are written
--- http_config eval
local $main::StateFile = "$main::Dir/two-person.state";
"    guard_admin_two_person;
    guard_audit_log $main::Dir-audit/audit.log;
    guard_audit_key $main::Dir-audit/audit.key;
" . main::conf('interval=100ms fall=1 rise=1', $main::B1, $main::B2)
--- config eval: $::Admin
--- tokens eval: $::Tokens
--- user_files
>>> b2-up
up
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'up');
my ($st, $j) = Guard::admin('POST', "/admin/upstreams/app/servers/$main::B1/drain",
                            'test-token-olga', '{"reason":"below the floor"}');
Test::More::is($st, 202, 'a floor-breaking drain waits for a second principal')
    or Test::More::diag($Guard::BODY);
$main::Request = $j->{request};
Test::More::ok(Guard::wait_for(sub {
    (main::slurp("$main::Dir/two-person.state") // '') =~ /^request $main::Request 1 1 0 0 2 1 \d+ \d+ 0 app \Q$main::B1\E olga - below%20the%20floor \S+$/m
}, 5), 'the pending request is in the file')
    or Test::More::diag(main::slurp("$main::Dir/two-person.state"));
my $g = Guard::guard_status();
$main::Head = "$g->{audit_seq}:$g->{audit_head}";
Test::More::ok(Guard::wait_for(sub {
    (main::slurp("$main::Dir/two-person.state") // '') =~ /^chain (\d+) ([0-9a-f]{64}) (\d+)$/m
        && $1 >= $g->{audit_seq} && $3 == $main::Request
}, 5), 'and the chain line: the audit head and the next request id');
--- request
GET /guard
--- response_body_like: "pending_requests":\[\{"id":\d+
--- no_error_log
[error]



=== TEST 21: after a full restart the request is still pending, and the audit chain goes on
--- http_config eval
local $main::StateFile = "$main::Dir/two-person.state";
"    guard_admin_two_person;
    guard_audit_log $main::Dir-audit/audit.log;
    guard_audit_key $main::Dir-audit/audit.key;
" . main::conf('interval=100ms fall=1 rise=1', $main::B1, $main::B2)
--- config eval: $::Admin
--- tokens eval: $::Tokens
--- user_files
>>> b2-up
up
--- init
my $st = Guard::guard_status();
Test::More::is($st->{generation}, 1, 'a fresh zone: a restart');
my ($code, $j) = Guard::admin('GET', "/admin/pending/$main::Request", 'test-token-adam');
Test::More::is($j && $j->{request}{state}, 'pending', 'the request is still pending')
    or Test::More::diag($Guard::BODY);
Test::More::is($j && $j->{request}{requester}, 'olga', 'asked by olga');
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'up');
($code, $j) = Guard::admin('POST', "/admin/pending/$main::Request/approve",
                           'test-token-adam', '{}');
Test::More::is($code, 200, 'a second principal approves it after the restart')
    or Test::More::diag($Guard::BODY);
my $verify = "$ENV{TEST_NGINX_PWD}/scripts/guard-audit-verify";
my $out = `$verify $main::Dir-audit/audit.log --key $main::Dir-audit/audit.key 2>&1`;
Test::More::is($? >> 8, 0, 'the audit chain verifies across the restart') or Test::More::diag($out);
my ($seq) = $main::Head =~ /^(\d+):/;
$st = Guard::guard_status();
Test::More::ok($st->{audit_seq} > $seq, "the chain went on: $seq, then $st->{audit_seq}");
--- request
GET /guard
--- response_body_like: "admin":"drain
--- no_error_log
[error]



=== TEST 22: a pending request that expires soon is written
--- http_config eval
local $main::StateFile = "$main::Dir/expire.state";
"    guard_admin_two_person expire=8s;
    guard_audit_log $main::Dir-audit/expire.log;
    guard_audit_key $main::Dir-audit/audit.key;
" . main::conf('interval=100ms fall=1 rise=1', $main::B1, $main::B2)
--- config eval: $::Admin
--- tokens eval: $::Tokens
--- user_files
>>> b2-up
up
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'up');
my ($st, $j) = Guard::admin('POST', "/admin/upstreams/app/servers/$main::B1/drain",
                            'test-token-olga', '{}');
Test::More::is($st, 202, 'pending') or Test::More::diag($Guard::BODY);
$main::Request = $j->{request};
$main::Until = $j->{expires_ms};
Test::More::ok(Guard::wait_for(sub {
    (main::slurp("$main::Dir/expire.state") // '') =~ /^request $main::Request 1 1 0 0 2 1 \d+ $main::Until 0 /m
}, 5), 'the request is in the file, with its expiry')
    or Test::More::diag(main::slurp("$main::Dir/expire.state"));
--- request
GET /guard
--- response_body_like: "pending_requests":\[\{"id":\d+
--- no_error_log
[error]



=== TEST 23: after a restart it expires at the time it was given, and cannot be approved
--- http_config eval
local $main::StateFile = "$main::Dir/expire.state";
"    guard_admin_two_person expire=8s;
    guard_audit_log $main::Dir-audit/expire.log;
    guard_audit_key $main::Dir-audit/audit.key;
" . main::conf('interval=100ms fall=1 rise=1', $main::B1, $main::B2)
--- config eval: $::Admin
--- tokens eval: $::Tokens
--- user_files
>>> b2-up
up
--- init
my $st = Guard::guard_status();
Test::More::is($st->{generation}, 1, 'a fresh zone: a restart');
my $r;
Test::More::ok(Guard::wait_for(sub {
    (undef, my $j) = Guard::admin('GET', "/admin/pending/$main::Request", 'test-token-adam');
    $r = $j && $j->{request};
    return $r && $r->{state} eq 'expired';
}, 25), 'the request restored from the file expires') or Test::More::diag($Guard::BODY);
Test::More::is($r->{expires_ms}, $main::Until, 'at the time it was given, not a new one');
Test::More::ok($r->{closed_ms} >= $main::Until, "not before: closed $r->{closed_ms}, due $main::Until");
my ($code) = Guard::admin('POST', "/admin/pending/$main::Request/approve", 'test-token-adam', '{}');
Test::More::is($code, 409, 'an expired request cannot be approved');
my @l = do {
    open my $in, '<', "$main::Dir-audit/expire.log" or die "expire.log: $!\n";
    map { JSON::PP->new->decode($_) } <$in>;
};
my @e = grep { $_->{op} eq 'expire' && ($_->{request} // 0) == $main::Request } @l;
Test::More::is(join(' ', map { "$_->{principal}/$_->{result}" } @e), 'guard/expired',
               'its expiry audited once, by guard');
--- request
GET /guard
--- response_body_like: "admin":"active"
--- no_error_log
[error]



=== TEST 24: a request whose time ran out while nginx was down is expired at start
--- http_config eval
"    guard_admin_two_person;
" . main::conf('interval=100ms fall=1 rise=1', $main::B1, $main::B2)
--- config eval: $::Admin
--- tokens eval: $::Tokens
--- user_files eval
[[ 'b2-up', "up\n" ],
 [ $main::File, main::crafted('freeze off 0 0 - -', 'chain 0 ' . ('0' x 64) . ' 41',
     "request 41 1 1 0 0 2 1 1700000000000 1700000900000 0 app $main::B1 olga - - below%20the%20floor") ]]
--- init
# at once: whether or not the checking worker's first tick came yet
my ($code, $j) = Guard::admin('GET', '/admin/pending/41', 'test-token-adam');
Test::More::is(($j ? $j->{request}{state} : $code), 'expired', 'it was restored, as expired')
    or Test::More::diag($Guard::BODY);
($code, $j) = Guard::admin('DELETE', '/admin/pending/41', 'test-token-adam');
Test::More::is($code . ' ' . ($j ? $j->{code} : ''), '409 not_pending', 'it cannot be cancelled');
($code, $j) = Guard::admin('POST', '/admin/pending/41/approve', 'test-token-adam', '{}');
Test::More::is($code . ' ' . ($j ? $j->{code} : ''), '409 not_pending', 'nor approved');
--- request
GET /guard
--- response_body_like: "admin":"active"
--- no_error_log
[error]



=== TEST 25: audited reads after the state file's last write
--- http_config eval
local $main::StateFile = "$main::Dir/lag.state";
"    guard_audit_log $main::Dir-audit/lag.log;
    guard_audit_key $main::Dir-audit/audit.key;
" . main::conf('interval=100ms fall=1 rise=1', $main::B1, $main::B2)
--- config eval: $::Admin
--- tokens eval: $::Tokens
--- user_files
>>> b2-up
up
--- init
Guard::wait_health('app', $ENV{TEST_NGINX_B1}, 'up');
Guard::wait_health('app', $ENV{TEST_NGINX_B2}, 'up');
main::api('a weight: a lasting change, the state file is written', 'POST',
          "/upstreams/app/servers/$main::B1/weight", 'test-token-olga', '{"weight":2}');
my $g = Guard::guard_status();
Test::More::ok(Guard::wait_for(sub {
    (main::slurp("$main::Dir/lag.state") // '') =~ /^chain (\d+) /m && $1 == $g->{audit_seq}
}, 5), 'the state file has the head');
# reads are audited too, but change no state: the file is not written again
main::api("read $_", 'GET', '/upstreams/app', 'test-token-olga') for 1 .. 3;
$g = Guard::guard_status();
$main::Head = "$g->{audit_seq}:$g->{audit_head}";
--- request
GET /guard
--- response_body_like: "audit_seq":\d+
--- no_error_log
[error]



=== TEST 26: after a restart the chain goes on from the log's last line, not the older head in the state file
--- http_config eval
local $main::StateFile = "$main::Dir/lag.state";
"    guard_audit_log $main::Dir-audit/lag.log;
    guard_audit_key $main::Dir-audit/audit.key;
" . main::conf('interval=100ms fall=1 rise=1', $main::B1, $main::B2)
--- config eval: $::Admin
--- tokens eval: $::Tokens
--- user_files
>>> b2-up
up
--- init
my $st = Guard::guard_status();
Test::More::is($st->{generation}, 1, 'a fresh zone: a restart');
my ($seq) = $main::Head =~ /^(\d+):/;
Test::More::is($st->{audit_seq}, $seq + 1, "the start's line follows the last one written: $seq");
my $verify = "$ENV{TEST_NGINX_PWD}/scripts/guard-audit-verify";
my $out = `$verify $main::Dir-audit/lag.log --key $main::Dir-audit/audit.key --head $st->{audit_seq}:$st->{audit_head} 2>&1`;
Test::More::is($? >> 8, 0, 'one chain across the restart') or Test::More::diag($out);
# now a lasting change, and its line cut off the log: the state file
# keeps the head that the next start goes on from, so the cut shows
main::api('a weight', 'POST', "/upstreams/app/servers/$main::B1/weight",
          'test-token-olga', '{"weight":3}');
$st = Guard::guard_status();
Test::More::ok(Guard::wait_for(sub {
    (main::slurp("$main::Dir/lag.state") // '') =~ /^chain (\d+) /m && $1 == $st->{audit_seq}
}, 5), "the state file has the head, seq $st->{audit_seq}");
my @l = split /^/, main::slurp("$main::Dir-audit/lag.log");
open my $fh, '>', "$main::Dir-audit/lag.log" or die "lag.log: $!\n";
print $fh @l[0 .. $#l - 1];
close $fh;
$main::Head = $st->{audit_seq};
--- request
GET /guard
--- response_body_like: "audit_seq":\d+
--- error_log eval
qr/\[notice\] .*upstream guard: the audit log "\S+lag\.log" goes on to seq \d+, past the head the state file kept \(seq \d+\): the chain goes on from its last line/
--- no_error_log
[error]



=== TEST 27: a log whose last line was cut: the chain goes on from the state file's head, the gap shows
--- http_config eval
local $main::StateFile = "$main::Dir/lag.state";
"    guard_audit_log $main::Dir-audit/lag.log;
    guard_audit_key $main::Dir-audit/audit.key;
" . main::conf('interval=100ms fall=1 rise=1', $main::B1, $main::B2)
--- config eval: $::Admin
--- tokens eval: $::Tokens
--- user_files
>>> b2-up
up
--- init
my $st = Guard::guard_status();
Test::More::is($st->{audit_seq}, $main::Head + 1, "the start's line follows the head, seq $main::Head");
my $verify = "$ENV{TEST_NGINX_PWD}/scripts/guard-audit-verify";
my $out = `$verify $main::Dir-audit/lag.log --key $main::Dir-audit/audit.key 2>&1`;
my $cut = $main::Head;
Test::More::like(($? >> 8) . " $out", qr/^1 FAIL: \S+lag\.log:\d+: seq gap: seq $cut missing after seq @{[$cut - 1]}/,
                 "the cut line is missing: $out");
--- request
GET /guard
--- response_body_like: "audit_seq":\d+
--- no_error_log
[error]



=== TEST 28: health alone is written at most once a second, however fast servers flap; the last state still reaches the file
--- http_config eval
my ($p1, $p2) = ($ENV{TEST_NGINX_B1}, $ENV{TEST_NGINX_B2});
"    guard_state_file $main::Dir/flap.state;
    # 503 in every other tenth of a second, until html/calm
    map \$msec \$flap_odd { \"~\\.[13579]\\d\\d\$\" 1; default 0; }
    upstream flap {
        server 127.0.0.1:$p1;
        server 127.0.0.2:$p1;
        server 127.0.0.1:$p2;
        server 127.0.0.2:$p2;
        guard_check http uri=/flap interval=100ms fall=1 rise=1;
    }
    server {
        listen $p1;
        listen $p2;
        root html;
        location = /flap {
            if (-f \$document_root/calm) { return 200; }
            if (\$flap_odd) { return 503; }
            return 200;
        }
    }
"
--- config
    location = /guard { guard_status; }
--- init
my $file = "$main::Dir/flap.state";
my $downs = sub {
    my $u = Guard::upstream_state(Guard::guard_status(), 'flap') or return undef;
    my $n = 0;
    $n += $_->{down_transitions} // 0 for @{ $u->{servers} };
    return $n;
};
Test::More::ok(Guard::wait_for(sub { -e $file }, 5), 'a server down is written');
my $d0 = $downs->();
my ($writes, $last, $t0) = (0, undef, Time::HiRes::time());
while (Time::HiRes::time() - $t0 < 4) {
    my @st = Time::HiRes::stat($file);
    my $id = @st ? "$st[1] $st[9]" : 'none';
    $writes++ if defined $last && $id ne $last;
    $last = $id;
    Time::HiRes::sleep(0.01);
}
my $d1 = $downs->();
Test::More::ok(defined $d0 && defined $d1, 'the report counts down transitions');
my $flaps = ($d1 // 0) - ($d0 // 0);
Test::More::cmp_ok($flaps, '>=', 20, "the servers flapped: $flaps times down in 4 s");
Test::More::cmp_ok($writes, '>=', 2, "the file was written meanwhile: $writes times");
Test::More::cmp_ok($writes, '<=', 6, "at most about once a second: $writes writes in 4 s");
Guard::health_file('calm', 1);
Test::More::ok(Guard::wait_for(sub {
    my $u = Guard::upstream_state(Guard::guard_status(), 'flap') or return 0;
    return !grep { $_->{health} ne 'up' } @{ $u->{servers} };
}, 5), 'calm: all four servers up');
Test::More::ok(Guard::wait_for(sub {
    my $t = main::slurp($file) // '';
    $t =~ /^end 0 [0-9a-f]{8}$/m;
}, 3), 'and the file says so within a second or two: no server line');
--- request
GET /guard
--- response_body_like: "name":"flap"
--- no_error_log eval
$main::UNEXPECTED



=== TEST 28: a request line whose numbers are out of range is not a state file
An operation of 99999999 passed the range check (max - digit wrapped) and
a later approval indexed a table of 7 names with it: the worker crashed.
--- http_config eval
local $main::StateFile = "$main::More/range.state";
"    guard_admin_two_person;
" . main::conf('interval=100ms fall=1 rise=1', $main::B1, $main::B2)
--- config eval: $::Admin
--- tokens eval: $::Tokens
--- user_files eval
my $req = sub { "request 1 1 $_[0] 0 0 $_[1] 1 " . main::ms() . ' ' . main::ms(600)
                . " 0 app $main::B1 olga - patch below%20the%20floor" };
[[ 'b2-up', "up\n" ],
 [ "$main::More/range.state", main::crafted($main::Chain0, $req->(99999999, 2)) ]]
--- init
main::starts_clean();
my ($st, $j) = Guard::admin('GET', '/admin/pending', 'test-token-adam');
Test::More::is($st, 200, 'the pending list answers');
Test::More::is(scalar @{ ($j // {})->{requests} // [] }, 0, 'and no request was restored')
    or Test::More::diag($Guard::BODY);
--- request
GET /guard
--- response_body_like: "name":"app"
--- error_log eval
qr/\[error\] .*upstream guard: state file "\Q$main::More\E\/range\.state" ignored: line 3: invalid operation "99999999"$/m
--- no_error_log eval
[$main::UNEXPECTED, qr/restored/]



=== TEST 29: a role of 0 (no role) is refused too
--- http_config eval
local $main::StateFile = "$main::More/range0.state";
"    guard_admin_two_person;
" . main::conf('interval=100ms fall=1 rise=1', $main::B1, $main::B2)
--- config eval: $::Admin
--- tokens eval: $::Tokens
--- user_files eval
my $req = sub { "request 1 1 $_[0] 0 0 $_[1] 1 " . main::ms() . ' ' . main::ms(600)
                . " 0 app $main::B1 olga - patch below%20the%20floor" };
[[ 'b2-up', "up\n" ],
 [ "$main::More/range0.state", main::crafted($main::Chain0, $req->(1, 0)) ]]
--- init
main::starts_clean();
--- request
GET /guard
--- response_body_like: "name":"app"
--- error_log eval
qr/\[error\] .*upstream guard: state file "\Q$main::More\E\/range0\.state" ignored: line 3: a request with operation 1 and role 0$/m
--- no_error_log eval
[$main::UNEXPECTED, qr/restored/]



=== TEST 30: an audit head that is not 64 hex digits is refused whole, not taken in part
The parser looked at the first 8 digits only, and the restore wrote the
head up to the first bad pair: the next audit line had a prev no log has.
--- http_config eval
local $main::StateFile = "$main::More/head.state";
local $main::Extra = 'guard_floor 1;';
"    guard_audit_log $main::Dir-audit/head.log;
    guard_audit_key $main::Dir-audit/audit.key;
" . main::conf('interval=100ms fall=1 rise=1', $main::B1, $main::B2)
--- config eval: $::Admin
--- tokens eval: $::Tokens
--- user_files eval
[[ 'b2-up', "up\n" ],
 [ "$main::More/head.state", main::crafted('chain 5 deadbeef' . ('z' x 56) . ' 1') ]]
--- init
main::starts_clean();
main::api('a drain', 'POST', "/upstreams/app/servers/$main::B2/drain", 'test-token-olga', '{}');
my $verify = "$ENV{TEST_NGINX_PWD}/scripts/guard-audit-verify";
my $out = `$verify $main::Dir-audit/head.log --key $main::Dir-audit/audit.key 2>&1`;
Test::More::is($? >> 8, 0, 'the audit log verifies: it starts at seq 1 after zeros')
    or Test::More::diag($out);
--- request
GET /guard
--- response_body_like: "name":"app"
--- error_log eval
qr/\[error\] .*upstream guard: state file "\Q$main::More\E\/head\.state" ignored: line 2: an audit head that is not 64 hex digits$/m
--- no_error_log eval
[$main::UNEXPECTED, qr/restored/]



=== TEST 31: the temporary file is created anew, never opened through a link left under its name
Whoever can write the state file's directory could leave a symbolic link
named as a worker's temporary file: the write truncated its target.
--- http_config eval
local $main::StateFile = "$main::More/link/guard.state";
local $main::Extra = 'guard_floor 1;';
File::Path::rmtree("$main::More/link");
File::Path::mkpath("$main::More/link");
main::conf('interval=100ms fall=1 rise=1', $main::B1, $main::B2)
--- config eval: $::Admin
--- tokens eval: $::Tokens
--- user_files
>>> b2-up
up
--- init
my $victim = "$main::More/victim";
open my $fh, '>', $victim or die "$victim: $!";
print $fh "precious\n";
close $fh;
my $master = main::slurp(main::servroot() . '/logs/nginx.pid') // '';
chomp $master;
my @workers = grep { /^\d+$/ } split /\s+/, `pgrep -P $master`;
Test::More::cmp_ok(scalar @workers, '>=', 2, 'the workers: ' . join(' ', @workers));
symlink $victim, "$main::More/link/guard.state.tmp.$_" or die $! for @workers;
main::api('a drain: the state file is written', 'POST', "/upstreams/app/servers/$main::B2/drain",
          'test-token-olga', '{}');
Test::More::ok(Guard::wait_for(sub {
    (main::slurp("$main::More/link/guard.state") // '') =~ /^server app \S+ \Q$main::B2\E \S+ draining/m
}, 5), 'the state file is written, with the drain')
    or Test::More::diag(main::slurp("$main::More/link/guard.state"));
Test::More::is(main::slurp($victim), "precious\n", "the link's target is untouched");
Test::More::ok(!-l "$main::More/link/guard.state", 'the state file is a file, not the link');
--- request
GET /guard
--- response_body_like: "name":"app"
--- no_error_log eval
$main::UNEXPECTED



=== TEST 32: raw bytes of a bad field are escaped in the error log, which stays text
--- http_config eval
local $main::StateFile = "$main::More/raw.state";
main::conf('interval=100ms fall=1 rise=1', $main::B1, $main::B2)
--- config eval: $::Admin
--- tokens eval: $::Tokens
--- user_files eval
(my $line = $main::B2Down) =~ s/status%20503$/st\xff\xfeatus\x1b[31m/;
[[ 'b2-up', "up\n" ], [ "$main::More/raw.state", main::crafted($line, $main::Chain0) ]]
--- init
main::starts_clean();
--- request
GET /guard
--- response_body_like: "name":"app"
--- error_log eval
qr/\[error\] .*upstream guard: state file "\Q$main::More\E\/raw\.state" ignored: line 2: invalid reason "st\\xFF\\xFEatus\\x1B\[31m"$/m
--- no_error_log eval
[$main::UNEXPECTED, qr/restored/, qr/[\x80-\xff\x1b]/]



=== TEST 33: an override reason with an encoded control character is refused: the admin API never writes one
--- http_config eval
local $main::StateFile = "$main::More/ctl.state";
main::conf('interval=100ms fall=1 rise=1', $main::B1, $main::B2)
--- config eval: $::Admin
--- tokens eval: $::Tokens
--- user_files eval
my $line = "server app $main::B2 $main::B2 up maintenance 0 1 1 0 0 1700000000000 0 "
           . "olga red%1B[31malert 0 0 - - -";
[[ 'b2-up', "up\n" ], [ "$main::More/ctl.state", main::crafted($line, $main::Chain0) ]]
--- init
main::starts_clean();
--- request
GET /guard
--- response_body_like: "name":"app"
--- error_log eval
qr/\[error\] .*upstream guard: state file "\Q$main::More\E\/ctl\.state" ignored: line 2: invalid admin reason "red%1B\[31malert"$/m
--- no_error_log eval
[$main::UNEXPECTED, qr/restored/, qr/\x1b/]



=== TEST 34: a freeze "by" with an encoded newline is refused: it would forge a line of the error log
--- http_config eval
local $main::StateFile = "$main::More/nl.state";
main::conf('interval=100ms fall=1 rise=1', $main::B1, $main::B2)
--- config eval: $::Admin
--- tokens eval: $::Tokens
--- user_files eval
[[ 'b2-up', "up\n" ],
 [ "$main::More/nl.state",
   main::crafted("freeze on 1700000000000 0 ops%0A2026/01/01%2000:00:00%20[emerg]%20forged -",
                 $main::Chain0) ]]
--- init
main::starts_clean();
--- request
GET /guard
--- response_body_like: "name":"app"
--- error_log eval
qr/\[error\] .*upstream guard: state file "\Q$main::More\E\/nl\.state" ignored: line 2: invalid by "ops%0A2026\/01\/01%2000:00:00%20\[e\.\.\."$/m
--- no_error_log eval
[$main::UNEXPECTED, qr/restored/, qr/^2026\/01\/01 00:00:00 \[emerg\] forged/m]



=== TEST 35: a state file that is a symbolic link is refused at nginx -t: a write would replace the link
--- http_config eval
File::Path::rmtree("$main::More/sym");
File::Path::mkpath("$main::More/sym/real");
{ open my $fh, '>', "$main::More/sym/real/guard.state" or die $!; close $fh }
symlink "real/guard.state", "$main::More/sym/guard.state" or die $!;
local $main::StateFile = "$main::More/sym/guard.state";
main::conf('interval=100ms fall=1 rise=1', $main::B1, $main::B2)
--- config eval: $::Admin
--- tokens eval: $::Tokens
--- must_die
--- error_log eval
qr/guard_state_file "\Q$main::More\E\/sym\/guard\.state" is a symbolic link to "real\/guard\.state": each write renames a new file over it, which would replace the link; name the file itself in \S+nginx\.conf:\d+/



=== TEST 36: a time or count beyond 2^53 - 1 is refused: JSON readers could not hold it exactly
A drain whose start was 2^64 - 1 ms was restored and reported as
"admin_since":18446744073709551615, which JavaScript reads as another number.
--- http_config eval
local $main::StateFile = "$main::More/big.state";
main::conf('interval=100ms fall=1 rise=1', $main::B1, $main::B2)
--- config eval: $::Admin
--- tokens eval: $::Tokens
--- user_files eval
(my $line = $main::B2Drained) =~ s/ 1700000000000 0 CN=/ 18446744073709551615 0 CN=/
    or die 'no admin since in the server line';
[[ 'b2-up', "up\n" ], [ "$main::More/big.state", main::crafted($line, $main::Chain0) ]]
--- init
main::starts_clean();
--- request
GET /guard
--- response_body_unlike: 18446744073709551615
--- error_log eval
qr/\[error\] .*upstream guard: state file "\Q$main::More\E\/big\.state" ignored: line 2: invalid admin since "18446744073709551615"$/m
--- no_error_log eval
[$main::UNEXPECTED, qr/restored/]



=== TEST 37: restored requests apply only to the upstream and server named whole; a 127-byte name that may have been cut is dropped
Before 0.3.0 a request recorded an upstream name of more than 127 bytes
cut to 127; restored from such a file, request 61 (asked for the long
upstream) was approved against the upstream whose whole name is the cut
one.  Requests naming nothing configured are dropped too; a genuine
127-byte name keeps working, and dropped ids are not given again.
--- http_config eval
local $main::StateFile = "$main::More/cut.state";
local $main::Extra = 'guard_floor 2;';
my $short = 'u' x 127;
"    guard_admin_two_person;
" . main::conf('interval=100ms fall=1 rise=1', $main::B1, $main::B2)
  . join '', map { "    upstream $_ {
        server $main::B1;
        server $main::B2;
        guard_check http uri=/health interval=100ms fall=1 rise=1;
        guard_floor 1;
    }
" } $short . '_canary', $short, 'v' x 127
--- config eval: $::Admin
--- tokens eval: $::Tokens
--- user_files eval
my ($short, $whole) = ('u' x 127, 'v' x 127);
my $req = sub { "request $_[0] 1 1 0 0 2 1 " . main::ms() . ' ' . main::ms(600)
                . " 0 $_[1] $_[2] olga - - below%20the%20floor" };
[[ 'b2-up', "up\n" ],
 [ "$main::More/cut.state",
   main::crafted('chain 0 ' . ('0' x 64) . ' 60',
                 $req->(61, $short, $main::B1),       # the long one's, cut
                 $req->(62, $whole, $main::B1),       # a whole 127-byte name
                 $req->(63, 'gone', $main::B1),
                 $req->(64, $whole, "127.0.0.1:$ENV{TEST_NGINX_B9}")) ]]
--- init
my ($short, $whole) = ('u' x 127, 'v' x 127);
my $long = $short . '_canary';
for my $u ($long, $short, $whole, 'app') {
    Guard::wait_health($u, $ENV{"TEST_NGINX_B$_"}, 'up') for 1, 2;
}
my ($st, $j) = Guard::admin('GET', '/admin/pending', 'test-token-adam');
Test::More::is(join(',', map { "$_->{id} $_->{state}" } @{ ($j // {})->{requests} // [] }),
               '62 pending', 'only request 62 was restored') or Test::More::diag($Guard::BODY);
($st, $j) = Guard::admin('POST', '/admin/pending/61/approve', 'test-token-adam', '{}');
Test::More::is($st . ' ' . ($j ? $j->{code} // 'ok' : ''), '404 unknown_request',
               'request 61 cannot be approved') or Test::More::diag($Guard::BODY);
($st, $j) = Guard::admin('POST', '/admin/pending/62/approve', 'test-token-adam', '{}');
Test::More::is($st, 200, 'request 62 is approved') or Test::More::diag($Guard::BODY);
my $s = Guard::guard_status();
Test::More::like((Guard::server_state($s, $whole, $main::B1) || {})->{admin} // '', qr/^drain/,
               'the whole 127-byte name: its server drains');
for my $u ($short, $long) {
    Test::More::is((Guard::server_state($s, $u, $main::B1) || {})->{admin}, 'active',
                   length($u) . "-byte upstream: untouched");
}
# a new request takes the id after the dropped ones
($st, $j) = Guard::admin('POST', "/admin/upstreams/app/servers/$main::B1/drain",
                         'test-token-olga', '{}');
Test::More::is($st . ' ' . ($j ? $j->{request} // '' : ''), '202 65',
               'a new request is 65, not a dropped id') or Test::More::diag($Guard::BODY);
--- request
GET /guard
--- response_body_like: "name":"app"
--- error_log eval
[qr/\[warn\] .*upstream guard: state file "\Q$main::More\E\/cut\.state": request 61 dropped: its upstream "u{127}" has the 127 bytes to which versions before 0\.3\.0 cut a longer name, and may be upstream "u{127}_canary"$/m,
 qr/\[warn\] .*upstream guard: state file "\Q$main::More\E\/cut\.state": request 63 dropped: no upstream "gone" is configured$/m,
 qr/\[warn\] .*upstream guard: state file "\Q$main::More\E\/cut\.state": request 64 dropped: no server 127\.0\.0\.1:$ENV{TEST_NGINX_B9} in upstream "v{127}"$/m]
--- no_error_log eval
[$main::UNEXPECTED, qr/request 62 dropped/, qr/\[error\]/]
