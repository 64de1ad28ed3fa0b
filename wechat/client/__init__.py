"""WeChat API clients built on wechatpy 1.8.18 with its gaps closed (see ``base``).

    from wechat.client import OfficialAccount, MiniProgram, WeChatError, classify
"""
from wechat.client.errors import WeChatError, classify
from wechat.client.mini import MiniProgram
from wechat.client.official import OfficialAccount

__all__ = ["OfficialAccount", "MiniProgram", "WeChatError", "classify"]
