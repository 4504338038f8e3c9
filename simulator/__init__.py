"""A simulated Dongcheng that feeds the command centre through its public API; the product never imports it."""
