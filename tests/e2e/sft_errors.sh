# Bad input and interrupted runs: clear messages naming file, record and
# byte offset; exit 1 for runtime errors and 2 for usage; no half-written
# outputs; a closed pipe ends a tool quietly.
. "$E2E_DIR/lib.sh"
cp "$FIX"/npy/f32_2x3.npy a.npy
sft pack-npy --split -o good.sft a.npy
size=$(stat -c %s good.sft)

# truncated: stream cut inside record 1's payload
head -c $((size - 64 - 10)) good.sft > cut.sft
expect_status 1 '^sft: cut.sft: record 1 at byte [0-9]+: truncated' -- sft count cut.sft
# corrupt: one flipped bit in the last record's payload (the 64 bytes before the trailer)
cp good.sft bad.sft
printf '\x01' | dd of=bad.sft bs=1 seek=$((size - 128 + 3)) conv=notrunc status=none
expect_status 1 "bad.sft: record 1 at byte $((size - 128)): payload checksum mismatch" -- sft count bad.sft
# sft check goes on past a bad file and fails overall
rc=0; out=$(sft check good.sft bad.sft cut.sft) || rc=$?
[ $rc -eq 1 ] || die "check exit $rc"
grep -q "good.sft: ok, 2 records" <<<"$out" || die "check: $out"
grep -q "bad.sft: FAILED: bad.sft: record 1 at byte" <<<"$out" || die "check: $out"
# other formats are named
printf '\x0a\x23\xd7\xce\x10\x00\x00\x00' > train.rec
expect_status 1 'not a tensor stream: bad magic \(this is an MXNet RecordIO file: use rec-unpack\)' -- sft info train.rec
expect_status 1 'train.npy|npy' -- sft info a.npy
expect_status 1 'missing.sft: cannot open: No such file or directory' -- sft info missing.sft
: > empty.sft
expect_status 1 'empty input' -- sft count empty.sft

# usage errors exit 2 and point at --help
expect_status 2 "unknown command 'frobnicate'" -- sft frobnicate
expect_status 2 "Try 'sft --help'" -- sft
expect_status 2 "unknown option --nope" -- sft info --nope
expect_status 2 "'x' is not an integer" -- sft head -n x good.sft
expect_status 2 "bad index range '3:1'" -- sft slice 3:1 -i good.sft
expect_status 2 "exactly one of -n N and -k KEY" -- sft export -o x.npy good.sft
expect_status 1 "no record has key 'zzz'" -- sft export -k zzz -o x.npy good.sft
expect_status 2 "not a u8 image" -- sft export -n 0 -o x.png good.sft

# a failed run leaves no output and no temporary file behind
mkdir clean && cd clean
expect_status 1 'truncated' -- sft slice 0: -i ../cut.sft -o out.sft
expect_status 1 'truncated' -- sft cat -o out.sft ../good.sft ../cut.sft
only_files .
cd ..

# binary is never written to a terminal
if command -v script >/dev/null; then
    out=$(script -qec "sft pack-npy a.npy" /dev/null 2>&1 || true)
    grep -q "refusing to write binary data to a terminal" <<<"$out" || die "tty not refused: $out"
fi

# a reader that goes away ends the writer quietly (SIGPIPE, no message)
python_big() { for i in $(seq 1 200); do cat good.sft; done; }
python_big > big.sft
set +o pipefail
sft slice 0: -i big.sft 2>err.txt | head -c 100 >/dev/null
st=${PIPESTATUS[0]}
set -o pipefail
[ "$st" -eq 141 ] || [ "$st" -eq 0 ] || die "writer exited $st on a closed pipe"
[ ! -s err.txt ] || die "writer complained on a closed pipe: $(cat err.txt)"

# SIGTERM mid-run removes the unfinished output
mkfifo fifo
( cat good.sft | head -c 200; sleep 30 ) > fifo &
feeder=$!
mkdir term
sft cat -o term/out.sft fifo &
pid=$!
for i in $(seq 50); do [ -n "$(ls -A term)" ] && break; sleep 0.1; done
ls -A term | grep -q '^\.out\.sft\.tmp-' || die "no temporary output while running: $(ls -A term)"
kill -TERM $pid
wait $pid 2>/dev/null || true
kill $feeder 2>/dev/null || true
only_files term
