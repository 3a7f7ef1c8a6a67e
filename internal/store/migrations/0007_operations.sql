-- Long operations (vm create, start, stop, image build, pull, warm) as
-- records: the daemon keeps them while they run and, once finished, for
-- operations_keep, across restarts. Times are RFC 3339 in UTC; ended_at
-- is empty while the operation runs.
CREATE TABLE operations (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    target     TEXT NOT NULL DEFAULT '',
    state      TEXT NOT NULL,
    step       TEXT NOT NULL DEFAULT '',
    message    TEXT NOT NULL DEFAULT '',
    done       INTEGER NOT NULL DEFAULT 0,
    total      INTEGER NOT NULL DEFAULT 0,
    error      TEXT NOT NULL DEFAULT '',
    uid        INTEGER NOT NULL DEFAULT 0,
    started_at TEXT NOT NULL,
    ended_at   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX operations_state ON operations(state);
