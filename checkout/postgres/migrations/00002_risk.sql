-- Fraud screening (checkout/risk): each merchant's settings, the velocity
-- counters' events, the blocklists, the audit log of every change to
-- settings and lists, and the decision on each attempt and payment. The
-- same tables as checkout/sqlite's 00002, in PostgreSQL's types.
--
-- Counter keys and members are hashes (risk.counterKey), never an email, an
-- address or a card number in the clear. Like every table, none has a column
-- for a security code (PCI DSS 3.3.1.2).

-- +goose Up
-- risk.Settings; NULL until the merchant saves its own (the defaults apply).
ALTER TABLE merchants ADD COLUMN risk_settings jsonb;

-- The screening decision after the issuer's answer; NULL on rows written
-- before screening existed, or on attempts refused before it ran.
ALTER TABLE payments
    ADD COLUMN risk_verdict text CHECK (risk_verdict IN ('OK', 'REVIEW', 'NG')),
    ADD COLUMN risk_score   integer,
    ADD COLUMN risk_reasons jsonb; -- array of {rule, message, score}
ALTER TABLE attempts
    ADD COLUMN risk_verdict text CHECK (risk_verdict IN ('OK', 'REVIEW', 'NG')),
    ADD COLUMN risk_score   integer,
    ADD COLUMN risk_reasons jsonb;

-- One row per counted event (risk.Counters), from every instance: this
-- table is what makes the velocity rules hold across instances. Rows older
-- than the longest window any setting may use (30 days) are pruned as new
-- ones arrive.
CREATE TABLE risk_events (
    key    text COLLATE "C" NOT NULL,
    member text COLLATE "C" NOT NULL, -- '' when only events are counted
    at     timestamptz      NOT NULL
);

-- Count: by key over a time range, members read from the index alone.
CREATE INDEX risk_events_key_at ON risk_events (key, at) INCLUDE (member);
-- Pruning by age.
CREATE INDEX risk_events_at ON risk_events (at);

-- Blocklists. merchant_id '' is the platform's list, which every merchant's
-- screening consults; values are stored normalised (risk.NewListKey).
CREATE TABLE risk_lists (
    merchant_id text COLLATE "C" NOT NULL,
    kind        text COLLATE "C" NOT NULL CHECK (kind IN ('address', 'email', 'card', 'bin', 'ip')),
    value       text COLLATE "C" NOT NULL,
    created_at  timestamptz      NOT NULL,
    PRIMARY KEY (merchant_id, kind, value)
);

-- Who changed what in a merchant's screening rules, and when (PCI DSS
-- 10.2). Written in the transaction of the change itself; never updated.
-- seq orders the entries; id is the public, unguessable name.
CREATE TABLE audit_log (
    seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id           text COLLATE "C" NOT NULL UNIQUE,
    merchant_id  text COLLATE "C" NOT NULL, -- '' for the platform's list; no foreign key, for that reason
    actor        text             NOT NULL, -- merchant id and API key fingerprint, never the key
    action       text             NOT NULL,
    before_state jsonb,                     -- NULL when there was nothing before
    after_state  jsonb,                     -- NULL when nothing is left after
    at           timestamptz      NOT NULL
);

CREATE INDEX audit_log_merchant_seq ON audit_log (merchant_id, seq);

-- +goose Down
DROP TABLE audit_log;
DROP TABLE risk_lists;
DROP TABLE risk_events;
ALTER TABLE attempts DROP COLUMN risk_reasons, DROP COLUMN risk_score, DROP COLUMN risk_verdict;
ALTER TABLE payments DROP COLUMN risk_reasons, DROP COLUMN risk_score, DROP COLUMN risk_verdict;
ALTER TABLE merchants DROP COLUMN risk_settings;
