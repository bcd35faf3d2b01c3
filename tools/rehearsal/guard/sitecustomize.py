"""The rehearsal's guard, loaded by every Python process it starts (``PYTHONPATH``).

Active only when ``CVBOOK_REHEARSAL_NETLOG`` names a log file:

1. **Network.** Every connection, datagram or name lookup for anything but the loopback
   address (127.0.0.0/8, ::1, ``localhost``, this machine's own name) is refused with an
   ``OSError`` and recorded in the log, with the Python stack that asked for it, even when
   the caller catches the error and carries on (a cell that silently downloads still fails
   the rehearsal, which reads the log). Unix sockets are local and allowed.
2. **torchvision's built-in checksums.** Some torchvision datasets check the files they
   unpack against the md5s of the real files (CIFAR-10's batches, say). A stand-in cannot
   match them; files under ``$CVBOOK_DATA`` come from the stand-ins, fetched and verified
   through the generated ``CVBOOK_SOURCES`` table, so there the check is passed. Elsewhere it
   is torchvision's own.
"""

import os

_LOG = os.environ.get("CVBOOK_REHEARSAL_NETLOG")


def _install_network_guard(log_path: str) -> None:
    import errno
    import ipaddress
    import json
    import socket
    import traceback

    own_names = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
    try:
        own_names.add(socket.gethostname().lower())
    except OSError:
        pass

    def local(host) -> bool:
        if host is None or host in ("", b""):
            return True
        host = (host.decode() if isinstance(host, bytes) else str(host)).strip("[]").lower()
        if host in own_names:
            return True
        try:
            return ipaddress.ip_address(host.split("%")[0]).is_loopback
        except ValueError:
            return False

    def remote_name(host) -> bool:
        """A host name (not an address literal, which needs no lookup) that is not local."""
        if local(host):
            return False
        try:
            ipaddress.ip_address((host.decode() if isinstance(host, bytes) else str(host)).strip("[]").split("%")[0])
            return False
        except ValueError:
            return True

    def refuse(what: str, target) -> None:
        stack = [f"{f.filename}:{f.lineno} in {f.name}" for f in traceback.extract_stack()[:-2]][-10:]
        with open(log_path, "a") as log:
            log.write(json.dumps({"pid": os.getpid(), "what": what, "target": repr(target), "stack": stack}) + "\n")
        raise OSError(errno.ENETUNREACH, f"cvbook rehearsal: {what} {target!r} refused (only 127.0.0.1 may be "
                                         "reached; a download needs a stand-in, see tools/rehearsal)")

    def check(sock, address, what: str) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0] if isinstance(address, tuple) else address
            if not local(host):
                refuse(what, address)

    cls = socket.socket
    real_connect, real_connect_ex, real_sendto, real_sendmsg = cls.connect, cls.connect_ex, cls.sendto, cls.sendmsg

    def connect(self, address):
        check(self, address, "connection to")
        return real_connect(self, address)

    def connect_ex(self, address):
        check(self, address, "connection to")
        return real_connect_ex(self, address)

    def sendto(self, data, *args):
        check(self, args[-1], "datagram to")
        return real_sendto(self, data, *args)

    def sendmsg(self, buffers, ancdata=(), flags=0, address=None):
        if address is not None:
            check(self, address, "datagram to")
            return real_sendmsg(self, buffers, ancdata, flags, address)
        return real_sendmsg(self, buffers, ancdata, flags)

    cls.connect, cls.connect_ex, cls.sendto, cls.sendmsg = connect, connect_ex, sendto, sendmsg

    real_getaddrinfo, real_gethostbyname, real_gethostbyname_ex = (
        socket.getaddrinfo, socket.gethostbyname, socket.gethostbyname_ex)

    def getaddrinfo(host, *args, **kwargs):
        if remote_name(host):
            refuse("name lookup of", host)
        return real_getaddrinfo(host, *args, **kwargs)

    def gethostbyname(host):
        if remote_name(host):
            refuse("name lookup of", host)
        return real_gethostbyname(host)

    def gethostbyname_ex(host):
        if remote_name(host):
            refuse("name lookup of", host)
        return real_gethostbyname_ex(host)

    socket.getaddrinfo, socket.gethostbyname, socket.gethostbyname_ex = getaddrinfo, gethostbyname, gethostbyname_ex


def _accept_standins_in_torchvision() -> None:
    """Patch ``torchvision.datasets.utils.check_md5`` right after that module is imported."""
    import importlib.abc
    import importlib.util
    import sys
    from pathlib import Path

    data_root = Path(os.environ.get("CVBOOK_DATA", "~/.cache/cvbook")).expanduser().resolve()
    target = "torchvision.datasets.utils"

    def patch(module) -> None:
        real_check_md5 = module.check_md5

        def check_md5(fpath, md5, **kwargs):
            if real_check_md5(fpath, md5, **kwargs):
                return True
            return Path(fpath).resolve().is_relative_to(data_root)  # a stand-in, verified by cvbook's table

        module.check_md5 = check_md5

    class Finder(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target_module=None):
            if name != target:
                return None
            sys.meta_path.remove(self)
            try:
                spec = importlib.util.find_spec(name)
            finally:
                sys.meta_path.insert(0, self)
            if spec is None or spec.loader is None:
                return spec
            real_exec = spec.loader.exec_module

            def exec_module(module):
                real_exec(module)
                patch(module)

            spec.loader.exec_module = exec_module
            return spec

    if target in sys.modules:
        patch(sys.modules[target])
    else:
        sys.meta_path.insert(0, Finder())


if _LOG:
    _install_network_guard(_LOG)
    _accept_standins_in_torchvision()
