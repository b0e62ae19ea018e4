-- The velocity counters bounded per key (risk.Counters): risk_events had a
-- row per event, counted over the window, so a busy key's count scanned
-- every event of its window and its rows grew with traffic. Now a key keeps
-- its latest risk.KeepPerKey events (risk_occurrences) and its
-- risk.KeepPerKey most recently seen members (risk_members), which is
-- exact for every count up to that; a count that may be larger (a
-- merchant's attempts a minute) is kept in time buckets (risk_buckets).
--
-- The existing events are carried over; a merchant's attempt count starts
-- afresh in buckets (its window is at most minutes by default).

-- +goose Up
CREATE TABLE risk_occurrences (
    key text        NOT NULL,
    at  timestamptz NOT NULL
);
CREATE INDEX risk_occurrences_key_at ON risk_occurrences (key, at);
CREATE INDEX risk_occurrences_at ON risk_occurrences (at);

-- A key's members with when each was last seen. Counting and trimming read
-- the key's rows (at most KeepPerKey) newest first through (key, at): left
-- to the primary key or the index on at, the planner may walk the whole
-- table by time looking for one key's rows. The index on at serves the
-- prune by age.
CREATE TABLE risk_members (
    key    text        NOT NULL,
    member text        NOT NULL,
    at     timestamptz NOT NULL,
    PRIMARY KEY (key, member)
);
CREATE INDEX risk_members_key_at ON risk_members (key, at);
CREATE INDEX risk_members_at ON risk_members (at);

-- A bucketed key's events per bucket (start: the bucket's start); each
-- record deletes the key's buckets its window no longer reaches.
CREATE TABLE risk_buckets (
    key   text        NOT NULL,
    start timestamptz NOT NULL,
    n     bigint      NOT NULL,
    PRIMARY KEY (key, start)
);

INSERT INTO risk_occurrences (key, at) SELECT key, at FROM risk_events;
INSERT INTO risk_members (key, member, at)
    SELECT key, member, max(at) FROM risk_events WHERE member <> '' GROUP BY key, member;
DROP TABLE risk_events;

-- +goose Down
CREATE TABLE risk_events (
    key    text        NOT NULL,
    member text        NOT NULL,
    at     timestamptz NOT NULL
);
CREATE INDEX risk_events_key_at ON risk_events (key, at) INCLUDE (member);
CREATE INDEX risk_events_at ON risk_events (at);
INSERT INTO risk_events (key, member, at) SELECT key, '', at FROM risk_occurrences;
INSERT INTO risk_events (key, member, at) SELECT key, member, at FROM risk_members;
DROP TABLE risk_buckets;
DROP TABLE risk_members;
DROP TABLE risk_occurrences;
