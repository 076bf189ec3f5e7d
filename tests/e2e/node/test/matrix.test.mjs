// The transport × hub protocol × client generation matrix: every official JavaScript client
// generation (5.0.17, 6.0.25, 7.0.14, 8.0.29, 10.0.11), forced onto each transport
// (WebSockets, ServerSentEvents, LongPolling) with each hub protocol (JSON, MessagePack),
// connects through a TCP proxy, follows a job from a REST worker to the end, calls a method
// with a result, and survives a dropped socket with automatic reconnect (a new connection)
// plus an afterSequence re-subscribe that replays exactly what it missed.
import { describe, test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import {
  useServer, createJob, report, collect, waitFor, delay, signalrModule, signalrPackageVersion, HUB_PATH,
} from '../lib/server.mjs';
import { startProxy } from '../lib/proxy.mjs';

const require = createRequire(import.meta.url);

const GENERATIONS = [[5, '5.0.17'], [6, '6.0.25'], [7, '7.0.14'], [8, '8.0.29'], [10, '10.0.11']];
const TRANSPORTS = ['WebSockets', 'ServerSentEvents', 'LongPolling'];
const PROTOCOLS = ['json', 'messagepack'];
const TRANSPORT_CLASS = {
  WebSockets: 'WebSocketTransport',
  ServerSentEvents: 'ServerSentEventsTransport',
  LongPolling: 'LongPollingTransport',
};

const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** The MessagePack hub protocol package of the same generation as the client. */
function msgpackProtocol(version) {
  const pkg = `signalr${version}-msgpack`;
  const mod = require(pkg);
  return { protocol: new mod.MessagePackHubProtocol(), version: require(`${pkg}/package.json`).version };
}

/** A hub connection of client generation `version`, forced onto `transport`, not started. */
function build(version, baseUrl, { transport, protocol = 'json', reconnect } = {}) {
  const signalr = signalrModule(version);
  // 5.x binds the built-in fetch to `self`, which Node.js does not define (see lib/server.mjs).
  if (version === 5 && typeof globalThis.self === 'undefined') globalThis.self = globalThis;
  const level = process.env.HERALD_E2E_CLIENT_LOG ?? 'None';
  let builder = new signalr.HubConnectionBuilder()
    .withUrl(baseUrl + HUB_PATH, { transport: signalr.HttpTransportType[transport] })
    .configureLogging(signalr.LogLevel[level]);
  if (protocol === 'messagepack') builder = builder.withHubProtocol(msgpackProtocol(version).protocol);
  if (reconnect) builder = builder.withAutomaticReconnect(reconnect);
  return builder.build();
}

/** Class name of the transport the client is using right now. */
function transportName(connection) {
  return connection.connection?.transport?.constructor?.name;
}

/**
 * What the proxy saw of the hub's transport requests (negotiate excluded), as evidence of
 * the transport really used: WebSocket upgrades, SSE GETs, long-polling GETs, POSTs.
 */
function transportRequests(proxy) {
  const hub = proxy.requests.filter((r) => r.path === HUB_PATH);
  const isUpgrade = (r) => (r.headers.upgrade ?? '').toLowerCase() === 'websocket';
  const isSse = (r) => r.method === 'GET' && !isUpgrade(r) && /text\/event-stream/i.test(r.headers.accept ?? '');
  return {
    upgrades: hub.filter(isUpgrade),
    sseGets: hub.filter(isSse),
    polls: hub.filter((r) => r.method === 'GET' && !isUpgrade(r) && !isSse(r)),
    posts: hub.filter((r) => r.method === 'POST'),
    deletes: hub.filter((r) => r.method === 'DELETE'),
  };
}

function assertTransportUsed(proxy, transport, what) {
  const seen = transportRequests(proxy);
  const summary = JSON.stringify({
    upgrades: seen.upgrades.length, sseGets: seen.sseGets.length, polls: seen.polls.length, posts: seen.posts.length,
  });
  if (transport === 'WebSockets') {
    assert.ok(seen.upgrades.length >= 1, `${what}: a WebSocket upgrade went through the proxy ${summary}`);
    assert.equal(seen.sseGets.length + seen.polls.length + seen.posts.length, 0, `${what}: no HTTP transport requests ${summary}`);
  } else if (transport === 'ServerSentEvents') {
    assert.ok(seen.sseGets.length >= 1, `${what}: an SSE GET (Accept: text/event-stream) went through ${summary}`);
    assert.ok(seen.posts.length >= 1, `${what}: client → server data went as POSTs ${summary}`);
    assert.equal(seen.upgrades.length + seen.polls.length, 0, `${what}: no upgrade, no poll ${summary}`);
  } else {
    assert.ok(seen.polls.length >= 2, `${what}: long-polling GETs went through ${summary}`);
    assert.ok(seen.polls.every((r) => r.query.has('_')), `${what}: every poll carries the _= cache-buster`);
    assert.ok(seen.posts.length >= 1, `${what}: client → server data went as POSTs ${summary}`);
    assert.equal(seen.upgrades.length + seen.sseGets.length, 0, `${what}: no upgrade, no SSE GET ${summary}`);
  }
  // Every transport request names a connection token.
  for (const r of [...seen.upgrades, ...seen.sseGets, ...seen.polls, ...seen.posts]) {
    assert.ok(r.query.get('id'), `${what}: ${r.method} ${r.target} carries ?id=`);
  }
  return seen;
}

/** Parses a handshake request (`{...}\x1e`) from the start of a buffer. */
function parseHandshake(buf, what) {
  const text = buf.toString('utf8');
  const end = text.indexOf('\x1e');
  assert.ok(end > 0, `${what}: a handshake request terminated by 0x1E, got ${JSON.stringify(text)}`);
  return JSON.parse(text.slice(0, end));
}

/**
 * The hub protocol really used on the wire: every handshake request names it, and over
 * WebSockets the server's data frames are Text for JSON and Binary for MessagePack (the
 * handshake response included).
 */
function assertProtocolOnWire(proxy, transport, protocol, what) {
  const seen = transportRequests(proxy);
  const handshakes = [];
  if (transport === 'WebSockets') {
    for (const up of seen.upgrades) {
      const conn = proxy.connections.find((c) => c.id === up.conn);
      if (conn.firstResponse?.status !== 101) continue;
      assert.ok(conn.clientFrames.length >= 1, `${what}: the client sent a frame on socket ${conn.id}`);
      handshakes.push(parseHandshake(conn.clientFrames[0].payload, what));
      const data = conn.serverFrames.filter((f) => f.opcode === 1 || f.opcode === 2);
      assert.ok(data.length >= 1, `${what}: the server sent data frames on socket ${conn.id}`);
      const want = protocol === 'json' ? 1 : 2;
      assert.deepEqual(data.map((f) => f.opcode), data.map(() => want),
        `${what}: server data frames are all ${protocol === 'json' ? 'Text' : 'Binary'}`);
      assert.equal(data[0].payload.toString('utf8'), '{}\x1e', `${what}: the handshake response`);
    }
  } else {
    const firstPostOf = new Map();
    for (const p of seen.posts) {
      const id = p.query.get('id');
      if (!firstPostOf.has(id)) firstPostOf.set(id, p);
    }
    for (const p of firstPostOf.values()) handshakes.push(parseHandshake(p.body, what));
  }
  assert.ok(handshakes.length >= 1, `${what}: at least one handshake seen`);
  for (const h of handshakes) assert.equal(h.protocol, protocol, `${what}: handshake ${JSON.stringify(h)}`);
  return handshakes;
}

describe('transport × protocol × client generation matrix', () => {
  const ctx = useServer();
  let proxies = [];
  afterEach(async () => {
    for (const p of proxies.splice(0)) await p.close();
  });

  async function newProxy() {
    const proxy = await startProxy(ctx.url);
    proxies.push(proxy);
    return proxy;
  }

  for (const [version, full] of GENERATIONS) {
    describe(`@microsoft/signalr ${full}`, () => {
      for (const transport of TRANSPORTS) {
        for (const protocol of PROTOCOLS) {
          const name = `${version}.x ${transport} ${protocol}`;

          if (transport === 'ServerSentEvents' && protocol === 'messagepack') {
            // MessagePack is a binary protocol and SSE carries text only: the server offers SSE
            // with the Text transfer format alone, and the JS client refuses to run a binary
            // protocol over SSE (its SSE transport accepts only TransferFormat.Text). So this
            // cell cannot carry traffic; what is checked is that the client refuses cleanly,
            // without ever opening an event stream.
            test(`${name} (refused by the client: SSE is text-only)`, async () => {
              assert.equal(signalrPackageVersion(version), full);
              const proxy = await newProxy();
              const connection = ctx.track(build(version, proxy.url, { transport, protocol }));
              await assert.rejects(connection.start(), (err) => {
                assert.match(String(err?.message ?? err),
                  /'ServerSentEvents' does not support Binary|only supports the 'Text' transfer format/);
                return true;
              });
              assert.equal(connection.state, 'Disconnected');
              const seen = transportRequests(proxy);
              assert.equal(seen.sseGets.length, 0, 'no event stream was opened');
              assert.ok(proxy.requests.some((r) => r.path === `${HUB_PATH}/negotiate`), 'the client negotiated first');
            });
            continue;
          }

          test(name, async () => {
            assert.equal(signalrPackageVersion(version), full);
            if (protocol === 'messagepack') assert.equal(msgpackProtocol(version).version, full);
            const proxy = await newProxy();
            const connection = ctx.track(build(version, proxy.url, { transport, protocol, reconnect: [0, 500, 1000] }));
            const states = [];
            let reconnectedId = null;
            connection.onreconnecting(() => states.push('Reconnecting'));
            connection.onreconnected((id) => {
              states.push('Reconnected');
              reconnectedId = id;
            });
            connection.onclose(() => states.push('Closed'));
            const log = [];
            const updates = collect(connection, 'JobProgressUpdate', log);
            const completed = collect(connection, 'JobCompleted', log);
            const failed = collect(connection, 'JobFailed', log);
            const errors = collect(connection, 'Error', log);

            await connection.start();
            assert.equal(connection.state, 'Connected');
            const firstId = connection.connectionId;
            assert.equal(typeof firstId, 'string');
            assert.ok(firstId.length > 0, 'connectionId is set');
            assert.equal(transportName(connection), TRANSPORT_CLASS[transport], 'the client runs the forced transport');
            assert.equal((connection._protocol ?? connection.protocol)?.name, protocol, "the hub protocol in use");

            // ---- The whole job flow, in order.
            const job = await createJob(ctx.url, { videoId: `vid-${version}-${transport}-${protocol}` });
            assert.equal(await connection.invoke('SubscribeToJob', job.jobId), null);
            await updates.waitForCount(1);
            assert.equal(updates.events[0].sequence, 1);
            assert.equal(updates.events[0].status, 'Pending');
            for (let p = 0; p <= 100; p += 10) {
              await report(ctx.url, job.jobId, p < 100
                ? { progress: p, currentStage: `Stage ${p}`, statusMessage: `at ${p}%` }
                : { progress: 100, currentStage: 'Done', statusMessage: 'done', status: 'Completed' });
            }
            await completed.waitForCount(1, 5000);
            const flow = updates.events.filter((u) => u.jobId === job.jobId);
            assert.deepEqual(flow.map((u) => u.sequence), range(1, 12), 'strictly increasing sequences, no gaps');
            assert.deepEqual(flow.slice(1).map((u) => u.progress), range(0, 10).map((i) => i * 10));
            assert.deepEqual(flow.map((u) => u.status), ['Pending', ...Array(10).fill('Running'), 'Completed']);
            assert.equal(flow[5].currentStage, 'Stage 40');
            assert.equal(flow[5].statusMessage, 'at 40%');
            assert.equal(completed.events.length, 1);
            assert.equal(completed.events[0].jobId, job.jobId);
            assert.equal(completed.events[0].status, 'Completed');
            const lastUpdate = log.findIndex((e) => e.name === 'JobProgressUpdate' && e.payload.sequence === 12);
            const completedAt = log.findIndex((e) => e.name === 'JobCompleted');
            assert.ok(lastUpdate >= 0 && completedAt > lastUpdate, 'JobCompleted comes after the last update');

            // ---- A method with a result.
            const state = await connection.invoke('GetJobProgress', job.jobId);
            assert.equal(state.jobId, job.jobId);
            assert.equal(state.status, 'Completed');
            assert.equal(state.progress, 100);
            assert.equal(state.sequence, 12);
            assert.equal(state.currentStage, 'Done');
            assertTransportUsed(proxy, transport, name);
            assert.equal(assertProtocolOnWire(proxy, transport, protocol, name).length, 1, 'one handshake so far');

            // ---- Kill the socket (not the server): automatic reconnect to a new connection.
            const job2 = await createJob(ctx.url);
            await connection.invoke('SubscribeToJob', job2.jobId);
            await report(ctx.url, job2.jobId, { progress: 10 });
            await report(ctx.url, job2.jobId, { progress: 20 });
            const seen2 = collect(connection, 'JobProgressUpdate');
            await updates.waitFor((u) => u.jobId === job2.jobId && u.sequence === 3);
            const k = 3;
            // With long polling a drop between two polls touches nothing: drop until it bites.
            for (let attempt = 0; !states.includes('Reconnecting'); attempt++) {
              assert.ok(attempt < 10, `the client noticed none of ${attempt} dropped sockets`);
              proxy.dropAll();
              await waitFor(() => states.includes('Reconnecting'), 500, 'Reconnecting').catch(() => {});
            }
            // Missed: reported while the client is reconnecting or reconnected but not yet
            // subscribed again (groups belong to the old connection).
            await report(ctx.url, job2.jobId, { progress: 30, statusMessage: 'missed 1' });
            await waitFor(() => states.includes('Reconnected'), 5000, () => `Reconnected (states ${states})`);
            await report(ctx.url, job2.jobId, { progress: 40, statusMessage: 'missed 2' });
            assert.deepEqual(states, ['Reconnecting', 'Reconnected']);
            assert.equal(connection.state, 'Connected');
            assert.notEqual(connection.connectionId, firstId, 'a new connection id after reconnect');
            assert.equal(reconnectedId, connection.connectionId);
            assert.equal(transportName(connection), TRANSPORT_CLASS[transport], 'reconnected on the forced transport');
            const beforeResubscribe = seen2.events.filter((u) => u.jobId === job2.jobId).map((u) => u.sequence);
            assert.ok(beforeResubscribe.every((s) => s <= k), `nothing of job 2 arrives before re-subscribing (${beforeResubscribe})`);

            seen2.clear();
            assert.equal(await connection.invoke('SubscribeToJob', job2.jobId, k), null);
            await seen2.waitFor((u) => u.jobId === job2.jobId && u.sequence === 5);
            await report(ctx.url, job2.jobId, { progress: 100, status: 'Completed' });
            await completed.waitFor((c) => c.jobId === job2.jobId);
            const replayed = seen2.events.filter((u) => u.jobId === job2.jobId);
            assert.deepEqual(replayed.map((u) => u.sequence), [4, 5, 6], 'exactly what was missed, then live');
            assert.deepEqual(replayed.map((u) => u.statusMessage).slice(0, 2), ['missed 1', 'missed 2']);
            assert.equal(replayed[2].status, 'Completed');
            assert.equal((await connection.invoke('GetJobProgress', job2.jobId)).sequence, 6);
            assertTransportUsed(proxy, transport, `${name} after reconnect`);
            assert.equal(assertProtocolOnWire(proxy, transport, protocol, `${name} after reconnect`).length, 2,
              'a second handshake: the reconnect is a new connection');
            assert.equal(failed.events.length, 0);
            assert.equal(errors.events.length, 0, `no Error events: ${JSON.stringify(errors.events)}`);

            await connection.stop();
            assert.equal(connection.state, 'Disconnected');
            assert.deepEqual(states, ['Reconnecting', 'Reconnected', 'Closed']);
          });
        }
      }
    });
  }

  test('the proxy really drops client sockets while the server stays up', async () => {
    const proxy = await newProxy();
    const res1 = await fetch(`${proxy.url}/api/v1/jobs?limit=1`, { headers: { connection: 'keep-alive' } });
    assert.equal(res1.status, 200);
    await res1.text();
    assert.ok(proxy.accepted >= 1);
    assert.ok(proxy.active >= 1, 'the keep-alive connection is still open');
    assert.ok(proxy.dropAll() >= 1);
    await delay(50);
    assert.equal(proxy.active, 0);
    const res2 = await fetch(`${proxy.url}/api/v1/jobs?limit=1`);
    assert.equal(res2.status, 200);
    await res2.text();
    assert.equal(proxy.requests.length, 2);
    assert.equal(proxy.requests[1].path, '/api/v1/jobs');
  });
});
