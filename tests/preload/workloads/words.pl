# Hashes, sorting, regular expressions, string building.
use strict; use warnings;
my %count; my @words;
for my $i (1 .. 60000) {
    my $w = join "", map { chr(97 + ($i * $_ * 7919) % 26) } 1 .. (3 + $i % 5);
    push @words, $w; $count{$w}++;
}
my @top = (sort { $count{$b} <=> $count{$a} || $a cmp $b } keys %count)[0 .. 9];
print "$_ $count{$_}\n" for @top;
my $text = join " ", @words;
my @m = ($text =~ /\b(a\w*z)\b/g);
print scalar(@m), " ", length($text), "\n";
my %rev = map { scalar(reverse $_) => 1 } @words;
print scalar(keys %rev), "\n";
