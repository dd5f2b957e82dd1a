-- The day-2 operations (restart, resize, parked steps, the health monitor) need no column
-- of their own: a resize records its result in flavor_id and volume_size, a parked step
-- shows its fault in the fault columns without changing the task, and the health monitor
-- writes service_status and service_status_updated. This migration keeps tern's numbering
-- whole (004 was set aside for them) and changes nothing.
SELECT 1;

---- create above / drop below ----

SELECT 1;
