# workflows/demo.mk at toy scale: every stage's file is made, the report
# shows both runs, a second run does no work, and touching a stage's input
# reruns only the stages that depend on it.
. "$E2E_DIR/lib.sh"
knobs=(-f "$REPO/workflows/demo.mk" BIN="$LC_BIN" W=w R=r DEMO_IDS=6 DEMO_IMAGES=4 DEMO_EPOCHS=2 DEMO_BATCH=8
       DEMO_VAL_IDS=4 DEMO_PAIRS=10)
make --no-print-directory "${knobs[@]}" demo >run1.log 2>&1 || die "the workflow failed: $(tail -n 20 run1.log)"
for f in w/synth/train.rec w/synth/synth_val.bin w/val.sft w/run/weights.safetensors w/emb-trained.sft \
    w/emb-untrained.sft w/scores-trained.sft w/scores-untrained.sft r/index.html r/summary.csv r/summary.md; do
    [ -s "$f" ] || die "$f was not made"
done
grep -q "^trained,synth_val,10," r/summary.csv && grep -q "^untrained,synth_val,10," r/summary.csv || die "summary: $(cat r/summary.csv)"
grep -q "trained    accuracy" run1.log || die "no summary printed: $(tail -n 5 run1.log)"
# a second run does no work
make --no-print-directory -n "${knobs[@]}" demo >plan0.txt
! grep -qF "$LC_BIN/" plan0.txt || die "a second run would redo work: $(cat plan0.txt)"
# the validation images change: embeddings, scores and report again, no training
sleep 1
touch w/val.sft
make --no-print-directory -n "${knobs[@]}" demo >plan.txt
grep -q "embed -m" plan.txt && grep -q "embed --untrained" plan.txt && grep -q "roc-report" plan.txt || die "plan: $(cat plan.txt)"
! grep -q "train-pre\|synth-faces\|rec-unpack" plan.txt || die "touching val.sft reruns more than its dependents: $(cat plan.txt)"
# the trained weights change: only the trained branch
make --no-print-directory "${knobs[@]}" demo >/dev/null 2>&1
sleep 1
touch w/run/weights.safetensors
make --no-print-directory -n "${knobs[@]}" demo >plan2.txt
grep -q "embed -m" plan2.txt || die "plan2: $(cat plan2.txt)"
! grep -q "embed --untrained\|train-pre" plan2.txt || die "touching the weights reruns the baseline or training: $(cat plan2.txt)"
