// Leases on MariaDB (issue 13): two Herald nodes on one MariaDB database run the built-in
// pipeline; node A is killed with SIGKILL while its transcription runs. Node B takes the
// job over once A's (short) lease expires and finishes it, the dead attempt counted; A's
// late report, replayed with its old lease token, is refused (409) and stored nowhere.
// The same as workers.test.mjs does on a shared SQLite file, on the store several nodes
// really share. Needs HERALD_TEST_MARIADB (tools/test.sh starts a throwaway MariaDB; by
// hand: eval "$(tools/mariadb.sh start)").
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, connect, safeStop, getJob, getHistory, postJson, TIME_SCALE, removeDir,
} from '../lib/server.mjs';
import { prepareMedia } from '../lib/media.mjs';
import { ingest, waitForChildJob, waitForJob, PipelineWatcher } from '../lib/media_pipeline.mjs';
import { freshDatabase } from '../lib/mariadb.mjs';

const MARIADB = process.env.HERALD_TEST_MARIADB;
const skipWithoutMariaDb = !MARIADB && 'HERALD_TEST_MARIADB is not set (tools/test.sh starts a throwaway MariaDB)';

const reportRaw = (url, id, body) => postJson(url, `/api/v1/jobs/${id}/progress`, body);

describe('two nodes on one MariaDB: kill -9 mid-transcription', { skip: skipWithoutMariaDb }, () => {
  let db;
  let media;
  before(async () => {
    db = await freshDatabase(MARIADB, 'herald_lease');
    media = await prepareMedia();
  });
  after(async () => {
    await db?.drop();
  });

  test('node B finishes the job after node A\'s lease expires, the attempt counted; A\'s late report is refused', { timeout: 240_000 * TIME_SCALE }, async () => {
    const env = {
      ConnectionStrings__Default: db.connectionString,
      Jobs__LeaseSeconds: String(Math.ceil(3 * TIME_SCALE)),
    };
    const first = await startServer({ env: { ...env, Herald__NodeId: 'node-a' } });
    // The media A downloaded is where B looks for it (the job's metadata names the path).
    const dataDir = first.dataDir;
    let second;
    let c;
    try {
      const job = await ingest(first.url, { url: media.speech.url });
      const transcriptionId = await waitForChildJob(first.url, job.videoId, 'Transcription');
      await waitForJob(first.url, transcriptionId, (j) => j.status === 'Running' && j.progress >= 30, 60_000, 'mid-transcription');
      // B starts while A runs the job: it leaves node-a's live lease alone.
      second = await startServer({ dataDir, env: { ...env, Herald__NodeId: 'node-b' } });
      c = await connect(10, second.url, { logLevel: 'None' });
      const watcher = new PipelineWatcher(c);
      await c.invoke('SubscribeToJob', transcriptionId, 0);
      const leaseOf = async () => (await db.query(`SELECT lease_owner, lease_token FROM jobs WHERE id = '${transcriptionId}'`))[0];
      const [ownerBefore, oldToken] = await leaseOf();
      assert.equal(ownerBefore, 'node-a');
      assert.match(oldToken, /^[0-9a-f]{32}$/);
      const running = await getJob(second.url, transcriptionId);
      assert.equal(running.status, 'Running');
      assert.equal(running.attempts, 1);

      assert.equal((await first.kill9()).signal, 'SIGKILL');
      const done = await waitForJob(second.url, transcriptionId, (j) => j.status === 'Completed', 120_000, 'completed on node-b');
      assert.equal(done.attempts, 2, 'the dead attempt counted');
      const takeover = watcher.updates(transcriptionId).find((u) => /lease of node-a expired/.test(u.statusMessage));
      assert.ok(takeover, watcher.describe());
      await waitForJob(second.url, job.jobId, (j) => j.status === 'Completed', 120_000, 'pipeline completed');
      const [ownerAfter] = await leaseOf();
      assert.equal(ownerAfter, '', 'an ended job has no lease');

      // node-a's late report, replayed with its old token: refused, stored nowhere.
      const history = await getHistory(second.url, transcriptionId);
      const late = await reportRaw(second.url, transcriptionId, { progress: 60, leaseToken: oldToken });
      assert.equal(late.status, 409);
      assert.deepEqual(await getHistory(second.url, transcriptionId), history);
      const stored = await getJob(second.url, transcriptionId);
      assert.equal(stored.status, 'Completed');
      assert.equal(stored.progress, 100);
      // Exactly two attempts started (A's and B's), both in the history.
      assert.equal(history.filter((h) => /^Attempt \d of \d/.test(h.statusMessage)).length, 2,
        JSON.stringify(history.map((h) => h.statusMessage)));
      // Progress never went backwards after the takeover.
      const after = history.slice(history.findIndex((h) => /lease of node-a expired/.test(h.statusMessage)));
      for (let i = 1; i < after.length; i++) {
        if (after[i].currentStage === after[i - 1].currentStage) {
          assert.ok(after[i].progress >= after[i - 1].progress, `#${after[i].sequence} went back`);
        }
      }
    } finally {
      await safeStop(c);
      if (second) await second.stop('SIGTERM', { keepDataDir: true });
      await first.stop('SIGTERM', { keepDataDir: true });
      removeDir(dataDir);
    }
  });
});
