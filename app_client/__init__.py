"""Reference client of the Fruits! app API: what the phone does, in Python (docs/app-api.md).

Get an identity from the identity pool, its temporary credentials, ask the API for an upload grant
(SigV4-signed), POST the photo to S3 with the grant's form, commit it, then poll for its answer in S3.
No AWS keys are built in: the identity pool id and the API URL are all it needs.
"""
