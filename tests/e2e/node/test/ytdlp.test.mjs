// Ingest through yt-dlp (docs/security.md "Downloads", "Options", "yt-dlp"): Herald runs
// the installed yt-dlp for YouTube URLs. Offline, yt-dlp's YouTube extractor is replaced
// by a stand-in plugin (lib/ytdlp.mjs) that sends it to a media file on a local HTTP
// server; the rest is the real yt-dlp with Herald's real arguments.
// - the download works: the video is ingested, probed and completed;
// - a URL starting with '-' never reaches yt-dlp (refused at ingest), and a YouTube URL
//   that looks like an option inside is passed after '--', as data;
// - the address policy still applies in production: URLs naming loopback addresses, also
//   dressed up as YouTube (user info, a *.localhost name), are refused at ingest, and
//   neither yt-dlp nor the local server sees them.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, request, TIME_SCALE } from '../lib/server.mjs';
import { prepareTinyVideo, startMediaServer } from '../lib/media.mjs';
import { ingest, getVideo, waitForJob } from '../lib/media_pipeline.mjs';
import { fakeYouTubeForYtDlp } from '../lib/ytdlp.mjs';

const post = (url, body) => request(url, 'POST', '/api/v1/videos/ingest', { json: body });

describe('ingest through yt-dlp', () => {
  let media;
  let tiny;
  let ytdlp;
  before(async () => {
    tiny = await prepareTinyVideo();
    media = await startMediaServer();
    ytdlp = fakeYouTubeForYtDlp(media.url);
  });
  after(() => media?.close());

  test('a YouTube URL is downloaded by yt-dlp, then probed, and the video completes', { timeout: 120_000 * TIME_SCALE }, async () => {
    media.serve('/dQw4w9WgXcQ.mp4', tiny.path);
    // An id that reads like an option: it stays data, after "--".
    media.serve('/--exec=touch.mp4', tiny.path);
    const server = await startServer({ env: { ...ytdlp.env, AppSettings__AutoTranscribe: 'false' } });
    try {
      for (const [id, url] of [
        ['dQw4w9WgXcQ', 'https://www.youtube.com/watch?v=dQw4w9WgXcQ'],
        ['--exec=touch', 'https://www.youtube.com/watch?v=--exec=touch'],
      ]) {
        const before = ytdlp.invocations().length;
        const job = await ingest(server.url, { url });
        const done = await waitForJob(server.url, job.jobId, (j) => ['Completed', 'Failed'].includes(j.status), 60_000 * TIME_SCALE, 'ingested');
        assert.equal(done.status, 'Completed', JSON.stringify(done));
        const video = await getVideo(server.url, job.videoId);
        assert.equal(video.processingStatus, 'Completed');
        assert.ok(Math.abs(video.durationSeconds - tiny.duration) < 0.5, `duration ${video.durationSeconds}`);
        // yt-dlp itself fetched the file from the local server...
        assert.ok(media.requests.some((r) => r.method === 'GET' && r.pathname === `/${id}.mp4`), JSON.stringify(media.requests));
        // ...run once for this video, with the URL after "--" and nothing after it.
        const runs = ytdlp.invocations().slice(before);
        assert.equal(runs.length, 1, JSON.stringify(runs));
        const argv = runs[0];
        assert.deepEqual(argv.slice(-2), ['--', url], JSON.stringify(argv));
        for (const option of ['--no-playlist', '--max-filesize', '-o']) assert.ok(argv.includes(option), JSON.stringify(argv));
      }
    } finally {
      await server.stop();
    }
  });

  test('a URL starting with "-" never reaches yt-dlp', async () => {
    const server = await startServer({ env: { ...ytdlp.env, AppSettings__AutoTranscribe: 'false' } });
    try {
      const before = ytdlp.invocations().length;
      for (const url of ['-o/x', '--exec=touch /tmp/herald-pwned', '-', '--config-locations=/etc/passwd https://youtu.be/x']) {
        const res = await post(server.url, { url });
        assert.equal(res.status, 400, `${url}: ${res.text}`);
        assert.match(res.text, /must not start with '-'/);
      }
      assert.equal(ytdlp.invocations().length, before, 'yt-dlp ran');
    } finally {
      await server.stop();
    }
  });

  test('in production the address policy still applies to URLs that look like YouTube', async () => {
    const server = await startServer({ env: { ...ytdlp.env, AppSettings__IsProduction: 'true', AppSettings__AutoTranscribe: 'false' } });
    try {
      const port = new URL(media.url).port;
      const ytBefore = ytdlp.invocations().length;
      const requestsBefore = media.requests.length;
      for (const url of [
        `http://127.0.0.1:${port}/watch?v=dQw4w9WgXcQ`,
        `http://localhost:${port}/watch?v=dQw4w9WgXcQ`,
        `http://[::1]:${port}/watch?v=dQw4w9WgXcQ`,
        `http://www.youtube.com@127.0.0.1:${port}/watch?v=dQw4w9WgXcQ`,
        `http://www.youtube.com.localhost:${port}/watch?v=dQw4w9WgXcQ`,
        `http://2130706433:${port}/watch?v=dQw4w9WgXcQ`,
      ]) {
        const res = await post(server.url, { url });
        assert.equal(res.status, 400, `${url}: ${res.text}`);
        assert.match(res.text, /private networks are not allowed/, url);
      }
      assert.equal(ytdlp.invocations().length, ytBefore, 'yt-dlp ran');
      assert.equal(media.requests.length, requestsBefore, 'something reached the local server');
    } finally {
      await server.stop();
    }
  });
});
