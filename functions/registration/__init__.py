"""Buyer registration: the fulfillment URL's domain (resolve, store, sign, render), free of HTTP and boto3 types."""
