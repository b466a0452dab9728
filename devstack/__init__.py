"""Local-stack tools: hub stand-in, token issuer, Azurite, local host and demo.

Nothing here is deployed; `.funcignore` keeps this folder out of the app.
"""
