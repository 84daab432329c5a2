"""Counting input tokens exactly as the API bills them."""
