"""The claims: the registry (claims/thresholds.toml), the claim functions per family, verdicts, the runner
and the spreading of claims over workers."""
