-- Quota reservations of a resize in flight: the RAM of the flavor and the volume GiB an
-- instance is being resized to. Quotas count the larger of what the instance has and what
-- it reserved, so that two resizes racing for the last unit cannot both pass; the task's end
-- clears the reservation (and a successful flavor resize makes the RAM its own).

ALTER TABLE instances
    ADD COLUMN reserved_ram_mb integer NOT NULL DEFAULT 0,
    ADD COLUMN reserved_volume_size integer NOT NULL DEFAULT 0;

---- create above / drop below ----

ALTER TABLE instances
    DROP COLUMN reserved_ram_mb,
    DROP COLUMN reserved_volume_size;
