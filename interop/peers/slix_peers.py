"""Interop peers on slixmpp (Debian's python3-slixmpp).

Each peer is a slixmpp ClientXMPP with the XEP-0030/0115/0128 plugins; its
caps ver is computed by slixmpp itself (update_caps). See common.py and
interop/doc.go for the spec, events and commands.
"""
import asyncio
import base64
import copy
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import emit, load_spec, start_command_reader, serve_commands  # noqa: E402

import slixmpp  # noqa: E402
from slixmpp.xmlstream.handler import CoroutineCallback  # noqa: E402
from slixmpp.xmlstream.matcher import StanzaPath  # noqa: E402


def info_dict(info):
    """The disco#info a peer serves, as the test compares it."""
    ids = []
    for cat, typ, lang, name in info.get_identities(dedupe=False):
        ids.append({"category": cat, "type": typ, "lang": lang or "", "name": name or ""})
    forms = []
    for sub in info["substanzas"]:
        if not hasattr(sub, "get_fields"):
            continue
        fields = []
        for var, fld in sub.get_fields().items():
            vals = fld.get_value(convert=False)
            if vals is None:
                vals = []
            elif not isinstance(vals, list):
                vals = [vals]
            fields.append({"var": var, "type": fld["type"] or "", "values": [str(v) for v in vals]})
        forms.append({"type": sub["type"] or "", "fields": fields})
    return {"identities": ids, "features": list(info.get_features(dedupe=False)), "forms": forms}


class Peer:
    def __init__(self, spec, cfg):
        self.spec = spec
        self.name = spec["name"]
        self.cfg = cfg
        self.behavior = spec.get("behavior", "honest")
        self.delay = float(spec.get("delay", 0))
        self.contact = cfg["subscribe_to"]
        self.ready = False
        self.setup = False
        self.announced = False
        self.quitting = False
        self.started = asyncio.Event()
        x = slixmpp.ClientXMPP(spec["jid"], spec["password"])
        for plugin in ("xep_0030", "xep_0004", "xep_0128", "xep_0115", "xep_0045", "xep_0199"):
            x.register_plugin(plugin)
        if spec.get("node"):
            x["xep_0115"].caps_node = spec["node"]
        x.add_event_handler("session_start", self.on_start)
        x.add_event_handler("roster_update", self.on_roster)
        x.add_event_handler("changed_subscription", self.on_roster)
        x.add_event_handler("disconnected", self.on_disconnected)
        self.x = x

    def on_disconnected(self, _):
        emit("disconnected", peer=self.name)
        if self.spec.get("reconnect") and not self.quitting:
            # slixmpp retries the connection itself until the server is back.
            asyncio.get_running_loop().call_later(0.2, self.connect)

    def connect(self):
        self.x.connect(address=(self.cfg["host"], self.cfg["port"]),
                       force_starttls=False, disable_starttls=True)

    async def on_start(self, _):
        x = self.x
        d = x["xep_0030"]
        if self.setup:  # a reconnect: same disco#info, announce again
            emit("online", peer=self.name, jid=x.boundjid.full)
            if self.announced:
                await x["xep_0115"].update_caps(broadcast=False)
                x.send_presence()
                emit("reannounced", peer=self.name, jid=x.boundjid.full)
            return
        self.setup = True
        # Replace slixmpp's disco#info handler with one that counts the
        # queries and then behaves as the spec says.
        x.remove_handler("Disco Info")
        x.register_handler(CoroutineCallback("Disco Info", StanzaPath("iq/disco_info"), self.on_disco))
        # Our identities replace slixmpp's default one.
        await d.del_identity(category="client", itype="bot")
        for ident in self.spec.get("identities", []):
            await d.add_identity(category=ident["category"], itype=ident["type"],
                                 name=ident.get("name", ""), lang=ident.get("lang") or None)
        for f in self.spec.get("features", []):
            await d.add_feature(f)
        forms = []
        for fs in self.spec.get("forms", []):
            form = x["xep_0004"].make_form(ftype="result")
            form.add_field(var="FORM_TYPE", ftype="hidden", value=fs["form_type"])
            for fld in fs.get("fields", []):
                vals = fld["values"]
                if len(vals) == 1:
                    form.add_field(var=fld["var"], ftype=fld.get("type") or None, value=vals[0])
                else:
                    form.add_field(var=fld["var"], ftype=fld.get("type") or "text-multi", value=vals)
            forms.append(form)
        if forms:
            await d.set_extended_info(data=forms)
        await x.get_roster()
        self.started.set()
        emit("online", peer=self.name, jid=x.boundjid.full)
        # Pre-approve the observer's subscription (RFC 6121 §3.4) and ask
        # for one, so that presence flows both ways without us being
        # available yet.
        if not self.contact:
            # Subscribed to nothing (a privileged component sees us through
            # the server): ready once set up.
            self.ready = True
            emit("ready", peer=self.name, jid=x.boundjid.full)
            return
        x.send_presence(pto=self.contact, ptype="subscribed")
        x.send_presence(pto=self.contact, ptype="subscribe")
        self.on_roster(None)

    def on_roster(self, _):
        if self.ready or not self.contact:
            return
        roster = self.x.client_roster
        if roster.has_jid(self.contact) and roster[self.contact]["subscription"] == "both":
            self.ready = True
            emit("ready", peer=self.name, jid=self.x.boundjid.full)

    async def on_disco(self, iq):
        d = self.x["xep_0030"]
        if iq["type"] != "get":
            return await d._handle_disco_info(iq)
        node = iq["disco_info"]["node"]
        emit("query", peer=self.name, frm=iq["from"].full, node=node, behavior=self.behavior)
        if self.behavior == "silent":
            return
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.behavior == "error":
            r = iq.reply(clear=True)
            r.error()
            r["error"]["type"] = "cancel"
            r["error"]["condition"] = "internal-server-error"
            r.send()
            return
        if self.behavior == "liar":
            info = await d.get_info(jid=None, node=node, local=True)
            if isinstance(info, slixmpp.Iq):
                info = info["disco_info"]
            info = copy.copy(info)
            info.add_feature("urn:capsengine:test:lie")
            r = iq.reply(clear=True)
            info["node"] = node
            r.set_payload(info.xml)
            r.send()
            return
        await d._handle_disco_info(iq)

    async def command(self, cmd):
        await self.started.wait()
        c = cmd["cmd"]
        x = self.x
        if c == "announce":
            await x["xep_0115"].update_caps(broadcast=False)
            x.send_presence()
            self.announced = True
            ver = await x["xep_0115"].get_verstring()
            node = "%s#%s" % (x["xep_0115"].caps_node, ver)
            info = await x["xep_0030"].get_info(jid=None, node=node, local=True)
            if isinstance(info, slixmpp.Iq):
                info = info["disco_info"]
            emit("announced", peer=self.name, jid=x.boundjid.full, node=x["xep_0115"].caps_node,
                 ver=ver, hash="sha-1", info=info_dict(info))
        elif c == "unavailable":
            x.send_presence(ptype="unavailable")
            emit("unavailable", peer=self.name, jid=x.boundjid.full)
        elif c == "flood":
            n = int(cmd.get("n", 100))
            node = x["xep_0115"].caps_node
            for _ in range(n):
                ver = base64.b64encode(os.urandom(20)).decode()
                x.send_raw("<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' "
                           "node='%s' ver='%s'/></presence>" % (node, ver))
            x.send_presence()
            emit("flooded", peer=self.name, jid=x.boundjid.full, n=n)
        elif c == "join":
            room, nick = cmd["room"], cmd.get("nick", self.name)
            await x["xep_0115"].update_caps(broadcast=False)  # so that the join carries <c/>
            x["xep_0045"].join_muc(room, nick)
            emit("joined", peer=self.name, jid=x.boundjid.full, occupant="%s/%s" % (room, nick))
        else:
            emit("error", peer=self.name, msg="unknown command %r" % c)


async def main():
    spec = load_spec()
    peers = {}
    for ps in spec["peers"]:
        p = Peer(ps, spec)
        peers[p.name] = p
        p.connect()
    queue = asyncio.Queue()
    start_command_reader(asyncio.get_running_loop(), queue)
    await serve_commands(peers, queue)
    for p in peers.values():
        p.quitting = True
        p.x.disconnect(wait=0.5)
    emit("bye")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(main())
