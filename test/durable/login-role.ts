/**
 * A PostgreSQL role of a test's own, for tests that refuse a store's logins
 * (`ALTER ROLE … NOLOGIN`) while an admin connection stays in.
 */
import pg from 'pg';

/** A login role: the store connects `as` it; `admin` (the server's superuser) turns its logins off and on; `end()` ends its sessions and the admin's. */
export interface LoginRole {
  role: string;
  /** The server's URL with the role as its user. */
  as: string;
  admin: pg.Client;
  end(): Promise<void>;
}

/** Creates a superuser role named `prefix_<pid>_<time>` on the server at `url`. */
export async function loginRole(url: string, prefix: string): Promise<LoginRole> {
  const role = `${prefix}_${process.pid}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE ROLE ${role} LOGIN SUPERUSER`);
  const as = new URL(url);
  as.username = role;
  return {
    role,
    as: as.toString(),
    admin,
    end: async () => {
      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, [role]);
      await admin.end();
    },
  };
}
