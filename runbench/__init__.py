"""runbench: run agentic tool-use benchmarks against LLM APIs and trust every number."""
