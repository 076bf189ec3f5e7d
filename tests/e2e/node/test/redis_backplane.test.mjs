// The Redis backplane (issue 14): several Herald nodes on one MariaDB and one redis-server
// (a throwaway one per test, lib/redis.mjs), subscribers with the real @microsoft/signalr
// clients on one node, reports posted on another.
// - Every update of jobs reported on node A reaches subscribers on nodes B and C, once,
//   in order, through Redis (B's and C's /metrics count the envelopes received).
// - redis-server is killed and restarted mid-stream (500 updates across 20 jobs): reports
//   go on being accepted, /health says Degraded (with the reason) while Redis is away,
//   and every subscriber still gets every update exactly once, in order: what Redis
//   dropped is filled in from the store when the nodes reconnect.
// - A user notification (UserNotification for a video that became ready) and a cancel,
//   issued on one node, take effect on another within a second (the cancel through the backplane's control channel, not the
//   once-a-second lease check).
// - A connection string Herald cannot honour (ssl=true, rediss://) stops the start.
// Needs HERALD_TEST_MARIADB (tools/test.sh starts a throwaway MariaDB) and redis-server.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import {
  startServer, createJob, report, getJson, request, connect, collect, safeStop, waitFor, delay,
  signalrModule, HUB_PATH, TIME_SCALE,
} from '../lib/server.mjs';
import { freshDatabase } from '../lib/mariadb.mjs';
import { startRedis } from '../lib/redis.mjs';
import { prepareTinyVideo, startMediaServer } from '../lib/media.mjs';
import { within } from '../lib/media_pipeline.mjs';

const MARIADB = process.env.HERALD_TEST_MARIADB;
const haveRedis = (() => {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const skip = (!MARIADB && 'HERALD_TEST_MARIADB is not set (tools/test.sh starts a throwaway MariaDB)')
  || (!haveRedis && 'redis-server is not installed (tools/install-deps.sh --test)');

// The bound for cross-node effects; scaled for the sanitized server.
const CROSS_NODE_MS = 1000 * TIME_SCALE;

/** Starts `count` nodes on one database and one Redis; `envOf(i)` adds settings per node. */
async function startNodes(count, db, redis, envOf = () => ({})) {
  const nodes = [];
  // One after the other: the first creates the schema.
  for (let i = 0; i < count; i++) {
    nodes.push(await startServer({
      logLevel: 'info',
      env: {
        ConnectionStrings__Default: db.connectionString,
        ConnectionStrings__Redis: redis.connectionString,
        AppSettings__EnableBackgroundJobs: 'false',
        ...envOf(i),
      },
    }));
  }
  return nodes;
}

async function stopNodes(nodes) {
  for (const node of nodes) {
    const died = node.exitInfo;
    await node.stop('SIGKILL');
    if (died) process.stderr.write(`node died during the test: ${JSON.stringify(died)}\n${node.logs().slice(-3000)}\n`);
  }
}

/** A metric's value from a node's /metrics (0 when absent). */
async function metric(url, name, labels = '') {
  const res = await request(url, 'GET', '/metrics');
  const line = res.text.split('\n').find((l) => l.startsWith(`${name}${labels} `) || l.startsWith(`${name}${labels}{`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

/** Per job, the sequences a collector of JobProgressUpdate received, in arrival order. */
function sequencesByJob(updates) {
  const byJob = new Map();
  for (const u of updates.events) {
    if (!byJob.has(u.jobId)) byJob.set(u.jobId, []);
    byJob.get(u.jobId).push(u.sequence);
  }
  return byJob;
}

const range = (from, to) => Array.from({ length: to - from + 1 }, (_, k) => from + k);

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

describe('Redis backplane', { skip }, () => {
  let db;
  let redis;
  let nodes = [];
  const clients = [];

  before(async () => {
    db = await freshDatabase(MARIADB, 'herald_redis');
  });

  after(async () => {
    await db?.drop();
  });

  async function cleanUp() {
    for (const c of clients.splice(0)) await safeStop(c);
    await stopNodes(nodes);
    nodes = [];
    await redis?.stop();
    redis = null;
  }

  test('updates reported on node A reach subscribers on B and C once, in order, through Redis', { timeout: 120_000 * TIME_SCALE }, async () => {
    try {
      redis = await startRedis();
      nodes = await startNodes(3, db, redis);
      const [a, b, c] = nodes;
      const health = await getJson(b.url, '/health');
      assert.equal(health.body.status, 'Healthy', JSON.stringify(health.body));
      assert.equal(health.body.checks.backplane.status, 'Healthy');

      const jobs = [];
      for (let i = 0; i < 5; i++) jobs.push(await createJob(a.url));
      // Clients 10 and 7.0.14 on B, 10 on C; each subscribes to every job.
      const subscribers = [];
      for (const [node, version] of [[b, 10], [b, 7], [c, 10]]) {
        const connection = await connect(version, node.url);
        clients.push(connection);
        const updates = collect(connection, 'JobProgressUpdate');
        for (const job of jobs) await connection.invoke('SubscribeToJob', job.jobId);
        subscribers.push({ node, version, updates });
      }
      const PER_JOB = 40;
      // Reports on A, one job after another per lane, several jobs at once.
      await Promise.all(jobs.map(async (job) => {
        for (let k = 1; k <= PER_JOB; k++) {
          await report(a.url, job.jobId, { progress: (k / PER_JOB) * 100, statusMessage: `k${k}` });
        }
      }));
      for (const s of subscribers) {
        await s.updates.waitForCount(jobs.length * (PER_JOB + 1), 20_000);
        await delay(200);  // nothing more may come
        const byJob = sequencesByJob(s.updates);
        for (const job of jobs) {
          // The snapshot (sequence 1, the job as created) and then every report, once, in order.
          assert.deepEqual(byJob.get(job.jobId), range(1, PER_JOB + 1), `client ${s.version} on ${s.node.url}, job ${job.jobId}`);
        }
      }
      // They came over Redis: B and C received A's envelopes (A published them).
      assert.ok(await metric(a.url, 'herald_backplane_redis_connected') === 1);
      assert.ok(await metric(b.url, 'herald_backplane_envelopes_total', '{direction="received"}') >= jobs.length * PER_JOB);
    } finally {
      await cleanUp();
    }
  });

  test('redis-server killed and restarted mid-stream: every subscriber gets all 500 updates of 20 jobs exactly once, in order; /health said Degraded', { timeout: 180_000 * TIME_SCALE }, async () => {
    try {
      redis = await startRedis();
      nodes = await startNodes(2, db, redis);
      const [a, b] = nodes;
      const JOBS = 20;
      const PER_JOB = 25;  // 500 updates
      const jobs = [];
      for (let i = 0; i < JOBS; i++) jobs.push(await createJob(a.url));
      // Four subscribers on B: two clients (10, 7.0.14) with every job, two (10, 8) with half each.
      const subscribers = [];
      for (const [version, which] of [[10, jobs], [7, jobs], [10, jobs.slice(0, 10)], [8, jobs.slice(10)]]) {
        const connection = await connect(version, b.url);
        clients.push(connection);
        const updates = collect(connection, 'JobProgressUpdate');
        for (const job of which) await connection.invoke('SubscribeToJob', job.jobId);
        subscribers.push({ version, jobs: which, updates });
      }

      // Update k of every job is posted in round k (several jobs in flight at once), 25 rounds.
      let posted = 0;
      const postRound = (k) => bounded(JOBS, 5, async (j) => {
        await report(a.url, jobs[j].jobId, { progress: (k / PER_JOB) * 100, statusMessage: `round ${k}` });
        posted++;
      });
      for (let k = 1; k <= 8; k++) await postRound(k);

      // Redis dies. Reports go on being accepted on A; both nodes say Degraded, with why.
      await redis.kill();
      const degradedSeen = { a: null, b: null };
      await waitFor(async () => {
        for (const [name, node] of [['a', a], ['b', b]]) {
          const h = (await getJson(node.url, '/health')).body;
          if (h.status === 'Degraded') degradedSeen[name] = h;
        }
        return degradedSeen.a && degradedSeen.b;
      }, 10_000, 'both nodes to report Degraded');
      assert.match(degradedSeen.b.checks.backplane.description, /unreachable since .*Z: /);
      assert.equal((await getJson(b.url, '/health/ready')).body.status, 'Degraded');
      for (let k = 9; k <= 16; k++) await postRound(k);
      assert.equal((await getJson(a.url, '/health')).body.status, 'Degraded', 'still degraded while Redis is away');

      // Back on the same port; the nodes reconnect on their own (backoff of at most 2 s).
      await redis.restart();
      for (let k = 17; k <= 20; k++) await postRound(k);
      await waitFor(async () => (await getJson(b.url, '/health')).body.status === 'Healthy'
        && (await getJson(a.url, '/health')).body.status === 'Healthy', 15_000, 'both nodes Healthy again');
      for (let k = 21; k <= PER_JOB; k++) await postRound(k);
      assert.equal(posted, JOBS * PER_JOB);

      for (const s of subscribers) {
        await waitFor(() => s.updates.events.length >= s.jobs.length * (PER_JOB + 1), 30_000,
          () => `client ${s.version}: ${s.updates.events.length} of ${s.jobs.length * (PER_JOB + 1)} updates`);
      }
      await delay(500);  // nothing more may come (no duplicates)
      for (const s of subscribers) {
        const byJob = sequencesByJob(s.updates);
        assert.equal(byJob.size, s.jobs.length);
        for (const job of s.jobs) {
          assert.deepEqual(byJob.get(job.jobId), range(1, PER_JOB + 1), `client ${s.version}, job ${job.jobId}`);
        }
      }
      // B filled the gap from the store after reconnecting, and counted it.
      assert.ok(await metric(b.url, 'herald_backplane_redis_events_total', '{event="reconnect"}') >= 1);
      assert.ok(await metric(b.url, 'herald_backplane_redis_events_total', '{event="gap_fill_reconnect"}') >= 1);
      assert.ok(await metric(b.url, 'herald_backplane_redis_events_total', '{event="filled"}') >= 1);
    } finally {
      await cleanUp();
    }
  });

  test('a user notification and a cancel issued on one node take effect on another within a second', { timeout: 120_000 * TIME_SCALE }, async () => {
    const SECRET = 'redis-e2e-secret-that-is-long-enough-0123456789';
    const API_KEY = 'redis-e2e-worker-key-0123456789abcdef';
    const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const jwt = (sub) => {
      const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub, exp: Math.floor(Date.now() / 1000) + 600 })}`;
      return `${input}.${crypto.createHmac('sha256', SECRET).update(input).digest('base64url')}`;
    };
    const media = await startMediaServer();
    try {
      redis = await startRedis();
      // A runs the pipeline (one worker); B runs nothing; C runs jobs for the cancel part.
      nodes = await startNodes(3, db, redis, (i) => ({
        AppSettings__EnableAuth: 'true',
        Jwt__Secret: SECRET,
        Workers__ApiKeys__0: API_KEY,
        AppSettings__EnableBackgroundJobs: i === 1 ? 'false' : 'true',
        Jobs__WorkerCount: '1',
        AppSettings__AutoTranscribe: 'false',
      }));
      const [a, b, c] = nodes;
      const userHub = async (node) => {
        const signalr = signalrModule(10);
        const connection = new signalr.HubConnectionBuilder()
          .withUrl(node.url + HUB_PATH, { transport: signalr.HttpTransportType.WebSockets, accessTokenFactory: () => jwt('carol') })
          .configureLogging(signalr.LogLevel.Warning)
          .build();
        clients.push(connection);
        const log = [];
        connection.on('UserNotification', (p) => {
          log.push({ name: 'UserNotification', p, at: Date.now() });
        });
        connection.on('JobCompleted', () => {});  // the video's job, to carol too
        await connection.start();
        return log;
      };
      // carol is connected to A and to B; neither connection subscribes to anything: her
      // user group (joined on connect) is all they hear.
      const onA = await userHub(a);
      const onB = await userHub(b);
      await delay(300 * TIME_SCALE);  // B's SUBSCRIBE of user-carol confirmed (nothing awaits it)

      // A UserNotification: carol's video ingested on A becomes ready there; her
      // connection on B hears it within a second of her connection on A.
      const tiny = await prepareTinyVideo();
      const url = media.serve('/carol.mp4', tiny.path);
      const ingested = await request(a.url, 'POST', '/api/v1/videos/ingest', {
        json: { url }, headers: { Authorization: `Bearer ${jwt('carol')}` },
      });
      assert.equal(ingested.status, 202, ingested.text);
      const onANote = await waitFor(() => onA.find((e) => e.name === 'UserNotification'), 60_000, 'UserNotification on A');
      const onBNote = await waitFor(() => onB.find((e) => e.name === 'UserNotification'), CROSS_NODE_MS * 2, 'UserNotification on B');
      assert.equal(onBNote.p.type, 'VideoReady');
      assert.deepEqual(onBNote.p, onANote.p);
      assert.ok(onBNote.at - onANote.at <= CROSS_NODE_MS, `UserNotification reached B ${onBNote.at - onANote.at} ms after A`);

      // A cancel on B of a job running on C (its download held by the media server): C's
      // worker stops it at once, told by the control message, not its lease check.
      const hold = media.hold('/cancel-me.mp4');
      const heldIngest = await request(c.url, 'POST', '/api/v1/videos/ingest', {
        json: { url: hold.url }, headers: { Authorization: `Bearer ${jwt('carol')}` },
      });
      assert.equal(heldIngest.status, 202, heldIngest.text);
      const held = { jobId: heldIngest.body.jobId, arrived: hold.arrived, release: () => hold.release(404) };
      // Whichever of A and C claims it; the one that does is "the node running it".
      await within(held.arrived, 20_000 * TIME_SCALE, 'a worker to take the held ingest');
      const runner = [a, c].find((n) => n.logs().includes(`job ${held.jobId}: running`));
      assert.ok(runner, 'one node runs the held job');
      const t0 = Date.now();
      const cancelled = await request(b.url, 'POST', `/api/v1/jobs/${held.jobId}/cancel`, {
        headers: { Authorization: `Bearer ${jwt('carol')}` },
      });
      assert.equal(cancelled.status, 202, cancelled.text);
      await waitFor(() => runner.logs().includes(`job ${held.jobId}: no longer ours`), CROSS_NODE_MS * 2, 'the running node to stop the job');
      const stoppedAfter = Date.now() - t0;
      assert.ok(stoppedAfter <= CROSS_NODE_MS, `stopped ${stoppedAfter} ms after the cancel on another node`);
      assert.match(runner.logs(), new RegExp(`job ${held.jobId}: another node signalled`), 'the backplane signal, not the lease check, stopped it');
      held.release();
    } finally {
      await cleanUp();
      await media.close();
    }
  });

  test('a connection string Herald cannot honour stops the start with a clear message', async () => {
    for (const [value, message] of [
      ['127.0.0.1:6379,ssl=true', /ssl=true is not supported/],
      ['rediss://127.0.0.1:6380', /TLS\) is not supported/],
      ['127.0.0.1:6379,serviceName=mymaster', /Sentinel/],
      ['127.0.0.1:6379,frobnicate=1', /unknown option 'frobnicate'/],
    ]) {
      await assert.rejects(startServer({ env: { ConnectionStrings__Redis: value } }), (e) => {
        assert.match(String(e.message), message);
        return true;
      }, value);
    }
    // abortConnect (the default) and nothing listening: no start, with the reason.
    await assert.rejects(startServer({ env: { ConnectionStrings__Redis: '127.0.0.1:1,connectTimeout=500,connectRetry=1' } }),
      (e) => /cannot reach redis 127\.0\.0\.1:1/.test(String(e.message)));
  });
});
