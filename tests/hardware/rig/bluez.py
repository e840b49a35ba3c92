"""Mock BlueZ rig: python-dbusmock's bluez5 template on a private system bus, plus GATT.

The stock template leaves gaps that bleak trips over, and `MockBluez` fills them over D-Bus.
Devices get correctly typed advertisement properties, `Connect` sets `ServicesResolved`, and
beacons get GATT service and characteristic objects announced with `InterfacesAdded`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

DEFAULT_DBUSMOCK_DIR = "/opt/micropop-rig/dbusmock"
INSTALL_HINT = "run tests/hardware/rig/install.sh (as root) to install dbus and python-dbusmock"

BLUEZ = "org.bluez"
MOCK = "org.freedesktop.DBus.Mock"
BLUEZ_MOCK = "org.bluez.Mock"
OBJECT_MANAGER = "org.freedesktop.DBus.ObjectManager"
DEVICE = "org.bluez.Device1"
SERVICE = "org.bluez.GattService1"
CHARACTERISTIC = "org.bluez.GattCharacteristic1"
PROPERTIES = "org.freedesktop.DBus.Properties"
ADAPTER = "hci0"
ADAPTER_PATH = f"/org/bluez/{ADAPTER}"

_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
"""

# Device1.Connect as BlueZ behaves once connected: Connected and ServicesResolved turn true.
_CONNECT_CODE = """
if self.props['org.bluez.Device1']['Connected']:
    raise dbus.exceptions.DBusException(
        'Already Connected', name='org.bluez.Error.AlreadyConnected')
changed = {'Connected': dbus.Boolean(True), 'ServicesResolved': dbus.Boolean(True)}
self.props['org.bluez.Device1'].update(changed)
self.EmitSignal('org.freedesktop.DBus.Properties', 'PropertiesChanged', 'sa{sv}as',
                ['org.bluez.Device1', changed, dbus.Array([], signature='s')])
"""

# Device1.Connect that raises InProgress while the adapter discovers, as BlueZ may reply to
# a connect during a scan.
_CONNECT_UNLESS_SCANNING_CODE = (
    """
if objects['/org/bluez/hci0'].props['org.bluez.Adapter1']['Discovering']:
    raise dbus.exceptions.DBusException(
        'Operation already in progress', name='org.bluez.Error.InProgress')
"""
    + _CONNECT_CODE
)

_DISCONNECT_CODE = """
changed = {'Connected': dbus.Boolean(False), 'ServicesResolved': dbus.Boolean(False)}
self.props['org.bluez.Device1'].update(changed)
self.EmitSignal('org.freedesktop.DBus.Properties', 'PropertiesChanged', 'sa{sv}as',
                ['org.bluez.Device1', changed, dbus.Array([], signature='s')])
"""

_WRITE_CODE = """
self.props['org.bluez.GattCharacteristic1']['Value'] = dbus.Array(args[0], signature='y')
"""

_READ_CODE = "ret = self.props['org.bluez.GattCharacteristic1']['Value']"

# Raises `name` for the first `times` calls (all calls when times is 0), then runs `then`.
_FAIL_CODE = """
self.rig_failures = getattr(self, 'rig_failures', {{}})
count = self.rig_failures.get({method!r}, 0) + 1
self.rig_failures[{method!r}] = count
if {times} == 0 or count <= {times}:
    raise dbus.exceptions.DBusException({message!r}, name={name!r})
{then}
"""


def dbusmock_dir() -> Path:
    return Path(os.environ.get("MICROPOP_DBUSMOCK_DIR", DEFAULT_DBUSMOCK_DIR))


def missing_parts() -> str | None:
    """Return what the rig lacks on this machine, or None when it can run."""
    if shutil.which("dbus-daemon") is None:
        return "dbus-daemon is not installed"
    check = subprocess.run(
        ["/usr/bin/python3", "-c", "import dbus, gi, dbusmock"],
        env={**os.environ, "PYTHONPATH": str(dbusmock_dir())},
        capture_output=True,
        check=False,
    )
    if check.returncode != 0:
        return f"python-dbusmock is not importable by /usr/bin/python3 from {dbusmock_dir()}"
    return None


class BluezRig:
    """A private dbus-daemon and a python-dbusmock bluez5 process, started and stopped."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="micropop-bluez-"))
        self.address = f"unix:path={self.directory / 'system_bus_socket'}"
        self._processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        config = self.directory / "system.conf"
        config.write_text(_BUS_CONFIG.format(socket=self.directory / "system_bus_socket"))
        self._spawn(["dbus-daemon", "--nofork", f"--config-file={config}"], "dbus-daemon.log")
        self._wait_for(lambda: (self.directory / "system_bus_socket").exists(), "dbus-daemon")

        env = {
            **os.environ,
            "PYTHONPATH": str(dbusmock_dir()),
            "DBUS_SYSTEM_BUS_ADDRESS": self.address,
        }
        command = ["/usr/bin/python3", "-m", "dbusmock", "--system", "--template", "bluez5"]
        command += ["--logfile", str(self.directory / "dbusmock-calls.log")]
        self._spawn(command, "dbusmock.log", env=env)
        self._wait_for(self._bluez_is_up, "python-dbusmock")

    def stop(self) -> None:
        for process in reversed(self._processes):
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)

    def _spawn(self, command: list[str], log: str, env: dict[str, str] | None = None) -> None:
        with open(self.directory / log, "wb") as output:
            process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
        self._processes.append(process)

    def _bluez_is_up(self) -> bool:
        result = subprocess.run(
            ["dbus-send", f"--bus={self.address}", "--print-reply", "--dest=org.freedesktop.DBus",
             "/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner", "string:org.bluez"],
            capture_output=True, check=False,
        )  # fmt: skip
        return b"boolean true" in result.stdout

    def _wait_for(self, condition, what: str, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(process.poll() is not None for process in self._processes):
                break
            if condition():
                return
            time.sleep(0.05)
        logs = {
            path.name: path.read_text(errors="replace") for path in self.directory.glob("*.log")
        }
        raise RuntimeError(f"{what} did not start within {timeout} s; logs: {logs}")


@dataclass
class MockBeacon:
    """A mock device: its D-Bus path and the path of each characteristic by UUID."""

    address: str
    path: str
    chars: dict[str, str]
    services: dict[str, str]


@dataclass(frozen=True)
class GattLayout:
    """One GATT service of a mock beacon and the characteristics it offers."""

    service_uuid: str
    characteristics: tuple[tuple[str, tuple[str, ...]], ...]


class MockBluez:
    """Controls the mock over D-Bus from the test: devices, GATT, faults and call logs."""

    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus
        self._handles = 0x000A

    @classmethod
    async def connect(cls, address: str) -> MockBluez:
        bus = await MessageBus(bus_address=address).connect()
        return cls(bus)

    async def close(self) -> None:
        self.bus.disconnect()

    async def reset(self) -> None:
        await self.call("/", MOCK, "Reset")
        await self.call("/", BLUEZ_MOCK, "AddAdapter", "ss", [ADAPTER, "micropop-rig"])

    async def call(self, path: str, interface: str, member: str, signature: str = "", body=None):  # type: ignore[no-untyped-def]
        reply = await self.bus.call(
            Message(destination=BLUEZ, path=path, interface=interface, member=member,
                    signature=signature, body=body or [])
        )  # fmt: skip
        if reply.message_type == MessageType.ERROR:
            raise RuntimeError(f"{member} on {path} failed: {reply.error_name} {reply.body}")
        return reply.body

    async def add_beacon(
        self, address: str, gatt: list[GattLayout], *, name: str = "beacon", mtu: int = 23
    ) -> MockBeacon:
        """Add a known device with GATT objects, as BlueZ has after an earlier discovery."""
        path = device_path(address)
        props = _device_props(address, name)
        methods = [
            ("Connect", "", "", _CONNECT_CODE),
            ("Disconnect", "", "", _DISCONNECT_CODE),
        ]
        await self.call(path="/", interface=MOCK, member="AddObject", signature="ssa{sv}a(ssss)",
                        body=[path, DEVICE, props, methods])  # fmt: skip
        await self._announce(path, DEVICE, props)
        beacon = MockBeacon(address, path, {}, {})
        for service in gatt:
            service_path = await self._add_service(path, service.service_uuid)
            beacon.services[service.service_uuid] = service_path
            for char_uuid, flags in service.characteristics:
                beacon.chars[char_uuid] = await self.add_characteristic(
                    service_path, char_uuid, flags, mtu=mtu
                )
        return beacon

    async def remove_device(self, address: str) -> None:
        path = device_path(address)
        await self.call(ADAPTER_PATH, "org.bluez.Adapter1", "RemoveDevice", "o", [path])

    async def advertise(self, address: str, rssi: int) -> None:
        """Change the RSSI, which bleak's scanner reports as a fresh advertisement."""
        await self.call(device_path(address), MOCK, "UpdateProperties", "sa{sv}",
                        [DEVICE, {"RSSI": Variant("n", rssi)}])  # fmt: skip

    async def fail(
        self,
        path: str,
        interface: str,
        method: str,
        error: str,
        *,
        times: int = 0,
        then: str = "",
        signature: str = "",
    ) -> None:
        """Replace a method so it raises `error` `times` times (0: always), then runs `then`."""
        code = _FAIL_CODE.format(
            method=method, times=times, message=f"{method} failed", name=error, then=then or "pass"
        )
        await self.call(path, MOCK, "AddMethod", "sssss", [interface, method, signature, "", code])

    async def fail_connect(self, address: str, error: str, *, times: int = 0) -> None:
        await self.fail(device_path(address), DEVICE, "Connect", error, times=times,
                        then=_CONNECT_CODE)  # fmt: skip

    async def reject_connect_while_scanning(self, address: str) -> None:
        """Make Connect raise org.bluez.Error.InProgress while the adapter is discovering."""
        await self.call(device_path(address), MOCK, "AddMethod", "sssss",
                        [DEVICE, "Connect", "", "", _CONNECT_UNLESS_SCANNING_CODE])  # fmt: skip

    async def restore_connect(self, address: str) -> None:
        await self.call(device_path(address), MOCK, "AddMethod", "sssss",
                        [DEVICE, "Connect", "", "", _CONNECT_CODE])  # fmt: skip

    async def fail_write(self, char_path: str, error: str, *, times: int = 0) -> None:
        await self.fail(char_path, CHARACTERISTIC, "WriteValue", error, times=times,
                        then=_WRITE_CODE, signature="aya{sv}")  # fmt: skip

    async def written_values(self, char_path: str) -> list[bytes]:
        [calls] = await self.call(char_path, MOCK, "GetMethodCalls", "s", ["WriteValue"])
        return [bytes(args[0].value) for _, args in calls]

    async def watch_calls(self, method: str) -> asyncio.Queue[tuple[str, float]]:
        """Queue (object path, time.monotonic()) for each later call of `method` on the mock."""
        calls: asyncio.Queue[tuple[str, float]] = asyncio.Queue()

        def on_message(message: Message) -> None:
            if message.member == "MethodCalled" and message.body and message.body[0] == method:
                calls.put_nowait((message.path or "", time.monotonic()))

        self.bus.add_message_handler(on_message)
        rule = f"type='signal',interface='{MOCK}',member='MethodCalled'"
        await self.bus.call(
            Message(destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
                    interface="org.freedesktop.DBus", member="AddMatch", signature="s",
                    body=[rule])
        )  # fmt: skip
        return calls

    async def method_calls(self, path: str, method: str) -> int:
        [calls] = await self.call(path, MOCK, "GetMethodCalls", "s", [method])
        return len(calls)

    async def _add_service(self, device: str, uuid: str) -> str:
        service_path = f"{device}/service{self._next_handle():04x}"
        props = {
            "UUID": Variant("s", uuid),
            "Device": Variant("o", device),
            "Primary": Variant("b", True),
            "Includes": Variant("ao", []),
        }
        await self.call(
            "/", MOCK, "AddObject", "ssa{sv}a(ssss)", [service_path, SERVICE, props, []]
        )
        await self._announce(service_path, SERVICE, props)
        return service_path

    async def add_characteristic(
        self, service_path: str, uuid: str, flags: tuple[str, ...], *, mtu: int = 23
    ) -> str:
        """Add a characteristic with a recording WriteValue to a service; return its path."""
        char_path = f"{service_path}/char{self._next_handle():04x}"
        props = {
            "UUID": Variant("s", uuid),
            "Service": Variant("o", service_path),
            "Value": Variant("ay", b""),
            "Flags": Variant("as", list(flags)),
            "MTU": Variant("q", mtu),
            "Notifying": Variant("b", False),
        }
        methods = [
            ("WriteValue", "aya{sv}", "", _WRITE_CODE),
            ("ReadValue", "a{sv}", "ay", _READ_CODE),
        ]
        await self.call("/", MOCK, "AddObject", "ssa{sv}a(ssss)",
                        [char_path, CHARACTERISTIC, props, methods])  # fmt: skip
        await self._announce(char_path, CHARACTERISTIC, props)
        return char_path

    async def _announce(self, path: str, interface: str, props: dict[str, Variant]) -> None:
        # python-dbusmock's AddObject does not emit InterfacesAdded, and bleak learns about
        # devices and GATT objects only from that signal or from GetManagedObjects.
        body = [Variant("o", path), Variant("a{sa{sv}}", {interface: props})]
        await self.call("/", MOCK, "EmitSignal", "sssav",
                        [OBJECT_MANAGER, "InterfacesAdded", "oa{sa{sv}}", body])  # fmt: skip

    def _next_handle(self) -> int:
        self._handles += 1
        return self._handles


def device_path(address: str) -> str:
    return f"{ADAPTER_PATH}/dev_{address.upper().replace(':', '_')}"


def _device_props(address: str, name: str) -> dict[str, Variant]:
    # The template's AddDevice types these three as arrays, which crashes bleak's scanner
    # callback; BlueZ sends dictionaries (a{qv}, a{sv}, a{yv}).
    return {
        "Address": Variant("s", address),
        "AddressType": Variant("s", "public"),
        "Name": Variant("s", name),
        "Alias": Variant("s", name),
        "Adapter": Variant("o", ADAPTER_PATH),
        "Paired": Variant("b", False),
        "Bonded": Variant("b", False),
        "Trusted": Variant("b", False),
        "Blocked": Variant("b", False),
        "Connected": Variant("b", False),
        "ServicesResolved": Variant("b", False),
        "LegacyPairing": Variant("b", False),
        "UUIDs": Variant("as", []),
        "RSSI": Variant("n", -60),
        "TxPower": Variant("n", 0),
        "ManufacturerData": Variant("a{qv}", {}),
        "ServiceData": Variant("a{sv}", {}),
        "AdvertisingData": Variant("a{yv}", {}),
    }
