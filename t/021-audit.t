# The audit log (issue 12): guard_audit_log and guard_audit_key refused
# at nginx -t when the key is short, missing or readable by others; the
# line the master writes at each start and reload (principal "reload"),
# chained by HMAC-SHA256; scripts/guard-audit-verify on an intact chain,
# an edited line, a deleted line, a swapped pair, a truncated tail against
# the head, the first lines deleted (a failure, --head or not, unless
# --from anchors the chain), an empty log, a set rotated with "nginx -s
# reopen" and its older file removed (--from); the chain going on from
# the file's last line after a restart; a full disk (/dev/full): one
# alert, the line not written; the copy sent to syslog; a torn last line
# cut off at a start and a reload.
use lib 't/lib';
use Guard;
use Test::Nginx::Socket 'no_plan';
use File::Copy ();
use IO::Socket::INET;
use Time::HiRes ();
use Time::Local ();

# the key and the logs, outside the server root the runner wipes
our $Dir = "/tmp/guard-audit-" . Guard::_server_port();
mkdir $Dir, 0700;
unlink glob "$Dir/*";

sub write_file {
    my ($path, $text, $mode) = @_;
    open my $fh, '>', $path or die "$path: $!\n";
    print $fh $text;
    close $fh or die "$path: $!\n";
    chmod $mode, $path or die "chmod $path: $!\n";
}

our $Key = "$Dir/key";
write_file($Key, "test-audit-key-0123456789abcdef0123456789\n", 0600);
write_file("$Dir/short", "test-audit-key\n", 0600);
write_file("$Dir/open", "test-audit-key-0123456789abcdef0123456789\n", 0644);

our $Verify = "$ENV{TEST_NGINX_PWD}/scripts/guard-audit-verify";

our $Http = <<"_EOC_";
    upstream app {
        server 127.0.0.1:$ENV{TEST_NGINX_B1};
        guard_check tcp interval=100ms;
    }
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_B1};
        location / { return 200; }
    }
_EOC_

our $Config = <<'_EOC_';
    location = /guard { guard_status; }
_EOC_

# verify(@args) -> (exit code, output) of guard-audit-verify
sub verify {
    my $out = `$Verify @_ 2>&1`;
    return ($? >> 8, $out);
}

# lines($file) -> the file's lines
sub lines {
    open my $fh, '<', $_[0] or return ();
    return <$fh>;
}

# tampered($name, @lines) -> a copy of the log with these lines
sub tampered {
    my ($name, @l) = @_;
    my $f = "$Dir/$name";
    write_file($f, join('', @l), 0600);
    return $f;
}

# count($re) -> lines of the error log that match
sub count {
    my ($re) = @_;
    my $root = $ENV{TEST_NGINX_SERVROOT} || "$ENV{TEST_NGINX_PWD}/t/servroot";
    return scalar grep { /$re/ } lines("$root/logs/error.log");
}

no_shuffle();
no_root_location();
master_on();
run_tests();

__DATA__

=== TEST 1: a key shorter than 32 bytes is refused
--- http_config eval
$::Http . "guard_audit_log $::Dir/t1.log; guard_audit_key $::Dir/short;"
--- config eval: $::Config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_audit_key "\/\S+\/short": the key is 14 bytes long, at least 32 are needed .* in \S+nginx\.conf:\d+/


=== TEST 2: a key readable by other users is refused
--- http_config eval
$::Http . "guard_audit_log $::Dir/t2.log; guard_audit_key $::Dir/open;"
--- config eval: $::Config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_audit_key "\/\S+\/open": the file is readable by other users \(mode 0644\); make it 0600 or 0640 with nginx's group in \S+nginx\.conf:\d+/


=== TEST 3: a missing key file is refused
--- http_config eval
$::Http . "guard_audit_log $::Dir/t3.log; guard_audit_key $::Dir/missing;"
--- config eval: $::Config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_audit_key "\/\S+\/missing": the file cannot be opened \(2: No such file or directory\)/


=== TEST 4: guard_audit_log without guard_audit_key is refused, where it is written
--- http_config eval
$::Http . "guard_audit_log $::Dir/t4.log;"
--- config eval: $::Config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_audit_log "\/\S+\/t4\.log" needs guard_audit_key: .*, in \S+nginx\.conf:\d+$/m


=== TEST 5: guard_audit_key without guard_audit_log is refused, where it is written
--- http_config eval
$::Http . "guard_audit_key $::Key;"
--- config eval: $::Config
--- must_die
--- error_log eval
qr/\[emerg\] .*guard_audit_key is set but guard_audit_log is not: .*, in \S+nginx\.conf:\d+$/m


=== TEST 6: a second parameter that is not a syslog target, a duplicate
--- http_config eval
$::Http . "guard_audit_log $::Dir/t6.log stderr; guard_audit_key $::Key;"
--- config eval: $::Config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "stderr": a copy goes to "syslog:server=\.\.\."/


=== TEST 7: a duplicate is refused
--- http_config eval
$::Http . "guard_audit_log $::Dir/t7.log; guard_audit_log $::Dir/t7.log;"
--- config eval: $::Config
--- must_die
--- error_log eval
qr/\[emerg\] .*"guard_audit_log" directive is duplicate/


=== TEST 8: start and 3 reloads: 4 chained lines, the verifier finds tampering
--- http_config eval
$::Http . "guard_audit_log $::Dir/chain.log; guard_audit_key $::Key;"
--- config eval: $::Config
--- init
my $log = "$::Dir/chain.log";
Guard::reload() for 1 .. 3;
my @l = ::lines($log);
Test::More::is(scalar @l, 4, '4 lines: the start and 3 reloads');
Test::More::is((stat $log)[2] & 07777, 0600, 'the log was created 0600');
my @j = map { JSON::PP->new->decode($_) } @l;
Test::More::is(join(',', map { $_->{seq} } @j), '1,2,3,4', 'seq 1 to 4');
Test::More::is($j[0]{prev}, '0' x 64, 'the first prev is zeros');
Test::More::is(join(',', map { $_->{prev} } @j[1 .. 3]),
               join(',', map { $_->{mac} } @j[0 .. 2]),
               'each prev is the mac of the line before');
Test::More::is(join(',', map { "$_->{principal} $_->{op} $_->{result}" } @j[0, 3]),
               'reload reload applied,reload reload applied',
               'principal, op, result');
Test::More::like($j[3]{detail}, qr/^generation \d+$/, 'detail: the generation');
Test::More::like($j[3]{time}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'time');
my $now = Time::HiRes::time() * 1000;
Test::More::ok($j[3]{ms} =~ /^\d+$/ && $j[3]{ms} <= $now + 1
               && $j[3]{ms} > $now - 60000,
               "ms since the epoch, within the last minute ($j[3]{ms}, now $now)");
my ($Y, $M, $D, $h, $m, $s, $f) = $j[3]{time} =~
    /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)\.(\d+)Z$/;
Test::More::is(Time::Local::timegm($s, $m, $h, $D, $M - 1, $Y) * 1000 + $f,
               $j[3]{ms}, 'time and ms say the same instant');
Test::More::ok(!defined $j[0]{client} && !defined $j[0]{request},
               'empty fields are null');
# the mac: HMAC-SHA256 over the text before ,"mac":
require Digest::SHA;
(my $signed = $l[2]) =~ s/,"mac":"[0-9a-f]{64}"\}\n\z//;
Test::More::is(Digest::SHA::hmac_sha256_hex($signed, "test-audit-key-0123456789abcdef0123456789"),
               $j[2]{mac}, 'mac = HMAC-SHA256(key without its newline, text before ,"mac":)');

my ($rc, $out) = ::verify($log, '--key', $::Key);
Test::More::is($rc, 0, 'intact: exit 0');
Test::More::like($out, qr/^OK: 4 lines, last seq 4, mac $j[3]{mac}$/m, "intact: $out");

my $head = "4:$j[3]{mac}";
($rc, $out) = ::verify($log, '--key', $::Key, '--head', $head);
Test::More::is("$rc $out", "0 OK: 4 lines, last seq 4, mac $j[3]{mac}\n",
               'the head is reached');

(my $edited = $l[1]) =~ s/"generation (\d)/"generation 9/;
($rc, $out) = ::verify(::tampered('edited.log', $l[0], $edited, @l[2, 3]),
                       '--key', $::Key);
Test::More::is($rc, 1, 'edited: exit 1');
Test::More::like($out, qr/^FAIL: \S+edited\.log:2: bad mac: the line \(seq 2\) was edited/,
                 "edited: $out");

($rc, $out) = ::verify(::tampered('deleted.log', @l[0, 1, 3]), '--key', $::Key);
Test::More::is($rc, 1, 'deleted: exit 1');
Test::More::like($out, qr/^FAIL: \S+deleted\.log:3: seq gap: seq 3 missing after seq 2: lines deleted/,
                 "deleted: $out");

($rc, $out) = ::verify(::tampered('swapped.log', @l[0, 2, 1, 3]), '--key', $::Key);
Test::More::is($rc, 1, 'swapped: exit 1');
Test::More::like($out, qr/^FAIL: \S+swapped\.log:2: seq 3 follows 1, but seq 2 comes later \(\S+swapped\.log:3\): lines reordered/,
                 "swapped: $out");

($rc, $out) = ::verify(::tampered('back.log', @l[0, 1, 2, 1]), '--key', $::Key);
Test::More::like("$rc $out", qr/^1 FAIL: \S+back\.log:4: seq goes back from 3 to 2/,
                 "a line repeated: $out");

my $forged = $l[3] =~ s/"prev":"[0-9a-f]{64}"/'"prev":"' . ('0' x 64) . '"'/er;
($rc, $out) = ::verify(::tampered('forged.log', @l[0 .. 2], $forged), '--key', $::Key);
Test::More::like("$rc $out", qr/^1 FAIL: \S+forged\.log:4: bad mac/,
                 "a prev changed: $out");

($rc, $out) = ::verify(::tampered('cut.log', @l[0 .. 2]), '--key', $::Key, '--head', $head);
Test::More::is($rc, 1, 'truncated: exit 1');
Test::More::like($out, qr/^FAIL: truncated: the log ends at seq 3 but the head is seq 4$/m,
                 "truncated: $out");
($rc, $out) = ::verify(::tampered('cut.log', @l[0 .. 2]), '--key', $::Key);
Test::More::is($rc, 0, 'truncated, without the head: the rest verifies');

($rc, $out) = ::verify(::tampered('torn.log', @l[0 .. 2], substr($l[3], 0, 40)),
                       '--key', $::Key);
Test::More::like("$rc $out", qr/^1 FAIL: \S+torn\.log:4: truncated last line/,
                 "a torn last line: $out");

($rc, $out) = ::verify(::tampered('junk.log', @l[0 .. 1], "hello\n", @l[2, 3]),
                       '--key', $::Key);
Test::More::like("$rc $out", qr/^1 FAIL: \S+junk\.log:3: not an audit line/,
                 "an inserted line: $out");

::write_file("$::Dir/other-key", "test-audit-key-another-one-0123456789abcdef\n", 0600);
($rc, $out) = ::verify($log, '--key', "$::Dir/other-key");
Test::More::like("$rc $out", qr/^1 FAIL: \S+chain\.log:1: bad mac/, 'another key');

# the first lines deleted: a chain that does not start at seq 1 is broken,
# --head or not, unless --from anchors it where the older lines ended
my $tail = ::tampered('tail.log', @l[1 .. 3]);
($rc, $out) = ::verify($tail, '--key', $::Key);
Test::More::is($rc, 1, 'the first line deleted: exit 1');
Test::More::like($out, qr/^FAIL: \S+tail\.log:1: the chain starts at seq 2, not 1: seq 1 missing: lines deleted, or older files not given .*--from 1:MAC with the mac of seq 1 from a record you trust/,
                 "the first line deleted: $out");
($rc, $out) = ::verify($tail, '--key', $::Key, '--head', $head);
Test::More::like("$rc $out", qr/^1 FAIL: \S+tail\.log:1: the chain starts at seq 2, not 1/,
                 'the first line deleted, with the head: exit 1');
($rc, $out) = ::verify(::tampered('tail2.log', @l[2 .. 3]), '--key', $::Key, '--head', $head);
Test::More::like("$rc $out", qr/^1 FAIL: \S+tail2\.log:1: the chain starts at seq 3, not 1: seq 1-2 missing/,
                 'two deleted: seq 1-2 missing');
($rc, $out) = ::verify($tail, '--key', $::Key, '--from', "1:$j[0]{mac}", '--head', $head);
Test::More::is($rc, 0, '--from the mac of seq 1: exit 0') or Test::More::diag($out);
Test::More::like($out, qr/^note: the chain is taken to go on from seq 1, mac $j[0]{mac} \(--from\): the lines up to it are not verified here\nOK: 3 lines, last seq 4, mac $j[3]{mac}$/m,
                 "--from: said, and verified: $out");
($rc, $out) = ::verify($tail, '--key', $::Key, '--from', "1:$j[1]{mac}");
Test::More::like("$rc $out", qr/^1 FAIL: \S+tail\.log:1: prev mismatch: seq 2 is not chained to seq 1, mac $j[1]{mac} \(--from\): a wrong anchor/,
                 "--from with another mac: $out");
($rc, $out) = ::verify(::tampered('tail3.log', @l[2 .. 3]), '--key', $::Key, '--from', "1:$j[0]{mac}");
Test::More::like("$rc $out", qr/^1 FAIL: \S+tail3\.log:1: the chain starts at seq 3, not 2: seq 2 missing after the --from anchor/,
                 "--from, and the line after it deleted: $out");
($rc, $out) = ::verify($log, '--key', $::Key, '--from', "1:$j[0]{mac}");
Test::More::like("$rc $out", qr/^1 FAIL: \S+chain\.log:1: the first line is seq 1, at or before seq 1, the --from anchor/,
                 "--from past the first line: $out");
($rc, $out) = ::verify($log, '--key', $::Key, '--from', 'x');
Test::More::is($rc, 2, 'a bad --from: exit 2');

# an empty log proves nothing: a failure, unless --from says where it is
my $empty = ::tampered('empty.log');
($rc, $out) = ::verify($empty, '--key', $::Key);
Test::More::like("$rc $out", qr/^1 FAIL: empty: no audit line in \S+empty\.log: nothing to verify/,
                 "an empty log: $out");
($rc, $out) = ::verify($empty, '--key', $::Key, '--head', $head);
Test::More::like("$rc $out", qr/^1 FAIL: empty: /, 'an empty log, with the head');
($rc, $out) = ::verify($empty, '--key', $::Key, '--from', $head, '--head', $head);
Test::More::like("$rc $out", qr/^0 note: .*\nOK: 0 lines, last seq 4, mac $j[3]{mac} \(no line after the --from anchor\)$/s,
                 "an empty log after the anchor that is the head: $out");
($rc, $out) = ::verify($empty, '--key', $::Key, '--from', "3:$j[2]{mac}", '--head', $head);
Test::More::like("$rc $out", qr/^1 FAIL: truncated: the log ends at seq 3 but the head is seq 4/,
                 'an empty log behind the head: truncated');

($rc, $out) = ::verify("$::Dir/no-such.log", '--key', $::Key);
Test::More::is($rc, 2, 'an unreadable file: exit 2');
($rc, $out) = ::verify($log, '--key', "$::Dir/no-such-key");
Test::More::is($rc, 2, 'an unreadable key: exit 2');
($rc, $out) = ::verify($log);
Test::More::is($rc, 2, 'no key: exit 2');
($rc, $out) = ::verify($log, '--key', $::Key, '--head', 'x');
Test::More::is($rc, 2, 'a bad --head: exit 2');
($rc, $out) = ::verify('--help');
Test::More::like("$rc $out", qr/^0 .*Exit codes:/s, '--help documents the exit codes');
--- request
GET /guard
--- error_code: 200
--- no_error_log
[error]
[alert]


=== TEST 9: a restart without the zone: the chain goes on from the file
--- http_config eval
$::Http . "guard_audit_log $::Dir/chain.log; guard_audit_key $::Key;"
--- config eval: $::Config
--- init
my @l = ::lines("$::Dir/chain.log");
Test::More::is(scalar @l, 5, 'a 5th line for this start');
my @j = map { JSON::PP->new->decode($_) } @l[3, 4];
Test::More::is("$j[1]{seq} $j[1]{prev}", "5 $j[0]{mac}",
               'seq 5, chained to the last line of the earlier run');
my ($rc, $out) = ::verify("$::Dir/chain.log", '--key', $::Key);
Test::More::like("$rc $out", qr/^0 OK: 5 lines, last seq 5/, "verified: $out");
--- request
GET /guard
--- error_code: 200
--- error_log eval
qr/\[notice\] .*upstream guard: the audit chain goes on from the last line of "\S+chain\.log", seq 4/
--- no_error_log
[error]
[alert]


=== TEST 10: nginx -s reopen: the new file goes on where the old one ends
--- http_config eval
$::Http . "guard_audit_log $::Dir/rot.log; guard_audit_key $::Key;"
--- config eval: $::Config
--- init
my $log = "$::Dir/rot.log";
Guard::reload();
rename $log, "$log.1" or die "rename: $!";
kill 'USR1', Guard::master_pid();
Test::More::ok(Guard::wait_for(sub { -e $log }, 10), 'reopen created the new file');
Test::More::is((stat $log)[2] & 07777, 0600, 'and created it 0600');
Guard::reload();
Guard::reload();
my @old = ::lines("$log.1");
my @new = ::lines($log);
Test::More::is(scalar(@old) . ' ' . scalar(@new), '2 2', '2 lines in each file');
my ($last, $first) = map { JSON::PP->new->decode($_) } $old[-1], $new[0];
Test::More::is("$first->{seq} $first->{prev}", "3 $last->{mac}",
               'the first line of the new file names the last mac of the old');
my ($rc, $out) = ::verify("$log.1", $log, '--key', $::Key);
Test::More::like("$rc $out", qr/^0 OK: 4 lines, last seq 4/, "old, new: $out");
($rc, $out) = ::verify($log, "$log.1", '--key', $::Key);
Test::More::like("$rc $out", qr/^1 FAIL: \S+rot\.log:1: the chain starts at seq 3, not 1: seq 1-2 missing here, but seq 1 comes later \(\S+rot\.log\.1:1\): files given out of order\? \(oldest first\)/,
                 "new, old: $out");
# the old file removed on purpose: the new one alone, from the OK line of
# the old one's verification
($rc, $out) = ::verify("$log.1", '--key', $::Key);
my ($seq, $mac) = $out =~ /^OK: 2 lines, last seq (\d+), mac ([0-9a-f]{64})$/m;
Test::More::ok($seq, "the old file alone: $out");
($rc, $out) = ::verify($log, '--key', $::Key);
Test::More::like("$rc $out", qr/^1 FAIL: \S+rot\.log:1: the chain starts at seq 3, not 1/,
                 "the new file alone: $out");
($rc, $out) = ::verify($log, '--key', $::Key, '--from', "$seq:$mac");
Test::More::like("$rc $out", qr/\nOK: 2 lines, last seq 4/, "the new file --from the old one's OK line: $out");
--- request
GET /guard
--- error_code: 200
--- no_error_log
[error]
[alert]


=== TEST 11: a full disk: the line is not written, one alert, the reload goes on
--- http_config eval
$::Http . "guard_audit_log /dev/full; guard_audit_key $::Key;"
--- config eval: $::Config
--- init
Guard::reload();
Guard::reload();
Test::More::is(::count(qr/\[alert\] .*upstream guard: audit log "\/dev\/full": write\(\) failed, line 1 \(reload\) is not recorded; admin changes are refused while lines cannot be written \(28: No space left on device\)/),
               1, 'one alert for 3 failed lines');
Test::More::is(::count(qr/\[warn\] .*upstream guard: the reload to generation \d+ is not in the audit log "\/dev\/full"/),
               3, 'each failed line returns NGX_ERROR: the start and 2 reloads');
--- request
GET /guard
--- error_code: 200
--- no_error_log
[error]


=== TEST 12: a copy goes to syslog, the same line
--- http_config eval
$::Http . "guard_audit_log $::Dir/syslog.log syslog:server=127.0.0.1:$ENV{TEST_NGINX_B9},tag=guard_audit; guard_audit_key $::Key;"
--- config eval: $::Config
--- init
my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1:$ENV{TEST_NGINX_B9}",
                              Proto => 'udp') or die "udp: $!";
# the start's datagram found no listener, so the next send may fail
Guard::reload();
Guard::reload();
my @l = ::lines("$::Dir/syslog.log");
my $got = '';
my $end = time + 5;
while (time < $end) {
    my $v = '';
    vec($v, fileno($s), 1) = 1;
    last unless select(my $r = $v, undef, undef, 1) > 0;
    $s->recv(my $d, 65536);
    $got .= "$d\n";
}
chomp(my $last = $l[-1]);
Test::More::like($got, qr/^<\d+>\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ guard_audit: \Q$last\E$/m,
                 'the last line, as written, with a syslog header');
--- request
GET /guard
--- error_code: 200
--- no_error_log
[error]
[alert]



=== TEST 13: a torn last line (a write cut short by a crash) is cut off at a start and at a reload: the next line is whole, the chain verifies
--- http_config eval
# before nginx starts: the log ends in the first bytes of a line, no "\n"
::write_file("$::Dir/crash.log", '{"seq":1,"time":"2026-12-', 0600);
$::Http . "guard_audit_log $::Dir/crash.log; guard_audit_key $::Key;"
--- config eval: $::Config
--- init
my $log = "$::Dir/crash.log";
my ($rc, $out) = ::verify($log, '--key', $::Key);
Test::More::like("$rc $out", qr/^0 OK: 1 lines, last seq 1/, "after the start: $out");
open my $fh, '>>', $log or die "$log: $!\n";
print $fh '{"seq":2,"time":"2026-12-07T01:02:03.456Z","ms":17966';
close $fh;
Guard::reload();
($rc, $out) = ::verify($log, '--key', $::Key);
Test::More::like("$rc $out", qr/^0 OK: 2 lines, last seq 2/, "after a reload: $out");
my @l = ::lines($log);
Test::More::is(scalar(grep { !/\n\z/ || !/^\{"seq":\d+,.*"mac":"[0-9a-f]{64}"\}$/ } @l),
               0, 'every line whole');
Test::More::is(::count(qr/\[warn\] .*upstream guard: audit log "\S+crash\.log" ended in a torn line \((25|53) bytes without a newline, a write cut short\): cut off, so that the next line is whole/),
               2, 'said at the start and at the reload');
--- request
GET /guard
--- error_code: 200
--- no_error_log
[error]
[alert]
