// A fresh MariaDB database per test, on the throwaway server of HERALD_TEST_MARIADB
// (tools/mariadb.sh): tests that count every job in the store need a database nothing
// else wrote to. Uses Debian's `mariadb` client (installed with the server).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The parts of a `Server=…;Port=…;Database=…;User=…;Password=…` string (keys case-insensitive). */
export function parseConnectionString(text) {
  const parts = {};
  for (const item of text.split(';')) {
    const eq = item.indexOf('=');
    if (eq > 0) parts[item.slice(0, eq).trim().toLowerCase()] = item.slice(eq + 1);
  }
  return parts;
}

async function sql(parts, statement, database) {
  // The password through the environment, not the command line (which `ps` shows).
  // Rows come back tab-separated, one a line, without a header (--batch --skip-column-names).
  const { stdout } = await run('mariadb', ['--no-defaults', '--protocol=tcp', '-h', parts.server, '-P', parts.port ?? '3306',
    '-u', parts.user, '--batch', '--skip-column-names', ...(database ? ['-D', database] : []), '-e', statement],
  { env: { ...process.env, MYSQL_PWD: parts.password ?? '' } });
  return stdout;
}

/**
 * Switches the whole server of `connectionString` to read_only (`on`) or back. The
 * throwaway server's own user keeps writing (READ ONLY ADMIN); users made by
 * freshDatabase().user() do not.
 */
export async function setServerReadOnly(connectionString, on) {
  await sql(parseConnectionString(connectionString), `SET GLOBAL read_only = ${on ? 1 : 0}`);
}

/**
 * Creates an empty database named `<prefix>_<random>` next to the one `connectionString`
 * names. Returns {name, connectionString (the same string, that database), query(sql) (its
 * rows as arrays of strings), user(privileges) (a new user with `privileges` on this
 * database only: {name, connectionString, drop()}), drop()}.
 */
export async function freshDatabase(connectionString, prefix = 'herald_e2e') {
  const parts = parseConnectionString(connectionString);
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  await sql(parts, `CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  return {
    name,
    connectionString: connectionString.replace(/(^|;)\s*Database=[^;]*/i, `$1Database=${name}`),
    query: async (statement) => (await sql(parts, statement, name)).split('\n').filter(Boolean).map((l) => l.split('\t')),
    drop: () => sql(parts, `DROP DATABASE IF EXISTS \`${name}\``),
    async user(privileges) {
      const user = `herald_u_${randomBytes(6).toString('hex')}`;
      const password = randomBytes(12).toString('hex');
      const hosts = ['127.0.0.1', 'localhost'];
      for (const host of hosts) {
        await sql(parts, `CREATE USER '${user}'@'${host}' IDENTIFIED BY '${password}'`);
        await sql(parts, `GRANT ${privileges} ON \`${name}\`.* TO '${user}'@'${host}'`);
      }
      return {
        name: user,
        connectionString: connectionString
          .replace(/(^|;)\s*Database=[^;]*/i, `$1Database=${name}`)
          .replace(/(^|;)\s*User=[^;]*/i, `$1User=${user}`)
          .replace(/(^|;)\s*Password=[^;]*/i, `$1Password=${password}`),
        drop: async () => {
          for (const host of hosts) await sql(parts, `DROP USER IF EXISTS '${user}'@'${host}'`);
        },
      };
    },
  };
}
