#!/bin/sh
# Scenario a on its own (one boot): after install, the installed deployment is
# booted: its image reference and its verity equal the composefs= of /proc/cmdline.
. "$(dirname "$0")/lib.sh"

case "$T_STEP" in
0)
  assert_fresh_install
  assert_eq "$(cat /tmp/tsbootc-status.err)" "" "status printed no warnings"
  assert_eq "$(tsbootc status --booted --json | node -e 'let b="";process.stdin.on("data",(d)=>b+=d).on("end",()=>console.log(JSON.parse(b).apiVersion))')" org.containers.bootc/v1 "apiVersion"
  ;;
*) fail "unexpected TMT_REBOOT_COUNT=$T_STEP" ;;
esac
