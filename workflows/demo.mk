# The demo workflow (`make demo`): the first half of SARFace end to end on
# a synthetic identity set, CPU only, about 10 minutes on 2 cores.
#
#   synth-faces  -> work/demo/synth/  train.rec/.idx/property, synth_val.bin
#   rec-unpack   -> work/demo/val.sft            the validation pairs' images
#   train-pre    -> work/demo/run/               IR-18 + AdaFace, 4 epochs
#   embed        -> work/demo/emb-{trained,untrained}.sft   flip-fused
#   verify-pairs -> work/demo/scores-*.sft, summary-*.csv   10-fold protocol
#   roc-report   -> reports/demo/                HTML, Markdown, CSV, plots
#
# One file per stage, each rule depending on exactly what it reads (and on
# the tool that makes it): a second run does no work, and touching a stage's
# input reruns only what depends on it. Override a knob on the command line,
# e.g. `make demo DEMO_EPOCHS=5`.

BIN ?= bin
W ?= work/demo
R ?= reports/demo
DEMO_IDS ?= 100
DEMO_IMAGES ?= 6
DEMO_EPOCHS ?= 4
DEMO_BATCH ?= 32
DEMO_SEED ?= 1
DEMO_VAL_IDS ?= 20
DEMO_PAIRS ?= 300

SYNTH := $(W)/synth/train.rec
VAL_BIN := $(W)/synth/synth_val.bin
WEIGHTS := $(W)/run/weights.safetensors

.PHONY: demo
.DELETE_ON_ERROR:

demo: $(R)/index.html
	@echo
	@echo "Demo finished: verification of $(DEMO_PAIRS) held-out pairs (reference 10-fold protocol):"
	@awk -F, 'NR > 1 { printf "  %-10s accuracy %.4f +- %.4f   AUC %.4f [%.4f, %.4f]   EER %.4f\n", $$1, $$14, $$15, $$7, $$8, $$9, $$10 }' \
		$(R)/summary.csv
	@echo "Report: $(R)/index.html (and $(R)/summary.md)"

# 100 training identities x 6 images; 20 held-out identities give 300 pairs
$(SYNTH) $(VAL_BIN) &: $(BIN)/synth-faces
	@mkdir -p $(W)
	$(BIN)/synth-faces -o $(W)/synth -n $(DEMO_IDS) -k $(DEMO_IMAGES) --val-identities $(DEMO_VAL_IDS) \
		--val-images 10 --pairs $(DEMO_PAIRS) --seed $(DEMO_SEED)

$(W)/val.sft: $(VAL_BIN) $(BIN)/rec-unpack
	$(BIN)/rec-unpack -o $@ $<

# The reference's recipe at demo scale: AdaFace head (m 0.4, h 0.333, s 64),
# SGD 0.1 with momentum, lr x0.1 for the last epoch, validation every 2nd
# epoch (each costs as much as a third of an epoch here).
$(WEIGHTS): $(SYNTH) $(VAL_BIN) $(BIN)/train-pre
	rm -rf $(W)/run
	$(BIN)/train-pre --arch ir_18 --head adaface --batch_size $(DEMO_BATCH) --val_batch $(DEMO_BATCH) --epochs $(DEMO_EPOCHS) \
		--lr 0.1 --lr_milestones $(shell echo $$(($(DEMO_EPOCHS) - 1))) --seed $(DEMO_SEED) \
		--val $(VAL_BIN) --val_every 2 -o $(W)/run $(W)/synth

$(W)/emb-trained.sft: $(WEIGHTS) $(W)/val.sft $(BIN)/embed
	$(BIN)/embed -m $(WEIGHTS) -o $@ $(W)/val.sft

# the baseline: the same backbone as initialised, before any training
$(W)/emb-untrained.sft: $(W)/val.sft $(BIN)/embed
	$(BIN)/embed --untrained --arch ir_18 --seed $(DEMO_SEED) -o $@ $(W)/val.sft

$(W)/scores-%.sft: $(W)/emb-%.sft $(BIN)/verify-pairs
	$(BIN)/verify-pairs -o $@ --summary $(W)/summary-$*.csv synth_val=$<

$(R)/index.html: $(W)/scores-trained.sft $(W)/scores-untrained.sft $(BIN)/roc-report
	$(BIN)/roc-report -o $(R) -t "SARFace toolkit demo: IR-18 + AdaFace on synthetic faces" \
		trained:synth_val=$(W)/scores-trained.sft untrained:synth_val=$(W)/scores-untrained.sft
	@touch $@
