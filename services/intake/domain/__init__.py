"""Intake's pure rules, with no database and no HTTP: the complaint's state (model), what
channels and staff ask (commands), what is decided on it (decisions) and mirrored from
dispatch's facts (mirrors), the words people read (words); the catalogue, the classifier,
places and duplicates, privacy, the promise at filing and the residents' own ratings.
services/intake/app.py loads, decides with these and saves."""
