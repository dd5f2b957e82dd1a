-- The catalog's first shape: datastores and their versions (seeded with the engines Coffer
-- knows), and instances with their task, statuses, cloud resources and last fault.
-- Timestamps are timestamptz, so they are instants (stored as UTC) whatever the session's
-- time zone.

CREATE TABLE datastores (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name               text NOT NULL UNIQUE,
    -- The version used when a request names none; its foreign key is added below, once
    -- datastore_versions exists.
    default_version_id uuid
);

CREATE TABLE datastore_versions (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    datastore_id uuid NOT NULL REFERENCES datastores (id),
    name         text NOT NULL CHECK (name <> ''),
    image_tag    text NOT NULL,
    port         integer NOT NULL CHECK (port BETWEEN 1 AND 65535),
    -- Inactive versions are known but not offered: no listing shows them and no create
    -- can pick them.
    active       boolean NOT NULL DEFAULT false,
    UNIQUE (datastore_id, name),
    -- Lets the default version's foreign key say "a version of this datastore".
    UNIQUE (id, datastore_id)
);

ALTER TABLE datastores
    ADD CONSTRAINT datastores_default_version_fkey
    FOREIGN KEY (default_version_id, id) REFERENCES datastore_versions (id, datastore_id);

WITH ds AS (
    INSERT INTO datastores (name)
    VALUES ('postgresql'), ('mysql'), ('mariadb'), ('redis')
    RETURNING id, name
)
INSERT INTO datastore_versions (datastore_id, name, image_tag, port, active)
SELECT ds.id, v.name, v.image_tag, v.port, v.active
FROM ds
JOIN (VALUES
    ('postgresql', '15',    'coffer-postgresql-15',  5432, true),
    ('mysql',      '8.0',   'coffer-mysql-8.0',      3306, false),
    ('mariadb',    '10.11', 'coffer-mariadb-10.11',  3306, false),
    ('redis',      '7',     'coffer-redis-7',        6379, false)
) AS v (datastore, name, image_tag, port, active) ON v.datastore = ds.name;

-- Each datastore has one version so far, and it is the default.
UPDATE datastores d
SET default_version_id = v.id
FROM datastore_versions v
WHERE v.datastore_id = d.id;

CREATE TABLE instances (
    id                     uuid PRIMARY KEY,
    project_id             text NOT NULL,
    name                   text NOT NULL,
    flavor_id              text NOT NULL,
    volume_size            integer NOT NULL CONSTRAINT instances_volume_size_check CHECK (volume_size > 0),
    volume_type            text NOT NULL DEFAULT '',
    -- The datastore's and the version's names, as the API shows them.
    datastore              text NOT NULL,
    version                text NOT NULL,

    -- coffer.Task: at most one task runs per instance.
    task                   text NOT NULL CONSTRAINT instances_task_check
                           CHECK (task IN ('NONE', 'BUILDING', 'DELETING', 'REBOOTING', 'RESIZING', 'ERROR')),
    server_status          text NOT NULL DEFAULT '',
    service_status         text NOT NULL,
    service_status_updated timestamptz,

    server_id              text NOT NULL DEFAULT '',
    volume_id              text NOT NULL DEFAULT '',
    port_id                text NOT NULL DEFAULT '',
    security_group_id      text NOT NULL DEFAULT '',
    address                text NOT NULL DEFAULT '',

    -- The last fault; there is none while fault_created is null.
    fault_message          text NOT NULL DEFAULT '',
    fault_details          text NOT NULL DEFAULT '',
    fault_created          timestamptz,

    created                timestamptz NOT NULL DEFAULT now(),
    updated                timestamptz NOT NULL DEFAULT now()
);

-- Listing pages through a project's instances in (created, id) order.
CREATE INDEX instances_project_created_id_idx ON instances (project_id, created, id);

---- create above / drop below ----

DROP TABLE instances;
DROP TABLE datastores, datastore_versions;
