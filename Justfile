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

# VM tests under qemu TCG: boots the test images (tests-integration/vm); not part of `npm test`
test-vm: build
    node scripts/run-tests.mjs vm

# Benchmarks against peer tools, side by side (results: docs/performance.md)
bench: build
    for f in dist/bench/*.js; do node "$f"; done

# Regenerate docs/cli.md from the command table
fmt: build
    node scripts/gen-cli-doc.mjs

# Static checks: the compiler in strict mode and the architecture test
lint: build
    node scripts/run-tests.mjs unit architecture
