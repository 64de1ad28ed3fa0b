"""Operator commands for going live: ``init``, ``import``, ``posters``, ``keys``, ``calendar``,
``check``, ``wechat menu`` (issue 16). ``server.py`` registers them (``ops.cli.add_commands``);
like ``server.py`` this package may use every other package — each command is a thin shell
around a backend service, the WeChat client or a probe.
"""
