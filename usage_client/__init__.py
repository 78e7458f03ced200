"""A producer client for the usage API (see usage_client/client.py)."""
