"""The version of batchcost (one place; the package and every report say it)."""

VERSION = "0.1.0"
