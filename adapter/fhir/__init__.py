"""The one place that speaks HTTP to a FHIR server: client (client.py), authentication
(auth.py), errors (errors.py).

Nothing is imported here: the command line needs the errors on every run, and importing the
client with them brought requests and PyJWT (0.3 s, `python -X importtime`) into runs that
read files only.
"""
