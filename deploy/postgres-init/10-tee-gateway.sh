#!/bin/sh
# Runs once, when the PostgreSQL volume is empty (docker-entrypoint-initdb.d): the chat gateway gets
# its own role and database, so it can read neither the key broker's keys nor its log. The gateway
# creates its tables itself (versioned migrations on start).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -v gateway_password="$GATEWAY_DB_PASSWORD" <<'EOSQL'
CREATE ROLE tee_gateway LOGIN PASSWORD :'gateway_password';
CREATE DATABASE tee_gateway OWNER tee_gateway;
EOSQL
