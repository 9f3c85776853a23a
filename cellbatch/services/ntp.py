"""A minimal SNTP client (RFC 4330): how far this computer's clock is from an NTP server's.

One request, one answer, over UDP; the answer must echo the request's transmit time (so a
stray or forged datagram is not taken for it) and come from a synchronised server (stratum
1 to 15, not a kiss-of-death).
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Callable

NTP_PORT = 123
"""The NTP port when an address names none."""
NTP_EPOCH_OFFSET = 2_208_988_800
"""Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01)."""
TIMEOUT_SECONDS = 2.0
"""How long to wait for the server's answer."""


class NtpFailed(Exception):
    """The NTP server did not answer, or its answer cannot be used (says why)."""


def split_address(address: str) -> tuple[str, int]:
    """``HOST``, ``HOST:PORT`` or ``[IPv6]:PORT`` as (host, port)."""
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        port = rest.removeprefix(":")
    elif address.count(":") == 1:
        host, _, port = address.partition(":")
    else:
        host, port = address, ""
    if not host:
        raise NtpFailed(f"{address!r} names no host")
    try:
        number = int(port) if port else NTP_PORT
    except ValueError:
        raise NtpFailed(f"{address!r}: the port is not a number") from None
    if not 0 < number < 65536:
        raise NtpFailed(f"{address!r}: the port is not between 1 and 65535")
    return host, number


def _to_ntp(seconds: float) -> bytes:
    """A Unix time as a 64-bit NTP timestamp."""
    ntp = seconds + NTP_EPOCH_OFFSET
    whole = int(ntp)
    return struct.pack("!II", whole & 0xFFFFFFFF, int((ntp - whole) * 2**32) & 0xFFFFFFFF)


def _from_ntp(raw: bytes) -> float:
    """A 64-bit NTP timestamp as a Unix time."""
    whole, fraction = struct.unpack("!II", raw)
    return whole + fraction / 2**32 - NTP_EPOCH_OFFSET


def clock_offset(
    address: str, *, now: Callable[[], float], timeout: float = TIMEOUT_SECONDS
) -> float:
    """Seconds the NTP server's clock is ahead of ``now()`` (negative: behind).

    Raises :class:`NtpFailed` when no usable answer came within ``timeout``.
    """
    host, port = split_address(address)
    try:
        family, kind, proto, _, target = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
    except OSError as exc:
        raise NtpFailed(f"{address}: {exc.strerror or exc}") from None
    # the transmit time goes out as sent and must come back as the "originate" time; its
    # low bits are random so that an answer cannot be guessed
    with socket.socket(family, kind, proto) as udp:
        udp.settimeout(timeout)
        sent = now()
        stamp = _to_ntp(sent)[:6] + os.urandom(2)
        request = b"\x23" + bytes(39) + stamp  # LI 0, version 4, mode 3 (client)
        try:
            udp.sendto(request, target)
            while True:
                answer, sender = udp.recvfrom(512)
                if sender[:2] == target[:2] and len(answer) >= 48 and answer[24:32] == stamp:
                    break
        except TimeoutError:
            raise NtpFailed(f"{address} did not answer within {timeout:g} s") from None
        except OSError as exc:
            raise NtpFailed(f"{address}: {exc.strerror or exc}") from None
        received = now()
    mode, stratum = answer[0] & 0x07, answer[1]
    if mode != 4 or not 1 <= stratum <= 15:
        raise NtpFailed(
            f"{address} is not a synchronised NTP server (mode {mode}, stratum {stratum})"
        )
    server_received, server_sent = _from_ntp(answer[32:40]), _from_ntp(answer[40:48])
    return ((server_received - sent) + (server_sent - received)) / 2
