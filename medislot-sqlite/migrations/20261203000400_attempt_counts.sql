-- Attempts per client address and fixed window (`window_start`, microseconds), for the
-- sign-in and sign-up rate limit: one row per key and window start, raised by an atomic
-- upsert, pruned by the sweeper once its window has passed.
CREATE TABLE attempt_counts (
    key          TEXT    NOT NULL,
    window_start INTEGER NOT NULL,
    attempts     INTEGER NOT NULL,
    CONSTRAINT attempt_counts_pkey PRIMARY KEY (key, window_start),
    CONSTRAINT attempt_counts_positive CHECK (attempts > 0)
) STRICT;

-- The sweeper deletes by window.
CREATE INDEX attempt_counts_by_window ON attempt_counts (window_start);
