-- The portal's run-time role: reads and writes the portal's data, but cannot change the audit
-- trail's tables or the triggers that keep them append-only. Run as the owner role (the one that
-- runs `manage.py migrate`) after every migration, e.g.
--   psql "postgres://portal_owner@db/portal" -v ON_ERROR_STOP=1 -f deploy/postgresql/portal-role.sql
-- The role `portal_app` must exist (CREATE ROLE portal_app LOGIN PASSWORD '...'), must not be a
-- superuser, and must not own anything in this database. tests/audit/test_database_roles.py runs
-- this very file and then tries, as that role, everything an attacker with the portal's
-- credentials would try.

REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO portal_app;

-- Every table and sequence: the ordinary data rights (no TRUNCATE, REFERENCES or TRIGGER).
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO portal_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO portal_app;

-- The audit trail: append and read only. The one UPDATE the portal makes is Django's
-- `actor_id = NULL` when a user is deleted (the trigger lets exactly that through).
REVOKE UPDATE, DELETE ON audit_event, audit_checkpoint FROM portal_app;
GRANT UPDATE (actor_id) ON audit_event TO portal_app;

-- Migration history is the owner's business.
REVOKE INSERT, UPDATE, DELETE ON django_migrations FROM portal_app;

-- A full launch's items go into a table of the campaign's own, attached as its partition
-- (reviews migration 0007); only these two functions, owned by the owner role, may make one.
GRANT EXECUTE ON FUNCTION reviews_item_partition_create(bigint), reviews_item_partition_attach(bigint) TO portal_app;
