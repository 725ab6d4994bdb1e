"""Adapters that let code written against other layer APIs call convcore."""
