"""authlib grants with gridauth's rules, one module per grant."""
