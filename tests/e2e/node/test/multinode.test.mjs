// Several Herald nodes on one MariaDB (issue 13): three real server processes, each with
// its own data directory, share one fresh database.
// - 60 video ingests spread over the three nodes' REST APIs: every pipeline completes, and
//   each job (VideoProcessing and its Transcription and EmbeddingGeneration children) ran
//   exactly once: one stored attempt, one "Starting" entry in its history, one "running"
//   line across the three servers' logs, one download of its media; and every node ran
//   some of them.
// - 3 nodes × 500 concurrent external-worker reports to one job: the history has 1,501
//   unique, gap-free sequences. What a hub subscriber can be promised today: live, the
//   updates that went through its own node (the in-process backplane does not cross nodes),
//   in sequence order; the other nodes' updates are the gaps between them, and a
//   subscriber that replays (SubscribeToJob with afterSequence 0) gets all 1,501 in order.
// Time: ~90 s on two busy cores, nearly all of it the 60 transcriptions (the recogniser
// loads its model for each, ~2 s). Against the sanitized server (HERALD_TEST_TIME_SCALE > 1,
// several times slower) the nodes run with AppSettings__AutoTranscribe=false: the 60
// ingests (download, probe) are claimed and run as before, without children, so the
// multi-node paths run under the sanitizers in minutes; HERALD_MULTINODE_FULL=1 keeps the
// whole pipeline there too.
// Needs HERALD_TEST_MARIADB (tools/test.sh starts a throwaway MariaDB; by hand:
// eval "$(tools/mariadb.sh start)").
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, createJob, report, getJson, getHistory, connect, collect, barrier, safeStop, waitFor, delay, TIME_SCALE,
} from '../lib/server.mjs';
import { prepareTinyVideo, startMediaServer } from '../lib/media.mjs';
import { ingest, listJobs, isTerminal } from '../lib/media_pipeline.mjs';
import { freshDatabase } from '../lib/mariadb.mjs';

const MARIADB = process.env.HERALD_TEST_MARIADB;
const skipWithoutMariaDb = !MARIADB && 'HERALD_TEST_MARIADB is not set (tools/test.sh starts a throwaway MariaDB)';

const NODES = 3;
const VIDEOS = 60;
const REPORTS_PER_NODE = 500;
const IN_FLIGHT_PER_NODE = 50;
const FULL_PIPELINE = TIME_SCALE === 1 || process.env.HERALD_MULTINODE_FULL === '1';
const PIPELINE_TYPES = FULL_PIPELINE ? ['VideoProcessing', 'Transcription', 'EmbeddingGeneration'] : ['VideoProcessing'];
// "job <id>: running <type> (attempt n/m)": the engine logs it (info) as it starts a job.
const RUNNING_LINE = /job (\S+): running (\w+) \(attempt (\d+)\/(\d+)\)/g;

/** Runs `count` calls of `fn(i)` with at most `limit` in flight. */
async function bounded(count, limit, fn) {
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const i = next++;
      await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, lane));
}

/** Every history entry of a job, paged with afterSequence/limit. */
async function fullHistory(url, jobId, pageSize = 400) {
  const all = [];
  for (;;) {
    const after = all.length ? all.at(-1).sequence : 0;
    const page = await getHistory(url, jobId, `?afterSequence=${after}&limit=${pageSize}`);
    all.push(...page);
    if (page.length < pageSize) return all;
  }
}

const range = (from, to) => Array.from({ length: to - from + 1 }, (_, k) => from + k);

describe('three Herald nodes on one MariaDB', { skip: skipWithoutMariaDb }, () => {
  let db;
  let media;
  const nodes = [];

  before(async () => {
    db = await freshDatabase(MARIADB, 'herald_multinode');
    media = await startMediaServer();
    // One after the other: the first creates the schema, the others find it (the
    // migration also takes a named lock, so a simultaneous start would be safe too).
    for (let i = 0; i < NODES; i++) {
      nodes.push(await startServer({
        env: {
          ConnectionStrings__Default: db.connectionString,
          Jobs__WorkerCount: '2',
          AppSettings__AutoTranscribe: FULL_PIPELINE ? 'true' : 'false',
        },
        logLevel: 'info',
      }));
    }
  });

  after(async () => {
    for (const node of nodes) {
      const died = node.exitInfo;
      await node.stop('SIGKILL');
      if (died) process.stderr.write(`node died during the tests: ${JSON.stringify(died)}\n${node.logs().slice(-3000)}\n`);
    }
    await media?.close();
    await db?.drop();
  });

  // Explicit timeouts: the suite's default per test (120 s) is sized for one server.
  test('60 ingests spread over three nodes: every job runs exactly once, and every node works', { timeout: 300_000 * TIME_SCALE }, async () => {
    const tiny = await prepareTinyVideo();
    // One URL per video, so the media server's log shows each download.
    const ingested = [];
    await Promise.all(range(0, VIDEOS - 1).map(async (i) => {
      const url = media.serve(`/v${i}.mp4`, tiny.path);
      const node = nodes[i % NODES];
      const job = await ingest(node.url, { url, userId: `multinode-${i % NODES}` });
      ingested.push({ ...job, url, node: i % NODES });
    }));
    assert.equal(new Set(ingested.map((j) => j.jobId)).size, VIDEOS);

    // Every pipeline ends (any node's REST API answers for all of them).
    let jobs = [];
    await waitFor(async () => {
      jobs = await listJobs(nodes[0].url, '?limit=1000');
      const failed = jobs.filter((j) => j.status === 'Failed' || j.status === 'Cancelled');
      if (failed.length) throw new Error(`jobs ended badly: ${JSON.stringify(failed)}`);
      const parents = jobs.filter((j) => j.jobType === 'VideoProcessing');
      if (parents.length === VIDEOS && jobs.every((j) => isTerminal(j.status))) return true;
      await delay(250);
      return false;
    }, 240_000, () => `all ${VIDEOS} pipelines to complete (${jobs.filter((j) => j.status === 'Completed').length}/${jobs.length} jobs completed)`);

    // The store: one job of each type per video, each Completed after exactly one attempt.
    assert.equal(jobs.length, VIDEOS * PIPELINE_TYPES.length, `jobs: ${JSON.stringify(jobs.map((j) => j.jobType))}`);
    for (const { videoId } of ingested) {
      const mine = jobs.filter((j) => j.videoId === videoId);
      assert.deepEqual(mine.map((j) => j.jobType).sort(), [...PIPELINE_TYPES].sort(), `video ${videoId}`);
    }
    for (const job of jobs) {
      assert.equal(job.status, 'Completed', JSON.stringify(job));
      assert.equal(job.attempts, 1, `stored attempts of ${job.jobType} ${job.jobId}: ${JSON.stringify(job)}`);
    }

    // Each job's history: one claim ("Starting"), unique gap-free sequences, one terminal entry.
    await bounded(jobs.length, 10, async (k) => {
      const job = jobs[k];
      const history = await fullHistory(nodes[k % NODES].url, job.jobId);
      assert.deepEqual(history.map((e) => e.sequence), range(1, history.length), `${job.jobId} sequences`);
      assert.equal(history.filter((e) => e.currentStage === 'Starting').length, 1, `${job.jobType} ${job.jobId} started once`);
      assert.equal(history.filter((e) => isTerminal(e.status)).length, 1, `${job.jobType} ${job.jobId} ended once`);
    });

    // The processors' own log: each job started exactly once across the three servers.
    const startsByNode = nodes.map((node) => [...node.logs().matchAll(RUNNING_LINE)].map((m) => ({
      jobId: m[1], jobType: m[2], attempt: Number(m[3]),
    })));
    const starts = new Map();
    startsByNode.forEach((list, n) => {
      for (const s of list) starts.set(s.jobId, [...(starts.get(s.jobId) ?? []), { ...s, node: n }]);
    });
    for (const job of jobs) {
      const seen = starts.get(job.jobId) ?? [];
      assert.equal(seen.length, 1, `${job.jobType} ${job.jobId} started ${seen.length} times: ${JSON.stringify(seen)}`);
      assert.equal(seen[0].attempt, 1);
      assert.equal(seen[0].jobType, job.jobType);
    }
    assert.equal(starts.size, jobs.length, 'no job started that the store does not list');

    // Each video's media was downloaded once.
    for (const { url } of ingested) {
      const pathname = new URL(url).pathname;
      const gets = media.requests.filter((r) => r.pathname === pathname && r.method === 'GET');
      assert.equal(gets.length, 1, `${pathname} downloaded ${gets.length} times`);
    }

    // Spread: every node ran pipeline jobs (a job is claimed by whichever node's worker
    // is free first; each node is woken by its own ingests and polls for the others').
    const perNode = startsByNode.map((list) => list.length);
    const parentsPerNode = startsByNode.map((list) => list.filter((s) => s.jobType === 'VideoProcessing').length);
    process.stderr.write(`multinode: jobs run per node ${JSON.stringify(perNode)}, VideoProcessing per node ${JSON.stringify(parentsPerNode)}\n`);
    for (let n = 0; n < NODES; n++) assert.ok(perNode[n] > 0, `node ${n} ran no job: ${JSON.stringify(perNode)}`);
    assert.equal(perNode.reduce((a, b) => a + b, 0), VIDEOS * PIPELINE_TYPES.length);
  });

  test('3 nodes × 500 concurrent reports to one job: 1,501 unique, gap-free sequences', { timeout: 120_000 * TIME_SCALE }, async () => {
    const job = await createJob(nodes[0].url, { jobType: 'External' });
    // A live subscriber on each node, subscribed before the first report.
    const subscribers = [];
    try {
      for (const node of nodes) {
        const connection = await connect(10, node.url);
        const updates = collect(connection, 'JobProgressUpdate');
        subscribers.push({ connection, updates });
        await connection.invoke('SubscribeToJob', job.jobId);
        await updates.waitFor((u) => u.jobId === job.jobId && u.sequence === 1);
      }

      await Promise.all(nodes.map((node, n) => bounded(REPORTS_PER_NODE, IN_FLIGHT_PER_NODE, (i) =>
        report(node.url, job.jobId, { progress: (i / REPORTS_PER_NODE) * 100, statusMessage: `n${n}-${i}` }))));

      const total = NODES * REPORTS_PER_NODE + 1;
      const history = await fullHistory(nodes[1].url, job.jobId);
      assert.equal(history.length, total);
      assert.deepEqual(history.map((e) => e.sequence), range(1, total), 'unique, gap-free sequences');
      const messages = history.slice(1).map((e) => e.statusMessage);
      const recorded = new Set(messages);
      assert.equal(recorded.size, NODES * REPORTS_PER_NODE, 'every report recorded once');
      for (let n = 0; n < NODES; n++) {
        for (let i = 0; i < REPORTS_PER_NODE; i++) assert.ok(recorded.has(`n${n}-${i}`), `n${n}-${i} recorded`);
      }
      // Every node's REST API tells the same.
      for (const node of nodes) assert.equal((await getJson(node.url, `/api/v1/jobs/${job.jobId}`)).body.sequence, total);

      // Live: each subscriber got exactly the updates its own node recorded, in sequence
      // order; together the three cover 2..1501 once.
      const covered = [];
      for (let n = 0; n < NODES; n++) {
        const { connection, updates } = subscribers[n];
        await barrier(nodes[n].url, connection, updates); // whatever the node queued has arrived
        const live = updates.events.filter((u) => u.jobId === job.jobId && u.sequence > 1);
        const seqs = live.map((u) => u.sequence);
        for (let k = 1; k < seqs.length; k++) assert.ok(seqs[k] > seqs[k - 1], `node ${n}: sequence order at ${k}: ${seqs[k - 1]} then ${seqs[k]}`);
        const own = history.filter((e) => e.statusMessage.startsWith(`n${n}-`));
        assert.deepEqual(seqs, own.map((e) => e.sequence), `node ${n}'s subscriber: its own node's ${REPORTS_PER_NODE} updates`);
        assert.deepEqual(live.map((u) => u.statusMessage), own.map((e) => e.statusMessage));
        covered.push(...seqs);
      }
      assert.deepEqual(covered.sort((a, b) => a - b), range(2, total), 'the three live streams together: each update once');

      // Replay: a subscriber on any node that asks from sequence 0 gets the whole history,
      // gap-free, from the store.
      for (let n = 0; n < NODES; n++) {
        const connection = await connect(10, nodes[n].url);
        subscribers.push({ connection });
        const replay = collect(connection, 'JobProgressUpdate');
        await connection.invoke('SubscribeToJob', job.jobId, 0);
        await waitFor(() => replay.events.filter((u) => u.jobId === job.jobId).length >= total, 20_000,
          () => `node ${n}: the replay of ${total} updates (got ${replay.events.length})`);
        await barrier(nodes[n].url, connection, replay);
        assert.deepEqual(replay.events.filter((u) => u.jobId === job.jobId).map((u) => u.sequence), range(1, total),
          `node ${n}: replayed sequences`);
      }
    } finally {
      for (const s of subscribers) await safeStop(s.connection);
    }
  });
});
