/**
 * switch and upgrade through a real local registry (docker-registry on
 * 127.0.0.1, plain HTTP marked insecure in the host's registries.conf):
 * --check, a new image pushed under the same tag, a switch to another
 * repository, and a registry that requires credentials (auth.json in the
 * host's /etc/ostree).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { REPO_ROOT, runCliAsync as runCli } from '../helpers/run-cli.js';
import { writeUnder } from '../helpers/host.js';
import { authJson, insecureRegistriesConf, pushImage } from '../helpers/oci-image.js';
import { registryUnavailable, withRegistry, type Registry } from '../helpers/registry.js';
import { privilegedSkipReason } from '../helpers/tools.js';
import { bootRealImage, buildOsImage } from '../helpers/os-image.js';

const skip = privilegedSkipReason(['skopeo', 'umoci', 'htpasswd']) ?? registryUnavailable();
if (skip !== undefined) console.log(`# skipping lifecycle-registry tests: ${skip}`);

interface StatusJson {
  status: { staged: { image: { image: { image: string; transport: string }; version: string; imageDigest: string } } | null; booted: { image: { version: string } } };
}

function progressValidator() {
  const schema = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'data', 'schemas', 'progress-v0.schema.json'), 'utf8')) as object;
  const ajv = new Ajv2020({ strict: false });
  ajv.addFormat('uint64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) && n >= 0 });
  return ajv.compile(schema);
}

function scratch(prefix: string): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

async function setup(reg: Registry, pushAuth?: string) {
  const work = scratch('tsbootc-lcr-');
  const layout = path.join(work, 'oci');
  const conf = path.join(work, 'registries.conf');
  fs.writeFileSync(conf, insecureRegistriesConf(reg.host));
  const v1 = await buildOsImage(layout, 'v1', { version: '1.0', kernel: '1', etc: { hostname: 'v1\n' } });
  const v2 = await buildOsImage(layout, 'v2', { version: '2.0', kernel: '2', etc: { hostname: 'v2\n' } });
  const push = (tag: string, dest: string) => pushImage(layout, tag, `docker://${reg.host}/${dest}`, { registriesConf: conf, ...(pushAuth !== undefined ? { authfile: pushAuth } : {}) });
  return { work, layout, v1, v2, push };
}

test('upgrade and switch through a local registry', { skip: skip ?? false }, async () => {
  await withRegistry({}, async (reg) => {
    const { layout, v2, push } = await setup(reg);
    await push('v1', 'os:latest');
    const h = await bootRealImage('systemd-type1', layout, 'v1', { transport: 'registry', image: `${reg.host}/os:latest`, signature: { kind: 'insecure' } });
    writeUnder(h.t.dir, '/etc/containers/registries.conf', insecureRegistriesConf(reg.host));
    const none = await runCli(['--root', h.t.dir, 'upgrade', '--check']);
    assert.deepEqual([none.status, none.stdout, none.stderr], [0, `No changes in: ${reg.host}/os:latest\n`, '']);
    await push('v2', 'os:latest');
    const check = await runCli(['--root', h.t.dir, 'upgrade', '--check']);
    assert.equal(check.status, 0, check.stderr);
    assert.match(check.stdout, new RegExp(`^Update available for: ${reg.host}/os:latest\n {2}Digest: ${v2.manifestDigest}\n`));
    assert.equal(fs.existsSync(h.t.p('/run/composefs/staged-deployment')), false);
    const up = await runCli(['--root', h.t.dir, 'upgrade', '--quiet', '--progress-fd', '3'], { fd3: true });
    assert.deepEqual([up.status, up.stdout, up.stderr], [0, `Queued for next boot: ${reg.host}/os:latest\n`, '']);
    // --progress-fd: whole JSON lines, each valid progress-v0, from Start to the last layer's bytes.
    const validate = progressValidator();
    assert.ok(up.fd3!.endsWith('\n'));
    const events = up.fd3!.slice(0, -1).split('\n').map((l) => {
      const e = JSON.parse(l) as Record<string, unknown>;
      assert.ok(validate(e), JSON.stringify(validate.errors));
      return e;
    });
    assert.deepEqual(events[0], { type: 'Start', version: 'org.containers.bootc.progress/v1' });
    const last = events[events.length - 1] as { type: string; bytes: number; bytesTotal: number; steps: number; stepsTotal: number };
    assert.deepEqual([last.type, last.bytes, last.steps], ['ProgressBytes', last.bytesTotal, last.stepsTotal]);
    assert.equal(last.bytesTotal, v2.layers.reduce((n, l) => n + l.size, 0));
    const s = JSON.parse((await runCli(['--root', h.t.dir, 'status', '--json'])).stdout) as StatusJson;
    assert.deepEqual(s.status.staged?.image.image, { image: `${reg.host}/os:latest`, transport: 'registry' });
    assert.deepEqual([s.status.staged?.image.version, s.status.staged?.image.imageDigest, s.status.booted.image.version], ['2.0', v2.manifestDigest, '1.0']);
    await push('v1', 'other:v1');
    const sw = await runCli(['--root', h.t.dir, 'switch', '--quiet', `${reg.host}/other:v1`]);
    assert.deepEqual([sw.status, sw.stdout, sw.stderr], [1, '', 'error: Switching: Target image has the same fs-verity digest as the existing Some(Booted) deployment.\n']);
  });
});

test('switch to an image in a registry that requires credentials', { skip: skip ?? false }, async () => {
  await withRegistry({ auth: { user: 'tester', password: 's3cret' } }, async (reg) => {
    const work = scratch('tsbootc-lcr-auth-');
    const pushAuth = writeUnder(work, 'auth.json', authJson(reg.host, 'tester', 's3cret'));
    const { layout, v2, push } = await setup(reg, pushAuth);
    await push('v2', 'private:v2');
    const h = await bootRealImage('systemd-type1', layout, 'v1');
    writeUnder(h.t.dir, '/etc/containers/registries.conf', insecureRegistriesConf(reg.host));
    const denied = await runCli(['--root', h.t.dir, 'switch', '--quiet', `${reg.host}/private:v2`]);
    assert.equal(denied.status, 1);
    assert.match(denied.stderr, new RegExp(`^error: Switching: Fetching ${reg.host}/private:v2: .*registry ${reg.host} requires authentication and no auth file was found`));
    assert.equal(fs.existsSync(h.t.p('/run/composefs/staged-deployment')), false);
    writeUnder(h.t.dir, '/etc/ostree/auth.json', authJson(reg.host, 'tester', 's3cret'));
    // Issue #10: with debug logging and progress, nothing of the credentials reaches the output.
    const loud = path.join(work, 'loud');
    fs.cpSync(h.t.dir, loud, { recursive: true, verbatimSymlinks: true });
    const debug = await runCli(['--root', loud, '-v', 'switch', `${reg.host}/private:v2`], { env: { TSBOOTC_LOG: 'debug' } });
    assert.equal(debug.status, 0, debug.stderr);
    assert.match(debug.stderr, /auth/); // the debug log does name the auth file it uses…
    for (const secret of ['s3cret', Buffer.from('tester:s3cret').toString('base64')]) assert.ok(!debug.stdout.includes(secret) && !debug.stderr.includes(secret), `${secret} in the output`);
    const ok = await runCli(['--root', h.t.dir, 'switch', '--quiet', `${reg.host}/private:v2`]);
    assert.deepEqual([ok.status, ok.stdout, ok.stderr], [0, `Queued for next boot: ${reg.host}/private:v2\n`, '']);
    const s = JSON.parse((await runCli(['--root', h.t.dir, 'status', '--json'])).stdout) as StatusJson;
    assert.equal(s.status.staged?.image.imageDigest, v2.manifestDigest);
  });
});
