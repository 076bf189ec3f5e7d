// Leases on MariaDB (issue 13): two Herald nodes on one MariaDB database run the built-in
// pipeline; node A is killed with SIGKILL while its transcription runs. Node B takes the
// job over once A's (short) lease expires and finishes it, the dead attempt counted; A's
// late report, replayed with its old lease token, is refused (409) and stored nowhere.
// The same as workers.test.mjs does on a shared SQLite file, on the store several nodes
// really share. Needs HERALD_TEST_MARIADB (tools/test.sh starts a throwaway MariaDB; by
// hand: eval "$(tools/mariadb.sh start)").
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { getJob, TIME_SCALE } from '../lib/server.mjs';
import { prepareMedia } from '../lib/media.mjs';
import { killNodeMidTranscription } from '../lib/lease_takeover.mjs';
import { freshDatabase } from '../lib/mariadb.mjs';

const MARIADB = process.env.HERALD_TEST_MARIADB;
const skipWithoutMariaDb = !MARIADB && 'HERALD_TEST_MARIADB is not set (tools/test.sh starts a throwaway MariaDB)';

describe('two nodes on one MariaDB: kill -9 mid-transcription', { skip: skipWithoutMariaDb }, () => {
  let db;
  let media;
  before(async () => {
    db = await freshDatabase(MARIADB, 'herald_lease');
    media = await prepareMedia();
  });
  after(async () => {
    await db?.drop();
  });

  test('node B finishes the job after node A\'s lease expires, the attempt counted; A\'s late report is refused', { timeout: 240_000 * TIME_SCALE }, async () => {
    await killNodeMidTranscription({
      media,
      env: { ConnectionStrings__Default: db.connectionString },
      leaseOf: async (jobId) => (await db.query(`SELECT lease_owner, lease_token FROM jobs WHERE id = '${jobId}'`))[0],
      midwayMs: 60_000,
      doneMs: 120_000,
      check: async ({ url, jobId, history, leaseOf }) => {
        const [ownerAfter] = await leaseOf(jobId);
        assert.equal(ownerAfter, '', 'an ended job has no lease');
        const stored = await getJob(url, jobId);
        assert.equal(stored.status, 'Completed');
        assert.equal(stored.progress, 100);
        // Exactly two attempts started (A's and B's), both in the history.
        assert.equal(history.filter((h) => /^Attempt \d of \d/.test(h.statusMessage)).length, 2,
          JSON.stringify(history.map((h) => h.statusMessage)));
      },
    });
  });
});
