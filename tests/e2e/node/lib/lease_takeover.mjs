// Two Herald nodes on one store, the first killed with SIGKILL while its transcription
// runs (issue 13): the scenario workers.test.mjs plays on a shared SQLite file and
// lease_mariadb.test.mjs on MariaDB, written once.
import assert from 'node:assert/strict';
import { startServer, connect, safeStop, getJob, getHistory, postJson, TIME_SCALE, removeDir } from './server.mjs';
import { ingest, waitForChildJob, waitForJob, PipelineWatcher } from './media_pipeline.mjs';

/**
 * Node A (Herald__NodeId node-a) ingests `media.speech`; once its Transcription job is
 * running, node B starts on the same store (and A's data folder: the job's metadata names
 * the media A downloaded there) and leaves A's live lease alone; A is killed. Checks that
 * B finishes the job once A's short lease expires, the dead attempt counted, that the
 * takeover is announced, that A's late report with its old lease token is refused (409)
 * and stored nowhere, and that progress never went backwards after the takeover.
 *
 * `env`: the store both nodes use (nothing: A's SQLite file). `leaseOf(jobId, dataDir)`:
 * [lease_owner, lease_token] of the job as stored, read around Herald. `midwayMs`,
 * `doneMs`: how long the transcription may take to get going and to finish.
 * `check({ url, jobId, history, leaseOf })`: further checks on node B before both stop.
 */
export async function killNodeMidTranscription({ media, env = {}, leaseOf, midwayMs, doneMs, check = async () => {} }) {
  const nodeEnv = { ...env, Jobs__LeaseSeconds: String(Math.ceil(3 * TIME_SCALE)) };
  const first = await startServer({ env: { ...nodeEnv, Herald__NodeId: 'node-a' } });
  const dataDir = first.dataDir;
  let second;
  let c;
  try {
    const job = await ingest(first.url, { url: media.speech.url });
    const transcriptionId = await waitForChildJob(first.url, job.videoId, 'Transcription');
    await waitForJob(first.url, transcriptionId, (j) => j.status === 'Running' && j.progress >= 30, midwayMs, 'mid-transcription');
    // B starts while A runs the job: it must leave node-a's live lease alone.
    second = await startServer({ dataDir, env: { ...nodeEnv, Herald__NodeId: 'node-b' } });
    c = await connect(10, second.url, { logLevel: 'None' });
    const watcher = new PipelineWatcher(c);
    await c.invoke('SubscribeToJob', transcriptionId, 0);
    const [ownerBefore, oldToken] = await leaseOf(transcriptionId, dataDir);
    assert.equal(ownerBefore, 'node-a');
    assert.match(oldToken, /^[0-9a-f]{32}$/);
    const running = await getJob(second.url, transcriptionId);
    assert.equal(running.status, 'Running');
    assert.equal(running.attempts, 1);

    assert.equal((await first.kill9()).signal, 'SIGKILL');
    const done = await waitForJob(second.url, transcriptionId, (j) => j.status === 'Completed', doneMs, 'completed on node-b');
    assert.equal(done.attempts, 2, 'the dead attempt counted');
    const takeover = watcher.updates(transcriptionId).find((u) => /lease of node-a expired/.test(u.statusMessage));
    assert.ok(takeover, watcher.describe());
    await waitForJob(second.url, job.jobId, (j) => j.status === 'Completed', doneMs, 'pipeline completed');

    // node-a's late report, replayed with its old token: refused, stored nowhere.
    const history = await getHistory(second.url, transcriptionId);
    const late = await postJson(second.url, `/api/v1/jobs/${transcriptionId}/progress`, { progress: 60, leaseToken: oldToken });
    assert.equal(late.status, 409);
    assert.deepEqual(await getHistory(second.url, transcriptionId), history);
    // Progress never went backwards after the takeover, whoever reported it.
    const after = history.slice(history.findIndex((h) => /lease of node-a expired/.test(h.statusMessage)));
    for (let i = 1; i < after.length; i++) {
      if (after[i].currentStage === after[i - 1].currentStage) {
        assert.ok(after[i].progress >= after[i - 1].progress, `#${after[i].sequence} went back`);
      }
    }
    await check({ url: second.url, jobId: transcriptionId, history, leaseOf: (id) => leaseOf(id, dataDir) });
  } finally {
    await safeStop(c);
    if (second) await second.stop('SIGTERM', { keepDataDir: true });
    await first.stop('SIGTERM', { keepDataDir: true });
    removeDir(dataDir);
  }
}
