"""Model clients behind one async interface: simulated models (OpenAI and Azure come next)."""
