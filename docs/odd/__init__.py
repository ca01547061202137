"""The Markdown templates of docs/model.md (ODD), installed as package data; see sim/odd.py."""
