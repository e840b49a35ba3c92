"""micropop venue daemon: BLE beacons and receipt printers fed by the bot service."""
