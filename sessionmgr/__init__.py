"""sessionmgr: who you are signed in as, on every site, from the system tray."""

__version__ = "0.1.0"
