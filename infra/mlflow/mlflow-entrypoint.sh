#!/bin/sh
# Starts the MLflow tracking server (basic-auth app) from environment variables only: no credential is written
# in an image, a manifest or a compose file. Every secret NAME may instead be given as NAME_FILE (a file holding
# it, e.g. a Docker secret under /run/secrets).
#
#   MLFLOW_DB_HOST, MLFLOW_DB_PORT (5432), MLFLOW_DB_NAME (mlflow), MLFLOW_DB_USER, MLFLOW_DB_PASSWORD   PostgreSQL
#   MLFLOW_ARTIFACTS_DESTINATION     e.g. s3://sfp-mlflow/artifacts (S3 access: instance role, IRSA or AWS_* variables)
#   MLFLOW_ALLOWED_HOSTS             Host headers to accept, e.g. mlflow.example.com,mlflow.sfp.svc.cluster.local:5000
#   MLFLOW_CORS_ALLOWED_ORIGINS      optional, e.g. https://mlflow.example.com
#   MLFLOW_AUTH_ADMIN_USERNAME (admin), MLFLOW_AUTH_ADMIN_PASSWORD   used once, to create the first admin
#   MLFLOW_FLASK_SERVER_SECRET_KEY   signs the auth app's sessions and CSRF tokens
#   MLFLOW_AUTH_DEFAULT_PERMISSION (READ), MLFLOW_WORKERS (4)
set -eu

# NAME_FILE -> NAME for each secret that may come as a file.
for name in MLFLOW_DB_PASSWORD MLFLOW_AUTH_ADMIN_PASSWORD MLFLOW_FLASK_SERVER_SECRET_KEY; do
    eval "file=\${${name}_FILE:-}"
    if [ -n "$file" ]; then
        value=$(cat "$file")
        export "$name=$value"
    fi
done

: "${MLFLOW_DB_HOST:?set MLFLOW_DB_HOST}" "${MLFLOW_DB_USER:?set MLFLOW_DB_USER}"
: "${MLFLOW_DB_PASSWORD:?set MLFLOW_DB_PASSWORD or MLFLOW_DB_PASSWORD_FILE}"
: "${MLFLOW_ARTIFACTS_DESTINATION:?set MLFLOW_ARTIFACTS_DESTINATION}" "${MLFLOW_ALLOWED_HOSTS:?set MLFLOW_ALLOWED_HOSTS}"
: "${MLFLOW_FLASK_SERVER_SECRET_KEY:?set MLFLOW_FLASK_SERVER_SECRET_KEY or MLFLOW_FLASK_SERVER_SECRET_KEY_FILE}"

quoted_password=$(python -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$MLFLOW_DB_PASSWORD")
backend="postgresql://${MLFLOW_DB_USER}:${quoted_password}@${MLFLOW_DB_HOST}:${MLFLOW_DB_PORT:-5432}/${MLFLOW_DB_NAME:-mlflow}"

# The auth app reads its database from an ini file: write one the server alone can read (same database; the auth
# tables keep their own migration history).
auth_ini=$(mktemp)
chmod 600 "$auth_ini"
cat > "$auth_ini" <<INI
[mlflow]
default_permission = ${MLFLOW_AUTH_DEFAULT_PERMISSION:-READ}
database_uri = ${backend}
admin_username = ${MLFLOW_AUTH_ADMIN_USERNAME:-admin}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
INI
export MLFLOW_AUTH_CONFIG_PATH="$auth_ini"
export MLFLOW_SERVER_ENABLE_JOB_EXECUTION="${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false}"

# The store URI holds the password: hand it over in the environment, not on the command line (`ps` shows that).
export MLFLOW_BACKEND_STORE_URI="$backend"
set -- --serve-artifacts --artifacts-destination "$MLFLOW_ARTIFACTS_DESTINATION" \
    --host 0.0.0.0 --port 5000 --workers "${MLFLOW_WORKERS:-4}" \
    --allowed-hosts "$MLFLOW_ALLOWED_HOSTS" \
    --app-name basic-auth "$@"
if [ -n "${MLFLOW_CORS_ALLOWED_ORIGINS:-}" ]; then
    set -- "$@" --cors-allowed-origins "$MLFLOW_CORS_ALLOWED_ORIGINS"
fi
exec mlflow server "$@"
