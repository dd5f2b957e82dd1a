-- MariaDB 10.11 is offered (issue 16): the guest agent has its driver, and its image is
-- coffer-mariadb-10.11 (seeded, inactive, by 001).
UPDATE datastore_versions v
SET active = true
FROM datastores d
WHERE v.datastore_id = d.id AND d.name = 'mariadb' AND v.name = '10.11';

---- create above / drop below ----

UPDATE datastore_versions v
SET active = false
FROM datastores d
WHERE v.datastore_id = d.id AND d.name = 'mariadb' AND v.name = '10.11';
