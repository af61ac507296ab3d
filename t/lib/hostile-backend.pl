#!/usr/bin/perl
# hostile-backend.pl - a deterministic misbehaving TCP server for health-check tests.
#
#   perl t/lib/hostile-backend.pl --port N --mode MODE [--lifetime SECONDS]
#        [--pidfile F] [--log F] [--host 127.0.0.1] [--max 64] [--foreground]
#
# Listens on --host:--port (default host 127.0.0.1) and daemonizes: the command
# returns once the socket listens (and the pid file, if any, is written), so a
# caller may connect right away. The daemon is a session and process-group
# leader (kill -TERM -PID stops it and its connection children) and ALWAYS exits
# by itself after --lifetime seconds (default 60, fractions allowed), taking its
# connection children with it; it removes its pid file then. One process is
# forked per connection, at most --max (64) at a time; further connections wait
# in the listen queue. With --log F, one line per accepted connection is
# appended to F: "<epoch.ms> <peer-ip>:<peer-port> <mode>".
#
# Modes (the HTTP-ish modes first wait up to 1 s for the request head, so a
# plain TCP connect check gets the same treatment):
#   silent      accept, read and discard, never answer, keep the connection open
#   drip        a valid HTTP/1.1 200 JSON response, one byte per second
#   bigheaders  "HTTP/1.1 200 OK\r\n", 1 MiB of "X-Big-NNNNNN: aaa..." header
#               lines, then "Content-Length: 0\r\n\r\n", sent as fast as possible
#   endless     "HTTP/1.1 200 OK" (Content-Type: application/json, no
#               Content-Length), body '{"status": "up"}\n' then "xxx...\n" lines
#               forever, as fast as the peer reads; ends when the peer closes
#   stream      "HTTP/1.1 200 OK", chunked, the head at once, then a chunk
#               of 16 bytes every 200 ms until the peer closes (a page
#               streamed, an event stream): the head is whole, the body
#               never ends
#   garbage     4096 deterministic pseudo-random bytes (fixed seed; never starts
#               with "H" or a TLS record byte), then close
#   reset       "HTTP/1.1 20" (half a status line), 200 ms later close with RST
#   tlsgarbage  wait (up to 5 s) for the client's first bytes (a TLS
#               ClientHello), answer "NOT TLS\r\n" + 256 garbage bytes, close
#   noaccept    listen with backlog 1, never accept; the queue is filled at
#               start-up by the server itself, so a client's connect() hangs
#               (its SYN is dropped) until the client's own timeout
#   ok          HTTP/1.0 200 OK, Content-Type: application/json, body
#               {"status": "up"} (16 bytes, Content-Length set), close
#   status:NNN  the same as ok with status NNN (no body for 1xx, 204, 304)
#   close       accept and close at once (FIN, no bytes written; whatever the
#               client sends is drained so it gets no RST)
#   mysql       a MySQL protocol-10 server greeting, then close
#   mysql-error a MySQL error packet ("Too many connections"), then close
#   ajp         answers an AJP13 CPING with CPONG
#   ajp-bad     answers an AJP13 CPING with something else
#   fastcgi:NNN answers a FastCGI request with "Status: NNN" in STDOUT
#   fastcgi:location  the same with "Location: /login" and no Status
#   fastcgi:none      the same with neither Status nor Location
#   slow:MS     waits MS milliseconds, then answers as ok
#   chunkbomb   "HTTP/1.1 200 OK", chunked, a chunk size of ffffffffffffffff
#               and a few bytes of it, then close
#   fastcgi-big answers a FastCGI request with one STDOUT record of
#               20 KiB: "Status: 200 OK", a Content-Type, a 20000-byte body
#   fastcgi-stderr  answers a FastCGI request with a STDERR record of 9000
#               bytes, then STDOUT "Status: 200 OK" and a 2-byte body
#   fastcgi-drip  answers a FastCGI request with a STDOUT record of 6000
#               bytes announced, sent one byte per millisecond
#   tlsbadlen   answers a ClientHello with a TLS handshake record header
#               announcing 65535 bytes (over the 16 KiB limit), then close
#   kaclose     HTTP/1.1 keep-alive: answers the first request of a
#               connection as ok (Content-Length, no Connection: close),
#               then reads the next request and closes without a byte
# HEAD requests get no body in ok and status:NNN.
#
# Core Perl only. Exit status: 0 when the server runs, 2 on a usage error,
# 1 when it cannot listen.
use strict;
use warnings;
use Getopt::Long qw(GetOptions);
use IO::Socket::INET;
use Socket qw(SOL_SOCKET SO_LINGER);
use POSIX qw(WNOHANG);
use File::Spec;
use Time::HiRes qw(time sleep);

my %o = (host => '127.0.0.1', lifetime => 60, max => 64);
GetOptions(\%o, 'port=i', 'mode=s', 'lifetime=f', 'pidfile=s', 'log=s',
           'host=s', 'max=i', 'foreground') or usage();
usage() unless $o{port} && $o{mode} && $o{lifetime} > 0;

my $JSON = '{"status": "up"}';
my %REASON = (200 => 'OK', 201 => 'Created', 204 => 'No Content',
              301 => 'Moved Permanently', 302 => 'Found', 304 => 'Not Modified',
              400 => 'Bad Request', 403 => 'Forbidden', 404 => 'Not Found',
              429 => 'Too Many Requests', 500 => 'Internal Server Error',
              502 => 'Bad Gateway', 503 => 'Service Unavailable',
              504 => 'Gateway Timeout');

my %MODES = (
    silent => \&m_silent, drip => \&m_drip, bigheaders => \&m_bigheaders,
    endless => \&m_endless, stream => \&m_stream, garbage => \&m_garbage,
    reset => \&m_reset,
    tlsgarbage => \&m_tlsgarbage, noaccept => undef, ok => sub { m_status($_[0], 200) },
    close => \&close_gracefully,
    mysql => \&m_mysql, 'mysql-error' => \&m_mysql_error,
    ajp => \&m_ajp, 'ajp-bad' => \&m_ajp_bad,
    chunkbomb => \&m_chunkbomb, 'fastcgi-drip' => \&m_fastcgi_drip,
    'fastcgi-big' => \&m_fastcgi_big, 'fastcgi-stderr' => \&m_fastcgi_stderr,
    kaclose => \&m_kaclose, tlsbadlen => \&m_tlsbadlen,
);
my ($mode, $handler) = ($o{mode});
if ($mode =~ /^status:(\d{3})$/) {
    my $code = $1;
    $handler = sub { m_status($_[0], $code) };
} elsif ($mode =~ /^slow:(\d+)$/) {
    my $ms = $1;
    $handler = sub { select(undef, undef, undef, $ms / 1000); m_status($_[0], 200) };
} elsif ($mode =~ /^fastcgi:(\d{3}|location|none)$/) {
    my $code = $1;
    $handler = sub { m_fastcgi($_[0], $code) };
} elsif (exists $MODES{$mode}) {
    $handler = $MODES{$mode};
} else {
    usage("unknown mode '$mode'");
}

my $DEADLINE = time + $o{lifetime};
$SIG{PIPE} = 'IGNORE';
$o{$_} = File::Spec->rel2abs($o{$_}) for grep { defined $o{$_} } qw(pidfile log);

my $ls = IO::Socket::INET->new(
    LocalAddr => $o{host}, LocalPort => $o{port}, Proto => 'tcp',
    Listen => ($mode eq 'noaccept' ? 1 : 128), ReuseAddr => 1,
) or do { print STDERR "hostile-backend: cannot listen on $o{host}:$o{port}: $@\n"; exit 1 };

my @hold = $mode eq 'noaccept' ? fill_backlog() : ();

daemonize() unless $o{foreground};
Time::HiRes::alarm($o{lifetime} + 2);    # backstop: default SIGALRM kills us

my $logfh;
if (defined $o{log}) {
    open $logfh, '>>', $o{log} or die "hostile-backend: $o{log}: $!\n";
}

my %kids;
while ((my $left = $DEADLINE - time) > 0) {
    while ((my $k = waitpid(-1, WNOHANG)) > 0) { delete $kids{$k} }
    if ($mode eq 'noaccept' || keys %kids >= $o{max}) {
        sleep(min(0.1, $left));
        next;
    }
    my $rin = '';
    vec($rin, fileno($ls), 1) = 1;
    next unless select(my $rout = $rin, undef, undef, min(0.5, $left)) > 0;
    my $c = $ls->accept or next;
    if ($logfh) {
        syswrite $logfh, sprintf("%.3f %s:%d %s\n", time, $c->peerhost // '?',
                                 $c->peerport // 0, $mode);
    }
    my $pid = fork;
    if (!defined $pid) { close $c; next }
    if ($pid == 0) {
        close $ls;
        close $logfh if $logfh;
        my $rest = $DEADLINE - time;
        POSIX::_exit(0) if $rest <= 0;
        Time::HiRes::alarm($rest + 0.2);    # connection children die with us
        $handler->($c);
        close $c;
        POSIX::_exit(0);
    }
    $kids{$pid} = 1;
    close $c;
}
kill 'KILL', keys %kids if %kids;
if (defined $o{pidfile} && open my $pf, '<', $o{pidfile}) {
    my $p = <$pf> // '';
    close $pf;
    unlink $o{pidfile} if $p =~ /^(\d+)/ && $1 == $$;
}
exit 0;

# ---------------------------------------------------------------- helpers

sub usage {
    print STDERR "hostile-backend: $_[0]\n" if @_;
    print STDERR "usage: $0 --port N --mode MODE [--lifetime SECONDS] [--pidfile F]"
        . " [--log F] [--host ADDR] [--max N] [--foreground]\n"
        . "modes: silent drip bigheaders endless garbage reset tlsgarbage noaccept"
        . " ok status:NNN close mysql mysql-error ajp ajp-bad fastcgi:NNN|location|none slow:MS"
        . " chunkbomb fastcgi-drip fastcgi-big fastcgi-stderr kaclose tlsbadlen
";
    exit 2;
}

sub min { $_[0] < $_[1] ? $_[0] : $_[1] }

# Fork; the child becomes a session leader with stdio on /dev/null, writes the
# pid file, then closes a pipe: the parent exits when it sees EOF on it.
sub daemonize {
    pipe(my $r, my $w) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if ($pid) {
        close $w;
        my $buf;
        sysread($r, $buf, 1);    # EOF once the daemon is ready
        POSIX::_exit(0);
    }
    close $r;
    POSIX::setsid();
    if (defined $o{pidfile}) {
        open my $pf, '>', "$o{pidfile}.$$" or die "hostile-backend: $o{pidfile}: $!\n";
        print $pf "$$\n";
        close $pf;
        rename "$o{pidfile}.$$", $o{pidfile} or die "hostile-backend: $o{pidfile}: $!\n";
    }
    chdir '/';
    open STDIN, '<', '/dev/null';
    open STDOUT, '>', '/dev/null';
    open STDERR, '>', '/dev/null';
    close $w;
}

# noaccept: connect to ourselves until the accept queue is full (Linux keeps
# backlog+1 connections), so later SYNs are dropped.
sub fill_backlog {
    my @socks;
    for (1 .. 8) {
        my $s = IO::Socket::INET->new(Proto => 'tcp', Blocking => 0,
                                      PeerAddr => $o{host}, PeerPort => $o{port}) or last;
        my $win = '';
        vec($win, fileno($s), 1) = 1;
        my $done = select(undef, my $wout = $win, undef, 0.2) > 0 && $s->connected;
        last unless $done;
        push @socks, $s;
    }
    return @socks;
}

sub time_left { $DEADLINE - time }

# Wait until $fh is readable (or writable when $write), at most $secs and never
# past the deadline.
sub wait_io {
    my ($fh, $secs, $write) = @_;
    my $t = min($secs, time_left());
    return 0 if $t <= 0;
    my $v = '';
    vec($v, fileno($fh), 1) = 1;
    my $n = $write ? select(undef, my $o = $v, undef, $t) : select(my $i = $v, undef, undef, $t);
    return $n > 0;
}

# Read what the client sends up to the end of a request head, EOF, or $secs.
sub read_request {
    my ($c, $secs) = @_;
    my ($buf, $end) = ('', time + $secs);
    while ($buf !~ /\r?\n\r?\n/ && (my $t = $end - time) > 0) {
        last unless wait_io($c, $t);
        my $n = sysread($c, $buf, 16384, length $buf);
        last unless $n;
    }
    return $buf;
}

# Write all of $data, waiting for a slow reader as long as the lifetime allows;
# false when the peer went away or the deadline passed.
sub send_all {
    my ($c, $data) = @_;
    my $off = 0;
    while ($off < length $data) {
        return 0 unless wait_io($c, time_left(), 1);    # a stalled reader: wait
        my $n = syswrite($c, $data, length($data) - $off, $off);
        return 0 unless $n;
        $off += $n;
    }
    return 1;
}

# Close without a RST: shut our side, drain the peer (max 1 s), close.
sub close_gracefully {
    my ($c) = @_;
    shutdown($c, 1);
    my $end = time + 1;
    while ((my $t = $end - time) > 0) {
        last unless wait_io($c, $t);
        my $n = sysread($c, my $junk, 16384);
        last unless $n;
    }
    close $c;
}

# Deterministic pseudo-random bytes (an LCG with a fixed seed).
sub garbage_bytes {
    my ($len, $seed) = @_;
    my $x = $seed;
    my $out = '';
    for (1 .. $len) {
        $x = ($x * 1103515245 + 12345) % 2147483648;
        $out .= chr(($x >> 16) & 0xff);
    }
    substr($out, 0, 1) = "\xff";    # not "H" (HTTP) nor 0x14-0x17 (TLS record)
    return $out;
}

# ---------------------------------------------------------------- modes

sub m_silent {
    my ($c) = @_;
    while (time_left() > 0) {
        next unless wait_io($c, 1);
        my $n = sysread($c, my $junk, 16384);
        last unless $n;    # the peer closed
    }
}

sub m_drip {
    my ($c) = @_;
    read_request($c, 1);
    my $resp = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
             . "Content-Length: " . length($JSON) . "\r\nConnection: close\r\n\r\n$JSON";
    for my $ch (split //, $resp) {
        return unless send_all($c, $ch);
        sleep(min(1, time_left()));
        return if time_left() <= 0;
    }
    close_gracefully($c);
}

sub m_bigheaders {
    my ($c) = @_;
    read_request($c, 1);
    return unless send_all($c, "HTTP/1.1 200 OK\r\n");
    my ($sent, $i, $chunk) = (0, 0, '');
    while ($sent < 1024 * 1024) {
        my $line = sprintf("X-Big-%06d: %s\r\n", $i++, 'a' x 100);
        $chunk .= $line;
        $sent += length $line;
        if (length $chunk >= 65536) {
            return unless send_all($c, $chunk);
            $chunk = '';
        }
    }
    return unless send_all($c, $chunk . "Content-Length: 0\r\nConnection: close\r\n\r\n");
    close_gracefully($c);
}

sub m_endless {
    my ($c) = @_;
    read_request($c, 1);
    return unless send_all($c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             . "Connection: close\r\n\r\n$JSON\n");
    my $block = (('x' x 1023) . "\n") x 16;
    while (send_all($c, $block)) { }
}

sub m_stream {
    my ($c) = @_;
    read_request($c, 1);
    return unless send_all($c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                             . "Transfer-Encoding: chunked\r\n\r\n");
    while (send_all($c, "10\r\n" . ('s' x 15) . "\n\r\n")) {
        sleep(min(0.2, time_left()));
        return if time_left() <= 0;
    }
}

sub m_garbage {
    my ($c) = @_;
    read_request($c, 1);
    send_all($c, garbage_bytes(4096, 42));
    close_gracefully($c);
}

sub m_reset {
    my ($c) = @_;
    read_request($c, 1);
    send_all($c, "HTTP/1.1 20");
    sleep 0.2;
    setsockopt($c, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
    close $c;
}

sub m_tlsgarbage {
    my ($c) = @_;
    if (wait_io($c, 5)) {
        sysread($c, my $hello, 16384);
    }
    send_all($c, "NOT TLS\r\n" . garbage_bytes(256, 7));
    close_gracefully($c);
}

sub m_status {
    my ($c, $code) = @_;
    my $req = read_request($c, 2);
    my $reason = $REASON{$code} // 'Status';
    my $nobody = $code < 200 || $code == 204 || $code == 304;
    my $resp = "HTTP/1.0 $code $reason\r\nServer: hostile-backend\r\n";
    $resp .= "Content-Type: application/json\r\nContent-Length: " . length($JSON) . "\r\n"
        unless $nobody;
    $resp .= "Connection: close\r\n\r\n";
    $resp .= $JSON unless $nobody || $req =~ /^HEAD /;
    send_all($c, $resp);
    close_gracefully($c);
}

# ------------------------------------------------- protocols of the check
# vocabulary of nginx_upstream_check_module: mysql, ajp, fastcgi

# A MySQL server speaks first: a protocol-10 greeting (or an error packet).
sub m_mysql {
    my ($c) = @_;
    my $payload = "\x0a5.7.0-hostile\x00" . pack('V', 42) . "abcdefgh\x00"
        . "\xff\xf7\x21\x02\x00\x0f\x80\x15" . ("\x00" x 10) . "ijklmnopqrst\x00";
    send_all($c, substr(pack('V', length $payload), 0, 3) . "\x00" . $payload);
    close_gracefully($c);
}

sub m_mysql_error {
    my ($c) = @_;
    my $payload = "\xff\x10\x04Too many connections";
    send_all($c, substr(pack('V', length $payload), 0, 3) . "\x00" . $payload);
    close_gracefully($c);
}

# AJP13: CPING (12 34 00 01 0a) gets CPONG (41 42 00 01 09).
sub m_ajp {
    my ($c) = @_;
    if (wait_io($c, 2)) {
        sysread($c, my $ping, 16);
    }
    send_all($c, "AB\x00\x01\x09");
    close_gracefully($c);
}

sub m_ajp_bad {
    my ($c) = @_;
    if (wait_io($c, 2)) {
        sysread($c, my $ping, 16);
    }
    send_all($c, "AB\x00\x01\x05");
    close_gracefully($c);
}

# FastCGI: read the request's records up to the empty STDIN, answer with a
# STDOUT record carrying "Status: NNN" headers ("Location: /login" instead
# for "location", neither for "none"), then END_REQUEST.
# reads a FastCGI request up to its empty STDIN record (2 s at most)
sub read_fastcgi {
    my ($c) = @_;
    my ($buf, $end) = ('', time + 2);
    while ($buf !~ /\x01\x05\x00\x01\x00\x00\x00\x00/ && (my $t = $end - time) > 0) {
        last unless wait_io($c, $t);
        my $n = sysread($c, $buf, 16384, length $buf);
        last unless $n;
    }
}

# a FastCGI record of request 1, padded to 8 bytes as libfcgi does
sub fcgi_rec {
    my ($type, $data) = @_;
    my $pad = (8 - length($data) % 8) % 8;
    return pack('CCnnCC', 1, $type, 1, length $data, $pad, 0) . $data
           . ("\0" x $pad);
}

sub fcgi_end { fcgi_rec(6, '') . fcgi_rec(3, "\0" x 8) }

sub m_fastcgi_big {
    my ($c) = @_;
    read_fastcgi($c);
    send_all($c, fcgi_rec(6, "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n"
                             . ('x' x 20000)) . fcgi_end());
    close_gracefully($c);
}

sub m_fastcgi_stderr {
    my ($c) = @_;
    read_fastcgi($c);
    send_all($c, fcgi_rec(7, 'E' x 9000)
                 . fcgi_rec(6, "Status: 200 OK\r\n\r\nok") . fcgi_end());
    close_gracefully($c);
}

sub m_fastcgi {
    my ($c, $code) = @_;
    read_fastcgi($c);
    my $head = $code eq 'none' ? '' : $code eq 'location' ? "Location: /login\r\n"
             : "Status: $code Whatever\r\n";
    my $out = "${head}Content-Type: text/plain\r\n\r\nok\n";
    my $rec = sub { my ($type, $data) = @_;
        pack('CCnnCC', 1, $type, 1, length $data, 0, 0) . $data };
    send_all($c, $rec->(6, $out) . $rec->(6, '')
                 . $rec->(3, "\x00\x00\x00\x00\x00\x00\x00\x00"));
    close_gracefully($c);
}


sub m_chunkbomb {
    my ($c) = @_;
    read_request($c, 2);
    send_all($c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                 . "Connection: close\r\n\r\nffffffffffffffff\r\n"
                 . '{"status": "up"}');
    close_gracefully($c);
}

sub m_fastcgi_drip {
    my ($c) = @_;
    my ($buf, $end) = ('', time + 2);
    while ($buf !~ /\x01\x05\x00\x01\x00\x00\x00\x00/ && (my $t = $end - time) > 0) {
        last unless wait_io($c, $t);
        my $n = sysread($c, $buf, 16384, length $buf);
        last unless $n;
    }
    my $out = "Status: 200 OK\r\nX-Drip: " . ('a' x 6000);
    return unless send_all($c, pack('CCnnCC', 1, 6, 1, 6000, 0, 0));
    for my $ch (split //, substr($out, 0, 6000)) {
        return unless send_all($c, $ch);
        sleep(0.001);
        return if time_left() <= 0;
    }
    close_gracefully($c);
}

sub m_kaclose {
    my ($c) = @_;
    my $req = read_request($c, 2);
    return unless length $req;
    send_all($c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 . "Content-Length: " . length($JSON) . "\r\n\r\n$JSON");
    # the next request on this connection gets nothing but a FIN
    while (time_left() > 0) {
        next unless wait_io($c, 1);
        my $n = sysread($c, my $junk, 16384);
        last unless $n;
        last if $junk =~ /\r?\n\r?\n/;
    }
    close $c;
}

sub m_tlsbadlen {
    my ($c) = @_;
    if (wait_io($c, 5)) {
        sysread($c, my $hello, 16384);
    }
    send_all($c, "\x16\x03\x03\xff\xff" . garbage_bytes(64, 9));
    close_gracefully($c);
}
