// A durable adapter for node-oidc-provider over PostgreSQL, for `make bench` P3: provider.js uses it when
// OIDC_BENCH_PG_URL is set, so that node-oidc-provider keeps its tokens in a database as IAM does, on the
// same PostgreSQL cluster (tests/bench/p3_grants.py gives it a fresh database of its own).
//
// One table for every model: a row per stored object, keyed by (model, id), with the payload as jsonb and
// the columns the lookups need (grant_id, user_code, uid), its expiry and when it was consumed. Every
// method is one statement in autocommit, prepared once per connection (named queries), over a pool of
// OIDC_BENCH_PG_POOL connections (default 8: as many as IAM's 2 gunicorn workers x 4 threads can use).
//
// Semantics, as node-oidc-provider expects them of an adapter:
//   upsert(id, payload, expiresIn)   insert or replace; expiresIn in seconds (none: no expiry)
//   find(id)                         the payload, with `consumed` (epoch seconds) once consumed; nothing
//                                    once expired
//   findByUid(uid), findByUserCode(userCode)   the same, by the payload's uid / userCode
//   consume(id)                      mark consumed (the first time only)
//   destroy(id)                      delete
//   revokeByGrantId(grantId)         delete this model's rows of the grant
// Expired rows are not found but not purged either (a benchmark's database is thrown away after the run).

import pg from 'pg';

const TABLE = 'oidc_objects';
const SCHEMA = `
CREATE TABLE IF NOT EXISTS ${TABLE} (
  model       text        NOT NULL,
  id          text        NOT NULL,
  payload     jsonb       NOT NULL,
  grant_id    text,
  user_code   text,
  uid         text,
  expires_at  timestamptz,
  consumed_at timestamptz,
  PRIMARY KEY (model, id)
);
CREATE INDEX IF NOT EXISTS ${TABLE}_grant_id ON ${TABLE} (model, grant_id) WHERE grant_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS ${TABLE}_user_code ON ${TABLE} (model, user_code) WHERE user_code IS NOT NULL;
CREATE INDEX IF NOT EXISTS ${TABLE}_uid ON ${TABLE} (model, uid) WHERE uid IS NOT NULL;
`;

const LIVE = '(expires_at IS NULL OR expires_at > now())';
const SELECT = `SELECT payload, extract(epoch FROM consumed_at)::bigint AS consumed FROM ${TABLE}`;

const STATEMENTS = {
  upsert: `INSERT INTO ${TABLE} (model, id, payload, grant_id, user_code, uid, expires_at, consumed_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (model, id) DO UPDATE SET payload = EXCLUDED.payload, grant_id = EXCLUDED.grant_id,
             user_code = EXCLUDED.user_code, uid = EXCLUDED.uid, expires_at = EXCLUDED.expires_at,
             consumed_at = EXCLUDED.consumed_at`,
  find: `${SELECT} WHERE model = $1 AND id = $2 AND ${LIVE}`,
  findByUid: `${SELECT} WHERE model = $1 AND uid = $2 AND ${LIVE} LIMIT 1`,
  findByUserCode: `${SELECT} WHERE model = $1 AND user_code = $2 AND ${LIVE} LIMIT 1`,
  consume: `UPDATE ${TABLE} SET consumed_at = now()
            WHERE model = $1 AND id = $2 AND consumed_at IS NULL`,
  destroy: `DELETE FROM ${TABLE} WHERE model = $1 AND id = $2`,
  revokeByGrantId: `DELETE FROM ${TABLE} WHERE model = $1 AND grant_id = $2`,
};

let pool;

function query(name, values) {
  return pool.query({ name: `oidc_${name}`, text: STATEMENTS[name], values });
}

function fromRow(result) {
  const row = result.rows[0];
  if (!row) return undefined;
  const { payload } = row;
  if (row.consumed !== null) payload.consumed = Number(row.consumed);
  return payload;
}

// Connect the pool and create the table when it is missing; once, before the provider serves.
export async function connect(url, size = 8) {
  pool = new pg.Pool({ connectionString: url, max: size });
  pool.on('error', (error) => console.error('pg pool error', error));
  await pool.query(SCHEMA);
  return pool;
}

export default class PostgresAdapter {
  constructor(model) {
    this.model = model;
  }

  async upsert(id, payload, expiresIn) {
    const expiresAt = expiresIn ? new Date(Date.now() + expiresIn * 1000) : null;
    const consumedAt = payload.consumed ? new Date(payload.consumed * 1000) : null;
    await query('upsert', [
      this.model,
      id,
      JSON.stringify(payload),
      payload.grantId ?? null,
      payload.userCode ?? null,
      payload.uid ?? null,
      expiresAt,
      consumedAt,
    ]);
  }

  async find(id) {
    return fromRow(await query('find', [this.model, id]));
  }

  async findByUid(uid) {
    return fromRow(await query('findByUid', [this.model, uid]));
  }

  async findByUserCode(userCode) {
    return fromRow(await query('findByUserCode', [this.model, userCode]));
  }

  async consume(id) {
    await query('consume', [this.model, id]);
  }

  async destroy(id) {
    await query('destroy', [this.model, id]);
  }

  async revokeByGrantId(grantId) {
    await query('revokeByGrantId', [this.model, grantId]);
  }
}
