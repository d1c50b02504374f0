"""Who is calling and what they may see: identities (API keys, OIDC tokens, anonymous
clients), the one decision on restricted data, and the limits per caller."""
