// Fractional progress is written as browsers and .NET write it (29.6, 0.17, 24.38; never
// 2.96E1) in REST answers, history and hub JSON frames alike, read raw.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useServer, createJob, report, request } from '../lib/server.mjs';
import { rawHub } from '../lib/wire.mjs';
import { jsonNumberTexts, assertShortestNumbers } from '../lib/json_numbers.mjs';

describe('JSON numbers', () => {
  const ctx = useServer();

  test('the checker rejects Boost-style exponents and accepts shortest forms', () => {
    assert.throws(() => assertShortestNumbers('{"a":2.96E1}'), /2\.96E1 is not in shortest/);
    assert.throws(() => assertShortestNumbers('[1.7E-1]'), /expected 0\.17/);
    assert.throws(() => assertShortestNumbers('[30.0]'), /expected 30/);
    assertShortestNumbers('{"a":"2.96E1","b":[0.17,24.38,29.6,30,1e+21,1e-7,-3]}');
    assert.deepEqual(jsonNumberTexts('{"x":"1.5E1 \\" 2","y":-0.5}'), ['-0.5']);
  });

  test('progress 29.6, 0.17 and 24.38 read the same in REST, history, metadata and hub frames', async () => {
    const job = await createJob(ctx.url, { metadata: { ratio: 0.17, fps: 29.97 } });
    const hub = ctx.track(await rawHub(ctx.url));
    hub.invoke('SubscribeToJob', [job.jobId], '1');
    await hub.waitForCompletion('1');
    // Progress is kept to tenths of a percent (0.17 is stored as 0.2); metadata as given.
    const steps = [[29.6, 0.17], [0.2, 24.38], [24.4, 29.6]];
    for (const [p, last] of steps) {
      await report(ctx.url, job.jobId, { progress: p, metadata: { last, tiny: 1e-7 } });
      await hub.waitForMessage((m) => m.type === 1 && m.arguments?.[0]?.progress === p, 5000, `update ${p}`);
    }
    // Raw texts: the frames, the job, the history.
    const frames = hub.records.map((r) => r.raw).join('\n');
    const current = (await request(ctx.url, 'GET', `/api/v1/jobs/${job.jobId}`)).text;
    const history = (await request(ctx.url, 'GET', `/api/v1/jobs/${job.jobId}/progress`)).text;
    for (const [where, text] of [['hub frames', frames], ['history', history]]) {
      for (const p of ['29.6', '0.2', '24.4']) {
        assert.ok(text.includes(`"progress":${p}`), `${where} shows "progress":${p}: ${text.slice(0, 400)}`);
      }
      for (const v of ['0.17', '24.38', '29.6']) {
        assert.ok(text.includes(`"last":${v}`), `${where} shows metadata "last":${v}`);
      }
      assert.ok(text.includes('"tiny":1e-7'), `${where} shows 1e-7`);
      assert.ok(text.includes('"ratio":0.17,"fps":29.97'), `${where} keeps the created metadata`);
      assert.doesNotMatch(text, /\dE[+-]?\d/);
    }
    assert.ok(current.includes('"progress":24.4'), current);
    assert.ok(current.includes('"last":29.6'), current);
  });
});
