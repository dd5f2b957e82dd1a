-- Trove's instance access: whether the instance is public, and the source ranges its
-- security group lets reach the engine (none: 0.0.0.0/0, Trove's default rule).
ALTER TABLE instances
    ADD COLUMN access_public boolean NOT NULL DEFAULT false,
    ADD COLUMN allowed_cidrs text[] NOT NULL DEFAULT '{}';

---- create above / drop below ----

ALTER TABLE instances DROP COLUMN allowed_cidrs, DROP COLUMN access_public;
