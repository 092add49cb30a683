#!/usr/bin/env bash
# oauth-server.sh start|stop|status DIR PORT
#
# A throwaway OAuth2 authorisation server on 127.0.0.1:PORT (plain HTTP) for
# the integration tests of OAuth2 IMAP and SMTP (XOAUTH2, OAUTHBEARER):
# Python 3's standard library only (/usr/bin/python3), state in memory.
#   GET  /authorize    authorisation-code flow with PKCE (S256 checked at
#                      /token): redirects at once to redirect_uri with code and
#                      state (the user is `login_hint`), or with
#                      error=access_denied when the client refuses consent
#   POST /token        grant_type = authorization_code | refresh_token |
#                      client_credentials (client_id in the form or HTTP
#                      Basic); JSON access_token, expires_in, refresh_token;
#                      RFC 6749 errors (400 {"error": ..., "error_description": ...})
#   POST /introspect   RFC 7662 (form token=...): {"active": true, "username":
#                      ..., "scope": ..., "exp": ..., "client_id": ...} or
#                      {"active": false}; Dovecot's oauth2 passdb and the test
#                      SMTP server validate every XOAUTH2/OAUTHBEARER token here
# Test control (JSON bodies):
#   POST /control/client         {"client_id", "lifetime" (s), "error" (an
#                                 OAuth error code every grant of this client
#                                 gets, e.g. consent_required), "username"
#                                 (mailbox a client_credentials token may use),
#                                 "secret", "rotate" (new refresh token at each
#                                 refresh)}; unknown clients get the defaults
#   POST /control/refresh-token  {"client_id", "username", "scope"} -> {"refresh_token"}
#   POST /control/revoke         {"client_id"}: its access tokens become inactive
#   GET  /control/stats?client_id=ID  grants issued and introspection outcomes
# Environment: OAUTH_TOKEN_LIFETIME default lifetime of access tokens (s, 3600).
# Tokens are never written to the log.
set -euo pipefail

die() { echo "oauth-server.sh: error: $*" >&2; exit 1; }
log() { echo "oauth-server.sh: $*" >&2; }

usage() { echo "usage: $0 start|stop|status DIR PORT" >&2; exit 2; }
[ $# -eq 3 ] || usage
ACTION=$1; DIR=$2; PORT=$3
case "$ACTION" in start|stop|status) ;; *) usage ;; esac
[[ "$PORT" =~ ^[0-9]+$ ]] && [ "$PORT" -ge 1024 ] && [ "$PORT" -le 65535 ] \
  || die "PORT must be a number in 1024..65535, got '$PORT'"
mkdir -p "$DIR" || die "cannot create DIR '$DIR'"
DIR=$(cd "$DIR" && pwd -P)

PY=/usr/bin/python3
BIN=$DIR/bin; RUN=$DIR/run; LOGD=$DIR/log
SERVER_PY=$BIN/oauth_server.py
PIDFILE=$RUN/oauth.pid
WAIT_SECS=${OAUTH_WAIT_SECS:-30}

alive() {
  local st
  st=$(sed -n 's/^.*) \([A-Z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

our_pid() {
  [ -f "$PIDFILE" ] || return 0
  local pid; pid=$(tr -dc '0-9' <"$PIDFILE")
  [ -n "$pid" ] && alive "$pid" || return 0
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$SERVER_PY" || return 0
  echo "$pid"
}

write_server() {
  mkdir -p "$BIN"
  cat >"$SERVER_PY.tmp" <<'PYEOF'
"""Test OAuth2 server (written by oauth-server.sh): token, authorize, introspect, control."""
import argparse, base64, hashlib, json, logging, os, secrets, signal, threading, time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ap = argparse.ArgumentParser()
ap.add_argument("--dir", required=True)
ap.add_argument("--port", type=int, required=True)
args = ap.parse_args()
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s oauth-test: %(message)s")
log = logging.getLogger()

DEFAULT_LIFETIME = int(os.environ.get("OAUTH_TOKEN_LIFETIME", "3600"))
LOCK = threading.Lock()
CLIENTS = {}   # client_id -> settings
ACCESS = {}    # token -> {client_id, username, scope, exp, revoked}
REFRESH = {}   # token -> {client_id, username, scope}
CODES = {}     # code -> {client_id, username, scope, redirect_uri, challenge, exp}
STATS = {}     # client_id -> counters


def client(cid):
    return CLIENTS.setdefault(cid, {"lifetime": DEFAULT_LIFETIME, "error": None, "username": None,
                                    "secret": None, "rotate": False})


def count(cid, key):
    s = STATS.setdefault(cid, {})
    s[key] = s.get(key, 0) + 1


def b64url_sha256(text):
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):  # the path only: no query string, no body (tokens)
        log.info("%s %s -> %s", self.command, self.path.split("?")[0], a[1] if len(a) > 1 else "")

    def reply(self, status, body, headers=None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def form(self):
        return {k: v[0] for k, v in urllib.parse.parse_qs(self.body().decode(), keep_blank_values=True).items()}

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        q = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
        if url.path == "/authorize":
            return self.authorize(q)
        if url.path == "/control/stats":
            with LOCK:
                return self.reply(200, STATS.get(q.get("client_id", ""), {}))
        return self.reply(404, {"error": "not_found"})

    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == "/token":
            return self.token(self.form())
        if path == "/introspect":
            return self.introspect(self.form())
        if path.startswith("/control/"):
            try:
                j = json.loads(self.body() or b"{}")
            except ValueError:
                return self.reply(400, {"error": "bad json"})
            return self.control(path, j)
        return self.reply(404, {"error": "not_found"})

    def authorize(self, q):
        cid, redirect = q.get("client_id", ""), q.get("redirect_uri", "")
        if not cid or not redirect or q.get("response_type") != "code":
            return self.reply(400, {"error": "invalid_request"})
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return self.reply(400, {"error": "invalid_request", "error_description": "PKCE S256 required"})
        with LOCK:
            c = client(cid)
            count(cid, "authorize")
            if c["error"]:
                params = {"error": "access_denied" if c["error"] == "consent_required" else c["error"],
                          "error_description": "The user or administrator has not consented to use the application."}
            else:
                code = "code-" + secrets.token_urlsafe(16)
                CODES[code] = {"client_id": cid, "username": q.get("login_hint", "user@test"), "scope": q.get("scope", ""),
                               "redirect_uri": redirect, "challenge": q["code_challenge"], "exp": time.time() + 300}
                params = {"code": code}
        if "state" in q:
            params["state"] = q["state"]
        sep = "&" if "?" in redirect else "?"
        self.send_response(302)
        self.send_header("Location", redirect + sep + urllib.parse.urlencode(params))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def issue(self, cid, username, scope, with_refresh):
        c = client(cid)
        token = "at-" + secrets.token_urlsafe(24)
        ACCESS[token] = {"client_id": cid, "username": username, "scope": scope,
                         "exp": time.time() + c["lifetime"], "revoked": False}
        out = {"access_token": token, "token_type": "Bearer", "expires_in": c["lifetime"], "scope": scope}
        if with_refresh:
            rt = "rt-" + secrets.token_urlsafe(24)
            REFRESH[rt] = {"client_id": cid, "username": username, "scope": scope}
            out["refresh_token"] = rt
        return out

    def token(self, f):
        cid, secret = f.get("client_id", ""), f.get("client_secret")
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            try:
                u, _, p = base64.b64decode(auth[6:]).decode().partition(":")
                cid, secret = urllib.parse.unquote_plus(u), urllib.parse.unquote_plus(p)
            except Exception:
                return self.reply(401, {"error": "invalid_client"})
        grant = f.get("grant_type", "")
        with LOCK:
            if not cid:
                return self.reply(401, {"error": "invalid_client", "error_description": "no client_id"})
            c = client(cid)
            count(cid, "token:" + grant)
            if c["secret"] is not None and secret != c["secret"]:
                return self.reply(401, {"error": "invalid_client", "error_description": "client authentication failed"})
            if c["error"]:
                desc = {"consent_required": "AADSTS65001: The user or administrator has not consented to use the application.",
                        "invalid_grant": "The refresh token has expired or was revoked.",
                        "invalid_scope": "The requested scope is invalid.",
                        "unauthorized_client": "The client is not authorized for this grant."}.get(c["error"], "refused by test server")
                return self.reply(400, {"error": c["error"], "error_description": desc})
            if grant == "authorization_code":
                code = CODES.pop(f.get("code", ""), None)
                if not code or code["client_id"] != cid or code["exp"] < time.time():
                    return self.reply(400, {"error": "invalid_grant", "error_description": "unknown or expired code"})
                if code["redirect_uri"] != f.get("redirect_uri"):
                    return self.reply(400, {"error": "invalid_grant", "error_description": "redirect_uri mismatch"})
                if b64url_sha256(f.get("code_verifier", "")) != code["challenge"]:
                    return self.reply(400, {"error": "invalid_grant", "error_description": "PKCE verification failed"})
                return self.reply(200, self.issue(cid, code["username"], code["scope"], True))
            if grant == "refresh_token":
                rt = REFRESH.get(f.get("refresh_token", ""))
                if not rt or rt["client_id"] != cid:
                    return self.reply(400, {"error": "invalid_grant", "error_description": "unknown refresh token"})
                out = self.issue(cid, rt["username"], f.get("scope") or rt["scope"], c["rotate"])
                if c["rotate"]:
                    REFRESH.pop(f.get("refresh_token", ""), None)
                return self.reply(200, out)
            if grant == "client_credentials":
                if not c["username"]:
                    return self.reply(400, {"error": "unauthorized_client", "error_description": "no mailbox granted to this application"})
                return self.reply(200, self.issue(cid, c["username"], f.get("scope", ""), False))
            return self.reply(400, {"error": "unsupported_grant_type"})

    def introspect(self, f):
        with LOCK:
            t = ACCESS.get(f.get("token", ""))
            if t is None:
                count("_", "introspect:unknown")
                return self.reply(200, {"active": False})
            cid = t["client_id"]
            if t["revoked"]:
                count(cid, "introspect:revoked")
                return self.reply(200, {"active": False})
            if t["exp"] < time.time():
                count(cid, "introspect:expired")
                return self.reply(200, {"active": False})
            count(cid, "introspect:active")
            return self.reply(200, {"active": True, "username": t["username"], "scope": t["scope"],
                                    "client_id": cid, "exp": int(t["exp"]), "token_type": "Bearer"})

    def control(self, path, j):
        cid = str(j.get("client_id", ""))
        with LOCK:
            if path == "/control/client":
                c = client(cid)
                for k in ("lifetime", "error", "username", "secret", "rotate"):
                    if k in j:
                        c[k] = j[k]
                return self.reply(200, c)
            if path == "/control/refresh-token":
                rt = "rt-" + secrets.token_urlsafe(24)
                REFRESH[rt] = {"client_id": cid, "username": j.get("username", ""), "scope": j.get("scope", "")}
                client(cid)
                return self.reply(200, {"refresh_token": rt})
            if path == "/control/revoke":
                n = 0
                for t in ACCESS.values():
                    if t["client_id"] == cid and not t["revoked"]:
                        t["revoked"] = True
                        n += 1
                count(cid, "revoked")
                return self.reply(200, {"revoked": n})
        return self.reply(404, {"error": "not_found"})


server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
server.daemon_threads = True
signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
pidfile = os.path.join(args.dir, "run", "oauth.pid")
with open(pidfile + ".tmp", "w") as f:
    f.write(f"{os.getpid()}\n")
os.rename(pidfile + ".tmp", pidfile)
log.info("listening on http://127.0.0.1:%d (default token lifetime %ds)", args.port, DEFAULT_LIFETIME)
server.serve_forever()
try:
    os.unlink(pidfile)
except FileNotFoundError:
    pass
log.info("stopped")
PYEOF
  mv "$SERVER_PY.tmp" "$SERVER_PY"
}

do_start() {
  local pid; pid=$(our_pid)
  if [ -n "$pid" ]; then
    port_open "$PORT" || die "oauth server (pid $pid) runs for $DIR but 127.0.0.1:$PORT does not answer; run stop first"
    log "already running (pid $pid) on 127.0.0.1:$PORT"
    return 0
  fi
  [ -x "$PY" ] || die "$PY is missing"
  port_open "$PORT" && die "127.0.0.1:$PORT is already in use by another process"
  mkdir -p "$RUN" "$LOGD"
  write_server
  rm -f "$PIDFILE"
  local t0=$SECONDS
  setsid "$PY" -u "$SERVER_PY" --dir "$DIR" --port "$PORT" </dev/null >>"$LOGD/oauth.log" 2>&1 &
  local child=$!
  while :; do
    pid=$(our_pid)
    if [ -n "$pid" ] && port_open "$PORT"; then break; fi
    if ! kill -0 "$child" 2>/dev/null && [ -z "$pid" ]; then
      tail -20 "$LOGD/oauth.log" >&2 || true
      die "oauth server exited during start (log: $LOGD/oauth.log)"
    fi
    if [ $((SECONDS - t0)) -ge "$WAIT_SECS" ]; then
      tail -20 "$LOGD/oauth.log" >&2 || true
      die "oauth server did not answer on 127.0.0.1:$PORT within ${WAIT_SECS}s (log: $LOGD/oauth.log)"
    fi
    sleep 0.1
  done
  log "started oauth server (pid $pid): http://127.0.0.1:$PORT (token, authorize, introspect, control)"
}

do_stop() {
  local pid; pid=$(our_pid)
  if [ -z "$pid" ]; then
    rm -f "$PIDFILE"
    log "not running (no live server for $DIR)"; return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  local i
  for i in $(seq 1 200); do alive "$pid" || break; sleep 0.05; done
  if alive "$pid"; then
    log "oauth server (pid $pid) still alive after 10s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PIDFILE"
  log "stopped oauth server (pid $pid)"
}

case "$ACTION" in
  start) do_start ;;
  stop) do_stop ;;
  status)
    pid=$(our_pid)
    if [ -n "$pid" ]; then echo "running pid=$pid url=http://127.0.0.1:$PORT"; else echo "stopped"; exit 3; fi ;;
esac
