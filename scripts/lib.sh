# Shared by the bench scripts. Source it; it defines functions only.

# address_from_log LOG: waits (up to 10 s) for a JSON log line with an
# "address" field, as `tessera ... serve --log-format json` prints when it
# listens, and prints that address.
address_from_log() {
  local log=$1 address=
  for _ in $(seq 100); do
    address=$(python3 -c 'import json, sys
for line in open(sys.argv[1]):
    try:
        a = json.loads(line).get("address")
    except ValueError:
        continue
    if a:
        print(a)
        break' "$log" 2>/dev/null || true)
    [ -n "$address" ] && { echo "$address"; return 0; }
    sleep 0.1
  done
  cat "$log" >&2
  return 1
}
