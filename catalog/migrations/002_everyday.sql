-- Trove's everyday API: per-project quota overrides (defaults come from the configuration),
-- the RAM each instance holds (counted against the ram quota), the root history, and the
-- datastore versions' admin fields (manager, packages, the flavors each allows).

ALTER TABLE instances
    -- The flavor's RAM in MiB when the instance was created, for the ram quota.
    ADD COLUMN ram_mb integer NOT NULL DEFAULT 0;

-- A project's own limits; a resource with no row takes the configured default. -1 is no
-- limit.
CREATE TABLE quotas (
    project_id text NOT NULL,
    resource   text NOT NULL CHECK (resource IN ('instances', 'ram', 'volumes', 'backups')),
    hard_limit integer NOT NULL CHECK (hard_limit >= -1),
    updated    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, resource)
);

-- Who last enabled root on an instance and when (Trove's root_enabled_history). It is kept
-- after the instance is gone, as Trove keeps it: no foreign key.
CREATE TABLE root_history (
    instance_id uuid PRIMARY KEY,
    user_id     text NOT NULL,
    enabled     timestamptz NOT NULL DEFAULT now(),
    disabled    timestamptz
);

ALTER TABLE datastore_versions
    -- The guest's driver for the version (Trove's datastore_manager).
    ADD COLUMN manager  text NOT NULL DEFAULT '',
    ADD COLUMN packages text NOT NULL DEFAULT '';

UPDATE datastore_versions v SET manager = d.name FROM datastores d WHERE d.id = v.datastore_id;

-- The flavors a version may be created with; a version with none allows every flavor.
CREATE TABLE datastore_version_flavors (
    version_id uuid NOT NULL REFERENCES datastore_versions (id) ON DELETE CASCADE,
    flavor_id  text NOT NULL,
    PRIMARY KEY (version_id, flavor_id)
);

---- create above / drop below ----

DROP TABLE datastore_version_flavors;
ALTER TABLE datastore_versions DROP COLUMN manager, DROP COLUMN packages;
DROP TABLE root_history;
DROP TABLE quotas;
ALTER TABLE instances DROP COLUMN ram_mb;
