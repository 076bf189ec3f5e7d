// Several Herald nodes on one MariaDB (issue 13): three real server processes, each with
// its own data directory, share one fresh database.
// - 60 video ingests spread over the three nodes' REST APIs: every pipeline completes, and
//   each job (VideoProcessing and its Transcription and EmbeddingGeneration children) ran
//   exactly once: one stored attempt, one "Starting" entry in its history, one "running"
//   line across the three servers' logs, one download of its media; and every node ran
//   some of them. The node that takes an ingest decides its stages (AutoTranscribe): node 0
//   transcribes, nodes 1 and 2 do not, so 20 of the videos run the whole pipeline (their
//   children claimed by whichever node is free) and 40 only the ingestion.
// - 3 nodes × 500 concurrent external-worker reports to one job: the history has 1,501
//   unique, gap-free sequences. What a hub subscriber can be promised today: live, the
//   updates that went through its own node (the in-process backplane does not cross nodes),
//   in sequence order; the other nodes' updates are the gaps between them, and a
//   subscriber that replays (SubscribeToJob with afterSequence 0) gets all 1,501 in order.
// Time: well under the suite's 120 s per file on two busy cores; most of it the 20
// transcriptions (the recogniser loads its model for each, ~2 s; 60 of them took 90-120 s,
// hence only node 0 transcribes). Against the sanitized server (HERALD_TEST_TIME_SCALE > 1,
// several times slower) no node transcribes: the 60 ingests (download, probe) are claimed
// and run as before, without children; HERALD_MULTINODE_FULL=1 keeps node 0's pipelines
// there too.
// The three nodes are all up before the first ingest: a node that starts re-queues every
// job it finds Running (recoverInterruptedNow), other live nodes' jobs included, so a node
// joining mid-run would run their jobs a second time; job leases are to fix that.
// Needs HERALD_TEST_MARIADB (tools/test.sh starts a throwaway MariaDB; by hand:
// eval "$(tools/mariadb.sh start)").
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, createJob, report, getJson, postJson, getHistory, connect, collect, barrier, safeStop, waitFor, delay, TIME_SCALE,
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
/** Whether node `n` transcribes what is ingested through it. */
const transcribes = (n) => FULL_PIPELINE && n === 0;
const PIPELINE_TYPES = ['VideoProcessing', 'Transcription', 'EmbeddingGeneration'];
const typesFor = (n) => (transcribes(n) ? PIPELINE_TYPES : ['VideoProcessing']);
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
          AppSettings__AutoTranscribe: transcribes(i) ? 'true' : 'false',
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

    // The store: one job of each of its stages per video, each Completed after exactly one attempt.
    const expectedJobs = ingested.reduce((sum, v) => sum + typesFor(v.node).length, 0);
    assert.equal(jobs.length, expectedJobs, `jobs: ${JSON.stringify(jobs.map((j) => j.jobType))}`);
    for (const { videoId, node } of ingested) {
      const mine = jobs.filter((j) => j.videoId === videoId);
      assert.deepEqual(mine.map((j) => j.jobType).sort(), [...typesFor(node)].sort(), `video ${videoId}`);
    }
    if (FULL_PIPELINE) assert.equal(jobs.filter((j) => j.jobType === 'Transcription').length, VIDEOS / NODES);
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
    const childrenPerNode = startsByNode.map((list) => list.filter((s) => s.jobType !== 'VideoProcessing').length);
    process.stderr.write(`multinode: jobs run per node ${JSON.stringify(perNode)}, of them children ${JSON.stringify(childrenPerNode)}\n`);
    for (let n = 0; n < NODES; n++) assert.ok(perNode[n] > 0, `node ${n} ran no job: ${JSON.stringify(perNode)}`);
    assert.equal(perNode.reduce((a, b) => a + b, 0), expectedJobs);
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

  test('reports crossing between nodes and jobs never fail: a batch undone by a deadlock runs again', { timeout: 120_000 * TIME_SCALE }, async () => {
    // Each node groups the reports that arrive together into one transaction; two nodes
    // whose batches lock the same jobs in the opposite order deadlock, and MariaDB undoes
    // one batch (before the fix 10 % of these reports failed with 500).
    const jobs = [];
    for (let k = 0; k < 4; k++) jobs.push((await createJob(nodes[k % NODES].url, { jobType: 'External' })).jobId);
    const failures = [];
    const perJob = new Map(jobs.map((id) => [id, 0]));
    await Promise.all(nodes.map((node, n) => bounded(20, 20, async (lane) => {
      const order = (n + lane) % 2 ? [...jobs] : [...jobs].reverse();
      for (let k = 0; k < 40; k++) {
        const jobId = order[k % order.length];
        const res = await postJson(node.url, `/api/v1/jobs/${jobId}/progress`, { progress: 1, statusMessage: `n${n}-${lane}-${k}` });
        if (res.status === 200) perJob.set(jobId, perJob.get(jobId) + 1);
        else failures.push(`${res.status} ${res.text}`);
      }
    })));
    assert.deepEqual(failures.slice(0, 3), [], `${failures.length} reports failed`);
    for (const jobId of jobs) {
      const history = await fullHistory(nodes[0].url, jobId);
      assert.deepEqual(history.map((e) => e.sequence), range(1, perJob.get(jobId) + 1), `${jobId}: every report once, gap-free`);
    }
    const retried = nodes.map((node) => (node.logs().match(/undone by a deadlock; running it again/g) ?? []).length);
    process.stderr.write(`multinode: batches run again after a deadlock, per node ${JSON.stringify(retried)}\n`);
  });
});
