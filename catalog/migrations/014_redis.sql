-- Redis 7 is offered (issue 16): the guest agent has its driver, and its image is
-- coffer-redis-7 (seeded, inactive, by 001).
UPDATE datastore_versions v
SET active = true
FROM datastores d
WHERE v.datastore_id = d.id AND d.name = 'redis' AND v.name = '7';

---- create above / drop below ----

UPDATE datastore_versions v
SET active = false
FROM datastores d
WHERE v.datastore_id = d.id AND d.name = 'redis' AND v.name = '7';
