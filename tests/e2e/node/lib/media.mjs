// Media fixtures for the video-pipeline end-to-end tests: real recorded speech (Debian's
// pocketsphinx-testdata, LibriVox "Sense and Sensibility" clips with reference transcripts)
// wrapped into small mp4 videos with ffmpeg, a corrupt "video", a word error rate, a tiny
// HTTP server to serve media from, and a look at the server's child processes.
import { execFile } from 'node:child_process';
import { before, after } from 'node:test';
import { createHash } from 'node:crypto';
import { createReadStream, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const LIBRIVOX_DIR = '/usr/share/pocketsphinx/test/data/librivox';
/** The clips, in the order the long video plays them. */
export const CLIP_IDS = [
  'sense_and_sensibility_01_austen_64kb-0870',
  'sense_and_sensibility_01_austen_64kb-0880',
  'sense_and_sensibility_01_austen_64kb-0890',
  'sense_and_sensibility_01_austen_64kb-0920',
  'sense_and_sensibility_01_austen_64kb-0930',
];
/** Silence put after each clip of the long video, so the recogniser sees utterance ends. */
export const GAP_SECONDS = 1.0;

/** Reference transcripts by file id, from `transcription` ("<s> text </s> (fileid)" lines). */
export function readReferences(dir = LIBRIVOX_DIR) {
  const refs = new Map();
  for (const line of readFileSync(path.join(dir, 'transcription'), 'utf8').split('\n')) {
    const m = /^(.*)\(([^()]+)\)\s*$/.exec(line.trim());
    if (!m) continue;
    refs.set(m[2].trim(), m[1].replace(/<\/?s>/g, ' ').replace(/\s+/g, ' ').trim());
  }
  return refs;
}

/** Lower-case words with punctuation removed (apostrophes inside words kept). */
export function normalizeWords(text) {
  return String(text)
    .toLowerCase()
    .replace(/[^a-z0-9'\s]+/g, ' ')
    .replace(/(^|\s)'+|'+(?=\s|$)/g, ' ')
    .split(/\s+/)
    .filter(Boolean);
}

/**
 * Word error rate of `hypothesis` against `reference`: word-level Levenshtein distance
 * (substitutions + deletions + insertions) divided by the number of reference words.
 * Returns {wer, errors, referenceWords, hypothesisWords}.
 */
export function wordErrorRate(reference, hypothesis) {
  const r = normalizeWords(reference);
  const h = normalizeWords(hypothesis);
  if (r.length === 0) throw new Error('empty reference');
  let prev = Array.from({ length: h.length + 1 }, (_, j) => j);
  for (let i = 1; i <= r.length; i++) {
    const cur = [i];
    for (let j = 1; j <= h.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r[i - 1] === h[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  const errors = prev[h.length];
  return { wer: errors / r.length, errors, referenceWords: r.length, hypothesisWords: h.length };
}

async function ffmpeg(args, cwd) {
  await run('ffmpeg', ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y', ...args], { cwd, maxBuffer: 1 << 24 });
}

/** Duration in seconds of a media file, as ffprobe reads its container. */
export async function probeDuration(file) {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', file]);
  const d = Number.parseFloat(stdout.trim());
  if (!Number.isFinite(d)) throw new Error(`ffprobe gave no duration for ${file}: ${stdout}`);
  return d;
}

/** Wraps a wav into a small mp4 (test pattern video, AAC audio). */
async function wrapIntoVideo(wav, out, seconds, cwd) {
  await ffmpeg(['-f', 'lavfi', '-i', `testsrc=duration=${Math.ceil(seconds) + 1}:size=160x120:rate=10`, '-i', wav,
    '-shortest', '-c:v', 'mpeg4', '-c:a', 'aac', '-movflags', '+faststart', out], cwd);
}

/** Deterministic bytes that are no media format (a hash chain). */
function junkBytes(size) {
  const chunks = [];
  let block = createHash('sha256').update('herald-corrupt-media').digest();
  let total = 0;
  while (total < size) {
    chunks.push(block);
    total += block.length;
    block = createHash('sha256').update(block).digest();
  }
  return Buffer.concat(chunks).subarray(0, size);
}

let prepared = null;

/**
 * Makes the test media once per process (in a temp dir removed at exit) and returns:
 * - speech: the five clips, each followed by GAP_SECONDS of silence (~30 s), with
 *   `reference` (all five transcripts) and `clips` [{id, start, end, reference}] (seconds in the video)
 * - short: clip 0870 alone (~7 s)
 * - joined: clips 0870 and 0880 back to back without a pause (~10 s)
 * - corrupt: 256 KiB of junk named .mp4
 * Each media entry has {path, url (file://), duration (ffprobe), reference}.
 */
export function prepareMedia() {
  prepared ??= makeMedia();
  return prepared;
}

async function makeMedia() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'herald-media-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const refs = readReferences();
  const clipFile = (id) => path.join(LIBRIVOX_DIR, `${id}.wav`);
  const clipDurations = [];
  for (const id of CLIP_IDS) {
    if (!refs.has(id)) throw new Error(`no reference transcript for ${id}`);
    clipDurations.push(await probeDuration(clipFile(id)));
  }

  // All clips are 16 kHz mono s16 wav, so the concat demuxer can copy them.
  await ffmpeg(['-f', 'lavfi', '-i', 'anullsrc=r=16000:cl=mono', '-t', String(GAP_SECONDS), '-c:a', 'pcm_s16le', 'silence.wav'], dir);
  const list = [];
  const clips = [];
  let t = 0;
  CLIP_IDS.forEach((id, i) => {
    list.push(`file '${clipFile(id)}'`, `file '${path.join(dir, 'silence.wav')}'`);
    clips.push({ id, start: t, end: t + clipDurations[i], reference: refs.get(id) });
    t += clipDurations[i] + GAP_SECONDS;
  });
  writeFileSync(path.join(dir, 'speech.txt'), list.join('\n') + '\n');
  await ffmpeg(['-f', 'concat', '-safe', '0', '-i', 'speech.txt', '-c', 'copy', 'speech.wav'], dir);
  writeFileSync(path.join(dir, 'joined.txt'), [`file '${clipFile(CLIP_IDS[0])}'`, `file '${clipFile(CLIP_IDS[1])}'`].join('\n') + '\n');
  await ffmpeg(['-f', 'concat', '-safe', '0', '-i', 'joined.txt', '-c', 'copy', 'joined.wav'], dir);

  const make = async (name, wav, seconds, extra) => {
    const out = path.join(dir, name);
    await wrapIntoVideo(wav, out, seconds, dir);
    return { path: out, url: `file://${out}`, duration: await probeDuration(out), size: statSync(out).size, ...extra };
  };
  const speech = await make('speech.mp4', 'speech.wav', t, {
    reference: clips.map((c) => c.reference).join(' '),
    clips,
  });
  const short = await make('short.mp4', clipFile(CLIP_IDS[0]), clipDurations[0], {
    reference: refs.get(CLIP_IDS[0]),
    clips: [clips[0]],
  });
  const joined = await make('joined.mp4', 'joined.wav', clipDurations[0] + clipDurations[1], {
    reference: `${refs.get(CLIP_IDS[0])} ${refs.get(CLIP_IDS[1])}`,
    // Back to back: the second clip starts where the first ends.
    clips: [
      { ...clips[0] },
      { id: CLIP_IDS[1], start: clipDurations[0], end: clipDurations[0] + clipDurations[1], reference: refs.get(CLIP_IDS[1]) },
    ],
  });
  const corruptPath = path.join(dir, 'corrupt.mp4');
  writeFileSync(corruptPath, junkBytes(256 * 1024));
  const corrupt = { path: corruptPath, url: `file://${corruptPath}`, size: 256 * 1024 };
  return { dir, speech, short, joined, corrupt };
}

let tiny = null;

/**
 * A tiny video for tests that run many pipelines: the first `seconds` of clip 0870 (real
 * speech, so the recogniser has work, but little of it) in a 160x120 mp4. Made once per
 * process. Returns {path, url (file://), duration, size}.
 */
export function prepareTinyVideo(seconds = 1.5) {
  tiny ??= (async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'herald-tiny-'));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    const wav = path.join(dir, 'tiny.wav');
    await ffmpeg(['-i', path.join(LIBRIVOX_DIR, `${CLIP_IDS[0]}.wav`), '-t', String(seconds), '-c:a', 'pcm_s16le', wav], dir);
    const out = path.join(dir, 'tiny.mp4');
    await wrapIntoVideo(wav, out, seconds, dir);
    return { path: out, url: `file://${out}`, duration: await probeDuration(out), size: statSync(out).size };
  })();
  return tiny;
}

/** A new empty temp dir removed at process exit. */
export function scratchDir(prefix = 'herald-scratch-') {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Writes an ffmpeg wrapper that reads its input at `rate` times real time (`-readrate`,
 * an input option, placed before Herald's own arguments), so audio extraction lasts long
 * enough to watch its progress and cancel it. It execs ffmpeg: the child Herald starts
 * is the ffmpeg process itself. Returns the wrapper's path (for Pipeline__Ffmpeg).
 */
export function slowFfmpeg(dir, rate = 1) {
  const file = path.join(dir, 'ffmpeg-slow.sh');
  writeFileSync(file, `#!/bin/sh\nexec ffmpeg -readrate ${rate} "$@"\n`);
  chmodSync(file, 0o755);
  return file;
}

// ---------------------------------------------------------------------------------------
// Processes

function readStat(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = text.lastIndexOf(')');
    const comm = text.slice(text.indexOf('(') + 1, close);
    const fields = text.slice(close + 2).split(' ');
    return { pid: Number(pid), comm, state: fields[0], ppid: Number(fields[1]) };
  } catch {
    return null; // gone meanwhile
  }
}

/** Every live descendant of `pid` (children, grandchildren, ...) as {pid, ppid, comm, state, cmdline}. */
export function descendants(pid) {
  const all = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = readStat(name);
    if (s) all.push(s);
  }
  const found = [];
  const frontier = [Number(pid)];
  while (frontier.length) {
    const parent = frontier.pop();
    for (const s of all) {
      if (s.ppid !== parent) continue;
      let cmdline = '';
      try {
        cmdline = readFileSync(`/proc/${s.pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
      } catch {
        // gone
      }
      found.push({ ...s, cmdline });
      frontier.push(s.pid);
    }
  }
  return found;
}

// ---------------------------------------------------------------------------------------
// A media HTTP server

/**
 * Starts an HTTP server on 127.0.0.1 (free port) that serves registered files and answers
 * 404 for anything else. `hold(pathname)` makes requests to that path wait (nothing is
 * sent) until released. Returns {url, requests, serve(pathname, file), hold(pathname), close()}.
 */
export async function startMediaServer() {
  const files = new Map();
  const holds = new Map();
  const requests = [];
  const sockets = new Set();
  const server = http.createServer((req, res) => {
    const pathname = new URL(req.url, 'http://localhost').pathname;
    requests.push({ method: req.method, pathname, headers: req.headers, at: Date.now() });
    const hold = holds.get(pathname);
    if (hold) {
      hold.arrive(res);
      return;
    }
    const file = files.get(pathname);
    if (!file) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
      return;
    }
    const size = statSync(file).size;
    res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': String(size) });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    createReadStream(file).pipe(res);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    requests,
    serve(pathname, file) {
      files.set(pathname, file);
      return url + pathname;
    },
    /**
     * Requests to `pathname` wait. Returns {url, arrived (a promise of the first request),
     * release(status = 404)} — release answers every waiting request with `status`.
     */
    hold(pathname) {
      const waiting = [];
      let arrivedResolve;
      const arrived = new Promise((resolve) => {
        arrivedResolve = resolve;
      });
      holds.set(pathname, {
        arrive(res) {
          waiting.push(res);
          arrivedResolve();
        },
      });
      return {
        url: url + pathname,
        arrived,
        release(status = 404) {
          holds.delete(pathname);
          for (const res of waiting.splice(0)) {
            if (res.writableEnded || res.destroyed) continue;
            res.writeHead(status, { 'content-type': 'text/plain' });
            res.end(`released with ${status}\n`);
          }
        },
      };
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Registers hooks on the enclosing suite: the prepared media before its tests, and (with
 * `server`) a media server, closed after them. Returns {media, server}, filled in by then.
 */
export function useMedia({ server = true } = {}) {
  const fixture = { media: null, server: null };
  before(async () => {
    fixture.media = await prepareMedia();
    if (server) fixture.server = await startMediaServer();
  });
  after(async () => {
    await fixture.server?.close();
  });
  return fixture;
}
