"""The tray app's GUI: the only package (with ``sessionmgr.app``) that imports Qt."""
