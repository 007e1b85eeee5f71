"""``make demo``'s mail server: accepts every email on 127.0.0.1 and keeps none, so the
demo's emails really go through Odoo's mail queue and SMTP and end "sent", with nobody
receiving them. Usage: python tools/demo_smtp_sink.py PORT"""

import asyncore
import sys
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import smtpd


class Sink(smtpd.SMTPServer):
    def process_message(self, peer, mailfrom, rcpttos, data, **kwargs):
        return None  # accepted, dropped


if __name__ == "__main__":
    Sink(("127.0.0.1", int(sys.argv[1])), None, decode_data=False)
    asyncore.loop()
