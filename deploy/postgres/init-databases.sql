-- docker-compose: one database per service on one PostgreSQL server (no service reads another's).
CREATE DATABASE worklink_directory;
CREATE DATABASE worklink_adjustments;
CREATE DATABASE worklink_referrals;
CREATE DATABASE worklink_notifications;
