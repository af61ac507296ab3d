# The guard zone is sized from the configuration: an explicit
# guard_shm_size that cannot hold the servers is refused at nginx -t,
# the slots of removed servers are freed at a reload, and a server that
# the zone has no room for at run time is reported as "untracked".
use lib 't/lib';
use Guard;

use Test::Nginx::Socket 'no_plan';
use File::Temp ();

# $n servers on addresses 127.0.$net.1.. (nothing listens there: every
# check fails at once, which is all these tests need)
sub servers {
    my ($net, $n) = @_;
    my $port = $ENV{TEST_NGINX_B1};
    return join '', map { "        server 127.0.$net.$_:$port;\n" } 1 .. $n;
}

sub servroot { $ENV{TEST_NGINX_SERVROOT} || "$ENV{TEST_NGINX_PWD}/t/servroot" }

sub slurp {
    my ($file) = @_;
    open my $fh, '<', $file or die "$file: $!\n";
    local $/;
    return scalar <$fh>;
}

sub spew {
    my ($file, $text) = @_;
    open my $fh, '>', $file or die "$file: $!\n";
    print $fh $text;
    close $fh or die "$file: $!\n";
}

# the size that nginx -t asks for when guard_shm_size is too small for
# the given upstream block: the smallest explicit size it accepts
sub needed_size {
    my ($upstream) = @_;
    my $dir = File::Temp::tempdir(CLEANUP => 1);
    my ($rc, $out) = Guard::nginx_run($dir,
                                      "    guard_shm_size 32k;\n$upstream", '-t');
    $out =~ /need at least (\d+)/ or die "probe: no size in: $out\n";
    return $1;
}

# the master's child processes: pid => command line
sub children {
    my ($master) = @_;
    my %p;
    for my $dir (glob '/proc/[0-9]*') {
        open my $st, '<', "$dir/stat" or next;
        my $stat = <$st> // '';
        my ($ppid) = $stat =~ /\)\s+\S+\s+(\d+)/ or next;
        next unless $ppid == $master;
        open my $cf, '<', "$dir/cmdline" or next;
        local $/;
        my ($pid) = $dir =~ m{(\d+)$};
        $p{$pid} = <$cf> // '';
    }
    return \%p;
}

# rewrites nginx.conf with $edit applied, reloads and waits until only
# workers of the new configuration take requests; returns the status of
# one of them.  The generation in the zone moves in the master's
# init_module, before the new workers start; the old workers go on
# accepting until the master tells them to shut down, about 100 ms
# later (ngx_master_process_cycle()), and their report shows their own
# configuration's servers.
sub reload_with {
    my ($edit) = @_;
    my $conf = servroot() . '/conf/nginx.conf';
    my $text = slurp($conf);
    $edit->() for $text;
    my $before = Guard::guard_status()
        or die "no status before the reload: $Guard::ERROR\n";
    spew($conf, $text);
    my $master = slurp(servroot() . '/logs/nginx.pid');
    chomp $master;
    my $old = children($master);
    kill 'HUP', $master or die "cannot signal master $master\n";
    my ($s, $seen) = (undef, 'no status');
    Guard::wait_for(sub {
        my $now = children($master);
        my @accepting = grep { exists $now->{$_}
                               && $now->{$_} !~ /shutting down/ }
                        sort keys %$old;
        $s = Guard::guard_status()
            or do { $seen = $Guard::ERROR // 'no status'; return 0 };
        $seen = "generation $s->{generation} from pid $s->{pid}, old "
                . "workers still accepting: @accepting";
        return $s->{generation} > $before->{generation}
               && !@accepting && !exists $old->{$s->{pid}};
    }, 15) or die "no reload after generation $before->{generation}: "
                  . "$seen\n";
    return $s;
}

# every server of upstream app on 127.0.$net.* checked at least once,
# and none untracked; fails the test with what it saw otherwise
sub all_checked {
    my ($net, $n, $what) = @_;
    my $seen = '';
    my $ok = Guard::wait_for(sub {
        my $s = Guard::guard_status() or return 0;
        my $up = Guard::upstream_state($s, 'app') or return 0;
        my @new = grep { $_->{address} =~ /^127\.0\.$net\./ }
                  @{ $up->{servers} };
        my @done = grep { $_->{checks} > 0 && $_->{state} ne 'untracked' }
                   @new;
        $seen = sprintf "%d of %d servers checked, states %s",
                        scalar @done, scalar @new,
                        join ',', sort keys %{{ map { $_->{state} => 1 }
                                                @new }};
        return @new == $n && @done == $n;
    }, 15);
    Test::More::ok($ok, "$what: every new server is checked")
        or Test::More::diag($seen);
    return $ok;
}

master_on();
workers(1);
no_shuffle();
no_root_location();
run_tests();

__DATA__

=== TEST 1: an explicit guard_shm_size too small for the servers is refused
--- http_config eval
"    guard_shm_size 32k;
    upstream app {
" . main::servers(1, 152) . "
        guard_check tcp interval=1s;
    }"
--- config
--- must_die
--- error_log eval
qr/guard_shm_size 32768 is too small: 152 guarded servers need at least \d+ \(room for two configurations during a reload\); raise it, or remove it to size the zone automatically, in \S+nginx\.conf:\d+/



=== TEST 2: the default zone holds them, and every one is checked
--- http_config eval
"    upstream app {
" . main::servers(1, 152) . "
        guard_check tcp interval=1s;
    }"
--- config
    location = /guard { guard_status; }
--- init
main::all_checked(1, 152, "152 servers");
--- request
GET /guard
--- response_body_like: "zone_size":\d+
--- no_error_log
is full



=== TEST 3: reloads that replace every server keep checking the new ones
The removed servers' slots are freed: 208k holds about two sets of 30
without that.
--- http_config eval
"    guard_shm_size 208k;
    upstream app {
" . main::servers(10, 30) . "
        guard_check tcp interval=200ms;
    }"
--- config
    location = /guard { guard_status; }
--- init
main::all_checked(10, 30, "start");
for my $round (1 .. 10) {
    my $net = 10 + $round;
    main::reload_with(sub { s/127\.0\.\d+\.(\d+):/127.0.$net.$1:/g });
    main::all_checked($net, 30, "reload $round") or last;
    Guard::wait_for(sub { Guard::old_workers() == 0 }, 15)
        or die "old workers still run after reload $round\n";
}
--- request
GET /guard
--- response_body_like: "address":"127\.0\.20\.30:
--- no_error_log
is full



=== TEST 4: a server the zone has no room for is reported untracked
A request held on an old worker keeps its servers' slots; the zone is as
small as nginx -t allows, two sets of servers, so a third set at a second
reload does not fit.  Once that worker is gone, a reload tracks all again.
--- http_config eval
"    guard_shm_size "
. main::needed_size("    upstream app {\n" . main::servers(20, 150)
                    . "        guard_check tcp interval=1s;\n    }\n")
. ";
    upstream app {
" . main::servers(20, 150) . "
        guard_check tcp interval=1s;
    }
    upstream hang {
        server 127.0.0.1:$ENV{TEST_NGINX_B4};
    }"
--- config
    location = /guard { guard_status; }
    location = /metrics { guard_status prometheus; }
    location = /cs { check_status json; }
    location = /hang {
        proxy_pass http://hang;
        proxy_read_timeout 60s;
    }
--- init
Guard::start_hostile('silent', $ENV{TEST_NGINX_B4}, lifetime => 90,
                     log => 1);
main::all_checked(20, 150, "start");
my $hang = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                 PeerPort => $ENV{TEST_NGINX_SERVER_PORT})
    or die "cannot connect: $!\n";
print $hang "GET /hang HTTP/1.0\r\nHost: localhost\r\n\r\n";
Guard::wait_for(sub { Guard::hostile_log_count($ENV{TEST_NGINX_B4}) > 0 },
                10) or die "the held request never reached the backend\n";
main::reload_with(sub { s/127\.0\.20\.(\d+):/127.0.21.$1:/g });
main::all_checked(21, 150, "first reload");
Test::More::ok(Guard::old_workers() >= 1, "the held request keeps a worker");
my $s = main::reload_with(sub { s/127\.0\.21\.(\d+):/127.0.22.$1:/g });
my $up = Guard::upstream_state($s, 'app');
Test::More::is(scalar(grep { $_->{address} =~ /^127\.0\.22\./ }
                      @{ $up->{servers} }), 150,
               "the report is of the third set");
my @untracked = grep { $_->{state} eq 'untracked' } @{ $up->{servers} };
Test::More::ok(@untracked > 0, "the third set does not fit: "
                               . scalar(@untracked) . " untracked");
Test::More::ok(!grep({ $_->{health} ne 'untracked' } @untracked),
               "their health says so too");
my ($code, $body) = Guard::http_get('/metrics');
my $n = scalar @untracked;
Test::More::like($body // '',
                 qr/^nginx_upstream_guard_upstream_state_servers\{upstream="app",state="untracked"\} $n$/m,
                 "prometheus counts the untracked servers");
Test::More::like($body // '',
                 qr/\A(?!.*server="127\.0\.21\.).*server="127\.0\.22\./s,
                 "prometheus is of the third set");
($code, $body) = Guard::http_get('/metrics?detail=1');
Test::More::like($body // '', qr/state="untracked"\} 1$/m,
                 "prometheus detail shows each untracked server");
Test::More::like($body // '',
                 qr/\A(?!.*address="127\.0\.21\.).*address="127\.0\.22\./s,
                 "prometheus detail is of the third set");
($code, $body) = Guard::http_get('/cs');
Test::More::like($body // '', qr/"status": "untracked"/,
                 "check_status shows them untracked, not up");
($code, $body) = Guard::http_get('/cs?status=up');
Test::More::unlike($body // '', qr/"status": "untracked"/,
                   "and not among the servers that are up");
close $hang;
Guard::stop_hostile($ENV{TEST_NGINX_B4});
Guard::wait_for(sub { Guard::old_workers() == 0 }, 15)
    or die "old workers still run after the held request ended\n";
main::reload_with(sub { s/127\.0\.22\.(\d+):/127.0.23.$1:/g });
main::all_checked(23, 150, "after the old worker left");
--- request
GET /guard
--- response_body_like eval
qr/^(?!.*"(?:state|health)":"untracked").*"address":"127\.0\.23\.150:/s
--- error_log eval
qr/upstream guard: zone "upstream_guard" is full, \d+ of 150 servers of upstream "app" are not checked and reported as untracked, the first "127\.0\.22\.\d+:\d+"/



=== TEST 5: a default zone that old workers fill is replaced, never full
Each reload leaves a worker behind with a held request; when the running
zone has no free pages for the new servers, the reload takes a zone of
twice the size and copies the state of the configured servers into it.
--- http_config eval
"    upstream app {
" . main::servers(30, 150) . "
        guard_check tcp interval=1s;
    }
    upstream hang {
        server 127.0.0.1:$ENV{TEST_NGINX_B4};
    }"
--- config
    location = /guard { guard_status; }
    location = /hang {
        proxy_pass http://hang;
        proxy_read_timeout 60s;
    }
--- init
Guard::start_hostile('silent', $ENV{TEST_NGINX_B4}, lifetime => 120,
                     log => 1);
main::all_checked(30, 150, "start");
my $size = Guard::guard_status()->{zone_size};
my @held;
for my $round (1 .. 7) {
    my $hang = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => $ENV{TEST_NGINX_SERVER_PORT})
        or die "cannot connect: $!\n";
    print $hang "GET /hang HTTP/1.0\r\nHost: localhost\r\n\r\n";
    push @held, $hang;
    Guard::wait_for(sub {
        Guard::hostile_log_count($ENV{TEST_NGINX_B4}) >= $round }, 10)
        or die "held request $round never reached the backend\n";
    my ($net, $p) = (30 + $round, $ENV{TEST_NGINX_B1});
    main::reload_with(sub { s/127\.0\.\d+\.(\d+):$p;/127.0.$net.$1:$p;/g });
    main::all_checked($net, 150, "reload $round") or last;
}
my $s = Guard::guard_status();
Test::More::cmp_ok($s->{zone_size}, '>', $size, "the zone grew from $size");
close $_ for @held;
Guard::stop_hostile($ENV{TEST_NGINX_B4});
--- request
GET /guard
--- response_body_like eval
qr/^(?!.*"(?:state|health)":"untracked").*"address":"127\.0\.37\.150:/s
--- error_log eval
qr/upstream guard: zone resized from \d+ to \d+, state kept/
--- no_error_log
is full



=== TEST 6: a guard_shm_size below nginx's floor is told the size the servers need, at once
It said "at least 32768" (8 pages), and 32768 was then refused: the
servers needed far more.  One message, the larger of the two.
--- http_config eval
"    guard_shm_size 16k;
    upstream app {
" . main::servers(1, 101) . "
        guard_check tcp interval=1s;
    }"
--- config
--- must_die
--- error_log eval
qr/guard_shm_size 16384 is too small: 101 guarded servers need at least (?!32768 )\d{6,} \(room for two configurations during a reload\); raise it, or remove it to size the zone automatically, in \S+nginx\.conf:\d+/
--- no_error_log
at least 32768



=== TEST 7: one server: what it needs, said in the singular
--- http_config
    guard_shm_size 16k;
    upstream app {
        server 127.0.0.1:$TEST_NGINX_B1;
        guard_check tcp interval=1s;
    }
--- config
--- must_die
--- error_log eval
qr/guard_shm_size 16384 is too small: 1 guarded server needs at least \d+ \(room for two configurations during a reload\); raise it, or remove it to size the zone automatically, in \S+nginx\.conf:\d+/



=== TEST 8: no guarded upstream: nginx's floor for a zone, with the directive's place
--- http_config
    guard_shm_size 16k;
--- config
--- must_die
--- error_log eval
qr/guard_shm_size 16384 is too small, at least 32768 in \S+nginx\.conf:\d+/
