"""Tools that look inside trained runs: what a world model or planner gets right and wrong."""
