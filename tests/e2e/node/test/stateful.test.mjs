// Stateful reconnect (JS 8.x and 10.x, withStatefulReconnect, WebSockets) through a TCP proxy
// that kills the socket, not the server: the client reattaches to the same connection, the
// server sends Sequence first and replays what was not acknowledged, and the app sees every
// message exactly once, in order, with no Reconnecting/Reconnected and the same connection id.
// A socket that stays away longer than DisconnectTimeout finds the connection gone (404) and
// automatic reconnect makes a new one.
import { describe, test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import {
  useServer, createJob, report, collect, waitFor, delay, barrier, signalrModule, signalrPackageVersion, HUB_PATH,
} from '../lib/server.mjs';
import { startProxy } from '../lib/proxy.mjs';

const require = createRequire(import.meta.url);
const GENERATIONS = [[8, '8.0.29'], [10, '10.0.11']];
const RS = '\x1e';
const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/**
 * A stateful-reconnect hub connection over WebSockets with automatic reconnect, not started;
 * `protocol` 'messagepack' uses the MessagePack package of the same generation.
 */
function build(version, baseUrl, protocol = 'json') {
  const signalr = signalrModule(version);
  const level = process.env.HERALD_E2E_CLIENT_LOG ?? 'None';
  let builder = new signalr.HubConnectionBuilder()
    .withUrl(baseUrl + HUB_PATH, { transport: signalr.HttpTransportType.WebSockets })
    .withStatefulReconnect()
    .withAutomaticReconnect([0, 500, 1000])
    .configureLogging(signalr.LogLevel[level]);
  if (protocol === 'messagepack') {
    const { MessagePackHubProtocol } = require(`signalr${version}-msgpack`);
    builder = builder.withHubProtocol(new MessagePackHubProtocol());
  }
  return builder.build();
}

/** Hub messages of a JSON text frame (a record cut off by the proxy's size limit is left out). */
function framesMessages(frame) {
  const records = frame.payload.toString('utf8').split(RS);
  records.pop(); // the text after the last separator: empty, or a truncated record
  return records.map((s) => JSON.parse(s));
}

/** Records the lifecycle callbacks of a connection. */
function watchLifecycle(connection) {
  const events = [];
  connection.onreconnecting((e) => events.push({ what: 'Reconnecting', error: String(e) }));
  connection.onreconnected((id) => events.push({ what: 'Reconnected', id }));
  connection.onclose((e) => events.push({ what: 'Closed', error: String(e) }));
  return events;
}

/** Re-throws `err` with the tail of the server log appended (the server runs at debug level). */
function withServerLog(ctx, err) {
  const tail = ctx.server ? ctx.server.logs().split('\n').slice(-60).join('\n') : '(no server)';
  err.message += `\n--- server log tail ---\n${tail}`;
  return err;
}

function stateful(ctx, serverOptions) {
  const proxies = [];
  afterEach(async () => {
    for (const p of proxies.splice(0)) await p.close();
  });
  return {
    async proxy() {
      const p = await startProxy(ctx.url);
      proxies.push(p);
      return p;
    },
    async run(fn) {
      try {
        await fn();
      } catch (e) {
        throw withServerLog(ctx, e);
      }
    },
    serverOptions,
  };
}

/** The upgrade requests of the proxy, each with its connection's record. */
function sockets(proxy) {
  return proxy.upgrades().map((r) => ({ req: r, conn: proxy.connections.find((c) => c.id === r.conn) }));
}

describe('stateful reconnect', () => {
  const ctx = useServer({ logLevel: 'debug' });
  const s = stateful(ctx);

  for (const [version, full] of GENERATIONS) {
    test(`${version}.x: every update exactly once and in order across dropped sockets, same connection, no Reconnecting`, () => s.run(async () => {
      assert.equal(signalrPackageVersion(version), full);
      const proxy = await s.proxy();
      const connection = ctx.track(build(version, proxy.url));
      const lifecycle = watchLifecycle(connection);
      const updates = collect(connection, 'JobProgressUpdate');
      const completed = collect(connection, 'JobCompleted');
      await connection.start();
      const id = connection.connectionId;
      assert.equal(typeof id, 'string');

      // The client asked for stateful reconnect and got it (handshake version 2).
      const negotiates = proxy.requests.filter((r) => r.path === `${HUB_PATH}/negotiate`);
      assert.equal(negotiates.length, 1);
      assert.equal(negotiates[0].query.get('useStatefulReconnect'), 'true');
      const [first] = sockets(proxy);
      assert.equal(first.conn.firstResponse.status, 101);
      assert.deepEqual(framesMessages(first.conn.clientFrames[0])[0], { protocol: 'json', version: 2 });
      const token = first.req.query.get('id');
      assert.ok(token);

      const job = await createJob(ctx.url, { videoId: `vid-stateful-${version}` });
      await connection.invoke('SubscribeToJob', job.jobId);
      await updates.waitForCount(1);

      // A worker reports 60 updates over ~3 s; the socket is dropped twice mid-stream, the
      // second time kept away for 400 ms (the proxy holds the reattaching socket) so that
      // updates pile up on the server while the client is away.
      const N = 60;
      const worker = (async () => {
        for (let i = 1; i <= N; i++) {
          await report(ctx.url, job.jobId, i < N
            ? { progress: i, statusMessage: `update ${i}` }
            : { progress: 100, status: 'Completed', statusMessage: 'done' });
          await delay(50);
        }
      })();
      await updates.waitFor((u) => u.sequence >= 20, 5000);
      assert.ok(proxy.dropAll() >= 1);
      await waitFor(() => sockets(proxy).length === 2 && sockets(proxy)[1].conn.firstResponse, 5000, 'first reattach');
      await updates.waitFor((u) => u.sequence >= 40, 5000);
      proxy.pause();
      assert.ok(proxy.dropAll() >= 1);
      await waitFor(() => proxy.heldCount >= 1, 5000, 'the reattaching socket (held by the proxy)');
      await delay(400);
      proxy.resume();
      await worker;
      await completed.waitForCount(1, 10_000);

      assert.deepEqual(updates.events.map((u) => u.sequence), range(1, N + 1),
        'every update exactly once, in order (snapshot 1, then 2..61)');
      assert.equal(updates.events.at(-1).status, 'Completed');
      assert.equal(completed.events.length, 1);
      assert.deepEqual(lifecycle, [], 'no Reconnecting/Reconnected/Closed: the reattach is transparent');
      assert.equal(connection.state, 'Connected');
      assert.equal(connection.connectionId, id, 'the same connection id');

      // On the wire: three sockets for the same token, each reattach accepted, and Sequence is
      // the very first message the server sends on a reattached socket.
      const socks = sockets(proxy);
      assert.equal(socks.length, 3, 'one socket plus two reattaches');
      for (const [i, sock] of socks.entries()) {
        assert.equal(sock.req.query.get('id'), token, `socket ${i} uses the same connection token`);
        assert.equal(sock.conn.firstResponse?.status, 101, `socket ${i} upgraded`);
      }
      for (const sock of socks.slice(1)) {
        const fromClient = framesMessages(sock.conn.clientFrames[0]);
        assert.equal(fromClient[0].type, 9, `the client starts a reattached socket with Sequence: ${JSON.stringify(fromClient)}`);
        const data = sock.conn.serverFrames.filter((f) => f.opcode === 1);
        assert.ok(data.length >= 1, 'the server wrote on the reattached socket');
        const fromServer = framesMessages(data[0]);
        assert.equal(fromServer[0].type, 9, `the server's first message on a reattached socket is Sequence: ${JSON.stringify(fromServer)}`);
        assert.equal(typeof fromServer[0].sequenceId, 'number');
      }
      // The held socket was away for 400 ms, long enough for the server to buffer updates
      // (~8), which it replayed after its Sequence.
      const replayed = socks[2].conn.serverFrames.filter((f) => f.opcode === 1).flatMap(framesMessages)
        .filter((m) => m.type === 1 && m.target === 'JobProgressUpdate');
      assert.ok(replayed.length >= 3, `updates reached the client over the third socket (${replayed.length})`);
    }));

    test(`${version}.x messagepack: every update exactly once and in order across dropped sockets`, () => s.run(async () => {
      const proxy = await s.proxy();
      const connection = ctx.track(build(version, proxy.url, 'messagepack'));
      const lifecycle = watchLifecycle(connection);
      const updates = collect(connection, 'JobProgressUpdate');
      const completed = collect(connection, 'JobCompleted');
      await connection.start();
      const id = connection.connectionId;
      const job = await createJob(ctx.url);
      await connection.invoke('SubscribeToJob', job.jobId);
      await updates.waitForCount(1);
      const N = 30;
      const worker = (async () => {
        for (let i = 1; i <= N; i++) {
          await report(ctx.url, job.jobId, i < N ? { progress: i } : { progress: 100, status: 'Completed' });
          await delay(40);
        }
      })();
      await updates.waitFor((u) => u.sequence >= 8, 5000);
      proxy.dropAll();
      await waitFor(() => sockets(proxy).length === 2 && sockets(proxy)[1].conn.firstResponse, 5000, 'first reattach');
      await updates.waitFor((u) => u.sequence >= 18, 5000);
      proxy.pause();
      proxy.dropAll();
      await waitFor(() => proxy.heldCount >= 1, 5000, 'the reattaching socket (held by the proxy)');
      await delay(300);
      proxy.resume();
      await worker;
      await completed.waitForCount(1, 10_000);
      assert.deepEqual(updates.events.map((u) => u.sequence), range(1, N + 1), 'every update exactly once, in order');
      assert.deepEqual(lifecycle, []);
      assert.equal(connection.connectionId, id);
      const socks = sockets(proxy);
      assert.equal(socks.length, 3);
      for (const sock of socks) assert.equal(sock.conn.firstResponse?.status, 101);
      for (const sock of socks.slice(1)) {
        // MessagePack Sequence = [9, sequenceId]: a length-prefixed fixarray of 2 starting with 9.
        const data = sock.conn.serverFrames.filter((f) => f.opcode === 1 || f.opcode === 2);
        assert.ok(data.length >= 1);
        assert.equal(data[0].opcode, 2, 'Binary frames for MessagePack');
        const p = data[0].payload;
        let i = 0;
        while (p[i] & 0x80) i++; // skip the varint length prefix
        assert.deepEqual([p[i + 1], p[i + 2]], [0x92, 9], `the first message on a reattached socket is Sequence: ${p.subarray(0, 16).toString('hex')}`);
      }
    }));

    test(`${version}.x: an invocation issued while the socket is away completes after the reattach`, () => s.run(async () => {
      const proxy = await s.proxy();
      const connection = ctx.track(build(version, proxy.url));
      const lifecycle = watchLifecycle(connection);
      const updates = collect(connection, 'JobProgressUpdate');
      await connection.start();
      const id = connection.connectionId;
      const job = await createJob(ctx.url);
      await connection.invoke('SubscribeToJob', job.jobId);
      await updates.waitForCount(1);

      proxy.pause();
      proxy.dropAll();
      await waitFor(() => proxy.heldCount >= 1, 5000, 'the reattaching socket (held by the proxy)');
      let settled = null;
      const call = connection.invoke('GetJobProgress', job.jobId).then(
        (v) => { settled = { ok: v }; },
        (e) => { settled = { error: e }; },
      );
      await report(ctx.url, job.jobId, { progress: 42, statusMessage: 'during the outage' });
      await delay(300);
      assert.equal(settled, null, 'the invocation waits while the socket is away');
      assert.equal(connection.state, 'Connected');
      proxy.resume();
      await call;
      assert.ok(settled.ok, `the invocation completed: ${settled.error}`);
      assert.equal(settled.ok.jobId, job.jobId);
      assert.equal(settled.ok.sequence, 2);
      assert.equal(settled.ok.progress, 42);
      await updates.waitFor((u) => u.sequence === 2 && u.statusMessage === 'during the outage');
      await barrier(ctx.url, connection, updates);
      // The live update of the outage arrives once, and GetJobProgress sends its state once more.
      assert.deepEqual(updates.events.map((u) => u.sequence), [1, 2, 2]);
      assert.deepEqual(lifecycle, []);
      assert.equal(connection.connectionId, id);

      // The invocation went out on the reattached socket, after the client's Sequence.
      const socks = sockets(proxy);
      assert.equal(socks.length, 2);
      const fromClient = socks[1].conn.clientFrames.filter((f) => f.opcode === 1).flatMap(framesMessages);
      assert.equal(fromClient[0].type, 9);
      assert.ok(fromClient.some((m) => m.type === 1 && m.target === 'GetJobProgress'),
        `GetJobProgress was sent on the new socket: ${JSON.stringify(fromClient)}`);
    }));
  }
});

describe('stateful reconnect after DisconnectTimeout', () => {
  const ctx = useServer({ env: { SignalR__DisconnectTimeout: '2' }, logLevel: 'debug' });
  const s = stateful(ctx);

  for (const [version, full] of GENERATIONS) {
    test(`${version}.x: a socket away longer than DisconnectTimeout gets 404 on reattach, then a new connection`, () => s.run(async () => {
      assert.equal(signalrPackageVersion(version), full);
      const proxy = await s.proxy();
      const connection = ctx.track(build(version, proxy.url));
      const lifecycle = watchLifecycle(connection);
      const updates = collect(connection, 'JobProgressUpdate');
      await connection.start();
      const id = connection.connectionId;
      const job = await createJob(ctx.url);
      await connection.invoke('SubscribeToJob', job.jobId);
      await report(ctx.url, job.jobId, { progress: 10 });
      await updates.waitFor((u) => u.sequence === 2);

      proxy.pause();
      proxy.dropAll();
      await waitFor(() => proxy.heldCount >= 1, 5000, 'the reattaching socket (held by the proxy)');
      await report(ctx.url, job.jobId, { progress: 20, statusMessage: 'missed' });
      await delay(3500); // > DisconnectTimeout (2 s): the server disposes of the connection
      assert.deepEqual(lifecycle, [], 'nothing visible yet: the client is still reattaching');
      proxy.resume();

      await waitFor(() => lifecycle.some((e) => e.what === 'Reconnected'), 5000,
        () => `Reconnected (lifecycle ${JSON.stringify(lifecycle)})`);
      const socks = sockets(proxy);
      assert.ok(socks.length >= 3, `original, refused reattach, new connection (${socks.length})`);
      assert.equal(socks[1].req.query.get('id'), socks[0].req.query.get('id'), 'the reattach used the old token');
      assert.equal(socks[1].conn.firstResponse?.status, 404,
        `the reattach to a disposed connection is refused with 404 (got ${socks[1].conn.firstResponse?.line})`);
      assert.notEqual(socks.at(-1).req.query.get('id'), socks[0].req.query.get('id'), 'a new token');
      assert.equal(socks.at(-1).conn.firstResponse?.status, 101);
      assert.equal(proxy.requests.filter((r) => r.path === `${HUB_PATH}/negotiate`).length, 2, 'negotiated again');

      assert.deepEqual(lifecycle.map((e) => e.what), ['Reconnecting', 'Reconnected']);
      assert.equal(connection.state, 'Connected');
      assert.notEqual(connection.connectionId, id, 'a new connection id');
      assert.equal(lifecycle[1].id, connection.connectionId);

      // The new connection works; what was missed comes back with afterSequence.
      updates.clear();
      await connection.invoke('SubscribeToJob', job.jobId, 2);
      const missed = await updates.waitFor((u) => u.sequence === 3);
      assert.equal(missed.statusMessage, 'missed');
      await report(ctx.url, job.jobId, { progress: 100, status: 'Completed' });
      await updates.waitFor((u) => u.sequence === 4);
      assert.deepEqual(updates.events.map((u) => u.sequence), [3, 4]);
    }));
  }
});
