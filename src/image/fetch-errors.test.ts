import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { backoffDelays, classifySkopeoMessage, DEFAULT_RETRY, FetchError, skopeoMessage, withRetry } from './fetch-errors.js';

test('skopeoMessage takes the last fatal msg, unescaped, else the last line', () => {
  assert.equal(
    skopeoMessage('Getting image source signatures\ntime="2026-11-29T22:33:07Z" level=warning msg="w"\ntime="2026-11-29T22:33:07Z" level=fatal msg="Error parsing image name \\"docker://h/x:1\\": manifest unknown"\n'),
    'manifest unknown',
  );
  assert.equal(skopeoMessage('time="x" level=fatal msg="initializing source docker://127.0.0.1:5055/test:v1: pinging container registry 127.0.0.1:5055: EOF"'), 'pinging container registry 127.0.0.1:5055: EOF');
  assert.equal(skopeoMessage('time="x" level=fatal msg="Error parsing image name \\"docker://h:5000/t:nope\\": reading manifest nope in h:5000/t: manifest unknown: manifest unknown"'), 'manifest unknown');
  assert.equal(skopeoMessage('Error: something broke\n\n'), 'something broke');
  assert.equal(skopeoMessage(''), 'skopeo failed without a message');
});

test('classification of the messages skopeo 1.9 prints', () => {
  const cases: Array<[string, string]> = [
    ['reading manifest v1 in 127.0.0.1:5000/private: unauthorized: authentication required', 'auth'],
    ['pinging container registry 127.0.0.1:5000: Get "https://127.0.0.1:5000/v2/": http: server gave HTTP response to HTTPS client', 'tls'],
    ['pinging container registry q.io: Get "https://q.io/v2/": x509: certificate signed by unknown authority', 'tls'],
    ['reading manifest v9 in 127.0.0.1:5000/test: manifest unknown: manifest unknown', 'not-found'],
    ['open /srv/nope/index.json: no such file or directory', 'not-found'],
    ['pinging container registry 127.0.0.1:5056: Get "https://127.0.0.1:5056/v2/": dial tcp 127.0.0.1:5056: connect: connection refused', 'transient'],
    ['writing blob: happened during read: unexpected EOF', 'transient'],
    ['reading blob sha256:ab: Get "http://h/v2/x/blobs/sha256:ab": read tcp 127.0.0.1:1->127.0.0.1:2: read: connection reset by peer', 'transient'],
    ['received unexpected HTTP status: 503 Service Unavailable', 'transient'],
    ['no descriptor found for reference "nosuchtag"', 'not-found'],
    ['reference "[overlay@/var/lib/containers/storage+/run/containers/storage]localhost/x:1" does not resolve to an image ID: identifier is not an image', 'not-found'],
    ['Source image rejected: Running image oci:/x:v1 is rejected by policy.', 'other'],
  ];
  assert.deepEqual(cases.map(([m]) => classifySkopeoMessage(m)), cases.map(([, k]) => k));
});

test('the default retry policy: 4 attempts, 1 s, 2 s, 4 s between them', () => {
  assert.deepEqual(DEFAULT_RETRY, { attempts: 4, baseDelayMs: 1000 });
  assert.deepEqual(backoffDelays(DEFAULT_RETRY), [1000, 2000, 4000]);
  assert.deepEqual(backoffDelays({ attempts: 1, baseDelayMs: 5 }), []);
});

test('withRetry: retries transient errors only, sleeps the backoff, gives up after the last attempt', async () => {
  const slept: number[] = [];
  const heard: string[] = [];
  let n = 0;
  const transient = new FetchError('transient', 'down');
  await assert.rejects(
    withRetry({ attempts: 3, baseDelayMs: 10 }, async () => {
      n++;
      throw transient;
    }, { isTransient: (e) => e instanceof FetchError && e.kind === 'transient', sleep: async (ms) => void slept.push(ms), onRetry: (_e, a, d) => heard.push(`${a}:${d}`) }),
    (e: unknown) => e === transient,
  );
  assert.deepEqual({ n, slept, heard }, { n: 3, slept: [10, 20], heard: ['1:10', '2:20'] });

  n = 0;
  const auth = new FetchError('auth', 'no');
  await assert.rejects(withRetry({ attempts: 3, baseDelayMs: 10 }, async () => {
    n++;
    throw auth;
  }, { isTransient: (e) => e instanceof FetchError && e.kind === 'transient', sleep: async () => undefined }), (e: unknown) => e === auth);
  assert.equal(n, 1);

  assert.equal(await withRetry({ attempts: 3, baseDelayMs: 1 }, async (a) => {
    if (a < 3) throw transient;
    return a;
  }, { isTransient: () => true, sleep: async () => undefined }), 3);
});
