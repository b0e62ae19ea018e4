-- A bucketed key's bucket is spread over shards (bucketShards rows in checkout/postgres,
-- each record adding to one at random): every attempt at a merchant added
-- to the one row of its current bucket, so the merchant's payments waited
-- for each other's commit on that row's lock (at most one per commit time,
-- about 250 a second on a fast disk, whatever the instances) and left a
-- chain of dead versions for every count to walk. A count sums the shards.
-- SQLite has one writer and keeps its buckets unsharded.

-- +goose Up
ALTER TABLE risk_buckets ADD COLUMN shard smallint NOT NULL DEFAULT 0;
ALTER TABLE risk_buckets DROP CONSTRAINT risk_buckets_pkey;
ALTER TABLE risk_buckets ADD PRIMARY KEY (key, start, shard);

-- +goose Down
CREATE TEMP TABLE risk_buckets_folded AS
    SELECT key, start, sum(n)::bigint AS n FROM risk_buckets GROUP BY key, start;
DELETE FROM risk_buckets;
ALTER TABLE risk_buckets DROP CONSTRAINT risk_buckets_pkey;
ALTER TABLE risk_buckets DROP COLUMN shard;
ALTER TABLE risk_buckets ADD PRIMARY KEY (key, start);
INSERT INTO risk_buckets (key, start, n) SELECT key, start, n FROM risk_buckets_folded;
DROP TABLE risk_buckets_folded;
