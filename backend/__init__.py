"""e家 domain core. Imports no Flask, rq or wechatpy (DESIGN §1)."""
