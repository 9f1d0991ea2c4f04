# Sourced by .ci/run (bash): a private Redis for the shared rate-limit test, safe on a machine other processes share.
#
#   redis_start DIR   start a redis-server of our own, as a child of this shell: 127.0.0.1, a port that was free (a
#                     new one if another process takes it first), one user with a random password (the default user
#                     off), no persistence, its configuration and log in DIR (a private directory); wait until the
#                     server on that port answers with our child's pid. Sets REDIS_PID and REDIS_URL
#                     (redis://gatehouse-ci:<password>@127.0.0.1:<port>/0).
#   redis_stop        stop that process, by its pid (SIGTERM, SIGKILL after 10 s); never a server we did not start.
#
# A foreign server on the port cannot pass for ours: the identity check compares INFO's process_id with our child's
# pid, and a client of REDIS_URL is refused there (no such user: WRONGPASS) instead of flushing it. A password alone
# would not do: redis-py ignores a server's "no password configured" answer to AUTH and goes on.
# Standalone check: bash -c '. .ci/redis.sh; d=$(mktemp -d); redis_start "$d"; echo "$REDIS_URL"; redis_stop; rm -r "$d"'

REDIS_PID=
REDIS_URL=

# True while REDIS_PID is a child of this (sub)shell and not a zombie: a pid is never signalled once it may have been
# reused by another process.
_redis_alive() {
  local ppid stat
  read -r ppid stat < <(ps -o ppid=,stat= -p "$REDIS_PID" 2>/dev/null) || return 1
  [ "$ppid" = "$BASHPID" ] && [ "${stat#Z}" = "$stat" ]
}

_redis_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# INFO's `process_id` of the server on 127.0.0.1:PORT, asked as our user; empty when nothing answers.
_redis_pid_on() {
  REDISCLI_AUTH=$2 redis-cli --no-auth-warning --user gatehouse-ci -h 127.0.0.1 -p "$1" info server 2>/dev/null \
    | tr -d '\r' | sed -n 's/^process_id://p'
}

redis_start() {
  local dir=$1 password port attempt
  password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
  for attempt in 1 2 3 4 5; do
    port=$(_redis_free_port)
    # The password goes in a file only we can read, not on a command line that `ps` shows everyone.
    (umask 077; cat > "$dir/redis.conf" <<CONF
bind 127.0.0.1
port $port
protected-mode yes
user default off
user gatehouse-ci on >$password ~* &* +@all
save ""
appendonly no
daemonize no
dir $dir
logfile $dir/redis.log
CONF
)
    redis-server "$dir/redis.conf" </dev/null >/dev/null 2>&1 &
    REDIS_PID=$!
    for _ in $(seq 100); do
      if ! _redis_alive; then
        break  # it exited: most likely the port was taken in the meantime; try another
      fi
      if [ "$(_redis_pid_on "$port" "$password")" = "$REDIS_PID" ]; then
        REDIS_URL="redis://gatehouse-ci:$password@127.0.0.1:$port/0"
        echo "Redis: pid $REDIS_PID on 127.0.0.1:$port (attempt $attempt)"
        return 0
      fi
      sleep 0.1
    done
    redis_stop
    echo "Redis: the server on port $port did not answer as ours; log:" >&2
    tail -n 5 "$dir/redis.log" >&2 2>/dev/null || true
  done
  echo "Redis: could not start a private redis-server" >&2
  return 1
}

redis_stop() {
  [ -n "$REDIS_PID" ] || return 0
  if _redis_alive; then
    kill -TERM "$REDIS_PID" 2>/dev/null || true
    for _ in $(seq 100); do _redis_alive || break; sleep 0.1; done
    if _redis_alive; then kill -KILL "$REDIS_PID" 2>/dev/null || true; fi
  fi
  wait "$REDIS_PID" 2>/dev/null || true
  REDIS_PID= REDIS_URL=
}
