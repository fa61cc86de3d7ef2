import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { canonicalJson } from './canonical-json.js';

test('keys are sorted by UTF-16 code units, output is compact', () => {
  assert.equal(canonicalJson({ b: 1, a: [true, null, 'x'], '€': 1, '\u0080': 2, A: { z: 0, y: -0.5 } }), '{"A":{"y":-0.5,"z":0},"a":[true,null,"x"],"b":1,"\u0080":2,"€":1}');
});

test('RFC 8785 number and string forms', () => {
  assert.equal(canonicalJson([1e21, 1e-7, 0.1, 333333333.33333329, -0, 4.5e15]), '[1e+21,1e-7,0.1,333333333.3333333,0,4500000000000000]');
  assert.equal(canonicalJson('\u2028"\\\n\u0001'), '"\u2028\\"\\\\\\n\\u0001"');
  assert.equal(canonicalJson({ u: undefined, n: null }), '{"n":null}');
  assert.throws(() => canonicalJson(NaN), /non-finite/);
});
