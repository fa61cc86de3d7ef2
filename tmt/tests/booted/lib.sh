# Shared helpers of tsbootc's booted tests. POSIX sh: runs under busybox ash
# (the project's test images, `just test-vm`) and bash (a tmt guest).
#
# Images: TSBOOTC_TEST_IMAGES (default /run/tsbootc-test/hook-disk, the second
# disk `just test-vm` attaches) holds
#   oci/            an OCI layout with the tags v1, v2, v3, v3-gen1, v3-gen2, v3-gen3
#   current/        an OCI layout whose blobs are ../oci/blobs and whose one tag
#                   `latest` is what tags/<tag>.json says: the "same ref, new
#                   content" that `upgrade` follows (retag moves it)
#   tags/<tag>.json index.json variants naming one manifest of oci/ as `latest`
# The installed system tracks oci:$IMAGES/current:latest.

IMAGES=${TSBOOTC_TEST_IMAGES:-/run/tsbootc-test/hook-disk}
CURRENT="$IMAGES/current:latest"
T_STEP=${TMT_REBOOT_COUNT:-0}

fail() {
  echo "TMT-VM-ASSERT: FAIL boot=$T_STEP: $*"
  exit 1
}

pass() {
  echo "TMT-VM-ASSERT: ok boot=$T_STEP: $*"
}

# assert_eq ACTUAL EXPECTED WHAT
assert_eq() {
  if [ "$1" = "$2" ]; then pass "$3 = $2"; else fail "$3: expected '$2', got '$1'"; fi
}

# assert_ne A B WHAT
assert_ne() {
  if [ "$1" != "$2" ]; then pass "$3 ($1 != $2)"; else fail "$3: both are '$1'"; fi
}

# run_ok CMD...: runs a command, echoing it; fails the test when it fails.
run_ok() {
  echo "+ $*"
  "$@" || fail "'$*' exited $?"
}

# The composefs= digest on the kernel command line (without a leading '?').
cmdline_composefs() {
  for a in $(cat /proc/cmdline); do
    case "$a" in composefs=*) a=${a#composefs=}; echo "${a#\?}"; return ;; esac
  done
}

# retag TAG: points current:latest at oci:TAG (what a registry push of the same tag does).
retag() {
  [ -f "$IMAGES/tags/$1.json" ] || fail "no tag $1 under $IMAGES/tags"
  cp "$IMAGES/tags/$1.json" "$IMAGES/current/index.json.tmp" && mv "$IMAGES/current/index.json.tmp" "$IMAGES/current/index.json" || fail "retag $1"
  sync
  pass "current:latest now names $1"
}

# load_status: `tsbootc status --json`, flattened into shell variables
# (one node start; JSON parsing without jq): B_* booted, S_* staged, R_* rollback
# with _IMAGE _TRANSPORT _VERITY _DIGEST _DLONLY, or S_=null etc. when absent.
load_status() {
  tsbootc status --json > /tmp/tsbootc-status.json 2> /tmp/tsbootc-status.err || { cat /tmp/tsbootc-status.err; fail "tsbootc status --json exited $?"; }
  cat /tmp/tsbootc-status.err
  eval "$(node -e '
const h = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const s = h.status;
for (const w of h.warnings ?? []) console.error(`status warning: ${JSON.stringify(w)}`);
for (const k of ["booted", "staged", "rollback"]) console.error(`status ${k}: ${JSON.stringify(s[k]?.image ?? null)}`);
const q = (v) => "\x27" + String(v).replace(/\x27/g, "\x27\\\x27\x27") + "\x27";
for (const [k, d] of [["B", s.booted], ["S", s.staged], ["R", s.rollback]]) {
  if (d === null || d === undefined) { console.log(`${k}_=null`); continue; }
  console.log(`${k}_=present`);
  console.log(`${k}_IMAGE=${q(d.image?.image?.image ?? "")}`);
  console.log(`${k}_TRANSPORT=${q(d.image?.image?.transport ?? "")}`);
  console.log(`${k}_DIGEST=${q(d.image?.imageDigest ?? "")}`);
  console.log(`${k}_VERITY=${q(d.composefs?.verity ?? "")}`);
  console.log(`${k}_DLONLY=${q(d.downloadOnly)}`);
}
console.log(`ROLLBACK_QUEUED=${q(s.rollbackQueued)}`);
' /tmp/tsbootc-status.json)" || fail "cannot parse tsbootc status --json"
  echo "status: booted=${B_IMAGE:-none} ${B_VERITY:-} staged=${S_IMAGE:-none} rollback=${R_IMAGE:-none}"
}

# The booted deployment is the one on the kernel command line and runs image version $1.
assert_booted() {
  assert_eq "$(cat /usr/share/tsbootc-test/version)" "$1" "image version"
  load_status
  assert_eq "$B_" present "status has a booted deployment"
  assert_eq "$B_VERITY" "$(cmdline_composefs)" "booted verity vs composefs= on /proc/cmdline"
}

# Scenario a: right after install, v1 is booted from the installed reference,
# nothing is staged and there is no rollback yet.
assert_fresh_install() {
  assert_booted v1
  assert_eq "$B_IMAGE" "$CURRENT" "booted image (install --target-imgref)"
  assert_eq "$B_TRANSPORT" oci "booted transport"
  assert_eq "$S_" null "no staged deployment"
  assert_eq "$R_" null "no rollback deployment"
}

# ESP: the mounted one (/boot, /efi, /boot/efi), else the ESP partition
# mounted read-only on /run/tsbootc-test/esp. Prints its path.
ESP=
esp_mount() {
  for m in /boot /efi /boot/efi; do
    if awk -v m="$m" '$2 == m && $3 == "vfat" { f = 1 } END { exit !f }' /proc/mounts; then ESP=$m; return; fi
  done
  dev=$(lsblk -nr -o PATH,PARTTYPE | awk 'tolower($2) == "c12a7328-f81f-11d2-ba4b-00a0c93ec93b" { print $1; exit }')
  [ -n "$dev" ] || fail "no ESP partition found"
  mkdir -p /run/tsbootc-test/esp
  mount -t vfat -o ro "$dev" /run/tsbootc-test/esp || fail "mount $dev"
  ESP=/run/tsbootc-test/esp
}

esp_umount() {
  [ "$ESP" = /run/tsbootc-test/esp ] && umount /run/tsbootc-test/esp
  ESP=
}

# Boot entries and kernel dirs on the ESP, as sorted lists:
#   ENTRY_VERITIES  the composefs= of each loader/entries/*.conf
#   ENTRY_KDIRS     the kernel dirs their `linux` lines use
#   KDIRS           the bootc_composefs-* dirs under EFI/Linux
#   DEPLOYS         the state dirs under /sysroot/state/deploy
boot_inventory() {
  esp_mount
  ENTRY_VERITIES=$(cat "$ESP"/loader/entries/*.conf 2>/dev/null | awk '$1 == "options" { for (i = 2; i <= NF; i++) if ($i ~ /^composefs=/) { v = substr($i, 11); sub(/^\?/, "", v); print v } }' | sort | tr '\n' ' ')
  ENTRY_KDIRS=$(cat "$ESP"/loader/entries/*.conf 2>/dev/null | awk '$1 == "linux" { n = split($2, p, "/"); print p[n - 1] }' | sort -u | tr '\n' ' ')
  KDIRS=$(ls -d "$ESP"/EFI/Linux/bootc_composefs-* 2>/dev/null | sed 's|.*/||' | sort | tr '\n' ' ')
  ENTRY_COUNT=$(ls "$ESP"/loader/entries/*.conf 2>/dev/null | wc -l)
  esp_umount
  DEPLOYS=$(ls /sysroot/state/deploy | sort | tr '\n' ' ')
  echo "inventory: entries=$ENTRY_COUNT [$ENTRY_VERITIES] entry-kdirs=[$ENTRY_KDIRS] kdirs=[$KDIRS] deploys=[$DEPLOYS]"
}

# kdir_of VERITY: the kernel dir the boot entry of that deployment uses.
kdir_of() {
  esp_mount
  for f in "$ESP"/loader/entries/*.conf; do
    grep -qE "composefs=\\??$1( |\$)" "$f" || continue
    awk '$1 == "linux" { n = split($2, p, "/"); print p[n - 1] }' "$f"
  done
  esp_umount
}

# sorted "a b" of two words
pair() {
  printf '%s\n%s\n' "$1" "$2" | sort | tr '\n' ' '
}

# sorted "a b c"
triple() {
  printf '%s\n%s\n%s\n' "$1" "$2" "$3" | sort | tr '\n' ' '
}

# At boot, GC (finalize's) kept exactly the booted and the rollback boot
# entries and only the kernel dirs they use. State dirs are pruned by the next
# upgrade's GC (bootc.md §7): the previous rollback's may still be there.
assert_only_booted_and_rollback() {
  boot_inventory
  assert_eq "$R_" present "a rollback deployment exists"
  assert_eq "$ENTRY_COUNT" 2 "boot entries"
  assert_eq "$ENTRY_VERITIES" "$(pair "$B_VERITY" "$R_VERITY")" "entries are booted + rollback"
  assert_eq "$KDIRS" "$ENTRY_KDIRS" "kernel dirs are those the entries use"
  case " $DEPLOYS " in *" $B_VERITY "*) ;; *) fail "state dirs [$DEPLOYS] lack the booted one" ;; esac
  case " $DEPLOYS " in *" $R_VERITY "*) pass "state dirs include booted + rollback" ;; *) fail "state dirs [$DEPLOYS] lack the rollback" ;; esac
  [ "$(echo $DEPLOYS | wc -w)" -le 3 ] || fail "more than booted + rollback + the previous rollback in state/deploy: [$DEPLOYS]"
}

# After an upgrade staged: its pruning GC left exactly booted, rollback and staged state dirs.
assert_staged_gc() {
  DEPLOYS=$(ls /sysroot/state/deploy | sort | tr '\n' ' ')
  assert_eq "$DEPLOYS" "$(triple "$B_VERITY" "$R_VERITY" "$S_VERITY")" "state dirs after the upgrade's GC are booted + rollback + staged"
}

# A pruning GC leaves exactly booted + rollback, and a second one has nothing left to do.
assert_gc_converged() {
  run_ok tsbootc internals composefs-gc --prune-repo
  DEPLOYS=$(ls /sysroot/state/deploy | sort | tr '\n' ' ')
  assert_eq "$DEPLOYS" "$(pair "$B_VERITY" "$R_VERITY")" "state dirs after composefs-gc --prune-repo are booted + rollback"
  run_ok tsbootc internals composefs-gc --prune-repo --assert-no-op
}
