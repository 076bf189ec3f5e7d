// The server on MariaDB (ConnectionStrings:Default in MySqlConnector form, as users of the
// original write it): jobs and their history survive a restart, two servers on one
// database keep one job's sequences gap-free, and connection strings that cannot work stop
// the start with a clear message that never shows the password.
// The MariaDB cases need HERALD_TEST_MARIADB (tools/test.sh starts a throwaway server;
// by hand: eval "$(tools/mariadb.sh start)").
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, heraldBin, createJob, report, getJob, getHistory } from '../lib/server.mjs';

const MARIADB = process.env.HERALD_TEST_MARIADB;
const skipWithoutMariaDb = !MARIADB && 'HERALD_TEST_MARIADB is not set (tools/test.sh starts a throwaway MariaDB)';
const password = MARIADB ? /Password=([^;]*)/i.exec(MARIADB)?.[1] : undefined;

// Starts the server expecting it to refuse: its exit code and everything it logged.
function refusedStart(connectionString) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'herald-e2e-'));
  return new Promise((resolve) => {
    execFile(heraldBin(), ['serve', '--urls', 'http://127.0.0.1:0', '--data-dir', dir],
      { env: { ...process.env, ConnectionStrings__Default: connectionString }, timeout: 60_000 },
      (error, stdout, stderr) => {
        rmSync(dir, { recursive: true, force: true });
        resolve({ code: error ? error.code : 0, log: stdout + stderr });
      });
  });
}

describe('MariaDB store', { skip: skipWithoutMariaDb }, () => {
  const env = { ConnectionStrings__Default: MARIADB };

  test('a job and its history survive a restart; the log names the server, not the password', async () => {
    const first = await startServer({ env, logLevel: 'info' });
    let second;
    try {
      assert.match(first.logs(), /store: MySQL\/MariaDB herald@127\.0\.0\.1:\d+\/herald_test/);
      assert.ok(!first.logs().includes(password), 'the password is not logged');
      const job = await createJob(first.url, { jobType: 'External', metadata: { source: "it's e2e" } });
      for (let i = 1; i <= 20; i++) {
        await report(first.url, job.jobId, { progress: i * 5, currentStage: `step ${i}`, statusMessage: `ünïcode ${i} 🎬` });
      }
      await report(first.url, job.jobId, { status: 'Completed' });
      const exit = await first.stop('SIGTERM');
      assert.equal(exit.code, 0);

      // A new server with a new data directory: the state is in MariaDB, not on disk here.
      second = await startServer({ env });
      const stored = await getJob(second.url, job.jobId);
      assert.equal(stored.status, 'Completed');
      assert.equal(stored.progress, 100);
      assert.equal(stored.metadata.source, "it's e2e");
      const history = await getHistory(second.url, job.jobId, '?limit=100');
      assert.deepEqual(history.map((e) => e.sequence), Array.from({ length: 22 }, (_, k) => k + 1));
      assert.equal(history[20].statusMessage, 'ünïcode 20 🎬');
      // And it goes on where it left off.
      const again = await createJob(second.url);
      const updated = await report(second.url, again.jobId, { progress: 1 });
      assert.equal(updated.sequence ?? 2, 2);
    } finally {
      await first.stop('SIGKILL');
      if (second) await second.stop('SIGKILL');
    }
  });

  test('two servers on one database: concurrent reports to one job get unique, gap-free sequences', async () => {
    const a = await startServer({ env });
    const b = await startServer({ env });
    try {
      const job = await createJob(a.url, { jobType: 'External' });
      const reports = 40;
      const send = async (server, tag) => {
        for (let i = 1; i <= reports; i++) {
          await report(server.url, job.jobId, { progress: i, statusMessage: `${tag}-${i}` });
        }
      };
      await Promise.all([send(a, 'a'), send(b, 'b')]);
      const history = await getHistory(b.url, job.jobId, '?limit=1000');
      assert.deepEqual(history.map((e) => e.sequence), Array.from({ length: 2 * reports + 1 }, (_, k) => k + 1));
      const messages = new Set(history.slice(1).map((e) => e.statusMessage));
      assert.equal(messages.size, 2 * reports, 'every report recorded once');
      // Each server's reports are in its own order.
      for (const tag of ['a', 'b']) {
        const mine = history.filter((e) => e.statusMessage.startsWith(`${tag}-`)).map((e) => Number(e.statusMessage.slice(2)));
        assert.deepEqual(mine, Array.from({ length: reports }, (_, k) => k + 1));
      }
    } finally {
      await a.stop('SIGKILL');
      await b.stop('SIGKILL');
    }
  });
});

describe('connection strings that cannot work stop the start', () => {
  test('a MariaDB server that does not answer: exit 1, host and port named, password never', async () => {
    const r = await refusedStart('Server=127.0.0.1;Port=1;Database=herald;User=herald;Password=pw-secret-42');
    assert.equal(r.code, 1);
    assert.match(r.log, /cannot open the store \(MySQL\/MariaDB herald@127\.0\.0\.1:1\/herald\)/);
    assert.match(r.log, /cannot connect to MySQL\/MariaDB herald@127\.0\.0\.1:1\/herald/);
    assert.ok(!r.log.includes('pw-secret-42'), r.log);
  });

  test('the wrong password for a real server: exit 1 with the server\'s refusal, password never', { skip: skipWithoutMariaDb }, async () => {
    const wrong = MARIADB.replace(/Password=[^;]*/i, 'Password=not-the-pw-77');
    const r = await refusedStart(wrong);
    assert.equal(r.code, 1);
    assert.match(r.log, /Access denied/);
    assert.ok(!r.log.includes('not-the-pw-77'), r.log);
  });

  test('garbage is refused with a clear message', async () => {
    const r = await refusedStart('Frobnicate=1;Server');
    assert.equal(r.code, 1);
    assert.match(r.log, /ConnectionStrings:Default: connection string/);
  });
});
