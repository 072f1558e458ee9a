"""The built-in workflow benchmark: tools, tasks, prompts, simulator, executor, scorer."""
