#!/bin/sh
# Scenarios a-c, one boot per state (TMT_REBOOT_COUNT):
#   0  a. after install: v1 booted, status matches /proc/cmdline; a local /etc
#         change; switch to oci:v2
#   1  b. v2 booted, the /etc change kept, v1 listed as rollback; rollback
#   2  c. v1 booted again, v2 is the rollback
. "$(dirname "$0")/lib.sh"

case "$T_STEP" in
0)
  assert_fresh_install
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
  assert_eq "$ROLLBACK_QUEUED" false "no rollback queued"
  assert_only_booted_and_rollback
  ;;
*) fail "unexpected TMT_REBOOT_COUNT=$T_STEP" ;;
esac
