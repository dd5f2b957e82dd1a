-- Guests report their health to the gateway on their own schedule (issue 19): the data
-- volume as the guest last saw it sits beside the service status, so that a show's
-- volume.used comes from the catalog and no workflow runs per instance.
ALTER TABLE instances
    ADD COLUMN guest_volume_size_gb integer,
    ADD COLUMN guest_volume_used_gb double precision,
    ADD COLUMN guest_volume_updated timestamptz;

---- create above / drop below ----

ALTER TABLE instances
    DROP COLUMN guest_volume_size_gb,
    DROP COLUMN guest_volume_used_gb,
    DROP COLUMN guest_volume_updated;
