# tsbootc developer entry point. `just` comes from the npm package rust-just
# (node_modules/.bin/just after `bash scripts/setup.sh`).

# List the recipes
default:
    @just --list

# Install Debian and npm dependencies (idempotent)
setup:
    bash scripts/setup.sh

# Compile TypeScript to dist/
build:
    npx tsc -p tsconfig.json

# Type-check, check docs/cli.md is current, and run the unit tests
check: build
    node scripts/run-tests.mjs unit

# Unit tests (pure, fake roots)
test: build
    node scripts/run-tests.mjs unit

# Integration tests (the built CLI as a subprocess)
test-integration: build
    node scripts/run-tests.mjs integration

# Privileged tests (root: loop devices, mounts, a local registry)
test-privileged: build
    node scripts/run-tests.mjs privileged

# Every tier CI runs (unit + integration + privileged), as `npm test`
test-all:
    npm test

# VM tests under qemu TCG: the test images, install-boot and tmt's booted tests with
# tests-integration/vm/lib/tmt-vm.ts in tmt's place (npm test runs the vm-ci subset)
test-vm: build
    node scripts/run-tests.mjs vm

# tmt's booted tests as bootc runs them: one bcvk libvirt VM per test, `tmt run … provision
# --how connect`. Needs tmt, bcvk, rsync, ssh, KVM, and TSBOOTC_TMT_IMAGE: a bootable image in
# containers-storage carrying tsbootc, node and sshd, whose guest has the images dir of
# tmt/README.md at TSBOOTC_TEST_IMAGES. Without tmt or bcvk: says why, exits 1 (use test-vm).
test-tmt *FILTER: build
    #!/usr/bin/env bash
    set -euo pipefail
    for tool in tmt bcvk rsync ssh; do
      if ! command -v "$tool" >/dev/null; then
        echo "test-tmt: $tool not found; tmt's booted tests need tmt and bcvk (KVM + libvirt). On this machine run: just test-vm" >&2
        exit 1
      fi
    done
    image=${TSBOOTC_TMT_IMAGE:?test-tmt: set TSBOOTC_TMT_IMAGE to a bootable image with tsbootc, node and sshd (tmt/README.md)}
    work=target/tmt-workdir
    mkdir -p "$work" && rsync -a --delete --force .fmf tmt "$work/"
    cd "$work"
    failed=0
    for t in $(tmt test ls | grep '^/'); do
      if [ -n "{{FILTER}}" ] && ! printf '%s\n' {{FILTER}} | grep -qF -- "$(basename "$t")"; then continue; fi
      vm="tsbootc-tmt-$$-$(basename "$t")"
      bcvk libvirt run --name "$vm" --detach --firmware=uefi-insecure --label=tsbootc.test=1 --filesystem=ext4 --bootloader=systemd --composefs-backend "$image"
      info=$(for i in $(seq 60); do bcvk libvirt inspect "$vm" --format=json 2>/dev/null && break; sleep 1; done)
      port=$(printf '%s' "$info" | jq -r .ssh_port)
      key=$(mktemp) && printf '%s' "$info" | jq -r .ssh_private_key > "$key" && chmod 600 "$key"
      if ! tmt run --all -e TMT_SCRIPTS_DIR=/var/lib/tmt/scripts -e "TSBOOTC_TEST_IMAGES=${TSBOOTC_TEST_IMAGES:-/var/lib/tsbootc-test/images}" \
          provision --how=connect --guest=localhost --user=root --port "$port" --key "$key" tests --name "$t"; then
        failed=$((failed + 1))
      fi
      bcvk libvirt rm --stop --force "$vm" || true
      rm -f "$key"
    done
    [ "$failed" -eq 0 ] || { echo "test-tmt: $failed test(s) failed" >&2; exit 1; }

# Benchmarks against peer tools, side by side (results: docs/performance.md)
bench: build
    for f in dist/bench/*.js; do node "$f"; done

# Regenerate docs/cli.md from the command table
fmt: build
    node scripts/gen-cli-doc.mjs

# Static checks: the compiler in strict mode and the architecture test
lint: build
    node scripts/run-tests.mjs unit architecture
