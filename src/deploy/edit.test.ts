import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { TestRoot } from '../testing/test-root.js';
import { withBootState } from './boot-state.js';
import { applyEdit, parseHostSpec, planEdit, sameSpecImage } from './edit.js';
import { getStatus } from './status.js';
import type { HostSpec, ImageReference } from './host-spec.js';

const img = (image: string, signature?: ImageReference['signature']): ImageReference => (signature === undefined ? { image, transport: 'registry' } : { image, transport: 'registry', signature });

test('parseHostSpec: YAML and JSON, defaults for an absent bootOrder and transport, signatures', () => {
  assert.deepEqual(parseHostSpec('spec:\n  image:\n    image: q/a:1\n', 'f'), { image: img('q/a:1'), bootOrder: 'default' });
  assert.deepEqual(parseHostSpec('{"spec":{"image":null,"bootOrder":"rollback"}}', 'f'), { image: null, bootOrder: 'rollback' });
  assert.deepEqual(parseHostSpec('spec:\n  image: {image: q/a, transport: oci, signature: containerPolicy}\n', 'f'), { image: { image: 'q/a', transport: 'oci', signature: 'containerPolicy' }, bootOrder: 'default' });
  assert.throws(() => parseHostSpec('spec: {image: {image: q, signature: 7}}', 'f'), /^FormatError: f: spec.image.signature is not one bootc knows$/);
  assert.throws(() => parseHostSpec('spec: [', 'f'), /^FormatError: f: not YAML or JSON: /);
});

test('planEdit / sameSpecImage', () => {
  const cur: HostSpec = { image: img('q/a:1'), bootOrder: 'default' };
  assert.equal(planEdit(cur, { image: img('q/a:1', 'insecure'), bootOrder: 'default' }), 'none', 'absent signature = insecure');
  assert.equal(planEdit(cur, { image: img('q/a:1'), bootOrder: 'rollback' }), 'bootOrder');
  assert.equal(planEdit(cur, { image: img('q/a:2'), bootOrder: 'default' }), 'image');
  assert.throws(() => planEdit(cur, { image: img('q/a:2'), bootOrder: 'rollback' }), /^TsbootcError: Invalid state transition: rollback and image change$/);
  assert.throws(() => planEdit(cur, { image: null, bootOrder: 'default' }), /spec.image cannot be removed/);
  assert.equal(sameSpecImage(img('q/a', 'containerPolicy'), img('q/a')), false);
});

test('applyEdit: an image change goes to the switch given in deps, with the wanted reference; nothing else runs', async () => {
  const t = await TestRoot.create({ layout: 'systemd-uki' });
  const cur = (await getStatus(t.host(), { bootedOnly: false })).host.spec;
  const calls: ImageReference[] = [];
  const wanted: HostSpec = { image: { image: 'quay.io/example/other:2', transport: 'registry', signature: 'containerPolicy' }, bootOrder: 'default' };
  const r = await withBootState(t.host(), (st) =>
    applyEdit(st!, cur, wanted, {
      switchTo: async (_st, image) => {
        calls.push(image);
        return ['Queued for next boot: quay.io/example/other:2'];
      },
    }),
  );
  assert.deepEqual([r, calls], [{ change: 'image', messages: ['Queued for next boot: quay.io/example/other:2'] }, [wanted.image]]);
});
