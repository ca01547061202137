"""The Markdown templates of docs/model.md (ODD), shipped as package data.

See carenet/tools/odd.py.
"""
