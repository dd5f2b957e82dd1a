-- Trove's instance access: whether the instance is public, and the source ranges its
-- security group lets reach the engine (none: 0.0.0.0/0, Trove's default rule); and the
-- tasks of an access change (UPDATING), a datastore upgrade (UPGRADING) and an admin's
-- rebuild onto a new image (REBUILDING).
ALTER TABLE instances
    ADD COLUMN access_public boolean NOT NULL DEFAULT false,
    ADD COLUMN allowed_cidrs text[] NOT NULL DEFAULT '{}';

-- A datastore version names its image by Glance ID, or (when empty) by tag.
ALTER TABLE datastore_versions ADD COLUMN image_id text NOT NULL DEFAULT '';

-- Other migrations may extend the task list too: add to whatever the constraint allows now.
DO $$
DECLARE
    def text;
BEGIN
    SELECT pg_get_constraintdef(oid) INTO def
    FROM pg_constraint
    WHERE conrelid = 'instances'::regclass AND conname = 'instances_task_check';
    ALTER TABLE instances DROP CONSTRAINT instances_task_check;
    EXECUTE 'ALTER TABLE instances ADD CONSTRAINT instances_task_check '
        || replace(def, 'ARRAY[', 'ARRAY[''UPDATING''::text, ''UPGRADING''::text, ''REBUILDING''::text, ');
END $$;

---- create above / drop below ----

UPDATE instances SET task = 'ERROR' WHERE task IN ('UPDATING', 'UPGRADING', 'REBUILDING');
DO $$
DECLARE
    def text;
BEGIN
    SELECT pg_get_constraintdef(oid) INTO def
    FROM pg_constraint
    WHERE conrelid = 'instances'::regclass AND conname = 'instances_task_check';
    ALTER TABLE instances DROP CONSTRAINT instances_task_check;
    EXECUTE 'ALTER TABLE instances ADD CONSTRAINT instances_task_check '
        || replace(def, '''UPDATING''::text, ''UPGRADING''::text, ''REBUILDING''::text, ', '');
END $$;
ALTER TABLE datastore_versions DROP COLUMN image_id;
ALTER TABLE instances DROP COLUMN allowed_cidrs, DROP COLUMN access_public;
