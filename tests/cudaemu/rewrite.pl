#!/usr/bin/perl -0777 -p
# The CUDA emulator's launch rewrite (tests/cudaemu/README.md): every
# `kernel<tmpl args><<<config>>>(` becomes
# `emu_launch("kernel<...>", kernel<...>, config)(`, line numbers kept (a
# leading #line names the source). Inside kernel.cuh's LAUNCH macro the
# kernel is the macro's parameter `kernel`, named by stringizing it.
BEGIN { $src = $ARGV[0] }
s{\b([A-Za-z_]\w*(?:\s*<[^<>;{}()]*>)?)\s*<<<(.*?)>>>\s*\(}{
    my ($all, $k, $cfg) = ($&, $1, $2);
    (my $name = $k) =~ s/\s+/ /g;
    my $str = $k eq 'kernel' ? '#kernel' : "\"$name\"";
    $k =~ s/\s+/ /g;
    $cfg =~ s/\n/ /g;
    "emu_launch($str, $k, $cfg)(" . ("\n" x ($all =~ tr/\n//))
}gse;
$_ = "#line 1 \"$src\"\n" . $_;
