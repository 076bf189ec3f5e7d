// JWT authentication and per-user isolation (spec section 7, docs/security.md), with the
// real @microsoft/signalr clients 7.0.14 and 10 and their accessTokenFactory over WebSockets,
// SSE and long polling. Tokens are made here with node:crypto (HS256, RS256, ES256), the
// server gets the secret and a PEM file of the public keys.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  startServer, request, signalrModule, signalrPackageVersion, waitFor, delay, safeStop, HUB_PATH,
  TIME_SCALE,
} from '../lib/server.mjs';

// The client generations the issue names: 7.0.14 and the current 10.
const VERSIONS = [7, 10];
const SECRET = 'e2e-secret-that-is-long-enough-0123456789';
const ISSUER = 'herald-e2e';
const AUDIENCE = 'herald';
const API_KEY = 'worker-api-key-0123456789abcdef';
const HASHED_KEY = 'hashed-worker-key-0123456789';
const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const rsa2 = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });

const b64 = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

/** A signed JWT; `alg` picks the key (HS256 secret, RS256 rsa, ES256 ec) unless `sign` is given. */
function jwt(claims = {}, { alg = 'HS256', kid, header = {}, sign } = {}) {
  const payload = { sub: 'alice', iss: ISSUER, aud: AUDIENCE, exp: now() + 600, ...claims };
  for (const k of Object.keys(payload)) if (payload[k] === undefined) delete payload[k];
  const h = { alg, typ: 'JWT', ...(kid ? { kid } : {}), ...header };
  const input = `${b64(h)}.${b64(payload)}`;
  let sig;
  if (sign) sig = sign(input);
  else if (alg === 'HS256') sig = crypto.createHmac('sha256', SECRET).update(input).digest();
  else if (alg === 'RS256') sig = crypto.sign('sha256', Buffer.from(input), rsa.privateKey);
  else if (alg === 'ES256') {
    sig = crypto.sign('sha256', Buffer.from(input), { key: ec.privateKey, dsaEncoding: 'ieee-p1363' });
  } else sig = Buffer.alloc(0);
  return `${input}.${Buffer.from(sig).toString('base64url')}`;
}

const publicPem = (pair) => pair.publicKey.export({ type: 'spki', format: 'pem' });

const BAD_TOKENS = {
  expired: () => jwt({ exp: now() - 3600 }),
  'not yet valid': () => jwt({ nbf: now() + 3600 }),
  'wrong signature': () => jwt({}, { sign: (input) => crypto.createHmac('sha256', `${SECRET}x`).update(input).digest() }),
  'wrong issuer': () => jwt({ iss: 'someone-else' }),
  'wrong audience': () => jwt({ aud: ['other'] }),
  'alg none': () => jwt({ role: 'admin' }, { alg: 'none' }),
  'HS256 signed with the RS256 public key': () => jwt({ role: 'admin' }, {
    sign: (input) => crypto.createHmac('sha256', publicPem(rsa)).update(input).digest(),
  }),
  'RS256 signed by an unknown key': () => jwt({}, {
    alg: 'RS256', sign: (input) => crypto.sign('sha256', Buffer.from(input), rsa2.privateKey),
  }),
  garbage: () => 'not-a-token',
};

const TRANSPORTS = ['WebSockets', 'ServerSentEvents', 'LongPolling'];

let dir;
let server;
const issued = [];  // every token handed out, to check none reaches the log

function token(claims, opts) {
  const t = jwt(claims, opts);
  issued.push(t);
  return t;
}

const auth = (t) => ({ Authorization: `Bearer ${t}` });
const call = (method, pathname, t, json, headers = {}) => request(server.url, method, pathname, {
  json, headers: { ...(t ? auth(t) : {}), ...headers },
});

/** A started hub connection (client `version`) for `factory` over `transport`. */
async function hub(factory, transport = 'WebSockets', { reconnect, start = true, version = 7 } = {}) {
  const signalr = signalrModule(version);
  let builder = new signalr.HubConnectionBuilder()
    .withUrl(server.url + HUB_PATH, {
      transport: signalr.HttpTransportType[transport],
      accessTokenFactory: factory,
    })
    .configureLogging(signalr.LogLevel.None);
  if (reconnect) builder = builder.withAutomaticReconnect(reconnect);
  const c = builder.build();
  hubs.push(c);
  if (start) await c.start();
  return c;
}
const hubs = [];

/** A worker job owned by `userId`, created with the worker API key. */
async function jobOf(userId, extra = {}) {
  const res = await call('POST', '/api/v1/jobs', null, { jobType: 'Transcription', userId, ...extra },
    { 'X-Api-Key': API_KEY });
  assert.equal(res.status, 201, res.text);
  return res.body;
}

async function reportAs(jobId, body, headers = { 'X-Api-Key': API_KEY }) {
  return request(server.url, 'POST', `/api/v1/jobs/${jobId}/progress`, { json: body, headers });
}

function events(connection, name) {
  const list = [];
  connection.on(name, (p) => list.push(p));
  return list;
}

describe('JWT authentication (EnableAuth)', () => {
  before(async () => {
    assert.equal(signalrPackageVersion(7), '7.0.14');
    assert.match(signalrPackageVersion(10), /^10\./);
    dir = mkdtempSync(path.join(os.tmpdir(), 'herald-e2e-jwt-'));
    const pem = path.join(dir, 'keys.pem');
    writeFileSync(pem, `kid: rsa-1\n${publicPem(rsa)}# kid: ec-1\n${publicPem(ec)}`);
    const hashed = crypto.createHash('sha256').update(HASHED_KEY).digest('hex');
    server = await startServer({
      logLevel: 'debug',
      env: {
        AppSettings__EnableAuth: 'true',
        AppSettings__EnableBackgroundJobs: 'false',
        Jwt__Secret: SECRET,
        Jwt__PublicKeyFile: pem,
        Jwt__Issuer: ISSUER,
        Jwt__Audience: AUDIENCE,
        Jwt__ClockSkewSeconds: '5',
        Workers__ApiKeys__0: API_KEY,
        Workers__ApiKeys__1: `sha256:${hashed}`,
      },
    });
  });

  after(async () => {
    for (const c of hubs.splice(0)) await safeStop(c);
    if (server) {
      // No token, key or key hash ever reaches the log (request logging included).
      const log = server.logs();
      for (const t of issued) assert.ok(!log.includes(t.split('.')[2]), 'a token signature is in the log');
      assert.ok(!log.includes(API_KEY), 'the API key is in the log');
      await server.stop('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test('REST: no token is 401 with WWW-Authenticate: Bearer; a bad one says invalid_token', async () => {
    const none = await call('GET', '/api/v1/jobs');
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer');
    assert.match(none.contentType, /problem\+json/);
    for (const [kind, make] of Object.entries(BAD_TOKENS)) {
      const bad = await call('GET', '/api/v1/jobs', make());
      assert.equal(bad.status, 401, kind);
      assert.equal(bad.headers.get('www-authenticate'), 'Bearer error="invalid_token"', kind);
    }
    // Anonymous rows stay open.
    assert.equal((await call('GET', '/health')).status, 200);
    const info = await call('GET', '/api/v1/signalr/connection-info', token({ sub: 'carol' }));
    assert.equal(info.body.userId, 'carol');
    assert.match(info.body.instructions.authentication, /accessTokenFactory/);
    // Each algorithm and each way of naming the user.
    for (const t of [token({}, { alg: 'RS256', kid: 'rsa-1' }), token({}, { alg: 'ES256' }),
      token({ sub: undefined, 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier': 'alice' }),
      token({ aud: ['x', AUDIENCE] })]) {
      const res = await call('GET', '/api/v1/signalr/connection-info', t);
      assert.equal(res.body.userId, 'alice', t);
      assert.equal((await call('GET', '/api/v1/jobs', t)).status, 200);
    }
    // A kid no key has.
    assert.equal((await call('GET', '/api/v1/jobs', token({}, { alg: 'RS256', kid: 'rsa-9' }))).status, 401);
  });

  test('negotiate: 401 without a token, with any bad token, and the client cannot connect', async () => {
    const neg = (t) => request(server.url, 'POST', `${HUB_PATH}/negotiate?negotiateVersion=1`,
      { headers: t ? auth(t) : {} });
    const none = await neg();
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer');
    for (const [kind, make] of Object.entries(BAD_TOKENS)) {
      const res = await neg(make());
      assert.equal(res.status, 401, kind);
      assert.equal(res.headers.get('www-authenticate'), 'Bearer error="invalid_token"', kind);
      for (const transport of TRANSPORTS) {
        const c = await hub(() => make(), transport, { start: false });
        await assert.rejects(c.start(), undefined, `${kind} over ${transport}`);
        assert.equal(c.state, 'Disconnected');
      }
    }
    assert.equal((await neg(token())).status, 200);
  });

  for (const version of VERSIONS) test(`a user receives their own jobs over every transport, never another user's; admin sees all (client ${version})`, async () => {
    const aliceJob = await jobOf('alice');
    const bobJob = await jobOf('bob');
    const conns = [];
    for (const transport of TRANSPORTS) {
      const alice = await hub(() => token({ sub: 'alice' }), transport, { version });
      const bob = await hub(() => token({ sub: 'bob' }), transport, { version });
      const admin = await hub(() => token({ sub: 'root', roles: ['admin'] }), transport, { version });
      conns.push({ transport, alice, bob, admin,
        aliceUpdates: events(alice, 'JobProgressUpdate'), bobUpdates: events(bob, 'JobProgressUpdate'),
        adminUpdates: events(admin, 'JobProgressUpdate'), bobErrors: events(bob, 'Error') });
    }
    for (const c of conns) {
      assert.equal(await c.alice.invoke('SubscribeToJob', aliceJob.jobId), null);
      assert.equal(await c.admin.invoke('SubscribeToJob', aliceJob.jobId), null);
      assert.equal(await c.admin.invoke('SubscribeToJob', bobJob.jobId), null);
      // Bob asks for Alice's job: exactly what an unknown id gets.
      assert.equal(await c.bob.invoke('SubscribeToJob', aliceJob.jobId), null);
      assert.equal(await c.bob.invoke('SubscribeToJob', 'no-such-job'), null);
      assert.equal(await c.bob.invoke('GetJobProgress', aliceJob.jobId), null);
      assert.equal(await c.bob.invoke('SubscribeToJob', bobJob.jobId), null);
      await waitFor(() => c.bobErrors.length >= 3, 5000, 'bob\'s errors');
      assert.deepEqual(c.bobErrors.map((e) => e.code), ['NOT_FOUND', 'NOT_FOUND', 'NOT_FOUND']);
      assert.equal(c.bobErrors[0].message, `Job ${aliceJob.jobId} not found`);
      assert.equal(c.bobErrors[1].message, 'Job no-such-job not found');
      // The dashboard stream is admin only.
      await assert.rejects(c.bob.invoke('SubscribeToDashboard'), /unauthorized/);
      assert.equal(typeof await c.admin.invoke('SubscribeToDashboard'), 'object');
    }
    for (let p = 10; p <= 50; p += 10) {
      assert.equal((await reportAs(aliceJob.jobId, { progress: p })).status, 200);
      assert.equal((await reportAs(bobJob.jobId, { progress: p })).status, 200);
    }
    for (const c of conns) {
      const done = (list, jobId) => () => list.some((u) => u.jobId === jobId && u.progress === 50);
      await waitFor(done(c.aliceUpdates, aliceJob.jobId), 5000, `alice over ${c.transport}`);
      await waitFor(done(c.adminUpdates, aliceJob.jobId), 5000, `admin (alice's) over ${c.transport}`);
      await waitFor(done(c.adminUpdates, bobJob.jobId), 5000, `admin (bob's) over ${c.transport}`);
      await waitFor(done(c.bobUpdates, bobJob.jobId), 5000, `bob over ${c.transport}`);
    }
    await delay(300 * TIME_SCALE);  // anything misrouted would have arrived by now
    for (const c of conns) {
      assert.ok(c.aliceUpdates.every((u) => u.jobId === aliceJob.jobId), `alice got another job over ${c.transport}`);
      assert.ok(c.bobUpdates.every((u) => u.jobId === bobJob.jobId), `bob got alice's job over ${c.transport}`);
      for (const name of ['alice', 'bob', 'admin']) await c[name].stop();
    }
  });

  test('REST isolation: another user\'s job or video is a 404 like an unknown one; lists are filtered', async () => {
    const aliceJob = await jobOf('alice');
    const alice = token({ sub: 'alice' });
    const bob = token({ sub: 'bob' });
    const admin = token({ sub: 'root', role: 'admin' });
    assert.equal((await call('GET', `/api/v1/jobs/${aliceJob.jobId}`, alice)).status, 200);
    assert.equal((await call('GET', `/api/v1/jobs/${aliceJob.jobId}`, admin)).status, 200);
    for (const [method, suffix] of [['GET', ''], ['GET', '/progress'], ['POST', '/cancel'], ['POST', '/retry']]) {
      const theirs = await call(method, `/api/v1/jobs/${aliceJob.jobId}${suffix}`, bob);
      const unknown = await call(method, `/api/v1/jobs/nope${suffix}`, bob);
      assert.equal(theirs.status, 404, `${method} ${suffix}`);
      assert.equal(unknown.status, 404);
      assert.equal(theirs.body.detail.replace(aliceJob.jobId, 'ID'), unknown.body.detail.replace('nope', 'ID'));
    }
    const bobList = await call('GET', '/api/v1/jobs?limit=1000', bob);
    assert.ok(!bobList.body.some((j) => j.jobId === aliceJob.jobId));
    assert.deepEqual((await call('GET', '/api/v1/jobs?userId=alice', bob)).body, []);
    assert.ok((await call('GET', '/api/v1/jobs?limit=1000', alice)).body.some((j) => j.jobId === aliceJob.jobId));
    assert.ok((await call('GET', '/api/v1/jobs?limit=1000', admin)).body.some((j) => j.jobId === aliceJob.jobId));
    // Ingest: the owner is the token's user, never the body's.
    const ingest = await call('POST', '/api/v1/videos/ingest', alice,
      { url: 'https://videos.invalid/a.mp4', userId: 'mallory' });
    assert.equal(ingest.status, 202, ingest.text);
    assert.equal(ingest.body.userId, 'alice');
    assert.equal((await call('GET', `/api/v1/videos/${ingest.body.videoId}`, alice)).status, 200);
    assert.equal((await call('GET', `/api/v1/videos/${ingest.body.videoId}`, bob)).status, 404);
    assert.equal((await call('GET', `/api/v1/videos/${ingest.body.videoId}/transcript`, bob)).status, 404);
    // Dashboard routes: admin only.
    assert.equal((await call('GET', '/api/v1/dashboard/summary', bob)).status, 403);
    assert.equal((await call('GET', '/api/v1/dashboard/summary', admin)).status, 200);
  });

  test('worker API: a plain user gets 403, a worker only reaches jobs it created or claimed', async () => {
    const bob = token({ sub: 'bob' });
    assert.equal((await call('POST', '/api/v1/jobs', bob, { jobType: 'X', userId: 'bob' })).status, 403);
    assert.equal((await call('POST', '/api/v1/jobs/claim', bob, { jobTypes: ['X'] })).status, 403);
    const job = await jobOf('alice');
    assert.equal((await reportAs(job.jobId, { progress: 5 }, auth(bob))).status, 403);
    assert.equal((await reportAs(job.jobId, { progress: 5 }, {})).status, 401);
    // Another worker (a JWT with role worker): the job is not theirs, so it does not exist.
    const w2 = token({ sub: 'w2', role: 'worker' });
    const foreign = await reportAs(job.jobId, { progress: 5 }, auth(w2));
    assert.equal(foreign.status, 404);
    // Its own job, created with its token; the hashed key as bearer works as well.
    const own = await call('POST', '/api/v1/jobs', w2, { jobType: 'JwtClaimTest', userId: 'alice' });
    assert.equal(own.status, 201);
    assert.equal((await reportAs(own.body.jobId, { progress: 7 }, auth(w2))).status, 200);
    assert.equal((await reportAs(own.body.jobId, { progress: 8 }, auth(HASHED_KEY))).status, 404);
    // A job it claims becomes reportable (with the lease token).
    const created = await jobOf('alice', { jobType: 'JwtClaimTest2' });
    const claim = await call('POST', '/api/v1/jobs/claim', null, { jobTypes: ['JwtClaimTest2'] }, auth(HASHED_KEY));
    assert.equal(claim.status, 200, claim.text);
    assert.equal(claim.body.jobId, created.jobId);
    assert.equal((await reportAs(created.jobId, { progress: 9, leaseToken: claim.body.leaseToken },
      auth(HASHED_KEY))).status, 200);
    // An admin may report to any job.
    const admin = token({ sub: 'root', role: 'admin' });
    assert.equal((await reportAs(job.jobId, { progress: 6 }, auth(admin))).status, 200);
  });

  for (const version of VERSIONS) for (const transport of TRANSPORTS) {
    test(`a token that expires mid-stream: reconnect with a fresh token, no update lost (${transport}, client ${version})`, async () => {
      const job = await jobOf('alice');
      let tokensIssued = 0;
      // Each token lives 3 s: the connection is closed when it runs out and comes back.
      const factory = () => {
        tokensIssued++;
        return token({ sub: 'alice', exp: now() + 3 });
      };
      const c = await hub(factory, transport, { reconnect: [0, 100, 200, 500, 1000, 1000, 1000], version });
      const seen = new Map();
      let last = 0;
      c.on('JobProgressUpdate', (u) => {
        if (u.jobId !== job.jobId) return;
        seen.set(u.sequence, u.progress);
        last = Math.max(last, u.sequence);
      });
      let reconnects = 0;
      let closeError;
      c.onreconnecting((e) => {
        closeError = e?.message;
      });
      c.onreconnected(async () => {
        reconnects++;
        await c.invoke('SubscribeToJob', job.jobId, last);
      });
      await c.invoke('SubscribeToJob', job.jobId);
      // Reports through the expiry (over 4 s), then until a reconnect happened.
      let p = 0;
      const started = Date.now();
      while (Date.now() - started < 4500 * TIME_SCALE || reconnects === 0) {
        p = Math.min(p + 1, 99);
        assert.equal((await reportAs(job.jobId, { progress: p })).status, 200);
        await delay(50);
        if (Date.now() - started > 20_000 * TIME_SCALE) break;
      }
      const final = await reportAs(job.jobId, { progress: 99.5 });
      assert.ok(reconnects >= 1, 'no reconnect happened');
      assert.match(closeError ?? '', /expired/);
      assert.ok(tokensIssued >= 2);
      await waitFor(() => seen.has(final.body.sequence), 10_000, 'the last update');
      for (let s = 1; s <= final.body.sequence; s++) assert.ok(seen.has(s), `update ${s} lost`);
      await c.stop();
    });
  }
});

describe('EnableAuth refuses to start without a usable key', () => {
  for (const [what, env, message] of [
    ['no key', {}, 'needs Jwt:Secret'],
    ['a short secret', { Jwt__Secret: 'short' }, 'at least 32 bytes'],
    ['a missing key file', { Jwt__PublicKeyFile: '/nonexistent/keys.pem' }, 'cannot read'],
    ['a bad API key', { Jwt__Secret: SECRET, Workers__ApiKeys__0: 'sha256:12' }, 'Workers:ApiKeys'],
  ]) {
    test(what, async () => {
      await assert.rejects(startServer({ env: { AppSettings__EnableAuth: 'true', ...env } }),
        (e) => e.message.includes(message));
    });
  }
});
