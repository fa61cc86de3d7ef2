#!/bin/sh
# Scenarios a-e of the booted lifecycle, one boot per state (TMT_REBOOT_COUNT):
#   0  a. after install: v1 booted, status matches /proc/cmdline; a local /etc
#         change; switch to oci:v2
#   1  b. v2 booted, the /etc change kept, v1 listed as rollback; rollback
#   2  c. v1 booted again; current:latest retagged to v3 (new kernel); upgrade
#   3  d. v3 booted from a new kernel dir, v1's kept (rollback uses it);
#         e. retag v3-gen1, upgrade
#   4,5   e. gen1/gen2 booted, GC kept exactly booted + rollback; next gen
#   6     e. gen3 booted, exactly booted + rollback, v1's kernel dir gone
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
    tmt-reboot
  fi
}

case "$T_STEP" in
0)
  assert_booted v1
  assert_eq "$B_IMAGE" "$CURRENT" "booted image (install --target-imgref)"
  assert_eq "$B_TRANSPORT" oci "booted transport"
  assert_eq "$S_" null "no staged deployment"
  assert_eq "$R_" null "no rollback deployment"
  echo "changed locally before the switch" > /etc/tsbootc-test-local
  run_ok tsbootc switch --quiet --transport oci "$IMAGES/oci:v2"
  load_status
  assert_eq "$S_IMAGE" "$IMAGES/oci:v2" "staged image"
  assert_ne "$S_VERITY" "$B_VERITY" "staged deployment differs from booted"
  tmt-reboot
  ;;
1)
  assert_booted v2
  assert_eq "$B_IMAGE" "$IMAGES/oci:v2" "booted image"
  assert_eq "$(cat /etc/tsbootc-test-local)" "changed locally before the switch" "local /etc change carried over"
  assert_eq "$R_IMAGE" "$CURRENT" "rollback image (v1)"
  assert_eq "$S_" null "nothing staged after the reboot"
  run_ok tsbootc rollback
  load_status
  assert_eq "$ROLLBACK_QUEUED" true "rollback queued"
  tmt-reboot
  ;;
2)
  assert_booted v1
  assert_eq "$B_IMAGE" "$CURRENT" "booted image after rollback"
  assert_eq "$R_IMAGE" "$IMAGES/oci:v2" "v2 is now the rollback"
  retag v3
  run_ok tsbootc upgrade --quiet
  load_status
  assert_eq "$S_IMAGE" "$CURRENT" "staged image"
  tmt-reboot
  ;;
3)
  assert_booted v3
  assert_eq "$R_IMAGE" "$CURRENT" "rollback is v1 (same ref)"
  boot_inventory
  bk=$(kdir_of "$B_VERITY")
  rk=$(kdir_of "$R_VERITY")
  assert_ne "$bk" "$rk" "v3 boots from its own kernel dir"
  assert_eq "$KDIRS" "$(pair "$bk" "$rk")" "kernel dirs: v3's new one and v1's (still referenced)"
  assert_only_booted_and_rollback
  retag v3-gen1
  run_ok tsbootc upgrade --quiet
  tmt-reboot
  ;;
4) gen_step 1 ;;
5) gen_step 2 ;;
6)
  gen_step 3
  assert_eq "$(echo $KDIRS | wc -w)" 1 "one kernel dir left: the v3 kernel the generations share"
  ;;
*) fail "unexpected TMT_REBOOT_COUNT=$T_STEP" ;;
esac
