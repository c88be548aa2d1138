"""The statistical gate: rank statistics, power, the sequential plan, gate items, the
interleaved A/B verify and calibrate. One direction: the interleaving loop never calls back into its
caller, and the gate never imports the fix loop."""
