// AppSettings:TrustedProxies (docs/security.md "Reverse proxies"): only a peer listed as a
// proxy may name the client in X-Forwarded-For. With 127.0.0.1 trusted, the per-address
// negotiate limit counts each forwarded client on its own; without it, or from a peer not
// listed (127.0.0.2: all of 127/8 is loopback), a forged header changes nothing. A bad
// entry stops the server at start.
import { describe, test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startServer, HUB_PATH } from '../lib/server.mjs';

const BURST = 3;
// One token a second and a burst of three: a client gets three negotiates at once, then
// 429 until its bucket refills.
const LIMITS = { Limits__NegotiatesPerIpPerSecond: '1', Limits__NegotiateBurstPerIp: String(BURST) };

/** POST …/negotiate from `localAddress` with `forwardedFor` (an X-Forwarded-For value, or a list of fields). */
function negotiate(url, { forwardedFor, localAddress = '127.0.0.1' } = {}) {
  const u = new URL(url);
  const headers = {};
  if (forwardedFor !== undefined) headers['X-Forwarded-For'] = forwardedFor;
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: u.hostname, port: u.port, method: 'POST', path: `${HUB_PATH}/negotiate?negotiateVersion=1`,
      headers, localAddress, agent: false,
    }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * Sends `count` negotiates as one client would (one after the other) and returns how many
 * were admitted, with how many the bucket could have refilled meanwhile.
 */
async function admitted(url, count, options) {
  const started = Date.now();
  let ok = 0;
  const statuses = [];
  for (let i = 0; i < count; i++) {
    const status = typeof options === 'function' ? await negotiate(url, options(i)) : await negotiate(url, options);
    statuses.push(status);
    if (status === 200) ok++;
    else assert.equal(status, 429);
  }
  const refills = Math.ceil((Date.now() - started) / 1000);
  return { ok, refills, statuses };
}

// Admitted exactly one burst (plus what the bucket refilled while the requests ran, at
// one a second), and refused the rest.
function assertOneBurst({ ok, refills, statuses }, what) {
  assert.ok(ok >= BURST && ok <= BURST + refills, `${what}: ${ok} admitted (${statuses.join(' ')})`);
  assert.ok(statuses.includes(429), `${what}: nothing refused (${statuses.join(' ')})`);
}

describe('with 127.0.0.1 as a trusted proxy', () => {
  let server;
  before(async () => {
    server = await startServer({ env: { ...LIMITS, AppSettings__TrustedProxies: '127.0.0.1' } });
  });
  after(() => server.stop());

  test('the per-address negotiate limit counts each forwarded client on its own', async () => {
    const { url } = server;
    // Client A through the proxy uses up its burst, however the header spells it: a port,
    // a second trusted hop (127.0.0.1 appended by an inner proxy), two header fields
    // (one list: the last entry names A), the IPv4-mapped form.
    const spellings = ['203.0.113.7', '203.0.113.7:40000', '203.0.113.7, 127.0.0.1',
      ['198.51.100.99', '203.0.113.7'], '[::ffff:203.0.113.7]:443'];
    assertOneBurst(await admitted(url, BURST + 5, (i) => ({ forwardedFor: spellings[i % spellings.length] })), 'client A');
    // Neither client B nor the proxy's own requests are refused for it.
    for (let i = 0; i < BURST; i++) {
      assert.equal(await negotiate(url, { forwardedFor: '203.0.113.8' }), 200, `client B, negotiate ${i + 1}`);
    }
    assert.equal(await negotiate(url), 200, 'the proxy itself, without the header');
  });

  test('what a client writes left of the proxy\'s entry is never believed', async () => {
    const { url } = server;
    // Client C forges a fresh address per request in front of what the proxy appended.
    const forged = (i) => ({ forwardedFor: `192.0.2.${i + 1}, 198.51.100.20` });
    assertOneBurst(await admitted(url, BURST + 4, forged), 'client C with forged entries');
  });

  test('a peer that is not a listed proxy is its own client, whatever it forwards', async () => {
    const { url } = server;
    const forged = (i) => ({ forwardedFor: `192.0.2.${i + 50}`, localAddress: '127.0.0.2' });
    assertOneBurst(await admitted(url, BURST + 4, forged), '127.0.0.2 with forged headers');
  });
});

describe('without TrustedProxies', () => {
  let server;
  before(async () => {
    server = await startServer({ env: LIMITS });
  });
  after(() => server.stop());

  test('a forged X-Forwarded-For changes nothing', async () => {
    const forged = (i) => ({ forwardedFor: `192.0.2.${i + 100}` });
    assertOneBurst(await admitted(server.url, BURST + 4, forged), '127.0.0.1 with forged headers');
  });
});

describe('a bad TrustedProxies entry stops the server at start', () => {
  for (const bad of ['proxy.example', '10.0.0.1/8', '10.0.0.0/33', '127.0.0.1;unknown']) {
    test(bad, async () => {
      await assert.rejects(startServer({ env: { AppSettings__TrustedProxies: bad } }),
        (e) => e.message.includes('AppSettings:TrustedProxies') && e.message.includes('is not an IP address'));
    });
  }
});
