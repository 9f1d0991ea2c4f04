"""The media types Gatehouse speaks, named once: JSON bodies (RFC 8259), RFC 9457 problem details, and the
`application/x-www-form-urlencoded` bodies of the OAuth 2.0 endpoints (RFC 6749 appendix B)."""
JSON = "application/json"
PROBLEM_JSON = "application/problem+json"
FORM = "application/x-www-form-urlencoded"
