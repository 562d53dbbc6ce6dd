-- docker-compose: the role each service runs as, worklink_<service>_app, beside the owner of its database
-- (init-databases.sql). Plain roles: no superuser, no membership of the owner, owning nothing - what they may do
-- in the database, `worklink db upgrade` grants as the owner. Safe to run again. The postgres image runs it on a
-- new data volume; a volume made before these roles existed needs it run once (README, "With Docker"):
--   docker compose exec -T postgres psql -U worklink -d worklink < deploy/postgres/runtime-roles.sql

DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'worklink_directory_app') THEN
    CREATE ROLE worklink_directory_app LOGIN PASSWORD 'directory-app-dev';
  END IF;
END $$;
GRANT CONNECT ON DATABASE worklink_directory TO worklink_directory_app;

DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'worklink_adjustments_app') THEN
    CREATE ROLE worklink_adjustments_app LOGIN PASSWORD 'adjustments-app-dev';
  END IF;
END $$;
GRANT CONNECT ON DATABASE worklink_adjustments TO worklink_adjustments_app;

DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'worklink_referrals_app') THEN
    CREATE ROLE worklink_referrals_app LOGIN PASSWORD 'referrals-app-dev';
  END IF;
END $$;
GRANT CONNECT ON DATABASE worklink_referrals TO worklink_referrals_app;

DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'worklink_notifications_app') THEN
    CREATE ROLE worklink_notifications_app LOGIN PASSWORD 'notifications-app-dev';
  END IF;
END $$;
GRANT CONNECT ON DATABASE worklink_notifications TO worklink_notifications_app;
