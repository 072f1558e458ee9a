"""The runners: one asyncio engine, and the commands that drive it."""
