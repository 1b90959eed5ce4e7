#!/usr/bin/env bash
# The runbook's "Immediate Full Rollback" (steps 1 to 6), run as a shell script
# inside a drill container. It is the baseline that bench/run.py times the
# collection against.
#
# The commands are the runbook's own, in its order. RUNBOOK_MODE selects how
# literally they run:
#
#   literal    exactly as written, from one shell. Step 2 ends with `cd current`,
#              so the relative paths of steps 3 and 4 (backup-pre-deployment.sql,
#              .env.previous) resolve inside the release folder and miss. root has
#              no PostgreSQL role, so pg_dump and psql fail too. Used once per
#              benchmark to record which steps fail.
#   operator   the same commands with the fixes an operator makes at the prompt,
#              so that every step can succeed. This is the timed baseline:
#                - each step starts in /opt/prompt-library, as the runbook's
#                  relative paths assume;
#                - PostgreSQL commands run as the postgres user;
#                - the health curl of step 5 is repeated until it answers 200
#                  (at most 60 s), because the first one races the app's start;
#                - `tail -f` in step 6 never returns, so it reads the last lines.
#
# Each step prints "@step <name> start|end <epoch seconds>" and each command
# "@rc <exit status> <command>" so that the caller can time steps and see what
# failed. Nothing stops at a failed command: the runbook has no error handling,
# and an operator pasting it would go on too. The script exits 0 when the last
# health check answered 200 and 1 otherwise.
#
# Needs ADMIN_TOKEN in the environment for step 6. The npm commands need the npm
# registry, as the runbook assumes.
set -u

APP_ROOT=${APP_ROOT:-/opt/prompt-library}
RUNBOOK_MODE=${RUNBOOK_MODE:-operator}
HEALTH_WAIT_SECONDS=${HEALTH_WAIT_SECONDS:-60}

case "$RUNBOOK_MODE" in
  literal | operator) ;;
  *)
    echo "RUNBOOK_MODE must be literal or operator, got '$RUNBOOK_MODE'." >&2
    exit 2
    ;;
esac

now() {
  date +%s.%N
}

step() {
  echo "@step $1 $2 $(now)"
}

# Run one command of the runbook, print its exit status and return it.
run() {
  "$@"
  local status=$?
  echo "@rc $status $*"
  return $status
}

# PostgreSQL commands: as written in literal mode, as the postgres user otherwise.
as_db_user() {
  if [[ "$RUNBOOK_MODE" == literal ]]; then
    "$@"
  else
    runuser -u postgres -- "$@"
  fi
}

# Where an operator starts each step. In literal mode the shell stays wherever
# the previous step left it.
step_folder() {
  if [[ "$RUNBOOK_MODE" == operator ]]; then
    cd "$APP_ROOT" || exit 1
  fi
}

cd "$APP_ROOT" || exit 1

step stop_services start
run pm2 stop all
run systemctl stop template-cache-service
run systemctl stop template-analytics-service
step stop_services end

step restore_code start
step_folder
run mv current "current-failed-$(date +%Y%m%d_%H%M%S)"
run cp -r previous-stable current
cd current || exit 1
step npm_ci start
run npm ci --production
step npm_ci end
run npm run build
step restore_code end

step restore_database start
step_folder
# The dump is written by the shell, so the file belongs to root; psql and
# pg_dump run as postgres and read or write through the shell's redirections.
as_db_user pg_dump promptlib_production >"failed-state-$(date +%Y%m%d_%H%M%S).sql"
echo "@rc $? pg_dump promptlib_production"
as_db_user psql promptlib_production <backup-pre-deployment.sql
echo "@rc $? psql promptlib_production < backup-pre-deployment.sql"
run as_db_user psql promptlib_production -c "SELECT COUNT(*) FROM prompt_templates;"
step restore_database end

step restore_config start
step_folder
run cp .env.previous .env
run cp /etc/nginx/sites-available/prompt-library.previous /etc/nginx/sites-available/prompt-library
nginx -t && systemctl reload nginx
echo "@rc $? nginx -t && systemctl reload nginx"
step restore_config end

step start_services start
step_folder
run pm2 start ecosystem.config.js
run systemctl start template-cache-service
run systemctl start template-analytics-service
health_status=1
if [[ "$RUNBOOK_MODE" == operator ]]; then
  deadline=$(($(date +%s) + HEALTH_WAIT_SECONDS))
  while :; do
    curl -fsS http://localhost:8000/health
    health_status=$?
    if [[ $health_status -eq 0 || $(date +%s) -ge $deadline ]]; then
      break
    fi
    sleep 0.2
  done
else
  curl -fsS http://localhost:8000/health
  health_status=$?
fi
echo
echo "@rc $health_status curl http://localhost:8000/health"
step start_services end

step validate start
if [[ "$RUNBOOK_MODE" == operator ]]; then
  cd "$APP_ROOT/current" || exit 1
fi
run npm run test:smoke
# Not through run(), which would print the token with the command.
curl -fsS -o /dev/null -X GET http://localhost:8000/api/admin/templates \
  -H "Authorization: Bearer ${ADMIN_TOKEN:-}"
echo "@rc $? curl -X GET http://localhost:8000/api/admin/templates -H 'Authorization: Bearer <token>'"
run tail -n 20 /var/log/prompt-library/application.log
step validate end

[[ $health_status -eq 0 ]]
