#!/usr/bin/env python3
"""Adds N live sessions (30 days), each with its audit event, to an
authority's database, spread over 1,000 users of its first app: what the
database holds after N sign-ins. For scripts/bench-authority.

Usage: preload-sessions.py SQLITE_PATH|POSTGRES_URL N
"""
import subprocess
import sys
import time

target, count = sys.argv[1], int(sys.argv[2])
now = int(time.time())
BATCH = 100_000

if target.startswith(("postgres://", "postgresql://")):
    sql = f"""
    INSERT INTO sessions (token_hash, session_id, app_id, user_id, created_at, expires_at, last_seen_at, client_address, user_agent)
      SELECT decode(md5(random()::text) || md5(random()::text), 'hex'), md5(random()::text),
             (SELECT app_id FROM apps ORDER BY app_id LIMIT 1), 'preload-' || (i % 1000),
             {now}, {now + 2592000}, {now}, '127.0.0.1', 'preload'
      FROM generate_series(1, {count}) AS i;
    INSERT INTO audit_events (at, action, actor, app_id, user_id, client_address, detail)
      SELECT {now}, 'session_opened', 'user', (SELECT app_id FROM apps ORDER BY app_id LIMIT 1),
             'preload-' || (i % 1000), '127.0.0.1', '{{"preload": true}}'
      FROM generate_series(1, {count}) AS i;
    """
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", target, "-c", sql], check=True)
else:
    import sqlite3

    db = sqlite3.connect(target)
    (app,) = db.execute("SELECT app_id FROM apps ORDER BY app_id LIMIT 1").fetchone()
    done = 0
    while done < count:
        n = min(BATCH, count - done)
        with db:
            db.execute(
                """WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < ?)
                   INSERT INTO sessions (token_hash, session_id, app_id, user_id, created_at, expires_at, last_seen_at, client_address, user_agent)
                   SELECT randomblob(32), lower(hex(randomblob(16))), ?, 'preload-' || (i % 1000), ?, ?, ?, '127.0.0.1', 'preload' FROM k""",
                (n, app, now, now + 2592000, now),
            )
            db.execute(
                """WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < ?)
                   INSERT INTO audit_events (at, action, actor, app_id, user_id, client_address, detail)
                   SELECT ?, 'session_opened', 'user', ?, 'preload-' || (i % 1000), '127.0.0.1', '{"preload": true}' FROM k""",
                (n, now, app),
            )
        done += n
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
print(f"added {count} sessions", file=sys.stderr)
