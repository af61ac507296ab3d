# A binary upgrade (USR2, then QUIT to the old master) keeps health state
# through the state file: with initial=up, a server known down before the
# upgrade takes no request in the new nginx until it passes "rise".
#
# The runner's own nginx cannot be upgraded under it (it runs in the
# foreground, waited for), so the nginx under test is one of its own
# (Guard::nginx_run, daemonized) on TEST_NGINX_B6; the runner's nginx
# serves the backends: b1 always healthy, b2 whose /health answers 503
# until the file b2-up exists, and whose requests are logged.
use lib 't/lib';
use Guard;
use Test::Nginx::Socket 'no_plan';
use File::Path ();
use File::Spec ();
use IO::Socket::INET ();
use Time::HiRes ();

our $Dir = File::Spec->catdir(File::Spec->tmpdir,
                              "upstream-guard-usr2-$<-$Guard::BASE");
File::Path::remove_tree($Dir);
File::Path::make_path("$Dir/html");
our $Lb = "$Dir/lb";
our $Hits = "$Dir/b2.log";
our ($B1, $B2) = map { "127.0.0.1:$ENV{\"TEST_NGINX_B$_\"}" } 1, 2;
our $Port = $ENV{TEST_NGINX_B6};

# the nginx under test: its binary by an absolute path, which USR2 execs
our $Bin = $ENV{TEST_NGINX_BINARY} || 'nginx';
if ($Bin !~ m{/}) {
    ($Bin) = grep { -x } map { "$_/$Bin" } split /:/, $ENV{PATH};
}

our $Lb_http = <<"_EOC_";
    guard_state_file $Dir/guard.state;
    upstream app {
        server $B1;
        server $B2;
        guard_check http uri=/health interval=2s fall=1 rise=3 initial=up;
        guard_floor 1;
    }
    server {
        listen 127.0.0.1:$Port;
        location / { proxy_pass http://app; proxy_next_upstream off; }
        location = /guard { guard_status; }
    }
_EOC_

sub lb_pid { Guard::nginx_pid($Lb) }

sub b2 { Guard::server_state(Guard::guard_status('/guard', $Port), 'app', $B2) }

sub hits {
    open my $fh, '<', $Hits or return 0;
    my $n = 0;
    $n++ while <$fh>;
    return $n;
}

sub slurp {
    open my $fh, '<', $_[0] or return '';
    local $/;
    return scalar <$fh>;
}

END { Guard::stop_nginx($Lb) if $Lb }

# TEST 2: the nginx under test with the admin API
our $Tokens = "$Dir/tokens";
our $Admin_http = <<"_EOC_";
    guard_state_file $Dir/guard.state;
    upstream app {
        server $B1;
        server $B2;
        guard_check http uri=/health interval=2s fall=1 rise=1;
    }
    server {
        listen 127.0.0.1:$Port;
        location = /guard { guard_status; }
        location /admin/ {
            guard_admin;
            guard_admin_tokens $Tokens;
        }
    }
_EOC_

# one request on a kept-alive connection: ($status, $body)
sub ka_request {
    my ($sock, $method, $path, $body) = @_;
    my $req = "$method $path HTTP/1.1\r\nHost: localhost\r\n"
              . "Authorization: Bearer test-token-adam\r\n";
    $req .= "Content-Type: application/json\r\nContent-Length: "
            . length($body) . "\r\n" if defined $body;
    $req .= "\r\n" . ($body // '');
    syswrite($sock, $req) or return (undef, "write: $!");
    my $buf = '';
    my $end = Time::HiRes::time() + 10;
    while (Time::HiRes::time() < $end) {
        if ($buf =~ /\A(.*?\r\n)\r\n/s) {
            my $head = $1;
            my ($len) = $head =~ /^Content-Length: (\d+)/mi;
            my $have = length($buf) - length($head) - 2;
            if (defined $len && $have >= $len) {
                my ($st) = $head =~ m{^HTTP/1\.1 (\d+)};
                return ($st, substr($buf, length($head) + 2, $len));
            }
        }
        my $v = '';
        vec($v, fileno($sock), 1) = 1;
        next unless select(my $r = $v, undef, undef, 0.5) > 0;
        sysread($sock, $buf, 65536, length $buf) or last;
    }
    return (undef, "no whole answer: $buf");
}

master_on();
workers(1);
no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: USR2: a server known down stays out of rotation (initial=up) until it passes "rise"
--- http_config eval
"    server {
        listen $::B1;
        location /health { return 200; }
        location / { return 200 \"b1\\n\"; }
    }
    server {
        listen $::B2;
        location /health { root $::Dir/html; try_files /b2-up =503; }
        location / { access_log $::Hits; return 200 \"b2\\n\"; }
    }
"
--- config
    location = /t { return 200 "ok\n"; }
--- init
Test::More::ok($main::Bin && -x $main::Bin, "an absolute nginx binary: $main::Bin")
    or return;
local $ENV{TEST_NGINX_BINARY} = $main::Bin;
Guard::stop_nginx($main::Lb);
File::Path::remove_tree($main::Lb);
unlink "$main::Dir/html/b2-up", "$main::Dir/guard.state";
my ($rc, $out) = Guard::nginx_run($main::Lb, $main::Lb_http);
Test::More::is($rc, 0, 'the nginx under test starts') or Test::More::diag($out);
my $old = main::lb_pid();
Test::More::ok(Guard::wait_for(sub {
    my $s = main::b2();
    $s && $s->{health} eq 'down'
        && main::slurp("$main::Dir/guard.state") =~ /^server app \Q$main::B2 $main::B2\E down /m
}, 15), 'b2 is down, and the state file says so')
    or Test::More::diag(main::slurp("$main::Dir/guard.state"));

# b2 heals just before the upgrade: the old nginx needs three passes,
# 2 s apart, to see it, long after the new master has read the file
{ open my $fh, '>', "$main::Dir/html/b2-up" or die $!; close $fh }
kill 'USR2', $old;
my $new;
Test::More::ok(Guard::wait_for(sub {
    -e "$main::Lb/nginx.pid.oldbin" && ($new = main::lb_pid()) && $new != $old
}, 15), 'USR2: a new master') or Test::More::diag(main::slurp("$main::Lb/logs/error.log"));
kill 'QUIT', $old;
# the old workers stop accepting at once; the old master is reaped slowly
my $st;
Test::More::ok(Guard::wait_for(sub {
    $st = Guard::guard_status('/guard', $main::Port) or return 0;
    my @kids = grep { /^\d+$/ } split /\s+/, `pgrep -P $new`;
    return scalar grep { $_ == $st->{pid} } @kids;
}, 10), 'the new nginx answers');
Test::More::is($st && $st->{generation}, 1, 'the new nginx: a fresh zone');
my $s = Guard::server_state($st, 'app', $main::B2) || {};
Test::More::is($s->{health}, 'down', 'b2 is down in the new nginx, as the file said');
my $h0 = main::hits();

# no request reaches b2 until it passed three checks in the new nginx
my ($sent, $early, $health) = (0, 0, 'none');
my $up = Guard::wait_for(sub {
    my $before = main::hits();
    Guard::http_get('/', $main::Port) for 1 .. 5;
    $sent += 5;
    my $after = main::hits();
    my $s = main::b2() or return 0;
    $health = $s->{health};
    return 1 if $health eq 'up';
    $early += $after - $before;
    return 0;
}, 20);
Test::More::ok($up, "b2 comes up through its checks (last seen: $health)");
Test::More::cmp_ok($sent, '>=', 10, "$sent requests sent meanwhile");
Test::More::is($early, 0, 'none of them reached b2 while it was down');
Test::More::ok(Guard::wait_for(sub {
    Guard::http_get('/', $main::Port) for 1 .. 4;
    main::hits() > $h0
}, 5), 'b2 serves once up');
my $log = main::slurp("$main::Lb/logs/error.log");
Test::More::like($log, qr/\[notice\] .*upstream guard: state file "\Q$main::Dir\E\/guard\.state": 1 server restored/,
                 'the new master restored it from the state file');
Test::More::like($log, qr/server \Q$main::B2\E \(\Q$main::B2\E\) of upstream "app" is up \(3 consecutive passes\)/,
                 'up after three passes');
Test::More::unlike($log, qr/\[(?:alert|crit|emerg)\]/, 'nothing worse than an error');
Guard::stop_nginx($main::Lb);
--- request
GET /t
--- response_body
ok
--- no_error_log
[error]



=== TEST 2: USR2: a worker of the old binary refuses admin changes (503 "upgrading"), so none is lost
A change an old worker accepted went to its own zone and to the state
file after the new nginx had read it: after the old master quit, the
running nginx showed the previous weight while the file said 13.
--- http_config eval
"    server {
        listen $::B1;
        location /health { return 200; }
        location / { return 200 \"b1\\n\"; }
    }
    server {
        listen $::B2;
        location /health { return 200; }
        location / { return 200 \"b2\\n\"; }
    }
"
--- config
    location = /t { return 200 "ok\n"; }
--- init
local $ENV{TEST_NGINX_BINARY} = $main::Bin;
Guard::stop_nginx($main::Lb);
File::Path::remove_tree($main::Lb);
unlink "$main::Dir/guard.state";
Guard::write_tokens("adam admin * {sha256:test-token-adam}\n", path => $main::Tokens);
my ($rc, $out) = Guard::nginx_run($main::Lb, $main::Admin_http);
Test::More::is($rc, 0, 'the nginx under test starts') or Test::More::diag($out);
my $old = main::lb_pid();
my $path = "/admin/upstreams/app/servers/$main::B2/weight";
Test::More::ok(Guard::wait_for(sub {
    my $s = main::b2(); $s && $s->{health} eq 'up' }, 15), 'b2 is up');

# a connection that an old worker serves, kept open through the upgrade
my $ka = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $main::Port)
    or die "connect: $@\n";
my ($st, $body) = main::ka_request($ka, 'POST', $path, '{"weight":7,"reason":"before"}');
Test::More::is($st, 200, 'before the upgrade a change is taken') or Test::More::diag($body);
Test::More::ok(Guard::wait_for(sub {
    main::slurp("$main::Dir/guard.state") =~ /^server app \Q$main::B2 $main::B2\E up active 7 /m
}, 10), 'and written to the state file')
    or Test::More::diag(main::slurp("$main::Dir/guard.state"));

kill 'USR2', $old;
my $new;
Test::More::ok(Guard::wait_for(sub {
    -e "$main::Lb/nginx.pid.oldbin" && ($new = main::lb_pid()) && $new != $old
}, 15), 'USR2: a new master') or Test::More::diag(main::slurp("$main::Lb/logs/error.log"));

($st, $body) = main::ka_request($ka, 'POST', $path, '{"weight":13,"reason":"during"}');
Test::More::is($st, 503, 'an old worker refuses a change during the upgrade')
    or Test::More::diag($body);
my $j = eval { JSON::PP->new->decode($body) } || {};
Test::More::is($j->{code}, 'upgrading', 'with the code "upgrading"') or Test::More::diag($body);
($st, $body) = main::ka_request($ka, 'GET', "/admin/upstreams/app/servers/$main::B2");
Test::More::is($st, 200, 'a read is still answered by the old worker') or Test::More::diag($body);
close $ka;

# the old nginx stops; the new one is the only one
kill 'WINCH', $old;
kill 'QUIT', $old;
Test::More::ok(Guard::wait_for(sub { !kill 0, $old }, 15), 'the old master is gone');
my $s = Guard::server_state(Guard::guard_status('/guard', $main::Port), 'app', $main::B2) || {};
Test::More::is($s->{admin_weight}, 7, 'the running nginx has the weight from before the upgrade');
Test::More::like(main::slurp("$main::Dir/guard.state"),
                 qr/^server app \Q$main::B2 $main::B2\E up active 7 /m,
                 'and so has the state file: the refused 13 is nowhere');
my ($ast, $aj) = Guard::admin('POST', $path, 'test-token-adam', '{"weight":13,"reason":"after"}',
                              port => $main::Port);
Test::More::is($ast, 200, 'after the upgrade the change is taken') or Test::More::diag($Guard::BODY);
$s = Guard::server_state(Guard::guard_status('/guard', $main::Port), 'app', $main::B2) || {};
Test::More::is($s->{admin_weight}, 13, 'and shown');
my $log = main::slurp("$main::Lb/logs/error.log");
Test::More::unlike($log, qr/\[(?:alert|crit|emerg)\]/, 'nothing worse than an error');
Guard::stop_nginx($main::Lb);
--- request
GET /t
--- response_body
ok
--- no_error_log
[error]
