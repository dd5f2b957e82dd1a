-- Each guest's identity with the guest gateway. The control plane derives the server's
-- single-use bootstrap secret from its key, the instance ID and the generation (so a
-- retried server create hands out the same secret, and a rebuild a new one); the gateway
-- stores, at enrollment, only the hash of the credential it gives the agent in exchange.
CREATE TABLE guest_identities (
    instance_id uuid PRIMARY KEY,
    -- Which bootstrap secret the instance's current server carries; a rebuild, which
    -- writes new user_data, takes the next one and forgets the credential.
    generation integer NOT NULL DEFAULT 0,
    -- SHA-256 of the credential the agent received at enrollment; NULL until it enrolled,
    -- which is also what makes the bootstrap secret single-use.
    credential_hash bytea,
    enrolled_at timestamptz,
    -- Set when the instance is deleted: its credential is refused from then on.
    revoked_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);

---- create above / drop below ----

DROP TABLE guest_identities;
