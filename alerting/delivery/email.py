"""E-mail delivery: one message per envelope over one SMTP connection per batch.

Each message has

* ``Subject`` = the envelope's subject, ``From`` = the sender, ``To`` = the address,
* ``Message-ID: <{idempotency_key}@yujing>`` (mail systems and readers de-duplicate on it)
  and ``Yujing-Idempotency-Key``,
* a UTF-8 text part with the envelope's text (Chinese survives: headers are RFC 2047
  encoded, the body is transfer-encoded),
* the envelope's body attached: ``alert.xml`` for ``application/cap+xml``, ``impact.json``
  for ``application/json``.

==========================================  ===========================================
what happened                               outcome
==========================================  ===========================================
250 after DATA                              delivered (``None``); the relay took it
5xx reply (recipient refused, 550, 552)     permanent :class:`DeliveryError`
4xx reply (greylisted, mailbox busy)        transient
refused, disconnected, timed out            transient (the rest of the batch too)
==========================================  ===========================================
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import formatdate

from alerting.delivery.envelope import ChannelKind, Envelope, Outcome
from alerting.errors import DeliveryError

__all__ = ["ATTACHMENT_NAMES", "SmtpSender", "build_message"]

_IDEMPOTENCY_HEADER = "Yujing-Idempotency-Key"  # as on webhooks
ATTACHMENT_NAMES = {"application/cap+xml": "alert.xml", "application/json": "impact.json"}
"""File name of the attached body, by content type; other types are ``payload.bin``."""


class _IdentifierPolicy(EmailPolicy):
    """The default e-mail policy, except that identifier headers are never folded.

    ``Message-ID: <64 hex digits@yujing>`` is 85 characters, past the 78 that the default
    policy folds at; a folded identifier is valid RFC 5322 but trips receivers that compare
    it verbatim (RFC 5322 section 2.1.1 allows lines up to 998 characters).
    """

    def fold(self, name: str, value: str) -> str:
        if name.lower() in _UNFOLDED_HEADERS:
            return f"{name}: {value}{self.linesep}"
        return super().fold(name, value)

    def fold_binary(self, name: str, value: str) -> bytes:
        if name.lower() in _UNFOLDED_HEADERS:
            return self.fold(name, value).encode("ascii")
        return super().fold_binary(name, value)


_UNFOLDED_HEADERS = frozenset({"message-id", _IDEMPOTENCY_HEADER.lower()})
_POLICY = _IdentifierPolicy()


def build_message(envelope: Envelope, sender: str) -> EmailMessage:
    """The e-mail of one envelope.

    Parameters
    ----------
    envelope
        An envelope of the ``email`` channel; ``target`` is the address.
    sender
        The ``From`` address.

    Returns
    -------
    EmailMessage
        ``multipart/mixed``: the UTF-8 text, then the body as an attachment. The
    ``Message-ID`` stays on one line, so a receiver comparing it verbatim de-duplicates.
    """
    message = EmailMessage(policy=_POLICY)
    message["Subject"] = envelope.subject
    message["From"] = sender
    message["To"] = envelope.target
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = f"<{envelope.idempotency_key}@yujing>"
    message[_IDEMPOTENCY_HEADER] = envelope.idempotency_key
    message.set_content(envelope.text, charset="utf-8")
    media_type = envelope.content_type.split(";", 1)[0].strip().lower()
    maintype, _, subtype = media_type.partition("/")
    message.add_attachment(
        envelope.body,
        maintype=maintype or "application",
        subtype=subtype or "octet-stream",
        filename=ATTACHMENT_NAMES.get(media_type, "payload.bin"),
    )
    return message


class SmtpSender:
    """Sends envelopes as e-mails through one SMTP server (relay or submission port).

    Parameters
    ----------
    host, port
        The SMTP server.
    sender
        The ``From`` and envelope sender address.
    starttls
        Upgrade the connection with STARTTLS (certificate checked against the system's
        CAs) before logging in or sending.
    username, password
        Log in with these when given (after STARTTLS, so the password is not sent in clear).
    timeout
        Seconds for connecting and for each SMTP reply.
    """

    channel: ChannelKind = "email"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 25,
        *,
        sender: str = "yujing@localhost",
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        if (username is None) != (password is None):
            raise ValueError("give both username and password for SMTP login, or neither")
        self.host = host
        self.port = port
        self.sender = sender
        self._starttls = starttls
        self._username = username
        self._password = password
        self._timeout = timeout

    def __enter__(self) -> SmtpSender:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def server(self) -> str:
        """``host:port`` of the SMTP server, as named in messages."""
        return f"{self.host}:{self.port}"

    def send_batch(self, envelopes: Sequence[Envelope]) -> list[Outcome]:
        """Send every envelope as one e-mail over one connection; one outcome each.

        Parameters
        ----------
        envelopes
            Envelopes of the ``email`` channel; ``target`` is the address.

        Returns
        -------
        list of DeliveryError or None
            ``None`` where the server accepted the message, else why not (see the module
            table).
        """
        if not envelopes:
            return []
        try:
            smtp = self._open()
        except (smtplib.SMTPException, OSError) as err:
            problem = f"SMTP server {self.server} could not be used: {_describe(err)}"
            return [DeliveryError(problem) for _ in envelopes]
        outcomes: list[Outcome] = []
        try:
            for envelope in envelopes:
                outcome, usable = self._send_one(smtp, envelope)
                outcomes.append(outcome)
                if not usable:
                    lost = (
                        f"SMTP server {self.server}: not sent, the connection was lost "
                        f"at an earlier message ({outcome})"
                    )
                    outcomes.extend(DeliveryError(lost) for _ in envelopes[len(outcomes) :])
                    break
        finally:
            _quit(smtp)
        return outcomes

    def close(self) -> None:
        """Nothing to release: each batch opens and closes its own connection."""

    def _open(self) -> smtplib.SMTP:
        smtp = smtplib.SMTP(self.host, self.port, timeout=self._timeout)
        try:
            if self._starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self._username is not None and self._password is not None:
                smtp.login(self._username, self._password)
        except (smtplib.SMTPException, OSError):
            smtp.close()
            raise
        return smtp

    def _send_one(self, smtp: smtplib.SMTP, envelope: Envelope) -> tuple[Outcome, bool]:
        """Send one message; the outcome, and whether the connection is still usable."""
        to = envelope.target
        try:
            smtp.send_message(build_message(envelope, self.sender), self.sender, [to])
        except smtplib.SMTPRecipientsRefused as err:
            code, reply = err.recipients.get(to, (550, b"refused"))
            return _reply_outcome(self.server, to, code, reply), True
        except smtplib.SMTPResponseException as err:  # sender refused, data refused
            return _reply_outcome(self.server, to, err.smtp_code, err.smtp_error), True
        except (smtplib.SMTPException, OSError) as err:  # disconnected, timed out, reset
            problem = f"SMTP server {self.server} failed while sending to {to}: {_describe(err)}"
            return DeliveryError(problem), False
        return None, True


def _reply_outcome(server: str, to: str, code: int, reply: bytes | str) -> DeliveryError:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    answer = f"SMTP server {server} answered {code} {text} for {to}"
    if 500 <= code < 600:
        return DeliveryError(
            f"{answer}; the address or message is refused, sending again cannot help",
            permanent=True,
        )
    return DeliveryError(answer)


def _describe(err: BaseException) -> str:
    if isinstance(err, ConnectionRefusedError):
        return "connection refused (is the mail server running?)"
    if isinstance(err, TimeoutError):
        return "timed out"
    if isinstance(err, smtplib.SMTPAuthenticationError):
        return f"login refused ({err.smtp_code}); check username and password"
    return f"{type(err).__name__}: {err}"


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        pass  # the messages are already sent or refused; only the goodbye failed
    finally:
        smtp.close()
