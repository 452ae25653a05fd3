"""SMTP receiver for Switchboard's email tests (aiosmtpd).

Usage: smtp_sink.py PORT DIR USER PASSWORD

Accepts mail on 127.0.0.1:PORT with AUTH PLAIN/LOGIN (USER/PASSWORD, plain text allowed,
not required) and writes each accepted message to DIR as <n>.eml with <n>.json holding the
envelope. Recipients decide the answer: temp-fail@... gets 451, reject@... gets 550.
"""
import asyncio
import json
import os
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local == "temp-fail":
            return "451 4.3.0 try again later"
        if local == "reject":
            return "550 5.1.1 user unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        name = os.path.join(self.directory, str(self.count))
        with open(name + ".eml.part", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        with open(name + ".json", "w") as f:
            json.dump({"from": envelope.mail_from, "recipients": envelope.rcpt_tos}, f)
        os.rename(name + ".eml.part", name + ".eml")
        return "250 2.0.0 queued as %d" % self.count


def authenticator(user, password):
    def check(server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user \
                and auth_data.password.decode() == password:
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)
    return check


def main():
    port, directory, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    controller = Controller(
        Sink(directory),
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticator(user, password),
        auth_require_tls=False,
        auth_required=False,
        decode_data=False,
        # A fixed name: aiosmtpd would otherwise ask the resolver (getfqdn) on every
        # connection, which takes seconds on a machine without DNS.
        server_hostname="sink.test",
    )
    controller.start()
    print("ready", flush=True)
    try:
        asyncio.get_event_loop().run_forever()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
