// Smoke test of every installed client generation: connect over WebSockets, subscribe,
// receive the snapshot and a live update, call a method with a result, stop cleanly.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useServer, createJob, report, collect, signalrPackageVersion } from '../lib/server.mjs';

const GENERATIONS = [[5, '5.0.17'], [6, '6.0.25'], [7, '7.0.14'], [8, '8.0.29'], [10, '10.0.11']];

describe('client generations', () => {
  const ctx = useServer();

  for (const [version, expected] of GENERATIONS) {
    test(`@microsoft/signalr ${expected}`, async () => {
      assert.equal(signalrPackageVersion(version), expected);
      const job = await createJob(ctx.url, { videoId: `vid-gen-${version}` });
      const connection = await ctx.connect(version);
      assert.equal(connection.state, 'Connected');
      assert.equal(typeof connection.connectionId, 'string');
      const updates = collect(connection, 'JobProgressUpdate');
      const completed = collect(connection, 'JobCompleted');
      assert.equal(await connection.invoke('SubscribeToJob', job.jobId), null);
      await updates.waitForCount(1);
      await report(ctx.url, job.jobId, { progress: 50 });
      await report(ctx.url, job.jobId, { status: 'Completed' });
      await completed.waitForCount(1);
      assert.deepEqual(updates.events.map((u) => u.sequence), [1, 2, 3]);
      const state = await connection.invoke('GetJobProgress', job.jobId);
      assert.equal(state.status, 'Completed');
      assert.equal(state.progress, 100);
      await connection.stop();
      assert.equal(connection.state, 'Disconnected');
    });
  }
});
