// SubscribeToJob(jobId, afterSequence): what a reconnecting client missed is replayed, in
// order, without gaps or duplicates, and matches the REST history.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useServer, createJob, report, getHistory, collect, barrier } from '../lib/server.mjs';

const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('afterSequence replay', () => {
  const ctx = useServer();

  for (const version of [7, 10]) {
    test(`client ${version}: a re-subscriber with afterSequence k gets exactly k+1..n, then live updates`, async () => {
      const job = await createJob(ctx.url, { videoId: 'vid-replay' });
      const first = await ctx.connect(version);
      const seen = collect(first, 'JobProgressUpdate');
      await first.invoke('SubscribeToJob', job.jobId);
      for (let i = 1; i <= 4; i++) await report(ctx.url, job.jobId, { progress: i * 5, statusMessage: `first ${i}` });
      await seen.waitFor((u) => u.sequence === 5);
      assert.deepEqual(seen.events.map((u) => u.sequence), range(1, 5));
      const k = seen.events.at(-1).sequence;
      await first.stop();

      // Missed while disconnected.
      for (let i = 1; i <= 5; i++) {
        await report(ctx.url, job.jobId, { progress: 20 + i * 10, currentStage: `missed ${i}`, metadata: { i } });
      }
      const n = k + 5;

      const second = await ctx.connect(version);
      const replayed = collect(second, 'JobProgressUpdate');
      assert.equal(await second.invoke('SubscribeToJob', job.jobId, k), null);
      await replayed.waitFor((u) => u.sequence === n);
      // A live update after the replay: the stream goes on without a gap.
      await report(ctx.url, job.jobId, { progress: 95, statusMessage: 'live' });
      await replayed.waitFor((u) => u.sequence === n + 1);
      await barrier(ctx.url, second, replayed);
      assert.deepEqual(replayed.events.map((u) => u.sequence), range(k + 1, n + 1),
        'exactly the missed sequences, in order, no duplicates (the snapshot is not repeated)');

      const history = await getHistory(ctx.url, job.jobId, `?afterSequence=${k}`);
      assert.deepEqual(history.map((e) => e.sequence), range(k + 1, n + 1));
      for (const [i, h] of history.entries()) {
        const u = replayed.events[i];
        for (const key of ['sequence', 'progress', 'status', 'currentStage', 'statusMessage', 'updatedAt']) {
          assert.deepEqual(u[key], h[key], `replayed seq ${u.sequence} ${key} matches history`);
        }
        assert.equal(u.jobId, job.jobId);
        assert.equal(u.videoId, 'vid-replay');
      }
      assert.equal(replayed.events[0].currentStage, 'missed 1');
      assert.equal(replayed.events[0].progress, 30);
    });
  }

  test('afterSequence 0 replays the whole history once', async () => {
    const job = await createJob(ctx.url);
    for (let i = 1; i <= 3; i++) await report(ctx.url, job.jobId, { progress: i * 10 });
    await report(ctx.url, job.jobId, { status: 'Completed' });
    const connection = await ctx.connect(10);
    const updates = collect(connection, 'JobProgressUpdate');
    await connection.invoke('SubscribeToJob', job.jobId, 0);
    await updates.waitFor((u) => u.sequence === 5);
    await barrier(ctx.url, connection, updates);
    const mine = updates.events.filter((u) => u.jobId === job.jobId);
    assert.deepEqual(mine.map((u) => u.sequence), [1, 2, 3, 4, 5]);
    assert.deepEqual(mine.map((u) => u.status), ['Pending', 'Running', 'Running', 'Running', 'Completed']);
    assert.deepEqual(mine.map((u) => u.progress), [0, 10, 20, 30, 100]);
  });

  test('reports racing with a replaying subscription are neither lost nor duplicated', async () => {
    const job = await createJob(ctx.url);
    for (let i = 1; i <= 10; i++) await report(ctx.url, job.jobId, { progress: i });
    const k = 4;
    const total = 40;
    const connection = await ctx.connect(10);
    const updates = collect(connection, 'JobProgressUpdate');
    // A worker keeps reporting while the client subscribes.
    const worker = (async () => {
      for (let i = 11; i <= total; i++) await report(ctx.url, job.jobId, { progress: i });
    })();
    await connection.invoke('SubscribeToJob', job.jobId, k);
    await worker;
    const last = total + 1;
    await updates.waitFor((u) => u.sequence === last, 10_000);
    await barrier(ctx.url, connection, updates);
    const mine = updates.events.filter((u) => u.jobId === job.jobId);
    assert.deepEqual(mine.map((u) => u.sequence), range(k + 1, last));
    assert.deepEqual(mine.map((u) => u.progress), range(k, total));
  });
});
