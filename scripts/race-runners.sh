#!/usr/bin/env bash
# Usage: scripts/race-runners.sh ROUNDS RUNNERS (FTBENCH=path/to/ftbench). N rounds of K concurrent `ftbench run` on one fresh results folder each; counts corrupt records,
# cells run more than once, missing cells, runner failures, leftover temp files.
F=${FTBENCH:-$(pwd)/target/debug/ftbench}
rounds=$1; k=$2
corrupt=0; dup=0; missing=0; failed=0; tmps=0
for r in $(seq $rounds); do
  d=$(mktemp -d); cd $d
  printf 'schema: 1\nname: race\ndefaults: {steps: 8, timing_warmup_steps: 1, warmup_steps: 1, seq_len: 16, eval_examples: 2, lora_rank: 4}\ngrid:\n  models: [preset:tiny]\n  methods: [full, lora, qlora]\n  seeds: [0, 1, 2]\n' > s.yaml
  pids=()
  for i in $(seq $k); do ($F run s.yaml > out$i.log 2>&1; echo $? > rc$i) & pids+=($!); done
  wait
  for i in $(seq $k); do [ "$(cat rc$i)" = 0 ] || failed=$((failed+1)); done
  ran=$(cat out*.log | grep -c '^ok \[')
  n=$(ls results/race/*.json 2>/dev/null | wc -l)
  bad=$(for f in results/race/*.json; do python3 -c "import json,sys; json.load(open('$f'))" 2>/dev/null || echo x; done | wc -l)
  corrupt=$((corrupt+bad)); [ $ran -gt 9 ] && dup=$((dup+ran-9)); [ $n -lt 9 ] && missing=$((missing+9-n))
  tmps=$((tmps+$(ls -a results/race | grep -c '\.tmp$')))
  cd /; rm -rf $d
done
echo "rounds=$rounds runners=$k corrupt=$corrupt cells_run_twice=$dup missing=$missing runner_failures=$failed temp_files_left=$tmps"
