// Adoption (issue 14, item 4): a node's death costs clients nothing. Herald nodes on one
// MariaDB and one redis-server, behind nginx; the clients connect through nginx to node A.
// Node A is killed with SIGKILL mid-job:
// - 50 stateful-reconnect clients (@microsoft/signalr 8 and 10, withStatefulReconnect, JSON
//   and MessagePack), each subscribed to two of five jobs whose updates are reported
//   throughout: each reattaches through nginx to a node that never saw it, which adopts
//   the connection (its record and unacknowledged frames mirrored in Redis by node A). Each
//   keeps its connection id, sees no Reconnecting/Reconnected (its application code
//   re-subscribes nothing), and gets every update of its jobs exactly once, in order: the
//   stored history, sequence 1 to the last.
// - clients without stateful reconnect (7.0.14 and 10, automatic reconnect) get a new
//   connection on another node and re-subscribe with afterSequence from onreconnected: they
//   too get every update exactly once, in order.
// Before that, with both nodes alive, one client goes back and forth between them through a
// proxy: each node adopts it from the other, fencing the other's copy.
// nginx runs node A as its only upstream and the others as backups (a failover pair): the
// round-robin balancer with no affinity needs a connection negotiated on one node to open
// its WebSocket on another, which is the no-sticky-sessions work (not merged in this branch).
// Without a Redis backplane in this branch the survivors do not hear each other's updates,
// so one node takes over: every reattach and every report after the kill reaches node B.
// Needs HERALD_TEST_MARIADB (tools/test.sh), redis-server and nginx (Debian packages).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import {
  startServer, createJob, getHistory, waitFor, delay, signalrModule, HUB_PATH, TIME_SCALE, request,
} from '../lib/server.mjs';
import { freshDatabase } from '../lib/mariadb.mjs';
import { startRedis } from '../lib/redis.mjs';
import { startNginx } from '../lib/nginx.mjs';
import { startProxy } from '../lib/proxy.mjs';

const require = createRequire(import.meta.url);
const MARIADB = process.env.HERALD_TEST_MARIADB;
const haveTools = existsSync('/usr/bin/redis-server') && (existsSync('/usr/sbin/nginx') || existsSync('/usr/bin/nginx'));
const skip = (!MARIADB && 'HERALD_TEST_MARIADB is not set (tools/test.sh starts a throwaway MariaDB)')
  || (!haveTools && 'redis-server or nginx is not installed');

const STATEFUL_CLIENTS = 50;
const PLAIN_CLIENTS = 10;
const JOBS = 5;
const UPDATES = 80; // per job; the last one completes it
const KILL_AFTER = 30; // updates of every job reported before node A dies
const REPORT_GAP_MS = 25;

const range = (from, to) => Array.from({ length: to - from + 1 }, (_, k) => from + k);

/** A client, not started: stateful (8/10) or plain with automatic reconnect (7/10). */
function build(version, url, { stateful, messagepack }) {
  const signalr = signalrModule(version);
  let builder = new signalr.HubConnectionBuilder()
    .withUrl(url + HUB_PATH, { transport: signalr.HttpTransportType.WebSockets })
    .withAutomaticReconnect([0, 250, 500, 1000, 2000])
    .configureLogging(signalr.LogLevel[process.env.HERALD_E2E_CLIENT_LOG ?? 'None']);
  if (stateful) builder = builder.withStatefulReconnect();
  if (messagepack) {
    const { MessagePackHubProtocol } = require(`signalr${version}-msgpack`);
    builder = builder.withHubProtocol(new MessagePackHubProtocol());
  }
  return builder.build();
}

/** Reports through nginx, retrying what the dying node could not answer (502/503, reset). */
async function reportThrough(url, jobId, body) {
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await request(url, 'POST', `/api/v1/jobs/${encodeURIComponent(jobId)}/progress`, { json: body });
      if (res.status === 200) return;
      if (res.status < 500 || attempt > 50) throw new Error(`report: HTTP ${res.status}: ${res.text}`);
    } catch (e) {
      if (attempt > 50) throw e;
    }
    await delay(50);
  }
}

/** Every stored update of a job, in order (paged). */
async function fullHistory(url, jobId) {
  const all = [];
  for (;;) {
    const after = all.length ? all.at(-1).sequence : 0;
    const page = await getHistory(url, jobId, `?afterSequence=${after}&limit=500`);
    all.push(...page);
    if (page.length < 500) return all;
  }
}

/**
 * Clients connect through nginx to node A and subscribe to jobs reported throughout; `end(A)`
 * ends node A mid-job. Then every client has every update of its jobs exactly once, in order:
 * the stateful ones on their old connection (adopted by node B), the plain ones on a new one
 * after re-subscribing with afterSequence.
 */
async function failover({ nginx, nodes, clients, statefulClients, plainClients, end }) {
  const jobs = [];
  for (let j = 0; j < JOBS; j++) jobs.push((await createJob(nginx.url, { jobType: 'External' })).jobId);

  const connectOne = async (i, stateful) => {
    const version = stateful ? (i % 2 ? 10 : 8) : (i % 2 ? 10 : 7);
    const messagepack = i % 4 === 3;
    const connection = build(version, nginx.url, { stateful, messagepack });
    const watched = [jobs[i % JOBS], jobs[(i + 1) % JOBS]];
    const client = { i, stateful, version, messagepack, connection, watched, lifecycle: [], updates: new Map(), resubscribed: 0 };
    for (const j of watched) client.updates.set(j, []);
    connection.on('JobProgressUpdate', (u) => client.updates.get(u.jobId)?.push(u.sequence));
    connection.onreconnecting((e) => client.lifecycle.push(`Reconnecting ${e}`));
    connection.onclose((e) => client.lifecycle.push(`Closed ${e}`));
    connection.onreconnected(async (id) => {
      client.lifecycle.push(`Reconnected ${id}`);
      if (stateful) return; // nothing to do: the point of adoption
      // The documented way without stateful reconnect: re-subscribe after the last seen.
      for (const j of watched) {
        const seen = client.updates.get(j);
        await connection.invoke('SubscribeToJob', j, seen.length ? seen.at(-1) : 0);
        client.resubscribed++;
      }
    });
    await connection.start();
    client.id = connection.connectionId;
    for (const j of watched) await connection.invoke('SubscribeToJob', j);
    clients.push(client);
    return client;
  };
  for (let i = 0; i < statefulClients; i++) await connectOne(i, true);
  for (let i = 0; i < plainClients; i++) await connectOne(i, false);
  // Every client has its jobs' first state (sequence 1, the creation) before reports start.
  await waitFor(() => clients.every((c) => c.watched.every((j) => c.updates.get(j).length >= 1)), 10_000 * TIME_SCALE, 'the snapshots');

  let reported = 0;
  const reporter = (async () => {
    for (let k = 1; k <= UPDATES; k++) {
      await Promise.all(jobs.map((j) => reportThrough(nginx.url, j, k < UPDATES
        ? { progress: (k * 100) / UPDATES, statusMessage: `update ${k}` }
        : { progress: 100, status: 'Completed', statusMessage: 'done' })));
      reported = k;
      await delay(REPORT_GAP_MS);
    }
  })();
  await waitFor(() => reported >= KILL_AFTER, 30_000 * TIME_SCALE, 'reports before the kill');
  await end(nodes[0]);
  await reporter;

  // Each client has every job's final update (its sequence is the history's last).
  const histories = new Map();
  for (const j of jobs) histories.set(j, (await fullHistory(nginx.url, j)).map((e) => e.sequence));
  const last = (j) => histories.get(j).at(-1);
  await waitFor(() => clients.every((c) => c.watched.every((j) => c.updates.get(j).includes(last(j)))), 30_000 * TIME_SCALE,
    () => `every client to get the last update: ${clients.filter((c) => !c.watched.every((j) => c.updates.get(j).includes(last(j))))
      .slice(0, 3).map((c) => JSON.stringify({ i: c.i, stateful: c.stateful, v: c.version, life: c.lifecycle, got: c.watched.map((j) => c.updates.get(j).slice(-5)) })).join('\n')}`);
  await delay(300); // a late duplicate would show up now

  for (const j of jobs) assert.deepEqual(histories.get(j), range(1, histories.get(j).length), 'gap-free history');
  for (const c of clients) {
    const what = `client ${c.i} (${c.stateful ? 'stateful' : 'plain'}, ${c.version}.x ${c.messagepack ? 'messagepack' : 'json'})`;
    for (const j of c.watched) {
      assert.deepEqual(c.updates.get(j), histories.get(j), `${what}: every update of ${j} exactly once, in order`);
    }
    if (c.stateful) {
      assert.deepEqual(c.lifecycle, [], `${what}: no Reconnecting/Reconnected/Closed`);
      assert.equal(c.connection.connectionId, c.id, `${what}: the same connection id`);
      assert.equal(c.connection.state, 'Connected');
    } else {
      assert.equal(c.resubscribed, c.watched.length, `${what}: re-subscribed once per job`);
    }
  }
  // The survivor adopted every stateful connection, and no other.
  const adopted = new Set([...nodes[1].logs().matchAll(/connection (\S+): adopted/g)].map((m) => m[1]));
  for (const c of clients) assert.equal(adopted.has(c.id), c.stateful, `client ${c.i} adopted by node B`);
}

describe('adoption: a node dies, its stateful clients carry on elsewhere', { skip }, () => {
  let db;
  let redis;
  let nginx;
  const nodes = [];
  const clients = [];

  before(async () => {
    db = await freshDatabase(MARIADB, 'herald_adoption');
    redis = await startRedis();
    for (let i = 0; i < 2; i++) {
      nodes.push(await startServer({
        env: {
          ConnectionStrings__Default: db.connectionString,
          ConnectionStrings__Redis: redis.connectionString,
        },
        logLevel: process.env.HERALD_E2E_SERVER_LOG ?? 'info',
      }));
    }
    nginx = await startNginx([`127.0.0.1:${nodes[0].port}`], { backups: nodes.slice(1).map((n) => `127.0.0.1:${n.port}`) });
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.connection.stop().catch(() => {})));
    for (const node of nodes) await node.stop('SIGKILL');
    await nginx?.stop();
    await redis?.stop();
    await db?.drop();
  });

  // Both nodes alive: the client's socket drops and comes back through another node
  // (the proxy now forwards there), which adopts the connection; the first node's copy is
  // fenced. Then back to the first node, which finds its copy stale, drops it and adopts
  // the session afresh. Updates reported while the client is away (to the node it left)
  // reach it from the store.
  test('a live owner is fenced: there and back through two nodes, every update once, in order', { timeout: 60_000 * TIME_SCALE }, async () => {
    const [a, b] = nodes;
    const proxy = await startProxy(a.url);
    try {
      const connection = build(10, proxy.url, { stateful: true, messagepack: false });
      const lifecycle = [];
      connection.onreconnecting((e) => lifecycle.push(`Reconnecting ${e}`));
      connection.onclose((e) => lifecycle.push(`Closed ${e}`));
      const seen = [];
      connection.on('JobProgressUpdate', (u) => seen.push(u.sequence));
      await connection.start();
      const id = connection.connectionId;
      const job = (await createJob(a.url, { jobType: 'External' })).jobId;
      await connection.invoke('SubscribeToJob', job);
      // The server acknowledges the client's messages once a second. A message not yet
      // acknowledged when the connection moves is replayed by the client and run again by
      // the adopter (the old node's receive count is not mirrored): a SubscribeToJob run
      // twice sends its snapshot twice. Wait for the Ack, as an app whose subscriptions are
      // older than a second would have it (architecture.md, "Adoption").
      await delay(1500);
      let k = 0;
      const reportTo = async (node, n) => {
        for (let i = 0; i < n; i++) await reportThrough(node.url, job, { progress: ++k, statusMessage: `update ${k}` });
      };
      const sequenceNow = async () => (await fullHistory(a.url, job)).at(-1).sequence;

      await reportTo(a, 10);
      let target = await sequenceNow();
      await waitFor(() => seen.includes(target), 5000, 'phase 1 on node A');
      // Away; five more reported to A meanwhile; back through B.
      proxy.pause();
      proxy.dropAll();
      await reportTo(a, 5);
      proxy.retarget(b.url);
      proxy.resume();
      await waitFor(() => /connection \S+: adopted/.test(b.logs()), 5000, 'node B to adopt');
      await reportTo(b, 10);
      target = await sequenceNow();
      await waitFor(() => seen.includes(target), 5000, 'phase 2 on node B');
      // Away again, five reported to B meanwhile; back to A, whose copy is stale.
      proxy.pause();
      proxy.dropAll();
      await reportTo(b, 5);
      proxy.retarget(a.url);
      proxy.resume();
      await waitFor(() => /adopted elsewhere since; taking it back/.test(a.logs()), 5000, 'node A to take it back');
      await reportTo(a, 9);
      await reportThrough(a.url, job, { progress: 100, status: 'Completed' });
      target = await sequenceNow();
      await waitFor(() => seen.includes(target), 5000, 'phase 3 on node A');
      await delay(300);
      const history = (await fullHistory(a.url, job)).map((e) => e.sequence);
      assert.deepEqual(seen, history, 'every update exactly once, in order');
      assert.deepEqual(lifecycle, []);
      assert.equal(connection.connectionId, id);
      await connection.stop();
    } catch (e) {
      e.message += `\n--- exits: A ${JSON.stringify(a.exitInfo)} B ${JSON.stringify(b.exitInfo)}`;
      e.message += `\n--- proxy: ${JSON.stringify(proxy.connections.map((c) => ({ id: c.id, status: c.firstResponse?.status, closed: c.closed, reqs: c.requests.map((r) => r.path) })))}`;
      e.message += `\n--- node A ---\n${a.logs().slice(-3000)}\n--- node B ---\n${b.logs().slice(-3000)}`;
      throw e;
    } finally {
      await proxy.close();
    }
  });

  test('kill -9 of the node holding 50 stateful clients: same ids, every update once, in order, nothing re-subscribed', { timeout: 180_000 * TIME_SCALE }, () =>
    failover({ nginx, nodes, clients, statefulClients: STATEFUL_CLIENTS, plainClients: PLAIN_CLIENTS, end: (node) => node.kill9() }));
});

// A deploy, not a crash: node A gets SIGTERM. Its stateful connections are handed over (their
// queues flushed and mirrored, then the sockets closed without a SignalR Close), so their
// clients reattach to node B, which adopts them; the plain ones reconnect and re-subscribe.
describe('adoption: a node shut down gracefully hands its stateful clients over', { skip }, () => {
  let db;
  let redis;
  let nginx;
  const nodes = [];
  const clients = [];

  before(async () => {
    db = await freshDatabase(MARIADB, 'herald_handover');
    redis = await startRedis();
    for (let i = 0; i < 2; i++) {
      nodes.push(await startServer({
        env: { ConnectionStrings__Default: db.connectionString, ConnectionStrings__Redis: redis.connectionString },
        logLevel: process.env.HERALD_E2E_SERVER_LOG ?? 'info',
      }));
    }
    nginx = await startNginx([`127.0.0.1:${nodes[0].port}`], { backups: [`127.0.0.1:${nodes[1].port}`] });
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.connection.stop().catch(() => {})));
    for (const node of nodes) await node.stop('SIGKILL');
    await nginx?.stop();
    await redis?.stop();
    await db?.drop();
  });

  test('SIGTERM: 10 stateful clients keep their ids and every update, nothing re-subscribed', { timeout: 120_000 * TIME_SCALE }, () =>
    failover({ nginx, nodes, clients, statefulClients: 10, plainClients: 4, end: (node) => node.stop('SIGTERM', { keepDataDir: true }) }));
});
