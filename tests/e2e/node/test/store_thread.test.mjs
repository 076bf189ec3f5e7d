// Both places store work can run (Server:DedicatedStoreThread): on a thread of its own
// (the default) and on the first I/O thread. Under concurrent reports every subscriber gets
// every update in order, and a SIGTERM in the middle of the stream loses no report the
// server acknowledged.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import os from 'node:os';
import {
  startServer, createJob, getHistory, collect, connect, safeStop, HUB_PATH,
} from '../lib/server.mjs';

const modes = [
  ['on the first I/O thread', { Server__DedicatedStoreThread: 'false', Server__IoThreads: '2' }],
  ['on a dedicated thread', { Server__DedicatedStoreThread: 'true', Server__IoThreads: '2' }],
];

async function post(url, jobId, body) {
  const res = await fetch(`${url}/api/v1/jobs/${jobId}/progress`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  await res.text();
  return res.status;
}

for (const [where, env] of modes) {
  describe(`store work ${where}`, () => {
    test('concurrent reports reach every subscriber complete and in order', async () => {
      const server = await startServer({ env });
      const clients = [];
      try {
        const jobs = await Promise.all(Array.from({ length: 12 }, () => createJob(server.url)));
        const streams = [];
        for (const job of jobs) {
          const c = await connect(10, server.url);
          clients.push(c);
          const updates = collect(c, 'JobProgressUpdate');
          await c.invoke('SubscribeToJob', job.jobId);
          streams.push(updates);
        }
        const reports = 30;
        await Promise.all(
          jobs.map(async (job) => {
            for (let i = 1; i <= reports; i++) {
              assert.equal(await post(server.url, job.jobId, { progress: i, currentStage: `s${i}` }), 200);
            }
          }),
        );
        for (const [i, updates] of streams.entries()) {
          await updates.waitFor((u) => u.sequence === reports + 1, 10_000);
          assert.deepEqual(
            updates.events.map((u) => u.sequence),
            Array.from({ length: reports + 1 }, (_, k) => k + 1),
            `job ${jobs[i].jobId}: the snapshot, then every report once, in order`,
          );
        }
      } finally {
        for (const c of clients) await safeStop(c);
        await server.stop('SIGKILL');
      }
    });

    test('SIGTERM mid-stream: exit 0, and every acknowledged report is in the history after a restart', async () => {
      const first = await startServer({ env });
      const dataDir = first.dataDir;
      let second;
      try {
        const job = await createJob(first.url);
        let acknowledged = 0;
        let stopped = false;
        const publisher = (async () => {
          for (let i = 1; !stopped && i < 100_000; i++) {
            let status;
            try {
              status = await post(first.url, job.jobId, { progress: (i % 100) + 0.5 });
            } catch {
              return;  // the server is gone
            }
            if (status !== 200) return;
            acknowledged = i;
          }
        })();
        while (acknowledged < 50) await new Promise((r) => setTimeout(r, 5));
        const exit = await first.stop('SIGTERM', { keepDataDir: true });
        stopped = true;
        await publisher;
        assert.equal(exit.code, 0, `clean exit (${JSON.stringify(exit)})`);
        assert.notEqual(exit.timedOut, true);

        second = await startServer({ dataDir, env });
        const history = await getHistory(second.url, job.jobId, '?limit=1000');
        const last = history.at(-1).sequence;
        assert.ok(last >= acknowledged + 1, `${acknowledged} reports were acknowledged; the history ends at ${last}`);
        assert.deepEqual(history.map((e) => e.sequence), Array.from({ length: history.length }, (_, k) => k + 1));
        // The hub answers on the restarted server.
        const res = await fetch(`${second.url}${HUB_PATH}/negotiate?negotiateVersion=1`, { method: 'POST' });
        assert.equal(res.status, 200);
      } finally {
        await first.stop('SIGKILL', { keepDataDir: true });
        if (second) await second.stop('SIGKILL');
      }
    });
  });
}

describe('where store work runs by default (Server:DedicatedStoreThread=auto)', () => {
  const threads = (pid) => readdirSync(`/proc/${pid}/task`).length;

  test('a thread of its own with two CPUs, the first I/O thread with one; both serve reports', {
    skip: os.availableParallelism() < 2 && 'needs two CPUs',
  }, async () => {
    const seen = {};
    const launches = [
      ['two CPUs', ['taskset', '-c', '0,1'], { Server__IoThreads: '1' }],
      ['one CPU', ['taskset', '-c', '0'], { Server__IoThreads: '1' }],
      // The default I/O thread count follows the affinity mask too: one here.
      ['one CPU, default I/O threads', ['taskset', '-c', '0'], {}],
    ];
    for (const [name, wrap, env] of launches) {
      const server = await startServer({ env, wrap, logLevel: 'info' });
      const clients = [];
      try {
        const job = await createJob(server.url);
        const c = await connect(10, server.url);
        clients.push(c);
        const updates = collect(c, 'JobProgressUpdate');
        await c.invoke('SubscribeToJob', job.jobId);
        for (let i = 1; i <= 5; i++) assert.equal(await post(server.url, job.jobId, { progress: i * 10 }), 200);
        await updates.waitFor((u) => u.sequence === 6, 10_000);
        seen[name] = { threads: threads(server.proc.pid), log: server.logs() };
      } finally {
        for (const c of clients) await safeStop(c);
        await server.stop('SIGKILL');
      }
    }
    assert.match(seen['two CPUs'].log, /store work runs on a thread of its own \(2 CPUs available, Server:DedicatedStoreThread=auto\)/);
    assert.match(seen['one CPU'].log, /store work runs on the first I\/O thread \(1 CPU available, Server:DedicatedStoreThread=auto\)/);
    assert.equal(seen['two CPUs'].threads, seen['one CPU'].threads + 1, 'exactly the store thread more with two CPUs');
    assert.match(seen['one CPU, default I/O threads'].log, /\(1 I\/O thread\)/);
    assert.equal(seen['one CPU, default I/O threads'].threads, seen['one CPU'].threads);
  });
});
