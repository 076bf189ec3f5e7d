// Ingest cannot be turned against the network the server runs in (issue 12, item 5;
// docs/security.md "Downloads"). Every byte of these tests stays on loopback:
// - literal loopback URLs are refused at ingest (400), and a listener on that very port
//   proves nothing connected;
// - "public" hosts come from the test resolver (Pipeline:TestResolverHosts, allowed only
//   with HERALD_ALLOW_TEST_RESOLVER=1), which maps names to any address for the policy but
//   connects to 127.0.0.1 whatever it resolved: a private, link-local or metadata address
//   that the policy wrongly let through would reach the local listener (and fail the
//   test), never the real address;
// - a redirect from an allowed host to a loopback or private address is found while the
//   download job runs: ingest answers 202, the job fails at once (no retry) with an error
//   naming the refused address, and the redirect's target saw no connection.
// Also here: the downloader's fixes (relative redirects, IPv6 literals, an over-limit
// Content-Length failing at once) and the HLS-playlist bypass of AllowLocalFiles.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { execFile } from 'node:child_process';
import { heraldBin, useServer, request, getJson, waitFor } from '../lib/server.mjs';
import { useMedia, scratchDir } from '../lib/media.mjs';
import { ingest, getVideo, listJobs, waitForJob, isTerminal } from '../lib/media_pipeline.mjs';

const run = promisify(execFile);

// Names the test resolver answers; each stands for the address in its value.
const RESOLVER_HOSTS = {
  'public.test': '192.0.2.10', // TEST-NET-1: public for the policy, never routed
  'metadata.test': '169.254.169.254',
  'linklocal.test': '169.254.7.7',
  'ten.test': '10.1.2.3',
  'private172.test': '172.16.0.5',
  'private192.test': '192.168.0.5',
  'cgnat.test': '100.64.0.5',
  'loopback.test': '127.0.0.1',
  'ula.test': 'fd00::5',
  'linklocal6.test': 'fe80::5',
  'loopback6.test': '::1',
  'mapped.test': '::ffff:127.0.0.1',
};

function productionEnv(extra = {}) {
  const env = {
    AppSettings__IsProduction: 'true',
    HERALD_ALLOW_TEST_RESOLVER: '1',
    Jobs__RetryBaseDelayMs: '100',
    AppSettings__AutoTranscribe: 'false',
    ...extra,
  };
  Object.entries(RESOLVER_HOSTS).forEach(([name, address], i) => {
    env[`Pipeline__TestResolverHosts__${i}`] = `${name}=${address}`;
  });
  return env;
}

/**
 * A TCP listener that only counts: every connection it ever accepts is recorded (and
 * answered with a 200 so a client that did reach it would "succeed" visibly).
 */
async function startTrap(host = '127.0.0.1') {
  const seen = [];
  const server = net.createServer((socket) => {
    seen.push(Date.now());
    socket.on('error', () => {});
    socket.end('HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: 6\r\n\r\nsecret');
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  return {
    port: server.address().port,
    get connections() {
      return seen.length;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** An HTTP server on 127.0.0.1 answering from `routes` (pathname -> (req, res) => void). */
async function startOrigin(routes) {
  const requests = [];
  const server = http.createServer((req, res) => {
    const pathname = new URL(req.url, 'http://x').pathname;
    requests.push({ pathname, host: req.headers.host });
    const route = routes[pathname];
    if (route) return route(req, res);
    res.writeHead(404).end();
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: server.address().port,
    requests,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

const redirectTo = (location, status = 302) => (req, res) => res.writeHead(status, { location }).end();

async function ingestRefused(baseUrl, url) {
  const res = await request(baseUrl, 'POST', '/api/v1/videos/ingest', { json: { url } });
  assert.equal(res.status, 400, `${url}: ${res.status} ${res.text}`);
  assert.match(res.contentType, /application\/problem\+json/);
  assert.equal(typeof res.body.errors?.url, 'string', res.text);
  return res.body.errors.url;
}

async function metric(baseUrl, series) {
  const text = (await getJson(baseUrl, '/metrics')).text;
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

/** Waits for the job to end; returns it. */
const settled = (baseUrl, jobId) => waitForJob(baseUrl, jobId, (j) => isTerminal(j.status), 20_000, 'to end');

describe('SSRF: production refuses private addresses at ingest', () => {
  const ctx = useServer({ env: productionEnv() });
  let trap;
  let trap6;
  before(async () => {
    trap = await startTrap();
    try {
      trap6 = await startTrap('::1');
    } catch {
      trap6 = null; // no IPv6 loopback here: the [::1] URL is still refused, unobserved
    }
  });
  after(async () => {
    await trap.close();
    await trap6?.close();
  });

  test('loopback URLs answer 400 and nothing connects to the listener', async (t) => {
    const p = trap.port;
    const p6 = trap6?.port ?? trap.port;
    const rejected0 = await metric(ctx.url, 'herald_http_requests_rejected_total{reason="private_address"}');
    const urls = [
      `http://127.0.0.1:${p}/video.mp4`,
      `http://localhost:${p}/video.mp4`,
      `http://LocalHost.:${p}/video.mp4`,
      `http://media.localhost:${p}/video.mp4`,
      `http://[::1]:${p6}/video.mp4`,
      `http://127.1:${p}/video.mp4`,
      `http://2130706433:${p}/video.mp4`,
      `http://0x7f000001:${p}/video.mp4`,
      `http://[::ffff:127.0.0.1]:${p}/video.mp4`,
      `http://0.0.0.0:${p}/video.mp4`,
      `https://127.0.0.1:${p}/video.mp4`,
    ];
    for (const url of urls) {
      const why = await ingestRefused(ctx.url, url);
      assert.match(why, /AllowPrivateNetworkDownloads/, `${url}: ${why}`);
      assert.match(why, /loopback|unspecified/, `${url}: ${why}`);
    }
    t.diagnostic(`e.g. ${await ingestRefused(ctx.url, urls[0])}`);
    assert.deepEqual(await listJobs(ctx.url, '?limit=100'), [], 'no job was created');
    assert.equal(trap.connections, 0, 'nothing connected to the loopback listener');
    if (trap6) assert.equal(trap6.connections, 0, 'nothing connected to the [::1] listener');
    const rejected = await metric(ctx.url, 'herald_http_requests_rejected_total{reason="private_address"}');
    assert.equal(rejected - rejected0, urls.length + 1, 'each refusal is counted in /metrics');
  });

  test('private, link-local and metadata literals answer 400 (the resolver would send them to the listener)', async () => {
    const p = trap.port;
    for (const host of ['169.254.169.254', '169.254.1.1', '10.0.0.1', '172.16.0.1', '172.31.255.254',
      '192.168.1.1', '100.64.0.1', '[fe80::1]', '[fd00::1]', '[fc00::1]', '[::ffff:10.0.0.1]',
      '[::ffff:169.254.169.254]', '224.0.0.1']) {
      const why = await ingestRefused(ctx.url, `http://${host}:${p}/latest/meta-data/`);
      assert.match(why, /private|link-local|metadata|carrier-grade|multicast/, `${host}: ${why}`);
    }
    assert.equal(trap.connections, 0);
  });

  test('a URL that is an option ("-o/x") is refused, in production as in development', async () => {
    for (const url of ['-o/x', '-o', '--exec=touch /tmp/pwned', '-']) {
      const why = await ingestRefused(ctx.url, url);
      assert.match(why, /must not start with '-'/, `${url}: ${why}`);
    }
  });

  test('local files are refused in production by default', async () => {
    for (const url of ['/etc/passwd', 'file:///etc/passwd']) {
      assert.match(await ingestRefused(ctx.url, url), /AllowLocalFiles/);
    }
  });
});

describe('SSRF: production checks the address connected to, on every redirect', () => {
  const ctx = useServer({ env: productionEnv() });
  const fx = useMedia();
  let trap;
  let origin;
  before(async () => {
    trap = await startTrap();
    const t = trap.port;
    origin = await startOrigin({
      '/to-literal': redirectTo(`http://127.0.0.1:${t}/secret`),
      '/to-localhost': redirectTo(`http://localhost:${t}/secret`),
      '/to-metadata': redirectTo(`http://metadata.test:${t}/latest/meta-data/`, 301),
      '/to-ten': redirectTo(`http://ten.test:${t}/secret`, 307),
      '/to-v6': redirectTo(`http://[::1]:${t}/secret`, 308),
      '/to-mapped': redirectTo(`http://mapped.test:${t}/secret`),
      '/relative': redirectTo('media/clip.mp4'),
      '/media/clip.mp4': (req, res) => {
        const body = readFileSync(fx.media.short.path);
        res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': String(body.length) }).end(body);
      },
    });
  });
  after(async () => {
    await trap.close();
    await origin.close();
  });

  async function failsWithoutReaching(url, pattern) {
    const job = await ingest(ctx.url, { url });
    const done = await settled(ctx.url, job.jobId);
    assert.equal(done.status, 'Failed', `${url}: ${JSON.stringify(done)}`);
    assert.match(done.errorMessage, pattern, url);
    assert.match(done.errorMessage, /AllowPrivateNetworkDownloads/, url);
    assert.equal(done.attempts, 1, `${url}: a refusal is permanent, not retried`);
    const video = await getVideo(ctx.url, job.videoId);
    const ingestion = video.stages.find((s) => s.name === 'Ingestion');
    assert.equal(ingestion.status, 'Failed');
    assert.match(ingestion.errorMessage, pattern);
    return done;
  }

  test('an allowed host downloads (through the test resolver) and ingestion completes', async () => {
    const url = `http://public.test:${origin.port}/relative`;
    const job = await ingest(ctx.url, { url });
    const done = await settled(ctx.url, job.jobId);
    assert.equal(done.status, 'Completed', JSON.stringify(done));
    const video = await getVideo(ctx.url, job.videoId);
    assert.ok(Math.abs(video.durationSeconds - fx.media.short.duration) < 0.5, JSON.stringify(video));
    const asked = origin.requests.filter((r) => r.pathname === '/media/clip.mp4');
    assert.equal(asked.length, 1, 'the relative redirect was followed');
    assert.equal(asked[0].host, `public.test:${origin.port}`, 'Host names the URL host, not the address');
  });

  test('an allowed URL that redirects to a loopback address fails the job, and the target sees nothing', async (t) => {
    for (const hop of ['/to-literal', '/to-localhost', '/to-v6']) {
      const done = await failsWithoutReaching(`http://public.test:${origin.port}${hop}`, /refusing to download from .*(loopback)/);
      t.diagnostic(`${hop}: ${done.errorMessage}`);
    }
    assert.equal(trap.connections, 0, 'the redirect target saw no connection');
  });

  test('redirects to names that resolve to metadata, private or mapped-loopback addresses fail the same way', async (t) => {
    for (const [hop, pattern] of [['/to-metadata', /169\.254\.169\.254.*cloud metadata/], ['/to-ten', /10\.1\.2\.3.*private/],
      ['/to-mapped', /::ffff:127\.0\.0\.1.*loopback/]]) {
      const done = await failsWithoutReaching(`http://public.test:${origin.port}${hop}`, pattern);
      t.diagnostic(`${hop}: ${done.errorMessage}`);
    }
    assert.equal(trap.connections, 0);
  });

  test('hosts that resolve to private, link-local and metadata addresses fail before any connection', async () => {
    for (const [name, address] of Object.entries(RESOLVER_HOSTS)) {
      if (name === 'public.test') continue;
      await failsWithoutReaching(`http://${name}:${trap.port}/video.mp4`, new RegExp(`${name.replace('.', '\\.')}: it resolves to ${address.replace(/\./g, '\\.')}`));
    }
    assert.equal(trap.connections, 0, 'the resolver sends every connection to loopback: none was made');
  });
});

describe('SSRF: the settings', () => {
  const dir = scratchDir('herald-ssrf-');

  /** Runs the server to its exit (or to "listening", then kills it); resolves {code, output, listening}. */
  function runServer(env) {
    return new Promise((resolve, reject) => {
      let output = '';
      const proc = spawn(heraldBin(), ['serve', '--urls', 'http://127.0.0.1:0', '--data-dir', mkdtempSync(path.join(dir, 'd'))],
        { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      const timer = setTimeout(() => {
        proc.kill('SIGKILL');
        reject(new Error(`no exit and no listening within 20 s:\n${output}`));
      }, 20_000);
      const onData = (c) => {
        output += c;
        if (/Herald listening/.test(output)) proc.kill('SIGKILL');
      };
      proc.stdout.on('data', onData);
      proc.stderr.on('data', onData);
      proc.once('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, output, listening: /Herald listening/.test(output) });
      });
    });
  }

  test('the test resolver needs HERALD_ALLOW_TEST_RESOLVER=1, or the server does not start', async () => {
    const env = productionEnv();
    delete env.HERALD_ALLOW_TEST_RESOLVER;
    const { HERALD_ALLOW_TEST_RESOLVER: _, ...parent } = process.env;
    const r = await runServer({ ...parent, ...env });
    assert.equal(r.listening, false, r.output);
    assert.notEqual(r.code, 0);
    assert.match(r.output, /Pipeline:TestResolverHosts is a test hook.*HERALD_ALLOW_TEST_RESOLVER=1/s);
    const bad = await runServer({ HERALD_ALLOW_TEST_RESOLVER: '1', Pipeline__TestResolverHosts__0: 'example.com=192.0.2.1' });
    assert.equal(bad.listening, false, bad.output);
    assert.match(bad.output, /names must end in \.test/);
    const on = await runServer(productionEnv());
    assert.equal(on.listening, true, on.output);
    assert.match(on.output, /TEST HOOK Pipeline:TestResolverHosts is on/);
  });

  test('production with AllowLocalFiles needs LocalFileRoots, and each root must exist', async () => {
    const r = await runServer({ AppSettings__IsProduction: 'true', AppSettings__AllowLocalFiles: 'true' });
    assert.equal(r.listening, false, r.output);
    assert.match(r.output, /AllowLocalFiles=true in production needs AppSettings:LocalFileRoots/);
    const missing = await runServer({ AppSettings__LocalFileRoots__0: path.join(dir, 'nope') });
    assert.equal(missing.listening, false, missing.output);
    assert.match(missing.output, /LocalFileRoots: .* is not an absolute path of an existing folder/);
  });
});

describe('SSRF: AllowPrivateNetworkDownloads lets production download from loopback', () => {
  const ctx = useServer({ env: { AppSettings__IsProduction: 'true', AppSettings__AllowPrivateNetworkDownloads: 'true', AppSettings__AutoTranscribe: 'false' } });
  const fx = useMedia();

  test('a loopback URL is accepted and downloads', async () => {
    const url = fx.server.serve('/allowed.mp4', fx.media.short.path);
    const job = await ingest(ctx.url, { url });
    const done = await settled(ctx.url, job.jobId);
    assert.equal(done.status, 'Completed', JSON.stringify(done));
  });
});

describe('downloads in development', () => {
  const ctx = useServer({ env: { AppSettings__AllowLocalFiles: 'false', AppSettings__AutoTranscribe: 'false' } });
  const fx = useMedia();

  test('an IPv6 literal URL downloads', async (t) => {
    let origin6;
    try {
      origin6 = http.createServer((req, res) => {
        const body = readFileSync(fx.media.short.path);
        res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': String(body.length) }).end(body);
      });
      await new Promise((resolve, reject) => {
        origin6.once('error', reject);
        origin6.listen(0, '::1', resolve);
      });
    } catch (e) {
      t.skip(`no IPv6 loopback here: ${e.message}`);
      return;
    }
    try {
      const job = await ingest(ctx.url, { url: `http://[::1]:${origin6.address().port}/v6.mp4` });
      const done = await settled(ctx.url, job.jobId);
      assert.equal(done.status, 'Completed', JSON.stringify(done));
    } finally {
      origin6.closeAllConnections();
      await new Promise((resolve) => origin6.close(resolve));
    }
  });

  test('AllowLocalFiles=false: an HLS playlist served as video/mp4 cannot make ffmpeg read a local file', async (t) => {
    // The local file the playlist points at: real media (an MPEG-TS segment of speech),
    // which ffprobe reads fine on its own; only the playlist's indirection is refused.
    const secretDir = scratchDir('herald-secret-');
    const secret = path.join(secretDir, 'secret.ts');
    await run('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-i', fx.media.short.path, '-c', 'copy', '-f', 'mpegts', secret]);
    const probe = await run('ffprobe', ['-v', 'error', '-show_entries', 'format=format_name', '-of', 'csv=p=0', secret]);
    assert.equal(probe.stdout.trim(), 'mpegts', 'the segment is media ffmpeg reads');
    const playlist = `#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:10.0,\n${secret}\n#EXT-X-ENDLIST\n`;
    const concat = `ffconcat version 1.0\nfile '${secret}'\n`;
    const origin = await startOrigin({
      '/playlist.mp4': (req, res) => res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': String(playlist.length) }).end(playlist),
      '/concat.mp4': (req, res) => res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': String(concat.length) }).end(concat),
    });
    try {
      for (const name of ['/playlist.mp4', '/concat.mp4']) {
        const job = await ingest(ctx.url, { url: `http://127.0.0.1:${origin.port}${name}` });
        const done = await settled(ctx.url, job.jobId);
        assert.equal(done.status, 'Failed', `${name}: ${JSON.stringify(done)}`);
        assert.match(done.errorMessage, /not a media file Herald reads/, name);
        t.diagnostic(`${name}: ${done.errorMessage}`);
        const video = await getVideo(ctx.url, job.videoId);
        assert.deepEqual(video.jobs.map((j) => j.jobType), ['VideoProcessing'], 'nothing was queued for transcription');
        assert.ok(!video.title, `nothing was read from the segment: ${JSON.stringify(video)}`);
      }
    } finally {
      await origin.close();
    }
  });
});

describe('downloads: the size limit', () => {
  const ctx = useServer({ env: { Pipeline__MaxDownloadBytes: '100000', Jobs__RetryBaseDelayMs: '100' } });

  test('an over-limit Content-Length fails at once, without retries', async () => {
    const origin = await startOrigin({
      '/huge.mp4': (req, res) => {
        res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': String(50_000_000) });
        res.end(); // the declared length is the point; the body never comes
      },
    });
    try {
      const job = await ingest(ctx.url, { url: `http://127.0.0.1:${origin.port}/huge.mp4` });
      const done = await settled(ctx.url, job.jobId);
      assert.equal(done.status, 'Failed');
      assert.match(done.errorMessage, /larger than the allowed 100000 bytes/);
      assert.equal(done.attempts, 1, 'too large is permanent');
      assert.equal(origin.requests.length, 1, 'fetched once');
    } finally {
      await origin.close();
    }
  });
});
