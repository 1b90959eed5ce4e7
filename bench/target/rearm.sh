#!/usr/bin/env bash
# Save the state that playbooks/drill-setup.yml leaves in a drill container, and
# put it back between benchmark runs, so that every timed rollback starts from
# the same broken deployment without a full setup (which takes minutes).
#
#   rearm.sh save      copy the application root, the nginx sites and a dump of
#                      the database to /var/lib/promptlib-bench
#   rearm.sh restore   stop everything, remove what rollbacks left behind (failed
#                      releases and databases, dumps), put the saved files and
#                      database back, and start the failing release as the setup
#                      did: helper services restarted, nginx reloaded, pm2 started
#                      from the ecosystem file and left in the state it reaches
#   rearm.sh fingerprint  print what a rollback can change, for comparing the
#                      restored state with the saved one
#
# A release that will not start keeps pm2 restarting it, so its pm2 status
# changes from one moment to the next. The state compared is therefore the pm2
# process names and scripts, plus the version nginx serves, which restore
# waits for.
set -euo pipefail

APP_ROOT=/opt/prompt-library
SITE=/etc/nginx/sites-available/prompt-library
DB=promptlib_production
DB_OWNER=promptlib
STORE=/var/lib/promptlib-bench
HELPERS=(template-cache-service template-analytics-service)
# How long pm2 and nginx may take to serve the saved release again.
PM2_SETTLE_SECONDS=30

psql_admin() {
  runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 "$@"
}

# The names and scripts of the pm2 processes, sorted, on one line.
pm2_processes() {
  pm2 jlist | python3 -c '
import json, sys
text = sys.stdin.read()
processes = json.loads(text[text.index("["):])
print(" ".join(sorted(p["name"] + ":" + p["pm2_env"]["pm_exec_path"] for p in processes)))'
}

# The version /health reports through nginx, or "none".
served_version() {
  curl -fsS --max-time 2 http://127.0.0.1/health 2>/dev/null |
    python3 -c 'import json, sys; print(json.load(sys.stdin).get("version", "none"))' 2>/dev/null || echo none
}

save() {
  rm -rf "$STORE"
  mkdir -p "$STORE/sites"
  cp -a "$APP_ROOT" "$STORE/app"
  cp -a "$SITE" "$SITE.previous" "$STORE/sites/"
  # The shell writes the file, because postgres may not write to $STORE.
  runuser -u postgres -- pg_dump --format custom "$DB" >"$STORE/database.dump"
  pm2_processes >"$STORE/pm2-processes"
  served_version >"$STORE/served-version"
  echo "saved to $STORE (pm2: $(cat "$STORE/pm2-processes"), nginx serves $(cat "$STORE/served-version"))"
}

restore_database() {
  # Databases that rollbacks created or kept: shadows and failed copies.
  local leftovers
  leftovers=$(psql_admin -tA -c "SELECT datname FROM pg_database WHERE datname LIKE '${DB}\\_%'")
  for name in $leftovers; do
    psql_admin -c "ALTER DATABASE \"$name\" WITH ALLOW_CONNECTIONS true" >/dev/null 2>&1 || true
    runuser -u postgres -- dropdb --force --if-exists "$name"
  done
  runuser -u postgres -- dropdb --force --if-exists "$DB"
  runuser -u postgres -- createdb --owner "$DB_OWNER" "$DB"
  runuser -u postgres -- pg_restore --exit-on-error --dbname "$DB" <"$STORE/database.dump"
}

wait_for_app() {
  local deadline processes version
  deadline=$((SECONDS + PM2_SETTLE_SECONDS))
  while :; do
    processes=$(pm2_processes)
    version=$(served_version)
    if [[ "$processes" == "$(cat "$STORE/pm2-processes")" && "$version" == "$(cat "$STORE/served-version")" ]]; then
      return 0
    fi
    if ((SECONDS >= deadline)); then
      echo "after ${PM2_SETTLE_SECONDS}s pm2 runs '$processes' and nginx serves '$version', not the saved state" >&2
      return 1
    fi
    sleep 0.5
  done
}

restore() {
  [[ -d "$STORE/app" ]] || {
    echo "Nothing saved in $STORE: run '$0 save' after the drill setup first." >&2
    exit 1
  }
  pm2 delete all >/dev/null 2>&1 || true
  systemctl stop "${HELPERS[@]}"
  rm -rf "$APP_ROOT"
  cp -a "$STORE/app" "$APP_ROOT"
  rm -f "$SITE".failed-* /var/backups/prompt-library/*
  cp -a "$STORE/sites/." "$(dirname "$SITE")/"
  restore_database
  nginx -t -q
  systemctl reload nginx
  systemctl start "${HELPERS[@]}"
  (cd "$APP_ROOT" && pm2 start ecosystem.config.js >/dev/null)
  wait_for_app
}

fingerprint() {
  cd "$APP_ROOT"
  ls -a1
  cat ./*/release.json
  sha256sum .env* "$SITE"*
  psql_admin -tA -c "SELECT datname FROM pg_database WHERE datname LIKE '${DB}%' ORDER BY 1"
  psql_admin -tA -d "$DB" -c "SELECT COUNT(*), md5(string_agg(name || body, '|' ORDER BY name)) FROM prompt_templates"
  systemctl is-active "${HELPERS[@]}" nginx || true
  pm2_processes
  served_version
}

case "${1:-}" in
  save) save ;;
  restore) restore ;;
  fingerprint) fingerprint ;;
  *)
    echo "usage: $0 save|restore|fingerprint" >&2
    exit 2
    ;;
esac
