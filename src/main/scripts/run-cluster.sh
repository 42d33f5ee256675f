#!/usr/bin/env bash
# Three TokenHub processes on this machine forming one Hazelcast cluster (API 8081-8083,
# management 9091-9093), sharing the local PostgreSQL and Redis. Ctrl-C stops all three.
set -euo pipefail
cd "$(dirname "$0")/../../.."
[ -f target/tokenhub.jar ] || mvn -q -DskipTests package
: "${TOKENHUB_PG_URL:=postgresql://postgres@127.0.0.1:5432/postgres}"
: "${TOKENHUB_REDIS_URL:=redis://127.0.0.1:6379}"
: "${TOKENHUB_MASTER_KEY:=local-cluster-master-key}"
export TOKENHUB_PG_URL TOKENHUB_REDIS_URL TOKENHUB_MASTER_KEY TOKENHUB_CLUSTER=true
mkdir -p data
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait' INT TERM EXIT
for i in 1 2 3; do
  TOKENHUB_PORT=808$i TOKENHUB_MANAGEMENT_PORT=909$i TOKENHUB_DATA_DIR=data/node$i \
    java -jar target/tokenhub.jar > "data/node$i.log" 2>&1 &
  pids+=($!)
done
mkdir -p data
echo "nodes starting; logs in data/node{1,2,3}.log; admin key: $TOKENHUB_MASTER_KEY"
wait
