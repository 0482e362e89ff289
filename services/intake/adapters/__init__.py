"""The foreign protocols intake speaks besides its own API: Open311 GeoReport v2 (open311/) and
the WeChat official account's server URL (wechat.py)."""
