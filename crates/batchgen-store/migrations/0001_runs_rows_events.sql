-- A batchgen run's state (batchgen-store). One row per run, one per input row (its claim), and
-- the run's journal events in the order they were recorded.

CREATE TABLE batchgen_runs (
    -- The run's name (--run, default the output directory's name): what the same command finds.
    name        text PRIMARY KEY,
    -- `run` or `export`.
    kind        text NOT NULL,
    -- The journal header: run id, fingerprint, command (its store URL without password), secret.
    header      jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE batchgen_rows (
    run         text NOT NULL REFERENCES batchgen_runs (name) ON DELETE CASCADE,
    key         text NOT NULL,
    row_number  bigint NOT NULL,
    -- The worker holding the row, until lease_until (renewed while its task runs).
    holder      text,
    lease_until timestamptz,
    PRIMARY KEY (run, key)
);

CREATE TABLE batchgen_events (
    seq         bigserial PRIMARY KEY,
    run         text NOT NULL REFERENCES batchgen_runs (name) ON DELETE CASCADE,
    -- The row's key; NULL for the run's own events (interrupted, resumed).
    key         text,
    -- One journal event, as a line of OUT/journal.jsonl would hold it.
    body        jsonb NOT NULL,
    worker      text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX batchgen_events_by_row ON batchgen_events (run, key, seq);
