"""The fix loop: reproduce, hand an agent the evidence, verify its patch, repeat until clean.
Driver, attempts, the prompt and evidence bundle, the protected-path check, and the agents."""
