# train-pre: a tiny IR-18 + AdaFace run on a synthetic set; an interrupted
# run resumed with --resume gives the same losses and bit-identical
# weights as an uninterrupted one; best/last/weights files; metrics.csv;
# embed loads the result; bad input is refused with a clear message.
. "$E2E_DIR/lib.sh"
PY=/usr/bin/python3
# interrupted DIR SECONDS ARGS...: train-pre ARGS -o DIR on s, SIGTERM after
# SECONDS: exit 130 and the state saved
interrupted() {
    local dir=$1 secs=$2 pid rc=0
    shift 2
    train-pre "$@" -o "$dir" s 2>"$dir.log" &
    pid=$!
    sleep "$secs"
    kill -TERM "$pid"
    wait "$pid" || rc=$?
    [ "$rc" = 130 ] || die "interrupted train-pre ($dir) exited $rc: $(cat "$dir.log")"
    grep -q "interrupted: state saved in $dir/last.safetensors" "$dir.log" || die "$dir: no interruption note: $(cat "$dir.log")"
}
synth-faces -o s -n 6 -k 4 --val-identities 4 --val-images 3 --pairs 10 -s 5
common=(--arch ir_18 --head adaface --batch_size 8 --epochs 2 --lr 0.05 --lr_milestones 1 --log_every 1
        --val_batch 8 --val s/synth_val.bin -j 2)
# 24 images, batch 8: 3 steps per epoch, 6 in all
train-pre "${common[@]}" -o a s 2>a.log
only_files a best.safetensors last.safetensors metrics.csv scores-synth_val.sft weights.safetensors
grep -q "epoch 1: synth_val.bin accuracy" a.log || die "no validation line: $(cat a.log)"
[ "$(grep -c '^train,' a/metrics.csv)" = 6 ] || die "6 train rows expected: $(cat a/metrics.csv)"
[ "$(grep -c '^val,' a/metrics.csv)" = 2 ] || die "2 val rows expected"
# the learning rate drops at the milestone (epoch 1)
[ "$(awk -F, '$1 == "train" { print $2 ":" $4 }' a/metrics.csv | sort -u | tr '\n' ' ')" = "0:0.05 1:0.005 " ] \
    || die "MultiStepLR: $(cat a/metrics.csv)"
# the last validation's scores, for roc-report
roc-report -b 0 -o rep a/scores-synth_val.sft 2>/dev/null
grep -q "^scores-synth_val,synth_val,10," rep/summary.csv || die "roc-report on the run's scores: $(cat rep/summary.csv)"
# interrupted inside epoch 1 (after step 4), then resumed
train-pre "${common[@]}" --max_steps 4 -o b s 2>b1.log
[ "$(grep -c '^train,' b/metrics.csv)" = 4 ] || die "4 steps before the stop"
train-pre "${common[@]}" --resume b/last.safetensors -o b s 2>b2.log
grep -q "resuming at epoch 1, batch 1, step 4" b2.log || die "resume position: $(cat b2.log)"
diff <(cut -d, -f1-6,8- a/metrics.csv) <(cut -d, -f1-6,8- b/metrics.csv) || die "resumed losses differ from the uninterrupted run"
$PY "$E2E_DIR/st_tensors.py" a/weights.safetensors b/weights.safetensors || die "resumed weights differ"
$PY "$E2E_DIR/st_tensors.py" a/last.safetensors b/last.safetensors || die "resumed run state differs"
# the step through the device seam on the CPU (the GPU path's plumbing):
# bit-identical weights and run state, also when stopped and resumed
train-pre "${common[@]}" --check_seam --max_steps 4 -o d s 2>d1.log
train-pre "${common[@]}" --check_seam --resume d/last.safetensors -o d s 2>d2.log
diff <(cut -d, -f1-4,6,8- a/metrics.csv) <(cut -d, -f1-4,6,8- d/metrics.csv) || die "the seam's accuracies or validation differ"
$PY "$E2E_DIR/st_tensors.py" a/weights.safetensors d/weights.safetensors || die "the seam's weights differ"
$PY "$E2E_DIR/st_tensors.py" a/last.safetensors d/last.safetensors || die "the seam's run state differs"
# mixed precision, fp16 with dynamic loss scaling (on the CPU, the 16-bit
# ops' reference): the scale backs off from 65536 on overflowing steps,
# which are skipped and noted; a stopped run resumes bit-identically, the
# scaler's state included (without it the resumed steps would skip others)
train-pre "${common[@]}" --use_16bit -o h s 2>h.log
[ "$(grep -c '^train,' h/metrics.csv)" = 6 ] || die "fp16: 6 steps expected: $(cat h/metrics.csv)"
grep -q "steps skipped on overflow, loss scale" h.log || die "fp16: no note of the loss scale: $(cat h.log)"
train-pre "${common[@]}" --use_16bit --max_steps 4 -o i s 2>i1.log
train-pre "${common[@]}" --use_16bit --resume i/last.safetensors -o i s 2>i2.log
diff <(cut -d, -f1-6,8- h/metrics.csv) <(cut -d, -f1-6,8- i/metrics.csv) || die "resumed fp16 losses differ"
$PY "$E2E_DIR/st_tensors.py" h/last.safetensors i/last.safetensors || die "resumed fp16 run state differs"
scaler_state() { $PY "$E2E_DIR/st_tensors.py" "$1" | grep -o "'loss_scale[a-z_]*': '[^']*'" | sort; }
[ -n "$(scaler_state h/last.safetensors)" ] || die "the loss scale is not in the checkpoint"
[ "$(scaler_state h/last.safetensors)" = "$(scaler_state i/last.safetensors)" ] || die "resumed loss scaler differs"
# channels-last: on the CPU's reference the same steps bit for bit
train-pre "${common[@]}" --use_16bit --channels_last --max_steps 4 -o hc s 2>hc.log
diff <(grep '^train,' h/metrics.csv | head -4 | cut -d, -f1-6,8-) <(grep '^train,' hc/metrics.csv | cut -d, -f1-6,8-) \
    || die "channels-last fp16 steps differ"
# --layout: auto is (N, C, H, W) on the CPU, channels-last where asked for (--channels_last is --layout channels_last)
grep -q "fp16 activations in (N, C, H, W)" h.log || die "fp16 on the CPU: not (N, C, H, W) by default: $(cat h.log)"
grep -q "fp16 activations in channels-last" hc.log || die "--channels_last: not channels-last: $(cat hc.log)"
train-pre "${common[@]}" --use_16bit --layout channels_last --max_steps 1 -o hl s 2>hl.log
grep -q "fp16 activations in channels-last" hl.log || die "--layout channels_last: not channels-last: $(cat hl.log)"
diff <(grep '^train,' hc/metrics.csv | head -1 | cut -d, -f1-6,8-) <(grep '^train,' hl/metrics.csv | cut -d, -f1-6,8-) \
    || die "--layout channels_last and --channels_last differ"
# bf16 (no loss scaling): the first step's loss is fp32's within bf16's rounding
train-pre "${common[@]}" --precision bf16 --max_steps 1 -o bf s 2>bf.log
awk -F, 'NR == FNR && $1 == "train" && $3 == 1 { want = $5 } NR > FNR && $1 == "train" && $3 == 1 { got = $5 }
         END { d = got - want; if (d < 0) d = -d; exit !(want > 0 && d < 1e-2 * want) }' a/metrics.csv bf/metrics.csv \
    || die "bf16's first loss is not fp32's: $(grep '^train,0,1,' a/metrics.csv bf/metrics.csv)"
# data parallelism: two ranks as threads on the CPU (batch 4 each: the
# same 8 images a step, 3 steps an epoch), stopped and resumed exactly
ddp=(--arch ir_18 --head adaface --batch_size 4 --epochs 2 --lr 0.05 --lr_milestones 1 --log_every 1
     --val_batch 8 --val s/synth_val.bin -j 2 --gpus 2)
train-pre "${ddp[@]}" -o p s 2>p.log
[ "$(grep -c '^train,' p/metrics.csv)" = 6 ] || die "2 ranks: 6 steps expected: $(cat p/metrics.csv)"
train-pre "${ddp[@]}" --max_steps 4 -o q s 2>q1.log
train-pre "${ddp[@]}" --resume q/last.safetensors -o q s 2>q2.log
diff <(cut -d, -f1-6,8- p/metrics.csv) <(cut -d, -f1-6,8- q/metrics.csv) || die "resumed 2-rank losses differ"
$PY "$E2E_DIR/st_tensors.py" p/weights.safetensors q/weights.safetensors || die "resumed 2-rank weights differ"
$PY "$E2E_DIR/st_tensors.py" p/last.safetensors q/last.safetensors || die "resumed 2-rank run state differs"
! $PY "$E2E_DIR/st_tensors.py" a/weights.safetensors p/weights.safetensors >/dev/null 2>&1 || die "2 ranks trained like 1"
# SIGTERM stops both ranks at the same step; rank 0 saves
interrupted r 4 "${ddp[@]}" --epochs 1000
# a rank that cannot start stops the others (no hang)
timeout 60 train-pre "${ddp[@]}" --gpus 8 -o x s 2>g8.log && die "8 ranks of 4 on 24 images ran"
grep -q "less than one batch of 4 per rank" g8.log || die "8 ranks: $(cat g8.log)"
# SIGTERM (or Ctrl-C in a terminal) saves the state and exits with 130
interrupted c 3 "${common[@]}" --epochs 1000
# no temporary files left: the state, plus what a validation wrote if an epoch ended within the 3 s
if grep -q '^val,' c/metrics.csv; then
    only_files c best.safetensors last.safetensors metrics.csv scores-synth_val.sft weights.safetensors
else
    only_files c last.safetensors metrics.csv weights.safetensors
fi
# the export holds exactly the reference's state_dict keys
$PY "$E2E_DIR/st_tensors.py" a/weights.safetensors >weights.txt
[ "$(grep -c "^body\.\|^input_layer\.\|^output_layer\." weights.txt)" = 179 ] && [ "$(grep -vc "^metadata" weights.txt)" = 179 ] \
    || die "weights.safetensors: 179 tensors under the reference's names expected"
$PY "$E2E_DIR/st_tensors.py" a/last.safetensors >last.txt
grep -q "^head.kernel float32 (512, 6)" last.txt || die "head kernel in the checkpoint"
grep -q "^optim.momentum_buffer.head.kernel float32 (512, 6)" last.txt || die "SGD state in the checkpoint"
# embed reads the run's weights and its full checkpoint alike
rec-unpack -o val.sft s/synth_val.bin
embed -m a/weights.safetensors -o e1.sft val.sft
embed -m a/last.safetensors -o e2.sft val.sft
[ "$(sft count e1.sft)" = 20 ] || die "20 embeddings"
cmp <(sft list e1.sft | tail -n +3 | cut -f9) <(sft list e2.sft | tail -n +3 | cut -f9) || die "weights and checkpoint embed differently"
verify-pairs --summary sum.csv e1.sft 2>/dev/null
# 16-bit inference (the CPU device's reference of the GPU path): the same embeddings within fp16's rounding
embed -m a/weights.safetensors --precision fp16 -o e3.sft val.sft
sft export -d d1 -f npy e1.sft && sft export -d d3 -f npy e3.sft || die "sft export"
$PY - <<'PY' || die "fp16 embeddings differ from fp32's by more than 1e-2"
import glob, os, sys
import numpy as np
names = sorted(os.path.basename(p) for p in glob.glob("d1/*.npy"))
assert len(names) == 20, names
d = max(np.abs(np.load("d1/" + n).ravel()[1:] - np.load("d3/" + n).ravel()[1:]).max() for n in names)
print("fp16 against fp32: max difference", d)
sys.exit(not (0 < d < 1e-2))
PY
embed -m a/weights.safetensors --precision fp16 --channels_last -o e4.sft val.sft
cmp <(sft list e3.sft | tail -n +3 | cut -f9) <(sft list e4.sft | tail -n +3 | cut -f9) || die "channels-last embeds differently"
expect_status 2 "--channels_last needs --precision fp16 or bf16" -- embed -m a/weights.safetensors --channels_last val.sft
expect_status 2 "--precision takes fp32, fp16 or bf16" -- embed -m a/weights.safetensors --precision fp8 val.sft
# bad input
expect_status 2 "unknown --arch" -- train-pre --arch ir_7 -o x s
expect_status 2 "unknown --head" -- train-pre --head sphereface -o x s
expect_status 1 "less than one batch" -- train-pre --batch_size 64 --epochs 1 -o x s
synth-faces -o s5 -n 5 -k 4 --val-identities 2 --val-images 2 --pairs 2 -s 5
expect_status 1 "6 classes, the data 5" -- train-pre --arch ir_18 --batch_size 8 --epochs 1 --resume a/last.safetensors -o x s5
expect_status 1 "is ir_18 with the adaface head; this run is ir_34 with adaface" -- train-pre --arch ir_34 --batch_size 8 --epochs 1 --resume a/last.safetensors -o x s
if sft --version | grep -qE '; [0-9]+ devices?\)$'; then
    # a GPU: the same run on it (float32, and fp16 against the CPU's fp16 run h, which skips the same overflowing
    # steps) follows the CPU's losses and reaches its validation accuracy within noise (10 pairs: 2 either way)
    for p in fp32 fp16; do
        cpu_run=a
        [ $p = fp16 ] && cpu_run=h
        train-pre "${common[@]}" --device cuda --precision $p -o "g$p" s 2>"g$p.log" || die "train-pre on the GPU, $p: $(cat "g$p.log")"
        [ "$(grep -c '^train,' "g$p/metrics.csv")" = 6 ] && [ "$(grep -c '^val,' "g$p/metrics.csv")" = 2 ] \
            || die "GPU run $p: 6 train and 2 val rows expected: $(cat "g$p/metrics.csv")"
        awk -F, -v p=$p 'NR == FNR { if ($1 == "train") l[$3] = $5; if ($1 == "val") v[$3] = $9; next }
            $1 == "train" { d = $5 - l[$3]; if (d < 0) d = -d; if (d > 0.01 * l[$3]) { print p ": step " $3 " loss " $5 " on the GPU, " l[$3] " on the CPU"; bad = 1 } }
            $1 == "val" { d = $9 - v[$3]; if (d < 0) d = -d; if (d > 0.2001) { print p ": val accuracy " $9 " on the GPU, " v[$3] " on the CPU"; bad = 1 } }
            END { exit bad }' "$cpu_run/metrics.csv" "g$p/metrics.csv" || die "the GPU run strays from the CPU's"
    done
    # CUDA graphs replay the same ops: the fp16 run again, step for step the same figures (images/s aside)
    train-pre "${common[@]}" --device cuda --precision fp16 --cuda_graphs -o ggraph s 2>ggraph.log \
        || die "train-pre with CUDA graphs: $(cat ggraph.log)"
    grep -q "CUDA graphs off" ggraph.log && die "CUDA graphs went off: $(cat ggraph.log)"
    grep -qE "epoch 1: CUDA graphs: [1-9][0-9]* forward and [1-9][0-9]* backward" ggraph.log \
        || die "CUDA graphs never replayed a pass: $(cat ggraph.log)"
    cmp <(cut -d, -f1-6,8- gfp16/metrics.csv) <(cut -d, -f1-6,8- ggraph/metrics.csv) \
        || die "CUDA graphs change the run: $(diff gfp16/metrics.csv ggraph/metrics.csv)"
else
    expect_status 1 "[Cc][Uu][Dd][Aa]" -- train-pre --device cuda -o x s
fi
expect_status 2 "--cuda_graphs needs --device cuda" -- train-pre --cuda_graphs -o x s
expect_status 2 "--cuda_graphs needs --device cuda" -- embed -m a/weights.safetensors --cuda_graphs val.sft
expect_status 2 "--gpus takes 1 to 64" -- train-pre --gpus 0 -o x s
expect_status 2 "--precision takes fp32, fp16 or bf16, not int8" -- train-pre --precision int8 -o x s
expect_status 2 "--loss_scale takes a positive scale, with fp16" -- train-pre --precision bf16 --loss_scale 1024 -o x s
expect_status 2 "--channels_last needs --precision fp16 or bf16" -- train-pre --channels_last -o x s
expect_status 2 "--layout channels_last needs --precision fp16 or bf16" -- train-pre --layout channels_last -o x s
expect_status 2 "--layout takes auto, nchw or channels_last, not nhwc" -- train-pre --use_16bit --layout nhwc -o x s
expect_status 2 "--channels_last contradicts --layout nchw" -- train-pre --use_16bit --channels_last --layout nchw -o x s
expect_status 2 "--layout takes auto, nchw or channels_last, not nhwc" -- embed -m a/weights.safetensors --precision fp16 --layout nhwc val.sft
LC_WORLD_SIZE=2 LC_RANK=0 expect_status 2 "training across processes runs on GPUs" -- train-pre --batch_size 8 -o x s
expect_status 2 "give -m WEIGHTS or --untrained" -- embed val.sft
echo "not a checkpoint" >junk.pth
expect_status 1 "junk.pth" -- embed -m junk.pth --arch ir_18 -o x.sft val.sft
[ ! -e x.sft ] || die "a failed embed left its output"
