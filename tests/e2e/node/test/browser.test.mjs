// The test page in a real browser: Debian's Chromium driven by playwright-core. Ingest a
// local test video from /test-signalr.html and watch the progress bar reach 100% with
// JobCompleted in the log; then the same page served from a second origin works only
// when Herald allows that origin (CORS).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, mkdirSync, copyFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, dirname, extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startServer } from '../lib/server.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..', '..', '..');
const webRoot = join(repo, 'web');
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const clip = '/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0880.wav';

let work, video, herald, browser, allowedSite, otherSite;

// Serves the web root's page and bundle, as a different origin would.
function staticSite() {
  return new Promise((resolve) => {
    const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };
    const srv = createServer((req, res) => {
      const path = join(webRoot, decodeURIComponent(new URL(req.url, 'http://x').pathname));
      if (!path.startsWith(webRoot) || !existsSync(path)) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': types[extname(path)] || 'application/octet-stream' });
      res.end(readFileSync(path));
    });
    srv.listen(0, '127.0.0.1', () => resolve({ srv, origin: `http://127.0.0.1:${srv.address().port}` }));
  });
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'herald-browser-'));
  video = join(work, 'browser clip.mp4');
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=duration=6:size=160x120:rate=10',
    '-i', clip, '-shortest', '-c:v', 'mpeg4', '-c:a', 'aac', video]);
  allowedSite = await staticSite();
  otherSite = await staticSite();
  herald = await startServer({ env: { AppSettings__AllowedOrigins__0: allowedSite.origin } });
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  allowedSite?.srv.close();
  otherSite?.srv.close();
  await herald?.stop();
});

async function ingestThroughPage(page, hubUrl) {
  if (hubUrl) await page.fill('#hubUrl', hubUrl);
  await page.click('#connect');
  await page.waitForFunction(() => ['Connected', 'Disconnected'].includes(
    document.getElementById('connectionState').textContent) &&
    document.getElementById('connectionState').textContent !== 'Connecting', null, { timeout: 15000 });
  const state = await page.textContent('#connectionState');
  if (state !== 'Connected') return { connected: false };
  await page.fill('#videoUrl', 'file://' + encodeURI(video));
  await page.click('#ingest');
  await page.waitForFunction(() => document.getElementById('progressText').textContent === '100%' &&
    [...document.querySelectorAll('#log li')].some((li) => li.className === 'JobCompleted'),
  null, { timeout: 90000 });
  return { connected: true };
}

test('the test page ingests a video and shows its progress to 100% with JobCompleted', async () => {
  const page = await browser.newPage({ viewport: { width: 1000, height: 1100 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${herald.url}/test-signalr.html`);
  // The bundle is served by Herald itself, not a CDN.
  assert.equal(await page.evaluate(() => typeof signalR.HubConnectionBuilder), 'function');
  const r = await ingestThroughPage(page, null);
  assert.ok(r.connected, 'connected to the hub');
  const status = await page.textContent('#status');
  assert.match(status, /Completed/);
  const stages = await page.$$eval('#stages li', (lis) => lis.map((li) => li.textContent));
  assert.deepEqual(stages, ['Ingestion: Completed 100%', 'Transcription: Completed 100%', 'Embedding: Completed 100%']);
  const progressUpdates = await page.$$eval('#log li.JobProgressUpdate', (lis) => lis.length);
  assert.ok(progressUpdates >= 3, `saw ${progressUpdates} JobProgressUpdate entries`);
  assert.deepEqual(errors, []);
  await page.waitForTimeout(600);  // let the bar's CSS transition finish for the picture
  const shot = join(work, 'test-signalr.png');
  await page.screenshot({ path: shot, fullPage: true });
  if (process.env.HERALD_UPDATE_SCREENSHOT) {
    mkdirSync(join(repo, 'docs'), { recursive: true });
    copyFileSync(shot, join(repo, 'docs', 'test-signalr.png'));
  }
  await page.close();
});

test('from another origin the page works only when Herald allows that origin', async () => {
  const allowed = await browser.newPage();
  await allowed.goto(`${allowedSite.origin}/test-signalr.html`);
  const ok = await ingestThroughPage(allowed, `${herald.url}/hubs/job-progress`);
  assert.ok(ok.connected, 'the allowed origin connects and ingests');
  await allowed.close();

  const denied = await browser.newPage();
  await denied.goto(`${otherSite.origin}/test-signalr.html`);
  const no = await ingestThroughPage(denied, `${herald.url}/hubs/job-progress`);
  assert.equal(no.connected, false, 'a disallowed origin must not connect');
  const log = await denied.$$eval('#log li', (lis) => lis.map((li) => li.textContent).join('\n'));
  assert.match(log, /connect failed/);
  await denied.close();
});
