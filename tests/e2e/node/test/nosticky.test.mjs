// No sticky sessions (issue 14, docs/deploy.md): three Herald nodes on one MariaDB behind
// Debian's nginx, round-robin with no affinity, share Cluster:Secret.
// - The official clients 7.0.14, 8 and 10 × WebSockets, SSE and long polling × JSON and
//   MessagePack (SSE carries text only, so no MessagePack there) connect through nginx,
//   invoke hub methods, subscribe to a job and get every update in order. nginx's access log
//   says which node served each request: negotiate and connect land on different nodes; a
//   WebSocket is served by the node that got the upgrade (it made the connection from the
//   other node's token); every long-poll/SSE request away from the owner, sends included, was
//   forwarded to it (the nodes' herald_cluster_requests_total says so).
// - Updates reach the subscriber's node: through the node that holds it when the server has no
//   Redis backplane; through nginx (any node) when it has one (ConnectionStrings:Redis with a
//   throwaway redis-server). The cross-node delivery test (a report on each other node) needs
//   the backplane and is skipped with a message without it.
// - The edges: the answers name their node (X-Herald-Node); a forged X-Herald-Forward is
//   refused; a token of another cluster is not forwarded anywhere (a canary sees nothing); one
//   of this cluster is forwarded exactly to the node it names, with the guard, and an owner that
//   never answers gives 404; a WebSocket token past its expiry gives 404; a body over the limit
//   is refused at the entry node; the owner's death: 404, and the client renegotiates.
// Needs HERALD_TEST_MARIADB (tools/test.sh starts a throwaway MariaDB; by hand:
// eval "$(tools/mariadb.sh start)") and nginx (Debian's package).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { createRequire } from 'node:module';
import WebSocket from 'ws';
import {
  startServer, createJob, report, request, collect, waitFor, delay, signalrModule, signalrPackageVersion, HUB_PATH,
} from '../lib/server.mjs';
import { freshDatabase } from '../lib/mariadb.mjs';
import { startNginx } from '../lib/nginx.mjs';
import { startRedis } from '../lib/redis.mjs';

const require = createRequire(import.meta.url);
const MARIADB = process.env.HERALD_TEST_MARIADB;
const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].some(existsSync);
const skip = (!MARIADB && 'HERALD_TEST_MARIADB is not set (tools/test.sh starts a throwaway MariaDB)')
  || (!NGINX && 'nginx is not installed (tools/install-deps.sh --test)');

const NODES = 3;
const GENERATIONS = [[7, '7.0.14'], [8, '8.0.29'], [10, '10.0.11']];
const CELLS = [['WebSockets', 'json'], ['WebSockets', 'messagepack'], ['ServerSentEvents', 'json'],
  ['LongPolling', 'json'], ['LongPolling', 'messagepack']];
const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** A connection token as a cluster node makes one (transport/cluster_keys.cpp), for the edges. */
function craftToken(secretBase64, { connectionId = randomBytes(16).toString('base64url'), nodeUrl, version = 1,
  stateful = false, expiresAt = Math.floor(Date.now() / 1000) + 15, userId = '' }) {
  const key = createHmac('sha256', Buffer.from(secretBase64, 'base64')).update('herald connection token v1').digest();
  const expiry = Buffer.alloc(8);
  expiry.writeBigUInt64BE(BigInt(expiresAt));
  const payload = Buffer.concat([Buffer.from([1, version, stateful ? 1 : 0]), expiry,
    Buffer.from([connectionId.length]), Buffer.from(connectionId), Buffer.from([nodeUrl.length]), Buffer.from(nodeUrl)]);
  const body = payload.toString('base64url');
  return `${body}.${createHmac('sha256', key).update(`${body}\n${userId}`).digest('base64url')}`;
}

/** What a token says, read back (the payload is not secret; its MAC is what counts). */
function readToken(token) {
  const payload = Buffer.from(token.split('.')[0], 'base64url');
  const idLength = payload[11];
  const connectionId = payload.subarray(12, 12 + idLength).toString();
  const urlLength = payload[12 + idLength];
  return {
    version: payload[1], stateful: payload[2] === 1, expiresAt: Number(payload.readBigUInt64BE(3)), connectionId,
    nodeUrl: payload.subarray(13 + idLength, 13 + idLength + urlLength).toString(),
  };
}

/** The MessagePack hub protocol package of the client's generation. */
function msgpackProtocol(version) {
  return new (require(`signalr${version}-msgpack`).MessagePackHubProtocol)();
}

function build(version, url, { transport, protocol = 'json', reconnect } = {}) {
  const signalr = signalrModule(version);
  let builder = new signalr.HubConnectionBuilder()
    .withUrl(url + HUB_PATH, { transport: signalr.HttpTransportType[transport] })
    .configureLogging(signalr.LogLevel[process.env.HERALD_E2E_CLIENT_LOG ?? 'None']);
  if (protocol === 'messagepack') builder = builder.withHubProtocol(msgpackProtocol(version));
  if (reconnect) builder = builder.withAutomaticReconnect(reconnect);
  return builder.build();
}

/** A node's herald_cluster_requests_total{event} (0 when not counted yet). */
async function clusterCount(node, event) {
  const res = await request(node.url, 'GET', '/metrics');
  const m = new RegExp(`^herald_cluster_requests_total\\{event="${event}"\\} (\\d+)`, 'm').exec(res.text);
  return m ? Number(m[1]) : 0;
}

/** A TCP server that records what reaches it; `answer(socket, text)` decides what to do. */
async function startCanary(answer = () => {}) {
  const seen = [];
  const server = net.createServer((socket) => {
    const entry = { text: '', answered: false };
    seen.push(entry);
    socket.on('data', (d) => {
      entry.text += d.toString('latin1');
      // Once the whole request is in: the head and Content-Length bytes of body.
      const headEnd = entry.text.indexOf('\r\n\r\n');
      if (headEnd < 0 || entry.answered) return;
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(entry.text)?.[1] ?? 0);
      if (entry.text.length - headEnd - 4 < length) return;
      entry.answered = true;
      answer(socket, entry.text);
    });
    socket.on('error', () => {});
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}`, seen, close: () => new Promise((r) => server.close(r)) };
}

/** Opens a raw WebSocket; resolves with the upgrade's status (101, or the refusal's). */
function upgradeStatus(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws'));
    ws.once('open', () => {
      ws.terminate();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve(res.statusCode);
    });
    ws.once('error', reject);
  });
}

describe('no sticky sessions: three nodes behind nginx round-robin', { skip }, () => {
  const secret = randomBytes(32).toString('base64');
  const nodes = [];
  let db;
  let redis = null;
  let nginx;
  let withBackplane = false;

  /** "127.0.0.1:PORT" (nginx's $upstream_addr) -> the node. */
  const nodeAt = (upstream) => nodes.find((n) => `127.0.0.1:${n.port}` === upstream);
  /** nginx's log from line `from` on: {method, uri, status, node, id}. */
  const logFrom = (from) => nginx.accessLog().slice(from).map((line) => {
    const [method, uri, status, upstream] = line.split(' ');
    const id = new URL(uri, 'http://x').searchParams.get('id');
    return { method, uri, status: Number(status), node: nodeAt(upstream), upstream, id };
  });
  /** The node holding the one hub connection of the cluster (the /health counts). */
  async function holder() {
    return waitFor(async () => {
      const counts = await Promise.all(nodes.filter((n) => !n.exitInfo).map(async (n) => [n, (await request(n.url, 'GET', '/health')).body.connections]));
      const total = counts.reduce((s, [, c]) => s + c, 0);
      return total === 1 ? counts.find(([, c]) => c === 1)[0] : null;
    }, 5000, 'exactly one hub connection in the cluster');
  }
  async function noConnections() {
    await waitFor(async () => {
      for (const n of nodes.filter((x) => !x.exitInfo)) {
        if ((await request(n.url, 'GET', '/health')).body.connections !== 0) return false;
      }
      return true;
    }, 10000, 'no hub connection left in the cluster');
  }

  before(async () => {
    db = await freshDatabase(MARIADB, 'herald_nosticky');
    try {
      redis = await startRedis();
    } catch (e) {
      console.log(`# no redis-server (${e.message}): nodes run without ConnectionStrings:Redis`);
    }
    // One after the other: the first migrates the schema.
    for (let i = 0; i < NODES; i++) {
      nodes.push(await startServer({
        env: {
          ConnectionStrings__Default: db.connectionString,
          ...(redis ? { ConnectionStrings__Redis: redis.connectionString } : {}),
          Cluster__Secret: secret,
          Herald__NodeId: `node${i}`,
          // Jobs here are reported by the test (an external worker): no node runs them.
          AppSettings__EnableBackgroundJobs: 'false',
        },
        logLevel: 'info',
      }));
    }
    nginx = await startNginx(nodes.map((n) => `127.0.0.1:${n.port}`));
    // A server with the Redis backplane logs its connection to Redis ("redis: …: connected");
    // without one, ConnectionStrings:Redis is only reserved (and nothing mentions it).
    if (redis) {
      const says = () => nodes.every((n) => /redis[^\n]*connected|backplane[^\n]*redis/i.test(n.logs()));
      withBackplane = await waitFor(says, 3000, 'Redis in the logs').catch(() => false);
    }
    if (!withBackplane && process.env.HERALD_TEST_EXPECT_REDIS === '1') {
      throw new Error('HERALD_TEST_EXPECT_REDIS=1 but the server shows no Redis backplane');
    }
    console.log(`# Redis backplane: ${withBackplane ? 'yes: updates reported through nginx (any node)' : 'no: updates reported to the node holding the subscriber'}`);
  });

  after(async () => {
    await nginx?.stop();
    for (const n of nodes) {
      const died = n.exitInfo;
      await n.stop('SIGTERM');
      if (died && died.signal !== 'SIGKILL') console.log(`node died: ${JSON.stringify(died)}\n${n.logs()}`);
    }
    await redis?.stop();
    await db?.drop();
  });

  test('nginx spreads requests over the three nodes, and each answer names its node', async () => {
    const seen = [];
    for (let i = 0; i < NODES; i++) {
      const res = await request(nginx.url, 'GET', '/health');
      assert.equal(res.status, 200);
      seen.push(res.headers.get('x-herald-node'));
    }
    assert.deepEqual([...seen].sort(), ['node0', 'node1', 'node2'], `round-robin, no affinity: ${seen}`);
    // A negotiate's token names its node (the owner) and verifies with the cluster's secret.
    const neg = await request(nodes[1].url, 'POST', `${HUB_PATH}/negotiate?negotiateVersion=1`);
    assert.equal(neg.status, 200);
    assert.equal(neg.headers.get('x-herald-node'), 'node1');
    const token = neg.body.connectionToken;
    assert.match(token, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/, 'URL-safe: the clients append it unencoded');
    const claims = readToken(token);
    assert.equal(claims.nodeUrl, nodes[1].url);
    assert.equal(claims.connectionId, neg.body.connectionId);
    assert.equal(claims.version, 1);
    assert.equal(craftToken(secret, claims), token, 'the MAC is HMAC-SHA256 under the cluster secret');
  });

  for (const [version, full] of GENERATIONS) {
    for (const [transport, protocol] of CELLS) {
      const name = `${version}.x ${transport} ${protocol}`;
      test(`${name}: negotiate and connect on different nodes, every update in order`, async () => {
        assert.equal(signalrPackageVersion(version), full);
        await noConnections();
        const from = nginx.accessLog().length;
        const forwardedBefore = await Promise.all(nodes.map((n) => clusterCount(n, 'forwarded')));
        const fromPeerBefore = await Promise.all(nodes.map((n) => clusterCount(n, 'websocket_from_peer')));
        const connection = build(version, nginx.url, { transport, protocol });
        const updates = collect(connection, 'JobProgressUpdate');
        const completed = collect(connection, 'JobCompleted');
        // This connection's requests: their tokens carry its id (a request of the cell before may
        // still be logged after `from`: nginx logs a WebSocket when it closes).
        let connectionId = null;
        const mine = (l) => l.id && readToken(l.id).connectionId === connectionId;
        try {
          await connection.start();
          connectionId = connection.connectionId;
          const negotiate = logFrom(from).find((l) => l.uri.startsWith(`${HUB_PATH}/negotiate`));
          assert.ok(negotiate?.node, 'the negotiate went through nginx to a node');
          const owner = negotiate.node;
          const home = await holder();  // where the hub connection lives
          if (transport === 'WebSockets') {
            assert.notEqual(home, negotiate.node, 'the WebSocket was served by the node that got the upgrade, not the negotiating one');
          } else {
            assert.equal(home, negotiate.node, 'long polling and SSE live on the negotiating node');
          }

          // Hub methods and a job's updates, in order.
          const job = await createJob(nginx.url, { jobType: 'ClusterTest', videoId: `vid-${name}` });
          assert.equal(await connection.invoke('SubscribeToJob', job.jobId), null);
          await updates.waitFor((u) => u.jobId === job.jobId && u.sequence === 1);
          const reportAt = withBackplane ? nginx.url : home.url;
          for (let p = 0; p <= 100; p += 10) {
            await report(reportAt, job.jobId, p < 100 ? { progress: p, statusMessage: `at ${p}%` } : { progress: 100, status: 'Completed' });
          }
          await completed.waitFor((c) => c.jobId === job.jobId);
          const flow = updates.events.filter((u) => u.jobId === job.jobId);
          assert.deepEqual(flow.map((u) => u.sequence), range(1, 12), 'every update once, in order');
          assert.deepEqual(flow.slice(1).map((u) => u.progress), range(0, 10).map((i) => i * 10));
          const state = await connection.invoke('GetJobProgress', job.jobId);
          assert.equal(state.sequence, 12);
          assert.equal(state.status, 'Completed');
          if (transport === 'LongPolling') {
            // Sends (POST ?id=) are logged as they are answered: invoke until one went to a node
            // other than the owner (round-robin makes that the usual case at once).
            for (let i = 0; i < 6 && !logFrom(from).some((l) => l.method === 'POST' && mine(l) && l.node !== owner); i++) {
              await connection.invoke('GetJobProgress', job.jobId);
            }
          }
        } finally {
          await connection.stop();
        }
        // nginx logs a request when it ends (a WebSocket or SSE stream: when it closes).
        const lines = await waitFor(() => {
          const l = logFrom(from).filter(mine);
          return l.some((x) => x.method === 'GET') && l;
        }, 5000, 'the transport requests in nginx\'s log');
        const negotiate = logFrom(from).find((l) => l.uri.startsWith(`${HUB_PATH}/negotiate`));
        const owner = negotiate.node;
        for (const l of lines) assert.equal(readToken(l.id).nodeUrl, owner.url, 'every request names the owner in its token');
        const summary = lines.map((l) => `${l.method} ${l.status} node${nodes.indexOf(l.node)}`).join(', ');
        assert.ok(lines.every((l) => l.node), `every transport request reached a node: ${summary}`);
        const connect = lines.find((l) => l.method === 'GET');
        assert.notEqual(connect.node, owner, `negotiate (node${nodes.indexOf(owner)}) and connect landed on different nodes: ${summary}`);
        const forwardedAfter = await Promise.all(nodes.map((n) => clusterCount(n, 'forwarded')));
        const fromPeerAfter = await Promise.all(nodes.map((n) => clusterCount(n, 'websocket_from_peer')));
        if (transport === 'WebSockets') {
          assert.equal(connect.status, 101);
          const i = nodes.indexOf(connect.node);
          assert.equal(fromPeerAfter[i] - fromPeerBefore[i], 1, 'the upgrade node made the connection from the token');
          assert.deepEqual(forwardedAfter, forwardedBefore, 'nothing of a WebSocket is forwarded');
        } else {
          const away = lines.filter((l) => l.node !== owner);
          if (transport === 'LongPolling') {
            assert.ok(away.some((l) => l.method === 'POST'), `a long-poll send went to another node than the owner: ${summary}`);
          }
          // Each request away from the owner was relayed by the node it reached (counted when
          // the relay ends: a poll the client gave up on ends when the owner answers it).
          // Both are read again until they agree: a request may end (and be logged) after the
          // stream did, e.g. the Close message clients 8 and later send as they stop.
          const relayed = async () => (await Promise.all(nodes.map((n) => clusterCount(n, 'forwarded'))))
            .reduce((s, v, i) => s + v - forwardedBefore[i], 0);
          let counted = 0;
          let logged = 0;
          await waitFor(async () => {
            logged = logFrom(from).filter((l) => mine(l) && l.node !== owner).length;
            counted = await relayed();
            return counted === logged;
          }, 5000, () => `every request away from the owner forwarded once (logged ${logged}, counted ${counted}): ${summary}`);
          assert.equal(forwardedAfter[nodes.indexOf(owner)], forwardedBefore[nodes.indexOf(owner)], 'the owner forwards nothing');
        }
      });
    }
  }

  test('a report on each other node reaches a subscriber (the Redis backplane)', async (t) => {
    if (!withBackplane) {
      t.skip('the server has no Redis backplane (ConnectionStrings:Redis): cross-node delivery is the redis branch\'s');
      return;
    }
    await noConnections();
    const connection = build(10, nginx.url, { transport: 'WebSockets' });
    const updates = collect(connection, 'JobProgressUpdate');
    try {
      await connection.start();
      const home = await holder();
      const others = nodes.filter((n) => n !== home);
      const job = await createJob(home.url, { jobType: 'ClusterTest' });
      await connection.invoke('SubscribeToJob', job.jobId);
      await updates.waitFor((u) => u.jobId === job.jobId && u.sequence === 1);
      for (let i = 0; i < 20; i++) await report(others[i % 2].url, job.jobId, { progress: i * 5 });
      await updates.waitFor((u) => u.jobId === job.jobId && u.sequence === 21);
      assert.deepEqual(updates.events.filter((u) => u.jobId === job.jobId).map((u) => u.sequence), range(1, 21));
    } finally {
      await connection.stop();
    }
  });

  test('only a node can mark a request forwarded, and only to the node its token names', async () => {
    const hub = `${HUB_PATH}?id=`;
    // A forged guard: refused, whatever the connection.
    const forged = await request(nodes[0].url, 'GET', `${hub}x`, { headers: { 'x-herald-forward': `${Math.floor(Date.now() / 1000)}.AAAA` } });
    assert.equal(forged.status, 403);
    assert.match(forged.text, /X-Herald-Forward/);

    // Another cluster's token naming a canary: not forwarded (no SSRF), 404.
    const canary = await startCanary();
    try {
      const foreign = craftToken(randomBytes(32).toString('base64'), { nodeUrl: canary.url });
      for (const method of ['GET', 'POST', 'DELETE']) {
        const res = await request(nodes[0].url, method, `${hub}${foreign}`, method === 'POST' ? { body: 'x' } : {});
        assert.equal(res.status, 404, `${method} with a foreign token`);
      }
      await delay(100);
      assert.equal(canary.seen.length, 0, 'nothing reached the URL in a forged token');
    } finally {
      await canary.close();
    }

    // This cluster's token: forwarded to exactly that URL, with a valid guard; the answer
    // relayed as it came.
    const owner = await startCanary((socket) => {
      socket.end('HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nX-Herald-Node: canary\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello');
    });
    try {
      const token = craftToken(secret, { nodeUrl: owner.url });
      const res = await request(nodes[2].url, 'POST', `${hub}${token}`, { body: 'ping\x1e', headers: { 'content-type': 'text/plain' } });
      assert.equal(res.status, 200);
      assert.equal(res.text, 'hello');
      assert.equal(res.headers.get('x-herald-node'), 'canary', "the owner's answer, unchanged");
      assert.equal(owner.seen.length, 1);
      const head = owner.seen[0].text;
      assert.match(head, new RegExp(`^POST ${HUB_PATH.replace(/\//g, '\\/')}\\?id=${token.replace(/[.]/g, '\\.')} HTTP/1.1\r\n`));
      assert.match(head, /\r\nX-Herald-Forward: \d+\.[A-Za-z0-9_-]{43}\r\n/);
      assert.match(head, /\r\nConnection: close\r\n/i);
      assert.match(head, /\r\nContent-Length: 5\r\n/i);
      assert.ok(head.endsWith('ping\x1e'), 'the body follows');
      // Replayed against a node: the guard is good for that request only.
      const guard = /\r\nX-Herald-Forward: (\S+)\r\n/.exec(head)[1];
      const replay = await request(nodes[0].url, 'GET', `${hub}${token}`, { headers: { 'x-herald-forward': guard } });
      assert.equal(replay.status, 403, 'a guard is bound to its method and target');
      const same = await request(nodes[0].url, 'POST', `${hub}${token}`, { body: 'ping\x1e', headers: { 'x-herald-forward': guard } });
      assert.equal(same.status, 404, 'with its own request: served locally (never forwarded again), and unknown here');
    } finally {
      await owner.close();
    }

    // An owner that takes the request and dies without a word: 404, the client renegotiates.
    const silent = await startCanary((socket) => socket.destroy());
    try {
      const before = await clusterCount(nodes[1], 'owner_unreachable');
      const res = await request(nodes[1].url, 'GET', `${hub}${craftToken(secret, { nodeUrl: silent.url })}`);
      assert.equal(res.status, 404);
      assert.equal(await clusterCount(nodes[1], 'owner_unreachable'), before + 1);
    } finally {
      await silent.close();
    }
  });

  test('a WebSocket connects from another node\'s token while it is fresh', async () => {
    const neg = await request(nodes[0].url, 'POST', `${HUB_PATH}/negotiate?negotiateVersion=1`);
    const token = neg.body.connectionToken;
    assert.equal(await upgradeStatus(`${nodes[1].url}${HUB_PATH}?id=${token}`), 101);
    // Expired (past the clock skew too), or tampered with: 404.
    const stale = craftToken(secret, { nodeUrl: nodes[0].url, expiresAt: Math.floor(Date.now() / 1000) - 60 });
    assert.equal(await upgradeStatus(`${nodes[1].url}${HUB_PATH}?id=${stale}`), 404);
    const fresh = craftToken(secret, { nodeUrl: nodes[0].url });
    assert.equal(await upgradeStatus(`${nodes[2].url}${HUB_PATH}?id=${fresh.slice(0, -2)}AA`), 404);
    assert.equal(await upgradeStatus(`${nodes[2].url}${HUB_PATH}?id=${fresh}`), 101);
  });

  test('a send over the body limit is refused at the node it reaches', async () => {
    const neg = await request(nodes[0].url, 'POST', `${HUB_PATH}/negotiate?negotiateVersion=1`);
    const before = await clusterCount(nodes[1], 'forwarded');
    // Server:MaxHttpBodyBytes is 1 MiB: the head announces 2 MiB, and the answer comes first.
    const socket = net.connect(nodes[1].port, '127.0.0.1');
    let answer = '';
    socket.on('data', (d) => { answer += d.toString('latin1'); });
    socket.on('error', () => {});
    socket.write(`POST ${HUB_PATH}?id=${neg.body.connectionToken} HTTP/1.1\r\nHost: x\r\n`
      + `Content-Type: text/plain\r\nContent-Length: ${2 * 1024 * 1024}\r\n\r\n`);
    await waitFor(() => answer.includes('\r\n\r\n'), 5000, 'the answer');
    socket.destroy();
    assert.match(answer, /^HTTP\/1\.1 413 /);
    assert.equal(await clusterCount(nodes[1], 'forwarded'), before, 'nothing was forwarded');
  });

  // Last: it kills a node.
  test('the owner dies: its long-polling client gets 404 and reconnects through nginx', async () => {
    await noConnections();
    const connection = build(10, nginx.url, { transport: 'LongPolling', reconnect: [0, 200, 500, 1000, 1000, 1000] });
    const states = [];
    connection.onreconnecting(() => states.push('Reconnecting'));
    connection.onreconnected(() => states.push('Reconnected'));
    try {
      const from = nginx.accessLog().length;
      await connection.start();
      const firstId = connection.connectionId;
      const owner = await holder();
      // The first poll is answered at once, so nginx has logged it (with the token).
      const token = (await waitFor(() => logFrom(from).find((l) => l.id), 5000, 'a poll in the log')).id;
      assert.equal(readToken(token).nodeUrl, owner.url);
      await owner.kill9();
      // Its requests, on any other node: 404 (the owner is gone).
      for (const n of nodes.filter((x) => x !== owner)) {
        assert.equal((await request(n.url, 'GET', `${HUB_PATH}?id=${token}`)).status, 404);
      }
      await waitFor(() => states.includes('Reconnected'), 15000, () => `Reconnected (states ${states})`);
      assert.notEqual(connection.connectionId, firstId, 'a new connection, negotiated on a live node');
      const job = await createJob(nginx.url, { jobType: 'ClusterTest' });
      assert.equal((await connection.invoke('GetJobProgress', job.jobId)).jobId, job.jobId);
    } finally {
      await connection.stop();
    }
  });
});
