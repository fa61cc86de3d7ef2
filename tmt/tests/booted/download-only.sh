#!/bin/sh
# Scenario f: upgrade --download-only stages a deployment that shutdown does not
# finalize; after a reboot the old image is still booted. --from-downloaded
# unlocks a download-only deployment, which the next reboot applies.
#   0  retag v2; upgrade --download-only; staged is downloadOnly
#   1  v1 still booted, nothing staged; download-only again, --from-downloaded
#   2  v2 booted, v1 is the rollback
. "$(dirname "$0")/lib.sh"

case "$T_STEP" in
0)
  assert_booted v1
  retag v2
  run_ok tsbootc upgrade --quiet --download-only
  load_status
  assert_eq "$S_IMAGE" "$CURRENT" "staged image"
  assert_eq "$S_DLONLY" true "staged deployment is download-only"
  tmt-reboot
  ;;
1)
  assert_booted v1
  assert_eq "$S_" null "the download-only deployment was not applied nor kept across the reboot"
  assert_eq "$R_" null "no rollback yet"
  run_ok tsbootc upgrade --quiet --download-only
  load_status
  assert_eq "$S_DLONLY" true "staged deployment is download-only again"
  run_ok tsbootc upgrade --from-downloaded
  load_status
  assert_eq "$S_IMAGE" "$CURRENT" "staged image after --from-downloaded"
  assert_eq "$S_DLONLY" false "--from-downloaded cleared downloadOnly"
  tmt-reboot
  ;;
2)
  assert_booted v2
  assert_eq "$B_IMAGE" "$CURRENT" "booted image"
  assert_eq "$R_" present "v1 is the rollback"
  ;;
*) fail "unexpected TMT_REBOOT_COUNT=$T_STEP" ;;
esac
