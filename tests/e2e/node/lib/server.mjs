// Helpers for Herald end-to-end tests: start/stop a real server process, talk to its REST
// API, and connect the official JavaScript SignalR clients to its hub.
import { assertShortestNumbers } from './json_numbers.mjs';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdtempSync, rmSync, accessSync, constants as fsConstants } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { beforeEach, afterEach } from 'node:test';

const require = createRequire(import.meta.url);
const libDir = path.dirname(fileURLToPath(import.meta.url));
export const packageDir = path.resolve(libDir, '..');

export const HUB_PATH = '/hubs/job-progress';

/** Path of the server binary: $HERALD_BIN, else the CMake build output of this checkout. */
export function heraldBin() {
  if (process.env.HERALD_BIN) return path.resolve(process.env.HERALD_BIN);
  return path.resolve(packageDir, '../../../build/src/server/herald');
}

const LISTENING = /Herald listening on (http:\/\/127\.0\.0\.1:(\d+))/;
const running = new Set();

// Never leave a server behind when the test process ends.
process.on('exit', () => {
  for (const proc of running) {
    try {
      proc.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});

async function waitForBinary(bin, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      accessSync(bin, fsConstants.X_OK);
      return;
    } catch (e) {
      if (Date.now() > deadline) {
        throw new Error(`Herald binary not found or not executable at ${bin} (set HERALD_BIN): ${e.message}`);
      }
    }
    await delay(500);
  }
}

function spawnOnce(bin, args, env, cwd, timeoutMs) {
  return new Promise((resolve, reject) => {
    let log = '';
    let settled = false;
    const proc = spawn(bin, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(proc);
    const exited = new Promise((res) => {
      proc.once('exit', (code, signal) => {
        running.delete(proc);
        res({ code, signal });
      });
    });
    const fail = (why, retryable) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      try {
        proc.kill('SIGKILL');
      } catch {
        // already gone
      }
      const err = new Error(`${why}\n--- server log ---\n${log}`);
      err.retryable = retryable;
      reject(err);
    };
    const onData = (chunk) => {
      log += chunk.toString('utf8');
      const m = LISTENING.exec(log);
      if (m && !settled) {
        settled = true;
        clearTimeout(timer);
        resolve({ proc, url: m[1], port: Number(m[2]), exited, logs: () => log });
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.once('error', (e) => fail(`failed to spawn ${bin}: ${e.message}`, true));
    exited.then(({ code, signal }) =>
      fail(`server exited before listening (code ${code}, signal ${signal})`, log.trim() === ''),
    );
    const timer = setTimeout(() => fail(`server did not report listening within ${timeoutMs} ms`, false), timeoutMs);
  });
}

/**
 * Starts a Herald server on a free loopback port.
 * @param {object} [options]
 * @param {Record<string,string>} [options.env] extra environment (e.g. SignalR__KeepAliveInterval)
 * @param {string} [options.dataDir] data directory to reuse; default a fresh temp dir removed on stop
 * @param {string[]} [options.args] extra command-line arguments
 * @param {string} [options.logLevel] --log-level for the server (default $HERALD_E2E_SERVER_LOG, else none)
 */
/**
 * Starts a server on a free port. `wrap`: a command the server is started under, e.g.
 * ['taskset', '-c', '0'] (it must exec the server, so the process is the server's).
 */
export async function startServer({ env = {}, dataDir, args = [], wrap = [], logLevel = process.env.HERALD_E2E_SERVER_LOG } = {}) {
  const bin = heraldBin();
  await waitForBinary(bin, 60_000);
  const ownsDataDir = !dataDir;
  const dir = dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'herald-e2e-'));
  const fullArgs = ['serve', '--urls', 'http://127.0.0.1:0', '--data-dir', dir, ...(logLevel ? ['--log-level', logLevel] : []), ...args];
  const fullEnv = { ...process.env, ...env };
  let started;
  // The binary is rebuilt from time to time: a spawn that dies at once without a word
  // (text file busy, half-written file) is retried a few times.
  for (let attempt = 1; ; attempt++) {
    try {
      started = wrap.length
        ? await spawnOnce(wrap[0], [...wrap.slice(1), bin, ...fullArgs], fullEnv, dir, 15_000)
        : await spawnOnce(bin, fullArgs, fullEnv, dir, 15_000);
      break;
    } catch (e) {
      if (!e.retryable || attempt >= 5) {
        if (ownsDataDir) rmSync(dir, { recursive: true, force: true });
        throw e;
      }
      await delay(1000);
      await waitForBinary(bin, 60_000);
    }
  }
  const { proc, url, port, exited, logs } = started;
  let exitInfo = null;
  exited.then((info) => {
    exitInfo = info;
  });

  const server = {
    url,
    port,
    dataDir: dir,
    proc,
    logs,
    /** Resolves with {code, signal} once the process has exited. */
    exited,
    get exitInfo() {
      return exitInfo;
    },
    /**
     * Sends `signal` and waits for the exit (SIGKILL after `timeoutMs`). Removes the data dir
     * if this server created it, unless keepDataDir.
     */
    async stop(signal = 'SIGTERM', { timeoutMs = 10_000, keepDataDir = false } = {}) {
      if (!exitInfo) {
        try {
          proc.kill(signal);
        } catch {
          // already gone
        }
      }
      let timer;
      const result = await Promise.race([
        exited,
        new Promise((resolve) => {
          timer = setTimeout(() => resolve(null), timeoutMs);
        }),
      ]);
      clearTimeout(timer);
      let info = result;
      if (!info) {
        proc.kill('SIGKILL');
        info = await exited;
        info = { ...info, timedOut: true };
      }
      if (ownsDataDir && !keepDataDir) rmSync(dir, { recursive: true, force: true });
      return info;
    },
    /** SIGKILL, as a crash would; the data dir is always kept. */
    async kill9() {
      if (!exitInfo) proc.kill('SIGKILL');
      return exited;
    },
  };
  return server;
}

export function removeDir(dir) {
  if (dir && existsSync(dir)) rmSync(dir, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------
// HTTP

/**
 * Performs a request and returns {status, headers, contentType, text, body}; body is the
 * parsed JSON when the response is JSON, else undefined.
 */
export async function request(baseUrl, method, pathname, { json, body, headers = {} } = {}) {
  const init = { method, headers: { ...headers } };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers['content-type'] ??= 'application/json';
  } else if (body !== undefined) {
    init.body = body;
    init.headers['content-type'] ??= 'application/json';
  }
  let res;
  try {
    res = await fetch(baseUrl + pathname, init);
  } catch (e) {
    // Undici's "fetch failed" hides the reason (connection refused, closed, ...).
    throw new Error(`${method} ${pathname}: ${e.message}${e.cause ? ` (${e.cause.code ?? ''} ${e.cause.message})` : ''}`);
  }
  const text = await res.text();
  const contentType = res.headers.get('content-type') ?? '';
  let parsed;
  if (/json/i.test(contentType) && text.length > 0) {
    parsed = JSON.parse(text);
    assertShortestNumbers(text, `${method} ${pathname}`);
  }
  return { status: res.status, headers: res.headers, contentType, text, body: parsed };
}

export const getJson = (baseUrl, pathname) => request(baseUrl, 'GET', pathname);
export const postJson = (baseUrl, pathname, json) => request(baseUrl, 'POST', pathname, { json });

function expectStatus(res, status, what) {
  if (res.status !== status) {
    throw new Error(`${what}: expected HTTP ${status}, got ${res.status}: ${res.text}`);
  }
  return res.body;
}

/** POST /api/v1/jobs; returns the created job resource (throws unless 201). */
export async function createJob(baseUrl, spec = {}) {
  const res = await postJson(baseUrl, '/api/v1/jobs', { jobType: 'Transcription', ...spec });
  return expectStatus(res, 201, 'create job');
}

/** POST /api/v1/jobs/{id}/progress; returns the job resource (throws unless 200). */
export async function report(baseUrl, jobId, body) {
  const res = await postJson(baseUrl, `/api/v1/jobs/${encodeURIComponent(jobId)}/progress`, body);
  return expectStatus(res, 200, `report ${JSON.stringify(body)}`);
}

export async function getJob(baseUrl, jobId) {
  const res = await getJson(baseUrl, `/api/v1/jobs/${encodeURIComponent(jobId)}`);
  return expectStatus(res, 200, 'get job');
}

/**
 * GET /api/v1/jobs/{id}/progress. The server answers in pages of at most 1000 entries, a
 * full page linking the next (Link: rel="next"); without a `limit` in `query` every page
 * is followed, so the whole history comes back.
 */
export async function getHistory(baseUrl, jobId, query = '') {
  let res = await getJson(baseUrl, `/api/v1/jobs/${encodeURIComponent(jobId)}/progress${query}`);
  const entries = expectStatus(res, 200, 'get history');
  if (/[?&]limit=/.test(query)) return entries;
  for (let link = res.headers.get('link'); link; link = res.headers.get('link')) {
    const next = /^<([^>]+)>;\s*rel="next"$/.exec(link);
    if (!next) throw new Error(`get history: unexpected Link header ${link}`);
    res = await getJson(baseUrl, next[1]);
    entries.push(...expectStatus(res, 200, 'get history (next page)'));
  }
  return entries;
}

// ---------------------------------------------------------------------------------------
// Waiting and collecting

/**
 * How much slower than a release build the server under test runs: the test command sets
 * HERALD_TEST_TIME_SCALE for the ASan + UBSan server (several times slower), and waits and
 * latency bounds are multiplied by it. 1 for the release server: the bounds the spec names.
 */
export const TIME_SCALE = Math.max(1, Number(process.env.HERALD_TEST_TIME_SCALE || 1));

/** Polls `predicate` until it returns a truthy value (which is returned) or the time is up. */
export async function waitFor(predicate, timeoutMs = 5000, what = 'condition') {
  timeoutMs *= TIME_SCALE;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await predicate();
    if (v) return v;
    if (Date.now() > deadline) {
      const desc = typeof what === 'function' ? what() : what;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${desc}`);
    }
    await delay(10);
  }
}

/**
 * Records every `eventName` the connection receives (first argument of each), in order.
 * Returns {events, waitFor(pred, timeoutMs), waitForCount(n, timeoutMs), clear(), stop()}.
 * If `log` (an array) is given, {name, payload} pairs are also pushed there, to see the
 * interleaving of several event types.
 */
export function collect(connection, eventName, log) {
  const events = [];
  const handler = (payload) => {
    events.push(payload);
    if (log) log.push({ name: eventName, payload });
  };
  connection.on(eventName, handler);
  return {
    events,
    waitFor(pred, timeoutMs = 5000) {
      return waitFor(() => events.find(pred), timeoutMs,
        () => `${eventName} matching ${pred} (got ${JSON.stringify(events)})`);
    },
    waitForCount(n, timeoutMs = 5000) {
      return waitFor(() => events.length >= n, timeoutMs,
        () => `${n} ${eventName} events (got ${events.length}: ${JSON.stringify(events)})`);
    },
    clear() {
      events.length = 0;
    },
    stop() {
      connection.off(eventName, handler);
    },
  };
}

/**
 * A sync point on one connection: subscribes it to a fresh job and waits for that job's
 * snapshot. The server writes a connection's messages in order, so whatever it had queued for
 * the connection before (a stray or duplicate update) has arrived once this returns.
 * `updates` is the connection's JobProgressUpdate collector, if it has one.
 */
export async function barrier(baseUrl, connection, updates) {
  const job = await createJob(baseUrl, { jobType: 'Barrier' });
  let got = false;
  const handler = (u) => {
    if (u?.jobId === job.jobId) got = true;
  };
  connection.on('JobProgressUpdate', handler);
  try {
    await connection.invoke('SubscribeToJob', job.jobId);
    await waitFor(() => got, 5000, 'barrier snapshot');
    await connection.invoke('UnsubscribeFromJob', job.jobId);
  } finally {
    connection.off('JobProgressUpdate', handler);
  }
  if (updates) {
    const i = updates.events.findIndex((u) => u?.jobId === job.jobId);
    if (i >= 0) updates.events.splice(i, 1);
  }
  return job;
}

// ---------------------------------------------------------------------------------------
// SignalR clients

const CLIENT_PACKAGES = {
  5: 'signalr5',
  6: 'signalr6',
  7: 'signalr7',
  8: 'signalr8',
  10: 'signalr10',
};

/** The @microsoft/signalr module of a client generation (5, 6, 7, 8 or 10). */
export function signalrModule(version) {
  const name = CLIENT_PACKAGES[version];
  if (!name) throw new Error(`no SignalR client package for version ${version}`);
  return require(name);
}

/** The installed package version of a client generation, e.g. "7.0.14". */
export function signalrPackageVersion(version) {
  return require(`${CLIENT_PACKAGES[version]}/package.json`).version;
}

/**
 * Builds (and by default starts) a hub connection with the given client generation.
 * @param {number} version 5, 6, 7, 8 or 10
 * @param {string} url server base URL (http://127.0.0.1:PORT)
 * @param {object} [opts]
 * @param {boolean} [opts.skipNegotiation]
 * @param {boolean|number[]} [opts.reconnect] withAutomaticReconnect (true or delays)
 * @param {string} [opts.logLevel] 'None' | 'Warning' | ... (default $HERALD_E2E_CLIENT_LOG or Warning)
 * @param {boolean} [opts.start] start the connection (default true)
 * @param {string} [opts.hubPath]
 */
export async function connect(version, url, opts = {}) {
  const signalr = signalrModule(version);
  // The 5.x client binds the built-in fetch to `self`, which Node.js 18+ does not define
  // (5.x predates Node's global fetch). Giving Node a `self` is what a user of 5.x must do.
  if (version === 5 && typeof globalThis.self === 'undefined') globalThis.self = globalThis;
  const level = opts.logLevel ?? process.env.HERALD_E2E_CLIENT_LOG ?? 'Warning';
  const httpOptions = {
    transport: signalr.HttpTransportType.WebSockets,
    skipNegotiation: opts.skipNegotiation ?? false,
  };
  let builder = new signalr.HubConnectionBuilder()
    .withUrl(url + (opts.hubPath ?? HUB_PATH), httpOptions)
    .configureLogging(signalr.LogLevel[level]);
  if (opts.reconnect) {
    builder = Array.isArray(opts.reconnect)
      ? builder.withAutomaticReconnect(opts.reconnect)
      : builder.withAutomaticReconnect();
  }
  const connection = builder.build();
  if (opts.start !== false) await connection.start();
  return connection;
}

/** Stops a connection, ignoring errors (for finally blocks). */
export async function safeStop(connection) {
  if (!connection) return;
  try {
    await connection.stop();
  } catch {
    // ignore
  }
}

export function isIsoUtc(s) {
  return typeof s === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(s) && !Number.isNaN(Date.parse(s));
}

export { delay };

function logTail(text, lines = 40) {
  return text.split('\n').slice(-lines).join('\n');
}

/**
 * Registers beforeEach/afterEach hooks that give every test of the enclosing suite its own
 * fresh server (started with `options`, see startServer). Returns a context whose `server`
 * and `url` are the current test's; `ctx.connect(version, opts)` and `ctx.track(x)` register
 * clients (hub connections or raw sockets) that are closed after the test. A test during
 * which the server process died fails, with the server's log in the message.
 */
export function useServer(options = {}) {
  const ctx = {
    server: null,
    tracked: [],
    get url() {
      return this.server.url;
    },
    track(client) {
      this.tracked.push(client);
      return client;
    },
    async connect(version, opts) {
      const c = await connect(version, this.url, opts);
      return this.track(c);
    },
  };
  beforeEach(async () => {
    ctx.server = await startServer(typeof options === 'function' ? options() : options);
  });
  afterEach(async () => {
    const tracked = ctx.tracked.splice(0);
    for (const c of tracked) {
      if (typeof c.stop === 'function') await safeStop(c);
      else if (typeof c.close === 'function') c.close();
    }
    const s = ctx.server;
    ctx.server = null;
    if (!s) return;
    const died = s.exitInfo;
    await s.stop('SIGKILL');
    if (died) {
      // Also on stderr: when the test itself failed already, the runner may not show this.
      process.stderr.write(`SERVER DIED during the test (${JSON.stringify(died)}); log tail:\n${logTail(s.logs(), 15)}\n`);
      throw new Error(`the server process died during the test (${JSON.stringify(died)}); log tail:\n${logTail(s.logs())}`);
    }
  });
  return ctx;
}
