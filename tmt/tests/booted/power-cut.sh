#!/bin/sh
# Scenario g: power cut in the middle of an upgrade. tsbootc is SIGKILLed at a
# crash point (TSBOOTC_CRASH_AT) and the machine resets at once, without a sync
# (sysrq b). The old deployment must boot and the next upgrade must succeed.
#   0  retag v2, sync; upgrade killed at $TSBOOTC_TEST_CRASH_POINT; reset
#   1  v1 booted, nothing staged; upgrade succeeds
#   2  v2 booted, v1 is the rollback
. "$(dirname "$0")/lib.sh"
POINT=${TSBOOTC_TEST_CRASH_POINT:-stage:after-origin}

case "$T_STEP" in
0)
  assert_booted v1
  tsbootc internals crash-points > /tmp/crash-points || fail "internals crash-points exited $?"
  awk -v p="$POINT" '$1 == p { f = 1 } END { exit !f }' /tmp/crash-points || fail "no crash point $POINT in: $(cat /tmp/crash-points)"
  retag v2
  echo "+ TSBOOTC_CRASH_AT=$POINT tsbootc upgrade"
  TSBOOTC_CRASH_AT=$POINT tsbootc upgrade --quiet
  rc=$?
  assert_eq "$rc" 137 "tsbootc killed (SIGKILL) at $POINT"
  # Reset now: no sync, no shutdown hooks, no finalize.
  tmt-reboot -c 'echo b > /proc/sysrq-trigger'
  ;;
1)
  assert_booted v1
  assert_eq "$S_" null "nothing staged after the power cut"
  run_ok tsbootc upgrade --quiet
  load_status
  assert_eq "$S_IMAGE" "$CURRENT" "the upgrade after the power cut staged"
  tmt-reboot
  ;;
2)
  assert_booted v2
  assert_eq "$R_" present "v1 is the rollback"
  assert_only_booted_and_rollback
  ;;
*) fail "unexpected TMT_REBOOT_COUNT=$T_STEP" ;;
esac
