import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { FakeRunner } from '../../testing/fake-runner.js';
import { TestRoot } from '../../testing/test-root.js';
import { memoryOutput } from '../output.js';
import { editHandlers } from './edit.js';

test('edit without -f: $EDITOR (default vi) through the Runner on the current document; untouched ⇒ no changes, bootOrder edited ⇒ rollback', async () => {
  const t = await TestRoot.create({ layout: 'grub-type1' });
  await t.upgrade(1, 'kernel');
  const seen: string[] = [];
  const run = new FakeRunner({ strict: true }).on(['vi'], (argv, opts) => {
    seen.push(readFileSync(argv[1]!, 'utf8'));
    assert.equal(opts.inherit, true, 'the editor gets the terminal');
    return {};
  });
  const out = memoryOutput();
  assert.equal(await editHandlers.edit!({ host: t.host(run), out, argv0: 'tsbootc', verbose: false }, {}), 0);
  assert.equal(out.text(), 'Edit cancelled, no changes made.\n');
  assert.match(seen[0]!, /^apiVersion: org\.containers\.bootc\/v1\nkind: BootcHost\n/);

  const run2 = new FakeRunner({ strict: true }).on(['nano'], (argv) => {
    writeFileSync(argv[1]!, readFileSync(argv[1]!, 'utf8').replace('bootOrder: default', 'bootOrder: rollback'));
    return {};
  });
  const host = { ...t.host(run2), env: { EDITOR: 'nano' } };
  const out2 = memoryOutput();
  assert.equal(await editHandlers.edit!({ host, out: out2, argv0: 'tsbootc', verbose: false }, {}), 0);
  assert.deepEqual([out2.text(), run2.argvs.map((a) => a[0])], ['Next boot: rollback deployment\n', ['bootctl', 'nano']]);
});
