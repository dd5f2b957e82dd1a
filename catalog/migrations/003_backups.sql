-- Backups and backup schedules. A backup outlives its instance (a restore makes a new
-- instance from it), so instance_id has no foreign key. At most one backup of an instance
-- runs at a time (the partial unique index); while one runs the instance shows BACKUP and
-- takes no other task.

CREATE TABLE backups (
    id           uuid PRIMARY KEY,
    project_id   text NOT NULL,
    instance_id  uuid NOT NULL,
    name         text NOT NULL,
    description  text NOT NULL DEFAULT '',
    -- The source instance's datastore, version and volume size, for restores.
    datastore    text NOT NULL,
    version      text NOT NULL,
    volume_size  integer NOT NULL,
    status       text NOT NULL CONSTRAINT backups_status_check
                 CHECK (status IN ('NEW', 'BUILDING', 'SAVING', 'COMPLETED', 'FAILED', 'DELETE_FAILED')),
    -- Where the manifest is in Swift (set when the backup starts, so that a failure finds
    -- its partial segments).
    container    text NOT NULL DEFAULT '',
    object       text NOT NULL DEFAULT '',
    raw_size     bigint NOT NULL DEFAULT 0,
    size         bigint NOT NULL DEFAULT 0,
    bytes_done   bigint NOT NULL DEFAULT 0,
    checksum     text NOT NULL DEFAULT '',
    wrapped_key  text NOT NULL DEFAULT '',
    segments     integer NOT NULL DEFAULT 0,
    fail_reason  text NOT NULL DEFAULT '',
    schedule_id  text NOT NULL DEFAULT '',
    created      timestamptz NOT NULL DEFAULT now(),
    updated      timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX backups_one_running_per_instance_idx ON backups (instance_id)
    WHERE status IN ('NEW', 'BUILDING', 'SAVING');
CREATE INDEX backups_project_created_id_idx ON backups (project_id, created, id);
CREATE INDEX backups_instance_created_idx ON backups (instance_id, created);

CREATE TABLE backup_schedules (
    id               uuid PRIMARY KEY,
    project_id       text NOT NULL,
    instance_id      uuid NOT NULL,
    name             text NOT NULL DEFAULT '',
    cron             text NOT NULL DEFAULT '',
    interval_seconds bigint NOT NULL DEFAULT 0,
    keep             integer NOT NULL CHECK (keep > 0),
    created          timestamptz NOT NULL DEFAULT now(),
    CHECK (cron <> '' OR interval_seconds > 0)
);

CREATE INDEX backup_schedules_instance_idx ON backup_schedules (instance_id, created);

---- create above / drop below ----

DROP TABLE backup_schedules;
DROP TABLE backups;
