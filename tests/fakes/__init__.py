"""The fakes the tests share, in one place: servers that misbehave like real providers, clients.

- ``openai_server``: an OpenAI-compatible loopback server (faults at a rate, 429/503 with
  Retry-After in every form, ``x-ratelimit-*`` headers from a real bucket, quota bodies, slow
  replies);
- ``hostile_servers``: servers that stall, drip a byte at a time, echo request headers back;
- ``wire_client``: a minimal client for the engine's own tests;
- ``scripted_client``: an in-process client answering from a script;
- ``damage``: byte-level damage to store files (NUL, invalid UTF-8, flips, truncation).
"""
