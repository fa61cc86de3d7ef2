import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Root } from '../sys/root.js';
import type { Host } from '../sys/host.js';
import type { Runner } from '../sys/runner.js';
import { memoryLogger } from '../util/log.js';
import { formatErrorChain } from '../util/errors.js';
import { findAuthfile, isRegistryInsecure, registryHost, resolveContainersConfig } from './containers-config.js';

const noRun: Runner = { run: () => Promise.reject(new Error('no subprocess expected')) };

function withRoot(fn: (root: string, host: (env?: Record<string, string>) => Host, put: (p: string, s?: string) => string) => Promise<void>): () => Promise<void> {
  return async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'tsbootc-cc-'));
    const put = (p: string, s = '{}') => {
      const real = path.join(root, p);
      mkdirSync(path.dirname(real), { recursive: true });
      writeFileSync(real, s);
      return real;
    };
    try {
      await fn(root, (env = {}) => ({ root: new Root(root), run: noRun, env, now: () => new Date(0), log: memoryLogger(), isRoot: true }), put);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  };
}

test('auth files in bootc order: /run/ostree, /etc/ostree, /usr/lib/ostree, then $XDG_RUNTIME_DIR/containers', withRoot(async (root, host, put) => {
  const h = host({ XDG_RUNTIME_DIR: '/run/user/0' });
  assert.equal(await findAuthfile(h, undefined), undefined);
  const steps = ['/run/user/0/containers/auth.json', '/usr/lib/ostree/auth.json', '/etc/ostree/auth.json', '/run/ostree/auth.json'];
  for (const p of steps) {
    put(p);
    assert.equal(await findAuthfile(h, undefined), path.join(root, p));
  }
  // an explicit --authfile wins, and is a path on the running system
  const explicit = put('/elsewhere/auth.json');
  assert.equal(await findAuthfile(h, explicit), explicit);
  await assert.rejects(findAuthfile(h, path.join(root, 'missing.json')), (e: unknown) => formatErrorChain(e) === `auth file ${path.join(root, 'missing.json')} does not exist`);
}));

test('a symlinked /etc/ostree/auth.json counts (the target is resolved by skopeo)', withRoot(async (root, host, put) => {
  put('/etc/containers/auth.json');
  mkdirSync(path.join(root, 'etc/ostree'), { recursive: true });
  symlinkSync('../containers/auth.json', path.join(root, 'etc/ostree/auth.json'));
  assert.equal(await findAuthfile(host(), undefined), path.join(root, 'etc/ostree/auth.json'));
}));

test('resolveContainersConfig: Root registries.conf or the empty stand-in, policy only when enforced, noCreds off-host', withRoot(async (root, host, put) => {
  const h = host();
  assert.deepEqual(await resolveContainersConfig(h, { emptyRegistriesConf: '/w/empty.conf' }), {
    registriesConf: '/w/empty.conf', registriesConfHostPath: undefined, authfile: undefined, noCreds: true, policy: { kind: 'insecure' },
  });
  await assert.rejects(resolveContainersConfig(h, { emptyRegistriesConf: '/w/e', enforceSigpolicy: true }), (e: unknown) =>
    formatErrorChain(e) === 'Reading the containers configuration: --enforce-container-sigpolicy: /etc/containers/policy.json does not exist');
  put('/etc/containers/registries.conf', '');
  put('/etc/containers/policy.json');
  put('/etc/ostree/auth.json');
  assert.deepEqual(await resolveContainersConfig(h, { emptyRegistriesConf: '/w/e', enforceSigpolicy: true }), {
    registriesConf: path.join(root, 'etc/containers/registries.conf'),
    registriesConfHostPath: '/etc/containers/registries.conf',
    authfile: path.join(root, 'etc/ostree/auth.json'),
    noCreds: false,
    policy: { kind: 'file', path: path.join(root, 'etc/containers/policy.json') },
  });
}));

test('registryHost normalizes like containers-image', () => {
  assert.deepEqual(
    ['quay.io/x/y:1', '127.0.0.1:5000/test:v1', 'localhost/bootc', 'fedora:40', 'library/fedora', 'registry.example.com/a@sha256:' + '0'.repeat(64)].map(registryHost),
    ['quay.io', '127.0.0.1:5000', 'localhost', 'docker.io', 'docker.io', 'registry.example.com'],
  );
});

test('isRegistryInsecure: the longest matching [[registry]] prefix decides', () => {
  const conf = `
unqualified-search-registries = []
[[registry]]
location = "127.0.0.1:5000"
insecure = true
[[registry]]
prefix = "127.0.0.1:5000/secure"
location = "127.0.0.1:5000/secure"
insecure = false
`;
  assert.deepEqual(
    ['127.0.0.1:5000/test:v1', '127.0.0.1:5000/secure/x:1', '127.0.0.1:50001/test:v1', 'quay.io/x:1'].map((i) => isRegistryInsecure(conf, i)),
    [true, false, false, false],
  );
  assert.throws(() => isRegistryInsecure('[[registry', 'x/y'), /registries.conf is not valid TOML/);
});
