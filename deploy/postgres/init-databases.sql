-- docker-compose: one database per service on one PostgreSQL server. Each service has two roles: the owner of
-- its database and tables (worklink_<service>), which only its migrate container uses, and the role the service
-- runs as (worklink_<service>_app), which `worklink db upgrade` grants rows, not tables: it cannot drop, alter or
-- truncate a table, nor disable the audit trail's guard (worklink.migrations.grant_runtime_role). A role can
-- connect only to its own database (CONNECT is revoked from PUBLIC), so "no service reads another's database" is
-- enforced by the server, not only agreed. The passwords are development secrets for docker-compose; production
-- supplies its own.
-- The postgres image runs this on a new data volume only, then runtime-roles.sql (the runtime roles).
CREATE ROLE worklink_directory LOGIN PASSWORD 'directory-dev';
CREATE DATABASE worklink_directory OWNER worklink_directory;
REVOKE CONNECT, TEMPORARY ON DATABASE worklink_directory FROM PUBLIC;

CREATE ROLE worklink_adjustments LOGIN PASSWORD 'adjustments-dev';
CREATE DATABASE worklink_adjustments OWNER worklink_adjustments;
REVOKE CONNECT, TEMPORARY ON DATABASE worklink_adjustments FROM PUBLIC;

CREATE ROLE worklink_referrals LOGIN PASSWORD 'referrals-dev';
CREATE DATABASE worklink_referrals OWNER worklink_referrals;
REVOKE CONNECT, TEMPORARY ON DATABASE worklink_referrals FROM PUBLIC;

CREATE ROLE worklink_notifications LOGIN PASSWORD 'notifications-dev';
CREATE DATABASE worklink_notifications OWNER worklink_notifications;
REVOKE CONNECT, TEMPORARY ON DATABASE worklink_notifications FROM PUBLIC;
