-- The role replicas connect as: owns no table and cannot bypass row-level security. Migrations run
-- as the owner (SWITCHBOARD_DATABASE_OWNER_URL) and grant it the tables.
CREATE ROLE switchboard_app LOGIN PASSWORD 'switchboard_app' NOSUPERUSER NOBYPASSRLS;
