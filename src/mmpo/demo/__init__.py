"""`mmpo demo`: the whole loop on the embedded default (`pipeline`), with its reading checks (`reading`).

A leaf: it calls the stages' entry functions, and nothing but its command imports it.
"""
