// Abuse limits (docs/operations.md, "Abuse limits"): one client that negotiates without
// connecting, floods invocations, subscribes to everything, opens too many connections or
// floods the REST API meets its documented limit, and a bystander client on another
// address keeps receiving its updates promptly meanwhile. The abuser comes from
// 127.0.0.2 (all of 127/8 is loopback), the bystander from 127.0.0.1, so the per-address
// limits see two clients. Figures are printed with each test (node --test shows them).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import WebSocket from 'ws';
import crypto from 'node:crypto';
import { startServer, createJob, report, getJson, connect, collect, waitFor, safeStop, signalrModule, HUB_PATH, TIME_SCALE } from '../lib/server.mjs';

const ABUSER = '127.0.0.2';
const RS = '\x1e';

// ---- Helpers -----------------------------------------------------------------------

function rssKb(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]);
}

async function scrape(url) {
  const r = await getJson(url, '/metrics');
  assert.equal(r.status, 200);
  const values = {};
  for (const line of r.text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    values[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return values;
}
const rejected = (m, reason) => m[`herald_http_requests_rejected_total{reason="${reason}"}`] ?? 0;

// HTTP requests from the abuser's address over a few keep-alive sockets.
function abuserHttp(baseUrl, sockets = 16) {
  const u = new URL(baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: sockets, localAddress: ABUSER });
  const send = (method, path) =>
    new Promise((resolve, reject) => {
      const req = http.request({ host: u.hostname, port: u.port, method, path, agent, localAddress: ABUSER }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
      });
      req.on('error', reject);
      req.end();
    });
  return { send, close: () => agent.destroy() };
}

// Runs `total` requests with `parallel` in flight; returns counts by status and a sample
// answer per status.
async function flood(total, parallel, one) {
  const byStatus = {};
  const sample = {};
  let next = 0;
  const worker = async () => {
    while (next < total) {
      next++;
      const r = await one();
      byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
      sample[r.status] ??= r;
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return { byStatus, sample };
}

// A raw hub connection (JSON protocol) from the abuser's address that only counts what it
// receives: completions by outcome, Error events, the Close message.
class AbuserSocket {
  static async open(baseUrl, token, accessToken) {
    const url = baseUrl.replace(/^http/, 'ws') + HUB_PATH + (token ? `?id=${encodeURIComponent(token)}` : '') +
      (accessToken ? `&access_token=${encodeURIComponent(accessToken)}` : '');
    const s = new AbuserSocket();
    s.ws = new WebSocket(url, { localAddress: ABUSER });
    s.ok = 0;
    s.failed = 0;
    s.errors = {};  // completion error text -> count
    s.errorEvents = 0;
    s.close = null;
    s.closed = false;
    s.handshake = false;
    s.partial = '';
    s.ws.on('message', (data) => {
      let buf = s.partial + data.toString('utf8');
      let i;
      while ((i = buf.indexOf(RS)) >= 0) {
        const m = JSON.parse(buf.slice(0, i));
        buf = buf.slice(i + 1);
        if (!s.handshake) {
          s.handshake = true;
          continue;
        }
        if (m.type === 3) {
          if (m.error) {
            s.failed++;
            s.errors[m.error] = (s.errors[m.error] ?? 0) + 1;
          } else {
            s.ok++;
          }
        } else if (m.type === 1 && m.target === 'Error') {
          s.errorEvents++;
        } else if (m.type === 7) {
          s.close = m;
        }
      }
      s.partial = buf;
    });
    s.ws.on('close', () => (s.closed = true));
    s.ws.on('error', () => {});
    await new Promise((resolve, reject) => {
      s.ws.once('open', resolve);
      s.ws.once('unexpected-response', (req, res) => reject(Object.assign(new Error(`upgrade ${res.statusCode}`), { status: res.statusCode })));
      s.ws.once('error', reject);
    });
    s.ws.send(`{"protocol":"json","version":1}${RS}`);
    await waitFor(() => s.handshake, 5000, 'handshake');
    return s;
  }
  get completions() {
    return this.ok + this.failed;
  }
  // Sends invocations as one write.
  invokeMany(list) {
    this.ws.send(list.map(([id, target, args]) => JSON.stringify({ type: 1, invocationId: id, target, arguments: args })).join(RS) + RS);
  }
  terminate() {
    this.ws.terminate();
  }
}

// A well-behaved client on 127.0.0.1: subscribed to its own job, which gets a report every
// 100 ms; records how long each report took to arrive.
async function startBystander(url) {
  const job = await createJob(url, { jobType: 'bystander' });
  const client = await connect(10, url);
  const updates = collect(client, 'JobProgressUpdate');
  await client.invoke('SubscribeToJob', job.jobId);
  await updates.waitFor((u) => u.sequence === 1, 5000);
  const latencies = [];
  let stopped = false;
  let sent = 0;
  const loop = (async () => {
    while (!stopped) {
      const at = Date.now();
      const tag = `r${++sent}`;
      await report(url, job.jobId, { progress: sent % 100, statusMessage: tag });  // asserts 200
      await updates.waitFor((u) => u.statusMessage === tag, 10_000 * TIME_SCALE);
      latencies.push(Date.now() - at);
      await delay(100);
    }
  })();
  return {
    client,
    async stop() {
      stopped = true;
      await loop;
      await safeStop(client);
      const sorted = [...latencies].sort((a, b) => a - b);
      return { updates: sorted.length, p50: sorted[Math.floor(sorted.length / 2)] ?? NaN, max: sorted.at(-1) ?? NaN };
    },
  };
}

function assertPrompt(stats, what) {
  console.log(`  bystander during ${what}: ${stats.updates} updates, report-to-delivery p50 ${stats.p50} ms, max ${stats.max} ms`);
  assert.ok(stats.updates >= 3, `the bystander got updates during ${what}`);
  assert.ok(stats.max <= 1000 * TIME_SCALE, `bystander updates arrive promptly during ${what} (max ${stats.max} ms)`);
}

async function withServer(env, body) {
  const server = await startServer({ env });
  try {
    await body(server);
  } finally {
    await server.stop('SIGKILL');
  }
}

// ---- Tests -------------------------------------------------------------------------

describe('abuse limits', () => {
  test('10,000 negotiates from one address that never connect: NegotiatesPerIpPerSecond holds, the rest get 429, nothing stays', async () => {
    await withServer({ SignalR__DisconnectTimeout: '2' }, async (server) => {
      const bystander = await startBystander(server.url);
      const before = await scrape(server.url);
      const abuser = abuserHttp(server.url);
      const t0 = Date.now();
      const { byStatus, sample } = await flood(10_000, 32, () => abuser.send('POST', `${HUB_PATH}/negotiate?negotiateVersion=1`));
      const seconds = (Date.now() - t0) / 1000;
      abuser.close();
      const stats = await bystander.stop();
      const admitted = byStatus[200] ?? 0;
      const refused = byStatus[429] ?? 0;
      console.log(`  10,000 negotiates in ${seconds.toFixed(2)} s: ${admitted} admitted, ${refused} refused with 429 (limit: burst 200 + 50/s)`);
      assert.equal(admitted + refused, 10_000, JSON.stringify(byStatus));
      assert.ok(admitted >= 200, 'the burst is admitted');
      assert.ok(admitted <= 200 + 50 * seconds + 5, `at most the burst plus the rate: ${admitted}`);
      assert.ok(Number(sample[429].headers['retry-after']) >= 1, 'Retry-After on a 429');
      assert.match(sample[429].body, /NegotiatesPerIpPerSecond/);
      assertPrompt(stats, 'the negotiate flood');
      const after = await scrape(server.url);
      assert.equal(rejected(after, 'limit_negotiates_per_ip') - rejected(before, 'limit_negotiates_per_ip'), refused);
      // Connections that never connect are disposed after DisconnectTimeout (2 s).
      await waitFor(async () => (await scrape(server.url)).herald_connections_open === 0, 10_000, 'negotiated connections reaped');
    });
  });

  test('10,000 negotiates with the negotiate limits off: the never-connected connections are reaped and memory returns to its baseline', async () => {
    // DisconnectTimeout 5 s: longer than the flood takes, so all 10,000 are held at once.
    const env = { SignalR__DisconnectTimeout: '5', Limits__NegotiatesPerIpPerSecond: '0', Limits__MaxConnectionsPerIp: '0' };
    await withServer(env, async (server) => {
      const pid = server.proc.pid;
      const abuser = abuserHttp(server.url);
      const round = async () => {
        const { byStatus } = await flood(10_000, 32, () => abuser.send('POST', `${HUB_PATH}/negotiate?negotiateVersion=1`));
        assert.equal(byStatus[200], 10_000);
        const peak = (await scrape(server.url)).herald_connections_open;
        const peakRss = rssKb(pid);
        await waitFor(async () => (await scrape(server.url)).herald_connections_open === 0, 20_000 * TIME_SCALE, 'reaped');
        await delay(500);
        return { peak, peakRss, rss: rssKb(pid) };
      };
      // Warm up allocator caches and the store, then measure.
      await abuser.send('POST', `${HUB_PATH}/negotiate?negotiateVersion=1`);
      await delay(3000);
      const baseline = rssKb(pid);
      const first = await round();
      const second = await round();
      abuser.close();
      console.log(`  VmRSS baseline ${baseline} kB; round 1: ${first.peak} pending, peak ${first.peakRss} kB, after reaping ${first.rss} kB; round 2: peak ${second.peakRss} kB, after ${second.rss} kB`);
      assert.ok(first.peak >= 9_000, `the negotiated connections were held until reaped (${first.peak} at the peak)`);
      // The sanitized server (TIME_SCALE > 1) keeps freed memory in ASan's quarantine, so
      // its RSS says nothing there; the release server's run checks it.
      if (TIME_SCALE === 1) {
        assert.ok(first.rss - baseline <= 16 * 1024, `after reaping, within 16 MB of the baseline (+${first.rss - baseline} kB)`);
        assert.ok(second.rss - first.rss <= 2 * 1024, `a second round reuses the memory (+${second.rss - first.rss} kB)`);
      }
    });
  });

  test('10,000 invocations a second from one client: the rate is held, the excess gets completion errors, sustained abuse closes the connection', async () => {
    await withServer({ Limits__InvocationAbuseCloseSeconds: '3' }, async (server) => {
      const bystander = await startBystander(server.url);
      const abuser = await AbuserSocket.open(server.url);
      const t0 = Date.now();
      let sent = 0;
      // 100 invocations every 10 ms (10,000 a second, on a fixed schedule) until the server
      // closes the connection.
      for (let k = 0; !abuser.closed && Date.now() - t0 < 10_000 * TIME_SCALE; k++) {
        const wait = t0 + k * 10 - Date.now();
        if (wait > 0) await delay(wait);
        const batch = [];
        for (let i = 0; i < 100; i++) batch.push([String(++sent), 'GetJobProgress', ['no-such-job']]);
        if (abuser.ws.readyState === WebSocket.OPEN) abuser.invokeMany(batch);
        if (sent === 10_000) console.log(`  10,000 invocations sent in ${Date.now() - t0} ms`);
      }
      const seconds = (Date.now() - t0) / 1000;
      const stats = await bystander.stop();
      const limited = Object.entries(abuser.errors).filter(([e]) => e.includes('rate limit exceeded')).reduce((n, [, c]) => n + c, 0);
      console.log(`  ${sent} invocations over ${seconds.toFixed(1)} s: ${abuser.ok} answered, ${limited} refused (rate limit exceeded); closed: ${JSON.stringify(abuser.close)}`);
      assert.ok(abuser.closed, 'the connection is closed');
      assert.ok(abuser.close?.error?.includes('Rate limit exceeded'), `a Close with an error (${JSON.stringify(abuser.close)})`);
      assert.equal(abuser.close.allowReconnect ?? false, false);
      assert.ok(seconds >= 2.5, `closed after about 3 s over the limit, not before (${seconds} s)`);
      assert.ok(abuser.ok >= 200, 'the burst is answered');
      assert.ok(abuser.ok <= 200 + 100 * seconds + 10, `at most the burst plus 100 a second answered (${abuser.ok})`);
      assert.ok(limited > 5_000, `the excess is refused (${limited})`);
      assertPrompt(stats, 'the invocation flood');
      const m = await scrape(server.url);
      assert.ok(rejected(m, 'limit_invocations') >= limited);
      assert.equal(rejected(m, 'limit_invocations_abuse_closed'), 1);
    });
  });

  test('a client subscribing to 100,000 groups: MaxGroupsPerConnection (1,000) holds and each subscription over it is a completion error', async () => {
    await withServer({ Limits__InvocationsPerConnectionPerSecond: '0' }, async (server) => {
      const jobs = [];
      for (let i = 0; i < 1000; i += 50) {
        jobs.push(...(await Promise.all(Array.from({ length: 50 }, () => createJob(server.url, { jobType: 'groups' })))));
      }
      const bystander = await startBystander(server.url);
      const abuser = await AbuserSocket.open(server.url);
      const t0 = Date.now();
      // Unknown ids first: NOT_FOUND, and no group is kept, so they take no place.
      const ids = [...Array.from({ length: 1000 }, (_, i) => `unknown-${i}`), ...jobs.map((j) => j.jobId)];
      while (ids.length < 100_000) ids.push(`more-${ids.length}`);
      // Pipelined, at most 1,000 unanswered at a time (as a client awaiting its calls in
      // parallel would be): 100,000 at once would instead overflow the connection's own
      // outbound queue with their answers (SignalR:MaxOutboundQueueBytes) and close it.
      for (let i = 0; i < ids.length; i += 500) {
        while (i - abuser.completions >= 1000) await delay(1);
        abuser.invokeMany(ids.slice(i, i + 500).map((id, k) => [String(i + k), 'SubscribeToJob', [id]]));
      }
      await waitFor(() => abuser.completions === 100_000, 60_000 * TIME_SCALE, () => `100,000 completions (got ${abuser.completions})`);
      const seconds = (Date.now() - t0) / 1000;
      const stats = await bystander.stop();
      const limited = Object.entries(abuser.errors).filter(([e]) => e.includes('Limits:MaxGroupsPerConnection')).reduce((n, [, c]) => n + c, 0);
      const m = await scrape(server.url);
      console.log(`  100,000 subscriptions in ${seconds.toFixed(1)} s: ${abuser.ok} answered (1,000 unknown ids: ${abuser.errorEvents} NOT_FOUND), ${limited} refused over the limit; groups on the server: ${m.herald_hub_groups}`);
      assert.equal(abuser.ok, 2000, 'the unknown ids and the 1,000 jobs were answered');
      assert.equal(abuser.errorEvents, 1000, 'NOT_FOUND for each unknown id');
      assert.equal(limited, 98_000);
      assert.equal(rejected(m, 'limit_groups_per_connection'), 98_000);
      assert.ok(m.herald_hub_groups <= 1000 + 1, `the abuser holds at most 1,000 groups (${m.herald_hub_groups} with the bystander's)`);
      assertPrompt(stats, 'the subscription flood');
    });
  });

  test('1,200 connections from one address: MaxConnectionsPerIp (1,000) holds, and another address still connects', async () => {
    await withServer({ Limits__NegotiatesPerIpPerSecond: '0' }, async (server) => {
      const bystander = await startBystander(server.url);
      const abuser = abuserHttp(server.url, 32);
      const sockets = [];
      const refusals = {};
      const t0 = Date.now();
      const openOne = async () => {
        const n = await abuser.send('POST', `${HUB_PATH}/negotiate?negotiateVersion=1`);
        if (n.status !== 200) {
          refusals[n.status] = (refusals[n.status] ?? 0) + 1;
          refusals.sample = n;
          return;
        }
        sockets.push(await AbuserSocket.open(server.url, JSON.parse(n.body).connectionToken));
      };
      for (let i = 0; i < 1200; i += 50) await Promise.all(Array.from({ length: 50 }, openOne));
      const seconds = (Date.now() - t0) / 1000;
      // A new client from another address connects and works during the abuse.
      const other = await connect(10, server.url);
      const job = await createJob(server.url);
      const otherUpdates = collect(other, 'JobProgressUpdate');
      await other.invoke('SubscribeToJob', job.jobId);
      await otherUpdates.waitFor((u) => u.sequence === 1, 5000);
      await safeStop(other);
      const stats = await bystander.stop();
      const m = await scrape(server.url);
      console.log(`  1,200 attempts in ${seconds.toFixed(1)} s: ${sockets.length} connected, ${refusals[429] ?? 0} refused with 429; connections counted: ${m.herald_connections_open}`);
      assert.equal(sockets.length, 1000);
      assert.equal(refusals[429], 200);
      assert.match(refusals.sample.body, /MaxConnectionsPerIp/);
      assert.ok(Number(refusals.sample.headers['retry-after']) >= 1);
      assert.equal(rejected(m, 'limit_connections_per_ip'), 200);
      assertPrompt(stats, 'the connection flood');
      // Places come back when connections close.
      for (const s of sockets.splice(0, 100)) s.terminate();
      await waitFor(async () => (await scrape(server.url)).herald_connections_open <= 900, 10_000 * TIME_SCALE, 'closed connections give their places back');
      for (let i = 0; i < 100; i += 50) await Promise.all(Array.from({ length: 50 }, openOne));
      assert.equal(sockets.length, 1000, 'the freed places were taken again');
      for (const s of sockets) s.terminate();
      abuser.close();
    });
  });

  test('1,000 connections from one user: MaxConnectionsPerUser (100) holds, and another user still connects', async () => {
    // With authentication on, the user is the token's subject, wherever it connects from.
    const secret = 'abuse-limits-e2e-secret-0123456789abcdef';
    const apiKey = 'abuse-limits-worker-key-0123456789';
    const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const tokenOf = (sub) => {
      const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub, exp: Math.floor(Date.now() / 1000) + 600 })}`;
      return `${input}.${crypto.createHmac('sha256', secret).update(input).digest('base64url')}`;
    };
    await withServer({
      AppSettings__EnableAuth: 'true', Jwt__Secret: secret, Workers__ApiKeys: apiKey,
      Limits__NegotiatesPerIpPerSecond: '0',
    }, async (server) => {
      const mallory = tokenOf('mallory');
      const sockets = [];
      const refusals = {};
      const t0 = Date.now();
      const openOne = async () => {
        const n = await fetch(`${server.url}${HUB_PATH}/negotiate?negotiateVersion=1`, {
          method: 'POST', headers: { Authorization: `Bearer ${mallory}` },
        });
        const body = await n.text();
        if (n.status !== 200) {
          refusals[n.status] = (refusals[n.status] ?? 0) + 1;
          refusals.sample = { body, retryAfter: n.headers.get('retry-after') };
          return;
        }
        sockets.push(await AbuserSocket.open(server.url, JSON.parse(body).connectionToken, mallory));
      };
      for (let i = 0; i < 1000; i += 50) await Promise.all(Array.from({ length: 50 }, openOne));
      const seconds = (Date.now() - t0) / 1000;
      // Another user, from the same address, connects with the real client and gets updates.
      const created = await fetch(`${server.url}/api/v1/jobs`, {
        method: 'POST', headers: { 'content-type': 'application/json', 'X-Api-Key': apiKey },
        body: JSON.stringify({ jobType: 'Transcription', userId: 'alice' }),
      });
      assert.equal(created.status, 201);
      const job = await created.json();
      const signalr = signalrModule(10);
      const alice = new signalr.HubConnectionBuilder()
        .withUrl(server.url + HUB_PATH, { accessTokenFactory: () => tokenOf('alice') })
        .configureLogging(signalr.LogLevel.None)
        .build();
      const updates = collect(alice, 'JobProgressUpdate');
      await alice.start();
      await alice.invoke('SubscribeToJob', job.jobId);
      const reported = await fetch(`${server.url}/api/v1/jobs/${job.jobId}/progress`, {
        method: 'POST', headers: { 'content-type': 'application/json', 'X-Api-Key': apiKey },
        body: JSON.stringify({ progress: 42 }),
      });
      assert.equal(reported.status, 200);
      await updates.waitFor((u) => u.progress === 42, 5000 * TIME_SCALE);
      await safeStop(alice);
      const m = await scrape(server.url);
      console.log(`  1,000 attempts by one user in ${seconds.toFixed(1)} s: ${sockets.length} connected, ${refusals[429] ?? 0} refused with 429; another user connected and got its update`);
      assert.equal(sockets.length, 100);
      assert.equal(refusals[429], 900);
      assert.match(refusals.sample.body, /MaxConnectionsPerUser/);
      assert.ok(Number(refusals.sample.retryAfter) >= 1);
      assert.equal(rejected(m, 'limit_connections_per_user'), 900);
      for (const s of sockets) s.terminate();
    });
  });

  test('MaxConnections: the server refuses a connection past its total with 503, a skipped negotiation too', async () => {
    await withServer({ Limits__MaxConnections: '5' }, async (server) => {
      const clients = [];
      for (let i = 0; i < 5; i++) clients.push(await connect(10, server.url));
      const refused = await fetch(`${server.url}${HUB_PATH}/negotiate?negotiateVersion=1`, { method: 'POST' });
      assert.equal(refused.status, 503);
      assert.ok(Number(refused.headers.get('retry-after')) >= 1);
      await assert.rejects(AbuserSocket.open(server.url), (e) => e.status === 503);
      const m = await scrape(server.url);
      assert.equal(rejected(m, 'limit_connections'), 2);
      console.log(`  MaxConnections=5: 5 connected, the 6th negotiate and a direct WebSocket refused with 503`);
      await safeStop(clients.pop());
      await waitFor(async () => (await scrape(server.url)).herald_connections_open === 4, 5000, 'a place freed');
      clients.push(await connect(10, server.url));
      for (const c of clients) await safeStop(c);
    });
  });

  test('a REST flood from one address: RestRequestsPerUserPerSecond holds with 429 problem+json and Retry-After; others are unaffected', async () => {
    await withServer({ Limits__RestRequestsPerUserPerSecond: '200' }, async (server) => {
      const bystander = await startBystander(server.url);
      const abuser = abuserHttp(server.url, 32);
      const t0 = Date.now();
      const { byStatus, sample } = await flood(5000, 32, () => abuser.send('GET', '/api/v1/jobs/no-such-job'));
      const seconds = (Date.now() - t0) / 1000;
      abuser.close();
      const stats = await bystander.stop();
      const admitted = byStatus[404] ?? 0;
      const refused = byStatus[429] ?? 0;
      console.log(`  5,000 REST requests in ${seconds.toFixed(2)} s: ${admitted} served, ${refused} refused with 429 (limit: burst 400 + 200/s)`);
      assert.equal(admitted + refused, 5000, JSON.stringify(byStatus));
      assert.ok(admitted >= 400 && admitted <= 400 + 200 * seconds + 5, `admitted ${admitted}`);
      const p = sample[429];
      assert.match(p.headers['content-type'], /^application\/problem\+json/);
      assert.equal(JSON.parse(p.body).status, 429);
      assert.equal(JSON.parse(p.body).title, 'Too Many Requests');
      assert.ok(Number(p.headers['retry-after']) >= 1);
      assertPrompt(stats, 'the REST flood');
      const m = await scrape(server.url);
      assert.equal(rejected(m, 'limit_rest_requests'), refused);
    });
  });
});
