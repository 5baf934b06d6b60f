"""Interop peers on aioxmpp 0.13 (Debian's python3-aioxmpp).

Each peer is an aioxmpp.Client with the EntityCapsService, which computes
and announces both the XEP-0115 ver and the XEP-0390 hashes itself.
aioxmpp 0.13 leaves XEP-0128 forms out of its disco#info and its hashes; the
small patch below (forms carried on the disco node and its static clone)
makes it serve them and hash them with its own functions. TLS is switched
off explicitly (tls_required=False and a connector that never starts TLS).
See common.py and interop/doc.go.
"""
import asyncio
import logging
from datetime import timedelta
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import emit, load_spec, start_command_reader, serve_commands  # noqa: E402

import aioxmpp  # noqa: E402
import aioxmpp.connector  # noqa: E402
import aioxmpp.disco  # noqa: E402
import aioxmpp.disco.service as dsvc  # noqa: E402
import aioxmpp.disco.xso as disco_xso  # noqa: E402
import aioxmpp.entitycaps  # noqa: E402
import aioxmpp.entitycaps.caps115 as caps115  # noqa: E402
import aioxmpp.entitycaps.caps390 as caps390  # noqa: E402
import aioxmpp.errors  # noqa: E402
import aioxmpp.forms as forms  # noqa: E402
import aioxmpp.hashes  # noqa: E402
import aioxmpp.muc  # noqa: E402
import aioxmpp.protocol as protocol  # noqa: E402
import aioxmpp.ssl_transport as ssl_transport  # noqa: E402
import aioxmpp.structs as structs  # noqa: E402
from aioxmpp.connector import to_ascii  # noqa: E402


class PlainConnector(aioxmpp.connector.STARTTLSConnector):
    """STARTTLSConnector without the STARTTLS: aioxmpp 0.13 starts TLS
    whenever the server offers it, even with tls_required=False, so TLS is
    switched off here explicitly (the peers run against a test server)."""

    async def connect(self, loop, metadata, domain, host, port, negotiation_timeout, base_logger=None):
        features_future = asyncio.Future(loop=loop)
        stream = protocol.XMLStream(to=domain, features_future=features_future, base_logger=base_logger)
        try:
            transport, _ = await ssl_transport.create_starttls_connection(
                loop, lambda: stream, host=host, port=port, peer_hostname=host,
                server_hostname=to_ascii(domain), use_starttls=True)
        except:  # noqa: E722 (as aioxmpp does)
            stream.abort()
            raise
        stream.deadtime_hard_limit = timedelta(seconds=negotiation_timeout)
        return transport, stream, await features_future


def make_form(fs):
    data = forms.Data(type_=forms.DataType.RESULT)
    data.fields.append(forms.Field(var="FORM_TYPE", type_=forms.FieldType.HIDDEN, values=[fs["form_type"]]))
    for fld in fs.get("fields", []):
        ftype = forms.FieldType.TEXT_MULTI if len(fld["values"]) > 1 else forms.FieldType.TEXT_SINGLE
        data.fields.append(forms.Field(var=fld["var"], type_=ftype, values=list(fld["values"])))
    return data


# The "help" aioxmpp 0.13 needs for XEP-0128: a node may carry forms, its
# static clone (what EntityCapsService hashes and mounts at node#ver) keeps
# them, and the disco#info answer includes them.
_orig_as_info = dsvc.Node.as_info_xso
_orig_clone = dsvc.StaticNode.clone.__func__


def _as_info_xso(self, stanza=None):
    r = _orig_as_info(self, stanza)
    for fs in getattr(self, "_capsengine_forms", ()):
        r.exts.append(make_form(fs))
    return r


def _clone(cls, other):
    r = _orig_clone(cls, other)
    r._capsengine_forms = getattr(other, "_capsengine_forms", ())
    return r


dsvc.Node.as_info_xso = _as_info_xso
dsvc.StaticNode.clone = classmethod(_clone)


def info_dict(info):
    ids = [{"category": i.category, "type": i.type_, "lang": str(i.lang or ""), "name": i.name or ""}
           for i in info.identities]
    fms = []
    for data in info.exts:
        fields = []
        for f in data.fields:
            fields.append({"var": f.var, "type": f.type_.value if f.type_ else "", "values": list(f.values)})
        fms.append({"type": data.type_.value, "fields": fields})
    return {"identities": ids, "features": sorted(info.features), "forms": fms}


class Peer:
    def __init__(self, spec, cfg):
        self.spec = spec
        self.name = spec["name"]
        self.behavior = spec.get("behavior", "honest")
        self.delay = float(spec.get("delay", 0))
        self.contact = aioxmpp.JID.fromstr(cfg["subscribe_to"]) if cfg.get("subscribe_to") else None
        self.ready = False
        self.started = asyncio.Event()
        layer = aioxmpp.make_security_layer(spec["password"], no_verify=True)._replace(tls_required=False)
        c = aioxmpp.Client(aioxmpp.JID.fromstr(spec["jid"]), layer,
                           override_peer=[(cfg["host"], cfg["port"], PlainConnector())],
                           logger=logging.getLogger("peer." + self.name))
        self.client = c
        self.disco = c.summon(aioxmpp.DiscoServer)
        self.caps = c.summon(aioxmpp.EntityCapsService)
        self.roster = c.summon(aioxmpp.RosterClient)
        self.presence = c.summon(aioxmpp.PresenceServer)
        self.muc = c.summon(aioxmpp.MUCClient)

        d = self.disco
        d._capsengine_forms = list(spec.get("forms", []))
        first = True
        for ident in spec.get("identities", []):
            key = (ident["category"], ident["type"])
            names = {}
            for other in spec["identities"]:
                if (other["category"], other["type"]) == key:
                    lang = structs.LanguageTag.fromstr(other["lang"]) if other.get("lang") else None
                    names[lang] = other.get("name", "")
            if key == ("client", "bot"):
                d.set_identity_names("client", "bot", names=names)
                first = False
                continue
            try:
                d.register_identity(key[0], key[1], names=names)
            except ValueError:
                pass  # same category/type: registered with all its names already
            if first:
                d.unregister_identity("client", "bot")
                first = False
        for f in spec.get("features", []):
            try:
                d.register_feature(f)
            except ValueError:
                pass  # aioxmpp registers some itself
        d.on_info_changed()

        # Count disco#info queries and behave as the spec says.
        c.stream.unregister_iq_request_handler(aioxmpp.IQType.GET, disco_xso.InfoQuery)
        c.stream.register_iq_request_handler(aioxmpp.IQType.GET, disco_xso.InfoQuery, self.on_disco)

        self.roster.on_entry_subscription_state_changed.connect(self.on_roster)
        self.roster.on_entry_added.connect(self.on_roster)
        c.on_stream_established.connect(self.on_established)
        c.on_failure.connect(lambda exc: emit("error", peer=self.name, msg="failure: %r" % exc))

    def on_established(self):
        emit("online", peer=self.name, jid=str(self.client.local_jid))
        if self.contact is None:
            # Subscribed to nothing (a privileged component sees us through
            # the server): ready once online.
            self.started.set()
            self.ready = True
            emit("ready", peer=self.name, jid=str(self.client.local_jid))
            return
        # Pre-approve the observer's subscription (RFC 6121 §3.4), ask for one.
        self.roster.approve(self.contact)
        self.roster.subscribe(self.contact)
        self.started.set()
        self.on_roster(None)

    def on_roster(self, _):
        if self.ready or self.contact is None:
            return
        item = self.roster.items.get(self.contact)
        if item is not None and item.subscription == "both":
            self.ready = True
            emit("ready", peer=self.name, jid=str(self.client.local_jid))

    async def on_disco(self, iq):
        node = iq.payload.node
        emit("query", peer=self.name, frm=str(iq.from_), node=node or "", behavior=self.behavior)
        if self.behavior == "silent":
            await asyncio.Future()  # never answers
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.behavior == "error":
            raise aioxmpp.errors.XMPPCancelError(aioxmpp.errors.ErrorCondition.INTERNAL_SERVER_ERROR)
        resp = await self.disco.handle_info_request(iq)
        if self.behavior == "liar":
            resp.features.add("urn:capsengine:test:lie")
        return resp

    async def command(self, cmd):
        await self.started.wait()
        c = cmd["cmd"]
        if c == "announce":
            self.caps.update_hash()
            info = dsvc.StaticNode.clone(self.disco).as_info_xso()
            ver = caps115.hash_query(info, "sha1")
            caps2 = {}
            for key in caps390.Implementation(aioxmpp.hashes.default_hash_algorithms).calculate_keys(info):
                caps2[key.algo] = key.node.split(".", 1)[1]
            if self.presence.set_presence(aioxmpp.PresenceState(True)) is None:
                # Already available: aioxmpp sends nothing for an unchanged
                # presence, but an announce must reach the server.
                self.presence.resend_presence()
            emit("announced", peer=self.name, jid=str(self.client.local_jid),
                 node=aioxmpp.EntityCapsService.NODE, ver=ver, hash="sha-1", caps2=caps2,
                 info=info_dict(info))
        elif c == "unavailable":
            self.presence.set_presence(aioxmpp.PresenceState(False))
            emit("unavailable", peer=self.name, jid=str(self.client.local_jid))
        elif c == "join":
            room, nick = cmd["room"], cmd.get("nick", self.name)
            self.muc.join(aioxmpp.JID.fromstr(room), nick)
            emit("joined", peer=self.name, jid=str(self.client.local_jid), occupant="%s/%s" % (room, nick))
        else:
            emit("error", peer=self.name, msg="unknown command %r" % c)


async def main():
    spec = load_spec()
    peers = {}
    for ps in spec["peers"]:
        p = Peer(ps, spec)
        peers[p.name] = p
        p.client.start()
    queue = asyncio.Queue()
    start_command_reader(asyncio.get_running_loop(), queue)
    await serve_commands(peers, queue)
    for p in peers.values():
        p.client.stop()
    emit("bye")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(main())
