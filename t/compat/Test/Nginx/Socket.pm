package Test::Nginx::Socket;

# Compatibility runner for Test::Nginx::Socket test files (see
# t/compat/Test/Nginx/Util.pm).  Like the CPAN module it is a Test::Base
# subclass: the block format, filters (eval, chomp, ...), ONLY/SKIP/LAST and
# plan handling ('no_plan', tests => N, skip_all => ...) are Test::Base's.
# Only the sections this project needs are implemented; an unsupported one
# is reported instead of being silently ignored.
#
# Note: Test::Base -Base filters this file like Spiffy does: a "sub name {"
# gets "my $self = shift;", so plain functions are written "sub name () {".

use v5.10.1;
use Test::Base -Base;

our $VERSION = '0.29';

use POSIX qw(:sys_wait_h EAGAIN);
use Time::HiRes qw(sleep time);
use Test::LongString;
use List::Util qw(min);
use IO::Socket::INET ();
use IO::Select ();
use HTTP::Response ();

use Test::Nginx::Util;

our @EXPORT = qw( env_to_nginx is_str plan run_tests run_test
  repeat_each config_preamble worker_connections
  master_process_enabled
  no_long_string workers master_on master_off
  log_level no_shuffle no_root_location use_hup
  server_name
  server_addr server_root html_dir server_port server_port_for_client
  timeout no_nginx_manager check_accum_error_log
  add_block_preprocessor bail_out add_cleanup_handler
  add_response_body_check
);

our @ResponseBodyChecks;
our $TotalConnectingTimeouts = 0;

$RunTestHelper = \&run_test_helper;
$CheckErrorLog = \&check_error_log;

my @Unsupported = qw(pipelined_requests http2 http3 stap tcp_listen
                     udp_listen response_body_filters shutdown_error_log
                     no_shutdown_error_log curl todo skip_nginx2
                     skip_openssl request_eval response_body_eval);

sub add_response_body_check () {
    push @ResponseBodyChecks, shift;
}

sub run_test () {
    Test::Nginx::Util::run_test(@_);
}

# ---------------------------------------------------------------- requests

sub parse_more_headers () {
    my $in = shift;
    my ($out, $is_chunked) = ('', 0);
    for my $header (split /\n+/, $in) {
        next if $header =~ /^\s*#/;
        my ($key, $val) = split /:\s*/, $header, 2;
        $val //= '';
        $is_chunked = 1
            if lc($key) eq 'transfer-encoding' && $val eq 'chunked';
        $out .= "$key: $val\r\n";
    }
    return ($out, $is_chunked);
}

# "METH [URI [VERSION]]\nbody" plus --- more_headers -> a raw HTTP request
# with Host, Connection and (for a body) Content-Length added.
sub build_request () {
    my ($name, $more_headers, $conn, $req) = @_;
    my ($hdrs, $is_chunked) = parse_more_headers($more_headers);

    bail_out("$name - Request line should be non-empty")
        if !defined $req || $req eq '';
    my ($first, $body) = split /\n/, $req, 2;
    $first =~ /^\s*(\S+) *(?:(\S+) *)?(?:(\S+) *)?\s*$/
        or bail_out("$name - Request line is not valid. Should be "
                    . "'meth [url [version]]' but got \"$first\".");
    my ($meth, $url, $ver) = ($1, $2 // '/', $3 // 'HTTP/1.1');
    $body //= '';

    my $len = '';
    if (!$is_chunked && $body ne ''
        && $hdrs !~ /(?:^|\n)Content-Length:/)
    {
        $body =~ s/^\s+|\s+$//gs;
        $len = 'Content-Length: ' . length($body) . "\r\n";
    }

    my $extra = '';
    $extra .= "Host: $ServerName\r\n" if $hdrs !~ /(?:^|\n)Host:/msi;
    $extra .= "Connection: $conn\r\n" if $hdrs !~ /(?:^|\n)Connection/msi;
    return "$meth $url $ver\r\n$extra$hdrs$len\r\n$body";
}

# Returns a list of requests, each a list of {value, delay_before} pieces
# written one after the other on one connection.
sub get_req_from_block () {
    my $block = shift;
    my $name = $block->name;

    if (defined(my $raw = $block->raw_request)) {
        my @parts = ref $raw eq 'ARRAY' ? @$raw : ($raw);
        return [[map { ref $_ ? $_ : { value => $_ } } @parts]];
    }

    my $request = $block->request;
    if (defined $request && !ref $request) {
        # leading comment lines and blank space are not part of the request
        1 while $request =~ s/^\s*\#[^\n]+\s+|^\s+//gs;
    }
    my $more_headers = $block->more_headers // '';

    my @reqs = ref $request eq 'ARRAY' ? @$request : ($request);
    bail_out("$name - invalid --- request: MUST be string or array of "
             . "requests") if ref $request && ref $request ne 'ARRAY';
    my @list;
    for my $i (0 .. $#reqs) {
        my $hdr = $more_headers;
        if (ref $more_headers eq 'ARRAY') {
            $hdr = $more_headers->[$i]
                // bail_out("--- more_headers lacks data for the ${i}th "
                            . "request");
        }
        bail_out("$name - request given as packets is not supported by the "
                 . "compat runner (use --- raw_request)") if ref $reqs[$i];
        push @list, [{ value => build_request($name, $hdr, 'close',
                                              $reqs[$i]) }];
    }
    return \@list;
}

# True once the nginx started for this block has exited; the first call
# that notices says how it ended and shows the end of error.log.
sub nginx_gone () {
    return 1 if $Test::Nginx::Util::NginxGone;
    my $pid = $Test::Nginx::Util::NginxPid;
    return 0 unless defined $pid && waitpid($pid, WNOHANG) == $pid;
    my $status = $?;
    undef $Test::Nginx::Util::NginxPid;
    $Test::Nginx::Util::NginxGone = 1;
    my $how = ($status & 127) ? 'killed by signal ' . ($status & 127)
                              : 'exit code ' . ($status >> 8);
    warn "WARNING: the nginx process $pid is already gone ($how); the end "
         . "of error.log:\n",
         `tail -n20 '$Test::Nginx::Util::ErrLogFile' 2>&1`;
    return 1;
}

sub connect_server () {
    my ($block, $timeout) = @_;
    my $name = $block->name;
    my $addr = $block->server_addr_for_client // $ServerAddr;
    my $err;
    for my $tries (1 .. ($TotalConnectingTimeouts ? 20 : 50)) {
        my $sock = IO::Socket::INET->new(PeerAddr => $addr,
                                         PeerPort => $ServerPortForClient,
                                         Proto => 'tcp', Timeout => $timeout);
        return $sock if $sock;
        $err = $!;
        if (nginx_gone()) {
            Test::More->builder->no_ending(1);
            fail("$name - Can't connect to $addr:$ServerPortForClient: "
                 . "$err (aborted)\n");
            return undef;
        }
        my $wait = min(1, (sleep_time() + sleep_time() * $tries) * $tries / 2);
        warn "$name - Can't connect to $addr:$ServerPortForClient: $err\n"
             . "\tRetry connecting after $wait sec\n" if $wait >= 0.6;
        sleep $wait;
    }
    my $msg = "$name - Can't connect to $addr:$ServerPortForClient: $err "
              . "(aborted)\n";
    bail_out($msg) if ++$TotalConnectingTimeouts >= 3;
    Test::More->builder->no_ending(1);
    fail($msg);
    return undef;
}

# Sends one request and reads until the server closes the connection.
# $timeout bounds each wait for the socket, not the whole exchange.
sub send_request () {
    my ($parts, $middle_delay, $timeout, $block) = @_;
    my $name = $block->name;
    my $head_req = (join '', map { $_->{value} } @$parts) =~ /^\s*HEAD\s+/;

    my $sock = connect_server($block, $timeout) or return (undef, $head_req);
    $sock->blocking(0);
    local $SIG{PIPE} = 'IGNORE';
    my $sel = IO::Select->new($sock);
    my ($resp, $timed_out) = ('', 0);

    WRITE: for my $i (0 .. $#$parts) {
        my $part = $parts->[$i];
        my $delay = $part->{delay_before} // ($i ? $middle_delay : undef);
        sleep $delay if $i && $delay;
        my ($buf, $off) = ($part->{value}, 0);
        while ($off < length $buf) {
            if (!$sel->can_write($timeout)) {
                $timed_out = 1;
                last WRITE;
            }
            my $n = syswrite $sock, $buf, length($buf) - $off, $off;
            if (!defined $n) {
                next if $! == EAGAIN;
                warn "write failed: $!\n";
                last WRITE;
            }
            $off += $n;
        }
    }
    if (!$timed_out && defined(my $how = $block->shutdown)) {
        shutdown $sock, ($how =~ /^\s*$/ ? 1 : $how);
    }

    while (!$timed_out) {
        if (!$sel->can_read($timeout)) {
            $timed_out = 1;
            last;
        }
        my $n = sysread $sock, my $buf, 4096;
        if (!defined $n) {
            next if $! == EAGAIN;
            warn "WARNING: $name - HTTP response read failure: $!\n";
            last;
        }
        last if $n == 0;
        $resp .= $buf;
    }
    close $sock;

    if ($timed_out) {
        if (defined $block->abort) {
            sleep 0.005;
        } else {
            Test::More->builder->no_ending(1);
            fail("ERROR: client socket timed out - $name\n");
        }
    }
    return ($resp, $head_req);
}

sub parse_response () {
    my ($name, $raw_resp, $head_req) = @_;
    my ($left, $raw_headers) = (undef, '');
    $raw_headers = $1 if $raw_resp =~ /(.*?\r\n)\r\n/s;

    my $res = HTTP::Response->parse($raw_resp);
    my $code = $res->code;
    if (defined $code && $code !~ /^\d+$/) {
        $res->code(undef);
        $code = undef;
    }
    return ($res, $raw_headers) if $code && ($code == 304 || $code == 101);

    my $enc = $res->header('Transfer-Encoding');
    my $len = $res->header('Content-Length');
    if (defined $enc && $enc eq 'chunked') {
        my $raw = $res->content // '';
        my $decoded = '';
        while (1) {
            if ($raw =~ /\G0[ \t]*\r\n\r\n/gc) {
                $left = substr $raw, pos $raw;
                last;
            }
            if ($raw =~ /\G[ \t]*([A-Fa-f0-9]+)[ \t]*\r\n/gc) {
                my ($size, $p) = (hex $1, pos $raw);
                if (length $raw < $p + $size + 2
                    || substr($raw, $p + $size, 2) ne "\r\n")
                {
                    Test::More->builder->no_ending(1);
                    fail("$name - invalid chunked data received");
                    return;
                }
                $decoded .= substr $raw, $p, $size;
                pos($raw) = $p + $size + 2;
            } else {
                Test::More->builder->no_ending(1);
                fail("$name - invalid chunked body received: "
                     . substr($raw, pos($raw) // 0, 80));
                return;
            }
        }
        $res->content($decoded);
    } elsif (defined $len && $len =~ /^\d+$/) {
        my $raw = $res->content;
        if (length $raw < $len) {
            warn "WARNING: $name - response body truncated: $len expected, "
                 . "but got ", length $raw, "\n" unless $head_req;
        } elsif (length $raw > $len) {
            $left = substr $raw, $len;
            $res->content(substr $raw, 0, $len);
        }
    }
    return ($res, $raw_headers, $left);
}

# ---------------------------------------------------------------- checks

sub get_indexed_value () {
    my ($name, $value, $req_idx, $need_array) = @_;
    if ($need_array) {
        return $value->[$req_idx] if ref $value eq 'ARRAY';
        bail_out("$name - You asked for many requests, the expected results "
                 . "should be arrays as well.");
    }
    return ref $value eq 'ARRAY' ? $value->[0] : $value;
}

sub check_error_code () {
    my ($block, $res, $req_idx, $need_array) = @_;
    my $name = $block->name;
    my $got = ($res && $res->code) || '';
    if (defined $block->error_code_like) {
        my $val = get_indexed_value($name, $block->error_code_like,
                                    $req_idx, $need_array);
        like($got, qr/$val/sm, "$name - status code ok");
    } elsif (defined $block->error_code) {
        is($got, get_indexed_value($name, $block->error_code, $req_idx,
                                   $need_array), "$name - status code ok");
    } else {
        is($got, 200, "$name - status code ok");
    }
}

sub check_response_headers () {
    my ($block, $res, $raw_headers, $req_idx, $need_array) = @_;
    my $name = $block->name;

    if (defined(my $pat = $block->raw_response_headers_like)) {
        $pat = get_indexed_value($name, $pat, $req_idx, $need_array);
        like($raw_headers, qr/$pat/s, "$name - raw resp headers like");
    }
    if (defined(my $pat = $block->raw_response_headers_unlike)) {
        $pat = get_indexed_value($name, $pat, $req_idx, $need_array);
        unlike($raw_headers, qr/$pat/s, "$name - raw resp headers unlike");
    }

    if (defined $block->response_headers) {
        my $headers = parse_headers(get_indexed_value(
            $name, $block->response_headers, $req_idx, $need_array));
        for my $key (sort keys %$headers) {
            my $val = $headers->{$key};
            if (!defined $val) {
                unlike($raw_headers, qr/^\s*\Q$key\E\s*:/ms,
                       "$name - header $key not present in the raw headers");
                next;
            }
            $val =~ s/\$ServerPort\b/$ServerPort/g;
            $val =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
            my $actual = ($res ? $res->header($key) : undef) // '';
            is($actual, $val, "$name - header $key ok");
        }
    } elsif (defined $block->response_headers_like) {
        my $headers = parse_headers(get_indexed_value(
            $name, $block->response_headers_like, $req_idx, $need_array));
        for my $key (sort keys %$headers) {
            my $val = $headers->{$key};
            my $actual = ($res ? $res->header($key) : undef) // '';
            like($actual, qr/^$val$/, "$name - header $key like ok");
        }
    }
}

sub check_response_body () {
    my ($block, $res, $req_idx, $repeated_req_idx, $need_array) = @_;
    my $name = $block->name;
    my $content = $res ? $res->content : undef;

    if (defined $block->response_body) {
        my $expected = get_indexed_value($name, $block->response_body,
                                         $req_idx, $need_array);
        if (defined $expected && !ref $expected) {
            $expected =~ s/\$ServerPort\b/$ServerPort/g;
            $expected =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
        }
        my $desc = "$name - response_body - response is expected "
                   . "(repeated req $repeated_req_idx, req $req_idx)";
        if (ref $expected) {
            like($content, $expected, "$name - response_body - like "
                 . "(repeated req $repeated_req_idx, req $req_idx)");
        } elsif ($Test::Nginx::Util::NoLongString) {
            is($content, $expected, $desc);
        } else {
            is_string($content, $expected, $desc);
        }
    } elsif (defined $block->response_body_like
             || defined $block->response_body_unlike)
    {
        my $like = defined $block->response_body_like;
        my $type = $like ? 'like' : 'unlike';
        my $pat = get_indexed_value($name,
            $like ? $block->response_body_like : $block->response_body_unlike,
            $req_idx, $need_array);
        $pat =~ s/\$ServerPort\b/$ServerPort/g unless ref $pat;
        my $summary = trim($content) // '';
        my $desc = "$name - response_body_$type - response is expected "
                   . "($summary)";
        $like ? like($content, qr/$pat/s, $desc)
              : unlike($content, qr/$pat/s, $desc);
    }

    for my $check (@ResponseBodyChecks) {
        $check->($block, $content, $req_idx, $repeated_req_idx, 0);
    }
}

sub fmt_str () {
    my $str = shift;
    chomp $str;
    $str =~ s/"/\\"/g;
    $str =~ s/\r/\\r/g;
    $str =~ s/\n/\\n/g;
    return $str;
}

sub pattern_list () {
    my $pats = shift;
    if (!ref $pats) {
        chomp $pats;
        return [split /\n+/, $pats];
    }
    return [$pats] if ref $pats eq 'Regexp';
    return [@$pats];
}

sub line_matches () {
    my ($line, $pat) = @_;
    return ref $pat ? $line =~ $pat : index($line, $pat) >= 0;
}

# --- error_log / access_log: every pattern must match some line.
# --- no_error_log / no_access_log: no pattern may match any line.
sub check_log_patterns () {
    my ($name, $file, $pats, $lines, $want, $idx) = @_;
    $pats = pattern_list($pats);
    if ($want) {
        for my $pat (@$pats) {
            next unless defined $pat;
            if (grep { line_matches($_, $pat) } @$lines) {
                pass("$name - pattern \"$pat\" matches a line in $file "
                     . "(req $idx)");
            } else {
                fail("$name - pattern \"$pat\" should match a line in $file "
                     . "(req $idx)");
            }
        }
        return;
    }
    for my $pat (@$pats) {
        next unless defined $pat;
        my @hits = grep { line_matches($_, $pat) } @$lines;
        if (!@hits) {
            pass("$name - pattern \"" . fmt_str($pat) . "\" does not match "
                 . "a line in $file (req $idx)");
            next;
        }
        Test::More->builder->no_ending(1) if @hits > 1;
        fail("$name - pattern \"" . fmt_str($pat) . "\" should not match "
             . "any line in $file but matches line \"" . fmt_str($_)
             . "\" (req $idx)") for @hits;
    }
}

sub value_contains () {
    my ($val, $str) = @_;
    return 0 unless defined $val;
    return scalar grep { !ref($_) || ref($_) eq 'Regexp' ? /\Q$str\E/ : 0 }
                       (ref $val eq 'ARRAY' ? @$val : ($val));
}

sub check_error_log () {
    my ($block, $res, $dry_run, $repeated_req_idx, $need_array) = @_;
    my $name = $block->name;
    my $lines;

    my $grep_pat = $block->grep_error_log;
    if (defined $grep_pat) {
        $grep_pat = $grep_pat->[$repeated_req_idx] if ref $grep_pat eq 'ARRAY';
        my $expected = $block->grep_error_log_out;
        bail_out("$name - No --- grep_error_log_out defined but --- "
                 . "grep_error_log is defined") unless defined $expected;
        $expected = $expected->[$repeated_req_idx] if ref $expected eq 'ARRAY';
        $lines //= error_log_data();
        my $out = '';
        for my $line (@$lines) {
            if (ref $grep_pat ? $line =~ $grep_pat : $line =~ /\Q$grep_pat\E/) {
                $out .= "$&\n" if $& !~ /\n/;
            }
        }
        my $desc = "$name - grep_error_log_out (req $repeated_req_idx)";
        if (ref $expected eq 'Regexp') {
            like($out, $expected, $desc);
        } elsif ($Test::Nginx::Util::NoLongString) {
            is($out, $expected, $desc);
        } else {
            is_string($out, $expected, $desc);
        }
    } elsif (defined $block->grep_error_log_out) {
        bail_out("$name - No --- grep_error_log defined but --- "
                 . "grep_error_log_out is defined");
    }

    for my $section (qw(error_log no_error_log)) {
        my $pats = $block->$section;
        next unless defined $pats;
        $lines //= error_log_data();
        check_log_patterns($name, 'error.log', $pats, $lines,
                           $section eq 'error_log', $repeated_req_idx);
    }

    # like Test::Nginx: warn about unexpected alerts, fail on assertions
    $lines //= error_log_data();
    for my $level (qw(alert crit emerg)) {
        next if value_contains(scalar $block->error_log, "[$level")
             || value_contains(scalar $block->no_error_log, "[$level");
        warn "WARNING: $name - ", fmt_str($_), "\n"
            for grep { /\[$level\]/ } @$lines;
    }
    # stricter than Test::Nginx, which only warns about the [alert]: a
    # worker that crashed fails the block, whatever the block checked
    # (signal 9 is what the suite's own kill -9 tests send)
    unless (value_contains(scalar $block->error_log, 'exited on signal')) {
        for my $line (grep { /exited on signal (?!9\b)\d+/ } @$lines) {
            chomp $line;
            fail("$name - a process crashed: $line");
        }
    }
    for my $line (grep { /\bAssertion .*?failed\b/ } @$lines) {
        Test::More->builder->no_ending(1);
        chomp $line;
        fail("$name - $line\n");
    }
}

sub check_access_log () {
    my ($block, $repeated_req_idx) = @_;
    my $lines;
    for my $section (qw(access_log no_access_log)) {
        my $pats = $block->$section;
        next unless defined $pats;
        $lines //= access_log_data();
        check_log_patterns($block->name, 'access.log', $pats, $lines,
                           $section eq 'access_log', $repeated_req_idx);
    }
}

# ---------------------------------------------------------------- one block

sub run_test_helper () {
    my ($block, $dry_run, $repeated_req_idx) = @_;
    my $name = $block->name;

    for my $section (@Unsupported) {
        bail_out("$name - section \"--- $section\" is not supported by the "
                 . "compat runner in t/compat") if defined $block->$section;
    }

    my $reqs = get_req_from_block($block);
    bail_out("$name - request empty") unless @$reqs;

    my $timeout = parse_time($block->timeout) // timeout();
    my $need_array = @$reqs > 1;
    my $res;

    for my $req_idx (0 .. $#$reqs) {
        my ($raw_resp, $head_req) = send_request(
            $reqs->[$req_idx], scalar $block->raw_request_middle_delay,
            $timeout, $block);
        warn "!!! resp: [", $raw_resp // '', "]\n"
            if $Test::Nginx::Util::Verbose;

        if (!defined $block->ignore_response) {
            my ($raw_headers, $left);
            if (defined $block->http09) {
                $res = HTTP::Response->new(200, 'OK', [], $raw_resp // '');
                $raw_headers = '';
            } else {
                ($res, $raw_headers, $left) =
                    parse_response($name, $raw_resp // '', $head_req);
            }
            if (defined $left && $left ne '') {
                $left =~ s/([\0-\037\200-\377])/sprintf('\x{%02x}', ord $1)/eg;
                warn "WARNING: $name - unexpected extra bytes after last "
                     . "chunk in response: \"$left\"\n";
            }
            check_error_code($block, $res, $req_idx, $need_array);
            check_response_headers($block, $res, $raw_headers // '',
                                   $req_idx, $need_array);
            check_response_body($block, $res, $req_idx, $repeated_req_idx,
                                $need_array);
        }

        if ($req_idx < $#$reqs) {
            sleep $block->wait if $block->wait;
            check_error_log($block, $res, $dry_run, $repeated_req_idx,
                            $need_array);
            check_access_log($block, $repeated_req_idx)
                unless defined $block->ignore_response;
        }
    }

    sleep $block->wait if $block->wait;
    check_error_log($block, $res, $dry_run, $repeated_req_idx, $need_array);
    check_access_log($block, $repeated_req_idx)
        unless defined $block->ignore_response;
}

1;
