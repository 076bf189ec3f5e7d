// A MariaDB store Herald cannot write (docs/operations.md): a user that may only read
// stops the server at start with a message saying so, rather than a server that answers
// Healthy and fails every report; and a server switched to read_only while Herald runs
// makes /health/ready answer 503 with the reason until it is writable again. Needs
// HERALD_TEST_MARIADB (tools/test.sh starts a throwaway MariaDB; by hand:
// eval "$(tools/mariadb.sh start)").
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, getJson, createJob, waitFor, TIME_SCALE } from '../lib/server.mjs';
import { freshDatabase, setServerReadOnly } from '../lib/mariadb.mjs';

const MARIADB = process.env.HERALD_TEST_MARIADB;
const skipWithoutMariaDb = !MARIADB && 'HERALD_TEST_MARIADB is not set (tools/test.sh starts a throwaway MariaDB)';

describe('a MariaDB store Herald cannot write', { skip: skipWithoutMariaDb }, () => {
  let db;
  const users = [];
  before(async () => {
    db = await freshDatabase(MARIADB, 'herald_ro');
  });
  after(async () => {
    for (const u of users) await u.drop();
    await db?.drop();
  });
  const user = async (privileges) => {
    const u = await db.user(privileges);
    users.push(u);
    return u;
  };

  test('a user that may only read stops the server at start, saying why', async () => {
    const reader = await user('SELECT');
    await assert.rejects(startServer({ env: { ConnectionStrings__Default: reader.connectionString } }), (e) => {
      assert.match(e.message, /cannot be written: a read-only user, or a server in read_only mode/);
      assert.ok(e.message.includes(`${reader.name}@`), e.message);
      return true;
    });
  });

  test('a server switched to read_only makes /health/ready 503 with the reason, until it is writable again', async () => {
    const writer = await user('ALL PRIVILEGES');
    const server = await startServer({ env: { ConnectionStrings__Default: writer.connectionString } });
    try {
      assert.equal((await getJson(server.url, '/health/ready')).status, 200);
      await createJob(server.url, { jobType: 'BeforeReadOnly' });
      await setServerReadOnly(MARIADB, true);
      try {
        const ready = await getJson(server.url, '/health/ready');
        assert.equal(ready.status, 503, ready.text);
        assert.match(ready.body.detail, /^Not ready: the store failed: store ping: the database .* cannot be written/);
        assert.equal((await getJson(server.url, '/health/live')).status, 200);
        // Not an accepted report: nothing can be stored.
        const refused = await fetch(`${server.url}/api/v1/jobs`, {
          method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jobType: 'DuringReadOnly' }),
        });
        assert.ok(refused.status >= 500, `creating a job answered ${refused.status}`);
      } finally {
        await setServerReadOnly(MARIADB, false);
      }
      await waitFor(async () => (await getJson(server.url, '/health/ready')).status === 200, 10_000 * TIME_SCALE, 'ready again');
      assert.equal((await createJob(server.url, { jobType: 'AfterReadOnly' })).jobType, 'AfterReadOnly');
    } finally {
      await server.stop();
    }
  });
});
