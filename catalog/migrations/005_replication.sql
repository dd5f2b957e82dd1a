-- Replication: which instance a replica streams from, whether an instance was ejected from
-- its group (fenced: it must never take writes again), the replication lag last reported,
-- and the tasks of a switchover (PROMOTING), a failover (EJECTING) and a detach (DETACHING).

ALTER TABLE instances
    -- The primary this instance replicates; NULL for a primary or a standalone instance.
    ADD COLUMN replica_of uuid REFERENCES instances (id) ON DELETE SET NULL,
    -- Set when a failover replaced this instance: its engine was the group's primary and
    -- another was promoted in its place, so it may never accept writes again.
    ADD COLUMN fenced boolean NOT NULL DEFAULT false,
    -- A replica's lag behind its primary as last reported, in bytes of WAL not yet replayed
    -- and in seconds; NULL while nothing was reported.
    ADD COLUMN replication_lag_bytes bigint,
    ADD COLUMN replication_lag_seconds double precision,
    ADD COLUMN replication_lag_updated timestamptz;

CREATE INDEX instances_replica_of_idx ON instances (replica_of) WHERE replica_of IS NOT NULL;

-- Other migrations may extend the task list too: add the replication tasks to whatever the
-- constraint allows now, rather than restate the list.
DO $$
DECLARE
    def text;
BEGIN
    SELECT pg_get_constraintdef(oid) INTO def
    FROM pg_constraint
    WHERE conrelid = 'instances'::regclass AND conname = 'instances_task_check';
    ALTER TABLE instances DROP CONSTRAINT instances_task_check;
    EXECUTE 'ALTER TABLE instances ADD CONSTRAINT instances_task_check '
        || replace(def, 'ARRAY[', 'ARRAY[''PROMOTING''::text, ''EJECTING''::text, ''DETACHING''::text, ');
END $$;

---- create above / drop below ----

UPDATE instances SET task = 'ERROR' WHERE task IN ('PROMOTING', 'EJECTING', 'DETACHING');
DO $$
DECLARE
    def text;
BEGIN
    SELECT pg_get_constraintdef(oid) INTO def
    FROM pg_constraint
    WHERE conrelid = 'instances'::regclass AND conname = 'instances_task_check';
    ALTER TABLE instances DROP CONSTRAINT instances_task_check;
    EXECUTE 'ALTER TABLE instances ADD CONSTRAINT instances_task_check '
        || replace(def, '''PROMOTING''::text, ''EJECTING''::text, ''DETACHING''::text, ', '');
END $$;
DROP INDEX instances_replica_of_idx;
ALTER TABLE instances
    DROP COLUMN replica_of,
    DROP COLUMN fenced,
    DROP COLUMN replication_lag_bytes,
    DROP COLUMN replication_lag_seconds,
    DROP COLUMN replication_lag_updated;
