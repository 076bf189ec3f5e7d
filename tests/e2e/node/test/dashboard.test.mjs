// The jobs dashboard in a real browser (Debian's Chromium through playwright-core), fed
// only by the hub's dashboard stream: while two videos go through the pipeline, a job
// run by an external worker (this test, through the progress API) moves its bar on the
// overview and on its own page without a reload; it fails and the page shows the error;
// Retry on the page re-queues it and it runs again; Cancel on the page stops it. The
// video page shows stages and transcript, and the overview fits a phone-width screen.
// HERALD_UPDATE_SCREENSHOT=1 copies the pictures into docs/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, copyFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startServer, createJob, report, getJob, postJson, waitFor, TIME_SCALE } from '../lib/server.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..', '..', '..');
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const clip = '/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0880.wav';
const WAIT = 20_000 * TIME_SCALE;  // browser-side waits (playwright does not scale them)

let work, video, herald, browser;
const videos = [];

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'herald-dashboard-'));
  video = join(work, 'dashboard clip.mp4');
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=duration=6:size=160x120:rate=10',
    '-i', clip, '-shortest', '-c:v', 'mpeg4', '-c:a', 'aac', video]);
  herald = await startServer();
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  await herald?.stop();
});

async function shoot(page, name) {
  await page.waitForTimeout(500);  // the bars' CSS transition
  const file = join(work, name);
  await page.screenshot({ path: file, fullPage: false });
  assert.ok(statSync(file).size < 200_000, `${name} stays small`);
  if (process.env.HERALD_UPDATE_SCREENSHOT) {
    mkdirSync(join(repo, 'docs'), { recursive: true });
    copyFileSync(file, join(repo, 'docs', name));
  }
}

const barWidth = (page, selector) => page.$eval(selector, (e) => e.style.width).catch(() => null);

async function openDashboard(page, path) {
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${herald.url}${path}`);
  await page.waitForFunction(() => document.getElementById('live').textContent === 'live', null, { timeout: WAIT });
  // Set once per document: still there at the end means the page never reloaded.
  await page.evaluate(() => { window.__sameDocument = true; });
  return errors;
}

test('the overview shows queues, counters and a running job whose bar moves without a reload', async () => {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const errors = await openDashboard(page, '/hangfire');
  assert.equal(await page.evaluate(() => typeof signalR.HubConnectionBuilder), 'function', 'the bundle comes from Herald');

  // Two videos through the real pipeline while the page watches.
  for (let i = 0; i < 2; i++) {
    const res = await postJson(herald.url, '/api/v1/videos/ingest', { url: 'file://' + encodeURI(video), userId: 'dana', priority: i });
    assert.equal(res.status, 202);
    videos.push(res.body);
  }
  // A job an external worker (this test) runs: its bar is ours to move.
  const job = await createJob(herald.url, { jobType: 'Thumbnails', userId: 'dana', priority: 1 });
  const row = `#running li[data-job-id="${job.jobId}"] .bar .fill`;
  await report(herald.url, job.jobId, { status: 'Running', progress: 10, currentStage: 'Rendering', statusMessage: 'frame 10/100' });
  await page.waitForFunction((sel) => document.querySelector(sel)?.style.width === '10%', row, { timeout: WAIT });
  await report(herald.url, job.jobId, { progress: 55, statusMessage: 'frame 55/100' });
  await page.waitForFunction((sel) => document.querySelector(sel)?.style.width === '55%', row, { timeout: WAIT });
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'no reload');

  // The counters and queues follow (DashboardStats), and both videos finish.
  for (const v of videos) {
    await waitFor(async () => (await getJob(herald.url, v.jobId)).status === 'Completed', 120_000, `video ${v.videoId} processed`);
  }
  await page.waitForFunction(() => Number(document.querySelector('[data-count="Completed"]').textContent) >= 6 &&
    document.querySelector('[data-count="Running"]').textContent === '1', null, { timeout: WAIT });
  const queues = await page.$$eval('#queues tr', (trs) => trs.map((tr) => tr.textContent));
  assert.ok(queues.some((t) => t.startsWith('Thumbnails')), `queues: ${queues}`);
  // The chart's rates come from the stream too.
  await page.waitForFunction(() => document.getElementById('chart').width > 0, null, { timeout: WAIT });
  await shoot(page, 'dashboard-overview.png');
  assert.deepEqual(errors, []);
  await page.close();
  test.job = job;
});

test("a job's page: live bar and timeline, its error, Retry re-runs it, Cancel stops it", async () => {
  const job = test.job ?? await createJob(herald.url, { jobType: 'Thumbnails' });
  const page = await browser.newPage({ viewport: { width: 1100, height: 1000 } });
  const errors = await openDashboard(page, `/dashboard#/jobs/${job.jobId}`);
  await page.waitForFunction(() => document.getElementById('jobId').textContent !== '', null, { timeout: WAIT });

  await report(herald.url, job.jobId, { status: 'Running', progress: 70, currentStage: 'Rendering', statusMessage: 'frame 70/100' });
  await page.waitForFunction(() => document.getElementById('jobBar').style.width === '70%' &&
    document.getElementById('jobPct').textContent === '70%', null, { timeout: WAIT });
  const timeline = await page.$$eval('#timeline li', (lis) => lis.map((li) => li.textContent));
  assert.match(timeline.at(-1), /^#\d+ Rendering · 70% · Running/);
  assert.match(timeline.at(-1), /frame 70\/100/);
  assert.match(timeline[0], /^#1 Queued/);

  // The worker fails it: the page shows the error.
  await report(herald.url, job.jobId, { status: 'Failed', errorMessage: 'render crashed: out of memory' });
  await page.waitForFunction(() => document.getElementById('jobStatus').textContent === 'Failed', null, { timeout: WAIT });
  assert.match(await page.textContent('#jobError'), /render crashed: out of memory/);
  assert.equal(await page.isDisabled('#retry'), false);
  assert.equal(await page.isDisabled('#cancel'), true);
  await shoot(page, 'dashboard-job.png');

  // Retry from the page: queued again, fresh attempts, and it runs again.
  await page.click('#retry');
  await page.waitForFunction(() => document.getElementById('jobStatus').textContent === 'Queued', null, { timeout: WAIT });
  assert.equal((await getJob(herald.url, job.jobId)).status, 'Pending');
  await report(herald.url, job.jobId, { status: 'Running', progress: 20, currentStage: 'Rendering', statusMessage: 'second run' });
  await page.waitForFunction(() => document.getElementById('jobStatus').textContent === 'Running' &&
    document.getElementById('jobBar').style.width === '20%', null, { timeout: WAIT });
  assert.equal(await page.isHidden('#jobError'), true, 'the new run has no error');

  // Cancel from the page stops it.
  await page.click('#cancel');
  await page.waitForFunction(() => document.getElementById('jobStatus').textContent === 'Cancelled', null, { timeout: WAIT });
  const stored = await getJob(herald.url, job.jobId);
  assert.equal(stored.status, 'Cancelled');
  const refused = await report(herald.url, job.jobId, { progress: 30 }).catch((e) => e);
  assert.ok(refused instanceof Error, 'a cancelled job takes no more reports');
  const statuses = await page.$$eval('#timeline li', (lis) => lis.map((li) => li.className));
  assert.deepEqual(statuses.slice(-5), ['Running', 'Failed', 'Pending', 'Running', 'Cancelled']);
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'no reload');
  assert.deepEqual(errors, []);
  await page.close();
});

test("a video's page shows its stages, jobs and transcript; lists filter and page", async () => {
  assert.ok(videos.length, 'the first test ingested the videos');
  const page = await browser.newPage({ viewport: { width: 1100, height: 1100 } });
  const errors = await openDashboard(page, `/hangfire#/videos/${videos[0].videoId}`);
  await page.waitForFunction(() => document.querySelectorAll('#transcript li:not(.empty)').length > 0, null, { timeout: WAIT });
  const stages = await page.$$eval('#stages li b', (bs) => bs.map((b) => b.textContent));
  assert.ok(stages.length >= 2, `stages: ${stages}`);
  const jobTypes = await page.$$eval('#videoJobs li .title', (as) => as.map((a) => a.textContent));
  assert.ok(jobTypes.some((t) => t.startsWith('Transcription')), `jobs: ${jobTypes}`);
  await shoot(page, 'dashboard-video.png');

  // The succeeded list, filtered by type: only that type.
  await page.goto(`${herald.url}/hangfire#/jobs?status=Completed&jobType=Transcription`);
  await page.waitForFunction(() => document.querySelectorAll('#list li[data-job-id]').length === 2, null, { timeout: WAIT });
  const titles = await page.$$eval('#list li .title', (as) => as.map((a) => a.textContent));
  assert.ok(titles.every((t) => t.startsWith('Transcription')), `titles: ${titles}`);
  assert.equal(await page.isDisabled('#next'), true, 'one page only');
  assert.deepEqual(errors, []);
  await page.close();
});

test('the overview fits a phone-width screen', async () => {
  const page = await browser.newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 1 });
  await openDashboard(page, '/hangfire');
  await page.waitForFunction(() => document.querySelector('[data-count="Completed"]').textContent !== '–', null, { timeout: WAIT });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `no horizontal scrolling (${overflow}px too wide)`);
  await shoot(page, 'dashboard-phone.png');
  await page.close();
});
