"""The sentences probers use for failures they share, so every prober words them alike."""

from __future__ import annotations

import errno
import os
import socket
import ssl

LOCAL_SHORTAGES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
"""Errors that say the probing process ran out of something, not that the target failed."""


def describe_timeout(timeout: float) -> str:
    """Describe a probe that ran out of time.

    Args:
        timeout: The time the probe was allowed, in seconds.

    Returns:
        A reason such as ``"timeout after 0.500s"``.
    """
    return f"timeout after {timeout:.3f}s"


def describe_socket_error(exc: OSError) -> str:
    """Describe a socket error met while connecting or talking to a target.

    Args:
        exc: The error the socket layer raised.

    Returns:
        A reason such as ``"connect refused"`` or ``"connection reset"``.
    """
    if isinstance(exc, ConnectionRefusedError) or exc.errno == errno.ECONNREFUSED:
        return "connect refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, socket.gaierror):
        return f"name resolution failed: {exc.strerror or exc}"
    return f"connect failed: {exc.strerror or exc}"


def describe_tls_error(exc: BaseException) -> str:
    """Describe a failed TLS handshake.

    Args:
        exc: The error the handshake raised, usually an ``ssl.SSLError``.

    Returns:
        A reason such as ``"TLS error: certificate verify failed: self-signed certificate"``.
    """
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS error: certificate verify failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError) and exc.reason:
        # OpenSSL names reasons like WRONG_VERSION_NUMBER; say it as words.
        return f"TLS error: {exc.reason.replace('_', ' ').lower()}"
    return f"TLS error: {exc}"


def describe_local_fault(exc: BaseException) -> str:
    """Say whether ``exc`` was the prober's own shortage (descriptors, buffers, memory).

    Args:
        exc: The error a probe met.

    Returns:
        A sentence such as ``"Too many open files (EMFILE)"`` when the probing process
        itself ran short, else ``""``: the error may be the target's doing.
    """
    if isinstance(exc, OSError) and exc.errno in LOCAL_SHORTAGES:
        return f"{exc.strerror or os.strerror(exc.errno)} ({errno.errorcode[exc.errno]})"
    return ""
