"""Shared plumbing of the interop peer scripts.

A peer script runs many XMPP clients of one library in one asyncio loop.
It reads its spec (JSON) from the file named by its first argument, prints
events as JSON lines on stdout and takes commands as JSON lines on stdin;
see interop/doc.go for the protocol.
"""
import asyncio
import json
import sys
import threading

_out = threading.Lock()


def emit(ev, **kw):
    kw["ev"] = ev
    line = json.dumps(kw, sort_keys=True)
    with _out:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def load_spec():
    with open(sys.argv[1], encoding="utf-8") as f:
        return json.load(f)


def start_command_reader(loop, queue):
    """Feed stdin lines, decoded, into an asyncio queue; None at EOF."""

    def run():
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            try:
                cmd = json.loads(line)
            except ValueError as exc:
                emit("error", msg="bad command: %s" % exc)
                continue
            loop.call_soon_threadsafe(queue.put_nowait, cmd)
        loop.call_soon_threadsafe(queue.put_nowait, None)

    t = threading.Thread(target=run, daemon=True)
    t.start()


async def serve_commands(peers, queue):
    """Dispatch commands to peers by name until 'quit' or stdin closes."""
    while True:
        cmd = await queue.get()
        if cmd is None or cmd.get("cmd") == "quit":
            return
        if cmd.get("cmd") == "sync":
            emit("sync", n=cmd.get("n", 0))
            continue
        name = cmd.get("peer")
        targets = list(peers.values()) if name == "*" else [peers.get(name)]
        for p in targets:
            if p is None:
                emit("error", msg="no such peer: %r" % name)
                continue
            try:
                await p.command(cmd)
            except Exception as exc:  # report, keep serving
                emit("error", peer=p.name, msg="%s: %r" % (cmd.get("cmd"), exc))
