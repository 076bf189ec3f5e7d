// CORS for browser clients on other origins (AppSettings:AllowedOrigins): an allowed Origin is
// echoed with credentials allowed on preflights, negotiate, every transport request and the
// REST API; any other origin gets no CORS headers at all.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { useServer, createJob, HUB_PATH } from '../lib/server.mjs';

const ALLOWED = 'http://allowed.example';
const ALLOWED_2 = 'http://second.example:8080';
const DISALLOWED = [
  'http://evil.example',
  'http://allowed.example.evil.example', // a prefix of an allowed origin is not that origin
  'https://allowed.example', // another scheme
  'http://allowed.example:8081', // another port
  'null',
];
const CLIENT_HEADERS = ['x-requested-with', 'x-signalr-user-agent', 'authorization', 'content-type'];

/**
 * A raw HTTP request (node:http, so that Origin and every other header go out exactly as
 * given). Resolves with {status, headers, body}. With `headersOnly`, resolves as soon as the
 * response head arrives, with a close() that drops the connection (for streams such as SSE).
 */
function raw(baseUrl, method, path, { headers = {}, body, headersOnly = false } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(path, baseUrl);
    const req = http.request({
      host: u.hostname, port: u.port, method, path: u.pathname + u.search, headers, agent: false,
    }, (res) => {
      if (headersOnly) {
        res.on('error', () => {});
        resolve({
          status: res.statusCode,
          headers: res.headers,
          body: '',
          close() {
            res.destroy();
            req.destroy();
          },
        });
        return;
      }
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: text }));
      res.on('error', reject);
    });
    req.on('error', (e) => {
      if (!req.destroyed) reject(e);
    });
    if (body !== undefined) req.write(body);
    req.end();
  });
}

const csv = (value) => (value ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);

function assertAllowed(res, origin, what) {
  const h = JSON.stringify(res.headers);
  assert.equal(res.headers['access-control-allow-origin'], origin, `${what}: the Origin is echoed (${h})`);
  assert.equal(res.headers['access-control-allow-credentials'], 'true', `${what}: credentials allowed (${h})`);
  assert.ok(csv(res.headers.vary).includes('origin'), `${what}: Vary: Origin, the answer depends on it (${h})`);
}

function assertNoCors(res, what) {
  const cors = Object.keys(res.headers).filter((k) => k.startsWith('access-control-'));
  assert.deepEqual(cors, [], `${what}: no CORS headers (${JSON.stringify(res.headers)})`);
}

async function negotiateToken(baseUrl) {
  const res = await raw(baseUrl, 'POST', `${HUB_PATH}/negotiate?negotiateVersion=1`);
  assert.equal(res.status, 200, res.body);
  return JSON.parse(res.body).connectionToken;
}

describe('CORS', () => {
  const ctx = useServer({
    env: {
      AppSettings__AllowedOrigins__0: ALLOWED,
      AppSettings__AllowedOrigins__1: ALLOWED_2,
    },
  });

  const preflightHeaders = (origin, method = 'POST', requested = CLIENT_HEADERS.join(',')) => ({
    Origin: origin,
    'Access-Control-Request-Method': method,
    ...(requested ? { 'Access-Control-Request-Headers': requested } : {}),
  });

  test('preflight of negotiate from an allowed origin: 204, echoed origin, credentials, POST, the client headers', async () => {
    for (const origin of [ALLOWED, ALLOWED_2]) {
      const res = await raw(ctx.url, 'OPTIONS', `${HUB_PATH}/negotiate?negotiateVersion=1`, {
        headers: preflightHeaders(origin),
      });
      assert.equal(res.status, 204, `preflight from ${origin}`);
      assertAllowed(res, origin, `preflight from ${origin}`);
      const methods = csv(res.headers['access-control-allow-methods']);
      for (const m of ['post', 'get', 'delete']) {
        assert.ok(methods.includes(m), `Allow-Methods has ${m}: ${res.headers['access-control-allow-methods']}`);
      }
      const allowedHeaders = csv(res.headers['access-control-allow-headers']);
      for (const h of CLIENT_HEADERS) {
        assert.ok(allowedHeaders.includes(h), `Allow-Headers has ${h}: ${res.headers['access-control-allow-headers']}`);
      }
      assert.equal(res.body, '', 'a preflight answer has no body');
    }
  });

  test('preflight: an app header asked for is allowed too; the origin is echoed exactly as sent', async () => {
    const res = await raw(ctx.url, 'OPTIONS', `${HUB_PATH}/negotiate?negotiateVersion=1`, {
      headers: preflightHeaders(ALLOWED, 'POST', 'X-Requested-With, X-SignalR-User-Agent, X-App-Tenant'),
    });
    assert.equal(res.status, 204);
    assertAllowed(res, ALLOWED, 'preflight');
    const allowedHeaders = csv(res.headers['access-control-allow-headers']);
    for (const h of ['x-requested-with', 'x-signalr-user-agent', 'x-app-tenant']) {
      assert.ok(allowedHeaders.includes(h), `Allow-Headers has ${h}: ${res.headers['access-control-allow-headers']}`);
    }
  });

  test('preflight from a disallowed origin (or none) gets no CORS headers', async () => {
    for (const origin of DISALLOWED) {
      const res = await raw(ctx.url, 'OPTIONS', `${HUB_PATH}/negotiate?negotiateVersion=1`, {
        headers: preflightHeaders(origin),
      });
      assertNoCors(res, `preflight from ${origin}`);
    }
    const none = await raw(ctx.url, 'OPTIONS', `${HUB_PATH}/negotiate?negotiateVersion=1`, {
      headers: { 'Access-Control-Request-Method': 'POST' },
    });
    assertNoCors(none, 'OPTIONS without Origin');
  });

  async function assertPreflights(cases) {
    for (const [method, path] of cases) {
      const ok = await raw(ctx.url, 'OPTIONS', path, { headers: preflightHeaders(ALLOWED, method) });
      assert.equal(ok.status, 204, `preflight ${method} ${path} from ${ALLOWED}: ${ok.status} ${ok.body} ${JSON.stringify(ok.headers)}`);
      assertAllowed(ok, ALLOWED, `preflight ${method} ${path}`);
      assert.ok(csv(ok.headers['access-control-allow-methods']).includes(method.toLowerCase()),
        `preflight ${method} ${path}: Allow-Methods ${ok.headers['access-control-allow-methods']}`);
      const allowedHeaders = csv(ok.headers['access-control-allow-headers']);
      for (const h of CLIENT_HEADERS) {
        assert.ok(allowedHeaders.includes(h), `preflight ${method} ${path}: Allow-Headers has ${h}`);
      }
      const bad = await raw(ctx.url, 'OPTIONS', path, { headers: preflightHeaders('http://evil.example', method) });
      assertNoCors(bad, `disallowed preflight ${method} ${path}`);
    }
  }

  test('preflights of the REST API from an allowed origin', async () => {
    const job = await createJob(ctx.url);
    await assertPreflights([
      ['POST', '/api/v1/jobs'],
      ['GET', '/api/v1/jobs?limit=1'],
      ['POST', `/api/v1/jobs/${job.jobId}/progress`],
    ]);
  });

  // A browser on another origin preflights every long-polling/SSE request that carries the
  // client's custom headers (X-Requested-With, X-SignalR-User-Agent, Authorization) or a
  // non-simple content type: the POSTs, the polls and the DELETE to the hub URL itself.
  test('preflights of the transport URL (long-polling/SSE POST, poll GET, DELETE) from an allowed origin', async () => {
    const token = encodeURIComponent(await negotiateToken(ctx.url));
    await assertPreflights([
      ['POST', `${HUB_PATH}?id=${token}`],
      ['GET', `${HUB_PATH}?id=${token}&_=1`],
      ['DELETE', `${HUB_PATH}?id=${token}`],
    ]);
  });

  test('POST negotiate carries the CORS headers only for allowed origins', async () => {
    const ok = await raw(ctx.url, 'POST', `${HUB_PATH}/negotiate?negotiateVersion=1`, {
      headers: { Origin: ALLOWED, 'X-Requested-With': 'XMLHttpRequest' },
    });
    assert.equal(ok.status, 200);
    assertAllowed(ok, ALLOWED, 'negotiate');
    assert.equal(JSON.parse(ok.body).negotiateVersion, 1);
    for (const origin of DISALLOWED) {
      // Refused outright (cross_site.test.mjs), not just left unreadable: CORS alone would
      // let a foreign page open a connection it cannot read but can use.
      const res = await raw(ctx.url, 'POST', `${HUB_PATH}/negotiate?negotiateVersion=1`, { headers: { Origin: origin } });
      assert.equal(res.status, 403, `negotiate from ${origin}`);
      assertNoCors(res, `negotiate from ${origin}`);
    }
    assertNoCors(await raw(ctx.url, 'POST', `${HUB_PATH}/negotiate?negotiateVersion=1`), 'negotiate without Origin');
  });

  test('REST API answers carry the CORS headers only for allowed origins (errors included)', async () => {
    const job = await createJob(ctx.url);
    const get = await raw(ctx.url, 'GET', `/api/v1/jobs/${job.jobId}`, { headers: { Origin: ALLOWED } });
    assert.equal(get.status, 200);
    assertAllowed(get, ALLOWED, 'GET job');
    assert.equal(JSON.parse(get.body).jobId, job.jobId);

    const created = await raw(ctx.url, 'POST', '/api/v1/jobs', {
      headers: { Origin: ALLOWED_2, 'Content-Type': 'application/json' },
      body: JSON.stringify({ jobType: 'Transcription' }),
    });
    assert.equal(created.status, 201);
    assertAllowed(created, ALLOWED_2, 'POST job');

    const missing = await raw(ctx.url, 'GET', '/api/v1/jobs/no-such-job', { headers: { Origin: ALLOWED } });
    assert.equal(missing.status, 404);
    assertAllowed(missing, ALLOWED, 'a 404 (a browser app must be able to read the error)');

    const info = await raw(ctx.url, 'GET', '/api/v1/signalr/connection-info', { headers: { Origin: ALLOWED } });
    assert.equal(info.status, 200);
    assertAllowed(info, ALLOWED, 'connection-info');

    for (const origin of DISALLOWED) {
      const res = await raw(ctx.url, 'GET', `/api/v1/jobs/${job.jobId}`, { headers: { Origin: origin } });
      assert.equal(res.status, 200);
      assertNoCors(res, `GET job from ${origin}`);
    }
    assertNoCors(await raw(ctx.url, 'GET', `/api/v1/jobs/${job.jobId}`), 'GET job without Origin');
  });

  test('long polling: polls, POSTs and the DELETE carry the CORS headers for an allowed origin', async () => {
    const token = await negotiateToken(ctx.url);
    const base = `${HUB_PATH}?id=${encodeURIComponent(token)}`;
    const headers = { Origin: ALLOWED, 'X-Requested-With': 'XMLHttpRequest' };

    const firstPoll = await raw(ctx.url, 'GET', `${base}&_=1`, { headers });
    assert.equal(firstPoll.status, 200);
    assertAllowed(firstPoll, ALLOWED, 'first poll');

    const handshake = await raw(ctx.url, 'POST', base, {
      headers: { ...headers, 'Content-Type': 'text/plain;charset=UTF-8' },
      body: '{"protocol":"json","version":1}\x1e',
    });
    assert.equal(handshake.status, 200);
    assertAllowed(handshake, ALLOWED, 'handshake POST');

    const poll = await raw(ctx.url, 'GET', `${base}&_=2`, { headers });
    assert.equal(poll.status, 200);
    assert.ok(poll.body.startsWith('{}\x1e'), `the handshake response: ${JSON.stringify(poll.body)}`);
    assertAllowed(poll, ALLOWED, 'poll with data');

    // A send or a poll from a disallowed origin is refused (403), without CORS headers,
    // and the connection goes on for its own origin.
    const invoke = await raw(ctx.url, 'POST', base, {
      headers: { Origin: 'http://evil.example', 'Content-Type': 'text/plain;charset=UTF-8' },
      body: '{"type":1,"invocationId":"1","target":"GetJobProgress","arguments":["no-such-job"]}\x1e',
    });
    assert.equal(invoke.status, 403);
    assertNoCors(invoke, 'POST from a disallowed origin');
    const evilPoll = await raw(ctx.url, 'GET', `${base}&_=3`, { headers: { Origin: 'http://evil.example' } });
    assert.equal(evilPoll.status, 403);
    assertNoCors(evilPoll, 'poll from a disallowed origin');

    const del = await raw(ctx.url, 'DELETE', base, { headers });
    assert.equal(del.status, 202);
    assertAllowed(del, ALLOWED, 'DELETE');

    const gone = await raw(ctx.url, 'GET', `${base}&_=4`, { headers });
    assert.equal(gone.status, 404);
    assertAllowed(gone, ALLOWED, 'a 404 for a disposed connection');
  });

  test('server-sent events: the event-stream GET and the POSTs carry the CORS headers for an allowed origin', async () => {
    const token = await negotiateToken(ctx.url);
    const base = `${HUB_PATH}?id=${encodeURIComponent(token)}`;
    const stream = await raw(ctx.url, 'GET', base, {
      headers: { Origin: ALLOWED, Accept: 'text/event-stream' },
      headersOnly: true,
    });
    assert.equal(stream.status, 200);
    assert.match(stream.headers['content-type'] ?? '', /^text\/event-stream/);
    assertAllowed(stream, ALLOWED, 'SSE GET');
    const handshake = await raw(ctx.url, 'POST', base, {
      headers: { Origin: ALLOWED, 'X-Requested-With': 'XMLHttpRequest', 'Content-Type': 'text/plain;charset=UTF-8' },
      body: '{"protocol":"json","version":1}\x1e',
    });
    assert.equal(handshake.status, 200);
    assertAllowed(handshake, ALLOWED, 'handshake POST on SSE');
    stream.close();

    const token2 = await negotiateToken(ctx.url);
    const evil = await raw(ctx.url, 'GET', `${HUB_PATH}?id=${encodeURIComponent(token2)}`, {
      headers: { Origin: 'http://evil.example', Accept: 'text/event-stream' },
      headersOnly: true,
    });
    evil.close();
    assert.equal(evil.status, 403);
    assertNoCors(evil, 'SSE GET from a disallowed origin');
  });
});
