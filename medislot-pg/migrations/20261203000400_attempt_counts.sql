-- Attempts per client address and fixed window, for the sign-in and sign-up rate limit that
-- every server instance on this database shares: one row per key and window start, raised by
-- an atomic upsert, pruned by the sweeper once its window has passed.
CREATE TABLE attempt_counts (
    key          text        NOT NULL,
    window_start timestamptz NOT NULL,
    attempts     integer     NOT NULL,
    CONSTRAINT attempt_counts_pkey PRIMARY KEY (key, window_start),
    CONSTRAINT attempt_counts_positive CHECK (attempts > 0)
);

-- The sweeper deletes by window.
CREATE INDEX attempt_counts_by_window ON attempt_counts (window_start);
