#!/usr/bin/env python3
"""A small QMP client for the integration tests (python3 standard library only).

  qmp.py SOCKET run CMD [ARGS_JSON]   one command after qmp_capabilities; prints
                                      the reply ({"return": ...} or {"error": ...})
  qmp.py SOCKET listen                qmp_capabilities, then print every event as a
                                      JSON line until the connection closes
  qmp.py SOCKET raw FILE              send FILE's bytes as they are (no negotiation),
                                      print every line received (JSON re-spelt as
                                      Python's json.dumps does) until the server is
                                      quiet for 2 s or closes; then "CLOSED" or "OPEN"
  qmp.py SOCKET get EXPR CMD [ARGS]   like run, then print EXPR evaluated with
                                      r = the "return" value (e.g. "r['status']")

SOCKET is a Unix socket path, or tcp:HOST:PORT.
Exit code 0 when the command succeeded (a reply came), 1 otherwise.
"""
import json
import socket
import sys
import time


def connect(where, timeout=30.0):
    deadline = time.time() + timeout
    while True:
        try:
            if where.startswith("tcp:"):
                host, port = where[4:].rsplit(":", 1)
                s = socket.create_connection((host, int(port)))
            else:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(where)
            return s
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.2)


class Conn:
    def __init__(self, where):
        self.s = connect(where)
        self.buf = b""

    def line(self, timeout=None):
        self.s.settimeout(timeout)
        while b"\n" not in self.buf:
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                return None
            if not d:
                raise EOFError
            self.buf += d
        ln, self.buf = self.buf.split(b"\n", 1)
        return ln.decode().strip()

    def msg(self, timeout=None):
        ln = self.line(timeout)
        return None if ln is None else json.loads(ln)

    def send(self, obj):
        self.s.sendall((json.dumps(obj) + "\n").encode())

    def execute(self, cmd, args=None, timeout=60):
        req = {"execute": cmd}
        if args is not None:
            req["arguments"] = args
        self.send(req)
        while True:
            m = self.msg(timeout)
            if m is None:
                raise TimeoutError(cmd)
            if "event" not in m:
                return m

    def negotiate(self):
        greeting = self.msg(30)
        assert "QMP" in greeting, greeting
        r = self.execute("qmp_capabilities")
        assert "return" in r, r


def main():
    where, mode = sys.argv[1], sys.argv[2]
    if mode in ("run", "get"):
        expr = None
        rest = sys.argv[3:]
        if mode == "get":
            expr, rest = rest[0], rest[1:]
        c = Conn(where)
        c.negotiate()
        args = json.loads(rest[1]) if len(rest) > 1 else None
        r = c.execute(rest[0], args)
        if expr is None:
            print(json.dumps(r))
        else:
            if "return" not in r:
                print(json.dumps(r))
                return 1
            print(eval(expr, {}, {"r": r["return"]}))
        return 0
    if mode == "listen":
        c = Conn(where)
        c.negotiate()
        print(json.dumps({"listening": True}), flush=True)
        try:
            while True:
                m = c.msg()
                if m is not None and "event" in m:
                    print(json.dumps(m), flush=True)
        except (EOFError, OSError):
            pass
        return 0
    if mode == "raw":
        data = open(sys.argv[3], "rb").read()
        c = Conn(where)
        try:
            # the whole input, in pieces, while reading what comes back
            c.s.setblocking(True)
            c.s.sendall(data)
        except OSError as e:
            print(json.dumps({"send-error": str(e)}))
        state = "OPEN"
        try:
            while True:
                ln = c.line(2.0)
                if ln is None:
                    break
                try:  # one spelling for the tests' greps
                    ln = json.dumps(json.loads(ln))
                except ValueError:
                    pass
                print(ln, flush=True)
        except (EOFError, OSError):
            state = "CLOSED"
        print(state)
        return 0
    print(__doc__)
    return 1


if __name__ == "__main__":
    sys.exit(main())
