"""Domain rules: the policy, the proposal contract, routing and calibration."""
