#!/bin/sh
# Scenarios d and e, one boot per state (TMT_REBOOT_COUNT):
#   0  v1 booted; current:latest retagged to v3 (a new kernel); upgrade
#   1  d. v3 booted from a new kernel dir, v1's kept (the rollback entry uses it);
#      e. retag v3-gen1 (new content, same ref), upgrade
#   2,3   e. gen1/gen2 booted, GC kept exactly booted + rollback entries and
#         kernel dirs; next generation, whose upgrade GC leaves exactly
#         booted + rollback + staged state dirs
#   4     e. gen3 booted, v1's kernel dir gone; a pruning composefs-gc leaves
#         exactly booted + rollback state dirs and then has nothing to do
. "$(dirname "$0")/lib.sh"

gen_step() { # gen_step N: generation N booted over v3; then upgrade to N+1 unless N=3
  assert_booted v3
  assert_eq "$(cat /usr/share/tsbootc-test/generation 2>/dev/null)" "gen$1" "generation"
  assert_eq "$B_IMAGE" "$CURRENT" "booted image"
  assert_only_booted_and_rollback
  if [ "$1" -lt 3 ]; then
    retag "v3-gen$(($1 + 1))"
    run_ok tsbootc upgrade --quiet
    load_status
    assert_eq "$S_" present "upgrade staged a deployment"
    assert_staged_gc
    tmt-reboot
  fi
}

case "$T_STEP" in
0)
  assert_booted v1
  assert_eq "$B_IMAGE" "$CURRENT" "booted image"
  mkdir -p /var/lib/tsbootc-test && uname -r > /var/lib/tsbootc-test/kernel-v1
  retag v3
  run_ok tsbootc upgrade --quiet
  load_status
  assert_eq "$S_IMAGE" "$CURRENT" "staged image"
  assert_ne "$S_VERITY" "$B_VERITY" "staged deployment differs from booted"
  tmt-reboot
  ;;
1)
  assert_booted v3
  assert_eq "$R_IMAGE" "$CURRENT" "rollback is v1 (same ref)"
  assert_ne "$(uname -r)" "$(cat /var/lib/tsbootc-test/kernel-v1)" "v3 runs another kernel than v1"
  bk=$(kdir_of "$B_VERITY")
  rk=$(kdir_of "$R_VERITY")
  assert_ne "$bk" "$rk" "v3 boots from its own kernel dir"
  assert_only_booted_and_rollback
  assert_eq "$KDIRS" "$(pair "$bk" "$rk")" "kernel dirs: v3's new one and v1's (still referenced)"
  retag v3-gen1
  run_ok tsbootc upgrade --quiet
  load_status
  assert_staged_gc
  tmt-reboot
  ;;
2) gen_step 1 ;;
3) gen_step 2 ;;
4)
  gen_step 3
  assert_eq "$(echo $KDIRS | wc -w)" 1 "one kernel dir left: the v3 kernel the generations share"
  assert_gc_converged
  ;;
*) fail "unexpected TMT_REBOOT_COUNT=$T_STEP" ;;
esac
