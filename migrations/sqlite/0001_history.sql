-- History: everything heard, for `retention_days` and at most `max_bytes` (src/history).
-- Times are ns since the Unix epoch (INTEGER), frequencies Hz and levels dB (REAL).
-- The PostgreSQL schema (migrations/postgres) has the same tables, columns and indexes.

-- Receivers by name; other tables refer to them by this id (a few bytes per row, not a name).
CREATE TABLE receivers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

-- One row per live signal (a `signal_id` from one `first_seen`: live ids restart with the
-- process), updated by each of its reports: peaks kept, sums for the means.
CREATE TABLE tracks (
    id INTEGER PRIMARY KEY,
    signal_id TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    frequency_hz REAL NOT NULL,
    bandwidth_hz REAL NOT NULL,
    peak_snr_db REAL NOT NULL,
    snr_sum_db REAL NOT NULL,
    peak_power_dbfs REAL NOT NULL,
    power_sum_dbfs REAL NOT NULL,
    peak_bin_dbfs REAL NOT NULL,
    reports INTEGER NOT NULL,
    best_receiver INTEGER NOT NULL REFERENCES receivers (id),
    lost INTEGER NOT NULL,
    UNIQUE (signal_id, first_seen)
);
-- Pages of signals, newest first (keyset pagination on first_seen, id).
CREATE INDEX tracks_first_seen ON tracks (first_seen, id);
-- Retention (by last_seen).
CREATE INDEX tracks_last_seen ON tracks (last_seen);
-- Novelty: anything heard near a frequency since a time (the range on frequency, last_seen
-- read from the index).
CREATE INDEX tracks_frequency ON tracks (frequency_hz, last_seen);

-- Which receivers heard a track (the `receiver=` filter).
CREATE TABLE track_receivers (
    receiver_id INTEGER NOT NULL REFERENCES receivers (id),
    track_id INTEGER NOT NULL REFERENCES tracks (id) ON DELETE CASCADE,
    PRIMARY KEY (receiver_id, track_id)
) WITHOUT ROWID;
CREATE INDEX track_receivers_track ON track_receivers (track_id);

-- One receiver's measurements of one track over one window [start, stop), summarised. The
-- largest table (~70 bytes a row, no text). Its key makes a replayed summary a no-op. No foreign
-- keys: checking two parents per row would cost a large share of the insert time, and rows
-- are pruned by time together with their tracks (a track's windows start before its last_seen).
-- Without rowid, the table itself is the B-tree of its key: rows lie in time order, so a time
-- window is one sequential range with no index lookups, and no separate time index is needed.
CREATE TABLE observations (
    start INTEGER NOT NULL,
    track_id INTEGER NOT NULL,
    receiver_id INTEGER NOT NULL,
    stop INTEGER NOT NULL,
    samples INTEGER NOT NULL,
    power_min_dbfs REAL NOT NULL,
    power_mean_dbfs REAL NOT NULL,
    power_max_dbfs REAL NOT NULL,
    snr_min_db REAL NOT NULL,
    snr_mean_db REAL NOT NULL,
    snr_max_db REAL NOT NULL,
    PRIMARY KEY (start, track_id, receiver_id)
) WITHOUT ROWID;
-- A track's observations.
CREATE INDEX observations_track ON observations (track_id, start);

-- Every localization as reported; `track_id` is the track of `signal_id` at that time.
CREATE TABLE localizations (
    id INTEGER PRIMARY KEY,
    time INTEGER NOT NULL,
    signal_id TEXT NOT NULL,
    track_id INTEGER,
    method TEXT NOT NULL,
    latitude REAL NOT NULL,
    longitude REAL NOT NULL,
    uncertainty_m REAL NOT NULL,
    confidence REAL NOT NULL,
    semi_major_m REAL NOT NULL,
    semi_minor_m REAL NOT NULL,
    orientation_deg REAL NOT NULL,
    gdop REAL NOT NULL,
    frequency_hz REAL NOT NULL,
    receivers TEXT NOT NULL,
    excluded TEXT NOT NULL,
    note TEXT
);
-- Time ranges (the box is checked on the rows of the range) and retention.
CREATE INDEX localizations_time ON localizations (time);
CREATE INDEX localizations_track ON localizations (track_id, time);

-- Receiver status changes.
CREATE TABLE receiver_status (
    time INTEGER NOT NULL,
    receiver_id INTEGER NOT NULL REFERENCES receivers (id),
    status TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX receiver_status_time ON receiver_status (time);

-- Service health changes.
CREATE TABLE service_health (
    time INTEGER NOT NULL,
    service TEXT NOT NULL,
    status TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX service_health_time ON service_health (time);

-- Spectrum occupancy: one row per receiver and minute, its cells packed in `data` (cells bytes
-- of share in 1/255 steps, then cells little-endian i16 of max power in 0.01 dB steps): one
-- row instead of 1 000 a minute.
CREATE TABLE occupancy (
    receiver_id INTEGER NOT NULL REFERENCES receivers (id),
    minute INTEGER NOT NULL,
    start_hz REAL NOT NULL,
    cell_hz REAL NOT NULL,
    cells INTEGER NOT NULL,
    spectra INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (receiver_id, minute)
);
-- Retention.
CREATE INDEX occupancy_minute ON occupancy (minute);

-- Named frequency ranges.
CREATE TABLE known_signals (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    freq_min_hz REAL NOT NULL,
    freq_max_hz REAL NOT NULL,
    tags TEXT NOT NULL,
    notes TEXT NOT NULL,
    is_ignored INTEGER NOT NULL,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL
);
CREATE INDEX known_signals_freq ON known_signals (freq_min_hz, freq_max_hz);

-- The last stream sequence written per bus stream, updated in the transaction that writes its
-- records: a redelivered message at or below it writes nothing.
CREATE TABLE bus_positions (
    stream TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
);

-- Small persistent state of the writer (the size after the last size-driven prune).
CREATE TABLE history_meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
