-- Emitter identity (issue 19): the transmitter a track was (`em-<n>`, or `<node>/em-<n>` from
-- a node of a cluster), the same over every transmission of one that keys off and on again.
-- NULL for tracks stored before emitters, or from publishers that do not say.
ALTER TABLE tracks ADD COLUMN emitter_id TEXT;
