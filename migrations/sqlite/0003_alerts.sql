-- Alerts (issue 17): every alert the rules raised, in its latest state (raised, acknowledged,
-- resolved), so that the active ones come back after a restart and past ones can be listed.
-- `id` is the n of `alert-<n>`: a restarted hub numbers its new alerts after the largest.
CREATE TABLE alerts (
    id BIGINT PRIMARY KEY,
    rule TEXT NOT NULL,
    -- ns since the epoch
    raised_at BIGINT NOT NULL,
    -- ns since the epoch; NULL while the alert is active (pruning never removes those)
    resolved_at BIGINT,
    -- the latest `alerts:raised` payload, JSON
    report TEXT NOT NULL
);
CREATE INDEX alerts_resolved_at ON alerts (resolved_at);
