"""The service bot's private parts: WeChat crypto and XML, the ASGI app, stores, replies.

The public names live in `govmedia.bot`.
"""
