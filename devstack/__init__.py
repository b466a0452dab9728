"""Local-stack tools: the hub stand-in, the token issuer, Azurite, the local host and the demo.

Nothing here is deployed; `.funcignore` keeps this folder out of the app.
"""
