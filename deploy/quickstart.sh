#!/usr/bin/env bash
# A real migration on this machine in one command: two throwaway PostgreSQL servers (the source
# with wal_level=logical), Redis, one worker, and a full-load-and-cdc task with writes during the
# load. Everything lives under .quickstart/; `deploy/quickstart.sh stop` removes it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD/.quickstart"
SRC_PORT=${SRC_PORT:-25432} DST_PORT=${DST_PORT:-25433} REDIS_PORT=${REDIS_PORT:-26379}

if [ "${1:-}" = "stop" ]; then
    [ -f "$ROOT/worker.pid" ] && kill "$(cat "$ROOT/worker.pid")" 2>/dev/null || true
    bash deploy/postgres.sh stop "$ROOT/src" || true
    bash deploy/postgres.sh stop "$ROOT/dst" || true
    bash deploy/redis.sh stop "$ROOT/redis" || true
    rm -rf "$ROOT"
    echo "quickstart servers stopped and removed"
    exit 0
fi

bash deploy/install-test-deps.sh >/dev/null
export PATH="$PWD/${DMS_VENV:-.venv}/bin:$PATH"  # the dms that install-test-deps.sh put in the virtualenv
mkdir -p "$ROOT" && chmod 755 "$ROOT"
SRC=$(bash deploy/postgres.sh start "$ROOT/src" "$SRC_PORT" --logical 2>/dev/null | tail -n 1)
DST=$(bash deploy/postgres.sh start "$ROOT/dst" "$DST_PORT" 2>/dev/null | tail -n 1)
REDIS=$(bash deploy/redis.sh start "$ROOT/redis" "$REDIS_PORT" 2>/dev/null | tail -n 1)
export DMS_REDIS_URL="$REDIS" DMS_CATALOG_URL="sqlite:///$ROOT/catalog.db" PGPASSWORD=dms
echo "source $SRC"; echo "target $DST"; echo "redis  $REDIS"

psql -q "$SRC" <<'SQL'
DROP TABLE IF EXISTS customers, orders;
CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL, email text, created timestamptz DEFAULT now());
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint, amount numeric(12,2), status text, items jsonb);
INSERT INTO customers SELECT g, 'customer ' || g, 'c' || g || '@example.com' FROM generate_series(1, 20000) g;
INSERT INTO orders SELECT g, 1 + g % 20000, (g % 997) * 1.25, 'new', jsonb_build_object('sku', g % 50)
FROM generate_series(1, 200000) g;
SQL
cat > "$ROOT/mappings.json" <<'JSON'
{"rules": [{"rule-type": "selection", "rule-id": "1", "rule-name": "all-public", "rule-action": "include",
            "object-locator": {"schema-name": "public", "table-name": "%"}}]}
JSON

dms endpoint create src --type source --engine postgres --port "$SRC_PORT" --database app --user dms --password-env PGPASSWORD
dms endpoint create dst --type target --engine postgres --port "$DST_PORT" --database app --user dms --password-env PGPASSWORD
dms endpoint test src
dms endpoint test dst
dms instance create ri1
dms task create demo --source src --target dst --instance ri1 --migration-type full-load-and-cdc \
    --table-mappings "$ROOT/mappings.json"
dms worker --instance ri1 --loglevel WARNING >"$ROOT/worker.log" 2>&1 &
echo $! >"$ROOT/worker.pid"
for _ in $(seq 1 60); do  # the task is handed to a worker that has said it is there
    dms instance list | grep -Eq '^ri1 +[1-9]' && break
    sleep 0.5
done

dms task start demo
# Changes while the load runs, and after: they are cached, then applied.
psql -q "$SRC" -c "UPDATE orders SET status = 'paid' WHERE id % 10 = 0" \
     -c "DELETE FROM customers WHERE id > 19900" \
     -c "INSERT INTO customers (id, name) SELECT g, 'late ' || g FROM generate_series(30001, 30100) g"
for _ in $(seq 1 120); do
    dms task describe demo | grep -q "ongoing-replication" && break
    sleep 0.5
done
sleep 1
dms task describe demo
dms task stats demo
dms task validate demo
cat <<TEXT

The task keeps replicating. Try, with the same environment:
  export PATH=$PWD/${DMS_VENV:-.venv}/bin:\$PATH DMS_REDIS_URL=$DMS_REDIS_URL DMS_CATALOG_URL=$DMS_CATALOG_URL
  psql "$SRC" -c "UPDATE customers SET name = 'renamed' WHERE id = 1"
  dms task stats demo; dms task validate demo; dms task stop demo
Remove everything with: deploy/quickstart.sh stop
TEXT
