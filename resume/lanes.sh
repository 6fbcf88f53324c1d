#!/bin/bash
# The training queue of docs/compute.md as two lanes, one per core: `resume/lanes.sh 1` and `resume/lanes.sh 2`,
# started in the background from the main checkout at the start of a session, e.g.
#     nohup setsid resume/lanes.sh 1 > /work/lane1.log 2>&1 &
#     nohup setsid resume/lanes.sh 2 > /work/lane2.log 2>&1 &
# Each lane runs its groups in order. `benchmarks.run` skips the runs of a group that have ended and resumes the
# others from their newest checkpoint, so a lane restarted in a later session goes on where it stopped. Every group
# trains from a worktree pinned at the commit its runs recorded (made here if missing); a dataset this machine lacks is
# built first (--build-missing, ~11 min per AntMaze maze). Each lane first copies into its stores the committed records
# of the runs that already ended at today's budget (`benchmarks.carry restore`), so a fresh machine skips them instead of
# training them again. On a fresh machine, unpack the committed resume/<store>/ packs of the groups that were training
# first (docs/compute.md, "How a session resumes").
# A group whose seeds have all ended is skipped without touching its dataset; a group begun on the other CPU maker's
# data build (Intel and AMD machines build different bytes: docs/datasets/README.md) waits for a machine of that maker.
# LANES_DRY_RUN=1 prints each step (worktree, restore, group) instead of doing it: tests/test_lanes.py checks that
# every group is a cell its suite plans, so a typo cannot idle a core for a night.
set -u
LANE=${1:?usage: resume/lanes.sh 1|2}
WORK=${WORK:-/work}
DRY=${LANES_DRY_RUN:-0}
MAIN=$(cd "$(dirname "$0")/.." && pwd)
PY="$MAIN/.venv/bin/python"

worktree() {  # worktree DIR COMMIT
  if [ "$DRY" = 1 ]; then echo "worktree $*"; return; fi
  # both lanes start together on a fresh machine and ask for the same worktrees: one at a time (the lock file
  # $WORK/.lanes-worktree.lock), so that the second waits until the first has checked it out instead of failing on a
  # half-made folder and going on to train from it
  mkdir -p "$WORK"
  (
    if command -v flock > /dev/null; then flock 9; fi  # util-linux; without it, as before
    [ -d "$1" ] || git -C "$MAIN" worktree add --detach "$1" "$2"
  ) 9> "$WORK/.lanes-worktree.lock"
}

restore() {  # restore STORE MATCH...: the committed records of runs that ended at today's budget, into STORE
  if [ "$DRY" = 1 ]; then echo "restore $*"; return; fi
  local store=$1
  shift
  for match in "$@"; do
    "$PY" -m benchmarks.carry restore --from "$MAIN/results" --results "$store" --match "$match" | tail -n 1
  done
}

runs_of() {  # runs_of STORE SUITE BUDGET AGENT DATASET [SEED]: the run folders of the group in STORE (of one seed)
  ls -d "$1"/runs/"$4".*-"$5"-v*.seed${6:-[0-9]}."$2-$3".* 2> /dev/null
}

ended() {  # ended STORE SUITE BUDGET AGENT DATASET: true when STORE holds an ended run of every seed of the group
  local seed run
  for seed in 0 1 2; do
    run=$(runs_of "$@" $seed | head -n 1)
    [ -n "$run" ] && grep -q -E '"state": *"(finished|diverged)"' "$run/status.json" 2> /dev/null || return 1
  done
}

cpu_vendor() {  # cpu_vendor TEXT: the CPU maker a model name (/proc/cpuinfo, a run's provenance) names
  case "$1" in *Intel*) echo Intel ;; *AMD*) echo AMD ;; *) echo unknown ;; esac
}

elsewhere() {  # elsewhere STORE SUITE BUDGET AGENT DATASET: the maker of the CPU the group's runs began on, when it is
  # not this machine's (LANES_CPU overrides this machine's model name). Data builds differ between Intel and AMD CPUs
  # (docs/datasets/README.md) and a run resumes only on the build it began on, so such a group waits for that kind
  local here there run
  here=$(cpu_vendor "${LANES_CPU:-$(grep -m 1 'model name' /proc/cpuinfo)}")
  for run in $(runs_of "$@"); do
    [ -f "$run/provenance.json" ] || continue
    there=$(cpu_vendor "$(grep -m 1 '"cpu_model"' "$run/provenance.json")")
    if [ "$there" != "$here" ]; then echo "$there"; return; fi
  done
}

set_aside() {  # set_aside MAKER STORE SUITE BUDGET AGENT DATASET: a group begun on MAKER's data build (not this
  # machine's) and not ended moves to $WORK/runs/set-aside/MAKER/<UTC time>/, so that the `group` step after it starts
  # over on this machine's build (its records are kept there, and in the git history of the resume/ pack that carried
  # them). A group begun on any other maker's build stays: the `group` step skips it on machines of another maker
  if [ "$DRY" = 1 ]; then echo "set_aside $*"; return; fi
  local only=$1 maker run into
  shift
  ended "$@" && return 0
  maker=$(elsewhere "$@")
  [ -n "$maker" ] && [ "$maker" = "$only" ] || return 0
  # a folder of its own per setting aside: a run set aside before under the same name is never overwritten or nested
  into="$WORK/runs/set-aside/$maker/$(date -u +%Y%m%dT%H%M%S)"
  while [ -e "$into" ]; do into="$into.1"; done
  mkdir -p "$into"
  for run in $(runs_of "$@"); do mv "$run" "$into/" || return 1; done
  echo "== $(date -u +%F' '%H:%M:%S) lane $LANE: $4 $5 ($2, $3): its runs began on the data an $maker CPU builds;" \
    "set aside in $into/ to start over on this machine's build"
}

group() {  # group DIR SUITE BUDGET AGENT DATASET [benchmarks.run options]
  if [ "$DRY" = 1 ]; then echo "group $*"; return; fi
  local dir=$1 suite=$2 budget=$3 agent=$4 data=$5
  shift 5
  local store="$dir/results"
  [ "${1:-}" = --out ] && store=$2
  # the worktrees' benchmarks.run (pinned before 3fac81d) resolves (and on a fresh machine builds, ~11 min per maze) a
  # group's dataset before it sees that the group's runs ended; a group whose committed records `restore` brought
  # back is skipped here instead
  if ended "$store" "$suite" "$budget" "$agent" "$data"; then
    echo "== $(date -u +%F' '%H:%M:%S) lane $LANE: $agent $data ($suite, $budget): every seed has ended, skipped"
    return
  fi
  local maker
  maker=$(elsewhere "$store" "$suite" "$budget" "$agent" "$data")
  if [ -n "$maker" ]; then  # the runner would refuse each seed three times (~5 min) and mark the runs failed
    echo "== $(date -u +%F' '%H:%M:%S) lane $LANE: $agent $data ($suite, $budget): its runs began on the data an $maker" \
      "CPU builds, which this machine cannot rebuild: skipped until a session on an $maker machine"
    return
  fi
  echo "== $(date -u +%F' '%H:%M:%S) lane $LANE: $agent $data ($suite, $budget) in $dir"
  (cd "$dir" && "$PY" -m benchmarks.run --suite "$suite" --budget "$budget" --agents "$agent" --datasets "$data" \
      --data regenerated --seeds 3 --group-seeds on --workers 1 --offline --build-missing --no-leaderboard "$@")
}

reference() {  # reference DIR DATASET OUT [benchmarks.reference_iql options]: the independent IQL, resumable from
  # its newest checkpoint in OUT, or on a fresh machine from the copy committed in resume/reference/<OUT's name>/
  if [ "$DRY" = 1 ]; then echo "reference $*"; return; fi
  local dir=$1 data=$2 out=$3
  shift 3
  local packed="$MAIN/resume/reference/$(basename "$out")"
  if [ -d "$packed" ] && ! ls "$out"/seed*.pt > /dev/null 2>&1; then mkdir -p "$out" && cp "$packed"/* "$out"/; fi
  echo "== $(date -u +%F' '%H:%M:%S) lane $LANE: reference IQL $data $* in $dir -> $out"
  (cd "$dir" && "$PY" -m iqlzoo.recipes build "$data" && "$PY" -m benchmarks.reference_iql --dataset "$data" \
      --out "$out" "$@")
}

QUICK=$WORK/wt-quick HC=$WORK/wt-hc PAPER=$WORK/wt-paper REF2=$WORK/wt-ref2
AM_STORE=(--out "$WORK/runs/am-quick-store")
HC_STORE=(--out "$WORK/runs/hc-store")

case $LANE in
  1)  # AntMaze at the quick budget (500k steps): issue 18's grid. IQL medium-play comes right after umaze, beside
      # IQL-expectile0.5 medium-play on lane 2: on umaze (no stitching) 0.5 beat 0.9 by ~20 points, and medium-play is
      # where the paper says a high expectile matters (docs/antmaze/README.md, section 5)
    worktree "$QUICK" 5b2df87
    restore "$WORK/runs/am-quick-store" antmaze-quick  # lane 2 restores the store's seed-findings-quick runs
    group "$QUICK" antmaze quick IQL umaze "${AM_STORE[@]}"
    group "$QUICK" antmaze quick BC umaze "${AM_STORE[@]}"
    group "$QUICK" antmaze quick IQL medium-play "${AM_STORE[@]}"
    # BC medium-play next (~1.5 h): 10.4% of the regenerated medium-play's transitions demonstrate the evaluation
    # task (docs/datasets/README.md), so copying alone may solve it; this says whether the pair above tests stitching
    group "$QUICK" antmaze quick BC medium-play "${AM_STORE[@]}"
    for agent in D2RLIQL DistributionalIQL; do group "$QUICK" antmaze quick $agent umaze "${AM_STORE[@]}"; done
    # (IQL at 1M on medium-play-evalgoal left this lane on 2026-12-04, fifteenth sitting: the reference on that data
    # fell to 0% from 400k to 600k and iqlzoo's own run began as low, 3.3% at 100k; docs/antmaze/README.md, section 6)
    group "$QUICK" antmaze quick BonusIQL umaze "${AM_STORE[@]}"
    group "$QUICK" seed-findings quick IQL-1Q umaze "${AM_STORE[@]}"
    group "$QUICK" seed-findings quick IQL-expectile0.7 umaze "${AM_STORE[@]}"
    # The medium and large cells last, on the -v0 data: D4RL's evaluation-goal labelling of the same transitions
    # (iqlzoo/recipes/antmaze_evalgoal.py) scored lower, not higher (docs/antmaze/README.md, section 6)
    group "$QUICK" antmaze quick D2RLIQL medium-play "${AM_STORE[@]}"
    # (IQL, D2RLIQL and BC on large-play at 500k left this lane on 2026-12-05, twenty-fifth sitting: the `quick` scope
    # leaves large-play to the 1M runs, hyperparams/antmaze.yml)
    group "$QUICK" seed-findings quick IQL-expectile0.7 medium-play "${AM_STORE[@]}"
    # BonusIQL umaze (above) stopped at 450k of 500k on 2026-12-04 on an Intel machine's build of umaze; after twelve
    # AMD sittings (the sixteenth to the twenty-seventh) it started over on the AMD build `ba6618e3` (2026-12-06), and
    # resume/antmaze-quick carried its AMD runs until they finished (2026-12-06, 75.3%). A store that still holds the
    # Intel runs sets them aside here; an Intel machine leaves the AMD runs for an AMD one (the `group` step skips
    # them) rather than starting over again
    set_aside Intel "$WORK/runs/am-quick-store" antmaze quick BonusIQL umaze
    group "$QUICK" antmaze quick BonusIQL umaze "${AM_STORE[@]}"
    # (The independent reference IQL on large-play-v0, 1M, seed 0, left this lane on 2026-12-06, thirty-second
    # sitting, finished at 27% beside iqlzoo's 16.7; its curve is committed in results/references/large-play-1m/, and
    # a fresh machine would otherwise train it again)
    # Then a paper group: D2RLIQL large-play (the report's IQL+SC claim) here, ~16 core-hours into this lane, since
    # lane 2 holds ~15 before it (2026-12-05); IQL large-diverse moved to the end of lane 2
    worktree "$PAPER" cc01a5d
    group "$PAPER" antmaze paper D2RLIQL large-play
    # Then the reference IQL's seed 1 on large-play (1M; ~3 core-hours; seed 2 ends lane 2): its seed 0 ended at 27%
    # beside iqlzoo's 16.7 (21 / 16 / 13), a gap one reference seed cannot resolve (iqlzoo's own seeds span 13-21 at
    # 1M and 8.7-19.2 over the curve); three seeds say whether iqlzoo's IQL learns large-play less well than an
    # independent one on the same data (2026-12-06, thirty-third sitting)
    worktree "$REF2" 03aa704
    reference "$REF2" iqlzoo/antmaze/large-play-v0 "$WORK/runs/reference/large-play-1m" \
        --seeds 1 --steps 1000000 --eval-every 100000 --eval-episodes 100 --normalize-observations
    # Last, where this core would otherwise idle: IQL on halfcheetah-expert at 1M (~8.7 core-hours; D2RLIQL's ends
    # lane 2), the one pair the source report's srank table names that no 1M run measures yet (the leaderboard's
    # seed-findings-paper rows say "not measured yet"; at 50k they are in seed-findings-quick). Not one of issue 19's
    # seven groups: any group a new issue needs goes before it (2026-12-06, thirty-fourth sitting)
    group "$PAPER" halfcheetah paper IQL expert
    ;;
  2)  # issue 18's comparison cells (umaze, then medium-play), the HalfCheetah float32 reruns (issue 20), then the
      # paper protocol (issue 19)
    worktree "$QUICK" 5b2df87
    worktree "$HC" c524d6e
    worktree "$PAPER" cc01a5d
    restore "$WORK/runs/am-quick-store" seed-findings-quick
    restore "$WORK/runs/hc-store" halfcheetah-quick
    restore "$PAPER/results" antmaze-paper halfcheetah-paper  # the 1M groups train into the paper worktree's store
    group "$QUICK" seed-findings quick IQL-expectile0.5 umaze "${AM_STORE[@]}"
    group "$QUICK" seed-findings quick IQL-expectile0.5 medium-play "${AM_STORE[@]}"
    for agent in BonusIQL DistributionalIQL; do
      for data in medium medium-expert expert; do group "$HC" halfcheetah quick $agent $data "${HC_STORE[@]}"; done
    done
    group "$PAPER" antmaze paper IQL medium-play
    # (Issue 19's reference IQL runs left this lane on 2026-12-04, fifteenth sitting, finished: on medium-play-v0 it
    # ended at 49% at 1M beside iqlzoo's 49.0, on medium-play-evalgoal it fell to 0%; their curves are committed in
    # results/references/medium-play-1m/ and docs/antmaze/reference-medium-play-evalgoal/, and a fresh machine would
    # otherwise train them again)
    group "$PAPER" halfcheetah paper IQL medium
    # IQL large-play before HalfCheetah medium-expert: its 1M curve is the last one issue 18 (item 3) waits on as well
    # as one of issue 19's groups, while medium-expert serves issue 19 alone
    group "$PAPER" antmaze paper IQL large-play
    group "$PAPER" halfcheetah paper IQL medium-expert
    group "$PAPER" antmaze paper IQL large-diverse
    # (D2RLIQL large-play, 1M, is at the end of lane 1)
    # The independent reference IQL on large-diverse-v0 (1M, seed 0; ~3 core-hours), as on medium-play and large-play:
    # the regenerated large-diverse demonstrates the evaluation task in 1 of 2886 episodes (docs/datasets/README.md),
    # and iqlzoo's IQL ended at 21.0% there (22 / 14 / 27, 2026-12-06) against the paper's 47.5; issue 19 asks what
    # says why. Last, where lane 2 would otherwise idle while lane 1 trains D2RLIQL large-play
    worktree "$REF2" 03aa704
    reference "$REF2" iqlzoo/antmaze/large-diverse-v0 "$WORK/runs/reference/large-diverse-1m" \
        --seeds 0 --steps 1000000 --eval-every 100000 --eval-episodes 100 --normalize-observations
    # Then the reference IQL's seed 2 on large-play (lane 1 ends with its seed 1; why there)
    reference "$REF2" iqlzoo/antmaze/large-play-v0 "$WORK/runs/reference/large-play-1m" \
        --seeds 2 --steps 1000000 --eval-every 100000 --eval-episodes 100 --normalize-observations
    # Last: D2RLIQL on halfcheetah-expert at 1M (~9.5 core-hours), the srank table's other half (lane 1 ends with IQL's)
    group "$PAPER" halfcheetah paper D2RLIQL expert
    ;;
  *) echo "no lane $LANE: pass 1 or 2" >&2; exit 2 ;;
esac
[ "$DRY" = 1 ] || echo "== $(date -u +%F' '%H:%M:%S) lane $LANE: queue done"
